"""The search's results: candidate plans, the table columns every face shows, the ranking and the Pareto front."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from planner import walls as W
from planner.spec import PlanSpec

if TYPE_CHECKING:
    from planner.space import SearchSpace

AGGREGATED = "aggregated"
DISAGGREGATED = "disaggregated"
MODES = (AGGREGATED, DISAGGREGATED)

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
    ("calibration_rows", "calibrated on (measured rows)"),
)
"""The columns of a plan table (key, header), in the order tables show them. For a disaggregated plan,
``accelerator``/``tp``/``replicas``/``batch`` are the decode pool's; ``prefill_*`` the prefill pool's; output
tokens are counted per output token (not prompt tokens). ``calibration_rows``: the measured rows the accelerator's
efficiencies were fitted to (0: defaults, no measurements; a disaggregated plan: the fewer of its two pools')."""


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
    replicas: int | None
    gpus: int | None
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
    split: dict[str, float | None] | None = None
    calibration_rows: int = 0

    @property
    def calibrated(self) -> bool:
        """Whether the expected times rest on efficiencies fitted to measurements of this accelerator (or family)."""
        return self.calibration_rows > 0

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
            tp=int(f("tp")), pp=int(f("pp")), ep=int(f("ep")), batch=int(f("batch")), replicas=opt_int("replicas"),
            gpus=opt_int("gpus"), tpot_ms=f("tpot_ms"), ttft_ms=f("ttft_ms"),
            tokens_per_s_per_gpu=f("tokens_per_s_per_gpu"), tokens_per_s_per_user=f("tokens_per_s_per_user"),
            usd_month=f("usd_month"), usd_per_million_tokens=f("usd_per_million_tokens"),
            budget_utilization=util[W.BUDGET], binding_wall=W.WALLS[int(f("wall"))], utilization=util,
            meets_slos=bool(cols["meets_slos"][i]), fits_memory=bool(cols["fits_memory"][i]),
            within_budget=bool(np.isnan(budget) or budget <= 1.0), max_batch_memory=int(f("max_batch_memory")),
            batch_slo=int(f("batch_slo")), decode_step_ms=f("decode_step_ms"), prefill_ms=f("prefill_ms"),
            kv_transfer_ms=None if math.isnan(transfer) else transfer,
            prefill_accelerator=self.names["accelerator"][int(cols["prefill_acc"][i])] if mode == DISAGGREGATED
            else None,
            prefill_tp=opt_int("prefill_tp"), prefill_replicas=opt_int("prefill_replicas"),
            split={part: None if math.isnan(f(f"split_{part}")) else f(f"split_{part}") for part in W.SPLIT_PARTS}
            if f"split_{W.SPLIT_PARTS[0]}" in cols else None,
            calibration_rows=int(f("calibration_rows")) if "calibration_rows" in cols else 0)

    def _rank(self) -> np.ndarray:
        if self._order is None:
            c = self.columns
            # cheapest first; then fewer GPUs, lower TPOT (the plan's rule, planner.plan.best_index), aggregated first
            self._order = np.lexsort((c["mode"], c["tpot_ms"], c["gpus"], c["usd_month"]))
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


def pareto_front(per_gpu: np.ndarray, per_user: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats on both axes, by decreasing tokens/s per user."""
    order = np.lexsort((-per_gpu, -per_user))
    best = np.maximum.accumulate(per_gpu[order])
    prev = np.concatenate(([-np.inf], best[:-1]))
    return order[per_gpu[order] > prev]



def concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    parts = [p for p in parts if len(p["usd_month"])]
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def flat(cols: dict[str, Any], sel: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``cols`` (arrays and scalars that broadcast together) as flat float arrays, of the cells ``sel`` marks."""
    shape = np.broadcast_shapes(*(np.shape(v) for v in cols.values()), *(() if sel is None else (sel.shape,)))
    if sel is None:
        return {k: np.broadcast_to(np.asarray(v, dtype=float), shape).reshape(-1) for k, v in cols.items()}
    return {k: np.broadcast_to(np.asarray(v, dtype=float), shape)[sel] for k, v in cols.items()}


def front_of(cols: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The Pareto front of ``cols`` among the rows within the budget (a plan the planner cannot buy is no option)."""
    if not cols or not len(cols["usd_month"]):
        return cols
    if "budget_utilization" in cols:
        within = ~(cols["budget_utilization"] > 1.0)  # no budget: NaN, kept
        if not within.all():
            cols = {k: v[within] for k, v in cols.items()}
            if not len(cols["usd_month"]):
                return cols
    keep = pareto_front(cols["tokens_per_s_per_gpu"], cols["tokens_per_s_per_user"])
    return {k: v[keep] for k, v in cols.items()}



TABLE_HEADER = [h for _, h in COLUMNS]


def table_rows(plans: Iterable[Candidate]) -> list[list[Any]]:
    """Plans as rows of ``COLUMNS`` values (None where a column does not apply)."""
    return [[p.row()[k] for k, _ in COLUMNS] for p in plans]


