"""What an image costs before a request is sent: the estimate the composer shows. (The actual charge is the
job's `cost_usd`, settled from the ledger by the runner; the chat and the detail view divide it over the job's
images.)

`estimate` is offline (no network, no database): the OpenAI engine is priced from the model table
(providers.image_models) at the size that model will really make; the offline and Stable Diffusion
engines cost $0. Its upper bound is what jobs.submit reserves from the budget for the same request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from imagechat.core.errors import InvalidRequest
from imagechat.core.providers import ENGINES, image_models
from imagechat.core.styles import check_style, styled_prompt
from imagechat.settings import get_settings

FREE_ENGINES = ("offline", "diffusers")
_MAX_SIDE = 100_000


@dataclass(frozen=True)
class Estimate:
    usd_upper_bound: float  # what the request can cost at most (reserved from the budget)
    usd_expected: float  # what it probably costs
    label: str  # "≈ $0.05 · gpt-image-2 · 1024×1024 · medium"
    width: int  # the size that will be made (snapped to what the model takes)
    height: int
    published: bool  # False when the model's per-image prices are not published (expected = upper bound)


def usd(amount: float) -> str:
    """$0, $0.006, $0.05, $1.25: cents, or tenths of a cent below one cent."""
    if amount <= 0:
        return "$0"
    return f"${amount:.3f}" if amount < 0.01 else f"${amount:.2f}"


def _whole(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"'{what}' must be a whole number from {low} to {high}.")
    return value


def estimate(engine: str, model: str, width: int, height: int, quality: str, n: int, prompt: str, *,
             style: str | None = None, edit: bool = False) -> Estimate:
    """The cost of a request before it is sent. `model` "" means the engine's only model (or, for openai,
    the configured one); `edit` counts one input image."""
    if engine not in ENGINES:
        raise InvalidRequest(f"Unknown image engine {str(engine)[:40]!r}; choose one of {', '.join(ENGINES)}.")
    width, height = _whole(width, "width", 1, _MAX_SIDE), _whole(height, "height", 1, _MAX_SIDE)
    n = _whole(n, "n", 1, 100)
    prompt = prompt if isinstance(prompt, str) else ""
    quality = quality if isinstance(quality, str) else "auto"
    many = f"{n} × " if n > 1 else ""
    if engine in FREE_ENGINES:
        return Estimate(0.0, 0.0, f"{usd(0)} · {model or engine} · {many}{width}×{height}", width, height, True)
    if not model:
        model = get_settings().openai_image_model
    spec = image_models.model_for(model)
    w, h = spec.snap_size(width, height)
    text = styled_prompt(prompt, check_style(style))
    upper = image_models.estimate_upper_bound(model, quality=quality, width=w, height=h, n=n, prompt=text,
                                              input_images=1 if edit else 0)
    published = spec.per_image is not None
    if published:
        text_tokens = math.ceil(len(text) / 4)  # about four characters a token
        inputs = (text_tokens * spec.text_input_per_m
                  + (image_models.MAX_IMAGE_INPUT_TOKENS * spec.image_input_per_m if edit else 0)) / 1e6
        expected = min(upper, n * image_models.expected_image_price(model, quality, w, h) + inputs)
    else:
        expected = upper
    sign = "≈" if published else "≤"
    label = f"{sign} {usd(expected)} · {model} · {many}{w}×{h} · {quality}"
    return Estimate(upper, expected, label, w, h, published)
