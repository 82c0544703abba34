"""Aggregated serving with in-flight batching: what a user sees, from one decode step and one prefill.

A replica decodes ``B`` sequences per step and prefills the requests that arrive between steps. Every request needs
one prefill, so per decode step the replica also runs B / output_tokens prefills on average (chunked-prefill
interference). Those prompts are prefilled together: k = clip(B / output_tokens, 1, token budget / prompt tokens)
prompts per engine iteration share its weight read and its fixed per-layer cost, so each costs t_k = T_pre(k) / k,
T_pre(k) the prefill of k prompts at once (``roofline.batched_prefill_inputs``; t_1 = t_p, one prompt alone). With
decode step t_d and one prefill t_p (seconds):

- time per output token a user sees:  TPOT = t_d + (B / output_tokens) · t_k
- time to first token:                TTFT = o_r + t_d + t_p · (1 + a · (B − 1)^β · (1024 / output_tokens)^δ)

o_r is a fixed per-request overhead (tokenizing, scheduling, the first sampling); t_d is the decode step of the B
sequences in flight the prompt's iteration also runs (in-flight batching puts the prompt into an iteration with the
running decodes, or it waits for the current decode step to end; either way its first token comes one decode step
later than its prefill alone); the burst term a · (B − 1)^β · (…)^δ is the wait behind the other B − 1 prompts in
flight — in closed-loop benchmarks requests arrive in waves, and how long they queue grows with the number in flight
and with how often they turn over (short outputs). a, β, δ are fitted per serving engine to measured TTFTs
(``planner.fidelity``). Unloaded (B = 1) TTFT is o_r + one decode step + one prefill. A replica's busy time per
request is t_k + output_tokens · t_d / B.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.efficiency import BURST_REFERENCE_OUTPUT_TOKENS, Efficiency


@dataclass(frozen=True)
class ServingTimes:
    tpot_s: np.ndarray
    ttft_s: np.ndarray


def aggregated_times(
    decode_step_s: np.ndarray | float,
    prefill_s: np.ndarray | float,
    batch: np.ndarray | float,
    output_tokens: np.ndarray | float,
    request_overhead_s: np.ndarray | float = 0.0,
    burst_coefficient: np.ndarray | float = 0.0,
    burst_exponent: np.ndarray | float = 1.0,
    burst_output_exponent: np.ndarray | float = 0.0,
    prefill_share_s: np.ndarray | float | None = None,
) -> ServingTimes:
    """TPOT and TTFT of in-flight batching (formulas in the module docstring), seconds, on arrays;
    ``prefill_share_s`` is t_k, each prompt's cost when prompts are prefilled together (default t_p)."""
    t_d = np.asarray(decode_step_s, dtype=float)
    t_p = np.asarray(prefill_s, dtype=float)
    t_k = t_p if prefill_share_s is None else prefill_share_s
    b = np.asarray(batch, dtype=float)
    osl = np.asarray(output_tokens, dtype=float)
    tpot = t_d + b / osl * t_k
    others = np.maximum(b - 1.0, 0.0)
    # (B − 1)^β counts only other prompts: none (B = 1) is no wait, even where β = 0
    burst = burst_coefficient * np.power(others, burst_exponent) * (others > 0)
    burst = burst * np.power(BURST_REFERENCE_OUTPUT_TOKENS / osl, burst_output_exponent)
    ttft = request_overhead_s + t_d + t_p * (1.0 + burst)
    return ServingTimes(tpot, np.asarray(ttft, dtype=float))


def prompts_per_iteration(batch: np.ndarray | float, output_tokens: np.ndarray | float,
                          max_prompts: np.ndarray | float) -> np.ndarray:
    """k: the prompts that arrive per decode step at ``batch`` sequences (B / output_tokens), prefilled together, at
    least 1 and at most ``max_prompts`` (the engine's token budget ÷ the prompt tokens, at least 1)."""
    return np.minimum(np.maximum(np.divide(batch, output_tokens), 1.0), np.maximum(max_prompts, 1.0))


def serving_times(
    decode_step_s: np.ndarray | float,
    prefill_s: np.ndarray | float,
    batch: np.ndarray | float,
    output_tokens: np.ndarray | float,
    eff: Efficiency,
) -> ServingTimes:
    """``aggregated_times`` with the request overhead and burst terms of ``eff``."""
    return aggregated_times(decode_step_s, prefill_s, batch, output_tokens, eff.request_overhead_s,
                            eff.burst_coefficient, eff.burst_exponent, eff.burst_output_exponent)


def slot_wait(concurrency: np.ndarray | float, batch: np.ndarray | float, output_tokens: np.ndarray | float,
              tpot_s: np.ndarray | float) -> np.ndarray:
    """Seconds a request waits for a free sequence slot when ``concurrency`` requests are in flight but only
    ``batch`` fit: each slot turns over every output_tokens · TPOT, so (concurrency − batch) / batch of a turnover."""
    b = np.asarray(batch, dtype=float)
    return np.maximum(np.asarray(concurrency, dtype=float) - b, 0.0) / b * output_tokens * tpot_s
