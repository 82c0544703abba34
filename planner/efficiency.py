"""Measured efficiencies (fractions of peak that real kernels reach) and the serving reserve, from
``planner/data/serving.yaml``. ``Efficiency.ideal()`` is the floor: every fraction 1, no latencies, no overhead."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field

from planner.catalogue import Accelerator
from planner.units import DTYPES, Dtype, MS_PER_S, US_PER_S

Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class Efficiency(BaseModel):
    """How close to the catalogue peaks a serving engine gets on one accelerator.

    ``bandwidth_fraction`` scales HBM bandwidth, ``compute_fraction[d]`` the dense peak of compute dtype ``d``,
    ``link_fraction`` the per-direction link bandwidth; each collective adds ``collective_latency_s`` and each step
    ``step_overhead_s`` (seconds).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bandwidth_fraction: Fraction = 1.0
    compute_fraction: dict[Dtype, Fraction] = {d: 1.0 for d in DTYPES}  # type: ignore[misc]  # noqa: RUF012
    link_fraction: Fraction = 1.0
    scaleup_latency_s: NonNegative = 0.0
    pcie_latency_s: NonNegative = 0.0
    step_overhead_s: NonNegative = 0.0
    source: str = ""

    @classmethod
    def ideal(cls) -> Efficiency:
        """The floor: peaks reached exactly, no latency, no overhead."""
        return _IDEAL

    def compute(self, compute_dtype: str) -> float:
        return self.compute_fraction.get(compute_dtype, 1.0)  # type: ignore[call-overload]


_IDEAL = Efficiency()


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bandwidth_fraction: Fraction | None = None
    compute_fraction: dict[Dtype, Fraction] = {}  # noqa: RUF012
    link_fraction: Fraction | None = None
    collective_latency_us: dict[str, NonNegative] = {}  # noqa: RUF012
    step_overhead_ms: NonNegative | None = None
    source: str = ""


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    default: _Entry
    per_accelerator: dict[str, _Entry] = {}  # noqa: RUF012


class ServingAssumptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_reserve_fraction: Annotated[float, Field(ge=0, lt=1)]
    memory_reserve_source: str
    efficiency: _Table


@lru_cache(maxsize=1)
def serving_assumptions() -> ServingAssumptions:
    text = (resources.files("planner") / "data" / "serving.yaml").read_text(encoding="utf-8")
    return ServingAssumptions.model_validate(yaml.safe_load(text))


def memory_reserve_fraction() -> float:
    """Fraction of each GPU's memory held back from weights and KV cache (see serving.yaml for the source)."""
    return serving_assumptions().memory_reserve_fraction


@lru_cache(maxsize=256)
def expected_efficiency(accelerator_id: str) -> Efficiency:
    """The default efficiencies, overridden by the accelerator's own measured entries where it has them."""
    table = serving_assumptions().efficiency
    layers = [table.default, table.per_accelerator.get(accelerator_id, _Entry())]
    values: dict[str, object] = {"compute_fraction": {}}
    sources = []
    for entry in layers:
        if entry.bandwidth_fraction is not None:
            values["bandwidth_fraction"] = entry.bandwidth_fraction
        if entry.link_fraction is not None:
            values["link_fraction"] = entry.link_fraction
        values["compute_fraction"].update(entry.compute_fraction)  # type: ignore[attr-defined]
        if "scaleup" in entry.collective_latency_us:
            values["scaleup_latency_s"] = entry.collective_latency_us["scaleup"] / US_PER_S
        if "pcie" in entry.collective_latency_us:
            values["pcie_latency_s"] = entry.collective_latency_us["pcie"] / US_PER_S
        if entry.step_overhead_ms is not None:
            values["step_overhead_s"] = entry.step_overhead_ms / MS_PER_S
        if entry.source:
            sources.append(entry.source.strip())
    return Efficiency(**values, source=" | ".join(sources))  # type: ignore[arg-type]


def efficiency_for(acc: Accelerator) -> Efficiency:
    return expected_efficiency(acc.id)
