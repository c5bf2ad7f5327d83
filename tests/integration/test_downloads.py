"""Sized downloads over HTTP: every format x size carries its metadata, sizes never upscale, ETags differ
per variant, a bad ?size is a clear 400, and only the owner gets anything."""

from __future__ import annotations

import io
import json
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image as PILImage
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import routes
from imagechat.core import auth, codec, library
from imagechat.core.auth import SESSION_COOKIE
from imagechat.core.urls import download_url
from imagechat.db import session_scope
from imagechat.models import Image

PROMPT = 'A "red" boat <at> dawn & 雪の港 🚣\nsecond line'
XMP_NS = {"rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#", "dc": "http://purl.org/dc/elements/1.1/",
          "imagechat": codec.XMP_NAMESPACE}


@pytest.fixture(scope="module")
def client(database_url, redis_url):
    with TestClient(Starlette(routes=routes)) as c:
        yield c


def account() -> tuple[int, dict]:
    name = f"u{uuid.uuid4().hex[:10]}"
    user = auth.sign_up(name, "correct horse battery")
    _, token = auth.log_in(name, "correct horse battery")
    return user.id, {SESSION_COOKIE: token}


def picture(w: int, h: int) -> bytes:
    """A smooth, photo-like PNG (noise would make every WebP needlessly large)."""
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) % 256], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    PILImage.fromarray(rgb, "RGB").save(out, format="PNG")
    return out.getvalue()


def store(owner_id: int, prompt: str = PROMPT, w: int = 600, h: int = 400, **extra) -> uuid.UUID:
    """One stored image as a finished job leaves it (encoded by the real codec), without running a job."""
    prepared = library.prepare(picture(w, h))
    with session_scope() as s:
        [image_id] = library.add_images(
            s, owner_id=owner_id, job_id=None, prompt=prompt, style="watercolor", engine="offline",
            model="painter", conversation_id=None, parent_image_id=None,
            new_images=[library.NewImage(stored=prepared, seed=extra.pop("seed", 1234),
                                         revised_prompt=extra.pop("revised_prompt", "Revised: " + prompt))])
        if extra:
            s.get(Image, image_id).sqlmodel_update(extra)
    return image_id


@pytest.fixture(scope="module")
def users(client):
    owner, owner_cookies = account()
    _, other_cookies = account()
    return {"owner": owner, "cookies": owner_cookies, "other": other_cookies,
            "wide": store(owner, w=1792, h=1024), "small": store(owner, prompt="tiny", w=300, h=200)}


def _read(data: bytes) -> PILImage.Image:
    im = PILImage.open(io.BytesIO(data))
    im.load()
    return im


def _xmp_json(im: PILImage.Image) -> tuple[str, dict]:
    raw = im.info["xmp"]
    root = ET.fromstring(raw if isinstance(raw, bytes) else raw.encode())
    return (root.find(".//dc:description/rdf:Alt/rdf:li", XMP_NS).text,
            json.loads(root.find(".//imagechat:json", XMP_NS).text))


@pytest.mark.parametrize("size", [None, 1024, 512])
@pytest.mark.parametrize("fmt,pil,ext", [("png", "PNG", "png"), ("jpeg", "JPEG", "jpg"), ("webp", "WEBP", "webp")])
def test_each_format_and_size_embeds_the_prompt_and_parameters(client, users, fmt, pil, ext, size):
    image_id = users["wide"]
    r = client.get(download_url(str(image_id), fmt, size), cookies=users["cookies"])
    assert r.status_code == 200 and r.headers["content-type"] == codec.MIME[fmt]
    suffix = f"-{size}" if size else ""
    assert r.headers["content-disposition"] == (
        f'attachment; filename="a-red-boat-at-dawn-second-line-{str(image_id)[:8]}{suffix}.{ext}"')
    im = _read(r.content)
    assert im.format == pil
    assert im.size == {None: (1792, 1024), 1024: (1024, 585), 512: (512, 293)}[size]
    description, fields = _xmp_json(im)
    assert description == PROMPT
    assert fields["prompt"] == PROMPT and fields["revised_prompt"] == "Revised: " + PROMPT
    assert fields["imagechat_id"] == str(image_id) and fields["seed"] == 1234
    assert (fields["style"], fields["engine"], fields["model"]) == ("watercolor", "offline", "painter")
    assert (fields["width"], fields["height"]) == (1792, 1024)
    assert datetime.fromisoformat(fields["created"]).tzinfo is not None
    if fmt == "png":
        assert im.text["Description"] == PROMPT and json.loads(im.text["imagechat"]) == fields
        assert PROMPT in im.text["parameters"] and "Seed: 1234" in im.text["parameters"]
    else:
        exif = im.getexif()
        assert exif[0x010E].encode("latin-1").decode("utf-8") == PROMPT and exif[0x0131] == "imagechat"


@pytest.mark.parametrize("size", [1024, 512])
def test_an_image_smaller_than_the_size_comes_at_its_own_size(client, users, size):
    r = client.get(download_url(str(users["small"]), "png", size), cookies=users["cookies"])
    assert r.status_code == 200 and _read(r.content).size == (300, 200)


def test_the_original_in_its_stored_format_keeps_the_stored_pixels(client, users):
    image_id = users["small"]
    _, stored = library.image_bytes(users["owner"], image_id)
    r = client.get(download_url(str(image_id), "webp"), cookies=users["cookies"])
    assert np.array_equal(np.asarray(_read(r.content)), np.asarray(_read(stored)))


@pytest.mark.parametrize("query", ["?size=2048", "?size=abc", "?size=", "?size=1024&size=512", "?size=-512",
                                   "?size=1024.0", "?size=%00"])
def test_an_unknown_size_is_a_clear_400(client, users, query):
    url = download_url(str(users["wide"]), "png") + query
    r = client.get(url, cookies=users["cookies"])
    assert r.status_code == 400
    assert "?size=1024 or ?size=512" in r.text and "original size" in r.text


def test_etags_differ_per_format_and_size_and_revalidate(client, users):
    tags = {}
    for fmt in ("png", "jpeg", "webp"):
        for size in (None, 1024, 512):
            r = client.get(download_url(str(users["wide"]), fmt, size), cookies=users["cookies"])
            tags[(fmt, size)] = r.headers["etag"]
            assert r.headers["cache-control"] == "private, max-age=31536000, immutable"
    assert len(set(tags.values())) == 9
    again = client.get(download_url(str(users["wide"]), "jpeg", 512), cookies=users["cookies"],
                       headers={"If-None-Match": tags[("jpeg", 512)]})
    assert again.status_code == 304 and again.content == b""
    stale = client.get(download_url(str(users["wide"]), "jpeg", 512), cookies=users["cookies"],
                       headers={"If-None-Match": tags[("jpeg", 1024)]})
    assert stale.status_code == 200 and stale.content


@pytest.mark.parametrize("size", [None, 512])
def test_only_the_owner_can_download(client, users, size):
    url = download_url(str(users["wide"]), "png", size)
    assert client.get(url, cookies=users["other"]).status_code == 404
    client.cookies.clear()
    assert client.get(url).status_code == 401
    guessed = download_url(str(uuid.uuid4()), "png", size)
    assert client.get(guessed, cookies=users["cookies"]).status_code == 404
    # A bad size is refused the same way for a real and a guessed id: no oracle for which ids exist.
    bad = {"size": "9"}
    real = client.get(download_url(str(users["wide"]), "png"), params=bad, cookies=users["other"])
    fake = client.get(download_url(str(uuid.uuid4()), "png"), params=bad, cookies=users["other"])
    assert real.status_code == fake.status_code == 400 and real.text == fake.text


def test_a_deleted_image_is_not_downloadable(client, users):
    image_id = store(users["owner"], prompt="soon gone")
    url = download_url(str(image_id), "jpeg", 512)
    assert client.get(url, cookies=users["cookies"]).status_code == 200
    with session_scope() as s:
        s.get(Image, image_id).deleted_at = datetime.now(UTC)
    r = client.get(url, cookies=users["cookies"])
    assert r.status_code == 404 and r.text == "Image not found."
