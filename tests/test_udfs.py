"""Every Excel function with good input: values checked against the planning core (planner.roofline, topology,
plan) or against independent arithmetic on catalogue numbers; the pinned signatures of DESIGN.md; the docs a
planner sees in Excel."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest
from _udfs_cases import GOOD, M70, PLAN, assert_clean, params

import udfs
from planner import api, report, roofline, topology
from planner.catalogue import get_catalogue
from planner.efficiency import expected_efficiency, memory_reserve_fraction
from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import PlanSpec
from planner.units import DTYPES
from udfs import _xw

CAT = get_catalogue()
H100 = CAT.accelerator("h100-sxm")
L70 = CAT.model(M70)
DSV3 = CAT.model("deepseek-v3")


def rel(a: float, b: float, tol: float = 1e-12) -> bool:
    return math.isclose(a, b, rel_tol=tol, abs_tol=0.0)


def spec(**over: object) -> PlanSpec:
    data = {"model": M70, "accelerator": "h100", "qps": 20.0, "input_tokens": 1024, "output_tokens": 256,
            "ttft_slo_ms": 1000.0, "tpot_slo_ms": 50.0, **over}
    return PlanSpec(**data)


# ------------------------------------------------------------------------------------------------- the surface


def test_every_function_has_a_good_case_and_at_least_25_functions():
    assert len(udfs.__all__) >= 25
    assert len(set(udfs.__all__)) == len(udfs.__all__)
    assert set(GOOD) == set(udfs.__all__)


@pytest.mark.parametrize("name", udfs.__all__)
def test_good_call_gives_a_clean_cell_value(name):
    assert_clean(getattr(udfs, name)(*GOOD[name]))


def test_from_udfs_import_works_and_functions_are_plain_callables():
    from udfs import BINDING_WALL, DECODE_FLOOR_MS  # noqa: F401

    for name in udfs.__all__:
        assert callable(getattr(udfs, name))
        assert getattr(udfs, name).__name__ == name


PINNED = {
    # DESIGN.md "Excel functions (the public surface)": names, argument order, defaults (None: no default value)
    "DECODE_FLOOR_MS": [("model",), ("gpu",), ("dtype", "bf16"), ("batch", 1), ("context_tokens", 0), ("tp", 1)],
    "PREFILL_FLOOR_MS": [("model",), ("gpu",), ("prompt_tokens",), ("dtype", "bf16"), ("tp", 1)],
    "DECODE_MS": [("model",), ("gpu",), ("dtype", "bf16"), ("batch", 1), ("context_tokens", 0), ("tp", 1)],
    "PREFILL_MS": [("model",), ("gpu",), ("prompt_tokens",), ("dtype", "bf16"), ("tp", 1)],
    "RIDGE_INTENSITY": [("gpu",), ("dtype", "bf16")],
    "DECODE_INTENSITY": [("model",), ("batch", 1), ("dtype", "bf16"), ("context_tokens", 0)],
    "CROSSOVER_BATCH": [("model",), ("gpu",), ("dtype", "bf16"), ("context_tokens", 0)],
    "WEIGHT_GB": [("model",), ("dtype", "bf16")],
    "KV_BYTES_PER_TOKEN": [("model",), ("kv_dtype", "bf16")],
    "MAX_BATCH": [("model",), ("gpu",), ("context_tokens",), ("dtype", "bf16"), ("tp", 1)],
    "MAX_TOKENS_PER_SEC": [("model",), ("gpu",), ("input_tokens",), ("output_tokens",), ("dtype", "bf16"),
                           ("tp", 1)],
    "BINDING_WALL": [("model",), ("gpu",), ("qps",), ("input_tokens",), ("output_tokens",), ("ttft_slo_ms",),
                     ("tpot_slo_ms",), ("budget_usd_month", None), ("dtype", "bf16"), ("tp", None)],
    "TPOT_MS": [("model",), ("gpu",), ("concurrency",), ("input_tokens",), ("output_tokens",), ("dtype", "bf16"),
                ("tp", 1), ("kv_dtype", "bf16"), ("engine", None)],
    "TTFT_MS": [("model",), ("gpu",), ("concurrency",), ("input_tokens",), ("output_tokens",), ("dtype", "bf16"),
                ("tp", 1), ("kv_dtype", "bf16"), ("engine", None)],
}
KV_DEPENDENT = {"DECODE_FLOOR_MS", "PREFILL_FLOOR_MS", "DECODE_MS", "PREFILL_MS", "DECODE_INTENSITY", "CROSSOVER_BATCH",
                "MAX_BATCH", "MAX_TOKENS_PER_SEC", "BINDING_WALL"}
"""DESIGN.md: functions whose answer depends on the KV cache also take [kv_dtype], right after the pinned arguments,
with the one default every face uses (bf16, as a spec's kv_dtype)."""


@pytest.mark.parametrize("name", sorted(PINNED))
def test_pinned_signatures_are_kept(name):
    got = []
    for p in params(name):
        got.append((p.name,) if p.default is inspect.Parameter.empty else (p.name, p.default))
    assert got[:len(PINNED[name])] == PINNED[name]
    if name in KV_DEPENDENT:
        assert got[len(PINNED[name])] == ("kv_dtype", "bf16"), got


def test_kv_dtype_changes_the_answer_where_it_should():
    """An fp8 KV cache halves the cache: more sequences fit, long-context steps get faster (the largest error an
    independent check found was functions that could not take it)."""
    assert udfs.MAX_BATCH(M70, "h100", 8192.0, "fp8", 4.0, "fp8") > 1.9 * udfs.MAX_BATCH(M70, "h100", 8192.0, "fp8",
                                                                                          4.0)
    slow = udfs.DECODE_MS("llama-3.1-8b", "h100", "fp8", 64.0, 8192.0, 1.0)
    fast = udfs.DECODE_MS("llama-3.1-8b", "h100", "fp8", 64.0, 8192.0, 1.0, "fp8")
    assert fast < slow
    assert udfs.MAX_TOKENS_PER_SEC("llama-3.1-8b", "h100", 1024.0, 1024.0, "fp8", 1.0, "fp8") > \
        udfs.MAX_TOKENS_PER_SEC("llama-3.1-8b", "h100", 1024.0, 1024.0, "fp8", 1.0)


@pytest.mark.parametrize("name", udfs.__all__)
def test_documented_for_excel(name):
    f = getattr(udfs, name)
    doc = " ".join((inspect.getdoc(f) or "").split())
    assert 20 <= len(doc) <= 255, f"{name}: Excel's function wizard takes descriptions up to 255 characters"
    meta = _xw.meta(f)
    for p in params(name):
        arg_doc = meta["args"].get(p.name, {}).get("doc", "")
        assert 10 <= len(arg_doc) <= 255, f"{name}({p.name}) needs a doc of at most 255 characters"
        if p.default is not inspect.Parameter.empty and p.default is not None:
            assert "default" in arg_doc, f"{name}({p.name}): an optional argument's doc states its default"
        if p.default is None:
            assert "default" in arg_doc or "optional" in arg_doc or "empty" in arg_doc, f"{name}({p.name})"
        if meta["args"].get(p.name, {}).get("ndim") == 2:
            assert "range" in arg_doc, f"{name}({p.name}) takes a range: its doc says so"


# ------------------------------------------------------------------------------------------- catalogue look-ups


def test_id_lists_are_columns_of_the_catalogue():
    assert udfs.GPU_IDS() == [[i] for i in CAT.accelerators]
    assert udfs.MODEL_IDS() == [[i] for i in CAT.models]
    assert udfs.DTYPES() == [[d] for d in DTYPES]
    assert udfs.CATALOGUE_FILES()[0] == ["planner/data (built-in)"]


def test_gpu_info_reads_catalogue_fields():
    assert udfs.GPU_INFO("H100", "memory_gb") == H100.memory_gb == 80.0
    assert udfs.GPU_INFO("h100-sxm", "memory_bandwidth_tbs") == H100.memory_bandwidth_tbs
    assert udfs.GPU_INFO("h100", "dense_tflops_fp8") == H100.dense_peak_tflops["fp8"]
    # the compute-dtype rule: int4 weights compute at the 16-bit rate
    assert udfs.GPU_INFO("h100", "dense_tflops_int4") == H100.dense_peak_tflops["bf16"]
    assert udfs.GPU_INFO("h100", "usable_memory_gb") == pytest.approx(80.0 * (1 - memory_reserve_fraction()))
    assert udfs.GPU_INFO("h100", "usd_per_gpu_hour") == H100.usd_per_gpu_hour
    assert udfs.GPU_INFO("h100", "scaleup_gbs_per_direction") == H100.scaleup.gbs_per_direction
    assert udfs.GPU_INFO("gaudi3", "usd_per_gpu_hour") == "n/a"  # no price in the catalogue
    assert udfs.GPU_INFO("h100-pcie", "dense_tflops_fp32") == "n/a"  # no fp32 rate


def test_gpu_info_without_field_is_a_table_of_every_field():
    t = udfs.GPU_INFO("h100")
    assert t[0] == ["field", "value", "unit"]
    assert [r[0] for r in t[1:]] == list(api.GPU_FIELDS)
    assert dict((r[0], r[1]) for r in t[1:])["memory_gb"] == 80.0
    assert_clean(t)


def test_model_info_reads_architecture_fields():
    assert udfs.MODEL_INFO(M70, "layers") == 80
    assert udfs.MODEL_INFO("meta-llama/Llama-3.1-70B", "kv_heads") == 8
    assert udfs.MODEL_INFO("deepseek-v3", "attention") == "mla"
    assert udfs.MODEL_INFO("deepseek-v3", "kv_heads") == "n/a"
    assert udfs.MODEL_INFO("deepseek-v3", "experts") == DSV3.moe.experts == 256
    assert udfs.MODEL_INFO(M70, "experts") == 0
    t = udfs.MODEL_INFO("mixtral-8x7b")
    assert t[0] == ["field", "value", "unit"] and len(t) == len(api.MODEL_FIELDS) + 1
    assert_clean(t)


def test_parameter_counts_match_the_published_totals():
    assert rel(udfs.TOTAL_PARAMS_B(M70), L70.total_params / 1e9)
    assert udfs.TOTAL_PARAMS_B(M70) == pytest.approx(70.6, rel=0.03)
    assert udfs.ACTIVE_PARAMS_B(M70) == udfs.TOTAL_PARAMS_B(M70)  # dense
    assert udfs.TOTAL_PARAMS_B("deepseek-v3") == pytest.approx(671, rel=0.03)
    assert udfs.ACTIVE_PARAMS_B("deepseek-v3") == pytest.approx(37, rel=0.05)


# -------------------------------------------------------------------------------------------------- arithmetic


def test_weight_and_kv_bytes_by_hand():
    assert rel(udfs.WEIGHT_GB(M70, "fp16"), L70.total_params * 2 / 1e9)
    assert udfs.WEIGHT_GB(M70, "fp16") == pytest.approx(141.1, abs=0.05)
    assert udfs.WEIGHT_GB(M70, "int4") == pytest.approx(udfs.WEIGHT_GB(M70) / 4)
    # GQA: 2 · layers · kv_heads · head_dim · bytes
    assert udfs.KV_BYTES_PER_TOKEN(M70) == 2 * 80 * 8 * 128 * 2
    assert udfs.KV_BYTES_PER_TOKEN(M70, "fp8") == 2 * 80 * 8 * 128
    # MLA: layers · (kv_lora_rank + qk_rope_head_dim) · bytes
    assert udfs.KV_BYTES_PER_TOKEN("deepseek-v3") == 61 * (512 + 64) * 2


def test_kv_gb_by_hand_including_the_sliding_window():
    assert rel(udfs.KV_GB(M70, 8192, 8, "fp8"), 8 * 8192 * (2 * 80 * 8 * 128) / 1e9)
    # Mistral-7B: every layer keeps at most its 4096-token window
    assert rel(udfs.KV_GB("mistral-7b", 8192), 32 * 4096 * (2 * 8 * 128 * 2) / 1e9)
    assert rel(udfs.KV_GB("mistral-7b", 1000), 32 * 1000 * (2 * 8 * 128 * 2) / 1e9)


def test_decode_and_prefill_flops_and_bytes():
    matmul = L70.matmul_params
    assert rel(udfs.DECODE_FLOPS(M70), 2 * matmul)
    attention = 2 * 64 * (128 + 128) * 80 * 1024  # heads · (d_qk + d_v) · layers · context, times 2
    assert rel(udfs.DECODE_FLOPS(M70, 8, 1024), 8 * (2 * matmul + attention))
    assert rel(udfs.DECODE_FLOPS(M70, 8, 1024), float(roofline.decode_flops(L70, 8, 1024)))
    pairs = 1024 * 1025 / 2
    head = 128256 * 8192  # the LM head runs for the last prompt token only (the first output token's logits)
    assert rel(udfs.PREFILL_FLOPS(M70, 1024), 2 * (matmul - head) * 1024 + 2 * head + 2 * 64 * 256 * 80 * pairs)
    # batch 1, no context: the weights less the embedding table (one row gathered); with context: plus the KV cache
    table = 128256 * 8192
    assert rel(udfs.DECODE_BYTES_GB(M70), udfs.WEIGHT_GB(M70) - (table - 8192) * 2 / 1e9)
    assert rel(udfs.DECODE_BYTES_GB(M70, "fp8", 8, 1024),
               udfs.WEIGHT_GB(M70, "fp8") - (table - 8 * 8192) / 1e9 + udfs.KV_GB(M70, 1024, 8))


def test_experts_touched():
    assert udfs.EXPERTS_TOUCHED(M70, 64) == 0.0
    assert udfs.EXPERTS_TOUCHED("deepseek-v3") == pytest.approx(8)  # k at one token
    e, k = 256, 8
    assert rel(udfs.EXPERTS_TOUCHED("deepseek-v3", 16), e * (1 - (1 - k / e) ** 16), 1e-9)
    assert udfs.EXPERTS_TOUCHED("deepseek-v3", 100_000) == pytest.approx(256)


def test_intensities_and_crossover():
    assert rel(udfs.RIDGE_INTENSITY("h100"), 989.4e12 / 3.35e12, 1e-9)
    assert udfs.RIDGE_INTENSITY("h100") == pytest.approx(295, abs=1)
    read = L70.total_params - 128256 * 8192 + 8192  # every weight but the embedding table, one row gathered
    assert rel(udfs.DECODE_INTENSITY(M70), 2 * L70.matmul_params / (read * 2))
    b = udfs.CROSSOVER_BATCH(M70, "h100")
    peak, bw = H100.peak_flops("bf16"), H100.bandwidth_bytes_per_s

    def compute_bound(n: float) -> bool:
        return float(roofline.decode_flops(L70, n)) / peak >= float(roofline.decode_bytes(L70, n)) / bw

    assert compute_bound(b) and not compute_bound(b - 1)
    assert udfs.CROSSOVER_BATCH(M70, "h100", "bf16", 100_000) == "never"


def test_decode_floor_is_bytes_over_bandwidth():
    assert udfs.DECODE_FLOOR_MS(M70, "h100-sxm", "fp16") == pytest.approx(41.5, abs=0.05)  # the brief's ~42 ms
    read = L70.total_params - 128256 * 8192 + 8192
    assert rel(udfs.DECODE_FLOOR_MS(M70, "h100", "fp16"), read * 2 / 3.35e12 * 1e3)
    assert rel(udfs.DECODE_FLOOR_MS(M70, "h100", "fp8", 8, 1024, 2),
               float(roofline.decode_floor_ms(L70, H100, "fp8", 8, 1024, 2)))
    assert rel(udfs.DECODE_FLOOR_MS(M70, "h100", "fp16", 4.0), udfs.DECODE_FLOOR_MS(M70, "h100", "fp16", 4))


def test_prefill_floor_is_flops_over_peak_when_compute_bound():
    flops = udfs.PREFILL_FLOPS(M70, 4096)
    assert rel(udfs.PREFILL_FLOOR_MS(M70, "h100", 4096), flops / 989.4e12 * 1e3, 1e-9)
    assert rel(udfs.PREFILL_FLOOR_MS(M70, "h100", 1024, "fp8", 2),
               float(roofline.prefill_floor_ms(L70, H100, 1024, "fp8", 2)))


def test_expected_times_come_from_the_core_and_never_beat_the_floor():
    assert rel(udfs.DECODE_MS(M70, "h100", "fp8", 8, 1024, 2), float(roofline.decode_ms(L70, H100, "fp8", 8, 1024, 2)))
    assert rel(udfs.PREFILL_MS(M70, "h100", 1024, "fp8", 2), float(roofline.prefill_ms(L70, H100, 1024, "fp8", 2)))
    assert udfs.DECODE_MS(M70, "h100", "fp8") > udfs.DECODE_FLOOR_MS(M70, "h100", "fp8")
    assert udfs.PREFILL_MS(M70, "h100", 1024, "fp8") > udfs.PREFILL_FLOOR_MS(M70, "h100", 1024, "fp8")


def test_expected_times_refuse_weights_that_do_not_fit():
    """141 GB of bf16 weights on one 80 GB H100: no expected time exists; the error names the smallest tp that
    holds them. The floor stays pure arithmetic (41.5 ms)."""
    with pytest.raises(PlannerError, match=r"tp >= 2"):
        udfs.DECODE_MS(M70, "h100")
    with pytest.raises(PlannerError, match=r"tp >= 2"):
        udfs.PREFILL_MS(M70, "h100", 1024)
    with pytest.raises(PlannerError, match=r"tp >= 2"):
        udfs.TPOT_MS(M70, "h100", 8, 1024, 256)
    assert udfs.DECODE_FLOOR_MS(M70, "h100", "fp16") == pytest.approx(41.5, abs=0.05)


def test_loaded_latencies_are_the_plans():
    """TPOT_MS / TTFT_MS at the plan's own batch are the plan's expected TPOT and TTFT (one model)."""
    from planner import api

    plan = api.plan(M70, "h100", 20, 1024, 256, 1000, 50, None, "fp8", 4, "fp8", 1)
    batch = plan.values["batch"]
    assert udfs.TPOT_MS(M70, "h100", batch, 1024, 256, "fp8", 4, "fp8") == pytest.approx(plan.values["tpot_ms"],
                                                                                           rel=1e-12)
    assert udfs.TTFT_MS(M70, "h100", batch, 1024, 256, "fp8", 4, "fp8") == pytest.approx(plan.values["ttft_ms"],
                                                                                           rel=1e-12)
    # past the batch that fits, requests wait for a slot: TTFT grows by whole turnovers
    cap = udfs.MAX_BATCH(M70, "h100", 1280, "fp8", 4, "fp8")
    over = udfs.TTFT_MS(M70, "h100", 2 * cap, 1024, 256, "fp8", 4, "fp8")
    assert over > udfs.TTFT_MS(M70, "h100", cap, 1024, 256, "fp8", 4, "fp8") + 256 * udfs.TPOT_MS(
        M70, "h100", cap, 1024, 256, "fp8", 4, "fp8") * 0.99


# ---------------------------------------------------------------------------------------------------- topology


def test_max_batch_by_hand():
    usable = 80e9 * (1 - memory_reserve_fraction())
    free = usable - L70.total_params * 1 / 2  # fp8 weights over tp=2
    per_seq = 2048 * (2 * 80 * 8 * 128 * 2) / 2  # bf16 KV split over 2 KV-head shards
    assert udfs.MAX_BATCH(M70, "h100", 2048, "fp8", 2) == math.floor(free / per_seq)
    assert udfs.MAX_BATCH(M70, "h100", 2048, "fp8") == float(topology.max_batch(L70, H100, 2048, "fp8"))
    assert udfs.MAX_BATCH("llama-3.1-405b", "h100", 2048) == 0  # the weights don't fit one GPU


def test_smallest_tp():
    assert udfs.SMALLEST_TP(M70, "h100", 4096) == 2  # 141 GB of bf16 weights over 72 GB usable
    assert udfs.SMALLEST_TP(M70, "h100", 4096, "fp8") == 1
    assert udfs.SMALLEST_TP(M70, "h200", 4096) == topology.smallest_tp(L70, CAT.accelerator("h200"), 4096)
    with pytest.raises(PlannerError, match="does not fit"):
        udfs.SMALLEST_TP("llama-3.1-405b", "h100", 4096, "fp32")


def test_memory_per_gpu_by_hand():
    weights = L70.total_params * 1 / 4
    kv = 16 * 4096 * (2 * 80 * 8 * 128 * 2) / 4
    reserve = 80e9 * memory_reserve_fraction()
    assert rel(udfs.MEMORY_PER_GPU_GB(M70, "h100", "fp8", 16, 4096, 4), (weights + kv + reserve) / 1e9)
    assert rel(udfs.MEMORY_PER_GPU_GB(M70, "h100", "fp8", 0), (L70.total_params + reserve) / 1e9)


def test_allreduce_is_the_network_part_of_the_decode_step():
    assert udfs.ALLREDUCE_MS(M70, "h100", 1) == 0.0
    eff = expected_efficiency(H100.id)
    step = roofline.decode_step(L70, H100, "bf16", 8, 0, 4, "bf16", eff)
    assert rel(udfs.ALLREDUCE_MS(M70, "h100", 4, 8), float(step.network_s) * 1e3)
    assert udfs.ALLREDUCE_MS(M70, "h100", 4, 64) > udfs.ALLREDUCE_MS(M70, "h100", 4, 8) > 0
    with pytest.raises(PlannerError, match="scale-up domain"):
        udfs.ALLREDUCE_MS(M70, "h100", 16)


def test_max_tokens_per_sec_is_the_best_batch_of_the_expected_times():
    """The best output tokens/s of one replica: over every batch that fits, output / (prefill share + output ·
    step(b) / b). With 2,048 output tokens no batch that fits (about 220 sequences of 3,072 tokens) sees more than one
    new prompt per decode step, so the share is one whole prefill: recomputed here from the Excel functions themselves
    (PREFILL_MS, a DECODE_MS range over every batch); the best batch is the largest that fits (a step's cost grows
    slower than its batch), and no engine could beat the same sum at the floors. With 256 output tokens, several
    prompts arrive per step and are prefilled together (sharing the weight read and the per-layer cost), so the
    replica beats the serial-prefill sum, and still not the floors."""
    cap = int(udfs.MAX_BATCH(M70, "h100", 1024 + 2048, "fp8", 4))
    assert cap < 2048
    batches = [[float(b)] for b in range(1, cap + 1)]
    steps = udfs.DECODE_MS(M70, "h100", "fp8", batches, 1024 + 1024, 4)
    prefill = udfs.PREFILL_MS(M70, "h100", 1024, "fp8", 4)
    best = max(2048 / ((prefill + 2048 * step / b[0]) / 1e3) for (step,), b in zip(steps, batches, strict=True))
    got = udfs.MAX_TOKENS_PER_SEC(M70, "h100", 1024, 2048, "fp8", 4)
    assert rel(got, best, 1e-9)
    floor = 2048 / ((udfs.PREFILL_FLOOR_MS(M70, "h100", 1024, "fp8", 4)
                     + 2048 * udfs.DECODE_FLOOR_MS(M70, "h100", "fp8", cap, 1024 + 1024, 4) / cap) / 1e3)
    assert got < floor
    short_cap = int(udfs.MAX_BATCH(M70, "h100", 1024 + 256, "fp8", 4))
    short = [[float(b)] for b in range(1, short_cap + 1)]
    short_steps = udfs.DECODE_MS(M70, "h100", "fp8", short, 1024 + 128, 4)
    serial = max(256 / ((prefill + 256 * step / b[0]) / 1e3) for (step,), b in zip(short_steps, short, strict=True))
    got = udfs.MAX_TOKENS_PER_SEC(M70, "h100", 1024, 256, "fp8", 4)
    assert serial < got < 256 / ((udfs.PREFILL_FLOOR_MS(M70, "h100", 1024, "fp8", 4)
                                  + 256 * udfs.DECODE_FLOOR_MS(M70, "h100", "fp8", short_cap, 1024 + 128, 4)
                                  / short_cap) / 1e3)


# ------------------------------------------------------------------------------------------------------- plans


def test_plan_functions_read_the_core_plan():
    r = evaluate(spec())
    assert udfs.BINDING_WALL(*PLAN) == r.binding_wall == api.binding_wall(*PLAN)
    assert udfs.NEXT_WALL(*PLAN) == r.walls.next
    assert udfs.REPLICAS(*PLAN) == r.replicas
    assert udfs.PLAN_VALUE("gpus", *PLAN) == r.values["gpus"]
    assert udfs.PLAN_VALUE("usd_month", *PLAN) == r.values["usd_month"]
    assert udfs.PLAN_VALUE("utilization:compute", *PLAN) == r.walls.utilization["compute"]
    assert udfs.PLAN_VALUE("advice:1", *PLAN) == r.walls.advice[0]
    budget = evaluate(spec(budget_usd_month=50_000.0, dtype="fp8", tp=4, kv_dtype="fp8"))
    assert udfs.BINDING_WALL(*PLAN, 50_000, "fp8", 4) == evaluate(spec(budget_usd_month=50_000.0, dtype="fp8",
                                                                       tp=4)).binding_wall
    assert udfs.REPLICAS(*PLAN, 50_000, "fp8", 4, "fp8") == budget.replicas


def test_walls_table():
    r = evaluate(spec())
    t = udfs.WALLS(*PLAN)
    assert t[0] == ["wall", "utilization", "headroom", "binding?"]
    assert [row[0] for row in t[1:]] == ["memory capacity", "memory bandwidth", "compute", "network", "budget"]
    for wall, u, headroom, binding in t[1:]:
        if r.walls.utilization[wall] is None:
            assert u == headroom == "n/a"
        else:
            assert u == r.walls.utilization[wall] and rel(headroom, 1 - u)
        assert binding is (wall == r.binding_wall)
    assert sum(row[3] for row in t[1:]) == 1
    with_budget = udfs.WALLS(*PLAN, 1e6)
    assert isinstance(with_budget[5][1], float)


def test_plan_table_is_the_report():
    r = evaluate(spec())
    t = udfs.PLAN_TABLE(*PLAN)
    assert t[0] == ["section", "key", "quantity", "value", "unit"]
    rows = report.rows(r)
    assert len(t) == len(rows) + 1
    for got, row in zip(t[1:], rows, strict=True):
        assert got[:3] == [row.section, row.key, row.label] and got[4] == row.unit
        assert got[3] == ("n/a" if row.value is None else row.value)
    assert_clean(t)


# -------------------------------------------------------------------------------------------------------- cost


def test_costs_by_hand_and_against_the_plan():
    assert udfs.GPU_HOUR_PRICE("h100") == H100.usd_per_gpu_hour == 3.0
    assert udfs.COST_PER_MONTH("h100", 8) == 8 * 3.0 * 730
    assert udfs.COST_PER_MONTH("h100", 8, 2.0) == 8 * 2.0 * 730
    assert rel(udfs.COST_PER_MILLION_TOKENS("h100", 1000), 3.0 / 3600 / 1000 * 1e6)
    r = evaluate(spec())
    assert rel(udfs.COST_PER_MONTH("h100", r.values["gpus"]), r.values["usd_month"])
    assert rel(udfs.COST_PER_MILLION_TOKENS("h100", 20.0 * 256, r.values["gpus"]),
               r.values["usd_per_million_output_tokens"], 1e-9)
    with pytest.raises(PlannerError, match="no \\$/GPU-hour"):
        udfs.GPU_HOUR_PRICE("gaudi3")
    assert udfs.COST_PER_MONTH("gaudi3", 8, 2.0) == 8 * 2.0 * 730


def test_results_are_plain_python_values():
    for name in udfs.__all__:
        out = getattr(udfs, name)(*GOOD[name])
        for x in (out if isinstance(out, list) else [[out]]):
            for v in x:
                assert not isinstance(v, np.generic), (name, v)
