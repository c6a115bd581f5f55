"""What the properties of m10 expect, computed from the definitions (oracles)."""

from __future__ import annotations

from typing import Any

import torch


def _euler_positions(inputs: dict[str, Any]) -> torch.Tensor:
    """Explicit Euler: x' = x + 0.02 x_dot and theta' = theta + 0.02 theta_dot."""
    state = inputs["state"]
    return torch.stack([state[:, 0] + 0.02 * state[:, 1], state[:, 2] + 0.02 * state[:, 3]], -1)


def _rows_loop(inputs: dict[str, Any]) -> torch.Tensor:
    """The autoreset written as a loop over rows (small N only)."""
    triples = zip(inputs["state"], inputs["done"], inputs["fresh"], strict=True)
    rows = [f if d else s for s, d, f in triples]
    return torch.stack(rows)


def _stats_loop(inputs: dict[str, Any]):
    """episode_stats written as a loop over environments (small N only)."""
    running, total, count = [], 0.0, 0
    for g, r, d in zip(inputs["running_return"], inputs["reward"], inputs["done"], strict=True):
        g = float(g) + float(r)
        if bool(d):
            total, count = total + g, count + 1
            g = 0.0
        running.append(g)
    return (
        torch.tensor(running),
        torch.tensor(total, dtype=torch.float32),
        torch.tensor(count, dtype=torch.int64),
    )


def _terminated_in_float64(inputs: dict[str, Any]) -> torch.Tensor:
    """gymnasium's test, row by row in Python floats (float64)."""
    import math

    limit = 12 * 2 * math.pi / 360
    ended = []
    for x, _, theta, _ in inputs["state"].tolist():
        ended.append(x < -2.4 or x > 2.4 or theta < -limit or theta > limit)
    return torch.tensor(ended)


ORACLES = {
    "terminated_in_float64": _terminated_in_float64,
    "euler_positions": _euler_positions,
    "rows_loop": _rows_loop,
    "stats_loop": _stats_loop,
}
