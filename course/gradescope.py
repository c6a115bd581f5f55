"""A Gradescope autograder for the course: the zip to upload, and what runs inside it.

:func:`build` writes the zip in Gradescope's layout: ``setup.sh`` (run once when the image
is built: installs Python, bubblewrap and this course, with ``solutions/``, on Ubuntu),
``run_autograder`` (run for every submission) and ``source/`` (the course and
``autograder.json``: the modules to grade and the instructor's hidden seed, baked in).

:func:`run` is what ``run_autograder`` calls: it collects the upload in
``/autograder/submission`` as ``ppo-course grade`` does (``mNN_*.py`` files or notebooks,
loose or in one folder; no link is followed and every file is read with limits, see
:func:`autograder.submission.collect`), grades it with the sandboxed grader
(:func:`autograder.grading.grade_folder`) and writes ``/autograder/results/results.json``,
whatever the upload holds. What a student sees at once depends on the public cases and
properties only (their verdicts, no points); each graded function's points, which depend
on the hidden cases, are a test shown once the grades are published (``after_published``).
``$PPO_COURSE_AUTOGRADER_ROOT`` relocates ``/autograder`` (for tests); the real layout is
the default.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
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


def collect_submission(submission: Path, target: Path, modules: list[Module]):
    """Write the module files of the upload in ``submission`` into ``target``, as
    ``ppo-course grade`` does (:func:`autograder.submission.collect`: ``mNN_*.py`` files
    or notebooks, loose or in one folder; no link is followed, every file is read with
    limits). Returns the :class:`~autograder.submission.Staged` files and notes."""
    from autograder.submission import collect

    return collect(submission, target, modules)


def notebook_script(path: Path) -> str:
    """The code of a notebook as a module (see :func:`autograder.submission.notebook_code`);
    a file that is not a notebook gives an empty module with a comment, so that grading
    reports the missing functions."""
    from autograder.submission import notebook_code

    try:
        return notebook_code(path)
    except ValueError as exc:
        return f"# {exc}\n"


_VISIBLE = (("known",), "public cases, a self-check"), (("property",), "properties")


def _visible_test(check_result, kinds: tuple[str, ...], label: str) -> dict[str, Any] | None:
    """The test, visible at once and worth no points, of the cases of ``kinds`` (public
    known outputs, or properties): their verdicts and feedback, nothing of the hidden
    cases. None when the check has no such case."""
    from autograder.report import STUDENT, check_feedback

    cases = [c for c in check_result.cases if c.case.kind in kinds]
    if not cases:
        return None
    passed = all(c.passed for c in cases)
    part = dataclasses.replace(check_result, cases=cases)
    text = "" if passed else check_feedback(part, STUDENT)
    return {
        "name": f"{check_result.check.id} ({label})",
        "score": 0.0,
        "max_score": 0.0,
        "status": "passed" if passed else "failed",
        "output": text or f"passed all {len(cases)} cases",
        "output_format": "md",
        "visibility": "visible",
    }


def _points_test(check_result) -> dict[str, Any]:
    """The test that carries the function's points, scored as ``ppo-course grade`` scores
    (hidden cases and properties; a function that passes none of its hidden cases scores
    nothing): shown once the grades are published, since the points depend on the hidden
    cases."""
    from autograder.report import STUDENT, check_feedback

    hidden = [c for c in check_result.cases if c.case.kind == "hidden"]
    part = dataclasses.replace(check_result, cases=hidden)
    text = check_feedback(part, STUDENT) if hidden and not part.passed else ""
    score, most = check_result.score, float(check_result.check.points)
    return {
        "name": f"{check_result.check.id} (points: hidden cases and properties)",
        "score": score,
        "max_score": most,
        "status": "passed" if score == most else "failed",
        "output": text or f"passed all {len(hidden)} hidden cases",
        "output_format": "md",
        "visibility": "after_published",
    }


def _passed(cases: list) -> str:
    return f"{sum(c.passed for c in cases)} of {len(cases)}" if cases else "none"


def results_json(
    results: list, seconds: float, files: list[str], notes: list[str] | tuple = ()
) -> dict[str, Any]:
    """Gradescope's results.json for graded modules.

    What a student sees at once depends on the public cases and properties only: per
    graded function, a test of its public cases and one of its properties (verdicts and
    feedback, no points), and a summary of how many of them passed. The points, which
    depend on the hidden cases, are in one test per function that is shown once the
    grades are published (``after_published``), with the hidden cases' verdicts. A
    function that could not run (a file that does not import) is a visible test that
    scores nothing, since nothing hidden decides that."""
    tests = []
    rows = []
    for result in results:
        known, properties = [], []
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
            known += [c for c in check_result.cases if c.case.kind == "known"]
            properties += [c for c in check_result.cases if c.case.kind == "property"]
            for kinds, label in _VISIBLE:
                test = _visible_test(check_result, kinds, label)
                if test is not None:
                    tests.append(test)
            tests.append(_points_test(check_result))
        note = _md(result.error) if result.error else ""
        rows.append(f"| {result.module.id} | {_passed(known)} | {_passed(properties)} | {note} |")
    score = round(sum(t["score"] for t in tests), 2)
    summary = [
        "Graded files: " + (", ".join(_md(f) for f in files) or "none"),
        *[f"\nNote: {_md(n)}" for n in notes],
        "",
        "| module | public cases passed | properties passed | note |",
        "|---|---:|---:|---|",
        *rows,
        "",
        "Each function has its public cases (the ones `ppo-course check` runs; a self-check "
        "worth no points), its properties, and hidden cases. The points count the hidden "
        "cases and properties, so they are shown, with the hidden cases' verdicts, once the "
        "grades are published.",
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


def _message(text: str, seconds: float) -> dict[str, Any]:
    return {
        "score": 0.0,
        "execution_time": round(seconds),
        "output": text,
        "output_format": "md",
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": [],
    }


def run(root: Path) -> dict[str, Any]:
    """Grade ``root/submission`` and write ``root/results/results.json``: always, whatever
    the upload holds (a failure of the grader itself is reported there in one line)."""
    started = time.monotonic()
    results_dir = root / "results"
    results_dir.mkdir(parents=True, exist_ok=True)
    try:
        data = _grade(root, started)
    except Exception as exc:  # the student still gets a result, the instructor the cause
        from autograder.submission import text

        print(f"error: {type(exc).__name__}: {text(str(exc))}")
        data = _message(
            "The autograder could not grade this submission "
            f"({type(exc).__name__}); please tell your instructor.",
            time.monotonic() - started,
        )
    (results_dir / "results.json").write_text(json.dumps(data, indent=1) + "\n")
    return data


def _grade(root: Path, started: float) -> dict[str, Any]:
    from autograder.grading import grade_folder
    from course.modules import lookup

    config = json.loads((root / "source" / CONFIG).read_text())
    modules = [lookup(m) for m in config["modules"]]
    with tempfile.TemporaryDirectory(prefix="ppo-course-submission-") as scratch:
        staged = collect_submission(root / "submission", Path(scratch) / "submission", modules)
        notes = "".join(f"\n\nNote: {_md(n)}" for n in staged.notes)
        if not staged.files:
            return _message(
                "No `.py` file or notebook of a module was submitted: upload your "
                "`mNN_*.py` files (or notebooks), loose or in one folder." + notes,
                time.monotonic() - started,
            )
        from autograder import sandbox

        reason = sandbox.unavailable()
        if reason:  # the instructor reads stdout; the student does not
            print(f"warning: grading without the sandbox: {reason}")
        results = grade_folder(
            staged.folder,
            modules,
            seed=int(config["hidden_seed"]),
            for_grade=True,
            sandboxed=reason is None,
        )
        return results_json(results, time.monotonic() - started, staged.files, staged.notes)


def _md(value: str) -> str:
    """``value`` as one line of Markdown text: no table, code or HTML syntax of its own."""
    from autograder.submission import text

    flat = " ".join(text(value).split())
    return re.sub(r"([\\`*|<>\[\]#])", r"\\\1", flat)


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
