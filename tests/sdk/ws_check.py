"""Talks to /metrics/stream with the `websockets` client library: greeting, ping, subscribe,
timed updates, protocol-level ping. Usage: ws_check.py WS_URL"""
import asyncio
import json
import sys
import time

import websockets


async def main(url):
    async with websockets.connect(url) as ws:
        first = json.loads(await ws.recv())
        assert first["type"] == "historical_data", first
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["type"] == "pong"
        await ws.send(json.dumps({"type": "subscribe", "filters": {"metric_type": "latency", "interval": 0.2}}))
        reply = json.loads(await ws.recv())
        assert reply["type"] == "subscribed" and reply["filters"]["metric_types"] == ["latency"], reply
        start = time.monotonic()
        for _ in range(3):
            update = json.loads(await ws.recv())
            assert update["type"] == "metrics_update" and list(update["data"]) == ["latency"], update
        elapsed = time.monotonic() - start
        assert 0.4 < elapsed < 1.5, f"3 updates at 0.2 s took {elapsed:.2f} s"
        await (await ws.ping())
    print("websockets client: greeting, ping, subscribe, 3 timed updates, protocol ping ok")


asyncio.run(main(sys.argv[1]))
