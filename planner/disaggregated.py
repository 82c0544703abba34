"""Disaggregated plans: a prefill pool and a decode pool, each with its own accelerator and tp (pp = 1; mixed
accelerator types allowed; the same weight and KV dtypes, since the KV cache moves between them).

- prefill pool: one prompt at a time per instance, unloaded prefill t_p (the evaluator's prefill); the KV cache of
  each prompt (``kv_bytes_per_sequence(input_tokens)``) then crosses the scale-out network at
  min(tp_p · NIC_p, tp_d · NIC_d) · link fraction (+ one latency); TTFT = request overhead + t_p + transfer + queue,
  with the queue of an M/D/1 instance at utilization ρ = qps · t_p / n_p: ρ · t_p / (2 (1 − ρ)). The pool size n_p
  is the smallest that keeps TTFT within the SLO: n_p ≥ qps · t_p · (t_p + 2 s) / (2 s), s = the SLO's slack over
  the unloaded TTFT;
- decode pool: TPOT = the decode step alone (no prefill interference), so its batch is min(largest that fits,
  largest whose step meets the TPOT SLO; ``evaluator.slo_batches(decode_only=...)``); replicas =
  ceil(qps / (batch / (output_tokens · step)));
- walls (``planner.walls``' rule on the pair): the prefill's dominant part when the unloaded TTFT misses the SLO,
  the decode step's when even batch 1 misses the TPOT SLO, budget, memory capacity when the KV cache caps the decode
  batch, else the decode step's dominant part (the TPOT SLO caps the decode batch). Utilizations pool the two pools
  by GPU-seconds per request; memory capacity is the decode pool's batch of the batch that fits.

The scale-out NIC bandwidth per GPU comes from the accelerator's ``scaleout`` link in the catalogue, else
``scaleout_default`` in ``planner/data/serving.yaml``.
"""

from __future__ import annotations

import numpy as np

from planner import walls as W
from planner.candidates import front_of
from planner.evaluator import Rows, decode, kv_prompt_bytes, usd_per_million_tokens
from planner.spec import PlanSpec
from planner.topology import REPLICA_TOLERANCE
from planner.units import HOURS_PER_MONTH, MS_PER_S


def disaggregated(pool: Rows, parts: list[dict[str, np.ndarray]], front: list[dict[str, np.ndarray]]) -> int:
    """Prefill-pool and decode-pool options from the pp = 1 rows (``operate``d with ``decode_only``), then every
    pair of the same (dtype, KV dtype). Appends the pairs that meet the SLOs to ``parts`` and their Pareto front to
    ``front``; returns how many pairs were scored."""
    spec = pool.spec
    # prefill: weights and one prompt's KV cache must fit
    pre = pool.prefill
    fits_p = (pool["usable"] - pool["weights_gpu"] >= pool["kv_prompt_gpu"])[:, 0]
    p_all = {"acc": pool["acc"], "dtype_i": pool["dtype_i"], "kv_i": pool["kv_i"], "tp": pool["tp"],
             "t_s": pool["pre_total_s"], "mem_s": pre.memory_s, "comp_s": pre.compute_s, "net_s": pre.network_s,
             "bytes": pre.bytes_per_gpu, "flops": pre.flops_per_gpu, "peak_bw": pool["peak_bandwidth"],
             "peak_flops": pool["peak_flops"], "price": pool["price"], "nic": pool["nic"],
             "link_fraction": pool["link_fraction"], "latency": pool["collective_latency"],
             "overhead": pool["request_overhead_s"], "calibration_rows": pool["calibration_rows"]}
    p_opts = {k: np.broadcast_to(v, (len(pool), 1))[fits_p, 0] for k, v in p_all.items()}
    # decode: the bare step within the TPOT SLO, the batch capped by memory
    ok_d = pool["b_op"][:, 0] >= 1
    sub = pool.take(np.flatnonzero(ok_d))
    b = sub["b_op"]
    step = decode(sub, b)
    d_all = {"acc": sub["acc"], "dtype_i": sub["dtype_i"], "kv_i": sub["kv_i"], "tp": sub["tp"], "ep": sub["ep"],
             "batch": b, "b_mem": sub["b_mem"], "b_slo": sub["b_slo"], "b_cap": sub["b_cap"],
             "calibration_rows": sub["calibration_rows"], "t_s": step.total_s, "mem_s": step.memory_s,
             "comp_s": step.compute_s, "net_s": step.network_s, "bytes": step.bytes_per_gpu,
             "flops": step.flops_per_gpu, "peak_bw": sub["peak_bandwidth"], "peak_flops": sub["peak_flops"],
             "t1_ms": sub["d1_total_s"] * MS_PER_S, "price": sub["price"], "nic": sub["nic"]}
    d_opts = {k: np.broadcast_to(v, (len(sub), 1))[:, 0] for k, v in d_all.items()}
    count = len(pool) + len(sub)
    for key in sorted({(int(a), int(c)) for a, c in zip(p_opts["dtype_i"], p_opts["kv_i"], strict=True)}):
        ps = (p_opts["dtype_i"] == key[0]) & (p_opts["kv_i"] == key[1])
        ds = (d_opts["dtype_i"] == key[0]) & (d_opts["kv_i"] == key[1])
        if ps.any() and ds.any():
            kv_prompt = kv_prompt_bytes(pool.model, spec, pool.names["dtype"][key[1]])
            count += _pair_pools(spec, kv_prompt, {k: v[ps] for k, v in p_opts.items()},
                                 {k: v[ds] for k, v in d_opts.items()}, parts, front)
    return count


def _pair_pools(spec: PlanSpec, kv_prompt: float, p: dict[str, np.ndarray], d: dict[str, np.ndarray],
                parts: list[dict[str, np.ndarray]], front: list[dict[str, np.ndarray]]) -> int:
    """Every prefill option × decode option of one (dtype, KV dtype): pool sizes, TTFT with the KV transfer and
    the prefill queue, cost and walls (the module docstring). Keeps the pairs that meet the SLOs."""
    pc = {k: v[:, None] for k, v in p.items()}  # prefill options down, decode options across
    dc = {k: v[None, :] for k, v in d.items()}
    out_tokens, qps = float(spec.output_tokens), spec.qps
    with np.errstate(divide="ignore", invalid="ignore"):
        bw = np.minimum(pc["tp"] * pc["nic"], dc["tp"] * dc["nic"]) * pc["link_fraction"]
        transfer = kv_prompt / bw + pc["latency"]
        t_p = pc["t_s"]
        unloaded = pc["overhead"] + t_p + transfer
        slack = spec.ttft_slo_ms / MS_PER_S - unloaded
        need = qps * t_p * (t_p + 2.0 * slack) / (2.0 * slack)
        n_p = np.where(slack > 0, np.maximum(1.0, np.ceil(need - REPLICA_TOLERANCE)), np.nan)
        rho = qps * t_p / n_p
        ttft_s = unloaded + rho * t_p / (2.0 * (1.0 - rho))
        steps = out_tokens / dc["batch"]
        decode_busy = steps * dc["t_s"]
        n_d = np.maximum(1.0, np.ceil(qps / (1.0 / decode_busy) - REPLICA_TOLERANCE))
        gpus = n_p * pc["tp"] + n_d * dc["tp"]
        usd_month = (n_p * pc["tp"] * pc["price"] + n_d * dc["tp"] * dc["price"]) * HOURS_PER_MONTH
        gpu_s = pc["tp"] * t_p + dc["tp"] * decode_busy  # GPU-seconds of work per request
        p_s, d_s = pc["tp"] * (t_p + transfer), dc["tp"] * decode_busy
        busy = p_s + d_s
        u_bw = (pc["tp"] * pc["bytes"] / pc["peak_bw"] + dc["tp"] * steps * dc["bytes"] / dc["peak_bw"]) / busy
        u_comp = (pc["tp"] * pc["flops"] / pc["peak_flops"]
                  + dc["tp"] * steps * dc["flops"] / dc["peak_flops"]) / busy
        u_net = (pc["tp"] * (pc["net_s"] + transfer) + dc["tp"] * steps * dc["net_s"]) / busy
        budget_u = usd_month / spec.budget_usd_month if spec.budget_usd_month else np.full(usd_month.shape, np.nan)
    tpot_ms = dc["t_s"] * MS_PER_S
    ttft_ms = ttft_s * MS_PER_S
    meets = (slack > 0) & (tpot_ms <= spec.tpot_slo_ms) & (ttft_ms <= spec.ttft_slo_ms)
    shape = meets.shape
    rule = W.binding_rule(fits=np.ones(shape, dtype=bool), ttft1_misses=np.broadcast_to(slack <= 0, shape),
                          tpot1_misses=np.broadcast_to(dc["t1_ms"] > spec.tpot_slo_ms, shape),
                          over_budget=budget_u > 1.0,
                          kv_caps=np.broadcast_to((dc["b_slo"] > dc["b_mem"]) & (dc["b_mem"] <= dc["b_cap"]), shape),
                          engine_caps=np.broadcast_to((dc["b_cap"] < dc["b_slo"]) & (dc["b_cap"] < dc["b_mem"]),
                                                      shape))
    decode_parts = (dc["mem_s"], dc["comp_s"], dc["net_s"])
    wall = W.binding_wall(rule, (pc["mem_s"], pc["comp_s"], pc["net_s"] + transfer), decode_parts, decode_parts)
    u_bw, u_comp, u_net = (np.where((wall == w) & (rule != 7), 1.0, u) for w, u in ((W.BW, u_bw), (W.COMP, u_comp),
                                                                                      (W.NET, u_net)))
    count = int(meets.size)
    if not meets.any():
        return count
    cols = {
        "acc": dc["acc"], "dtype_i": dc["dtype_i"], "kv_i": dc["kv_i"], "tp": dc["tp"], "pp": 1.0, "ep": dc["ep"],
        "microbatch": dc["batch"], "batch": dc["batch"], "max_batch_memory": dc["b_mem"],
        "max_batch_engine": dc["b_cap"],
        "batch_slo": dc["b_slo"], "replicas": n_d, "gpus": gpus, "tpot_ms": tpot_ms, "ttft_ms": ttft_ms,
        "tokens_per_s_per_gpu": out_tokens / gpu_s, "tokens_per_s_per_user": MS_PER_S / tpot_ms,
        "usd_month": usd_month,
        "usd_per_million_tokens": usd_per_million_tokens(usd_month / HOURS_PER_MONTH, qps * out_tokens),
        "budget_utilization": budget_u, "u_memory_capacity": dc["batch"] / dc["b_mem"],
        "u_memory_bandwidth": u_bw, "u_compute": u_comp, "u_network": u_net,
        **{f"split_{part}": np.nan for part in W.SPLIT_PARTS}, "wall": wall, "rule": rule, "ttft_caps": 0.0,
        "meets_slos": meets, "fits_memory": 1.0, "decode_step_ms": tpot_ms, "prefill_ms": t_p * MS_PER_S,
        "kv_transfer_ms": transfer * MS_PER_S, "prefill_acc": pc["acc"], "prefill_tp": pc["tp"],
        "prefill_replicas": n_p, "tpot1_ms": dc["t1_ms"], "ttft1_ms": unloaded * MS_PER_S, "mode": 1.0,
        "calibration_rows": np.minimum(pc["calibration_rows"], dc["calibration_rows"]),
    }
    flat = {k: np.broadcast_to(np.asarray(v, dtype=float), shape)[meets] for k, v in cols.items()}
    parts.append(flat)
    front.append(front_of(flat))
    return count
