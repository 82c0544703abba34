"""Suite-wide set-up: hypothesis profiles, the ../shared/data rule, and what makes the suite run well in parallel.

* Hypothesis: the "ci" profile (loaded when CI is set) is derandomized, so CI runs the same examples every time, has
  no example database and no deadline (workers share the cores); "dev" (otherwise) explores new examples each run
  and replays failures from .hypothesis/. Both cap a test at 100 examples unless it sets its own max_examples (every
  test does today); HYPOTHESIS_PROFILE=name picks a profile by hand.
* ``@needs_shared_data(...)`` (tests/_shared_data.py): a missing ../shared/data file skips locally, fails in CI.
* `make test` runs the suite in pytest-xdist workers (one process per core, worksteal):
  - ``once_per_run``: a fixture built with it (the plans recalculated by LibreOffice in
    tests/test_workbook_libreoffice.py) is built by one worker and read by the others, not built once per worker;
  - the heavy modules start first, one per worker (``HEAVY_MODULES``);
  - each test gets the environment variables back as they were, so no test leaks state into the next one that
    happens to run on its worker.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _shared_data import in_ci, require_shared_data
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=100, deadline=None, derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
# Loaded here, before any test module is imported: a module's own settings(...) inherit the profile's values.
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if in_ci() else "dev"))


@pytest.fixture(autouse=True)
def _environment_restored() -> Iterator[None]:
    """Put back every environment variable a test changed without monkeypatch. udfs' ``use_conf_catalogue`` sets
    $WHICHWALL_CATALOGUE in ``os.environ`` itself (as Excel needs), so a test of it would otherwise leave its user
    catalogue active for whichever tests follow it on the same xdist worker (e.g. an extra 'my-gpu' in GPU_IDS)."""
    before = dict(os.environ)
    yield
    if os.environ != before:
        for name in set(os.environ) - set(before):
            del os.environ[name]
        os.environ.update(before)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("shared_data"):
        require_shared_data(*mark.args)


#: Modules with a long serial stretch (a fixture built once, or single tests that take many seconds), heaviest
#: first. Under xdist each goes to the head of one worker's share of the run, so they start at once, on different
#: workers, and are never what an idle worker steals at the end (worksteal takes from the tail of a queue).
HEAVY_MODULES = (
    "test_workbook_libreoffice.py",  # one LibreOffice run over every plan (once_per_run), then ~100 checks
    "test_workbook_formulas_pkg.py",  # the `formulas` package evaluating whole plans
    "test_workbook_formulas.py",  # a module fixture evaluating every plan in process
    "test_workbook_readback.py",
    "test_bad_input_fuzz.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist with N workers, lay the heavy modules at the heads of the N shares that worksteal hands out
    first (in order: len//N items to the first worker, then an even split of the rest); each module's tests stay
    together and in their order. A serial run keeps pytest's order."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2 or len(items) < 2 * workers:
        return
    heavy: dict[str, list[pytest.Item]] = {}
    for item in items:
        if item.path.name in HEAVY_MODULES:
            heavy.setdefault(item.path.name, []).append(item)
    heads: list[list[pytest.Item]] = [[] for _ in range(workers)]
    for i, name in enumerate(name for name in HEAVY_MODULES if name in heavy):
        heads[i % workers].extend(heavy[name])
    rest = [item for item in items if item.path.name not in heavy]
    ordered: list[pytest.Item] = []
    for k in range(workers):
        share = (len(items) - len(ordered)) // (workers - k)
        fill = len(rest) if k == workers - 1 else max(0, share - len(heads[k]))
        ordered += heads[k] + rest[:fill]
        del rest[:fill]
    items[:] = ordered


@pytest.fixture(scope="session")
def once_per_run(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, Callable[[Path], Any]], Any]:
    """``once_per_run(key, build)``: ``build(folder)``'s result (JSON: str, numbers, lists, dicts), computed once per
    test run across all xdist workers. ``build`` writes what it makes into ``folder`` (empty, kept for the run) and
    returns what the tests need, e.g. paths as strings; the other workers wait for it and read the same result. A
    build that raises is retried by the next worker that asks (and raises there too)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base  # the parent is this run's, shared

    def once(key: str, build: Callable[[Path], Any]) -> Any:
        folder = root / f"once-{key}"
        done = folder / "result.json"
        with FileLock(str(root / f"once-{key}.lock")):
            if not done.is_file():
                shutil.rmtree(folder, ignore_errors=True)  # what a failed build left
                folder.mkdir()
                result = build(folder)
                part = folder / "result.json.part"
                part.write_text(json.dumps(result), encoding="utf-8")
                part.replace(done)
            return json.loads(done.read_text(encoding="utf-8"))

    return once
