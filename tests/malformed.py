"""Malformed submissions: each is untrusted input of one kind that the grader must read
safely (every other student graded, the honest ones at their usual score).

:data:`FILES` are submissions of module m01 whose file is malformed (a notebook whose
cells are not what nbformat says, nested too deeply, not UTF-8; a link; a named pipe):
each scores nothing and says why. :data:`NAMES` are names a file system allows but a
grade sheet, a terminal or a Markdown table does not take as they are (bytes that are
not UTF-8, a newline, a spreadsheet formula): each holds the reference and must score
full marks under its name, shown safely.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from course import paths
from course.modules import BY_ID
from tests.submissions import replace_functions

M01 = BY_ID["m01"]
NOTEBOOK = M01.filename.replace(".py", ".ipynb")


def reference() -> str:
    return (paths.SOLUTIONS_DIR / M01.filename).read_text()


def notebook(cells: list, **top) -> str:
    """A notebook's JSON text with ``cells`` after a code cell holding the reference."""
    first = {"cell_type": "code", "metadata": {}, "source": reference(), "outputs": []}
    return json.dumps({"cells": [first, *cells], "metadata": {}, "nbformat": 4, **top})


def _write(name: str, content: str | bytes) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return build


def _deep(folder: Path) -> None:
    levels = 200_000
    (folder / NOTEBOOK).write_text('{"cells": [' + "[" * levels + "]" * levels + "]}")


def _link_to_solutions(folder: Path) -> None:
    (folder / M01.filename).symlink_to(paths.SOLUTIONS_DIR / M01.filename)


def _folder_link(folder: Path) -> None:
    folder.rmdir()
    folder.symlink_to(paths.SOLUTIONS_DIR, target_is_directory=True)


def _inner_folder_link(folder: Path) -> None:
    (folder / "exercises").symlink_to(paths.SOLUTIONS_DIR, target_is_directory=True)


def _fifo(name: str) -> Callable[[Path], None]:
    def build(folder: Path) -> None:
        os.mkfifo(folder / name)

    return build


# name -> (how to build the student's folder, what the student's note says)
FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "source_number": (
        _write(NOTEBOOK, notebook([{"cell_type": "code", "metadata": {}, "source": 42}])),
        "the source of cell 2 is not text",
    ),
    "source_dict": (
        _write(NOTEBOOK, notebook([{"cell_type": "code", "source": {"code": "x = 1"}}])),
        "the source of cell 2 is not text",
    ),
    "source_list_of_numbers": (
        _write(NOTEBOOK, notebook([{"cell_type": "code", "source": [1, 2.5, None]}])),
        "the source of cell 2 is not text",
    ),
    "cells_not_a_list": (_write(NOTEBOOK, json.dumps({"cells": {"0": "x"}})), "not a readable"),
    "top_level_list": (_write(NOTEBOOK, "[1, 2, 3]"), "not a readable notebook"),
    "nested_200000_deep": (_deep, "nested too deeply"),
    "notebook_not_utf8": (_write(NOTEBOOK, b'\xff\xfe{"cells": []}'), "not UTF-8"),
    "link_to_the_solutions": (_link_to_solutions, "is a link and was not followed"),
    "folder_is_a_link": (_folder_link, "is a link and was not followed"),
    "inner_folder_is_a_link": (_inner_folder_link, "exercises is a link and was not followed"),
    "named_pipe_py": (_fifo(M01.filename), "is not a regular file"),
    "named_pipe_notebook": (_fifo(NOTEBOOK), "is not a regular file"),
}

# Cells of odd types around the reference: skipped, and the reference is graded.
ODD_CELLS = [
    5,
    "a string",
    None,
    {"cell_type": ["code"], "source": "raise SystemExit"},
    {"cell_type": "code", "metadata": [], "source": "x = 1\n"},
    {"cell_type": "code", "metadata": {"nbgrader": ["grade"]}, "source": ["y = 2\n"]},
    {"cell_type": "code", "metadata": {"nbgrader": {"grade": "yes"}}, "source": "z = 3\n"},
    {"cell_type": "code", "source": "s = '\ud800'\n"},  # a lone surrogate
]

# Text a submission produces (what it prints, its exception's message): terminal escape
# sequences, a carriage return, a lone surrogate (not UTF-8), a formula. The function
# fails; the report and the sheet show the text escaped.
ESCAPES = """
def discounted_returns(rewards, dones, gamma):
    print("\\x1b[2J\\x1b]0;owned\\x07\\rlooks fine")
    raise ValueError("=HYPERLINK(1)\\x1b[31m\\ud800\\nsecond line")
"""

# Students holding the reference under a hostile name (the folder's name as bytes; a
# name never holds "/").
NAMES: dict[str, bytes] = {
    "not_utf8": b"student-\xff\xfe-\xc3",
    "newline": b"eve\nmallory",
    "control": b"\tcarol\r\x1b[2J",
    "formula_equals": b'=HYPERLINK("evil.example","click")',
    "formula_plus": b"+1+1",
    "formula_minus": b"-2+3",
    "formula_at": b"@SUM(A1)",
}

# Files of an honest submission whose names are hostile: graded, shown safely.
FILE_NAMES: dict[str, bytes] = {
    "not_utf8": b"m01_policy_gradient-\xff.py",
    "newline": b"m01_policy_gradient\n=HYPERLINK(1).py",
}


def honest(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / M01.filename).write_text(reference())


def build_class(root: Path) -> dict[str, str]:
    """Write a class into ``root``: honest students, every malformed kind, every hostile
    name. Returns {folder name: what the student is: "full", "odd cells" or a kind}."""
    students: dict[str, str] = {}
    honest(root / "alice")
    students["alice"] = "full"
    stub = root / "bob_stub"
    stub.mkdir()
    (stub / M01.filename).write_text((paths.EXERCISES_DIR / M01.filename).read_text())
    students["bob_stub"] = "stub"
    for kind, (build, _) in FILES.items():
        folder = root / f"x_{kind}"
        folder.mkdir()
        build(folder)
        students[folder.name] = kind
    odd = root / "x_odd_cells"
    odd.mkdir()
    (odd / NOTEBOOK).write_text(notebook(ODD_CELLS))
    students[odd.name] = "full"
    escapes = root / "x_escapes"
    escapes.mkdir()
    source = replace_functions(reference(), {"discounted_returns": ESCAPES})
    (escapes / M01.filename).write_text(source)
    students[escapes.name] = "escapes"
    for raw in NAMES.values():
        name = os.fsdecode(raw)
        honest(root / name)
        students[name] = "full"
    for kind, raw in FILE_NAMES.items():
        folder = root / f"y_file_{kind}"
        folder.mkdir()
        (folder / os.fsdecode(raw)).write_text(reference())
        students[folder.name] = "full"
    return students
