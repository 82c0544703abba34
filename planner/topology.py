"""Topology: the layouts engines run, what fits in a GPU's memory, the largest batch, and replicas.

A **layout** is (tp, pp, ep): tp GPUs split every matrix (tensor parallelism, inside one scale-up domain), pp stages
of tp GPUs split the layers (pipeline parallelism, across hosts when tp · pp outgrows the domain), and a MoE model's
routed experts are either split like every other matrix (ep = 1) or spread whole over the tp GPUs (ep = tp: expert
parallelism, an all-to-all instead of the experts' all-reduce). Only layouts engines run:

- tp divides the attention heads, and the KV heads divide tp or tp divides the KV heads (vLLM's and SGLang's check;
  MLA caches no per-head KV, so only the heads count);
- tp fits the accelerator's scale-up domain (or one PCIe host), tp · pp ≤ ``MAX_GPUS_PER_REPLICA``, pp ≤ layers;
- ep = tp only when tp divides the routed experts.

Memory per GPU = weights / (tp · pp) + batch · KV bytes of one sequence / KV shards + reserve, where the batch is one
microbatch's (pp stages each hold their layers' KV of pp microbatches: one microbatch's worth over all layers) and
the reserve (``planner/data/serving.yaml``: 10% of HBM, vLLM's default) holds activations, the runtime and
fragmentation.
"""

from __future__ import annotations

import math

import numpy as np

from planner.catalogue import Accelerator, Model, check_dtype
from planner.efficiency import memory_reserve_fraction
from planner.errors import PlannerError
from planner.roofline import kv_bytes_per_sequence, kv_shards, weight_bytes
from planner.units import GB
from planner.validate import at_least_one, positive

MAX_GPUS_PER_REPLICA = 64
"""Largest replica (tp · pp GPUs) whichwall plans."""

PP_CHOICES = (1, 2, 4, 8)
"""Pipeline-parallel sizes an automatic layout considers (any pp up to the layers may be given)."""

TP_SLOTS = 16
"""Most tensor-parallel sizes an automatic layout considers: the first 16 valid ones (every catalogue model has
fewer; a plan workbook lays out one row per slot)."""


def usable_bytes(acc: Accelerator) -> float:
    """Bytes of one GPU's memory available to weights and KV cache: capacity · (1 − reserve fraction)."""
    return acc.memory_bytes * (1.0 - memory_reserve_fraction())


def reserve_bytes(acc: Accelerator) -> float:
    """Bytes held back on each GPU for activations, the runtime and fragmentation."""
    return acc.memory_bytes * memory_reserve_fraction()


def weight_bytes_per_gpu(model: Model, dtype: str, tp: np.ndarray | float, pp: np.ndarray | float = 1.0
                         ) -> np.ndarray:
    """Weight bytes on each GPU of a replica: weights / (tp · pp) (tensor parallelism splits every matrix, pipeline
    parallelism the layers)."""
    return weight_bytes(model, dtype) / (at_least_one("tp", tp) * np.asarray(pp, dtype=float))


def kv_bytes_per_sequence_per_gpu(
    model: Model, context: np.ndarray | float, kv_dtype: str, tp: np.ndarray | float
) -> np.ndarray:
    """KV bytes one sequence of ``context`` tokens puts on each GPU of a tp group."""
    return kv_bytes_per_sequence(model, context, kv_dtype) / kv_shards(model, at_least_one("tp", tp))


def max_batch(
    model: Model,
    acc: Accelerator,
    context: np.ndarray | float,
    dtype: str = "bf16",
    tp: np.ndarray | float = 1.0,
    kv_dtype: str = "bf16",
    pp: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Largest batch (per microbatch) of ``context``-token sequences whose weights + KV cache fit each GPU's usable
    memory: floor((usable − weights / (tp · pp)) / KV per sequence per GPU); 0 when the weights alone do not fit."""
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    s = positive("context_tokens", context)
    free = usable_bytes(acc) - weight_bytes_per_gpu(model, dtype, tp, pp)
    per_sequence = kv_bytes_per_sequence_per_gpu(model, s, kv_dtype, tp)
    return np.maximum(np.floor(free / per_sequence), 0.0)


def memory_used_bytes(
    model: Model,
    acc: Accelerator,
    batch: np.ndarray | float,
    context: np.ndarray | float,
    dtype: str = "bf16",
    tp: np.ndarray | float = 1.0,
    kv_dtype: str = "bf16",
    pp: np.ndarray | float = 1.0,
) -> np.ndarray:
    """Bytes in use on each GPU: weights / (tp · pp) + batch · KV per sequence per GPU + the reserve."""
    kv = np.asarray(batch, dtype=float) * kv_bytes_per_sequence_per_gpu(model, context, kv_dtype, tp)
    return weight_bytes_per_gpu(model, dtype, tp, pp) + kv + reserve_bytes(acc)


def tp_splits_heads(model: Model, tp: int) -> bool:
    """tp divides the attention heads, and the KV heads divide tp or tp divides them (MLA: the heads only)."""
    a = model.attention
    if a.heads % tp:
        return False
    kv = getattr(a, "kv_heads", None)
    return kv is None or kv % tp == 0 or tp % kv == 0


def tp_domain(acc: Accelerator) -> int:
    """Largest tensor-parallel group ``acc``'s links join (scale-up domain, else a PCIe host, else 1), capped at
    ``MAX_GPUS_PER_REPLICA``."""
    domains = [link.domain for link in (acc.scaleup, acc.pcie) if link is not None]
    return min(max(domains, default=1), MAX_GPUS_PER_REPLICA)


def tp_choices(model: Model, acc: Accelerator) -> list[int]:
    """The tensor-parallel sizes engines run for ``model`` on ``acc``, smallest first (at most ``TP_SLOTS``)."""
    return [t for t in range(1, tp_domain(acc) + 1) if tp_splits_heads(model, t)][:TP_SLOTS]


def check_tp(model: Model, acc: Accelerator, tp: int) -> int:
    """``tp`` if engines run it for ``model`` on ``acc``, else a ``PlannerError`` naming the valid values."""
    valid = tp_choices(model, acc)
    if tp in valid:
        return tp
    a = model.attention
    kv = getattr(a, "kv_heads", None)
    heads = f"{a.heads} attention heads" + (f" and {kv} KV heads" if kv is not None else "")
    if tp_splits_heads(model, tp):
        why = f"it is past {acc.id}'s scale-up domain of {tp_domain(acc)} GPUs (use pp to span hosts)"
    else:
        why = (f"{model.id} has {heads}: tp must divide the heads, and the KV heads must divide tp or tp divide "
               f"them")
    raise PlannerError(f"tp={tp} cannot run {model.id} on {acc.id}: {why}; valid tp: "
                       f"{', '.join(map(str, valid))}")


def ep_choices(model: Model, tp: int) -> list[int]:
    """Expert-parallel sizes for tp: 1 (experts split like every matrix), and tp where tp > 1 divides the routed
    experts (each GPU holds whole experts)."""
    if not model.moe or tp == 1 or model.moe.experts % tp:
        return [1]
    return [1, tp]


def layouts(model: Model, acc: Accelerator, tp: int | None = None, pp: int | None = None, ep: int | None = None,
            tps: tuple[int, ...] | None = None, pps: tuple[int, ...] = PP_CHOICES,
            expert_parallel: bool = True) -> np.ndarray:
    """The (tp, pp, ep) layouts to consider, as a (C, 3) float array: each of tp, pp, ep as given (checked, with a
    ``PlannerError`` naming the valid values) or every valid choice (``tps``/``pps`` narrow the automatic ones)."""
    valid_tp = tp_choices(model, acc)
    if tp is not None:
        tp_list = [check_tp(model, acc, tp)]
    else:
        tp_list = [t for t in (tps or valid_tp) if t in valid_tp]
    if pp is not None and not 1 <= pp <= min(model.layers, MAX_GPUS_PER_REPLICA):
        raise PlannerError(f"pp={pp} cannot split {model.id}'s {model.layers} layers; give 1 to "
                           f"{min(model.layers, MAX_GPUS_PER_REPLICA)} stages")
    rows = []
    for t in tp_list:
        for p in ([pp] if pp is not None else pps):
            if t * p > MAX_GPUS_PER_REPLICA or p > model.layers:
                continue
            eps = ep_choices(model, t) if expert_parallel else [1]
            if ep is not None:
                if ep not in ep_choices(model, t):
                    if tp is None:
                        continue  # an automatic tp that cannot have this ep
                    raise PlannerError(f"ep={ep} cannot run {model.id} at tp={t}; valid ep: "
                                       f"{', '.join(map(str, ep_choices(model, t)))} (1: experts split like every "
                                       f"matrix; tp: whole experts per GPU, where tp divides the experts)")
                eps = [ep]
            rows += [(t, p, e) for e in eps]
    if not rows:
        if ep is not None:
            raise PlannerError(f"ep={ep} cannot run {model.id} at any tp on {acc.id}: ep is 1 (experts split like "
                               f"every matrix) or tp where tp divides the {model.moe.experts if model.moe else 0} "
                               f"routed experts")
        if not tp_list:
            raise PlannerError(f"none of tp {', '.join(map(str, tps or ()))} runs {model.id} on {acc.id}; valid tp: "
                               f"{', '.join(map(str, valid_tp))}")
        stages = [pp] if pp is not None else list(pps)
        raise PlannerError(f"tp {', '.join(map(str, tp_list))} × pp {', '.join(map(str, stages))} leaves no layout "
                           f"of at most {MAX_GPUS_PER_REPLICA} GPUs per replica with pp at most {model.id}'s "
                           f"{model.layers} layers; give a smaller tp or pp")
    return np.array(rows, dtype=float).reshape(-1, 3)


def smallest_tp(
    model: Model, acc: Accelerator, context: float, dtype: str = "bf16", kv_dtype: str = "bf16"
) -> int:
    """Smallest tensor-parallel size (one that engines run) whose GPUs hold the weights and at least one
    ``context``-token sequence."""
    choices = tp_choices(model, acc)
    for tp in choices:
        if max_batch(model, acc, context, dtype, tp, kv_dtype).item() >= 1:
            return tp
    largest = choices[-1]
    need = weight_bytes(model, dtype) / largest / GB
    raise PlannerError(
        f"{model.id} in {dtype} does not fit {acc.id} even at tp={largest}: {need:.1f} GB of weights per GPU vs "
        f"{usable_bytes(acc) / GB:.1f} GB usable; use pipeline parallelism across hosts (pp), a smaller dtype "
        f"(fp8, int4) or a GPU with more memory"
    )


REPLICA_TOLERANCE = 1e-9
"""Slack when rounding replicas up: ceil(qps / rps − 1e-9), so an exact multiple (up to float error) needs no extra
replica."""


def replicas_needed(qps: float, replica_rps: float) -> int:
    """Replicas needed to serve ``qps`` requests/s when one replica serves ``replica_rps``: ceil(qps / rps)."""
    if replica_rps <= 0 or not math.isfinite(replica_rps):
        raise PlannerError(f"a replica's capacity must be a positive number of requests/s, got {replica_rps!r}")
    return max(1, math.ceil(qps / replica_rps - REPLICA_TOLERANCE))
