"""Figures: learning curves of training runs (PNG, drawn headless with matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def rolling_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Mean of the last ``window`` values at each point (fewer at the start)."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    return (sums[idx] - sums[lo]) / (idx - lo)


def learning_curve(
    steps: Sequence[int],
    returns: Sequence[float],
    path: Path,
    title: str,
    threshold: float | None = None,
    solved_at: int | None = None,
    window: int = 20,
) -> Path:
    """Episode returns against environment steps, with their rolling mean."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4), dpi=110)
    if len(returns):
        ax.scatter(steps, returns, s=4, alpha=0.25, color="tab:blue", label="episode return")
        ax.plot(
            steps,
            rolling_mean(returns, window),
            color="tab:blue",
            lw=2,
            label=f"mean of last {window}",
        )
    if threshold is not None:
        ax.axhline(threshold, color="tab:green", ls="--", lw=1, label=f"solved ({threshold:g})")
    if solved_at is not None:
        ax.axvline(solved_at, color="tab:green", lw=1, alpha=0.6)
    ax.set_xlabel("environment steps")
    ax.set_ylabel("return")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
