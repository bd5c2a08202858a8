#!/bin/sh
# Reproduces the shipped demo weights of hyperprior-msssim, qualities 1-8
# (jpegai_eval/codecs/weights/demo/): one base model at quality 6's lambda, then a
# fine-tune per quality from it. Every step resumes when rerun (the .train-state.pt files).
#
#   apt-get install plasma-workspace-wallpapers     # the photographs (never committed)
#   sh benchmarks/train_demo_codec.sh WORKDIR [PARALLEL]
#
# PARALLEL (default 1): fine-tunes run at once, one torch thread each.
set -eu
WORK=${1:?usage: train_demo_codec.sh WORKDIR [PARALLEL]}
PARALLEL=${2:-1}
BASE_STEPS=${BASE_STEPS:-6000}
TUNE_STEPS=${TUNE_STEPS:-800}
JE=${JPEGAI_EVAL:-jpegai-eval}
PY=${PYTHON:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$WORK"
export OMP_NUM_THREADS=1

# Data: demo textures of another seed than the demo dataset's (seed 0), 48 per class
# (its train split: 736 images), and 8 of the 12 wallpaper photographs (640 px wide).
[ -d "$WORK/textures-seed1" ] || $JE data demo "$WORK/textures-seed1" --per-class 48 --seed 1
[ -d "$WORK/photos" ] || $PY "$HERE/demo_photos.py" "$WORK/photos"

COMMON="--codec hyperprior-msssim --data $WORK/textures-seed1 --data $WORK/photos/train \
  --N 64 --M 96 --patch 128 --batch 8 --seed 0 --checkpoint-every 100 --half --no-progress"

$JE codec train $COMMON --quality 6 --out "$WORK/base-q6.pt" --steps "$BASE_STEPS" --lr 3e-4

# Fine-tunes: 800 steps for q1-q5; the high-rate end learns slowest, so q6, q7 and q8
# get 1400, 1800 and 2400 (they were run to 800 first, then resumed to these). The
# shipped q8 differs: its continuation diverged, see MODEL_CARD.md for its command.
for q in 1 4 8 2 3 5 6 7; do  # the paper's three first
  case $q in 6) steps=1400 ;; 7) steps=1800 ;; 8) steps=2400 ;; *) steps=$TUNE_STEPS ;; esac
  echo "$q $steps"
done | xargs -P "$PARALLEL" -L 1 sh -c '$0 codec train '"$COMMON"' --quality $1 \
  --init "'"$WORK"'/base-q6.pt" --out "'"$WORK"'/hyperprior-msssim-q$1.pt" --steps $2 --lr 2e-4' "$JE"

$PY "$HERE/demo_manifest.py" "$WORK" 1 2 3 4 5 6 7 8
