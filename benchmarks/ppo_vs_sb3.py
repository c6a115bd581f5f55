"""Time to solve: the course's PPO trainer against Stable-Baselines3's PPO with the
rl-baselines3-zoo hyperparameters, side by side on this machine.

    python benchmarks/ppo_vs_sb3.py                       # CartPole-v1 and Pendulum-v1, 5 seeds
    python benchmarks/ppo_vs_sb3.py --envs CartPole-v1 --seeds 1 2 3

For every seed the two trainers run one after the other (alternating which goes first), each
in a fresh Python process, with one torch thread each. A run counts as solved when the mean
return of its last 20 finished training episodes reaches the env's threshold (CartPole-v1 475,
Pendulum-v1 -250); both stop there. The time is the wall time from the start of training
(after imports, environment and network construction) to that point. A run that does not
solve within its step budget counts its whole run time, and is marked.

Writes benchmarks/results/<env>.json (every run), docs/assets/benchmark.md (the table the
m09 page includes) and docs/assets/figures/benchmark_time_to_solve.png. Needs the
``benchmark`` extra: ``pip install -e ".[benchmark]"``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
TABLE = ROOT / "docs" / "assets" / "benchmark.md"
FIGURE = ROOT / "docs" / "assets" / "figures" / "benchmark_time_to_solve.png"

THRESHOLDS = {"CartPole-v1": 475.0, "Pendulum-v1": -250.0}
WINDOW = 20

# rl-baselines3-zoo, hyperparams/ppo.yml ("# Tuned" entries). lin_X is a linear schedule
# from X to 0 over the run, SB3's progress_remaining times X.
ZOO = {
    "CartPole-v1": {
        "n_envs": 8,
        "n_timesteps": 100_000,
        "kwargs": {
            "n_steps": 32,
            "batch_size": 256,
            "gae_lambda": 0.8,
            "gamma": 0.98,
            "n_epochs": 20,
            "ent_coef": 0.0,
            "learning_rate": ("lin", 0.001),
            "clip_range": ("lin", 0.2),
        },
    },
    "Pendulum-v1": {
        "n_envs": 4,
        "n_timesteps": 100_000,
        "kwargs": {
            "n_steps": 1024,
            "gae_lambda": 0.95,
            "gamma": 0.9,
            "n_epochs": 10,
            "ent_coef": 0.0,
            "learning_rate": 1e-3,
            "clip_range": 0.2,
            "use_sde": True,
            "sde_sample_freq": 4,
        },
    },
}


# ----------------------------------------------------------------------------- workers


def run_ours(env_id: str, seed: int) -> dict:
    from course.train import run

    summary = run(
        env_id,
        algo="ppo",
        impl="solutions",
        seed=seed,
        progress=False,
        out=f"/tmp/ppo-course-bench/{env_id}-s{seed}",
    )
    solved = bool(summary["solved"])
    return {
        "solved": solved,
        "seconds": summary["solved_at_seconds"] if solved else summary["wall_seconds"],
        "steps": summary["solved_at_steps"] if solved else summary["total_steps"],
    }


def run_sb3(env_id: str, seed: int) -> dict:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env

    torch.set_num_threads(1)
    zoo = ZOO[env_id]
    kwargs = {}
    for key, value in zoo["kwargs"].items():
        if isinstance(value, tuple) and value[0] == "lin":
            start = value[1]
            kwargs[key] = lambda progress, start=start: progress * start
        else:
            kwargs[key] = value

    class StopWhenSolved(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.returns: list[float] = []
            self.solved_at: tuple[float, int] | None = None
            self.start = 0.0

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.returns.append(float(info["episode"]["r"]))
            recent = self.returns[-WINDOW:]
            if len(recent) == WINDOW and sum(recent) / WINDOW >= THRESHOLDS[env_id]:
                self.solved_at = (time.perf_counter() - self.start, self.num_timesteps)
                return False
            return True

    envs = make_vec_env(env_id, n_envs=zoo["n_envs"], seed=seed)
    model = PPO("MlpPolicy", envs, seed=seed, verbose=0, device="cpu", **kwargs)
    callback = StopWhenSolved()
    model.learn(total_timesteps=zoo["n_timesteps"], callback=callback)
    if callback.solved_at is not None:
        return {"solved": True, "seconds": callback.solved_at[0], "steps": callback.solved_at[1]}
    return {
        "solved": False,
        "seconds": time.perf_counter() - callback.start,
        "steps": model.num_timesteps,
    }


def worker(which: str, env_id: str, seed: int) -> None:
    import torch

    torch.set_num_threads(1)
    result = (run_ours if which == "ours" else run_sb3)(env_id, seed)
    print("RESULT " + json.dumps(result))


def launch(which: str, env_id: str, seed: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", which, "--envs", env_id, "--seeds", str(seed)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{which} {env_id} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


# ----------------------------------------------------------------------------- report


def machine(with_sb3: bool = True) -> str:
    """The machine and the versions a run used (Stable-Baselines3's only where it ran)."""
    import torch

    try:
        import stable_baselines3

        sb3 = stable_baselines3.__version__
    except ImportError:
        sb3 = "not installed"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    sb3_version = f"Stable-Baselines3 {sb3}, " if with_sb3 else ""
    return (
        f"{cpu}, {cores} cores available, Python {platform.python_version()}, "
        f"torch {torch.__version__}, {sb3_version}one torch thread per run"
    )


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def write_report(results: dict[str, list[dict]]) -> None:
    lines = [
        "| env | seeds | course PPO: median time to solve | SB3 zoo PPO: median time to "
        "solve | ratio (course / SB3) | course: median steps | SB3: median steps | solved "
        "(course, SB3) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for env_id, runs in results.items():
        ours = [r for r in runs if r["trainer"] == "ours"]
        sb3 = [r for r in runs if r["trainer"] == "sb3"]
        t_ours = _median([r["seconds"] for r in ours])
        t_sb3 = _median([r["seconds"] for r in sb3])
        steps_ours = _median([r["steps"] for r in ours])
        steps_sb3 = _median([r["steps"] for r in sb3])
        lines.append(
            f"| {env_id} | {len(ours)} | {t_ours:.1f} s | {t_sb3:.1f} s | {t_ours / t_sb3:.2f} | "
            f"{steps_ours:,.0f} | {steps_sb3:,.0f} | {sum(r['solved'] for r in ours)}/{len(ours)}, "
            f"{sum(r['solved'] for r in sb3)}/{len(sb3)} |"
        )
    lines += [
        "",
        f"Measured on {machine()}, {time.strftime('%Y-%m-%d')}, with "
        "`python benchmarks/ppo_vs_sb3.py`. Times are wall-clock seconds from the start of "
        "training to the first moment the mean return of the last 20 finished training "
        "episodes reaches the threshold; an unsolved run counts its whole time.",
        "",
    ]
    TABLE.write_text("\n".join(lines))
    _plot(results)


def _plot(results: dict[str, list[dict]]) -> None:
    """One panel per env, stacked, in the course's figure style (legible on a phone)."""
    sys.path.insert(0, str(ROOT))
    from course.figures.style import RC, panels, pyplot, save

    with pyplot().rc_context(RC):
        fig, axes = panels(len(results), height=3.0, squeeze=False)
        for ax, (env_id, runs) in zip(axes[:, 0], results.items(), strict=True):
            for y, (trainer, color) in enumerate((("ours", "tab:blue"), ("sb3", "tab:orange"))):
                times = [r["seconds"] for r in runs if r["trainer"] == trainer]
                solved = [r["solved"] for r in runs if r["trainer"] == trainer]
                for t, ok in zip(times, solved, strict=True):
                    ax.plot(t, y, "o" if ok else "x", color=color, alpha=0.8, ms=8)
                ax.vlines(_median(times), y - 0.3, y + 0.3, color=color, lw=2.5)
                ax.text(_median(times), y + 0.34, f"median {_median(times):.1f} s", ha="center")
            ax.set_yticks([0, 1], ["course PPO", "SB3 zoo PPO"])
            ax.set_ylim(-0.6, 1.8)
            ax.set_xlim(0, 1.15 * max(r["seconds"] for r in runs))
            ax.set_xlabel("seconds to solve")
            ax.set_title(f"{env_id}: one dot per seed (x: not solved)")
            ax.grid(alpha=0.3, axis="x")
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        save(fig, FIGURE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(THRESHOLDS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3, 4, 5])
    parser.add_argument("--worker", choices=["ours", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument(
        "--plot-only", action="store_true", help="redraw the figure from benchmarks/results/"
    )
    args = parser.parse_args(argv)
    if args.plot_only:
        _plot({env: json.loads((RESULTS / f"{env}.json").read_text()) for env in args.envs})
        return 0
    if args.worker:
        worker(args.worker, args.envs[0], args.seeds[0])
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for env_id in args.envs:
        runs = []
        for i, seed in enumerate(args.seeds):
            order = ("ours", "sb3") if i % 2 == 0 else ("sb3", "ours")
            for which in order:
                result = launch(which, env_id, seed)
                runs.append({"trainer": which, "seed": seed, **result})
                print(
                    f"{env_id} seed {seed} {which:4s}: "
                    f"{'solved' if result['solved'] else 'NOT solved'} in "
                    f"{result['seconds']:.1f} s, {result['steps']} steps",
                    flush=True,
                )
        results[env_id] = runs
        (RESULTS / f"{env_id}.json").write_text(json.dumps(runs, indent=2) + "\n")
    write_report(results)
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
