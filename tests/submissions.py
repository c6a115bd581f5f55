"""Build submissions for tests: the reference with some functions replaced by other code."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

from course import paths
from course.modules import lookup


def replace_functions(source: str, replacements: dict[str, str]) -> str:
    """``source`` with each named top-level function replaced by the given code."""
    tree = ast.parse(source)
    lines = source.splitlines()
    spans = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and node.name in replacements:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            spans[node.name] = (start, node.end_lineno)
    missing = set(replacements) - set(spans)
    if missing:
        raise KeyError(f"no top-level definitions {missing}")
    for name, (start, end) in sorted(spans.items(), key=lambda item: -item[1][0]):
        lines[start - 1 : end] = textwrap.dedent(replacements[name]).strip().splitlines()
    return "\n".join(lines) + "\n"


def make_submission(folder: Path, changes: dict[str, dict[str, str] | str | None]) -> Path:
    """Write a submission into ``folder``.

    ``changes`` maps a module id to: a dict of function replacements (the reference
    otherwise), a string (the whole file), or None (the file is left out).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for key, change in changes.items():
        module = lookup(key)
        if change is None:
            continue
        if isinstance(change, str):
            text = change
        else:
            text = replace_functions((paths.SOLUTIONS_DIR / module.filename).read_text(), change)
        (folder / module.filename).write_text(text)
    return folder
