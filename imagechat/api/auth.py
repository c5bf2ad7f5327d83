"""Log-in, sign-up and log-out over HTTP: the only code that sets or clears the session cookie.

The cookie is HttpOnly (the page's JavaScript never sees the token), SameSite=Strict, Path=/, and Secure
when the request came over HTTPS. Reflex state reads it from its websocket's own request headers
(state/session.py), so the token never enters Reflex state either.

Each POST answers in the form it was asked:
- a browser form (application/x-www-form-urlencoded): 303 to "/" on success, or back to
  /login?error=<code>&tab=..&username=.. (the page shows the message for the code, never text from the URL);
- JSON (a script, `Content-Type: application/json`): {"ok": true, ...} or {"ok": false, "error": code,
  "message": text} with a fitting status (401, 403, 409, 422, 429 with Retry-After, 503).

Cross-site requests are refused twice over: the cookie is SameSite=Strict, and a POST that a browser did
not send from this app's own origin (Sec-Fetch-Site, else Origin, else Referer) gets 403 "bad_origin". A
request with none of these headers comes from no web page (curl, a script): there is no victim browser to
forge it from, so it is allowed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import parse_qs, urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from imagechat.core import auth
from imagechat.core.auth import SESSION_COOKIE, USERNAME_RE
from imagechat.core.errors import ImagechatError
from imagechat.core.throttle import Throttled
from imagechat.settings import get_settings

log = logging.getLogger(__name__)

LOGIN_ROUTE, SIGNUP_ROUTE, LOGOUT_ROUTE = "/api/auth/login", "/api/auth/signup", "/api/auth/logout"
MAX_BODY_BYTES = 8192
_FIELDS = ("username", "password", "invite")
_STATUS = {
    "invalid_credentials": 401, "account_disabled": 403, "signup_closed": 403, "invite_required": 403,
    "invalid_invite": 403, "bad_origin": 403, "username_taken": 409, "login_throttled": 429,
    "signup_throttled": 429, "busy": 503, "service_unavailable": 503, "bad_request": 400, "error": 500,
}
_NO_STORE = {"Cache-Control": "no-store"}


class _BadRequest(Exception):
    pass


# ---------------------------------------------------------------- who is asking, from where

def _forwarded(request: Request, header: str) -> str | None:
    """The value the nearest trusted proxy recorded, when TRUSTED_PROXY_HOPS says there are proxies."""
    hops = get_settings().trusted_proxy_hops
    values = [v.strip() for v in request.headers.get(header, "").split(",") if v.strip()]
    if not hops or not values:
        return None
    return values[-hops] if len(values) >= hops else values[0]


def client_address(request: Request) -> str | None:
    """The client's address (as Reflex's trusted_proxy_hops does: X-Forwarded-For only from trusted proxies)."""
    hops = get_settings().trusted_proxy_hops
    forwarded = [v.strip() for v in request.headers.get("x-forwarded-for", "").split(",") if v.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.client.host if request.client else None


def is_https(request: Request) -> bool:
    return (_forwarded(request, "x-forwarded-proto") or request.url.scheme).lower() == "https"


def _own_origin(request: Request) -> str:
    host = _forwarded(request, "x-forwarded-host") or request.headers.get("host", "")
    return f"{'https' if is_https(request) else 'http'}://{host}".lower()


def same_origin(request: Request) -> bool:
    """Whether a browser sent this from one of this app's own pages (see the module docstring).

    Fetch metadata first: `Sec-Fetch-Site` is set by the browser itself (no page can forge it) and is sent
    whatever the page's Referrer-Policy. That matters here: under `Referrer-Policy: no-referrer` a browser
    sends `Origin: null` with a plain form POST, even to the page's own origin. Without it (an old browser),
    the Origin, else the Referer, must be this app's own origin ("null" never is)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site.strip().lower() == "same-origin"
    origin = request.headers.get("origin")
    if origin is None:
        referer = request.headers.get("referer")
        if not referer:
            return True  # no page sent this: nothing to forge it from
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    return origin.strip().lower() == _own_origin(request)


# ---------------------------------------------------------------- request and response shapes

def _wants_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json" or (
        "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get(
            "accept", ""))


async def _read_form(request: Request) -> dict[str, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest
    try:
        if kind == "application/json":
            data = json.loads(body or b"{}")
            if not isinstance(data, dict):
                raise _BadRequest
        elif kind in ("application/x-www-form-urlencoded", ""):
            data = {k: v[0] for k, v in parse_qs(body.decode("utf-8"), keep_blank_values=True,
                                                  max_num_fields=20).items()}
        else:
            raise _BadRequest
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest from None
    if any(not isinstance(data.get(k, ""), str) for k in _FIELDS):
        raise _BadRequest
    return {k: data.get(k, "") for k in _FIELDS}


def _set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(SESSION_COOKIE, token, max_age=get_settings().session_days * 86400, path="/",
                        secure=is_https(request), httponly=True, samesite="strict")


def _clear_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=is_https(request), httponly=True, samesite="strict")


def _refusal(request: Request, code: str, *, tab: str, username: str = "", message: str | None = None,
             wait_s: int | None = None) -> Response:
    if _wants_json(request):
        headers = {**_NO_STORE, **({"Retry-After": str(wait_s)} if wait_s else {})}
        body = {"ok": False, "error": code, "message": message or auth.message_for(code, wait_s)}
        return JSONResponse(body, status_code=_STATUS.get(code, 422), headers=headers)
    name = username.strip().lower()
    query = {"error": code, "tab": tab, **({"username": name} if USERNAME_RE.fullmatch(name) else {}),
             **({"wait": str(wait_s)} if wait_s else {})}
    return RedirectResponse(f"/login?{urlencode(query)}", status_code=303, headers=_NO_STORE)


# ---------------------------------------------------------------- the routes

async def _enter(request: Request, kind: str) -> Response:
    if not same_origin(request):
        return _refusal(request, "bad_origin", tab=kind)
    try:
        form = await _read_form(request)
    except _BadRequest:
        return _refusal(request, "bad_request", tab=kind)
    username, password, address = form["username"], form["password"], client_address(request)
    try:
        if kind == "signup":
            user = await auth.sign_up_async(username, password, invite_code=form["invite"], address=address)
            user, token = await asyncio.to_thread(auth.start_session, user.id)
        else:
            user, token = await auth.log_in_async(username, password, address=address)
    except ImagechatError as exc:
        code = exc.code if exc.code in auth.MESSAGES else "error"
        log.info("%s refused from %s: %s", kind, address, exc.code)
        wait = int(exc.retry_after_s) if isinstance(exc, Throttled) and exc.retry_after_s else None
        return _refusal(request, code, tab=kind, username=username, message=exc.user_message, wait_s=wait)
    except Exception:  # a bug or an outage nobody anticipated: logged here, a plain message for the user
        log.exception("%s failed", kind)
        return _refusal(request, "error", tab=kind, username=username)
    log.info("%s: %s from %s", kind, user.username, address)
    if _wants_json(request):
        response: Response = JSONResponse({"ok": True, "username": user.username}, headers=_NO_STORE)
    else:
        response = RedirectResponse("/", status_code=303, headers=_NO_STORE)
    _set_session_cookie(response, request, token)
    return response


async def login(request: Request) -> Response:
    return await _enter(request, "login")


async def signup(request: Request) -> Response:
    return await _enter(request, "signup")


async def logout(request: Request) -> Response:
    """Ends the session (every tab of it notices within seconds) and clears the cookie."""
    if not same_origin(request):
        return _refusal(request, "bad_origin", tab="login")
    code = None
    try:
        await asyncio.to_thread(auth.log_out, request.cookies.get(SESSION_COOKIE))
    except ImagechatError as exc:  # the database is away: this browser forgets the cookie all the same
        code = exc.code if exc.code in auth.MESSAGES else "error"
    if code:
        response = _refusal(request, code, tab="login")
    elif _wants_json(request):
        response = JSONResponse({"ok": True}, headers=_NO_STORE)
    else:
        response = RedirectResponse("/login", status_code=303, headers=_NO_STORE)
    _clear_session_cookie(response, request)
    return response


routes = [
    Route(LOGIN_ROUTE, login, methods=["POST"]),
    Route(SIGNUP_ROUTE, signup, methods=["POST"]),
    Route(LOGOUT_ROUTE, logout, methods=["POST"]),
]
