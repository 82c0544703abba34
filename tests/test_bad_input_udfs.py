"""The Excel functions with the bad input tests/test_udfs_bad_input.py does not try: the longest text a cell holds
(32,767 characters), control characters, text that looks like a formula, numbers of other Python types (numpy
scalars and arrays, Decimal, Fraction, complex, a 400-digit int from a Python caller), and a broken user catalogue.
Every function in ``udfs.__all__``, every argument: a clean cell value, or a ``PlannerError`` whose message is one
line of reasonable length (it quotes a long bad value cut short)."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import time

import numpy as np
import pytest
from _udfs_cases import TEXT_ARGS, assert_clean, call_with, params

import udfs
from planner.catalogue import CATALOGUE_ENV
from planner.errors import PlannerError
from udfs import _excel

ODD_TEXT = {
    "the longest cell": "h" * 32_767,
    "a NUL": "h100\x00",
    "a formula": "=h100",
    "a lone surrogate": "\ud800",
    "bytes": b"h100",
}
ODD_NUMBERS = {
    "numpy float32": np.float32(2.0),
    "numpy int64": np.int64(2),
    "numpy bool": np.bool_(True),
    "numpy NaN": np.float32("nan"),
    "numpy column": np.array([[1.0], [2.0]]),
    "numpy object column": np.array([[1.0], ["x"]], dtype=object),
    "negative zero": -0.0,
    "Decimal": decimal.Decimal("2"),
    "Fraction": fractions.Fraction(1, 2),
    "complex": 1 + 2j,
    "400-digit int": 10**400,
    "int above the limit": 10**16,
    "a column with a 400-digit int": [[1.0], [10**400]],
    "timedelta": dt.timedelta(days=1),
    "set": {1.0},
    "dict": {"a": 1.0},
    "the longest cell": "1" * 32_767,
}


def _check(fn, *args) -> object:
    started = time.perf_counter()
    try:
        out = fn(*args)
    except PlannerError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 1000, (len(message), message[:200])
        assert isinstance(exc, _excel.ExcelError)
        return exc
    finally:
        assert time.perf_counter() - started < 5.0
    assert_clean(out)
    return out


@pytest.mark.parametrize("name", udfs.__all__)
def test_odd_values_in_every_argument(name: str) -> None:
    for p in params(name):
        odd = ODD_TEXT if p.name in TEXT_ARGS else ODD_NUMBERS
        for label, value in odd.items():
            try:
                _check(getattr(udfs, name), *call_with(name, **{p.name: value}))
            except AssertionError as exc:
                raise AssertionError(f"{name}({p.name}={label}): {exc}") from None


@pytest.mark.parametrize("name", udfs.__all__)
def test_a_broken_user_catalogue_is_the_answer_of_every_function(name: str, tmp_path, monkeypatch) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("accelerators: !!python/object/apply:os.system ['echo pwned']\n")
    monkeypatch.setenv(CATALOGUE_ENV, str(broken))
    _excel.clear_memo()
    got = _check(getattr(udfs, name), *call_with(name))
    assert isinstance(got, PlannerError) and "broken.yaml" in str(got) and "python/object" in str(got)


def test_a_long_bad_value_is_quoted_short() -> None:
    with pytest.raises(PlannerError) as exc:
        udfs.WEIGHT_GB("llama-3.1-8b", "fp" * 10_000)
    assert "unknown dtype" in str(exc.value) and "20,002 characters" in str(exc.value)
    with pytest.raises(PlannerError) as exc:
        udfs.DECODE_FLOOR_MS("x" * 32_767, "h100")
    assert "unknown model" in str(exc.value) and len(str(exc.value)) < 500


def test_a_400_digit_int_is_refused_not_an_overflow() -> None:
    with pytest.raises(PlannerError, match="batch must be at most 1e\\+15"):
        udfs.DECODE_FLOOR_MS("llama-3.1-8b", "h100", "bf16", 10**400)
    with pytest.raises(PlannerError, match="at most 1e\\+15"):
        udfs.KV_GB("llama-3.1-8b", [[1024.0], [10**400]])
