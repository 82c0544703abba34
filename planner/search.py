"""Search the design space for the cheapest plan that meets the SLOs: whole grids of configurations in one pass.

A **configuration** is accelerator × weight dtype × KV dtype × layout (tp, pp, ep) × batch. The search space
(``planner.space``) lists the options; the one evaluator (``planner.evaluator``) scores every configuration at its
operating batch — memory fit, a user's TPOT and TTFT against the SLOs, output tokens/s per GPU and per user, the
replicas the traffic needs, $/month and $/million output tokens, the walls and the binding one — exactly as a plan
(``planner.plan``) is scored, so a plan is the best row of a search restricted to its accelerator and dtypes.
Disaggregated plans (a prefill pool and a decode pool) are scored beside them (``planner.disaggregated``).

Plans are ranked cheapest first (ties: fewer GPUs, then lower TPOT; ``planner.candidates``). Tokens/s per GPU is a
replica's (or a pool pair's) capacity: output tokens per GPU-second of busy time; tokens/s per user is
1000 / TPOT. The **Pareto front** is over aggregated configurations at a geometric grid of batches up to their
operating batch (every one meets the SLOs and fits) and disaggregated plans at their operating points: no point on
it is beaten on both tokens/s per GPU and tokens/s per user.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from planner import evaluator as E
from planner import walls as W
from planner.candidates import (
    AGGREGATED,
    COLUMNS,
    DISAGGREGATED,
    MODES,
    TABLE_HEADER,
    Candidate,
    Relaxation,
    SearchResult,
    concat,
    flat,
    front_of,
    table_rows,
)
from planner.catalogue import Catalogue, check_dtype, get_catalogue
from planner.disaggregated import disaggregated
from planner.errors import PlannerError
from planner.plan import check_context, relaxed_accelerator
from planner.space import DEFAULT_DTYPES, DEFAULT_KV_DTYPES, SearchSpace, ids, search_space
from planner.spec import PlanSpec, spec_from_data
from planner.sweep import MAX_SWEEP_POINTS, SWEEP_FIELDS, parse_axes, sweep_specs
from planner.topology import MAX_GPUS_PER_REPLICA, PP_CHOICES
from planner.units import MS_PER_S

__all__ = [
    "AGGREGATED",
    "COLUMNS",
    "DEFAULT_DTYPES",
    "DEFAULT_KV_DTYPES",
    "DISAGGREGATED",
    "MAX_GPUS_PER_REPLICA",
    "MAX_SWEEP_POINTS",
    "MODES",
    "PARETO_BATCHES",
    "PP_CHOICES",
    "RELAXATIONS",
    "SWEEP_FIELDS",
    "TABLE_HEADER",
    "Candidate",
    "Relaxation",
    "SearchResult",
    "SearchSpace",
    "best_config_table",
    "config_times",
    "evaluate_grid",
    "pareto_table",
    "parse_axes",
    "relax",
    "relaxed_accelerator",
    "search",
    "search_space",
    "search_spec",
    "sweep_specs",
    "table_rows",
]

RELAXATIONS = W.RELAXATIONS

PARETO_BATCHES = np.unique(np.round(np.geomspace(1, E.BATCH_SEARCH_LIMIT, 49)))
"""Batches (per microbatch) at which aggregated configurations enter the Pareto front."""

PARETO_CHUNK = 1 << 15
"""Grid points scored per numpy pass: small enough that the temporaries stay in cache."""


def _rows(spec: PlanSpec, cat: Catalogue, space: SearchSpace,
          progress: Callable[[int, int, str], None] | None = None) -> E.Rows:
    model = cat.model(spec.model)
    check_context(spec, model)
    return E.build(model, spec, space.options(model, spec, cat), progress)


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
    r = _rows(spec, cat, space, progress)
    n = len(r)
    if not n:
        raise PlannerError(f"no configuration to search: none of {[a.id for a in space.accelerators]} can run "
                           f"{spec.model} with the dtypes {list(space.dtypes)} at the tp/pp choices given")
    pool_idx = np.flatnonzero(r["pp"][:, 0] == 1) if space.disaggregated else np.zeros(0, dtype=int)
    both = r.take(np.concatenate([np.arange(n), pool_idx]))
    E.operate(both, (np.arange(len(both)) >= n)[:, None])
    agg, pool = both.take(np.arange(n)), both.take(np.arange(n, len(both)))
    parts = [flat(E.operating_metrics(agg))]
    evaluated = n
    front: list[dict[str, np.ndarray]] = []
    if pareto:
        evaluated += _pareto_grid(agg, front)
    if len(pool):
        evaluated += disaggregated(pool, parts, front)
    columns = concat(parts)
    pcols = front_of(concat(front)) if front else {}
    return SearchResult(spec, space, columns, r.names, pcols, evaluated, time.perf_counter() - t0)


def _chunks(n: int, width: int, keep: np.ndarray | None = None) -> list[np.ndarray]:
    """Row indices (those ``keep`` marks) in chunks of ``PARETO_CHUNK / width`` rows."""
    idx = np.arange(n) if keep is None else np.flatnonzero(keep)
    step = max(1, PARETO_CHUNK // width)
    return [idx[s:s + step] for s in range(0, len(idx), step)]


def _pareto_grid(agg: E.Rows, front: list[dict[str, np.ndarray]]) -> int:
    """Aggregated rows at ``PARETO_BATCHES`` up to their operating batch: the points that meet the SLOs and fit,
    pruned to their Pareto front chunk by chunk."""
    grid = PARETO_BATCHES[None, :]
    count = 0
    b_op = agg["b_op"]
    for idx in _chunks(len(agg), grid.shape[1], b_op[:, 0] >= 1):
        sub = agg.take(idx)
        g = E.metrics(sub, grid)
        ok = grid <= b_op[idx]  # up to the operating batch (past it the SLOs or memory fail anyway)
        sel = ok & g["meets_slos"].astype(bool)
        front.append(front_of(flat(g, sel)))
        count += int(ok.sum())
    return count


def config_times(spec: PlanSpec, accelerator: object, dtype: str, kv_dtype: str, tp: int, pp: int = 1, ep: int = 1,
                 batch: float = 1.0, catalogue: Catalogue | None = None) -> dict[str, float]:
    """One configuration at ``batch`` sequences per microbatch, as the evaluator scores it: decode step, prefill,
    TPOT and TTFT (ms), largest batch that fits (per microbatch). For checks and what-ifs; raises for a layout
    engines do not run."""
    cat = catalogue or get_catalogue()
    acc = cat.accelerator(accelerator)
    model = cat.model(spec.model)
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    from planner.topology import layouts

    option = E.Option(acc, dtype, kv_dtype, acc.usd_per_gpu_hour or math.nan, cat.efficiency(acc.id, spec.engine),
                      layouts(model, acc, int(tp), int(pp), int(ep)))
    one = E.build(model, spec, [option])
    b = np.array([[float(batch)]])
    step, total, tpot, ttft = E.user_ms(one, b)
    return {"decode_step_ms": float(total[0, 0] * MS_PER_S), "network_ms": float(step.network_s[0, 0] * MS_PER_S),
            "prefill_ms": float(one["pre_total_s"][0, 0] * MS_PER_S), "tpot_ms": float(tpot[0, 0]),
            "ttft_ms": float(ttft[0, 0]), "max_batch_memory": float(one["b_mem"][0, 0])}


def relax(result: SearchResult, catalogue: Catalogue | None = None) -> Relaxation | None:
    """Loosen the winner's binding wall (``planner.walls.RELAXATIONS``) and search again over the winner's
    accelerator(s), dtype and KV dtype (budget: the whole space without a budget): the new best plan, its change in
    cost and tokens/s per GPU, and the wall that binds next. None when there is no winner."""
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
                            space.expert_parallel, space.disaggregated and winner.mode == DISAGGREGATED, space.ep)
    again = search(spec, cat, space, pareto=False)
    after = again.best(winner.mode) if wall != W.BUDGET else again.best()
    return Relaxation(wall, RELAXATIONS[wall][1], winner, after, after.binding_wall if after else None)


def evaluate_grid(spec: PlanSpec, batches: np.ndarray, catalogue: Catalogue | None = None,
                  space: SearchSpace | None = None) -> tuple[int, dict[str, float]]:
    """Score every configuration accelerator × dtype × KV dtype × layout × ``batches`` of ``space`` (each fully:
    memory fit, TPOT/TTFT vs the SLOs, throughput per GPU and per user, replicas, cost, walls; the binding wall
    needs each configuration's SLO batch, so the bisection runs too). Returns the number of configurations and
    aggregates that depend on all of them (the number meeting the SLOs, the cheapest cost)."""
    cat = catalogue or get_catalogue()
    space = space or search_space(spec, cat, disaggregated=False)
    r = _rows(spec, cat, space)
    E.operate(r)
    b = np.asarray(batches, dtype=float).reshape(1, -1)
    count, meets, cheapest = 0, 0, math.inf
    for rows in _chunks(len(r), b.shape[1]):
        cols = E.metrics(r.take(rows), b)  # one batch axis for every row: numpy broadcasts (rows × batches)
        ok = cols["meets_slos"].astype(bool)
        count += ok.size
        meets += int(ok.sum())
        if ok.any():
            cheapest = min(cheapest, float(cols["usd_month"][ok].min()))
    return count, {"meets_slos": float(meets), "cheapest_usd_month": cheapest}


# ----------------------------------------------------------------------------------------- tables (Excel, CLI)


def search_spec(model: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any, tpot_slo_ms: Any,
                budget_usd_month: Any = None, gpus: Any = None, dtypes: Any = None,
                catalogue: Catalogue | None = None, kv_dtype: Any = None, engine: Any = None) -> PlanSpec:
    """A validated spec for a search given as arguments (``BEST_CONFIG``/``PARETO``): the accelerator field is the
    first candidate (or the first priced accelerator); the candidates go in ``accelerators``/``dtypes``."""
    cat = catalogue or get_catalogue()
    acc_ids = ids(gpus, "gpus") or None
    d_ids = ids(dtypes, "dtypes") or None
    if acc_ids:
        first = acc_ids[0]
    else:
        first = next(a.id for a in cat.accelerators.values() if a.usd_per_gpu_hour is not None)
    data: dict[str, Any] = {"name": "search", "model": model, "accelerator": first, "qps": qps,
                            "input_tokens": input_tokens, "output_tokens": output_tokens,
                            "ttft_slo_ms": ttft_slo_ms, "tpot_slo_ms": tpot_slo_ms}
    for key, value in (("budget_usd_month", budget_usd_month), ("accelerators", acc_ids), ("dtypes", d_ids),
                       ("kv_dtype", kv_dtype), ("engine", engine)):
        if value is not None:
            data[key] = value
    if not isinstance(model, str):
        raise PlannerError(f"model must be a catalogue id (text), got {model!r}")
    return spec_from_data(data, where="arguments")


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
