"""Offline latency/throughput rows (planner.offline): MI300X's shipped calibration is the fit to the project's own
measurement file, the predictions are the one evaluator's step and prefill, and bad tables get clear errors."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from planner import api, offline, search
from planner.catalogue import builtin_catalogue
from planner.efficiency import engine_offline_token_budget, serving_assumptions
from planner.errors import PlannerError
from planner.roofline import batched_prefill_inputs, prefill_inputs, step_rates, time_step
from planner.spec import default_spec

ROCM = Path(__file__).resolve().parents[1] / "data" / "measurements" / "rocm-vllm-mi300x.csv"
NEWER, OLDER = "040de12d", "b309ea79"
CAT = builtin_catalogue()


@pytest.fixture(scope="module")
def newer() -> list[offline.OfflineRow]:
    return offline.load_offline(ROCM, CAT, NEWER)


def test_the_file_holds_both_versions_and_the_models_resolve() -> None:
    rows = offline.load_offline(ROCM, CAT)
    assert len(rows) == 80
    assert {r.model for r in rows} == {"llama-3.1-70b", "llama-3.1-405b"}  # amd/...-FP8-KV checkpoints
    assert sum(NEWER in r.source for r in rows) == sum(OLDER in r.source for r in rows) == 40
    throughput = [r for r in rows if r.metric == "throughput_tokens_per_s"]
    assert all(r.max_batched_tokens == 131_072 for r in throughput)  # from the benchmark command
    assert all(r.max_batched_tokens == engine_offline_token_budget("vllm")
               for r in rows if r.metric == "latency_s")


def test_shipped_mi300x_efficiencies_are_the_fit_to_the_measurement_file(newer: list[offline.OfflineRow]) -> None:
    """serving.yaml's MI300X (and MI325X, the same die) entry is what `whichwall calibrate ... --source 040de12d`
    gives, with its provenance: the fitted row count."""
    fit = offline.fit_offline(newer, CAT)
    assert fit.fitted_rows == 38  # the two KV-limited 405B throughput rows are reported, not fitted
    for acc in ("mi300x", "mi325x"):
        shipped = serving_assumptions().efficiency.per_accelerator[acc]
        assert shipped.bandwidth_fraction == pytest.approx(fit.bandwidth_fraction, rel=0.01)
        assert shipped.compute_fraction["bf16"] == pytest.approx(fit.compute_16bit, rel=0.01)
        assert shipped.prefill_compute_fraction == pytest.approx(fit.compute_16bit, rel=0.01)
        assert shipped.rows == fit.fitted_rows
        assert CAT.efficiency(acc, "vllm").calibration_rows == 38
    assert not fit.warnings


def test_mi300x_errors_in_and_out_of_version(newer: list[offline.OfflineRow]) -> None:
    """The shipped calibration on its own rows (latency 4.7%, throughput 9.1%) and on the other software version's
    rows, never fitted (9.2%, 9.4%); the catalogue defaults it replaced were 12.8% and 54% off."""
    report = offline.validate_offline(newer, CAT)
    assert report.latency_error <= 0.06 and report.throughput_error <= 0.11
    other = offline.validate_offline(offline.load_offline(ROCM, CAT, OLDER), CAT)
    assert other.latency_error <= 0.10 and other.throughput_error <= 0.11
    default = CAT.efficiency("", "vllm")
    before = [offline.predict_row(r, default, CAT) for r in newer]
    throughput = [abs(p.value / r.value - 1) for r, p in zip(newer, before, strict=True)
                  if r.metric != "latency_s" and not p.kv_limited]
    assert float(np.median(throughput)) > 0.3


def test_predictions_are_the_evaluators_step_and_prefill(newer: list[offline.OfflineRow]) -> None:
    """A latency row is T_pre(B) + (OUT − 1) · t_d(B): t_d is DECODE_MS at the row's batch and mean context; one
    prompt's batched prefill is PREFILL_MS; a batched prefill reads the weights once."""
    row = next(r for r in newer if r.metric == "latency_s" and r.batch == 8 and r.model == "llama-3.1-70b")
    p = offline.predict_row(row, CAT.efficiency("mi300x", "vllm"), CAT)
    step_ms = api.decode_ms(row.model, "mi300x", "fp8", row.batch, row.isl + row.osl / 2, 8, "fp8", "vllm")
    assert p.decode_step_s * 1e3 == pytest.approx(float(step_ms), rel=1e-9)
    model, acc = CAT.model(row.model), CAT.accelerator("mi300x")
    eff = CAT.efficiency("mi300x", "vllm")
    rates = step_rates(model, acc, "fp8", "fp8", 8.0, eff, prefill=True)
    # the row's 8 prompts prefilled together in one iteration (8 × 1,024 tokens within the token budget)
    eight = time_step(batched_prefill_inputs(model, row.isl, row.batch, "fp8", "fp8"), rates)
    assert p.prefill_s == pytest.approx(float(eight.total_s), rel=1e-12)
    assert p.value == pytest.approx(float(eight.total_s) + (row.osl - 1) * float(step_ms) / 1e3, rel=1e-9)
    one = time_step(batched_prefill_inputs(model, 1024.0, 1.0, "fp8", "fp8"), rates)
    assert float(one.total_ms) == pytest.approx(float(api.prefill_ms(row.model, "mi300x", 1024, "fp8", 8, "fp8",
                                                                     "vllm")), rel=1e-9)
    four = batched_prefill_inputs(model, 1024.0, 4.0, "fp8", "fp8")
    single = prefill_inputs(model, 1024.0, "fp8", "fp8")
    assert float(four.matmul_flops) == pytest.approx(4 * float(single.matmul_flops))
    assert float(four.weight_bytes) < 1.01 * float(single.weight_bytes)


def test_throughput_is_capped_by_max_sequences_and_memory(newer: list[offline.OfflineRow]) -> None:
    eff = CAT.efficiency("mi300x", "vllm")
    row = next(r for r in newer if r.metric != "latency_s" and r.model == "llama-3.1-70b")
    full = offline.predict_row(row, eff, CAT)
    capped = offline.predict_row(offline.OfflineRow(**{**row.__dict__, "max_sequences": 256.0}), eff, CAT)
    assert full.batch == min(row.batch, row.max_sequences) and capped.batch == 256
    assert capped.value < full.value
    limited = [offline.predict_row(r, eff, CAT) for r in newer if r.model == "llama-3.1-405b"
               and r.metric != "latency_s" and (r.osl == 4096 or r.isl == 500)]
    assert limited and all(p.kv_limited for p in limited)  # the README's arithmetic: they cannot all fit


@pytest.mark.parametrize(("text", "message"), [
    ("model,accelerator\nx,y\n", "missing columns engine, dtype, tp"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1,128,128,1,"
     "ttft_ms,5\n", "metric 'ttft_ms' is not one of latency_s, throughput_tokens_per_s"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1,128,128,1,"
     "latency_s,-2\n", "value must be a positive number up to 1e+15, got '-2'"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1,128,128,1e300,"
     "latency_s,2\n", "batch must be a positive number up to 1e+07, got '1e300'"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1,2e7,128,1,"
     "latency_s,2\n", "isl must be a positive number up to 1e+07, got '2e7'"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1,0.5,128,1,"
     "latency_s,2\n", "isl must be at least 1"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\norg/not-a-model-FP8,h100-sxm,vllm,bf16,1,128,"
     "128,1,latency_s,2\n", "unknown model 'org/not-a-model-FP8'"),
    ("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\nllama-3.1-8b,h100-sxm,vllm,bf16,1.5,128,128,1,"
     "latency_s,2\n", "tp must be a whole number"),
])
def test_bad_offline_tables(text: str, message: str) -> None:
    with pytest.raises(PlannerError, match=re.escape(message)):
        offline.parse_offline(text, "t.csv", CAT)


def test_a_source_filter_that_matches_nothing_says_so() -> None:
    with pytest.raises(PlannerError, match=r"no rows whose source contains 'v9\.9'"):
        offline.load_offline(ROCM, CAT, "v9.9")


def test_search_marks_and_can_exclude_uncalibrated_accelerators() -> None:
    spec = default_spec()
    everything = search.search(spec, CAT, search.search_space(spec, CAT, disaggregated=False), pareto=False)
    rows = [everything._candidate(everything.columns, i) for i in range(len(everything))]
    by_acc = {c.accelerator: c.calibration_rows for c in rows}
    recorded = serving_assumptions().efficiency.per_accelerator
    newer = offline.load_offline(ROCM, CAT, NEWER)
    fitted = sum(not p.kv_limited for p in offline.validate_offline(newer, CAT).predictions)
    assert by_acc["h100-sxm"] == recorded["h100-sxm"].rows > 0  # the silicon.csv fit's rows, as serving.yaml says
    assert by_acc["mi300x"] == fitted == recorded["mi300x"].rows and by_acc["mi355x"] == 0
    only = search.search_space(spec, CAT, disaggregated=False, calibrated_only=True)
    assert {a.id for a in only.accelerators} == {a for a, n in by_acc.items() if n > 0}
    assert "mi355x" not in {a.id for a in only.accelerators}
    with pytest.raises(PlannerError, match="none of the candidate accelerators has efficiencies fitted"):
        search.search_space(spec, CAT, accelerators=["mi355x", "l4"], calibrated_only=True)
    assert math.isfinite(min(c.usd_month for c in rows if c.feasible))


def test_cli_validates_and_calibrates_offline_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from whichwall.cli import main

    assert main(["validate", str(ROCM), "--source", NEWER, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 40 and summary["kv_limited_rows"] == 2 and summary["latency_mape_median"] < 0.06
    out = tmp_path / "mi300x.yaml"
    assert main(["calibrate", str(ROCM), "--source", NEWER, "-o", str(out)]) == 0
    written = yaml.safe_load(out.read_text(encoding="utf-8"))["efficiency"]["per_accelerator"]["mi300x"]
    shipped = CAT.efficiency("mi300x", "vllm")  # calibrate reproduces the shipped fit (serving.yaml)
    assert written["rows"] == shipped.calibration_rows
    assert written["bandwidth_fraction"] == pytest.approx(shipped.bandwidth_fraction, rel=1e-3)
    assert "--source 040de12d" in written["source"]
    bad = tmp_path / "bad.csv"
    bad.write_text("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\n"
                   "llama-3.1-8b,h100-sxm,vllm,bf16,1,128,128,1,tokens,5\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.csv line 2: metric 'tokens' is not one of latency_s" in err and "Traceback" not in err
    assert main(["validate", str(bad).replace("bad", "missing")]) == 2
    silicon_like = tmp_path / "runs.csv"
    silicon_like.write_text("model,accelerator,isl,osl,concurrency,ttft_ms,tpot_ms\nllama-3.1-8b,h100-sxm,1,1,1,1,1\n",
                            encoding="utf-8")
    assert main(["validate", str(silicon_like), "--source", "x"]) == 2
    assert "--source 'x' picks rows of an offline table" in capsys.readouterr().err


def test_a_table_of_one_metric_reports_the_other_as_absent_not_nan(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from whichwall.cli import main

    table = tmp_path / "latency.csv"
    table.write_text("model,accelerator,engine,dtype,tp,isl,osl,batch,metric,value\n"
                     "llama-3.1-8b,h100-sxm,vllm,bf16,1,128,128,1,latency_s,2\n")
    assert main(["validate", str(table), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)  # strict JSON: a NaN would not parse as a number here
    assert summary["throughput_mape_median"] is None and summary["latency_mape_median"] > 0
    assert main(["validate", str(table)]) == 0
    assert "throughput median |error| n/a (no such rows)" in capsys.readouterr().out
    assert main(["validate", str(table), "--cross-validate"]) == 2
    assert "leave --cross-validate out" in capsys.readouterr().err


def test_a_row_without_max_sequences_runs_at_the_engines_default_cap() -> None:
    """vLLM runs at most 1,024 sequences on an H100 unless told otherwise (serving.yaml): 4,000 prompts of 256
    tokens in fp8 would fit ~3,800 at once, but the engine's cap, not the KV cache, sets the batch."""
    text = ("model,accelerator,engine,dtype,kv_dtype,tp,isl,osl,batch,metric,value\n"
            "llama-3.1-8b,h100-sxm,vllm,fp8,fp8,1,128,128,4000,throughput_tokens_per_s,20000\n")
    row, = offline.parse_offline(text, "t.csv", CAT)
    p = offline.predict_row(row, CAT.efficiency("h100-sxm", "vllm"), CAT)
    assert p.batch == 1024 and not p.kv_limited
