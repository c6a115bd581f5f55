"""Where the course's folders live, whether it runs from a clone or an installed copy."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
ROOT = PACKAGE_DIR.parent
SOLUTIONS_DIR = ROOT / "solutions"
EXERCISES_DIR = ROOT / "exercises"
AUTOGRADER_DIR = ROOT / "autograder"
FIXTURES_DIR = AUTOGRADER_DIR / "fixtures"
DOCS_DIR = ROOT / "docs"
