"""The fake chat-completions endpoint: wire format (read by the real SDK), errors, scripting, request log."""

from __future__ import annotations

import json

import httpx
import openai
import pytest

from imagechat.core.intents import IMAGE_TOOL_SCHEMA
from tests.fakes import fake_chat

AUTH = {"Authorization": "Bearer sk-x"}
MODEL = "gpt-5.4-mini"
USER = [{"role": "user", "content": "draw a cat"}]


pytestmark = pytest.mark.usefixtures("clean_fake")


@pytest.fixture
async def client(fake):
    async with openai.AsyncOpenAI(api_key="sk-x", base_url=fake.base_url, max_retries=1) as c:
        yield c


def post(fake, body, headers=AUTH):
    return httpx.post(fake.base_url + "/chat/completions", json=body, headers=headers, timeout=10)


async def collect(stream):
    return [chunk async for chunk in stream]


def test_tokens_join_back_and_split_words():
    text = "Sure! Drawing a cat, in watercolor."
    pieces = fake_chat.tokens(text)
    assert "".join(pieces) == text
    assert pieces[:3] == ["Sure", "!", " Drawing"]


async def test_streamed_text_arrives_token_by_token(fake, client):
    fake.script_chat(text="Hello there, what should I draw?")
    chunks = await collect(await client.chat.completions.create(model=MODEL, messages=USER, stream=True))
    assert all(c.object == "chat.completion.chunk" and c.model == MODEL for c in chunks)
    assert len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices[0].delta.content]
    assert len(pieces) >= 5 and "".join(pieces) == "Hello there, what should I draw?"
    assert [c.choices[0].finish_reason for c in chunks][-1] == "stop"
    assert all(c.choices[0].finish_reason is None for c in chunks[:-1])
    assert all(c.usage is None for c in chunks)


async def test_tool_call_is_streamed_in_fragments_after_the_text(fake, client):
    args = {"prompt": "a cat wearing a tiny hat", "style": "watercolor", "size": "1792x1024"}
    fake.script_chat(text="On it! ", tool=("create_image", args))
    chunks = await collect(await client.chat.completions.create(
        model=MODEL, messages=USER, tools=IMAGE_TOOL_SCHEMA, stream=True))
    deltas = [c.choices[0].delta for c in chunks]
    text = "".join(d.content or "" for d in deltas)
    calls = [tc for d in deltas for tc in (d.tool_calls or [])]
    assert text == "On it! "
    first_call = next(i for i, d in enumerate(deltas) if d.tool_calls)
    assert all(not d.content for d in deltas[first_call:])  # text first, then the call
    head, fragments = calls[0], calls[1:]
    assert (head.index, head.type, head.function.name, head.function.arguments) == (0, "function", "create_image", "")
    assert head.id.startswith("call_")
    assert len(fragments) >= 3 and all(f.index == 0 and f.id is None and f.function.name is None for f in fragments)
    assert json.loads("".join(f.function.arguments for f in fragments)) == args
    assert chunks[-1].choices[0].finish_reason == "tool_calls" and deltas[-1].tool_calls is None


async def test_tool_call_without_text_starts_with_role_and_call(fake, client):
    fake.script_chat(tool=("edit_image", {"size": "1792x1024"}))
    chunks = await collect(await client.chat.completions.create(
        model=MODEL, messages=USER, tools=IMAGE_TOOL_SCHEMA, stream=True))
    first = chunks[0].choices[0].delta
    assert first.role == "assistant" and first.content is None and first.tool_calls[0].function.name == "edit_image"


async def test_usage_chunk_only_when_asked(fake, client):
    fake.script_chat(text="Hi!")
    chunks = await collect(await client.chat.completions.create(
        model=MODEL, messages=USER, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


def test_raw_stream_is_sse_data_lines_ending_with_done(fake):
    fake.script_chat(text="Hi there!")
    r = post(fake, {"model": MODEL, "messages": USER, "stream": True})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = [e for e in r.text.split("\n\n") if e]
    assert all(e.startswith("data: ") for e in events)
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[0][6:])["object"] == "chat.completion.chunk"


async def test_non_streaming_answer_with_tool_call(fake, client):
    fake.script_chat(text="Sure.", tool=("create_image", {"prompt": "a fox"}))
    r = await client.chat.completions.create(model=MODEL, messages=USER, tools=IMAGE_TOOL_SCHEMA)
    choice = r.choices[0]
    assert (r.object, choice.finish_reason, choice.message.content) == ("chat.completion", "tool_calls", "Sure.")
    (call,) = choice.message.tool_calls
    assert call.function.name == "create_image" and json.loads(call.function.arguments) == {"prompt": "a fox"}
    assert r.usage.total_tokens > 0


async def test_unscripted_model_answers_a_short_text(fake, client):
    r = await client.chat.completions.create(model=MODEL, messages=USER)
    assert r.choices[0].message.content == fake_chat.DEFAULT_REPLY and r.choices[0].finish_reason == "stop"


async def test_requests_are_recorded_with_messages_and_tools(fake, client):
    messages = [{"role": "system", "content": "be brief"}, *USER]
    await client.chat.completions.create(model=MODEL, messages=messages, tools=IMAGE_TOOL_SCHEMA)
    (req,) = fake.chat_requests()
    assert req.params["messages"] == messages and req.params["tools"] == IMAGE_TOOL_SCHEMA
    assert req.status == 200 and req.headers["authorization"] == "Bearer sk-x"
    assert fake.image_requests() == []


def test_missing_or_wrong_key_is_401(fake):
    assert post(fake, {"model": MODEL, "messages": USER}, headers={}).status_code == 401
    fake.api_keys = {"sk-right"}
    r = post(fake, {"model": MODEL, "messages": USER})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


TOOL = {"type": "function", "function": {"name": "create_image", "parameters": {"type": "object"}}}


@pytest.mark.parametrize("body,status,param,code", [
    ({"model": MODEL, "messages": USER, "foo": 1}, 400, None, None),
    ({"messages": USER}, 400, None, None),
    ({"model": "gpt-image-1", "messages": USER}, 404, None, "model_not_found"),
    ({"model": MODEL}, 400, "messages", "missing_required_parameter"),
    ({"model": MODEL, "messages": []}, 400, "messages", "empty_array"),
    ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role", "invalid_value"),
    ({"model": MODEL, "messages": [{"role": "user"}]}, 400, "messages[0].content", "missing_required_parameter"),
    ({"model": MODEL, "messages": [*USER, {"role": "tool", "tool_call_id": "call_1", "content": "ok"}]}, 400,
     "messages[1].role", None),
    ({"model": MODEL, "messages": USER, "tool_choice": "auto"}, 400, "tool_choice", None),
    ({"model": MODEL, "messages": USER, "parallel_tool_calls": False}, 400, "parallel_tool_calls", None),
    ({"model": MODEL, "messages": USER, "tools": [TOOL], "tool_choice": {"type": "function",
                                                                          "function": {"name": "nope"}}},
     400, "tool_choice", None),
    ({"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {"name": "bad name"}}]}, 400,
     "tools[0].function.name", "invalid_value"),
    ({"model": MODEL, "messages": USER, "tools": [{"type": "function", "function": {
        "name": "f", "parameters": {"type": "string"}}}]}, 400, "tools[0].function.parameters",
     "invalid_function_parameters"),
    ({"model": MODEL, "messages": USER, "stream_options": {"include_usage": True}}, 400, "stream_options",
     "invalid_value"),
    ({"model": MODEL, "messages": USER, "n": 0}, 400, "n", "integer_below_min_value"),
    ({"model": "gpt-4.1-mini", "messages": USER, "temperature": 3}, 400, "temperature", "decimal_above_max_value"),
    ({"model": MODEL, "messages": USER, "temperature": 0.2}, 400, "temperature", "unsupported_value"),
    ({"model": MODEL, "messages": USER, "max_tokens": 10}, 400, "max_tokens", "unsupported_parameter"),
])
def test_validation_errors_have_openai_bodies(fake, body, status, param, code):
    fake.script_chat(text="never sent")
    r = post(fake, body)
    assert r.status_code == status
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["message"]
    assert (err["type"], err["param"], err["code"]) == ("invalid_request_error", param, code)
    assert fake.chat_script_left() == 1  # an invalid request does not use up the script


def test_valid_variants_are_accepted(fake):
    ok = [{"model": "gpt-4.1-mini", "messages": USER, "temperature": 0.2, "max_tokens": 50},
          {"model": MODEL, "messages": [{"role": "developer", "content": [{"type": "text", "text": "hi"}]}, *USER]},
          {"model": MODEL, "messages": [*USER, {"role": "assistant", "content": None, "tool_calls": [
              {"id": "call_1", "type": "function", "function": {"name": "create_image", "arguments": "{}"}}]},
              {"role": "tool", "tool_call_id": "call_1", "content": "done"}], "tools": [TOOL]}]
    assert [post(fake, body).status_code for body in ok] == [200, 200, 200]


async def test_429_has_retry_headers_and_the_sdk_retries(fake, client):
    fake.script_chat(fault="429:retry_after_ms=5")
    fake.script_chat(text="Second try works.")
    r = await client.chat.completions.create(model=MODEL, messages=USER)
    assert r.choices[0].message.content == "Second try works."
    first, second = fake.chat_requests()
    assert (first.status, first.fault, second.status, second.retry_count) == (429, "429:retry_after_ms=5", 200, 1)
    fake.script_chat(fault="429:retry_after=1")
    raw = post(fake, {"model": MODEL, "messages": USER})
    assert raw.headers["retry-after"] == "1" and raw.json()["error"]["code"] == "rate_limit_exceeded"


async def test_persistent_500_exhausts_the_sdk_retries(fake, client):
    fake.script_chat(fault="500", times=2)
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model=MODEL, messages=USER, stream=True)
    assert [r.status for r in fake.chat_requests()] == [500, 500]
    fake.set_chat_default_fault("503")
    assert post(fake, {"model": MODEL, "messages": USER}).status_code == 503


async def test_malformed_and_dropped_streams_fail_in_the_sdk(fake, client):
    fake.script_chat(fault="malformed")
    with pytest.raises(json.JSONDecodeError):
        await collect(await client.chat.completions.create(model=MODEL, messages=USER, stream=True))
    fake.script_chat(text="a b c d e f", fault="drop:2")
    with pytest.raises(openai.APIConnectionError):
        await collect(await client.chat.completions.create(model=MODEL, messages=USER, stream=True))


async def test_scripted_tool_the_request_did_not_offer_is_a_loud_error(fake, client):
    fake.script_chat(tool=("create_image", {"prompt": "a cat"}))
    with pytest.raises(openai.BadRequestError) as err:
        await client.chat.completions.create(model=MODEL, messages=USER)
    assert err.value.body["type"] == "fake_script_error"
    assert [r.fault for r in fake.chat_requests()] == ["script_mismatch"]  # not retried


def test_admin_api_scripts_chat_replies(fake):
    r = httpx.post(fake.base_url.removesuffix("/v1") + "/_fake/script_chat", json={"replies": [
        {"text": "via admin", "tool": ["create_image", {"prompt": "a boat"}]}]})
    assert r.json() == {"ok": True}
    body = post(fake, {"model": MODEL, "messages": USER, "tools": IMAGE_TOOL_SCHEMA}).json()
    message = body["choices"][0]["message"]
    assert message["content"] == "via admin" and message["tool_calls"][0]["function"]["name"] == "create_image"
