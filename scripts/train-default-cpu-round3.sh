#!/usr/bin/env bash
# Rounds 3 to 6 of the bundled default model (docs/model-card.md). Each round starts from the model bundled before it
# (INIT): a teacher fine-tuned on composites from it, then the same weights continued as an MLB student with
# --matte-mix 0.5 against that teacher. One round of this script = one teacher + one student; re-run it with
# INIT=<last student> RUNS=<new folder> for another round. Every stage resumes from its run folder if interrupted.
# Training re-imports the package in its data-loader workers: editing an editable install while it runs crashes
# it. Run a frozen copy (git archive HEAD wsshm_rt scripts | tar -x -C /tmp/frozen) from inside that folder.
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs/r3}
INIT=${INIT:-runs/r2-bundled.safetensors}   # git show 2fe944d:wsshm_rt/assets/wsshm-r18-0.5.safetensors > ...
# Round 12 set CROP_MAX=416 VAL_SIDE=352 SEED=2 on the full-resolution data. SPLIT_SEED stays 0 in every round: the
# held-out 10% must be the same photos whatever the sampling seed (the trainer warns when --init was trained on
# another split).
COMMON=(--workers 1 --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max "${CROP_MAX:-320}"
        --val-short-side "${VAL_SIDE:-320}" --val-limit 100 --log-every 10 --no-progress --seed "${SEED:-0}"
        --split-seed 0 --save-every 100)
MATTE=(--matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train")

wsshm-rt train teacher "${MATTE[@]}" --init "$INIT" --out "$RUNS/teacher" --iters "${TEACHER_ITERS:-1500}" \
  --val-every "${TEACHER_VAL:-500}" "${COMMON[@]}"

wsshm-rt train student --seg "$DATA/portrait-seg/train" --teacher "$RUNS/teacher/last" --model r18-0.5 \
  --init "$INIT" "${MATTE[@]}" --out "$RUNS/student" --matte-mix "${MATTE_MIX:-0.5}" \
  --iters "${STUDENT_ITERS:-3200}" --band-px 16 --val-every "${STUDENT_VAL:-800}" "${COMMON[@]}"
