"""Image bytes over HTTP: owner-only access (also for guessed ids), caching headers, downloads."""

from __future__ import annotations

import asyncio
import io
import uuid
from datetime import timedelta

import pytest
from PIL import Image as PILImage
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api.images import routes
from imagechat.core import auth, jobs, organise, previews, progress
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import AuthSession, User, utcnow


@pytest.fixture(scope="module")
def client():
    with TestClient(Starlette(routes=routes)) as c:
        yield c


def _account():
    name = f"u{uuid.uuid4().hex[:10]}"
    user = auth.sign_up(name, "correct horse battery")
    _, token = auth.log_in(name, "correct horse battery")
    return user.id, {SESSION_COOKIE: token}


async def _final(job_id):
    async for event in progress.follow([str(job_id)]):
        if event.terminal:
            return event


@pytest.fixture(scope="module")
def stored(worker):
    """Two users; the first owns one finished image."""
    owner, owner_cookies = _account()
    _, other_cookies = _account()
    job_id = jobs.submit(owner, ImageRequest(prompt="A red boat, on the sea!", width=256, height=256))
    event = asyncio.run(asyncio.wait_for(_final(job_id), 60))
    assert event.status == "succeeded"
    return {"image": event.image_ids[0], "job": str(job_id), "owner": owner_cookies, "other": other_cookies}


def test_owner_gets_full_image_with_immutable_caching(client, stored):
    r = client.get(f"/api/images/{stored['image']}/full", cookies=stored["owner"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    etag = r.headers["etag"]
    with PILImage.open(io.BytesIO(r.content)) as pic:
        assert pic.size == (256, 256)
    again = client.get(f"/api/images/{stored['image']}/full", cookies=stored["owner"],
                       headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""


def test_thumbnail_is_webp(client, stored):
    r = client.get(f"/api/images/{stored['image']}/thumb.webp", cookies=stored["owner"])
    assert r.status_code == 200 and r.content[8:12] == b"WEBP"


@pytest.mark.parametrize("fmt,magic,mime,ext", [
    ("png", b"\x89PNG", "image/png", "png"),
    ("jpeg", b"\xff\xd8\xff", "image/jpeg", "jpg"),
    ("jpg", b"\xff\xd8\xff", "image/jpeg", "jpg"),
    ("webp", b"RIFF", "image/webp", "webp"),
])
def test_downloads_in_three_formats(client, stored, fmt, magic, mime, ext):
    r = client.get(f"/api/images/{stored['image']}/download.{fmt}", cookies=stored["owner"])
    assert r.status_code == 200 and r.content.startswith(magic) and r.headers["content-type"] == mime
    disposition = r.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="a-red-boat-on-the-sea-') and disposition.endswith(f'.{ext}"')


@pytest.mark.parametrize("variant", ["full", "thumb.webp", "download.png"])
def test_another_user_gets_404_not_the_image(client, stored, variant):
    r = client.get(f"/api/images/{stored['image']}/{variant}", cookies=stored["other"])
    assert r.status_code == 404 and b"RIFF" not in r.content


def test_guessed_and_malformed_ids_get_404(client, stored):
    for image_id in (uuid.uuid4(), "1", "../../etc/passwd", "%00"):
        assert client.get(f"/api/images/{image_id}/full", cookies=stored["owner"]).status_code == 404


def test_unknown_variant_gets_404(client, stored):
    assert client.get(f"/api/images/{stored['image']}/download.tiff", cookies=stored["owner"]).status_code == 404


def test_no_or_forged_session_gets_401(client, stored):
    assert client.get(f"/api/images/{stored['image']}/full").status_code == 401
    forged = {SESSION_COOKIE: "not-a-real-token"}
    assert client.get(f"/api/images/{stored['image']}/full", cookies=forged).status_code == 401


def test_logged_out_session_loses_access(client, stored):
    owner_token = stored["owner"][SESSION_COOKIE]
    user = auth.user_for_token(owner_token)
    _, token = auth.log_in(user.username, "correct horse battery")
    cookies = {SESSION_COOKIE: token}
    assert client.get(f"/api/images/{stored['image']}/full", cookies=cookies).status_code == 200
    auth.log_out(token)
    assert client.get(f"/api/images/{stored['image']}/full", cookies=cookies).status_code == 401


def test_previews_are_owner_only_and_end_with_the_job(client, stored, private_namespace):
    private_namespace()  # nobody runs this job: it stays queued while we look at its preview
    owner_id = auth.user_for_token(stored["owner"][SESSION_COOKIE]).id
    job_id = jobs.submit(owner_id, ImageRequest(prompt="a lighthouse", width=256, height=256))
    frame = io.BytesIO()
    PILImage.new("RGB", (64, 64), "orange").save(frame, "PNG")
    previews.store(str(job_id), frame.getvalue())
    r = client.get(f"/api/jobs/{job_id}/preview.webp", cookies=stored["owner"])
    assert r.status_code == 200 and r.content[8:12] == b"WEBP" and r.headers["cache-control"] == "no-store"
    assert client.get(f"/api/jobs/{job_id}/preview.webp", cookies=stored["other"]).status_code == 404
    jobs.cancel(owner_id, job_id)  # a cancelled job's last preview is not served any more
    gone = client.get(f"/api/jobs/{job_id}/preview.webp", cookies=stored["owner"])
    assert (gone.status_code, gone.content, gone.headers["cache-control"]) == (204, b"", "no-store")
    assert client.get(f"/api/jobs/{job_id}/preview.webp", cookies=stored["other"]).status_code == 404


@pytest.mark.parametrize("variant", ["full", "thumb.webp"])
def test_session_checked_with_the_bytes_refuses_expired_disabled_and_deleted(client, variant):
    """The bytes route checks the session inside the image query: each way a session or an image stops counting
    must still refuse (expired -> 401, disabled user -> 401, deleted image -> 404)."""
    owner, cookies = _account()
    job_id = jobs.submit(owner, ImageRequest(prompt="A lighthouse at night", width=256, height=256))
    event = asyncio.run(asyncio.wait_for(_final(job_id), 60))
    url = f"/api/images/{event.image_ids[0]}/{variant}"
    assert client.get(url, cookies=cookies).status_code == 200

    hashed = auth.token_hash(cookies[SESSION_COOKIE])
    with session_scope() as s:
        row = s.exec(select(AuthSession).where(AuthSession.token_hash == hashed)).one()
        valid_until, row.expires_at = row.expires_at, utcnow() - timedelta(seconds=1)
    assert client.get(url, cookies=cookies).status_code == 401

    _, cookies = _account_again(owner)
    assert client.get(url, cookies=cookies).status_code == 200
    for disabled_at, status in ((utcnow(), 401), (None, 200)):  # the flag itself, sessions left in place
        with session_scope() as s:
            s.get(User, owner).disabled_at = disabled_at
        assert client.get(url, cookies=cookies).status_code == status

    organise.delete_images(owner, [uuid.UUID(event.image_ids[0])])
    assert client.get(url, cookies=cookies).status_code == 404
    assert valid_until > utcnow()


def _account_again(user_id: int):
    with session_scope() as s:
        name = s.get(User, user_id).username
    _, token = auth.log_in(name, "correct horse battery")
    return user_id, {SESSION_COOKIE: token}
