"""ChatCompletionChunk.obfuscation through the official `openai` SDK, against a server started with
--stream-obfuscation: every raw chunk validates strictly (strict.py) and carries the padding unless
stream_options.include_obfuscation is false. Exits non-zero on any mismatch.

Usage: python obfuscation_check.py BASE_URL
"""
import sys

import openai
from openai.types.chat import ChatCompletionChunk

import strict
from checking import check, passed

client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-fake", max_retries=0, timeout=30)


def chunks(**kwargs):
    """Every raw chunk of a chat stream, validated strictly."""
    out = []
    with client.chat.completions.with_streaming_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True, max_tokens=6,
            extra_body={"ignore_eos": True}, **kwargs) as r:
        for _, data in strict.sse_events(r.iter_lines()):
            if data != "[DONE]":
                out.append(strict.validate(ChatCompletionChunk, data, "chunk"))
    return out


padded = chunks(stream_options={"include_usage": True}, logprobs=True, n=2)
check(len(padded) == 2 + 12 + 2 + 1, f"{len(padded)} chunks")
check(all(c.obfuscation and c.obfuscation.isalnum() and len(c.obfuscation) <= 16 for c in padded),
      f"every chunk is padded: {[c.obfuscation for c in padded]}")
check(len({c.obfuscation for c in padded}) > 1, "the padding varies")
plain = chunks(stream_options={"include_obfuscation": False, "include_usage": True})
check(all(c.obfuscation is None for c in plain), "include_obfuscation: false turns it off")
text = "".join(c.choices[0].delta.content or "" for c in chunks() if c.choices)
check(len(text) > 0, "the SDK's own stream reads padded chunks")
sdk_text = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
    model="gpt-4o", messages=[{"role": "user", "content": "Hi"}], stream=True, max_tokens=6, seed=3) if c.choices)
check(sdk_text, "create(stream=True) with padding")
passed()
