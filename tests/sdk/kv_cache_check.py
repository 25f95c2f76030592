"""Prefix-cache hits through the official `openai` SDK, validated strictly: a repeated long chat
prompt reports `usage.prompt_tokens_details.cached_tokens` in whole blocks, streaming and not.

Usage: python kv_cache_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import sys

import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from openai.types.responses import Response

import strict
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)
prompt = "Summarise the history of the printing press in Europe, century by century. " * 12
messages = [{"role": "user", "content": prompt}]


def chat(stream=False, **extra):
    """One chat response (the final usage chunk when streaming), its raw JSON strictly validated."""
    kwargs = dict(model="kv-model", messages=messages, max_tokens=4, extra_body={"ignore_eos": True, **extra})
    if not stream:
        raw = client.chat.completions.with_raw_response.create(**kwargs)
        parsed = raw.parse()
        body = strict.validate(ChatCompletion, raw.http_response.json(), "chat")
        check(parsed.usage == body.usage, "the SDK parses what was sent")
        return body
    kwargs.update(stream=True, stream_options={"include_usage": True})
    with client.chat.completions.with_streaming_response.create(**kwargs) as r:
        events = [data for _, data in strict.sse_events(r.iter_lines()) if data != "[DONE]"]
    chunks = [strict.validate(ChatCompletionChunk, e, "chunk") for e in events]
    return chunks[-1]


first = chat()
check(first.usage.prompt_tokens_details.cached_tokens == 0, f"first request misses: {first.usage}")
n = first.usage.prompt_tokens
again = chat()
cached = again.usage.prompt_tokens_details.cached_tokens
check(0 < cached < n and cached % 16 == 0, f"repeat hits whole blocks, fewer than {n}: {again.usage}")
check(cached == (n - 1) // 16 * 16, f"every whole block but the last token's: {cached} of {n}")
streamed = chat(stream=True)
check(streamed.usage.prompt_tokens_details.cached_tokens == cached, f"streamed usage: {streamed.usage}")
salted = chat(cache_salt="tenant-b")
check(salted.usage.prompt_tokens_details.cached_tokens == 0, f"another cache_salt misses: {salted.usage}")

# The SDK's own parsing agrees.
sdk = client.chat.completions.create(model="kv-model", messages=messages, max_tokens=4)
check(sdk.usage.prompt_tokens_details.cached_tokens == cached, f"sdk usage: {sdk.usage}")

# Responses: input_tokens_details.cached_tokens.
def respond():
    raw = client.responses.with_raw_response.create(model="kv-model", input="Answer briefly. " + prompt, max_output_tokens=4)
    return strict.validate(Response, raw.http_response.json(), "response")


r1, r2 = respond(), respond()
check(r1.usage.input_tokens_details.cached_tokens == 0, f"first response misses: {r1.usage}")
c2 = r2.usage.input_tokens_details.cached_tokens
check(0 < c2 < r2.usage.input_tokens and c2 % 16 == 0, f"repeated response hits: {r2.usage}")

passed()
