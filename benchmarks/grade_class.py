"""Benchmark: grade a generated class with ``ppo-course grade``, sandboxed, and print the
figures an instructor plans with.

The class: 40 correct submissions (the reference), 30 with a realistic mistake (one
catalogued mistake of one function, spread over the modules), 20 untouched stubs and 10
misbehaving ones (hang, crash, memory bomb, prints, import of the reference, ...), every
submission with all ten modules. The script grades it with ``--jobs`` (default 2),
samples the memory of the grader and of every worker process while it runs, and prints:
wall time, time per submission, peak memory of the grader process, peak memory of one
worker, and peak memory per job (the grader's share plus the job's workers at once).
Then it times ``ppo-course check m01`` (a student's single module, no reference present),
``ppo-course check m01 --impl solutions``, and a bare ``import torch``, the floor under
both (the worker imports torch while the command does).

    python benchmarks/grade_class.py [--students 100] [--jobs 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile import ATTACKS  # noqa: E402

# One realistic mistake per entry: (module file, text in the reference, replacement).
MISTAKES = [
    ("m01_policy_gradient.py", "gamma * not_done[t] * running", "gamma * running"),
    ("m02_value_baseline.py", "returns - values.detach()", "values.detach() - returns"),
    ("m04_ppo_clip.py", "torch.max(", "torch.min("),
    ("m06_gae.py", "gae_lambda *", "1.0 *"),
    ("m08_gaussian_policy.py", "log_std.exp()", "log_std"),
]


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(entry))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def make_class(root: Path, students: int) -> None:
    solutions = ROOT / "solutions"
    exercises = ROOT / "exercises"
    n_correct = students * 40 // 100
    n_wrong = students * 30 // 100
    n_stub = students * 20 // 100
    n_bad = students - n_correct - n_wrong - n_stub
    attacks = list(ATTACKS.items())
    for i in range(students):
        folder = root / f"student{i:03d}"
        folder.mkdir(parents=True)
        source = exercises if n_correct + n_wrong <= i < n_correct + n_wrong + n_stub else solutions
        for path in source.glob("m[0-9][0-9]_*.py"):
            shutil.copyfile(path, folder / path.name)
        if n_correct <= i < n_correct + n_wrong:
            name, old, new = MISTAKES[i % len(MISTAKES)]
            text = (folder / name).read_text()
            if old in text:
                (folder / name).write_text(text.replace(old, new, 1))
        elif i >= n_correct + n_wrong + n_stub:
            _, attack = attacks[(i - n_correct - n_wrong - n_stub) % len(attacks)]
            attack = attack.format(
                OTHER=str(root / "student000" / "m01_policy_gradient.py"),
                SHEET=str(root.parent / "grades.csv"),
                FEEDBACK=str(root.parent / "feedback"),
                MARKER="ppo-benchmark-marker",
            )
            (folder / "m01_policy_gradient.py").write_text(attack)
    print(
        f"class: {n_correct} correct, {n_wrong} with a mistake, {n_stub} stubs, {n_bad} misbehaving"
    )


def run_grade(work: Path, jobs: int, seed: int) -> None:
    cmd = [
        sys.executable,
        "-m",
        "course.cli",
        "grade",
        str(work / "submissions"),
        "--out",
        str(work / "grades.csv"),
        "--feedback",
        str(work / "feedback"),
        "--jobs",
        str(jobs),
        "--hidden-seed",
        str(seed),
        "--quiet",
    ]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks = {"grader": 0, "worker": 0, "total": 0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            grader = _rss_kib(proc.pid)
            workers = [_rss_kib(p) for p in _descendants(proc.pid)]
            peaks["grader"] = max(peaks["grader"], grader)
            peaks["worker"] = max([peaks["worker"], *workers])
            peaks["total"] = max(peaks["total"], grader + sum(workers))
            time.sleep(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - started
    students = len(list((work / "submissions").iterdir()))
    print(out.strip())
    if proc.returncode != 0:
        print(err[-2000:], file=sys.stderr)
    mib = 1024
    print(f"exit status {proc.returncode}")
    print(f"wall time: {wall:.1f} s for {students} submissions, jobs={jobs}")
    print(f"time per submission: {wall * jobs / students:.2f} s of one job")
    print(f"peak memory, grader process: {peaks['grader'] / mib:.0f} MiB")
    print(f"peak memory, one worker: {peaks['worker'] / mib:.0f} MiB")
    print(
        f"peak memory, whole run: {peaks['total'] / mib:.0f} MiB "
        f"(per job: {peaks['total'] / jobs / mib:.0f} MiB)"
    )


def time_check(args: list[str], cwd: Path) -> float:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "course.cli", "check", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--keep", type=Path, help="grade in this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="ppo-grade-bench-"))
    try:
        make_class(work / "submissions", args.students)
        run_grade(work, args.jobs, args.seed)
        # A student's copy has no solutions/: time check m01 there.
        student = work / "student-copy"
        for part in ("course", "autograder", "exercises"):
            shutil.copytree(
                ROOT / part, student / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        mine = student / "mine"
        mine.mkdir()
        shutil.copyfile(
            ROOT / "solutions" / "m01_policy_gradient.py", mine / "m01_policy_gradient.py"
        )
        times = [time_check(["m01", "--impl", "mine"], student) for _ in range(3)]
        print(
            f"ppo-course check m01 (a student's copy, correct file): "
            f"{min(times):.2f} s best of 3, {sorted(times)[1]:.2f} s median"
        )
        times = [
            time_check(["m01", "--impl", "solutions", "--hidden-seed", "1"], ROOT) for _ in range(3)
        ]
        print(
            f"ppo-course check m01 --impl solutions (with hidden cases): "
            f"{min(times):.2f} s best of 3, {sorted(times)[1]:.2f} s median"
        )
        # The floor under any check: a Python process that imports torch and exits.
        times = []
        for _ in range(3):
            started = time.monotonic()
            subprocess.run(
                [sys.executable, "-c", "import os, torch; os._exit(0)"], capture_output=True
            )
            times.append(time.monotonic() - started)
        print(
            f"python -c 'import torch' (the floor under any check): "
            f"{min(times):.2f} s best of 3, {sorted(times)[1]:.2f} s median"
        )
        machine = re.sub(
            r"\s+",
            " ",
            subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout.strip(),
        )
        print(f"machine: {machine}, {os.cpu_count()} cores")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
