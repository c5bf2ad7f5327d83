"""What OpenAI's image models cost, in USD. Used for budgets: exact cost from `usage` tokens when the
API reports them, a per-image table otherwise, and a safe upper bound before a request is sent.

Figures are OpenAI's published list prices as of 2026 (text input / image input / image output per
1M tokens; per-image prices for 1024x1024 and for 1536x1024 or 1024x1536). gpt-image-2's per-image
rows were not published alongside its token prices; they are set to gpt-image-1's (the highest), so
budgets stay on the safe side. Check https://openai.com/api/pricing when adding a model. Unknown
models are priced as the most expensive known one for the same reason."""

from __future__ import annotations

from dataclasses import dataclass

QUALITIES = ("low", "medium", "high")


@dataclass(frozen=True)
class ModelPrice:
    text_input_per_m: float
    image_input_per_m: float
    output_per_m: float
    per_image: dict[str, tuple[float, float]]  # quality -> (1024x1024, 1536x1024 / 1024x1536)


PRICES: dict[str, ModelPrice] = {
    "gpt-image-1": ModelPrice(5.0, 10.0, 40.0,
                        {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)}),
    "gpt-image-1-mini": ModelPrice(2.0, 2.5, 8.0,
                        {"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)}),
    "gpt-image-1.5": ModelPrice(5.0, 8.0, 32.0, {"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.2)}),
    "gpt-image-2": ModelPrice(5.0, 8.0, 30.0, {"low": (0.011, 0.016), "medium": (0.042, 0.063), "high": (0.167, 0.25)}),
}
# The most expensive known row in every column: the price of a model we do not know.
_UNKNOWN = ModelPrice(
    max(p.text_input_per_m for p in PRICES.values()),
    max(p.image_input_per_m for p in PRICES.values()),
    max(p.output_per_m for p in PRICES.values()),
    {q: (max(p.per_image[q][0] for p in PRICES.values()), max(p.per_image[q][1] for p in PRICES.values()))
     for q in QUALITIES},
)
# Upper bounds for the estimate: tokens never outnumber bytes, and an input image at high
# fidelity costs at most about as many tokens as a high-quality landscape output image.
MAX_IMAGE_INPUT_TOKENS = 6240


def price_for(model: str) -> ModelPrice:
    if model in PRICES:
        return PRICES[model]
    # Dated snapshots ("gpt-image-2-2026-04-21") cost what their family costs.
    for name in sorted(PRICES, key=len, reverse=True):
        if model.startswith(name + "-") and model[len(name) + 1 : len(name) + 2].isdigit():
            return PRICES[name]
    return _UNKNOWN


def cost_from_usage(model: str, usage: dict) -> float:
    """Exact cost of one API call from its `usage` object (as a dict)."""
    price = price_for(model)
    details = usage.get("input_tokens_details")
    if details:
        text_in, image_in = details.get("text_tokens", 0), details.get("image_tokens", 0)
    else:  # no split reported: price every input token at the (higher) image rate
        text_in, image_in = 0, usage.get("input_tokens", 0)
    out = usage.get("output_tokens", 0)
    return (text_in * price.text_input_per_m + image_in * price.image_input_per_m + out * price.output_per_m) / 1e6


def per_image_price(model: str, quality: str, width: int, height: int) -> float:
    """List price of one output image; `auto` or unknown quality counts as high. Sizes other than the
    three standard ones (gpt-image-2) scale with their area, never below the standard row."""
    square, oblong = price_for(model).per_image[quality if quality in QUALITIES else "high"]
    if (width, height) == (1024, 1024):
        return square
    if (width, height) in ((1536, 1024), (1024, 1536)):
        return oblong
    return max(square if width == height else oblong, square * width * height / (1024 * 1024))


def estimate_upper_bound(model: str, *, quality: str, width: int, height: int, n: int, prompt: str,
                         input_images: int = 0) -> float:
    price = price_for(model)
    text_tokens = len(prompt.encode("utf-8"))
    image_tokens = input_images * MAX_IMAGE_INPUT_TOKENS
    inputs = (text_tokens * price.text_input_per_m + image_tokens * price.image_input_per_m) / 1e6
    return n * per_image_price(model, quality, width, height) + inputs



# Chat models (the assistant that understands requests): USD per 1M input / output tokens, list prices.
CHAT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5.4": (1.25, 10.0), "gpt-5.4-mini": (0.25, 2.0), "gpt-5.4-nano": (0.05, 0.4),
    "gpt-5": (1.25, 10.0), "gpt-5-mini": (0.25, 2.0), "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6), "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6),
}
_UNKNOWN_CHAT = (max(p[0] for p in CHAT_PRICES.values()), max(p[1] for p in CHAT_PRICES.values()))


def chat_price_for(model: str) -> tuple[float, float]:
    if model in CHAT_PRICES:
        return CHAT_PRICES[model]
    for name in sorted(CHAT_PRICES, key=len, reverse=True):  # dated snapshots cost what their family costs
        if model.startswith(name + "-") and model[len(name) + 1 : len(name) + 2].isdigit():
            return CHAT_PRICES[name]
    return _UNKNOWN_CHAT


def chat_cost(model: str, usage: dict) -> float:
    """Exact cost of one chat completion from its `usage` (reasoning tokens are output tokens)."""
    per_in, per_out = chat_price_for(model)
    return (usage.get("prompt_tokens", 0) * per_in + usage.get("completion_tokens", 0) * per_out) / 1e6


def chat_upper_bound(model: str, prompt_chars: int, max_output_tokens: int) -> float:
    """Tokens never outnumber bytes, and the answer is capped by `max_completion_tokens`."""
    per_in, per_out = chat_price_for(model)
    return (prompt_chars * per_in + max_output_tokens * per_out) / 1e6
