"""Drives a running fakeai's Images and Videos APIs with the official `openai` Python SDK,
validating every body with the SDK's pydantic models (strict); exits non-zero on any mismatch.

Usage: python images_check.py BASE_URL   (e.g. http://127.0.0.1:8000/v1)
"""
import base64
import struct
import sys
import time
import urllib.request
import warnings
import zlib

import openai
from openai.types import ImagesResponse, Video, VideoDeleteResponse
from openai.types.image_gen_completed_event import ImageGenCompletedEvent
from openai.types.image_gen_partial_image_event import ImageGenPartialImageEvent
from checking import check, passed

# The SDK marks DALL·E, variations and Sora deprecated; their wire shapes are what is checked here.
warnings.simplefilter("ignore", DeprecationWarning)
base_url = sys.argv[1]
client = openai.OpenAI(base_url=base_url, api_key="sk-fake", max_retries=0, timeout=30)


def strict(model, obj):
    """Validates `obj` (a dict from the wire) with the SDK's model, strictly."""
    return model.model_validate(obj, strict=True)


def png_size(data):
    """Width and height of a PNG, after inflating its pixels with zlib (an independent decoder)."""
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "PNG signature")
    at, idat, ihdr = 8, b"", None
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        check(zlib.crc32(kind + body) == struct.unpack(">I", data[at + 8 + length : at + 12 + length])[0], "chunk CRC")
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        at += 12 + length
    w, h, depth, colour = ihdr[:4]
    channels = {2: 3, 6: 4}[colour]
    check(len(zlib.decompress(idat)) == h * (1 + w * channels * depth // 8), "PNG pixel data inflates to its size")
    return w, h


def make_png(w, h):
    """A w×h RGBA PNG."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    rows = b"".join(b"\x00" + bytes([200, 100, 50, 255]) * w for _ in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


# images.generate, url: the URL is on this server and serves the PNG.
raw = client.images.with_raw_response.generate(model="dall-e-2", prompt="a red fox", size="512x512", n=2)
r = strict(ImagesResponse, raw.http_response.json())
check(len(r.data) == 2 and all(d.url for d in r.data), f"two URLs: {r.data}")
origin = base_url.rsplit("/v1", 1)[0]
check(r.data[0].url.startswith(origin + "/images/"), f"URL on this server: {r.data[0].url} vs {origin}")
with urllib.request.urlopen(r.data[0].url) as got:
    check(got.headers["Content-Type"] == "image/png", "served as image/png")
    check(png_size(got.read()) == (512, 512), "URL serves a 512x512 PNG")

# images.generate, b64_json with dall-e-3's revised prompt.
raw = client.images.with_raw_response.generate(
    model="dall-e-3", prompt="a lighthouse", size="1792x1024", quality="hd", style="natural", response_format="b64_json"
)
r = strict(ImagesResponse, raw.http_response.json())
check(r.data[0].revised_prompt and r.data[0].url is None, "dall-e-3 revised_prompt, no url")
check(png_size(base64.b64decode(r.data[0].b64_json)) == (1792, 1024), "b64 PNG at 1792x1024")

# gpt-image-1: always base64, with usage and the output options echoed.
raw = client.images.with_raw_response.generate(model="gpt-image-1", prompt="a cat", quality="low", output_format="jpeg")
r = strict(ImagesResponse, raw.http_response.json())
check(r.usage and r.usage.output_tokens == 272 and r.usage.input_tokens_details.text_tokens == 2, f"usage {r.usage}")
check((r.output_format, r.quality, r.size, r.background) == ("jpeg", "low", "1024x1024", "opaque"), "echoed options")
check(base64.b64decode(r.data[0].b64_json)[:3] == b"\xff\xd8\xff", "JPEG bytes")

# OpenAI's 400s reach the SDK as BadRequestError with param.
try:
    client.images.generate(model="dall-e-3", prompt="x", n=2)
    check(False, "dall-e-3 with n=2 must fail")
except openai.BadRequestError as e:
    check(e.status_code == 400 and e.body["param"] == "n", f"n error: {e.body}")

# images.edit with a PNG file (multipart).
raw = client.images.with_raw_response.edit(
    image=("in.png", make_png(64, 64), "image/png"), prompt="add a hat", size="256x256", response_format="b64_json"
)
r = strict(ImagesResponse, raw.http_response.json())
check(png_size(base64.b64decode(r.data[0].b64_json)) == (256, 256), "edit answers a 256x256 PNG")
r = client.images.create_variation(image=("in.png", make_png(32, 32), "image/png"), n=1, size="256x256")
check(r.data[0].url, "variation url")

# Streaming partial images.
events = list(client.images.generate(model="gpt-image-1", prompt="a fox", stream=True, partial_images=2, quality="low"))
types = [e.type for e in events]
check(types == ["image_generation.partial_image"] * 2 + ["image_generation.completed"], f"stream events {types}")
for i, e in enumerate(events[:2]):
    p = strict(ImageGenPartialImageEvent, e.model_dump())
    check(p.partial_image_index == i and png_size(base64.b64decode(p.b64_json)) == (1024, 1024), "partial image")
done = strict(ImageGenCompletedEvent, events[2].model_dump())
check(done.usage.output_tokens == 272 and done.size == "1024x1024", f"completed event {done.usage}")

# Videos: create, poll, download, list, delete.
v = client.videos.with_raw_response.create(prompt="waves at dusk", seconds="4", size="1280x720")
video = strict(Video, v.http_response.json())
check(video.status in ("queued", "in_progress") and video.seconds == "4", f"created {video.status}")
deadline = time.time() + 20
while video.status != "completed" and time.time() < deadline:
    time.sleep(0.2)
    video = strict(Video, client.videos.with_raw_response.retrieve(video.id).http_response.json())
    check(0 <= video.progress <= 100, "progress in range")
check(video.status == "completed" and video.progress == 100 and video.completed_at, f"completed: {video}")
content = client.videos.download_content(video.id).read()
check(content[4:8] == b"ftyp" and b"moov" in content and b"mdat" in content, "an MP4")
other = client.videos.create(prompt="second clip")
page = client.videos.list(limit=1)
ids = [x.id for x in page.data]
check(ids == [other.id] and page.has_more, f"newest first, one a page: {ids}")
everything = [x.id for x in client.videos.list(limit=1)]  # auto-paging follows after=last_id
check(everything[:2] == [other.id, video.id], f"auto-paging: {everything}")
raw = client.videos.with_raw_response.delete(other.id)
d = strict(VideoDeleteResponse, raw.http_response.json())
check(d.deleted and d.id == other.id, "deleted")

passed()
