"""The ledger as CSV for administrators: GET core.urls.LEDGER_CSV_ROUTE with an administrator's session cookie.

No session: 401. A session of anyone else: 404, as for a page that does not exist. The file is streamed as
it is read (core.admin.ledger_csv): usernames and amounts, no secrets.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from imagechat.api.images import owner_id
from imagechat.core import admin
from imagechat.core.errors import NotFound, ServiceUnavailable
from imagechat.core.urls import LEDGER_CSV_ROUTE


def ledger_csv(request: Request) -> Response:
    try:
        user = owner_id(request)
        if user is None:
            return PlainTextResponse("Log in as an administrator, then download the ledger again from /admin.",
                                     status_code=401)
        rows = admin.ledger_csv(user)
    except NotFound:
        return PlainTextResponse("Not found.", status_code=404)
    except ServiceUnavailable as exc:
        return PlainTextResponse(exc.user_message, status_code=503, headers={"Retry-After": "60"})
    return StreamingResponse(rows, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{admin.ledger_filename()}"',
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })


routes = [Route(LEDGER_CSV_ROUTE, ledger_csv)]
