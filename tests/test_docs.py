"""The site builds strictly, works offline, and holds every page and anchor the feedback
links to; in a real browser, its math is rendered."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from autograder.engine import graded_modules, load_checks
from course import paths

pytest.importorskip("mkdocs")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


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
    # The hand case "one episode, gamma 0.5" expects 2.75, 3.5 and 3 (autograder/fixtures).
    assert "hand: one episode, gamma 0.5" in text
    assert "[[2.75]," in text and "[3.5 ]," in text


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.mark.skipif(_browser() is None, reason="no headless Chromium on this machine")
def test_math_renders_in_a_browser(site, tmp_path):
    page = site / "modules" / "m01_policy_gradient" / "index.html"
    done = subprocess.run(
        [
            _browser(),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    dom = done.stdout
    assert 'class="katex' in dom, done.stderr[-2000:]
    assert dom.count('class="katex-display"') >= 5
    assert "katex-error" not in dom
    # No raw TeX delimiters left behind.
    assert "\\[" not in re.sub(r"<script.*?</script>", "", dom, flags=re.S)
