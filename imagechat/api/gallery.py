"""The gallery's first page as JSON: GET core.urls.GALLERY_FIRST_ROUTE?<the page's own query>.

The gallery page asks for it as soon as its script loads (assets/gallery-window.jsx), in parallel with the
websocket that hydrates the state, and draws these cards until the state's own arrive: the first screen of
thumbnails no longer waits for the socket to connect. Same query parsing (gallery.parse_query), same page
and same card view as GalleryState.load; only the session cookie's owner's images; never cached.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from imagechat.api.images import owner_id
from imagechat.core import gallery
from imagechat.core.errors import ImagechatError
from imagechat.core.gallery_view import FIRST_PAGE, card_view
from imagechat.core.urls import GALLERY_FIRST_ROUTE

_HEADERS = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"}


def first_page(request: Request) -> Response:
    owner = owner_id(request)
    if owner is None:
        return JSONResponse({"error": "Log in to see your images."}, status_code=401, headers=_HEADERS)
    q = gallery.parse_query({k: v for k, v in request.query_params.items() if k != "image"})
    try:
        page = gallery.page(owner, q, cursor=None, limit=FIRST_PAGE)
    except ImagechatError as exc:
        return JSONResponse({"error": exc.user_message}, status_code=503, headers=_HEADERS)
    cards = [dataclasses.asdict(card_view(card, q.text)) for card in page.cards]
    return JSONResponse({"cards": cards}, headers=_HEADERS)


routes = [Route(GALLERY_FIRST_ROUTE, first_page)]
