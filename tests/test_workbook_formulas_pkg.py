"""Plan workbooks evaluated in-process by the `formulas` package (an optional, EUPL-licensed dependency: install it
with `pip install formulas` to run this test; it is never required). A second, independent engine besides
LibreOffice: every named result equals the planner's.

The package compiles every formula into a graph of its own (about 5 ms a cell), and a plan has ~11,600 formulas,
most of them the candidate table's 128 rows of one formula per column. So it computes every *distinct* formula:
all the sheets, and in the candidate table the chosen candidate's row, the relaxed row (the next wall), the first row
and a row the inputs rule out; the other candidate rows hold the values LibreOffice and the in-process evaluator
computed for them (tests/test_workbook_libreoffice.py checks every cell of those)."""

from __future__ import annotations

import re

import openpyxl
import pytest
from _shared_data import in_ci

from planner.plan import evaluate
from tests.workbook_cases import mismatches, spec
from workbook.build import SEARCH_FIRST_ROW, SEARCH_LAST_ROW, build

try:
    import formulas
except ImportError:  # a developer's machine without the dev extra skips; CI, which installs it, fails
    if in_ci():
        raise
    pytest.skip("the optional `formulas` package is not installed (pip install -e '.[dev]')", allow_module_level=True)


def _freeze_candidates(path, keep: set[int]) -> int:
    """Replace the formulas of the candidate rows not in ``keep`` (sheet rows) by their cached values; returns how
    many formula cells are left live in the table."""
    wb = openpyxl.load_workbook(path)
    values = openpyxl.load_workbook(path, data_only=True)
    ws, cached = wb["Search"], values["Search"]
    live = 0
    for row in ws.iter_rows(min_row=SEARCH_FIRST_ROW, max_row=SEARCH_LAST_ROW):
        for cell in row:
            if cell.data_type != "f":
                continue
            if cell.row in keep:
                live += 1
            else:
                cell.value = cached[cell.coordinate].value
    wb.save(path)
    return live


@pytest.mark.parametrize("name", ["default", "gb200-auto"])
def test_the_formulas_package_computes_the_planners_values(tmp_path, name):
    path = tmp_path / f"{name}.xlsx"
    built = build(spec(name))
    path.write_bytes(built.to_bytes())
    sheet, _, ref = built.book.names["chosen_candidate"].partition("!")
    chosen = int(built.values[sheet][ref.replace("$", "")])
    keep = {SEARCH_FIRST_ROW, SEARCH_FIRST_ROW + chosen - 1, SEARCH_LAST_ROW}
    assert _freeze_candidates(path, keep) > 150
    solution = formulas.ExcelModel().loads(str(path)).finish().calculate()
    by_cell = {}
    for key, value in solution.items():
        m = re.fullmatch(r"'\[[^\]]+\]([^']+)'!([A-Z]+[0-9]+)", key)
        if m:
            cell = value.value[0, 0] if hasattr(value, "value") else value
            by_cell[(m.group(1).upper(), m.group(2))] = cell
    names = openpyxl.load_workbook(path).defined_names

    def lookup(key):
        (sheet, ref), = names[key].destinations
        value = by_cell[(sheet.upper(), ref.replace("$", ""))]
        if hasattr(value, "item"):
            value = value.item()
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value

    problems, worst = mismatches(evaluate(spec(name)), lookup)
    assert not problems, problems
    assert worst <= 1e-9
    # the live candidate rows computed by the package equal the in-process evaluator's values
    for (sheet, coord), value in by_cell.items():
        if sheet == "SEARCH":
            row = int(re.search(r"\d+", coord).group())
            want = built.values["Search"].get(coord)
            if row not in keep or want is None:
                continue
            if isinstance(want, str):
                assert value == want, coord
            elif isinstance(want, bool):
                assert bool(value) == want, coord  # the package may give a logical result as 0 or 1
            else:
                assert float(value) == pytest.approx(want, rel=1e-12), coord
