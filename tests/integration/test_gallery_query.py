"""core.gallery on the real PostgreSQL: keyset pages and cursors, full-text search (prefix, weights, album
names), highlighting, every filter alone and combined, the URL round trip, facets, the detail view with its
lineage, neighbours; and that nothing ever shows another user's or a deleted image."""

from __future__ import annotations

import base64
import io
import itertools
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PILImage
from sqlalchemy import event
from sqlmodel import select

from imagechat.core import gallery, library, organise
from imagechat.core.errors import InvalidRequest, NotFound
from imagechat.core.gallery import GalleryQuery
from imagechat.core.text import clean_text
from imagechat.db import get_engine, session_scope
from imagechat.models import GenerationJob, Image, ImageData, Message, Role
from tests import hostile

_clock = itertools.count()
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def stored():
    im = PILImage.new("RGB", (64, 48), (30, 90, 160))
    out = io.BytesIO()
    im.save(out, format="PNG")
    return library.prepare(out.getvalue())


def add(owner: int, prompt: str = "a lighthouse on a cliff", *, stored=None, created_at: datetime | None = None,
        style: str | None = "watercolor", engine: str = "offline", model: str = "painter", width: int = 256,
        height: int = 256, revised: str | None = None, tags: tuple[str, ...] = (), favorite: bool = False,
        parent: uuid.UUID | None = None, job_id: uuid.UUID | None = None, index: int = 0,
        conversation_id: int | None = None) -> uuid.UUID:
    """One image row with a real payload; created_at defaults to a strictly increasing clock."""
    created_at = created_at or BASE + timedelta(seconds=next(_clock))
    with session_scope() as s:
        image = Image(owner_id=owner, prompt=prompt, revised_prompt=revised, style=style, engine=engine, model=model,
                      width=width, height=height, mime="image/webp", byte_size=10, sha256="0" * 64,
                      tags=list(tags), favorite=favorite, parent_image_id=parent, job_id=job_id, index_in_job=index,
                      conversation_id=conversation_id, created_at=created_at)
        s.add(image)
        s.flush()
        data = stored.data_b64 if stored else "AAAA"
        s.add(ImageData(image_id=image.id, data_b64=data, thumb_b64=stored.thumb_b64 if stored else "AAAA"))
        return image.id


def ids(page: gallery.Page) -> list[uuid.UUID]:
    return [uuid.UUID(c.id) for c in page.cards]


def found(owner: int, query: GalleryQuery | None = None, **kw) -> set[uuid.UUID]:
    q = query or GalleryQuery(**kw)
    matched = set(gallery.ids_matching(owner, q))
    assert gallery.count(owner, q) == len(matched)
    assert set(ids(gallery.page(owner, q, limit=200))) == matched
    return matched


def walk(owner: int, query: GalleryQuery, limit: int) -> list[uuid.UUID]:
    out, cursor = [], None
    while True:
        page = gallery.page(owner, query, cursor=cursor, limit=limit)
        out += ids(page)
        assert len(page.cards) <= limit
        if page.next_cursor is None:
            return out
        cursor = page.next_cursor


@contextmanager
def sql_log():
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    engine = get_engine()
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


# ---------------------------------------------------------------- pages and cursors

def test_pages_reach_every_image_once_in_either_order(make_user):
    owner, other = make_user(), make_user()
    mine = [add(owner, f"picture {i}") for i in range(53)]
    same_moment = BASE + timedelta(days=400)  # ties on created_at are broken by id
    mine += [add(owner, "twin", created_at=same_moment) for _ in range(4)]
    add(other, "someone else's picture")
    gone = add(owner, "deleted picture")
    organise.delete_images(owner, [gone])
    newest = walk(owner, GalleryQuery(), limit=10)
    assert len(newest) == len(set(newest)) == 57 and set(newest) == set(mine)
    with session_scope() as s:
        keys = {i.id: (i.created_at, i.id) for i in s.exec(select(Image).where(Image.owner_id == owner))}
    assert [keys[i] for i in newest] == sorted((keys[i] for i in mine), reverse=True)
    assert walk(owner, GalleryQuery(sort="oldest"), limit=7) == newest[::-1]
    assert gallery.count(owner, GalleryQuery()) == 57
    assert gallery.page(make_user(), GalleryQuery()) == gallery.Page(cards=[], next_cursor=None)


def test_the_last_full_page_has_no_cursor_and_limit_is_clamped(make_user):
    owner = make_user()
    for i in range(4):
        add(owner, f"boat {i}")
    assert gallery.page(owner, GalleryQuery(), limit=4).next_cursor is None
    assert gallery.page(owner, GalleryQuery(), limit=3).next_cursor is not None
    for bad in (0, -5, "10", 1.5, None, True):
        assert len(gallery.page(owner, GalleryQuery(), limit=bad).cards) >= 1
    assert len(gallery.page(owner, GalleryQuery(), limit=10**9).cards) == 4


def test_pages_are_keyset_pages_never_offset(make_user):
    owner = make_user()
    for i in range(6):
        add(owner, f"kite {i}")
    first = gallery.page(owner, GalleryQuery(), limit=2)
    with sql_log() as statements:
        gallery.page(owner, GalleryQuery(), cursor=first.next_cursor, limit=2)
    main = [q for q in statements if "FROM images" in q and "ORDER BY" in q]
    assert len(main) == 1, statements
    assert "OFFSET" not in main[0].upper() and "(images.created_at, images.id) <" in main[0], main[0]


def _forged_cursors(good: str) -> list[object]:
    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")
    raw = base64.urlsafe_b64decode(good + "=" * (-len(good) % 4))
    return [*hostile.QUERY_PARAMS, *hostile.IDS, *hostile.SEARCHES, good + "x", good[:-3], good + "=", "A" * 10,
            b64(b"o" + raw[1:]), b64(raw.replace(b":", b";")), b64(b"n99999999999999999999:" + b"0" * 32),
            b64(b"n-99999999999999999:" + b"0" * 32), b64(raw + b"\x00"), b64(b"\xff\xfe" * 8),
            b64(b"n1:" + b"g" * 32), b64(b"n1:" + b"A" * 32), b64(b'{"created_at": 1, "id": "x"}'), "", " ", 7, [good]]


def test_forged_and_malformed_cursors_are_refused_with_a_message(make_user):
    owner = make_user()
    for i in range(3):
        add(owner, f"tree {i}")
    good = gallery.page(owner, GalleryQuery(), limit=1).next_cursor
    for cursor in _forged_cursors(good):
        if cursor is None:
            continue
        with pytest.raises(InvalidRequest) as err:
            gallery.page(owner, GalleryQuery(), cursor=cursor, limit=1)
        assert "Reload" in err.value.user_message, cursor
    # A newest-first cursor does not continue an oldest-first list.
    with pytest.raises(InvalidRequest):
        gallery.page(owner, GalleryQuery(sort="oldest"), cursor=good)


def test_another_users_cursor_only_positions_within_your_own_images(make_user):
    a, b = make_user(), make_user()
    for i in range(3):
        add(a, f"a {i}")
    b_ids = {add(b, f"b {i}") for i in range(3)}
    cursor = gallery.page(a, GalleryQuery(), limit=1).next_cursor
    assert set(ids(gallery.page(b, GalleryQuery(), cursor=cursor))) <= b_ids
    made = gallery.encode_cursor("newest", BASE + timedelta(days=10_000), uuid.uuid4())
    assert set(ids(gallery.page(b, GalleryQuery(), cursor=made))) == b_ids


# ---------------------------------------------------------------- search

def test_search_covers_prompt_revised_prompt_tags_and_album_names(make_user):
    owner, other = make_user(), make_user()
    fox = add(owner, "a red fox sleeping in the snow")
    revised = add(owner, "a cabin", revised="a wooden cabin beside a frozen waterfall at dawn")
    tagged = add(owner, "a small harbour", tags=("portugal", "summer trip"))
    in_album = add(owner, "a yellow tram")
    album = organise.create_album(owner, "Lisbon Holidays")
    organise.add_to_album(owner, album.id, [in_album])
    add(other, "a red fox of another user", tags=("portugal",))
    assert found(owner, text="fox") == {fox}
    assert found(owner, text="foxes sleeping") == {fox}
    assert found(owner, text="waterfall") == {revised}
    assert found(owner, text="portugal") == {tagged}
    assert found(owner, text="trip") == {tagged}
    assert found(owner, text="lisbon") == {in_album}
    assert found(owner, text="holiday") == {in_album}
    assert found(owner, text="giraffe") == set()
    assert found(owner, text="fox waterfall") == set()


def test_search_ranks_nothing_but_finds_by_prefix_of_the_last_word(make_user):
    owner = make_user()
    light = add(owner, "a lighthouse on a cliff at dusk")
    fox = add(owner, "a red fox in a meadow")
    lake = add(owner, "mountains reflected in a lake")
    assert found(owner, text="lighth") == {light}
    assert found(owner, text="l") == {light, lake}
    assert found(owner, text="red f") == {fox}
    assert found(owner, text="mount") == {lake}
    assert found(owner, text="mountains la") == {lake}
    assert found(owner, text="mount lake") == set()  # only the last word is a prefix
    assert found(owner, text="RED FOX") == {fox}


def test_stop_words_or_punctuation_only_do_not_filter(make_user):
    owner = make_user()
    all_ids = {add(owner, "a boat"), add(owner, "the moon")}
    for text in ("the", "a of the", "!!!", "&&", ":*", "   "):
        assert found(owner, GalleryQuery(text=text)) == all_ids, text


def test_hostile_searches_give_results_never_errors(make_user):
    owner, other = make_user(), make_user()
    mine = {add(owner, "sunset over mountains with a lake"), add(owner, "a red fox")}
    add(other, "sunset over a lake, not yours")
    for text in hostile.SEARCHES + hostile.TEXT:
        q = gallery.parse_query({"q": text})
        assert found(owner, q) <= mine, text
        q = GalleryQuery(text=text)  # a query built in code goes through the same checks
        assert set(gallery.ids_matching(owner, q)) <= mine
    assert found(owner, text="lake:*") == found(owner, text="lake") == {next(iter(
        found(owner, text="sunset")))}
    assert found(owner, text="!lake") == found(owner, text="lake")  # not a negation
    assert found(owner, text="fox | lake") == set()  # not an OR: both words must match


def test_search_words_never_carry_tsquery_syntax():
    for text in hostile.SEARCHES + hostile.TEXT:
        source = gallery.tsquery_source(text)
        for word in source.split(" & "):
            assert word == "" or word.removesuffix(":*").isalnum(), (text, source)
    assert gallery.tsquery_source("Red fox! lak:*") == "red & fox & lak:*"
    assert len(gallery.search_words("word " * 1000)) == gallery.MAX_SEARCH_WORDS


@pytest.mark.parametrize("text, query, marked", [
    ("Sunset over the Mountains, by a lake", "mountain la", ["Mountains", "lake"]),
    ("a mountain", "mountains", ["mountain"]),
    ("running foxes", "fox run", ["running", "foxes"]),
    ("a lighthouse", "lighth", ["lighthouse"]),
    ("The red fox", "the red", ["red"]),
    ("nothing here", "giraffe", []),
    ("<b>bold</b> boat", "boat", ["boat"]),
    ("", "boat", []),
    ("a boat", "", []),
    ("a boat", "!!! ::", []),
])
def test_highlight_marks_the_matched_words(text, query, marked):
    segments = gallery.highlight(text, query)
    assert "".join(s for s, _ in segments) == text
    assert [s for s, hit in segments if hit] == marked
    assert all(a[1] != b[1] for a, b in itertools.pairwise(segments)) or not segments


def test_highlight_survives_hostile_input():
    for text in hostile.TEXT[:40]:
        for query in hostile.SEARCHES:
            assert "".join(s for s, _ in gallery.highlight(text, query)) == text


# ---------------------------------------------------------------- filters

def test_each_filter_alone_and_combined(make_user):
    owner, other = make_user(), make_user()
    square = add(owner, "square watercolor", style="watercolor", width=512, height=512,
                 created_at=datetime(2026, 1, 10, 0, 0, tzinfo=UTC))
    wide = add(owner, "wide neon", style="neon", engine="openai", model="gpt-image-2", width=1792, height=1024,
               created_at=datetime(2026, 1, 11, 23, 59, 59, 999999, tzinfo=UTC), favorite=True, tags=("city",))
    tall = add(owner, "tall sketch", style="sketch", width=1024, height=1792,
               created_at=datetime(2026, 1, 12, 0, 0, tzinfo=UTC), tags=("city", "night"))
    edit = add(owner, "tall sketch", style="cartoon", parent=tall, width=512, height=1024,
               created_at=datetime(2026, 1, 13, tzinfo=UTC))
    add(other, "wide neon of another user", style="neon", engine="openai", width=1792, height=1024, favorite=True,
        tags=("city",))
    album = organise.create_album(owner, "Best")
    organise.add_to_album(owner, album.id, [wide, tall])
    everything = {square, wide, tall, edit}
    assert found(owner) == everything
    assert found(owner, style="neon") == {wide}
    assert found(owner, engine="openai") == {wide}
    assert found(owner, model="gpt-image-2") == {wide}
    assert found(owner, aspect="square") == {square}
    assert found(owner, aspect="wide") == {wide}
    assert found(owner, aspect="tall") == {tall, edit}
    assert found(owner, size="1024x1792") == {tall}
    assert found(owner, size="1x1") == set()
    assert found(owner, date_from=date(2026, 1, 11)) == {wide, tall, edit}
    assert found(owner, date_to=date(2026, 1, 11)) == {square, wide}  # inclusive, to the last microsecond
    assert found(owner, date_from=date(2026, 1, 11), date_to=date(2026, 1, 12)) == {wide, tall}
    assert found(owner, date_from=date(2026, 1, 12), date_to=date(2026, 1, 11)) == set()
    assert found(owner, favorites=True) == {wide}
    assert found(owner, album_id=album.id) == {wide, tall}
    assert found(owner, tag="city") == {wide, tall}
    assert found(owner, tag="nowhere") == set()
    assert found(owner, has_edits=True) == {tall}
    assert found(owner, tag="city", aspect="tall", album_id=album.id, has_edits=True, text="sketch") == {tall}
    assert found(owner, tag="city", favorites=True, text="neon", engine="openai") == {wide}
    assert found(owner, tag="city", style="watercolor") == set()
    order = gallery.ids_matching(owner, GalleryQuery(sort="oldest"))
    assert order == [square, wide, tall, edit]
    assert gallery.ids_matching(owner, GalleryQuery()) == order[::-1]
    assert gallery.ids_matching(owner, GalleryQuery(), limit=2) == [edit, tall]
    organise.delete_images(owner, [edit])  # a deleted edit no longer counts as one
    assert found(owner, has_edits=True) == set()


def test_other_users_album_ids_filter_to_nothing(make_user):
    a, b = make_user(), make_user()
    a_image = add(a, "a private picture")
    a_album = organise.create_album(a, "Private")
    organise.add_to_album(a, a_album.id, [a_image])
    add(b, "b's picture")
    assert found(b, album_id=a_album.id) == set()
    assert found(a, album_id=a_album.id) == {a_image}


# ---------------------------------------------------------------- the URL

FULL = GalleryQuery(text="red fox", style="oil painting", engine="openai", model="gpt-image-2", aspect="wide",
                    size="1792x1024", date_from=date(2026, 1, 1), date_to=date(2026, 2, 28), favorites=True,
                    album_id=42, tag="summer trip", has_edits=True, sort="oldest")


def test_query_params_round_trip_and_omit_defaults():
    params = gallery.query_params(FULL)
    assert params == {"q": "red fox", "style": "oil painting", "engine": "openai", "model": "gpt-image-2",
                      "aspect": "wide", "size": "1792x1024", "from": "2026-01-01", "to": "2026-02-28", "fav": "1",
                      "album": "42", "tag": "summer trip", "edits": "1", "sort": "oldest"}
    assert gallery.parse_query(params) == FULL
    assert gallery.query_params(GalleryQuery()) == {}
    assert gallery.parse_query({}) == GalleryQuery()


_value = st.one_of(st.text(max_size=60), st.sampled_from(hostile.QUERY_PARAMS + hostile.SIZES + [
    "1", "0", "oldest", "newest", "wide", "tall", "square", "2026-02-29", "2025-02-29", "12", "neon", "Summer"]),
    st.integers(), st.none(), st.lists(st.text(max_size=5), max_size=2))
_keys = st.sampled_from(["q", "style", "engine", "model", "aspect", "size", "from", "to", "fav", "album", "tag",
                         "edits", "sort", "other"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_keys, _value))
def test_any_url_parses_to_a_query_that_round_trips(params):
    q = gallery.parse_query(params)
    assert gallery.parse_query(gallery.query_params(q)) == q
    assert len(q.text) <= gallery.QUERY_CHARS and len(q.tag) <= 40


@pytest.mark.parametrize("key", ["q", "style", "engine", "model", "aspect", "size", "from", "to", "fav", "album",
                                 "tag", "edits", "sort"])
def test_invalid_url_values_are_dropped(key):
    default = gallery.query_params(GalleryQuery())
    for bad in hostile.QUERY_PARAMS + [None, 5, ["a", "b"], {"x": 1}, "2026-13-01", "0", "-3", "9" * 12]:
        q = gallery.parse_query({key: bad})
        params = gallery.query_params(q)
        if params == default:
            continue
        # A value that survived is in its accepted shape. Search text and tags are free text (cleaned: one
        # line, no control characters, bounded); the other values cannot carry markup.
        (value,) = params.values()
        if key in ("q", "tag"):
            assert value == clean_text(value) and len(value) <= gallery.QUERY_CHARS, (key, bad, params)
        else:
            assert "<" not in value and "%" not in value and len(value) <= 128, (key, bad, params)
    assert gallery.parse_query({"sort": "random", "aspect": "round", "fav": "yes", "album": "0",
                                "size": "0x0", "from": "2026-02-30", "edits": "true"}) == GalleryQuery()


def test_sizes_in_the_url(key="size"):
    for value in hostile.SIZES:
        q = gallery.parse_query({key: value})
        assert q.size in ("", value.strip())
    assert gallery.parse_query({"size": "1024x1024"}).size == "1024x1024"
    assert gallery.parse_query({"size": "1024X1024"}).size == ""
    assert gallery.parse_query({"tag": "  Summer  "}).tag == "summer"
    assert gallery.parse_query({"q": ["fox"]}).text == "fox"


# ---------------------------------------------------------------- facets, neighbours, detail

def test_facets_list_only_your_visible_values(make_user):
    owner, other = make_user(), make_user()
    add(owner, "one", style="neon", engine="openai", model="gpt-image-2", width=1792, height=1024, tags=("a", "b"))
    add(owner, "two", style="sketch", width=256, height=256, tags=("b",))
    add(owner, "three", style="sketch", width=256, height=256)
    gone = add(owner, "gone", style="cartoon", engine="diffusers", tags=("secret",))
    organise.delete_images(owner, [gone])
    add(other, "theirs", style="pixel art", engine="diffusers", model="sd", tags=("theirs",))
    album = organise.create_album(owner, "Trips")
    f = gallery.facets(owner)
    assert f.styles == ["neon", "sketch"]
    assert f.engines == ["offline", "openai"]
    assert f.models == ["gpt-image-2", "painter"]
    assert f.sizes == ["256x256", "1792x1024"]
    assert f.tags == ["b", "a"]
    assert [a.id for a in f.albums] == [album.id]
    empty = gallery.facets(make_user())
    assert (empty.styles, empty.tags, empty.albums) == ([], [], [])


def test_neighbours_follow_the_query_order(make_user):
    owner, other = make_user(), make_user()
    a, b, c = add(owner, "boat one"), add(owner, "tree"), add(owner, "boat two")
    theirs = add(other, "boat three")
    assert gallery.neighbours(owner, GalleryQuery(), b) == (str(c), str(a))
    assert gallery.neighbours(owner, GalleryQuery(), c) == (None, str(b))
    assert gallery.neighbours(owner, GalleryQuery(sort="oldest"), b) == (str(a), str(c))
    assert gallery.neighbours(owner, GalleryQuery(text="boat"), c) == (None, str(a))
    assert gallery.neighbours(owner, GalleryQuery(text="boat"), b) == (str(c), str(a))  # b itself need not match
    assert gallery.neighbours(owner, GalleryQuery(), theirs) == (None, None)
    assert gallery.neighbours(other, GalleryQuery(), a) == (None, None)
    assert gallery.neighbours(owner, GalleryQuery(), "not-a-uuid") == (None, None)
    organise.delete_images(owner, [b])
    assert gallery.neighbours(owner, GalleryQuery(), c) == (None, str(a))
    assert gallery.neighbours(owner, GalleryQuery(), b) == (None, None)


def _job(owner: int, prompt: str, *, cost: float = 0.0, kind: str = "generate", params: dict | None = None,
         conversation_id: int | None = None) -> uuid.UUID:
    with session_scope() as s:
        job = GenerationJob(owner_id=owner, engine="openai", model="gpt-image-2", prompt=prompt, status="succeeded",
                            cost_usd=cost, kind=kind, params=params or {}, conversation_id=conversation_id)
        s.add(job)
        s.flush()
        return job.id


def test_detail_has_every_fact_and_the_lineage(make_user, stored):
    from imagechat.core import conversations

    owner, other = make_user(), make_user()
    conversation = conversations.create(owner)
    job = _job(owner, "a lighthouse", cost=0.08, conversation_id=conversation.id)
    message = conversations.add_message(owner, conversation.id, Role.ASSISTANT, "Here you go", job_id=job)
    root = add(owner, "a lighthouse", stored=stored, job_id=job, index=0, conversation_id=conversation.id,
               revised="a tall lighthouse on a rocky cliff", tags=("sea",), favorite=True, style="watercolor")
    add(owner, "a lighthouse", job_id=job, index=1)
    restyle_job = _job(owner, "a lighthouse", kind="edit")
    restyled = add(owner, "a lighthouse", style="neon", parent=root, job_id=restyle_job)
    variation = add(owner, "a lighthouse", style="watercolor", parent=root)
    grandchild = add(owner, "a lighthouse at night", style="neon", parent=restyled)
    hidden = add(owner, "a lighthouse", style="sketch", parent=root)
    organise.delete_images(owner, [hidden])
    album = organise.create_album(owner, "Coast")
    organise.add_to_album(owner, album.id, [root])

    d = gallery.detail(owner, root)
    assert (d.id, d.prompt, d.revised_prompt, d.style, d.engine, d.width, d.height, d.favorite, d.tags) == (
        str(root), "a lighthouse", "a tall lighthouse on a rocky cliff", "watercolor", "offline", 256, 256, True,
        ["sea"])
    assert d.cost_usd == pytest.approx(0.04)  # the job's cost over its two images
    assert (d.conversation_id, d.message_id, d.parent_id, d.kind) == (conversation.id, message.id, None, "generate")
    assert [a.name for a in d.albums] == ["Coast"]
    assert d.ancestors == []
    assert [(i.id, i.depth, i.kind) for i in d.descendants] == [
        (str(restyled), 1, "restyle"), (str(variation), 1, "variation"), (str(grandchild), 2, "restyle")]

    g = gallery.detail(owner, grandchild)
    assert [(i.id, i.depth) for i in g.ancestors] == [(str(root), 2), (str(restyled), 1)]
    assert (g.parent_id, g.kind, g.cost_usd, g.message_id, g.albums) == (str(restyled), "restyle", 0.0, None, [])

    for who, image_id in ((other, root), (owner, hidden), (owner, uuid.uuid4())):
        with pytest.raises(NotFound):
            gallery.detail(who, image_id)
    for bad in hostile.IDS:
        with pytest.raises(NotFound):
            gallery.detail(owner, bad)


def test_lineage_never_crosses_to_another_user(make_user):
    a, b = make_user(), make_user()
    a_root = add(a, "a's root")
    b_child = add(b, "b's child pointing at a's image", parent=a_root)  # cannot happen through the app
    assert gallery.detail(a, a_root).descendants == []
    assert gallery.detail(b, b_child).ancestors == []


def test_listing_never_reads_the_payload_table(make_user):
    owner = make_user()
    add(owner, "a quiet harbour", tags=("calm",))
    with sql_log() as statements:
        gallery.page(owner, GalleryQuery(text="harbour"))
        gallery.count(owner, GalleryQuery(tag="calm"))
        gallery.facets(owner)
        gallery.ids_matching(owner, GalleryQuery())
    assert statements and not [q for q in statements if "image_data" in q]


def test_seeded_message_link_belongs_to_the_owner(make_user):
    """A message of another user pointing at the job is never offered as the image's message."""
    owner, other = make_user(), make_user()
    job = _job(owner, "a boat")
    image = add(owner, "a boat", job_id=job)
    with session_scope() as s:
        from imagechat.models import Conversation

        conversation = Conversation(owner_id=other)
        s.add(conversation)
        s.flush()
        s.add(Message(conversation_id=conversation.id, owner_id=other, role=Role.ASSISTANT, content="x", job_id=job))
    assert gallery.detail(owner, image).message_id is None


# ---- the first page as JSON (api/gallery.py): what the page draws before its websocket is up


@pytest.fixture(scope="module")
def first_page_client():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    from imagechat.api.gallery import routes

    with TestClient(Starlette(routes=routes)) as c:
        yield c


def _cookies(user_id: int) -> dict[str, str]:
    from imagechat.core.auth import SESSION_COOKIE, start_session

    return {SESSION_COOKIE: start_session(user_id)[1]}


def test_first_page_route_sends_the_states_first_page_of_your_images_only(make_user, first_page_client):
    from imagechat.core.gallery_view import FIRST_PAGE

    owner, other = make_user(), make_user()
    mine = [add(owner, f"harbour at dawn {i}", tags=("sea",) if i % 2 else ()) for i in range(FIRST_PAGE + 3)]
    add(other, "harbour at dawn, not yours")
    r = first_page_client.get("/api/gallery/first", cookies=_cookies(owner))
    assert r.status_code == 200 and r.headers["cache-control"] == "private, no-store"
    cards = r.json()["cards"]
    assert [c["id"] for c in cards] == [str(i) for i in reversed(mine)][:FIRST_PAGE]
    first = cards[0]
    assert first["thumb"] == f"/api/images/{first['id']}/thumb.webp"
    assert (first["width"], first["height"], first["style"]) == (256, 256, "watercolor")
    assert first["segments"] == []  # no search: the prompt as it is
    # The page's own query applies, validated the same way; the open image (?image=) does not filter.
    r = first_page_client.get("/api/gallery/first?q=harb&tag=sea&sort=oldest&image=x&style=%3Cscript%3E",
                              cookies=_cookies(owner))
    cards = r.json()["cards"]
    assert [c["id"] for c in cards] == [str(i) for i in mine[1::2]][:FIRST_PAGE]
    assert {"text": "harbour", "hit": True} in cards[0]["segments"]


def test_first_page_route_needs_a_session(make_user, first_page_client):
    owner = make_user()
    add(owner)
    for cookies in ({}, {"imagechat_session": "forged"}):
        first_page_client.cookies.clear()
        r = first_page_client.get("/api/gallery/first", cookies=cookies)
        assert r.status_code == 401 and "cards" not in r.json()
