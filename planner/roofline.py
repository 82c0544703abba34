"""The arithmetic of one decode step and one prefill: bytes, FLOPs, intensity, ridge, and roofline times.

Every function takes numpy arrays (or numbers) for the sizes and broadcasts; a scalar call is the 1-element case.
Units: bytes, FLOPs, seconds (``*_ms`` helpers return milliseconds). Definitions, for batch B, context S tokens per
sequence, prompt P tokens, weight bytes per element b_w, KV bytes per element b_kv:

- experts touched per MoE layer by n tokens: E·(1 − (1 − k/E)^n) (k routed per token, E experts)
- weight bytes read by a step over n tokens: (always-read params + MoE layers · touched(n) · params per expert) · b_w
- KV bytes per token: layers · (GQA 2·kv_heads·head_dim | MLA kv_lora_rank + qk_rope_head_dim) · b_kv
- KV bytes of one sequence: per-layer bytes · (full layers · S + sliding layers · min(S, window))
- decode FLOPs: B · (2 · matmul params + 2 · heads · (d_qk + d_v) · attended tokens over all layers)
- prefill FLOPs: 2 · matmul params · P + 2 · heads · (d_qk + d_v) · Σ_layers Σ_{i≤P} min(i, window)
- a step on tp GPUs: bytes and FLOPs split tp ways (expected times split the KV cache only as far as it has KV
  heads to split, as tensor-parallel engines do; the floor spreads it over all tp GPUs), plus two
  ring all-reduces per layer of tokens · hidden · 2 bytes each: 2(tp−1)/tp · message / link bandwidth + latency

**Floors are strict** (``decode_inputs`` / ``prefill_inputs``, ``StepTime.overlap``): a bound no engine can beat.
Only the bytes that must move — a step gathers the embedding rows of its tokens (min(tokens, vocab) · hidden · b_w),
not the whole input-embedding table (an untied model's table is otherwise never read; a tied one is the LM head and
is read whole) — and only the FLOPs that must run — a prefill needs the logits of its last token only, so the LM head
(vocab · hidden) runs for one token, not P. Memory traffic, math and the collectives overlap perfectly:
floor = max(bytes / peak bandwidth, FLOPs / peak FLOP/s, collective bytes / link bandwidth), no latency, no overhead.

**Expected times** move and compute the same (strict) bytes and FLOPs at the measured fractions of the peaks
(``planner.efficiency``): step = max(memory, compute) + all-reduce time + overheads. Two costs only expected times
carry: each routed-expert GEMM a GPU runs costs a fixed ``expert_overhead_s`` on top of its bytes (a grouped GEMM
pays per expert: tensor parallelism slices every touched expert over all tp GPUs, expert parallelism gives each GPU
whole experts, tp / ep of them), and under expert parallelism (ep > 1) the step waits for the GPU whose experts the
tokens touch most (``expert_load``: the expected maximum over ep groups, uniform routing, no fitted parameter).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from planner.catalogue import Accelerator, Model, check_dtype, dtype_bytes
from planner.efficiency import Efficiency, expected_efficiency
from planner.units import ACTIVATION_BYTES, MS_PER_S
from planner.validate import at_least_one, non_negative

ALLREDUCES_PER_LAYER = 2
"""Megatron-style tensor parallelism: one all-reduce after attention, one after the MLP, per layer."""

CROSSOVER_SEARCH_LIMIT = 2**30
"""Largest batch the crossover search considers; beyond it decode is reported as never compute-bound."""


# ----------------------------------------------------------------------------------------------------------- sizes


def experts_touched(model: Model, tokens: np.ndarray | float) -> np.ndarray:
    """Expected distinct routed experts per MoE layer that ``tokens`` tokens route to: E·(1 − (1 − k/E)^tokens).

    Uniform independent routing; 0 for a dense model. At one token it is exactly k.
    """
    n = np.asarray(tokens, dtype=float)
    if not model.moe:
        return n * 0.0
    e, k = model.moe.experts, model.moe.experts_per_token
    return e * -np.expm1(n * np.log1p(-k / e)) if k < e else np.where(n > 0, float(e), 0.0)


EXPECTED_MAX_OF_NORMALS = (0.0, 0.5642, 1.0294, 1.4236, 1.7660, 2.0697, 2.3409, 2.5860)
"""E[max of n independent standard normals] for n = 1, 2, 4, ..., 128 (order statistics tables; n = 2: 1/√π)."""


def expert_load(model: Model, tokens: np.ndarray | float, ep: np.ndarray | float = 1.0) -> np.ndarray:
    """Routed experts per MoE layer a step over ``tokens`` tokens reads, counted at the busiest of ``ep``
    expert-parallel groups (× ep, so that dividing by the GPUs gives the busiest GPU's share): with t = touched experts
    and each group's count ~ binomial(E / ep, t / E), t + z_ep · √(ep · t · (1 − t / E)), z_ep the expected maximum of
    ep standard normals (normal approximation). ep = 1 (tensor-parallel experts, every GPU a slice of each): t."""
    t = experts_touched(model, tokens)
    e = np.asarray(ep, dtype=float)
    if not model.moe or not np.any(e > 1):
        return t + 0.0 * e
    z = np.interp(np.log2(np.maximum(e, 1.0)), np.arange(len(EXPECTED_MAX_OF_NORMALS)), EXPECTED_MAX_OF_NORMALS)
    return t + z * np.sqrt(np.maximum(e * t * (1.0 - t / model.moe.experts), 0.0))


def weight_bytes(model: Model, dtype: str = "bf16") -> float:
    """All weights of ``model`` in ``dtype``, bytes."""
    return model.total_params * dtype_bytes(dtype)


def step_weight_bytes(model: Model, tokens: np.ndarray | float, dtype: str = "bf16") -> np.ndarray:
    """Weight bytes one step over ``tokens`` tokens reads: everything but the routed experts, plus the experts
    those tokens touch (all weights for a dense model)."""
    touched = experts_touched(model, tokens)
    return (model.always_read_params + model.moe_layers * touched * model.expert_params) * dtype_bytes(dtype)


def routed_expert_bytes(model: Model, tokens: np.ndarray | float, dtype: str = "bf16") -> np.ndarray:
    """Bytes of the routed experts a step over ``tokens`` tokens reads (part of ``step_weight_bytes``)."""
    return model.moe_layers * experts_touched(model, tokens) * model.expert_params * dtype_bytes(dtype)


def routed_expert_flops(model: Model, tokens: np.ndarray | float) -> np.ndarray:
    """Routed-expert matmul FLOPs of ``tokens`` tokens: 2 · tokens · MoE layers · k · params per expert (part of
    ``decode_matmul_flops``)."""
    k = model.moe.experts_per_token if model.moe else 0
    return 2.0 * np.asarray(tokens, dtype=float) * model.moe_layers * k * model.expert_params


def kv_bytes_per_token(model: Model, kv_dtype: str = "bf16") -> float:
    """KV-cache bytes one token adds across all layers (sliding-window layers included)."""
    return model.layers * model.kv_elements_per_token_per_layer * dtype_bytes(kv_dtype)


def _attended(model: Model, context: np.ndarray) -> np.ndarray:
    """Σ over layers of the tokens a query at position ``context`` attends to (windowed layers cap at the window)."""
    full = model.layers - model.window_layers
    windowed = model.window_layers * np.minimum(context, model.window_tokens) if model.window_layers else 0.0
    return full * context + windowed


def kv_bytes_per_sequence(model: Model, context: np.ndarray | float, kv_dtype: str = "bf16") -> np.ndarray:
    """KV-cache bytes one sequence of ``context`` tokens holds (sliding-window layers keep at most the window)."""
    s = np.asarray(context, dtype=float)
    return model.kv_elements_per_token_per_layer * dtype_bytes(kv_dtype) * _attended(model, s)


def decode_matmul_flops(model: Model, batch: np.ndarray | float) -> np.ndarray:
    """Weight-matmul FLOPs of one decode step: 2 · matmul params · B (they run at the weight dtype's rate)."""
    return 2.0 * model.matmul_params * np.asarray(batch, dtype=float)


def decode_attention_flops(model: Model, batch: np.ndarray | float, context: np.ndarray | float = 0.0) -> np.ndarray:
    """Attention FLOPs of one decode step: B · 2 · heads · (d_qk + d_v) · attended tokens (at the KV dtype's rate)."""
    b, s = np.asarray(batch, dtype=float), np.asarray(context, dtype=float)
    d_qk, d_v = model.decode_attention_dims
    return b * 2.0 * model.attention.heads * (d_qk + d_v) * _attended(model, s)


def decode_flops(model: Model, batch: np.ndarray | float, context: np.ndarray | float = 0.0) -> np.ndarray:
    """FLOPs of one decode step: B · (2 · matmul params + attention over ``context`` cached tokens)."""
    return decode_matmul_flops(model, batch) + decode_attention_flops(model, batch, context)


def decode_bytes(
    model: Model,
    batch: np.ndarray | float,
    context: np.ndarray | float = 0.0,
    dtype: str = "bf16",
    kv_dtype: str = "bf16",
) -> np.ndarray:
    """Bytes one decode step must read (the strict floor's): the weights its B tokens touch — of an untied
    input-embedding table only the B rows it gathers — plus B sequences' KV cache."""
    b = np.asarray(batch, dtype=float)
    return (step_weight_bytes(model, b, dtype) - _gathered_embedding_bytes(model, b, dtype)
            + b * kv_bytes_per_sequence(model, context, kv_dtype))


def _causal_pairs(prompt: np.ndarray, window: float) -> np.ndarray:
    """Σ_{i=1..P} min(i, window): query-key pairs of a causal prompt, capped at ``window`` (0 = no window)."""
    full = prompt * (prompt + 1) / 2
    if not window:
        return full
    capped = window * (window + 1) / 2 + (prompt - window) * window
    return np.where(prompt <= window, full, capped)


def prefill_attention_flops(model: Model, prompt: np.ndarray | float) -> np.ndarray:
    """Causal attention FLOPs of a prefill: 2 · heads · (d_qk + d_v) · Σ_layers Σ_{i≤P} min(i, window)."""
    p = np.asarray(prompt, dtype=float)
    d_qk, d_v = model.prefill_attention_dims
    full_layers = model.layers - model.window_layers
    pairs = full_layers * _causal_pairs(p, 0) + model.window_layers * _causal_pairs(p, model.window_tokens)
    return 2.0 * model.attention.heads * (d_qk + d_v) * pairs


def prefill_flops(model: Model, prompt: np.ndarray | float) -> np.ndarray:
    """FLOPs a prefill of ``prompt`` tokens must run: 2 · matmul params · P, less the LM head for all but the last
    token (the first output token's logits), plus causal attention over the prompt (the strict floor's)."""
    p = np.asarray(prompt, dtype=float)
    return decode_matmul_flops(model, p) - 2.0 * lm_head_params(model) * (p - 1.0) + prefill_attention_flops(model, p)


def decode_intensity(
    model: Model,
    batch: np.ndarray | float = 1.0,
    dtype: str = "bf16",
    context: np.ndarray | float = 0.0,
    kv_dtype: str = "bf16",
) -> np.ndarray:
    """Arithmetic intensity of one decode step, FLOP/byte: FLOPs ÷ the bytes it must read (1 at batch 1 in 16-bit for
    an untied dense model: one multiply-add per 2-byte weight)."""
    return decode_flops(model, batch, context) / decode_bytes(model, batch, context, dtype, kv_dtype)


def ridge_intensity(acc: Accelerator, dtype: str = "bf16") -> float:
    """Ridge point, FLOP/byte: dense peak FLOP/s for ``dtype`` ÷ peak memory bytes/s."""
    return acc.ridge(dtype)


# ----------------------------------------------------------------------------------------------------------- times


@dataclass(frozen=True)
class StepTime:
    """The parts of one step's time on one GPU of a tensor-parallel group, seconds (arrays).

    ``overlap`` (floors): memory traffic, math and collectives overlap perfectly, so the step takes the longest of
    the three; otherwise (expected times) the collectives of tensor parallelism sit on the critical path between
    layers and add to max(memory, compute)."""

    memory_s: np.ndarray
    compute_s: np.ndarray
    network_s: np.ndarray
    overhead_s: np.ndarray
    bytes_per_gpu: np.ndarray
    flops_per_gpu: np.ndarray
    overlap: bool = False

    @property
    def total_s(self) -> np.ndarray:
        """Floor: max(memory, compute, network) + overhead; expected: max(memory, compute) + network + overhead."""
        if self.overlap:
            return np.maximum(np.maximum(self.memory_s, self.compute_s), self.network_s) + self.overhead_s
        return np.maximum(self.memory_s, self.compute_s) + self.network_s + self.overhead_s

    @property
    def total_ms(self) -> np.ndarray:
        return self.total_s * MS_PER_S


def kv_shards(model: Model, tp: np.ndarray | float) -> np.ndarray:
    """How many ways tensor parallelism splits the KV cache: min(tp, KV heads) for GQA, 1 for MLA."""
    return np.minimum(np.asarray(tp, dtype=float), model.kv_shards_max)


def step_time(
    *,
    weight_bytes: np.ndarray | float,
    kv_bytes: np.ndarray | float,
    matmul_flops: np.ndarray | float,
    attention_flops: np.ndarray | float,
    tokens: np.ndarray | float,
    sequences: np.ndarray | float,
    tp: np.ndarray | float,
    kv_split: np.ndarray | float,
    layers: float,
    hidden_size: float,
    bandwidth: np.ndarray | float,
    peak_flops: np.ndarray | float,
    attention_peak_flops: np.ndarray | float,
    link_bandwidth: np.ndarray | float,
    collective_latency_s: np.ndarray | float,
    step_overhead_s: np.ndarray | float = 0.0,
    sequence_overhead_s: np.ndarray | float = 0.0,
    expert_weight_bytes: np.ndarray | float = 0.0,
    expert_matmul_flops: np.ndarray | float = 0.0,
    expert_bandwidth_fraction: np.ndarray | float = 1.0,
    expert_compute_fraction: np.ndarray | float = 1.0,
    expert_gemms: np.ndarray | float = 0.0,
    expert_parallel: np.ndarray | float = 1.0,
    expert_overhead_s: np.ndarray | float = 0.0,
    overlap: bool = False,
) -> StepTime:
    """The one step-time formula every face uses, on arrays that broadcast together.

    ``bandwidth`` (bytes/s), ``peak_flops`` / ``attention_peak_flops`` (FLOP/s at the weight and KV dtypes) and
    ``link_bandwidth`` (bytes/s per direction) are the rates the step runs at (catalogue peaks for a floor, times the
    measured fractions for an expected time). Routed-expert weights and FLOPs (MoE) are passed apart from the rest
    because grouped expert GEMMs reach a smaller fraction of those rates (``expert_*_fraction``; 1 for a floor).
    Per GPU:
    memory = (weight_bytes / tp + expert_weight_bytes / tp / expert_bandwidth_fraction + kv_bytes / kv_split)
             / bandwidth + expert_gemms / expert_parallel · expert_overhead_s;
    compute = (matmul_flops + expert_matmul_flops / expert_compute_fraction) / tp / peak_flops
              + attention_flops / tp / attention_peak_flops;
    network = 2 · layers · [2(tp−1)/tp · tokens · hidden · 2 bytes / link_bandwidth + latency] (0 at tp = 1);
    overhead = step_overhead_s + sequences · sequence_overhead_s (kernel launches, scheduling, sampling; the
    callers pass layers × the per-layer figures; 0 for a floor); ``overlap``: see ``StepTime``.
    """
    # plain arithmetic (works on floats and arrays alike): the scalar call stays cheap, arrays broadcast
    bytes_per_gpu = (weight_bytes + expert_weight_bytes) / tp + kv_bytes / kv_split
    flops_per_gpu = (matmul_flops + expert_matmul_flops + attention_flops) / tp
    memory_s = ((weight_bytes + expert_weight_bytes / expert_bandwidth_fraction) / tp + kv_bytes / kv_split) / bandwidth
    memory_s = memory_s + expert_gemms / expert_parallel * expert_overhead_s
    compute_s = ((matmul_flops + expert_matmul_flops / expert_compute_fraction) / peak_flops
                 + attention_flops / attention_peak_flops) / tp
    message = tokens * hidden_size * ACTIVATION_BYTES
    ring_s = 2.0 * (tp - 1.0) / tp * message / link_bandwidth
    network_s = ALLREDUCES_PER_LAYER * layers * (ring_s + collective_latency_s) * np.greater(tp, 1)
    overhead_s = step_overhead_s + sequences * sequence_overhead_s
    parts = [np.asarray(x, dtype=float) for x in (memory_s, compute_s, network_s, overhead_s, bytes_per_gpu,
                                                  flops_per_gpu)]
    shapes = {x.shape for x in parts}
    if len(shapes) > 1:  # broadcast every part to one shape (a scalar call skips this)
        shape = np.broadcast_shapes(*shapes)
        parts = [x if x.shape == shape else np.broadcast_to(x, shape) for x in parts]
    m, c, n, o, b, f = parts
    return StepTime(m, c, n, o, b, f, overlap=overlap)


# ------------------------------------------------------------------------------- a step's inputs and its rates


@dataclass(frozen=True)
class StepInputs:
    """What one step moves and computes (all GPUs together; ``step_time``'s extensive arguments), arrays."""

    weight_bytes: np.ndarray
    expert_weight_bytes: np.ndarray
    kv_bytes: np.ndarray
    matmul_flops: np.ndarray
    expert_matmul_flops: np.ndarray
    attention_flops: np.ndarray
    tokens: np.ndarray
    sequences: np.ndarray
    expert_gemms: np.ndarray | float = 0.0
    """Routed-expert GEMMs the step runs, summed over MoE layers (``expert_load``: the busiest group's, × ep)."""


def _gathered_embedding_bytes(model: Model, tokens: np.ndarray, dtype: str) -> np.ndarray | float:
    """Strict floors: an untied model's input-embedding table minus the rows ``tokens`` tokens gather, bytes (what a
    step need not read); 0 for a tied model (its table is the LM head, read whole)."""
    if model.tie_word_embeddings:
        return 0.0
    rows = np.minimum(tokens, float(model.vocab_size))
    return (model.embedding_params - rows * model.hidden_size) * dtype_bytes(dtype)


def lm_head_params(model: Model) -> float:
    """Elements of the LM head (vocab · hidden): the last matmul of every token that needs logits."""
    return float(model.vocab_size * model.hidden_size)


def _experts(model: Model, tokens: np.ndarray, dtype: str, ep: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """(routed-expert bytes at the busiest group's load × ep, expert GEMMs over all MoE layers) of ``tokens``."""
    if not model.moe:
        return 0.0 * tokens, 0.0 * tokens
    load = expert_load(model, tokens, ep)
    return model.moe_layers * load * model.expert_params * dtype_bytes(dtype), model.moe_layers * load


def decode_inputs(model: Model, batch: np.ndarray | float, context: np.ndarray | float, dtype: str, kv_dtype: str,
                  strict: bool = True, ep: np.ndarray | float = 1.0) -> StepInputs:
    """One decode step of ``batch`` sequences at ``context`` cached tokens: the weights its tokens touch (routed
    experts apart, at the busiest of ``ep`` expert-parallel groups), the batch's KV cache, the matmul FLOPs (routed
    experts apart) and attention FLOPs. ``strict`` (floors and expected times alike): of an untied input-embedding
    table only the rows the batch gathers; ``strict=False`` keeps the whole table (the pre-issue-14 expected time)."""
    b = np.asarray(batch, dtype=float)
    expert_b, gemms = _experts(model, b, dtype, ep)
    weight_b = step_weight_bytes(model, b, dtype) - (routed_expert_bytes(model, b, dtype) if model.moe else 0.0)
    if strict:
        weight_b = weight_b - _gathered_embedding_bytes(model, b, dtype)
    expert_f = routed_expert_flops(model, b) if model.moe else 0.0 * b
    return StepInputs(weight_b, expert_b, b * kv_bytes_per_sequence(model, context, kv_dtype),
                      decode_matmul_flops(model, b) - expert_f, expert_f, decode_attention_flops(model, b, context),
                      b, b, gemms)


def prefill_inputs(model: Model, prompt: np.ndarray | float, dtype: str, kv_dtype: str,
                   strict: bool = True, ep: np.ndarray | float = 1.0) -> StepInputs:
    """The prefill of one prompt of ``prompt`` tokens: the weights its tokens touch, the KV cache it writes, the
    matmul FLOPs (routed experts apart) and causal attention. ``strict``: only the embedding rows the prompt gathers,
    and the LM head for the last token only (the first output token's logits)."""
    p = np.asarray(prompt, dtype=float)
    expert_b, gemms = _experts(model, p, dtype, ep)
    weight_b = step_weight_bytes(model, p, dtype) - (routed_expert_bytes(model, p, dtype) if model.moe else 0.0)
    expert_f = routed_expert_flops(model, p) if model.moe else 0.0 * p
    matmul = decode_matmul_flops(model, p) - expert_f
    if strict:
        weight_b = weight_b - _gathered_embedding_bytes(model, p, dtype)
        matmul = matmul - 2.0 * lm_head_params(model) * (p - 1.0)
    return StepInputs(weight_b, expert_b, kv_bytes_per_sequence(model, p, kv_dtype), matmul, expert_f,
                      prefill_attention_flops(model, p), p, np.ones_like(p), gemms)


def batched_prefill_inputs(model: Model, prompt: np.ndarray | float, prompts: np.ndarray | float, dtype: str,
                           kv_dtype: str, ep: np.ndarray | float = 1.0, one: StepInputs | None = None) -> StepInputs:
    """One engine iteration that prefills ``prompts`` prompts of ``prompt`` tokens together (a chunk of an offline
    batch: vLLM ``max_num_batched_tokens``): the weights (and the routed experts all prompts' tokens touch) are read
    once, while the KV cache written, the FLOPs (each prompt's attention causal within itself, its LM head for its
    last token), the tokens and the sequences are ``prompts`` times one prompt's (``prefill_inputs``; ``one``: it,
    already computed)."""
    k = np.asarray(prompts, dtype=float)
    one = prefill_inputs(model, prompt, dtype, kv_dtype, ep=ep) if one is None else one
    read = prefill_inputs(model, np.asarray(prompt, dtype=float) * k, dtype, kv_dtype, ep=ep)
    return StepInputs(read.weight_bytes, read.expert_weight_bytes, one.kv_bytes * k, one.matmul_flops * k,
                      one.expert_matmul_flops * k, one.attention_flops * k, one.tokens * k, one.sequences * k,
                      read.expert_gemms)


@dataclass(frozen=True)
class StepRates:
    """The rates a step runs at on one tp group (``step_time``'s other arguments)."""

    tp: np.ndarray | float
    kv_split: np.ndarray | float
    layers: float
    hidden_size: float
    bandwidth: np.ndarray | float
    peak_flops: np.ndarray | float
    attention_peak_flops: np.ndarray | float
    link_bandwidth: np.ndarray | float
    collective_latency_s: np.ndarray | float
    step_overhead_s: np.ndarray | float
    sequence_overhead_s: np.ndarray | float
    expert_bandwidth_fraction: np.ndarray | float
    expert_compute_fraction: np.ndarray | float
    overlap: bool
    expert_parallel: np.ndarray | float = 1.0
    expert_overhead_s: np.ndarray | float = 0.0


def compute_fractions(acc: Accelerator, dtype: str, kv_dtype: str, eff: Efficiency,
                      prefill: bool = False) -> tuple[float, float]:
    """(fraction of the weights' compute peak, fraction of attention's) that ``eff`` reaches: each at the compute
    dtype of its format (``Accelerator.compute_dtype``: weight-only formats compute at the 16-bit rate), the
    prefill fraction in a prefill."""
    fraction = eff.prefill_compute if prefill else eff.compute
    return fraction(acc.compute_dtype(dtype)), fraction(acc.compute_dtype(kv_dtype))


def link_rates(acc: Accelerator, tp: np.ndarray, eff: Efficiency) -> tuple[np.ndarray, np.ndarray]:
    """Per-direction link bandwidth (bytes/s, times the link fraction) and per-collective latency (s) for each tp
    (the scale-up link within its domain, else PCIe; see ``Accelerator.tp_link``). tp = 1 gets (inf, 0)."""
    if tp.ndim == 0:  # the common scalar case, without np.unique (plain floats broadcast like 0-d arrays)
        link = acc.tp_link(int(tp))
        if link is None:
            return np.inf, 0.0  # type: ignore[return-value]
        latency_s = eff.scaleup_latency_s if link is acc.scaleup else eff.pcie_latency_s
        return link.bytes_per_s * eff.link_fraction, latency_s  # type: ignore[return-value]
    bandwidth = np.full(tp.shape, np.inf)
    latency = np.zeros(tp.shape)
    for value in np.unique(tp):
        link = acc.tp_link(int(value))
        if link is None:
            continue
        sel = tp == value
        bandwidth[sel] = link.bytes_per_s * eff.link_fraction
        latency[sel] = eff.scaleup_latency_s if link is acc.scaleup else eff.pcie_latency_s
    return bandwidth, latency


def step_rates(model: Model, acc: Accelerator, dtype: str, kv_dtype: str, tp: np.ndarray | float,
               eff: Efficiency | None = None, prefill: bool = False, ep: np.ndarray | float = 1.0) -> StepRates:
    """The rates of a step on ``tp`` GPUs (``ep`` of them expert-parallel groups): the catalogue peaks times
    ``eff``'s fractions, its latencies and overheads (``eff`` None or ideal: a floor, with the KV cache spread over
    every GPU and perfect overlap)."""
    ideal = Efficiency.ideal()
    eff = eff or ideal
    floor = eff is ideal or eff == ideal
    t = np.asarray(tp, dtype=float)
    link_bw, latency = link_rates(acc, t, eff)
    weights, attention = compute_fractions(acc, dtype, kv_dtype, eff)
    rates = StepRates(
        tp=t, kv_split=kv_shards(model, t) if eff.replicate_kv else t, layers=model.layers,
        hidden_size=model.hidden_size, bandwidth=acc.bandwidth_bytes_per_s * eff.bandwidth_fraction,
        peak_flops=acc.peak_flops(dtype) * weights, attention_peak_flops=acc.peak_flops(kv_dtype) * attention,
        link_bandwidth=link_bw, collective_latency_s=latency, step_overhead_s=model.layers * eff.layer_overhead_s,
        sequence_overhead_s=model.layers * eff.sequence_overhead_s,
        expert_bandwidth_fraction=eff.expert_bandwidth_fraction, expert_compute_fraction=eff.expert_compute_fraction,
        overlap=floor, expert_parallel=np.asarray(ep, dtype=float), expert_overhead_s=eff.expert_overhead_s)
    return prefill_rates(rates, acc, dtype, kv_dtype, eff) if prefill else rates


def prefill_rates(rates: StepRates, acc: Accelerator, dtype: str, kv_dtype: str, eff: Efficiency) -> StepRates:
    """A decode step's ``rates`` as a prefill's: the prefill compute fractions (``compute_fractions(prefill=True)``)
    and the prefill's expert compute fraction; links, bandwidth and overheads are the same."""
    weights, attention = compute_fractions(acc, dtype, kv_dtype, eff, True)
    return replace(rates, peak_flops=acc.peak_flops(dtype) * weights,
                   attention_peak_flops=acc.peak_flops(kv_dtype) * attention,
                   expert_compute_fraction=eff.prefill_expert_compute)


def time_step(inputs: StepInputs, rates: StepRates) -> StepTime:
    """``step_time`` of ``inputs`` at ``rates``."""
    i, r = inputs, rates
    return step_time(weight_bytes=i.weight_bytes, expert_weight_bytes=i.expert_weight_bytes, kv_bytes=i.kv_bytes,
                     matmul_flops=i.matmul_flops, expert_matmul_flops=i.expert_matmul_flops,
                     attention_flops=i.attention_flops, tokens=i.tokens, sequences=i.sequences, tp=r.tp,
                     kv_split=r.kv_split, layers=r.layers, hidden_size=r.hidden_size, bandwidth=r.bandwidth,
                     peak_flops=r.peak_flops, attention_peak_flops=r.attention_peak_flops,
                     link_bandwidth=r.link_bandwidth, collective_latency_s=r.collective_latency_s,
                     step_overhead_s=r.step_overhead_s, sequence_overhead_s=r.sequence_overhead_s,
                     expert_bandwidth_fraction=r.expert_bandwidth_fraction,
                     expert_compute_fraction=r.expert_compute_fraction, expert_gemms=i.expert_gemms,
                     expert_parallel=r.expert_parallel, expert_overhead_s=r.expert_overhead_s, overlap=r.overlap)


def _tp(tp: np.ndarray | float) -> np.ndarray:
    return at_least_one("tp", tp)


def decode_step(
    model: Model,
    acc: Accelerator,
    dtype: str = "bf16",
    batch: np.ndarray | float = 1.0,
    context: np.ndarray | float = 0.0,
    tp: np.ndarray | float = 1.0,
    kv_dtype: str = "bf16",
    eff: Efficiency | None = None,
) -> StepTime:
    """One decode step of ``batch`` sequences at ``context`` cached tokens on ``tp`` GPUs: the strict floor when
    ``eff`` is None or ideal, else the expected time at ``eff``."""
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    b, s, t = at_least_one("batch", batch), non_negative("context_tokens", context), _tp(tp)
    rates = step_rates(model, acc, dtype, kv_dtype, t, eff)
    return time_step(decode_inputs(model, b, s, dtype, kv_dtype), rates)


def prefill_step(
    model: Model,
    acc: Accelerator,
    prompt: np.ndarray | float,
    dtype: str = "bf16",
    tp: np.ndarray | float = 1.0,
    kv_dtype: str = "bf16",
    eff: Efficiency | None = None,
) -> StepTime:
    """The prefill of one prompt of ``prompt`` tokens on ``tp`` GPUs (unloaded time to first token): the strict floor
    when ``eff`` is None or ideal, else the expected time at ``eff``."""
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    p, t = at_least_one("prompt_tokens", prompt), _tp(tp)
    rates = step_rates(model, acc, dtype, kv_dtype, t, eff, prefill=True)
    return time_step(prefill_inputs(model, p, dtype, kv_dtype), rates)


def decode_floor_ms(model: Model, acc: Accelerator, dtype: str = "bf16", batch: np.ndarray | float = 1.0,
                    context: np.ndarray | float = 0.0, tp: np.ndarray | float = 1.0,
                    kv_dtype: str = "bf16") -> np.ndarray:
    """Strict roofline floor of one decode step, ms (pure arithmetic: also where the weights would not fit)."""
    return decode_step(model, acc, dtype, batch, context, tp, kv_dtype).total_ms


def prefill_floor_ms(model: Model, acc: Accelerator, prompt: np.ndarray | float, dtype: str = "bf16",
                     tp: np.ndarray | float = 1.0, kv_dtype: str = "bf16") -> np.ndarray:
    """Strict roofline floor of one prefill, ms."""
    return prefill_step(model, acc, prompt, dtype, tp, kv_dtype).total_ms


def decode_ms(model: Model, acc: Accelerator, dtype: str = "bf16", batch: np.ndarray | float = 1.0,
              context: np.ndarray | float = 0.0, tp: np.ndarray | float = 1.0,
              kv_dtype: str = "bf16", eff: Efficiency | None = None) -> np.ndarray:
    """Expected decode step (time per output token), ms, with the accelerator's measured efficiencies (``eff``:
    others). No fit check here: ``planner.api`` refuses configurations whose weights do not fit."""
    eff = eff or expected_efficiency(acc.id)
    return decode_step(model, acc, dtype, batch, context, tp, kv_dtype, eff).total_ms


def prefill_ms(model: Model, acc: Accelerator, prompt: np.ndarray | float, dtype: str = "bf16",
               tp: np.ndarray | float = 1.0, kv_dtype: str = "bf16", eff: Efficiency | None = None) -> np.ndarray:
    """Expected unloaded prefill (time to first token), ms."""
    eff = eff or expected_efficiency(acc.id)
    return prefill_step(model, acc, prompt, dtype, tp, kv_dtype, eff).total_ms


_crossover_memo: dict[tuple[int, int, str, str, float], tuple[Model, Accelerator, float]] = {}


def crossover_batch(
    model: Model,
    acc: Accelerator,
    dtype: str = "bf16",
    context: np.ndarray | float = 0.0,
    kv_dtype: str = "bf16",
) -> np.ndarray:
    """Smallest whole batch at which the decode step's FLOP time reaches its memory time (at catalogue peaks, the
    strict floor's bytes and FLOPs); ``inf`` where no batch up to 2^30 gets there (the KV cache grows as fast as
    the FLOPs: long contexts).

    compute(B) − memory(B) is convex in B (FLOPs linear, bytes linear + concave expert coverage), so once
    compute-bound a step stays compute-bound and bisection finds the crossover. A scalar call is remembered per
    (model, accelerator, dtypes, context): plans ask it again for every traffic figure.
    """
    dtype, kv_dtype = check_dtype(dtype), check_dtype(kv_dtype, "kv_dtype")
    s = non_negative("context_tokens", context)
    key = (id(model), id(acc), dtype, kv_dtype, float(s)) if s.size == 1 else None
    if key is not None:
        hit = _crossover_memo.get(key)
        if hit is not None and hit[0] is model and hit[1] is acc:
            return np.full(s.shape, hit[2])
    rates = step_rates(model, acc, dtype, kv_dtype, 1.0)

    def compute_bound(b: np.ndarray) -> np.ndarray:
        step = time_step(decode_inputs(model, b, s, dtype, kv_dtype, strict=True), rates)
        return step.compute_s >= step.memory_s

    lo = np.ones_like(s)
    hi = np.full_like(s, float(CROSSOVER_SEARCH_LIMIT))
    reachable = compute_bound(hi)
    done = compute_bound(lo)
    while True:
        active = reachable & ~done & (hi - lo > 1)
        if not active.any():
            break
        mid = np.floor((lo + hi) / 2)
        ok = compute_bound(mid)
        hi = np.where(active & ok, mid, hi)
        lo = np.where(active & ~ok, mid, lo)
    result = np.where(reachable, np.where(done, 1.0, hi), np.inf)
    if key is not None:
        if len(_crossover_memo) > 10_000:
            _crossover_memo.clear()
        _crossover_memo[key] = (model, acc, float(result.reshape(-1)[0]))
    return result
