"""Answers from the library, and a bounded cache of download conversions.

Request cache: a user who asks again for exactly what they already have (same normalised prompt, style, size,
quality, count, engine and model, no explicit seed) within REQUEST_CACHE_HOURS gets those images back at no
cost instead of paying for a new generation. Only their own: every lookup is by owner. The job row carries
the request's key (`request_key`, set by jobs.submit), so a lookup is one indexed query. The answer is written
to the ledger as a $0 charge that records what it saved, which the usage page adds up.

Conversions: a download in another format or size (core/export.download) is kept in a byte-bounded LRU per
process, keyed by the stored image's sha256, so a second download of the same file is not converted again.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, select

from imagechat.core.request import ImageRequest
from imagechat.db import session_scope
from imagechat.models import GenerationJob, Image, JobKind, JobStatus, LedgerStatus, UsageEntry, utcnow
from imagechat.settings import get_settings

_SPACES = re.compile(r"\s+")
_EDGE = re.compile(r"^[\s\"'“”‘’.,;:!?]+|[\s\"'“”‘’.,;:!?]+$")
_CANDIDATES = 5  # newest matching jobs looked at: one whose images were deleted is skipped


def normalise_prompt(prompt: str) -> str:
    """Case, runs of spaces and quotes or punctuation at the ends make no difference to the picture asked for."""
    return _EDGE.sub("", _SPACES.sub(" ", prompt.casefold()))


def request_key(request: ImageRequest, engine: str, model: str) -> str | None:
    """The cache key of a request as the engine will make it; None when it must not be answered from the
    library (an explicit seed asks for a particular new picture; an edit has a source image)."""
    if request.seed is not None or request.source_image is not None:
        return None
    parts = (normalise_prompt(request.prompt), request.style or "", f"{request.width}x{request.height}",
             request.quality, str(request.n), engine, model)
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Hit:
    job_id: object  # uuid.UUID
    image_ids: list[str]
    created_at: datetime
    cost_usd: float  # what the original generation cost: what this answer saves


def lookup(owner_id: int, key: str | None, *, now: datetime | None = None) -> Hit | None:
    """The newest of this owner's succeeded jobs with this key inside the window whose images all still exist."""
    hours = get_settings().request_cache_hours
    if key is None or hours <= 0:
        return None
    since = (now or utcnow()) - timedelta(hours=hours)
    with session_scope() as s:
        jobs = s.exec(select(GenerationJob).where(
            GenerationJob.owner_id == owner_id, GenerationJob.request_key == key,
            GenerationJob.status == JobStatus.SUCCEEDED, GenerationJob.kind == JobKind.GENERATE,
            GenerationJob.created_at >= since,
        ).order_by(GenerationJob.created_at.desc()).limit(_CANDIDATES)).all()
        for job in jobs:
            ids = s.exec(select(Image.id).where(Image.job_id == job.id, Image.owner_id == owner_id,
                                                Image.deleted_at.is_(None)).order_by(Image.index_in_job)).all()
            if ids and len(ids) == int(job.params.get("n", 1)):
                return Hit(job.id, [str(i) for i in ids], job.created_at, float(job.cost_usd or 0.0))
    return None


def record_answer(session: Session, owner_id: int, hit: Hit, *, engine: str, model: str) -> None:
    """The ledger's line for an answer from the library: charged $0, with what a new generation would have cost."""
    session.add(UsageEntry(owner_id=owner_id, job_id=None, status=LedgerStatus.CHARGED, amount_usd=0.0,
                           engine=engine, model=model, settled_at=utcnow(),
                           usage={"cached": True, "saved_usd": hit.cost_usd, "from_job": str(hit.job_id)}))


# ---------------------------------------------------------------- conversions


class ByteLRU:
    """Least-recently-used values (bytes) up to `max_bytes` in all; a value larger than that is not kept."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self._items: OrderedDict[object, bytes] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get_or_make(self, key: object, make: Callable[[], bytes]) -> bytes:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return value
            self.misses += 1
        value = make()  # outside the lock: conversions of different images run at once
        if len(value) <= self.max_bytes:
            with self._lock:
                if key not in self._items:
                    self._items[key] = value
                    self._size += len(value)
                while self._size > self.max_bytes:
                    _, dropped = self._items.popitem(last=False)
                    self._size -= len(dropped)
        return value

    @property
    def size(self) -> int:
        return self._size

    def __len__(self) -> int:
        return len(self._items)


_conversions: ByteLRU | None = None
_conversions_lock = threading.Lock()


def conversions() -> ByteLRU:
    """This process's cache of converted downloads (DOWNLOAD_CACHE_MB)."""
    global _conversions
    with _conversions_lock:
        if _conversions is None:
            _conversions = ByteLRU(get_settings().download_cache_mb * 1024 * 1024)
        return _conversions
