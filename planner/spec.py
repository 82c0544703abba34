"""Requirements: the plan spec a planner writes (YAML), validated with errors that name the field."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner import files, yamlsafe
from planner.catalogue import check_dtype
from planner.efficiency import check_engine
from planner.errors import PlannerError, short
from planner.validate import MAX_SIZE

MAX_SPEC_BYTES = 1_000_000
"""A spec file is a few hundred bytes; anything over a megabyte is refused before it is parsed."""

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
"""Characters no spreadsheet cell (XML 1.0) can hold; tab, newline and carriage return are fine."""

MIN_POSITIVE = 1e-6
"""Smallest traffic, SLO, budget or price a spec accepts (one request in 11 days, a millionth of a dollar): below it
the ratios a plan prints (cost ÷ budget, cost per token) run to hundreds of digits or overflow."""
MAX_TOKENS = 10_000_000
"""Most prompt or output tokens per request a spec accepts."""
MAX_BATCH = 10_000_000
"""Largest ``max_batch`` (sequences a replica runs at once) a spec accepts."""

Positive = Annotated[float, Field(ge=MIN_POSITIVE, le=MAX_SIZE, allow_inf_nan=False)]
Tokens = Annotated[int, Field(gt=0, le=MAX_TOKENS)]


class PlanSpec(BaseModel):
    """One serving plan: the model, the hardware, the traffic, the SLOs and the budget.

    ``tp``, ``pp`` (pipeline stages) and ``ep`` (expert parallelism, MoE: 1 or tp) left out are chosen with the
    batch: the cheapest layout that meets the SLOs (``planner.plan``).
    ``engine`` (trtllm, vllm, sglang; default any) picks that serving engine's fitted behaviour and its default cap
    on the sequences a replica runs at once (``serving.yaml``'s ``engine_batch_caps``: vLLM 1024, 256 on GPUs under
    70 GiB and A100s; TensorRT-LLM 2048); ``max_batch`` sets that cap (vLLM ``--max-num-seqs``, TensorRT-LLM
    ``max_batch_size``).
    ``usd_per_gpu_hour`` overrides the catalogue price; ``accelerators``/``dtypes`` are candidates for the search.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(default="plan", max_length=200)
    model: str = Field(min_length=1, max_length=200)
    accelerator: str = Field(min_length=1, max_length=200)
    dtype: str = "bf16"
    kv_dtype: str = "bf16"
    engine: str = "any"
    tp: Annotated[int, Field(ge=1, le=64)] | None = None
    pp: Annotated[int, Field(ge=1, le=64)] | None = None
    ep: Annotated[int, Field(ge=1, le=64)] | None = None
    max_batch: Annotated[int, Field(ge=1, le=MAX_BATCH)] | None = None
    qps: Positive
    input_tokens: Tokens
    output_tokens: Tokens
    ttft_slo_ms: Positive
    tpot_slo_ms: Positive
    budget_usd_month: Positive | None = None
    usd_per_gpu_hour: Positive | None = None
    accelerators: list[str] = []
    dtypes: list[str] = []
    notes: str = Field(default="", max_length=10_000)

    @field_validator("name", "notes")
    @classmethod
    def _printable(cls, value: str) -> str:
        bad = CONTROL_CHARACTERS.search(value)
        if bad:
            raise ValueError(f"contains the control character {bad.group()!r} at position {bad.start() + 1}, which "
                             f"a workbook cell cannot hold; use printable text (tabs and newlines are fine)")
        return value

    @field_validator("dtype", "kv_dtype")
    @classmethod
    def _dtype(cls, value: Any) -> str:
        return check_dtype(value)

    @field_validator("engine", mode="before")
    @classmethod
    def _engine(cls, value: Any) -> str:
        return check_engine(value)

    @field_validator("tp", "pp", "ep", mode="before")
    @classmethod
    def _auto(cls, value: Any) -> Any:
        """``auto`` (any case, as a plan workbook and the CLI's output write it) is the same as leaving it out."""
        return None if isinstance(value, str) and value.strip().lower() == "auto" else value

    @field_validator("dtypes")
    @classmethod
    def _dtypes(cls, value: list[Any]) -> list[str]:
        return [check_dtype(v) for v in value]

    @field_validator("qps", "ttft_slo_ms", "tpot_slo_ms", "budget_usd_month", "usd_per_gpu_hour",
                     "input_tokens", "output_tokens", "tp", "pp", "ep", "max_batch", mode="before")
    @classmethod
    def _no_bool(cls, value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError("must be a number, not true/false")
        return value

    def to_yaml(self) -> str:
        """The spec as YAML, fields in declaration order, unset optional fields left out."""
        data = self.model_dump(exclude_defaults=True)
        data = {"name": self.name, **data}
        return yaml.safe_dump(data, sort_keys=False)


def _field_errors(exc: ValidationError, where: str) -> PlannerError:
    lines = []
    for err in exc.errors()[:8]:
        field = ".".join(str(p) for p in err["loc"]) or "(spec)"
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            known = ", ".join(PlanSpec.model_fields)
            lines.append(f"{field}: unknown field; valid fields: {known}")
        elif err["type"] == "missing":
            lines.append(f"{field}: required")
        else:
            lines.append(f"{field}: {msg} (got {short(err.get('input'))})")
    return PlannerError(f"{where}: " + "; ".join(lines))


def spec_from_data(data: Any, where: str = "spec") -> PlanSpec:
    """A validated spec from parsed YAML/JSON data."""
    if data is None:
        raise PlannerError(f"{where} is empty; a spec needs at least model, accelerator, qps, input_tokens, "
                           f"output_tokens, ttft_slo_ms and tpot_slo_ms")
    if not isinstance(data, dict):
        raise PlannerError(f"{where} must be a mapping of field: value, got {type(data).__name__}")
    try:
        return PlanSpec.model_validate(data)
    except ValidationError as exc:
        raise _field_errors(exc, where) from None


def parse_spec_text(text: str, where: str = "spec") -> PlanSpec:
    """A spec from YAML text."""
    if len(text) > MAX_SPEC_BYTES:
        raise PlannerError(f"{where} is {len(text)} bytes; a spec is at most {MAX_SPEC_BYTES} bytes")
    return spec_from_data(yamlsafe.load(text, where), where)


def load_spec(path: str | Path) -> PlanSpec:
    """A spec from a YAML file."""
    p = Path(path)
    text = files.read_text(p, "spec", "a YAML spec file", MAX_SPEC_BYTES)
    return parse_spec_text(text, where=str(p))


def default_spec_text() -> str:
    return (resources.files("planner") / "data" / "default-plan.yaml").read_text(encoding="utf-8")


def default_spec() -> PlanSpec:
    """The embedded default plan (a 70B chat service)."""
    return parse_spec_text(default_spec_text(), where="default plan")
