"""A module that imports an earlier one that does not import fails with it, and says so.

m09's file imports m02's (``from .m02_value_baseline import ...``): a syntax error in m02
zeroes m09 too, and m09's row names m02 as the reason, in ``check`` and in ``grade``.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

from autograder.runner import sibling_imports
from course import paths
from course.modules import BY_ID

M02, M09 = BY_ID["m02"], BY_ID["m09"]
NEEDS = "m09_ppo_agent.py does not import: it needs m02 (m02_value_baseline.py), which"
NEEDS_BROKEN, NEEDS_MISSING = f"{NEEDS} does not import", f"{NEEDS} is missing"


def _references(folder: Path, without: tuple[str, ...] = ()) -> Path:
    folder.mkdir(parents=True)
    for path in paths.SOLUTIONS_DIR.glob("m[0-9][0-9]_*.py"):
        if path.name not in without:
            shutil.copyfile(path, folder / path.name)
    return folder


def _broken_m02(folder: Path) -> Path:
    _references(folder)
    with (folder / M02.filename).open("a") as f:
        f.write("\ndef broken(:\n")
    return folder


def test_sibling_imports_are_read_from_the_text(tmp_path):
    path = tmp_path / M09.filename
    path.write_text(
        "from __future__ import annotations\n"
        "import torch\n"
        "from .m02_value_baseline import (explained_variance,\n    normalize_advantages)\n"
        "from . import m04_ppo_clip, m05_ppo_loss as loss\n"
        "from .m09_ppo_agent import layer_init\n"
        "from .helpers import nothing\n"
    )
    assert [m.id for m in sibling_imports(path, M09)] == ["m02", "m04", "m05"]
    assert [m.id for m in sibling_imports(paths.SOLUTIONS_DIR / M09.filename, M09)] == [
        "m01", "m02", "m03", "m04", "m05", "m07", "m08",
    ]  # fmt: skip
    assert sibling_imports(tmp_path / "absent.py", M09) == []


def _check(folder: Path, *modules: str):
    return subprocess.run(
        [sys.executable, "-m", "course.cli", "check", *modules, "--impl", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
    )


def test_check_says_m09_needs_m02_which_does_not_import(tmp_path):
    done = _check(_broken_m02(tmp_path / "broken"), "m02", "m09")
    assert done.returncode != 0
    assert "m02_value_baseline.py does not import: SyntaxError" in done.stdout
    assert NEEDS_BROKEN in done.stdout, done.stdout[-3000:]


def test_check_says_m09_needs_m02_which_is_missing(tmp_path):
    done = _check(_references(tmp_path / "partial", without=(M02.filename,)), "m09")
    assert done.returncode != 0
    assert NEEDS_MISSING in done.stdout, done.stdout[-3000:]


def test_a_module_that_imports_fine_keeps_its_own_message(tmp_path):
    folder = _references(tmp_path / "own")
    text = (folder / M09.filename).read_text()
    (folder / M09.filename).write_text(text + "\nraise RuntimeError('my own bug')\n")
    done = _check(folder, "m09")
    assert "RuntimeError: my own bug" in done.stdout and "needs" not in done.stdout


def test_grade_rows_and_reports_say_what_m09_needs(tmp_path):
    subs = tmp_path / "subs"
    _broken_m02(subs / "broken")
    _references(subs / "partial", without=(M02.filename,))
    args = [
        sys.executable, "-m", "course.cli", "grade", str(subs), "--modules", "m02", "m09",
        "--out", str(tmp_path / "g.csv"), "--feedback", str(tmp_path / "fb"),
        "--hidden-seed", "5", "--quiet",
    ]  # fmt: skip
    from autograder import sandbox

    if sandbox.unavailable():
        args.append("--no-sandbox")
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = {r["student"]: r for r in csv.DictReader((tmp_path / "g.csv").open())}
    assert float(rows["broken"]["m09"]) == 0.0 and float(rows["partial"]["m09"]) == 0.0
    assert f"m09: {NEEDS_BROKEN}" in rows["broken"]["problems"]
    assert f"m09: {NEEDS_MISSING}" in rows["partial"]["problems"]
    for student, message in (("broken", NEEDS_BROKEN), ("partial", NEEDS_MISSING)):
        for report in ("report.txt", "results.json", "instructor.txt"):
            assert message in (tmp_path / "fb" / student / report).read_text(), report
