"""Recalculate an .xlsx workbook in a real spreadsheet engine (LibreOffice, headless).

openpyxl writes formulas but never computes them: a workbook it saves holds formula text and
*no cached values*. To check that a plan workbook really computes what the planner says, tests
hand the file to LibreOffice, have it recalculate every formula, save a copy, and read the
computed values back with openpyxl (``data_only=True``).

The pieces that make this reliable, each explained where it is done:

* a private, throwaway LibreOffice user profile per call (:func:`_write_profile`), which
  (a) forces a full recalculation on load and (b) lets several conversions run at once;
* ``--convert-to xlsx:"Calc MS Excel 2007 XML"`` so the result is again OOXML that openpyxl reads;
* the conversion runs in its own process group with a timeout, and the whole group is killed
  afterwards, so no ``soffice.bin`` is ever left behind;
* every failure (no LibreOffice, timeout, no output file) is a :class:`RecalcError` that says
  what happened, including LibreOffice's own output.

Pure standard library plus openpyxl (only :func:`recalculated_values` needs openpyxl).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["RecalcError", "find_soffice", "recalculate", "recalculate_many", "recalculated_values"]

#: Executable names tried, in order, on PATH. Distributions install ``soffice`` (the real
#: launcher) and usually a ``libreoffice`` wrapper; either accepts the same arguments.
_SOFFICE_NAMES = ("soffice", "libreoffice")

#: Export filter: the OOXML (.xlsx) writer. Naming the filter explicitly avoids LibreOffice
#: choosing another xlsx-capable filter (e.g. "Office Open XML Spreadsheet").
_XLSX_FILTER = 'xlsx:Calc MS Excel 2007 XML'

#: The profile settings. LibreOffice decides on load whether to recompute formulas or keep the
#: values cached in the file: ``OOXMLRecalcMode`` (for .xlsx) and ``ODFRecalcMode`` (for .ods)
#: under /org.openoffice.Office.Calc/Formula/Load, where 0 = always recalculate, 1 = never,
#: 2 = ask. The shipped default is 1 for both: LibreOffice 7.4 then keeps the values cached in the
#: file, so a workbook saved earlier by Excel/LibreOffice and edited since shows stale results
#: (cells with no cached value, as openpyxl writes them, are computed either way). With 2, a
#: headless load fails outright ("source file could not be loaded").
_REGISTRY_XCU = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
           xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="OOXMLRecalcMode" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Formula/Load">
  <prop oor:name="ODFRecalcMode" oor:op="fuse"><value>0</value></prop></item>
</oor:items>
"""


class RecalcError(RuntimeError):
    """LibreOffice could not recalculate the workbook (missing, timed out, or wrote no file)."""


def find_soffice() -> str | None:
    """Return the full path of the LibreOffice launcher on PATH, or None if it is not installed.

    Looked up on PATH (not hard-coded install dirs) so CI images and developer machines behave
    the same; the caller decides whether a missing LibreOffice is a skip or a failure.
    """
    for name in _SOFFICE_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _write_profile(profile_dir: Path) -> str:
    """Create a minimal LibreOffice user profile in ``profile_dir``; return its file:// URL.

    Why a private profile at all:

    * The recalc-on-load switch lives in the user profile (``registrymodifications.xcu``), and
      we must not depend on -- or modify -- the profile of whoever runs the tests.
    * LibreOffice allows one running instance per profile. A second ``soffice`` started with the
      same profile hands its work to the first instance (or fails on the profile lock), so two
      test processes converting at once would interfere. One throwaway profile per call makes
      concurrent conversions independent.

    LibreOffice fills in the rest of the profile on first start (this costs a second or two,
    paid on every call because the profile is thrown away; correctness is worth it).
    """
    user_dir = profile_dir / "user"
    user_dir.mkdir(parents=True, exist_ok=True)
    (user_dir / "registrymodifications.xcu").write_text(_REGISTRY_XCU, encoding="utf-8")
    # -env:UserInstallation wants a URL; Path.as_uri() percent-encodes spaces etc. correctly.
    return profile_dir.resolve().as_uri()


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill the whole process group of ``proc`` (it was started as a session leader).

    ``soffice`` is a launcher: it starts ``oosplash``, which starts ``soffice.bin``. Killing
    only the launcher would orphan ``soffice.bin`` (which keeps the profile locked and burns
    CPU), so the group is killed, and this is also done after a normal exit to sweep any
    straggler.
    """
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # the group is already gone


def recalculate(src: Path, dst_dir: Path, timeout_s: float = 120) -> Path:
    """Load ``src`` in headless LibreOffice, recalculate every formula, save an .xlsx in ``dst_dir``.

    Returns the path of the new file (``dst_dir / (src.stem + ".xlsx")``). ``src`` itself is
    never modified; ``dst_dir`` must not be ``src``'s own folder when ``src`` is an .xlsx,
    because the output would overwrite the input.

    Raises :class:`RecalcError` if LibreOffice is not installed, does not finish within
    ``timeout_s`` seconds (the process group is then killed), or exits without writing the file
    (LibreOffice exits 0 even when it cannot load a file, so the output is checked, not the
    exit status).

    One call takes about a second for a small workbook (LibreOffice start-up dominates; the
    fresh profile adds ~0.1 s). Calls may run concurrently, from threads or processes, as long
    as they do not write the same output path.
    """
    src = Path(src).resolve()
    dst_dir = Path(dst_dir).resolve()
    if not src.is_file():
        raise RecalcError(f"cannot recalculate {src}: no such file")
    if src.stat().st_size == 0:
        # LibreOffice "converts" an empty file into an empty workbook without complaint.
        raise RecalcError(f"cannot recalculate {src}: the file is empty")
    soffice = find_soffice()
    if soffice is None:
        raise RecalcError(
            "LibreOffice is not installed (neither 'soffice' nor 'libreoffice' is on PATH); "
            "install it, e.g. `apt-get install -y libreoffice-calc-nogui`"
        )
    dst_dir.mkdir(parents=True, exist_ok=True)
    out = dst_dir / (src.stem + ".xlsx")
    if out == src:
        raise RecalcError(
            f"refusing to recalculate {src} into its own folder: the output would overwrite it; "
            "pass another dst_dir"
        )
    # A leftover file from an earlier run would make a failed conversion look like a success.
    out.unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="whichwall-lo-profile-") as profile:
        cmd = [
            soffice,
            f"-env:UserInstallation={_write_profile(Path(profile))}",
            "--headless",  # no window, no display needed
            "--invisible",
            "--norestore",  # never offer crash recovery of an earlier run (it would block)
            "--nologo",
            "--nodefault",  # do not open an empty start document
            "--nolockcheck",  # skip the check for other instances using the installation
            "--convert-to",
            _XLSX_FILTER,
            "--outdir",
            str(dst_dir),
            str(src),
        ]
        env = dict(os.environ)
        # Headless needs no display; without DISPLAY it cannot try to reach an X session.
        env.pop("DISPLAY", None)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=profile,
                env=env,
                start_new_session=True,  # own process group, so _kill_group reaches soffice.bin
            )
        except OSError as exc:
            raise RecalcError(f"cannot start LibreOffice ({soffice}): {exc}") from exc
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            try:  # collect what it printed; the pipes close once the group is dead
                output, _ = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                output = b""
            raise RecalcError(
                f"LibreOffice did not finish recalculating {src.name} within {timeout_s:g} s "
                f"(killed). Output: {_text(output)}"
            ) from None
        finally:
            _kill_group(proc)
        # The profile directory is deleted on leaving this block; nothing may still use it.

    if not out.is_file() or out.stat().st_size == 0:
        raise RecalcError(
            f"LibreOffice exited with status {proc.returncode} but wrote no {out.name} in "
            f"{dst_dir} (is {src.name} a readable spreadsheet?). Output: {_text(output)}"
        )
    return out


def recalculate_many(srcs: list[Path], dst_dir: Path, timeout_s: float = 300) -> list[Path]:
    """Recalculate several workbooks in ONE LibreOffice run (start-up, ~1 s, is paid once).

    Same contract as :func:`recalculate` for each file; the sources' names (stems) must be distinct and
    ``dst_dir`` must not be a source's folder. Returns the output paths in the order of ``srcs``.
    """
    srcs = [Path(s).resolve() for s in srcs]
    dst_dir = Path(dst_dir).resolve()
    if not srcs:
        return []
    stems = [s.stem for s in srcs]
    if len(set(stems)) != len(stems):
        raise RecalcError("recalculate_many needs distinct file names (outputs are named after them)")
    for src in srcs:
        if not src.is_file() or src.stat().st_size == 0:
            raise RecalcError(f"cannot recalculate {src}: missing or empty")
        if src.parent == dst_dir:
            raise RecalcError(f"refusing to recalculate {src} into its own folder; pass another dst_dir")
    soffice = find_soffice()
    if soffice is None:
        raise RecalcError(
            "LibreOffice is not installed (neither 'soffice' nor 'libreoffice' is on PATH); "
            "install it, e.g. `apt-get install -y libreoffice-calc-nogui`"
        )
    dst_dir.mkdir(parents=True, exist_ok=True)
    outs = [dst_dir / (s.stem + ".xlsx") for s in srcs]
    for out in outs:
        out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="whichwall-lo-profile-") as profile:
        cmd = [
            soffice, f"-env:UserInstallation={_write_profile(Path(profile))}", "--headless", "--invisible",
            "--norestore", "--nologo", "--nodefault", "--nolockcheck", "--convert-to", _XLSX_FILTER,
            "--outdir", str(dst_dir), *(str(s) for s in srcs),
        ]
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                cwd=profile, env=env, start_new_session=True)
        try:
            output, _ = proc.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            raise RecalcError(f"LibreOffice did not finish recalculating {len(srcs)} files within {timeout_s:g} s "
                              "(killed)") from None
        finally:
            _kill_group(proc)
    missing = [o.name for o in outs if not o.is_file() or o.stat().st_size == 0]
    if missing:
        raise RecalcError(f"LibreOffice wrote no {', '.join(missing)} in {dst_dir}. Output: {_text(output)}")
    return outs


def _text(output: bytes | None) -> str:
    text = (output or b"").decode("utf-8", "replace").strip()
    return text or "(none)"


def recalculated_values(src: Path, timeout_s: float = 120) -> dict[str, dict[str, object]]:
    """Recalculate ``src`` in LibreOffice and return ``{sheet: {"A1": value, ...}}``.

    The recalculated copy lives in a temporary folder that is removed afterwards. Values are
    read with openpyxl ``data_only=True``, i.e. the values LibreOffice cached when it saved --
    the only way to see computed results, since openpyxl cannot evaluate formulas. Empty cells
    are omitted. Numbers come back as int/float, text as str, booleans as bool, and formula
    errors as their text (e.g. ``"#DIV/0!"``, ``"#N/A"``).
    """
    from openpyxl import load_workbook  # local import: recalculate() needs only the stdlib

    with tempfile.TemporaryDirectory(prefix="whichwall-recalc-") as tmp:
        out = recalculate(Path(src), Path(tmp), timeout_s=timeout_s)
        wb = load_workbook(out, data_only=True)
        try:
            return {
                ws.title: {
                    cell.coordinate: cell.value
                    for row in ws.iter_rows()
                    for cell in row
                    if cell.value is not None
                }
                for ws in wb.worksheets
            }
        finally:
            wb.close()


if __name__ == "__main__":  # manual check: python -m workbook.recalc plan.xlsx
    import json
    import sys

    t0 = time.perf_counter()
    values = recalculated_values(Path(sys.argv[1]))
    print(json.dumps(values, indent=1, default=str))
    print(f"recalculated in {time.perf_counter() - t0:.2f} s", file=sys.stderr)
