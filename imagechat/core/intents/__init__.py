"""Chat text -> an image request (`ImageIntent`) or a helpful text reply (`TextReply`).

Two paths produce the same decision: the deterministic parser (`rules.parse_message`, an ordered
list of named rules; always available, offline) and a chat model calling the tools in
`IMAGE_TOOL_SCHEMA`, whose calls `tools.intent_from_tool_call` checks into the same `ImageIntent`.
"""

from imagechat.core.intents.decision import ChatContext, Decision, ImageIntent, TextReply
from imagechat.core.intents.rules import RULES, parse_message
from imagechat.core.intents.sizes import LANDSCAPE, PORTRAIT, SQUARE
from imagechat.core.intents.tools import IMAGE_TOOL_SCHEMA, intent_from_tool_call
from imagechat.core.intents.words import edit_prompt, normalize_style

__all__ = [
    "IMAGE_TOOL_SCHEMA",
    "LANDSCAPE",
    "PORTRAIT",
    "RULES",
    "SQUARE",
    "ChatContext",
    "Decision",
    "ImageIntent",
    "TextReply",
    "edit_prompt",
    "intent_from_tool_call",
    "normalize_style",
    "parse_message",
]
