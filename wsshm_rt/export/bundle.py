"""Make the model files that ship inside the package (the default for ``Matter()`` and the CLI).

    python -m wsshm_rt.export.bundle runs/student/best --short-side 320 --note "..."

writes ``wsshm_rt/assets/wsshm-r18-0.5.onnx`` (for inference: computes in fp32, weights stored in fp16) and
``wsshm-r18-0.5.safetensors`` (weights stored in fp16, for fine-tuning: ``--init``/``--teacher`` load them into
fp32 models). Both files hold the same fp16-rounded weights, the ones the model card's figures were measured on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..matter import ASSETS, DEFAULT_MODEL


def bundle(weights, out_dir=ASSETS, short_side: int | None = None, **extra) -> tuple[Path, Path]:
    from ..models import create_model
    from ..weights import load_weights, save_weights
    from .onnx import export_onnx

    state, meta = load_weights(weights)
    meta = dict(meta, trained="true", **{k: str(v) for k, v in extra.items()})
    if short_side:
        meta["short_side"] = str(short_side)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    model = create_model(meta["architecture"])
    model.load_state_dict(half)  # fp32 model, fp16-rounded weights: what the safetensors file gives back
    stem = Path(DEFAULT_MODEL).stem
    onnx_path = export_onnx(model, Path(out_dir) / f"{stem}.onnx", meta, fp16_weights=True)
    st_path = save_weights(half, Path(out_dir) / f"{stem}.safetensors", meta)
    return onnx_path, st_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights")
    ap.add_argument("--short-side", type=int, default=None, help="Recommended inference short side.")
    ap.add_argument("--note", default="", help="A line for the metadata (e.g. the recipe).")
    ap.add_argument("--out-dir", default=str(ASSETS))
    args = ap.parse_args()
    paths = bundle(args.weights, args.out_dir, args.short_side, **({"note": args.note} if args.note else {}))
    for p in paths:
        print(f"wrote {p} ({p.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
