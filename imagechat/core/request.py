"""The one request type: what to make. The chat's intent carries it, the job stores it, the engine gets it.

Who asks and where the result goes (owner, conversation, the image being changed) are the job's,
not the request's: see jobs.submit."""

from __future__ import annotations

from dataclasses import dataclass

QUALITIES = ("auto", "low", "medium", "high")


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    style: str | None = None
    width: int = 1024
    height: int = 1024
    n: int = 1
    seed: int | None = None
    quality: str = "auto"
    output_format: str = "png"
    # Filled in by the job runner for an edit: the previous image's bytes (any Pillow-readable format).
    source_image: bytes | None = None
    user: str | None = None  # opaque end-user id passed to the API for abuse tracking

    def params(self) -> dict:
        """The JSON stored on the job row (everything but the source image bytes and the user id)."""
        return {"style": self.style, "width": self.width, "height": self.height, "n": self.n, "seed": self.seed,
                "quality": self.quality}

    @classmethod
    def from_params(cls, prompt: str, params: dict) -> ImageRequest:
        return cls(prompt=prompt, style=params.get("style"), width=params["width"], height=params["height"],
                   n=params["n"], seed=params.get("seed"), quality=params.get("quality", "auto"))
