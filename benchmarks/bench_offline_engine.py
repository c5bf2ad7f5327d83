"""Median render time of the offline painter per size and style (prints figures; not a test).

    .venv/bin/python -m benchmarks.bench_offline_engine [runs]
"""

from __future__ import annotations

import statistics
import sys
import time

from imagechat.core.painter import STYLE_NAMES, parse_scene, render

PROMPT = "a sunset over mountains with a lake reflection"
SIZES = ((1024, 1024), (1792, 1024), (1024, 1792), (512, 512))


def main(runs: int = 5) -> None:
    scene = parse_scene(PROMPT)
    print(f"prompt: {PROMPT!r}, {runs} runs each, render + PNG encode, one thread")
    print(f"{'size':>10}  {'style':<15} {'median s':>9} {'min s':>7}")
    for w, h in SIZES:
        styles = STYLE_NAMES if (w, h) == (1024, 1024) else ("photorealistic", "watercolor")
        for style in styles:
            times = []
            for seed in range(runs):
                t0 = time.perf_counter()
                render(scene, style, w, h, seed).encode("png")
                times.append(time.perf_counter() - t0)
            print(f"{w:>5}x{h:<4}  {style:<15} {statistics.median(times):>9.3f} {min(times):>7.3f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
