"""Drives fakeai's audio endpoints with the official `openai` Python SDK: speech (plain, streamed
response, SSE), transcriptions (json, verbose_json, text, srt, vtt, stream), translations and chat
audio output. Every JSON body is validated strictly with the SDK's pydantic models, and every field
the SDK types as required and non-null must be present and non-null.

Usage: python audio_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import base64
import json
import sys
import typing

import openai
import pydantic
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
    Translation,
    TranslationVerbose,
)
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from checking import check, passed

base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=60)


def required_non_null(model, data, where):
    """Every field `model` types as required and non-Optional is present and not null (recursively)."""
    for name, field in model.model_fields.items():
        key = field.alias or name
        value = data.get(key) if isinstance(data, dict) else None
        annotation = field.annotation
        optional = typing.get_origin(annotation) is typing.Union and type(None) in typing.get_args(annotation)
        if field.is_required() and not optional:
            check(isinstance(data, dict) and key in data and value is not None, f"{where}.{key} missing or null")
        inner = [a for a in typing.get_args(annotation) if a is not type(None)] if optional else [annotation]
        for t in inner:
            if isinstance(t, type) and issubclass(t, pydantic.BaseModel) and isinstance(value, dict):
                required_non_null(t, value, f"{where}.{key}")
            if typing.get_origin(t) is list and isinstance(value, list):
                (item,) = typing.get_args(t)
                if isinstance(item, type) and issubclass(item, pydantic.BaseModel):
                    for i, v in enumerate(value):
                        required_non_null(item, v, f"{where}.{key}[{i}]")


def strict(model, data, where):
    obj = model.model_validate(data, strict=True)
    required_non_null(model, data, where)
    check(True, where)
    return obj


# Speech: one file per format, Content-Type as OpenAI sends it.
signatures = {"mp3": b"\xff", "opus": b"OggS", "aac": b"\xff", "flac": b"fLaC", "wav": b"RIFF"}
for fmt, magic in signatures.items():
    r = client.audio.speech.with_raw_response.create(
        model="tts-1", voice="alloy", input="Hello from the fake speech endpoint.", response_format=fmt
    )
    audio = r.http_response.content
    check(audio.startswith(magic), f"speech {fmt} starts with {magic!r}: {audio[:8]!r}")
    check(r.http_response.headers["content-type"].startswith("audio/"), f"speech {fmt} content type")
speech = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input="Twenty words " * 5,
                                    instructions="Speak calmly.", response_format="pcm", speed=2.0)
check(len(speech.content) == 2 * 24000 * 2, f"pcm: 10 words at speed 2 are 2 s: {len(speech.content)} bytes")
with client.audio.speech.with_streaming_response.create(
    model="tts-1-hd", voice={"id": "voice_custom"}, input="Streamed as it is made.", response_format="wav"
) as response:
    streamed = b"".join(response.iter_bytes(4096))
check(streamed[:4] == b"RIFF" and streamed[8:12] == b"WAVE", "streamed speech is a WAV file")
sse = client.audio.speech.with_raw_response.create(
    model="gpt-4o-mini-tts", voice="sage", input="Events, please.", stream_format="sse", response_format="mp3"
)
events = [json.loads(e[len("data: "):]) for e in sse.http_response.text.split("\n\n") if e]
check([e["type"] for e in events[:-1]] == ["speech.audio.delta"] * (len(events) - 1), "speech SSE deltas")
check(base64.b64decode(events[0]["audio"])[:1] == b"\xff", "speech SSE carries the MP3 bytes")
check(events[-1]["type"] == "speech.audio.done" and events[-1]["usage"]["output_tokens"] > 0, "speech SSE done")
try:
    client.audio.speech.create(model="tts-1", voice="alloy", input="x" * 4097)
    check(False, "input over 4096 characters is refused")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.param == "input", f"speech 400 names input: {e.body}")

# Transcriptions of a WAV made by the speech endpoint: 25 words, 10 s.
wav = client.audio.speech.create(model="tts-1", voice="nova", input="word " * 25, response_format="wav").content
upload = ("speech.wav", wav, "audio/wav")

raw = client.audio.transcriptions.with_raw_response.create(model="whisper-1", file=upload)
t = strict(Transcription, raw.http_response.json(), "Transcription")
check(t.text and t.usage.type == "duration" and t.usage.seconds == 10, f"whisper json usage {t.usage}")
t = client.audio.transcriptions.create(model="gpt-4o-transcribe", file=upload, prompt="Words.")
check(t.usage.type == "tokens" and t.usage.input_token_details.audio_tokens == 100, f"gpt-4o usage {t.usage}")
strict(Transcription, client.audio.transcriptions.with_raw_response.create(
    model="gpt-4o-mini-transcribe", file=upload).http_response.json(), "Transcription (tokens)")

raw = client.audio.transcriptions.with_raw_response.create(
    model="whisper-1", file=upload, response_format="verbose_json", timestamp_granularities=["word", "segment"],
    language="en", temperature=0.2,
)
v = strict(TranscriptionVerbose, raw.http_response.json(), "TranscriptionVerbose")
check(v.duration == 10.0 and v.language == "english", f"verbose duration/language {v.duration} {v.language}")
check(v.segments[0].start == 0.0 and v.segments[-1].end == 10.0, "segments span the audio")
check(len(v.words) == 25 and v.words[-1].end == 10.0, "words span the audio at 150 a minute")
check(all(s.temperature == 0.2 for s in v.segments), "segments echo the temperature")

text = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="text")
check(isinstance(text, str) and len(text.split()) == 25, f"text: {text!r}")
srt = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="srt")
check(srt.startswith("1\n00:00:00,000 --> ") and "--> 00:00:10,000\n" in srt, f"srt: {srt!r}")
vtt = client.audio.transcriptions.create(model="whisper-1", file=upload, response_format="vtt")
check(vtt.startswith("WEBVTT\n\n00:00:00.000 --> ") and "--> 00:00:10.000\n" in vtt, f"vtt: {vtt!r}")

stream = client.audio.transcriptions.create(model="gpt-4o-mini-transcribe", file=upload, stream=True)
kinds, deltas, done = [], [], None
for event in stream:
    kinds.append(event.type)
    if event.type == "transcript.text.delta":
        strict(TranscriptionTextDeltaEvent, event.to_dict(), "TranscriptionTextDeltaEvent")
        deltas.append(event.delta)
    else:
        done = strict(TranscriptionTextDoneEvent, event.to_dict(), "TranscriptionTextDoneEvent")
check(kinds[-1] == "transcript.text.done" and len(deltas) == 25, f"stream events {kinds[:3]}…")
check(done.text == "".join(deltas) and done.usage.output_tokens > 0, "stream done text and usage")

tr = client.audio.translations.with_raw_response.create(model="whisper-1", file=upload)
strict(Translation, tr.http_response.json(), "Translation")
tv = client.audio.translations.with_raw_response.create(model="whisper-1", file=upload, response_format="verbose_json")
tv = strict(TranslationVerbose, tv.http_response.json(), "TranslationVerbose")
check(tv.language == "english" and tv.duration == 10.0, "translation verbose")
try:
    client.audio.transcriptions.create(model="whisper-1", file=("notes.txt", b"hello", "text/plain"))
    check(False, "a text file is refused")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.param == "file", f"transcription 400 names file: {e.body}")

# Chat audio output.
raw = client.chat.completions.with_raw_response.create(
    model="gpt-4o-audio-preview", modalities=["text", "audio"], audio={"voice": "alloy", "format": "wav"},
    messages=[{"role": "user", "content": "Say hello."}], max_completion_tokens=20,
)
c = strict(ChatCompletion, raw.http_response.json(), "ChatCompletion (audio)")
audio = c.choices[0].message.audio
check(audio.id.startswith("audio_") and audio.transcript and audio.expires_at == c.created + 3600, "message.audio")
check(base64.b64decode(audio.data)[:4] == b"RIFF", "message.audio.data is a WAV file")
details = c.usage.completion_tokens_details
check(details.audio_tokens > 0 and c.usage.completion_tokens == 20 + details.audio_tokens, f"audio usage {c.usage}")
stream = client.chat.completions.create(
    model="gpt-4o-audio-preview", modalities=["text", "audio"], audio={"voice": "ash", "format": "pcm16"},
    messages=[{"role": "user", "content": "Say hello."}], max_completion_tokens=10, stream=True,
    stream_options={"include_usage": True},
)
transcript, pcm, expiry = "", b"", None
for chunk in stream:
    strict(ChatCompletionChunk, chunk.to_dict(), "ChatCompletionChunk (audio)")
    if chunk.choices and chunk.choices[0].delta.audio:
        a = chunk.choices[0].delta.audio
        transcript += a.transcript or ""
        pcm += base64.b64decode(a.data) if a.data else b""
        expiry = a.expires_at or expiry
    elif not chunk.choices:
        check(chunk.usage.completion_tokens_details.audio_tokens > 0, "streamed audio usage")
words = max(len(transcript.split()), -(-len("".join(transcript.split())) // 6), 1)
check(len(pcm) == words * 2 * 24000 * 2 // 5, f"streamed PCM is the transcript's length: {len(pcm)} for {words} words")
check(expiry is not None, "the stream ends its audio with expires_at")

passed()
