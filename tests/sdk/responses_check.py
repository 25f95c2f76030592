"""The Responses API as the official `openai` SDK models it: every body and every SSE event is
validated strictly against the SDK's pydantic models (see strict.py); exits non-zero on any mismatch.

Usage: python responses_check.py BASE_URL SLOW_BASE_URL
  (e.g. http://127.0.0.1:8000/v1; SLOW_BASE_URL a server whose generation takes visible time, for
  background responses)
"""
import sys
import time

import openai
from openai.types.conversations import Conversation
from openai.types.conversations.conversation_deleted_resource import ConversationDeletedResource
from openai.types.conversations.conversation_item import ConversationItem
from openai.types.conversations.conversation_item_list import ConversationItemList
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.input_token_count_response import InputTokenCountResponse
from openai.types.responses.response_item_list import ResponseItemList

import strict
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)
slow = openai.OpenAI(base_url=sys.argv[2], api_key="sk-fake", max_retries=0, timeout=30)


def response_body(raw, what):
    """A response object validated strictly, with every field the SDK models present."""
    missing = [k for k in Response.model_fields if k not in raw]
    check(not missing, f"{what}: fields the SDK models are missing: {missing}")
    return strict.validate(Response, raw, what)


def create(**kwargs):
    """responses.create, its raw body validated; returns (validated, raw JSON)."""
    raw = client.responses.with_raw_response.create(**kwargs)
    body = raw.http_response.json()
    parsed = raw.parse()
    check(parsed.id == body["id"], "the SDK parses what was sent")
    return response_body(body, f"create({kwargs.get('model')})"), body


def stream(**kwargs):
    """responses.create(stream=True), every raw event validated; returns the events (validated)."""
    events = []
    with client.responses.with_streaming_response.create(stream=True, **kwargs) as r:
        check(r.headers.get("content-type", "").startswith("text/event-stream"), "SSE content type")
        for name, data in strict.sse_events(r.iter_lines()):
            check(data != "[DONE]", "the Responses API sends no [DONE]")
            ev = strict.validate(ResponseStreamEvent, data, f"event {name}")
            check(name == ev.type, f"event line {name} names its payload's type {ev.type}")
            if hasattr(ev, "response"):
                response_body(data["response"], ev.type)
            events.append(ev)
    check([e.sequence_number for e in events] == list(range(len(events))), "sequence numbers count up from 0")
    check(events[0].type == "response.created" and events[1].type == "response.in_progress", "opening events")
    return events


SETTINGS = dict(
    instructions="Be brief.",
    metadata={"run": "sdk-check", "case": "1"},
    temperature=0.4,
    top_p=0.9,
    user="user-7",
    service_tier="flex",
    truncation="auto",
    parallel_tool_calls=False,
    text={"format": {"type": "text"}, "verbosity": "low"},
    prompt_cache_key="cache-key",
    safety_identifier="safety-1",
    top_logprobs=2,
    max_tool_calls=3,
)


def echoes(r, what):
    """The request's settings come back on the response object."""
    check(r.instructions == "Be brief." and r.metadata == SETTINGS["metadata"], f"{what}: instructions, metadata")
    check((r.temperature, r.top_p, r.user) == (0.4, 0.9, "user-7"), f"{what}: sampling, user")
    check((r.service_tier, r.truncation, r.parallel_tool_calls) == ("flex", "auto", False), f"{what}: tier etc.")
    check(r.text.verbosity == "low" and r.text.format.type == "text", f"{what}: text")
    check((r.prompt_cache_key, r.safety_identifier) == ("cache-key", "safety-1"), f"{what}: keys")
    check((r.top_logprobs, r.max_tool_calls) == (2, 3), f"{what}: top_logprobs, max_tool_calls")
    check(r.background is False and r.error is None and r.tool_choice == "auto" and r.tools == [], f"{what}: defaults")


# A response that ends on its own echoes every setting and is completed.
r, raw = create(model="gpt-4o", input="Hello there", max_output_tokens=4000, **SETTINGS)
echoes(r, "create")
check(raw["store"] is True and r.max_output_tokens == 4000, "store and max_output_tokens echoed")
check(r.status == "completed" and r.incomplete_details is None, f"completed: {r.status}")
check(r.completed_at is not None and r.completed_at >= r.created_at, "completed_at")
check(r.output[0].type == "message" and r.output[0].status == "completed" and r.output_text, "message output")
check(r.usage.total_tokens == r.usage.input_tokens + r.usage.output_tokens, f"usage {r.usage}")

# Defaults when nothing is asked for.
r, raw = create(model="gpt-4o", input="Hi", max_output_tokens=4000)
check((r.temperature, r.top_p, r.tool_choice, r.truncation) == (1.0, 1.0, "auto", "disabled"), "default sampling")
check(r.metadata == {} and r.instructions is None and r.previous_response_id is None, "default echoes")
check(r.service_tier == "default" and r.parallel_tool_calls is True and r.text.verbosity == "medium", "defaults")
check(r.reasoning.effort is None, "a model that does not reason has no effort")

# Cut by max_output_tokens: incomplete, with the reason.
r, _ = create(model="gpt-4o", input="Hi", max_output_tokens=8, extra_body={"ignore_eos": True})
check(r.status == "incomplete" and r.incomplete_details.reason == "max_output_tokens", f"cut: {r.status}")
check(r.usage.output_tokens == 8 and r.output[0].status == "incomplete", f"cut usage {r.usage}")

# A reasoning model: a reasoning item, then the message; effort echoed (medium by default).
r, _ = create(model="openai/gpt-oss-120b", input="Why?", max_output_tokens=40, reasoning={"effort": "high"},
              extra_body={"ignore_eos": True})
check([o.type for o in r.output] == ["reasoning", "message"], f"reasoning output {[o.type for o in r.output]}")
check(r.reasoning.effort == "high" and r.usage.output_tokens_details.reasoning_tokens > 0, "reasoning usage")
check(r.status == "incomplete" and r.output[0].status == "completed", "the reasoning finished; the answer was cut")
r, _ = create(model="openai/gpt-oss-120b", input="Why?", max_output_tokens=4000)
check(r.reasoning.effort == "medium", f"default effort {r.reasoning}")

# Tools: a required function call, the tools and tool choice echoed.
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather in a city", "strict": True,
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
                          "additionalProperties": False}}
r, raw = create(model="gpt-4o", input="Weather in Oslo?", tools=[WEATHER], tool_choice="required")
check(r.output[0].type == "function_call" and r.output[0].name == "get_weather", f"function call {r.output}")
check(raw["tools"] == [WEATHER] and r.tool_choice == "required", "tools echoed")
check(r.status == "completed", "a finished call completes")

# Structured output: a JSON schema.
fmt = {"type": "json_schema", "name": "city", "strict": True,
       "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
                  "additionalProperties": False}}
r, _ = create(model="gpt-4o", input="A city", text={"format": fmt})
check(r.text.format.type == "json_schema" and r.text.format.name == "city", "format echoed")

# Streams: every event validates; the last is response.completed, or response.incomplete when cut.
ev = stream(model="gpt-4o", input="Hello there", max_output_tokens=4000, **SETTINGS)
check(ev[-1].type == "response.completed" and ev[-1].response.status == "completed", f"last event {ev[-1].type}")
echoes(ev[0].response, "response.created")
check(ev[0].response.status == "in_progress" and ev[0].response.usage is None, "created in progress")
text = "".join(e.delta for e in ev if e.type == "response.output_text.delta")
check(text and ev[-1].response.output_text == text, "the deltas make the final text")
ev = stream(model="gpt-4o", input="Hi", max_output_tokens=6, extra_body={"ignore_eos": True})
final = ev[-1]
check(final.type == "response.incomplete" and final.response.status == "incomplete", f"cut stream {final.type}")
check(final.response.incomplete_details.reason == "max_output_tokens", "cut stream reason")
check(not any(e.type == "response.completed" for e in ev), "no response.completed when cut")
ev = stream(model="openai/gpt-oss-120b", input="Why?", max_output_tokens=30, reasoning={"effort": "low"})
kinds = {e.type for e in ev}
check({"response.reasoning_text.delta", "response.reasoning_text.done", "response.output_text.delta"} <= kinds,
      f"reasoning stream {kinds}")
ev = stream(model="gpt-4o", input="Weather in Oslo?", tools=[WEATHER], tool_choice="required")
args = "".join(e.delta for e in ev if e.type == "response.function_call_arguments.delta")
done = [e for e in ev if e.type == "response.function_call_arguments.done"]
check(done and done[0].arguments == args and ev[-1].type == "response.completed", "streamed function call")

# The SDK's own stream helpers accept the stream (their final response needs response.completed;
# a cut stream ends, as OpenAI's does, with response.incomplete).
with client.responses.stream(model="gpt-4o", input="Hi", max_output_tokens=4000) as s:
    final = s.get_final_response()
check(final.status == "completed" and final.output_text, f"responses.stream: {final.status}")
with client.responses.stream(model="gpt-4o", input="Hi", max_output_tokens=5, extra_body={"ignore_eos": True}) as s:
    last = list(s)[-1]
check(last.type == "response.incomplete" and last.response.usage.output_tokens == 5, f"cut: {last.type}")
kinds = [e.type for e in client.responses.create(model="gpt-4o", input="Hi", max_output_tokens=4000, stream=True)]
check(kinds[-1] == "response.completed", f"create(stream=True): {kinds[-1]}")

# Stored: retrieve validates, continues with previous_response_id, deletes.
first, _ = create(model="gpt-4o", input="Remember 7", max_output_tokens=4000)
got = response_body(client.responses.with_raw_response.retrieve(first.id).http_response.json(), "retrieve")
check(got.id == first.id and got.output_text == first.output_text and got.status == "completed", "retrieve")
second, _ = create(model="gpt-4o", input="Which number?", previous_response_id=first.id, max_output_tokens=4000)
check(second.previous_response_id == first.id and second.usage.input_tokens > first.usage.total_tokens,
      "previous_response_id echoed, its context counted")
client.responses.delete(first.id)
try:
    client.responses.retrieve(first.id)
    check(False, "a deleted response is gone")
except openai.NotFoundError:
    check(True, "deleted")

# Errors are OpenAI's 400s.
for bad in [{"truncation": "sometimes"}, {"background": True, "store": False}]:
    try:
        client.responses.create(model="gpt-4o", input="x", **bad)
        check(False, f"{bad} is refused")
    except openai.BadRequestError as e:
        check(e.status_code == 400 and e.body["param"] in bad, f"{bad}: {e.body}")


def raw_json(call, *args, **kwargs):
    """The raw JSON body of an SDK call (through its with_raw_response twin)."""
    return call(*args, **kwargs).http_response.json()


# Input items: the request's input as listed items, newest first by default.
r, _ = create(model="gpt-4o", input=[{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]}],
              max_output_tokens=4000)
raw = raw_json(client.responses.input_items.with_raw_response.list, r.id)
items = strict.validate(ResponseItemList, raw, "input_items")
check([i.role for i in items.data] == ["user", "system"] and not items.has_more, "input items newest first")
check(items.first_id == items.data[0].id and items.last_id == items.data[-1].id, "input item cursors")
raw = raw_json(client.responses.input_items.with_raw_response.list, r.id, order="asc", limit=1)
check(raw["data"][0]["role"] == "system" and raw["has_more"] is True, "input items asc, one a page")
check([i.role for i in client.responses.input_items.list(r.id, limit=1)] == ["user", "system"], "the SDK pages")

# Input token counts: the same count a response reports, history included.
for kwargs in [dict(model="gpt-4o", input="Hello, world!", instructions="Be brief."),
               dict(model="gpt-4o", input="Weather in Oslo?", tools=[WEATHER]),
               dict(model="gpt-4o", input="Again?", previous_response_id=second.id)]:
    raw = raw_json(client.responses.input_tokens.with_raw_response.count, **kwargs)
    counted = strict.validate(InputTokenCountResponse, raw, "input_tokens")
    answered, _ = create(max_output_tokens=4000, **kwargs)
    check(counted.input_tokens == answered.usage.input_tokens, f"input_tokens {counted} vs {answered.usage}")

# Conversations: create, retrieve, update, items, and responses that read and extend them.
raw = raw_json(client.conversations.with_raw_response.create, metadata={"topic": "demo"},
               items=[{"type": "message", "role": "user", "content": "My name is Ada."}])
conv = strict.validate(Conversation, raw, "conversation")
check(conv.id.startswith("conv_") and conv.metadata == {"topic": "demo"}, f"conversation {conv}")
got = strict.validate(Conversation, raw_json(client.conversations.with_raw_response.retrieve, conv.id), "retrieve")
check(got.id == conv.id and got.created_at == conv.created_at, "conversation retrieve")
raw = raw_json(client.conversations.with_raw_response.update, conv.id, metadata={"topic": "names"})
check(strict.validate(Conversation, raw, "update").metadata == {"topic": "names"}, "conversation update")
raw = raw_json(client.conversations.items.with_raw_response.create, conv.id,
               items=[{"type": "message", "role": "assistant", "content": "Hello Ada."}])
added = strict.validate(ConversationItemList, raw, "items.create")
check(len(added.data) == 1 and added.data[0].role == "assistant", "items.create")
item = strict.validate(ConversationItem, raw_json(client.conversations.items.with_raw_response.retrieve,
                                                  added.data[0].id, conversation_id=conv.id), "items.retrieve")
check(item.id == added.data[0].id, "items.retrieve")
before = raw_json(client.responses.input_tokens.with_raw_response.count, model="gpt-4o", input="Who am I?")
r, raw = create(model="gpt-4o", input="Who am I?", conversation=conv.id, max_output_tokens=4000)
check(r.conversation.id == conv.id, "the response names its conversation")
check(r.usage.input_tokens > before["input_tokens"], "the conversation's items join the prompt")
raw = raw_json(client.conversations.items.with_raw_response.list, conv.id)
listed = strict.validate(ConversationItemList, raw, "items.list")
roles = [i.role for i in listed.data if i.type == "message"]
check(roles == ["assistant", "user", "assistant", "user"], f"items newest first: {roles}")
check(listed.data[0].content[0].text == r.output_text, "the answer joined the conversation")
check([i.id for i in client.conversations.items.list(conv.id, limit=1)] == [i.id for i in listed.data],
      "the SDK pages through the items")
raw = raw_json(client.conversations.items.with_raw_response.delete, added.data[0].id, conversation_id=conv.id)
check(strict.validate(Conversation, raw, "items.delete").id == conv.id, "items.delete returns the conversation")
check(len(client.conversations.items.list(conv.id).data) == 3, "one item fewer")
raw = raw_json(client.conversations.with_raw_response.delete, conv.id)
check(strict.validate(ConversationDeletedResource, raw, "delete").deleted, "conversation deleted")
try:
    client.responses.create(model="gpt-4o", input="x", conversation=conv.id)
    check(False, "a deleted conversation is gone")
except openai.NotFoundError as e:
    check(e.body["param"] == "conversation", f"unknown conversation: {e.body}")

# Background: created at once (queued), in progress until generation would have ended, then done.
t0 = time.monotonic()
raw = slow.responses.with_raw_response.create(model="gpt-4o", input="Hi", background=True, max_output_tokens=40,
                                              extra_body={"ignore_eos": True}).http_response.json()
queued = response_body(raw, "background create")
check(time.monotonic() - t0 < 0.3, "a background create returns at once")
check(queued.status == "queued" and queued.background is True and queued.output == [], f"queued: {queued.status}")
now = response_body(raw_json(slow.responses.with_raw_response.retrieve, queued.id), "polled")
check(now.status == "in_progress" and now.usage is None, f"in progress: {now.status}")
while now.status in ("queued", "in_progress"):
    check(time.monotonic() - t0 < 10, "the background response finishes")
    time.sleep(0.05)
    now = response_body(raw_json(slow.responses.with_raw_response.retrieve, queued.id), "polled")
check(time.monotonic() - t0 >= 0.35, "not before its generation would have ended")
check(now.status == "incomplete" and now.usage.output_tokens == 40 and now.output_text, f"done: {now.status}")
bg = slow.responses.create(model="gpt-4o", input="Hi", background=True, max_output_tokens=40,
                           extra_body={"ignore_eos": True})
raw = raw_json(slow.responses.with_raw_response.cancel, bg.id)
check(response_body(raw, "cancel").status == "cancelled", f"cancelled: {raw['status']}")
time.sleep(0.5)
check(slow.responses.retrieve(bg.id).status == "cancelled", "a cancelled response stays cancelled")
try:
    client.responses.cancel(r.id)
    check(False, "only background responses can be cancelled")
except openai.BadRequestError:
    check(True, "cancel refused")

passed()
