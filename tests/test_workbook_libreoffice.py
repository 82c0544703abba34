"""Plan workbooks recalculated by a real spreadsheet engine (LibreOffice, headless, OOXMLRecalcMode=0).

For the default plan and a spread of specs (every accelerator family, dense / MoE / MLA / sliding window, each wall
binding by each rule, layouts left to auto or given, across hosts, plans that cannot run), and again after inputs
are edited in the file (traffic, tp, pp, ep, model, accelerator, a hand-added Catalogue row), every result on the
Plan sheet and every number of the Roofline sheet equals the planner's within 1e-9 relative, and every formula cell
equals the value the in-process evaluator computes from the file's formulas.

All workbooks are recalculated in ONE LibreOffice run (start-up dominates). Without LibreOffice these tests skip on
a developer machine and FAIL in CI (env var CI set).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path

import openpyxl
import pytest

from planner.catalogue import get_catalogue
from planner.plan import evaluate
from tests.workbook_cases import all_names, mismatches, roofline_mismatches, spec
from workbook.build import ACC_FIRST_ROW, workbook_bytes
from workbook.evaluate import Evaluator, XLError, cells_of
from workbook.read import read_plan_full
from workbook.recalc import find_soffice, recalculate_many

REL = 1e-9

EDITS: dict[str, tuple[str, dict[str, object]]] = {
    "edit-traffic": ("default", {"qps": 35, "tpot_slo_ms": 30}),
    "edit-engine": ("amd-mixtral", {"engine": "sglang", "ttft_slo_ms": 5000}),
    "edit-hardware-auto-tp": ("default", {"model": "mixtral-8x7b", "gpu": "mi300x", "dtype": "bf16",
                                          "tp_input": "auto", "budget_usd_month": None}),
    "edit-kv-dtype": ("kv-capped", {"kv_dtype": "fp8", "output_tokens": 4000}),
    "edit-long-prompt": ("long-prompt", {"input_tokens": 24000, "ttft_slo_ms": 900}),
    "edit-tp-network": ("pcie-tpot-miss", {"tp_input": 4, "tpot_slo_ms": 25}),
    "edit-price-budget": ("gaudi3-no-price", {"usd_per_gpu_hour_input": 1.5, "budget_usd_month": 900, "qps": 40}),
    "edit-model-mla": ("hopper-pcie", {"model": "deepseek-v3", "gpu": "b200", "dtype": "fp8", "tp_input": 8}),
    "edit-hand-added-gpu": ("default", {"gpu": "my-h100-96gb"}),
    "edit-pp": ("default", {"pp_input": 2, "qps": 12}),
    "edit-405b-auto-layout": ("default", {"model": "llama-3.1-405b", "dtype": "bf16", "kv_dtype": "bf16",
                                          "tp_input": None, "pp_input": "auto", "budget_usd_month": None}),
    "edit-tp-as-text": ("gb200-auto", {"tp_input": "4", "ep_input": 4}),
    "edit-ep-auto": ("ep-given", {"ep_input": "auto", "gpu": "b200"}),
    "edit-max-batch": ("engine-cap", {"max_batch_input": 300}),
    "edit-max-batch-cleared": ("max-batch-given", {"max_batch_input": None, "engine": "sglang"}),
    "edit-small-gpu-by-id": ("engine-cap", {"gpu": "a100-80gb-sxm"}),
    "edit-cannot-run": ("ep1-moe", {"model": "deepseek-v3", "gpu": "l4", "dtype": "bf16", "ep_input": None,
                                    "input_tokens": 60000, "output_tokens": 500, "ttft_slo_ms": 60000}),
}
"""Plans edited in the file as a planner would (name: (the case it starts from, {defined name: new value}))."""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session")
def soffice() -> str:
    path = find_soffice()
    if path is None:
        msg = ("LibreOffice (soffice) is not on PATH; plan workbooks are verified with it. Install with: "
               "apt-get install -y libreoffice-calc-nogui")
        if _in_ci():
            pytest.fail(msg + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(msg)
    return path


def _cell(wb, name):
    (sheet, ref), = wb.defined_names[name].destinations
    return wb[sheet][ref.replace("$", "")]


def _named(wb, name):
    """The value of a defined name: one cell's, or a column's as a list."""
    (sheet, ref), = wb.defined_names[name].destinations
    cells = wb[sheet][ref.replace("$", "")]
    if isinstance(cells, tuple):
        return [row[0].value for row in cells]
    return cells.value


def _add_gpu_row(wb) -> None:
    """A planner adds an accelerator by hand: a copy of the h100-sxm row with 96 GB, below the last row."""
    ws = wb["Catalogue"]
    src = next(r for r in range(ACC_FIRST_ROW, ACC_FIRST_ROW + 60) if ws.cell(r, 1).value == "h100-sxm")
    dst = next(r for r in range(ACC_FIRST_ROW, ACC_FIRST_ROW + 60) if ws.cell(r, 1).value is None)
    for c in range(1, ws.max_column + 1):
        ws.cell(dst, c).value = ws.cell(src, c).value
    ws.cell(dst, 1).value = "my-h100-96gb"
    ws.cell(dst, 2).value = "H100 with 96 GB (hand-added)"
    ws.cell(dst, 5).value = 96


@pytest.fixture(scope="session")
def recalculated(soffice, once_per_run):
    """{name: (plan, its copy recalculated by LibreOffice)}: built once per test run, read by every xdist worker."""
    paths = once_per_run("libreoffice-recalculated", _export_and_recalculate)
    return {name: (Path(src), Path(out)) for name, (src, out) in paths.items()}


def _export_and_recalculate(folder: Path) -> dict[str, list[str]]:
    src_dir = folder / "plans"
    out_dir = folder / "recalculated"
    src_dir.mkdir()
    files: dict[str, Path] = {}
    for name in all_names():
        path = src_dir / f"{name}.xlsx"
        path.write_bytes(workbook_bytes(spec(name)))
        files[name] = path
    for name, (base, edits) in EDITS.items():
        path = src_dir / f"{name}.xlsx"
        shutil.copy(files[base], path)
        wb = openpyxl.load_workbook(path)
        if name == "edit-hand-added-gpu":
            _add_gpu_row(wb)
        for key, value in edits.items():
            _cell(wb, key).value = value
        wb.save(path)
        files[name] = path
    outs = recalculate_many(list(files.values()), out_dir, timeout_s=600)
    return {name: [str(files[name]), str(out)] for name, out in zip(files, outs, strict=True)}


def _expected_result(name: str, path: Path):
    if name in EDITS:
        read = read_plan_full(path)
        base = get_catalogue()
        return evaluate(read.spec, base.merged(read.catalogue) if read.catalogue else base), read
    return evaluate(spec(name)), None


@pytest.mark.parametrize("name", [*all_names(), *EDITS])
def test_results_equal_the_planner_after_recalculation(recalculated, name):
    src, out = recalculated[name]
    result, read = _expected_result(name, src)
    wb = openpyxl.load_workbook(out, data_only=True)
    for sheet in wb.worksheets:  # a broken formula would show as an error text
        for row in sheet.iter_rows():
            for cell in row:
                assert not (isinstance(cell.value, str) and cell.value.startswith("#") and cell.value.endswith(
                    ("!", "?", "A"))), (sheet.title, cell.coordinate, cell.value)
    problems, worst = mismatches(result, lambda key: _cell(wb, key).value, rel=REL)
    catalogue = None
    if read is not None and read.catalogue is not None:
        catalogue = get_catalogue().merged(read.catalogue)
    roof, roof_worst = roofline_mismatches(result, lambda key: _named(wb, key), rel=REL, catalogue=catalogue)
    print(f"{name}: max relative error {max(worst, roof_worst):.2e} (Plan {worst:.2e}, Roofline {roof_worst:.2e})")
    assert not problems, "\n".join(problems)
    assert not roof, "\n".join(roof)
    if read is not None:  # the edit really reached the planner's spec
        _, edits = EDITS[name]
        fields = {"gpu": "accelerator", "tp_input": "tp", "pp_input": "pp", "ep_input": "ep",
                  "usd_per_gpu_hour_input": "usd_per_gpu_hour", "max_batch_input": "max_batch"}
        for key, value in edits.items():
            want = None if value == "auto" else int(value) if isinstance(value, str) and value.isdigit() else value
            assert getattr(read.spec, fields.get(key, key)) == want, key


@pytest.mark.parametrize("name", [*all_names(), *EDITS])
def test_every_formula_cell_equals_the_in_process_value(recalculated, name):
    """LibreOffice and whichwall's own evaluator agree on every formula cell: for an exported plan, with the value
    cached in the file at export (what pandas and openpyxl data_only read); for an edited plan, with the value the
    evaluator computes from the edited file's formulas."""
    src, out = recalculated[name]
    formulas = openpyxl.load_workbook(src)
    if name in EDITS:
        ev = Evaluator(*cells_of(formulas))

        def mine_of(sheet: str, coord: str) -> object:
            return ev.value(sheet, coord)
    else:
        cached = openpyxl.load_workbook(src, data_only=True)

        def mine_of(sheet: str, coord: str) -> object:
            return cached[sheet][coord].value
    lo = openpyxl.load_workbook(out, data_only=True)
    worst, checked = 0.0, 0
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.data_type != "f":
                    continue
                mine = mine_of(ws.title, cell.coordinate)
                theirs = lo[ws.title][cell.coordinate].value
                checked += 1
                if isinstance(mine, XLError):
                    assert theirs == mine.code, (ws.title, cell.coordinate)
                elif _number(mine) and _number(theirs):
                    err = abs(mine - theirs) / max(abs(mine), abs(theirs)) if mine != theirs else 0.0
                    worst = max(worst, err)
                    assert err <= REL, (ws.title, cell.coordinate, cell.value, mine, theirs)
                else:
                    assert mine == theirs, (ws.title, cell.coordinate, cell.value, mine, theirs)
    print(f"{name}: {checked} formula cells, max relative error {worst:.2e}")
    assert checked > 1500 and math.isfinite(worst)


def _number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)
