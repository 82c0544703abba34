"""Units and dtypes: decimal units as datasheets use them, and the dtype rules.

GB = 1e9 bytes, TB/s = 1e12 bytes/s, TFLOP/s = 1e12 FLOP/s, times in ms, money in USD, a month is 730 hours.
"""

from __future__ import annotations

from typing import Literal, get_args

GB = 1e9
GIB = 2.0**30
"""A binary gigabyte: only where serving engines measure GPU memory in it (their default batch caps)."""
TB = 1e12
TERA = 1e12
MS_PER_S = 1e3
US_PER_S = 1e6
HOURS_PER_MONTH = 730.0
SECONDS_PER_HOUR = 3600.0
TOKENS_PER_MILLION = 1e6

Dtype = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
DTYPES: tuple[str, ...] = get_args(Dtype)

BYTES_PER_ELEMENT: dict[str, float] = {
    "fp32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}

# Activations (and so the tensor-parallel all-reduce messages) stay in 16-bit for every weight format.
ACTIVATION_BYTES = 2.0

COMPUTE_FALLBACK: dict[str, tuple[str, ...]] = {
    # The compute rate that goes with a weight format: its own dense rate where the accelerator has one,
    # else the weights are dequantized and multiplied at the 16-bit rate (weight-only quantization, W4A16 etc.).
    "fp32": ("fp32",),
    "bf16": ("bf16", "fp16"),
    "fp16": ("fp16", "bf16"),
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("int8", "bf16", "fp16"),
    "int4": ("bf16", "fp16"),
    "fp4": ("fp4", "bf16", "fp16"),
}
