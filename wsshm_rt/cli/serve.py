"""CLI command ``serve``; registered on the main typer app by `wsshm_rt.cli`. Needs the [serve] extra."""

from pathlib import Path
from typing import Optional

import typer

from . import options


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    model: Optional[Path] = options.model(),
    engine: str = options.engine(),
    device: str = options.device(),
    threads: Optional[int] = options.threads(help="CPU threads per worker for inference.",
                                          show_default="all cores, shared equally between workers"),
    short_side: Optional[int] = options.short_side(help="Shorter side the image is resized to for inference.",
                                             show_default="the model's recommendation, else 512"),
    tta: str = options.tta(help="Default test-time augmentation of a request (flip+scale, flip or "
                            "none; a request's tta= overrides it)."),
    refine: str = options.refine(help="Default refinement of a request (guided or none)."),
    max_batch: int = typer.Option(8, help="Most requests matted in one engine call (1: no batching)."),
    max_wait_ms: float = typer.Option(10.0, help="Longest a request waits for others of its size to batch with."),
    max_bytes: int = typer.Option(32 * 1024 * 1024, help="Largest request body (or live frame) in bytes; "
                                  "larger ones get a 413."),
    max_pixels: int = typer.Option(50_000_000, help="Largest image in pixels (width x height); larger ones get "
                                   "a 413 before they are decoded."),
    workers: int = typer.Option(1, help="uvicorn worker processes, each with its own model session and batches "
                                "(its share of the cores unless --threads is given)."),
    graceful_timeout: int = typer.Option(30, help="On SIGTERM/Ctrl-C, seconds to finish requests in flight."),
    limit_concurrency: int = typer.Option(64, help="Connections and requests a worker holds at once; beyond it, "
                                          "503 (bounds the memory that uploads and decoded images take)."),
):
    """Serve matting over HTTP: POST /v1/matte, a web page with a live camera mode at /, /metrics, /docs."""
    from ..serve.config import ServeConfig
    from ..serve.run import serve as run_server

    config = ServeConfig(model=str(model) if model else None, engine=engine, device=device, threads=threads,
                         short_side=short_side, tta=tta, refine=refine, max_batch=max_batch, max_wait_ms=max_wait_ms,
                         max_bytes=max_bytes, max_pixels=max_pixels)
    run_server(config, host=host, port=port, workers=workers, graceful_timeout=graceful_timeout,
               limit_concurrency=limit_concurrency)


def register(app: typer.Typer) -> None:
    """Add this area's commands to `app`."""
    app.command()(serve)
