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


def output_type(ns: Any, function: str, inputs: dict[str, Any]) -> str:
    """The name of the type the function returns (``float``, ``Tensor``, ...)."""
    return type(call(ns, function, inputs)).__name__
