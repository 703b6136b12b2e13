"""The file system's side of reading and writing: image folders listed, output folders checked and created, files
written atomically (a temporary file and a rename), every failure one sentence naming the path."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from .errors import WriteError, WsshmError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".heic", ".heif", ".avif", ".gif")


def list_images(spec) -> list[Path]:
    """Expand a file, folder or glob pattern into a sorted list of image paths."""
    import glob

    p = Path(spec)
    if p.is_dir():
        # Not only regular files: a pipe or a dangling link named like an image is reported and skipped by the
        # reader, not passed over without a word.
        try:
            files = sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and not q.is_dir())
        except OSError as exc:
            raise WsshmError(f"cannot list the folder {p} ({exc.strerror or exc})") from None
        if not files:
            raise WsshmError(f"{p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if p.exists():
        return [p]
    if any(ch in str(spec) for ch in "*?["):
        files = sorted(Path(f) for f in glob.glob(str(spec), recursive=True)
                       if Path(f).suffix.lower() in IMAGE_SUFFIXES and not Path(f).is_dir())
        if not files:
            raise WsshmError(f"no images match {spec}")
        return files
    raise WsshmError(f"{p} does not exist")


def ensure_writable(folder: Path) -> None:
    """Create ``folder`` and prove we can write there, before any work is done."""
    if folder.exists() and not folder.is_dir():
        raise WsshmError(f"cannot write to output folder {folder}: it is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".wsshm-probe"):
            pass
    except OSError as exc:
        raise WsshmError(f"cannot write to output folder {folder} ({exc.strerror or exc})") from None


def make_folder(folder: Path) -> Path:
    """``folder`` and its parents, created if missing; a failure is a WriteError naming the folder and the reason."""
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(f"cannot create folder {folder} ({exc.strerror or exc})") from None
    return Path(folder)


def write_atomic(path: Path, data: bytes) -> None:
    """Write bytes to ``path`` through a temporary file and a rename: never a half-written file.

    A failed write (full disk, vanished folder, no permission) raises a WriteError naming the file and the reason;
    the file that was there before, if any, is left as it was, and the temporary file is removed.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        raise WriteError(f"cannot write {path} ({exc.strerror or exc})", exc.errno) from None
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in blocks (a model file: which weights made labels or an engine)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
