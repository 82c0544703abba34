"""Read a filled (possibly hand-edited) plan workbook back into a ``PlanSpec``.

The inputs are found through their defined names (so rows a planner inserted do not matter). A workbook that is not
a plan, an input of the wrong type, a formula in an input with no computed value, a file that is not an .xlsx —
each is a ``planner.PlannerError`` that says what is wrong and what would be right.

An accelerator or model the spec names that the planner's catalogue does not know but the workbook's Catalogue sheet
has (a row added by hand) is read from that row into a user catalogue, so the plan can be recomputed.
"""

from __future__ import annotations

import math
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.parsers import expat

from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.cell import range_boundaries
from openpyxl.worksheet.worksheet import Worksheet

from planner.catalogue import Catalogue, catalogue_from_data, get_catalogue
from planner.errors import PlannerError, short
from planner.spec import PlanSpec, spec_from_data
from workbook.build import (
    ACC_FIRST_ROW,
    EXTRA_INPUTS,
    FORMAT_VERSION,
    INPUT_NAMES,
    MARKER,
    MODEL_CAPACITY,
    MODEL_FIRST_ROW,
    MODEL_HEADER_ROW,
)
from workbook.formulas import MODEL_DERIVED

MAX_WORKBOOK_BYTES = 20_000_000
"""A plan workbook is ~600 kB; anything over 20 MB is refused before it is opened."""

MAX_UNPACKED_BYTES = 20_000_000
"""A plan's parts unpack to ~6 MB (most of it the Search sheet's candidate table). An archive whose parts (as its
directory declares them; zipfile never inflates a part past its declared size) unpack to more is refused before
openpyxl parses it: openpyxl takes ~0.1 s and ~20 MB of memory per MB of sheet XML, and a plan is read once more
for its cached values where an input or a hand-added Catalogue row holds a formula."""

MAX_MEMBERS = 1_000
"""A plan has ~20 parts; a spreadsheet program adds a few."""

NUMBER_FIELDS = {
    "qps": "requests/s", "ttft_slo_ms": "ms", "tpot_slo_ms": "ms", "budget_usd_month": "USD/month",
    "usd_per_gpu_hour": "USD/GPU-hour",
}
WHOLE_FIELDS = {"input_tokens": "tokens", "output_tokens": "tokens", "tp": "GPUs", "pp": "stages", "ep": "GPUs",
                "max_batch": "sequences"}
LAYOUT_FIELDS = ("tp", "pp", "ep")
"""Inputs that are 'auto' (or blank) or a whole number."""
MAX_KEY_COLUMNS = 256
"""Columns of a Catalogue key row read (the sheet has ~60; a stray cell at column XFD must not cost 16,384)."""

DERIVED_KEYS = frozenset(d.key for d in MODEL_DERIVED)
"""The Catalogue's model columns that are formulas (derived counts): never read back."""

OPTIONAL_FIELDS = {"budget_usd_month", "usd_per_gpu_hour", "tp", "pp", "ep", "max_batch", "notes", "accelerators",
                   "dtypes"}


@dataclass(frozen=True)
class ReadPlan:
    """A plan read back: the spec, and a catalogue of the hand-added rows it needs (None if none)."""

    spec: PlanSpec
    catalogue: Catalogue | None


def _open(path: Path, data_only: bool) -> Any:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns about extensions it drops (data validation etc.)
            return load_workbook(path, data_only=data_only)
    except PlannerError:
        raise
    except Exception as exc:  # openpyxl raises many types for a damaged file
        cause = exc.__cause__ or exc.__context__ or exc  # openpyxl wraps the parser's error in a long ValueError
        raise PlannerError(f"{path} is not a readable .xlsx workbook ({_one_line(cause)}); give a plan exported by "
                           f"`whichwall plan -o`") from None


def _check_file(path: Path) -> None:
    if not path.exists():
        raise PlannerError(f"plan workbook {str(path)!r} does not exist")
    if path.is_dir():
        raise PlannerError(f"{str(path)!r} is a folder; give a plan workbook (.xlsx)")
    size = path.stat().st_size
    if size == 0:
        raise PlannerError(f"{str(path)!r} is empty; give a plan workbook (.xlsx)")
    if size > MAX_WORKBOOK_BYTES:
        raise PlannerError(f"{str(path)!r} is {size:,} bytes; a plan workbook is far smaller (limit "
                           f"{MAX_WORKBOOK_BYTES:,})")
    if not zipfile.is_zipfile(path):
        raise PlannerError(f"{str(path)!r} is not an .xlsx workbook (not a zip archive); give a plan exported by "
                           f"`whichwall plan -o plan.xlsx`")
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_MEMBERS:
                raise PlannerError(f"{str(path)!r} is an archive of {len(infos):,} parts; a plan workbook has about "
                                   f"20 (limit {MAX_MEMBERS:,}); give a plan exported by `whichwall plan -o`")
            unpacked = sum(i.file_size for i in infos)
            if unpacked > MAX_UNPACKED_BYTES:
                raise PlannerError(f"{str(path)!r} unpacks to {unpacked:,} bytes; a plan workbook unpacks to under "
                                   f"a megabyte (limit {MAX_UNPACKED_BYTES:,}); refusing it")
            if "xl/workbook.xml" not in {i.filename for i in infos}:
                raise PlannerError(f"{str(path)!r} is a zip archive but not an .xlsx workbook (no xl/workbook.xml)")
            for info in infos:
                if _declares_a_dtd(zf, info):
                    raise PlannerError(f"{str(path)!r}: part {info.filename} declares an XML document type (DTD), "
                                       f"which can define entities that expand without bound; no spreadsheet "
                                       f"writes one, so this is not a plan workbook; refusing it")
    except PlannerError:
        raise
    except Exception as exc:  # zipfile raises many types for a damaged, encrypted or exotic archive
        raise PlannerError(f"{str(path)!r} is not a readable .xlsx workbook ({_one_line(exc)})") from None


class _Stop(Exception):
    """Raised from an expat handler to stop reading a part."""


def _declares_a_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Whether the XML part ``info`` has a <!DOCTYPE>, read only up to its first element (expat sees the DTD's
    start before any entity is declared or expanded, whatever the encoding). A part that is not XML is left to
    openpyxl to refuse."""
    found: list[bool] = []

    def doctype(*_: Any) -> None:
        found.append(True)
        raise _Stop

    def element(*_: Any) -> None:
        raise _Stop

    parser = expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = element
    with zf.open(info) as part:
        try:
            while chunk := part.read(65536):
                parser.Parse(chunk, False)
            parser.Parse(b"", True)
        except (_Stop, expat.ExpatError):
            pass
    return bool(found)


def _one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[:limit] + "…"


def _target(wb: Any, name: str, path: Path) -> tuple[str, str]:
    dn = wb.defined_names.get(name)
    if dn is None:
        raise PlannerError(f"{path} is not a whichwall plan: it has no defined name {name!r} (the plan's input "
                           f"cells are found by name; was the workbook made by `whichwall plan -o`?)")
    one_cell = PlannerError(f"{path}: the defined name {name!r} should point at one cell (e.g. Plan!$B$12), got "
                            f"{short(dn.attr_text)}; re-export the plan or point the name back at its input cell")
    try:
        dests = list(dn.destinations)
        if len(dests) != 1:
            raise one_cell
        sheet, ref = dests[0]
        min_col, min_row, max_col, max_row = range_boundaries(ref.replace("$", ""))
    except (ValueError, TypeError, IndexError):  # a whole column ($B:$B), an unparsable reference
        raise one_cell from None
    if None in (min_col, min_row) or (min_col, min_row) != (max_col, max_row):
        raise one_cell
    return sheet, f"{get_column_letter(min_col)}{min_row}"


class _Cached:
    """The workbook's cached values (openpyxl ``data_only``), read on first use: only an input or a Catalogue cell
    that holds a formula needs them."""

    def __init__(self, path: Path):
        self.path = path
        self._wb: Any = None

    @property
    def wb(self) -> Any:
        if self._wb is None:
            self._wb = _open(self.path, data_only=True)
        return self._wb


def _value(wb: Any, values: _Cached, name: str, path: Path) -> tuple[Any, str]:
    sheet, coord = _target(wb, name, path)
    if sheet not in wb.sheetnames or not isinstance(wb[sheet], Worksheet):
        raise PlannerError(f"{path}: the defined name {name!r} points at a missing sheet {sheet!r}")
    cell = wb[sheet][coord]
    where = f"{sheet}!{coord}"
    if cell.data_type == "f":
        cached = values.wb[sheet][coord].value
        if cached is None:
            raise PlannerError(f"{path}: input {where} ({name}) holds a formula with no computed value; type a "
                               f"value, or open and save the file in a spreadsheet so the formula has a result")
        return cached, where
    return cell.value, where


def _number(field: str, value: Any, where: str, whole: bool) -> Any:
    unit = NUMBER_FIELDS.get(field) or WHOLE_FIELDS.get(field, "")
    if isinstance(value, bool):
        raise PlannerError(f"{where} ({field}) must be a number of {unit}, got {value!r}")
    if isinstance(value, str):
        raise PlannerError(f"{where} ({field}) must be a number of {unit}, got the text {value!r}")
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise PlannerError(f"{where} ({field}) must be a finite number of {unit}, got {value!r}")
    if whole:
        if float(value) != int(value):
            raise PlannerError(f"{where} ({field}) must be a whole number of {unit}, got {value!r}")
        return int(value)
    return value


def _coerce(field: str, value: Any, where: str) -> Any:
    """A cell's value as the spec field wants it; None for a blank optional field."""
    blank = value is None or (isinstance(value, str) and not value.strip())
    if blank:
        if field in OPTIONAL_FIELDS:
            return None
        if field == "name":
            return None
        raise PlannerError(f"{where} ({field}) is empty; it is required (see the Plan sheet's unit column)")
    if field in LAYOUT_FIELDS:
        if isinstance(value, str):
            text = value.strip().lower()
            if text == "auto":
                return None
            try:
                value = float(text)
            except ValueError:
                raise PlannerError(f"{where} ({field}) must be 'auto' or a whole number of {WHOLE_FIELDS[field]}, "
                                   f"got {value!r}") from None
        return _number(field, value, where, whole=True)
    if field in WHOLE_FIELDS:
        return _number(field, value, where, whole=True)
    if field in NUMBER_FIELDS:
        return _number(field, value, where, whole=False)
    if field in ("accelerators", "dtypes"):
        if not isinstance(value, str):
            raise PlannerError(f"{where} ({field}) must be comma-separated text, got {value!r}")
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise PlannerError(f"{where} ({field}) must be text, got {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip() if field != "notes" else str(value)


def _rows(ws: Any, key_row: int, first: int, last: int) -> list[dict[str, Any]]:
    keys: dict[int, str] = {}
    for c in range(1, min(ws.max_column, MAX_KEY_COLUMNS) + 1):
        value = ws.cell(key_row, c).value
        if isinstance(value, str) and value:
            keys.setdefault(c, value)
    out = []
    for r in range(first, last + 1):
        row: dict[str, Any] = {}
        for c, key in keys.items():  # the first column with a key wins (peaks come before efficiencies)
            row.setdefault(key, ws.cell(r, c).value)
        if row.get("id") not in (None, ""):
            out.append(row)
    return out


def _hand_rows(wb: Any, values: _Cached, spec: PlanSpec, base: Catalogue, path: Path) -> Catalogue | None:
    """Catalogue entries for ids the planner does not know, from the workbook's Catalogue sheet."""
    def known(find: Any, ident: str) -> bool:
        try:
            find(ident)
            return True
        except PlannerError:
            return False

    need_acc = not known(base.accelerator, spec.accelerator)
    need_model = not known(base.model, spec.model)
    if not (need_acc or need_model) or "Catalogue" not in wb.sheetnames:
        return None
    ws = wb["Catalogue"]

    def matching(key_row: int, first: int, last: int, wanted: str) -> dict[str, Any] | None:
        """The row whose id is ``wanted`` (None if none); where a field it uses holds a hand-typed formula, the
        value the formula computed (the cached values)."""
        def find(sheet: Any) -> dict[str, Any] | None:
            return next((r for r in _rows(sheet, key_row, first, last) if str(r["id"]).strip().lower() == wanted),
                        None)

        row = find(ws)
        if row is not None and any(isinstance(v, str) and v.startswith("=") for k, v in row.items()
                                   if k not in DERIVED_KEYS):
            row = find(values.wb["Catalogue"])
        return row

    accs, models = [], []
    if need_acc:
        row = matching(ACC_FIRST_ROW - 2, ACC_FIRST_ROW, MODEL_HEADER_ROW - 3, spec.accelerator.strip().lower())
        if row:
            accs.append(_accelerator_entry(row, path))
    if need_model:
        last = min(ws.max_row, MODEL_FIRST_ROW + MODEL_CAPACITY - 1)  # the rows the formulas look up, no more
        row = matching(MODEL_HEADER_ROW - 1, MODEL_HEADER_ROW + 1, last, spec.model.strip().lower())
        if row:
            models.append(_model_entry(row, path))
    if not accs and not models:
        return None
    return catalogue_from_data({"accelerators": accs, "models": models}, where=f"{path} (Catalogue sheet)")


def _clean(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != ""}


def _accelerator_entry(row: dict[str, Any], path: Path) -> dict[str, Any]:
    from planner.units import DTYPES

    def link(prefix: str) -> dict[str, Any] | None:
        if row.get(f"{prefix}_gbs") in (None, ""):
            return None
        return _clean({"name": row.get(f"{prefix}_name") or prefix, "gbs_per_direction": row.get(f"{prefix}_gbs"),
                       "domain": row.get(f"{prefix}_domain")})

    peaks = {d: row[d] for d in DTYPES if row.get(d) not in (None, "")}
    price = row.get("usd_per_gpu_hour")
    return _clean({
        "id": str(row["id"]).strip(), "name": row.get("name") or str(row["id"]), "vendor": row.get("vendor"),
        "family": row.get("family"), "memory_gb": row.get("memory_gb"),
        "memory_bandwidth_tbs": row.get("memory_bandwidth_tbs"), "dense_peak_tflops": peaks,
        "scaleup": link("scaleup"), "pcie": link("pcie"), "scaleout": link("scaleout"),
        "price": {"usd_per_gpu_hour": price} if price not in (None, "") else None,
        "source": row.get("source") or f"a row added by hand to the Catalogue sheet of {path.name}",
    })


def _model_entry(row: dict[str, Any], path: Path) -> dict[str, Any]:
    kind = str(row.get("attention") or "gqa").strip().lower()
    if kind == "mla":
        attention = _clean({"kind": "mla", "heads": row.get("heads"), "q_lora_rank": row.get("q_lora_rank"),
                            "kv_lora_rank": row.get("kv_lora_rank"), "qk_nope_head_dim": row.get("qk_nope_head_dim"),
                            "qk_rope_head_dim": row.get("qk_rope_head_dim"), "v_head_dim": row.get("v_head_dim")})
    else:
        attention = _clean({"kind": "gqa", "heads": row.get("heads"), "kv_heads": row.get("kv_heads"),
                            "head_dim": row.get("head_dim"), "qkv_bias": bool(row.get("qkv_bias") or False)})
    moe = None
    if row.get("experts") not in (None, "", 0):
        moe = _clean({"experts": row.get("experts"), "experts_per_token": row.get("experts_per_token"),
                      "shared_experts": row.get("shared_experts"),
                      "expert_intermediate_size": row.get("expert_intermediate_size"),
                      "first_dense_layers": row.get("first_dense_layers")})
    window = None
    if row.get("window_tokens") not in (None, "", 0):
        window = {"tokens": row.get("window_tokens"), "layers": row.get("window_layers")}
    return _clean({
        "id": str(row["id"]).strip(), "name": row.get("name") or str(row["id"]), "hf_repo": row.get("hf_repo"),
        "layers": row.get("layers"), "hidden_size": row.get("hidden_size"), "vocab_size": row.get("vocab_size"),
        "tie_word_embeddings": bool(row.get("tie_word_embeddings") or False),
        "intermediate_size": row.get("intermediate_size"), "attention": attention, "moe": moe,
        "sliding_window": window,
        "source": row.get("source") or f"a row added by hand to the Catalogue sheet of {path.name}",
    })


def read_plan_full(path: str | Path, catalogue: Catalogue | None = None) -> ReadPlan:
    """The spec in a plan workbook's input cells, plus a catalogue of hand-added rows it needs."""
    p = Path(path)
    _check_file(p)
    wb = _open(p, data_only=False)
    values = _Cached(p)
    if "Plan" not in wb.sheetnames or "About" not in wb.sheetnames or not isinstance(wb["About"], Worksheet) \
            or wb["About"]["A1"].value != MARKER:
        raise PlannerError(f"{p} is not a whichwall plan workbook (no Plan and About sheets with the "
                           f"'{MARKER}' marker); export one with `whichwall plan SPEC -o plan.xlsx`")
    fmt, where = _value(wb, values, "whichwall_format", p)
    if fmt != FORMAT_VERSION:
        raise PlannerError(f"{p}: plan workbook format {fmt!r} at {where}; this whichwall reads format "
                           f"{FORMAT_VERSION} (re-export the plan with this version)")
    data: dict[str, Any] = {}
    fields = [*INPUT_NAMES.items(), *((key, name) for key, name, _, _ in EXTRA_INPUTS)]
    for field, name in fields:
        raw, where = _value(wb, values, name, p)
        value = _coerce(field, raw, where)
        if value is not None:
            data[field] = value
    spec = spec_from_data(data, where=f"{p} (Plan sheet)")
    extra = _hand_rows(wb, values, spec, catalogue or get_catalogue(), p)
    return ReadPlan(spec, extra)


def read_plan(path: str | Path) -> PlanSpec:
    """The spec in a plan workbook's input cells (see ``read_plan_full`` for hand-added catalogue rows)."""
    return read_plan_full(path).spec


__all__ = ["ReadPlan", "read_plan", "read_plan_full"]
