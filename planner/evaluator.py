"""The one evaluator: step times, operating point, replicas, cost and walls of whole sets of configurations at once.

Every face reads it: a plan (``planner.plan``) is its best row on the spec's accelerator and dtypes, the search
(``planner.search``) its best rows over many, the Excel functions and the CLI read plans, and fidelity checks
(``planner.fidelity``) time measured rows with the same step inputs and serving formula.

A **configuration** is an option — accelerator × weight dtype × KV dtype, with its price and efficiencies — times a
layout (tp, pp, ep; ``planner.topology.layouts``). Each is one row of (n, 1) numpy columns; batches broadcast
across, so a bisection over the batch or a grid of batches is one array expression.

**The decode step** of b sequences (per microbatch) is ``roofline.step_time`` of ``roofline.decode_inputs`` at
``roofline.step_rates``. Its parts are affine in b, except the routed experts b tokens touch, x(b) =
``roofline.expert_load`` (t(b) experts per MoE layer; under expert parallelism the busiest group's, × ep):
memory = M0 + M1·b + ME·x(b) (ME: one expert's bytes and its GEMM's fixed cost), compute = C1·b,
network = N0 + N1·b, overhead = O0 + O1·b; so each row keeps the coefficients, found by evaluating the one step-time
formula at b = 0, at one sequence's extensive inputs and at one touched expert (``tests/test_evaluator.py`` checks
the affine form against ``step_time`` at random batches).
The prefill of one prompt is ``step_time`` of ``roofline.prefill_inputs``.

**Pipeline parallelism** (pp stages of tp GPUs, layers split evenly): weights and KV spread over tp · pp GPUs for
memory. The replica keeps pp microbatches of b sequences in flight (pp · b sequences per replica); a token takes the
tp-only step over all layers plus (pp − 1) hops of its activations (b · hidden · 2 bytes, split over the tp GPUs of
a stage, at the scale-up link when all tp · pp GPUs share a scale-up domain, else the per-GPU scale-out NIC, each hop
adding the fitted per-collective latency); a prefill adds (pp − 1) hops of the prompt's activations. The pp stages
work concurrently, so a replica serves pp / (t_k + output_tokens · step / b) requests/s (t_k below).

**Expert parallelism** (MoE, ep = tp): every GPU holds whole experts (still 1/tp of the weights); in each MoE layer
the experts' all-reduce is replaced by an all-to-all dispatch and combine, each moving tokens · k · hidden · 2 bytes
· (tp − 1) / tp² per GPU over the tensor-parallel link, plus one collective latency each.

**Serving** (``planner.serving``): TPOT = step + (b / output_tokens) · t_k, TTFT = request overhead + step +
prefill · (1 + burst(b)), where t_k is each request's share of an iteration that prefills k = clip(b / output_tokens,
1, token budget / prompt) arriving prompts together (``Rows.prefill_share``: the batched prefill ÷ k; one prompt's
prefill at k = 1). The SLO batch is the largest b up to ``BATCH_SEARCH_LIMIT`` at which both meet their SLOs
(bisection: both grow with b), the operating batch min(SLO batch, largest batch that fits, the engine's batch cap
÷ pp: ``batch_cap``); replicas =
ceil(qps / (pp / busy) − 1e-9) with busy = t_k + output_tokens · step / b per request; cost = replicas · tp · pp
· $/GPU-hour · 730. The walls (utilizations and the binding rule) are ``planner.walls``'.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from planner import walls as W
from planner.catalogue import Accelerator, Model, dtype_bytes
from planner.efficiency import Efficiency, engine_max_sequences, engine_token_budget, serving_assumptions
from planner.errors import PlannerError
from planner.roofline import (
    ALLREDUCES_PER_LAYER,
    StepInputs,
    StepTime,
    batched_prefill_inputs,
    decode_inputs,
    expert_load,
    kv_bytes_per_sequence,
    prefill_inputs,
    prefill_rates,
    step_rates,
    step_time,
    time_step,
)
from planner.serving import aggregated_times, prompts_per_iteration, slot_wait
from planner.spec import PlanSpec
from planner.topology import (
    REPLICA_TOLERANCE,
    kv_bytes_per_sequence_per_gpu,
    reserve_bytes,
    usable_bytes,
    weight_bytes_per_gpu,
)
from planner.units import ACTIVATION_BYTES, GB, HOURS_PER_MONTH, MS_PER_S, SECONDS_PER_HOUR, TOKENS_PER_MILLION

BATCH_SEARCH_LIMIT = 65_536
"""Largest batch per microbatch whichwall considers."""


@dataclass(frozen=True)
class Option:
    """One (accelerator, weight dtype, KV dtype) to evaluate, with its $/GPU-hour (NaN: unknown), its efficiencies
    and the (tp, pp, ep) layouts to try, a (C, 3) array."""

    acc: Accelerator
    dtype: str
    kv_dtype: str
    price: float
    eff: Efficiency
    layouts: np.ndarray


def batch_cap(spec: PlanSpec, acc: Accelerator) -> float:
    """Sequences a replica runs at once: the spec's ``max_batch``, else the engine's default on this GPU
    (``efficiency.engine_max_sequences``; infinity where the engine has none)."""
    if spec.max_batch is not None:
        return float(spec.max_batch)
    return engine_max_sequences(spec.engine, acc.id, acc.memory_bytes)


def scaleout_bytes_per_s(acc: Accelerator) -> float:
    """Per-GPU scale-out NIC bandwidth per direction, bytes/s: the catalogue's ``scaleout`` link, else the default
    in ``serving.yaml``."""
    if acc.scaleout is not None:
        return acc.scaleout.bytes_per_s
    default = serving_assumptions().scaleout_default
    if default is None:  # pragma: no cover - serving.yaml ships a default
        raise PlannerError(f"{acc.id} has no scale-out link and serving.yaml no scaleout_default")
    return default.gbs_per_direction * GB


def hop_link(acc: Accelerator, eff: Efficiency, tp: np.ndarray, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-GPU bandwidth (bytes/s, times the link fraction) and latency of a pipeline hop: the scale-up link when
    all tp · pp GPUs share a scale-up domain, PCIe within one host of PCIe cards, else the scale-out NIC (with the
    fitted per-collective latency: the measurements have no scale-out rows)."""
    gpus = tp * pp
    bw = np.full(gpus.shape, scaleout_bytes_per_s(acc) * eff.link_fraction)
    lat = np.full(gpus.shape, eff.scaleup_latency_s)
    for link, latency in ((acc.pcie, eff.pcie_latency_s), (acc.scaleup, eff.scaleup_latency_s)):
        if link is not None:
            inside = gpus <= link.domain
            bw = np.where(inside, link.bytes_per_s * eff.link_fraction, bw)
            lat = np.where(inside, latency, lat)
    return bw, lat


def expert_exchange_s(tokens: Any, experts_per_token: Any, hidden_size: Any, moe_layers: Any, tp: Any, ep: Any,
                      link_bw: Any, latency: Any) -> np.ndarray:
    """Network seconds expert parallelism adds to a step over ``tokens`` tokens (module docstring), on arrays (the
    model's sizes may differ per row, as measured rows' do): per MoE layer two all-to-alls (dispatch and combine) of
    each token's ``experts_per_token`` activations, (ep − 1)/ep of them leaving each GPU's 1/tp share, instead of the
    experts' all-reduce (its network part of ``step_time``); 0 at ep = 1."""
    allreduce = step_time(weight_bytes=0.0, kv_bytes=0.0, matmul_flops=0.0, attention_flops=0.0, tokens=tokens,
                          sequences=0.0, tp=tp, kv_split=1.0, layers=moe_layers / ALLREDUCES_PER_LAYER,
                          hidden_size=hidden_size, bandwidth=1.0, peak_flops=1.0, attention_peak_flops=1.0,
                          link_bandwidth=link_bw, collective_latency_s=latency).network_s
    with np.errstate(invalid="ignore"):
        per_gpu = tokens * experts_per_token * hidden_size * ACTIVATION_BYTES * (ep - 1.0) / (ep * tp)
        all_to_all = moe_layers * 2.0 * (per_gpu / link_bw + latency)
    return np.asarray(np.where(ep > 1, all_to_all - allreduce, 0.0), dtype=float)


def extra_network_s(model: Model, tp: np.ndarray, pp: np.ndarray, ep: np.ndarray, tokens: np.ndarray | float,
                    link_bw: np.ndarray, latency: np.ndarray, hop_bw: np.ndarray, hop_lat: np.ndarray) -> np.ndarray:
    """Network seconds that pipeline hops and expert all-to-alls add to a step over ``tokens`` tokens (module
    docstring): (pp − 1)(tokens · hidden · 2 / (tp · hop) + latency), plus ``expert_exchange_s``."""
    h = model.hidden_size
    extra = (pp - 1.0) * (tokens * h * ACTIVATION_BYTES / (tp * hop_bw) + hop_lat)
    if model.moe and (ep > 1).any():
        extra = extra + expert_exchange_s(tokens, model.moe.experts_per_token, h, model.moe_layers, tp, ep, link_bw,
                                          latency)
    return np.asarray(extra, dtype=float)


DECODE_COEFFICIENTS = ("m0", "m1", "me", "c1", "n0", "n1", "o0", "o1", "bytes0", "bytes1", "bytes_e", "flops1")
PREFILL_PARTS = ("memory_s", "compute_s", "network_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu", "total_s")
PREFILL_SLOPES = ("memory_s", "compute_s", "network_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu")
"""The prefill parts that grow with the prompts prefilled together: part(k) = pre_part + (k − 1) · pk_part."""
SERVING = ("request_overhead_s", "burst_coefficient", "burst_exponent", "burst_output_exponent")


class Rows:
    """Configurations as rows: ``cols`` maps a name to an (n, 1) array. ``names`` holds the accelerator ids and
    dtype names the index columns (``acc``, ``dtype_i``, ``kv_i``) point into."""

    def __init__(self, cols: dict[str, np.ndarray], model: Model, spec: PlanSpec, names: dict[str, list[str]]):
        self.c = cols
        self.model = model
        self.spec = spec
        self.names = names

    def __len__(self) -> int:
        return len(self.c["tp"]) if self.c else 0

    def __getitem__(self, key: str) -> np.ndarray:
        return self.c[key]

    def take(self, idx: np.ndarray) -> Rows:
        return Rows({k: v[idx] for k, v in self.c.items()}, self.model, self.spec, self.names)

    @property
    def prefill(self) -> StepTime:
        """One prompt's prefill, alone."""
        c = self.c
        return StepTime(c["pre_memory_s"], c["pre_compute_s"], c["pre_network_s"], c["pre_overhead_s"],
                        c["pre_bytes_per_gpu"], c["pre_flops_per_gpu"])

    def _experts_beyond_linear(self, k: np.ndarray) -> np.ndarray | float:
        """Routed experts per MoE layer that k prompts prefilled together load beyond the straight line through one
        and two prompts, L(kP) − L(P) − (k − 1)(L(2P) − L(P)) (``roofline.expert_load``; ≤ 0: the experts touched
        saturate, at E). The prefill share's parts are affine in k but for this term: it makes them exact."""
        if not self.model.moe:
            return 0.0
        c = self.c
        load = expert_load(self.model, k * self.spec.input_tokens, c["ep"])
        return load - c["pre_load"] - (k - 1.0) * (c["pre2_load"] - c["pre_load"])

    def prefill_share(self, b: np.ndarray) -> StepTime:
        """Each prompt's share of the prefill iteration it runs in at ``b`` sequences per microbatch: T_pre(k) / k,
        k = ``serving.prompts_per_iteration`` (each part of k prompts prefilled together, pre + (k − 1) · pk, divided
        by k: pk + pd / k with pd = pre − pk; memory and bytes plus the routed experts' departure from that line,
        ``_experts_beyond_linear``, at ``me`` seconds and ``bytes_e`` bytes per expert loaded)."""
        c = self.c
        k = prompts_per_iteration(b, self.spec.output_tokens, c["k_max"])
        inv_k = 1.0 / k
        extra = self._experts_beyond_linear(k) * inv_k
        part = {f: c["pk_" + f] + c["pd_" + f] * inv_k for f in PREFILL_SLOPES}
        return StepTime(part["memory_s"] + c["me"] * extra, part["compute_s"], part["network_s"], part["overhead_s"],
                        part["bytes_per_gpu"] + c["bytes_e"] * extra, part["flops_per_gpu"])

    def prefill_share_s(self, b: np.ndarray) -> np.ndarray:
        """``prefill_share(b).total_s``, from the parts a time needs only (the bisection's inner loop)."""
        c = self.c
        k = prompts_per_iteration(b, self.spec.output_tokens, c["k_max"])
        inv_k = 1.0 / k
        memory = c["pk_memory_s"] + c["pd_memory_s"] * inv_k
        if self.model.moe:
            memory = memory + c["me"] * self._experts_beyond_linear(k) * inv_k
        compute = c["pk_compute_s"] + c["pd_compute_s"] * inv_k
        return np.maximum(memory, compute) + c["pk_fixed_s"] + c["pd_fixed_s"] * inv_k


def _decode_coefficients(model: Model, context: float, dtype: str, kv_dtype: str, rates: Any,
                         extra0: np.ndarray, extra1: np.ndarray) -> dict[str, np.ndarray]:
    """The affine coefficients of the decode step (module docstring), from ``step_time`` at b = 0, at one
    sequence's extensive inputs (no fixed latency or overhead), and at one touched expert."""
    zero = np.zeros(1)
    none = decode_inputs(model, zero, context, dtype, kv_dtype)
    at0 = time_step(none, rates)
    one = decode_inputs(model, np.ones(1), context, dtype, kv_dtype)
    # per sequence: its KV, FLOPs, tokens and the embedding row it gathers (strict inputs), not the shared weights
    per_sequence = replace(one, weight_bytes=one.weight_bytes - none.weight_bytes, expert_weight_bytes=zero,
                           expert_gemms=zero)
    slope_rates = replace(rates, collective_latency_s=0.0, step_overhead_s=0.0)
    at1 = time_step(per_sequence, slope_rates)
    me = bytes_e = zero  # a dense model touches no routed experts
    if model.moe:
        expert_bytes = model.moe_layers * model.expert_params * dtype_bytes(dtype)  # one touched expert per layer
        unit_expert = StepInputs(zero, np.full(1, expert_bytes), zero, zero, zero, zero, zero, zero,
                                 np.full(1, float(model.moe_layers)))
        per_expert = time_step(unit_expert, slope_rates)
        me, bytes_e = per_expert.memory_s, per_expert.bytes_per_gpu
    return {"m0": at0.memory_s, "m1": at1.memory_s, "me": me, "c1": at1.compute_s,
            "n0": at0.network_s + extra0, "n1": at1.network_s + extra1, "o0": at0.overhead_s, "o1": at1.overhead_s,
            "bytes0": at0.bytes_per_gpu, "bytes1": at1.bytes_per_gpu, "bytes_e": bytes_e,
            "flops1": at1.flops_per_gpu}


def build(model: Model, spec: PlanSpec, options: Sequence[Option],
          progress: Callable[[int, int, str], None] | None = None) -> Rows:
    """One row per (option, layout): the decode-step coefficients, the prefill, the memory limits, rates, price and
    serving terms. ``progress(done, total, label)`` is called after each option."""
    parts: list[dict[str, Any]] = []
    counts: list[int] = []
    full_context = float(spec.input_tokens + spec.output_tokens)
    decode_context = spec.input_tokens + spec.output_tokens / 2
    prompt = float(spec.input_tokens)
    acc_names: list[str] = []
    dtype_names: list[str] = []
    for done, opt in enumerate(options, 1):
        acc, dtype, kv, eff = opt.acc, opt.dtype, opt.kv_dtype, opt.eff
        if acc.id not in acc_names:
            acc_names.append(acc.id)
        for d in (dtype, kv):
            if d not in dtype_names:
                dtype_names.append(d)
        if len(opt.layouts):
            tp, pp, ep = opt.layouts[:, :1], opt.layouts[:, 1:2], opt.layouts[:, 2:3]
            rates = step_rates(model, acc, dtype, kv, tp, eff, ep=ep)
            hop_bw, hop_lat = hop_link(acc, eff, tp, pp)
            link_bw, latency = rates.link_bandwidth, rates.collective_latency_s

            # the pipeline hops and expert all-to-alls over 0, 1, P and 2P tokens, one array expression
            x = extra_network_s(model, tp, pp, ep, np.array([[0.0, 1.0, prompt, 2.0 * prompt]]),
                                np.broadcast_to(link_bw, tp.shape), np.broadcast_to(latency, tp.shape), hop_bw,
                                hop_lat)
            x = np.broadcast_to(x, (len(tp), 4))
            coeffs = _decode_coefficients(model, decode_context, dtype, kv, rates, x[:, :1], x[:, 1:2] - x[:, :1])
            for_prefill = prefill_rates(rates, acc, dtype, kv, eff)
            first = prefill_inputs(model, prompt, dtype, kv, ep=ep)
            pre = time_step(first, for_prefill)
            pre = StepTime(pre.memory_s, pre.compute_s, pre.network_s + x[:, 2:3], pre.overhead_s,
                           pre.bytes_per_gpu, pre.flops_per_gpu)
            two = time_step(batched_prefill_inputs(model, prompt, 2.0, dtype, kv, ep=ep, one=first), for_prefill)
            two = StepTime(two.memory_s, two.compute_s, two.network_s + x[:, 3:4], two.overhead_s,
                           two.bytes_per_gpu, two.flops_per_gpu)
            weights_gpu = weight_bytes_per_gpu(model, dtype, tp, pp)
            kv_seq_gpu = kv_bytes_per_sequence_per_gpu(model, full_context, kv, tp)
            row = {
                "acc": acc_names.index(acc.id), "dtype_i": dtype_names.index(dtype),
                "kv_i": dtype_names.index(kv), "tp": tp, "pp": pp, "ep": ep, "price": opt.price,
                "memory_bytes": acc.memory_bytes, "usable": usable_bytes(acc), "reserve": reserve_bytes(acc),
                "weights_gpu": weights_gpu, "kv_seq_gpu": kv_seq_gpu,
                "b_mem": np.maximum(np.floor((usable_bytes(acc) - weights_gpu) / kv_seq_gpu), 0.0),
                "b_cap": np.maximum(np.floor(batch_cap(spec, acc) / pp), 1.0),
                "k_max": np.maximum(engine_token_budget(spec.engine, acc.id, acc.memory_bytes) / prompt, 1.0),
                "kv_prompt_gpu": kv_bytes_per_sequence_per_gpu(model, prompt, kv, tp),
                "pre_load": expert_load(model, prompt, ep) if model.moe else 0.0,
                "pre2_load": expert_load(model, 2.0 * prompt, ep) if model.moe else 0.0,
                "peak_bandwidth": acc.bandwidth_bytes_per_s, "peak_flops": acc.peak_flops(dtype),
                "nic": scaleout_bytes_per_s(acc), "link_fraction": eff.link_fraction,
                "collective_latency": eff.scaleup_latency_s,
                "calibration_rows": float(eff.calibration_rows),
                **coeffs,
                **{"pre_" + f: getattr(pre, f) for f in PREFILL_PARTS},
                # per prompt at k prompts together: pk + pd / k (pk: the slope; pd: what one prompt adds beyond it)
                **{"pk_" + f: getattr(two, f) - getattr(pre, f) for f in PREFILL_SLOPES},
                **{"pd_" + f: 2.0 * getattr(pre, f) - getattr(two, f) for f in PREFILL_SLOPES},
                "pk_fixed_s": (two.network_s + two.overhead_s) - (pre.network_s + pre.overhead_s),
                "pd_fixed_s": 2.0 * (pre.network_s + pre.overhead_s) - (two.network_s + two.overhead_s),
                **{k: getattr(eff, k) for k in SERVING},
            }
            parts.append(row)
            counts.append(len(tp))
        if progress is not None:
            progress(done, len(options), f"{acc.id} {dtype} KV {kv}")
    names = {"accelerator": acc_names, "dtype": dtype_names}
    if not parts:
        return Rows({}, model, spec, names)
    cols = {}
    for k in parts[0]:
        values = [p[k] for p in parts]
        if len(values) == 1:  # one option (a plan): no concatenation
            v = values[0]
            cols[k] = v if isinstance(v, np.ndarray) and v.shape == (counts[0], 1) else np.full((counts[0], 1), v)
        elif all(np.ndim(v) == 0 for v in values):
            cols[k] = np.repeat(np.asarray(values, dtype=float), counts)[:, None]
        else:
            cols[k] = np.concatenate([np.broadcast_to(np.asarray(v, dtype=float), (n, 1))
                                      for v, n in zip(values, counts, strict=True)])
    return Rows(cols, model, spec, names)


# --------------------------------------------------------------------------------------------- steps and times


def decode(r: Rows, b: np.ndarray) -> StepTime:
    """The decode step of ``b`` sequences per microbatch on every row (``b``: (n, 1) or (1, K) or (n, K))."""
    c = r.c
    t = expert_load(r.model, b, c["ep"]) if r.model.moe else 0.0
    memory = c["m0"] + c["m1"] * b + c["me"] * t
    compute = c["c1"] * b
    network = c["n0"] + c["n1"] * b
    overhead = c["o0"] + c["o1"] * b
    shape = np.broadcast_shapes(np.shape(memory), np.shape(compute), np.shape(network), np.shape(overhead))
    bytes_ = c["bytes0"] + c["bytes1"] * b + c["bytes_e"] * t
    m, cp, n, o, by, f = (x if np.shape(x) == shape else np.broadcast_to(x, shape)
                          for x in (memory, compute, network, overhead, bytes_, c["flops1"] * b))
    return StepTime(m, cp, n, o, by, f)


def decode_total_s(r: Rows, b: np.ndarray) -> np.ndarray:
    """``decode(r, b).total_s``, computed without the parts (the bisection's inner loop)."""
    c = r.c
    memory = c["m0"] + c["m1"] * b
    if r.model.moe:
        memory = memory + c["me"] * expert_load(r.model, b, c["ep"])
    return np.maximum(memory, c["c1"] * b) + (c["n0"] + c["o0"]) + (c["n1"] + c["o1"]) * b


def _user_times_ms(r: Rows, total_s: np.ndarray, b: np.ndarray,
                   shared_s: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    c = r.c
    if shared_s is None:
        shared_s = r.prefill_share_s(b)
    times = aggregated_times(total_s, c["pre_total_s"], b, r.spec.output_tokens, c["request_overhead_s"],
                             c["burst_coefficient"], c["burst_exponent"], c["burst_output_exponent"], shared_s)
    return times.tpot_s * MS_PER_S, times.ttft_s * MS_PER_S


def user_ms(r: Rows, b: np.ndarray) -> tuple[StepTime, np.ndarray, np.ndarray, np.ndarray]:
    """(decode step, its total seconds, TPOT ms, TTFT ms) a user sees at ``b`` sequences per microbatch."""
    step = decode(r, b)
    total = step.total_s
    return (step, total, *_user_times_ms(r, total, b))


def bisect(meets: Callable[[np.ndarray], np.ndarray], n: int, limit: float = BATCH_SEARCH_LIMIT,
           fails_from: np.ndarray | None = None) -> np.ndarray:
    """The largest batch up to ``limit`` for which ``meets`` holds, per row (0 if batch 1 does not): ``meets`` must
    hold up to some batch and fail beyond it. Bisection over [1, limit], every row at once; ``fails_from``: per row,
    a batch at which ``meets`` is known to fail (the bisection starts below it)."""
    one = meets(np.ones((n, 1)))
    hi = np.full((n, 1), float(limit)) if fails_from is None else np.clip(fails_from, 1.0, float(limit))
    at_limit = hi >= limit
    top = meets(hi) & at_limit if at_limit.any() else at_limit
    lo = np.ones((n, 1))
    active = one & ~top
    while active.any():
        mid = np.floor((lo + hi) / 2)
        ok = meets(mid)
        lo = np.where(active & ok, mid, lo)
        hi = np.where(active & ~ok, mid, hi)
        active &= hi - lo > 1
    return np.where(~one, 0.0, np.where(top, float(limit), lo))


def slo_batches(r: Rows, decode_only: np.ndarray | None = None) -> np.ndarray:
    """Largest batch per microbatch meeting the SLOs, per row: both SLOs with prefill interference (aggregated
    serving), or the bare decode step within the TPOT SLO where ``decode_only`` (a disaggregated decode pool)."""
    spec = r.spec

    def meets(b: np.ndarray) -> np.ndarray:
        total = decode_total_s(r, b)
        tpot, ttft = _user_times_ms(r, total, b)
        aggregated = (tpot <= spec.tpot_slo_ms) & (ttft <= spec.ttft_slo_ms)
        if decode_only is None:
            return aggregated
        return np.where(decode_only, total * MS_PER_S <= spec.tpot_slo_ms, aggregated)

    # TPOT ≥ the decode step ≥ (max(C1, M1) + N1 + O1) · b: no batch beyond the SLO over that slope meets it
    slope = np.maximum(r.c["c1"], r.c["m1"]) + r.c["n1"] + r.c["o1"]
    with np.errstate(divide="ignore"):
        fails_from = np.floor(spec.tpot_slo_ms / MS_PER_S / slope) + 1.0
    return bisect(meets, len(r), fails_from=fails_from)


def operate(r: Rows, decode_only: np.ndarray | None = None) -> None:
    """Add to the rows: the batch-1 step, times and token parts, the SLO batch ``b_slo``, the operating batch
    ``b_op`` = min(largest batch that fits, SLO batch, engine cap), and ``ttft_caps``: whether the TTFT SLO is the
    one the next larger batch breaks first (relative to its SLO) — which SLO caps the batch."""
    spec = r.spec
    ones = np.ones((len(r), 1))
    step1, total1, tpot1, ttft1 = user_ms(r, ones)
    share = 1.0 / spec.output_tokens
    pre = r.prefill
    r.c.update(tpot1_ms=tpot1, ttft1_ms=ttft1, d1_total_s=total1,
               **{f"t1_{k}": getattr(step1, k) + share * getattr(pre, k) for k in ("memory_s", "compute_s",
                                                                                 "network_s")})
    r.c["b_slo"] = slo_batches(r, decode_only)
    r.c["b_op"] = np.minimum(np.minimum(r.c["b_mem"], r.c["b_slo"]), r.c["b_cap"])
    nxt = np.minimum(np.maximum(r.c["b_slo"], 1.0) + 1.0, BATCH_SEARCH_LIMIT)
    tpot_next, ttft_next = _user_times_ms(r, decode_total_s(r, nxt), nxt)
    r.c["ttft_caps"] = (ttft_next / spec.ttft_slo_ms >= tpot_next / spec.tpot_slo_ms).astype(float)


NA_COLUMNS = ("kv_transfer_ms", "prefill_acc", "prefill_tp", "prefill_replicas")
"""Columns of disaggregated plans, NaN for aggregated ones."""


def usd_per_million_tokens(usd_per_hour: Any, tokens_per_s: Any) -> Any:
    """USD per million tokens at a steady spend and token rate: USD/hour ÷ (tokens/s · 3600 s/hour) · 1e6."""
    return usd_per_hour / (tokens_per_s * SECONDS_PER_HOUR) * TOKENS_PER_MILLION


def metrics(r: Rows, b: np.ndarray, b_used: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Every figure of the rows at ``b`` sequences per microbatch (arrays that broadcast to (n, K)): times, replicas,
    cost, throughput, the walls' utilizations (``planner.walls``), the step-time split and the binding wall.
    ``b_used``: the operating batch (0 where none meets the SLOs or fits; default ``b``). Needs ``operate``'s
    columns."""
    spec = r.spec
    c = r.c
    b_used = b if b_used is None else b_used
    t = expert_load(r.model, b, c["ep"]) if r.model.moe else 0.0
    memory = c["m0"] + c["m1"] * b + c["me"] * t
    compute = c["c1"] * b
    network = c["n0"] + c["n1"] * b
    overhead = c["o0"] + c["o1"] * b
    total = np.maximum(memory, compute) + network + overhead
    shared = r.prefill_share(b)  # each request's prefill, prefilled together with the others arriving per step
    shared_s = shared.total_s
    tpot, ttft = _user_times_ms(r, total, b, shared_s)
    tp, pp, b_mem, b_slo, b_cap = c["tp"], c["pp"], c["b_mem"], c["b_slo"], c["b_cap"]
    runs = b_used >= 1
    steps = spec.output_tokens / b
    busy = shared_s + steps * total
    replica_rps = pp / busy
    with np.errstate(invalid="ignore"):
        replicas = np.where(runs, np.maximum(np.ceil(spec.qps / replica_rps - REPLICA_TOLERANCE), 1.0), np.nan)
    gpus = replicas * (tp * pp)
    usd_month = gpus * (c["price"] * HOURS_PER_MONTH)
    budget_u = usd_month / spec.budget_usd_month if spec.budget_usd_month else np.nan
    # the walls' utilizations (planner.walls): each wall's share of its own limit
    fits = b_mem >= 1
    need = (c["weights_gpu"] + c["kv_seq_gpu"]) / c["usable"]
    u_mem = np.where(fits, b_used / np.where(fits, b_mem, 1.0), need)
    nan = np.where(runs, 1.0, np.nan) / busy
    bytes_ = c["bytes0"] + c["bytes1"] * b + c["bytes_e"] * t
    u_bw = (shared.bytes_per_gpu + steps * bytes_) * nan / c["peak_bandwidth"]
    u_comp = (shared.flops_per_gpu + steps * (c["flops1"] * b)) * nan / c["peak_flops"]
    u_net = (shared.network_s + steps * network) * nan
    split = {part: (getattr(shared, f) + steps * x) * nan
             for part, f, x in zip(W.SPLIT_PARTS, ("memory_s", "compute_s", "network_s", "overhead_s"),
                                   (memory, compute, network, overhead), strict=True)}
    # the binding rule
    rule = W.binding_rule(fits=fits, ttft1_misses=c["ttft1_ms"] > spec.ttft_slo_ms,
                          tpot1_misses=c["tpot1_ms"] > spec.tpot_slo_ms, over_budget=np.asarray(budget_u > 1.0),
                          kv_caps=(b_used >= b_mem) & (b_mem < b_slo) & (b_mem <= b_cap),
                          engine_caps=(b_used >= b_cap) & (b_cap < b_slo) & (b_cap < b_mem))
    share = b / spec.output_tokens
    prefill_parts = (c["pre_memory_s"], c["pre_compute_s"], c["pre_network_s"])
    shared_parts = (shared.memory_s, shared.compute_s, shared.network_s)
    ttft_caps = c["ttft_caps"] > 0
    token = tuple(x + share * p for p, x in zip(shared_parts, (memory, compute, network), strict=True))
    capped = tuple(np.where(ttft_caps, p, x) for p, x in zip(prefill_parts, token, strict=True))
    wall = W.binding_wall(rule, prefill_parts, (c["t1_memory_s"], c["t1_compute_s"], c["t1_network_s"]), capped,
                          token)
    # the binding wall reads at its limit (planner.walls); under the engine's cap (rule 7) it reads as measured
    miss = np.fmax(np.select([rule == 2, rule == 3], [c["ttft1_ms"] / spec.ttft_slo_ms,
                                                      c["tpot1_ms"] / spec.tpot_slo_ms], 1.0), 1.0)
    u_bw, u_comp, u_net = (np.where((wall == w) & (rule != 7), miss, u) for w, u in
                           ((W.BW, u_bw), (W.COMP, u_comp), (W.NET, u_net)))
    meets = (tpot <= spec.tpot_slo_ms) & (ttft <= spec.ttft_slo_ms) & runs & (b_used <= b_mem) & (b_used <= b_cap)
    return {
        "acc": c["acc"], "dtype_i": c["dtype_i"], "kv_i": c["kv_i"], "tp": tp, "pp": pp, "ep": c["ep"],
        "microbatch": b_used, "batch": b_used * pp, "max_batch_memory": b_mem * pp, "batch_slo": b_slo * pp,
        "max_batch_engine": b_cap * pp,
        "replicas": replicas, "gpus": gpus, "tpot_ms": tpot, "ttft_ms": ttft,
        "tokens_per_s_per_gpu": replica_rps * (spec.output_tokens / (tp * pp)) * np.where(runs, 1.0, np.nan),
        "tokens_per_s_per_user": MS_PER_S / tpot, "usd_month": usd_month,
        "usd_per_million_tokens": usd_per_million_tokens(usd_month / HOURS_PER_MONTH, spec.qps * spec.output_tokens),
        "budget_utilization": budget_u,
        "u_memory_capacity": u_mem, "u_memory_bandwidth": u_bw, "u_compute": u_comp, "u_network": u_net,
        **{f"split_{k}": v for k, v in split.items()}, "wall": wall, "rule": rule, "ttft_caps": ttft_caps,
        "meets_slos": meets, "fits_memory": fits, "decode_step_ms": total * MS_PER_S,
        "prefill_ms": c["pre_total_s"] * MS_PER_S, **{k: np.nan for k in NA_COLUMNS}, "tpot1_ms": c["tpot1_ms"],
        "ttft1_ms": c["ttft1_ms"], "mode": 0.0, "calibration_rows": c["calibration_rows"],
    }


def full(cols: dict[str, Any]) -> dict[str, np.ndarray]:
    """``cols`` (arrays and scalars that broadcast together) as float arrays of one shape."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in cols.values()))
    return {k: np.broadcast_to(np.asarray(v, dtype=float), shape) for k, v in cols.items()}


def operating_metrics(r: Rows) -> dict[str, np.ndarray]:
    """``metrics`` of every row at its operating batch (batch 1 where none runs, with n/a for what needs one),
    as (n, 1) arrays."""
    b_op = r["b_op"]
    return full(metrics(r, np.maximum(b_op, 1.0), b_op))


def kv_prompt_bytes(model: Model, spec: PlanSpec, kv_dtype: str) -> float:
    """KV bytes one prompt leaves (what a disaggregated prefill pool sends to the decode pool)."""
    return float(kv_bytes_per_sequence(model, float(spec.input_tokens), kv_dtype))


def concurrency_times(r: Rows, concurrency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(TPOT ms, TTFT ms) a user sees with ``concurrency`` requests in flight per replica (pp = 1): the batch is
    min(concurrency, largest batch that fits, the engine's cap); requests beyond it wait for a free slot, each slot
    turning over every output_tokens · TPOT: TTFT += (concurrency − batch) / batch · output_tokens · TPOT."""
    n = np.asarray(concurrency, dtype=float)
    b = np.maximum(np.minimum(np.minimum(n, r["b_mem"]), r["b_cap"]), 1.0)
    _, _, tpot, ttft = user_ms(r, b)
    return tpot, ttft + slot_wait(n, b, r.spec.output_tokens, tpot)


def max_throughput(r: Rows) -> np.ndarray:
    """Best output tokens/s of each row's replica over every batch that fits and the engine runs (up to
    ``BATCH_SEARCH_LIMIT``):
    max over b of pp · output_tokens / (t_k(b) + output_tokens · step(b) / b), t_k each request's prefill share
    (``Rows.prefill_share``); 0 where nothing fits."""
    out = np.zeros((len(r), 1))
    osl = r.spec.output_tokens
    for i in range(len(r)):
        row = r.take(np.array([i]))
        top = int(min(row["b_mem"][0, 0], row["b_cap"][0, 0], BATCH_SEARCH_LIMIT))
        if top < 1:
            continue
        b = np.arange(1, top + 1, dtype=float)[None, :]
        busy = row.prefill_share_s(b) + osl / b * decode_total_s(row, b)
        out[i, 0] = float(np.max(row["pp"] * osl / busy))
    return out
