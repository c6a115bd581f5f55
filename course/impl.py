"""Load an implementation of the graded functions: ``exercises``, ``solutions`` or a folder.

An implementation is a folder laid out like ``exercises/`` (files ``mNN_*.py``). It is
imported as a package under a fresh, private name, so two implementations (a student's
and the reference) can live in one process, and sibling modules import each other with
relative imports (``from .m04_ppo_clip import clipped_surrogate_loss``).
"""

from __future__ import annotations

import importlib
import itertools
import sys
import traceback
import types
from pathlib import Path

from course import paths
from course.modules import Module

_counter = itertools.count()


class ImplError(Exception):
    """A usage problem with an implementation: missing folder or file, or a file that fails
    to import. The message is one line, fit for a terminal."""


def resolve(spec: str | Path) -> Path:
    """Turn ``exercises``, ``solutions`` or a path into an existing folder.

    Raises:
        ImplError: when the folder does not exist.
    """
    text = str(spec)
    if text == "exercises":
        folder = paths.EXERCISES_DIR
    elif text == "solutions":
        folder = paths.SOLUTIONS_DIR
        if not folder.is_dir():
            raise ImplError(
                "the reference solutions are not part of this copy of the course "
                "(no solutions/ folder)"
            )
    else:
        folder = Path(text).expanduser()
    if not folder.is_dir():
        if folder.is_file() and folder.suffix == ".py":
            raise ImplError(f"{folder} is a file: pass the folder that holds it")
        raise ImplError(f"no such folder: {folder}")
    return folder.resolve()


def describe(spec: str | Path) -> str:
    """A short label for reports: ``exercises``, ``solutions`` or the folder path."""
    return str(spec) if str(spec) in ("exercises", "solutions") else str(Path(spec))


def fresh_package(folder: Path) -> str:
    """Register ``folder`` as a new package with a private name and return that name."""
    name = f"_ppo_impl_{next(_counter)}"
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    package.__file__ = None
    package.__package__ = name
    sys.modules[name] = package
    return name


def _student_frame(exc: BaseException, filename: str) -> str:
    """``line N: <source>`` of the deepest frame in ``filename``, or ``""``."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename]
    if isinstance(exc, SyntaxError) and exc.filename == filename and exc.lineno:
        text = (exc.text or "").strip()
        return f"line {exc.lineno}: {text}" if text else f"line {exc.lineno}"
    if not frames:
        return ""
    frame = frames[-1]
    return f"line {frame.lineno}: {(frame.line or '').strip()}"


def _where(exc: BaseException, folder: Path, path: Path) -> str:
    """Where in the implementation's folder ``exc`` comes from: ``line N: <source>`` in the
    imported file itself, or ``in mNN_other.py, line N: <source>`` when the error is in a
    sibling file it imports (a syntax error there points at that file, not at the import
    line)."""
    files = [Path(f.filename) for f in traceback.extract_tb(exc.__traceback__)]
    if isinstance(exc, SyntaxError) and exc.filename:
        files.append(Path(exc.filename))
    mine = [f for f in files if f.parent == folder and f.suffix == ".py"]
    culprit = mine[-1] if mine else path
    where = _student_frame(exc, str(culprit))
    if where and culprit != path:
        return f"in {culprit.name}, {where}"
    return where


def import_module(folder: Path, module: Module, package: str | None = None) -> types.ModuleType:
    """Import ``module`` from ``folder`` (a fresh copy unless ``package`` is given).

    Raises:
        ImplError: the file is missing or raised while importing; the message names the
            exception and the line in the student's file.
    """
    path = folder / module.filename
    if not path.is_file():
        raise ImplError(f"{folder} has no {module.filename}")
    package = package or fresh_package(folder)
    try:
        return importlib.import_module(f"{package}.{module.name}")
    except Exception as exc:  # the student's file: anything can happen
        where = _where(exc, folder, path)
        where = f" ({where})" if where else ""
        text = exc.msg if isinstance(exc, SyntaxError) else str(exc)
        message = f"{type(exc).__name__}: {text}".strip()
        raise ImplError(f"{module.filename} does not import: {message}{where}") from None


class Implementation:
    """A loaded implementation, one package shared by all its modules.

    Example:
        >>> impl = Implementation("solutions")
        >>> impl.function("m01", "discounted_returns")  # doctest: +SKIP
    """

    def __init__(self, spec: str | Path) -> None:
        self.spec = spec
        self.label = describe(spec)
        self.folder = resolve(spec)
        self.package = fresh_package(self.folder)
        self._modules: dict[str, types.ModuleType] = {}

    def module(self, module: Module | str) -> types.ModuleType:
        from course.modules import lookup

        module = lookup(module) if isinstance(module, str) else module
        if module.id not in self._modules:
            self._modules[module.id] = import_module(self.folder, module, self.package)
        return self._modules[module.id]

    def function(self, module: Module | str, name: str):
        mod = self.module(module)
        try:
            return getattr(mod, name)
        except AttributeError:
            raise ImplError(f"{Path(mod.__file__).name} defines no {name}") from None
