"""Fill the database (DATABASE_URL) with many real images for one user, fast: for gallery benchmarks and demos.

    python -m benchmarks.seed_gallery --user NAME --count 10000 [--others 90000] [--password PW]

The user is created when missing (with --password: one that can log in). A pool of distinct pictures is
painted once by the offline engine and stored through library.prepare (so every row holds a real encoded
WebP and thumbnail); the rows then reuse the pool's bytes and are written with COPY. Prompts, styles,
engines, sizes, dates (two years), tags, favourites, albums (with images.album_names kept in step) and
edit links (parent_image_id) vary. `--others` spreads that many more images over other users (smaller
pictures), so the database holds what a busy server holds. Usable as a function: seed(username, count, others).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POOL_DIR = ROOT / ".data" / "bench"
PER_OTHER_USER = 10_000

SUBJECTS = ["lighthouse", "red fox", "sailing boat", "mountain lake", "city skyline", "forest path", "old castle",
            "desert dunes", "harbour", "waterfall", "meadow with flowers", "snowy village", "tram", "windmill",
            "hot air balloon", "cat on a windowsill", "owl", "whale", "bridge", "temple", "robot", "garden",
            "volcano", "island", "train station", "market", "library", "orchard", "glacier", "canyon"]
PLACES = ["on a cliff", "by the sea", "in the mountains", "under the stars", "in the rain", "in the fog",
          "at the river", "in a valley", "on a hill", "in the old town", "near the coast", "in the snow"]
TIMES = ["at sunset", "at dawn", "at night", "at noon", "at dusk", "in autumn", "in spring", "in winter"]
ADJECTIVES = ["quiet", "golden", "misty", "vivid", "pastel", "stormy", "peaceful", "neon", "ancient", "tiny"]
TAGS = ["travel", "nature", "portfolio", "wallpaper", "favourite", "sea", "mountains", "city", "night", "animals",
        "draft", "client work", "family", "print", "winter", "summer", "architecture", "abstract", "test", "ideas",
        "moody", "bright", "landscape", "portrait", "colour study", "series a", "series b", "social", "blog", "gift"]
ALBUMS = ["Holidays 2025", "Portfolio", "Wallpapers", "Client: Harbour Cafe", "Ideas", "Prints", "Lisbon Trip",
          "Night Scenes", "Animals", "Best of", "Drafts", "Gifts"]
ENGINES = [("offline", "imagechat procedural painter v1 (offline, no AI model)", 0.6),
           ("openai", "gpt-image-2", 0.3), ("diffusers", "stable-diffusion-v1-5", 0.1)]
MAIN_SIZES = [(256, 256), (384, 224), (224, 384)]
OTHER_SIZES = [(64, 64), (96, 64), (64, 96)]

IMAGE_COLUMNS = ("id", "owner_id", "index_in_job", "parent_image_id", "prompt", "revised_prompt", "style", "engine",
                 "model", "seed", "width", "height", "mime", "byte_size", "sha256", "favorite", "tags",
                 "album_names", "created_at")
IMAGE_TYPES = ("uuid", "int4", "int4", "uuid", "text", "text", "varchar", "varchar", "varchar", "int8", "int4",
               "int4", "varchar", "int4", "varchar", "bool", "varchar[]", "text", "timestamptz")


@dataclass
class PoolImage:
    width: int
    height: int
    mime: str
    byte_size: int
    sha256: str
    data_b64: str
    thumb_b64: str


def _paint_pool(sizes: list[tuple[int, int]], n: int) -> list[PoolImage]:
    from imagechat.core import library
    from imagechat.core.providers import get_provider
    from imagechat.core.providers.base import no_progress
    from imagechat.core.request import ImageRequest
    from imagechat.core.styles import STYLES

    provider = get_provider("offline")

    async def paint() -> list[PoolImage]:
        out = []
        for i in range(n):
            w, h = sizes[i % len(sizes)]
            prompt = f"{SUBJECTS[i % len(SUBJECTS)]} {PLACES[i % len(PLACES)]} {TIMES[i % len(TIMES)]}"
            result = await provider.generate(ImageRequest(prompt=prompt, style=STYLES[i % len(STYLES)], width=w,
                                                          height=h, seed=i), no_progress)
            st = library.prepare(result.images[0].data)
            out.append(PoolImage(st.width, st.height, st.mime, st.byte_size, st.sha256, st.data_b64, st.thumb_b64))
        return out

    return asyncio.run(paint())


def pool(sizes: list[tuple[int, int]], n: int) -> list[PoolImage]:
    """n distinct pictures, painted once and kept in .data/bench (the painter takes ~0.3 s a picture)."""
    from imagechat.settings import get_settings

    s = get_settings()
    key = f"pool-v1-{n}-{'_'.join(f'{w}x{h}' for w, h in sizes)}-{s.stored_format}{s.stored_quality}-{s.thumbnail_px}"
    path = POOL_DIR / f"{key}.json"
    if path.exists():
        return [PoolImage(**item) for item in json.loads(path.read_text())]
    images = _paint_pool(sizes, n)
    POOL_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps([asdict(image) for image in images]))
    tmp.replace(path)
    return images


def _ensure_user(username: str, password: str | None) -> int:
    from sqlmodel import select

    from imagechat.core import auth
    from imagechat.db import session_scope
    from imagechat.models import User

    username = username.strip().lower()  # as the log-in form stores it
    with session_scope() as s:
        existing = s.exec(select(User.id).where(User.username == username)).first()
    if existing is not None:
        return existing
    if password:
        return auth.create_user(username, password).id
    with session_scope() as s:
        user = User(username=username, password_hash="!")  # "!" matches no password: cannot log in
        s.add(user)
        s.flush()
        return user.id


def _albums(owner_id: int, names: list[str]) -> list[tuple[int, str]]:
    """The user's albums with these names (made when missing), in id order (album_names' order)."""
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import Album

    with session_scope() as s:
        have = {a.name.lower(): a for a in s.exec(select(Album).where(Album.owner_id == owner_id))}
        for name in names:
            if name.lower() not in have:
                album = Album(owner_id=owner_id, name=name)
                s.add(album)
                s.flush()
                have[name.lower()] = album
        return sorted((a.id, a.name) for a in have.values())


def _rows(rng: random.Random, owner_id: int, count: int, images: list[PoolImage], albums: list[tuple[int, str]],
          now: datetime) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """(image rows, payload rows, album rows), oldest first."""
    from imagechat.core.styles import STYLES

    span_us = int(timedelta(days=730) / timedelta(microseconds=1))
    offsets = sorted(rng.sample(range(span_us), count), reverse=True)  # distinct instants, oldest first
    engines, weights = [(e, m) for e, m, _ in ENGINES], [w for *_, w in ENGINES]
    image_rows, data_rows, album_rows, made = [], [], [], []
    for offset in offsets:
        picture = images[rng.randrange(len(images))]
        image_id = uuid.uuid4()  # not from rng: seeding the same user twice adds new rows
        engine, model = rng.choices(engines, weights)[0]
        style = rng.choice(STYLES)
        prompt = f"{rng.choice(ADJECTIVES)} {rng.choice(SUBJECTS)} {rng.choice(PLACES)} {rng.choice(TIMES)}"
        parent = None
        if made and rng.random() < 0.06:  # an edit of an earlier picture: same words, another style
            parent, prompt = rng.choice(made[-500:])
        revised = f"A {style} picture of a {prompt}, carefully composed, with rich detail." \
            if engine == "openai" else None
        tags = sorted(rng.sample(TAGS, rng.choice((0, 0, 1, 1, 2, 3))))
        in_albums = [a for a in albums if rng.random() < 0.04]
        image_rows.append((image_id, owner_id, 0, parent, prompt, revised, style, engine, model,
                           rng.randrange(2**31), picture.width, picture.height, picture.mime, picture.byte_size,
                           picture.sha256, rng.random() < 0.08, tags, " ".join(n for _, n in in_albums),
                           now - timedelta(microseconds=offset)))
        data_rows.append((image_id, picture.data_b64, picture.thumb_b64))
        album_rows += [(album_id, image_id, now) for album_id, _ in in_albums]
        made.append((image_id, prompt))
    return image_rows, data_rows, album_rows


def _copy(rows: tuple[list[tuple], list[tuple], list[tuple]]) -> None:
    from imagechat.db import get_engine

    image_rows, data_rows, album_rows = rows
    raw = get_engine().raw_connection()
    try:
        conn = raw.driver_connection
        with conn.cursor() as cur:
            # lz4 compresses the Base64 payloads several times faster than the default pglz (a session setting).
            cur.execute("SET default_toast_compression = 'lz4'")
            with cur.copy(f"COPY images ({', '.join(IMAGE_COLUMNS)}) FROM STDIN") as copy:
                copy.set_types(IMAGE_TYPES)
                for row in image_rows:
                    copy.write_row(row)
            with cur.copy("COPY image_data (image_id, data_b64, thumb_b64) FROM STDIN") as copy:
                for row in data_rows:
                    copy.write_row(row)
            with cur.copy("COPY album_images (album_id, image_id, added_at) FROM STDIN") as copy:
                for row in album_rows:
                    copy.write_row(row)
        conn.commit()
    finally:
        raw.close()


def _insert(owner_id: int, count: int, images: list[PoolImage], albums: list[str], seed: int) -> None:
    rng, now = random.Random(seed), datetime.now(UTC)
    batch = 5000  # bounded memory: the pool's strings are shared, the rows are not
    album_ids = _albums(owner_id, albums) if albums else []
    for start in range(0, count, batch):
        n = min(batch, count - start)
        # Each batch covers the whole two years, so no batch's parent links point forward in time.
        _copy(_rows(rng, owner_id, n, images, album_ids, now))


def seed(username: str, count: int, others: int = 0, *, password: str | None = None, seed: int = 8) -> int:
    """Insert `count` images for `username` (created when missing) and `others` more for other users;
    returns the user's id."""
    main_pool = pool(MAIN_SIZES, 48)
    user_id = _ensure_user(username, password)
    _insert(user_id, count, main_pool, ALBUMS, seed)
    if others > 0:
        other_pool = pool(OTHER_SIZES, 16)
        for k in range((others + PER_OTHER_USER - 1) // PER_OTHER_USER):
            n = min(PER_OTHER_USER, others - k * PER_OTHER_USER)
            other_id = _ensure_user(f"{username[:20]}_other{k + 1}", None)
            _insert(other_id, n, other_pool, ALBUMS[:4], seed + 1 + k)
    from sqlalchemy import text

    from imagechat.db import get_engine

    # Fresh statistics (the planner must know the table's size), the GIN indexes' pending lists merged (a
    # bulk insert leaves them long, and every search scans them) and the visibility map set: as autovacuum
    # leaves a table that has lived a while.
    with get_engine().connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE) images, album_images"))
    return user_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--user", required=True, help="username (created when missing)")
    parser.add_argument("--count", type=int, default=10_000, help="images for this user")
    parser.add_argument("--others", type=int, default=0, help="images spread over other users")
    parser.add_argument("--password", default=os.environ.get("SEED_PASSWORD"),
                        help="password of a new user (else it cannot log in); or SEED_PASSWORD")
    parser.add_argument("--seed", type=int, default=8, help="random seed: the same data for the same seed")
    args = parser.parse_args()
    if args.count < 0 or args.others < 0:
        parser.error("--count and --others must be 0 or more")
    t = time.perf_counter()
    pool(MAIN_SIZES, 48)
    if args.others:
        pool(OTHER_SIZES, 16)
    painted = time.perf_counter() - t
    t = time.perf_counter()
    user_id = seed(args.user, args.count, args.others, password=args.password, seed=args.seed)
    took = time.perf_counter() - t
    total = args.count + args.others
    print(f"seeded {args.count:,} images for {args.user!r} (user id {user_id}) and {args.others:,} for others "
          f"in {took:.1f} s: {total / max(took, 1e-9):,.0f} rows/s (picture pool ready in {painted:.1f} s)")


if __name__ == "__main__":
    main()
