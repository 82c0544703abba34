"""A plan result as labelled rows, section by section: the one layout every face (CLI tables, JSON, workbook)
shows, so labels and units are written once."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from planner import walls as W
from planner.plan import PlanResult


@dataclass(frozen=True)
class Row:
    section: str
    key: str
    label: str
    value: Any
    unit: str = ""
    note: str = ""


REQUIREMENT_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("name", "plan name", ""),
    ("model", "model", "catalogue id"),
    ("accelerator", "accelerator", "catalogue id"),
    ("dtype", "weight dtype", ""),
    ("kv_dtype", "KV-cache dtype", ""),
    ("engine", "serving engine", ""),
    ("tp", "tensor parallel (tp)", "GPUs per stage"),
    ("pp", "pipeline stages (pp)", "stages per replica"),
    ("ep", "expert parallel (ep)", "GPUs the experts spread over"),
    ("qps", "traffic", "requests/s"),
    ("input_tokens", "input tokens", "tokens/request"),
    ("output_tokens", "output tokens", "tokens/request"),
    ("ttft_slo_ms", "TTFT SLO", "ms"),
    ("tpot_slo_ms", "TPOT SLO", "ms"),
    ("budget_usd_month", "budget", "USD/month"),
)

RESULT_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("arithmetic", "weight_gb", "weights", "GB"),
    ("arithmetic", "kv_bytes_per_token", "KV cache per token", "bytes"),
    ("arithmetic", "ridge_flop_per_byte", "ridge intensity", "FLOP/byte"),
    ("arithmetic", "decode_intensity_b1", "decode intensity at batch 1", "FLOP/byte"),
    ("arithmetic", "decode_intensity", "decode intensity at the operating batch", "FLOP/byte"),
    ("arithmetic", "crossover_batch", "crossover batch (no context)", "sequences"),
    ("arithmetic", "decode_floor_ms", "decode floor (batch 1, no context)", "ms"),
    ("arithmetic", "prefill_floor_ms", "prefill floor (one prompt)", "ms"),
    ("arithmetic", "experts_touched", "experts read per MoE layer at the batch", "experts"),
    ("topology", "gpus_per_replica", "GPUs per replica (tp × pp)", "GPUs"),
    ("topology", "usable_gb_per_gpu", "usable memory per GPU", "GB"),
    ("topology", "weights_gb_per_gpu", "weights per GPU", "GB"),
    ("topology", "kv_gb_per_sequence_per_gpu", "KV per sequence per GPU (full context)", "GB"),
    ("topology", "max_batch_memory", "largest batch that fits", "sequences"),
    ("topology", "max_batch_engine", "engine's batch cap (max sequences)", "sequences"),
    ("topology", "batch_slo", "largest batch within the SLOs", "sequences"),
    ("topology", "batch", "operating batch per replica", "sequences"),
    ("topology", "decode_step_ms", "expected decode step at the batch", "ms"),
    ("topology", "prefill_ms", "expected prefill (one prompt)", "ms"),
    ("topology", "tpot_ms", "expected TPOT a user sees at the batch", "ms"),
    ("topology", "ttft_ms", "expected TTFT a user sees at the batch", "ms"),
    ("topology", "tpot_b1_ms", "expected TPOT at batch 1", "ms"),
    ("topology", "ttft_b1_ms", "expected TTFT unloaded", "ms"),
    ("topology", "replica_rps", "requests/s per replica", "requests/s"),
    ("topology", "replicas", "replicas", ""),
    ("topology", "gpus", "GPUs", ""),
    ("topology", "output_tokens_per_s_per_gpu", "output tokens/s per GPU", "tokens/s"),
    ("topology", "output_tokens_per_s_per_user", "output tokens/s per user", "tokens/s"),
    ("topology", "calibration_rows", "expected times calibrated on", "measured rows (0: defaults)"),
    ("cost", "usd_per_gpu_hour", "price", "USD/GPU-hour"),
    ("cost", "usd_month", "monthly cost", "USD/month"),
    ("cost", "usd_per_million_output_tokens", "cost per million output tokens", "USD"),
)


def rows(result: PlanResult) -> list[Row]:
    """Requirements, arithmetic, topology, cost, walls and the step-time split of ``result``, in the design loop's
    order. Ids are the catalogue's (an alias typed in the spec shows as the id it names)."""
    spec = result.spec.model_dump()
    spec["model"], spec["accelerator"] = result.model.id, result.accelerator.id
    for name in ("tp", "pp", "ep"):
        if spec[name] is None:
            spec[name] = f"auto → {getattr(result, name)}"
    out = [Row("requirements", k, label, spec[k], unit) for k, label, unit in REQUIREMENT_FIELDS]
    out += [Row(section, key, label, result.values[key], unit) for section, key, label, unit in RESULT_FIELDS]
    for wall in W.WALLS:
        binding = wall == result.walls.binding
        out.append(Row("walls", f"utilization:{wall}", wall, result.walls.utilization[wall], "utilization",
                       W.BINDING_UNITS[result.walls.rule] if binding else W.UNITS[wall]))
    out.append(Row("walls", "binding_wall", "binding wall", result.walls.binding))
    out.append(Row("walls", "reason", "why", result.walls.reason))
    out.append(Row("walls", "next_wall", "next wall", result.walls.next,
                   W.relaxation(result.walls.binding, result.walls.rule) if result.walls.next else ""))
    for i, tip in enumerate(result.walls.advice, 1):
        out.append(Row("walls", f"advice:{i}", "change next" if i == 1 else "", tip))
    for part in W.SPLIT_PARTS:
        out.append(Row("step-time split", f"split:{part}", part, result.walls.split.get(part), "utilization",
                       "busy seconds ÷ replica busy seconds"))
    return out


def format_value(value: Any, unit: str = "") -> str:
    """A number as a planner reads it: utilizations as %, money with thousands separators, 3-4 significant digits."""
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isinf(value):
            return "never"
        if unit == "utilization":
            return f"{value:.0%}"
        if unit.startswith("USD") and abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3g}"
    return str(value)


def as_json(result: PlanResult) -> dict[str, Any]:
    """The plan as plain JSON-able data: spec, values, walls."""
    def clean(v: Any) -> Any:
        return None if isinstance(v, float) and not math.isfinite(v) else v
    spec = result.spec.model_dump()
    spec["model"], spec["accelerator"] = result.model.id, result.accelerator.id  # ids, not the alias typed
    return {
        "spec": spec,
        "values": {k: clean(v) for k, v in result.values.items()},
        "walls": {
            "utilization": result.walls.utilization,
            "utilization_units": W.UNITS,
            "binding": result.walls.binding,
            "rule": result.walls.rule,
            "reason": result.walls.reason,
            "next": result.walls.next,
            "advice": result.walls.advice,
            "split": result.walls.split,
        },
        "feasible": result.feasible,
    }
