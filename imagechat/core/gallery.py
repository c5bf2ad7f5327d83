"""Finding images: the gallery's query (from and to the URL), keyset pages, counts, facets, full-text search
with highlighting, the detail view with lineage. The read side; core.organise writes.

Every query is scoped to its owner and skips deleted images. Pages are keyset pages on (created_at, id)
(index ix_images_owner_created_id), never OFFSET: page 150 costs what page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import aliased
from sqlmodel import Session

from imagechat.core import organise
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.organise import AlbumView
from imagechat.core.text import clean_text
from imagechat.db import session_scope
from imagechat.models import MAX_TAG_CHARS, Album, AlbumImage, GenerationJob, Image, Message, Role

SORTS = ("newest", "oldest")
ASPECTS = ("square", "wide", "tall")
PAGE_SIZE = 60
MAX_PAGE = 200
MAX_SELECTION = organise.MAX_SELECTION
QUERY_CHARS = 200
MAX_SEARCH_WORDS = 12
MAX_WORD_CHARS = 64
MAX_LINEAGE = 200  # descendants listed in a detail view
MAX_DEPTH = 50
MAX_FACET_TAGS = 200

CURSOR_INVALID = "The gallery couldn't continue from where it was. Reload the page to start again from the top."

# Accepted shapes of URL values: anything else is dropped (they are also shown back and put in links).
_STYLE = re.compile(r"[a-z][a-z0-9 _-]{0,63}")
_ENGINE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,31}")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/()+,-]{0,127}")
_SIZE = re.compile(r"([1-9][0-9]{0,4})x([1-9][0-9]{0,4})")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ID = re.compile(r"[1-9][0-9]{0,9}")
_WORD = re.compile(r"[^\W_]+")
_CURSOR = re.compile(r"[A-Za-z0-9_-]{8,96}")
_CURSOR_VALUE = re.compile(r"([no])(-?[0-9]{1,19}):([0-9a-f]{32})")


@dataclass(frozen=True)
class GalleryQuery:
    text: str = ""
    style: str = ""
    engine: str = ""
    model: str = ""
    aspect: str = ""  # "" | square | wide | tall
    size: str = ""  # "" or "WxH"
    date_from: date | None = None
    date_to: date | None = None
    favorites: bool = False
    album_id: int | None = None
    tag: str = ""
    has_edits: bool = False
    sort: str = "newest"


@dataclass
class Card:
    id: str
    prompt: str
    revised_prompt: str
    style: str
    engine: str
    model: str
    width: int
    height: int
    created_at: datetime
    favorite: bool
    tags: list[str]


@dataclass
class Page:
    cards: list[Card]
    next_cursor: str | None  # None: this was the last page


@dataclass
class Facets:
    styles: list[str]
    engines: list[str]
    models: list[str]
    sizes: list[str]  # "WxH", most used first
    tags: list[str]  # most used first
    albums: list[AlbumView]


@dataclass
class LineageItem:
    id: str
    prompt: str
    style: str
    kind: str  # generate | restyle | variation
    depth: int  # ancestors: 1 = the parent; descendants: 1 = a direct edit
    created_at: datetime


@dataclass
class ImageDetail:
    id: str
    prompt: str
    revised_prompt: str
    style: str
    engine: str
    model: str
    seed: int | None
    width: int
    height: int
    mime: str
    byte_size: int
    cost_usd: float  # the job's charged cost divided over its images
    created_at: datetime
    favorite: bool
    tags: list[str]
    albums: list[AlbumView]
    conversation_id: int | None
    message_id: int | None  # the assistant message of its job
    parent_id: str | None
    kind: str
    ancestors: list[LineageItem] = field(default_factory=list)  # root first
    descendants: list[LineageItem] = field(default_factory=list)  # breadth-first


# ---------------------------------------------------------------- the query in the URL

def _param(params: Mapping[str, object], key: str, limit: int) -> str:
    value = params.get(key)
    if isinstance(value, list | tuple) and len(value) == 1:  # ?q=a parsed as ["a"] by some routers
        value = value[0]
    if not isinstance(value, str) or len(value) > limit:
        return ""
    return value.strip()


def _choice(value: str, pattern: re.Pattern) -> str:
    return value if pattern.fullmatch(value) else ""


def _day(value: str) -> date | None:
    if not _DATE.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def _size(value: str) -> str:
    match = _SIZE.fullmatch(value)
    return value if match and int(match[1]) <= 65535 and int(match[2]) <= 65535 else ""


def _text(value: str) -> str:
    text = clean_text(value)
    return text if len(text) <= QUERY_CHARS else ""


def _tag(value: str) -> str:
    try:
        return organise.clean_tag(value) if value else ""
    except InvalidRequest:
        return ""


def parse_query(params: Mapping[str, object]) -> GalleryQuery:
    """The query of a gallery URL. Invalid values (wrong type, too long, unknown choice) are dropped."""
    if not isinstance(params, Mapping):
        return GalleryQuery()
    album = _param(params, "album", 10)
    aspect, sort = _param(params, "aspect", 10), _param(params, "sort", 10)
    return GalleryQuery(
        text=_text(_param(params, "q", QUERY_CHARS * 4)),
        style=_choice(_param(params, "style", 64).lower(), _STYLE),
        engine=_choice(_param(params, "engine", 32), _ENGINE),
        model=_choice(_param(params, "model", 128), _MODEL),
        aspect=aspect if aspect in ASPECTS else "",
        size=_size(_param(params, "size", 11)),
        date_from=_day(_param(params, "from", 10)),
        date_to=_day(_param(params, "to", 10)),
        favorites=_param(params, "fav", 1) == "1",
        album_id=int(album) if _ID.fullmatch(album) and int(album) < 2**31 else None,
        tag=_tag(_param(params, "tag", MAX_TAG_CHARS * 4)),
        has_edits=_param(params, "edits", 1) == "1",
        sort=sort if sort in SORTS else "newest",
    )


def query_params(q: GalleryQuery) -> dict[str, str]:
    """The URL parameters of a query: only the values that differ from the default."""
    def text(value: object) -> str:
        return value if isinstance(value, str) else ""

    def day(value: object) -> str:
        return value.isoformat() if isinstance(value, date) else ""

    album = q.album_id if type(q.album_id) is int else None
    out = {"q": text(q.text), "style": text(q.style), "engine": text(q.engine), "model": text(q.model),
           "aspect": text(q.aspect), "size": text(q.size), "from": day(q.date_from), "to": day(q.date_to),
           "fav": "1" if q.favorites is True else "", "album": str(album) if album is not None else "",
           "tag": text(q.tag), "edits": "1" if q.has_edits is True else "",
           "sort": q.sort if q.sort != "newest" and isinstance(q.sort, str) else ""}
    return {key: value for key, value in out.items() if value}


# ---------------------------------------------------------------- full-text search

def search_words(text: str) -> list[str]:
    """The words of a search box text: letters and digits only, so nothing the user types is ever read as
    tsquery syntax (& | ! : * ( ) < > quotes are separators here)."""
    if not isinstance(text, str):
        return []
    return [w[:MAX_WORD_CHARS] for w in _WORD.findall(clean_text(text).lower())][:MAX_SEARCH_WORDS]


def tsquery_source(text: str) -> str:
    """Every word must match; the last one as a prefix (the user may be typing it): 'red & fox & lak:*'."""
    words = search_words(text)
    return " & ".join(words[:-1] + [words[-1] + ":*"]) if words else ""


_ENGLISH = sa.literal_column("'english'::regconfig")


def _resolve_tsquery(s: Session, text: str) -> str | None:
    """The normalised tsquery text, or None when there is nothing to search for (no words, or stop words
    only: to_tsquery would then match nothing, where the user expects everything)."""
    source = tsquery_source(text)
    if not source:
        return None
    q = sa.func.to_tsquery(_ENGLISH, source)
    nodes, resolved = s.execute(sa.select(sa.func.numnode(q), sa.cast(q, sa.Text))).one()
    return resolved if nodes else None


def _matches(tsquery: str) -> sa.ColumnElement:
    # A constant tsquery: the planner sees its words and can estimate the GIN index scan.
    return Image.search.op("@@")(sa.cast(sa.literal(tsquery, sa.Text), TSQUERY))


_STOP = frozenset("a an and are as at be but by for from if in into is it its of on or over such the their then "
                  "there these they this to under was were will with".split())
_SUFFIXES = ("ing", "ies", "es", "ed", "ly", "s")


def _stem(word: str) -> str:
    """A crude English stem, for highlighting only (PostgreSQL's stemmer decides what matches)."""
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def highlight(text: str, query_text: str) -> list[tuple[str, bool]]:
    """`text` cut into segments; True marks a word the search matched: a whole query word in any form
    ("mountain" marks "Mountains"), or, for the last query word, any word it begins ("lak" marks "lake")."""
    text = text if isinstance(text, str) else ""
    words = [w for w in search_words(query_text) if w not in _STOP]
    if not text or not words:
        return [(text, False)] if text else []
    whole = {_stem(w) for w in words[:-1]}
    last = words[-1]

    def hit(word: str) -> bool:
        lower = word.lower()
        stem = _stem(lower)
        if stem in whole or any(stem.startswith(w) and len(w) >= 4 for w in whole):
            return True
        return lower.startswith(last) or (len(_stem(last)) >= 3 and stem.startswith(_stem(last)))

    segments: list[tuple[str, bool]] = []
    at = 0
    for match in _WORD.finditer(text):
        if not hit(match[0]):
            continue
        if match.start() > at:
            segments.append((text[at:match.start()], False))
        segments.append((match[0], True))
        at = match.end()
    if at < len(text):
        segments.append((text[at:], False))
    merged: list[tuple[str, bool]] = []
    for segment in segments:  # neighbouring plain segments join up
        if merged and not segment[1] and not merged[-1][1]:
            merged[-1] = (merged[-1][0] + segment[0], False)
        else:
            merged.append(segment)
    return merged


# ---------------------------------------------------------------- filters, order, cursors

def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


_CHILD = aliased(Image, name="child")  # made once: a new alias per call would defeat SQLAlchemy's statement cache


def _conditions(owner_id: int, q: GalleryQuery, tsquery: str | None) -> list[sa.ColumnElement]:
    cond = [Image.owner_id == owner_id, Image.deleted_at.is_(None)]
    if tsquery:
        cond.append(_matches(tsquery))
    if q.style:
        cond.append(Image.style == q.style)
    if q.engine:
        cond.append(Image.engine == q.engine)
    if q.model:
        cond.append(Image.model == q.model)
    if q.aspect == "square":
        cond.append(Image.width == Image.height)
    elif q.aspect == "wide":
        cond.append(Image.width > Image.height)
    elif q.aspect == "tall":
        cond.append(Image.width < Image.height)
    if q.size and (match := _SIZE.fullmatch(q.size)):
        cond += [Image.width == int(match[1]), Image.height == int(match[2])]
    if q.date_from:
        cond.append(Image.created_at >= _day_start(q.date_from))
    if q.date_to:  # inclusive: up to the end of that day (UTC)
        cond.append(Image.created_at < _day_start(q.date_to + timedelta(days=1)))
    if q.favorites:
        cond.append(Image.favorite.is_(True))
    if q.album_id is not None:
        cond.append(sa.exists().where(AlbumImage.image_id == Image.id, AlbumImage.album_id == q.album_id,
                                      AlbumImage.album_id == Album.id, Album.owner_id == owner_id))
    if q.tag:
        cond.append(Image.tags.contains([q.tag]))
    if q.has_edits:
        # The owner's parents, collected once (ix_images_parent), then looked up by primary key: much cheaper
        # than an EXISTS probe for each of the owner's images.
        child = _CHILD
        parents = sa.select(child.parent_image_id).where(
            child.owner_id == owner_id, child.parent_image_id.is_not(None), child.deleted_at.is_(None))
        cond.append(Image.id == sa.any_(sa.func.array(parents.scalar_subquery())))
    return cond


def _checked(query: object) -> GalleryQuery:
    """A query built in code is trusted for its types only; values outside the accepted shapes go, like
    parse_query drops them (a state may build one from its own fields)."""
    return parse_query(query_params(query)) if isinstance(query, GalleryQuery) else GalleryQuery()


def _order(sort: str, *, reverse: bool = False) -> list:
    ascending = (sort == "oldest") != reverse
    return [Image.created_at.asc(), Image.id.asc()] if ascending else [Image.created_at.desc(), Image.id.desc()]


def _after(sort: str, created_at: datetime, image_id: uuid.UUID, *, reverse: bool = False) -> sa.ColumnElement:
    """Rows after (created_at, id) in the sort's order: one row comparison the index range scan uses."""
    key = sa.tuple_(Image.created_at, Image.id)
    value = sa.tuple_(sa.literal(created_at, sa.DateTime(timezone=True)), sa.literal(image_id, sa.Uuid()))
    return key > value if (sort == "oldest") != reverse else key < value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def encode_cursor(sort: str, created_at: datetime, image_id: uuid.UUID) -> str:
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    raw = f"{sort[0]}{micros}:{image_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: object, sort: str) -> tuple[datetime, uuid.UUID]:
    """The keyset values of a cursor made by encode_cursor for this sort; InvalidRequest for anything else."""
    if not isinstance(cursor, str) or not _CURSOR.fullmatch(cursor):
        raise InvalidRequest(CURSOR_INVALID)
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        match = _CURSOR_VALUE.fullmatch(raw)
        if match is None or match[1] != sort[0]:
            raise ValueError(raw)
        return _EPOCH + timedelta(microseconds=int(match[2])), uuid.UUID(hex=match[3])
    except (ValueError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise InvalidRequest(CURSOR_INVALID) from None


_CARD_COLUMNS = (Image.id, Image.prompt, Image.revised_prompt, Image.style, Image.engine, Image.model, Image.width,
                 Image.height, Image.created_at, Image.favorite, Image.tags)


def _card(row) -> Card:
    return Card(id=str(row.id), prompt=row.prompt, revised_prompt=row.revised_prompt or "", style=row.style or "",
                engine=row.engine, model=row.model or "", width=row.width, height=row.height,
                created_at=row.created_at, favorite=row.favorite, tags=list(row.tags or []))


# ---------------------------------------------------------------- reading

def page(owner_id: int, query: GalleryQuery, *, cursor: str | None = None, limit: int = PAGE_SIZE) -> Page:
    """One page of cards in the query's order, from the cursor on (None: from the start)."""
    q = _checked(query)
    limit = min(max(1, limit), MAX_PAGE) if type(limit) is int else PAGE_SIZE
    after = decode_cursor(cursor, q.sort) if cursor is not None else None
    with session_scope() as s:
        cond = _conditions(owner_id, q, _resolve_tsquery(s, q.text))
        if after:
            cond.append(_after(q.sort, *after))
        rows = s.execute(sa.select(*_CARD_COLUMNS).where(*cond).order_by(*_order(q.sort)).limit(limit + 1)).all()
    cards = [_card(r) for r in rows[:limit]]
    more = len(rows) > limit
    next_cursor = encode_cursor(q.sort, rows[limit - 1].created_at, rows[limit - 1].id) if more else None
    return Page(cards=cards, next_cursor=next_cursor)


def count(owner_id: int, query: GalleryQuery) -> int:
    q = _checked(query)
    with session_scope() as s:
        cond = _conditions(owner_id, q, _resolve_tsquery(s, q.text))
        return s.execute(sa.select(sa.func.count()).select_from(Image).where(*cond)).scalar_one()


def ids_matching(owner_id: int, query: GalleryQuery, limit: int = MAX_SELECTION) -> list[uuid.UUID]:
    """The ids of every image the query matches, in its order, at most `limit` ("select all N")."""
    q = _checked(query)
    limit = min(max(1, limit), MAX_SELECTION) if type(limit) is int else MAX_SELECTION
    with session_scope() as s:
        cond = _conditions(owner_id, q, _resolve_tsquery(s, q.text))
        return list(s.execute(sa.select(Image.id).where(*cond).order_by(*_order(q.sort)).limit(limit)).scalars())


def neighbours(owner_id: int, query: GalleryQuery, image_id: uuid.UUID) -> tuple[str | None, str | None]:
    """(previous, next) image ids around `image_id` in the query's order (arrow keys in the detail view).
    The image itself need not match the query (a bookmarked detail view); (None, None) if it isn't visible."""
    q = _checked(query)
    if not isinstance(image_id, uuid.UUID):
        return None, None
    with session_scope() as s:
        here = s.execute(sa.select(Image.created_at, Image.id).where(
            Image.id == image_id, Image.owner_id == owner_id, Image.deleted_at.is_(None))).first()
        if here is None:
            return None, None
        cond = _conditions(owner_id, q, _resolve_tsquery(s, q.text))
        found = []
        for reverse in (True, False):
            stmt = (sa.select(Image.id).where(*cond, _after(q.sort, here.created_at, here.id, reverse=reverse))
                    .order_by(*_order(q.sort, reverse=reverse)).limit(1))
            found.append(s.execute(stmt).scalar_one_or_none())
    return tuple(str(i) if i else None for i in found)


def facets(owner_id: int) -> Facets:
    """The values the filters offer: what the owner's (visible) images actually have. Two grouped scans of the
    owner's rows (by the owner index); the distinct values are few."""
    visible = [Image.owner_id == owner_id, Image.deleted_at.is_(None)]
    combos = sa.select(Image.style, Image.engine, Image.model, Image.width, Image.height, sa.func.count().label("n")) \
        .where(*visible).group_by(Image.style, Image.engine, Image.model, Image.width, Image.height)
    tag_sets = sa.select(Image.tags, sa.func.count().label("n")).where(*visible, Image.tags != []) \
        .group_by(Image.tags)
    with session_scope() as s:
        rows = s.execute(combos).all()
        tag_rows = s.execute(tag_sets).all()
        albums = organise._album_views(s, owner_id)
    sizes: Counter[str] = Counter()
    tags: Counter[str] = Counter()
    for r in rows:
        sizes[f"{r.width}x{r.height}"] += r.n
    for r in tag_rows:
        for tag in r.tags:
            tags[tag] += r.n

    def distinct(values) -> list[str]:
        return sorted({v for v in values if v})

    def most_used(counter: Counter[str], limit: int | None = None) -> list[str]:
        return [k for k, _ in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]

    return Facets(styles=distinct(r.style for r in rows), engines=distinct(r.engine for r in rows),
                  models=distinct(r.model for r in rows), sizes=most_used(sizes), tags=most_used(tags, MAX_FACET_TAGS),
                  albums=albums)


# ---------------------------------------------------------------- the detail view

def _kind(params: dict | None, job_kind: str | None, parent_id, prompt: str, style: str | None,
          parent_prompt: str | None, parent_style: str | None) -> str:
    """How an image came to be: made from words (generate), a change of another image (restyle), or the
    same prompt and style again with a new seed (variation). A job may say so itself (params["action"])."""
    action = (params or {}).get("action") if isinstance(params, dict) else None
    if action in ("variation", "variations"):
        return "variation"
    if action in ("restyle", "edit"):
        return "restyle"
    if parent_id is None:
        return "generate"
    if job_kind != "edit" and prompt == parent_prompt and (style or None) == (parent_style or None):
        return "variation"
    return "restyle"


_LINEAGE_SQL = """
    SELECT i.id, i.prompt, i.style, i.created_at, i.parent_image_id, i.deleted_at, l.depth,
           j.kind AS job_kind, j.params, p.prompt AS parent_prompt, p.style AS parent_style
      FROM lineage l JOIN images i ON i.id = l.id
      LEFT JOIN generation_jobs j ON j.id = i.job_id
      LEFT JOIN images p ON p.id = i.parent_image_id
"""
_ANCESTORS = sa.text("""
    WITH RECURSIVE lineage(id, parent, depth) AS (
        SELECT i.id, i.parent_image_id, 1 FROM images i
         WHERE i.owner_id = :owner AND i.id = (SELECT parent_image_id FROM images WHERE id = :id AND owner_id = :owner)
        UNION ALL
        SELECT i.id, i.parent_image_id, l.depth + 1 FROM images i JOIN lineage l ON i.id = l.parent
         WHERE i.owner_id = :owner AND l.depth < :max_depth
    )""" + _LINEAGE_SQL + " ORDER BY l.depth DESC")
_DESCENDANTS = sa.text("""
    WITH RECURSIVE lineage(id, depth) AS (
        SELECT i.id, 1 FROM images i WHERE i.parent_image_id = :id AND i.owner_id = :owner
        UNION ALL
        SELECT i.id, l.depth + 1 FROM images i JOIN lineage l ON i.parent_image_id = l.id
         WHERE i.owner_id = :owner AND l.depth < :max_depth
    )""" + _LINEAGE_SQL + " ORDER BY l.depth, i.created_at, i.id LIMIT :limit")


def _lineage(s: Session, sql: sa.TextClause, owner_id: int, image_id: uuid.UUID, **extra) -> list[LineageItem]:
    rows = s.execute(sql, {"owner": owner_id, "id": image_id, "max_depth": MAX_DEPTH, **extra}).all()
    # Deleted images stay links of the chain (their edits keep their place) but are not shown.
    return [LineageItem(id=str(r.id), prompt=r.prompt, style=r.style or "", depth=r.depth, created_at=r.created_at,
                        kind=_kind(r.params, r.job_kind, r.parent_image_id, r.prompt, r.style, r.parent_prompt,
                                   r.parent_style))
            for r in rows if r.deleted_at is None]


def detail(owner_id: int, image_id: uuid.UUID) -> ImageDetail:
    """Every fact about one image, its albums and its lineage. NotFound unless it is the owner's and not deleted."""
    if not isinstance(image_id, uuid.UUID):
        raise NotFound(organise.IMAGE_MISSING)
    with session_scope() as s:
        image = s.execute(sa.select(Image).where(Image.id == image_id, Image.owner_id == owner_id,
                                                 Image.deleted_at.is_(None))).scalar_one_or_none()
        if image is None:
            raise NotFound(organise.IMAGE_MISSING)
        job = s.get(GenerationJob, image.job_id) if image.job_id else None
        if job is not None and job.owner_id != owner_id:
            job = None
        cost, message_id = 0.0, None
        if job is not None:
            made = s.execute(sa.select(sa.func.count()).select_from(Image).where(Image.job_id == job.id)).scalar_one()
            cost = float(job.cost_usd or 0.0) / max(1, made)
            message_id = s.execute(sa.select(Message.id).where(
                Message.job_id == job.id, Message.owner_id == owner_id, Message.role == Role.ASSISTANT)
                .order_by(Message.id).limit(1)).scalar_one_or_none()
        parent = s.execute(sa.select(Image.prompt, Image.style).where(
            Image.id == image.parent_image_id, Image.owner_id == owner_id)).first() if image.parent_image_id else None
        return ImageDetail(
            id=str(image.id), prompt=image.prompt, revised_prompt=image.revised_prompt or "",
            style=image.style or "", engine=image.engine, model=image.model or "", seed=image.seed,
            width=image.width, height=image.height, mime=image.mime, byte_size=image.byte_size, cost_usd=cost,
            created_at=image.created_at, favorite=image.favorite, tags=list(image.tags or []),
            albums=organise.albums_of(s, owner_id, image.id), conversation_id=image.conversation_id,
            message_id=message_id, parent_id=str(image.parent_image_id) if image.parent_image_id else None,
            kind=_kind(job.params if job else None, job.kind if job else None, image.parent_image_id, image.prompt,
                       image.style, parent.prompt if parent else None, parent.style if parent else None),
            ancestors=_lineage(s, _ANCESTORS, owner_id, image.id),
            descendants=_lineage(s, _DESCENDANTS, owner_id, image.id, limit=MAX_LINEAGE))
