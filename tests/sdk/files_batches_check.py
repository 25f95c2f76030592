"""Drives fakeai's files, uploads and batches with the official `openai` Python SDK; every object
is validated strictly with the SDK's own models. Exits non-zero on any mismatch.

Usage: python files_batches_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import io
import json
import sys
import time

import openai
from openai.types import Batch, FileDeleted, FileObject, Upload
from openai.types.chat import ChatCompletion
from openai.types.uploads import UploadPart
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def strict(model, obj, required=()):
    """Validates `obj` (an SDK object) with `model` from its raw JSON; `required` fields must be non-null."""
    raw = obj.model_dump(mode="json", exclude_unset=True) if hasattr(obj, "model_dump") else obj
    validated = model.model_validate(raw, strict=False)
    for field in required:
        check(getattr(validated, field) is not None, f"{model.__name__}.{field} is set: {raw}")
    check(not validated.model_extra, f"{model.__name__} has no unknown fields: {validated.model_extra}")
    return validated


FILE_FIELDS = ("id", "bytes", "created_at", "filename", "object", "purpose", "status")

# Files: create, retrieve, content (exact bytes), list with pagination, delete.
payload = b"line one\r\nline two\n\x00\xff binary tail"
f = client.files.create(file=("notes.bin", io.BytesIO(payload)), purpose="user_data")
strict(FileObject, f, FILE_FIELDS)
check(f.bytes == len(payload) and f.filename == "notes.bin" and f.purpose == "user_data", f"file {f}")
check(client.files.retrieve(f.id) == f, "retrieve equals create")
check(client.files.content(f.id).content == payload, "content is the exact bytes")
more = [client.files.create(file=(f"n{i}.txt", io.BytesIO(b"x" * i)), purpose="user_data") for i in range(3)]
page = client.files.list(purpose="user_data", limit=2)
check([x.id for x in page.data] == [more[2].id, more[1].id] and page.has_more, f"first page {page}")
walked = [x.id for x in client.files.list(purpose="user_data", limit=2)]
check(walked == [m.id for m in reversed(more)] + [f.id], f"auto-pagination walks every page: {walked}")
for x in page.data:
    strict(FileObject, x, FILE_FIELDS)
asc = client.files.list(purpose="user_data", order="asc", limit=10)
check([x.id for x in asc.data] == [f.id] + [m.id for m in more], "order=asc")
deleted = client.files.delete(more[0].id)
strict(FileDeleted, deleted, ("id", "deleted", "object"))
check(deleted.deleted and deleted.id == more[0].id, "delete")
try:
    client.files.retrieve(more[0].id)
    check(False, "a deleted file is gone")
except openai.NotFoundError as e:
    check(e.status_code == 404 and "No such File object" in e.message, f"404 {e}")
try:
    client.files.create(file=("bad.jsonl", io.BytesIO(b"{not json")), purpose="batch")
    check(False, "an invalid batch file is refused")
except openai.BadRequestError as e:
    check(e.body["code"] == "invalid_json_line" and e.body["param"] == "file", f"400 {e.body}")

# Uploads: create, two parts, complete in a chosen order.
u = client.uploads.create(bytes=11, filename="joined.txt", mime_type="text/plain", purpose="user_data")
strict(Upload, u, ("id", "bytes", "created_at", "expires_at", "filename", "object", "purpose", "status"))
check(u.status == "pending" and u.file is None, "upload pending")
p1 = client.uploads.parts.create(u.id, data=b"hello ")
p2 = client.uploads.parts.create(u.id, data=b"world")
for p in (p1, p2):
    strict(UploadPart, p, ("id", "created_at", "object", "upload_id"))
done = client.uploads.complete(u.id, part_ids=[p2.id, p1.id])
strict(Upload, done)
check(done.status == "completed" and done.file is not None, "upload completed")
strict(FileObject, done.file, FILE_FIELDS)
check(client.files.content(done.file.id).content == b"worldhello ", "parts joined in part_ids order")
cancelled = client.uploads.cancel(client.uploads.create(bytes=1, filename="c", mime_type="text/plain", purpose="user_data").id)
check(strict(Upload, cancelled).status == "cancelled", "upload cancelled")

# Batches: a file of chat requests, run to completion, output downloaded and parsed line by line.
requests = [
    {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
     "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"Question {i}?"}],
              "max_tokens": 4 + i, "ignore_eos": True}}
    for i in range(5)
]
requests.append({"custom_id": "broken", "method": "POST", "url": "/v1/chat/completions",
                 "body": {"model": "gpt-4o-mini", "messages": "not a list"}})
jsonl = "\n".join(json.dumps(r) for r in requests).encode()
batch_file = client.files.create(file=("batch.jsonl", io.BytesIO(jsonl)), purpose="batch")
check(strict(FileObject, batch_file).expires_at is not None, "batch files expire (30 days)")
batch = client.batches.create(input_file_id=batch_file.id, endpoint="/v1/chat/completions",
                              completion_window="24h", metadata={"suite": "sdk"})
strict(Batch, batch, ("id", "completion_window", "created_at", "endpoint", "input_file_id", "object", "status"))
check(batch.status == "validating" and batch.metadata == {"suite": "sdk"}, f"created {batch.status}")
deadline = time.time() + 30
while batch.status not in ("completed", "failed", "cancelled", "expired"):
    check(time.time() < deadline, "batch finishes")
    time.sleep(0.05)
    batch = client.batches.retrieve(batch.id)
strict(Batch, batch, ("in_progress_at", "finalizing_at", "completed_at", "output_file_id", "error_file_id",
                      "request_counts", "usage", "expires_at"))
check(batch.status == "completed", f"batch {batch}")
counts = batch.request_counts
check((counts.total, counts.completed, counts.failed) == (6, 5, 1), f"counts {counts}")
check(batch.created_at <= batch.in_progress_at <= batch.finalizing_at <= batch.completed_at, "timestamps in order")
check(client.batches.list(limit=1).data[0].id == batch.id, "batches.list newest first")

output = client.files.content(batch.output_file_id).text.splitlines()
check(len(output) == 5, f"5 output lines: {output}")
prompt_tokens = completion_tokens = 0
for raw, request in zip(output, requests):
    line = json.loads(raw)
    check(line["custom_id"] == request["custom_id"] and line["error"] is None, f"line {line['custom_id']}")
    check(line["id"].startswith("batch_req_") and line["response"]["status_code"] == 200, "line envelope")
    body = ChatCompletion.model_validate(line["response"]["body"])
    check(body.usage.completion_tokens == request["body"]["max_tokens"], f"usage {body.usage}")
    prompt_tokens += body.usage.prompt_tokens
    completion_tokens += body.usage.completion_tokens
check(batch.usage.input_tokens == prompt_tokens and batch.usage.output_tokens == completion_tokens
      and batch.usage.total_tokens == prompt_tokens + completion_tokens, f"batch usage sums the lines {batch.usage}")
live = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Question 0?"}],
                                      max_tokens=4, extra_body={"ignore_eos": True})
first = ChatCompletion.model_validate(json.loads(output[0])["response"]["body"])
check(first.usage == live.usage, f"a line's usage equals the live endpoint's: {first.usage} vs {live.usage}")
errors = [json.loads(x) for x in client.files.content(batch.error_file_id).text.splitlines()]
check(len(errors) == 1 and errors[0]["custom_id"] == "broken", f"error file {errors}")
check(errors[0]["response"]["status_code"] == 400 and errors[0]["response"]["body"]["error"]["param"] == "messages",
      "the live error envelope")
out_file = client.files.retrieve(batch.output_file_id)
check(strict(FileObject, out_file).purpose == "batch_output", "output file purpose")

# Cancelling a batch that has ended is a 409.
try:
    client.batches.cancel(batch.id)
    check(False, "a completed batch cannot be cancelled")
except openai.ConflictError as e:
    check(e.status_code == 409, "409")

passed()
