"""The five walls: each binds in at least one realistic, documented scenario, and every plan's utilizations are sane.

Each scenario's docstring says what is being planned and why that wall binds, with the hand arithmetic that shows it
(H100 SXM: 80 GB, 3.35 TB/s, 989.4 dense bf16 TFLOP/s; L40S: 48 GB, 0.864 TB/s, 733 fp8 TFLOP/s, PCIe Gen4 at 32 GB/s
per direction; 10% of HBM reserved).
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import udfs
from planner import api
from planner import walls as W
from planner.catalogue import builtin_catalogue
from planner.errors import PlannerError
from planner.plan import PlanResult, evaluate
from planner.spec import default_spec, spec_from_data

CAT = builtin_catalogue()
WALL_NAMES = {"memory capacity", "memory bandwidth", "compute", "network", "budget"}


def dense_gqa_params(layers: int, hidden: int, inter: int, heads: int, kv_heads: int, head_dim: int,
                     vocab: int) -> int:
    q, kv = heads * head_dim, kv_heads * head_dim
    per_layer = hidden * q + 2 * hidden * kv + q * hidden + 3 * hidden * inter + 2 * hidden
    return layers * per_layer + hidden + 2 * vocab * hidden


LLAMA_8B = dense_gqa_params(32, 4096, 14336, 32, 8, 128, 128256)
LLAMA_70B = dense_gqa_params(80, 8192, 28672, 64, 8, 128, 128256)
LLAMA_405B = dense_gqa_params(126, 16384, 53248, 128, 8, 128, 128256)
KV_70B = 2 * 80 * 8 * 128 * 2


def plan(**overrides: Any) -> PlanResult:
    data: dict[str, Any] = {"model": "llama-3.1-70b", "accelerator": "h100-sxm", "qps": 10, "input_tokens": 1024,
                            "output_tokens": 256, "ttft_slo_ms": 2000, "tpot_slo_ms": 100}
    data.update(overrides)
    return evaluate(spec_from_data(data))


def assert_sane(result: PlanResult) -> None:
    """Utilizations are demand ÷ capacity: finite and non-negative; the three resource walls are shares of the
    replica's busy time (max(bandwidth, compute) + network <= 1: memory traffic and math overlap, collectives do not);
    memory capacity is at most 1 whenever a sequence fits."""
    u = result.walls.utilization
    assert set(u) == WALL_NAMES
    assert result.binding_wall in WALL_NAMES
    assert result.walls.next is None or (result.walls.next in WALL_NAMES and result.walls.next != result.binding_wall)
    for wall, value in u.items():
        if value is None:
            assert wall == "budget"
            continue
        assert math.isfinite(value) and value >= 0, (wall, value)
        assert result.walls.headroom(wall) == pytest.approx(1 - value)
    for wall in ("memory bandwidth", "compute", "network"):
        assert u[wall] is not None and u[wall] <= 1 + 1e-9  # type: ignore[operator]
    assert max(u["memory bandwidth"], u["compute"]) + u["network"] <= 1 + 1e-9  # type: ignore[operator,type-var]
    if result.values["max_batch_memory"] >= 1:
        assert u["memory capacity"] <= 1 + 1e-9  # type: ignore[operator]
        assert result.values["batch"] <= result.values["max_batch_memory"]
    if result.spec.budget_usd_month is None:
        assert u["budget"] is None
    assert result.walls.reason.strip()
    assert result.walls.advice and all(tip.strip() for tip in result.walls.advice)


# ---------------------------------------------------------------------------------------------------- scenarios


def test_memory_capacity_binds_405b_bf16_on_one_h100() -> None:
    """Llama-3.1-405B in bf16 on a single H100: 811.7 GB of weights against 72 GB usable (80 GB less the 10%
    reserve). Nothing else matters until the weights fit: memory capacity binds, no batch, no replica count."""
    weights = LLAMA_405B * 2
    assert weights > 0.9 * 80e9
    result = plan(model="llama-3.1-405b", dtype="bf16", tp=1)
    assert result.binding_wall == "memory capacity"
    assert result.values["max_batch_memory"] == 0
    assert result.replicas is None and not result.feasible
    assert result.walls.utilization["memory capacity"] == pytest.approx((weights + 0.1 * 80e9) / 80e9, rel=1e-9)
    assert_sane(result)


def test_memory_capacity_binds_when_long_contexts_cap_the_batch() -> None:
    """Llama-3.1-70B fp8 on 4 H100s, 32k-token documents with 1k-token answers, a loose 100 ms TPOT. Each sequence
    holds 327,680 · 33,000 / 4 = 2.7 GB of KV per GPU and only 72 − 17.6 = 54.4 GB is free, so 20 sequences fit
    while the TPOT SLO would allow far more: the KV cache (memory capacity) caps the batch."""
    free = 0.9 * 80e9 - LLAMA_70B / 4
    cap = math.floor(free / (KV_70B * 33_000 / 4))
    assert cap == 20
    result = plan(dtype="fp8", tp=4, qps=20, input_tokens=32_000, output_tokens=1_000, ttft_slo_ms=10_000,
                  tpot_slo_ms=100)
    assert result.binding_wall == "memory capacity"
    assert result.values["max_batch_memory"] == cap
    assert result.values["batch"] == cap
    assert result.values["batch_slo"] > cap
    assert "KV" in result.walls.reason
    assert_sane(result)


def test_memory_bandwidth_binds_70b_bf16_tp2_with_a_tight_tpot() -> None:
    """Llama-3.1-70B bf16 on 2 H100s with a 20 ms TPOT (an interactive product wanting 50 tokens/s per user). Each
    decode step must read 141.1 / 2 = 70.6 GB per GPU: at 3.35 TB/s that alone is 21.1 ms even at batch 1 with no
    overheads, so no batch meets the SLO, and the step is almost all byte traffic: memory bandwidth binds."""
    floor_ms = LLAMA_70B * 2 / 2 / 3.35e12 * 1e3
    compute_ms = 2 * (LLAMA_70B - 128256 * 8192) / 2 / 989.4e12 * 1e3
    assert floor_ms > 20 and compute_ms < 0.01 * floor_ms
    result = plan(dtype="bf16", tp=2, tpot_slo_ms=20)
    assert result.binding_wall == "memory bandwidth"
    assert result.values["batch_slo"] == 0
    assert_sane(result)


def test_memory_bandwidth_binds_when_the_tpot_slo_limits_the_batch() -> None:
    """Llama-3.1-70B bf16 on 2 H200s (141 GB each: 537 sequences fit), short prompts and long answers (128 in, 512
    out), TPOT SLO 20% above the expected batch-1 step. The SLO, not memory, limits the batch, and at that batch each
    step still streams 70.6 GB of weights per GPU plus the batch's KV: the bytes take longer than the math
    (B · 69.5 GFLOP per GPU at 989.4 TFLOP/s), so memory bandwidth is the busiest resource and binds."""
    kwargs: dict[str, Any] = {"accelerator": "h200-sxm", "dtype": "bf16", "tp": 2, "input_tokens": 128,
                              "output_tokens": 512}
    tpot_b1 = plan(**kwargs).values["tpot_b1_ms"]
    assert tpot_b1 > LLAMA_70B * 2 / 2 / 4.8e12 * 1e3  # the expected step is above the floor
    result = plan(**kwargs, tpot_slo_ms=1.2 * tpot_b1)
    assert result.binding_wall == "memory bandwidth"
    cap = math.floor((0.9 * 141e9 - LLAMA_70B) / (KV_70B * 640 / 2))
    assert result.values["max_batch_memory"] == cap
    b = result.values["batch"]
    assert 1 <= b < cap
    memory_s = (LLAMA_70B * 2 / 2 + b * KV_70B * (128 + 256) / 2) / 4.8e12
    compute_s = b * 2 * (LLAMA_70B - 128256 * 8192) / 2 / 989.4e12
    assert memory_s > compute_s
    u = result.walls.utilization
    assert u["memory bandwidth"] > max(u["compute"], u["network"])  # type: ignore[type-var]
    assert_sane(result)


def test_compute_binds_8b_with_32k_prompts_and_a_tight_ttft() -> None:
    """Llama-3.1-8B answering over 32k-token prompts (RAG) with a 300 ms TTFT on one H100. The prefill is
    2 · 7.5e9 · 32,768 matmul FLOPs plus causal attention 2 · 32 · 256 · 32 · 32,768² / 2: 7.7e14 FLOPs, 0.78 s at
    989.4 TFLOP/s before any efficiency loss, while its bytes (16 GB of weights + 4.3 GB of KV) take 6 ms: the
    prefill is compute-bound and misses the TTFT SLO, so compute binds."""
    p = 32_768
    flops = 2 * (LLAMA_8B - 128256 * 4096) * p + 2 * 32 * (128 + 128) * 32 * p * (p + 1) / 2
    compute_s, memory_s = flops / 989.4e12, (LLAMA_8B * 2 + 131_072 * p) / 3.35e12
    assert compute_s > 0.3 and memory_s < 0.01 * compute_s
    result = plan(model="llama-3.1-8b", tp=1, input_tokens=p, output_tokens=128, ttft_slo_ms=300, tpot_slo_ms=100)
    assert result.binding_wall == "compute"
    assert result.values["ttft_ms"] > 300
    assert result.values["prefill_floor_ms"] == pytest.approx(compute_s * 1e3, rel=1e-6)
    assert_sane(result)


def test_network_binds_70b_fp8_on_eight_pcie_only_l40s() -> None:
    """Llama-3.1-70B fp8 on 8 L40S (48 GB, no NVLink: tensor parallelism all-reduces over PCIe Gen4 at 32 GB/s per
    direction), short chat turns (128 in, 256 out), TPOT 100 ms. Per token each decode step all-reduces
    2 · 80 layers · 2·7/8 · 8192 · 2 bytes over 32 GB/s = 143 us, against 24 us of fp8 math and ~12 us of KV reads
    per GPU: once the batch amortizes the weight read, the links are the busiest resource: network binds."""
    network_per_token = 2 * 80 * (2 * 7 / 8 * 8192 * 2 / 32e9)
    compute_per_token = 2 * (LLAMA_70B - 128256 * 8192) / 8 / 733e12
    kv_per_token = KV_70B * 256 / 8 / 0.864e12
    assert network_per_token > 3 * compute_per_token and network_per_token > 3 * kv_per_token
    result = plan(accelerator="l40s", dtype="fp8", tp=8, input_tokens=128, output_tokens=256, tpot_slo_ms=100)
    assert result.binding_wall == "network"
    u = result.walls.utilization
    assert u["network"] > max(u["memory bandwidth"], u["compute"])  # type: ignore[type-var]
    assert any("PCIe" in tip or "tp" in tip for tip in result.walls.advice)
    assert_sane(result)


def test_network_share_is_larger_over_pcie_than_over_nvlink() -> None:
    """The contrast: the same 70B fp8 tp=8 plan on H100s all-reduces over NVLink at 450 GB/s per direction, 14x
    PCIe Gen4: the links take a smaller share of the replica's time than on the L40S."""
    kwargs: dict[str, Any] = {"dtype": "fp8", "tp": 8, "input_tokens": 128, "output_tokens": 256, "tpot_slo_ms": 100}
    pcie, nvlink = plan(accelerator="l40s", **kwargs), plan(accelerator="h100-sxm", **kwargs)
    assert pcie.walls.utilization["network"] > nvlink.walls.utilization["network"]  # type: ignore[operator]
    assert_sane(nvlink)


def test_budget_binds_the_default_plan_with_a_tiny_budget() -> None:
    """The embedded default (70B fp8 chat on 4 H100s, 20 requests/s) needs whole replicas of 4 GPUs at $3/GPU-hour,
    730 hours a month: with a $1,000 monthly budget the money runs out long before any hardware limit."""
    spec = default_spec().model_copy(update={"budget_usd_month": 1000.0})
    result = evaluate(spec)
    assert result.binding_wall == "budget"
    replicas = result.values["replicas"]
    assert isinstance(replicas, int) and replicas >= 1
    price = CAT.accelerator("h100-sxm").usd_per_gpu_hour
    assert price == pytest.approx(3.0)
    cost = replicas * 4 * price * 730
    assert result.values["usd_month"] == pytest.approx(cost, rel=1e-12)
    assert result.walls.utilization["budget"] == pytest.approx(cost / 1000, rel=1e-12)
    assert not result.feasible
    assert_sane(result)


def test_budget_uses_the_spec_price_override() -> None:
    spec = default_spec().model_copy(update={"budget_usd_month": 1000.0, "usd_per_gpu_hour": 2.5})
    result = evaluate(spec)
    assert result.values["usd_month"] == pytest.approx(result.values["replicas"] * 4 * 2.5 * 730, rel=1e-12)


def test_each_of_the_five_walls_binds_somewhere() -> None:
    bound = {
        plan(model="llama-3.1-405b", dtype="bf16", tp=1).binding_wall,
        plan(dtype="bf16", tp=2, tpot_slo_ms=20).binding_wall,
        plan(model="llama-3.1-8b", tp=1, input_tokens=32_768, output_tokens=128, ttft_slo_ms=300).binding_wall,
        plan(accelerator="l40s", dtype="fp8", tp=8, input_tokens=128, output_tokens=256).binding_wall,
        evaluate(default_spec().model_copy(update={"budget_usd_month": 1000.0})).binding_wall,
    }
    assert bound == WALL_NAMES


def test_binding_wall_through_the_public_functions() -> None:
    """BINDING_WALL(model, gpu, qps, input, output, ttft, tpot, [budget], [dtype], [tp])."""
    assert api.binding_wall("llama-3.1-405b", "h100", 1, 1024, 256, 2000, 100, None, "bf16", 1) == "memory capacity"
    assert api.binding_wall("llama-3.1-70b", "l40s", 10, 128, 256, 2000, 100, None, "fp8", 8) == "network"
    assert udfs.BINDING_WALL("llama-3.1-8b", "H100", 10, 32768, 128, 300, 100, None, None, 1) == "compute"


# ------------------------------------------------------------------------------------------------- sanity, grid


@pytest.mark.parametrize("model", ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v3",
                                   "gpt-oss-120b", "gemma-2-27b"])
@pytest.mark.parametrize("acc", ["h100-sxm", "l40s", "mi300x", "b200", "tpu-v6e"])
@pytest.mark.parametrize("shape", [(128, 64, 500, 30), (2048, 512, 3000, 60), (16000, 256, 20000, 200)])
def test_utilizations_are_sane_everywhere(model: str, acc: str, shape: tuple[int, int, int, int]) -> None:
    inp, out, ttft, tpot = shape
    kwargs = dict(model=model, accelerator=acc, dtype="fp8" if acc != "tpu-v6e" else "bf16", qps=5, input_tokens=inp,
                  output_tokens=out, ttft_slo_ms=ttft, tpot_slo_ms=tpot, budget_usd_month=100_000)
    window = builtin_catalogue().model(model).max_context_tokens
    if window is not None and inp + out > window:  # beyond the model's context: refused, naming the window
        with pytest.raises(PlannerError, match="context window"):
            plan(**kwargs)
        return
    result = plan(**kwargs)
    assert_sane(result)
    if result.replicas is not None:
        # replicas = ceil(qps / requests per second one replica serves); GPUs = replicas · tp
        v = result.values
        assert result.replicas == max(1, math.ceil(5 / v["replica_rps"] - 1e-9))
        assert v["gpus"] == result.replicas * result.tp
        assert v["usd_month"] == pytest.approx(v["gpus"] * v["usd_per_gpu_hour"] * 730, rel=1e-12)


def test_default_plan_is_sane() -> None:
    result = evaluate(default_spec())
    assert_sane(result)
    assert result.tp == 4
    # fp8 weights and fp8 KV: (72 − 70.55 / 4) GB / (163,840 · 1280 / 4 bytes) = 1036 sequences per replica
    assert result.spec.kv_dtype == "fp8"
    assert result.values["max_batch_memory"] == math.floor((0.9 * 80e9 - LLAMA_70B / 4) / (KV_70B / 2 * 1280 / 4))
    assert result.values["max_batch_memory"] == 1036


def test_dominant_breaks_ties_toward_the_earlier_wall() -> None:
    assert W.dominant({"memory bandwidth": 1.0, "compute": 1.0, "network": 1.0}) == "memory bandwidth"
    assert W.dominant({"memory bandwidth": 0.1, "compute": 0.5, "network": 0.5}) == "compute"
    assert W.dominant({"network": 0.2}) == "network"


def test_next_wall_is_the_busiest_other() -> None:
    u: dict[str, float | None] = {"memory capacity": 0.5, "memory bandwidth": 0.9, "compute": 0.3, "network": 0.1,
                                  "budget": None}
    assert W.next_wall(u, "memory bandwidth") == "memory capacity"
    assert W.next_wall(u, "memory capacity") == "memory bandwidth"


def test_unknown_ids_in_a_plan_are_planner_errors() -> None:
    with pytest.raises(PlannerError, match=r"llama-3\.1-70b"):
        plan(model="llama-3.1-70c")
    with pytest.raises(PlannerError, match="h100"):
        plan(accelerator="h100-sxn")


def test_budget_without_a_price_is_a_planner_error() -> None:
    """Gaudi 3 has no catalogue price: a budget cannot be checked without usd_per_gpu_hour."""
    with pytest.raises(PlannerError, match="usd_per_gpu_hour"):
        plan(accelerator="gaudi3", dtype="bf16", budget_usd_month=10_000)
    result = plan(accelerator="gaudi3", dtype="bf16", budget_usd_month=10_000, usd_per_gpu_hour=2.0)
    assert_sane(result)


def test_tp_beyond_the_scaleup_domain_is_a_planner_error() -> None:
    with pytest.raises(PlannerError, match="tp"):
        plan(tp=16)
