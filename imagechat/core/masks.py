"""Edit masks: the area of an image a user painted in the detail view's mask editor.

A mask is a PNG of the image's own size whose fully transparent pixels (alpha 0) mark the area to change and
whose other pixels are kept: OpenAI's convention for `images.edit(mask=...)`, which every engine here follows.

Its way in, never through Reflex state:
1. the browser exports the painted layer as that PNG and POSTs it to api/masks.py (the owner's session cookie);
2. `check` validates it with Pillow against the image and returns a canonical RGBA PNG; `park` keeps it in Redis
   for TICKET_SECONDS under an unguessable ticket (one per user: a new upload replaces the previous one);
3. the detail view's state hands the ticket to chat.edit_in_chat, which `take`s it (once, only its owner, only
   for that image) and submits the edit job with it: jobs.submit writes it to job_masks in the job's own
   transaction, and the runner gives it to the engine as ImageRequest.mask (`job_mask`).
"""

from __future__ import annotations

import io
import json
import re
import secrets
import struct
import uuid

from PIL import Image
from redis.exceptions import RedisError
from sqlmodel import select

from imagechat.core import codec, redis_client
from imagechat.core.errors import InvalidImage, InvalidRequest, NotFound, ServiceUnavailable
from imagechat.db import session_scope
from imagechat.models import JobMask

MAX_MASK_BYTES = 4 * 1024 * 1024  # OpenAI's own limit for a mask file
TICKET_SECONDS = 600
TICKET_PATTERN = re.compile(r"[A-Za-z0-9_-]{32,64}")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

EXPIRED = "That painted area has expired or isn't yours. Press Apply again."
_REDIS_DOWN = "Painted edits are unavailable right now (the queue service is unreachable). Try again in a minute."
_AGAIN = "Paint the area again and press Apply."


def check(data: bytes, size: tuple[int, int], *, max_pixels: int) -> bytes:
    """The mask as a canonical RGBA PNG (black, with the painted alpha), or InvalidImage / InvalidRequest
    saying what is wrong with it. `size` is the image's (width, height)."""
    if not isinstance(data, bytes | bytearray) or not data:
        raise InvalidImage(f"The painted area arrived empty. {_AGAIN}", code="mask_empty")
    if len(data) > MAX_MASK_BYTES:
        raise InvalidImage(f"The painted area is larger than {MAX_MASK_BYTES // (1024 * 1024)} MB. {_AGAIN}",
                           code="mask_too_large")
    data = bytes(data)
    if not data[:8] == PNG_SIGNATURE:
        raise InvalidImage(f"The painted area must be a PNG image. {_AGAIN}", code="mask_not_png")
    if len(data) >= 24 and data[12:16] == b"IHDR":  # its size from the header, before anything is decoded
        _size_matches(struct.unpack(">II", data[16:24]), size)
    # Never more pixels than the image has (a bomb stops at the header); InvalidImage for damaged files.
    decoded = codec.decode(data, min(max_pixels, size[0] * size[1]))
    image = decoded.image
    if decoded.info.format != "png":
        raise InvalidImage(f"The painted area must be a PNG image. {_AGAIN}", code="mask_not_png")
    _size_matches(image.size, size)
    if image.mode not in ("LA", "RGBA"):
        raise InvalidRequest(f"The painted area has no transparency, so it marks nothing to change. {_AGAIN}",
                             code="mask_no_alpha")
    alpha = image.getchannel("A")
    transparent = alpha.histogram()[0]
    if transparent == 0:
        raise InvalidRequest("Nothing is painted yet: paint over the part of the image to change, then press "
                             "Apply.", code="mask_blank")
    if transparent == image.width * image.height:
        raise InvalidRequest("The whole image is painted. Leave the parts to keep unpainted, or use Restyle to "
                             "change all of it.", code="mask_full")
    out = Image.new("RGBA", image.size, (0, 0, 0, 255))
    out.putalpha(alpha)
    buf = io.BytesIO()
    out.save(buf, "PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def _size_matches(got: tuple[int, int], size: tuple[int, int]) -> None:
    if tuple(got) != tuple(size):
        raise InvalidRequest(f"The painted area is {got[0]}x{got[1]} pixels but the image is {size[0]}x{size[1]}. "
                             "Close the editor, open it again and repaint.", code="mask_size")


def painted_fraction(mask_png: bytes) -> float:
    """The share of the image the mask marks for change (its fully transparent pixels)."""
    alpha = Image.open(io.BytesIO(mask_png)).getchannel("A")
    return alpha.histogram()[0] / (alpha.width * alpha.height)


# ---------------------------------------------------------------- tickets (Redis, short-lived)

def _key(ticket: str) -> str:
    return redis_client.key("mask", ticket)


def _owner_key(owner_id: int) -> str:
    return redis_client.key("mask-owner", str(owner_id))


def park(owner_id: int, image_id: uuid.UUID, mask_png: bytes) -> str:
    """Keep a checked mask for TICKET_SECONDS; the ticket redeems it once. A user has one at a time."""
    ticket = secrets.token_urlsafe(32)
    body = json.dumps({"owner": owner_id, "image": str(image_id), "mask": codec.to_b64(mask_png)})
    try:
        r = redis_client.client()
        previous = r.set(_owner_key(owner_id), ticket, ex=TICKET_SECONDS, get=True)
        pipe = r.pipeline()
        if previous:
            pipe.delete(_key(previous.decode() if isinstance(previous, bytes) else str(previous)))
        pipe.set(_key(ticket), body, ex=TICKET_SECONDS)
        pipe.execute()
    except RedisError:
        raise ServiceUnavailable(_REDIS_DOWN) from None
    return ticket


def take(owner_id: int, image_id: uuid.UUID, ticket: object) -> bytes:
    """The mask parked under `ticket` for this owner and image, removed so it is used once; NotFound otherwise
    (a wrong, used, expired or someone else's ticket all look the same)."""
    if not isinstance(ticket, str) or not TICKET_PATTERN.fullmatch(ticket):
        raise NotFound(EXPIRED)
    try:
        raw = redis_client.client().getdel(_key(ticket))
    except RedisError:
        raise ServiceUnavailable(_REDIS_DOWN) from None
    if raw is None:
        raise NotFound(EXPIRED)
    try:
        body = json.loads(raw)
        if body["owner"] != owner_id or body["image"] != str(image_id):
            raise NotFound(EXPIRED)
        return codec.from_b64(body["mask"])
    except (ValueError, KeyError, TypeError, InvalidImage):
        raise NotFound(EXPIRED) from None


def job_mask(job_id: uuid.UUID) -> bytes | None:
    """The mask stored with a job (jobs.submit), if it has one."""
    with session_scope() as s:
        b64 = s.exec(select(JobMask.mask_b64).where(JobMask.job_id == job_id)).first()
    return codec.from_b64(b64) if b64 else None
