"""Figures of the docs, drawn from the course's own code and committed under
``docs/assets/figures/``.

Each module ``course/figures/<name>.py`` defines ``FIGURES``: a dict from a figure's file
name (``m04_clipped_objective.png``) to a function ``make(path: Path) -> None`` that draws
it. ``ppo-course figures [NAME ...]`` redraws them.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from pathlib import Path

from course import paths

FIGURES_DIR = paths.DOCS_DIR / "assets" / "figures"


def registry() -> dict[str, Callable[[Path], None]]:
    """Every figure of every module in this package, by file name."""
    found: dict[str, Callable[[Path], None]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update(getattr(module, "FIGURES", {}))
    return found


def draw(names: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Draw the named figures (all by default) into ``folder``.

    Raises:
        KeyError: an unknown figure name.
    """
    table = registry()
    folder = folder or FIGURES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names or sorted(table):
        if name not in table:
            raise KeyError(f"unknown figure {name!r} (known: {', '.join(sorted(table))})")
        path = folder / name
        table[name](path)
        written.append(path)
    return written
