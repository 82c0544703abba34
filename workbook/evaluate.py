"""A small in-process evaluator for the formula subset plan workbooks use, so that an exported file carries a cached
value in every formula cell (openpyxl writes formulas without values; readers that do not compute — openpyxl
``data_only=True``, pandas, previewers — would otherwise see nothing).

It is not a second copy of the arithmetic: it interprets the very formula text written into the workbook, and the
tests check its results against the planner and, cell by cell, against LibreOffice's recalculation.

Supported: numbers, strings, TRUE/FALSE, A1 references and ranges (optionally sheet-qualified, ``$`` anchors),
workbook-level defined names, the operators ``+ - * / ^ & = <> < > <= >=`` (unary minus binds tighter than ``^``,
as in Excel), and the functions in ``FUNCTIONS``. Semantics follow Excel: blanks are 0 (or "" against text), text
compares case-insensitively, numbers < text < booleans, errors propagate, IF evaluates only the branch it takes.

A plan's tables repeat one formula down many rows (a spreadsheet's relative references), so a formula is parsed once
per *shape*: its text with every relative reference written as an offset from its own cell. Cells of one shape share
one syntax tree, evaluated with their own offset. The builder names the shape of the cells it repeats (``shapes``);
for other cells (a workbook read back) the shape is computed from the text.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from openpyxl.utils.cell import column_index_from_string, get_column_letter

__all__ = ["BLANK", "FUNCTIONS", "Evaluator", "FormulaError", "Text", "XLError", "cells_of", "parse"]


class FormulaError(ValueError):
    """A formula outside the supported subset (a bug in the builder, not bad user input)."""


@dataclass(frozen=True)
class XLError:
    """A spreadsheet error value such as ``#N/A``; it propagates through arithmetic."""

    code: str

    def __str__(self) -> str:
        return self.code


NA = XLError("#N/A")
DIV0 = XLError("#DIV/0!")
VALUE = XLError("#VALUE!")
NUM = XLError("#NUM!")
REF = XLError("#REF!")
NAME = XLError("#NAME?")


class Text(str):
    """Literal text in a cell, even when it starts with "=" (a plain ``str`` starting with "=" is a formula)."""


def _is_formula(raw: Any) -> bool:
    return type(raw) is str and raw.startswith("=")


class _Blank:
    """An empty cell: 0 in arithmetic, "" against text."""

    def __repr__(self) -> str:
        return "BLANK"


BLANK = _Blank()

# ------------------------------------------------------------------------------------------------------- parsing

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<error>\#N/A|\#DIV/0!|\#VALUE!|\#NUM!|\#REF!|\#NAME\?)
  | (?P<ref>(?:(?:'(?:[^']|'')+'|[A-Za-z_][A-Za-z0-9_.]*)!)?
            \$?[A-Za-z]{1,3}\$?[0-9]+(?::\$?[A-Za-z]{1,3}\$?[0-9]+)?(?![A-Za-z0-9_(]))
  | (?P<number>(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<func>[A-Za-z_][A-Za-z0-9_.]*(?=\())
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<op><=|>=|<>|[-+*/^&=<>(),])
    """,
    re.VERBOSE,
)

_CELL = re.compile(r"\$?([A-Za-z]{1,3})\$?([0-9]+)")


def _split_ref(text: str, sheet: str) -> tuple[str, str]:
    if "!" in text:
        prefix, _, addr = text.rpartition("!")
        if prefix.startswith("'"):
            prefix = prefix[1:-1].replace("''", "'")
        return prefix, addr
    return sheet, text


def _cell(addr: str) -> tuple[int, int]:
    m = _CELL.fullmatch(addr)
    if not m:
        raise FormulaError(f"bad cell address {addr!r}")
    return column_index_from_string(m.group(1).upper()), int(m.group(2))


@dataclass(frozen=True)
class Range:
    """A rectangular block of cells on one sheet (1-based, inclusive)."""

    sheet: str
    col1: int
    row1: int
    col2: int
    row2: int

    @classmethod
    def parse(cls, text: str, sheet: str) -> Range:
        sheet, addr = _split_ref(text, sheet)
        first, _, last = addr.partition(":")
        c1, r1 = _cell(first)
        c2, r2 = _cell(last) if last else (c1, r1)
        return cls(sheet, min(c1, c2), min(r1, r2), max(c1, c2), max(r1, r2))

    def shifted(self, rel: tuple[bool, bool, bool, bool], rows: int, cols: int) -> Range:
        """This range moved by (rows, cols) where its references are relative (``rel``: column 1, row 1, column 2,
        row 2 without a ``$``), as a formula copied that far moves."""
        return Range(self.sheet, self.col1 + cols * rel[0], self.row1 + rows * rel[1], self.col2 + cols * rel[2],
                     self.row2 + rows * rel[3])

    @property
    def single(self) -> bool:
        return self.col1 == self.col2 and self.row1 == self.row2

    def coords(self) -> Iterator[str]:
        for r in range(self.row1, self.row2 + 1):
            for c in range(self.col1, self.col2 + 1):
                yield f"{get_column_letter(c)}{r}"


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise FormulaError(f"cannot parse {text[pos:pos + 20]!r} in formula {text!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


class _Parser:
    """Precedence climbing: comparison < & < + - < * / < ^ < unary minus < primary."""

    LEVELS = (("=", "<>", "<", ">", "<=", ">="), ("&",), ("+", "-"), ("*", "/"), ("^",))

    def __init__(self, text: str, sheet: str):
        self.text, self.sheet = text, sheet
        self.toks = _tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise FormulaError(f"unexpected end of formula {self.text!r}")
        self.i += 1
        return tok

    def expect(self, value: str) -> None:
        tok = self.take()
        if tok[1] != value:
            raise FormulaError(f"expected {value!r}, got {tok[1]!r} in {self.text!r}")

    def parse(self) -> tuple:
        node = self.binary(0)
        if self.peek() is not None:
            raise FormulaError(f"trailing {self.peek()[1]!r} in {self.text!r}")  # type: ignore[index]
        return node

    def binary(self, level: int) -> tuple:
        if level == len(self.LEVELS):
            return self.unary()
        node = self.binary(level + 1)
        while (tok := self.peek()) is not None and tok[0] == "op" and tok[1] in self.LEVELS[level]:
            self.take()
            right = self.binary(level + 1)
            node = ("op", tok[1], node, right)
        return node

    def unary(self) -> tuple:
        tok = self.peek()
        if tok is not None and tok[0] == "op" and tok[1] in "+-":
            self.take()
            operand = self.unary()
            return ("neg", operand) if tok[1] == "-" else operand
        return self.primary()

    def primary(self) -> tuple:
        kind, value = self.take()
        if kind == "number":
            return ("lit", float(value))
        if kind == "string":
            return ("lit", value[1:-1].replace('""', '"'))
        if kind == "error":
            return ("lit", XLError(value))
        if kind == "ref":
            _, addr = _split_ref(value, self.sheet)
            first, _, last = addr.partition(":")
            last = last or first
            rel = (not first.startswith("$"), "$" not in first.lstrip("$"), not last.startswith("$"),
                   "$" not in last.lstrip("$"))
            return ("ref", Range.parse(value, self.sheet), rel)
        if kind == "name":
            upper = value.upper()
            if upper in ("TRUE", "FALSE"):
                return ("lit", upper == "TRUE")
            return ("name", value.lower())
        if kind == "func":
            name = value.upper()
            if name not in FUNCTIONS:
                raise FormulaError(f"function {name} is not in the supported set, in {self.text!r}")
            self.expect("(")
            args: list[tuple] = []
            if self.peek() != ("op", ")"):
                while True:
                    args.append(self.binary(0))
                    if self.peek() == ("op", ","):
                        self.take()
                        continue
                    break
            self.expect(")")
            return ("call", name, tuple(args))
        if (kind, value) == ("op", "("):
            node = self.binary(0)
            self.expect(")")
            return node
        raise FormulaError(f"unexpected {value!r} in {self.text!r}")


@lru_cache(maxsize=65536)
def parse(formula: str, sheet: str) -> tuple:
    """The syntax tree of ``formula`` (with or without the leading ``=``) on ``sheet``."""
    return _Parser(formula[1:] if formula.startswith("=") else formula, sheet).parse()


_SHAPE = re.compile(r'"(?:[^"]|"")*"|(?<![A-Za-z0-9_.$])(\$?)([A-Z]{1,3})(\$?)([0-9]+)(?![A-Za-z0-9_(!])')
_COLUMNS: dict[str, int] = {}


def shape(formula: str, col: int, row: int) -> str:
    """``formula`` (in the cell at ``col``, ``row``) with every relative reference written as an offset from that
    cell: formulas copied down or across a table have one shape."""
    def sub(m: re.Match[str]) -> str:
        letters = m.group(2)
        if letters is None:  # a string literal
            return m.group(0)
        c = _COLUMNS.get(letters)
        if c is None:
            c = _COLUMNS.setdefault(letters, column_index_from_string(letters))
        cs = letters if m.group(1) else f"[{c - col}]"
        rs = m.group(4) if m.group(3) else f"[{int(m.group(4)) - row}]"
        return f"{m.group(1)}{cs}{m.group(3)}{rs}"
    return _SHAPE.sub(sub, formula)


def functions_used(formula: str) -> set[str]:
    """Names of the functions a formula calls."""
    return {value.upper() for kind, value in _tokens(formula.lstrip("=")) if kind == "func"}


# ----------------------------------------------------------------------------------------------------- coercion


def _num(v: Any) -> float | XLError:
    if isinstance(v, XLError):
        return v
    if v is BLANK or v is None:
        return 0.0
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return VALUE
    return VALUE


def _bool(v: Any) -> bool | XLError:
    if isinstance(v, XLError):
        return v
    if isinstance(v, bool):
        return v
    if v is BLANK or v is None:
        return False
    if isinstance(v, (int, float)):
        return v != 0
    if isinstance(v, str):
        if v.upper() in ("TRUE", "FALSE"):
            return v.upper() == "TRUE"
        return VALUE
    return VALUE


def _text(v: Any) -> str:
    if v is BLANK or v is None:
        return ""
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v))
    return str(v)


def _rank(v: Any) -> int:
    return 2 if isinstance(v, bool) else 1 if isinstance(v, str) else 0


def _compare(op: str, a: Any, b: Any) -> bool | XLError:
    for v in (a, b):
        if isinstance(v, XLError):
            return v
    if a is BLANK:
        a = "" if isinstance(b, str) else False if isinstance(b, bool) else 0.0
    if b is BLANK:
        b = "" if isinstance(a, str) else False if isinstance(a, bool) else 0.0
    ra, rb = _rank(a), _rank(b)
    x: Any
    y: Any
    if ra != rb:
        x, y = ra, rb
    elif ra == 1:
        x, y = a.lower(), b.lower()
    else:
        x, y = float(a), float(b)
    return {"=": x == y, "<>": x != y, "<": x < y, ">": x > y, "<=": x <= y, ">=": x >= y}[op]


def _arith(op: str, a: Any, b: Any) -> float | XLError:
    x, y = _num(a), _num(b)
    if isinstance(x, XLError):
        return x
    if isinstance(y, XLError):
        return y
    try:
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            if y == 0:
                return DIV0
            r = x / y
        else:
            if x == 0 and y < 0:
                return DIV0
            r = x**y
            if isinstance(r, complex):
                return NUM
    except OverflowError:
        return NUM
    return r if math.isfinite(r) else NUM


# ---------------------------------------------------------------------------------------------------- evaluation


class Evaluator:
    """Evaluates the formula cells of a workbook held as ``{sheet: {"A1": value or "=formula"}}``.

    ``names`` maps workbook-level defined names (any case) to references like ``Plan!$B$5``. Every formula cell's
    value is computed once, on demand (``value``), or all together (``evaluate_all``).
    """

    def __init__(self, cells: dict[str, dict[str, Any]], names: dict[str, str],
                 shapes: dict[tuple[str, str], Hashable] | None = None):
        self.cells = cells
        self.names = {k.lower(): v for k, v in names.items()}
        self.shapes = shapes or {}
        self._memo: dict[tuple[str, str], Any] = {}
        self._active: set[tuple[str, str]] = set()
        self._trees: dict[Hashable, tuple[tuple, int, int]] = {}
        self._ranges: dict[str, Range] = {}
        self._offset = (0, 0)

    def _tree(self, sheet: str, coord: str, formula: str) -> tuple[tuple, tuple[int, int]]:
        """The syntax tree of a cell's formula and the (rows, columns) its relative references move by: a tree
        parsed once per shape (``shapes[(sheet, coord)]`` where the builder named it, else computed)."""
        col, row = _cell(coord)
        key = self.shapes.get((sheet, coord))
        if key is None:
            key = (sheet, shape(formula, col, row))
        hit = self._trees.get(key)
        if hit is None:
            hit = self._trees[key] = (parse(formula, sheet), row, col)
        tree, row0, col0 = hit
        return tree, (row - row0, col - col0)

    def is_formula(self, sheet: str, coord: str) -> bool:
        return _is_formula(self.cells.get(sheet, {}).get(coord))

    def value(self, sheet: str, coord: str) -> Any:
        """The value of one cell (computed if it holds a formula); ``BLANK`` if empty."""
        key = (sheet, coord)
        if key in self._memo:
            return self._memo[key]
        raw = self.cells.get(sheet, {}).get(coord, BLANK)
        if raw is None:
            raw = BLANK
        if _is_formula(raw):
            if key in self._active:
                raise FormulaError(f"circular reference at {sheet}!{coord}")
            self._active.add(key)
            saved = self._offset
            try:
                tree, self._offset = self._tree(sheet, coord, raw)
                out = self._eval(tree)
                if isinstance(out, Range):
                    out = self._deref(out)
                if out is BLANK:  # a formula cell is never empty: a reference to a blank shows 0
                    out = 0.0
            finally:
                self._offset = saved
                self._active.discard(key)
        elif isinstance(raw, int) and not isinstance(raw, bool):
            out = float(raw)
        elif isinstance(raw, Text):
            out = str(raw)
        else:
            out = raw
        self._memo[key] = out
        return out

    def evaluate_all(self) -> dict[str, dict[str, Any]]:
        """``{sheet: {coord: value}}`` for every formula cell."""
        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 20_000))  # a chain of dependent cells is evaluated depth first
        try:
            return {
                sheet: {coord: self.value(sheet, coord) for coord, raw in cells.items() if _is_formula(raw)}
                for sheet, cells in self.cells.items()
            }
        finally:
            sys.setrecursionlimit(limit)

    def name_range(self, name: str) -> Range:
        rng = self._ranges.get(name)
        if rng is None:
            target = self.names.get(name.lower())
            if target is None:
                raise FormulaError(f"unknown defined name {name!r}")
            rng = self._ranges[name] = Range.parse(target.lstrip("="), "")
        return rng

    # -- internals --

    def _deref(self, rng: Range) -> Any:
        if not rng.single:
            return VALUE
        return self.value(rng.sheet, f"{get_column_letter(rng.col1)}{rng.row1}")

    def _eval(self, node: tuple) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "ref":
            rows, cols = self._offset
            return node[1].shifted(node[2], rows, cols) if rows or cols else node[1]
        if kind == "name":
            return self.name_range(node[1]) if node[1] in self.names else NAME
        if kind == "neg":
            v = _num(self._scalar(node[1]))
            return v if isinstance(v, XLError) else -v
        if kind == "op":
            a, b = self._scalar(node[2]), self._scalar(node[3])
            op = node[1]
            if op in ("=", "<>", "<", ">", "<=", ">="):
                return _compare(op, a, b)
            if op == "&":
                for v in (a, b):
                    if isinstance(v, XLError):
                        return v
                return _text(a) + _text(b)
            return _arith(op, a, b)
        if kind == "call":
            return FUNCTIONS[node[1]](self, node[2])
        raise FormulaError(f"unknown node {kind}")

    def _scalar(self, node: tuple) -> Any:
        v = self._eval(node)
        return self._deref(v) if isinstance(v, Range) else v

    def _values(self, node: tuple) -> tuple[list[Any], bool]:
        """The values of an argument: a list, and whether it came from a reference (whose text/blanks the
        aggregate functions skip)."""
        v = self._eval(node)
        if isinstance(v, Range):
            return [self.value(v.sheet, c) for c in v.coords()], True
        return [v], False


def cells_of(wb: Any) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The raw cells and simple defined names of an openpyxl workbook (loaded with formulas), ready for
    ``Evaluator``. Text cells come back as ``Text``; defined names that are not plain references are left out."""
    cells: dict[str, dict[str, Any]] = {}
    for ws in wb.worksheets:
        sheet: dict[str, Any] = {}
        for row in ws.iter_rows():
            for cell in row:
                v = cell.value
                if v is None:
                    continue
                if cell.data_type == "f" and isinstance(v, str):
                    sheet[cell.coordinate] = v if v.startswith("=") else "=" + v
                elif isinstance(v, str):
                    sheet[cell.coordinate] = Text(v)
                else:
                    sheet[cell.coordinate] = v
        cells[ws.title] = sheet
    names: dict[str, str] = {}
    for name, dn in wb.defined_names.items():
        text = dn.attr_text or ""
        if re.fullmatch(r"(?:'[^']+'|[A-Za-z_][A-Za-z0-9_.]*)!\$?[A-Z]+\$?[0-9]+(?::\$?[A-Z]+\$?[0-9]+)?", text):
            names[name] = text
    return cells, names


# ----------------------------------------------------------------------------------------------------- functions


def _first_error(values: list[Any]) -> XLError | None:
    return next((v for v in values if isinstance(v, XLError)), None)


def _if(ev: Evaluator, args: tuple) -> Any:
    cond = _bool(ev._scalar(args[0]))
    if isinstance(cond, XLError):
        return cond
    if cond:
        return ev._eval(args[1]) if len(args) > 1 else True
    return ev._eval(args[2]) if len(args) > 2 else False


def _logical(combine: Callable[[list[bool]], bool]) -> Callable[[Evaluator, tuple], Any]:
    def fn(ev: Evaluator, args: tuple) -> Any:
        flags: list[bool] = []
        for a in args:
            values, from_ref = ev._values(a)
            for v in values:
                if isinstance(v, XLError):
                    return v
                if from_ref and (v is BLANK or isinstance(v, str)):
                    continue
                b = _bool(v)
                if isinstance(b, XLError):
                    return b
                flags.append(b)
        return combine(flags) if flags else VALUE
    return fn


def _aggregate(combine: Callable[[list[float]], float]) -> Callable[[Evaluator, tuple], Any]:
    def fn(ev: Evaluator, args: tuple) -> Any:
        nums: list[float] = []
        for a in args:
            values, from_ref = ev._values(a)
            for v in values:
                if isinstance(v, XLError):
                    return v
                if from_ref:
                    if isinstance(v, (int, float)) and not isinstance(v, bool):
                        nums.append(float(v))
                    continue
                n = _num(v)
                if isinstance(n, XLError):
                    return n
                nums.append(n)
        return combine(nums) if nums else 0.0
    return fn


def _unary(f: Callable[[float], float], domain: Callable[[float], bool] = lambda x: True) -> Callable:
    def fn(ev: Evaluator, args: tuple) -> Any:
        x = _num(ev._scalar(args[0]))
        if isinstance(x, XLError):
            return x
        if not domain(x):
            return NUM
        try:
            r = f(x)
        except OverflowError:
            return NUM
        return r if math.isfinite(r) else NUM
    return fn


def _round_to(f: Callable[[float], float]) -> Callable:
    def fn(ev: Evaluator, args: tuple) -> Any:
        x, s = _num(ev._scalar(args[0])), _num(ev._scalar(args[1])) if len(args) > 1 else 1.0
        if isinstance(x, XLError):
            return x
        if isinstance(s, XLError):
            return s
        if s == 0:
            return 0.0
        if x > 0 and s < 0:
            return NUM
        return float(f(x / s) * s)
    return fn


def _index(ev: Evaluator, args: tuple) -> Any:
    rng = ev._eval(args[0])
    if isinstance(rng, XLError):
        return rng
    if not isinstance(rng, Range):
        return VALUE
    row = _num(ev._scalar(args[1])) if len(args) > 1 else 1.0
    col = _num(ev._scalar(args[2])) if len(args) > 2 else 1.0
    if isinstance(row, XLError):
        return row
    if isinstance(col, XLError):
        return col
    r, c = int(row), int(col)
    height, width = rng.row2 - rng.row1 + 1, rng.col2 - rng.col1 + 1
    if len(args) == 2 and height == 1:  # a one-row range: the single index picks a column
        r, c = 1, int(row)
    if r < 1 or c < 1 or r > height or c > width:
        return REF
    return Range(rng.sheet, rng.col1 + c - 1, rng.row1 + r - 1, rng.col1 + c - 1, rng.row1 + r - 1)


def _match(ev: Evaluator, args: tuple) -> Any:
    target = ev._scalar(args[0])
    if isinstance(target, XLError):
        return target
    mode = _num(ev._scalar(args[2])) if len(args) > 2 else 1.0
    if mode != 0:
        raise FormulaError("only exact MATCH (match_type 0) is supported")
    rng = ev._eval(args[1])
    if not isinstance(rng, Range):
        return NA
    if target is BLANK:
        return NA
    for i, coord in enumerate(rng.coords(), start=1):
        v = ev.value(rng.sheet, coord)
        if v is BLANK or isinstance(v, XLError) or _rank(v) != _rank(target):
            continue
        if _compare("=", v, target) is True:
            return float(i)
    return NA


def _mod(ev: Evaluator, args: tuple) -> Any:
    n, d = _num(ev._scalar(args[0])), _num(ev._scalar(args[1]))
    if isinstance(n, XLError):
        return n
    if isinstance(d, XLError):
        return d
    if d == 0:
        return DIV0
    return n - d * math.floor(n / d)


def _count(ev: Evaluator, args: tuple) -> Any:
    """Numbers among the arguments (in references: number cells only, not text, booleans or blanks)."""
    n = 0
    for a in args:
        values, from_ref = ev._values(a)
        for v in values:
            if isinstance(v, bool):
                n += 0 if from_ref else 1
            elif isinstance(v, (int, float)):
                n += 1
            elif not from_ref and isinstance(v, str) and not isinstance(_num(v), XLError):
                n += 1
    return float(n)


def _isnumber(ev: Evaluator, args: tuple) -> Any:
    v = ev._scalar(args[0])
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _istext(ev: Evaluator, args: tuple) -> Any:
    return isinstance(ev._scalar(args[0]), str)


def _find(ev: Evaluator, args: tuple) -> Any:
    """FIND(text, within[, start]): the 1-based position of ``text`` in ``within`` at or after ``start``,
    case-sensitive; #VALUE! where it is not there."""
    needle, hay = ev._scalar(args[0]), ev._scalar(args[1])
    start = _num(ev._scalar(args[2])) if len(args) > 2 else 1.0
    for v in (needle, hay, start):
        if isinstance(v, XLError):
            return v
    assert isinstance(start, float)
    if start < 1 or start > len(_text(hay)) + 1:
        return VALUE
    i = _text(hay).find(_text(needle), int(start) - 1)
    return VALUE if i < 0 else float(i + 1)


def _value(ev: Evaluator, args: tuple) -> Any:
    v = ev._scalar(args[0])
    if isinstance(v, XLError):
        return v
    if isinstance(v, str):
        try:
            return float(v.strip())
        except ValueError:
            return VALUE
    return _num(v)


FUNCTIONS: dict[str, Callable[[Evaluator, tuple], Any]] = {
    "IF": _if,
    "AND": _logical(all),
    "OR": _logical(any),
    "NOT": lambda ev, a: (lambda b: b if isinstance(b, XLError) else not b)(_bool(ev._scalar(a[0]))),
    "MIN": _aggregate(min),
    "MAX": _aggregate(max),
    "INT": _unary(lambda x: float(math.floor(x))),
    "ABS": _unary(abs),
    "CEILING": _round_to(math.ceil),
    "FLOOR": _round_to(math.floor),
    "LN": _unary(math.log, lambda x: x > 0),
    "LOG10": _unary(math.log10, lambda x: x > 0),
    "EXP": _unary(math.exp),
    "FIND": _find,
    "INDEX": _index,
    "MATCH": _match,
    "MOD": _mod,
    "COUNT": _count,
    "ISNUMBER": _isnumber,
    "ISTEXT": _istext,
    "NA": lambda ev, a: NA,
    "VALUE": _value,
}
"""The spreadsheet functions plan workbooks may use: all in Excel 2010, LibreOffice and Google Sheets."""
