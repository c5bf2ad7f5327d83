"""The OpenAI-compatible API's own cost: the official SDK's `images.generate` on /v1 (served over HTTP from this
process, a real worker making the image) against the same job submitted and followed directly (jobs.submit + the
progress bus, as bench_pipeline does), both with the offline painter at 256x256. The difference is what /v1 adds:
key check, body parsing, the api_jobs row, waiting on the bus, reading the image back and Base64 in JSON.

    python -m benchmarks.bench_openai_api [--samples 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import openai
from starlette.applications import Starlette

from benchmarks.bench_pipeline import one_job
from benchmarks.common import environment, make_user, summary
from tests.support.app_server import AppServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    from imagechat.api import openai_compat
    from imagechat.core import api_keys

    with environment(workers=1), AppServer(Starlette(routes=openai_compat.routes)) as server:
        owner = make_user()
        key = api_keys.create(owner, "bench")[1]
        sdk = openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=60)

        def api_call() -> float:
            t = time.perf_counter()
            sdk.images.generate(model="imagechat-offline", prompt="a red boat", size="256x256", output_format="webp")
            return (time.perf_counter() - t) * 1000

        api_call()  # warm-up: imports, connections
        asyncio.run(one_job(owner, 256, 256))
        api, direct = [], []
        for _ in range(args.samples):  # interleaved, so load on the machine hits both alike
            api.append(api_call())
            direct.append(asyncio.run(one_job(owner, 256, 256)))
    print(summary("SDK images.generate on /v1 (256x256, offline)", api))
    print(summary("jobs.submit + progress bus, same job", direct))
    extra = [a - d for a, d in zip(sorted(api), sorted(direct), strict=True)]
    print(f"added by /v1: median {statistics.median(api) - statistics.median(direct):.2f} ms "
          f"(quantile-matched differences: median {statistics.median(extra):.2f} ms)")


if __name__ == "__main__":
    main()
