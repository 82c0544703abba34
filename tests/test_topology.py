"""Topology: what fits in a GPU's memory, the largest batch, the smallest tensor-parallel group, the link a group
all-reduces over, and the replicas the traffic needs — against hand arithmetic.

The documented reserve is 10% of HBM (vLLM's gpu_memory_utilization=0.9), so usable = 0.9 · HBM, and
max batch = floor((usable − weights / tp) / (KV bytes per sequence / min(tp, KV heads))) — MLA's latent cache is not
split by tensor parallelism.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner import api
from planner.catalogue import builtin_catalogue
from planner.errors import PlannerError
from planner.roofline import decode_step, kv_bytes_per_sequence
from planner.topology import (
    check_tp,
    kv_bytes_per_sequence_per_gpu,
    layouts,
    max_batch,
    memory_used_bytes,
    replicas_needed,
    reserve_bytes,
    smallest_tp,
    tp_choices,
    usable_bytes,
    weight_bytes_per_gpu,
)

CAT = builtin_catalogue()
USABLE_FRACTION = 0.9
GB = 1e9


def dense_gqa_params(layers: int, hidden: int, inter: int, heads: int, kv_heads: int, head_dim: int,
                     vocab: int) -> int:
    q, kv = heads * head_dim, kv_heads * head_dim
    per_layer = hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * inter + 2 * hidden
    return layers * per_layer + hidden + 2 * vocab * hidden


LLAMA_70B = dense_gqa_params(80, 8192, 28672, 64, 8, 128, 128256)
LLAMA_405B = dense_gqa_params(126, 16384, 53248, 128, 8, 128, 128256)
KV_70B = 2 * 80 * 8 * 128 * 2  # bytes per token, bf16
KV_DEEPSEEK = 61 * (512 + 64) * 2


def hand_max_batch(weights: float, kv_per_seq: float, hbm_gb: float, tp: int, kv_shards: int) -> int:
    free = USABLE_FRACTION * hbm_gb * GB - weights / tp
    return max(math.floor(free / (kv_per_seq / kv_shards)), 0)


@pytest.mark.parametrize("acc_id", sorted(CAT.accelerators))
def test_usable_memory_is_ninety_percent(acc_id: str) -> None:
    acc = CAT.accelerator(acc_id)
    assert usable_bytes(acc) == pytest.approx(USABLE_FRACTION * acc.memory_gb * GB, rel=1e-12)
    assert reserve_bytes(acc) == pytest.approx((1 - USABLE_FRACTION) * acc.memory_gb * GB, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "acc", "dtype", "tp", "context", "weights", "kv_token", "hbm", "shards"),
    [
        # the default plan: 70B fp8 on 4 H100s, 1024 + 256 tokens: (72 − 17.64) GB / 104.9 MB = 518
        ("llama-3.1-70b", "h100-sxm", "fp8", 4, 1280, LLAMA_70B * 1, KV_70B, 80, 4),
        ("llama-3.1-70b", "h100-sxm", "bf16", 2, 8192, LLAMA_70B * 2, KV_70B, 80, 2),
        ("llama-3.1-70b", "h200-sxm", "bf16", 1, 4096, LLAMA_70B * 2, KV_70B, 141, 1),
        ("llama-3.1-70b", "h100-sxm", "fp8", 8, 131072, LLAMA_70B * 1, KV_70B, 80, 8),
        ("llama-3.1-405b", "h100-sxm", "fp8", 8, 2048, LLAMA_405B * 1, 2 * 126 * 8 * 128 * 2, 80, 8),
        ("llama-3.1-405b", "mi300x", "bf16", 8, 32768, LLAMA_405B * 2, 2 * 126 * 8 * 128 * 2, 192, 8),
    ],
)
def test_max_batch_by_hand(model: str, acc: str, dtype: str, tp: int, context: int, weights: float, kv_token: int,
                           hbm: float, shards: int) -> None:
    expected = hand_max_batch(weights, kv_token * context, hbm, tp, shards)
    assert float(api.max_batch(model, acc, context, dtype, tp)) == expected
    assert float(max_batch(CAT.model(model), CAT.accelerator(acc), context, dtype, tp)) == expected


def test_default_plan_max_batch_is_518() -> None:
    """(0.9 · 80 GB − 70.55 GB / 4) / (327,680 · 1280 / 4) = 518.2 → 518 sequences per replica."""
    assert hand_max_batch(LLAMA_70B, KV_70B * 1280, 80, 4, 4) == 518
    assert float(api.max_batch("llama-3.1-70b", "h100-sxm", 1280, "fp8", 4)) == 518


def test_max_batch_with_fp8_kv() -> None:
    expected = hand_max_batch(LLAMA_70B, KV_70B / 2 * 1280, 80, 4, 4)
    model, acc = CAT.model("llama-3.1-70b"), CAT.accelerator("h100-sxm")
    assert float(max_batch(model, acc, 1280, "fp8", 4, "fp8")) == expected


@pytest.mark.parametrize(
    ("model", "acc", "dtype", "tp"),
    [
        ("llama-3.1-405b", "h100-sxm", "bf16", 1),  # 811.7 GB of weights on an 80 GB GPU
        ("llama-3.1-405b", "h100-sxm", "bf16", 8),  # 101.5 GB per GPU > 72 GB usable
        ("llama-3.1-70b", "h100-sxm", "bf16", 1),  # 141.1 GB > 72 GB
        ("deepseek-v3", "h100-sxm", "fp8", 8),  # 83.9 GB per GPU > 72 GB
        ("llama-3.1-8b", "tpu-v5e", "bf16", 1),  # 16.06 GB > 14.4 GB
    ],
)
def test_max_batch_is_zero_when_the_weights_do_not_fit(model: str, acc: str, dtype: str, tp: int) -> None:
    assert float(api.max_batch(model, acc, 1024, dtype, tp)) == 0.0


def test_max_batch_is_zero_when_one_sequence_does_not_fit() -> None:
    """70B bf16 on 2 H100s: 1.45 GB free per GPU, and a 16k sequence needs 327,680 · 16384 / 2 = 2.68 GB per GPU."""
    free = USABLE_FRACTION * 80 * GB - LLAMA_70B * 2 / 2
    assert 0 < free < KV_70B * 16384 / 2
    assert float(api.max_batch("llama-3.1-70b", "h100-sxm", 16384, "bf16", 2)) == 0.0


def test_mla_kv_is_not_split_by_tp() -> None:
    """DeepSeek-V3's latent is shared by every head: each tensor-parallel rank holds all of it."""
    model = CAT.model("deepseek-v3")
    per_seq = KV_DEEPSEEK * 8192
    for tp in (1, 2, 4, 8):
        assert float(kv_bytes_per_sequence_per_gpu(model, 8192, "bf16", tp)) == per_seq
    # DeepSeek-V3 fp8 on 8 H200s: (126.9 − 83.88) GB / 575.7 MB, the KV not divided by 8
    weights = float(weight_bytes_per_gpu(model, "fp8", 8)) * 8
    assert weights / 1e9 == pytest.approx(671.0, rel=0.001)
    expected = hand_max_batch(weights, per_seq, 141, 8, 1)
    assert float(api.max_batch("deepseek-v3", "h200-sxm", 8192, "fp8", 8)) == expected
    assert expected < hand_max_batch(weights, per_seq, 141, 8, 8)  # splitting it would be wrong, and larger


def test_gqa_kv_splits_at_most_by_kv_heads() -> None:
    """Qwen3-30B-A3B has 4 KV heads: tp=8 splits its cache 4 ways (two ranks hold each head); Llama-70B (8) 8 ways."""
    qwen = CAT.model("qwen3-30b-a3b")
    per_seq = 2 * 48 * 4 * 128 * 2 * 4096
    assert float(kv_bytes_per_sequence(qwen, 4096)) == per_seq
    assert float(kv_bytes_per_sequence_per_gpu(qwen, 4096, "bf16", 2)) == per_seq / 2
    assert float(kv_bytes_per_sequence_per_gpu(qwen, 4096, "bf16", 4)) == per_seq / 4
    assert float(kv_bytes_per_sequence_per_gpu(qwen, 4096, "bf16", 8)) == per_seq / 4
    llama = CAT.model("llama-3.1-70b")
    assert float(kv_bytes_per_sequence_per_gpu(llama, 4096, "bf16", 8)) == KV_70B * 4096 / 8
    assert float(kv_bytes_per_sequence_per_gpu(llama, 4096, "bf16", 16)) == KV_70B * 4096 / 8


def test_decode_step_bytes_per_gpu_within_the_split_bounds() -> None:
    """The bytes a tp=8 decode step reads per GPU: weights / 8 plus the KV cache split at least as far as the memory
    model splits it (4 ways, Qwen3-30B-A3B's KV heads) and at most over all 8 GPUs (a floor may assume the ideal)."""
    model, acc = CAT.model("qwen3-30b-a3b"), CAT.accelerator("h100-sxm")
    b, s = 16, 4096
    weights = float(decode_step(model, acc, "bf16", b, 0, 1).bytes_per_gpu)  # context 0: the weights only
    kv = b * 2 * 48 * 4 * 128 * 2 * s
    per_gpu = float(decode_step(model, acc, "bf16", b, s, 8).bytes_per_gpu)
    assert weights / 8 + kv / 8 * (1 - 1e-12) <= per_gpu <= (weights / 8 + kv / 4) * (1 + 1e-12)


def test_memory_used_by_hand() -> None:
    model, acc = CAT.model("llama-3.1-70b"), CAT.accelerator("h100-sxm")
    used = float(memory_used_bytes(model, acc, 100, 2048, "fp8", 4))
    assert used == pytest.approx(LLAMA_70B / 4 + 100 * KV_70B * 2048 / 4 + 0.1 * 80e9, rel=1e-12)


def _hand_smallest_tp(weights: float, kv_per_seq: float, hbm_gb: float, kv_heads: int, choices: list[int]) -> int:
    for tp in choices:
        if hand_max_batch(weights, kv_per_seq, hbm_gb, tp, min(tp, kv_heads)) >= 1:
            return tp
    raise AssertionError("does not fit")


@pytest.mark.parametrize(
    ("model", "acc", "dtype", "context", "weights", "kv_token", "hbm", "kv_heads", "expected"),
    [
        # 141.1 GB: tp=2 leaves 1.45 GB per GPU, enough for one 8k sequence (1.34 GB per GPU) but not a 16k one
        ("llama-3.1-70b", "h100-sxm", "bf16", 8192, LLAMA_70B * 2, KV_70B, 80, 8, 2),
        ("llama-3.1-70b", "h100-sxm", "bf16", 16384, LLAMA_70B * 2, KV_70B, 80, 8, 4),
        ("llama-3.1-70b", "h100-sxm", "fp8", 4096, LLAMA_70B, KV_70B, 80, 8, 1),
        ("llama-3.1-70b", "h100-sxm", "fp8", 8192, LLAMA_70B, KV_70B, 80, 8, 2),
        ("llama-3.1-70b", "h200-sxm", "bf16", 8192, LLAMA_70B * 2, KV_70B, 141, 8, 2),
        ("llama-3.1-405b", "h100-sxm", "fp8", 4096, LLAMA_405B, 2 * 126 * 8 * 128 * 2, 80, 8, 8),
        ("llama-3.1-405b", "mi300x", "bf16", 4096, LLAMA_405B * 2, 2 * 126 * 8 * 128 * 2, 192, 8, 8),
        ("llama-3.1-405b", "b200", "fp8", 4096, LLAMA_405B, 2 * 126 * 8 * 128 * 2, 180, 8, 4),
    ],
)
def test_smallest_tp_by_hand(model: str, acc: str, dtype: str, context: int, weights: float, kv_token: int,
                             hbm: float, kv_heads: int, expected: int) -> None:
    assert _hand_smallest_tp(weights, kv_token * context, hbm, kv_heads, [1, 2, 4, 8]) == expected
    assert smallest_tp(CAT.model(model), CAT.accelerator(acc), context, dtype) == expected


def test_smallest_tp_when_nothing_fits_is_a_planner_error() -> None:
    with pytest.raises(PlannerError) as err:
        smallest_tp(CAT.model("llama-3.1-405b"), CAT.accelerator("h100-sxm"), 4096, "bf16")
    assert "llama-3.1-405b" in str(err.value)
    assert "fp8" in str(err.value) or "int4" in str(err.value)


@pytest.mark.parametrize(
    ("model", "acc", "expected"),
    [
        ("llama-3.1-70b", "h100-sxm", [1, 2, 4, 8]),  # NVLink domain 8; 64 heads, 8 KV heads
        ("llama-3.1-70b", "h100-pcie", [1, 2, 4, 8]),  # NVLink bridge for pairs, PCIe host of 8 beyond
        ("llama-3.1-70b", "l40s", [1, 2, 4, 8]),  # PCIe only
        ("llama-3.1-70b", "gb200", [1, 2, 4, 8, 16, 32, 64]),  # NVL72, capped at 64 GPUs per replica
        # 48 heads, 8 KV heads: 3, 6, 12 split the heads but not the KV heads (nor they it); 16, 24, 48 do
        ("mixtral-8x22b", "gb200", [1, 2, 4, 8, 16, 24, 48]),
        # 40 heads, 40 KV heads (MHA): every divisor of 40 splits both
        ("llama-2-13b", "tpu-v6e", [1, 2, 4, 5, 8, 10, 20, 40]),
        # 28 heads, 4 KV heads: 7 and 14 divide the heads, but 4 and 7 / 14 do not divide each other
        ("qwen2.5-7b", "h100-sxm", [1, 2, 4]),
        ("deepseek-v3", "gb200", [1, 2, 4, 8, 16, 32, 64]),  # MLA: the 128 heads only
    ],
)
def test_tp_choices(model: str, acc: str, expected: list[int]) -> None:
    """The layouts engines run (vLLM's check): tp divides the heads; KV heads divide tp or tp divides them."""
    assert tp_choices(CAT.model(model), CAT.accelerator(acc)) == expected


@pytest.mark.parametrize("tp", [3, 5, 6, 7, 12])
def test_tp_that_splits_no_heads_is_refused_with_the_valid_values(tp: int) -> None:
    with pytest.raises(PlannerError, match=r"valid tp: 1, 2, 4, 8"):
        check_tp(CAT.model("llama-3.1-70b"), CAT.accelerator("h100-sxm"), tp)


def test_layouts_honour_what_is_given() -> None:
    m, a = CAT.model("mixtral-8x7b"), CAT.accelerator("h100-sxm")
    auto = layouts(m, a)
    assert {tuple(r) for r in auto} >= {(1, 1, 1), (8, 1, 8), (8, 8, 1), (2, 2, 2)}
    assert all(tp * pp <= 64 and ep in (1, tp) for tp, pp, ep in auto)
    assert {tuple(r) for r in layouts(m, a, tp=4)} == {(4, p, e) for p in (1, 2, 4, 8) for e in (1, 4)}
    assert {tuple(r) for r in layouts(m, a, ep=8)} == {(8, p, 8) for p in (1, 2, 4, 8)}
    with pytest.raises(PlannerError, match="valid ep: 1, 4"):
        layouts(m, a, tp=4, ep=2)
    with pytest.raises(PlannerError, match="pp=99"):
        layouts(m, a, pp=99)
    dense = layouts(CAT.model("llama-3.1-8b"), a)
    assert set(dense[:, 2]) == {1.0}


def test_tp_link_choice() -> None:
    """H100 PCIe: NVLink bridge (300 GB/s per direction) within a pair, PCIe Gen5 (64 GB/s) for 4 or 8."""
    acc = CAT.accelerator("h100-pcie")
    assert acc.tp_link(1) is None
    two, four = acc.tp_link(2), acc.tp_link(4)
    assert two is not None and two.gbs_per_direction == 300
    assert four is not None and four.gbs_per_direction == 64
    with pytest.raises(PlannerError, match="tp=16"):
        CAT.accelerator("h100-sxm").tp_link(16)


def test_all_reduce_over_pcie_by_hand() -> None:
    """L40S tp=8 (PCIe Gen4, 32 GB/s per direction), 70B fp8, batch 64: 2 all-reduces per layer over 80 layers,
    each 2 · 7/8 · 64 tokens · 8192 · 2 bytes / 32 GB/s — a floor with no latency."""
    model, acc = CAT.model("llama-3.1-70b"), CAT.accelerator("l40s")
    step = decode_step(model, acc, "fp8", 64, 0, 8)
    expected = 2 * 80 * (2 * 7 / 8 * 64 * 8192 * 2 / 32e9)
    assert float(step.network_s) == pytest.approx(expected, rel=1e-12)
    assert float(decode_step(model, acc, "fp8", 64, 0, 1).network_s) == 0.0


@pytest.mark.parametrize(("qps", "rps", "expected"), [(20, 3, 7), (21, 3, 7), (21.0001, 3, 8), (0.01, 5, 1),
                                                      (100, 100, 1), (1000, 0.5, 2000)])
def test_replicas_needed(qps: float, rps: float, expected: int) -> None:
    assert replicas_needed(qps, rps) == expected


@pytest.mark.parametrize("rps", [0, -1, float("nan"), float("inf")])
def test_replicas_needed_bad_capacity(rps: float) -> None:
    with pytest.raises(PlannerError):
        replicas_needed(10, rps)


def test_max_batch_vectorized_equals_scalar() -> None:
    contexts = np.array([[512], [4096], [32768], [131072]], dtype=float)
    tps = np.array([[1, 2, 4, 8]], dtype=float)
    table = api.max_batch("llama-3.1-70b", "h100-sxm", contexts, "fp8", tps)
    assert table.shape == (4, 4)
    for i in range(4):
        for j in range(4):
            c, t = int(contexts[i, 0]), int(tps[0, j])
            assert table[i, j] == hand_max_batch(LLAMA_70B, KV_70B * c, 80, t, min(t, 8))
            assert table[i, j] == float(api.max_batch("llama-3.1-70b", "h100-sxm", c, "fp8", t))


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(sorted(CAT.models)), acc=st.sampled_from(sorted(CAT.accelerators)),
       c1=st.integers(1, 200_000), extra=st.integers(0, 200_000))
def test_more_context_never_fits_more_sequences(model: str, acc: str, c1: int, extra: int) -> None:
    m, a = CAT.model(model), CAT.accelerator(acc)
    assert float(max_batch(m, a, c1 + extra, "bf16")) <= float(max_batch(m, a, c1, "bf16"))


@settings(max_examples=60, deadline=None)
@given(model=st.sampled_from(sorted(CAT.models)), acc=st.sampled_from(sorted(CAT.accelerators)),
       context=st.integers(1, 200_000))
def test_more_tp_never_fits_fewer_sequences(model: str, acc: str, context: int) -> None:
    m, a = CAT.model(model), CAT.accelerator(acc)
    batches = [float(max_batch(m, a, context, "bf16", tp)) for tp in tp_choices(m, a)[:4]]
    assert batches == sorted(batches)


@pytest.mark.parametrize("context", [0, -5, float("nan"), "long", None, True])
def test_max_batch_bad_context(context: object) -> None:
    with pytest.raises(PlannerError, match="context_tokens"):
        api.max_batch("llama-3.1-70b", "h100-sxm", context)


def test_max_batch_bad_tp() -> None:
    with pytest.raises(PlannerError, match="tp"):
        api.max_batch("llama-3.1-70b", "h100-sxm", 1024, "bf16", 0)
