"""Turn a submission as it arrives into a folder laid out like ``exercises/``.

A submission may hold ``mNN_*.py`` files, or the module notebooks (``mNN_*.ipynb``),
loose, nested in one folder (as LMS exports and zip files do), or one folder per
assignment (as nbgrader collects them: ``<student>/<assignment>/<notebook>``).
Notebooks are read as JSON on the trusted side (never executed): the code of every code
cell except nbgrader's test cells is kept, with IPython magics and shell lines commented
out, and written as the module's ``.py`` file. Anything else is ignored. Each surprise
becomes a note for the student's row, never a crash of the run.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from course.modules import MODULES, Module

MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
MAX_FILE_BYTES = 2 * 1024 * 1024
_SKIP = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")


def _module_for(path: Path) -> Module | None:
    match = re.match(r"(m\d\d)", path.stem.lower())
    if not match:
        return None
    for module in MODULES:
        if module.id == match[1]:
            return module
    return None


def _candidates(folder: Path) -> list[Path]:
    return [
        p
        for p in folder.iterdir()
        if p.is_file() and not p.is_symlink() and p.suffix in (".py", ".ipynb") and _module_for(p)
    ]


def find_root(folder: Path, depth: int = 2) -> Path:
    """The folder that holds the module files: ``folder`` itself, or its only sub-folder
    (recursively, ``depth`` levels) when it holds none."""
    current = folder
    for _ in range(depth):
        if _candidates(current):
            return current
        subfolders = [
            p
            for p in current.iterdir()
            if p.is_dir()
            and not p.is_symlink()
            and not p.name.startswith(".")
            and p.name not in _SKIP
        ]
        if len(subfolders) != 1:
            return current
        current = subfolders[0]
    return current


def _subfolders(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".") and p.name not in _SKIP
    )


def module_files(folder: Path) -> list[Path]:
    """The module files of a submission: those of :func:`find_root`, or, when it holds
    none, those of each of its sub-folders (nbgrader collects one folder per assignment:
    ``submitted/<student>/<assignment>/<notebook>``), each looked for as in
    :func:`find_root`. Folders named after a module come first."""
    root = find_root(folder)
    found = _candidates(root)
    if found:
        return found
    for sub in sorted(_subfolders(root), key=lambda p: (_module_for(p) is None, p.name)):
        found += _candidates(find_root(sub, depth=1))
    return found


def notebook_code(path: Path) -> str:
    """The code of a notebook's cells that a student wrote or was given, as a module.

    Raises:
        ValueError: the file is not a notebook (one line).
    """
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MB")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cells = data["cells"]
    except (OSError, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValueError(f"{path.name} is not a readable notebook") from None
    pieces = []
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
        if isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"):
            continue  # an autograded test cell: the grader runs its own checks
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else str(source)
        if "autograder.notebook" in text:
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in text.splitlines()
        ]
        pieces.append("\n".join(lines))
    code = "\n\n\n".join(pieces) + "\n"
    # ``from __future__`` must come first in a module; cells may hold it anywhere.
    future = sorted(set(re.findall(r"^from __future__ import [^\n]+$", code, flags=re.M)))
    if future:
        code = (
            "\n".join(future)
            + "\n"
            + re.sub(r"^from __future__ import [^\n]+$", "", code, flags=re.M)
        )
    return code


def stage(folder: Path, target: Path, modules: list[Module]) -> tuple[Path, list[str]]:
    """Write the submission in ``folder`` as ``target/mNN_name.py`` files.

    Returns the staged folder and notes for the student's row (a file that was left out,
    a notebook that could not be read). A module given both as ``.py`` and ``.ipynb`` is
    graded from the ``.py`` file."""
    notes: list[str] = []
    target.mkdir(parents=True, exist_ok=True)
    chosen: dict[str, Path] = {}
    files = module_files(folder)
    order = {path: index for index, path in enumerate(files)}

    def preference(path: Path) -> tuple:
        module = _module_for(path)
        exact = module is not None and path.stem == module.name
        # an assignment folder named after another module holds that module's files
        folder_module = _module_for(path.parent)
        elsewhere = folder_module is not None and folder_module is not module
        return (elsewhere, not exact, path.suffix != ".py", order[path], path.name)

    for path in sorted(files, key=preference):
        module = _module_for(path)
        if module is not None and module.id not in chosen:
            chosen[module.id] = path
    wanted = {m.id for m in modules}
    for module_id, path in sorted(chosen.items()):
        module = next(m for m in MODULES if m.id == module_id)
        destination = target / module.filename
        if path.suffix == ".py":
            if path.stat().st_size > MAX_FILE_BYTES:
                if module_id in wanted:
                    notes.append(f"{path.name} is larger than 2 MB and was not graded")
                continue
            shutil.copyfile(path, destination)
        else:
            try:
                destination.write_text(notebook_code(path), encoding="utf-8")
            except ValueError as exc:
                if module_id in wanted:
                    notes.append(str(exc))
    return target, notes
