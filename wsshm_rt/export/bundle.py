"""Make the model file that ships inside the package (the default for ``Matter()`` and the CLI): one command, one file.

    python -m wsshm_rt.export.bundle runs/student/best --short-side 320 --note "..."

writes ``wsshm_rt/assets/wsshm-r18-0.5.onnx``: weights stored in fp16 (computed in fp32), BatchNorm kept as its own
nodes so that the same file's initializers are the weights for fine-tuning (``--init``/``--teacher``), the torch
engine, ``eval`` and ``export`` (``wsshm_rt.onnx_weights``); ONNX Runtime folds the BatchNorms when it loads the file.
The input may be a ``.safetensors`` file, a run folder's ``best``/``last``, or an earlier bundle (``.onnx``).
Earlier bundles stay in git history (docs/model-card.md: ``git show <commit>:wsshm_rt/assets/...``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import WsshmError
from ..matter import ASSETS, DEFAULT_MODEL


def bundle(weights, out_dir=ASSETS, short_side: int | None = None, **extra) -> Path:
    from ..models import create_model
    from ..weights import load_weights
    from .onnx import export_onnx

    state, meta = load_weights(weights)
    meta = dict(meta, trained="true", **{k: str(v) for k, v in extra.items()})
    if short_side:
        meta["short_side"] = str(short_side)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    model = create_model(meta["architecture"])
    model.load_state_dict(half)  # fp32 model, fp16-rounded weights: what the file's initializers give back
    return export_onnx(model, Path(out_dir) / DEFAULT_MODEL, meta, fp16_weights=True, keep_bn=True)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", help="runs/x/best, x.safetensors or an earlier bundle's .onnx.")
    ap.add_argument("--short-side", type=int, default=None, help="Recommended inference short side.")
    ap.add_argument("--note", default="", help="A line for the metadata (e.g. the recipe).")
    ap.add_argument("--out-dir", default=str(ASSETS),
                    help="Folder to write wsshm-r18-0.5.onnx into (default: the package's assets, replacing the "
                         "bundled model; give another folder to make a candidate without touching it).")
    args = ap.parse_args(argv)
    try:
        path = bundle(args.weights, args.out_dir, args.short_side, **({"note": args.note} if args.note else {}))
    except WsshmError as exc:  # a missing or wrong weights file: one sentence, no traceback
        raise SystemExit(f"bundle: {exc}") from None
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
