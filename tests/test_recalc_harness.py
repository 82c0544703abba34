"""Tests of the LibreOffice recalculation harness (workbook/recalc.py).

The workbooks here are written by openpyxl, which stores formulas and *no cached values*, so
every number asserted below was computed by LibreOffice. Without LibreOffice these tests skip
on a developer machine, but fail in CI (env var CI set): a silently skipped engine check would
let a broken plan workbook pass.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openpyxl
import pytest
from openpyxl.workbook.defined_name import DefinedName

from workbook import recalc
from workbook.recalc import RecalcError, find_soffice, recalculate, recalculated_values

# LibreOffice 7.4 writes numbers into .xlsx with 15 significant digits, so a non-integer result
# read back can differ from the full double in the last digits. Integers, text, booleans and
# errors are compared exactly; fractional numbers to this relative tolerance (far tighter than
# the 1e-9 the plan workbooks promise).
REL = 1e-13


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def soffice() -> str:
    path = find_soffice()
    if path is None:
        msg = (
            "LibreOffice (soffice) is not on PATH; the recalculation tests need it. "
            "Install with: apt-get install -y libreoffice-calc-nogui"
        )
        if _in_ci():
            pytest.fail(msg + " (CI is set, so this is a failure, not a skip)")
        pytest.skip(msg)
    return path


def _build(path: Path, a1: float = 6) -> Path:
    """A tiny two-sheet workbook exercising the Excel-2010 functions plan workbooks use."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Inputs"
    ws["A1"] = a1
    ws["B1"] = 7
    ws["C1"] = "=A1*B1"
    ws["D1"] = '=IF(A1>5,"big","small")'
    ws["E1"] = "=MAX(A1,B1,3)"
    ws["F1"] = "=A1>5"
    ws["A2"] = 2.5
    ws["B2"] = "=CEILING(A2,1)"
    ws["C2"] = "=CEILING(3.01,0.5)"
    ws["D2"] = "=CEILING(-2.5,1)"  # Excel 2010 semantics: rounds toward zero for negatives
    ws["E2"] = "=CEILING(A1*B1/4,1)"
    ws["A3"] = "=LN(10)"
    ws["B3"] = "=LN(A1)"
    ws["A4"] = '=INDEX(Catalogue!B1:B3,MATCH("h100-sxm",Catalogue!A1:A3,0))'
    ws["B4"] = "=Catalogue!B3*2"
    ws["C4"] = "=Rate*A1"  # workbook-level defined name
    ws["D4"] = '=INDEX(Catalogue!B1:B3,MATCH("tpu",Catalogue!A1:A3,0))'
    ws["E4"] = "=1/(A1-A1)"

    cat = wb.create_sheet("Catalogue")
    for row, (gpu, tb_s) in enumerate(
        [("a100-sxm", 2.039), ("h100-sxm", 3.35), ("h200", 4.8)], start=1
    ):
        cat.cell(row, 1, gpu)
        cat.cell(row, 2, tb_s)

    wb.defined_names["Rate"] = DefinedName("Rate", attr_text="Inputs!$B$1")
    wb.save(path)
    return path


def _assert_cached_values_absent(path: Path) -> None:
    """Guard the premise: openpyxl wrote formulas without cached values."""
    wb = openpyxl.load_workbook(path, data_only=True)
    assert wb["Inputs"]["C1"].value is None
    assert wb["Inputs"]["A4"].value is None


def test_formulas_compute_in_libreoffice(soffice, tmp_path):
    src = _build(tmp_path / "plan.xlsx")
    _assert_cached_values_absent(src)

    values = recalculated_values(src)
    inputs = values["Inputs"]

    assert set(values) == {"Inputs", "Catalogue"}
    # inputs pass through untouched
    assert inputs["A1"] == 6
    assert inputs["B1"] == 7
    # arithmetic, IF, MAX, comparison (booleans come back as bool)
    assert inputs["C1"] == 42
    assert inputs["D1"] == "big"
    assert inputs["E1"] == 7
    assert inputs["F1"] is True
    # CEILING(x, significance), the Excel-2010 spelling
    assert inputs["B2"] == 3
    assert inputs["C2"] == pytest.approx(3.5, rel=REL)
    assert inputs["D2"] == -2
    assert inputs["E2"] == 11  # CEILING(10.5, 1)
    # LN
    assert inputs["A3"] == pytest.approx(math.log(10), rel=REL)
    assert inputs["B3"] == pytest.approx(math.log(6), rel=REL)
    # INDEX/MATCH exact match, cross-sheet reference, defined name
    assert inputs["A4"] == pytest.approx(3.35, rel=REL)
    assert inputs["B4"] == pytest.approx(9.6, rel=REL)
    assert inputs["C4"] == 42
    # errors come back as their text
    assert inputs["D4"] == "#N/A"
    assert inputs["E4"] == "#DIV/0!"


def test_editing_an_input_changes_the_results(soffice, tmp_path):
    src = _build(tmp_path / "plan.xlsx", a1=6)
    assert recalculated_values(src)["Inputs"]["C1"] == 42

    wb = openpyxl.load_workbook(src)  # formulas kept, as a planner editing the file would
    wb["Inputs"]["A1"] = 2
    wb.save(src)

    inputs = recalculated_values(src)["Inputs"]
    assert inputs["A1"] == 2
    assert inputs["C1"] == 14
    assert inputs["D1"] == "small"
    assert inputs["F1"] is False
    assert inputs["E2"] == 4  # CEILING(3.5, 1)
    assert inputs["C4"] == 14
    assert inputs["B3"] == pytest.approx(math.log(2), rel=REL)


def test_stale_cached_values_are_recomputed(soffice, tmp_path):
    """A file that *does* carry cached values (saved by a spreadsheet) whose input was edited
    afterwards must not report the old results. This is what OOXMLRecalcMode=0 in the private
    profile is for: with LibreOffice's default (1, never) C1 would still read 42."""
    computed = recalculate(_build(tmp_path / "plan.xlsx", a1=6), tmp_path / "computed")
    stale = tmp_path / "stale.xlsx"
    with zipfile.ZipFile(computed) as zin, zipfile.ZipFile(stale, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                text = data.decode("utf-8")
                edited = re.sub(r'(<c r="A1"[^>]*><v>)6(</v>)', r"\g<1>10\g<2>", text)
                assert edited != text, "could not find input A1 in the sheet XML"
                data = edited.encode("utf-8")
            zout.writestr(item, data)
    cached = openpyxl.load_workbook(stale, data_only=True)["Inputs"]
    assert (cached["A1"].value, cached["C1"].value) == (10, 42)  # stale, as intended

    inputs = recalculated_values(stale)["Inputs"]
    assert inputs["A1"] == 10
    assert inputs["C1"] == 70


def test_recalculate_writes_a_new_file_and_leaves_the_source(soffice, tmp_path):
    src = _build(tmp_path / "plan.xlsx")
    before = src.read_bytes()
    out = recalculate(src, tmp_path / "out")
    assert out == (tmp_path / "out" / "plan.xlsx").resolve()
    assert out.is_file()
    assert src.read_bytes() == before
    # the copy still holds the formulas, not just values
    assert openpyxl.load_workbook(out)["Inputs"]["C1"].value == "=A1*B1"


def test_concurrent_recalculations_do_not_interfere(soffice, tmp_path):
    """Each call has its own profile; with a shared one, parallel conversions get lost."""
    srcs = [_build(tmp_path / f"plan{i}.xlsx", a1=i + 1) for i in range(3)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda p: recalculated_values(p)["Inputs"]["C1"], srcs))
    assert results == [7, 14, 21]


def test_timeout_raises_and_leaves_no_process(soffice, tmp_path, monkeypatch):
    started: list[int] = []
    real_popen = subprocess.Popen

    def recording_popen(*args, **kwargs):
        proc = real_popen(*args, **kwargs)
        started.append(proc.pid)
        return proc

    monkeypatch.setattr(recalc.subprocess, "Popen", recording_popen)
    src = _build(tmp_path / "plan.xlsx")
    with pytest.raises(RecalcError, match="did not finish"):
        recalculate(src, tmp_path / "out", timeout_s=0.05)
    assert len(started) == 1
    # The group is SIGKILLed; killed grandchildren may linger as zombies until init reaps them.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _group_has_live_members(started[0]):
            break
        time.sleep(0.1)
    assert not _group_has_live_members(started[0]), "soffice processes left running"


def _group_has_live_members(pgid: int) -> bool:
    """True if any non-zombie process is in process group ``pgid`` (Linux /proc)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, group = fields[0], int(fields[2])
        if group == pgid and state != "Z":
            return True
    return False


def test_unreadable_file_is_a_clear_error(soffice, tmp_path):
    bad = tmp_path / "notaworkbook.xlsx"
    bad.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 20)
    with pytest.raises(RecalcError, match=r"wrote no notaworkbook\.xlsx"):
        recalculate(bad, tmp_path / "out")


# --- checks that need no LibreOffice ---------------------------------------------------------


def test_missing_soffice_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert find_soffice() is None
    src = _build(tmp_path / "plan.xlsx")
    with pytest.raises(RecalcError, match="LibreOffice is not installed"):
        recalculate(src, tmp_path / "out")


def test_refuses_to_overwrite_the_source(tmp_path, monkeypatch):
    monkeypatch.setattr(recalc, "find_soffice", lambda: "/nonexistent/soffice")
    src = _build(tmp_path / "plan.xlsx")
    with pytest.raises(RecalcError, match="overwrite"):
        recalculate(src, tmp_path)


def test_missing_or_empty_source_is_a_clear_error(tmp_path):
    with pytest.raises(RecalcError, match="no such file"):
        recalculate(tmp_path / "absent.xlsx", tmp_path / "out")
    empty = tmp_path / "empty.xlsx"
    empty.touch()
    with pytest.raises(RecalcError, match="empty"):
        recalculate(empty, tmp_path / "out")
