"""No formula injection and no lost work.

* Text from a user (plan name and notes, catalogue ids, names, notes and sources from a user catalogue) is written
  as text even when it starts with =, + , - or @: in the .xlsx XML the cell is a string (inlineStr / shared string)
  with no <f>, openpyxl reads the literal text back, and LibreOffice, recalculating everything, shows it unchanged.
* Exports are atomic (temp file + rename), never overwrite without --force, and an export interrupted mid-write
  (an exception, Ctrl-C) leaves neither a partial file nor a temporary file; reading a plan never modifies it.

tests/test_workbook_export.py covers the plain refusals (exists, wrong suffix, missing folder, an OSError at fsync)."""

from __future__ import annotations

import io
import os
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
import yaml
from _bad_input import ACCELERATOR, MODEL, SPEC, assert_refused, run_cli, sha256, snapshot, write_spec, write_yaml

from planner import files
from planner.catalogue import CATALOGUE_ENV, get_catalogue
from planner.errors import PlannerError
from planner.spec import spec_from_data
from workbook import export as X
from workbook.build import ACC_CAPACITY, workbook_bytes
from workbook.cache import sheet_parts
from workbook.export import export_folder, export_plan
from workbook.read import read_plan, read_plan_full
from workbook.recalc import find_soffice, recalculate

PAYLOADS = {
    "name": "=1+1",
    "notes": "@SUM(A1:A9)",
    "acc_id": "-gpu",
    "acc_name": "=HYPERLINK(\"http://example.invalid\",\"click\")",
    "acc_vendor": "+cmd|' /C calc'!A0",
    "acc_source": "-2+3",
    "model_id": "@model",
    "model_name": "=2*3",
    "model_source": "+7+7",
}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)


def _hostile_catalogue(folder: Path) -> Path:
    return write_yaml(folder / "hostile.yaml", {
        "accelerators": [{**ACCELERATOR, "id": PAYLOADS["acc_id"], "name": PAYLOADS["acc_name"],
                          "vendor": PAYLOADS["acc_vendor"], "source": PAYLOADS["acc_source"]}],
        "models": [{**MODEL, "id": PAYLOADS["model_id"], "name": PAYLOADS["model_name"],
                    "source": PAYLOADS["model_source"]}],
    })


@pytest.fixture(scope="module")
def hostile_plan(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A plan whose every user text is a formula, exported through the CLI."""
    folder = tmp_path_factory.mktemp("hostile")
    spec = write_spec(folder, name=PAYLOADS["name"], notes=PAYLOADS["notes"], accelerator=PAYLOADS["acc_id"],
                      model=PAYLOADS["model_id"])
    out = folder / "plan.xlsx"
    from whichwall.cli import main

    assert main(["plan", str(spec), "--catalogue", str(_hostile_catalogue(folder)), "-o", str(out), "--json"]) == 0
    return out


def _payload_cells(path: Path) -> list[tuple[str, str, str]]:
    """(sheet, cell XML, payload) for every cell of the file whose XML mentions a payload."""
    found = []
    with zipfile.ZipFile(path) as zf:
        for sheet, member in sheet_parts(zf).items():
            xml = zf.read(member).decode("utf-8")
            for cell in re.findall(r"<c\b[^>]*?(?:/>|>.*?</c>)", xml, flags=re.DOTALL):
                for payload in PAYLOADS.values():
                    escaped = payload.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    escaped_q = escaped.replace('"', "&quot;")
                    if escaped in cell or escaped_q in cell:
                        found.append((sheet, cell, payload))
    return found


def test_user_text_is_written_as_text_in_the_xml(hostile_plan: Path) -> None:
    cells = _payload_cells(hostile_plan)
    written = {payload for _, _, payload in cells}
    assert written == set(PAYLOADS.values()), set(PAYLOADS.values()) - written
    for sheet, cell, _ in cells:
        if "<f>" in cell:  # a formula may mention an id only inside its cached *string result*, never as code
            continue
        assert re.search(r'\bt="(inlineStr|s)"', cell), (sheet, cell)
    with zipfile.ZipFile(hostile_plan) as zf:
        for member in sheet_parts(zf).values():
            formulas = re.findall(r"<f>(.*?)</f>", zf.read(member).decode("utf-8"), flags=re.DOTALL)
            injected = {t for p in PAYLOADS.values() for t in (p, p[1:], p.replace('"', "&quot;")[1:])}
            assert not injected & set(formulas), injected & set(formulas)


def test_openpyxl_reads_the_literal_text_back(hostile_plan: Path) -> None:
    wb = openpyxl.load_workbook(hostile_plan)
    seen = {}
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in PAYLOADS.values():
                    assert cell.data_type == "s", (ws.title, cell.coordinate, cell.data_type)
                    seen[cell.value] = f"{ws.title}!{cell.coordinate}"
    assert set(seen) == set(PAYLOADS.values())


def test_the_plan_reads_back_with_the_same_text(hostile_plan: Path) -> None:
    before = sha256(hostile_plan)
    read = read_plan_full(hostile_plan, get_catalogue([_hostile_catalogue(hostile_plan.parent)]))
    assert read.spec.name == PAYLOADS["name"] and read.spec.notes == PAYLOADS["notes"]
    assert read.spec.accelerator == PAYLOADS["acc_id"] and read.spec.model == PAYLOADS["model_id"]
    assert sha256(hostile_plan) == before


def test_libreoffice_shows_the_literal_text(hostile_plan: Path, tmp_path: Path) -> None:
    if find_soffice() is None:
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail("LibreOffice (soffice) is not on PATH in CI")
        pytest.skip("LibreOffice (soffice) is not on PATH")
    out = recalculate(hostile_plan, tmp_path)
    wb = openpyxl.load_workbook(out, data_only=True)
    values = {cell.value for ws in wb.worksheets for row in ws.iter_rows() for cell in row}
    assert set(PAYLOADS.values()) <= values, set(PAYLOADS.values()) - values
    assert "click" not in values  # the HYPERLINK never ran
    formulas = openpyxl.load_workbook(out)
    for ws in formulas.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.value in PAYLOADS.values():
                    assert cell.data_type == "s", (ws.title, cell.coordinate)


def _search_has_output() -> bool:
    from whichwall.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return "search" in sub.choices


@pytest.mark.skipif(not _search_has_output(), reason="this CLI has no `whichwall search`")
def test_search_output_writes_user_text_as_text(tmp_path: Path) -> None:
    from whichwall.cli import main

    spec = write_spec(tmp_path, name=PAYLOADS["name"], notes=PAYLOADS["notes"])
    out = tmp_path / "search.xlsx"
    assert main(["search", str(spec), "--accelerators", "h100", "--dtypes", "bf16", "--json", "-o", str(out)]) == 0
    wb = openpyxl.load_workbook(out)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]


def test_text_a_cell_cannot_hold_is_refused_before_any_file(tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match="control character"):
        spec_from_data({**SPEC, "notes": "ring \x07"})
    catalogue = write_yaml(tmp_path / "cat.yaml", {"accelerators": [{**ACCELERATOR, "name": "tab\tok, bell\x07"}]})
    with pytest.raises(PlannerError, match=r"control character '\\x07'.*remove it"):
        export_plan(spec_from_data({**SPEC, "accelerator": "my-gpu"}), tmp_path / "plan.xlsx",
                    catalogue=get_catalogue([catalogue]))
    assert not (tmp_path / "plan.xlsx").exists()


def test_a_catalogue_too_big_for_a_workbook_is_a_clear_error(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    many = write_yaml(tmp_path / "many.yaml", {"accelerators": [
        {**ACCELERATOR, "id": f"gpu-{i}", "name": f"GPU {i}"} for i in range(ACC_CAPACITY)]})
    spec = write_spec(tmp_path)
    assert run_cli(capsys, "plan", spec, "--catalogue", many)[0] == 0  # planning is fine
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, "plan", spec, "--catalogue", many, "-o", tmp_path / "plan.xlsx")
    assert_refused(code, out, err, f"a plan workbook holds {ACC_CAPACITY}", "fewer accelerators")
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------------------------- no lost work


class Interrupted(BaseException):
    """Stands for Ctrl-C or a crash in the middle of a write (not an Exception: nothing may swallow it)."""


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp")


def _half_then_die(monkeypatch: pytest.MonkeyPatch, module: object) -> None:
    """Make the next file written through ``module.os.fdopen`` write half its bytes, then be interrupted."""
    real = os.fdopen

    class Dying(io.RawIOBase):
        def __init__(self, fh):
            self.fh = fh

        def write(self, data):
            self.fh.write(data[: len(data) // 2])
            self.fh.flush()
            raise Interrupted

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()
            return False

    monkeypatch.setattr(module.os, "fdopen", lambda fd, *a, **k: Dying(real(fd, *a, **k)))


@pytest.mark.parametrize("force", [False, True])
def test_an_export_interrupted_mid_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         force: bool) -> None:
    out = tmp_path / "plan.xlsx"
    if force:
        out.write_bytes(b"the planner's previous plan")
    before = snapshot(tmp_path)
    _half_then_die(monkeypatch, files)
    with pytest.raises(Interrupted):
        export_plan(spec_from_data(SPEC), out, force=force)
    assert snapshot(tmp_path) == before and not _temps(tmp_path)


@pytest.mark.parametrize(("step", "force"), [("fsync", False), ("fsync", True), ("chmod", False), ("chmod", True),
                                             ("link", False), ("replace", True)])
def test_an_export_that_dies_at_any_step_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             step: str, force: bool) -> None:
    """Each step of the write (flush to disk, permissions, the link that refuses an existing name, the replace that
    --force does) interrupted: the old file is intact, no new file and no temporary file is left."""
    old = tmp_path / "plan.xlsx"
    old.write_bytes(b"the planner's previous plan")
    target = old if force else tmp_path / "new.xlsx"
    before = snapshot(tmp_path)

    def die(*args: object, **kwargs: object) -> None:
        raise Interrupted

    monkeypatch.setattr(files.os, step, die)
    with pytest.raises(Interrupted):
        export_plan(spec_from_data(SPEC), target, force=force)
    assert snapshot(tmp_path) == before and not _temps(tmp_path)


def test_a_folder_export_interrupted_leaves_only_whole_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    specs, out = tmp_path / "specs", tmp_path / "out"
    specs.mkdir()
    for name in ("a", "b", "c"):
        write_spec(specs, f"{name}.yaml", name=name)
    real = X.write_atomic
    calls = []

    def second_dies(target, data, *, force=False):
        calls.append(target)
        if len(calls) == 2:
            _half_then_die(monkeypatch, files)
        return real(target, data, force=force)

    monkeypatch.setattr(X, "write_atomic", second_dies)
    with pytest.raises(Interrupted):
        export_folder(specs, out)
    assert sorted(p.name for p in out.iterdir()) == ["a.xlsx"]
    assert read_plan(out / "a.xlsx").name == "a"


def test_never_overwrite_without_force_keeps_bytes_and_mtime(tmp_path: Path) -> None:
    out = tmp_path / "plan.xlsx"
    out.write_bytes(workbook_bytes(spec_from_data(SPEC)))
    os.utime(out, ns=(1_000_000_000, 1_000_000_000))
    before = snapshot(tmp_path)
    with pytest.raises(PlannerError, match="already exists; pass --force"):
        export_plan(spec_from_data({**SPEC, "qps": 9}), out)
    specs = tmp_path / "specs"
    specs.mkdir()
    write_spec(specs, "plan.yaml")
    with pytest.raises(PlannerError, match="nothing written"):
        export_folder(specs, tmp_path)
    assert snapshot(tmp_path) == {**before, **snapshot(specs)}


def test_a_file_that_appears_during_the_build_is_not_overwritten(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "plan.xlsx"
    real = X.workbook_bytes

    def build_while_someone_saves(spec, catalogue=None):
        data = real(spec, catalogue)
        out.write_bytes(b"saved by someone else meanwhile")
        return data

    monkeypatch.setattr(X, "workbook_bytes", build_while_someone_saves)
    with pytest.raises(PlannerError, match="already exists"):
        export_plan(spec_from_data(SPEC), out)
    assert out.read_bytes() == b"saved by someone else meanwhile" and not _temps(tmp_path)


def test_calibrate_output_interrupted_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """`whichwall calibrate -o --force` dying half-way through writing its YAML leaves the old file and no
    temporary file; run again, it replaces the file whole."""
    table = Path(__file__).resolve().parents[1] / "data" / "measurements" / "rocm-vllm-mi300x.csv"
    out = tmp_path / "fit.yaml"
    out.write_text("# the planner's previous fit\n")
    before = snapshot(tmp_path)
    argv = ("calibrate", str(table), "--source", "040de12d", "-o", str(out), "--force")
    _half_then_die(monkeypatch, files)
    with pytest.raises(Interrupted):
        run_cli(capsys, *argv)
    assert snapshot(tmp_path) == before and not _temps(tmp_path)
    monkeypatch.undo()
    assert run_cli(capsys, *argv)[0] == 0
    assert "mi300x" in yaml.safe_load(out.read_text())["efficiency"]["per_accelerator"] and not _temps(tmp_path)


def test_planning_from_a_workbook_never_modifies_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plan = tmp_path / "plan.xlsx"
    plan.write_bytes(workbook_bytes(spec_from_data(SPEC)))
    digest = sha256(plan)
    for argv in (["read", plan], ["read", plan, "--json"], ["read", plan, "--spec"],
                 ["plan", plan, "-o", tmp_path / "v2.xlsx"]):
        code, _, err = run_cli(capsys, *argv)
        assert code == 0, err
    assert sha256(plan) == digest
    code, out, err = run_cli(capsys, "plan", plan, "-o", plan)  # onto itself, without --force
    assert_refused(code, out, err, "already exists", "--force")
    assert sha256(plan) == digest


def test_sweep_csv_text_cannot_run_as_a_formula() -> None:
    """A CSV opened in a spreadsheet runs '=...' as a formula: whichwall prefixes such text with an apostrophe and
    leaves numbers (negative ones included) alone."""
    from whichwall.tables import csv_value as _csv_value

    assert _csv_value("=HYPERLINK(\"http://x\")") == "'=HYPERLINK(\"http://x\")"
    assert _csv_value("@SUM(A1)") == "'@SUM(A1)"
    assert _csv_value("h100-sxm") == "h100-sxm"
    assert _csv_value(-5.0) == -5.0
