"""Plain data across the trust boundary: what a grading worker sends back, and how the
grader reads it.

The worker runs a submission's code; whatever it sends is untrusted. The format cannot
run code when read: it is JSON, in which a tensor is ``{"$tensor": dtype, "shape": [...],
"device": "cpu", "bytes": base64}`` (the raw little-endian bytes of its values; ``"grad":
true`` marks a tensor that requires grad), a float
that JSON cannot hold is ``{"$float": "nan"}``, a tuple is ``{"$tuple": [...]}``, and a
dict with string keys is ``{"$dict": {...}}``. Nothing else is accepted: :func:`decode`
checks every field (dtype from a fixed list, shape against the number of bytes, sizes
against limits) and raises :class:`WireError` on anything else. No pickle, no shared
memory, no file descriptors.

The grader also encodes what it sends to the worker (the inputs of a case) with the same
format, and keeps the encoded inputs: comparing them with what the worker reports after
the call tells, on the grader's side, whether the function changed its inputs in place.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import torch

from autograder.outcomes import MAX_REPLY_BYTES

MAX_DEPTH = 32

_DTYPES = {
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float32": torch.float32,
    "float64": torch.float64,
    "int8": torch.int8,
    "int16": torch.int16,
    "int32": torch.int32,
    "int64": torch.int64,
    "uint8": torch.uint8,
    "bool": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


class WireError(ValueError):
    """A value that the format cannot hold, or data that is not in the format."""


# ----------------------------------------------------------------------------- encoding


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().to("cpu").contiguous().reshape(-1)
    if flat.dtype == torch.bfloat16:
        flat = flat.view(torch.int16)
    if flat.dtype == torch.bool:
        flat = flat.to(torch.uint8)
    return flat.numpy().tobytes()


def to_plain(value: Any, depth: int = 0) -> Any:
    """The JSON-ready form of ``value``.

    Raises:
        WireError: for a value the format cannot hold (an object, a generator, a tensor of
            an unsupported dtype, a dict with non-string keys, ...).
    """
    if depth > MAX_DEPTH:
        raise WireError("the value is nested too deeply")
    if isinstance(value, torch.Tensor):
        if type(value) is not torch.Tensor and not isinstance(value, torch.nn.Parameter):
            raise WireError(f"a tensor subclass ({type(value).__name__})")
        name = _NAMES.get(value.dtype)
        if name is None:
            raise WireError(f"a tensor of dtype {value.dtype}")
        device = str(value.device)
        data = None
        if value.device.type != "meta":
            data = base64.b64encode(_tensor_bytes(value)).decode("ascii")
        out = {"$tensor": name, "shape": list(value.shape), "device": device, "bytes": data}
        if value.requires_grad:
            out["grad"] = True  # a leaf that requires grad, as it arrives from a network
        return out
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return {"$float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    if isinstance(value, tuple):
        return {"$tuple": [to_plain(v, depth + 1) for v in value]}
    if isinstance(value, list):
        return [to_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise WireError("a dict with keys that are not strings")
        return {"$dict": {k: to_plain(v, depth + 1) for k, v in value.items()}}
    # NumPy scalars and 0-d arrays are common and harmless: send them as numbers.
    item = getattr(type(value), "__module__", "") == "numpy" and getattr(value, "item", None)
    if item is not None and getattr(value, "shape", None) == ():
        return to_plain(value.item(), depth + 1)
    raise WireError(f"a value of type {type(value).__name__}")


def dumps(value: Any) -> str:
    """One line of JSON for ``value`` (see :func:`to_plain`)."""
    return json.dumps(to_plain(value), allow_nan=False, separators=(",", ":"))


# ----------------------------------------------------------------------------- decoding


def _shape(raw: Any) -> tuple[int, ...]:
    if not isinstance(raw, list) or not all(
        isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in raw
    ):
        raise WireError("a tensor shape must be a list of non-negative integers")
    if len(raw) > 16:
        raise WireError("a tensor with more than 16 dimensions")
    return tuple(raw)


def _tensor(data: dict[str, Any]) -> torch.Tensor:
    fields = {"$tensor", "shape", "device", "bytes"}
    if not (set(data) == fields or (set(data) == fields | {"grad"} and data["grad"] is True)):
        raise WireError("a tensor with unexpected fields")
    dtype = _DTYPES.get(data["$tensor"]) if isinstance(data["$tensor"], str) else None
    if dtype is None:
        raise WireError(f"unknown dtype {data['$tensor']!r}")
    shape = _shape(data["shape"])
    device = data["device"]
    if not isinstance(device, str) or len(device) > 32:
        raise WireError("a tensor device must be a short string")
    if data["bytes"] is None:
        if not device.startswith("meta"):
            raise WireError("a tensor without values")
        return torch.empty(shape, dtype=dtype, device="meta")
    if not isinstance(data["bytes"], str):
        raise WireError("tensor bytes must be base64 text")
    raw = base64.b64decode(data["bytes"], validate=True)
    count = math.prod(shape)
    storage = {torch.bfloat16: torch.int16, torch.bool: torch.uint8}.get(dtype, dtype)
    itemsize = torch.empty((), dtype=storage).element_size()
    if len(raw) != count * itemsize:
        raise WireError("tensor bytes do not match its shape and dtype")
    if count == 0:
        return torch.empty(shape, dtype=dtype)
    flat = torch.frombuffer(bytearray(raw), dtype=storage).clone()
    if dtype == torch.bfloat16:
        flat = flat.view(torch.bfloat16)
    elif dtype == torch.bool:
        if bool((flat > 1).any()):
            raise WireError("bool tensor bytes must be 0 or 1")
        flat = flat.to(torch.bool)
    tensor = flat.reshape(shape)
    if data.get("grad") and tensor.is_floating_point():
        tensor.requires_grad_(True)
    return tensor


def from_plain(data: Any, depth: int = 0) -> Any:
    """The value that :func:`to_plain` encoded, checking every field.

    Raises:
        WireError: when ``data`` is not in the format.
    """
    if depth > MAX_DEPTH + 1:
        raise WireError("the value is nested too deeply")
    if data is None or isinstance(data, bool | int | str):
        return data
    if isinstance(data, float):
        return data
    if isinstance(data, list):
        return [from_plain(v, depth + 1) for v in data]
    if isinstance(data, dict):
        if "$tensor" in data:
            return _tensor(data)
        if set(data) == {"$float"}:
            if data["$float"] not in ("nan", "inf", "-inf"):
                raise WireError("a special float must be nan, inf or -inf")
            return float(data["$float"])
        if set(data) == {"$tuple"} and isinstance(data["$tuple"], list):
            return tuple(from_plain(v, depth + 1) for v in data["$tuple"])
        if set(data) == {"$dict"} and isinstance(data["$dict"], dict):
            return {str(k): from_plain(v, depth + 1) for k, v in data["$dict"].items()}
    raise WireError("data that is not in the grading format")


def loads(text: str | bytes) -> Any:
    """Decode one line written by :func:`dumps`.

    Raises:
        WireError: when the text is not valid JSON in the format, or too large.
    """
    if len(text) > MAX_REPLY_BYTES:
        raise WireError(f"a reply larger than {MAX_REPLY_BYTES // (1024 * 1024)} MB")
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WireError(f"not JSON: {exc}") from None
    return from_plain(data)
