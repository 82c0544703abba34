"""Per-call cost of an Excel function, and what one range call saves over many scalar calls (a benchmark, not a
test): ``python benchmarks/udf_overhead.py``.

Measures DECODE_FLOOR_MS as Excel calls it (floats, text ids):
- cold scalar call: 1,000 calls with different batch sizes, nothing remembered (what a new sweep laid out as one
  formula per cell costs);
- repeated scalar call: the same arguments again (what Excel's recalculation of an unchanged cell costs; the
  boundary remembers all-scalar results);
- one range call over a 1,000-cell column of batch sizes (the same sweep as one formula);
and, for where the cold time goes, the same step through ``planner.api`` and through ``planner.roofline`` alone.
Targets (issues 3 and 12): a cold scalar call at most 50 µs; the range call at least 50x faster than the 1,000
scalar calls. Each figure is the best and the median of ``ROUNDS`` rounds (the machine may be noisy: compare
medians across runs).
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
from udfs import BINDING_WALL, DECODE_FLOOR_MS, PLAN_VALUE, _excel

MODEL, GPU, DTYPE = "llama-3.1-70b", "h100-sxm", "fp16"
N = 1_000
ROUNDS = 7


def timed(fn: Callable[[], object], rounds: int = ROUNDS) -> list[float]:
    """Wall times of ``rounds`` runs of ``fn`` (seconds)."""
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def best(fn: Callable[[], object], rounds: int = ROUNDS) -> float:
    """Best wall time of ``rounds`` runs of ``fn`` (seconds): the least disturbed by other load on the machine."""
    return min(timed(fn, rounds))


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

    cold_times = timed(cold_scalar)
    warm_times = timed(warm_scalar)
    cold, cold_median = min(cold_times) / N, statistics.median(cold_times) / N
    warm, warm_median = min(warm_times) / N, statistics.median(warm_times) / N
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
    print(f"  scalar call, cold (1,000 different batches):  {cold * 1e6:8.1f} µs/call "
          f"(median {cold_median * 1e6:.1f} µs)")
    print(f"  scalar call, repeated (Excel recalculation):  {warm * 1e6:8.1f} µs/call "
          f"(median {warm_median * 1e6:.1f} µs)")
    print(f"    of the cold call: planner.api {api_t * 1e6:.1f} µs, planner.roofline alone {roof_t * 1e6:.1f} µs")
    print(f"  one range call over 1,000 cells:              {rng * 1e3:8.2f} ms "
          f"(median {statistics.median(samples) * 1e3:.2f} ms)")
    print(f"  speed-up of the range call over 1,000 cold scalar calls: {speedup:6.0f}x")
    print(f"targets: scalar <= 50 µs (median): cold {'met' if cold_median <= 50e-6 else 'MISSED'}, repeated "
          f"{'met' if warm_median <= 50e-6 else 'MISSED'}; range >= 50x: {'met' if speedup >= 50 else 'MISSED'}")
    plan_ok = plan_functions()
    return 0 if plan_ok else 1


PLAN_CALLS = 50
"""Cold plan-function calls per round: each a different qps, so each plans afresh (nothing remembered)."""


def plan_functions() -> bool:
    """Cold calls of the plan functions (issue 11: at most 2 ms): BINDING_WALL and PLAN_VALUE with tp, pp and ep
    left to auto (the whole layout search of one plan) and with tp given, each call a new qps so neither the
    boundary's memo nor the plan cache answers it."""
    plan = ("llama-3.1-70b", "h100-sxm")
    rows = []
    for label, fn, extra in (("BINDING_WALL, tp auto", BINDING_WALL, ()),
                             ("BINDING_WALL, tp=4", BINDING_WALL, (None, "fp8", 4.0)),
                             ("PLAN_VALUE(\"gpus\"), tp auto", lambda *a: PLAN_VALUE("gpus", *a), ())):
        times = []
        for r in range(ROUNDS):
            _excel.clear_memo()
            api._plan_cache.clear()
            t0 = time.perf_counter()
            for i in range(PLAN_CALLS):
                fn(*plan, 20.0 + r + i / PLAN_CALLS, 1024.0, 256.0, 1000.0, 50.0, *extra)
            times.append((time.perf_counter() - t0) / PLAN_CALLS)
        rows.append((label, min(times), statistics.median(times)))
    ok = all(median <= 2e-3 for _, _, median in rows)
    for label, fastest, median in rows:
        print(f"  {label + ', cold:':<40} {fastest * 1e3:6.2f} ms/call (median {median * 1e3:.2f} ms)")
    print(f"targets: plan functions <= 2 ms a cold call (median): {'met' if ok else 'MISSED'}")
    return ok


if __name__ == "__main__":
    raise SystemExit(main())
