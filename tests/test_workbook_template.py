"""templates/plan-template.xlsx is what the builder makes: same cells, formulas, values and names (the zip bytes
differ only by timestamps). Regenerate it with `python -m workbook.build`."""

from __future__ import annotations

import io

import openpyxl

from workbook.build import TEMPLATE, template_bytes


def _contents(data: bytes) -> tuple[dict, dict, dict]:
    formulas = openpyxl.load_workbook(io.BytesIO(data))
    values = openpyxl.load_workbook(io.BytesIO(data), data_only=True)
    cells = {ws.title: {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
             for ws in formulas.worksheets}
    cached = {ws.title: {c.coordinate: c.value for row in ws.iter_rows() for c in row if c.value is not None}
              for ws in values.worksheets}
    names = {n: d.attr_text for n, d in formulas.defined_names.items()}
    return cells, cached, names


def test_the_committed_template_is_the_builders_output():
    assert TEMPLATE.is_file(), "templates/plan-template.xlsx is missing: run `python -m workbook.build`"
    committed, built = _contents(TEMPLATE.read_bytes()), _contents(template_bytes())
    for part, what in zip(range(3), ("cells and formulas", "cached values", "defined names"), strict=True):
        assert committed[part] == built[part], (
            f"templates/plan-template.xlsx differs from the builder's output ({what}); regenerate it with "
            f"`python -m workbook.build`")
