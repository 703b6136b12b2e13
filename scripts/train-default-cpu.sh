#!/usr/bin/env bash
# The recipe of the bundled default model (docs/model-card.md), exactly as it was run on a 2-core CPU.
# Data: ../shared/data-small (the project's training data at shorter side 320; never committed).
# Every stage resumes from its run folder if interrupted: just run this script again.
set -euo pipefail
DATA=${DATA:-../shared/data-small}
RUNS=${RUNS:-runs}
COMMON=(--workers 1 --val-short-side 320 --val-limit 100 --log-every 10 --no-progress --seed 0)

# 1. Pre-train r18-0.5 from random init on the segmentation set (MSE). lr raised from the paper's 1e-4
#    because there are no ImageNet weights here; small crops first (a cheap curriculum on CPU).
wsshm-rt train pretrain --seg "$DATA/portrait-seg/train" --model r18-0.5 --out "$RUNS/pre" \
  --iters "${PRE_ITERS:-2000}" --batch-size 8 --lr 7e-4 --min-lr 1e-5 --crop-min 160 --crop-max 224 \
  --val-every 250 --save-every 100 "${COMMON[@]}"

# 2. Teacher: the same architecture (so the student stage can EMA-update it), fine-tuned on composites.
wsshm-rt train teacher --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" \
  --init "$RUNS/pre/last" --out "$RUNS/teacher" \
  --iters "${TEACHER_ITERS:-600}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 288 \
  --val-every 200 --save-every 100 "${COMMON[@]}"

# 3. Student with Matte Label Blending on the natural photos; EMA teacher (m = 0.999).
wsshm-rt train student --seg "$DATA/portrait-seg/train" --teacher "$RUNS/teacher/last" --model r18-0.5 \
  --matte "$DATA/portrait-matte/train" --backgrounds "$DATA/backgrounds/train" --out "$RUNS/student" \
  --iters "${STUDENT_ITERS:-1500}" --batch-size 8 --lr 2e-4 --min-lr 1e-5 --crop-min 224 --crop-max 288 \
  --val-every 250 --save-every 100 "${COMMON[@]}"

# 4. Ship it: ONNX (fp32) + safetensors (fp16) into wsshm_rt/assets/.
python -m wsshm_rt.export.bundle "$RUNS/student/best" --short-side 320 \
  --note "scripts/train-default-cpu.sh on data-small; r18-0.5 from random init"
