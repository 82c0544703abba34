"""What a search enumerates: accelerators (each with its price), weight dtypes, KV dtypes and layouts, as the
evaluator's options (``planner.evaluator.Option``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from planner.catalogue import Accelerator, Catalogue, Model, check_dtype, get_catalogue
from planner.errors import PlannerError
from planner.evaluator import Option
from planner.spec import PlanSpec
from planner.topology import PP_CHOICES, layouts

DEFAULT_DTYPES = ("bf16", "fp8", "int4", "fp4")
"""Weight dtypes searched when the spec lists none: 16-bit, 8-bit and 4-bit weight-only; fp4 only on accelerators
with a native fp4 rate (elsewhere it would be int4 again)."""

DEFAULT_KV_DTYPES = ("bf16", "fp8")
"""KV-cache dtypes searched besides the spec's own."""


@dataclass(frozen=True)
class SearchSpace:
    """What the search enumerates: accelerators (each with its price), weight dtypes, KV dtypes, tp/pp/ep choices
    (None: every valid one), and whether disaggregated plans are scored too."""

    accelerators: tuple[Accelerator, ...]
    prices: tuple[float, ...]
    dtypes: tuple[str, ...]
    kv_dtypes: tuple[str, ...]
    tps: tuple[int, ...] | None = None
    pps: tuple[int, ...] = PP_CHOICES
    expert_parallel: bool = True
    disaggregated: bool = True
    ep: int | None = None

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

    def kv_dtypes_for(self, acc: Accelerator) -> list[str]:
        """The KV dtypes searched on ``acc``: those whose attention it can compute."""
        out = []
        for d in self.kv_dtypes:
            try:
                acc.compute_dtype(d)
            except PlannerError:
                continue
            out.append(d)
        return out

    def options(self, model: Model, spec: PlanSpec, catalogue: Catalogue) -> list[Option]:
        """The evaluator's options: (accelerator, dtype, KV dtype) with prices, efficiencies and layouts, grouped
        by weight dtype."""
        out = []
        refused: list[PlannerError] = []
        for d in self.dtypes:
            for acc, price in zip(self.accelerators, self.prices, strict=True):
                if d not in self.dtypes_for(acc):
                    continue
                eff = catalogue.efficiency(acc.id, spec.engine)
                try:
                    lay = self.layouts(model, acc)
                except PlannerError as exc:  # no layout of this space runs here (a tp axis past its scale-up)
                    refused.append(exc)
                    continue
                for kv in self.kv_dtypes_for(acc):
                    out.append(Option(acc, d, kv, price, eff, lay))
        if not out and refused:
            raise refused[0]
        return out

    def layouts(self, model: Model, acc: Accelerator) -> Any:
        """The (tp, pp, ep) layouts searched on ``acc`` (``planner.topology.layouts`` within this space's
        choices)."""
        return layouts(model, acc, ep=self.ep, tps=self.tps, pps=self.pps, expert_parallel=self.expert_parallel)


def ids(value: Any, what: str) -> list[str] | None:
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
    return [i for i in items if i]


def search_space(
    spec: PlanSpec,
    catalogue: Catalogue | None = None,
    accelerators: Any = None,
    dtypes: Any = None,
    kv_dtypes: Any = None,
    tps: Sequence[int] | None = None,
    pps: Sequence[int] | None = None,
    expert_parallel: bool = True,
    disaggregated: bool = True,
    ep: int | None = None,
    calibrated_only: bool = False,
) -> SearchSpace:
    """The candidates for ``spec``: ``accelerators`` (else ``spec.accelerators``, else every accelerator with a
    price), ``dtypes`` (else ``spec.dtypes``, else ``DEFAULT_DTYPES``), ``kv_dtypes`` (else the spec's plus
    ``DEFAULT_KV_DTYPES``), ``tps``/``pps``/``ep`` (else every valid layout: a search ignores the spec's own tp, pp
    and ep, as it does its accelerator and dtype, unless they are passed here). Unknown ids, empty lists and
    accelerators without a price are ``PlannerError``\\ s.
    ``spec.usd_per_gpu_hour`` prices ``spec.accelerator``; every other candidate uses its catalogue price.
    ``calibrated_only``: only accelerators whose efficiencies were fitted to measurements (``calibration_rows``)."""
    cat = catalogue or get_catalogue()
    cat.model(spec.model)
    acc_ids = ids(accelerators, "accelerators")
    if acc_ids is None and spec.accelerators:
        acc_ids = ids(spec.accelerators, "accelerators")
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
    if calibrated_only:
        uncalibrated = [a.id for a in chosen if not cat.efficiency(a.id, spec.engine).calibration_rows]
        chosen = [a for a in chosen if a.id not in uncalibrated]
        if not chosen:
            calibrated = [a.id for a in cat.accelerators.values() if cat.efficiency(a.id, spec.engine).calibration_rows]
            raise PlannerError(f"none of the candidate accelerators has efficiencies fitted to measurements "
                               f"({', '.join(uncalibrated)} run on defaults); calibrated: "
                               f"{', '.join(calibrated) or 'none'} (`whichwall calibrate` fits your own)")
    prices = []
    for acc in chosen:
        price = spec.usd_per_gpu_hour if (acc.id == own.id and spec.usd_per_gpu_hour) else acc.usd_per_gpu_hour
        if price is None:
            raise PlannerError(f"{acc.id} has no $/GPU-hour in the catalogue, so the search cannot cost it; add "
                               f"price.usd_per_gpu_hour in a user catalogue or drop it from the candidates")
        prices.append(float(price))
    d_list = ids(dtypes, "dtypes")
    if d_list is None and spec.dtypes:
        d_list = list(spec.dtypes)
    if d_list is not None and not d_list:
        raise PlannerError(f"dtypes is empty; give at least one of {', '.join(DEFAULT_DTYPES)} (or leave it out)")
    d_tuple = tuple(dict.fromkeys(check_dtype(d) for d in d_list)) if d_list is not None else DEFAULT_DTYPES
    kv_list = ids(kv_dtypes, "kv_dtypes")
    if kv_list is not None and not kv_list:
        raise PlannerError("kv_dtypes is empty; give at least one KV-cache dtype (e.g. bf16, fp8)")
    kv_tuple = tuple(dict.fromkeys(check_dtype(d, "kv_dtype") for d in (
        kv_list if kv_list is not None else [spec.kv_dtype, *DEFAULT_KV_DTYPES])))
    if tps is not None:
        tps = tuple(int(t) for t in tps)
        if not tps or any(t < 1 for t in tps):
            raise PlannerError(f"tp choices must be whole numbers >= 1, got {list(tps)!r}")
    if pps is None:
        pps = PP_CHOICES
    pps = tuple(int(p) for p in pps)
    if not pps or any(p < 1 for p in pps):
        raise PlannerError(f"pp choices must be whole numbers >= 1, got {list(pps)!r}")
    space = SearchSpace(tuple(chosen), tuple(prices), d_tuple, kv_tuple, tps, pps, expert_parallel, disaggregated, ep)
    if not any(space.dtypes_for(a) for a in chosen):
        raise PlannerError(f"none of the accelerators {[a.id for a in chosen]} has a compute rate for the dtypes "
                           f"{list(d_tuple)}")
    return space
