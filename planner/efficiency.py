"""Measured efficiencies (how close real serving engines get to the catalogue peaks) and the memory reserve, from
``planner/data/serving.yaml``, optionally overridden by a user catalogue's ``efficiency`` section (what
``whichwall calibrate`` writes). ``Efficiency.ideal()`` is the floor: every fraction 1, no latencies, no overheads.

Layers, most specific last: ``default`` → ``per_accelerator[id]`` → ``engines[engine]`` (serving-engine behaviour:
request overhead and prefill bursts) → ``per_accelerator["id@engine"]`` → the same keys in user catalogues.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from planner.errors import PlannerError, short
from planner.units import DTYPES, GIB, MS_PER_S, US_PER_S, Dtype
from planner.validate import MAX_SIZE

SMALLEST_FRACTION = 1e-3
"""Smallest efficiency fraction accepted (fits stay above 0.05): below it the arithmetic overflows."""

Fraction = Annotated[float, Field(ge=SMALLEST_FRACTION, le=1, allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, le=MAX_SIZE, allow_inf_nan=False)]
Exponent = Annotated[float, Field(ge=-2, le=3, allow_inf_nan=False)]
GrowthExponent = Annotated[float, Field(ge=0, le=3, allow_inf_nan=False)]
"""An exponent of how a wait grows with the batch: never negative (the SLO batch's bisection needs TTFT to grow)."""

ENGINES = ("any", "trtllm", "vllm", "sglang")
"""Serving engines with their own fitted behaviour; ``any`` is the fit pooled over all engines."""

BURST_REFERENCE_OUTPUT_TOKENS = 1024.0
"""Output length the prefill-burst term is normalised to (see ``planner.serving``)."""


class Efficiency(BaseModel):
    """How close to the catalogue peaks one serving engine gets on one accelerator.

    Fractions scale the catalogue peaks: ``bandwidth_fraction`` HBM bandwidth, ``compute_fraction[d]`` the dense
    peak of compute dtype ``d`` in decode, ``prefill_compute_fraction`` the same in prefill, ``link_fraction`` the
    per-direction link bandwidth. Times (seconds): each collective adds its link's latency; each step adds
    ``layer_overhead_s`` per layer plus ``sequence_overhead_s`` per sequence per layer (kernel launches, scheduling,
    sampling); each request adds ``request_overhead_s`` to its time to first token. The burst terms shape how TTFT
    grows with the batch (``planner.serving``). Routed MoE experts run at ``expert_bandwidth_fraction`` and
    ``expert_compute_fraction`` (prefill: ``prefill_expert_compute_fraction``) of those rates again: their grouped
    GEMMs are small and uneven; each routed-expert GEMM a GPU runs adds ``expert_overhead_s``. ``replicate_kv``:
    the KV cache splits only as far as tensor parallelism splits KV heads (real engines); the floor spreads it over
    every GPU (attention data parallelism can). ``prefill_compute_fraction`` is the 16-bit one (``prefill_compute``).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    bandwidth_fraction: Fraction = 1.0
    compute_fraction: dict[Dtype, Fraction] = {d: 1.0 for d in DTYPES}  # type: ignore[misc]
    prefill_compute_fraction: Fraction | None = None
    link_fraction: Fraction = 1.0
    scaleup_latency_s: NonNegative = 0.0
    pcie_latency_s: NonNegative = 0.0
    layer_overhead_s: NonNegative = 0.0
    sequence_overhead_s: NonNegative = 0.0
    request_overhead_s: NonNegative = 0.0
    burst_coefficient: NonNegative = 0.0
    burst_exponent: GrowthExponent = 1.0
    burst_output_exponent: Exponent = 0.0
    expert_bandwidth_fraction: Fraction = 1.0
    expert_compute_fraction: Fraction = 1.0
    prefill_expert_compute_fraction: Fraction | None = None
    expert_overhead_s: NonNegative = 0.0
    replicate_kv: bool = False
    calibration_rows: Annotated[int, Field(ge=0)] = 0
    """Measured rows of this accelerator (or its silicon family) its fractions were fitted to; 0: defaults."""
    source: str = ""

    @classmethod
    def ideal(cls) -> Efficiency:
        """The floor: peaks reached exactly, no latency, no overhead."""
        return _IDEAL

    def compute(self, compute_dtype: str) -> float:
        """Decode compute fraction for ``compute_dtype``."""
        return self.compute_fraction.get(compute_dtype, 1.0)  # type: ignore[call-overload]

    @property
    def prefill_expert_compute(self) -> float:
        """Prefill's routed-expert compute fraction (the decode one where none was fitted)."""
        if self.prefill_expert_compute_fraction is not None:
            return self.prefill_expert_compute_fraction
        return self.expert_compute_fraction

    def prefill_compute(self, compute_dtype: str) -> float:
        """Prefill compute fraction for ``compute_dtype``: ``prefill_compute_fraction`` is the 16-bit one, scaled by
        the decode fractions' ratio of ``compute_dtype`` to 16-bit (8- and 4-bit GEMMs reach less of their peaks:
        ``serving.yaml``'s ``compute_ratios``); the decode fraction where no prefill fraction was fitted."""
        if self.prefill_compute_fraction is None:
            return self.compute(compute_dtype)
        base = self.compute("bf16")
        ratio = self.compute(compute_dtype) / base if base > 0 else 1.0
        return min(1.0, self.prefill_compute_fraction * ratio)


_IDEAL = Efficiency()


class EfficiencyEntry(BaseModel):
    """One layer of ``serving.yaml`` (or a user catalogue's ``efficiency`` section): any subset of the parameters,
    in the units people write them in, with the source of each fit or measurement."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    bandwidth_fraction: Fraction | None = None
    compute_fraction: dict[Dtype, Fraction] = {}
    prefill_compute_fraction: Fraction | None = None
    link_fraction: Fraction | None = None
    collective_latency_us: dict[str, NonNegative] = {}
    layer_overhead_us: NonNegative | None = None
    sequence_overhead_us: NonNegative | None = None
    request_overhead_ms: NonNegative | None = None
    burst_coefficient: NonNegative | None = None
    burst_exponent: GrowthExponent | None = None
    burst_output_exponent: Exponent | None = None
    expert_bandwidth_fraction: Fraction | None = None
    expert_compute_fraction: Fraction | None = None
    prefill_expert_compute_fraction: Fraction | None = None
    expert_overhead_us: NonNegative | None = None
    rows: Annotated[int, Field(ge=1)] | None = None
    """Measured rows the fractions were fitted to (an accelerator's entry): its calibration provenance."""
    source: str = ""

    def apply(self, values: dict[str, Any]) -> None:
        """Write this entry's parameters over ``values`` (Efficiency field names, seconds)."""
        plain = ("bandwidth_fraction", "prefill_compute_fraction", "link_fraction", "burst_coefficient",
                 "burst_exponent", "burst_output_exponent", "expert_bandwidth_fraction", "expert_compute_fraction",
                 "prefill_expert_compute_fraction")
        for name in plain:
            if getattr(self, name) is not None:
                values[name] = getattr(self, name)
        if self.compute_fraction:
            values["compute_fraction"] = {**values.get("compute_fraction", {}), **self.compute_fraction}
        for kind in ("scaleup", "pcie"):
            if kind in self.collective_latency_us:
                values[f"{kind}_latency_s"] = self.collective_latency_us[kind] / US_PER_S
        if self.layer_overhead_us is not None:
            values["layer_overhead_s"] = self.layer_overhead_us / US_PER_S
        if self.sequence_overhead_us is not None:
            values["sequence_overhead_s"] = self.sequence_overhead_us / US_PER_S
        if self.request_overhead_ms is not None:
            values["request_overhead_s"] = self.request_overhead_ms / MS_PER_S
        if self.expert_overhead_us is not None:
            values["expert_overhead_s"] = self.expert_overhead_us / US_PER_S
        if self.rows is not None:
            values["calibration_rows"] = self.rows


class EfficiencyTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    default: EfficiencyEntry = EfficiencyEntry()
    per_accelerator: dict[str, EfficiencyEntry] = {}
    engines: dict[str, EfficiencyEntry] = {}


class ScaleOutDefault(BaseModel):
    """Scale-out NIC bandwidth per GPU for accelerators whose catalogue entry has no ``scaleout`` link."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    gbs_per_direction: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    source: str


class ComputeRatios(BaseModel):
    """Large-GEMM fraction of each compute dtype's peak relative to the 16-bit one, per silicon family (kernel
    microbenchmarks): a fit of one 16-bit fraction per family gives every dtype's through these."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    families: dict[str, dict[str, Annotated[float, Field(gt=0, le=1)]]]
    default: dict[str, Annotated[float, Field(gt=0, le=1)]]
    source: str

    @model_validator(mode="after")
    def _known_dtypes(self) -> ComputeRatios:
        for table in (self.default, *self.families.values()):
            unknown = set(table) - set(DTYPES)
            if unknown:
                raise ValueError(f"unknown dtypes {sorted(unknown)}; valid: {', '.join(DTYPES)}")
        return self

    def ratio(self, family: str, compute_dtype: str) -> float:
        """The ratio of ``compute_dtype`` in ``family`` (the default's for a family without its own; 1 if unlisted)."""
        return self.families.get(family, self.default).get(compute_dtype, self.default.get(compute_dtype, 1.0))


class EngineBatchCap(BaseModel):
    """A serving engine's default caps per replica: the sequences it runs at once (``max_sequences``: vLLM
    ``--max-num-seqs``, TensorRT-LLM ``max_batch_size``; None: no fixed cap) and the tokens one iteration takes
    (``max_batched_tokens``: vLLM ``--max-num-batched-tokens``, TensorRT-LLM ``max_num_tokens``, SGLang
    ``--chunked-prefill-size``), with ``small_gpu_*`` values on GPUs under ``small_gpu_below_gib`` GiB or whose id
    contains one of ``small_gpu_ids`` (the engines pick their defaults this way); ``offline_max_batched_tokens``:
    the tokens per iteration of the engine's offline entry point (vLLM's LLM class), for offline measurement tables
    whose rows do not say (``max_batched_tokens`` where not given)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_sequences: Annotated[int, Field(ge=1)] | None = None
    max_batched_tokens: Annotated[int, Field(ge=1)]
    offline_max_batched_tokens: Annotated[int, Field(ge=1)] | None = None
    small_gpu_max_sequences: Annotated[int, Field(ge=1)] | None = None
    small_gpu_max_batched_tokens: Annotated[int, Field(ge=1)] | None = None
    small_gpu_below_gib: Annotated[float, Field(gt=0)] | None = None
    small_gpu_ids: tuple[str, ...] = ()
    source: str

    def _small(self, accelerator_id: str, memory_bytes: float) -> bool:
        """Whether the engine treats this GPU as small (GiB: ``units.GIB``, as the engines measure it)."""
        named = any(part in accelerator_id for part in self.small_gpu_ids)
        return named or (self.small_gpu_below_gib is not None and memory_bytes < self.small_gpu_below_gib * GIB)

    def for_gpu(self, accelerator_id: str, memory_bytes: float) -> float:
        """The sequence cap on this GPU (infinity: none)."""
        small = self._small(accelerator_id, memory_bytes) and self.small_gpu_max_sequences is not None
        cap = self.small_gpu_max_sequences if small else self.max_sequences
        return float("inf") if cap is None else float(cap)

    def tokens_for_gpu(self, accelerator_id: str, memory_bytes: float) -> float:
        """The tokens one iteration takes on this GPU."""
        if self.small_gpu_max_batched_tokens is not None and self._small(accelerator_id, memory_bytes):
            return float(self.small_gpu_max_batched_tokens)
        return float(self.max_batched_tokens)


class ServingAssumptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    memory_reserve_fraction: Annotated[float, Field(ge=0, lt=1)]
    memory_reserve_source: str
    efficiency: EfficiencyTable
    scaleout_default: ScaleOutDefault | None = None
    compute_ratios: ComputeRatios | None = None
    engine_batch_caps: dict[str, EngineBatchCap]

    @model_validator(mode="after")
    def _every_engine_has_caps(self) -> ServingAssumptions:
        missing = [e for e in ENGINES if e not in self.engine_batch_caps]
        if missing:
            raise ValueError(f"engine_batch_caps needs an entry for every engine; missing {', '.join(missing)}")
        return self


@lru_cache(maxsize=1)
def serving_assumptions() -> ServingAssumptions:
    text = (resources.files("planner") / "data" / "serving.yaml").read_text(encoding="utf-8")
    return ServingAssumptions.model_validate(yaml.safe_load(text))


def efficiency_table_from_data(data: Any, where: str) -> EfficiencyTable:
    """A user catalogue's ``efficiency`` section, validated."""
    try:
        return EfficiencyTable.model_validate(data or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = "".join(f".{p}" for p in err["loc"])
        raise PlannerError(f"{where}: efficiency{loc}: {err['msg']} (got {short(err.get('input'))})") from None


def compute_ratio(family: str, compute_dtype: str) -> float:
    """Large-GEMM fraction of ``compute_dtype``'s peak relative to 16-bit in silicon ``family`` (serving.yaml)."""
    ratios = serving_assumptions().compute_ratios
    return ratios.ratio(family, compute_dtype) if ratios else 1.0


def engine_batch_cap(engine: str) -> EngineBatchCap:
    """``serving.yaml``'s ``engine_batch_caps`` entry of ``engine`` (``any``: no engine named)."""
    return serving_assumptions().engine_batch_caps[engine]


def engine_max_sequences(engine: str, accelerator_id: str, memory_bytes: float) -> float:
    """The sequences ``engine`` runs at once per replica by default on this GPU (``serving.yaml``'s
    ``engine_batch_caps``); infinity for an engine without a fixed default cap (SGLang sizes it from the KV pool;
    ``any``)."""
    return engine_batch_cap(engine).for_gpu(accelerator_id, memory_bytes)


def engine_token_budget(engine: str, accelerator_id: str, memory_bytes: float) -> float:
    """Prompt tokens ``engine`` prefills in one iteration on this GPU by default (``engine_batch_caps``)."""
    return engine_batch_cap(engine).tokens_for_gpu(accelerator_id, memory_bytes)


def engine_offline_token_budget(engine: str) -> float:
    """Prompt tokens one iteration of ``engine``'s offline entry point takes by default (``engine_batch_caps``'
    ``offline_max_batched_tokens``, else its serving default on a large GPU)."""
    cap = engine_batch_cap(engine)
    return float(cap.offline_max_batched_tokens or cap.max_batched_tokens)


def memory_reserve_fraction() -> float:
    """Fraction of each GPU's memory held back from weights and KV cache (see serving.yaml for the source)."""
    return serving_assumptions().memory_reserve_fraction


def check_engine(engine: object) -> str:
    """The canonical engine name (``any`` for None), or a ``PlannerError`` naming the valid ones."""
    if engine is None:
        return "any"
    text = str(engine).strip().lower().replace("-", "").replace("_", "")
    text = {"tensorrtllm": "trtllm", "trt": "trtllm"}.get(text, text)
    if text not in ENGINES:
        raise PlannerError(f"unknown engine {short(engine)}; valid: {', '.join(ENGINES)}")
    return text


def _layers(table: EfficiencyTable, accelerator_id: str, engine: str) -> list[EfficiencyEntry]:
    out = [table.default]
    if accelerator_id in table.per_accelerator:
        out.append(table.per_accelerator[accelerator_id])
    for key in ("any", engine) if engine != "any" else ("any",):
        if key in table.engines:
            out.append(table.engines[key])
    if f"{accelerator_id}@{engine}" in table.per_accelerator:
        out.append(table.per_accelerator[f"{accelerator_id}@{engine}"])
    return out


def build_efficiency(accelerator_id: str, engine: str, overrides: tuple[EfficiencyTable, ...] = ()) -> Efficiency:
    """The efficiencies from the built-in layers and then ``overrides`` (user catalogues), uncached."""
    values: dict[str, Any] = {}
    sources = []
    for table in (serving_assumptions().efficiency, *overrides):
        for entry in _layers(table, accelerator_id, engine):
            entry.apply(values)
            if entry.source:
                sources.append(entry.source.strip())
    return Efficiency(**values, replicate_kv=True, source=" | ".join(dict.fromkeys(sources)))


def default_efficiency(engine: object = None) -> Efficiency:
    """The efficiencies an accelerator with no entries of its own gets on ``engine`` (e.g. a planner's own GPU)."""
    from planner.catalogue import get_catalogue  # catalogue imports this module; import it late

    return get_catalogue().efficiency("", engine)


def expected_efficiency(accelerator_id: str, engine: object = None) -> Efficiency:
    """The efficiencies for ``accelerator_id`` on ``engine`` (None: pooled over engines): built-in layers, then
    the active user catalogues' ``efficiency`` sections."""
    from planner.catalogue import get_catalogue  # catalogue imports this module; import it late

    return get_catalogue().efficiency(accelerator_id, engine)
