"""Grade many submissions: ``ppo-course grade SUBMISSIONS``.

``SUBMISSIONS`` holds one folder per student, each laid out like ``exercises/`` (files
``mNN_*.py``; other files are ignored). Every submission is graded on its own, in its own
worker process, so one that hangs, crashes or does not import costs only its own points.
The result is a CSV grade sheet (one row per student, one column per module) and,
optionally, each student's report and Gradescope results.json.
"""

from __future__ import annotations

import csv
import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from autograder import report
from autograder.engine import ModuleResult
from autograder.grading import grade_folder
from course.modules import Module


def submissions(root: Path) -> list[Path]:
    """The student folders of ``root``, sorted by name (hidden folders skipped)."""
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def _grade_one(folder: Path, modules: list[Module], seed, timeout, memory_mb):
    try:
        return grade_folder(folder, modules, seed=seed, timeout=timeout, memory_mb=memory_mb), None
    except Exception as exc:  # a grader failure must not stop the others
        return None, f"{type(exc).__name__}: {exc}"


def grade_submissions(
    root: Path,
    modules: list[Module],
    out: Path,
    feedback: Path | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    memory_mb: int = 4096,
    jobs: int = 1,
) -> int:
    """Grade every submission under ``root``; write the grade sheet ``out``. Returns 0."""
    folders = submissions(root)
    if not folders:
        print(f"no submissions in {root} (expected one folder per student)", file=sys.stderr)
        return 2
    possible = {}
    columns = [m.id for m in modules]
    rows = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [
            pool.submit(_grade_one, folder, modules, seed, timeout, memory_mb) for folder in folders
        ]
        for folder, future in zip(folders, futures, strict=True):
            results, crash = future.result()
            row: dict[str, object] = {"student": folder.name}
            problems: list[str] = []
            if results is None:
                problems.append(f"not graded: {crash}")
                results = []
            for result in results:
                row[result.module.id] = result.score
                possible[result.module.id] = result.max_score
                if result.error:
                    problems.append(f"{result.module.id}: {result.error}")
            row["total"] = round(sum(r.score for r in results), 2)
            row["problems"] = "; ".join(problems)
            rows.append(row)
            if feedback is not None and results:
                _write_feedback(feedback / folder.name, results)
            total = sum(r.max_score for r in results)
            print(
                f"{folder.name}: {row['total']:g} / {total:g}"
                + (f"  ({row['problems']})" if problems else "")
            )
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["student", *columns, "total", "problems"])
        writer.writeheader()
        writer.writerow(
            {"student": "(possible)", **possible, "total": sum(possible.values()), "problems": ""}
        )
        for row in rows:
            writer.writerow(row)
    print(f"wrote {out} ({len(rows)} submissions)")
    return 0


def _write_feedback(folder: Path, results: list[ModuleResult]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.txt").write_text(report.render(results) + "\n")
    (folder / "results.json").write_text(json.dumps(report.gradescope(results), indent=2) + "\n")
