"""Drives a running fakeai with `huggingface_hub.InferenceClient(base_url=...)`, as a TGI user
would; exits non-zero on any mismatch.

Usage: python tgi_check.py BASE_URL   (e.g. http://127.0.0.1:8000; the server runs with a fixed
natural output length of 20 tokens, so `max_new_tokens` below 20 ends on the length cap)
"""
import dataclasses
import sys
import typing

from huggingface_hub import InferenceClient
from huggingface_hub.errors import ValidationError
from huggingface_hub.inference._generated.types import (
    TextGenerationOutput,
    TextGenerationOutputDetails,
    TextGenerationOutputToken,
    TextGenerationStreamOutput,
    TextGenerationStreamOutputStreamDetails,
)
from checking import check, passed

client = InferenceClient(base_url=sys.argv[1], timeout=30)
NATURAL = 20


# TGI's own schema marks a prefill token's logprob nullable (the first prompt token has none);
# huggingface_hub's generated type lost the `nullable`.
NULLABLE = {("TextGenerationOutputPrefillToken", "logprob")}


def strictly(obj, what):
    """Every field the type declares non-optional is present and not None, recursively."""
    if isinstance(obj, list):
        return [strictly(o, what) for o in obj]
    if not dataclasses.is_dataclass(obj):
        return obj
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        optional = type(None) in typing.get_args(hints[f.name]) or (type(obj).__name__, f.name) in NULLABLE
        check(optional or value is not None, f"{what}: {type(obj).__name__}.{f.name} is None")
        strictly(value, f"{what}.{f.name}")
    return obj


def generate(**kwargs):
    return client.text_generation("Hello, world!", return_full_text=False, **kwargs)


# 1. Not streamed, no details: the text only; a seed replays it.
text = generate(max_new_tokens=12, seed=7)
check(isinstance(text, str) and text, f"text {text!r}")
check(generate(max_new_tokens=12, seed=7) == text, "a seed replays the text")

# 2. Not streamed, with details: 12 tokens cut by the length cap, none special.
out = strictly(generate(max_new_tokens=12, seed=7, details=True), "generate details")
check(isinstance(out, TextGenerationOutput) and isinstance(out.details, TextGenerationOutputDetails), "types")
d = out.details
check(out.generated_text == text, "details text = plain text")
check((d.finish_reason, d.generated_tokens, len(d.tokens)) == ("length", 12, 12), f"details {d}")
check(all(isinstance(t, TextGenerationOutputToken) and not t.special for t in d.tokens), "plain tokens")
check("".join(t.text for t in d.tokens) == text, "tokens join to the text")
check(d.seed is None and d.prefill == [] and d.best_of_sequences is None, f"greedy: no seed {d}")
sampled = generate(max_new_tokens=12, seed=7, details=True, do_sample=True)
check(sampled.details.seed == 7 and sampled.generated_text == text, "sampling reports its seed")

# 3. Streamed, no details: one string per token, 12 of them, joining to the same text.
pieces = list(generate(max_new_tokens=12, seed=7, stream=True))
check(len(pieces) == 12 and all(isinstance(p, str) for p in pieces), f"stream pieces {pieces}")
check("".join(pieces) == text, "streamed text = plain text")

# 4. Streamed, with details: 12 events; only the last carries generated_text and details.
stream = generate(max_new_tokens=12, seed=7, stream=True, details=True, do_sample=True)
events = [strictly(e, "stream event") for e in stream]
check(len(events) == 12 and all(isinstance(e, TextGenerationStreamOutput) for e in events), "12 events")
check([e.index for e in events] == list(range(1, 13)), "indices 1..12")
check(all(e.generated_text is None and e.details is None for e in events[:-1]), "only the last is final")
check(not any(e.token.special for e in events), "no end-of-sequence token after a length cut")
last = events[-1]
check(isinstance(last.details, TextGenerationStreamOutputStreamDetails), "stream details type")
check(last.generated_text == text, "stream generated_text")
check((last.details.finish_reason, last.details.generated_tokens) == ("length", 12), f"{last.details}")
check(last.details.input_length == 4 and last.details.seed == 7, f"input_length/seed {last.details}")

# Without details a stream's last event has none.
raw = list(client.text_generation("Hi", max_new_tokens=3, stream=True, details=False))
check(len(raw) == 3, "no extra event without details")

# Generation that stops on its own ends with the end-of-sequence token, counted.
events = list(generate(max_new_tokens=100, stream=True, details=True))
check(len(events) == NATURAL and events[-1].token.special, f"{len(events)} events, EOS last")
check(events[-1].details.finish_reason == "eos_token" and events[-1].details.generated_tokens == NATURAL, "eos")
check(events[-1].generated_text == "".join(e.token.text for e in events[:-1]), "EOS text not in generated_text")
out = generate(max_new_tokens=100, details=True)
check(out.details.finish_reason == "eos_token" and out.details.tokens[-1].special, "non-streamed EOS")
check(len(out.details.tokens) == out.details.generated_tokens == NATURAL, "non-streamed EOS counted")

# TGI's combined route returns the prompt too unless told not to.
full = client.text_generation("Hello, world!", max_new_tokens=3, seed=1)
check(full.startswith("Hello, world!") and len(full) > len("Hello, world!"), f"full text {full!r}")

# best_of and prefill details.
out = strictly(generate(max_new_tokens=5, best_of=2, do_sample=True, details=True, decoder_input_details=True), "bo")
check(len(out.details.best_of_sequences) == 1 and out.details.best_of_sequences[0].generated_tokens == 5, "best_of")
prefill = out.details.prefill
check([p.text for p in prefill] == ["Hello", ",", " world", "!"], f"prefill {prefill}")
check([p.id for p in prefill] == [9906, 11, 1917, 0] and prefill[0].logprob is None, "prefill ids (cl100k)")

# Validation errors arrive as TGI's, raised as huggingface_hub's ValidationError.
for kwargs, message in [
    ({"max_new_tokens": 5, "best_of": 2}, "you must use sampling when `best_of` is > 1"),
    ({"max_new_tokens": 5, "top_p": 1.5}, "`top_p` must be > 0.0 and < 1.0"),
    ({"max_new_tokens": 5, "stream": True, "best_of": 2, "do_sample": True}, "not supported when streaming"),
]:
    try:
        result = generate(**kwargs)
        if kwargs.get("stream"):
            list(result)
        check(False, f"{kwargs} should fail")
    except ValidationError as e:
        check(message in str(e), f"{kwargs}: {e}")

passed()
