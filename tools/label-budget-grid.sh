#!/usr/bin/env bash
# Paper Figure 9 in kind: segmentation labels {0, 250, all} x matte labels {0, 50, all}, at the scale a 2-core
# CPU allows (minutes per stage, not the paper's 230K steps). Every cell trains r18-0.5 from random init:
#   seg S, matte 0:  the seg-only pre-trained model on S photos            -> grid/pre-S
#   seg 0, matte M:  a teacher trained from random init on M composites   -> grid/teacher-0-M
#   seg S, matte M:  pre-S fine-tuned on M composites (teacher-S-M), then an MLB student on the S photos
#                    with the same M composites mixed in (--matte-mix 0.5)  -> grid/student-S-M
#   seg 0, matte 0:  no labels, no model.
# Budgets are seeded subsets of the training side; the held-out split is the same for every cell. Every stage
# resumes if interrupted. SEED=1 repeats the grid with another init and sampling on the same data (--split-seed 0).
# Then: python tools/label_budget_grid.py --runs "$RUNS" --data "$DATA"
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs/grid}
SEGS=${SEGS:-"250 all"}
MATTES=${MATTES:-"50 all"}
COMMON=(--model r18-0.5 --batch-size 8 --crop-min 160 --crop-max 224 --workers 1 --val-every 0 --save-every 100
        --val-short-side 320 --val-limit "${VAL_LIMIT:-100}" --log-every 10 --no-progress --seed "${SEED:-0}" --split-seed 0)
SEG=(--seg "$DATA/portrait-seg/train")
MATTE=(--matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train")
limit() { [ "$1" = all ] && echo 0 || echo "$1"; }  # the trainer's "0" means every pair

for s in $SEGS; do
  wsshm-rt train pretrain "${SEG[@]}" --seg-limit "$(limit "$s")" --out "$RUNS/pre-$s" \
    --iters "${PRE_ITERS:-600}" --lr 7e-4 --min-lr 1e-5 "${COMMON[@]}"
done
for m in $MATTES; do
  wsshm-rt train teacher "${MATTE[@]}" --matte-limit "$(limit "$m")" --out "$RUNS/teacher-0-$m" \
    --iters "$(( ${PRE_ITERS:-600} + ${TEACHER_ITERS:-300} ))" --lr 7e-4 --min-lr 1e-5 "${COMMON[@]}"
  for s in $SEGS; do
    wsshm-rt train teacher "${MATTE[@]}" --matte-limit "$(limit "$m")" --init "$RUNS/pre-$s/last" \
      --out "$RUNS/teacher-$s-$m" --iters "${TEACHER_ITERS:-300}" --lr 2e-4 --min-lr 1e-5 "${COMMON[@]}"
    wsshm-rt train student "${SEG[@]}" "${MATTE[@]}" --seg-limit "$(limit "$s")" --matte-limit "$(limit "$m")" \
      --teacher "$RUNS/teacher-$s-$m/last" --out "$RUNS/student-$s-$m" --iters "${STUDENT_ITERS:-400}" \
      --lr 2e-4 --min-lr 1e-5 --band-px 16 --matte-mix 0.5 "${COMMON[@]}"
  done
done
