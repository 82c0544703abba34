"""Reading plan workbooks back: exact round trip of the spec, hand edits, and clear errors for anything else."""

from __future__ import annotations

import functools
import io
import zipfile

import openpyxl
import pytest

from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import PlanSpec, default_spec
from tests.workbook_cases import all_names, spec
from workbook.build import workbook_bytes
from workbook.export import load_any_spec
from workbook.read import read_plan, read_plan_full


@functools.lru_cache(maxsize=8)
def _cached(text: str) -> bytes:
    return workbook_bytes(PlanSpec.model_validate_json(text))


def _plan_bytes(s: PlanSpec) -> bytes:
    return _cached(s.model_dump_json())


def _write(tmp_path, s: PlanSpec, name: str = "plan.xlsx"):
    path = tmp_path / name
    path.write_bytes(_plan_bytes(s))
    return path


def _set(path, **values):
    wb = openpyxl.load_workbook(path)
    for name, value in values.items():
        (sheet, ref), = wb.defined_names[name].destinations
        wb[sheet][ref.replace("$", "")].value = value
    wb.save(path)


@pytest.mark.parametrize("name", all_names())
def test_read_back_round_trips_the_spec_exactly(tmp_path, name):
    s = spec(name)
    assert read_plan(_write(tmp_path, s)) == s


def test_aliases_are_written_as_catalogue_ids(tmp_path):
    s = default_spec().model_copy(update={"model": "meta-llama/Llama-3.1-70B", "accelerator": "H100"})
    back = read_plan(_write(tmp_path, s))
    assert (back.model, back.accelerator) == ("llama-3.1-70b", "h100-sxm")
    assert evaluate(back).values == evaluate(s).values


def test_hand_edited_inputs_are_read(tmp_path):
    path = _write(tmp_path, default_spec())
    _set(path, qps=33.5, tp_input="auto", budget_usd_month=None, model="qwen2.5-72b", plan_notes="+not a formula",
         input_tokens=2048.0)
    back = read_plan(path)
    assert (back.qps, back.tp, back.budget_usd_month, back.model, back.notes, back.input_tokens) == (
        33.5, None, None, "qwen2.5-72b", "+not a formula", 2048)
    _set(path, tp_input="8")
    assert read_plan(path).tp == 8
    _set(path, tp_input=None, pp_input=4, ep_input="Auto")
    back = read_plan(path)
    assert (back.tp, back.pp, back.ep) == (None, 4, None)
    _set(path, pp_input=" auto ", ep_input="1")
    back = read_plan(path)
    assert (back.pp, back.ep) == (None, 1)
    _set(path, max_batch_input=64.0)
    assert read_plan(path).max_batch == 64
    _set(path, max_batch_input=" ")
    assert read_plan(path).max_batch is None


def test_a_hand_added_accelerator_row_is_read_into_a_catalogue(tmp_path):
    path = _write(tmp_path, default_spec())
    wb = openpyxl.load_workbook(path)
    ws = wb["Catalogue"]
    src = next(r for r in range(6, 66) if ws.cell(r, 1).value == "h200-sxm")
    dst = next(r for r in range(6, 66) if ws.cell(r, 1).value is None)
    for c in range(1, ws.max_column + 1):
        ws.cell(dst, c).value = ws.cell(src, c).value
    ws.cell(dst, 1).value = "h200-cheap"
    ws.cell(dst, 2).value = "H200 at a negotiated price"
    (sheet, ref), = wb.defined_names["gpu"].destinations
    wb[sheet][ref.replace("$", "")].value = "h200-cheap"
    wb.save(path)
    read = read_plan_full(path)
    assert read.spec.accelerator == "h200-cheap"
    acc = read.catalogue.accelerator("h200-cheap")
    assert acc.memory_gb == 141 and acc.scaleup.domain == 8
    loaded = load_any_spec(path)
    assert evaluate(loaded.spec, loaded.catalogue).tp == 4


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        ({"qps": "lots"}, r"qps\) must be a number of requests/s, got the text 'lots'"),
        ({"qps": None}, r"qps\) is empty; it is required"),
        ({"qps": True}, r"qps\) must be a number"),
        ({"qps": -3}, r"qps: Input should be greater than or equal to 0.000001 \(got -3\)"),
        ({"input_tokens": 10.5}, r"input_tokens\) must be a whole number"),
        ({"tp_input": "four"}, r"tp\) must be 'auto' or a whole number"),
        ({"pp_input": "two"}, r"\(pp\) must be 'auto' or a whole number of stages, got 'two'"),
        ({"ep_input": 1.5}, r"\(ep\) must be a whole number of GPUs, got 1.5"),
        ({"max_batch_input": "lots"}, r"\(max_batch\) must be a number of sequences, got the text 'lots'"),
        ({"max_batch_input": 0}, r"max_batch: Input should be greater than or equal to 1"),
        ({"max_batch_input": 1.5}, r"\(max_batch\) must be a whole number of sequences, got 1.5"),
        ({"pp_input": 0}, r"pp: Input should be greater than or equal to 1"),
        ({"model": None}, r"model\) is empty"),
        ({"dtype": "fp7"}, r"unknown dtype 'fp7'"),
        ({"engine": "tgi"}, r"unknown engine 'tgi'"),
    ],
)
def test_bad_inputs_are_clear_errors(tmp_path, edit, message):
    path = _write(tmp_path, default_spec())
    _set(path, **edit)
    with pytest.raises(PlannerError, match=message):
        read_plan(path)


def test_a_formula_input_without_a_value_is_a_clear_error(tmp_path):
    path = _write(tmp_path, default_spec())
    wb = openpyxl.load_workbook(path)
    (sheet, ref), = wb.defined_names["qps"].destinations
    wb[sheet][ref.replace("$", "")] = "=10*2"
    wb.save(path)
    with pytest.raises(PlannerError, match="holds a formula with no computed value"):
        read_plan(path)


def test_non_plans_are_refused_clearly(tmp_path):
    with pytest.raises(PlannerError, match="does not exist"):
        read_plan(tmp_path / "missing.xlsx")
    with pytest.raises(PlannerError, match="is a folder"):
        read_plan(tmp_path)
    empty = tmp_path / "empty.xlsx"
    empty.touch()
    with pytest.raises(PlannerError, match="is empty"):
        read_plan(empty)
    text = tmp_path / "notes.xlsx"
    text.write_text("model,gpu\nllama,h100\n")
    with pytest.raises(PlannerError, match="not a zip archive"):
        read_plan(text)
    zipped = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(PlannerError, match=r"not an \.xlsx workbook"):
        read_plan(zipped)
    other = tmp_path / "budget.xlsx"
    wb = openpyxl.Workbook()
    wb.active["A1"] = "a spreadsheet, not a plan"
    wb.save(other)
    with pytest.raises(PlannerError, match="not a whichwall plan workbook"):
        read_plan(other)
    damaged = tmp_path / "damaged.xlsx"
    data = _plan_bytes(default_spec())
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for item in src.infolist():
            body = src.read(item.filename)
            dst.writestr(item, body[: len(body) // 2] if item.filename == "xl/workbook.xml" else body)
    damaged.write_bytes(buf.getvalue())
    with pytest.raises(PlannerError, match=r"not a readable \.xlsx workbook"):
        read_plan(damaged)


def test_a_plan_without_its_names_is_refused(tmp_path):
    path = _write(tmp_path, default_spec())
    wb = openpyxl.load_workbook(path)
    del wb.defined_names["qps"]
    wb.save(path)
    with pytest.raises(PlannerError, match="no defined name 'qps'"):
        read_plan(path)
