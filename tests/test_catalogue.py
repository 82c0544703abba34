"""The typed catalogue: ids, aliases, sources, the validators that catch the known data-entry mistakes, parameter counts
against the published totals, and user catalogues (YAML and Hugging Face ``config.json``).

Every number asserted here is either written out from an architecture's config numbers in the test, or read from
``../shared/data/*.csv`` (tests that need those files skip when they are absent), never copied from the code's output.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml
from _shared_data import needs_shared_data, require_shared_data

from planner import api
from planner.catalogue import (
    CATALOGUE_ENV,
    Link,
    builtin_catalogue,
    catalogue_from_data,
    get_catalogue,
    load_catalogue_file,
    model_from_hf_config,
)
from planner.errors import PlannerError
from planner.roofline import experts_touched, kv_bytes_per_sequence, kv_bytes_per_token

DATA = Path(__file__).parents[1].parent / "shared" / "data"
needs_models_csv = needs_shared_data("models.csv")
needs_acc_csv = needs_shared_data("accelerators.csv")

REQUIRED_ACCELERATORS = (
    "a100-40gb-sxm", "a100-80gb-sxm", "h100-sxm", "h100-pcie", "h100-nvl", "h200-sxm", "b200", "gb200", "l40s", "l4",
    "a10g", "mi300x", "mi325x", "mi355x", "tpu-v5e", "tpu-v5p", "tpu-v6e", "gaudi3",
)
REQUIRED_MODELS = (
    "llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "llama-3.3-70b",
    "mistral-7b", "mixtral-8x7b", "mixtral-8x22b", "qwen2.5-7b", "qwen2.5-72b", "qwen3-30b-a3b", "qwen3-235b-a22b",
    "deepseek-v3", "deepseek-r1", "gpt-oss-20b", "gpt-oss-120b", "gemma-2-9b", "gemma-2-27b",
)


def dense_gqa_params(layers: int, hidden: int, inter: int, heads: int, kv_heads: int, head_dim: int, vocab: int,
                     tied: bool = False, qkv_bias: bool = False) -> int:
    """Parameters of a Llama-style decoder, counted by hand: per layer Q, K, V, O projections (+ q/k/v biases),
    a gated MLP (gate, up, down) and two RMSNorms; a final norm; input embedding and LM head (one table if tied)."""
    q, kv = heads * head_dim, kv_heads * head_dim
    attention = hidden * q + 2 * hidden * kv + q * hidden + ((q + 2 * kv) if qkv_bias else 0)
    mlp = 3 * hidden * inter
    return layers * (attention + mlp + 2 * hidden) + hidden + vocab * hidden * (1 if tied else 2)


def _rows(name: str) -> list[dict[str, str]]:
    with open(DATA / name, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _leading_number(text: str) -> float:
    """'671B (+14B MTP = 685B on HF)' -> 671.0; '20.9B (21B)' -> 20.9; '~70 (low confidence)' -> 70.0."""
    match = re.match(r"\s*~?([0-9]+(?:\.[0-9]+)?)", text)
    assert match, f"no number in {text!r}"
    return float(match.group(1))


def _plain_number(text: str) -> float | None:
    """A csv cell that is just a number (no '~', no qualifier), else None."""
    return float(text) if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text.strip()) else None


def _model_for_row(row: dict[str, str]):
    cat = builtin_catalogue()
    hits = [m for m in cat.models.values() if m.hf_repo.lower() == row["hf_repo"].lower()]
    assert len(hits) == 1, f"models.csv row {row['id']} ({row['hf_repo']}) has no single catalogue model"
    return hits[0]


def _model_rows() -> list[dict[str, str]]:
    return _rows("models.csv") if (DATA / "models.csv").exists() else []


def _ids(rows: list[dict[str, str]]) -> list[str]:
    return [r["id"] for r in rows]


MODEL_ROWS = _model_rows()


# ---------------------------------------------------------------------------------------------------- contents


def test_required_ids_present() -> None:
    cat = builtin_catalogue()
    assert set(REQUIRED_ACCELERATORS) <= set(cat.accelerators), set(REQUIRED_ACCELERATORS) - set(cat.accelerators)
    assert set(REQUIRED_MODELS) <= set(cat.models), set(REQUIRED_MODELS) - set(cat.models)


def test_ids_are_lower_kebab() -> None:
    cat = builtin_catalogue()
    for ident in [*cat.accelerators, *cat.models]:
        assert re.fullmatch(r"[a-z0-9]+([.-][a-z0-9]+)*", ident), ident


@pytest.mark.parametrize("ident", REQUIRED_ACCELERATORS)
def test_every_accelerator_has_a_source(ident: str) -> None:
    acc = builtin_catalogue().accelerator(ident)
    assert acc.source.strip() and len(acc.source.strip()) >= 10
    if acc.price is not None:
        assert acc.price.source.strip() or acc.price.note.strip(), f"{ident}: price without a source"
        assert acc.price.date.strip(), f"{ident}: price without a date"


@pytest.mark.parametrize("ident", REQUIRED_MODELS)
def test_every_model_has_a_source_and_a_published_total(ident: str) -> None:
    model = builtin_catalogue().model(ident)
    assert model.source.strip() and len(model.source.strip()) >= 10
    assert model.published is not None, f"{ident}: no published parameter count to check the architecture against"


def test_every_catalogue_entry_has_a_source() -> None:
    cat = builtin_catalogue()
    for entry in [*cat.accelerators.values(), *cat.models.values()]:
        assert entry.source.strip(), entry.id


# ------------------------------------------------------------------------------------------- parameter counts


def test_llama_31_70b_parameter_count_by_hand() -> None:
    """80 layers, hidden 8192, MLP 28672, 64 heads / 8 KV heads of 128, vocab 128256, untied: 70,553,706,496."""
    expected = dense_gqa_params(80, 8192, 28672, 64, 8, 128, 128256)
    assert expected == 70_553_706_496
    model = builtin_catalogue().model("llama-3.1-70b")
    assert model.total_params == pytest.approx(expected, rel=1e-12)
    assert model.active_params == pytest.approx(expected, rel=1e-12)


def test_qwen25_7b_parameter_count_by_hand_with_qkv_bias() -> None:
    """Qwen2.5-7B: 28 layers, hidden 3584, MLP 18944, 28 heads / 4 KV heads of 128, vocab 152064, q/k/v biases."""
    expected = dense_gqa_params(28, 3584, 18944, 28, 4, 128, 152064, qkv_bias=True)
    assert builtin_catalogue().model("qwen2.5-7b").total_params == pytest.approx(expected, rel=1e-12)


def test_gemma_2_9b_parameter_count_by_hand_with_tied_embeddings() -> None:
    """Gemma-2-9B: head_dim 256 (not hidden/heads = 224), tied embeddings. Gemma-2 has four norms per layer (the count
    here has two), so allow 0.01%."""
    expected = dense_gqa_params(42, 3584, 14336, 16, 8, 256, 256000, tied=True)
    assert builtin_catalogue().model("gemma-2-9b").total_params == pytest.approx(expected, rel=1e-4)


def test_llama_33_70b_is_the_llama_31_70b_architecture() -> None:
    """Llama-3.3-70B is not in models.csv; its published total is Llama-3.1-70B's (same architecture, 70.6B)."""
    cat = builtin_catalogue()
    a, b = cat.model("llama-3.3-70b"), cat.model("llama-3.1-70b")
    assert a.total_params == b.total_params == dense_gqa_params(80, 8192, 28672, 64, 8, 128, 128256)
    assert a.published is not None
    assert a.published.total_params_b == pytest.approx(70.6)


@needs_models_csv
def test_models_csv_rows_are_all_in_the_catalogue() -> None:
    assert len(MODEL_ROWS) >= 19
    for row in MODEL_ROWS:
        _model_for_row(row)


@needs_models_csv
@pytest.mark.parametrize("row", MODEL_ROWS, ids=_ids(MODEL_ROWS))
def test_total_params_within_3pct_of_published_total(row: dict[str, str]) -> None:
    model = _model_for_row(row)
    published = _leading_number(row["published_total"])
    assert abs(model.total_params / 1e9 - published) / published <= 0.03, (model.total_params / 1e9, published)


@needs_models_csv
@pytest.mark.parametrize("row", MODEL_ROWS, ids=_ids(MODEL_ROWS))
def test_total_and_active_params_match_the_reference_count(row: dict[str, str]) -> None:
    """models.csv also gives its own architecture count to 3 decimals (B): the catalogue's derivation agrees within
    0.1% (the count leaves out a few biases and norms)."""
    model = _model_for_row(row)
    assert model.total_params / 1e9 == pytest.approx(float(row["total_params_computed_B"]), rel=1e-3)
    assert model.active_params / 1e9 == pytest.approx(float(row["active_params_computed_B"]), rel=1e-3)
    input_embedding = model.vocab_size * model.hidden_size
    assert (model.active_params - input_embedding) / 1e9 == pytest.approx(
        float(row["active_params_excl_input_embedding_B"]), rel=1e-3
    )


def _published_active_excludes_embedding(row: dict[str, str]) -> bool:
    return "excludes input embedding" in row["notes"].lower()


def test_published_active_embedding_convention_is_read_from_notes() -> None:
    """gpt-oss's model cards count active parameters without the input embedding (models.csv notes say so); every
    other published active figure includes it."""
    require_shared_data("models.csv")
    excluding = {r["hf_repo"] for r in MODEL_ROWS if _published_active_excludes_embedding(r)}
    assert excluding == {"openai/gpt-oss-20b", "openai/gpt-oss-120b"}


@needs_models_csv
@pytest.mark.parametrize("row", MODEL_ROWS, ids=_ids(MODEL_ROWS))
def test_active_params_close_to_published_active(row: dict[str, str]) -> None:
    """Published active counts are rounded to 2-3 significant figures (3.3B, 22B, 37B): within 3%, on the right
    convention — without the input embedding where the notes say the published figure excludes it (gpt-oss), with
    it elsewhere."""
    model = _model_for_row(row)
    published = _leading_number(row["published_active"])
    with_embedding = model.active_params / 1e9
    without_embedding = (model.active_params - model.vocab_size * model.hidden_size) / 1e9
    if _published_active_excludes_embedding(row):
        assert abs(without_embedding - published) / published <= 0.03, (without_embedding, published)
        # the other convention would be far off: it matters which one is used
        assert abs(with_embedding - published) / published > 0.10
    else:
        assert abs(with_embedding - published) / published <= 0.03, (with_embedding, published)


def test_catalogue_published_active_uses_the_same_convention() -> None:
    """The catalogue's own published.active_params_b for gpt-oss-20b (3.6B) matches active minus the input embedding,
    not active."""
    model = builtin_catalogue().model("gpt-oss-20b")
    assert model.published is not None and model.published.active_params_b is not None
    without = (model.active_params - model.vocab_size * model.hidden_size) / 1e9
    assert without == pytest.approx(model.published.active_params_b, rel=0.03)


# ------------------------------------------------------------------------------------------------------ lookups


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ("h100-sxm", "h100-sxm"),
        ("H100-SXM", "h100-sxm"),
        ("H100", "h100-sxm"),
        ("h100", "h100-sxm"),
        ("H100 SXM", "h100-sxm"),
        ("  h100 sxm  ", "h100-sxm"),
        ("H200", "h200-sxm"),
        ("MI300X", "mi300x"),
        ("TPU v5e", "tpu-v5e"),
        ("H100 PCIe", "h100-pcie"),
    ],
)
def test_accelerator_lookup_case_insensitive_and_aliases(ident: str, expected: str) -> None:
    assert builtin_catalogue().accelerator(ident).id == expected


@pytest.mark.parametrize(
    ("ident", "expected"),
    [
        ("llama-3.1-70b", "llama-3.1-70b"),
        ("LLAMA-3.1-70B", "llama-3.1-70b"),
        ("meta-llama/Llama-3.1-70B", "llama-3.1-70b"),
        ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b"),
        ("meta-llama/llama-3.1-8b-instruct", "llama-3.1-8b"),
        ("deepseek-ai/DeepSeek-V3", "deepseek-v3"),
        ("Qwen/Qwen3-30B-A3B", "qwen3-30b-a3b"),
        ("mistralai/Mistral-7B-v0.1", "mistral-7b"),
        ("openai/gpt-oss-120b", "gpt-oss-120b"),
    ],
)
def test_model_lookup_case_insensitive_and_aliases(ident: str, expected: str) -> None:
    assert builtin_catalogue().model(ident).id == expected


def test_lookup_through_the_public_functions() -> None:
    # the same 70B, three spellings: the same KV bytes per token through the api
    values = {api.kv_bytes_per_token(m) for m in ("llama-3.1-70b", "meta-llama/Llama-3.1-70B", "LLAMA-3.1-70B")}
    assert values == {2 * 80 * 8 * 128 * 2}
    assert api.ridge_intensity("H100") == api.ridge_intensity("h100-sxm") == api.ridge_intensity("H100 SXM")


@pytest.mark.parametrize(
    ("kind", "ident", "near"),
    [
        ("accelerator", "h100-sxn", "h100-sxm"),
        ("accelerator", "h200sxm", "h200-sxm"),
        ("accelerator", "mi300", "mi300x"),
        ("model", "llama-3.1-7b", "llama-3.1-70b"),
        ("model", "deepseek-v4", "deepseek-v3"),
        ("model", "mixtral-8x7", "mixtral-8x7b"),
    ],
)
def test_unknown_id_names_the_closest_ids(kind: str, ident: str, near: str) -> None:
    cat = builtin_catalogue()
    lookup = cat.accelerator if kind == "accelerator" else cat.model
    with pytest.raises(PlannerError) as err:
        lookup(ident)
    message = str(err.value)
    assert ident in message
    assert near in message
    assert isinstance(err.value, ValueError)


@pytest.mark.parametrize("ident", [None, "", "   ", 3, 2.5, True, ["h100"]])
def test_non_text_or_empty_id_is_a_planner_error(ident: object) -> None:
    with pytest.raises(PlannerError):
        builtin_catalogue().accelerator(ident)
    with pytest.raises(PlannerError):
        builtin_catalogue().model(ident)


def test_unknown_dtype_names_the_valid_ones() -> None:
    with pytest.raises(PlannerError, match="bf16"):
        api.weight_gb("llama-3.1-8b", "fp7")


# ----------------------------------------------------------------------------------------- dense peaks, links


@pytest.mark.parametrize("ident", REQUIRED_ACCELERATORS)
def test_dense_peaks_only(ident: str) -> None:
    """Datasheets' headline figures are 2:4-sparse (twice the dense rate). A narrower format runs at most twice the
    wider one's dense rate: fp8/int8 <= 2x bf16, fp4 <= 2x fp8; a 16-bit rate at most 16x the fp32 rate is not
    checked (fp32 is non-tensor on most parts)."""
    peaks = builtin_catalogue().accelerator(ident).dense_peak_tflops
    sixteen = peaks.get("bf16", peaks.get("fp16"))
    assert sixteen is not None
    if "bf16" in peaks and "fp16" in peaks:
        assert peaks["bf16"] == peaks["fp16"]
    for narrow in ("fp8", "int8"):
        if narrow in peaks:
            assert peaks[narrow] <= 2.05 * sixteen, (narrow, peaks[narrow], sixteen)
    if "fp4" in peaks:
        assert peaks["fp4"] <= 2.05 * peaks.get("fp8", 2 * sixteen)


@pytest.mark.parametrize("ident", REQUIRED_ACCELERATORS)
def test_ridge_within_family_range(ident: str) -> None:
    cat = builtin_catalogue()
    acc = cat.accelerator(ident)
    assert acc.family in cat.families, f"{ident}: family {acc.family!r} has no ridge range"
    low, high = cat.families[acc.family].bf16_ridge_range
    sixteen = acc.dense_peak_tflops.get("bf16", acc.dense_peak_tflops.get("fp16"))
    assert sixteen is not None
    ridge = sixteen * 1e12 / (acc.memory_bandwidth_tbs * 1e12)
    assert low <= ridge <= high


@needs_acc_csv
def test_accelerator_numbers_agree_with_the_reference_rows() -> None:
    """Memory, bandwidth and dense bf16 peak within 10% of accelerators.csv (the catalogue may correct a row from a
    better source, but never by the factor 2 of a sparse figure or 1000 of a unit slip)."""
    cat = builtin_catalogue()
    rows = _rows("accelerators.csv")
    assert len(rows) >= 18
    checked = 0
    for row in rows:
        ident = row["id"].replace("_", "-").removesuffix("-gpu")
        acc = cat.accelerator(ident)
        for column, value in (
            ("mem_gb", acc.memory_gb),
            ("mem_bw_tbs", acc.memory_bandwidth_tbs),
            ("bf16_dense_tflops", acc.dense_peak_tflops.get("bf16")),
        ):
            ref = _plain_number(row[column])
            if ref is None or value is None:
                continue
            assert 0.9 <= value / ref <= 1.1, (ident, column, value, ref)
            checked += 1
    assert checked >= 50


@pytest.mark.parametrize("ident", REQUIRED_ACCELERATORS)
def test_links_per_direction_are_half_the_bidirectional_figure(ident: str) -> None:
    acc = builtin_catalogue().accelerator(ident)
    links = [link for link in (acc.scaleup, acc.pcie) if link is not None]
    for link in links:
        if link.gbs_bidirectional is not None:
            assert link.gbs_per_direction == pytest.approx(link.gbs_bidirectional / 2, rel=1e-9)
        assert link.bytes_per_s == pytest.approx(link.gbs_per_direction * 1e9)


@needs_acc_csv
def test_links_agree_with_the_reference_bidirectional_figures() -> None:
    """accelerators.csv records scale-up and PCIe bandwidth as bidirectional totals: per direction is half."""
    cat = builtin_catalogue()
    checked = 0
    for row in _rows("accelerators.csv"):
        acc = cat.accelerator(row["id"].replace("_", "-").removesuffix("-gpu"))
        scaleup = _plain_number(row["scaleup_gbs"])
        if scaleup is not None and "bidirectional" in row["scaleup_direction"] and acc.scaleup is not None:
            assert acc.scaleup.gbs_per_direction == pytest.approx(scaleup / 2)
            checked += 1
        pcie = _plain_number(row["pcie_gbs_bidir"])
        if pcie is not None and acc.pcie is not None:
            assert acc.pcie.gbs_per_direction == pytest.approx(pcie / 2)
            checked += 1
    assert checked >= 20


def test_h100_nvlink_is_450_per_direction() -> None:
    """NVIDIA quotes NVLink 4 at 900 GB/s, both directions added; a ring all-reduce uses 450 GB/s per direction."""
    link = builtin_catalogue().accelerator("h100-sxm").scaleup
    assert link is not None
    assert link.gbs_per_direction == 450.0
    assert link.gbs_bidirectional == 900.0


def test_link_validator_refuses_bidirectional_entered_as_per_direction() -> None:
    with pytest.raises(ValueError, match="half"):
        Link(name="NVLink 4", gbs_per_direction=900.0, gbs_bidirectional=900.0)


# ------------------------------------------------------------------------------------------------- validators


def _acc_entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "test-h100",
        "name": "Test H100",
        "family": "nvidia-hopper",
        "memory_gb": 80,
        "memory_bandwidth_tbs": 3.35,
        "dense_peak_tflops": {"bf16": 989.4, "fp8": 1978.9},
        "source": "test fixture (H100 SXM datasheet, dense)",
    }
    entry.update(overrides)
    return entry


HOPPER_FAMILY = {"nvidia-hopper": {"bf16_ridge_range": [150, 450]}}


def test_a_well_formed_user_accelerator_loads() -> None:
    cat = catalogue_from_data({"families": HOPPER_FAMILY, "accelerators": [_acc_entry()]})
    assert cat.accelerator("test-h100").ridge("bf16") == pytest.approx(989.4 / 3.35)


def test_sparse_peak_entered_as_dense_is_caught_by_the_family_ridge() -> None:
    """H100 bf16 1978.9 is the 2:4-sparse figure: the ridge doubles to 591, outside Hopper's 150-450."""
    data = {"families": HOPPER_FAMILY, "accelerators": [_acc_entry(dense_peak_tflops={"bf16": 1978.9})]}
    with pytest.raises(PlannerError, match="ridge") as err:
        catalogue_from_data(data, where="user.yaml")
    assert "test-h100" in str(err.value)
    assert "sparse" in str(err.value)


def test_sparse_peak_in_a_user_file_is_caught_against_the_builtin_families(tmp_path: Path) -> None:
    """A user file naming a built-in family (no families section of its own) is checked when it is merged."""
    path = tmp_path / "sparse.yaml"
    path.write_text(yaml.safe_dump({"accelerators": [_acc_entry(dense_peak_tflops={"bf16": 1978.9})]}))
    with pytest.raises(PlannerError, match="ridge"):
        get_catalogue(extra=[path])


def test_bandwidth_in_gbs_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "gbs.yaml"
    path.write_text(yaml.safe_dump({"accelerators": [_acc_entry(memory_bandwidth_tbs=3350)]}))
    with pytest.raises(PlannerError) as err:
        load_catalogue_file(path)
    assert "memory_bandwidth_tbs" in str(err.value)
    assert "GB/s" in str(err.value)


def test_memory_in_mib_is_caught() -> None:
    with pytest.raises(PlannerError, match="memory_gb"):
        catalogue_from_data({"accelerators": [_acc_entry(memory_gb=81559)]})


def test_fp8_more_than_twice_bf16_is_caught() -> None:
    """fp8 3957.8 against bf16 989.4: the fp8 figure is the sparse one."""
    data = {"accelerators": [_acc_entry(dense_peak_tflops={"bf16": 989.4, "fp8": 3957.8})]}
    with pytest.raises(PlannerError) as err:
        catalogue_from_data(data)
    assert "fp8" in str(err.value)
    assert "sparse" in str(err.value)


def test_accelerator_without_a_16_bit_peak_is_refused() -> None:
    with pytest.raises(PlannerError, match="bf16"):
        catalogue_from_data({"accelerators": [_acc_entry(dense_peak_tflops={"fp8": 1978.9})]})


@pytest.mark.parametrize(
    ("field", "value"),
    [("memory_gb", -80), ("memory_gb", 0), ("memory_bandwidth_tbs", float("nan")), ("memory_gb", float("inf")),
     ("memory_gb", "eighty")],
)
def test_bad_accelerator_numbers_name_the_field(field: str, value: object) -> None:
    with pytest.raises(PlannerError, match=field):
        catalogue_from_data({"accelerators": [_acc_entry(**{field: value})]})


def test_accelerator_without_a_source_is_refused() -> None:
    entry = _acc_entry()
    del entry["source"]
    with pytest.raises(PlannerError, match="source"):
        catalogue_from_data({"accelerators": [entry]})


def _llama8b_entry(**overrides: object) -> dict[str, object]:
    entry: dict[str, object] = {
        "id": "test-llama-8b",
        "name": "Test Llama 8B",
        "layers": 32,
        "hidden_size": 4096,
        "vocab_size": 128256,
        "attention": {"kind": "gqa", "heads": 32, "kv_heads": 8, "head_dim": 128},
        "intermediate_size": 14336,
        "published": {"total_params_b": 8.03},
        "source": "test fixture (Llama-3.1-8B config.json)",
    }
    entry.update(overrides)
    return entry


def test_parameter_count_agreeing_with_published_total_loads() -> None:
    model = catalogue_from_data({"models": [_llama8b_entry()]}).model("test-llama-8b")
    assert model.total_params == dense_gqa_params(32, 4096, 14336, 32, 8, 128, 128256)


def test_parameter_count_disagreeing_with_published_total_is_caught() -> None:
    """The 8B architecture with a 70.6B published total: a mistyped layer count or size would look like this."""
    with pytest.raises(PlannerError) as err:
        catalogue_from_data({"models": [_llama8b_entry(published={"total_params_b": 70.6})]})
    assert "published" in str(err.value)
    assert "test-llama-8b" in str(err.value)


def test_parameter_count_with_a_typo_in_the_architecture_is_caught() -> None:
    """intermediate_size 1436 instead of 14336: 4.6B instead of 8.03B."""
    with pytest.raises(PlannerError, match="published"):
        catalogue_from_data({"models": [_llama8b_entry(intermediate_size=1436)]})


def test_heads_not_a_multiple_of_kv_heads_is_caught() -> None:
    entry = _llama8b_entry(attention={"kind": "gqa", "heads": 32, "kv_heads": 5, "head_dim": 128})
    with pytest.raises(PlannerError, match="kv_heads"):
        catalogue_from_data({"models": [entry]})


@pytest.mark.parametrize(
    "data",
    [
        [1, 2, 3],
        "accelerators",
        {"gpus": []},
        {"accelerators": [1]},
        {"accelerators": "h100"},
        {"families": [1, 2]},
        {"models": [{"id": "x"}]},
    ],
)
def test_malformed_catalogue_data_is_a_planner_error(data: object) -> None:
    with pytest.raises(PlannerError):
        catalogue_from_data(data)


def test_missing_and_malformed_catalogue_files(tmp_path: Path) -> None:
    with pytest.raises(PlannerError, match=r"nope\.yaml"):
        get_catalogue(extra=[tmp_path / "nope.yaml"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("accelerators: [\n")
    with pytest.raises(PlannerError, match=r"bad\.yaml"):
        get_catalogue(extra=[bad])
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(PlannerError, match=r"bad\.json"):
        load_catalogue_file(bad_json)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(PlannerError):
        load_catalogue_file(binary)


# ----------------------------------------------------------------------------------------------- user catalogues


USER_YAML = {
    "accelerators": [
        {
            "id": "acme-x1",
            "name": "Acme X1",
            "aliases": ["X1"],
            "memory_gb": 100,
            "memory_bandwidth_tbs": 2.0,
            "dense_peak_tflops": {"bf16": 500.0, "fp8": 1000.0},
            "scaleup": {"name": "AcmeLink", "gbs_per_direction": 200, "gbs_bidirectional": 400, "domain": 4},
            "price": {"usd_per_gpu_hour": 1.5, "date": "2026-01"},
            "source": "Acme X1 datasheet (test fixture)",
        }
    ],
    "models": [_llama8b_entry(id="house-8b", name="House 8B", aliases=["acme/house-8b"])],
}

LLAMA_8B_PARAMS = dense_gqa_params(32, 4096, 14336, 32, 8, 128, 128256)
LLAMA_8B_READ = LLAMA_8B_PARAMS - 128256 * 4096 + 4096  # all but the embedding table; one row gathered


def _check_user_entries_usable() -> None:
    cat = get_catalogue()
    assert cat.accelerator("ACME-X1").id == "acme-x1"
    assert cat.accelerator("x1").id == "acme-x1"
    assert cat.model("acme/house-8b").id == "house-8b"
    # usable through the public functions, with hand arithmetic: ridge = 500e12 / 2e12
    assert api.ridge_intensity("acme-x1") == pytest.approx(250.0)
    # decode floor at batch 1 of the built-in Llama-3.1-8B on the user GPU: the weights a step must read (all but
    # the embedding table, of which it gathers one row) / bandwidth
    floor = float(api.decode_floor_ms("llama-3.1-8b", "acme-x1", "bf16"))
    assert floor == pytest.approx(LLAMA_8B_READ * 2 / 2.0e12 * 1e3, rel=1e-9)
    # and a user model on a built-in GPU
    assert api.weight_gb("house-8b", "bf16") == pytest.approx(LLAMA_8B_PARAMS * 2 / 1e9, rel=1e-12)
    # built-in entries are still there
    assert cat.accelerator("h100-sxm").memory_gb == 80


def test_user_yaml_catalogue_through_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(USER_YAML))
    cat = get_catalogue(extra=[path])
    assert cat.accelerator("acme-x1").scaleup.gbs_per_direction == 200  # type: ignore[union-attr]
    assert cat.model("house-8b").total_params == LLAMA_8B_PARAMS
    assert "acme-x1" not in get_catalogue().accelerators  # without the file, it is not there


def test_user_json_catalogue_through_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(USER_YAML))
    assert get_catalogue(extra=[str(path)]).accelerator("x1").id == "acme-x1"


def test_user_yaml_catalogue_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(USER_YAML))
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    _check_user_entries_usable()


def test_environment_naming_a_missing_file_is_a_planner_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CATALOGUE_ENV, str(tmp_path / "gone.yaml"))
    with pytest.raises(PlannerError, match=r"gone\.yaml"):
        get_catalogue()


def test_user_entry_replaces_the_builtin_one_with_the_same_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    path = tmp_path / "override.yaml"
    override = _acc_entry(id="h100-sxm", name="H100 (our price)", price={"usd_per_gpu_hour": 1.25, "date": "2026"})
    path.write_text(yaml.safe_dump({"accelerators": [override]}))
    assert get_catalogue(extra=[path]).accelerator("h100-sxm").usd_per_gpu_hour == 1.25


LLAMA_CONFIG = {
    "_name_or_path": "acme/house-llama-8b",
    "architectures": ["LlamaForCausalLM"],
    "attention_bias": False,
    "bos_token_id": 128000,
    "eos_token_id": 128001,
    "hidden_act": "silu",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "max_position_embeddings": 131072,
    "model_type": "llama",
    "num_attention_heads": 32,
    "num_hidden_layers": 32,
    "num_key_value_heads": 8,
    "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 8.0, "rope_type": "llama3", "original_max_position_embeddings": 8192},
    "rope_theta": 500000.0,
    "tie_word_embeddings": False,
    "torch_dtype": "bfloat16",
    "vocab_size": 128256,
}

QWEN3_MOE_CONFIG = {
    "_name_or_path": "acme/house-qwen3-moe",
    "architectures": ["Qwen3MoeForCausalLM"],
    "attention_bias": False,
    "decoder_sparse_step": 1,
    "head_dim": 128,
    "hidden_act": "silu",
    "hidden_size": 2048,
    "intermediate_size": 6144,
    "max_position_embeddings": 40960,
    "max_window_layers": 48,
    "mlp_only_layers": [],
    "model_type": "qwen3_moe",
    "moe_intermediate_size": 768,
    "norm_topk_prob": True,
    "num_attention_heads": 32,
    "num_experts": 128,
    "num_experts_per_tok": 8,
    "num_hidden_layers": 48,
    "num_key_value_heads": 4,
    "rms_norm_eps": 1e-06,
    "rope_theta": 1000000.0,
    "sliding_window": None,
    "tie_word_embeddings": False,
    "use_sliding_window": False,
    "vocab_size": 151936,
}


def _qwen3_moe_params() -> tuple[int, int]:
    """Qwen3-30B-A3B by hand: head_dim 128 x 32 heads = 4096 query width (not hidden 2048); every layer MoE with
    128 experts of 3 x 2048 x 768 and a 2048 x 128 router; q_norm/k_norm (2 x 128 per layer) left out."""
    layers, h, heads, kv, hd, vocab, experts, k, inter = 48, 2048, 32, 4, 128, 151936, 128, 8, 768
    attention = h * heads * hd + 2 * h * kv * hd + heads * hd * h
    expert = 3 * h * inter
    shared = layers * (attention + h * experts + 2 * h) + h + 2 * vocab * h
    return shared + layers * experts * expert, shared + layers * k * expert


def test_llama_style_config_json_loads_and_is_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_CONFIG))
    cat = get_catalogue(extra=[path])
    model = cat.model("acme/house-llama-8b")
    assert model.total_params == LLAMA_8B_PARAMS
    assert kv_bytes_per_token(model) == 2 * 32 * 8 * 128 * 2
    assert model.max_context_tokens == 131072
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    assert api.kv_bytes_per_token("house-llama-8b") == 131072
    assert float(api.decode_floor_ms("house-llama-8b", "h100-sxm", "bf16")) == pytest.approx(
        LLAMA_8B_READ * 2 / 3.35e12 * 1e3, rel=1e-9
    )


def test_qwen3_moe_style_config_json_loads_and_is_usable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(QWEN3_MOE_CONFIG))
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    model = get_catalogue().model("house-qwen3-moe")
    total, active = _qwen3_moe_params()
    # q_norm / k_norm are 2 x 128 per layer: 12,288 parameters the hand count leaves out
    assert model.total_params == pytest.approx(total, abs=48 * 2 * 128)
    assert model.active_params == pytest.approx(active, abs=48 * 2 * 128)
    assert model.total_params / 1e9 == pytest.approx(30.5, rel=0.03)  # the published total
    assert model.attention.head_dim == 128  # read, not derived as hidden / heads = 64  # type: ignore[union-attr]
    assert kv_bytes_per_token(model) == 2 * 48 * 4 * 128 * 2
    assert float(experts_touched(model, 1)) == pytest.approx(8.0)
    assert api.kv_bytes_per_token("acme/house-qwen3-moe") == 98304


def test_config_json_missing_a_field_names_it(tmp_path: Path) -> None:
    config = dict(LLAMA_CONFIG)
    del config["hidden_size"]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    with pytest.raises(PlannerError, match="hidden_size"):
        get_catalogue(extra=[path])


def test_config_json_with_a_wrong_type_is_a_planner_error() -> None:
    with pytest.raises(PlannerError):
        model_from_hf_config({**LLAMA_CONFIG, "num_attention_heads": "many"})
    with pytest.raises(PlannerError):
        model_from_hf_config({**QWEN3_MOE_CONFIG, "num_experts_per_tok": None})


GEMMA2_9B_CONFIG = {
    # google/gemma-2-9b config.json as published (transformers 4.42): no tie_word_embeddings key (Gemma2Config
    # defaults it to true) and no layer_types (local/global layers alternate, 21 of 42 sliding).
    "_name_or_path": "acme/house-gemma-2-9b",
    "architectures": ["Gemma2ForCausalLM"],
    "attention_bias": False,
    "attn_logit_softcapping": 50.0,
    "cache_implementation": "hybrid",
    "final_logit_softcapping": 30.0,
    "head_dim": 256,
    "hidden_activation": "gelu_pytorch_tanh",
    "hidden_size": 3584,
    "intermediate_size": 14336,
    "max_position_embeddings": 8192,
    "model_type": "gemma2",
    "num_attention_heads": 16,
    "num_hidden_layers": 42,
    "num_key_value_heads": 8,
    "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06,
    "rope_theta": 10000.0,
    "sliding_window": 4096,
    "sliding_window_size": 4096,
    "vocab_size": 256000,
}


def test_gemma2_config_json_parameter_count() -> None:
    model = model_from_hf_config(GEMMA2_9B_CONFIG)
    assert model.total_params / 1e9 == pytest.approx(9.24, rel=0.03)


def test_gemma2_config_json_sliding_layers() -> None:
    model = model_from_hf_config(GEMMA2_9B_CONFIG)
    per_layer = 2 * 8 * 256 * 2
    expected_8k = per_layer * (21 * 8192 + 21 * 4096)
    assert float(kv_bytes_per_sequence(model, 8192)) == expected_8k


def test_builtin_gemma2_has_21_sliding_layers() -> None:
    """The shipped entry has it right: KV of an 8k sequence = 8192 B/layer/token x (21 x 8192 + 21 x 4096)."""
    model = builtin_catalogue().model("gemma-2-9b")
    assert float(kv_bytes_per_sequence(model, 8192)) == (2 * 8 * 256 * 2) * (21 * 8192 + 21 * 4096)
