"""Shared cases for the Excel-function tests: a good call of every function in ``udfs.__all__``, valid values for
every argument name, and a checker for what a cell may show."""

from __future__ import annotations

import inspect
import math
from typing import Any

import udfs
from udfs import _xw

M70 = "llama-3.1-70b"
PLAN = (M70, "h100", 20.0, 1024.0, 256.0, 1000.0, 50.0)
"""A 70B chat plan: model, gpu, qps, input tokens, output tokens, TTFT SLO ms, TPOT SLO ms."""

GOOD: dict[str, tuple[Any, ...]] = {
    "GPU_IDS": (),
    "MODEL_IDS": (),
    "DTYPES": (),
    "CATALOGUE_FILES": (),
    "GPU_INFO": ("h100", "memory_gb"),
    "MODEL_INFO": (M70, "layers"),
    "TOTAL_PARAMS_B": (M70,),
    "ACTIVE_PARAMS_B": ("deepseek-v3",),
    "WEIGHT_GB": (M70, "fp16"),
    "KV_BYTES_PER_TOKEN": (M70,),
    "KV_GB": (M70, 8192.0, 8.0, "fp8"),
    "DECODE_FLOPS": (M70, 8.0, 1024.0),
    "DECODE_BYTES_GB": (M70, "fp8", 8.0, 1024.0),
    "PREFILL_FLOPS": (M70, 1024.0),
    "EXPERTS_TOUCHED": ("deepseek-v3", 8.0),
    "RIDGE_INTENSITY": ("h100",),
    "DECODE_INTENSITY": (M70, 8.0),
    "CROSSOVER_BATCH": (M70, "h100"),
    "DECODE_FLOOR_MS": (M70, "h100", "fp16"),
    "PREFILL_FLOOR_MS": (M70, "h100", 1024.0),
    "DECODE_MS": (M70, "h100", "fp8", 8.0, 1024.0, 2.0),
    "PREFILL_MS": (M70, "h100", 1024.0, "fp8", 2.0),
    "TPOT_MS": (M70, "h100", 32.0, 1024.0, 256.0, "fp8", 2.0, "fp8"),
    "TTFT_MS": (M70, "h100", 32.0, 1024.0, 256.0, "fp8", 2.0, "fp8", "vllm"),
    "MAX_BATCH": (M70, "h100", 2048.0, "fp8"),
    "SMALLEST_TP": (M70, "h100", 4096.0),
    "MEMORY_PER_GPU_GB": (M70, "h100", "fp8", 16.0, 4096.0, 4.0),
    "ALLREDUCE_MS": (M70, "h100", 4.0, 8.0),
    "MAX_TOKENS_PER_SEC": (M70, "h100", 1024.0, 256.0, "fp8", 4.0),
    "REPLICAS": PLAN,
    "BINDING_WALL": PLAN,
    "NEXT_WALL": PLAN,
    "WALLS": PLAN,
    "PLAN_TABLE": PLAN,
    "PLAN_VALUE": ("gpus", *PLAN),
    "GPU_HOUR_PRICE": ("h100",),
    "COST_PER_MONTH": ("h100", 8.0),
    "COST_PER_MILLION_TOKENS": ("h100", 1000.0, 1.0),
    "BEST_CONFIG": (M70, 20.0, 1024.0, 256.0, 1000.0, 50.0, 50_000.0, [["h100"], ["h200"]], "fp8"),
    "PARETO": (M70, 20.0, 1024.0, 256.0, 1000.0, 50.0, None, "h100,h200", [["fp8", "bf16"]]),
}
"""A good call of each function (a test fails if a function in ``udfs.__all__`` is missing here)."""

TEXT_ARGS = {"model", "gpu", "dtype", "kv_dtype", "field", "key", "engine"}

VALID: dict[str, list[Any]] = {
    # numeric arguments: values every function taking them accepts
    "batch": [1.0, 2.0, 8.0, 64.0],
    "context_tokens": [128.0, 1024.0, 4096.0],
    "tp": [1.0, 2.0, 4.0, 8.0],
    "prompt_tokens": [1.0, 128.0, 2048.0],
    "tokens": [1.0, 8.0, 64.0],
    "qps": [1.0, 5.0, 20.0],
    "input_tokens": [128.0, 1024.0],
    "output_tokens": [64.0, 256.0],
    "ttft_slo_ms": [500.0, 2000.0],
    "tpot_slo_ms": [30.0, 100.0],
    "budget_usd_month": [10_000.0, 1_000_000.0],
    "pp": [1.0, 2.0],
    "concurrency": [1.0, 16.0, 128.0],
    "gpus": [1.0, 8.0],
    "usd_per_gpu_hour": [1.5, 3.0],
    "tokens_per_sec": [100.0, 1000.0],
    # text arguments that take ranges
    "gpu": ["h100", "b200", "mi300x"],
    "model": [M70, "deepseek-v3", "mistral-7b"],
    "field": ["memory_gb", "usd_per_gpu_hour", "scaleup_link"],
    "key": ["gpus", "usd_month", "binding_wall"],
}

VALID_FOR: dict[tuple[str, str], list[Any]] = {
    ("MODEL_INFO", "field"): ["layers", "total_params_b", "attention"],
}


def valid(name: str, arg: str) -> list[Any]:
    """Values of ``arg`` that ``name`` accepts."""
    return VALID_FOR.get((name, arg), VALID[arg])


def params(name: str) -> list[inspect.Parameter]:
    return list(inspect.signature(getattr(udfs, name)).parameters.values())


def range_args(name: str) -> list[str]:
    """Arguments of ``name`` that take a range (``ndim=2``)."""
    return [a for a, opts in _xw.meta(getattr(udfs, name))["args"].items() if opts.get("ndim") == 2]


def numeric_range_args(name: str) -> list[str]:
    return [a for a in range_args(name) if a not in TEXT_ARGS]


def call_with(name: str, **changes: Any) -> tuple[Any, ...]:
    """The good call of ``name`` with some arguments replaced (missing trailing ones filled with None)."""
    names = [p.name for p in params(name)]
    args = list(GOOD[name]) + [None] * (len(names) - len(GOOD[name]))
    for k, v in changes.items():
        args[names.index(k)] = v
    while args and args[-1] is None and len(args) > len(GOOD[name]):
        args.pop()
    return tuple(args)


def assert_clean(value: Any) -> None:
    """What a cell may show: a finite float, an int, text or a bool, or a rectangular 2-D list of those."""
    if isinstance(value, list):
        assert value and all(isinstance(row, list) for row in value), value
        widths = {len(row) for row in value}
        assert len(widths) == 1 and widths != {0}, f"ragged or empty table {value!r}"
        for row in value:
            for x in row:
                assert_clean(x)
        return
    assert type(value) in (float, int, str, bool), f"{value!r} ({type(value).__name__}) is not a cell value"
    if isinstance(value, float):
        assert math.isfinite(value), value
    if isinstance(value, str):
        assert value.lower() != "nan", value


def flat(value: Any) -> list[Any]:
    return [x for row in value for x in row] if isinstance(value, list) else [value]
