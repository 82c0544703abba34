"""The Excel boundary: what a worksheet passes (floats, None for an empty cell, nested lists for a range) into
what ``planner.api`` takes, and numpy results back into what a cell or a spilled range shows.

Scalar in, scalar out; a range in, a range of the broadcast shape out (a row stays a row, a column a column).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from planner.errors import PlannerError


def _flat(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [x for item in value for x in _flat(item)]
    return [value]


def number(name: str, value: Any) -> Any:
    """A cell or range argument: None/"" (empty) → None (the default); a range → a float array of its shape."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        cells = _flat(value)
        if any(c is None or (isinstance(c, str) and not c.strip()) for c in cells):
            raise PlannerError(f"{name}: the range has an empty cell; fill it or select only filled cells")
        bad = next((c for c in cells if isinstance(c, (str, bool))), None)
        if bad is not None:
            raise PlannerError(f"{name}: the range holds {bad!r} where a number belongs")
        try:
            return np.asarray(value, dtype=float)
        except (ValueError, TypeError):
            raise PlannerError(f"{name}: the range is ragged (rows of different lengths); use a rectangular "
                               f"range") from None
    if isinstance(value, str):
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            raise PlannerError(f"{name} must be a number, got text {value!r}") from None
    return value


def text(name: str, value: Any) -> Any:
    """A text argument (a catalogue id or dtype): an empty cell → None (the default); a number is refused."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        raise PlannerError(f"{name} must be one cell of text, not a range")
    if not isinstance(value, str):
        raise PlannerError(f"{name} must be text (a catalogue id or dtype), got {value!r}")
    return value.strip()


def required_text(name: str, value: Any) -> str:
    """A text argument that has no default."""
    out = text(name, value)
    if out is None:
        raise PlannerError(f"{name} is required (a catalogue id, e.g. 'h100-sxm' or 'llama-3.1-70b')")
    return str(out)


def _cell(x: float) -> float | str:
    if math.isinf(x):
        return "never"
    if math.isnan(x):  # pragma: no cover - the core never returns NaN; refuse rather than show it
        raise PlannerError("internal: a result was NaN")
    return float(x)


def result(value: Any, *args: Any) -> Any:
    """A core result for a cell: a scalar when every numeric argument was a scalar, else a 2-D list (a 1-D range
    result comes back as a column unless an argument was a row)."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0 or (arr.size == 1 and not any(isinstance(a, np.ndarray) for a in args)):
        return _cell(float(arr.reshape(-1)[0]))
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim > 2:
        raise PlannerError(f"ranges combine into {arr.ndim} dimensions; use at most a column and a row")
    return [[_cell(x) for x in row] for row in arr.tolist()]


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """A 2-D table with a header row, for functions that return tables."""
    return [list(header), *[list(r) for r in rows]]
