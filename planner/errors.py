"""The one error type whichwall raises for bad input, and the helpers that word it."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class PlannerError(ValueError):
    """Bad input to whichwall: the message names the bad value and what would be right."""


def closest(value: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The valid choices nearest to ``value`` (case-insensitive), best first."""
    choice_list = list(choices)
    lowered = {c.lower(): c for c in choice_list}
    hits = difflib.get_close_matches(str(value).lower(), list(lowered), n=n, cutoff=0.4)
    if not hits:
        hits = [c for c in lowered if str(value).lower() in c or c in str(value).lower()][:n]
    return [lowered[h] for h in hits]


def unknown(kind: str, value: object, choices: Iterable[str]) -> PlannerError:
    """A ``PlannerError`` for an unknown id, naming the closest valid ids."""
    choice_list = sorted(set(choices))
    near = closest(str(value), choice_list)
    hint = f"closest: {', '.join(near)}" if near else f"valid: {', '.join(choice_list[:12])}"
    return PlannerError(f"unknown {kind} {value!r}; {hint}")
