"""Shared steps of the browser tests."""

from __future__ import annotations

import re
import uuid

from playwright.sync_api import Page, expect

PASSWORD = "violet-lake-2026"
SUNSET = "Create an image of a sunset over mountains with a lake reflection"
SLOW = "draw 4 wide images of a city skyline at night"  # 4 x 1792x1024: several seconds offline


def sign_up(page: Page, name: str | None = None) -> str:
    name = name or f"e2e_{uuid.uuid4().hex[:8]}"
    page.goto("/login")
    page.get_by_role("tab", name="Sign up").click()
    page.locator("#signup-username").fill(name)
    page.locator("#signup-password").fill(PASSWORD)
    page.locator("#signup-submit").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#user-menu")).to_contain_text(name)
    return name


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Prompt")
    box.fill(text)
    box.press("Enter")
