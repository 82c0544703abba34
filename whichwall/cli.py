"""The ``whichwall`` command line: ``plan`` prints a plan (and writes a plan workbook with ``-o``), ``read`` reads a
filled plan workbook back, ``export`` turns a folder of specs into workbooks, ``catalogue`` lists and shows catalogue
entries, ``search`` finds the cheapest plans over accelerators, dtypes and layouts, ``sweep`` re-plans a spec along
axes, ``validate`` checks the expected times against measured rows and ``calibrate`` fits them to your own.

Bad input of any kind ends in one line on stderr naming what is wrong and what would be right, and exit code 2;
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planner.catalogue import get_catalogue
from planner.errors import PlannerError, unknown
from planner.plan import PlanResult, evaluate
from planner.report import as_json, format_value, rows
from planner.spec import PlanSpec, default_spec, load_spec
from whichwall import fidelity_cmd, search_cmd

CATALOGUE_KINDS = ("accelerators", "models")
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3


def _version() -> str:
    try:
        return version("whichwall")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False, width=max(100, Console().width))


def print_plan(result: PlanResult, console: Console) -> None:
    """The plan as one table per section of the design loop."""
    table: Table | None = None
    section = None
    for row in rows(result):
        if row.section != section:
            if table is not None:
                console.print(table)
            section = row.section
            table = Table(title=section.capitalize(), title_justify="left", show_header=False, box=None,
                          padding=(0, 2))
            table.add_column("what", style="bold" if section == "walls" else "")
            table.add_column("value", justify="right" if section != "walls" else "left")
            table.add_column("unit", style="dim")
        assert table is not None
        value = Text(format_value(row.value, row.unit), style="bold red" if row.key == "binding_wall" else "")
        table.add_row(Text(row.label), value, Text(row.note if row.unit == "utilization" else row.unit))
    if table is not None:
        console.print(table)


def _load(spec_path: str | None) -> PlanSpec:
    return default_spec() if spec_path is None else load_spec(spec_path)


def cmd_plan(args: argparse.Namespace) -> int:
    catalogue = get_catalogue(args.catalogue or ())
    spec = None
    if args.spec is not None and args.spec.lower().endswith((".xlsx", ".xlsm")):  # a filled plan workbook
        from workbook.export import load_any_spec

        loaded = load_any_spec(args.spec, catalogue)
        spec, catalogue = loaded.spec, loaded.catalogue
    result = evaluate(spec or _load(args.spec), catalogue)
    if args.output:
        from workbook.export import export_plan

        export_plan(result.spec, args.output, force=args.force, catalogue=catalogue)
    if args.json:
        print(json.dumps(as_json(result), indent=2))
    else:
        print_plan(result, _console())
    if args.output:
        print(f"whichwall: wrote {args.output}", file=sys.stderr)
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    """Read a filled plan workbook back into a spec, recompute it with the planner and print the plan."""
    from workbook.export import load_any_spec

    if not args.workbook.lower().endswith((".xlsx", ".xlsm")):
        raise PlannerError(f"{args.workbook!r} is not a plan workbook (.xlsx); `whichwall plan` reads YAML specs")
    loaded = load_any_spec(args.workbook, get_catalogue(args.catalogue or ()))
    result = evaluate(loaded.spec, loaded.catalogue)
    if args.spec_only:
        print(loaded.spec.to_yaml(), end="")
    elif args.json:
        print(json.dumps(as_json(result), indent=2))
    else:
        print_plan(result, _console())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    """Export a folder of specs to a folder of plan workbooks, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from workbook.export import export_folder, spec_files

    total = 2 * len(spec_files(args.spec_dir))
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    # a bar only on a terminal, and gone when the export ends: an error stays the one line on stderr
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as bar:
        task = bar.add_task("building", total=total)

        def step(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, description=("building " if done <= total // 2 else "writing ") + name)

        written = export_folder(args.spec_dir, args.out_dir, force=args.force,
                                catalogue=get_catalogue(args.catalogue or ()), progress=step)
    print(f"whichwall: wrote {len(written)} plan workbook(s) to {args.out_dir}", file=sys.stderr)
    return 0


def _acc_rows(cat: Any) -> Table:
    t = Table(title="Accelerators", title_justify="left")
    for col in ("id", "name", "memory GB", "TB/s", "bf16 TFLOP/s", "fp8 TFLOP/s", "ridge bf16", "scale-up GB/s/dir",
                "$/GPU-h"):
        t.add_column(col, justify="left" if col in ("id", "name") else "right", no_wrap=col == "id",
                     overflow="fold")
    for a in cat.accelerators.values():
        fp8 = a.dense_peak_tflops.get("fp8")
        t.add_row(a.id, a.name, f"{a.memory_gb:g}", f"{a.memory_bandwidth_tbs:g}", f"{a.peak_flops('bf16') / 1e12:g}",
                  f"{fp8:g}" if fp8 else "-", f"{a.ridge('bf16'):.0f}",
                  f"{a.scaleup.gbs_per_direction:g}" if a.scaleup else "-",
                  f"{a.usd_per_gpu_hour:g}" if a.usd_per_gpu_hour else "-")
    return t


def _model_rows(cat: Any) -> Table:
    from planner.roofline import kv_bytes_per_token

    t = Table(title="Models", title_justify="left")
    for col in ("id", "hf repo", "params B", "active B", "attention", "KV bytes/token (bf16)", "experts"):
        t.add_column(col, justify="left" if col in ("id", "hf repo", "attention") else "right", no_wrap=col == "id",
                     overflow="fold")
    for m in cat.models.values():
        experts = f"{m.moe.experts_per_token}/{m.moe.experts}" if m.moe else "-"
        t.add_row(m.id, m.hf_repo, f"{m.total_params / 1e9:.2f}", f"{m.active_params / 1e9:.2f}",
                  m.attention.kind.upper(), f"{kv_bytes_per_token(m):,.0f}", experts)
    return t


def cmd_catalogue(args: argparse.Namespace) -> int:
    cat = get_catalogue(args.catalogue or ())
    console = _console()
    if args.kind is not None and args.kind not in CATALOGUE_KINDS:
        if args.id is not None:
            raise PlannerError(f"unknown catalogue kind {args.kind!r}; use accelerators or models, e.g. "
                               f"`whichwall catalogue models {args.id}`")
        args.kind, args.id = None, args.kind  # `whichwall catalogue h100`: an id on its own
    if args.id:
        kind = args.kind
        entry: Any
        if kind == "models":
            entry = cat.model(args.id)
        elif kind == "accelerators":
            entry = cat.accelerator(args.id)
        else:
            try:
                entry = cat.accelerator(args.id)
            except PlannerError:
                try:
                    entry = cat.model(args.id)
                except PlannerError:
                    raise unknown("accelerator or model", args.id, [*cat.accelerators, *cat.models]) from None
        data = entry.model_dump(mode="json", exclude_none=True)
        if hasattr(entry, "total_params"):
            data["derived"] = {"total_params_b": entry.total_params / 1e9, "active_params_b": entry.active_params / 1e9}
        console.print_json(json.dumps(data)) if not args.json else print(json.dumps(data, indent=2))
        return 0
    if args.json:
        print(json.dumps({"accelerators": list(cat.accelerators), "models": list(cat.models)}, indent=2))
        return 0
    if args.kind in (None, "accelerators"):
        console.print(_acc_rows(cat))
    if args.kind in (None, "models"):
        console.print(_model_rows(cat))
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse errors: one line naming the fix, exit 2, no traceback
        self.exit(EXIT_BAD_INPUT, f"whichwall: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="whichwall", description="Capacity planning for ML serving: which wall binds.")
    parser.add_argument("--version", action="version", version=f"whichwall {_version()}")
    parser.add_argument("--debug", action="store_true", help="show a traceback on internal errors")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("plan", help="run the design loop on a spec (default: the embedded 70B chat plan)")
    p.add_argument("spec", nargs="?", help="plan spec, YAML, or a filled plan workbook .xlsx (default: the embedded "
                   "default plan)")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.add_argument("--catalogue", action="append", metavar="FILE",
                   help="extra catalogue file (YAML/JSON or a config.json); repeatable")
    p.add_argument("-o", "--output", metavar="PLAN.xlsx", help="also write the plan as a live workbook (.xlsx)")
    p.add_argument("--force", action="store_true", help="overwrite the --output file if it exists")
    p.set_defaults(func=cmd_plan)

    r = sub.add_parser("read", help="read a filled plan workbook back, recompute it and print the plan")
    r.add_argument("workbook", help="plan workbook (.xlsx), e.g. one exported by `whichwall plan -o`")
    r.add_argument("--json", action="store_true", help="print the plan as JSON")
    r.add_argument("--spec", dest="spec_only", action="store_true", help="print only the spec it holds, as YAML")
    r.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    r.set_defaults(func=cmd_read)

    e = sub.add_parser("export", help="export a folder of specs (*.yaml) to a folder of plan workbooks")
    e.add_argument("spec_dir", help="folder of plan specs (*.yaml, *.yml)")
    e.add_argument("out_dir", help="folder for the workbooks (created if missing); one <spec>.xlsx per spec")
    e.add_argument("--force", action="store_true", help="overwrite workbooks that exist")
    e.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    e.set_defaults(func=cmd_export)

    c = sub.add_parser("catalogue", help="list the catalogue, or show one entry")
    c.add_argument("kind", nargs="?", metavar="KIND|ID",
                   help="accelerators or models to list only that kind, or an id/alias to show that entry")
    c.add_argument("id", nargs="?", help="with a KIND: show one entry by id or alias")
    c.add_argument("--json", action="store_true", help="print as JSON")
    c.add_argument("--catalogue", action="append", metavar="FILE", help="extra catalogue file; repeatable")
    c.set_defaults(func=cmd_catalogue)
    fidelity_cmd.register(sub)
    search_cmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except PlannerError as exc:
        print(f"whichwall: error: {' '.join(str(exc).split())}", file=sys.stderr)  # one line, always
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("whichwall: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so briefly
        if args.debug:
            raise
        print(f"whichwall: internal error ({type(exc).__name__}: {exc}); rerun with --debug and report it",
              file=sys.stderr)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
