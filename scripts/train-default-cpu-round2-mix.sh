#!/usr/bin/env bash
# Round 2, last stage, as the bundled model was made: the MLB student of train-default-cpu-round2.sh was stopped at
# step 1300 (its composite scores were getting worse: it sees natural photos only) and continued with half of its
# samples composites of the matte set with their true alpha (--matte-mix 0.5, our choice, not the paper's).
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs/r2}
wsshm-rt train student --seg "$DATA/portrait-seg/train" --teacher "$RUNS/teacher/last" --model r18-0.5 \
  --init "${INIT:-$RUNS/student-mlb-1300.safetensors}" \
  --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" --out "$RUNS/student-mix" \
  --matte-mix 0.5 --iters "${MIX_ITERS:-1700}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 320 \
  --band-px 16 --val-every 500 --save-every 100 --workers 1 --val-short-side 320 --val-limit 100 --log-every 10 \
  --no-progress --seed 0
