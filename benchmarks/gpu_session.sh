#!/usr/bin/env bash
# Everything that needs a GPU, in one run of at most nine and a half minutes: the tests
# that skip without CUDA (among them the reference's checks with every case on the GPU,
# and training with --compile and --cuda-graphs), one on-device training run, and m10's
# benchmark (its table and plot, with the machine's names).
#
#   bash benchmarks/gpu_session.sh [OUT]        # results under OUT (default gpu-session/)
#
# On a machine that has torch with CUDA but not gymnasium (nothing can be downloaded
# there), bring gymnasium's wheels in .whl/ first, fetched on a machine with PyPI:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --implementation cp --platform any -d .whl gymnasium==1.4.0 farama-notifications==0.0.6
#
# They are installed into the interpreter's own site-packages, where the grading worker
# (started with ``python -I``, which ignores PYTHONPATH) finds them too.
set -u
OUT=${1:-${OUT:-gpu-session}}
mkdir -p "$OUT"
PY=${PYTHON:-python3}
export PYTHONUNBUFFERED=1
log() { echo; echo "=== $*"; }

if ! "$PY" -c "import gymnasium" 2>/dev/null && ls .whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-cache-dir .whl/*.whl || exit 1
fi
"$PY" - <<'EOF' || exit 1
import sys, torch, gymnasium
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, gymnasium {gymnasium.__version__}")
if not torch.cuda.is_available():
    sys.exit("no CUDA device: nothing here needs running")
print("device:", torch.cuda.get_device_name(0))
EOF

log "tests that need CUDA"
timeout 150 "$PY" -m pytest -q -rs -p no:cacheprovider \
    tests/test_device_checks.py tests/test_m10_batched_envs.py \
    tests/test_m10_device_training.py tests/test_m10_benchmark.py 2>&1 | tee "$OUT/tests.txt"

log "compiled and CUDA-graph training on the GPU"
timeout 100 "$PY" -m pytest -q -rs -p no:cacheprovider \
    "tests/test_m10_compile_training.py::test_on_cuda_compiled_and_cuda_graph_training_solve_cartpole" \
    2>&1 | tee "$OUT/tests_compile.txt"

log "CartPole-v1 trained on the GPU"
timeout 45 "$PY" -m course.cli train CartPole-v1 --env-backend torch --device cuda \
    --impl solutions --seed 1 --out "$OUT/runs" --summary "$OUT/cartpole_cuda.json" \
    2>&1 | tail -5

# The benchmark in two parts, each with its own time limit, so that one running long does
# not take the other's figures with it; the last step puts them in one table and plot.
log "m10's benchmark: raw steps per second"
timeout 80 "$PY" benchmarks/gpu.py --compile --no-training --out "$OUT/gpu_raw.json" \
    --table "$OUT/gpu_raw.md" --plot "$OUT/m10_benchmark.png" 2>&1 | tail -15

log "m10's benchmark: training"
timeout 180 "$PY" benchmarks/gpu.py --compile --no-raw --no-nproc --seeds 2 --only gymnasium,cuda \
    --out "$OUT/gpu_training.json" --table "$OUT/gpu_training.md" 2>&1 | tail -25

"$PY" benchmarks/gpu.py --merge "$OUT/gpu_raw.json" "$OUT/gpu_training.json" \
    --out "$OUT/gpu.json" --table "$OUT/gpu_benchmark.md" --plot "$OUT/m10_benchmark.png" \
    && cat "$OUT/gpu_benchmark.md"
