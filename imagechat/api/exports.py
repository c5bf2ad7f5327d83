"""ZIP exports over HTTP: GET core.urls.EXPORT_ROUTE with the owner's session cookie.

The ticket (core.export.create_ticket) names the images; only its owner can redeem it. Anyone else, a
guessed ticket and an expired one all get the same 404. The archive is streamed as it is written.
"""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from imagechat.api.images import owner_id
from imagechat.core import export
from imagechat.core.errors import NotFound, ServiceUnavailable
from imagechat.core.urls import EXPORT_ROUTE


def export_zip(request: Request) -> Response:
    owner = owner_id(request)
    if owner is None:
        return PlainTextResponse("Log in to download this export, then start it again from the gallery.",
                                 status_code=401)
    try:
        ticket = export.open_ticket(owner, request.path_params["ticket"])
    except NotFound as exc:
        return PlainTextResponse(exc.user_message, status_code=404)
    except ServiceUnavailable as exc:
        return PlainTextResponse(exc.user_message, status_code=503, headers={"Retry-After": "60"})
    name = export.archive_name(ticket)  # a slug: safe as it is; filename* for clients that prefer it
    return StreamingResponse(export.stream_zip(ticket), media_type="application/zip", headers={
        "Content-Disposition": f"attachment; filename=\"{name}\"; filename*=UTF-8''{quote(name)}",
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })


routes = [Route(EXPORT_ROUTE, export_zip)]
