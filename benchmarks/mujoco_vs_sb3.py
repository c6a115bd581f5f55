"""PPO on MuJoCo at the PPO paper's scale: the course's reference against Stable-Baselines3.

(Not named mujoco.py: run as a script, that file would stand in for the mujoco package.)

    python benchmarks/mujoco_vs_sb3.py --envs Hopper-v5 --seeds 1     # one task, one seed, 1M
    python benchmarks/mujoco_vs_sb3.py --envs Hopper-v5 --seeds 2 --steps 200000
    python benchmarks/mujoco_vs_sb3.py --report                       # table and plot only

Both trainers use the PPO paper's MuJoCo hyperparameters (Schulman et al. 2017, Table 3:
horizon 2048, one env, Adam 3e-4 annealed to 0, 10 epochs, minibatch 64, gamma 0.99,
lambda 0.95, clip 0.2, two tanh layers of 64 units) with running normalisation of the
observations and of the rewards by the return's spread: the course's m11 for the reference,
``VecNormalize`` for SB3. For every task and seed the two run one after the other
(alternating which goes first), each in a fresh Python process with one torch thread.

A whole table (3 tasks x 3 seeds x 2 trainers x 1M steps) takes hours on a 2-core machine,
so a call runs what it is asked and merges its runs into benchmarks/results/mujoco.json
(a run of the same trainer, task, seed and step budget replaces the old one); the report
is written from everything recorded: docs/assets/mujoco.md (the table) and
docs/assets/figures/mujoco_curves.png (the learning curves, median and range over seeds).

Recorded per run: the mean return of the last 10 finished training episodes, a
10-episode evaluation with the normalisation statistics frozen (actions sampled from the
policy, as in training), wall-clock seconds of training (after imports and set-up), and
steps per second. Needs the ``mujoco`` and ``benchmark`` extras.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "mujoco.json"
TABLE = ROOT / "docs" / "assets" / "mujoco.md"
FIGURE = ROOT / "docs" / "assets" / "figures" / "mujoco_curves.png"

TASKS = ("Hopper-v5", "HalfCheetah-v5", "Walker2d-v5")
STEPS = 1_000_000
LAST = 10
EVAL_EPISODES = 10

# ----------------------------------------------------------------------------- workers


def run_ours(env_id: str, seed: int, steps: int) -> dict:
    import csv

    from course.train import run

    out = Path(f"/tmp/ppo-course-mujoco/{env_id}-s{seed}-{steps}")
    summary = run(
        env_id,
        algo="ppo",
        impl="solutions",
        seed=seed,
        total_steps=steps,
        progress=False,
        out=out,
        eval_episodes=EVAL_EPISODES,
    )
    with (out / "episodes.csv").open() as handle:
        curve = [(int(r["global_step"]), float(r["return"])) for r in csv.DictReader(handle)]
    return {
        "seconds": summary["wall_seconds"],
        "steps": summary["total_steps"],
        "curve": curve,
        "eval_returns": summary["eval_returns"],
    }


def run_sb3(env_id: str, seed: int, steps: int) -> dict:
    import gymnasium as gym
    import numpy as np
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    class Curve(BaseCallback):
        def __init__(self) -> None:
            super().__init__()
            self.curve: list[tuple[int, float]] = []
            self.start = 0.0

        def _on_training_start(self) -> None:
            self.start = time.perf_counter()

        def _on_step(self) -> bool:
            for info in self.locals["infos"]:
                if "episode" in info:
                    self.curve.append((self.num_timesteps, float(info["episode"]["r"])))
            return True

    envs = VecNormalize(make_vec_env(env_id, n_envs=1, seed=seed), gamma=0.99)
    model = PPO(
        "MlpPolicy",
        envs,
        n_steps=2048,
        batch_size=64,
        n_epochs=10,
        learning_rate=lambda progress: progress * 3e-4,
        gamma=0.99,
        gae_lambda=0.95,
        clip_range=0.2,
        ent_coef=0.0,
        vf_coef=0.5,
        max_grad_norm=0.5,
        policy_kwargs={
            "net_arch": {"pi": [64, 64], "vf": [64, 64]},
            "activation_fn": torch.nn.Tanh,
        },
        seed=seed,
        device="cpu",
        verbose=0,
    )
    callback = Curve()
    model.learn(total_timesteps=steps, callback=callback)
    seconds = time.perf_counter() - callback.start
    # The evaluation: the statistics frozen, raw rewards, actions sampled as in training.
    envs.training = False
    env = gym.make(env_id)
    returns = []
    obs, _ = env.reset(seed=seed + 10_000)
    for _ in range(EVAL_EPISODES):
        total, done = 0.0, False
        while not done:
            action, _ = model.predict(envs.normalize_obs(obs[None]), deterministic=False)
            obs, reward, terminated, truncated, _ = env.step(np.clip(action[0], -1.0, 1.0))
            total += float(reward)
            done = terminated or truncated
        returns.append(round(total, 4))
        obs, _ = env.reset()
    return {
        "seconds": seconds,
        "steps": model.num_timesteps,
        "curve": callback.curve,
        "eval_returns": returns,
    }


def worker(which: str, env_id: str, seed: int, steps: int) -> None:
    import torch

    torch.set_num_threads(1)
    result = (run_ours if which == "ours" else run_sb3)(env_id, seed, steps)
    print("RESULT " + json.dumps(result))


def launch(which: str, env_id: str, seed: int, steps: int) -> dict:
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--worker",
            which,
            "--envs",
            env_id,
            "--seeds",
            str(seed),
            "--steps",
            str(steps),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{which} {env_id} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1].removeprefix("RESULT "))


# ----------------------------------------------------------------------------- report


def load() -> list[dict]:
    return json.loads(RESULTS.read_text()) if RESULTS.is_file() else []


def merge(runs: list[dict], new: dict) -> list[dict]:
    key = ("trainer", "env", "seed", "budget")
    kept = [r for r in runs if tuple(r[k] for k in key) != tuple(new[k] for k in key)]
    return [*kept, new]


def summarise(run: dict) -> dict:
    last = [r for _, r in run["curve"][-LAST:]]
    return {
        "final": statistics.mean(last) if last else float("nan"),
        "eval": statistics.mean(run["eval_returns"]) if run["eval_returns"] else float("nan"),
        "seconds": run["seconds"],
        "sps": run["steps"] / run["seconds"] if run["seconds"] else float("nan"),
    }


def write_report(runs: list[dict], budget: int) -> str:
    from benchmarks.ppo_vs_sb3 import machine

    lines = [
        f"| task | trainer | seeds | final return (last {LAST} episodes), median | "
        f"evaluation ({EVAL_EPISODES} episodes), median | wall time, median | steps/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for env_id in TASKS:
        for trainer, label in (("ours", "course PPO + m11"), ("sb3", "SB3 PPO + VecNormalize")):
            mine = [
                summarise(r)
                for r in runs
                if (r["env"], r["trainer"], r["budget"]) == (env_id, trainer, budget)
            ]
            if not mine:
                continue
            med = {k: statistics.median(s[k] for s in mine) for k in mine[0]}
            lines.append(
                f"| {env_id} | {label} | {len(mine)} | {med['final']:.0f} | {med['eval']:.0f} | "
                f"{med['seconds']:.0f} s | {med['sps']:.0f} |"
            )
    lines += [
        "",
        f"{budget:,} steps per run. Measured on {machine()} with `python "
        "benchmarks/mujoco_vs_sb3.py`; every run is in benchmarks/results/mujoco.json.",
        "",
    ]
    text = "\n".join(lines)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(text)
    _plot(runs, budget)
    return text


def _plot(runs: list[dict], budget: int) -> None:
    """One panel per task: each trainer's median over seeds of the return of the episodes
    finished so far (binned by 20k steps), with the range over seeds as a band."""
    import warnings

    import numpy as np

    warnings.filterwarnings("ignore", "All-NaN slice", RuntimeWarning)  # bins before any episode
    sys.path.insert(0, str(ROOT))
    from course.figures.style import RC, panels, pyplot, save

    tasks = [t for t in TASKS if any(r["env"] == t and r["budget"] == budget for r in runs)]
    if not tasks:
        return
    edges = np.linspace(0, budget, 51)
    with pyplot().rc_context(RC):
        fig, axes = panels(len(tasks), height=3.0, squeeze=False)
        for ax, env_id in zip(axes[:, 0], tasks, strict=True):
            for trainer, color, label in (
                ("ours", "tab:blue", "course PPO + m11"),
                ("sb3", "tab:orange", "SB3 PPO"),
            ):
                curves = []
                for r in runs:
                    if (r["env"], r["trainer"], r["budget"]) != (env_id, trainer, budget):
                        continue
                    steps = np.array([s for s, _ in r["curve"]], dtype=float)
                    returns = np.array([v for _, v in r["curve"]], dtype=float)
                    which = np.digitize(steps, edges) - 1
                    binned = [
                        returns[which == i].mean() if (which == i).any() else np.nan
                        for i in range(len(edges) - 1)
                    ]
                    curves.append(binned)
                if not curves:
                    continue
                curves = np.array(curves)
                mid = (edges[1:] + edges[:-1]) / 2
                ax.plot(mid, np.nanmedian(curves, 0), color=color, label=f"{label} ({len(curves)})")
                ax.fill_between(
                    mid, np.nanmin(curves, 0), np.nanmax(curves, 0), color=color, alpha=0.2
                )
            ax.set_title(env_id)
            ax.set_xlabel("environment steps")
            ax.set_ylabel("episode return")
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left")
        FIGURE.parent.mkdir(parents=True, exist_ok=True)
        save(fig, FIGURE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--steps", type=int, default=STEPS, help="steps per run (1,000,000)")
    parser.add_argument("--worker", choices=["ours", "sb3"], help=argparse.SUPPRESS)
    parser.add_argument("--report", action="store_true", help="only write the table and plot")
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.envs[0], args.seeds[0], args.steps)
        return 0
    if not args.report:
        for env_id in args.envs:
            for i, seed in enumerate(args.seeds):
                for which in ("ours", "sb3") if i % 2 == 0 else ("sb3", "ours"):
                    result = launch(which, env_id, seed, args.steps)
                    record = {
                        "trainer": which,
                        "env": env_id,
                        "seed": seed,
                        "budget": args.steps,
                        "date": time.strftime("%Y-%m-%d"),
                        **result,
                    }
                    RESULTS.parent.mkdir(parents=True, exist_ok=True)
                    runs = merge(load(), record)
                    RESULTS.write_text(json.dumps(runs) + "\n")
                    s = summarise(record)
                    print(
                        f"{env_id} seed {seed} {which:4s}: final {s['final']:.0f}, eval "
                        f"{s['eval']:.0f}, {s['seconds']:.0f} s, {s['sps']:.0f} steps/s",
                        flush=True,
                    )
    print(write_report(load(), args.steps))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
