"""whichwall's Excel functions: thin, documented wrappers over ``planner.api``.

Each argument is coerced in one line (``_excel``); the arithmetic lives in ``planner``. Optional arguments may be
empty cells. A numeric argument may be a cell or a range; a range returns an array of the broadcast shape.
Bad input raises ``planner.PlannerError``; xlwings shows its message in the cell (classic add-in) or as #VALUE!
with the message (Office.js / xlwings Lite).
"""

from __future__ import annotations

from typing import Any

import xlwings as xw

from planner import api
from udfs._excel import number, required_text, result, text

MODEL_DOC = "Model id or alias, e.g. llama-3.1-70b or meta-llama/Llama-3.1-70B"
GPU_DOC = "Accelerator id or alias, e.g. h100-sxm or H100"
DTYPE_DOC = "Weight dtype: fp32, bf16, fp16, fp8, int8, int4, fp4 (default bf16)"
KV_DTYPE_DOC = "KV-cache dtype (default bf16)"
BATCH_DOC = "Sequences decoded together (default 1); a cell or a range"
CONTEXT_DOC = "Cached tokens per sequence (default 0); a cell or a range"
TP_DOC = "Tensor-parallel GPUs per replica (default 1); a cell or a range"


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc=BATCH_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC)
@xw.arg("tp", doc=TP_DOC)
def DECODE_FLOOR_MS(model: Any, gpu: Any, dtype: Any = None, batch: Any = None, context_tokens: Any = None,
                    tp: Any = None) -> Any:
    """Roofline floor of one decode step, ms: max(bytes / bandwidth, FLOPs / peak) + all-reduce time, no
    overheads. The physical bound no engine can beat."""
    b, s, t = number("batch", batch), number("context_tokens", context_tokens), number("tp", tp)
    return result(api.decode_floor_ms(required_text("model", model), required_text("gpu", gpu),
                                      text("dtype", dtype), b, s, t), b, s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("prompt_tokens", doc="Prompt length in tokens; a cell or a range")
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC)
def PREFILL_FLOOR_MS(model: Any, gpu: Any, prompt_tokens: Any, dtype: Any = None, tp: Any = None) -> Any:
    """Roofline floor of one prefill of prompt_tokens tokens, ms (usually compute-bound)."""
    p, t = number("prompt_tokens", prompt_tokens), number("tp", tp)
    return result(api.prefill_floor_ms(required_text("model", model), required_text("gpu", gpu), p,
                                       text("dtype", dtype), t), p, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc=BATCH_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC)
@xw.arg("tp", doc=TP_DOC)
def DECODE_MS(model: Any, gpu: Any, dtype: Any = None, batch: Any = None, context_tokens: Any = None,
              tp: Any = None) -> Any:
    """Expected decode step (time per output token), ms: the floor with measured bandwidth/FLOP efficiencies,
    collective latency and step overhead."""
    b, s, t = number("batch", batch), number("context_tokens", context_tokens), number("tp", tp)
    return result(api.decode_ms(required_text("model", model), required_text("gpu", gpu), text("dtype", dtype),
                                b, s, t), b, s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("prompt_tokens", doc="Prompt length in tokens; a cell or a range")
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC)
def PREFILL_MS(model: Any, gpu: Any, prompt_tokens: Any, dtype: Any = None, tp: Any = None) -> Any:
    """Expected unloaded prefill (time to first token), ms."""
    p, t = number("prompt_tokens", prompt_tokens), number("tp", tp)
    return result(api.prefill_ms(required_text("model", model), required_text("gpu", gpu), p, text("dtype", dtype),
                                 t), p, t)


@xw.func
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
def RIDGE_INTENSITY(gpu: Any, dtype: Any = None) -> Any:
    """Ridge point, FLOP/byte: dense peak FLOP/s ÷ memory bytes/s (H100 bf16 ≈ 295)."""
    return result(api.ridge_intensity(required_text("gpu", gpu), text("dtype", dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("batch", doc=BATCH_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC)
def DECODE_INTENSITY(model: Any, batch: Any = None, dtype: Any = None, context_tokens: Any = None) -> Any:
    """FLOPs per byte of one decode step (≈1 at batch 1 in 16-bit): compare with RIDGE_INTENSITY."""
    b, s = number("batch", batch), number("context_tokens", context_tokens)
    return result(api.decode_intensity(required_text("model", model), b, text("dtype", dtype), s), b, s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC)
def CROSSOVER_BATCH(model: Any, gpu: Any, dtype: Any = None, context_tokens: Any = None) -> Any:
    """Smallest batch at which decode becomes compute-bound; "never" when the KV cache keeps it bandwidth-bound."""
    s = number("context_tokens", context_tokens)
    return result(api.crossover_batch(required_text("model", model), required_text("gpu", gpu),
                                      text("dtype", dtype), s), s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
def WEIGHT_GB(model: Any, dtype: Any = None) -> Any:
    """Weight bytes ÷ 1e9 (GB) of the whole model in dtype."""
    return result(api.weight_gb(required_text("model", model), text("dtype", dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def KV_BYTES_PER_TOKEN(model: Any, kv_dtype: Any = None) -> Any:
    """Bytes of KV cache one token adds, all layers (GQA 2·layers·kv_heads·head_dim·bytes; MLA
    layers·(kv_lora_rank + rope dim)·bytes)."""
    return result(api.kv_bytes_per_token(required_text("model", model), text("kv_dtype", kv_dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("context_tokens", doc="Tokens per sequence (input + output); a cell or a range")
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC)
def MAX_BATCH(model: Any, gpu: Any, context_tokens: Any, dtype: Any = None, tp: Any = None) -> Any:
    """Largest batch whose weights + KV cache fit each GPU after the memory reserve (0 if the weights don't)."""
    s, t = number("context_tokens", context_tokens), number("tp", tp)
    return result(api.max_batch(required_text("model", model), required_text("gpu", gpu), s, text("dtype", dtype),
                                t), s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("input_tokens", doc="Prompt tokens per request; a cell or a range")
@xw.arg("output_tokens", doc="Generated tokens per request; a cell or a range")
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC)
def MAX_TOKENS_PER_SEC(model: Any, gpu: Any, input_tokens: Any, output_tokens: Any, dtype: Any = None,
                       tp: Any = None) -> Any:
    """Best output tokens/s of one replica at any batch that fits, prefill time included."""
    i, o, t = number("input_tokens", input_tokens), number("output_tokens", output_tokens), number("tp", tp)
    return result(api.max_tokens_per_sec(required_text("model", model), required_text("gpu", gpu), i, o,
                                         text("dtype", dtype), t), i, o, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("qps", doc="Traffic, requests per second")
@xw.arg("input_tokens", doc="Prompt tokens per request")
@xw.arg("output_tokens", doc="Generated tokens per request")
@xw.arg("ttft_slo_ms", doc="Time-to-first-token SLO, ms")
@xw.arg("tpot_slo_ms", doc="Time-per-output-token SLO, ms")
@xw.arg("budget_usd_month", doc="Monthly budget, USD (optional)")
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc="Tensor-parallel GPUs per replica (default: smallest that fits and meets the SLOs)")
def BINDING_WALL(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                 tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = None, tp: Any = None) -> Any:
    """The wall that limits the plan first: memory capacity, memory bandwidth, compute, network or budget."""
    return api.binding_wall(required_text("model", model), required_text("gpu", gpu), number("qps", qps),
                            number("input_tokens", input_tokens), number("output_tokens", output_tokens),
                            number("ttft_slo_ms", ttft_slo_ms), number("tpot_slo_ms", tpot_slo_ms),
                            number("budget_usd_month", budget_usd_month), text("dtype", dtype), number("tp", tp))
