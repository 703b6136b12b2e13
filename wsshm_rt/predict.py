"""Batch prediction over files, folders and globs: what ``wsshm-rt predict`` runs.

A bad file in a folder is reported and skipped; every good file is still written (atomically).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import ModelError, WriteError, WsshmError, WsshmTypeError
from .files import ensure_writable, list_images
from .images import load_image, save_image

OUTPUT_KINDS = ("alpha", "rgba", "composite")
OUTPUT_SUFFIXES = tuple(f".{kind}.png" for kind in OUTPUT_KINDS)


@dataclass
class PredictOptions:
    out: Path
    background: str | None = None
    outputs: str = ""  # comma list of OUTPUT_KINDS; "" = alpha,rgba (+composite with a background)
    skip_existing: bool = False  # inputs whose every requested output is already in ``out`` are not matted again

    def __post_init__(self):
        if not isinstance(self.out, (str, os.PathLike)):
            raise WsshmTypeError(f"out must be a folder path (str or os.PathLike), not a {type(self.out).__name__}")
        self.out = Path(self.out)

    def kinds(self) -> list[str]:
        kinds = [k.strip() for k in self.outputs.split(",") if k.strip()]
        if not kinds:
            kinds = ["alpha", "rgba"] + (["composite"] if self.background else [])
        bad = [k for k in kinds if k not in OUTPUT_KINDS]
        if bad:
            raise WsshmError(f"unknown output {bad[0]!r}; choose from {', '.join(OUTPUT_KINDS)}")
        if "composite" in kinds and not self.background:
            raise WsshmError("the composite output needs --background (an image, a colour or 'blur')")
        return kinds


def expand_inputs(specs, out: Path | None = None) -> list[Path]:
    """The image files that ``specs`` (files, folders, globs) name, each once.

    A folder or a glob does not take this command's own results from ``out`` (``x.alpha.png``, ``x.rgba.png``,
    ``x.composite.png``): with ``-o`` the input folder, a second run would otherwise matte the first run's mattes.
    """
    own = out.resolve() if out is not None and out.is_dir() else None
    files: list[Path] = []
    for spec in specs:
        found = list_images(spec)
        if own is not None and not Path(spec).is_file():
            kept = [f for f in found if not (f.name.endswith(OUTPUT_SUFFIXES) and f.parent.resolve() == own)]
            if not kept:
                raise WsshmError(f"{spec} holds only results of an earlier run ({found[0].name}, ...), no photos")
            found = kept
        files.extend(found)
    return list(dict.fromkeys(files))


def output_stems(files: list[Path]) -> dict[Path, str]:
    """The name each input's outputs start with: its stem, unless another input would get the same name.

    Two inputs must never write the same output file: ``x.jpg`` beside ``x.png``, or ``a/IMG_1.jpg`` and
    ``b/IMG_1.jpg`` from a recursive glob or two folders, would otherwise overwrite each other's results. Inputs
    that share a stem (compared without case, as macOS and Windows file systems do) keep their extension
    (``x.jpg.alpha.png``), and where that is not enough, the folders that tell them apart (``a_IMG_1.jpg``). A
    name still taken (``x.jpg.png`` is ``x.jpg`` too) gets a counter.
    """
    groups: dict[str, list[Path]] = {}
    for f in files:
        groups.setdefault(f.stem.lower(), []).append(f)
    names: dict[Path, str] = {}
    for group in groups.values():
        if len(group) == 1:
            names[group[0]] = group[0].stem
        elif len({f.name.lower() for f in group}) == len(group):
            names.update((f, f.name) for f in group)
        else:
            parents = [f.resolve().parent.parts for f in group]
            common = 0
            while all(len(p) > common and p[common] == parents[0][common] for p in parents):
                common += 1
            for f, parts in zip(group, parents):
                names[f] = "_".join([*parts[common:], f.name])
    taken: set[str] = set()
    for f in files:  # in input order, so the first keeps its plain name
        name, n = names[f], 1
        while name.lower() in taken:
            n += 1
            name = f"{names[f]}-{n}"
        names[f] = name
        taken.add(name.lower())
    return names


def run_predict(inputs, opts: PredictOptions, progress: bool = True, **matter_kwargs) -> int:
    """Matte every input image and write the requested outputs. Returns the number of skipped files."""
    from .compose import parse_background
    from .matter import Matter

    kinds = opts.kinds()
    files = expand_inputs(inputs, opts.out)
    background = parse_background(opts.background) if opts.background else None
    created = not opts.out.exists()
    ensure_writable(opts.out)
    try:
        return _predict_all(files, opts, kinds, background, progress, Matter(matter_kwargs.pop("model", None),
                                                                              **matter_kwargs))
    except WsshmError:
        if created and opts.out.is_dir() and not any(opts.out.iterdir()):
            opts.out.rmdir()  # a run that wrote nothing leaves nothing behind
        raise


def _predict_all(files, opts: PredictOptions, kinds, background, progress: bool, matter) -> int:
    from tqdm import tqdm

    failed = 0
    # The bar is drawn on a terminal only: in a log or a pipe it would be noise around the lines that matter.
    show = progress and len(files) > 1 and sys.stderr.isatty()
    stems = {path: opts.out / stem for path, stem in output_stems(files).items()}
    todo = [f for f in files if not (opts.skip_existing and _outputs_exist(stems[f], kinds))]
    written = 0
    with tqdm(todo, unit="img", disable=not show or len(todo) < 2, dynamic_ncols=True) as bar:
        try:
            for path in bar:
                if _try_one(matter, path, stems[path], kinds, background, bar, len(files) == 1,
                            lambda: _progress(written, files, todo)):
                    written += 1
                else:
                    failed += 1
        except KeyboardInterrupt:
            bar.close()
            print(f"wsshm-rt: interrupted after {_progress(written, files, todo)}", file=sys.stderr)
            raise
    if todo and failed == len(files):  # with outputs already there (--skip-existing), some images were fine: exit 1
        raise WsshmError(f"none of the {len(todo)} images could be read")
    if progress:
        # Said once the work is done, so that an error stays the only line a failed run prints.
        done = f", {len(files) - len(todo)} already there" if len(todo) < len(files) else ""
        bar.write(f"wsshm-rt: {written} written to {opts.out}{done}, {failed} skipped ({matter.model_path.name}, "
                  f"{matter.info}, short side {matter.short_side})", file=sys.stderr)
    return failed


def _try_one(matter, path: Path, stem: Path, kinds, background, bar, single: bool, progress) -> bool:
    """Matte one file: True when written, False when skipped (and reported). A failure every later file would
    repeat (a full disk, a broken model) ends the run instead, saying how far it got (``progress()``)."""
    try:
        _predict_one(matter, path, stem, kinds, background)
        return True
    except (WriteError, ModelError) as exc:
        if single:
            raise
        if not getattr(exc, "per_file", False):
            raise type(exc)(f"{exc}; stopped after {progress()}") from None
        reason = exc
    except Exception as exc:  # noqa: BLE001 - any other failure is this file's: skip it, do the rest
        if single:
            raise as_error(exc, path) from None
        reason = as_error(exc, path)
    bar.write(f"wsshm-rt: skipped {path}: {reason}", file=sys.stderr)
    return False


log = logging.getLogger(__name__)


def report_skipped(path, exc: Exception, skipped: dict | None = None) -> WsshmError:
    """A file left out of a run that goes on (a calibration image, a frame, a pair to score): one warning line with
    ``as_error``'s sentence, which is returned and, given ``skipped``, recorded there (path -> reason)."""
    reason = as_error(exc, path)
    log.warning("wsshm-rt: warning: skipped %s: %s", path, reason)
    if skipped is not None:
        skipped[str(path)] = str(reason)
    return reason


def as_error(exc: Exception, path) -> WsshmError:
    """A file's failure as one sentence: a WsshmError as it is, anything else (a decoder's or the OS's own
    exception) named with its type, so a folder run reports it and goes on."""
    if isinstance(exc, WsshmError):
        return exc
    if isinstance(exc, MemoryError):
        return WsshmError(f"{path} needs more memory than is free")
    lines = str(exc).strip().splitlines() or [""]
    return WsshmError(f"{path} could not be processed ({type(exc).__name__}: {lines[0][:200]})")


def _progress(written: int, files: list, todo: list) -> str:
    """How far a stopped run got, and how to finish it without redoing the work."""
    before = len(files) - len(todo)
    return (f"{written + before} of {len(files)} images were written; run the same command with --skip-existing "
            "to finish the rest")


def _outputs_exist(stem: Path, kinds: list[str]) -> bool:
    # Every file is written atomically, so one that exists is whole.
    return all(Path(f"{stem}.{kind}.png").is_file() for kind in kinds)


def _predict_one(matter, path: Path, stem: Path, kinds: list[str], background) -> None:
    rgb = load_image(path)
    write_outputs(stem, rgb, matter.predict(rgb), kinds, background)


def write_outputs(stem: Path, rgb, alpha, kinds: list[str], background) -> None:
    """Write ``<stem>.alpha.png``, ``.rgba.png`` and ``.composite.png`` as ``kinds`` asks (also run on Ray)."""
    from .compose import alpha_to_uint8, cutout_rgba, replace_background

    if "alpha" in kinds:
        save_image(f"{stem}.alpha.png", alpha_to_uint8(alpha))
    if "rgba" in kinds:
        save_image(f"{stem}.rgba.png", cutout_rgba(rgb, alpha))
    if "composite" in kinds:
        save_image(f"{stem}.composite.png", replace_background(rgb, alpha, background))
