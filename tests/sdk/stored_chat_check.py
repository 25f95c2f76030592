"""Stored chat completions through the official `openai` SDK: create with store=True (streaming and
not), list (model and metadata filters, pages), retrieve, update, messages.list, delete; every body
validated strictly against the SDK's models (strict.py). Exits non-zero on any mismatch.

Usage: python stored_chat_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import sys

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion_deleted import ChatCompletionDeleted
from openai.types.chat.chat_completion_store_message import ChatCompletionStoreMessage

import strict
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def completion(raw, what):
    check(isinstance(raw.get("metadata"), dict), f"{what}: a stored completion carries its metadata")
    return strict.validate(ChatCompletion, raw, what)


def page(raw, item, what):
    """A list page: OpenAI's list shape, each item validated by `item`."""
    check(raw["object"] == "list" and isinstance(raw["has_more"], bool), f"{what}: list shape {list(raw)}")
    ids = [d["id"] for d in raw["data"]]
    check((raw["first_id"], raw["last_id"]) == ((ids[0], ids[-1]) if ids else (None, None)), f"{what}: cursors")
    return [item(d, what) for d in raw["data"]]


def store_message(raw, what):
    # The SDK types a stored message's role as "assistant" only, but the stored messages are the
    # request's (system, user, …), as OpenAI's own reference shows: the role is checked apart.
    check(raw["role"] in ("system", "developer", "user", "assistant", "tool"), f"{what}: role {raw['role']}")
    return strict.validate(ChatCompletionStoreMessage, {**raw, "role": "assistant"}, what)


MESSAGES = [{"role": "system", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hello, "}, {"type": "text", "text": "world"}]}]

# Five stored completions over two models, one streamed; one not stored.
created = []
for i in range(5):
    model = "gpt-4o" if i % 2 == 0 else "gpt-4o-mini"
    meta = {"run": "stored", "i": str(i)}
    if i == 3:
        text = ""
        for chunk in client.chat.completions.create(model=model, messages=MESSAGES, store=True, metadata=meta,
                                                     max_tokens=8, stream=True, extra_body={"ignore_eos": True}):
            if chunk.choices and chunk.choices[0].delta.content:
                text += chunk.choices[0].delta.content
            cid = chunk.id
        created.append((cid, model, text))
    else:
        r = client.chat.completions.create(model=model, messages=MESSAGES, store=True, metadata=meta, max_tokens=8,
                                           extra_body={"ignore_eos": True})
        created.append((r.id, model, r.choices[0].message.content))
unstored = client.chat.completions.create(model="gpt-4o", messages=MESSAGES, max_tokens=4)

# Retrieve: the whole chat.completion, streamed ones included.
for cid, model, text in created:
    raw = client.chat.completions.with_raw_response.retrieve(cid).http_response.json()
    c = completion(raw, f"retrieve {cid}")
    check(c.id == cid and c.model == model and c.choices[0].message.content == text, f"retrieve {cid}")
    check(c.usage.completion_tokens == 8 and c.choices[0].finish_reason == "length", f"stored usage {c.usage}")
try:
    client.chat.completions.retrieve(unstored.id)
    check(False, "a completion without store=True is not kept")
except openai.NotFoundError:
    check(True, "not stored")

# List: oldest first by default; model and metadata filters; pages.
raw = client.chat.completions.with_raw_response.list().http_response.json()
listed = page(raw, completion, "list")
check([c.id for c in listed] == [c[0] for c in created], f"list order {[c.id for c in listed]}")
raw = client.chat.completions.with_raw_response.list(model="gpt-4o-mini").http_response.json()
check([c.id for c in page(raw, completion, "by model")] == [created[1][0], created[3][0]], "model filter")
raw = client.chat.completions.with_raw_response.list(metadata={"i": "2", "run": "stored"}).http_response.json()
check([c.id for c in page(raw, completion, "by metadata")] == [created[2][0]], "metadata filter")
raw = client.chat.completions.with_raw_response.list(limit=2, order="desc").http_response.json()
first = page(raw, completion, "page 1")
check([c.id for c in first] == [created[4][0], created[3][0]] and raw["has_more"] is True, "desc page 1")
raw = client.chat.completions.with_raw_response.list(limit=2, order="desc", after=first[-1].id).http_response.json()
check([c.id for c in page(raw, completion, "page 2")] == [created[2][0], created[1][0]], "desc page 2")
check([c.id for c in client.chat.completions.list(limit=2)] == [c[0] for c in created], "the SDK pages through all")

# Update the metadata; the filters follow.
cid = created[0][0]
raw = client.chat.completions.with_raw_response.update(cid, metadata={"tag": "new"}).http_response.json()
check(completion(raw, "update").metadata == {"tag": "new"}, "update replaces the metadata")
check([c.id for c in client.chat.completions.list(metadata={"tag": "new"})] == [cid], "filter by new metadata")

# Messages: the request's, with ids; parts kept in content_parts.
raw = client.chat.completions.messages.with_raw_response.list(cid).http_response.json()
msgs = page(raw, store_message, "messages")
check([m.id for m in msgs] == [f"{cid}-0", f"{cid}-1"], f"message ids {[m.id for m in msgs]}")
check(raw["data"][0]["content"] == "Be brief." and raw["data"][0]["content_parts"] is None, "text message")
check(raw["data"][1]["content"] == "Hello, world" and len(raw["data"][1]["content_parts"]) == 2, "parts message")
raw = client.chat.completions.messages.with_raw_response.list(cid, limit=1, order="desc").http_response.json()
check([m["id"] for m in raw["data"]] == [f"{cid}-1"] and raw["has_more"] is True, "messages page")

# Delete.
raw = client.chat.completions.with_raw_response.delete(cid).http_response.json()
d = strict.validate(ChatCompletionDeleted, raw, "delete")
check(d.deleted and d.id == cid, "deleted")
check(cid not in [c.id for c in client.chat.completions.list()], "gone from the list")
try:
    client.chat.completions.messages.list(cid)
    check(False, "a deleted completion's messages are gone")
except openai.NotFoundError:
    check(True, "messages gone")
try:
    client.chat.completions.list(after="chatcmpl-nope")
    check(False, "an unknown cursor is refused")
except openai.BadRequestError as e:
    check(e.body["param"] == "after", f"unknown cursor: {e.body}")

passed()
