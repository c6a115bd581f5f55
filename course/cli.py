"""The ``ppo-course`` command.

Students:    check, train, play
Instructors: grade, notebooks, release, gradescope
Maintainers: build, fixtures, figures

Exit codes: 0 success; 1 some checks failed (or a training run did not reach its goal
where one was required); 2 a usage error (unknown module, missing folder or file, a file
that does not import), with a one-line message.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from pathlib import Path

from course.errors import UsageError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def _available_modules():
    """The modules that have checks, in course order (without importing the checks)."""
    from course import paths
    from course.modules import MODULES

    return [m for m in MODULES if (paths.AUTOGRADER_DIR / "checks" / m.filename).is_file()]


def _modules(names: list[str]):
    from course.modules import lookup

    available = _available_modules()
    if not names:
        return available
    chosen = []
    for name in names:
        try:
            module = lookup(name)
        except KeyError as exc:
            raise UsageError(exc.args[0]) from None
        if module not in available:
            ready = ", ".join(m.id for m in available)
            raise UsageError(f"module {module.id} has no checks yet (graded modules: {ready})")
        if module not in chosen:
            chosen.append(module)
    return chosen


# ----------------------------------------------------------------------------- check


def _check_seed(args: argparse.Namespace) -> tuple[int | None, str]:
    """The hidden seed of a ``check`` run and a note saying where it came from."""
    from course import paths, settings

    if args.hidden_seed is not None:
        return args.hidden_seed, ""
    try:
        seed = settings.hidden_seed()
    except settings.SettingsError as exc:
        raise UsageError(str(exc)) from None
    if seed is not None or not paths.SOLUTIONS_DIR.is_dir():
        return seed, ""
    seed = settings.fresh_seed()
    return seed, f"hidden cases drawn with seed {seed} (--hidden-seed {seed} repeats them)"


def _check_device(name: str, sandboxed: bool) -> str:
    """The device ``check --device`` runs the cases on, validated (a usage error names what
    is wrong). Checked before torch is imported where it is the CPU."""
    if name == "cpu":
        return name
    if sandboxed:
        raise UsageError("--device: the sandbox exposes no accelerator; leave out --sandbox")
    import torch

    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"--device: {name!r} is not a device (cpu, cuda, cuda:1, ...)") from None
    if device.type == "meta":
        raise UsageError("--device: a meta tensor holds no values to compare")
    try:
        torch.empty(1, device=device)
    except (RuntimeError, AssertionError, AttributeError) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--device {name}: not available here ({text})") from None
    return str(device)


def cmd_check(args: argparse.Namespace) -> int:
    from course import impl

    modules = _modules(args.modules)
    try:
        folder = impl.resolve(args.impl)
    except impl.ImplError as exc:
        raise UsageError(str(exc)) from None
    seed, seed_note = _check_seed(args)
    sandboxed = bool(args.sandbox)
    device = _check_device(args.device, sandboxed)
    if sandboxed:
        from autograder import sandbox

        reason = sandbox.unavailable()
        if reason:
            raise UsageError(f"--sandbox: {reason}")
    from autograder.runner import IsolatedExecutor

    # Start the worker before importing torch here: the two imports overlap.
    executor = IsolatedExecutor(
        folder, memory_mb=args.memory_mb, sandboxed=sandboxed, device=device
    )
    from autograder import report
    from autograder.grading import grade_folder

    style = report.Style.for_stream(sys.stdout) if not args.no_color else report.PLAIN
    label = impl.describe(args.impl)
    if label != str(folder):
        label = f"{label} ({folder})"
    print(f"Checking {label}" + (f" on {device}" if device != "cpu" else ""), flush=True)

    try:
        results = grade_folder(
            folder,
            modules,
            seed=seed,
            memory_mb=args.memory_mb,
            timeout=args.timeout,
            sandboxed=sandboxed,
            executor=executor,
            device=device,
        )
    except RuntimeError as exc:  # the worker could not start
        raise UsageError(str(exc)) from None
    print(report.render(results, style))
    if seed_note:
        print(style.dim(f"note: {seed_note}"))
    if args.json:
        Path(args.json).write_text(json.dumps(report.gradescope(results), indent=2) + "\n")
    errors = [r.error for r in results if r.error]
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    if errors:
        return EXIT_USAGE
    return EXIT_OK if all(r.passed for r in results) else EXIT_FAILED


# ----------------------------------------------------------------------------- grade


def _grade_seed(args: argparse.Namespace) -> int:
    from course import settings

    if args.hidden_seed is not None:
        return args.hidden_seed
    try:
        seed = settings.hidden_seed()
    except settings.SettingsError as exc:
        raise UsageError(str(exc)) from None
    if seed is None:
        raise UsageError(
            "no hidden seed: pass --hidden-seed N, or create the course settings "
            f"({settings.settings_path()}) with `ppo-course release`"
        )
    return seed


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder import sandbox
    from autograder.bulk import grade_submissions
    from course import paths

    modules = _modules(args.modules)
    root = Path(args.submissions)
    if not root.is_dir():
        raise UsageError(f"no such folder: {root}")
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    if not paths.SOLUTIONS_DIR.is_dir():
        raise UsageError(
            "grading needs the reference solutions (solutions/), which this copy lacks"
        )
    seed = _grade_seed(args)
    if args.no_sandbox:
        print(
            "warning: grading WITHOUT the sandbox (--no-sandbox): submissions can read and "
            "write anything this user can; the sheet says so",
            file=sys.stderr,
        )
    else:
        reason = sandbox.unavailable()
        if reason:
            raise UsageError(f"cannot sandbox submissions: {reason} (or pass --no-sandbox)")
    return grade_submissions(
        root,
        modules,
        out=Path(args.out),
        feedback=Path(args.feedback) if args.feedback else None,
        seed=seed,
        timeout=args.timeout,
        memory_mb=args.memory_mb,
        jobs=args.jobs,
        sandboxed=not args.no_sandbox,
        force=args.force,
        progress=not args.quiet,
        submission_timeout=args.submission_timeout,
    )


# ----------------------------------------------------------------------------- build


def cmd_build(args: argparse.Namespace) -> int:
    from course import singlesource
    from course.modules import lookup

    try:
        modules = [lookup(m) for m in args.modules] or None
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    if args.check:
        expected = singlesource.expected_exercises(modules)
        stale = [
            name
            for name, text in expected.items()
            if not (singlesource.paths.EXERCISES_DIR / name).is_file()
            or (singlesource.paths.EXERCISES_DIR / name).read_text() != text
        ]
        if stale:
            print(f"out of date: {', '.join(stale)} (run: ppo-course build)")
            return EXIT_FAILED
        print(f"exercises/ is up to date ({len(expected)} files)")
        return EXIT_OK
    result = singlesource.build(modules, force=args.force)
    print(f"exercises/: {result.summary()}")
    if result.kept:
        print("edited files were kept; pass --force to overwrite them")
        return EXIT_FAILED
    return EXIT_OK


# ----------------------------------------------------------------------------- fixtures


def cmd_fixtures(args: argparse.Namespace) -> int:
    from autograder import engine, fixtures

    modules = _modules(args.modules)
    for module in modules:
        reference = engine.reference(module)
        if reference is None:
            raise UsageError("fixtures are written from solutions/, which this copy lacks")
        checks = engine.load_checks(module)
        if args.check:
            current = fixtures.fixture_path(module)
            fresh = fixtures.dumps(fixtures.generate(module, checks, reference))
            if not current.is_file() or current.read_text() != fresh:
                print(f"{current.name}: differs from what the reference gives now")
                return EXIT_FAILED
            print(f"{current.name}: up to date")
            continue
        path = fixtures.write(module, checks, reference)
        count = sum(len(c.fixtures) for c in checks)
        print(
            f"wrote {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path}"
            f" ({count} cases)"
        )
    return EXIT_OK


# ----------------------------------------------------------------------------- notebooks


def cmd_notebooks(args: argparse.Namespace) -> int:
    from course import notebooks

    modules = _modules(args.modules)
    written = notebooks.write_course(Path(args.out), modules)
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- release


def cmd_release(args: argparse.Namespace) -> int:
    from course import release

    modules = _modules(args.modules)
    try:
        result = release.release(
            Path(args.out), modules, force=args.force, with_notebooks=not args.no_notebooks
        )
    except release.ReleaseError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the student release to {result.folder}")
    if result.notebooks:
        print(f"  notebooks (nbgrader release form): {len(result.notebooks)}")
    state = "created with a fresh hidden seed" if result.settings_created else "kept"
    print(f"instructor settings {state}: {result.settings_path} (never hand this file out)")
    return EXIT_OK


def cmd_gradescope(args: argparse.Namespace) -> int:
    from course import gradescope

    modules = _modules(args.modules)
    try:
        out = gradescope.build(Path(args.out), modules)
    except gradescope.GradescopeError as exc:
        raise UsageError(str(exc)) from None
    print(f"wrote the Gradescope autograder {out} ({', '.join(m.id for m in modules)})")
    print("it holds the reference solutions and your hidden seed: upload it, never share it")
    return EXIT_OK


# ----------------------------------------------------------------------------- figures


def cmd_figures(args: argparse.Namespace) -> int:
    try:
        from course import figures
    except ModuleNotFoundError:
        raise UsageError("the figure scripts are not part of this copy of the course") from None

    try:
        written = figures.draw(args.names or None)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    for path in written:
        print(f"wrote {path}")
    return EXIT_OK


# ----------------------------------------------------------------------------- train


def cmd_train(args: argparse.Namespace) -> int:
    from course.train import run_from_cli

    return run_from_cli(args)


def cmd_play(args: argparse.Namespace) -> int:
    from course.play import play_from_cli

    return play_from_cli(args)


# ----------------------------------------------------------------------------- parser


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number of seconds")
    return value


def _add_grading_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help="time limit of each check, in seconds (default: the check's own, 20 s)",
    )
    parser.add_argument(
        "--hidden-seed",
        type=int,
        default=None,
        metavar="N",
        help="seed of the hidden cases (default: $PPO_COURSE_HIDDEN_SEED, else the course "
        "settings' seed; check draws a fresh one when neither exists)",
    )
    parser.add_argument(
        "--memory-mb",
        type=int,
        default=512,
        metavar="MB",
        help="memory the submission may allocate, beyond what the process that runs it "
        "holds once torch is imported (measured in that process; default 512)",
    )


def build_parser(with_train: bool = True) -> argparse.ArgumentParser:
    """The command's parser. ``with_train=False`` leaves out the options of ``train``
    (building them imports torch, which ``check`` wants to import only once its worker
    has started)."""

    parser = argparse.ArgumentParser(
        prog="ppo-course",
        description="Proximal Policy Optimization from first principles: check your "
        "exercises, train agents with your own code, grade submissions.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    check = sub.add_parser(
        "check",
        help="grade an implementation and explain what is wrong",
        description="Run the autograder's checks on an implementation.",
    )
    check.add_argument("modules", nargs="*", metavar="MODULE", help="m01, m02, ... (default: all)")
    check.add_argument(
        "--impl",
        default="exercises",
        help="exercises (default), solutions, or a folder laid out like exercises/",
    )
    check.add_argument("--json", metavar="FILE", help="also write Gradescope's results.json")
    check.add_argument("--no-color", action="store_true", help="plain text output")
    check.add_argument(
        "--sandbox", action="store_true", help="run the code under bubblewrap, as grade does"
    )
    check.add_argument(
        "--device",
        default="cpu",
        help="run every case with its inputs on this device (cuda, cuda:1, ...; default "
        "cpu): code that is not device-agnostic fails there",
    )
    _add_grading_options(check)
    check.set_defaults(func=cmd_check)

    grade = sub.add_parser(
        "grade",
        help="grade many submissions into a grade sheet",
        description="Grade every submission in a folder: each sub-folder (a student's "
        "files mNN_*.py, or the module notebooks mNN_*.ipynb as nbgrader collects them, "
        "loose or one folder deeper) is graded on its own; a CSV grade sheet and per-student "
        "feedback "
        "are written. Submissions run sandboxed (bubblewrap); the points come from hidden "
        "cases and properties, with the course's secret hidden seed.",
    )
    grade.add_argument("submissions", help="folder with one sub-folder per student")
    grade.add_argument("--modules", nargs="*", default=[], metavar="MODULE")
    grade.add_argument("--out", default="grades.csv", help="grade sheet (default grades.csv)")
    grade.add_argument(
        "--feedback", metavar="DIR", help="write each student's report and results.json here"
    )
    grade.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    grade.add_argument(
        "--force", action="store_true", help="regrade every student, even those already graded"
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions without bubblewrap (unsafe; the sheet says so)",
    )
    grade.add_argument("--quiet", action="store_true", help="no progress bar")
    grade.add_argument(
        "--submission-timeout",
        type=_positive_seconds,
        default=900.0,
        metavar="S",
        help="wall-clock limit of one student's whole grading, in seconds (default 900)",
    )
    _add_grading_options(grade)
    grade.set_defaults(func=cmd_grade)

    train = sub.add_parser(
        "train",
        help="train an agent with an implementation's functions",
        description="Train an agent on a gymnasium environment, calling the graded functions "
        "of the chosen implementation.",
    )
    if with_train:
        from course.train import add_train_arguments

        add_train_arguments(train)
    train.set_defaults(func=cmd_train)

    play = sub.add_parser(
        "play",
        help="watch a trained agent: play episodes, render them into a GIF",
        description="Load the agent a training run saved (RUN_DIR/agent.pt), play episodes "
        "with it, print each episode's return and, with --gif, render them into a GIF.",
    )
    if with_train:
        from course.play import add_play_arguments

        add_play_arguments(play)
    play.set_defaults(func=cmd_play)

    build = sub.add_parser(
        "build",
        help="generate exercises/ from solutions/",
        description="Write the exercise stubs from the reference solutions. Files a student "
        "has edited are kept unless --force.",
    )
    build.add_argument("modules", nargs="*", metavar="MODULE")
    build.add_argument("--force", action="store_true", help="overwrite edited files")
    build.add_argument("--check", action="store_true", help="only report whether up to date")
    build.set_defaults(func=cmd_build)

    fixtures = sub.add_parser(
        "fixtures",
        help="regenerate the fixture files of known outputs",
        description="Write autograder/fixtures/*.json from the case definitions and the "
        "reference solutions.",
    )
    fixtures.add_argument("modules", nargs="*", metavar="MODULE")
    fixtures.add_argument("--check", action="store_true", help="only report whether up to date")
    fixtures.set_defaults(func=cmd_fixtures)

    notebooks = sub.add_parser(
        "notebooks",
        help="write nbgrader source notebooks",
        description="Write an nbgrader course folder: source/<module>/<module>.ipynb for each "
        "module, with solution regions and autograded test cells, plus nbgrader_config.py.",
    )
    notebooks.add_argument("out", help="the nbgrader course folder to write into")
    notebooks.add_argument("--modules", nargs="*", default=[], metavar="MODULE")
    notebooks.set_defaults(func=cmd_notebooks)

    release = sub.add_parser(
        "release",
        help="write the student copy of the course (no answers)",
        description="Write an installable copy of the course for students: exercises, "
        "autograder, course, docs sources and the notebooks in nbgrader's release form, "
        "without solutions/. Creates the instructor's settings (hidden seed) unless they "
        "exist.",
    )
    release.add_argument("out", help="an empty folder to write the release into")
    release.add_argument("--modules", nargs="*", default=[], metavar="MODULE")
    release.add_argument("--force", action="store_true", help="replace a non-empty folder")
    release.add_argument(
        "--no-notebooks", action="store_true", help="skip the notebooks (no nbgrader needed)"
    )
    release.set_defaults(func=cmd_release)

    gradescope = sub.add_parser(
        "gradescope",
        help="build a Gradescope autograder zip",
        description="Write a Gradescope autograder (setup.sh, run_autograder, the course "
        "with its solutions and your hidden seed) that grades each submission sandboxed.",
    )
    gradescope.add_argument("out", help="the zip to write (autograder.zip)")
    gradescope.add_argument("--modules", nargs="*", default=[], metavar="MODULE")
    gradescope.set_defaults(func=cmd_gradescope)

    figures = sub.add_parser(
        "figures",
        help="redraw the docs' figures",
        description="Draw the figures of the docs into docs/assets/figures/.",
    )
    figures.add_argument("names", nargs="*", metavar="NAME", help="file names (default: all)")
    figures.set_defaults(func=cmd_figures)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(with_train=first in (None, "train", "play"))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except UsageError as exc:
        print(f"ppo-course {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``ppo-course`` command: :func:`main`, then a fast exit.

    Tearing down an interpreter that has imported torch takes about a second on a small
    machine, longer than a whole ``check`` of one module; nothing is left to clean up by
    then but the exit handlers, which run first."""
    import atexit

    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    atexit._run_exitfuncs()
    os._exit(0 if code is None else code if isinstance(code, int) else 1)


if __name__ == "__main__":
    entry()
