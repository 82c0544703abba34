"""The design loop by catalogue id: the functions every face (Excel, CLI, workbook checks) calls.

Each takes catalogue ids (case-insensitive, aliases allowed) and numbers or numpy arrays; array arguments broadcast
together (numpy rules: equal shapes go element by element, a column against a row makes a table), and the result
has the broadcast shape. A scalar call is the 1-element case. ``None`` for an optional argument means its default.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from planner import evaluator, report, roofline, topology
from planner import walls as W
from planner.catalogue import Accelerator, Catalogue, Model, check_dtype, get_catalogue, user_catalogue_paths
from planner.efficiency import check_engine, expected_efficiency
from planner.errors import PlannerError, short, unknown
from planner.plan import PlanResult, check_context, evaluate
from planner.spec import MIN_POSITIVE, PlanSpec, spec_from_data
from planner.units import DTYPES, GB, HOURS_PER_MONTH, MS_PER_S
from planner.validate import as_array, at_least_one, non_negative, positive

DEFAULT_DTYPE = "bf16"


def _model(model: object) -> Model:
    return get_catalogue().model(model)


def _acc(gpu: object) -> Accelerator:
    return get_catalogue().accelerator(gpu)


def _dtype(dtype: object, what: str = "dtype") -> str:
    return DEFAULT_DTYPE if dtype is None else check_dtype(dtype, what)


def _or(value: Any, default: float) -> Any:
    return default if value is None else value


def decode_floor_ms(model: object, gpu: object, dtype: object = None, batch: Any = None,
                    context_tokens: Any = None, tp: Any = None, kv_dtype: object = None) -> np.ndarray:
    """Roofline floor of one decode step, ms (see ``planner.roofline``)."""
    return roofline.decode_floor_ms(_model(model), _acc(gpu), _dtype(dtype), at_least_one("batch", _or(batch, 1)),
                                    non_negative("context_tokens", _or(context_tokens, 0)),
                                    at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype"))


def prefill_floor_ms(model: object, gpu: object, prompt_tokens: Any, dtype: object = None, tp: Any = None,
                     kv_dtype: object = None) -> np.ndarray:
    """Roofline floor of one prefill of ``prompt_tokens`` tokens, ms."""
    return roofline.prefill_floor_ms(_model(model), _acc(gpu), at_least_one("prompt_tokens", prompt_tokens),
                                     _dtype(dtype), at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype"))


def _expected_rows(m: Model, a: Accelerator, d: str, kv: str, tps: np.ndarray, engine: object, what: str
                   ) -> None:
    """Expected times exist only where the weights fit: a ``PlannerError`` naming the smallest tp that holds
    them otherwise (floors stay pure arithmetic)."""
    for t in np.unique(tps):
        if float(topology.weight_bytes_per_gpu(m, d, t).item()) > topology.usable_bytes(a):
            try:
                fits = next(x for x in topology.tp_choices(m, a)
                            if float(topology.weight_bytes_per_gpu(m, d, x).item()) <= topology.usable_bytes(a))
                hint = f"give tp >= {fits}"
            except StopIteration:
                hint = (f"no tp on one {a.id} host holds them: plan it with pipeline stages across hosts "
                        f"(PLAN_VALUE / BINDING_WALL with pp), or a smaller dtype")
            need = float(topology.weight_bytes_per_gpu(m, d, t).item()) / GB
            raise PlannerError(
                f"{what} needs the weights to fit: {m.id} in {d} is {need:.1f} GB per GPU at tp={int(t)}, over the "
                f"{topology.usable_bytes(a) / GB:.1f} GB usable on {a.id}; {hint} (the *_FLOOR_MS functions give the "
                f"pure roofline arithmetic)")


def decode_ms(model: object, gpu: object, dtype: object = None, batch: Any = None, context_tokens: Any = None,
              tp: Any = None, kv_dtype: object = None, engine: object = None) -> np.ndarray:
    """Expected decode step (time per output token at that batch, no prefill interference), ms, with measured
    efficiencies; a ``PlannerError`` where the weights do not fit the tp GPUs."""
    m, a, d, kv = _model(model), _acc(gpu), _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    b, s = at_least_one("batch", _or(batch, 1)), non_negative("context_tokens", _or(context_tokens, 0))
    t = _tp_arg(m, a, tp)
    _expected_rows(m, a, d, kv, t, engine, "DECODE_MS")
    return roofline.decode_ms(m, a, d, b, s, t, kv, get_catalogue().efficiency(a.id, engine))


def prefill_ms(model: object, gpu: object, prompt_tokens: Any, dtype: object = None, tp: Any = None,
               kv_dtype: object = None, engine: object = None) -> np.ndarray:
    """Expected unloaded prefill of one prompt (no request overhead), ms; a ``PlannerError`` where the weights do not
    fit the tp GPUs."""
    m, a, d, kv = _model(model), _acc(gpu), _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    p = at_least_one("prompt_tokens", prompt_tokens)
    t = _tp_arg(m, a, tp)
    _expected_rows(m, a, d, kv, t, engine, "PREFILL_MS")
    return roofline.prefill_ms(m, a, p, d, t, kv, get_catalogue().efficiency(a.id, engine))


def _tp_arg(m: Model, a: Accelerator, tp: Any) -> np.ndarray:
    """tp as an array of layouts engines run for ``m`` on ``a`` (default 1)."""
    t = at_least_one("tp", _or(tp, 1))
    for value in np.unique(t):
        topology.check_tp(m, a, int(value))
    return t


def _shape(**arrays: np.ndarray) -> tuple[int, ...]:
    """The broadcast shape of the named argument arrays, or a ``PlannerError`` naming those that do not line up."""
    try:
        return np.broadcast_shapes(*(x.shape for x in arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{k} {'×'.join(map(str, x.shape))}" for k, x in arrays.items() if x.shape)
        raise PlannerError(f"ranges of shapes {shapes} do not line up: give ranges of the same shape, or one column "
                           f"and one row") from None


def _one_replica(m: Model, a: Accelerator, d: str, kv: str, engine: object, tp: float, input_tokens: float,
                 output_tokens: float) -> evaluator.Rows:
    """The evaluator's row of one replica of ``m`` on ``tp`` ``a`` GPUs (pp 1, ep 1) serving prompts of
    ``input_tokens`` → ``output_tokens`` under no SLO (what the load functions time); the spec validated as a
    plan's is (token counts within the spec's limits, a context the model takes)."""
    spec = spec_from_data({"model": m.id, "accelerator": a.id, "dtype": d, "kv_dtype": kv,
                           "engine": check_engine(engine), "tp": int(tp), "pp": 1, "ep": 1, "qps": 1.0,
                           "input_tokens": int(input_tokens), "output_tokens": int(output_tokens),
                           "ttft_slo_ms": 1e9, "tpot_slo_ms": 1e9}, "arguments")
    check_context(spec, m)
    eff = get_catalogue().efficiency(a.id, engine)
    return evaluator.build(m, spec, [evaluator.Option(a, d, kv, math.nan, eff, topology.layouts(m, a, int(tp), 1, 1))])


def _concurrency_times(model: object, gpu: object, concurrency: Any, input_tokens: Any, output_tokens: Any,
                       dtype: object, tp: Any, kv_dtype: object, engine: object) -> tuple[np.ndarray, np.ndarray]:
    m, a, d, kv = _model(model), _acc(gpu), _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    n = at_least_one("concurrency", concurrency)
    inp, out = at_least_one("input_tokens", input_tokens), at_least_one("output_tokens", output_tokens)
    t = _tp_arg(m, a, tp)
    shape = _shape(concurrency=n, input_tokens=inp, output_tokens=out, tp=t)
    tpot, ttft = np.empty(shape), np.empty(shape)
    for idx in np.ndindex(shape):
        c, i, o, tp_ = (float(np.broadcast_to(x, shape)[idx]) for x in (n, inp, out, t))
        rows = _one_replica(m, a, d, kv, engine, tp_, i, o)
        if rows["b_mem"][0, 0] < 1:
            _expected_rows(m, a, d, kv, np.array([tp_]), engine, "TPOT_MS / TTFT_MS")
            raise PlannerError(f"not even one sequence of {int(i + o):,} tokens fits beside the weights of {m.id} "
                               f"on {a.id} at tp={int(tp_)}; give a larger tp")
        tp_ms, tt_ms = evaluator.concurrency_times(rows, np.array([[c]]))
        tpot[idx], ttft[idx] = float(tp_ms[0, 0]), float(tt_ms[0, 0])
    return tpot, ttft


def tpot_ms(model: object, gpu: object, concurrency: Any, input_tokens: Any, output_tokens: Any,
            dtype: object = None, tp: Any = None, kv_dtype: object = None, engine: object = None) -> np.ndarray:
    """Expected time per output token a user sees with ``concurrency`` requests in flight on one replica, ms: the
    decode step at min(concurrency, largest batch that fits) plus its share of other requests' prefills
    (``planner.serving``, the plan's model)."""
    return _concurrency_times(model, gpu, concurrency, input_tokens, output_tokens, dtype, tp, kv_dtype, engine)[0]


def ttft_ms(model: object, gpu: object, concurrency: Any, input_tokens: Any, output_tokens: Any,
            dtype: object = None, tp: Any = None, kv_dtype: object = None, engine: object = None) -> np.ndarray:
    """Expected time to first token with ``concurrency`` requests in flight on one replica, ms: request overhead +
    prefill + the wait behind other prompts (``planner.serving``), plus, beyond the batch that fits, the wait for a
    free slot."""
    return _concurrency_times(model, gpu, concurrency, input_tokens, output_tokens, dtype, tp, kv_dtype, engine)[1]


def ridge_intensity(gpu: object, dtype: object = None) -> float:
    """Peak FLOP/s ÷ peak bytes/s, FLOP/byte."""
    return roofline.ridge_intensity(_acc(gpu), _dtype(dtype))


def decode_intensity(model: object, batch: Any = None, dtype: object = None, context_tokens: Any = None,
                     kv_dtype: object = None) -> np.ndarray:
    """FLOPs per byte of one decode step."""
    return roofline.decode_intensity(_model(model), at_least_one("batch", _or(batch, 1)), _dtype(dtype),
                                     non_negative("context_tokens", _or(context_tokens, 0)),
                                     _dtype(kv_dtype, "kv_dtype"))


def crossover_batch(model: object, gpu: object, dtype: object = None, context_tokens: Any = None,
                    kv_dtype: object = None) -> np.ndarray:
    """Smallest batch at which decode is compute-bound (inf: never)."""
    return roofline.crossover_batch(_model(model), _acc(gpu), _dtype(dtype),
                                    non_negative("context_tokens", _or(context_tokens, 0)),
                                    _dtype(kv_dtype, "kv_dtype"))


def weight_gb(model: object, dtype: object = None) -> float:
    """Weight bytes ÷ 1e9."""
    return roofline.weight_bytes(_model(model), _dtype(dtype)) / GB


def kv_bytes_per_token(model: object, kv_dtype: object = None) -> float:
    """Bytes of KV cache per token, all layers."""
    return roofline.kv_bytes_per_token(_model(model), _dtype(kv_dtype, "kv_dtype"))


def max_batch(model: object, gpu: object, context_tokens: Any, dtype: object = None, tp: Any = None,
              kv_dtype: object = None) -> np.ndarray:
    """Largest batch whose weights + KV fit each GPU (0 if the weights don't)."""
    return topology.max_batch(_model(model), _acc(gpu), positive("context_tokens", context_tokens), _dtype(dtype),
                              at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype"))


def max_tokens_per_sec(model: object, gpu: object, input_tokens: Any, output_tokens: Any, dtype: object = None,
                       tp: Any = None, kv_dtype: object = None, engine: object = None) -> np.ndarray:
    """Best output tokens/s of one replica over every batch that fits (``planner.evaluator.max_throughput``): max
    over B of output / (prefill share + output · decode_step(B) / B), expected times, sequences sized at input + output
    tokens; 0 where not even one sequence fits."""
    m, a = _model(model), _acc(gpu)
    d, kv = _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    inp, out = at_least_one("input_tokens", input_tokens), at_least_one("output_tokens", output_tokens)
    tps = _tp_arg(m, a, tp)
    shape = _shape(input_tokens=inp, output_tokens=out, tp=tps)
    result = np.empty(shape)
    for idx in np.ndindex(shape):
        i, o, t = (float(np.broadcast_to(x, shape)[idx]) for x in (inp, out, tps))
        result[idx] = float(evaluator.max_throughput(_one_replica(m, a, d, kv, engine, t, i, o))[0, 0])
    return result


def plan_spec(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
              tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
              kv_dtype: object = None, pp: Any = None, engine: object = None) -> PlanSpec:
    """A validated spec from the plan functions' arguments (``BINDING_WALL`` and friends; ``PLAN_ARGUMENTS``)."""
    def one(name: str, v: Any, integer: bool = False) -> Any:
        if v is None:
            return None
        arr = as_array(name, v, integer=integer)
        if arr.size != 1:
            raise PlannerError(f"{name} must be a single number here, got {arr.size} values")
        x = float(arr.reshape(-1)[0])
        return int(x) if integer else x

    data = {"model": model, "accelerator": gpu, "qps": one("qps", qps),
            "input_tokens": one("input_tokens", input_tokens, True),
            "output_tokens": one("output_tokens", output_tokens, True),
            "ttft_slo_ms": one("ttft_slo_ms", ttft_slo_ms), "tpot_slo_ms": one("tpot_slo_ms", tpot_slo_ms),
            "budget_usd_month": one("budget_usd_month", budget_usd_month), "dtype": _dtype(dtype),
            "tp": one("tp", tp, True), "kv_dtype": _dtype(kv_dtype, "kv_dtype"), "pp": one("pp", pp, True),
            "engine": check_engine(engine)}
    for key in ("model", "accelerator"):
        if not isinstance(data[key], str):
            raise PlannerError(f"{'gpu' if key == 'accelerator' else key} must be a catalogue id (text), "
                               f"got {data[key]!r}")
    for key in ("qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms"):
        if data[key] is None:
            raise PlannerError(f"{key} is required")
    return spec_from_data({k: v for k, v in data.items() if v is not None}, where="arguments")


PLAN_ARGUMENTS = ("model", "gpu", "qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms",
                  "budget_usd_month", "dtype", "tp", "kv_dtype", "pp", "engine")
"""The plan functions' arguments, in order (``plan_spec``'s)."""


def plan(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
         tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
         kv_dtype: object = None, pp: Any = None, engine: object = None) -> PlanResult:
    """The whole design loop for one plan given as arguments."""
    return evaluate(plan_spec(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                              budget_usd_month, dtype, tp, kv_dtype, pp, engine))


def binding_wall(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                 tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
                 kv_dtype: object = None, pp: Any = None, engine: object = None) -> str:
    """The wall that limits the plan first (see ``planner.walls``)."""
    return plan(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month, dtype,
                tp, kv_dtype, pp, engine).binding_wall


# =================================================================================================================
# The rest of the design loop by id, for the Excel functions (udfs/). Every numeric argument may be a number or an
# array; arrays broadcast (numpy rules) and the result has the broadcast shape. ``None`` means the default.
# =================================================================================================================

def _over(fn: Any, *args: Any) -> Any:
    """``fn`` applied element by element over the broadcast of ``args`` (values or arrays/lists of values); the
    1-element case is ``fn(*args)``. Returns an object array of the broadcast shape."""
    if not any(isinstance(a, (np.ndarray, list, tuple)) for a in args):
        return fn(*args)
    arrays = []
    for a in args:
        if isinstance(a, (np.ndarray, list, tuple)):
            arr = np.array(a, dtype=object)
        else:
            arr = np.empty((), dtype=object)
            arr[()] = a
        arrays.append(arr)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        shapes = " and ".join("×".join(map(str, a.shape)) for a in arrays if a.shape)
        raise PlannerError(f"ranges of shapes {shapes} do not line up: give ranges of the same shape, or one "
                           f"column and one row") from None
    if 0 in shape:
        raise PlannerError("a range is empty; give at least one value")
    out = np.empty(shape, dtype=object)
    views = [np.broadcast_to(a, shape) for a in arrays]
    for idx in np.ndindex(shape):
        out[idx] = fn(*(v[idx].item() if isinstance(v[idx], np.generic) else v[idx] for v in views))
    return out


def _field(kind: str, field: object, fields: dict[str, Any]) -> str:
    if not isinstance(field, str) or not field.strip():
        raise PlannerError(f"{kind} field must be text, one of: {', '.join(fields)}")
    key = field.strip().lower().replace(" ", "_").replace("-", "_")
    if key not in fields:
        raise unknown(f"{kind} field", field, list(fields))
    return key


def _or_none(getter: Any) -> Any:
    def get(entry: Any) -> Any:
        try:
            return getter(entry)
        except PlannerError:
            return None
    return get


# ----------------------------------------------------------------------------------------------- catalogue look-ups

GPU_FIELDS: dict[str, tuple[str, str, Any]] = {
    "id": ("", "catalogue id", lambda a: a.id),
    "name": ("", "name", lambda a: a.name),
    "vendor": ("", "vendor", lambda a: a.vendor or None),
    "family": ("", "family (its plausible bf16 ridge range checks the peaks)", lambda a: a.family or None),
    "memory_gb": ("GB", "memory per GPU", lambda a: a.memory_gb),
    "usable_memory_gb": ("GB", "memory per GPU left for weights + KV cache after the serving reserve",
                         lambda a: topology.usable_bytes(a) / GB),
    "memory_bandwidth_tbs": ("TB/s", "peak memory bandwidth", lambda a: a.memory_bandwidth_tbs),
    **{f"dense_tflops_{d}": ("TFLOP/s", f"dense peak that {d} weights compute at (compute-dtype rule: the "
                             f"16-bit rate for weight-only formats); n/a without a usable rate",
                             _or_none(lambda a, d=d: a.peak_flops(d) / 1e12)) for d in DTYPES},
    "ridge_bf16": ("FLOP/byte", "dense bf16 peak FLOP/s ÷ memory bytes/s", _or_none(lambda a: a.ridge("bf16"))),
    "scaleup_link": ("", "scale-up link (NVLink, Infinity Fabric, ICI)", lambda a: a.scaleup.name if a.scaleup
                     else None),
    "scaleup_gbs_per_direction": ("GB/s", "scale-up link bandwidth per direction",
                                  lambda a: a.scaleup.gbs_per_direction if a.scaleup else None),
    "scaleup_domain": ("GPUs", "GPUs one scale-up domain joins (largest tensor-parallel group on it)",
                       lambda a: a.scaleup.domain if a.scaleup else None),
    "pcie_gbs_per_direction": ("GB/s", "PCIe bandwidth per direction", lambda a: a.pcie.gbs_per_direction
                               if a.pcie else None),
    "tdp_w": ("W", "board power", lambda a: a.tdp_w),
    "usd_per_gpu_hour": ("USD/GPU-hour", "planning price", lambda a: a.usd_per_gpu_hour),
    "price_date": ("", "date of the price", lambda a: (a.price.date or None) if a.price else None),
    "confidence": ("", "confidence in the catalogue entry", lambda a: a.confidence or None),
    "source": ("", "where the numbers come from", lambda a: a.source),
}
"""Fields ``gpu_info`` reads: name → (unit, meaning, getter). A getter's None shows as n/a."""


def _moe(attr: str, dense: Any = 0) -> Any:
    return lambda m: getattr(m.moe, attr) if m.moe else dense


def _attn(attr: str) -> Any:
    return lambda m: getattr(m.attention, attr, None)


MODEL_FIELDS: dict[str, tuple[str, str, Any]] = {
    "id": ("", "catalogue id", lambda m: m.id),
    "name": ("", "name", lambda m: m.name),
    "hf_repo": ("", "Hugging Face repository", lambda m: m.hf_repo or None),
    "total_params_b": ("billion parameters", "every weight", lambda m: m.total_params / 1e9),
    "active_params_b": ("billion parameters", "weights one token touches (MoE: k routed experts)",
                        lambda m: m.active_params / 1e9),
    "layers": ("", "transformer layers", lambda m: m.layers),
    "hidden_size": ("", "hidden size", lambda m: m.hidden_size),
    "vocab_size": ("tokens", "vocabulary", lambda m: m.vocab_size),
    "intermediate_size": ("", "dense FFN intermediate size", lambda m: m.intermediate_size),
    "attention": ("", "gqa (MHA/GQA/MQA) or mla (latent)", lambda m: m.attention.kind),
    "heads": ("", "query heads", _attn("heads")),
    "kv_heads": ("", "KV heads (GQA; n/a for MLA)", _attn("kv_heads")),
    "head_dim": ("", "head dimension (GQA; n/a for MLA)", _attn("head_dim")),
    "kv_lora_rank": ("", "MLA latent rank (n/a for GQA)", _attn("kv_lora_rank")),
    "qk_rope_head_dim": ("", "MLA RoPE key dimension (n/a for GQA)", _attn("qk_rope_head_dim")),
    "experts": ("", "routed experts per MoE layer (0: dense)", _moe("experts")),
    "experts_per_token": ("", "routed experts per token (0: dense)", _moe("experts_per_token")),
    "shared_experts": ("", "shared experts per MoE layer", _moe("shared_experts")),
    "expert_intermediate_size": ("", "intermediate size of one expert (n/a: dense)",
                                 _moe("expert_intermediate_size", None)),
    "first_dense_layers": ("", "leading dense layers before the MoE layers", _moe("first_dense_layers")),
    "sliding_window_tokens": ("tokens", "sliding-window size (0: none)", lambda m: m.window_tokens),
    "sliding_window_layers": ("", "layers with a sliding window", lambda m: m.window_layers),
    "max_context_tokens": ("tokens", "longest context the model supports", lambda m: m.max_context_tokens),
    "published_total_params_b": ("billion parameters", "published total, checked against the architecture",
                                 lambda m: m.published.total_params_b if m.published else None),
    "source": ("", "where the architecture comes from", lambda m: m.source),
}
"""Fields ``model_info`` reads: name → (unit, meaning, getter)."""


def gpu_ids() -> list[str]:
    """Ids of the accelerators in the active catalogue (built-in, then user files)."""
    return list(get_catalogue().accelerators)


def model_ids() -> list[str]:
    """Ids of the models in the active catalogue."""
    return list(get_catalogue().models)


def dtypes() -> list[str]:
    """The dtypes whichwall knows, widest first."""
    return list(DTYPES)


def catalogue_files() -> list[str]:
    """Where the active catalogue comes from: the built-in data, then each user file in force."""
    return ["planner/data (built-in)", *user_catalogue_paths()]


def gpu_info(gpu: Any, field: Any) -> Any:
    """One field of one accelerator (see ``GPU_FIELDS``); ``gpu`` and ``field`` may be arrays (they broadcast)."""
    return _over(lambda g, f: GPU_FIELDS[_field("GPU", f, GPU_FIELDS)][2](_acc(g)), gpu, field)


def model_info(model: Any, field: Any) -> Any:
    """One field of one model (see ``MODEL_FIELDS``); ``model`` and ``field`` may be arrays."""
    return _over(lambda m, f: MODEL_FIELDS[_field("model", f, MODEL_FIELDS)][2](_model(m)), model, field)


def gpu_info_table(gpu: object) -> list[tuple[str, Any, str]]:
    """Every field of one accelerator as (field, value, unit)."""
    acc = _acc(gpu)
    return [(name, getter(acc), unit) for name, (unit, _, getter) in GPU_FIELDS.items()]


def model_info_table(model: object) -> list[tuple[str, Any, str]]:
    """Every field of one model as (field, value, unit)."""
    m = _model(model)
    return [(name, getter(m), unit) for name, (unit, _, getter) in MODEL_FIELDS.items()]


# ------------------------------------------------------------------------------------------------------ arithmetic

def total_params_b(model: object) -> float:
    """Every weight of the model, billions of parameters."""
    return _model(model).total_params / 1e9


def active_params_b(model: object) -> float:
    """Weights one token touches, billions (MoE: shared part + k routed experts per MoE layer)."""
    return _model(model).active_params / 1e9


def decode_flops(model: object, batch: Any = None, context_tokens: Any = None) -> np.ndarray:
    """FLOPs of one decode step of ``batch`` sequences at ``context_tokens`` cached tokens each."""
    return roofline.decode_flops(_model(model), at_least_one("batch", _or(batch, 1)),
                                 non_negative("context_tokens", _or(context_tokens, 0)))


def decode_bytes_gb(model: object, dtype: object = None, batch: Any = None, context_tokens: Any = None,
                    kv_dtype: object = None) -> np.ndarray:
    """Bytes one decode step reads (weights its tokens touch + the batch's KV cache), GB, all GPUs together."""
    return roofline.decode_bytes(_model(model), at_least_one("batch", _or(batch, 1)),
                                 non_negative("context_tokens", _or(context_tokens, 0)), _dtype(dtype),
                                 _dtype(kv_dtype, "kv_dtype")) / GB


def prefill_flops(model: object, prompt_tokens: Any) -> np.ndarray:
    """FLOPs of one prefill of ``prompt_tokens`` tokens (matmuls + causal attention)."""
    return roofline.prefill_flops(_model(model), at_least_one("prompt_tokens", prompt_tokens))


def experts_touched(model: object, tokens: Any = None) -> np.ndarray:
    """Distinct routed experts per MoE layer that ``tokens`` tokens route to (0 for a dense model)."""
    return roofline.experts_touched(_model(model), at_least_one("tokens", _or(tokens, 1)))


def kv_gb(model: object, context_tokens: Any, batch: Any = None, kv_dtype: object = None) -> np.ndarray:
    """KV cache of ``batch`` sequences of ``context_tokens`` tokens, GB (sliding-window layers keep the window)."""
    b = at_least_one("batch", _or(batch, 1))
    s = non_negative("context_tokens", context_tokens)
    return b * roofline.kv_bytes_per_sequence(_model(model), s, _dtype(kv_dtype, "kv_dtype")) / GB


# -------------------------------------------------------------------------------------------------------- topology

def smallest_tp(model: object, gpu: object, context_tokens: Any, dtype: object = None,
                kv_dtype: object = None) -> np.ndarray:
    """Smallest tensor-parallel size (a power of two the GPU's links allow) that holds the weights and one sequence
    of ``context_tokens`` tokens; a ``PlannerError`` naming the shortfall when none does."""
    m, a, d, kv = _model(model), _acc(gpu), _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    s = positive("context_tokens", context_tokens)
    out = np.empty(s.shape)
    for idx in np.ndindex(s.shape):
        out[idx] = topology.smallest_tp(m, a, float(s[idx]), d, kv)
    return out


def memory_per_gpu_gb(model: object, gpu: object, dtype: object = None, batch: Any = None,
                      context_tokens: Any = None, tp: Any = None, kv_dtype: object = None) -> np.ndarray:
    """Memory in use on each GPU of a tp group, GB: weights / tp + batch · KV per sequence / KV shards + reserve."""
    return topology.memory_used_bytes(_model(model), _acc(gpu), non_negative("batch", _or(batch, 1), integer=True),
                                      non_negative("context_tokens", _or(context_tokens, 0)), _dtype(dtype),
                                      at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype")) / GB


def allreduce_ms(model: object, gpu: object, tp: Any, batch: Any = None) -> np.ndarray:
    """Tensor-parallel all-reduce time of one decode step of ``batch`` tokens, ms, expected (measured link
    fraction and per-collective latency): 2 · layers · (2(tp−1)/tp · batch · hidden · 2 bytes / link + latency);
    0 at tp = 1. The network part of ``decode_ms``."""
    m, a = _model(model), _acc(gpu)
    step = roofline.decode_step(m, a, DEFAULT_DTYPE, at_least_one("batch", _or(batch, 1)), 0.0,
                                at_least_one("tp", tp), DEFAULT_DTYPE, expected_efficiency(a.id))
    return np.asarray(step.network_s) * MS_PER_S


# ----------------------------------------------------------------------------------------------------------- plans

_plan_cache: dict[str, PlanResult] = {}
_plan_cache_catalogue: list[Catalogue | None] = [None]
PLAN_CACHE_LIMIT = 2_000


def plan_cached(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
                kv_dtype: object = None, pp: Any = None, engine: object = None) -> PlanResult:
    """``plan(...)``, remembered per active catalogue and spec (several functions read the same plan)."""
    spec = plan_spec(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month,
                     dtype, tp, kv_dtype, pp, engine)
    cat = get_catalogue()
    if _plan_cache_catalogue[0] is not cat:
        _plan_cache.clear()
        _plan_cache_catalogue[0] = cat
    key = spec.model_dump_json()
    hit = _plan_cache.get(key)
    if hit is None:
        if len(_plan_cache) >= PLAN_CACHE_LIMIT:
            _plan_cache.clear()
        hit = _plan_cache[key] = evaluate(spec, cat)
    return hit


def _plan_over(pick: Any, model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any,
               ttft_slo_ms: Any, tpot_slo_ms: Any, budget_usd_month: Any, dtype: object, tp: Any,
               kv_dtype: object, pp: Any, engine: object) -> Any:
    def one(q: Any, i: Any, o: Any, ttft: Any, tpot: Any, budget: Any, t: Any, p: Any) -> Any:
        return pick(plan_cached(model, gpu, q, i, o, ttft, tpot, budget, dtype, t, kv_dtype, p, engine))
    return _over(one, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month, tp, pp)


def binding_walls(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                  tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
                  kv_dtype: object = None, pp: Any = None, engine: object = None) -> Any:
    """``binding_wall`` over arrays of the numeric arguments (a text array of the broadcast shape)."""
    return _plan_over(lambda r: r.binding_wall, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms,
                      tpot_slo_ms, budget_usd_month, dtype, tp, kv_dtype, pp, engine)


def next_wall(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
              tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
              kv_dtype: object = None, pp: Any = None, engine: object = None) -> Any:
    """The wall with the least headroom after the binding one (None without another wall)."""
    return _plan_over(lambda r: r.walls.next, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms,
                      tpot_slo_ms, budget_usd_month, dtype, tp, kv_dtype, pp, engine)


def replicas(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
             tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
             kv_dtype: object = None, pp: Any = None, engine: object = None) -> Any:
    """Replicas (tp GPUs each) the traffic needs at the plan's operating point; None when no batch meets the
    SLOs or fits (see ``binding_wall``)."""
    return _plan_over(lambda r: r.replicas, model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms,
                      tpot_slo_ms, budget_usd_month, dtype, tp, kv_dtype, pp, engine)


def plan_keys() -> list[str]:
    """Keys ``plan_value`` accepts: the rows of ``planner.report.rows`` (requirements, arithmetic, topology, cost,
    walls)."""
    keys = [k for k, _, _ in report.REQUIREMENT_FIELDS] + [k for _, k, _, _ in report.RESULT_FIELDS]
    keys += [f"utilization:{w}" for w in W.WALLS] + ["binding_wall", "reason", "next_wall"]
    keys += [f"split:{part}" for part in W.SPLIT_PARTS]
    return keys


def _plan_row(result: PlanResult, key: str) -> Any:
    if key in result.values:  # a figure (tp, pp, ep as chosen), not the requirement row ("auto → 4")
        return result.values[key]
    for row in report.rows(result):
        if row.key == key:
            return row.value
    return None  # an advice line that this plan does not have


def plan_value(key: Any, model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any,
               ttft_slo_ms: Any, tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None,
               tp: Any = None, kv_dtype: object = None, pp: Any = None, engine: object = None) -> Any:
    """One value of the plan by its key (``plan_keys``; also ``advice:1``, ``advice:2``...); ``key`` may be an
    array too."""
    keys = plan_keys()

    def check(k: Any) -> str:
        if not isinstance(k, str) or not k.strip():
            raise PlannerError(f"key must be text, one of: {', '.join(keys)}")
        text = k.strip().lower()
        if text not in keys and not re.fullmatch(r"advice:[1-9]\d*", text):
            raise unknown("plan key", k, keys)
        return text

    def one(k: Any, q: Any, i: Any, o: Any, ttft: Any, tpot: Any, budget: Any, t: Any, p: Any) -> Any:
        return _plan_row(plan_cached(model, gpu, q, i, o, ttft, tpot, budget, dtype, t, kv_dtype, p, engine),
                         check(k))
    return _over(one, key, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month, tp, pp)


def walls_table(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
                kv_dtype: object = None, pp: Any = None, engine: object = None
                ) -> list[tuple[str, float | None, float | None, bool]]:
    """Each wall as (wall, utilization, headroom, binding?): utilization = demand ÷ capacity at the plan's
    operating point, headroom = 1 − utilization (None where the wall does not apply: budget without a budget)."""
    r = plan_cached(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month,
                    dtype, tp, kv_dtype, pp, engine)
    return [(w, r.walls.utilization[w], r.walls.headroom(w), w == r.binding_wall) for w in W.WALLS]


def plan_table(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
               tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
               kv_dtype: object = None, pp: Any = None, engine: object = None
               ) -> list[tuple[str, str, str, Any, str]]:
    """The whole plan as (section, key, quantity, value, unit) rows, in the design loop's order."""
    r = plan_cached(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month,
                    dtype, tp, kv_dtype, pp, engine)
    return [(row.section, row.key, row.label, row.value, row.unit) for row in report.rows(r)]


# ------------------------------------------------------------------------------------------------------------ cost

def gpu_hour_price(gpu: object) -> float:
    """The catalogue's planning price of one GPU, USD per GPU-hour."""
    acc = _acc(gpu)
    if acc.usd_per_gpu_hour is None:
        raise PlannerError(f"{acc.id} has no $/GPU-hour in the catalogue; give usd_per_gpu_hour, or add "
                           f"price.usd_per_gpu_hour to it in a user catalogue")
    return acc.usd_per_gpu_hour


def _price(gpu: object, usd_per_gpu_hour: Any) -> Any:
    if usd_per_gpu_hour is None:
        return gpu_hour_price(gpu)
    _acc(gpu)  # a valid id even when the price is given
    return positive("usd_per_gpu_hour", usd_per_gpu_hour)


def cost_per_month(gpu: object, gpus: Any, usd_per_gpu_hour: Any = None) -> np.ndarray:
    """Monthly cost of ``gpus`` GPUs, USD: gpus · $/GPU-hour · 730 hours (the catalogue price unless given)."""
    return at_least_one("gpus", gpus) * _price(gpu, usd_per_gpu_hour) * HOURS_PER_MONTH


def cost_per_million_tokens(gpu: object, tokens_per_sec: Any, gpus: Any = None,
                            usd_per_gpu_hour: Any = None) -> np.ndarray:
    """USD per million tokens when ``gpus`` GPUs together produce ``tokens_per_sec`` tokens/s around the clock:
    gpus · $/GPU-hour ÷ 3600 ÷ tokens/s · 1e6."""
    n = at_least_one("gpus", _or(gpus, 1))
    rate = positive("tokens_per_sec", tokens_per_sec)
    with np.errstate(over="ignore"):
        cost = evaluator.usd_per_million_tokens(n * _price(gpu, usd_per_gpu_hour), rate)
    if not np.all(np.isfinite(cost)):
        raise PlannerError(f"tokens_per_sec {short(float(np.min(rate)))} is too small to price a million tokens; give "
                           f"the steady output rate in tokens per second (at least {MIN_POSITIVE:g})")
    return cost
