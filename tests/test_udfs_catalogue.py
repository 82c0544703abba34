"""A planner's own catalogue in the Excel functions: named by $WHICHWALL_CATALOGUE or by a WHICHWALL_CATALOGUE line
in xlwings.conf, validated exactly as the CLI validates it, picked up when the file changes."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import udfs
from planner.catalogue import CATALOGUE_ENV, load_catalogue_file
from planner.errors import PlannerError
from udfs import _excel

USER_YAML = """\
accelerators:
- id: my-gpu
  name: My GPU 96GB
  aliases: [MYGPU]
  memory_gb: {memory}
  memory_bandwidth_tbs: 4.0
  dense_peak_tflops: {{bf16: 800.0, fp8: 1600.0}}
  scaleup: {{name: my-link, gbs_per_direction: 400.0, domain: 8}}
  price: {{usd_per_gpu_hour: 2.5}}
  source: test datasheet
models:
- id: my-model
  name: My-Model-8B
  layers: 32
  hidden_size: 4096
  vocab_size: 128256
  attention: {{kind: gqa, heads: 32, kv_heads: 8, head_dim: 128}}
  intermediate_size: 14336
  source: test config.json
"""


def write_catalogue(path: Path, memory: float = 96.0) -> Path:
    path.write_text(USER_YAML.format(memory=memory), encoding="utf-8")
    return path


@pytest.fixture
def user_catalogue(tmp_path, monkeypatch):
    path = write_catalogue(tmp_path / "my-catalogue.yaml")
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    yield path


def test_env_var_catalogue_adds_entries(user_catalogue):
    assert ["my-gpu"] in udfs.GPU_IDS() and ["h100-sxm"] in udfs.GPU_IDS()
    assert ["my-model"] in udfs.MODEL_IDS()
    assert udfs.CATALOGUE_FILES() == [["planner/data (built-in)"], [str(user_catalogue)]]
    assert udfs.GPU_INFO("mygpu", "memory_gb") == 96.0
    assert udfs.GPU_HOUR_PRICE("my-gpu") == 2.5
    weights = udfs.WEIGHT_GB("my-model", "fp8")
    read = weights * 1e9 - (128256 - 1) * 4096  # the embedding table is not read: one row is gathered (fp8)
    assert udfs.DECODE_FLOOR_MS("my-model", "my-gpu", "fp8") == pytest.approx(read / 4.0e12 * 1e3)
    assert isinstance(udfs.BINDING_WALL("my-model", "my-gpu", 5, 512, 128, 1000, 50), str)


def test_leaving_the_user_catalogue_forgets_its_entries(user_catalogue, monkeypatch):
    assert udfs.GPU_INFO("my-gpu", "memory_gb") == 96.0
    monkeypatch.delenv(CATALOGUE_ENV)
    with pytest.raises(PlannerError, match="unknown accelerator 'my-gpu'"):
        udfs.GPU_INFO("my-gpu", "memory_gb")


def test_a_changed_file_is_read_again(user_catalogue):
    assert udfs.GPU_INFO("my-gpu", "memory_gb") == 96.0
    write_catalogue(user_catalogue, memory=128.0)
    stat = user_catalogue.stat()
    os.utime(user_catalogue, (stat.st_atime, stat.st_mtime + 10))
    assert udfs.GPU_INFO("my-gpu", "memory_gb") == 128.0


def test_invalid_user_catalogue_is_the_cli_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text(USER_YAML.format(memory=96.0).replace("memory_bandwidth_tbs: 4.0", "memory_bandwidth_tbs: 4000"))
    with pytest.raises(PlannerError) as cli:
        load_catalogue_file(bad)
    monkeypatch.setenv(CATALOGUE_ENV, str(bad))
    for call in (lambda: udfs.GPU_IDS(), lambda: udfs.DECODE_FLOOR_MS("llama-3.1-70b", "h100")):
        with pytest.raises(PlannerError) as excel:
            call()
        assert str(excel.value) == str(cli.value)
        assert "GB/s" in str(excel.value)


def test_missing_user_catalogue_file(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOGUE_ENV, str(tmp_path / "nope.yaml"))
    with pytest.raises(PlannerError, match="cannot read catalogue file"):
        udfs.WEIGHT_GB("llama-3.1-70b")


def test_xlwings_conf_next_to_the_workbook_names_the_catalogue(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOGUE_ENV, "")  # recorded, so the variable is restored (unset) after the test
    monkeypatch.delenv(CATALOGUE_ENV)
    workbook_dir = tmp_path / "plans"
    workbook_dir.mkdir()
    write_catalogue(workbook_dir / "gpus.yaml")
    (workbook_dir / "xlwings.conf").write_text('"UDF MODULES","udfs"\n"whichwall_catalogue","gpus.yaml"\n')
    got = _excel.use_conf_catalogue(search_dirs=[tmp_path / "elsewhere", workbook_dir], home=tmp_path / "home")
    assert got == str(workbook_dir / "gpus.yaml") == os.environ[CATALOGUE_ENV]
    assert udfs.GPU_INFO("my-gpu", "memory_gb") == 96.0


def test_user_xlwings_conf_is_the_fallback_and_the_env_var_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOGUE_ENV, "")  # recorded, so the variable is restored (unset) after the test
    monkeypatch.delenv(CATALOGUE_ENV)
    home = tmp_path / "home"
    (home / ".xlwings").mkdir(parents=True)
    cat = write_catalogue(tmp_path / "abs.yaml")
    (home / ".xlwings" / "xlwings.conf").write_text(f'"INTERPRETER_WIN",""\n"WHICHWALL_CATALOGUE","{cat}"\n')
    assert _excel.use_conf_catalogue(search_dirs=[], home=home) == str(cat)
    monkeypatch.setenv(CATALOGUE_ENV, "/from/the/environment.yaml")
    assert _excel.use_conf_catalogue(search_dirs=[], home=home) is None
    assert os.environ[CATALOGUE_ENV] == "/from/the/environment.yaml"


def test_empty_or_missing_conf_setting_changes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(CATALOGUE_ENV, "")  # recorded, so the variable is restored (unset) after the test
    monkeypatch.delenv(CATALOGUE_ENV)
    template = Path(__file__).resolve().parents[1] / "templates"
    assert _excel.use_conf_catalogue(search_dirs=[template, tmp_path], home=tmp_path) is None
    assert CATALOGUE_ENV not in os.environ


def test_conf_reader():
    conf = Path(__file__).resolve().parents[1] / "templates" / "xlwings.conf"
    assert _excel.read_conf_value(conf, "UDF MODULES") == "udfs"
    assert _excel.read_conf_value(conf, "udf modules") == "udfs"
    assert _excel.read_conf_value(conf, CATALOGUE_ENV) == ""
    assert _excel.read_conf_value(conf.parent / "missing.conf", "UDF MODULES") is None


def test_user_catalogue_yaml_in_the_readme_is_valid(tmp_path):
    readme = (Path(__file__).resolve().parents[1] / "templates" / "README.md").read_text(encoding="utf-8")
    block = readme.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme.yaml"
    path.write_text(textwrap.dedent(block), encoding="utf-8")
    assert "my-gpu" in load_catalogue_file(path).accelerators
