"""Exporting plan workbooks: atomic, never overwriting unless forced, all-or-nothing for a folder; and the CLI
faces (plan -o, read, export) with one-line errors, exit status 2 and no file written on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest

from planner import files
from planner.errors import PlannerError
from planner.spec import default_spec
from workbook.export import export_folder, export_plan, write_atomic
from workbook.read import read_plan

SPEC = """\
name: {name}
model: llama-3.1-8b
accelerator: l40s
dtype: fp8
qps: 5
input_tokens: 512
output_tokens: 128
ttft_slo_ms: 1000
tpot_slo_ms: 50
"""


def _leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]


def test_export_writes_a_plan_and_never_overwrites(tmp_path):
    out = tmp_path / "plan.xlsx"
    export_plan(default_spec(), out)
    assert read_plan(out) == default_spec()
    before = out.read_bytes()
    with pytest.raises(PlannerError, match="already exists; pass --force"):
        export_plan(default_spec().model_copy(update={"qps": 1.0}), out)
    assert out.read_bytes() == before
    export_plan(default_spec().model_copy(update={"qps": 1.0}), out, force=True)
    assert read_plan(out).qps == 1.0
    assert not _leftovers(tmp_path)
    assert oct(out.stat().st_mode & 0o777) != "0o600"


@pytest.mark.parametrize(
    ("name", "message"),
    [("plan.csv", "must end in .xlsx"), ("missing/plan.xlsx", "does not exist"), ("adir.xlsx", "is a folder")],
)
def test_bad_targets_are_clear_errors(tmp_path, name, message):
    (tmp_path / "adir.xlsx").mkdir()
    with pytest.raises(PlannerError, match=message):
        export_plan(default_spec(), tmp_path / name)


def test_a_failed_write_leaves_no_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "fsync", boom)
    with pytest.raises(PlannerError, match="No space left on device"):
        write_atomic(tmp_path / "plan.xlsx", b"data")
    assert list(tmp_path.iterdir()) == []


def test_bad_spec_writes_nothing(tmp_path):
    with pytest.raises(PlannerError, match="unknown model"):
        export_plan(default_spec().model_copy(update={"model": "llama-9"}), tmp_path / "plan.xlsx")
    assert list(tmp_path.iterdir()) == []


def test_export_folder_all_or_nothing(tmp_path):
    specs, out = tmp_path / "specs", tmp_path / "out"
    specs.mkdir()
    for i in range(3):
        (specs / f"svc{i}.yaml").write_text(SPEC.format(name=f"svc{i}"))
    (specs / "README.md").write_text("not a spec")
    steps = []
    written = export_folder(specs, out, progress=lambda done, total, name: steps.append((done, total)))
    assert [p.name for p in written] == ["svc0.xlsx", "svc1.xlsx", "svc2.xlsx"]
    assert steps[-1] == (6, 6)
    assert read_plan(out / "svc1.xlsx").name == "svc1"
    with pytest.raises(PlannerError, match=r"already exist.*nothing written"):
        export_folder(specs, out)
    export_folder(specs, out, force=True)
    (specs / "svc3.yaml").write_text(SPEC.format(name="svc3").replace("llama-3.1-8b", "llama-9"))
    fresh = tmp_path / "fresh"
    with pytest.raises(PlannerError, match=r"1 of 4 specs are bad, nothing written: svc3.yaml: unknown model"):
        export_folder(specs, fresh)
    assert not fresh.exists()
    with pytest.raises(PlannerError, match="no specs"):
        export_folder(tmp_path / "out", tmp_path / "x")
    with pytest.raises(PlannerError, match="does not exist"):
        export_folder(tmp_path / "nope", tmp_path / "x")


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    return subprocess.run([sys.executable, "-m", "whichwall", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_cli_plan_read_export(tmp_path):
    r = _cli("plan", "-o", "plan.xlsx", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "binding wall" in r.stdout and "wrote plan.xlsx" in r.stderr
    r = _cli("plan", "-o", "plan.xlsx", cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "--force" in r.stderr and "Traceback" not in r.stderr
    r = _cli("read", "plan.xlsx", "--spec", cwd=tmp_path)
    assert r.returncode == 0 and r.stdout == default_spec().to_yaml()
    r = _cli("read", "plan.xlsx", cwd=tmp_path)
    assert r.returncode == 0 and "binding wall" in r.stdout
    r = _cli("plan", "plan.xlsx", "-o", "again.xlsx", cwd=tmp_path)
    assert r.returncode == 0 and read_plan(tmp_path / "again.xlsx") == default_spec()
    wb = openpyxl.load_workbook(tmp_path / "plan.xlsx")
    (sheet, ref), = wb.defined_names["qps"].destinations
    wb[sheet][ref.replace("$", "")].value = "many"
    wb.save(tmp_path / "bad.xlsx")
    r = _cli("read", "bad.xlsx", cwd=tmp_path)
    assert r.returncode == 2 and "qps) must be a number" in r.stderr and "Traceback" not in r.stderr
    r = _cli("plan", "bad.xlsx", "-o", "bad-out.xlsx", cwd=tmp_path)
    assert r.returncode == 2 and not (tmp_path / "bad-out.xlsx").exists()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.yaml").write_text(SPEC.format(name="a"))
    r = _cli("export", "specs", "out", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "a.xlsx").is_file() and "wrote 1 plan workbook" in r.stderr
    r = _cli("export", "specs", "out", cwd=tmp_path)
    assert r.returncode == 2 and "already exist" in r.stderr
    r = _cli("read", "nothere.xlsx", cwd=tmp_path)
    assert r.returncode == 2 and "does not exist" in r.stderr
