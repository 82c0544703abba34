"""The search's vectorized evaluator against the scalar design loop (``planner.plan.evaluate``) and the roofline
functions: the same numbers, configuration by configuration (batch exactly, the rest to 1e-9 relative), and the
pipeline- and expert-parallel additions as the module docstring of ``planner.search`` writes them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner import roofline
from planner import search as S
from planner.catalogue import get_catalogue
from planner.efficiency import expected_efficiency
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


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_pp1_ep1_configuration_equals_plan_evaluate(case: str) -> None:
    spec = spec_for(case)
    rows = [c for c in aggregated_rows(spec) if c.pp == 1 and c.ep == 1]
    assert len(rows) > 30
    rng = np.random.default_rng(5)
    sample = [rows[i] for i in rng.choice(len(rows), size=min(len(rows), 90), replace=False)]
    walls = set()
    for c in sample:
        plan = evaluate(spec.model_copy(update={"accelerator": c.accelerator, "dtype": c.dtype,
                                                "kv_dtype": c.kv_dtype, "tp": c.tp}), CAT)
        v = plan.values
        where = f"{case}: {c.label}"
        assert v["batch"] == c.batch, where  # the plan's bisection, reproduced
        assert v["max_batch_memory"] == c.max_batch_memory and v["batch_slo"] == c.batch_slo, where
        assert close(v["tpot_ms"], c.tpot_ms) and close(v["ttft_ms"], c.ttft_ms), where
        assert plan.binding_wall == c.binding_wall, where
        for wall, u in plan.walls.utilization.items():
            assert close(u, c.utilization[wall]), (where, wall, u, c.utilization[wall])
        if v["batch"] >= 1:
            assert v["replicas"] == c.replicas and v["gpus"] == c.gpus, where
            assert close(v["usd_month"], c.usd_month), where
            assert close(v["usd_per_million_output_tokens"], c.usd_per_million_tokens), where
            assert close(v["output_tokens_per_s_per_gpu"], c.tokens_per_s_per_gpu), where
            assert close(v["output_tokens_per_s_per_user"], c.tokens_per_s_per_user), where
            assert c.meets_slos == (v["batch"] >= 1) and c.feasible == plan.feasible, where
        walls.add(c.binding_wall)
    assert len(walls) >= 2, walls  # the sample is not one-sided


def test_the_walls_reachable_in_a_search_are_the_plans_walls_in_every_scenario() -> None:
    seen = set()
    for case in CASES:
        seen |= {c.binding_wall for c in aggregated_rows(spec_for(case))}
    assert {"memory capacity", "memory bandwidth", "compute", "budget"} <= seen, seen


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
    for ep in (2, 4, 8):
        got = S.config_times(spec, acc.id, "fp8", "fp8", tp, 1, ep, b, CAT)
        per_gpu = b * model.moe.experts_per_token * model.hidden_size * ACTIVATION_BYTES * (ep - 1) / (ep * tp)
        all_to_all = 2 * (per_gpu / link + lat)
        expected = base["network_ms"] + model.moe_layers * (all_to_all - allreduce) * MS_PER_S
        assert close(got["network_ms"], expected, 1e-9), ep
        assert got["max_batch_memory"] == base["max_batch_memory"]  # same bytes per GPU
    with pytest.raises(Exception, match="not a configuration"):
        S.config_times(spec, acc.id, "fp8", "fp8", 4, 1, 3, b, CAT)


def test_the_batch_grid_agrees_with_the_operating_points() -> None:
    """``evaluate_grid`` (the benchmark's path: every batch of a grid) finds the same cheapest plan as the search's
    operating points when the grid reaches their batches: cost only falls as the batch grows within the SLOs."""
    spec = spec_for("70b-chat")
    space = S.search_space(spec, CAT, accelerators=["h100-sxm", "l40s", "mi300x"], dtypes=["fp8", "bf16"],
                           kv_dtypes=["fp8"], disaggregated=False)
    batches = np.arange(1, 2049)
    count, found = S.evaluate_grid(spec, batches, CAT, space)
    rows = sum(len(S._configs(CAT.model(spec.model), acc, space)) * len(space.dtypes_for(acc))
               for acc in space.accelerators)
    assert count == rows * len(batches)
    best = S.search(spec, CAT, space, pareto=False).best()
    assert best is not None and best.batch <= batches[-1]
    assert found["cheapest_usd_month"] == best.usd_month
    assert 0 < found["meets_slos"] < count
