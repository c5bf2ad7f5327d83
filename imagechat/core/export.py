"""Downloads that carry their own story: the metadata embedded in each file, and ZIP exports.

An export is two steps. `create_ticket` (called from the gallery: a selection, an album, a search result)
checks which images the owner may export and parks that id list in Redis under an unguessable ticket for
a few minutes; the browser then GETs core.urls.export_url(ticket) with the owner's cookie, and
`stream_zip` writes the archive as it reads the payloads, a batch at a time, so memory stays flat
whether 10 or 10,000 images are exported.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import tempfile
import uuid
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.exceptions import RedisError
from sqlmodel import select

from imagechat.core import codec, redis_client, storage
from imagechat.core.errors import InvalidRequest, NotFound, ServiceUnavailable
from imagechat.db import session_scope
from imagechat.models import Album, AlbumImage, Image, ImageData

TICKET_SECONDS = 600
# Most a ticket may hold: the gallery's "select all N matching" limit (core.gallery.MAX_SELECTION).
MAX_IMAGES = 10_000
# Payloads read per query: ~25 x 0.1-2 MB of Base64 at a time, whatever the export's size.
BATCH = 25
# Ids checked per ownership query when a ticket is made (metadata only, no payloads).
_CHECK_BATCH = 1000
TICKET_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
MANIFEST_FIELDS = ("id", "file", "prompt", "revised_prompt", "style", "engine", "model", "seed", "width",
                   "height", "bytes", "created", "tags", "albums", "favorite")

# IPTC digital source types: a trained model's output, or (the offline engine) a pure algorithm's.
_TRAINED = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
_ALGORITHMIC = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicMedia"

_EXPIRED = ("This export link has expired or isn't yours. Start the export again from the gallery "
            "(a link works for 10 minutes).")
_REDIS_DOWN = "Exports are unavailable right now (the queue service is unreachable). Try again in a minute."


# ---------------------------------------------------------------- what a file says about itself

def metadata_fields(image: Image) -> dict:
    """The generation facts, as embedded in every download and listed in export manifests."""
    return {
        "imagechat_id": str(image.id), "prompt": image.prompt, "revised_prompt": image.revised_prompt,
        "style": image.style, "engine": image.engine, "model": image.model, "seed": image.seed,
        "width": image.width, "height": image.height, "created": _iso(image.created_at), "software": "imagechat",
    }


def embedded(image: Image) -> codec.Embedded:
    """Only facts that never change once an image is stored: a download's ETag can stay the stored hash."""
    fields = metadata_fields(image)
    facts = [("Style", image.style), ("Engine", image.engine), ("Model", image.model), ("Seed", image.seed),
             ("Size", f"{image.width}x{image.height}"), ("Created", fields["created"]),
             ("imagechat id", fields["imagechat_id"])]
    lines = [image.prompt]
    if image.revised_prompt:
        lines.append(f"Revised prompt: {image.revised_prompt}")
    lines.append(", ".join(f"{k}: {v}" for k, v in facts if v not in (None, "")))
    return codec.Embedded(description=image.prompt, parameters="\n".join(lines), fields=fields,
                          created=image.created_at,
                          source_type=_ALGORITHMIC if image.engine == "offline" else _TRAINED)


def _iso(when: datetime | None) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds") if when else ""


def slug(text: str, limit: int = 48) -> str:
    """Lower-case ASCII words joined by dashes: safe in any file system and any header."""
    value = re.sub(r"[^a-z0-9]+", "-", (text or "").lower()).strip("-")[:limit].rstrip("-")
    return value or "image"


def file_name(image: Image, fmt: str, size: int | None = None, *, full_id: bool = False) -> str:
    ident = str(image.id) if full_id else str(image.id)[:8]
    return f"{slug(image.prompt)}-{ident}{f'-{size}' if size else ''}.{codec.extension(fmt)}"


def download(image: Image, data: bytes, fmt: str, size: int | None) -> bytes:
    """One download: the stored bytes as `fmt`, long side at most `size`, metadata embedded."""
    return codec.render_download(data, fmt, long_side=size, meta=embedded(image))


# ---------------------------------------------------------------- tickets

@dataclass(frozen=True)
class Ticket:
    owner_id: int
    name: str
    image_ids: list[uuid.UUID]


def _key(ticket: str) -> str:
    return redis_client.key("export", ticket)


def _as_uuid(value: object) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(value) if isinstance(value, str) and len(value) <= 64 else None
    except ValueError:
        return None


def create_ticket(owner_id: int, image_ids: Sequence[uuid.UUID], *, name: str = "imagechat") -> str:
    """Park the owner's exportable ids (theirs, not deleted; order kept, repeats dropped) under a new
    ticket for TICKET_SECONDS. Ids that aren't theirs, or aren't ids at all (UUID strings are accepted),
    are left out silently, as everywhere in bulk."""
    wanted = list(dict.fromkeys(filter(None, map(_as_uuid, image_ids))))
    if len(wanted) > MAX_IMAGES:
        raise InvalidRequest(f"An export can hold at most {MAX_IMAGES:,} images; this one has {len(wanted):,}. "
                             "Narrow the selection (an album, a date range) and export in parts.")
    owned: set[uuid.UUID] = set()
    with session_scope() as s:
        for start in range(0, len(wanted), _CHECK_BATCH):
            chunk = wanted[start:start + _CHECK_BATCH]
            owned.update(s.exec(select(Image.id).where(Image.id.in_(chunk), Image.owner_id == owner_id,
                                                       Image.deleted_at.is_(None))).all())
    ids = [i for i in wanted if i in owned]
    if not ids:
        raise InvalidRequest("There is nothing to export: the chosen images were deleted or aren't yours. "
                             "Select some images and try again.")
    ticket = secrets.token_urlsafe(32)
    body = json.dumps({"owner": owner_id, "name": slug(name, 64), "ids": [str(i) for i in ids]})
    try:
        redis_client.client().set(_key(ticket), body, ex=TICKET_SECONDS)
    except RedisError:
        raise ServiceUnavailable(_REDIS_DOWN) from None
    return ticket


def open_ticket(owner_id: int, ticket: str) -> Ticket:
    """The ticket's contents, for its owner only: unknown, expired and other people's tickets are all
    the same NotFound."""
    if not isinstance(ticket, str) or not TICKET_PATTERN.fullmatch(ticket):
        raise NotFound(_EXPIRED)
    try:
        raw = redis_client.client().get(_key(ticket))
    except RedisError:
        raise ServiceUnavailable(_REDIS_DOWN) from None
    if raw is None:
        raise NotFound(_EXPIRED)
    body = json.loads(raw)
    if body.get("owner") != owner_id:
        raise NotFound(_EXPIRED)
    return Ticket(owner_id=owner_id, name=body.get("name") or "imagechat",
                  image_ids=[uuid.UUID(i) for i in body.get("ids", [])])


def archive_name(ticket: Ticket) -> str:
    return f"{ticket.name}.zip"


# ---------------------------------------------------------------- the streamed archive

class _Sink:
    """An unseekable file for zipfile: it collects what is written until the stream takes it. Without
    tell()/seek(), zipfile writes sizes in data descriptors after each member, as streaming needs."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def _zip_time(when: datetime | None) -> tuple[int, int, int, int, int, int]:
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return max(when, datetime(1980, 1, 1, tzinfo=UTC)).timetuple()[:6]


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    """A spreadsheet runs cells that start like a formula: prefix those with an apostrophe (OWASP's
    advice); manifest.json keeps the exact text."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA_START) else value


def _batch(owner_id: int, ids: list[uuid.UUID]) -> tuple[list[tuple[Image, bytes]], dict[uuid.UUID, list[str]]]:
    """The batch's images with their bytes (in the ticket's order; deleted ones left out) and the names of
    the albums each is in. Bytes come from each image's store (core.storage; object-store reads overlap)."""
    with session_scope() as s:
        rows = s.exec(select(Image, ImageData.data_b64).outerjoin(ImageData, ImageData.image_id == Image.id)
                      .where(Image.id.in_(ids), Image.owner_id == owner_id, Image.deleted_at.is_(None))).all()
        albums: dict[uuid.UUID, list[str]] = {}
        for image_id, album in s.exec(select(AlbumImage.image_id, Album.name)
                                      .join(Album, Album.id == AlbumImage.album_id)
                                      .where(AlbumImage.image_id.in_(ids), Album.owner_id == owner_id)
                                      .order_by(Album.name)).all():
            albums.setdefault(image_id, []).append(album)
    order = {image_id: n for n, image_id in enumerate(ids)}
    rows = sorted(rows, key=lambda r: order[r[0].id])
    datas = storage.read_many([(image.id, image.storage, inline) for image, inline in rows])
    return [(image, data) for (image, _), data in zip(rows, datas, strict=True)], albums


def stream_zip(ticket: Ticket, *, batch: int = BATCH) -> Iterator[bytes]:
    """The archive, a few hundred kB at a time: `<name>/` holding each image in its stored format with
    its metadata embedded (pixels untouched), manifest.json and manifest.csv. Images deleted since the
    ticket was made are left out. Manifests are spooled to temporary files (on disk past 1 MB) so
    their size does not grow memory either."""
    sink = _Sink()
    folder = ticket.name
    names: set[str] = set()
    with (tempfile.SpooledTemporaryFile(max_size=1 << 20) as json_rows,
          tempfile.SpooledTemporaryFile(max_size=1 << 20) as csv_rows,
          zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as archive):
        count = 0
        line = io.StringIO()
        writer = csv.writer(line)
        for start in range(0, len(ticket.image_ids), batch):
            rows, albums = _batch(ticket.owner_id, ticket.image_ids[start:start + batch])
            for image, stored in rows:
                fmt = codec.normalize_format(image.mime.rsplit("/", 1)[-1])
                data = codec.embed_metadata(stored, embedded(image))
                name = file_name(image, fmt)
                if name in names:  # two ids sharing their first 8 characters
                    name = file_name(image, fmt, full_id=True)
                names.add(name)
                info = zipfile.ZipInfo(f"{folder}/{name}", _zip_time(image.created_at))
                info.compress_type = zipfile.ZIP_STORED  # already compressed: deflate would only cost time
                archive.writestr(info, data)
                yield sink.take()
                row = {**metadata_fields(image), "file": name, "bytes": len(data), "tags": list(image.tags or []),
                       "albums": albums.get(image.id, []), "favorite": bool(image.favorite)}
                row["id"] = row.pop("imagechat_id")
                json_rows.write((("" if count == 0 else ",\n") + "  "
                                 + json.dumps({k: row[k] for k in MANIFEST_FIELDS}, ensure_ascii=False))
                                .encode("utf-8"))
                writer.writerow([_csv_cell("; ".join(row[k]) if k in ("tags", "albums") else row[k])
                                 for k in MANIFEST_FIELDS])
                csv_rows.write(line.getvalue().encode("utf-8"))
                line.seek(0)
                line.truncate()
                count += 1
        head = json.dumps({"name": ticket.name, "exported_at": _iso(datetime.now(UTC)), "count": count})
        yield from _write_member(archive, sink, f"{folder}/manifest.json",
                                 [head[:-1].encode() + b', "images": [\n', json_rows, b"\n]}\n"])
        header = io.StringIO()
        csv.writer(header).writerow(MANIFEST_FIELDS)
        # The BOM tells spreadsheet programs the file is UTF-8.
        yield from _write_member(archive, sink, f"{folder}/manifest.csv",
                                 [("\ufeff" + header.getvalue()).encode("utf-8"), csv_rows])
    yield sink.take()  # the central directory


def _write_member(archive: zipfile.ZipFile, sink: _Sink, name: str, parts: list) -> Iterator[bytes]:
    """A deflated member written from bytes and spooled files, 64 kB at a time."""
    info = zipfile.ZipInfo(name, _zip_time(None))
    info.compress_type = zipfile.ZIP_DEFLATED
    with archive.open(info, "w") as out:
        for part in parts:
            if isinstance(part, bytes):
                out.write(part)
                continue
            part.seek(0)
            while chunk := part.read(1 << 16):
                out.write(chunk)
                yield sink.take()
    yield sink.take()
