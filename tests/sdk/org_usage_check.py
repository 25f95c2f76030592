"""Drives a fresh fakeai's usage and costs endpoints with the official `openai` SDK's admin client:
a known mix of traffic (chat streamed and not, embeddings, a batch) must show in the usage
buckets exactly, token for token, and in the costs at the catalogue's prices.

Usage: python org_usage_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import io
import json
import sys
import time

import urllib.request
import openai
from checking import check, passed
from openai.types.admin.organization import (
    UsageCompletionsResponse,
    UsageCostsResponse,
    UsageEmbeddingsResponse,
    UsageVectorStoresResponse,
    UsageCodeInterpreterSessionsResponse,
)

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", admin_api_key="sk-admin", max_retries=0, timeout=30)
usage = client.admin.organization.usage
start = int(time.time())


def raw(call, model, **params):
    """The endpoint's JSON, validated strictly against the SDK's model."""
    body = call(**params).http_response.json()
    model.model_validate(body)
    return body


def results(body):
    return [r for bucket in body["data"] for r in bucket["results"]]


# Traffic: two plain chats, two streamed (one without include_usage: billed all the same).
prompt, completion, requests = 0, 0, 0
for i in range(2):
    r = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"hello {i}"}],
                                       max_completion_tokens=5 + i)
    prompt, completion, requests = prompt + r.usage.prompt_tokens, completion + r.usage.completion_tokens, requests + 1
stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "stream me"}],
                                        max_completion_tokens=9, stream=True, stream_options={"include_usage": True})
last = [c for c in stream][-1]
prompt, completion, requests = prompt + last.usage.prompt_tokens, completion + last.usage.completion_tokens, requests + 1
stream = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "stream me"}],
                                        max_completion_tokens=9, stream=True)
chunks = [c for c in stream]
# Same prompt, same cap, no seed: same counts as the stream above once it reports none.
prompt, completion, requests = prompt + last.usage.prompt_tokens, completion + last.usage.completion_tokens, requests + 1
check(sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == last.usage.completion_tokens,
      "the unreported stream sent as many tokens")
emb = client.embeddings.create(model="text-embedding-3-small", input=["one two three", "four"])

# A batch of two chat lines.
lines = [{"custom_id": f"b{i}", "method": "POST", "url": "/v1/chat/completions",
          "body": {"model": "gpt-4o", "messages": [{"role": "user", "content": "batch"}], "max_tokens": 4}}
         for i in range(2)]
f = client.files.create(file=("b.jsonl", io.BytesIO("\n".join(json.dumps(l) for l in lines).encode())),
                        purpose="batch")
batch = client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
for _ in range(200):
    batch = client.batches.retrieve(batch.id)
    if batch.status in ("completed", "failed"):
        break
    time.sleep(0.05)
check(batch.status == "completed", f"batch: {batch.status}")
batch_in, batch_out = batch.usage.input_tokens, batch.usage.output_tokens

# Completions usage, grouped by model and batch: exact.
body = raw(usage.with_raw_response.completions, UsageCompletionsResponse, start_time=start,
           group_by=["model", "batch"])
check(body["object"] == "page" and len(body["data"]) == 1 and not body["has_more"], f"one 1d bucket: {body}")
rows = {(r["model"], r["batch"]): r for r in results(body)}
live, batched = rows.get(("gpt-4o", False)), rows.get(("gpt-4o", True))
check(live and (live["input_tokens"], live["output_tokens"], live["num_model_requests"]) == (prompt, completion, requests),
      f"live chat usage exact: {live} != {(prompt, completion, requests)}")
check(batched and (batched["input_tokens"], batched["output_tokens"], batched["num_model_requests"]) ==
      (batch_in, batch_out, 2), f"batch usage exact: {batched} vs {(batch_in, batch_out)}")
check(live["project_id"] is None and live["api_key_id"] is None, "ungrouped fields are null")
# Per-minute buckets add up to the same; the filter `batch=true` keeps only the batch.
body = raw(usage.with_raw_response.completions, UsageCompletionsResponse, start_time=start, bucket_width="1m",
           batch=True)
check(sum(r["input_tokens"] for r in results(body)) == batch_in, f"batch filter: {body}")
check(all(b["end_time"] - b["start_time"] == 60 for b in body["data"]), "1m buckets")
body = raw(usage.with_raw_response.completions, UsageCompletionsResponse, start_time=start, models=["nope"])
check(results(body) == [], "models filter")

# Embeddings.
body = raw(usage.with_raw_response.embeddings, UsageEmbeddingsResponse, start_time=start, group_by=["model"])
r = results(body)
check(len(r) == 1 and (r[0]["input_tokens"], r[0]["num_model_requests"], r[0]["model"]) ==
      (emb.usage.prompt_tokens, 1, "text-embedding-3-small"), f"embeddings usage: {r}")
raw(usage.with_raw_response.vector_stores, UsageVectorStoresResponse, start_time=start)
raw(usage.with_raw_response.code_interpreter_sessions, UsageCodeInterpreterSessionsResponse, start_time=start)

# Costs at list prices: gpt-4o $2.50 / $10 per million, batch at half; embeddings $0.02.
body = raw(usage.with_raw_response.costs, UsageCostsResponse, start_time=start, group_by=["line_item"])
items = {r["line_item"]: r["amount"]["value"] for r in results(body)}
want = {
    "gpt-4o, input_tokens": prompt * 2.5e-6,
    "gpt-4o, output_tokens": completion * 10e-6,
    "gpt-4o, batch_input_tokens": batch_in * 2.5e-6 / 2,
    "gpt-4o, batch_output_tokens": batch_out * 10e-6 / 2,
    "text-embedding-3-small, input_tokens": emb.usage.prompt_tokens * 0.02e-6,
}
check(items.keys() == want.keys() and all(abs(items[k] - v) < 1e-12 for k, v in want.items()),
      f"costs by line item: {items} != {want}")
total = results(raw(usage.with_raw_response.costs, UsageCostsResponse, start_time=start))
check(len(total) == 1 and abs(total[0]["amount"]["value"] - sum(want.values())) < 1e-12, f"total cost: {total}")
billed = json.load(urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics/costs"))["billed"]
saved = (batch_in * 2.5e-6 + batch_out * 10e-6) / 2
check(abs(billed["savings_usd"]["batch"] - saved) < 1e-12, f"batch savings: {billed}")

# OpenAI's 400s.
for params, param in [({}, "start_time"), ({"start_time": "soon"}, "start_time"),
                      ({"start_time": start, "bucket_width": "1w"}, "bucket_width"),
                      ({"start_time": start, "group_by": ["size"]}, "group_by"),
                      ({"start_time": start, "limit": 32}, "limit"),
                      ({"start_time": start, "end_time": start}, "end_time")]:
    try:
        usage.completions(**params) if params else client.get("/organization/usage/completions", cast_to=object)
        check(False, f"{params} accepted")
    except openai.BadRequestError as e:
        check(e.body["param"] == param, f"{params}: {e.body}")
# Pagination: 3 one-hour buckets a page from two days back.
body = raw(usage.with_raw_response.completions, UsageCompletionsResponse, start_time=start - 2 * 86400,
           bucket_width="1h", limit=3)
check(len(body["data"]) == 3 and body["has_more"] and body["next_page"], "first page")
nxt = raw(usage.with_raw_response.completions, UsageCompletionsResponse, start_time=start - 2 * 86400,
          bucket_width="1h", limit=3, page=body["next_page"])
check(nxt["data"][0]["start_time"] == body["data"][-1]["end_time"], "next page follows on")

passed("org usage: ")
