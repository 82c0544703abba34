"""Specs and helpers shared by the plan-workbook tests: a spread over every accelerator family, dense / MoE / MLA /
sliding-window models, each of the five walls binding by each of the seven rules (see planner/walls.py), layouts
left to auto (tp, pp and ep), given, spanning hosts with pipeline stages, with expert parallelism, engine batch caps
(the engines' defaults, a max_batch in the spec, a small GPU's), several prompts prefilled together per decode step,
and plans that cannot run (nothing fits, nothing meets the SLOs)."""

from __future__ import annotations

import math
from typing import Any

from planner import walls as W
from planner.plan import PlanResult
from planner.spec import PlanSpec, default_spec
from workbook.formulas import NA_TEXT, SPLIT_KEYS, WALL_KEYS

BASE: dict[str, Any] = dict(qps=10, input_tokens=1024, output_tokens=256, ttft_slo_ms=2000, tpot_slo_ms=50)

CASES: dict[str, dict[str, Any]] = {
    # memory capacity: the weights do not fit / the KV cache caps the batch
    "weights-dont-fit": dict(model="llama-3.1-405b", accelerator="a100-40gb-sxm", dtype="bf16", tp=2),
    "kv-capped": dict(model="llama-3.1-70b", accelerator="h100-sxm", dtype="fp8", tp=2, input_tokens=32000,
                      output_tokens=2000, tpot_slo_ms=200, ttft_slo_ms=60000),
    # memory bandwidth: a tight TPOT on a dense model (batch 1 misses it)
    "tight-tpot-dense": dict(model="llama-3.1-70b", accelerator="a100-80gb-sxm", dtype="bf16", tp=4, tpot_slo_ms=10),
    # compute: a small MoE at high traffic (the TPOT SLO caps the batch)
    "hopper-nvl-moe": dict(model="gpt-oss-20b", accelerator="h100-nvl", dtype="fp8", qps=50, tpot_slo_ms=20,
                           engine="vllm"),
    # compute: long prompts with a tight TTFT
    "long-prompt": dict(model="qwen2.5-72b", accelerator="mi300x", dtype="fp8", tp=2, input_tokens=32000,
                        output_tokens=100, ttft_slo_ms=2000, tpot_slo_ms=200),
    "ttft-miss-405b": dict(model="llama-3.1-405b", accelerator="h100-sxm", dtype="fp8", tp=8, input_tokens=64000,
                           ttft_slo_ms=500, tpot_slo_ms=100),
    # network: tensor parallelism over PCIe-only cards
    "pcie-network": dict(model="llama-3.1-70b", accelerator="l40s", dtype="fp8", tp=8, tpot_slo_ms=50,
                         input_tokens=512, output_tokens=128),
    "pcie-tpot-miss": dict(model="llama-3.1-8b", accelerator="l40s", dtype="fp8", tp=8, tpot_slo_ms=2),
    # budget
    "small-budget": dict(model="llama-3.1-8b", accelerator="h200-sxm", dtype="bf16", tp=1, qps=200,
                         budget_usd_month=5000),
    # the rest of the families and architectures, tp chosen automatically where it is left out
    "blackwell-fp4-mla": dict(model="deepseek-v3", accelerator="b200", dtype="fp4", kv_dtype="fp8", tp=8, qps=5),
    "gb200-auto": dict(model="deepseek-r1", accelerator="gb200", dtype="fp8", engine="trtllm"),
    "ada-l4-window": dict(model="mistral-7b", accelerator="l4", dtype="int4", kv_dtype="fp8", qps=2,
                          tpot_slo_ms=80),
    "a10g-gemma-tied": dict(model="gemma-2-9b", accelerator="a10g", dtype="fp16", qps=1, tpot_slo_ms=100),
    "amd-mixtral": dict(model="mixtral-8x22b", accelerator="mi325x", dtype="fp8", budget_usd_month=100000),
    "mi355x-gptoss": dict(model="gpt-oss-120b", accelerator="mi355x", dtype="fp4", qps=30),
    "tpu-v5e": dict(model="llama-3.1-8b", accelerator="tpu-v5e", dtype="int8", qps=20),
    "tpu-v6e-qwen3": dict(model="qwen3-235b-a22b", accelerator="tpu-v6e", dtype="bf16", tp=16),
    "tpu-v5p-gemma": dict(model="gemma-2-27b", accelerator="tpu-v5p", dtype="bf16", qps=3),
    "gaudi3-priced": dict(model="qwen3-30b-a3b", accelerator="gaudi3", dtype="fp8", usd_per_gpu_hour=2.2,
                          budget_usd_month=20000),
    "gaudi3-no-price": dict(model="llama-2-7b", accelerator="gaudi3", dtype="bf16", tp=1),
    "hopper-pcie": dict(model="llama-2-13b", accelerator="h100-pcie", dtype="fp16", tp=2),
    "mla-h200-auto": dict(model="deepseek-v3", accelerator="h200-sxm", dtype="fp8", kv_dtype="bf16", qps=2),
    # layouts: pipeline stages across hosts (tp and pp left to auto), on PCIe cards, given pp / ep, the TTFT SLO
    # capping the batch (rule 6 on the prefill), nothing that fits at all (the largest layout), nothing that meets
    # the SLOs at any layout (the nearest that fits)
    "405b-across-hosts": dict(model="llama-3.1-405b", accelerator="h100-sxm", dtype="bf16"),
    "l40s-auto": dict(model="llama-3.1-70b", accelerator="l40s", dtype="bf16", qps=5),
    "pp-given": dict(model="llama-3.1-70b", accelerator="h100-sxm", dtype="fp8", pp=2, qps=30),
    "ep-given": dict(model="deepseek-v3", accelerator="h200-sxm", dtype="fp8", ep=8, qps=4),
    "ep1-moe": dict(model="mixtral-8x22b", accelerator="h100-sxm", dtype="fp8", ep=1, qps=20),
    "ttft-caps": dict(model="llama-3.1-8b", accelerator="h100-sxm", dtype="fp8", input_tokens=8000, output_tokens=64,
                      ttft_slo_ms=600, tpot_slo_ms=200, qps=20),
    "nothing-fits": dict(model="deepseek-v3", accelerator="l4", dtype="bf16", input_tokens=60000, output_tokens=500,
                         ttft_slo_ms=60000, qps=1),
    "auto-nearest-miss": dict(model="llama-3.1-70b", accelerator="a100-80gb-sxm", dtype="bf16", tpot_slo_ms=6),
    # the engine's batch cap (rule 7): vLLM's default 1,024 on an H100 (compute, 4 prompts prefilled per step), a
    # max_batch in the spec (memory bandwidth); vLLM on a small GPU (cap 256, token budget 2,048) at pp = 4, where
    # the KV cache binds and the next wall is read with the relaxed memory's larger default cap
    "engine-cap": dict(model="llama-3.1-8b", accelerator="h100-sxm", dtype="fp8", kv_dtype="fp8", engine="vllm",
                       qps=200, input_tokens=256, output_tokens=256, ttft_slo_ms=5000, tpot_slo_ms=200),
    "max-batch-given": dict(model="llama-3.1-8b", accelerator="h100-sxm", dtype="fp8", kv_dtype="fp8", engine="vllm",
                            qps=200, input_tokens=256, output_tokens=256, ttft_slo_ms=5000, tpot_slo_ms=200,
                            max_batch=64),
    "vllm-small-gpu": dict(model="llama-3.1-8b", accelerator="l40s", dtype="bf16", engine="vllm", tp=1, qps=50,
                           input_tokens=4096, output_tokens=1024, ttft_slo_ms=20000, tpot_slo_ms=300),
    # short outputs at a large batch: B / output_tokens = 16.6 prompts arrive per step, prefilled together up to the
    # token budget (8,192 / 512 = 16)
    # short prompts on a MoE: 27 prompts prefilled per step touch fewer experts than a line through one and two
    # prompts would say (the experts saturate)
    "moe-short-prompts": dict(model="qwen3-30b-a3b", accelerator="h100-sxm", dtype="fp8", kv_dtype="fp8", qps=200,
                              input_tokens=32, output_tokens=32, ttft_slo_ms=5000, tpot_slo_ms=50),
    "prompts-per-step": dict(model="llama-3.1-8b", accelerator="h200-sxm", dtype="fp8", kv_dtype="fp8", qps=100,
                             input_tokens=512, output_tokens=32, ttft_slo_ms=3000, tpot_slo_ms=100),
    "text-inputs": dict(model="qwen2.5-7b", accelerator="a100-80gb-sxm", name="=HYPERLINK(\"x\")",
                        notes="+1 -2 @SUM(A1) =cmd|' /C calc'!A0", accelerators=["h100-sxm", "b200"],
                        dtypes=["fp8", "bf16"]),
}


def spec(name: str) -> PlanSpec:
    if name == "default":
        return default_spec()
    return PlanSpec(**{**BASE, "name": name, **CASES[name]})


def all_names() -> list[str]:
    return ["default", *CASES]


def expected(result: PlanResult) -> dict[str, Any]:
    """What each named result cell must hold: the planner's values, utilizations and walls ("n/a" for None)."""
    out: dict[str, Any] = dict(result.values)
    for wall, key in WALL_KEYS.items():
        out[f"util_{key}"] = result.walls.utilization[wall]
    for part, key in SPLIT_KEYS.items():
        out[f"split_{key}"] = result.walls.split[part]
    out["binding_wall"] = result.walls.binding
    out["binding_rule"] = result.walls.rule
    out["next_wall"] = result.walls.next
    out["feasible"] = "yes" if result.feasible else "no"
    return out


def mismatches(result: PlanResult, lookup: Any, rel: float = 1e-9) -> tuple[list[str], float]:
    """Compare every expected value with ``lookup(name)``; returns (problems, largest relative error)."""
    problems, worst = [], 0.0
    for key, want in expected(result).items():
        got = lookup(key)
        if want is None:
            ok = got == NA_TEXT
        elif isinstance(want, float) and math.isinf(want):
            ok = got == "never"
        elif isinstance(want, bool) or isinstance(want, str):
            ok = got == want
        elif isinstance(got, (int, float)) and not isinstance(got, bool):
            err = abs(got - want) / max(abs(want), 1e-300) if want != got else 0.0
            worst = max(worst, err)
            ok = err <= rel
        else:
            ok = False
        if not ok:
            problems.append(f"{key}: planner {want!r}, workbook {got!r}")
    return problems, worst


def walls_covered() -> set[str]:
    from planner.plan import evaluate

    return {evaluate(spec(n)).walls.binding for n in CASES}


def rules_covered() -> set[tuple[int, str]]:
    """(rule, binding wall) pairs the cases make bind."""
    from planner.plan import evaluate

    return {(r.walls.rule, r.walls.binding) for r in (evaluate(spec(n)) for n in CASES)}


ALL_WALLS = set(W.WALLS)


def roofline_expected(result: PlanResult, catalogue: Any = None) -> dict[str, Any]:
    """What the Roofline sheet's named cells must hold, from the planner: the plan's layout decoding at each sweep
    microbatch and at the operating one (``planner.evaluator.decode``, what a user sees, memory in use), the roof
    and the prefill point. Keys are defined names; a list is a column of the sweep."""
    import numpy as np

    from planner import evaluator as E
    from planner.catalogue import get_catalogue
    from planner.roofline import decode_intensity, prefill_step
    from planner.topology import memory_used_bytes
    from planner.units import GB, TERA
    from workbook.build import SWEEP_BATCHES

    cat = catalogue or get_catalogue()
    s, model, acc = result.spec, result.model, result.accelerator
    eff = cat.efficiency(acc.id, s.engine)
    price = math.nan if result.usd_per_gpu_hour is None else result.usd_per_gpu_hour
    layout = np.array([[result.tp, result.pp, result.ep]], dtype=float)
    rows = E.build(model, s, [E.Option(acc, s.dtype, s.kv_dtype, price, eff, layout)])
    E.operate(rows)
    b_op = float(rows["b_op"][0, 0])
    batches = [float(b) for b in SWEEP_BATCHES] + [max(b_op, 1.0)]
    context = s.input_tokens + s.output_tokens / 2
    columns: dict[str, list[Any]] = {k: [] for k in ("batch", "intensity", "step_s", "step_ms", "tpot_ms", "ttft_ms",
                                                     "tokens_per_s", "tflops", "memory_gb", "fits", "meets")}
    for b in batches:
        at = np.array([[b]])
        step, total, tpot, ttft = E.user_ms(rows, at)
        busy = float(rows.prefill_share(at).total_s[0, 0]) + s.output_tokens / b * float(total[0, 0])
        used = memory_used_bytes(model, acc, b, s.input_tokens + s.output_tokens, s.dtype, result.tp, s.kv_dtype,
                                 result.pp)
        meets = tpot[0, 0] <= s.tpot_slo_ms and ttft[0, 0] <= s.ttft_slo_ms
        for key, value in (("batch", b), ("intensity", decode_intensity(model, b, s.dtype, context, s.kv_dtype)),
                           ("step_s", total[0, 0]), ("step_ms", total[0, 0] * 1000), ("tpot_ms", tpot[0, 0]),
                           ("ttft_ms", ttft[0, 0]), ("tokens_per_s", result.pp / busy * s.output_tokens),
                           ("tflops", step.flops_per_gpu[0, 0] / total[0, 0] / TERA), ("memory_gb", used / GB),
                           ("fits", "yes" if b <= rows["b_mem"][0, 0] else "no"), ("meets", "yes" if meets else "no")):
            columns[key].append(float(value) if not isinstance(value, str) else value)
    out: dict[str, Any] = {}
    for key, values in columns.items():
        out[f"roofline_{key}"] = values[:-1]
        out[f"operating_point_{key}"] = values[-1]
    floor = prefill_step(model, acc, s.input_tokens, s.dtype, result.tp, s.kv_dtype)
    pre = rows.prefill
    out["prefill_point_intensity"] = float(floor.flops_per_gpu / floor.bytes_per_gpu)
    out["prefill_point_tflops"] = float(pre.flops_per_gpu[0, 0] / rows["pre_total_s"][0, 0] / TERA)
    out["roof_ridge_intensity"] = acc.ridge(s.dtype)
    out["roof_ridge_tflops"] = acc.peak_flops(s.dtype) / TERA
    return out


def roofline_mismatches(result: PlanResult, lookup: Any, rel: float = 1e-9, catalogue: Any = None
                        ) -> tuple[list[str], float]:
    """Compare the Roofline sheet (``lookup(name)``: a value, or a list for a column) with ``roofline_expected``."""
    problems, worst = [], 0.0
    for key, want in roofline_expected(result, catalogue).items():
        got = lookup(key)
        pairs = zip(want, got, strict=True) if isinstance(want, list) else [(want, got)]
        for i, (w, g) in enumerate(pairs):
            if isinstance(w, str):
                ok = g == w
            elif isinstance(g, (int, float)) and not isinstance(g, bool):
                err = abs(g - w) / max(abs(w), 1e-300) if g != w else 0.0
                worst = max(worst, err)
                ok = err <= rel
            else:
                ok = False
            if not ok:
                problems.append(f"{key}[{i}]: planner {w!r}, workbook {g!r}")
    return problems, worst
