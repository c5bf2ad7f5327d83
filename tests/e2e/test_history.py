"""The history page in Chromium on the prod app with a real worker: a failed job shows its reason and Retry
runs it again (live status until it succeeds), search and status filter live in the URL, a running job can be
cancelled, each job links to its chat message and its images. Screenshots at desktop and phone size."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from sqlmodel import select

from imagechat.core import conversations
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Role, User, utcnow
from tests.e2e.helpers import SUNSET, send, sign_up

pytestmark = pytest.mark.e2e

SHOTS = Path("/tmp/shots-history")
REFUSAL = "The engine refused this prompt (content policy). Change the wording and try again."
LIGHTHOUSE = "A lighthouse on a cliff in a storm, watercolor"
PARAMS = {"style": "watercolor", "width": 512, "height": 512, "n": 1, "seed": 11, "quality": "auto"}


def _user_id(name: str) -> int:
    with session_scope() as s:
        return s.exec(select(User.id).where(User.username == name)).one()


def _insert_job(owner: int, prompt: str, status: str, *, error: str | None = None, conversation_id=None,
                age_s: float = 0.0):
    """A job row as the worker leaves it (the offline engine never refuses, so a refusal is written here)."""
    created = utcnow() - timedelta(seconds=age_s)
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, conversation_id=conversation_id, engine="offline",
                            model="offline painter", prompt=prompt, status=status, error=error,
                            error_code="content_refused" if error else None, params=dict(PARAMS), attempts=1,
                            stage="Painting the sky" if status == "running" else status.capitalize(),
                            percent=40 if status == "running" else 0, created_at=created, started_at=created,
                            heartbeat_at=utcnow() if status == "running" else None,
                            finished_at=created + timedelta(seconds=1.2) if status in ("failed", "cancelled") else None)
        s.add(job)
        s.flush()
        return job.id


def test_failed_job_shows_its_reason_and_retry_runs_it_again(page: Page, console_errors, screenshots_dir):
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = sign_up(page)
    owner = _user_id(name)
    send(page, SUNSET)  # a real job on the worker: images to show
    expect(page.locator(".assistant-message").last.locator(".job-done")).to_be_visible(timeout=60_000)

    conv = conversations.create(owner, "Lighthouses")
    conversations.add_message(owner, conv.id, Role.USER, LIGHTHOUSE)
    failed = _insert_job(owner, LIGHTHOUSE, "failed", error=REFUSAL, conversation_id=conv.id, age_s=1)
    message = conversations.add_message(owner, conv.id, Role.ASSISTANT, REFUSAL, job_id=failed)
    # "Running" on no worker: with a fresh heartbeat recovery leaves it alone for JOB_STALE_AFTER_S (90 s).
    running = _insert_job(owner, "A quiet harbour at dawn", "running")

    page.goto("/history")
    rows = page.locator(".job-row")
    expect(rows).to_have_count(3)
    expect(page.locator("#history-count")).to_have_text("3 jobs")
    failed_row = page.locator(f"#job-{failed}")
    expect(failed_row.locator(".job-reason")).to_have_text(REFUSAL)
    expect(failed_row).to_contain_text("Failed")
    expect(failed_row.locator(".job-chat-link")).to_have_attribute("href", f"/?c={conv.id}&m={message.id}")
    done_row = rows.filter(has_text="sunset over mountains")
    expect(done_row).to_contain_text("Succeeded")
    thumb = done_row.locator(".job-thumb")
    expect(thumb).to_have_count(1)
    expect(thumb).to_have_attribute("href", re.compile(r"^/gallery\?image=[0-9a-f-]{36}$"))
    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                           arg=thumb.locator("img").element_handle())
    expect(page.locator(f"#job-{running}")).to_contain_text("Running")
    expect(page.locator(f"#job-{running} .job-stage")).to_have_text("Painting the sky")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.screenshot(path=SHOTS / "history-desktop.png", full_page=True)
    page.screenshot(path=screenshots_dir / "history-desktop.png", full_page=True)

    # Search and the status filter go into the URL; a reload keeps them.
    page.locator("#history-search").fill("lightho")
    expect(page).to_have_url(re.compile(r"/history\?q=lightho$"))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(LIGHTHOUSE)
    page.locator("#history-search").fill("")
    expect(rows).to_have_count(3)
    page.locator("#history-status").click()
    page.get_by_role("option", name="Failed").click()
    expect(page).to_have_url(re.compile(r"/history\?status=failed$"))
    expect(rows).to_have_count(1)
    page.reload()
    expect(rows).to_have_count(1)
    expect(page.locator("#history-status")).to_contain_text("Failed")

    # Cancel a running job.
    page.goto("/history?status=running")
    expect(rows).to_have_count(1)
    page.locator(f"#job-{running} .job-cancel").click()
    expect(page.get_by_text("Cancelled. Retry it whenever you like.")).to_be_visible()
    expect(page.locator(f"#job-{running} .job-reason")).to_have_text("Cancelled before it finished.")
    expect(page.locator(f"#job-{running} .job-cancel")).to_have_count(0)

    # Retry the failed one: a new job on top, followed live until it succeeds with its image.
    page.goto("/history")
    expect(rows).to_have_count(3)
    page.locator(f"#job-{failed} .job-retry").click()
    expect(page.get_by_text("Started again as a new job")).to_be_visible()
    expect(rows).to_have_count(4)
    top = rows.first
    expect(top).to_contain_text(LIGHTHOUSE)
    expect(top).to_contain_text("Succeeded", timeout=60_000)
    expect(top.locator(".job-thumb")).to_have_count(1)
    expect(top.locator(".job-chat-link")).to_have_attribute("href", f"/?c={conv.id}&m={message.id}")
    expect(page.locator(f"#job-{failed}")).to_contain_text("Failed")  # the old job stays in the history

    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "horizontal overflow"
    for button in (top.locator(".job-chat-link button"), page.locator(f"#job-{failed} .job-retry")):
        assert button.bounding_box()["height"] >= 44, "touch targets of at least 44 px on a phone"
    page.screenshot(path=SHOTS / "history-phone.png", full_page=True)
    page.screenshot(path=screenshots_dir / "history-phone.png", full_page=True)

    # The chat link opens the conversation.
    top.locator(".job-chat-link").click()
    expect(page).to_have_url(re.compile(rf"/\?c={conv.id}&m={message.id}$"))
    assert console_errors == []


def test_history_needs_a_session(page: Page):
    page.goto("/history")
    expect(page).to_have_url(re.compile(r"/login$"))


def test_load_more_reaches_every_job_without_gaps(page: Page, console_errors):
    name = sign_up(page)
    owner = _user_id(name)
    made = [_insert_job(owner, f"Numbered job {i:02d}", "failed", error="Refused.", age_s=100 - i) for i in range(33)]
    page.goto("/history")
    rows = page.locator(".job-row")
    expect(rows).to_have_count(30)  # history.PAGE_SIZE
    expect(page.locator("#history-count")).to_have_text("33 jobs")
    page.locator("#history-more").click()
    expect(rows).to_have_count(33)
    expect(page.locator("#history-more")).to_have_count(0)
    shown = [i.removeprefix("job-") for i in rows.evaluate_all("els => els.map(e => e.id)")]
    assert shown == [str(j) for j in reversed(made)]
    assert console_errors == []
