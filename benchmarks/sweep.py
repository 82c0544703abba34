"""How fast whichwall scores configurations, against peer planners measured in the same run (a benchmark, not a
test): ``python benchmarks/sweep.py [--json]``.

- ``configs_per_s``: configurations fully evaluated per second, one process: ``planner.search.evaluate_grid`` over
  the default spec (Llama-3.1-70B, 1024 → 256 tokens, TTFT ≤ 1 s, TPOT ≤ 50 ms) × every priced accelerator × weight
  dtypes × KV dtypes × tp × pp × batches 1..1024. Each configuration gets memory fit, TPOT/TTFT against the SLOs,
  tokens/s per GPU and per user, replicas for the traffic, $/month, $/million tokens and its binding wall (the
  SLO batch each (accelerator, dtype, tp, pp) needs for the wall rule is bisected in the same timed call).
- ``search_s``: the whole-catalogue search of the default spec (aggregated and disaggregated plans, the Pareto
  front), best of 5 warm runs; ``search_cold_s`` the first run in this process.
- ``<peer>_configs_per_s`` (when installed: ``pip install -e '.[bench]'``): the peer's own per-configuration
  estimate, timed over 4,096 distinct configurations, each once (a peer may cache a repeated call), with its set-up
  (model and database loading) left out: a 65-70B dense model on H100 SXM, 1024 input and 256 output tokens (the
  default spec's), tp 1, 2, 4, 8 × batch 1-1024.
  ``llm_analysis``: ``LLMAnalysis(...).inference()`` per (tp, batch) (its largest built-in LLaMA, 65B, w8a8).
  ``aiconfigurator``: ``backend.run_static(..., "static")`` per (tp, batch) for Meta-Llama-3.1-70B, fp8 GEMMs and
  KV cache, TensorRT-LLM silicon data. A peer that is missing or fails reports ``<peer>_error`` instead.
Targets (issue 5): at least 2 million configurations/s, at least 1,000x every peer, search under 1 s.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import search
from planner.spec import default_spec

BATCHES = np.arange(1, 1025)
ROUNDS = 5
PEER_TPS = (1, 2, 4, 8)
PEER_BATCHES = tuple(range(1, 1025))
PEER_LENGTHS = ((1024, 256),)


def best(fn: Callable[[], Any], rounds: int = ROUNDS) -> tuple[float, Any]:
    """Best wall time of ``rounds`` runs of ``fn`` (the least disturbed by other load) and its last result."""
    times, out = [], None
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def whichwall() -> dict[str, Any]:
    spec = default_spec()
    t0 = time.perf_counter()
    search.search(spec)
    cold = time.perf_counter() - t0
    search_s, result = best(lambda: search.search(spec))
    search.evaluate_grid(spec, BATCHES)  # warm
    grid_s, (configs, aggregates) = best(lambda: search.evaluate_grid(spec, BATCHES))
    return {"configs_per_s": configs / grid_s, "configs": configs, "grid_s": grid_s, "search_s": search_s,
            "search_cold_s": cold, "search_configs": result.configs_evaluated,
            "winner": result.winner.label if result.winner else None, "meets_slos": aggregates["meets_slos"]}


def _timed_calls(calls: list[Callable[[], Any]]) -> tuple[int, float]:
    """Run each of ``calls`` once: (calls made, elapsed seconds)."""
    t0 = time.perf_counter()
    for call in calls:
        call()
    return len(calls), time.perf_counter() - t0


@contextlib.contextmanager
def _quiet() -> Any:
    """Peers log every call; logging to a terminal would be timed too."""
    logging.disable(logging.CRITICAL)
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        try:
            yield
        finally:
            logging.disable(logging.NOTSET)


def llm_analysis() -> dict[str, Any]:
    from llm_analysis.analysis import LLMAnalysis
    from llm_analysis.config import (
        ParallelismConfig,
        get_dtype_config_by_name,
        get_gpu_config_by_name,
        get_model_config_by_name,
    )

    model = get_model_config_by_name("decapoda-research_llama-65b-hf")
    gpu = get_gpu_config_by_name("h100-sxm-80gb")
    dtype = get_dtype_config_by_name("w8a8e16")

    def call(tp: int, b: int, isl: int, osl: int) -> Callable[[], Any]:
        def run() -> Any:
            try:
                return LLMAnalysis(model, gpu, dtype, ParallelismConfig(tp_size=tp)).inference(
                    batch_size_per_gpu=b, seq_len=isl, num_tokens_to_generate=osl)
            except (AssertionError, ValueError):  # a configuration that does not fit: still evaluated
                return None
        return run

    calls = [call(tp, b, isl, osl) for tp in PEER_TPS for b in PEER_BATCHES for isl, osl in PEER_LENGTHS]
    n, seconds = _timed_calls(calls)
    return {"configs_per_s": n / seconds, "calls": n}


def aiconfigurator() -> dict[str, Any]:
    from aiconfigurator_core.sdk import common, config
    from aiconfigurator_core.sdk.backends.factory import get_backend
    from aiconfigurator_core.sdk.models import get_model
    from aiconfigurator_core.sdk.perf_database import get_database, get_latest_database_version

    version = get_latest_database_version("h100_sxm", "trtllm")
    database = get_database("h100_sxm", "trtllm", version)
    backend = get_backend("trtllm")
    models = {}
    for tp in PEER_TPS:
        mc = config.ModelConfig(tp_size=tp, pp_size=1, gemm_quant_mode=common.GEMMQuantMode.fp8,
                                kvcache_quant_mode=common.KVCacheQuantMode.fp8)
        models[tp] = get_model("meta-llama/Meta-Llama-3.1-70B", mc, "trtllm")

    def call(tp: int, b: int, isl: int, osl: int) -> Callable[[], Any]:
        def run() -> Any:
            return backend.run_static(models[tp], database, config.RuntimeConfig(batch_size=b, isl=isl, osl=osl),
                                      "static")
        return run

    for tp in PEER_TPS:  # the first call per model compiles and loads its tables: set-up, not timed
        backend.run_static(models[tp], database, config.RuntimeConfig(batch_size=3, isl=1000, osl=100), "static")
    calls = [call(tp, b, isl, osl) for tp in PEER_TPS for b in PEER_BATCHES for isl, osl in PEER_LENGTHS]
    n, seconds = _timed_calls(calls)
    return {"configs_per_s": n / seconds, "calls": n, "version": version}


PEERS: dict[str, Callable[[], dict[str, Any]]] = {"llm_analysis": llm_analysis, "aiconfigurator": aiconfigurator}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    ours = whichwall()
    out.update({k: ours[k] for k in ("configs_per_s", "search_s", "search_cold_s", "configs", "grid_s",
                                     "search_configs", "winner")})
    for name, run in PEERS.items():
        try:
            with _quiet():
                got = run()
        except ImportError as exc:
            out[f"{name}_error"] = f"not installed ({exc.name}); pip install -e '.[bench]'"
            continue
        except Exception as exc:  # a peer that breaks must not hide our figures
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]
            continue
        out[f"{name}_configs_per_s"] = got["configs_per_s"]
        out[f"{name}_ratio"] = ours["configs_per_s"] / got["configs_per_s"]
    out["machine"] = f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cpus, " \
                     f"python {platform.python_version()}, numpy {np.__version__}".replace("  ", " ")
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:32s} {v:,.6g}" if isinstance(v, float) else f"{k:32s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
