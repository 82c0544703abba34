"""BEST_CONFIG and PARETO as Excel calls them: a header row and ranked plans, candidates as a range or one
comma-separated cell, single cells only for the numbers, errors that name the argument."""

from __future__ import annotations

import pytest
from _udfs_cases import assert_clean

import udfs
from planner import search as S
from planner.errors import PlannerError

ARGS = ("llama-3.1-70b", 20.0, 1024.0, 256.0, 1000.0, 50.0)


def test_best_config_is_a_ranked_table_within_the_candidates() -> None:
    got = udfs.BEST_CONFIG(*ARGS, 50_000.0, [["h100"], ["h200"], [None]], "fp8")
    assert_clean(got)
    header = got[0]
    assert header == ["rank", *S.TABLE_HEADER]
    assert [r[0] for r in got[1:]] == list(range(1, len(got)))
    cost = header.index("USD/month")
    assert [r[cost] for r in got[1:]] == sorted(r[cost] for r in got[1:])
    assert {r[header.index("accelerator")] for r in got[1:]} <= {"h100-sxm", "h200-sxm"}
    assert {r[header.index("weights")] for r in got[1:]} == {"fp8"}
    # a row of ids, or one cell of comma-separated ids, is the same candidate list
    assert udfs.BEST_CONFIG(*ARGS, 50_000.0, "h100, h200", [["fp8"]]) == got


def test_pareto_is_a_front_with_a_header() -> None:
    got = udfs.PARETO(*ARGS, None, "h100,h200,b200")
    assert_clean(got)
    users = [r[S.TABLE_HEADER.index("tokens/s per user")] for r in got[1:]]
    assert got[0] == S.TABLE_HEADER and users == sorted(users, reverse=True) and len(users) >= 2


@pytest.mark.parametrize(("args", "message"), [
    ((*ARGS, None, "h100,h10"), "h100"),
    ((*ARGS, None, [[3.0]]), "gpus"),
    ((*ARGS, None, None, "fp9"), "fp9"),
    (("llama-3.1-70b", [[1.0], [2.0]], 1024.0, 256.0, 1000.0, 50.0), "single cell"),
    (("llama-3.1-70b", None, 1024.0, 256.0, 1000.0, 50.0), "qps is required"),
    (("llama-3.1-70b", 20.0, 1024.5, 256.0, 1000.0, 50.0), "input_tokens"),
])
def test_bad_arguments_are_planner_errors_that_name_them(args: tuple[object, ...], message: str) -> None:
    for fn in (udfs.BEST_CONFIG, udfs.PARETO):
        with pytest.raises(PlannerError, match=message):
            fn(*args)
