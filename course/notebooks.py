"""nbgrader source notebooks, generated from ``solutions/`` (the one source).

For each module, :func:`percent_source` writes a jupytext "percent" script: a markdown
cell from the module's docstring, a locked setup cell with the imports, then for each
graded function a solution cell (the reference, with nbgrader's ``### BEGIN/END
SOLUTION`` markers, which nbgrader's ``generate_assignment`` replaces by a stub) followed
by a locked, autograded test cell that calls the same check as ``ppo-course check``::

    from autograder.notebook import check
    check("m01.discounted_returns", globals())

A module that builds on earlier ones (m05 calls m04's ``clipped_surrogate_loss``) carries
those earlier exercises as answer cells of its own (nbgrader's "autograded answer" cells:
no points, stubbed in the released notebook, kept as the student wrote them), so that the
student pastes their earlier answers there and nbgrader, which restores locked cells,
never replaces them.

:func:`write_course` turns the scripts into notebooks in an nbgrader course folder
(``source/<module id>/<module name>.ipynb``) and writes an ``nbgrader_config.py`` with
the course id, absolute roots, an exchange inside the course folder, and the sandboxed
autograde of ``autograder/nbgrader_sandbox.py`` (the kernel under bubblewrap, the scores
from the sandboxed grader).
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

COURSE_ID = "ppo-course"

CONFIG = '''"""nbgrader configuration of the PPO course (written by `ppo-course notebooks`)."""

import os
import tempfile
import warnings

c = get_config()  # noqa: F821 (nbgrader provides get_config)

# nbgrader 0.9 with SQLAlchemy 2 warns, the first time it autogrades a submission, that the
# new submission is "not in session" for an autoflush; it is added to the gradebook right
# after, and the grades are right. Only that message is silenced.
warnings.filterwarnings(
    "ignore", message=r"Object of type <Submitted\\w+> not in session", module="nbgrader"
)

c.CourseDirectory.course_id = {course_id!r}
c.CourseDirectory.root = {root!r}
# The exchange (release, fetch, submit, collect) lives inside the course folder; on a
# shared server, point it at a folder every student can write to.
c.Exchange.root = {exchange!r}
# Every exercise cell ends up as: the docstring kept, the body a stub that raises.
c.ClearSolutions.code_stub = {{"python": "# YOUR CODE HERE\\nraise NotImplementedError()"}}
# Importing torch and running a check takes seconds, not the default 30 s limit's worth,
# but give slow machines room.
c.ExecutePreprocessor.timeout = 300
# The grading kernels talk to nbgrader over local sockets, not TCP (ipykernel warns that
# TCP without encryption is readable by anyone on the machine). A socket path must be
# short and absolute, hence a folder in the system's temporary directory.
_sockets = os.path.join(tempfile.gettempdir(), f"ppo-course-kernels-{{os.getuid()}}")
os.makedirs(_sockets, mode=0o700, exist_ok=True)
c.KernelManager.transport = "ipc"
c.KernelManager.ip = os.path.join(_sockets, "kernel")

# Students' notebooks are untrusted code. `nbgrader autograde` runs each one in a kernel
# started under the grader's sandbox (bubblewrap: no solutions, no settings, no network,
# nothing of the course writable), and the score of each test cell comes from the
# sandboxed grader of `ppo-course grade` (hidden cases included), never from what the
# kernel printed. Without bubblewrap, autograde refuses to run the notebooks.
from autograder.nbgrader_sandbox import configure  # noqa: E402

configure(c)
'''

STUDENT_CONFIG = '''"""nbgrader configuration for a student of the PPO course.

Copy it to the folder where you run `nbgrader fetch_assignment` and `nbgrader submit`.
"""

c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = {course_id!r}
c.Exchange.root = {exchange!r}
'''


def config_text(folder: Path, course_id: str = COURSE_ID, student: bool = False) -> str:
    """``nbgrader_config.py`` for a course in ``folder`` (made absolute), or the students'
    version (course id and exchange only)."""
    root = Path(folder).resolve()
    template = STUDENT_CONFIG if student else CONFIG
    return template.format(course_id=course_id, root=str(root), exchange=str(root / "exchange"))


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
    carried: list[tuple[str, list[str]]] = []
    if setup_nodes:
        start = setup_nodes[0].lineno - 1
        end = setup_nodes[-1].end_lineno
        setup = _strip_snippets(lines[start:end])
        setup_text = "\n".join(setup)
        for match in _RELATIVE.finditer(setup_text):
            names = [n.strip() for n in match[2].strip("()").split(",") if n.strip()]
            carried.append((match[1], names))
        setup = [line for line in _RELATIVE.sub("", setup_text).splitlines()]
        while setup and not setup[-1].strip():
            setup.pop()
        out += [f"# %% {_meta(grade=False, solution=False, locked=True, grade_id='setup')}"]
        out += [*setup, ""]
    given = set(out)
    for earlier, names in carried:
        cells = _carried_cells(module, earlier, names, given)
        given |= set(cells)
        out += cells

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


def _carried_cells(module: Module, earlier: str, names: list[str], given: set[str]) -> list[str]:
    """Answer cells (no points) for the earlier module's functions that ``module`` calls,
    and the earlier module's other definitions those functions need; a locked cell with
    the earlier module's imports that ``given`` (the lines so far) lacks."""
    from course.modules import BY_NAME

    source = (paths.SOLUTIONS_DIR / f"{earlier}.py").read_text()
    tree = ast.parse(source)
    lines = source.splitlines()
    defs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    wanted, todo = [], list(names)
    while todo:
        name = todo.pop(0)
        if name in wanted or name not in defs:
            continue
        wanted.append(name)
        used = {n.id for n in ast.walk(defs[name]) if isinstance(n, ast.Name)}
        todo += sorted(used & set(defs))
    graded = {r.qualname.split(".")[0] for r in find_regions(source)}
    earlier_id = BY_NAME[earlier].id
    listed = ", ".join(f"`{n}`" for n in names)
    out = [
        "# %% [markdown]",
        f"# ## From {earlier_id}",
        "#",
        f"# {module.id} calls {listed} of {earlier_id}. Paste your own answers from the "
        f"{earlier_id} notebook (or `exercises/{earlier}.py`) into the cells below: they are "
        f"graded in {earlier_id}, and here the checks of {module.id} use them.",
        "",
    ]
    imports = [
        ast.get_source_segment(source, n)
        for n in tree.body
        if isinstance(n, ast.Import)
        or (isinstance(n, ast.ImportFrom) and n.level == 0 and n.module != "__future__")
    ]
    imports = [line for line in imports if line not in given]
    if imports:
        meta = _meta(grade=False, solution=False, locked=True, grade_id=f"{earlier_id}_imports")
        out += [f"# %% {meta}", *imports, ""]
    starts = [*sorted(_first_line(n) for n in tree.body[1:]), len(lines) + 1]
    for name in sorted(wanted, key=lambda n: defs[n].lineno):
        node = defs[name]
        # A definition runs to the next one: its trailing ### END SOLUTION comes along.
        stop = next(s for s in starts if s > node.end_lineno) - 1
        cell = _strip_snippets(lines[_first_line(node) - 1 : stop])
        while cell and not cell[-1].strip():
            cell.pop()
        if name in graded:
            meta = _meta(grade=False, solution=True, locked=False, grade_id=f"{earlier_id}_{name}")
        else:
            meta = _meta(
                grade=False, solution=False, locked=True, grade_id=f"given_{earlier_id}_{name}"
            )
        out += [f"# %% {meta}", *cell, ""]
    return out


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
    """Write ``source/<id>/<name>.ipynb`` for each module, and, if the folder has none,
    ``nbgrader_config.py`` (the instructor's) and ``student/nbgrader_config.py`` (what the
    students need to fetch and submit); make the exchange. Returns the files written."""
    import nbformat

    folder = Path(folder)
    written = []
    config = folder / "nbgrader_config.py"
    if not config.exists():
        folder.mkdir(parents=True, exist_ok=True)
        config.write_text(config_text(folder))
        written.append(config)
    student_config = folder / "student" / "nbgrader_config.py"
    if not student_config.exists():
        student_config.parent.mkdir(parents=True, exist_ok=True)
        student_config.write_text(config_text(folder, student=True))
        written.append(student_config)
    exchange = folder / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o777)  # what nbgrader requires of an exchange (it warns otherwise)
    for module in modules:
        target = folder / "source" / module.id / f"{module.name}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook(module), str(target))
        written.append(target)
    return written
