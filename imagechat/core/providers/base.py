"""The engine protocol: every image engine declares what it can do, owns its size rule and reports
real progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from imagechat.core.request import ImageRequest


@dataclass(frozen=True)
class Capabilities:
    sizes: tuple[tuple[int, int], ...]  # presets offered in the UI; accepts_size may take more
    styles: tuple[str, ...]
    max_n: int
    edits: bool
    previews: bool  # streams real intermediate images
    output_formats: tuple[str, ...] = ("png", "jpeg", "webp")


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

    def accepts_size(self, width: int, height: int) -> bool:
        """True when this engine can make exactly width x height."""

    def closest_size(self, width: int, height: int) -> tuple[int, int]:
        """The size this engine makes that is nearest in shape (then area) to the one asked for."""

    def estimate_cost(self, request: ImageRequest) -> float:
        """Upper bound in USD, reserved from the budget before the engine runs."""

    async def generate(self, request: ImageRequest, on_progress: ProgressCallback) -> GenerationResult:
        """Generate request.n images (or edit request.source_image when it is set)."""

    async def aclose(self) -> None:
        """Release network clients and models; called once when the process stops."""


class GridSizes:
    """The size rule of engines that make any size on a grid: sides from MIN_SIDE to MAX_SIDE in
    steps of SIZE_STEP."""

    MIN_SIDE: int
    MAX_SIDE: int
    SIZE_STEP: int

    @classmethod
    def accepts_size(cls, width: int, height: int) -> bool:
        return all(cls.MIN_SIDE <= v <= cls.MAX_SIDE and v % cls.SIZE_STEP == 0 for v in (width, height))

    @classmethod
    def closest_size(cls, width: int, height: int) -> tuple[int, int]:
        """The same shape, scaled into range, rounded to the step."""
        width, height = max(1, int(width)), max(1, int(height))
        scale = min(1.0, cls.MAX_SIDE / max(width, height))
        scale = max(scale, cls.MIN_SIDE / min(width, height))
        return tuple(min(cls.MAX_SIDE, max(cls.MIN_SIDE, round(side * scale / cls.SIZE_STEP) * cls.SIZE_STEP))
                     for side in (width, height))


async def no_progress(_: Progress) -> None:
    return None
