"""Ranges: a range argument gives the same values as the scalar calls, element by element, in the range's shape
(a column stays a column, a row a row; a column and a row make a table). Property-tested over every range argument
of every function in ``udfs.__all__``."""

from __future__ import annotations

import pytest
from _udfs_cases import GOOD, VALID, call_with, range_args, valid
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import udfs
from udfs import _excel

RANGE_CASES = [(name, arg) for name in udfs.__all__ for arg in range_args(name)]


def test_every_numeric_argument_takes_a_range():
    from _udfs_cases import TEXT_ARGS, params

    for name in udfs.__all__:
        if name in ("WALLS", "PLAN_TABLE", "BEST_CONFIG", "PARETO"):  # one plan/search as a table: single cells
            continue
        for p in params(name):
            if p.name not in TEXT_ARGS:
                assert p.name in range_args(name), f"{name}({p.name}) should take a range"


def test_every_range_argument_has_valid_values():
    for _, arg in RANGE_CASES:
        assert arg in VALID


def scalar(name: str, arg: str, value: object) -> object:
    return getattr(udfs, name)(*call_with(name, **{arg: value}))


@pytest.mark.parametrize(("name", "arg"), RANGE_CASES, ids=[f"{n}-{a}" for n, a in RANGE_CASES])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_range_equals_scalar_calls(name, arg, data):
    values = data.draw(st.lists(st.sampled_from(valid(name, arg)), min_size=2, max_size=4), label="values")
    as_row = data.draw(st.booleans(), label="row")
    rng = [values] if as_row else [[v] for v in values]
    got = getattr(udfs, name)(*call_with(name, **{arg: rng}))
    expected = [scalar(name, arg, v) for v in values]
    assert got == ([expected] if as_row else [[e] for e in expected])


@pytest.mark.parametrize("name", [n for n in udfs.__all__ if len([a for a in range_args(n)]) >= 2])
def test_a_column_and_a_row_make_a_table(name):
    a, b = range_args(name)[:2]
    col, row = valid(name, a)[:3], valid(name, b)[:2]
    got = getattr(udfs, name)(*call_with(name, **{a: [[v] for v in col], b: [row]}))
    expected = [[getattr(udfs, name)(*call_with(name, **{a: x, b: y})) for y in row] for x in col]
    assert got == expected


@pytest.mark.parametrize("name", [n for n in udfs.__all__ if len(range_args(n)) >= 2])
def test_same_shape_ranges_go_element_by_element(name):
    a, b = range_args(name)[:2]
    xs, ys = valid(name, a)[:2], valid(name, b)[:2]
    got = getattr(udfs, name)(*call_with(name, **{a: [[x] for x in xs], b: [[y] for y in ys]}))
    assert got == [[getattr(udfs, name)(*call_with(name, **{a: x, b: y}))] for x, y in zip(xs, ys, strict=True)]


def test_a_single_cell_range_is_a_cell():
    # xlwings with ndim=2 hands a single cell over as [[x]]
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16", [[8.0]]) == \
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16", 8.0)
    assert udfs.DECODE_FLOOR_MS([["llama-3.1-70b"]], [["h100"]], [["fp16"]]) == \
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16")
    # an empty single cell is the default
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16", [[None]]) == \
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16")


def test_whole_floats_are_accepted_where_whole_numbers_belong():
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 8.0, 0.0, 4.0) == \
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 8, 0, 4)
    assert udfs.REPLICAS("llama-3.1-70b", "h100", 20.0, 1024.0, 256.0, 1000.0, 50.0, None, "fp8", 4.0) == \
        udfs.REPLICAS("llama-3.1-70b", "h100", 20, 1024, 256, 1000, 50, None, "fp8", 4)


def test_empty_optional_cells_mean_the_default():
    base = udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100")
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", None, None, None, None) == base
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "", " ", "", "") == base
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "bf16", 1, 0, 1) == base


def test_text_ranges_in_look_ups():
    got = udfs.GPU_INFO([["h100"], ["b200"]], [["memory_gb", "usd_per_gpu_hour"]])
    assert got == [[udfs.GPU_INFO(g, f) for f in ("memory_gb", "usd_per_gpu_hour")] for g in ("h100", "b200")]
    assert udfs.MODEL_INFO(["llama-3.1-70b", "deepseek-v3"], "layers") == [[80], [61]]


def test_a_1000_cell_sweep_is_one_call():
    col = [[float(b)] for b in range(1, 1001)]
    got = udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16", col)
    assert len(got) == 1000 and all(len(r) == 1 for r in got)
    for b in (1, 17, 500, 1000):
        assert got[b - 1][0] == udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16", float(b))


def test_remembered_scalar_results_equal_fresh_ones():
    args = GOOD["PLAN_TABLE"]
    first = udfs.PLAN_TABLE(*args)
    first[1][0] = "mutated by a caller"
    _excel.clear_memo()
    assert udfs.PLAN_TABLE(*args) == udfs.PLAN_TABLE(*args) != first
