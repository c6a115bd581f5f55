"""Pieces every trainer shares: devices, seeding, config overrides, small networks."""

from __future__ import annotations

import dataclasses
import random
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


def _parse_value(text: str, current: Any) -> Any:
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if isinstance(current, int):
        return int(float(text)) if "e" in text.lower() else int(text)
    if isinstance(current, float):
        return float(text)
    if current is None:
        for cast in (int, float):
            try:
                return cast(text)
            except ValueError:
                pass
        return None if text.lower() == "none" else text
    return text


def apply_overrides(config: Any, settings: list[str], exclude: tuple[str, ...] = ()) -> Any:
    """``config`` with ``KEY=VALUE`` settings applied (values parsed by the field's type);
    the fields in ``exclude`` are not settable.

    Raises:
        ValueError: an unknown key or a value of the wrong type, with a one-line message.
    """
    fields = {f.name for f in dataclasses.fields(config)} - set(exclude)
    known = ", ".join(sorted(fields))
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
        try:
            changes[key] = _parse_value(value.strip(), getattr(config, key))
        except ValueError as exc:
            raise ValueError(f"--set {key}: {exc}") from None
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
