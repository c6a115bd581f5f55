"""m10's benchmark: environments as tensors against gymnasium's, and training on the device.

Two measurements, run side by side in one process tree:

1. Raw environment steps per second of CartPole-v1 with random actions, for N = 16 ...
   2^20 copies: ``BatchedCartPole`` (the reference's m10 functions, torch on the CPU, and
   on CUDA when present, optionally ``torch.compile``d), gymnasium's numpy-vectorised
   CartPole (``gym.make_vec(..., vectorization_mode="vector_entry_point")``) and
   gymnasium's ``SyncVectorEnv`` (one Python env per copy). The actions come from a pool
   of 8 action arrays drawn beforehand, so only the stepping is timed; CUDA timings
   synchronise before the clock is read.
2. Training: ``ppo-course train`` with the reference, the gymnasium backend against the
   torch backend (CPU; CUDA when present; ``--nproc 2`` on the CPU; with ``--compile``,
   compiled, and on CUDA with CUDA graphs too), over 5 seeds: wall time to solve
   (median; an unsolved run counts its whole time; compiling happens before the clock
   starts and has a column of its own) and env steps per second over the run.

It writes ``benchmarks/results/gpu.json``, the table ``docs/assets/gpu_benchmark.md`` and
the figure ``docs/assets/figures/m10_benchmark.png``, with the machine and device names.

    python benchmarks/gpu.py                 # everything (minutes on a 2-core CPU)
    python benchmarks/gpu.py --quick         # small N, 2 seeds, CartPole only
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course.batched_envs import BATCHED_ENVS, BatchedCartPole  # noqa: E402
from course.impl import Implementation  # noqa: E402
from course.train.ppo_device import ENV_FUNCTIONS  # noqa: E402


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": str(len(__import__("os").sched_getaffinity(0))),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d"),
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def _rate(step, sync, seconds: float) -> float:
    """Calls of ``step`` per second over one round of at least ``seconds``."""
    calls, start = 0, time.perf_counter()
    while True:
        for _ in range(5):
            step()
        calls += 5
        sync()
        elapsed = time.perf_counter() - start
        if elapsed >= seconds:
            return calls / elapsed


def _no_sync() -> None:
    pass


COMPILED = ENV_FUNCTIONS  # the m10 functions a step of the batched envs calls


def compiled_functions(impl: Implementation, names: tuple[str, ...] = COMPILED):
    """m10's functions of ``impl``, those in ``names`` passed through ``torch.compile``."""
    import types

    m10 = impl.module("m10")
    return types.SimpleNamespace(
        **{n: torch.compile(getattr(m10, n)) if n in names else getattr(m10, n) for n in COMPILED}
    )


def torch_stepper(n: int, device: str, fns=None):
    envs = BatchedCartPole(n, device=device, seed=0, impl=fns or Implementation("solutions"))
    envs.reset()
    g = torch.Generator(device=device).manual_seed(0)
    pool = [torch.randint(0, 2, (n,), generator=g, device=device) for _ in range(8)]
    counter = iter(range(10**12))
    sync = torch.cuda.synchronize if device == "cuda" else _no_sync
    return (lambda: envs.step(pool[next(counter) % 8])), sync, envs.close


def gym_stepper(n: int, mode: str):
    import gymnasium as gym

    envs = gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode=mode)
    envs.reset(seed=0)
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 2, size=n) for _ in range(8)]
    counter = iter(range(10**12))
    return (lambda: envs.step(pool[next(counter) % 8])), _no_sync, envs.close


ROUNDS, ROUND_SECONDS = 30, 0.02


def raw_rows(sizes, max_numpy: int, max_sync: int, max_cpu: int, compile_: bool) -> list:
    """Env steps per second for each N. The steppers of one N are timed side by side, in
    alternating rounds (``ROUNDS`` rounds of ``ROUND_SECONDS`` each at least, and of 5
    calls at least), and each keeps its best round: the one least disturbed by whatever
    else runs on the machine. Short rounds, many of them: on a machine shared with other
    work, a round of a tenth of a second is rarely left alone for all of it."""
    rows = []
    fns = compiled_functions(Implementation("solutions")) if compile_ else None
    for n in sizes:
        steppers = {}
        if n <= max_cpu:
            steppers["torch cpu"] = torch_stepper(n, "cpu")
            if fns is not None:
                steppers["torch cpu compiled"] = torch_stepper(n, "cpu", fns)
        if torch.cuda.is_available():
            steppers["torch cuda"] = torch_stepper(n, "cuda")
            if fns is not None:
                steppers["torch cuda compiled"] = torch_stepper(n, "cuda", fns)
        if n <= max_numpy:
            steppers["gymnasium numpy"] = gym_stepper(n, "vector_entry_point")
        if n <= max_sync:
            steppers["gymnasium sync"] = gym_stepper(n, "sync")
        best = dict.fromkeys(steppers, 0.0)
        for step, sync, _ in steppers.values():
            for _ in range(3):  # warm-up (and compilation)
                step()
            sync()
        for _ in range(ROUNDS):
            for name, (step, sync, _) in steppers.items():
                best[name] = max(best[name], n * _rate(step, sync, ROUND_SECONDS))
        for _, _, close in steppers.values():
            close()
        row = {"N": n, **best}
        print(" ".join(f"{k}={v:.3g}" for k, v in row.items()), flush=True)
        rows.append(row)
    return rows


def training_setups(compile_: bool, nproc: bool = True) -> list[tuple[str, dict]]:
    """The training runs compared: the gymnasium backend, the torch backend on the CPU
    (with ``--nproc 2``, and compiled with ``--compile``), and on CUDA when present
    (eager; compiled and with CUDA graphs with ``--compile``)."""
    cpu = {"env_backend": "torch", "device": "cpu"}
    setups = [("gymnasium (cpu)", {"env_backend": "gymnasium", "device": "cpu"})]
    setups.append(("torch (cpu)", cpu))
    if compile_:
        setups.append(("torch (cpu, --compile)", {**cpu, "compile": "compile"}))
    if nproc:
        setups.append(("torch (cpu, --nproc 2)", {**cpu, "nproc": 2}))
    if torch.cuda.is_available():
        cuda = {"env_backend": "torch", "device": "cuda"}
        setups.append(("torch (cuda)", cuda))
        if compile_:
            setups.append(("torch (cuda, --compile)", {**cuda, "compile": "compile"}))
            setups.append(("torch (cuda, --cuda-graphs)", {**cuda, "compile": "cuda-graphs"}))
        wide = {**cuda, **WIDE}
        setups.append(("torch (cuda, 4096 envs)", wide))
        if compile_:
            graphs = {**wide, "compile": "cuda-graphs"}
            setups.append(("torch (cuda, 4096 envs, --cuda-graphs)", graphs))
    return setups


#: The configuration of a GPU's width: 4,096 envs of 16 steps, 65,536 samples an update in
#: minibatches of 16,384 (CartPole-v1 on the CPU: solved at 2.3 M steps, seed 1).
WIDE = {
    "_env": "CartPole-v1",  # its settings are CartPole's
    "settings": ["num_envs=4096", "num_steps=16", "minibatch_size=16384", "update_epochs=4"],
    "total_steps": 4_000_000,
}


def training_rows(envs: list[str], seeds: int, setups: list[tuple[str, dict]]) -> list:
    from course.train import run

    rows = []
    for env_id in envs:
        chosen = [(label, o) for label, o in setups if o.get("_env", env_id) == env_id]
        runs: dict[str, list] = {label: [] for label, _ in chosen}
        for seed in range(1, seeds + 1):  # the setups side by side, seed by seed
            for label, given in chosen:
                options = {k: v for k, v in given.items() if not k.startswith("_")}
                with tempfile.TemporaryDirectory() as folder:
                    s = run(
                        env_id, impl="solutions", seed=seed, out=folder, progress=False, **options
                    )
                runs[label].append(s)
                print(env_id, label, seed, s["solved"], s["solved_at_seconds"], flush=True)
        for label, done in runs.items():
            times = [r["solved_at_seconds"] if r["solved"] else r["wall_seconds"] for r in done]
            rows.append(
                {
                    "env": env_id,
                    "setup": label,
                    "seeds": seeds,
                    "solved": sum(r["solved"] for r in done),
                    "median_seconds_to_solve": statistics.median(times),
                    "median_steps_to_solve": statistics.median(
                        r["solved_at_steps"] or r["total_steps"] for r in done
                    ),
                    "steps_per_second": statistics.median(
                        r["total_steps"] / max(r["wall_seconds"], 1e-9) for r in done
                    ),
                    "seconds_to_solve": times,
                    "steps_to_solve": [r["solved_at_steps"] or r["total_steps"] for r in done],
                    "warmup_seconds": statistics.median(r.get("warmup_seconds") or 0 for r in done),
                }
            )
    return rows


def _fmt(x: float | None) -> str:
    return "" if x is None else f"{x:,.3g}".replace("e+0", "e").replace("e+", "e")


def write_table(result: dict, path: Path) -> None:
    raw = [row for row in result["raw"] if len(row) > 1]  # sizes beyond every cap
    train, info = result["training"], result["machine"]
    columns = [c for c in raw[0] if c != "N"] if raw else []
    for row in raw:
        columns += [c for c in row if c != "N" and c not in columns]
    lines = []
    if raw:
        lines.append("| N | " + " | ".join(f"{c} (steps/s)" for c in columns) + " |")
        lines.append("|---:|" + "---:|" * len(columns))
        for row in raw:
            cells = " | ".join(_fmt(row.get(c)) for c in columns)
            lines.append(f"| {row['N']:,} | {cells} |")
        lines.append("")
    header = "| env | setup | solved | median time to solve | median steps | steps/s |"
    warm = any(row.get("warmup_seconds") for row in train)
    lines += [header + (" compiling (before the clock) |" if warm else "")]
    lines.append("|---|---|---:|---:|---:|---:|" + ("---:|" if warm else ""))
    for row in train:
        compiling = row.get("warmup_seconds")
        lines.append(
            f"| {row['env']} | {row['setup']} | {row['solved']}/{row['seeds']} | "
            f"{row['median_seconds_to_solve']:.1f} s | {row['median_steps_to_solve']:,.0f} | "
            f"{row['steps_per_second']:,.0f} |"
            + ((f" {compiling:.1f} s |" if compiling else " |") if warm else "")
        )
    device = f", GPU {info['gpu']}" if "gpu" in info else ", no GPU"
    command = result.get("command", "python benchmarks/gpu.py")
    commands = " and ".join(f"`{c}`" for c in ([command] if isinstance(command, str) else command))
    lines += [
        "",
        f"Measured on {info['cpu']}, {info['cores']} cores available{device}, Python "
        f"{info['python']}, torch {info['torch']}, one torch thread, {info['date']}, with "
        f"{commands}. Raw rates step CartPole-v1 with random actions; training times run "
        "from the first environment step to the first moment the mean return of the last "
        "20 finished episodes reaches the threshold (an unsolved run counts its whole "
        "time).",
    ]
    path.write_text("\n".join(lines) + "\n")


def write_plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    columns = sorted({c for row in result["raw"] for c in row if c != "N"})
    for column in columns:
        points = [(row["N"], row[column]) for row in result["raw"] if column in row]
        ax.plot(*zip(*points, strict=True), marker="o", label=column)
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("N, environments stepped together")
    ax.set_ylabel("environment steps per second")
    info = result["machine"]
    where = info["cpu"] + (f" + {info['gpu']}" if "gpu" in info else "")
    ax.set_title(f"CartPole-v1, random actions ({where})", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def rewrite(path: Path, table: Path, plot: Path) -> None:
    """Write the table and the figure again from a saved result file."""
    result = json.loads(path.read_text())
    write_table(result, table)
    write_plot(result, plot)


def merge(paths: list[Path], out: Path, table: Path, plot: Path) -> int:
    """One result from several of the same machine: the raw rows of every file, the
    training rows of every file, the first file's machine, and the commands joined."""
    results = [json.loads(p.read_text()) for p in paths if p.is_file()]
    if not results:
        print("nothing to merge: none of the files exists", file=sys.stderr)
        return 1
    merged = {
        "machine": results[0]["machine"],
        "command": [r.get("command", "python benchmarks/gpu.py") for r in results],
        "raw": [row for r in results for row in r["raw"]],
        "training": [row for r in results for row in r["training"]],
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, indent=1) + "\n")
    write_table(merged, table)
    if merged["raw"]:
        write_plot(merged, plot)
    return 0


def _command(argv: list[str] | None) -> str:
    """The command line that measures, without where it writes (--out, --table, --plot)."""
    given, shown = list(sys.argv[1:] if argv is None else argv), []
    while given:
        arg = given.pop(0)
        if arg in ("--out", "--table", "--plot"):
            given = given[1:]
        elif not arg.startswith(("--out=", "--table=", "--plot=")):
            shown.append(arg)
    return " ".join(["python benchmarks/gpu.py", *shown])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, 2 seeds")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-n", type=int, default=2**20)
    parser.add_argument("--max-cpu", type=int, default=2**18, help="largest N on the CPU")
    parser.add_argument("--max-sync", type=int, default=1024, help="largest SyncVectorEnv")
    parser.add_argument(
        "--compile", action="store_true", help="add torch.compile (and CUDA graph) rows"
    )
    parser.add_argument("--no-nproc", action="store_true", help="no --nproc 2 training row")
    parser.add_argument(
        "--only",
        metavar="WORDS",
        help="training rows whose setup contains one of these comma-separated words, "
        "e.g. gymnasium,cuda",
    )
    parser.add_argument("--no-training", action="store_true")
    parser.add_argument("--no-raw", action="store_true", help="training rows only")
    parser.add_argument(
        "--merge",
        nargs="+",
        metavar="RESULT",
        help="measure nothing: put saved results (gpu.json files of one machine) into one "
        "result, table and plot",
    )
    parser.add_argument("--pendulum", action="store_true", help="train Pendulum-v1 too")
    parser.add_argument(
        "--envs",
        default="CartPole-v1",
        help="the tasks to train, comma-separated (default CartPole-v1; --pendulum adds "
        "Pendulum-v1), e.g. --envs Pendulum-v1 to measure it alone and --merge it after",
    )
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu.json"))
    parser.add_argument("--table", default=str(ROOT / "docs" / "assets" / "gpu_benchmark.md"))
    parser.add_argument(
        "--plot", default=str(ROOT / "docs" / "assets" / "figures" / "m10_benchmark.png")
    )
    args = parser.parse_args(argv)
    envs = [e.strip() for e in args.envs.split(",") if e.strip()]
    unknown = sorted(set(envs) - set(BATCHED_ENVS))
    if unknown:  # before anything is measured
        known = ", ".join(BATCHED_ENVS)
        parser.error(f"--envs: no batched version of {', '.join(unknown)} ({known})")
    if args.pendulum and not args.quick and "Pendulum-v1" not in envs:
        envs.append("Pendulum-v1")
    if args.merge:
        paths = [Path(f) for f in args.merge]
        return merge(paths, Path(args.out), Path(args.table), Path(args.plot))
    torch.set_num_threads(1)
    seeds = 2 if args.quick else args.seeds
    max_n = 2**10 if args.quick else args.max_n
    sizes = [16 * 4**k for k in range(20) if 16 * 4**k <= max_n]
    if sizes[-1] != max_n and max_n > 16:
        sizes.append(max_n)
    result = {"machine": machine(), "command": _command(argv)}
    caps = (args.max_cpu, args.max_sync, args.max_cpu)
    result["raw"] = [] if args.no_raw else raw_rows(sizes, *caps, args.compile)
    setups = training_setups(args.compile, nproc=not args.no_nproc)
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        setups = [(label, o) for label, o in setups if any(w in label for w in wanted)]
    result["training"] = [] if args.no_training else training_rows(envs, seeds, setups)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    write_table(result, Path(args.table))
    if result["raw"]:
        write_plot(result, Path(args.plot))
    print(Path(args.table).read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
