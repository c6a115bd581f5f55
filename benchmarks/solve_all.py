"""Train PPO with the reference functions on every task of the course, several seeds, and
write the table of what it reached (docs/assets/ppo_training.md, shown on the m09 page).

    python benchmarks/solve_all.py                        # CartPole, Acrobot, Pendulum; seeds 1-3
    python benchmarks/solve_all.py --envs Pendulum-v1 --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLE = ROOT / "docs" / "assets" / "ppo_training.md"
ENVS = ["CartPole-v1", "Acrobot-v1", "Pendulum-v1"]


def main(argv: list[str] | None = None) -> int:
    import torch

    from course.envs import SOLVED_THRESHOLDS
    from course.train import run

    sys.path.insert(0, str(ROOT))
    from benchmarks.ppo_vs_sb3 import machine

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--envs", nargs="+", default=ENVS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = [
        "| env | threshold | seeds solved | median steps to solve | median seconds to solve "
        "| final mean return (per seed) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    record = {}
    for env_id in args.envs:
        summaries = []
        for seed in args.seeds:
            with tempfile.TemporaryDirectory() as folder:
                summary = run(
                    env_id, algo="ppo", impl="solutions", seed=seed, out=folder, progress=False
                )
            summaries.append(summary)
            print(
                f"{env_id} seed {seed}: solved={summary['solved']} at "
                f"{summary['solved_at_steps']} steps, {summary['solved_at_seconds']} s",
                flush=True,
            )
        solved = [s for s in summaries if s["solved"]]
        steps = statistics.median([s["solved_at_steps"] for s in solved]) if solved else None
        secs = statistics.median([s["solved_at_seconds"] for s in solved]) if solved else None
        finals = ", ".join(f"{s['final_mean_return']:g}" for s in summaries)
        rows.append(
            f"| {env_id} | {SOLVED_THRESHOLDS[env_id]:g} | {len(solved)}/{len(summaries)} | "
            + (f"{steps:,.0f} | {secs:.1f} s" if solved else "- | -")
            + f" | {finals} |"
        )
        record[env_id] = [
            {
                k: s[k]
                for k in (
                    "seed",
                    "solved",
                    "solved_at_steps",
                    "solved_at_seconds",
                    "final_mean_return",
                    "total_steps",
                    "wall_seconds",
                )
            }
            for s in summaries
        ]
    rows += [
        "",
        f"Measured on {machine(with_sb3=False)}, {time.strftime('%Y-%m-%d')}: each run stops "
        "once the mean return of its last 20 finished training episodes reaches the threshold.",
        "",
    ]
    TABLE.write_text("\n".join(rows))
    (ROOT / "benchmarks" / "results").mkdir(parents=True, exist_ok=True)
    (ROOT / "benchmarks" / "results" / "solve_all.json").write_text(
        json.dumps(record, indent=2) + "\n"
    )
    print(TABLE.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
