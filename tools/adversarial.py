#!/usr/bin/env python3
"""A bounded, loopback-only adversarial client for fakeai (issue 19's robustness suite).

It starts the server itself (so it knows its pid and can count its file descriptors), then
throws at it: smuggling-shaped and malformed requests, slowloris heads and bodies, clients that
never read a long stream, many streams with half the clients vanishing mid-stream, idle
connections, WebSocket abuse, and last SIGTERM under many streams. After each it checks: the
right 4xx (or a clean close), never a 5xx from bad input (501 for an unimplemented transfer
coding is RFC 9112's answer), other connections unaffected, the server's RSS back within a
bound of its baseline, its fds back to baseline, and its counters exact; at SIGTERM, every
stream in flight finishes whole, new connections are refused and the server exits 0 within its
drain timeout. Prints a summary; exits 1 on any violation.

    python3 tools/adversarial.py --bin target/debug/fakeai            # quick: < 60 s
    python3 tools/adversarial.py --bin target/release/fakeai --full   # the issue's sizes

Standard library only. Never talks to anything but 127.0.0.1.
"""

import argparse
import base64
import os
import re
import resource
import selectors
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

HOST = "127.0.0.1"
CHAT = "/v1/chat/completions"
violations = []
results = []


def check(ok, what):
    results.append((bool(ok), what))
    if not ok:
        violations.append(what)
    print(("  ok   " if ok else "  FAIL ") + what, flush=True)


def connect(port, timeout=10.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    return s


def read_all(s, limit=1 << 22):
    """Everything until the peer closes (or the timeout); the bytes and whether it closed."""
    out = b""
    try:
        while len(out) < limit:
            b = s.recv(65536)
            if not b:
                return out, True
            out += b
    except (socket.timeout, ConnectionResetError):
        return out, False
    return out, False


def statuses(raw):
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3}) ", raw)]


def request(method, path, body=b"", headers=()):
    head = f"{method} {path} HTTP/1.1\r\nHost: {HOST}\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body:
        head += f"Content-Length: {len(body)}\r\nContent-Type: application/json\r\n"
    return head.encode() + b"\r\n" + body


def chat_body(tokens, stream=True):
    return (
        '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],'
        f'"max_tokens":{tokens},"ignore_eos":true,"stream":{"true" if stream else "false"}}}'
    ).encode()


def metric(port, name):
    """Sum of a Prometheus family's samples."""
    s = connect(port)
    s.sendall(request("GET", "/metrics", headers=[("Connection", "close")]))
    raw, _ = read_all(s)
    s.close()
    total = 0.0
    for line in raw.decode(errors="replace").splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def healthy(port):
    try:
        s = connect(port, 5)
        s.sendall(request("GET", "/health", headers=[("Connection", "close")]))
        raw, _ = read_all(s)
        s.close()
        return statuses(raw)[:1] == [200]
    except OSError:
        return False


def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def settle_fds(pid, baseline, slack=4, wait=10.0):
    end = time.time() + wait
    while time.time() < end:
        if fds(pid) <= baseline + slack:
            return fds(pid)
        time.sleep(0.1)
    return fds(pid)


# How far the server's resident memory may stay above its baseline once an attack is over (and
# the server has had a second to free): a buffer or a stream held per attacking connection
# would exceed it (15,000 connections × 4 KiB of read buffer alone is 58 MiB).
RSS_SLACK_MIB = 64


def status_mib(pid, field):
    """A memory field of /proc/PID/status (`VmRSS`, `VmHWM`), in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid):
    return status_mib(pid, "VmRSS")


def peak_rss_mib(pid):
    return status_mib(pid, "VmHWM")


def check_rss(pid, baseline, after):
    """RSS back within the bound, given up to 10 s: closing 15,000 connections takes the server
    a while, and their buffers are freed as each close is handled."""
    deadline = time.monotonic() + 10.0
    time.sleep(1.0)
    rss = rss_mib(pid)
    while rss > baseline + RSS_SLACK_MIB and time.monotonic() < deadline:
        time.sleep(0.25)
        rss = rss_mib(pid)
    check(rss <= baseline + RSS_SLACK_MIB,
          f"RSS after {after}: {rss:.0f} MiB (baseline {baseline:.0f}, bound +{RSS_SLACK_MIB} MiB; "
          f"peak so far {peak_rss_mib(pid):.0f})")


def warm_up(port):
    """Loads what the server loads on first use (tokenizer tables, model profiles), so that the
    RSS baseline is the serving server's."""
    for path, body in [(CHAT, chat_body(50, stream=False)), (CHAT, chat_body(50)),
                       ("/v1/embeddings", b'{"model":"text-embedding-3-small","input":"warm up"}')]:
        s = connect(port)
        s.sendall(request("POST", path, body, [("Connection", "close")]))
        read_all(s)
        s.close()


# ---------------------------------------------------------------------------------------------
# The attacks


def smuggling(port):
    print("smuggling-shaped and malformed requests", flush=True)
    pipelined = request("GET", "/v1/models")
    cases = [
        ("CL and TE with a request behind", b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\n"
         b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + pipelined, {400}),
        ("Content-Length: +2", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\n{}", {400}),
        ("conflicting Content-Lengths", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
         b"Content-Length: 3\r\n\r\n{}", {400}),
        ("TE gzip, chunked", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", {501}),
        ("TE chunked twice", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n", {400}),
        ("TE on HTTP/1.0", b"POST /v1/embeddings HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", {400}),
        ("huge chunk size", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"ffffffffffffffffff\r\n", {400}),
        ("chunk beyond the body limit", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"7fffffffffff\r\n", {413}),
        ("endless trailers", b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"2\r\n{}\r\n0\r\n" + b"X-Trailer: aaaaaaaaaaaaaaaaaaaaaaaa\r\n" * 600, {431}),
        ("a 1 MB head", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) + b"\r\n\r\n", {431}),
        ("not HTTP", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 64 + b"\r\n\r\n", {400}),
        ("bare CR in a header", b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", {400}),
        ("a bad JSON body", request("POST", CHAT, b'{"model": "gpt-4o", "messages": [')
         + b"", {400}),
    ]
    for name, raw, want in cases:
        s = connect(port)
        try:
            s.sendall(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass
        s.settimeout(5)
        out, closed = read_all(s)
        s.close()
        got = statuses(out)
        check(got[:1] and got[0] in want and all(c < 500 or c == 501 for c in got),
              f"{name}: {got or 'nothing'} (want {sorted(want)})")
        if name.startswith("CL and TE"):
            check(len(got) == 1 and closed, "  the request behind it is never served; the connection closes")


def slowloris(port, n, header_timeout):
    print(f"slowloris: {n} heads and {n} bodies a byte at a time", flush=True)
    socks = []
    for i in range(n):
        s = connect(port)
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\n")
        socks.append(("head", s))
        s = connect(port)
        s.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        socks.append(("body", s))
    deadline = time.time() + header_timeout + 3
    check(healthy(port), "others are served while they drip")
    while time.time() < deadline:
        for _, s in socks:
            try:
                s.send(b"a")
            except OSError:
                pass
        time.sleep(0.5)
    seen = {"head": [], "body": []}
    for kind, s in socks:
        s.settimeout(3)
        out, closed = read_all(s)
        seen[kind].append((statuses(out)[:1], closed))
        s.close()
    for kind, got in seen.items():
        check(all(st == [408] and c for st, c in got), f"slow {kind}s get 408 and a close: {got[:3]}")


def never_readers(port, n, send_timeout):
    print(f"{n} clients that never read a long stream", flush=True)
    before = metric(port, "fakeai_send_timeouts_total")
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, port))
        # The stream at full speed (ITL × 0), so it fills the socket buffers at once.
        s.sendall(request("POST", CHAT, chat_body(60_000), [("X-Fakeai-Fault", "latency_spike;ttft=0;itl=0")]))
        socks.append(s)
    time.sleep(send_timeout + 3)
    check(healthy(port), "others are served meanwhile")
    # The kernel's zero-window probes back off: with many never-readers, the last aborts can
    # come a few seconds after the timeout.
    end = time.time() + 10
    while time.time() < end and metric(port, "fakeai_send_timeouts_total") - before < n:
        time.sleep(0.2)
    got = metric(port, "fakeai_send_timeouts_total") - before
    check(got == n, f"fakeai_send_timeouts_total counts each: {got:g} of {n}")
    for s in socks:
        s.close()


def vanishing(port, n):
    print(f"{n} streams, half the clients vanishing mid-stream", flush=True)
    cancelled0 = metric(port, "fakeai_streams_cancelled_total")
    done = []

    def client(i):
        s = connect(port, 30)
        s.sendall(request("POST", CHAT, chat_body(40), [("Connection", "close")]))
        if i % 2:
            s.recv(256)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()  # RST mid-stream
            return
        out, _ = read_all(s)
        s.close()
        done.append(out.count(b"data: [DONE]") == 1 and statuses(out) == [200])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(len(done) == n // 2 + n % 2 and all(done), f"every staying client got its whole stream: {sum(done)} of {n - n // 2}")
    end = time.time() + 10
    while time.time() < end and metric(port, "fakeai_streams_active") > 0:
        time.sleep(0.1)
    check(metric(port, "fakeai_streams_active") == 0, "no stream left active")
    got = metric(port, "fakeai_streams_cancelled_total") - cancelled0
    check(got == n // 2, f"fakeai_streams_cancelled_total counts each vanished client: {got:g} of {n // 2}")


def idle(port, n):
    print(f"{n} idle connections", flush=True)
    socks = []
    try:
        for _ in range(n):
            socks.append(connect(port))
    except OSError as e:
        check(False, f"could open only {len(socks)} connections: {e}")
    t = time.time()
    check(healthy(port), "a request is served among them")
    check(time.time() - t < 1.0, f"promptly: {time.time() - t:.3f} s")
    for s in socks:
        s.close()


def ws_handshake(port):
    s = connect(port)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(request("GET", "/v1/realtime?model=gpt-realtime", headers=[
        ("Upgrade", "websocket"), ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", "13")]))
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            break
        head += b
    return s, statuses(head)[:1] == [101]


def frame(opcode, payload, mask=True, fin=True, length=None):
    n = len(payload) if length is None else length
    first = (0x80 if fin else 0) | opcode
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def parse_close(data):
    """The close code in `data` (skipping other frames), 1005 for an empty close, or None yet."""
    i = 0
    while i + 2 <= len(data):
        op, n = data[i] & 0x0F, data[i + 1] & 0x7F
        i += 2
        if n == 126:
            if i + 2 > len(data):
                return None
            n = struct.unpack("!H", data[i:i + 2])[0]
            i += 2
        elif n == 127:
            if i + 8 > len(data):
                return None
            n = struct.unpack("!Q", data[i:i + 8])[0]
            i += 8
        if op == 8:
            if n >= 2 and i + 2 <= len(data):
                return struct.unpack("!H", data[i:i + 2])[0]
            return 1005 if n < 2 else None
        i += n
    return None


def close_code(s):
    """The close code the server sends, as soon as its close frame arrives (None: none in 5 s)."""
    s.settimeout(5)
    data = b""
    try:
        while True:
            code = parse_close(data)
            if code is not None:
                return code
            b = s.recv(65536)
            if not b:
                return parse_close(data)
            data += b
    except (socket.timeout, ConnectionResetError):
        return parse_close(data)


def websocket(port):
    print("WebSocket abuse", flush=True)
    cases = [
        ("an unmasked frame", frame(1, b"{}", mask=False), {1002}),
        ("a close with a 1-byte payload", frame(8, b"\x03"), {1002}),
        ("a reserved opcode", frame(3, b""), {1002}),
        ("a text frame that is not UTF-8", frame(1, b"\xff\xfe"), {1007}),
        ("a 16 EiB frame length", frame(2, b"", length=1 << 62)[:10], {1009, 1002}),
        ("a fragmented control frame", frame(9, b"", fin=False), {1002}),
        ("a continuation with nothing to continue", frame(0, b"x"), {1002}),
    ]
    for name, raw, want in cases:
        s, up = ws_handshake(port)
        if not up:
            check(False, f"{name}: no upgrade")
            continue
        try:
            s.sendall(raw)
        except OSError:
            pass
        code = close_code(s)
        s.close()
        check(code in want, f"{name}: close {code} (want {sorted(want)})")
    check(healthy(port), "the server serves on")


def sigterm_under_streams(server, port, n, tokens, drain_timeout):
    """Opens `n` streams of `tokens` tokens, sends SIGTERM once each has begun, and checks the
    drain: every stream finishes whole, new connections are refused, the exit is clean and in
    time. Ends the server."""
    print(f"SIGTERM under {n} streams of {tokens} tokens", flush=True)
    sel = selectors.DefaultSelector()
    got = {}
    body = request("POST", CHAT, chat_body(tokens), [("Connection", "close")])
    for _ in range(n):
        s = connect(port, 30)
        s.sendall(body)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        got[s] = bytearray()
    closed = set()

    def pump(until, done):
        while time.time() < until and not done():
            for key, _ in sel.select(0.2):
                s = key.fileobj
                try:
                    b = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    b = b""
                if b:
                    got[s] += b
                else:
                    sel.unregister(s)
                    closed.add(s)

    pump(time.time() + 60, lambda: all(b'"delta":{"content":"' in b for b in got.values()))
    begun = sum(b'"delta":{"content":"' in b for b in got.values())
    finished = sum(b"[DONE]" in b for b in got.values())
    check(begun == n and finished == 0, f"all {n} streams in flight at SIGTERM: {begun} begun, {finished} finished")
    signalled = time.time()
    server.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # workers look at the flag every 20 ms
    try:
        late = socket.create_connection((HOST, port), timeout=2)
        late.sendall(request("GET", "/health", headers=[("Connection", "close")]))
        raw, _ = read_all(late)
        late.close()
        refused = f"accepted ({statuses(raw) or 'no answer'})"
    except ConnectionRefusedError:
        refused = "refused"
    except OSError as e:
        refused = f"failed otherwise: {e}"
    check(refused == "refused", f"a new connection after SIGTERM is {refused}")
    pump(signalled + drain_timeout + 5, lambda: len(closed) == n)
    whole = sum(b.count(b'"delta":{"content":"') == tokens and b.count(b"data: [DONE]") == 1 and statuses(b) == [200]
                for b in got.values())
    check(whole == n, f"every stream in flight finished whole ({tokens} tokens and [DONE]): {whole} of {n}")
    try:
        code = server.wait(max(0.1, signalled + drain_timeout + 5 - time.time()))
    except subprocess.TimeoutExpired:
        code = None
    took = time.time() - signalled
    check(code == 0 and took < drain_timeout, f"exit {code} {took:.1f} s after SIGTERM (drain timeout {drain_timeout} s)")
    for s in got:
        s.close()


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default="target/debug/fakeai", help="the fakeai binary to start")
    ap.add_argument("--full", action="store_true", help="the issue's sizes (2,000 streams, 15,000 idle)")
    args = ap.parse_args()
    sizes = dict(slow=200, never=100, streams=2000, idle=15000, draining=1000) if args.full else \
        dict(slow=20, never=8, streams=200, idle=2000, draining=200)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = sizes["idle"] + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    header_timeout, send_timeout, drain_timeout = 2, 1, 20
    server = subprocess.Popen(
        [args.bin, "server", "--host", HOST, "--port", "0", "--ttft", "0:0", "--itl", "5:0",
         "--header-timeout", f"{header_timeout}s", "--body-timeout", f"{header_timeout}s",
         "--send-timeout", f"{send_timeout}s", "--max-body-size", "1048576", "--drain-timeout", f"{drain_timeout}s"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "FAKEAI_DCGM_PORT": "off"})
    started = time.time()
    try:
        line = server.stdout.readline().decode()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)", line).group(1))
        while not healthy(port):
            time.sleep(0.05)
        warm_up(port)
        baseline = fds(server.pid)
        time.sleep(1.0)
        rss = rss_mib(server.pid)
        print(f"fakeai pid {server.pid} port {port}, {baseline} fds and {rss:.0f} MiB RSS at rest; "
              f"mode {'full' if args.full else 'quick'}")
        for name, attack in [
            ("the malformed requests", lambda: smuggling(port)),
            ("slowloris", lambda: slowloris(port, sizes["slow"], header_timeout)),
            ("the never-readers", lambda: never_readers(port, sizes["never"], send_timeout)),
            ("the vanishing clients", lambda: vanishing(port, sizes["streams"])),
            ("the idle connections", lambda: idle(port, sizes["idle"])),
            ("the WebSocket abuse", lambda: websocket(port)),
        ]:
            attack()
            check_rss(server.pid, rss, name)
        after = settle_fds(server.pid, baseline)
        check(after <= baseline + 4, f"fds back to baseline: {after} (baseline {baseline})")
        check(server.poll() is None, "the server is still running")
        sigterm_under_streams(server, port, sizes["draining"], 600, drain_timeout)
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(30)
    passed = sum(ok for ok, _ in results)
    print(f"\n{passed}/{len(results)} checks passed in {time.time() - started:.1f} s")
    if violations:
        print("violations:\n  " + "\n  ".join(violations))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
