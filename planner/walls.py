"""The five walls, what each one's utilization means, and the rule that says which one binds.

A plan is the cheapest configuration that meets the SLOs (``planner.plan``). Its **binding wall** is the one
constraint that caps its throughput per GPU:

1. **memory capacity** when the weights (plus one sequence's KV cache) do not fit the GPUs at all;
2. the resource that dominates the prefill (**memory bandwidth**, **compute** or **network**) when even one
   unloaded prefill misses the TTFT SLO;
3. the resource that dominates a token's time at batch 1 when even batch 1 misses the TPOT SLO;
4. **budget** when the cheapest plan meeting the SLOs costs more than the budget;
5. **memory capacity** when the KV cache caps the batch before the SLOs do (the largest batch that fits is below
   the largest batch the SLOs allow);
6. otherwise an SLO caps the batch, and the binding wall is the resource that takes the largest share of what that
   SLO measures: of the prefill when the TTFT SLO is the one the next larger batch would break, else of a token's
   time (the decode step plus its share of other requests' prefills);
7. when the serving engine's batch cap (the sequences a replica runs at once: vLLM ``--max-num-seqs``,
   TensorRT-LLM ``max_batch_size``) stops the batch before the memory and the SLOs do, the resource that takes the
   largest share of a token's time at that batch. It reads as measured: the engine's setting, not the resource, is
   the limit (raise it, ``max_batch`` in the spec, and the batch can grow).

**Utilization** — each wall's share of its own limit in use at the operating point, with its unit:

- memory capacity: the operating batch of the largest batch that fits (sequences ÷ sequences); when the weights
  do not fit, the bytes one sequence needs per GPU ÷ the usable bytes (over 100%);
- memory bandwidth: achieved bytes/s ÷ peak bytes/s over the replica's busy time;
- compute: achieved FLOP/s ÷ dense peak FLOP/s (at the weights' compute dtype) over the busy time;
- network: time the links are busy (all-reduces, pipeline hops, expert all-to-alls) ÷ the busy time;
- budget: monthly cost ÷ monthly budget.

The binding wall reads at its limit: rules 1, 4 and 5 by those definitions (≥ 100%), rules 2 and 3 the SLO it
misses (time ÷ SLO, over 100%), rule 6 exactly 100% (the SLO leaves that resource no more time). No other wall
reads above it. Rule 7's wall reads as measured (below 100%: the engine's cap leaves it time). Where nothing runs
(no batch meets the SLOs) the resource walls and the budget read n/a.
The **step-time split** — each resource's busy seconds ÷ the replica's busy seconds, plus the fixed overheads —
is shown apart: it says where a token's time goes, not how close a limit is.

**Next** is what binds after relaxing the binding wall by the step in ``RELAXATIONS`` (2× memory, 1.5× bandwidth,
1.5× FLOP/s, 2× link bandwidth, no budget), at the same layout: the same rule on the relaxed plan.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

MEMORY_CAPACITY = "memory capacity"
MEMORY_BANDWIDTH = "memory bandwidth"
COMPUTE = "compute"
NETWORK = "network"
BUDGET = "budget"
WALLS: tuple[str, ...] = (MEMORY_CAPACITY, MEMORY_BANDWIDTH, COMPUTE, NETWORK, BUDGET)
RESOURCE_WALLS: tuple[str, ...] = (MEMORY_BANDWIDTH, COMPUTE, NETWORK)
MEM, BW, COMP, NET, BUDGET_I = range(5)
"""Indices of the walls in ``WALLS`` (the vectorized rule returns them as floats)."""

UNITS: dict[str, str] = {
    MEMORY_CAPACITY: "operating batch ÷ largest batch that fits",
    MEMORY_BANDWIDTH: "achieved ÷ peak bytes/s",
    COMPUTE: "achieved ÷ peak FLOP/s",
    NETWORK: "link busy time ÷ replica busy time",
    BUDGET: "cost ÷ budget",
}
"""What each wall's utilization measures."""

BINDING_UNITS: dict[int, str] = {
    1: "binding: bytes one sequence needs per GPU ÷ usable bytes",
    2: "binding: unloaded TTFT ÷ TTFT SLO",
    3: "binding: TPOT at batch 1 ÷ TPOT SLO",
    4: "binding: cost ÷ budget",
    5: "binding: the KV cache fills the memory",
    6: "binding: the SLO leaves it no more time",
    7: "binding: the engine's batch cap stops the batch (as measured)",
}
"""What the binding wall's reading means, by the rule that named it."""

SPLIT_PARTS: tuple[str, ...] = (MEMORY_BANDWIDTH, COMPUTE, NETWORK, "overhead")
"""The parts of the step-time split."""

RELAXATIONS: dict[str, tuple[float, str]] = {
    MEMORY_CAPACITY: (2.0, "2x the memory per GPU"),
    MEMORY_BANDWIDTH: (1.5, "1.5x the memory bandwidth"),
    COMPUTE: (1.5, "1.5x the FLOP/s"),
    NETWORK: (2.0, "2x the link and NIC bandwidth"),
    BUDGET: (math.inf, "no budget"),
}
"""How each wall is relaxed to find the wall behind it (``next``)."""

RULES: tuple[str, ...] = (
    "the weights (plus one sequence's KV cache) do not fit the GPUs",
    "even unloaded, the first token misses the TTFT SLO; the wall is the part that dominates the prefill",
    "even at batch 1 a user's TPOT misses the SLO; the wall is the part that dominates a token's time",
    "the cheapest plan that meets the SLOs costs more than the budget",
    "the KV cache caps the batch before the SLOs do",
    "an SLO caps the batch; the wall is the resource that takes the largest share of what it measures",
    "the serving engine's batch cap stops the batch before the memory and the SLOs do; the wall is the resource that "
    "takes the largest share of a token's time (as measured)",
)
"""The binding rule, numbered 1-7 as above."""

ENGINE_CAP_LIFTED = "lifting the engine's batch cap"
"""How rule 7's binding limit (the engine's setting, not a wall) is relaxed to find the wall behind it."""


def relaxation(binding: str, rule: int) -> str:
    """What ``next`` relaxes, as a planner reads it: "after 1.5x the FLOP/s at the same layout" (rule 7: after
    lifting the engine's batch cap)."""
    step = ENGINE_CAP_LIFTED if rule == 7 else RELAXATIONS[binding][1]
    return f"after {step} at the same layout"


@dataclass(frozen=True)
class WallReport:
    """Each wall's utilization (None where it does not apply: budget without a budget, resources where nothing
    runs), the binding wall, the rule that named it, why it binds, the wall behind it, what to change next, and the
    step-time split."""

    utilization: dict[str, float | None]
    binding: str
    reason: str
    next_of: Callable[[], str | None] = field(repr=False, compare=False)
    """Finds the next wall (a second evaluation of the plan's layout, relaxed): run on first reading ``next``, as
    most callers (BINDING_WALL, PLAN_VALUE of other keys) never read it."""
    advice: list[str] = field(default_factory=list)
    rule: int = 6
    split: dict[str, float | None] = field(default_factory=dict)

    @cached_property
    def next(self) -> str | None:
        """The wall that binds once the binding one is relaxed (``RELAXATIONS``; rule 7: the engine's cap lifted)."""
        return self.next_of()

    def headroom(self, wall: str) -> float | None:
        """1 − utilization: the fraction of the wall's limit still free (negative when over)."""
        u = self.utilization.get(wall)
        return None if u is None else 1.0 - u


def dominant(memory: np.ndarray, compute: np.ndarray, network: np.ndarray) -> np.ndarray:
    """Index (into ``WALLS``, as a float) of the largest of three times; ties go to memory bandwidth, then
    compute."""
    first = (memory >= compute) & (memory >= network)
    return np.where(first, float(BW), np.where(compute >= network, float(COMP), float(NET)))


def binding_rule(*, fits: np.ndarray, ttft1_misses: np.ndarray, tpot1_misses: np.ndarray,
                 over_budget: np.ndarray, kv_caps: np.ndarray, engine_caps: np.ndarray | bool = False) -> np.ndarray:
    """The rule (1-7, as floats) that names each configuration's binding wall."""
    return np.select([~fits, ttft1_misses, tpot1_misses, over_budget, kv_caps, np.asarray(engine_caps)],
                     [1.0, 2.0, 3.0, 4.0, 5.0, 7.0], 6.0)


def binding_wall(rule: np.ndarray, prefill_parts: tuple[np.ndarray, ...], token1_parts: tuple[np.ndarray, ...],
                 capped_parts: tuple[np.ndarray, ...], token_parts: tuple[np.ndarray, ...] | None = None
                 ) -> np.ndarray:
    """The binding wall's index for each rule: memory capacity (1, 5), budget (4), else the dominant of the prefill's
    parts (2), a batch-1 token's parts (3), the parts of what the capping SLO measures (6) or of a token's time at
    the engine-capped batch (7; ``token_parts``, default ``capped_parts``)."""
    token = capped_parts if token_parts is None else token_parts
    return np.select([(rule == 1) | (rule == 5), rule == 2, rule == 3, rule == 4, rule == 7],
                     [float(MEM), dominant(*prefill_parts), dominant(*token1_parts), float(BUDGET_I),
                      dominant(*token)],
                     dominant(*capped_parts))
