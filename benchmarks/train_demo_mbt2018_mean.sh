#!/bin/sh
# Reproduces the shipped demo weights of mbt2018-mean-msssim, qualities 1-8
# (jpegai_eval/codecs/weights/demo-mbt2018-mean/): per quality, the mean-scale
# hyperprior starts from the shipped hyperprior-msssim demo weights of the same quality
# (`--transfer`: g_a, g_s, h_a and the factorized prior; its h_s is new) and is trained
# at that quality's lambda. Every step resumes when rerun (the .train-state.pt files).
#
#   apt-get install plasma-workspace-wallpapers     # the photographs (never committed)
#   sh benchmarks/train_demo_mbt2018_mean.sh WORKDIR [PARALLEL]
#
# PARALLEL (default 1): qualities trained at once, one torch thread each.
set -eu
WORK=${1:?usage: train_demo_mbt2018_mean.sh WORKDIR [PARALLEL]}
PARALLEL=${2:-1}
STEPS=${STEPS:-1000}
JE=${JPEGAI_EVAL:-jpegai-eval}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
DEMO=$(cd "$HERE/../jpegai_eval/codecs/weights/demo" && pwd)
mkdir -p "$WORK/ship"
export OMP_NUM_THREADS=1

# The hyperprior's training data (benchmarks/train_demo_codec.sh).
[ -d "$WORK/textures-seed1" ] || $JE data demo "$WORK/textures-seed1" --per-class 48 --seed 1
[ -d "$WORK/photos" ] || $PY "$HERE/demo_photos.py" "$WORK/photos"

COMMON="--codec mbt2018-mean-msssim --data $WORK/textures-seed1 --data $WORK/photos/train \
  --N 64 --M 96 --patch 128 --batch 8 --seed 0 --checkpoint-every 100 --half --no-progress"

for q in 1 4 8 2 3 5 6 7; do echo "$q"; done | xargs -P "$PARALLEL" -L 1 sh -c '$0 codec train \
  '"$COMMON"' --quality $1 --transfer "'"$DEMO"'/hyperprior-msssim-q$1.pt" \
  --out "'"$WORK"'/ship/mbt2018-mean-msssim-q$1.pt" --steps '"$STEPS"' --lr 1e-4' "$JE"
