"""OpenAI's image models in one table: the sizes and qualities each takes, what it costs and when it
shuts down. The OpenAI engine snaps sizes and prices requests with it, the cost estimate and the
shutdown warnings read it, and the fake server in tests answers by it.

Checked on 2026-12-07 (CHECKED) against:
- the official `openai` SDK 3.54.0 type docs (generated from OpenAI's API spec): the image model list;
  arbitrary `WIDTHxHEIGHT` sizes for gpt-image-2 and gpt-image-2.5-* (both sides divisible by 16, aspect
  1:3..3:1, at most 3840x2160, above 2560x1440 experimental), the standard 1024x1024 / 1536x1024 /
  1024x1536 for every GPT image model; `xhigh` and `max` quality only for gpt-image-2.5-*; gpt-image-1
  shut down on 2026-10-23, dall-e-2 and dall-e-3 on 2026-05-12;
- OpenAI's deprecations page: gpt-image-1.5 (and -2025-12-16), gpt-image-1-mini and chatgpt-image-latest
  shut down on 2026-12-01; /v1/models carries an optional `shutdown_date` (YYYY-MM-DD or null);
- OpenAI's model and pricing pages: token prices per 1M (text input / image input / image output) and
  per-image prices for 1024x1024 and for 1536x1024 or 1024x1536. gpt-image-2's per-image figures are
  OpenAI's cost-calculator examples. gpt-image-2.5-* and gpt-image-2.6-* are billed at gpt-image-2's token
  prices, but no per-image figures were published: their estimates use the highest known row.
- The pixel limits of flexible models (655,360..8,294,400 pixels, 3840 per edge) are the API's documented
  limits as relayed by several gateways' docs; the SDK states the 3840x2160 maximum only.
gpt-image-2.6-* take the standard sizes here: the SDK lists arbitrary sizes only for 2 and 2.5.

Dated snapshots ("gpt-image-2-2026-04-21") are their family. A name not in the table is priced as the most
expensive known model and given the standard sizes, which every GPT image model takes."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date

from imagechat.core.errors import EngineUnavailable, InvalidRequest

CHECKED = date(2026, 12, 7)
DEFAULT_MODEL = "gpt-image-2"
STANDARD_SIZES: tuple[tuple[int, int], ...] = ((1024, 1024), (1536, 1024), (1024, 1536))
WIDE_SIZES: tuple[tuple[int, int], ...] = ((1792, 1024), (1024, 1792))  # presets where any WxH is taken
GPT_QUALITIES = ("low", "medium", "high", "auto")
PRICED_QUALITIES = ("low", "medium", "high")  # the rest ("auto", "xhigh", "max") is priced as "high"
# Estimates: tokens never outnumber bytes, and one input image at high fidelity costs at most about as
# many tokens as a high-quality landscape output image.
MAX_IMAGE_INPUT_TOKENS = 6240


@dataclass(frozen=True)
class SizeRule:
    """Which WxH a model takes. Fixed models: the standard sizes. Flexible ones: any multiple of `step`
    within the pixel, edge and aspect limits."""

    flexible: bool
    step: int = 16
    min_pixels: int = 655_360
    max_pixels: int = 8_294_400
    max_edge: int = 3840
    max_aspect: float = 3.0

    def accepts(self, width: int, height: int) -> bool:
        if not self.flexible:
            return (width, height) in STANDARD_SIZES
        return (width > 0 and height > 0 and width % self.step == 0 and height % self.step == 0
                and 1 / self.max_aspect <= width / height <= self.max_aspect and max(width, height) <= self.max_edge
                and self.min_pixels <= width * height <= self.max_pixels)

    def snap(self, width: int, height: int) -> tuple[int, int]:
        """The accepted size nearest to what was asked: the same aspect where possible, then the area."""
        if width <= 0 or height <= 0:
            raise InvalidRequest(f"{width}x{height} is not an image size.")
        if not self.flexible:
            aspect = width / height
            return min(STANDARD_SIZES, key=lambda wh: abs(math.log(wh[0] / wh[1] / aspect)))
        aspect = min(max(width / height, 1 / self.max_aspect), self.max_aspect)
        area = min(max(width * height, self.min_pixels), self.max_pixels)
        w = math.sqrt(area * aspect)
        h = w / aspect
        scale = min(1.0, self.max_edge / max(w, h))
        w, h = w * scale, h * scale
        for rounding in (round, math.floor, math.ceil):
            cw, ch = int(rounding(w / self.step)) * self.step, int(rounding(h / self.step)) * self.step
            if self.accepts(cw, ch):
                return cw, ch
        return 1024, 1024


FIXED = SizeRule(flexible=False)
FLEXIBLE = SizeRule(flexible=True)


@dataclass(frozen=True)
class ImageModel:
    name: str
    sizes: SizeRule
    text_input_per_m: float  # USD per 1M tokens
    image_input_per_m: float
    output_per_m: float
    # Published list prices of one output image: quality -> (1024x1024, 1536x1024 or 1024x1536).
    # None: not published (the highest known row is used).
    per_image: dict[str, tuple[float, float]] | None
    qualities: tuple[str, ...] = GPT_QUALITIES  # what the API accepts
    shutdown: date | None = None  # the day requests stop working
    replacement: str | None = None  # what to set OPENAI_IMAGE_MODEL to instead
    edits: bool = True
    known: bool = True  # False: a name not in the table, described conservatively

    def retired(self, today: date) -> bool:
        return self.shutdown is not None and today >= self.shutdown

    @property
    def presets(self) -> tuple[tuple[int, int], ...]:
        """The sizes offered in the UI; a flexible model takes more (see accepts_size)."""
        return STANDARD_SIZES + (WIDE_SIZES if self.sizes.flexible else ())

    def accepts_size(self, width: int, height: int) -> bool:
        return self.sizes.accepts(width, height)

    def snap_size(self, width: int, height: int) -> tuple[int, int]:
        return self.sizes.snap(width, height)

    def rows(self) -> dict[str, tuple[float, float]]:
        return self.per_image if self.per_image is not None else _HIGHEST_ROWS


_GPT_IMAGE_2_TOKENS = dict(text_input_per_m=5.0, image_input_per_m=8.0, output_per_m=30.0)
_TABLE: tuple[ImageModel, ...] = (
    ImageModel("gpt-image-2", FLEXIBLE, **_GPT_IMAGE_2_TOKENS,
               per_image={"low": (0.006, 0.005), "medium": (0.053, 0.041), "high": (0.211, 0.165)}),
    ImageModel("gpt-image-2.5-flare", FLEXIBLE, **_GPT_IMAGE_2_TOKENS, per_image=None,
               qualities=(*GPT_QUALITIES, "xhigh", "max")),
    ImageModel("gpt-image-2.5-sunburst", FLEXIBLE, **_GPT_IMAGE_2_TOKENS, per_image=None,
               qualities=(*GPT_QUALITIES, "xhigh", "max")),
    # No published size rule: the standard sizes, which every GPT image model takes.
    ImageModel("gpt-image-2.6-flare", FIXED, **_GPT_IMAGE_2_TOKENS, per_image=None),
    ImageModel("gpt-image-2.6-sunburst", FIXED, **_GPT_IMAGE_2_TOKENS, per_image=None),
    ImageModel("gpt-image-1.5", FIXED, 5.0, 8.0, 32.0,
               {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)},
               shutdown=date(2026, 12, 1), replacement=DEFAULT_MODEL),
    ImageModel("gpt-image-1-mini", FIXED, 2.0, 2.5, 8.0,
               {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
               shutdown=date(2026, 12, 1), replacement=DEFAULT_MODEL),
    ImageModel("chatgpt-image-latest", FIXED, 5.0, 8.0, 32.0, per_image=None,
               shutdown=date(2026, 12, 1), replacement=DEFAULT_MODEL),
    ImageModel("gpt-image-1", FIXED, 5.0, 10.0, 40.0,
               {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)},
               shutdown=date(2026, 10, 23), replacement=DEFAULT_MODEL),
    # Kept only to name the replacement; their sizes and prices no longer matter.
    ImageModel("dall-e-3", FIXED, 0.0, 0.0, 0.0, per_image=None, qualities=("standard", "hd"),
               shutdown=date(2026, 5, 12), replacement=DEFAULT_MODEL, edits=False),
    ImageModel("dall-e-2", FIXED, 0.0, 0.0, 0.0, per_image=None, qualities=("standard",),
               shutdown=date(2026, 5, 12), replacement=DEFAULT_MODEL),
)
IMAGE_MODELS: dict[str, ImageModel] = {m.name: m for m in _TABLE}

# The most expensive known figure in every column: the price of a model whose figures are not known.
_GPT_ROWS = [m.per_image for m in _TABLE if m.per_image is not None and m.name.startswith("gpt-")]
_HIGHEST_ROWS: dict[str, tuple[float, float]] = {
    q: (max(r[q][0] for r in _GPT_ROWS), max(r[q][1] for r in _GPT_ROWS)) for q in PRICED_QUALITIES}


def _unknown(name: str) -> ImageModel:
    known = [m for m in _TABLE if m.name.startswith("gpt-")]
    return ImageModel(name, FIXED, max(m.text_input_per_m for m in known), max(m.image_input_per_m for m in known),
                      max(m.output_per_m for m in known), per_image=None, known=False)


def lookup(name: str) -> ImageModel | None:
    """The table's row for a model name or one of its dated snapshots ("gpt-image-2-2026-04-21")."""
    if not isinstance(name, str):
        return None
    if name in IMAGE_MODELS:
        return IMAGE_MODELS[name]
    for family in sorted(IMAGE_MODELS, key=len, reverse=True):
        rest = name[len(family) + 1:]
        if name.startswith(family + "-") and re.fullmatch(r"\d{4}-\d{2}-\d{2}", rest):
            return IMAGE_MODELS[family]
    return None


def model_for(name: str) -> ImageModel:
    """The row for `name`; a name the table does not know gets standard sizes and the highest prices."""
    return lookup(name) or _unknown(name)


def current_models(today: date) -> list[str]:
    """The GPT image models still served on `today`, in the table's order (the default first)."""
    return [m.name for m in _TABLE if not m.retired(today) and m.name.startswith("gpt-")]


def successor(name: str, on: date) -> str | None:
    """What to use instead of `name` from the day `on`: its named replacement, else the first model of
    the table still served then (not `name`'s own family)."""
    row = lookup(name)
    named = IMAGE_MODELS.get(row.replacement) if row is not None and row.replacement else None
    if named is not None and not named.retired(on):
        return named.name
    own = row.name if row is not None else name
    return next((m for m in current_models(on) if m != own), None)


def retired_message(model: ImageModel, configured: str) -> str:
    replacement = successor(configured, model.shutdown or CHECKED) or DEFAULT_MODEL
    return (f"The image model {configured} was shut down on {model.shutdown:%Y-%m-%d}; "
            f"set OPENAI_IMAGE_MODEL={replacement} (or another current model).")


def check_usable(name: str, today: date) -> ImageModel:
    """The row of a configured model, or EngineUnavailable naming the replacement when it is shut down."""
    if not name or not name.strip():
        raise EngineUnavailable(f"OPENAI_IMAGE_MODEL is empty; set it to an image model such as {DEFAULT_MODEL}.")
    model = model_for(name)
    if model.retired(today):
        raise EngineUnavailable(retired_message(model, name))
    return model


# ---- prices ----
def _priced(quality: str) -> str:
    return quality if quality in PRICED_QUALITIES else "high"


def _shape_row(model: ImageModel, quality: str, width: int, height: int) -> tuple[float, int]:
    """The published price of the standard size of the same shape, and that size's area."""
    square, oblong = model.rows()[_priced(quality)]
    return (square, 1024 * 1024) if width == height else (oblong, 1536 * 1024)


def per_image_price(name: str, quality: str, width: int, height: int) -> float:
    """Upper bound of one output image: the published price for the standard sizes; other sizes (flexible
    models) scale with their area from the square price, never below their shape's standard price."""
    model = model_for(name)
    square = model.rows()[_priced(quality)][0]
    if (width, height) in STANDARD_SIZES:
        return _shape_row(model, quality, width, height)[0]
    return max(_shape_row(model, quality, width, height)[0], square * width * height / (1024 * 1024))


def expected_image_price(name: str, quality: str, width: int, height: int) -> float:
    """What one output image probably costs: the published price for the standard sizes, else the price of
    the standard size of the same shape scaled by area (OpenAI publishes no formula for other sizes)."""
    price, area = _shape_row(model_for(name), quality, width, height)
    if (width, height) in STANDARD_SIZES:
        return price
    return min(price * width * height / area, per_image_price(name, quality, width, height))


def cost_from_usage(name: str, usage: dict) -> float:
    """Exact cost of one API call from its `usage` object (as a dict)."""
    model = model_for(name)
    details = usage.get("input_tokens_details")
    if details:
        text_in, image_in = details.get("text_tokens", 0), details.get("image_tokens", 0)
    else:  # no split reported: price every input token at the (higher) image rate
        text_in, image_in = 0, usage.get("input_tokens", 0)
    out = usage.get("output_tokens", 0)
    return (text_in * model.text_input_per_m + image_in * model.image_input_per_m + out * model.output_per_m) / 1e6


def input_upper_bound(name: str, prompt: str, input_images: int = 0) -> float:
    model = model_for(name)
    text_tokens, image_tokens = len(prompt.encode("utf-8")), input_images * MAX_IMAGE_INPUT_TOKENS
    return (text_tokens * model.text_input_per_m + image_tokens * model.image_input_per_m) / 1e6


def estimate_upper_bound(name: str, *, quality: str, width: int, height: int, n: int, prompt: str,
                         input_images: int = 0) -> float:
    """What a request can cost at most: reserved from the budget before it is sent."""
    return n * per_image_price(name, quality, width, height) + input_upper_bound(name, prompt, input_images)


def expected_output_tokens(name: str, quality: str, width: int, height: int) -> int:
    """Output tokens of one image at its expected price (never above it)."""
    model = model_for(name)
    if model.output_per_m <= 0:
        return 0
    return int(expected_image_price(name, quality, width, height) * 1e6 / model.output_per_m)

