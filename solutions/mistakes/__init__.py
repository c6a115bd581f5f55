"""The code of the catalogued mistakes: wrong versions of the graded functions.

A wrong version is one small edit from the answer, so it lives here, on the instructor's
side, never in the student tree. The public side of a mistake (its name, title and
explanation, shown in the feedback) is the :class:`autograder.core.Mistake` in the
module's check file, ``autograder/checks/mNN_name.py``.

Convention (one file per module, named like the module's reference file):

``solutions/mistakes/mNN_name.py`` defines two mappings, keyed by
``(graded function, mistake name)``, where the mistake name is the ``name`` of a
``Mistake`` in that function's check:

* ``WRONG``: the wrong implementation itself, with the graded function's signature (a
  function, or a class for a graded class);
* ``DERIVED``: a function ``derive(reference) -> wrong implementation`` that builds the
  wrong version from the reference module (a wrapper or a subclass that changes one
  thing), for answers too long to restate.

Every catalogued mistake has exactly one entry, in one of the two; a test fails when an
entry has no ``Mistake`` or a ``Mistake`` no entry. The files import what they need with
absolute imports (``from autograder.checks.m06_gae import ...``): they are loaded by file,
not as a package. After adding or changing a mistake, run ``ppo-course fixtures mNN`` so
that the fixture file stores its outputs on the public cases.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

FOLDER = Path(__file__).resolve().parent

_LOADED: dict[str, types.ModuleType | None] = {}


def load(module_name: str, folder: Path | None = None) -> types.ModuleType | None:
    """The mistake file of a module (``m06_gae``), or None when it does not exist."""
    path = (folder or FOLDER) / f"{module_name}.py"
    key = str(path)
    if key not in _LOADED:
        if not path.is_file():
            _LOADED[key] = None
        else:
            name = f"_ppo_mistakes_{module_name}"
            spec = importlib.util.spec_from_file_location(name, path)
            loaded = importlib.util.module_from_spec(spec)
            sys.modules[name] = loaded
            spec.loader.exec_module(loaded)
            _LOADED[key] = loaded
    return _LOADED[key]


def entries(module_name: str, folder: Path | None = None) -> dict[tuple[str, str], str]:
    """``{(function, mistake): "wrong" | "derived"}`` for a module (empty without a file)."""
    loaded = load(module_name, folder)
    if loaded is None:
        return {}
    out = {key: "wrong" for key in getattr(loaded, "WRONG", {})}
    for key in getattr(loaded, "DERIVED", {}):
        if key in out:
            raise ValueError(f"{module_name}: {key} is in both WRONG and DERIVED")
        out[key] = "derived"
    return out


def build(
    module_name: str, function: str, mistake: str, reference: Any | None
) -> Callable[..., Any] | None:
    """The wrong version of ``function``, or None when its code or the reference it is
    derived from is not installed."""
    loaded = load(module_name)
    if loaded is None:
        return None
    key = (function, mistake)
    wrong = getattr(loaded, "WRONG", {})
    if key in wrong:
        return wrong[key]
    derived = getattr(loaded, "DERIVED", {})
    if key in derived and reference is not None:
        return derived[key](reference)
    return None
