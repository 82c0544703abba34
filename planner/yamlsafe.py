"""Strict, safe YAML for files people write: no object construction (SafeLoader), no anchors/aliases (no
'billion laughs' expansion), no duplicate keys (the second ``qps:`` would silently win), and one-line errors (also
for scalars the safe constructors cannot build, such as the date 2026-02-30 or an integer of 5,000 digits)."""

from __future__ import annotations

from typing import Any

import yaml

from planner.errors import PlannerError


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and duplicate mapping keys."""

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.MarkedYAMLError(problem="YAML aliases (*name) are not allowed", problem_mark=event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key: let SafeLoader report it
                break
            if duplicate:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r} (each field may appear once)",
                                           problem_mark=key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def one_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: what is wrong and where (PyYAML's own text spans several lines with a caret)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = (exc.problem or exc.context or "syntax error").strip()
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        return f"{problem}{where}"
    return " ".join(str(exc).split())


def load(text: str, where: str) -> Any:
    """Parsed YAML of ``text``, or a one-line ``PlannerError`` naming ``where``."""
    try:
        return yaml.load(text, Loader=StrictLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise PlannerError(f"{where} is not valid YAML: {one_line(exc)}") from None
    except RecursionError:
        raise PlannerError(f"{where} is nested too deeply to be a whichwall file") from None
    except (ValueError, OverflowError) as exc:  # a scalar the safe constructors cannot build: 2026-02-30, 9999…
        problem = "a number with thousands of digits" if "digits" in str(exc) else " ".join(str(exc).split())
        raise PlannerError(f"{where} is not valid YAML: a value cannot be read ({problem}); write numbers "
                           f"plainly, and quote dates and other text") from None
