"""The classic xlwings add-in, run through xlwings' own Windows code on any OS (``tests/_xlwings_stubs.py``): the
real decorators, the VBA that *Import Functions* writes, the descriptions it hands Excel, and every function called
as Excel calls it (``XLPython.CallUDF`` with literal values and with cell references), including error cells and
Currency-formatted cells."""

from __future__ import annotations

import ast
import inspect
import io
import re
from pathlib import Path

import pytest
from _udfs_cases import GOOD, assert_clean
from _xlwings_stubs import MISSING, SCODE, FakeRange, FakeWorkbook, call_udf, classic_xlwings, decimal_cell

import udfs
from planner.errors import PlannerError
from udfs import _xw

ROOT = Path(__file__).resolve().parents[1]
NAMES = list(udfs.__all__)


@pytest.fixture(scope="module")
def env():
    with classic_xlwings() as e:
        yield e
        assert e.watch.seen == [], f"xlwings' licensed parts were imported: {e.watch.seen}"


def params(env, name: str) -> list[str]:
    return list(inspect.signature(getattr(env.udfs, name)).parameters)


def as_excel_returns(value):
    """What ``CallUDF`` hands back for a result: one cell as a scalar, one row as a flat list."""
    if isinstance(value, list) and len(value) == 1:
        return value[0][0] if len(value[0]) == 1 else value[0]
    return value


# ------------------------------------------------------------------------------------------------ registration


def test_the_real_decorators_register_every_function_with_its_arguments(env):
    for name in NAMES:
        f = getattr(env.udfs, name)
        xlfunc = f.__xlfunc__
        assert xlfunc["name"] == name
        assert [a["name"] for a in xlfunc["args"]] == params(env, name)
        for a in xlfunc["args"]:
            recorded = _xw.meta(f)["args"][a["name"]]
            assert a["options"]["err_to_str"] is True, (name, a["name"])  # error cells arrive as "#N/A", not None
            assert a["options"].get("ndim") == recorded.get("ndim"), (name, a["name"])
            assert a["doc"] == recorded["doc"], (name, a["name"])


def test_import_functions_writes_one_vba_function_per_excel_function(env):
    out = io.StringIO()
    env.xludfs.generate_vba_wrapper("udfs", env.udfs, out, FakeWorkbook("plan.xlsm"))
    vba = out.getvalue()
    declared = re.findall(r"^Function (\w+)\((.*)\)$", vba, flags=re.MULTILINE)
    assert sorted(n for n, _ in declared) == sorted(NAMES)  # each exactly once ("Ambiguous name" otherwise)
    for name, signature in declared:
        want = []
        for p in inspect.signature(getattr(env.udfs, name)).parameters.values():
            want.append(p.name if p.default is inspect.Parameter.empty else f"Optional {p.name}")
        assert signature == ", ".join(want), name
        assert f'{name} = XLPy.CallUDF("udfs", "{name}", Array({", ".join(params(env, name))}), ThisWorkbook, ' \
               "Application.Caller)" in vba
        assert f"{name} = Err.Description" in vba  # a raised error shows its message in the cell


VBA_KEYWORDS = {
    "and", "as", "boolean", "byref", "byte", "byval", "call", "case", "close", "const", "currency", "date", "debug",
    "dim", "do", "double", "each", "else", "elseif", "empty", "end", "enum", "eqv", "erase", "error", "event",
    "exit", "false", "for", "friend", "function", "get", "global", "gosub", "goto", "if", "imp", "implements", "in",
    "input", "integer", "is", "let", "like", "lock", "long", "loop", "lset", "me", "mod", "name", "new", "next",
    "not", "nothing", "null", "on", "open", "option", "optional", "or", "paramarray", "preserve", "print",
    "private", "public", "put", "raiseevent", "redim", "rem", "resume", "return", "rset", "seek", "select", "set",
    "single", "static", "step", "stop", "string", "sub", "then", "time", "to", "true", "type", "typeof", "unlock",
    "until", "variant", "wend", "while", "with", "write", "xor",
}


def test_argument_names_are_legal_vba_parameter_names():
    for name in NAMES:
        for p in inspect.signature(getattr(udfs, name)).parameters:
            assert p.lower() not in VBA_KEYWORDS, f"{name}({p}): a VBA keyword breaks the imported module"
            assert re.fullmatch(r"[A-Za-z]\w{0,254}", p), (name, p)


def test_import_functions_hands_excel_one_line_descriptions(env):
    book = FakeWorkbook("plan.xlsm")
    env.xludfs.import_udfs("udfs", book)
    assert len(book.vba) == 1 and book.vba[0].count("\nFunction ") == len(NAMES)
    assert sorted(book.macro_options) == sorted(NAMES)
    for name, options in book.macro_options.items():
        f = getattr(env.udfs, name)
        description = options["Description"]
        assert description == " ".join(inspect.getdoc(f).split()), name  # the whole docstring, on one line
        assert "\n" not in description and "  " not in description and len(description) <= 255, name
        arg_docs = options["ArgumentDescriptions"] or []  # None for a function without arguments
        assert arg_docs == [_xw.meta(f)["args"][p]["doc"] for p in params(env, name)], name
        for doc in arg_docs:
            assert "\n" not in doc and 0 < len(doc) <= 255, (name, doc)
        assert options["Category"] == "xlwings"


# ------------------------------------------------------------------------------------------- calls from a cell


def expected(env, name: str):
    return as_excel_returns(getattr(env.udfs, name)(*GOOD[name]))


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("by", ["value", "reference"])
def test_every_function_called_as_excel_calls_it(env, name, by):
    got = call_udf(env, name, GOOD[name], by=by)
    assert_clean([got] if isinstance(got, list) and not isinstance(got[0], list) else got)  # a row comes flat
    assert got == expected(env, name)


def test_acceptance_cost_per_month_of_a_currency_cell(env):
    price = decimal_cell("2.50")  # a $2.50 cell formatted as Currency: COM hands over Decimal('2.50')
    assert call_udf(env, "COST_PER_MONTH", ("h100-sxm", 8.0, price), by="reference") == 14_600.0  # 8 × 2.5 × 730
    assert call_udf(env, "COST_PER_MONTH", ("h100-sxm", 8.0, price), by="value") == 14_600.0
    assert call_udf(env, "COST_PER_MONTH", ("h100-sxm", decimal_cell("8"), 2.5), by="reference") == 14_600.0


def test_a_range_of_currency_cells(env):
    prices = [[decimal_cell("2.00")], [decimal_cell("2.50")], [3.0]]
    assert call_udf(env, "COST_PER_MONTH", ("h100-sxm", 8.0, prices), by="reference") == [
        [11_680.0], [14_600.0], [17_520.0]]


@pytest.mark.parametrize(("cell", "message"), [
    ("NaN", "usd_per_gpu_hour must be a finite number, got NaN"),
    ("Infinity", "usd_per_gpu_hour must be a finite number, got Infinity"),
    ("-Infinity", "usd_per_gpu_hour must be a finite number, got -Infinity"),
    ("1E+400", "usd_per_gpu_hour must be at most 1e+15, got 1E+400"),
    ("1E+300", "usd_per_gpu_hour must be at most 1e+15, got 1e+300"),
    ("-2.5", "usd_per_gpu_hour must be > 0, got -2.5"),
])
def test_a_bad_decimal_is_still_a_clear_error(env, cell, message):
    with pytest.raises(PlannerError) as exc:
        call_udf(env, "COST_PER_MONTH", ("h100-sxm", 8.0, decimal_cell(cell)), by="reference")
    assert str(exc.value) == message


def test_acceptance_an_na_cell_in_batch_is_an_error_naming_batch(env):
    args = ("llama-3.1-8b", "h100-sxm", "bf16", SCODE["#N/A"])
    for by in ("reference", "value"):
        with pytest.raises(PlannerError) as exc:
            call_udf(env, "DECODE_FLOOR_MS", args, by=by)
        assert str(exc.value).startswith("batch: the cell holds the error #N/A; "), str(exc.value)
        assert exc.value.description == str(exc.value)  # what the classic add-in's cell shows


@pytest.mark.parametrize("name", [n for n in NAMES if GOOD[n]])
def test_an_error_cell_in_any_argument_is_an_error_naming_it(env, name):
    names = params(env, name)
    for i, arg in enumerate(names):
        for error in ("#N/A", "#DIV/0!", "#VALUE!"):
            args = list(GOOD[name]) + [None] * (len(names) - len(GOOD[name]))
            args[i] = SCODE[error]
            for by in ("reference", "value"):
                with pytest.raises(PlannerError) as exc:
                    call_udf(env, name, tuple(args), by=by)
                assert str(exc.value).startswith(f"{arg}: the cell holds the error {error}; "), (
                    name, arg, by, str(exc.value))


def test_an_error_inside_a_range_names_the_cell(env):
    batches = [[1.0], [SCODE["#N/A"]], [8.0]]
    with pytest.raises(PlannerError, match=r"^batch \(row 2, column 1 of the range\): the cell holds the error #N/A"):
        call_udf(env, "DECODE_FLOOR_MS", ("llama-3.1-70b", "h100-sxm", "fp16", batches), by="reference")
    gpus = [["h100-sxm", SCODE["#REF!"]]]
    with pytest.raises(PlannerError, match=r"^gpu \(row 1, column 2 of the range\): the cell holds the error #REF!"):
        call_udf(env, "GPU_INFO", (gpus, "memory_gb"), by="reference")
    # BEST_CONFIG skips empty cells in its list of candidates: an error there must not vanish like an empty cell
    candidates = [["h100"], [SCODE["#N/A"]]]
    args = ("llama-3.1-70b", 20.0, 1024.0, 256.0, 1000.0, 50.0, None, candidates)
    with pytest.raises(PlannerError, match=r"^gpus \(row 2, column 1 of the range\): the cell holds the error #N/A"):
        call_udf(env, "BEST_CONFIG", args, by="reference")


def test_an_empty_cell_is_still_the_default(env):
    left_out = call_udf(env, "DECODE_FLOOR_MS", ("llama-3.1-70b", "h100-sxm"), by="value")
    empty = env.com_server.XLPython().CallUDF(
        "udfs", "DECODE_FLOOR_MS", ("llama-3.1-70b", "h100-sxm", FakeRange(None), FakeRange(None), FakeRange(None),
                                    MISSING), None, FakeRange(None))
    assert empty == left_out == env.udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100-sxm", "bf16", 1.0, 0.0, 1.0)


def test_text_holding_an_error_name_in_a_text_argument_is_an_error_too(env):
    with pytest.raises(PlannerError, match=r"^dtype: the cell holds the error #N/A"):
        call_udf(env, "WEIGHT_GB", ("llama-3.1-70b", "#N/A"), by="value")


# ------------------------------------------------------------------------------------------------- licences


@pytest.mark.parametrize("path", [ROOT / "tests" / "_xlwings_stubs.py", *sorted((ROOT / "tests").glob(
    "test_xlwings_*.py"))], ids=lambda p: p.name)
def test_these_tests_import_no_licensed_xlwings_part(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
        for module in names:
            assert not module.startswith(("xlwings.pro", "xlwings.server", "xlwings_server")), (path, module)


def test_nothing_imported_xlwings_pro_or_server_while_excel_ran(env):
    for name in ("DECODE_FLOOR_MS", "PLAN_TABLE", "BEST_CONFIG"):
        call_udf(env, name, GOOD[name], by="reference")
    env.xludfs.import_udfs("udfs", FakeWorkbook())
    assert env.watch.seen == []
