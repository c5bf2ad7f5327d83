"""Regenerate assets/gallery/ and IMAGE_GALLERY.md from the offline engine (deterministic: fixed seeds).

    python scripts/make_gallery.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from demo import SCREENSHOTS, VIDEO  # scripts/demo.py, beside this script (make demo)

from imagechat.core import codec
from imagechat.core.providers.base import no_progress
from imagechat.core.providers.offline import OfflineProvider
from imagechat.core.request import ImageRequest

ROOT = Path(__file__).resolve().parents[1]

SAMPLES = [
    ("a sunset over mountains with a lake reflection", "photorealistic", 1),
    ("a sunset over mountains with a lake reflection", "watercolor", 1),
    ("a sunset over mountains with a lake reflection", "cartoon", 1),
    ("a sunset over mountains with a lake reflection", "abstract", 1),
    ("a sunset over mountains with a lake reflection", "oil painting", 1),
    ("a sunset over mountains with a lake reflection", "pixel art", 1),
    ("a sunset over mountains with a lake reflection", "sketch", 1),
    ("a sunset over mountains with a lake reflection", "neon", 1),
    ("a city skyline at night", "photorealistic", 2),
    ("a lighthouse on the sea in a storm", "photorealistic", 3),
    ("a forest in the snow at dawn", "photorealistic", 4),
    ("a red house by a river in a meadow with flowers", "photorealistic", 5),
    ("birds over desert dunes at sunset", "photorealistic", 6),
    ("a boat on the sea in the rain", "watercolor", 7),
    ("a lone tree in the fog", "photorealistic", 8),
    ("snowy mountains in the morning", "photorealistic", 9),
]


def demo_section() -> list[str]:
    """The app itself, as `make demo` recorded it into docs/demo/: the video and the screenshots, two a row."""
    cells = [f"<img src=\"docs/demo/{name}\" width=\"{195 if 'phone' in name else 420}\" alt=\"{caption}\"><br>"
             f"{caption}" for name, caption in SCREENSHOTS.items()]
    return [
        "",
        "## Demo: the app",
        "",
        f"`make demo` drives a running app through what a new user does and records it: [the video](docs/demo/{VIDEO})",
        "(under a minute: sign up, the sunset with live progress, the watercolor change, the gallery, a share link,",
        "the phone layout) and these screenshots, all with the offline engine. Start the app with `make run`, then",
        "run `make demo` in another terminal to record them again.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {' | '.join(cells[k:k + 2])} |" for k in range(0, len(cells), 2)],
    ]


def slug(text: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())[:60]


async def main() -> None:
    out = ROOT / "assets" / "gallery"
    out.mkdir(parents=True, exist_ok=True)
    provider = OfflineProvider()
    rows = []
    for prompt, style, seed in SAMPLES:
        result = await provider.generate(ImageRequest(prompt=prompt, style=style, width=512, height=512,
                                                           seed=seed), no_progress)
        name = f"{slug(prompt)}--{slug(style)}.webp"
        (out / name).write_bytes(codec.convert(result.images[0].data, "webp", quality=80))
        rows.append((prompt, style, seed, name))
    lines = [
        "# Image gallery: the offline engine",
        "",
        "Every picture below was made by the **offline engine**, a procedural scene painter (NumPy + Pillow,",
        "no AI model, no network, no GPU). It reads the prompt for time of day, weather, terrain, water,",
        "subjects and colour words, and paints them in the requested style. Same prompt, style, size and",
        "seed give the same pixels. Regenerate this page with `python scripts/make_gallery.py`.",
        "",
        "With `OPENAI_API_KEY` set the app uses OpenAI's image models instead; with `DIFFUSERS_MODEL_PATH`,",
        "a local Stable Diffusion model. The app's header always names the engine in use.",
        "",
        "| Image | Prompt | Style | Seed |",
        "|---|---|---|---|",
    ]
    lines += [f"| <img src=\"assets/gallery/{n}\" width=\"256\" alt=\"{p}\"> | {p} | {s} | {seed} |"
              for p, s, seed, n in rows]
    lines += demo_section()
    (ROOT / "IMAGE_GALLERY.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {len(rows)} images to {out.relative_to(ROOT)} and IMAGE_GALLERY.md")


if __name__ == "__main__":
    asyncio.run(main())
