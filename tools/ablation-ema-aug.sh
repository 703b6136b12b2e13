#!/usr/bin/env bash
# Paper Table 5 in kind, at the scale this CPU allows: four MLB students from the same start (the round-2 MLB
# student at step 1300) and the same teacher, ABL_ITERS steps each, natural photos only (no --matte-mix):
# EMA teacher on/off x weak-strong augmentation on/off (off: the student sees the teacher's weak view).
# SEED=1 ABL_OUT=runs/r2/ablation-s1 repeats it with another seed on the same data (--split-seed 0).
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs/r2}
NOAUG=(--jitter 0 --blur-p 0 --gray-p 0 --jpeg-p 0)
run() {  # name, extra flags...
  local name=$1; shift
  wsshm-rt train student --seg "$DATA/portrait-seg/train" --teacher "$RUNS/teacher/last" --model r18-0.5 \
    --init "$RUNS/student-mlb-1300.safetensors" \
    --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" --out "${ABL_OUT:-$RUNS/ablation}/$name" \
    --iters "${ABL_ITERS:-200}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 320 --band-px 16 \
    --val-every 0 --save-every 100 --workers 1 --val-short-side 320 --val-limit 100 --log-every 10 --no-progress \
    --seed "${SEED:-0}" --split-seed 0 "$@"
}
# ONLY=ema-strong,noema-weak runs a subset (e.g. two at once, one thread each).
want() { [ -z "${ONLY:-}" ] || [[ ",$ONLY," == *",$1,"* ]]; }
if want ema-strong; then run ema-strong; fi
if want noema-strong; then run noema-strong --no-ema; fi
if want ema-weak; then run ema-weak "${NOAUG[@]}"; fi
if want noema-weak; then run noema-weak --no-ema "${NOAUG[@]}"; fi
