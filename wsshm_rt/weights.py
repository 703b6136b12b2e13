"""The weights format: safetensors with metadata (architecture, normalisation, version). Never pickle.
The bundled ONNX file is read as weights too (``onnx_weights``): one file per bundled model.

The header is parsed here in plain Python, so a wrong file is refused before torch is even imported.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from .errors import WsshmError, check_int
from .model_checks import MAX_SHORT_SIDE, MIN_SHORT_SIDE, check_metadata, check_safetensors_layout
from .model_checks import parse_short_side, parse_triple

FORMAT_KEY = "wsshm_rt.format"
FORMAT_VERSION = "1"
WEIGHTS_SUFFIX = ".safetensors"


def resolve_weights_path(path) -> Path:
    """Accept ``x.safetensors``, ``x`` (suffix implied), or a run folder holding ``model.safetensors``."""
    p = Path(path)
    candidates = [p, p.with_name(p.name + WEIGHTS_SUFFIX), p / f"model{WEIGHTS_SUFFIX}", p / f"last{WEIGHTS_SUFFIX}"]
    for c in candidates:
        if c.is_file():
            return c
    if p.is_dir():
        raise WsshmError(f"{p} is a folder with no weights in it (looked for {candidates[2].name} and "
                         f"{candidates[3].name}); pass a weights file or a run folder that has finished a save")
    raise WsshmError(f"{p} does not exist (looked for {', '.join(str(c) for c in candidates)})")


def sniff_pickle(head: bytes) -> bool:
    """True for torch.save zip archives and raw pickles, which we refuse to load. ``head``: the file's first 9 bytes.

    A raw pickle starts with PROTO (0x80) and a protocol number 2-5. A safetensors file starts with its header's
    length (8 bytes, little-endian) and then '{'; that length's first byte is 0x80 for one file in 256 (the round-9 +
    10 model's header is 0x4980 bytes), so the '{' decides first.
    """
    if head.startswith(b"PK\x03\x04"):
        return True
    if head[8:9] == b"{":
        return False
    return head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")


def read_metadata(path) -> dict[str, str]:
    """Return the ``__metadata__`` of a wsshm-rt safetensors file, validating the file on the way.

    An ``.onnx`` file's metadata is read from its ``metadata_props`` (needs onnx, the `train` extra)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        from .onnx_weights import read_onnx_metadata

        return read_onnx_metadata(path)
    with open(path, "rb") as f:
        head = f.read(9)
        if sniff_pickle(head):
            raise WsshmError(
                f"{path} is a pickle (torch.save) file; wsshm-rt never unpickles weights, re-save them as safetensors")
        if len(head) < 9:
            raise WsshmError(f"{path} is not a safetensors weights file (too short)")
        (n,) = struct.unpack("<Q", head[:8])
        f.seek(8)
        if n > 100_000_000 or n > path.stat().st_size:
            raise WsshmError(f"{path} is not a safetensors weights file")
        try:
            header = json.loads(f.read(n))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise WsshmError(f"{path} is not a safetensors weights file") from None
    check_safetensors_layout(header, path, path.stat().st_size - 8 - n)
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict) or meta.get(FORMAT_KEY) is None:
        raise WsshmError(f"{path} is a safetensors file but not a wsshm-rt model (no '{FORMAT_KEY}' metadata)")
    check_model_metadata(meta, path)
    return meta


def check_model_metadata(meta: dict, path) -> None:
    """Refuse, naming ``path``, metadata whose values cannot be used (short_side, mean, std, split)."""
    from .preprocess import IMAGENET_MEAN, IMAGENET_STD

    check_metadata(meta, path, DEFAULT_SHORT_SIDE, (IMAGENET_MEAN, IMAGENET_STD))


def make_metadata(architecture: str, mean, std, **extra) -> dict[str, str]:
    from . import __version__

    meta = {FORMAT_KEY: FORMAT_VERSION, "architecture": architecture, "mean": json.dumps(list(mean)),
            "std": json.dumps(list(std)), "wsshm_rt_version": __version__}
    meta.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()})
    return meta


def normalisation(meta: dict[str, str]) -> tuple[tuple[float, ...], tuple[float, ...]]:
    from .preprocess import IMAGENET_MEAN, IMAGENET_STD

    return parse_triple(meta, "mean", IMAGENET_MEAN), parse_triple(meta, "std", IMAGENET_STD, positive=True)


DEFAULT_SHORT_SIDE = 512  # the paper's test-time shorter side, for a model whose metadata recommends none


def recommended_short_side(meta: dict[str, str]) -> int:
    """The inference shorter side a model's metadata recommends (``short_side``), else the paper's 512."""
    return parse_short_side(meta, DEFAULT_SHORT_SIDE)


def check_short_side(value: int, name: str = "short_side") -> int:
    return check_int(name, value, MIN_SHORT_SIDE, MAX_SHORT_SIDE)


def save_weights(state_dict, path, metadata: dict[str, str]) -> Path:
    """Write a torch state dict as safetensors, atomically (temporary file + rename)."""
    from .files import make_folder, write_atomic

    st = _safetensors_torch()
    path = Path(path)
    make_folder(path.parent)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    # Serialised in memory (a failed write is an OSError), with the header in one order: the same weights and
    # metadata give the same bytes (safetensors writes the metadata in hash order, which changes every process).
    write_atomic(path, canonical_header(st.save(tensors, metadata=metadata)))
    return path


def canonical_header(blob: bytes) -> bytes:
    """A safetensors file's bytes with its JSON header's keys sorted (same length, padded with spaces as the format
    pads it); the tensor data is untouched."""
    n = int.from_bytes(blob[:8], "little")
    header = json.dumps(json.loads(blob[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    if len(header) > n:  # not expected (the writer's JSON is as compact); keep what it wrote
        return blob
    return blob[:8] + header.ljust(n, b" ") + blob[8 + n:]


def load_weights(path):
    """Return (state_dict, metadata) of a wsshm-rt safetensors file, or of an ONNX file written with BatchNorm kept
    (the bundled model: ``onnx_weights``), as torch tensors on CPU."""
    path = resolve_weights_path(path)
    if path.suffix.lower() == ".onnx":
        from .onnx_weights import load_onnx_weights

        return load_onnx_weights(path)
    meta = read_metadata(path)
    st = _safetensors_torch()
    try:
        return st.load_file(str(path), device="cpu"), meta
    except Exception as exc:  # noqa: BLE001 - SafetensorError and kin: the layout passed, the data did not
        raise WsshmError(f"{path} is not a readable safetensors file ({str(exc).splitlines()[0][:160]})") from None


def _safetensors_torch():
    from .errors import require

    require("torch", "train")
    return require("safetensors.torch", "train", "safetensors")
