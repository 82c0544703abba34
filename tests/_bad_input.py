"""Shared helpers of the bad-input suite (tests/test_bad_input_*.py): run the CLI in-process, check that a refusal
is one clean line, and prove that no file was written or modified."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from whichwall.cli import main

SPEC: dict[str, Any] = {
    "name": "bad-input-suite",
    "model": "llama-3.1-8b",
    "accelerator": "h100",
    "dtype": "bf16",
    "tp": 1,
    "qps": 5,
    "input_tokens": 512,
    "output_tokens": 128,
    "ttft_slo_ms": 1000,
    "tpot_slo_ms": 50,
}
"""A small valid spec: every bad case changes one thing about it."""

ACCELERATOR: dict[str, Any] = {
    "id": "my-gpu", "name": "My GPU", "memory_gb": 80, "memory_bandwidth_tbs": 3.35,
    "dense_peak_tflops": {"bf16": 989.4, "fp8": 1978.9}, "source": "a test datasheet",
}
MODEL: dict[str, Any] = {
    "id": "my-model", "name": "My Model 8B", "layers": 32, "hidden_size": 4096, "vocab_size": 128256,
    "attention": {"kind": "gqa", "heads": 32, "kv_heads": 8, "head_dim": 128}, "intermediate_size": 14336,
    "source": "a test config.json",
}
"""A valid user accelerator and model (Llama-3.1-8B's architecture)."""

MEASURED_HEADER = "model,accelerator,engine,dtype,tp,isl,osl,concurrency,ttft_ms,tpot_ms\n"
MEASURED_ROWS = ("llama-3.1-8b,h100,vllm,bf16,1,1024,128,8,60,9\n"
                 "llama-3.1-8b,h100,vllm,bf16,1,1024,128,32,120,12\n"
                 "qwen2.5-7b,h100,vllm,bf16,1,1024,128,8,55,8\n"
                 "qwen2.5-7b,h100,vllm,bf16,1,1024,128,32,110,11\n")
"""A small, valid measurement table of two architectures (so leave-one-out validation can run)."""


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: object) -> bool:  # whichwall refuses YAML aliases: never write them
        return True


def write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.dump(data, Dumper=_NoAliases, sort_keys=False), encoding="utf-8")
    return path


def write_spec(folder: Path, filename: str = "spec.yaml", **changes: Any) -> Path:
    return write_yaml(folder / filename, {**SPEC, **changes})


@lru_cache(maxsize=1)
def plan_bytes() -> bytes:
    """A real exported plan workbook (the suite's spec), built once."""
    from planner.spec import spec_from_data
    from workbook.build import workbook_bytes

    return workbook_bytes(spec_from_data(SPEC))


def rezip(data: bytes, change: Callable[[str, bytes], bytes | None] = lambda name, body: body,
          extra: Iterable[tuple[str, bytes]] = ()) -> bytes:
    """A copy of the zip ``data`` with each member passed through ``change`` (None drops it), plus ``extra``."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = change(item.filename, src.read(item.filename))
            if body is not None:
                dst.writestr(item.filename, body)
        for name, body in extra:
            dst.writestr(name, body)
    return buf.getvalue()


BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    + "]>"
)
"""The 'billion laughs' DTD: nine levels of ten-fold entity expansion, ~3 GB if expanded."""


def with_dtd(xml: bytes, dtd: str = BILLION_LAUGHS, entity: str = "&lol9;") -> bytes:
    """``xml`` with ``dtd`` after its XML declaration and ``entity`` inside its root element."""
    text = xml.decode("utf-8")
    decl_end = text.index("?>") + 2 if text.startswith("<?xml") else 0
    root_end = text.index(">", text.index("<", decl_end)) + 1
    if text[root_end - 2] == "/":  # an empty root element
        return xml
    return (text[:decl_end] + dtd + text[decl_end:root_end] + entity + text[root_end:]).encode("utf-8")


# ---------------------------------------------------------------------------------------------- no file touched


def snapshot(*folders: Path) -> dict[str, tuple[int, int, str]]:
    """Every file (hidden ones too) under ``folders``: path → (mtime_ns, size, sha256)."""
    out = {}
    for folder in folders:
        for root, _, files in os.walk(folder):
            for name in files:
                p = Path(root) / name
                st = p.stat()
                out[str(p)] = (st.st_mtime_ns, st.st_size, hashlib.sha256(p.read_bytes()).hexdigest())
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------------------- the CLI


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``whichwall *argv`` in-process: (exit status, stdout, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def assert_refused(code: int, out: str, err: str, *needles: str) -> None:
    """A clean refusal: exit 2, nothing on stdout, ONE line ``whichwall: error: ...`` on stderr naming ``needles``
    (what is wrong and what would be right), no traceback, not an internal error."""
    assert code == 2, (code, out, err)
    assert "Traceback" not in out + err, err
    assert out == "", out
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("whichwall: error: "), err
    assert "internal error" not in err, err
    for needle in needles:
        assert needle.lower() in err.lower(), (needle, err)
