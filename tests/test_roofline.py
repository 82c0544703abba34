"""The design-loop arithmetic: weight and KV bytes, FLOPs, intensity, ridge, roofline floors and expected times.

The acceptance numbers of issue 2 are checked against arithmetic written out here from datasheet and config.json
numbers (H100 SXM: 3.35 TB/s, 989.4 dense bf16 TFLOP/s, 1978.9 dense fp8; NVLink 450 GB/s per direction), or read
from ``../shared/data``; monotonicity is checked with hypothesis. Nothing is timed.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from _shared_data import needs_shared_data
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import udfs
from planner import api
from planner.catalogue import Accelerator, builtin_catalogue
from planner.efficiency import expected_efficiency
from planner.errors import PlannerError
from planner.roofline import (
    decode_bytes,
    decode_floor_ms,
    decode_intensity,
    decode_ms,
    decode_step,
    experts_touched,
    kv_bytes_per_sequence,
    kv_bytes_per_token,
    prefill_floor_ms,
    prefill_step,
    step_weight_bytes,
    weight_bytes,
)
from planner.topology import tp_choices

DATA = Path(__file__).parents[1].parent / "shared" / "data"
needs_models_csv = needs_shared_data("models.csv")
needs_silicon_csv = needs_shared_data("silicon.csv")

H100_BW = 3.35e12  # bytes/s
H100_BF16 = 989.4e12  # dense FLOP/s
H100_FP8 = 1978.9e12
H100_NVLINK = 450e9  # bytes/s per direction

CAT = builtin_catalogue()
MODELS = sorted(CAT.models)
ACCELERATORS = sorted(CAT.accelerators)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def dense_gqa_params(layers: int, hidden: int, inter: int, heads: int, kv_heads: int, head_dim: int, vocab: int,
                     tied: bool = False) -> int:
    """Llama-style decoder parameters by hand: Q, K, V, O, gated MLP, two norms per layer, final norm, embeddings."""
    q, kv = heads * head_dim, kv_heads * head_dim
    per_layer = hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * inter + 2 * hidden
    return layers * per_layer + hidden + vocab * hidden * (1 if tied else 2)


LLAMA_70B = dense_gqa_params(80, 8192, 28672, 64, 8, 128, 128256)  # 70,553,706,496
LLAMA_70B_MATMUL = LLAMA_70B - 128256 * 8192  # the input embedding is a lookup, not a matmul
LLAMA_70B_READ = LLAMA_70B - 128256 * 8192 + 8192  # a batch-1 step reads every weight but the embedding table,
# of which it gathers one row
LLAMA_8B = dense_gqa_params(32, 4096, 14336, 32, 8, 128, 128256)
LLAMA_8B_MATMUL = LLAMA_8B - 128256 * 4096


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


MODEL_ROWS = _rows("models.csv") if (DATA / "models.csv").exists() else []


def _model_for_row(row: dict[str, str]):
    hits = [m for m in CAT.models.values() if m.hf_repo.lower() == row["hf_repo"].lower()]
    assert len(hits) == 1, row["hf_repo"]
    return hits[0]


# ------------------------------------------------------------------------------------------- acceptance numbers


def test_decode_floor_llama_70b_h100_fp16_is_42_ms() -> None:
    """141.1 GB of fp16 weights, less the 2.1 GB input-embedding table a step only gathers one row of, over
    3.35 TB/s: 41.5 ms per token at batch 1, whatever the engine (the brief's ~42 ms)."""
    expected_ms = LLAMA_70B_READ * 2 / H100_BW * 1e3
    assert LLAMA_70B * 2 / 1e9 == pytest.approx(141.1, abs=0.05)
    assert expected_ms == pytest.approx(41.5, abs=0.05)
    assert float(api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "fp16")) == pytest.approx(expected_ms, rel=1e-9)
    assert api.weight_gb("llama-3.1-70b", "fp16") == pytest.approx(LLAMA_70B * 2 / 1e9, rel=1e-12)


def test_decode_floor_scales_with_weight_bytes() -> None:
    """fp8 halves the bytes (20.7 ms); int4 quarters them (10.4 ms); the batch-1 step stays bandwidth-bound."""
    for dtype, bytes_per in (("fp8", 1.0), ("int4", 0.5), ("fp32", 4.0)):
        expected = LLAMA_70B_READ * bytes_per / H100_BW * 1e3
        assert float(api.decode_floor_ms("llama-3.1-70b", "h100-sxm", dtype)) == pytest.approx(expected, rel=1e-9)


def test_ridge_h100_bf16_is_295() -> None:
    assert H100_BF16 / H100_BW == pytest.approx(295.3, abs=0.1)
    assert api.ridge_intensity("h100-sxm") == pytest.approx(H100_BF16 / H100_BW, rel=1e-12)
    assert api.ridge_intensity("h100-sxm", "fp8") == pytest.approx(H100_FP8 / H100_BW, rel=1e-12)


def test_ridge_compute_dtype_rules() -> None:
    """int4 weights on an H100 (no int4 tensor rate) dequantize and multiply at bf16; A100 has no fp8, so fp8
    weights run at its bf16 rate (312 TFLOP/s over 2.039 TB/s)."""
    assert api.ridge_intensity("h100-sxm", "int4") == pytest.approx(H100_BF16 / H100_BW, rel=1e-12)
    assert api.ridge_intensity("a100-80gb-sxm", "fp8") == pytest.approx(312e12 / 2.039e12, rel=1e-12)
    with pytest.raises(PlannerError, match="fp32"):
        api.ridge_intensity("tpu-v5e", "fp32")


def test_decode_intensity_batch_1_bf16_is_about_1() -> None:
    """2 FLOPs per matmul weight over the 2 bytes of each weight it must read (the matmul weights and the one
    embedding row gathered): 2(P − V·h) / 2(P − V·h + h) ≈ 1 for Llama-3.1-70B."""
    expected = 2 * LLAMA_70B_MATMUL / (2 * LLAMA_70B_READ)
    assert expected == pytest.approx(1.0, abs=0.02)
    assert float(api.decode_intensity("llama-3.1-70b")) == pytest.approx(expected, rel=1e-12)
    # batch B reads the weights once (and B embedding rows): ~B times the intensity (no context); fp8 doubles it
    read_64 = LLAMA_70B_READ + 63 * 8192
    assert float(api.decode_intensity("llama-3.1-70b", 64)) == pytest.approx(64 * LLAMA_70B_MATMUL / read_64,
                                                                             rel=1e-12)
    assert float(api.decode_intensity("llama-3.1-70b", 1, "fp8")) == pytest.approx(2 * expected, rel=1e-12)


@pytest.mark.parametrize("ident", MODELS)
def test_decode_intensity_batch_1_bf16_near_1_for_every_model(ident: str) -> None:
    """Every model, dense or MoE: at batch 1 each weight read (2 bytes) does one multiply-add (2 FLOPs), so the
    intensity is ~1 (a little less: the gathered embedding row, and a tied table read as the LM head and gathered)."""
    assert 0.85 <= float(api.decode_intensity(ident)) <= 1.0 + 1e-12


def test_kv_bytes_per_token_llama_70b_is_327680() -> None:
    """GQA: 2 (K and V) · 80 layers · 8 KV heads · 128 head_dim · 2 bytes."""
    assert 2 * 80 * 8 * 128 * 2 == 327_680
    assert api.kv_bytes_per_token("llama-3.1-70b") == 327_680
    assert api.kv_bytes_per_token("llama-3.1-70b", "fp8") == 163_840


def test_kv_bytes_per_token_deepseek_v3_is_70272() -> None:
    """MLA caches the 512-wide latent plus the 64-wide RoPE key per layer, not 128 heads: 61 · (512 + 64) · 2."""
    assert 61 * (512 + 64) * 2 == 70_272
    assert api.kv_bytes_per_token("deepseek-v3") == 70_272
    assert api.kv_bytes_per_token("deepseek-r1") == 70_272


@needs_models_csv
@pytest.mark.parametrize("row", MODEL_ROWS, ids=[r["id"] for r in MODEL_ROWS])
def test_kv_bytes_match_models_csv(row: dict[str, str]) -> None:
    """Per token (all layers, bf16) and per sequence at 8k and 32k tokens (sliding layers capped at the window)."""
    model = _model_for_row(row)
    assert kv_bytes_per_token(model, "bf16") == int(row["kv_bytes_per_token_bf16_all_layers"])
    assert float(kv_bytes_per_sequence(model, 8192)) == int(row["kv_bytes_per_seq_bf16_at_8k"])
    assert float(kv_bytes_per_sequence(model, 32768)) == int(row["kv_bytes_per_seq_bf16_at_32k"])


def test_crossover_batch_llama_70b_h100_by_hand() -> None:
    """Dense, no context, strict bytes: compute B·2M/peak (M = P − V·h matmul weights) reaches memory
    (2M + 2·B·h)/bandwidth (the weights and B gathered embedding rows) at B = ridge · M / (M − ridge · h)."""
    ridge = H100_BF16 / H100_BW
    expected = math.ceil(ridge * LLAMA_70B_MATMUL / (LLAMA_70B_MATMUL - ridge * 8192))
    assert expected == 296
    assert float(api.crossover_batch("llama-3.1-70b", "h100-sxm")) == expected
    model, acc = CAT.model("llama-3.1-70b"), CAT.accelerator("h100-sxm")
    at, below = decode_step(model, acc, "bf16", expected), decode_step(model, acc, "bf16", expected - 1)
    assert float(at.compute_s) >= float(at.memory_s)
    assert float(below.compute_s) < float(below.memory_s)


def test_crossover_batch_is_never_for_long_contexts() -> None:
    """With a long context each sequence adds KV bytes as fast as it adds FLOPs (~1 FLOP/byte): never compute-bound."""
    assert math.isinf(float(api.crossover_batch("llama-3.1-70b", "h100-sxm", context_tokens=100_000)))


def test_decode_floor_tp2_overlaps_the_ring_all_reduce() -> None:
    """tp=2 on NVLink: half the weights per GPU, and 2 all-reduces per layer of 8192 · 2 bytes per token, each
    2(tp−1)/tp · message / 450 GB/s. A floor lets an engine overlap them perfectly with the weight read: the step
    takes the longer of the two, here the read."""
    memory_s = LLAMA_70B_READ * 2 / 2 / H100_BW
    network_s = 2 * 80 * (2 * (2 - 1) / 2 * 1 * 8192 * 2 / H100_NVLINK)
    assert network_s < memory_s
    expected_ms = max(memory_s, network_s) * 1e3
    assert float(api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "fp16", 1, 0, 2)) == pytest.approx(
        expected_ms, rel=1e-9
    )
    # at a large batch the collectives outgrow the math and the read: then the network is the floor
    b = 100_000
    step = decode_step(CAT.model("llama-3.1-8b"), CAT.accelerator("l40s"), "fp8", b, 0, 8)
    assert float(step.network_s) > max(float(step.memory_s), float(step.compute_s))
    assert float(step.total_s) == float(step.network_s)


def test_prefill_floor_70b_tp8_is_under_19_5_ms() -> None:
    """1024-token prompt of Llama-3.1-70B bf16 on 8 H100s: 2 · (M − V·h) · 1024 + 2 · V·h (the LM head for the last
    token only) + causal attention 2 · 64 · 256 · 80 · 1024·1025/2, over 8 · 989.4 TFLOP/s: 18 ms; the all-reduces
    (2 · 80 · 2·7/8 · 1024 · 8192 · 2 bytes over 450 GB/s = 10.2 ms) overlap with it."""
    p = 1024
    head = 128256 * 8192
    flops = 2 * (LLAMA_70B_MATMUL - head) * p + 2 * head + 2 * 64 * 256 * 80 * p * (p + 1) / 2
    compute_ms = flops / 8 / H100_BF16 * 1e3
    network_ms = 2 * 80 * (2 * 7 / 8 * p * 8192 * 2 / H100_NVLINK) * 1e3
    assert network_ms < compute_ms <= 19.5
    assert float(api.prefill_floor_ms("llama-3.1-70b", "h100-sxm", p, "bf16", 8)) == pytest.approx(compute_ms,
                                                                                                   rel=1e-9)


def test_decode_floor_with_batch_and_context_by_hand() -> None:
    """Batch 8 at 4096 cached tokens, bf16 on one H100: bytes = weights read + 8 gathered embedding rows + 8 · 4096 ·
    327,680; FLOPs = 8 · (2 · matmul params + 2 · 64 heads · (128 + 128) · 80 layers · 4096); memory-bound."""
    b, s = 8, 4096
    bytes_ = (LLAMA_70B_READ + 7 * 8192) * 2 + b * s * 327_680
    flops = b * (2 * LLAMA_70B_MATMUL + 2 * 64 * (128 + 128) * 80 * s)
    expected_ms = max(bytes_ / H100_BW, flops / H100_BF16) * 1e3
    assert float(api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "bf16", b, s)) == pytest.approx(expected_ms, rel=1e-9)
    model = CAT.model("llama-3.1-70b")
    assert float(decode_bytes(model, b, s)) == pytest.approx(bytes_, rel=1e-12)


def test_prefill_floor_llama_8b_by_hand() -> None:
    """4096-token prompt, bf16, one H100: FLOPs = 2 · (matmul params − LM head) · P + 2 · LM head (the first output
    token's logits) + 2 · 32 heads · (128 + 128) · 32 layers · P(P+1)/2 (causal); compute-bound, far above the
    weight read."""
    p = 4096
    head = 128256 * 4096
    flops = 2 * (LLAMA_8B_MATMUL - head) * p + 2 * head + 2 * 32 * (128 + 128) * 32 * (p * (p + 1) / 2)
    bytes_ = LLAMA_8B * 2 + p * 131_072
    assert flops / H100_BF16 > 10 * bytes_ / H100_BW
    expected_ms = flops / H100_BF16 * 1e3
    assert float(api.prefill_floor_ms("llama-3.1-8b", "h100-sxm", p)) == pytest.approx(expected_ms, rel=1e-9)


def test_strict_floors_of_the_issue() -> None:
    """The acceptance figures: a decode step of Llama-3.1-8B at batch 1 over 1536 cached tokens reads 15.0 GB of
    weights (not the 1.05 GB embedding table) and 0.2 GB of KV: ≤ 4.60 ms; a 1024-token prefill ≤ 15.2 ms."""
    read = (LLAMA_8B - 128256 * 4096 + 4096) * 2 + 1536 * 131_072
    assert float(api.decode_floor_ms("llama-3.1-8b", "h100-sxm", "bf16", 1, 1536, 1)) == pytest.approx(
        read / H100_BW * 1e3, rel=1e-9)
    assert float(api.decode_floor_ms("llama-3.1-8b", "h100-sxm", "bf16", 1, 1536, 1)) <= 4.60
    assert float(api.prefill_floor_ms("llama-3.1-8b", "h100-sxm", 1024)) <= 15.2


def test_sliding_window_caps_mistral_kv() -> None:
    """Mistral-7B v0.1: every layer slides over 4096 tokens, so a 32k sequence holds 4096 tokens of KV."""
    model = CAT.model("mistral-7b")
    per_token = 2 * 32 * 8 * 128 * 2
    assert float(kv_bytes_per_sequence(model, 2000)) == per_token * 2000
    assert float(kv_bytes_per_sequence(model, 32768)) == per_token * 4096


# -------------------------------------------------------------------------------------------------------- MoE


def _mixtral_8x7b() -> tuple[int, int]:
    """(parameters every step reads, parameters of one expert) of Mixtral-8x7B by hand: 32 layers, hidden 4096,
    32 heads / 8 KV heads of 128, a 4096 x 8 router, 8 experts of 3 x 4096 x 14336, vocab 32000."""
    layers, h, vocab = 32, 4096, 32000
    attention = h * 4096 + 2 * h * 1024 + 4096 * h
    always = layers * (attention + h * 8 + 2 * h) + h + 2 * vocab * h
    return always, 3 * h * 14336


def test_moe_batch_1_reads_exactly_the_routed_experts() -> None:
    """Mixtral-8x7B at batch 1 reads the non-expert weights plus k=2 of 8 experts in each of 32 layers."""
    always, expert = _mixtral_8x7b()
    model = CAT.model("mixtral-8x7b")
    expected = (always + 32 * 2 * expert) * 2
    assert float(step_weight_bytes(model, 1, "bf16")) == pytest.approx(expected, rel=1e-12)
    must = expected - (32000 - 1) * 4096 * 2  # the embedding table less the one row a token gathers
    assert float(decode_bytes(model, 1, 0, "bf16")) == pytest.approx(must, rel=1e-12)
    assert weight_bytes(model, "bf16") == pytest.approx((always + 32 * 8 * expert) * 2, rel=1e-12)
    # the floor is that read over the bandwidth: 12.8B of 46.7B parameters
    floor = float(api.decode_floor_ms("mixtral-8x7b", "h100-sxm", "bf16"))
    assert floor == pytest.approx(must / H100_BW * 1e3, rel=1e-9)


def test_deepseek_batch_1_leaves_the_unrouted_experts_unread() -> None:
    """DeepSeek-V3 at batch 1: of 256 routed experts (3 · 7168 · 2048 each) in 58 MoE layers, 248 are not read."""
    model = CAT.model("deepseek-v3")
    unread = 58 * (256 - 8) * 3 * 7168 * 2048
    total_b = weight_bytes(model, "fp8")
    assert total_b - float(step_weight_bytes(model, 1, "fp8")) == pytest.approx(unread, rel=1e-12)


@needs_models_csv
def test_moe_batch_1_bytes_equal_the_active_parameters_of_models_csv() -> None:
    moe_rows = [r for r in MODEL_ROWS if r["num_experts"]]
    assert len(moe_rows) >= 7
    for row in moe_rows:
        model = _model_for_row(row)
        read = float(step_weight_bytes(model, 1, "fp8")) / 1e9
        assert read == pytest.approx(float(row["active_params_computed_B"]), rel=1e-3), row["id"]
        assert read < 0.5 * weight_bytes(model, "fp8") / 1e9


@pytest.mark.parametrize(("ident", "experts", "k"), [("mixtral-8x7b", 8, 2), ("deepseek-v3", 256, 8),
                                                    ("qwen3-30b-a3b", 128, 8), ("gpt-oss-120b", 128, 4)])
def test_expert_coverage_formula(ident: str, experts: int, k: int) -> None:
    """Expected distinct experts per layer that B tokens route to: E·(1 − (1 − k/E)^B); k at B=1, all E at large B."""
    model = CAT.model(ident)
    for b in (1, 2, 3, 16, 64, 256):
        assert float(experts_touched(model, b)) == pytest.approx(experts * (1 - (1 - k / experts) ** b), rel=1e-9)
    assert float(experts_touched(model, 1)) == pytest.approx(k, rel=1e-12)
    assert float(experts_touched(model, 100_000)) == pytest.approx(experts, rel=1e-9)
    # at a large batch every expert is read: the step reads all the weights
    assert float(step_weight_bytes(model, 100_000)) == pytest.approx(weight_bytes(model), rel=1e-9)
    touched = experts_touched(model, np.arange(1, 2000))
    assert np.all(np.diff(touched) >= 0)
    assert np.all(touched <= experts)


def test_dense_model_touches_no_experts() -> None:
    model = CAT.model("llama-3.1-8b")
    assert float(experts_touched(model, 64)) == 0.0
    assert float(step_weight_bytes(model, 64)) == weight_bytes(model)


# -------------------------------------------------------------------------------------------- monotonicity


@st.composite
def setups(draw: st.DrawFn) -> tuple[str, str, str, int, int, int]:
    model = draw(st.sampled_from(MODELS))
    acc_id = draw(st.sampled_from(ACCELERATORS))
    dtype = draw(st.sampled_from(["bf16", "fp8", "int4"]))
    batch = draw(st.integers(1, 4096))
    context = draw(st.integers(0, 200_000))
    tp = draw(st.sampled_from(tp_choices(CAT.model(model), CAT.accelerator(acc_id))[:4]))
    return model, acc_id, dtype, batch, context, tp


@SETTINGS
@given(setup=setups(), factor=st.floats(1.0, 20.0))
def test_more_bandwidth_is_never_slower(setup: tuple[str, str, str, int, int, int], factor: float) -> None:
    ident, acc_id, dtype, batch, context, tp = setup
    model, acc = CAT.model(ident), CAT.accelerator(acc_id)
    faster: Accelerator = acc.model_copy(update={"memory_bandwidth_tbs": acc.memory_bandwidth_tbs * factor})
    for fn in (decode_floor_ms, decode_ms):
        slow = float(fn(model, acc, dtype, batch, context, tp))
        fast = float(fn(model, faster, dtype, batch, context, tp))
        assert fast <= slow * (1 + 1e-12)
    assert float(prefill_floor_ms(model, faster, max(context, 1), dtype, tp)) <= float(
        prefill_floor_ms(model, acc, max(context, 1), dtype, tp)
    ) * (1 + 1e-12)


@SETTINGS
@given(setup=setups(), factor=st.floats(1.0, 20.0))
def test_more_compute_is_never_slower(setup: tuple[str, str, str, int, int, int], factor: float) -> None:
    ident, acc_id, dtype, batch, context, tp = setup
    model, acc = CAT.model(ident), CAT.accelerator(acc_id)
    peaks = {d: v * factor for d, v in acc.dense_peak_tflops.items()}
    faster: Accelerator = acc.model_copy(update={"dense_peak_tflops": peaks})
    assert float(decode_floor_ms(model, faster, dtype, batch, context, tp)) <= float(
        decode_floor_ms(model, acc, dtype, batch, context, tp)
    ) * (1 + 1e-12)


@SETTINGS
@given(ident=st.sampled_from(MODELS), dtype=st.sampled_from(["bf16", "fp8", "int4"]),
       b1=st.integers(1, 100_000), extra=st.integers(0, 100_000), context=st.integers(0, 500_000))
def test_more_batch_never_lowers_intensity(ident: str, dtype: str, b1: int, extra: int, context: int) -> None:
    model = CAT.model(ident)
    low = float(decode_intensity(model, b1, dtype, context))
    high = float(decode_intensity(model, b1 + extra, dtype, context))
    assert high >= low * (1 - 1e-12)


@SETTINGS
@given(setup=setups(), extra=st.integers(0, 10_000))
def test_more_batch_never_makes_a_step_faster(setup: tuple[str, str, str, int, int, int], extra: int) -> None:
    ident, acc_id, dtype, batch, context, tp = setup
    model, acc = CAT.model(ident), CAT.accelerator(acc_id)
    for fn in (decode_floor_ms, decode_ms):
        assert float(fn(model, acc, dtype, batch + extra, context, tp)) >= float(
            fn(model, acc, dtype, batch, context, tp)
        ) * (1 - 1e-12)


@SETTINGS
@given(ident=st.sampled_from(MODELS), kv_dtype=st.sampled_from(["bf16", "fp8"]),
       s1=st.integers(0, 1_000_000), extra=st.integers(0, 1_000_000), batch=st.integers(1, 512))
def test_more_context_never_less_kv(ident: str, kv_dtype: str, s1: int, extra: int, batch: int) -> None:
    model = CAT.model(ident)
    more, less = kv_bytes_per_sequence(model, s1 + extra, kv_dtype), kv_bytes_per_sequence(model, s1, kv_dtype)
    assert float(more) >= float(less)
    assert float(decode_bytes(model, batch, s1 + extra, "bf16", kv_dtype)) >= float(
        decode_bytes(model, batch, s1, "bf16", kv_dtype)
    )
    # never more than every token in every layer
    assert float(kv_bytes_per_sequence(model, s1, kv_dtype)) <= kv_bytes_per_token(model, kv_dtype) * s1 + 1e-6


@SETTINGS
@given(setup=setups())
def test_more_tp_never_more_bytes_per_gpu(setup: tuple[str, str, str, int, int, int]) -> None:
    ident, acc_id, dtype, batch, context, _ = setup
    model, acc = CAT.model(ident), CAT.accelerator(acc_id)
    tps = np.array(tp_choices(model, acc)[:5], dtype=float)
    per_gpu = decode_step(model, acc, dtype, batch, context, tps).bytes_per_gpu
    assert np.all(np.diff(per_gpu) <= 1e-6 * per_gpu[:-1])
    flops = decode_step(model, acc, dtype, batch, context, tps).flops_per_gpu
    assert np.all(np.diff(flops) <= 0)


@SETTINGS
@given(setup=setups())
def test_floor_never_exceeds_expected(setup: tuple[str, str, str, int, int, int]) -> None:
    ident, acc_id, dtype, batch, context, tp = setup
    model, acc = CAT.model(ident), CAT.accelerator(acc_id)
    assert float(decode_floor_ms(model, acc, dtype, batch, context, tp)) <= float(
        decode_ms(model, acc, dtype, batch, context, tp)
    )
    prompt = max(context, 1)
    assert float(prefill_floor_ms(model, acc, prompt, dtype, tp)) <= float(
        prefill_step(model, acc, prompt, dtype, tp, eff=expected_efficiency(acc.id)).total_ms
    )


def test_floor_never_exceeds_expected_on_a_grid() -> None:
    """Every model × accelerator × dtype at a few batches, contexts and every tp the accelerator allows (to 8)."""
    batch = np.array([1, 8, 64, 512], dtype=float)[:, None]
    context = np.array([0, 1024, 32768], dtype=float)[None, :]
    for ident in MODELS:
        for acc_id in ACCELERATORS:
            acc, model = CAT.accelerator(acc_id), CAT.model(ident)
            for tp in tp_choices(model, acc)[:4]:
                for dtype in ("bf16", "fp8"):
                    floor = decode_floor_ms(model, acc, dtype, batch, context, tp)
                    expected = decode_ms(model, acc, dtype, batch, context, tp)
                    assert floor.shape == expected.shape == (4, 3)
                    assert np.all(floor <= expected), (ident, acc_id, tp, dtype)
                    assert np.all(floor > 0)


@needs_silicon_csv
def test_floors_never_exceed_real_measurements() -> None:
    """silicon.csv holds TTFT/TPOT measured on H100/H200/B200/GB200 with TensorRT-LLM, vLLM and SGLang. For the dense
    Llama rows (plain tensor parallelism, no attention data parallelism), the batch-1 decode floor is at most the
    measured TPOT and the one-prompt prefill floor at most the measured TTFT."""
    systems = {"h100_sxm": "h100-sxm", "h200_sxm": "h200-sxm", "b200_sxm": "b200", "gb200": "gb200"}
    checked = 0
    for row in _rows("silicon.csv"):
        if row["system"] not in systems or not row["precision"] or "llama" not in row["model_path"].lower():
            continue
        if row["attention_dp_size"] not in ("", "1") or row["pp_size"] != "1":
            continue
        gpu, tp = systems[row["system"]], int(row["tp_size"])
        decode = float(api.decode_floor_ms(row["model_path"], gpu, row["precision"], 1, 0, tp))
        prefill = float(api.prefill_floor_ms(row["model_path"], gpu, int(row["isl"]), row["precision"], tp))
        assert decode <= float(row["silicon_tpot_ms"]), row["id"]
        assert prefill <= float(row["silicon_ttft_ms"]), row["id"]
        checked += 1
    assert checked >= 100


# ------------------------------------------------------------------------------------------ vectorization


def test_vectorized_call_equals_elementwise_scalar_calls() -> None:
    batch = np.array([[1], [3], [64], [700]], dtype=float)
    context = np.array([[0, 100, 8192, 131072]], dtype=float)
    for tp in (1, 4):
        table = api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "fp8", batch, context, tp)
        expected_table = api.decode_ms("llama-3.1-70b", "h100-sxm", "fp8", batch, context, tp)
        assert table.shape == (4, 4)
        for i in range(4):
            for j in range(4):
                b, s = float(batch[i, 0]), float(context[0, j])
                assert table[i, j] == pytest.approx(float(api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "fp8", b, s,
                                                                              tp)), rel=1e-12)
                assert expected_table[i, j] == pytest.approx(
                    float(api.decode_ms("llama-3.1-70b", "h100-sxm", "fp8", b, s, tp)), rel=1e-12
                )


def test_vectorized_over_tp_and_moe_batch() -> None:
    tps = np.array([1, 2, 4, 8], dtype=float)
    batches = np.array([1, 5, 50, 500], dtype=float)
    row = api.decode_floor_ms("deepseek-v3", "h200-sxm", "fp8", batches, 2048, tps)
    for t, b, value in zip(tps, batches, row, strict=True):
        assert value == pytest.approx(float(api.decode_floor_ms("deepseek-v3", "h200-sxm", "fp8", b, 2048, t)),
                                      rel=1e-12)
    prompts = np.array([1, 128, 4096, 32768], dtype=float)
    pre = api.prefill_floor_ms("qwen3-30b-a3b", "h100-sxm", prompts, "bf16", 2)
    for p, value in zip(prompts, pre, strict=True):
        assert value == pytest.approx(float(api.prefill_floor_ms("qwen3-30b-a3b", "h100-sxm", p, "bf16", 2)),
                                      rel=1e-12)
    inten = api.decode_intensity("mixtral-8x7b", batches, "bf16", 1000)
    for b, value in zip(batches, inten, strict=True):
        assert value == pytest.approx(float(api.decode_intensity("mixtral-8x7b", b, "bf16", 1000)), rel=1e-12)
    cross = api.crossover_batch("llama-3.1-8b", "h100-sxm", "bf16", np.array([0, 512, 4096], dtype=float))
    for s, value in zip((0, 512, 4096), cross, strict=True):
        assert value == float(api.crossover_batch("llama-3.1-8b", "h100-sxm", "bf16", s))


def test_excel_functions_give_the_acceptance_numbers() -> None:
    """The Excel face returns the same numbers as the hand arithmetic above (scalar in, scalar out)."""
    assert udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100-sxm", "fp16") == pytest.approx(
        LLAMA_70B_READ * 2 / H100_BW * 1e3, rel=1e-9)
    assert udfs.RIDGE_INTENSITY("h100-sxm") == pytest.approx(H100_BF16 / H100_BW, rel=1e-12)
    assert udfs.DECODE_INTENSITY("llama-3.1-70b") == pytest.approx(LLAMA_70B_MATMUL / LLAMA_70B_READ, rel=1e-12)
    assert udfs.KV_BYTES_PER_TOKEN("llama-3.1-70b") == 327_680
    assert udfs.KV_BYTES_PER_TOKEN("deepseek-v3") == 70_272
    assert udfs.CROSSOVER_BATCH("llama-3.1-70b", "h100-sxm") == 296
    assert udfs.WEIGHT_GB("llama-3.1-70b", "fp16") == pytest.approx(LLAMA_70B * 2 / 1e9, rel=1e-12)


def test_excel_range_returns_the_same_shape() -> None:
    column = udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", None, [[1], [2], [4]])
    assert isinstance(column, list) and len(column) == 3 and all(len(r) == 1 for r in column)
    for (value,), b in zip(column, (1, 2, 4), strict=True):
        assert value == pytest.approx(udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", None, b), rel=1e-12)


# --------------------------------------------------------------------------------------------------- prefill


@pytest.mark.parametrize("ident", MODELS)
def test_prefill_is_compute_bound_for_long_prompts(ident: str) -> None:
    model, acc = CAT.model(ident), CAT.accelerator("h100-sxm")
    long = prefill_step(model, acc, 8192, "bf16")
    assert float(long.compute_s) > float(long.memory_s)
    # and a one-token "prefill" is a decode step: bandwidth-bound (the opposite profile)
    short = prefill_step(model, acc, 1, "bf16")
    assert float(short.memory_s) > float(short.compute_s)


@pytest.mark.parametrize("acc_id", ACCELERATORS)
def test_prefill_is_compute_bound_on_every_accelerator(acc_id: str) -> None:
    step = prefill_step(CAT.model("llama-3.1-8b"), CAT.accelerator(acc_id), 8192, "bf16")
    assert float(step.compute_s) > float(step.memory_s)


# ------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"batch": 0}, "batch"),
        ({"batch": -4}, "batch"),
        ({"batch": float("nan")}, "batch"),
        ({"batch": float("inf")}, "batch"),
        ({"batch": 1.5}, "batch"),
        ({"batch": "ten"}, "batch"),
        ({"batch": True}, "batch"),
        ({"batch": []}, "batch"),
        ({"context_tokens": -1}, "context_tokens"),
        ({"context_tokens": float("nan")}, "context_tokens"),
        ({"tp": 0}, "tp"),
        ({"tp": 16}, "tp"),
        ({"dtype": "fp7"}, "dtype"),
        ({"dtype": 16}, "dtype"),
    ],
)
def test_bad_numbers_are_planner_errors_naming_the_argument(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(PlannerError) as err:
        api.decode_floor_ms("llama-3.1-70b", "h100-sxm", **kwargs)  # type: ignore[arg-type]
    assert name in str(err.value)


@pytest.mark.parametrize("prompt", [0, -1, float("nan"), "long", None])
def test_bad_prompt_is_a_planner_error(prompt: object) -> None:
    with pytest.raises(PlannerError, match="prompt_tokens"):
        api.prefill_floor_ms("llama-3.1-8b", "h100-sxm", prompt)


def test_bad_array_element_is_named() -> None:
    with pytest.raises(PlannerError, match="batch"):
        api.decode_floor_ms("llama-3.1-70b", "h100-sxm", "bf16", np.array([1.0, 2.0, -3.0]))


def test_excel_range_with_an_empty_cell_is_named() -> None:
    with pytest.raises(PlannerError, match="batch"):
        udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100-sxm", None, [[1], [None], [4]])
