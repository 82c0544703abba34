"""The native-formula rendering of whichwall's arithmetic: every quantity of a plan as one spreadsheet formula.

This module is the one place the workbook's formulas are written. Each quantity is named like the planner's value
(``planner.plan.evaluate(spec).values`` keys for results; ``m_*`` model fields, ``a_*`` accelerator fields,
``eff_*`` measured efficiencies for the workings) and becomes a workbook-level defined name, so formulas read like
the planner's code: ``=weight_bytes_total/tp``. The tests recalculate exported plans in LibreOffice and compare every
result with the planner, so a change in ``planner`` that is not mirrored here fails a test.

Only functions every spreadsheet has are used (the Excel 2010 set: IF, AND, OR, NOT, MIN, MAX, INT, CEILING, LN,
EXP, LOG10, INDEX, MATCH, ISNUMBER, ISTEXT, NA, VALUE); no XLOOKUP, LET, LAMBDA, dynamic arrays or structured
references. "n/a" (text) stands where the planner has None.

Mirrors, with the planner function each one follows:
- ``step_time``: ``planner.roofline.step_time`` (the one step-time formula) — every step of every table uses it;
- fragments ``attended``, ``kv_per_sequence``, ``experts_touched``, ``step_weight_bytes``, ``matmul_flops``,
  ``decode_attention_flops``: the functions of the same names in ``planner.roofline``;
- ``WORKINGS``/``RESULTS``: ``planner.plan.operating_point``, ``evaluate``, ``_binding`` (the binding-wall rule,
  as nested IFs), ``planner.topology`` and ``planner.walls.next_wall``;
- the SLO batch and the crossover batch are the planner's bisections unrolled, one spreadsheet row per step
  (``slo_ladder_row``, ``crossover_ladder_row``); the automatic tp is ``planner.plan.choose_tp`` over a table of the
  candidate tensor-parallel sizes;
- ``MODEL_DERIVED``: the parameter counts of ``planner.catalogue.Model``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from planner import topology
from planner import walls as W
from planner.plan import BATCH_SEARCH_LIMIT
from planner.roofline import ALLREDUCES_PER_LAYER, CROSSOVER_SEARCH_LIMIT
from planner.topology import TP_CHOICES
from planner.units import ACTIVATION_BYTES, GB, MS_PER_S, TB, TERA, US_PER_S

NA_TEXT = "n/a"
"""What a cell shows where the planner's value is None."""

REPLICA_TOLERANCE = topology.REPLICA_TOLERANCE
"""``planner.topology.replicas_needed`` rounds qps / rps − 1e-9 up, so an exact multiple needs no extra replica."""

SLO_LADDER_STEPS = math.ceil(math.log2(BATCH_SEARCH_LIMIT - 1)) + 1
"""Rows of the unrolled TPOT-SLO bisection: enough halvings to narrow [1, BATCH_SEARCH_LIMIT] to one batch."""

CROSSOVER_LADDER_STEPS = math.ceil(math.log2(CROSSOVER_SEARCH_LIMIT - 1)) + 1
"""Rows of the unrolled crossover-batch bisection over [1, CROSSOVER_SEARCH_LIMIT]."""

NOT_FOUND = 999
"""Marker above any tensor-parallel size (the largest is 64) in the automatic-tp table."""


def num(x: float) -> str:
    """A number as a formula literal (exact: Python's shortest round-trip repr)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


@dataclass(frozen=True)
class Quantity:
    """One named cell: ``formula`` is a spreadsheet expression (no leading =) over other names."""

    name: str
    label: str
    unit: str
    formula: str
    fmt: str = ""
    note: str = ""


# ----------------------------------------------------------------------------------------------------- fragments
# Each mirrors the planner function of the same name; arguments are cell references or names.


def attended(context: str) -> str:
    """``planner.roofline._attended``: Σ over layers of the tokens a query at ``context`` attends to."""
    return f"((m_layers-m_window_layers)*{context}+m_window_layers*MIN({context},m_window_tokens))"


def kv_per_sequence(context: str) -> str:
    """``planner.roofline.kv_bytes_per_sequence``: bytes of KV cache one sequence of ``context`` tokens holds."""
    return f"m_kv_elements*kv_dtype_bytes*{attended(context)}"


def experts_touched(tokens: str) -> str:
    """``planner.roofline.experts_touched``: E·(1 − (1 − k/E)^tokens), 0 for a dense model."""
    return (f"IF(m_experts=0,0,IF(m_experts_per_token<m_experts,"
            f"m_experts*(1-EXP({tokens}*LN(1-m_experts_per_token/m_experts))),m_experts))")


def step_weight_bytes(tokens: str) -> str:
    """``planner.roofline.step_weight_bytes``: weight bytes a step over ``tokens`` tokens reads."""
    return f"(m_always_read_params+m_moe_layers*{experts_touched(tokens)}*m_expert_params)*weight_dtype_bytes"


def routed_expert_bytes(tokens: str) -> str:
    """``planner.roofline.routed_expert_bytes``: the routed experts' share of ``step_weight_bytes``."""
    return f"m_moe_layers*{experts_touched(tokens)}*m_expert_params*weight_dtype_bytes"


def routed_expert_flops(tokens: str) -> str:
    """``planner.roofline.routed_expert_flops``: 2 · tokens · MoE layers · k · params per expert."""
    return f"2*{tokens}*m_moe_layers*m_experts_per_token*m_expert_params"


def matmul_flops(tokens: str) -> str:
    """``planner.roofline.decode_matmul_flops``: 2 · matmul params · tokens."""
    return f"2*m_matmul_params*{tokens}"


def decode_attention_flops(batch: str, context: str) -> str:
    """``planner.roofline.decode_attention_flops``: B · 2 · heads · (d_qk + d_v) · attended tokens."""
    return f"{batch}*2*m_heads*(m_decode_qk_dim+m_decode_v_dim)*{attended(context)}"


def causal_pairs(prompt: str, window: str) -> str:
    """``planner.roofline._causal_pairs``: Σ_{i≤P} min(i, window), 0 = no window."""
    full = f"{prompt}*({prompt}+1)/2"
    return f"IF({window}=0,{full},IF({prompt}<={window},{full},{window}*({window}+1)/2+({prompt}-{window})*{window}))"


def compute_dtype(dtype_name: str) -> str:
    """``Accelerator.compute_dtype``: the first of the dtype's fallbacks the accelerator has a dense rate for."""
    fb = [f"INDEX(dtype_fallbacks,MATCH({dtype_name},dtype_ids,0),{i})" for i in (1, 2, 3)]
    peak = [f"INDEX(cat_acc_peaks,a_row,MATCH({f},cat_peak_dtypes,0))" for f in fb]
    return f"IF({peak[0]}>0,{fb[0]},IF({peak[1]}>0,{fb[1]},IF({peak[2]}>0,{fb[2]},NA())))"


def peak_of(dtype_name: str) -> str:
    return f"INDEX(cat_acc_peaks,a_row,MATCH({dtype_name},cat_peak_dtypes,0))"


def efficiency(column: str) -> str:
    """One efficiency of the plan's (accelerator, engine) row of the Efficiency table."""
    return f"INDEX(eff_{column}_column,eff_row)"


def compute_fraction(cdtype: str) -> str:
    return f"INDEX(eff_compute_columns,eff_row,MATCH({cdtype},eff_compute_dtypes,0))"


def user_tpot_s(decode_s: str, batch: str) -> str:
    """``planner.serving.aggregated_times``: TPOT = t_d + (B / output_tokens) · t_p."""
    return f"({decode_s}+{batch}/output_tokens*prefill_total_s)"


def user_ttft_s(batch: str, prefill_s: str = "prefill_total_s") -> str:
    """``planner.serving.aggregated_times``: TTFT = o_r + t_p · (1 + a · (B − 1)^β · (1024 / output_tokens)^δ)."""
    others = f"MAX({batch}-1,0)"
    burst = (f"IF({others}>0,eff_burst_coefficient*{others}^eff_burst_exponent*"
             f"(burst_reference_output_tokens/output_tokens)^eff_burst_output_exponent,0)")
    return f"(eff_request_overhead_s+{prefill_s}*(1+{burst}))"


def link_ok(tp: str) -> str:
    """``Accelerator.tp_link`` does not raise: tp 1, or within the scale-up domain, or a PCIe host."""
    return (f"OR({tp}<=1,AND(a_scaleup_gbs>0,{tp}<=a_scaleup_domain),"
            f"AND(a_pcie_gbs>0,{tp}<=a_pcie_domain))")


def link_kind(tp: str) -> str:
    """Which link a tp group all-reduces over (``Accelerator.tp_link``); #N/A beyond the accelerator's domains."""
    return (f"IF({tp}<=1,\"none\",IF(AND(a_scaleup_gbs>0,{tp}<=a_scaleup_domain),\"scale-up\","
            f"IF(AND(a_pcie_gbs>0,{tp}<=a_pcie_domain),\"PCIe\",NA())))")


def link_gbs(kind: str) -> str:
    return f"IF({kind}=\"scale-up\",a_scaleup_gbs,IF({kind}=\"PCIe\",a_pcie_gbs,0))"


def link_latency(kind: str) -> str:
    return f"IF({kind}=\"scale-up\",eff_scaleup_latency_s,IF({kind}=\"PCIe\",eff_pcie_latency_s,0))"


def dominant(memory: str, compute: str, network: str) -> str:
    """``planner.walls.dominant``: the largest of three times; ties go to memory bandwidth, then compute."""
    return (f"IF(AND({memory}>={compute},{memory}>={network}),\"{W.MEMORY_BANDWIDTH}\","
            f"IF({compute}>={network},\"{W.COMPUTE}\",\"{W.NETWORK}\"))")


# ---------------------------------------------------------------------------------------------------- step time

STEP_ARGS: tuple[str, ...] = (
    "weight_bytes", "expert_weight_bytes", "kv_bytes", "matmul_flops", "expert_matmul_flops", "attention_flops",
    "tokens", "sequences", "tp", "kv_split", "bandwidth", "peak_flops", "attention_peak_flops",
    "expert_bandwidth_fraction", "expert_compute_fraction", "link_bandwidth", "collective_latency_s",
    "step_overhead_s", "sequence_overhead_s",
)
"""The arguments of ``planner.roofline.step_time`` (layers and hidden size come from the model lookup)."""

STEP_PARTS: tuple[str, ...] = (
    "bytes_per_gpu", "flops_per_gpu", "memory_s", "compute_s", "network_s", "overhead_s", "total_s", "total_ms",
)

EXPECTED_RATES: dict[str, str] = {
    "bandwidth": "exp_bandwidth", "peak_flops": "exp_peak_flops", "attention_peak_flops": "exp_attention_peak_flops",
    "expert_bandwidth_fraction": "eff_expert_bandwidth_fraction",
    "expert_compute_fraction": "eff_expert_compute_fraction",
    "step_overhead_s": "step_overhead_s", "sequence_overhead_s": "sequence_overhead_s", "kv_split": "kv_split",
}
"""Rates of an expected decode step (``planner.roofline._step``): catalogue peaks times the measured fractions,
the routed experts' own fractions, layers × the per-layer overheads, and the KV cache split by KV head."""

PREFILL_RATES: dict[str, str] = {
    **EXPECTED_RATES, "peak_flops": "exp_prefill_peak_flops",
    "attention_peak_flops": "exp_prefill_attention_peak_flops",
    "expert_compute_fraction": "eff_prefill_expert_compute_fraction",
}
"""An expected prefill: the prefill compute fractions where the Efficiency table has them."""

FLOOR_RATES: dict[str, str] = {
    "bandwidth": "bandwidth_bytes_per_s", "peak_flops": "peak_flops", "attention_peak_flops": "attention_peak_flops",
    "expert_bandwidth_fraction": "1", "expert_compute_fraction": "1",
    "step_overhead_s": "0", "sequence_overhead_s": "0", "kv_split": "tp",
}
"""Rates of a floor (``Efficiency.ideal``): catalogue peaks exactly, no latency, no overhead, the KV cache spread
over every GPU."""


def step_time(arg: Mapping[str, str], part: Callable[[str], str]) -> dict[str, str]:
    """``planner.roofline.step_time`` as formulas: ``arg`` maps each of ``STEP_ARGS`` to a cell reference,
    ``part(name)`` is the reference of an earlier part of the same step. Returns the formula of each ``STEP_PARTS``.

    memory = ((weight_bytes + expert_weight_bytes / expert_bandwidth_fraction) / tp + kv_bytes / kv_split)
             / bandwidth;
    compute = ((matmul_flops + expert_matmul_flops / expert_compute_fraction) / peak
               + attention_flops / attention_peak) / tp;
    network = 2 · layers · [2(tp−1)/tp · tokens · hidden · 2 bytes / link_bandwidth + latency] (0 at tp = 1);
    overhead = step_overhead + sequences · sequence_overhead; total = max(memory, compute) + network + overhead.
    """
    a, tp = arg, arg["tp"]
    w, ew, kv, ks = a["weight_bytes"], a["expert_weight_bytes"], a["kv_bytes"], a["kv_split"]
    mm, em, att = a["matmul_flops"], a["expert_matmul_flops"], a["attention_flops"]
    message = f"({a['tokens']}*m_hidden_size*{num(ACTIVATION_BYTES)})"
    ring = f"2*({tp}-1)/{tp}*{message}/{a['link_bandwidth']}"
    return {
        "bytes_per_gpu": f"({w}+{ew})/{tp}+{kv}/{ks}",
        "flops_per_gpu": f"({mm}+{em}+{att})/{tp}",
        "memory_s": f"(({w}+{ew}/{a['expert_bandwidth_fraction']})/{tp}+{kv}/{ks})/{a['bandwidth']}",
        "compute_s": (f"(({mm}+{em}/{a['expert_compute_fraction']})/{a['peak_flops']}"
                      f"+{att}/{a['attention_peak_flops']})/{tp}"),
        "network_s": f"IF({tp}>1,{num(ALLREDUCES_PER_LAYER)}*m_layers*({ring}+{a['collective_latency_s']}),0)",
        "overhead_s": f"{a['step_overhead_s']}+{a['sequences']}*{a['sequence_overhead_s']}",
        "total_s": f"MAX({part('memory_s')},{part('compute_s')})+{part('network_s')}+{part('overhead_s')}",
        "total_ms": f"{part('total_s')}*{num(MS_PER_S)}",
    }


def decode_args(batch: str, context_kv: str, context: str, rates: Mapping[str, str], *, tp: str = "tp",
                kv_split: str | None = None, link: str = "exp_link_bandwidth",
                latency: str = "collective_latency_s") -> dict[str, str]:
    """Arguments of one decode step (``planner.roofline.decode_step``) of ``batch`` sequences at ``context``
    cached tokens; ``context_kv`` is the KV bytes of one such sequence. Routed experts are passed apart."""
    args = {
        "weight_bytes": f"{step_weight_bytes(batch)}-{routed_expert_bytes(batch)}",
        "expert_weight_bytes": routed_expert_bytes(batch), "kv_bytes": f"{batch}*{context_kv}",
        "matmul_flops": f"{matmul_flops(batch)}-{routed_expert_flops(batch)}",
        "expert_matmul_flops": routed_expert_flops(batch),
        "attention_flops": decode_attention_flops(batch, context),
        "tokens": batch, "sequences": batch, "tp": tp, "link_bandwidth": link, "collective_latency_s": latency,
        **rates,
    }
    if kv_split is not None:
        args["kv_split"] = kv_split
    return args


def prefill_args(rates: Mapping[str, str], *, tp: str = "tp", kv_split: str | None = None,
                 link: str = "exp_link_bandwidth", latency: str = "collective_latency_s") -> dict[str, str]:
    """Arguments of the prefill of one prompt (``planner.roofline.prefill_step``)."""
    args = {
        "weight_bytes": "prompt_weight_bytes-prompt_expert_bytes", "expert_weight_bytes": "prompt_expert_bytes",
        "kv_bytes": "kv_seq_prompt", "matmul_flops": f"{matmul_flops('input_tokens')}-prompt_expert_flops",
        "expert_matmul_flops": "prompt_expert_flops", "attention_flops": "prompt_attention_flops",
        "tokens": "input_tokens", "sequences": "1", "tp": tp, "link_bandwidth": link,
        "collective_latency_s": latency, **rates,
    }
    if kv_split is not None:
        args["kv_split"] = kv_split
    return args


FLOOR_LINK = {"link": "link_bytes_per_s", "latency": "0"}

NAMED_STEPS: dict[str, tuple[str, dict[str, str]]] = {
    "prefill": ("expected prefill of one prompt", prefill_args(PREFILL_RATES)),
    "prefill_floor": ("prefill floor (catalogue peaks)", prefill_args(FLOOR_RATES, **FLOOR_LINK)),
    "decode_b1": ("expected decode step, batch 1, average context",
                  decode_args("1", "kv_seq_decode", "decode_context", EXPECTED_RATES)),
    "decode_floor": ("decode floor, batch 1, no context",
                     decode_args("1", "0", "0", FLOOR_RATES, **FLOOR_LINK)),
    "decode": ("expected decode step at the operating batch",
               decode_args("batch_eff", "kv_seq_decode", "decode_context", EXPECTED_RATES)),
    "decode_limit": (f"expected decode step at the search limit ({BATCH_SEARCH_LIMIT})",
                     decode_args("batch_search_limit", "kv_seq_decode", "decode_context", EXPECTED_RATES)),
}
"""The steps the plan times, each a row of the Steps table; cells are named ``<step>_<part>``."""


def tp_candidate_steps(row_ref: Callable[[str], str]) -> dict[str, dict[str, str]]:
    """The two steps ``choose_tp`` times for one candidate tp: its prefill and its batch-1 decode step.
    ``row_ref(column)`` references the candidate's row of the tp table."""
    at = {"tp": row_ref("tp"), "kv_split": row_ref("kv_split"), "link": row_ref("link_bandwidth"),
          "latency": row_ref("latency")}
    return {
        "prefill": prefill_args(PREFILL_RATES, **at),
        "decode_b1": decode_args("1", "kv_seq_decode", "decode_context", EXPECTED_RATES, **at),
    }


# ------------------------------------------------------------------------------------------------------ tables


TP_TABLE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("tp", "tp"),
    ("valid", "runs on this accelerator"),
    ("link_kind", "link"),
    ("link_bandwidth", "link bytes/s (expected)"),
    ("latency", "collective latency (s)"),
    ("kv_split", "KV split"),
    ("max_batch_memory", "largest batch that fits"),
    ("ttft_b1_ms", "expected TTFT at batch 1 (ms)"),
    ("tpot_b1_ms", "expected TPOT at batch 1 (ms)"),
    ("meets", "fits and meets both SLOs"),
    ("fits", "fits"),
)


def tp_table_row(i: int, ref: Callable[[str], str], prev: Callable[[str], str] | None,
                 step_s: Mapping[str, str]) -> dict[str, str]:
    """One candidate of ``planner.plan.choose_tp`` (``TP_CHOICES[i]``). ``ref``/``prev`` reference this row's /
    the previous row's cells; ``step_s`` the total_s cells of its prefill and decode_b1 steps."""
    tp = ref("tp")
    valid = link_ok(tp) if prev is None else f"AND({prev('valid')},{link_ok(tp)})"
    guard = ref("valid")

    def when_valid(expr: str) -> str:
        return f"IF({guard},{expr},\"{NA_TEXT}\")"

    return {
        "tp": num(TP_CHOICES[i]),
        "valid": valid,
        "link_kind": when_valid(link_kind(tp)),
        "link_bandwidth": when_valid(f"{link_gbs(ref('link_kind'))}*{num(GB)}*eff_link_fraction"),
        "latency": when_valid(link_latency(ref("link_kind"))),
        "kv_split": f"IF(eff_replicate_kv,MIN({tp},m_kv_shards_max),{tp})",
        "max_batch_memory": max_batch_memory(tp, f"MIN({tp},m_kv_shards_max)"),
        "ttft_b1_ms": when_valid(f"{user_ttft_s('1', step_s['prefill'])}*{num(MS_PER_S)}"),
        "tpot_b1_ms": when_valid(f"({step_s['decode_b1']}+1/output_tokens*{step_s['prefill']})*{num(MS_PER_S)}"),
        "meets": (f"IF({guard},IF(AND({ref('max_batch_memory')}>=1,{ref('ttft_b1_ms')}<=ttft_slo_ms,"
                  f"{ref('tpot_b1_ms')}<=tpot_slo_ms),{tp},{NOT_FOUND}),{NOT_FOUND})"),
        "fits": f"IF({guard},IF({ref('max_batch_memory')}>=1,{tp},{NOT_FOUND}),{NOT_FOUND})",
    }


def max_batch_memory(tp: str, kv_split: str) -> str:
    """``planner.topology.max_batch``: floor((usable − weights / tp) / KV per sequence per GPU), at least 0."""
    return f"MAX(INT((usable_bytes-weight_bytes_total/{tp})/(kv_seq_full/{kv_split})),0)"


SLO_LADDER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lo", "lo (meets the SLOs)"), ("hi", "hi"), ("mid", "mid"), ("tpot_ms", "user TPOT at mid (ms)"),
    ("ttft_ms", "user TTFT at mid (ms)"), ("ok", "both SLOs met at mid"),
)


def slo_ladder_row(ref: Callable[[str], str], prev: Callable[[str], str] | None) -> dict[str, str]:
    """One halving of ``planner.plan.slo_batch``'s bisection: lo always meets both SLOs, hi does not; once
    hi − lo ≤ 1 the row repeats the last. ``ref('total_s')`` is the expected decode step at ``mid``; a user's TPOT
    and TTFT at ``mid`` follow ``planner.serving``."""
    if prev is None:
        lo, hi = "1", "batch_search_limit"
    else:
        keep = f"{prev('hi')}-{prev('lo')}<=1"
        lo = f"IF({keep},{prev('lo')},IF({prev('ok')},{prev('mid')},{prev('lo')}))"
        hi = f"IF({keep},{prev('hi')},IF({prev('ok')},{prev('hi')},{prev('mid')}))"
    return {"lo": lo, "hi": hi, "mid": f"INT(({ref('lo')}+{ref('hi')})/2)",
            "tpot_ms": f"{user_tpot_s(ref('total_s'), ref('mid'))}*{num(MS_PER_S)}",
            "ttft_ms": f"{user_ttft_s(ref('mid'))}*{num(MS_PER_S)}",
            "ok": f"AND({ref('tpot_ms')}<=tpot_slo_ms,{ref('ttft_ms')}<=ttft_slo_ms)"}


CROSSOVER_LADDER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lo", "lo (memory-bound)"), ("hi", "hi (compute-bound)"), ("mid", "mid"),
    ("compute_s", "compute at peak (s)"), ("memory_s", "memory at peak (s)"), ("ok", "compute-bound at mid"),
)


def crossover_bound(batch: str) -> tuple[str, str]:
    """``planner.roofline.crossover_batch``'s test at no context, catalogue peaks, one GPU: (compute s, memory s)."""
    compute = (f"{matmul_flops(batch)}/peak_flops+{decode_attention_flops(batch, '0')}/attention_peak_flops")
    memory = f"({step_weight_bytes(batch)}+{batch}*0)/bandwidth_bytes_per_s"
    return compute, memory


def crossover_ladder_row(ref: Callable[[str], str], prev: Callable[[str], str] | None) -> dict[str, str]:
    if prev is None:
        lo, hi = "1", "crossover_search_limit"
    else:
        keep = f"{prev('hi')}-{prev('lo')}<=1"
        lo = f"IF({keep},{prev('lo')},IF({prev('ok')},{prev('lo')},{prev('mid')}))"
        hi = f"IF({keep},{prev('hi')},IF({prev('ok')},{prev('mid')},{prev('hi')}))"
    compute, memory = crossover_bound(ref("mid"))
    return {"lo": lo, "hi": hi, "mid": f"INT(({ref('lo')}+{ref('hi')})/2)", "compute_s": compute,
            "memory_s": memory, "ok": f"{ref('compute_s')}>={ref('memory_s')}"}


# ---------------------------------------------------------------------------------------------------- workings


def _lookups() -> list[Quantity]:
    q = [
        Quantity("m_row", "model row in the Catalogue", "row", "MATCH(model,cat_model_id,0)"),
        Quantity("a_row", "accelerator row in the Catalogue", "row", "MATCH(gpu,cat_acc_id,0)"),
    ]
    for field, label, unit in MODEL_LOOKUPS:
        q.append(Quantity(f"m_{field}", label, unit, f"INDEX(cat_model_{field},m_row)"))
    for field, label, unit in ACC_LOOKUPS:
        q.append(Quantity(f"a_{field}", label, unit, f"INDEX(cat_acc_{field},a_row)"))
    return q


MODEL_LOOKUPS: tuple[tuple[str, str, str], ...] = (
    ("layers", "layers", ""),
    ("hidden_size", "hidden size", ""),
    ("heads", "attention heads", ""),
    ("window_tokens", "sliding window", "tokens"),
    ("window_layers", "sliding-window layers", "layers"),
    ("experts", "routed experts (0 = dense)", ""),
    ("experts_per_token", "experts per token", ""),
    ("moe_layers", "MoE layers", ""),
    ("expert_params", "parameters per expert", "params"),
    ("total_params", "total parameters", "params"),
    ("always_read_params", "parameters every step reads", "params"),
    ("matmul_params", "matmul parameters per token", "params"),
    ("kv_elements", "KV values per token per layer", "elements"),
    ("kv_shards_max", "most ways the KV cache splits", ""),
    ("decode_qk_dim", "decode q·k width per head", ""),
    ("decode_v_dim", "decode v width per head", ""),
    ("prefill_qk_dim", "prefill q·k width per head", ""),
    ("prefill_v_dim", "prefill v width per head", ""),
)

ACC_LOOKUPS: tuple[tuple[str, str, str], ...] = (
    ("memory_gb", "memory", "GB"),
    ("memory_bandwidth_tbs", "memory bandwidth", "TB/s"),
    ("scaleup_gbs", "scale-up link per direction", "GB/s"),
    ("scaleup_domain", "scale-up domain", "GPUs"),
    ("pcie_gbs", "PCIe per direction", "GB/s"),
    ("pcie_domain", "PCIe host", "GPUs"),
    ("usd_per_gpu_hour", "catalogue price", "USD/GPU-hour"),
)


def workings() -> list[tuple[str, list[Quantity]]]:
    """The intermediate quantities, section by section (the Workings sheet)."""
    rates = [
        Quantity("weight_dtype_bytes", "bytes per weight", "bytes", "INDEX(dtype_bytes,MATCH(dtype,dtype_ids,0))"),
        Quantity("kv_dtype_bytes", "bytes per KV value", "bytes", "INDEX(dtype_bytes,MATCH(kv_dtype,dtype_ids,0))"),
        Quantity("compute_dtype", "compute dtype of the weights", "", compute_dtype("dtype"),
                 note="the weight dtype's own dense rate, else the 16-bit rate (weight-only quantization)"),
        Quantity("attention_compute_dtype", "compute dtype of attention (the KV dtype's)", "",
                 compute_dtype("kv_dtype")),
        Quantity("peak_flops", "dense peak at the compute dtype", "FLOP/s",
                 f"{peak_of('compute_dtype')}*{num(TERA)}", fmt="0.000E+00"),
        Quantity("attention_peak_flops", "dense peak at the attention compute dtype", "FLOP/s",
                 f"{peak_of('attention_compute_dtype')}*{num(TERA)}", fmt="0.000E+00"),
        Quantity("bandwidth_bytes_per_s", "memory bandwidth", "bytes/s", f"a_memory_bandwidth_tbs*{num(TB)}",
                 fmt="0.000E+00"),
        Quantity("memory_bytes", "memory per GPU", "bytes", f"a_memory_gb*{num(GB)}", fmt="0.000E+00"),
        Quantity("eff_row", "row of (accelerator, engine) in the Efficiency table", "row",
                 "IF(ISNUMBER(MATCH(gpu&\"@\"&engine,eff_key_column,0)),MATCH(gpu&\"@\"&engine,eff_key_column,0),"
                 "MATCH(\"default@\"&engine,eff_key_column,0))",
                 note="an accelerator without its own rows takes the engine's default row, as the planner does"),
        Quantity("eff_bandwidth_fraction", "achievable fraction of bandwidth", "", efficiency("bandwidth_fraction")),
        Quantity("eff_compute_fraction", "achievable fraction of the dense peak (decode)", "",
                 compute_fraction("compute_dtype")),
        Quantity("eff_attention_compute_fraction", "achievable fraction of the attention peak (decode)", "",
                 compute_fraction("attention_compute_dtype")),
        Quantity("eff_prefill_compute_fraction", "achievable fraction of the dense peak (prefill)", "",
                 f"IF({efficiency('prefill_compute_fraction')}=\"\",eff_compute_fraction,"
                 f"{efficiency('prefill_compute_fraction')})",
                 note="the decode fraction where no prefill fraction was fitted"),
        Quantity("eff_prefill_attention_compute_fraction", "achievable fraction of the attention peak (prefill)", "",
                 f"IF({efficiency('prefill_compute_fraction')}=\"\",eff_attention_compute_fraction,"
                 f"{efficiency('prefill_compute_fraction')})"),
        Quantity("eff_expert_bandwidth_fraction", "routed experts: fraction of that bandwidth again", "",
                 efficiency("expert_bandwidth_fraction")),
        Quantity("eff_expert_compute_fraction", "routed experts: fraction of that FLOP/s again (decode)", "",
                 efficiency("expert_compute_fraction")),
        Quantity("eff_prefill_expert_compute_fraction", "routed experts: fraction of that FLOP/s again (prefill)", "",
                 efficiency("prefill_expert_compute_fraction")),
        Quantity("eff_link_fraction", "achievable fraction of link bandwidth", "", efficiency("link_fraction")),
        Quantity("eff_scaleup_latency_s", "latency per collective, scale-up link", "s",
                 f"{efficiency('scaleup_latency_us')}/{num(US_PER_S)}", fmt="0.000E+00"),
        Quantity("eff_pcie_latency_s", "latency per collective, PCIe", "s",
                 f"{efficiency('pcie_latency_us')}/{num(US_PER_S)}", fmt="0.000E+00"),
        Quantity("eff_layer_overhead_s", "overhead per layer per step", "s",
                 f"{efficiency('layer_overhead_us')}/{num(US_PER_S)}", fmt="0.000E+00"),
        Quantity("eff_sequence_overhead_s", "overhead per sequence per layer per step", "s",
                 f"{efficiency('sequence_overhead_us')}/{num(US_PER_S)}", fmt="0.000E+00"),
        Quantity("eff_request_overhead_s", "overhead per request (time to first token)", "s",
                 f"{efficiency('request_overhead_ms')}/{num(MS_PER_S)}", fmt="0.000E+00"),
        Quantity("eff_burst_coefficient", "TTFT burst coefficient a", "", efficiency("burst_coefficient")),
        Quantity("eff_burst_exponent", "TTFT burst exponent β", "", efficiency("burst_exponent")),
        Quantity("eff_burst_output_exponent", "TTFT burst output exponent δ", "", efficiency("burst_output_exponent")),
        Quantity("eff_replicate_kv", "KV cache splits only by KV head", "", efficiency("replicate_kv")),
        Quantity("step_overhead_s", "overhead per step (layers × per layer)", "s", "m_layers*eff_layer_overhead_s",
                 fmt="0.000E+00"),
        Quantity("sequence_overhead_s", "overhead per sequence per step (layers × per layer)", "s",
                 "m_layers*eff_sequence_overhead_s", fmt="0.000E+00"),
        Quantity("exp_bandwidth", "expected bandwidth", "bytes/s", "bandwidth_bytes_per_s*eff_bandwidth_fraction",
                 fmt="0.000E+00"),
        Quantity("exp_peak_flops", "expected FLOP/s (weights, decode)", "FLOP/s", "peak_flops*eff_compute_fraction",
                 fmt="0.000E+00"),
        Quantity("exp_attention_peak_flops", "expected FLOP/s (attention, decode)", "FLOP/s",
                 "attention_peak_flops*eff_attention_compute_fraction", fmt="0.000E+00"),
        Quantity("exp_prefill_peak_flops", "expected FLOP/s (weights, prefill)", "FLOP/s",
                 "peak_flops*eff_prefill_compute_fraction", fmt="0.000E+00"),
        Quantity("exp_prefill_attention_peak_flops", "expected FLOP/s (attention, prefill)", "FLOP/s",
                 "attention_peak_flops*eff_prefill_attention_compute_fraction", fmt="0.000E+00"),
    ]
    tp_q = [
        Quantity("auto_tp_meets", "smallest tp that fits and meets both SLOs", "GPUs", "MIN(tp_meets_column)"),
        Quantity("auto_tp_fits", "smallest tp that fits", "GPUs", "MIN(tp_fits_column)"),
        Quantity("auto_tp_largest", "largest tp the accelerator runs", "GPUs",
                 "MAX(tp_valid_tp_column)"),
        Quantity("auto_tp", "tp chosen automatically", "GPUs",
                 f"IF(auto_tp_meets<{NOT_FOUND},auto_tp_meets,IF(auto_tp_fits<{NOT_FOUND},auto_tp_fits,auto_tp_largest))",
                 note="planner.plan.choose_tp: the smallest that fits and meets both SLOs at batch 1, else the "
                      "smallest that fits, else the largest"),
        Quantity("link_kind", "link the tp group all-reduces over", "", link_kind("tp")),
        Quantity("link_bytes_per_s", "link bandwidth per direction", "bytes/s",
                 f"{link_gbs('link_kind')}*{num(GB)}", fmt="0.000E+00"),
        Quantity("exp_link_bandwidth", "expected link bandwidth", "bytes/s", "link_bytes_per_s*eff_link_fraction",
                 fmt="0.000E+00"),
        Quantity("collective_latency_s", "latency per collective", "s", link_latency("link_kind"), fmt="0.000E+00"),
        Quantity("kv_shards", "ways the KV cache splits by KV head", "", "MIN(tp,m_kv_shards_max)"),
        Quantity("kv_split", "ways an expected step splits the KV cache", "", "IF(eff_replicate_kv,kv_shards,tp)"),
    ]
    sizes = [
        Quantity("full_context", "context a sequence is sized for", "tokens", "input_tokens+output_tokens"),
        Quantity("decode_context", "average context while decoding", "tokens", "input_tokens+output_tokens/2"),
        Quantity("kv_seq_full", "KV bytes of one sequence at full context", "bytes", kv_per_sequence("full_context"),
                 fmt="#,##0"),
        Quantity("kv_seq_decode", "KV bytes of one sequence at the average context", "bytes",
                 kv_per_sequence("decode_context"), fmt="#,##0"),
        Quantity("kv_seq_prompt", "KV bytes one prompt writes", "bytes", kv_per_sequence("input_tokens"), fmt="#,##0"),
        Quantity("weight_bytes_total", "weight bytes", "bytes", "m_total_params*weight_dtype_bytes", fmt="#,##0"),
        Quantity("usable_bytes", "usable memory per GPU", "bytes", "memory_bytes*(1-memory_reserve_fraction)",
                 fmt="#,##0"),
        Quantity("reserve_bytes", "reserved memory per GPU", "bytes", "memory_bytes*memory_reserve_fraction",
                 fmt="#,##0"),
        Quantity("prompt_weight_bytes", "weight bytes a prefill reads", "bytes", step_weight_bytes("input_tokens"),
                 fmt="#,##0"),
        Quantity("prompt_expert_bytes", "routed-expert bytes a prefill reads", "bytes",
                 routed_expert_bytes("input_tokens"), fmt="#,##0"),
        Quantity("prompt_expert_flops", "routed-expert FLOPs of a prefill", "FLOP", routed_expert_flops("input_tokens"),
                 fmt="0.000E+00"),
        Quantity("prompt_attention_flops", "attention FLOPs of a prefill", "FLOP",
                 f"2*m_heads*(m_prefill_qk_dim+m_prefill_v_dim)*((m_layers-m_window_layers)*"
                 f"(input_tokens*(input_tokens+1)/2)+m_window_layers*"
                 f"{causal_pairs('input_tokens', 'm_window_tokens')})",
                 fmt="0.000E+00"),
    ]
    point = [
        Quantity("meets_b1", "batch 1 meets both SLOs", "", "AND(tpot_b1_ms<=tpot_slo_ms,ttft_b1_ms<=ttft_slo_ms)"),
        Quantity("limit_tpot_ms", "user TPOT at the search limit", "ms",
                 f"{user_tpot_s('decode_limit_total_s', 'batch_search_limit')}*{num(MS_PER_S)}"),
        Quantity("limit_ttft_ms", "user TTFT at the search limit", "ms",
                 f"{user_ttft_s('batch_search_limit')}*{num(MS_PER_S)}"),
        Quantity("meets_limit", "the search limit meets both SLOs", "",
                 "AND(limit_tpot_ms<=tpot_slo_ms,limit_ttft_ms<=ttft_slo_ms)"),
        Quantity("batch_slo_bisection", "bisection result (lo)", "sequences", "slo_ladder_last_lo"),
        Quantity("batch_eff", "batch the decode step is timed at", "sequences", "MAX(batch,1)"),
        Quantity("kv_capped", "the KV cache caps the batch", "", "AND(max_batch_memory>=1,batch_slo>max_batch_memory)"),
        Quantity("steps_per_request", "decode steps per request per sequence slot", "", "output_tokens/batch_eff"),
        Quantity("busy_s", "replica busy time per request", "s",
                 "prefill_total_s+steps_per_request*decode_total_s", fmt="0.000E+00"),
        Quantity("memory_used_bytes", "memory in use per GPU", "bytes",
                 "weight_bytes_total/tp+MAX(batch,0)*(kv_seq_full/kv_shards)+reserve_bytes", fmt="#,##0"),
        Quantity("busy_memory_s", "time moving bytes per request", "s",
                 "prefill_memory_s+steps_per_request*decode_memory_s", fmt="0.000E+00"),
        Quantity("busy_compute_s", "time computing per request", "s",
                 "prefill_compute_s+steps_per_request*decode_compute_s", fmt="0.000E+00"),
        Quantity("busy_network_s", "time in all-reduces per request", "s",
                 "prefill_network_s+steps_per_request*decode_network_s", fmt="0.000E+00"),
        Quantity("tokens_per_month", "output tokens per month", "tokens",
                 "qps*output_tokens*hours_per_month*3600", fmt="0.000E+00"),
        Quantity("decode_intensity_b1_flops", "FLOPs of a batch-1 decode step, no context", "FLOP",
                 f"{matmul_flops('1')}+{decode_attention_flops('1', '0')}", fmt="0.000E+00"),
        Quantity("crossover_compute_bound_at_1", "decode is compute-bound at batch 1", "",
                 "{}>={}".format(*crossover_bound("1"))),
        Quantity("crossover_reachable", "compute-bound by the search limit", "",
                 "{}>={}".format(*crossover_bound("crossover_search_limit"))),
    ]
    walls = [
        Quantity("binding_rule", "rule that names the binding wall", "rule",
                 "IF(max_batch_memory<1,1,IF(ttft_b1_ms>ttft_slo_ms,2,IF(tpot_b1_ms>tpot_slo_ms,3,"
                 "IF(AND(ISNUMBER(budget_utilization),budget_utilization>1),4,IF(kv_capped,5,6)))))",
                 note="planner.walls: 1 weights do not fit, 2 unloaded TTFT misses, 3 batch-1 TPOT misses, "
                      "4 over budget, 5 KV cache caps the batch, 6 busiest resource"),
    ]
    for wall, key in WALL_KEYS.items():
        walls.append(Quantity(f"rank_{key}", f"{wall}, for the next wall", "",
                              f"IF(OR(binding_wall=\"{wall}\",NOT(ISNUMBER(util_{key}))),-1,util_{key})"))
    return [
        ("Catalogue lookups", _lookups()),
        ("Rates and efficiencies", rates),
        ("Tensor parallelism", tp_q),
        ("Sizes", sizes),
        ("Operating point", point),
        ("Walls", walls),
    ]


WALL_KEYS: dict[str, str] = {
    W.MEMORY_CAPACITY: "memory_capacity",
    W.MEMORY_BANDWIDTH: "memory_bandwidth",
    W.COMPUTE: "compute",
    W.NETWORK: "network",
    W.BUDGET: "budget",
}
"""Each wall's name (as the planner spells it) and the key of its utilization cell, ``util_<key>``."""


# ------------------------------------------------------------------------------------------------- plan results


def _opt(expr: str, *needs: str) -> str:
    """``expr`` where every name in ``needs`` is a number, else "n/a" (the planner's None)."""
    cond = needs[0] if len(needs) == 1 else None
    test = f"ISNUMBER({cond})" if cond else "AND(" + ",".join(f"ISNUMBER({n})" for n in needs) + ")"
    return f"IF({test},{expr},\"{NA_TEXT}\")"


def _next_wall() -> str:
    """``planner.walls.next_wall``: the highest utilization other than the binding wall; ties go to the name
    that sorts last (Python's max over (utilization, name) pairs)."""
    ranks = [f"rank_{k}" for k in WALL_KEYS.values()]
    top = f"MAX({','.join(ranks)})"
    chain = f"\"{NA_TEXT}\""
    for wall in sorted(WALL_KEYS):  # the first name tested wins ties: test in reverse alphabetical order
        chain = f"IF(rank_{WALL_KEYS[wall]}={top},\"{wall}\",{chain})"
    return f"IF({top}<0,\"{NA_TEXT}\",{chain})"


RESULT_FORMULAS: dict[str, str] = {
    # arithmetic
    "weight_gb": f"weight_bytes_total/{num(GB)}",
    "kv_bytes_per_token": "m_layers*m_kv_elements*kv_dtype_bytes",
    "ridge_flop_per_byte": "peak_flops/bandwidth_bytes_per_s",
    "decode_intensity_b1": f"decode_intensity_b1_flops/({step_weight_bytes('1')}+1*0)",
    "decode_intensity": (f"({matmul_flops('batch_eff')}+{decode_attention_flops('batch_eff', 'decode_context')})/"
                         f"({step_weight_bytes('batch_eff')}+batch_eff*kv_seq_decode)"),
    "crossover_batch": ("IF(NOT(crossover_reachable),\"never\",IF(crossover_compute_bound_at_1,1,"
                        "crossover_ladder_last_hi))"),
    "decode_floor_ms": "decode_floor_total_ms",
    "prefill_floor_ms": "prefill_floor_total_ms",
    "experts_touched": f"IF(m_experts>0,{experts_touched('batch_eff')},\"{NA_TEXT}\")",
    # topology
    "tp": ("IF(ISNUMBER(tp_input),tp_input,IF(OR(tp_input=\"\",tp_input=\"auto\"),auto_tp,VALUE(tp_input)))"),
    "usable_gb_per_gpu": f"usable_bytes/{num(GB)}",
    "weights_gb_per_gpu": f"(weight_bytes_total/tp)/{num(GB)}",
    "kv_gb_per_sequence_per_gpu": f"(kv_seq_full/kv_shards)/{num(GB)}",
    "max_batch_memory": max_batch_memory("tp", "kv_shards"),
    "batch_slo": "IF(NOT(meets_b1),0,IF(meets_limit,batch_search_limit,batch_slo_bisection))",
    "batch": "MIN(max_batch_memory,batch_slo,batch_search_limit)",
    "ttft_ms": f"{user_ttft_s('batch_eff')}*{num(MS_PER_S)}",
    "tpot_ms": f"{user_tpot_s('decode_total_s', 'batch_eff')}*{num(MS_PER_S)}",
    "tpot_b1_ms": f"{user_tpot_s('decode_b1_total_s', '1')}*{num(MS_PER_S)}",
    "ttft_b1_ms": f"{user_ttft_s('1')}*{num(MS_PER_S)}",
    "decode_step_ms": "decode_total_ms",
    "prefill_ms": "prefill_total_ms",
    "replica_rps": "1/busy_s",
    "replicas": (f"IF(batch>=1,MAX(1,CEILING(MAX(qps/replica_rps-replica_tolerance,0),1)),\"{NA_TEXT}\")"),
    "gpus": _opt("replicas*tp", "replicas"),
    "output_tokens_per_s_per_replica": "replica_rps*output_tokens",
    "output_tokens_per_s_per_gpu": "replica_rps*output_tokens/tp",
    "output_tokens_per_s_per_user": f"{num(MS_PER_S)}/tpot_ms",
    # cost
    "usd_per_gpu_hour": (f"IF(ISNUMBER(usd_per_gpu_hour_input),usd_per_gpu_hour_input,"
                         f"IF(a_usd_per_gpu_hour>0,a_usd_per_gpu_hour,\"{NA_TEXT}\"))"),
    "usd_month": _opt("gpus*usd_per_gpu_hour*hours_per_month", "gpus", "usd_per_gpu_hour"),
    "usd_per_million_output_tokens": _opt("usd_month/tokens_per_month*1000000", "usd_month"),
    "budget_utilization": _opt("usd_month/budget_usd_month", "usd_month", "budget_usd_month"),
    # walls
    "util_memory_capacity": "memory_used_bytes/memory_bytes",
    "util_memory_bandwidth": "busy_memory_s/busy_s",
    "util_compute": "busy_compute_s/busy_s",
    "util_network": "busy_network_s/busy_s",
    "util_budget": "budget_utilization",
    "binding_wall": (f"IF(binding_rule=1,\"{W.MEMORY_CAPACITY}\",IF(binding_rule=2,"
                     f"{dominant('prefill_memory_s', 'prefill_compute_s', 'prefill_network_s')},"
                     f"IF(binding_rule=3,"
                     f"{dominant('decode_b1_memory_s', 'decode_b1_compute_s', 'decode_b1_network_s')},"
                     f"IF(binding_rule=4,\"{W.BUDGET}\",IF(binding_rule=5,\"{W.MEMORY_CAPACITY}\","
                     f"{dominant('util_memory_bandwidth', 'util_compute', 'util_network')})))))"),
    "binding_reason": "INDEX(rule_texts,binding_rule)",
    "next_wall": _next_wall(),
    "advice": "INDEX(advice_texts,MATCH(binding_wall,advice_walls,0))",
    "feasible": ("IF(AND(ISNUMBER(replicas),OR(NOT(ISNUMBER(budget_utilization)),budget_utilization<=1)),"
                 "\"yes\",\"no\")"),
}
"""Every result on the Plan sheet, by name; the names that are keys of the planner's ``values`` mean the same."""

RULE_TEXTS: tuple[str, ...] = (
    "the weights (plus one sequence's KV cache) do not fit a GPU at this tp",
    "even unloaded, the first token misses the TTFT SLO; the wall is the part that dominates the prefill",
    "even at batch 1 a user's TPOT misses the SLO; the wall is the part that dominates the decode step",
    "the replicas the traffic needs cost more than the budget",
    "the KV cache caps the batch below what the TPOT SLO would allow",
    "at the batch the SLOs allow, this resource is the busiest",
)
"""The binding rule of ``planner.walls`` (numbered 1-6 in ``binding_rule``), as a planner reads it."""

ADVICE_TEXTS: dict[str, str] = {
    W.MEMORY_CAPACITY: "raise tp, store the KV cache in fp8, quantize the weights (fp8/int4), or use an accelerator "
                       "with more memory (see memory_gb on the Catalogue sheet)",
    W.MEMORY_BANDWIDTH: "read fewer bytes per step (fp8/int4 weights, fp8 KV) or use faster memory (see "
                        "memory_bandwidth_tbs on the Catalogue sheet); a looser TPOT SLO lets the batch amortize the "
                        "weight read",
    W.COMPUTE: "an fp8 (or fp4) compute rate, a faster accelerator, disaggregated prefill, shorter prompts or "
               "prefix caching",
    W.NETWORK: "all-reduces dominate: use a smaller tp and more replicas, or accelerators with a scale-up link "
               "(NVLink, Infinity Fabric)",
    W.BUDGET: "a cheaper accelerator per token, fp8/int4 weights, a looser TPOT SLO (bigger batches), or a larger "
              "budget",
}
"""What to change next, per binding wall (the planner's advice without the plan-specific numbers)."""


# --------------------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Column:
    """One column of a Catalogue table: ``key`` (also the defined name ``cat_<table>_<key>``), a header, and
    for derived columns a formula over the row (``{col}`` placeholders name other columns of the same row)."""

    key: str
    header: str
    width: float = 10
    formula: str = ""
    fmt: str = ""


MODEL_DERIVED: tuple[Column, ...] = (
    Column("attention_params", "attention params per layer", 14,
           "IF({attention}=\"mla\",IF({q_lora_rank}>0,{hidden_size}*{q_lora_rank}+{q_lora_rank}+{q_lora_rank}*"
           "{heads}*({qk_nope_head_dim}+{qk_rope_head_dim}),{hidden_size}*{heads}*({qk_nope_head_dim}+"
           "{qk_rope_head_dim}))+{hidden_size}*({kv_lora_rank}+{qk_rope_head_dim})+{kv_lora_rank}+{kv_lora_rank}*"
           "{heads}*({qk_nope_head_dim}+{v_head_dim})+{heads}*{v_head_dim}*{hidden_size},"
           "{hidden_size}*{heads}*{head_dim}+2*{hidden_size}*{kv_heads}*{head_dim}+{heads}*{head_dim}*{hidden_size}"
           "+IF({qkv_bias},{heads}*{head_dim}+2*{kv_heads}*{head_dim},0))", "#,##0"),
    Column("expert_params", "params per expert", 12, "IF({experts}>0,3*{hidden_size}*{expert_intermediate_size},0)",
           "#,##0"),
    Column("moe_layers", "MoE layers", 8, "IF({experts}>0,{layers}-{first_dense_layers},0)"),
    Column("routed_expert_params", "routed expert params", 16, "{moe_layers}*{experts}*{expert_params}", "#,##0"),
    Column("embedding_params", "embedding params", 14, "{vocab_size}*{hidden_size}", "#,##0"),
    Column("total_params", "total params", 16,
           "{layers}*({attention_params}+2*{hidden_size})+{hidden_size}+{embedding_params}*IF({tie_word_embeddings},1,2)"
           "+IF({experts}>0,{first_dense_layers}*3*{hidden_size}*{intermediate_size}+{moe_layers}*({hidden_size}*"
           "{experts}+{shared_experts}*{expert_params})+{routed_expert_params},{layers}*3*{hidden_size}*"
           "{intermediate_size})", "#,##0"),
    Column("always_read_params", "always-read params", 16, "{total_params}-{routed_expert_params}", "#,##0"),
    Column("active_params", "active params", 16,
           "{always_read_params}+{moe_layers}*{experts_per_token}*{expert_params}", "#,##0"),
    Column("matmul_params", "matmul params", 16, "{active_params}-IF({tie_word_embeddings},0,{embedding_params})",
           "#,##0"),
    Column("kv_elements", "KV values / token / layer", 12,
           "IF({attention}=\"mla\",{kv_lora_rank}+{qk_rope_head_dim},2*{kv_heads}*{head_dim})"),
    Column("kv_shards_max", "KV splits at most", 10, "IF({attention}=\"mla\",1,{kv_heads})"),
    Column("decode_qk_dim", "decode q·k dim", 10,
           "IF({attention}=\"mla\",{kv_lora_rank}+{qk_rope_head_dim},{head_dim})"),
    Column("decode_v_dim", "decode v dim", 10, "IF({attention}=\"mla\",{kv_lora_rank},{head_dim})"),
    Column("prefill_qk_dim", "prefill q·k dim", 10,
           "IF({attention}=\"mla\",{qk_nope_head_dim}+{qk_rope_head_dim},{head_dim})"),
    Column("prefill_v_dim", "prefill v dim", 10, "IF({attention}=\"mla\",{v_head_dim},{head_dim})"),
)
"""``planner.catalogue.Model``'s derived counts (attention_params_per_layer, expert_params, moe_layers,
routed_expert_params, embedding_params, total_params, always_read_params, active_params, matmul_params,
kv_elements_per_token_per_layer, kv_shards_max, decode/prefill_attention_dims) as row formulas."""

MODEL_DERIVED_PLANNER: dict[str, str] = {
    "attention_params": "attention_params_per_layer", "kv_elements": "kv_elements_per_token_per_layer",
}
"""Where a derived column's key differs from the ``Model`` attribute it mirrors."""
