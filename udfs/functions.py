"""whichwall's Excel functions: thin, documented wrappers over ``planner.api``.

Each argument is coerced in one line (``udfs._excel``); the arithmetic lives in ``planner``. Optional arguments may
be left out or be empty cells (= the default shown in the signature). A numeric argument may be a cell or a range;
a range returns an array of the broadcast shape (same-shape ranges go element by element, a column and a row make
a table). Tables come back as 2-D arrays with a header row. Bad input raises ``planner.PlannerError``: the classic
add-in shows its message in the cell, Office.js / xlwings Lite a #VALUE! with the message (see ``udfs._excel``).

The decorators are xlwings' own (``udfs._xw`` records what they are given, for the docs and for xlwings Lite).
Descriptions and argument docs stay under 255 characters: Excel's function wizard refuses longer ones.
"""

from __future__ import annotations

from typing import Any

from planner import api
from planner.efficiency import ENGINES
from udfs import _xw as xw
from udfs._excel import REQUIRED, column, number, numbers, one_cell, required_text, result, table, text, texts

MODEL_DOC = "Model id or alias, e.g. llama-3.1-70b or meta-llama/Llama-3.1-70B (MODEL_IDS() lists them)"
GPU_DOC = "Accelerator id or alias, e.g. h100-sxm or H100 (GPU_IDS() lists them)"
DTYPE_DOC = "Weight dtype: fp32, bf16, fp16, fp8, int8, int4 or fp4 (default bf16)"
KV_DTYPE_DOC = "KV-cache dtype: fp32, bf16, fp16, fp8, int8, int4 or fp4 (default bf16; fp8 halves the cache)"
ENGINE_DOC = (f"Serving engine whose fitted behaviour to use: {', '.join(e for e in ENGINES if e != 'any')} "
              f"(default: any, pooled)")
BATCH_DOC = "Sequences decoded together, a whole number >= 1 (default 1); a cell or a range"
CONTEXT_DOC = "Cached tokens per sequence, >= 0 (default 0); a cell or a range"
TP_CELL_DOC = "Tensor-parallel GPUs per replica, a whole number >= 1 (default 1)"
TP_DOC = TP_CELL_DOC + xw.RANGE_DOC
PROMPT_DOC = "Prompt length, tokens; a cell or a range"
# the plan: the arguments of BINDING_WALL and the functions that read the same plan
QPS_DOC = "Traffic, requests per second"
INPUT_DOC = "Prompt tokens per request"
OUTPUT_DOC = "Generated tokens per request"
TTFT_DOC = "Time-to-first-token SLO, ms"
TPOT_DOC = "Time-per-output-token SLO, ms"
BUDGET_DOC = "Monthly budget, USD (optional; empty: the budget wall is not checked)"
PLAN_TP_DOC = "Tensor-parallel GPUs per stage (default: with pp, the cheapest layout meeting the SLOs)"
PLAN_PP_DOC = "Pipeline stages per replica (default: with tp, the cheapest layout meeting the SLOs)"
CONCURRENCY_DOC = "Requests in flight on one replica, a whole number >= 1"
PRICE_DOC = "Price, USD per GPU-hour (default: the catalogue price of gpu); a cell or a range"


# ----------------------------------------------------------------------------------------------- catalogue look-ups


@xw.func
@xw.arg("gpu", doc=GPU_DOC + "; a cell or a range of ids", ndim=2)
@xw.arg("field", doc="Field name, e.g. memory_gb, memory_bandwidth_tbs, dense_tflops_fp8, usd_per_gpu_hour "
                     "(empty: a table of every field); a cell or a range", ndim=2)
def GPU_INFO(gpu: Any, field: Any = None) -> Any:
    """A catalogue field of an accelerator, in the field's unit (memory_gb in GB, memory_bandwidth_tbs in TB/s,
    dense_tflops_<dtype> in TFLOP/s, usd_per_gpu_hour in USD); empty field: a field/value/unit table."""
    g, f = texts("gpu", gpu), texts("field", field, required=False)
    if f is None:
        return table(["field", "value", "unit"], api.gpu_info_table(g))
    return result(api.gpu_info(g, f), g, f)


@xw.func
@xw.arg("model", doc=MODEL_DOC + "; a cell or a range of ids", ndim=2)
@xw.arg("field", doc="Field name, e.g. total_params_b, active_params_b, layers, kv_heads, experts "
                     "(empty: a table of every field); a cell or a range", ndim=2)
def MODEL_INFO(model: Any, field: Any = None) -> Any:
    """A catalogue field of a model, in the field's unit (parameters in billions, sizes as counts); empty field:
    a field/value/unit table."""
    m, f = texts("model", model), texts("field", field, required=False)
    if f is None:
        return table(["field", "value", "unit"], api.model_info_table(m))
    return result(api.model_info(m, f), m, f)


@xw.func
def GPU_IDS() -> Any:
    """The accelerator ids of the active catalogue (built-in plus user files), as a column."""
    return column(api.gpu_ids())


@xw.func
def MODEL_IDS() -> Any:
    """The model ids of the active catalogue (built-in plus user files), as a column."""
    return column(api.model_ids())


@xw.func
def DTYPES() -> Any:
    """The dtypes whichwall knows (weights and KV cache), widest first, as a column."""
    return column(api.dtypes())


@xw.func
def CATALOGUE_FILES() -> Any:
    """Where the catalogue comes from, as a column: the built-in data, then each user file in force
    (WHICHWALL_CATALOGUE from the environment or xlwings.conf)."""
    return column(api.catalogue_files())


# ------------------------------------------------------------------------------------------------------ arithmetic


@xw.func
@xw.arg("model", doc=MODEL_DOC)
def TOTAL_PARAMS_B(model: Any) -> Any:
    """Every weight of the model, billions of parameters (from its architecture)."""
    return result(api.total_params_b(required_text("model", model)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
def ACTIVE_PARAMS_B(model: Any) -> Any:
    """Weights one token touches, billions of parameters (MoE: the shared part plus k routed experts per layer)."""
    return result(api.active_params_b(required_text("model", model)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
def WEIGHT_GB(model: Any, dtype: Any = "bf16") -> Any:
    """Weight bytes ÷ 1e9 (GB) of the whole model in dtype."""
    return result(api.weight_gb(required_text("model", model), text("dtype", dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def KV_BYTES_PER_TOKEN(model: Any, kv_dtype: Any = "bf16") -> Any:
    """Bytes of KV cache one token adds, all layers (GQA 2·layers·kv_heads·head_dim·bytes; MLA
    layers·(kv_lora_rank + rope dim)·bytes)."""
    return result(api.kv_bytes_per_token(required_text("model", model), text("kv_dtype", kv_dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("context_tokens", doc="Tokens per sequence, >= 0; a cell or a range", ndim=2)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def KV_GB(model: Any, context_tokens: Any, batch: Any = 1, kv_dtype: Any = "bf16") -> Any:
    """KV cache of batch sequences of context_tokens tokens, GB, all GPUs together (sliding-window layers keep at
    most their window)."""
    s, b = numbers(("context_tokens", context_tokens), ("batch", batch))
    return result(api.kv_gb(required_text("model", model), s, b, text("kv_dtype", kv_dtype)), s, b)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
def DECODE_FLOPS(model: Any, batch: Any = 1, context_tokens: Any = 0) -> Any:
    """FLOPs of one decode step: batch · (2 · matmul params + attention over context_tokens), FLOP."""
    b, s = numbers(("batch", batch), ("context_tokens", context_tokens))
    return result(api.decode_flops(required_text("model", model), b, s), b, s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def DECODE_BYTES_GB(model: Any, dtype: Any = "bf16", batch: Any = 1, context_tokens: Any = 0,
                    kv_dtype: Any = "bf16") -> Any:
    """Bytes one decode step reads, GB: the weights its tokens touch plus the batch's KV cache (all GPUs)."""
    b, s = numbers(("batch", batch), ("context_tokens", context_tokens))
    return result(api.decode_bytes_gb(required_text("model", model), text("dtype", dtype), b, s,
                                      text("kv_dtype", kv_dtype)), b, s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("prompt_tokens", doc=PROMPT_DOC, ndim=2)
def PREFILL_FLOPS(model: Any, prompt_tokens: Any) -> Any:
    """FLOPs of one prefill of prompt_tokens tokens: 2 · matmul params · P plus causal attention, FLOP."""
    p = number("prompt_tokens", prompt_tokens)
    return result(api.prefill_flops(required_text("model", model), p), p)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("tokens", doc="Tokens routed together (a decode batch or a prompt), whole >= 1 (default 1); a cell or a "
                      "range", ndim=2)
def EXPERTS_TOUCHED(model: Any, tokens: Any = 1) -> Any:
    """Distinct routed experts per MoE layer that tokens tokens read, E·(1−(1−k/E)^tokens), experts (0: dense)."""
    n = number("tokens", tokens)
    return result(api.experts_touched(required_text("model", model), n), n)


@xw.func
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
def RIDGE_INTENSITY(gpu: Any, dtype: Any = "bf16") -> Any:
    """Ridge point, FLOP/byte: dense peak FLOP/s ÷ memory bytes/s (H100 bf16 ≈ 295)."""
    return result(api.ridge_intensity(required_text("gpu", gpu), text("dtype", dtype)))


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def DECODE_INTENSITY(model: Any, batch: Any = 1, dtype: Any = "bf16", context_tokens: Any = 0,
                     kv_dtype: Any = "bf16") -> Any:
    """FLOPs per byte one decode step must read, FLOP/byte (≈1 at batch 1 in 16-bit): compare with
    RIDGE_INTENSITY."""
    b, s = numbers(("batch", batch), ("context_tokens", context_tokens))
    return result(api.decode_intensity(required_text("model", model), b, text("dtype", dtype), s,
                                       text("kv_dtype", kv_dtype)), b, s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def CROSSOVER_BATCH(model: Any, gpu: Any, dtype: Any = "bf16", context_tokens: Any = 0,
                    kv_dtype: Any = "bf16") -> Any:
    """Smallest batch at which decode becomes compute-bound, sequences; "never" when the KV cache keeps it
    bandwidth-bound."""
    s = number("context_tokens", context_tokens)
    return result(api.crossover_batch(required_text("model", model), required_text("gpu", gpu),
                                      text("dtype", dtype), s, text("kv_dtype", kv_dtype)), s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def DECODE_FLOOR_MS(model: Any, gpu: Any, dtype: Any = "bf16", batch: Any = 1, context_tokens: Any = 0,
                    tp: Any = 1, kv_dtype: Any = "bf16") -> Any:
    """Strict roofline floor of one decode step, ms: max(bytes that must move / bandwidth, FLOPs / peak, all-reduce
    bytes / link), perfect overlap, no overheads. The physical bound no engine can beat."""
    b, s, t = numbers(("batch", batch), ("context_tokens", context_tokens), ("tp", tp))
    return result(api.decode_floor_ms(required_text("model", model), required_text("gpu", gpu),
                                      text("dtype", dtype), b, s, t, text("kv_dtype", kv_dtype)), b, s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("prompt_tokens", doc=PROMPT_DOC, ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def PREFILL_FLOOR_MS(model: Any, gpu: Any, prompt_tokens: Any, dtype: Any = "bf16", tp: Any = 1,
                     kv_dtype: Any = "bf16") -> Any:
    """Strict roofline floor of one prefill of prompt_tokens tokens, ms (the LM head for the last token only;
    usually compute-bound)."""
    p, t = numbers(("prompt_tokens", prompt_tokens), ("tp", tp))
    return result(api.prefill_floor_ms(required_text("model", model), required_text("gpu", gpu), p,
                                       text("dtype", dtype), t, text("kv_dtype", kv_dtype)), p, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc=BATCH_DOC, ndim=2)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
@xw.arg("engine", doc=ENGINE_DOC)
def DECODE_MS(model: Any, gpu: Any, dtype: Any = "bf16", batch: Any = 1, context_tokens: Any = 0,
              tp: Any = 1, kv_dtype: Any = "bf16", engine: Any = None) -> Any:
    """Expected bare decode step, ms, with measured efficiencies, collective latency and step overhead (TPOT_MS adds
    other requests' prefills); an error where the weights do not fit the tp GPUs."""
    b, s, t = numbers(("batch", batch), ("context_tokens", context_tokens), ("tp", tp))
    return result(api.decode_ms(required_text("model", model), required_text("gpu", gpu), text("dtype", dtype),
                                b, s, t, text("kv_dtype", kv_dtype), text("engine", engine)), b, s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("prompt_tokens", doc=PROMPT_DOC, ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
@xw.arg("engine", doc=ENGINE_DOC)
def PREFILL_MS(model: Any, gpu: Any, prompt_tokens: Any, dtype: Any = "bf16", tp: Any = 1, kv_dtype: Any = "bf16",
               engine: Any = None) -> Any:
    """Expected prefill of one prompt, ms, with measured efficiencies (TTFT_MS adds the request overhead and the
    wait at a load); an error where the weights do not fit the tp GPUs."""
    p, t = numbers(("prompt_tokens", prompt_tokens), ("tp", tp))
    return result(api.prefill_ms(required_text("model", model), required_text("gpu", gpu), p, text("dtype", dtype),
                                 t, text("kv_dtype", kv_dtype), text("engine", engine)), p, t)


LOAD_ARGS: tuple[tuple[str, Any, str, bool], ...] = (
    # (argument, default, doc, a range is allowed)
    ("model", REQUIRED, MODEL_DOC, False),
    ("gpu", REQUIRED, GPU_DOC, False),
    ("concurrency", REQUIRED, CONCURRENCY_DOC, True),
    ("input_tokens", REQUIRED, INPUT_DOC, True),
    ("output_tokens", REQUIRED, OUTPUT_DOC, True),
    ("dtype", "bf16", DTYPE_DOC, False),
    ("tp", 1, TP_CELL_DOC, True),
    ("kv_dtype", "bf16", KV_DTYPE_DOC, False),
    ("engine", None, ENGINE_DOC, False),
)
"""The arguments of the functions of what a user sees at a load (TPOT_MS, TTFT_MS), in order."""

load_args = xw.shared_args(LOAD_ARGS)


def _at_load(fn: Any, model: Any, gpu: Any, concurrency: Any, input_tokens: Any, output_tokens: Any, dtype: Any,
             tp: Any, kv_dtype: Any, engine: Any) -> Any:
    """``fn`` (``planner.api.tpot_ms`` or ``ttft_ms``) over the LOAD_ARGS values, each coerced in one place."""
    n, i, o, t = numbers(("concurrency", concurrency), ("input_tokens", input_tokens),
                         ("output_tokens", output_tokens), ("tp", tp))
    return result(fn(required_text("model", model), required_text("gpu", gpu), n, i, o, text("dtype", dtype), t,
                     text("kv_dtype", kv_dtype), text("engine", engine)), n, i, o, t)


@xw.func
@load_args
def TPOT_MS(model: Any, gpu: Any, concurrency: Any, input_tokens: Any, output_tokens: Any, dtype: Any = "bf16",
            tp: Any = 1, kv_dtype: Any = "bf16", engine: Any = None) -> Any:
    """Expected time per output token a user sees with concurrency requests in flight on one replica, ms: the decode
    step plus its share of other requests' prefills (the plan's model)."""
    return _at_load(api.tpot_ms, model, gpu, concurrency, input_tokens, output_tokens, dtype, tp, kv_dtype, engine)


@xw.func
@load_args
def TTFT_MS(model: Any, gpu: Any, concurrency: Any, input_tokens: Any, output_tokens: Any, dtype: Any = "bf16",
            tp: Any = 1, kv_dtype: Any = "bf16", engine: Any = None) -> Any:
    """Expected time to first token with concurrency requests in flight on one replica, ms: request overhead, the
    prefill, the wait behind other prompts and, past the batch that fits, for a free slot (the plan's model)."""
    return _at_load(api.ttft_ms, model, gpu, concurrency, input_tokens, output_tokens, dtype, tp, kv_dtype, engine)


# -------------------------------------------------------------------------------------------------------- topology


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("context_tokens", doc="Tokens per sequence (input + output), > 0; a cell or a range", ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def MAX_BATCH(model: Any, gpu: Any, context_tokens: Any, dtype: Any = "bf16", tp: Any = 1,
              kv_dtype: Any = "bf16") -> Any:
    """Largest batch whose weights + KV cache fit each GPU after the memory reserve, sequences (0 if the weights
    don't fit)."""
    s, t = numbers(("context_tokens", context_tokens), ("tp", tp))
    return result(api.max_batch(required_text("model", model), required_text("gpu", gpu), s, text("dtype", dtype),
                                t, text("kv_dtype", kv_dtype)), s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("context_tokens", doc="Tokens per sequence (input + output), > 0; a cell or a range", ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def SMALLEST_TP(model: Any, gpu: Any, context_tokens: Any, dtype: Any = "bf16", kv_dtype: Any = "bf16") -> Any:
    """Smallest tensor-parallel size (1, 2, 4, 8... within the GPU's scale-up domain) whose GPUs hold the weights
    and one sequence, GPUs; an error naming the shortfall when none does."""
    s = number("context_tokens", context_tokens)
    return result(api.smallest_tp(required_text("model", model), required_text("gpu", gpu), s, text("dtype", dtype),
                                  text("kv_dtype", kv_dtype)), s)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("batch", doc="Sequences held, a whole number >= 0 (default 1); a cell or a range", ndim=2)
@xw.arg("context_tokens", doc=CONTEXT_DOC, ndim=2)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
def MEMORY_PER_GPU_GB(model: Any, gpu: Any, dtype: Any = "bf16", batch: Any = 1, context_tokens: Any = 0,
                      tp: Any = 1, kv_dtype: Any = "bf16") -> Any:
    """Memory in use on each GPU of a tp group, GB: weights / tp + batch · KV per sequence / KV shards + the
    serving reserve. Compare with GPU_INFO(gpu, "memory_gb")."""
    b, s, t = numbers(("batch", batch), ("context_tokens", context_tokens), ("tp", tp))
    return result(api.memory_per_gpu_gb(required_text("model", model), required_text("gpu", gpu),
                                        text("dtype", dtype), b, s, t, text("kv_dtype", kv_dtype)), b, s, t)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("tp", doc="Tensor-parallel GPUs per replica, a whole number >= 1 within the scale-up domain; a cell or a "
                  "range", ndim=2)
@xw.arg("batch", doc="Tokens in the step (the decode batch), a whole number >= 1 (default 1); a cell or a range",
        ndim=2)
def ALLREDUCE_MS(model: Any, gpu: Any, tp: Any, batch: Any = 1) -> Any:
    """Tensor-parallel all-reduce time of one decode step, ms: 2 per layer, ring over the scale-up link (PCIe
    beyond it) at the measured link efficiency, plus per-collective latency; 0 at tp=1."""
    t, b = numbers(("tp", tp), ("batch", batch))
    return result(api.allreduce_ms(required_text("model", model), required_text("gpu", gpu), t, b), t, b)


@xw.func
@xw.arg("model", doc=MODEL_DOC)
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("input_tokens", doc=INPUT_DOC + xw.RANGE_DOC, ndim=2)
@xw.arg("output_tokens", doc=OUTPUT_DOC + xw.RANGE_DOC, ndim=2)
@xw.arg("dtype", doc=DTYPE_DOC)
@xw.arg("tp", doc=TP_DOC, ndim=2)
@xw.arg("kv_dtype", doc=KV_DTYPE_DOC)
@xw.arg("engine", doc=ENGINE_DOC)
def MAX_TOKENS_PER_SEC(model: Any, gpu: Any, input_tokens: Any, output_tokens: Any, dtype: Any = "bf16",
                       tp: Any = 1, kv_dtype: Any = "bf16", engine: Any = None) -> Any:
    """Best output tokens/s of one replica at any batch that fits, prefill time included, tokens/s (expected
    times)."""
    i, o, t = numbers(("input_tokens", input_tokens), ("output_tokens", output_tokens), ("tp", tp))
    return result(api.max_tokens_per_sec(required_text("model", model), required_text("gpu", gpu), i, o,
                                         text("dtype", dtype), t, text("kv_dtype", kv_dtype),
                                         text("engine", engine)), i, o, t)


# ----------------------------------------------------------------------------------------------------------- plans
# The plan functions share one argument list (``PLAN_ARGS``: name, default, doc), applied by ``plan_args`` and
# coerced by ``_plan``: they cannot diverge. Their parameters are spelled out for Excel (xlwings reads the signature);
# ``plan_args`` checks at import that every plan function's parameters are exactly PLAN_ARGS, in order, defaults
# included.

PLAN_ARGS: tuple[tuple[str, Any, str, bool], ...] = (
    # (argument, default, doc, a range is allowed where the function returns one value per cell)
    ("model", REQUIRED, MODEL_DOC, False),
    ("gpu", REQUIRED, GPU_DOC, False),
    ("qps", REQUIRED, QPS_DOC, True),
    ("input_tokens", REQUIRED, INPUT_DOC, True),
    ("output_tokens", REQUIRED, OUTPUT_DOC, True),
    ("ttft_slo_ms", REQUIRED, TTFT_DOC, True),
    ("tpot_slo_ms", REQUIRED, TPOT_DOC, True),
    ("budget_usd_month", None, BUDGET_DOC, True),
    ("dtype", "bf16", DTYPE_DOC, False),
    ("tp", None, PLAN_TP_DOC, True),
    ("kv_dtype", "bf16", KV_DTYPE_DOC, False),
    ("pp", None, PLAN_PP_DOC, True),
    ("engine", None, ENGINE_DOC, False),
)
"""The plan functions' arguments, in order (``planner.api.PLAN_ARGUMENTS``'s)."""

plan_args = xw.shared_args(PLAN_ARGS)
"""PLAN_ARGS on a function returning one value per cell: the numeric arguments take ranges."""
one_plan_args = xw.shared_args(PLAN_ARGS, ranges=False)
"""PLAN_ARGS on a function showing one plan as a table: single cells only."""


def _plan(fn: Any, *args: Any, single: bool = False, ranges: tuple[Any, ...] = ()) -> Any:
    """``fn`` (a ``planner.api`` plan function) over the PLAN_ARGS values ``args``, each coerced in one place;
    ``single``: one plan (a table), every numeric argument one cell; ``ranges``: other coerced arguments that shape
    the result."""
    model, gpu, q, i, o, ttft, tpot, budget, dtype, tp, kv, pp, engine = args
    coerce = one_cell if single else number
    nums = [coerce(name, v) for name, v in (("qps", q), ("input_tokens", i), ("output_tokens", o),
                                            ("ttft_slo_ms", ttft), ("tpot_slo_ms", tpot),
                                            ("budget_usd_month", budget), ("tp", tp), ("pp", pp))]
    if not single:
        nums = list(numbers(*zip(("qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms",
                                  "budget_usd_month", "tp", "pp"), nums, strict=True)))
    q, i, o, ttft, tpot, budget, tp, pp = nums
    value = fn(required_text("model", model), required_text("gpu", gpu), q, i, o, ttft, tpot, budget,
               text("dtype", dtype), tp, text("kv_dtype", kv), pp, text("engine", engine))
    return value if single else result(value, *ranges, *nums)


@xw.func
@plan_args
def BINDING_WALL(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                 tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
                 kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """The wall that caps the cheapest plan meeting the SLOs: memory capacity, memory bandwidth, compute, network
    or budget."""
    return _plan(api.binding_walls, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                 budget_usd_month, dtype, tp, kv_dtype, pp, engine)


@xw.func
@plan_args
def NEXT_WALL(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
              tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
              kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """The wall that binds once BINDING_WALL is relaxed (2x memory, 1.5x bandwidth or FLOP/s, 2x links, no
    budget), at the same layout."""
    return _plan(api.next_wall, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                 budget_usd_month, dtype, tp, kv_dtype, pp, engine)


@xw.func
@plan_args
def REPLICAS(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
             tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
             kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """Replicas (of tp · pp GPUs each) the traffic needs at the plan's operating point; "n/a" when no batch fits and
    meets the SLOs (BINDING_WALL says why)."""
    return _plan(api.replicas, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                 budget_usd_month, dtype, tp, kv_dtype, pp, engine)


@xw.func
@one_plan_args
def WALLS(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
          tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
          kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """Every wall as a table: wall, utilization (share of its own limit; the binding wall at its limit), headroom
    (1 − utilization), binding? One plan: single cells only."""
    return table(["wall", "utilization", "headroom", "binding?"], _plan(
        api.walls_table, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month,
        dtype, tp, kv_dtype, pp, engine, single=True))


@xw.func
@one_plan_args
def PLAN_TABLE(model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
               tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
               kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """The whole plan as a table (section, key, quantity, value, unit): requirements, arithmetic, topology, cost,
    walls, what to change next and the step-time split. One plan: single cells only."""
    return table(["section", "key", "quantity", "value", "unit"], _plan(
        api.plan_table, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month,
        dtype, tp, kv_dtype, pp, engine, single=True))


@xw.func
@xw.arg("key", doc="Plan key, as PLAN_TABLE's key column lists them, e.g. replicas, gpus, usd_month, tpot_ms, "
                   "utilization:compute; a cell or a range", ndim=2)
@plan_args
def PLAN_VALUE(key: Any, model: Any, gpu: Any, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
               tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: Any = "bf16", tp: Any = None,
               kv_dtype: Any = "bf16", pp: Any = None, engine: Any = None) -> Any:
    """One value of the plan by its key, in the unit PLAN_TABLE shows beside it; "n/a" where it does not apply."""
    k = texts("key", key)
    return _plan(lambda *args: api.plan_value(k, *args), model, gpu, qps, input_tokens, output_tokens,
                 ttft_slo_ms, tpot_slo_ms, budget_usd_month, dtype, tp, kv_dtype, pp, engine, ranges=(k,))


# ------------------------------------------------------------------------------------------------------------ cost


@xw.func
@xw.arg("gpu", doc=GPU_DOC)
def GPU_HOUR_PRICE(gpu: Any) -> Any:
    """The catalogue's planning price of one GPU, USD per GPU-hour (with its date and source in the catalogue)."""
    return result(api.gpu_hour_price(required_text("gpu", gpu)))


@xw.func
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("gpus", doc="GPUs running all month, a whole number >= 1; a cell or a range", ndim=2)
@xw.arg("usd_per_gpu_hour", doc=PRICE_DOC, ndim=2)
def COST_PER_MONTH(gpu: Any, gpus: Any, usd_per_gpu_hour: Any = None) -> Any:
    """Monthly cost of gpus GPUs, USD/month: gpus · USD per GPU-hour · 730 hours."""
    n, price = numbers(("gpus", gpus), ("usd_per_gpu_hour", usd_per_gpu_hour))
    return result(api.cost_per_month(required_text("gpu", gpu), n, price), n, price)


@xw.func
@xw.arg("gpu", doc=GPU_DOC)
@xw.arg("tokens_per_sec", doc="Tokens per second the GPUs produce together (e.g. MAX_TOKENS_PER_SEC), > 0; a cell "
                              "or a range", ndim=2)
@xw.arg("gpus", doc="GPUs producing them, a whole number >= 1 (default 1); a cell or a range", ndim=2)
@xw.arg("usd_per_gpu_hour", doc=PRICE_DOC, ndim=2)
def COST_PER_MILLION_TOKENS(gpu: Any, tokens_per_sec: Any, gpus: Any = 1, usd_per_gpu_hour: Any = None) -> Any:
    """USD per million tokens at a steady tokens_per_sec from gpus GPUs: gpus · USD per GPU-hour ÷ 3600 ÷
    tokens/s · 1e6."""
    r, n, price = numbers(("tokens_per_sec", tokens_per_sec), ("gpus", gpus), ("usd_per_gpu_hour", usd_per_gpu_hour))
    return result(api.cost_per_million_tokens(required_text("gpu", gpu), r, n, price), r, n, price)
