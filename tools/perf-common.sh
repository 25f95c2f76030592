# Shared by tools/perf.sh and tools/peers.sh (sourced, not run): the server on core 0, the load on
# core 1, and the helpers that measure one cell.
BIN=${BIN:-target/release/fakeai}
BENCH=${BENCH:-target/release/fakeai-bench}
PORT=${PORT:-18500}

# Waits until /health on $PORT answers 200 with a body matching $1 (any body by default).
wait_healthy() {
  for _ in $(seq 3000); do curl -sf "127.0.0.1:$PORT/health" | grep -q "${1:-}" && return; sleep 0.01; done
  echo "server on port $PORT did not start" >&2; exit 1
}
start_server() { # fakeai server args...
  taskset -c 0 "$BIN" server --port "$PORT" --workers 1 --cpus 0 "$@" >/tmp/fakeai-perf-server.log 2>&1 &
  SERVER=$!
  wait_healthy
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$SERVER/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
# fakeai-bench on core 1 at real-time priority: at 10,000 streams, other threads on the client's
# core (kernel workers, softirqs) delayed its reads and added up to ~2 ms to read-clock TTFT p99
# (51.0-52.6 ms against 50.7 with it, same server). CLIENT_PRIO= runs it at normal priority.
bench_client() { taskset -c 1 ${CLIENT_PRIO-chrt -f 10} "$BENCH" "$@"; }
# Requests started while connections still ramp up (4,000/s) are not measured: 1 s past the ramp, 2 s at least.
warmup_for() { awk -v s="$1" 'BEGIN {w = s / 4000 + 1; print (w < 2 ? 2 : w) "s"}'; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

wrk_run() { # body-file conns -> "req/s cpu_us_per_req" over 5 s of wrk on core 1; $API prefixes $REQ_PATH (default: chat)
  local body=$1 conns=$2 t0 t1 out rps
  t0=$(cpu_ticks)
  out=$(BODY_FILE=$body taskset -c 1 wrk -t1 -c"$conns" -d5s -s tools/wrk_post.lua "http://127.0.0.1:$PORT${API:-}${REQ_PATH:-/v1/chat/completions}")
  t1=$(cpu_ticks)
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx responses" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v r="$rps" -v t=$((t1 - t0)) 'BEGIN {printf "%.0f %.2f\n", r, t * 10000 / (r * 5)}'
}

# Chat request bodies: 64 tokens with ignore_eos, non-streaming and streaming (with usage).
write_bodies() { # model
  echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello, how are you today?\"}],\"max_tokens\":64,\"ignore_eos\":true}" >/tmp/perf-nonstream.json
  echo "{\"model\":\"$1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello, how are you today?\"}],\"max_tokens\":64,\"ignore_eos\":true,\"stream\":true,\"stream_options\":{\"include_usage\":true}}" >/tmp/perf-stream.json
}

# RSS per connection of the server in $SERVER: N keep-alive connections that each made one request
# (`idle`), or N streams that have each begun and wait between tokens (`active`; the server must
# be configured slow enough that none ends during the measurement).
rss_per_connection() { # idle|active N
  local base; base=$(rss_kib)
  python3 - "$PORT" "$SERVER" "$base" "$1" "$2" "${API:-}" "${MEMORY_MODEL:-m}" <<'PY'
import socket, sys, time
port, pid, base, mode, n, api, model = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]), sys.argv[6], sys.argv[7]
def rss():
    return int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
body = b'{"model":"%s","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"ignore_eos":true,"stream":true}' % model.encode()
stream = b"POST %s/v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (api.encode(), len(body), body)
health = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port)); conns.append(s)
    if mode == "active":
        s.sendall(stream)
    if i % 500 == 0: time.sleep(0.05)
if mode == "idle":
    for s in conns:
        s.sendall(health)
# Every response has begun (a slow server may still be reading requests when the last is sent).
for s in conns:
    s.settimeout(120)
    s.recv(4096 if mode == "idle" else 1)
time.sleep(0.5)
now = rss()
print(f"{(now - base) * 1024 / n:.0f}")
PY
}

# The emit lateness of the events the server sent between two scrapes of its /metrics (from its
# fakeai_emit_lateness_seconds buckets, interpolated within them).
window_lateness() { # scrape-before scrape-after -> "p50_ms p99_ms share_over_2ms_%"
  python3 - "$1" "$2" <<'PY'
import re, sys
def buckets(text):
    return {float(m[1]): float(m[2]) for m in re.finditer(r'fakeai_emit_lateness_seconds_bucket\{le="([^"]+)"\} (\S+)', text)}
a, b = buckets(sys.argv[1]), buckets(sys.argv[2])
les = sorted(b); cum = [b[l] - a.get(l, 0) for l in les]; n = cum[-1] or 1
def q(p):
    lo, below = 0.0, 0.0
    for le, c in zip(les, cum):
        if c >= p * n:
            return (lo if le == float("inf") else lo + (le - lo) * (p * n - below) / max(c - below, 1)) * 1e3
        lo, below = le, c
print(f"{q(.5):.2f} {q(.99):.2f} {(n - cum[les.index(0.002)]) / n * 100:.2f}")
PY
}
