"""Browser hardening and log flooding, against the real prod app (`reflex run --env prod`, one Granian port).

- Every response carries the CSP (frame-ancestors 'none', the compiled pages' inline scripts by hash) and the other
  security headers; a page of another origin cannot frame the app; a websocket from a foreign Origin is refused.
- A whole chat (sign up, image job, second message, menu, download, gallery) runs with no CSP violation.
- HTML in an assistant reply (`<img onerror>`, `<script>`) is shown as text and never runs; links in replies open
  with rel="noopener noreferrer"; `javascript:` links are neutralised.
- Front-end exception reports, which any client may send, are rate-limited and cut to size in the app's log.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import time
import uuid
from urllib.parse import urlsplit
from urllib.request import urlopen

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import ARTIFACTS
from tests.e2e.helpers import SUNSET, send, sign_up

pytestmark = pytest.mark.e2e

# Collects the browser's own CSP violation events (an init script runs before the page's scripts; CSP does not
# apply to it).
REPORT_VIOLATIONS = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
    `${e.violatedDirective} blocked ${e.blockedURI || 'inline'} (${(e.sample || '').slice(0, 80)})`));
"""
FRONTEND_EXCEPTION_EVENT = ("reflex___state____state.reflex___state____frontend_event_exception_state"
                            ".handle_frontend_exception")
PER_TAB_LIMIT, MAX_CHARS = 5, 2000  # Settings defaults: FRONTEND_ERRORS_PER_MINUTE, FRONTEND_ERROR_MAX_CHARS


def _csp(headers: dict) -> dict[str, list[str]]:
    policy = headers["content-security-policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def _upgrade_status(base_url: str, origin: str) -> str:
    """The status line the server answers a websocket upgrade to /_event with, sent from `origin`."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        key = base64.b64encode(os.urandom(16)).decode()
        s.sendall((f"GET /_event/?EIO=4&transport=websocket&token={uuid.uuid4()} HTTP/1.1\r\n"
                   f"Host: {url.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {origin}\r\n\r\n").encode())
        return s.recv(4096).split(b"\r\n", 1)[0].decode()


def test_security_headers_on_pages_assets_routes_and_the_websocket(page: Page, base_url: str):
    response = page.goto("/login")
    csp = _csp(response.headers)
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["object-src"] == ["'none'"] and csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in csp["script-src"]
    assert any(src.startswith("'sha256-") for src in csp["script-src"])
    assert f"ws://{urlsplit(base_url).netloc}" in csp["connect-src"]
    assert response.headers["x-frame-options"] == "DENY"

    asset = re.search(r'src="(/assets/[^"]+\.js)"', page.content()) or re.search(r'href="(/assets/[^"]+)"',
                                                                                    page.content())
    for path in ("/", asset.group(1), "/ping", f"/api/images/{uuid.uuid4()}/thumb"):
        try:
            resp = urlopen(base_url + path, timeout=10)
        except Exception as exc:  # noqa: BLE001 - 401/404 carry the headers too
            resp = exc
        headers = {k.lower(): v for k, v in resp.headers.items()}
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["referrer-policy"] == "no-referrer", path
        assert headers["x-content-type-options"] == "nosniff", path
        assert "camera=()" in headers["permissions-policy"], path

    assert _upgrade_status(base_url, "http://evil.example").split()[1] == "403"
    assert _upgrade_status(base_url, base_url).split()[1] == "101"


def test_another_origin_cannot_frame_the_app(page: Page, base_url: str):
    page.goto(base_url + "/login")
    expect(page.locator("#login-username")).to_be_visible()  # what a framed page would show
    page.goto("about:blank")
    page.set_content(f'<iframe id="app" src="{base_url}/login" width="600" height="400"></iframe>')
    frame = page.frame(name="app")
    deadline = time.monotonic() + 15
    while not frame.url.startswith("chrome-error://") and time.monotonic() < deadline:
        page.wait_for_timeout(200)
    assert frame.url.startswith("chrome-error://"), f"the app loaded inside a frame: {frame.url}"
    assert frame.locator("#login-username").count() == 0


def test_a_whole_chat_runs_without_csp_violations(page: Page, base_url: str, console_errors):
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)
    page.add_init_script(REPORT_VIOLATIONS)
    sign_up(page)
    send(page, SUNSET)
    expect(page.locator(".assistant-message").last.locator(".job-done")).to_be_visible(timeout=60_000)
    send(page, "what can you do?")
    expect(page.locator(".assistant-message")).to_have_count(2)
    expect(page.locator("#msg--1")).to_have_count(0)  # the reply is saved (no placeholder re-rendering under us)
    page.locator("#user-menu").click()
    page.keyboard.press("Escape")
    # The user menu gives focus back to its button as it closes: a menu opened before that would lose focus.
    expect(page.get_by_role("menu")).to_have_count(0)
    page.locator(".download-menu-trigger").first.click()
    with page.expect_download() as download:
        page.locator(".download-png-original").click()
    assert download.value.suggested_filename.endswith(".png")
    link = page.locator(".generated-image").first.locator("xpath=..")
    assert link.get_attribute("rel") == "noopener noreferrer"
    violations = page.evaluate("window.__csp")
    page.goto("/gallery")
    expect(page.locator(".gallery-prompt").first).to_be_visible()
    violations += page.evaluate("window.__csp")

    assert violations == [] and console == [], "\n".join(violations + console)
    assert console_errors == []


def _owner_and_conversation(username: str) -> tuple[int, int]:
    from sqlmodel import select

    from imagechat.core import conversations
    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        user_id = s.exec(select(User.id).where(User.username == username)).one()
    return user_id, conversations.list_for(user_id)[0].id


def test_html_in_an_assistant_reply_is_text_and_never_runs(page: Page, base_url: str):
    from imagechat.core import conversations
    from imagechat.models import Role

    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    user = sign_up(page)
    owner, conversation = _owner_and_conversation(user)
    reply = ("Here you go <img src=x onerror=\"window.__pwned='img';alert(1)\"> and "
             "<script>window.__pwned='script';alert(2)</script> and <b>bold?</b>\n\n"
             "[the docs](https://example.com/docs) or [click me](javascript:window.__pwned='link')")
    conversations.add_message(owner, conversation, Role.ASSISTANT, reply)
    page.reload()

    bubble = page.locator(".assistant-text").last
    expect(bubble).to_contain_text("<img src=x onerror=")
    expect(bubble).to_contain_text("<script>window.__pwned='script';alert(2)</script>")
    expect(bubble).to_contain_text("<b>bold?</b>")
    assert bubble.locator("img, script, b").count() == 0

    docs = bubble.get_by_role("link", name="the docs")
    assert docs.get_attribute("href") == "https://example.com/docs"
    assert docs.get_attribute("rel") == "noopener noreferrer" and docs.get_attribute("target") == "_blank"
    evil = bubble.get_by_role("link", name="click me")
    assert "javascript" not in (evil.get_attribute("href") or "")
    evil.click()
    page.wait_for_timeout(500)
    assert page.evaluate("window.__pwned") is None and dialogs == []


def _frontend_reports(log_path, marker: str) -> tuple[list[dict], list[dict]]:
    """(reports carrying the marker, limit warnings) from the app's log (JSON lines, one per record)."""
    reports, warnings = [], []
    for line in log_path.read_text(errors="replace").splitlines():
        if not line.startswith("{") or '"imagechat.frontend"' not in line:
            continue
        entry = json.loads(line)
        if marker in entry["msg"]:
            reports.append(entry)
        elif "over the limit" in entry["msg"]:
            warnings.append(entry)
    return reports, warnings


def test_frontend_exception_reports_are_rate_limited_and_capped(page: Page, base_url: str):
    """Any client may send the error boundary's exception event with any text: a tab that sends 20 reports of
    50 000 characters gets at most FRONTEND_ERRORS_PER_MINUTE of them into the log, each cut to size."""
    from imagechat.state.chat import ChatState

    sockets = []

    def route(ws):
        sockets.append(ws.connect_to_server())  # the page's own socket, forwarded both ways

    page.route_web_socket(re.compile(r"/_event"), route)
    sign_up(page)
    log_path = ARTIFACTS / "e2e-reflex-offline.log"

    def send_event(name: str, payload: dict) -> None:
        event = {"name": name, "payload": payload, "router_data": {"pathname": "/", "asPath": "/"}}
        sockets[-1].send("42/_event," + json.dumps(["event", event]))

    def burst(marker: str, count: int = 20) -> list[dict]:
        for i in range(count):
            send_event(FRONTEND_EXCEPTION_EVENT, {"info": f"Error: {marker} #{i:02d} " + "x" * 50_000,
                                                  "component_stack": ""})
        # A tab's events are processed in order: once this one shows, every report before it was handled.
        send_event(f"{ChatState.get_full_name()}.use_prompt", {"prompt": marker})
        expect(page.get_by_role("textbox", name="Prompt")).to_have_value(marker, timeout=90_000)
        time.sleep(0.5)
        return _frontend_reports(log_path, marker)[0]

    reports = burst(f"E2E-FLOOD-{uuid.uuid4().hex[:8]}")
    if len(reports) < PER_TAB_LIMIT:  # other tests (the event-handler sweep) used this minute's budget for all tabs
        time.sleep(61)
        reports = burst(f"E2E-FLOOD-{uuid.uuid4().hex[:8]}")

    assert PER_TAB_LIMIT <= len(reports) <= 2 * PER_TAB_LIMIT, "a minute boundary may let a second batch in"
    for entry in reports:
        assert len(entry["msg"]) <= len("front-end exception: ") + MAX_CHARS + len(" ...[cut]")
        assert entry["msg"].endswith("...[cut]") and entry["chars"] > 50_000
        assert re.fullmatch(r"[0-9a-f]{12}", entry["client"])  # a hash of the tab's token, never the token
    _, warnings = _frontend_reports(log_path, "no marker")
    assert warnings, "dropping reports is logged"
