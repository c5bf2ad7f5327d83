"""Painted edit masks over HTTP: POST core.urls.MASK_ROUTE with the owner's session cookie and the mask as the
body (`Content-Type: image/png`), from the detail view's mask editor (assets/mask-editor.js).

The mask never passes through Reflex state: this route checks it (core.masks.check: a PNG of the image's size
with transparency, some of it painted and not all of it) and parks it in Redis under a short-lived ticket, which
is all the browser gets back and all it hands to the state (DetailState.apply_mask).

Answers are JSON: 201 {"ticket": ..., "painted": 0.12} or {"error": code, "message": text} with 400 (a bad
mask), 401 (signed out), 403 (sent from another site), 404 (not your image), 413 (too large), 415 (not PNG)
or 503 (database or Redis away).
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from imagechat.api.auth import same_origin
from imagechat.api.images import _uuid, owner_id
from imagechat.core import library, masks
from imagechat.core.errors import ImagechatError, NotFound, ServiceUnavailable
from imagechat.core.urls import MASK_ROUTE
from imagechat.settings import get_settings

_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
_TOO_LARGE = (f"The painted area is larger than {masks.MAX_MASK_BYTES // (1024 * 1024)} MB. Paint it again and "
              "press Apply.")


def _error(status: int, code: str, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers={**_NO_STORE, **headers})


async def _body(request: Request) -> bytes | None:
    """The body, or None once it grows past the cap (what a Content-Length says is not trusted)."""
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > masks.MAX_MASK_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _check_and_park(owner: int, image_id, data: bytes) -> tuple[str, float]:
    image = library.get_image(owner, image_id)  # NotFound unless it is the owner's (and not deleted)
    png = masks.check(data, (image.width, image.height), max_pixels=get_settings().max_image_pixels)
    return masks.park(owner, image.id, png), masks.painted_fraction(png)


async def upload_mask(request: Request) -> JSONResponse:
    if not same_origin(request):
        return _error(403, "bad_origin", "This upload must come from the app's own page.")
    try:
        owner = await asyncio.to_thread(owner_id, request)
    except ServiceUnavailable as exc:
        return _error(503, exc.code, exc.user_message, **{"Retry-After": "60"})
    if owner is None:
        return _error(401, "signed_out", "Log in again, then paint the area and press Apply.")
    image_id = _uuid(request.path_params["image_id"])
    if image_id is None:
        return _error(404, "not_found", "That image doesn't exist, or it isn't yours.")
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "image/png":
        return _error(415, "mask_not_png", "The painted area must be sent as a PNG image (image/png).")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > masks.MAX_MASK_BYTES:
        return _error(413, "mask_too_large", _TOO_LARGE)
    data = await _body(request)
    if data is None:
        return _error(413, "mask_too_large", _TOO_LARGE)
    try:
        ticket, painted = await asyncio.to_thread(_check_and_park, owner, image_id, data)
    except NotFound as exc:
        return _error(404, exc.code, exc.user_message)
    except ServiceUnavailable as exc:
        return _error(503, exc.code, exc.user_message, **{"Retry-After": "60"})
    except ImagechatError as exc:  # InvalidImage / InvalidRequest: what is wrong with the mask
        return _error(400, exc.code, exc.user_message)
    return JSONResponse({"ticket": ticket, "painted": round(painted, 4)}, status_code=201, headers=_NO_STORE)


routes = [Route(MASK_ROUTE, upload_mask, methods=["POST"])]
