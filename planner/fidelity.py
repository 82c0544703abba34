"""Fidelity: compare expected times with measured serving-engine rows, and fit the efficiencies from them.

Measured rows use the columns of ``../shared/data/silicon.csv`` (model_path, system, backend, precision, tp_size,
attention_dp_size, moe_tp_size, moe_ep_size, pp_size, isl, osl, concurrency, silicon_ttft_ms, silicon_tpot_ms) or the
short names model, accelerator (or gpu/system), engine, dtype, tp, isl, osl, concurrency, ttft_ms, tpot_ms.

Prediction for a row (``planner.serving``): the replica has G = tp·dp GPUs; its decode batch is
B = min(concurrency, largest batch that fits); TPOT = decode step(B, input + output/2 context) + B / output · prefill;
TTFT = prefill + step + queueing. The floor of a row is the decode-step floor at the batch the measurement implies
(Little's law on the measured TTFT/TPOT: B · output·TPOT / (TTFT + output·TPOT)), with the KV cache spread over every
GPU, so a floor above a measurement is a real contradiction, not a batching or sharding artefact.

Scope: one replica inside one scale-up domain with tensor parallelism (attention data-parallel or multi-node rows,
and rows whose weights cannot fit, are counted and set aside with the reason). Calibration fits the bandwidth
and compute fractions per silicon family, the per-collective latency, per-sequence overhead and expert fractions
shared, and per engine the per-layer overhead, the request overhead and the prefill burst coefficient, by robust
least squares on log errors (``fit``).
"""

from __future__ import annotations

import csv
import io
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from planner import files
from planner.catalogue import Catalogue, check_dtype, get_catalogue
from planner.efficiency import (
    Efficiency,
    check_engine,
    compute_ratio,
    default_efficiency,
    engine_max_sequences,
    engine_token_budget,
)
from planner.errors import PlannerError
from planner.evaluator import expert_exchange_s
from planner.roofline import (
    StepInputs,
    batched_prefill_inputs,
    compute_fractions,
    decode_inputs,
    decode_step,
    kv_shards,
    prefill_inputs,
    prefill_step,
    step_time,
)
from planner.serving import aggregated_times, prompts_per_iteration, slot_wait
from planner.topology import max_batch
from planner.units import DTYPES, MS_PER_S, US_PER_S
from planner.validate import table_number

MAX_MEASUREMENT_BYTES = 50_000_000
ODD_CONCURRENCY = ("512",)
"""../shared/data/README.md flags silicon.csv's concurrency-512 rows as odd (overloaded runs whose TTFT reaches tens
of seconds and whose TPOT undercuts the weight-read floor); they are set aside and counted."""

UNEVEN_TP = "tensor parallelism that does not split the attention heads evenly (no engine runs it as stated)"
"""Engines split attention heads evenly over tensor parallelism (whichwall's own choices are powers of two). The
GB200 rows of silicon.csv recorded as tp 12, 20, 24, 28, 36, ... with DeepSeek's 128 heads are some other layout
(disaggregated or wide expert-parallel runs counted as tp) and are set aside, counted."""

_ALIASES = {
    "model": ("model_path", "model"),
    "accelerator": ("system", "accelerator", "gpu"),
    "engine": ("backend", "engine"),
    "dtype": ("precision", "dtype"),
    "tp": ("tp_size", "tp"),
    "dp": ("attention_dp_size", "dp"),
    "moe_tp": ("moe_tp_size", "moe_tp"),
    "ep": ("moe_ep_size", "ep"),
    "pp": ("pp_size", "pp"),
    "isl": ("isl", "input_tokens"),
    "osl": ("osl", "output_tokens"),
    "concurrency": ("concurrency",),
    "ttft_ms": ("silicon_ttft_ms", "ttft_ms"),
    "tpot_ms": ("silicon_tpot_ms", "tpot_ms"),
}
REQUIRED = ("model", "accelerator", "isl", "osl", "concurrency", "ttft_ms", "tpot_ms")
COUNTS = ("isl", "osl", "concurrency")
"""Columns that count tokens or requests: at least 1."""
@dataclass(frozen=True)
class Row:
    """One measured configuration, resolved against the catalogue."""

    model: str
    accelerator: str
    engine: str
    dtype: str
    kv_dtype: str
    gpus: int
    expert_parallel: int
    isl: float
    osl: float
    concurrency: float
    ttft_ms: float
    tpot_ms: float


@dataclass
class Loaded:
    rows: list[Row]
    skipped: Counter[str] = field(default_factory=Counter)


def _get(record: dict[str, str], key: str) -> str:
    for name in _ALIASES[key]:
        if name in record and record[name] is not None:
            return record[name].strip()
    return ""


def _number(record: dict[str, str], key: str, where: str, default: float | None = None, whole: bool = False
            ) -> float:
    """A positive number (a whole number of GPUs when ``whole``; at least 1 for ``COUNTS``) from ``key``'s column."""
    return table_number(_get(record, key), key, where, default, gpus=whole, count=key in COUNTS)


def load_measurements(path: str | Path, catalogue: Catalogue | None = None) -> Loaded:
    """Measured rows from a CSV file; rows outside whichwall's scope are counted in ``skipped`` by reason."""
    p = Path(path)
    # "CSV UTF-8" from Excel starts with a byte-order mark: utf-8-sig drops it
    text = files.read_text(p, "measurements", "a CSV file of measured rows", MAX_MEASUREMENT_BYTES, "utf-8-sig")
    return parse_measurements(text, str(p), catalogue)


def parse_measurements(text: str, where: str = "measurements", catalogue: Catalogue | None = None) -> Loaded:
    try:
        return _parse(text, where, catalogue)
    except csv.Error as exc:  # a field over csv.field_size_limit(), a malformed quote...
        raise PlannerError(f"{where}: not a CSV table whichwall can read ({exc}); expected one measured row per "
                           f"line, comma-separated, with a header row") from None


def _parse(text: str, where: str, catalogue: Catalogue | None) -> Loaded:
    cat = catalogue or get_catalogue()
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [k for k in REQUIRED if not any(a in header for a in _ALIASES[k])]
    if missing:
        raise PlannerError(f"{where}: missing columns {missing}; expected silicon.csv columns (model_path, system, "
                           f"isl, osl, concurrency, silicon_ttft_ms, silicon_tpot_ms, ...) or short names "
                           f"(model, accelerator, isl, osl, concurrency, ttft_ms, tpot_ms)")
    out = Loaded([])
    for i, record in enumerate(reader, start=2):
        here = f"{where}:{i}"
        if not _get(record, "tpot_ms") or not _get(record, "concurrency") or not _get(record, "ttft_ms"):
            out.skipped["incomplete row"] += 1
            continue
        if _get(record, "concurrency") in ODD_CONCURRENCY:
            out.skipped["concurrency 512 (flagged odd by the data's README)"] += 1
            continue
        try:
            model = cat.model(_get(record, "model"))
        except PlannerError:
            out.skipped[f"model not in catalogue: {_get(record, 'model')}"] += 1
            continue
        try:
            acc = cat.accelerator(_get(record, "accelerator"))
        except PlannerError:
            out.skipped[f"accelerator not in catalogue: {_get(record, 'accelerator')}"] += 1
            continue
        try:
            dtype = check_dtype(_get(record, "dtype") or "bf16")
            engine = check_engine(_get(record, "engine") or "any")
        except PlannerError as exc:
            raise PlannerError(f"{here}: {exc}") from None
        tp = int(_number(record, "tp", here, 1, whole=True))
        dp = int(_number(record, "dp", here, 1, whole=True))
        pp = int(_number(record, "pp", here, 1, whole=True))
        moe = int(_number(record, "moe_tp", here, 1, whole=True)) * int(_number(record, "ep", here, 1, whole=True))
        gpus = max(tp * dp, moe)
        if dp > 1 or gpus > tp:
            out.skipped["attention data-parallel (not modelled)"] += 1
            continue
        if pp > 1:
            out.skipped["pipeline parallel (not modelled)"] += 1
            continue
        domain = acc.scaleup.domain if acc.scaleup else 1
        if gpus > domain:
            out.skipped["spans hosts (tensor parallelism across hosts is not modelled)"] += 1
            continue
        if model.attention.heads % tp:
            out.skipped[UNEVEN_TP] += 1
            continue
        kv_dtype = "fp8" if dtype in ("fp8", "fp4") else "bf16"
        isl, osl = _number(record, "isl", here), _number(record, "osl", here)
        if max_batch(model, acc, isl + osl, dtype, gpus, kv_dtype).item() < 1:
            out.skipped["weights do not fit the stated GPUs"] += 1
            continue
        ep = int(_number(record, "ep", here, 1, whole=True))
        out.rows.append(Row(model.id, acc.id, engine, dtype, kv_dtype, gpus, ep,
                            isl, osl, _number(record, "concurrency", here), _number(record, "ttft_ms", here),
                            _number(record, "tpot_ms", here)))
    if not out.rows:
        raise PlannerError(f"{where}: no row whichwall can model ({dict(out.skipped) or 'the table is empty'})")
    return out


@dataclass(frozen=True)
class Prepared:
    """Per-row quantities that do not depend on the efficiencies (arrays over rows): the step inputs of the decode
    step and the prefill (``roofline.decode_inputs`` / ``prefill_inputs``, the one implementation every face uses),
    the catalogue rates, and the floors."""

    rows: list[Row]
    batch: np.ndarray
    decode: dict[str, np.ndarray]
    prefill: dict[str, np.ndarray]
    rates: dict[str, np.ndarray]


INPUTS = tuple(StepInputs.__dataclass_fields__)
"""The extensive step inputs ``prepare`` keeps per row (``roofline.StepInputs``' fields)."""
TOGETHER = "together_"
"""Prefix of the prefill inputs of the k prompts one iteration prefills together at the row's batch
(``serving.prompts_per_iteration``, ``roofline.batched_prefill_inputs``)."""


def prepare(rows: Sequence[Row], catalogue: Catalogue | None = None) -> Prepared:
    """The step inputs and rates of ``rows``: each row decodes min(concurrency, largest batch that fits) sequences
    at the average context (input + output / 2) and prefills one prompt; the floors are the strict ones at the
    batch the measurement implies (``floors``)."""
    cat = catalogue or get_catalogue()
    n = len(rows)
    batch = np.empty(n)
    decode = {k: np.empty(n) for k in (*INPUTS, "kv_split", "layers", "hidden", "moe_layers", "experts_per_token")}
    prefill = {k: np.empty(n) for k in (*INPUTS, *(TOGETHER + k for k in INPUTS), "k")}
    rates = {k: np.empty(n) for k in ("bandwidth", "peak", "attention_peak", "link", "pcie", "tp", "ep", "ratio",
                                      "attention_ratio", "osl", "concurrency", "decode_floor_ms", "prefill_floor_ms",
                                      "k_max")}
    for i, r in enumerate(rows):
        model, acc = cat.model(r.model), cat.accelerator(r.accelerator)
        fit = int(max_batch(model, acc, r.isl + r.osl, r.dtype, r.gpus, r.kv_dtype).item())
        b = float(min(r.concurrency, fit, engine_max_sequences(r.engine, acc.id, acc.memory_bytes)))
        context = r.isl + r.osl / 2
        batch[i] = b
        ep = float(r.expert_parallel) if model.moe else 1.0
        step = decode_inputs(model, b, context, r.dtype, r.kv_dtype, ep=ep)
        first = prefill_inputs(model, r.isl, r.dtype, r.kv_dtype, ep=ep)
        rates["k_max"][i] = engine_token_budget(r.engine, acc.id, acc.memory_bytes) / r.isl
        prefill["k"][i] = float(prompts_per_iteration(b, r.osl, rates["k_max"][i]))
        together = batched_prefill_inputs(model, r.isl, prefill["k"][i], r.dtype, r.kv_dtype, ep=ep)
        for k in INPUTS:
            decode[k][i] = float(getattr(step, k))
            prefill[k][i] = float(getattr(first, k))
            prefill[TOGETHER + k][i] = float(getattr(together, k))
        decode["kv_split"][i] = kv_shards(model, r.gpus)
        decode["layers"][i] = model.layers
        decode["hidden"][i] = model.hidden_size
        decode["moe_layers"][i] = model.moe_layers
        decode["experts_per_token"][i] = model.moe.experts_per_token if model.moe else 0.0
        link = acc.tp_link(r.gpus)
        rates["bandwidth"][i] = acc.bandwidth_bytes_per_s
        rates["peak"][i] = acc.peak_flops(r.dtype)
        rates["attention_peak"][i] = acc.peak_flops(r.kv_dtype)
        rates["link"][i] = link.bytes_per_s if link else np.inf
        rates["pcie"][i] = float(link is not None and link is not acc.scaleup)
        rates["tp"][i] = r.gpus
        rates["ep"][i] = ep
        family = acc.family or acc.id
        rates["ratio"][i] = compute_ratio(family, acc.compute_dtype(r.dtype))
        rates["attention_ratio"][i] = compute_ratio(family, acc.compute_dtype(r.kv_dtype))
        rates["osl"][i] = r.osl
        rates["concurrency"][i] = r.concurrency
        implied = max(1.0, math.floor(b * r.osl * r.tpot_ms / (r.ttft_ms + r.osl * r.tpot_ms)))
        rates["decode_floor_ms"][i] = float(decode_step(model, acc, r.dtype, implied, context, r.gpus,
                                                        r.kv_dtype).total_ms)
        rates["prefill_floor_ms"][i] = float(prefill_step(model, acc, r.isl, r.dtype, r.gpus, r.kv_dtype).total_ms)
    return Prepared(list(rows), batch, decode, prefill, rates)


FIELDS = ("bandwidth_fraction", "compute_fraction", "attention_compute_fraction", "prefill_compute_fraction",
          "prefill_attention_compute_fraction", "link_fraction", "latency_s", "layer_overhead_s",
          "sequence_overhead_s", "request_overhead_s", "burst_coefficient", "burst_exponent", "burst_output_exponent",
          "expert_bandwidth_fraction", "expert_compute_fraction", "prefill_expert_compute_fraction",
          "expert_overhead_s")
"""Per-row efficiency parameters ``predict`` takes (the ``Efficiency`` fields ``roofline.step_rates`` reads)."""

_PLAIN = ("layer_overhead_s", "sequence_overhead_s", "request_overhead_s", "burst_coefficient", "burst_exponent",
          "burst_output_exponent", "expert_bandwidth_fraction", "expert_compute_fraction", "expert_overhead_s")


def efficiency_arrays(effs: Sequence[Efficiency], prep: Prepared, catalogue: Catalogue | None = None
                      ) -> dict[str, np.ndarray]:
    """Per-row arrays of the efficiency parameters (``FIELDS``) from one ``Efficiency`` per row, each compute
    fraction at its compute dtype as ``roofline.compute_fractions`` takes it (weight-only formats at the 16-bit
    rate; attention at the KV dtype's)."""
    cat = catalogue or get_catalogue()
    out = {f: np.empty(len(effs)) for f in FIELDS}
    for i, (eff, row) in enumerate(zip(effs, prep.rows, strict=True)):
        acc = cat.accelerator(row.accelerator)
        out["bandwidth_fraction"][i] = eff.bandwidth_fraction
        out["compute_fraction"][i], out["attention_compute_fraction"][i] = compute_fractions(
            acc, row.dtype, row.kv_dtype, eff)
        out["prefill_compute_fraction"][i], out["prefill_attention_compute_fraction"][i] = compute_fractions(
            acc, row.dtype, row.kv_dtype, eff, prefill=True)
        out["link_fraction"][i] = eff.link_fraction
        out["latency_s"][i] = eff.pcie_latency_s if prep.rates["pcie"][i] else eff.scaleup_latency_s
        for name in _PLAIN:
            out[name][i] = getattr(eff, name)
        out["prefill_expert_compute_fraction"][i] = eff.prefill_expert_compute
    return out


def predict(prep: Prepared, e: dict[str, np.ndarray], with_slot_wait: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Expected (TPOT ms, TTFT ms) per row with per-row efficiency arrays ``e`` (``FIELDS``): ``roofline.step_time``
    of the prepared step inputs at the rates ``roofline.step_rates`` would give, ``serving.aggregated_times``, and
    (``with_slot_wait``) the wait for a free slot beyond the batch that fits (``evaluator.concurrency_times``)."""
    b = prep.batch
    d, pf, r = prep.decode, prep.prefill, prep.rates
    layers = d["layers"]
    common = dict(tp=r["tp"], kv_split=d["kv_split"], layers=layers, hidden_size=d["hidden"],
                  bandwidth=r["bandwidth"] * e["bandwidth_fraction"], link_bandwidth=r["link"] * e["link_fraction"],
                  collective_latency_s=e["latency_s"], step_overhead_s=layers * e["layer_overhead_s"],
                  sequence_overhead_s=layers * e["sequence_overhead_s"],
                  expert_bandwidth_fraction=e["expert_bandwidth_fraction"], expert_parallel=r["ep"],
                  expert_overhead_s=e["expert_overhead_s"])
    decode = step_time(**{k: d[k] for k in INPUTS}, expert_compute_fraction=e["expert_compute_fraction"],  # type: ignore[arg-type]
                       peak_flops=r["peak"] * e["compute_fraction"],
                       attention_peak_flops=r["attention_peak"] * e["attention_compute_fraction"], **common)
    prefill_rates = dict(expert_compute_fraction=e["prefill_expert_compute_fraction"],
                         peak_flops=r["peak"] * e["prefill_compute_fraction"],
                         attention_peak_flops=r["attention_peak"] * e["prefill_attention_compute_fraction"], **common)
    prefill = step_time(**{k: pf[k] for k in INPUTS}, **prefill_rates)  # type: ignore[arg-type]
    together = step_time(**{k: pf[TOGETHER + k] for k in INPUTS}, **prefill_rates)  # type: ignore[arg-type]

    def exchange(tokens: np.ndarray) -> np.ndarray:  # expert all-to-alls at ep > 1, as the evaluator adds them
        return expert_exchange_s(tokens, d["experts_per_token"], d["hidden"], d["moe_layers"], r["tp"], r["ep"],
                                 common["link_bandwidth"], e["latency_s"])

    isl, k = pf["tokens"], pf["k"]
    decode_s = decode.total_s + exchange(b)
    prefill_s = prefill.total_s + exchange(isl)
    # each prompt's share of the iteration that prefills k prompts together (evaluator.Rows.prefill_share)
    shared = (together.total_s + exchange(k * isl)) / k
    times = aggregated_times(decode_s, prefill_s, b, r["osl"], e["request_overhead_s"],
                             e["burst_coefficient"], e["burst_exponent"], e["burst_output_exponent"], shared)
    ttft = times.ttft_s
    if with_slot_wait:
        ttft = ttft + slot_wait(r["concurrency"], b, r["osl"], times.tpot_s)
    return times.tpot_s * MS_PER_S, ttft * MS_PER_S


def floors(prep: Prepared) -> tuple[np.ndarray, np.ndarray]:
    """(strict decode-step floor at the batch the measurement implies, strict prefill floor) per row, ms. The
    implied batch is Little's law on the measured TTFT/TPOT: B · output·TPOT / (TTFT + output·TPOT), rounded down,
    at least 1; the
    floor spreads the KV cache over every GPU (``roofline.decode_step`` without efficiencies), so a floor above a
    measurement is a real contradiction, not a batching or sharding artefact."""
    return prep.rates["decode_floor_ms"], prep.rates["prefill_floor_ms"]


# ----------------------------------------------------------------------------------------------------- fitting


BURST_EXPONENT = 0.75
"""Fixed, not fitted: how TTFT's wait grows with the prompts in flight, (B − 1)^0.75. Fitted freely per engine, the
exponents traded off against the request overhead and the prefill fraction and did not carry over to models the fit
had not seen (leave-one-architecture-out TTFT error 50%); fixed, 38-42% for any value in 0.5-1 (docs/fidelity.md).
0.75 was the best of {0.5, 0.75, 1} in that validation."""
BURST_OUTPUT_EXPONENT = 0.0
"""Fixed, not fitted, for the same reason: the (1024 / output)^δ term is off (δ = 0)."""


def family_of(accelerator: str, catalogue: Catalogue | None = None) -> str:
    """The silicon family an accelerator's fitted fractions are shared with (catalogue ``family``: H100 and H200
    are one Hopper die with different HBM, B200 and GB200 one Blackwell die), or its own id where it has none."""
    cat = catalogue or get_catalogue()
    try:
        return cat.accelerator(accelerator).family or accelerator
    except PlannerError:
        return accelerator


@dataclass(frozen=True)
class Layout:
    """Which parameters a fit has: per silicon family (hardware fractions), shared (collective latency,
    per-sequence overhead, MoE expert fractions) and per engine (per-layer step overhead, request overhead and
    prefill burst)."""

    families: tuple[str, ...]
    engines: tuple[str, ...]

    # parameter blocks: name, lower, upper, start
    # upper bounds: the best fractions kernel microbenchmarks reach (measurements.csv m051-m060: HBM 0.87-0.92,
    # GEMM 0.86-0.93), so a fit cannot explain an engine's overheads away with impossible hardware
    FAMILY = (("bandwidth_fraction", 0.2, 0.92, 0.8), ("compute_fraction", 0.05, 0.93, 0.6))
    SHARED = (("latency_us", 0.0, 200.0, 10.0), ("sequence_overhead_us", 0.0, 20.0, 0.5),
              ("expert_bandwidth_fraction", 0.1, 1.0, 0.6), ("expert_compute_fraction", 0.05, 1.0, 0.5),
              ("expert_overhead_us", 0.0, 20.0, 1.0))
    ENGINE_STEP = (("layer_overhead_us", 0.0, 500.0, 20.0),)
    PREFILL = (("prefill_compute_fraction", 0.05, 0.93, 0.6),)
    PREFILL_SHARED = (("prefill_expert_compute_fraction", 0.05, 1.0, 0.5),)
    ENGINE = (("request_overhead_ms", 0.0, 3000.0, 50.0), ("burst_coefficient", 0.0, 100.0, 0.1))

    def step_blocks(self) -> list[tuple[str, float, float, float, int]]:
        return self._blocks(((self.FAMILY, len(self.families)), (self.SHARED, 1),
                             (self.ENGINE_STEP, len(self.engines))))

    def ttft_blocks(self) -> list[tuple[str, float, float, float, int]]:
        return self._blocks(((self.PREFILL, len(self.families)), (self.PREFILL_SHARED, 1),
                             (self.ENGINE, len(self.engines))))

    @staticmethod
    def _blocks(groups: Iterable[tuple[tuple[tuple[str, float, float, float], ...], int]]
                ) -> list[tuple[str, float, float, float, int]]:
        """(name, lower, upper, start, how many) per parameter, in the order the parameter vector holds them."""
        return [(*block, count) for blocks, count in groups for block in blocks]


def _unpack(x: np.ndarray, blocks: list[tuple[str, float, float, float, int]]) -> dict[str, np.ndarray]:
    out, i = {}, 0
    for name, _, _, _, count in blocks:
        out[name] = x[i:i + count]
        i += count
    return out


def _bounds(blocks: list[tuple[str, float, float, float, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    def column(k: int) -> np.ndarray:
        return np.concatenate([np.full(b[4], b[k]) for b in blocks])
    return column(1), column(2), column(3)


@dataclass(frozen=True)
class Fit:
    """Fitted parameters: per silicon family, shared and per engine (plain floats in the units of their names)."""

    per_family: dict[str, dict[str, float]]
    shared: dict[str, float]
    per_engine: dict[str, dict[str, float]]
    rows: int
    accelerators: dict[str, str] = field(default_factory=dict)
    """The accelerators the rows held, and the family of each."""
    warnings: list[str] = field(default_factory=list)
    """What the fit cannot vouch for: too few rows for a group's parameters, a value at a bound."""
    family_rows: dict[str, int] = field(default_factory=dict)
    """Rows per silicon family (each family's fractions were fitted to that many)."""

    def efficiency(self, accelerator: str, engine: str, base: Efficiency, catalogue: Catalogue | None = None
                   ) -> Efficiency:
        """``base`` with this fit's parameters for ``accelerator``/``engine`` written over it; an accelerator the
        rows did not hold takes its family's fractions where the fit has them."""
        family = self.accelerators.get(accelerator) or family_of(accelerator, catalogue)
        fam = self.per_family.get(family, {})
        eng = self.per_engine.get(engine, self.per_engine.get("any", {}))
        update: dict[str, Any] = {
            "scaleup_latency_s": self.shared["latency_us"] / US_PER_S,
            "pcie_latency_s": self.shared["latency_us"] / US_PER_S,
            "sequence_overhead_s": self.shared["sequence_overhead_us"] / US_PER_S,
            "expert_bandwidth_fraction": self.shared["expert_bandwidth_fraction"],
            "expert_compute_fraction": self.shared["expert_compute_fraction"],
            "prefill_expert_compute_fraction": self.shared["prefill_expert_compute_fraction"],
            "expert_overhead_s": self.shared["expert_overhead_us"] / US_PER_S,
        }
        if fam:
            update["bandwidth_fraction"] = fam["bandwidth_fraction"]
            update["compute_fraction"] = dtype_fractions(family, fam["compute_fraction"], base.compute_fraction)
            update["prefill_compute_fraction"] = fam["prefill_compute_fraction"]
        if eng:
            update["layer_overhead_s"] = eng["layer_overhead_us"] / US_PER_S
            update["request_overhead_s"] = eng["request_overhead_ms"] / MS_PER_S
            update.update({k: eng[k] for k in ("burst_coefficient", "burst_exponent", "burst_output_exponent")})
        return base.model_copy(update=update)


def dtype_fractions(family: str, fraction_16bit: float, dtypes: Iterable[str]) -> dict[str, float]:
    """A family's fitted 16-bit compute fraction as one per compute dtype, through the microbenchmark ratios
    (``efficiency.compute_ratio``): 8- and 4-bit GEMMs reach less of their (higher) peaks."""
    return {d: min(1.0, fraction_16bit * compute_ratio(family, d)) for d in dtypes}


def _arrays_for(prep: Prepared, layout: Layout, family: np.ndarray, step: dict[str, np.ndarray],
                ttft: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    n = len(prep.rows)
    ei = np.array([layout.engines.index(r.engine) for r in prep.rows])
    # the family fractions are the 16-bit ones; each row's compute dtype (and its KV dtype's, for attention) scales
    # them by its microbenchmark ratio
    ratio, attention_ratio = prep.rates["ratio"], prep.rates["attention_ratio"]
    return {
        "bandwidth_fraction": step["bandwidth_fraction"][family],
        "compute_fraction": np.minimum(step["compute_fraction"][family] * ratio, 1.0),
        "attention_compute_fraction": np.minimum(step["compute_fraction"][family] * attention_ratio, 1.0),
        "prefill_compute_fraction": np.minimum(ttft["prefill_compute_fraction"][family] * ratio, 1.0),
        "prefill_attention_compute_fraction": np.minimum(ttft["prefill_compute_fraction"][family] * attention_ratio,
                                                         1.0),
        # not fitted (the rows cannot separate it from the latency): the catalogue's measured NCCL figure
        "link_fraction": np.full(n, default_efficiency().link_fraction),
        "latency_s": np.full(n, step["latency_us"][0] / US_PER_S),
        "layer_overhead_s": step["layer_overhead_us"][ei] / US_PER_S,
        "sequence_overhead_s": np.full(n, step["sequence_overhead_us"][0] / US_PER_S),
        "expert_bandwidth_fraction": np.full(n, step["expert_bandwidth_fraction"][0]),
        "expert_compute_fraction": np.full(n, step["expert_compute_fraction"][0]),
        "prefill_expert_compute_fraction": np.full(n, ttft["prefill_expert_compute_fraction"][0]),
        "expert_overhead_s": np.full(n, step["expert_overhead_us"][0] / US_PER_S),
        "request_overhead_s": ttft["request_overhead_ms"][ei] / MS_PER_S,
        "burst_coefficient": ttft["burst_coefficient"][ei],
        "burst_exponent": np.full(n, BURST_EXPONENT),
        "burst_output_exponent": np.full(n, BURST_OUTPUT_EXPONENT),
    }


def fit(prep: Prepared, catalogue: Catalogue | None = None) -> Fit:
    """Fit the expected-time parameters to measured rows, in two stages so TTFT's noise cannot bend the step
    model: (1) per-family bandwidth and compute fractions, the shared latency, per-sequence overhead and expert
    fractions, and the per-engine per-layer overhead to TPOT, with the prefill at the decode compute fractions;
    (2) per-family prefill compute fraction, the shared prefill expert fraction and the per-engine request overhead
    and burst coefficient to TTFT. Least squares on log errors with a Cauchy loss (robust to the duplicated and odd
    rows measurement tables hold: a row 2x off weighs little more than one 1.5x off)."""
    from scipy.optimize import least_squares  # imported here: only fitting needs scipy

    accelerators = {r.accelerator: family_of(r.accelerator, catalogue) for r in prep.rows}
    layout = Layout(tuple(sorted(set(accelerators.values()))), tuple(sorted({r.engine for r in prep.rows})))
    family = np.array([layout.families.index(accelerators[r.accelerator]) for r in prep.rows])
    tpot = np.array([r.tpot_ms for r in prep.rows])
    ttft = np.array([r.ttft_ms for r in prep.rows])
    step_blocks, ttft_blocks = layout.step_blocks(), layout.ttft_blocks()
    s_lo, s_hi, s0 = _bounds(step_blocks)
    t_lo, t_hi, t0 = _bounds(ttft_blocks)

    def prefill_like_decode(step: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        second = _unpack(t0, ttft_blocks)
        second["prefill_compute_fraction"] = step["compute_fraction"]
        second["prefill_expert_compute_fraction"] = step["expert_compute_fraction"]
        return second

    def stage1(x: np.ndarray) -> np.ndarray:
        step = _unpack(x, step_blocks)
        return np.log(predict(prep, _arrays_for(prep, layout, family, step, prefill_like_decode(step)))[0] / tpot)

    x1 = least_squares(stage1, s0, bounds=(s_lo, s_hi), loss="cauchy", f_scale=0.2).x
    step = _unpack(x1, step_blocks)

    def stage2(y: np.ndarray) -> np.ndarray:
        return np.log(predict(prep, _arrays_for(prep, layout, family, step, _unpack(y, ttft_blocks)))[1] / ttft)

    start = np.concatenate([prefill_like_decode(step)[b[0]] for b in ttft_blocks])
    x2 = least_squares(stage2, np.clip(start, t_lo, t_hi), bounds=(t_lo, t_hi), loss="cauchy", f_scale=0.2).x
    second = _unpack(x2, ttft_blocks)
    per_family = {f: {"bandwidth_fraction": float(step["bandwidth_fraction"][i]),
                      "compute_fraction": float(step["compute_fraction"][i]),
                      "prefill_compute_fraction": float(second["prefill_compute_fraction"][i])}
                  for i, f in enumerate(layout.families)}
    shared = {name: float(step[name][0]) for name, *_ in Layout.SHARED}
    shared["prefill_expert_compute_fraction"] = float(second["prefill_expert_compute_fraction"][0])
    per_engine = {e: {"layer_overhead_us": float(step["layer_overhead_us"][j]),
                      "request_overhead_ms": float(second["request_overhead_ms"][j]),
                      "burst_coefficient": float(second["burst_coefficient"][j]),
                      "burst_exponent": BURST_EXPONENT, "burst_output_exponent": BURST_OUTPUT_EXPONENT}
                  for j, e in enumerate(layout.engines)}
    warnings = _fit_warnings(prep, layout, family, (x1, step_blocks, s_lo, s_hi), (x2, ttft_blocks, t_lo, t_hi))
    family_rows = {f: int(np.sum(family == i)) for i, f in enumerate(layout.families)}
    return Fit(per_family, shared, per_engine, len(prep.rows), accelerators, warnings, family_rows)


FAMILY_NAMES = {b[0] for b in (*Layout.FAMILY, *Layout.PREFILL)}
ENGINE_NAMES = {b[0] for b in (*Layout.ENGINE_STEP, *Layout.ENGINE)}

ROWS_PER_PARAMETER = 5
"""Fewer measured rows than this per fitted parameter of a group (a silicon family, an engine) and the fit warns:
the parameters are then hardly determined by the data."""


def _fit_warnings(prep: Prepared, layout: Layout, family: np.ndarray,
                  *stages: tuple[np.ndarray, list[tuple[str, float, float, float, int]], np.ndarray, np.ndarray]
                  ) -> list[str]:
    """Warnings a calibration prints: groups with too few rows for their parameters, values at a bound."""
    out = []
    per_family = len(Layout.FAMILY) + len(Layout.PREFILL)
    for i, fam in enumerate(layout.families):
        n = int(np.sum(family == i))
        if n < ROWS_PER_PARAMETER * per_family:
            out.append(f"only {n} rows of the {fam} family for its {per_family} fractions: they are barely "
                       f"determined; add measurements or keep the catalogue's")
    per_engine = len(Layout.ENGINE_STEP) + len(Layout.ENGINE)
    for engine in layout.engines:
        n = sum(r.engine == engine for r in prep.rows)
        if n < ROWS_PER_PARAMETER * per_engine:
            out.append(f"only {n} {engine} rows for its {per_engine} parameters: they are barely determined")
    shared = len(Layout.SHARED) + len(Layout.PREFILL_SHARED)
    if len(prep.rows) < ROWS_PER_PARAMETER * shared:
        out.append(f"only {len(prep.rows)} rows for {shared} shared parameters")
    for x, blocks, lo, hi in stages:
        i = 0
        for name, _, _, _, count in blocks:
            for k in range(count):
                v, low, high = x[i + k], lo[i + k], hi[i + k]
                span = high - low
                if v <= low + 1e-3 * span or v >= high - 1e-3 * span:
                    where = "low" if v <= low + 1e-3 * span else "high"
                    who = (layout.families[k] if name in FAMILY_NAMES else layout.engines[k]
                           if name in ENGINE_NAMES else "shared")
                    out.append(f"{name} ({who}) sits at its {where} bound ({v:.4g}): the data pushes past what "
                               f"the model allows; read it as a limit, not a measurement")
            i += count
    return out


def subset(prep: Prepared, mask: np.ndarray) -> Prepared:
    idx = np.nonzero(mask)[0]
    return Prepared([prep.rows[i] for i in idx], prep.batch[idx], {k: v[idx] for k, v in prep.decode.items()},
                    {k: v[idx] for k, v in prep.prefill.items()}, {k: v[idx] for k, v in prep.rates.items()})


ARCHITECTURE_GROUPS = {"deepseek-r1": "deepseek-v3"}
"""Models that share an architecture are held out together (DeepSeek-R1 is DeepSeek-V3's architecture)."""


def _predict_with(prep: Prepared, the_fit: Fit, catalogue: Catalogue | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Predictions with ``the_fit`` over the catalogue's efficiencies. An accelerator whose family the fit has not
    seen starts from the catalogue's defaults, never from its own shipped entry (fitted to every row, the held-out
    ones too)."""
    cat = catalogue or get_catalogue()
    effs = []
    for r in prep.rows:
        known = family_of(r.accelerator, cat) in the_fit.per_family
        base = cat.efficiency(r.accelerator if known else "", r.engine)
        effs.append(the_fit.efficiency(r.accelerator, r.engine, base, cat))
    return predict(prep, efficiency_arrays(effs, prep, cat))


def cross_validated(prep: Prepared, catalogue: Catalogue | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-sample predictions, leave one architecture out: each model's rows (DeepSeek-V3 and R1 together) are
    predicted with parameters fitted on all the OTHER models' rows. An accelerator takes its silicon family's
    fitted fractions (GB200 those fitted on B200 rows); one whose family was seen only with the held-out model
    keeps the catalogue's default fractions."""
    arch = np.array([ARCHITECTURE_GROUPS.get(r.model, r.model) for r in prep.rows])
    if len(np.unique(arch)) < 2:
        raise PlannerError(f"leave-one-architecture-out validation needs rows of at least two model architectures; "
                           f"these rows have only {arch[0]}: add rows of another model, or use the catalogue's "
                           f"efficiencies as they are (drop --cross-validate)")
    tpot = np.full(len(prep.rows), np.nan)
    ttft = np.full(len(prep.rows), np.nan)
    groups = np.unique(arch)
    for done, group in enumerate(groups, 1):
        held = arch == group
        the_fit = fit(subset(prep, ~held), catalogue)
        t, f = _predict_with(subset(prep, held), the_fit, catalogue)
        tpot[held], ttft[held] = t, f
        if progress is not None:
            progress(done, len(groups), f"held out {group}")
    return tpot, ttft


@dataclass(frozen=True)
class Report:
    rows: int
    skipped: dict[str, int]
    tpot_mape_median: float
    ttft_mape_median: float
    floor_violations: int
    by_group: list[dict[str, Any]]
    predictions: list[dict[str, Any]]
    method: str

    def summary(self) -> dict[str, Any]:
        return {"tpot_mape_median": self.tpot_mape_median, "ttft_mape_median": self.ttft_mape_median,
                "floor_violations": self.floor_violations, "rows": self.rows,
                "skipped": sum(self.skipped.values()), "method": self.method}


def validate(loaded: Loaded, catalogue: Catalogue | None = None, out_of_sample: bool = False,
             progress: Callable[[int, int, str], None] | None = None) -> Report:
    """Compare predictions with measurements: by default the shipped model (the catalogue's efficiencies, user
    catalogues included) as every plan uses it; ``out_of_sample``: leave-one-architecture-out refits (see
    ``cross_validated``), how well the model carries over to a model it was not fitted on."""
    prep = prepare(loaded.rows, catalogue)
    cat = catalogue or get_catalogue()
    if out_of_sample:
        tpot, ttft = cross_validated(prep, catalogue, progress)
        method = "leave-one-architecture-out"
    else:
        effs = [cat.efficiency(r.accelerator, r.engine) for r in prep.rows]
        tpot, ttft = predict(prep, efficiency_arrays(effs, prep, cat))
        method = "catalogue efficiencies"
    measured_tpot = np.array([r.tpot_ms for r in prep.rows])
    measured_ttft = np.array([r.ttft_ms for r in prep.rows])
    floor_tpot, floor_ttft = floors(prep)
    violations = int(np.sum(floor_tpot > measured_tpot) + np.sum(floor_ttft > measured_ttft))
    e_tpot = np.abs(tpot / measured_tpot - 1)
    e_ttft = np.abs(ttft / measured_ttft - 1)
    by: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(prep.rows):
        by[(r.model, r.accelerator, r.engine)].append(i)
    groups = [{"model": k[0], "accelerator": k[1], "engine": k[2], "rows": len(ix),
               "tpot_mape_median": float(np.median(e_tpot[ix])), "ttft_mape_median": float(np.median(e_ttft[ix]))}
              for k, ix in sorted(by.items())]
    preds = [{"model": r.model, "accelerator": r.accelerator, "engine": r.engine, "tp": r.gpus,
              "concurrency": r.concurrency, "isl": r.isl, "osl": r.osl,
              "tpot_ms": r.tpot_ms, "tpot_pred_ms": float(tpot[i]), "tpot_floor_ms": float(floor_tpot[i]),
              "ttft_ms": r.ttft_ms, "ttft_pred_ms": float(ttft[i]), "ttft_floor_ms": float(floor_ttft[i])}
             for i, r in enumerate(prep.rows)]
    return Report(len(prep.rows), dict(loaded.skipped), float(np.median(e_tpot)), float(np.median(e_ttft)),
                  violations, groups, preds, method)


def _round(x: float) -> float:
    return 0.0 if abs(x) < 1e-9 else float(f"{x:.4g}")


def _per_dtype(accelerator: str, family: str, fraction_16bit: float) -> dict[str, float]:
    """Every weight dtype's compute fraction on ``accelerator``: the 16-bit one times the ratio of the dtype it
    computes at (weight-only formats at the 16-bit rate: ratio 1)."""
    acc = get_catalogue().accelerator(accelerator)
    out = {}
    for d in DTYPES:
        try:
            compute = acc.compute_dtype(d)
        except PlannerError:  # no rate for it at all (fp32 on some accelerators): the 16-bit fraction
            compute = "bf16"
        out[d] = _round(min(1.0, fraction_16bit * compute_ratio(family, compute)))
    return out


def calibration_entries(the_fit: Fit, source: str) -> dict[str, Any]:
    """A fit as a catalogue ``efficiency`` section (``planner.efficiency.EfficiencyTable`` shape): one
    per-accelerator entry for each accelerator the rows held (its family's fractions), one entry per engine."""
    latency = _round(the_fit.shared["latency_us"])
    default = {"collective_latency_us": {"scaleup": latency, "pcie": latency},
               "sequence_overhead_us": _round(the_fit.shared["sequence_overhead_us"]),
               "expert_bandwidth_fraction": _round(the_fit.shared["expert_bandwidth_fraction"]),
               "expert_compute_fraction": _round(the_fit.shared["expert_compute_fraction"]),
               "prefill_expert_compute_fraction": _round(the_fit.shared["prefill_expert_compute_fraction"]),
               "expert_overhead_us": _round(the_fit.shared["expert_overhead_us"]),
               "source": f"{source}: shared step overheads fitted to {the_fit.rows} rows"}
    if len(the_fit.per_engine) == 1:  # one engine: its per-layer overhead is the best default there is
        default["layer_overhead_us"] = _round(next(iter(the_fit.per_engine.values()))["layer_overhead_us"])
    per_acc = {}
    for acc, fam in sorted(the_fit.accelerators.items()):
        v = the_fit.per_family[fam]
        siblings = sorted(a for a, f in the_fit.accelerators.items() if f == fam)
        per_acc[acc] = {"bandwidth_fraction": _round(v["bandwidth_fraction"]),
                        "compute_fraction": _per_dtype(acc, fam, v["compute_fraction"]),
                        "prefill_compute_fraction": _round(v["prefill_compute_fraction"]),
                        "rows": the_fit.family_rows.get(fam, the_fit.rows),
                        "source": f"{source}: fitted to the {fam} rows ({', '.join(siblings)})"}
    engines = {e: {"layer_overhead_us": _round(v["layer_overhead_us"]),
                   "request_overhead_ms": _round(v["request_overhead_ms"]),
                   "burst_coefficient": _round(v["burst_coefficient"]),
                   "burst_exponent": _round(v["burst_exponent"]),
                   "burst_output_exponent": _round(v["burst_output_exponent"]),
                   "source": f"{source}: fitted to the {e} rows"}
               for e, v in the_fit.per_engine.items()}
    return {"default": default, "per_accelerator": per_acc, "engines": engines}


def calibrate(loaded: Loaded, catalogue: Catalogue | None = None, source: str = "calibration",
              warn: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Fit every parameter to ``loaded`` and return a user catalogue (``{"efficiency": ...}``) that applies it;
    ``warn`` receives each of the fit's warnings (too few rows for a group's parameters, a value at a bound).
    With rows from several engines, an ``any`` engine entry is fitted on them pooled (used when a plan names no
    engine), and its per-layer overhead is also the default's."""
    prep = prepare(loaded.rows, catalogue)
    the_fit = fit(prep, catalogue)
    entries = calibration_entries(the_fit, source)
    for warning in the_fit.warnings:
        warn(warning)
    if len(the_fit.per_engine) > 1:
        pooled = fit(Prepared([replace(r, engine="any") for r in prep.rows], prep.batch, prep.decode, prep.prefill,
                              prep.rates), catalogue)
        entries["engines"]["any"] = calibration_entries(pooled, source)["engines"]["any"]
        entries["default"]["layer_overhead_us"] = entries["engines"]["any"]["layer_overhead_us"]
    return {"efficiency": entries}
