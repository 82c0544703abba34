"""Search the design space for the cheapest plan that meets the SLOs: whole grids of configurations in one numpy pass.

A **configuration** is accelerator × weight dtype × KV dtype × tp × pp × (MoE) ep × batch. Python loops only over
the axes that change catalogue look-ups (accelerator, dtype, KV dtype); tp, pp, ep and the batch are numpy arrays
broadcast through the one step-time formula (``planner.roofline.decode_step`` / ``prefill_step`` →
``roofline.step_time``) and the one serving formula (``planner.serving.serving_times``). Each configuration gets:
memory fit, a user's TPOT and TTFT against the SLOs, output tokens/s per GPU and per user, the replicas the traffic
needs, $/month and $/million output tokens, and its binding wall.

**Aggregated plans** (every replica prefills and decodes; ``planner.plan``'s model). With pp = 1 and ep = 1 the
arithmetic is ``planner.plan.evaluate``'s, operation for operation (``tests/test_search_consistency.py`` checks it):
the operating batch per (accelerator, dtype, KV dtype, tp, pp, ep) is min(largest batch that fits, largest batch
whose TPOT and TTFT meet the SLOs), the latter found by the same bisection ``planner.plan.slo_batch`` runs, here
vectorized over all configurations at once; replicas = ceil(qps / replica requests/s) with the replica busy
prefill + output_tokens · decode step / batch per request; the binding wall follows ``planner.walls``' rule:

1. memory capacity when the weights (and one sequence) do not fit;
2. the dominant part of the prefill when one unloaded prefill misses the TTFT SLO;
3. the dominant part of the batch-1 decode step when even batch 1 misses the TPOT SLO;
4. budget when the replicas cost more than the budget;
5. memory capacity when the KV cache caps the batch below what the SLOs allow (for a grid point at batch b: b is
   past the largest batch that fits, or b is that batch and the SLOs would allow more);
6. otherwise the busiest of memory bandwidth, compute and network over the replica's time per request.

**Pipeline parallelism** (pp stages of tp GPUs, layers split evenly): weights and KV cache spread over tp · pp GPUs
for memory. The replica keeps pp microbatches of ``b`` sequences in flight (``batch`` = pp · b sequences per replica);
each microbatch passes every stage in turn, so a token takes the tp-only step over all layers at b sequences plus
(pp − 1) point-to-point hops of its activations (b · hidden · 2 bytes, split over the tp GPUs of a stage, at the
scale-up link when all tp · pp GPUs share a scale-up domain, else at the per-GPU scale-out NIC, each hop adding the
fitted per-collective latency of the efficiencies); a prefill likewise adds (pp − 1) hops of the prompt's
activations. TPOT and TTFT are the serving formulas on those steps (each stage's step carries b / output_tokens
prefills). The pp stages work concurrently, so a replica serves pp / (prefill + output_tokens · step / b) requests/s;
KV per GPU is b sequences' worth. pp = 1 is the aggregated plan above.

**Expert parallelism** (MoE models; ep divides tp, experts split over ep groups of tp / ep GPUs): the bytes and FLOPs
per GPU are unchanged (every GPU still holds 1/tp of the weights); in each MoE layer the expert all-reduce of tensor
parallelism is replaced by an all-to-all dispatch and combine, each moving tokens · k · hidden · 2 bytes · (ep − 1)
/ (ep · tp) per GPU (every GPU sends the k routed copies of its share of the tokens; (ep − 1)/ep of them leave its
group) over the tensor-parallel link, plus one collective latency each. The attention all-reduce stays.

**Disaggregated plans**: a prefill pool and a decode pool, each with its own accelerator and tp (pp = 1; mixed
accelerator types allowed; the same weight and KV dtypes, since the KV cache moves between them):

- prefill pool: one prompt at a time per instance, unloaded prefill t_p; the KV cache of each prompt
  (``kv_bytes_per_sequence(input_tokens)``) then crosses the scale-out network at min(tp_p · NIC_p, tp_d · NIC_d)
  · link fraction (+ one latency); TTFT = request overhead + t_p + transfer + queue, with the queue of an M/D/1
  instance at utilization ρ = qps · t_p / n_p: ρ · t_p / (2 (1 − ρ)). The pool size n_p is the smallest that keeps
  TTFT within the SLO: n_p ≥ qps · t_p · (t_p + 2 s) / (2 s), s = the SLO's slack over the unloaded TTFT;
- decode pool: TPOT = the decode step alone (no prefill interference), so its batch is min(largest that fits,
  largest whose step meets the TPOT SLO); replicas = ceil(qps / (batch / (output_tokens · step)));
- walls: as above, with the prefill (plus the KV transfer, as network) and the decode pool's time shares pooled by
  GPU-seconds per request; memory capacity is the fuller pool's.

The scale-out NIC bandwidth per GPU comes from the accelerator's ``scaleout`` link in the catalogue, else
``scaleout_default`` in ``planner/data/serving.yaml``.

Tokens/s per GPU is a replica's (or a pool pair's) capacity: output tokens per GPU-second of busy time;
tokens/s per user is 1000 / TPOT. The **Pareto front** is over aggregated configurations at a geometric grid of
batches up to their operating batch (every one meets the SLOs and fits) and disaggregated plans at their operating
points: no point on it is beaten on both tokens/s per GPU and tokens/s per user.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np

from planner import walls as W
from planner.catalogue import Accelerator, Catalogue, Link, Model, check_dtype, get_catalogue
from planner.efficiency import Efficiency, serving_assumptions
from planner.errors import PlannerError
from planner.plan import BATCH_SEARCH_LIMIT
from planner.roofline import (
    ALLREDUCES_PER_LAYER,
    StepTime,
    decode_attention_flops,
    decode_matmul_flops,
    kv_bytes_per_sequence,
    kv_shards,
    link_rates,
    prefill_step,
    routed_expert_bytes,
    routed_expert_flops,
    step_time,
    step_weight_bytes,
)
from planner.serving import aggregated_times
from planner.spec import PlanSpec, spec_from_data
from planner.topology import (
    REPLICA_TOLERANCE,
    kv_bytes_per_sequence_per_gpu,
    reserve_bytes,
    tp_choices,
    usable_bytes,
    weight_bytes_per_gpu,
)
from planner.units import ACTIVATION_BYTES, GB, HOURS_PER_MONTH, MS_PER_S

PP_CHOICES = (1, 2, 4, 8)
"""Pipeline-parallel sizes the search considers."""

MAX_GPUS_PER_REPLICA = 64
"""Largest replica (tp · pp GPUs) the search considers."""

DEFAULT_DTYPES = ("bf16", "fp8", "int4", "fp4")
"""Weight dtypes searched when the spec lists none: 16-bit, 8-bit and 4-bit weight-only; fp4 only on accelerators
with a native fp4 rate (elsewhere it would be int4 again)."""

DEFAULT_KV_DTYPES = ("bf16", "fp8")
"""KV-cache dtypes searched besides the spec's own."""

PARETO_BATCHES = np.unique(np.round(np.geomspace(1, BATCH_SEARCH_LIMIT, 49)))
"""Batches (per microbatch) at which aggregated configurations enter the Pareto front."""

AGGREGATED = "aggregated"
DISAGGREGATED = "disaggregated"
MODES = (AGGREGATED, DISAGGREGATED)

RELAXATIONS: dict[str, tuple[float, str]] = {
    W.MEMORY_CAPACITY: (2.0, "2x the memory per GPU"),
    W.MEMORY_BANDWIDTH: (1.5, "1.5x the memory bandwidth"),
    W.COMPUTE: (1.5, "1.5x the FLOP/s"),
    W.NETWORK: (2.0, "2x the link and NIC bandwidth"),
    W.BUDGET: (math.inf, "no budget"),
}
"""How ``relax`` loosens each wall to see what it buys and which wall binds next."""

MAX_SWEEP_POINTS = 10_000
"""Largest number of plans one ``sweep`` evaluates."""

_MEM, _BW, _COMP, _NET, _BUDGET = range(5)  # indices into planner.walls.WALLS
assert W.WALLS[_MEM] == W.MEMORY_CAPACITY and W.WALLS[_BUDGET] == W.BUDGET
assert W.WALLS[_BW:_NET + 1] == W.RESOURCE_WALLS


# ------------------------------------------------------------------------------------------------ the search space


@dataclass(frozen=True)
class SearchSpace:
    """What the search enumerates: accelerators (each with its price), weight dtypes, KV dtypes, tp/pp choices."""

    accelerators: tuple[Accelerator, ...]
    prices: tuple[float, ...]
    dtypes: tuple[str, ...]
    kv_dtypes: tuple[str, ...]
    tps: tuple[int, ...] | None = None
    pps: tuple[int, ...] = PP_CHOICES
    expert_parallel: bool = True
    disaggregated: bool = True

    def dtypes_for(self, acc: Accelerator) -> list[str]:
        """The weight dtypes searched on ``acc``: those it has a compute rate for (native or 16-bit fallback);
        fp4 only where it is native unless asked for explicitly."""
        out = []
        for d in self.dtypes:
            try:
                acc.compute_dtype(d)
            except PlannerError:
                continue
            if d == "fp4" and self.dtypes == DEFAULT_DTYPES and "fp4" not in acc.dense_peak_tflops:
                continue
            out.append(d)
        return out


def _ids(value: Any, what: str) -> list[str] | None:
    """A candidate list: None/empty → None; text "a,b" or a sequence of text → stripped items (no blanks)."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [v.strip() for v in value.split(",")]
    elif isinstance(value, (list, tuple)):
        items = []
        for v in value:
            if not isinstance(v, str):
                raise PlannerError(f"{what} must be text ids, got {v!r}")
            items += [x.strip() for x in v.split(",")]
    else:
        raise PlannerError(f"{what} must be a list of ids, got {value!r}")
    items = [i for i in items if i]
    return items


def search_space(
    spec: PlanSpec,
    catalogue: Catalogue | None = None,
    accelerators: Any = None,
    dtypes: Any = None,
    kv_dtypes: Any = None,
    tps: Sequence[int] | None = None,
    pps: Sequence[int] = PP_CHOICES,
    expert_parallel: bool = True,
    disaggregated: bool = True,
) -> SearchSpace:
    """The candidates for ``spec``: ``accelerators`` (else ``spec.accelerators``, else every accelerator with a
    price), ``dtypes`` (else ``spec.dtypes``, else ``DEFAULT_DTYPES``), ``kv_dtypes`` (else the spec's plus
    ``DEFAULT_KV_DTYPES``). Unknown ids, empty lists and accelerators without a price are ``PlannerError``\\ s.
    ``spec.usd_per_gpu_hour`` prices ``spec.accelerator``; every other candidate uses its catalogue price."""
    cat = catalogue or get_catalogue()
    cat.model(spec.model)
    acc_ids = _ids(accelerators, "accelerators")
    if acc_ids is None and spec.accelerators:
        acc_ids = _ids(spec.accelerators, "accelerators")
    if acc_ids is not None and not acc_ids:
        raise PlannerError("accelerators is empty; give at least one accelerator id (GPU_IDS() / `whichwall "
                           "catalogue accelerators` lists them), or leave it out to search every priced one")
    own = cat.accelerator(spec.accelerator)
    chosen: list[Accelerator] = []
    if acc_ids is None:
        chosen = [a for a in cat.accelerators.values()
                  if a.usd_per_gpu_hour is not None or (a.id == own.id and spec.usd_per_gpu_hour)]
    else:
        for ident in acc_ids:
            acc = cat.accelerator(ident)
            if acc not in chosen:
                chosen.append(acc)
    prices = []
    for acc in chosen:
        price = spec.usd_per_gpu_hour if (acc.id == own.id and spec.usd_per_gpu_hour) else acc.usd_per_gpu_hour
        if price is None:
            raise PlannerError(f"{acc.id} has no $/GPU-hour in the catalogue, so the search cannot cost it; add "
                               f"price.usd_per_gpu_hour in a user catalogue or drop it from the candidates")
        prices.append(float(price))
    d_list = _ids(dtypes, "dtypes")
    if d_list is None and spec.dtypes:
        d_list = list(spec.dtypes)
    if d_list is not None and not d_list:
        raise PlannerError(f"dtypes is empty; give at least one of {', '.join(DEFAULT_DTYPES)} (or leave it out)")
    d_tuple = tuple(dict.fromkeys(check_dtype(d) for d in d_list)) if d_list is not None else DEFAULT_DTYPES
    kv_list = _ids(kv_dtypes, "kv_dtypes")
    if kv_list is not None and not kv_list:
        raise PlannerError("kv_dtypes is empty; give at least one KV-cache dtype (e.g. bf16, fp8)")
    kv_tuple = tuple(dict.fromkeys(check_dtype(d, "kv_dtype") for d in (
        kv_list if kv_list is not None else [spec.kv_dtype, *DEFAULT_KV_DTYPES])))
    if tps is not None:
        tps = tuple(int(t) for t in tps)
        if not tps or any(t < 1 for t in tps):
            raise PlannerError(f"tp choices must be whole numbers >= 1, got {list(tps)!r}")
    pps = tuple(int(p) for p in pps)
    if not pps or any(p < 1 for p in pps):
        raise PlannerError(f"pp choices must be whole numbers >= 1, got {list(pps)!r}")
    space = SearchSpace(tuple(chosen), tuple(prices), d_tuple, kv_tuple, tps, pps, expert_parallel, disaggregated)
    if not any(space.dtypes_for(a) for a in chosen):
        raise PlannerError(f"none of the accelerators {[a.id for a in chosen]} has a compute rate for the dtypes "
                           f"{list(d_tuple)}")
    return space


# ------------------------------------------------------------------------------------- the rows: all configurations


def scaleout_bytes_per_s(acc: Accelerator) -> float:
    """Per-GPU scale-out NIC bandwidth per direction, bytes/s: the catalogue's ``scaleout`` link, else the default
    in ``serving.yaml``."""
    if acc.scaleout is not None:
        return acc.scaleout.bytes_per_s
    default = serving_assumptions().scaleout_default
    if default is None:  # pragma: no cover - serving.yaml ships a default
        raise PlannerError(f"{acc.id} has no scale-out link and serving.yaml no scaleout_default")
    return default.gbs_per_direction * GB


def _configs(model: Model, acc: Accelerator, space: SearchSpace) -> np.ndarray:
    """Valid (tp, pp, ep) triples as a (C, 3) array: tp the accelerator's choices (or the space's), pp with
    tp · pp ≤ 64 GPUs, ep the divisors of tp that also divide the experts (MoE only)."""
    allowed = tp_choices(acc)
    rows = []
    for tp in (t for t in (space.tps or allowed) if t in allowed):
        for pp in space.pps:
            if tp * pp > MAX_GPUS_PER_REPLICA or pp > model.layers:
                continue
            eps = [1]
            if model.moe and space.expert_parallel:
                eps = [e for e in range(1, tp + 1) if tp % e == 0 and model.moe.experts % e == 0]
            rows += [(tp, pp, e) for e in eps]
    return np.array(rows, dtype=float).reshape(-1, 3)


def _hop_link(acc: Accelerator, eff: Efficiency, tp: np.ndarray, pp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-GPU bandwidth (bytes/s, times the link fraction) and latency of a pipeline hop: the scale-up link when
    all tp · pp GPUs share a scale-up domain, PCIe within one host of PCIe cards, else the scale-out NIC (with the
    fitted per-collective latency: the data has no scale-out measurements)."""
    gpus = tp * pp
    bw = np.full(gpus.shape, scaleout_bytes_per_s(acc) * eff.link_fraction)
    lat = np.full(gpus.shape, eff.scaleup_latency_s)
    for link, latency in ((acc.pcie, eff.pcie_latency_s), (acc.scaleup, eff.scaleup_latency_s)):
        if link is not None:
            inside = gpus <= link.domain
            bw = np.where(inside, link.bytes_per_s * eff.link_fraction, bw)
            lat = np.where(inside, latency, lat)
    return bw, lat


_PREFILL_FIELDS = ("memory_s", "compute_s", "network_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu")


class _Rows:
    """Every configuration of every (accelerator, dtype, KV dtype) as one row: (n, 1) columns of what the step
    needs (the rates ``roofline._step`` hands ``step_time``, per row), the memory limits and the prefill."""

    def __init__(self, cols: dict[str, np.ndarray], model: Model, spec: PlanSpec, dtypes: list[str],
                 serving: tuple[Any, ...] | None):
        self.c = cols
        self.model = model
        self.spec = spec
        self.dtypes = dtypes
        self.serving = serving  # (o_r, a, β, δ) as scalars when every row shares them, else None (per-row columns)
        d = cols["dtype_i"][:, 0] if cols else np.zeros(0)
        cuts = [0, *(np.flatnonzero(np.diff(d)) + 1).tolist(), len(d)]
        # runs of rows with one weight dtype (rows come grouped by combination, so runs are few and long)
        self.groups: list[tuple[str, slice]] = [(dtypes[int(d[a])], slice(a, b))
                                                for a, b in pairwise(cuts) if b > a]

    def __len__(self) -> int:
        return len(self.c["tp"])

    def __getitem__(self, key: str) -> np.ndarray:
        return self.c[key]

    def same(self, key: str) -> np.ndarray | float:
        """Column ``key``, or its one value when every row has it (numpy then broadcasts less)."""
        col = self.c[key]
        if len(col) and (col == col[0, 0]).all():
            return float(col[0, 0])
        return col

    def take(self, idx: np.ndarray) -> _Rows:
        return _Rows({k: v[idx] for k, v in self.c.items()}, self.model, self.spec, self.dtypes, self.serving)

    @property
    def prefill(self) -> StepTime:
        return StepTime(*(self.c["pre_" + f] for f in _PREFILL_FIELDS))


def _check_context(model: Model, spec: PlanSpec) -> None:
    """``planner.plan.evaluate``'s check: a request longer than the model's context window is bad input."""
    context = spec.input_tokens + spec.output_tokens
    if model.max_context_tokens is not None and context > model.max_context_tokens:
        raise PlannerError(
            f"input_tokens + output_tokens = {context:,} exceeds {model.id}'s context window of "
            f"{model.max_context_tokens:,} tokens; shorten the prompt or the answer")


def _combos(space: SearchSpace) -> list[tuple[int, str, str]]:
    """(accelerator index, dtype, KV dtype) to score, grouped by weight dtype (so rows of one dtype are one run)."""
    return [(ai, d, kv) for d in space.dtypes for ai, acc in enumerate(space.accelerators)
            if d in space.dtypes_for(acc) for kv in space.kv_dtypes]


def _build_rows(model: Model, spec: PlanSpec, space: SearchSpace, cat: Catalogue,
                combos: list[tuple[int, str, str]], dtypes: list[str],
                progress: Callable[[int, int, str], None] | None = None) -> _Rows:
    """One row per configuration: catalogue look-ups per (accelerator, dtype, KV dtype), the prefill by
    ``roofline.prefill_step`` (it does not depend on the batch), memory limits by ``planner.topology``."""
    parts: list[dict[str, Any]] = []
    counts: list[int] = []
    full_context = float(spec.input_tokens + spec.output_tokens)
    decode_context = spec.input_tokens + spec.output_tokens / 2
    prompt = float(spec.input_tokens)
    servings = set()
    for done, (ai, dtype, kv) in enumerate(combos, 1):
        acc, price = space.accelerators[ai], space.prices[ai]
        eff = cat.efficiency(acc.id, spec.engine)
        cfg = _configs(model, acc, space)
        if len(cfg):
            tp, pp, ep = cfg[:, :1], cfg[:, 1:2], cfg[:, 2:3]
            n = len(tp)
            link_bw, latency = link_rates(acc, tp, eff)
            hop_bw, hop_lat = _hop_link(acc, eff, tp, pp)
            pre = prefill_step(model, acc, prompt, dtype, tp, kv, eff)
            pre = _with_network(pre, _extra_network(model, tp, pp, ep, np.full(tp.shape, prompt), link_bw, latency,
                                                    hop_bw, hop_lat))
            weights_gpu = weight_bytes_per_gpu(model, dtype, tp * pp)
            kv_seq_gpu = kv_bytes_per_sequence_per_gpu(model, full_context, kv, tp)
            # topology.max_batch, with the weights spread over tp · pp GPUs
            b_mem = np.maximum(np.floor((usable_bytes(acc) - weights_gpu) / kv_seq_gpu), 0.0)
            servings.add((eff.request_overhead_s, eff.burst_coefficient, eff.burst_exponent,
                          eff.burst_output_exponent))
            row = {
                "acc": ai, "dtype_i": dtypes.index(dtype), "kv_i": dtypes.index(kv), "tp": tp, "pp": pp, "ep": ep,
                "price": price, "memory_bytes": acc.memory_bytes, "usable": usable_bytes(acc),
                "reserve": reserve_bytes(acc), "weights_gpu": weights_gpu, "kv_seq_gpu": kv_seq_gpu, "b_mem": b_mem,
                "kv_prompt_gpu": kv_bytes_per_sequence_per_gpu(model, prompt, kv, tp),
                # roofline._step's arguments to step_time, per row
                "kv_seq": kv_bytes_per_sequence(model, decode_context, kv),
                "bandwidth": acc.bandwidth_bytes_per_s * eff.bandwidth_fraction,
                "peak": acc.peak_flops(dtype) * eff.compute(acc.compute_dtype(dtype)),
                "attention_peak": acc.peak_flops(kv) * eff.compute(acc.compute_dtype(kv)),
                "expert_bw_fraction": eff.expert_bandwidth_fraction,
                "expert_compute_fraction": eff.expert_compute_fraction,
                "kv_split": kv_shards(model, tp) if eff.replicate_kv else tp,
                "link_bw": link_bw, "latency": latency, "hop_bw": hop_bw, "hop_lat": hop_lat,
                "step_overhead": model.layers * eff.layer_overhead_s,
                "sequence_overhead": model.layers * eff.sequence_overhead_s,
                "request_overhead": eff.request_overhead_s, "burst_a": eff.burst_coefficient,
                "burst_b": eff.burst_exponent, "burst_d": eff.burst_output_exponent,
                "nic": scaleout_bytes_per_s(acc), "link_fraction": eff.link_fraction,
                "collective_latency": eff.scaleup_latency_s,
                **{"pre_" + f: getattr(pre, f) for f in _PREFILL_FIELDS}, "pre_total_s": pre.total_s,
            }
            parts.append(row)
            counts.append(n)
        if progress is not None:
            progress(done, len(combos), f"{acc.id} {dtype} KV {kv}")
    if not parts:
        return _Rows({}, model, spec, dtypes, None)
    cols = {}
    for k in parts[0]:  # per-combination numbers repeat over its configurations; arrays are (n, 1) already
        values = [p[k] for p in parts]
        if all(np.ndim(v) == 0 for v in values):
            cols[k] = np.repeat(np.asarray(values, dtype=float), counts)[:, None]
        else:
            cols[k] = np.concatenate([v if isinstance(v, np.ndarray) and v.shape == (n, 1) else
                                      np.broadcast_to(np.asarray(v, dtype=float), (n, 1))
                                      for v, n in zip(values, counts, strict=True)])
    return _Rows(cols, model, spec, dtypes, servings.pop() if len(servings) == 1 else None)


def _extra_network(model: Model, tp: np.ndarray, pp: np.ndarray, ep: np.ndarray, tokens: np.ndarray,
                   link_bw: np.ndarray, latency: np.ndarray, hop_bw: np.ndarray,
                   hop_lat: np.ndarray) -> np.ndarray | None:
    """Network seconds that pipeline hops and expert all-to-alls add to a step over ``tokens`` tokens (None: no
    row has pp > 1 or ep > 1)."""
    extra = None
    h = model.hidden_size
    if (pp > 1).any():
        extra = (pp - 1.0) * (tokens * h * ACTIVATION_BYTES / (tp * hop_bw) + hop_lat)
    if model.moe and (ep > 1).any():
        # the expert all-reduce of each MoE layer, by the one formula (the network part of step_time only)
        allreduce = step_time(weight_bytes=0.0, kv_bytes=0.0, matmul_flops=0.0, attention_flops=0.0, tokens=tokens,
                              sequences=0.0, tp=tp, kv_split=1.0, layers=model.moe_layers / ALLREDUCES_PER_LAYER,
                              hidden_size=h, bandwidth=1.0, peak_flops=1.0, attention_peak_flops=1.0,
                              link_bandwidth=link_bw, collective_latency_s=latency).network_s
        per_gpu = tokens * model.moe.experts_per_token * h * ACTIVATION_BYTES * (ep - 1.0) / (ep * tp)
        all_to_all = model.moe_layers * 2.0 * (per_gpu / link_bw + latency)
        delta = np.where(ep > 1, all_to_all - allreduce, 0.0)
        extra = delta if extra is None else extra + delta
    return extra


def _with_network(step: StepTime, extra: np.ndarray | None) -> StepTime:
    if extra is None:
        return step
    network = step.network_s + extra
    shape = np.broadcast_shapes(step.memory_s.shape, network.shape)
    return StepTime(*(np.broadcast_to(x, shape) for x in (step.memory_s, step.compute_s, network, step.overhead_s,
                                                           step.bytes_per_gpu, step.flops_per_gpu)))


def _decode(r: _Rows, b: np.ndarray) -> StepTime:
    """One decode step of ``b`` sequences (per microbatch) on every row: ``roofline.decode_step``'s bytes and FLOPs
    and ``roofline._step``'s call of ``step_time``, with each row's rates as arrays; plus pipeline hops and expert
    all-to-alls. (tests/test_search_consistency.py checks it against ``planner.plan`` to 1e-9.)"""
    model = r.model
    weight_b: np.ndarray
    expert_b: np.ndarray
    if b.shape[0] == 1 and len({d for d, _ in r.groups}) == 1:  # one dtype, one batch axis: bytes once per batch
        dtype = r.groups[0][0]
        weight_b, expert_b = step_weight_bytes(model, b, dtype), routed_expert_bytes(model, b, dtype)
    else:
        shape = np.broadcast_shapes(b.shape, (len(r), 1))
        weight_b, expert_b = np.empty(shape), np.empty(shape)
        shared = b.shape[0] == 1
        bb = np.broadcast_to(b, shape)
        for dtype, rows in r.groups:  # rows of one dtype (a shared batch axis: computed once per dtype)
            weight_b[rows] = step_weight_bytes(model, b if shared else bb[rows], dtype)
            expert_b[rows] = routed_expert_bytes(model, b if shared else bb[rows], dtype)
    kv_b = b * r.same("kv_seq")
    matmul = decode_matmul_flops(model, b)
    expert_f = routed_expert_flops(model, b)
    step = step_time(
        weight_bytes=weight_b - expert_b, kv_bytes=kv_b, matmul_flops=matmul - expert_f,
        attention_flops=decode_attention_flops(model, b, r.spec.input_tokens + r.spec.output_tokens / 2),
        expert_weight_bytes=expert_b, expert_matmul_flops=expert_f,
        expert_bandwidth_fraction=r.same("expert_bw_fraction"),
        expert_compute_fraction=r.same("expert_compute_fraction"),
        tokens=b, sequences=b, tp=r["tp"], kv_split=r["kv_split"], layers=model.layers,
        hidden_size=model.hidden_size, bandwidth=r.same("bandwidth"), peak_flops=r.same("peak"),
        attention_peak_flops=r.same("attention_peak"), link_bandwidth=r["link_bw"], collective_latency_s=r["latency"],
        step_overhead_s=r.same("step_overhead"), sequence_overhead_s=r.same("sequence_overhead"))
    return _with_network(step, _extra_network(model, r["tp"], r["pp"], r["ep"], b, r["link_bw"], r["latency"],
                                              r["hop_bw"], r["hop_lat"]))


def _user_ms(r: _Rows, b: np.ndarray) -> tuple[StepTime, np.ndarray, np.ndarray, np.ndarray]:
    """(decode step, its total seconds, TPOT ms, TTFT ms) a user sees at ``b`` sequences per microbatch
    (``planner.serving``)."""
    step = _decode(r, b)
    total = step.total_s
    serving = r.serving or (r["request_overhead"], r["burst_a"], r["burst_b"], r["burst_d"])
    times = aggregated_times(total, r["pre_total_s"], b, r.spec.output_tokens, *serving)
    tpot, ttft = times.tpot_s, times.ttft_s
    tpot *= MS_PER_S  # fresh arrays from aggregated_times: scaled in place
    ttft = ttft * MS_PER_S if ttft.shape != tpot.shape else np.multiply(ttft, MS_PER_S, out=ttft)
    return step, total, tpot, ttft


def _bisect(meets: Callable[[np.ndarray], np.ndarray], n: int) -> np.ndarray:
    """``planner.plan.slo_batch``'s bisection for ``n`` configurations at once: the largest batch up to
    ``BATCH_SEARCH_LIMIT`` that ``meets`` (0 if batch 1 does not), by the same sequence of probes."""
    limit = float(BATCH_SEARCH_LIMIT)
    one = meets(np.ones((n, 1)))
    top = meets(np.full((n, 1), limit))
    lo, hi = np.ones((n, 1)), np.full((n, 1), limit)
    active = one & ~top
    while active.any():
        mid = np.floor((lo + hi) / 2)
        ok = meets(mid)
        lo = np.where(active & ok, mid, lo)
        hi = np.where(active & ~ok, mid, hi)
        active &= hi - lo > 1
    return np.where(~one, 0.0, np.where(top, limit, lo))


def _slo_batches(r: _Rows, decode_only: np.ndarray | None = None) -> np.ndarray:
    """Largest batch meeting the SLOs per row: both SLOs with prefill interference (aggregated), or the bare decode
    step within the TPOT SLO where ``decode_only`` (a disaggregated decode pool)."""
    spec = r.spec

    def meets(b: np.ndarray) -> np.ndarray:
        _, total, tpot, ttft = _user_ms(r, b)
        aggregated = (tpot <= spec.tpot_slo_ms) & (ttft <= spec.ttft_slo_ms)
        if decode_only is None:
            return aggregated
        return np.where(decode_only, total * MS_PER_S <= spec.tpot_slo_ms, aggregated)

    return _bisect(meets, len(r))


def _dominant(memory: np.ndarray, compute: np.ndarray, network: np.ndarray) -> np.ndarray:
    """Index (into ``planner.walls.WALLS``, as a float) of the largest of the three; ties go to the earlier, as
    ``planner.walls.dominant``."""
    first = (memory >= compute) & (memory >= network)
    return np.where(first, float(_BW), np.where(compute >= network, float(_COMP), float(_NET)))


class _Buffers:
    """Scratch arrays reused from one chunk of a grid to the next (fresh allocations of large arrays cost more
    than the arithmetic that fills them). Results built in them live until the next call with the same buffers."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, tuple[int, ...], Any], np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any = float) -> np.ndarray:
        key = (name, shape, dtype)
        out = self.arrays.get(key)
        if out is None:
            out = self.arrays[key] = np.empty(shape, dtype=dtype)
        return out


def _aggregated(r: _Rows, b: np.ndarray, b_used: np.ndarray | None = None,
                work: _Buffers | None = None) -> dict[str, np.ndarray]:
    """Every metric of the rows at ``b`` sequences per microbatch ((n, K) arrays). ``b_used``: the batch whose
    memory counts (the operating batch, 0 where none meets the SLOs; default ``b``). Needs ``b_slo``, ``tpot1_ms``,
    ``ttft1_ms`` and the batch-1 step parts ``d1_*`` among the rows' columns. ``work``: scratch buffers to build
    the results in (they are overwritten by the next call with the same buffers)."""
    spec = r.spec
    b_used = b if b_used is None else b_used
    step, total, tpot, ttft = _user_ms(r, b)
    pre = r.prefill
    tp, pp, b_mem, b_slo = r["tp"], r["pp"], r["b_mem"], r["b_slo"]
    shape = np.broadcast_shapes(b.shape, tp.shape)
    w = work or _Buffers()

    def buf(name: str, dtype: Any = float) -> np.ndarray:
        return w.get(name, shape, dtype)

    # planner.plan's arithmetic, operation for operation (written into buffers: same results)
    steps_per_request = spec.output_tokens / b
    busy_s = np.multiply(steps_per_request, total, out=buf("busy"))
    busy_s += r["pre_total_s"]  # prefill + steps · step
    replica_rps = np.divide(busy_s, pp, out=buf("rps"))
    np.divide(1.0, replica_rps, out=replica_rps)
    replicas = np.divide(spec.qps, replica_rps, out=buf("replicas"))
    replicas -= REPLICA_TOLERANCE
    np.ceil(replicas, out=replicas)
    np.maximum(replicas, 1.0, out=replicas)
    gpus = np.multiply(replicas, tp, out=buf("gpus"))
    gpus *= pp
    usd_month = np.multiply(gpus, r["price"], out=buf("usd"))
    usd_month *= HOURS_PER_MONTH
    tokens_per_month = spec.qps * spec.output_tokens * HOURS_PER_MONTH * 3600.0
    used = np.multiply(b_used, r["kv_seq_gpu"], out=buf("used"))
    np.add(r["weights_gpu"], used, out=used)  # weights + KV + reserve: topology.memory_used_bytes' order
    used += r["reserve"]
    shares = []
    for part in ("memory_s", "compute_s", "network_s"):
        share = np.multiply(steps_per_request, getattr(step, part), out=buf("u_" + part))
        np.add(getattr(pre, part), share, out=share)
        share /= busy_s
        shares.append(share)
    u_bw, u_comp, u_net = shares
    budget_u = buf("budget_u")
    if spec.budget_usd_month:
        np.divide(usd_month, spec.budget_usd_month, out=budget_u)
    else:
        budget_u.fill(np.nan)
    if b_used is not b:  # no operating batch: no replicas, no cost (planner.plan: budget n/a)
        np.copyto(budget_u, np.nan, where=b_used < 1)
    # planner.walls' rule, lowest priority first: the busiest resource (ties to the earlier); memory capacity when
    # the KV cache caps the batch (at batch b: past the largest batch that fits, or at it while the SLOs would allow
    # more); budget; then rules 1-3, which depend on the row only
    wall, mask, mask2 = buf("wall"), buf("mask", bool), buf("mask2", bool)
    wall.fill(float(_NET))
    np.greater_equal(u_comp, u_net, out=mask)
    np.copyto(wall, float(_COMP), where=mask)
    np.greater_equal(u_bw, u_comp, out=mask)
    mask &= np.greater_equal(u_bw, u_net, out=mask2)
    np.copyto(wall, float(_BW), where=mask)
    np.copyto(wall, float(_MEM), where=np.greater_equal(b_used, b_mem + (b_slo <= b_mem), out=mask))
    np.copyto(wall, float(_BUDGET), where=np.greater(budget_u, 1.0, out=mask))
    row_wall = np.select([b_mem < 1, r["ttft1_ms"] > spec.ttft_slo_ms, r["tpot1_ms"] > spec.tpot_slo_ms],
                         [_MEM, _dominant(pre.memory_s, pre.compute_s, pre.network_s),
                          _dominant(r["d1_memory_s"], r["d1_compute_s"], r["d1_network_s"])], -1.0)
    np.copyto(wall, row_wall, where=row_wall >= 0)
    fits = np.less_equal(b_used, np.where(b_mem >= 1, b_mem, -1.0), out=buf("fits", bool))
    meets = np.less_equal(tpot, spec.tpot_slo_ms, out=buf("meets", bool))
    meets &= np.less_equal(ttft, spec.ttft_slo_ms, out=mask)
    meets &= fits
    per_gpu = np.multiply(replica_rps, spec.output_tokens, out=buf("per_gpu"))
    per_gpu /= tp * pp
    per_user = np.divide(MS_PER_S, tpot, out=buf("per_user"))
    per_million = np.divide(usd_month, tokens_per_month, out=buf("per_million"))
    per_million *= 1e6
    used /= r["memory_bytes"]

    def full(x: Any) -> np.ndarray:
        return np.broadcast_to(x if isinstance(x, np.ndarray) else np.asarray(x, dtype=float), shape)

    return {
        "acc": full(r["acc"]), "dtype_i": full(r["dtype_i"]), "kv_i": full(r["kv_i"]),
        "tp": full(tp), "pp": full(pp), "ep": full(r["ep"]), "microbatch": full(b_used),
        "batch": full(np.multiply(b_used, pp, out=buf("batch"))), "max_batch_memory": full(b_mem * pp),
        "batch_slo": full(b_slo * pp), "replicas": replicas, "gpus": gpus, "tpot_ms": full(tpot),
        "ttft_ms": full(ttft), "tokens_per_s_per_gpu": per_gpu, "tokens_per_s_per_user": per_user,
        "usd_month": usd_month, "usd_per_million_tokens": per_million, "budget_utilization": budget_u,
        "u_memory_capacity": used, "u_memory_bandwidth": u_bw, "u_compute": u_comp, "u_network": u_net,
        "wall": wall, "meets_slos": meets, "fits_memory": fits,
        "decode_step_ms": np.multiply(total, MS_PER_S, out=buf("decode_ms")),
        "prefill_ms": full(r["pre_total_s"] * MS_PER_S), "kv_transfer_ms": full(np.nan), "prefill_acc": full(np.nan),
        "prefill_tp": full(np.nan), "prefill_replicas": full(np.nan), "tpot1_ms": full(r["tpot1_ms"]),
        "ttft1_ms": full(r["ttft1_ms"]), "mode": full(0.0),
    }


def _operating(r: _Rows, decode_only: np.ndarray | None = None) -> None:
    """Add to the rows: the batch-1 step and times, and the largest batch meeting the SLOs (``b_slo``)."""
    ones = np.ones((len(r), 1))
    step1, total1, tpot1, ttft1 = _user_ms(r, ones)
    r.c.update(tpot1_ms=tpot1, ttft1_ms=ttft1, d1_memory_s=step1.memory_s, d1_compute_s=step1.compute_s,
               d1_network_s=step1.network_s, d1_total_s=total1)
    r.c["b_slo"] = _slo_batches(r, decode_only)


# --------------------------------------------------------------------------------------------------- the result

COLUMNS: tuple[tuple[str, str], ...] = (
    ("mode", "mode"),
    ("accelerator", "accelerator"),
    ("dtype", "weights"),
    ("kv_dtype", "KV cache"),
    ("tp", "tp"),
    ("pp", "pp"),
    ("ep", "ep"),
    ("batch", "batch per replica"),
    ("replicas", "replicas"),
    ("prefill_accelerator", "prefill accelerator"),
    ("prefill_tp", "prefill tp"),
    ("prefill_replicas", "prefill replicas"),
    ("gpus", "GPUs"),
    ("tpot_ms", "TPOT (ms)"),
    ("ttft_ms", "TTFT (ms)"),
    ("tokens_per_s_per_gpu", "tokens/s per GPU"),
    ("tokens_per_s_per_user", "tokens/s per user"),
    ("usd_month", "USD/month"),
    ("usd_per_million_tokens", "USD per million tokens"),
    ("binding_wall", "binding wall"),
)
"""The columns of a plan table (key, header), in the order tables show them. For a disaggregated plan,
``accelerator``/``tp``/``replicas``/``batch`` are the decode pool's; ``prefill_*`` the prefill pool's; output
tokens are counted per output token (not prompt tokens)."""


@dataclass(frozen=True)
class Candidate:
    """One plan the search scored: an aggregated replica layout, or a prefill pool plus a decode pool."""

    mode: str
    accelerator: str
    dtype: str
    kv_dtype: str
    tp: int
    pp: int
    ep: int
    batch: int
    replicas: int
    gpus: int
    tpot_ms: float
    ttft_ms: float
    tokens_per_s_per_gpu: float
    tokens_per_s_per_user: float
    usd_month: float
    usd_per_million_tokens: float
    budget_utilization: float | None
    binding_wall: str
    utilization: dict[str, float | None]
    meets_slos: bool
    fits_memory: bool
    within_budget: bool
    max_batch_memory: int
    batch_slo: int
    decode_step_ms: float
    prefill_ms: float
    kv_transfer_ms: float | None = None
    prefill_accelerator: str | None = None
    prefill_tp: int | None = None
    prefill_replicas: int | None = None

    @property
    def feasible(self) -> bool:
        """Meets both SLOs, fits in memory and stays within the budget."""
        return self.meets_slos and self.fits_memory and self.within_budget

    @property
    def label(self) -> str:
        """E.g. ``h100-sxm fp8 kv:fp8 tp4 pp2``; disaggregated: ``P:h100-sxm tp1 → D:h200-sxm fp8 kv:fp8 tp2``."""
        par = f"tp{self.tp}" + (f" pp{self.pp}" if self.pp > 1 else "") + (f" ep{self.ep}" if self.ep > 1 else "")
        base = f"{self.accelerator} {self.dtype} kv:{self.kv_dtype} {par}"
        if self.mode == DISAGGREGATED:
            return f"P:{self.prefill_accelerator} tp{self.prefill_tp} → D:{base}"
        return base

    def row(self) -> dict[str, Any]:
        """The plan as {column key: value} (``COLUMNS``), None where a column does not apply."""
        return {k: getattr(self, k) for k, _ in COLUMNS}


@dataclass(frozen=True)
class Relaxation:
    """What loosening the winner's binding wall buys: the plan found again with it relaxed, and the wall behind."""

    wall: str
    change: str
    before: Candidate
    after: Candidate | None
    next_wall: str | None

    @property
    def cost_change(self) -> float | None:
        """Relative change in monthly cost (−0.25: 25% cheaper)."""
        if self.after is None:
            return None
        return self.after.usd_month / self.before.usd_month - 1.0

    @property
    def throughput_change(self) -> float | None:
        """Relative change in output tokens/s per GPU."""
        if self.after is None:
            return None
        return self.after.tokens_per_s_per_gpu / self.before.tokens_per_s_per_gpu - 1.0

    def summary(self) -> str:
        if self.after is None:
            return f"with {self.change}, still no plan meets the SLOs"
        cost = self.cost_change or 0.0
        thr = self.throughput_change or 0.0
        return (f"with {self.change}: {self.after.label}, ${self.after.usd_month:,.0f}/month ({cost:+.0%}), "
                f"{self.after.tokens_per_s_per_gpu:,.0f} tokens/s per GPU ({thr:+.0%}); then {self.next_wall} binds")


@dataclass
class SearchResult:
    """Every candidate plan (one per configuration at its operating batch, and every disaggregated pool pair that
    meets the SLOs), ranked, with the Pareto front and how many configurations were scored."""

    spec: PlanSpec
    space: SearchSpace
    columns: dict[str, np.ndarray]
    names: dict[str, list[str]]
    pareto_columns: dict[str, np.ndarray]
    configs_evaluated: int
    seconds: float
    _order: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.columns["usd_month"])

    def _candidate(self, cols: dict[str, np.ndarray], i: int) -> Candidate:
        def f(key: str) -> float:
            return float(cols[key][i])

        def opt_int(key: str) -> int | None:
            v = f(key)
            return None if math.isnan(v) else int(v)

        budget = f("budget_utilization")
        util: dict[str, float | None] = {
            W.MEMORY_CAPACITY: f("u_memory_capacity"), W.MEMORY_BANDWIDTH: f("u_memory_bandwidth"),
            W.COMPUTE: f("u_compute"), W.NETWORK: f("u_network"), W.BUDGET: None if math.isnan(budget) else budget}
        transfer = f("kv_transfer_ms")
        mode = MODES[int(cols["mode"][i])]
        return Candidate(
            mode=mode, accelerator=self.names["accelerator"][int(cols["acc"][i])],
            dtype=self.names["dtype"][int(cols["dtype_i"][i])], kv_dtype=self.names["dtype"][int(cols["kv_i"][i])],
            tp=int(f("tp")), pp=int(f("pp")), ep=int(f("ep")), batch=int(f("batch")), replicas=int(f("replicas")),
            gpus=int(f("gpus")), tpot_ms=f("tpot_ms"), ttft_ms=f("ttft_ms"),
            tokens_per_s_per_gpu=f("tokens_per_s_per_gpu"), tokens_per_s_per_user=f("tokens_per_s_per_user"),
            usd_month=f("usd_month"), usd_per_million_tokens=f("usd_per_million_tokens"),
            budget_utilization=util[W.BUDGET], binding_wall=W.WALLS[int(f("wall"))], utilization=util,
            meets_slos=bool(cols["meets_slos"][i]), fits_memory=bool(cols["fits_memory"][i]),
            within_budget=bool(np.isnan(budget) or budget <= 1.0), max_batch_memory=int(f("max_batch_memory")),
            batch_slo=int(f("batch_slo")), decode_step_ms=f("decode_step_ms"), prefill_ms=f("prefill_ms"),
            kv_transfer_ms=None if math.isnan(transfer) else transfer,
            prefill_accelerator=self.names["accelerator"][int(cols["prefill_acc"][i])] if mode == DISAGGREGATED
            else None,
            prefill_tp=opt_int("prefill_tp"), prefill_replicas=opt_int("prefill_replicas"))

    def _rank(self) -> np.ndarray:
        if self._order is None:
            c = self.columns
            # cheapest first; then more tokens/s per GPU, fewer GPUs, aggregated before disaggregated
            self._order = np.lexsort((c["mode"], c["gpus"], -c["tokens_per_s_per_gpu"], c["usd_month"]))
        return self._order

    def _mask(self, feasible: bool, mode: str | None) -> np.ndarray:
        c = self.columns
        mask = c["meets_slos"].astype(bool)
        if feasible:
            budget = c["budget_utilization"]
            mask &= np.isnan(budget) | (budget <= 1.0)
        if mode is not None:
            mask &= c["mode"] == MODES.index(mode)
        return mask

    def plans(self, top: int | None = None, feasible: bool = True, mode: str | None = None) -> list[Candidate]:
        """Plans that meet the SLOs and fit (and the budget, when ``feasible``), cheapest first."""
        order = self._rank()
        mask = self._mask(feasible, mode)[order]
        idx = order[mask][:top] if top is not None else order[mask]
        return [self._candidate(self.columns, int(i)) for i in idx]

    def best(self, mode: str | None = None) -> Candidate | None:
        """The cheapest feasible plan (of ``mode``), or None."""
        out = self.plans(top=1, mode=mode)
        return out[0] if out else None

    @property
    def winner(self) -> Candidate | None:
        """The cheapest plan that meets the SLOs and the budget; if none is within budget, the cheapest that meets
        the SLOs (its binding wall is then the budget); None if nothing meets the SLOs."""
        best = self.best()
        if best is not None:
            return best
        over = self.plans(top=1, feasible=False)
        return over[0] if over else None

    def nearest(self, top: int = 10) -> list[Candidate]:
        """When nothing meets the SLOs: per accelerator, the configuration closest to them (smallest
        max(TPOT at batch 1 / SLO, TTFT unloaded / SLO)), with the wall that stops it."""
        c = self.columns
        agg = np.flatnonzero(c["mode"] == 0)
        if not len(agg):
            return []
        miss = np.maximum(c["tpot1_ms"][agg] / self.spec.tpot_slo_ms, c["ttft1_ms"][agg] / self.spec.ttft_slo_ms)
        miss = np.where(c["max_batch_memory"][agg] >= 1, miss, np.inf)
        order = agg[np.lexsort((c["usd_month"][agg], miss))]
        seen: set[int] = set()
        out = []
        for i in order:
            a = int(c["acc"][i])
            if a in seen:
                continue
            seen.add(a)
            out.append(self._candidate(c, int(i)))
        return out[:top]

    def pareto(self) -> list[Candidate]:
        """The Pareto front of tokens/s per GPU vs tokens/s per user among plans meeting the SLOs, fitting memory and
        staying within the budget (highest tokens/s per user first)."""
        p = self.pareto_columns
        return [self._candidate(p, i) for i in range(len(p.get("usd_month", ())))]


def _pareto_front(per_gpu: np.ndarray, per_user: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both axes, by decreasing tokens/s per user."""
    order = np.lexsort((-per_gpu, -per_user))
    best = np.maximum.accumulate(per_gpu[order])
    prev = np.concatenate(([-np.inf], best[:-1]))
    return order[per_gpu[order] > prev]


# --------------------------------------------------------------------------------------------------- the search


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["usd_month"])]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _flat(cols: dict[str, np.ndarray], sel: np.ndarray | None = None) -> dict[str, np.ndarray]:
    if sel is None:
        return {k: np.ascontiguousarray(v).reshape(-1) for k, v in cols.items()}
    return {k: np.broadcast_to(v, sel.shape)[sel] for k, v in cols.items()}


def _front_of(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Pareto front of ``cols`` among the rows within the budget (a plan the planner cannot buy is no option)."""
    if not cols or not len(cols["usd_month"]):
        return cols
    if "budget_utilization" in cols:
        within = ~(cols["budget_utilization"] > 1.0)  # no budget: NaN, kept
        if not within.all():
            cols = {k: v[within] for k, v in cols.items()}
            if not len(cols["usd_month"]):
                return cols
    keep = _pareto_front(cols["tokens_per_s_per_gpu"], cols["tokens_per_s_per_user"])
    return {k: v[keep] for k, v in cols.items()}


PARETO_CHUNK = 1 << 15
"""Grid points scored per numpy pass: small enough that the temporaries stay in cache."""


def search(
    spec: PlanSpec,
    catalogue: Catalogue | None = None,
    space: SearchSpace | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    pareto: bool = True,
) -> SearchResult:
    """Score every configuration of ``space`` (default: ``search_space(spec)``) for ``spec``'s traffic, SLOs and
    budget; aggregated and (unless the space says not) disaggregated plans side by side. ``progress(done, total,
    label)`` is called as each (accelerator, dtype, KV dtype) is set up."""
    t0 = time.perf_counter()
    cat = catalogue or get_catalogue()
    space = space or search_space(spec, cat)
    model = cat.model(spec.model)
    _check_context(model, spec)
    acc_names = [a.id for a in space.accelerators]
    dtype_names = list(dict.fromkeys([*space.dtypes, *space.kv_dtypes]))
    combos = _combos(space)
    r = _build_rows(model, spec, space, cat, combos, dtype_names, progress)
    n = len(r)
    if not n:
        raise PlannerError(f"no configuration to search: none of {acc_names} can run {model.id} with the dtypes "
                           f"{list(space.dtypes)} at the tp/pp choices given")
    pool_idx = np.flatnonzero(r["pp"][:, 0] == 1) if space.disaggregated else np.zeros(0, dtype=int)
    both = r.take(np.concatenate([np.arange(n), pool_idx]))
    _operating(both, (np.arange(len(both)) >= n)[:, None])
    agg, pool = both.take(np.arange(n)), both.take(np.arange(n, len(both)))
    b_op = np.minimum(agg["b_mem"], agg["b_slo"])
    parts = [_flat(_aggregated(agg, np.maximum(b_op, 1.0), b_op))]
    evaluated = n
    front: list[dict[str, np.ndarray]] = []
    if pareto:
        evaluated += _pareto_grid(agg, b_op, front)
    if len(pool):
        evaluated += _disaggregated(pool, space, parts, front)
    columns = _concat(parts)
    pcols = _front_of(_concat(front)) if front else {}
    return SearchResult(spec, space, columns, {"accelerator": acc_names, "dtype": dtype_names}, pcols, evaluated,
                        time.perf_counter() - t0)


def _chunks(r: _Rows, width: int, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """Row indices (those ``keep`` marks) in chunks of ``PARETO_CHUNK / width`` rows."""
    idx = np.arange(len(r)) if keep is None else np.flatnonzero(keep)
    step = max(1, PARETO_CHUNK // width)
    return [idx[s:s + step] for s in range(0, len(idx), step)]


def _pareto_grid(agg: _Rows, b_op: np.ndarray, front: list[dict[str, np.ndarray]]) -> int:
    """Aggregated rows at ``PARETO_BATCHES`` up to their operating batch: the points that meet the SLOs and fit,
    pruned to their Pareto front chunk by chunk."""
    grid = PARETO_BATCHES[None, :]
    count = 0
    work = _Buffers()
    for idx in _chunks(agg, grid.shape[1], b_op[:, 0] >= 1):
        sub = agg.take(idx)
        g = _aggregated(sub, grid, work=work)
        ok = grid <= b_op[idx]  # up to the operating batch (past it the SLOs or memory fail anyway)
        sel = ok & g["meets_slos"].astype(bool)
        front.append(_front_of(_flat(g, sel)))
        count += int(ok.sum())
    return count


def _disaggregated(pool: _Rows, space: SearchSpace, parts: list[dict[str, np.ndarray]],
                   front: list[dict[str, np.ndarray]]) -> int:
    """Prefill-pool and decode-pool options from the pp = 1 rows, then every pair of the same (dtype, KV dtype)."""
    spec = pool.spec
    # prefill: weights and one prompt's KV cache must fit
    pre = pool.prefill
    fits_p = (pool["usable"] - pool["weights_gpu"] >= pool["kv_prompt_gpu"])[:, 0]
    used_p = pool["weights_gpu"] + pool["kv_prompt_gpu"] + pool["reserve"]
    p_all = {"acc": pool["acc"], "dtype_i": pool["dtype_i"], "kv_i": pool["kv_i"], "tp": pool["tp"],
             "t_s": pre.total_s, "mem_s": pre.memory_s, "comp_s": pre.compute_s, "net_s": pre.network_s,
             "price": pool["price"], "nic": pool["nic"], "link_fraction": pool["link_fraction"],
             "latency": pool["collective_latency"], "overhead": pool["request_overhead"],
             "u_cap": used_p / pool["memory_bytes"]}
    p_opts = {k: np.broadcast_to(v, (len(pool), 1))[fits_p, 0] for k, v in p_all.items()}
    # decode: the bare step within the TPOT SLO, the batch capped by memory
    b_op = np.minimum(pool["b_mem"], pool["b_slo"])
    ok_d = (b_op[:, 0] >= 1)
    sub = pool.take(np.flatnonzero(ok_d))
    b = b_op[ok_d]
    step = _decode(sub, b)
    used_d = sub["weights_gpu"] + b * sub["kv_seq_gpu"] + sub["reserve"]
    d_all = {"acc": sub["acc"], "dtype_i": sub["dtype_i"], "kv_i": sub["kv_i"], "tp": sub["tp"], "ep": sub["ep"],
             "batch": b, "b_mem": sub["b_mem"], "b_slo": sub["b_slo"], "t_s": step.total_s, "mem_s": step.memory_s,
             "comp_s": step.compute_s, "net_s": step.network_s, "t1_ms": sub["d1_total_s"] * MS_PER_S,
             "price": sub["price"], "nic": sub["nic"], "u_cap": used_d / sub["memory_bytes"]}
    d_opts = {k: np.broadcast_to(v, (len(sub), 1))[:, 0] for k, v in d_all.items()}
    count = len(pool) + len(sub)
    for key in {(int(a), int(c)) for a, c in zip(p_opts["dtype_i"], p_opts["kv_i"], strict=True)}:
        ps = (p_opts["dtype_i"] == key[0]) & (p_opts["kv_i"] == key[1])
        ds = (d_opts["dtype_i"] == key[0]) & (d_opts["kv_i"] == key[1])
        if ps.any() and ds.any():
            count += _pair_pools(pool.model, spec, pool.dtypes[key[1]], {k: v[ps] for k, v in p_opts.items()},
                                 {k: v[ds] for k, v in d_opts.items()}, parts, front)
    return count


def _pair_pools(model: Model, spec: PlanSpec, kv_dtype: str, p: dict[str, np.ndarray], d: dict[str, np.ndarray],
                parts: list[dict[str, np.ndarray]], front: list[dict[str, np.ndarray]]) -> int:
    """Every prefill option × decode option of one (dtype, KV dtype): pool sizes, TTFT with the KV transfer and
    the prefill queue, cost and walls (see the module docstring). Keeps the pairs that meet the SLOs."""
    pc = {k: v[:, None] for k, v in p.items()}  # prefill options down, decode options across
    dc = {k: v[None, :] for k, v in d.items()}
    out_tokens, qps = float(spec.output_tokens), spec.qps
    kv_prompt = float(kv_bytes_per_sequence(model, float(spec.input_tokens), kv_dtype))
    with np.errstate(divide="ignore", invalid="ignore"):
        bw = np.minimum(pc["tp"] * pc["nic"], dc["tp"] * dc["nic"]) * pc["link_fraction"]
        transfer = kv_prompt / bw + pc["latency"]
        t_p = pc["t_s"]
        unloaded = pc["overhead"] + t_p + transfer
        slack = spec.ttft_slo_ms / MS_PER_S - unloaded
        need = qps * t_p * (t_p + 2.0 * slack) / (2.0 * slack)
        n_p = np.where(slack > 0, np.maximum(1.0, np.ceil(need - REPLICA_TOLERANCE)), np.nan)
        rho = qps * t_p / n_p
        ttft_s = unloaded + rho * t_p / (2.0 * (1.0 - rho))
        steps = out_tokens / dc["batch"]
        decode_busy = steps * dc["t_s"]
        n_d = np.maximum(1.0, np.ceil(qps / (1.0 / decode_busy) - REPLICA_TOLERANCE))
        gpus = n_p * pc["tp"] + n_d * dc["tp"]
        usd_month = (n_p * pc["tp"] * pc["price"] + n_d * dc["tp"] * dc["price"]) * HOURS_PER_MONTH
        tokens_per_month = qps * out_tokens * HOURS_PER_MONTH * 3600.0
        gpu_s = pc["tp"] * t_p + dc["tp"] * decode_busy
        shares_busy = pc["tp"] * (t_p + transfer) + dc["tp"] * decode_busy
        u_bw = (pc["tp"] * pc["mem_s"] + dc["tp"] * steps * dc["mem_s"]) / shares_busy
        u_comp = (pc["tp"] * pc["comp_s"] + dc["tp"] * steps * dc["comp_s"]) / shares_busy
        u_net = (pc["tp"] * (pc["net_s"] + transfer) + dc["tp"] * steps * dc["net_s"]) / shares_busy
        budget_u = usd_month / spec.budget_usd_month if spec.budget_usd_month else np.full(usd_month.shape, np.nan)
    tpot_ms = dc["t_s"] * MS_PER_S
    ttft_ms = ttft_s * MS_PER_S
    meets = (slack > 0) & (tpot_ms <= spec.tpot_slo_ms) & (ttft_ms <= spec.ttft_slo_ms)
    wall = np.select([slack <= 0, dc["t1_ms"] > spec.tpot_slo_ms, budget_u > 1.0, dc["b_slo"] > dc["b_mem"]],
                     [_dominant(pc["mem_s"], pc["comp_s"], pc["net_s"] + transfer),
                      _dominant(dc["mem_s"], dc["comp_s"], dc["net_s"]), _BUDGET, _MEM],
                     _dominant(u_bw, u_comp, u_net))
    count = int(meets.size)
    if not meets.any():
        return count
    cols = {
        "acc": dc["acc"], "dtype_i": dc["dtype_i"], "kv_i": dc["kv_i"], "tp": dc["tp"], "pp": 1.0, "ep": dc["ep"],
        "microbatch": dc["batch"], "batch": dc["batch"], "max_batch_memory": dc["b_mem"],
        "batch_slo": dc["b_slo"], "replicas": n_d, "gpus": gpus, "tpot_ms": tpot_ms, "ttft_ms": ttft_ms,
        "tokens_per_s_per_gpu": out_tokens / gpu_s, "tokens_per_s_per_user": MS_PER_S / tpot_ms,
        "usd_month": usd_month, "usd_per_million_tokens": usd_month / tokens_per_month * 1e6,
        "budget_utilization": budget_u, "u_memory_capacity": np.maximum(pc["u_cap"], dc["u_cap"]),
        "u_memory_bandwidth": u_bw, "u_compute": u_comp, "u_network": u_net, "wall": wall, "meets_slos": meets,
        "fits_memory": 1.0, "decode_step_ms": tpot_ms, "prefill_ms": t_p * MS_PER_S,
        "kv_transfer_ms": transfer * MS_PER_S, "prefill_acc": pc["acc"], "prefill_tp": pc["tp"],
        "prefill_replicas": n_p, "tpot1_ms": dc["t1_ms"], "ttft1_ms": unloaded * MS_PER_S, "mode": 1.0,
    }
    flat = {k: np.broadcast_to(np.asarray(v, dtype=float), meets.shape)[meets] for k, v in cols.items()}
    parts.append(flat)
    front.append(_front_of(flat))
    return count


def config_times(spec: PlanSpec, accelerator: object, dtype: str, kv_dtype: str, tp: int, pp: int = 1, ep: int = 1,
                 batch: float = 1.0, catalogue: Catalogue | None = None) -> dict[str, float]:
    """One configuration at ``batch`` sequences per microbatch, as the search scores it: decode step, prefill,
    TPOT and TTFT (ms), largest batch that fits (per microbatch). For checks and what-ifs; raises for a (tp, pp,
    ep) the search would not consider."""
    cat = catalogue or get_catalogue()
    acc = cat.accelerator(accelerator)
    model = cat.model(spec.model)
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    space = SearchSpace((acc,), (acc.usd_per_gpu_hour or 1.0,), (dtype,), (kv_dtype,), (int(tp),), (int(pp),),
                        True, False)
    r = _build_rows(model, spec, space, cat, [(0, dtype, kv_dtype)], list(dict.fromkeys([dtype, kv_dtype])))
    sel = np.flatnonzero((r["ep"][:, 0] == ep) if len(r) else np.zeros(0, dtype=bool))
    if not len(sel):
        raise PlannerError(f"tp={tp}, pp={pp}, ep={ep} is not a configuration the search considers on {acc.id} "
                           f"for {model.id}")
    one = r.take(sel[:1])
    b = np.array([[float(batch)]])
    step, total, tpot, ttft = _user_ms(one, b)
    return {"decode_step_ms": float(total[0, 0] * MS_PER_S), "network_ms": float(step.network_s[0, 0] *
            MS_PER_S), "prefill_ms": float(one.prefill.total_s[0, 0] * MS_PER_S), "tpot_ms": float(tpot[0, 0]),
            "ttft_ms": float(ttft[0, 0]), "max_batch_memory": float(one["b_mem"][0, 0])}


# ------------------------------------------------------------------------------------------------ what-ifs, sweeps


def relaxed_accelerator(acc: Accelerator, wall: str) -> Accelerator:
    """``acc`` with ``wall`` loosened by ``RELAXATIONS`` (same id, so the same efficiencies apply)."""
    factor = RELAXATIONS[wall][0]
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
        nic = scaleout_bytes_per_s(acc) / GB * factor
        links["scaleout"] = Link(name="scale-out NIC (relaxed)", gbs_per_direction=nic)
        return acc.model_copy(update=links)
    return acc


def relax(result: SearchResult, catalogue: Catalogue | None = None) -> Relaxation | None:
    """Loosen the winner's binding wall (``RELAXATIONS``) and search again over the winner's accelerator(s), dtype
    and KV dtype (budget: the whole space without a budget): the new best plan, its change in cost and tokens/s per
    GPU, and the wall that binds next. None when there is no winner."""
    winner = result.winner
    if winner is None:
        return None
    wall = winner.binding_wall
    cat = catalogue or get_catalogue()
    space = result.space
    spec = result.spec
    if wall == W.BUDGET:
        spec = spec.model_copy(update={"budget_usd_month": None})
    else:
        names = {winner.accelerator, winner.prefill_accelerator} - {None}
        accs, prices = [], []
        for acc, price in zip(space.accelerators, space.prices, strict=True):
            if acc.id in names:
                accs.append(relaxed_accelerator(acc, wall))
                prices.append(price)
        space = SearchSpace(tuple(accs), tuple(prices), (winner.dtype,), (winner.kv_dtype,), space.tps, space.pps,
                            space.expert_parallel, space.disaggregated and winner.mode == DISAGGREGATED)
    again = search(spec, cat, space, pareto=False)
    after = again.best(winner.mode) if wall != W.BUDGET else again.best()
    return Relaxation(wall, RELAXATIONS[wall][1], winner, after, after.binding_wall if after else None)


SWEEP_FIELDS = ("model", "accelerator", "dtype", "kv_dtype", "engine", "tp", "qps", "input_tokens",
                "output_tokens", "ttft_slo_ms", "tpot_slo_ms", "budget_usd_month", "usd_per_gpu_hour")
"""Spec fields a sweep may vary."""


def parse_axes(axes: Iterable[str]) -> list[tuple[str, list[str]]]:
    """``["accelerator=h100-sxm,h200-sxm", "tpot_slo_ms=30,50"]`` → [(field, [values])]; bad syntax, unknown or
    repeated fields and empty values are ``PlannerError``\\ s."""
    out: list[tuple[str, list[str]]] = []
    for axis in axes:
        if not isinstance(axis, str) or "=" not in axis:
            raise PlannerError(f"axis {axis!r} is not NAME=V1,V2,...; e.g. --axis accelerator=h100-sxm,h200-sxm")
        name, _, values = axis.partition("=")
        name = name.strip().lower().replace("-", "_")
        if name not in SWEEP_FIELDS:
            raise PlannerError(f"unknown axis {name!r}; valid: {', '.join(SWEEP_FIELDS)}")
        if any(name == n for n, _ in out):
            raise PlannerError(f"axis {name!r} is given twice; give all its values in one --axis {name}=V1,V2")
        items = [v.strip() for v in values.split(",")]
        if not items or any(not v for v in items):
            raise PlannerError(f"axis {name!r} has an empty value in {values!r}; give NAME=V1,V2 with no blanks")
        out.append((name, items))
    if not out:
        raise PlannerError("give at least one --axis NAME=V1,V2 (e.g. --axis dtype=fp8,bf16)")
    total = math.prod(len(v) for _, v in out)
    if total > MAX_SWEEP_POINTS:
        raise PlannerError(f"the axes make {total:,} plans; at most {MAX_SWEEP_POINTS:,} per sweep")
    return out


def sweep_specs(spec: PlanSpec, axes: list[tuple[str, list[str]]],
                catalogue: Catalogue | None = None) -> list[tuple[dict[str, str], PlanSpec]]:
    """Every combination of the axis values applied to ``spec``, validated (a bad value, an unknown id, names its
    axis)."""
    cat = catalogue or get_catalogue()
    for name, values in axes:
        for v in values:
            if name in ("model", "accelerator"):
                try:
                    cat.model(v) if name == "model" else cat.accelerator(v)
                except PlannerError as exc:
                    raise PlannerError(f"axis {name}: {exc}") from None
    base = spec.model_dump(exclude_unset=True)
    base.setdefault("name", spec.name)
    for name, values in axes:  # each value alone first: the error names the axis
        for v in values:
            spec_from_data({**base, name: None if v.lower() in ("none", "null", "") else v}, where=f"axis {name}={v}")
    out = []
    for combo in _product([[(name, v) for v in values] for name, values in axes]):
        data = dict(base)
        for name, v in combo:
            data[name] = None if v.lower() in ("none", "null") else v
        if data.get("budget_usd_month") is None:
            data.pop("budget_usd_month", None)
        point = dict(combo)
        out.append((point, spec_from_data(data, where="sweep " + ", ".join(f"{k}={v}" for k, v in combo))))
    return out


def _product(lists: list[list[tuple[str, str]]]) -> list[list[tuple[str, str]]]:
    out: list[list[tuple[str, str]]] = [[]]
    for items in lists:
        out = [[*prefix, item] for prefix in out for item in items]
    return out


# ------------------------------------------------------------------------------------- the grid, for benchmarks


def evaluate_grid(spec: PlanSpec, batches: np.ndarray, catalogue: Catalogue | None = None,
                  space: SearchSpace | None = None) -> tuple[int, dict[str, float]]:
    """Score every configuration accelerator × dtype × KV dtype × tp × pp × ep × ``batches`` of ``space`` (each
    fully: memory fit, TPOT/TTFT vs the SLOs, throughput per GPU and per user, replicas, cost, binding wall; the
    binding wall needs each configuration's SLO batch, so the bisection runs too). Returns the number of
    configurations and aggregates that depend on all of them (the number meeting the SLOs, the cheapest cost)."""
    cat = catalogue or get_catalogue()
    space = space or search_space(spec, cat, disaggregated=False)
    model = cat.model(spec.model)
    _check_context(model, spec)
    dtype_names = list(dict.fromkeys([*space.dtypes, *space.kv_dtypes]))
    combos = _combos(space)
    r = _build_rows(model, spec, space, cat, combos, dtype_names)
    _operating(r)
    b = np.asarray(batches, dtype=float).reshape(1, -1)
    count, meets, cheapest = 0, 0, math.inf
    work = _Buffers()
    for rows in _chunks(r, b.shape[1]):
        sub = r.take(rows)
        cols = _aggregated(sub, b, work=work)  # one batch axis for every row: numpy broadcasts (rows × batches)
        ok = cols["meets_slos"].astype(bool)
        count += ok.size
        meets += int(ok.sum())
        if ok.any():
            cheapest = min(cheapest, float(cols["usd_month"][ok].min()))
    return count, {"meets_slos": float(meets), "cheapest_usd_month": cheapest}


# ----------------------------------------------------------------------------------------- tables (Excel, CLI)


def search_spec(model: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any, tpot_slo_ms: Any,
                budget_usd_month: Any = None, gpus: Any = None, dtypes: Any = None,
                catalogue: Catalogue | None = None) -> PlanSpec:
    """A validated spec for a search given as arguments (``BEST_CONFIG``/``PARETO``): the accelerator field is the
    first candidate (or the first priced accelerator); the candidates go in ``accelerators``/``dtypes``."""
    cat = catalogue or get_catalogue()
    acc_ids = _ids(gpus, "gpus")
    if acc_ids is not None and not acc_ids:
        acc_ids = None
    d_ids = _ids(dtypes, "dtypes")
    if d_ids is not None and not d_ids:
        d_ids = None
    if acc_ids:
        first = acc_ids[0]
    else:
        first = next(a.id for a in cat.accelerators.values() if a.usd_per_gpu_hour is not None)
    data: dict[str, Any] = {"name": "search", "model": model, "accelerator": first, "qps": qps,
                            "input_tokens": input_tokens, "output_tokens": output_tokens,
                            "ttft_slo_ms": ttft_slo_ms, "tpot_slo_ms": tpot_slo_ms}
    if budget_usd_month is not None:
        data["budget_usd_month"] = budget_usd_month
    if acc_ids:
        data["accelerators"] = acc_ids
    if d_ids:
        data["dtypes"] = d_ids
    if not isinstance(model, str):
        raise PlannerError(f"model must be a catalogue id (text), got {model!r}")
    return spec_from_data(data, where="arguments")


TABLE_HEADER = [h for _, h in COLUMNS]


def table_rows(plans: Iterable[Candidate]) -> list[list[Any]]:
    """Plans as rows of ``COLUMNS`` values (None where a column does not apply)."""
    return [[p.row()[k] for k, _ in COLUMNS] for p in plans]


def best_config_table(spec: PlanSpec, top: int = 10, catalogue: Catalogue | None = None) -> list[list[Any]]:
    """Header row + the ``top`` cheapest plans meeting the SLOs and budget (a rank column first). With none: the
    nearest configurations per accelerator and what stops them."""
    result = search(spec, catalogue, pareto=False)
    plans = result.plans(top=top)
    header = ["rank", *TABLE_HEADER]
    if not plans:
        over = result.plans(top=top, feasible=False)
        if over:
            return [header, *[["over budget", *r] for r in table_rows(over)]]
        return [header, *[["misses SLOs", *r] for r in table_rows(result.nearest(top))]]
    return [header, *[[i, *r] for i, r in enumerate(table_rows(plans), 1)]]


def pareto_table(spec: PlanSpec, catalogue: Catalogue | None = None) -> list[list[Any]]:
    """Header row + the Pareto front of tokens/s per GPU vs tokens/s per user (highest per user first)."""
    result = search(spec, catalogue)
    front = result.pareto()
    if not front:
        raise PlannerError("no configuration meets the SLOs, so there is no Pareto front; loosen the SLOs or add "
                           "accelerators (BEST_CONFIG shows what stops the nearest ones)")
    return [TABLE_HEADER, *table_rows(front)]
