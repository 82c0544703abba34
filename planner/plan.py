"""The design loop for one plan: requirements → arithmetic → topology → walls, as the one-row case of the evaluator.

A plan is **the cheapest configuration that meets the SLOs** on the spec's accelerator, weight dtype and KV dtype:
every layout (tp, pp, ep; ``planner.topology.layouts``) the spec leaves to auto is evaluated by
``planner.evaluator`` at its operating batch (min(largest batch that fits, largest batch within both SLOs)), and the
plan is the one that meets both SLOs at the lowest monthly cost (ties: fewer GPUs, then lower TPOT). A model too
large for one scale-up domain spans hosts with pipeline stages, its hops over the scale-out NIC. When no layout meets
the SLOs, the plan is the nearest one (fits, and misses the SLOs by the least at batch 1), or where nothing fits,
the largest layout; it then shows n/a for every throughput, latency and cost figure, and the reason.

Replicas = ceil(qps / requests/s per replica); cost = replicas · tp · pp · $/GPU-hour · 730 hours a month. The walls
and the binding rule are ``planner.walls``'.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from planner import evaluator as E
from planner import walls as W
from planner.catalogue import Accelerator, Catalogue, Link, Model, get_catalogue
from planner.efficiency import Efficiency
from planner.errors import PlannerError
from planner.roofline import (
    crossover_batch,
    decode_intensity,
    decode_step,
    expert_load,
    experts_touched,
    kv_bytes_per_token,
    prefill_step,
    weight_bytes,
)
from planner.spec import MAX_BATCH, PlanSpec
from planner.topology import MAX_GPUS_PER_REPLICA, layouts, tp_choices, usable_bytes
from planner.units import GB, MS_PER_S, TERA

BATCH_SEARCH_LIMIT = E.BATCH_SEARCH_LIMIT


@dataclass(frozen=True)
class PlanResult:
    """Everything the design loop computed for one spec: the chosen layout, its figures (``values``, keyed as the
    workbook's names; None where a figure does not exist) and its walls."""

    spec: PlanSpec
    model: Model
    accelerator: Accelerator
    tp: int
    pp: int
    ep: int
    usd_per_gpu_hour: float | None
    replicas: int | None
    walls: W.WallReport
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        """Meets both SLOs and, with a budget, costs no more than it."""
        return self.replicas is not None and (
            self.values["budget_utilization"] is None or self.values["budget_utilization"] <= 1.0
        )

    @property
    def binding_wall(self) -> str:
        return self.walls.binding


def check_context(spec: PlanSpec, model: Model) -> None:
    """A request longer than the model's context window is bad input, whatever the layout."""
    context = spec.input_tokens + spec.output_tokens
    if model.max_context_tokens is not None and context > model.max_context_tokens:
        raise PlannerError(
            f"input_tokens + output_tokens = {context:,} exceeds {model.id}'s context window of "
            f"{model.max_context_tokens:,} tokens; shorten the prompt or the answer")


def check_spec(spec: PlanSpec, model: Model, acc: Accelerator) -> None:
    """Bad requests that no layout could fix: a context past the model's window, a dtype the accelerator cannot
    compute."""
    check_context(spec, model)
    acc.compute_dtype(spec.dtype)  # a clear error now if the accelerator has no rate for this dtype
    acc.compute_dtype(spec.kv_dtype)


def plan_option(spec: PlanSpec, model: Model, acc: Accelerator, eff: Efficiency, price: float | None,
                tps: tuple[int, ...] | None = None) -> E.Option:
    """The evaluator's option for ``spec``: its accelerator, dtypes, price (NaN: none) and the layouts it leaves
    to auto (``tps`` narrows the automatic tp choices)."""
    return E.Option(acc, spec.dtype, spec.kv_dtype, math.nan if price is None else float(price), eff,
                    layouts(model, acc, spec.tp, spec.pp, spec.ep, tps=tps))


def best_index(m: dict[str, np.ndarray], spec: PlanSpec) -> int:
    """The row a plan takes (``metrics`` of the candidates at their operating batch, flat): the cheapest that meets
    both SLOs (ties: fewer GPUs, then lower TPOT); else the nearest that fits (smallest miss at batch 1, then fewer
    GPUs per replica); else the layout with the most GPUs per replica (closest to fitting)."""
    meets = m["meets_slos"].astype(bool)
    gpus_per_replica = m["tp"] * m["pp"]
    if meets.any():
        idx = np.flatnonzero(meets)
        usd = np.nan_to_num(m["usd_month"][idx], nan=0.0)
        return int(idx[np.lexsort((m["tpot_ms"][idx], m["gpus"][idx], usd))[0]])
    fits = m["fits_memory"].astype(bool)
    if fits.any():
        idx = np.flatnonzero(fits)
        miss = np.maximum(m["tpot1_ms"][idx] / spec.tpot_slo_ms, m["ttft1_ms"][idx] / spec.ttft_slo_ms)
        return int(idx[np.lexsort((gpus_per_replica[idx], miss))[0]])
    return int(np.lexsort((m["tp"], -gpus_per_replica))[0])


def evaluate(spec: PlanSpec, catalogue: Catalogue | None = None) -> PlanResult:
    """Run the design loop for ``spec``: the cheapest layout meeting the SLOs, its figures and its walls."""
    cat = catalogue or get_catalogue()
    model, acc = cat.model(spec.model), cat.accelerator(spec.accelerator)
    for candidate in spec.accelerators:  # a typo in a candidate list is an error, not a silently dropped option
        cat.accelerator(candidate)
    check_spec(spec, model, acc)
    price = spec.usd_per_gpu_hour or acc.usd_per_gpu_hour
    if spec.budget_usd_month is not None and price is None:
        raise PlannerError(
            f"{acc.id} has no $/GPU-hour in the catalogue, so the budget cannot be checked; set usd_per_gpu_hour "
            f"in the spec (or drop budget_usd_month)"
        )
    eff = cat.efficiency(acc.id, spec.engine)  # this catalogue's: a --catalogue file's efficiency section counts
    option = plan_option(spec, model, acc, eff, price)
    rows = E.build(model, spec, [option])
    E.operate(rows)
    b_op = rows["b_op"]
    m = E.metrics(rows, np.maximum(b_op, 1.0), b_op)
    n = len(rows)
    pick = {k: np.broadcast_to(np.asarray(m[k], dtype=float), (n, 1)).reshape(-1) for k in RANKING}
    i = best_index(pick, spec)
    chosen = E.Option(acc, spec.dtype, spec.kv_dtype, option.price, eff, option.layouts[i:i + 1])
    row = {k: float(np.asarray(v, dtype=float).reshape(-1)[i if np.size(v) > 1 else 0]) for k, v in m.items()}
    return _result(spec, model, acc, eff, price, rows.take(np.array([i])), row, chosen, cat,
                   all_fit=bool(pick["fits_memory"].any()))


RANKING = ("meets_slos", "usd_month", "gpus", "tpot_ms", "fits_memory", "tpot1_ms", "ttft1_ms", "tp", "pp")
"""The figures ``best_index`` ranks candidates by."""


def _f(x: Any) -> float | None:
    x = float(x)
    return None if math.isnan(x) else x


def _result(spec: PlanSpec, model: Model, acc: Accelerator, eff: Efficiency, price: float | None, row: E.Rows,
            m: dict[str, Any], option: E.Option, cat: Catalogue, all_fit: bool) -> PlanResult:
    tp, pp, ep = int(m["tp"]), int(m["pp"]), int(m["ep"])
    c = {k: float(v[0, 0]) for k, v in row.c.items()}
    fits = bool(m["fits_memory"])
    b_mem, b_slo = int(c["b_mem"]), int(c["b_slo"])
    b_op = int(c["b_op"])
    runs = b_op >= 1
    replicas = int(m["replicas"]) if runs else None
    gpus = int(m["gpus"]) if runs else None
    usd_month = _f(m["usd_month"]) if runs and price is not None else None
    budget_u = usd_month / spec.budget_usd_month if (usd_month is not None and spec.budget_usd_month) else None
    rule = int(m["rule"])
    binding = W.WALLS[int(m["wall"])]
    utilization: dict[str, float | None] = {
        W.MEMORY_CAPACITY: _f(m["u_memory_capacity"]), W.MEMORY_BANDWIDTH: _f(m["u_memory_bandwidth"]),
        W.COMPUTE: _f(m["u_compute"]), W.NETWORK: _f(m["u_network"]), W.BUDGET: budget_u}
    split = {part: _f(m[f"split_{part}"]) for part in W.SPLIT_PARTS}
    batch = b_op * pp
    at = max(b_op, 1)
    decode_context = spec.input_tokens + spec.output_tokens / 2
    shared_prefill_s = float(row.prefill_share(np.array([[float(at)]])).total_s[0, 0])
    rps = pp / (shared_prefill_s + spec.output_tokens / at * float(m["decode_step_ms"]) / MS_PER_S)
    values: dict[str, Any] = {
        # arithmetic
        "weight_gb": weight_bytes(model, spec.dtype) / GB,
        "kv_bytes_per_token": kv_bytes_per_token(model, spec.kv_dtype),
        "ridge_flop_per_byte": acc.ridge(spec.dtype),
        "decode_intensity_b1": float(decode_intensity(model, 1, spec.dtype, 0, spec.kv_dtype)),
        "decode_intensity": float(decode_intensity(model, at, spec.dtype, decode_context, spec.kv_dtype)),
        "crossover_batch": float(crossover_batch(model, acc, spec.dtype, 0, spec.kv_dtype)),
        "decode_floor_ms": float(decode_step(model, acc, spec.dtype, 1, 0, tp, spec.kv_dtype).total_ms),
        "prefill_floor_ms": float(prefill_step(model, acc, spec.input_tokens, spec.dtype, tp, spec.kv_dtype).total_ms),
        "experts_touched": float(experts_touched(model, at)) if model.moe else None,
        # topology
        "tp": tp,
        "pp": pp,
        "ep": ep,
        "gpus_per_replica": tp * pp,
        "usable_gb_per_gpu": usable_bytes(acc) / GB,
        "weights_gb_per_gpu": c["weights_gpu"] / GB,
        "kv_gb_per_sequence_per_gpu": c["kv_seq_gpu"] / GB,
        "max_batch_memory": b_mem * pp,
        "max_batch_engine": int(c["b_cap"] * pp) if math.isfinite(c["b_cap"]) else None,
        "batch_slo": b_slo * pp if fits else None,
        "batch": batch,
        "ttft_ms": _f(m["ttft_ms"]) if runs else None,
        "tpot_ms": _f(m["tpot_ms"]) if runs else None,
        "tpot_b1_ms": c["tpot1_ms"] if fits else None,
        "ttft_b1_ms": c["ttft1_ms"] if fits else None,
        "decode_step_ms": _f(m["decode_step_ms"]) if runs else None,
        "prefill_ms": c["pre_total_s"] * MS_PER_S if fits else None,
        "replica_rps": rps if runs else None,
        "replicas": replicas,
        "gpus": gpus,
        "output_tokens_per_s_per_replica": rps * spec.output_tokens if runs else None,
        "output_tokens_per_s_per_gpu": rps * spec.output_tokens / (tp * pp) if runs else None,
        "output_tokens_per_s_per_user": MS_PER_S / float(m["tpot_ms"]) if runs else None,
        # cost
        "usd_per_gpu_hour": price,
        "calibration_rows": eff.calibration_rows,
        "usd_month": usd_month,
        "usd_per_million_output_tokens": _f(m["usd_per_million_tokens"]) if usd_month is not None else None,
        "budget_utilization": budget_u,
    }
    ttft_caps = bool(m["ttft_caps"])
    touched = float(expert_load(model, at, ep)) if model.moe else 0.0  # the evaluator's expert load (busiest group)
    step_gb = (c["bytes0"] + c["bytes1"] * at + c["bytes_e"] * touched) / GB
    context = _Context(spec, model, acc, cat, option, values, rule, binding, ttft_caps, all_fit, step_gb)
    walls = W.WallReport(utilization, binding, _reason(context), lambda: _next_wall(context, eff), _advice(context),
                         rule, split)
    return PlanResult(spec, model, acc, tp, pp, ep, price, replicas, walls, values)


# ---------------------------------------------------------------------------------------------- reasons, advice


@dataclass(frozen=True)
class _Context:
    spec: PlanSpec
    model: Model
    acc: Accelerator
    cat: Catalogue
    option: E.Option
    values: dict[str, Any]
    rule: int
    binding: str
    ttft_caps: bool
    any_fit: bool
    step_gb: float

    @property
    def layout(self) -> str:
        v = self.values
        out = f"tp={v['tp']}" + (f", pp={v['pp']}" if v["pp"] > 1 else "") + (f", ep={v['ep']}" if v["ep"] > 1 else "")
        hosts = hosts_spanned(self.acc, v["tp"], v["pp"])
        if hosts > 1:
            out += f", across {hosts} hosts: pipeline hops over the scale-out NIC"
        return out

    @property
    def slo(self) -> str:
        return "TTFT" if self.ttft_caps else "TPOT"


def hosts_spanned(acc: Accelerator, tp: int, pp: int) -> int:
    """Hosts (scale-up domains) a replica of tp · pp GPUs spans: 1 while they share the scale-up domain (or one
    PCIe host), else tp · pp / domain rounded up."""
    domain = max((link.domain for link in (acc.scaleup, acc.pcie) if link is not None), default=1)
    return max(1, math.ceil(tp * pp / domain))


def relaxed_accelerator(acc: Accelerator, wall: str) -> Accelerator:
    """``acc`` with ``wall`` loosened by ``planner.walls.RELAXATIONS`` (same id, so the same efficiencies apply)."""
    factor = W.RELAXATIONS[wall][0]
    if wall == W.MEMORY_CAPACITY:
        return acc.model_copy(update={"memory_gb": acc.memory_gb * factor})
    if wall == W.MEMORY_BANDWIDTH:
        return acc.model_copy(update={"memory_bandwidth_tbs": acc.memory_bandwidth_tbs * factor})
    if wall == W.COMPUTE:
        return acc.model_copy(update={"dense_peak_tflops": {k: v * factor for k, v in acc.dense_peak_tflops.items()}})
    if wall == W.NETWORK:
        links: dict[str, Link] = {}
        for name in ("scaleup", "pcie"):
            link = getattr(acc, name)
            if link is not None:
                links[name] = link.model_copy(update={"gbs_per_direction": link.gbs_per_direction * factor,
                                                      "gbs_bidirectional": None})
        nic = E.scaleout_bytes_per_s(acc) / GB * factor
        links["scaleout"] = Link(name="scale-out NIC (relaxed)", gbs_per_direction=nic)
        return acc.model_copy(update=links)
    return acc


UNCAPPED_BATCH = MAX_BATCH
"""``max_batch`` that lifts the engine's batch cap (the largest a spec accepts)."""


def _next_wall(ctx: _Context, eff: Efficiency) -> str:
    """The wall that binds once the binding one is relaxed by its ``RELAXATIONS`` step (rule 7: the engine's batch
    cap lifted), at the same layout."""
    spec, option = ctx.spec, ctx.option
    if ctx.binding == W.BUDGET:
        spec = spec.model_copy(update={"budget_usd_month": None})
    elif ctx.rule == 7:  # the engine's cap binds: lift it
        spec = spec.model_copy(update={"max_batch": UNCAPPED_BATCH})
    else:
        option = E.Option(relaxed_accelerator(option.acc, ctx.binding), option.dtype, option.kv_dtype, option.price,
                          eff, option.layouts)
    rows = E.build(ctx.model, spec, [option])
    E.operate(rows)
    b_op = rows["b_op"]
    return W.WALLS[int(np.asarray(E.metrics(rows, np.maximum(b_op, 1.0), b_op)["wall"]).reshape(-1)[0])]


def _gpus_needed(ctx: _Context) -> str:
    need = weight_bytes(ctx.model, ctx.spec.dtype) / usable_bytes(ctx.acc)
    return f"{math.ceil(need):,}"


def _reason(ctx: _Context) -> str:
    v, spec = ctx.values, ctx.spec
    usable = v["usable_gb_per_gpu"]
    if ctx.rule == 1:
        whole = weight_bytes(ctx.model, spec.dtype) / GB
        span = "" if ctx.any_fit else f" (at most {MAX_GPUS_PER_REPLICA} per replica are considered)"
        return (f"the weights need at least {_gpus_needed(ctx)} GPUs: {whole:,.1f} GB in {spec.dtype} over "
                f"{usable:.1f} GB usable per {ctx.acc.id}; {ctx.layout} holds {v['weights_gb_per_gpu']:.1f} GB per "
                f"GPU{span}")
    if ctx.rule == 2:
        return (f"even unloaded, the first token of a {spec.input_tokens:,}-token prompt takes "
                f"{v['ttft_b1_ms']:,.1f} ms at {ctx.layout}, over the TTFT SLO of {spec.ttft_slo_ms:g} ms; "
                f"{ctx.binding} dominates the prefill")
    if ctx.rule == 3:
        return (f"even at batch 1 a user sees {v['tpot_b1_ms']:.1f} ms per token at {ctx.layout}, over the TPOT SLO "
                f"of {spec.tpot_slo_ms:g} ms; {ctx.binding} dominates a token's time")
    if ctx.rule == 4:
        return (f"the cheapest plan that meets the SLOs ({ctx.layout}, {v['gpus']:,} GPUs) costs "
                f"${v['usd_month']:,.0f}/month, over the budget of ${spec.budget_usd_month:,.0f}")
    if ctx.rule == 5:
        return (f"the KV cache caps the batch at {v['max_batch_memory']:,} sequences of "
                f"{spec.input_tokens + spec.output_tokens:,} tokens per replica ({ctx.layout}); the SLOs would allow "
                f"{v['batch_slo']:,}")
    if ctx.rule == 7:
        setting = "max_batch in the spec" if spec.max_batch is not None else f"the {spec.engine} default"
        return (f"the engine's batch cap ({setting}: {v['max_batch_engine']:,} sequences per replica) stops the batch "
                f"at {v['batch']:,} ({ctx.layout}); {v['max_batch_memory']:,} would fit and the SLOs would allow "
                f"{v['batch_slo']:,}; {ctx.binding} takes the largest share of a token's time")
    what = "the prefill" if ctx.ttft_caps else "a token's time"
    return (f"the {ctx.slo} SLO caps the batch at {v['batch']:,} sequences per replica ({ctx.layout}; "
            f"{v['max_batch_memory']:,} would fit); {ctx.binding} takes the largest share of {what}")


def _better(cat: Catalogue, acc: Accelerator, key: Callable[[Accelerator], float], unit: str, n: int = 3) -> str:
    """The ``n`` catalogue accelerators that beat ``acc`` most on ``key``, with their figures (from the catalogue)."""
    others = sorted((a for a in cat.accelerators.values() if key(a) > key(acc)), key=key, reverse=True)[:n]
    return ", ".join(f"{a.id} {key(a):g} {unit}" for a in others) or "none in the catalogue"


NARROWER: dict[str, tuple[str, ...]] = {
    "fp32": ("bf16", "fp8", "int4"), "bf16": ("fp8", "int4"), "fp16": ("fp8", "int4"), "fp8": ("int4", "fp4"),
    "int8": ("int4", "fp4"), "int4": (), "fp4": (),
}
"""Weight formats with fewer bytes than each format, most common first."""


def _narrower(acc: Accelerator, dtype: str) -> list[str]:
    """Narrower weight formats ``acc`` runs (fp4 only where it has a native fp4 rate)."""
    out = []
    for d in NARROWER[dtype]:
        if d == "fp4" and "fp4" not in acc.dense_peak_tflops:
            continue
        out.append(d)
    return out


FASTER_COMPUTE_FORMATS: tuple[str, ...] = ("fp8", "int8", "fp4")
"""Weight formats whose native dense rate the advice may offer as faster compute."""
FASTER_BY = 1.01
"""A rate counts as faster than the plan's only above this ratio (equal peaks, rounded in the catalogue, do not)."""


def _faster_compute(acc: Accelerator, dtype: str) -> list[str]:
    """Formats with a faster dense rate than ``dtype``'s compute rate on ``acc`` (native rates only)."""
    here = acc.peak_flops(dtype)
    return [d for d in FASTER_COMPUTE_FORMATS if d in acc.dense_peak_tflops
            and acc.dense_peak_tflops[d] * TERA > here * FASTER_BY]  # type: ignore[index]


def _larger_layout(ctx: _Context) -> str | None:
    """A layout with more GPUs per replica that the engines run: a larger tp on the scale-up link, else pp."""
    v = ctx.values
    bigger = [t for t in tp_choices(ctx.model, ctx.acc) if t > v["tp"]]
    if bigger:
        return f"tp={bigger[0]}"
    if v["tp"] * v["pp"] * 2 <= MAX_GPUS_PER_REPLICA and v["pp"] * 2 <= ctx.model.layers:
        return f"pp={v['pp'] * 2} (pipeline stages across hosts, over the scale-out NIC)"
    return None


def _advice(ctx: _Context) -> list[str]:
    v, spec, acc = ctx.values, ctx.spec, ctx.acc
    narrower = _narrower(acc, spec.dtype)
    kv16 = spec.kv_dtype in ("bf16", "fp16", "fp32")
    fixed = [name for name in ("tp", "pp") if getattr(spec, name) is not None]
    tips: list[str] = []
    if ctx.binding == W.MEMORY_CAPACITY:
        if ctx.rule == 1:
            more = _larger_layout(ctx)
            if more and fixed:
                tips.append(f"give more GPUs per replica ({more}), or leave {' and '.join(fixed)} to auto")
            elif more:
                tips.append(f"more GPUs per replica: {more}")
            elif not ctx.any_fit:
                tips.append(f"the weights need at least {_gpus_needed(ctx)} {acc.id}s: more than one replica of "
                            f"{MAX_GPUS_PER_REPLICA} GPUs holds")
        else:
            if kv16:
                tips.append("store the KV cache in fp8 (half the bytes of bf16): about twice the batch fits")
            more = _larger_layout(ctx)
            if more:
                tips.append(f"spread the weights and the KV cache over more GPUs ({more})"
                            + (f", or leave {' and '.join(fixed)} to auto" if fixed else ""))
        if narrower:
            tips.append(f"quantize the weights to {' or '.join(narrower)}")
        tips.append(f"use an accelerator with more memory ({_better(ctx.cat, acc, lambda a: a.memory_gb, 'GB')})")
        return tips
    if ctx.binding == W.BUDGET:
        tips.append(f"the cheapest plan meeting the SLOs needs ${v['usd_month']:,.0f}/month: raise the budget by "
                    f"${v['usd_month'] - spec.budget_usd_month:,.0f}, or loosen the TPOT SLO (bigger batches)")
        if narrower:
            tips.append(f"{' or '.join(narrower)} weights: more tokens per GPU")
        tips.append("`whichwall search` compares every accelerator and dtype for the cheapest per token")
        return tips
    # a resource binds: an SLO caps the batch (rule 6) or is missed even at batch 1 (rules 2, 3)
    if ctx.rule == 6:
        tips.append(f"the {ctx.slo} SLO ({spec.ttft_slo_ms if ctx.ttft_caps else spec.tpot_slo_ms:g} ms) caps the "
                    f"batch at {v['batch']:,}: a looser {ctx.slo} SLO lets the batch grow and amortize the step")
    elif ctx.rule == 7:
        room = min(v["max_batch_memory"], v["batch_slo"])
        tips.append(f"raise the engine's batch cap (max_batch in the spec; vLLM --max-num-seqs, TensorRT-LLM "
                    f"--max_batch_size) towards {room:,}: the memory and the SLOs allow that batch")
    elif ctx.rule in (2, 3):
        more = _larger_layout(ctx)
        if more and more.startswith("tp"):
            tips.append(f"split the work over more GPUs: {more}"
                        + (" (tp is fixed in the spec: leave it to auto)" if spec.tp is not None else ""))
    if ctx.binding == W.MEMORY_BANDWIDTH:
        fewer = [f"{'/'.join(narrower)} weights"] if narrower else []
        if kv16:
            fewer.append("an fp8 KV cache")
        faster = _better(ctx.cat, acc, lambda a: a.memory_bandwidth_tbs, "TB/s")
        tips.append(f"each decode step reads {ctx.step_gb:.2f} GB per GPU: "
                    + (f"fewer bytes ({', '.join(fewer)}) or " if fewer else "") + f"faster memory ({faster})")
    elif ctx.binding == W.COMPUTE:
        rates = _faster_compute(acc, spec.dtype)
        if rates:
            tips.append(f"{' or '.join(rates)} weights run at a faster dense rate on {acc.id}")
        faster = _better(ctx.cat, acc, lambda a: a.dense_peak_tflops.get("bf16", 0.0), "bf16 TFLOP/s", 2)
        tips.append(f"a faster accelerator ({faster})")
        if ctx.ttft_caps or ctx.rule == 2:
            tips.append("prefill dominates: disaggregated prefill on its own pool (`whichwall search`), shorter "
                        "prompts or prefix caching")
    elif ctx.binding == W.NETWORK:
        link = acc.tp_link(v["tp"]) if v["tp"] > 1 else None
        kind = "PCIe " if link is not None and link is acc.pcie and "pcie" not in link.name.lower() else ""
        name = f"{kind}{link.name} at {link.gbs_per_direction:g} GB/s per direction" if link else "the links"
        smaller = [t for t in tp_choices(ctx.model, acc) if t < v["tp"]]
        tips.append(f"collectives over {name} dominate: "
                    + (f"a smaller tp (tp={smaller[-1]}) with more replicas" if smaller else "fewer GPUs per replica")
                    + (", or pipeline stages instead of tensor parallelism" if v["pp"] == 1 else ""))
        tips.append("or accelerators with a faster scale-up link")
    return tips
