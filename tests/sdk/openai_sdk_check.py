"""Drives a running fakeai with the official `openai` Python SDK; exits non-zero on any mismatch.

Usage: python openai_sdk_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import sys

import openai

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise SystemExit(f"FAILED: {what}")


# Models
models = client.models.list()
ids = [m.id for m in models.data]
check("openai/gpt-oss-120b" in ids and len(ids) == 29, f"models.list: {ids}")
m = client.models.retrieve("openai/gpt-oss-120b")
check(m.id == "openai/gpt-oss-120b" and m.object == "model", "models.retrieve")

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
        if ev.type == "response.completed":
            completed = ev.response
check(kinds[0] == "response.created" and kinds[-1] == "response.completed", f"responses events {kinds[:3]}...")
check(completed is not None and completed.output_text == text, "response.completed carries the text")
check(completed.usage.output_tokens == 12, f"responses usage {completed.usage}")
r = client.responses.create(model="openai/gpt-oss-120b", input="Why?", max_output_tokens=20,
                            reasoning={"effort": "low"}, extra_body={"ignore_eos": True})
check(r.status == "completed" and r.output_text, "non-streaming response")
check(r.usage.output_tokens_details.reasoning_tokens == 5, f"low effort on 20 tokens: {r.usage}")

# Completions, both modes
c = client.completions.create(model="m", prompt="Once upon a time", max_tokens=7, extra_body={"ignore_eos": True})
check(c.object == "text_completion" and c.usage.completion_tokens == 7 and c.choices[0].text, "completions")
c = client.completions.create(model="m", prompt=[1, 2, 3, 4], max_tokens=3, extra_body={"ignore_eos": True})
check(c.usage.prompt_tokens == 4, "token-id prompt counts its length")
texts = [ch.choices[0].text for ch in client.completions.create(
    model="m", prompt="x", max_tokens=5, stream=True, extra_body={"ignore_eos": True}) if ch.choices]
check(len([t for t in texts if t]) == 5, f"completion stream {texts}")

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

print(f"openai SDK {openai.__version__}: {checks} checks passed")
