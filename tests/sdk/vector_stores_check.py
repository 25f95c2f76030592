"""Drives fakeai's vector stores with the official `openai` Python SDK: create, files
(create_and_poll, upload_and_poll), file batches (create_and_poll, upload_and_poll, list files),
search with filters, update, content, deletes. Every body is validated strictly with the SDK's
own models (tests/sdk/strict.py). Exits non-zero on any mismatch.

Usage: python vector_stores_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import io
import sys

import openai
from openai.types import VectorStore, VectorStoreDeleted, VectorStoreSearchResponse
from openai.types.vector_stores import (
    FileContentResponse,
    VectorStoreFile,
    VectorStoreFileBatch,
    VectorStoreFileDeleted,
)

from strict import validate
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def raw(call, *args, **kwargs):
    """The raw JSON body of an SDK call made through `with_raw_response`."""
    return call(*args, **kwargs).http_response.json()


def sdk(model, obj):
    """Validates an SDK-returned object strictly from the JSON it was built from."""
    return validate(model, obj.model_dump(mode="json", exclude_unset=True), model.__name__)


TOPICS = {
    "bread.txt": "Sourdough bread needs a lively starter; knead the dough, proof it overnight and bake the loaf.",
    "chips.txt": "Semiconductor fabs etch transistors on silicon wafers; chip makers reported GPU earnings.",
    "sailing.txt": "Sailing upwind means trimming the mainsail and jib and tacking the yacht through the wind.",
}

# A store, then one file attached with create_and_poll and one with upload_and_poll.
vs = validate(VectorStore, raw(client.vector_stores.with_raw_response.create, name="kb", metadata={"team": "a"}))
check(vs.status == "completed" and vs.file_counts.total == 0, f"empty store: {vs}")
bread = client.files.create(file=("bread.txt", io.BytesIO(TOPICS["bread.txt"].encode())), purpose="assistants")
f = sdk(VectorStoreFile, client.vector_stores.files.create_and_poll(
    vector_store_id=vs.id, file_id=bread.id, attributes={"topic": "food", "year": 2021}))
check(f.status == "completed" and f.id == bread.id and f.usage_bytes == len(TOPICS["bread.txt"]), f"{f}")
check(f.chunking_strategy.type == "static" and f.chunking_strategy.static.max_chunk_size_tokens == 800, f"{f}")
f = sdk(VectorStoreFile, client.vector_stores.files.upload_and_poll(
    vector_store_id=vs.id, file=("chips.txt", io.BytesIO(TOPICS["chips.txt"].encode())),
    chunking_strategy={"type": "static", "static": {"max_chunk_size_tokens": 200, "chunk_overlap_tokens": 50}}))
check(f.status == "completed" and f.chunking_strategy.static.chunk_overlap_tokens == 50, f"{f}")
chips_id = f.id

# A file batch from an upload; it polls from in_progress to completed.
batch = sdk(VectorStoreFileBatch, client.vector_stores.file_batches.upload_and_poll(
    vector_store_id=vs.id, files=[("sailing.txt", io.BytesIO(TOPICS["sailing.txt"].encode()))]))
check(batch.status == "completed" and batch.file_counts.completed == 1 and batch.file_counts.total == 1, f"{batch}")
listed = client.vector_stores.file_batches.list_files(batch_id=batch.id, vector_store_id=vs.id)
check(len(listed.data) == 1, f"batch files: {listed}")
for item in listed.data:
    sdk(VectorStoreFile, item)
sailing_id = listed.data[0].id

# A batch cancelled while in progress (the server delays processing).
other = client.files.create(file=("x.txt", io.BytesIO(b"some other text")), purpose="assistants")
pending = validate(VectorStoreFileBatch, raw(client.vector_stores.file_batches.with_raw_response.create,
                                             vector_store_id=vs.id, file_ids=[other.id]))
check(pending.status == "in_progress", f"a new batch is in progress: {pending}")
cancelled = validate(VectorStoreFileBatch, raw(client.vector_stores.file_batches.with_raw_response.cancel,
                                               batch_id=pending.id, vector_store_id=vs.id))
check(cancelled.status == "cancelled" and cancelled.file_counts.cancelled == 1, f"{cancelled}")
client.vector_stores.files.delete(file_id=other.id, vector_store_id=vs.id)

store = validate(VectorStore, raw(client.vector_stores.with_raw_response.retrieve, vs.id))
check(store.file_counts.completed == 3 and store.file_counts.total == 3, f"{store}")
check(store.usage_bytes == sum(len(t) for t in TOPICS.values()), f"usage_bytes: {store}")

# Search: the right file first, every result strictly typed.
for query, want in [("bake sourdough bread", bread.id), ("GPU chip earnings", chips_id), (["yacht", "wind"], sailing_id)]:
    body = raw(client.vector_stores.with_raw_response.search, vs.id, query=query)
    check(body["object"] == "vector_store.search_results.page", f"page object: {body}")
    results = [validate(VectorStoreSearchResponse, r, "result") for r in body["data"]]
    check(results and results[0].file_id == want, f"{query}: {results}")
    check(all(0 <= r.score <= 1 for r in results), "scores in [0, 1]")
page = client.vector_stores.search(vs.id, query="bread", max_num_results=5,
                                   filters={"type": "eq", "key": "topic", "value": "food"},
                                   ranking_options={"ranker": "auto", "score_threshold": 0.0}, rewrite_query=True)
check([r.file_id for r in page.data] == [bread.id], f"filtered search: {page.data}")
check(page.data[0].content[0].type == "text" and "Sourdough" in page.data[0].content[0].text, f"{page.data[0]}")
compound = {"type": "or", "filters": [{"type": "gt", "key": "year", "value": 2030},
                                       {"type": "nin", "key": "topic", "value": ["food"]}]}
page = client.vector_stores.search(vs.id, query="bread", filters=compound)
check(bread.id not in [r.file_id for r in page.data] and len(page.data) == 2, f"compound filter: {page.data}")
try:
    client.vector_stores.search(vs.id, query="x", max_num_results=0)
    check(False, "max_num_results 0 is refused")
except openai.BadRequestError as e:
    check(e.body.get("param") == "max_num_results", f"{e.body}")

# Files: list, retrieve, update attributes, content, delete.
files = client.vector_stores.files.list(vector_store_id=vs.id, limit=2, order="asc", filter="completed")
check([x.id for x in files.data] == [bread.id, chips_id] and files.has_more, f"{files}")
check([x.id for x in files.get_next_page().data] == [sailing_id], "next page")
f = validate(VectorStoreFile, raw(client.vector_stores.files.with_raw_response.update, file_id=chips_id,
                                  vector_store_id=vs.id, attributes={"topic": "tech", "public": True}))
check(f.attributes == {"topic": "tech", "public": True}, f"{f}")
content = client.vector_stores.files.content(file_id=bread.id, vector_store_id=vs.id)
check([validate(FileContentResponse, c.model_dump(mode="json"), "content").text for c in content.data]
      == [TOPICS["bread.txt"]], f"{content}")
deleted = validate(VectorStoreFileDeleted, raw(client.vector_stores.files.with_raw_response.delete,
                                               file_id=bread.id, vector_store_id=vs.id))
check(deleted.deleted and deleted.id == bread.id, f"{deleted}")
try:
    client.vector_stores.files.retrieve(file_id=bread.id, vector_store_id=vs.id)
    check(False, "a detached file is gone")
except openai.NotFoundError:
    check(True, "")

# Stores: update, list, delete.
updated = validate(VectorStore, raw(client.vector_stores.with_raw_response.update, vs.id, name="renamed",
                                    expires_after={"anchor": "last_active_at", "days": 2}))
check(updated.name == "renamed" and updated.expires_after.days == 2 and updated.expires_at, f"{updated}")
stores = client.vector_stores.list(limit=10)
check(vs.id in [s.id for s in stores.data], "listed")
for s in stores.data:
    sdk(VectorStore, s)
gone = validate(VectorStoreDeleted, raw(client.vector_stores.with_raw_response.delete, vs.id))
check(gone.deleted, f"{gone}")
try:
    client.vector_stores.retrieve(vs.id)
    check(False, "a deleted store is gone")
except openai.NotFoundError:
    check(True, "")

passed()
