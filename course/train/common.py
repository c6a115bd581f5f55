"""Pieces every trainer shares: devices, seeding, config overrides, small networks."""

from __future__ import annotations

import dataclasses
import math
import random
import typing
from typing import Any

import numpy as np
import torch
from torch import nn


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when it is available, else the CPU.

    Raises:
        ValueError: ``cuda`` asked for on a machine without it.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but CUDA is not available here")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


_TYPE_WORDS = {bool: "true or false", int: "an integer", float: "a number", str: "text"}


def _declared_types(config: Any) -> dict[str, Any]:
    """Each field's declared type (the annotations resolved), e.g. ``float | None``."""
    return typing.get_type_hints(type(config))


def _describe(kind: Any) -> str:
    """What a setting of type ``kind`` takes, in words: "an integer", "a number or none"."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return "one of " + ", ".join(str(a) for a in args)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return " or ".join([_describe(a) for a in rest] + ["none"])
    return _TYPE_WORDS.get(kind, getattr(kind, "__name__", str(kind)))


def _parse_value(text: str, kind: Any) -> Any:
    """``text`` as a value of the declared type ``kind``.

    Raises:
        ValueError: ``text`` is not a value of that type (the caller words the message).
    """
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        if text in args:
            return text
        raise ValueError(text)
    if type(None) in args:
        if text.lower() == "none":
            return None
        rest = [a for a in args if a is not type(None)]
        for option in rest:
            try:
                return _parse_value(text, option)
            except ValueError:
                pass
        raise ValueError(text)
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if kind is int:
        try:
            return int(text)
        except ValueError:
            pass
        # 2e5 and 200000.0 name an integer too; 1.5 does not.
        number = float(text)
        if not math.isfinite(number) or not number.is_integer():
            raise ValueError(text)
        return int(number)
    if kind is float:
        number = float(text)
        if math.isnan(number):
            raise ValueError(text)
        return number
    return text


def apply_overrides(config: Any, settings: list[str], exclude: tuple[str, ...] = ()) -> Any:
    """``config`` with ``KEY=VALUE`` settings applied (values parsed by the field's type);
    the fields in ``exclude`` are not settable.

    Raises:
        ValueError: an unknown key or a value of the wrong type, with a one-line message.
    """
    fields = {f.name for f in dataclasses.fields(config)} - set(exclude)
    known = ", ".join(sorted(fields))
    types = _declared_types(config)
    changes = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise ValueError(f"--set takes KEY=VALUE, got {setting!r}")
        if key in exclude:
            raise ValueError(f"this algorithm does not use {key!r} (its settings: {known})")
        if key not in fields:
            raise ValueError(f"unknown setting {key!r} (known: {known})")
        kind = types[key]
        try:
            changes[key] = _parse_value(value.strip(), kind)
        except ValueError:
            raise ValueError(
                f"--set {key} takes {_describe(kind)}, got {value.strip()!r}"
            ) from None
    return dataclasses.replace(config, **changes)


def mlp(in_dim: int, out_dim: int, hidden: int = 64, out_scale: float = 1.0) -> nn.Sequential:
    """A two-layer tanh MLP with PyTorch's default initialisation, the output layer's
    weights scaled by ``out_scale`` (a small scale starts a policy near uniform).

    (m09 teaches the orthogonal initialisation that PPO implementations use.)
    """
    net = nn.Sequential(
        nn.Linear(in_dim, hidden),
        nn.Tanh(),
        nn.Linear(hidden, hidden),
        nn.Tanh(),
        nn.Linear(hidden, out_dim),
    )
    with torch.no_grad():
        net[-1].weight.mul_(out_scale)
        net[-1].bias.zero_()
    return net
