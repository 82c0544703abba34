"""whichwall's search functions for Excel: ``BEST_CONFIG`` and ``PARETO``, thin wrappers over ``planner.search``.

Each argument is coerced in one line (``udfs._excel``); the search lives in ``planner.search``. Both return a table
(a 2-D array whose first row is a header) of one search, so every argument is a single cell; ``gpus`` and ``dtypes``
take a range of ids (or one cell of comma-separated ids). Bad input raises ``planner.PlannerError``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner import search
from planner.errors import PlannerError
from udfs import _xw as xw
from udfs._excel import REQUIRED, number, required_text, table, text
from udfs.functions import ENGINE_DOC

MODEL_DOC = "Model id or alias, e.g. llama-3.1-70b or meta-llama/Llama-3.1-70B (MODEL_IDS() lists them)"
QPS_DOC = "Traffic, requests per second (one cell)"
INPUT_DOC = "Prompt tokens per request (one cell)"
OUTPUT_DOC = "Generated tokens per request (one cell)"
TTFT_DOC = "Time-to-first-token SLO, ms (one cell)"
TPOT_DOC = "Time-per-output-token SLO, ms (one cell)"
BUDGET_DOC = "Monthly budget, USD (optional; empty: no budget)"
GPUS_DOC = ("Candidate accelerators: a range of ids or one cell of comma-separated ids, e.g. h100-sxm,h200-sxm "
            "(optional; empty: every accelerator with a price)")
DTYPES_DOC = ("Candidate weight dtypes: a range or comma-separated, e.g. fp8,bf16 (optional; empty: bf16, fp8, int4 "
              "and fp4 where native)")

SEARCH_ARGS: tuple[tuple[str, Any, str, bool], ...] = (
    # (argument, default, doc, numeric ranges allowed): none, one search per formula
    ("model", REQUIRED, MODEL_DOC, False),
    ("qps", REQUIRED, QPS_DOC, False),
    ("input_tokens", REQUIRED, INPUT_DOC, False),
    ("output_tokens", REQUIRED, OUTPUT_DOC, False),
    ("ttft_slo_ms", REQUIRED, TTFT_DOC, False),
    ("tpot_slo_ms", REQUIRED, TPOT_DOC, False),
    ("budget_usd_month", None, BUDGET_DOC, False),
    ("gpus", None, GPUS_DOC, False),  # a range of ids arrives as a list, read by _ids
    ("dtypes", None, DTYPES_DOC, False),
    ("engine", None, ENGINE_DOC, False),
)
"""The search functions' arguments, declared once (``udfs._xw.shared_args`` checks each function against it)."""

search_args = xw.shared_args(SEARCH_ARGS)


def _one(name: str, value: Any, required: bool = True) -> Any:
    """A single numeric cell (a range is refused: one search per formula)."""
    x = number(name, value)
    if isinstance(x, np.ndarray):
        raise PlannerError(f"{name} must be a single cell here (one search per formula), got a range of {x.size}")
    if x is None and required:
        raise PlannerError(f"{name} is required")
    return x


def _ids(name: str, value: Any) -> list[str] | None:
    """Candidate ids from a cell ("a,b"), a row, a column or a 2-D range; empty cells are skipped; nothing: None."""
    if value is None:
        return None
    if isinstance(value, np.ndarray):
        value = value.tolist()
    cells = list(_flatten(value)) if isinstance(value, (list, tuple)) else [value]
    out: list[str] = []
    for c in cells:
        if c is None or (isinstance(c, str) and not c.strip()):
            continue
        if not isinstance(c, str):
            raise PlannerError(f"{name}: every cell must hold an id (text), got {c!r}")
        out += [s.strip() for s in c.split(",") if s.strip()]
    return out or None


def _flatten(value: Any) -> Any:
    for v in value:
        if isinstance(v, (list, tuple)):
            yield from _flatten(v)
        else:
            yield v


def _spec(model: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any, tpot_slo_ms: Any,
          budget_usd_month: Any, gpus: Any, dtypes: Any, engine: Any) -> Any:
    """The search's spec from the SEARCH_ARGS values, each coerced in one line."""
    return search.search_spec(
        required_text("model", model), _one("qps", qps), _one("input_tokens", input_tokens),
        _one("output_tokens", output_tokens), _one("ttft_slo_ms", ttft_slo_ms), _one("tpot_slo_ms", tpot_slo_ms),
        _one("budget_usd_month", budget_usd_month, required=False), _ids("gpus", gpus), _ids("dtypes", dtypes),
        engine=text("engine", engine))


def _table(rows: list[list[Any]]) -> Any:
    return table(rows[0], rows[1:])


# ------------------------------------------------------------------------------------------------------ search


@xw.func
@search_args
def BEST_CONFIG(model: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any, tpot_slo_ms: Any,
                budget_usd_month: Any = None, gpus: Any = None, dtypes: Any = None, engine: Any = None) -> Any:
    """The 10 cheapest plans (aggregated and disaggregated, any tp/pp/ep/batch) meeting the SLOs and budget, ranked:
    a table with a header row (accelerator, dtypes, parallelism, batch, replicas, GPUs, TPOT, TTFT, cost, wall)."""
    return _table(search.best_config_table(_spec(model, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                                                 budget_usd_month, gpus, dtypes, engine)))


@xw.func
@search_args
def PARETO(model: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any, tpot_slo_ms: Any,
           budget_usd_month: Any = None, gpus: Any = None, dtypes: Any = None, engine: Any = None) -> Any:
    """The Pareto front of output tokens/s per GPU vs tokens/s per user over configurations meeting the SLOs and the
    budget: a table with a header row, highest tokens/s per user first (same columns as BEST_CONFIG)."""
    return _table(search.pareto_table(_spec(model, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                                            budget_usd_month, gpus, dtypes, engine)))
