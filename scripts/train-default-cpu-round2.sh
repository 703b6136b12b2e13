#!/usr/bin/env bash
# Round 2 of the bundled default model (docs/model-card.md): a second teacher -> MLB student round, started from
# the round-1 model (scripts/train-default-cpu.sh), with bf16 autocast + channels_last on the CPU (2.4x faster
# steps than round 1 on the same 2-core machine). Every stage resumes from its run folder if interrupted.
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs/r2}
INIT=${INIT:-wsshm_rt/assets/wsshm-r18-0.5.safetensors}   # the round-1 student
COMMON=(--workers 1 --val-short-side 320 --val-limit 100 --log-every 10 --no-progress --seed 0)

# 1. Teacher: the round-1 student fine-tuned on composites of the matte set (L1 + Laplacian + boundary BCE).
wsshm-rt train teacher --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" \
  --init "$INIT" --out "$RUNS/teacher" \
  --iters "${TEACHER_ITERS:-1000}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 320 \
  --val-every 250 --save-every 100 "${COMMON[@]}"

# 2. MLB student on the natural photos, EMA teacher (m = 0.999); teacher boundaries kept within 16 px of the
#    mask edge (--band-px: the teacher's false boundaries in the background are not passed on).
wsshm-rt train student --seg "$DATA/portrait-seg/train" --teacher "$RUNS/teacher/last" --model r18-0.5 \
  --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" --out "$RUNS/student" \
  --iters "${STUDENT_ITERS:-3500}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 320 \
  --band-px "${BAND_PX:-16}" --val-every 500 --save-every 100 "${COMMON[@]}"
