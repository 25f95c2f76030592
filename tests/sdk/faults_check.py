"""Injected faults as the official `openai` and `anthropic` SDKs see them: HTTP errors become
their typed exceptions, a mid-stream error event raises, an abruptly closed stream is a
connection error, and a truncated stream simply ends without a finish reason.

Usage: python faults_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import sys

import anthropic
import openai
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0, timeout=30)
messages = [{"role": "user", "content": "hi"}]


def fault(spec):
    return {"X-Fakeai-Fault": spec}


def chat_stream(spec):
    return client.chat.completions.create(
        model="gpt-4o", messages=messages, max_tokens=8, stream=True, extra_body={"ignore_eos": True},
        extra_headers=fault(spec),
    )


# HTTP errors: the SDK's typed exceptions, with OpenAI's codes.
for spec, exc, code in [
    ("429;retry_after=1", openai.RateLimitError, "rate_limit_exceeded"),
    ("context_length_exceeded", openai.BadRequestError, "context_length_exceeded"),
    ("model_not_found", openai.NotFoundError, "model_not_found"),
    ("503", openai.InternalServerError, None),
]:
    try:
        client.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=fault(spec))
        check(False, f"{spec} raises")
    except exc as e:
        check(e.code == code, f"{spec}: code {e.code}")

# The SDK retries a 503 and honours retry-after; with a fault on every try it gives up.
retrying = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=1, timeout=30)
try:
    retrying.chat.completions.create(model="gpt-4o", messages=messages, extra_headers=fault("503;retry_after=0"))
    check(False, "503 every time")
except openai.InternalServerError as e:
    check(e.status_code == 503, "503 after the retry")

# An error event mid-stream: APIError after the tokens before it.
seen = []
try:
    for chunk in chat_stream("error_event;after=3"):
        if chunk.choices and chunk.choices[0].delta.content:
            seen.append(chunk.choices[0].delta.content)
    check(False, "an error event raises")
except openai.APIError as e:
    check("Sorry about that" in e.message, f"error event message: {e.message}")
check(len(seen) == 3, f"3 tokens before the error, got {len(seen)}")

# An abrupt close mid-stream: a connection error.
try:
    for _ in chat_stream("close;after=2"):
        pass
    check(False, "an abrupt close raises")
except openai.APIConnectionError:
    check(True, "abrupt close is a connection error")

# A truncated stream ends without [DONE] or a finish reason.
chunks = list(chat_stream("truncate;after=4"))
check(all(c.choices[0].finish_reason is None for c in chunks if c.choices), "no finish reason when truncated")

# A malformed chunk: the SDK cannot decode it.
try:
    for _ in chat_stream("malformed;after=1"):
        pass
    check(False, "a malformed chunk raises")
except ValueError:
    check(True, "malformed chunk is a JSON error")

# Anthropic: 529 is OverloadedError; its mid-stream error event raises too.
claude = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key="sk-test", max_retries=0)
ask = dict(model="claude-3-5-haiku", max_tokens=8, messages=messages)
try:
    claude.messages.create(**ask, extra_headers=fault("529"))
    check(False, "529 raises")
except anthropic.OverloadedError as e:
    check(e.body["error"]["type"] == "overloaded_error", f"529 body {e.body}")
try:
    claude.messages.create(**ask, extra_headers={"X-Return-Error": "429"})
    check(False, "429 raises")
except anthropic.RateLimitError as e:
    check(e.response.headers.get("retry-after") == "1", "retry-after on Anthropic's 429")
try:
    with claude.messages.stream(**ask, extra_headers=fault("error_event;after=2")) as stream:
        for _ in stream:
            pass
    check(False, "an error event raises")
except anthropic.APIStatusError as e:
    check(e.body["error"]["type"] == "overloaded_error", f"anthropic stream error: {e.body}")

passed()
