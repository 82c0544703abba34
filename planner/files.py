"""Reading the small text files people give whichwall (specs, catalogues, measurement tables): bounded in size,
and every way the read can fail answered with one PlannerError naming the file and what was expected."""

from __future__ import annotations

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
