"""Average the weights of models of one architecture that share their lineage (a "model soup", Wortsman et al.,
ICML 2022): e.g. two rounds of the default model, the later fine-tuned from the earlier.

    python scripts/average_weights.py runs/r6/student/last runs/r7/student/last --out runs/soup/r67

Float tensors (weights and BatchNorm statistics) are averaged in fp32 and stored in the last model's dtype;
integer ones (BatchNorm step counters) and the metadata are the last model's. Reads and writes wsshm-rt
safetensors files (wsshm_rt.weights: never a pickle; the output is written atomically).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsshm_rt.errors import WsshmError
from wsshm_rt.weights import load_weights, save_weights


def average(weights: list[str]) -> tuple[dict, dict]:
    loaded = [load_weights(w) for w in weights]
    states = [state for state, _ in loaded]
    last = states[-1]
    if any(s.keys() != last.keys() or any(s[k].shape != last[k].shape for k in last) for s in states):
        raise SystemExit("these models do not share one architecture: their tensors differ in names or shapes")
    out = {k: sum(s[k].float() for s in states).div(len(states)).to(last[k].dtype) if last[k].is_floating_point()
           else last[k] for k in last}
    return out, dict(loaded[-1][1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("weights", nargs="+", help="Two or more weights files (runs/x/last or x.safetensors).")
    ap.add_argument("--out", type=Path, required=True, help="Where to write the average (.safetensors added).")
    args = ap.parse_args()
    if len(args.weights) < 2:
        raise SystemExit("give two or more weights files to average")
    try:
        out, meta = average(args.weights)
    except WsshmError as e:  # a missing or unreadable file: one sentence, no traceback
        raise SystemExit(f"average_weights: {e}") from None
    meta["note"] = "weights averaged from " + ", ".join(args.weights)
    dest = save_weights(out, args.out.with_suffix(".safetensors"), meta)
    print(f"wrote {dest} (the mean of {len(args.weights)} models)")


if __name__ == "__main__":
    main()
