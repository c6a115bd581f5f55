"""What a training run leaves behind: a progress bar, metrics.csv, episodes.csv,
TensorBoard events (when tensorboard is installed), curve.png, agent.pt and summary.json."""

from __future__ import annotations

import contextlib
import csv
import json
import math
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from course.envs import SOLVED_WINDOW, EpisodeStats


def _tensorboard(folder: Path) -> Any | None:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception:  # tensorboard is optional
        return None
    return SummaryWriter(str(folder))


class RunLog:
    """Records one training run.

    Args:
        folder: where the files go (created).
        header: what the summary starts with (env, algo, seed, impl, config).
        threshold: the return at which the task counts as solved, or None.
        total_steps: the step budget, for the progress bar.
        progress: show a progress bar.
    """

    def __init__(
        self,
        folder: Path,
        header: dict[str, Any],
        threshold: float | None,
        total_steps: int,
        num_envs: int,
        progress: bool = True,
    ) -> None:
        self.folder = Path(folder)
        self.created = not self.folder.exists()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.agent: dict[str, Any] | None = None
        self.header = header
        self.threshold = threshold
        self.episodes = EpisodeStats(num_envs)
        self.start = time.perf_counter()
        self.stopped: float | None = None
        self.solved_at_steps: int | None = None
        self.solved_at_seconds: float | None = None
        self._csv_file = None
        self._csv: csv.DictWriter | None = None
        self._tb = _tensorboard(self.folder)
        self._bar = None
        self._title = f"{header.get('env')} {header.get('algo')}"
        if progress:
            from tqdm import tqdm

            self._bar = tqdm(
                total=total_steps,
                unit="step",
                unit_scale=True,
                desc=self._title,
                dynamic_ncols=True,
                mininterval=0.5,
            )
        (self.folder / "config.json").write_text(json.dumps(header, indent=2) + "\n")

    def restart_clock(self) -> None:
        """Start timing now: call it once the set-up (networks, optimiser) is done, right
        before the first environment step, so the times measure training alone. The
        progress bar's clock restarts too: its rate and ETA count training steps only."""
        self.start = time.perf_counter()
        if self._bar is not None:
            self._bar.reset()

    @contextlib.contextmanager
    def warm_up(self, what: str = "compiling") -> Iterator[None]:
        """A phase before training (torch.compile's first calls): the bar says so while it
        lasts, then one line gives its seconds. Call :meth:`restart_clock` after it, so
        that the warm-up is in neither the run's times nor the bar's rate."""
        start = time.perf_counter()
        if self._bar is not None:
            self._bar.set_description_str(f"{self._title} warm-up ({what})", refresh=True)
        yield
        seconds = time.perf_counter() - start
        if self._bar is not None:
            self._bar.write(f"{self._title} warm-up ({what}): {seconds:.1f} s", file=sys.stderr)
            self._bar.set_description_str(self._title, refresh=False)

    def keep_agent(self, kind: str, net: Any, normalizer: Any = None) -> None:
        """Tell the log which network is the agent (saved as agent.pt at the end): ``kind``
        as :func:`course.play.save_agent` takes it, and the observation normalizer if any."""
        self.agent = {"kind": kind, "net": net, "normalizer": normalizer}

    def stop_clock(self) -> None:
        """Training is over: ``elapsed`` stays at this time (the evaluation is not timed)."""
        self.stopped = time.perf_counter()

    @property
    def elapsed(self) -> float:
        return (self.stopped or time.perf_counter()) - self.start

    def step(self, rewards, dones, global_step: int) -> None:
        """Record one vector step of rewards and episode ends."""
        self.episodes.update(rewards, dones, global_step)
        if self.solved_at_steps is None and self.episodes.solved(self.threshold):
            self.solved_at_steps = global_step
            self.solved_at_seconds = self.elapsed

    @property
    def solved(self) -> bool:
        return self.solved_at_steps is not None

    def log(self, global_step: int, metrics: dict[str, float], advanced: int) -> None:
        """One row of metrics after an update; ``advanced`` steps since the last row."""
        row = {
            "global_step": global_step,
            "seconds": round(self.elapsed, 3),
            "episodes": len(self.episodes.returns),
            "mean_return": self.episodes.recent_mean(),
            **metrics,
        }
        if self._csv is None:
            self._csv_file = open(self.folder / "metrics.csv", "w", newline="")  # noqa: SIM115
            self._csv = csv.DictWriter(self._csv_file, fieldnames=list(row))
            self._csv.writeheader()
        self._csv.writerow({k: row.get(k) for k in self._csv.fieldnames})
        self._csv_file.flush()
        if self._tb is not None:
            for key, value in row.items():
                if key != "global_step" and value is not None and not _isnan(value):
                    self._tb.add_scalar(f"train/{key}", value, global_step)
        if self._bar is not None:
            self._bar.update(advanced)
            mean = row["mean_return"]
            self._bar.set_postfix_str(
                f"return {mean:.1f}" if not _isnan(mean) else "return -", refresh=False
            )

    def discard(self) -> None:
        """Close without writing results, and remove what this run wrote (a run that
        stopped before it started, on a missing function, say)."""
        if self._bar is not None:
            self._bar.close()
        if self._csv_file is not None:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()
        if not self.folder.is_dir():
            return
        for path in self.folder.iterdir():
            if path.name in WRITTEN or path.name.startswith("events.out"):
                path.unlink()
        if self.created and not any(self.folder.iterdir()):
            self.folder.rmdir()

    def close(self, global_step: int, evaluation: dict[str, Any] | None = None) -> dict[str, Any]:
        """Write episodes.csv, curve.png and summary.json; return the summary.
        ``evaluation`` (the final agent's, :func:`course.play.evaluate`) goes next to the
        training criterion."""
        if self._bar is not None:
            self._bar.close()
        if self._csv_file is not None:
            self._csv_file.close()
        if self._tb is not None:
            self._tb.close()
        stats = self.episodes
        with open(self.folder / "episodes.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["episode", "global_step", "return", "length"])
            for i, (step, ret, length) in enumerate(
                zip(stats.finished_at, stats.returns, stats.lengths, strict=True)
            ):
                writer.writerow([i, step, ret, length])
        final = stats.recent_mean()
        summary = {
            **{k: v for k, v in self.header.items() if k != "config"},
            "total_steps": global_step,
            "wall_seconds": round(self.elapsed, 2),
            "threshold": self.threshold,
            "solved": self.solved,
            "solved_at_steps": self.solved_at_steps,
            "solved_at_seconds": None
            if self.solved_at_seconds is None
            else round(self.solved_at_seconds, 2),
            "final_mean_return": None if _isnan(final) else round(final, 2),
            **(evaluation or {}),
            "episodes": len(stats.returns),
            "config": self.header.get("config"),
        }
        from course.plotting import learning_curve

        learning_curve(
            stats.finished_at,
            stats.returns,
            self.folder / "curve.png",
            title=f"{self.header.get('env')}: {self.header.get('algo')} "
            f"(impl {self.header.get('impl')}, seed {self.header.get('seed')})",
            threshold=self.threshold,
            solved_at=self.solved_at_steps,
            window=SOLVED_WINDOW,
        )
        (self.folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        return summary


#: The files a run writes (removed again when it stops on an error).
WRITTEN = (
    "config.json",
    "metrics.csv",
    "episodes.csv",
    "curve.png",
    "summary.json",
    "agent.pt",
)


def _isnan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)
