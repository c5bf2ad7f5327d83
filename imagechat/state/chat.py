"""Chat UI state: the draft and the visible messages. Images appear only as URLs served by imagechat/api."""

from __future__ import annotations

import dataclasses

import reflex as rx

from imagechat.settings import get_settings

EXAMPLE_PROMPTS = (
    "A lighthouse on a cliff at sunset, watercolor",
    "Snowy mountains above a mirror lake at dawn",
    "Neon city skyline at night in the rain",
)


@dataclasses.dataclass
class ChatMessage:
    role: str  # "user" | "assistant"
    text: str
    image_url: str = ""  # e.g. /api/images/<id>/thumb.webp, never bytes


class ChatState(rx.State):
    draft: str = ""
    messages: list[ChatMessage] = []

    @rx.event
    def set_draft(self, value: str):
        self.draft = value[: get_settings().max_prompt_chars]

    @rx.event
    def use_example(self, prompt: str):
        self.draft = prompt

    @rx.event
    def send(self):
        # Generation is wired in by the chat issue (core.jobs.submit_job); the shell only records the prompt.
        text = self.draft.strip()
        if not text:
            return
        self.messages.append(ChatMessage(role="user", text=text))
        self.draft = ""
