"""Measurement CSVs (``whichwall validate`` / ``calibrate``, ``planner.fidelity``) that are broken or hostile: each is
a ``PlannerError`` naming the file, the row and the column, and what would be right; loading is bounded in size.
tests/test_fidelity.py covers missing columns, text and negative numbers, NaN, unknown models and dtypes; the CLI
faces are in tests/test_bad_input_cli.py."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from _bad_input import MEASURED_HEADER, MEASURED_ROWS

from planner import fidelity
from planner.errors import PlannerError

GOOD = MEASURED_HEADER + MEASURED_ROWS
FIRST = MEASURED_ROWS.splitlines()[0]


def _row(**changes: str) -> str:
    values = dict(zip(MEASURED_HEADER.strip().split(","), FIRST.split(","), strict=True))
    return MEASURED_HEADER + ",".join({**values, **changes}.values()) + "\n" + MEASURED_ROWS


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (_row(tp="0.5"), ("table:2", "tp must be a whole number of GPUs")),
        (_row(tp="0"), ("table:2", "tp must be a positive number")),
        (_row(tp="1e300"), ("table:2", "tp must be a positive number up to")),
        (_row(isl="0.25"), ("table:2", "isl must be at least 1")),
        (_row(concurrency="0.5"), ("table:2", "concurrency must be at least 1")),
        (_row(osl="inf"), ("table:2", "osl must be a positive number")),
        (_row(ttft_ms="1e400"), ("table:2", "ttft_ms must be a positive number")),
        (_row(engine="tgi"), ("table:2", "unknown engine 'tgi'", "vllm")),
        (_row(dtype="fp7"), ("table:2", "unknown dtype 'fp7'", "bf16")),
        (_row(isl="x" * 10_000), ("table:2", "isl must be a number", "characters")),
        (MEASURED_HEADER + "x" * 200_000 + ",h100,vllm,bf16,1,1,1,1,1,1\n",
         ("field larger than field limit", "comma-separated")),
        (MEASURED_HEADER, ("no row whichwall can model", "the table is empty")),
        ("\n\n\n", ("missing columns",)),
        (MEASURED_HEADER.replace(",", ";") + MEASURED_ROWS.replace(",", ";"), ("missing columns", "short names")),
    ],
)
def test_bad_tables_name_the_row_and_what_is_right(text: str, needles: tuple[str, ...]) -> None:
    with pytest.raises(PlannerError) as exc:
        fidelity.parse_measurements(text, "table")
    message = str(exc.value)
    assert "\n" not in message and len(message) < 1000, message
    for needle in needles:
        assert needle in message, (needle, message)


def test_good_tables_in_excel_spellings_load(tmp_path: Path) -> None:
    """A "CSV UTF-8" export from Excel starts with a byte-order mark and ends lines with CRLF."""
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + GOOD).replace("\n", "\r\n").encode("utf-8"))
    loaded = fidelity.load_measurements(path)
    assert len(loaded.rows) == 4 and {r.engine for r in loaded.rows} == {"vllm"}


def test_odd_but_harmless_cells_are_read_or_set_aside(tmp_path: Path) -> None:
    text = GOOD + "llama-3.1-8b,h100,vllm,bf16,1,1024,128,,60,9\n" + FIRST + ",extra,cells\n" + '"a\nb",h100\n'
    loaded = fidelity.parse_measurements(text, "table")
    assert len(loaded.rows) == 5
    assert sum(loaded.skipped.values()) == 2


@pytest.mark.parametrize(
    ("make", "needles"),
    [
        (lambda p: p, ("is a folder", "CSV file")),
        (lambda p: p / "nope.csv", ("does not exist",)),
        (lambda p: (p / "latin1.csv").write_bytes(GOOD.replace("llama", "llamé").encode("latin-1")) and
         p / "latin1.csv", ("not UTF-8 text", "CSV file")),
    ],
)
def test_bad_files(tmp_path: Path, make, needles: tuple[str, ...]) -> None:
    with pytest.raises(PlannerError) as exc:
        fidelity.load_measurements(make(tmp_path))
    for needle in needles:
        assert needle in str(exc.value)


def test_an_oversized_table_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("wb") as fh:
        fh.truncate(fidelity.MAX_MEASUREMENT_BYTES + 1)
    started = time.perf_counter()
    with pytest.raises(PlannerError, match="at most 50,000,000 bytes: give a CSV file of measured rows"):
        fidelity.load_measurements(path)
    assert time.perf_counter() - started < 1.0


def test_validation_of_one_architecture_says_what_to_do() -> None:
    one = fidelity.parse_measurements(MEASURED_HEADER + MEASURED_ROWS.split("qwen")[0], "table")
    with pytest.raises(PlannerError, match=r"at least two model architectures.*drop --cross-validate"):
        fidelity.validate(one, out_of_sample=True)
    assert fidelity.validate(one, out_of_sample=False).rows == 2
