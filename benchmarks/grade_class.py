"""Benchmark: grade a generated class with ``ppo-course grade``, sandboxed, and print the
figures an instructor plans with.

The class: 100 submissions of all the modules, no two alike. Each is the reference with
changes drawn from what students really hand in:

* 10 correct ones (the reference, each file headed by the student's own comment);
* 70 with one or two catalogued mistakes (the wrong versions in ``solutions/mistakes/``,
  pasted over the graded function they target), a different combination each;
* 10 unfinished ones: the first modules done, the last one to ten left as stubs, and one
  mistake among the done ones;
* 10 misbehaving ones (hang, crash, memory bomb, prints, import of the reference, tampering,
  ...: ``tests/hostile.py``), the rest of the submission carrying a mistake of its own.

The script grades it with ``--jobs`` (default 2), samples the memory of the grader and of
every worker process while it runs, and prints: wall time, time per submission, peak memory
of the grader process, peak memory of one worker, and peak memory per job (the grader's
share plus the job's workers at once). ``benchmarks/check_startup.py`` times a student's
``ppo-course check``.

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


def catalogued_mistakes() -> list[tuple[str, str, str, str]]:
    """``(module file, graded name, mistake name, source)`` for every catalogued wrong
    version that is self-contained: a function or class whose free names are all in the
    reference module (the others are built from helpers of the mistake files)."""
    import ast
    import builtins
    import importlib
    import inspect
    import textwrap

    from course.modules import MODULES
    from solutions import mistakes

    found = []
    for module in MODULES:
        stem = module.filename.removesuffix(".py")
        loaded = mistakes.load(stem)
        if loaded is None:
            continue
        reference = importlib.import_module(f"solutions.{stem}")
        for (function, name), wrong in getattr(loaded, "WRONG", {}).items():
            try:
                source = textwrap.dedent(inspect.getsource(wrong))
                node = ast.parse(source).body[0]
            except (OSError, TypeError, SyntaxError):
                continue
            if not isinstance(node, ast.FunctionDef | ast.ClassDef):
                continue
            used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            bound = {a.arg for a in ast.walk(node) if isinstance(a, ast.arg)} | {
                n.id
                for n in ast.walk(node)
                if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
            }
            free = used - bound - {function, node.name}
            if any(not hasattr(reference, n) and not hasattr(builtins, n) for n in free):
                continue
            keyword = "class" if isinstance(node, ast.ClassDef) else "def"
            source = source.replace(f"{keyword} {node.name}", f"{keyword} {function}", 1)
            found.append((module.filename, function, name, source))
    return found


def _paste(folder: Path, mistake: tuple[str, str, str, str]) -> None:
    """Put a wrong version in place of its graded function: defined again at the end of
    the file, it is the one the module ends up with."""
    filename, function, name, source = mistake
    path = folder / filename
    path.write_text(path.read_text() + f"\n\n# my {function} ({name})\n{source}")


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
    """``students`` submissions of every module, no two alike (see the module's text)."""
    solutions = ROOT / "solutions"
    exercises = ROOT / "exercises"
    files = sorted(p.name for p in solutions.glob("m[0-9][0-9]_*.py"))
    catalogue = catalogued_mistakes()
    n_correct = students * 10 // 100
    n_unfinished = students * 10 // 100
    n_bad = students * 10 // 100
    n_wrong = students - n_correct - n_unfinished - n_bad
    attacks = list(ATTACKS.items())
    pool: list[tuple[str, str, str, str]] = []  # each mistake once before any again
    used: set[tuple[str, str, str]] = set()

    def next_mistake(avoid: set[str] = frozenset()) -> tuple[str, str, str, str]:
        if not any(m[0] not in avoid for m in pool):
            pool.extend(catalogue)
        mistake = next(m for m in pool if m[0] not in avoid)
        pool.remove(mistake)
        used.add(mistake[:3])
        return mistake

    for i in range(students):
        folder = root / f"student{i:03d}"
        folder.mkdir(parents=True)
        for name in files:
            header = f"# {name}, handed in by student{i:03d}\n"
            (folder / name).write_text(header + (solutions / name).read_text())
        if i < n_correct:
            continue
        if i < n_correct + n_wrong:
            first = next_mistake()
            _paste(folder, first)
            if (i - n_correct) % 2:  # every other one makes a second mistake elsewhere
                _paste(folder, next_mistake({first[0]}))
        elif i < n_correct + n_wrong + n_unfinished:
            left = 1 + (i - n_correct - n_wrong) % len(files)
            for name in files[-left:]:
                shutil.copyfile(exercises / name, folder / name)
            done = set(files[: len(files) - left])
            if done:
                _paste(folder, next_mistake(set(files) - done))
        else:
            k = i - n_correct - n_wrong - n_unfinished
            _, attack = attacks[k % len(attacks)]
            attack = attack.format(
                OTHER=str(root / "student000" / "m01_policy_gradient.py"),
                SHEET=str(root.parent / "grades.csv"),
                FEEDBACK=str(root.parent / "feedback"),
                MARKER="ppo-benchmark-marker",
            )
            (folder / "m01_policy_gradient.py").write_text(attack)
            _paste(folder, next_mistake({"m01_policy_gradient.py"}))
    digests = {tuple((p.name, p.read_bytes()) for p in sorted(f.iterdir())) for f in root.iterdir()}
    if len(digests) != students:
        raise SystemExit(f"{students - len(digests)} submissions are the same as another")
    print(
        f"class: {n_correct} correct, {n_wrong} with mistakes, {n_unfinished} unfinished, "
        f"{n_bad} misbehaving; {students} distinct submissions, "
        f"{len(used)} of the {len(catalogue)} self-contained catalogued mistakes in them"
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
