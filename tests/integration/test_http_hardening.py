"""Browser hardening over HTTP: security headers on every response, CORS and the websocket only for the app's origins.

The app is assembled the way Reflex 0.10.1 assembles it in prod (reflex/app.py `App.__call__`): Reflex's own
Starlette (ping, the /_event websocket, the compiled pages) mounted under our API routes, then the
api_transformer callables (our `secure_app`), then an outer Starlette; each layer gets Reflex's CORS middleware
(`App._add_cors`, configured from rxconfig.py). Only the page files and the websocket endpoint are stand-ins.
"""

from __future__ import annotations

import base64
import hashlib
import uuid

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient
from starlette.websockets import WebSocket, WebSocketDisconnect

from imagechat.api import routes as api_routes
from imagechat.settings import Settings, get_settings
from imagechat.web_security import content_security_policy, inline_script_hashes, secure_app

PORT = 4123
OWN = f"http://127.0.0.1:{PORT}"
FOREIGN = "http://evil.example"
INLINE = 'window.__reactRouterContext = {"basename": "/"};'
PAGE = f"""<!DOCTYPE html><html><head><script>{INLINE}</script><script type="module" src="/assets/app.js"></script>
<script type="module" async="">import "/assets/app.js";</script></head><body><div id="root"></div></body></html>"""


async def _socket(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("hello")
    await websocket.close()


def _ping(request):
    return PlainTextResponse("pong")


def _own_header(request):
    return PlainTextResponse("x", headers={"Referrer-Policy": "same-origin"})


@pytest.fixture(scope="module")
def reflex_config():
    """rxconfig.py as `reflex run --frontend-port 4123` loads it (Reflex exports REFLEX_FRONTEND_PORT)."""
    from reflex.config import reload_config

    mp = pytest.MonkeyPatch()
    mp.setenv("REFLEX_FRONTEND_PORT", str(PORT))
    mp.delenv("CORS_ALLOWED_ORIGINS", raising=False)
    get_settings.cache_clear()
    yield reload_config()
    mp.undo()
    get_settings.cache_clear()
    reload_config()


@pytest.fixture(scope="module")
def pages(tmp_path_factory, reflex_config):
    """A compiled-frontend stand-in where Reflex keeps it: REFLEX_WEB_WORKDIR/build/client."""
    web = tmp_path_factory.mktemp("web")
    client_dir = web / "build" / "client"
    (client_dir / "assets").mkdir(parents=True)
    (client_dir / "index.html").write_text(PAGE)
    (client_dir / "assets" / "app.js").write_text("console.log('app')")
    (client_dir / "assets" / "_gallery_._index-HDDIWCAg.js").write_text("console.log('hashed')")
    mp = pytest.MonkeyPatch()
    mp.setenv("REFLEX_WEB_WORKDIR", str(web))
    yield client_dir
    mp.undo()


@pytest.fixture(scope="module")
def client(pages):
    from reflex.app import App

    reflex_api = Starlette(routes=[
        Route("/ping", _ping),
        WebSocketRoute("/_event", _socket),
        Route("/own-header", _own_header),
        Mount("/", StaticFiles(directory=pages, html=True)),
    ])
    App._add_cors(reflex_api)
    ours = Starlette(routes=list(api_routes))
    App._add_cors(ours)
    ours.mount("", reflex_api)
    top = Starlette()
    top.mount("", secure_app(ours))
    App._add_cors(top)
    with TestClient(top, base_url=OWN) as c:
        yield c


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _directives(csp: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}


def test_rxconfig_allows_only_the_apps_own_origins(reflex_config):
    assert list(reflex_config.cors_allowed_origins) == [OWN, f"http://localhost:{PORT}"]


def test_cors_origins_are_configurable_and_never_a_wildcard(monkeypatch):
    monkeypatch.setenv("CORS_ALLOWED_ORIGINS", "https://chat.example.com, http://10.0.0.5:3000/")
    assert Settings().app_origins(PORT) == ["https://chat.example.com", "http://10.0.0.5:3000"]
    for bad in ("*", "https://chat.example.com/path", "null", "chat.example.com"):
        monkeypatch.setenv("CORS_ALLOWED_ORIGINS", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_only_the_builds_hashed_files_are_cached_for_good(client):
    hashed = client.get("/assets/_gallery_._index-HDDIWCAg.js")
    assert hashed.status_code == 200 and hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert "immutable" not in client.get("/assets/app.js").headers.get("cache-control", "")  # no hash in the name
    assert "immutable" not in client.get("/").headers.get("cache-control", "")  # pages change with each build
    assert client.get("/assets/missing-HDDIWCAg.js").status_code == 404
    assert "immutable" not in client.get("/assets/missing-HDDIWCAg.js").headers.get("cache-control", "")


@pytest.mark.parametrize("path,status", [
    ("/", 200),  # a compiled page
    ("/assets/app.js", 200),  # a static asset
    ("/ping", 200),  # Reflex's own route
    (f"/api/images/{uuid.uuid4()}/full", 401),  # our API routes, errors included
    ("/no-such-page", 404),
])
def test_security_headers_on_every_response(client, path, status):
    r = client.get(path)
    assert r.status_code == status
    csp = _directives(r.headers["content-security-policy"])
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert csp["img-src"] == ["'self'", "data:", "blob:"]
    assert "'unsafe-inline'" not in csp["script-src"] and "*" not in r.headers["content-security-policy"]
    assert _sha(INLINE) in csp["script-src"]  # the page's own inline script, by hash
    assert {OWN, f"ws://127.0.0.1:{PORT}", f"ws://localhost:{PORT}"} <= set(csp["connect-src"])
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "camera=()" in r.headers["permissions-policy"] and "microphone=()" in r.headers["permissions-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_a_routes_own_header_is_kept(client):
    r = client.get("/own-header")
    assert r.headers.get_list("referrer-policy") == ["same-origin"]


def test_only_the_pages_inline_scripts_are_hashed(pages):
    # Inline ones only (a <script src> is covered by 'self'), sorted, each once.
    assert inline_script_hashes([pages / "index.html"] * 2) == sorted([_sha('import "/assets/app.js";'), _sha(INLINE)])
    policy = content_security_policy([OWN], [])
    assert "script-src 'self' 'unsafe-eval';" in policy


@pytest.mark.parametrize("method,path,request_headers", [
    ("POST", "/api/auth/login", "content-type"),
    ("GET", f"/api/images/{uuid.uuid4()}/full", "x-requested-with"),
])
def test_cors_preflight_from_a_foreign_origin_gets_no_allow_origin(client, method, path, request_headers):
    headers = {"Access-Control-Request-Method": method, "Access-Control-Request-Headers": request_headers}
    foreign = client.options(path, headers={**headers, "Origin": FOREIGN})
    assert "access-control-allow-origin" not in foreign.headers
    assert foreign.status_code == 400

    own = client.options(path, headers={**headers, "Origin": OWN})
    assert own.status_code == 200
    assert own.headers["access-control-allow-origin"] == OWN
    assert own.headers["access-control-allow-credentials"] == "true"


def test_a_cross_origin_read_gets_no_allow_origin(client):
    path = f"/api/images/{uuid.uuid4()}/full"
    assert "access-control-allow-origin" not in client.get(path, headers={"Origin": FOREIGN}).headers
    assert client.get(path, headers={"Origin": OWN}).headers["access-control-allow-origin"] == OWN


def test_websocket_only_from_the_apps_own_origin(client):
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/_event", headers={"Origin": FOREIGN}):
            pass
    assert refused.value.code == 1008
    for headers in ({"Origin": OWN}, {"Origin": f"http://localhost:{PORT}"}, {}):  # no Origin: not a browser
        with client.websocket_connect("/_event", headers=headers) as ws:
            assert ws.receive_text() == "hello"
