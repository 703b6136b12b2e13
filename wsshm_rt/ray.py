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
    if ray.is_initialized():
        return ray
    init_kwargs.setdefault("logging_level", "warning")
    # A Ray Client connection starts a server process for it on the head, which now and then fails to come up
    # ("Initialization failure from server"); a second try gets a new one.
    tries = 3 if str(address).startswith("ray://") else 1
    for attempt in range(1, tries + 1):
        try:
            ray.init(address=address, **init_kwargs)
            return ray
        except (ConnectionError, RuntimeError, ValueError) as exc:
            if attempt == tries or "Initialization failure" not in str(exc):
                raise WsshmError(f"cannot connect to Ray at {address or 'a local instance'} "
                                 f"({_first_line(exc)})") from None
            ray.shutdown()  # whatever the failed try left half set up


def matte_dataset(inputs, opts: PredictOptions, address: str | None = None, *, actors: int | None = None,
                  cpus_per_actor: float = 1.0, gpus_per_actor: float = 0.0, batch_size: int = 4,
                  progress: bool = True, **matter_kwargs) -> RayRun:
    """Matte every input image (files, folders, globs) on Ray and write ``opts``'s outputs into ``opts.out``.

    actors: the most actors (each holds one Matter); default: as many as the cluster's CPUs (or GPUs) allow.
    matter_kwargs: as ``Matter``'s (model, engine, short_side, tta, refine, ...); threads default to cpus_per_actor.
    """
    from .compose import parse_background
    from .files import ensure_writable

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
        matter_kwargs.setdefault("threads", max(1, int(cpus_per_actor)))
        actor_args = dict(stems={str(f): str(stems[f]) for f in todo}, kinds=kinds, background=opts.background,
                          matter_kwargs=matter_kwargs)
        plan = dict(actors=actors, cpus_per_actor=cpus_per_actor, gpus_per_actor=gpus_per_actor,
                    batch_size=batch_size)
        _collect(ray, [str(f) for f in todo], actor_args, plan, run)
    if todo and len(run.failed) == len(files):  # with outputs already there, some images were fine: exit 1
        raise WsshmError(f"none of the {len(todo)} images could be read")
    if progress:
        done = f", {run.existing} already there" if run.existing else ""
        print(f"wsshm-rt: {run.written} written to {opts.out}{done}, {len(run.failed)} skipped (on Ray)",
              file=sys.stderr)
    return run


def _collect(ray, files: list[str], actor_args: dict, plan: dict, run: RayRun) -> None:
    """Run the pipeline in a task on the cluster and record what became of each file.

    Ray Data's executor must run in a process of the cluster; with a ray:// address (Ray Client) the driver is not
    one, so the pipeline always runs in a task (it takes no CPU of its own): one code path for both.
    """
    task = ray.remote(num_cpus=0)(_pipeline_rows)
    try:
        rows = ray.get(task.remote(files, actor_args, plan))
    except Exception as exc:  # Ray's own failure (a lost node, a file gone between listing and reading)
        raise WsshmError(f"the Ray run stopped ({_first_line(exc)}); the images done are written: run the same "
                         "command with --skip-existing to finish the rest") from None
    for path, error in rows:
        if error:
            run.failed[path] = error
            print(f"wsshm-rt: skipped {path}: {error}", file=sys.stderr)
        else:
            run.written += 1


def _pipeline_rows(files: list[str], actor_args: dict, plan: dict) -> list[tuple[str, str]]:
    """(path, error) for every file: read them with Ray Data, matte them in a pool of actors."""
    import ray

    _quiet(ray)
    actors, cpus, gpus = plan["actors"], plan["cpus_per_actor"], plan["gpus_per_actor"]
    if actors is None:
        have = ray.cluster_resources().get("GPU" if gpus else "CPU", 1)
        actors = max(1, int(have // (gpus or cpus)))
    # Reading is I/O: a fraction of a CPU, so that actors holding every core cannot starve it.
    data = ray.data.read_binary_files(files, include_paths=True, num_cpus=0.1)
    data = data.map_batches(MatteActor, fn_constructor_kwargs=actor_args, batch_size=plan["batch_size"],
                            compute=ray.data.ActorPoolStrategy(min_size=1, max_size=actors), num_cpus=cpus,
                            num_gpus=gpus or None)
    return [(row["path"], row["error"]) for row in data.iter_rows()]


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
    from .files import make_folder

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


def _quiet(ray) -> None:
    """No progress bars or log lines from Ray Data (in a task they would reach the driver as log lines and bury
    the lines that matter)."""
    import logging

    ray.data.DataContext.get_current().enable_progress_bars = False
    for name in ("ray", "ray.data"):
        logging.getLogger(name).setLevel(logging.ERROR)


def _first_line(exc: BaseException) -> str:
    exc = getattr(exc, "cause", None) or exc  # a RayTaskError carries the task's own exception
    lines = str(exc).strip().splitlines()
    return lines[0][:300] if lines else type(exc).__name__
