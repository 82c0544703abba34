"""xlwings' real Windows code paths on any OS: ``xlwings.udfs`` (the decorators, the VBA wrapper, *Import Functions*)
and ``xlwings.com_server`` (``XLPython.CallUDF``, what Excel's VBA wrapper calls), with pywin32 stubbed.

``classic_xlwings()`` puts stand-ins for pywin32's modules (pywintypes, pythoncom, win32api, win32com.*, ...) and
for ``ctypes.oledll``/``windll``/``PyDLL`` in place, imports ``xlwings._xlwindows``, ``xlwings.udfs`` and
``xlwings.com_server`` (xlwings' own BSD code, unchanged), registers the desktop-Excel conversion engine, makes
``xlwings.func``/``arg``/``ret`` the real ``xlwings.udfs`` decorators (as ``import xlwings`` does on Windows) and
imports a fresh ``udfs`` under them. On exit everything is put back: ``sys.modules`` (the original ``udfs`` too),
``ctypes``, ``xlwings``' attributes and engines, ``os.environ``. Nothing is written outside ``tempfile``'s unique
files, so it is safe under pytest-xdist (one process per worker).

``FakeRange`` is a COM Range as pywin32 presents it: ``.Value`` is a scalar for one cell, a tuple of row tuples for
more, ``None`` for an empty cell, an int scode for an error cell and a ``decimal.Decimal`` for a Currency cell.

``lite_registered`` models how xlwings Lite registers a module's custom functions (``custom_functions_meta`` in
xlwings' PRO-licensed ``xlwings/pro/udfs_officejs.py``, which is deliberately not imported): every member
(``inspect.getmembers``) that carries ``__xlfunc__`` is a function named by ``__xlfunc__["name"]``, and a name seen
twice fails the whole module. Nothing here imports ``xlwings.pro`` or ``xlwings.server``; ``ImportWatch`` records
any attempt to, while the stubs are in place.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import decimal
import importlib
import inspect
import os
import sys
import types
from collections.abc import Iterator
from typing import Any

import xlwings

RANGE_IID = "{00020846-0000-0000-C000-000000000046}"
"""The COM interface id of Excel's Range (``xlwings._xlwindows.is_range_instance`` compares with it)."""
IDISPATCH_IID = "{00020400-0000-0000-C000-000000000046}"
MISSING = -2147352572
"""DISP_E_PARAMNOTFOUND: what VBA passes for an Optional argument left out (``call_udf`` gives the default)."""
SCODE = {"#NULL!": -2146826288, "#DIV/0!": -2146826281, "#VALUE!": -2146826273, "#REF!": -2146826265,
         "#NAME?": -2146826259, "#NUM!": -2146826252, "#N/A": -2146826246}
"""An error cell's ``.Value`` through COM (xlwings' own ``_xlwindows.cell_errors``, inverted)."""

WIN32_MODULES = (
    "pywintypes", "pythoncom", "win32api", "win32con", "win32event", "win32gui", "win32process", "win32timezone",
    "win32com", "win32com.client", "win32com.client.gencache", "win32com.server", "win32com.server.dispatcher",
    "win32com.server.exception", "win32com.server.policy", "win32com.server.util",
)
XLWINGS_WINDOWS = ("xlwings._win32patch", "xlwings._xlwindows", "xlwings.udfs", "xlwings.com_server")
LICENSED = ("xlwings.pro", "xlwings.server", "xlwings_server")
_ABSENT = object()


# ------------------------------------------------------------------------------------------- pywin32 stand-ins


class _Anything:
    """Accepts any attribute, call or assignment (``oledll.ole32.CLSIDFromString(...)``, ``PyDLL(...).f.restype``)."""

    def __getattr__(self, name: str) -> _Anything:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()

    def __call__(self, *args: Any, **kwargs: Any) -> _Anything:
        return _Anything()


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Anything()


class ComError(Exception):
    """Stands in for ``pywintypes.com_error``."""


class _TimeType:
    """Stands in for ``pywintypes.TimeType`` (a date cell; none is used here)."""


class _PyIDispatch:
    """Stands in for pythoncom's PyIDispatch (``com_server.FromVariant`` dispatches those; none is used here)."""


class _Dispatch:
    """Stands in for ``win32com.client``'s dispatch classes."""


def _dispatch(obj: Any, *args: Any, **kwargs: Any) -> Any:
    return obj  # the fakes below already behave like dispatched COM objects


def _unwrap(obj: Any) -> Any:
    raise ValueError("not a wrapped Python COM server object")  # as pywin32 says for a plain value


def _stub_modules() -> dict[str, types.ModuleType]:
    mods = {name: _StubModule(name) for name in WIN32_MODULES}
    pywintypes = mods["pywintypes"]
    pywintypes.com_error = ComError  # type: ignore[attr-defined]
    pywintypes.error = ComError  # type: ignore[attr-defined]
    pywintypes.IID = str  # type: ignore[attr-defined]
    pywintypes.TimeType = _TimeType  # type: ignore[attr-defined]
    pythoncom = mods["pythoncom"]
    pythoncom.__file__ = "pythoncom.dll"
    pythoncom.IID_IDispatch = IDISPATCH_IID  # type: ignore[attr-defined]
    pythoncom.TypeIIDs = {IDISPATCH_IID: _PyIDispatch}  # type: ignore[attr-defined]
    pythoncom.CoInitialize = lambda: None  # type: ignore[attr-defined]
    pythoncom.com_error = ComError  # type: ignore[attr-defined]
    mods["win32process"].GetWindowThreadProcessId = lambda hwnd: (1, 4242)  # type: ignore[attr-defined]
    client = mods["win32com.client"]
    for cls in ("CDispatch", "CoClassBaseClass", "DispatchBaseClass"):
        setattr(client, cls, type(cls, (_Dispatch,), {}))
    client.Dispatch = client.DispatchEx = _dispatch  # type: ignore[attr-defined]
    mods["win32com.server.util"].unwrap = _unwrap  # type: ignore[attr-defined]
    for parent, child in (("win32com", "client"), ("win32com", "server"), ("win32com.client", "gencache"),
                          ("win32com.server", "dispatcher"), ("win32com.server", "exception"),
                          ("win32com.server", "policy"), ("win32com.server", "util")):
        setattr(mods[parent], child, mods[f"{parent}.{child}"])
    return mods


# ------------------------------------------------------------------------------------------------ COM objects


class _Count:
    def __init__(self, n: int) -> None:
        self.Count = n


class _TypeInfo:
    def __init__(self, iid: str) -> None:
        self.iid = iid

    def GetTypeInfo(self) -> _TypeInfo:
        return self

    def GetTypeAttr(self) -> _TypeInfo:
        return self


class FakeApp:
    Hwnd = 1
    Version = "16.0"


class FakeBook:
    def __init__(self, name: str = "plan.xlsm") -> None:
        self.Name = name
        self.Application = FakeApp()
        self.Worksheets: list[FakeSheet] = []


class FakeSheet:
    def __init__(self) -> None:
        self.Name = "Sheet1"
        self.Parent = FakeBook()


class FakeRange:
    """A COM Range holding ``value``: a cell (a float, text, ``None`` for empty, an int scode for an error, a
    ``Decimal`` for Currency), a list of rows, or a flat list (a column)."""

    def __init__(self, value: Any) -> None:
        if isinstance(value, list):
            rows = [list(r) if isinstance(r, (list, tuple)) else [r] for r in value]
        else:
            rows = [[value]]
        self.Row, self.Column = 1, 1
        self.Rows, self.Columns = _Count(len(rows)), _Count(len(rows[0]))
        self.Count = len(rows) * len(rows[0])
        self.Value = rows[0][0] if self.Count == 1 else tuple(tuple(r) for r in rows)
        self.Worksheet = FakeSheet()
        self._oleobj_ = _TypeInfo(RANGE_IID)


def by_value(arg: Any) -> Any:
    """An argument as VBA passes a literal or a computed value: a scalar, or a tuple of row tuples for an array;
    ``None`` (left out) as DISP_E_PARAMNOTFOUND."""
    if arg is None:
        return MISSING
    if isinstance(arg, list):
        return tuple(tuple(r) if isinstance(r, (list, tuple)) else (r,) for r in arg)
    return arg


def by_reference(arg: Any) -> Any:
    """An argument as VBA passes a cell reference: a Range (``None``: an empty cell)."""
    return FakeRange(arg)


class FakeWorkbook:
    """The workbook *Import Functions* writes into: records the VBA module it imports and each MacroOptions call."""

    def __init__(self, name: str = "plan.xlsm") -> None:
        self.Name = name
        self.Worksheets: list[FakeSheet] = []
        self.vba: list[str] = []
        self.macro_options: dict[str, dict[str, Any]] = {}
        book = self

        class _Components:
            def __call__(self, name: str) -> str:
                return name

            def Remove(self, component: Any) -> None:
                pass

            def Import(self, path: str) -> None:
                with open(path, encoding="utf-8") as f:
                    book.vba.append(f.read())

        class _Application:
            Version = "16.0"

            def MacroOptions(self, macro: str, **options: Any) -> None:
                book.macro_options[macro.split("!")[-1]] = options

        self.VBProject = types.SimpleNamespace(VBComponents=_Components())
        self.Application = _Application()


# ---------------------------------------------------------------------------------------------- the context


class ImportWatch:
    """A ``sys.meta_path`` entry that records every attempt to import xlwings' licensed parts."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.startswith(LICENSED):
            self.seen.append(name)
        return None


def _udfs_modules() -> list[str]:
    return [m for m in sys.modules if m == "udfs" or m.startswith("udfs.")]


@contextlib.contextmanager
def classic_xlwings(decorated_at_import: bool = True) -> Iterator[types.SimpleNamespace]:
    """xlwings as on Windows with the classic add-in; yields ``udfs`` (freshly imported), ``xludfs``
    (``xlwings.udfs``), ``com_server`` and ``watch`` (an ``ImportWatch``). ``xlwings.func``/``arg``/``ret`` are
    xlwings' real decorators inside; with ``decorated_at_import=False`` they become so only after ``udfs`` was
    imported with the decorators ``import xlwings`` gives off Windows (no-ops)."""
    names = (*WIN32_MODULES, *XLWINGS_WINDOWS, *_udfs_modules())
    saved_modules = {name: sys.modules.get(name, _ABSENT) for name in names}
    saved_ctypes = {name: getattr(ctypes, name, _ABSENT) for name in ("oledll", "windll", "PyDLL")}
    saved_xlwings = {name: getattr(xlwings, name, _ABSENT)
                     for name in ("func", "arg", "ret", "_win32patch", "_xlwindows", "udfs", "com_server")}
    saved_engines = (list(xlwings.engines.engines), dict(xlwings.engines.engines_by_name))
    saved_env = dict(os.environ)
    watch = ImportWatch()
    sys.meta_path.insert(0, watch)
    xlwindows = com_server = None
    try:
        for name in (*XLWINGS_WINDOWS, *_udfs_modules()):
            sys.modules.pop(name, None)
        sys.modules.update(_stub_modules())
        ctypes.oledll = ctypes.windll = _Anything()  # type: ignore[attr-defined]
        ctypes.PyDLL = lambda *a, **k: _Anything()  # type: ignore[assignment,misc]
        xlwindows = importlib.import_module("xlwings._xlwindows")
        xludfs = importlib.import_module("xlwings.udfs")
        com_server = importlib.import_module("xlwings.com_server")
        xlwings.engines.add(xlwings.main.Engine(impl=xlwindows.engine))
        if decorated_at_import:
            xlwings.func, xlwings.arg, xlwings.ret = xludfs.xlfunc, xludfs.xlarg, xludfs.xlret  # as on Windows
        fresh = importlib.import_module("udfs")
        xlwings.func, xlwings.arg, xlwings.ret = xludfs.xlfunc, xludfs.xlarg, xludfs.xlret
        yield types.SimpleNamespace(udfs=fresh, xludfs=xludfs, com_server=com_server, watch=watch)
    finally:
        if com_server is not None:
            com_server.loop.close()
            sys.modules["xlwings.udfs"].com_executor.shutdown(wait=False)
        if xlwindows is not None:
            atexit.unregister(xlwindows.cleanup)
        for name in {*names, *_udfs_modules(), *WIN32_MODULES}:
            sys.modules.pop(name, None)
        sys.modules.update({k: v for k, v in saved_modules.items() if v is not _ABSENT})
        for module, saved in ((ctypes, saved_ctypes), (xlwings, saved_xlwings)):
            for name, value in saved.items():
                if value is not _ABSENT:
                    setattr(module, name, value)
                elif hasattr(module, name):
                    delattr(module, name)
        xlwings.engines.engines[:] = saved_engines[0]
        xlwings.engines.engines_by_name.clear()
        xlwings.engines.engines_by_name.update(saved_engines[1])
        os.environ.clear()
        os.environ.update(saved_env)
        sys.meta_path.remove(watch)


def call_udf(env: types.SimpleNamespace, name: str, args: tuple[Any, ...], by: str = "value") -> Any:
    """``name(*args)`` as Excel calls it: VBA's wrapper → ``XLPython.CallUDF`` → xlwings' conversion → the
    function → xlwings' conversion back. ``by``: "value" (literals) or "reference" (cells); arguments left out are
    DISP_E_PARAMNOTFOUND, as VBA passes them."""
    n = len(inspect.signature(getattr(env.udfs, name)).parameters)
    pad = (None,) * (n - len(args))
    convert = by_value if by == "value" else by_reference
    com_args = tuple(convert(a) for a in args) + tuple(MISSING for _ in pad)
    return env.com_server.XLPython().CallUDF("udfs", name, com_args, None, FakeRange(None))


# ------------------------------------------------------------------------------------------------ xlwings Lite


class DuplicateFunction(Exception):
    pass


def lite_registered(module: types.ModuleType) -> dict[str, Any]:
    """The custom functions xlwings Lite registers from ``module`` (name → function), raising
    ``DuplicateFunction`` as Lite does when a name comes twice."""
    out: dict[str, Any] = {}
    for _, obj in inspect.getmembers(module):
        if hasattr(obj, "__xlfunc__"):
            name = obj.__xlfunc__["name"].upper()
            if name in out:
                raise DuplicateFunction(f"Duplicate custom function name: '{name}'")
            out[name] = obj
    return out


def decimal_cell(text: str) -> decimal.Decimal:
    """A Currency-formatted cell's value as COM hands it over (VT_CY → ``decimal.Decimal``)."""
    return decimal.Decimal(text)
