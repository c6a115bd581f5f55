"""Run inside a student release: does any function or class of the release pass a check?

Usage: ``python leak_probe.py RELEASE_FOLDER`` (run with the release first on the path).
Imports every ``.py`` file of the release's packages, collects every function (lambdas,
nested functions and methods included, from the garbage collector's view of live
objects) and every class defined in those files, and for each graded function tries
every candidate whose arity fits in its place, on the check's public cases (known
outputs, then properties), in this process with a short time limit per candidate. A
candidate stops at its first failing case. Prints one JSON object: the number of
candidates and trials, import errors, and every candidate that passed all the known
cases of a check (a leak).
"""

from __future__ import annotations

import gc
import importlib
import importlib.abc
import inspect
import json
import signal
import sys
import time
import types
from pathlib import Path

RELEASE = Path(sys.argv[1]).resolve()
LIMIT_S = 0.5


class _NoSolutions(importlib.abc.MetaPathFinder):
    """The release must work without the instructor's ``solutions`` package."""

    def find_spec(self, name, path=None, target=None):
        if name == "solutions" or name.startswith("solutions."):
            raise ImportError("solutions is not part of the release")
        return None


sys.meta_path.insert(0, _NoSolutions())
sys.path.insert(0, str(RELEASE))

import torch  # noqa: E402

torch.set_num_threads(1)

import course  # noqa: E402

assert Path(course.__file__).resolve().is_relative_to(RELEASE), course.__file__

from autograder import engine  # noqa: E402
from course import impl  # noqa: E402


class _OutOfTime(BaseException):
    pass


def _alarm(signum, frame):
    raise _OutOfTime()


def _in_release(filename: str | None) -> bool:
    return bool(filename) and Path(filename).resolve().is_relative_to(RELEASE)


def import_everything() -> list[str]:
    errors = []
    for package in ("course", "autograder", "exercises"):
        for path in sorted((RELEASE / package).rglob("*.py")):
            parts = path.relative_to(RELEASE).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            try:
                importlib.import_module(name)
            except BaseException as exc:  # a file of the release that does not import
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
    return errors


def candidates() -> list[object]:
    found: dict[int, object] = {}
    for obj in gc.get_objects():
        if isinstance(obj, types.FunctionType) and _in_release(obj.__code__.co_filename):
            found[id(obj)] = obj
        elif isinstance(obj, type):
            module = sys.modules.get(getattr(obj, "__module__", ""), None)
            if module is not None and _in_release(getattr(module, "__file__", None)):
                found[id(obj)] = obj
    return list(found.values())


def arity(obj) -> tuple[int, float] | None:
    """(required, most) positional arguments, or None when unknown."""
    try:
        params = inspect.signature(obj).parameters.values()
    except (TypeError, ValueError):
        return None
    required, most = 0, 0.0
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            most += 1
            if p.default is p.empty:
                required += 1
        elif p.kind == p.VAR_POSITIONAL:
            most = float("inf")
        elif p.kind == p.KEYWORD_ONLY and p.default is p.empty:
            return None
    return required, most


def label(obj) -> str:
    code = getattr(obj, "__code__", None)
    where = code.co_filename if code else sys.modules[obj.__module__].__file__
    line = f":{code.co_firstlineno}" if code else ""
    return f"{Path(where).relative_to(RELEASE)}{line}:{obj.__qualname__}"


_PURE = (
    "autograder/checks",
    "exercises",
    "autograder/core.py",
    "autograder/values.py",
    "autograder/draw.py",
    "autograder/probes.py",
)


def _risky(candidate) -> bool:
    """Everything but the checks, the stubs and the pure helpers (trainers, plots, the CLI,
    file writers, the sandbox runner that sets resource limits) runs in a child process,
    so that what it does to the process does not last."""
    code = getattr(candidate, "__code__", None)
    where = code.co_filename if code else sys.modules[candidate.__module__].__file__
    relative = Path(where).resolve().relative_to(RELEASE).as_posix()
    return not relative.startswith(_PURE)


def _trial(namespace, cases) -> tuple[int, int]:
    """(cases passed before the first failure, 1 if it ran out of time)."""
    executor = engine.InProcessExecutor(namespace)
    passed = 0
    signal.setitimer(signal.ITIMER_REAL, LIMIT_S)
    try:
        for case in cases:
            outcome = executor.run(case, LIMIT_S)
            if not hasattr(outcome, "value") or case.judge(outcome.value):
                break
            passed += 1
    except _OutOfTime:
        return passed, 1
    except BaseException:  # a candidate may raise anything, or exit
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    return passed, 0


def _healthy(state) -> bool:
    import os
    import resource

    return state == (
        resource.getrlimit(resource.RLIMIT_AS),
        os.getcwd(),
        torch.get_default_dtype(),
        torch.is_grad_enabled(),
    )


def _trials_in_children(namespaces: list, cases) -> list[tuple[int, int]]:
    """Run the trials of ``namespaces`` in child processes, one child for as many trials as
    leave it unharmed: a child that dies, hangs, or finds its process changed (limits,
    folder, torch defaults) is replaced for the next trial."""
    import os
    import resource
    import select

    results: list[tuple[int, int]] = []
    while len(results) < len(namespaces):
        start = len(results)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                state = (
                    resource.getrlimit(resource.RLIMIT_AS),
                    os.getcwd(),
                    torch.get_default_dtype(),
                    torch.is_grad_enabled(),
                )
                cap = 8 * 2**30
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
                state = (resource.getrlimit(resource.RLIMIT_AS), *state[1:])
                for namespace in namespaces[start:]:
                    passed, out = _trial(namespace, cases)
                    os.write(write, f"{passed} {out}\n".encode())
                    if not _healthy(state):
                        break
            finally:
                os._exit(0)
        os.close(write)
        buffer = b""
        while True:
            ready, _, _ = select.select([read], [], [], LIMIT_S + 5.0)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                break
            chunk = os.read(read, 4096)
            if not chunk:
                break
            buffer += chunk
        os.close(read)
        os.waitpid(pid, 0)
        lines = buffer.decode().splitlines()
        for line in lines:
            passed, out = line.split()
            results.append((int(passed), int(out)))
        if len(results) == start:  # the first trial killed the child: count it as failed
            results.append((0, 1))
    return results


def main() -> None:
    errors = import_everything()
    pool = [(c, arity(c)) for c in candidates()]
    pool = [(c, a) for c, a in pool if a is not None]
    stubs = impl.Implementation("exercises")
    signal.signal(signal.SIGALRM, _alarm)
    leaks, trials, checks, timeouts = [], 0, 0, 0
    per_check: dict[str, float] = {}
    started = time.monotonic()
    for module in engine.graded_modules():
        stub_module = stubs.module(module)
        for check in engine.load_checks(module):
            checks += 1
            check_started = time.monotonic()
            cases, _ = engine.build_cases(check, None, None)
            cases.sort(key=lambda c: c.kind != "known")
            known = sum(c.kind == "known" for c in cases)
            want = arity(getattr(stub_module, check.function))
            fitting = []
            for candidate, have in pool:
                if want is None:
                    continue
                if not any(have[0] <= k <= have[1] for k in range(want[0], int(want[1]) + 1)):
                    continue
                namespace = types.SimpleNamespace(**vars(stub_module))
                setattr(namespace, check.function, candidate)
                fitting.append((candidate, namespace))
            trials += len(fitting)
            risky = [(c, ns) for c, ns in fitting if _risky(c)]
            outcomes = [(c, _trial(ns, cases)) for c, ns in fitting if not _risky(c)]
            outcomes += zip(
                [c for c, _ in risky],
                _trials_in_children([ns for _, ns in risky], cases),
                strict=True,
            )
            for candidate, (passed, out_of_time) in outcomes:
                timeouts += out_of_time
                if known and passed >= known:
                    leaks.append(
                        {
                            "check": check.id,
                            "candidate": label(candidate),
                            "known": known,
                            "cases_passed": passed,
                            "cases": len(cases),
                        }
                    )
            per_check[check.id] = round(time.monotonic() - check_started, 2)
    print(
        json.dumps(
            {
                "import_errors": errors,
                "candidates": len(pool),
                "checks": checks,
                "trials": trials,
                "seconds": round(time.monotonic() - started, 1),
                "timeouts": timeouts,
                "per_check": per_check,
                "leaks": leaks,
            }
        )
    )


if __name__ == "__main__":
    main()
