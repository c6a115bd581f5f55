"""Every command of the instructors' guide is a real, current command that the tests run."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from course import paths
from course.cli import build_parser

GUIDE = paths.DOCS_DIR / "guides" / "instructors.md"
TESTS = Path(__file__).parent


def commands() -> list[str]:
    text = GUIDE.read_text()
    blocks = re.findall(r"^\s*```bash\n(.*?)^\s*```", text, flags=re.S | re.M)
    lines = [line.split("#")[0].strip() for block in blocks for line in block.splitlines()]
    return [line for line in lines if line]


def test_the_guide_has_a_section_per_path():
    text = GUIDE.read_text()
    for heading in ("Release the course", "Grade a folder", "Gradescope", "nbgrader"):
        assert re.search(rf"^## .*{heading}", text, flags=re.M), heading
    assert "grade of record" in text and "ppo-course grade" in text


@pytest.mark.parametrize("line", [c for c in commands() if c.startswith("ppo-course ")])
def test_every_ppo_course_command_parses(line):
    args = build_parser().parse_args(shlex.split(line)[1:])
    assert callable(args.func)


@pytest.mark.parametrize("line", [c for c in commands() if c.startswith("nbgrader ")])
def test_every_nbgrader_command_is_run_by_the_tests(line):
    subcommand = shlex.split(line)[1]
    source = (TESTS / "test_nbgrader.py").read_text()
    assert f'"{subcommand}"' in source, f"no test runs nbgrader {subcommand}"


def test_every_other_command_is_run_by_the_tests():
    others = [c for c in commands() if not c.startswith(("ppo-course ", "nbgrader "))]
    known = {
        "cd": "test_nbgrader.py",  # the commands run in the course folder
        "pip": "test_release.py",  # pip wheel of the release
        "pytest": "../autograder/conftest.py",  # the --impl option of the pytest front end
    }
    for line in others:
        word = shlex.split(line)[0]
        assert word in known, line
        assert (TESTS / known[word]).is_file()
    assert "--impl" in (paths.AUTOGRADER_DIR / "conftest.py").read_text()
    assert '"wheel"' in (TESTS / "test_release.py").read_text()
