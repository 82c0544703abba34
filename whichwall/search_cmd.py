"""``whichwall search`` and ``whichwall sweep``: the cheapest plans over the design space, and sensitivity studies.

``search [SPEC]`` scores every configuration (``planner.search``) and prints the cheapest plans that meet the SLOs
and the budget, aggregated and disaggregated side by side, the Pareto front of tokens/s per GPU vs tokens/s per
user, and for the winner which wall binds and what relaxing it would buy. ``sweep [SPEC] --axis NAME=V1,V2 ...``
re-plans every combination of the axis values (``--search``: re-searches) and prints a table.

``-o`` writes the tables to a workbook (``.xlsx``, one sheet each) or, for a sweep, a ``.csv``: atomically
(a temporary file renamed over the target), and never over an existing file without ``--force``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from planner import files
from planner import search as S
from planner.catalogue import Catalogue, get_catalogue
from planner.errors import PlannerError
from planner.plan import evaluate
from planner.report import format_value
from planner.spec import PlanSpec, default_spec, load_spec
from whichwall import tables as T

UNITS = {"tpot_ms": "ms", "ttft_ms": "ms", "usd_month": "USD/month", "usd_per_million_tokens": "USD"}


def _console() -> Console:
    """The terminal's width (100 columns when not a terminal): every table fits 100 columns."""
    probe = Console()
    return Console(highlight=False, soft_wrap=False, width=probe.width if probe.is_terminal else 100)


def _fmt(key: str, value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key in ("tokens_per_s_per_gpu", "tokens_per_s_per_user") and isinstance(value, float):
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return format_value(value, UNITS.get(key, ""))


CLI_COLUMNS = (("plan", "plan (P: prefill, D: decode)"), ("gpus", "GPUs"), ("batch", "batch"),
               ("tpot_ms", "TPOT ms"), ("ttft_ms", "TTFT ms"), ("tokens_per_s_per_gpu", "tok/s /GPU"),
               ("usd_month", "USD /month"), ("usd_per_million_tokens", "USD /Mtok"), ("binding_wall", "binding wall"))
"""The columns of a plan table in a terminal (100 columns wide); ``--json`` and ``-o`` have every field."""
CLI_WIDTHS = {"plan": 21, "gpus": 5, "batch": 5, "tpot_ms": 5, "ttft_ms": 6, "tokens_per_s_per_gpu": 6,
              "usd_month": 7, "usd_per_million_tokens": 5, "binding_wall": 10}
"""Column widths (headers wrap) that keep the table within 100 columns."""


def _cli_row(p: S.Candidate) -> dict[str, Any]:
    row = p.row()
    row["mode"] = "disagg" if p.mode == S.DISAGGREGATED else "agg"
    row["plan"] = p.label + ("" if p.calibrated else " †")
    if p.mode == S.DISAGGREGATED:
        row["replicas"] = f"{p.prefill_replicas} + {p.replicas}"
    return row


def plans_table(title: str, plans: Sequence[S.Candidate], rank: bool = True) -> Table:
    """Plans as a rich table (for disaggregated plans: replicas = prefill + decode instances, batch = the decode
    pool's)."""
    t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False)
    if rank:
        t.add_column("#", justify="right")
    for k, header in CLI_COLUMNS:
        width = CLI_WIDTHS.get(k)
        t.add_column(header, justify="left" if k in ("plan", "binding_wall") else "right", overflow="fold",
                     min_width=width, max_width=width)
    for i, p in enumerate(plans, 1):
        row = _cli_row(p)
        cells = [row[k] if isinstance(row[k], str) else _fmt(k, row[k]) for k, _ in CLI_COLUMNS]
        cells[-1] = f"[bold red]{row['binding_wall']}[/]"
        t.add_row(*([str(i)] if rank else []), *cells)
    return t


COMPARE_ROWS = (("label", "plan"), ("gpus", "GPUs"), ("batch", "decode batch per replica"),
                ("tpot_ms", "TPOT (ms)"), ("ttft_ms", "TTFT (ms)"), ("kv_transfer_ms", "KV transfer (ms)"),
                ("tokens_per_s_per_gpu", "tokens/s per GPU"), ("tokens_per_s_per_user", "tokens/s per user"),
                ("usd_month", "USD/month"), ("usd_per_million_tokens", "USD per million tokens"),
                ("binding_wall", "binding wall"))


def compare_table(result: S.SearchResult) -> Table:
    """The best aggregated and the best disaggregated plan side by side."""
    t = Table(title="Aggregated vs disaggregated (best of each)", title_justify="left", box=box.SIMPLE_HEAD)
    t.add_column("")
    best = {m: result.best(m) for m in S.MODES}
    for m in S.MODES:
        t.add_column(m, overflow="fold")
    for key, label in COMPARE_ROWS:
        cells = []
        for m in S.MODES:
            p = best[m]
            cells.append("no plan meets the SLOs and budget" if p is None and key == "label" else
                         "-" if p is None else _fmt(key, getattr(p, key)))
        t.add_row(label, *cells)
    return t


def walls_table(plan: S.Candidate) -> Table:
    t = Table(title=f"Walls of the winner ({plan.label})", title_justify="left", show_header=True,
              box=box.SIMPLE_HEAD)
    for col in ("wall", "utilization", "headroom", "binds?"):
        t.add_column(col, justify="left" if col == "wall" else "right")
    for wall, u in plan.utilization.items():
        t.add_row(wall, format_value(u, "utilization"), format_value(None if u is None else 1 - u, "utilization"),
                  "[bold red]yes[/]" if wall == plan.binding_wall else "")
    return t


def _spec(path: str | None) -> PlanSpec:
    return default_spec() if path is None else load_spec(path)


@contextmanager
def _progress(label: str, enabled: bool = True) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar on stderr (only on a terminal) and the callback that moves it."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not (enabled and console.is_terminal)) as bar:
        task = bar.add_task(label, total=None)

        def step(done: int, total: int, what: str) -> None:
            bar.update(task, completed=done, total=total, description=f"{label} {what}")

        yield step


def _space(args: argparse.Namespace, spec: PlanSpec, cat: Catalogue) -> S.SearchSpace:
    return S.search_space(spec, cat, accelerators=args.accelerators, dtypes=args.dtypes, kv_dtypes=args.kv_dtypes,
                          disaggregated=not args.no_disaggregated, calibrated_only=args.calibrated_only)


def _result_json(result: S.SearchResult, relaxation: S.Relaxation | None, top: int) -> dict[str, Any]:
    def plan(p: S.Candidate | None) -> dict[str, Any] | None:
        if p is None:
            return None
        out = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in p.__dict__.items()}
        out["label"] = p.label
        return out

    winner = result.winner
    return {
        "spec": result.spec.model_dump(),
        "configs_evaluated": result.configs_evaluated,
        "seconds": result.seconds,
        "plans": [plan(p) for p in result.plans(top=top)],
        "best": {m: plan(result.best(m)) for m in (S.MODES if result.space.disaggregated else (S.AGGREGATED,))},
        "winner": plan(winner),
        "relaxation": None if relaxation is None else {
            "wall": relaxation.wall, "change": relaxation.change, "after": plan(relaxation.after),
            "next_wall": relaxation.next_wall, "cost_change": relaxation.cost_change,
            "throughput_change": relaxation.throughput_change, "summary": relaxation.summary()},
        "pareto": [plan(p) for p in result.pareto()],
    }


def cmd_search(args: argparse.Namespace) -> int:
    cat = get_catalogue(args.catalogue or ())
    spec = _spec(args.spec)
    if args.top < 1:
        raise PlannerError(f"--top must be at least 1, got {args.top}")
    out = _check_output(args.output, args.force, (".xlsx",)) if args.output else None
    space = _space(args, spec, cat)
    with _progress("searching", not args.json) as step:
        result = S.search(spec, cat, space, progress=step)
    relaxation = S.relax(result, cat) if result.winner is not None else None
    if out is not None:
        T.write_workbook(out, _search_sheets(result, relaxation, args.top), args.force)
    if args.json:
        print(json.dumps(_result_json(result, relaxation, args.top), indent=2))
    else:
        print_search(result, relaxation, args.top, _console())
    if out is not None:
        print(f"whichwall: wrote {out}", file=sys.stderr)
    return 0


def print_search(result: S.SearchResult, relaxation: S.Relaxation | None, top: int, console: Console) -> None:
    spec = result.spec
    budget = f", budget ${spec.budget_usd_month:,.0f}/month" if spec.budget_usd_month else ""
    space = result.space
    console.print(f"[bold]{spec.model}[/]: {spec.qps:g} requests/s, {spec.input_tokens} → {spec.output_tokens} "
                  f"tokens, TTFT ≤ {spec.ttft_slo_ms:g} ms, TPOT ≤ {spec.tpot_slo_ms:g} ms{budget}")
    console.print(f"searched {result.configs_evaluated:,} configurations ({len(space.accelerators)} accelerators × "
                  f"dtypes {', '.join(space.dtypes)} × KV {', '.join(space.kv_dtypes)} × tp × pp × ep × batch"
                  f"{', aggregated and disaggregated' if space.disaggregated else ''}) in {result.seconds:.2f} s",
                  style="dim")
    plans = result.plans(top=top)
    if plans:
        console.print(plans_table("Cheapest plans that meet the SLOs and the budget", plans))
    else:
        over = result.plans(top=top, feasible=False)
        if over:
            console.print(plans_table("No plan fits the budget; the cheapest that meet the SLOs", over))
        else:
            console.print(plans_table("No plan meets the SLOs; the nearest configuration per accelerator (what "
                                      "stops it)", result.nearest(top), rank=False))
    if space.disaggregated:  # the side-by-side only when both modes were searched
        console.print(compare_table(result))
    front = result.pareto()
    if front:
        console.print(plans_table("Pareto front: tokens/s per GPU vs tokens/s per user (every point meets the "
                                  "SLOs, fits and is within the budget)", front, rank=False))
    shown = [*plans, *front]
    if any(not p.calibrated for p in shown):
        console.print("† expected times on default efficiencies: no measurements of that accelerator were fitted "
                      "(`--calibrated-only` leaves them out; `whichwall calibrate` fits your own)", style="dim")
    winner = result.winner
    if winner is not None:
        console.print(walls_table(winner))
        calibration = (f"calibrated on {winner.calibration_rows:,} measured rows" if winner.calibrated
                       else "[bold]on default efficiencies (no measurements fitted)[/]")
        console.print(f"[bold]winner[/]: {winner.label}, ${winner.usd_month:,.0f}/month; "
                      f"[bold red]{winner.binding_wall}[/] binds; {calibration}")
        if relaxation is not None:
            console.print(f"relax it: {relaxation.summary()}")


KINDS: dict[str, str] = {
    "rank": "count", "tp": "count", "pp": "count", "ep": "count", "batch per replica": "count", "replicas": "count",
    "prefill tp": "count", "prefill replicas": "count", "GPUs": "count", "TPOT (ms)": "ms", "TTFT (ms)": "ms",
    "calibrated on (measured rows)": "count",
    "tokens/s per GPU": "rate", "tokens/s per user": "number", "USD/month": "usd", "USD per million tokens":
    "usd_small", "utilization": "share", "headroom": "share", "cost change": "change",
    "tokens/s per GPU change": "change", "batch": "count", "TPOT ms": "ms", "TTFT ms": "ms", "tok/s/GPU": "rate",
    "USD/Mtok": "usd_small", "qps": "number", "input_tokens": "count", "output_tokens": "count",
    "ttft_slo_ms": "number", "tpot_slo_ms": "number", "budget_usd_month": "usd", "usd_per_gpu_hour": "usd_small",
}
"""The number format of each table column, by header (``whichwall.tables.FORMATS``)."""


def _search_sheets(result: S.SearchResult, relaxation: S.Relaxation | None, top: int) -> list[T.Sheet]:
    spec = result.spec
    what = (f"{spec.model}, {spec.qps:g} requests/s, {spec.input_tokens} → {spec.output_tokens} tokens, TTFT ≤ "
            f"{spec.ttft_slo_ms:g} ms, TPOT ≤ {spec.tpot_slo_ms:g} ms"
            + (f", budget ${spec.budget_usd_month:,.0f}/month" if spec.budget_usd_month else ""))
    plans = result.plans(top=max(top, 100))
    sheets = [T.Sheet("Search", f"The cheapest plans that meet the SLOs and the budget ({what}); the winner is "
                      f"highlighted; {result.configs_evaluated:,} configurations scored",
                      ["rank", *S.TABLE_HEADER], [[i, *r] for i, r in enumerate(S.table_rows(plans), 1)], KINDS,
                      {0} if plans else set())]
    front = result.pareto()
    sheets.append(T.Sheet("Pareto", "No plan here is beaten on both tokens/s per GPU (cost) and tokens/s per user "
                          "(speed); every point meets the SLOs, fits and is within the budget",
                          list(S.TABLE_HEADER), S.table_rows(front), KINDS,
                          chart=("tokens/s per user", "tokens/s per GPU", "Pareto front: throughput per GPU vs speed "
                                 "per user")))
    if result.space.disaggregated:
        best = [result.best(m) for m in S.MODES]
        sheets.append(T.Sheet("Compare", "The best aggregated and the best disaggregated plan side by side",
                              ["", *S.MODES], [[label, *[getattr(b, key) if b is not None else None for b in best]]
                                               for key, label in COMPARE_ROWS]))
    winner = result.winner
    if winner is not None:
        rows: list[list[Any]] = [[w, u, None if u is None else 1 - u, w == winner.binding_wall]
                                 for w, u in winner.utilization.items()]
        binding = [i for i, r in enumerate(rows) if r[3]]
        rows += [[], ["winner", winner.label], ["binding wall", winner.binding_wall]]
        if relaxation is not None:
            rows += [["relaxed", relaxation.change], ["then", relaxation.summary()],
                     ["next wall", relaxation.next_wall], ["cost change", relaxation.cost_change],
                     ["tokens/s per GPU change", relaxation.throughput_change]]
        sheets.append(T.Sheet("Walls", f"The winner's walls: each one's share of its own limit; the binding one at "
                              f"its limit ({winner.label})", ["wall", "utilization", "headroom", "binds?"], rows,
                              KINDS, set(binding)))
    sheets.append(T.Sheet("Spec", "The spec searched", ["field", "value"],
                          [[k, v if not isinstance(v, list) else ", ".join(v)] for k, v in spec.model_dump().items()]))
    return sheets


# -------------------------------------------------------------------------------------------------------- sweep

SWEEP_PLAN_COLUMNS = (("accelerator", "accelerator"), ("dtype", "weights"), ("kv_dtype", "KV"), ("tp", "tp"),
                      ("pp", "pp"), ("ep", "ep"), ("batch", "batch"), ("replicas", "replicas"), ("gpus", "GPUs"),
                      ("tpot_ms", "TPOT ms"), ("ttft_ms", "TTFT ms"), ("output_tokens_per_s_per_gpu", "tok/s/GPU"),
                      ("usd_month", "USD/month"), ("usd_per_million_output_tokens", "USD/Mtok"),
                      ("binding_wall", "binding wall"), ("next_wall", "next wall"), ("feasible", "feasible"))
SWEEP_SEARCH_COLUMNS = (("mode", "mode"), ("label", "plan"), ("gpus", "GPUs"), ("tpot_ms", "TPOT ms"),
                        ("ttft_ms", "TTFT ms"), ("tokens_per_s_per_gpu", "tok/s/GPU"), ("usd_month", "USD/month"),
                        ("usd_per_million_tokens", "USD/Mtok"), ("binding_wall", "binding wall"))


SWEEP_TERMINAL = {"tp", "pp", "gpus", "label", "tpot_ms", "ttft_ms", "usd_month", "binding_wall", "feasible",
                  "error"}
"""The sweep columns a terminal shows beside the axes (within 100 columns)."""
TEXT_KEYS = {"accelerator", "dtype", "kv_dtype", "model", "engine", "label", "mode", "binding_wall", "next_wall",
             "error"}


def sweep(spec: PlanSpec, axes: list[str], use_search: bool, catalogue: Catalogue,
          progress: Callable[[int, int, str], None] | None = None) -> tuple[list[str], list[str], list[list[Any]]]:
    """The sweep's table: one row per combination of the axis values (header, column keys, rows). A combination
    that cannot be planned (e.g. a tp the accelerator cannot run) gets its reason in the ``error`` column."""
    parsed = S.parse_axes(axes)
    points = S.sweep_specs(spec, parsed, catalogue)
    names = [n for n, _ in parsed]
    columns = [c for c in (SWEEP_SEARCH_COLUMNS if use_search else SWEEP_PLAN_COLUMNS) if c[0] not in names]
    header = [*names, *[h for _, h in columns], "error"]
    rows = []
    for i, (point, p_spec) in enumerate(points, 1):
        values: dict[str, Any] = {}
        error = None
        try:
            if use_search:
                result = S.search(p_spec, catalogue, axis_space(p_spec, names, catalogue), pareto=False)
                best = result.winner
                if best is None:
                    error = "no plan meets the SLOs"
                else:
                    values = {**best.row(), "label": best.label}
            else:
                plan = evaluate(p_spec, catalogue)
                values = {**plan.values, "accelerator": plan.accelerator.id, "dtype": p_spec.dtype,
                          "kv_dtype": p_spec.kv_dtype, "binding_wall": plan.binding_wall,
                          "next_wall": plan.walls.next, "feasible": plan.feasible}
        except PlannerError as exc:
            error = str(exc)
        rows.append([*[_axis_value(p_spec, n, point[n]) for n in names], *[values.get(k) for k, _ in columns], error])
        if progress is not None:
            progress(i, len(points), ", ".join(f"{k}={v}" for k, v in point.items()))
    return header, [*names, *[k for k, _ in columns], "error"], rows


def axis_space(spec: PlanSpec, axes: list[str], catalogue: Catalogue) -> S.SearchSpace:
    """The search space of one sweep point: every candidate, except that each swept field of the search's
    (accelerator, dtype, kv_dtype, tp, pp, ep) is held at the point's value."""
    return S.search_space(
        spec, catalogue,
        accelerators=[spec.accelerator] if "accelerator" in axes else None,
        dtypes=[spec.dtype] if "dtype" in axes else None,
        kv_dtypes=[spec.kv_dtype] if "kv_dtype" in axes else None,
        tps=(spec.tp,) if "tp" in axes and spec.tp is not None else None,
        pps=(spec.pp,) if "pp" in axes and spec.pp is not None else None,
        ep=spec.ep if "ep" in axes else None)


def _axis_value(spec: PlanSpec, name: str, text: str) -> Any:
    """A swept field's value as the spec holds it (numbers as numbers, ids as the catalogue's ids)."""
    value = getattr(spec, name)
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 30, not 30.0: the number as the planner wrote it
    return text if value is None and text.lower() not in ("none", "null", "") else value


def cmd_sweep(args: argparse.Namespace) -> int:
    cat = get_catalogue(args.catalogue or ())
    spec = _spec(args.spec)
    out = _check_output(args.output, args.force, (".csv", ".xlsx")) if args.output else None
    S.parse_axes(args.axis or [])  # bad syntax fails before anything runs
    with _progress("sweeping", not args.json) as step:
        header, keys, rows = sweep(spec, args.axis or [], args.search, cat, step)
    if out is not None:
        if out.suffix.lower() == ".csv":
            buf = io.StringIO()
            writer = csv.writer(buf)
            writer.writerow(header)
            writer.writerows([[T.csv_value(v) for v in r] for r in rows])
            write_text(out, buf.getvalue(), args.force)
        else:
            T.write_workbook(out, [T.Sheet("Sweep", f"{spec.name} re-{'searched' if args.search else 'planned'} at "
                                           f"every combination of {', '.join(a.split('=')[0] for a in args.axis)}",
                                           header, rows, KINDS)], args.force)
    if args.json:
        print(json.dumps([dict(zip(header, r, strict=True)) for r in rows], indent=2, default=str))
    else:
        t = Table(title=f"Sweep of {spec.name} ({len(rows)} plans; -o or --json for every column)",
                  title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        axes = len(S.parse_axes(args.axis or []))  # the axes come first
        shown = [i for i, k in enumerate(keys) if i < axes or k in SWEEP_TERMINAL]
        for i in shown:
            t.add_column(header[i], overflow="fold", justify="left" if keys[i] in TEXT_KEYS else "right")
        for r in rows:
            t.add_row(*[_fmt(keys[i], r[i]) if not isinstance(r[i], str) else r[i] for i in shown])
        _console().print(t)
    if out is not None:
        print(f"whichwall: wrote {out}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------------------------- files


def _check_output(path: str, force: bool, suffixes: tuple[str, ...]) -> Path:
    """The output path (``planner.files.check_target``), before anything is computed."""
    return files.check_target(path, suffixes, "a table: .xlsx, or .csv for a sweep", force)


def write_text(path: Path, text: str, force: bool = False) -> None:
    """``text`` to ``path`` (``planner.files.write_atomic``)."""
    files.write_atomic(path, text, force=force)


# ------------------------------------------------------------------------------------------------ registration


def register(sub: Any) -> None:
    """Add the ``search`` and ``sweep`` subcommands to the CLI's subparsers."""
    s = sub.add_parser("search", help="search accelerators × dtypes × tp × pp × ep × batch (aggregated and "
                       "disaggregated) for the cheapest plans that meet the SLOs")
    s.add_argument("spec", nargs="?", help="plan spec, YAML (default: the embedded default plan); its accelerators: "
                   "and dtypes: lists are the candidates")
    s.add_argument("--accelerators", metavar="IDS", help="candidate accelerators, comma-separated (default: the "
                   "spec's list, else every accelerator with a price)")
    s.add_argument("--dtypes", metavar="DTYPES", help="candidate weight dtypes, comma-separated (default: the "
                   "spec's list, else bf16,fp8,int4,fp4)")
    s.add_argument("--kv-dtypes", metavar="DTYPES", help="candidate KV-cache dtypes (default: the spec's, bf16, "
                   "fp8)")
    s.add_argument("--no-disaggregated", action="store_true", help="aggregated plans only")
    s.add_argument("--calibrated-only", action="store_true", help="only accelerators whose efficiencies were "
                   "fitted to measurements (plans on default efficiencies are marked †)")
    s.add_argument("--top", type=int, default=10, help="plans to list (default 10)")
    s.add_argument("--json", action="store_true", help="print the result as JSON")
    s.add_argument("-o", "--output", metavar="OUT.xlsx", help="also write the tables to a workbook")
    s.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    s.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    s.set_defaults(func=cmd_search)

    w = sub.add_parser("sweep", help="re-plan (or re-search) a spec over axes of values: a sensitivity table")
    w.add_argument("spec", nargs="?", help="plan spec, YAML (default: the embedded default plan)")
    w.add_argument("--axis", action="append", metavar="NAME=V1,V2",
                   help=f"a spec field and its values, repeatable; fields: {', '.join(S.SWEEP_FIELDS)}")
    w.add_argument("--search", action="store_true", help="search each point for its cheapest plan instead of "
                   "planning the spec's accelerator/dtype/tp")
    w.add_argument("--json", action="store_true", help="print the table as JSON")
    w.add_argument("-o", "--output", metavar="TABLE.csv|.xlsx", help="also write the table (.csv or .xlsx)")
    w.add_argument("--force", action="store_true", help="overwrite --output if it exists")
    w.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    w.set_defaults(func=cmd_sweep)
