"""What one call of a ``torch.compile``d function costs on the CPU, whatever it computes.

m10 compiles a whole rollout step as one function, not each piece, because every call of
a compiled function has a price of its own. This measures the parts of that price on the
smallest function there is, ``x + 1`` on a tensor of 4 floats, one torch thread:

- ``eager``: ``x + 1`` called as a plain Python function;
- ``compiled``: the same function through ``torch.compile`` (inductor), an input that
  does not require grad (as in a rollout, under ``torch.inference_mode()``);
- ``compiled, dynamo only``: ``torch.compile(backend="eager")``: Dynamo's frame
  evaluation and guards, then the captured graph run eagerly;
- ``guard check``: the compiled function's guards alone, checked against its argument;
- ``compiled, input requires grad``: the inductor version called on a tensor that
  requires grad (as in a minibatch's losses), which goes through AOTAutograd's wrappers.

Each figure is the fastest of ``--repeats`` rounds' mean time per call (``--calls`` calls a round;
the fastest, as timeit advises, because other load on the machine only ever adds time),
in microseconds. It writes ``benchmarks/results/compile_costs.json``:

    python benchmarks/compile_costs.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.gpu import machine  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "compile_costs.json"


def per_call_us(call, calls: int, repeats: int) -> float:
    """The fastest of ``repeats`` rounds' mean time per call, in microseconds."""
    for _ in range(max(calls // 10, 10)):
        call()
    rounds = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            call()
        rounds.append((time.perf_counter() - start) / calls * 1e6)
    return min(rounds)


def add_one(x: torch.Tensor) -> torch.Tensor:
    return x + 1


def guard_check(compiled, x: torch.Tensor):
    """A function that checks the guards of ``compiled``'s one cached version against
    ``x``, or None where this torch does not expose them."""
    try:
        from torch._C._dynamo.eval_frame import _debug_get_cache_entry_list
    except ImportError:
        return None
    entries = _debug_get_cache_entry_list(add_one.__code__)
    managers = [getattr(e, "guard_manager", None) for e in entries]
    managers = [m for m in managers if m is not None and hasattr(m, "check")]
    if not managers:
        return None
    manager = managers[0]
    if not manager.check({"x": x}):
        raise RuntimeError("the guards of the compiled version reject its own argument")
    return lambda: manager.check({"x": x})


def measure(calls: int, repeats: int) -> dict[str, float | None]:
    torch.set_num_threads(1)
    x = torch.randn(4)
    results: dict[str, float | None] = {}
    results["eager"] = per_call_us(lambda: add_one(x), calls, repeats)

    torch._dynamo.reset()
    dynamo_only = torch.compile(add_one, backend="eager")
    dynamo_only(x)
    results["compiled, dynamo only"] = per_call_us(lambda: dynamo_only(x), calls, repeats)

    torch._dynamo.reset()
    compiled = torch.compile(add_one)
    compiled(x)
    results["compiled"] = per_call_us(lambda: compiled(x), calls, repeats)
    check = guard_check(compiled, x)
    results["guard check"] = None if check is None else per_call_us(check, calls, repeats)

    torch._dynamo.reset()
    compiled = torch.compile(add_one)
    w = torch.randn(4, requires_grad=True)
    compiled(w)
    results["compiled, input requires grad"] = per_call_us(lambda: compiled(w), calls, repeats)
    torch._dynamo.reset()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()[0]
    results = measure(args.calls, args.repeats)
    record = {
        "machine": machine(),
        # Other processes' load inflates every figure alike: the run records it.
        "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "command": "python benchmarks/compile_costs.py",
        "function": "x + 1, x a tensor of 4 float32, on the CPU, one torch thread",
        "microseconds_per_call": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    for name, us in results.items():
        print(f"{name:32s} {'n/a' if us is None else f'{us:8.1f} us'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
