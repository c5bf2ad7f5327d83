"""The chat part of the fake OpenAI server: `POST /v1/chat/completions`, with scripted answers.

What the "model" says is scripted by the test (`FakeOpenAI.script_chat`): a queue of replies, each
some text and/or tool calls (name + arguments as a dict, or a raw string to send malformed JSON),
or a fault spec (the same specs as the Images API: `500`, `429:retry_after_ms=10`, `hang:2`,
`drop:3`, `malformed`, ...). One HTTP request takes one entry, so a retried request takes the next.
With nothing scripted the model answers `DEFAULT_REPLY`.

Faithful where a client depends on it (checked against the openai SDK's ChatCompletion and
ChatCompletionChunk models): bearer auth; 400 bodies with OpenAI's messages, `param` and `code` for
unknown arguments, bad messages, bad tool schemas, tool_choice without tools, stream_options
without stream, out-of-range n/temperature and parameters reasoning models refuse; 404 for unknown
models; SSE `chat.completion.chunk` objects (no `event:` line) with the role first, content token by
token, tool calls streamed as (index, id, type, name, empty arguments) then argument fragments, a
last chunk with an empty delta and finish_reason, an optional usage chunk with `choices: []`, and
`data: [DONE]`. A scripted tool the request did not offer is a test mistake: 400 `fake_script_error`
(not retried by the SDK), so it cannot pass silently.

Pure functions here; openai_server.py routes requests and applies faults.
"""

from __future__ import annotations

import json
import math
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

DEFAULT_REPLY = "Hi! I'm the test chat model. Tell me what to draw."
CHAT_MODELS = {"gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1",
               "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini"}
REASONING_MODEL = re.compile(r"^(?:gpt-5|o\d)")
ROLES = ("system", "assistant", "user", "function", "tool", "developer")
CHAT_FIELDS = {"model", "messages", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
               "temperature", "top_p", "n", "max_tokens", "max_completion_tokens", "user", "safety_identifier",
               "seed", "stop", "store", "metadata", "response_format", "reasoning_effort", "verbosity",
               "frequency_penalty", "presence_penalty", "logprobs", "top_logprobs", "logit_bias", "service_tier",
               "prompt_cache_key", "prompt_cache_retention", "modalities", "prediction", "audio",
               "web_search_options", "functions", "function_call"}
_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_TOKEN = re.compile(r"\s*[A-Za-z0-9]+|\s*[^A-Za-z0-9\s]|\s+")


class BadRequest(Exception):
    """An OpenAI error body; openai_server turns it into an HTTP response."""

    def __init__(self, message: str, param: str | None = None, code: str | None = None, status: int = 400,
                 type_: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.code, self.status, self.type = message, param, code, status, type_


@dataclass
class ChatReply:
    text: str | None = None
    tool_calls: list[tuple[str, dict | str]] = field(default_factory=list)
    fault: str | None = None
    finish_reason: str | None = None  # override ("length", "content_filter"); else stop / tool_calls
    delay_s: float | None = None  # between chunks; else the server's chat_delay_s


def tokens(text: str) -> list[str]:
    """Token-like pieces that join back to `text`: words with their leading space, punctuation alone."""
    return _TOKEN.findall(text)


def _args_text(arguments: dict | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


# ---------------------------------------------------------------- validation


def validate(params: dict, models: set[str]) -> None:
    for key in params:
        if key not in CHAT_FIELDS:
            raise BadRequest(f"Unrecognized request argument supplied: {key}")
    model = params.get("model")
    if not model:
        raise BadRequest("you must provide a model parameter")
    if model not in models:
        raise BadRequest(f"The model `{model}` does not exist or you do not have access to it.", None,
                         "model_not_found", 404)
    reasoning = bool(REASONING_MODEL.match(str(model)))
    _messages(params.get("messages"))
    tools = _tools(params.get("tools"))
    _tool_choice(params, tools)
    stream = params.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise BadRequest(f"Invalid type for 'stream': expected a boolean, but got {type(stream).__name__} instead.",
                         "stream", "invalid_type")
    options = params.get("stream_options")
    if options is not None:
        if not stream:
            raise BadRequest("The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                             "stream_options", "invalid_value")
        if not isinstance(options, dict) or not isinstance(options.get("include_usage", False), bool):
            raise BadRequest("Invalid 'stream_options.include_usage': expected a boolean.",
                             "stream_options.include_usage", "invalid_type")
    n = params.get("n", 1)
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 128):
        raise BadRequest(f"Invalid 'n': integer out of range. Expected a value between 1 and 128, but got {n} "
                         "instead.", "n", "integer_above_max_value" if isinstance(n, int) and n > 1
                         else "integer_below_min_value")
    temperature = params.get("temperature")
    if temperature is not None:
        if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
            raise BadRequest(f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got "
                             f"{temperature} instead.", "temperature", "decimal_above_max_value")
        if reasoning and temperature != 1:
            raise BadRequest(f"Unsupported value: 'temperature' does not support {temperature} with this model. "
                             "Only the default (1) value is supported.", "temperature", "unsupported_value")
    if reasoning and params.get("max_tokens") is not None:
        raise BadRequest("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                         "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
    limit = params.get("max_completion_tokens")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise BadRequest(f"Invalid 'max_completion_tokens': integer below minimum value. Expected a value >= 1, "
                         f"but got {limit} instead.", "max_completion_tokens", "integer_below_min_value")


def _messages(messages: Any) -> None:
    if messages is None:
        raise BadRequest("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
    if not isinstance(messages, list):
        raise BadRequest(f"Invalid type for 'messages': expected an array, but got {type(messages).__name__} "
                         "instead.", "messages", "invalid_type")
    if not messages:
        raise BadRequest("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                         "empty array instead.", "messages", "empty_array")
    call_ids: set[str] = set()
    for i, m in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise BadRequest(f"Invalid type for '{where}': expected an object, but got {type(m).__name__} "
                             "instead.", where, "invalid_type")
        role = m.get("role")
        if role is None:
            raise BadRequest(f"Missing required parameter: '{where}.role'.", f"{where}.role",
                             "missing_required_parameter")
        if role not in ROLES:
            listed = ", ".join(f"'{r}'" for r in ROLES[:-1]) + f", and '{ROLES[-1]}'"
            raise BadRequest(f"Invalid value: '{role}'. Supported values are: {listed}.", f"{where}.role",
                             "invalid_value")
        content = m.get("content")
        if role == "assistant":
            for call in m.get("tool_calls") or []:
                call_ids.add(str(call.get("id")))
            if content is None and not m.get("tool_calls"):
                raise BadRequest(f"Missing required parameter: '{where}.content'.", f"{where}.content",
                                 "missing_required_parameter")
        elif content is None:
            raise BadRequest(f"Missing required parameter: '{where}.content'.", f"{where}.content",
                             "missing_required_parameter")
        if content is not None and not isinstance(content, (str, list)):
            raise BadRequest(f"Invalid type for '{where}.content': expected one of a string or array of objects, "
                             f"but got {type(content).__name__} instead.", f"{where}.content", "invalid_type")
        if isinstance(content, list):
            for k, part in enumerate(content):
                kind = part.get("type") if isinstance(part, dict) else None
                if kind not in ("text", "image_url", "input_audio", "file", "refusal"):
                    raise BadRequest(f"Invalid value: '{kind}'. Supported values are: 'text', 'image_url', "
                                     "'input_audio', 'refusal', and 'file'.", f"{where}.content[{k}].type",
                                     "invalid_value")
        if role == "tool" and str(m.get("tool_call_id")) not in call_ids:
            raise BadRequest("Invalid parameter: messages with role 'tool' must be a response to a preceeding "
                             "message with 'tool_calls'.", f"{where}.role")


def _tools(tools: Any) -> list[str]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise BadRequest(f"Invalid type for 'tools': expected an array, but got {type(tools).__name__} instead.",
                         "tools", "invalid_type")
    names = []
    for i, tool in enumerate(tools):
        where = f"tools[{i}]"
        if not isinstance(tool, dict) or tool.get("type") not in ("function", "custom"):
            raise BadRequest(f"Invalid value: '{tool.get('type') if isinstance(tool, dict) else tool}'. "
                             "Supported values are: 'function' and 'custom'.", f"{where}.type", "invalid_value")
        fn = tool.get(tool["type"])
        if not isinstance(fn, dict) or "name" not in fn:
            raise BadRequest(f"Missing required parameter: '{where}.{tool['type']}.name'.",
                             f"{where}.{tool['type']}.name", "missing_required_parameter")
        if not isinstance(fn["name"], str) or not _TOOL_NAME.match(fn["name"]):
            raise BadRequest(f"Invalid '{where}.function.name': string does not match pattern. Expected a string "
                             "that matches the pattern '^[a-zA-Z0-9_-]+$'.", f"{where}.function.name",
                             "invalid_value")
        schema = fn.get("parameters")
        if schema is not None and (not isinstance(schema, dict) or schema.get("type") != "object"):
            got = schema.get("type") if isinstance(schema, dict) else type(schema).__name__
            raise BadRequest(f"Invalid schema for function '{fn['name']}': schema must be a JSON Schema of "
                             f"'type: \"object\"', got 'type: \"{got}\"'.", f"{where}.function.parameters",
                             "invalid_function_parameters")
        names.append(fn["name"])
    return names


def _tool_choice(params: dict, tools: list[str]) -> None:
    if params.get("parallel_tool_calls") is not None and not tools:
        raise BadRequest("Invalid value for 'parallel_tool_calls': 'parallel_tool_calls' is only allowed when "
                         "'tools' are specified.", "parallel_tool_calls")
    choice = params.get("tool_choice")
    if choice is None:
        return
    if not tools:
        raise BadRequest("Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are "
                         "specified.", "tool_choice")
    if isinstance(choice, str):
        if choice not in ("none", "auto", "required"):
            raise BadRequest(f"Invalid value: '{choice}'. Supported values are: 'none', 'auto', and 'required'.",
                             "tool_choice", "invalid_value")
        return
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if name not in tools:
        raise BadRequest(f"Invalid value for 'tool_choice': tool choice '{name}' not found in 'tools' parameter.",
                         "tool_choice")


def check_script(reply: ChatReply, params: dict) -> None:
    """A scripted tool call the request could not have produced is the test's mistake: say so loudly."""
    offered = {(t.get("function") or {}).get("name") for t in params.get("tools") or []}
    choice = params.get("tool_choice")
    for name, _ in reply.tool_calls:
        if name not in offered or choice == "none":
            raise BadRequest(f"fake: the script calls tool {name!r} but the request offered {sorted(offered)} "
                             f"(tool_choice={choice!r})", type_="fake_script_error")
    if len(reply.tool_calls) > 1 and params.get("parallel_tool_calls") is False:
        raise BadRequest("fake: the script makes parallel tool calls but the request set parallel_tool_calls=false",
                         type_="fake_script_error")
    if choice == "required" and not reply.tool_calls:
        raise BadRequest("fake: tool_choice='required' but the script has no tool call", type_="fake_script_error")


# ---------------------------------------------------------------- answers


def _usage(params: dict, reply: ChatReply) -> dict:
    prompt_text = json.dumps(params.get("messages")) + json.dumps(params.get("tools") or [])
    prompt = max(1, math.ceil(len(prompt_text) / 4))
    completion = len(tokens(reply.text or "")) + sum(len(tokens(_args_text(a))) + 3 for _, a in reply.tool_calls)
    reasoning = 0
    if REASONING_MODEL.match(str(params.get("model"))):
        reasoning = 64
    return {"prompt_tokens": prompt, "completion_tokens": completion + reasoning,
            "total_tokens": prompt + completion + reasoning,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}


def _finish(reply: ChatReply) -> str:
    return reply.finish_reason or ("tool_calls" if reply.tool_calls else "stop")


def _call_ids(reply: ChatReply) -> list[str]:
    return [f"call_{secrets.token_urlsafe(18)}" for _ in reply.tool_calls]


def completion(reply: ChatReply, params: dict) -> dict:
    """The non-streaming `chat.completion` body."""
    ids = _call_ids(reply)
    message: dict = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.tool_calls:
        message["tool_calls"] = [{"id": ids[i], "type": "function",
                                  "function": {"name": name, "arguments": _args_text(args)}}
                                 for i, (name, args) in enumerate(reply.tool_calls)]
    n = params.get("n") or 1
    return {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion", "created": int(time.time()),
            "model": params["model"], "service_tier": "default", "system_fingerprint": "fp_fake",
            "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": _finish(reply)}
                        for i in range(n)],
            "usage": _usage(params, reply)}


def chunks(reply: ChatReply, params: dict) -> list[dict]:
    """The `chat.completion.chunk` objects of a streamed answer, in order (without `[DONE]`)."""
    include_usage = bool((params.get("stream_options") or {}).get("include_usage"))
    base = {"id": f"chatcmpl-{secrets.token_hex(12)}", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": params["model"], "service_tier": "default",
            "system_fingerprint": "fp_fake"}
    out: list[dict] = []

    def chunk(index: int, delta: dict, finish: str | None = None) -> None:
        body = {**base, "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}]}
        if include_usage:
            body["usage"] = None
        body["obfuscation"] = secrets.token_urlsafe(6)
        out.append(body)

    ids = _call_ids(reply)
    for index in range(params.get("n") or 1):
        first = {"role": "assistant", "content": "" if reply.text else None, "refusal": None}
        for k, (name, args) in enumerate(reply.tool_calls):
            call = {"index": k, "id": ids[k], "type": "function", "function": {"name": name, "arguments": ""}}
            if k == 0 and not reply.text:
                chunk(index, {**first, "tool_calls": [call]})
                first = {}
            elif k == 0:
                chunk(index, first)
                first = {}
                for piece in tokens(reply.text):
                    chunk(index, {"content": piece})
                chunk(index, {"tool_calls": [call]})
            else:
                chunk(index, {"tool_calls": [call]})
            for fragment in tokens(_args_text(args)):
                chunk(index, {"tool_calls": [{"index": k, "function": {"arguments": fragment}}]})
        if not reply.tool_calls:
            chunk(index, first)
            for piece in tokens(reply.text or ""):
                chunk(index, {"content": piece})
        chunk(index, {}, _finish(reply))
    if include_usage:
        out.append({**base, "choices": [], "usage": _usage(params, reply), "obfuscation": secrets.token_urlsafe(6)})
    return out


def sse(event: dict) -> bytes:
    return f"data: {json.dumps(event)}\n\n".encode()


DONE = b"data: [DONE]\n\n"
