"""``whichwall search`` and ``whichwall sweep``: tables, JSON, workbook and CSV output (atomic, never over a file
without --force), and bad input: exit 2, one line, no traceback."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import yaml
from openpyxl import load_workbook

from planner.catalogue import CATALOGUE_ENV
from whichwall.cli import main

SPEC = {"name": "long-prompts", "model": "llama-3.1-70b", "accelerator": "h100-sxm", "dtype": "fp8",
        "kv_dtype": "fp8", "qps": 10, "input_tokens": 8192, "output_tokens": 256, "ttft_slo_ms": 3000,
        "tpot_slo_ms": 25, "accelerators": ["h100-sxm", "h200-sxm"], "dtypes": ["fp8", "bf16"]}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "80")


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(SPEC), encoding="utf-8")
    return path


def test_search_default_plan_prints_plans_comparison_pareto_and_walls(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "search")
    assert code == 0, err
    for needle in ("Cheapest plans that meet the SLOs", "Aggregated vs disaggregated", "Pareto front",
                   "Walls of the winner", "winner:", "binds", "relax it:", "then"):
        assert needle in out, needle


def test_search_json_lists_plans_that_meet_the_slos(spec_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "search", str(spec_file), "--json", "--top", "5")
    assert code == 0, err
    data = json.loads(out)
    assert 1 <= len(data["plans"]) <= 5 and data["configs_evaluated"] > 0
    for p in data["plans"]:
        assert p["tpot_ms"] <= SPEC["tpot_slo_ms"] and p["ttft_ms"] <= SPEC["ttft_slo_ms"]
        assert p["accelerator"] in SPEC["accelerators"] and p["dtype"] in SPEC["dtypes"]
    assert data["winner"]["label"] == data["plans"][0]["label"]
    assert data["best"]["disaggregated"]["mode"] == "disaggregated"
    assert data["relaxation"]["wall"] == data["winner"]["binding_wall"]
    assert data["pareto"]


def test_search_writes_a_workbook_atomically_and_never_over_a_file(tmp_path: Path, spec_file: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out_path = tmp_path / "search.xlsx"
    code, _, err = run_main(capsys, "search", str(spec_file), "-o", str(out_path))
    assert code == 0, err and "wrote" in err
    wb = load_workbook(out_path)
    assert wb.sheetnames[:4] == ["Search", "Pareto", "Compare", "Walls"]
    ws = wb["Search"]
    assert ws["A1"].value == "Search" and "cheapest plans" in ws["A2"].value  # titled, with a note
    header = [c.value for c in ws[4]]
    assert header[0] == "rank" and "binding wall" in header and ws.max_row > 4
    usd = header.index("USD/month") + 1
    assert isinstance(ws.cell(5, usd).value, (int, float)) and ws.cell(5, usd).number_format == "#,##0"  # numbers
    assert ws.cell(5, 1).fill.fgColor.rgb.endswith("FFF2CC")  # the winner is highlighted
    assert wb["Pareto"]._charts, "the Pareto sheet has its chart"
    walls = wb["Walls"]
    assert {walls.cell(r, 4).value for r in range(5, 10)} == {"yes", "no"}  # flags read as yes/no, not 1/0
    umask = os.umask(0)
    os.umask(umask)
    assert out_path.stat().st_mode & 0o777 == 0o666 & ~umask  # an ordinary file, as plans are (the umask's mode)
    before = out_path.read_bytes()
    code, out, err = run_main(capsys, "search", str(spec_file), "-o", str(out_path))
    assert code == 2 and "--force" in err and out == ""
    assert out_path.read_bytes() == before
    code, _, err = run_main(capsys, "search", str(spec_file), "-o", str(out_path), "--force")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["search.xlsx", "spec.yaml"]  # no temporary left


def test_sweep_over_named_axes_to_csv_and_xlsx(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = tmp_path / "table.csv"
    code, out, err = run_main(capsys, "sweep", "--axis", "accelerator=h100-sxm,h200-sxm", "--axis", "dtype=fp8,bf16",
                              "--axis", "tpot_slo_ms=30,50", "-o", str(table))
    assert code == 0, err
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert len(rows) == 8
    assert {(r["accelerator"], r["dtype"], r["tpot_slo_ms"]) for r in rows} == {
        (a, d, t) for a in ("h100-sxm", "h200-sxm") for d in ("fp8", "bf16") for t in ("30", "50")}
    assert all(r["binding wall"] in {"memory capacity", "memory bandwidth", "compute", "network", "budget"}
               for r in rows)
    assert "Sweep" in out
    book = tmp_path / "table.xlsx"
    code, _, err = run_main(capsys, "sweep", "--axis", "qps=5,40", "--search", "-o", str(book))
    assert code == 0, err
    ws = load_workbook(book)["Sweep"]
    assert ws.max_row == 6 and [c.value for c in ws[4]][:2] == ["qps", "mode"]
    assert [ws.cell(r, 1).value for r in (5, 6)] == [5, 40]  # the swept values as numbers, not text


def test_sweep_records_a_point_that_cannot_be_planned(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "sweep", "--axis", "tp=4,16", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["error"] is None and "scale-up domain" in rows[1]["error"]


BAD = {
    "axis without =": (["sweep", "--axis", "accelerator"], "NAME=V1,V2"),
    "no axis": (["sweep"], "--axis"),
    "unknown axis": (["sweep", "--axis", "colour=red"], "colour"),
    "empty axis value": (["sweep", "--axis", "dtype=fp8,"], "empty value"),
    "text for a number": (["sweep", "--axis", "tpot_slo_ms=fast"], "tpot_slo_ms"),
    "unknown accelerator in an axis": (["sweep", "--axis", "accelerator=h10,h200"], "h100"),
    "unknown candidate": (["search", "--accelerators", "h100-sxm,h10"], "h100"),
    "empty candidates": (["search", "--accelerators", ""], "empty"),
    "empty dtypes": (["search", "--dtypes", " , "], "empty"),
    "unknown dtype": (["search", "--dtypes", "fp9"], "fp9"),
    "bad output type": (["search", "-o", "out.txt"], ".xlsx"),
    "bad sweep output type": (["sweep", "--axis", "qps=1", "-o", "out.json"], ".csv"),
    "missing output folder": (["search", "-o", "no/such/folder/out.xlsx"], "does not exist"),
    "zero top": (["search", "--top", "0"], "--top"),
    "missing spec": (["search", "missing.yaml"], "missing.yaml"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_exits_2_with_one_line_and_no_traceback(case: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv, needle = BAD[case]
    code, out, err = run_main(capsys, *argv)
    assert code == 2, (code, err)
    assert "Traceback" not in out + err and out == ""
    assert err.startswith("whichwall: error: ") and len(err.strip().splitlines()) == 1, err
    assert needle in err, err
    assert list(tmp_path.iterdir()) == []  # nothing written
