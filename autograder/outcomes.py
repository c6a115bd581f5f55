"""What running a probe gives back: a value or a failure (no torch needed here, so the
grading worker can be started before the grader imports torch)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MAX_REPLY_BYTES = 8 * 1024 * 1024
"""The largest reply the grader reads from a worker (a bigger one fails its case and the
worker is replaced): 80 times the whole fixture file of any module, and small enough
that a class of replies this size keeps the grader's memory in bounds."""


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
    again: Any = None
    """The value of a second call on the same input objects, where one was asked for
    (``repeated``): a function that changes its inputs gives itself away there."""
    repeated: bool = False


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
