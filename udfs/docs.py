"""The function reference, generated from the code: ``python -m udfs.docs > docs/functions.md``.

Everything comes from the functions themselves: the signature (argument order and defaults), the docstring (what it
returns, with its unit) and the ``@xw.arg(doc=...)`` of each argument (its meaning and unit), as recorded by
``udfs._xw``; sections follow the section comments of ``udfs/functions.py``. ``tests/test_udfs_docs.py`` fails when
the committed file differs from what this prints.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable
from typing import Any

import udfs
from planner import api
from udfs import _xw
from udfs import functions as F

_SECTION = re.compile(r"^# -{10,} (\S.*)$")

INTRO = """\
# whichwall Excel functions

Generated from the code by `python -m udfs.docs > docs/functions.md`; do not edit by hand (a test fails when this
file is stale). whichwall has {count} Excel functions (`udfs.__all__`). Install them with `templates/README.md`
(classic xlwings add-in on Windows, xlwings Lite on Windows, macOS and the web).

How every function behaves:

- **Optional arguments** are in brackets; leave them out or leave the cell empty to get the default shown.
- **Numbers arrive as floats** (a tp of `4.0` is 4); whole-number arguments refuse fractions.
- **Ranges**: an argument marked *cell or range* takes a range too, and the function then returns an array of the
  broadcast shape: ranges of the same shape go cell by cell, a column and a row make a table
  (`=DECODE_FLOOR_MS("llama-3.1-70b","h100",,A2:A9,,B1:D1)` is a batch × tp sweep in one formula).
- **Tables** (`WALLS`, `PLAN_TABLE`, `GPU_INFO` / `MODEL_INFO` without a field, the id lists) spill a 2-D array
  whose first row is a header.
- **Excel before Microsoft 365 / 2021** has no spilling: select the output range, type the formula and press
  **Ctrl+Shift+Enter** (an array formula) for a range result or a table; Enter alone shows only the first cell.
- **Units** are decimal: GB = 1e9 bytes, TB/s = 1e12 bytes/s, TFLOP/s = 1e12 FLOP/s; times in ms; money in USD; a
  month is 730 hours. `never` means an infinite answer (a crossover that never comes), `n/a` a value that does not
  apply (a budget utilization without a budget).
- **Error cells**: a cell holding an error (`#N/A`, `#DIV/0!`, ...) in any argument, or anywhere in a range
  argument, is an error that names the argument (`batch: the cell holds the error #N/A; ...`), never the default.
  **Currency- and Accounting-formatted** cells are numbers like any other.
- **Errors**: bad input (an unknown id, a negative, zero or non-finite size, text where a number belongs, an empty
  cell inside a range, a ragged range, ranges that do not line up) is an error whose message names the argument and
  what would be right; unknown ids name the closest ones. A number stored as text is refused too (`1.500` is 1500 in
  some locales and 1.5 in others): convert it with `=VALUE()`. The classic add-in shows the message in the cell;
  xlwings Lite / Office.js shows `#VALUE!` with the message when you hover over the cell's error flag. No function
  returns NaN.
- **Your own catalogue**: set `WHICHWALL_CATALOGUE` (environment variable, or a `"WHICHWALL_CATALOGUE","file.yaml"`
  line in xlwings.conf) to YAML/JSON files of accelerators and models, validated as the CLI validates them;
  `CATALOGUE_FILES()` shows what is in force. After editing a catalogue file press **Ctrl+Alt+F9**: the functions
  re-read it, but Excel does not know which cells depend on it.
"""


def _position(f: Callable[..., Any]) -> tuple[bool, str, int]:
    """Where ``f`` is defined: ``udfs/functions.py`` first (the design loop's order), then other modules."""
    code = inspect.unwrap(f).__code__
    return (inspect.getmodule(inspect.unwrap(f)) is not F, code.co_filename, code.co_firstlineno)


def excel_functions() -> list[Callable[..., Any]]:
    """``udfs.__all__`` in the order ``udfs/functions.py`` defines them (the design loop's order), then the
    functions of other modules (e.g. ``udfs/search_functions.py``) in their order."""
    funcs = [getattr(udfs, name) for name in udfs.__all__]
    return sorted(funcs, key=_position)


def sections() -> list[tuple[str, list[Callable[..., Any]]]]:
    """(section title, functions) from the section comments of the module each function is defined in."""
    starts: dict[Any, list[tuple[int, str]]] = {}
    out: dict[str, list[Callable[..., Any]]] = {}
    for f in excel_functions():
        module = inspect.getmodule(inspect.unwrap(f))
        if module not in starts:
            lines = inspect.getsource(module).splitlines()  # type: ignore[arg-type]
            starts[module] = [(i + 1, m.group(1)) for i, line in enumerate(lines) if (m := _SECTION.match(line))]
        line = inspect.unwrap(f).__code__.co_firstlineno
        title = next((t for start, t in reversed(starts[module]) if start < line), "functions")
        out.setdefault(title, []).append(f)
    return list(out.items())


def signature(f: Callable[..., Any]) -> str:
    """``NAME(a, b, [c="bf16"], [d=1], [e])``: optional arguments in brackets with their default."""
    parts = []
    for p in inspect.signature(f).parameters.values():
        if p.default is inspect.Parameter.empty:
            parts.append(p.name)
        elif p.default is None:
            parts.append(f"[{p.name}]")
        elif isinstance(p.default, str):
            parts.append(f'[{p.name}="{p.default}"]')
        else:
            parts.append(f"[{p.name}={p.default}]")
    return f"{f.__name__}({', '.join(parts)})"


def description(f: Callable[..., Any]) -> str:
    """The docstring as one paragraph."""
    return " ".join((inspect.getdoc(f) or "").split())


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render() -> str:
    """docs/functions.md."""
    out = [INTRO.replace("{count}", str(len(udfs.__all__)))]
    out.append("## Index\n")
    for title, funcs in sections():
        names = ", ".join(f"[`{f.__name__}`](#{f.__name__.lower()})" for f in funcs)
        out.append(f"- **{title.capitalize()}**: {names}")
    out.append("")
    for title, funcs in sections():
        out.append(f"## {title.capitalize()}\n")
        for f in funcs:
            out.append(f"### {f.__name__}\n")
            out.append(f"`{signature(f)}`\n")
            out.append(description(f) + "\n")
            args = _xw.meta(f)["args"]
            params = inspect.signature(f).parameters
            if params:
                out.append("| argument | meaning and unit | takes |")
                out.append("|---|---|---|")
                for name, p in params.items():
                    opts = args.get(name, {})
                    takes = "cell or range" if opts.get("ndim") == 2 else "cell"
                    if p.default is not inspect.Parameter.empty:
                        takes += ", optional"
                    out.append(f"| `{name}` | {_cell(opts.get('doc', ''))} | {takes} |")
                out.append("")
            extra = EXTRA.get(f.__name__)
            if extra:
                out.append(extra())
    return "\n".join(out).rstrip() + "\n"


def _fields(kind: str, fields: dict[str, tuple[str, str, Any]]) -> str:
    lines = [f"{kind} fields:\n", "| field | unit | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {unit} | {_cell(meaning)} |" for name, (unit, meaning, _) in fields.items()]
    return "\n".join(lines) + "\n"


def _plan_keys() -> str:
    keys = ", ".join(f"`{k}`" for k in api.plan_keys())
    return f"Keys: {keys}, and `advice:1`, `advice:2`, ... (the plan's suggestions, in order).\n"


EXTRA: dict[str, Callable[[], str]] = {
    "GPU_INFO": lambda: _fields("Accelerator", api.GPU_FIELDS),
    "MODEL_INFO": lambda: _fields("Model", api.MODEL_FIELDS),
    "PLAN_VALUE": _plan_keys,
}


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
