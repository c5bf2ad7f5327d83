"""The composer's style chip pictures (core/style_previews.py): public, the same for everyone, cacheable."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from imagechat.core import style_previews
from imagechat.core.urls import STYLE_PREVIEW_ROUTE


async def style_preview(request: Request) -> Response:
    made = await asyncio.to_thread(style_previews.preview, request.path_params["name"])
    if made is None:
        return PlainTextResponse("No such style.", status_code=404)
    data, etag = made
    headers = {"ETag": f'"{etag}"', "Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="image/webp", headers=headers)


routes = [Route(STYLE_PREVIEW_ROUTE, style_preview)]
