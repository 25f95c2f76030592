"""LiteLLM against fakeai: OpenAI chat (plain, streamed), Anthropic messages, embeddings, text completion.

Usage: python litellm_check.py BASE_URL   (prints `checks passed`)
"""
import os
import sys

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no download of the price list
import litellm  # noqa: E402

litellm.suppress_debug_info = True

base = sys.argv[1].rstrip("/")
openai_args = {"api_base": base + "/v1", "api_key": "sk-test"}
messages = [{"role": "user", "content": "Say hello"}]

reply = litellm.completion(model="openai/gpt-4o-mini", messages=messages, max_tokens=12, **openai_args)
assert reply.choices[0].message.content and reply.usage.completion_tokens == 12, reply

stream = litellm.completion(model="openai/gpt-4o-mini", messages=messages, max_tokens=12, stream=True,
                            stream_options={"include_usage": True}, **openai_args)
chunks = list(stream)
text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
usage = [c.usage for c in chunks if getattr(c, "usage", None)]
assert text and usage and usage[-1].completion_tokens == 12, (text, usage)

claude = litellm.completion(model="anthropic/claude-3-5-haiku-latest", messages=messages, max_tokens=12,
                            api_base=base, api_key="sk-ant-test")
assert claude.choices[0].message.content and claude.usage.completion_tokens == 12, claude

vectors = litellm.embedding(model="openai/text-embedding-3-small", input=["a", "b"], **openai_args)
assert len(vectors.data) == 2 and len(vectors.data[0]["embedding"]) == 1536, vectors

text_completion = litellm.text_completion(model="openai/gpt-3.5-turbo-instruct", prompt="Once", max_tokens=8,
                                          **openai_args)
assert text_completion.choices[0].text and text_completion.usage.completion_tokens == 8, text_completion
print("litellm: chat, streamed chat with usage, anthropic messages, embeddings, text completion")
print("checks passed")
