"""nbgrader source notebooks, generated from ``solutions/`` (the one source).

For each module, :func:`percent_source` writes a jupytext "percent" script: a markdown
cell from the module's docstring, a locked setup cell with the imports, then for each
graded function a solution cell (the reference, with nbgrader's ``### BEGIN/END
SOLUTION`` markers, which nbgrader's ``generate_assignment`` replaces by a stub) followed
by a locked, autograded test cell that calls the same check as ``ppo-course check``::

    from autograder.notebook import check
    check("m01.discounted_returns", globals())

:func:`write_course` turns the scripts into notebooks in an nbgrader course folder
(``source/<module id>/<module name>.ipynb``) and writes an ``nbgrader_config.py``.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from course import paths
from course.modules import Module
from course.singlesource import find_regions

_SNIPPET = re.compile(r"^\s*# --8<-- \[(start|end):[^\]]*\]\s*$")
_RELATIVE = re.compile(r"^from \.(m\d\d_\w+) import (.+)$", re.M)

CONFIG = '''"""nbgrader configuration of the PPO course (written by `ppo-course notebooks`)."""

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.root = "."
# Every exercise cell ends up as: the docstring kept, the body a stub that raises.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}
# Importing torch and running a check takes seconds, not the default 30 s limit's worth,
# but give slow machines room.
c.ExecutePreprocessor.timeout = 300
'''


def _meta(**fields) -> str:
    data = {"schema_version": 3, "task": False, **fields}
    return "nbgrader=" + json.dumps(data, sort_keys=True)


def _strip_snippets(lines: list[str]) -> list[str]:
    return [line for line in lines if not _SNIPPET.match(line)]


def _comment_markdown(text: str) -> list[str]:
    return [f"# {line}" if line else "#" for line in text.strip().splitlines()]


def _first_line(node: ast.AST) -> int:
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def percent_source(module: Module, points: dict[str, int] | None = None) -> str:
    """The module's notebook as a jupytext percent script.

    Args:
        points: points per graded function (default: the checks' points).
    """
    source = (paths.SOLUTIONS_DIR / module.filename).read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    graded = {r.qualname.split(".")[0] for r in find_regions(source)}
    if points is None:
        from autograder.engine import load_checks

        points = {c.function: c.points for c in load_checks(module)}

    docstring = ast.get_docstring(tree) or ""
    _, _, rest = docstring.partition("\n")
    out = ["# %% [markdown]", f"# # {module.id}: {module.title}", "#"]
    out += _comment_markdown(rest)
    out += [
        "#",
        "# Fill in every cell that says `YOUR CODE HERE`, then run the test cell below it: it",
        f"# runs the same checks as `ppo-course check {module.id}` and prints what is wrong.",
        f"# The theory and worked examples are on the module's page, docs/{module.docs_page}.",
        "",
    ]

    body = [
        n
        for n in tree.body
        if not (isinstance(n, ast.Expr) and n is tree.body[0] and isinstance(n.value, ast.Constant))
    ]
    first_def = next(
        (i for i, n in enumerate(body) if isinstance(n, ast.FunctionDef | ast.ClassDef)),
        len(body),
    )
    setup_nodes = body[:first_def]
    if setup_nodes:
        start = setup_nodes[0].lineno - 1
        end = setup_nodes[-1].end_lineno
        setup = _strip_snippets(lines[start:end])
        setup_text = "\n".join(setup)
        if _RELATIVE.search(setup_text):
            setup_text = _RELATIVE.sub(r"from exercises.\1 import \2", setup_text)
            setup = [
                "# Functions of earlier modules come from your exercises/ files (an earlier",
                "# module's notebook works too: paste your functions here instead).",
                *setup_text.splitlines(),
            ]
        out += [f"# %% {_meta(grade=False, solution=False, locked=True, grade_id='setup')}"]
        out += [*setup, ""]

    later = body[first_def:]
    for index, node in enumerate(later):
        start = _first_line(node) - 1
        stop = _first_line(later[index + 1]) - 1 if index + 1 < len(later) else len(lines)
        # A node ends at its last statement; its trailing comments (### END SOLUTION) too.
        cell = _strip_snippets(lines[start:stop])
        while cell and not cell[-1].strip():
            cell.pop()
        name = getattr(node, "name", None)
        if name in graded:
            out += [
                f"# %% {_meta(grade=False, solution=True, locked=False, grade_id=name)}",
                *cell,
                "",
                "# %% "
                + _meta(
                    grade=True,
                    solution=False,
                    locked=True,
                    points=points.get(name, 1),
                    grade_id=f"test_{name}",
                ),
                "from autograder.notebook import check",
                "",
                f'check("{module.id}.{name}", globals())',
                "",
            ]
        else:
            out += [
                f"# %% {_meta(grade=False, solution=False, locked=True, grade_id=f'given_{name}')}"
            ]
            out += [*cell, ""]
    return "\n".join(out).rstrip() + "\n"


def notebook(module: Module):
    """The module's notebook (an nbformat object)."""
    import jupytext

    nb = jupytext.reads(percent_source(module), fmt="py:percent")
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata.pop("jupytext", None)
    for cell in nb.cells:
        cell.metadata.pop("lines_to_next_cell", None)
    return nb


def write_course(folder: Path, modules: list[Module]) -> list[Path]:
    """Write ``source/<id>/<name>.ipynb`` for each module, and ``nbgrader_config.py`` if the
    folder has none. Returns the files written."""
    import nbformat

    folder = Path(folder)
    written = []
    config = folder / "nbgrader_config.py"
    if not config.exists():
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(CONFIG)
        written.append(config)
    for module in modules:
        target = folder / "source" / module.id / f"{module.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(module), str(target))
        written.append(target)
    return written
