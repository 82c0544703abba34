"""The ``whichwall`` command line: ``plan`` prints every section of the design loop and the binding wall, ``--json``
parses, ``catalogue`` lists ids; bad input exits 2 with one error line on stderr and never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from planner.catalogue import CATALOGUE_ENV, builtin_catalogue
from whichwall.cli import main

ROOT = Path(__file__).parents[1]
WALLS = {"memory capacity", "memory bandwidth", "compute", "network", "budget"}
SECTIONS = ("Requirements", "Arithmetic", "Topology", "Cost", "Walls")
LLAMA_70B = 80 * (8192 * 8192 * 2 + 2 * 8192 * 1024 + 3 * 8192 * 28672 + 2 * 8192) + 8192 + 2 * 128256 * 8192

SPEC = {
    "name": "rag-8b",
    "model": "meta-llama/Llama-3.1-8B-Instruct",
    "accelerator": "H100",
    "dtype": "bf16",
    "tp": 1,
    "qps": 5,
    "input_tokens": 4096,
    "output_tokens": 256,
    "ttft_slo_ms": 2000,
    "tpot_slo_ms": 60,
}


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "80")  # rich reads it; the CLI widens to at least 100


def strict_json(text: str) -> object:
    def refuse(constant: str) -> object:
        raise ValueError(f"non-standard JSON constant {constant}")

    return json.loads(text, parse_constant=refuse)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def write_spec(tmp_path: Path, **overrides: object) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump({**SPEC, **overrides}))
    return path


# ------------------------------------------------------------------------------------------------------ plan


def test_plan_default_prints_every_section_and_a_binding_wall(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "plan")
    assert code == 0, err
    assert err == ""
    for section in SECTIONS:
        assert section in out, section
    binding = [line for line in out.splitlines() if "binding wall" in line]
    assert len(binding) == 1
    assert any(wall in binding[0] for wall in WALLS)
    for label in ("weights", "KV cache per token", "ridge intensity", "largest batch that fits", "replicas",
                  "monthly cost", "next wall", "change next"):
        assert label in out, label
    assert "llama-3.1-70b" in out
    assert "Traceback" not in out


def test_plan_json_parses(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "plan", "--json")
    assert code == 0, err
    data = strict_json(out)
    assert isinstance(data, dict)
    assert set(data) >= {"spec", "values", "walls", "feasible"}
    assert data["walls"]["binding"] in WALLS
    assert set(data["walls"]["utilization"]) == WALLS
    assert data["spec"]["model"] == "llama-3.1-70b"
    # the default plan is fp8 weights and fp8 KV: hand arithmetic
    values = data["values"]
    assert values["weight_gb"] == pytest.approx(LLAMA_70B / 1e9, rel=1e-12)
    assert values["kv_bytes_per_token"] == 2 * 80 * 8 * 128 * 1
    assert values["ridge_flop_per_byte"] == pytest.approx(1978.9 / 3.35, rel=1e-12)
    assert values["tp"] == 4
    assert isinstance(data["feasible"], bool)


def test_plan_spec_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "plan", str(write_spec(tmp_path)), "--json")
    assert code == 0, err
    data = strict_json(out)
    assert isinstance(data, dict)
    assert data["spec"]["name"] == "rag-8b"
    assert data["values"]["kv_bytes_per_token"] == 2 * 32 * 8 * 128 * 2
    assert data["walls"]["binding"] in WALLS


def test_plan_spec_file_as_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "plan", str(write_spec(tmp_path)))
    assert code == 0
    assert "rag-8b" in out
    for section in SECTIONS:
        assert section in out


def test_plan_with_a_user_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    catalogue = tmp_path / "ours.yaml"
    catalogue.write_text(yaml.safe_dump({"accelerators": [{
        "id": "acme-x1", "name": "Acme X1", "memory_gb": 100, "memory_bandwidth_tbs": 2.0,
        "dense_peak_tflops": {"bf16": 500.0}, "pcie": {"name": "Gen5", "gbs_per_direction": 64},
        "price": {"usd_per_gpu_hour": 1.0, "date": "2026"}, "source": "test fixture"}]}))
    spec = write_spec(tmp_path, accelerator="acme-x1")
    code, out, err = run_main(capsys, "plan", str(spec), "--catalogue", str(catalogue), "--json")
    assert code == 0, err
    data = strict_json(out)
    assert isinstance(data, dict)
    assert data["values"]["ridge_flop_per_byte"] == pytest.approx(250.0)
    assert data["values"]["usd_per_gpu_hour"] == 1.0


# ------------------------------------------------------------------------------------------------- catalogue


def test_catalogue_json_lists_every_id(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "catalogue", "--json")
    assert code == 0
    data = strict_json(out)
    cat = builtin_catalogue()
    assert isinstance(data, dict)
    assert set(data["accelerators"]) == set(cat.accelerators)
    assert set(data["models"]) == set(cat.models)
    assert {"h100-sxm", "mi300x", "tpu-v6e"} <= set(data["accelerators"])
    assert {"llama-3.1-70b", "deepseek-v3", "gpt-oss-120b"} <= set(data["models"])


def test_catalogue_lists_model_ids(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "catalogue")
    assert code == 0
    assert "Accelerators" in out and "Models" in out
    for ident in builtin_catalogue().models:
        assert ident in out, ident
    for ident in ("h100-sxm", "h200-sxm", "mi300x", "l40s", "gaudi3"):
        assert ident in out


def test_catalogue_lists_every_accelerator_id_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "catalogue")
    assert code == 0
    for ident in builtin_catalogue().accelerators:
        assert ident in out, ident


def test_catalogue_shows_one_model(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "catalogue", "models", "deepseek-ai/DeepSeek-V3", "--json")
    assert code == 0
    data = strict_json(out)
    assert isinstance(data, dict)
    assert data["id"] == "deepseek-v3"
    assert data["attention"]["kind"] == "mla"
    assert data["attention"]["kv_lora_rank"] == 512
    assert data["derived"]["total_params_b"] == pytest.approx(671, rel=0.03)
    assert data["source"]


def test_catalogue_shows_one_accelerator_by_alias(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "catalogue", "accelerators", "H100", "--json")
    assert code == 0
    data = strict_json(out)
    assert isinstance(data, dict)
    assert data["id"] == "h100-sxm"
    assert data["memory_bandwidth_tbs"] == 3.35
    assert data["dense_peak_tflops"]["bf16"] == 989.4


# ------------------------------------------------------------------------------------------------- bad input


def _bad_inputs(tmp: Path) -> dict[str, list[str]]:
    unknown_model = tmp / "unknown-model.yaml"
    unknown_model.write_text(yaml.safe_dump({**SPEC, "model": "llama-9-9000b"}))
    negative = tmp / "negative.yaml"
    negative.write_text(yaml.safe_dump({**SPEC, "qps": -5}))
    nan = tmp / "nan.yaml"
    nan.write_text(yaml.safe_dump(SPEC).replace("qps: 5", "qps: .nan"))
    text_number = tmp / "text.yaml"
    text_number.write_text(yaml.safe_dump({**SPEC, "input_tokens": "many"}))
    unknown_field = tmp / "field.yaml"
    unknown_field.write_text(yaml.safe_dump({**SPEC, "colour": "red"}))
    malformed = tmp / "malformed.yaml"
    malformed.write_text("model: [llama\nqps: 1\n")
    empty = tmp / "empty.yaml"
    empty.write_text("")
    good = tmp / "good.yaml"
    good.write_text(yaml.safe_dump(SPEC))
    bad_catalogue = tmp / "bad-catalogue.yaml"
    bad_catalogue.write_text("accelerators: [\n")
    sparse_catalogue = tmp / "sparse.yaml"
    sparse_catalogue.write_text(yaml.safe_dump({"accelerators": [{
        "id": "my-h100", "name": "My H100", "family": "nvidia-hopper", "memory_gb": 80, "memory_bandwidth_tbs": 3.35,
        "dense_peak_tflops": {"bf16": 1978.9}, "source": "datasheet headline (sparse!)"}]}))
    gbs_catalogue = tmp / "gbs.yaml"
    gbs_catalogue.write_text(yaml.safe_dump({"accelerators": [{
        "id": "my-h100", "name": "My H100", "memory_gb": 80, "memory_bandwidth_tbs": 3350,
        "dense_peak_tflops": {"bf16": 989.4}, "source": "datasheet"}]}))
    return {
        "unknown model": ["plan", str(unknown_model)],
        "negative qps": ["plan", str(negative)],
        "nan qps": ["plan", str(nan)],
        "text for a number": ["plan", str(text_number)],
        "unknown field": ["plan", str(unknown_field)],
        "missing file": ["plan", str(tmp / "missing.yaml")],
        "malformed yaml": ["plan", str(malformed)],
        "empty file": ["plan", str(empty)],
        "spec is a folder": ["plan", str(tmp)],
        "missing catalogue": ["plan", str(good), "--catalogue", str(tmp / "nope.yaml")],
        "malformed catalogue": ["plan", str(good), "--catalogue", str(bad_catalogue)],
        "sparse catalogue": ["plan", str(good), "--catalogue", str(sparse_catalogue)],
        "GB/s catalogue": ["catalogue", "--catalogue", str(gbs_catalogue)],
        "unknown catalogue model": ["catalogue", "models", "llama-9-9000b"],
        "unknown catalogue accelerator": ["catalogue", "accelerators", "h1000"],
    }


BAD_CASES = ["unknown model", "negative qps", "nan qps", "text for a number", "unknown field", "missing file",
             "malformed yaml", "empty file", "spec is a folder", "missing catalogue", "malformed catalogue",
             "sparse catalogue", "GB/s catalogue", "unknown catalogue model", "unknown catalogue accelerator"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_exits_2_without_a_traceback(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, *_bad_inputs(tmp_path)[case])
    assert code == 2, (code, err)
    assert "Traceback" not in out + err
    assert out == ""
    assert err.startswith("whichwall: error: ")
    assert "internal error" not in err


@pytest.mark.parametrize(
    "case",
    [c
     for c in BAD_CASES],
)
def test_bad_input_error_is_one_line(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run_main(capsys, *_bad_inputs(tmp_path)[case])
    assert len(err.strip().splitlines()) == 1, err


@pytest.mark.parametrize(
    ("case", "needle"),
    [("unknown model", "llama-9-9000b"), ("negative qps", "qps"), ("nan qps", "qps"),
     ("text for a number", "input_tokens"), ("unknown field", "colour"), ("missing file", "missing.yaml"),
     ("missing catalogue", "nope.yaml"), ("sparse catalogue", "ridge"), ("GB/s catalogue", "GB/s"),
     ("unknown catalogue accelerator", "h1000")],
)
def test_bad_input_error_names_what_is_wrong(case: str, needle: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = run_main(capsys, *_bad_inputs(tmp_path)[case])
    assert needle in err


def test_unknown_model_error_names_the_closest_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(capsys, "plan", str(write_spec(tmp_path, model="llama-3.1-70c")))
    assert code == 2
    assert "llama-3.1-70b" in err


@pytest.mark.parametrize("argv", [["frobnicate"], [], ["plan", "--bogus"], ["plan", "a.yaml", "b.yaml"],
                                  ["catalogue", "gpus"]])
def test_usage_errors_exit_2_without_a_traceback(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, *argv)
    assert code == 2
    assert "Traceback" not in out + err
    error_lines = [line for line in err.splitlines() if line.startswith("whichwall: error:")]
    assert len(error_lines) == 1
    assert err.strip().splitlines()[-1] == error_lines[0]


# ---------------------------------------------------------------------------------------- as a real process


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CATALOGUE_ENV}
    env.update({"COLUMNS": "80", "PYTHONPATH": str(ROOT), **(env_extra or {})})
    return subprocess.run([sys.executable, "-m", "whichwall", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_python_m_whichwall_plan() -> None:
    proc = _run("plan")
    assert proc.returncode == 0, proc.stderr
    for section in SECTIONS:
        assert section in proc.stdout
    assert "binding wall" in proc.stdout
    assert proc.stderr == ""


def test_python_m_whichwall_bad_input(tmp_path: Path) -> None:
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text(yaml.safe_dump({**SPEC, "model": "llama-9-9000b"}))
    for args in (["plan", str(unknown)], ["plan", str(tmp_path / "missing.yaml")], ["frobnicate"]):
        proc = _run(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "Traceback" not in proc.stdout + proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith("whichwall: error:")


def test_python_m_whichwall_catalogue_from_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({
        "_name_or_path": "acme/tiny-llama", "hidden_size": 2048, "intermediate_size": 5632, "num_attention_heads": 32,
        "num_hidden_layers": 22, "num_key_value_heads": 4, "vocab_size": 32000, "model_type": "llama"}))
    proc = _run("catalogue", "models", "tiny-llama", "--json", env_extra={CATALOGUE_ENV: str(config)})
    assert proc.returncode == 0, proc.stderr
    data = strict_json(proc.stdout)
    assert isinstance(data, dict)
    assert data["id"] == "tiny-llama"
    assert data["attention"]["head_dim"] == 2048 // 32


def test_catalogue_shows_an_entry_by_id_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """`whichwall catalogue h100` shows the accelerator, `... llama-3.1-8b` the model, without naming the kind."""
    assert main(["catalogue", "H100", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "h100-sxm"
    assert main(["catalogue", "meta-llama/Llama-3.1-8B", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "llama-3.1-8b"
    assert main(["catalogue", "h1000"]) == 2
    err = capsys.readouterr().err
    assert "h100-sxm" in err and err.count("\n") == 1
