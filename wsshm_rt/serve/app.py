"""The HTTP API and the web page: routes only; the work is in inputs, service, live and metrics."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Query, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from ..errors import WsshmError
from .config import ServeConfig
from .inputs import BadRequest, background_from_text, check_params, decode, read_upload
from .live import run_live
from .metrics import Metrics
from .service import MatteService, render

log = logging.getLogger("wsshm_rt.serve")
STATIC = Path(__file__).parent / "static"

BODY_DOC = {"requestBody": {"required": True, "content": {
    "image/*": {"schema": {"type": "string", "format": "binary"}},
    "multipart/form-data": {"schema": {"type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary"},
        "background": {"type": "string", "format": "binary",
                       "description": "An image to put behind the person (output=composite)."}}}}}}}
ANSWERS = {200: {"content": {"image/png": {}}, "description": "A PNG at the input's size."},
           **{code: {"description": "One sentence: {\"error\": ..., \"kind\": ...}"} for code in (400, 413, 415)}}


def create_app(config: ServeConfig) -> FastAPI:
    """A FastAPI app with its own model session (loaded here, before the first request)."""
    from .. import __version__

    config.check()
    metrics = Metrics()
    service = MatteService(config, metrics)

    @asynccontextmanager
    async def lifespan(app):
        yield
        service.close()  # uvicorn has finished the requests in flight by now; the batcher runs what is queued

    app = FastAPI(title="wsshm-rt", version=__version__, lifespan=lifespan,
                  description="Human matting over HTTP: POST an image to /v1/matte, get a PNG back.")
    _error_handlers(app, metrics)
    _routes(app, config, service, metrics)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def app_from_env() -> FastAPI:
    """What each uvicorn worker process runs with ``--workers N``: the config comes through the environment."""
    return create_app(ServeConfig.from_env())


def _routes(app: FastAPI, config: ServeConfig, service: MatteService, metrics: Metrics) -> None:
    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok", "model": service.matter.model_path.name, "engine": service.matter.info}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus():
        return PlainTextResponse(metrics.text(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/matte", response_class=Response, responses=ANSWERS, openapi_extra=BODY_DOC)
    async def matte(request: Request,
                    output: str = Query("rgba", description="alpha, rgba (the cut-out) or composite."),
                    background: str | None = Query(None, description="composite: a colour or 'blur[:radius]'."),
                    tta: str | None = Query(None, description="flip+scale, flip or none; default: the server's."),
                    refine: str | None = Query(None, description="guided or none; default: the server's.")):
        """Matte the image sent as the raw body (or the multipart field `image`): a PNG at its size."""
        started, status = time.perf_counter(), 500
        metrics.add("in_flight")
        try:
            params = check_params(output, tta or config.tta, refine or config.refine, background)
            response = await _matte(request, params, config, service)
            status = 200
            return response
        except BadRequest as exc:
            status = exc.status
            raise
        except WsshmError:
            status = 400  # as the handler below answers it
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            metrics.add("in_flight", -1)
            metrics.request_done("/v1/matte", status, time.perf_counter() - started)

    @app.websocket("/v1/live")
    async def live(websocket: WebSocket, background: str = "#00ff00", tta: str = "none",
                   refine: str | None = None):
        await run_live(websocket, service, metrics, config.max_bytes, config.max_pixels, background=background,
                       tta=tta, refine=refine or config.refine)


async def _matte(request: Request, params, config: ServeConfig, service: MatteService) -> Response:
    image, background_field = await read_upload(request, config.max_bytes)
    rgb = await run_in_threadpool(decode, image, config.max_pixels)
    if background_field is not None:
        if params.background is not None:
            raise BadRequest(400, "bad_parameter", "background is given twice, as a query parameter and a field")
        params.background = await run_in_threadpool(_field_background, background_field, config.max_pixels)
    if params.output == "composite" and params.background is None:
        raise BadRequest(400, "bad_parameter", "output=composite needs a background: background= (a colour or "
                         "'blur') or an image in the multipart field 'background'")
    alpha = await asyncio.wrap_future(service.submit(rgb, params.tta, params.refine))
    png = await run_in_threadpool(render, rgb, alpha, params.output, params.background)
    return Response(png, media_type="image/png")


def _field_background(field, max_pixels: int):
    from ..compose import Background

    if isinstance(field, str):
        return background_from_text(field)
    return Background("image", image=decode(field, max_pixels, "the background image"))


def _error_handlers(app: FastAPI, metrics: Metrics) -> None:
    def answer(status: int, kind: str, message: str, headers: dict | None = None) -> JSONResponse:
        metrics.error(kind)
        return JSONResponse({"error": message, "kind": kind}, status_code=status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc: HTTPException):
        # What FastAPI and Starlette answer themselves (an unknown path, a wrong method), in the same
        # {"error", "kind"} form as ours; the status and headers (a 405's Allow) stay theirs.
        return answer(exc.status_code, *_http_error(request, exc), headers=exc.headers)

    @app.exception_handler(BadRequest)
    async def bad_request(request, exc: BadRequest):
        return answer(exc.status, exc.kind, exc.message)

    @app.exception_handler(WsshmError)
    async def user_error(request, exc: WsshmError):
        return answer(400, "bad_input", str(exc))

    @app.exception_handler(RequestValidationError)
    async def bad_query(request, exc: RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "body"))
        return answer(400, "bad_parameter", f"{where or 'the request'}: {first.get('msg', 'is not valid')}")

    @app.exception_handler(Exception)
    async def internal(request, exc: Exception):
        log.exception("internal error on %s", request.url.path)
        return answer(500, "internal", f"internal error ({type(exc).__name__}); the server logged it")


def _http_error(request: Request, exc: HTTPException) -> tuple[str, str]:
    """(kind, one sentence) for an HTTPException that FastAPI or Starlette raised."""
    from http import HTTPStatus

    path = request.url.path
    if exc.status_code == 404:
        return "not_found", f"there is nothing at {path}; the API is POST /v1/matte (see /docs)"
    if exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        return "method_not_allowed", f"{path} does not take {request.method}" + (f"; use {allowed}" if allowed else "")
    try:
        phrase = HTTPStatus(exc.status_code).phrase
    except ValueError:
        phrase = f"HTTP {exc.status_code}"
    kind = phrase.lower().replace(" ", "_").replace("-", "_")
    detail = exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else ""
    return kind, (detail or phrase).rstrip(".")
