"""The site builds strictly, works offline, and holds every page and anchor the feedback
links to; its default build shows no reference solution, the instructor build does; in a
real browser, every page's math is typeset and nothing is wider than the content column."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest
import yaml

from autograder.engine import graded_modules, load_checks
from course import paths
from tests import docs_browser

pytest.importorskip("mkdocs")

# One worker runs this file's tests: they share what its fixtures build once.
pytestmark = pytest.mark.xdist_group("site")


def _build(out: Path, *options: str) -> Path:
    env = {"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out), *options],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The default build: what students and readers see."""
    return _build(tmp_path_factory.mktemp("site"))


@pytest.fixture(scope="module")
def instructor_site(tmp_path_factory) -> Path:
    """The instructor build, with the reference solutions."""
    return _build(tmp_path_factory.mktemp("site-instructor"), "-f", "mkdocs-instructor.yml")


def _html(site: Path) -> dict[str, str]:
    return {str(p.relative_to(site)): p.read_text() for p in site.rglob("*.html")}


def test_nothing_is_fetched_from_elsewhere(site):
    external = re.compile(r"""<(script|link|img|iframe)[^>]+(src|href)=["'](https?:)?//""")
    for name, html in _html(site).items():
        offending = [
            m.group(0) for m in external.finditer(html) if 'rel="canonical"' not in m.group(0)
        ]
        assert not offending, f"{name}: {offending[:3]}"
    for css in site.rglob("*.css"):
        assert not re.search(r"url\((['\"])?(https?:)?//", css.read_text()), css
    assert (site / "assets/vendor/katex/katex.min.js").is_file()
    assert (site / "assets/vendor/katex/fonts/KaTeX_Main-Regular.woff2").is_file()


def test_every_directive_was_expanded(site):
    for name, html in _html(site).items():
        assert "{{ fixture" not in html and "{{ mistakes" not in html, name
        assert "--8&lt;--" not in html and "--8<--" not in html, name


def test_feedback_links_point_to_real_anchors(site):
    for module in graded_modules():
        page = site / "modules" / module.name / "index.html"
        assert page.is_file(), f"no page for {module.id}"
        ids = set(re.findall(r'id="([^"]+)"', page.read_text()))
        for check in load_checks(module):
            assert check.function in ids, f"{check.docs}: no such anchor"


def test_every_module_page_is_in_the_nav():
    config = yaml.safe_load((paths.ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    text = yaml.safe_dump(config["nav"])
    for module in graded_modules():
        assert f"modules/{module.name}.md" in text, f"{module.id} is not in the nav"


def test_worked_examples_show_the_fixture_values(site):
    html = (site / "modules/m01_policy_gradient/index.html").read_text()
    text = re.sub(r"<[^>]+>", "", html)
    # The hand case "one episode, gamma 0.5" expects 2.75, 3.5 and 3 (autograder/fixtures);
    # its title says what the case is, and its last line where the numbers come from.
    assert "one episode, gamma 0.5" in text and "hand:" not in text
    assert "worked out by hand" in text
    assert "[[2.75]," in text and "[3.5 ]," in text


def _text(site: Path) -> str:
    """Every page's text, tags removed, entities decoded, all whitespace dropped."""
    pages = (unescape(re.sub(r"<[^>]+>", "", p.read_text())) for p in site.rglob("*.html"))
    return re.sub(r"\s+", "", "".join(pages))


def _solution_bodies() -> list[tuple[str, str]]:
    """(file, body) of every ``### BEGIN SOLUTION`` region of two lines or more."""
    bodies = []
    for path in sorted((paths.ROOT / "solutions").glob("m*.py")):
        for match in re.finditer(
            r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", path.read_text(), re.S
        ):
            if len([line for line in match[1].splitlines() if line.strip()]) >= 2:
                bodies.append((path.name, re.sub(r"\s+", "", match[1])))
    return bodies


def test_only_the_instructor_build_shows_the_reference_solutions(site, instructor_site):
    bodies = _solution_bodies()
    assert len(bodies) >= 20
    shown = _text(instructor_site)
    missing = [name for name, body in bodies if body not in shown]
    assert not missing, f"the instructor build lacks reference solutions of {missing}"
    hidden = _text(site)
    leaked = [name for name, body in bodies if body in hidden]
    assert not leaked, f"the default build shows reference solutions of {leaked}"
    for name, page in _html(site).items():
        assert "Reference solution" not in page, name


def test_snippet_files_are_not_pages(site):
    config = yaml.safe_load((paths.ROOT / "mkdocs.yml").read_text().replace("!!python", "#"))
    in_nav = set(re.findall(r"[\w/.-]+\.md", yaml.safe_dump(config["nav"])))
    for page in site.rglob("index.html"):
        folder = page.parent.relative_to(site)
        source = "index.md" if folder == Path(".") else f"{folder}.md"
        assert source in in_nav, f"{folder}/ is published but is no page of the nav"
    index = json.loads((site / "search" / "search_index.json").read_text())
    for entry in index["docs"]:
        assert not entry["location"].startswith("assets/"), entry["location"]
        assert not re.search(r"\\[(\[a-zA-Z]|\$", entry["title"]), f"raw TeX: {entry['title']}"


def test_the_sources_are_named_not_nicknamed():
    nickname = re.compile(r"\bseed(?: notes|'s\b)", re.I)
    files = [paths.ROOT / "README.md", *(paths.ROOT / "docs").rglob("*.md")]
    files += (paths.ROOT / "autograder" / "fixtures").glob("*.json")
    for folder in ("solutions", "exercises", "tests", "course", "autograder"):
        files += (paths.ROOT / folder).rglob("*.py")
    for path in files:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not nickname.search(line), f"{path.relative_to(paths.ROOT)}:{number}: {line}"
    home = (paths.ROOT / "docs" / "index.md").read_text()
    sources = home[home.index("## Sources") :]
    for name in (
        "PPOLightningAgent",
        "training_step",
        "estimate_returns_and_advantages",
        "Williams (1992)",
        "Trust Region Policy Optimization",
        "Generalized Advantage Estimation",
        "Proximal Policy Optimization Algorithms",
    ):
        assert name in sources, f"the home page's Sources do not name {name}"


def test_reference_docstrings_and_comments_fit_a_code_block():
    """A code block at 1280 px holds 88 characters (see the browser test): the references,
    from which the stubs and the pages' snippets come, stay within that."""
    for path in sorted((paths.ROOT / "solutions").glob("m*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert len(line) <= 88, f"{path.name}:{number} has {len(line)} characters"


def _mistake_titles(page: str) -> list[str]:
    """The catalogue's titles, in order, of every mistakes list the page's source asks for."""
    source = paths.DOCS_DIR / (page.rstrip("/") + ".md")
    titles = []
    for module_id, function in re.findall(
        r"^[ \t]*\{\{\s*mistakes\s+(\S+)\s+(\S+)\s*\}\}", source.read_text(), re.M
    ):
        module = next(m for m in graded_modules() if m.id == module_id)
        check = next(c for c in load_checks(module) if c.function == function)
        titles += [mistake.title for mistake in check.mistakes]
    return titles


# What a note for readers of the Markdown source says; no rendered page says it.
SOURCE_NOTES = re.compile(r"Markdown source|double braces|mkdocs serve|127\.0\.0\.1")


def _page_problems(page: str, r: dict, phone: bool = False) -> list[str]:
    """What a reader would trip over on one page, at one width (on a phone, a block of
    code scrolls sideways, as a reader expects; on a desktop it fits its line)."""
    problems = []
    if r["unrendered"] or r["rendered"] != r["arithmatex"]:
        problems.append(f"{page}: {r['arithmatex'] - r['rendered']} formulas not typeset")
    problems += [
        f"{page}: {w['what']} {w['width']} px > {r['column']}: {w['text']}" for w in r["wide"]
    ]
    if not phone:
        problems += [f"{page}: code {c['width']} px wide: {c['text']}" for c in r["code"]]
    problems += [f"{page}: table splits `{name}`" for name in r["broken"]]
    problems += [f"{page}: raw TeX in heading or nav: {h}" for h in r["headings"]]
    problems += [f"{page}: raw TeX in text: {t}" for t in r["raw"]]
    problems += [f"{page}: a note on the source: {m[0]}" for m in SOURCE_NOTES.finditer(r["text"])]
    return problems


def test_code_shown_on_the_pages_fits_a_code_block():
    """Every region of a source file that a page includes (``--8<-- "file:section"``)
    keeps its lines, as the page shows them, within the 88 characters a block holds."""
    import textwrap

    regions = 0
    for page in sorted(paths.DOCS_DIR.rglob("*.md")):
        for name, section in re.findall(r'--8<-- "([^":]+):([^"]+)"', page.read_text()):
            text = (paths.ROOT / name).read_text()
            region = re.search(
                rf"--8<-- \[start:{re.escape(section)}\]\n(.*?)\n.*--8<-- \[end:", text, re.S
            )
            assert region, f"{page.name}: {name} has no section {section}"
            regions += 1
            for line in textwrap.dedent(region[1]).splitlines():
                assert len(line) <= 88, f"{page.name}, {name}:{section}: {len(line)}: {line}"
    assert regions >= 30


def _pages_in_a_browser(site: Path, width: int, screenshots: Path | None = None) -> dict:
    reports = {}
    with docs_browser.Browser(docs_browser.find()) as browser:
        for page in docs_browser.pages(site):
            browser.open((site / page / "index.html").as_uri(), width)
            reports[page or "home"] = browser.probe()
            if screenshots is not None and page.startswith("modules/"):
                name = f"{page.strip('/').split('/')[-1]}_{width}.png"
                browser.screenshot(screenshots / name)
    return reports


@pytest.mark.skipif(docs_browser.find() is None, reason="no headless Chromium on this machine")
def test_every_page_reads_well_in_a_browser(site):
    """At 1280 px: every formula typeset, no display equation or table wider than the
    content column, no code name split mid-word in a table, no raw TeX in a heading or the
    table of contents. ``PPO_COURSE_DOCS_SCREENSHOTS=DIR`` also saves a screenshot of every
    module page at 1280 and 390 px."""
    shots = os.environ.get("PPO_COURSE_DOCS_SCREENSHOTS")
    folder = Path(shots) if shots else None
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
    reports = _pages_in_a_browser(site, 1280, folder)
    assert len(reports) >= 13, sorted(reports)
    problems = [p for page, r in reports.items() for p in _page_problems(page, r)]
    # A phone: the same, except that a wide table may scroll in the theme's wrapper, and
    # code in its block.
    phone = _pages_in_a_browser(site, 390, folder)
    problems += [
        p for page, r in phone.items() for p in _page_problems(f"{page} (390 px)", r, phone=True)
    ]
    assert not problems, "\n".join(problems)
    m01 = reports["modules/m01_policy_gradient/"]
    assert m01["equations"] >= 5
    assert sum(r["rendered"] for r in reports.values()) > 400
    assert len(phone) == len(reports)


@pytest.mark.skipif(docs_browser.find() is None, reason="no headless Chromium on this machine")
def test_what_a_reader_sees_is_what_the_sources_say(site):
    """Each mistake's title reads as the catalogue writes it (code keeps its case), and
    each figure a page quotes from a results file is the file's, as the reader sees it."""
    from course.docs_hooks import result_value

    reports = _pages_in_a_browser(site, 1280)
    problems, figures = [], 0
    for page, r in reports.items():
        if page.startswith("modules/"):
            expected = [f"{title}" for title in _mistake_titles(page)]
            if r["mistakes"] != expected:
                wrong = sorted(set(r["mistakes"]) ^ set(expected))[:5]
                problems.append(f"{page}: mistake titles differ from the catalogue: {wrong}")
        for f in r["figures"]:
            figures += 1
            if f["text"] != result_value(f["file"], f["key"], f["format"]):
                problems.append(f"{page}: {f['text']!r} is not {f['file']}'s {f['key']}")
    assert not problems, "\n".join(problems)
    assert sum(len(r["mistakes"]) for r in reports.values()) >= 100
    assert figures >= 10


def test_the_default_build_needs_no_solutions_folder():
    """The solution boxes go before the snippets are read, so a student's copy of the course,
    which has no ``solutions/``, still builds its site."""
    from course.docs_hooks import strip_solutions

    page = (
        "Before.\n\n"
        '??? success "Reference solution"\n'
        "    ```python\n"
        '    --8<-- "solutions/m01_policy_gradient.py:discounted_returns"\n'
        "    ```\n\n"
        "## After\n"
    )
    assert strip_solutions(page) == "Before.\n\n## After\n"
    for path in (paths.DOCS_DIR / "modules").glob("*.md"):
        left = strip_solutions(path.read_text())
        assert "solutions/" not in left.replace("--impl solutions", ""), path.name


def test_a_quoted_figure_is_read_from_its_results_file():
    """``{{ result FILE KEY FORMAT }}`` prints the file's value, picked and reduced as the
    key says; a file outside the results folders, or a key that picks no single value,
    stops the build."""
    from mkdocs.exceptions import PluginError

    from course.docs_hooks import expand, result_value

    data = json.loads((paths.ROOT / "benchmarks/results/gpu.json").read_text())
    rows = [r for r in data["training"] if r["env"] == "CartPole-v1"]
    torch_row = next(r for r in rows if r["setup"] == "torch (cpu)")
    gym_row = next(r for r in rows if r["setup"] == "gymnasium (cpu)")
    file = "benchmarks/results/gpu.json"
    key = "training[env=CartPole-v1;setup=torch (cpu)].steps_per_second"
    assert result_value(file, key, ",.0f") == f"{torch_row['steps_per_second']:,.0f}"
    ratio = torch_row["steps_per_second"] / gym_row["steps_per_second"]
    pair = f"{key} / training[env=CartPole-v1;setup=gymnasium (cpu)].steps_per_second"
    assert result_value(file, pair, ".2f") == f"{ratio:.2f}"
    steps = "[*env=CartPole-v1].median_steps_to_solve|max"
    assert (
        result_value(file, f"training{steps}", ",")
        == f"{max(r['median_steps_to_solve'] for r in rows):,}"
    )
    page = f'It runs {{{{ result {file} "{key}" ,.0f }}}} steps per second.'
    assert f">{torch_row['steps_per_second']:,.0f}</span> steps per second." in expand(page)
    for bad in (("pyproject.toml", "project"), (file, "training[env=CartPole-v1].seeds")):
        with pytest.raises(PluginError):
            result_value(*bad)
