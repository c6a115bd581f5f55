"""The student release (``ppo-course release``) holds no answer, installs, and grades.

One release is built per test session (the notebooks need nbgrader's generate_assignment,
about 20 s). The leak tests:

* no line of any ``### BEGIN SOLUTION`` region of ``solutions/`` appears anywhere in the
  release (text files, and the cells of the notebooks), after whitespace normalisation;
* no function or class defined anywhere in the release, put in the place of a graded
  function, passes all the known-output cases of that function's check
  (``tests/leak_probe.py``, run inside the release);
* ``ppo-course check`` inside the release scores the stubs 0, a correct implementation
  full marks on the public cases, and names a misconception on a public case.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from pathlib import Path

import pytest

from course import paths, release, settings
from course.singlesource import find_regions

pytest.importorskip("nbgrader")

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = pytest.mark.xdist_group("release")

TEXT_SUFFIXES = {".py", ".md", ".json", ".toml", ".yml", ".yaml", ".txt", ".cfg", ".js", ".css"}


@pytest.fixture(scope="session")
def bundle(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("release")
    out = base / "student"
    settings_file = base / "instructor" / "settings.json"
    result = release.release(out, settings_path=settings_file)
    return {"out": out, "result": result, "settings": settings_file, "base": base}


def _env(folder: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PPO_COURSE")}
    env["PYTHONPATH"] = str(folder)
    return env


def _run(folder: Path, *args: str, cwd: Path | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd or folder,
        env=_env(folder),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_release_layout(bundle):
    out, result = bundle["out"], bundle["result"]
    top = {p.name for p in out.iterdir()}
    assert {"course", "autograder", "exercises", "docs", "notebooks"} <= top
    assert {"pyproject.toml", "README.md", "mkdocs.yml"} <= top
    assert not (out / "solutions").exists()
    assert not list(out.rglob("solutions")), "a solutions folder inside the release"
    assert not list(out.rglob("instructor.json")) and not list(out.rglob(".ppo-course"))
    assert not list(out.rglob("__pycache__"))
    pyproject = (out / "pyproject.toml").read_text()
    assert '"course*", "autograder*", "exercises*"' in pyproject
    assert "solutions" not in pyproject.split("[tool.setuptools.packages.find]")[1].split("[")[1]
    assert len(result.notebooks) == len(list((paths.SOLUTIONS_DIR).glob("m[0-9][0-9]_*.py")))
    for notebook in result.notebooks:
        text = notebook.read_text()
        assert "### BEGIN SOLUTION" not in text and "raise NotImplementedError" in text


def test_release_creates_the_settings_once(bundle, tmp_path):
    made = settings.load(bundle["settings"])
    assert bundle["result"].settings_created and made is not None
    seed = made.hidden_seed
    again = release.release(
        tmp_path / "again", with_notebooks=False, settings_path=bundle["settings"]
    )
    assert not again.settings_created
    assert settings.load(bundle["settings"]).hidden_seed == seed
    hidden = str(seed)
    for path in bundle["out"].rglob("*"):
        if path.is_file() and path.suffix in TEXT_SUFFIXES | {".ipynb"}:
            assert hidden not in path.read_text(), f"the hidden seed is in {path}"


def test_release_refuses_a_bad_target(tmp_path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    with pytest.raises(release.ReleaseError, match="not empty"):
        release.release(tmp_path / "full", with_notebooks=False, settings_path=tmp_path / "s")
    with pytest.raises(release.ReleaseError, match="holds the course"):
        release.release(paths.ROOT, with_notebooks=False, settings_path=tmp_path / "s")
    with pytest.raises(release.ReleaseError, match="inside the course"):
        release.release(
            paths.EXERCISES_DIR / "out", with_notebooks=False, settings_path=tmp_path / "s"
        )


# ----------------------------------------------------------------------------- solution text


def normalise(line: str) -> str:
    return " ".join(line.split())


_OPERATORS = {
    "+", "-", "*", "/", "//", "%", "**", "@", "<", ">", "<=", ">=", "==", "!=", "~", "&", "|",
    "^", "<<", ">>", "+=", "-=", "*=", "/=", "//=", "%=", "**=", "@=", "&=", "|=", "^=",
}  # fmt: skip


def trivial(line: str) -> bool:
    """Lines too generic to tell an answer, which the test ignores:

    * blank lines, the markers, comments of one or two words;
    * lines without any operator and without a call that takes an argument: ``pass``,
      ``else:``, ``return x``, ``steps = 0``, ``if action is None:``, ``nn.Tanh(),``,
      ``action = dist.sample()``, ``advantages = batch["advantages"]``; such a line only
      names things (the names are the signature's, the docstring's or the given code's),
      and the same line is everywhere in ordinary code (the trainer, the checks);
    * ``return`` of a constant (``return float("nan")``);
    * a counter stepped by a constant (``steps += 1``).

    Any line that computes (an operator, or a call with arguments) counts, and so does any
    comment of three words or more."""
    text = line.strip()
    if not text or text.startswith("### "):
        return True
    if text.startswith("#"):
        return len(text.lstrip("#").split()) <= 2
    try:
        tokens = [
            t
            for t in tokenize.generate_tokens(io.StringIO(text + "\n").readline)
            if t.type not in (tokenize.NEWLINE, tokenize.NL, tokenize.ENDMARKER)
        ]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        # a fragment of a bracketed expression (``if (``, ``):``): judge its words
        tokens = [t for t in text.replace("(", " ( ").replace(")", " ) ").split()]
        tokens = [
            tokenize.TokenInfo(tokenize.OP if t in _OPERATORS else tokenize.NAME, t, 0, 0, "")
            for t in tokens
        ]
    strings = [t.string for t in tokens]
    if (
        len(tokens) == 3
        and tokens[0].type == tokenize.NAME
        and strings[1] in ("+=", "-=")
        and tokens[2].type == tokenize.NUMBER
    ):
        return True
    if any(t in _OPERATORS for t in strings):
        return False
    for i, t in enumerate(strings[:-1]):
        if t == "(" and i > 0 and strings[i + 1] != ")" and tokens[i - 1].type == tokenize.NAME:
            return strings[0] == "return" and all(
                x.type in (tokenize.STRING, tokenize.NUMBER) or x.string in ("(", ")", "float")
                for x in tokens[1:]
            )
    return True


def _docstrings(source: str) -> str:
    import ast

    texts = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef):
            texts.append(ast.get_docstring(node) or "")
    return "\n".join(normalise(line) for text in texts for line in text.splitlines())


GIVEN_ON_PURPOSE = {
    # m05's page quotes the training step of Lightning's PPO example, as the original notes
    # give it, for the students to find its bug: the quote is one word from the answer by
    # design ("The fix is one word"), and its lines are the answer's lines.
    "advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)": "m05 page",
    "return pg_loss + ent_loss + v_loss": "m05 page (also the module docstring's equation)",
}


def _given_code() -> str:
    """The stubs' text: what every student gets (signatures, docstrings, given code)."""
    return "\n".join(
        normalise(line)
        for path in sorted(paths.EXERCISES_DIR.glob("m[0-9][0-9]_*.py"))
        for line in path.read_text().splitlines()
    )


def solution_lines() -> dict[str, str]:
    """normalised line -> where it comes from, for every non-trivial answer line.

    Left out, as public by design: a line that the exercise's statement itself gives (in
    a docstring of the file, which the stub keeps: the line search's pseudocode says
    ``improvement, kl = evaluate(step)``), a line of the stubs' given code (an earlier
    exercise's call, ``v_loss = value_loss(``), and the lines of ``GIVEN_ON_PURPOSE``."""
    found = {}
    public_lines = set(_given_code().splitlines())
    for path in sorted(paths.SOLUTIONS_DIR.glob("m[0-9][0-9]_*.py")):
        source = path.read_text()
        lines = source.splitlines()
        given = _docstrings(source)
        for region in find_regions(source):
            for number in range(region.begin, region.end - 1):
                line = lines[number]
                text = normalise(line)
                if trivial(line) or text in given or text in GIVEN_ON_PURPOSE:
                    continue
                if text in public_lines:
                    continue
                found.setdefault(text, f"{path.name}:{number + 1}")
    return found


def release_texts(folder: Path) -> dict[str, str]:
    texts = {}
    for path in folder.rglob("*"):
        if not path.is_file():
            continue
        if path.suffix == ".ipynb":
            cells = json.loads(path.read_text())["cells"]
            text = "\n".join("".join(c["source"]) for c in cells)
        elif path.suffix in TEXT_SUFFIXES or path.name in ("README", "LICENSE"):
            text = path.read_text(errors="replace")
        else:
            continue
        texts[str(path.relative_to(folder))] = "\n".join(normalise(x) for x in text.splitlines())
    return texts


def test_trivial_lines_are_only_the_generic_ones():
    assert trivial("    return advantages, returns") and trivial("pass") and trivial("else:")
    assert not trivial("    return -(log_probs * weights).mean()")
    assert not trivial("# work backwards from the last step")
    assert trivial("if (") and trivial("):") and trivial('return float("nan")')
    assert trivial("nn.Tanh(),") and trivial("action = dist.sample()")
    assert not trivial("kl <= max_kl") and not trivial("and improvement > 0")
    assert not trivial("for _ in range(config.update_epochs):")
    assert not trivial("pg_loss = clipped_surrogate_loss(advantages, ratio, clip_coef)")
    assert trivial("steps += 1") and not trivial("running = rewards[t] + gamma * running")
    assert not trivial("total += loss")


def test_no_line_of_a_solution_appears_in_the_release(bundle):
    answers = solution_lines()
    assert len(answers) > 100
    texts = release_texts(bundle["out"])
    assert any(name.endswith(".ipynb") for name in texts)
    found = [
        (where, line, name)
        for line, where in answers.items()
        for name, text in texts.items()
        if line in text
    ]
    assert not found, "\n".join(f"{w} in {n}: {line}" for w, line, n in found[:20])


# ----------------------------------------------------------------------------- substitution


def test_no_function_of_the_release_passes_a_check(bundle, tmp_path):
    """Every function and class of the release, in place of every graded function."""
    probe = Path(__file__).with_name("leak_probe.py")
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(bundle["out"], copy)  # the candidates may write files
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    done = _run(copy, str(probe), str(copy), cwd=scratch, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["import_errors"] == []
    assert report["candidates"] > 300 and report["trials"] > 1000, report
    assert report["leaks"] == [], report["leaks"]


# ----------------------------------------------------------------------------- check


def _check(folder: Path, impl: str, modules: list[str], tmp_path: Path):
    out = tmp_path / f"{Path(impl).name}.json"
    done = _run(folder, "-m", "course.cli", "check", *modules, "--impl", impl, "--json", str(out))
    return done, json.loads(out.read_text())


def test_check_in_the_release_grades_stubs_and_correct_files(bundle, tmp_path):
    folder = bundle["out"]
    correct = tmp_path / "correct"
    correct.mkdir()
    for path in paths.SOLUTIONS_DIR.glob("m[0-9][0-9]_*.py"):
        (correct / path.name).write_text(path.read_text())
    done, stubs = _check(folder, "exercises", ["m06"], tmp_path)
    assert done.returncode == 1 and stubs["score"] == 0, done.stdout
    assert "not implemented" in done.stdout
    done, graded = _check(folder, str(correct), ["m01", "m06", "m09"], tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert graded["score"] == sum(t["max_score"] for t in graded["tests"]) > 0
    assert {t["name"].split(".")[0] for t in graded["tests"]} == {"m01", "m06", "m09"}
    assert "hidden cases run where the reference solutions are installed" in done.stdout


def test_check_in_the_release_names_a_mistake_on_a_public_case(bundle, tmp_path):
    from autograder import engine
    from course.modules import BY_ID

    check = next(
        c for c in engine.load_checks(BY_ID["m01"]) if c.function == "policy_gradient_loss"
    )
    title = next(m.title for m in check.mistakes if m.name == "no-minus")
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    source = (paths.SOLUTIONS_DIR / "m01_policy_gradient.py").read_text()
    assert source.count("return -(log_probs * weights).mean()") == 1
    # The sign of the loss forgotten: the mistake catalogued as no-minus.
    source = source.replace(
        "return -(log_probs * weights).mean()", "return (log_probs * weights).mean()"
    )
    (wrong / "m01_policy_gradient.py").write_text(source)
    done, _ = _check(bundle["out"], str(wrong), ["m01"], tmp_path)
    assert done.returncode == 1
    assert title in done.stdout, done.stdout


# ----------------------------------------------------------------------------- packaging


def test_the_release_builds_a_wheel_without_solutions(bundle, tmp_path):
    done = subprocess.run(
        [
            sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
            "--no-index", "-q", "-w", str(tmp_path), str(bundle["out"]),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.startswith("exercises/") for n in names)
    assert any(n.startswith("autograder/fixtures/") and n.endswith(".json") for n in names)
    assert any(n == "course/cli.py" for n in names)
    assert not [n for n in names if n.startswith("solutions")]


@pytest.mark.slow
def test_the_release_installs_offline_in_a_fresh_environment(bundle, tmp_path):
    """``pip install RELEASE`` in a new virtual environment, from the local wheels only."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = venv / "bin" / "pip"
    for args in (["torch==2.13.0"], [str(bundle["out"])]):
        done = subprocess.run(
            [str(pip), "install", "-q", *args], capture_output=True, text=True, timeout=1200
        )
        assert done.returncode == 0, done.stderr[-3000:]
    done = subprocess.run(
        [str(venv / "bin" / "ppo-course"), "check", "m01"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "not implemented" in done.stdout, done.stdout + done.stderr
    # `pytest autograder`, as the README says: pytest came with the install
    done = subprocess.run(
        [str(venv / "bin" / "pytest"), "autograder", "-q", "-k", "m01"],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=bundle["out"],
    )
    assert done.returncode == 1 and " failed" in done.stdout, done.stdout[-3000:]


def test_the_release_builds_its_site_without_the_solutions(bundle, tmp_path):
    pytest.importorskip("mkdocs")
    site = tmp_path / "site"
    done = _run(
        bundle["out"], "-m", "mkdocs", "build", "--strict", "--site-dir", str(site), timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    pages = list(site.rglob("*.html"))
    assert any("m04_ppo_clip" in str(p) for p in pages)
    assert not any("Reference solution" in p.read_text() for p in pages)


# ----------------------------------------------------------------------------- the student README


def _bash_lines(markdown: str) -> list[str]:
    blocks = re.findall(r"```bash\n(.*?)```", markdown, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_the_student_readme_installs_torch_as_the_course_readme_does():
    course = (paths.ROOT / "README.md").read_text()
    pins = set(re.findall(r"pip install (torch==[\w.]+)", course))
    assert len(pins) == 1, pins
    (pin,) = pins
    cpu = next(line for line in _bash_lines(course) if "--index-url" in line and pin in line)
    student = release.README
    lines = _bash_lines(student)
    assert f"pip install {pin}" in lines and cpu in lines
    torch_lines = [line for line in lines if re.search(r"\btorch\b", line)]
    assert all(pin in line for line in torch_lines), torch_lines
    assert "CUDA build" in student and "CPU-only wheel" in student


COMMAND_DISTRIBUTIONS = {"pytest": "pytest", "jupyter": "notebook", "mkdocs": "mkdocs"}
"""The commands a README may name, and the distribution that provides each."""


def test_the_install_of_the_release_brings_what_its_readme_uses():
    import tomllib

    project = tomllib.loads(release.pyproject_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.match(r"[A-Za-z0-9_.-]+", r)[0].lower() for r in requirements}

    readme = release.README
    installed = names(project["dependencies"])
    for extra in re.findall(r'pip install -e "\.\[(\w+)\]"', readme):
        installed |= names(project["optional-dependencies"][extra])
    used = {
        word
        for span in re.findall(r"`([^`\n]+)`", readme) + _bash_lines(readme)
        for word in [span.split()[0]]
        if word in COMMAND_DISTRIBUTIONS
    }
    assert {"pytest", "jupyter"} <= used, used
    missing = {c: d for c, d in COMMAND_DISTRIBUTIONS.items() if c in used and d not in installed}
    assert not missing, f"the README uses {missing} that its install does not bring"
    assert "pytest" in names(project["dependencies"]), "`pytest autograder` needs pytest"
    course = tomllib.loads((paths.ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == course["scripts"]  # the `ppo-course` command, as installed
