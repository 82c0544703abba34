"""Write plan workbooks to disk: atomically, never over an existing file unless asked, one spec or a folder of them.

A workbook is built in memory first (bad input fails there, before any file exists), then written by
``planner.files.write_atomic``: a temporary file in the destination folder, flushed to disk, moved into place in one
step (``os.link`` when the name must not exist yet, ``os.replace`` with ``force``). A crash or an error leaves either
the old file or none, never half a file.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from planner import files
from planner.catalogue import Catalogue, get_catalogue
from planner.errors import PlannerError
from planner.spec import PlanSpec, load_spec
from workbook.build import workbook_bytes

SPEC_SUFFIXES = (".yaml", ".yml")
WORKBOOK_SUFFIX = ".xlsx"


@dataclass(frozen=True)
class LoadedSpec:
    """A spec and the catalogue to plan it with (the active one, plus rows added by hand to a workbook)."""

    spec: PlanSpec
    catalogue: Catalogue


def load_any_spec(path: str | Path, catalogue: Catalogue | None = None) -> LoadedSpec:
    """A spec from a YAML file or from a filled plan workbook (.xlsx)."""
    base = catalogue or get_catalogue()
    p = Path(path)
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        from workbook.read import read_plan_full

        read = read_plan_full(p, base)
        return LoadedSpec(read.spec, base.merged(read.catalogue) if read.catalogue else base)
    return LoadedSpec(load_spec(p), base)


def _check_target(out: Path, force: bool) -> None:
    files.check_target(out, (WORKBOOK_SUFFIX,), "a plan is an Excel workbook", force)


def write_atomic(out: str | Path, data: bytes, *, force: bool = False) -> Path:
    """Write ``data`` to ``out`` (.xlsx) in one step: ``planner.files.write_atomic``, the one writer of every output."""
    target = Path(out)
    _check_target(target, force)
    return files.write_atomic(target, data, force=force)


def export_plan(spec: PlanSpec, out: str | Path, *, force: bool = False, catalogue: Catalogue | None = None) -> Path:
    """Build ``spec``'s plan workbook and write it to ``out`` (.xlsx). Nothing is written if anything fails."""
    target = Path(out)
    _check_target(target, force)  # fail fast, before the build
    return write_atomic(target, workbook_bytes(spec, catalogue), force=force)


def spec_files(spec_dir: str | Path) -> list[Path]:
    """The spec files (*.yaml, *.yml) directly in ``spec_dir``, sorted by name."""
    d = Path(spec_dir)
    if not d.exists():
        raise PlannerError(f"spec folder {str(d)!r} does not exist")
    if not d.is_dir():
        raise PlannerError(f"{str(d)!r} is not a folder; `whichwall export` takes a folder of *.yaml specs")
    files = sorted(p for p in d.iterdir() if p.is_file() and p.suffix.lower() in SPEC_SUFFIXES)
    if not files:
        raise PlannerError(f"no specs (*.yaml, *.yml) in {str(d)!r}")
    return files


def export_folder(
    spec_dir: str | Path,
    out_dir: str | Path,
    *,
    force: bool = False,
    catalogue: Catalogue | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> list[Path]:
    """Export every spec in ``spec_dir`` to ``out_dir/<spec name>.xlsx``.

    All or nothing for bad input: every spec is read and built first; if any fails, or any output exists (without
    ``force``), a ``PlannerError`` lists them and no workbook is written. ``progress(done, total, name)`` is called
    as specs are built and written (2 × specs steps).
    """
    files = spec_files(spec_dir)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise PlannerError(f"output {str(out)!r} exists and is not a folder")
    stems: dict[str, Path] = {}
    for f in files:
        if f.stem in stems:
            raise PlannerError(f"{stems[f.stem].name} and {f.name} would both write {f.stem}{WORKBOOK_SUFFIX}; "
                               f"rename one")
        stems[f.stem] = f
    targets = [out / f"{f.stem}{WORKBOOK_SUFFIX}" for f in files]
    if not force:
        existing = [t.name for t in targets if t.exists()]
        if existing:
            raise PlannerError(f"{len(existing)} output(s) already exist in {str(out)!r} ({', '.join(existing[:5])}"
                               f"{', …' if len(existing) > 5 else ''}); pass --force to overwrite; nothing written")
    total = 2 * len(files)
    built: list[bytes] = []
    errors: list[str] = []
    cat = catalogue or get_catalogue()
    for i, f in enumerate(files, start=1):
        try:
            built.append(workbook_bytes(load_spec(f), cat))
        except PlannerError as exc:
            errors.append(f"{f.name}: {exc}")
        if progress:
            progress(i, total, f.name)
    if errors:
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise PlannerError(f"{len(errors)} of {len(files)} specs are bad, nothing written: "
                           + " | ".join(errors[:5]) + more)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, (target, data) in enumerate(zip(targets, built, strict=True), start=1):
        written.append(write_atomic(target, data, force=force))
        if progress:
            progress(len(files) + i, total, target.name)
    return written


__all__ = ["LoadedSpec", "export_folder", "export_plan", "load_any_spec", "spec_files", "write_atomic"]
