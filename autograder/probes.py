"""Probes shared by several checks. A probe is ``probe(namespace, function, inputs)``: it
calls the function under test and returns raw values for the grader to compare."""

from __future__ import annotations

from typing import Any

import torch

from autograder.core import call, clone_inputs


class NotAllowed(Exception):
    """The code under test used something the exercise asks it to write itself."""


def _gradient(ns: Any, function: str, inputs: dict[str, Any], wrt: str) -> dict[str, Any]:
    args = clone_inputs(inputs)
    args[wrt] = args[wrt].detach().clone().requires_grad_(True)
    out = getattr(ns, function)(*args.values())
    if not isinstance(out, torch.Tensor):
        return {"output": out, "grad": None}
    if not out.requires_grad:
        return {"output": out, "grad": torch.zeros_like(args[wrt])}
    out.sum().backward()
    grad = args[wrt].grad
    return {"output": out, "grad": torch.zeros_like(args[wrt]) if grad is None else grad}


def grad_wrt_first(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The output and the gradient of ``output.sum()`` with respect to the first input."""
    return _gradient(ns, function, inputs, next(iter(inputs)))


def grad_wrt_second(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The output and the gradient of ``output.sum()`` with respect to the second input."""
    return _gradient(ns, function, inputs, list(inputs)[1])


def grad_wrt_third(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The output and the gradient of ``output.sum()`` with respect to the third input."""
    return _gradient(ns, function, inputs, list(inputs)[2])


def without_distributions(ns: Any, function: str, inputs: dict[str, Any]) -> Any:
    """Call the function with ``torch.distributions`` switched off."""
    from torch.distributions import Distribution

    original = Distribution.__init__

    def refuse(self, *args: Any, **kwargs: Any) -> None:
        raise NotAllowed(
            f"it builds torch.distributions.{type(self).__name__}; this exercise asks you to "
            "write the formula yourself"
        )

    Distribution.__init__ = refuse
    try:
        return call(ns, function, inputs)
    finally:
        Distribution.__init__ = original


def type_name(value: Any) -> str:
    """The name of ``value``'s exact type: ``float`` or ``bool`` for Python's own, the name
    with its module otherwise (``numpy.bool``, ``numpy.float64``, ``torch.Tensor``), so that
    a NumPy scalar, whose name may also be ``bool``, is not taken for a Python bool."""
    kind = type(value)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    module = kind.__module__.split(".")[0]
    return f"{module}.{kind.__qualname__}"


def output_type(ns: Any, function: str, inputs: dict[str, Any]) -> str:
    """The exact type the function returns (:func:`type_name`: ``float``, ``bool``,
    ``numpy.bool``, ``torch.Tensor``, ...)."""
    return type_name(call(ns, function, inputs))


# ----------------------------------------------------------------------------- host sync

_SHAPE_FROM_DATA = frozenset(
    [
        "nonzero",
        "masked_select",
        "_unique2",
        "unique_dim",
        "unique_consecutive",
        "repeat_interleave",
    ]
)
"""Operators whose output's shape depends on the values of their input: on a GPU the host
waits for the device to know how much memory to allocate."""

_READ_BACK = frozenset(["_local_scalar_dense", "equal", "allclose", "is_nonzero"])
"""Operators that hand a value to Python (``.item()``, ``float(t)``, ``bool(t)``, ``if t:``,
``torch.equal``): the host waits for the device to finish."""

_READ_BACK_METHODS = frozenset(["tolist", "numpy", "item", "cpu", "__bool__", "__float__"])
"""Tensor methods that copy a value to the host (on the CPU some never reach an operator)."""


def _is_mask(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dtype in (torch.bool, torch.uint8)


def host_syncs(fn: Any, *args: Any) -> tuple[Any, list[str]]:
    """Call ``fn(*args)`` and return its output and the operations in it that make the host
    wait for the device on a GPU (seen on any device, the CPU included): an operator whose
    output's shape depends on the data (``nonzero``, ``masked_select``, indexing or
    assigning with a boolean mask) or one that reads a value back (``.item()``, ``bool()``,
    ``if tensor:``, ``.tolist()``)."""
    from torch.overrides import TorchFunctionMode
    from torch.utils._python_dispatch import TorchDispatchMode

    seen: list[str] = []

    class Operators(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            name = func.overloadpacket.__name__.rstrip("_")
            if name in _SHAPE_FROM_DATA or name in _READ_BACK:
                seen.append(name)
            elif name in ("index", "index_put") and any(_is_mask(i) for i in args[1] or ()):
                seen.append(f"{name} with a boolean mask")
            return func(*args, **(kwargs or {}))

    class Methods(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            name = getattr(func, "__name__", "")
            if name in _READ_BACK_METHODS:
                seen.append(f".{name}()")
            return func(*args, **(kwargs or {}))

    with Methods(), Operators():
        out = fn(*args)
    return out, sorted(set(seen))


def _tensors(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def host_sync_probe(ns: Any, function: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What :func:`host_syncs` sees in one call, and which inputs the output shares memory
    with (an input handed back, or a view of it, rather than a new tensor)."""
    out, syncs = host_syncs(getattr(ns, function), *inputs.values())
    storages = {
        name: value.untyped_storage().data_ptr()
        for name, value in inputs.items()
        if isinstance(value, torch.Tensor) and value.numel() > 0
    }
    shared = sorted(
        {
            name
            for t in _tensors(out)
            if t.numel() > 0
            for name, ptr in storages.items()
            if t.untyped_storage().data_ptr() == ptr
        }
    )
    return {"host_syncs": syncs, "shares_memory_with": shared}


def no_host_sync(received: Any, inputs: dict[str, Any]) -> str | None:
    """The predicate of :func:`host_sync_probe`."""
    if not isinstance(received, dict):
        return "expected the facts of one call"
    if received.get("host_syncs"):
        return (
            f"{', '.join(received['host_syncs'])}: on a GPU each makes the host wait for the "
            "device at every step (torch.where with a mask keeps the work on the device)"
        )
    if received.get("shares_memory_with"):
        names = ", ".join(f"`{n}`" for n in received["shares_memory_with"])
        return (
            f"the result shares memory with the input {names}: return a new tensor (the "
            "caller keeps the old one, and may write into either)"
        )
    return None
