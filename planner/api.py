"""The design loop by catalogue id: the functions every face (Excel, CLI, workbook checks) calls.

Each takes catalogue ids (case-insensitive, aliases allowed) and numbers or numpy arrays; array arguments broadcast
together (numpy rules: equal shapes go element by element, a column against a row makes a table), and the result
has the broadcast shape. A scalar call is the 1-element case. ``None`` for an optional argument means its default.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from planner import roofline, topology
from planner.catalogue import Accelerator, Model, check_dtype, get_catalogue
from planner.errors import PlannerError
from planner.plan import PlanResult, evaluate
from planner.spec import PlanSpec, spec_from_data
from planner.units import GB
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


def decode_ms(model: object, gpu: object, dtype: object = None, batch: Any = None, context_tokens: Any = None,
              tp: Any = None, kv_dtype: object = None) -> np.ndarray:
    """Expected decode step (time per output token), ms, with measured efficiencies."""
    return roofline.decode_ms(_model(model), _acc(gpu), _dtype(dtype), at_least_one("batch", _or(batch, 1)),
                              non_negative("context_tokens", _or(context_tokens, 0)),
                              at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype"))


def prefill_ms(model: object, gpu: object, prompt_tokens: Any, dtype: object = None, tp: Any = None,
               kv_dtype: object = None) -> np.ndarray:
    """Expected unloaded prefill (time to first token), ms."""
    return roofline.prefill_ms(_model(model), _acc(gpu), at_least_one("prompt_tokens", prompt_tokens),
                               _dtype(dtype), at_least_one("tp", _or(tp, 1)), _dtype(kv_dtype, "kv_dtype"))


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
                       tp: Any = None, kv_dtype: object = None) -> np.ndarray:
    """Best output tokens/s of one replica over every batch that fits: max over B of
    output / (prefill + output · decode_step(B) / B), expected times, sequences sized at input + output tokens."""
    m, a = _model(model), _acc(gpu)
    d, kv = _dtype(dtype), _dtype(kv_dtype, "kv_dtype")
    inp, out = at_least_one("input_tokens", input_tokens), at_least_one("output_tokens", output_tokens)
    tps = at_least_one("tp", _or(tp, 1))
    shape = np.broadcast_shapes(inp.shape, out.shape, tps.shape)
    result = np.empty(shape)
    for idx in np.ndindex(shape):
        i, o, t = (float(np.broadcast_to(x, shape)[idx]) for x in (inp, out, tps))
        b_mem = int(topology.max_batch(m, a, i + o, d, t, kv).item())
        if b_mem < 1:
            result[idx] = 0.0
            continue
        prefill_s = float(roofline.prefill_ms(m, a, i, d, t, kv).item()) / 1e3
        batches = np.arange(1, min(b_mem, 65_536) + 1, dtype=float)
        step_s = roofline.decode_ms(m, a, d, batches, i + o / 2, t, kv) / 1e3
        result[idx] = float(np.max(o / (prefill_s + o * step_s / batches)))
    return result


def plan_spec(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
              tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
              kv_dtype: object = None) -> PlanSpec:
    """A validated spec from the arguments of ``BINDING_WALL`` and friends."""
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
            "tp": one("tp", tp, True), "kv_dtype": _dtype(kv_dtype, "kv_dtype")}
    for key in ("model", "accelerator"):
        if not isinstance(data[key], str):
            raise PlannerError(f"{'gpu' if key == 'accelerator' else key} must be a catalogue id (text), "
                               f"got {data[key]!r}")
    for key in ("qps", "input_tokens", "output_tokens", "ttft_slo_ms", "tpot_slo_ms"):
        if data[key] is None:
            raise PlannerError(f"{key} is required")
    return spec_from_data({k: v for k, v in data.items() if v is not None}, where="arguments")


def plan(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
         tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None,
         kv_dtype: object = None) -> PlanResult:
    """The whole design loop for one plan given as arguments."""
    return evaluate(plan_spec(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms,
                              budget_usd_month, dtype, tp, kv_dtype))


def binding_wall(model: object, gpu: object, qps: Any, input_tokens: Any, output_tokens: Any, ttft_slo_ms: Any,
                 tpot_slo_ms: Any, budget_usd_month: Any = None, dtype: object = None, tp: Any = None) -> str:
    """The wall that limits the plan first (see ``planner.walls``)."""
    return plan(model, gpu, qps, input_tokens, output_tokens, ttft_slo_ms, tpot_slo_ms, budget_usd_month, dtype,
                tp).binding_wall
