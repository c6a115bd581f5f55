"""Learning curves of REINFORCE (m01) and REINFORCE with a baseline (m02) on CartPole-v1,
trained with the reference implementation on three seeds."""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

from course.envs import SOLVED_THRESHOLDS, SOLVED_WINDOW
from course.figures.style import panels, save, styled
from course.plotting import rolling_mean

SEEDS = (1, 2, 3)
ENV = "CartPole-v1"


def _episodes(algo: str, seed: int) -> tuple[list[int], list[float]]:
    from course.train import run

    with tempfile.TemporaryDirectory() as folder:
        run(ENV, algo=algo, impl="solutions", seed=seed, out=folder, progress=False)
        with open(Path(folder) / "episodes.csv") as f:
            rows = list(csv.DictReader(f))
    return [int(r["global_step"]) for r in rows], [float(r["return"]) for r in rows]


# One line style per seed, the same for every algorithm, so that a reader can follow a
# run of one seed and compare it with the other algorithm's run of the same seed.
SEED_STYLES = dict(zip(SEEDS, ("-", "--", ":"), strict=True))


def _curves(ax, algo: str, color: str, label: str) -> None:
    for i, seed in enumerate(SEEDS):
        steps, returns = _episodes(algo, seed)
        ax.plot(
            steps,
            rolling_mean(returns, SOLVED_WINDOW),
            color=color,
            ls=SEED_STYLES[seed],
            lw=1.5,
            alpha=0.9,
            label=label if i == 0 else None,
        )
        ax.plot(steps[-1:], rolling_mean(returns, SOLVED_WINDOW)[-1:], "o", color=color, ms=6)


def _finish(ax, fig, path: Path, title: str) -> None:
    threshold = SOLVED_THRESHOLDS[ENV]
    ax.axhline(threshold, color="tab:green", ls="-.", lw=1, label=f"solved ({threshold:g})")
    for seed, style in SEED_STYLES.items():
        ax.plot([], [], color="black", ls=style, lw=1.5, label=f"seed {seed}")
    ax.set_xlabel("environment steps")
    ax.set_ylabel(f"mean return, last {SOLVED_WINDOW} episodes")
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=9)
    save(fig, path)


@styled
def reinforce_curves(path: Path) -> None:
    fig, ax = panels(1, height=4.4)
    _curves(ax, "reinforce", "tab:blue", "REINFORCE, seeds 1-3")
    _finish(ax, fig, path, "REINFORCE, CartPole-v1 (dots: solved, the run stops)")


@styled
def baseline_comparison(path: Path) -> None:
    fig, ax = panels(1, height=4.4)
    _curves(ax, "reinforce", "tab:blue", "REINFORCE (m01)")
    _curves(ax, "reinforce-baseline", "tab:orange", "with a learned baseline (m02)")
    _finish(ax, fig, path, "CartPole-v1, seeds 1-3")


FIGURES = {
    "m01_reinforce_cartpole.png": reinforce_curves,
    "m02_baseline_comparison.png": baseline_comparison,
}
