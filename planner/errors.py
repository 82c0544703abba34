"""The one error type whichwall raises for bad input, and the helpers that word it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PlannerError(ValueError):
    """Bad input to whichwall: the message names the bad value and what would be right."""


def short(value: object, limit: int = 80) -> str:
    """``repr(value)``, cut to about ``limit`` characters: an error message quotes the bad value, not a megabyte."""
    try:
        text = repr(value)
    except ValueError:  # an int too long to print (over sys.get_int_max_str_digits() digits)
        return "a number with thousands of digits"
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def closest(value: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The valid choices nearest to ``value`` (case-insensitive), best first."""
    choice_list = list(choices)
    lowered = {c.lower(): c for c in choice_list}
    hits = difflib.get_close_matches(str(value).lower(), list(lowered), n=n, cutoff=0.4)
    if not hits:
        hits = [c for c in lowered if str(value).lower() in c or c in str(value).lower()][:n]
    return [lowered[h] for h in hits]


LIST_HOW: dict[str, str] = {
    "accelerator": "`whichwall catalogue accelerators` or =GPU_IDS() lists them all",
    "model": "`whichwall catalogue models` or =MODEL_IDS() lists them all",
    "accelerator or model": "`whichwall catalogue` lists them all",
}
"""Where the whole list of valid ids of a kind is, for messages that show only some."""

SHOWN = 12
"""Most valid ids an error message lists before saying how many more there are."""


def unknown(kind: str, value: object, choices: Iterable[str]) -> PlannerError:
    """A ``PlannerError`` for an unknown id, naming the closest valid ids (or the first ``SHOWN`` valid ones, saying
    how many more there are and where to list them all)."""
    choice_list = sorted(set(choices))
    near = closest(str(value)[:1000], choice_list)
    if near:
        hint = f"closest: {', '.join(near)}"
    else:
        hint = f"valid: {', '.join(choice_list[:SHOWN])}"
        if len(choice_list) > SHOWN:
            how = LIST_HOW.get(kind, "")
            hint += f" and {len(choice_list) - SHOWN} more" + (f" ({how})" if how else "")
    return PlannerError(f"unknown {kind} {short(value)}; {hint}")
