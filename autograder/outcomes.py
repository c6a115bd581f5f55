"""What running a probe gives back: a value or a failure (no torch needed here, so the
grading worker can be started before the grader imports torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_REPLY_BYTES = 64 * 1024 * 1024
"""The largest reply the grader reads from a worker (a bigger one fails its case)."""


def probe_ref(probe: Any) -> str:
    """``module:qualname`` of a probe, the form in which it crosses processes."""
    if "<" in probe.__qualname__:
        raise ValueError(f"probe {probe.__qualname__} must be a module-level function")
    return f"{probe.__module__}:{probe.__qualname__}"


@dataclass
class Outcome:
    """The raw value a probe returned, and the first of what the code printed."""

    value: Any
    printed: str = ""


@dataclass
class Failure:
    """The student's code did not return: ``kind`` is one of ``not_implemented``,
    ``exception``, ``mutated``, ``missing``, ``import``, ``timeout``, ``crash``,
    ``unsendable``, ``needs`` (it calls another exercise that is not implemented yet), or
    ``not_run`` (skipped after a crash or a timeout)."""

    kind: str
    message: str
    line: str = ""
    printed: str = ""

    def describe(self) -> str:
        text = self.message
        if self.line:
            text += f"\n  at {self.line}"
        return text
