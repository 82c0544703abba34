"""Plan workbooks without a spreadsheet engine: the formulas' values (evaluated in-process and cached in the file)
equal the planner's for a spread of specs, the layout carries the promised names, validations, chart and
conditional formatting, and text is never turned into a formula. The LibreOffice checks are in
test_workbook_libreoffice.py."""

from __future__ import annotations

import io
import re
import zipfile

import openpyxl
import pytest

from planner.catalogue import builtin_catalogue
from planner.plan import evaluate
from planner.spec import default_spec
from tests.workbook_cases import ALL_WALLS, CASES, all_names, mismatches, spec, walls_covered
from workbook import formulas as F
from workbook.build import INPUT_NAMES, build, workbook_bytes
from workbook.evaluate import FUNCTIONS, Evaluator, XLError, cells_of, functions_used

REQUIRED_NAMES = ("model", "gpu", "dtype", "tp", "qps", "input_tokens", "output_tokens", "ttft_slo_ms",
                  "tpot_slo_ms", "budget_usd_month", "decode_floor_ms", "binding_wall")

EXCEL_2010 = {"IF", "AND", "OR", "NOT", "MIN", "MAX", "INT", "ABS", "CEILING", "FLOOR", "LN", "LOG10", "EXP",
              "INDEX", "MATCH", "ISNUMBER", "ISTEXT", "NA", "VALUE", "OFFSET", "COUNTA"}


@pytest.fixture(scope="module")
def built():
    return {n: build(spec(n)) for n in all_names()}


def _named(b, name):
    sheet, _, addr = b.book.names[name].partition("!")
    return b.values[sheet][addr.replace("$", "")]


def test_the_spread_covers_every_wall():
    assert walls_covered() == ALL_WALLS, "the spread of specs must make each of the five walls bind"


@pytest.mark.parametrize("name", all_names())
def test_every_result_equals_the_planner(built, name):
    b = built[name]
    problems, worst = mismatches(b.result, lambda key: _named(b, key))
    assert not problems, "\n".join(problems)
    assert worst <= 1e-12


def test_every_planner_value_has_a_named_result_on_the_plan_sheet(built):
    b = built["default"]
    for key in b.result.values:
        assert key in F.RESULT_FORMULAS, f"planner value {key!r} has no formula in workbook/formulas.py"
        assert b.book.names[key].startswith("Plan!"), key


def test_result_cells_hold_the_one_formula_from_the_table(built):
    wb = built["default"].book.wb
    for key, formula in F.RESULT_FORMULAS.items():
        sheet, _, addr = built["default"].book.names[key].partition("!")
        assert wb[sheet][addr.replace("$", "")].value == "=" + formula, key


def test_formulas_use_only_functions_every_spreadsheet_has(built):
    for b in (built["default"], built["mla-h200-auto"]):
        for ws in b.book.wb.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type != "f":
                        continue
                    text = cell.value
                    assert functions_used(text) <= EXCEL_2010, (ws.title, cell.coordinate, text)
                    assert not re.search(r"_xlfn|XLOOKUP|LET\(|LAMBDA|CEILING\.|\[", text), text
    assert set(FUNCTIONS) <= EXCEL_2010


def test_required_defined_names_resolve_to_the_right_cells():
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(default_spec())))
    labels = {"model": "model", "gpu": "accelerator", "dtype": "weight dtype", "tp": "tensor parallel in use (tp)",
              "qps": "traffic", "input_tokens": "input tokens", "output_tokens": "output tokens",
              "ttft_slo_ms": "TTFT SLO", "tpot_slo_ms": "TPOT SLO", "budget_usd_month": "budget",
              "decode_floor_ms": "decode floor (batch 1, no context)", "binding_wall": "binding wall"}
    for name in REQUIRED_NAMES:
        dn = wb.defined_names[name]
        (sheet, ref), = dn.destinations
        assert sheet == "Plan", name
        cell = wb["Plan"][ref.replace("$", "")]
        assert wb["Plan"].cell(cell.row, 1).value == labels[name], name
    plan = wb["Plan"]
    spec0 = default_spec()
    for field, name in INPUT_NAMES.items():
        (_, ref), = wb.defined_names[name].destinations
        value = plan[ref.replace("$", "")].value
        assert value == (getattr(spec0, field) if field != "name" else spec0.name), field


def test_a_reader_that_does_not_compute_sees_every_number(tmp_path):
    for name in ("default", "kv-capped", "gaudi3-no-price"):
        s = spec(name)
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(workbook_bytes(s))
        wb = openpyxl.load_workbook(path, data_only=True)

        def lookup(key, wb=wb):
            (sheet, ref), = wb.defined_names[key].destinations
            return wb[sheet][ref.replace("$", "")].value

        problems, _ = mismatches(evaluate(s), lookup)
        assert not problems, (name, problems)
        # and no formula cell anywhere is left without a value
        formulas = openpyxl.load_workbook(path)
        for ws in formulas.worksheets:
            for row in ws.iter_rows():
                for cell in row:
                    if cell.data_type == "f":
                        assert wb[ws.title][cell.coordinate].value is not None, (ws.title, cell.coordinate)


def test_text_inputs_stay_text(built):
    b = built["text-inputs"]
    data = b.to_bytes()
    wb = openpyxl.load_workbook(io.BytesIO(data))
    for name, want in (("plan_name", '=HYPERLINK("x")'), ("plan_notes", "+1 -2 @SUM(A1) =cmd|' /C calc'!A0"),
                       ("search_accelerators", "h100-sxm, b200")):
        (sheet, ref), = wb.defined_names[name].destinations
        cell = wb[sheet][ref.replace("$", "")]
        assert cell.data_type == "s" and cell.value == want, name
    about = wb["About"]
    assert any(c.value == "plan" and about.cell(c.row, 2).value == '=HYPERLINK("x")' and
               about.cell(c.row, 2).data_type == "s" for c in about["A"])
    # no formula anywhere quotes user text
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    assert "HYPERLINK" not in cell.value and "calc" not in cell.value


def test_chart_validations_and_highlights_are_in_the_file():
    data = workbook_bytes(default_spec())
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        charts = [n for n in zf.namelist() if n.startswith("xl/charts/chart")]
        assert charts, "no chart part"
        chart = zf.read(charts[0]).decode()
    assert len(re.findall(r"<(?:c:)?ser>", chart)) == 3 and len(re.findall(r"logBase val=\"10\"", chart)) == 2
    wb = openpyxl.load_workbook(io.BytesIO(data))
    plan = wb["Plan"]
    sources = {dv.formula1 for dv in plan.data_validations.dataValidation}
    assert {"model_ids", "accelerator_ids", "dtype_ids"} <= sources
    assert any(dv.type == "whole" for dv in plan.data_validations.dataValidation)
    assert any(dv.type == "decimal" for dv in plan.data_validations.dataValidation)
    rules = [r for cf in plan.conditional_formatting for r in cf.rules]
    assert any("binding_wall" in f for r in rules for f in r.formula)
    assert "OFFSET" in wb.defined_names["model_ids"].attr_text


def test_editing_inputs_recomputes_in_process(tmp_path):
    """The same edit a planner makes in a spreadsheet, evaluated by the in-process evaluator (LibreOffice does it
    in test_workbook_libreoffice.py)."""
    path = tmp_path / "plan.xlsx"
    path.write_bytes(workbook_bytes(default_spec()))
    wb = openpyxl.load_workbook(path)
    edits = {"model": "mixtral-8x7b", "gpu": "mi300x", "dtype": "bf16", "tp_input": "auto", "qps": 35,
             "budget_usd_month": None}
    for name, value in edits.items():
        (sheet, ref), = wb.defined_names[name].destinations
        wb[sheet][ref.replace("$", "")].value = value
    cells, names = cells_of(wb)
    ev = Evaluator(cells, names)
    edited = default_spec().model_copy(update={"model": "mixtral-8x7b", "accelerator": "mi300x", "dtype": "bf16",
                                               "tp": None, "qps": 35.0, "budget_usd_month": None})

    def lookup(key):
        r = names[key]
        sheet, _, addr = r.partition("!")
        return ev.value(sheet, addr.replace("$", ""))

    problems, _ = mismatches(evaluate(edited), lookup)
    assert not problems, problems


def test_catalogue_model_formulas_match_the_planner(built):
    b = built["default"]
    cat = builtin_catalogue()
    names = b.book.names
    ws_vals = b.values["Catalogue"]
    first = int(re.search(r"\$(\d+):", names["cat_model_id"]).group(1))
    for i, model in enumerate(cat.models.values()):
        row = first + i
        for col in F.MODEL_DERIVED:
            letter = re.search(r"\$([A-Z]+)\$", names[f"cat_model_{col.key}"]).group(1)
            if col.key in ("decode_qk_dim", "decode_v_dim"):
                want = model.decode_attention_dims[col.key == "decode_v_dim"]
            elif col.key in ("prefill_qk_dim", "prefill_v_dim"):
                want = model.prefill_attention_dims[col.key == "prefill_v_dim"]
            else:
                want = getattr(model, F.MODEL_DERIVED_PLANNER.get(col.key, col.key))
            assert ws_vals[f"{letter}{row}"] == want, (model.id, col.key)


def test_automatic_tp_is_the_planners_choice(built):
    for name in ("gb200-auto", "mla-h200-auto", "amd-mixtral", "tpu-v5p-gemma"):
        b = built[name]
        assert spec(name).tp is None
        assert _named(b, "tp") == b.result.tp
        assert b.book.wb["Plan"][b.book.names["tp_input"].split("!")[1].replace("$", "")].value == "auto"


def test_unrolled_bisections_are_long_enough():
    from planner.plan import BATCH_SEARCH_LIMIT
    from planner.roofline import CROSSOVER_SEARCH_LIMIT

    for limit, steps in ((BATCH_SEARCH_LIMIT, F.SLO_LADDER_STEPS), (CROSSOVER_SEARCH_LIMIT, F.CROSSOVER_LADDER_STEPS)):
        lo, hi, n = 1, limit, 0
        while hi - lo > 1:
            lo, hi, n = lo, (lo + hi) // 2, n + 1  # the slowest shrink: always keep the upper half
        assert n <= steps


# ---------------------------------------------------------------------------------------------- the evaluator


def _ev(formula, **cells):
    ev = Evaluator({"S": {"A1": "=" + formula, **cells}}, {"x": "S!$B$1", "col": "S!$B$1:$B$3"})
    return ev.value("S", "A1")


def test_evaluator_follows_spreadsheet_semantics():
    assert _ev("-2^2") == 4  # unary minus binds tighter than ^
    assert _ev("2+3*4^2/8") == 8
    assert _ev('"a"="A"') is True
    assert _ev('"n/a">1') is True  # text sorts after numbers
    assert _ev("x*2", B1=21) == 42
    assert _ev("x+1") == 1  # a blank is 0
    assert _ev('MATCH("h100",col,0)', B1="a100", B2="H100") == 2
    assert _ev("INDEX(col,2)", B2=7) == 7
    assert _ev("1/0") == XLError("#DIV/0!")
    assert _ev("IF(TRUE,1,1/0)") == 1
    assert _ev("MAX(col)", B1="t", B2=3, B3=-1) == 3
    assert _ev("CEILING(2.1,1)+INT(-2.5)") == 0
    assert _ev("NA()+1") == XLError("#N/A")
    assert _ev('"a"&1&TRUE') == "a1TRUE"


def test_cases_are_real_ids():
    cat = builtin_catalogue()
    for kw in CASES.values():
        cat.model(kw["model"])
        cat.accelerator(kw["accelerator"])
