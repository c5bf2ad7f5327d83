"""The engine protocol: every image engine declares what it can do and reports real progress."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Awaitable, Callable, Protocol

STYLES = ("photorealistic", "watercolor", "cartoon", "abstract", "oil painting", "pixel art", "sketch", "neon")


@dataclass(frozen=True)
class Capabilities:
    sizes: tuple[tuple[int, int], ...]
    styles: tuple[str, ...]
    max_n: int
    edits: bool
    previews: bool  # streams real intermediate images
    output_formats: tuple[str, ...] = ("png", "jpeg", "webp")


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    style: str | None = None
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    quality: str = "auto"
    output_format: str = "png"
    # For edits: the previous image's bytes (any Pillow-readable format).
    source_image: bytes | None = None
    user: str | None = None  # opaque end-user id passed to the API for abuse tracking


@dataclass
class Progress:
    percent: float  # 0..100
    stage: str
    preview: bytes | None = None  # encoded image (PNG/JPEG/WebP) when the engine has one


ProgressCallback = Callable[[Progress], Awaitable[None]]


@dataclass
class GeneratedImage:
    data: bytes  # encoded image bytes as the engine returned them
    revised_prompt: str | None = None
    seed: int | None = None


@dataclass
class GenerationResult:
    images: list[GeneratedImage]
    engine: str
    model: str
    cost_usd: float = 0.0
    usage: dict = field(default_factory=dict)


class ImageProvider(Protocol):
    name: str  # "offline" | "openai" | "diffusers"
    model: str  # human-readable model / engine description stored in metadata
    capabilities: Capabilities

    def estimate_cost(self, request: GenerationRequest) -> float:
        """Upper bound in USD, reserved from the budget before the engine runs."""

    async def generate(self, request: GenerationRequest, on_progress: ProgressCallback) -> GenerationResult:
        """Generate request.n images (or edit request.source_image when it is set)."""


async def no_progress(_: Progress) -> None:
    return None
