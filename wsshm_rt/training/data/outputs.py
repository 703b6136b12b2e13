"""Folders the data commands write (``pseudo-label``, ``make-scenes``): each lists the files it wrote in a manifest
in the folder, written before them. Run again into the same folder, a command replaces only those files; a folder
holding anything else (a hand-labelled set given as the output by mistake) is refused before anything is written or
deleted, so no one's labels are overwritten, deleted, or mixed with generated ones.
"""

from __future__ import annotations

import json
import os
from pathlib import Path, PurePosixPath

from ...errors import WsshmError
from ...files import write_atomic

# Files a desktop drops into any folder it shows: never data, so they neither make a folder foreign nor get deleted.
DESKTOP_FILES = {".DS_Store", "Thumbs.db", "desktop.ini"}


def check_apart(out, option: str, inputs: list[tuple[str, Path]]) -> None:
    """Refuse an output folder that is an input folder, lies inside one or holds one, or holds an input file:
    ``inputs`` are (what it is, path) pairs ("the input folder", photos/). Symbolic links are followed, so a link
    to the output folder counts as the folder."""
    out_r = Path(out).resolve()
    for what, path in inputs:
        path_r = Path(path).resolve()
        if path_r == out_r:
            relation = "is"
        elif out_r in path_r.parents:
            relation = "holds"
        elif path_r.is_dir() and path_r in out_r.parents:
            relation = "is inside"
        else:
            continue
        raise WsshmError(f"{option} {out} {relation} {what} {path}; give {option} a folder of its own, apart from "
                         "the inputs")


def listed_files(out, manifest: str) -> set[str]:
    """The files (paths relative to ``out``, / separated) that ``out``/``manifest`` says were written there; none
    when it is missing or unreadable. An entry that could point outside ``out`` is ignored, never deleted."""
    try:
        files = json.loads((Path(out) / manifest).read_text())["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return set()
    if not isinstance(files, list):
        return set()
    return {f for f in files if isinstance(f, str) and f and not PurePosixPath(f).is_absolute()
            and ".." not in PurePosixPath(f).parts and f != manifest}


def check_output(out, manifest: str, command: str, option: str, legacy: str | None = None) -> list[str]:
    """The files in ``out`` that ``command`` wrote before (its ``manifest`` lists them), once it is checked that
    ``out`` holds nothing else; a missing or empty folder has none. A folder holding any other file is refused in
    one sentence naming a few. ``legacy``: the file an older wsshm-rt left in such a folder without a manifest,
    named in the sentence, since those files cannot be told from anyone else's."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise WsshmError(f"{option} {out} is a file, not a folder")
    if not out.is_dir():
        return []
    own = listed_files(out, manifest)
    foreign, found = [], []
    for folder, dirs, names in os.walk(out):
        rel = Path(folder).relative_to(out)
        # A linked folder is not walked into (its files are not this folder's to replace): it is foreign itself.
        entries = [d for d in dirs if (Path(folder) / d).is_symlink()] + names
        for name in entries:
            path = (rel / name).as_posix()
            if path == manifest or name in DESKTOP_FILES:
                continue
            (found if path in own else foreign).append(path)
        if len(foreign) > 3:  # enough to name; a large folder (someone's home) is not walked to its end
            break
    if foreign:
        shown = ", ".join(sorted(foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
        if legacy and (out / legacy).is_file() and not (out / manifest).is_file():
            raise WsshmError(f"{option} {out} holds files ({shown}) that an older wsshm-rt {command} may have "
                             f"written without listing them in {manifest}, so they cannot be told from labels of "
                             f"your own: give {option} a new or empty folder, or delete {out} yourself if it holds "
                             "only old output")
        raise WsshmError(f"{option} {out} holds files {command} did not write ({shown}); give {option} a new or empty "
                         f"folder ({command} replaces only the files it wrote, listed in its {manifest})")
    return found


def clear_output(out, manifest: str, command: str, option: str, legacy: str | None = None,
                 first: tuple[str, ...] = ()) -> None:
    """``check_output``, then delete the files an earlier run wrote (``first`` before the others: the file that says
    the folder is complete, so that an interrupted clean-up leaves no folder that claims to be). The manifest stays
    until the next run's replaces it."""
    found = check_output(out, manifest, command, option, legacy)
    for path in sorted(found, key=lambda p: p not in first):
        try:
            (Path(out) / path).unlink(missing_ok=True)
        except OSError as exc:
            raise WsshmError(f"cannot delete {Path(out) / path}, written by an earlier {command} "
                             f"({exc.strerror or exc})") from None


def write_manifest(out, manifest: str, files, **info) -> None:
    """Write ``out``/``manifest``: ``info`` (what made the files) and ``files`` (paths relative to ``out``); written
    before the files themselves, so that a run stopped half-way leaves a folder the next run may replace."""
    write_atomic(Path(out) / manifest, json.dumps({**info, "files": sorted(set(files))}, indent=2).encode())
