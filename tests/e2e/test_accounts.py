"""Accounts in the browser: the session cookie is out of the page's reach, and a session that ends (log-out in
another tab, `users disable`) sends every open tab of it to the log-in page within seconds."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from imagechat.core import auth
from imagechat.core.auth import SESSION_COOKIE
from tests.e2e.helpers import sign_up

pytestmark = pytest.mark.e2e

ENDS_WITHIN_S = 6.0  # SESSION_CHECK_S is 2 s; the rest is margin for a busy 2-core machine
LOGIN = re.compile(r"/login(\?|$)")


def _frames(page: Page) -> list[str]:
    """Every websocket frame the page sends or receives from now on (Reflex state and events)."""
    frames: list[str] = []

    def on_ws(ws):
        ws.on("framereceived", lambda payload: frames.append(str(payload)))
        ws.on("framesent", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_ws)
    return frames


def _session_cookie(page: Page) -> dict:
    cookies = [c for c in page.context.cookies() if c["name"] == SESSION_COOKIE]
    assert len(cookies) == 1, page.context.cookies()
    return cookies[0]


def test_session_cookie_never_reaches_the_page(page: Page, console_errors):
    frames = _frames(page)
    sign_up(page)
    cookie = _session_cookie(page)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert not cookie["secure"]  # served over plain http here; over https the route adds Secure
    token = cookie["value"]
    assert len(token) >= 40
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    page.reload()
    expect(page.locator("#user-menu")).to_be_visible()
    assert SESSION_COOKIE not in page.evaluate("document.cookie")
    assert token not in page.content()
    assert frames and not [f for f in frames if token in f]  # not in Reflex state, not in any event
    assert not [f for f in frames if auth.token_hash(token) in f]
    assert console_errors == []


def _wait_for_login(page: Page) -> float:
    started = time.monotonic()
    expect(page).to_have_url(LOGIN, timeout=ENDS_WITHIN_S * 1000)
    return time.monotonic() - started


def test_log_out_in_one_tab_ends_the_other(browser: Browser, base_url: str):
    ctx = browser.new_context(base_url=base_url)
    try:
        first, second = ctx.new_page(), ctx.new_page()
        name = sign_up(first)
        second.goto("/gallery")  # the same session, another page: its on_load starts its own watcher
        expect(second.locator("#user-menu")).to_contain_text(name)
        second.locator("#user-menu").click()
        second.get_by_role("menuitem", name="Chat").click()  # navigating keeps one live watcher per tab
        expect(second).to_have_url(re.compile(r"/$"))
        expect(second.get_by_role("textbox", name="Prompt")).to_be_visible()

        first.locator("#user-menu").click()
        first.locator("#log-out").click()
        expect(first).to_have_url(re.compile(r"/login$"))
        took = _wait_for_login(second)
        expect(second.locator("#auth-error")).to_contain_text("You were logged out")
        expect(second.locator("#user-menu")).to_have_count(0)
        assert took < ENDS_WITHIN_S
        second.goto("/")
        expect(second).to_have_url(re.compile(r"/login$"))  # the cookie is gone for the whole browser
        assert not [c for c in ctx.cookies() if c["name"] == SESSION_COOKIE]
    finally:
        ctx.close()


def test_disabling_a_user_ends_their_open_tabs(page: Page):
    name = sign_up(page)
    auth.set_disabled(name, True)  # what `python -m imagechat users disable NAME` does
    _wait_for_login(page)
    expect(page.locator("#auth-error")).to_contain_text("You were logged out")
    page.get_by_role("tab", name="Log in").click()
    page.locator("#login-username").fill(name)
    page.locator("#login-password").fill("violet-lake-2026")
    page.locator("#login-submit").click()
    expect(page.locator("#auth-error")).to_contain_text("This account is disabled")


def test_login_page_shows_only_known_messages(page: Page, console_errors):
    page.goto("/login?error=login_throttled&wait=42&tab=signup&username=ada")
    expect(page.locator("#auth-error")).to_have_text("Too many log-in attempts. Wait 42 s and try again.")
    expect(page.get_by_role("tab", name="Sign up")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#signup-username")).to_have_value("ada")
    page.goto("/login?error=%3Cb%3Eowned%3C%2Fb%3E&username=%3Cimg%20src%3Dx%3E")
    expect(page.locator("#login-username")).to_be_visible()
    expect(page.locator("#auth-error")).to_have_count(0)  # an unknown code shows nothing, its text never
    expect(page.locator("#login-username")).to_have_value("")
    assert console_errors == []
