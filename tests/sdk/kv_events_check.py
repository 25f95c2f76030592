"""fakeai's KV events, read by pyzmq and decoded with msgspec structs declared as vLLM declares them.

Usage: kv_events_check.py BASE_URL ZMQ_ENDPOINT TOPIC FORMAT(map|array) NUM_GPU_BLOCKS

Sends prompts with a shared prefix and checks: BlockStored carries one hash per whole prompt block,
the prompt's token ids, and a parent that chains to the shared prefix's last block; seq numbers
count up by one; evictions (a small pool) send BlockRemoved for blocks stored before; and
POST /reset_prefix_cache sends AllBlocksCleared. Prints 'checks passed'.
"""
import json
import sys
import time
import urllib.request
from typing import Any

import msgspec
import zmq

BASE, ENDPOINT, TOPIC, FORMAT, NUM_BLOCKS = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
ARRAY = FORMAT == "array"
BLOCK = 16


# vLLM's vllm/distributed/kv_events.py: the batch is positional; the events are tagged structs,
# positional (array_like) before vLLM PR #42892, named maps after.
class EventBatch(msgspec.Struct, array_like=True, omit_defaults=True, gc=False):
    ts: float
    events: list[Any]
    data_parallel_rank: int | None = None


class KVCacheEvent(msgspec.Struct, array_like=ARRAY, omit_defaults=True, gc=False, tag=True):
    pass


class BlockStored(KVCacheEvent):
    block_hashes: list[int]
    parent_block_hash: int | None
    token_ids: list[int]
    block_size: int
    lora_id: int | None
    medium: str | None
    lora_name: str | None
    extra_keys: list[Any] | None = None
    group_idx: int | None = None
    kv_cache_spec_kind: str | None = None
    kv_cache_spec_sliding_window: int | None = None


class BlockRemoved(KVCacheEvent):
    block_hashes: list[int]
    medium: str | None
    group_idx: int | None = None


class AllBlocksCleared(KVCacheEvent):
    pass


class KVEventBatch(EventBatch):
    events: list[BlockStored | BlockRemoved | AllBlocksCleared]


decoder = msgspec.msgpack.Decoder(KVEventBatch)
ctx = zmq.Context()
sub = ctx.socket(zmq.SUB)
sub.setsockopt(zmq.RCVTIMEO, 3000)
sub.connect(ENDPOINT)
sub.setsockopt(zmq.SUBSCRIBE, TOPIC.encode())
# A second subscriber to another topic must get nothing (the PUB side filters by prefix).
other = ctx.socket(zmq.SUB)
other.setsockopt(zmq.RCVTIMEO, 200)
other.connect(ENDPOINT)
other.setsockopt(zmq.SUBSCRIBE, b"not-" + TOPIC.encode())
time.sleep(0.5)  # ZeroMQ's slow joiner: subscriptions reach the publisher asynchronously

last_seq = None
cached: set[int] = set()


def post(path, body):
    req = urllib.request.Request(BASE + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=10))


def tokens(prompt):
    return post("/tokenize", {"model": "kv", "prompt": prompt})["tokens"]


def batch():
    """The next batch; checks framing and sequence numbers."""
    global last_seq
    topic, seq, payload = sub.recv_multipart()
    assert topic == TOPIC.encode(), topic
    assert len(seq) == 8, seq
    seq = int.from_bytes(seq, "big")
    assert last_seq is None or seq == last_seq + 1, (last_seq, seq)
    last_seq = seq
    b = decoder.decode(payload)
    assert b.data_parallel_rank == 0 and b.ts > time.time() - 60, b
    for e in b.events:
        if isinstance(e, BlockStored):
            assert e.block_size == BLOCK and e.medium == "GPU" and e.lora_id is None, e
            assert len(e.token_ids) == BLOCK * len(e.block_hashes), e
            assert not cached & set(e.block_hashes), "stored twice"
            cached.update(e.block_hashes)
        elif isinstance(e, BlockRemoved):
            assert set(e.block_hashes) <= cached, "removed a block never stored"
            cached.difference_update(e.block_hashes)
        else:
            cached.clear()
    return b.events


def stored_of(events):
    s = [e for e in events if isinstance(e, BlockStored)]
    assert len(s) == 1, events
    return s[0]


def complete(prompt):
    usage = post("/v1/completions", {"model": "kv", "prompt": prompt, "max_tokens": 1})["usage"]
    return usage["prompt_tokens"], usage["prompt_tokens_details"]["cached_tokens"]


prefix = "Shared system prompt: answer briefly and cite your sources. " * 4
a_prompt, b_prompt = prefix + "First question about tides?", prefix + "Second, quite different question about volcanoes?"
a_ids, b_ids = tokens(a_prompt), tokens(b_prompt)
shared = next(i for i, (x, y) in enumerate(zip(a_ids, b_ids)) if x != y) // BLOCK  # whole blocks in common
assert shared >= 2, shared

n, hit = complete(a_prompt)
assert (n, hit) == (len(a_ids), 0), (n, hit)
a = stored_of(batch())
assert a.parent_block_hash is None, "a prompt's first block has no parent"
assert len(a.block_hashes) == n // BLOCK, (len(a.block_hashes), n)
assert a.token_ids == a_ids[: n // BLOCK * BLOCK], "the prompt's token ids"

n, hit = complete(b_prompt)
assert hit == shared * BLOCK, (hit, shared)
b = stored_of(batch())
assert b.parent_block_hash == a.block_hashes[shared - 1], "chained to the shared prefix's last block"
assert len(b.block_hashes) == n // BLOCK - shared, (len(b.block_hashes), n, shared)
assert b.token_ids == b_ids[shared * BLOCK : n // BLOCK * BLOCK]

# Distinct prompts until the pool must evict cached blocks.
removed = []
for i in range(NUM_BLOCKS):
    complete(f"Unrelated prompt number {i}: " + "lorem ipsum dolor sit amet " * 6)
    events = batch()
    removed += [h for e in events if isinstance(e, BlockRemoved) for h in e.block_hashes]
    if set(a.block_hashes) & set(removed):
        break
assert removed, "a full pool evicts and says so"
assert set(removed) & set(a.block_hashes + b.block_hashes), "the oldest prompts' blocks go first"
assert a.block_hashes[-1] in removed, "tails go before heads"

for _ in range(50):
    urllib.request.urlopen(urllib.request.Request(BASE + "/reset_prefix_cache", data=b"", method="POST"), timeout=5)
    try:
        events = batch()
    except zmq.Again:
        time.sleep(0.05)  # refused while a response still held its blocks: try again
        continue
    assert any(isinstance(e, AllBlocksCleared) for e in events), events
    break
else:
    raise AssertionError("no AllBlocksCleared after /reset_prefix_cache")
assert not cached

n, hit = complete(a_prompt)
assert hit == 0, "a reset cache misses"
again = stored_of(batch())
assert again.block_hashes == a.block_hashes, "the same prompt hashes to the same blocks"

try:
    other.recv_multipart()
    raise AssertionError("a subscriber to another topic got a message")
except zmq.Again:
    pass
print(f"{FORMAT}: seq 0..{last_seq}, {len(removed)} removed; checks passed")
