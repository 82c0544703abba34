"""xlwings' UDF decorators (``func``, ``arg``), recording what they were given.

``udfs.functions`` writes ``@xw.func`` / ``@xw.arg("batch", doc=..., ndim=2)`` with this module as ``xw``. Each
decorator records its arguments in the function's ``__whichwall__`` mapping and then applies xlwings' own decorator
(a no-op on Linux, the COM registration on Windows, the custom-function registration in xlwings Lite). The record
is what ``udfs.docs`` renders on any OS and what ``templates/lite/main.py`` re-applies with xlwings Lite's decorators
(``register``).

Every argument is read with ``err_to_str=True``: without it xlwings (classic and Lite) reads a cell holding #N/A or
#DIV/0! as ``None``, i.e. as an empty cell, and the function would silently use the default. With it the error
arrives as its text and the boundary refuses it, naming the argument (``udfs._excel.check_cells``).

``func`` also puts the Excel boundary around the function (``udfs._excel.boundary``): results of repeated scalar
calls are remembered, and a ``PlannerError`` leaves as the error each runtime shows cleanly. The description Excel
receives (``__xlfunc__["ret"]["doc"]``, which xlwings takes from the raw docstring) is the docstring on one line,
within Excel's 255 characters (``description``).
Only xlwings' core is used (BSD); nothing here imports ``xlwings.pro`` or ``xlwings.server``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

import xlwings

from udfs._excel import boundary

F = TypeVar("F", bound=Callable[..., Any])

META = "__whichwall__"
"""Attribute holding ``{"args": {name: options}, "func": options}`` of a decorated function."""

READ_ERRORS = {"err_to_str": True}
"""xlwings' conversion option every argument gets: an error cell arrives as "#N/A" (refused), not as None."""

DESCRIPTION_LIMIT = 255
"""Excel refuses longer function and argument descriptions (the classic add-in cuts them at 255)."""


def _record(f: Callable[..., Any]) -> dict[str, Any]:
    meta = getattr(f, META, None)
    if meta is None:
        meta = {"args": {}, "func": {}}
        setattr(f, META, meta)
    return meta


def arg(name: str, **options: Any) -> Callable[[F], F]:
    """``xlwings.arg``: ``doc`` (what the argument means, with its unit and default) and conversion options
    such as ``ndim=2`` (a single cell arrives as [[x]], a column as [[a], [b]], a row as [[a, b]]). Error cells
    are read as errors (``READ_ERRORS``) unless the options say otherwise."""
    options = {**READ_ERRORS, **options}

    def inner(f: F) -> F:
        meta = _record(f)
        # decorators apply bottom-up: insert at the front so the record keeps the written (signature) order
        meta["args"] = {name: dict(options), **meta["args"]}
        return xlwings.arg(name, **options)(f)  # type: ignore[no-any-return]

    return inner


def func(f: F | None = None, **options: Any) -> Any:
    """``xlwings.func`` around the Excel boundary (see the module docstring)."""

    def inner(g: F) -> F:
        meta = _record(g)
        meta["func"] = dict(options)
        params = list(inspect.signature(g).parameters)
        for name in params:  # an argument without @xw.arg still reads error cells as errors
            if name not in meta["args"]:
                xlwings.arg(name, **READ_ERRORS)(g)
        meta["args"] = {**{p: meta["args"].get(p, dict(READ_ERRORS)) for p in params}, **meta["args"]}
        wrapped = boundary(g)
        setattr(wrapped, META, meta)
        out: Any = xlwings.func(**options)(wrapped) if options else xlwings.func(wrapped)
        describe(out)
        return out  # type: ignore[no-any-return]

    return inner if f is None else inner(f)


def meta(f: Callable[..., Any]) -> dict[str, Any]:
    """What ``func``/``arg`` recorded for ``f``."""
    return getattr(f, META, {"args": {}, "func": {}})


def description(f: Callable[..., Any]) -> str:
    """The description Excel shows for ``f``: its docstring on one line (no newlines, no indentation), cut at a
    word within ``DESCRIPTION_LIMIT`` characters (whichwall's docstrings fit; a test checks)."""
    text = " ".join((inspect.getdoc(f) or "").split())
    if len(text) > DESCRIPTION_LIMIT:
        text = text[: DESCRIPTION_LIMIT - 1].rsplit(" ", 1)[0] + "…"
    return text


def describe(f: Callable[..., Any]) -> None:
    """Hand Excel the one-line ``description``: xlwings' decorators (classic and Lite) record the raw docstring,
    newlines and indentation included, in ``__xlfunc__["ret"]["doc"]``. No-op where nothing registered ``f``."""
    xlfunc = getattr(f, "__xlfunc__", None)
    if isinstance(xlfunc, dict) and isinstance(xlfunc.get("ret"), dict):
        xlfunc["ret"]["doc"] = description(f)


def register(f: F, func: Callable[..., Any], arg: Callable[..., Any]) -> F:
    """``f`` registered with a runtime's own ``func``/``arg`` decorators (xlwings Lite's, in
    ``templates/lite/main.py``), with the options ``udfs._xw`` recorded and the one-line description."""
    m = meta(f)
    out: Any = f
    for name, options in m["args"].items():
        out = arg(name, **options)(out)
    out = func(**m["func"])(out) if m["func"] else func(out)
    describe(out)
    return out  # type: ignore[no-any-return]


RANGE_DOC = "; a cell or a range"


def shared_args(args: tuple[tuple[str, Any, str, bool], ...], ranges: bool = True) -> Callable[[F], F]:
    """A decorator applying one shared argument list — (name, default, doc, a range is allowed) per argument — to
    the functions that take it (the plan functions), after checking at import that each function's trailing
    parameters are exactly those names, in that order, with those defaults: the functions cannot diverge.
    ``ranges``: the function returns one value per cell, so the arguments marked for ranges take them (``ndim=2``
    and "a cell or a range" in their doc); else every argument is a single cell."""

    def inner(f: F) -> F:
        params = list(inspect.signature(f).parameters.values())[-len(args):]
        got = [(p.name, p.default) for p in params]
        want = [(name, default) for name, default, _, _ in args]
        if got != want:
            raise TypeError(f"{f.__name__}'s parameters {got} are not the shared argument list {want}")
        for name, _, doc, ranged in reversed(args):
            options = {"ndim": 2} if ranged and ranges else {}
            f = arg(name, doc=doc + (RANGE_DOC if options else ""), **options)(f)
        return f

    return inner
