"""The Excel boundary: what a worksheet passes in, what a cell shows, and what an error becomes.

In: xlwings hands a UDF floats (numbers arrive as floats, 4.0 for a tp of 4), text, booleans, ``None`` for an empty
cell, and nested lists for a range (``ndim=2``: a single cell [[x]], a column [[a], [b]], a row [[a, b]]); a
Currency- or Accounting-formatted cell read through COM arrives as a ``decimal.Decimal`` (a number like any other).
``number`` turns a cell into a float (``None`` = empty = the default) and a range into a 2-D float array of its
shape; ``numbers`` does that for several arguments and checks that their ranges combine (same shape, or a column
and a row, which make a table). Text where a number belongs (even "1.500": 1500 in some locales, 1.5 in others),
booleans, empty cells inside a range, ragged rows and ranges that do not line up are ``PlannerError``\\ s naming
the argument.

Error cells: xlwings reads a cell holding #N/A, #DIV/0!, ... as ``None`` (an empty cell, i.e. the default) unless
the argument asks for ``err_to_str``; ``udfs._xw`` asks for it on every argument, so an error arrives as its text
("#N/A"; COM's raw scode or Office.js' error object where a runtime hands those over). ``boundary`` refuses an
error in any argument, or in any cell of a range, with a ``PlannerError`` that names the argument and the error:
an error cell never becomes a default.

Out: all-scalar arguments give one value; a range gives a 2-D list of the broadcast shape (a row stays a row, a
column a column). ``inf`` shows as "never" (e.g. a crossover batch that never comes), a missing value as "n/a";
a NaN is never shown: it is an error.

Errors: a ``PlannerError`` leaves a function as ``ExcelError`` (still a ``PlannerError``). On Windows it is also a
COM server error whose ``description`` is the message, so the classic add-in's cell shows the message alone
(pywin32 would otherwise write "Unexpected Python Error: Traceback ..."); it is also an ``xlwings.XlwingsError``,
the type xlwings' Office.js runtimes (xlwings Lite) show as ``#VALUE!`` with the message on hover.

Repeated scalar calls: Excel recalculates the same cells over and over; ``boundary`` remembers the result of each
all-scalar call (per active catalogue, so a changed user catalogue file is picked up), which makes a repeated call
cost a dictionary look-up. Results are identical to a fresh call.
"""

from __future__ import annotations

import decimal
import functools
import inspect
import math
import numbers as _numbers
import os
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np

from planner.catalogue import CATALOGUE_ENV, get_catalogue
from planner.errors import PlannerError, short
from planner.validate import MAX_SIZE

try:  # the type xlwings' Office.js runtimes (xlwings Lite) show as #VALUE! with its message
    from xlwings import XlwingsError as _XlwingsError
except ImportError:  # pragma: no cover - xlwings is a dependency
    _XlwingsError = Exception  # type: ignore[misc,assignment]

E_INVALIDARG = -2147024809
"""HRESULT 0x80070057 (invalid argument), as the signed 32-bit value COM carries."""

NA = "n/a"
NEVER = "never"

# ----------------------------------------------------------------------------------------------------- errors


def _com_error_base() -> type | None:
    if sys.platform != "win32":
        return None
    try:
        from pywintypes import com_error  # type: ignore[import-not-found]  # pywin32, Windows only
    except ImportError:  # pragma: no cover - Windows without pywin32
        return None
    return com_error  # type: ignore[no-any-return]


def _error_class(com_base: type | None) -> type[PlannerError]:
    bases: tuple[type, ...] = (PlannerError, _XlwingsError) if _XlwingsError is not Exception else (PlannerError,)
    if com_base is not None:
        try:
            return type("ExcelError", (*bases, com_base), {"__doc__": _ExcelErrorDoc})
        except TypeError:  # pragma: no cover - an incompatible pywin32 exception layout
            pass
    return type("ExcelError", bases, {"__doc__": _ExcelErrorDoc})


_ExcelErrorDoc = """A PlannerError as it leaves an Excel function: the same message, typed for the runtime
(xlwings.XlwingsError for Office.js/xlwings Lite; a pywin32 COM server error on Windows, whose ``description``,
``source`` and ``scode`` become the error Excel's VBA wrapper shows in the cell)."""

ExcelError: type[PlannerError] = _error_class(_com_error_base())


def excel_error(exc: PlannerError) -> PlannerError:
    """``exc`` as an ``ExcelError`` with the same message (no traceback, no chained cause)."""
    if isinstance(exc, ExcelError):
        return exc
    message = str(exc)
    err = ExcelError(message)
    err.description = message  # type: ignore[attr-defined]
    err.source = "whichwall"  # type: ignore[attr-defined]
    err.scode = E_INVALIDARG  # type: ignore[attr-defined]
    return err


# ---------------------------------------------------------------------------------------------- error cells

EXCEL_ERRORS: dict[int, str] = {
    2000: "#NULL!", 2007: "#DIV/0!", 2015: "#VALUE!", 2023: "#REF!", 2029: "#NAME?", 2036: "#NUM!", 2042: "#N/A",
    2043: "#GETTING_DATA", 2045: "#SPILL!", 2046: "#CONNECT!", 2047: "#BLOCKED!", 2048: "#UNKNOWN!",
    2049: "#FIELD!", 2050: "#CALC!",
}
"""Excel's error values by their CVErr number (VBA's XlCVError: xlErrNA = 2042, ...)."""

ERROR_SCODES: dict[int, str] = {-2146828288 + n: text for n, text in EXCEL_ERRORS.items()}
"""An error cell as COM hands it over without ``err_to_str``: VT_ERROR's scode 0x800A0000 + CVErr number, as the
signed 32-bit int pywin32 gives (-2146826246 for #N/A)."""

ERROR_TEXTS: frozenset[str] = frozenset(EXCEL_ERRORS.values()) | {"#BUSY!", "#EXTERNAL!", "#PYTHON!"}
"""An error cell as its text: what xlwings hands over with ``err_to_str`` (classic add-in and xlwings Lite)."""


def cell_error(value: Any) -> str | None:
    """The Excel error ``value`` stands for ("#N/A", "#DIV/0!", ...), or None when it is not an error: the error's
    text (``err_to_str``), COM's scode, or an Office.js error object ({"type": "Error", "basicValue": "#N/A"})."""
    t = type(value)
    if t is str:
        return value if value in ERROR_TEXTS else None
    if t is int:
        return ERROR_SCODES.get(value)
    if t is dict and value.get("type") == "Error":
        return str(value.get("basicValue") or value.get("errorType") or "#VALUE!")
    return None


def error_cell(name: str, error: str, where: str = "") -> PlannerError:
    """The error for an argument (``where``: which cell of its range) whose cell holds an Excel error."""
    return PlannerError(f"{name}{where}: the cell holds the error {error}; fix that cell or the formula it comes "
                        f"from (an error is never read as an empty cell or a default)")


_NUMBERS = {float, type(None)}
_PLAIN = {float, str, type(None)}
_ROWS = {list, tuple}


def _range_error(name: str, value: Any) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "O":  # a numeric array holds no error values
            return
        value = value.tolist()
    rows = list(value)
    row_types = set(map(type, rows))
    if row_types <= _ROWS:  # the common case, rows of cells: look at every cell at C speed first
        cells = list(chain.from_iterable(rows))
        if set(map(type, cells)) <= _PLAIN and ERROR_TEXTS.isdisjoint(cells):
            return
    elif row_types <= _PLAIN and ERROR_TEXTS.isdisjoint(rows):  # a flat list of numbers or text
        return
    for r, row in enumerate(rows):  # an error (or an unusual cell) somewhere: find where, for the message
        row_cells = list(row) if isinstance(row, (list, tuple, np.ndarray)) else [row]
        if set(map(type, row_cells)) <= _NUMBERS:
            continue
        for c, x in enumerate(row_cells):
            err = cell_error(x)
            if err is not None:  # a single cell (xlwings hands ndim=2 arguments over as [[x]]) needs no position
                one = len(rows) == 1 and len(row_cells) == 1
                raise error_cell(name, err, "" if one else f" (row {r + 1}, column {c + 1} of the range)")


def check_cells(names: Sequence[str], args: Sequence[Any]) -> None:
    """Refuse an Excel error in any argument (``names``: the parameters, in order) or in any cell of a range."""
    for i, a in enumerate(args):
        t = type(a)
        if t is float or a is None:
            continue
        if t is str:
            if a in ERROR_TEXTS:
                raise error_cell(_arg_name(names, i), a)
        elif t is list or t is tuple or t is np.ndarray:
            _range_error(_arg_name(names, i), a)
        else:
            err = cell_error(a)
            if err is not None:
                raise error_cell(_arg_name(names, i), err)


def _arg_name(names: Sequence[str], i: int) -> str:
    return names[min(i, len(names) - 1)] if names else f"argument {i + 1}"


# -------------------------------------------------------------------------------------------- the boundary

MEMO_LIMIT = 20_000
"""Most remembered scalar calls; the memo starts afresh beyond it."""

_memo: dict[tuple[Any, ...], Any] = {}
_memo_catalogue: list[Any] = [None]


def clear_memo() -> None:
    """Forget every remembered result (benchmarks and tests call this)."""
    _memo.clear()
    _memo_catalogue[0] = None


def _fresh(value: Any) -> Any:
    return [list(row) for row in value] if isinstance(value, list) else value


def boundary(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with the Excel boundary around it: an error cell in any argument refused (naming the argument),
    scalar calls remembered, ``PlannerError`` → ``ExcelError``."""
    names = tuple(inspect.signature(fn).parameters)

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        key: tuple[Any, ...] | None = None
        try:
            check_cells(names, args)  # before the memo too: an error's scode equals a number (-2146826246.0)
            if bool not in map(type, args) and np.bool_ not in map(type, args):  # True == 1 must not hit
                catalogue = get_catalogue()
                if catalogue is not _memo_catalogue[0]:
                    _memo.clear()
                    _memo_catalogue[0] = catalogue
                key = (fn, *args)
                try:
                    return _fresh(_memo[key])
                except KeyError:
                    pass
                except TypeError:  # a range (a list) is not hashable: not remembered
                    key = None
            out = fn(*args)
        except PlannerError as exc:
            raise excel_error(exc) from None
        if key is not None:
            if len(_memo) >= MEMO_LIMIT:
                _memo.clear()
            _memo[key] = _fresh(out)
        return out

    return call


# --------------------------------------------------------------------------------------------------- input


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


_NUMERIC = re.compile(r"^\s*[-+]?[\d.,']+(e[-+]?\d+)?\s*$", re.IGNORECASE)


def _cell_number(name: str, value: Any, where: str = "") -> float:
    """One non-empty cell as a float (range cells: ``where`` says which)."""
    t = type(value)
    if t is float or (t is int and abs(value) <= MAX_SIZE and value not in ERROR_SCODES):
        return float(value)
    if isinstance(value, (bool, np.bool_)):
        raise PlannerError(f"{name}{where} must be a number, got {'TRUE' if value else 'FALSE'}")
    if isinstance(value, str):
        if value in ERROR_TEXTS:
            raise error_cell(name, value, where)
        # Never parsed: "1.500" is 1500 in some locales and 1.5 in others; a wrong guess is a silently wrong plan.
        hint = "; the cell holds text: enter a number, or convert it with =VALUE()" if _NUMERIC.match(value) else ""
        raise PlannerError(f"{name}{where} must be a number, got text {short(value)}{hint}")
    if isinstance(value, decimal.Decimal):  # a Currency/Accounting cell through COM (VT_CY)
        return _decimal_number(name, value, where)
    err = cell_error(value)
    if err is not None:
        raise error_cell(name, err, where)
    if isinstance(value, _numbers.Real):
        try:
            return float(value)
        except OverflowError:  # a Python int beyond any float
            raise PlannerError(f"{name}{where} must be at most {MAX_SIZE:g}, got a number of more than 308 "
                               f"digits") from None
    raise PlannerError(f"{name}{where} must be a number, got {short(value)}")


def _decimal_number(name: str, value: decimal.Decimal, where: str) -> float:
    if not value.is_finite():
        raise PlannerError(f"{name}{where} must be a finite number, got {value}")
    x = float(value)
    if math.isinf(x):  # beyond any float: name the value as the cell holds it, not as "inf"
        raise PlannerError(f"{name}{where} must be at most {MAX_SIZE:g}, got {value}")
    return x


def _range(name: str, value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.ndim > 2:
            raise PlannerError(f"{name}: a range has at most 2 dimensions, got {value.ndim}")
        value = value.tolist() if value.ndim else value.item()
        if not isinstance(value, list):
            return number(name, value)
    rows = list(value)
    if not rows:
        raise PlannerError(f"{name}: the range is empty; select at least one cell")
    nested = [isinstance(r, (list, tuple, np.ndarray)) for r in rows]
    if all(nested):
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise PlannerError(f"{name}: the range is ragged (rows of {sorted(widths)} cells); use a rectangle")
        width = widths.pop()
        if width == 0:
            raise PlannerError(f"{name}: the range is empty; select at least one cell")
        cells = list(chain.from_iterable(rows))
        if any(isinstance(c, (list, tuple, np.ndarray)) for c in cells):
            raise PlannerError(f"{name}: a range has at most 2 dimensions (rows and columns)")
        shape = (len(rows), width)
    elif any(nested):
        raise PlannerError(f"{name}: the range is ragged (some rows are single cells); use a rectangle")
    else:
        cells, shape = rows, (len(rows), 1)  # a flat list is a column
    if shape == (1, 1):
        return number(name, cells[0])
    if set(map(type, cells)) <= {float, int}:
        try:
            return np.array(cells, dtype=float).reshape(shape)
        except OverflowError:  # a Python int beyond any float: the cell-by-cell path names it
            pass
    out = []
    for i, c in enumerate(cells):
        where = f" (row {i // shape[1] + 1}, column {i % shape[1] + 1} of the range)"
        if _blank(c):
            raise PlannerError(f"{name}: the range has an empty cell{where}; fill it or select only filled cells")
        out.append(_cell_number(name, c, where))
    return np.array(out, dtype=float).reshape(shape)


def number(name: str, value: Any) -> Any:
    """A numeric cell or range: empty → ``None`` (the default); a cell → a float; a range → a 2-D float array of
    its shape (a 1×1 range is a cell; a flat list is a column)."""
    t = type(value)
    if t is float:
        return value
    if value is None:
        return None
    if t is int and abs(value) <= MAX_SIZE and value not in ERROR_SCODES:
        return float(value)
    if isinstance(value, (list, tuple, np.ndarray)):
        return _range(name, value)
    if _blank(value):
        return None
    return _cell_number(name, value)


_FLOATS = frozenset({float})


def one_cell(name: str, value: Any) -> Any:
    """``number`` of a single cell (a function that returns one table takes no ranges)."""
    x = number(name, value)
    if isinstance(x, np.ndarray):
        raise PlannerError(f"{name} must be a single number (one cell) here: this function shows one plan; got a "
                           f"range of {x.size} cells")
    return x


REQUIRED = inspect.Parameter.empty
"""The default of an argument that has none (``udfs._xw.shared_args``)."""


def _describe_shape(shape: tuple[int, ...]) -> str:
    return "×".join(str(n) for n in shape) if shape else "one cell"


def numbers(*pairs: tuple[str, Any]) -> tuple[Any, ...]:
    """``number`` for each (name, value), checking that the ranges among them combine: equal shapes go element by
    element, a column and a row make a table."""
    values = tuple(value for _, value in pairs)
    if _FLOATS.issuperset(map(type, values)):  # the common scalar call: every argument a number already
        return values
    out = tuple(number(name, value) for name, value in pairs)
    shaped = [(name, x.shape) for (name, _), x in zip(pairs, out, strict=True) if isinstance(x, np.ndarray)]
    if len(shaped) > 1:
        try:
            np.broadcast_shapes(*(s for _, s in shaped))
        except ValueError:
            listed = ", ".join(f"{n} ({_describe_shape(s)})" for n, s in shaped)
            raise PlannerError(f"the ranges {listed} do not line up: give ranges of the same shape, or one column "
                               f"and one row to get a table") from None
    return out


def text(name: str, value: Any) -> Any:
    """A text cell (a catalogue id, a dtype, a field): empty → ``None`` (the default); a number or a range is
    refused."""
    if type(value) is str:
        stripped = value.strip()
        if stripped in ERROR_TEXTS:
            raise error_cell(name, stripped)
        return stripped or None
    if value is None:
        return None
    if isinstance(value, (list, tuple, np.ndarray)):
        cells = list(chain.from_iterable(v if isinstance(v, (list, tuple)) else [v] for v in value))
        if len(cells) == 1:
            return text(name, cells[0])
        raise PlannerError(f"{name} must be one cell of text, not a range of {len(cells)} cells")
    if isinstance(value, (bool, np.bool_)):
        raise PlannerError(f"{name} must be text, got {'TRUE' if value else 'FALSE'}")
    err = cell_error(value)
    if err is not None:
        raise error_cell(name, err)
    raise PlannerError(f"{name} must be text (a catalogue id, dtype or field name), got {short(value)}")


def required_text(name: str, value: Any) -> str:
    """A text cell that has no default."""
    out = text(name, value)
    if out is None:
        raise PlannerError(f"{name} is required (e.g. {_EXAMPLES.get(name, 'a catalogue id')})")
    return str(out)


_EXAMPLES = {"model": "'llama-3.1-70b'", "gpu": "'h100-sxm'", "field": "'memory_gb'", "key": "'replicas'"}


def texts(name: str, value: Any, required: bool = True) -> Any:
    """A text cell, or a range of text as a 2-D object array of its shape (for look-ups over many ids)."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return required_text(name, value) if required else text(name, value)
    rows = list(value)
    if rows and all(isinstance(r, (list, tuple)) for r in rows):
        widths = {len(r) for r in rows}
        if len(widths) != 1 or 0 in widths:
            raise PlannerError(f"{name}: the range is ragged or empty; use a rectangle of cells")
        shape = (len(rows), widths.pop())
        cells = list(chain.from_iterable(rows))
    elif any(isinstance(r, (list, tuple)) for r in rows):
        raise PlannerError(f"{name}: the range is ragged (some rows are single cells); use a rectangle")
    else:
        cells, shape = rows, (len(rows), 1)
    if not cells:
        raise PlannerError(f"{name}: the range is empty; select at least one cell")
    if shape == (1, 1):
        return texts(name, cells[0], required)
    out = np.empty(len(cells), dtype=object)
    for i, c in enumerate(cells):
        err = cell_error(c.strip() if isinstance(c, str) else c)
        if err is not None:
            raise error_cell(name, err, f" (row {i // shape[1] + 1}, column {i % shape[1] + 1} of the range)")
        if not isinstance(c, str) or not c.strip():
            where = f"row {i // shape[1] + 1}, column {i % shape[1] + 1}"
            raise PlannerError(f"{name}: every cell of the range must hold text; {where} holds {short(c)}")
        out[i] = c.strip()
    return out.reshape(shape)


# -------------------------------------------------------------------------------------------------- output


def cell(value: Any) -> Any:
    """One result as a cell shows it: numbers as floats, ``inf`` as "never", ``None`` as "n/a"; NaN is an error."""
    t = type(value)
    if t is str or t is bool:
        return value
    if value is None:
        return NA
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, _numbers.Integral):
        return int(value)
    if not isinstance(value, _numbers.Real):
        return str(value)
    x = float(value)
    if x - x == 0.0:  # finite
        return x
    if math.isinf(x):
        return NEVER
    raise PlannerError("whichwall computed no number (NaN) for these inputs; please report them as a bug")


def result(value: Any, *args: Any) -> Any:
    """A core result for a cell: one value when every numeric argument was a cell, else a 2-D list of the
    broadcast shape (``args``: the coerced numeric and range arguments of the call)."""
    if type(value) is float and value - value == 0.0 and np.ndarray not in map(type, args):
        return value  # the common scalar call: a finite float, as ``cell`` would give it
    if not any(isinstance(a, np.ndarray) for a in args):
        if isinstance(value, np.ndarray):
            value = value.reshape(-1)[0] if value.size == 1 else value
            if isinstance(value, np.ndarray):
                raise PlannerError(f"internal: {value.size} results for one cell")  # pragma: no cover
            value = value.item() if isinstance(value, np.generic) else value
        return cell(value)
    arr = np.asarray(value)
    if arr.ndim < 2:
        arr = arr.reshape(-1, 1)
    if arr.ndim > 2:  # pragma: no cover - numbers() keeps every range at 2 dimensions
        raise PlannerError(f"ranges combine into {arr.ndim} dimensions; use at most a column and a row")
    if arr.dtype.kind == "f" and np.isfinite(arr).all():
        return arr.tolist()
    return [[cell(x) for x in row] for row in arr.tolist()]


def column(values: Iterable[Any]) -> list[list[Any]]:
    """A list as a spilled column."""
    return [[cell(v)] for v in values]


def table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[list[Any]]:
    """A 2-D table with a header row."""
    return [list(header), *[[cell(v) for v in r] for r in rows]]


# ----------------------------------------------------------------------------------- the user catalogue setting

CONF_NAME = "xlwings.conf"
_CONF_LINE = re.compile(r'^\s*"([^"]*)"\s*,\s*"([^"]*)"\s*$')


def read_conf_value(path: Path, key: str) -> str | None:
    """The value of ``key`` in an xlwings.conf file (lines of ``"KEY","value"``, keys case-insensitive)."""
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in lines:
        m = _CONF_LINE.match(line)
        if m and m.group(1).strip().upper() == key.upper():
            return os.path.expanduser(os.path.expandvars(m.group(2).strip()))
    return None


def conf_catalogue(search_dirs: Iterable[str | os.PathLike[str]], home: str | os.PathLike[str] | None) -> str | None:
    """``WHICHWALL_CATALOGUE`` from the first xlwings.conf that names it: a project xlwings.conf in one of
    ``search_dirs`` (the workbook's folder is on ``sys.path`` under the add-in), then the user's
    ``~/.xlwings/xlwings.conf``. A relative path is taken relative to the conf file's folder."""
    candidates = [Path(d) / CONF_NAME for d in search_dirs if d]
    if home is not None:
        candidates.append(Path(home) / ".xlwings" / CONF_NAME)
    for conf in candidates:
        if not conf.is_file():
            continue
        value = read_conf_value(conf, CATALOGUE_ENV)
        if value:
            paths = [p.strip() for p in value.split(os.pathsep) if p.strip()]
            return os.pathsep.join(str((conf.parent / p) if not Path(p).is_absolute() else Path(p)) for p in paths)
    return None


def use_conf_catalogue(search_dirs: Iterable[str | os.PathLike[str]] | None = None,
                       home: str | os.PathLike[str] | None = None) -> str | None:
    """Make ``WHICHWALL_CATALOGUE`` from xlwings.conf active when the environment does not set it (the
    environment variable wins). Returns the paths now in effect from xlwings.conf, or None."""
    if os.environ.get(CATALOGUE_ENV, "").strip():
        return None
    dirs = [os.getcwd(), *sys.path] if search_dirs is None else list(search_dirs)
    value = conf_catalogue(dirs, Path.home() if home is None else home)
    if value:
        os.environ[CATALOGUE_ENV] = value
    return value
