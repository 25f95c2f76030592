"""API keys and rate limits as the official `openai` and `anthropic` SDKs see them.

Usage: python auth_check.py BASE_URL   (the server runs with --api-key sk-sdk --rate-limit-rpm 60)
"""
import sys
import time

import anthropic
import openai
from checking import check, passed

base_url = sys.argv[1]


# A wrong key: AuthenticationError with OpenAI's code, in both SDKs.
wrong = openai.OpenAI(base_url=base_url, api_key="sk-wrong", max_retries=0, timeout=30)
try:
    wrong.models.list()
    check(False, "a wrong key is refused")
except openai.AuthenticationError as e:
    check(e.status_code == 401 and e.code == "invalid_api_key", f"openai 401: {e.status_code} {e.code}")
claude = anthropic.Anthropic(base_url=base_url.removesuffix("/v1"), api_key="sk-wrong", max_retries=0)
try:
    claude.messages.create(model="claude-3-5-haiku", max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    check(False, "anthropic: a wrong key is refused")
except anthropic.AuthenticationError as e:
    check(e.status_code == 401 and e.body["error"]["type"] == "authentication_error", f"anthropic 401: {e.body}")

# The right key: admitted, with OpenAI's rate-limit headers.
client = openai.OpenAI(base_url=base_url, api_key="sk-sdk", max_retries=0, timeout=30)
raw = client.models.with_raw_response.list()
check(raw.headers.get("x-ratelimit-limit-requests") == "60", f"limit header: {dict(raw.headers)}")
check(raw.headers.get("x-ratelimit-remaining-requests") == "59", f"remaining: {dict(raw.headers)}")
r = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=3)
check(r.choices[0].message.content, "chat with the right key")

# Spend the minute's budget: RateLimitError with max_retries=0.
limited = None
for _ in range(200):
    try:
        client.models.list()
    except openai.RateLimitError as e:
        limited = e
        break
check(limited is not None, "the budget runs out")
check(limited.status_code == 429 and limited.code == "rate_limit_exceeded", f"429: {limited.code}")
wait_ms = int(limited.response.headers["retry-after-ms"])
check(0 < wait_ms <= 1000 and limited.response.headers["retry-after"] == "1", f"retry-after-ms {wait_ms}")

# The SDK's own retry honours retry-after and succeeds.
retrying = openai.OpenAI(base_url=base_url, api_key="sk-sdk", max_retries=2, timeout=30)
start = time.monotonic()
page = retrying.models.list()
elapsed = time.monotonic() - start
check(len(page.data) > 0 and elapsed < 5, f"the SDK's retry succeeded after {elapsed:.2f} s")

passed()
