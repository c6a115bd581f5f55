"""The student release: a copy of the course without the answers.

:func:`release` writes, into an empty folder, an installable project of its own (its own
``pyproject.toml``, packaging ``course``, ``autograder`` and ``exercises`` but never
``solutions``), the exercise stubs, the autograder (checks, fixture files with the known
outputs, the stored outputs of the catalogued mistakes and the values the properties
expect), the docs sources, the notebooks in nbgrader's release form (answers replaced by
stubs) and a README for students. Nothing that computes an answer is copied: no
``solutions/`` (references, mistakes' code, oracles), no hidden seed, no instructor
settings. It also creates the instructor's settings (the hidden seed that
``ppo-course grade`` uses) unless they exist.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from course import paths, settings
from course.modules import Module

COPIED = ("course", "autograder", "exercises", "docs")
"""The folders of the course a student gets (``solutions/``, ``tests/``, ``benchmarks/``
stay with the instructor)."""
COPIED_FILES = ("mkdocs.yml",)
COPIED_DATA = ("benchmarks/results",)
"""Measured results that the pages quote at build time (numbers, not code)."""
IGNORED = ("__pycache__", "*.pyc", "*.pyo", ".ipynb_checkpoints", "*.egg-info", ".DS_Store")
MAINTAINERS_ONLY = ("course/figures", "course/train/device_update.py", "autograder/mutation")
"""Tooling that stays with the instructor: the figure scripts draw the docs' figures with
their own copies of the course's algorithms (the m07 comparison runs a PPO update), and the
device trainer's update is m09's algorithm (a student's copy trains on the device with the
student's own ``ppo_update``); the mutation run grades variants of the reference."""


STUDENT_TOOLS = ("pytest>=7.4",)
"""What the student README's commands need beyond the course's own dependencies
(``pytest autograder``); Jupyter, for the notebooks, is the ``notebooks`` extra."""


class ReleaseError(Exception):
    """A usage problem (target not empty, no solutions, nbgrader missing); one line."""


@dataclass
class ReleaseResult:
    folder: Path
    notebooks: list[Path] = field(default_factory=list)
    settings_path: Path | None = None
    settings_created: bool = False


def _check_target(out: Path, force: bool) -> None:
    root = paths.ROOT.resolve()
    out = out.resolve()
    if out == root or root.is_relative_to(out):
        raise ReleaseError(f"{out} holds the course itself: choose another folder")
    for name in (*COPIED, "solutions"):
        if out.is_relative_to(root / name):
            raise ReleaseError(f"{out} is inside the course's {name}/ folder")
    if out.exists() and any(out.iterdir()):
        if not force:
            raise ReleaseError(f"{out} is not empty (pass --force to replace it)")
        shutil.rmtree(out)


def pyproject_text() -> str:
    """The release's ``pyproject.toml``: the course's metadata, without ``solutions``."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        raise ReleaseError("releasing needs Python 3.11 or later (tomllib)") from None
    data = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())
    project = data["project"]
    extras = dict(project.get("optional-dependencies", {}))
    keep = {k: v for k, v in extras.items() if k in ("notebooks", "docs", "tensorboard")}
    keep["notebooks"] = [*keep.get("notebooks", []), "notebook>=7"]
    keep["dev"] = ["ruff>=0.5"]
    # What the student README uses comes with a plain install (`pytest autograder`).
    dependencies = [*project["dependencies"], *STUDENT_TOOLS]

    def strings(values: list[str]) -> str:
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    lines = [
        "[build-system]",
        'requires = ["setuptools>=68"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{project["name"]}"',
        f'version = "{project["version"]}"',
        f'description = "{project["description"]} Student edition: exercises and checks."',
        'readme = "README.md"',
        f'requires-python = "{project["requires-python"]}"',
        f'license = {{ text = "{project.get("license", {}).get("text", "MIT")}" }}',
        f"dependencies = {strings(dependencies)}",
        "",
        "[project.optional-dependencies]",
        *[f"{name} = {strings(values)}" for name, values in keep.items()],
        "",
        "[project.scripts]",
        *[f'{name} = "{target}"' for name, target in project["scripts"].items()],
        "",
        "[tool.setuptools.packages.find]",
        "# No solutions: this copy of the course holds no answers.",
        'include = ["course*", "autograder*", "exercises*"]',
        "",
        "[tool.setuptools.package-data]",
        'autograder = ["fixtures/*.json"]',
        "",
        "[tool.pytest.ini_options]",
        'testpaths = ["autograder"]',
        "",
        "[tool.ruff]",
        "line-length = 100",
        'target-version = "py310"',
        "",
    ]
    return "\n".join(lines)


README = """# PPO from first principles: your copy of the course

Ten modules, from the vanilla policy gradient to PPO on the GPU. In each one you write a
few functions; the autograder checks them against known numbers and properties, and
names the misconception when your output matches a mistake students often make.

## Install

```bash
python3 -m venv .venv && . .venv/bin/activate
pip install torch==2.13.0
pip install -e .
```

The second line installs PyTorch 2.13.0 from PyPI: on Linux that is the CUDA build, several
GB of NVIDIA libraries (it runs on the CPU too, when there is no GPU); on macOS and Windows
it is the CPU build. For the CPU-only wheel on Linux (a few hundred MB), take it from
PyTorch's CPU index: run this instead of the second line.

```bash
pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
```

The last line installs this folder with what the commands below use: the `ppo-course`
command and pytest (for `pytest autograder`). To work in the notebooks, install Jupyter
with it: `pip install -e ".[notebooks]"` (Jupyter Notebook and nbgrader).

## Work

1. Read the module's page: the Markdown in `docs/modules/` (your instructor may also host
   the rendered site).
2. Fill in the functions of `exercises/mNN_*.py`: each stub says which one and where its
   theory is. Or work in the module's notebook, `notebooks/mNN/`: open it with
   `jupyter notebook notebooks/m01/` (after the `.[notebooks]` install above).
3. Check your work: `ppo-course check m01` (or `pytest autograder`). For each failing case
   you see the inputs, the expected and the received values, and the likely mistake.
4. Train an agent with your own functions: `ppo-course train CartPole-v1 --algo reinforce`.

Your checks here use the public cases. When you hand in, your instructor grades with
these and with hidden cases drawn from a seed you do not know, so a function that only
reproduces the public numbers does not pass.

## Hand in

Hand in the files of `exercises/` (or your notebooks) as your instructor says.
"""


def _ignore(folder: str, names: list[str]) -> set[str]:
    return set(shutil.ignore_patterns(*IGNORED)(folder, names))


def release_notebooks(modules: list[Module], out: Path) -> list[Path]:
    """The modules' notebooks in nbgrader's release form (``nbgrader generate_assignment``
    in a scratch course), copied to ``out/<module id>/``.

    Raises:
        ReleaseError: nbgrader is not installed, or fails.
    """
    from course import notebooks

    nbgrader = Path(sys.executable).with_name("nbgrader")
    if not nbgrader.exists():
        found = shutil.which("nbgrader")
        if found is None:
            raise ReleaseError(
                'the release notebooks need nbgrader: pip install -e ".[notebooks]" '
                "(or pass --no-notebooks)"
            )
        nbgrader = Path(found)
    written = []
    with tempfile.TemporaryDirectory(prefix="ppo-course-release-") as scratch:
        course = Path(scratch) / "course"
        notebooks.write_course(course, modules)
        done = subprocess.run(
            [str(nbgrader), "generate_assignment", "*", "--log-level=WARN"],
            cwd=course,
            capture_output=True,
            text=True,
            timeout=900,
        )
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise ReleaseError(f"nbgrader generate_assignment failed: {tail[0]}")
        for module in modules:
            source = course / "release" / module.id / f"{module.name}.ipynb"
            target = out / module.id / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
            written.append(target)
    return written


def release(
    out: Path,
    modules: list[Module] | None = None,
    force: bool = False,
    with_notebooks: bool = True,
    settings_path: Path | None = None,
) -> ReleaseResult:
    """Write the student bundle into ``out`` and create the instructor's settings.

    Args:
        out: an empty (or missing) folder outside the course.
        modules: the modules whose notebooks to release (default: every graded module).
        force: replace a folder that is not empty.
        with_notebooks: also write ``notebooks/`` (needs nbgrader).
        settings_path: where the instructor's settings are (default: the usual place).

    Raises:
        ReleaseError: a usage problem, in one line.
    """
    if not paths.SOLUTIONS_DIR.is_dir():
        raise ReleaseError("releasing needs the instructor's copy of the course (solutions/)")
    out = Path(out).expanduser()
    _check_target(out, force)
    if modules is None:
        from autograder.engine import graded_modules

        modules = graded_modules()
    out.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        shutil.copytree(paths.ROOT / name, out / name, ignore=_ignore)
    for name in MAINTAINERS_ONLY:
        if (out / name).is_dir():
            shutil.rmtree(out / name)
        elif (out / name).exists():
            (out / name).unlink()
    for name in COPIED_DATA:
        if (paths.ROOT / name).is_dir():
            shutil.copytree(paths.ROOT / name, out / name, ignore=_ignore)
    for name in COPIED_FILES:
        if (paths.ROOT / name).is_file():
            shutil.copy(paths.ROOT / name, out / name)
    (out / "pyproject.toml").write_text(pyproject_text())
    (out / "README.md").write_text(README)
    (out / ".gitignore").write_text(
        "__pycache__/\n*.egg-info/\n.venv/\nbuild/\ndist/\nsite/\nruns/\n"
    )
    result = ReleaseResult(out)
    if with_notebooks:
        result.notebooks = release_notebooks(modules, out / "notebooks")
    made, created = settings.create(settings_path)
    result.settings_path, result.settings_created = made.path, created
    return result
