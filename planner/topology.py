"""Topology: what fits in a GPU's memory, the largest batch, the smallest tensor-parallel group, and replicas.

Memory per GPU of a tp group = weights / tp + batch · KV bytes of one sequence / KV shards + reserve, where the
reserve (``planner/data/serving.yaml``: 10% of HBM, vLLM's default) holds activations, the runtime and fragmentation.
"""

from __future__ import annotations

import math

import numpy as np

from planner.catalogue import Accelerator, Model, check_dtype
from planner.efficiency import memory_reserve_fraction
from planner.errors import PlannerError
from planner.roofline import kv_bytes_per_sequence, kv_shards, weight_bytes
from planner.validate import at_least_one, positive

TP_CHOICES = (1, 2, 4, 8, 16, 32, 64)
"""Tensor-parallel sizes whichwall considers when it picks one: powers of two, as serving engines require heads to
split evenly."""


def usable_bytes(acc: Accelerator) -> float:
    """Bytes of one GPU's memory available to weights and KV cache: capacity · (1 − reserve fraction)."""
    return acc.memory_bytes * (1.0 - memory_reserve_fraction())


def reserve_bytes(acc: Accelerator) -> float:
    """Bytes held back on each GPU for activations, the runtime and fragmentation."""
    return acc.memory_bytes * memory_reserve_fraction()


def weight_bytes_per_gpu(model: Model, dtype: str, tp: np.ndarray | float) -> np.ndarray:
    """Weight bytes on each GPU of a tp group: weights / tp (tensor parallelism splits every matrix)."""
    return weight_bytes(model, dtype) / at_least_one("tp", tp)


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
) -> np.ndarray:
    """Largest batch of ``context``-token sequences whose weights + KV cache fit each GPU's usable memory:
    floor((usable − weights / tp) / KV per sequence per GPU); 0 when the weights alone do not fit."""
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    s = positive("context_tokens", context)
    free = usable_bytes(acc) - weight_bytes_per_gpu(model, dtype, tp)
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
) -> np.ndarray:
    """Bytes in use on each GPU: weights / tp + batch · KV per sequence per GPU + the reserve."""
    kv = np.asarray(batch, dtype=float) * kv_bytes_per_sequence_per_gpu(model, context, kv_dtype, tp)
    return weight_bytes_per_gpu(model, dtype, tp) + kv + reserve_bytes(acc)


def tp_choices(acc: Accelerator) -> list[int]:
    """The tensor-parallel sizes ``acc`` can run: powers of two within its scale-up domain (or a PCIe host)."""
    out = []
    for tp in TP_CHOICES:
        try:
            acc.tp_link(tp)
        except PlannerError:
            break
        out.append(tp)
    return out


def smallest_tp(
    model: Model, acc: Accelerator, context: float, dtype: str = "bf16", kv_dtype: str = "bf16"
) -> int:
    """Smallest tensor-parallel size whose GPUs hold the weights and at least one ``context``-token sequence."""
    choices = tp_choices(acc)
    for tp in choices:
        if max_batch(model, acc, context, dtype, tp, kv_dtype).item() >= 1:
            return tp
    largest = choices[-1]
    need = weight_bytes(model, dtype) / largest / 1e9
    raise PlannerError(
        f"{model.id} in {dtype} does not fit {acc.id} even at tp={largest}: {need:.1f} GB of weights per GPU vs "
        f"{usable_bytes(acc) / 1e9:.1f} GB usable; use a smaller dtype (fp8, int4) or a GPU with more memory"
    )


REPLICA_TOLERANCE = 1e-9
"""Slack when rounding replicas up: ceil(qps / rps − 1e-9), so an exact multiple (up to float error) needs no extra
replica."""


def replicas_needed(qps: float, replica_rps: float) -> int:
    """Replicas needed to serve ``qps`` requests/s when one replica serves ``replica_rps``: ceil(qps / rps)."""
    if replica_rps <= 0 or not math.isfinite(replica_rps):
        raise PlannerError(f"a replica's capacity must be a positive number of requests/s, got {replica_rps!r}")
    return max(1, math.ceil(qps / replica_rps - REPLICA_TOLERANCE))
