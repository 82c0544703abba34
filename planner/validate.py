"""Coercion of numeric inputs into numpy arrays, with errors that name the argument and the bad value."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from planner.errors import PlannerError, short

MAX_SIZE = 1e15
"""Largest size any whichwall argument accepts (tokens, batch, qps...): beyond it the float arithmetic loses meaning."""


_SCALAR_TYPES = (float, int, np.float64)


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, float) else f"{value:g}"


def as_array(
    name: str,
    value: Any,
    *,
    minimum: float = 0.0,
    inclusive: bool = False,
    integer: bool = False,
    maximum: float = MAX_SIZE,
) -> np.ndarray:
    """``value`` (a number, a sequence or an array) as a float64 array, checked element by element.

    Every element must be a finite real number, above ``minimum`` (or equal to it when ``inclusive``), at most
    ``maximum``, and a whole number when ``integer``. Text, booleans, None, NaN and infinities are refused.
    """
    scalar = type(value) in _SCALAR_TYPES or (
        type(value) is np.ndarray and value.shape == () and value.dtype.kind == "f")
    if scalar and not (type(value) is int and abs(value) > maximum):  # the scalar fast path: same checks, no arrays
        x = float(value)
        low_ok = x >= minimum if inclusive else x > minimum
        if math.isfinite(x) and low_ok and x <= maximum and (not integer or x == round(x)):
            return np.asarray(x)
    if isinstance(value, (str, bytes, bool)) or value is None:
        raise PlannerError(f"{name} must be a number, got {short(value)}")
    try:
        arr = np.asarray(value, dtype=float)
    except OverflowError:  # a Python int beyond any float
        raise PlannerError(f"{name} must be at most {maximum:g}, got a number of more than 308 digits") from None
    except (TypeError, ValueError):
        raise PlannerError(f"{name} must be a number or a range of numbers, got {short(value)}") from None
    if arr.dtype == object:
        raise PlannerError(f"{name} must be numeric, got {short(value)}")
    if arr.size == 0:
        raise PlannerError(f"{name} is empty; give at least one number")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise PlannerError(f"{name} must be a finite number, got {_describe(arr[bad].flat[0])}")
    low_bad = arr < minimum if inclusive else arr <= minimum
    if low_bad.any():
        relation = ">=" if inclusive else ">"
        raise PlannerError(f"{name} must be {relation} {minimum:g}, got {_describe(float(arr[low_bad].flat[0]))}")
    if (arr > maximum).any():
        raise PlannerError(f"{name} must be at most {maximum:g}, got {_describe(float(arr[arr > maximum].flat[0]))}")
    if integer and (arr != np.round(arr)).any():
        frac = arr[arr != np.round(arr)].flat[0]
        raise PlannerError(f"{name} must be a whole number, got {_describe(float(frac))}")
    return arr


def positive(name: str, value: Any, integer: bool = False) -> np.ndarray:
    """Elements > 0."""
    return as_array(name, value, minimum=0.0, integer=integer)


def at_least_one(name: str, value: Any) -> np.ndarray:
    """Whole numbers >= 1 (batch sizes, GPU counts)."""
    return as_array(name, value, minimum=1.0, inclusive=True, integer=True)


def non_negative(name: str, value: Any, integer: bool = False) -> np.ndarray:
    """Elements >= 0 (context lengths)."""
    return as_array(name, value, minimum=0.0, inclusive=True, integer=integer)


def table_number(text: str, key: str, where: str, default: float | None = None, *, gpus: bool = False,
                 count: bool = False, most: float = MAX_SIZE) -> float:
    """A measurement table's cell: a positive number up to ``most`` (``default`` where the cell is empty); a whole
    number of GPUs when ``gpus``; at least 1 when ``count`` (tokens, requests, sequences). Anything else is a
    ``PlannerError`` naming ``where`` (file and line), the column and what it should be."""
    if not text:
        if default is not None:
            return default
        raise PlannerError(f"{where}: column {key!r} is empty")
    try:
        value = float(text)
    except ValueError:
        raise PlannerError(f"{where}: {key} must be a number, got {short(text)}") from None
    if not math.isfinite(value) or value <= 0 or value > most:
        raise PlannerError(f"{where}: {key} must be a positive number up to {most:g}, got {short(text)}")
    if gpus and (value < 1 or value != int(value)):
        raise PlannerError(f"{where}: {key} must be a whole number of GPUs (1, 2, 4, ...), got {short(text)}")
    if count and value < 1:
        raise PlannerError(f"{where}: {key} must be at least 1 (a count of tokens, requests or sequences), got "
                           f"{short(text)}")
    return value
