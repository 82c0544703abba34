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

from planner import plan as P
from planner import walls as W
from planner.catalogue import builtin_catalogue
from planner.plan import evaluate
from planner.spec import default_spec
from tests.workbook_cases import (
    ALL_WALLS,
    CASES,
    all_names,
    mismatches,
    roofline_mismatches,
    rules_covered,
    spec,
    walls_covered,
)
from workbook import formulas as F
from workbook.build import INPUT_NAMES, build, workbook_bytes
from workbook.evaluate import FUNCTIONS, Evaluator, XLError, cells_of, functions_used

REQUIRED_NAMES = ("model", "gpu", "dtype", "tp", "pp", "ep", "qps", "input_tokens", "output_tokens", "ttft_slo_ms",
                  "tpot_slo_ms", "budget_usd_month", "decode_floor_ms", "binding_wall", "next_wall", "feasible")

EXCEL_2010 = {"IF", "AND", "OR", "NOT", "MIN", "MAX", "INT", "ABS", "CEILING", "FLOOR", "LN", "LOG10", "EXP",
              "INDEX", "MATCH", "ISNUMBER", "ISTEXT", "NA", "VALUE", "OFFSET", "COUNTA", "COUNT", "MOD", "FIND"}
"""Functions of Excel 2010 that LibreOffice 7.4 and Google Sheets also have (no _xlfn. prefix in the file)."""


@pytest.fixture(scope="module")
def built():
    return {n: build(spec(n)) for n in all_names()}


def _named(b, name):
    sheet, _, addr = b.book.names[name].partition("!")
    return b.values[sheet][addr.replace("$", "")]


def _lookup(b):
    """``lookup(name)``: a built plan's value of a defined name (a list for a column)."""
    def lookup(key):
        sheet, _, ref = b.book.names[key].partition("!")
        first, _, last = ref.replace("$", "").partition(":")
        if not last:
            return b.values[sheet][first]
        letter, r1 = re.match(r"([A-Z]+)(\d+)", first).groups()
        r2 = int(re.match(r"[A-Z]+(\d+)", last).group(1))
        return [b.values[sheet].get(f"{letter}{r}", b.book.cells[sheet].get(f"{letter}{r}"))
                for r in range(int(r1), r2 + 1)]
    return lookup


def test_the_spread_covers_every_wall_rule_and_layout():
    assert walls_covered() == ALL_WALLS, "the spread of specs must make each of the five walls bind"
    assert {rule for rule, _ in rules_covered()} == set(range(1, 8)), "each binding rule 1-7 must name a wall"
    assert {wall for rule, wall in rules_covered() if rule == 6} >= set(W.RESOURCE_WALLS)
    results = {n: evaluate(spec(n)) for n in CASES}
    assert any(r.pp > 1 and r.tp * r.pp > 8 and spec(n).tp is None and spec(n).pp is None
               for n, r in results.items()), "a plan spanning hosts with tp and pp left to auto"
    assert any(r.ep > 1 and spec(n).ep is None for n, r in results.items()), "expert parallelism chosen by auto"
    assert any(spec(n).ep is not None for n in CASES) and any(spec(n).pp is not None for n in CASES)
    assert any(r.replicas is None for r in results.values()), "a plan that cannot run"
    assert any(not r.values["max_batch_memory"] and spec(n).tp is None for n, r in results.items()), (
        "nothing fits at any layout")


@pytest.mark.parametrize("name", all_names())
def test_every_result_equals_the_planner(built, name):
    b = built[name]
    problems, worst = mismatches(b.result, lambda key: _named(b, key))
    assert not problems, "\n".join(problems)
    assert worst <= 1e-12
    errors = [(sheet, coord, v) for sheet, cells in b.values.items() for coord, v in cells.items()
              if isinstance(v, XLError)]
    assert not errors, errors[:5]


def test_every_planner_value_has_a_named_result_on_the_plan_sheet(built):
    b = built["default"]
    extra = [f"util_{k}" for k in F.WALL_KEYS.values()] + [f"split_{k}" for k in F.SPLIT_KEYS.values()]
    for key in [*b.result.values, *extra, "binding_wall", "binding_rule", "next_wall", "feasible"]:
        assert key in F.RESULT_FORMULAS, f"planner value {key!r} has no formula in workbook/formulas.py"
        assert b.book.names[key].startswith("Plan!"), key


@pytest.mark.parametrize("name", all_names())
def test_the_advice_offers_only_what_the_plan_lacks_and_the_accelerator_has(built, name):
    """The advice cell offers the narrower weight formats and the faster compute formats ``planner.plan`` offers
    for the case (never the plan's own format, never fp4 on an accelerator without an fp4 rate), an fp8 KV cache
    only to a 16-bit one whose KV cache or bandwidth binds (not where the weights alone do not fit), and the
    engine's cap only where it binds."""
    b = built[name]
    s, cat = spec(name), builtin_catalogue()
    acc = cat.accelerator(s.accelerator)
    narrower, faster = P._narrower(acc, s.dtype), P._faster_compute(acc, s.dtype)
    assert _named(b, "narrower_weights") == (" or ".join(narrower) or F.NONE_TEXT)
    assert _named(b, "faster_compute_formats") == ("/".join(faster) or F.NONE_TEXT)
    advice, wall = _named(b, "advice"), _named(b, "binding_wall")
    assert isinstance(advice, str) and advice, advice
    if "fp4" not in acc.dense_peak_tflops:
        assert "fp4" not in advice, advice
    if s.dtype in ("fp8", "int8", "fp4", "int4"):
        assert f"quantize the weights to {s.dtype}" not in advice and f"{s.dtype} weights run" not in advice
    assert ("an fp8 KV cache" in advice or "store the KV cache in fp8" in advice) == (
        s.kv_dtype in ("bf16", "fp16", "fp32") and (wall == W.MEMORY_BANDWIDTH or
                                                    (wall == W.MEMORY_CAPACITY and _named(b, "binding_rule") != 1))
    ), advice
    assert ("raise the engine's batch cap" in advice) == (_named(b, "binding_rule") == 7), advice
    if wall == W.COMPUTE and faster:
        assert advice.startswith("/".join(faster)) or f"{'/'.join(faster)} weights run" in advice, advice


def _every_formula(wb) -> list[tuple[str, str]]:
    """(where, formula) of every formula in a workbook: cells, defined names, validations, conditional formats."""
    out = [(f"{ws.title}!{cell.coordinate}", cell.value) for ws in wb.worksheets for row in ws.iter_rows()
           for cell in row if cell.data_type == "f"]
    out += [(f"name {name}", dn.attr_text) for name, dn in wb.defined_names.items()]
    for ws in wb.worksheets:
        out += [(f"{ws.title} validation", dv.formula1) for dv in ws.data_validations.dataValidation if dv.formula1]
        out += [(f"{ws.title} format", f) for cf in ws.conditional_formatting for r in cf.rules for f in r.formula]
    return out


def test_formulas_use_only_functions_every_spreadsheet_has(built):
    used: set[str] = set()
    for b in (built["default"], built["mla-h200-auto"]):
        wb = openpyxl.load_workbook(io.BytesIO(b.to_bytes()))
        for where, text in _every_formula(wb):
            text = text.strip('"') if where.endswith("validation") and text.startswith('"') else text
            found = functions_used("=" + text)
            assert found <= EXCEL_2010, (where, text)
            assert not re.search(r"_xlfn|XLOOKUP|LET\(|LAMBDA|MINIFS|MAXIFS|CEILING\.|\[|\{", text), (where, text)
            used |= found
        for ws in wb.worksheets:  # no array (CSE) formulas
            for row in ws.iter_rows():
                for cell in row:
                    assert type(cell.value).__name__ != "ArrayFormula", (ws.title, cell.coordinate)
    assert used == set(F.FUNCTIONS_USED), "workbook/formulas.py's FUNCTIONS_USED must list exactly what is used"
    for name in F.FUNCTIONS_USED:
        assert re.search(rf"\b{name}\b", F.__doc__ or ""), f"the formulas.py docstring must name {name}"
    assert set(FUNCTIONS) <= EXCEL_2010
    assert used - {"OFFSET", "COUNTA"} <= set(FUNCTIONS), "the in-process evaluator must compute every cell function"


def test_required_defined_names_resolve_to_the_right_cells():
    wb = openpyxl.load_workbook(io.BytesIO(workbook_bytes(default_spec())))
    labels = {"model": "model", "gpu": "accelerator", "dtype": "weight dtype", "tp": "tensor parallel in use (tp)",
              "pp": "pipeline stages in use (pp)", "ep": "expert parallel in use (ep)",
              "qps": "traffic", "input_tokens": "input tokens", "output_tokens": "output tokens",
              "ttft_slo_ms": "TTFT SLO", "tpot_slo_ms": "TPOT SLO", "budget_usd_month": "budget",
              "decode_floor_ms": "decode floor (batch 1, no context)", "binding_wall": "binding wall",
              "next_wall": "next wall (the binding one relaxed)",
              "feasible": "feasible (serves the traffic within budget)"}
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
        want = getattr(spec0, field)
        assert value == ("auto" if want is None and field in ("tp", "pp", "ep") else want), field


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
    assert len(re.findall(r"<(?:c:)?ser>", chart)) == 4 and len(re.findall(r"logBase val=\"10\"", chart)) == 2
    assert "the plan's operating batch" in chart  # the operating point is marked, as its own series
    wb = openpyxl.load_workbook(io.BytesIO(data))
    (sheet, ref), = wb.defined_names["operating_point_intensity"].destinations
    assert f"{sheet}!{ref}" in chart.replace("'", "")
    plan = wb["Plan"]
    sources = {dv.formula1 for dv in plan.data_validations.dataValidation}
    assert {"model_ids", "accelerator_ids", "dtype_ids", "tp_choice_list"} <= sources
    assert "OFFSET" in wb.defined_names["tp_choice_list"].attr_text
    for ws in (plan, wb["Roofline"]):  # each prints on one page
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == ws.page_setup.fitToHeight == 1
        assert ws.print_area
    for ws in wb.worksheets:  # the others print one page wide (not a page per strip of columns: 144 pages before)
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1, ws.title
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


def test_automatic_layout_is_the_planners_choice(built):
    for name in ("gb200-auto", "mla-h200-auto", "amd-mixtral", "tpu-v5p-gemma", "405b-across-hosts", "nothing-fits",
                 "auto-nearest-miss", "pp-given", "ep-given"):
        b = built[name]
        s = spec(name)
        for key in ("tp", "pp", "ep"):
            assert _named(b, key) == getattr(b.result, key), (name, key)
            cell = b.book.wb["Plan"][b.book.names[f"{key}_input"].split("!")[1].replace("$", "")].value
            assert cell == ("auto" if getattr(s, key) is None else getattr(s, key)), (name, key)


def _candidates(b) -> list[dict]:
    """The candidate table's rows as {column: value}."""
    rows = []
    cols = {c.key: b.book.names[f"cand_{c.key}"] for c in F.CANDIDATE_COLUMNS if f"cand_{c.key}" in b.book.names}
    for i in range(F.CANDIDATES):
        row = {}
        for key, ref in cols.items():
            sheet, _, rng = ref.partition("!")
            letter, first = re.match(r"\$([A-Z]+)\$(\d+)", rng).groups()
            row[key] = b.values[sheet].get(f"{letter}{int(first) + i}")
        rows.append(row)
    return rows


@pytest.mark.parametrize("name", ["gb200-auto", "405b-across-hosts", "ep-given", "pp-given", "weights-dont-fit",
                                  "hopper-pcie"])
def test_the_candidate_table_is_the_planners_search(built, name):
    """Every candidate the inputs allow is one of planner.topology.layouts' rows, in its order, with the evaluator's
    largest batch that fits, SLO batch, operating batch, cost, times and verdict."""
    from planner import evaluator as E
    from planner.catalogue import get_catalogue
    from planner.plan import plan_option
    from planner.topology import tp_choices

    b, s = built[name], spec(name)
    cat = get_catalogue()
    model, acc = cat.model(s.model), cat.accelerator(s.accelerator)
    price = s.usd_per_gpu_hour or acc.usd_per_gpu_hour
    option = plan_option(s, model, acc, cat.efficiency(acc.id, s.engine), price)
    rows = E.build(model, s, [option])
    E.operate(rows)
    m = {k: v.reshape(-1) for k, v in E.operating_metrics(rows).items()}
    table = [r for r in _candidates(b) if r["active"] is True]
    assert [(r["tp"], r["pp"], r["ep"]) for r in table] == [tuple(x) for x in option.layouts.tolist()]
    for i, r in enumerate(table):
        want = {"b_mem": rows["b_mem"][i, 0], "b_slo": rows["b_slo"][i, 0], "b_op": rows["b_op"][i, 0],
                "tpot_ms": m["tpot_ms"][i], "ttft_ms": m["ttft_ms"][i], "meets": bool(m["meets_slos"][i]),
                "tpot1_ms": rows["tpot1_ms"][i, 0], "ttft1_ms": rows["ttft1_ms"][i, 0],
                "pre_total_s": rows["pre_total_s"][i, 0], **{k: rows[k][i, 0] for k in ("m0", "m1", "me", "c1",
                                                                                         "n0", "n1")}}
        if m["replicas"][i] == m["replicas"][i]:
            want |= {"replicas": m["replicas"][i], "gpus": m["gpus"][i], "usd_month": m["usd_month"][i]}
        for key, value in want.items():
            assert r[key] == pytest.approx(value, rel=1e-12, abs=1e-300), (name, i, key)
    assert all(r["tp"] in tp_choices(model, acc) for r in table)
    # the chosen row's operating point: which SLO caps the batch (evaluator.operate), the rule and the wall
    i = [tuple(x) for x in option.layouts.tolist()].index((b.result.tp, b.result.pp, b.result.ep))
    assert _named(b, "op_ttft_caps") == bool(rows["ttft_caps"][i, 0])
    assert _named(b, "op_rule") == m["rule"][i] and _named(b, "op_wall") == W.WALLS[int(m["wall"][i])]


def test_tp_slots_are_the_sizes_engines_run(built):
    from planner.catalogue import get_catalogue
    from planner.topology import TP_SLOTS, tp_choices

    cat = get_catalogue()
    for name in ("default", "gb200-auto", "hopper-pcie", "text-inputs", "tpu-v6e-qwen3", "mla-h200-auto"):
        b, s = built[name], spec(name)
        sheet, _, rng = b.book.names["tp_slot_tp"].partition("!")
        letter, first = re.match(r"\$([A-Z]+)\$(\d+)", rng).groups()
        slots = [b.values[sheet][f"{letter}{int(first) + k}"] for k in range(TP_SLOTS)]
        want = tp_choices(cat.model(s.model), cat.accelerator(s.accelerator))
        assert [x for x in slots if x != F.NA_TEXT] == want, name


def test_the_searches_are_long_enough_and_find_the_bisections_batch():
    """17 binary digits reach BATCH_SEARCH_LIMIT; for any monotone test (the SLO times grow with the batch) the
    digit-by-digit search finds the batch planner.evaluator.bisect finds; the crossover ladder has room for the
    slowest bisection."""
    import numpy as np

    from planner.evaluator import BATCH_SEARCH_LIMIT, bisect
    from planner.roofline import CROSSOVER_SEARCH_LIMIT

    assert sum(F.SLO_BITS) >= BATCH_SEARCH_LIMIT and len(F.SLO_BITS) == 17 and F.SLO_BITS[-1] == 1
    thresholds = [0, 1, 2, 3, 188, 189, 1000, 32767, 32768, 32769, 65535, BATCH_SEARCH_LIMIT, 10**9]
    found = bisect(lambda b: b <= np.array(thresholds, dtype=float)[:, None], len(thresholds))[:, 0]
    for t, want in zip(thresholds, found, strict=True):
        b = 0
        for bit in F.SLO_BITS:
            if b + bit <= t:
                b += bit
        assert min(b, BATCH_SEARCH_LIMIT) == want, t
    lo, hi, n = 1, CROSSOVER_SEARCH_LIMIT, 0
    while hi - lo > 1:
        lo, hi, n = lo, (lo + hi) // 2, n + 1  # the slowest shrink: always keep the upper half
    assert n <= F.CROSSOVER_LADDER_STEPS


def test_shared_parses_equal_the_formula_text(built):
    """The builder tells the evaluator which cells repeat one formula (shapes); evaluating the file's own text,
    cell by cell, gives the same values."""
    for name in ("default", "gb200-auto", "nothing-fits"):
        b = built[name]
        wb = openpyxl.load_workbook(io.BytesIO(b.to_bytes()))
        again = Evaluator(*cells_of(wb)).evaluate_all()
        for sheet, cells in b.values.items():
            for coord, value in cells.items():
                assert again[sheet][coord] == value, (name, sheet, coord)


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
    assert _ev("MOD(7,3)") == 1 and _ev("MOD(-7,3)") == 2 and _ev("MOD(7,-3)") == -2
    assert _ev("MOD(1,0)") == XLError("#DIV/0!")
    assert _ev("COUNT(col)", B1="t", B2=3, B3=True) == 1
    assert _ev('MIN(col)', B1="", B2=5, B3="n/a") == 5


def test_evaluator_moves_relative_references_of_a_shared_formula():
    cells = {"S": {"A1": 1, "A2": 2, "A3": 3, "B1": "=A1*10+$A$1", "B2": "=A2*10+$A$1", "B3": "=A3*10+$A$1",
                   "C3": "=B$1+A3"}}
    shapes = {("S", "B1"): "b", ("S", "B2"): "b", ("S", "B3"): "b"}
    for given in (shapes, None):
        ev = Evaluator(cells, {}, given)
        assert [ev.value("S", f"B{r}") for r in (1, 2, 3)] == [11, 21, 31]
        assert ev.value("S", "C3") == 14


def test_cases_are_real_ids():
    cat = builtin_catalogue()
    for kw in CASES.values():
        cat.model(kw["model"])
        cat.accelerator(kw["accelerator"])


@pytest.mark.parametrize("name", all_names())
def test_the_roofline_sheet_equals_the_planner(built, name):
    """The Roofline sweep (the plan's layout at microbatch 1…1024 and at the operating batch), the roof and the
    prefill point, from the planner's evaluator, roofline and topology."""
    b = built[name]

    problems, _ = roofline_mismatches(b.result, _lookup(b), rel=1e-12)
    assert not problems, "\n".join(problems)


def _perturbations():
    """(what, case, patch(monkeypatch)) : a formula changed the way a careless edit would; the comparison with the
    planner must catch each. A patch may return the catalogue to plan with (else the built-in one)."""
    def hops_without_latency(mp):
        real = F.extra_network_s
        mp.setattr(F, "extra_network_s", lambda tokens, tp, pp, ep, link, lat, hop, hop_lat: real(
            tokens, tp, pp, ep, link, lat, hop, "0"))
        # the shipped fit has no collective latency (serving.yaml): a user catalogue's efficiency that has one
        from planner.catalogue import builtin_catalogue, catalogue_from_data
        latency = {"efficiency": {"default": {"collective_latency_us": {"scaleup": 2.0, "pcie": 2.0}}}}
        return builtin_catalogue().merged(catalogue_from_data(latency, "test"))

    def no_all_to_all(mp):
        real = F.extra_network_s
        mp.setattr(F, "extra_network_s", lambda tokens, tp, pp, ep, *rest: real(tokens, tp, pp, "1", *rest))

    def bandwidth_not_relaxed(mp):
        mp.setattr(F, "RELAXATION", tuple(F.Quantity(q.name, q.label, q.unit, "1", q.fmt)
                                          if q.name == "relax_bandwidth" else q for q in F.RELAXATION))

    def most_expensive_first(mp):
        mp.setattr(F, "CHOICE", tuple(F.Quantity(q.name, q.label, q.unit, q.formula.replace("MIN(", "MAX("), q.fmt)
                                      if q.name == "rank_usd_min" else q for q in F.CHOICE))

    def burst_from_zero(mp):
        mp.setattr(F, "burst", lambda b: f"IF({b}>1,eff_burst_coefficient*{b}^eff_burst_exponent*burst_scale,0)")

    def floor_reads_the_whole_table(mp):  # the crossover and the roofline's intensities stop being strict
        mp.setattr(F, "gathered_embedding_bytes", lambda tokens: "0")

    def sweep_without_pipeline(mp):
        real = F.sweep_row
        mp.setattr(F, "sweep_row", lambda c: {**real(c), "tokens_per_s": real(c)["tokens_per_s"].replace(
            "op_pp/", "1/")})

    def kv_split_over_every_gpu(mp):
        real = F.candidate_row
        mp.setattr(F, "candidate_row", lambda c, s, layout=None: {**real(c, s, layout), "kv_split": c("tp")})

    def one_prompt_in_the_slo_search(mp):
        mp.setattr(F, "candidate_share_s", lambda c, batch, k_max: c("pre_total_s"))

    def no_token_budget(mp):
        mp.setattr(F, "prompts_per_iteration", lambda batch, k_max: f"MAX({batch}/output_tokens,1)")

    def relaxed_rate(name, formula):
        def patch(mp):
            real = F.rate_quantities
            mp.setattr(F, "rate_quantities", lambda s: [F.Quantity(q.name, q.label, q.unit, formula, q.fmt)
                                                        if q.name == name else q for q in real(s)])
        return patch

    return [
        ("the SLO search with one prompt's prefill", "prompts-per-step", one_prompt_in_the_slo_search),
        ("prompts prefilled together past the token budget", "prompts-per-step", no_token_budget),
        ("the engine's cap kept for the next wall", "engine-cap", relaxed_rate("rx_batch_cap", "batch_cap")),
        ("the engine's defaults at the unrelaxed memory", "vllm-small-gpu",
         relaxed_rate("rx_engine_small", "engine_small")),
        ("pipeline hops without their latency", "405b-across-hosts", hops_without_latency),
        ("expert parallelism without its all-to-alls", "gb200-auto", no_all_to_all),
        ("the next wall without relaxing bandwidth", "ep1-moe", bandwidth_not_relaxed),
        ("the most expensive plan", "gb200-auto", most_expensive_first),
        ("a burst from the first prompt", "ttft-caps", burst_from_zero),
        ("strict bytes with the whole embedding table", "default", floor_reads_the_whole_table),
        ("tokens/s of one pipeline stage", "405b-across-hosts", sweep_without_pipeline),
        ("the KV cache split over every GPU", "tpu-v6e-qwen3", kv_split_over_every_gpu),
    ]


@pytest.mark.parametrize(("what", "name", "patch"), _perturbations(), ids=[p[0] for p in _perturbations()])
def test_a_perturbed_formula_is_caught(monkeypatch, what, name, patch):
    """The comparisons are not vacuous: a plausible slip in one mirrored formula makes a result differ."""
    catalogue = patch(monkeypatch)
    b = build(spec(name), catalogue)

    problems, _ = mismatches(b.result, _lookup(b))
    roof, _ = roofline_mismatches(b.result, _lookup(b), catalogue=catalogue)
    assert problems or roof, f"{what}: no result differs from the planner"
