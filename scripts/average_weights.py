"""Average the weights of models of one architecture that share their lineage (a "model soup", Wortsman et al.,
ICML 2022): e.g. two rounds of the default model, the later fine-tuned from the earlier.

    python scripts/average_weights.py runs/r6/student/last runs/r7/student/last --out runs/soup/r67

Float tensors (weights and BatchNorm statistics) are averaged in fp32 and stored in the last model's dtype;
integer ones (BatchNorm step counters) and the metadata are the last model's. Reads safetensors only.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from wsshm_rt.weights import resolve_weights_path


def average(paths: list[Path]) -> tuple[dict, dict]:
    states = [load_file(str(p)) for p in paths]
    last = states[-1]
    if any(s.keys() != last.keys() or any(s[k].shape != last[k].shape for k in last) for s in states):
        raise SystemExit("these models do not share one architecture: their tensors differ in names or shapes")
    out = {k: sum(s[k].float() for s in states).div(len(states)).to(last[k].dtype) if last[k].is_floating_point()
           else last[k] for k in last}
    with safe_open(str(paths[-1]), "pt") as f:
        meta = dict(f.metadata() or {})
    return out, meta


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+", help="Two or more weights files (runs/x/last or x.safetensors).")
    ap.add_argument("--out", type=Path, required=True, help="Where to write the average (.safetensors added).")
    args = ap.parse_args()
    if len(args.weights) < 2:
        raise SystemExit("give two or more weights files to average")
    paths = [resolve_weights_path(w) for w in args.weights]
    out, meta = average(paths)
    meta["note"] = "weights averaged from " + ", ".join(str(w) for w in args.weights)
    dest = args.out.with_suffix(".safetensors")
    dest.parent.mkdir(parents=True, exist_ok=True)
    save_file(out, str(dest), metadata=meta)
    print(f"wrote {dest} (the mean of {len(paths)} models)")


if __name__ == "__main__":
    main()
