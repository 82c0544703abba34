"""The typed catalogue: accelerators and models, validated on load, looked up by id or alias.

The numbers live in ``planner/data/*.yaml`` (each entry with its source); this module holds only their types, the
checks that catch the known data-entry mistakes, and the architecture arithmetic that derives parameter counts.
A planner can add entries from their own YAML/JSON file (same shape as the package files) or a model's
``config.json``; user entries replace package entries with the same id.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from planner import files, yamlsafe
from planner.efficiency import Efficiency, EfficiencyTable, build_efficiency, check_engine, efficiency_table_from_data
from planner.errors import SHOWN, PlannerError, short, unknown
from planner.units import BYTES_PER_ELEMENT, COMPUTE_FALLBACK, DTYPES, GB, TB, TERA, Dtype
from planner.validate import MAX_SIZE

CATALOGUE_ENV = "WHICHWALL_CATALOGUE"
"""Environment variable naming user catalogue files (separated by the OS path separator)."""

MAX_CATALOGUE_BYTES = 10_000_000
"""A user catalogue is a few kilobytes (the shipped ones are ~100 kB); over 10 MB is refused before it is read."""

PARAM_TOLERANCE = 0.03
"""Largest relative gap allowed between the architecture's parameter count and the published total (published
totals are rounded, and biases/norms the count leaves out are well under 1%)."""

SMALLEST_FIGURE = 1e-3
"""Smallest catalogue figure accepted (GB, TB/s, TFLOP/s, GB/s, $/hour...): below it the arithmetic overflows."""

PositiveFloat = Annotated[float, Field(ge=SMALLEST_FIGURE, le=MAX_SIZE, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0, le=MAX_SIZE)]
NonNegativeInt = Annotated[int, Field(ge=0, le=MAX_SIZE)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_T = TypeVar("_T", bound=_Strict)


# ---------------------------------------------------------------------------------------------------- accelerators


class Link(_Strict):
    """An interconnect. Bandwidth is per direction; the datasheet's bidirectional total is kept beside it."""

    name: str
    gbs_per_direction: PositiveFloat
    gbs_bidirectional: PositiveFloat | None = None
    domain: PositiveInt = 8
    note: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _directions_agree(self) -> Link:
        if self.gbs_bidirectional is not None and not math.isclose(
            self.gbs_bidirectional, 2 * self.gbs_per_direction, rel_tol=0.01
        ):
            raise ValueError(
                f"link {self.name!r}: gbs_per_direction {self.gbs_per_direction} should be half of gbs_bidirectional "
                f"{self.gbs_bidirectional} (datasheets quote both directions added together)"
            )
        return self

    @property
    def bytes_per_s(self) -> float:
        """Per-direction bandwidth in bytes/s."""
        return self.gbs_per_direction * GB


class Price(_Strict):
    """A planning price in USD per GPU-hour, with the quoted range, its date and source."""

    usd_per_gpu_hour: PositiveFloat
    low: PositiveFloat | None = None
    high: PositiveFloat | None = None
    date: str = ""
    note: str = ""
    source: str = ""

    @field_validator("date", mode="before")
    @classmethod
    def _date_as_text(cls, value: Any) -> str:
        return str(value)


class Family(_Strict):
    bf16_ridge_range: tuple[PositiveFloat, PositiveFloat]
    note: str = ""


def _printable(text: str) -> str:
    bad = re.search(r"[\x00-\x08\x0a-\x1f\x7f]", text)  # a tab is fine
    if bad:
        raise ValueError(f"must be one line of printable text; it holds the control character {bad.group()!r}: "
                         f"remove it")
    return text


PrintableText = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_printable)]
"""An id, alias or name: one line of printable text (it is shown in terminals and written into workbook cells)."""


class Accelerator(_Strict):
    """One accelerator (per GPU / per chip). Peaks are dense tensor rates in TFLOP/s, per dtype."""

    id: PrintableText
    name: PrintableText
    vendor: str = ""
    family: str = ""
    aliases: list[PrintableText] = []
    memory_gb: PositiveFloat
    memory_bandwidth_tbs: PositiveFloat
    dense_peak_tflops: dict[Dtype, PositiveFloat]
    scaleup: Link | None = None
    pcie: Link | None = None
    scaleout: Link | None = None  # per-GPU NIC bandwidth between hosts (KV transfer, pipeline hops); see planner.search
    tdp_w: PositiveFloat | None = None
    price: Price | None = None
    confidence: str = ""
    notes: str = ""
    source: str = Field(min_length=3)

    @field_validator("memory_bandwidth_tbs")
    @classmethod
    def _bandwidth_unit(cls, value: float) -> float:
        if value > 50:
            raise ValueError(
                f"memory_bandwidth_tbs {value} is not a plausible TB/s figure (the fastest HBM is ~8 TB/s); "
                f"was it given in GB/s? Use {value / 1000:g}"
            )
        if value < 0.05:
            raise ValueError(f"memory_bandwidth_tbs {value} is implausibly low for an accelerator (TB/s, e.g. 3.35)")
        return value

    @field_validator("memory_gb")
    @classmethod
    def _memory_unit(cls, value: float) -> float:
        if value > 4000:
            raise ValueError(f"memory_gb {value} is not a plausible per-GPU memory in GB; was it given in MB or MiB?")
        return value

    @model_validator(mode="after")
    def _dense_peaks(self) -> Accelerator:
        peaks = self.dense_peak_tflops
        if not any(d in peaks for d in ("bf16", "fp16")):
            raise ValueError(f"accelerator {self.id!r} needs a dense bf16 or fp16 peak in dense_peak_tflops")
        sixteen = peaks.get("bf16", peaks.get("fp16", 0.0))
        for narrow, wide_value, label in (
            ("fp8", sixteen, "bf16"),
            ("int8", sixteen, "bf16"),
            ("fp4", peaks.get("fp8", sixteen * 2), "fp8"),
        ):
            if narrow in peaks and peaks[narrow] > 2.05 * wide_value:
                raise ValueError(
                    f"accelerator {self.id!r}: {narrow} peak {peaks[narrow]} TFLOP/s is more than twice the {label} "
                    f"peak {wide_value}; is it a 2:4-sparse figure? Use the dense figure (half the sparse one)"
                )
        return self

    @property
    def memory_bytes(self) -> float:
        return self.memory_gb * GB

    @property
    def bandwidth_bytes_per_s(self) -> float:
        return self.memory_bandwidth_tbs * TB

    def compute_dtype(self, dtype: str) -> str:
        """The dtype whose dense rate weights of ``dtype`` compute at (see ``units.COMPUTE_FALLBACK``)."""
        for candidate in COMPUTE_FALLBACK[check_dtype(dtype)]:
            if candidate in self.dense_peak_tflops:
                return candidate
        raise PlannerError(
            f"{self.id} has no dense {dtype} rate in the catalogue (it has {', '.join(self.dense_peak_tflops)}); "
            f"use one of those dtypes or add dense_peak_tflops.{dtype} in a user catalogue"
        )

    def peak_flops(self, dtype: str) -> float:
        """Dense peak FLOP/s for weights of ``dtype``, after the compute-dtype rule."""
        return self.dense_peak_tflops[self.compute_dtype(dtype)] * TERA  # type: ignore[index]

    def ridge(self, dtype: str = "bf16") -> float:
        """Ridge intensity, FLOP/byte: dense peak FLOP/s ÷ memory bandwidth in bytes/s."""
        return self.peak_flops(dtype) / self.bandwidth_bytes_per_s

    def tp_link(self, tp: int) -> Link | None:
        """The link a tensor-parallel group of ``tp`` GPUs all-reduces over (None for tp=1).

        Within the scale-up domain (NVLink, Infinity Fabric, ICI) the scale-up link; else PCIe within one host of at
        most 8 cards. Larger groups span hosts, which whichwall does not model for tensor parallelism.
        """
        if tp <= 1:
            return None
        if self.scaleup is not None and tp <= self.scaleup.domain:
            return self.scaleup
        if self.pcie is not None and tp <= self.pcie.domain:
            return self.pcie
        domain = self.scaleup.domain if self.scaleup else (self.pcie.domain if self.pcie else 1)
        raise PlannerError(
            f"tp={tp} does not fit {self.id}'s scale-up domain of {domain} GPUs; tensor parallelism across hosts is "
            f"not modelled: use tp <= {domain} and more replicas"
        )

    @property
    def usd_per_gpu_hour(self) -> float | None:
        return self.price.usd_per_gpu_hour if self.price else None


# ---------------------------------------------------------------------------------------------------------- models


class GQAttention(_Strict):
    """Multi-head / grouped-query / multi-query attention (kv_heads = heads / < heads / 1)."""

    kind: Literal["gqa"] = "gqa"
    heads: PositiveInt
    kv_heads: PositiveInt
    head_dim: PositiveInt
    qkv_bias: bool = False

    @model_validator(mode="after")
    def _groups(self) -> GQAttention:
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} must be a multiple of kv_heads {self.kv_heads}")
        return self


class MLAttention(_Strict):
    """Multi-head latent attention (DeepSeek-V2/V3): the cache holds a compressed latent plus a RoPE key."""

    kind: Literal["mla"] = "mla"
    heads: PositiveInt
    q_lora_rank: PositiveInt | None = None
    kv_lora_rank: PositiveInt
    qk_nope_head_dim: PositiveInt
    qk_rope_head_dim: PositiveInt
    v_head_dim: PositiveInt


class MoE(_Strict):
    experts: PositiveInt
    experts_per_token: PositiveInt
    shared_experts: NonNegativeInt = 0
    expert_intermediate_size: PositiveInt
    first_dense_layers: NonNegativeInt = 0

    @model_validator(mode="after")
    def _routing(self) -> MoE:
        if self.experts_per_token > self.experts:
            raise ValueError(f"experts_per_token {self.experts_per_token} exceeds experts {self.experts}")
        return self


class SlidingWindow(_Strict):
    tokens: PositiveInt
    layers: PositiveInt


class Published(_Strict):
    total_params_b: PositiveFloat
    active_params_b: PositiveFloat | None = None
    as_written: str = ""


class Model(_Strict):
    """A transformer's architecture, as its config.json gives it."""

    id: PrintableText
    name: PrintableText
    hf_repo: str = ""
    aliases: list[PrintableText] = []
    layers: PositiveInt
    hidden_size: PositiveInt
    vocab_size: PositiveInt
    tie_word_embeddings: bool = False
    attention: GQAttention | MLAttention = Field(discriminator="kind")
    intermediate_size: PositiveInt
    moe: MoE | None = None
    sliding_window: SlidingWindow | None = None
    published: Published | None = None
    max_context_tokens: PositiveInt | None = None
    notes: str = ""
    source: str = Field(min_length=3)

    @model_validator(mode="after")
    def _consistent(self) -> Model:
        if self.moe and self.moe.first_dense_layers >= self.layers:
            raise ValueError(f"first_dense_layers {self.moe.first_dense_layers} must be below layers {self.layers}")
        if self.sliding_window and self.sliding_window.layers > self.layers:
            raise ValueError(f"sliding_window.layers {self.sliding_window.layers} exceeds layers {self.layers}")
        if self.published is not None:
            gap = abs(self.total_params / 1e9 - self.published.total_params_b) / self.published.total_params_b
            if gap > PARAM_TOLERANCE:
                raise ValueError(
                    f"model {self.id!r}: the architecture gives {self.total_params / 1e9:.2f}B parameters but "
                    f"published.total_params_b is {self.published.total_params_b}B ({gap:.0%} apart); check layers, "
                    f"hidden/intermediate sizes, heads and experts"
                )
        return self

    # --- parameter counts (elements) -------------------------------------------------------------------------

    @cached_property
    def attention_params_per_layer(self) -> float:
        """Q, K, V, O projections (and low-rank MLA factors with their norms), elements per layer."""
        a, h = self.attention, self.hidden_size
        if isinstance(a, GQAttention):
            q, kv = a.heads * a.head_dim, a.kv_heads * a.head_dim
            bias = (q + 2 * kv) if a.qkv_bias else 0
            return h * q + 2 * h * kv + q * h + bias
        qk_head = a.qk_nope_head_dim + a.qk_rope_head_dim
        if a.q_lora_rank:
            q_proj = h * a.q_lora_rank + a.q_lora_rank + a.q_lora_rank * a.heads * qk_head
        else:
            q_proj = h * a.heads * qk_head
        kv_proj = (
            h * (a.kv_lora_rank + a.qk_rope_head_dim)
            + a.kv_lora_rank
            + a.kv_lora_rank * a.heads * (a.qk_nope_head_dim + a.v_head_dim)
        )
        return q_proj + kv_proj + a.heads * a.v_head_dim * h

    @cached_property
    def expert_params(self) -> float:
        """Elements of one routed expert (gated FFN: gate, up, down); 0 for a dense model."""
        return 3.0 * self.hidden_size * self.moe.expert_intermediate_size if self.moe else 0.0

    @cached_property
    def moe_layers(self) -> int:
        return self.layers - self.moe.first_dense_layers if self.moe else 0

    @cached_property
    def routed_expert_params(self) -> float:
        """All routed experts of all MoE layers, elements."""
        return self.moe_layers * self.moe.experts * self.expert_params if self.moe else 0.0

    @cached_property
    def embedding_params(self) -> float:
        return float(self.vocab_size * self.hidden_size)

    @cached_property
    def total_params(self) -> float:
        """Every weight, elements: embeddings, attention, FFN / experts (+ shared experts, routers), norms."""
        h = self.hidden_size
        dense_ffn = 3.0 * h * self.intermediate_size
        per_layer = self.attention_params_per_layer + 2 * h
        total = self.layers * per_layer + h + self.embedding_params * (1 if self.tie_word_embeddings else 2)
        if self.moe:
            moe = self.moe
            dense_layers = moe.first_dense_layers
            total += dense_layers * dense_ffn
            total += self.moe_layers * (h * moe.experts + moe.shared_experts * self.expert_params)
            total += self.routed_expert_params
        else:
            total += self.layers * dense_ffn
        return total

    @cached_property
    def always_read_params(self) -> float:
        """Weights every decode step reads whatever the routing: all but the routed experts, elements."""
        return self.total_params - self.routed_expert_params

    @cached_property
    def active_params(self) -> float:
        """Weights one token touches: the always-read part plus k routed experts per MoE layer, elements."""
        k = self.moe.experts_per_token if self.moe else 0
        return self.always_read_params + self.moe_layers * k * self.expert_params

    @cached_property
    def matmul_params(self) -> float:
        """Active weights that do a multiply-add per token: the input embedding is a lookup, not a matmul
        (with tied embeddings the one table serves as the LM head and counts once)."""
        return self.active_params - (0.0 if self.tie_word_embeddings else self.embedding_params)

    # --- attention shapes ------------------------------------------------------------------------------------

    @cached_property
    def kv_elements_per_token_per_layer(self) -> float:
        """Cached values per token per layer: GQA 2·kv_heads·head_dim; MLA kv_lora_rank + qk_rope_head_dim."""
        a = self.attention
        if isinstance(a, GQAttention):
            return 2.0 * a.kv_heads * a.head_dim
        return float(a.kv_lora_rank + a.qk_rope_head_dim)

    @cached_property
    def kv_shards_max(self) -> int:
        """Most GPUs the KV cache splits across under tensor parallelism: GQA by KV head; the MLA latent is not
        split by head, so every tensor-parallel rank holds all of it."""
        return self.attention.kv_heads if isinstance(self.attention, GQAttention) else 1

    @cached_property
    def decode_attention_dims(self) -> tuple[int, int]:
        """(query·key width, value width) per head in decode. MLA decode runs absorbed, over the latent."""
        a = self.attention
        if isinstance(a, GQAttention):
            return a.head_dim, a.head_dim
        return a.kv_lora_rank + a.qk_rope_head_dim, a.kv_lora_rank

    @cached_property
    def prefill_attention_dims(self) -> tuple[int, int]:
        """(query·key width, value width) per head in prefill. MLA prefill runs on decompressed heads."""
        a = self.attention
        if isinstance(a, GQAttention):
            return a.head_dim, a.head_dim
        return a.qk_nope_head_dim + a.qk_rope_head_dim, a.v_head_dim

    @cached_property
    def window_layers(self) -> int:
        return self.sliding_window.layers if self.sliding_window else 0

    @cached_property
    def window_tokens(self) -> int:
        return self.sliding_window.tokens if self.sliding_window else 0


# ------------------------------------------------------------------------------------------------------ the lookup


_DTYPE_SET = frozenset(DTYPES)


def check_dtype(dtype: object, what: str = "dtype") -> str:
    """The canonical dtype for ``dtype`` (case-insensitive), or a ``PlannerError`` naming the valid ones."""
    if dtype in _DTYPE_SET:
        return dtype  # type: ignore[return-value]
    if isinstance(dtype, str):
        text = dtype.strip().lower()
        text = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "fp32", "float8": "fp8"}.get(
            text, text
        )
        if text in DTYPES:
            return text
    raise PlannerError(f"unknown {what} {short(dtype)}; valid: {', '.join(DTYPES)}")


def dtype_bytes(dtype: str) -> float:
    """Bytes per element of ``dtype``."""
    return BYTES_PER_ELEMENT[check_dtype(dtype)]


_SUFFIXES = re.compile(r"(-(instruct|chat|hf|base|it|fp8|bf16|v0\.1))+$")


def _key(text: str) -> str:
    return re.sub(r"[\s_]+", "-", text.strip().lower())


class Catalogue:
    """Accelerators and models by id, with case-insensitive alias lookup."""

    def __init__(
        self,
        accelerators: Iterable[Accelerator],
        models: Iterable[Model],
        families: Mapping[str, Family] | None = None,
        efficiency_overrides: Iterable[EfficiencyTable] = (),
    ):
        self.families: dict[str, Family] = dict(families or {})
        self.efficiency_overrides: tuple[EfficiencyTable, ...] = tuple(efficiency_overrides)
        self._efficiency_cache: dict[tuple[str, str], Efficiency] = {}
        self._found: dict[tuple[str, str], Any] = {}
        self.user_ids: dict[str, list[str]] = {}
        self.accelerators: dict[str, Accelerator] = {}
        self.models: dict[str, Model] = {}
        for acc in accelerators:
            self._check_ridge(acc)
            self.accelerators[acc.id] = acc
        for model in models:
            self.models[model.id] = model
        self._acc_index = self._index(self.accelerators.values())
        self._model_index = self._index(self.models.values())

    @staticmethod
    def _index(entries: Iterable[Accelerator | Model]) -> dict[str, str]:
        index: dict[str, str] = {}
        for entry in entries:
            names = [*entry.aliases, getattr(entry, "hf_repo", ""), getattr(entry, "name", "")]
            for name in names:
                if name:
                    index.setdefault(_key(name), entry.id)
        for entry in entries:  # ids win over aliases
            index[_key(entry.id)] = entry.id
        return index

    def _check_ridge(self, acc: Accelerator) -> None:
        family = self.families.get(acc.family)
        if family is None:
            return
        low, high = family.bf16_ridge_range
        ridge = acc.ridge("bf16")
        if not low <= ridge <= high:
            raise PlannerError(
                f"accelerator {acc.id!r}: dense bf16 ridge {ridge:.0f} FLOP/byte is outside the {acc.family} range "
                f"{low:g}-{high:g}; a sparse peak entered as dense doubles it, bandwidth in GB/s instead of TB/s "
                f"multiplies it by 1000"
            )

    def _find(self, kind: str, ident: object, index: dict[str, str], entries: Mapping[str, Any]) -> Any:
        found = self._found.get((kind, ident)) if isinstance(ident, str) else None
        if found is not None:
            return found
        if not isinstance(ident, str) or not ident.strip():
            raise PlannerError(f"{kind} must be a catalogue id (text), got {ident!r}; e.g. {next(iter(entries))!r}")
        key = _key(ident)
        candidates = [key]
        if "/" in key:
            candidates.append(key.split("/", 1)[1])
        candidates += [_SUFFIXES.sub("", c) for c in candidates]
        for candidate in candidates:
            if candidate in index:
                entry = entries[index[candidate]]
                if len(self._found) < 10_000:
                    self._found[(kind, ident)] = entry
                return entry
        err = unknown(kind, ident, list(entries))
        added = self.user_ids.get(kind)
        if added:
            err = PlannerError(f"{err}; your catalogue files add the {kind} ids {', '.join(added[:SHOWN])}")
        raise err

    def accelerator(self, ident: object) -> Accelerator:
        """The accelerator with id or alias ``ident`` (case-insensitive)."""
        return self._find("accelerator", ident, self._acc_index, self.accelerators)

    def model(self, ident: object) -> Model:
        """The model with id, alias or Hugging Face repo id ``ident`` (case-insensitive)."""
        return self._find("model", ident, self._model_index, self.models)

    def merged(self, other: Catalogue) -> Catalogue:
        """A catalogue with ``other``'s entries added (replacing same-id entries); ``user_ids`` remembers them, so an
        unknown-id message can name what the user's files added (a config.json model's id is derived, not typed)."""
        families = {**self.families, **other.families}
        accs = {**self.accelerators, **other.accelerators}
        models = {**self.models, **other.models}
        out = Catalogue(accs.values(), models.values(), families,
                        self.efficiency_overrides + other.efficiency_overrides)
        out.user_ids = {**self.user_ids, **{k: sorted({*self.user_ids.get(k, []), *ids}) for k, ids in
                                             (("accelerator", other.accelerators), ("model", other.models))}}
        return out

    def efficiency(self, accelerator_id: str, engine: object = None) -> Efficiency:
        """Expected-time efficiencies of ``accelerator_id`` on ``engine`` (see ``planner.efficiency``)."""
        key = (accelerator_id, check_engine(engine))
        if key not in self._efficiency_cache:
            self._efficiency_cache[key] = build_efficiency(key[0], key[1], self.efficiency_overrides)
        return self._efficiency_cache[key]


# ------------------------------------------------------------------------------------------------------ loading


def _describe(exc: ValidationError, where: str) -> PlannerError:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "missing":
            parts.append(f"{loc}: required")
            continue
        parts.append((f"{loc}: " if loc else "") + msg
                     + (f" (got {short(err['input'])})" if err["type"] != "value_error" else ""))
    return PlannerError(f"{where}: " + "; ".join(parts))


def _read_structured(path: Path) -> Any:
    text = files.read_text(path, "catalogue", "a YAML or JSON catalogue file (or a model's config.json)",
                           MAX_CATALOGUE_BYTES)
    if path.suffix.lower() != ".json":
        return yamlsafe.load(text, f"catalogue file {str(path)!r}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlannerError(f"catalogue file {str(path)!r} is not valid JSON: {exc}") from None
    except RecursionError:
        raise PlannerError(f"catalogue file {str(path)!r} is nested too deeply") from None
    except ValueError:  # an integer of thousands of digits
        raise PlannerError(f"catalogue file {str(path)!r} is not valid JSON: a number has thousands of digits"
                           ) from None


def _entries(data: Mapping[str, Any], key: str, kind: type[_T], where: str) -> list[_T]:
    """The ``key`` list of a catalogue mapping, each entry validated as ``kind``; errors name the entry."""
    entries = data.get(key) or []
    if not isinstance(entries, list):
        raise PlannerError(f"{where}: {key} must be a list of entries (- id: ...), got {short(entries)}")
    out = []
    for i, entry in enumerate(entries):
        ident = entry.get("id") if isinstance(entry, Mapping) else None
        try:
            out.append(kind.model_validate(entry))
        except ValidationError as exc:
            raise _describe(exc, f"{where}: {key}[{i}]" + (f" ({short(ident)})" if ident else "")) from None
    return out


def catalogue_from_data(data: Any, where: str = "catalogue") -> Catalogue:
    """A catalogue from parsed YAML/JSON: a mapping with optional ``families``, ``accelerators``, ``models``.

    A Hugging Face ``config.json`` (it has ``num_hidden_layers``) is read as one model.
    """
    if isinstance(data, Mapping) and "num_hidden_layers" in data:
        try:
            return Catalogue([], [model_from_hf_config(data)])
        except PlannerError as exc:
            raise PlannerError(f"{where}: {exc}") from None
    if not isinstance(data, Mapping):
        raise PlannerError(f"{where}: expected a mapping with 'accelerators' and/or 'models' lists, "
                           f"got {type(data).__name__}")
    extra = set(data) - {"families", "accelerators", "models", "efficiency"}
    if extra:
        raise PlannerError(f"{where}: unknown top-level keys {sorted(extra)}; expected families, accelerators, "
                           f"models, efficiency")
    families_data = data.get("families") or {}
    if not isinstance(families_data, Mapping):
        raise PlannerError(f"{where}: families must be a mapping of family name: ranges, got {short(families_data)}")
    try:
        families = {k: Family.model_validate(v) for k, v in families_data.items()}
    except ValidationError as exc:
        raise _describe(exc, f"{where}: families") from None
    accs = _entries(data, "accelerators", Accelerator, where)
    models = _entries(data, "models", Model, where)
    overrides = (efficiency_table_from_data(data["efficiency"], where),) if data.get("efficiency") else ()
    return Catalogue(accs, models, families, overrides)


def load_catalogue_file(path: str | os.PathLike[str]) -> Catalogue:
    """A user catalogue (YAML/JSON, same shape as the package files) or a model's ``config.json``."""
    p = Path(path)
    return catalogue_from_data(_read_structured(p), where=str(p))


TIED_BY_DEFAULT_TYPES = frozenset({"gemma", "gemma2", "gemma3_text"})
"""config.json model types whose transformers config class defaults tie_word_embeddings to true (Gemma2Config)."""

ALTERNATING_WINDOW_TYPES = frozenset({"gemma2"})
"""config.json model types whose layers alternate sliding-window (local) and global attention, half each."""


def _first(config: Mapping[str, Any], *keys: str) -> Any:
    """``config[keys[0]] or config[keys[1]] or ...``; a ``KeyError`` naming the first key when all are absent."""
    for key in keys:
        if config.get(key):
            return config[key]
    if all(config.get(key) is None for key in keys):
        raise KeyError(keys[0])
    return config.get(keys[-1])


def model_from_hf_config(config: Mapping[str, Any], model_id: str | None = None) -> Model:
    """A catalogue model from a Hugging Face ``config.json`` mapping (Llama/Mistral/Qwen/Mixtral/DeepSeek/gpt-oss/
    Gemma-style keys). ``head_dim`` is read when present, never assumed to be hidden/heads unless absent."""
    c = dict(config)
    try:
        name = str(c.get("_name_or_path") or model_id or c.get("model_type") or "user-model")
        ident = model_id or _key(name.split("/")[-1])
        heads = int(c["num_attention_heads"])
        hidden = int(c["hidden_size"])
        attention: dict[str, Any]
        if c.get("kv_lora_rank"):
            attention = {
                "kind": "mla",
                "heads": heads,
                "q_lora_rank": c.get("q_lora_rank"),
                "kv_lora_rank": int(c["kv_lora_rank"]),
                "qk_nope_head_dim": int(c["qk_nope_head_dim"]),
                "qk_rope_head_dim": int(c["qk_rope_head_dim"]),
                "v_head_dim": int(c["v_head_dim"]),
            }
        else:
            attention = {
                "kind": "gqa",
                "heads": heads,
                "kv_heads": int(c.get("num_key_value_heads") or heads),
                "head_dim": int(c.get("head_dim") or hidden // heads),
                "qkv_bias": bool(c.get("attention_bias") or c.get("qkv_bias") or c.get("model_type") == "qwen2"),
            }
        experts = c.get("n_routed_experts") or c.get("num_local_experts") or c.get("num_experts")
        moe = None
        if experts:
            moe = {
                "experts": int(experts),
                "experts_per_token": int(_first(c, "num_experts_per_tok", "experts_per_token")),
                "shared_experts": int(c.get("n_shared_experts") or 0),
                "expert_intermediate_size": int(c.get("moe_intermediate_size") or c["intermediate_size"]),
                "first_dense_layers": int(c.get("first_k_dense_replace") or 0),
            }
        layers = int(c["num_hidden_layers"])
        window = None
        if c.get("sliding_window") and c.get("use_sliding_window", True):
            types = c.get("layer_types")
            if isinstance(types, list):
                count = sum(1 for t in types if "sliding" in str(t))
            elif str(c.get("model_type")) in ALTERNATING_WINDOW_TYPES:
                count = layers // 2  # Gemma-2: local (sliding) and global layers alternate
            else:
                count = layers
            if count:
                window = {"tokens": int(c["sliding_window"]), "layers": count}
        data = {
            "id": ident,
            "name": name,
            "hf_repo": name if "/" in name else "",
            "layers": layers,
            "hidden_size": hidden,
            "vocab_size": int(c["vocab_size"]),
            "tie_word_embeddings": bool(c.get("tie_word_embeddings",
                                              str(c.get("model_type")) in TIED_BY_DEFAULT_TYPES)),
            "attention": attention,
            "intermediate_size": int(_first(c, "intermediate_size", "moe_intermediate_size")),
            "moe": moe,
            "sliding_window": window,
            "max_context_tokens": c.get("max_position_embeddings"),
            "source": "config.json supplied by the user",
        }
    except KeyError as exc:
        raise PlannerError(f"config.json is missing {exc.args[0]!r}, which whichwall needs to size the model") from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise PlannerError(f"config.json has a field of the wrong type: {exc}; sizes are whole numbers") from None
    try:
        return Model.model_validate(data)
    except ValidationError as exc:
        raise _describe(exc, "config.json") from None


@lru_cache(maxsize=1)
def builtin_catalogue() -> Catalogue:
    """The catalogue shipped in ``planner/data``."""
    data_dir = resources.files("planner") / "data"
    acc = yaml.safe_load((data_dir / "accelerators.yaml").read_text(encoding="utf-8"))
    models = yaml.safe_load((data_dir / "models.yaml").read_text(encoding="utf-8"))
    return catalogue_from_data({**acc, **models}, where="planner/data")


_user_cache: dict[tuple[str, ...], tuple[tuple[float, ...], Catalogue]] = {}


def user_catalogue_paths() -> list[str]:
    """Paths named by ``$WHICHWALL_CATALOGUE``."""
    raw = os.environ.get(CATALOGUE_ENV, "")
    return [p for p in raw.split(os.pathsep) if p.strip()]


def get_catalogue(extra: Iterable[str | os.PathLike[str]] = ()) -> Catalogue:
    """The built-in catalogue plus user files (``$WHICHWALL_CATALOGUE``, then ``extra``), cached by file mtime."""
    if not extra and not os.environ.get(CATALOGUE_ENV):  # the common case, kept cheap for Excel's scalar calls
        return builtin_catalogue()
    paths = tuple(str(p) for p in (*user_catalogue_paths(), *extra))
    if not paths:
        return builtin_catalogue()
    try:
        stamps = tuple(os.stat(p).st_mtime for p in paths)
    except OSError as exc:
        raise PlannerError(f"cannot read catalogue file {exc.filename!r}: {exc.strerror}") from None
    cached = _user_cache.get(paths)
    if cached and cached[0] == stamps:
        return cached[1]
    cat = builtin_catalogue()
    for p in paths:
        cat = cat.merged(load_catalogue_file(p))
    _user_cache[paths] = (stamps, cat)
    return cat


def accelerator(ident: object) -> Accelerator:
    """Look up an accelerator in the active catalogue."""
    return get_catalogue().accelerator(ident)


def model(ident: object) -> Model:
    """Look up a model in the active catalogue."""
    return get_catalogue().model(ident)
