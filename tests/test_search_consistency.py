"""One evaluator: a plan is the best row of the search restricted to its accelerator and dtypes (property-tested over
random specs), any searched configuration planned with its layout is the same configuration, the evaluator's step is
the one step-time formula, and the pipeline- and expert-parallel additions are what ``planner.evaluator``'s
docstring writes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_walls import assert_sane

from planner import evaluator as E
from planner import roofline, topology
from planner import search as S
from planner.catalogue import get_catalogue
from planner.efficiency import expected_efficiency
from planner.errors import PlannerError
from planner.plan import evaluate
from planner.spec import PlanSpec
from planner.units import ACTIVATION_BYTES, MS_PER_S

CAT = get_catalogue()

# (model, traffic and SLOs, budget): each exercises different walls
CASES = {
    "70b-chat": ("llama-3.1-70b", dict(qps=20, input_tokens=1024, output_tokens=256, ttft_slo_ms=1000,
                                       tpot_slo_ms=50), 50_000),
    "8b-long-prompt-tight-budget": ("llama-3.1-8b", dict(qps=50, input_tokens=8192, output_tokens=128,
                                                         ttft_slo_ms=600, tpot_slo_ms=20), 2_000),
    "moe-qwen3": ("qwen3-235b-a22b", dict(qps=10, input_tokens=4096, output_tokens=1024, ttft_slo_ms=2000,
                                          tpot_slo_ms=30), 20_000),
    "mla-deepseek": ("deepseek-v3", dict(qps=5, input_tokens=2048, output_tokens=512, ttft_slo_ms=3000,
                                         tpot_slo_ms=80), None),
}
ACCELERATORS = ["h100-sxm", "h200-sxm", "l40s", "a100-80gb-sxm", "mi300x", "b200"]


def spec_for(case: str, **over: object) -> PlanSpec:
    model, traffic, budget = CASES[case]
    data: dict[str, object] = {"model": model, "accelerator": "h100-sxm", "kv_dtype": "fp8", **traffic}
    if budget is not None:
        data["budget_usd_month"] = budget
    data.update(over)
    return PlanSpec(**data)  # type: ignore[arg-type]


def close(a: float | None, b: float | None, tol: float = 1e-9) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=tol, abs_tol=1e-12)


def aggregated_rows(spec: PlanSpec) -> list[S.Candidate]:
    space = S.search_space(spec, CAT, accelerators=ACCELERATORS, dtypes=["bf16", "fp8", "int4"],
                           kv_dtypes=["fp8", "bf16"], pps=(1, 2), disaggregated=False)
    result = S.search(spec, CAT, space, pareto=False)
    return [result._candidate(result.columns, i) for i in range(len(result))]


def assert_plan_is_the_best_row(spec: PlanSpec) -> None:
    """The plan (tp, pp, ep left to auto) equals the best row of a search restricted to its accelerator, weight
    dtype and KV dtype: same layout, batch, replicas, cost, times, binding wall and utilizations."""
    plan = evaluate(spec, CAT)
    assert_sane(plan)  # the walls rule (planner/walls.py) holds on every plan these tests make
    space = S.search_space(spec, CAT, accelerators=[spec.accelerator], dtypes=[spec.dtype],
                           kv_dtypes=[spec.kv_dtype], disaggregated=False)
    result = S.search(spec, CAT, space, pareto=False)
    best = result.best()
    where = spec.model_dump_json(exclude_defaults=True)
    assert (best is None) == (not plan.feasible), where  # the search finds a winner exactly where the plan is one
    if best is None:  # no layout meets the SLOs and the budget
        over = result.plans(top=1, feasible=False)
        if over and over[0].meets_slos:  # over budget: the cheapest that meets the SLOs is the plan
            c = over[0]
            assert (plan.tp, plan.pp, plan.ep, plan.values["gpus"]) == (c.tp, c.pp, c.ep, c.gpus), where
            assert plan.binding_wall == c.binding_wall == "budget", where
        return
    v = plan.values
    assert (plan.tp, plan.pp, plan.ep) == (best.tp, best.pp, best.ep), where
    assert v["batch"] == best.batch and v["replicas"] == best.replicas and v["gpus"] == best.gpus, where
    assert close(v["usd_month"], best.usd_month) and close(v["tpot_ms"], best.tpot_ms), where
    assert close(v["ttft_ms"], best.ttft_ms), where
    assert plan.binding_wall == best.binding_wall, where
    for wall, u in plan.walls.utilization.items():
        assert close(u, best.utilization[wall]), (where, wall, u, best.utilization[wall])


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("acc", ["h100-sxm", "l40s", "mi300x", "b200"])
def test_the_plan_is_the_best_row_of_the_search(case: str, acc: str) -> None:
    for dtype in ("bf16", "fp8"):
        assert_plan_is_the_best_row(spec_for(case, accelerator=acc, dtype=dtype))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(model=st.sampled_from(["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "gemma-2-27b",
                              "deepseek-v3", "gpt-oss-120b"]),
       acc=st.sampled_from(["h100-sxm", "h200-sxm", "l40s", "a100-80gb-sxm", "mi300x", "b200", "gb200", "tpu-v6e"]),
       dtype=st.sampled_from(["bf16", "fp8", "int4"]), kv_dtype=st.sampled_from(["bf16", "fp8"]),
       qps=st.floats(0.5, 200), inp=st.integers(16, 16_000), out=st.integers(8, 4000),
       ttft=st.floats(100, 20_000), tpot=st.floats(5, 300), budget=st.none() | st.floats(1_000, 2_000_000),
       engine=st.sampled_from(["any", "vllm", "trtllm", "sglang"]), max_batch=st.none() | st.integers(1, 2048))
def test_property_the_plan_is_the_best_row_for_random_specs(model: str, acc: str, dtype: str, kv_dtype: str,
                                                            qps: float, inp: int, out: int, ttft: float, tpot: float,
                                                            budget: float | None, engine: str,
                                                            max_batch: int | None) -> None:
    a = CAT.accelerator(acc)
    for d in (dtype, kv_dtype):
        try:
            a.compute_dtype(d)
        except PlannerError:
            return
    window = CAT.model(model).max_context_tokens
    if window is not None and inp + out > window:
        return
    data: dict[str, object] = dict(model=model, accelerator=acc, dtype=dtype, kv_dtype=kv_dtype, qps=qps,
                                   input_tokens=inp, output_tokens=out, ttft_slo_ms=ttft, tpot_slo_ms=tpot,
                                   engine=engine, max_batch=max_batch)
    if budget is not None and a.usd_per_gpu_hour is not None:
        data["budget_usd_month"] = budget
    assert_plan_is_the_best_row(PlanSpec(**data))  # type: ignore[arg-type]


def test_every_configuration_of_a_search_is_one_plan_with_that_layout() -> None:
    """Any row of a search, planned with its layout given, is the same configuration: the evaluator is the same."""
    spec = spec_for("70b-chat")
    rows = [c for c in aggregated_rows(spec) if c.mode == "aggregated"]
    rng = np.random.default_rng(5)
    walls = set()
    for i in rng.choice(len(rows), size=40, replace=False):
        c = rows[int(i)]
        plan = evaluate(spec.model_copy(update={"accelerator": c.accelerator, "dtype": c.dtype,
                                                "kv_dtype": c.kv_dtype, "tp": c.tp, "pp": c.pp, "ep": c.ep}), CAT)
        v = plan.values
        assert v["batch"] == c.batch and v["max_batch_memory"] == c.max_batch_memory, c.label
        assert plan.binding_wall == c.binding_wall, c.label
        if v["batch"] >= 1:
            assert v["gpus"] == c.gpus and close(v["usd_month"], c.usd_month), c.label
            assert close(v["tpot_ms"], c.tpot_ms) and close(v["ttft_ms"], c.ttft_ms), c.label
            assert close(v["output_tokens_per_s_per_gpu"], c.tokens_per_s_per_gpu), c.label
        walls.add(c.binding_wall)
    assert len(walls) >= 2, walls  # the sample is not one-sided


def test_the_walls_reachable_in_a_search_are_the_plans_walls_in_every_scenario() -> None:
    seen = set()
    for case in CASES:
        seen |= {c.binding_wall for c in aggregated_rows(spec_for(case))}
    assert {"memory capacity", "memory bandwidth", "compute", "budget"} <= seen, seen


def test_the_evaluators_affine_step_is_the_step_time_formula() -> None:
    """The evaluator keeps each row's decode step as coefficients found from ``step_time``; at any batch they give
    ``step_time`` of ``decode_inputs`` exactly (to rounding), for dense, MoE and MLA models and every part."""
    spec = spec_for("70b-chat")
    rng = np.random.default_rng(1)
    for ident in ("llama-3.1-70b", "mixtral-8x7b", "deepseek-v3", "gemma-2-27b"):
        model, acc = CAT.model(ident), CAT.accelerator("h100-sxm")
        eff = expected_efficiency(acc.id)
        lay = topology.layouts(model, acc, pp=1, ep=1)
        rows = E.build(model, spec, [E.Option(acc, "fp8", "fp8", 3.0, eff, lay)])
        ctx = spec.input_tokens + spec.output_tokens / 2
        for b in rng.integers(1, 5000, size=6).astype(float):
            step = E.decode(rows, np.full((len(rows), 1), b))
            direct = roofline.decode_step(model, acc, "fp8", b, ctx, lay[:, :1], "fp8", eff)
            for part in ("memory_s", "compute_s", "network_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu"):
                np.testing.assert_allclose(getattr(step, part), getattr(direct, part), rtol=1e-12, err_msg=part)


def test_the_prefill_share_is_the_batched_prefill_divided_by_its_prompts() -> None:
    """Each request's prefill in TPOT and busy time is its share of an iteration prefilling k arriving prompts
    together, k = clip(B / output, 1, token budget / prompt): ``step_time`` of ``batched_prefill_inputs`` ÷ k, every
    part, exactly for a dense model (the weight read is shared; each prompt's KV, FLOPs and overheads are its own);
    one prompt's alone while at most one arrives per step."""
    spec = spec_for("70b-chat")
    model, acc = CAT.model("llama-3.1-70b"), CAT.accelerator("h100-sxm")
    eff = expected_efficiency(acc.id)
    lay = topology.layouts(model, acc, tp=4, pp=1, ep=1)
    rows = E.build(model, spec, [E.Option(acc, "fp8", "fp8", 3.0, eff, lay)])
    rates = roofline.step_rates(model, acc, "fp8", "fp8", 4.0, eff, prefill=True)
    k_max = 8192 / spec.input_tokens  # the `any` engine's token budget
    for b in (1.0, float(spec.output_tokens), 3.0 * spec.output_tokens, 1e6):
        k = min(max(b / spec.output_tokens, 1.0), k_max)
        share = rows.prefill_share(np.array([[b]]))
        whole = roofline.time_step(roofline.batched_prefill_inputs(model, spec.input_tokens, k, "fp8", "fp8"),
                                   rates)
        for part in ("memory_s", "compute_s", "network_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu"):
            np.testing.assert_allclose(getattr(share, part), getattr(whole, part) / k, rtol=1e-9, err_msg=part)
        if k == 1:
            np.testing.assert_allclose(share.total_s, rows["pre_total_s"], rtol=1e-12)
        else:
            assert float(share.total_s[0, 0]) < float(rows["pre_total_s"][0, 0])



@pytest.mark.parametrize(("ident", "prompt", "ep"), [("qwen3-30b-a3b", 32, 1), ("deepseek-v3", 16, 8),
                                                     ("mixtral-8x7b", 8, 1), ("gpt-oss-120b", 64, 4)])
def test_the_prefill_share_of_a_moe_is_exact_while_its_experts_saturate(ident: str, prompt: int, ep: int) -> None:
    """Short prompts on a MoE touch more experts with each prompt prefilled together, but fewer than the straight
    line through one and two prompts (the experts saturate at E): the share is still the batched prefill ÷ k, every
    part (a line through k = 1, 2 overcounted the expert reads up to ~4x at k = 32 and doubled a plan's cost)."""
    model = CAT.model(ident)
    acc = CAT.accelerator("h200-sxm" if ident == "deepseek-v3" else "h100-sxm")
    tp = 8 if ident == "deepseek-v3" else 4 if ident == "gpt-oss-120b" else 1
    spec = spec_for("70b-chat").model_copy(update={"model": ident, "accelerator": acc.id, "input_tokens": prompt,
                                                   "output_tokens": 32})
    eff = expected_efficiency(acc.id)
    lay = topology.layouts(model, acc, tp=tp, pp=1, ep=ep)
    rows = E.build(model, spec, [E.Option(acc, "fp8", "fp8", 3.0, eff, lay)])
    rates = roofline.step_rates(model, acc, "fp8", "fp8", float(tp), eff, prefill=True, ep=float(ep))
    for b in (32.0, 64.0, 512.0, 1024.0):
        k = min(max(b / spec.output_tokens, 1.0), 8192 / prompt)
        share = rows.prefill_share(np.array([[b]]))
        whole = roofline.time_step(roofline.batched_prefill_inputs(model, prompt, k, "fp8", "fp8", ep=float(ep)),
                                   rates)
        for part in ("memory_s", "compute_s", "overhead_s", "bytes_per_gpu", "flops_per_gpu"):
            np.testing.assert_allclose(getattr(share, part), getattr(whole, part) / k, rtol=1e-9, err_msg=part)
        np.testing.assert_allclose(rows.prefill_share_s(np.array([[b]])), share.total_s, rtol=1e-12)


@pytest.mark.parametrize(("acc", "dtype", "tp", "batch"), [("h100-sxm", "fp8", 4, 64), ("mi300x", "bf16", 1, 7),
                                                          ("l40s", "int4", 2, 3), ("b200", "fp8", 8, 512)])
def test_config_times_equal_the_roofline_expected_times(acc: str, dtype: str, tp: int, batch: int) -> None:
    spec = spec_for("70b-chat")
    got = S.config_times(spec, acc, dtype, "fp8", tp, 1, 1, batch, CAT)
    model, a = CAT.model(spec.model), CAT.accelerator(acc)
    context = spec.input_tokens + spec.output_tokens / 2
    assert close(got["decode_step_ms"], float(roofline.decode_ms(model, a, dtype, batch, context, tp, "fp8")))
    assert close(got["prefill_ms"], float(roofline.prefill_ms(model, a, spec.input_tokens, dtype, tp, "fp8")))


def test_pipeline_parallel_adds_point_to_point_hops_over_the_scale_out_nic() -> None:
    """Llama-3.1-405B in bf16 (810 GB) does not fit one 8-GPU H100 host: pp = 2 puts the stages on two hosts, each
    hop crossing the 400 Gb/s NIC of every GPU of a stage."""
    spec = spec_for("70b-chat", model="llama-3.1-405b", budget_usd_month=None)
    b, tp, pp = 16, 8, 2
    one = S.config_times(spec, "h100-sxm", "bf16", "fp8", tp, 1, 1, b, CAT)
    two = S.config_times(spec, "h100-sxm", "bf16", "fp8", tp, pp, 1, b, CAT)
    acc = CAT.accelerator("h100-sxm")
    eff = expected_efficiency(acc.id)
    hidden = CAT.model(spec.model).hidden_size
    nic = 50e9 * eff.link_fraction  # the catalogue's 8x ConnectX-7 400 Gb/s: 50 GB/s per GPU per direction
    hop_ms = (b * hidden * ACTIVATION_BYTES / (tp * nic) + eff.scaleup_latency_s) * MS_PER_S
    assert close(two["decode_step_ms"], one["decode_step_ms"] + (pp - 1) * hop_ms)
    prefill_hop = (spec.input_tokens * hidden * ACTIVATION_BYTES / (tp * nic) + eff.scaleup_latency_s) * MS_PER_S
    assert close(two["prefill_ms"], one["prefill_ms"] + (pp - 1) * prefill_hop)
    assert one["max_batch_memory"] == 0 < two["max_batch_memory"]  # the weights fit only over 16 GPUs
    result = S.search(spec, CAT, S.search_space(spec, CAT, accelerators=["h100-sxm"], dtypes=["bf16"],
                                                disaggregated=False), pareto=False)
    best = result.best()
    assert best is not None and best.pp >= 2 and best.tp * best.pp >= 16


def test_expert_parallel_swaps_the_expert_all_reduce_for_two_all_to_alls() -> None:
    spec = spec_for("moe-qwen3")
    model = CAT.model(spec.model)
    acc = CAT.accelerator("h100-sxm")
    eff = expected_efficiency(acc.id)
    tp, b = 8, 64
    base = S.config_times(spec, acc.id, "fp8", "fp8", tp, 1, 1, b, CAT)
    link = acc.scaleup.bytes_per_s * eff.link_fraction
    lat = eff.scaleup_latency_s
    allreduce = 2 * (tp - 1) / tp * b * model.hidden_size * ACTIVATION_BYTES / link + lat
    for ep in (8,):
        got = S.config_times(spec, acc.id, "fp8", "fp8", tp, 1, ep, b, CAT)
        per_gpu = b * model.moe.experts_per_token * model.hidden_size * ACTIVATION_BYTES * (ep - 1) / (ep * tp)
        all_to_all = 2 * (per_gpu / link + lat)
        expected = base["network_ms"] + model.moe_layers * (all_to_all - allreduce) * MS_PER_S
        assert close(got["network_ms"], expected, 1e-9), ep
        assert got["max_batch_memory"] == base["max_batch_memory"]  # same bytes per GPU
    with pytest.raises(PlannerError, match="valid ep: 1, 4"):
        S.config_times(spec, acc.id, "fp8", "fp8", 4, 1, 2, b, CAT)


def test_the_batch_grid_agrees_with_the_operating_points() -> None:
    """``evaluate_grid`` (the benchmark's path: every batch of a grid) finds the same cheapest plan as the search's
    operating points when the grid reaches their batches: cost only falls as the batch grows within the SLOs."""
    spec = spec_for("70b-chat")
    space = S.search_space(spec, CAT, accelerators=["h100-sxm", "l40s", "mi300x"], dtypes=["fp8", "bf16"],
                           kv_dtypes=["fp8"], disaggregated=False)
    batches = np.arange(1, 2049)
    count, found = S.evaluate_grid(spec, batches, CAT, space)
    rows = sum(len(space.layouts(CAT.model(spec.model), acc)) * len(space.dtypes_for(acc))
               for acc in space.accelerators)
    assert count == rows * len(batches)
    best = S.search(spec, CAT, space, pareto=False).best()
    assert best is not None and best.batch <= batches[-1]
    assert found["cheapest_usd_month"] == best.usd_month
    assert 0 < found["meets_slos"] < count
