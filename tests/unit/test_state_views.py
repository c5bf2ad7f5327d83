"""The states' pure helpers (imagechat/state/views.py): what a page draws from domain data and events."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from imagechat.core.conversations import ImageRef, MessageView
from imagechat.core.progress import ProgressEvent
from imagechat.models import JobStatus, Role
from imagechat.state.views import ChatMessage, apply_event, as_uuid, chat_message

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def _ref(image_id: str, prompt: str = "a fox") -> ImageRef:
    return ImageRef(id=image_id, width=1024, height=1024, prompt=prompt, style=None, parent_id=None)


def test_a_finished_edit_shows_its_images_prompt_and_before():
    view = MessageView(id=5, role=Role.ASSISTANT, content="Reworking...", created_at=NOW, job_id="j1",
                       job_status=JobStatus.SUCCEEDED, images=[_ref("a"), _ref("b")], before=_ref("z"))
    assert chat_message(view) == ChatMessage(id=5, role="assistant", text="Reworking...", job_id="j1",
                                             status="succeeded", percent=100, image_ids=["a", "b"],
                                             prompt="a fox", before_id="z")


def test_a_refused_request_offers_retry_and_a_plain_reply_has_no_job():
    refused = MessageView(id=2, role=Role.ASSISTANT, content="Try again in 30 s.", created_at=NOW,
                          error_code="rate_limited")
    item = chat_message(refused)
    assert item.retryable and item.job_id == "" and item.status == "" and item.percent == 0


def test_a_failed_job_carries_its_error():
    view = MessageView(id=3, role=Role.ASSISTANT, content="...", created_at=NOW, job_id="j",
                       job_status=JobStatus.FAILED, job_error="The engine refused.")
    item = chat_message(view)
    assert (item.status, item.error, item.percent, item.retryable) == ("failed", "The engine refused.", 0, False)


def test_events_update_only_their_own_message_and_keep_the_last_preview():
    messages = [ChatMessage(id=1, role="assistant", text="", job_id="a"),
                ChatMessage(id=2, role="assistant", text="", job_id="b")]
    running = ProgressEvent(job_id="b", status=JobStatus.RUNNING, percent=41.7, stage="Painting",
                            preview_url="/p?v=1")
    assert apply_event(messages, running) is False
    assert (messages[1].status, messages[1].percent, messages[1].stage) == ("running", 41, "Painting")
    assert messages[0] == ChatMessage(id=1, role="assistant", text="", job_id="a")

    later = ProgressEvent(job_id="b", status=JobStatus.RUNNING, percent=80, stage="Finishing")
    apply_event(messages, later)
    assert messages[1].preview_url == "/p?v=1"  # an event without a preview keeps the last one

    done = ProgressEvent(job_id="b", status=JobStatus.SUCCEEDED, percent=100, stage="Done", image_ids=["x"])
    assert apply_event(messages, done) is True
    assert (messages[1].image_ids, messages[1].percent) == (["x"], 100)


def test_queue_position_and_error_are_cleared_by_later_events():
    messages = [ChatMessage(id=1, role="assistant", text="", job_id="a")]
    apply_event(messages, ProgressEvent(job_id="a", status=JobStatus.QUEUED, queue_position=3))
    assert messages[0].queue_position == 3
    apply_event(messages, ProgressEvent(job_id="a", status=JobStatus.RUNNING, percent=1))
    assert messages[0].queue_position == 0


def test_an_event_for_an_unknown_job_changes_nothing():
    messages = [ChatMessage(id=1, role="assistant", text="", job_id="a")]
    assert apply_event(messages, ProgressEvent(job_id="zzz", status=JobStatus.SUCCEEDED)) is False
    assert messages == [ChatMessage(id=1, role="assistant", text="", job_id="a")]


@pytest.mark.parametrize("value", ["", "x", "<reflex.Var>x</reflex.Var>", "12345678-1234-1234-1234-12345678901",
                                   "a" * 5000, None, 7, ["list"], "img-1; alert(1)"])
def test_as_uuid_refuses_anything_but_a_uuid(value):
    assert as_uuid(value) == ""


def test_as_uuid_gives_the_canonical_form():
    value = uuid.uuid4()
    assert as_uuid(str(value).upper()) == str(value)
    assert as_uuid("{" + str(value) + "}") == str(value)
