"""Every Excel function with bad input: unknown ids, empty, negative, zero, NaN, inf, text, booleans, ragged,
empty, 3-D and wrong-shape ranges. The answer is a clean cell value or a ``PlannerError`` with a message, nothing
else. The cases are generated from ``udfs.__all__`` and the signatures, so a new function cannot skip them."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from _udfs_cases import TEXT_ARGS, assert_clean, call_with, numeric_range_args, params, range_args

import udfs
from planner.errors import PlannerError
from udfs import _excel

BAD_NUMBERS = {
    "negative": -1.0,
    "zero": 0.0,
    "nan": math.nan,
    "inf": math.inf,
    "-inf": -math.inf,
    "huge": 1e300,
    "past a spec's token limit": 2e7,  # within MAX_SIZE; a PlanSpec refuses it (a pydantic error once leaked here)
    "fraction": 2.5,
    "text": "abc",
    "numeric text with comma": "1,5",
    "numeric text": "8",
    "bool": True,
    "date": dt.datetime(2026, 1, 1),
    "range with empty cell": [[1.0], [None]],
    "range with text": [[1.0], ["x"]],
    "range with bool": [[1.0], [False]],
    "range with nan": [[1.0], [math.nan]],
    "ragged range": [[1.0, 2.0], [3.0]],
    "mixed range": [1.0, [2.0]],
    "empty range": [],
    "empty row": [[]],
    "3-D range": [[[1.0, 2.0]], [[3.0, 4.0]]],
}
BAD_TEXT = {
    "unknown id": "no-such-thing-xyz",
    "number": 3.0,
    "bool": False,
    "range": [["h100", "b200"]],
    "blank": "   ",
    "none": None,
    "date": dt.date(2026, 1, 1),
}


def cases() -> list[tuple[str, str, str, object]]:
    out = []
    for name in udfs.__all__:
        for p in params(name):
            bad = BAD_TEXT if p.name in TEXT_ARGS else BAD_NUMBERS
            for label, value in bad.items():
                out.append((name, p.name, label, value))
    return out


def check(fn, *args):
    """Call ``fn``: a clean value comes back or a PlannerError is raised; nothing else."""
    try:
        out = fn(*args)
    except PlannerError as exc:
        msg = str(exc)
        assert msg and "Traceback" not in msg and len(msg) < 2000
        assert exc.__cause__ is None and exc.__suppress_context__, "the error carries no chained traceback"
        assert isinstance(exc, _excel.ExcelError)
        return exc
    assert_clean(out)
    return out


@pytest.mark.parametrize(("name", "arg", "label", "value"), cases(),
                         ids=[f"{n}-{a}-{lab}" for n, a, lab, _ in cases()])
def test_bad_argument_gives_a_result_or_a_planner_error(name, arg, label, value):
    check(getattr(udfs, name), *call_with(name, **{arg: value}))


@pytest.mark.parametrize("name", udfs.__all__)
def test_all_arguments_empty(name):
    n = len(params(name))
    required = [p for p in params(name) if p.default is p.empty]
    got = check(getattr(udfs, name), *([None] * n))
    assert isinstance(got, PlannerError) == bool(required)


@pytest.mark.parametrize("name", udfs.__all__)
def test_too_few_arguments_is_a_python_type_error_not_a_silent_default(name):
    required = [p for p in params(name) if p.default is p.empty]
    if not required:
        pytest.skip("no required arguments")
    with pytest.raises(TypeError):
        getattr(udfs, name)()


@pytest.mark.parametrize("name", [n for n in udfs.__all__ if len(numeric_range_args(n)) >= 2])
def test_ranges_that_do_not_line_up(name):
    a, b = numeric_range_args(name)[:2]
    err = check(getattr(udfs, name), *call_with(name, **{a: [[1.0], [2.0], [4.0]], b: [[1.0], [2.0]]}))
    assert isinstance(err, PlannerError)
    assert "do not line up" in str(err) and a in str(err) and b in str(err)


@pytest.mark.parametrize("name", [n for n in udfs.__all__ if range_args(n)])
def test_empty_cell_in_a_range_names_its_position(name):
    arg = range_args(name)[0]
    err = check(getattr(udfs, name), *call_with(name, **{arg: [[GOOD_VALUE.get(arg, 1.0)], [None]]}))
    assert isinstance(err, PlannerError)
    assert arg in str(err) and "row 2" in str(err)


GOOD_VALUE = {"gpu": "h100", "model": "llama-3.1-70b", "field": "memory_gb", "key": "gpus"}


@pytest.mark.parametrize(("wrong", "closest"), [("h10", "h100"), ("H200 SMX", "h200"), ("mi300", "mi300x")])
def test_unknown_gpu_names_the_closest_ids(wrong, closest):
    with pytest.raises(PlannerError) as exc:
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", wrong)
    assert "unknown accelerator" in str(exc.value) and closest in str(exc.value)


def test_unknown_model_field_and_key_name_the_closest():
    with pytest.raises(PlannerError, match=r"llama-3\.1-70b"):
        udfs.WEIGHT_GB("llama-3.1-70")
    with pytest.raises(PlannerError, match="memory_gb"):
        udfs.GPU_INFO("h100", "memory_gbs")
    with pytest.raises(PlannerError, match="usd_month"):
        udfs.PLAN_VALUE("usd_mont", "llama-3.1-70b", "h100", 20, 1024, 256, 1000, 50)
    with pytest.raises(PlannerError, match="fp8"):
        udfs.WEIGHT_GB("llama-3.1-70b", "fp9")


def test_messages_name_the_argument_and_what_is_right():
    cases = [
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", -1), "batch must be >= 1"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 2.5), "batch must be a whole number"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", math.nan), "batch must be a finite"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", "abc"), "batch must be a number"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", "1.500"), "=VALUE()"),
        (lambda: udfs.KV_GB("llama-3.1-70b", [[1024.0], ["2048"]]), "row 2, column 1"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", True), "batch must be a number, got TRUE"),
        (lambda: udfs.KV_GB("llama-3.1-70b", [[1.0, 2.0], [3.0]]), "ragged"),
        (lambda: udfs.MAX_BATCH("llama-3.1-70b", "h100", 0), "context_tokens must be > 0"),
        (lambda: udfs.BINDING_WALL("llama-3.1-70b", "h100", -5, 1024, 256, 1000, 50), "qps"),
        (lambda: udfs.WALLS("llama-3.1-70b", "h100", [[1.0], [2.0]], 1024, 256, 1000, 50), "single number"),
        (lambda: udfs.DECODE_FLOOR_MS(None, "h100"), "model is required"),
        (lambda: udfs.DECODE_FLOOR_MS(70.0, "h100"), "model must be text"),
        (lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 1, 0, 16), "scale-up domain"),
    ]
    for call, expected in cases:
        with pytest.raises(PlannerError) as exc:
            call()
        assert expected in str(exc.value), (expected, str(exc.value))


def test_booleans_never_hit_a_remembered_numeric_result():
    # True == 1 in Python: a remembered batch=1 result must not answer batch=TRUE
    udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 1)
    with pytest.raises(PlannerError):
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", True)


def test_errors_are_not_remembered():
    for _ in range(2):
        with pytest.raises(PlannerError):
            udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", -1)


def test_a_nan_result_is_an_error_not_a_cell():
    with pytest.raises(PlannerError, match="NaN"):
        _excel.result(math.nan)
    with pytest.raises(PlannerError, match="NaN"):
        _excel.result([[1.0], [math.nan]], _excel.number("x", [[1.0], [2.0]]))
    assert _excel.result(math.inf) == "never"
