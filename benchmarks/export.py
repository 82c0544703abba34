"""Time plan-workbook export: one plan, and 100 plans through the batch exporter.

    python benchmarks/export.py

Not a test: it prints wall-clock times (build = lay out + evaluate every formula in-process; write = cached values
into the zip and an atomic write).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from planner.spec import default_spec
from workbook.export import export_folder, export_plan


def main() -> None:
    spec = default_spec()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        export_plan(spec, folder / "warm-up.xlsx")  # imports and caches out of the timing
        t0 = time.perf_counter()
        export_plan(spec, folder / "one.xlsx")
        one = time.perf_counter() - t0
        specs = folder / "specs"
        specs.mkdir()
        for i in range(100):
            text = spec.model_copy(update={"name": f"svc-{i:03d}", "qps": 1.0 + i}).to_yaml()
            (specs / f"svc-{i:03d}.yaml").write_text(text)
        t0 = time.perf_counter()
        written = export_folder(specs, folder / "out")
        hundred = time.perf_counter() - t0
        size = (folder / "one.xlsx").stat().st_size
    print(f"1 plan:    {one:.3f} s ({size / 1024:.0f} KiB)")
    print(f"{len(written)} plans: {hundred:.2f} s ({hundred / len(written) * 1000:.0f} ms per plan)")


if __name__ == "__main__":
    main()
