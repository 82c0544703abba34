"""The native-formula rendering of whichwall's arithmetic: every quantity of a plan as one spreadsheet formula.

This module is the one place the workbook's formulas are written. Each quantity is named like the planner's value
(``planner.plan.evaluate(spec).values`` keys for results; ``m_*`` model fields, ``a_*`` accelerator fields,
``eff_*`` measured efficiencies, ``op_*`` the operating point for the workings) and becomes a workbook-level defined
name, so formulas read like the planner's code: ``=weight_bytes_total/(op_tp*op_pp)``. The tests recalculate
exported plans in LibreOffice and compare every result with the planner, so a change in ``planner`` that is not
mirrored here fails a test.

Only functions every spreadsheet has are used, the Excel 2010 set: ``FUNCTIONS_USED`` — AND, CEILING, COUNT, COUNTA,
EXP, FIND, IF, INDEX, INT, ISNUMBER, LN, MATCH, MAX, MIN, MOD, NA, NOT, OFFSET, OR, VALUE (OFFSET and COUNTA only in
the defined names that feed the drop-down lists; FIND only in the engine's small-GPU test, an id within the
accelerator's). No XLOOKUP, LET, LAMBDA, MINIFS/MAXIFS, dynamic arrays, array formulas or structured references.
"n/a" (text) stands where the planner has None.

Mirrors, with the planner function each one follows:

- ``step_time``: ``planner.roofline.step_time`` (the floors' steps, with ``StepTime.overlap``); fragments
  ``attended``, ``kv_per_sequence``, ``experts_touched``, ``expert_load``, ``step_weight_bytes``,
  ``gathered_embedding_bytes``, ``matmul_flops``, ``decode_attention_flops``: the ``planner.roofline`` functions of
  the same names;
- ``candidate_row``: one row of ``planner.evaluator.build`` and ``operate`` per layout (tp, pp, ep) that
  ``planner.topology.layouts`` allows: the decode step's affine coefficients (``_decode_coefficients``), pipeline
  hops and expert all-to-alls (``extra_network_s``, ``hop_link``), the prefill of one prompt and what a second
  prompt prefilled with it adds (``batched_prefill_inputs``: the ``pk_`` slopes), the largest batch that fits, the
  engine's batch cap (``batch_cap`` ÷ pp), the SLO batch (``slo_batches``, 17 steps, one per binary digit of the
  batch) and the operating batch min(fits, SLO, cap); its cost and times at that batch (``metrics``) and the
  ranking keys of ``planner.plan.best_index``. Each request's prefill share (``Rows.prefill_share``: k prompts
  prefilled together, ``serving.prompts_per_iteration``) is in its TPOT and busy time;
- ``OPERATING``: ``planner.evaluator.metrics`` of the chosen row (utilizations, step-time split, the binding rule
  and wall of ``planner.walls``), twice: for the plan, and for the same layout with the binding wall relaxed by
  ``planner.walls.RELAXATIONS`` or, where the engine's cap binds (rule 7), with the cap lifted
  (``planner.plan._next_wall``), whose wall is the next wall;
- ``rate_quantities``' ``batch_cap`` and ``token_budget``: ``planner.evaluator.batch_cap`` and
  ``planner.efficiency.engine_max_sequences`` / ``engine_token_budget`` (the Assumptions sheet's engine table, from
  ``serving.yaml``'s ``engine_batch_caps``), on the side's memory per GPU;
- ``RESULT_FORMULAS``: ``planner.plan._result`` (values, with n/a where it has None);
- the crossover batch is ``planner.roofline.crossover_batch``'s bisection unrolled, one row per step;
- ``sweep_row``, ``ROOF_POINTS``, ``PREFILL_POINT``: the Roofline sheet (``planner.evaluator.decode`` of the plan's
  layout at each microbatch, ``planner.roofline.decode_intensity``, ``planner.topology.memory_used_bytes``);
- ``MODEL_DERIVED``: the parameter counts of ``planner.catalogue.Model``.

The SLO batch is found digit by digit (``SLO_BITS``): the largest batch up to ``BATCH_SEARCH_LIMIT`` that meets
both SLOs, the batch ``planner.evaluator.bisect`` converges on, since both a user's TPOT and TTFT grow with the batch
(the bisection's own premise); it needs one test per digit instead of a lo/hi/mid row per halving.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from planner import topology
from planner import walls as W
from planner.evaluator import BATCH_SEARCH_LIMIT
from planner.plan import FASTER_BY, FASTER_COMPUTE_FORMATS, NARROWER
from planner.roofline import ALLREDUCES_PER_LAYER, CROSSOVER_SEARCH_LIMIT, EXPECTED_MAX_OF_NORMALS
from planner.units import ACTIVATION_BYTES, GB, GIB, MS_PER_S, SECONDS_PER_HOUR, TB, TERA, TOKENS_PER_MILLION, US_PER_S

NA_TEXT = "n/a"
"""What a cell shows where the planner's value is None."""

FUNCTIONS_USED: tuple[str, ...] = (
    "AND", "CEILING", "COUNT", "COUNTA", "EXP", "FIND", "IF", "INDEX", "INT", "ISNUMBER", "LN", "MATCH", "MAX",
    "MIN", "MOD", "NA", "NOT", "OFFSET", "OR", "VALUE",
)
"""Every spreadsheet function a plan workbook uses (cells, defined names, validations, conditional formats); the
tests check the list is complete and true."""

REPLICA_TOLERANCE = topology.REPLICA_TOLERANCE
"""``planner.topology.REPLICA_TOLERANCE``: replicas = ceil(qps / rps − 1e-9), so an exact multiple needs no extra."""

SLO_BITS: tuple[int, ...] = tuple(2**i for i in reversed(range(BATCH_SEARCH_LIMIT.bit_length())))
"""The steps of the SLO-batch search: the binary digits of a batch up to ``BATCH_SEARCH_LIMIT`` (2^16 … 1, 17 of
them). Each step keeps its digit where the batch with it still meets both SLOs: the largest batch meeting them,
as ``planner.evaluator.bisect`` finds it (both times grow with the batch, so both searches find the same batch),
then at most ``BATCH_SEARCH_LIMIT`` (the digits may sum past it only where the limit itself meets the SLOs)."""

CROSSOVER_LADDER_STEPS = math.ceil(math.log2(CROSSOVER_SEARCH_LIMIT - 1)) + 1
"""Rows of the unrolled crossover-batch bisection over [1, CROSSOVER_SEARCH_LIMIT]."""

PP_CHOICES = topology.PP_CHOICES
EP_CHOICES = (1, 2)
"""The ep options of a candidate: 1 (experts split like every matrix) or 2 (ep = tp: whole experts per GPU)."""

CANDIDATES = topology.TP_SLOTS * len(PP_CHOICES) * len(EP_CHOICES)
"""Rows of the candidate table: one per (tp slot, pp choice, ep choice), in ``planner.topology.layouts``' order."""

ENGINE_SMALL_ID_SLOTS = 2
"""Columns of the engine table for ``small_gpu_ids`` (ids an engine treats as small GPUs whatever their memory)."""

TP_HELPER_ROWS = topology.MAX_GPUS_PER_REPLICA
"""Rows of the table of tensor-parallel sizes (n = 1 … 64) the tp slots are read from."""


def num(x: float) -> str:
    """A number as a formula literal (exact: Python's shortest round-trip repr)."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


MS = num(MS_PER_S)
A_BYTES = num(ACTIVATION_BYTES)


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
    """``planner.roofline.experts_touched``: E·(1 − (1 − k/E)^tokens) (ln(1 − k/E) is ``experts_log_miss``), all E
    experts where every token routes to all, 0 for a dense model (E = 0)."""
    return f"IF(experts_all,m_experts,m_experts*(1-EXP({tokens}*experts_log_miss)))"


def expected_max_of_normals(ep: str) -> str:
    """``planner.roofline.expert_load``'s z_ep: ``EXPECTED_MAX_OF_NORMALS`` (the named column
    ``expected_max_of_normals``, n = 1, 2, 4, …, 128) interpolated linearly in log2(ep), as ``np.interp`` does
    (clamped at both ends)."""
    x = f"MIN(LN(MAX({ep},1))/LN(2),{len(EXPECTED_MAX_OF_NORMALS) - 1})"
    lo = f"INDEX(expected_max_of_normals,INT({x})+1)"
    hi = f"INDEX(expected_max_of_normals,MIN(INT({x})+2,{len(EXPECTED_MAX_OF_NORMALS)}))"
    return f"{lo}+({x}-INT({x}))*({hi}-{lo})"


MISS_AS_LOG_BELOW = 2e-13
"""Where 1 − t/E (the share of experts a step misses) is below this, ``expert_load`` takes it as −ln(t/E): the two
agree to 1e-13 there (−ln(1 − r) = r + r²/2 + …), and spreadsheets round a difference of two numbers within 2^-48
of each other to 0 (LibreOffice's approxSub), which the square root would magnify to ~1e-9 of the load."""


def expert_load(tokens: str, ep: str, z: str) -> str:
    """``planner.roofline.expert_load``: routed experts per MoE layer at the busiest of ``ep`` expert-parallel
    groups (× ep): t + z_ep · √(ep · t · (1 − t / E)), t = ``experts_touched(tokens)``, ``z`` the cell holding
    ``expected_max_of_normals(ep)``; t for a dense model (E = 0) or ep = 1 (z = 0). 1 − t/E within
    ``MISS_AS_LOG_BELOW`` of 0 is written −ln(t/E)."""
    t = experts_touched(tokens)
    share = f"{t}/MAX(m_experts,1)"
    miss = f"IF({share}>{num(1 - MISS_AS_LOG_BELOW)},-LN({share}),1-{share})"
    return f"({t}+{z}*MAX({ep}*{t}*{miss},0)^0.5)"


def step_weight_bytes(tokens: str) -> str:
    """``planner.roofline.step_weight_bytes``: weight bytes a step over ``tokens`` tokens reads."""
    return f"(m_always_read_params+m_moe_layers*{experts_touched(tokens)}*m_expert_params)*weight_dtype_bytes"


def routed_expert_bytes(tokens: str) -> str:
    """``planner.roofline.routed_expert_bytes``: the routed experts' share of ``step_weight_bytes``."""
    return f"m_moe_layers*{experts_touched(tokens)}*m_expert_params*weight_dtype_bytes"


def routed_expert_flops(tokens: str) -> str:
    """``planner.roofline.routed_expert_flops``: 2 · tokens · MoE layers · k · params per expert."""
    return f"2*{tokens}*m_moe_layers*m_experts_per_token*m_expert_params"


def prompt_expert_load_bytes(load: str) -> str:
    """``planner.roofline._experts``' bytes: MoE layers · ``load`` experts · params per expert · bytes (the routed
    experts a prefill reads at the busiest group's load, × ep)."""
    return f"m_moe_layers*{load}*m_expert_params*weight_dtype_bytes"


def gathered_embedding_bytes(tokens: str) -> str:
    """``planner.roofline._gathered_embedding_bytes``: an untied input-embedding table less the rows ``tokens``
    tokens gather (what a strict floor need not read); 0 for a tied model."""
    return (f"IF(m_tie_word_embeddings,0,(m_embedding_params-MIN({tokens},m_vocab_size)*m_hidden_size)"
            f"*weight_dtype_bytes)")


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


def decode_bytes_strict(batch: str, context_kv: str) -> str:
    """``planner.roofline.decode_bytes``: the weights a decode step's tokens touch (of an untied embedding table
    only the rows they gather) plus ``batch`` sequences' KV cache (``context_kv`` bytes each)."""
    return f"({step_weight_bytes(batch)}-{gathered_embedding_bytes(batch)}+{batch}*{context_kv})"


def decode_intensity(batch: str, context: str, context_kv: str) -> str:
    """``planner.roofline.decode_intensity``: FLOPs of a decode step ÷ the bytes it must read."""
    return (f"({matmul_flops(batch)}+{decode_attention_flops(batch, context)})/"
            f"{decode_bytes_strict(batch, context_kv)}")


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


def prefill_compute_fraction(decode_fraction: str) -> str:
    """``Efficiency.prefill_compute``: the (16-bit) prefill fraction × ``decode_fraction`` ÷ the 16-bit decode
    fraction (1 where that is 0), at most 1; ``decode_fraction`` where no prefill fraction was fitted."""
    pre = efficiency("prefill_compute_fraction")
    ratio = f"IF(eff_compute_fraction_16bit>0,{decode_fraction}/eff_compute_fraction_16bit,1)"
    return f"IF({pre}=\"\",{decode_fraction},MIN(1,{pre}*{ratio}))"


def burst(batch: str) -> str:
    """``planner.serving.aggregated_times``' burst term at a batch B ≥ 1: a · (B − 1)^β · (1024 / output_tokens)^δ
    (the last factor is ``burst_scale``), 0 at B = 1."""
    return f"IF({batch}>1,eff_burst_coefficient*({batch}-1)^eff_burst_exponent*burst_scale,0)"


def user_tpot_ms(decode_s: str, batch: str, prefill_s: str) -> str:
    """``planner.serving.aggregated_times``: TPOT = t_d + (B / output_tokens) · t_k, in ms (``prefill_s``: t_k, each
    request's prefill share at B; t_p, one prompt's prefill, at B ≤ output_tokens where k = 1)."""
    return f"({decode_s}+{batch}/output_tokens*{prefill_s})*{MS}"


def user_ttft_ms(decode_s: str, batch: str, prefill_s: str) -> str:
    """``planner.serving.aggregated_times``: TTFT = o_r + t_d + t_p · (1 + burst(B)), in ms (t_d: the decode step
    of the B sequences in flight that the prompt's iteration also runs)."""
    return f"(eff_request_overhead_s+{decode_s}+{prefill_s}*(1+{burst(batch)}))*{MS}"


def prompts_per_iteration(batch: str, k_max: str) -> str:
    """``planner.serving.prompts_per_iteration``: k = clip(B / output_tokens, 1, k_max), the prompts prefilled
    together per decode step (``k_max``: the engine's token budget ÷ the prompt tokens, at least 1 already)."""
    return f"MIN(MAX({batch}/output_tokens,1),{k_max})"


def share_part(one: str, slope: str, k: str) -> str:
    """``planner.evaluator.Rows.prefill_share``: one part of each prompt's share of an iteration prefilling ``k``
    prompts, (part of one prompt + (k − 1) · what each more prompt adds) / k, written as the planner does: the slope
    plus what one prompt adds beyond it, over k."""
    return f"({slope}+({one}-{slope})/{k})"


def experts_beyond_linear(k: str, ep: str, z: str, one: str, two: str) -> str:
    """``planner.evaluator.Rows._experts_beyond_linear``: routed experts per MoE layer ``k`` prompts prefilled
    together load beyond the line through one and two prompts (``one``, ``two``: their loads),
    L(k·P) − L(P) − (k − 1)(L(2P) − L(P)); 0 for a dense model."""
    return f"({expert_load(f'{k}*input_tokens', ep, z)}-{one}-({k}-1)*({two}-{one}))"


def share_total(o: Callable[[str], str], k: str) -> str:
    """``Rows.prefill_share(b).total_s`` at ``k`` prompts per iteration: max(memory, compute) + network + overhead of
    the shared parts (``o(key)``: the side's ``pre_*`` and ``pk_*`` names; a second prompt's compute equals the
    first's exactly, twice the FLOPs at the same rates, so ``pre_compute_s`` is its own slope)."""
    beyond = experts_beyond_linear(k, o("ep"), o("ep_z"), o("pre_load"), o("pre2_load"))
    m = f"{share_part(o('pre_memory_s'), o('pk_memory_s'), k)}+{o('me')}*{beyond}/{k}"
    c = share_part(o("pre_compute_s"), o("pre_compute_s"), k)
    n = share_part(o("pre_network_s"), o("pk_network_s"), k)
    return f"(MAX({m},{c})+{n}+{share_part('prefill_overhead_s', 'pk_overhead_s', k)})"


def candidate_share_s(c: Callable[[str], str], batch: str, k_max: str) -> str:
    """``share_total`` in the candidate table (the SLO search and the operating batch), as
    ``Rows.prefill_share_s`` sums it, k twice: memory pk_m + (pre_m − pk_m) / k + me · (the experts beyond the
    line, ``experts_beyond_linear``) / k, compute pre_c (a second prompt's compute is the first's), network and
    overheads together pk_n + sequence overhead + (pre_n − pk_n + step overhead) / k (its ``pk_fixed_s``,
    ``pd_fixed_s``; the same sums to the last bits)."""
    k = prompts_per_iteration(batch, k_max)
    pm, pc, pn, km, kn = (c(x) for x in ("pre_memory_s", "pre_compute_s", "pre_network_s", "pk_memory_s",
                                         "pk_network_s"))
    beyond = experts_beyond_linear(k, c("ep"), c("ep_z"), c("pre_load"), c("pre2_load"))
    return (f"(MAX({km}+({pm}-{km})/{k}+{c('me')}*{beyond}/{k},{pc})+{kn}+sequence_overhead_s"
            f"+({pn}-{kn}+step_overhead_s)/{k})")


def dominant(memory: str, compute: str, network: str) -> str:
    """``planner.walls.dominant``: the largest of three times; ties go to memory bandwidth, then compute."""
    return (f"IF(AND({memory}>={compute},{memory}>={network}),\"{W.MEMORY_BANDWIDTH}\","
            f"IF({compute}>={network},\"{W.COMPUTE}\",\"{W.NETWORK}\"))")


def within(link: str, gpus: str) -> str:
    """``gpus`` GPUs share the accelerator's ``link`` (scaleup or pcie) domain (``<link>_gpus``: 0 without it)."""
    return f"{gpus}<={link}_gpus"


def ring_s(tp: str, tokens: str, link: str) -> str:
    """``planner.roofline.step_time``'s ring all-reduce of ``tokens`` tokens' activations: 2(tp−1)/tp · message /
    link bandwidth."""
    return f"2*({tp}-1)/{tp}*({tokens}*m_hidden_size*{A_BYTES})/{link}"


def allreduce_s(tp: str, tokens: str, layers: str, link: str, latency: str) -> str:
    """``step_time``'s network part: 2 all-reduces per layer, each a ring plus a latency; 0 at tp = 1."""
    return f"IF({tp}>1,{num(ALLREDUCES_PER_LAYER)}*{layers}*({ring_s(tp, tokens, link)}+{latency}),0)"


def extra_network_s(tokens: str, tp: str, pp: str, ep: str, link: str, latency: str, hop: str,
                    hop_latency: str) -> str:
    """``planner.evaluator.extra_network_s``: (pp − 1) pipeline hops of ``tokens`` tokens' activations, and at
    ep > 1 two all-to-alls per MoE layer instead of the experts' all-reduce."""
    hops = f"({pp}-1)*({tokens}*m_hidden_size*{A_BYTES}/({tp}*{hop})+{hop_latency})"
    per_gpu = f"{tokens}*m_experts_per_token*m_hidden_size*{A_BYTES}*({ep}-1)/({ep}*{tp})"
    all_to_all = f"m_moe_layers*2*({per_gpu}/{link}+{latency})"
    experts_allreduce = (f"{num(ALLREDUCES_PER_LAYER)}*(m_moe_layers/{num(ALLREDUCES_PER_LAYER)})*"
                         f"({ring_s(tp, tokens, link)}+{latency})")
    return f"{hops}+IF({ep}>1,{all_to_all}-{experts_allreduce},0)"


def decode_memory_s(c: Callable[[str], str], batch: str) -> str:
    """``planner.evaluator.decode``: memory = m0 + m1·b + me·x(b), x = ``expert_load`` at the layout's ep
    (``c('ep')``, its z_ep ``c('ep_z')``)."""
    return f"{c('m0')}+{c('m1')}*{batch}+{c('me')}*{expert_load(batch, c('ep'), c('ep_z'))}"


def decode_total_s(c: Callable[[str], str], batch: str) -> str:
    """``planner.evaluator.decode(...).total_s``: max(memory, compute) + network + overhead, each affine in b."""
    return (f"MAX({decode_memory_s(c, batch)},{c('c1')}*{batch})+({c('n0')}+{c('n1')}*{batch})"
            f"+(step_overhead_s+sequence_overhead_s*{batch})")


def decode_total_bisect_s(c: Callable[[str], str], batch: str) -> str:
    """``planner.evaluator.decode_total_s`` (the search's inner loop): max(memory, compute) + (n0 + o0) +
    (n1 + o1)·b (``c('n0o')``, ``c('n1o')``: the sums)."""
    return f"MAX({decode_memory_s(c, batch)},{c('c1')}*{batch})+{c('n0o')}+{c('n1o')}*{batch}"


def meets_slos(c: Callable[[str], str], batch: str, step: str, k_max: str) -> str:
    """``planner.evaluator.slo_batches``' test: a user's TPOT (with each request's prefill share at ``batch``,
    ``candidate_share_s``) and TTFT at ``batch``, both with the decode step ``step`` at that batch
    (``decode_total_bisect_s``), are within both SLOs."""
    tpot = user_tpot_ms(step, batch, candidate_share_s(c, batch, k_max))
    return f"AND({tpot}<=tpot_slo_ms,{user_ttft_ms(step, batch, c('pre_total_s'))}<=ttft_slo_ms)"


def replicas(qps_per_replica: str) -> str:
    """``planner.evaluator.metrics``: replicas = max(ceil(qps / requests/s per replica − 1e-9), 1)."""
    return f"MAX(CEILING(MAX(qps/{qps_per_replica}-replica_tolerance,0),1),1)"


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


def step_time(arg: Mapping[str, str], part: Callable[[str], str], overlap: bool = False) -> dict[str, str]:
    """``planner.roofline.step_time`` as formulas: ``arg`` maps each of ``STEP_ARGS`` to a cell reference,
    ``part(name)`` is the reference of an earlier part of the same step. Returns the formula of each ``STEP_PARTS``.

    memory = ((weight_bytes + expert_weight_bytes / expert_bandwidth_fraction) / tp + kv_bytes / kv_split)
             / bandwidth;
    compute = ((matmul_flops + expert_matmul_flops / expert_compute_fraction) / peak
               + attention_flops / attention_peak) / tp;
    network = 2 · layers · [2(tp−1)/tp · tokens · hidden · 2 bytes / link_bandwidth + latency] (0 at tp = 1);
    overhead = step_overhead + sequences · sequence_overhead; total = max(memory, compute) + network + overhead,
    or with ``overlap`` (floors, ``StepTime.overlap``) max(memory, compute, network) + overhead.
    """
    a, tp = arg, arg["tp"]
    w, ew, kv, ks = a["weight_bytes"], a["expert_weight_bytes"], a["kv_bytes"], a["kv_split"]
    mm, em, att = a["matmul_flops"], a["expert_matmul_flops"], a["attention_flops"]
    m, c, n, o = part("memory_s"), part("compute_s"), part("network_s"), part("overhead_s")
    return {
        "bytes_per_gpu": f"({w}+{ew})/{tp}+{kv}/{ks}",
        "flops_per_gpu": f"({mm}+{em}+{att})/{tp}",
        "memory_s": f"(({w}+{ew}/{a['expert_bandwidth_fraction']})/{tp}+{kv}/{ks})/{a['bandwidth']}",
        "compute_s": (f"(({mm}+{em}/{a['expert_compute_fraction']})/{a['peak_flops']}"
                      f"+{att}/{a['attention_peak_flops']})/{tp}"),
        "network_s": allreduce_s(tp, a["tokens"], "m_layers", a["link_bandwidth"], a["collective_latency_s"]),
        "overhead_s": f"{a['step_overhead_s']}+{a['sequences']}*{a['sequence_overhead_s']}",
        "total_s": f"MAX(MAX({m},{c}),{n})+{o}" if overlap else f"MAX({m},{c})+{n}+{o}",
        "total_ms": f"{part('total_s')}*{MS}",
    }


FLOOR_RATES: dict[str, str] = {
    "bandwidth": "bandwidth_bytes_per_s", "peak_flops": "peak_flops", "attention_peak_flops": "attention_peak_flops",
    "expert_bandwidth_fraction": "1", "expert_compute_fraction": "1", "link_bandwidth": "floor_link_bytes_per_s",
    "collective_latency_s": "0", "step_overhead_s": "0", "sequence_overhead_s": "0", "kv_split": "op_tp",
    "tp": "op_tp",
}
"""Rates of a floor (``Efficiency.ideal``): catalogue peaks exactly, no latency, no overhead, the KV cache spread
over every GPU of the plan's tp group."""

FLOOR_STEPS: dict[str, tuple[str, dict[str, str]]] = {
    "decode_floor": ("decode floor: batch 1, no context, strict (roofline.decode_step)", {
        "weight_bytes": f"{step_weight_bytes('1')}-{routed_expert_bytes('1')}-{gathered_embedding_bytes('1')}",
        "expert_weight_bytes": routed_expert_bytes("1"), "kv_bytes": f"1*{kv_per_sequence('0')}",
        "matmul_flops": f"{matmul_flops('1')}-{routed_expert_flops('1')}",
        "expert_matmul_flops": routed_expert_flops("1"), "attention_flops": decode_attention_flops("1", "0"),
        "tokens": "1", "sequences": "1", **FLOOR_RATES}),
    "prefill_floor": ("prefill floor: one prompt, strict (roofline.prefill_step)", {
        "weight_bytes": f"prompt_weight_bytes-prompt_expert_bytes-{gathered_embedding_bytes('input_tokens')}",
        "expert_weight_bytes": "prompt_expert_bytes", "kv_bytes": "kv_seq_prompt",
        "matmul_flops": f"{matmul_flops('input_tokens')}-prompt_expert_flops-2*lm_head_params*(input_tokens-1)",
        "expert_matmul_flops": "prompt_expert_flops", "attention_flops": "prompt_attention_flops",
        "tokens": "input_tokens", "sequences": "1", **FLOOR_RATES}),
}
"""The strict floors the plan reports (``decode_floor_ms``, ``prefill_floor_ms``): rows of the Steps table, cells
named ``<step>_<part>``; max(memory, compute, network), no overheads."""


# ------------------------------------------------------------------------------------------ rates, and relaxed

RELAXABLE: tuple[str, ...] = (
    "memory_bytes", "usable_bytes", "bandwidth_bytes_per_s", "exp_bandwidth", "peak_flops", "attention_peak_flops",
    "exp_peak_flops", "exp_attention_peak_flops", "exp_prefill_peak_flops", "exp_prefill_attention_peak_flops",
    "scaleup_link_bandwidth", "pcie_link_bandwidth", "nic_bytes_per_s", "nic_link_bandwidth", "budget_cap",
    "engine_small", "batch_cap", "token_budget", "k_max",
)
"""The rates ``planner.plan.relaxed_accelerator`` (and, for the budget and the engine's cap, ``_next_wall``)
changes: each is a named cell for the plan and one (``rx_<name>``) for the plan's layout with its binding wall
relaxed (the engine's defaults follow the relaxed memory per GPU, as the planner's do)."""


@dataclass(frozen=True)
class Side:
    """One of the two evaluations the workbook makes of a layout: the plan's (``relaxed`` False) or the same layout
    with the binding wall relaxed (for the next wall). ``src(column)`` reads a column of the candidate table at
    this side's row."""

    relaxed: bool
    src: Callable[[str], str]

    def rate(self, name: str) -> str:
        """The name of a rate on this side (``rx_<name>`` for a relaxable rate of the relaxed side)."""
        return f"rx_{name}" if self.relaxed and name in RELAXABLE else name

    def op(self, key: str) -> str:
        """The name of an operating-point quantity on this side."""
        return f"rx_{key}" if self.relaxed else f"op_{key}"


PLAN = Side(False, lambda col: f"INDEX(cand_{col},chosen_candidate)")
"""The plan's side: the chosen candidate's row."""


def _relaxed(expr: str, factor: str, s: Side) -> str:
    """``expr`` (a catalogue figure) times the relaxation ``factor`` on the relaxed side, as
    ``planner.plan.relaxed_accelerator`` multiplies the catalogue's figure."""
    return f"{expr}*{factor}" if s.relaxed else expr


def rate_quantities(s: Side) -> list[Quantity]:
    """The rates a layout runs at (catalogue figures times the measured fractions), on side ``s``."""
    r = s.rate
    link = "a_{0}_gbs" + ("*relax_network" if s.relaxed else "") + f"*{num(GB)}*eff_link_fraction"
    nic = (f"IF(relax_network=1,nic_bytes_per_s,nic_bytes_per_s/{num(GB)}*relax_network*{num(GB)})" if s.relaxed
           else f"IF(a_scaleout_gbs>0,a_scaleout_gbs,scaleout_default_gbs)*{num(GB)}")
    budget = ("IF(AND(ISNUMBER(budget_usd_month),NOT(relax_budget)),budget_usd_month,\"n/a\")" if s.relaxed
              else "IF(ISNUMBER(budget_usd_month),budget_usd_month,\"n/a\")")
    cap = ("IF(ISNUMBER(max_batch_input),max_batch_input,IF(AND({small},ISNUMBER(engine_small_max_sequences)),"
           "engine_small_max_sequences,engine_max_sequences))")
    sci = "0.000E+00"
    q = [
        Quantity(r("memory_bytes"), "memory per GPU", "bytes", f"{_relaxed('a_memory_gb', 'relax_memory', s)}*"
                 f"{num(GB)}", sci),
        Quantity(r("usable_bytes"), "usable memory per GPU (less the reserve)", "bytes",
                 f"{r('memory_bytes')}*(1-memory_reserve_fraction)", "#,##0"),
        Quantity(r("bandwidth_bytes_per_s"), "memory bandwidth (peak)", "bytes/s",
                 f"{_relaxed('a_memory_bandwidth_tbs', 'relax_bandwidth', s)}*{num(TB)}", sci),
        Quantity(r("exp_bandwidth"), "expected bandwidth", "bytes/s",
                 f"{r('bandwidth_bytes_per_s')}*eff_bandwidth_fraction", sci),
        Quantity(r("peak_flops"), "dense peak at the weights' compute dtype", "FLOP/s",
                 f"{_relaxed(peak_of('compute_dtype'), 'relax_compute', s)}*{num(TERA)}", sci),
        Quantity(r("attention_peak_flops"), "dense peak at attention's compute dtype (the KV dtype's)", "FLOP/s",
                 f"{_relaxed(peak_of('attention_compute_dtype'), 'relax_compute', s)}*{num(TERA)}", sci),
        Quantity(r("exp_peak_flops"), "expected FLOP/s (weights, decode)", "FLOP/s",
                 f"{r('peak_flops')}*eff_compute_fraction", sci),
        Quantity(r("exp_attention_peak_flops"), "expected FLOP/s (attention, decode)", "FLOP/s",
                 f"{r('attention_peak_flops')}*eff_attention_compute_fraction", sci),
        Quantity(r("exp_prefill_peak_flops"), "expected FLOP/s (weights, prefill)", "FLOP/s",
                 f"{r('peak_flops')}*eff_prefill_compute_fraction", sci),
        Quantity(r("exp_prefill_attention_peak_flops"), "expected FLOP/s (attention, prefill)", "FLOP/s",
                 f"{r('attention_peak_flops')}*eff_prefill_attention_compute_fraction", sci),
        Quantity(r("scaleup_link_bandwidth"), "expected scale-up link bandwidth per direction", "bytes/s",
                 link.format("scaleup"), sci),
        Quantity(r("pcie_link_bandwidth"), "expected PCIe bandwidth per direction", "bytes/s", link.format("pcie"),
                 sci),
        Quantity(r("nic_bytes_per_s"), "scale-out NIC per GPU per direction (catalogue, else the default)",
                 "bytes/s", nic, sci),
        Quantity(r("nic_link_bandwidth"), "expected scale-out NIC bandwidth", "bytes/s",
                 f"{r('nic_bytes_per_s')}*eff_link_fraction", sci),
        Quantity(r("budget_cap"), "budget" + (" (none when the budget binds)" if s.relaxed else ""), "USD/month",
                 budget, "#,##0"),
        Quantity(r("engine_small"), "the engine treats the GPU as small (its id, or under its GiB)", "",
                 f"OR(engine_small_named,IF(ISNUMBER(engine_small_below_bytes),{r('memory_bytes')}<"
                 f"engine_small_below_bytes,FALSE))",
                 note="efficiency.EngineBatchCap._small: GiB = 2^30 bytes, as the engines measure it"),
        Quantity(r("batch_cap"), "sequences a replica runs at once (max_batch, else the engine's default)"
                 + ("; lifted where it binds (rule 7)" if s.relaxed else ""), "sequences",
                 (f"IF(op_rule=7,uncapped_batch,{cap})" if s.relaxed else cap).replace("{small}", r("engine_small")),
                 "#,##0", note="planner.evaluator.batch_cap; \"none\": the engine has no fixed cap"),
        Quantity(r("token_budget"), "prompt tokens one engine iteration takes", "tokens",
                 f"IF(AND({r('engine_small')},ISNUMBER(engine_small_max_batched_tokens)),"
                 f"engine_small_max_batched_tokens,engine_max_batched_tokens)", "#,##0",
                 note="planner.efficiency.engine_token_budget"),
        Quantity(r("k_max"), "prompts one iteration prefills together, at most", "prompts",
                 f"MAX({r('token_budget')}/input_tokens,1)", "0.00",
                 note="planner.evaluator.build's k_max: the token budget ÷ the prompt tokens, at least 1"),
    ]
    return q


# ------------------------------------------------------------------------------------------- the candidate table


@dataclass(frozen=True)
class Column:
    """One column of a table: ``key`` (also the defined name of its cells, ``<table>_<key>``), a header, a width
    and a number format."""

    key: str
    header: str
    width: float = 10
    fmt: str = ""


LADDER_KEYS: tuple[tuple[str, str, str], ...] = tuple((f"try_{bit}", f"step_{bit}", f"ok_{bit}")
                                                      for bit in SLO_BITS)
"""The SLO search's columns, three per binary digit: the batch tried (the digits kept so far plus this one), the
decode step at that batch and whether it meets both SLOs; ``b_slo`` follows them."""

_SCI = "0.000E+00"
CANDIDATE_COLUMNS: tuple[Column, ...] = (
    Column("candidate", "candidate", 9, "0"),
    Column("slot", "tp slot", 5, "0"),
    Column("pp_choice", "pp choice", 6, "0"),
    Column("ep_choice", "ep choice (1: ep = 1, 2: ep = tp)", 8, "0"),
    Column("tp", "tp", 5, "0"),
    Column("pp", "pp", 5, "0"),
    Column("ep", "ep", 5, "0"),
    Column("active", "a layout engines run, as the inputs allow", 9),
    Column("kv_split", "KV split", 6, "0"),
    Column("ep_z", "z_ep: expected max of ep standard normals (expert load)", 8, "0.0000"),
    Column("link_bandwidth", "tp link bytes/s (expected)", 10, _SCI),
    Column("link_latency_s", "tp collective latency (s)", 10, _SCI),
    Column("hop_bandwidth", "pipeline hop bytes/s (expected)", 10, _SCI),
    Column("hop_latency_s", "pipeline hop latency (s)", 10, _SCI),
    Column("extra0_s", "hops + all-to-alls, 0 tokens (s)", 10, _SCI),
    Column("extra1_s", "hops + all-to-alls, 1 token (s)", 10, _SCI),
    Column("extra_prompt_s", "hops + all-to-alls, one prompt (s)", 10, _SCI),
    Column("m0", "memory s at b = 0 (m0)", 10, _SCI),
    Column("m1", "memory s per sequence (m1)", 10, _SCI),
    Column("me", "memory s per expert loaded (me): its bytes and its GEMM's fixed cost", 10, _SCI),
    Column("c1", "compute s per sequence (c1)", 10, _SCI),
    Column("n0", "network s at b = 0 (n0)", 10, _SCI),
    Column("n1", "network s per sequence (n1)", 10, _SCI),
    Column("pre_load", "experts per MoE layer a prefill loads (busiest group × ep)", 9, "0.00"),
    Column("pre_memory_s", "prefill memory (s)", 10, _SCI),
    Column("pre_compute_s", "prefill compute (s)", 10, _SCI),
    Column("pre_network_s", "prefill network (s)", 10, _SCI),
    Column("pre_total_s", "prefill (s)", 10, _SCI),
    Column("pre2_load", "experts per MoE layer two prompts prefilled together load", 9, "0.00"),
    Column("pk_memory_s", "prefill memory a second prompt adds (s)", 10, _SCI),
    Column("pk_network_s", "prefill network a second prompt adds (s)", 10, _SCI),
    Column("b_mem", "largest microbatch that fits", 9, "#,##0"),
    Column("b_cap", "largest microbatch the engine runs (its cap ÷ pp)", 11, "#,##0"),
    Column("tpot1_ms", "TPOT at batch 1 (ms)", 9, "#,##0.00"),
    Column("ttft1_ms", "TTFT at batch 1 (ms)", 9, "#,##0.00"),
    Column("n0o", "network + overheads at b = 0 (s)", 10, _SCI),
    Column("n1o", "network + overheads per sequence (s)", 10, _SCI),
    *(c for (t, st, ok), bit in zip(LADDER_KEYS, SLO_BITS, strict=True)
      for c in (Column(t, f"try +{bit:,}", 8, "#,##0"), Column(st, "decode step there (s)", 10, _SCI),
                Column(ok, "meets the SLOs", 7))),
    Column("b_slo", "largest microbatch within the SLOs", 9, "#,##0"),
    Column("b_op", "operating microbatch min(fits, SLO, cap)", 9, "#,##0"),
    Column("b", "microbatch timed (at least 1)", 8, "#,##0"),
    Column("share_s", "each request's prefill share (s): k prompts per step prefilled together", 10, _SCI),
    Column("total_s", "decode step (s)", 10, _SCI),
    Column("tpot_ms", "TPOT (ms)", 9, "#,##0.00"),
    Column("ttft_ms", "TTFT (ms)", 9, "#,##0.00"),
    Column("replicas", "replicas", 8, "#,##0"),
    Column("gpus", "GPUs", 7, "#,##0"),
    Column("usd_month", "USD/month", 10, "#,##0"),
    Column("meets", "meets both SLOs", 8),
    Column("rank_usd", "1st key: cost (meets)", 10, "#,##0"),
    Column("rank_gpus", "2nd: GPUs (cheapest)", 8, "#,##0"),
    Column("rank_tpot", "3rd: TPOT (fewest GPUs)", 9, "#,##0.00"),
    Column("pick_meets", "→ candidate", 8, "0"),
    Column("rank_miss", "else 1st: SLO miss at batch 1 (fits)", 10, "0.0000"),
    Column("rank_miss_gpr", "2nd: GPUs per replica", 8, "0"),
    Column("pick_fits", "→ candidate", 8, "0"),
    Column("rank_gpr", "else 1st: GPUs per replica (most)", 8, "0"),
    Column("rank_gpr_tp", "2nd: tp (smallest)", 8, "0"),
    Column("pick_any", "→ candidate", 8, "0"),
)
"""The candidate table (Search sheet): the literal first four, then formulas (``candidate_row``)."""

CANDIDATE_LITERALS = ("candidate", "slot", "pp_choice", "ep_choice")
"""The candidate table's literal columns (numbers the builder writes, not formulas)."""


def candidate_literals(i: int) -> dict[str, int]:
    """Candidate ``i`` (0-based): its tp slot, pp choice and ep choice, in ``planner.topology.layouts``' order
    (tp, then pp, then ep)."""
    per_slot = len(PP_CHOICES) * len(EP_CHOICES)
    slot, rest = divmod(i, per_slot)
    pp_i, ep_i = divmod(rest, len(EP_CHOICES))
    return {"candidate": i + 1, "slot": slot + 1, "pp_choice": PP_CHOICES[pp_i], "ep_choice": EP_CHOICES[ep_i]}


def candidate_row(c: Callable[[str], str], s: Side, layout: Mapping[str, str] | None = None) -> dict[str, str]:
    """The formulas of one candidate layout (``c(key)``: this row's cell of column ``key``), at side ``s``'s rates.
    ``layout`` (the relaxed row) gives tp, pp, ep and active instead of the slot and choices."""
    r = s.rate
    T, P, EP, KS = c("tp"), c("pp"), c("ep"), c("kv_split")
    LB, LT, HB, HL = c("link_bandwidth"), c("link_latency_s"), c("hop_bandwidth"), c("hop_latency_s")
    gpr = f"{T}*{P}"
    out: dict[str, str] = {}
    if layout is None:
        out["tp"] = f"INDEX(tp_slot_tp,{c('slot')})"
        out["pp"] = f"IF(pp_auto,{c('pp_choice')},IF({c('pp_choice')}=1,pp_value,\"{NA_TEXT}\"))"
        out["ep"] = f"IF({c('ep_choice')}=1,1,{T})"
        ep_ok = (f"IF({c('ep_choice')}=1,OR(ep_auto,ep_value=1),AND(m_experts>0,{T}>1,MOD(m_experts,{T})=0,"
                 f"OR(ep_auto,ep_value={T})))")
        out["active"] = (f"IF(AND(ISNUMBER({T}),ISNUMBER({P})),AND(OR(tp_auto,{T}=tp_value),{P}>=1,"
                         f"{gpr}<=max_gpus_per_replica,{P}<=m_layers,{ep_ok}),FALSE)")
    else:
        out.update(layout)

    def guard(expr: str) -> str:
        return f"IF({c('active')},{expr},\"{NA_TEXT}\")"

    body = {
        "kv_split": f"IF(eff_replicate_kv,MIN({T},m_kv_shards_max),{T})",
        "ep_z": expected_max_of_normals(EP),
        "link_bandwidth": (f"IF({T}>1,IF({within('scaleup', T)},{r('scaleup_link_bandwidth')},IF({within('pcie', T)},"
                           f"{r('pcie_link_bandwidth')},NA())),0)"),
        "link_latency_s": (f"IF({T}>1,IF({within('scaleup', T)},eff_scaleup_latency_s,IF({within('pcie', T)},"
                           f"eff_pcie_latency_s,NA())),0)"),
        "hop_bandwidth": (f"IF({within('scaleup', gpr)},{r('scaleup_link_bandwidth')},IF({within('pcie', gpr)},"
                          f"{r('pcie_link_bandwidth')},{r('nic_link_bandwidth')}))"),
        "hop_latency_s": (f"IF({within('scaleup', gpr)},eff_scaleup_latency_s,IF({within('pcie', gpr)},"
                          f"eff_pcie_latency_s,eff_scaleup_latency_s))"),
        "extra0_s": extra_network_s("0", T, P, EP, LB, LT, HB, HL),
        "extra1_s": extra_network_s("1", T, P, EP, LB, LT, HB, HL),
        "extra_prompt_s": extra_network_s("input_tokens", T, P, EP, LB, LT, HB, HL),
        # evaluator._decode_coefficients: step_time at b = 0, per sequence (no latency, no overhead), per expert;
        # strict inputs: of an untied embedding table only the rows gathered, one per sequence
        "m0": f"(decode0_dense_bytes+decode0_expert_bytes/eff_expert_bandwidth_fraction)/{T}/{r('exp_bandwidth')}",
        "m1": f"(decode_row_bytes/{T}+kv_seq_decode/{KS})/{r('exp_bandwidth')}",
        "me": (f"expert_bytes_one/eff_expert_bandwidth_fraction/{T}/{r('exp_bandwidth')}"
               f"+m_moe_layers/{EP}*eff_expert_overhead_s"),
        "c1": (f"((decode_matmul_flops_1+decode_expert_flops_1/eff_expert_compute_fraction)/{r('exp_peak_flops')}"
               f"+decode_attention_flops_1/{r('exp_attention_peak_flops')})/{T}"),
        "n0": f"{allreduce_s(T, '0', 'm_layers', LB, LT)}+{c('extra0_s')}",
        "n1": f"{allreduce_s(T, '1', 'm_layers', LB, '0')}+({c('extra1_s')}-{c('extra0_s')})",
        # the prefill of one prompt (evaluator.build: step_time of prefill_inputs at the layout's ep, plus its hops
        # and all-to-alls): the routed experts at the busiest group's load, each expert GEMM's fixed cost
        "pre_load": expert_load("input_tokens", EP, c("ep_z")),
        "pre_memory_s": (f"((prompt_dense_bytes+{prompt_expert_load_bytes(c('pre_load'))}/"
                         f"eff_expert_bandwidth_fraction)/{T}+kv_seq_prompt/{KS})/{r('exp_bandwidth')}"
                         f"+m_moe_layers*{c('pre_load')}/{EP}*eff_expert_overhead_s"),
        "pre_compute_s": (f"((prompt_matmul_flops+prompt_expert_flops/eff_prefill_expert_compute_fraction)/"
                          f"{r('exp_prefill_peak_flops')}+prompt_attention_flops/"
                          f"{r('exp_prefill_attention_peak_flops')})/{T}"),
        "pre_network_s": f"{allreduce_s(T, 'input_tokens', 'm_layers', LB, LT)}+{c('extra_prompt_s')}",
        "pre_total_s": f"MAX({c('pre_memory_s')},{c('pre_compute_s')})+{c('pre_network_s')}+prefill_overhead_s",
        # a second prompt in the same iteration (evaluator.build: step_time of batched_prefill_inputs(2) less one
        # prompt's): the weights and the experts read once at both prompts' tokens, the KV cache twice; its compute
        # equals the first's (twice the FLOPs); its network the collectives and hops of P more tokens: affine in the
        # tokens, the prompt's less their fixed part (n0: the latencies)
        "pre2_load": expert_load("2*input_tokens", EP, c("ep_z")),
        "pk_memory_s": (f"((prompt2_dense_bytes+{prompt_expert_load_bytes(c('pre2_load'))}/"
                        f"eff_expert_bandwidth_fraction)/{T}+kv_seq_prompt*2/{KS})/{r('exp_bandwidth')}"
                        f"+m_moe_layers*{c('pre2_load')}/{EP}*eff_expert_overhead_s-{c('pre_memory_s')}"),
        "pk_network_s": f"{c('pre_network_s')}-{c('n0')}",
        # topology.max_batch, per microbatch
        "b_mem": (f"MAX(INT(({r('usable_bytes')}-weight_bytes_total/({gpr}))/(kv_seq_full/MIN({T},"
                  f"m_kv_shards_max))),0)"),
        # evaluator.build: max(floor(batch_cap / pp), 1) per microbatch; none where the engine has no fixed cap
        "b_cap": f"IF(ISNUMBER({r('batch_cap')}),MAX(INT({r('batch_cap')}/{P}),1),\"none\")",
        "tpot1_ms": user_tpot_ms(decode_total_s(c, "1"), "1", c("pre_total_s")),
        "ttft1_ms": user_ttft_ms(decode_total_s(c, "1"), "1", c("pre_total_s")),
    }
    body["n0o"] = f"{c('n0')}+step_overhead_s"
    body["n1o"] = f"{c('n1')}+sequence_overhead_s"
    last: tuple[str, int] | None = None
    for (trial, step, ok), bit in zip(LADDER_KEYS, SLO_BITS, strict=True):
        if last is None:
            body[trial] = str(bit)
        else:  # the digits kept so far (the last one where its trial met the SLOs), plus this digit
            t, kept = c(last[0]), last[1]
            body[trial] = f"IF({c(f'ok_{kept}')},{t},{t}-{kept})+{bit}"
        body[step] = decode_total_bisect_s(c, c(trial))
        body[ok] = meets_slos(c, c(trial), c(step), r("k_max"))
        last = (trial, bit)
    assert last is not None  # the digits kept, at most the search limit (the ladder may pass it: SLO_BITS)
    body["b_slo"] = f"MIN(IF({c(f'ok_{last[1]}')},{c(last[0])},{c(last[0])}-{last[1]}),batch_search_limit)"
    b = c("b")
    per_replica = "({}/({}+output_tokens/{}*{}))".format(P, c("share_s"), b, c("total_s"))
    body.update({
        "b_op": f"MIN({c('b_mem')},{c('b_slo')},{c('b_cap')})",  # MIN skips a referenced "none" (no cap)
        "b": f"MAX({c('b_op')},1)",
        "share_s": candidate_share_s(c, b, r("k_max")),
        "total_s": decode_total_s(c, b),
        "tpot_ms": user_tpot_ms(c("total_s"), b, c("share_s")),
        "ttft_ms": user_ttft_ms(c("total_s"), b, c("pre_total_s")),
        "replicas": f"IF({c('b_op')}>=1,{replicas(per_replica)},\"{NA_TEXT}\")",
        "gpus": f"IF(ISNUMBER({c('replicas')}),{c('replicas')}*({gpr}),\"{NA_TEXT}\")",
        "usd_month": (f"IF(AND(ISNUMBER({c('gpus')}),ISNUMBER(usd_per_gpu_hour)),{c('gpus')}*(usd_per_gpu_hour*"
                      f"hours_per_month),\"{NA_TEXT}\")"),
        "meets": f"AND({c('b_op')}>=1,{c('tpot_ms')}<=tpot_slo_ms,{c('ttft_ms')}<=ttft_slo_ms)",
    })
    out.update({k: guard(v) for k, v in body.items()})
    if layout is None:  # planner.plan.best_index, as chains of MIN over helper columns
        na = f"\"{NA_TEXT}\""

        def then(key: str, minimum: str, value: str) -> str:
            return f"IF(ISNUMBER({c(key)}),IF({c(key)}={minimum},{value},{na}),{na})"
        out.update({
            "rank_usd": (f"IF({c('active')},IF({c('meets')},IF(ISNUMBER({c('usd_month')}),{c('usd_month')},0),"
                         f"{na}),{na})"),
            "rank_gpus": then("rank_usd", "rank_usd_min", c("gpus")),
            "rank_tpot": then("rank_gpus", "rank_gpus_min", c("tpot_ms")),
            "pick_meets": then("rank_tpot", "rank_tpot_min", c("candidate")),
            "rank_miss": (f"IF({c('active')},IF({c('b_mem')}>=1,MAX({c('tpot1_ms')}/tpot_slo_ms,"
                          f"{c('ttft1_ms')}/ttft_slo_ms),{na}),{na})"),
            "rank_miss_gpr": then("rank_miss", "rank_miss_min", gpr),
            "pick_fits": then("rank_miss_gpr", "rank_miss_gpr_min", c("candidate")),
            "rank_gpr": f"IF({c('active')},{gpr},{na})",
            "rank_gpr_tp": then("rank_gpr", "rank_gpr_max", T),
            "pick_any": then("rank_gpr_tp", "rank_gpr_tp_min", c("candidate")),
        })
    return out


CHOICE: tuple[Quantity, ...] = (
    Quantity("candidates_allowed", "candidate layouts engines run that the inputs allow", "", "COUNT(cand_rank_gpr)"),
    Quantity("candidates_meeting", "of which meet both SLOs", "", "COUNT(cand_rank_usd)"),
    Quantity("rank_usd_min", "cheapest of those, USD/month (0 without a price)", "USD/month", "MIN(cand_rank_usd)",
             "#,##0"),
    Quantity("rank_gpus_min", "fewest GPUs at that cost", "GPUs", "MIN(cand_rank_gpus)", "#,##0"),
    Quantity("rank_tpot_min", "lowest TPOT among those", "ms", "MIN(cand_rank_tpot)", "#,##0.00"),
    Quantity("pick_meets", "→ the first such candidate", "candidate", "MIN(cand_pick_meets)", "0"),
    Quantity("candidates_fitting", "candidates whose weights fit", "", "COUNT(cand_rank_miss)"),
    Quantity("rank_miss_min", "smallest SLO miss at batch 1 among them", "× SLO", "MIN(cand_rank_miss)", "0.0000"),
    Quantity("rank_miss_gpr_min", "fewest GPUs per replica at that miss", "GPUs", "MIN(cand_rank_miss_gpr)", "0"),
    Quantity("pick_fits", "→ the first such candidate", "candidate", "MIN(cand_pick_fits)", "0"),
    Quantity("rank_gpr_max", "most GPUs per replica of any candidate", "GPUs", "MAX(cand_rank_gpr)", "0"),
    Quantity("rank_gpr_tp_min", "smallest tp with that many", "GPUs", "MIN(cand_rank_gpr_tp)", "0"),
    Quantity("pick_any", "→ the first such candidate", "candidate", "MIN(cand_pick_any)", "0"),
    Quantity("chosen_candidate", "the plan: the candidate chosen", "candidate",
             "IF(candidates_meeting>0,pick_meets,IF(candidates_fitting>0,pick_fits,IF(candidates_allowed>0,"
             "pick_any,NA())))", "0",
             note="planner.plan.best_index: the cheapest meeting both SLOs (ties: fewer GPUs, then lower TPOT), "
                  "else the nearest that fits, else the layout with the most GPUs per replica"),
)
"""``planner.plan.best_index`` over the candidate table (Search sheet)."""


def tp_helper_row(n: int, c: Callable[[str], str], prev: Callable[[str], str] | None) -> dict[str, str]:
    """Row ``n`` of the tensor-parallel sizes: whether engines run tp = n (``planner.topology.tp_splits_heads``
    within ``tp_domain``) and how many sizes up to n do."""
    kv = f"IF(m_kv_heads=0,TRUE,OR(MOD(m_kv_heads,{c('n')})=0,MOD({c('n')},m_kv_heads)=0))"
    count = f"IF({c('valid')},1,0)" if prev is None else f"{prev('count')}+IF({c('valid')},1,0)"
    return {"valid": f"AND({c('n')}<=tp_domain,MOD(m_heads,{c('n')})=0,{kv})", "count": count}


def tp_slot_row(c: Callable[[str], str], prev: Callable[[str], str] | None) -> dict[str, str]:
    """Slot k: the k-th tensor-parallel size engines run (``planner.topology.tp_choices``, at most ``TP_SLOTS``),
    and the list of them so far as text."""
    here = f"IF({c('slot')}<=tp_valid_count,INDEX(tp_helper_n,MATCH({c('slot')},tp_helper_count,0)),\"{NA_TEXT}\")"
    text = f"IF(ISNUMBER({c('tp')}),\"\"&{c('tp')},\"\")" if prev is None else (
        f"{prev('text')}&IF(ISNUMBER({c('tp')}),\", \"&{c('tp')},\"\")")
    return {"tp": here, "text": text}


# --------------------------------------------------------------------------------------- the operating point


@dataclass(frozen=True)
class Op:
    """One quantity of the operating point: ``make(s)`` its formula on side ``s``."""

    key: str
    label: str
    unit: str
    make: Callable[[Side], str]
    fmt: str = ""


def _src(col: str) -> Callable[[Side], str]:
    return lambda s: s.src(col)


def _ops() -> tuple[Op, ...]:
    def o(key: str) -> Callable[[Side], str]:
        return lambda s: s.op(key)

    def f(fmt: str, *keys: str, **rates: str) -> Callable[[Side], str]:
        """A formula template: {name} placeholders are this side's operating-point names, {r_x} its rates."""
        return lambda s: fmt.format(**{k: s.op(k) for k in keys}, **{k: s.rate(v) for k, v in rates.items()})

    def coef(s: Side) -> Callable[[str], str]:
        return s.op

    sci = "0.000E+00"
    from_table = [
        Op("tp", "tp", "GPUs", _src("tp"), "0"), Op("pp", "pp", "stages", _src("pp"), "0"),
        Op("ep", "ep", "GPUs", _src("ep"), "0"), Op("kv_split", "KV split", "", _src("kv_split"), "0"),
        Op("ep_z", "z_ep: expected max of ep standard normals", "", _src("ep_z"), "0.0000"),
        *(Op(k, f"decode coefficient {k}", "s", _src(k), sci) for k in ("m0", "m1", "me", "c1", "n0", "n1")),
        Op("n0o", "network + overheads at b = 0", "s", _src("n0o"), sci),
        Op("n1o", "network + overheads per sequence", "s", _src("n1o"), sci),
        Op("pre_load", "experts per MoE layer a prefill loads (busiest group × ep)", "experts", _src("pre_load"),
           "0.00"),
        *(Op(k, f"prefill {k.removeprefix('pre_').removesuffix('_s')}", "s", _src(k), sci)
          for k in ("pre_memory_s", "pre_compute_s", "pre_network_s", "pre_total_s")),
        Op("pre2_load", "experts per MoE layer two prompts prefilled together load", "experts", _src("pre2_load"),
           "0.00"),
        Op("pk_memory_s", "prefill memory a second prompt adds", "s", _src("pk_memory_s"), sci),
        Op("pk_network_s", "prefill network a second prompt adds", "s", _src("pk_network_s"), sci),
        Op("b_mem", "largest microbatch that fits", "sequences", _src("b_mem"), "#,##0"),
        Op("b_cap", "largest microbatch the engine runs (none: no cap)", "sequences", _src("b_cap"), "#,##0"),
        Op("tpot1_ms", "TPOT at batch 1", "ms", _src("tpot1_ms"), "#,##0.00"),
        Op("ttft1_ms", "TTFT at batch 1", "ms", _src("ttft1_ms"), "#,##0.00"),
        Op("b_slo", "largest microbatch within the SLOs", "sequences", _src("b_slo"), "#,##0"),
        Op("b_op", "operating microbatch", "sequences", _src("b_op"), "#,##0"),
    ]
    c = coef
    derived = [
        Op("b", "microbatch the step is timed at (at least 1)", "sequences", f("MAX({b_op},1)", "b_op"), "#,##0"),
        Op("runs", "a batch meets the SLOs and fits", "", f("{b_op}>=1", "b_op")),
        Op("fits", "the weights and one sequence fit", "", f("{b_mem}>=1", "b_mem")),
        Op("touched", "routed experts a step touches per MoE layer", "experts",
           lambda s: experts_touched(s.op("b")), "0.00"),
        Op("load", "routed experts a step loads per MoE layer (busiest expert-parallel group × ep)", "experts",
           lambda s: expert_load(s.op("b"), s.op("ep"), s.op("ep_z")), "0.00"),
        Op("decode_memory_s", "decode step: memory", "s", lambda s: decode_memory_s(c(s), s.op("b")), sci),
        Op("decode_compute_s", "decode step: compute", "s", f("{c1}*{b}", "c1", "b"), sci),
        Op("decode_network_s", "decode step: network", "s", f("{n0}+{n1}*{b}", "n0", "n1", "b"), sci),
        Op("decode_overhead_s", "decode step: overheads", "s", f("step_overhead_s+sequence_overhead_s*{b}", "b"),
           sci),
        Op("decode_total_s", "decode step", "s",
           f("MAX({decode_memory_s},{decode_compute_s})+{decode_network_s}+{decode_overhead_s}",
             "decode_memory_s", "decode_compute_s", "decode_network_s", "decode_overhead_s"), sci),
        Op("decode_bytes", "bytes a decode step reads per GPU", "bytes",
           f("(decode0_dense_bytes+decode0_expert_bytes)/{tp}+(decode_row_bytes/{tp}+kv_seq_decode/{kv_split})*"
             "{b}+expert_bytes_one/{tp}*{load}", "tp", "kv_split", "b", "load"), "#,##0"),
        Op("decode_flops", "FLOPs of a decode step per GPU", "FLOP",
           f("(decode_matmul_flops_1+decode_expert_flops_1+decode_attention_flops_1)/{tp}*{b}", "tp", "b"), sci),
        Op("prefill_bytes", "bytes a prefill reads per GPU", "bytes",
           f("(prompt_dense_bytes+" + prompt_expert_load_bytes("{pre_load}") + ")/{tp}+kv_seq_prompt/{kv_split}",
             "pre_load", "tp", "kv_split"), "#,##0"),
        Op("prefill_flops", "FLOPs of a prefill per GPU", "FLOP",
           f("(prompt_matmul_flops+prompt_expert_flops+prompt_attention_flops)/{tp}", "tp"), sci),
        Op("pk_bytes", "bytes a second prompt adds to a prefill iteration per GPU", "bytes",
           f("((prompt2_dense_bytes+" + prompt_expert_load_bytes("{pre2_load}") + ")/{tp}+kv_seq_prompt*2/{kv_split})"
             "-{prefill_bytes}", "pre2_load", "tp", "kv_split", "prefill_bytes"), "#,##0"),
        Op("k", "prompts prefilled together per iteration (serving.prompts_per_iteration)", "prompts",
           lambda s: prompts_per_iteration(s.op("b"), s.rate("k_max")), "0.000"),
        Op("beyond_linear", "routed experts k prompts load beyond the line through one and two (per MoE layer)",
           "experts", lambda s: experts_beyond_linear(s.op("k"), s.op("ep"), s.op("ep_z"), s.op("pre_load"),
                                                      s.op("pre2_load")), "0.000"),
        *(Op(f"share_{p}", f"each request's prefill share: {label}", unit, _share(one, slope, per_expert), fmt)
          for p, label, unit, one, slope, per_expert, fmt in (
              ("memory_s", "memory", "s", "pre_memory_s", "pk_memory_s", "me", sci),
              ("compute_s", "compute", "s", "pre_compute_s", "pre_compute_s", None, sci),
              ("network_s", "network", "s", "pre_network_s", "pk_network_s", None, sci),
              ("overhead_s", "overheads", "s", "prefill_overhead_s", "pk_overhead_s", None, sci),
              ("bytes", "bytes per GPU", "bytes", "prefill_bytes", "pk_bytes", "expert_bytes_one/{tp}", "#,##0"),
              ("flops", "FLOPs per GPU", "FLOP", "prefill_flops", "prefill_flops", None, sci))),
        Op("share_total_s", "each request's prefill share (evaluator.Rows.prefill_share)", "s",
           f("MAX({share_memory_s},{share_compute_s})+{share_network_s}+{share_overhead_s}", "share_memory_s",
             "share_compute_s", "share_network_s", "share_overhead_s"), sci),
        Op("tpot_ms", "TPOT a user sees", "ms",
           lambda s: user_tpot_ms(s.op("decode_total_s"), s.op("b"), s.op("share_total_s")), "#,##0.00"),
        Op("ttft_ms", "TTFT a user sees", "ms",
           lambda s: user_ttft_ms(s.op("decode_total_s"), s.op("b"), s.op("pre_total_s")), "#,##0.00"),
        Op("steps", "decode steps per request per sequence slot", "", f("output_tokens/{b}", "b"), "#,##0.00"),
        Op("busy_s", "replica busy time per request", "s", f("{share_total_s}+{steps}*{decode_total_s}",
                                                             "share_total_s", "steps", "decode_total_s"), sci),
        Op("replica_rps", "requests/s per replica", "requests/s", f("{pp}/{busy_s}", "pp", "busy_s"), "#,##0.000"),
        Op("replicas", "replicas", "", lambda s: f"IF({s.op('runs')},{replicas(s.op('replica_rps'))},\"{NA_TEXT}\")",
            "#,##0"),
        Op("gpus", "GPUs", "", f("IF({runs},{replicas}*({tp}*{pp}),\"n/a\")", "runs", "replicas", "tp", "pp"),
           "#,##0"),
        Op("usd_month", "monthly cost", "USD/month",
           f("IF(AND({runs},ISNUMBER(usd_per_gpu_hour)),{gpus}*(usd_per_gpu_hour*hours_per_month),\"n/a\")",
             "runs", "gpus"), "#,##0"),
        Op("budget_utilization", "monthly cost ÷ budget", "utilization",
           f("IF(AND(ISNUMBER({usd_month}),ISNUMBER({r_budget})),{usd_month}/{r_budget},\"n/a\")", "usd_month",
             r_budget="budget_cap"), "0.0%"),
        Op("over_budget", "over the budget", "", f("IF(ISNUMBER({budget_utilization}),{budget_utilization}>1,FALSE)",
                                                   "budget_utilization")),
        Op("need", "bytes one sequence needs per GPU ÷ usable bytes", "utilization",
           f("(weight_bytes_total/({tp}*{pp})+kv_seq_full/MIN({tp},m_kv_shards_max))/{r_usable}", "tp", "pp",
             r_usable="usable_bytes"), "0.0%"),
        Op("u_memory_capacity", "memory capacity in use", "utilization",
           f("IF({fits},{b_op}/{b_mem},{need})", "fits", "b_op", "b_mem", "need"), "0.0%"),
        Op("u_bandwidth_raw", "achieved ÷ peak bytes/s", "utilization",
           f("IF({runs},({share_bytes}+{steps}*{decode_bytes})*(1/{busy_s})/{r_bw},\"n/a\")", "runs",
             "share_bytes", "steps", "decode_bytes", "busy_s", r_bw="bandwidth_bytes_per_s"), "0.0%"),
        Op("u_compute_raw", "achieved ÷ peak FLOP/s", "utilization",
           f("IF({runs},({share_flops}+{steps}*{decode_flops})*(1/{busy_s})/{r_peak},\"n/a\")", "runs",
             "share_flops", "steps", "decode_flops", "busy_s", r_peak="peak_flops"), "0.0%"),
        Op("u_network_raw", "link busy time ÷ replica busy time", "utilization",
           f("IF({runs},({share_network_s}+{steps}*{decode_network_s})*(1/{busy_s}),\"n/a\")", "runs",
             "share_network_s", "steps", "decode_network_s", "busy_s"), "0.0%"),
        *(Op(f"split_{key}", f"step-time split: {part}", "utilization",
             f(f"IF({{runs}},({{{pre}}}+{{steps}}*{{{dec}}})*(1/{{busy_s}}),\"n/a\")", "runs", pre, "steps", dec,
               "busy_s"), "0.0%")
          for key, part, pre, dec in (
              ("memory_bandwidth", W.MEMORY_BANDWIDTH, "share_memory_s", "decode_memory_s"),
              ("compute", W.COMPUTE, "share_compute_s", "decode_compute_s"),
              ("network", W.NETWORK, "share_network_s", "decode_network_s"),
              ("overhead", "overhead", "share_overhead_s", "decode_overhead_s"))),
        Op("kv_caps", "the KV cache caps the batch before the SLOs (and the engine)", "",
           f("AND({b_op}>={b_mem},{b_mem}<{b_slo},IF(ISNUMBER({b_cap}),{b_mem}<={b_cap},TRUE))", "b_op", "b_mem",
             "b_slo", "b_cap")),
        Op("engine_caps", "the engine's cap stops the batch before the memory and the SLOs", "",
           f("IF(ISNUMBER({b_cap}),AND({b_op}>={b_cap},{b_cap}<{b_slo},{b_cap}<{b_mem}),FALSE)", "b_op", "b_cap",
             "b_slo", "b_mem")),
        Op("rule", "binding rule (planner.walls, 1-7)", "rule",
           f("IF(NOT({fits}),1,IF({ttft1_ms}>ttft_slo_ms,2,IF({tpot1_ms}>tpot_slo_ms,3,IF({over_budget},4,"
             "IF({kv_caps},5,IF({engine_caps},7,6))))))", "fits", "ttft1_ms", "tpot1_ms", "over_budget", "kv_caps",
             "engine_caps"), "0"),
        Op("b_next", "the microbatch after the SLO batch", "sequences",
           f("MIN(MAX({b_slo},1)+1,batch_search_limit)", "b_slo"), "#,##0"),
        Op("tpot_next_ms", "TPOT at the microbatch after the SLO batch", "ms",
           lambda s: user_tpot_ms(decode_total_bisect_s(c(s), s.op("b_next")), s.op("b_next"),
                                  share_total(s.op, prompts_per_iteration(s.op("b_next"), s.rate("k_max")))),
           "#,##0.00"),
        Op("ttft_next_ms", "TTFT at the microbatch after the SLO batch", "ms",
           lambda s: user_ttft_ms(decode_total_bisect_s(c(s), s.op("b_next")), s.op("b_next"), s.op("pre_total_s")),
           "#,##0.00"),
        Op("ttft_caps", "the TTFT SLO is the one the batch after the SLO batch breaks first", "",
           f("{ttft_next_ms}/ttft_slo_ms>={tpot_next_ms}/tpot_slo_ms", "ttft_next_ms", "tpot_next_ms")),
        *(Op(f"token_{p}_s", f"a token's {p} time (step + its share of prefills)", "s",
             f(f"{{decode_{p}_s}}+{{b}}/output_tokens*{{share_{p}_s}}", f"decode_{p}_s", "b", f"share_{p}_s"), sci)
          for p in ("memory", "compute", "network")),
        *(Op(f"token1_{p}_s", f"a token's {p} time at batch 1", "s",
             _token1_share(p), sci)
          for p in ("memory", "compute", "network")),
        *(Op(f"capped_{p}_s", f"{p} time of what the capping SLO measures", "s",
             f(f"IF({{ttft_caps}},{{pre_{p}_s}},{{token_{p}_s}})", "ttft_caps", f"pre_{p}_s", f"token_{p}_s"), sci)
          for p in ("memory", "compute", "network")),
        Op("wall", "binding wall", "", lambda s: _wall(s)),
        Op("miss", "the SLO missed at batch 1 (rules 2, 3)", "× SLO",
           f("IF({rule}=2,{ttft1_ms}/ttft_slo_ms,IF({rule}=3,{tpot1_ms}/tpot_slo_ms,1))", "rule", "ttft1_ms",
             "tpot1_ms"), "0.00"),
        *(Op(f"util_{key}", f"{wall} utilization (the binding wall at its limit; as measured under rule 7)",
             "utilization", f(f"IF(AND({{wall}}=\"{wall}\",{{rule}}<>7),MAX({{miss}},1),{{u_{key}_raw}})", "wall",
                              "rule", "miss", f"u_{key}_raw"), "0.0%")
          for key, wall in (("bandwidth", W.MEMORY_BANDWIDTH), ("compute", W.COMPUTE), ("network", W.NETWORK))),
    ]
    return (*from_table, *derived)


SHARED_NAMES = ("prefill_overhead_s", "pk_overhead_s")
"""Workings names both sides share (the overheads do not depend on the layout's rates)."""


def _share(one: str, slope: str, per_expert: str | None = None) -> Callable[[Side], str]:
    """A part of each request's prefill share at the side's k (``share_part``), plus, for the parts the routed
    experts read (``per_expert``: that part per expert loaded, ``{tp}`` the side's tp), the experts beyond the line
    ÷ k (``Rows.prefill_share``)."""
    def make(s: Side) -> str:
        part = share_part(_side(s, one), _side(s, slope), s.op("k"))
        if per_expert is None:
            return part
        unit = s.op(per_expert) if per_expert == "me" else per_expert.format(tp=s.op("tp"))
        return f"{part}+{unit}*{s.op('beyond_linear')}/{s.op('k')}"
    return make


def _side(s: Side, key: str) -> str:
    """The name of ``key`` on side ``s``: an operating-point name, or one of ``SHARED_NAMES`` as it is."""
    return key if key in SHARED_NAMES else s.op(key)


def _token1_share(part: str) -> Callable[[Side], str]:
    """``evaluator.operate``'s token parts at batch 1: the step's part plus 1/output_tokens of the prefill's."""
    return lambda s: f"{_token1(s, part)}+1/output_tokens*{s.op(f'pre_{part}_s')}"


def _token1(s: Side, part: str) -> str:
    """A batch-1 decode step's ``part`` (``evaluator.operate``'s step at b = 1)."""
    if part == "memory":
        return decode_memory_s(s.op, "1")
    return f"{s.op('c1')}*1" if part == "compute" else f"({s.op('n0')}+{s.op('n1')}*1)"


def _wall(s: Side) -> str:
    """``planner.walls.binding_wall``: memory capacity (rules 1, 5), budget (4), else the dominant part of the
    prefill (2), of a batch-1 token (3), of a token's time at the engine-capped batch (7: the step plus its share
    of the prefills prefilled together) or of what the capping SLO measures (6)."""
    o = s.op
    parts = {name: tuple(o(f"{name}_{p}_s") for p in ("memory", "compute", "network"))
             for name in ("pre", "token1", "capped", "token")}
    return (f"IF(OR({o('rule')}=1,{o('rule')}=5),\"{W.MEMORY_CAPACITY}\",IF({o('rule')}=2,"
            f"{dominant(*parts['pre'])},IF({o('rule')}=3,{dominant(*parts['token1'])},IF({o('rule')}=4,"
            f"\"{W.BUDGET}\",IF({o('rule')}=7,{dominant(*parts['token'])},{dominant(*parts['capped'])})))))")


OPERATING: tuple[Op, ...] = _ops()
"""``planner.evaluator.metrics`` of a layout at its operating batch, as named quantities (``op_<key>`` for the plan,
``rx_<key>`` for the same layout with the binding wall relaxed)."""

RELAXATION: tuple[Quantity, ...] = (
    *(Quantity(f"relax_{key}", f"relax {wall} by", "×",
               f"IF(AND(op_wall=\"{wall}\",op_rule<>7),relaxation_{key},1)", "0.0")
      for key, wall in (("memory", W.MEMORY_CAPACITY), ("bandwidth", W.MEMORY_BANDWIDTH), ("compute", W.COMPUTE),
                        ("network", W.NETWORK))),
    Quantity("relax_budget", "drop the budget (it binds)", "", f"op_wall=\"{W.BUDGET}\""),
)
"""``planner.walls.RELAXATIONS`` applied to the binding wall (``planner.plan.relaxed_accelerator``); where the
engine's cap binds (rule 7) nothing is relaxed but the cap (``rx_batch_cap``: ``planner.plan.UNCAPPED_BATCH``)."""

RELAXATION_KEYS: dict[str, str] = {
    W.MEMORY_CAPACITY: "memory", W.MEMORY_BANDWIDTH: "bandwidth", W.COMPUTE: "compute", W.NETWORK: "network",
}


# ---------------------------------------------------------------------------------------------------- workings


MODEL_LOOKUPS: tuple[tuple[str, str, str], ...] = (
    ("layers", "layers", ""),
    ("hidden_size", "hidden size", ""),
    ("vocab_size", "vocabulary", "tokens"),
    ("tie_word_embeddings", "tied embeddings (the input table is the LM head)", ""),
    ("heads", "attention heads", ""),
    ("kv_heads", "KV heads (0: MLA, not split by head)", ""),
    ("window_tokens", "sliding window", "tokens"),
    ("window_layers", "sliding-window layers", "layers"),
    ("experts", "routed experts (0 = dense)", ""),
    ("experts_per_token", "experts per token", ""),
    ("moe_layers", "MoE layers", ""),
    ("expert_params", "parameters per expert", "params"),
    ("embedding_params", "embedding parameters (vocab × hidden)", "params"),
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
    ("id", "catalogue id", ""),
    ("memory_gb", "memory", "GB"),
    ("memory_bandwidth_tbs", "memory bandwidth", "TB/s"),
    ("scaleup_gbs", "scale-up link per direction", "GB/s"),
    ("scaleup_domain", "scale-up domain", "GPUs"),
    ("pcie_gbs", "PCIe per direction", "GB/s"),
    ("pcie_domain", "PCIe host", "GPUs"),
    ("scaleout_gbs", "scale-out NIC per GPU per direction", "GB/s"),
    ("usd_per_gpu_hour", "catalogue price", "USD/GPU-hour"),
)


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


def _layout_inputs() -> list[Quantity]:
    q = []
    for key, what in (("tp", "tensor parallel"), ("pp", "pipeline stages"), ("ep", "expert parallel")):
        q.append(Quantity(f"{key}_auto", f"{what}: automatic", "", f"OR({key}_input=\"\",{key}_input=\"auto\")",
                          note=f"{key} left blank or 'auto': every choice is a candidate"))
        q.append(Quantity(f"{key}_value", f"{what}: as given", "",
                          f"IF({key}_auto,\"{NA_TEXT}\",IF(ISNUMBER({key}_input),{key}_input,VALUE({key}_input)))"))
    q += [
        Quantity("scaleup_gpus", "GPUs the scale-up link joins (0: none)", "GPUs",
                 "IF(a_scaleup_gbs>0,a_scaleup_domain,0)", "0"),
        Quantity("pcie_gpus", "GPUs one PCIe host joins (0: none)", "GPUs", "IF(a_pcie_gbs>0,a_pcie_domain,0)", "0"),
        Quantity("tp_domain", "largest tp the links join (scale-up domain, else a PCIe host)", "GPUs",
                 "MIN(MAX(scaleup_gpus,pcie_gpus,1),max_gpus_per_replica)", "0", "planner.topology.tp_domain"),
        Quantity("host_domain", "GPUs per host (scale-up domain, else a PCIe host)", "GPUs",
                 "MAX(scaleup_gpus,pcie_gpus,1)", "0", "planner.plan.hosts_spanned"),
        Quantity("op_hosts", "hosts a replica spans", "hosts", "MAX(1,CEILING(op_tp*op_pp/host_domain,1))", "0"),
    ]
    return q


ENGINE_LOOKUPS: tuple[tuple[str, str, str, str, bool], ...] = (
    ("max_sequences", "max_sequences", "sequences a replica runs at once by default", "sequences", True),
    ("small_max_sequences", "small_max_sequences", "… on a small GPU", "sequences", True),
    ("max_batched_tokens", "max_batched_tokens", "prompt tokens one iteration takes by default", "tokens", False),
    ("small_max_batched_tokens", "small_max_batched_tokens", "… on a small GPU", "tokens", True),
    ("small_below_bytes", "small_below_gib", "a GPU is small below (GiB, as bytes)", "bytes", True),
)
"""(name, engine-table column, label, unit, may be blank) of the engine's defaults the cap and budget read: the
Workings cells ``engine_<name>`` ("none" where the table's cell is blank)."""


def _engine_lookups() -> list[Quantity]:
    out = []
    for key, column, label, unit, blank in ENGINE_LOOKUPS:
        look = f"INDEX(engine_cap_{column},engine_cap_row)"
        value = f"{look}*{num(GIB)}" if key == "small_below_bytes" else look
        out.append(Quantity(f"engine_{key}", label, unit,
                            f"IF(ISNUMBER({look}),{value},\"none\")" if blank else value, "#,##0"))
    return out


def workings() -> list[tuple[str, list[Quantity]]]:
    """The per-plan intermediate quantities, section by section (the Workings sheet; the rates and the operating
    point, which come in pairs, are laid out by the builder)."""
    rates = [
        Quantity("weight_dtype_bytes", "bytes per weight", "bytes", "INDEX(dtype_bytes,MATCH(dtype,dtype_ids,0))"),
        Quantity("kv_dtype_bytes", "bytes per KV value", "bytes", "INDEX(dtype_bytes,MATCH(kv_dtype,dtype_ids,0))"),
        Quantity("compute_dtype", "compute dtype of the weights", "", compute_dtype("dtype"),
                 note="the weight dtype's own dense rate, else the 16-bit rate (weight-only quantization)"),
        Quantity("attention_compute_dtype", "compute dtype of attention (the KV dtype's)", "",
                 compute_dtype("kv_dtype")),
        Quantity("narrower_weights", "narrower weight formats the accelerator runs (for the advice)", "",
                 narrower_weights(), note="planner.plan._narrower"),
        Quantity("faster_compute_formats", "formats with a faster dense rate here (for the advice)", "",
                 faster_compute(), note="planner.plan._faster_compute"),
        Quantity("eff_row", "row of (accelerator, engine) in the Efficiency table", "row",
                 "IF(ISNUMBER(MATCH(gpu&\"@\"&engine,eff_key_column,0)),MATCH(gpu&\"@\"&engine,eff_key_column,0),"
                 "MATCH(\"default@\"&engine,eff_key_column,0))",
                 note="an accelerator without its own rows takes the engine's default row, as the planner does"),
        Quantity("eff_bandwidth_fraction", "achievable fraction of bandwidth", "", efficiency("bandwidth_fraction")),
        Quantity("eff_compute_fraction", "achievable fraction of the dense peak (decode)", "",
                 compute_fraction("compute_dtype")),
        Quantity("eff_attention_compute_fraction", "achievable fraction of the attention peak (decode)", "",
                 compute_fraction("attention_compute_dtype")),
        Quantity("eff_compute_fraction_16bit", "achievable fraction of the 16-bit dense peak (decode)", "",
                 compute_fraction('"bf16"')),
        Quantity("eff_prefill_compute_fraction", "achievable fraction of the dense peak (prefill)", "",
                 prefill_compute_fraction("eff_compute_fraction"),
                 note="the 16-bit prefill fraction × this dtype's decode fraction ÷ the 16-bit one (at most 1); "
                      "the decode fraction where no prefill fraction was fitted (Efficiency.prefill_compute)"),
        Quantity("eff_prefill_attention_compute_fraction", "achievable fraction of the attention peak (prefill)", "",
                 prefill_compute_fraction("eff_attention_compute_fraction")),
        Quantity("eff_expert_bandwidth_fraction", "routed experts: fraction of that bandwidth again", "",
                 efficiency("expert_bandwidth_fraction")),
        Quantity("eff_expert_compute_fraction", "routed experts: fraction of that FLOP/s again (decode)", "",
                 efficiency("expert_compute_fraction")),
        Quantity("eff_prefill_expert_compute_fraction", "routed experts: fraction of that FLOP/s again (prefill)", "",
                 efficiency("prefill_expert_compute_fraction")),
        Quantity("eff_expert_overhead_s", "routed experts: fixed cost per expert GEMM a GPU runs", "s",
                 f"{efficiency('expert_overhead_us')}/{num(US_PER_S)}", "0.000E+00"),
        Quantity("eff_link_fraction", "achievable fraction of link bandwidth", "", efficiency("link_fraction")),
        Quantity("eff_scaleup_latency_s", "latency per collective, scale-up link (and pipeline hops)", "s",
                 f"{efficiency('scaleup_latency_us')}/{num(US_PER_S)}", "0.000E+00"),
        Quantity("eff_pcie_latency_s", "latency per collective, PCIe", "s",
                 f"{efficiency('pcie_latency_us')}/{num(US_PER_S)}", "0.000E+00"),
        Quantity("eff_layer_overhead_s", "overhead per layer per step", "s",
                 f"{efficiency('layer_overhead_us')}/{num(US_PER_S)}", "0.000E+00"),
        Quantity("eff_sequence_overhead_s", "overhead per sequence per layer per step", "s",
                 f"{efficiency('sequence_overhead_us')}/{num(US_PER_S)}", "0.000E+00"),
        Quantity("eff_request_overhead_s", "overhead per request (time to first token)", "s",
                 f"{efficiency('request_overhead_ms')}/{num(MS_PER_S)}", "0.000E+00"),
        Quantity("eff_burst_coefficient", "TTFT burst coefficient a", "", efficiency("burst_coefficient")),
        Quantity("eff_burst_exponent", "TTFT burst exponent β", "", efficiency("burst_exponent")),
        Quantity("eff_burst_output_exponent", "TTFT burst output exponent δ", "", efficiency("burst_output_exponent")),
        Quantity("burst_scale", "TTFT burst: (1024 / output tokens)^δ", "",
                 "(burst_reference_output_tokens/output_tokens)^eff_burst_output_exponent", "0.0000"),
        Quantity("eff_replicate_kv", "KV cache splits only by KV head", "", efficiency("replicate_kv")),
        Quantity("step_overhead_s", "overhead per step (layers × per layer)", "s", "m_layers*eff_layer_overhead_s",
                 "0.000E+00"),
        Quantity("sequence_overhead_s", "overhead per sequence per step (layers × per layer)", "s",
                 "m_layers*eff_sequence_overhead_s", "0.000E+00"),
        Quantity("prefill_overhead_s", "overhead of a prefill (one sequence)", "s",
                 "step_overhead_s+1*sequence_overhead_s", "0.000E+00"),
        Quantity("pk_overhead_s", "overhead a second prompt adds to a prefill iteration", "s",
                 "(step_overhead_s+2*sequence_overhead_s)-prefill_overhead_s", "0.000E+00"),
        Quantity("eff_calibration_rows", "measured rows the efficiencies were fitted to (0: defaults)", "rows",
                 f"{efficiency('calibration_rows')}+0", "#,##0", note="Efficiency.calibration_rows"),
        Quantity("engine_cap_row", "row of the engine in the engine table (Assumptions)", "row",
                 "MATCH(engine,engine_cap_engines,0)"),
        *_engine_lookups(),
        Quantity("engine_small_named", "the engine treats the GPU as small by its id", "",
                 "OR(" + ",".join(f"IF(INDEX(engine_cap_small_ids,engine_cap_row,{j})=\"\",FALSE,ISNUMBER(FIND("
                                  f"INDEX(engine_cap_small_ids,engine_cap_row,{j}),a_id)))"
                                  for j in range(1, ENGINE_SMALL_ID_SLOTS + 1)) + ")",
                 note="an id of the engine's small_gpu_ids within the accelerator's (case-sensitive, as the planner)"),
        Quantity("floor_link_bytes_per_s", "the plan's tp link per direction (catalogue, for the floors)", "bytes/s",
                 f"IF(op_tp>1,IF({within('scaleup', 'op_tp')},a_scaleup_gbs*{num(GB)},IF({within('pcie', 'op_tp')},"
                 f"a_pcie_gbs*{num(GB)},NA())),0)", "0.000E+00"),
    ]
    sizes = [
        Quantity("full_context", "context a sequence is sized for", "tokens", "input_tokens+output_tokens"),
        Quantity("decode_context", "average context while decoding", "tokens", "input_tokens+output_tokens/2"),
        Quantity("kv_seq_full", "KV bytes of one sequence at full context", "bytes", kv_per_sequence("full_context"),
                 "#,##0"),
        Quantity("kv_seq_decode", "KV bytes of one sequence at the average context", "bytes",
                 kv_per_sequence("decode_context"), "#,##0"),
        Quantity("kv_seq_prompt", "KV bytes one prompt writes", "bytes", kv_per_sequence("input_tokens"), "#,##0"),
        Quantity("weight_bytes_total", "weight bytes", "bytes", "m_total_params*weight_dtype_bytes", "#,##0"),
        Quantity("reserve_bytes", "reserved memory per GPU", "bytes", "memory_bytes*memory_reserve_fraction",
                 "#,##0"),
        Quantity("decode0_expert_bytes", "routed-expert bytes of a decode step at batch 0 (decode_inputs(0))",
                 "bytes", routed_expert_bytes("0"), "#,##0"),
        Quantity("decode0_dense_bytes", "other weight bytes of a decode step at batch 0: all but the routed experts "
                 "and an untied input-embedding table (strict: decode_inputs(0))", "bytes",
                 f"{step_weight_bytes('0')}-decode0_expert_bytes-{gathered_embedding_bytes('0')}", "#,##0"),
        Quantity("decode1_dense_bytes", "the same at batch 1: one gathered embedding row more (decode_inputs(1))",
                 "bytes", f"{step_weight_bytes('1')}-{routed_expert_bytes('1')}-{gathered_embedding_bytes('1')}",
                 "#,##0"),
        Quantity("decode_row_bytes", "weight bytes per sequence: the embedding row it gathers (0 when tied)", "bytes",
                 "decode1_dense_bytes-decode0_dense_bytes", "#,##0"),
        Quantity("expert_bytes_one", "bytes of one touched expert in every MoE layer", "bytes",
                 "m_moe_layers*m_expert_params*weight_dtype_bytes", "#,##0"),
        Quantity("decode_expert_flops_1", "routed-expert FLOPs of one decode token", "FLOP", routed_expert_flops("1"),
                 "0.000E+00"),
        Quantity("decode_matmul_flops_1", "other matmul FLOPs of one decode token", "FLOP",
                 f"{matmul_flops('1')}-decode_expert_flops_1", "0.000E+00"),
        Quantity("decode_attention_flops_1", "attention FLOPs of one decode token (average context)", "FLOP",
                 decode_attention_flops("1", "decode_context"), "0.000E+00"),
        Quantity("prompt_weight_bytes", "weight bytes a prefill reads", "bytes", step_weight_bytes("input_tokens"),
                 "#,##0"),
        Quantity("prompt_expert_bytes", "routed-expert bytes a prefill reads", "bytes",
                 routed_expert_bytes("input_tokens"), "#,##0"),
        Quantity("prompt_dense_bytes", "other weight bytes a prefill reads (strict: of an untied input-embedding "
                 "table only the rows the prompt gathers)", "bytes",
                 f"prompt_weight_bytes-prompt_expert_bytes-{gathered_embedding_bytes('input_tokens')}", "#,##0"),
        Quantity("prompt2_weight_bytes", "weight bytes a prefill of two prompts together reads", "bytes",
                 step_weight_bytes("2*input_tokens"), "#,##0"),
        Quantity("prompt2_expert_bytes", "routed-expert bytes at two prompts' tokens", "bytes",
                 routed_expert_bytes("2*input_tokens"), "#,##0"),
        Quantity("prompt2_dense_bytes", "other weight bytes a prefill of two prompts reads (strict: the rows both "
                 "prompts gather; roofline.batched_prefill_inputs)", "bytes",
                 f"prompt2_weight_bytes-prompt2_expert_bytes-{gathered_embedding_bytes('2*input_tokens')}", "#,##0"),
        Quantity("prompt_expert_flops", "routed-expert FLOPs of a prefill", "FLOP", routed_expert_flops("input_tokens"),
                 "0.000E+00"),
        Quantity("prompt_matmul_flops", "other matmul FLOPs of a prefill (strict: the LM head for the last token "
                 "only)", "FLOP", f"{matmul_flops('input_tokens')}-prompt_expert_flops-2*lm_head_params*"
                 "(input_tokens-1)", "0.000E+00"),
        Quantity("prompt_attention_flops", "attention FLOPs of a prefill", "FLOP",
                 f"2*m_heads*(m_prefill_qk_dim+m_prefill_v_dim)*((m_layers-m_window_layers)*"
                 f"{causal_pairs('input_tokens', '0')}+m_window_layers*"
                 f"{causal_pairs('input_tokens', 'm_window_tokens')})", "0.000E+00"),
        Quantity("lm_head_params", "LM head (vocab × hidden)", "params", "m_vocab_size*m_hidden_size", "#,##0"),
        Quantity("experts_all", "every token routes to every expert", "", "AND(m_experts>0,m_experts_per_token>="
                 "m_experts)"),
        Quantity("experts_log_miss", "ln(1 − k/E): the chance an expert is missed by one token, as a log", "",
                 "IF(AND(m_experts>0,m_experts_per_token<m_experts),LN(1-m_experts_per_token/m_experts),0)",
                 "0.000000"),
        Quantity("experts_touched_1", "experts one token touches per MoE layer", "experts", experts_touched("1"),
                 "0.00"),
        Quantity("tokens_per_month", "output tokens per month", "tokens",
                 f"qps*output_tokens*hours_per_month*{num(SECONDS_PER_HOUR)}", "0.000E+00"),
    ]
    crossover = [
        Quantity("crossover_compute_bound_at_1", "decode is compute-bound at batch 1", "",
                 "{}>={}".format(*crossover_bound("1"))),
        Quantity("crossover_reachable", "compute-bound by the search limit", "",
                 "{}>={}".format(*crossover_bound("crossover_search_limit"))),
    ]
    return [
        ("Catalogue lookups", _lookups()),
        ("Layout inputs and links", _layout_inputs()),
        ("Dtypes, efficiencies and overheads", rates),
        ("Sizes", sizes),
        ("Crossover (strict, catalogue peaks, tp = 1)", crossover),
    ]


# ------------------------------------------------------------------------------------------------- crossover


CROSSOVER_LADDER_COLUMNS: tuple[tuple[str, str], ...] = (
    ("lo", "lo (memory-bound)"), ("hi", "hi (compute-bound)"), ("mid", "mid"),
    ("compute_s", "compute at peak (s)"), ("memory_s", "memory at peak (s)"), ("ok", "compute-bound at mid"),
)


def crossover_bound(batch: str) -> tuple[str, str]:
    """``planner.roofline.crossover_batch``'s test: the strict decode step of ``batch`` sequences at no context on
    one GPU at catalogue peaks: (compute s, memory s)."""
    ef, eb = routed_expert_flops(batch), routed_expert_bytes(batch)
    compute = (f"(({matmul_flops(batch)}-{ef}+{ef})/peak_flops+{decode_attention_flops(batch, '0')}/"
               f"attention_peak_flops)")
    memory = f"(({step_weight_bytes(batch)}-{eb}-{gathered_embedding_bytes(batch)}+{eb})+{batch}*0)/" \
             f"bandwidth_bytes_per_s"
    return compute, memory


def crossover_ladder_row(ref: Callable[[str], str], prev: Callable[[str], str] | None) -> dict[str, str]:
    """One halving of ``planner.roofline.crossover_batch``'s bisection: lo is memory-bound, hi compute-bound; once
    hi − lo ≤ 1 the row repeats the last."""
    if prev is None:
        lo, hi = "1", "crossover_search_limit"
    else:
        keep = f"{prev('hi')}-{prev('lo')}<=1"
        lo = f"IF({keep},{prev('lo')},IF({prev('ok')},{prev('lo')},{prev('mid')}))"
        hi = f"IF({keep},{prev('hi')},IF({prev('ok')},{prev('mid')},{prev('hi')}))"
    compute, memory = crossover_bound(ref("mid"))
    return {"lo": lo, "hi": hi, "mid": f"INT(({ref('lo')}+{ref('hi')})/2)", "compute_s": compute,
            "memory_s": memory, "ok": f"{ref('compute_s')}>={ref('memory_s')}"}


# ------------------------------------------------------------------------------------------------- plan results


WALL_KEYS: dict[str, str] = {
    W.MEMORY_CAPACITY: "memory_capacity",
    W.MEMORY_BANDWIDTH: "memory_bandwidth",
    W.COMPUTE: "compute",
    W.NETWORK: "network",
    W.BUDGET: "budget",
}
"""Each wall's name (as the planner spells it) and the key of its utilization cell, ``util_<key>``."""

SPLIT_KEYS: dict[str, str] = {
    W.MEMORY_BANDWIDTH: "memory_bandwidth", W.COMPUTE: "compute", W.NETWORK: "network", "overhead": "overhead",
}
"""Each part of the step-time split (``planner.walls.SPLIT_PARTS``) and the key of its cell, ``split_<key>``."""


def _opt(expr: str, condition: str) -> str:
    """``expr`` where ``condition`` holds, else "n/a" (the planner's None)."""
    return f"IF({condition},{expr},\"{NA_TEXT}\")"


NONE_TEXT = "none"
"""What ``narrower_weights`` and ``faster_compute_formats`` show where there is no such format."""


def narrower_weights() -> str:
    """``planner.plan._narrower``: the narrower weight formats of ``planner.plan.NARROWER`` for the plan's dtype,
    joined with " or " (fp4 only where the accelerator has a dense fp4 rate); ``NONE_TEXT`` where none is narrower
    (a cell's empty text reads back from LibreOffice as an empty cell)."""
    def text(formats: tuple[str, ...]) -> str:
        plain = [d for d in formats if d != "fp4"]
        if "fp4" not in formats:
            return f"\"{' or '.join(plain)}\""
        with_fp4 = " or ".join([*plain, "fp4"])
        return f"IF({peak_of(chr(34) + 'fp4' + chr(34))}>0,\"{with_fp4}\",\"{' or '.join(plain)}\")"

    out = f"\"{NONE_TEXT}\""
    for dtype, formats in reversed(NARROWER.items()):
        if formats:
            out = f"IF(dtype=\"{dtype}\",{text(formats)},{out})"
    return out


def faster_compute() -> str:
    """``planner.plan._faster_compute``: the formats (fp8, fp4, int8) with a dense rate over ``FASTER_BY`` × the plan's
    compute rate on its accelerator, joined with "/"; ``NONE_TEXT`` where none."""
    here = peak_of("compute_dtype")
    faster = [f"{peak_of(chr(34) + d + chr(34))}>{num(FASTER_BY)}*{here}" for d in FASTER_COMPUTE_FORMATS]
    parts = []
    for i, (d, test) in enumerate(zip(FASTER_COMPUTE_FORMATS, faster, strict=True)):
        sep = f"IF(OR({','.join(faster[:i])}),\"/\",\"\")&" if i else ""
        parts.append(f"IF({test},{sep}\"{d}\",\"\")")
    none = f"IF(NOT(OR({','.join(faster)})),\"{NONE_TEXT}\",\"\")"
    return "&".join([*parts, none])


KV_16BIT = "kv_dtype_bytes>=2"
"""``planner.plan._advice``'s kv16: a KV cache of 16 bits or more, which fp8 would halve."""


def advice() -> str:
    """``planner.plan._advice`` without the plan-specific names and numbers (the faster or larger accelerators, the
    next layout): what to change, per binding wall and rule; never what the plan already uses or the accelerator
    lacks (narrower formats and faster rates from the catalogue). Tips joined by "; "."""
    narrow, faster = "narrower_weights", "faster_compute_formats"
    slo = "IF(op_ttft_caps,\"TTFT\",\"TPOT\")"
    capacity = ("IF(binding_rule=1,\"more GPUs per replica (a larger tp, or pp stages across hosts)\","
                f"IF({KV_16BIT},\"store the KV cache in fp8 (half the bytes of bf16): about twice the batch fits; \","
                "\"\")&\"spread the weights and the KV cache over more GPUs (a larger tp, or pp)\")"
                f"&IF({narrow}<>\"{NONE_TEXT}\",\"; quantize the weights to \"&{narrow},\"\")"
                "&\"; use an accelerator with more memory (memory_gb on the Catalogue sheet)\"")
    budget = ("\"the cheapest plan meeting the SLOs costs more than the budget: raise the budget, or loosen the TPOT "
              f"SLO (bigger batches)\"&IF({narrow}<>\"{NONE_TEXT}\",\"; \"&{narrow}&\" weights: more tokens per GPU\","
              "\"\")"
              "&\"; `whichwall search` compares every accelerator and dtype for the cheapest per token\"")
    lead = ("IF(binding_rule=6,\"the \"&" + slo + "&\" SLO caps the batch at \"&batch&\": a looser \"&" + slo +
            "&\" SLO lets the batch grow and amortize the step; \",IF(binding_rule=7,\"raise the engine's batch cap "
            "(max_batch in the spec; vLLM --max-num-seqs, TensorRT-LLM --max_batch_size) towards \"&"
            "MIN(max_batch_memory,batch_slo)&\": the memory and the SLOs allow that batch; \",IF(OR(binding_rule=2,"
            "binding_rule=3),\"split the work over more GPUs (a larger tp); \",\"\")))")
    fewer = (f"IF({narrow}<>\"{NONE_TEXT}\",{narrow}&\" weights\"&IF({KV_16BIT},\", \",\"\"),\"\")"
             f"&IF({KV_16BIT},\"an fp8 KV cache\",\"\")")
    bandwidth = (f"IF({fewer}<>\"\",\"each decode step reads fewer bytes with \"&{fewer}&\"; \",\"\")"
                 "&\"faster memory (memory_bandwidth_tbs on the Catalogue sheet)\"")
    compute = (f"IF({faster}<>\"{NONE_TEXT}\",{faster}&\" weights run at a faster dense rate on this "
               "accelerator; \",\"\")&\"a faster accelerator (dense_peak_tflops on the Catalogue sheet)\""
               "&IF(OR(op_ttft_caps,binding_rule=2),\"; prefill dominates: disaggregated prefill on its own pool "
               "(whichwall search), shorter prompts or prefix caching\",\"\")")
    network = ("\"collectives or pipeline hops dominate: a smaller tp with more replicas, pipeline stages within one "
               "host, or accelerators with a faster scale-up link\"")
    return (f"IF(binding_wall=\"{W.MEMORY_CAPACITY}\",{capacity},IF(binding_wall=\"{W.BUDGET}\",{budget},"
            f"{lead}&IF(binding_wall=\"{W.MEMORY_BANDWIDTH}\",{bandwidth},IF(binding_wall=\"{W.COMPUTE}\","
            f"{compute},IF(binding_wall=\"{W.NETWORK}\",{network},\"\")))))")


RESULT_FORMULAS: dict[str, str] = {
    # arithmetic
    "weight_gb": f"weight_bytes_total/{num(GB)}",
    "kv_bytes_per_token": "m_layers*m_kv_elements*kv_dtype_bytes",
    "ridge_flop_per_byte": "peak_flops/bandwidth_bytes_per_s",
    "decode_intensity_b1": decode_intensity("1", "0", kv_per_sequence("0")),
    "decode_intensity": decode_intensity("op_b", "decode_context", "kv_seq_decode"),
    "crossover_batch": ("IF(NOT(crossover_reachable),\"never\",IF(crossover_compute_bound_at_1,1,"
                        "crossover_ladder_last_hi))"),
    "decode_floor_ms": "decode_floor_total_ms",
    "prefill_floor_ms": "prefill_floor_total_ms",
    "experts_touched": _opt("op_touched", "m_experts>0"),
    # topology
    "layout": ("IF(candidates_allowed=0,\"no layout runs: \"&IF(tp_auto,\"\",\"tp=\"&tp_value&\" \")&"
               "IF(pp_auto,\"\",\"pp=\"&pp_value&\" \")&IF(ep_auto,\"\",\"ep=\"&ep_value&\" \")&\"cannot run \"&model"
               "&\" on \"&gpu&\" (valid tp: \"&tp_valid_text&\"; tp·pp ≤ \"&max_gpus_per_replica&\"; ep is 1 or tp, "
               "where tp divides the experts)\",\"tp=\"&op_tp&IF(op_pp>1,\", pp=\"&op_pp,\"\")&IF(op_ep>1,\", ep=\""
               "&op_ep,\"\")&IF(op_hosts>1,\", across \"&op_hosts&\" hosts: pipeline hops over the scale-out NIC\","
               "\", one host\")&IF(AND(tp_auto,pp_auto,ep_auto),\" (chosen: Search sheet)\",\"\"))"),
    "tp": "op_tp",
    "pp": "op_pp",
    "ep": "op_ep",
    "gpus_per_replica": "op_tp*op_pp",
    "usable_gb_per_gpu": f"usable_bytes/{num(GB)}",
    "weights_gb_per_gpu": f"weight_bytes_total/(op_tp*op_pp)/{num(GB)}",
    "kv_gb_per_sequence_per_gpu": f"kv_seq_full/MIN(op_tp,m_kv_shards_max)/{num(GB)}",
    "max_batch_memory": "op_b_mem*op_pp",
    "max_batch_engine": _opt("op_b_cap*op_pp", "ISNUMBER(op_b_cap)"),
    "batch_slo": _opt("op_b_slo*op_pp", "op_fits"),
    "batch": "op_b_op*op_pp",
    "decode_step_ms": _opt(f"op_decode_total_s*{MS}", "op_runs"),
    "prefill_ms": _opt(f"op_pre_total_s*{MS}", "op_fits"),
    "tpot_ms": _opt("op_tpot_ms", "op_runs"),
    "ttft_ms": _opt("op_ttft_ms", "op_runs"),
    "tpot_b1_ms": _opt("op_tpot1_ms", "op_fits"),
    "ttft_b1_ms": _opt("op_ttft1_ms", "op_fits"),
    "replica_rps": _opt(f"op_pp/(op_share_total_s+output_tokens/op_b*(op_decode_total_s*{MS})/{MS})", "op_runs"),
    "calibration_rows": "eff_calibration_rows",
    "replicas": "op_replicas",
    "gpus": "op_gpus",
    "output_tokens_per_s_per_replica": _opt("replica_rps*output_tokens", "op_runs"),
    "output_tokens_per_s_per_gpu": _opt("replica_rps*output_tokens/(op_tp*op_pp)", "op_runs"),
    "output_tokens_per_s_per_user": _opt(f"{MS}/op_tpot_ms", "op_runs"),
    # cost
    "usd_per_gpu_hour": (f"IF(ISNUMBER(usd_per_gpu_hour_input),usd_per_gpu_hour_input,"
                         f"IF(a_usd_per_gpu_hour>0,a_usd_per_gpu_hour,\"{NA_TEXT}\"))"),
    "usd_month": "op_usd_month",
    "usd_per_million_output_tokens": _opt(f"usd_month/tokens_per_month*{num(TOKENS_PER_MILLION)}",
                                          "ISNUMBER(usd_month)"),
    "budget_utilization": "op_budget_utilization",
    # walls
    "util_memory_capacity": "op_u_memory_capacity",
    "util_memory_bandwidth": "op_util_bandwidth",
    "util_compute": "op_util_compute",
    "util_network": "op_util_network",
    "util_budget": "budget_utilization",
    **{f"split_{key}": f"op_split_{key}" for key in SPLIT_KEYS.values()},
    "binding_wall": "op_wall",
    "binding_rule": "op_rule",
    "binding_reason": (
        "IF(binding_rule=6,\"the \"&IF(op_ttft_caps,\"TTFT\",\"TPOT\")&\" SLO caps the batch at \"&batch&"
        "\" sequences per replica (\"&max_batch_memory&\" would fit); \"&binding_wall&\" takes the largest share of "
        "\"&IF(op_ttft_caps,\"the prefill\",\"a token's time\"),IF(binding_rule=5,\"the KV cache caps the batch at "
        "\"&max_batch_memory&\" sequences per replica; the SLOs would allow \"&batch_slo,IF(binding_rule=7,"
        "\"the engine's batch cap (\"&IF(ISNUMBER(max_batch_input),\"max_batch in the spec\",\"the \"&engine&\" "
        "default\")&\": \"&max_batch_engine&\" sequences per replica) stops the batch at \"&batch&\"; \"&"
        "max_batch_memory&\" would fit and the SLOs would allow \"&batch_slo&\"; \"&binding_wall&\" takes the "
        "largest share of a token's time\",INDEX(rule_texts,binding_rule))))"),
    "next_wall": "rx_wall",
    "advice": advice(),
    "feasible": ("IF(AND(ISNUMBER(replicas),OR(NOT(ISNUMBER(budget_utilization)),budget_utilization<=1)),"
                 "\"yes\",\"no\")"),
}
"""Every result on the Plan sheet, by name; the names that are keys of the planner's ``values`` mean the same."""

RULE_TEXTS: tuple[str, ...] = W.RULES
"""The binding rule of ``planner.walls`` (numbered 1-7 in ``binding_rule``), as a planner reads it."""

BINDING_UNIT_TEXTS: tuple[str, ...] = tuple(W.BINDING_UNITS[i] for i in range(1, len(W.BINDING_UNITS) + 1))
"""What the binding wall's reading means, by rule (``planner.walls.BINDING_UNITS``)."""


# ------------------------------------------------------------------------------------------------------ roofline


SWEEP_COLUMNS: tuple[Column, ...] = (
    Column("batch", "microbatch (sequences)", 11, "#,##0"),
    Column("intensity", "decode intensity, strict (FLOP/byte)", 12, "#,##0.00"),
    Column("step_s", "decode step (s)", 10, "0.000E+00"),
    Column("step_ms", "decode step (ms)", 10, "#,##0.00"),
    Column("tpot_ms", "user TPOT (ms)", 10, "#,##0.00"),
    Column("ttft_ms", "user TTFT (ms)", 10, "#,##0"),
    Column("tokens_per_s", "output tokens/s per replica", 12, "#,##0"),
    Column("tflops", "attained TFLOP/s per GPU", 11, "#,##0.0"),
    Column("memory_gb", "memory per GPU (GB)", 10, "#,##0.0"),
    Column("fits", "fits memory", 8),
    Column("meets", "meets both SLOs", 8),
)
"""The Roofline sheet's sweep: the plan's layout at growing microbatch (``planner.evaluator.decode``, what a user
sees by ``planner.serving``, memory by ``planner.topology.memory_used_bytes``)."""


def sweep_row(c: Callable[[str], str]) -> dict[str, str]:
    """One row of the Roofline sweep at microbatch ``c('batch')``: the plan's decode step and what a user sees."""
    b, step = c("batch"), c("step_s")
    share = share_total(PLAN.op, prompts_per_iteration(b, "k_max"))
    return {
        "intensity": decode_intensity(b, "decode_context", "kv_seq_decode"),
        "step_s": decode_total_s(PLAN.op, b),
        "step_ms": f"{step}*{MS}",
        "tpot_ms": user_tpot_ms(step, b, share),
        "ttft_ms": user_ttft_ms(step, b, "op_pre_total_s"),
        "tokens_per_s": f"op_pp/({share}+output_tokens/{b}*{step})*output_tokens",
        "tflops": (f"(decode_matmul_flops_1+decode_expert_flops_1+decode_attention_flops_1)/op_tp*{b}/{step}/"
                   f"{num(TERA)}"),
        "memory_gb": (f"(weight_bytes_total/(op_tp*op_pp)+{b}*(kv_seq_full/MIN(op_tp,m_kv_shards_max))"
                      f"+reserve_bytes)/{num(GB)}"),
        "fits": f"IF({b}<=op_b_mem,\"yes\",\"no\")",
        "meets": f"IF(AND({c('tpot_ms')}<=tpot_slo_ms,{c('ttft_ms')}<=ttft_slo_ms),\"yes\",\"no\")",
    }


ROOF_POINTS: tuple[tuple[str, str, str], ...] = (
    ("low", "MIN(0.1,MIN(roofline_intensity)/4)", "{x}*bandwidth_bytes_per_s/" + num(TERA)),
    ("ridge", "peak_flops/bandwidth_bytes_per_s", "peak_flops/" + num(TERA)),
    ("high", "MAX(10000,4*MAX(roofline_intensity),4*prefill_point_intensity,4*ridge_flop_per_byte)",
     "peak_flops/" + num(TERA)),
)
"""The roof at catalogue peaks: (label, intensity, TFLOP/s per GPU with ``{x}`` the intensity's cell)."""

PREFILL_POINT: tuple[str, str] = (
    "prefill_floor_flops_per_gpu/prefill_floor_bytes_per_gpu",
    f"op_prefill_flops/op_pre_total_s/{num(TERA)}",
)
"""The prefill point: its strict intensity (the prefill floor's FLOPs ÷ its bytes), and the expected prefill's
attained TFLOP/s per GPU."""


# --------------------------------------------------------------------------------------------------- catalogue


@dataclass(frozen=True)
class Derived:
    """A derived column of the Catalogue's model table: ``formula`` over the row (``{column}`` placeholders name
    other columns of the same row)."""

    key: str
    header: str
    width: float
    formula: str
    fmt: str = "#,##0"


MODEL_DERIVED: tuple[Derived, ...] = (
    Derived("attention_params", "attention params per layer", 14,
            "IF({attention}=\"mla\",IF({q_lora_rank}>0,{hidden_size}*{q_lora_rank}+{q_lora_rank}+{q_lora_rank}*"
            "{heads}*({qk_nope_head_dim}+{qk_rope_head_dim}),{hidden_size}*{heads}*({qk_nope_head_dim}+"
            "{qk_rope_head_dim}))+{hidden_size}*({kv_lora_rank}+{qk_rope_head_dim})+{kv_lora_rank}+{kv_lora_rank}*"
            "{heads}*({qk_nope_head_dim}+{v_head_dim})+{heads}*{v_head_dim}*{hidden_size},"
            "{hidden_size}*{heads}*{head_dim}+2*{hidden_size}*{kv_heads}*{head_dim}+{heads}*{head_dim}*{hidden_size}"
            "+IF({qkv_bias},{heads}*{head_dim}+2*{kv_heads}*{head_dim},0))"),
    Derived("expert_params", "params per expert", 12, "IF({experts}>0,3*{hidden_size}*{expert_intermediate_size},0)"),
    Derived("moe_layers", "MoE layers", 8, "IF({experts}>0,{layers}-{first_dense_layers},0)", "0"),
    Derived("routed_expert_params", "routed expert params", 16, "{moe_layers}*{experts}*{expert_params}"),
    Derived("embedding_params", "embedding params", 14, "{vocab_size}*{hidden_size}"),
    Derived("total_params", "total params", 16,
            "{layers}*({attention_params}+2*{hidden_size})+{hidden_size}+{embedding_params}*IF({tie_word_embeddings},1,2)"
            "+IF({experts}>0,{first_dense_layers}*3*{hidden_size}*{intermediate_size}+{moe_layers}*({hidden_size}*"
            "{experts}+{shared_experts}*{expert_params})+{routed_expert_params},{layers}*3*{hidden_size}*"
            "{intermediate_size})"),
    Derived("always_read_params", "always-read params", 16, "{total_params}-{routed_expert_params}"),
    Derived("active_params", "active params", 16,
            "{always_read_params}+{moe_layers}*{experts_per_token}*{expert_params}"),
    Derived("matmul_params", "matmul params", 16, "{active_params}-IF({tie_word_embeddings},0,{embedding_params})"),
    Derived("kv_elements", "KV values / token / layer", 12,
            "IF({attention}=\"mla\",{kv_lora_rank}+{qk_rope_head_dim},2*{kv_heads}*{head_dim})", "0"),
    Derived("kv_shards_max", "KV splits at most", 10, "IF({attention}=\"mla\",1,{kv_heads})", "0"),
    Derived("decode_qk_dim", "decode q·k dim", 10,
            "IF({attention}=\"mla\",{kv_lora_rank}+{qk_rope_head_dim},{head_dim})", "0"),
    Derived("decode_v_dim", "decode v dim", 10, "IF({attention}=\"mla\",{kv_lora_rank},{head_dim})", "0"),
    Derived("prefill_qk_dim", "prefill q·k dim", 10,
            "IF({attention}=\"mla\",{qk_nope_head_dim}+{qk_rope_head_dim},{head_dim})", "0"),
    Derived("prefill_v_dim", "prefill v dim", 10, "IF({attention}=\"mla\",{v_head_dim},{head_dim})", "0"),
)
"""``planner.catalogue.Model``'s derived counts (attention_params_per_layer, expert_params, moe_layers,
routed_expert_params, embedding_params, total_params, always_read_params, active_params, matmul_params,
kv_elements_per_token_per_layer, kv_shards_max, decode/prefill_attention_dims) as row formulas."""

MODEL_DERIVED_PLANNER: dict[str, str] = {
    "attention_params": "attention_params_per_layer", "kv_elements": "kv_elements_per_token_per_layer",
}
"""Where a derived column's key differs from the ``Model`` attribute it mirrors."""
