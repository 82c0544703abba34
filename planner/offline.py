"""Offline benchmark rows: whole-run latency and throughput (vLLM's ``benchmark_latency.py`` and
``benchmark_throughput.py``), predicted with the one evaluator and used to calibrate an accelerator.

Some measurements are not per-token times but whole runs: a **latency** row times one ``generate`` call that
prefills B prompts of IN tokens and decodes OUT tokens for each (seconds); a **throughput** row runs N prompts with
at most ``max_sequences`` in flight and reports output tokens per second. With t_d(b) the evaluator's decode step at
b sequences (``planner.evaluator.decode_total_s``, context IN + OUT/2) and T_pre(k) the prefill of k prompts in
engine iterations of at most ``max_batched_tokens`` tokens — n = ceil(k · IN / max_batched_tokens) iterations of
k / n prompts each, each reading the weights once (``roofline.batched_prefill_inputs``):

- latency    L = T_pre(B) + (OUT − 1) · t_d(B)                       (the prefill gives each prompt its first token)
- throughput X = N · OUT / (T_pre(N) + OUT · t_d(b) · N / b),  b = min(N, max_sequences, largest batch that fits)

Rows whose batch the KV cache limits (b < min(N, max_sequences)) test the capacity model, not the step times: they
are predicted and reported but not fitted. ``calibrate_offline`` fits one accelerator's HBM bandwidth fraction and
16-bit compute fraction (decode and prefill alike; other dtypes through ``serving.yaml``'s ``compute_ratios``) to
the rows, the engine's overheads held at the shipped fit. The CSV columns are those of
``data/measurements/rocm-vllm-mi300x.csv`` (its README defines them).
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from planner import evaluator as E
from planner import files, topology
from planner.catalogue import Catalogue, check_dtype, get_catalogue
from planner.efficiency import Efficiency, check_engine, engine_offline_token_budget
from planner.errors import PlannerError, short
from planner.roofline import batched_prefill_inputs, step_rates, time_step
from planner.spec import MAX_BATCH, MAX_TOKENS, PlanSpec
from planner.units import DTYPES
from planner.validate import MAX_SIZE, table_number

METRICS = ("latency_s", "throughput_tokens_per_s")
"""The row kinds: seconds for the whole run, output tokens per second."""

REQUIRED = ("model", "accelerator", "engine", "dtype", "tp", "isl", "osl", "batch", "metric", "value")

MAX_FILE_BYTES = 20_000_000

QUANTIZED_SUFFIXES = re.compile(r"(-(fp8|fp4|nvfp4|int8|int4|w8a8|awq|gptq)(-kv)?)+$", re.IGNORECASE)
"""Checkpoint-name suffixes of quantized releases (``amd/Llama-3.1-70B-Instruct-FP8-KV``): the architecture is the
base model's."""


@dataclass(frozen=True)
class OfflineRow:
    """One offline run, resolved against the catalogue."""

    model: str
    accelerator: str
    engine: str
    dtype: str
    kv_dtype: str
    tp: int
    isl: float
    osl: float
    batch: float
    max_sequences: float
    max_batched_tokens: float
    metric: str
    value: float
    source: str


def is_offline(path: str | Path) -> bool:
    """Whether ``path`` is a CSV of offline rows (it has a ``metric`` column), not TTFT/TPOT rows."""
    try:
        with open(path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return "metric" in {h.strip().lower() for h in header}


def _model_id(name: str, cat: Catalogue, where: str) -> str:
    try:
        return cat.model(name).id
    except PlannerError:
        base = QUANTIZED_SUFFIXES.sub("", name.strip())
        if base != name.strip():
            try:
                return cat.model(base).id
            except PlannerError:
                pass
        raise PlannerError(f"{where}: unknown model {short(name)}; use a catalogue id or a Hugging Face repo id "
                           f"(`whichwall catalogue models` lists them)") from None


def _positive(record: dict[str, str], key: str, where: str, default: float | None = None, *, gpus: bool = False,
              count: bool = False, most: float = MAX_SIZE) -> float:
    return table_number((record.get(key) or "").strip(), key, where, default, gpus=gpus, count=count, most=most)


def parse_offline(text: str, where: str = "measurements", catalogue: Catalogue | None = None,
                  source_contains: str | None = None) -> list[OfflineRow]:
    """The rows of an offline CSV (``source_contains``: only rows whose source names it, e.g. one software version),
    or a ``PlannerError`` naming the first bad cell and what it should be."""
    cat = catalogue or get_catalogue()
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise PlannerError(f"{where}: missing columns {', '.join(missing)}; an offline table needs "
                           f"{', '.join(REQUIRED)} (see data/measurements/README.md)")
    rows = []
    for n, raw in enumerate(reader, 2):
        record = {k.strip(): (v or "") for k, v in raw.items() if k is not None}
        at = f"{where} line {n}"
        source = record.get("source", "").strip()
        if source_contains and source_contains not in source:
            continue
        metric = record["metric"].strip()
        if metric not in METRICS:
            raise PlannerError(f"{at}: metric {short(metric)} is not one of {', '.join(METRICS)}")
        acc = cat.accelerator(record["accelerator"].strip())
        dtype = check_dtype(record["dtype"].strip().lower())
        kv = check_dtype((record.get("kv_dtype") or "").strip().lower() or dtype, "kv_dtype")
        engine = check_engine(record["engine"].strip())
        tp = _positive(record, "tp", at, gpus=True)
        rows.append(OfflineRow(
            model=_model_id(record["model"], cat, at), accelerator=acc.id, engine=engine, dtype=dtype, kv_dtype=kv,
            tp=int(tp), isl=_positive(record, "isl", at, count=True, most=MAX_TOKENS),
            osl=_positive(record, "osl", at, count=True, most=MAX_TOKENS),
            batch=_positive(record, "batch", at, count=True, most=MAX_BATCH),
            max_sequences=_positive(record, "concurrency", at, default=math.inf, count=True),
            max_batched_tokens=_positive(record, "max_batched_tokens", at, count=True,
                                         default=engine_offline_token_budget(engine)),
            metric=metric, value=_positive(record, "value", at), source=source))
    if not rows:
        raise PlannerError(f"{where}: no rows" + (f" whose source contains {source_contains!r}" if source_contains
                                                  else ""))
    return rows


def load_offline(path: str | Path, catalogue: Catalogue | None = None,
                 source_contains: str | None = None) -> list[OfflineRow]:
    """``parse_offline`` of a file."""
    text = files.read_text(path, "measurements", "a CSV of offline rows", MAX_FILE_BYTES)
    return parse_offline(text, str(path), catalogue, source_contains)


@dataclass(frozen=True)
class Prediction:
    """One row's prediction: the value in the row's unit, the decode batch, whether the KV cache limited it, the
    decode step (s) and the whole prefill (s)."""

    value: float
    batch: float
    kv_limited: bool
    decode_step_s: float
    prefill_s: float


def predict_row(row: OfflineRow, eff: Efficiency, catalogue: Catalogue | None = None) -> Prediction:
    """The module docstring's L or X for ``row`` under ``eff``."""
    cat = catalogue or get_catalogue()
    model, acc = cat.model(row.model), cat.accelerator(row.accelerator)
    ep = row.tp if model.moe else 1
    spec = PlanSpec(model=model.id, accelerator=acc.id, dtype=row.dtype, kv_dtype=row.kv_dtype, engine=row.engine,
                    tp=row.tp, pp=1, ep=ep, qps=1.0, input_tokens=int(row.isl), output_tokens=int(row.osl),
                    ttft_slo_ms=1e12, tpot_slo_ms=1e12,
                    max_batch=int(min(row.max_sequences, MAX_BATCH)) if math.isfinite(row.max_sequences) else None)
    rows = E.build(model, spec, [E.Option(acc, row.dtype, row.kv_dtype, math.nan, eff,
                                          topology.layouts(model, acc, row.tp, 1, ep))])
    fit = float(rows["b_mem"][0, 0])
    if fit < 1:
        raise PlannerError(f"{row.model} on {row.tp} {row.accelerator}: not one sequence of "
                           f"{int(row.isl + row.osl):,} tokens fits beside the weights")
    # the sequences the engine runs at once: the row's (max_batch above), else the engine's default cap
    cap = float(rows["b_cap"][0, 0])
    want = min(row.batch if row.metric == "latency_s" else min(row.batch, row.max_sequences), cap)
    b = min(want, fit)
    step = float(E.decode_total_s(rows, np.array([[b]]))[0, 0])
    chunks = max(1.0, math.ceil(row.batch * row.isl / row.max_batched_tokens))
    rates = step_rates(model, acc, row.dtype, row.kv_dtype, float(row.tp), eff, prefill=True, ep=float(ep))
    chunk = time_step(batched_prefill_inputs(model, row.isl, row.batch / chunks, row.dtype, row.kv_dtype, ep=ep),
                      rates)
    prefill = chunks * float(np.asarray(chunk.total_s).reshape(-1)[0])
    if row.metric == "latency_s":
        value = prefill + (row.osl - 1.0) * step
    else:
        value = row.batch * row.osl / (prefill + row.osl * step * row.batch / b)
    return Prediction(value, b, b < want, step, prefill)


def with_fractions(eff: Efficiency, family: str, bandwidth_fraction: float, compute_16bit: float) -> Efficiency:
    """``eff`` with an accelerator's bandwidth fraction and 16-bit compute fraction (decode and prefill; other
    dtypes through the family's ``compute_ratios``)."""
    from planner.fidelity import dtype_fractions  # fidelity imports the evaluator too; keep the import graph flat

    return eff.model_copy(update={"bandwidth_fraction": bandwidth_fraction,
                                  "compute_fraction": dtype_fractions(family, compute_16bit, DTYPES),
                                  "prefill_compute_fraction": compute_16bit})


@dataclass(frozen=True)
class OfflineReport:
    """Predictions against measurements: median |error| per metric over the rows the fit uses (None where there is
    no such row), and every row."""

    rows: list[OfflineRow]
    predictions: list[Prediction]
    latency_error: float | None
    throughput_error: float | None
    method: str

    def summary(self) -> dict[str, Any]:
        fitted = sum(not p.kv_limited for p in self.predictions)
        return {"latency_mape_median": self.latency_error, "throughput_mape_median": self.throughput_error,
                "rows": len(self.rows), "kv_limited_rows": len(self.rows) - fitted, "method": self.method}


def _errors(rows: Sequence[OfflineRow], preds: Sequence[Prediction]) -> tuple[float | None, float | None]:
    def median(metric: str) -> float | None:
        e = [abs(p.value / r.value - 1) for r, p in zip(rows, preds, strict=True)
             if r.metric == metric and not p.kv_limited]
        return float(np.median(e)) if e else None
    return median("latency_s"), median("throughput_tokens_per_s")


def validate_offline(rows: Sequence[OfflineRow], catalogue: Catalogue | None = None,
                     efficiency: Efficiency | None = None) -> OfflineReport:
    """The shipped model (the catalogue's efficiencies) on ``rows``; or, given ``efficiency``, that one on all."""
    cat = catalogue or get_catalogue()
    preds = [predict_row(r, efficiency or cat.efficiency(r.accelerator, r.engine), cat) for r in rows]
    method = "catalogue efficiencies" if efficiency is None else "given efficiencies"
    return OfflineReport(list(rows), preds, *_errors(rows, preds), method)


@dataclass(frozen=True)
class OfflineFit:
    """One accelerator's fitted fractions, the rows they rest on, and the fit's report."""

    accelerator: str
    family: str
    bandwidth_fraction: float
    compute_16bit: float
    fitted_rows: int
    report: OfflineReport
    warnings: list[str]


BOUNDS = ((0.2, 0.05), (0.92, 0.93))
"""(lower, upper) of (bandwidth fraction, 16-bit compute fraction): the same physical limits as the silicon fit."""


def fit_offline(rows: Sequence[OfflineRow], catalogue: Catalogue | None = None,
                progress: Callable[[int, int, str], None] | None = None) -> OfflineFit:
    """Fit the accelerator's bandwidth and 16-bit compute fractions to ``rows`` (one accelerator): least squares on
    log errors, Cauchy loss, the KV-limited rows left out."""
    from scipy.optimize import least_squares  # imported here: only fitting needs scipy

    from planner.fidelity import family_of

    cat = catalogue or get_catalogue()
    accs = sorted({r.accelerator for r in rows})
    if len(accs) != 1:
        raise PlannerError(f"offline rows calibrate one accelerator at a time; these hold {', '.join(accs)}")
    family = family_of(accs[0], cat)
    bases = [cat.efficiency(r.accelerator, r.engine) for r in rows]
    measured = np.array([r.value for r in rows])
    start = [p for p in (predict_row(r, b, cat) for r, b in zip(rows, bases, strict=True))]
    keep = np.array([not p.kv_limited for p in start])
    if keep.sum() < 2:
        raise PlannerError(f"{int(keep.sum())} rows whose batch fits in memory; fitting two fractions needs at "
                           f"least 2 (more than 10 to trust)")
    calls = [0]

    def residuals(x: np.ndarray) -> np.ndarray:
        calls[0] += 1
        if progress is not None:
            progress(calls[0], 0, f"{accs[0]} bandwidth {x[0]:.3f}, compute {x[1]:.3f}")
        out = [math.log(predict_row(r, with_fractions(b, family, x[0], x[1]), cat).value / m)
               for r, b, m, k in zip(rows, bases, measured, keep, strict=True) if k]
        return np.array(out)

    sol = least_squares(residuals, [0.8, 0.6], bounds=BOUNDS, loss="cauchy", f_scale=0.2)
    bw, c16 = (float(v) for v in sol.x)
    preds = [predict_row(r, with_fractions(b, family, bw, c16), cat) for r, b in zip(rows, bases, strict=True)]
    warnings = []
    n = int(keep.sum())
    if n < 10:
        warnings.append(f"only {n} rows fit two fractions; fewer than 10 leave them loosely determined")
    for name, value, lo, hi in (("bandwidth fraction", bw, BOUNDS[0][0], BOUNDS[1][0]),
                                ("16-bit compute fraction", c16, BOUNDS[0][1], BOUNDS[1][1])):
        if min(value - lo, hi - value) < 1e-3:
            warnings.append(f"the {name} sits at its bound {lo if value - lo < 1e-3 else hi:g}: the rows would "
                            f"push it further, so something the model lacks is absorbed into it")
    metrics = {r.metric for r in rows}
    if len(metrics) < 2:
        warnings.append(f"only {next(iter(metrics))} rows: latency rows pin the small-batch step (bandwidth), "
                        f"throughput rows the large-batch step (compute); both are needed to separate them")
    report = OfflineReport(list(rows), preds, *_errors(rows, preds), f"fitted to {n} rows")
    return OfflineFit(accs[0], family, bw, c16, n, report, warnings)


def calibration_entry(result: OfflineFit, source: str) -> dict[str, Any]:
    """The fit as a user catalogue's ``efficiency`` section (one per-accelerator entry)."""
    from planner.fidelity import _per_dtype, _round

    return {"efficiency": {"per_accelerator": {result.accelerator: {
        "bandwidth_fraction": _round(result.bandwidth_fraction),
        "compute_fraction": _per_dtype(result.accelerator, result.family, result.compute_16bit),
        "prefill_compute_fraction": _round(result.compute_16bit),
        "rows": result.fitted_rows,
        "source": f"{source}: offline latency and throughput rows ({result.fitted_rows} fitted)"}}}}
