"""Grade a class: ``ppo-course grade SUBMISSIONS --out grades.csv --feedback FB``.

``SUBMISSIONS`` holds one folder per student, laid out like ``exercises/`` (``mNN_*.py``)
or holding the module notebooks (``mNN_*.ipynb``), possibly nested one level deeper (as
LMS exports do) or in one folder per assignment (nbgrader's ``submitted/<student>/
<assignment>/``). A run in which no student's folder holds a file of the graded modules
exits non-zero. Each submission is graded in its own
sandboxed worker (``sandbox.py``); one that hangs, crashes or cheats costs only its own
points.

A run an instructor can trust:

* deterministic: the cases are built once, before any job starts, and rows are written
  in the students' order, so ``--jobs 1``, ``2`` or ``4`` give the same sheet;
* resumable: each student's result is written atomically as soon as it is known, keyed by
  a hash of their files, the modules, the seed and the course's code; a rerun grades only
  what is missing or changed (``--force`` regrades all);
* interruptible: SIGINT or SIGTERM kills every sandbox at once, writes the sheet with
  "not graded" rows for the rest, and exits non-zero;
* loud about problems: a progress bar on stderr, each problem as it happens, and a
  non-zero exit whenever a student could not be graded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import report, runner
from autograder.grading import Prepared, grade_folder, prepare
from autograder.submission import shown, stage, text
from course import paths
from course.modules import Module

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def submissions(root: Path) -> list[Path]:
    """The student folders of ``root``, sorted by name (hidden folders skipped). A link
    to a folder is a student too: it is not followed, and its row says so."""
    return sorted(
        (p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_", "__"))),
        key=lambda p: os.fsencode(p.name),
    )


def part_name(student: str) -> str:
    """The file name of a student's saved result: a hash of the folder's name, which may
    be anything a file system allows (not UTF-8, a newline, 255 bytes)."""
    return hashlib.sha256(os.fsencode(student)).hexdigest()[:32] + ".json"


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def sheet_cell(value):
    """A value as a cell of the grade sheet: text that is valid UTF-8, and text that a
    spreadsheet would run as a formula (it begins with ``=``, ``+``, ``-``, ``@``, a tab
    or a carriage return) prefixed with ``'``, so it is shown, not run. Numbers as they
    are."""
    if not isinstance(value, str):
        return value
    value = text(value)
    return "'" + value if value.startswith(FORMULA) else value


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace", newline="") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def code_version() -> str:
    """A hash of everything that decides a grade: the course's and the grader's code, the
    fixtures and the reference solutions."""
    digest = hashlib.sha256()
    for folder in ("autograder", "course", "solutions"):
        for path in sorted((paths.ROOT / folder).rglob("*")):
            if (
                path.is_file()
                and path.suffix in (".py", ".json")
                and "__pycache__" not in str(path)
            ):
                digest.update(str(path.relative_to(paths.ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class Row:
    student: str
    scores: dict[str, float] = field(default_factory=dict)
    possible: dict[str, float] = field(default_factory=dict)
    total: float = 0.0
    problems: list[str] = field(default_factory=list)
    graded: bool = True

    def as_dict(self) -> dict:
        return {
            "student": self.student,
            "scores": self.scores,
            "possible": self.possible,
            "total": self.total,
            "problems": self.problems,
            "graded": self.graded,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Row:
        return cls(
            data["student"],
            dict(data["scores"]),
            dict(data["possible"]),
            float(data["total"]),
            list(data["problems"]),
            bool(data["graded"]),
        )


class _Stop:
    """SIGINT/SIGTERM handling for the run: stop taking students, kill every sandbox."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._old: dict[int, object] = {}

    def __enter__(self) -> _Stop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.event.set()
        runner.LIVE.kill_all()

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        runner.LIVE.stopping.clear()


def grade_submissions(
    root: Path,
    modules: list[Module],
    out: Path,
    feedback: Path | None = None,
    seed: int | None = None,
    timeout: float | None = None,
    memory_mb: int = runner.DEFAULT_MEMORY_MB,
    jobs: int = 1,
    sandboxed: bool = True,
    force: bool = False,
    progress: bool = True,
    submission_timeout: float = 900.0,
) -> int:
    """Grade every submission under ``root`` and write the grade sheet ``out``.

    Returns the exit status: 0 when every student was graded, 1 when some could not be,
    130 when interrupted."""
    folders = submissions(root)
    if not folders:
        print(f"no submissions in {root} (expected one folder per student)", file=sys.stderr)
        return EXIT_USAGE
    runner.clean_stale_scratch()
    started = time.monotonic()
    parts = (feedback / ".parts") if feedback is not None else out.with_name(out.name + ".parts")
    version = code_version()
    prepared = prepare(modules, seed, timeout)
    work = Path(tempfile.mkdtemp(prefix=f"{runner.SCRATCH_PREFIX}{os.getpid()}-stage-"))
    rows: dict[str, Row] = {}
    todo: list[tuple[Path, Path, str, list[str]]] = []
    gradable = 0
    try:
        for number, folder in enumerate(folders):
            try:
                staged, notes = stage(folder, work / f"{number:05d}", modules)
                key = _key(staged, modules, seed, version, (timeout, submission_timeout), memory_mb)
                gradable += any((staged / m.filename).is_file() for m in modules)
            except Exception as exc:  # one unreadable submission must not stop the others
                rows[folder.name] = Row(
                    folder.name,
                    graded=False,
                    problems=[f"not graded: the submission could not be read ({_one_line(exc)})"],
                )
                continue
            cached = _load_part(parts / part_name(folder.name), key) if not force else None
            if cached is not None:
                rows[folder.name] = cached
            else:
                todo.append((folder, staged, key, notes))
        if out.exists():
            out.unlink()  # never leave a sheet that looks current while a run is under way
        bar = _progress(len(folders), len(folders) - len(todo), progress)
        lock = threading.Lock()
        queue = list(todo)

        with _Stop() as stop:
            settings = _Settings(
                modules=modules,
                seed=seed,
                timeout=timeout,
                memory_mb=memory_mb,
                sandboxed=sandboxed,
                prepared=prepared,
                feedback=feedback,
                stop=stop,
                submission_timeout=submission_timeout,
            )

            def job() -> None:
                while not stop.event.is_set():
                    with lock:
                        if not queue:
                            return
                        folder, staged, key, notes = queue.pop(0)
                    try:
                        row = _grade_one(settings, folder.name, staged, notes)
                    except Exception as exc:  # a grader failure must not stop the others
                        row = Row(
                            folder.name, graded=False, problems=[f"not graded: {_one_line(exc)}"]
                        )
                    with lock:
                        rows[folder.name] = row
                        try:
                            if row.graded:
                                _write_atomic(
                                    parts / part_name(folder.name),
                                    json.dumps({"key": key, "row": row.as_dict()}, indent=1) + "\n",
                                )
                        except OSError as exc:
                            row.problems.append(f"its result could not be saved ({exc.strerror})")
                        if row.problems:
                            bar.write(
                                _printable(f"{shown(folder.name, 255)}: {'; '.join(row.problems)}")
                            )
                        bar.update(1)

            threads = [threading.Thread(target=job, daemon=True) for _ in range(max(1, jobs))]
            for thread in threads:
                thread.start()
            while any(t.is_alive() for t in threads):
                for thread in threads:
                    thread.join(0.2)
            interrupted = stop.event.is_set()
        bar.close()
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)

    for folder in folders:
        if folder.name not in rows or (interrupted and not rows[folder.name].graded):
            rows[folder.name] = Row(
                folder.name,
                graded=False,
                problems=["not graded: the run was interrupted" if interrupted else "not graded"],
            )
    _write_sheet(out, [rows[f.name] for f in folders], modules, prepared, seed, sandboxed)
    missing = [r for r in rows.values() if not r.graded]
    elapsed = time.monotonic() - started
    print(
        f"wrote {out}: {len(folders) - len(missing)} of {len(folders)} students graded "
        f"({len(folders) - len(todo)} from an earlier run) in {elapsed:.0f} s"
    )
    if interrupted:
        print(f"interrupted: {len(missing)} students not graded", file=sys.stderr)
        return EXIT_INTERRUPTED
    if missing:
        print(f"{len(missing)} students could not be graded", file=sys.stderr)
        return EXIT_FAILED
    if not gradable:
        wanted = ", ".join(m.filename for m in modules)
        print(
            f"no submission in {root} holds a file of the graded modules ({wanted}, or the "
            "notebooks of the same names): is that the folder of the submissions?",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK


@dataclass(frozen=True)
class _Settings:
    """What every submission of one run is graded with."""

    modules: list[Module]
    seed: int | None
    timeout: float | None
    memory_mb: int
    sandboxed: bool
    prepared: Prepared
    feedback: Path | None
    stop: _Stop
    submission_timeout: float


def _grade_one(settings: _Settings, name: str, staged: Path, notes: list[str]) -> Row:
    try:
        results = grade_folder(
            staged,
            settings.modules,
            seed=settings.seed,
            timeout=settings.timeout,
            memory_mb=settings.memory_mb,
            for_grade=True,
            sandboxed=settings.sandboxed,
            prepared=settings.prepared,
            submission_timeout=settings.submission_timeout,
        )
    except runner.WorkerStopped:
        return Row(name, graded=False, problems=["not graded: the run was interrupted"])
    except Exception as exc:  # a grader failure must not stop the others
        return Row(name, graded=False, problems=[f"not graded: {_one_line(exc)}"])
    if settings.stop.event.is_set():
        return Row(name, graded=False, problems=["not graded: the run was interrupted"])
    row = Row(name, problems=list(notes))
    for result in results:
        row.scores[result.module.id] = result.score
        row.possible[result.module.id] = result.max_score
        if result.error:
            row.problems.append(f"{result.module.id}: {result.error}")
    row.total = round(sum(row.scores.values()), 2)
    if settings.feedback is not None:
        try:
            _write_feedback(settings.feedback / name, results, notes)
        except OSError as exc:
            row.problems.append(f"its feedback could not be written ({exc.strerror})")
    return row


def _one_line(exc: BaseException) -> str:
    return " ".join(f"{type(exc).__name__}: {text(str(exc))}".split())[:300]


def _printable(value: str) -> str:
    """``value`` as it may be printed on a terminal: control characters escaped."""
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text(value))


def _key(staged: Path, modules, seed, version, timeout, memory_mb) -> str:
    digest = hashlib.sha256()
    for path in sorted(staged.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(json.dumps([[m.id for m in modules], seed, version, timeout, memory_mb]).encode())
    return digest.hexdigest()


def _load_part(path: Path, key: str) -> Row | None:
    try:
        data = json.loads(path.read_text())
        return Row.from_dict(data["row"]) if data.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_sheet(out, rows, modules, prepared, seed, sandboxed) -> None:
    columns = [m.id for m in modules]
    possible = {m.id: float(sum(check.points for check, _, _ in prepared[m.id])) for m in modules}
    run = f"hidden seed {seed}; " + ("sandboxed" if sandboxed else "NOT SANDBOXED (--no-sandbox)")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=["student", *columns, "total", "problems"])
    writer.writeheader()
    writer.writerow(
        {"student": "(possible)", **possible, "total": sum(possible.values()), "problems": run}
    )
    for row in rows:
        values = {m: row.scores.get(m, 0.0) for m in columns} if row.graded else {}
        cells = {
            "student": shown(row.student, 255),
            **values,
            "total": row.total if row.graded else "",
            "problems": "; ".join(report.clean(p).replace("\n", " ") for p in row.problems),
        }
        writer.writerow({k: sheet_cell(v) for k, v in cells.items()})
    _write_atomic(out, buffer.getvalue())


def _write_feedback(folder: Path, results, notes: list[str]) -> None:
    student = report.render(results, view=report.STUDENT)
    if notes:
        student = "\n".join(f"note: {n}" for n in notes) + "\n" + student
    _write_atomic(folder / "report.txt", student + "\n")
    _write_atomic(
        folder / "results.json",
        json.dumps(report.gradescope(results, view=report.STUDENT), indent=2) + "\n",
    )
    _write_atomic(folder / "instructor.txt", report.render(results) + "\n")


class _NoBar:
    def write(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, done: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    class _Bar(tqdm):
        def write(self, text: str) -> None:  # type: ignore[override]
            tqdm.write(text, file=sys.stderr)

    return _Bar(
        total=total,
        initial=done,
        desc="grading",
        unit="student",
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
    )
