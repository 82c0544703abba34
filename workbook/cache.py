"""Store computed values as the cached results of formula cells in an .xlsx written by openpyxl.

openpyxl writes each formula as ``<c r="B5"><f>…</f><v/></c>``: no value, so a reader that does not compute sees
nothing. ``inject`` rewrites the sheet parts of the zip, filling ``<v>`` (and the cell type: ``str`` for text,
``b`` for booleans, ``e`` for errors) and keeping the formulas. Excel and LibreOffice still recalculate on load
(openpyxl marks the workbook ``fullCalcOnLoad``). Standard library only.
"""

from __future__ import annotations

import io
import math
import posixpath
import re
import zipfile
from collections.abc import Mapping
from typing import Any
from xml.sax.saxutils import escape

from workbook.evaluate import XLError

_NS_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_SHEET = re.compile(r'<sheet\b[^>]*?\bname="([^"]*)"[^>]*?\br:id="([^"]*)"[^>]*/>')
_REL = re.compile(r'<Relationship\b[^>]*?\bId="([^"]*)"[^>]*?\bTarget="([^"]*)"[^>]*/>')
_REL2 = re.compile(r'<Relationship\b[^>]*?\bTarget="([^"]*)"[^>]*?\bId="([^"]*)"[^>]*/>')
_FORMULA_CELL = re.compile(
    r'<c r="([A-Z]+[0-9]+)"((?:\s+[A-Za-z:]+="[^"]*")*)>(<f>.*?</f>|<f\s*/>)(?:<v\s*/>|<v></v>)?</c>', re.DOTALL)
_T_ATTR = re.compile(r'\s+t="[^"]*"')


def _unescape_attr(text: str) -> str:
    return text.replace("&quot;", '"').replace("&apos;", "'").replace("&lt;", "<").replace("&gt;", ">").replace(
        "&amp;", "&")


def sheet_parts(zf: zipfile.ZipFile) -> dict[str, str]:
    """``{sheet name: zip member}`` from the workbook part and its relationships."""
    workbook = zf.read("xl/workbook.xml").decode("utf-8")
    rels = zf.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    targets = {rid: target for rid, target in _REL.findall(rels)}
    targets.update({rid: target for target, rid in _REL2.findall(rels)})
    out = {}
    for name, rid in _SHEET.findall(workbook):
        target = targets[rid]
        path = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
        out[_unescape_attr(name)] = path
    return out


def _cell_xml(coord: str, attrs: str, formula: str, value: Any) -> str:
    attrs = _T_ATTR.sub("", attrs)
    if isinstance(value, XLError):
        return f'<c r="{coord}"{attrs} t="e">{formula}<v>{escape(value.code)}</v></c>'
    if isinstance(value, bool):
        return f'<c r="{coord}"{attrs} t="b">{formula}<v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        x = float(value)
        if not math.isfinite(x):
            return f'<c r="{coord}"{attrs} t="e">{formula}<v>#NUM!</v></c>'
        text = str(int(x)) if x.is_integer() and abs(x) < 1e15 else repr(x)
        return f'<c r="{coord}"{attrs}>{formula}<v>{text}</v></c>'
    if isinstance(value, str):
        return f'<c r="{coord}"{attrs} t="str">{formula}<v>{escape(value)}</v></c>'
    return f'<c r="{coord}"{attrs}>{formula}</c>'


def inject(xlsx: bytes, values: Mapping[str, Mapping[str, Any]]) -> bytes:
    """A copy of ``xlsx`` whose formula cells carry ``values[sheet][coord]`` as their cached result."""
    src = zipfile.ZipFile(io.BytesIO(xlsx))
    parts = {path: name for name, path in sheet_parts(src).items()}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            sheet = parts.get(item.filename)
            if sheet is not None and values.get(sheet):
                sheet_values = values[sheet]

                def fill(m: re.Match[str], sheet_values: Mapping[str, Any] = sheet_values) -> str:
                    coord = m.group(1)
                    if coord not in sheet_values:
                        return m.group(0)
                    return _cell_xml(coord, m.group(2), m.group(3), sheet_values[coord])

                data = _FORMULA_CELL.sub(fill, data.decode("utf-8")).encode("utf-8")
            dst.writestr(item, data)
    return out.getvalue()
