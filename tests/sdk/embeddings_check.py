"""Embeddings and moderations through the official `openai` Python SDK, validated strictly with
the SDK's pydantic models; exits non-zero on any mismatch.

Usage: python embeddings_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import array
import base64
import json
import math
import sys

import openai
from openai.types import CreateEmbeddingResponse, ModerationCreateResponse
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def cosine(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


MODEL = "text-embedding-3-small"

# The SDK's default: it asks for base64 and decodes it into floats itself.
raw = client.embeddings.with_raw_response.create(model=MODEL, input="The quick brown fox")
check(json.loads(raw.http_request.content)["encoding_format"] == "base64", "the SDK asked for base64")
wire = raw.http_response.json()
check(isinstance(wire["data"][0]["embedding"], str), "base64 on the wire")
default = raw.parse()
CreateEmbeddingResponse.model_validate(default.model_dump())
vec = default.data[0].embedding
check(len(vec) == 1536 and abs(sum(x * x for x in vec) - 1) < 1e-4, f"1536 unit floats, got {len(vec)}")
check(default.usage.prompt_tokens == 4 and default.usage.total_tokens == 4, f"usage {default.usage}")
check(default.model == MODEL and default.object == "list", "model and object")

# Float on the wire validates as it is, and equals the decoded base64.
raw = client.embeddings.with_raw_response.create(model=MODEL, input="The quick brown fox", encoding_format="float")
wire = raw.http_response.json()
CreateEmbeddingResponse.model_validate(wire)
# The shortest decimals of the float32s: read back as float32 they are the base64 values.
check(array.array("f", wire["data"][0]["embedding"]).tolist() == vec, "float equals decoded base64")

# dimensions: the renormalised prefix.
short = client.embeddings.create(model=MODEL, input="The quick brown fox", dimensions=256)
CreateEmbeddingResponse.model_validate(short.model_dump())
s = short.data[0].embedding
norm = math.sqrt(sum(x * x for x in vec[:256]))
check(len(s) == 256 and all(abs(a - b / norm) < 1e-5 for a, b in zip(s, vec)), "dimensions=256 is the prefix")
try:
    client.embeddings.create(model=MODEL, input="x", dimensions=4096)
    check(False, "dimensions 4096 accepted")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.body["param"] == "dimensions", f"dimensions error {e.body}")
try:
    client.embeddings.create(model=MODEL, input="")
    check(False, "empty input accepted")
except openai.BadRequestError as e:
    check(e.body["param"] == "input", f"empty input error {e.body}")

# A list: one embedding per text, in order; texts sharing words are closer.
docs = [
    "How do I bake sourdough bread at home?",
    "A simple sourdough bread recipe with a starter",
    "Quarterly earnings beat expectations in the semiconductor sector",
]
for fmt in ("base64", "float"):
    listed = client.embeddings.create(model="text-embedding-3-large", input=docs, encoding_format=fmt)
    dumped = listed.model_dump(warnings=False)
    if fmt == "base64":  # asked for explicitly, the SDK leaves the strings to the caller
        for d in dumped["data"]:
            d["embedding"] = array.array("f", base64.b64decode(d["embedding"])).tolist()
    CreateEmbeddingResponse.model_validate(dumped)
    check([d["index"] for d in dumped["data"]] == [0, 1, 2], "indices in order")
    vs = [d["embedding"] for d in dumped["data"]]
    check(all(len(v) == 3072 for v in vs), "3072 dimensions for -3-large")
    near, far = cosine(vs[0], vs[1]), cosine(vs[0], vs[2])
    check(near > far + 0.2, f"{fmt}: shared words closer: {near} vs {far}")
tokens = client.embeddings.create(model=MODEL, input=[[9906, 11, 1917, 0], [15339]])
check(len(tokens.data) == 2 and tokens.usage.prompt_tokens == 5, "token-id lists")

# Moderations
mod = client.moderations.create(input="I want to kill someone")
ModerationCreateResponse.model_validate(mod.model_dump(by_alias=True))
raw = client.moderations.with_raw_response.create(input=["What a lovely picnic", "you idiot"])
wire = raw.http_response.json()
ModerationCreateResponse.model_validate(wire)
check(mod.model == "omni-moderation-latest" and mod.id.startswith("modr-"), "moderation id and model")
r = mod.results[0]
check(r.flagged and r.categories.violence and not r.categories.hate, "violence flagged, hate not")
check(r.category_scores.violence >= 0.5 and r.category_applied_input_types.violence == ["text"], "scores, types")
check([x["flagged"] for x in wire["results"]] == [False, True], "one result per string")
check(all(len(x["categories"]) == 13 for x in wire["results"]), "13 categories")
mm = client.moderations.create(
    model="omni-moderation-latest",
    input=[
        {"type": "text", "text": "a quiet lake"},
        {"type": "image_url", "image_url": {"url": "https://example.com/lake.png"}},
    ],
)
ModerationCreateResponse.model_validate(mm.model_dump(by_alias=True))
types = mm.results[0].category_applied_input_types
check(types.violence == ["text", "image"] and types.hate == ["text"] and not mm.results[0].flagged, "multimodal")

passed()
