"""Image bytes over HTTP: full image, thumbnail, downloads in PNG/JPEG/WebP, live previews.

Only the owner gets bytes; anyone else (or a guessed id) gets the same 404. Stored images never
change, so responses carry a strong ETag and an immutable, private cache lifetime.
"""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imagechat.core import auth, codec, jobs, library
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import NotFound
from imagechat.core.urls import IMAGE_ROUTE, PREVIEW_ROUTE

_IMMUTABLE = "private, max-age=31536000, immutable"


def _owner(request: Request) -> int | None:
    token = request.cookies.get(SESSION_COOKIE)
    user = auth.user_for_token(token) if token else None
    return user.id if user else None


def _uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value) if len(value) <= 64 else None
    except ValueError:
        return None


def _not_found() -> Response:
    return PlainTextResponse("Image not found.", status_code=404)


def _bytes(request: Request, data: bytes, mime: str, etag: str, *, filename: str | None = None) -> Response:
    headers = {"ETag": f'"{etag}"', "Cache-Control": _IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=mime, headers=headers)


def _slug(prompt: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", prompt.lower()).strip("-")[:48].rstrip("-")
    return slug or "image"


def _signed_in_and_id(request: Request, param: str, what: str) -> tuple[int, uuid.UUID] | Response:
    """The signed-in owner and the id in the path, or the response that refuses the request."""
    owner, target = _owner(request), _uuid(request.path_params[param])
    if owner is None:
        return PlainTextResponse(f"Log in to see this {what}.", status_code=401)
    if target is None:
        return _not_found()
    return owner, target


def image(request: Request) -> Response:
    checked = _signed_in_and_id(request, "image_id", "image")
    if isinstance(checked, Response):
        return checked
    owner, image_id = checked
    variant = request.path_params["variant"]
    try:
        if variant == "thumb.webp":
            meta, data = library.image_bytes(owner, image_id, thumb=True)
            return _bytes(request, data, "image/webp", f"{meta.sha256}-thumb")
        if variant == "full":
            meta, data = library.image_bytes(owner, image_id)
            return _bytes(request, data, meta.mime, meta.sha256)
        match = re.fullmatch(r"download\.(png|jpe?g|webp)", variant)
        if match:
            fmt = "jpeg" if match.group(1).startswith("jp") else match.group(1)
            meta, data = library.export(owner, image_id, fmt)
            name = f"{_slug(meta.prompt)}-{str(meta.id)[:8]}.{codec.extension(fmt)}"
            return _bytes(request, data, codec.MIME[fmt], f"{meta.sha256}-{fmt}", filename=name)
    except NotFound:
        return _not_found()
    return _not_found()


def preview(request: Request) -> Response:
    checked = _signed_in_and_id(request, "job_id", "preview")
    if isinstance(checked, Response):
        return checked
    owner, job_id = checked
    try:
        data = jobs.preview_bytes(owner, job_id)
    except NotFound:
        return _not_found()
    # Previews change while a job runs: the ?v= query names the version, the bytes are never cached.
    return Response(data, media_type="image/webp", headers={"Cache-Control": "no-store"})


routes = [
    Route(IMAGE_ROUTE, image),
    Route(PREVIEW_ROUTE, preview),
]
