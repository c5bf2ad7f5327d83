"""Reflex states, one per concern. They hold ids, text, URLs and progress numbers: never image bytes."""

from imagechat.state.chat import ChatMessage, ChatState
from imagechat.state.engine import EngineState, engine_label

__all__ = ["ChatMessage", "ChatState", "EngineState", "engine_label"]
