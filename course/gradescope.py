"""A Gradescope autograder for the course: the zip to upload, and what runs inside it.

:func:`build` writes the zip in Gradescope's layout: ``setup.sh`` (run once when the image
is built: installs Python, bubblewrap and this course, with ``solutions/``, on Ubuntu),
``run_autograder`` (run for every submission) and ``source/`` (the course and
``autograder.json``: the modules to grade and the instructor's hidden seed, baked in).

:func:`run` is what ``run_autograder`` calls: it copies the submission out of
``/autograder/submission`` (``.py`` files or notebooks, loose or in one folder), grades it
with the sandboxed grader (:func:`autograder.grading.grade_folder`) and writes
``/autograder/results/results.json``. Each graded function gives two tests: its public
cases (visible) and its hidden cases (``after_published``: the students see them once the
grades are published). ``$PPO_COURSE_AUTOGRADER_ROOT`` relocates ``/autograder`` (for
tests); the real layout is the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from course import paths, settings
from course.modules import Module

ROOT_ENV = "PPO_COURSE_AUTOGRADER_ROOT"
DEFAULT_ROOT = Path("/autograder")
CONFIG = "autograder.json"
COPIED = ("course", "autograder", "exercises", "solutions", "pyproject.toml", "README.md")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, when it builds the autograder's image (Ubuntu).
set -euo pipefail
apt-get update
apt-get install -y --no-install-recommends python3 python3-venv python3-pip bubblewrap
python3 -m venv /autograder/venv
# The CPU build of PyTorch (the default one pulls several GB of CUDA libraries).
/autograder/venv/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install /autograder/source/course
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for every submission; it writes /autograder/results/results.json.
ROOT="${PPO_COURSE_AUTOGRADER_ROOT:-/autograder}"
PYTHON="${PPO_COURSE_AUTOGRADER_PYTHON:-$ROOT/venv/bin/python}"
exec "$PYTHON" -m course.gradescope run --root "$ROOT"
"""


class GradescopeError(Exception):
    """A usage problem; one line."""


# ----------------------------------------------------------------------------- build


def build(out: Path, modules: list[Module], settings_path: Path | None = None) -> Path:
    """Write the autograder zip to ``out``, with the instructor's hidden seed (created if
    the course has no settings yet).

    Raises:
        GradescopeError: this copy of the course has no ``solutions/``.
    """
    if not paths.SOLUTIONS_DIR.is_dir():
        raise GradescopeError("the autograder needs the instructor's copy (solutions/)")
    made, _ = settings.create(settings_path)
    config = {"modules": [m.id for m in modules], "hidden_seed": made.hidden_seed}
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in (("setup.sh", SETUP), ("run_autograder", RUN)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16
            zf.writestr(info, text)
        zf.writestr(CONFIG, json.dumps(config, indent=1) + "\n")
        for name in COPIED:
            path = paths.ROOT / name
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for file in files:
                if file.is_file() and "__pycache__" not in file.parts:
                    zf.write(file, f"course/{file.relative_to(paths.ROOT)}")
    return out


# ----------------------------------------------------------------------------- run


def collect_submission(submission: Path, target: Path) -> list[str]:
    """Copy the submitted ``.py`` files and notebooks into ``target`` (flat). A submission
    that is one folder (a zip of ``exercises/``, say) is looked into. Returns the names."""
    entries = [p for p in submission.iterdir() if not p.name.startswith((".", "__"))]
    folders = [p for p in entries if p.is_dir()]
    if len(folders) == 1 and not [p for p in entries if p.suffix in (".py", ".ipynb")]:
        submission = folders[0]
    target.mkdir(parents=True, exist_ok=True)
    names = []
    for path in sorted(submission.iterdir()):
        if path.is_file() and path.suffix == ".py":
            shutil.copy(path, target / path.name)
            names.append(path.name)
        elif path.is_file() and path.suffix == ".ipynb":
            script = target / path.with_suffix(".py").name
            if not script.exists():  # a .py file of the same module wins
                script.write_text(notebook_script(path))
            names.append(path.name)
    return names


def notebook_script(path: Path) -> str:
    """The code of a notebook as a module (see :func:`autograder.submission.notebook_code`);
    a file that is not a notebook gives an empty module with a comment, so that grading
    reports the missing functions."""
    from autograder.submission import notebook_code

    try:
        return notebook_code(path)
    except ValueError as exc:
        return f"# {exc}\n"


def _part(check_result, kinds: tuple[str, ...]):
    """``(points, possible, feedback)`` of the cases of ``kinds`` in a check graded as
    ``ppo-course grade`` grades (public known outputs weigh nothing; a function that passes
    none of its hidden cases scores nothing, one that fails a core property a third at
    most), or None when it has no such case. The parts share the check's score in
    proportion to the weight each passed."""
    from autograder.report import STUDENT, check_feedback

    cases = [c for c in check_result.cases if c.case.kind in kinds]
    if not cases:
        return None
    weigh = check_result._weight
    total = sum(weigh(c.case) for c in check_result.cases)
    points = check_result.check.points
    weight = sum(weigh(c.case) for c in cases)
    earned = sum(weigh(c.case) for c in cases if c.passed)
    earned_all = sum(weigh(c.case) for c in check_result.cases if c.passed)
    part = dataclasses.replace(check_result, cases=cases)
    text = check_feedback(part, STUDENT) if not all(c.passed for c in cases) else ""
    possible = round(points * weight / total, 2) if total else 0.0
    return (
        round(check_result.score * earned / earned_all, 2) if earned_all else 0.0,
        possible,
        text or f"passed all {len(cases)} cases",
    )


def results_json(results: list, seconds: float, files: list[str]) -> dict[str, Any]:
    """Gradescope's results.json for graded modules: two tests per graded function (public
    cases visible, hidden cases after publication) and a Markdown summary."""
    tests = []
    rows = []
    for result in results:
        for check_result in result.checks:
            check = check_result.check
            if check_result.error is not None or not check_result.cases:
                message = check_result.error.describe() if check_result.error else "no cases"
                tests.append(
                    {
                        "name": f"{check.id}",
                        "score": 0.0,
                        "max_score": float(check.points),
                        "status": "failed",
                        "output": message,
                        "visibility": "visible",
                    }
                )
                continue
            for kinds, label, visibility in (
                (("known",), "public cases, a self-check", "visible"),
                (("property",), "properties", "visible"),
                (("hidden",), "hidden cases", "after_published"),
            ):
                part = _part(check_result, kinds)
                if part is None:
                    continue
                score, most, text = part
                tests.append(
                    {
                        "name": f"{check.id} ({label})",
                        "score": score,
                        "max_score": most,
                        "status": "passed" if score == most else "failed",
                        "output": text,
                        "output_format": "md",
                        "visibility": visibility,
                    }
                )
        rows.append(f"| {result.module.id} | {result.score:g} | {result.max_score:g} |")
        if result.error:
            rows[-1] += f" {result.error} |"
    score = round(sum(t["score"] for t in tests), 2)
    possible = round(sum(t["max_score"] for t in tests), 2)
    summary = [
        f"**{score:g} / {possible:g} points.** Graded files: "
        + (", ".join(f"`{f}`" for f in files) or "none"),
        "",
        "| module | points | possible |",
        "|---|---:|---:|",
        *rows,
        "",
        "Each function has its public cases (the ones `ppo-course check` runs; a self-check "
        "worth no points), its properties, and hidden cases, which carry most of the points "
        "and show their names and verdicts once the grades are published.",
    ]
    return {
        "score": score,
        "execution_time": round(seconds),
        "output": "\n".join(summary),
        "output_format": "md",
        "test_output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def run(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and write ``root/results/results.json``."""
    from autograder.grading import grade_folder
    from course.modules import lookup

    started = time.monotonic()
    config = json.loads((root / "source" / CONFIG).read_text())
    modules = [lookup(m) for m in config["modules"]]
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ppo-course-submission-") as scratch:
        student = Path(scratch) / "submission"
        files = collect_submission(root / "submission", student)
        if not files:
            data = {
                "score": 0.0,
                "execution_time": round(time.monotonic() - started),
                "output": "No `.py` file or notebook was submitted: upload your `mNN_*.py` "
                "files (or notebooks), loose or in one folder.",
                "output_format": "md",
                "visibility": "visible",
                "stdout_visibility": "hidden",
                "tests": [],
            }
        else:
            from autograder import sandbox

            reason = sandbox.unavailable()
            if reason:  # the instructor reads stdout; the student does not
                print(f"warning: grading without the sandbox: {reason}")
            results = grade_folder(
                student,
                modules,
                seed=int(config["hidden_seed"]),
                for_grade=True,
                sandboxed=reason is None,
            )
            data = results_json(results, time.monotonic() - started, files)
    (results_dir / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.gradescope")
    sub = parser.add_subparsers(dest="command", required=True)
    runner = sub.add_parser("run", help="grade /autograder/submission (inside Gradescope)")
    runner.add_argument("--root", default=os.environ.get(ROOT_ENV, str(DEFAULT_ROOT)))
    args = parser.parse_args(argv)
    data = run(Path(args.root))
    print(f"score {data['score']:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
