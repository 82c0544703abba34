"""Plan workbooks evaluated in-process by the `formulas` package (an optional, EUPL-licensed dependency: install it
with `pip install formulas` to run this test; it is never required). A second, independent engine besides
LibreOffice: every named result equals the planner's."""

from __future__ import annotations

import re

import openpyxl
import pytest

from planner.plan import evaluate
from tests.workbook_cases import mismatches, spec
from workbook.build import workbook_bytes

formulas = pytest.importorskip("formulas", reason="the optional `formulas` package is not installed")


@pytest.mark.parametrize("name", ["default", "gb200-auto"])
def test_the_formulas_package_computes_the_planners_values(tmp_path, name):
    path = tmp_path / f"{name}.xlsx"
    path.write_bytes(workbook_bytes(spec(name)))
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
