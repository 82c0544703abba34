"""``whichwall validate`` and ``whichwall calibrate``: expected times against measured serving-engine rows.

Two kinds of tables: per-request rows (TTFT and TPOT at a concurrency: ``planner.fidelity``) and offline runs (whole
latency or throughput of a batch: ``planner.offline``, told apart by their ``metric`` column)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import yaml
from rich.console import Console
from rich.table import Table

from planner import fidelity, files, offline
from planner.catalogue import Catalogue, get_catalogue
from planner.errors import PlannerError
from whichwall.search_cmd import _progress


def _offline_table(report: offline.OfflineReport) -> Table:
    table = Table(title=f"Predicted vs measured offline runs ({report.method})", title_justify="left")
    for col in ("model", "tp", "in", "out", "batch", "metric", "measured", "predicted", "error", ""):
        table.add_column(col, justify="left" if col in ("model", "metric", "") else "right", no_wrap=col == "model")
    for r, p in zip(report.rows, report.predictions, strict=True):
        unit = "s" if r.metric == "latency_s" else "tok/s"
        table.add_row(r.model, str(r.tp), f"{r.isl:,.0f}", f"{r.osl:,.0f}", f"{r.batch:,.0f}", r.metric,
                      f"{r.value:,.1f} {unit}", f"{p.value:,.1f} {unit}", f"{p.value / r.value - 1:+.1%}",
                      f"KV-limited batch {p.batch:,.0f} (not fitted)" if p.kv_limited else "")
    return table


def _share(x: float | None) -> str:
    return "n/a (no such rows)" if x is None else f"{x:.1%}"


def _offline_summary(report: offline.OfflineReport) -> str:
    s = report.summary()
    return (f"rows {s['rows']} ({s['kv_limited_rows']} KV-limited, not counted); latency median |error| "
            f"{_share(s['latency_mape_median'])}; throughput median |error| {_share(s['throughput_mape_median'])}")


def _validate_offline(args: argparse.Namespace, cat: Catalogue) -> int:
    if args.cross_validate:
        raise PlannerError(f"--cross-validate refits leaving one model architecture out, for TTFT/TPOT tables; "
                           f"{args.measurements} is an offline table (a metric column): leave --cross-validate out "
                           f"(`whichwall calibrate` fits it)")
    rows = offline.load_offline(args.measurements, cat, args.source)
    report = offline.validate_offline(rows, cat)
    if args.json:
        print(json.dumps(report.summary(), allow_nan=False))
        return 0
    console = Console(highlight=False, width=max(110, Console().width))
    console.print(_offline_table(report))
    console.print(_offline_summary(report))
    return 0


def _no_source(args: argparse.Namespace) -> None:
    if args.source:
        raise PlannerError(f"--source {args.source!r} picks rows of an offline table (one with a metric column); "
                           f"{args.measurements} holds TTFT/TPOT rows: leave --source out")


def cmd_validate(args: argparse.Namespace) -> int:
    cat = get_catalogue(args.catalogue or ())
    if offline.is_offline(args.measurements):
        return _validate_offline(args, cat)
    _no_source(args)
    loaded = fidelity.load_measurements(args.measurements, cat)
    with _progress("cross-validating", args.cross_validate and not args.json) as step:
        report = fidelity.validate(loaded, cat, out_of_sample=args.cross_validate, progress=step)
    if args.json:
        print(json.dumps(report.summary()))
        return 0
    console = Console(highlight=False, width=max(110, Console().width))
    table = Table(title=f"Predicted vs measured ({report.method})", title_justify="left")
    for col in ("model", "accelerator", "engine", "rows", "TPOT median |error|", "TTFT median |error|"):
        table.add_column(col, justify="left" if col in ("model", "accelerator", "engine") else "right")
    for g in report.by_group:
        table.add_row(g["model"], g["accelerator"], g["engine"], str(g["rows"]), f"{g['tpot_mape_median']:.1%}",
                      f"{g['ttft_mape_median']:.1%}")
    console.print(table)
    console.print(f"rows {report.rows}; TPOT median |error| {report.tpot_mape_median:.1%}; TTFT median |error| "
                  f"{report.ttft_mape_median:.1%}; floor violations {report.floor_violations}")
    for reason, count in sorted(report.skipped.items(), key=lambda kv: -kv[1]):
        console.print(f"  set aside: {count} rows, {reason}", style="dim")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    cat = get_catalogue(args.catalogue or ())
    out = files.check_target(args.output, (".yaml", ".yml"), "a YAML user catalogue", args.force) \
        if args.output else None  # before the fit: a bad output fails fast
    source = f"whichwall calibrate {args.measurements}" + (f" --source {args.source}" if args.source else "")
    warnings: list[str] = []
    if offline.is_offline(args.measurements):
        rows = offline.load_offline(args.measurements, cat, args.source)
        with _progress("fitting", True) as step:
            result = offline.fit_offline(rows, cat, progress=step)
        warnings = result.warnings
        data: dict[str, Any] = offline.calibration_entry(result, source)
        count = result.fitted_rows
        print(_offline_summary(result.report), file=sys.stderr)
    else:
        _no_source(args)
        loaded = fidelity.load_measurements(args.measurements, cat)
        with _progress("fitting", True) as step:
            step(0, 1, f"{len(loaded.rows)} rows")
            data = fidelity.calibrate(loaded, cat, source=source, warn=warnings.append)
        count = len(loaded.rows)
    for warning in warnings:
        print(f"whichwall: warning: {warning}", file=sys.stderr)
    text = ("# whichwall user catalogue: efficiencies fitted by `whichwall calibrate`.\n"
            "# Use it with --catalogue FILE, WHICHWALL_CATALOGUE=FILE, or the Excel add-in's catalogue setting.\n"
            + yaml.safe_dump(data, sort_keys=False, width=120, default_flow_style=None))
    if out is not None:
        files.write_atomic(out, text, force=args.force)
        print(f"wrote {args.output}: efficiencies fitted to {count} rows")
    else:
        print(text, end="")
    return 0


def register(sub: Any) -> None:
    """Add the ``validate`` and ``calibrate`` subcommands to the CLI's subparsers."""
    v = sub.add_parser("validate", help="compare expected TTFT/TPOT (or offline latency/throughput) with measured "
                       "rows")
    v.add_argument("measurements", help="CSV of measured rows (columns of ../shared/data/silicon.csv, or model, "
                   "accelerator, engine, dtype, tp, isl, osl, concurrency, ttft_ms, tpot_ms; or offline runs: "
                   "model, accelerator, engine, dtype, tp, isl, osl, batch, metric, value as in "
                   "data/measurements/)")
    v.add_argument("--json", action="store_true", help="print one JSON line: tpot_mape_median, ttft_mape_median, "
                   "floor_violations, rows")
    v.add_argument("--cross-validate", action="store_true", help="refit leaving one model architecture out at a "
                   "time and predict it (how well the model carries over to models it was not fitted on) instead of "
                   "checking the shipped model as plans use it")
    v.add_argument("--source", metavar="TEXT", help="offline tables: only rows whose source column contains TEXT "
                   "(one software version of a table that holds several)")
    v.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    v.set_defaults(func=cmd_validate)

    c = sub.add_parser("calibrate", help="fit the efficiencies to measured rows and write a user catalogue file")
    c.add_argument("measurements", help="CSV of measured rows (same columns as `whichwall validate`)")
    c.add_argument("-o", "--output", metavar="FILE.yaml", help="write the user catalogue here (default: print it)")
    c.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    c.add_argument("--source", metavar="TEXT", help="offline tables: only rows whose source column contains TEXT "
                   "(one software version of a table that holds several)")
    c.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    c.set_defaults(func=cmd_calibrate)
