"""A request's image and parameters, checked: anything wrong is a BadRequest with one sentence, never a 500."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from ..compose import NAMED_COLOURS, Background, parse_background
from ..errors import WsshmError
from ..images import load_image

OUTPUTS = ("alpha", "rgba", "composite")


class BadRequest(Exception):
    """A client error: HTTP ``status``, a ``kind`` for the metrics, and one sentence for the client."""

    def __init__(self, status: int, kind: str, message: str):
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


@dataclass
class MatteParams:
    output: str
    tta: str
    refine: str
    background: Background | None = None


def bad_parameter(exc: WsshmError) -> BadRequest:
    return BadRequest(400, "bad_parameter", str(exc))


def check_params(output: str, tta: str, refine: str, background: str | None) -> MatteParams:
    """The query's parameters, or a BadRequest naming the bad one."""
    from ..tta import check_tta
    from ..refine import check_refine

    if output not in OUTPUTS:
        raise BadRequest(400, "bad_parameter", f"output must be alpha, rgba or composite, not {output!r}")
    try:
        params = MatteParams(output, check_tta(tta), check_refine(refine))
    except WsshmError as exc:
        raise bad_parameter(exc) from None
    if background is not None:
        params.background = background_from_text(background)
    return params


def background_from_text(text: str) -> Background:
    """A colour or 'blur[:radius]'. Never a path: a client must not make the server read its own files."""
    s = text.strip().lower()
    if not (s.startswith(("blur", "#")) or s in NAMED_COLOURS or s.count(",") == 2):
        raise BadRequest(400, "bad_parameter", f"background must be a colour ('#00ff00', 'r,g,b' or a name) or "
                         f"'blur[:radius]', not {text!r}; send a background image as the multipart field "
                         "'background'")
    try:
        return parse_background(text)
    except WsshmError as exc:
        raise bad_parameter(exc) from None


async def read_body(request, max_bytes: int) -> bytes:
    """The request body, refused with a 413 as soon as it passes ``max_bytes`` (before it is all read)."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise too_many_bytes(int(length), max_bytes)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise too_many_bytes(None, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def too_many_bytes(size: int | None, max_bytes: int) -> BadRequest:
    """size: the body's length where the request said it, else None (found while reading)."""
    holds = "more than" if size is None else f"{size} bytes, more than"
    return BadRequest(413, "too_large_bytes", f"the request holds {holds} this server's limit of {max_bytes} bytes "
                      "(--max-bytes)")


async def read_upload(request, max_bytes: int) -> tuple[bytes, bytes | str | None]:
    """(the image's bytes, the multipart 'background' field or None): from a raw body, or a multipart form with the
    image in the field 'image'."""
    body = await read_body(request, max_bytes)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return body, None
    form = await _parse_form(request, body)
    try:
        image = form.get("image")
        if image is None:
            raise BadRequest(400, "no_image", "the multipart form has no field named 'image'")
        if isinstance(image, str):
            raise BadRequest(400, "no_image", "the multipart field 'image' must be a file, not text")
        background = form.get("background")
        return await image.read(), (await background.read() if hasattr(background, "read") else background)
    finally:
        await form.close()  # the parts' spooled temporary files


async def _parse_form(request, body: bytes):
    from starlette.requests import Request

    async def replay():  # the body was read (within the limit) already; the form parser reads it again from here
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        return await Request(request.scope, replay).form()
    except Exception as exc:  # python-multipart's and Starlette's parse errors have no common base
        raise BadRequest(400, "bad_form", f"the multipart form could not be read ({exc})") from None


def decode(data: bytes, max_pixels: int, what: str = "the image") -> np.ndarray:
    """Encoded image bytes -> uint8 RGB Shape(H, W, 3); a BadRequest if they are no image or it is too large.

    The size is read from the file's header first, so that a small file that decodes to a huge image (a
    decompression bomb) is refused before it takes the memory.
    """
    if not data:
        raise BadRequest(400, "no_image", f"{what} is empty: send the image as the body or the field 'image'")
    size = _header_size(data)
    if size is not None:
        _check_pixels(*size, max_pixels, what)
    try:
        rgb = load_image(data, name=what)
    except WsshmError as exc:
        kind, status = ("bad_image", 400) if size else ("not_an_image", 415)
        raise BadRequest(status, kind, str(exc)) from None
    _check_pixels(rgb.shape[1], rgb.shape[0], max_pixels, what)
    return rgb


def _header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image's header without decoding it, or None where Pillow cannot tell."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.size
    except Image.DecompressionBombError:  # Pillow refuses to open it at all: far beyond any sane limit
        raise BadRequest(413, "too_large_pixels", "the image is too large to open (a decompression bomb?), over "
                         "this server's limit (--max-pixels)") from None
    except Exception:
        return None


def _check_pixels(width: int, height: int, max_pixels: int, what: str) -> None:
    if width * height > max_pixels:
        raise BadRequest(413, "too_large_pixels", f"{what} is {width}x{height} pixels, over this server's limit of "
                         f"{max_pixels} pixels (--max-pixels)")
