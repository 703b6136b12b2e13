"""``wsshm-rt serve``: start uvicorn with the app, in one process or several."""

from __future__ import annotations

import errno
import os
import socket

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

    A port out of range or already in use, or a host that is no address here, is a WsshmError before the model
    loads (see check_address).
    """
    check_installed()
    import uvicorn

    config.check()
    limit = 1 if limit_concurrency is None else limit_concurrency  # None: no limit
    for name, value in (("workers", workers), ("limit-concurrency", limit)):
        if value < 1:
            raise WsshmError(f"--{name} must be at least 1, not {value}")
    check_address(host, port)  # before the model loads: a taken port is said at once, not after it
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
                ws_max_size=2 * config.max_bytes + 1024)


def check_address(host: str, port: int) -> None:
    """A WsshmError in one sentence if uvicorn could not listen on ``host``:``port`` (a port out of range, a port
    already in use, a host that is no address of this machine): bound here as asyncio binds it (every address
    ``host`` resolves to, SO_REUSEADDR), then let go for uvicorn. A server that takes the port in between still
    makes uvicorn fail with its own message."""
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise WsshmError(f"--port must be a whole number from 0 to 65535, not {port!r}")
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError):
        raise WsshmError(f"--host {host} is not a known host name or address") from None
    for family, kind, proto, _, address in dict.fromkeys(addresses):
        try:
            sock = socket.socket(family, kind, proto)
        except OSError:  # an address family this kernel lacks (IPv6 turned off): skipped, as asyncio skips it
            continue
        with sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == getattr(socket, "AF_INET6", None):
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                raise WsshmError(_bind_error(host, port, exc)) from None


def _bind_error(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is already in use (another server?); stop it or choose another --port"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"--host {host} is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its own"
    if exc.errno == errno.EACCES:
        return f"port {port} on {host} needs more privileges than this user has; choose a --port above 1023"
    return f"cannot listen on port {port} of {host}: {exc.strerror or exc}"
