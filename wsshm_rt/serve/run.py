"""``wsshm-rt serve``: start uvicorn with the app, in one process or several."""

from __future__ import annotations

import os

from ..errors import WsshmError, require
from .config import ServeConfig


def check_installed() -> None:
    """A MissingDependency with the exact pip line if the [serve] extra is not installed."""
    for module, package in (("fastapi", None), ("uvicorn", None), ("python_multipart", "python-multipart"),
                            ("websockets", None)):
        require(module, "serve", package)


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          graceful_timeout: int = 30, limit_concurrency: int | None = 64, log_level: str = "info") -> None:
    """Serve until SIGINT/SIGTERM; then stop taking connections and finish the requests in flight (up to
    ``graceful_timeout`` seconds) before exiting.

    limit_concurrency: connections and requests a worker holds at once (each may hold up to ``max_bytes`` and a
    decoded image); beyond it, uvicorn answers 503 instead of taking more memory.

    workers: uvicorn worker processes. Each loads its own model session and batches only its own requests; with
    workers > 1 and no ``config.threads``, each takes an equal share of the CPU cores.
    """
    check_installed()
    import uvicorn

    config.check()
    limit = 1 if limit_concurrency is None else limit_concurrency  # None: no limit
    for name, value in (("workers", workers), ("limit-concurrency", limit)):
        if value < 1:
            raise WsshmError(f"--{name} must be at least 1, not {value}")
    if workers > 1 and config.threads is None:
        config.threads = max(1, (os.cpu_count() or 1) // workers)
    if workers == 1:
        from .app import create_app

        app = create_app(config)  # a bad model or flag is refused here, before the port opens
    else:
        from ..matter import Matter

        Matter(config.model, **config.matter_kwargs())  # refused here, not in every worker
        config.to_env()
        app = "wsshm_rt.serve.app:app_from_env"
    uvicorn.run(app, host=host, port=port, workers=workers, factory=workers > 1, log_level=log_level,
                timeout_graceful_shutdown=graceful_timeout, limit_concurrency=limit_concurrency,
                ws_max_size=config.max_bytes + 1024)
