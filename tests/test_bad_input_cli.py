"""Every CLI subcommand and flag with bad input: exit status 2, ONE line ``whichwall: error: ...`` on stderr that names
what is wrong and what would be right, nothing on stdout, no traceback, and no file written or modified (every file
under the test folder has the same bytes and mtime after the call, and none appeared).

Cases already in tests/test_cli.py (unknown ids, negative/NaN qps, text for numbers, unknown fields, malformed or
empty YAML, a missing spec, the GB/s and sparse-peak catalogues) are not repeated. `search` and `sweep` are covered
when the CLI has them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _bad_input import (
    MEASURED_HEADER,
    MEASURED_ROWS,
    SPEC,
    assert_refused,
    plan_bytes,
    rezip,
    run_cli,
    snapshot,
    with_dtd,
    write_spec,
    write_yaml,
)

from planner.catalogue import CATALOGUE_ENV
from whichwall.cli import build_parser


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)
    monkeypatch.setenv("COLUMNS", "100")


def subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


HAS_SEARCH = {"search", "sweep"} <= subcommands()
needs_search = pytest.mark.skipif(not HAS_SEARCH, reason="this CLI has no `whichwall search` / `sweep`")

Case = Callable[[Path], tuple[list[str], tuple[str, ...]]]
"""A case: given the test folder, (argv, needles the error line must contain)."""


def _existing(tmp: Path, name: str, text: str = "keep me\n") -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _folder(tmp: Path, name: str) -> Path:
    path = tmp / name
    path.mkdir()
    return path


def _specs(tmp: Path, *files: str | tuple[str, dict[str, object]]) -> Path:
    """A folder of specs: each a file name (the good spec) or (file name, changes)."""
    folder = _folder(tmp, "specs")
    for f in files:
        name, changes = (f, {}) if isinstance(f, str) else f
        write_spec(folder, name, **changes)
    return folder


def _spec_text(tmp: Path, text: str, name: str = "spec.yaml") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _good(tmp: Path) -> Path:
    return write_spec(tmp, "good.yaml")


def _csv(tmp: Path, text: str, name: str = "measured.csv") -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _plan(tmp: Path, data: bytes, name: str = "plan.xlsx") -> Path:
    path = tmp / name
    path.write_bytes(data)
    return path


SPEC_YAML = "".join(f"{k}: {v}\n" for k, v in SPEC.items())

CASES: dict[str, Case] = {
    # ---- plan: spec files
    "plan: impossible date in a spec":
        lambda t: (["plan", _spec_text(t, SPEC_YAML.replace("qps: 5", "qps: 2026-02-30"))],
                   ("spec.yaml", "day is out of range", "quote")),
    "plan: a number of 5000 digits":
        lambda t: (["plan", _spec_text(t, SPEC_YAML.replace("qps: 5", "qps: " + "9" * 5000))],
                   ("spec.yaml", "thousands of digits")),
    "plan: control character in notes":
        lambda t: (["plan", _spec_text(t, SPEC_YAML + 'notes: "bell \\a here"\n')],
                   ("notes", "control character", "printable text")),
    "plan: python object tag":
        lambda t: (["plan", _spec_text(t, SPEC_YAML.replace("qps: 5", "qps: !!python/object/apply:os.getpid []"))],
                   ("spec.yaml", "python/object")),
    "plan: yaml alias bomb":
        lambda t: (["plan", _spec_text(t, "a: &a [x, x]\nb: &b [*a, *a]\n" + SPEC_YAML)], ("aliases",)),
    "plan: binary junk spec":
        lambda t: (["plan", _plan(t, b"\x89PNG\r\n\x1a\n\x00\xff\xfe" * 50, "spec.yaml")], ("not UTF-8", "YAML")),
    "plan: spec over a megabyte":
        lambda t: (["plan", _spec_text(t, SPEC_YAML + "notes: '" + "x" * 1_100_000 + "'\n")],
                   ("spec.yaml", "at most 1,000,000 bytes")),
    "plan: spec that is a list":
        lambda t: (["plan", _spec_text(t, "- model: llama-3.1-8b\n")], ("must be a mapping",)),
    "plan: tp out of range": lambda t: (["plan", write_spec(t, tp=65)], ("tp", "64")),
    "plan: tp not in the scale-up domain": lambda t: (["plan", write_spec(t, tp=16)], ("tp=16", "scale-up domain")),
    "plan: context over the model's window":
        lambda t: (["plan", write_spec(t, input_tokens=200_000)], ("context window", "shorten")),
    "plan: infinite SLO":
        lambda t: (["plan", _spec_text(t, SPEC_YAML.replace("tpot_slo_ms: 50", "tpot_slo_ms: .inf"))],
                   ("tpot_slo_ms", "finite")),
    "plan: budget without a price":
        lambda t: (["plan", write_spec(t, accelerator="gaudi3", budget_usd_month=1000)],
                   ("budget", "usd_per_gpu_hour")),
    "plan: unknown candidate accelerator":
        lambda t: (["plan", write_spec(t, accelerators=["h100", "h1000"])], ("h1000", "closest")),
    "plan: a workbook that is not a zip":
        lambda t: (["plan", _plan(t, b"model,gpu\nllama,h100\n")], ("not a zip archive", "whichwall plan -o")),
    # ---- plan -o: the output
    "plan -o: output exists": lambda t: (["plan", _good(t), "-o", _existing(t, "out.xlsx")], ("exists", "--force")),
    "plan -o: not .xlsx": lambda t: (["plan", _good(t), "-o", t / "out.csv"], ("must end in .xlsx",)),
    "plan -o: missing folder": lambda t: (["plan", _good(t), "-o", t / "no" / "out.xlsx"], ("does not exist",)),
    "plan -o: a folder": lambda t: (["plan", _good(t), "-o", _folder(t, "dir.xlsx")], ("is a folder", "file name")),
    "plan -o: bad spec writes nothing":
        lambda t: (["plan", write_spec(t, model="llama-9"), "-o", t / "out.xlsx"], ("unknown model", "closest")),
    "plan -o --force: bad spec leaves the old file":
        lambda t: (["plan", write_spec(t, qps=-1), "-o", _existing(t, "out.xlsx"), "--force"], ("qps", "greater")),
    "plan -o: text a workbook cell cannot hold (user catalogue)":
        lambda t: (["plan", _good(t), "-o", t / "out.xlsx", "--catalogue", write_yaml(t / "cat.yaml", {
            "models": [{"id": "m2", "name": "M\x07", "layers": 32, "hidden_size": 4096, "vocab_size": 128256,
                        "attention": {"kind": "gqa", "heads": 32, "kv_heads": 8, "head_dim": 128},
                        "intermediate_size": 14336, "source": "test"}]})],
                   ("control character", "one line of printable text")),
    # ---- read
    "read: not .xlsx": lambda t: (["read", _good(t)], ("not a plan workbook (.xlsx)", "whichwall plan")),
    "read: missing": lambda t: (["read", t / "nope.xlsx"], ("does not exist",)),
    "read: a folder": lambda t: (["read", _folder(t, "d.xlsx")], ("folder", ".xlsx")),
    "read: empty file": lambda t: (["read", _plan(t, b"")], ("is empty", "plan workbook")),
    "read: a zip that is not a workbook":
        lambda t: (["read", _plan(t, rezip(plan_bytes(), lambda n, b: None if n == "xl/workbook.xml" else b))],
                   ("not an .xlsx workbook", "xl/workbook.xml")),
    "read: a workbook that is not a plan":
        lambda t: (["read", _plan(t, rezip(plan_bytes(), lambda n, b: b.replace(b"whichwall plan workbook",
                                                                              b"my budget spreadsheet")))],
                   ("not a whichwall plan workbook", "whichwall plan SPEC -o")),
    "read: entity expansion (billion laughs)":
        lambda t: (["read", _plan(t, rezip(plan_bytes(), lambda n, b: with_dtd(b) if n == "xl/workbook.xml"
                                           else b))], ("document type (DTD)", "refusing")),
    "read --json: zip bomb":
        lambda t: (["read", "--json", _plan(t, rezip(plan_bytes(), extra=[("xl/media/bomb.bin",
                                                                           b"\0" * 30_000_000)]))],
                   ("unpacks to", "limit")),
    "read --spec: a damaged workbook part":
        lambda t: (["read", "--spec", _plan(t, rezip(plan_bytes(), lambda n, b: b[: len(b) // 2]
                                                     if n.endswith("sheet1.xml") else b))],
                   ("not a readable .xlsx workbook", "whichwall plan -o")),
    # ---- export
    "export: missing spec folder": lambda t: (["export", t / "nope", t / "out"], ("does not exist",)),
    "export: spec folder is a file": lambda t: (["export", _good(t), t / "out"], ("not a folder", "*.yaml")),
    "export: no specs": lambda t: (["export", _folder(t, "empty"), t / "out"], ("no specs", "*.yaml")),
    "export: one bad spec among good ones writes nothing":
        lambda t: (["export", _specs(t, "a.yaml", ("b.yaml", {"qps": "lots"})), t / "out"],
                   ("1 of 2 specs are bad", "nothing written", "b.yaml")),
    "export: two specs, one workbook name":
        lambda t: (["export", _specs(t, "a.yaml", "a.yml"), t / "out"], ("would both write a.xlsx", "rename")),
    "export: output folder is a file":
        lambda t: (["export", _specs(t, "a.yaml"), _existing(t, "out")], ("not a folder",)),
    "export: outputs exist":
        lambda t: (["export", _specs(t, "a.yaml"), _existing(_folder(t, "out"), "a.xlsx").parent],
                   ("already exist", "--force", "nothing written")),
    # ---- catalogue
    "catalogue: unknown model id": lambda t: (["catalogue", "models", "llama-3.1-70c"], ("llama-3.1-70b",)),
    "catalogue --json: unknown accelerator": lambda t: (["catalogue", "accelerators", "h1OO", "--json"],
                                                        ("unknown accelerator", "h100")),
    # ---- validate / calibrate
    "validate: missing file": lambda t: (["validate", t / "nope.csv"], ("does not exist",)),
    "validate: a folder": lambda t: (["validate", t], ("is a folder", "CSV file")),
    "validate: binary junk":
        lambda t: (["validate", _plan(t, bytes(range(256)) * 20, "m.csv")], ("not UTF-8 text", "CSV file")),
    "validate: a field over the csv limit":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + "x" * 200_000 + ",h100,vllm,bf16,1,1,1,1,1,1\n")],
                   ("field larger than field limit", "comma-separated")),
    "validate: unknown engine":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + MEASURED_ROWS.replace("vllm", "tgi"))],
                   ("measured.csv:2", "unknown engine 'tgi'", "trtllm")),
    "validate: unknown dtype":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + MEASURED_ROWS.replace("bf16", "fp7", 1))],
                   ("measured.csv:2", "unknown dtype 'fp7'", "bf16")),
    "validate: half a GPU":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + MEASURED_ROWS.replace(",1,1024", ",0.5,1024", 1))],
                   ("measured.csv:2", "tp", "whole number")),
    "validate: a fraction of a token":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + MEASURED_ROWS.replace(",1024,", ",0.001,", 1))],
                   ("measured.csv:2", "isl", "at least 1")),
    "validate --cross-validate --json: one architecture cannot be left out":
        lambda t: (["validate", "--cross-validate", "--json",
                    _csv(t, MEASURED_HEADER + MEASURED_ROWS.split("qwen")[0])],
                   ("at least two model architectures", "drop --cross-validate")),
    "validate: no usable rows":
        lambda t: (["validate", _csv(t, MEASURED_HEADER + MEASURED_ROWS.replace("h100", "tpu-v9"))],
                   ("no row whichwall can model", "tpu-v9")),
    "calibrate: missing columns": lambda t: (["calibrate", _csv(t, "a,b\n1,2\n")], ("missing columns", "isl")),
    "calibrate -o: output exists":
        lambda t: (["calibrate", _csv(t, MEASURED_HEADER + MEASURED_ROWS), "-o", _existing(t, "fit.yaml")],
                   ("exists", "--force")),
    "calibrate -o --force: a folder":
        lambda t: (["calibrate", _csv(t, MEASURED_HEADER + MEASURED_ROWS), "-o", _folder(t, "fit"), "--force"],
                   ("is a folder", "file name")),
    "calibrate -o: missing folder":
        lambda t: (["calibrate", _csv(t, MEASURED_HEADER + MEASURED_ROWS), "-o", t / "no" / "fit.yaml"],
                   ("does not exist",)),
    # ---- usage errors, one per subcommand
    "usage: plan with two specs": lambda t: (["plan", "a.yaml", "b.yaml"], ("unrecognized arguments", "--help")),
    "usage: read without a workbook": lambda t: (["read"], ("required", "--help")),
    "usage: export with one folder": lambda t: (["export", t], ("required", "--help")),
    "unknown catalogue id": lambda t: (["catalogue", "gpus"], ("unknown accelerator or model", "closest")),
    "usage: validate --bogus": lambda t: (["validate", "m.csv", "--bogus"], ("--bogus", "--help")),
    "usage: calibrate -o without a file": lambda t: (["calibrate", "m.csv", "-o"], ("expected one argument",)),
    "usage: --catalogue without a file": lambda t: (["plan", "--catalogue"], ("expected one argument",)),
}

SEARCH_CASES: dict[str, Case] = {
    "search: bad spec": lambda t: (["search", write_spec(t, qps=0)],
                                   ("qps", "greater than or equal to 0.000001", "got 0")),
    "search: --top 0": lambda t: (["search", _good(t), "--top", "0"], ("--top", "at least 1")),
    "search: --top text": lambda t: (["search", _good(t), "--top", "ten"], ("--top", "invalid int")),
    "search: unknown accelerator": lambda t: (["search", _good(t), "--accelerators", "h1000"], ("h1000",)),
    "search: unknown dtype": lambda t: (["search", _good(t), "--dtypes", "fp7"], ("fp7", "fp8")),
    "search -o: exists": lambda t: (["search", _good(t), "-o", _existing(t, "s.xlsx")], ("exists", "--force")),
    "search -o: wrong type": lambda t: (["search", _good(t), "-o", t / "s.txt"], (".xlsx",)),
    "sweep: axis without values": lambda t: (["sweep", _good(t), "--axis", "qps"], ("NAME=V1,V2",)),
    "sweep: unknown axis": lambda t: (["sweep", _good(t), "--axis", "colour=1,2"], ("colour", "qps")),
    "sweep: text for a number": lambda t: (["sweep", _good(t), "--axis", "qps=a,b"], ("qps", "valid number")),
    "sweep -o: exists": lambda t: (["sweep", _good(t), "--axis", "qps=1,2", "-o", _existing(t, "t.csv")],
                                   ("exists", "--force")),
    "sweep -o: missing folder": lambda t: (["sweep", _good(t), "--axis", "qps=1,2", "-o", t / "no" / "t.csv"],
                                           ("does not exist",)),
}


def _check(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv, needles = case(tmp_path)
    before = snapshot(tmp_path)
    code, out, err = run_cli(capsys, *[str(a) for a in argv])
    assert_refused(code, out, err, *needles)
    assert snapshot(tmp_path) == before, "a refused command wrote, changed or left a file"


@pytest.mark.parametrize("name", CASES)
def test_bad_input_is_one_clear_line_and_writes_nothing(name: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    _check(CASES[name], tmp_path, capsys)


@needs_search
@pytest.mark.parametrize("name", SEARCH_CASES)
def test_search_and_sweep_bad_input(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _check(SEARCH_CASES[name], tmp_path, capsys)


def test_every_subcommand_has_bad_input_cases() -> None:
    covered = {name.split(":")[0].split()[0] for name in [*CASES, *SEARCH_CASES] if not name.startswith("usage")}
    covered |= {name.split()[1] for name in CASES if name.startswith("usage:")}
    assert subcommands() <= covered, subcommands() - covered


def test_an_error_message_with_a_newline_is_still_one_line(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    odd = tmp_path / "two\nlines.yaml"  # a file name is echoed in the message as it is
    code, out, err = run_cli(capsys, "plan", odd)
    assert_refused(code, out, err, "does not exist")
