"""Property-based tests of the arithmetic (hypothesis): monotonicity, units, tp splitting bytes exactly, floors below
expected times, vectorized equal to scalar, and the bisections' edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner import roofline, topology
from planner.catalogue import builtin_catalogue
from planner.units import BYTES_PER_ELEMENT

CAT = builtin_catalogue()
MODELS = sorted(CAT.models)
ACCS = sorted(CAT.accelerators)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

models = st.sampled_from(MODELS)
accs = st.sampled_from(ACCS)
batches = st.integers(min_value=1, max_value=4096)
contexts = st.floats(min_value=0, max_value=131_072, allow_nan=False)
prompts = st.integers(min_value=1, max_value=65_536)


def dtypes_for(acc_id: str) -> st.SearchStrategy[str]:
    acc = CAT.accelerator(acc_id)
    usable = [d for d in ("bf16", "fp16", "fp8", "int8", "int4", "fp4") if _has_rate(acc, d)]
    return st.sampled_from(usable)


def _has_rate(acc: object, dtype: str) -> bool:
    try:
        acc.compute_dtype(dtype)  # type: ignore[attr-defined]
        return True
    except ValueError:
        return False


@st.composite
def configs(draw: st.DrawFn) -> tuple[str, str, str, int]:
    acc = draw(accs)
    model = draw(models)
    return model, acc, draw(dtypes_for(acc)), draw(st.sampled_from(topology.tp_choices(CAT.model(model),
                                                                                       CAT.accelerator(acc))))


@SETTINGS
@given(configs(), batches, batches, contexts)
def test_more_batch_is_never_faster_and_never_lower_intensity(cfg, b1, b2, ctx) -> None:
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    lo, hi = sorted((b1, b2))
    t = roofline.decode_floor_ms(m, a, dtype, np.array([lo, hi]), ctx, tp)
    assert t[0] <= t[1] * (1 + 1e-12)
    i = roofline.decode_intensity(m, np.array([lo, hi]), dtype, ctx)
    assert i[0] <= i[1] * (1 + 1e-12)


@SETTINGS
@given(models, contexts, contexts, st.sampled_from(["bf16", "fp8", "int4"]))
def test_more_context_never_less_kv(model_id, c1, c2, kv_dtype) -> None:
    m = CAT.model(model_id)
    lo, hi = sorted((c1, c2))
    kv = roofline.kv_bytes_per_sequence(m, np.array([lo, hi]), kv_dtype)
    assert kv[0] <= kv[1]
    # and never more than every layer holding every token
    assert kv[1] <= roofline.kv_bytes_per_token(m, kv_dtype) * hi * (1 + 1e-12)


@SETTINGS
@given(configs(), batches, contexts, st.floats(min_value=1.01, max_value=10))
def test_more_bandwidth_never_slower(cfg, batch, ctx, factor) -> None:
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    faster = a.model_copy(update={"memory_bandwidth_tbs": a.memory_bandwidth_tbs * factor})
    slow = roofline.decode_floor_ms(m, a, dtype, batch, ctx, tp).item()
    fast = roofline.decode_floor_ms(m, faster, dtype, batch, ctx, tp).item()
    assert fast <= slow * (1 + 1e-12)


@SETTINGS
@given(configs(), batches, contexts)
def test_tp_splits_bytes_and_flops_exactly(cfg, batch, ctx) -> None:
    """The floor spreads every byte and FLOP over the tp GPUs: per-GPU bytes · tp is the step's total."""
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    step = roofline.decode_step(m, a, dtype, batch, ctx, tp)
    total_bytes = roofline.decode_bytes(m, batch, ctx, dtype, "bf16")
    total_flops = roofline.decode_flops(m, batch, ctx)
    assert float(step.bytes_per_gpu) * tp == pytest.approx(float(total_bytes), rel=1e-12)
    assert float(step.flops_per_gpu) * tp == pytest.approx(float(total_flops), rel=1e-12)


@SETTINGS
@given(configs(), batches, contexts, prompts)
def test_floors_never_exceed_expected_times(cfg, batch, ctx, prompt) -> None:
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    assert roofline.decode_floor_ms(m, a, dtype, batch, ctx, tp) <= roofline.decode_ms(m, a, dtype, batch, ctx, tp)
    assert roofline.prefill_floor_ms(m, a, prompt, dtype, tp) <= roofline.prefill_ms(m, a, prompt, dtype, tp)


@SETTINGS
@given(models, st.sampled_from(list(BYTES_PER_ELEMENT)))
def test_weight_bytes_are_params_times_element_size(model_id, dtype) -> None:
    m = CAT.model(model_id)
    assert roofline.weight_bytes(m, dtype) == m.total_params * BYTES_PER_ELEMENT[dtype]
    # halving the element size halves the bytes (unit scale invariance)
    if dtype == "bf16":
        assert roofline.weight_bytes(m, "fp8") * 2 == roofline.weight_bytes(m, "bf16")


@SETTINGS
@given(configs(), st.lists(batches, min_size=1, max_size=20), contexts)
def test_vectorized_equals_scalar(cfg, batch_list, ctx) -> None:
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    vec = roofline.decode_ms(m, a, dtype, np.array(batch_list, dtype=float), ctx, tp)
    for b, v in zip(batch_list, vec, strict=True):
        assert roofline.decode_ms(m, a, dtype, float(b), ctx, tp).item() == pytest.approx(v, rel=1e-12)


@SETTINGS
@given(configs(), st.integers(min_value=1, max_value=20_000))
def test_max_batch_is_the_edge_of_memory(cfg, context) -> None:
    model_id, acc_id, dtype, tp = cfg
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    b = topology.max_batch(m, a, context, dtype, tp).item()
    usable = topology.usable_bytes(a)
    def used(n: float) -> float:
        return topology.memory_used_bytes(m, a, n, context, dtype, tp).item() - topology.reserve_bytes(a)
    if b >= 1:
        assert used(b) <= usable * (1 + 1e-12)
    assert used(b + 1) > usable * (1 - 1e-12)


@SETTINGS
@given(models, accs, st.sampled_from([0.0, 128.0, 2048.0]))
def test_crossover_is_the_first_compute_bound_batch(model_id, acc_id, ctx) -> None:
    m, a = CAT.model(model_id), CAT.accelerator(acc_id)
    b = roofline.crossover_batch(m, a, "bf16", ctx).item()
    if math.isinf(b):
        return
    def compute_bound(n: float) -> bool:
        step = roofline.decode_step(m, a, "bf16", n, ctx, 1)
        return bool(step.compute_s >= step.memory_s)
    assert compute_bound(b)
    if b > 1:
        assert not compute_bound(b - 1)
