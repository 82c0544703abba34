"""The reference tables in ``../shared/data`` (a folder beside the repository, not in it) that some tests check the
catalogue and the models against.

A test that reads one is marked ``@needs_shared_data("models.csv")`` (or calls ``require_shared_data("models.csv")``
in its body). When a named file is missing the test is SKIPPED on a developer's machine, saying which file and
where it was looked for, and FAILS in CI (the environment variable CI set, as CI sets it): a silently skipped check
there would let a drifted catalogue pass. tests/conftest.py applies the mark."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def in_ci() -> bool:
    """True where CI runs the suite (CI=true, or any value but '', 0, false, no)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def require_shared_data(*names: str) -> None:
    """Return if every named file is in ../shared/data; else skip the running test, or fail it in CI."""
    missing = [name for name in names if not (SHARED_DATA / name).is_file()]
    if not missing:
        return
    message = (f"{', '.join(f'../shared/data/{name}' for name in missing)} absent (looked in {SHARED_DATA}; "
               "shared/ must sit beside the repository)")
    if in_ci():
        pytest.fail(message + "; CI is set, so this is a failure, not a skip", pytrace=False)
    pytest.skip(message)


def needs_shared_data(*names: str) -> pytest.MarkDecorator:
    """Mark a test that reads these files of ../shared/data (checked by tests/conftest.py before it runs)."""
    return pytest.mark.shared_data(*names)
