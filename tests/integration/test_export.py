"""ZIP export: tickets hold only the owner's live images, the route is bound to the ticket's owner, and the
streamed archive is a valid ZIP with every image (metadata embedded) and parseable manifests."""

from __future__ import annotations

import csv
import io
import json
import uuid
import zipfile
from datetime import UTC, datetime

import pytest
from PIL import Image as PILImage
from starlette.applications import Starlette
from starlette.testclient import TestClient

from imagechat.api import routes
from imagechat.core import export, library, redis_client
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.urls import export_url
from imagechat.db import session_scope
from imagechat.models import Album, AlbumImage, Image, ImageData
from tests.integration.test_downloads import account, picture, store

pytestmark = pytest.mark.usefixtures("database_url", "redis_url")


@pytest.fixture(scope="module")
def client(database_url, redis_url):
    with TestClient(Starlette(routes=routes)) as c:
        yield c


def _delete(image_id: uuid.UUID) -> None:
    with session_scope() as s:
        s.get(Image, image_id).deleted_at = datetime.now(UTC)


def _album(owner_id: int, name: str, image_ids) -> None:
    with session_scope() as s:
        album = Album(owner_id=owner_id, name=name)
        s.add(album)
        s.flush()
        for image_id in image_ids:
            s.add(AlbumImage(album_id=album.id, image_id=image_id))


@pytest.fixture(scope="module")
def library_of_two(client):
    """An owner with three images (one favourite, tagged, in two albums) and a stranger with one."""
    owner, cookies = account()
    stranger, stranger_cookies = account()
    ids = [store(owner, prompt="=HYPERLINK(\"http://evil\") a lighthouse", w=320, h=240,
                 favorite=True, tags=["sea", "night"]),
           store(owner, prompt='Quotes "and" <tags> & 雪 🚣', w=200, h=300),
           store(owner, prompt="a third, plain one", w=256, h=256, seed=None, revised_prompt=None)]
    _album(owner, "Coast", ids[:1])
    _album(owner, "Best of", ids[:2])
    foreign = store(stranger, prompt="not yours", w=64, h=64)
    return {"owner": owner, "cookies": cookies, "stranger": stranger, "stranger_cookies": stranger_cookies,
            "ids": ids, "foreign": foreign}


def _unzip(content: bytes) -> tuple[zipfile.ZipFile, dict, list[dict]]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.testzip() is None  # every member's CRC checks out
    folder = archive.namelist()[0].split("/")[0]
    manifest = json.loads(archive.read(f"{folder}/manifest.json"))
    rows = list(csv.DictReader(io.StringIO(archive.read(f"{folder}/manifest.csv").decode("utf-8-sig"))))
    return archive, manifest, rows


def test_ticket_keeps_only_the_owners_live_images_in_order(library_of_two):
    lib = library_of_two
    gone = store(lib["owner"], prompt="deleted before export")
    _delete(gone)
    wanted = [lib["ids"][2], lib["foreign"], uuid.uuid4(), gone, str(lib["ids"][0]), lib["ids"][2], "not-a-uuid", 7]
    ticket = export.create_ticket(lib["owner"], wanted, name="My export")
    opened = export.open_ticket(lib["owner"], ticket)
    assert opened.image_ids == [lib["ids"][2], lib["ids"][0]] and opened.name == "my-export"
    assert 0 < redis_client.client().ttl(redis_client.key("export", ticket)) <= export.TICKET_SECONDS
    assert len(ticket) >= 40 and export.create_ticket(lib["owner"], wanted) != ticket  # unguessable, fresh


def test_a_ticket_with_nothing_exportable_is_refused(library_of_two):
    lib = library_of_two
    with pytest.raises(InvalidRequest, match="nothing to export"):
        export.create_ticket(lib["owner"], [lib["foreign"], uuid.uuid4()])
    with pytest.raises(InvalidRequest, match="nothing to export"):
        export.create_ticket(lib["stranger"], lib["ids"])
    with pytest.raises(InvalidRequest, match="at most 10,000"):
        export.create_ticket(lib["owner"], [uuid.uuid4() for _ in range(export.MAX_IMAGES + 1)])


def test_zip_holds_every_image_with_metadata_and_valid_manifests(client, library_of_two):
    lib = library_of_two
    ticket = export.create_ticket(lib["owner"], lib["ids"], name='Album "Coast"\r\nX-Evil: 1 / ..')
    r = client.get(export_url(ticket), cookies=lib["cookies"])
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    assert r.headers["content-disposition"] == (
        "attachment; filename=\"album-coast-x-evil-1.zip\"; filename*=UTF-8''album-coast-x-evil-1.zip")
    assert r.headers["cache-control"] == "private, no-store" and "x-evil" not in r.headers
    archive, manifest, rows = _unzip(r.content)
    names = archive.namelist()
    assert len(names) == len(set(names)) == 5 and all(n.startswith("album-coast-x-evil-1/") for n in names)
    assert manifest["count"] == 3 and manifest["name"] == "album-coast-x-evil-1"
    assert [m["id"] for m in manifest["images"]] == [str(i) for i in lib["ids"]] == [row["id"] for row in rows]
    for entry, row in zip(manifest["images"], rows, strict=True):
        data = archive.read(f"album-coast-x-evil-1/{entry['file']}")
        assert entry["bytes"] == len(data) == int(row["bytes"]) and row["file"] == entry["file"]
        im = PILImage.open(io.BytesIO(data))
        im.load()
        assert im.format == "WEBP" and im.size == (entry["width"], entry["height"])
        assert im.getexif()[0x010E].encode("latin-1").decode("utf-8") == entry["prompt"]
        assert entry["file"].endswith(".webp") and "/" not in entry["file"] and not entry["file"].startswith(".")
    first, second, third = manifest["images"]
    assert first["prompt"] == '=HYPERLINK("http://evil") a lighthouse' and first["favorite"] is True
    assert sorted(first["tags"]) == ["night", "sea"] and first["albums"] == ["Best of", "Coast"]
    assert second["prompt"] == 'Quotes "and" <tags> & 雪 🚣' and second["albums"] == ["Best of"]
    assert third["seed"] is None and third["revised_prompt"] is None and third["albums"] == []
    assert (first["style"], first["engine"], first["model"]) == ("watercolor", "offline", "painter")
    # The CSV defuses a formula (spreadsheets would run it); JSON keeps the exact text.
    assert rows[0]["prompt"] == "'" + first["prompt"] and rows[0]["favorite"] == "True"
    assert rows[1]["prompt"] == second["prompt"] and rows[0]["albums"] == "Best of; Coast"
    assert list(rows[0]) == list(export.MANIFEST_FIELDS)


def test_only_the_tickets_owner_can_download_it(client, library_of_two):
    lib = library_of_two
    ticket = export.create_ticket(lib["owner"], lib["ids"])
    url = export_url(ticket)
    stranger = client.get(url, cookies=lib["stranger_cookies"])
    assert stranger.status_code == 404 and "expired or isn't yours" in stranger.text
    client.cookies.clear()
    anonymous = client.get(url)
    assert anonymous.status_code == 401 and "Log in" in anonymous.text
    for guess in (export_url("A" * 43), export_url("../" + ticket), export_url(ticket[:-1]), export_url("x")):
        assert client.get(guess, cookies=lib["cookies"]).status_code == 404
    with pytest.raises(NotFound):
        export.open_ticket(lib["stranger"], ticket)
    # The stranger's failed tries did not spend or break it.
    assert client.get(url, cookies=lib["cookies"]).status_code == 200


def test_an_expired_ticket_is_a_404(client, library_of_two):
    lib = library_of_two
    ticket = export.create_ticket(lib["owner"], lib["ids"][:1])
    redis_client.client().delete(redis_client.key("export", ticket))  # what Redis does after TICKET_SECONDS
    r = client.get(export_url(ticket), cookies=lib["cookies"])
    assert r.status_code == 404 and "Start the export again" in r.text


def test_an_image_deleted_after_the_ticket_is_not_exported(client, library_of_two):
    lib = library_of_two
    doomed = store(lib["owner"], prompt="deleted after the ticket", w=64, h=64)
    ticket = export.create_ticket(lib["owner"], [doomed, lib["ids"][1]])
    _delete(doomed)
    archive, manifest, rows = _unzip(client.get(export_url(ticket), cookies=lib["cookies"]).content)
    assert [m["id"] for m in manifest["images"]] == [str(lib["ids"][1])] and len(rows) == 1
    assert not any("deleted-after" in n for n in archive.namelist())


def _store_as(owner_id: int, image_id: uuid.UUID, prompt: str) -> None:
    """A stored image with a chosen id (library.add_images always draws a new one)."""
    prepared = library.prepare(picture(32, 32))
    with session_scope() as s:
        s.add(Image(id=image_id, owner_id=owner_id, prompt=prompt, engine="offline", width=32, height=32,
                    mime=prepared.mime, byte_size=prepared.byte_size, sha256=prepared.sha256))
        s.flush()
        s.add(ImageData(image_id=image_id, data_b64=prepared.data_b64, thumb_b64=prepared.thumb_b64))


def test_names_stay_unique_when_ids_share_a_prefix_and_batches_keep_order(library_of_two):
    lib = library_of_two
    prefix = uuid.uuid4().hex[:8]
    twins = [uuid.UUID(prefix + uuid.uuid4().hex[8:]) for _ in range(2)]
    for twin in twins:
        _store_as(lib["owner"], twin, "same prompt")
    order = [twins[0], lib["ids"][2], twins[1], lib["ids"][0], lib["ids"][1]]
    ticket = export.open_ticket(lib["owner"], export.create_ticket(lib["owner"], order))
    archive, manifest, _ = _unzip(b"".join(export.stream_zip(ticket, batch=2)))
    assert [m["id"] for m in manifest["images"]] == [str(i) for i in order]
    files = [m["file"] for m in manifest["images"]]
    assert len(set(files)) == 5 and files[0] == f"same-prompt-{prefix}.webp" and str(twins[1]) in files[2]
    assert sorted(archive.namelist()) == sorted([f"imagechat/{f}" for f in files]
                                                + ["imagechat/manifest.json", "imagechat/manifest.csv"])
