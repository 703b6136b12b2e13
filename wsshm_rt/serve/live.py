"""Live mode: camera frames in over a WebSocket, background-replaced frames out.

The page sends each frame as JPEG bytes and the next one when the answer is back (one frame in flight, so a slow
server lowers the frame rate instead of building a queue); a text message ``{"background": "#00ff00"}`` changes
the background. Answers are JPEG bytes; a frame that cannot be used is answered with ``{"error": "..."}`` and the
session goes on.
"""

from __future__ import annotations

import json

from ..errors import WsshmError
from .inputs import BadRequest, background_from_text, check_params, decode
from .service import MatteService

LIVE_TTA = ("none", "flip")


class LiveSession:
    """One WebSocket's stream: its own temporal smoothing, its background; frames arrive in order."""

    def __init__(self, service: MatteService, background: str, tta: str, refine: str, max_pixels: int):
        if tta not in LIVE_TTA:
            raise BadRequest(400, "bad_parameter", f"tta must be none or flip for live frames, not {tta!r}")
        params = check_params("composite", tta, refine, background)
        self.background, self.max_pixels = params.background, max_pixels
        self.frames = service.stream(tta, refine)

    def settings(self, text: str) -> None:
        """Apply a text message: a JSON object with a 'background' (a colour or 'blur')."""
        try:
            message = json.loads(text)
        except ValueError:
            message = None
        if not isinstance(message, dict) or not isinstance(message.get("background"), str):
            raise BadRequest(400, "bad_parameter", 'a text message must be JSON like {"background": "#00ff00"}')
        self.background = background_from_text(message["background"])

    def frame(self, data: bytes) -> bytes:
        """An encoded frame -> the composite as JPEG bytes. Runs in a worker thread; blocks on the batcher."""
        from ..compose import replace_background
        from ..images import encode_image

        rgb = decode(data, self.max_pixels, "the frame")
        alpha, lowres = self.frames.matte(rgb)
        return encode_image(replace_background(rgb, alpha, self.background, lowres=lowres), ".jpg")


async def run_live(websocket, service: MatteService, metrics, max_bytes: int, max_pixels: int, **params) -> None:
    """Serve one WebSocket until the page closes it."""
    await websocket.accept()
    try:
        session = LiveSession(service, max_pixels=max_pixels, **params)
    except BadRequest as exc:
        metrics.error(exc.kind)
        await websocket.send_json({"error": exc.message, "frame": False})
        await websocket.close(code=1008)
        return
    metrics.add("live_sessions")
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            frame = message.get("text") is None
            answer = await (_frame(session, message.get("bytes") or b"", max_bytes) if frame
                            else _settings(session, message["text"]))
            if isinstance(answer, BadRequest):  # "frame": whether a frame went unanswered (send the next one)
                metrics.error(answer.kind)
                await websocket.send_json({"error": answer.message, "frame": frame})
            elif answer is not None:
                metrics.add("live_frames")
                await websocket.send_bytes(answer)
    finally:
        metrics.add("live_sessions", -1)


async def _settings(session: LiveSession, text: str) -> BadRequest | None:
    try:
        session.settings(text)
    except BadRequest as exc:
        return exc
    return None


async def _frame(session: LiveSession, data: bytes, max_bytes: int) -> bytes | BadRequest:
    """The composite of one frame, or the BadRequest that the frame is."""
    from starlette.concurrency import run_in_threadpool

    if len(data) > max_bytes:
        return BadRequest(413, "too_large_bytes", f"the frame holds {len(data)} bytes, more than this server's limit "
                          f"of {max_bytes} bytes (--max-bytes)")
    try:
        return await run_in_threadpool(session.frame, data)
    except BadRequest as exc:
        return exc
    except WsshmError as exc:
        return BadRequest(400, "bad_image", str(exc))
