"""One source, several front ends: generate the exercise stubs from ``solutions/``.

Every graded function is written once, in ``solutions/mNN_*.py``, with its answer between
``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's markers). :func:`make_stub`
keeps everything else (imports, signature, type hints, docstring, given code) and
replaces each marked region by a ``raise NotImplementedError`` that names the exercise
and its docs page. :func:`build` writes ``exercises/`` and refuses to overwrite a file
that a student has edited unless forced.
"""

from __future__ import annotations

import ast
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from course import paths
from course.modules import MODULES, Module

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
MANIFEST = ".generated.json"

_MARKER = re.compile(r"^(?P<indent>[ \t]*)(?P<marker>### (BEGIN|END) SOLUTION)\s*$")


class SourceError(Exception):
    """A solution file whose markers cannot be turned into a stub."""


@dataclass(frozen=True)
class Region:
    """A marked answer: lines ``begin``..``end`` (1-based, markers included)."""

    begin: int
    end: int
    indent: str
    qualname: str


def _definitions(tree: ast.AST) -> list[tuple[int, int, str]]:
    """(first line, last line, qualified name) of every function, in any class."""
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = f"{prefix}{child.name}"
                if not isinstance(child, ast.ClassDef):
                    found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")

    visit(tree, "")
    return found


def find_regions(source: str, filename: str = "<solution>") -> list[Region]:
    """The marked answers of a solution file, each inside exactly one function.

    Raises:
        SourceError: unbalanced or nested markers, or a region outside any function.
    """
    tree = ast.parse(source, filename)
    defs = _definitions(tree)
    regions: list[Region] = []
    open_at: tuple[int, str] | None = None
    for number, line in enumerate(source.splitlines(), start=1):
        match = _MARKER.match(line)
        if not match:
            continue
        if match["marker"] == BEGIN:
            if open_at:
                raise SourceError(f"{filename}:{number}: {BEGIN} inside another region")
            open_at = (number, match["indent"])
            continue
        if not open_at:
            raise SourceError(f"{filename}:{number}: {END} without {BEGIN}")
        begin, indent = open_at
        owners = [d for d in defs if d[0] < begin <= d[1]]
        if not owners:
            raise SourceError(f"{filename}:{begin}: a solution region must be inside a function")
        innermost = max(owners, key=lambda d: d[0])
        regions.append(Region(begin, number, indent, innermost[2]))
        open_at = None
    if open_at:
        raise SourceError(f"{filename}:{open_at[0]}: {BEGIN} is never closed")
    return regions


def docs_anchor(module: Module, qualname: str) -> str:
    """Where the docs explain an exercise: the module page, at the top-level name."""
    return f"docs/{module.docs_page}#{qualname.split('.')[0]}"


DOCS_WIDTH = 88  # the widest code line the docs show without scrolling


def stub_body(module: Module, qualname: str, indent: str, width: int = DOCS_WIDTH) -> list[str]:
    """The lines that replace one marked answer: a comment naming the exercise's docs
    section, and a ``raise NotImplementedError`` that names the exercise. Every line fits
    in ``width`` (the docs' code column), as ``ruff format`` leaves it."""
    comment = f"{indent}# YOUR CODE HERE (see {docs_anchor(module, qualname)})"
    message = f'"{module.id}.{qualname}: not implemented yet"'
    one_line = f"{indent}raise NotImplementedError({message})"
    if len(one_line) <= width:
        return [comment, one_line]
    return [comment, f"{indent}message = {message}", f"{indent}raise NotImplementedError(message)"]


def header(module: Module) -> list[str]:
    return [
        f"# Exercise {module.id}: {module.title}.",
        "# Replace every `raise NotImplementedError(...)` with your code, then run",
        f"#     ppo-course check {module.id}",
        f"# Generated from solutions/{module.filename} by `ppo-course build`:",
        "# the signatures, docstrings and given code are the reference's.",
    ]


def make_stub(source: str, module: Module) -> str:
    """The exercise file for ``module`` from its solution ``source``."""
    regions = find_regions(source, f"solutions/{module.filename}")
    if not regions:
        raise SourceError(f"solutions/{module.filename} has no {BEGIN} region")
    lines = source.splitlines()
    out = header(module)
    cursor = 0
    for region in regions:
        out.extend(lines[cursor : region.begin - 1])
        out.extend(stub_body(module, region.qualname, region.indent))
        cursor = region.end
    out.extend(lines[cursor:])
    return "\n".join(out) + "\n"


def exercise_names(source: str) -> list[str]:
    """Qualified names of the functions with a marked answer, in file order."""
    return list(dict.fromkeys(r.qualname for r in find_regions(source)))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def solution_modules() -> list[Module]:
    """The modules that have a reference file."""
    return [m for m in MODULES if (paths.SOLUTIONS_DIR / m.filename).is_file()]


@dataclass
class BuildResult:
    written: list[str]
    unchanged: list[str]
    kept: list[str]  # edited by a student: left alone

    def summary(self) -> str:
        parts = [f"{len(self.written)} written", f"{len(self.unchanged)} unchanged"]
        if self.kept:
            parts.append(f"{len(self.kept)} kept because edited ({', '.join(self.kept)})")
        return ", ".join(parts)


def expected_exercises(modules: list[Module] | None = None) -> dict[str, str]:
    """File name -> the content generation gives, for each module with a reference."""
    out = {}
    for module in modules or solution_modules():
        source = (paths.SOLUTIONS_DIR / module.filename).read_text()
        out[module.filename] = make_stub(source, module)
    return out


def build(
    modules: list[Module] | None = None,
    force: bool = False,
    target: Path | None = None,
) -> BuildResult:
    """Write the exercise stubs into ``target`` (default ``exercises/``).

    A file is overwritten only when it is missing, or is exactly what an earlier build
    wrote (its hash is in the folder's manifest), or ``force`` is set: a student's edits
    are never lost by accident.
    """
    target = target or paths.EXERCISES_DIR
    target.mkdir(parents=True, exist_ok=True)
    manifest_path = target / MANIFEST
    manifest = json.loads(manifest_path.read_text()) if manifest_path.is_file() else {}
    result = BuildResult([], [], [])
    for filename, text in expected_exercises(modules).items():
        path = target / filename
        if path.is_file():
            current = path.read_text()
            if current == text:
                result.unchanged.append(filename)
                manifest[filename] = _digest(text)
                continue
            if not force and manifest.get(filename) != _digest(current):
                result.kept.append(filename)
                continue
        path.write_text(text)
        manifest[filename] = _digest(text)
        result.written.append(filename)
    init = target / "__init__.py"
    if not init.exists():
        init.write_text('"""Your implementations of the graded functions (generated stubs)."""\n')
    manifest_path.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")
    return result
