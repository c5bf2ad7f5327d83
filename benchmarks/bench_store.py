"""Store path for a 1024x1024 image: convert, thumbnail, Base64, insert (target median <= 150 ms).

    python -m benchmarks.bench_store [--runs 15]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from benchmarks.common import environment, make_user, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    from imagechat.core import library
    from imagechat.core.providers import get_provider
    from imagechat.core.providers.base import no_progress
    from imagechat.core.request import ImageRequest
    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    # A real engine picture, not a flat colour: flat images compress unrealistically well.
    result = asyncio.run(get_provider("offline").generate(
        ImageRequest(prompt="a sunset over mountains with a lake reflection", seed=3), no_progress))
    png = result.images[0].data
    with environment():
        owner = make_user()
        samples = []
        for _ in range(args.runs):
            with session_scope() as s:
                job = GenerationJob(owner_id=owner, engine="offline", prompt="bench", params={})
                s.add(job)
            t = time.perf_counter()
            stored = library.prepare(png)
            with session_scope() as s:
                library.add_images(s, owner_id=owner, job_id=job.id, prompt="bench", style=None, engine="offline",
                                   model="bench", conversation_id=None, parent_image_id=None,
                                   new_images=[library.NewImage(stored=stored, seed=None, revised_prompt=None)])
            samples.append((time.perf_counter() - t) * 1000)
    print(summary("store path 1024x1024 (convert + thumbnail + Base64 + insert)", samples, "median <= 150 ms"))
    print(f"stored {stored.mime} {stored.byte_size / 1024:.0f} KiB vs engine PNG {len(png) / 1024:.0f} KiB "
          f"({stored.byte_size / len(png):.2f}x)")


if __name__ == "__main__":
    main()
