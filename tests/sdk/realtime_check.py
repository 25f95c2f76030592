"""The Realtime API through the official `openai` SDK's realtime client (`client.realtime.connect`),
every server event validated strictly as the SDK's `RealtimeServerEvent` union; exits non-zero on
any mismatch.

Usage: python realtime_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import base64
import json
import struct
import sys

import openai
from openai.types.realtime.realtime_server_event import RealtimeServerEvent

from strict import validate
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def recv(conn):
    """The next server event, validated strictly, as (type, raw JSON)."""
    raw = json.loads(conn.recv_bytes())
    validate(RealtimeServerEvent, raw, raw.get("type", "event"))
    return raw["type"], raw


def until(conn, kind):
    """Every event up to and including the first of `kind`."""
    seen = []
    while True:
        t, raw = recv(conn)
        seen.append((t, raw))
        if t == kind:
            return seen


def pcm(ms, amplitude):
    samples = ms * 24
    return struct.pack(f"<{samples}h", *([amplitude, -amplitude] * (samples // 2)))


with client.realtime.connect(model="gpt-realtime") as conn:
    t, created = recv(conn)
    check(t == "session.created", f"first event {t}")
    check(created["session"]["model"] == "gpt-realtime", "session model")
    conn.session.update(session={"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."})
    t, updated = recv(conn)
    check(t == "session.updated" and updated["session"]["output_modalities"] == ["text"], f"update {updated}")
    check(updated["session"]["instructions"] == "Be brief.", "instructions kept")

    # A text turn.
    conn.conversation.item.create(
        item={"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
    )
    events = until(conn, "conversation.item.done")
    user_id = events[-1][1]["item"]["id"]
    check(events[0][0] == "conversation.item.added", "item added first")
    conn.response.create(response={"max_output_tokens": 8})
    events = until(conn, "response.done")
    kinds = [t for t, _ in events]
    check(kinds[0] == "response.created", f"response order {kinds[:4]}")
    deltas = [raw["delta"] for t, raw in events if t == "response.output_text.delta"]
    check(len(deltas) == 8, f"8 deltas under max_output_tokens, got {len(deltas)}")
    done = events[-1][1]["response"]
    text_done = next(raw for t, raw in events if t == "response.output_text.done")
    check(text_done["text"] == "".join(deltas), "done text is the deltas joined")
    check(done["status"] == "incomplete" and done["status_details"]["reason"] == "max_output_tokens", f"{done}")
    check(done["usage"]["output_tokens"] == 8 and done["usage"]["input_tokens"] > 0, f"usage {done['usage']}")

    # Retrieve, delete, unknown events.
    conn.conversation.item.retrieve(item_id=user_id)
    t, raw = recv(conn)
    check(t == "conversation.item.retrieved" and raw["item"]["id"] == user_id, "retrieved")
    conn.conversation.item.delete(item_id="item_nope", event_id="evt_client_1")
    t, raw = recv(conn)
    check(t == "error" and raw["error"]["event_id"] == "evt_client_1", f"error echoes event_id: {raw}")
    conn.send({"type": "no.such.event"})
    t, raw = recv(conn)
    check(t == "error" and raw["error"]["param"] == "type", f"unknown type: {raw}")

    # Speech: loud audio then silence; the VAD commits it and audio output follows.
    conn.session.update(session={"type": "realtime", "output_modalities": ["audio"], "max_output_tokens": 5})
    until(conn, "session.updated")
    conn.input_audio_buffer.append(audio=base64.b64encode(pcm(400, 8000)).decode())
    t, raw = recv(conn)
    check(t == "input_audio_buffer.speech_started", f"speech started: {t}")
    conn.input_audio_buffer.append(audio=base64.b64encode(pcm(300, 0)).decode())
    events = until(conn, "response.done")
    kinds = [t for t, _ in events]
    for want in ["input_audio_buffer.speech_stopped", "input_audio_buffer.committed", "response.created",
                 "response.output_audio.delta", "response.output_audio_transcript.delta",
                 "response.output_audio_transcript.done", "response.output_item.done"]:
        check(want in kinds, f"{want} in {kinds}")
    audio = b"".join(base64.b64decode(raw["delta"]) for t, raw in events if t == "response.output_audio.delta")
    check(len(audio) == 5 * 2400, f"50 ms of pcm16 per token, got {len(audio)} bytes")
    usage = events[-1][1]["response"]["usage"]
    check(usage["input_token_details"]["audio_tokens"] == 7, f"700 ms of input audio: {usage}")

passed()
