"""Fuzzing the spec loader (hypothesis, bounded): whatever the text, the answer is a valid PlanSpec or a
PlannerError — never another exception, never a silent NaN."""

from __future__ import annotations

import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import PlanSpec, parse_spec_text, spec_from_data

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

BASE = {"model": "llama-3.1-8b", "accelerator": "h100-sxm", "qps": 5, "input_tokens": 512, "output_tokens": 128,
        "ttft_slo_ms": 1000, "tpot_slo_ms": 50}

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=10)


def _check(result: PlanSpec) -> None:
    for name in ("qps", "ttft_slo_ms", "tpot_slo_ms"):
        assert math.isfinite(getattr(result, name)) and getattr(result, name) > 0


@FUZZ
@given(st.text(max_size=400))
def test_any_text_is_a_spec_or_a_planner_error(text: str) -> None:
    try:
        _check(parse_spec_text(text))
    except PlannerError as exc:
        assert str(exc)


@FUZZ
@given(st.sampled_from([*sorted(BASE), "dtype", "kv_dtype", "tp", "budget_usd_month", "engine", "accelerators",
                        "bogus"]), values)
def test_any_value_in_any_field_is_valid_or_refused(field: str, value: object) -> None:
    data = {**BASE, field: value}
    try:
        spec = spec_from_data(data)
    except PlannerError as exc:
        assert field in str(exc) or "spec" in str(exc)
        return
    _check(spec)
    try:
        result = evaluate(spec)
    except PlannerError:
        return
    for key, v in result.values.items():
        assert not (isinstance(v, float) and math.isnan(v)), key


@FUZZ
@given(st.dictionaries(st.sampled_from(sorted(BASE)), values, max_size=7))
def test_yaml_round_trip_of_random_specs(data: dict[str, object]) -> None:
    try:
        text = yaml.safe_dump(data)
    except yaml.YAMLError:
        return
    try:
        spec = parse_spec_text(text)
    except PlannerError:
        return
    assert parse_spec_text(spec.to_yaml()) == spec


def test_billion_laughs_is_refused_quickly() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(9))
    try:
        parse_spec_text(bomb)
    except PlannerError as exc:
        assert "alias" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("an alias bomb was accepted")
