"""Object storage (core/storage.py) against a real S3-compatible server the suite starts itself (SeaweedFS,
tests/support/seaweed.py): each store's round trip, the worker's upload, streaming and presigned redirects that
only the owner gets, `storage migrate` both ways (interrupted and resumed, sha256-checked), and an outage of
the store (a clear error, the job retried, nothing lost, nothing half-written).
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa
from PIL import Image as PILImage
from sqlmodel import select
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import images as image_api
from imagechat.api import share as share_api
from imagechat.core import auth, codec, jobs, library, organise, runner, sharing, storage, storage_migration
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.errors import StorageUnavailable
from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, ImageData, JobKind, JobStatus, LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings
from imagechat.web_security import content_security_policy
from tests.support.services import ROOT, temporary_database

SHARE_BASE = "http://127.0.0.1:3000"


def _picture(n: int, size=(96, 64)) -> bytes:
    """A small PNG, different for each n."""
    pic = PILImage.new("RGB", size, ((37 * n) % 256, (91 * n + 40) % 256, 200))
    for x in range(0, size[0], 8):
        pic.putpixel((x, n % size[1]), (255, 255, 255))
    out = io.BytesIO()
    pic.save(out, format="PNG")
    return out.getvalue()


def _add(owner: int, count: int = 1, *, start: int = 0) -> list[uuid.UUID]:
    """Images as a finished job stores them, in the configured store (IMAGE_STORE)."""
    items = [library.NewImage(stored=library.prepare(_picture(start + i)), seed=i, revised_prompt=None)
             for i in range(count)]
    with session_scope() as s:
        return library.add_images(s, owner_id=owner, job_id=None, prompt="a harbour at dawn", style=None,
                                  engine="offline", model="painter", conversation_id=None, parent_image_id=None,
                                  new_images=items)


def _row(image_id) -> Image:
    with session_scope() as s:
        return s.get(Image, image_id)


def _has_payload_row(image_id) -> bool:
    with session_scope() as s:
        return s.get(ImageData, image_id) is not None


def _in_bucket(seaweed, key: str) -> bool:
    from botocore.exceptions import ClientError

    try:
        seaweed.client().head_object(Bucket=seaweed.bucket, Key=key)
        return True
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 404, exc.response
        return False


def _key(image_id, thumb: bool = False) -> str:
    return storage.get_store(storage.S3).key(image_id, thumb=thumb)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _account() -> tuple[int, dict]:
    name = f"s3{uuid.uuid4().hex[:10]}"
    user = auth.sign_up(name, "correct horse battery")
    _, token = auth.log_in(name, "correct horse battery")
    return user.id, {SESSION_COOKIE: token}


@pytest.fixture
def client():
    with TestClient(Starlette(routes=image_api.routes)) as c:
        yield c


def _use(monkeypatch, **env) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key.upper(), str(value))
    get_settings.cache_clear()


# ---------------------------------------------------------------- the interface, per store


@pytest.mark.parametrize("store_name", ["postgres", "s3"])
def test_round_trip_per_store(s3_store, make_user, monkeypatch, store_name):
    _use(monkeypatch, image_store=store_name)
    owner = make_user()
    [image_id] = _add(owner)
    image = _row(image_id)
    assert image.storage == store_name
    # Only PostgreSQL images have a payload row; an object store holds the other images' bytes.
    assert _has_payload_row(image_id) == (store_name == "postgres")
    assert _in_bucket(s3_store, _key(image_id)) == (store_name == "s3")

    meta, full = library.image_bytes(owner, image_id)
    _, thumb = library.image_bytes(owner, image_id, thumb=True)
    assert meta.id == image_id and _sha(full) == image.sha256 and len(full) == image.byte_size
    assert thumb[8:12] == b"WEBP"

    store = storage.get_store(store_name)
    other = uuid.uuid4()  # put/get/exists/delete keyed by id, straight through the interface
    if store_name == "postgres":  # its payload rows belong to an image row (a foreign key)
        other = _add(owner, start=5)[0]
    store.put(other, b"full bytes", b"thumb bytes", mime="image/webp")
    assert store.exists(other) and store.get(other) == b"full bytes" and store.get(other, thumb=True) == b"thumb bytes"
    store.put(other, b"replaced", b"thumb 2", mime="image/webp")  # a second put replaces (a resumed migration)
    assert store.get(other) == b"replaced"
    store.delete([other])
    assert not store.exists(other)
    with pytest.raises(storage.MissingPayload):
        store.get(other)
    store.delete([other, uuid.uuid4()])  # ids holding nothing are ignored


def test_objects_carry_type_cache_lifetime_and_checksum(s3_store, make_user):
    [image_id] = _add(make_user())
    head = s3_store.client().head_object(Bucket=s3_store.bucket, Key=_key(image_id))
    thumb = s3_store.client().head_object(Bucket=s3_store.bucket, Key=_key(image_id, thumb=True))
    assert head["ContentType"] == "image/webp" and thumb["ContentType"] == "image/webp"
    assert head["CacheControl"] == "private, max-age=31536000, immutable"
    assert head["Metadata"]["sha256"] == _row(image_id).sha256
    assert _key(image_id) == f"images/{image_id}"  # S3_PREFIX (default images/) + id


def test_a_worker_uploads_the_image_and_its_thumbnail(s3_store, own_worker, private_namespace, make_user):
    env = private_namespace(**s3_store.settings_env())
    own_worker(**env)
    owner = make_user()
    job_id = jobs.submit(owner, ImageRequest(prompt="a red boat on the sea", width=256, height=256, n=2))
    job = _wait_for(job_id, lambda j: j.status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 90)
    assert job.status == JobStatus.SUCCEEDED, job.error
    with session_scope() as s:
        stored = s.exec(select(Image).where(Image.job_id == job_id).order_by(Image.index_in_job)).all()
    assert len(stored) == 2 and {i.storage for i in stored} == {"s3"}
    for image in stored:
        assert not _has_payload_row(image.id)
        body = s3_store.client().get_object(Bucket=s3_store.bucket, Key=_key(image.id))["Body"].read()
        assert _sha(body) == image.sha256
        assert _in_bucket(s3_store, _key(image.id, thumb=True))
        with PILImage.open(io.BytesIO(library.image_bytes(owner, image.id)[1])) as pic:
            assert pic.size == (256, 256)


def _wait_for(job_id, done, timeout: float) -> GenerationJob:
    deadline = time.monotonic() + timeout
    while True:
        with session_scope() as s:
            job = s.get(GenerationJob, job_id)
        if done(job) or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


# ---------------------------------------------------------------- HTTP: streamed or presigned, owner only


def test_routes_stream_from_the_bucket(s3_store, client):
    owner, cookies = _account()
    _, other_cookies = _account()
    [image_id] = _add(owner)
    r = client.get(f"/api/images/{image_id}/full", cookies=cookies, follow_redirects=False)
    assert r.status_code == 200 and _sha(r.content) == _row(image_id).sha256
    assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert client.get(f"/api/images/{image_id}/full", cookies=cookies,
                      headers={"If-None-Match": r.headers["etag"]}).status_code == 304
    assert client.get(f"/api/images/{image_id}/thumb.webp", cookies=cookies).content[8:12] == b"WEBP"
    assert client.get(f"/api/images/{image_id}/download.png", cookies=cookies).content.startswith(b"\x89PNG")
    assert client.get(f"/api/images/{image_id}/full", cookies=other_cookies).status_code == 404
    assert client.get(f"/api/images/{image_id}/full").status_code == 401


def _fetch(url: str) -> tuple[int, bytes, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def test_presign_redirects_only_the_owner_to_a_short_lived_url(s3_store, client, monkeypatch):
    _use(monkeypatch, s3_presign="true", s3_presign_seconds=120)
    owner, cookies = _account()
    _, other_cookies = _account()
    first, second = _add(owner, 2)
    sha = _row(first).sha256

    r = client.get(f"/api/images/{first}/full", cookies=cookies, follow_redirects=False)
    assert r.status_code == 302
    url = r.headers["location"]
    assert url.startswith(f"{s3_store.endpoint_url}/{s3_store.bucket}/images/{first}?")
    assert "X-Amz-Signature=" in url and "X-Amz-Expires=120" in url  # short-lived: S3_PRESIGN_SECONDS
    max_age = int(r.headers["cache-control"].removeprefix("private, max-age="))
    assert 0 < max_age < 120  # the redirect is never reused past its URL's life
    status, body, headers = _fetch(url)
    assert status == 200 and _sha(body) == sha and headers["Content-Type"] == "image/webp"
    # The same URL while it is young, so the browser's cache of the object keeps working.
    assert client.get(f"/api/images/{first}/full", cookies=cookies, follow_redirects=False).headers["location"] == url

    thumb = client.get(f"/api/images/{first}/thumb.webp", cookies=cookies, follow_redirects=False)
    assert thumb.status_code == 302 and f"/images/{first}.thumb.webp?" in thumb.headers["location"]
    assert _fetch(thumb.headers["location"])[1][8:12] == b"WEBP"
    # A browser holding the bytes from an earlier (streamed) answer revalidates without a redirect.
    assert client.get(f"/api/images/{first}/full", cookies=cookies, headers={"If-None-Match": f'"{sha}"'},
                      follow_redirects=False).status_code == 304
    # Downloads are converted by the app: streamed, never redirected.
    download = client.get(f"/api/images/{first}/download.png", cookies=cookies, follow_redirects=False)
    assert download.status_code == 200 and download.content.startswith(b"\x89PNG")

    # Owner checks exactly as before: no URL for anyone else.
    for cookie_jar, code in ((other_cookies, 404), (None, 401)):
        refused = client.get(f"/api/images/{first}/full", cookies=cookie_jar, follow_redirects=False)
        assert refused.status_code == code and "location" not in refused.headers
    # A URL opens its one object: the signature does not fit another key.
    assert _fetch(url.replace(str(first), str(second)))[0] == 403
    # The app's pages let <img> follow the redirect to the store, and nowhere else.
    assert storage.presign_origin() == s3_store.endpoint_url
    policy = content_security_policy(["http://127.0.0.1:3000"], [], [storage.presign_origin()])
    assert f"img-src 'self' data: blob: {s3_store.endpoint_url};" in policy


def test_presign_with_a_mixed_library_streams_what_is_in_postgresql(s3_store, client, monkeypatch):
    _use(monkeypatch, s3_presign="true", image_store="postgres")
    owner, cookies = _account()
    [image_id] = _add(owner)
    r = client.get(f"/api/images/{image_id}/full", cookies=cookies, follow_redirects=False)
    assert r.status_code == 200 and _sha(r.content) == _row(image_id).sha256


def test_a_read_racing_a_migration_follows_the_image(s3_store, make_user):
    [image_id] = _add(make_user())  # in s3
    # The caller's row said postgres (read before the move): the read finds the bytes where they are now.
    data = storage.read(image_id, storage.POSTGRES)
    assert _sha(data) == _row(image_id).sha256


# ---------------------------------------------------------------- storage migrate


@pytest.fixture
def own_database(s3_store):
    """A database of the test's own: `storage migrate` moves every image, and other tests' images stay put."""
    from imagechat.db import get_engine

    with temporary_database("imagechat_storage") as url, pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
        get_engine.cache_clear()
        yield url
        get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()


class _StopAfter:
    """on_progress that interrupts the run (as Ctrl-C would) once `n` images are done."""

    def __init__(self, n: int):
        self.n, self.seen = n, 0

    def __call__(self, summary: storage_migration.Summary) -> None:
        self.seen = summary.done
        if summary.done >= self.n:
            raise KeyboardInterrupt


def _where(ids) -> dict[uuid.UUID, str]:
    with session_scope() as s:
        return dict(s.exec(select(Image.id, Image.storage).where(Image.id.in_(ids))).all())


def _check_consistent(owner: int, ids, seaweed, skip=()) -> None:
    """Every image readable where its row says, with its recorded sha256; no copy left where it is not."""
    for image_id, store_name in _where(ids).items():
        assert _has_payload_row(image_id) == (store_name == "postgres"), image_id
        if image_id in skip:
            continue
        assert _in_bucket(seaweed, _key(image_id)) == (store_name == "s3"), image_id
        meta, data = library.image_bytes(owner, image_id)
        assert _sha(data) == meta.sha256, image_id
        assert library.image_bytes(owner, image_id, thumb=True)[1][8:12] == b"WEBP"


def test_migrate_both_ways_resumable_and_verified(own_database, s3_store, make_user, monkeypatch):
    _use(monkeypatch, image_store="postgres")
    owner = make_user()
    ids = _add(owner, 9)
    corrupt = ids[4]  # bytes that no longer match images.sha256: must never be copied over
    with session_scope() as s:
        s.get(ImageData, corrupt).data_b64 = codec.to_b64(_picture(99))

    # To s3, interrupted after a few images: each image is either moved or untouched, all readable.
    stop = _StopAfter(3)
    first = storage_migration.migrate("s3", batch=2, workers=2, on_progress=stop)
    assert first.interrupted and first.moved >= 3 and first.remaining == 9 - first.moved
    where = _where(ids)
    assert 3 <= list(where.values()).count("s3") < 9
    _check_consistent(owner, ids, s3_store, skip={corrupt})

    # The command line continues where it stopped: plain progress lines (no terminal), then a summary.
    env = {**os.environ, "DATABASE_URL": own_database, **s3_store.settings_env(), "IMAGE_STORE": "postgres"}
    run = subprocess.run([sys.executable, "-m", "imagechat", "storage", "migrate", "--to", "s3", "--batch", "2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr  # one image could not be moved
    rest = 9 - first.moved
    assert f"moving {rest} image(s) to s3" in run.stderr and f"{rest}/{rest} (100%)" in run.stderr
    assert "\r" not in run.stderr and "Traceback" not in run.stderr
    assert f"Moved {rest - 1} image(s) to s3" in run.stdout
    assert f"{corrupt}: its bytes in the postgres store do not match the recorded sha256" in run.stdout
    assert "1 image(s) still kept elsewhere than s3." in run.stdout
    assert "IMAGE_STORE is postgres" in run.stdout
    assert s3_store.secret_key not in run.stdout + run.stderr
    where = _where(ids)
    assert where.pop(corrupt) == "postgres" and set(where.values()) == {"s3"}
    _check_consistent(owner, ids, s3_store, skip={corrupt})

    # Running it again has nothing left but the image it refuses.
    again = storage_migration.migrate("s3")
    assert (again.moved, [i for i, _ in again.failed], again.remaining) == (0, [corrupt], 1)

    # And back to PostgreSQL, interrupted once too; the bucket copies go once each row points home.
    back = storage_migration.migrate("postgres", batch=3, workers=2, on_progress=_StopAfter(2))
    assert back.interrupted and back.moved >= 2
    _check_consistent(owner, ids, s3_store, skip={corrupt})
    done = storage_migration.migrate("postgres", batch=3)
    assert not done.interrupted and not done.failed and done.remaining == 0
    assert back.moved + done.moved == 8 and done.source_copies_left == 0
    assert set(_where(ids).values()) == {"postgres"}
    _check_consistent(owner, ids, s3_store, skip={corrupt})
    assert not any(_in_bucket(s3_store, _key(i, thumb=True)) for i in ids)
    assert storage_migration.counts() == {"postgres": 9}
    status = subprocess.run([sys.executable, "-m", "imagechat", "storage", "status"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert "postgres          9 image(s)" in status.stdout and "s3                0 image(s)" in status.stdout
    assert f"s3: bucket '{s3_store.bucket}' at {s3_store.endpoint_url} answers" in status.stdout


def test_migrate_stops_clearly_when_a_copy_does_not_read_back(own_database, s3_store, make_user, monkeypatch):
    """A target that does not return what was written: the image stays where it was, its old copy kept."""
    _use(monkeypatch, image_store="postgres")
    owner = make_user()
    [image_id] = _add(owner)
    s3 = storage.get_store(storage.S3)
    real_get = s3.get
    monkeypatch.setattr(s3, "get", lambda i, thumb=False, session=None: real_get(i, thumb=thumb)[:-1])
    summary = storage_migration.migrate("s3")
    assert summary.moved == 0 and summary.failed == [
        (image_id, "the image read back from the target differs from the source (sha256)")]
    assert _row(image_id).storage == "postgres" and _has_payload_row(image_id)


# ---------------------------------------------------------------- an outage of the store


def _ledger(job_id) -> UsageEntry:
    with session_scope() as s:
        return s.exec(select(UsageEntry).where(UsageEntry.job_id == job_id)).one()


def _job_images(job_id) -> list[Image]:
    with session_scope() as s:
        return list(s.exec(select(Image).where(Image.job_id == job_id)).all())


def test_an_outage_retries_the_job_and_loses_nothing(s3_store, own_worker, private_namespace, client):
    env = private_namespace(**s3_store.settings_env(), job_max_attempts=6)
    worker = own_worker(**env)
    owner, cookies = _account()
    [before] = _add(owner)
    sha_before = _row(before).sha256
    link = sharing.create_link(owner, image_id=before)

    s3_store.kill()
    try:
        # Reads say what happened (503), nothing else.
        r = client.get(f"/api/images/{before}/full", cookies=cookies)
        assert r.status_code == 503 and r.text == storage.UNREACHABLE and r.headers["retry-after"] == "30"
        # A browser revalidating the image it holds is answered from the metadata alone.
        assert client.get(f"/api/images/{before}/full", cookies=cookies,
                          headers={"If-None-Match": f'"{sha_before}"'}).status_code == 304
        with TestClient(Starlette(routes=share_api.routes), base_url=SHARE_BASE) as shares:
            shared = shares.get(f"{link.url}/images/{before}/thumb.webp")
            assert shared.status_code == 503 and "try again in a minute" in shared.text

        # The worker's store step fails: the job goes back on the queue with the reason, nothing half-written.
        job_id = jobs.submit(owner, ImageRequest(prompt="a lighthouse in a storm", width=256, height=256))
        job = _wait_for(job_id, lambda j: j.stage.startswith("Image storage unreachable"), 60)
        assert job.stage.startswith("Image storage unreachable; retrying in"), (job.stage, worker.log()[-3000:])
        assert job.status in (JobStatus.QUEUED, JobStatus.RUNNING) and job.attempts >= 1
        assert _job_images(job_id) == [] and _ledger(job_id).status == LedgerStatus.RESERVED
    finally:
        s3_store.start()

    # The normal retry path finishes it once the store is back; the image from before is intact.
    job = _wait_for(job_id, lambda j: j.status in (JobStatus.SUCCEEDED, JobStatus.FAILED), 120)
    assert job.status == JobStatus.SUCCEEDED and job.attempts >= 2, (job.error, worker.log()[-3000:])
    [image] = _job_images(job_id)
    assert image.storage == "s3" and _sha(library.image_bytes(owner, image.id)[1]) == image.sha256
    assert _ledger(job_id).status == LedgerStatus.CHARGED
    assert _sha(client.get(f"/api/images/{before}/full", cookies=cookies).content) == sha_before
    assert s3_store.secret_key not in worker.log()


async def test_the_last_attempt_fails_clearly_and_releases_the_reservation(s3_store, private_namespace,
                                                                            make_user):
    private_namespace(**s3_store.settings_env())  # nobody consumes this namespace: the job runs in-process
    owner = make_user()
    [source] = _add(owner)
    with session_scope() as s:  # deleted long ago: due for purge
        s.get(Image, source).deleted_at = utcnow() - timedelta(days=1)
    [source_alive] = _add(owner, start=3)
    job_id = jobs.submit(owner, ImageRequest(prompt="a fox in the snow", width=128, height=128))
    edit_id = jobs.submit(owner, ImageRequest(prompt="a fox in the snow, watercolor", width=128, height=128),
                          source_image_id=source_alive)
    with session_scope() as s:
        s.get(GenerationJob, job_id).attempts = get_settings().job_max_attempts - 1  # this is the last attempt
        s.get(GenerationJob, edit_id).kind = JobKind.EDIT  # an engine that edits reads the source's bytes

    s3_store.kill()
    try:
        await runner.run_job(str(job_id))
        with session_scope() as s:
            job = s.get(GenerationJob, job_id)
        assert (job.status, job.error_code) == (JobStatus.FAILED, "storage_unavailable")
        assert job.error == (f"{storage.UNREACHABLE} Gave up after {get_settings().job_max_attempts} attempts; "
                             "try again later.")
        assert _job_images(job_id) == [] and _ledger(job_id).status == LedgerStatus.RELEASED

        # An edit whose source's bytes cannot be read now waits for the store instead of failing.
        await runner.run_job(str(edit_id))
        with session_scope() as s:
            edit = s.get(GenerationJob, edit_id)
        assert edit.status == JobStatus.QUEUED and edit.stage.startswith("Image storage unreachable; retrying")

        # The purge leaves images whose bytes it cannot delete for later (still hidden), nothing else.
        organise.purge_deleted(0)
        assert _row(source) is not None
    finally:
        s3_store.start()
    assert organise.purge_deleted(0) >= 1
    assert _row(source) is None and not _in_bucket(s3_store, _key(source))
    assert not _in_bucket(s3_store, _key(source, thumb=True))
    await runner.run_job(str(edit_id))
    with session_scope() as s:
        assert s.get(GenerationJob, edit_id).status == JobStatus.SUCCEEDED


def test_refused_credentials_are_a_clear_error_that_names_no_secret(s3_store, monkeypatch, make_user, caplog):
    owner = make_user()
    [image_id] = _add(owner)
    _use(monkeypatch, s3_secret_access_key="not-the-secret-" + "x" * 12)
    with pytest.raises(StorageUnavailable) as refused:
        library.image_bytes(owner, image_id)
    assert refused.value.user_message == storage.UNREACHABLE
    with pytest.raises(StorageUnavailable) as checked:
        storage.get_store(storage.S3).check()
    assert "S3_SECRET_ACCESS_KEY" in checked.value.user_message
    _use(monkeypatch, s3_secret_access_key=s3_store.secret_key, s3_bucket="no-such-bucket")
    with pytest.raises(StorageUnavailable) as missing:
        storage.get_store(storage.S3).check()
    assert missing.value.user_message == (f"The bucket 'no-such-bucket' at {s3_store.endpoint_url} does not exist: "
                                          "create it first (S3_BUCKET).")
    _use(monkeypatch, s3_secret_access_key="not-the-secret-" + "x" * 12, s3_bucket=s3_store.bucket)
    for text in (caplog.text, refused.value.user_message, checked.value.user_message,
                 repr(get_settings()), str(get_settings().model_dump())):
        assert "not-the-secret-" not in text and s3_store.secret_key not in text
    # Nothing half-written: an upload that fails leaves no image row.
    with pytest.raises(StorageUnavailable):
        _add(owner, start=7)
    with session_scope() as s:
        assert s.exec(select(sa.func.count()).select_from(Image).where(Image.owner_id == owner)).one() == 1
