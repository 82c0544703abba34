"""Regenerate docs/fidelity.md's tables and docs/images/fidelity.png from a measurements CSV (and the MI300X
offline table, data/measurements/rocm-vllm-mi300x.csv).

    python scripts/fidelity_report.py ../shared/data/silicon.csv

The tables need only whichwall; the plot needs matplotlib, in the ``report`` extra: ``pip install -e '.[report]'``
(without it the tables are written and the plot is left as it was, saying so).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from planner import fidelity, offline

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- tables:begin -->", "<!-- tables:end -->"
AMD_BEGIN, AMD_END = "<!-- amd:begin -->", "<!-- amd:end -->"
ROCM = ROOT / "data" / "measurements" / "rocm-vllm-mi300x.csv"
VERSIONS = (("040de12d", "ROCm 6.4.1, vLLM 0.10.0 (fitted)"), ("b309ea79", "ROCm 6.3.1, vLLM 0.7.3 (not fitted)"))


def _breakdown(out: fidelity.Report, key: str, header: str) -> list[str]:
    """Median errors of the out-of-sample predictions grouped by ``key`` (engine, or the accelerator's family)."""
    groups: dict[str, list[dict[str, float]]] = {}
    for p in out.predictions:
        name = p["engine"] if key == "engine" else fidelity.family_of(p["accelerator"])
        groups.setdefault(name, []).append(p)
    lines = [f"| {header} | rows | TPOT error | TTFT error |", "|---|---:|---:|---:|"]
    for name, ps in sorted(groups.items()):
        tpot = np.median([abs(p["tpot_pred_ms"] / p["tpot_ms"] - 1) for p in ps])
        ttft = np.median([abs(p["ttft_pred_ms"] / p["ttft_ms"] - 1) for p in ps])
        lines.append(f"| {name} | {len(ps)} | {tpot:.1%} | {ttft:.1%} |")
    return lines


def amd_tables() -> str:
    """The shipped MI300X calibration on each software version's rows, and the catalogue defaults it replaced."""
    lines = ["| rows (ROCm/vllm docs/dev-docker) | efficiencies | latency error | throughput error | KV-limited |",
             "|---|---|---:|---:|---:|"]
    default = fidelity.default_efficiency("vllm")
    for version, label in VERSIONS:
        rows = offline.load_offline(ROCM, source_contains=version)
        shipped = offline.validate_offline(rows)
        before = offline.validate_offline(rows, efficiency=default)
        for name, rep in (("shipped (MI300X fit)", shipped), ("catalogue defaults", before)):
            s = rep.summary()
            lines.append(f"| @{version}: {label}, {s['rows']} rows | {name} | {s['latency_mape_median']:.1%} | "
                         f"{s['throughput_mape_median']:.1%} | {s['kv_limited_rows']} |")
    return "\n".join(lines)


def tables(out: fidelity.Report, ins: fidelity.Report) -> str:
    lines = [
        f"Rows modelled: {out.rows}; set aside: {sum(out.skipped.values())} "
        f"({'; '.join(f'{n} {why}' for why, n in sorted(out.skipped.items(), key=lambda kv: -kv[1]))}).",
        "",
        "| | TPOT median abs. error | TTFT median abs. error | floor violations |",
        "|---|---:|---:|---:|",
        f"| out of sample ({out.method}) | {out.tpot_mape_median:.1%} | {out.ttft_mape_median:.1%} | "
        f"{out.floor_violations} |",
        f"| in sample (the shipped efficiencies) | {ins.tpot_mape_median:.1%} | {ins.ttft_mape_median:.1%} | "
        f"{ins.floor_violations} |",
        "",
        "Out of sample, by model, accelerator and engine:",
        "",
        "| model | accelerator | engine | rows | TPOT error | TTFT error |",
        "|---|---|---|---:|---:|---:|",
    ]
    for g in out.by_group:
        lines.append(f"| {g['model']} | {g['accelerator']} | {g['engine']} | {g['rows']} | "
                     f"{g['tpot_mape_median']:.1%} | {g['ttft_mape_median']:.1%} |")
    lines += ["", "Out of sample, by serving engine:", "", *_breakdown(out, "engine", "engine"),
              "", "Out of sample, by silicon family:", "", *_breakdown(out, "family", "family")]
    return "\n".join(lines)


def plot(out: fidelity.Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 5))
    for ax, key, title in ((axes[0], "tpot", "TPOT (ms)"), (axes[1], "ttft", "TTFT (ms)")):
        meas = np.array([p[f"{key}_ms"] for p in out.predictions])
        pred = np.array([p[f"{key}_pred_ms"] for p in out.predictions])
        floor = np.array([p[f"{key}_floor_ms"] for p in out.predictions])
        models = sorted({p["model"] for p in out.predictions})
        for m in models:
            sel = np.array([p["model"] == m for p in out.predictions])
            ax.scatter(meas[sel], pred[sel], s=6, alpha=0.6, label=m)
        ax.scatter(meas, floor, s=3, c="black", alpha=0.25, label="floor")
        lo, hi = min(meas.min(), pred.min()) * 0.8, max(meas.max(), pred.max()) * 1.2
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {title}")
        ax.set_ylabel(f"predicted {title} (out of sample)")
        ax.set_title(title)
    axes[0].legend(fontsize=7, markerscale=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str]) -> int:
    source = argv[1] if len(argv) > 1 else str(ROOT.parent / "shared" / "data" / "silicon.csv")
    loaded = fidelity.load_measurements(source)
    out = fidelity.validate(loaded, out_of_sample=True)
    ins = fidelity.validate(loaded, out_of_sample=False)
    doc = ROOT / "docs" / "fidelity.md"
    text = doc.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    text = text[:start] + "\n" + tables(out, ins) + "\n" + text[end:]
    start, end = text.index(AMD_BEGIN) + len(AMD_BEGIN), text.index(AMD_END)
    doc.write_text(text[:start] + "\n" + amd_tables() + "\n" + text[end:], encoding="utf-8")
    try:
        plot(out, ROOT / "docs" / "images" / "fidelity.png")
    except ModuleNotFoundError as exc:
        print(f"fidelity_report: tables written; the plot needs {exc.name}: pip install -e '.[report]'",
              file=sys.stderr)
    print(out.summary(), ins.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
