"""Read the built site in headless Chromium: lay out every page at a given width, measure
what a reader would trip over, and take screenshots.

Chromium is driven over its DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON
messages separated by NUL bytes on file descriptors 3 and 4), so nothing but the standard
library is needed. As a script it writes screenshots of pages:

    python -m tests.docs_browser SITE_DIR OUT_DIR [--widths 1280 390] [--pages modules/...]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-quic",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
]

# Run in the page once it has loaded: wait until the vendored KaTeX has set every formula,
# then report what overflows the content column, headings holding raw TeX, and code names
# that a table cell broke across lines.
PROBE = r"""
(async () => {
  const start = Date.now();
  const pending = () => document.querySelectorAll(".arithmatex:not([data-rendered])").length;
  while (pending() && Date.now() - start < 8000) await new Promise(r => setTimeout(r, 50));
  await document.fonts.ready;
  const column = document.querySelector("article.md-content__inner");
  const width = column ? column.clientWidth : document.documentElement.clientWidth;
  const text = el => el.textContent.replace(/\s+/g, " ").trim().slice(0, 80);
  const wide = [];
  document.querySelectorAll("div.arithmatex").forEach(el => {
    const inner = el.querySelector(".katex-display > .katex") || el;
    const w = Math.max(el.scrollWidth, inner.scrollWidth);
    // Its box is the column (or, on a phone, the screen's width): the formula must fit.
    if (w > el.clientWidth + 1) {
      wide.push({what: "equation", width: w, text: text(el)});
    }
  });
  // On a phone a wide table scrolls sideways in the theme's wrapper, as a reader expects;
  // at a desktop's width it must fit the column.
  const phone = document.documentElement.clientWidth < 600;
  document.querySelectorAll("article table").forEach(el => {
    const scrolls = phone && el.closest(".md-typeset__scrollwrap");
    if (el.scrollWidth > width + 1 && !scrolls) {
      wide.push({what: "table", width: el.scrollWidth, text: text(el)});
    }
  });
  const code = [];
  document.querySelectorAll("article pre > code").forEach(el => {
    if (el.scrollWidth > el.clientWidth + 1) code.push({width: el.scrollWidth, text: text(el)});
  });
  const broken = [];
  document.querySelectorAll("article td code, article th code").forEach(el => {
    if (!/\s/.test(el.textContent) && el.getClientRects().length > 1) broken.push(el.textContent);
  });
  // What is left of an element once its typeset math (whose MathML keeps the TeX source as
  // an annotation) and its code are taken out.
  const bare = el => {
    const clone = el.cloneNode(true);
    clone.querySelectorAll(".katex, code, pre, script, .mistake-title").forEach(c => c.remove());
    return clone.textContent;
  };
  const headings = [];
  const headers = "article h1, article h2, article h3, article h4, nav a";
  document.querySelectorAll(headers).forEach(el => {
    if (/\\[a-zA-Z(\[]|\$/.test(bare(el))) headings.push(text(el));
  });
  const raw = [];
  document.querySelectorAll("article p, article li, article td").forEach(el => {
    // TeX's own commands, or its sub- and superscripts in braces (``A_{t+1}``, ``e^{x}``).
    if (/\\\(|\\\[|\\frac|\\mathrm|\w_\{|\^\{/.test(bare(el))) raw.push(text(el));
  });
  const article = document.querySelector("article");
  return {
    column: width,
    text: article ? article.innerText : "",
    mistakes: [...document.querySelectorAll("article .mistake-title")].map(el => el.textContent),
    figures: [...document.querySelectorAll("article [data-result-file]")].map(el => ({
      file: el.dataset.resultFile, key: el.dataset.resultKey, format: el.dataset.resultFormat,
      text: el.textContent,
    })),
    height: document.documentElement.scrollHeight,
    equations: document.querySelectorAll("div.arithmatex").length,
    unrendered: pending() + document.querySelectorAll(".katex-error").length,
    rendered: document.querySelectorAll(".arithmatex .katex").length,
    arithmatex: document.querySelectorAll(".arithmatex").length,
    wide, code, broken, headings, raw,
  };
})()
"""


def find() -> str | None:
    """The path of a Chromium on this machine, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Browser:
    """One headless Chromium with one tab, driven over the DevTools pipe."""

    def __init__(self, executable: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="ppo-course-chromium-")
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        # The protocol expects its ends at descriptors 3 (commands in) and 4 (replies out).
        keep_in, keep_out = os.dup(to_child), os.dup(from_child)

        def wire() -> None:
            os.dup2(keep_in, 3)
            os.dup2(keep_out, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            close_fds=False,
            start_new_session=True,
        )
        for fd in (to_child, from_child, keep_in, keep_out):
            os.close(fd)
        self._buffer = b""
        self._id = 0
        self._events: list[dict] = []
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next(t for t in targets if t["type"] == "page")
        self.session = self.call("Target.attachToTarget", targetId=page["targetId"], flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)

    def _receive(self) -> dict:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("Chromium did not answer")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed its DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: Any) -> dict:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._receive()
            if reply.get("id") == self._id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self._events.append(reply)

    def _wait_for(self, event: str) -> None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            while self._events:
                if self._events.pop(0).get("method") == event:
                    return
            self._events.append(self._receive())
        raise TimeoutError(f"no {event}")

    def open(self, url: str, width: int, height: int = 900, scale: float = 1.0) -> None:
        """Load ``url`` in a viewport ``width`` CSS pixels wide (a phone's when below 600)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            session=True,
            width=width,
            height=height,
            deviceScaleFactor=scale,
            mobile=width < 600,
        )
        self._events.clear()
        self.call("Page.navigate", session=True, url=url)
        self._wait_for("Page.loadEventFired")

    def probe(self) -> dict:
        """Measure the loaded page (see PROBE)."""
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=PROBE,
            awaitPromise=True,
            returnByValue=True,
        )
        return result["result"]["value"]

    def screenshot(self, path: Path, max_height: int = 16000) -> None:
        """The whole page (up to ``max_height`` CSS pixels) as a PNG."""
        metrics = self.call("Page.getLayoutMetrics", session=True)["cssContentSize"]
        clip = {
            "x": 0,
            "y": 0,
            "width": metrics["width"],
            "height": min(metrics["height"], max_height),
            "scale": 1,
        }
        shot = self.call(
            "Page.captureScreenshot",
            session=True,
            format="png",
            clip=clip,
            captureBeyondViewport=True,
        )
        Path(path).write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pages(site: Path) -> list[str]:
    """Every page of the built site, as paths relative to it (``modules/m01_.../``)."""
    return sorted(
        str(p.parent.relative_to(site)) + "/" if p.parent != site else ""
        for p in site.rglob("index.html")
        if "assets" not in p.relative_to(site).parts
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--widths", nargs="+", type=int, default=[1280, 390])
    parser.add_argument("--pages", nargs="+")
    parser.add_argument("--max-height", type=int, default=16000)
    args = parser.parse_args(argv)
    executable = find()
    if executable is None:
        parser.error("no Chromium on this machine")
    args.out.mkdir(parents=True, exist_ok=True)
    with Browser(executable) as browser:
        for page in args.pages or pages(args.site):
            for width in args.widths:
                url = (args.site.resolve() / page / "index.html").as_uri()
                browser.open(url, width, scale=2.0 if width < 600 else 1.0)
                report = browser.probe()
                name = (page.strip("/").replace("/", "_") or "home") + f"_{width}.png"
                browser.screenshot(args.out / name, args.max_height)
                shown = ("wide", "code", "broken", "headings", "raw")
                print(name, json.dumps({k: report[k] for k in shown}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
