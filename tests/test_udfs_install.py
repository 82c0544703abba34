"""The install paths under templates/ (classic add-in, xlwings Lite), the licence limits, the pure-Python claim,
and what an error becomes at the Excel boundary in each runtime."""

from __future__ import annotations

import ast
import inspect
import os
import re
import runpy
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import xlwings
from packaging.markers import Marker
from packaging.requirements import Requirement

import udfs
from planner.catalogue import builtin_catalogue
from planner.errors import PlannerError
from udfs import _excel, _xw

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "templates"
OWN_SOURCES = sorted((ROOT / "udfs").glob("*.py")) + sorted((ROOT / "planner").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


# ------------------------------------------------------------------------------------------------- licences


@pytest.mark.parametrize("path", [*OWN_SOURCES, TEMPLATES / "lite" / "main.py"], ids=lambda p: p.name)
def test_nothing_needs_xlwings_pro_or_server(path):
    for module in imported_modules(path):
        assert not module.startswith(("xlwings.pro", "xlwings.server", "xlwings_server")), (path, module)


def test_requirements_name_no_paid_xlwings_parts():
    for path in (TEMPLATES / "lite" / "requirements.txt", ROOT / "pyproject.toml"):
        text = path.read_text(encoding="utf-8").lower()
        assert "xlwings-server" not in text and "xlwings[pro]" not in text


# --------------------------------------------------------------------------------------------- classic add-in


def test_xlwings_conf_names_the_udf_module():
    conf = TEMPLATES / "xlwings.conf"
    assert _excel.read_conf_value(conf, "UDF MODULES") == "udfs"
    for line in conf.read_text(encoding="utf-8").splitlines():
        assert re.fullmatch(r'"[A-Z_ ]+","[^"]*"', line), f"xlwings.conf lines are \"KEY\",\"value\": {line!r}"
    module = __import__(_excel.read_conf_value(conf, "UDF MODULES"))
    assert set(module.__all__) == set(udfs.__all__)


def test_readme_covers_windows_macos_and_lite():
    text = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    for needle in ("pip install", "xlwings addin install", "Import Functions", "Trust access to the VBA project",
                   "macOS", "xlwings Lite", "requirements.txt", "main.py", "WHICHWALL_CATALOGUE",
                   "Ctrl+Shift+Enter", "Ctrl+Alt+F9", "Access-Control-Allow-Origin", "PyPI"):
        assert needle in text, needle
    assert "GitHub release asset, or" not in text  # release assets are served without CORS headers


def test_functions_carry_xlwings_registration_on_every_os():
    for name in udfs.__all__:
        meta = _xw.meta(getattr(udfs, name))
        assert list(meta["args"]) == list(inspect.signature(getattr(udfs, name)).parameters)
        for arg, options in meta["args"].items():
            assert options.get("doc"), f"{name}({arg}) has no @xw.arg(doc=...)"
            assert options["err_to_str"] is True, (name, arg)  # an error cell arrives as "#N/A", never as None


# ------------------------------------------------------------------------------------------------ xlwings Lite


def test_lite_main_registers_every_function_with_func_and_arg(monkeypatch):
    calls: dict[str, dict[str, object]] = {}

    def arg(name, **options):
        def inner(f):
            calls.setdefault(f.__name__, {"args": {}})["args"][name] = options
            return f
        return inner

    def func(f=None, **options):
        def inner(g):
            calls.setdefault(g.__name__, {"args": {}})["func"] = True
            return g
        return inner if f is None else inner(f)

    monkeypatch.setattr(xlwings, "arg", arg)
    monkeypatch.setattr(xlwings, "func", func)
    namespace = runpy.run_path(str(TEMPLATES / "lite" / "main.py"))
    for name in udfs.__all__:
        assert namespace[name] is getattr(udfs, name)
        assert calls[name].get("func"), name
        for p, options in _xw.meta(getattr(udfs, name))["args"].items():
            assert calls[name]["args"][p] == options, (name, p)
    # the brief's example by hand: every fp16 weight but the untied embedding table (one row gathered), over
    # the H100's 3.35 TB/s
    m = builtin_catalogue().model("llama-3.1-70b")
    read = (m.total_params - m.vocab_size * m.hidden_size + m.hidden_size) * 2
    assert namespace["DECODE_FLOOR_MS"]("llama-3.1-70b", "h100", "fp16") == pytest.approx(read / 3.35e12 * 1e3)


def test_lite_main_user_catalogue(tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.setenv("WHICHWALL_CATALOGUE", "")  # recorded first, so what main.py sets below is undone afterwards
    monkeypatch.delenv("WHICHWALL_CATALOGUE")
    namespace = runpy.run_path(str(TEMPLATES / "lite" / "main.py"))
    assert "WHICHWALL_CATALOGUE" not in os.environ  # the template ships it empty
    namespace["_use_user_catalogue"]("accelerators: []\nmodels: []\n")
    assert os.environ["WHICHWALL_CATALOGUE"].startswith(str(tmp_path))
    assert udfs.CATALOGUE_FILES()[-1] == [os.environ["WHICHWALL_CATALOGUE"]]


PYODIDE_PYDANTIC = {"0.29": ("2.12.5", "2.41.5"), "0.28": ("2.10.6", "2.27.2")}
"""pydantic and the pydantic-core it pins, as each Pyodide release ships them (Pyodide's package list; the pyodide
channel on anaconda.org holds the same wheels)."""


def lite_requirements() -> dict[str, Requirement]:
    lines = [ln.strip() for ln in (TEMPLATES / "lite" / "requirements.txt").read_text().splitlines()]
    reqs = [Requirement(ln) for ln in lines if ln and not ln.startswith("#") and "://" not in ln]
    return {r.name.lower().replace("_", "-"): r for r in reqs}


def test_lite_requirements_list_the_runtime_dependencies():
    lines = [ln.strip() for ln in (TEMPLATES / "lite" / "requirements.txt").read_text().splitlines()]
    listed = lite_requirements()
    for dep in runtime_requirements():
        name = Requirement(dep).name.lower()
        if name in PROVIDED_BY_LITE:  # xlwings Lite's own pinned `xlwings==` line stays; ours must not replace it
            assert name not in listed, f"{name}: pasting this file would replace xlwings Lite's own pinned line"
            continue
        assert name in listed, dep
    assert any(ln.endswith("-py3-none-any.whl") for ln in lines), "whichwall's own pure-Python wheel"


def test_lite_requirements_pin_pydantic_to_a_pair_pyodide_ships():
    listed = lite_requirements()
    pins = []
    for name in ("pydantic", "pydantic-core"):
        spec = list(listed[name].specifier)
        assert len(spec) == 1 and spec[0].operator == "==", f"{name} must be pinned with == (got {listed[name]})"
        pins.append(spec[0].version)
    assert tuple(pins) in PYODIDE_PYDANTIC.values(), f"pydantic/pydantic-core {pins} is not a pair Pyodide ships"
    version = next(v for v, pair in PYODIDE_PYDANTIC.items() if pair == tuple(pins))
    readme = " ".join((TEMPLATES / "README.md").read_text(encoding="utf-8").split())
    assert f"Pyodide {version} ships" in readme and f"pydantic {pins[0]}, pydantic-core {pins[1]}" in readme
    for dep in runtime_requirements():  # the pin satisfies whichwall's own requirement
        req = Requirement(dep)
        if req.name.lower() == "pydantic":
            assert req.specifier.contains(pins[0]), (dep, pins[0])


# ----------------------------------------------------------------------------------------------- pure Python

PYODIDE_BUILT = {"numpy", "pydantic-core", "pyyaml", "scipy"}
"""Compiled packages that Pyodide ships in its own package set (pyodide.org, "Packages built in Pyodide")."""
PROVIDED_BY_LITE = {"xlwings"}
"""Compiled on PyPI (xlwingslib, a Rust extension) but provided by xlwings Lite itself."""


def runtime_requirements() -> list[str]:
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return [re.split(r"\s*#", d)[0].strip() for d in data["project"]["dependencies"]]


def dependency_tree() -> dict[str, bool]:
    """Every installed runtime dependency (transitively) → whether its wheel is pure Python."""
    seen: dict[str, bool] = {}
    todo = [Requirement(r) for r in runtime_requirements()]
    while todo:
        req = todo.pop()
        key = req.name.lower().replace("_", "-")
        if key in seen:
            continue
        dist = metadata.distribution(req.name)
        seen[key] = "Root-Is-Purelib: true" in (dist.read_text("WHEEL") or "")
        for raw in dist.requires or []:
            sub = Requirement(raw)
            if sub.marker is None or Marker(str(sub.marker)).evaluate({"extra": ""}):
                todo.append(sub)
    return seen


def test_every_dependency_is_pure_python_or_available_in_pyodide():
    tree = dependency_tree()
    compiled = {name for name, pure in tree.items() if not pure}
    assert compiled <= PYODIDE_BUILT | PROVIDED_BY_LITE, f"not installable in xlwings Lite: {compiled}"


def test_whichwall_ships_no_compiled_code():
    for pattern in ("*.so", "*.pyd", "*.c", "*.pyx"):
        for package in ("planner", "udfs"):
            assert not list((ROOT / package).rglob(pattern)), (package, pattern)


@pytest.mark.parametrize("path", OWN_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_excel_functions_import_nothing_lite_cannot_run(path):
    banned = ("workbook", "whichwall", "rich", "openpyxl", "subprocess", "multiprocessing", "threading",
              "concurrent", "socket")
    for module in imported_modules(path):
        assert module.split(".")[0] not in banned, (path, module)


def test_importing_udfs_does_not_import_the_workbook_or_cli():
    code = ("import sys, udfs; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('workbook', 'whichwall', 'rich', 'openpyxl')]; print(bad); sys.exit(1 if bad else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


# ------------------------------------------------------------------------------------------- the error boundary


def test_boundary_error_is_a_planner_error_and_an_xlwings_error():
    with pytest.raises(PlannerError) as exc:
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h10")
    err = exc.value
    assert isinstance(err, ValueError) and isinstance(err, xlwings.XlwingsError)
    assert str(err).startswith("unknown accelerator 'h10'")
    assert err.description == str(err) and err.source == "whichwall"
    assert err.__cause__ is None and err.__suppress_context__


def test_on_windows_the_error_is_a_com_server_error_whose_description_is_the_message():
    class ComError(Exception):  # stands in for pywintypes.com_error
        pass

    cls = _excel._error_class(ComError)
    assert issubclass(cls, PlannerError) and issubclass(cls, ComError) and issubclass(cls, xlwings.XlwingsError)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(_excel, "ExcelError", cls)
    try:
        err = _excel.excel_error(PlannerError("batch must be >= 1, got 0"))
    finally:
        monkey.undo()
    # pywin32 fills a server error's EXCEPINFO from these attributes; VBA's Err.Description is `description`
    assert isinstance(err, ComError) and type(err) is not ComError
    assert err.description == "batch must be >= 1, got 0" and err.scode == _excel.E_INVALIDARG
    assert str(err) == "batch must be >= 1, got 0"


def test_com_error_base_only_on_windows():
    if sys.platform != "win32":
        assert _excel._com_error_base() is None
