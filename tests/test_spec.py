"""The plan spec (requirements): YAML loading, defaults, and bad input — every error a PlannerError naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.errors import PlannerError
from planner.spec import MAX_SPEC_BYTES, PlanSpec, default_spec, load_spec, parse_spec_text, spec_from_data

REQUIRED = ("model", "accelerator", "qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms")
NUMERIC = ("qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms", "budget_usd_month",
           "usd_per_gpu_hour")
MINIMAL = """\
model: llama-3.1-70b
accelerator: h100-sxm
qps: 20
input_tokens: 1024
output_tokens: 256
ttft_slo_ms: 1000
tpot_slo_ms: 50
"""


def minimal(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(MINIMAL)
    data.update(overrides)
    return data


def refused(text_or_data: str | dict[str, object]) -> str:
    """The message of the PlannerError a spec raises (fails the test if it loads)."""
    with pytest.raises(PlannerError) as err:
        if isinstance(text_or_data, str):
            parse_spec_text(text_or_data)
        else:
            spec_from_data(text_or_data)
    assert isinstance(err.value, ValueError)
    assert "Traceback" not in str(err.value)
    return str(err.value)


# ------------------------------------------------------------------------------------------------ loading


def test_load_spec_from_a_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(MINIMAL + "name: my-service\ndtype: fp8\nkv_dtype: fp8\ntp: 4\nbudget_usd_month: 50000\n"
                    "usd_per_gpu_hour: 2.5\n")
    spec = load_spec(path)
    assert (spec.name, spec.model, spec.accelerator, spec.dtype, spec.kv_dtype, spec.tp) == (
        "my-service", "llama-3.1-70b", "h100-sxm", "fp8", "fp8", 4)
    assert (spec.qps, spec.input_tokens, spec.output_tokens) == (20, 1024, 256)
    assert (spec.ttft_slo_ms, spec.tpot_slo_ms, spec.budget_usd_month, spec.usd_per_gpu_hour) == (1000, 50, 50000, 2.5)
    assert isinstance(spec.input_tokens, int)
    assert load_spec(str(path)) == spec


def test_defaults() -> None:
    spec = parse_spec_text(MINIMAL)
    assert spec.name == "plan"
    assert spec.dtype == "bf16"
    assert spec.kv_dtype == "bf16"
    assert spec.tp is None and spec.pp is None and spec.ep is None  # auto: the cheapest layout meeting the SLOs
    assert spec.budget_usd_month is None
    assert spec.usd_per_gpu_hour is None
    assert spec.accelerators == [] and spec.dtypes == []


def test_embedded_default_plan() -> None:
    """The README's default: a 70B chat service on H100s."""
    spec = default_spec()
    assert spec.model == "llama-3.1-70b"
    assert spec.accelerator == "h100-sxm"
    assert (spec.qps, spec.input_tokens, spec.output_tokens) == (20, 1024, 256)
    assert spec.ttft_slo_ms > 0 and spec.tpot_slo_ms > 0


def test_spec_round_trips_through_yaml() -> None:
    spec = parse_spec_text(MINIMAL + "name: x\ndtype: fp8\ntp: 2\nbudget_usd_month: 1000\n")
    assert parse_spec_text(spec.to_yaml()) == spec
    assert default_spec() == parse_spec_text(default_spec().to_yaml())


@pytest.mark.parametrize(("given", "canonical"), [("BF16", "bf16"), ("bfloat16", "bf16"), ("float16", "fp16"),
                                                  (" fp8 ", "fp8"), ("INT4", "int4")])
def test_dtype_spellings(given: str, canonical: str) -> None:
    assert spec_from_data(minimal(dtype=given, kv_dtype=given)).dtype == canonical


def test_spec_is_immutable() -> None:
    spec = parse_spec_text(MINIMAL)
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        spec.qps = 5  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ bad input


def test_unknown_field_is_named_with_the_valid_ones() -> None:
    message = refused(MINIMAL + "colour: red\n")
    assert "colour" in message
    assert "unknown field" in message
    assert "tpot_slo_ms" in message  # the valid fields are listed


def test_misspelt_field_is_named() -> None:
    message = refused(MINIMAL.replace("tpot_slo_ms", "tpot_ms"))
    assert "tpot_ms" in message and "tpot_slo_ms" in message


@pytest.mark.parametrize("field", REQUIRED)
def test_missing_required_field_is_named(field: str) -> None:
    data = minimal()
    del data[field]
    message = refused(data)
    assert field in message
    assert "required" in message


@pytest.mark.parametrize("field", NUMERIC)
@pytest.mark.parametrize("value", [0, -1, -0.5, float("nan"), float("inf"), float("-inf"), True, False, "lots", None,
                                   [1, 2], {"a": 1}])
def test_bad_numbers_name_the_field(field: str, value: object) -> None:
    if value is None and field in ("budget_usd_month", "usd_per_gpu_hour"):
        spec_from_data(minimal(**{field: value}))  # optional: null means "not given"
        return
    message = refused(minimal(**{field: value}))
    assert field in message


@pytest.mark.parametrize(("field", "value"), [("tp", 0), ("tp", -2), ("tp", 2.5), ("tp", True), ("tp", "four"),
                                              ("tp", 128), ("pp", 65), ("pp", 0), ("ep", 0), ("input_tokens", 100.5),
                                              ("output_tokens", 1e12), ("qps", 1e300)])
def test_bad_sizes_name_the_field(field: str, value: object) -> None:
    assert field in refused(minimal(**{field: value}))


@pytest.mark.parametrize("text", [".nan", ".NaN", ".inf", "-.inf", "yes", "no", "on", "true", "'lots'", "[]", "{}"])
def test_bad_yaml_scalars_for_qps(text: str) -> None:
    """YAML's own spellings of NaN, infinity and booleans (YAML 1.1 reads yes/no/on as booleans)."""
    assert "qps" in refused(MINIMAL.replace("qps: 20", f"qps: {text}"))


@pytest.mark.parametrize(("field", "value"), [("model", 7), ("model", ""), ("model", None), ("model", ["a"]),
                                              ("accelerator", 100), ("accelerator", ""), ("name", ["x"]),
                                              ("dtype", "fp7"), ("kv_dtype", "fp12"), ("dtype", 16),
                                              ("dtypes", ["fp8", "fp7"]), ("accelerators", "h100")])
def test_wrong_types_name_the_field(field: str, value: object) -> None:
    assert field in refused(minimal(**{field: value}))


def test_several_errors_are_all_named() -> None:
    message = refused(minimal(qps=-1, tpot_slo_ms="fast", colour="red"))
    for field in ("qps", "tpot_slo_ms", "colour"):
        assert field in message


@pytest.mark.parametrize("text", [
    "model: [llama\nqps: 1\n",  # unclosed flow sequence
    "model: llama-3.1-70b\n  accelerator: h100\n qps: 1\n",  # bad indentation
    "\tmodel: llama-3.1-70b\n",  # tab
    "model: 'llama\n",  # unclosed quote
    "{{{",
    "model: llama-3.1-70b\n---\nmodel: x\n",  # two documents
])
def test_malformed_yaml(text: str) -> None:
    message = refused(text)
    assert "YAML" in message or "yaml" in message


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n", "~\n", "null\n"])
def test_empty_spec(text: str) -> None:
    assert "empty" in refused(text)


@pytest.mark.parametrize("text", ["- model: x\n- qps: 1\n", "just text\n", "42\n"])
def test_spec_that_is_not_a_mapping(text: str) -> None:
    assert "mapping" in refused(text)


def test_yaml_aliases_are_refused() -> None:
    """Anchors and aliases (the 'billion laughs' expansion) have no place in a spec."""
    message = refused("slo: &s 50\n" + MINIMAL.replace("tpot_slo_ms: 50", "tpot_slo_ms: *s"))
    assert "alias" in message


def test_billion_laughs_is_refused_quickly() -> None:
    bomb = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        name = chr(ord("a") + i)
        bomb += f"{name}: &{name} [*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev},*{prev}]\n"
    assert "alias" in refused(bomb)


def test_python_tags_are_refused() -> None:
    refused(MINIMAL + "name: !!python/object/apply:os.system ['echo hi']\n")


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(PlannerError, match=r"nowhere\.yaml"):
        load_spec(path)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match="folder"):
        load_spec(tmp_path)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(PlannerError, match="empty"):
        load_spec(path)


def test_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(PlannerError, match="UTF-8"):
        load_spec(path)


def test_huge_file_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text(MINIMAL + "notes: '" + "x" * (MAX_SPEC_BYTES + 10) + "'\n")
    with pytest.raises(PlannerError, match="bytes"):
        load_spec(path)


def test_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "service.yaml"
    path.write_text(MINIMAL.replace("qps: 20", "qps: -3"))
    with pytest.raises(PlannerError) as err:
        load_spec(path)
    assert "service.yaml" in str(err.value)
    assert "qps" in str(err.value)
    assert "-3" in str(err.value)


def test_duplicate_field_is_refused() -> None:
    assert "qps" in refused(MINIMAL + "qps: 2000\n")


def test_planspec_is_the_public_type() -> None:
    assert isinstance(parse_spec_text(MINIMAL), PlanSpec)


def test_unknown_candidate_accelerator_is_refused() -> None:
    from planner.plan import evaluate

    spec = spec_from_data(minimal(accelerators=["h100-sxm", "b201"]))
    with pytest.raises(PlannerError, match="b201"):
        evaluate(spec)


@pytest.mark.parametrize("field", ["qps", "budget_usd_month", "usd_per_gpu_hour", "ttft_slo_ms", "tpot_slo_ms"])
def test_a_vanishing_amount_is_refused_before_it_overflows_a_ratio(field: str) -> None:
    """5e-324 is a positive float, but cost ÷ budget or cost per token over it is inf or hundreds of digits."""
    with pytest.raises(PlannerError, match=rf"{field}: Input should be greater than or equal to 0.000001 "
                                           r"\(got 5e-324\)"):
        spec_from_data(minimal(**{field: 5e-324}))


def test_pricing_a_vanishing_token_rate_is_an_error_not_inf() -> None:
    from planner import api

    assert api.cost_per_million_tokens("h100-sxm", 1000.0, 8, 2.5) == pytest.approx(8 * 2.5 / 3600 / 1000 * 1e6)
    with pytest.raises(PlannerError, match="tokens_per_sec 5e-324 is too small"):
        api.cost_per_million_tokens("h100-sxm", 5e-324)


@pytest.mark.parametrize("text", ["auto", "Auto", " AUTO "])
def test_auto_layout_is_the_same_as_leaving_it_out(text: str) -> None:
    """A plan workbook and the CLI's output write tp/pp/ep as `auto`; a spec accepts the word too."""
    spec = spec_from_data(minimal(tp=text, pp=text, ep=text))
    assert (spec.tp, spec.pp, spec.ep) == (None, None, None)
    with pytest.raises(PlannerError, match="tp"):
        spec_from_data(minimal(tp="automatic"))
