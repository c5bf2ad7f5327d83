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
    # Also filled in by the runner for an edit: the painted mask (a PNG of the source's size whose fully
    # transparent pixels mark the area to change, OpenAI's convention), when the user painted one (job_masks),
    # and the previous image's own prompt and seed (the offline painter keeps its composition with them).
    mask: bytes | None = None
    source_prompt: str | None = None
    source_seed: int | None = None
    user: str | None = None  # opaque end-user id passed to the API for abuse tracking
    # Which engine and model make it (the composer's choice); None: the configured ones. jobs.submit checks the
    # choice and stores what it resolved to in the job's own engine and model columns, not in params().
    engine: str | None = None
    model: str | None = None

    def params(self) -> dict:
        """The JSON stored on the job row (everything but the source image bytes and the user id)."""
        return {"style": self.style, "width": self.width, "height": self.height, "n": self.n, "seed": self.seed,
                "quality": self.quality}

    @classmethod
    def from_params(cls, prompt: str, params: dict) -> ImageRequest:
        return cls(prompt=prompt, style=params.get("style"), width=params["width"], height=params["height"],
                   n=params["n"], seed=params.get("seed"), quality=params.get("quality", "auto"))
