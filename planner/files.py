"""Files: reading the small text files people give whichwall (specs, catalogues, measurement tables), bounded in
size, every way the read can fail answered with one PlannerError naming the file and what was expected; and the one
atomic writer every output goes through (plan workbooks, search and sweep tables, calibrated catalogues)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from planner.errors import PlannerError


def read_text(path: str | Path, kind: str, expected: str, max_bytes: int, encoding: str = "utf-8") -> str:
    """The text of ``path``, a ``kind`` file ("spec", "catalogue", ...) that should be ``expected`` ("a YAML file"),
    refused unread when it is over ``max_bytes``."""
    p = Path(path)
    try:
        if p.is_dir():
            raise PlannerError(f"{kind} {str(p)!r} is a folder; give {expected}")
        size = p.stat().st_size
        if size > max_bytes:
            raise PlannerError(f"{kind} file {str(p)!r} is {size:,} bytes; a {kind} file is at most {max_bytes:,} "
                               f"bytes: give {expected}")
        return p.read_text(encoding=encoding)
    except FileNotFoundError:
        raise PlannerError(f"{kind} file {str(p)!r} does not exist") from None
    except UnicodeDecodeError:
        raise PlannerError(f"{kind} file {str(p)!r} is not UTF-8 text; give {expected}") from None
    except OSError as exc:
        raise PlannerError(f"cannot read {kind} file {str(p)!r}: {exc.strerror or exc}") from None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_target(path: str | Path, suffixes: tuple[str, ...], what: str, force: bool) -> Path:
    """``path`` as an output file: its name ends in one of ``suffixes``, it is not a folder, its folder exists, and
    it does not exist unless ``force``; else a ``PlannerError`` naming what would be right."""
    p = Path(path)
    if p.is_dir():
        raise PlannerError(f"output {str(p)!r} is a folder; give a file name ending in {suffixes[0]}")
    if p.suffix.lower() not in suffixes:
        raise PlannerError(f"output {str(p)!r} must end in {' or '.join(suffixes)} ({what})")
    if not p.parent.is_dir():
        raise PlannerError(f"cannot write {str(p)!r}: the folder {str(p.parent)!r} does not exist")
    if p.exists() and not force:
        raise PlannerError(f"{str(p)!r} already exists; pass --force to overwrite it")
    return p


def write_atomic(path: str | Path, data: bytes | str, *, force: bool = False) -> Path:
    """The one way whichwall writes a file: ``data`` to a temporary file in the same folder, flushed to disk, given
    the ordinary mode the umask allows (not mkstemp's private 0600), then linked into place — which fails if the
    name exists, so an existing file is never replaced without ``force`` and there is no check-then-write race —
    or, with ``force``, renamed over it. Interrupted at any point (an exception, Ctrl-C), it leaves the old file and
    no temporary file."""
    target = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        if force:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise PlannerError(f"{str(target)!r} already exists; pass --force to overwrite it") from None
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                if target.exists():  # a filesystem without hard links
                    raise PlannerError(f"{str(target)!r} already exists; pass --force to overwrite it") from None
                os.replace(tmp, target)
    except OSError as exc:
        raise PlannerError(f"cannot write {str(target)!r}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return target
