"""The design loop for one plan: requirements → arithmetic → topology → walls.

Operating point of one replica (tp GPUs):
- every sequence is sized for memory at its full context (input + output tokens); decode steps are timed at the
  average context while it generates (input + output / 2);
- batch = min(largest batch that fits memory, largest batch at which a user's expected TPOT and TTFT meet the SLOs
  — in-flight batching: TPOT includes the step's share of other requests' prefills, see ``planner.serving``);
- a replica's busy time per request = one prefill (expected, unloaded) + output_tokens · decode step / batch, so it
  serves 1 / busy requests per second; replicas = ceil(qps / that);
- cost = replicas · tp · $/GPU-hour · 730 hours a month.
The walls are in ``planner.walls``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner import walls as W
from planner.catalogue import Accelerator, Catalogue, Model, get_catalogue
from planner.efficiency import Efficiency, expected_efficiency
from planner.errors import PlannerError
from planner.roofline import (
    StepTime,
    crossover_batch,
    decode_intensity,
    decode_step,
    experts_touched,
    kv_bytes_per_token,
    prefill_step,
    weight_bytes,
)
from planner.serving import serving_times
from planner.spec import PlanSpec
from planner.topology import (
    kv_bytes_per_sequence_per_gpu,
    max_batch,
    memory_used_bytes,
    replicas_needed,
    tp_choices,
    usable_bytes,
    weight_bytes_per_gpu,
)
from planner.units import GB, HOURS_PER_MONTH, MS_PER_S

BATCH_SEARCH_LIMIT = 65_536
"""Largest batch per replica the plan considers."""


@dataclass(frozen=True)
class OperatingPoint:
    """One replica at tensor-parallel size ``tp``: its batch limits and expected times.

    ``decode``/``prefill`` are one decode step at the operating batch and one prefill; ``tpot_ms``/``ttft_ms`` are
    what a user sees at that batch (``planner.serving``: the step plus its share of other requests' prefills, and
    the prefill plus the wait behind other prompts).
    """

    tp: int
    max_batch_memory: int
    batch_slo: int
    batch: int
    kv_capped: bool
    prefill: StepTime
    decode_b1: StepTime
    decode: StepTime
    tpot_ms: float
    ttft_ms: float
    tpot_b1_ms: float
    ttft_b1_ms: float


def _scalar(step: StepTime) -> StepTime:
    return StepTime(*(np.asarray(getattr(step, f)).reshape(-1)[0] for f in StepTime.__dataclass_fields__))


def user_times(model: Model, acc: Accelerator, spec: PlanSpec, tp: int, batch: np.ndarray | float,
               eff: Efficiency) -> tuple[np.ndarray, np.ndarray]:
    """(TPOT ms, TTFT ms) a user sees at ``batch`` sequences per replica (``planner.serving``)."""
    b = np.asarray(batch, dtype=float)
    context = spec.input_tokens + spec.output_tokens / 2
    step = decode_step(model, acc, spec.dtype, b, context, tp, spec.kv_dtype, eff).total_s
    prefill = prefill_step(model, acc, spec.input_tokens, spec.dtype, tp, spec.kv_dtype, eff).total_s
    times = serving_times(step, prefill, b, spec.output_tokens, eff)
    return times.tpot_s * MS_PER_S, times.ttft_s * MS_PER_S


def slo_batch(model: Model, acc: Accelerator, spec: PlanSpec, tp: int, eff: Efficiency) -> int:
    """Largest batch (up to ``BATCH_SEARCH_LIMIT``) at which a user's expected TPOT and TTFT both meet the SLOs;
    0 if batch 1 misses them. Both grow with the batch, so bisection finds it."""

    def meets(b: float) -> bool:
        tpot, ttft = user_times(model, acc, spec, tp, b, eff)
        return bool(tpot.item() <= spec.tpot_slo_ms and ttft.item() <= spec.ttft_slo_ms)

    if not meets(1):
        return 0
    lo, hi = 1, BATCH_SEARCH_LIMIT
    if meets(hi):
        return hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if meets(mid) else (lo, mid)
    return lo


def operating_point(
    model: Model, acc: Accelerator, spec: PlanSpec, tp: int, eff: Efficiency | None = None
) -> OperatingPoint:
    """Batch limits and expected times of one replica at ``tp`` for ``spec``'s traffic and SLOs."""
    eff = eff or expected_efficiency(acc.id, spec.engine)
    full_context = spec.input_tokens + spec.output_tokens
    decode_context = spec.input_tokens + spec.output_tokens / 2
    b_mem = int(max_batch(model, acc, full_context, spec.dtype, tp, spec.kv_dtype).item())
    prefill = _scalar(prefill_step(model, acc, spec.input_tokens, spec.dtype, tp, spec.kv_dtype, eff))
    decode_b1 = _scalar(decode_step(model, acc, spec.dtype, 1, decode_context, tp, spec.kv_dtype, eff))
    b_slo = slo_batch(model, acc, spec, tp, eff)
    batch = min(b_mem, b_slo, BATCH_SEARCH_LIMIT)
    kv_capped = b_mem >= 1 and b_slo > b_mem
    at = max(batch, 1)
    decode = _scalar(decode_step(model, acc, spec.dtype, at, decode_context, tp, spec.kv_dtype, eff))
    (tpot, tpot1), (ttft, ttft1) = user_times(model, acc, spec, tp, np.array([at, 1.0]), eff)
    return OperatingPoint(tp, b_mem, b_slo, batch, kv_capped, prefill, decode_b1, decode,
                          float(tpot), float(ttft), float(tpot1), float(ttft1))


def choose_tp(model: Model, acc: Accelerator, spec: PlanSpec, eff: Efficiency | None = None) -> int:
    """``spec.tp`` if given, else the smallest tensor-parallel size that holds the weights and one sequence and
    meets both SLOs at batch 1; else the smallest that fits; else the largest the accelerator allows."""
    if spec.tp is not None:
        acc.tp_link(spec.tp)
        return spec.tp
    choices = tp_choices(acc)
    fitting = []
    for tp in choices:
        op = operating_point(model, acc, spec, tp, eff)
        if op.max_batch_memory >= 1:
            fitting.append(tp)
            if op.batch >= 1:
                return tp
    return fitting[0] if fitting else choices[-1]


@dataclass(frozen=True)
class PlanResult:
    """Everything the design loop computed for one spec."""

    spec: PlanSpec
    model: Model
    accelerator: Accelerator
    tp: int
    point: OperatingPoint
    usd_per_gpu_hour: float | None
    replicas: int | None
    walls: W.WallReport
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return self.replicas is not None and (
            self.values["budget_utilization"] is None or self.values["budget_utilization"] <= 1.0
        )

    @property
    def binding_wall(self) -> str:
        return self.walls.binding


def _resource_times(prefill: StepTime, decode: StepTime, decode_steps_per_request: float) -> dict[str, float]:
    """Seconds one request keeps the replica's memory system, math units and links busy."""
    n = decode_steps_per_request
    return {
        W.MEMORY_BANDWIDTH: float(prefill.memory_s + n * decode.memory_s),
        W.COMPUTE: float(prefill.compute_s + n * decode.compute_s),
        W.NETWORK: float(prefill.network_s + n * decode.network_s),
    }


def _parts(step: StepTime) -> dict[str, float]:
    return {W.MEMORY_BANDWIDTH: float(step.memory_s), W.COMPUTE: float(step.compute_s),
            W.NETWORK: float(step.network_s)}


def evaluate(spec: PlanSpec, catalogue: Catalogue | None = None) -> PlanResult:
    """Run the design loop for ``spec``: arithmetic, topology, walls, cost."""
    cat = catalogue or get_catalogue()
    model, acc = cat.model(spec.model), cat.accelerator(spec.accelerator)
    for candidate in spec.accelerators:  # a typo in a candidate list is an error, not a silently dropped option
        cat.accelerator(candidate)
    context = spec.input_tokens + spec.output_tokens
    if model.max_context_tokens is not None and context > model.max_context_tokens:
        raise PlannerError(
            f"input_tokens + output_tokens = {context:,} exceeds {model.id}'s context window of "
            f"{model.max_context_tokens:,} tokens; shorten the prompt or the answer")
    acc.compute_dtype(spec.dtype)  # a clear error now if the accelerator has no rate for this dtype
    eff = cat.efficiency(acc.id, spec.engine)  # this catalogue's: a --catalogue file's efficiency section counts
    tp = choose_tp(model, acc, spec, eff)
    op = operating_point(model, acc, spec, tp, eff)
    price = spec.usd_per_gpu_hour or acc.usd_per_gpu_hour
    if spec.budget_usd_month is not None and price is None:
        raise PlannerError(
            f"{acc.id} has no $/GPU-hour in the catalogue, so the budget cannot be checked; set usd_per_gpu_hour "
            f"in the spec (or drop budget_usd_month)"
        )
    batch = op.batch
    steps_per_request = spec.output_tokens / max(batch, 1)
    busy_s = float(op.prefill.total_s + steps_per_request * op.decode.total_s)
    replica_rps = 1.0 / busy_s
    replicas = replicas_needed(spec.qps, replica_rps) if batch >= 1 else None
    gpus = replicas * tp if replicas is not None else None
    usd_month = gpus * price * HOURS_PER_MONTH if (gpus is not None and price is not None) else None
    tokens_per_month = spec.qps * spec.output_tokens * HOURS_PER_MONTH * 3600.0
    used = float(memory_used_bytes(model, acc, max(batch, 0), spec.input_tokens + spec.output_tokens,
                                   spec.dtype, tp, spec.kv_dtype).item())
    busy = _resource_times(op.prefill, op.decode, steps_per_request)
    utilization: dict[str, float | None] = {
        W.MEMORY_CAPACITY: used / acc.memory_bytes,
        **{w: t / busy_s for w, t in busy.items()},
        W.BUDGET: (usd_month / spec.budget_usd_month) if (usd_month is not None and spec.budget_usd_month) else None,
    }
    binding, reason = _binding(spec, model, acc, op, utilization, usd_month)
    walls = W.WallReport(utilization, binding, reason, W.next_wall(utilization, binding),
                         _advice(binding, spec, model, acc, op, utilization, cat))
    values: dict[str, Any] = {
        # arithmetic
        "weight_gb": weight_bytes(model, spec.dtype) / GB,
        "kv_bytes_per_token": kv_bytes_per_token(model, spec.kv_dtype),
        "ridge_flop_per_byte": acc.ridge(spec.dtype),
        "decode_intensity_b1": float(decode_intensity(model, 1, spec.dtype, 0, spec.kv_dtype)),
        "decode_intensity": float(decode_intensity(model, max(batch, 1), spec.dtype,
                                                   spec.input_tokens + spec.output_tokens / 2, spec.kv_dtype)),
        "crossover_batch": float(crossover_batch(model, acc, spec.dtype, 0, spec.kv_dtype)),
        "decode_floor_ms": float(decode_step(model, acc, spec.dtype, 1, 0, tp, spec.kv_dtype).total_ms),
        "prefill_floor_ms": float(prefill_step(model, acc, spec.input_tokens, spec.dtype, tp, spec.kv_dtype).total_ms),
        "experts_touched": float(experts_touched(model, max(batch, 1))) if model.moe else None,
        # topology
        "tp": tp,
        "usable_gb_per_gpu": usable_bytes(acc) / GB,
        "weights_gb_per_gpu": float(weight_bytes_per_gpu(model, spec.dtype, tp).item()) / GB,
        "kv_gb_per_sequence_per_gpu": float(kv_bytes_per_sequence_per_gpu(
            model, spec.input_tokens + spec.output_tokens, spec.kv_dtype, tp).item()) / GB,
        "max_batch_memory": op.max_batch_memory,
        "batch_slo": op.batch_slo,
        "batch": batch,
        "ttft_ms": op.ttft_ms,
        "tpot_ms": op.tpot_ms,
        "tpot_b1_ms": op.tpot_b1_ms,
        "ttft_b1_ms": op.ttft_b1_ms,
        "decode_step_ms": float(op.decode.total_ms),
        "prefill_ms": float(op.prefill.total_ms),
        "replica_rps": replica_rps,
        "replicas": replicas,
        "gpus": gpus,
        "output_tokens_per_s_per_replica": replica_rps * spec.output_tokens,
        "output_tokens_per_s_per_gpu": replica_rps * spec.output_tokens / tp,
        "output_tokens_per_s_per_user": MS_PER_S / op.tpot_ms,
        # cost
        "usd_per_gpu_hour": price,
        "usd_month": usd_month,
        "usd_per_million_output_tokens": (usd_month / tokens_per_month * 1e6) if usd_month is not None else None,
        "budget_utilization": utilization[W.BUDGET],
    }
    return PlanResult(spec, model, acc, tp, op, price, replicas, walls, values)


def _binding(
    spec: PlanSpec, model: Model, acc: Accelerator, op: OperatingPoint,
    utilization: dict[str, float | None], usd_month: float | None,
) -> tuple[str, str]:
    usable = usable_bytes(acc) / GB
    if op.max_batch_memory < 1:
        need = float(weight_bytes_per_gpu(model, spec.dtype, op.tp).item()) / GB
        return W.MEMORY_CAPACITY, (
            f"weights need {need:.1f} GB per GPU at tp={op.tp} (plus one sequence's KV cache); "
            f"{usable:.1f} GB of {acc.memory_gb:g} GB is usable")
    if op.ttft_b1_ms > spec.ttft_slo_ms:
        wall = W.dominant(_parts(op.prefill))
        return wall, (f"even unloaded, the first token of a {spec.input_tokens}-token prompt takes "
                      f"{op.ttft_b1_ms:.1f} ms, over the TTFT SLO of {spec.ttft_slo_ms:g} ms; {wall} dominates the "
                      f"prefill")
    if op.tpot_b1_ms > spec.tpot_slo_ms:
        wall = W.dominant(_parts(op.decode_b1))
        return wall, (f"even at batch 1 a user sees {op.tpot_b1_ms:.1f} ms per token, over the TPOT SLO of "
                      f"{spec.tpot_slo_ms:g} ms; {wall} dominates the decode step")
    budget_u = utilization[W.BUDGET]
    if budget_u is not None and budget_u > 1.0:
        return W.BUDGET, (f"the traffic needs ${usd_month:,.0f}/month of GPUs, over the budget of "
                          f"${spec.budget_usd_month:,.0f}")
    if op.kv_capped:
        return W.MEMORY_CAPACITY, (
            f"the KV cache caps the batch at {op.max_batch_memory} sequences of "
            f"{spec.input_tokens + spec.output_tokens} tokens per replica; the TPOT SLO would allow more")
    busy = {w: utilization[w] or 0.0 for w in W.RESOURCE_WALLS}
    wall = W.dominant(busy)
    slo = "TTFT" if op.ttft_ms > op.tpot_ms * spec.ttft_slo_ms / spec.tpot_slo_ms else "TPOT"
    return wall, (f"at the batch the {slo} SLO allows ({op.batch}), {wall} is the busiest resource: "
                  f"{busy[wall]:.0%} of the replica's time per request")


def _better(cat: Catalogue, acc: Accelerator, key: Callable[[Accelerator], float], unit: str, n: int = 3) -> str:
    """The ``n`` catalogue accelerators that beat ``acc`` most on ``key``, with their figures (from the catalogue)."""
    others = sorted((a for a in cat.accelerators.values() if key(a) > key(acc)), key=key, reverse=True)[:n]
    return ", ".join(f"{a.id} {key(a):g} {unit}" for a in others) or "none in the catalogue"


def _advice(binding: str, spec: PlanSpec, model: Model, acc: Accelerator, op: OperatingPoint,
            utilization: dict[str, float | None], cat: Catalogue) -> list[str]:
    if binding == W.MEMORY_CAPACITY:
        tips = []
        if op.max_batch_memory < 1:
            bigger = [t for t in tp_choices(acc) if t > op.tp]
            if bigger:
                tips.append(f"raise tp (tp={bigger[0]} splits the weights {bigger[0]} ways)")
        else:
            tips.append("store the KV cache in fp8 (halves it vs bf16)" if spec.kv_dtype in ("bf16", "fp16")
                        else "raise tp to spread the KV cache over more GPUs")
        if spec.dtype in ("bf16", "fp16", "fp32"):
            tips.append("quantize weights to fp8 or int4")
        tips.append(f"use an accelerator with more memory ({_better(cat, acc, lambda a: a.memory_gb, 'GB')})")
        return tips
    if binding == W.MEMORY_BANDWIDTH:
        gb = float(op.decode.bytes_per_gpu) / GB
        faster = _better(cat, acc, lambda a: a.memory_bandwidth_tbs, "TB/s")
        tips = [f"each decode step reads {gb:.2f} GB per GPU: fewer bytes (fp8/int4 weights, fp8 KV) or faster "
                f"memory ({faster}) cut it directly"]
        if op.batch_slo >= op.max_batch_memory:
            tips.append("memory capacity also limits the batch: more HBM lets the weight read amortize over more "
                        "tokens")
        else:
            tips.append("a looser TPOT SLO lets the batch grow and amortize the weight read")
        return tips
    if binding == W.COMPUTE:
        faster = _better(cat, acc, lambda a: a.dense_peak_tflops.get("bf16", 0.0), "bf16 TFLOP/s", 2)
        return ["prefill/large-batch math dominates: an fp8 (or fp4) compute rate doubles the FLOP/s",
                f"a faster accelerator ({faster}) or disaggregated prefill on its own pool",
                "shorter prompts or prefix caching cut prefill FLOPs"]
    if binding == W.NETWORK:
        link = acc.tp_link(op.tp)
        name = f"{link.name} at {link.gbs_per_direction:g} GB/s per direction" if link else "the link"
        return [f"all-reduces over {name} dominate: use a smaller tp and more replicas",
                "or accelerators with a scale-up link (NVLink, Infinity Fabric)"]
    return ["a cheaper accelerator per token, fp8/int4 weights (more tokens per GPU), or a looser TPOT SLO "
            "(bigger batches)", "or raise the budget"]
