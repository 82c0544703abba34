"""A bounded fuzz run (hypothesis) over the loaders of files people hand whichwall: the plan-workbook reader (bytes
flipped, XML parts cut and spliced, input cells given random content, zip members added and removed), the
measurement-CSV loader and the user-catalogue loader. The only outcomes allowed are a valid result or a
``PlannerError`` with a one-line message; a catalogue that loads also plans without NaN or a floating-point overflow.

Each test is bounded by max_examples (a few seconds each; the reader parses a plan in ~0.1 s); the spec loader's
fuzz is tests/test_fuzz_spec.py."""

from __future__ import annotations

import io
import math
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from _bad_input import ACCELERATOR, MEASURED_HEADER, MEASURED_ROWS, MODEL, SPEC, plan_bytes, rezip
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from planner import fidelity
from planner.catalogue import CATALOGUE_ENV, builtin_catalogue, catalogue_from_data, load_catalogue_file
from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import PlanSpec, spec_from_data
from workbook.build import EXTRA_INPUTS, INPUT_NAMES
from workbook.cache import sheet_parts
from workbook.read import ReadPlan, read_plan_full


def fuzz(examples: int) -> Callable[[Any], Any]:
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def _plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(CATALOGUE_ENV, raising=False)


def outcome(call: Callable[[], Any]) -> Any:
    """``call()``'s result, or the PlannerError it raised (checked to be one clean line); anything else fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # duplicate zip member names, openpyxl's extensions
            return call()
    except PlannerError as exc:
        message = str(exc)
        assert message and "\n" not in message and len(message) < 2000, message
        return exc


# ------------------------------------------------------------------------------------------- the workbook reader


PLAN = plan_bytes()
PARTS = sheet_parts(zipfile.ZipFile(io.BytesIO(PLAN)))
MEMBERS = zipfile.ZipFile(io.BytesIO(PLAN)).namelist()
XML_MEMBERS = ["xl/workbook.xml", PARTS["Plan"], PARTS["About"], PARTS["Catalogue"], "xl/styles.xml",
               "[Content_Types].xml", "xl/_rels/workbook.xml.rels"]


def read_bytes(tmp: Path, data: bytes) -> Any:
    path = tmp / "fuzzed.xlsx"
    path.write_bytes(data)
    got = outcome(lambda: read_plan_full(path))
    if isinstance(got, ReadPlan):
        assert isinstance(got.spec, PlanSpec)
    return got


@fuzz(60)
@given(st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), min_size=1, max_size=8))
def test_reader_with_flipped_bytes(tmp_path: Path, flips: list[tuple[float, int]]) -> None:
    data = bytearray(PLAN)
    for where, byte in flips:
        data[int(where * len(data))] = byte
    read_bytes(tmp_path, bytes(data))


XML_TEXT = st.text(alphabet=st.sampled_from([*'<>/="\'&;#x0123456789 abcfnrstvBZ:!?[]-', "\x00", "é", "\u2028"]),
                   max_size=40)


@fuzz(40)
@given(st.sampled_from(XML_MEMBERS), st.sampled_from(["delete", "insert", "replace", "duplicate"]),
       st.floats(0, 1), st.floats(0, 0.05), XML_TEXT)
def test_reader_with_spliced_xml(tmp_path: Path, member: str, op: str, start: float, span: float,
                                 text: str) -> None:
    def change(name: str, body: bytes) -> bytes:
        if name != member:
            return body
        i = int(start * len(body))
        j = min(len(body), i + int(span * len(body)))
        new = text.encode("utf-8")
        return {"delete": body[:i] + body[j:], "insert": body[:i] + new + body[i:],
                "replace": body[:i] + new + body[j:], "duplicate": body[:j] + body[i:j] + body[j:]}[op]
    read_bytes(tmp_path, rezip(PLAN, change))


def _cells() -> dict[str, tuple[str, str]]:
    import re

    workbook = zipfile.ZipFile(io.BytesIO(PLAN)).read("xl/workbook.xml").decode()
    names = dict(re.findall(r'<definedName name="([^"]+)">([^<]*)</definedName>', workbook))
    wanted = [*INPUT_NAMES.values(), *(n for _, n, _, _ in EXTRA_INPUTS), "whichwall_format"]
    return {n: (names[n].split("!")[0], names[n].split("!")[1].replace("$", "")) for n in wanted}


CELLS = _cells()
CELL_CONTENT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(lambda x: f"><v>{x!r}</v>"),
    st.integers(-10**30, 10**30).map(lambda x: f"><v>{x}</v>"),
    st.text(max_size=30).map(lambda t: ' t="inlineStr"><is><t>' + t.replace("&", "&amp;").replace("<", "&lt;")
                             + "</t></is>"),
    st.sampled_from([' t="b"><v>1</v>', ' t="e"><v>#REF!</v>', "><f>1/0</f>", "><f>A1</f><v>3</v>",
                     ' t="str"><f>A1</f><v>auto</v>', ' t="s"><v>0</v>', ' t="s"><v>99999</v>', "><v></v>",
                     ' t="d"><v>2026-01-01T00:00:00</v>', ' t="n"><v>1e400</v>']),
)


@fuzz(40)
@given(st.dictionaries(st.sampled_from(sorted(CELLS)), CELL_CONTENT, min_size=1, max_size=4))
def test_reader_with_random_input_cells(tmp_path: Path, contents: dict[str, str]) -> None:
    import re

    by_member: dict[str, list[tuple[str, str]]] = {}
    for name, content in contents.items():
        sheet, coord = CELLS[name]
        by_member.setdefault(PARTS[sheet], []).append((coord, content))

    def change(member: str, body: bytes) -> bytes:
        text = body.decode("utf-8")
        for coord, content in by_member.get(member, []):
            cell = f'<c r="{coord}"{content}</c>'
            text = re.sub(rf'<c r="{coord}"[^>]*?(?:/>|>.*?</c>)', lambda _, cell=cell: cell, text, count=1,
                          flags=re.DOTALL)
        return text.encode("utf-8", "surrogatepass")
    got = read_bytes(tmp_path, rezip(PLAN, change))
    if isinstance(got, ReadPlan):
        for field in ("qps", "ttft_slo_ms", "tpot_slo_ms"):
            assert math.isfinite(getattr(got.spec, field)) and getattr(got.spec, field) > 0


@pytest.mark.filterwarnings("ignore:Duplicate name")
@fuzz(30)
@given(st.sets(st.sampled_from(MEMBERS), max_size=3),
       st.lists(st.tuples(st.one_of(st.sampled_from(MEMBERS), st.text(min_size=1, max_size=20)),
                          st.binary(max_size=200)), max_size=3))
def test_reader_with_zip_members_removed_and_added(tmp_path: Path, removed: set[str],
                                                   added: list[tuple[str, bytes]]) -> None:
    assume(all("\x00" not in name for name, _ in added))
    read_bytes(tmp_path, rezip(PLAN, lambda name, body: None if name in removed else body, extra=added))


# ------------------------------------------------------------------------------------------- measurement CSVs


COLUMNS = [*MEASURED_HEADER.strip().split(","), "model_path", "system", "backend", "precision", "tp_size",
           "attention_dp_size", "moe_ep_size", "pp_size", "silicon_ttft_ms", "silicon_tpot_ms", "junk"]
CSV_CELLS = st.one_of(
    st.sampled_from(["llama-3.1-8b", "qwen2.5-7b", "deepseek-v3", "h100", "h100_sxm", "b200", "vllm", "trtllm",
                     "tgi", "bf16", "fp8", "fp7", "", "1", "2", "8", "512", "0", "-1", "0.5", "1e300", "nan",
                     "inf", "1e-300", "abc", '"', "\n", ",", "\ufeff"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12),
)


@fuzz(200)
@given(st.permutations(MEASURED_HEADER.strip().split(",")), st.lists(st.sampled_from(COLUMNS), max_size=4),
       st.lists(st.lists(CSV_CELLS, min_size=8, max_size=14), max_size=6))
def test_measurement_loader(header: list[str], extra: list[str], rows: list[list[str]]) -> None:
    text = ",".join([*header, *extra]) + "\n" + "".join(",".join(r) + "\n" for r in rows)
    got = outcome(lambda: fidelity.parse_measurements(text, "fuzz.csv", builtin_catalogue()))
    if isinstance(got, fidelity.Loaded):
        for row in got.rows:
            for value in (row.isl, row.osl, row.concurrency, row.ttft_ms, row.tpot_ms):
                assert math.isfinite(value) and value >= 0


@fuzz(100)
@given(st.integers(0, 3), st.sampled_from(["tp", "isl", "osl", "concurrency", "ttft_ms", "tpot_ms", "engine",
                                           "dtype", "model", "accelerator"]), CSV_CELLS)
def test_measurement_loader_one_bad_cell(row: int, column: str, value: str) -> None:
    lines = MEASURED_ROWS.splitlines()
    cells = lines[row].split(",")
    cells[MEASURED_HEADER.strip().split(",").index(column)] = value
    lines[row] = ",".join(cells)
    outcome(lambda: fidelity.parse_measurements(MEASURED_HEADER + "\n".join(lines) + "\n", "fuzz.csv"))


# ------------------------------------------------------------------------------------------- user catalogues


scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**400, 10**400),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=10), inner, max_size=4)),
                      max_leaves=12)


def _plans_cleanly(data: dict[str, Any], **spec_changes: Any) -> None:
    """Load ``data`` as a user catalogue; if it loads, plan with it: a result without NaN/overflow, or a
    PlannerError."""
    got = outcome(lambda: catalogue_from_data(data, "fuzz.yaml"))
    if isinstance(got, PlannerError):
        return
    catalogue = builtin_catalogue().merged(got)

    def plan() -> Any:
        with np.errstate(over="raise", invalid="raise", divide="raise"), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            return evaluate(spec_from_data({**SPEC, "tp": None, **spec_changes}), catalogue)
    result = outcome(plan)
    if not isinstance(result, PlannerError):
        for key, v in result.values.items():
            assert not (isinstance(v, float) and math.isnan(v)), key


def _with(entry: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    out = {**entry}
    if len(path) == 1:
        if value is _DELETE:
            out.pop(path[0], None)
        else:
            out[path[0]] = value
        return out
    inner = out.get(path[0])
    out[path[0]] = _with(inner if isinstance(inner, dict) else {}, path[1:], value)
    return out


_DELETE = object()
ACC_PATHS = [["memory_gb"], ["memory_bandwidth_tbs"], ["dense_peak_tflops", "bf16"], ["dense_peak_tflops", "fp8"],
             ["dense_peak_tflops", "fp4"], ["scaleup"], ["scaleup", "gbs_per_direction"], ["scaleup", "domain"],
             ["price", "usd_per_gpu_hour"], ["family"], ["id"], ["aliases"], ["source"], ["colour"]]
MODEL_PATHS = [["layers"], ["hidden_size"], ["vocab_size"], ["intermediate_size"], ["attention", "heads"],
               ["attention", "kv_heads"], ["attention", "head_dim"], ["attention", "kind"], ["moe"],
               ["moe", "experts"], ["sliding_window"], ["max_context_tokens"], ["published", "total_params_b"],
               ["tie_word_embeddings"], ["id"], ["colour"]]
NUMBERS = st.one_of(st.integers(-10**20, 10**20), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(1, 10**6), st.floats(1e-3, 1e15), st.sampled_from([1e-3, 1e15, 1e15 + 1, 2**63, 0.5]))


@fuzz(150)
@given(st.sampled_from(ACC_PATHS), st.one_of(NUMBERS, values, st.just(_DELETE)))
def test_user_accelerator_with_one_field_changed(path: list[str], value: Any) -> None:
    _plans_cleanly({"accelerators": [_with(ACCELERATOR, path, value)]}, accelerator="my-gpu")


@fuzz(150)
@given(st.sampled_from(MODEL_PATHS), st.one_of(NUMBERS, values, st.just(_DELETE)))
def test_user_model_with_one_field_changed(path: list[str], value: Any) -> None:
    _plans_cleanly({"models": [_with(MODEL, path, value)]}, model="my-model")


@fuzz(100)
@given(st.dictionaries(st.sampled_from(["accelerators", "models", "families", "efficiency", "num_hidden_layers",
                                        "other"]), values, max_size=4))
def test_user_catalogue_of_random_structure(data: dict[str, Any]) -> None:
    _plans_cleanly(data)


@fuzz(100)
@given(st.text(max_size=300))
def test_user_catalogue_file_of_random_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    outcome(lambda: load_catalogue_file(path))


def test_a_fuzzed_catalogue_round_trips_through_yaml(tmp_path: Path) -> None:
    """The fuzz's base entries are valid (so the mutations above test one change at a time)."""
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump({"accelerators": [ACCELERATOR], "models": [MODEL]}))
    cat = load_catalogue_file(path)
    assert set(cat.accelerators) == {"my-gpu"} and set(cat.models) == {"my-model"}
