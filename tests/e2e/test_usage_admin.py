"""The usage and admin pages end to end, on the prod app with a real worker (offline engine):

- usage: after an offline image the page shows the budgets, the engine, the chart and the job (linked to its chat
  message); the chat warns at 80% of a budget and updates that warning when the next image finishes;
- admin: an administrator edits a user's budget and rate limit, disables and enables them (their open tab returns
  to the log-in page), downloads the ledger; a normal user gets "no such page", no menu item, a 404 for the CSV,
  and every AdminState handler they call over the websocket changes nothing.

Screenshots (desktop 1280x800 and phone 390x844) go to artifacts/screenshots/usage-*.png and admin-*.png.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlmodel import select

from imagechat.core.auth import SESSION_COOKIE
from imagechat.db import session_scope
from imagechat.models import LedgerStatus, UsageEntry, User, utcnow
from tests.e2e.helpers import SUNSET, send, sign_up
from tests.support.reflex_client import cookie_storage_vars, list_event_handlers, open_tab, run_async

pytestmark = pytest.mark.e2e

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _user(name: str) -> User:
    with session_scope() as s:
        return s.exec(select(User).where(User.username == name)).one()


def _update_user(name: str, **values) -> None:
    with session_scope() as s:
        user = s.exec(select(User).where(User.username == name)).one()
        for key, value in values.items():
            setattr(user, key, value)
        s.add(user)


def _charge(name: str, amount: float) -> None:
    """A charged ledger row, as an engine with a price would leave (the offline engine costs nothing)."""
    with session_scope() as s:
        s.add(UsageEntry(owner_id=_user(name).id, status=LedgerStatus.CHARGED, amount_usd=amount, engine="openai",
                         model="gpt-image-2", usage={}, created_at=utcnow(), settled_at=utcnow()))


def _wait_for_images(page: Page, count: int) -> None:
    expect(page.locator("img.generated-image")).to_have_count(count, timeout=90_000)


def _no_overflow(page: Page, width: int) -> None:
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"horizontal overflow: {scroll}px in a {width}px window"


def _toasts_gone(page: Page) -> None:
    """Screenshots without the notifications of the last actions over the content."""
    expect(page.locator("[data-sonner-toast]")).to_have_count(0, timeout=20_000)


def _cookies(page: Page) -> dict:
    return {c["name"]: c["value"] for c in page.context.cookies() if c["name"] == SESSION_COOKIE}


def test_usage_page_and_the_budget_warning(page: Page, screenshots_dir, console_errors):
    page.set_viewport_size(DESKTOP)
    name = sign_up(page)
    send(page, SUNSET)
    _wait_for_images(page, 1)

    page.locator("#user-menu").click()
    page.locator("#menu-usage").click()
    expect(page).to_have_url(re.compile(r"/usage$"))
    cards = page.locator(".budget-card")
    expect(cards).to_have_count(2)
    expect(cards.nth(0)).to_contain_text("Today")
    expect(cards.nth(0)).to_contain_text("of $2.00")
    expect(cards.nth(0).locator(".budget-left")).to_have_text("$2.00 left")
    expect(cards.nth(1)).to_contain_text("of $20.00")
    expect(page.locator("#usage-models")).to_contain_text("offline")
    expect(page.locator("#usage-models")).to_contain_text("1 request")
    expect(page.locator("#usage-saved")).to_have_text("$0.00")
    expect(page.locator("#usage-chart .day-bar")).to_have_count(30)
    job = page.locator("#usage-recent .recent-job")
    expect(job).to_have_count(1)
    expect(job).to_contain_text("sunset over mountains")
    expect(job).to_contain_text("Succeeded")
    href = job.locator("a.recent-prompt, .recent-prompt").first.get_attribute("href")
    assert re.fullmatch(r"/\?c=\d+&m=\d+", href or ""), href

    # Some spending (as a priced engine would leave it): figures and the chart follow.
    _charge(name, 1.25)
    page.reload()
    expect(cards.nth(0).locator(".budget-spent")).to_have_text("$1.25")
    expect(cards.nth(0).locator(".budget-left")).to_have_text("$0.75 left")
    expect(page.locator("#usage-month-total")).to_have_text("$1.25")
    expect(page.locator("#usage-warning")).to_have_count(0)  # 62%: no warning yet
    page.screenshot(path=screenshots_dir / "usage-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    _no_overflow(page, PHONE["width"])
    page.screenshot(path=screenshots_dir / "usage-phone.png", full_page=True)
    page.set_viewport_size(DESKTOP)

    # 82% of today's budget: the chat warns above the composer...
    _charge(name, 0.39)
    page.goto("/")
    warning = page.locator("#budget-warning")
    expect(warning).to_contain_text("You've used 82% of today's image budget ($1.64 of $2.00).")
    expect(warning.get_by_role("link", name="See your usage")).to_have_attribute("href", "/usage")
    # ...and says more once the next image has finished (its cost is charged while it is being made here).
    _charge(name, 0.2)
    expect(warning).to_contain_text("82%")  # nothing asks again before an image finishes
    send(page, "another one")
    _wait_for_images(page, 2)
    expect(warning).to_contain_text("You've used 92% of today's image budget ($1.84 of $2.00).")
    page.set_viewport_size(PHONE)
    page.screenshot(path=screenshots_dir / "usage-chat-warning-phone.png")
    assert not console_errors, console_errors


def _handler(short: str) -> str:
    return next(h.name for h in list_event_handlers() if h.short == short)


def _call(base_url: str, cookies: dict, calls: list[tuple[str, object]]) -> list[str]:
    """Call handlers in one websocket tab on /admin signed in with `cookies`; the text each call sent back."""
    names = [_handler(short) for short, _ in calls]

    async def scenario():
        tab = await open_tab(base_url, path="/admin", cookies=cookies, storage_vars=cookie_storage_vars(cookies))
        try:
            out = []
            for handler, (_, payload) in zip(names, calls, strict=True):
                await tab.send(handler, payload, path="/admin")
                out.append((await tab.collect(quiet=0.5, max_wait=10)).text)
            return out
        finally:
            await tab.close()

    return run_async(scenario)


def _limits(name: str) -> tuple:
    user = _user(name)
    return user.daily_budget_usd, user.monthly_budget_usd, user.rate_limit, user.disabled_at


def test_admin_page(page: Page, browser: Browser, base_url: str, screenshots_dir, console_errors):
    # A normal user, signed in in a browser of their own.
    other = browser.new_context(viewport=DESKTOP, base_url=base_url)
    user_page = other.new_page()
    victim = sign_up(user_page)
    user_page.locator("#user-menu").click()
    expect(user_page.locator("#menu-usage")).to_be_visible()
    expect(user_page.locator("#menu-admin")).to_have_count(0)
    user_page.keyboard.press("Escape")
    user_page.goto("/admin")
    expect(user_page.locator("#admin-not-found")).to_contain_text("There is no such page.")
    expect(user_page.locator("#admin-users")).to_have_count(0)
    assert user_page.request.get("/api/admin/ledger.csv").status == 404

    # The administrator (made one in the database; a new tab reads the account afresh).
    page.set_viewport_size(DESKTOP)
    boss = sign_up(page)
    _update_user(boss, is_admin=True)
    page = page.context.new_page()
    page.set_viewport_size(DESKTOP)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    page.goto("/")
    page.locator("#user-menu").click()
    page.locator("#menu-admin").click()
    expect(page).to_have_url(re.compile(r"/admin$"))
    expect(page.locator("#admin-global-spent")).to_have_text(re.compile(r"^\$[\d,]+\.\d\d$"))
    expect(page.locator('.ops-fact[data-label="Workers alive"]')).not_to_contain_text("0")
    expect(page.locator(".ops-fact")).to_have_count(7)

    # Find the user, give them their own daily budget and rate limit.
    page.locator("#admin-search").fill(victim)
    row = page.locator(f"#admin-user-{victim}")
    expect(row).to_be_visible()
    expect(page.locator(".admin-user")).to_have_count(1)
    expect(row.locator(".admin-limits")).to_contain_text("$2.00 a day (default)")
    row.locator(".admin-edit").click()
    dialog = page.locator("#limits-dialog")
    expect(dialog).to_contain_text(f"Limits of {victim}")
    dialog.locator("#limit-daily").fill("abc")
    dialog.locator("#limits-save").click()
    expect(dialog.locator("#limits-error")).to_contain_text("Type a budget in dollars")
    assert _limits(victim) == (None, None, None, None)
    dialog.locator("#limit-daily").fill("0.50")
    dialog.locator("#limit-rate").fill("3/minute")
    page.screenshot(path=screenshots_dir / "admin-limits-dialog-desktop.png")
    dialog.locator("#limits-save").click()
    expect(dialog).to_be_hidden()
    expect(row.locator(".admin-limits")).to_contain_text("$0.50 a day (own)")
    expect(row.locator(".admin-limits")).to_contain_text("$20.00 a month (default)")
    expect(row.locator(".admin-limits")).to_contain_text("3/minute (own)")
    assert _limits(victim) == (0.5, None, "3/minute", None)

    # The user sees their own cap on their usage page.
    user_page.goto("/usage")
    expect(user_page.locator(".budget-card").nth(0)).to_contain_text("of $0.50")

    # A normal user's websocket calls to every AdminState action change nothing and learn nothing.
    boss_id, victim_id = _user(boss).id, _user(victim).id
    replies = _call(base_url, _cookies(user_page), [
        ("AdminState.load", {}),
        ("AdminState.set_search", {"value": boss}),
        ("AdminState.edit_limits", {"user_id": victim_id}),
        ("AdminState.save_limits", {"form": {"daily": "999", "monthly": "999", "rate": "1000/second"}}),
        ("AdminState.ask_disable", {"user_id": boss_id}),
        ("AdminState.disable", {}),
        ("AdminState.enable", {"user_id": boss_id}),
        ("AdminState.refresh", {}),
    ])
    assert not any(boss in reply for reply in replies)
    assert _limits(victim) == (0.5, None, "3/minute", None) and _limits(boss)[3] is None

    # The administrator's own calls with arguments no page sends: refused with a message, nothing changes.
    hostile = _call(base_url, _cookies(page), [
        ("AdminState.edit_limits", {"user_id": "1 OR 1=1"}),
        ("AdminState.edit_limits", {"user_id": {"$gt": 0}}),
        ("AdminState.save_limits", {"form": {"daily": "5"}}),  # no user chosen in this tab
        ("AdminState.enable", {"user_id": 2**70}),
        ("AdminState.ask_disable", {"user_id": None}),
        ("AdminState.set_search", {"value": "x" * 100_000}),
        ("AdminState.set_search", {"value": ["x"]}),
        ("AdminState.set_search", {"value": victim}),
        ("AdminState.edit_limits", {"user_id": victim_id}),
        ("AdminState.save_limits", {"form": {"daily": {"$gt": 0}, "monthly": None, "rate": ["1/second"]}}),
        ("AdminState.save_limits", {"form": "daily=1"}),
        ("AdminState.save_limits", {"form": {"daily": "1e400", "rate": "<reflex.Var>x</reflex.Var>"}}),
    ])
    assert not any("An error occurred" in r or "backend_error" in r for r in hostile), hostile
    assert "not in the list" in hostile[0] and "at most 32 characters" in hostile[5]
    assert "Type a budget in dollars" in hostile[9]
    assert _limits(victim) == (0.5, None, "3/minute", None) and _limits(boss)[3] is None

    # Disable the user: their open tab goes back to the log-in page; enable them again.
    page.locator("#admin-search").fill("")
    expect(page.locator(".admin-user")).not_to_have_count(1)
    page.locator("#admin-search").fill(victim)
    expect(page.locator(".admin-user")).to_have_count(1)
    row.locator(".admin-disable").click()
    expect(page.get_by_role("alertdialog")).to_contain_text(f"Disable {victim}?")
    page.locator("#confirm-disable").click()
    expect(row.locator(".admin-disabled")).to_be_visible()
    assert _limits(victim)[3] is not None
    expect(user_page).to_have_url(re.compile(r"/login\?error=session_ended"), timeout=20_000)
    row.locator(".admin-enable").click()
    expect(row.locator(".admin-disabled")).to_have_count(0)
    assert _limits(victim)[3] is None

    # The ledger as CSV, for the administrator only.
    csv = page.request.get("/api/admin/ledger.csv")
    assert csv.status == 200 and csv.text().startswith("id,created_at,settled_at,user_id,username,job_id,status")
    with page.expect_download() as download:
        page.locator("#admin-ledger-csv").click()
    assert download.value.suggested_filename.startswith("imagechat-ledger-")

    page.locator("#admin-search").fill("")
    expect(page.locator(".admin-user")).not_to_have_count(1)
    mine = page.locator(f"#admin-user-{boss}")
    expect(mine.locator(".admin-edit")).to_be_visible()
    expect(mine.locator(".admin-disable")).to_have_count(0)  # nobody disables themselves here
    _toasts_gone(page)
    page.screenshot(path=screenshots_dir / "admin-desktop.png", full_page=True)
    page.set_viewport_size(PHONE)
    _no_overflow(page, PHONE["width"])
    page.screenshot(path=screenshots_dir / "admin-phone.png", full_page=True)
    other.close()
    assert not [e for e in console_errors if "Failed to load resource" not in e], console_errors


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_usage_and_admin_accessibility(browser: Browser, base_url: str, viewport: str):
    """axe finds no serious or critical violation on either page; every control has a name; on the usage page
    every Tab stop shows a focus ring (the admin page's stops grow with its users: axe and names only there)."""
    from tests.e2e.test_accessibility import UNNAMED_CONTROLS, VIEWPORTS, audit, check_axe

    ctx = browser.new_context(base_url=base_url, bypass_csp=True, **VIEWPORTS[viewport])
    try:
        page = ctx.new_page()
        name = sign_up(page)
        _charge(name, 1.70)  # a warning and a filled bar
        _update_user(name, is_admin=True)
        page.goto("/usage")
        expect(page.locator("#usage-warning")).to_be_visible()
        audit(page, f"usage ({viewport})")
        page.goto("/admin")
        expect(page.locator(".admin-user").first).to_be_visible()
        check_axe(page, f"admin ({viewport})")
        assert page.evaluate(UNNAMED_CONTROLS) == []
        page.locator(".admin-edit").first.click()
        expect(page.locator("#limits-dialog")).to_be_visible()
        page.wait_for_function("() => document.getAnimations().every(a => a.playState !== 'running')")
        check_axe(page, f"admin limits dialog ({viewport})")
    finally:
        ctx.close()
