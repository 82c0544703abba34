"""Build a plan workbook from a spec: Plan, Roofline, Workings, Search, Catalogue, Assumptions and About sheets.

Every result is a live formula (``workbook.formulas``) over the input cells on the Plan sheet and the rows of the
Catalogue sheet; every quantity is a workbook-level defined name. After the sheets are laid out, the workbook's own
formulas are evaluated in-process (``workbook.evaluate``) and the values are stored in the file as cached results
(``workbook.cache``), so readers that do not compute still see every number; Excel and LibreOffice recompute on load.

``python -m workbook.build`` rewrites ``templates/plan-template.xlsx``.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.chart import Reference, ScatterChart, Series
from openpyxl.chart.marker import Marker
from openpyxl.chart.shapes import GraphicalProperties
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.workbook.defined_name import DefinedName
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from planner import walls as W
from planner.catalogue import Accelerator, Catalogue, Model, get_catalogue
from planner.efficiency import BURST_REFERENCE_OUTPUT_TOKENS, engine_batch_cap, serving_assumptions
from planner.errors import PlannerError, short
from planner.plan import BATCH_SEARCH_LIMIT, UNCAPPED_BATCH, PlanResult, evaluate
from planner.report import REQUIREMENT_FIELDS, RESULT_FIELDS
from planner.roofline import ALLREDUCES_PER_LAYER, CROSSOVER_SEARCH_LIMIT, EXPECTED_MAX_OF_NORMALS
from planner.spec import CONTROL_CHARACTERS, MAX_TOKENS, PlanSpec, default_spec
from planner.topology import MAX_GPUS_PER_REPLICA, PP_CHOICES, TP_SLOTS
from planner.units import ACTIVATION_BYTES, BYTES_PER_ELEMENT, COMPUTE_FALLBACK, DTYPES, HOURS_PER_MONTH, US_PER_S
from workbook import cache
from workbook import formulas as F
from workbook.evaluate import Evaluator, Text

FORMAT_VERSION = 1
"""Layout version of plan workbooks, stored on the About sheet (``whichwall_format``); read-back checks it."""

MARKER = "whichwall plan workbook"
"""About!A1 of every plan workbook: how read-back recognises one."""

SHEETS = ("Plan", "Roofline", "Workings", "Search", "Catalogue", "Efficiency", "Assumptions", "About")

ACC_FIRST_ROW = 6
ACC_CAPACITY = 60
MODEL_HEADER_ROW = ACC_FIRST_ROW + ACC_CAPACITY + 3
MODEL_FIRST_ROW = MODEL_HEADER_ROW + 1
MODEL_CAPACITY = 200

SWEEP_BATCHES = tuple(2**i for i in range(11))
"""Batch sizes of the Roofline sheet's sweep (plus the operating batch)."""

INPUT_NAMES: dict[str, str] = {
    "name": "plan_name", "model": "model", "accelerator": "gpu", "dtype": "dtype", "kv_dtype": "kv_dtype",
    "engine": "engine", "tp": "tp_input", "pp": "pp_input", "ep": "ep_input", "qps": "qps",
    "input_tokens": "input_tokens", "output_tokens": "output_tokens",
    "ttft_slo_ms": "ttft_slo_ms", "tpot_slo_ms": "tpot_slo_ms", "budget_usd_month": "budget_usd_month",
}
"""Spec field → defined name of its input cell (``tp_input``: the tp named ``tp`` is the one in use; pp, ep
alike)."""

LAYOUT_INPUTS = ("tp", "pp", "ep")
"""Inputs that are a number or 'auto'."""

EXTRA_INPUTS: tuple[tuple[str, str, str, str], ...] = (
    ("usd_per_gpu_hour", "usd_per_gpu_hour_input", "price override", "USD/GPU-hour; blank = catalogue price"),
    ("max_batch", "max_batch_input", "engine batch cap (max_batch)",
     "sequences per replica; blank = the engine's default"),
    ("accelerators", "search_accelerators", "candidate accelerators", "comma-separated ids (for searches)"),
    ("dtypes", "search_dtypes", "candidate dtypes", "comma-separated (for searches)"),
    ("notes", "plan_notes", "notes", "free text"),
)

_BAD_NAME = re.compile(r"^([A-Za-z]{1,3}[0-9]+|[Rr][0-9]*[Cc]?[0-9]*)$")

# ---------------------------------------------------------------------------------------------------------- styles

_THIN = Side(style="thin", color="B7B7B7")
BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
INPUT_FONT = Font(color="0000CC", bold=True)
SECTION_FILL = PatternFill("solid", fgColor="1F3864")
SECTION_FONT = Font(color="FFFFFF", bold=True, size=12)
HEADER_FILL = PatternFill("solid", fgColor="D9E1F2")
HEADER_FONT = Font(bold=True)
TITLE_FONT = Font(bold=True, size=16, color="1F3864")
NOTE_FONT = Font(italic=True, color="666666", size=9)
KEY_FONT = Font(color="999999", size=8)
BIND_FILL = PatternFill("solid", fgColor="FFC7CE")
BIND_FONT = Font(color="9C0006", bold=True)
USED_FILL = PatternFill("solid", fgColor="E2EFDA")
WRAP = Alignment(wrap_text=True, vertical="top")

FORMATS: dict[str, str] = {
    "GB": "#,##0.00", "ms": "#,##0.00", "bytes": "#,##0", "FLOP/byte": "#,##0.00", "sequences": "#,##0",
    "experts": "0.00", "requests/s": "#,##0.000", "tokens/s": "#,##0.0", "USD/GPU-hour": "#,##0.00",
    "USD/month": "#,##0", "USD": "#,##0.00", "utilization": "0.0%", "GPUs per replica": "0", "GPUs": "0",
    "stages": "0", "": "General", "tokens/request": "#,##0",
}


def _version() -> str:
    try:
        return version("whichwall")
    except PackageNotFoundError:  # a source tree that is not installed
        return "0+unknown"


# ----------------------------------------------------------------------------------------------------------- book


@dataclass
class Book:
    """An openpyxl workbook plus what the evaluator needs: every cell's raw content and the defined names."""

    wb: Workbook
    cells: dict[str, dict[str, Any]] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    shapes: dict[tuple[str, str], Hashable] = field(default_factory=dict)
    _lower: set[str] = field(default_factory=set)

    def sheet(self, title: str) -> Worksheet:
        return self.wb[title]

    def put(self, ws: Worksheet, row: int, col: int, value: Any, *, fmt: str | None = None,
            font: Font | None = None, fill: PatternFill | None = None, name: str | None = None) -> str:
        """Write a literal (text is always text, even when it starts with = + - @). Returns the address."""
        cell = ws.cell(row, col)
        if isinstance(value, str):
            bad = CONTROL_CHARACTERS.search(value)
            if bad:  # a user catalogue's name, note or source (spec text is checked when the spec is read)
                raise PlannerError(f"the text {short(value)} for {ws.title}!{cell.coordinate} contains the control "
                                   f"character {bad.group()!r}, which a workbook cell cannot hold; remove it from "
                                   f"the catalogue or spec it came from")
            cell.value = value
            cell.data_type = "s"
            if value[:1] in ("=", "+", "-", "@"):
                cell.quotePrefix = True
            self.cells.setdefault(ws.title, {})[cell.coordinate] = Text(value)
        else:
            cell.value = value
            self.cells.setdefault(ws.title, {})[cell.coordinate] = value
        self._style(cell, fmt, font, fill)
        if name:
            self.name(name, ws, row, col)
        return cell.coordinate

    def formula(self, ws: Worksheet, row: int, col: int, expr: str, *, fmt: str | None = None,
                font: Font | None = None, fill: PatternFill | None = None, name: str | None = None,
                shape: Hashable | None = None) -> str:
        """Write a formula (``expr`` without the leading =). ``shape``: a key shared by the cells of a table column
        whose formulas are one formula copied down (the evaluator parses it once)."""
        cell = ws.cell(row, col)
        cell.value = "=" + expr
        self.cells.setdefault(ws.title, {})[cell.coordinate] = "=" + expr
        if shape is not None:
            self.shapes[(ws.title, cell.coordinate)] = (ws.title, shape)
        self._style(cell, fmt, font, fill)
        if name:
            self.name(name, ws, row, col)
        return cell.coordinate

    @staticmethod
    def _style(cell: Any, fmt: str | None, font: Font | None, fill: PatternFill | None) -> None:
        if fmt:
            cell.number_format = fmt
        if font:
            cell.font = font
        if fill:
            cell.fill = fill

    def name(self, name: str, ws: Worksheet, row: int, col: int, row2: int | None = None,
             col2: int | None = None) -> None:
        """A workbook-level defined name for a cell or a block."""
        if _BAD_NAME.match(name) or name.lower() in ("true", "false"):
            raise ValueError(f"{name!r} cannot be a defined name (it reads as a cell reference)")
        if name.lower() in self._lower:
            raise ValueError(f"defined name {name!r} is used twice")
        self._lower.add(name.lower())
        ref = f"{_sheet(ws.title)}!${get_column_letter(col)}${row}"
        if row2 is not None or col2 is not None:
            ref += f":${get_column_letter(col2 or col)}${row2 or row}"
        self.names[name] = ref
        self.wb.defined_names[name] = DefinedName(name, attr_text=ref)

    def formula_name(self, name: str, expr: str) -> None:
        """A defined name holding a formula (used for drop-down lists; not evaluated in-process)."""
        self.wb.defined_names[name] = DefinedName(name, attr_text=expr)


def _sheet(title: str) -> str:
    return title if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) else quote_sheetname(title)


def _ref(ws_title: str, row: int, col: int) -> str:
    return f"{_sheet(ws_title)}!${get_column_letter(col)}${row}"


def _addr(row: int, col: int) -> str:
    return f"${get_column_letter(col)}${row}"


def _section(book: Book, ws: Worksheet, row: int, title: str, width: int) -> None:
    for c in range(1, width + 1):
        ws.cell(row, c).fill = SECTION_FILL
    book.put(ws, row, 1, title, font=SECTION_FONT)


def _headers(book: Book, ws: Worksheet, row: int, col: int, headers: Iterable[str]) -> None:
    for i, h in enumerate(headers):
        book.put(ws, row, col + i, h, font=HEADER_FONT, fill=HEADER_FILL)
        ws.cell(row, col + i).alignment = Alignment(wrap_text=True, vertical="bottom")


# ------------------------------------------------------------------------------------------------------ catalogue


@dataclass(frozen=True)
class _Col:
    key: str
    header: str
    width: float = 10
    get: Callable[[Any], Any] | None = None
    fmt: str = ""


def _us(seconds: float) -> float:
    return float(f"{seconds * US_PER_S:.15g}")


def _ms(seconds: float) -> float:
    return float(f"{seconds * 1000.0:.15g}")


def _peak(d: str) -> Callable[[Accelerator], Any]:
    return lambda a: a.dense_peak_tflops.get(d)  # type: ignore[call-overload]




ACC_COLUMNS: tuple[_Col, ...] = (
    _Col("id", "id", 16, lambda a: a.id),
    _Col("name", "name", 20, lambda a: a.name),
    _Col("vendor", "vendor", 9, lambda a: a.vendor),
    _Col("family", "family", 14, lambda a: a.family),
    _Col("memory_gb", "memory (GB)", 9, lambda a: a.memory_gb),
    _Col("memory_bandwidth_tbs", "bandwidth (TB/s)", 9, lambda a: a.memory_bandwidth_tbs),
    *(_Col(f"peak_{d}", f"dense {d} (TFLOP/s)", 9, _peak(d)) for d in DTYPES),
    _Col("scaleup_name", "scale-up link", 16, lambda a: a.scaleup.name if a.scaleup else None),
    _Col("scaleup_gbs", "scale-up GB/s per direction", 10,
         lambda a: a.scaleup.gbs_per_direction if a.scaleup else None),
    _Col("scaleup_domain", "scale-up domain (GPUs)", 9, lambda a: a.scaleup.domain if a.scaleup else None),
    _Col("pcie_name", "PCIe", 10, lambda a: a.pcie.name if a.pcie else None),
    _Col("pcie_gbs", "PCIe GB/s per direction", 9, lambda a: a.pcie.gbs_per_direction if a.pcie else None),
    _Col("pcie_domain", "PCIe host (GPUs)", 8, lambda a: a.pcie.domain if a.pcie else None),
    _Col("scaleout_name", "scale-out NIC (between hosts)", 16, lambda a: a.scaleout.name if a.scaleout else None),
    _Col("scaleout_gbs", "scale-out GB/s per GPU per direction (blank: the default)", 10,
         lambda a: a.scaleout.gbs_per_direction if a.scaleout else None),
    _Col("usd_per_gpu_hour", "price (USD/GPU-hour)", 9, lambda a: a.usd_per_gpu_hour),
    _Col("source", "source", 60, lambda a: a.source),
)


def _moe(attr: str) -> Callable[[Model], Any]:
    return lambda m: getattr(m.moe, attr) if m.moe else None


def _att(attr: str) -> Callable[[Model], Any]:
    return lambda m: getattr(m.attention, attr, None)


MODEL_COLUMNS: tuple[_Col, ...] = (
    _Col("id", "id", 16, lambda m: m.id),
    _Col("name", "name", 20, lambda m: m.name),
    _Col("hf_repo", "Hugging Face repo", 24, lambda m: m.hf_repo),
    _Col("layers", "layers", 7, lambda m: m.layers),
    _Col("hidden_size", "hidden size", 8, lambda m: m.hidden_size),
    _Col("vocab_size", "vocab", 9, lambda m: m.vocab_size),
    _Col("tie_word_embeddings", "tied embeddings", 8, lambda m: m.tie_word_embeddings),
    _Col("intermediate_size", "intermediate size", 10, lambda m: m.intermediate_size),
    _Col("attention", "attention (gqa/mla)", 9, lambda m: m.attention.kind),
    _Col("heads", "heads", 7, _att("heads")),
    _Col("kv_heads", "KV heads", 7, _att("kv_heads")),
    _Col("head_dim", "head dim", 7, _att("head_dim")),
    _Col("qkv_bias", "qkv bias", 7, _att("qkv_bias")),
    _Col("q_lora_rank", "q LoRA rank", 8, _att("q_lora_rank")),
    _Col("kv_lora_rank", "KV LoRA rank", 8, _att("kv_lora_rank")),
    _Col("qk_nope_head_dim", "qk nope dim", 8, _att("qk_nope_head_dim")),
    _Col("qk_rope_head_dim", "qk rope dim", 8, _att("qk_rope_head_dim")),
    _Col("v_head_dim", "v head dim", 8, _att("v_head_dim")),
    _Col("experts", "routed experts", 8, _moe("experts")),
    _Col("experts_per_token", "experts per token", 8, _moe("experts_per_token")),
    _Col("shared_experts", "shared experts", 8, _moe("shared_experts")),
    _Col("expert_intermediate_size", "expert intermediate size", 10, _moe("expert_intermediate_size")),
    _Col("first_dense_layers", "first dense layers", 8, _moe("first_dense_layers")),
    _Col("window_tokens", "sliding window (tokens)", 9,
         lambda m: m.sliding_window.tokens if m.sliding_window else None),
    _Col("window_layers", "sliding-window layers", 9, lambda m: m.sliding_window.layers if m.sliding_window else None),
)
MODEL_SOURCE = _Col("source", "source", 60, lambda m: m.source)


def _catalogue_sheet(book: Book, cat: Catalogue, result: PlanResult) -> None:
    ws = book.sheet("Catalogue")
    book.put(ws, 1, 1, "Catalogue", font=TITLE_FONT)
    book.put(ws, 2, 1, "The accelerators and models the plan's formulas look up (the plan's rows are green). Add a "
             "row by hand below the last one, with a unique id; blank efficiency cells take the defaults on the "
             "Assumptions sheet. Derived model columns are formulas: copy them down.", font=NOTE_FONT)
    book.put(ws, 3, 1, "Accelerators", font=SECTION_FONT, fill=SECTION_FILL)
    last_acc = ACC_FIRST_ROW + ACC_CAPACITY - 1
    # key row (machine-readable keys; dtypes above the per-dtype columns) and headers
    for c, col in enumerate(ACC_COLUMNS, start=1):
        key = col.key.removeprefix("peak_")
        book.put(ws, 4, c, key, font=KEY_FONT)
        ws.column_dimensions[get_column_letter(c)].width = col.width
    _headers(book, ws, 5, 1, [c.header for c in ACC_COLUMNS])
    accs = list(cat.accelerators.values())
    if len(accs) > ACC_CAPACITY:
        raise PlannerError(f"the catalogue has {len(accs)} accelerators (built-in plus user catalogue files); a plan "
                           f"workbook holds {ACC_CAPACITY}: use user catalogue files with fewer accelerators")
    for r, acc in enumerate(accs, start=ACC_FIRST_ROW):
        for c, col in enumerate(ACC_COLUMNS, start=1):
            value = col.get(acc) if col.get else None
            if value is not None and value != "":
                book.put(ws, r, c, value)
    keys = [c.key for c in ACC_COLUMNS]
    for c, key in enumerate(keys, start=1):
        book.name(f"cat_acc_{key}", ws, ACC_FIRST_ROW, c, last_acc, c)
    p1, p2 = keys.index(f"peak_{DTYPES[0]}") + 1, keys.index(f"peak_{DTYPES[-1]}") + 1
    book.name("cat_acc_peaks", ws, ACC_FIRST_ROW, p1, last_acc, p2)
    book.name("cat_peak_dtypes", ws, 4, p1, 4, p2)
    book.formula_name("accelerator_ids", f"OFFSET({_ref('Catalogue', ACC_FIRST_ROW, 1)},0,0,"
                      f"MAX(1,COUNTA(Catalogue!$A${ACC_FIRST_ROW}:$A${last_acc})),1)")
    width = len(ACC_COLUMNS)
    ws.conditional_formatting.add(
        f"A{ACC_FIRST_ROW}:{get_column_letter(width)}{last_acc}",
        FormulaRule(formula=[f"AND($A{ACC_FIRST_ROW}<>\"\",$A{ACC_FIRST_ROW}=gpu)"], fill=USED_FILL))

    # models
    book.put(ws, MODEL_HEADER_ROW - 2, 1, "Models", font=SECTION_FONT, fill=SECTION_FILL)
    columns = [*MODEL_COLUMNS, *(_Col(d.key, d.header, d.width, None, d.fmt) for d in F.MODEL_DERIVED), MODEL_SOURCE]
    mkeys = [c.key for c in columns]
    for c, col in enumerate(columns, start=1):
        book.put(ws, MODEL_HEADER_ROW - 1, c, col.key, font=KEY_FONT)
        if ws.column_dimensions[get_column_letter(c)].width < col.width:
            ws.column_dimensions[get_column_letter(c)].width = col.width
    _headers(book, ws, MODEL_HEADER_ROW, 1, [c.header for c in columns])
    models = list(cat.models.values())
    if len(models) > MODEL_CAPACITY:
        raise PlannerError(f"the catalogue has {len(models)} models (built-in plus user catalogue files); a plan "
                           f"workbook holds {MODEL_CAPACITY}: use user catalogue files with fewer models")
    derived = {d.key: d for d in F.MODEL_DERIVED}
    last_model = MODEL_FIRST_ROW + MODEL_CAPACITY - 1
    for r, model in enumerate(models, start=MODEL_FIRST_ROW):
        refs = {key: f"${get_column_letter(c)}{r}" for c, key in enumerate(mkeys, start=1)}
        for c, col in enumerate(columns, start=1):
            if col.key in derived:
                book.formula(ws, r, c, derived[col.key].formula.format_map(refs), fmt=derived[col.key].fmt or None,
                             shape=("model", col.key))
                continue
            value = col.get(model) if col.get else None
            if value is not None and value != "":
                book.put(ws, r, c, value)
    for c, key in enumerate(mkeys, start=1):
        book.name(f"cat_model_{key}", ws, MODEL_FIRST_ROW, c, last_model, c)
    book.formula_name("model_ids", f"OFFSET({_ref('Catalogue', MODEL_FIRST_ROW, 1)},0,0,"
                      f"MAX(1,COUNTA(Catalogue!$A${MODEL_FIRST_ROW}:$A${last_model})),1)")
    ws.conditional_formatting.add(
        f"A{MODEL_FIRST_ROW}:{get_column_letter(len(columns))}{last_model}",
        FormulaRule(formula=[f"AND($A{MODEL_FIRST_ROW}<>\"\",$A{MODEL_FIRST_ROW}=model)"], fill=USED_FILL))
    ws.freeze_panes = "B6"


# ---------------------------------------------------------------------------------------------------- assumptions


def _fraction(d: str) -> Callable[[Any], Any]:
    return lambda e: e.compute(d)


EFF_COLUMNS: tuple[tuple[str, str, Callable[[Any], Any]], ...] = (
    ("bandwidth_fraction", "bandwidth fraction", lambda e: e.bandwidth_fraction),
    *((f"compute_{d}", f"compute fraction {d}", _fraction(d)) for d in DTYPES),
    ("prefill_compute_fraction", "prefill compute fraction, 16-bit (other dtypes: × their decode fraction ÷ the "
     "16-bit one; blank: decode's)", lambda e: e.prefill_compute_fraction),
    ("expert_bandwidth_fraction", "routed-expert bandwidth fraction", lambda e: e.expert_bandwidth_fraction),
    ("expert_compute_fraction", "routed-expert compute fraction", lambda e: e.expert_compute_fraction),
    ("prefill_expert_compute_fraction", "routed-expert compute fraction, prefill",
     lambda e: e.prefill_expert_compute),
    ("expert_overhead_us", "fixed cost per routed-expert GEMM (µs)", lambda e: _us(e.expert_overhead_s)),
    ("link_fraction", "link fraction", lambda e: e.link_fraction),
    ("scaleup_latency_us", "scale-up latency (µs)", lambda e: _us(e.scaleup_latency_s)),
    ("pcie_latency_us", "PCIe latency (µs)", lambda e: _us(e.pcie_latency_s)),
    ("layer_overhead_us", "overhead per layer (µs)", lambda e: _us(e.layer_overhead_s)),
    ("sequence_overhead_us", "overhead per sequence per layer (µs)", lambda e: _us(e.sequence_overhead_s)),
    ("request_overhead_ms", "overhead per request (ms)", lambda e: _ms(e.request_overhead_s)),
    ("burst_coefficient", "TTFT burst a", lambda e: e.burst_coefficient),
    ("burst_exponent", "TTFT burst β", lambda e: e.burst_exponent),
    ("burst_output_exponent", "TTFT burst δ", lambda e: e.burst_output_exponent),
    ("replicate_kv", "KV splits by head only", lambda e: e.replicate_kv),
    ("calibration_rows", "calibrated on (measured rows; 0: defaults)", lambda e: e.calibration_rows),
)
"""The Efficiency table: one row per (accelerator, engine), ``planner.efficiency.expected_efficiency`` resolved."""

EFF_CAPACITY_SPARE = 120
"""Blank rows left below the Efficiency table for rows added by hand."""


def _efficiency_sheet(book: Book, cat: Catalogue) -> None:
    from planner.efficiency import ENGINES

    ws = book.sheet("Efficiency")
    book.put(ws, 1, 1, "Efficiency", font=TITLE_FONT)
    book.put(ws, 2, 1, "How close real serving engines get to the catalogue peaks, per accelerator and engine "
             "(planner/data/serving.yaml, fitted to measurements; floors use none of it). An accelerator without "
             "rows here takes the engine's default@ row. Add rows by hand below the last, keyed id@engine.",
             font=NOTE_FONT)
    keys = ["key", "accelerator", "engine", *(k for k, _, _ in EFF_COLUMNS), "source"]
    for c, key in enumerate(keys, start=1):
        book.put(ws, 4, c, key.removeprefix("compute_"), font=KEY_FONT)
        ws.column_dimensions[get_column_letter(c)].width = 11
    ws.column_dimensions["A"].width = 22
    ws.column_dimensions["B"].width = 16
    ws.column_dimensions[get_column_letter(len(keys))].width = 80
    _headers(book, ws, 5, 1, ["id@engine", "accelerator", "engine", *(h for _, h, _ in EFF_COLUMNS), "source"])
    rows = [("default", e, cat.efficiency("", e)) for e in ENGINES]  # this catalogue's, with its user files
    rows += [(a.id, e, cat.efficiency(a.id, e)) for a in cat.accelerators.values() for e in ENGINES]
    first = 6
    for i, (acc_id, engine, eff) in enumerate(rows):
        r = first + i
        book.put(ws, r, 1, f"{acc_id}@{engine}")
        book.put(ws, r, 2, acc_id)
        book.put(ws, r, 3, engine)
        for j, (_, _, get) in enumerate(EFF_COLUMNS):
            value = get(eff)
            if value is not None:
                book.put(ws, r, 4 + j, value)
        book.put(ws, r, 4 + len(EFF_COLUMNS), eff.source, font=NOTE_FONT)
    last = first + len(rows) - 1 + EFF_CAPACITY_SPARE
    book.name("eff_key_column", ws, first, 1, last, 1)
    for j, (key, _, _) in enumerate(EFF_COLUMNS):
        if not key.startswith("compute_"):
            book.name(f"eff_{key}_column", ws, first, 4 + j, last, 4 + j)
    c1 = 4 + [k for k, _, _ in EFF_COLUMNS].index(f"compute_{DTYPES[0]}")
    c2 = 4 + [k for k, _, _ in EFF_COLUMNS].index(f"compute_{DTYPES[-1]}")
    book.name("eff_compute_columns", ws, first, c1, last, c2)
    book.name("eff_compute_dtypes", ws, 4, c1, 4, c2)
    ws.conditional_formatting.add(
        f"A{first}:{get_column_letter(len(keys))}{last}",
        FormulaRule(formula=[f"$A{first}=INDEX(eff_key_column,eff_row)"], fill=USED_FILL))
    ws.freeze_panes = "D6"


def _assumptions_sheet(book: Book) -> None:
    ws = book.sheet("Assumptions")
    serving = serving_assumptions()
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 14
    for col in "CDEFGHI":
        ws.column_dimensions[col].width = 11
    ws.column_dimensions["J"].width = 90
    book.put(ws, 1, 1, "Assumptions", font=TITLE_FONT)
    book.put(ws, 2, 1, "Constants and defaults the formulas use (from planner/data/serving.yaml and planner's code). "
             "Edit with care: the planner uses the same values.", font=NOTE_FONT)
    _section(book, ws, 4, "Constants", 10)
    scaleout = serving.scaleout_default
    consts = [
        ("memory_reserve_fraction", "memory held back per GPU", serving.memory_reserve_fraction, "0%",
         serving.memory_reserve_source),
        ("hours_per_month", "hours in a month", HOURS_PER_MONTH, "0", "whichwall's unit: a month is 730 hours"),
        ("batch_search_limit", "largest microbatch considered", BATCH_SEARCH_LIMIT, "#,##0",
         "planner.evaluator.BATCH_SEARCH_LIMIT"),
        ("crossover_search_limit", "largest batch the crossover search considers", CROSSOVER_SEARCH_LIMIT, "#,##0",
         "planner.roofline.CROSSOVER_SEARCH_LIMIT"),
        ("max_gpus_per_replica", "most GPUs per replica (tp × pp)", MAX_GPUS_PER_REPLICA, "0",
         f"planner.topology.MAX_GPUS_PER_REPLICA; automatic layouts try tp in the first {TP_SLOTS} sizes engines "
         f"run and pp in {', '.join(map(str, PP_CHOICES))}"),
        ("replica_tolerance", "slack when rounding replicas up", F.REPLICA_TOLERANCE, "0E+00",
         "planner.topology.REPLICA_TOLERANCE: ceil(qps / rps − 1e-9)"),
        ("scaleout_default_gbs", "scale-out NIC per GPU where the Catalogue has none (GB/s per direction)",
         scaleout.gbs_per_direction if scaleout else 0.0, "0.0", scaleout.source if scaleout else ""),
        ("activation_bytes", "bytes per activation (all-reduce messages, pipeline hops)", ACTIVATION_BYTES, "0",
         "planner.units.ACTIVATION_BYTES (written into the network formulas)"),
        ("allreduces_per_layer", "all-reduces per layer", ALLREDUCES_PER_LAYER, "0",
         "planner.roofline.ALLREDUCES_PER_LAYER (written into the network formulas)"),
        ("burst_reference_output_tokens", "output length the TTFT burst term is normalised to",
         BURST_REFERENCE_OUTPUT_TOKENS, "0", "planner.efficiency.BURST_REFERENCE_OUTPUT_TOKENS"),
        ("uncapped_batch", "next wall: the engine's batch cap lifted to", UNCAPPED_BATCH, "#,##0",
         "planner.plan.UNCAPPED_BATCH: the next wall where the engine's cap binds (rule 7)"),
        *((f"relaxation_{key}", f"next wall: relax {wall} by", W.RELAXATIONS[wall][0], "0.0",
           f"planner.walls.RELAXATIONS: {W.RELAXATIONS[wall][1]}") for wall, key in F.RELAXATION_KEYS.items()),
    ]
    row = 5
    for name, label, value, fmt, note in consts:
        book.put(ws, row, 1, label)
        book.put(ws, row, 2, value, fmt=fmt, name=name)
        book.put(ws, row, 10, note, font=NOTE_FONT)
        row += 1

    row += 1
    _section(book, ws, row, "Dtypes", 10)
    row += 1
    _headers(book, ws, row, 1, ["dtype", "bytes per element", "compute at 1st", "else 2nd", "else 3rd"])
    first = row + 1
    for i, d in enumerate(DTYPES):
        r = first + i
        book.put(ws, r, 1, d)
        book.put(ws, r, 2, BYTES_PER_ELEMENT[d])
        chain = list(COMPUTE_FALLBACK[d])
        chain += [chain[-1]] * (3 - len(chain))
        for j, fb in enumerate(chain[:3]):
            book.put(ws, r, 3 + j, fb)
    last = first + len(DTYPES) - 1
    book.name("dtype_ids", ws, first, 1, last, 1)
    book.name("dtype_bytes", ws, first, 2, last, 2)
    book.name("dtype_fallbacks", ws, first, 3, last, 5)
    book.put(ws, first, 10, "The compute rate that goes with a weight format: its own dense rate where the "
             "accelerator has one, else the next (weight-only quantization multiplies at the 16-bit rate).",
             font=NOTE_FONT)
    row = last + 2

    _section(book, ws, row, "Expert-parallel load (planner.roofline.EXPECTED_MAX_OF_NORMALS)", 10)
    row += 1
    _headers(book, ws, row, 1, ["ep groups n", "E[max of n standard normals]"])
    first = row + 1
    for i, z in enumerate(EXPECTED_MAX_OF_NORMALS):
        book.put(ws, first + i, 1, 2**i)
        book.put(ws, first + i, 2, z, fmt="0.0000")
    last = first + len(EXPECTED_MAX_OF_NORMALS) - 1
    book.name("expected_max_of_normals", ws, first, 2, last, 2)
    book.put(ws, first, 10, "Under expert parallelism (ep > 1) a step waits for the busiest of the ep groups: "
             "experts loaded per MoE layer x = t + z_ep · √(ep · t · (1 − t / E)), t the experts the tokens touch, "
             "z_ep this column interpolated linearly in log2(ep) (planner.roofline.expert_load).", font=NOTE_FONT)
    row = last + 2

    row = _engine_table(book, ws, row)

    row = _text_table(book, ws, row, "The binding-wall rule (planner.walls)",
                      [(f"rule {i}", t) for i, t in enumerate(F.RULE_TEXTS, start=1)], None, "rule_texts")
    row = _text_table(book, ws, row, "What the binding wall's reading means, by rule (planner.walls.BINDING_UNITS)",
                      [(f"rule {i}", t) for i, t in enumerate(F.BINDING_UNIT_TEXTS, start=1)], None,
                      "binding_unit_texts")
    _text_table(book, ws, row, "How the next wall relaxes the binding one (planner.walls.RELAXATIONS)",
                [(wall, text) for wall, (_, text) in W.RELAXATIONS.items()], "relaxation_walls", "relaxation_texts")


def _text_table(book: Book, ws: Worksheet, row: int, title: str, pairs: list[tuple[str, str]],
                key_name: str | None, text_name: str) -> int:
    """A titled two-column table of (key, text) from ``row``, its columns named ``key_name`` (if any) and
    ``text_name``; the row after it and a blank row."""
    _section(book, ws, row, title, 10)
    first = row + 1
    for i, (key, text) in enumerate(pairs):
        book.put(ws, first + i, 1, key)
        book.put(ws, first + i, 2, text)
    last = first + len(pairs) - 1
    if key_name:
        book.name(key_name, ws, first, 1, last, 1)
    book.name(text_name, ws, first, 2, last, 2)
    return last + 2


ENGINE_TABLE: tuple[tuple[str, str], ...] = (
    ("max_sequences", "sequences at once (blank: no fixed cap)"),
    ("small_max_sequences", "on a small GPU"),
    ("max_batched_tokens", "prompt tokens per iteration"),
    ("small_max_batched_tokens", "on a small GPU"),
    ("small_below_gib", "small: under GiB"),
)
"""The engine table's number columns (defined names ``engine_cap_<key>``), then the small-GPU ids."""


def _engine_defaults(engine: str) -> tuple[dict[str, Any], tuple[str, ...], str]:
    """An engine's row of the engine table: ``serving.yaml``'s ``engine_batch_caps`` entry
    (``planner.efficiency.engine_batch_cap``), its small-GPU ids and source."""
    cap = engine_batch_cap(engine)
    if len(cap.small_gpu_ids) > F.ENGINE_SMALL_ID_SLOTS:
        raise PlannerError(f"serving.yaml's engine_batch_caps.{engine} lists {len(cap.small_gpu_ids)} small-GPU ids; "
                           f"a plan workbook holds {F.ENGINE_SMALL_ID_SLOTS} (workbook/formulas.py "
                           f"ENGINE_SMALL_ID_SLOTS)")
    values = {"max_sequences": cap.max_sequences, "small_max_sequences": cap.small_gpu_max_sequences,
              "max_batched_tokens": cap.max_batched_tokens,
              "small_max_batched_tokens": cap.small_gpu_max_batched_tokens,
              "small_below_gib": cap.small_gpu_below_gib}
    return values, cap.small_gpu_ids, cap.source


def _engine_table(book: Book, ws: Worksheet, row: int) -> int:
    """Each serving engine's default batch cap and token budget (``planner.efficiency.engine_max_sequences``,
    ``engine_token_budget``): the cap a plan runs under unless max_batch is given, and how many arriving prompts one
    iteration prefills together."""
    from planner.efficiency import ENGINES

    _section(book, ws, row, "Serving engines' defaults (serving.yaml engine_batch_caps): sequences a replica runs at "
             "once, prompt tokens per iteration", 10)
    row += 1
    ids = F.ENGINE_SMALL_ID_SLOTS
    _headers(book, ws, row, 1, ["engine", *(h for _, h in ENGINE_TABLE), *(["small: id contains"] * ids)])
    ws.row_dimensions[row].height = 30
    first = row + 1
    for i, engine in enumerate(ENGINES):
        r = first + i
        values, small_ids, source = _engine_defaults(engine)
        book.put(ws, r, 1, engine)
        for j, (key, _) in enumerate(ENGINE_TABLE):
            if values.get(key) is not None:
                book.put(ws, r, 2 + j, values[key], fmt="#,##0")
        for j, ident in enumerate(small_ids):
            book.put(ws, r, 2 + len(ENGINE_TABLE) + j, ident)
        book.put(ws, r, 10, source, font=NOTE_FONT)
    last = first + len(ENGINES) - 1
    book.name("engine_cap_engines", ws, first, 1, last, 1)
    for j, (key, _) in enumerate(ENGINE_TABLE):
        book.name(f"engine_cap_{key}", ws, first, 2 + j, last, 2 + j)
    c = 2 + len(ENGINE_TABLE)
    book.name("engine_cap_small_ids", ws, first, c, last, c + ids - 1)
    return last + 2


# ------------------------------------------------------------------------------------------------------ workings


WORKINGS_COLUMNS = ("label", "value", "relaxed", "unit", "name", "note")
"""The Workings sheet's columns: a quantity's value for the plan, and for pairs, for the plan's layout with the
binding wall relaxed (the next wall)."""


def _step_table(book: Book, ws: Worksheet, row: int, col: int, rows: dict[str, tuple[str, dict[str, str]]]) -> int:
    """Rows of ``planner.roofline.step_time`` (the floors: overlap), each named ``<step>_<part>``."""
    columns = [*F.STEP_ARGS, *F.STEP_PARTS]
    _headers(book, ws, row, col, ["step", *columns])
    row += 1
    for prefix, (label, args) in rows.items():
        book.put(ws, row, col, label)
        addr = {c: _addr(row, col + 1 + i) for i, c in enumerate(columns)}
        parts = F.step_time({a: addr[a] for a in F.STEP_ARGS}, addr.__getitem__, overlap=True)
        for i, c in enumerate(columns):
            fmt = "0" if c in ("tp", "kv_split", "sequences") else "0.000E+00"
            book.formula(ws, row, col + 1 + i, args[c] if c in args else parts[c], fmt=fmt, name=f"{prefix}_{c}")
        row += 1
    return row


RIGHT = Alignment(horizontal="right")


def _quantity(book: Book, ws: Worksheet, row: int, q: F.Quantity, relaxed: F.Quantity | None = None) -> None:
    book.put(ws, row, 1, q.label)
    fmt = q.fmt or FORMATS.get(q.unit, "General")
    book.formula(ws, row, 2, q.formula, fmt=fmt, name=q.name)
    ws.cell(row, 2).alignment = RIGHT
    if relaxed is not None:
        book.formula(ws, row, 3, relaxed.formula, fmt=fmt, name=relaxed.name)
        ws.cell(row, 3).alignment = RIGHT
    book.put(ws, row, 4, q.unit)
    book.put(ws, row, 5, q.name + (f", {relaxed.name}" if relaxed is not None else ""), font=KEY_FONT)
    if q.note:
        book.put(ws, row, 6, q.note, font=NOTE_FONT)


def _quantity_rows(book: Book, ws: Worksheet, row: int, sections: list[tuple[str, list[F.Quantity]]]) -> int:
    for title, quantities in sections:
        _section(book, ws, row, title, len(WORKINGS_COLUMNS))
        row += 1
        for q in quantities:
            _quantity(book, ws, row, q)
            row += 1
        row += 1
    return row


def _pair_rows(book: Book, ws: Worksheet, row: int, title: str, plan: list[F.Quantity],
               relaxed: list[F.Quantity]) -> int:
    _section(book, ws, row, title, len(WORKINGS_COLUMNS))
    row += 1
    _headers(book, ws, row, 1, ["", "the plan", "relaxed (next wall)", "unit", "names"])
    row += 1
    for q, rx in zip(plan, relaxed, strict=True):
        _quantity(book, ws, row, q, rx)
        row += 1
    return row + 1


def _operating(s: F.Side) -> list[F.Quantity]:
    return [F.Quantity(s.op(o.key), o.label, o.unit, o.make(s), o.fmt) for o in F.OPERATING]


def relaxed_side() -> F.Side:
    """The relaxed side: the relaxed row of the candidate table (Search sheet)."""
    keys = [c.key for c in F.CANDIDATE_COLUMNS]
    return F.Side(True, lambda col: f"Search!${get_column_letter(1 + keys.index(col))}${SEARCH_RELAXED_ROW}")


def _workings_sheet(book: Book) -> None:
    ws = book.sheet("Workings")
    book.put(ws, 1, 1, "Workings", font=TITLE_FONT)
    book.put(ws, 2, 1, "Every intermediate quantity, as a named formula (column E). Rates and the operating point "
             "come twice: for the plan (its names) and for the plan's layout with the binding wall relaxed "
             "(rx_ names; its wall is the next wall). The floors at the bottom are planner.roofline.step_time.",
             font=NOTE_FONT)
    for col, width in zip("ABCDEF", (50, 16, 16, 12, 34, 60), strict=True):
        ws.column_dimensions[col].width = width
    sections = F.workings()
    row = _quantity_rows(book, ws, 4, sections[:3])
    rx = relaxed_side()
    row = _pair_rows(book, ws, row, "Rates: catalogue figures × measured fractions", F.rate_quantities(F.PLAN),
                     F.rate_quantities(rx))
    row = _quantity_rows(book, ws, row, [*sections[3:], ("Next wall: the binding wall relaxed (planner.walls."
                                                          "RELAXATIONS)", list(F.RELAXATION))])
    row = _pair_rows(book, ws, row, "Operating point (planner.evaluator.metrics) of the chosen candidate",
                     _operating(F.PLAN), _operating(rx))
    _section(book, ws, row, "Floors: strict steps at catalogue peaks, perfect overlap (per GPU after splitting tp "
             "ways)", len(WORKINGS_COLUMNS))
    _step_table(book, ws, row + 1, 1, F.FLOOR_STEPS)
    ws.freeze_panes = "B4"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_area = f"A1:F{row - 1}"


# -------------------------------------------------------------------------------------------------------- search


SEARCH_CHOICE_ROW = 5
SEARCH_TABLE_SECTION = SEARCH_CHOICE_ROW + len(F.CHOICE) + 1
SEARCH_HEADER_ROW = SEARCH_TABLE_SECTION + 2
SEARCH_FIRST_ROW = SEARCH_HEADER_ROW + 1
SEARCH_LAST_ROW = SEARCH_FIRST_ROW + F.CANDIDATES - 1
SEARCH_RELAXED_ROW = SEARCH_LAST_ROW + 2
SEARCH_TP_SECTION = SEARCH_RELAXED_ROW + 3
"""Rows of the Search sheet: the choice, the candidate table (one row per candidate, then the relaxed row), the
tensor-parallel sizes, the crossover bisection."""


def _search_sheet(book: Book) -> None:
    ws = book.sheet("Search")
    book.put(ws, 1, 1, "Search", font=TITLE_FONT)
    book.put(ws, 2, 1, "The planner's search as formulas: every layout (tp, pp, ep) engines run is a candidate "
             "(planner.evaluator); the plan is the cheapest that meets both SLOs (planner.plan.best_index). Rows "
             "the inputs rule out show n/a.", font=NOTE_FONT)
    # the choice
    _section(book, ws, SEARCH_CHOICE_ROW - 1, "The choice (planner.plan.best_index)", 12)
    for i, q in enumerate(F.CHOICE):
        r = SEARCH_CHOICE_ROW + i
        book.put(ws, r, 1, q.label)
        book.formula(ws, r, 7, q.formula, fmt=q.fmt or "General", name=q.name)
        book.put(ws, r, 8, q.unit)
        book.put(ws, r, 9, q.name, font=KEY_FONT)
        if q.note:
            book.put(ws, r, 10, q.note, font=NOTE_FONT)
    ws.cell(SEARCH_CHOICE_ROW + len(F.CHOICE) - 1, 7).fill = BIND_FILL
    # the candidates
    _section(book, ws, SEARCH_TABLE_SECTION, f"Candidates: {topology_text()}", 12)
    book.put(ws, SEARCH_TABLE_SECTION + 1, 1, "Each row: the layout's rates, the decode step's coefficients "
             "(planner.evaluator._decode_coefficients: step = max(m0 + m1·b + me·x(b), c1·b) + n0 + n1·b + "
             "overheads; x(b) the experts loaded per MoE layer at the busiest ep group, roofline.expert_load), "
             "its prefill, the largest microbatch that fits, the SLO batch digit by digit, and its "
             "cost and times at the operating batch; then the ranking keys.", font=NOTE_FONT)
    columns = F.CANDIDATE_COLUMNS
    keys = [c.key for c in columns]
    _headers(book, ws, SEARCH_HEADER_ROW, 1, [c.header for c in columns])
    ws.row_dimensions[SEARCH_HEADER_ROW].height = 54
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width

    letters = {key: get_column_letter(1 + i) for i, key in enumerate(keys)}

    def ref_at(r: int) -> Callable[[str], str]:
        return lambda key: f"${letters[key]}{r}"

    for i in range(F.CANDIDATES):
        r = SEARCH_FIRST_ROW + i
        for key, value in F.candidate_literals(i).items():
            book.put(ws, r, 1 + keys.index(key), value)
        for key, expr in F.candidate_row(ref_at(r), F.PLAN).items():
            col = columns[keys.index(key)]
            book.formula(ws, r, 1 + keys.index(key), expr, fmt=col.fmt or None, shape=("cand", key))
    for j, key in enumerate(keys, start=1):
        if key not in F.CANDIDATE_LITERALS or key == "candidate":
            book.name(f"cand_{key}", ws, SEARCH_FIRST_ROW, j, SEARCH_LAST_ROW, j)
    # the relaxed row: the chosen layout with its binding wall relaxed
    r = SEARCH_RELAXED_ROW
    book.put(ws, r, 1, "relaxed", font=HEADER_FONT)
    book.put(ws, r - 1, 1, "The chosen layout with its binding wall relaxed (Workings: rx_ rates); its wall is the "
             "next wall:", font=NOTE_FONT)
    layout = {"tp": "op_tp", "pp": "op_pp", "ep": "op_ep", "active": "ISNUMBER(chosen_candidate)"}
    for key, expr in F.candidate_row(ref_at(r), relaxed_side(), layout).items():
        col = columns[keys.index(key)]
        book.formula(ws, r, 1 + keys.index(key), expr, fmt=col.fmt or None, fill=USED_FILL)
    ws.conditional_formatting.add(
        f"A{SEARCH_FIRST_ROW}:{get_column_letter(len(keys))}{SEARCH_LAST_ROW}",
        FormulaRule(formula=[f"$A{SEARCH_FIRST_ROW}=chosen_candidate"], fill=BIND_FILL))
    row = _tp_sizes(book, ws, SEARCH_TP_SECTION)
    _crossover_ladder(book, ws, row + 1)
    ws.freeze_panes = ws.cell(SEARCH_HEADER_ROW + 1, 1 + keys.index("active") + 1).coordinate


def topology_text() -> str:
    return (f"one row per (tp slot, pp, ep): tp the k-th size engines run (k ≤ {TP_SLOTS}), pp in "
            f"{', '.join(map(str, PP_CHOICES))} (or as given), ep 1 or tp (MoE, where tp divides the experts)")


def _tp_sizes(book: Book, ws: Worksheet, row: int) -> int:
    _section(book, ws, row, "Tensor-parallel sizes engines run (planner.topology.tp_choices): tp divides the heads, "
             "KV heads divide tp or tp divides them, within the scale-up domain", 12)
    row += 1
    _headers(book, ws, row, 1, ["n", "engines run tp = n", "count so far"])
    _headers(book, ws, row, 5, ["slot", "tp", "valid tp so far"])
    first = row + 1
    prev: Callable[[str], str] | None = None
    helper = ("n", "valid", "count")
    for n in range(1, F.TP_HELPER_ROWS + 1):
        r = first + n - 1

        def ref(key: str, r: int = r) -> str:
            return f"${get_column_letter(1 + helper.index(key))}{r}"

        book.put(ws, r, 1, n)
        for key, expr in F.tp_helper_row(n, ref, prev).items():
            book.formula(ws, r, 1 + helper.index(key), expr, shape=("tp_helper", key) if prev else None)
        prev = ref
    last = first + F.TP_HELPER_ROWS - 1
    book.name("tp_helper_n", ws, first, 1, last, 1)
    book.name("tp_helper_count", ws, first, 3, last, 3)
    book.name("tp_valid_count", ws, last, 3)
    slots = ("slot", "tp", "text")
    book.put(ws, first, 6, "auto")  # heads the drop-down list of tp: auto, then the sizes engines run
    prev = None
    for k in range(1, TP_SLOTS + 1):
        r = first + k

        def sref(key: str, r: int = r) -> str:
            return f"${get_column_letter(5 + slots.index(key))}{r}"

        book.put(ws, r, 5, k)
        for key, expr in F.tp_slot_row(sref, prev).items():
            book.formula(ws, r, 5 + slots.index(key), expr, shape=("tp_slot", key) if prev else None)
        prev = sref
    book.name("tp_slot_tp", ws, first + 1, 6, first + TP_SLOTS, 6)
    book.name("tp_valid_text", ws, first + TP_SLOTS, 7)
    book.formula_name("tp_choice_list", f"OFFSET({_ref('Search', first, 6)},0,0,1+MIN(tp_valid_count,{TP_SLOTS}),1)")
    ws.column_dimensions["G"].width = max(ws.column_dimensions["G"].width or 0, 12)
    return last + 1


def _crossover_ladder(book: Book, ws: Worksheet, row: int) -> None:
    _section(book, ws, row, "Crossover batch: bisection at catalogue peaks, strict bytes, no context "
             "(planner.roofline.crossover_batch)", 12)
    row += 1
    keys = [k for k, _ in F.CROSSOVER_LADDER_COLUMNS]
    _headers(book, ws, row, 2, [h for _, h in F.CROSSOVER_LADDER_COLUMNS])
    first = row + 1

    def ref_at(r: int) -> Callable[[str], str]:
        return lambda c: f"${get_column_letter(2 + keys.index(c))}{r}"

    for i in range(F.CROSSOVER_LADDER_STEPS):
        r = first + i
        book.put(ws, r, 1, f"step {i + 1}")
        cells = F.crossover_ladder_row(ref_at(r), ref_at(r - 1) if i else None)
        for j, c in enumerate(keys):
            book.formula(ws, r, 2 + j, cells[c], fmt="0.000E+00" if c.endswith("_s") else "#,##0",
                         shape=("crossover", c) if i else None)
    book.name("crossover_ladder_last_hi", ws, first + F.CROSSOVER_LADDER_STEPS - 1, 2 + keys.index("hi"))


# ---------------------------------------------------------------------------------------------------------- plan


TOPOLOGY_ROWS: tuple[tuple[str, str, str], ...] = (
    ("tp", "tensor parallel in use (tp)", "GPUs"),
    ("pp", "pipeline stages in use (pp)", "stages"),
    ("ep", "expert parallel in use (ep)", "GPUs"),
)

RESULT_FORMATS: dict[str, str] = {"kv_gb_per_sequence_per_gpu": "0.0000", "gpus_per_replica": "0",
                                  "calibration_rows": "#,##0"}
"""Number formats of results whose unit's format does not suit them."""

RESULT_NOTES: dict[str, str] = {
    "decode_floor_ms": "strict: only the bytes that must move, perfect overlap, at the plan's tp",
    "prefill_floor_ms": "strict: the LM head for the last token only, perfect overlap, at the plan's tp",
    "crossover_batch": "smallest batch at which decode is compute-bound at catalogue peaks",
    "max_batch_memory": "per replica: pp microbatches in flight",
    "max_batch_engine": "per replica: max_batch, else the engine's default (Assumptions); n/a: no fixed cap",
    "calibration_rows": "of this accelerator (or its family) on this engine; 0: default efficiencies",
}
"""Notes beside a few results on the Plan sheet."""

WALL_MEANING: dict[str, str] = W.UNITS
"""What each wall's utilization measures (``planner.walls.UNITS``)."""


def _plan_sheet(book: Book, spec: PlanSpec, result: PlanResult) -> None:
    ws = book.sheet("Plan")
    for col, width in zip("ABCD", (40, 24, 20, 64), strict=True):
        ws.column_dimensions[col].width = width
    book.put(ws, 1, 1, "whichwall plan", font=TITLE_FONT)
    book.put(ws, 2, 1, "Yellow cells are the requirements; everything else is a live formula over them and the "
             "Catalogue sheet. Change an input and the plan recomputes (Excel, LibreOffice, Google Sheets).",
             font=NOTE_FONT)
    row = 4
    _section(book, ws, row, "1 · Requirements", 4)
    row += 1
    values = {**spec.model_dump(), "model": result.model.id, "accelerator": result.accelerator.id}
    labels = {k: (label, unit) for k, label, unit in REQUIREMENT_FIELDS}
    validations = _validations(ws)
    for key, name in INPUT_NAMES.items():
        label, unit = labels[key]
        v = values[key]
        if key in LAYOUT_INPUTS:
            v = "auto" if v is None else v
            unit = f"{unit}, or auto"
        _input(book, ws, row, label, v, unit, name)
        if key == "accelerator":
            book.name("accelerator", ws, row, 2)
        if key in validations:
            validations[key].add(f"B{row}")
        row += 1
    for key, name, label, unit in EXTRA_INPUTS:
        v = values[key]
        if isinstance(v, list):
            v = ", ".join(v)
        _input(book, ws, row, label, v, unit, name)
        if key in validations:
            validations[key].add(f"B{row}")
        if key == "notes":
            ws.cell(row, 2).alignment = WRAP
        row += 1
    row += 1

    titles = {"arithmetic": "2 · Arithmetic", "topology": "3 · Topology", "cost": "4 · Cost"}
    for section, title in titles.items():
        _section(book, ws, row, title, 4)
        row += 1
        rows = [(k, label, unit) for s, k, label, unit in RESULT_FIELDS if s == section]
        if section == "topology":
            book.put(ws, row, 1, "layout")
            book.formula(ws, row, 2, F.RESULT_FORMULAS["layout"], name="layout")
            ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=4)
            ws.cell(row, 2).alignment = Alignment(horizontal="left")
            row += 1
            rows = [*TOPOLOGY_ROWS, *rows]
            at = next(i for i, (k, _, _) in enumerate(rows) if k == "gpus") + 1
            rows.insert(at, ("output_tokens_per_s_per_replica", "output tokens/s per replica", "tokens/s"))
        if section == "cost":
            rows.append(("budget_utilization", "budget used", "utilization"))
        for key, label, unit in rows:
            _result(book, ws, row, key, label, unit)
            if key in LAYOUT_INPUTS:
                book.formula(ws, row, 4, f"IF({key}_auto,\"chosen automatically: the cheapest layout meeting the "
                             f"SLOs (Search sheet)\",\"as given\")", font=NOTE_FONT)
            if key in RESULT_NOTES:
                book.put(ws, row, 4, RESULT_NOTES[key], font=NOTE_FONT)
            row += 1
        row += 1

    _section(book, ws, row, "5 · Walls", 4)
    row += 1
    _headers(book, ws, row, 1, ["wall", "utilization", "headroom", "what it measures"])
    row += 1
    first_wall = row
    for wall, key in F.WALL_KEYS.items():
        book.put(ws, row, 1, wall)
        book.formula(ws, row, 2, F.RESULT_FORMULAS[f"util_{key}"], fmt="0.0%", name=f"util_{key}")
        book.formula(ws, row, 3, f"IF(ISNUMBER(util_{key}),1-util_{key},\"{F.NA_TEXT}\")", fmt="0.0%")
        ws.cell(row, 2).alignment = ws.cell(row, 3).alignment = Alignment(horizontal="right")
        book.formula(ws, row, 4, f"IF(binding_wall=\"{wall}\",INDEX(binding_unit_texts,binding_rule),"
                     f"\"{WALL_MEANING[wall]}\")", font=NOTE_FONT)
        row += 1
    ws.conditional_formatting.add(f"A{first_wall}:C{row - 1}",
                                  FormulaRule(formula=[f"$A{first_wall}=binding_wall"], fill=BIND_FILL, font=BIND_FONT))
    row += 1
    for key, label in (("binding_wall", "binding wall"), ("binding_rule", "rule (planner.walls, 1-7)"),
                       ("binding_reason", "why"), ("next_wall", "next wall (the binding one relaxed)"),
                       ("advice", "change next"), ("feasible", "feasible (serves the traffic within budget)")):
        book.put(ws, row, 1, label, font=HEADER_FONT)
        ws.cell(row, 1).alignment = Alignment(vertical="top")
        book.formula(ws, row, 2, F.RESULT_FORMULAS[key], name=key, fmt="0" if key == "binding_rule" else None,
                     font=BIND_FONT if key == "binding_wall" else None,
                     fill=BIND_FILL if key == "binding_wall" else None)
        ws.cell(row, 2).alignment = Alignment(horizontal="left")
        if key in ("binding_reason", "advice"):
            ws.merge_cells(start_row=row, start_column=2, end_row=row, end_column=4)
            ws.cell(row, 2).alignment = WRAP
            ws.row_dimensions[row].height = 30
        if key == "next_wall":
            book.formula(ws, row, 4, f"\"after \"&IF(binding_rule=7,\"{W.ENGINE_CAP_LIFTED}\","
                         "INDEX(relaxation_texts,MATCH(binding_wall,relaxation_walls,0)))&\" at the same layout\"",
                         font=NOTE_FONT)
        row += 1
    row += 1
    _section(book, ws, row, "6 · Step-time split (where a replica's busy time goes; shown apart from the walls)", 4)
    row += 1
    for i, (part, key) in enumerate(F.SPLIT_KEYS.items()):
        book.put(ws, row, 1, part)
        book.formula(ws, row, 2, F.RESULT_FORMULAS[f"split_{key}"], fmt="0.0%", name=f"split_{key}")
        ws.cell(row, 2).alignment = Alignment(horizontal="right")
        book.put(ws, row, 4, ("busy seconds ÷ replica busy seconds", "memory and compute overlap (a step takes the "
                              "longer), so the parts may add up past 100%")[i == 1] if i < 2 else "", font=NOTE_FONT)
        row += 1
    row += 1
    book.put(ws, row, 1, f"Exported by whichwall {_version()} from the spec on the About sheet. Planner's reading "
             "at export: " + result.walls.reason, font=NOTE_FONT)
    ws.merge_cells(start_row=row, start_column=1, end_row=row, end_column=4)
    ws.cell(row, 1).alignment = WRAP
    ws.row_dimensions[row].height = 24
    ws.freeze_panes = "A4"
    ws.sheet_view.showGridLines = False
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.page_margins.left = ws.page_margins.right = 0.4
    ws.page_margins.top = ws.page_margins.bottom = 0.5
    ws.print_area = f"A1:D{row}"


INPUT_FORMATS: dict[str, str] = {"tokens/request": "#,##0", "USD/month": "#,##0"}
"""Number formats of input cells, by unit."""


def _input(book: Book, ws: Worksheet, row: int, label: str, value: Any, unit: str, name: str) -> None:
    book.put(ws, row, 1, label)
    cell = ws.cell(row, 2)
    if value is None or value == "":
        cell.value = None
    else:
        book.put(ws, row, 2, value)
    if unit in INPUT_FORMATS:
        cell.number_format = INPUT_FORMATS[unit]
    cell.fill, cell.font, cell.border = INPUT_FILL, INPUT_FONT, BORDER
    cell.alignment = Alignment(horizontal="right")
    book.name(name, ws, row, 2)
    book.put(ws, row, 3, unit, font=NOTE_FONT)


def _result(book: Book, ws: Worksheet, row: int, key: str, label: str, unit: str) -> None:
    book.put(ws, row, 1, label)
    fmt = RESULT_FORMATS.get(key) or FORMATS.get(unit, "#,##0.00")
    book.formula(ws, row, 2, F.RESULT_FORMULAS[key], fmt=fmt, name=key)
    ws.cell(row, 2).alignment = Alignment(horizontal="right")
    book.put(ws, row, 3, unit, font=NOTE_FONT)


def _validations(ws: Worksheet) -> dict[str, DataValidation]:
    from planner.efficiency import ENGINES

    def add(dv: DataValidation) -> DataValidation:
        dv.showErrorMessage = True
        ws.add_data_validation(dv)
        return dv

    positive = {"type": "decimal", "operator": "greaterThan", "formula1": "0"}
    out = {
        "model": add(DataValidation(type="list", formula1="model_ids", allow_blank=False,
                                    errorTitle="model", error="Pick a model id from the Catalogue sheet")),
        "accelerator": add(DataValidation(type="list", formula1="accelerator_ids", allow_blank=False,
                                          errorTitle="accelerator",
                                          error="Pick an accelerator id from the Catalogue sheet")),
        "dtype": add(DataValidation(type="list", formula1="dtype_ids", allow_blank=False,
                                    error="Pick a dtype: " + ", ".join(DTYPES))),
        "kv_dtype": add(DataValidation(type="list", formula1="dtype_ids", allow_blank=False,
                                       error="Pick a dtype: " + ", ".join(DTYPES))),
        "engine": add(DataValidation(type="list", formula1='"' + ",".join(ENGINES) + '"', allow_blank=False,
                                     error="Pick a serving engine: " + ", ".join(ENGINES))),
        "tp": add(DataValidation(type="list", formula1="tp_choice_list", allow_blank=True, errorStyle="warning",
                                 error="tp is auto or a size engines run for this model on this accelerator (the "
                                       "list; see the Search sheet)")),
        "pp": add(DataValidation(type="list", formula1='"auto,' + ",".join(map(str, PP_CHOICES)) + '"',
                                 allow_blank=True, errorStyle="warning",
                                 error="pp is auto or a whole number of pipeline stages, 1 to the model's layers "
                                       f"(tp × pp ≤ {MAX_GPUS_PER_REPLICA})")),
        "ep": add(DataValidation(type="list", formula1='"auto,1"', allow_blank=True, errorStyle="warning",
                                 error="ep is auto, 1 (experts split like every matrix) or tp (MoE models, where tp "
                                       "divides the routed experts)")),
        "qps": add(DataValidation(**positive, error="requests/s must be a number above 0")),
        "input_tokens": add(DataValidation(type="whole", operator="between", formula1="1", formula2=str(MAX_TOKENS),
                                           error="a whole number of tokens, 1 to 10,000,000")),
        "output_tokens": add(DataValidation(type="whole", operator="between", formula1="1", formula2=str(MAX_TOKENS),
                                            error="a whole number of tokens, 1 to 10,000,000")),
        "ttft_slo_ms": add(DataValidation(**positive, error="a time in ms above 0")),
        "tpot_slo_ms": add(DataValidation(**positive, error="a time in ms above 0")),
        "budget_usd_month": add(DataValidation(**positive, allow_blank=True,
                                               error="USD per month above 0, or blank for no budget")),
        "usd_per_gpu_hour": add(DataValidation(**positive, allow_blank=True,
                                               error="USD per GPU-hour above 0, or blank for the catalogue price")),
        "max_batch": add(DataValidation(type="whole", operator="between", formula1="1",
                                        formula2=str(UNCAPPED_BATCH), allow_blank=True,
                                        error=f"a whole number of sequences, 1 to {UNCAPPED_BATCH:,}, or blank for "
                                              f"the engine's default")),
    }
    return out


# ------------------------------------------------------------------------------------------------------ roofline


ROOFLINE_FIRST_ROW = 5


def _roofline_sheet(book: Book) -> None:
    ws = book.sheet("Roofline")
    book.put(ws, 1, 1, "Roofline", font=TITLE_FONT)
    book.put(ws, 2, 1, "The plan's layout decoding at growing microbatch (average context, expected times) against "
             "the accelerator's roof (catalogue peaks). The last row and the orange triangle: the operating batch; "
             "the red diamond: one prompt's prefill. Log-log.", font=NOTE_FONT)
    columns = F.SWEEP_COLUMNS
    keys = [c.key for c in columns]
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    ws.column_dimensions["A"].width = 19
    ws.merge_cells(start_row=2, start_column=1, end_row=2, end_column=len(keys))
    ws.cell(2, 1).alignment = WRAP
    ws.row_dimensions[2].height = 26
    _headers(book, ws, 4, 1, [c.header for c in columns])
    ws.row_dimensions[4].height = 42
    first = ROOFLINE_FIRST_ROW
    batches: list[Any] = [*SWEEP_BATCHES, "op_b"]
    for i, b in enumerate(batches):
        r = first + i

        def here(c: str, r: int = r) -> str:
            return f"${get_column_letter(1 + keys.index(c))}{r}"

        op_row = b == "op_b"
        if op_row:
            book.formula(ws, r, 1, "op_b", fmt="#,##0", font=HEADER_FONT, fill=USED_FILL)
        else:
            book.put(ws, r, 1, b, fmt="#,##0")
        for c, expr in F.sweep_row(here).items():
            col = columns[keys.index(c)]
            book.formula(ws, r, 1 + keys.index(c), expr, fmt=col.fmt or None, shape=None if op_row else ("sweep", c),
                         fill=USED_FILL if op_row else None)
            if c in ("fits", "meets"):
                ws.cell(r, 1 + keys.index(c)).alignment = Alignment(horizontal="center")
    last = first + len(batches) - 1
    for j, key in enumerate(keys, start=1):
        book.name(f"roofline_{key}", ws, first, j, last - 1, j)
        book.name(f"operating_point_{key}", ws, last, j)
    book.put(ws, last + 1, 1, "(last row: the plan's operating microbatch)", font=NOTE_FONT)

    # the roof and the prefill point
    row = last + 3
    _headers(book, ws, row, 1, ["roof", "intensity (FLOP/byte)", "TFLOP/s per GPU"])
    ws.row_dimensions[row].height = 30
    for i, (label, x, y) in enumerate(F.ROOF_POINTS, start=1):
        book.put(ws, row + i, 1, label)
        book.formula(ws, row + i, 2, x, fmt="#,##0.00", name=f"roof_{label}_intensity")
        book.formula(ws, row + i, 3, y.format(x=_addr(row + i, 2)), fmt="#,##0.0", name=f"roof_{label}_tflops")
    point = row + len(F.ROOF_POINTS) + 3
    _headers(book, ws, point - 1, 1, ["point", "intensity (FLOP/byte)", "TFLOP/s per GPU"])
    ws.row_dimensions[point - 1].height = 30
    book.put(ws, point, 1, "prefill (one prompt)")
    book.formula(ws, point, 2, F.PREFILL_POINT[0], fmt="#,##0.0", name="prefill_point_intensity")
    book.formula(ws, point, 3, F.PREFILL_POINT[1], fmt="#,##0.0", name="prefill_point_tflops")

    chart = ScatterChart(scatterStyle="lineMarker")
    chart.title = "Roofline (log-log)"
    chart.style = 13
    chart.height, chart.width = 14, 29
    chart.x_axis.title = "arithmetic intensity (FLOP/byte)"
    chart.y_axis.title = "TFLOP/s per GPU"
    chart.x_axis.number_format = chart.y_axis.number_format = "#,##0.##"
    chart.x_axis.majorGridlines = None
    chart.x_axis.scaling.logBase = 10
    chart.y_axis.scaling.logBase = 10
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.legend.position = "b"

    def series(xs: Reference, ys: Reference, title: str, colour: str, symbol: str | None, size: int = 7) -> Series:
        s = Series(ys, xs, title=title)
        s.smooth = False
        if symbol is None:
            s.marker = Marker(symbol="none")
            s.graphicalProperties.line.solidFill = colour
            s.graphicalProperties.line.width = 28000
        else:
            s.marker = Marker(symbol=symbol, size=size)
            s.marker.graphicalProperties = GraphicalProperties(solidFill=colour)
            s.marker.graphicalProperties.line.solidFill = colour
            s.graphicalProperties.line.noFill = True
        return s

    ix, it = 1 + keys.index("intensity"), 1 + keys.index("tflops")
    for s in (
        series(Reference(ws, min_col=2, min_row=row + 1, max_row=row + 3),
               Reference(ws, min_col=3, min_row=row + 1, max_row=row + 3), "roof (catalogue peaks)", "1F3864", None),
        series(Reference(ws, min_col=ix, min_row=first, max_row=last - 1),
               Reference(ws, min_col=it, min_row=first, max_row=last - 1), "decode, microbatch 1…1024", "2E75B6",
               "circle"),
        series(Reference(ws, min_col=ix, min_row=last, max_row=last), Reference(ws, min_col=it, min_row=last,
                                                                                max_row=last),
               "the plan's operating batch", "ED7D31", "triangle", 13),
        series(Reference(ws, min_col=2, min_row=point, max_row=point), Reference(ws, min_col=3, min_row=point,
                                                                                 max_row=point),
               "prefill (one prompt)", "C00000", "diamond", 11),
    ):
        chart.series.append(s)
    chart_row = point + 2  # below the tables, as wide as the sweep
    ws.add_chart(chart, f"A{chart_row}")
    ws.page_setup.orientation = "portrait"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 1
    ws.sheet_properties.pageSetUpPr.fitToPage = True
    ws.print_options.horizontalCentered = True
    ws.print_area = f"A1:{get_column_letter(len(keys))}{chart_row + 28}"


# --------------------------------------------------------------------------------------------------------- about


def _about_sheet(book: Book, spec: PlanSpec, result: PlanResult, cat: Catalogue) -> None:
    from planner import roofline, walls

    ws = book.sheet("About")
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["B"].width = 110
    book.put(ws, 1, 1, MARKER, font=TITLE_FONT)
    rows: list[tuple[str, Any]] = [
        ("format version", FORMAT_VERSION),
        ("whichwall version", _version()),
        ("plan", spec.name),
        ("binding wall at export", result.walls.binding),
        ("how to use", "Edit the yellow cells on the Plan sheet; every result is a formula and recomputes. "
                       "`whichwall read plan.xlsx` reads the inputs back into a spec and prints the planner's plan."),
        ("units", "Decimal: GB = 1e9 bytes, TB/s = 1e12 bytes/s, TFLOP/s = 1e12 FLOP/s. Times in ms, money in USD, "
                  "a month is 730 hours. Peaks are dense; link bandwidth is per direction."),
        ("floor", "A bound no engine beats: only the bytes that must move (the embedding rows a step gathers) and "
                  "the FLOPs that must run (a prefill's LM head for the last token only), perfectly overlapped: "
                  "max(bytes / peak bandwidth, FLOPs / peak FLOP/s, collective bytes / link bandwidth)."),
        ("expected", "The step with measured efficiencies (fractions of bandwidth, FLOP/s and link bandwidth, "
                     "latency per collective, overheads), from the Catalogue rows and the Efficiency sheet."),
        ("n/a", "Where the planner has no value (no budget, no price, no batch that works) a cell shows n/a."),
        ("automatic layout", "tp, pp and ep left 'auto' (or blank) are chosen like the planner chooses them: every "
                             "layout engines run is a candidate (Search sheet) and the plan is the cheapest that "
                             "meets both SLOs (ties: fewer GPUs, then lower TPOT); else the nearest that fits; else "
                             "the layout with the most GPUs per replica. A number restricts the candidates."),
        ("next wall", "The wall that binds once the binding wall is relaxed (2x memory, 1.5x bandwidth, 1.5x FLOP/s, "
                      "2x links and NIC, no budget; where the engine's batch cap binds, the cap lifted), at the same "
                      "layout: the relaxed row of the Search sheet."),
        ("engine batch cap", "A replica runs at most max_batch sequences at once (blank: the serving engine's "
                             "default on this GPU, from the engine table on the Assumptions sheet). The prompts that "
                             "arrive per decode step (batch ÷ output tokens, at most the engine's token budget ÷ the "
                             "prompt) are prefilled together: each request's share of that prefill is in its TPOT "
                             "and in the replica's busy time."),
        ("defined names", "Every input and result is a workbook-level name (e.g. model, gpu, dtype, tp, pp, ep, qps, "
                          "ttft_slo_ms, decode_floor_ms, binding_wall, next_wall); use them in your own formulas."),
        ("efficiency sources", cat.efficiency(result.accelerator.id).source),
        ("memory reserve source", serving_assumptions().memory_reserve_source),
        ("accelerator source", result.accelerator.source),
        ("model source", result.model.source),
    ]
    r = 2
    for label, value in rows:
        book.put(ws, r, 1, label, font=HEADER_FONT)
        book.put(ws, r, 2, value)
        ws.cell(r, 2).alignment = WRAP
        r += 1
    book.name("whichwall_format", ws, 2, 2)
    r += 1
    _section(book, ws, r, "Definitions", 2)
    r += 1
    for doc in (roofline.__doc__ or "", walls.__doc__ or ""):
        for line in doc.strip().splitlines():
            if line.strip():
                book.put(ws, r, 2, line.rstrip())
                r += 1
        r += 1
    _section(book, ws, r, "The spec this plan came from (YAML)", 2)
    r += 1
    for line in spec.to_yaml().splitlines():
        book.put(ws, r, 2, line, font=Font(name="Courier New"))
        r += 1


# ---------------------------------------------------------------------------------------------------------- build


@dataclass
class Built:
    """A built plan: the workbook, its formula values (computed in-process) and the planner's result."""

    book: Book
    values: dict[str, dict[str, Any]]
    result: PlanResult

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        self.book.wb.save(buf)
        return cache.inject(buf.getvalue(), self.values)


def _print_wide(ws: Worksheet) -> None:
    """Sheets without a page layout of their own (the reference tables, the Search sheet's candidate table) print
    landscape, one page wide, as many pages down as they need: a whole plan prints in a few pages, not one page per
    strip of columns."""
    props = ws.sheet_properties.pageSetUpPr
    if props is not None and props.fitToPage:
        return
    ws.page_setup.orientation = "landscape"
    ws.page_setup.paperSize = ws.PAPERSIZE_A4
    ws.page_setup.fitToWidth = 1
    ws.page_setup.fitToHeight = 0
    ws.sheet_properties.pageSetUpPr.fitToPage = True


def build(spec: PlanSpec, catalogue: Catalogue | None = None) -> Built:
    """Lay out the plan workbook for ``spec`` and compute its formulas. Bad input raises ``PlannerError`` (from the
    planner, before anything is built)."""
    cat = catalogue or get_catalogue()
    result = evaluate(spec, cat)
    wb = Workbook()
    wb.remove(wb.active)
    for title in SHEETS:
        wb.create_sheet(title)
    book = Book(wb)
    _catalogue_sheet(book, cat, result)
    _efficiency_sheet(book, cat)
    _assumptions_sheet(book)
    _search_sheet(book)
    _workings_sheet(book)
    _plan_sheet(book, spec, result)
    _roofline_sheet(book)
    _about_sheet(book, spec, result, cat)
    for ws in wb.worksheets:
        _print_wide(ws)
    wb.active = 0
    wb.properties.creator = "whichwall"
    wb.properties.title = f"whichwall plan: {spec.name}"
    values = Evaluator(book.cells, book.names, book.shapes).evaluate_all()
    return Built(book, values, result)


def workbook_bytes(spec: PlanSpec, catalogue: Catalogue | None = None) -> bytes:
    """The .xlsx file of ``spec``'s plan, with cached values, as bytes."""
    return build(spec, catalogue).to_bytes()


TEMPLATE = Path(__file__).resolve().parent.parent / "templates" / "plan-template.xlsx"


def template_bytes() -> bytes:
    """The blank plan shipped as ``templates/plan-template.xlsx``: the default spec's inputs, built-in catalogue."""
    from planner.catalogue import builtin_catalogue

    return workbook_bytes(default_spec(), builtin_catalogue())


def _main(argv: list[str]) -> int:
    out = Path(argv[0]) if argv else TEMPLATE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(template_bytes())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))


__all__ = ["FORMAT_VERSION", "MARKER", "Built", "build", "template_bytes", "workbook_bytes"]
