"""``python -m autograder.mutation [m03 ...] [--function NAME] [--jobs N] [--seed S] [--json]``

Grades every mutant of the references of the modules named (all graded modules when
none is) and prints the mutation score per function and each mutant that needs work:
the survivors that the list of equivalents does not name, and those that only hidden
cases kill. Exits with 1 when there is any (2 on a usage error), 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from autograder.mutation import equivalents
from autograder.mutation.run import STATUSES, ModuleRun, run_module, score


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.mutation",
        description="Mutation test of the checks: grade mutants of the references.",
    )
    parser.add_argument("modules", nargs="*", help="module ids (default: every graded module)")
    parser.add_argument(
        "--function", action="append", default=[], help="only this graded function (repeatable)"
    )
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument(
        "--seed",
        type=int,
        action="append",
        default=[],
        help="hidden seed (repeatable; default 1): a mutant that a hidden case of any of "
        "them kills, and no public case, is a gap",
    )
    parser.add_argument("--timeout", type=float, default=None, help="seconds per mutant")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--entries", action="store_true", help="print a TOML entry for every survivor"
    )
    return parser


def _short(text: str, width: int = 90) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def edit_text(before: str, after: str, width: int = 200) -> str:
    """``before -> after`` (``inserted: after`` for a new line), the common ends cut when
    the whole is too long."""
    if not before:
        return f"inserted: {after}"
    if len(before) + len(after) + 4 <= width:
        return f"{before} -> {after}"
    head = 0
    while head < min(len(before), len(after)) and before[head] == after[head]:
        head += 1
    tail = 0
    while (
        tail < min(len(before), len(after)) - head
        and before[len(before) - 1 - tail] == after[len(after) - 1 - tail]
    ):
        tail += 1
    keep = 40
    start = max(0, head - keep)
    b = before[start : len(before) - max(0, tail - keep)]
    a = after[start : len(after) - max(0, tail - keep)]
    lead = "…" if start else ""
    b_end = "…" if tail > keep else ""
    return f"{lead}{b}{b_end} -> {lead}{a}{b_end}"


def print_text(run: ModuleRun, out) -> None:
    module = run.module
    counts = run.by_function()
    print(
        f"{module.id} {module.title}: {len(run.results)} mutants in {run.seconds:.0f} s "
        f"(limit {run.limit:.0f} s per mutant)",
        file=out,
    )
    width = max([len(f) for f in counts] + [8])
    header = "  ".join(f"{s:>11}" for s in STATUSES)
    print(f"  {'function':<{width}}  {'mutants':>7}  {header}  {'score':>6}", file=out)
    for function, row in counts.items():
        value = score(row)
        shown = "-" if value is None else f"{100 * value:5.1f}%"
        cells = "  ".join(f"{row[s]:>11}" for s in STATUSES)
        print(f"  {function:<{width}}  {sum(row.values()):>7}  {cells}  {shown:>6}", file=out)
    filename = f"solutions/{module.filename}"
    for result in run.failing:
        m = result.mutant
        label = "survived" if result.status == "survived" else "hidden only"
        seeds = (
            f" (killed by {_short(result.case, 70)} under seeds "
            f"{', '.join(map(str, result.hidden_seeds))})"
            if result.hidden_seeds
            else ""
        )
        print(
            f"  {label}: {filename}:{m.line} {m.qualname} [{m.kind}] "
            f"{edit_text(m.before, m.after)}{seeds}",
            file=out,
        )
    for result in run.results:
        if result.status in ("killed", "hidden-only") and result.reason:
            m = result.mutant
            print(
                f"  listed as equivalent but {result.status}: {m.function} [{m.kind}] "
                f"{edit_text(m.before, m.after)} ({result.check}: {_short(result.case, 60)})",
                file=out,
            )
    for entry in run.stale:
        print(f"  stale entry in {entry.path.name}: {entry.describe()}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from autograder import engine
    from course.modules import lookup

    try:
        modules = [lookup(m) for m in args.modules] if args.modules else engine.graded_modules()
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    if args.jobs < 1:
        print("error: --jobs must be at least 1", file=sys.stderr)
        return 2
    seeds = tuple(dict.fromkeys(args.seed)) or (1,)
    runs = []
    started = time.monotonic()
    for module in modules:
        functions = args.function or None
        if functions and len(modules) > 1:
            from autograder.mutation.grading import checked_functions

            functions = [f for f in functions if f in checked_functions(module)]
            if not functions:
                continue
        try:
            run = run_module(module, functions, seeds, args.jobs, args.timeout)
        except (KeyError, equivalents.EquivalentsError, FileNotFoundError) as exc:
            print(f"error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
            return 2
        runs.append(run)
        if args.json:
            print(
                f"{module.id}: {len(run.results)} mutants, {len(run.failing)} to work on, "
                f"{run.seconds:.0f} s",
                file=sys.stderr,
            )
        else:
            print_text(run, sys.stdout)
            if args.entries:
                for result in run.failing:
                    if result.status == "survived":
                        print(equivalents.entry_text(result.mutant), file=sys.stdout)
            sys.stdout.flush()
    elapsed = time.monotonic() - started
    failing = sum(len(r.failing) for r in runs)
    if args.json:
        payload = {
            "seeds": list(seeds),
            "seconds": round(elapsed, 1),
            "modules": [
                {
                    "module": r.module.id,
                    "seconds": round(r.seconds, 1),
                    "limit": r.limit,
                    "functions": {
                        f: {**row, "score": score(row)} for f, row in r.by_function().items()
                    },
                    "mutants": [x.as_dict() for x in r.results],
                    "stale": [
                        {
                            "function": e.function,
                            "kind": e.kind,
                            "before": e.before,
                            "after": e.after,
                        }
                        for e in r.stale
                    ],
                }
                for r in runs
            ],
        }
        json.dump(payload, sys.stdout, indent=1)
        print()
    else:
        total = sum(len(r.results) for r in runs)
        print(f"{total} mutants, {failing} to work on, in {elapsed:.0f} s")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
