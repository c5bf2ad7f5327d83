"""Codec figures: prepare_for_storage latency and stored size vs PNG for a photo-like 1024x1024 image.

Run: .venv/bin/python -m benchmarks.bench_codec [--runs 20] [--size 1024]
Prints figures only; nothing here passes or fails.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from imagechat.core import codec

VARIANTS = [("webp", 90), ("webp", 80), ("jpeg", 90), ("png", 90)]


def photo_like(size: int, seed: int = 1, grain: float = 4.0) -> Image.Image:
    """Gradients + soft shapes + sensor-like grain: flat colours would compress unrealistically well."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) * (1024 / size)
    sky = np.stack([120 + 100 * np.sin(x / 160) * np.cos(y / 210),
                    80 + 0.12 * y + 30 * np.sin((x + y) / 90),
                    200 - 0.1 * x], -1)
    im = Image.fromarray(np.clip(sky + rng.normal(0, 6, sky.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for _ in range(40):
        x0, y0 = (int(v) for v in rng.integers(0, size, 2))
        s = int(rng.integers(size // 50, size // 5))
        draw.ellipse([x0, y0, x0 + s, y0 + int(s * 0.7)], fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    im = im.filter(ImageFilter.GaussianBlur(1.2))  # soften edges like a lens would
    grain = np.asarray(im, dtype=np.float32) + rng.normal(0, grain, (size, size, 3))
    return Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8))


def timed(fn, runs: int) -> tuple[list[float], object]:
    fn()  # warm-up: plugin imports, first allocations
    times, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return times, result


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(label: str, png: bytes, runs: int, size: int) -> None:
    print(f"\ninput: {size}x{size} {label}: PNG {len(png) / 1024:.0f} KiB; {runs} runs each")
    print(f"{'stored as':<10} {'median ms':>9} {'p95 ms':>7} {'KiB':>7} {'vs PNG':>7} {'smaller':>8} {'thumb KiB':>9}")
    for fmt, quality in VARIANTS:
        times, stored = timed(lambda fmt=fmt, quality=quality: codec.prepare_for_storage(
            png, fmt=fmt, quality=quality, thumb_px=320, max_pixels=40_000_000), runs)
        ratio = stored.byte_size / len(png)
        name = f"{fmt} q{quality}" if fmt != "png" else "png"
        print(f"{name:<10} {statistics.median(times):>9.1f} {p95(times):>7.1f} {stored.byte_size / 1024:>7.0f} "
              f"{ratio:>7.3f} {1 / ratio:>7.1f}x {len(stored.thumb) / 1024:>9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    runs = max(10, args.runs)

    # Grain decides how much a lossy codec can throw away, so show both ends.
    for label, grain in (("photo-like, grain sigma 4", 4.0), ("photo-like, no grain", 0.0)):
        buf = io.BytesIO()
        photo_like(args.size, grain=grain).save(buf, format="PNG")
        report(label, buf.getvalue(), runs, args.size)

    buf = io.BytesIO()
    photo_like(args.size).save(buf, format="PNG")
    png = buf.getvalue()
    # Where the default path's time goes (one decode is shared by the stored image and the thumbnail).
    parts = {
        "decode+validate": lambda: codec.decode(png, 40_000_000),
        "encode webp q90": lambda: codec.encode(decoded.image, "webp", quality=90),
        "thumbnail 320": lambda: codec.thumb_of(decoded.image, 320, codec.THUMB_QUALITY),
    }
    decoded = codec.decode(png, 40_000_000)
    stored = codec.encode(decoded.image, "webp", quality=90)
    parts["sha256+base64"] = lambda: (codec.sha256_hex(stored), codec.to_b64(stored))
    print("\nbreakdown of the default path, grain image (median ms):", ", ".join(
        f"{name} {statistics.median(timed(fn, runs)[0]):.1f}" for name, fn in parts.items()))


if __name__ == "__main__":
    main()
