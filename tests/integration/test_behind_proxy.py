"""Behind a TLS reverse proxy (docs/deploy.md: Caddy in front of the app): URLs the app builds from the request
keep the scheme the browser used, but only when TRUSTED_PROXY_HOPS says a proxy is there.

Found with Caddy in front of two `reflex run --env prod` processes: the compiled pages' slash redirect
(/login -> /login/, Starlette's StaticFiles as Reflex serves the build) answered `Location: http://host/login/`
to a browser on https, which then had to go through the proxy's port 80 (or failed where that is closed).
The pages are served here as Reflex serves them; the wrapper is the app's own `web_security.SecurityHeaders`.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.routing import Mount, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient
from starlette.websockets import WebSocket

from imagechat.settings import get_settings
from imagechat.web_security import SecurityHeaders, forwarded_scheme

PUBLIC = "https://chat.example.com"


async def _scheme_socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(websocket.url.scheme)
    await websocket.close()


@pytest.fixture
def app_behind(tmp_path, monkeypatch):
    """The app's middleware around a compiled-pages stand-in, with TRUSTED_PROXY_HOPS as given."""
    (tmp_path / "login").mkdir()
    (tmp_path / "login" / "index.html").write_text("<!DOCTYPE html><title>log in</title>")
    (tmp_path / "index.html").write_text("<!DOCTYPE html><title>chat</title>")

    def build(hops: int) -> TestClient:
        monkeypatch.setenv("TRUSTED_PROXY_HOPS", str(hops))
        get_settings.cache_clear()
        inner = Starlette(routes=[WebSocketRoute("/_event", _scheme_socket),
                                  Mount("/", StaticFiles(directory=tmp_path, html=True))])
        return TestClient(SecurityHeaders(inner, origins=[PUBLIC]), base_url="http://chat.example.com")

    yield build
    monkeypatch.undo()
    get_settings.cache_clear()


def _redirect(client: TestClient, headers: dict) -> str:
    r = client.get("/login", headers=headers, follow_redirects=False)
    assert r.status_code in (307, 308), r.status_code
    return r.headers["location"]


def test_redirects_stay_on_https_behind_a_trusted_proxy(app_behind):
    client = app_behind(1)
    assert _redirect(client, {"X-Forwarded-Proto": "https"}) == f"{PUBLIC}/login/"
    # A proxy that appends to what the client sent: the nearest (last) value counts, not the client's.
    assert _redirect(client, {"X-Forwarded-Proto": "http, https"}) == f"{PUBLIC}/login/"
    assert _redirect(client, {"X-Forwarded-Proto": "https, http"}) == "http://chat.example.com/login/"
    assert _redirect(client, {}) == "http://chat.example.com/login/"  # no header: the connection's own scheme
    assert _redirect(client, {"X-Forwarded-Proto": "gopher"}) == "http://chat.example.com/login/"
    with client.websocket_connect("/_event", headers={"X-Forwarded-Proto": "https", "Origin": PUBLIC}) as ws:
        assert ws.receive_text() == "wss"


def test_the_header_is_ignored_without_trusted_proxies(app_behind):
    client = app_behind(0)  # anyone can send X-Forwarded-Proto: believed only from a configured proxy
    assert _redirect(client, {"X-Forwarded-Proto": "https"}) == "http://chat.example.com/login/"
    with client.websocket_connect("/_event", headers={"X-Forwarded-Proto": "https", "Origin": PUBLIC}) as ws:
        assert ws.receive_text() == "ws"


def test_two_proxies_read_the_value_the_outer_one_recorded():
    scope = {"type": "http", "scheme": "http", "headers": [(b"x-forwarded-proto", b"https, http")]}
    assert forwarded_scheme(scope, 2)["scheme"] == "https"  # the CDN saw https; the inner proxy talked http
    assert forwarded_scheme(scope, 1)["scheme"] == "http"
    assert forwarded_scheme({"type": "lifespan"}, 1) == {"type": "lifespan"}
