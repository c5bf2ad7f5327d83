"""Answers from the library (issue 9, point 3): server time of a chat turn that a cache hit answers, next to one
that starts a generation, and the converted-download cache. Prints figures; asserts nothing.

    python -m benchmarks.bench_cache [--runs 40] [--library 2000]

A throwaway database with --library finished jobs of the measured user (so the lookup runs against a real
index, not an empty table) and one real offline image made by a real worker. Then, --runs times each:
1. chat.respond of the identical request (in a new conversation): saves the user's message, parses, looks up,
   writes the reply and its $0 ledger line; target p95 <= 50 ms;
2. chat.respond of a new request (a different prompt each time): parse, validate, reserve, queue;
3. a 512-px PNG download converted once and then taken from the per-process cache.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid

from benchmarks.common import environment, make_user, summary


def _seed_jobs(owner: int, count: int) -> None:
    """Finished jobs with other requests (their keys differ), inserted in bulk."""
    import sqlalchemy as sa

    from imagechat.core import cache
    from imagechat.core.request import ImageRequest
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    rows = []
    for k in range(count):
        prompt = f"a lighthouse number {k}"
        rows.append({"id": uuid.uuid4(), "owner_id": owner, "engine": "offline", "model": "painter-1",
                     "prompt": prompt, "status": "succeeded", "kind": "generate", "params": {"n": 1},
                     "stage": "Done", "percent": 100.0, "attempts": 1, "reserved_usd": 0.0, "cost_usd": 0.0,
                     "request_key": cache.request_key(ImageRequest(prompt=prompt), "offline", "painter-1")})
    with session_scope() as s:
        s.execute(sa.insert(GenerationJob), rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--library", type=int, default=2000, help="other finished jobs of the same user")
    args = parser.parse_args()

    from imagechat.core import cache, chat, conversations, export, library
    from imagechat.settings import get_settings
    from tests.support.waiting import finish

    prompt = "Create an image of a sunset over mountains with a lake reflection"
    with environment(workers=1, rate_limit="100000/minute"):
        owner = make_user()
        _seed_jobs(owner, args.library)
        first = asyncio.run(chat.respond(owner, conversations.create(owner).id, prompt))
        assert finish(first.job_id).status == "succeeded"

        def turn(text: str) -> tuple[float, chat.Turn]:
            conversation = conversations.create(owner).id
            t = time.perf_counter()
            result = asyncio.run(chat.respond(owner, conversation, text))
            return (time.perf_counter() - t) * 1000, result

        hits, misses = [], []
        for k in range(args.runs):
            ms, result = turn(prompt)
            assert result.from_library, "the identical request was not answered from the library"
            hits.append(ms)
            ms, result = turn(f"a red boat on a lake, number {k}")
            assert result.job_id is not None
            misses.append(ms)
        print(f"{args.library:,} other finished jobs of the same user; REQUEST_CACHE_HOURS="
              f"{get_settings().request_cache_hours:g}")
        print(summary("1. chat turn answered from the library (server time)", hits, "p95 <= 50 ms"))
        print(summary("2. chat turn that queues a new generation (server time)", misses))

        image_id = conversations.messages(owner, conversations.list_for(owner)[-1].id)[-1].images[0].id
        meta, stored = library.image_bytes(owner, uuid.UUID(image_id))
        lru = cache.conversions()
        converted, cached = [], []
        for k in range(max(5, args.runs // 4)):
            key = ("bench", image_id, k)
            t = time.perf_counter()
            lru.get_or_make(key, lambda: export.download(meta, stored, "png", 512))
            converted.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            lru.get_or_make(key, lambda: export.download(meta, stored, "png", 512))
            cached.append((time.perf_counter() - t) * 1000)
        print(summary("3a. download converted (PNG, long side 512)", converted))
        print(summary("3b. the same download from the conversion cache", cached))


if __name__ == "__main__":
    main()
