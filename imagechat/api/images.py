"""Image bytes over HTTP: full image, thumbnail, downloads in PNG/JPEG/WebP, live previews.

Only the owner gets bytes; anyone else (or a guessed id) gets the same 404. Stored images never
change, so responses carry a strong ETag and an immutable, private cache lifetime. With IMAGE_STORE=s3 the
bytes come from the object store (503 while it is away), or with S3_PRESIGN the owner is redirected to a
short-lived presigned URL of it (core.storage).

Downloads (`download.<png|jpeg|webp>`, optionally `?size=1024|512` for the long side) carry the prompt
and generation parameters inside the file (core.export.embedded); those facts never change either.
"""

from __future__ import annotations

import re
import uuid

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from imagechat.core import auth, cache, codec, export, jobs, library
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import NotFound, StorageUnavailable
from imagechat.core.urls import DOWNLOAD_SIZES, IMAGE_ROUTE, PREVIEW_ROUTE
from imagechat.settings import get_settings

_IMMUTABLE = "private, max-age=31536000, immutable"
# Bump when what a download embeds changes: a new ETag, so no cache hands out the old file.
_DOWNLOAD_VERSION = "m1"
_BAD_SIZE = (f"Unknown download size. Use ?size={' or ?size='.join(map(str, DOWNLOAD_SIZES))} (pixels on the "
             "longer side), or leave it out for the original size.")


def owner_id(request: Request) -> int | None:
    """The signed-in user behind the request's session cookie, if any."""
    token = request.cookies.get(SESSION_COOKIE)
    info = auth.session_for_token(token) if token else None
    return info.user_id if info else None


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


def _stored(request: Request, owner: int, image_id, *, thumb: bool) -> Response:
    """The stored image or its thumbnail: streamed from its store, or, with S3_PRESIGN and the bytes in an object
    store, a redirect to a short-lived URL there (only ever after the owner check: the URL is the owner's). A
    browser revalidating what it has gets its 304 from the metadata alone, without the bytes being read."""
    if get_settings().s3_presign or request.headers.get("if-none-match"):
        meta, presigned = library.presigned_url(owner, image_id, thumb=thumb)
        etag = f"{meta.sha256}-thumb" if thumb else meta.sha256
        if request.headers.get("if-none-match") == f'"{etag}"':
            return _bytes(request, b"", "image/webp" if thumb else meta.mime, etag)
        if presigned is not None:
            url, valid_s = presigned
            # The redirect may be reused while its URL is valid (a margin for clocks and slow starts), no longer.
            return RedirectResponse(url, status_code=302, headers={
                "Cache-Control": f"private, max-age={max(0, valid_s - 30)}", "Referrer-Policy": "no-referrer"})
    return _image(request, *library.image_bytes(owner, image_id, thumb=thumb), thumb=thumb)


def _image(request: Request, meta, data: bytes, *, thumb: bool) -> Response:
    if thumb:
        return _bytes(request, data, "image/webp", f"{meta.sha256}-thumb")
    return _bytes(request, data, meta.mime, meta.sha256)


def _unavailable(exc: StorageUnavailable) -> Response:
    return PlainTextResponse(exc.user_message, status_code=503,
                             headers={"Retry-After": "30", "Cache-Control": "no-store"})


def _download_size(request: Request) -> int | None | Response:
    """None (the original), one of DOWNLOAD_SIZES, or the 400 that explains the choices."""
    values = request.query_params.getlist("size")
    if not values:
        return None
    if len(values) == 1 and values[0] in {str(n) for n in DOWNLOAD_SIZES}:
        return int(values[0])
    return PlainTextResponse(_BAD_SIZE, status_code=400)


def _signed_in_and_id(request: Request, param: str, what: str) -> tuple[int, uuid.UUID] | Response:
    """The signed-in owner and the id in the path, or the response that refuses the request."""
    owner, target = owner_id(request), _uuid(request.path_params[param])
    if owner is None:
        return PlainTextResponse(f"Log in to see this {what}.", status_code=401)
    if target is None:
        return _not_found()
    return owner, target


def _stored_fast(request: Request) -> Response | None:
    """An image or thumbnail as bytes with the session checked in the same query (one database round trip
    instead of three); None when that does not apply or finds nothing, and the full path decides (401 or 404)."""
    variant, token = request.path_params["variant"], request.cookies.get(SESSION_COOKIE)
    image_id = _uuid(request.path_params["image_id"])
    if (variant not in ("thumb.webp", "full") or not token or image_id is None or get_settings().s3_presign
            or request.headers.get("if-none-match")):
        return None
    thumb = variant == "thumb.webp"
    found = library.image_bytes_for_session(auth.token_hash(token), image_id, thumb=thumb)
    return None if found is None else _image(request, *found, thumb=thumb)


def image(request: Request) -> Response:
    try:
        if (fast := _stored_fast(request)) is not None:
            return fast
    except StorageUnavailable as exc:
        return _unavailable(exc)
    checked = _signed_in_and_id(request, "image_id", "image")
    if isinstance(checked, Response):
        return checked
    owner, image_id = checked
    variant = request.path_params["variant"]
    try:
        if variant in ("thumb.webp", "full"):
            return _stored(request, owner, image_id, thumb=variant == "thumb.webp")
        match = re.fullmatch(r"download\.(png|jpe?g|webp)", variant)
        if match:
            size = _download_size(request)
            if isinstance(size, Response):
                return size
            fmt = "jpeg" if match.group(1).startswith("jp") else match.group(1)
            meta, stored = library.image_bytes(owner, image_id)
            etag = f"{meta.sha256}-{fmt}-{size or 'original'}-{_DOWNLOAD_VERSION}"
            if request.headers.get("if-none-match") == f'"{etag}"':  # skip the conversion
                return _bytes(request, b"", codec.MIME[fmt], etag)
            # The image and its ETag (stored bytes, format, size, what is embedded) name the file exactly.
            data = cache.conversions().get_or_make((str(image_id), etag),
                                                   lambda: export.download(meta, stored, fmt, size))
            return _bytes(request, data, codec.MIME[fmt], etag, filename=export.file_name(meta, fmt, size))
    except NotFound:
        return _not_found()
    except StorageUnavailable as exc:
        return _unavailable(exc)
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
    if data is None:  # the owner's job has ended since the page was told of this preview: nothing to show
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    # Previews change while a job runs: the ?v= query names the version, the bytes are never cached.
    return Response(data, media_type="image/webp", headers={"Cache-Control": "no-store"})


routes = [
    Route(IMAGE_ROUTE, image),
    Route(PREVIEW_ROUTE, preview),
]
