"""Per-call cost of an Excel function, and what one range call saves over many scalar calls (a benchmark, not a
test): ``python benchmarks/udf_overhead.py``.

Measures DECODE_FLOOR_MS as Excel calls it (floats, text ids):
- cold scalar call: 1,000 calls with different batch sizes, nothing remembered (what a new sweep laid out as one
  formula per cell costs);
- repeated scalar call: the same arguments again (what Excel's recalculation of an unchanged cell costs; the
  boundary remembers all-scalar results);
- one range call over a 1,000-cell column of batch sizes (the same sweep as one formula);
and, for where the cold time goes, the same step through ``planner.api`` and through ``planner.roofline`` alone.
Targets (issue 3): a scalar call under 50 µs; the range call at least 50x faster than the 1,000 scalar calls.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner import api, roofline
from planner.catalogue import get_catalogue
from udfs import DECODE_FLOOR_MS, _excel

MODEL, GPU, DTYPE = "llama-3.1-70b", "h100-sxm", "fp16"
N = 1_000
ROUNDS = 7


def best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Best wall time of ``rounds`` runs of ``fn`` (seconds): the least disturbed by other load on the machine."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> int:
    batches = [float(b) for b in range(1, N + 1)]
    column = [[b] for b in batches]

    def cold_scalar() -> None:
        _excel.clear_memo()
        for b in batches:
            DECODE_FLOOR_MS(MODEL, GPU, DTYPE, b, 1024.0, 2.0)

    def warm_scalar() -> None:
        for _ in range(N):
            DECODE_FLOOR_MS(MODEL, GPU, DTYPE, 8.0, 1024.0, 2.0)

    def range_call() -> None:
        DECODE_FLOOR_MS(MODEL, GPU, DTYPE, column, 1024.0, 2.0)

    def via_api() -> None:
        for b in batches:
            api.decode_floor_ms(MODEL, GPU, DTYPE, b, 1024.0, 2.0)

    cat = get_catalogue()
    m, a = cat.model(MODEL), cat.accelerator(GPU)

    def via_roofline() -> None:
        for b in batches:
            roofline.decode_floor_ms(m, a, DTYPE, b, 1024.0, 2.0)

    # same values either way
    _excel.clear_memo()
    swept = DECODE_FLOOR_MS(MODEL, GPU, DTYPE, column, 1024.0, 2.0)
    assert [r[0] for r in swept] == [DECODE_FLOOR_MS(MODEL, GPU, DTYPE, b, 1024.0, 2.0) for b in batches]

    cold = best(cold_scalar) / N
    warm = best(warm_scalar) / N
    rng = best(range_call)
    api_t = best(via_api) / N
    roof_t = best(via_roofline) / N
    speedup = cold * N / rng
    samples = []
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        range_call()
        samples.append(time.perf_counter() - t0)

    print(f"DECODE_FLOOR_MS({MODEL!r}, {GPU!r}, {DTYPE!r}, batch, 1024, 2) on {sys.platform}, Python "
          f"{sys.version.split()[0]}; best of {ROUNDS} rounds")
    print(f"  scalar call, cold (1,000 different batches):  {cold * 1e6:8.1f} µs/call")
    print(f"  scalar call, repeated (Excel recalculation):  {warm * 1e6:8.1f} µs/call")
    print(f"    of the cold call: planner.api {api_t * 1e6:.1f} µs, planner.roofline alone {roof_t * 1e6:.1f} µs")
    print(f"  one range call over 1,000 cells:              {rng * 1e3:8.2f} ms "
          f"(median {statistics.median(samples) * 1e3:.2f} ms)")
    print(f"  speed-up of the range call over 1,000 cold scalar calls: {speedup:6.0f}x")
    print(f"targets: scalar < 50 µs: cold {'met' if cold < 50e-6 else 'MISSED'}, repeated "
          f"{'met' if warm < 50e-6 else 'MISSED'}; range >= 50x: {'met' if speedup >= 50 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
