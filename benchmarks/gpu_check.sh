#!/usr/bin/env bash
# The device check of issue 26: everything a first GPU session needs to learn, in one
# run of at most 8 minutes on one GPU.
#
#   benchmarks/gpu_check.sh [--device cuda|cpu] [--out DIR]
#
# Sections (each under its own time limit; a failed or timed-out section is reported
# and the next one runs):
#   1. the GPU-only tests (in the test files with a `not torch.cuda.is_available()`
#      skip, those named cuda or gpu)
#   2. jpegai-eval bench --device cuda --json
#   3. the training-throughput probe: ResNet-50 at 224 and cResNet-39 at 28, batch 32
#      and 256, fp32 (--deterministic) vs bf16 (the fast mode), images/s
#   4. ONNX Runtime CUDA parity (IO binding) and inference images/s
#   5. a paper-preset study on a MINC-shaped synthetic subset (100 images per class),
#      then the projected wall-clock of the full paper study on 1 GPU and on 8 (--ddp)
# The probes live in benchmarks/gpu_probe.py. `--device cpu` is a dry run on tiny sizes
# (about a minute; tests/test_gpu_check.py runs it): numbers that mean nothing.
# Python: $PYTHON, else .venv/bin/python, else python3. Outputs: DIR/*.json, DIR/*.log.
set -u

DEVICE=cuda
OUT=gpu-check
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "gpu_check: unknown argument $1 (use --device cuda|cpu, --out DIR)" >&2; exit 2 ;;
    esac
done
case "$DEVICE" in cuda|cpu) ;; *) echo "gpu_check: --device is cuda or cpu, not $DEVICE" >&2; exit 2 ;; esac

HERE="$(cd "$(dirname "$0")/.." && pwd)"
cd "$HERE"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
mkdir -p "$OUT"
export PYTHONPATH="$HERE${PYTHONPATH:+:$PYTHONPATH}"
START=$(date +%s)
FAILED=""

if [ "$DEVICE" = cpu ]; then
    echo "gpu_check: dry run on the CPU (tiny sizes; the numbers mean nothing)"
    LIMIT_TESTS=60 LIMIT_BENCH=120 LIMIT_TRAIN=120 LIMIT_ONNX=60 LIMIT_STUDY=240
    BENCH_ARGS="--images 1 --size 64 --reps 1 --warmup 0 --batch 1 --batch-reps 1 --only inference"
else
    # 8 minutes in all: 60 + 100 + 70 + 40 + 200 s, plus start-up.
    LIMIT_TESTS=60 LIMIT_BENCH=100 LIMIT_TRAIN=70 LIMIT_ONNX=40 LIMIT_STUDY=200
    BENCH_ARGS="--reps 5 --batch 1,32,256 --batch-reps 3 --encode-images 16 --workers 1,4"
fi

section() {  # section NAME LIMIT COMMAND...: run it, say how it ended
    local name="$1" limit="$2"; shift 2
    local t0=$(date +%s)
    echo "== $name (limit ${limit} s)"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.log" \
        | grep -E '^(train probe|onnx parity|onnx inference|study|projection|projected)|pixel / compressed|passed|failed|skipped|Error'
    local rc=${PIPESTATUS[0]}
    local status=ok
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then status="timed out"; elif [ "$rc" != 0 ]; then status="failed (exit $rc)"; fi
    [ "$status" = ok ] || FAILED="$FAILED $name"
    echo "section $name: $status in $(( $(date +%s) - t0 )) s (log: $OUT/$name.log)"
}

"$PY" - <<'EOF' 2>&1 | sed 's/^/device: /'
import platform
import torch
import onnxruntime as ort
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA GPU"
print(f"{gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}); onnxruntime "
      f"{ort.__version__} {ort.get_available_providers()}; {platform.node()}")
EOF
echo "device: load $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo unknown)"

GPU_TESTS=$(grep -l "skipif(not torch.cuda.is_available()" tests/*.py | tr '\n' ' ')
echo "gpu tests: $GPU_TESTS"
if [ "$DEVICE" = cuda ]; then
    # shellcheck disable=SC2086
    section gpu-tests "$LIMIT_TESTS" "$PY" -m pytest -q -rs -p no:cacheprovider \
        -k "cuda or gpu" $GPU_TESTS
else
    echo "gpu tests: not run in a dry run (they skip without CUDA)"
fi
# shellcheck disable=SC2086
section bench "$LIMIT_BENCH" "$PY" -m jpegai_eval bench --device "$DEVICE" --quiet \
    --json "$OUT/bench.json" $BENCH_ARGS
section train-probe "$LIMIT_TRAIN" "$PY" benchmarks/gpu_probe.py train --device "$DEVICE" \
    --json "$OUT/train.json"
section onnx-probe "$LIMIT_ONNX" "$PY" benchmarks/gpu_probe.py onnx --device "$DEVICE" \
    --out "$OUT/onnx" --json "$OUT/onnx.json"
# GPU_CHECK_PER_CLASS: the subset's images per class (default 100; 3 in a dry run).
section study "$LIMIT_STUDY" "$PY" benchmarks/gpu_probe.py study --device "$DEVICE" \
    --out "$OUT/study" --json "$OUT/study.json" ${GPU_CHECK_PER_CLASS:+--per-class "$GPU_CHECK_PER_CLASS"}

echo "gpu_check: done in $(( $(date +%s) - START )) s; failed:${FAILED:- none}"
[ -z "$FAILED" ]
