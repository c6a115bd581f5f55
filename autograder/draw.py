"""Reproducible random inputs for fixtures, hidden cases and properties."""

from __future__ import annotations

import torch


def generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def normal(g: torch.Generator, *shape: int, scale: float = 1.0) -> torch.Tensor:
    return torch.randn(*shape, generator=g) * scale


def uniform(g: torch.Generator, *shape: int, low: float = 0.0, high: float = 1.0) -> torch.Tensor:
    return low + (high - low) * torch.rand(*shape, generator=g)


def flags(g: torch.Generator, *shape: int, p: float = 0.25) -> torch.Tensor:
    """Bool tensor, True with probability ``p``."""
    return torch.rand(*shape, generator=g) < p


def integers(g: torch.Generator, low: int, high: int, *shape: int) -> torch.Tensor:
    """int64 in [low, high)."""
    return torch.randint(low, high, shape, generator=g)


def scalar(g: torch.Generator, low: float, high: float) -> float:
    """A Python float in [low, high), rounded to 4 decimals so fixtures stay readable."""
    return round(float(uniform(g, 1, low=low, high=high)), 4)


def size(g: torch.Generator, low: int, high: int) -> int:
    """A Python int in [low, high]."""
    return int(torch.randint(low, high + 1, (1,), generator=g))
