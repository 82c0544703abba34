"""xlwings' UDF decorators (``func``, ``arg``), recording what they were given.

``udfs.functions`` writes ``@xw.func`` / ``@xw.arg("batch", doc=..., ndim=2)`` with this module as ``xw``. Each
decorator records its arguments in the function's ``__whichwall__`` mapping and then applies xlwings' own decorator
(a no-op on Linux, the COM registration on Windows, the custom-function registration in xlwings Lite). The record
is what ``udfs.docs`` renders on any OS and what ``templates/lite/main.py`` re-applies with xlwings Lite's decorators.

``func`` also puts the Excel boundary around the function (``udfs._excel.boundary``): results of repeated scalar
calls are remembered, and a ``PlannerError`` leaves as the error each runtime shows cleanly.
Only xlwings' core is used (BSD); nothing here imports ``xlwings.pro`` or ``xlwings.server``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import xlwings

from udfs._excel import boundary

F = TypeVar("F", bound=Callable[..., Any])

META = "__whichwall__"
"""Attribute holding ``{"args": {name: options}, "func": options}`` of a decorated function."""


def _record(f: Callable[..., Any]) -> dict[str, Any]:
    meta = getattr(f, META, None)
    if meta is None:
        meta = {"args": {}, "func": {}}
        setattr(f, META, meta)
    return meta


def arg(name: str, **options: Any) -> Callable[[F], F]:
    """``xlwings.arg``: ``doc`` (what the argument means, with its unit and default) and conversion options
    such as ``ndim=2`` (a single cell arrives as [[x]], a column as [[a], [b]], a row as [[a, b]])."""

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
        wrapped = boundary(g)
        setattr(wrapped, META, meta)
        return xlwings.func(**options)(wrapped) if options else xlwings.func(wrapped)  # type: ignore[no-any-return,return-value]

    return inner if f is None else inner(f)


def meta(f: Callable[..., Any]) -> dict[str, Any]:
    """What ``func``/``arg`` recorded for ``f``."""
    return getattr(f, META, {"args": {}, "func": {}})
