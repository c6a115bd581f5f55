"""The reviewed list of equivalent mutants: edits that no check can tell from the answer.

One TOML file per module, ``solutions/equivalent_mutants/mNN.toml``, with one table per
mutant::

    [[mutant]]
    function = "conjugate_gradient"
    kind = "boundary"
    before = "residual_sq < tol"
    after = "residual_sq <= tol"
    occurrence = 1          # optional: the n-th such edit in the function (default 1)
    reason = "the residual is never exactly tol in float arithmetic ..."

A mutant is named by its function, its kind and the code before and after the edit
(whitespace collapsed), not by its line, so the entries survive unrelated edits of the
file. An entry without ``before`` and ``after`` names every mutant of its kind in its
function (or method: ``function = "ActorCritic.get_value"``), for a reason that holds for
all of them ("no input of this function ever carries a gradient")::

    [[mutant]]
    function = "cartpole_step"
    kind = "detach"
    reason = "the dynamics carry no gradient: every input is data from the env"

An entry that no generated mutant matches any more is *stale* and is reported.
The list lives under ``solutions/``: its entries are answers, one edit away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import tomllib

from autograder.mutation.operators import KINDS, Mutant, squash
from course import paths


class EquivalentsError(Exception):
    """The list of equivalent mutants cannot be read; the message is one line."""


@dataclass(frozen=True)
class Entry:
    function: str
    kind: str
    before: str | None
    after: str | None
    occurrence: int
    reason: str
    path: Path

    @property
    def key(self) -> tuple[str, str, str | None, str | None, int]:
        return (self.function, self.kind, self.before, self.after, self.occurrence)

    @property
    def whole_kind(self) -> bool:
        """The entry names every mutant of its kind in its function."""
        return self.before is None

    def matches(self, mutant: Mutant) -> bool:
        if self.whole_kind:
            return self.kind == mutant.kind and self.function in (
                mutant.function,
                mutant.qualname,
            )
        return self.key == mutant.key

    def describe(self) -> str:
        if self.whole_kind:
            return f"{self.function} [{self.kind}] (every such mutant)"
        return f"{self.function} [{self.kind}] {self.before} -> {self.after}"


def folder() -> Path:
    return paths.SOLUTIONS_DIR / "equivalent_mutants"


def path_for(module_id: str, root: Path | None = None) -> Path:
    return (root or folder()) / f"{module_id}.toml"


def load(module_id: str, root: Path | None = None) -> list[Entry]:
    """The entries for one module (none when it has no file).

    Raises:
        EquivalentsError: the file is not valid TOML, or an entry lacks a field, has an
            unknown kind or no reason, or repeats another.
    """
    path = path_for(module_id, root)
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise EquivalentsError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - {"mutant"}
    if unknown:
        raise EquivalentsError(f"{path}: unknown table {sorted(unknown)[0]!r} (use [[mutant]])")
    entries: list[Entry] = []
    seen: set[tuple] = set()
    for n, raw in enumerate(data.get("mutant", []), start=1):
        where = f"{path}: entry {n}"
        if not isinstance(raw, dict):
            raise EquivalentsError(f"{where}: not a table")
        for name in ("function", "kind", "reason"):
            if not isinstance(raw.get(name), str):
                raise EquivalentsError(f"{where}: `{name}` is missing or not a string")
        if ("before" in raw) != ("after" in raw):
            raise EquivalentsError(f"{where}: give both `before` and `after`, or neither")
        for name in ("before", "after"):
            if name in raw and not isinstance(raw[name], str):
                raise EquivalentsError(f"{where}: `{name}` is not a string")
        if raw["kind"] not in KINDS:
            raise EquivalentsError(f"{where}: unknown kind {raw['kind']!r}")
        if not raw["reason"].strip():
            raise EquivalentsError(f"{where}: the reason is empty; say why no check can tell")
        occurrence = raw.get("occurrence", 1)
        if type(occurrence) is not int or occurrence < 1:
            raise EquivalentsError(f"{where}: `occurrence` must be a positive integer")
        extra = set(raw) - {"function", "kind", "before", "after", "occurrence", "reason"}
        if extra:
            raise EquivalentsError(f"{where}: unknown field {sorted(extra)[0]!r}")
        entry = Entry(
            raw["function"],
            raw["kind"],
            squash(raw["before"]) if "before" in raw else None,
            squash(raw["after"]) if "after" in raw else None,
            occurrence,
            raw["reason"].strip(),
            path,
        )
        if entry.key in seen:
            raise EquivalentsError(f"{where}: repeats an earlier entry ({entry.describe()})")
        seen.add(entry.key)
        entries.append(entry)
    return entries


def match(
    mutants: list[Mutant], entries: list[Entry], functions: set[str] | None = None
) -> tuple[dict[int, Entry], list[Entry]]:
    """Which mutants the entries name (``{index in mutants: entry}``; an entry for the
    mutant itself before one for its whole kind), and the stale entries: those of
    ``functions`` (all, when None) that match no mutant."""
    by_key = {e.key: e for e in entries if not e.whole_kind}
    wide = [e for e in entries if e.whole_kind]
    matched: dict[int, Entry] = {}
    used: set[tuple] = set()
    for index, mutant in enumerate(mutants):
        entry = by_key.get(mutant.key) or next((e for e in wide if e.matches(mutant)), None)
        if entry is not None:
            matched[index] = entry
            used.add(entry.key)
    stale = [
        e
        for e in entries
        if e.key not in used and (functions is None or e.function.split(".")[0] in functions)
    ]
    return matched, stale


def entry_text(mutant: Mutant, reason: str = "TODO: why no check can tell") -> str:
    """A TOML entry for ``mutant``, to paste into the list once reviewed."""

    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    lines = [
        "[[mutant]]",
        f"function = {quoted(mutant.function)}",
        f"kind = {quoted(mutant.kind)}",
        f"before = {quoted(mutant.before)}",
        f"after = {quoted(mutant.after)}",
    ]
    if mutant.occurrence != 1:
        lines.append(f"occurrence = {mutant.occurrence}")
    lines.append(f"reason = {quoted(reason)}")
    return "\n".join(lines) + "\n"
