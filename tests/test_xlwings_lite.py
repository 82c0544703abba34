"""xlwings Lite: ``templates/lite/main.py`` executed as the module ``main`` with decorators that set ``__xlfunc__``
(xlwings' BSD ``xlwings.udfs.xlfunc``/``xlarg``, which build the same record as Lite's own), then registered the way
xlwings Lite registers a module (``_xlwings_stubs.lite_registered``: every member carrying ``__xlfunc__``, a name
twice fails the whole module). Both ways ``udfs`` can meet Lite: decorated when imported (``xlwings.func`` is Lite's
own) and undecorated (a no-op ``xlwings.func``; ``main.py`` alone registers)."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest
from _udfs_cases import GOOD
from _xlwings_stubs import DuplicateFunction, classic_xlwings, lite_registered

import udfs
from planner.catalogue import builtin_catalogue
from planner.plan import evaluate
from planner.spec import spec_from_data
from udfs import _xw

ROOT = Path(__file__).resolve().parents[1]
MAIN = ROOT / "templates" / "lite" / "main.py"


def run_main():
    """Execute main.py as xlwings Lite does, as the module ``main``."""
    spec = importlib.util.spec_from_file_location("main", MAIN)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("main")
    sys.modules["main"] = module
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("main", None)
        else:
            sys.modules["main"] = saved
    return module


@pytest.fixture(params=[True, False], ids=["udfs-decorated-at-import", "udfs-undecorated"], scope="module")
def lite(request):
    with classic_xlwings(decorated_at_import=request.param) as env:
        yield env, run_main()
        assert env.watch.seen == [], f"xlwings' licensed parts were imported: {env.watch.seen}"


def test_every_function_is_registered_exactly_once(lite):
    env, main = lite
    registered = lite_registered(main)  # raises DuplicateFunction as Lite does
    assert sorted(registered) == sorted(udfs.__all__)
    for name, f in registered.items():
        assert f is getattr(env.udfs, name) is getattr(main, name)


def test_a_leftover_reference_would_fail_the_whole_module(lite):
    _, main = lite
    main._leftover = main.WEIGHT_GB  # what the old module-level loop left behind (`_f`)
    try:
        with pytest.raises(DuplicateFunction, match="WEIGHT_GB"):
            lite_registered(main)
    finally:
        del main._leftover


def test_lite_gets_the_arguments_docs_and_error_cell_reading(lite):
    _, main = lite
    for name, f in lite_registered(main).items():
        xlfunc = f.__xlfunc__
        assert [a["name"] for a in xlfunc["args"]] == list(inspect.signature(f).parameters)
        recorded = _xw.meta(f)["args"]
        for a in xlfunc["args"]:
            assert a["doc"] == recorded[a["name"]]["doc"], (name, a["name"])
            assert a["options"]["err_to_str"] is True, (name, a["name"])  # #N/A arrives as "#N/A", not None
            assert a["options"].get("ndim") == recorded[a["name"]].get("ndim"), (name, a["name"])
        description = xlfunc["ret"]["doc"]  # Lite's custom-function description
        assert description == " ".join(inspect.getdoc(f).split()), name
        assert "\n" not in description and len(description) <= 255, name


def test_the_registered_functions_compute(lite):
    _env, main = lite
    cat = builtin_catalogue()
    m = cat.model("llama-3.1-70b")
    read = (m.total_params - m.vocab_size * m.hidden_size + m.hidden_size) * 2  # strict: one embedding row
    assert main.DECODE_FLOOR_MS(*GOOD["DECODE_FLOOR_MS"]) == pytest.approx(read / 3.35e12 * 1e3)  # ≈ 41.5 ms
    price = cat.accelerator("h100").usd_per_gpu_hour
    assert main.COST_PER_MONTH(*GOOD["COST_PER_MONTH"]) == pytest.approx(8 * price * 730)
    plan = evaluate(spec_from_data(dict(zip(("model", "accelerator", "qps", "input_tokens", "output_tokens",
                                             "ttft_slo_ms", "tpot_slo_ms", "budget_usd_month", "dtype"),
                                            GOOD["WALLS"], strict=False))))
    table = main.WALLS(*GOOD["WALLS"])
    assert [row[0] for row in table[1:]] == list(plan.walls.utilization)
    for wall, u, _, binding in table[1:]:
        assert (binding, u) == (wall == plan.binding_wall, plan.walls.utilization[wall] if
                                plan.walls.utilization[wall] is not None else "n/a"), wall
    with pytest.raises(ValueError, match=r"^batch: the cell holds the error #N/A"):
        main.DECODE_FLOOR_MS("llama-3.1-8b", "h100-sxm", "bf16", "#N/A")  # what Lite hands over with err_to_str
    with pytest.raises(ValueError, match=r"^batch: the cell holds the error #DIV/0!"):  # Office.js' error object
        main.DECODE_FLOOR_MS("llama-3.1-8b", "h100-sxm", "bf16", {"type": "Error", "basicValue": "#DIV/0!"})


def test_main_leaves_no_extra_function_members(lite):
    _, main = lite
    public = {n for n, v in vars(main).items() if callable(v) and not n.startswith("_") and n not in ("arg", "func")}
    assert public == set(udfs.__all__)
