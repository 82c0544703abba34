"""The five walls and the rule that says which one binds.

Each wall gets a utilization, demand ÷ capacity, at the plan's operating point (the batch per replica that both
memory and the TPOT SLO allow; see ``planner.plan``):

- memory capacity: bytes in use per GPU (weights / tp + batch · KV per sequence at full context + reserve) ÷ HBM.
- memory bandwidth: time the GPU spends moving bytes at achievable bandwidth ÷ its busy time per request
  (one prefill plus output_tokens / batch decode steps).
- compute: time spent on FLOPs at achievable FLOP/s ÷ busy time per request.
- network: time spent in tensor-parallel all-reduces ÷ busy time per request.
- budget: monthly cost of the replicas the traffic needs ÷ the monthly budget.

The binding wall is the first of these that limits the plan:
1. memory capacity, when the weights do not fit;
2. the dominant part (bandwidth, compute or network) of the prefill, when one unloaded prefill misses the TTFT SLO;
3. the dominant part of the batch-1 decode step, when even batch 1 misses the TPOT SLO;
4. budget, when the replicas the traffic needs cost more than the budget;
5. memory capacity, when the KV cache caps the batch below what the TPOT SLO would allow;
6. otherwise the busiest of memory bandwidth, compute and network: the resource the SLO-limited batch saturates.
The next wall is the one with the least headroom after the binding one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MEMORY_CAPACITY = "memory capacity"
MEMORY_BANDWIDTH = "memory bandwidth"
COMPUTE = "compute"
NETWORK = "network"
BUDGET = "budget"
WALLS: tuple[str, ...] = (MEMORY_CAPACITY, MEMORY_BANDWIDTH, COMPUTE, NETWORK, BUDGET)
RESOURCE_WALLS: tuple[str, ...] = (MEMORY_BANDWIDTH, COMPUTE, NETWORK)


@dataclass(frozen=True)
class WallReport:
    """Each wall's utilization (None where it does not apply, e.g. budget without a budget), the binding wall,
    why it binds, the wall behind it, and what to change next."""

    utilization: dict[str, float | None]
    binding: str
    reason: str
    next: str | None
    advice: list[str] = field(default_factory=list)

    def headroom(self, wall: str) -> float | None:
        """1 − utilization: the fraction of the wall's capacity still free (negative when over)."""
        u = self.utilization.get(wall)
        return None if u is None else 1.0 - u


def dominant(parts: dict[str, float]) -> str:
    """The resource wall with the largest time in ``parts`` (ties go to the earlier wall in ``RESOURCE_WALLS``)."""
    return max(RESOURCE_WALLS, key=lambda w: (parts.get(w, 0.0), -RESOURCE_WALLS.index(w)))


def next_wall(utilization: dict[str, float | None], binding: str) -> str | None:
    """The wall with the highest utilization other than ``binding``."""
    rest = [(u, w) for w, u in utilization.items() if w != binding and u is not None]
    return max(rest)[1] if rest else None
