"""Workbooks read back (``whichwall read``, ``whichwall plan x.xlsx``, ``workbook.read``), broken or hostile: each
is a ``PlannerError`` whose one-line message names what is wrong and what would be right; reading is bounded in
size, time and memory (zip bombs, thousands of parts, XML entity expansion, a stray cell at row 1,048,576); the file
read is never modified.

Plans are edited at the XML level (fast, and exactly the bytes a spreadsheet would write);
tests/test_workbook_readback.py covers a few edits through openpyxl (text / empty / negative qps, a formula without
a value, a deleted 'qps' name)."""

from __future__ import annotations

import io
import re
import time
import zipfile
from pathlib import Path

import openpyxl
import openpyxl.xml
import pytest
from _bad_input import SPEC, plan_bytes, rezip, sha256, snapshot, with_dtd

from planner.errors import PlannerError
from workbook import read as R
from workbook.build import EXTRA_INPUTS, INPUT_NAMES, MODEL_FIRST_ROW
from workbook.cache import sheet_parts
from workbook.read import read_plan, read_plan_full

PARTS = sheet_parts(zipfile.ZipFile(io.BytesIO(plan_bytes())))
WORKBOOK_XML = "xl/workbook.xml"


def _names() -> dict[str, str]:
    text = zipfile.ZipFile(io.BytesIO(plan_bytes())).read(WORKBOOK_XML).decode()
    return dict(re.findall(r'<definedName name="([^"]+)">([^<]*)</definedName>', text))


NAMES = _names()


def _input_cell(name: str) -> tuple[str, str]:
    sheet, ref = NAMES[name].split("!")
    return sheet, ref.replace("$", "")


def set_name(name: str, target: str | None) -> bytes:
    """The plan with defined name ``name`` pointing at ``target`` (None: the name deleted)."""
    def change(member: str, body: bytes) -> bytes:
        if member != WORKBOOK_XML:
            return body
        old = f'<definedName name="{name}">{NAMES[name]}</definedName>'
        new = "" if target is None else f'<definedName name="{name}">{target}</definedName>'
        assert old.encode() in body
        return body.replace(old.encode(), new.encode())
    return rezip(plan_bytes(), change)


def set_cell(name: str, cell_xml: str) -> bytes:
    """The plan with the input cell named ``name`` replaced: ``cell_xml`` is the inside of ``<c r=".." ...>`` as
    ``(attributes, content)`` text, e.g. ``' t="inlineStr"><is><t>lots</t></is>'``; '' leaves the cell empty."""
    sheet, coord = _input_cell(name)

    def change(member: str, body: bytes) -> bytes:
        if member != PARTS[sheet]:
            return body
        text, n = re.subn(rf'<c r="{coord}"[^>]*?(?:/>|>.*?</c>)', f'<c r="{coord}"{cell_xml or "/>"}'
                          + ("</c>" if cell_xml else ""), body.decode(), count=1, flags=re.DOTALL)
        assert n == 1
        return text.encode()
    return rezip(plan_bytes(), change)


def text_cell(text: str) -> str:
    return f' t="inlineStr"><is><t>{text}</t></is>'


def number_cell(value: str) -> str:
    return f"><v>{value}</v>"


def check_refused(tmp_path: Path, data: bytes, *needles: str, name: str = "plan.xlsx",
                  seconds: float = 5.0) -> PlannerError:
    """``data`` as a file: reading it is a one-line PlannerError naming ``needles``, quick, and the file unchanged."""
    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot(tmp_path)
    started = time.perf_counter()
    with pytest.raises(PlannerError) as exc:
        read_plan_full(path)
    assert time.perf_counter() - started < seconds
    message = str(exc.value)
    assert "\n" not in message and len(message) < 1000, message
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)
    assert snapshot(tmp_path) == before, "reading changed or left a file"
    return exc.value


# ------------------------------------------------------------------------------------------- edited plans


REQUIRED_INPUTS = [INPUT_NAMES[k] for k in ("model", "accelerator", "dtype", "kv_dtype", "engine", "qps",
                                            "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms")]
NUMERIC_INPUTS = {INPUT_NAMES[k]: k for k in ("qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms",
                                             "budget_usd_month")} | {"usd_per_gpu_hour_input": "usd_per_gpu_hour"}
ALL_NAMES = [*INPUT_NAMES.values(), *(name for _, name, _, _ in EXTRA_INPUTS), "whichwall_format"]


@pytest.mark.parametrize("name", ALL_NAMES)
def test_a_deleted_defined_name_is_named(tmp_path: Path, name: str) -> None:
    check_refused(tmp_path, set_name(name, None), f"no defined name '{name}'", "whichwall plan -o")


@pytest.mark.parametrize("name", REQUIRED_INPUTS)
def test_a_deleted_required_input_is_named(tmp_path: Path, name: str) -> None:
    sheet, coord = _input_cell(name)
    check_refused(tmp_path, set_cell(name, ""), f"{sheet}!{coord}", "is empty; it is required")


TEXT_CASES = [(name, "lots") for name in NUMERIC_INPUTS] + [("qps", t) for t in ("#DIV/0!", "1,000", "inf", "=A1")]


@pytest.mark.parametrize(("name", "text"), TEXT_CASES)
def test_text_in_a_numeric_input_is_named(tmp_path: Path, name: str, text: str) -> None:
    field = NUMERIC_INPUTS[name]
    check_refused(tmp_path, set_cell(name, text_cell(text)), f"({field}) must be a number", f"the text '{text}'")


@pytest.mark.parametrize(
    ("name", "cell", "needles"),
    [
        ("qps", number_cell("1e300"), ("qps", "less than or equal")),
        ("qps", ' t="b"><v>1</v>', ("(qps) must be a number", "True")),
        ("qps", ' t="e"><v>#N/A</v>', ("(qps) must be a number", "#N/A")),
        ("input_tokens", number_cell("1.5"), ("(input_tokens) must be a whole number",)),
        ("input_tokens", number_cell("-3"), ("input_tokens", "greater than 0")),
        ("tp_input", text_cell("four"), ("(tp) must be 'auto' or a whole number",)),
        ("tp_input", number_cell("1e300"), ("tp", "less than or equal to 64")),
        ("model", number_cell("70"), ()),  # read as the id '70'; the planner then names the closest ids
        ("dtype", text_cell("fp7"), ("unknown dtype 'fp7'", "bf16")),
        ("engine", text_cell("tgi"), ("unknown engine 'tgi'", "vllm")),
        ("plan_name", text_cell("x" * 5000), ("name", "at most 200 characters", "5,002 characters")),
        ("search_accelerators", number_cell("8"), ("must be comma-separated text",)),
        ("search_dtypes", text_cell("fp8, fp7"), ("unknown dtype 'fp7'",)),
        ("whichwall_format", number_cell("2"), ("format 2", "re-export")),
        ("qps", "><f>A1*2</f>", ("holds a formula with no computed value", "open and save")),
    ],
)
def test_edited_inputs(tmp_path: Path, name: str, cell: str, needles: tuple[str, ...]) -> None:
    data = set_cell(name, cell)
    if not needles:
        path = tmp_path / "plan.xlsx"
        path.write_bytes(data)
        assert read_plan(path).model == "70"
        return
    check_refused(tmp_path, data, *needles)


@pytest.mark.parametrize(
    ("target", "needles"),
    [
        ("Plan!$B:$B", ("should point at one cell", "Plan!$B:$B")),
        ("Plan!$B$5:$B$9", ("should point at one cell",)),
        ("#REF!", ("should point at one cell", "#REF!")),
        ("Nowhere!$B$5", ("missing sheet 'Nowhere'",)),
        ("42", ("should point at one cell",)),
        ("SUM(Plan!$B$5,1)", ("should point at one cell",)),
        ("[1]Plan!$B$5", ("missing sheet",)),
        ("Plan!$A$1", ("(qps) must be a number", "Plan!A1")),
        ("Plan!$Z$999", ("Plan!Z999 (qps) is empty",)),
    ],
)
def test_a_defined_name_pointing_elsewhere(tmp_path: Path, target: str, needles: tuple[str, ...]) -> None:
    check_refused(tmp_path, set_name("qps", target), *needles)


@pytest.mark.parametrize("sheet", ["Plan", "About"])
def test_a_deleted_sheet(tmp_path: Path, sheet: str) -> None:
    def drop(member: str, body: bytes) -> bytes:
        if member == WORKBOOK_XML:
            return re.sub(rf'<sheet [^>]*name="{sheet}"[^>]*/>'.encode(), b"", body)
        return body
    check_refused(tmp_path, rezip(plan_bytes(), drop), "not a whichwall plan workbook", "whichwall plan SPEC -o")


def test_a_stray_cell_at_the_last_row_costs_nothing(tmp_path: Path) -> None:
    """A hand-typed cell at Catalogue!A1048576 with a hand-typed model: the reader looks only at the rows the
    formulas look up (it once walked a million rows: 130 s and 8 GB)."""
    catalogue = PARTS["Catalogue"]

    def change(member: str, body: bytes) -> bytes:
        if member == catalogue:
            return body.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t>'
                                                 b'</is></c></row></sheetData>')
        return body
    data = rezip(set_cell("model", text_cell("house-model")), change)
    path = tmp_path / "plan.xlsx"
    path.write_bytes(data)
    started = time.perf_counter()
    assert read_plan(path).model == "house-model"
    assert time.perf_counter() - started < 5.0


def test_a_hand_added_model_row_beyond_the_lookup_range_is_not_read(tmp_path: Path) -> None:
    row = MODEL_FIRST_ROW + 500

    def change(member: str, body: bytes) -> bytes:
        if member == PARTS["Catalogue"]:
            return body.replace(b"</sheetData>", f'<row r="{row}"><c r="A{row}" t="inlineStr"><is><t>house-model'
                                                 f'</t></is></c></row></sheetData>'.encode())
        return body
    path = tmp_path / "plan.xlsx"
    path.write_bytes(rezip(set_cell("model", text_cell("house-model")), change))
    assert read_plan_full(path).catalogue is None


# ------------------------------------------------------------------------------------------- hostile files


def test_openpyxl_parses_workbooks_with_defusedxml() -> None:
    assert openpyxl.xml.DEFUSEDXML, "defusedxml is a dependency: openpyxl must parse workbooks with it"
    from openpyxl.xml import functions

    assert functions.fromstring.__module__.startswith("defusedxml") or openpyxl.xml.LXML


@pytest.mark.parametrize("member", [WORKBOOK_XML, "[Content_Types].xml", "docProps/core.xml", "xl/styles.xml",
                                    PARTS["Plan"], PARTS["About"], "xl/_rels/workbook.xml.rels"])
def test_entity_expansion_is_refused_in_every_part(tmp_path: Path, member: str) -> None:
    data = rezip(plan_bytes(), lambda name, body: with_dtd(body) if name == member else body)
    check_refused(tmp_path, data, f"part {member} declares an XML document type (DTD)", "refusing it", seconds=2)


def test_entity_expansion_is_refused_by_openpyxl_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The second line of defence: without whichwall's own check, openpyxl's parser refuses it — defusedxml's
    EntitiesForbidden with the standard library's parser, libxml2's entity-amplification limit when openpyxl
    parses with lxml."""
    monkeypatch.setattr(R, "_declares_a_dtd", lambda zf, info: False)
    data = rezip(plan_bytes(), lambda name, body: with_dtd(body) if name == WORKBOOK_XML else body)
    error = check_refused(tmp_path, data, "not a readable .xlsx workbook", seconds=2)
    assert "EntitiesForbidden" in str(error) or "Amplification" in str(error), str(error)


def test_external_entities_and_other_encodings_are_refused(tmp_path: Path) -> None:
    xxe = '<!DOCTYPE w [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    data = rezip(plan_bytes(), lambda n, b: with_dtd(b, xxe, "&x;") if n == WORKBOOK_XML else b)
    check_refused(tmp_path, data, "declares an XML document type")

    def utf16(name: str, body: bytes) -> bytes:
        if name != "docProps/core.xml":
            return body
        text = with_dtd(body).decode().replace("<?xml", "", 1)
        return ('<?xml version="1.0" encoding="UTF-16"?>' + text.split("?>", 1)[-1]).encode("utf-16")
    check_refused(tmp_path, rezip(plan_bytes(), utf16), "declares an XML document type")


def test_a_zip_bomb_is_refused_before_anything_is_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("openpyxl was asked to open it")

    monkeypatch.setattr(R, "load_workbook", never)
    bomb = rezip(plan_bytes(), extra=[("xl/media/image1.png", b"\0" * (R.MAX_UNPACKED_BYTES + 1))])
    assert len(bomb) < len(plan_bytes()) + 100_000  # 20 MB of zeros adds ~20 kB on disk
    check_refused(tmp_path, bomb, "unpacks to", f"limit {R.MAX_UNPACKED_BYTES:,}", seconds=2)


def test_a_part_larger_than_declared_is_never_inflated_past_it(tmp_path: Path) -> None:
    """The zip directory says 10 bytes; the data inflates to 50 MB. zipfile stops at the declared size (and the CRC
    check fails), so the declared sizes bound the memory the reader can use."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(plan_bytes())) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item.filename))
        dst.writestr("xl/liar.xml", b"<a>" + b" " * 50_000_000 + b"</a>")
    data = bytearray(buf.getvalue())
    # patch the central directory entry's uncompressed size of the last member to 10 bytes
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    lh = data.rfind(b"PK\x03\x04")
    data[lh + 22:lh + 26] = (10).to_bytes(4, "little")
    path = tmp_path / "liar.xlsx"
    path.write_bytes(bytes(data))
    started = time.perf_counter()
    try:
        read_plan_full(path)
    except PlannerError:
        pass
    assert time.perf_counter() - started < 5.0


def test_thousands_of_parts_are_refused(tmp_path: Path) -> None:
    many = rezip(plan_bytes(), extra=[(f"xl/media/p{i}.bin", b"") for i in range(R.MAX_MEMBERS)])
    check_refused(tmp_path, many, "parts", f"limit {R.MAX_MEMBERS:,}")


def test_a_huge_file_is_refused_before_it_is_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.xlsx"
    with path.open("wb") as fh:
        fh.truncate(R.MAX_WORKBOOK_BYTES + 1)
    monkeypatch.setattr(zipfile, "ZipFile", None)  # never opened as an archive
    started = time.perf_counter()
    with pytest.raises(PlannerError, match=f"limit {R.MAX_WORKBOOK_BYTES:,}"):
        read_plan(path)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("label", "make", "needles"),
    [
        ("png", lambda: b"\x89PNG\r\n\x1a\n" + bytes(1000), ("not a zip archive",)),
        ("csv", lambda: b"model,gpu\nllama,h100\n", ("not a zip archive", "whichwall plan -o")),
        ("truncated", lambda: plan_bytes()[: len(plan_bytes()) // 2], ("not",)),
        ("an odt-like zip", lambda: rezip(plan_bytes(), lambda n, b: None if n.startswith("xl/") else b),
         ("no xl/workbook.xml",)),
        ("a damaged part", lambda: rezip(plan_bytes(), lambda n, b: b[:100] if n == PARTS["Plan"] else b),
         ("not a readable .xlsx workbook", "whichwall plan -o")),
        ("a missing sheet part", lambda: rezip(plan_bytes(), lambda n, b: None if n == PARTS["Plan"] else b),
         ("not a whichwall plan workbook",)),
        ("a part that is not XML", lambda: rezip(plan_bytes(), lambda n, b: bytes(range(256)) if n == PARTS["About"]
                                                 else b), ("not a readable .xlsx workbook",)),
        ("a spreadsheet that is not a plan", lambda: _other_workbook(), ("not a whichwall plan workbook",)),
    ],
)
def test_files_that_are_not_plans(tmp_path: Path, label: str, make, needles: tuple[str, ...]) -> None:
    check_refused(tmp_path, make(), *needles)


def _other_workbook() -> bytes:
    wb = openpyxl.Workbook()
    wb.active["A1"] = "budget"
    wb.create_sheet("Plan")
    wb.create_sheet("About")["A1"] = "not the marker"
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def test_an_encrypted_part(tmp_path: Path) -> None:
    data = bytearray(plan_bytes())
    pos = 0
    while (pos := data.find(b"PK\x01\x02", pos)) != -1:  # set the 'encrypted' flag in every directory entry
        data[pos + 8] |= 1
        pos += 4
    check_refused(tmp_path, bytes(data), "not a readable .xlsx workbook")


def test_reading_a_good_plan_never_modifies_it(tmp_path: Path) -> None:
    path = tmp_path / "plan.xlsx"
    path.write_bytes(plan_bytes())
    before, digest = snapshot(tmp_path), sha256(path)
    first = read_plan(path)
    assert first == read_plan(path)
    assert first.name == SPEC["name"] and first.qps == SPEC["qps"]
    assert snapshot(tmp_path) == before and sha256(path) == digest
