"""Specs and helpers shared by the plan-workbook tests: a spread over every accelerator family, dense / MoE / MLA /
sliding-window models, and each of the five walls binding (see planner/walls.py for the scenarios)."""

from __future__ import annotations

import math
from typing import Any

from planner import walls as W
from planner.plan import PlanResult
from planner.spec import PlanSpec, default_spec
from workbook.formulas import NA_TEXT, WALL_KEYS

BASE: dict[str, Any] = dict(qps=10, input_tokens=1024, output_tokens=256, ttft_slo_ms=2000, tpot_slo_ms=50)

CASES: dict[str, dict[str, Any]] = {
    # memory capacity: the weights do not fit / the KV cache caps the batch
    "weights-dont-fit": dict(model="llama-3.1-405b", accelerator="a100-40gb-sxm", dtype="bf16", tp=2),
    "kv-capped": dict(model="llama-3.1-70b", accelerator="h100-sxm", dtype="fp8", tp=2, input_tokens=32000,
                      output_tokens=2000, tpot_slo_ms=200, ttft_slo_ms=60000),
    # memory bandwidth: a tight TPOT on a dense model (batch 1 misses it) / a small MoE at high traffic
    "tight-tpot-dense": dict(model="llama-3.1-70b", accelerator="a100-80gb-sxm", dtype="bf16", tp=4, tpot_slo_ms=10),
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
    out["binding_wall"] = result.walls.binding
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


ALL_WALLS = set(W.WALLS)
