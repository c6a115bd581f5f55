"""One look for every figure of the site, legible on a phone.

A figure is drawn 6 inches wide at 150 dpi (900 pixels) with 12 to 13 point text, panels
stacked rather than side by side. The site shows it at most 640 CSS pixels wide, and a phone
(390 px) at about 350: the text is then about 10 CSS pixels high, as large as a caption.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

WIDTH = 6.0  # inches
DPI = 150
RC = {
    "font.size": 13,
    "axes.titlesize": 13,
    "axes.labelsize": 13,
    "xtick.labelsize": 12,
    "ytick.labelsize": 12,
    "legend.fontsize": 12,
    "lines.linewidth": 2.0,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "savefig.dpi": DPI,
}


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def styled(make: Callable[[Path], None]) -> Callable[[Path], None]:
    """``make(path)``, drawn with the course's figure style."""

    @functools.wraps(make)
    def draw(path: Path) -> None:
        with pyplot().rc_context(RC):
            make(path)

    return draw


def panels(rows: int = 1, height: float = 3.8, **kwargs):
    """A figure of ``rows`` panels stacked vertically: ``(fig, axes)`` (one axis if 1)."""
    return pyplot().subplots(rows, 1, figsize=(WIDTH, height * rows), dpi=DPI, **kwargs)


def save(fig, path: Path) -> None:
    """Lay out, write (no timestamp or version in the file) and close."""
    fig.tight_layout()
    fig.savefig(Path(path), metadata={"Software": None})
    pyplot().close(fig)
