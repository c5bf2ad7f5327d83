"""What OpenAI's chat models cost, in USD, and when they shut down: the assistant that understands
requests meters itself with these. Image models have their own table (providers.image_models).

Token prices are OpenAI's list prices (USD per 1M input / output tokens) as entered with the assistant;
the shutdown dates are the ones the official `openai` SDK 3.54.0 announces in its ChatModel docs
(checked 2026-12-07, CHAT_CHECKED; the prices were not re-checked then).
Unknown models are priced as the most expensive known one, so budgets stay on the safe side."""

from __future__ import annotations

from datetime import date

CHAT_CHECKED = date(2026, 12, 7)


# Chat models (the assistant that understands requests): USD per 1M input / output tokens, list prices.
CHAT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-5.4": (1.25, 10.0), "gpt-5.4-mini": (0.25, 2.0), "gpt-5.4-nano": (0.05, 0.4),
    "gpt-5": (1.25, 10.0), "gpt-5-mini": (0.25, 2.0), "gpt-5-nano": (0.05, 0.4),
    "gpt-4.1": (2.0, 8.0), "gpt-4.1-mini": (0.4, 1.6), "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4o": (2.5, 10.0), "gpt-4o-mini": (0.15, 0.6),
}
_UNKNOWN_CHAT = (max(p[0] for p in CHAT_PRICES.values()), max(p[1] for p in CHAT_PRICES.values()))
# Announced shutdowns of the chat models above (snapshots share their family's date).
CHAT_SHUTDOWNS: dict[str, date] = {
    "gpt-5": date(2026, 12, 11), "gpt-5-mini": date(2026, 12, 11), "gpt-5-nano": date(2026, 12, 11),
    "gpt-4.1-nano": date(2026, 10, 23),
    "gpt-4.1": date(2027, 1, 14), "gpt-4.1-mini": date(2027, 1, 14),
    "gpt-4o": date(2027, 1, 14), "gpt-4o-mini": date(2027, 1, 14),
    "gpt-5.4-nano": date(2027, 4, 1),
}


def _family(model: str, table) -> str | None:
    if model in table:
        return model
    for name in sorted(table, key=len, reverse=True):  # dated snapshots belong to their family
        if model.startswith(name + "-") and model[len(name) + 1 : len(name) + 2].isdigit():
            return name
    return None


def chat_price_for(model: str) -> tuple[float, float]:
    family = _family(model, CHAT_PRICES)
    return CHAT_PRICES[family] if family else _UNKNOWN_CHAT


def chat_shutdown(model: str) -> date | None:
    family = _family(model, CHAT_SHUTDOWNS)
    return CHAT_SHUTDOWNS[family] if family else None


def chat_cost(model: str, usage: dict) -> float:
    """Exact cost of one chat completion from its `usage` (reasoning tokens are output tokens)."""
    per_in, per_out = chat_price_for(model)
    return (usage.get("prompt_tokens", 0) * per_in + usage.get("completion_tokens", 0) * per_out) / 1e6


def chat_upper_bound(model: str, prompt_chars: int, max_output_tokens: int) -> float:
    """Tokens never outnumber bytes, and the answer is capped by `max_completion_tokens`."""
    per_in, per_out = chat_price_for(model)
    return (prompt_chars * per_in + max_output_tokens * per_out) / 1e6
