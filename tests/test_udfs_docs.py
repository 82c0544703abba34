"""docs/functions.md is generated from the code and kept current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import udfs
from udfs import docs

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "functions.md"


def test_committed_function_reference_is_current():
    assert DOC.read_text(encoding="utf-8") == docs.render(), (
        "docs/functions.md is stale: run `python -m udfs.docs > docs/functions.md`")


def test_generator_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "udfs.docs"], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout == docs.render()


def test_reference_lists_every_function_with_its_signature_and_arguments():
    text = docs.render()
    for name in udfs.__all__:
        f = getattr(udfs, name)
        assert f"### {name}\n" in text
        assert f"`{docs.signature(f)}`" in text
    assert ('`DECODE_FLOOR_MS(model, gpu, [dtype="bf16"], [batch=1], [context_tokens=0], [tp=1], [kv_dtype="bf16"])`'
            in text)
    assert ("`BINDING_WALL(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, "
            '[budget_usd_month], [dtype="bf16"], [tp], [kv_dtype="bf16"], [pp], [engine])`') in text
    assert "| `batch` | Sequences decoded together" in text
    assert "memory_bandwidth_tbs" in text and "usd_month" in text  # the field and key lists
