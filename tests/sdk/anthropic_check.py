"""Drives a running fakeai with the official `anthropic` Python SDK; exits non-zero on any mismatch.
Every body and every streamed event is validated strictly with the SDK's pydantic models.

Usage: python anthropic_check.py BASE_URL   (e.g. http://127.0.0.1:8000)
"""
import json
import sys

import anthropic
import urllib.request
import uuid
import jsonschema
import pydantic
from anthropic.types import Message, MessageTokensCount, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from checking import check, passed

base_url = sys.argv[1]
client = anthropic.Anthropic(base_url=base_url, api_key="sk-ant-fake", max_retries=0, timeout=30)
events_adapter = pydantic.TypeAdapter(RawMessageStreamEvent)


USAGE_INTS = ["input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"]


def create(**kwargs):
    """messages.create, its raw body validated strictly; returns the validated Message."""
    raw = client.messages.with_raw_response.create(**kwargs)
    body = json.loads(raw.http_response.text)
    msg = Message.model_validate(body)
    check(msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant", f"message {body}")
    check(msg.stop_reason is not None, "non-streaming stop_reason is set")
    check(all(isinstance(body["usage"].get(k), int) for k in USAGE_INTS), f"usage ints {body['usage']}")
    check(raw.headers.get("request-id", "").startswith("req_"), "request-id header")
    for block in msg.content:
        if block.type == "thinking":
            check(len(block.signature) >= 100 and block.thinking, "thinking block with a signature")
    return msg


WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
        "required": ["city"],
    },
}
FLIGHTS = {
    "name": "search_flights",
    "input_schema": {"type": "object", "properties": {"to": {"type": "string"}, "seats": {"type": "integer"}}, "required": ["to"]},
}
SCHEMAS = {"get_weather": WEATHER["input_schema"], "search_flights": FLIGHTS["input_schema"]}
ASK_WEATHER = [{"role": "user", "content": "What's the weather in Paris?"}]
ASK_BOTH = [{"role": "user", "content": "What's the weather in Rome, and any flights there?"}]
ASK_JOKE = [{"role": "user", "content": "Tell me a joke."}]
LONG = {"ignore_eos": True}


def tool_uses(msg):
    uses = [b for b in msg.content if b.type == "tool_use"]
    for u in uses:
        check(u.id.startswith("toolu_") and len(u.id) > 20, f"tool_use id {u.id}")
        jsonschema.validate(u.input, SCHEMAS[u.name])
    return uses


# Plain message
m = create(model="claude-sonnet-4-5", max_tokens=16, system="Be brief.", messages=ASK_JOKE, extra_body=LONG)
check([b.type for b in m.content] == ["text"] and m.content[0].text, "plain text block")
check((m.usage.output_tokens, m.stop_reason) == (16, "max_tokens"), f"plain usage {m.usage}")
check(m.usage.service_tier == "standard" and m.usage.cache_creation.ephemeral_5m_input_tokens == 0, "usage extras")

m = create(model="claude-sonnet-4-5", max_tokens=60, messages=ASK_JOKE, stop_sequences=[" "], extra_body=LONG)
check((m.stop_reason, m.stop_sequence) == ("stop_sequence", " ") and " " not in m.content[0].text, "stop_sequences")

# Tools under each tool_choice
m = create(model="claude-sonnet-4-5", max_tokens=200, tools=[WEATHER, FLIGHTS], messages=ASK_WEATHER)
uses = tool_uses(m)
check([u.name for u in uses] == ["get_weather"] and m.stop_reason == "tool_use", f"auto calls the mentioned tool {m}")
check(all(b.type == "tool_use" for b in m.content), "a tool answer has no empty text block")
m = create(model="claude-sonnet-4-5", max_tokens=50, tools=[WEATHER, FLIGHTS], messages=ASK_JOKE)
check(not tool_uses(m) and m.stop_reason in ("end_turn", "max_tokens"), "auto without a mention answers in text")
m = create(model="claude-sonnet-4-5", max_tokens=200, tools=[WEATHER, FLIGHTS], messages=ASK_JOKE, tool_choice={"type": "any"})
check(len(tool_uses(m)) == 1 and m.stop_reason == "tool_use", "any forces a tool")
m = create(model="claude-sonnet-4-5", max_tokens=200, tools=[WEATHER, FLIGHTS], messages=ASK_WEATHER,
           tool_choice={"type": "tool", "name": "search_flights"})
check([u.name for u in tool_uses(m)] == ["search_flights"], "tool names the tool")
m = create(model="claude-sonnet-4-5", max_tokens=50, tools=[WEATHER], messages=ASK_WEATHER, tool_choice={"type": "none"})
check(not tool_uses(m), "none answers in text")
m = create(model="claude-sonnet-4-5", max_tokens=300, tools=[WEATHER, FLIGHTS], messages=ASK_BOTH)
check([u.name for u in tool_uses(m)] == ["get_weather", "search_flights"], "parallel tool use")
m = create(model="claude-sonnet-4-5", max_tokens=300, tools=[WEATHER, FLIGHTS], messages=ASK_BOTH,
           tool_choice={"type": "auto", "disable_parallel_tool_use": True})
check(len(tool_uses(m)) == 1, "disable_parallel_tool_use: one call")

# A tool result is answered in text
first = create(model="claude-sonnet-4-5", max_tokens=200, tools=[WEATHER], messages=ASK_WEATHER)
call = tool_uses(first)[0]
follow = ASK_WEATHER + [
    {"role": "assistant", "content": first.to_param()["content"]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 C"}]},
]
m = create(model="claude-sonnet-4-5", max_tokens=30, tools=[WEATHER], messages=follow)
check(not tool_uses(m) and m.content[0].type == "text", "tool_result turn answered in text")

# Thinking on any model, off when disabled; earlier thinking blocks are accepted back
m = create(model="claude-3-haiku", max_tokens=2048, messages=ASK_JOKE, thinking={"type": "enabled", "budget_tokens": 1024})
check([b.type for b in m.content] == ["thinking", "text"], f"thinking first {[b.type for b in m.content]}")
m2 = create(model="claude-3-haiku", max_tokens=50, messages=ASK_JOKE + [
    {"role": "assistant", "content": [b.to_dict() for b in m.content] + [{"type": "redacted_thinking", "data": "EmwKAhgB"}]},
    {"role": "user", "content": "Another one."},
])
check([b.type for b in m2.content] == ["text"], "thinking blocks and redacted_thinking accepted")
m = create(model="deepseek-ai/DeepSeek-R1", max_tokens=50, messages=ASK_JOKE, thinking={"type": "disabled"})
check([b.type for b in m.content] == ["text"], "disabled turns a reasoning model's thinking off")

# Streaming: the SDK's helper, its event iterator and final message
def stream(**kwargs):
    types = []
    with client.messages.stream(**kwargs) as s:
        for event in s:
            types.append(event.type)
        final = s.get_final_message()
    Message.model_validate(final.to_dict())
    return types, final


types, final = stream(model="claude-3-haiku", max_tokens=2048, messages=ASK_JOKE, thinking={"type": "enabled", "budget_tokens": 1024})
check(types[0] == "message_start" and types[-1] == "message_stop", f"stream framing {types[:3]}")
check("signature" in types and "thinking" in types and "text" in types, f"thinking stream events {set(types)}")
check([b.type for b in final.content] == ["thinking", "text"] and len(final.content[0].signature) >= 100, "final thinking")
check(final.usage.output_tokens > 0 and final.stop_reason in ("end_turn", "max_tokens"), f"final usage {final.usage}")
types, final = stream(model="claude-sonnet-4-5", max_tokens=300, tools=[WEATHER, FLIGHTS], messages=ASK_BOTH)
check("input_json" in types and final.stop_reason == "tool_use", f"tool stream {set(types)}")
check([u.name for u in tool_uses(final)] == ["get_weather", "search_flights"], "streamed tool inputs parse and validate")

# The raw SSE events, each validated strictly
def raw_events(body):
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "sk-ant-fake", "content-type": "application/json"}
    data = json.dumps(dict(body, stream=True)).encode()
    request = urllib.request.Request(f"{base_url}/v1/messages", data=data, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as r:
        check(r.status == 200, f"stream status {r.status}")
        text = r.read().decode()
    out = []
    for block in text.strip().split("\n\n"):
        name, data = block.split("\n", 1)
        if name == "event: ping":  # not a message event: the SDK skips it
            check(json.loads(data.removeprefix("data: ")) == {"type": "ping"}, "ping")
            continue
        event = events_adapter.validate_python(json.loads(data.removeprefix("data: ")))
        check(name == f"event: {event.type}", f"event name {name} for {event.type}")
        out.append(event)
    return out


for body in [
    {"model": "claude-sonnet-4-5", "max_tokens": 300, "tools": [WEATHER], "messages": ASK_WEATHER},
    {"model": "claude-3-haiku", "max_tokens": 3000, "messages": ASK_JOKE, "thinking": {"type": "enabled", "budget_tokens": 1024}},
]:
    evs = raw_events(body)
    check(evs[0].message.usage.cache_read_input_tokens == 0, "message_start usage")
    check(evs[-2].type == "message_delta" and evs[-2].delta.stop_reason is not None, "message_delta stop_reason")
    starts = [e.index for e in evs if e.type == "content_block_start"]
    stops = [e.index for e in evs if e.type == "content_block_stop"]
    check(starts == stops == list(range(len(starts))), f"blocks open and close in order {starts} {stops}")

# count_tokens matches usage.input_tokens; tools and system count
kwargs = dict(model="claude-sonnet-4-5", system="You are terse.", tools=[WEATHER], messages=ASK_WEATHER)
counted = client.messages.count_tokens(**kwargs)
MessageTokensCount.model_validate(counted.to_dict())
m = create(max_tokens=200, **kwargs)
check(counted.input_tokens == m.usage.input_tokens, f"count_tokens {counted.input_tokens} vs usage {m.usage.input_tokens}")
bare = client.messages.count_tokens(model="claude-sonnet-4-5", messages=ASK_WEATHER).input_tokens
check(bare < counted.input_tokens, "tools and system are counted")

# Prompt caching: written on first sight, read on the next request with the same prefix
nonce = uuid.uuid4().hex  # a prefix no earlier run has cached
system = [{"type": "text", "text": f"{nonce} You answer questions about the weather. " * 20, "cache_control": {"type": "ephemeral"}}]
total = client.messages.count_tokens(model="claude-sonnet-4-5", system=system, messages=ASK_JOKE).input_tokens
a = create(model="claude-sonnet-4-5", max_tokens=10, system=system, messages=ASK_JOKE).usage
b = create(model="claude-sonnet-4-5", max_tokens=10, system=system, messages=ASK_WEATHER).usage
check(a.cache_creation_input_tokens > 0 and a.cache_read_input_tokens == 0, f"cache written {a}")
check(a.cache_creation.ephemeral_5m_input_tokens == a.cache_creation_input_tokens, "5-minute cache by default")
check(b.cache_read_input_tokens == a.cache_creation_input_tokens and b.cache_creation_input_tokens == 0, f"cache read {b}")
check(a.input_tokens + a.cache_creation_input_tokens + a.cache_read_input_tokens == total, "cached + uncached = count_tokens")

# Errors: Anthropic's envelope and types, raised as the SDK's exceptions
def bad_request(what, **kwargs):
    try:
        client.messages.create(**kwargs)
    except anthropic.BadRequestError as e:
        ErrorResponse.model_validate(e.body)
        check(e.status_code == 400 and e.body["type"] == "error", f"{what}: envelope {e.body}")
        check(e.body["error"]["type"] == "invalid_request_error", f"{what}: error type {e.body}")
        check(e.request_id and e.request_id.startswith("req_"), f"{what}: request id")
        return e.body["error"]["message"]
    raise SystemExit(f"FAILED: {what} was accepted")


msg = bad_request("temperature", model="claude-sonnet-4-5", max_tokens=10, messages=ASK_JOKE, extra_body={"temperature": 1.5})
check("temperature" in msg, f"temperature message {msg}")
bad_request("budget", model="claude-sonnet-4-5", max_tokens=2000, messages=ASK_JOKE, thinking={"type": "enabled", "budget_tokens": 100})
bad_request("empty messages", model="claude-sonnet-4-5", max_tokens=10, messages=[])
bad_request("forced tool with thinking", model="claude-sonnet-4-5", max_tokens=3000, messages=ASK_JOKE, tools=[WEATHER],
            tool_choice={"type": "any"}, thinking={"type": "enabled", "budget_tokens": 1024})
old = anthropic.Anthropic(base_url=base_url, api_key="x", max_retries=0, default_headers={"anthropic-version": "latest"})
try:
    old.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=ASK_JOKE)
    raise SystemExit("FAILED: an unknown anthropic-version was accepted")
except anthropic.BadRequestError as e:
    check("anthropic-version" in e.body["error"]["message"], "anthropic-version checked")

passed()
