"""The grading worker: the untrusted side of the trust boundary (see ``sandbox.py``).

It runs inside the sandbox, imports torch once, then serves requests from the grader, one
JSON line each on its standard input, and answers one JSON line each on a file descriptor
of its own (``--reply-fd``):

* ``{"op": "load", "module": "m01"}``: import a fresh copy of the submission's module;
* ``{"op": "run", "probe": "pkg.mod:name", "function": "f", "inputs": PLAIN}``: run a
  probe on the loaded module and answer with the value it returned, the state of the
  inputs after the call (the grader compares them with what it sent), and the first
  lines the code printed; with ``"again": true``, also the value of a second call on the
  same input objects (what the worker says about the inputs could be forged by the code
  it runs; a second value that differs from the expected one cannot hide);
* ``{"op": "stop"}``.

With ``--device cuda`` (a student's ``ppo-course check --device cuda``) the inputs are
moved to that device before each call; the grader then also requires every tensor the
function returns to be there.

Before it imports any submission it measures what it holds once torch is imported (its
data size and address space: the baseline, which depends on the build of torch
installed) and limits itself to that plus a budget (``--memory-mb``), then CPU time, open
files, file size and core dumps and forbids itself to create processes (``seccomp.py``). Its
own standard output and error go to ``/dev/null``; Python-level prints are kept, bounded,
to show a student what their code printed.
"""

from __future__ import annotations

import json
import os
import sys

PRINT_LIMIT = 2000  # characters of a case's printed output sent back


class _Printed:
    """A bounded stand-in for ``sys.stdout``/``sys.stderr``."""

    NOTIFY_EVERY = 1_000_000

    def __init__(self, notify=None) -> None:
        self.text: list[str] = []
        self.kept = 0
        self.total = 0
        self.notify = notify
        self._next_notice = self.NOTIFY_EVERY

    def write(self, text: str) -> int:
        text = str(text)
        self.total += len(text)
        if self.notify is not None and self.total >= self._next_notice:
            # Tell the grader how much was printed, in case the case then times out.
            self._next_notice = self.total + self.NOTIFY_EVERY
            self.notify(self.total)
        if self.kept < PRINT_LIMIT:
            piece = text[: PRINT_LIMIT - self.kept]
            self.text.append(piece)
            self.kept += len(piece)
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def take(self) -> tuple[str, int]:
        out, total = "".join(self.text), self.total
        self.text, self.kept, self.total = [], 0, 0
        self._next_notice = self.NOTIFY_EVERY
        return out, total


def _status_bytes(field: str) -> int | None:
    """A size of this process from ``/proc/self/status`` (``VmSize``, ``VmData``), in
    bytes, or None where /proc cannot say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _ballast(megabytes: int) -> object:
    """``megabytes`` of private writable memory, mapped and never touched: what a larger
    build of torch (the CUDA one maps about 560 MB more data than the CPU one) adds to
    the worker before it measures itself."""
    import mmap

    if megabytes <= 0:
        return None
    return mmap.mmap(-1, megabytes * 1024 * 1024, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def baseline() -> tuple[int, int]:
    """What this process has mapped now: (data size, address space), in bytes. The
    worker measures it once, after importing torch and before any submission's code, and
    its memory limits are this plus the budget; where /proc cannot say, 2 GiB each."""
    data = _status_bytes("VmData")
    size = _status_bytes("VmSize")
    return (data if data is not None else 2 << 30, size if size is not None else 2 << 30)


def _limit(memory_mb: int, cpu_s: int, nofile: int, fsize_mb: int) -> tuple[int, int]:
    """Apply the limits; returns the measured baseline (data size, address space)."""
    import resource

    data, size = baseline()
    limits = [
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, nofile),
        (resource.RLIMIT_FSIZE, fsize_mb * 1024 * 1024),
    ]
    if memory_mb > 0:
        # ``memory_mb`` is a budget on top of what the worker holds now, torch included
        # (221 MB of data for the CPU build of torch 2.13, 785 MB for the CUDA one): the
        # submission may allocate that much more, whichever build is installed.
        # The data size (heap and private writable mappings) bounds what a submission can
        # allocate the usual ways; torch's mapped libraries, most of a worker's address
        # space, are not in it. Shared anonymous mappings (mmap.mmap(-1, n)) are not data,
        # so the address space is limited too, to what is mapped now plus the same amount.
        budget = memory_mb * 1024 * 1024
        limits.append((resource.RLIMIT_DATA, data + budget))
        limits.append((resource.RLIMIT_AS, size + budget))
    if cpu_s > 0:
        limits.append((resource.RLIMIT_CPU, cpu_s))
    for which, value in limits:
        _soft, hard = resource.getrlimit(which)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        resource.setrlimit(which, (value, value))
    return data, size


def _defer_dynamo(torch) -> None:
    """Put off importing ``torch._dynamo`` until something needs more than its two no-ops.

    The first optimizer a check builds calls ``torch._dynamo.disable`` and
    ``graph_break``, which import the compiler's front end: 1 to 2 seconds, more than the
    whole m09 check costs. Outside ``torch.compile`` the first returns the function
    unchanged and the second does nothing, so the worker answers both itself; any other
    attribute (a submission that calls ``torch.compile``, say) imports the real module and
    forwards to it. Only this worker, the untrusted side, does this."""
    import importlib
    import types

    if "torch._dynamo" in sys.modules:
        return

    class Deferred(types.ModuleType):
        def disable(self, fn=None, recursive=True, **kwargs):
            return fn if fn is not None else (lambda f: f)

        def graph_break(self, *args, **kwargs) -> None:
            return None

        def __getattr__(self, name: str):
            if name.startswith("__"):
                raise AttributeError(name)
            if sys.modules.get("torch._dynamo") is self:
                del sys.modules["torch._dynamo"]
            return getattr(importlib.import_module("torch._dynamo"), name)

    deferred = Deferred("torch._dynamo")
    sys.modules["torch._dynamo"] = deferred
    torch._dynamo = deferred


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--submission", required=True)
    parser.add_argument("--memory-mb", type=int, default=512)
    parser.add_argument("--cpu-s", type=int, default=0)
    parser.add_argument("--nofile", type=int, default=256)
    parser.add_argument("--fsize-mb", type=int, default=64)
    parser.add_argument("--no-process-filter", action="store_true")
    parser.add_argument("--reply-fd", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    # (tests only: map this much more before the baseline is measured, as a larger build
    # of torch does; set by the grader, never by anything a submission controls)
    parser.add_argument("--ballast-mb", type=int, default=0)
    args = parser.parse_args(argv)

    reply_fd = os.dup(args.reply_fd)
    os.close(args.reply_fd)
    replies = os.fdopen(reply_fd, "w", buffering=1, encoding="utf-8")
    requests = os.fdopen(os.dup(0), "r", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    # Never import from the working directory, which the submission can write, and never
    # the reference (an editable install maps the name even where files are reachable).
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
    sys.modules["solutions"] = None  # type: ignore[assignment]

    import random
    import warnings

    import numpy
    import torch

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    _defer_dynamo(torch)

    from autograder import wire
    from autograder.core import failure_from_exception, resolve_probe, set_case_device, to_device
    from autograder.runner import reset_torch_state
    from course import impl as impl_loader
    from course.modules import lookup

    ballast = _ballast(args.ballast_mb)  # noqa: F841  (kept mapped for the worker's life)
    baseline_data, _size = _limit(args.memory_mb, args.cpu_s, args.nofile, args.fsize_mb)
    filtered = False
    if not args.no_process_filter:
        from autograder.seccomp import forbid_new_processes

        try:
            forbid_new_processes()
            filtered = True
        except OSError:
            filtered = False

    folder = os.path.abspath(args.submission)
    # The cases' inputs go to --device before each call (the grader sends them as CPU
    # data), and the probes build their networks there.
    device = torch.device(args.device)
    set_case_device(device)
    on_cpu = device.type == "cpu"

    def send(message: dict) -> None:
        replies.write(json.dumps(message, allow_nan=False, separators=(",", ":")) + "\n")
        replies.flush()

    printed = _Printed(lambda chars: send({"note": "printing", "chars": chars}))
    sys.stdout = sys.stderr = printed

    def student_line(exc: BaseException) -> str:
        import traceback

        frames = [
            f for f in traceback.extract_tb(exc.__traceback__) if f.filename.startswith(folder)
        ]
        if not frames:
            return ""
        frame = frames[-1]
        name = os.path.basename(frame.filename)
        return f"line {frame.lineno} of {name}: {(frame.line or '').strip()}"

    send(
        {
            "ready": True,
            "process_filter": filtered,
            "pid": os.getpid(),
            "baseline_mb": baseline_data // (1024 * 1024),
        }
    )
    namespace = None
    from pathlib import Path

    for line in requests:
        try:
            message = json.loads(line)
            op = message["op"]
        except (ValueError, KeyError, TypeError):
            return
        if op == "stop":
            return
        if op == "load":
            printed.take()
            try:
                namespace = impl_loader.import_module(Path(folder), lookup(message["module"]))
                text, total = printed.take()
                send({"loaded": True, "printed": text, "printed_chars": total})
            except impl_loader.ImplError as exc:
                namespace = None
                text, total = printed.take()
                send({"import": str(exc), "printed": text, "printed_chars": total})
            except BaseException as exc:  # SystemExit or KeyboardInterrupt at import
                namespace = None
                printed.take()
                send({"import": f"importing the file raised {type(exc).__name__}"})
            continue
        function = message["function"]
        reset_torch_state()
        torch.manual_seed(0)
        random.seed(0)
        numpy.random.seed(0)
        try:
            inputs = wire.from_plain(message["inputs"])
            if not on_cpu:
                inputs = to_device(inputs, device)
            probe = resolve_probe(message["probe"])
            value = probe(namespace, function, inputs)
            reply = {"value": wire.to_plain(value)}
            try:
                reply["after"] = wire.to_plain(inputs)
            except wire.WireError:
                reply["after"] = None
            if message.get("again"):
                # The same input objects once more, from the same random state: the
                # grader compares this value with the expected one too.
                reset_torch_state()
                torch.manual_seed(0)
                random.seed(0)
                numpy.random.seed(0)
                reply["again"] = wire.to_plain(probe(namespace, function, inputs))
        except wire.WireError as exc:
            reply = {
                "fail": "unsendable",
                "message": f"{function} returned a value the grader cannot read back: {exc}",
                "line": "",
            }
        except BaseException as exc:  # student code: anything can happen, SystemExit too
            failure = failure_from_exception(exc, function, student_line(exc))
            reply = {"fail": failure.kind, "message": failure.message, "line": failure.line}
        text, total = printed.take()
        reply["printed"] = text
        reply["printed_chars"] = total
        try:
            send(reply)
        except (ValueError, TypeError) as exc:
            send({"fail": "unsendable", "message": str(exc), "line": "", "printed": ""})


if __name__ == "__main__":
    main()
