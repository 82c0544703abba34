"""Fidelity: the expected-time model against measured rows, the fit, calibration files and the CLI."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from _shared_data import needs_shared_data

from planner import fidelity
from planner.catalogue import builtin_catalogue, get_catalogue
from planner.efficiency import serving_assumptions
from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import default_spec
from whichwall.cli import main

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SILICON = DATA / "silicon.csv"
needs_data = needs_shared_data("silicon.csv")

COLUMNS = ["model", "accelerator", "engine", "dtype", "tp", "isl", "osl", "concurrency", "ttft_ms", "tpot_ms"]


def rows_from(records: list[dict[str, object]]) -> str:
    """Measured rows as CSV text with a header (what ``fidelity.parse_measurements`` reads)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue()


@pytest.fixture(scope="module")
def silicon() -> fidelity.Loaded:
    return fidelity.load_measurements(SILICON)


@needs_data
def test_no_floor_exceeds_a_measurement(silicon: fidelity.Loaded) -> None:
    """A floor is a physical bound: at the batch each measurement implies, no decode-step floor is above the measured
    TPOT and no prefill floor above the measured TTFT."""
    prep = fidelity.prepare(silicon.rows)
    floor_tpot, floor_ttft = fidelity.floors(prep)
    tpot = np.array([r.tpot_ms for r in silicon.rows])
    ttft = np.array([r.ttft_ms for r in silicon.rows])
    assert len(silicon.rows) > 1000
    assert (floor_tpot <= tpot).all(), np.array(silicon.rows)[floor_tpot > tpot][:3]
    assert (floor_ttft <= ttft).all()


@needs_data
def test_rows_set_aside_are_counted_with_reasons(silicon: fidelity.Loaded) -> None:
    total = sum(1 for _ in csv.DictReader(SILICON.open(encoding="utf-8")))
    assert len(silicon.rows) + sum(silicon.skipped.values()) == total
    assert any("data-parallel" in why for why in silicon.skipped)
    assert silicon.skipped["concurrency 512 (flagged odd by the data's README)"] > 0


@needs_data
def test_out_of_sample_errors_are_what_the_docs_report(silicon: fidelity.Loaded) -> None:
    """Leave-one-architecture-out: every model's rows are predicted by a fit that never saw that model. The figures
    must stay where docs/fidelity.md says they are: TPOT within the 12% target; TTFT a regression guard (the target
    is 30%: 30.5% misses it by half a point, within the ±4-point noise of such a difference; see the doc)."""
    report = fidelity.validate(silicon, out_of_sample=True)
    assert report.floor_violations == 0
    assert report.tpot_mape_median <= 0.12
    assert report.ttft_mape_median < 0.31
    doc = (Path(__file__).resolve().parents[1] / "docs" / "fidelity.md").read_text(encoding="utf-8")
    assert f"{report.tpot_mape_median:.1%}" in doc and f"{report.ttft_mape_median:.1%}" in doc


@needs_data
def test_in_sample_errors_with_the_shipped_efficiencies(silicon: fidelity.Loaded) -> None:
    report = fidelity.validate(silicon, out_of_sample=False)
    assert report.floor_violations == 0
    assert report.tpot_mape_median < 0.10
    assert report.ttft_mape_median < 0.25


@needs_data
def test_shipped_efficiencies_are_the_fit_to_the_data(silicon: fidelity.Loaded) -> None:
    """serving.yaml's fitted numbers are what `whichwall calibrate` gives on silicon.csv (so the catalogue cannot
    drift from its stated source)."""
    fitted = fidelity.calibrate(silicon, source="test")["efficiency"]
    shipped = serving_assumptions().efficiency
    for acc, entry in fitted["per_accelerator"].items():
        mine = shipped.per_accelerator[acc]
        assert mine.rows == entry["rows"]  # the calibration provenance plans and searches show
        assert mine.bandwidth_fraction == pytest.approx(entry["bandwidth_fraction"], rel=0.02)
        assert mine.compute_fraction["bf16"] == pytest.approx(entry["compute_fraction"]["bf16"], rel=0.02)
        assert mine.prefill_compute_fraction == pytest.approx(entry["prefill_compute_fraction"], rel=0.05)
    for engine, entry in fitted["engines"].items():
        mine = shipped.engines[engine]
        assert mine.request_overhead_ms == pytest.approx(entry["request_overhead_ms"], rel=0.05)
        assert mine.layer_overhead_us == pytest.approx(entry["layer_overhead_us"], rel=0.05)
        assert mine.burst_coefficient == pytest.approx(entry["burst_coefficient"], rel=0.05)
        assert (mine.burst_exponent, mine.burst_output_exponent) == (fidelity.BURST_EXPONENT,
                                                                    fidelity.BURST_OUTPUT_EXPONENT)
    assert shipped.default.layer_overhead_us == pytest.approx(fitted["default"]["layer_overhead_us"], rel=0.05)
    assert shipped.default.expert_compute_fraction == pytest.approx(fitted["default"]["expert_compute_fraction"],
                                                                    rel=0.05)


def _synthetic_rows(eff_update: dict[str, float]) -> tuple[str, fidelity.Loaded]:
    """Rows whose TPOT/TTFT are the model's own predictions under known efficiencies: the fit must recover them."""
    cat = builtin_catalogue()
    base = cat.efficiency("h100-sxm", "vllm")
    truth = base.model_copy(update=eff_update)
    records = []
    for model, dtype, tp in (("llama-3.1-8b", "bf16", 1), ("llama-3.1-70b", "fp8", 4), ("qwen3-30b-a3b", "bf16", 1),
                             ("mixtral-8x7b", "fp8", 2)):
        for isl, osl in ((1024, 256), (4096, 512), (512, 1024)):
            for conc in (1, 4, 16, 64):
                records.append({"model": model, "accelerator": "h100-sxm", "engine": "vllm", "dtype": dtype, "tp": tp,
                                "isl": isl, "osl": osl, "concurrency": conc, "ttft_ms": 1.0, "tpot_ms": 1.0})
    text = rows_from(records)
    loaded = fidelity.parse_measurements(text, "synthetic", cat)
    prep = fidelity.prepare(loaded.rows, cat)
    tpot, ttft = fidelity.predict(prep, fidelity.efficiency_arrays([truth] * len(loaded.rows), prep))
    for record, t, f in zip(records, tpot, ttft, strict=True):
        record["tpot_ms"], record["ttft_ms"] = f"{t:.6g}", f"{f:.6g}"
    text = rows_from(records)
    return text, fidelity.parse_measurements(text, "synthetic", cat)


def test_fit_recovers_known_parameters() -> None:
    truth = {"bandwidth_fraction": 0.71, "compute_fraction": {d: 0.55 for d in ("fp32", "bf16", "fp16", "fp8",
                                                                                 "int8", "int4", "fp4")},
             "layer_overhead_s": 30e-6, "request_overhead_s": 0.04}
    _, loaded = _synthetic_rows(truth)
    fit = fidelity.fit(fidelity.prepare(loaded.rows))
    assert fit.per_family["nvidia-hopper"]["bandwidth_fraction"] == pytest.approx(0.71, rel=0.03)
    assert fit.per_engine["vllm"]["layer_overhead_us"] == pytest.approx(30.0, rel=0.1)
    assert fit.per_engine["vllm"]["request_overhead_ms"] == pytest.approx(40.0, rel=0.1)


def test_uneven_tensor_parallelism_is_set_aside() -> None:
    """Engines split attention heads evenly over tp: a row claiming tp 3 for a 64-head model is counted with the
    reason, not modelled; tp 4 of the same model is."""
    rows = [{"model": "llama-3.1-70b", "accelerator": "h100-sxm", "engine": "vllm", "dtype": "fp8", "tp": tp,
             "isl": 1024, "osl": 256, "concurrency": 8, "ttft_ms": 100, "tpot_ms": 20} for tp in (3, 4)]
    loaded = fidelity.parse_measurements(rows_from(rows), "rows")
    assert [r.gpus for r in loaded.rows] == [4]
    assert loaded.skipped == {fidelity.UNEVEN_TP: 1}


def test_fit_shares_fractions_within_a_silicon_family() -> None:
    """H100 and H200 are one Hopper die: rows of both give one set of fitted fractions, and an accelerator of the
    family the rows did not hold (H100 NVL) takes them; one of another family keeps the base efficiencies."""
    truth = {"bandwidth_fraction": 0.66, "layer_overhead_s": 40e-6}
    _, loaded = _synthetic_rows(truth)
    h200 = [replace(r, accelerator="h200-sxm") for r in loaded.rows[::2]]
    prep = fidelity.prepare(list(loaded.rows[1::2]) + h200)
    assert prep.batch.size > 10
    # H200 rows priced with H200's own peaks but the same true fractions
    effs = [builtin_catalogue().efficiency("h100-sxm", "vllm").model_copy(update=truth)] * len(prep.rows)
    tpot, ttft = fidelity.predict(prep, fidelity.efficiency_arrays(effs, prep))
    prep = fidelity.prepare([replace(r, tpot_ms=float(t), ttft_ms=float(f))
                             for r, t, f in zip(prep.rows, tpot, ttft, strict=True)])
    fit = fidelity.fit(prep)
    assert set(fit.per_family) == {"nvidia-hopper"}
    assert fit.per_family["nvidia-hopper"]["bandwidth_fraction"] == pytest.approx(0.66, rel=0.03)
    base = builtin_catalogue().efficiency("", "vllm")
    assert fit.efficiency("h100-nvl", "vllm", base).bandwidth_fraction == pytest.approx(0.66, rel=0.03)
    assert fit.efficiency("mi300x", "vllm", base).bandwidth_fraction == base.bandwidth_fraction


def test_calibrate_writes_a_catalogue_that_changes_expected_times(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    text, _ = _synthetic_rows({"bandwidth_fraction": 0.5})
    measurements = tmp_path / "mine.csv"
    measurements.write_text(text, encoding="utf-8")
    out = tmp_path / "mine.yaml"
    assert main(["calibrate", str(measurements), "-o", str(out)]) == 0
    data = yaml.safe_load(out.read_text(encoding="utf-8"))
    assert data["efficiency"]["per_accelerator"]["h100-sxm"]["bandwidth_fraction"] == pytest.approx(0.5, rel=0.03)
    cat = get_catalogue([out])
    # the user catalogue's efficiencies apply through the catalogue they are loaded into: halved bandwidth
    assert cat.efficiency("h100-sxm").bandwidth_fraction == pytest.approx(0.5, rel=0.03)
    assert builtin_catalogue().efficiency("h100-sxm").bandwidth_fraction > 0.7
    # ... and so a plan run with that catalogue decodes slower than with the shipped efficiencies
    spec = default_spec().model_copy(update={"model": "llama-3.1-8b", "accelerator": "h100-sxm", "tp": 1})
    assert evaluate(spec, cat).values["tpot_b1_ms"] > evaluate(spec, builtin_catalogue()).values["tpot_b1_ms"]

    # never overwrites without --force, and leaves the file as it was
    before = out.read_bytes()
    assert main(["calibrate", str(measurements), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == before


def test_calibrate_warns_about_what_the_rows_cannot_determine(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    """Four measured rows for a family's three fractions, an engine's three parameters and five shared ones: the fit
    still runs, and says which parameters the rows barely determine and which sit at a bound."""
    records = [{"model": "llama-3.1-8b", "accelerator": "h100-sxm", "engine": "vllm", "dtype": "bf16", "tp": 1,
                "isl": 1024, "osl": 256, "concurrency": c, "ttft_ms": 40.0 * c ** 0.5, "tpot_ms": 7.0 + 0.05 * c}
               for c in (1, 4, 16, 64)]
    measurements = tmp_path / "few.csv"
    measurements.write_text(rows_from(records), encoding="utf-8")
    assert main(["calibrate", str(measurements), "-o", str(tmp_path / "few.yaml")]) == 0
    err = capsys.readouterr().err
    assert "only 4 rows of the nvidia-hopper family" in err and "only 4 vllm rows" in err
    assert "bound" in err
    # plenty of rows: no warning about their number
    text, _ = _synthetic_rows({})
    many = tmp_path / "many.csv"
    many.write_text(text, encoding="utf-8")
    assert main(["calibrate", str(many), "-o", str(tmp_path / "many.yaml")]) == 0
    assert "only" not in capsys.readouterr().err


def test_validate_json_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, _ = _synthetic_rows({})
    measurements = tmp_path / "rows.csv"
    measurements.write_text(text, encoding="utf-8")
    assert main(["validate", str(measurements), "--json"]) == 0
    line = capsys.readouterr().out.strip()
    assert "\n" not in line
    summary = json.loads(line)
    assert set(summary) >= {"tpot_mape_median", "ttft_mape_median", "floor_violations", "rows"}
    assert summary["rows"] == 48
    assert summary["tpot_mape_median"] < 0.05  # rows made by the shipped model with the shipped efficiencies
    assert summary["floor_violations"] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "missing columns"),
        ("model,accelerator\nllama-3.1-8b,h100\n", "missing columns"),
        (",".join(COLUMNS) + "\nllama-3.1-8b,h100,vllm,bf16,1,abc,128,4,10,5\n", "isl must be a number"),
        (",".join(COLUMNS) + "\nllama-3.1-8b,h100,vllm,bf16,1,-5,128,4,10,5\n", "isl must be a positive"),
        (",".join(COLUMNS) + "\nllama-3.1-8b,h100,vllm,bf16,1,1024,128,4,nan,5\n", "ttft_ms must be a positive"),
        (",".join(COLUMNS) + "\nno-such-model,h100,vllm,bf16,1,1024,128,4,10,5\n", "no row whichwall can model"),
        (",".join(COLUMNS) + "\nllama-3.1-8b,h100,vllm,fp9,1,1024,128,4,10,5\n", "unknown dtype"),
    ],
)
def test_bad_measurement_tables(text: str, message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        fidelity.parse_measurements(text, "table")


def test_cli_bad_measurements_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00binary")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("whichwall: error:") and "Traceback" not in err
    assert main(["validate", str(tmp_path / "missing.csv")]) == 2


def test_engine_changes_ttft_not_floors() -> None:
    cat = builtin_catalogue()
    trt, vllm = cat.efficiency("h100-sxm", "trtllm"), cat.efficiency("h100-sxm", "vllm")
    assert trt.request_overhead_s != vllm.request_overhead_s
    assert math.isclose(trt.bandwidth_fraction, vllm.bandwidth_fraction)


def test_predict_equals_the_cores_expected_times() -> None:
    """fidelity.predict times measured rows from the same step inputs (``roofline.decode_inputs`` /
    ``prefill_inputs``) and compute dtypes (``roofline.compute_fractions``) as the core; with the catalogue's
    efficiencies it must give exactly what the Excel functions TPOT_MS / TTFT_MS (the evaluator) give at the row's
    concurrency, slot wait included. The rows include the two that once drifted: A100 fp8 (no fp8 rate: the 16-bit
    rate and its fraction) and MI300X fp4 (weight-only fp4 at the bf16 rate), and a concurrency beyond the batch
    that fits."""
    from planner import api

    cat = builtin_catalogue()
    records = [{"model": m, "accelerator": a, "engine": e, "dtype": d, "tp": tp, "isl": isl, "osl": osl,
                "concurrency": c, "ttft_ms": 1.0, "tpot_ms": 1.0}
               for m, a, e, d, tp, isl, osl, c in [
                   ("llama-3.1-8b", "h100-sxm", "vllm", "bf16", 1, 1024, 256, 8),
                   ("llama-3.1-70b", "h200-sxm", "trtllm", "fp8", 4, 4096, 512, 64),
                   ("mixtral-8x7b", "b200", "sglang", "fp8", 2, 512, 1024, 16),
                   ("deepseek-v3", "h200-sxm", "trtllm", "fp8", 8, 1024, 1024, 32),
                   ("llama-3.1-70b", "a100-80gb-sxm", "vllm", "fp8", 4, 2048, 256, 32),
                   ("llama-3.1-70b", "mi300x", "any", "fp4", 1, 2048, 256, 16),
                   ("llama-3.1-8b", "l40s", "any", "bf16", 1, 8192, 1024, 4000),
                   ("llama-3.1-8b", "h100-sxm", "trtllm", "fp8", 1, 512, 64, 640),  # 10 prompts per iteration
                   ("llama-3.1-8b", "a100-80gb-sxm", "vllm", "bf16", 1, 256, 256, 600),
                   ("qwen3-30b-a3b", "h100-sxm", "vllm", "fp8", 1, 32, 32, 600)]]  # 18.75 short MoE prompts
    loaded = fidelity.parse_measurements(rows_from(records), "rows", cat)
    assert len(loaded.rows) == len(records)
    prep = fidelity.prepare(loaded.rows, cat)
    effs = [cat.efficiency(r.accelerator, r.engine) for r in loaded.rows]
    tpot, ttft = fidelity.predict(prep, fidelity.efficiency_arrays(effs, prep, cat))
    for i, row in enumerate(loaded.rows):
        args = (row.model, row.accelerator, row.concurrency, row.isl, row.osl, row.dtype, row.gpus, row.kv_dtype,
                row.engine)
        assert tpot[i] == pytest.approx(float(api.tpot_ms(*args)), rel=1e-9), row
        assert ttft[i] == pytest.approx(float(api.ttft_ms(*args)), rel=1e-9), row
    assert prep.batch[6] < 4000  # the L40S row waits for slots: memory holds fewer
    assert prep.batch[8] == 256  # the A100 row waits for vLLM's default cap there (max_num_seqs 256)


def test_predict_equals_the_evaluator_under_expert_parallelism() -> None:
    """Rows measured with expert parallelism (ep > 1) are timed as plans time them: the evaluator's expert
    all-to-alls (``evaluator.expert_exchange_s``) replace the experts' all-reduce in the decode step and in each
    prefill, also with several prompts prefilled per iteration and where experts per token differ from tp."""
    import numpy as np

    from planner import evaluator, topology
    from planner.spec import spec_from_data

    cat = builtin_catalogue()
    cases = [("qwen3-235b-a22b", "h100-sxm", "trtllm", "fp8", 4, 4, 1024, 1024, 64),
             ("mixtral-8x7b", "b200", "vllm", "fp8", 8, 8, 512, 32, 640),  # 16 prompts per iteration
             ("deepseek-v3", "h200-sxm", "sglang", "fp8", 8, 8, 2048, 256, 16)]
    records = [{"model": m, "accelerator": a, "engine": e, "dtype": d, "tp": tp, "ep": ep, "isl": i, "osl": o,
                "concurrency": c, "ttft_ms": 1.0, "tpot_ms": 1.0} for m, a, e, d, tp, ep, i, o, c in cases]
    loaded = fidelity.parse_measurements(rows_from(records), "rows", cat)
    assert [r.expert_parallel for r in loaded.rows] == [4, 8, 8]
    prep = fidelity.prepare(loaded.rows, cat)
    effs = [cat.efficiency(r.accelerator, r.engine) for r in loaded.rows]
    tpot, ttft = fidelity.predict(prep, fidelity.efficiency_arrays(effs, prep, cat))
    for i, row in enumerate(loaded.rows):
        m, a = cat.model(row.model), cat.accelerator(row.accelerator)
        spec = spec_from_data({"model": m.id, "accelerator": a.id, "dtype": row.dtype, "kv_dtype": row.kv_dtype,
                               "engine": row.engine, "tp": row.gpus, "pp": 1, "ep": row.expert_parallel, "qps": 1.0,
                               "input_tokens": int(row.isl), "output_tokens": int(row.osl), "ttft_slo_ms": 1e9,
                               "tpot_slo_ms": 1e9})
        rows = evaluator.build(m, spec, [evaluator.Option(a, row.dtype, row.kv_dtype, float("nan"), effs[i],
                                                          topology.layouts(m, a, row.gpus, 1, row.expert_parallel))])
        want_tpot, want_ttft = evaluator.concurrency_times(rows, np.array([[row.concurrency]]))
        assert tpot[i] == pytest.approx(float(want_tpot[0, 0]), rel=1e-9), row
        assert ttft[i] == pytest.approx(float(want_ttft[0, 0]), rel=1e-9), row
