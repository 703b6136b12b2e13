"""The WSSHM trainer (the paper's method): pretrain -> teacher -> student with Matte Label Blending.

    wsshm-rt train pretrain --seg data/seg --model r101 --out runs/pre
    wsshm-rt train teacher  --matte data/matte --backgrounds data/bg --init runs/pre/last --out runs/teacher
    wsshm-rt train student  --seg data/seg --teacher runs/teacher/last --model r18-0.5 --out runs/student
    torchrun --nproc_per_node=4 -m wsshm_rt train student ...       # same command, N GPUs (DDP)
    wsshm-rt eval --weights runs/student/best --data data/val-matte --backgrounds data/bg

One file per job: config (flat typed defaults), data + augment + sampler (inputs), losses + blend + ema (maths),
stages (what differs per stage), loop (the one loop), distributed, checkpoint, evaluate, records.
Importing this package never imports torch; the modules that need it import it themselves.
"""
