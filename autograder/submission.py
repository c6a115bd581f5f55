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
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from course.modules import MODULES, Module

MAX_NOTEBOOK_BYTES = 16 * 1024 * 1024
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_NOTEBOOK_DEPTH = 64
"""Nesting of a notebook's JSON (objects and arrays) beyond which it is not parsed; a
notebook written by Jupyter is about 6 deep, its outputs' data a few more."""
MAX_ENTRIES = 5000
"""Entries of one folder looked at; the rest are ignored (with a note)."""
MAX_NAME = 80
_SKIP = ("__MACOSX", ".ipynb_checkpoints", "__pycache__")


class Unreadable(ValueError):
    """A submitted file that is not read: a link, not a regular file, too large, not
    what its name says (the message is one line, with the file's name shown safely)."""


def shown(name: str, limit: int = MAX_NAME) -> str:
    """A file or folder name as it can be printed and written anywhere: bytes that are
    not UTF-8 as ``\\xNN``, control characters (newlines, tabs) escaped, at most ``limit``
    characters."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        raw = name.encode("utf-8", "backslashreplace")
    text = raw.decode("utf-8", "backslashreplace")
    text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text(value: str) -> str:
    """``value`` with what cannot be written as UTF-8 (lone surrogates) escaped."""
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def read_bytes(path: Path, limit: int) -> bytes:
    """The content of the submitted file ``path``, read without following a link and
    without blocking (a named pipe, a device), at most ``limit`` bytes.

    Raises:
        Unreadable: a link, not a regular file, larger than ``limit``, or unreadable.
    """
    name = shown(path.name)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        if path.is_symlink():
            raise Unreadable(f"{name} is a link and was not followed")
        fd = os.open(path, flags)
    except Unreadable:
        raise
    except OSError as exc:
        raise Unreadable(f"{name} could not be read ({exc.strerror or 'error'})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Unreadable(f"{name} is not a regular file")
        if info.st_size > limit:
            raise Unreadable(f"{name} is larger than {_size(limit)}")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(f"{name} is larger than {_size(limit)}")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"{name} could not be read ({exc.strerror or 'error'})") from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    return f"{limit // 2**20} MB" if limit >= 2**20 else f"{limit} bytes"


@dataclass
class Listing:
    """What one folder of a submission holds, looked at without following links."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def listing(folder: Path) -> Listing:
    """The regular files and the folders of ``folder`` (links, named pipes, devices and
    sockets are never followed: a link to a module file or to a folder becomes a note)."""
    out = Listing()
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        out.notes.append(f"{shown(folder.name)} could not be read ({exc.strerror or 'error'})")
        return out
    if len(entries) > MAX_ENTRIES:
        out.notes.append(f"{shown(folder.name)} holds more than {MAX_ENTRIES} entries")
        entries = entries[:MAX_ENTRIES]
    for entry in entries:
        path = Path(entry.path)
        try:
            if entry.is_symlink():
                if _module_for(path) or _looks_like_folder(entry):
                    out.notes.append(f"{shown(entry.name)} is a link and was not followed")
            elif entry.is_dir(follow_symlinks=False):
                out.folders.append(path)
            elif entry.is_file(follow_symlinks=False):
                out.files.append(path)
            elif _module_for(path):
                out.notes.append(f"{shown(entry.name)} is not a regular file")
        except OSError:
            continue
    return out


def _looks_like_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False


def _module_for(path: Path) -> Module | None:
    match = re.match(r"(m\d\d)", path.stem.lower())
    if not match:
        return None
    for module in MODULES:
        if module.id == match[1]:
            return module
    return None


def _candidates(files: list[Path]) -> list[Path]:
    return [p for p in files if p.suffix in (".py", ".ipynb") and _module_for(p)]


def find_root(folder: Path, depth: int = 2) -> tuple[Path, list[str]]:
    """The folder that holds the module files: ``folder`` itself, or its only sub-folder
    (recursively, ``depth`` levels) when it holds none; and the notes of the folders
    looked into (links not followed)."""
    current = folder
    notes: list[str] = []
    for level in range(depth + 1):
        found = listing(current)
        notes += found.notes
        if _candidates(found.files) or level == depth:
            return current, notes
        subfolders = [
            p for p in found.folders if not p.name.startswith(".") and p.name not in _SKIP
        ]
        if len(subfolders) != 1:
            return current, notes
        current = subfolders[0]
    return current, notes


def _depth(raw: str) -> int:
    """How deeply the arrays and objects of the JSON text ``raw`` nest (strings skipped)."""
    brackets = re.sub(r"[^\[\]{}]+", "", _STRINGS.sub("", raw))
    depth = deepest = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_NOTEBOOK_DEPTH:
                    return deepest
        else:
            depth -= 1
    return deepest


_STRINGS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')


def _cell_text(source, number: int, name: str) -> str:
    if isinstance(source, str):
        return source
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        return "".join(source)
    raise Unreadable(f"{name} is not a valid notebook: the source of cell {number} is not text")


def _subfolders(folders: list[Path]) -> list[Path]:
    return sorted(p for p in folders if not p.name.startswith(".") and p.name not in _SKIP)


def module_files(folder: Path) -> tuple[list[Path], list[str]]:
    """The module files of a submission: those of :func:`find_root`, or, when it holds
    none, those of each of its sub-folders (nbgrader collects one folder per assignment:
    ``submitted/<student>/<assignment>/<notebook>``), each looked for as in
    :func:`find_root`; and the notes of the folders looked into (links not followed).
    Folders named after a module come first."""
    root, notes = find_root(folder)
    found = listing(root)
    files = _candidates(found.files)
    if files:
        return files, notes
    for sub in sorted(_subfolders(found.folders), key=lambda p: (_module_for(p) is None, p.name)):
        sub_root, sub_notes = find_root(sub, depth=1)
        notes += sub_notes
        files += _candidates(listing(sub_root).files)
    return files, notes


def notebook_code(path: Path) -> str:
    """The code of a notebook's cells that a student wrote or was given, as a module.

    The file is untrusted: it is read without following a link, at most
    ``MAX_NOTEBOOK_BYTES``, parsed only when it nests at most ``MAX_NOTEBOOK_DEPTH``
    deep, and every field is checked for its type before it is used.

    Raises:
        ValueError: the file is not a notebook (one line).
    """
    name = shown(path.name)
    raw = read_bytes(path, MAX_NOTEBOOK_BYTES)
    try:
        source_text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Unreadable(f"{name} is not a readable notebook (not UTF-8)") from None
    if _depth(source_text) > MAX_NOTEBOOK_DEPTH:
        raise Unreadable(f"{name} is not a readable notebook (nested too deeply)")
    try:
        data = json.loads(source_text)
    except (ValueError, RecursionError, MemoryError):
        raise Unreadable(f"{name} is not a readable notebook") from None
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        raise Unreadable(f"{name} is not a readable notebook")
    pieces = []
    for number, cell in enumerate(cells, start=1):
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        metadata = cell.get("metadata")
        meta = metadata.get("nbgrader", {}) if isinstance(metadata, dict) else {}
        if isinstance(meta, dict) and meta.get("grade") and not meta.get("solution"):
            continue  # an autograded test cell: the grader runs its own checks
        code = text(_cell_text(cell.get("source", ""), number, name))
        if "autograder.notebook" in code:
            continue
        lines = [
            f"# {line}" if line.lstrip().startswith(("%", "!")) else line
            for line in code.splitlines()
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


@dataclass
class Staged:
    """A submission written as ``folder/mNN_name.py`` files: the files graded (their
    names as submitted, shown safely) and the notes for the student's row."""

    folder: Path
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def collect(folder: Path, target: Path, modules: list[Module]) -> Staged:
    """Write the submission in ``folder`` as ``target/mNN_name.py`` files.

    Every file is untrusted input: no link is followed, only regular files are read,
    each with a size limit, notebooks with a depth limit, and names are shown safely. A
    module given both as ``.py`` and ``.ipynb`` is graded from the ``.py`` file. Nothing
    here raises for what a submission holds: each surprise is a note (for the modules
    graded) and the file is left out."""
    target.mkdir(parents=True, exist_ok=True)
    staged = Staged(target)
    if folder.is_symlink():
        staged.notes.append(f"{shown(folder.name)} is a link and was not followed")
        return staged
    files, found_notes = module_files(folder)
    wanted = {m.id for m in modules}
    staged.notes += [n for n in found_notes if _wanted_note(n, wanted)]
    chosen: dict[str, Path] = {}
    order = {path: index for index, path in enumerate(files)}

    def preference(path: Path) -> tuple:
        module = _module_for(path)
        exact = module is not None and path.stem == module.name
        # an assignment folder named after another module holds that module's files
        folder_module = _module_for(path.parent)
        elsewhere = folder_module is not None and folder_module is not module
        return (
            elsewhere,
            not exact,
            path.suffix != ".py",
            order[path],
            path.name.encode("utf-8", "surrogateescape"),
        )

    for path in sorted(files, key=preference):
        module = _module_for(path)
        if module is not None and module.id not in chosen:
            chosen[module.id] = path
    for module_id, path in sorted(chosen.items()):
        module = next(m for m in MODULES if m.id == module_id)
        destination = target / module.filename
        try:
            if path.suffix == ".py":
                content = read_bytes(path, MAX_FILE_BYTES)
            else:
                content = notebook_code(path).encode("utf-8")
        except ValueError as exc:
            if module_id in wanted:
                note = str(exc)
                if path.suffix == ".py" and "larger than" in note:
                    note += " and was not graded"
                staged.notes.append(note)
            continue
        destination.write_bytes(content)
        staged.files.append(shown(path.name))
    return staged


def _wanted_note(note: str, wanted: set[str]) -> bool:
    match = re.match(r"(m\d\d)", note.lower())
    return match is None or match[1] in wanted


def stage(folder: Path, target: Path, modules: list[Module]) -> tuple[Path, list[str]]:
    """:func:`collect`, as the staged folder and the notes for the student's row."""
    staged = collect(folder, target, modules)
    return staged.folder, staged.notes
