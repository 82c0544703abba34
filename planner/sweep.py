"""Sweeps: one spec varied along axes (``whichwall sweep``), each point planned or searched."""

from __future__ import annotations

import math
from collections.abc import Iterable

from planner.catalogue import Catalogue, get_catalogue
from planner.errors import PlannerError
from planner.spec import PlanSpec, spec_from_data

MAX_SWEEP_POINTS = 10_000
"""Largest number of plans one ``sweep`` evaluates."""

SWEEP_FIELDS = ("model", "accelerator", "dtype", "kv_dtype", "engine", "tp", "pp", "ep", "qps", "input_tokens",
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
