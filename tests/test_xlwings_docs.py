"""What the install guide and the function reference say about the Excel functions is what the code does: the
number of functions, the example values and error messages, and the one-line descriptions Excel receives."""

from __future__ import annotations

import decimal
import inspect
import re
from pathlib import Path

import pytest

import udfs
from planner.errors import PlannerError
from udfs import _xw, docs

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "templates" / "README.md"
DOCS = [GUIDE, ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.fixture(autouse=True)
def builtin_catalogue_only(monkeypatch):
    """The guide's examples are the built-in catalogue's (another test may leave a user catalogue in force)."""
    monkeypatch.delenv("WHICHWALL_CATALOGUE", raising=False)


def words(text: str) -> str:
    return " ".join(text.split())


def message(call) -> str:
    with pytest.raises(PlannerError) as exc:
        call()
    return str(exc.value)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_count_of_the_excel_functions_is_the_real_one(path):
    counts = re.findall(r"(?<!Excel )\b(\d+) (?:Excel |custom )?functions\b", words(path.read_text(encoding="utf-8")))
    assert all(int(n) == len(udfs.__all__) for n in counts), f"{path.name} counts {counts}, udfs.__all__ has " \
                                                             f"{len(udfs.__all__)}"


def test_the_guide_and_the_reference_state_the_count():
    assert f"whichwall's {len(udfs.__all__)} Excel functions" in words(GUIDE.read_text(encoding="utf-8"))


def test_the_guides_example_error_is_what_the_code_says():
    text = words(GUIDE.read_text(encoding="utf-8"))
    quoted = re.search(r"e\.g\. `(unknown accelerator 'h10'[^`]*)`", text)
    assert quoted, "the guide quotes the message of an unknown accelerator"
    assert quoted.group(1) == message(lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h10"))


def test_the_guides_example_values_are_what_the_code_computes():
    text = words(GUIDE.read_text(encoding="utf-8"))
    value = round(udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100", "fp16"), 1)
    checks = re.findall(r'=DECODE_FLOOR_MS\("llama-3\.1-70b","h100","fp16"\)` [^(]*\((\d+\.\d) ms\)', text)
    assert checks and all(float(v) == value for v in checks), (checks, value)
    assert udfs.COST_PER_MONTH("h100-sxm", 8.0, decimal.Decimal("2.50")) == 14_600.0
    assert "with `$2.50` in A2 is 14,600" in text
    na = message(lambda: udfs.DECODE_FLOOR_MS("llama-3.1-8b", "h100-sxm", "bf16", "#N/A"))
    shown = re.search(r"with `#N/A` in A1 shows `([^`]*); \.\.\.`", text)
    assert shown and na.startswith(shown.group(1) + "; "), (shown, na)


def test_the_reference_quotes_the_error_cell_message():
    na = message(lambda: udfs.DECODE_FLOOR_MS("llama-3.1-8b", "h100-sxm", "bf16", "#N/A"))
    shown = re.search(r"\(`(batch: the cell holds the error #N/A); \.\.\.`\)", words(docs.render()))
    assert shown and na.startswith(shown.group(1) + "; ")


def test_descriptions_excel_receives_are_whole_docstrings_on_one_line():
    for name in udfs.__all__:
        f = getattr(udfs, name)
        description = _xw.description(f)
        assert description == docs.description(f), f"{name}: the docstring is cut at 255 characters for Excel"
        assert "\n" not in description and "  " not in description and 0 < len(description) <= 255, name
        assert description == words(inspect.getdoc(f)), name


def test_a_long_docstring_is_cut_at_a_word_within_255_characters():
    def f():
        pass

    f.__doc__ = "word " * 100
    cut = _xw.description(f)
    assert len(cut) <= 255 and cut.endswith("word…") and "\n" not in cut
