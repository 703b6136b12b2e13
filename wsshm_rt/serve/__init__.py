"""``wsshm-rt serve``: an HTTP API (FastAPI + uvicorn) with dynamic batching, metrics, and a web page with a live
camera mode. Needs the [serve] extra: ``pip install 'wsshm-rt[serve]'``.

    from wsshm_rt.serve import ServeConfig, serve
    serve(ServeConfig(max_batch=8), port=8000)
"""

from .config import ServeConfig
from .run import serve

__all__ = ["ServeConfig", "serve"]
