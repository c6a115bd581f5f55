"""m08's figure: a Gaussian policy whose samples can leave the action space. One action is
sampled by the reference ``GaussianActor.act``: the environment gets the clipped copy, the
rollout stores the sample and its log-density (the reference ``gaussian_log_prob``)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from course.figures.style import panels, save, styled

MEAN = 1.4
STD = 0.5
LOW, HIGH = -2.0, 2.0  # Pendulum-v1's torque bounds
FIRST_SEED = 0


def sample(impl=None) -> tuple[float, float, float]:
    """``(action, log_prob, env_action)`` from the reference actor with its mean set to MEAN
    and its spread to STD, for the first torch seed from FIRST_SEED whose sample lands
    beyond the upper bound."""
    if impl is None:
        from course.impl import Implementation

        impl = Implementation("solutions")
    actor = impl.function("m08", "GaussianActor")(1, 1, hidden=4, initial_log_std=math.log(STD))
    with torch.no_grad():
        for p in actor.mean_net.parameters():
            p.zero_()
        actor.mean_net[-1].bias.fill_(MEAN)
    obs, low, high = torch.zeros(1, 1), torch.tensor([LOW]), torch.tensor([HIGH])
    for seed in range(FIRST_SEED, FIRST_SEED + 1000):
        torch.manual_seed(seed)
        with torch.no_grad():
            action, log_prob, env_action = actor.act(obs, low, high)
        if float(action) > HIGH:
            return float(action), float(log_prob), float(env_action)
    raise RuntimeError("no sample beyond the bound")


@styled
def make(path: Path) -> None:
    from course.impl import Implementation

    impl = Implementation("solutions")
    log_prob_fn = impl.function("m08", "gaussian_log_prob")
    action, log_prob, env_action = sample(impl)

    def log_density(a: float | torch.Tensor) -> torch.Tensor:
        a = torch.as_tensor(a, dtype=torch.float32).reshape(-1, 1)
        mean = torch.full_like(a, MEAN)
        return log_prob_fn(mean, torch.tensor([math.log(STD)]), a)

    grid = torch.linspace(MEAN - 4 * STD, MEAN + 4 * STD, 401)
    density = log_density(grid).exp()
    beyond = 0.5 * math.erfc((HIGH - MEAN) / (STD * math.sqrt(2)))
    fig, ax = panels(1, height=4.6)
    ax.plot(grid, density, color="tab:blue", label="policy density π(a|s)")
    ax.fill_between(grid, density, where=grid >= HIGH, color="tab:orange", alpha=0.35, lw=0)
    ax.axvline(HIGH, color="black", lw=1)
    ax.plot([action], [math.exp(log_prob)], "o", ms=9, color="tab:blue")
    ax.plot([env_action], [float(log_density(env_action).exp())], "s", ms=9, color="tab:orange")
    ax.annotate(
        f"stored: a = {action:.2f}\nlog π(a) = {log_prob:.2f}",
        (action, math.exp(log_prob)),
        xytext=(action + 0.1, 0.45),
        arrowprops={"arrowstyle": "->"},
    )
    ax.annotate(
        f"env gets clip(a) = {env_action:g}\nlog π({env_action:g}) = "
        f"{float(log_density(env_action)):.2f}: not stored",
        (env_action, float(log_density(env_action).exp())),
        xytext=(grid[0].item() + 0.05, 0.62),
        arrowprops={"arrowstyle": "->"},
    )
    ax.text(
        HIGH + 0.45, 0.1, f"all of this\nbecomes {HIGH:g}\n(mass {beyond:.2f})", color="tab:red"
    )
    ax.set_xlabel(f"action (the env accepts [{LOW:g}, {HIGH:g}])")
    ax.set_ylabel("density")
    ax.set_ylim(0, float(density.max()) * 1.25)
    ax.set_title(f"Gaussian policy, μ = {MEAN:g}, σ = {STD:g}")
    ax.legend(loc="upper left")
    save(fig, path)


FIGURES = {"m08_gaussian_bounds.png": make}
