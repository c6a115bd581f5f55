"""Values that checks exchange: encoding for fixture files, comparison, and display.

Fixture files are JSON that a person can read: a tensor is written as
``{"tensor": "float32", "shape": [2, 3], "data": [[...], [...]]}``; non-finite floats are
the strings ``"nan"``, ``"inf"`` and ``"-inf"``; a tuple is ``{"tuple": [...]}``. An input
tensor that requires grad (values straight from a critic) adds ``"requires_grad": true``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def _encode_float(x: float) -> float | str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def _decode_float(x: Any) -> float:
    return float(x) if isinstance(x, str) else x


def _short_float32(x: float) -> float:
    """The shortest decimal that reads back as the same float32 (``0.1``, not
    ``0.10000000149011612``)."""
    return float(np.format_float_positional(np.float32(x), unique=True, trim="0"))


def encode(value: Any) -> Any:
    """A JSON-ready form of ``value`` (tensors, numbers, bools, strings, tuples, lists,
    dicts with string keys)."""
    if isinstance(value, torch.Tensor):
        tensor = value.detach().cpu()
        name = _NAMES.get(tensor.dtype)
        if name is None:
            raise TypeError(f"cannot store tensors of dtype {tensor.dtype}")
        if tensor.dtype in (torch.float16, torch.bfloat16, torch.float32):
            data = _map_nested(tensor.float().tolist(), _short_float32)
        else:
            data = tensor.tolist()
        if tensor.is_floating_point():
            data = _map_nested(data, _encode_float)
        out = {"tensor": name, "shape": list(tensor.shape), "data": data}
        if value.requires_grad:
            out["requires_grad"] = True
        return out
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, tuple):
        return {"tuple": [encode(v) for v in value]}
    if isinstance(value, list):
        return [encode(v) for v in value]
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


def decode(data: Any) -> Any:
    """The inverse of :func:`encode`."""
    if isinstance(data, dict):
        if "tensor" in data:
            dtype = _DTYPES[data["tensor"]]
            values = data["data"]
            if dtype.is_floating_point:
                values = _map_nested(values, _decode_float)
            tensor = torch.tensor(values, dtype=dtype).reshape(data["shape"])
            return tensor.requires_grad_(True) if data.get("requires_grad") else tensor
        if set(data) == {"tuple"}:
            return tuple(decode(v) for v in data["tuple"])
        return {k: decode(v) for k, v in data.items()}
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, str) and data in ("nan", "inf", "-inf"):
        return float(data)
    return data


def _map_nested(data: Any, fn) -> Any:
    if isinstance(data, list):
        return [_map_nested(v, fn) for v in data]
    return fn(data)


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class Mismatch:
    """Why a received value differs from the expected one."""

    message: str
    max_diff: float | None = None


def _kind(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return "tensor"
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, int | float | np.integer | np.floating):
        return "number"
    if isinstance(value, tuple | list):
        return "sequence"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def describe_type(value: Any) -> str:
    """``tensor float32 (3, 2)``, ``float``, ``tuple of 2``, ..."""
    if isinstance(value, torch.Tensor):
        return f"tensor {str(value.dtype).removeprefix('torch.')} {tuple(value.shape)}"
    if isinstance(value, tuple | list):
        return f"{type(value).__name__} of {len(value)}"
    return type(value).__name__


def as_python_number(value: Any) -> float | bool | None:
    """A Python number from a number, a NumPy scalar or a one-element tensor; else None."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dim() > 1 or not holds_values(value):
            return None
        return value.item()
    if isinstance(value, bool | int | float | np.bool_ | np.integer | np.floating):
        return value.item() if hasattr(value, "item") else value
    return None


def holds_values(tensor: torch.Tensor) -> bool:
    """Whether ``tensor``'s values can be read (a tensor on the meta device has a shape and
    a dtype, and no values)."""
    return tensor.device.type != "meta"


def _close(expected: torch.Tensor, received: torch.Tensor, rtol: float, atol: float) -> bool:
    return bool(torch.allclose(received, expected, rtol=rtol, atol=atol, equal_nan=True))


def max_difference(expected: torch.Tensor, received: torch.Tensor) -> float:
    """Largest absolute difference, ignoring places where both are nan or equal infs."""
    e = expected.double()
    r = received.double()
    same = (e == r) | (torch.isnan(e) & torch.isnan(r))
    diff = (e - r).abs()
    diff = torch.where(same, torch.zeros_like(diff), diff)
    diff = torch.where(torch.isnan(diff), torch.full_like(diff, math.inf), diff)
    return float(diff.max()) if diff.numel() else 0.0


def compare(
    expected: Any, received: Any, rtol: float = 1e-5, atol: float = 1e-6, where: str = "output"
) -> Mismatch | None:
    """``None`` when ``received`` matches ``expected``, else a :class:`Mismatch`.

    Tensors must agree in shape and dtype, then in value with ``allclose(rtol, atol)``
    (two nans count as equal). A float may be received as a Python number, a NumPy scalar
    or a one-element tensor; a bool as a bool or a one-element bool tensor.
    """
    kind = _kind(expected)
    if kind == "tensor":
        if not isinstance(received, torch.Tensor):
            return Mismatch(f"{where}: expected a tensor, got {describe_type(received)}")
        if received.shape != expected.shape:
            return Mismatch(
                f"{where}: expected shape {tuple(expected.shape)}, got {tuple(received.shape)}"
            )
        if received.dtype != expected.dtype:
            return Mismatch(
                f"{where}: expected dtype {str(expected.dtype).removeprefix('torch.')}, "
                f"got {str(received.dtype).removeprefix('torch.')}"
            )
        if not holds_values(received):
            return Mismatch(
                f"{where}: a tensor on the {received.device} device, which holds no values"
            )
        got = received.detach().cpu()
        want = expected.detach().cpu()
        if want.dtype == torch.bool or not want.is_floating_point():
            if torch.equal(got, want):
                return None
            return Mismatch(f"{where}: values differ", max_difference(want.double(), got.double()))
        if _close(want, got, rtol, atol):
            return None
        return Mismatch(f"{where}: values differ", max_difference(want, got))
    if kind == "bool":
        got = as_python_number(received)
        if not isinstance(got, bool):
            return Mismatch(f"{where}: expected a bool, got {describe_type(received)}")
        return (
            None if got == bool(expected) else Mismatch(f"{where}: expected {expected}, got {got}")
        )
    if kind == "number":
        got = as_python_number(received)
        if got is None or isinstance(got, bool):
            return Mismatch(f"{where}: expected a number, got {describe_type(received)}")
        want = float(expected)
        got = float(got)
        if math.isnan(want) and math.isnan(got):
            return None
        if math.isclose(got, want, rel_tol=rtol, abs_tol=atol) or got == want:
            return None
        diff = abs(got - want) if not (math.isnan(got) or math.isnan(want)) else math.inf
        return Mismatch(f"{where}: expected {want:.7g}, got {got:.7g}", diff)
    if kind == "sequence":
        if not isinstance(received, tuple | list):
            return Mismatch(
                f"{where}: expected {describe_type(expected)}, got {describe_type(received)}"
            )
        if len(received) != len(expected):
            return Mismatch(f"{where}: expected {len(expected)} values, got {len(received)}")
        for i, (e, r) in enumerate(zip(expected, received, strict=True)):
            problem = compare(e, r, rtol, atol, f"{where}[{i}]")
            if problem:
                return problem
        return None
    if kind == "dict":
        if not isinstance(received, dict):
            return Mismatch(f"{where}: expected a dict, got {describe_type(received)}")
        for key, e in expected.items():
            if key not in received:
                return Mismatch(f"{where}: missing {key!r}")
            problem = compare(e, received[key], rtol, atol, f"{where}[{key!r}]")
            if problem:
                return problem
        return None
    if expected == received:
        return None
    return Mismatch(f"{where}: expected {expected!r}, got {received!r}")


# ----------------------------------------------------------------------------- display


def show(value: Any, max_items: int = 24, depth: int = 0) -> str:
    """A compact, readable rendering for feedback (large tensors are summarised). A value
    that cannot be rendered (a tensor without values, an object whose ``repr`` raises) is
    shown as what it is; this never raises."""
    if depth > 8:
        return "..."
    if isinstance(value, torch.Tensor):
        label = describe_type(value)
        if not holds_values(value):
            return f"{label} on the {value.device} device (no values)"
        try:
            return _show_tensor(value.detach().cpu(), label, max_items)
        except Exception as exc:  # a value of any kind must still be shown
            why = type(exc).__name__
            return f"{label} on {value.device} (its values cannot be shown: {why})"
    if isinstance(value, float):
        return _fmt(value)
    if isinstance(value, tuple | list | dict):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        more = f", ... ({len(items)} in all)" if len(items) > max_items else ""
        if isinstance(value, dict):
            parts = [f"{_key(k)}: {show(v, max_items, depth + 1)}" for k, v in items[:max_items]]
        else:
            parts = [show(v, max_items, depth + 1) for v in items[:max_items]]
        ends = "{}" if isinstance(value, dict) else "()" if isinstance(value, tuple) else "[]"
        return _short(ends[0] + ", ".join(parts) + more + ends[1], SHOWN_CHARS)
    return _short(value)


def _key(key: Any) -> str:
    return key[:200] if isinstance(key, str) else _short(key)


SHOWN_CHARS = 2000
"""The longest rendering of one value in feedback."""


def _short(value: Any, limit: int = 200) -> str:
    """``repr(value)`` (``value`` itself for text already rendered), cut to ``limit``
    characters; never raises."""
    if isinstance(value, str) and limit == SHOWN_CHARS:
        text = value
    else:
        try:
            text = repr(value)
        except Exception as exc:
            return f"<a {type(value).__name__} that cannot be shown ({type(exc).__name__})>"
    return text if len(text) <= limit else text[:limit] + "..."


def _show_tensor(tensor: torch.Tensor, label: str, max_items: int) -> str:
    if tensor.numel() == 0:
        return f"{label} (empty)"
    if tensor.numel() > max_items:
        flat = tensor.flatten().double()
        finite = flat[torch.isfinite(flat)]
        stats = (
            f"min {finite.min():.4g}, max {finite.max():.4g}, mean {finite.mean():.4g}"
            if finite.numel()
            else "no finite values"
        )
        return f"{label}, {stats}"
    if tensor.dim() == 0:
        return f"{_fmt(tensor.item())} ({label})"
    return f"{_fmt_nested(tensor.tolist())} ({label})"


def _fmt(x: Any) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _fmt_nested(data: Any) -> str:
    if isinstance(data, list):
        return "[" + ", ".join(_fmt_nested(v) for v in data) + "]"
    return _fmt(data)
