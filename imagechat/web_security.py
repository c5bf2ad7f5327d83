"""Browser hardening for everything the app serves, plus a rate-limited front-end exception handler.

`secure_app` wraps the whole ASGI app (Reflex passes the app through `api_transformer` callables after mounting
the compiled pages, the `/_event` websocket and our API routes into it), so one middleware covers pages, static
assets, API routes and the websocket upgrade in prod, where one Granian server serves them all:

- every HTTP response gets a Content-Security-Policy, Referrer-Policy, X-Content-Type-Options, Permissions-Policy,
  X-Frame-Options and Cross-Origin-Opener-Policy (headers a route set itself are kept);
- a websocket upgrade from a browser Origin that is not one of the app's own is refused (403), in addition to
  the Socket.IO server's own Origin check (rxconfig `cors_allowed_origins`);
- behind TRUSTED_PROXY_HOPS reverse proxies, the request's scheme is the one the nearest trusted proxy recorded
  in X-Forwarded-Proto (`forwarded_scheme`), so URLs the app builds from the request (the compiled pages' slash
  redirects, /login -> /login/) stay on https instead of pointing the browser at http://.

The CSP allows, beyond 'self': the SHA-256 hashes of the inline scripts of the compiled pages (React Router's
hydration data and module loader, React's streaming runtime, Reflex's theme script: read from the build that is
served, so no other inline script runs), 'unsafe-eval' (Reflex runs `rx.scroll_to`/`rx.call_script` code with
eval()), and 'unsafe-inline' for styles only (Emotion, Radix and sonner insert <style> elements at run time,
some with computed content, and React renders style attributes); see `content_security_policy`.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from imagechat.settings import get_settings

log = logging.getLogger("imagechat.web")
frontend_log = logging.getLogger("imagechat.frontend")

PERMISSIONS_POLICY = ("accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), "
                      "payment=(), usb=()")
# The build's content-hashed files (Vite names them name-<8 chars of hash>.ext): they never change under their
# name, so a returning browser takes them from its cache without asking (some 80 modules on the gallery page).
_HASHED_ASSET = re.compile(r"^/assets/[A-Za-z0-9_.\[\]-]+-[A-Za-z0-9_-]{8}\.(?:js|css|woff2?|svg|png|webp)$")
_IMMUTABLE = b"public, max-age=31536000, immutable"
STATIC_HEADERS = (
    ("referrer-policy", "no-referrer"),
    ("x-content-type-options", "nosniff"),
    ("permissions-policy", PERMISSIONS_POLICY),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
)


# ---------------------------------------------------------------- CSP


class _InlineScripts(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=False)
        self.scripts: list[str] = []
        self._current: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "script" and not any(name == "src" for name, _ in attrs):
            self._current = []

    def handle_data(self, data):
        if self._current is not None:
            self._current.append(data)

    def handle_endtag(self, tag):
        if tag == "script" and self._current is not None:
            if text := "".join(self._current):
                self.scripts.append(text)
            self._current = None


def inline_script_hashes(html_files: Iterable[Path]) -> list[str]:
    """CSP source expressions ('sha256-...') for the inline scripts of the given pages, sorted, no duplicates."""
    hashes = set()
    for path in html_files:
        parser = _InlineScripts()
        parser.feed(path.read_text(encoding="utf-8", errors="replace"))
        parser.close()
        for script in parser.scripts:
            digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
            hashes.add(f"'sha256-{digest}'")
    return sorted(hashes)


def _ws(origin: str) -> str:
    return re.sub(r"^http", "ws", origin)


def content_security_policy(origins: Sequence[str], script_hashes: Sequence[str] = (),
                            image_origins: Sequence[str] = ()) -> str:
    """The policy for every response. Relaxations beyond 'self', each one needed:

    - script-src hashes: the compiled pages' own inline scripts (nothing else inline runs);
    - script-src 'unsafe-eval': Reflex evaluates rx.scroll_to / rx.call_script code with eval();
    - style-src 'unsafe-inline': <style> elements inserted at run time (Emotion, sonner, vaul,
      react-remove-scroll-bar with computed sizes) and style attributes rendered by React/Radix;
    - img-src data: blob: for icons and previews; connect-src the app's own origins over http(s) and ws(s)
      (the Socket.IO websocket; a page served from 127.0.0.1 may talk to localhost, and the other way round);
    - img-src `image_origins`: the object store that S3_PRESIGN redirects images to (core.storage.presign_origin).
    """
    connect = ["'self'", *origins, *(_ws(o) for o in origins)]
    directives = (
        ("default-src", ["'self'"]),
        ("script-src", ["'self'", "'unsafe-eval'", *script_hashes]),
        ("style-src", ["'self'", "'unsafe-inline'"]),
        ("img-src", ["'self'", "data:", "blob:", *image_origins]),
        ("font-src", ["'self'", "data:"]),
        ("connect-src", list(dict.fromkeys(connect))),
        ("object-src", ["'none'"]),
        ("frame-src", ["'none'"]),
        ("base-uri", ["'self'"]),
        ("form-action", ["'self'"]),
        ("frame-ancestors", ["'none'"]),
    )
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives)


def compiled_pages_dir() -> Path:
    """Where Reflex's prod build keeps the pages it serves (.web/build/client, or REFLEX_WEB_WORKDIR's)."""
    from reflex.config import get_config
    from reflex.utils import prerequisites
    from reflex_base import constants

    return (prerequisites.get_web_dir() / constants.Dirs.STATIC / get_config().frontend_path.strip("/")).resolve()


# ---------------------------------------------------------------- the middleware


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return value.decode("latin-1")
    return None


def forwarded_scheme(scope: Scope, hops: int) -> Scope:
    """The scope with the scheme the nearest of `hops` trusted proxies recorded (X-Forwarded-Proto, read as
    api.auth does); unchanged without trusted proxies or a usable header (anyone can send one)."""
    if not hops or scope["type"] not in ("http", "websocket"):
        return scope
    values = [v.strip().lower() for v in ",".join(
        value.decode("latin-1") for key, value in scope.get("headers") or () if key.lower() == b"x-forwarded-proto"
    ).split(",") if v.strip()]
    if not values:
        return scope
    proto = values[-hops] if len(values) >= hops else values[0]
    if proto not in ("http", "https"):
        return scope
    scheme = proto if scope["type"] == "http" else {"http": "ws", "https": "wss"}[proto]
    return scope if scope.get("scheme") == scheme else {**scope, "scheme": scheme}


class SecurityHeaders:
    """ASGI middleware: security headers on every HTTP response; the websocket only from the app's origins."""

    RETRY_EMPTY_S = 5.0  # no build found yet (or none: dev mode): look again after this long

    def __init__(self, app: ASGIApp, *, origins: Sequence[str], pages_dir: Path | None = None,
                 image_origins: Sequence[str] = ()):
        self.app = app
        self.origins = tuple(origins)
        self.image_origins = tuple(image_origins)
        self.pages_dir = pages_dir
        self.proxy_hops = get_settings().trusted_proxy_hops
        self._headers: list[tuple[bytes, bytes]] | None = None
        self._has_hashes = False
        self._built_at = 0.0
        self._lock = threading.Lock()

    def headers(self) -> list[tuple[bytes, bytes]]:
        if self._headers is not None and (self._has_hashes or time.monotonic() - self._built_at < self.RETRY_EMPTY_S):
            return self._headers
        with self._lock:
            hashes: list[str] = []
            if self.pages_dir is not None and self.pages_dir.is_dir():
                try:
                    hashes = inline_script_hashes(sorted(self.pages_dir.rglob("*.html")))
                except OSError:
                    log.warning("could not read the compiled pages in %s for the CSP", self.pages_dir, exc_info=True)
            csp = content_security_policy(self.origins, hashes, self.image_origins)
            self._has_hashes = bool(hashes)
            self._built_at = time.monotonic()
            self._headers = [(b"content-security-policy", csp.encode())] + [
                (name.encode(), value.encode()) for name, value in STATIC_HEADERS]
        return self._headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope = forwarded_scheme(scope, self.proxy_hops)
        if scope["type"] == "websocket":
            origin = _header(scope, b"origin")
            if origin is not None and origin not in self.origins:
                log.warning("refused a websocket from origin %r", origin[:200], extra={"path": scope.get("path")})
                await receive()  # websocket.connect
                await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
                return
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self.headers()
        hashed = scope.get("method") in ("GET", "HEAD") and _HASHED_ASSET.match(scope.get("path") or "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                if hashed and message.get("status") == 200:
                    headers = [(k, v) for k, v in headers if k.lower() != b"cache-control"]
                    headers.append((b"cache-control", _IMMUTABLE))
                present = {key.lower() for key, _ in headers}
                headers += [(key, value) for key, value in extra if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def secure_app(app: ASGIApp) -> ASGIApp:
    """`rx.App(api_transformer=[..., secure_app])`: wrap the whole app Reflex built (pages, websocket, routes)."""
    from reflex.config import get_config

    from imagechat.core.storage import presign_origin

    store = presign_origin()
    return SecurityHeaders(app, origins=list(get_config().cors_allowed_origins), pages_dir=compiled_pages_dir(),
                           image_origins=[store] if store else [])


# ---------------------------------------------------------------- front-end exception reports


class ReportLimiter:
    """At most `per_client` reports per client and `total` reports overall per window (fixed windows)."""

    MAX_CLIENTS = 10_000  # bounded memory even with many distinct clients in one window

    def __init__(self, per_client: int, total: int, window_s: float = 60.0, clock=time.monotonic):
        self.per_client, self.total, self.window_s, self.clock = per_client, total, window_s, clock
        self._window = -1
        self._counts: dict[str, int] = {}
        self._used = 0
        self.dropped = 0
        self._lock = threading.Lock()

    def allow(self, client: str) -> tuple[bool, int]:
        """(allowed, reports dropped in the previous window when this call opened a new one, else 0).

        After a refusal, `dropped` is how many were refused in this window so far.
        """
        with self._lock:
            window = int(self.clock() // self.window_s)
            previous_dropped = 0
            if window != self._window:
                previous_dropped, self.dropped = self.dropped, 0
                self._window, self._counts, self._used = window, {}, 0
            count = self._counts.get(client, 0)
            if count >= self.per_client or self._used >= self.total or (
                    client not in self._counts and len(self._counts) >= self.MAX_CLIENTS):
                self.dropped += 1
                return False, previous_dropped
            self._counts[client] = count + 1
            self._used += 1
            return True, previous_dropped


_SID = re.compile(r"^\[SID: ([^\]\s]{1,64})\]")
_limiter: ReportLimiter | None = None
_limiter_lock = threading.Lock()


def _get_limiter() -> ReportLimiter:
    global _limiter
    with _limiter_lock:
        if _limiter is None:
            settings = get_settings()
            _limiter = ReportLimiter(settings.frontend_errors_per_minute, settings.frontend_errors_per_minute_total)
        return _limiter


def _client_of(text: str) -> str:
    """A short, non-reversible id of the reporting tab (its Reflex client token is a credential: never logged)."""
    try:
        from reflex_base.event.context import EventContext

        token = EventContext.get().token
    except Exception:  # noqa: BLE001 - not inside an event (Reflex's client_error socket event)
        token = None
    if not token and (m := _SID.match(text)):
        token = "sid:" + m.group(1)
    return hashlib.sha256(token.encode()).hexdigest()[:12] if token else "unknown"


def clean_report(text: str, max_chars: int) -> str:
    """Control characters (ANSI escapes, \\r) blanked, newlines kept (the log formatter escapes them); at most
    max_chars, with a note when cut."""
    text = "".join(ch if ch.isprintable() or ch in "\n\t" else " " for ch in text[: max_chars + 1])
    return text if len(text) <= max_chars else text[:max_chars] + " ...[cut]"


def report_frontend_exception(exception: Exception) -> None:
    """rx.App(frontend_exception_handler=...): log a browser's exception report, rate-limited and size-capped.

    Any client can send these (the error boundary's state event takes any string), so each report is cut to
    FRONTEND_ERROR_MAX_CHARS, and only FRONTEND_ERRORS_PER_MINUTE per tab and FRONTEND_ERRORS_PER_MINUTE_TOTAL
    per process are written; how many were dropped is logged with the next report after that minute.
    """
    text = str(exception)
    client = _client_of(text)
    allowed, dropped_before = _get_limiter().allow(client)
    if dropped_before:
        frontend_log.warning("dropped %d front-end exception reports over the limit in the previous minute",
                             dropped_before, extra={"dropped": dropped_before})
    if not allowed:
        if _get_limiter().dropped == 1:
            frontend_log.warning("front-end exception reports over the limit; dropping more until the minute is over",
                                 extra={"client": client})
        return
    max_chars = get_settings().frontend_error_max_chars
    frontend_log.warning("front-end exception: %s", clean_report(text, max_chars),
                         extra={"client": client, "chars": len(text)})
