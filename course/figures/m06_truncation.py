"""m06's figure: the advantages along one episode cut by a time limit, computed by the
reference ``compute_gae`` twice: with the time-limit bootstrap, and with the shortcut that
treats the truncation as a termination (``done`` used as ``terminated``)."""

from __future__ import annotations

from pathlib import Path

import torch

from course.figures.style import panels, save, styled

STEPS = 200  # the episode's length: the time limit stops it after the last step
GAMMA = 0.99
GAE_LAMBDA = 0.95
SHOWN = 60  # the last steps of the episode, on the plot


def advantages(as_termination: bool, gae_fn=None) -> torch.Tensor:
    """(T,) advantages of an episode of reward 1 per step, truncated after step T - 1, with a
    critic that says 1 / (1 - gamma) everywhere, the value of an endless episode."""
    if gae_fn is None:
        from course.impl import Implementation

        gae_fn = Implementation("solutions").function("m06", "compute_gae")
    rewards = torch.ones(STEPS, 1)
    values = torch.full((STEPS, 1), 1.0 / (1.0 - GAMMA))
    next_values = values.clone()  # V(s_{t+1}); at the cut, V of the final observation
    cut = torch.zeros(STEPS, 1, dtype=torch.bool)
    cut[-1] = True
    terminated = cut if as_termination else torch.zeros_like(cut)
    adv, _ = gae_fn(rewards, values, next_values, terminated, cut, GAMMA, GAE_LAMBDA)
    return adv[:, 0]


@styled
def make(path: Path) -> None:
    right = advantages(as_termination=False)
    shortcut = advantages(as_termination=True)
    steps = torch.arange(STEPS)[-SHOWN:]
    horizon = 1.0 / (1.0 - GAMMA * GAE_LAMBDA)
    fig, ax = panels(1, height=4.4)
    ax.axvspan(STEPS - horizon, STEPS - 1, color="tab:red", alpha=0.1, lw=0)
    ax.plot(steps, right[-SHOWN:], color="tab:blue", label="with the bootstrap (m06)")
    ax.plot(
        steps, shortcut[-SHOWN:], "o-", ms=3, color="tab:red", label="truncation as termination"
    )
    ax.set_xlabel(f"step of the episode (the time limit cuts it after step {STEPS - 1})")
    ax.set_ylabel("advantage")
    ax.set_title(
        f"critic right everywhere (V = {1 / (1 - GAMMA):g}), γ = {GAMMA}, λ = {GAE_LAMBDA}"
    )
    ax.text(
        STEPS - horizon,
        float(shortcut[-1]) * 0.55,
        f"1 / (1 - γλ) ≈ {horizon:.0f} steps ",
        ha="right",
        color="tab:red",
    )
    ax.legend(loc="lower left")
    save(fig, path)


FIGURES = {"m06_truncation_bias.png": make}
