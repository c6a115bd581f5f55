"""MkDocs hook: pages take their numbers from the course's own files, never pasted copies.

A line holding only a directive is replaced by Markdown built from the live sources:

``{{ fixture m01 discounted_returns "hand: one episode, gamma 0.5" }}``
    a worked example: the inputs, the note and the expected output of a fixture case,
    read from ``autograder/fixtures/``;
``{{ mistakes m01 discounted_returns }}``
    the catalogued mistakes the checks of that function recognise;
``{{ checks m01 }}``
    the table of a module's graded functions: points and evidence;
``{{ exercise m01 }}``
    the exercise box: file, functions, how it is graded, the command.

and, anywhere in a line, ``{{ result FILE KEY [FORMAT] }}`` prints a figure of a results
file (``benchmarks/results/`` or ``docs/assets/``) with Python's ``format(value, FORMAT)``,
so that no number on a page is a pasted copy of a measurement.

An unknown directive, module, function or case stops the build.

The site comes in two builds. The default one, what students and readers see, leaves out
every folded ``??? success "Reference solution"`` box (so it builds without ``solutions/``
too). The instructor build keeps them: set ``PPO_COURSE_DOCS_SOLUTIONS=1`` or build with
``mkdocs build -f mkdocs-instructor.yml`` (``extra: reference_solutions: true``).
"""

from __future__ import annotations

import os
import re
import shlex
from typing import Any

import numpy as np
import torch
from mkdocs.exceptions import PluginError

DIRECTIVE = re.compile(
    r"^(?P<indent>[ \t]*)\{\{\s*(?P<body>[a-z_]+\s(?:(?!\}\}).)*?)\s*\}\}[ \t]*$", re.M
)
# A folded reference solution: the admonition line and every blank or indented line after it.
SOLUTION_BOX = re.compile(
    r'^(?P<indent>[ \t]*)\?\?\?\+? success "Reference solution"[ \t]*\n'
    r"(?:(?P=indent)[ \t]+.*\n|[ \t]*\n)*",
    re.M,
)
SOLUTIONS_ENV = "PPO_COURSE_DOCS_SOLUTIONS"
# Comments at the head of a page are for whoever reads its Markdown source: the rendered
# page (its HTML too) goes without them.
LEADING_COMMENTS = re.compile(r"\A(?:[ \t]*\n|[ \t]*<!--.*?-->[ \t]*\n)+", re.S)


def _module(key: str):
    from course.modules import lookup

    try:
        return lookup(key)
    except KeyError as exc:
        raise PluginError(str(exc)) from None


def _checks(module) -> list:
    from autograder.engine import load_checks

    try:
        return load_checks(module)
    except KeyError as exc:
        raise PluginError(str(exc)) from None


def _check(module, function: str):
    for check in _checks(module):
        if check.function == function:
            return check
    raise PluginError(f"{module.id} has no check of {function!r}")


def format_value(value: Any) -> str:
    """A value as a reader wants to see it: arrays as grids, 4 decimals."""
    if isinstance(value, torch.Tensor):
        array = value.detach().cpu().numpy()
        if array.ndim == 0:
            return _number(array.item())
        return np.array2string(
            array, precision=4, separator=", ", suppress_small=True, max_line_width=72
        )
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(format_value(v) for v in value) + ")"
    if isinstance(value, dict):
        return "\n".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return repr(value)


def _number(x: Any) -> str:
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, float):
        return f"{x:.6g}"
    return str(x)


def _describe(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        dtype = str(value.dtype).removeprefix("torch.")
        shape = "×".join(str(s) for s in value.shape) or "scalar"
        return f"  # {dtype}, {shape}"
    return ""


def _block(name: str, value: Any) -> list[str]:
    """``name = value`` lines; a tuple or dict is split into one block per element."""
    if isinstance(value, tuple):
        return [line for i, item in enumerate(value) for line in _block(f"{name}[{i}]", item)]
    if isinstance(value, dict):
        return [line for key, item in value.items() for line in _block(f"{name}[{key!r}]", item)]
    text = format_value(value)
    if "\n" not in text:
        return [f"{name} = {text}{_describe(value)}"]
    pad = " " * (len(name) + 3)
    lines = text.splitlines()
    return [f"{name} = {lines[0]}{_describe(value)}"] + [pad + line for line in lines[1:]]


def render_fixture(module_key: str, function: str, name: str) -> str:
    from autograder import fixtures

    module = _module(module_key)
    try:
        case = fixtures.find(module, function, name)
    except KeyError as exc:
        raise PluginError(str(exc)) from None
    code: list[str] = []
    for key, value in case["inputs"].items():
        code += _block(key, value)
    code.append("")
    code += _block(f"{function}(...)", case["expected"])
    origin = "worked out by hand" if case["source"] == "hand" else "computed by the reference"
    body = [case["note"], ""] if case["note"] else []
    body += ["```python", *code, "```", ""]
    body.append(
        f"Expected output {origin}; a known output of `ppo-course check {module.id}` "
        "(values shown to 4 decimals)."
    )
    # The page shows what the case is; where it comes from ("hand:") the last line says.
    title = re.sub(r"^(hand|ref|reference):\s*", "", name).replace('"', "'")
    indented = [f"    {line}" if line else "" for line in body]
    return "\n".join([f'!!! example "{title}"', "", *indented])


def render_mistakes(module_key: str, function: str) -> str:
    check = _check(_module(module_key), function)
    if not check.mistakes:
        raise PluginError(f"{check.id} has no catalogued mistakes")
    lines = [
        f"The checks of `{function}` recognise these mistakes and name one in their feedback "
        "when it gives your output on every failing case:",
        "",
    ]
    for mistake in check.mistakes:
        title = f'<strong class="mistake-title">{_literal(mistake.title)}</strong>'
        lines.append(f"- {title}. {typeset(mistake.explanation)}")
    return "\n".join(lines)


# Characters Markdown or the math extension would read as markup; as entities they print
# as themselves.
_MARKUP = {c: f"&#{ord(c)};" for c in "\\`*_{}[]<>$#|!~^"}


def _literal(text: str) -> str:
    """``text`` exactly as written, whatever Markdown would make of it (a title is code)."""
    return "".join(_MARKUP.get(c, "&amp;" if c == "&" else c) for c in text)


_GREEK = ("alpha", "beta", "gamma", "delta", "epsilon", "lambda", "mu", "pi", "rho")
_GREEK += ("sigma", "tau", "theta", "phi")
# The plain-text notation of the feedback (``A_{t+1}``, ``G_t``, ``delta_t``, ``pi_old``,
# ``d_targ``, ``sigma^2``, ``L^CLIP``): a letter or a Greek letter's name, a subscript (in
# braces, of one character, or one of the words of the notation) and a power. Anything
# else (``done_t``, ``log_std``, ``x_dot``) is code and stays as written.
_SUBSCRIPT_WORDS = "old|new|targ|clip|max|min"
_SYMBOL = re.compile(
    r"(?<![\w.\\])(?P<base>" + "|".join(_GREEK) + r"|[A-Za-z])"
    r"(?:_(?P<sub>\{[^{}\s]+\}|[A-Za-z0-9]|" + _SUBSCRIPT_WORDS + r")(?![\w(]))?"
    r"(?:\^(?P<power>\{[^{}\s]+\}|[0-9A-Za-z]|[A-Z]{2,})(?![\w(]))?"
    r"(?![\w(])"
)


def _tex(match: re.Match) -> str:
    base, sub, power = match["base"], match["sub"], match["power"]
    if sub is None and power is None and base not in _GREEK:
        return match[0]
    tex = "\\" + base if base in _GREEK else base
    if sub is not None:
        sub = sub.strip("{}")
        tex += "_{" + (rf"\text{{{sub}}}" if len(sub) > 1 and sub.isalpha() else sub) + "}"
    if power is not None:
        power = power.strip("{}")
        tex += "^{" + (rf"\text{{{power}}}" if len(power) > 1 and power.isalpha() else power) + "}"
    return f"${tex}$"


def typeset(text: str) -> str:
    """A feedback sentence for the page: its symbols (``A_{t+1}``, ``sigma^2``) typeset,
    everything else printed as written."""
    out, last = [], 0
    for match in _SYMBOL.finditer(text):
        out.append(_literal(text[last : match.start()]))
        tex = _tex(match)
        out.append(tex if tex.startswith("$") else _literal(tex))
        last = match.end()
    out.append(_literal(text[last:]))
    return "".join(out)


def render_checks(module_key: str) -> str:
    from autograder import fixtures

    module = _module(module_key)
    known = fixtures.load(module)
    lines = [
        "| graded function | points | known outputs (by hand) | hidden cases | properties "
        "| mistakes | tolerance |",
        "|---|---:|---:|---|---:|---:|---|",
    ]
    for check in _checks(module):
        cases = [c for c in known if c["function"] == check.function]
        hand = sum(c["source"] == "hand" for c in cases)
        hidden = "yes" if check.hidden else "no"
        lines.append(
            f"| [`{check.function}`](#{check.function}) | {check.points} | {len(cases)} ({hand}) "
            f"| {hidden} | {len(check.properties)} | {len(check.mistakes)} "
            f"| rtol {_short(check.rtol)}, atol {_short(check.atol)} |"
        )
    return "\n".join(lines)


def _short(x: float) -> str:
    """A tolerance as few characters as it takes: ``1e-5``, ``0.001``, ``0``."""
    return f"{x:g}".replace("e-0", "e-").replace("e+0", "e+")


def render_exercise(module_key: str) -> str:
    module = _module(module_key)
    checks = _checks(module)
    functions = ", ".join(f"[`{c.function}`](#{c.function})" for c in checks)
    points = sum(c.points for c in checks)
    body = [
        f"**File:** `exercises/{module.filename}` (or the module's notebook, see "
        "[for instructors](../guides/instructors.md)).",
        "",
        f"**Write:** {functions}.",
        "",
        f"**Check your work:** `ppo-course check {module.id}`: {points} points, from known "
        "outputs, hidden cases your instructor draws at grading time, and properties such as "
        "shapes, gradients and inputs left unmodified. The table below lists them; a failing "
        "case shows its inputs, the expected and received values and, when it recognises "
        "the mistake, what went wrong.",
    ]
    return "\n".join(
        [f'!!! abstract "Exercise {module.id}"', ""]
        + [f"    {line}" if line else "" for line in body]
    )


RENDERERS = {
    "fixture": (render_fixture, 3),
    "mistakes": (render_mistakes, 2),
    "checks": (render_checks, 1),
    "exercise": (render_exercise, 1),
}


# A figure quoted from a results file, in the middle of a sentence:
# ``{{ result benchmarks/results/gpu.json "training[setup=torch (cpu)].steps_per_second" ,.0f }}``.
RESULT = re.compile(r"\{\{\s*result\s+(?P<body>.*?)\s*\}\}")
RESULTS_DIRS = ("benchmarks/results/", "docs/assets/")


REDUCTIONS = {"min": min, "max": max, "len": len, "median": lambda v: float(np.median(v))}


def resolve(data: Any, key: str) -> Any:
    """The value at ``key`` in ``data`` (parsed JSON): names joined by dots, and ``[f=v]``
    (several, separated by ``;``) to pick the one element of a list whose field ``f`` is
    ``v`` (``[*f=v]``: every element that matches, a list); ``a / b`` divides two such
    values, and ``a|min`` (``max``, ``median``, ``len``)
    reduces a list."""
    if " / " in key:
        top, bottom = key.split(" / ", 1)
        return resolve(data, top) / resolve(data, bottom)
    if "|" in key:
        key, reduce = key.rsplit("|", 1)
        return REDUCTIONS[reduce.strip()](resolve(data, key.strip()))
    value, many = data, False
    for part in re.findall(r"\[[^\]]*\]|[^.\[]+", key):
        if part.startswith("["):
            every = part.startswith("[*")
            wanted = dict(pair.split("=", 1) for pair in part.strip("[*]").split(";"))
            if not isinstance(value, list) or many:
                raise KeyError(f"{key}: {part} selects from a list")
            found = [
                item
                for item in value
                if all(str(item.get(f.strip())) == v.strip() for f, v in wanted.items())
            ]
            if every:
                value, many = found, True
                continue
            if len(found) != 1:
                raise KeyError(f"{key}: {len(found)} elements match {part}")
            value = found[0]
        elif many:
            value = [item[part] for item in value]
        elif isinstance(value, list):
            value = value[int(part)]
        else:
            value = value[part]
    return value


def result_value(path: str, key: str, spec: str = "") -> str:
    """The figure at ``key`` in the results file ``path`` as the page prints it."""
    import json

    from course import paths

    if not path.startswith(RESULTS_DIRS) or ".." in path:
        raise PluginError(f"{path}: a quoted figure comes from {' or '.join(RESULTS_DIRS)}")
    try:
        data = json.loads((paths.ROOT / path).read_text())
        value = resolve(data, key)
        return format(value, spec)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise PluginError(f"{path}: cannot quote {key!r} as {spec!r}: {exc}") from None


def render_result(path: str, key: str, spec: str = "") -> str:
    value = result_value(path, key, spec)
    attrs = {"file": path, "key": key, "format": spec}
    data = " ".join(f'data-result-{k}="{_literal(v)}"' for k, v in attrs.items())
    return f'<span class="result" {data}>{value}</span>'


def expand(markdown: str, where: str = "page") -> str:
    """Replace every directive of ``markdown``: whole lines, then quoted figures."""

    def quote(args: list[str]) -> str:
        if len(args) not in (2, 3):
            raise PluginError(f"{where}: {{{{ result }}}} takes a file, a key and a format")
        return render_result(*args)

    def figure(match: re.Match) -> str:
        return quote(shlex.split(match["body"]))

    def replace(match: re.Match) -> str:
        words = shlex.split(match["body"])
        name, args = words[0], words[1:]
        if name == "result":
            return match["indent"] + quote(args)
        if name not in RENDERERS:
            raise PluginError(f"{where}: unknown directive {{{{ {name} }}}}")
        renderer, arity = RENDERERS[name]
        if len(args) != arity:
            raise PluginError(f"{where}: {{{{ {name} }}}} takes {arity} arguments, got {args}")
        text = renderer(*args)
        indent = match["indent"]
        return "\n".join(indent + line if line else line for line in text.splitlines())

    return RESULT.sub(figure, DIRECTIVE.sub(replace, markdown))


def with_solutions(config: Any) -> bool:
    """Whether this is the instructor build, the one that shows the reference solutions."""
    if os.environ.get(SOLUTIONS_ENV, "").strip().lower() in {"1", "true", "yes", "on"}:
        return True
    extra = config.get("extra") or {}
    return bool(extra.get("reference_solutions", False))


def strip_solutions(markdown: str) -> str:
    """``markdown`` without its folded reference-solution boxes."""
    if not markdown.endswith("\n"):
        markdown += "\n"
    return SOLUTION_BOX.sub("", markdown)


def strip_source_notes(markdown: str) -> str:
    """``markdown`` without the HTML comments (and blank lines) it opens with."""
    return LEADING_COMMENTS.sub("", markdown, count=1)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    markdown = strip_source_notes(markdown)
    if not with_solutions(config):
        markdown = strip_solutions(markdown)
    return expand(markdown, page.file.src_path)
