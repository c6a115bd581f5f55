"""What a hostile class costs the host: the grader's memory and the shared memory it holds.

Grades a class of the reference, and of every hostile submission of ``tests/hostile.py``
and ``tests/grader_attacks.py`` (module m01, the rest the reference's), with
``ppo-course grade`` in a subprocess, and samples every 0.2 s the grader's resident memory
(``VmRSS`` of the grading process) and the host's shared memory (``Shmem`` in
``/proc/meminfo``: tmpfs files, ``/dev/shm`` included). Prints one JSON object and exits
non-zero when the grader went over ``--max-rss-mb`` (800) or the shared memory grew by
more than ``--max-shm-mb`` (300).

    python benchmarks/hostile_class.py --jobs 2 [--modules m01 m04]

Other work on the machine moves ``Shmem`` too: run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from course import paths  # noqa: E402
from tests import grader_attacks  # noqa: E402
from tests.hostile import ATTACKS  # noqa: E402


def _meminfo(field: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def _rss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def build_class(root: Path) -> Path:
    subs = root / "submissions"
    sources = {f"hostile_{k}": v for k, v in ATTACKS.items()}
    for name in ("FORGED_REPLY", "EXFILTRATE", "FILL_WRITABLE", "PTRACE", "REPLY_FLOOD", "META"):
        sources[f"attack_{name.lower()}"] = getattr(grader_attacks, name)
    sources["attack_slow"] = grader_attacks.SLOW.replace("{DELAY}", "18")
    sources["reference"] = None
    for name, source in sources.items():
        folder = subs / name
        folder.mkdir(parents=True)
        for path in paths.SOLUTIONS_DIR.glob("m[0-9][0-9]_*.py"):
            shutil.copyfile(path, folder / path.name)
        if source is not None and name.startswith("hostile_"):
            source = source.format(
                OTHER=str(subs / "reference" / "m01_policy_gradient.py"),
                SHEET=str(root / "grades.csv"),
                FEEDBACK=str(root / "feedback"),
                MARKER=f"ppo-bench-{int(time.time())}",
            )
        if source is not None:
            (folder / "m01_policy_gradient.py").write_text(source)
    return subs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--modules", nargs="*", default=["m01"])
    parser.add_argument("--max-rss-mb", type=float, default=800)
    parser.add_argument("--max-shm-mb", type=float, default=300)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="ppo-bench-hostile-"))
    try:
        subs = build_class(root)
        shm_before = _meminfo("Shmem")
        command = [
            sys.executable,
            "-m",
            "course.cli",
            "grade",
            str(subs),
            "--modules",
            *args.modules,
            "--out",
            str(root / "grades.csv"),
            "--feedback",
            str(root / "feedback"),
            "--jobs",
            str(args.jobs),
            "--hidden-seed",
            "20261202",
            "--quiet",
        ]
        started = time.monotonic()
        log = open(root / "grade.log", "w+b")  # noqa: SIM115  (read back once it ends)
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        peak_rss = peak_shm = 0
        while proc.poll() is None:
            peak_rss = max(peak_rss, _rss(proc.pid))
            peak_shm = max(peak_shm, _meminfo("Shmem") - shm_before)
            time.sleep(0.2)
        log.seek(0)
        err = log.read()
        log.close()
        reports = [p.stat().st_size for p in (root / "feedback").rglob("*") if p.is_file()]
        result = {
            "students": len(list(subs.iterdir())),
            "jobs": args.jobs,
            "modules": args.modules,
            "exit_status": proc.returncode,
            "seconds": round(time.monotonic() - started, 1),
            "grader_peak_rss_mb": round(peak_rss / 2**20, 1),
            "shared_memory_growth_mb": round(peak_shm / 2**20, 1),
            "largest_feedback_file_kb": round(max(reports, default=0) / 1024, 1),
            "output_tail": err.decode(errors="replace")[-500:],
        }
        print(json.dumps(result, indent=1))
        within = peak_rss / 2**20 <= args.max_rss_mb and peak_shm / 2**20 <= args.max_shm_mb
        return 0 if within and proc.returncode == 0 else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
