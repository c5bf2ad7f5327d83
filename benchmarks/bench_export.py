"""ZIP export of 1,000 images through the real route: time, and peak memory against 100 images (flat?).

    python -m benchmarks.bench_export [--count 1000] [--small 100] [--runs 3] [--small-pictures]

Seeds one account (benchmarks.seed_gallery when present: tags, albums, favourites) with real 1024x1024
engine pictures (about 140 KiB each as stored WebP), makes an export
ticket, then drives GET /api/exports/<ticket>.zip as an ASGI app (no sockets: only our own work is
measured), writing the streamed body to a temporary file that is checked afterwards with zipfile.
CPU time of this process is printed beside the wall time: on a shared machine it is the steadier figure.
Memory is measured two ways: tracemalloc's peak of Python allocations during the export, and the
process's resident set size sampled every 5 ms, as growth over what it was before the first export.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import threading
import time
import tracemalloc
import uuid
import zipfile

from benchmarks.common import environment

_PAGE = 4096


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class RssPeak:
    """The highest resident set size seen while the block runs."""

    def __enter__(self):
        self.peak, self._stop = _rss(), threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _pictures(n: int) -> list:
    """A few distinct 1024x1024 offline-engine pictures, prepared for storage like a finished job's."""
    from imagechat.core import library
    from imagechat.core.providers import get_provider
    from imagechat.core.providers.base import no_progress
    from imagechat.core.request import ImageRequest

    prompts = ["a sunset over mountains with a lake reflection", "a lighthouse on a cliff at night with stars",
               "a watercolor meadow with flowers at dawn", "a neon city skyline in the rain"]
    out = []
    for i in range(n):
        request = ImageRequest(prompt=prompts[i % len(prompts)], seed=i + 1)
        result = asyncio.run(get_provider("offline").generate(request, no_progress))
        out.append((request.prompt, library.prepare(result.images[0].data)))
    return out


def _seed_locally(owner_id: int, count: int) -> None:
    from imagechat.db import session_scope
    from imagechat.models import Image, ImageData

    pictures = _pictures(4)
    for start in range(0, count, 200):
        with session_scope() as s:
            rows = []
            for i in range(start, min(count, start + 200)):
                prompt, st = pictures[i % len(pictures)]
                image = Image(owner_id=owner_id, prompt=f"{prompt} #{i}", style="photorealistic", engine="offline",
                              model="painter", seed=i, width=st.width, height=st.height, mime=st.mime,
                              byte_size=st.byte_size, sha256=st.sha256, tags=["bench"])
                rows.append(image)
                s.add(image)
            s.flush()
            s.add_all([ImageData(image_id=image.id, data_b64=pictures[n % len(pictures)][1].data_b64,
                                 thumb_b64=pictures[n % len(pictures)][1].thumb_b64)
                       for n, image in enumerate(rows, start)])


def _full_size(owner_id: int) -> None:
    """seed_gallery paints small pictures (gallery cards); an export carries full images: swap in 1024x1024
    payloads (and their metadata) so the archive is the size a real one is."""
    from sqlalchemy import bindparam, update
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import Image, ImageData

    pictures = [st for _, st in _pictures(4)]
    with session_scope() as s:
        ids = list(s.exec(select(Image.id).where(Image.owner_id == owner_id)).all())
    for start in range(0, len(ids), 200):
        chunk = list(enumerate(ids[start:start + 200], start))
        with session_scope() as s:
            s.connection().execute(
                update(ImageData.__table__).where(ImageData.__table__.c.image_id == bindparam("iid"))
                .values(data_b64=bindparam("data")),
                [{"iid": i, "data": pictures[n % 4].data_b64} for n, i in chunk])
            s.connection().execute(
                update(Image.__table__).where(Image.__table__.c.id == bindparam("iid"))
                .values(width=bindparam("w"), height=bindparam("h"), mime=bindparam("mime"),
                        byte_size=bindparam("size"), sha256=bindparam("sha")),
                [{"iid": i, "w": pictures[n % 4].width, "h": pictures[n % 4].height, "mime": pictures[n % 4].mime,
                  "size": pictures[n % 4].byte_size, "sha": pictures[n % 4].sha256} for n, i in chunk])


def seed(username: str, owner_id: int, count: int, *, small: bool = False) -> str:
    try:
        from benchmarks.seed_gallery import seed as seed_gallery
    except ImportError:
        seed_gallery = None
    if seed_gallery is None:
        _seed_locally(owner_id, count)
        return "local seeding, 1024x1024 (benchmarks.seed_gallery not found)"
    seed_gallery(username, count)
    if small:
        return "benchmarks.seed_gallery, its small pictures"
    _full_size(owner_id)
    return "benchmarks.seed_gallery (tags, albums, favourites), payloads swapped for 1024x1024 pictures"


async def _get(app, path: str, cookie: str, sink) -> int:
    """One GET through the ASGI app; the body goes to `sink` as it streams."""
    done = asyncio.Event()
    status = 0
    first = True

    async def receive():
        nonlocal first
        if first:
            first = False
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            sink.write(message.get("body", b""))
            if not message.get("more_body", False):
                done.set()

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}, "http_version": "1.1",
             "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "headers": [(b"host", b"bench"), (b"cookie", cookie.encode())],
             "client": ("127.0.0.1", 50000), "server": ("bench", 80)}
    await app(scope, receive, send)
    return status


def export_once(app, owner_id: int, ids: list[uuid.UUID], cookie: str, *, trace: bool = False) -> dict:
    from imagechat.core import export
    from imagechat.core.urls import export_url

    ticket = export.create_ticket(owner_id, ids, name=f"bench-{len(ids)}")
    with tempfile.TemporaryFile() as body:
        if trace:
            tracemalloc.start()
        with RssPeak() as rss:
            t, cpu = time.perf_counter(), time.process_time()
            status = asyncio.run(_get(app, export_url(ticket), cookie, body))
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        traced = tracemalloc.get_traced_memory()[1] if trace else None
        if trace:
            tracemalloc.stop()
        size = body.tell()
        body.seek(0)
        with zipfile.ZipFile(body) as archive:
            members = len(archive.namelist())
    assert status == 200 and members == len(ids) + 2, (status, members)
    return {"s": seconds, "cpu": cpu, "bytes": size, "rss_peak": rss.peak, "traced_peak": traced}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--small-pictures", action="store_true",
                        help="keep seed_gallery's small pictures instead of 1024x1024 ones")
    args = parser.parse_args()

    with environment():
        from sqlmodel import select
        from starlette.applications import Starlette

        from imagechat.api import routes
        from imagechat.core import auth
        from imagechat.core.auth import SESSION_COOKIE
        from imagechat.db import session_scope
        from imagechat.models import Image, User

        username = f"bench_{uuid.uuid4().hex[:8]}"
        with session_scope() as s:
            user = User(username=username, password_hash="!")
            s.add(user)
            s.flush()
            owner_id = user.id
        t = time.perf_counter()
        how = seed(username, owner_id, args.count, small=args.small_pictures)
        print(f"seeded {args.count} images in {time.perf_counter() - t:.1f} s ({how})")
        _, token = auth.start_session(owner_id)
        cookie = f"{SESSION_COOKIE}={token}"
        with session_scope() as s:
            ids = list(s.exec(select(Image.id).where(Image.owner_id == owner_id)
                              .order_by(Image.created_at.desc(), Image.id.desc())).all())[:args.count]
        app = Starlette(routes=routes)
        baseline = _rss()
        results = {}
        for n in (args.small, args.count):  # small first: if memory grew with the count, the big run shows it
            runs = [export_once(app, owner_id, ids[:n], cookie) for _ in range(args.runs)]
            traced = export_once(app, owner_id, ids[:n], cookie, trace=True)
            results[n] = runs, traced
        print(f"RSS before the first export: {baseline / 2**20:.0f} MiB; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times stretch with it, CPU times less)")
        for n, (runs, traced) in results.items():
            seconds = [r["s"] for r in runs]
            mib = runs[0]["bytes"] / 2**20
            cpu = statistics.median(r["cpu"] for r in runs)
            print(f"export {n:>5} images: median {statistics.median(seconds):.2f} s "
                  f"(min {min(seconds):.2f}, max {max(seconds):.2f}, n={len(seconds)}), this process's CPU "
                  f"{cpu:.2f} s, {mib:.1f} MiB zip, {mib / statistics.median(seconds):.0f} MiB/s; "
                  f"peak traced Python memory {traced['traced_peak'] / 2**20:.1f} MiB; "
                  f"RSS peak +{(max(r['rss_peak'] for r in runs) - baseline) / 2**20:.1f} MiB over the baseline")


if __name__ == "__main__":
    main()
