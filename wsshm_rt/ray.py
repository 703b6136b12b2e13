"""Batch matting on Ray (the [ray] extra): ``matte_dataset`` and ``wsshm-rt predict ... --ray [ADDRESS]``.

The driver lists the inputs and names their outputs exactly as ``predict`` does; Ray Data reads the files
(``read_binary_files``) and ``map_batches`` mattes them in a pool of actors that each hold one ``Matter`` and write
the outputs. The same code runs on one machine (no address: ``ray.init()`` joins the cluster in RAY_ADDRESS or
starts a local one) and on a cluster (``"ray://head:10001"``, or ``"auto"`` on a node of it); there the inputs and
the output folder must be paths that the driver and every node see (a shared file system). A file that cannot be
read or matted is reported and skipped; the rest finish.

Videos are split by file, not by frame (a video's frames share temporal smoothing and one encoder): ``matte_videos``
runs one Ray task per file.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from .errors import WsshmError, require
from .predict import PredictOptions, expand_inputs, output_stems


@dataclass
class RayRun:
    """What a run did: files written, files already there (skip_existing), and the skipped ones with why."""

    written: int = 0
    existing: int = 0
    failed: dict[str, str] = field(default_factory=dict)


def connect(address: str | None = None, **init_kwargs):
    """The ``ray`` module, connected: to ``address``, else to RAY_ADDRESS's cluster or a new local instance.
    Already connected (e.g. ``ray.init(num_cpus=2)`` by the caller), it is used as it is."""
    ray = require("ray", "ray")
    require("ray.data", "ray", "ray[data]")
    if not ray.is_initialized():
        init_kwargs.setdefault("logging_level", "warning")
        try:
            ray.init(address=address, **init_kwargs)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise WsshmError(f"cannot connect to Ray at {address or 'a local instance'} ({_first_line(exc)})") from None
    return ray


def matte_dataset(inputs, opts: PredictOptions, address: str | None = None, *, actors: int | None = None,
                  cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0, batch_size: int = 4,
                  progress: bool = True, **matter_kwargs) -> RayRun:
    """Matte every input image (files, folders, globs) on Ray and write ``opts``'s outputs into ``opts.out``.

    actors: the most actors (each holds one Matter); default: as many as the cluster's CPUs (or GPUs) allow.
    matter_kwargs: as ``Matter``'s (model, engine, short_side, tta, refine, ...); threads default to cpus_per_actor.
    """
    from .compose import parse_background
    from .images import ensure_writable

    kinds = opts.kinds()
    if opts.background:
        parse_background(opts.background)  # a bad background is refused here, not once per actor
    files = expand_inputs(inputs, opts.out)
    stems = {f: opts.out / name for f, name in output_stems(files).items()}
    todo = [f for f in files if not (opts.skip_existing and _outputs_exist(stems[f], kinds))]
    ensure_writable(opts.out)
    run = RayRun(existing=len(files) - len(todo))
    if todo:
        ray = connect(address)
        _quiet(ray, progress)
        matter_kwargs.setdefault("threads", max(1, int(cpus_per_actor)))
        actor_args = dict(stems={str(f): str(stems[f]) for f in todo}, kinds=kinds, background=opts.background,
                          matter_kwargs=matter_kwargs)
        rows = _pipeline(ray, todo, actor_args, actors, cpus_per_actor, gpus_per_actor, batch_size)
        _collect(rows, run)
    if todo and len(run.failed) == len(todo):
        raise WsshmError(f"none of the {len(todo)} images could be read")
    if progress:
        done = f", {run.existing} already there" if run.existing else ""
        print(f"wsshm-rt: {run.written} written to {opts.out}{done}, {len(run.failed)} skipped (on Ray)",
              file=sys.stderr)
    return run


def _pipeline(ray, files, actor_args, actors, cpus_per_actor, gpus_per_actor, batch_size):
    """The dataset of (path, error) rows: read the files, matte them in an actor pool."""
    if actors is None:
        have = ray.cluster_resources().get("GPU" if gpus_per_actor else "CPU", 1)
        actors = max(1, int(have // (gpus_per_actor or cpus_per_actor)))
    # Reading is I/O: a fraction of a CPU, so that actors holding every core cannot starve it.
    data = ray.data.read_binary_files([str(f) for f in files], include_paths=True, num_cpus=0.1)
    return data.map_batches(MatteActor, fn_constructor_kwargs=actor_args, batch_size=batch_size,
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors),
                            num_cpus=cpus_per_actor, num_gpus=gpus_per_actor or None)


def _collect(rows, run: RayRun) -> None:
    try:
        for row in rows.iter_rows():
            if row["error"]:
                run.failed[row["path"]] = row["error"]
                print(f"wsshm-rt: skipped {row['path']}: {row['error']}", file=sys.stderr)
            else:
                run.written += 1
    except Exception as exc:  # Ray's own failure (a lost node, a file gone between listing and reading)
        raise WsshmError(f"the Ray run stopped after {run.written} images: {_first_line(exc)}; run the same "
                         "command with --skip-existing to finish the rest") from None


class MatteActor:
    """One Matter per actor; a batch of {"bytes", "path"} rows in, a {"path", "error"} row per file out ("" for a
    file written)."""

    def __init__(self, stems: dict[str, str], kinds: list[str], background, matter_kwargs: dict):
        from .compose import parse_background
        from .matter import Matter

        kwargs = dict(matter_kwargs)
        self.matter = Matter(kwargs.pop("model", None), **kwargs)
        self.stems, self.kinds = stems, kinds
        self.background = parse_background(background) if background else None

    def __call__(self, batch: dict) -> dict:
        import numpy as np

        errors = [self._one(bytes(data), str(path)) for data, path in zip(batch["bytes"], batch["path"])]
        return {"path": np.asarray(batch["path"], dtype=object), "error": np.asarray(errors, dtype=object)}

    def _one(self, data: bytes, path: str) -> str:
        from .images import load_image
        from .predict import write_outputs

        try:
            rgb = load_image(data, name=path)
            write_outputs(Path(self.stems[path]), rgb, self.matter.predict(rgb), self.kinds, self.background)
        except WsshmError as exc:
            return str(exc)
        except Exception as exc:  # noqa: BLE001 - a decoder's own failure is this file's: report it, go on
            return f"{path} could not be processed ({type(exc).__name__}: {_first_line(exc)})"
        return ""


def matte_videos(videos, out: Path, address: str | None = None, *, suffix: str = ".mp4", background=None,
                 cpus_per_task: float = 2.0, **matter_kwargs) -> RayRun:
    """Replace the background of every video in ``videos`` (paths) on Ray, one task per file (the library is split
    by file: a video's frames share temporal smoothing and one encoder), writing ``out/<name><suffix>``.

    Each task opens its own Matter (matter_kwargs as ``Matter``'s; tta "none", threads = cpus_per_task by default)
    and runs ``video.matte_video``; a file that fails is reported and skipped, the rest finish. Ray runs as many
    tasks at once as the cluster has CPUs for (``cpus_per_task`` each).
    """
    from .images import make_folder

    out = make_folder(Path(out))
    videos = [Path(v) for v in videos]
    names = output_stems(videos)
    ray = connect(address)
    matter_kwargs.setdefault("tta", "none")
    matter_kwargs.setdefault("threads", max(1, int(cpus_per_task)))
    task = ray.remote(num_cpus=cpus_per_task)(_matte_one_video)
    pending = {task.remote(str(v), str(out / f"{names[v]}{suffix}"), background, matter_kwargs): v for v in videos}
    run = RayRun()
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        video, error = pending.pop(done[0]), ray.get(done[0])
        if error:
            run.failed[str(video)] = error
            print(f"wsshm-rt: skipped {video}: {error}", file=sys.stderr)
        else:
            run.written += 1
    return run


def _matte_one_video(source: str, output: str, background, matter_kwargs: dict) -> str:
    """One video, in a Ray task: "" when written, else the one-sentence reason."""
    from .matter import Matter
    from .video import matte_video

    try:
        kwargs = dict(matter_kwargs)
        matte_video(source, output, Matter(kwargs.pop("model", None), **kwargs), background, progress=False)
    except WsshmError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a decoder's own failure is this file's: report it, go on
        return f"{source} could not be processed ({type(exc).__name__}: {_first_line(exc)})"
    return ""


def _outputs_exist(stem: Path, kinds: list[str]) -> bool:
    return all(Path(f"{stem}.{kind}.png").is_file() for kind in kinds)


def _quiet(ray, progress: bool) -> None:
    """Ray Data's progress bars on a terminal only; its log lines would bury the lines that matter."""
    import logging

    if not (progress and sys.stderr.isatty()):
        ray.data.DataContext.get_current().enable_progress_bars = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
