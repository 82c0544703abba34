"""whichwall's Excel functions (xlwings). On any OS ``from udfs import DECODE_FLOOR_MS`` gives a plain callable."""

from udfs.functions import (
    BINDING_WALL,
    CROSSOVER_BATCH,
    DECODE_FLOOR_MS,
    DECODE_INTENSITY,
    DECODE_MS,
    KV_BYTES_PER_TOKEN,
    MAX_BATCH,
    MAX_TOKENS_PER_SEC,
    PREFILL_FLOOR_MS,
    PREFILL_MS,
    RIDGE_INTENSITY,
    WEIGHT_GB,
)

__all__ = [
    "BINDING_WALL",
    "CROSSOVER_BATCH",
    "DECODE_FLOOR_MS",
    "DECODE_INTENSITY",
    "DECODE_MS",
    "KV_BYTES_PER_TOKEN",
    "MAX_BATCH",
    "MAX_TOKENS_PER_SEC",
    "PREFILL_FLOOR_MS",
    "PREFILL_MS",
    "RIDGE_INTENSITY",
    "WEIGHT_GB",
]
