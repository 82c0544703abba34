"""The search (``planner.search``): its winner is never worse than a brute-force scalar scan, everything it returns
meets the SLOs and fits, disaggregated serving wins and loses where it should, the Pareto front is a front, the
what-if of the binding wall, and bad input."""

from __future__ import annotations

import math

import pytest

from planner import roofline, topology
from planner import search as S
from planner import walls as W
from planner.catalogue import get_catalogue
from planner.efficiency import expected_efficiency
from planner.errors import PlannerError
from planner.evaluator import scaleout_bytes_per_s
from planner.plan import evaluate
from planner.spec import PlanSpec, default_spec

CAT = get_catalogue()
SMALL = ["h100-sxm", "h200-sxm", "l40s", "a100-80gb-sxm"]


def spec(**over: object) -> PlanSpec:
    data: dict[str, object] = {"model": "llama-3.1-70b", "accelerator": "h100-sxm", "kv_dtype": "fp8", "qps": 20,
                               "input_tokens": 1024, "output_tokens": 256, "ttft_slo_ms": 1000,
                               "tpot_slo_ms": 50, **over}
    return PlanSpec(**data)  # type: ignore[arg-type]


def run(s: PlanSpec, **space: object) -> S.SearchResult:
    return S.search(s, CAT, S.search_space(s, CAT, **space))  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------- never worse than scan


@pytest.mark.parametrize("over", [{}, {"budget_usd_month": 60_000, "qps": 40}, {"model": "qwen3-235b-a22b"},
                                  {"input_tokens": 4096, "tpot_slo_ms": 30, "ttft_slo_ms": 2000}])
def test_winner_is_never_worse_than_a_brute_force_scalar_scan(over: dict[str, object]) -> None:
    s = spec(**over)
    dtypes = ["bf16", "fp8"]
    scan = []
    for acc_id in SMALL:
        acc = CAT.accelerator(acc_id)
        for dtype in dtypes:
            for tp in topology.tp_choices(CAT.model(s.model), acc):
                plan = evaluate(s.model_copy(update={"accelerator": acc_id, "dtype": dtype, "tp": tp}), CAT)
                if plan.feasible:
                    scan.append((plan.values["usd_month"], acc_id, dtype, tp))
    assert scan, "the scenario has feasible scalar plans"
    cheapest = min(scan)[0]
    # the whole space (pp, ep, disaggregated too) can only do as well or better
    full = run(s, accelerators=SMALL, dtypes=dtypes, kv_dtypes=["fp8"])
    assert full.winner is not None and full.winner.feasible
    assert full.winner.usd_month <= cheapest * (1 + 1e-12)
    # restricted to what the scan saw, the search finds exactly the scan's best cost
    same = run(s, accelerators=SMALL, dtypes=dtypes, kv_dtypes=["fp8"], pps=(1,), expert_parallel=False,
               disaggregated=False)
    assert same.winner is not None
    assert math.isclose(same.winner.usd_month, cheapest, rel_tol=1e-12)


# ------------------------------------------------------------------------------------ what it returns is feasible


def _memory_ok(c: S.Candidate, s: PlanSpec) -> bool:
    """Weights and the KV cache of the plan's sequences fit the usable memory of every GPU (recomputed with
    ``planner.topology``; with pp stages the weights spread over tp · pp GPUs and each GPU holds one microbatch's
    KV per stage)."""
    model = CAT.model(s.model)
    acc = CAT.accelerator(c.accelerator)
    context = s.input_tokens + s.output_tokens
    microbatch = c.batch // c.pp
    weights = topology.weight_bytes_per_gpu(model, c.dtype, c.tp * c.pp).item()
    kv = microbatch * topology.kv_bytes_per_sequence_per_gpu(model, context, c.kv_dtype, c.tp).item()
    ok = weights + kv <= topology.usable_bytes(acc) * (1 + 1e-12)
    if c.mode == S.DISAGGREGATED:
        pacc = CAT.accelerator(c.prefill_accelerator)
        pw = topology.weight_bytes_per_gpu(model, c.dtype, c.prefill_tp).item()
        pkv = topology.kv_bytes_per_sequence_per_gpu(model, s.input_tokens, c.kv_dtype, c.prefill_tp).item()
        ok = ok and pw + pkv <= topology.usable_bytes(pacc)
    return bool(ok)


@pytest.mark.parametrize("over", [{}, {"model": "deepseek-v3", "qps": 5, "tpot_slo_ms": 80, "ttft_slo_ms": 3000},
                                  {"model": "llama-3.1-8b", "input_tokens": 8192, "output_tokens": 128,
                                   "budget_usd_month": 30_000}])
def test_every_plan_returned_meets_the_slos_fits_and_keeps_the_budget(over: dict[str, object]) -> None:
    s = spec(**over)
    result = S.search(s, CAT)
    c = result.columns  # every plan the search would return, checked as arrays...
    returned = c["meets_slos"].astype(bool)
    assert returned.any()
    assert (c["tpot_ms"][returned] <= s.tpot_slo_ms).all() and (c["ttft_ms"][returned] <= s.ttft_slo_ms).all()
    assert (c["batch"][returned] <= c["max_batch_memory"][returned]).all() and (c["batch"][returned] >= 1).all()
    assert (c["u_memory_capacity"][returned] <= 1.0).all()
    plans = result.plans(top=300)  # ...and the cheapest, recomputed one by one
    assert plans and result.pareto()
    for c in [*plans, *result.pareto()]:
        assert c.meets_slos and c.fits_memory, c.label
        assert c.tpot_ms <= s.tpot_slo_ms and c.ttft_ms <= s.ttft_slo_ms, c.label
        assert 1 <= c.batch <= c.max_batch_memory, c.label
        assert _memory_ok(c, s), c.label
    for c in plans:
        assert s.budget_usd_month is None or c.usd_month <= s.budget_usd_month
        assert c.replicas >= 1 and c.gpus >= c.tp * c.pp
    costs = [c.usd_month for c in plans]
    assert costs == sorted(costs)


def test_the_pareto_front_is_a_front() -> None:
    front = S.search(default_spec(), CAT).pareto()
    assert len(front) >= 3
    for a in front:
        for b in front:
            dominated = (b.tokens_per_s_per_gpu >= a.tokens_per_s_per_gpu
                         and b.tokens_per_s_per_user >= a.tokens_per_s_per_user
                         and (b.tokens_per_s_per_gpu, b.tokens_per_s_per_user)
                         != (a.tokens_per_s_per_gpu, a.tokens_per_s_per_user))
            assert not dominated, (a.label, b.label)
    users = [p.tokens_per_s_per_user for p in front]
    assert users == sorted(users, reverse=True)


# ------------------------------------------------------------------------------------------------ disaggregation


def test_disaggregation_wins_with_long_prompts_and_a_tight_tpot() -> None:
    """70B, 8k-token prompts, TPOT 25 ms on H100s. Aggregated, every decode step also carries batch/256 of an
    8k-token prefill (~100 ms each on tp4): to keep TPOT under 25 ms the batch must stay tiny, so each replica
    serves few requests. Disaggregated, the decode pool's step carries no prefill at all and runs a batch
    several times larger; the prefill pool is sized for qps x prefill time, and the 1.3 GB KV cache of each prompt
    crosses 400 Gb/s NICs in tens of ms, well inside the TTFT SLO. Disaggregation needs far fewer GPUs."""
    s = spec(qps=10, input_tokens=8192, output_tokens=256, ttft_slo_ms=3000, tpot_slo_ms=25)
    result = run(s, accelerators=["h100-sxm"], dtypes=["fp8"])
    agg, dis = result.best(S.AGGREGATED), result.best(S.DISAGGREGATED)
    assert agg is not None and dis is not None
    assert dis.usd_month <= 0.75 * agg.usd_month, (agg.usd_month, dis.usd_month)
    assert result.winner == dis
    assert dis.batch >= 3 * agg.batch  # the reason: no prefill interference in the decode step
    assert dis.kv_transfer_ms is not None and 0 < dis.kv_transfer_ms < 0.1 * s.ttft_slo_ms
    # the same holds over the whole catalogue
    whole = S.search(s, CAT)
    assert whole.winner is not None and whole.winner.mode == S.DISAGGREGATED


@pytest.mark.parametrize("qps", [2, 5])
def test_disaggregation_loses_with_short_prompts(qps: float) -> None:
    """70B, 128-token prompts, 512-token answers. A prefill is a few tens of ms of GPU time per request, so
    aggregated replicas lose little to prefill interference and run nearly the decode pool's batch. Disaggregated,
    the prefill pool is a whole instance (at least one, one prompt at a time) that sits mostly idle at these
    rates, plus the KV transfer: it costs more for the same traffic."""
    s = spec(qps=qps, input_tokens=128, output_tokens=512, ttft_slo_ms=500, tpot_slo_ms=50)
    result = run(s, accelerators=["h100-sxm"], dtypes=["fp8"])
    agg, dis = result.best(S.AGGREGATED), result.best(S.DISAGGREGATED)
    assert agg is not None and dis is not None
    assert agg.usd_month <= 0.8 * dis.usd_month, (agg.usd_month, dis.usd_month)
    assert result.winner == agg
    assert dis.prefill_replicas == 1 and qps * dis.prefill_ms / 1000 < 0.5  # the idle prefill pool
    whole = S.search(s, CAT)
    assert whole.winner is not None and whole.winner.mode == S.AGGREGATED


def test_a_disaggregated_plan_recomputed_from_its_parts() -> None:
    """Pool sizes, TTFT (request overhead + prefill + KV transfer + M/D/1 queue), TPOT (the bare decode step) and
    cost, recomputed from the roofline's expected times and the catalogue."""
    s = spec(qps=10, input_tokens=8192, output_tokens=256, ttft_slo_ms=3000, tpot_slo_ms=25)
    dis = run(s, accelerators=["h100-sxm", "h200-sxm"], dtypes=["fp8"]).best(S.DISAGGREGATED)
    assert dis is not None
    model = CAT.model(s.model)
    pacc, dacc = CAT.accelerator(dis.prefill_accelerator), CAT.accelerator(dis.accelerator)
    context = s.input_tokens + s.output_tokens / 2
    tpot = float(roofline.decode_ms(model, dacc, dis.dtype, dis.batch, context, dis.tp, dis.kv_dtype))
    assert math.isclose(dis.tpot_ms, tpot, rel_tol=1e-9)
    t_p = float(roofline.prefill_ms(model, pacc, s.input_tokens, dis.dtype, dis.prefill_tp, dis.kv_dtype)) / 1e3
    assert math.isclose(dis.prefill_ms, t_p * 1e3, rel_tol=1e-9)
    eff = expected_efficiency(pacc.id)
    kv = float(roofline.kv_bytes_per_sequence(model, s.input_tokens, dis.kv_dtype))
    nic = min(dis.prefill_tp * pacc.scaleout.bytes_per_s, dis.tp * dacc.scaleout.bytes_per_s) * eff.link_fraction
    transfer = kv / nic + eff.scaleup_latency_s
    assert math.isclose(dis.kv_transfer_ms, transfer * 1e3, rel_tol=1e-9)
    rho = s.qps * t_p / dis.prefill_replicas
    assert rho < 1
    ttft = eff.request_overhead_s + t_p + transfer + rho * t_p / (2 * (1 - rho))
    assert math.isclose(dis.ttft_ms, ttft * 1e3, rel_tol=1e-9)
    slack = s.ttft_slo_ms / 1e3 - (eff.request_overhead_s + t_p + transfer)
    smallest = max(1, math.ceil(s.qps * t_p * (t_p + 2 * slack) / (2 * slack) - 1e-9))
    assert dis.prefill_replicas == smallest  # the smallest pool within the TTFT SLO
    decode_rps = dis.batch / (s.output_tokens * tpot / 1e3)
    assert dis.replicas == max(1, math.ceil(s.qps / decode_rps - 1e-9))
    cost = (dis.prefill_replicas * dis.prefill_tp * pacc.usd_per_gpu_hour
            + dis.replicas * dis.tp * dacc.usd_per_gpu_hour) * 730
    assert math.isclose(dis.usd_month, cost, rel_tol=1e-12)
    assert dis.gpus == dis.prefill_replicas * dis.prefill_tp + dis.replicas * dis.tp


def test_mixed_accelerator_pools_are_candidates() -> None:
    result = run(spec(qps=10, input_tokens=8192, output_tokens=256, ttft_slo_ms=3000, tpot_slo_ms=25),
                 accelerators=["h100-sxm", "h200-sxm", "b200"], dtypes=["fp8"])
    mixed = [p for p in result.plans(top=None, mode=S.DISAGGREGATED) if p.prefill_accelerator != p.accelerator]
    assert mixed


# -------------------------------------------------------------------------------------------- walls and what-ifs


def test_relaxing_the_binding_wall_reports_the_gain_and_the_next_wall() -> None:
    result = S.search(default_spec(), CAT)
    relaxation = S.relax(result, CAT)
    assert relaxation is not None and relaxation.wall == result.winner.binding_wall
    assert relaxation.after is not None and relaxation.next_wall in W.WALLS
    assert relaxation.after.usd_month <= relaxation.before.usd_month * (1 + 1e-12)
    assert relaxation.change in relaxation.summary() and "binds" in relaxation.summary()


def test_a_budget_nothing_fits_makes_budget_the_wall_and_relaxing_it_finds_the_plan() -> None:
    s = spec(budget_usd_month=500)
    result = run(s, accelerators=["h100-sxm"], dtypes=["fp8"])
    assert result.plans() == []
    winner = result.winner
    assert winner is not None and winner.binding_wall == W.BUDGET and not winner.within_budget
    relaxation = S.relax(result, CAT)
    assert relaxation is not None and relaxation.wall == W.BUDGET and relaxation.after is not None
    assert relaxation.after.binding_wall != W.BUDGET


def test_memory_capacity_relaxed_doubles_the_memory() -> None:
    acc = CAT.accelerator("h100-sxm")
    bigger = S.relaxed_accelerator(acc, W.MEMORY_CAPACITY)
    assert bigger.memory_gb == 2 * acc.memory_gb and bigger.id == acc.id
    faster = S.relaxed_accelerator(acc, W.NETWORK)
    assert faster.scaleup.gbs_per_direction == 2 * acc.scaleup.gbs_per_direction
    assert faster.scaleout.bytes_per_s == 2 * scaleout_bytes_per_s(acc)


def test_no_plan_meets_impossible_slos_and_the_nearest_say_why() -> None:
    s = spec(tpot_slo_ms=1, ttft_slo_ms=5)
    result = run(s, accelerators=SMALL, dtypes=["fp8"])
    assert result.winner is None and result.plans() == [] and result.pareto() == []
    near = result.nearest()
    assert {c.accelerator for c in near} == set(SMALL)
    assert all(c.binding_wall in W.WALLS and not c.meets_slos for c in near)
    assert S.best_config_table(s, catalogue=CAT)[1][0] == "misses SLOs"
    with pytest.raises(PlannerError, match="Pareto"):
        S.pareto_table(s, CAT)


def test_best_config_table_is_ranked_with_a_header() -> None:
    s = S.search_spec("llama-3.1-70b", 20, 1024, 256, 1000, 50, 50_000, ["h100", "h200"], "fp8")
    table = S.best_config_table(s, catalogue=CAT)
    assert table[0][0] == "rank" and table[0][1:] == S.TABLE_HEADER
    assert [r[0] for r in table[1:]] == list(range(1, len(table)))
    cost = table[0].index("USD/month")
    assert [r[cost] for r in table[1:]] == sorted(r[cost] for r in table[1:])
    assert {r[table[0].index("accelerator")] for r in table[1:]} <= {"h100-sxm", "h200-sxm"}


# --------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"accelerators": ["h10"]}, "h100"),
    ({"accelerators": ["h100-sxm", "no-such-gpu"]}, "unknown accelerator"),
    ({"accelerators": []}, "empty"),
    ({"accelerators": ""}, "empty"),
    ({"dtypes": ["fp9"]}, "unknown dtype"),
    ({"dtypes": []}, "empty"),
    ({"kv_dtypes": []}, "empty"),
    ({"accelerators": ["gaudi3"]}, "no \\$/GPU-hour"),
    ({"accelerators": ["a100-80gb-sxm"], "dtypes": ["fp32"]}, None),
    ({"pps": ()}, "pp"),
    ({"tps": (0,)}, "tp"),
])
def test_bad_candidates_are_planner_errors(kwargs: dict[str, object], message: str | None) -> None:
    s = spec()
    if message is None:  # a valid but hopeless space: a clean answer, not an error
        result = S.search(s, CAT, S.search_space(s, CAT, **kwargs))  # type: ignore[arg-type]
        assert result.winner is None or result.winner.dtype == "fp32"
        return
    with pytest.raises(PlannerError, match=message):
        S.search_space(s, CAT, **kwargs)  # type: ignore[arg-type]


def test_unknown_candidates_in_the_spec_are_planner_errors() -> None:
    with pytest.raises(PlannerError, match="unknown accelerator"):
        S.search(spec(accelerators=["h100", "zz-9000"]), CAT)


def test_a_request_longer_than_the_context_window_is_refused_as_plan_evaluate_does() -> None:
    s = spec(input_tokens=200_000)
    with pytest.raises(PlannerError, match="context window") as searched:
        S.search(s, CAT)
    with pytest.raises(PlannerError) as planned:
        evaluate(s, CAT)
    assert str(searched.value) == str(planned.value)


@pytest.mark.parametrize(("axes", "message"), [
    (["accelerator"], "NAME=V1,V2"),
    (["=h100"], "unknown axis"),
    (["colour=red"], "unknown axis"),
    (["dtype=fp8,,bf16"], "empty value"),
    (["dtype="], "empty value"),
    (["dtype=fp8", "dtype=bf16"], "twice"),
    ([], "at least one"),
    (["qps=" + ",".join(str(i) for i in range(1, 200)), "tpot_slo_ms=" + ",".join(str(i) for i in range(1, 60))],
     "at most"),
])
def test_bad_sweep_axes_are_planner_errors(axes: list[str], message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        S.parse_axes(axes)


@pytest.mark.parametrize(("axis", "message"), [("tpot_slo_ms=abc", "tpot_slo_ms"), ("accelerator=h10", "h100"),
                                               ("dtype=fp9", "fp9"), ("qps=-1", "qps")])
def test_bad_sweep_values_name_the_axis(axis: str, message: str) -> None:
    with pytest.raises(PlannerError, match=message):
        specs = S.sweep_specs(default_spec(), S.parse_axes([axis]))
        for _, p in specs:  # an unknown accelerator id is caught when planned
            evaluate(p, CAT)


def test_sweep_specs_cover_every_combination() -> None:
    points = S.sweep_specs(default_spec(), S.parse_axes(["accelerator=h100-sxm,h200-sxm", "tpot_slo_ms=30,50",
                                                         "budget_usd_month=none,9000"]))
    assert len(points) == 8
    assert {(p.accelerator, p.tpot_slo_ms, p.budget_usd_month) for _, p in points} == {
        (a, t, b) for a in ("h100-sxm", "h200-sxm") for t in (30.0, 50.0) for b in (None, 9000.0)}


def test_the_pareto_front_respects_the_budget() -> None:
    """A plan the budget cannot buy is no option: with a budget every point on the front is within it; without one
    the front may hold plans costing more."""
    spec = default_spec()
    front = S.search(spec, CAT).pareto()
    assert front and all(c.usd_month <= spec.budget_usd_month * (1 + 1e-12) for c in front)
    unbounded = S.search(spec.model_copy(update={"budget_usd_month": None}), CAT).pareto()
    assert max(c.usd_month for c in unbounded) > spec.budget_usd_month


def test_a_tp_some_accelerators_cannot_run_leaves_the_others_searched() -> None:
    """tp 16 spans GB200's 72-GPU NVLink domain but no 8-GPU H200 host: the search keeps GB200's layouts instead of
    failing as a whole; a tp no candidate runs is an error naming the valid ones."""
    spec = default_spec().model_copy(update={"model": "deepseek-v3"})
    space = S.search_space(spec, get_catalogue(), accelerators=["h200-sxm", "gb200"], tps=[16])
    result = S.search(spec, get_catalogue(), space, pareto=False)
    rows = [result._candidate(result.columns, i) for i in range(len(result))]
    assert rows and {c.accelerator for c in rows} == {"gb200"} and {c.tp for c in rows} == {16}
    with pytest.raises(PlannerError, match=r"none of tp 3 runs llama-3.1-70b on h100-sxm; valid tp: 1, 2, 4, 8"):
        S.search_space(default_spec(), get_catalogue(), accelerators=["h100-sxm"], tps=[3]).options(
            get_catalogue().model("llama-3.1-70b"), default_spec(), get_catalogue())
