"""User catalogue files, hostile or broken, through every door: ``get_catalogue(extra)``, ``--catalogue FILE``,
``WHICHWALL_CATALOGUE=FILE`` (CLI and Excel functions). Each is a ``PlannerError`` naming the file and what is wrong
and what would be right; the CLI exits 2 with one line; nothing is written; YAML never constructs objects; size and
nesting are bounded.

tests/test_catalogue.py covers the data-entry checks of a well-formed entry (GB/s for TB/s, MiB for GB, sparse peaks
against a family, parameter counts) and a few malformed files; these cases are about the file itself."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from _bad_input import ACCELERATOR, MODEL, assert_refused, run_cli, snapshot, write_spec, write_yaml

import udfs
from planner.catalogue import CATALOGUE_ENV, MAX_CATALOGUE_BYTES, get_catalogue, load_catalogue_file
from planner.errors import PlannerError


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)


def _text(name: str, text: str | bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return path
    return make


def _yaml(data: object, name: str = "cat.yaml") -> Callable[[Path], Path]:
    return lambda folder: write_yaml(folder / name, data)


def _acc(**changes: object) -> dict[str, object]:
    return {"accelerators": [{**ACCELERATOR, **changes}]}


def _model(**changes: object) -> dict[str, object]:
    return {"models": [{**MODEL, **changes}]}


ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))

CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    # name: (make the file in a folder, needles of the error: what is wrong, what would be right)
    "malformed yaml": (_text("cat.yaml", "accelerators: [\n  - id: x\n"), ("not valid YAML", "line")),
    "empty yaml": (_text("cat.yaml", ""), ("expected a mapping", "accelerators")),
    "empty json": (_text("cat.json", ""), ("not valid JSON",)),
    "a list, not a mapping": (_yaml([ACCELERATOR]), ("expected a mapping", "'accelerators'")),
    "unknown top-level key": (_yaml({"gpus": [ACCELERATOR]}), ("unknown top-level keys ['gpus']", "accelerators")),
    "unknown field in an entry": (_yaml(_acc(colour="red")), ("accelerators[0] ('my-gpu')", "colour", "Extra inputs")),
    "missing field in an entry": (_yaml({"models": [{"id": "m", "name": "m", "source": "x"}]}),
                                  ("models[0] ('m')", "layers: required")),
    "entries not a list": (_yaml({"models": {"my-model": MODEL}}), ("models must be a list", "- id:")),
    "an empty entry": (_yaml({"accelerators": [None]}), ("accelerators[0]", "valid dictionary")),
    "families not a mapping": (_yaml({"families": ["hopper"]}), ("families must be a mapping",)),
    "efficiency not a mapping": (_yaml({"efficiency": "fast"}), ("efficiency:", "valid dictionary")),
    "efficiency fraction above 1": (_yaml({"efficiency": {"default": {"bandwidth_fraction": 1.5}}}),
                                    ("efficiency.default.bandwidth_fraction", "less than or equal to 1")),
    "sparse peak (fp8 over twice bf16)": (_yaml(_acc(dense_peak_tflops={"bf16": 989.4, "fp8": 3957.8})),
                                          ("2:4-sparse", "dense figure")),
    "huge peak": (_yaml(_acc(dense_peak_tflops={"bf16": 1e308})), ("dense_peak_tflops.bf16", "less than or equal")),
    "infinite peak": (_text("cat.yaml", "accelerators:\n- {id: g, name: g, memory_gb: 80, memory_bandwidth_tbs: 3, "
                                        "dense_peak_tflops: {bf16: .inf}, source: tst}\n"),
                      ("dense_peak_tflops.bf16", "finite")),
    "tiny link": (_yaml(_acc(scaleup={"name": "l", "gbs_per_direction": 1e-308})),
                  ("scaleup.gbs_per_direction", "greater than or equal")),
    "a control character in an id": (_yaml(_acc(id="my\x01gpu")),
                                     ("accelerators[0]", "id: must be one line of printable text", "'\\x01'")),
    "a newline in a model name": (_yaml(_model(name="two\nlines")),
                                  ("models[0] ('my-model')", "name: must be one line")),
    "huge layer count": (_yaml(_model(layers=10**300)), ("models[0] ('my-model')", "layers", "less than or equal")),
    "a 5000-digit number (yaml)": (_text("cat.yaml", "models:\n- layers: " + "9" * 5000 + "\n"),
                                   ("thousands of digits", "numbers plainly")),
    "a 5000-digit number (json)": (_text("cat.json", '{"models": [{"layers": ' + "9" * 5000 + "}]}"),
                                   ("not valid JSON", "thousands of digits")),
    "huge overhead": (_yaml({"efficiency": {"default": {"layer_overhead_us": 1e308}}}),
                      ("layer_overhead_us", "less than or equal")),
    "yaml alias bomb": (_text("cat.yaml", ALIAS_BOMB), ("aliases", "not allowed")),
    "python object tag": (_text("cat.yaml", "accelerators: !!python/object/apply:os.system ['echo pwned']\n"),
                          ("python/object/apply:os.system", "constructor")),
    "python name tag": (_text("cat.yaml", "models: !!python/name:os.system\n"), ("python/name",)),
    "binary junk": (_text("cat.yaml", bytes(range(256)) * 16), ("not UTF-8 text", "YAML or JSON")),
    "a NUL byte": (_text("cat.yaml", b"accelerators: []\x00\n"), ("not valid YAML", "#x0000")),
    "nested 100,000 deep (json)": (_text("cat.json", "[" * 100_000 + "]" * 100_000), ("nested too deeply",)),
    "nested 100,000 deep (yaml)": (_text("cat.yaml", "[" * 100_000 + "]" * 100_000), ("nested too deeply",)),
    "config.json with an infinite size": (
        _text("config.json", '{"num_hidden_layers": Infinity, "hidden_size": 4096, "num_attention_heads": 32, '
                             '"vocab_size": 32000, "intermediate_size": 11008}'),
        ("config.json", "wrong type", "whole numbers")),
    "config.json missing a field": (_text("my-config.json", '{"num_hidden_layers": 2}'),
                                    ("my-config.json", "missing 'num_attention_heads'")),
    "a folder": (lambda folder: (folder / "cats").mkdir() or folder / "cats", ("is a folder", "YAML or JSON")),
    "a missing file": (lambda folder: folder / "nope.yaml", ("nope.yaml", "No such file")),
}


@pytest.mark.parametrize("name", CASES)
def test_loading_is_a_planner_error(name: str, tmp_path: Path) -> None:
    make, needles = CASES[name]
    path = make(tmp_path)
    with pytest.raises(PlannerError) as exc:
        get_catalogue([path])
    message = str(exc.value)
    assert "\n" not in message and len(message) < 1000, message
    assert exc.value.__cause__ is None and (exc.value.__context__ is None or exc.value.__suppress_context__)
    for needle in needles:
        assert needle.lower() in message.lower(), (needle, message)


@pytest.mark.parametrize("door", ["--catalogue", CATALOGUE_ENV])
@pytest.mark.parametrize("name", CASES)
def test_cli_refuses_it_in_one_line_and_writes_nothing(name: str, door: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    make, needles = CASES[name]
    path = make(tmp_path)
    spec = write_spec(tmp_path)
    out = tmp_path / "plan.xlsx"
    argv = ["plan", spec, "-o", out]
    if door == "--catalogue":
        argv += ["--catalogue", path]
    else:
        monkeypatch.setenv(CATALOGUE_ENV, str(path))
    before = snapshot(tmp_path)
    code, stdout, err = run_cli(capsys, *argv)
    assert_refused(code, stdout, err, *needles)
    assert snapshot(tmp_path) == before
    assert not out.exists()


@pytest.mark.parametrize("name", ["malformed yaml", "python object tag", "binary junk", "a folder", "huge peak"])
def test_excel_functions_refuse_it_with_the_same_message(name: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    make, _ = CASES[name]
    path = make(tmp_path)
    with pytest.raises(PlannerError) as direct:
        load_catalogue_file(path)
    monkeypatch.setenv(CATALOGUE_ENV, str(path))
    for call in (udfs.GPU_IDS, lambda: udfs.DECODE_FLOOR_MS("llama-3.1-8b", "h100"), lambda: udfs.MODEL_INFO(
            "llama-3.1-8b", "layers")):
        with pytest.raises(PlannerError) as excel:
            call()
        assert str(excel.value) == str(direct.value)


def test_python_tags_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "cat.yaml"
    path.write_text(f"accelerators: !!python/object/apply:os.system ['touch {marker}']\n"
                    f"models: !!python/object/new:pathlib.Path ['{marker}']\n")
    with pytest.raises(PlannerError, match="constructor"):
        load_catalogue_file(path)
    assert not marker.exists()


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.yaml"
    with path.open("wb") as fh:  # sparse: MAX_CATALOGUE_BYTES + 1 bytes without writing them
        fh.truncate(MAX_CATALOGUE_BYTES + 1)

    def no_reading(*args: object, **kwargs: object) -> str:
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_text", no_reading)
    started = time.perf_counter()
    with pytest.raises(PlannerError, match=f"at most {MAX_CATALOGUE_BYTES:,} bytes"):
        load_catalogue_file(path)
    assert time.perf_counter() - started < 1.0


def test_an_alias_bomb_is_refused_quickly(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(ALIAS_BOMB)
    started = time.perf_counter()
    with pytest.raises(PlannerError, match="aliases"):
        load_catalogue_file(path)
    assert time.perf_counter() - started < 1.0


def test_a_file_the_user_cannot_read(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    path = write_yaml(tmp_path / "secret.yaml", _acc())
    path.chmod(0)
    with pytest.raises(PlannerError, match=r"cannot read catalogue file.*Permission denied"):
        load_catalogue_file(path)


def test_json_duplicate_and_yaml_duplicate_keys(tmp_path: Path) -> None:
    dup = tmp_path / "dup.yaml"
    dup.write_text(f"accelerators: []\naccelerators: {json.dumps([ACCELERATOR])}\n")
    with pytest.raises(PlannerError, match="duplicate key 'accelerators'"):
        load_catalogue_file(dup)
