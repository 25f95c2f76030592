"""Drives a running fakeai with the official `openai` Python SDK; exits non-zero on any mismatch.

Usage: python openai_sdk_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import json
import sys

import jsonschema
import openai
import pydantic
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


# Models
models = client.models.list()
ids = [m.id for m in models.data]
check("openai/gpt-oss-120b" in ids and len(ids) == 52, f"models.list: {ids}")
check(all(openai.types.Model.model_validate(m.model_dump()) for m in models.data), "models validate")
m = client.models.retrieve("openai/gpt-oss-120b")
check(m.id == "openai/gpt-oss-120b" and m.object == "model", "models.retrieve")
# An `ft:` model no fine-tuning job made is OpenAI's 404 (fine_tuning_check.py drives real ones).
ft = "ft:gpt-4o-mini-2024-07-18:org::abc123"
try:
    client.chat.completions.create(model=ft, messages=[{"role": "user", "content": "hi"}], max_completion_tokens=2)
    check(False, "an unknown fine-tune is not served")
except openai.NotFoundError as e:
    check(e.body["code"] == "model_not_found", f"model_not_found: {e.body}")
check(ft not in [m.id for m in client.models.list().data], "an unknown fine-tune is not listed")

# Chat, non-streaming
r = client.chat.completions.create(
    model="gpt-4o-mini",
    messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hello, world!"}],
    max_completion_tokens=12,
    extra_body={"ignore_eos": True},
)
check(r.object == "chat.completion" and r.choices[0].message.role == "assistant", "chat object")
check(r.usage.completion_tokens == 12 and r.choices[0].finish_reason == "length", f"chat usage {r.usage}")
check(isinstance(r.choices[0].message.content, str) and r.choices[0].message.content, "chat content")

# Chat, streaming with usage
stream = client.chat.completions.create(
    model="openai/gpt-oss-120b",
    messages=[{"role": "user", "content": "Tell me a story."}],
    max_tokens=20,
    stream=True,
    stream_options={"include_usage": True},
    extra_body={"ignore_eos": True},
)
pieces, thoughts, finish, usage, role = [], [], None, None, None
for chunk in stream:
    check(chunk.object == "chat.completion.chunk", "chunk object")
    if chunk.usage:
        usage = chunk.usage
        check(chunk.choices == [], "usage chunk has no choices")
    for c in chunk.choices:
        role = role or c.delta.role
        if c.delta.content:
            pieces.append(c.delta.content)
        thought = getattr(c.delta, "reasoning_content", None)
        if thought:
            check(not pieces, "reasoning streams before the answer")
            thoughts.append(thought)
        finish = c.finish_reason or finish
check(role == "assistant", "role chunk")
check(len(pieces) + len(thoughts) == 20 and finish == "length", f"stream pieces {len(pieces)}+{len(thoughts)} finish {finish}")
check(len(thoughts) == 10, f"gpt-oss reasons for half the output at medium effort: {len(thoughts)}")
check(usage is not None and usage.completion_tokens == 20, f"stream usage {usage}")
check(usage.completion_tokens_details.reasoning_tokens == 10, f"reasoning tokens {usage.completion_tokens_details}")

# Reasoning, non-streaming, with reasoning_effort
r = client.chat.completions.create(model="deepseek-ai/DeepSeek-R1", messages=[{"role": "user", "content": "Why?"}],
                                   max_tokens=40, reasoning_effort="high", extra_body={"ignore_eos": True})
check(getattr(r.choices[0].message, "reasoning_content", None), "message.reasoning_content")
check(r.usage.completion_tokens_details.reasoning_tokens == 30, f"high effort: {r.usage.completion_tokens_details}")

# Responses API, streaming and not
kinds, text, completed = [], "", None
with client.responses.create(model="gpt-4o", input="Say hi", instructions="Be brief.", max_output_tokens=12,
                             stream=True, extra_body={"ignore_eos": True}) as events:
    for ev in events:
        kinds.append(ev.type)
        if ev.type == "response.output_text.delta":
            text += ev.delta
        if ev.type == "response.incomplete":
            completed = ev.response
# Cut by max_output_tokens: the stream ends with response.incomplete, as OpenAI's does.
check(kinds[0] == "response.created" and kinds[-1] == "response.incomplete", f"responses events {kinds[:3]}...")
check(completed is not None and completed.output_text == text, "response.incomplete carries the text")
check(completed.usage.output_tokens == 12, f"responses usage {completed.usage}")
r = client.responses.create(model="openai/gpt-oss-120b", input="Why?", max_output_tokens=20,
                            reasoning={"effort": "low"}, extra_body={"ignore_eos": True})
check(r.status == "incomplete" and r.output_text, "non-streaming response")
check(r.usage.output_tokens_details.reasoning_tokens == 5, f"low effort on 20 tokens: {r.usage}")

# Completions, both modes
c = client.completions.create(model="m", prompt="Once upon a time", max_tokens=7, extra_body={"ignore_eos": True})
check(c.object == "text_completion" and c.usage.completion_tokens == 7 and c.choices[0].text, "completions")
c = client.completions.create(model="m", prompt=[1, 2, 3, 4], max_tokens=3, extra_body={"ignore_eos": True})
check(c.usage.prompt_tokens == 4, "token-id prompt counts its length")
texts = [ch.choices[0].text for ch in client.completions.create(
    model="m", prompt="x", max_tokens=5, stream=True, extra_body={"ignore_eos": True}) if ch.choices]
check(len([t for t in texts if t]) == 5, f"completion stream {texts}")

# Tools: a non-streaming call, a streamed call assembled by the SDK, then the text follow-up
weather = {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": {
    "type": "object", "additionalProperties": False, "required": ["city", "unit"],
    "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]}}}}}
ask = [{"role": "user", "content": "What's the weather in Paris?"}]
r = client.chat.completions.create(model="gpt-4o", messages=ask, tools=[weather])
call = r.choices[0].message.tool_calls[0]
check(r.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather", "tool call")
jsonschema.validate(json.loads(call.function.arguments), weather["function"]["parameters"])
calls = {}
with client.chat.completions.stream(model="gpt-4o", messages=ask, tools=[weather]) as stream:
    for ev in stream:
        if ev.type == "tool_calls.function.arguments.done":
            calls[ev.name] = ev.parsed_arguments
    final = stream.get_final_completion()
check(final.choices[0].finish_reason == "tool_calls" and "get_weather" in calls, f"streamed tool call {calls}")
jsonschema.validate(calls["get_weather"], weather["function"]["parameters"])
followup = ask + [final.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": final.choices[0].message.tool_calls[0].id, "content": "21 C"}]
r = client.chat.completions.create(model="gpt-4o", messages=followup, tools=[weather])
check(r.choices[0].finish_reason == "stop" and r.choices[0].message.content, "answer after the tool result")
r = client.chat.completions.create(model="gpt-4o", messages=ask, tools=[weather], tool_choice="none")
check(not r.choices[0].message.tool_calls, "tool_choice none")


# Structured outputs: the SDK's parse() with a pydantic model, and a raw json_schema validated
class Address(pydantic.BaseModel):
    street: str
    zip_code: str


class Person(pydantic.BaseModel):
    name: str
    age: int
    tags: list[str]
    home: Address
    role: str | None


parse = getattr(client.chat.completions, "parse", None) or client.beta.chat.completions.parse
r = parse(model="gpt-4o", messages=[{"role": "user", "content": "A person"}], response_format=Person)
person = r.choices[0].message.parsed
check(isinstance(person, Person) and isinstance(person.home, Address), f"parsed {person}")
schema = {"type": "object", "additionalProperties": False, "required": ["items", "total", "status"], "properties": {
    "items": {"type": "array", "minItems": 1, "items": {"type": "object", "additionalProperties": False,
              "required": ["sku", "qty"], "properties": {"sku": {"type": "string", "format": "uuid"},
                                                        "qty": {"type": "integer", "minimum": 1, "maximum": 9}}}},
    "total": {"type": "number", "minimum": 0}, "status": {"enum": ["open", "paid"]}}}
for stream in (False, True):
    fmt = {"type": "json_schema", "json_schema": {"name": "order", "strict": True, "schema": schema}}
    if stream:
        text = "".join(ch.choices[0].delta.content or "" for ch in client.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "An order"}], response_format=fmt, stream=True)
            if ch.choices)
    else:
        text = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "An order"}],
                                              response_format=fmt).choices[0].message.content
    jsonschema.validate(json.loads(text), schema)
    check(True, f"json_schema stream={stream}")

# Logprobs
r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], max_tokens=6,
                                   logprobs=True, top_logprobs=2, extra_body={"ignore_eos": True})
lp = r.choices[0].logprobs.content
check(len(lp) == 6 and "".join(t.token for t in lp) == r.choices[0].message.content, "chat logprobs")

# Responses API with a function tool, streaming
calls = []
with client.responses.stream(model="gpt-4o", input="Weather in Oslo?", tools=[{
        "type": "function", "name": "get_weather", "strict": True, "parameters": weather["function"]["parameters"]}]) as s:
    for ev in s:
        if ev.type == "response.function_call_arguments.done":
            calls.append(json.loads(ev.arguments))
    final = s.get_final_response()
check(len(calls) == 1 and final.output[0].type == "function_call", f"responses function call {calls}")
jsonschema.validate(calls[0], weather["function"]["parameters"])
second = client.responses.create(model="gpt-4o", previous_response_id=final.id, input=[
    {"type": "function_call_output", "call_id": final.output[0].call_id, "output": "12 C"}])
check(second.usage.input_tokens > final.usage.input_tokens + final.usage.output_tokens, "previous_response_id")
check(client.responses.retrieve(second.id).id == second.id, "responses.retrieve")

# Errors surface as typed SDK exceptions with the OpenAI envelope
try:
    client.chat.completions.create(model="m", messages=[], max_tokens=5)
    check(False, "empty messages must fail")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.body.get("param") == "messages", f"error body {e.body}")
try:
    client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], max_tokens=0, stream=True)
    check(False, "max_tokens=0 must fail before the stream")
except openai.BadRequestError as e:
    check(e.body.get("param") == "max_tokens", f"error body {e.body}")

passed(f"openai SDK {openai.__version__}: ")
