"""The hostile corpus (tests/hostile.py) through the domain, the HTTP routes and the command line: each value
gets a clear message or a correct result, never an unexpected exception, a 500, a hang over a second, a
driver's error text or a half-written row. Websocket events and the browser have their own tests (e2e)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid

import pytest
from sqlalchemy import func
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import routes
from imagechat.core import auth, chat, conversations, gallery, jobs
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import ImagechatError
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import Conversation, GenerationJob, Message, UsageEntry, User
from tests import hostile
from tests.support.services import ROOT

LEAKS = ("Traceback", "psycopg", "sqlalchemy", "OperationalError", "DataError", "127.0.0.1:5432", "File \"")


def _clear(message: str) -> None:
    assert message and len(message) < 600, message
    assert not any(leak in message for leak in LEAKS), message


def _counts(owner: int) -> tuple[int, int, int, int]:
    with session_scope() as s:
        return tuple(int(s.exec(select(func.count()).select_from(model).where(model.owner_id == owner)).one())
                     for model in (Conversation, Message, GenerationJob, UsageEntry))


@pytest.fixture
def owner(make_user, private_namespace):
    private_namespace(rate_limit="100000/minute")  # no worker: accepted jobs wait; cancelled at the end
    user = make_user()
    yield user
    with session_scope() as s:
        pending = s.exec(select(GenerationJob.id).where(GenerationJob.owner_id == user,
                                                        GenerationJob.status.in_(("queued", "running")))).all()
    for job_id in pending:
        jobs.cancel(user, job_id)


def test_the_corpus_is_big_enough():
    assert hostile.CORPUS_SIZE >= 200


@pytest.mark.parametrize("text", hostile.TEXT, ids=range(len(hostile.TEXT)))
def test_chat_turns(owner, text):
    conv = conversations.create(owner)
    before = _counts(owner)
    started = time.monotonic()
    try:
        turn = asyncio.run(chat.respond(owner, conv.id, text))
    except ImagechatError as refused:
        _clear(refused.user_message)
        assert _counts(owner) == before, "a refused message wrote something"
        return
    finally:
        assert time.monotonic() - started < 1.0 + (0.5 if "cat" in text else 0), "a turn took over a second"
    _clear(turn.reply)
    views = conversations.messages(owner, conv.id)
    assert [v.id for v in views] == [turn.user_message_id, turn.assistant_message_id]
    assert "\x00" not in views[0].content and "\x1b" not in views[0].content
    assert "<script>" not in turn.reply  # the reply never echoes markup back
    title = conversations.get(owner, conv.id).title
    assert "\x1b" not in title and "\x00" not in title and len(title) <= 80


def _submit(owner: int, **fields):
    fields.setdefault("prompt", "a boat")
    started = time.monotonic()
    try:
        return jobs.submit(owner, ImageRequest(**fields))
    except ImagechatError as refused:
        _clear(refused.user_message)
        return None
    finally:
        assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("size", hostile.SIZES)
def test_sizes_in_chat_and_in_requests(owner, size):
    conv = conversations.create(owner)
    turn = asyncio.run(chat.respond(owner, conv.id, f"draw a lighthouse at {size}"))
    _clear(turn.reply)
    if turn.job_id:
        with session_scope() as s:
            job = s.get(GenerationJob, turn.job_id)
        assert 64 <= job.params["width"] <= 2048 and 64 <= job.params["height"] <= 2048
    parts = size.lower().split("x")
    if len(parts) == 2 and all(p.strip().isdigit() for p in parts):
        width, height = (int(p) for p in parts)
        before = _counts(owner)
        if _submit(owner, width=width, height=height) is None:
            assert _counts(owner) == before


@pytest.mark.parametrize("value", hostile.IDS, ids=range(len(hostile.IDS)))
def test_request_fields(owner, value):
    for field in ("n", "seed", "quality", "style", "width"):
        before = _counts(owner)
        if _submit(owner, **{field: value}) is None:
            assert _counts(owner) == before, field


@pytest.mark.parametrize("query", hostile.SEARCHES, ids=range(len(hostile.SEARCHES)))
def test_gallery_searches(owner, query):
    started = time.monotonic()
    try:
        assert gallery.page(owner, gallery.parse_query({"q": query}), limit=20).cards == []
    except ImagechatError as refused:
        _clear(refused.user_message)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("title", hostile.TITLES, ids=range(len(hostile.TITLES)))
def test_conversation_titles(owner, title):
    conv = conversations.create(owner)
    try:
        renamed = conversations.rename(owner, conv.id, title).title
    except ImagechatError as refused:
        _clear(refused.user_message)
        assert conversations.get(owner, conv.id).title == conv.title
        return
    assert renamed == conversations.get(owner, conv.id).title
    assert len(renamed) <= 80 and not any(c in renamed for c in "\x00\x1b\r\n\u202e")


@pytest.mark.parametrize("name", hostile.USERNAMES, ids=range(len(hostile.USERNAMES)))
def test_usernames(database_url, redis_url, name):
    with session_scope() as s:
        users_before = s.exec(select(func.count()).select_from(User)).one()
    try:
        user = auth.sign_up(name, "a long enough passphrase 42")
    except ImagechatError as refused:
        _clear(refused.user_message)
        with session_scope() as s:
            assert s.exec(select(func.count()).select_from(User)).one() == users_before
        return
    assert user.username == user.username.strip().lower() and len(user.username) <= 32


@pytest.fixture(scope="module")
def http(database_url, redis_url):
    with TestClient(Starlette(routes=list(routes)), raise_server_exceptions=False) as client:
        name = f"h{uuid.uuid4().hex[:10]}"
        auth.sign_up(name, "a long enough passphrase 42")
        _, token = auth.log_in(name, "a long enough passphrase 42")
        client.cookies.set(SESSION_COOKIE, token)
        yield client


@pytest.mark.parametrize("value", [*map(str, hostile.IDS), *hostile.QUERY_PARAMS], ids=range(47))
def test_image_routes(http, value):
    for variant in ("full", "thumb.webp", *(f"download.{f}" for f in hostile.FORMATS[:6]), value[:200]):
        started = time.monotonic()
        response = http.get(f"/api/images/{value[:3000]}/{variant}")
        assert response.status_code in (400, 404, 405), (value, variant, response.status_code)
        _clear(response.text)
        response = http.get(f"/api/jobs/{value[:3000]}/preview.webp", params={"v": value[:3000]})
        assert response.status_code in (400, 404, 405), (value, response.status_code)
        assert time.monotonic() - started < 1.0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "imagechat", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("args", [
    ("images", "export", "not-a-uuid", "--format", "png"),
    ("images", "export", str(uuid.uuid4()), "--format", "gif"),
    ("images", "export", "<script>", "--format", "../png"),
    ("images", "list", "--search", "'; DROP TABLE images; --"),
    ("images", "list", "--user", "x" * 500),
    ("images", "list", "--limit", "-5"),
    ("images", "list", "--limit", "99999999999999999999"),
    ("generate", "", "--size", "0x0"),
    ("generate", "a boat", "--size", "99999x99999"),
    ("generate", "a boat", "--style", "claymation"),
    ("generate", "a boat", "--n", "1000"),
    ("generate", "a boat", "--engine", "../../bin/sh"),
    ("users", "disable", "<nobody>"),
], ids=range(13))
def test_command_line(database_url, redis_url, private_namespace, args):
    private_namespace()
    done = _cli(*args)
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    assert done.returncode in (0, 2), (done.returncode, output)
    if done.returncode:
        assert "error:" in done.stderr or "usage:" in done.stderr, output
