#!/usr/bin/env bash
# Reproduces the PERFORMANCE.md scenarios: server pinned to core 0, load on core 1, each cell the
# median of RUNS runs (default 3). Needs wrk (apt) and a release build (cargo build --release).
# Usage: tools/perf.sh [scenario...]   scenarios: nonstream stream paced memory startup peers metrics-cost
#        (default: all but peers). `peers` needs the Python FakeAI: FAKEAI_PY=/path/to/venv/bin/fakeai,
#        and measures llmsim too when LLMSIM=/path/to/llmsim (`cargo install llmsim`).
#        CLOCK=kernel times paced events by when their bytes reached the client socket (fakeai-bench --clock).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
BIN=target/release/fakeai
BENCH=target/release/fakeai-bench
PORT=18500
scenarios=${*:-nonstream stream paced memory startup}

start_server() { # args...
  taskset -c 0 "$BIN" server --port $PORT --workers 1 --cpus 0 "$@" >/tmp/fakeai-perf-server.log 2>&1 &
  SERVER=$!
  for _ in $(seq 200); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.01; done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$SERVER/stat"; }
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
server_delays() { curl -s "127.0.0.1:$PORT/metrics?format=json" | python3 -c "import json,sys; m=json.load(sys.stdin); l, r = m['emit_lateness_ms'], m['read_delay_ms']; print(l['p50'], l['p99'], r['p99'])"; }

wrk_run() { # body-file conns -> "req/s cpu_us_per_req"
  local body=$1 conns=$2 t0 t1 out rps
  t0=$(cpu_ticks)
  out=$(BODY_FILE=$body taskset -c 1 wrk -t1 -c"$conns" -d5s -s tools/wrk_post.lua "http://127.0.0.1:$PORT${API:-}/v1/chat/completions")
  t1=$(cpu_ticks)
  if grep -q "Non-2xx" <<<"$out"; then echo "non-2xx responses" >&2; exit 1; fi
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v r="$rps" -v t=$((t1 - t0)) 'BEGIN {printf "%.0f %.2f\n", r, t * 10000 / (r * 5)}'
}

if [[ " $scenarios " == *" nonstream "* ]]; then
  echo '{"model":"m","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true}' >/tmp/perf-nonstream.json
  start_server --ttft 0:0 --itl 0:0
  for c in 100 1000; do
    rows=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-nonstream.json $c; done)
    echo "nonstream c=$c: req/s $(cut -d' ' -f1 <<<"$rows" | median)  server_cpu_us/req $(cut -d' ' -f2 <<<"$rows" | median)"
  done
  stop_server
fi

if [[ " $scenarios " == *" stream "* ]]; then
  echo '{"model":"m","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}' >/tmp/perf-stream.json
  start_server --ttft 0:0 --itl 0:0
  rows=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-stream.json 100; done)
  rps=$(cut -d' ' -f1 <<<"$rows" | median); us=$(cut -d' ' -f2 <<<"$rows" | median)
  echo "stream zero-latency 64 tokens c=100: streams/s $rps  events/s $((rps * 64))  server_cpu_ns/event $(awk -v u="$us" 'BEGIN {printf "%.0f", u * 1000 / 64}')"
  stop_server
fi

paced() { # streams itl tokens requests
  local streams=$1 itl=$2 tokens=$3 requests=$4 t0 t1 j
  # Requests started while connections still ramp up (4,000/s) are not measured: warm up 1 s past the ramp.
  local warmup; warmup=$(awk -v s="$streams" 'BEGIN {w = s / 4000 + 1; print (w < 2 ? 2 : w) "s"}')
  start_server --ttft 50:0 --itl "$itl:0"
  t0=$(cpu_ticks)
  j=$(taskset -c 1 "$BENCH" --url "http://127.0.0.1:$PORT" --concurrency "$streams" --requests "$requests" \
      --max-tokens "$tokens" --expect-ttft 50 --expect-itl "$itl" --cpus 1 --warmup "$warmup" --duration 60s --clock "${CLOCK:-read}" --json)
  t1=$(cpu_ticks)
  local late; late=$(server_delays)
  stop_server
  python3 - "$j" "$((t1 - t0))" "$late" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); ticks = int(sys.argv[2]); late = sys.argv[3].split()
t, i = r["ttft_ms"], r["itl_ms"]
print(f'{r["requests_ok"]} {sum(r["errors"].values())} {r["events_per_s"]:.0f} {t["p50"]:.2f} {t["p99"]:.2f} '
      f'{i["mean"]:.3f} {i["p50"]:.3f} {i["p99"]:.3f} {i["error_vs_config"]["mean_pct"]:.2f} '
      f'{ticks / r["duration_s"]:.0f} {float(late[0]):.2f} {float(late[1]):.2f} {float(late[2]):.2f}')
PY
}

if [[ " $scenarios " == *" paced "* ]]; then
  echo "paced (clock ${CLOCK:-read}): streams itl_ms | ok errors events/s ttft_p50 ttft_p99 itl_mean itl_p50 itl_p99 itl_mean_err_% server_cpu_% lateness_p50 lateness_p99 read_delay_p99 (medians of $RUNS)"
  for cfg in "1000 10 100 6000" "1000 50 40 4000" "2000 10 100 10000" "5000 10 100 20000" "10000 50 100 20000"; do
    read -r streams itl tokens requests <<<"$cfg"
    rows=$(for _ in $(seq "$RUNS"); do paced "$streams" "$itl" "$tokens" "$requests"; done)
    med=$(for col in $(seq 13); do cut -d' ' -f"$col" <<<"$rows" | median; done | tr '\n' ' ')
    echo "paced: $streams $itl | $med"
  done
fi

if [[ " $scenarios " == *" memory "* ]]; then
  start_server --ttft 0:0 --itl 0:0 ${MEMORY_ARGS:-}
  base=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
  python3 - "$PORT" "$SERVER" "$base" <<'PY'
import socket, sys, time
port, pid, base = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    return int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
conns = []
for i in range(9000):
    s = socket.create_connection(("127.0.0.1", port)); conns.append(s)
    if i % 500 == 0: time.sleep(0.05)
for s in conns:
    s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
for s in conns:
    s.recv(4096)
time.sleep(0.5)
idle = rss()
print(f"memory: {len(conns)} idle keep-alive connections: RSS +{(idle - base) / 1024:.1f} MiB = {(idle - base) * 1024 / len(conns):.0f} B/connection")
PY
  stop_server
  start_server --ttft 0:0 --itl 60000:0
  base=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER/status")
  python3 - "$PORT" "$SERVER" "$base" <<'PY'
import socket, sys, time
port, pid, base = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def rss():
    return int(next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS")))
body = b'{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":3,"ignore_eos":true,"stream":true}'
req = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
conns = []
for i in range(9000):
    s = socket.create_connection(("127.0.0.1", port)); conns.append(s)
    s.sendall(req)
    if i % 500 == 0: time.sleep(0.05)
time.sleep(1.0)
active = rss()
print(f"memory: {len(conns)} active streams (waiting between tokens): RSS +{(active - base) / 1024:.1f} MiB = {(active - base) * 1024 / len(conns):.0f} B/stream")
PY
  stop_server
fi

# What metrics recording costs: streaming at full load against the normal build and against one
# with recording compiled out (--features no-metrics), alternating runs; then /metrics scrape
# latency while the single worker streams flat out.
if [[ " $scenarios " == *" metrics-cost "* ]]; then
  OFF_BIN=target/no-metrics/release/fakeai
  cargo build --release --features no-metrics --target-dir target/no-metrics --bin fakeai >/dev/null 2>&1
  echo '{"model":"m","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}' >/tmp/perf-stream.json
  ON_BIN=$BIN; on=""; off=""
  for _ in $(seq "$RUNS"); do
    BIN=$ON_BIN start_server --ttft 0:0 --itl 0:0; on+="$(wrk_run /tmp/perf-stream.json 100)"$'\n'; stop_server
    BIN=$OFF_BIN start_server --ttft 0:0 --itl 0:0; off+="$(wrk_run /tmp/perf-stream.json 100)"$'\n'; stop_server
  done
  BIN=$ON_BIN
  col() { grep . <<<"$1" | cut -d' ' -f"$2"; }
  echo "metrics-cost: streams/s on: $(col "$on" 1 | tr '\n' ' ')| off: $(col "$off" 1 | tr '\n' ' ')"
  echo "metrics-cost: server CPU us/stream on: $(col "$on" 2 | tr '\n' ' ')| off: $(col "$off" 2 | tr '\n' ' ')"
  awk -v a="$(col "$on" 1 | median)" -v b="$(col "$off" 1 | median)" -v c="$(col "$on" 2 | median)" -v d="$(col "$off" 2 | median)" \
    'BEGIN {printf "metrics-cost: medians: streams/s on %d off %d (%.2f %% fewer); server CPU per 64-token stream on %.2f us off %.2f us (%.2f %% more)\n", a, b, (1 - a / b) * 100, c, d, (c / d - 1) * 100}'
  # The scraper runs on the client core at real-time priority, so that wrk (busy on the same
  # core) does not starve it: what is measured is the server's answer time.
  scrapes() { # label -> p50/p99/max of 200 keep-alive scrapes of /metrics, 50 ms apart
    taskset -c 1 chrt -f 10 python3 - "$PORT" "$1" <<'PY'
import http.client, sys, time
port, label = int(sys.argv[1]), sys.argv[2]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
ms = []
for _ in range(200):
    t = time.perf_counter(); c.request("GET", "/metrics"); body = c.getresponse().read()
    ms.append((time.perf_counter() - t) * 1e3); time.sleep(0.05)
ms.sort()
print(f"metrics-cost: scrape latency {label}: p50 {ms[99]:.2f} ms, p99 {ms[197]:.2f} ms, max {ms[-1]:.2f} ms "
      f"(n=200, {len(body)} bytes, keep-alive)")
PY
  }
  start_server --ttft 0:0 --itl 0:0
  for c in 1 2 3; do wrk_run /tmp/perf-stream.json 100 >/dev/null; done &
  load=$!
  sleep 1
  scrapes "while the worker streams flat out (wrk c=100, zero latency)"
  wait "$load"
  scrapes "idle"
  stop_server
fi

if [[ " $scenarios " == *" startup "* ]]; then
  tools/startup.sh "$BIN" 11
fi

# Side by side with the Python FakeAI from PyPI, same machine, same pinning, same load.
peer_cell() { # label server-start-fn -> prints one row
  local label=$1; shift
  "$@"
  local ns st paced
  ns=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-nonstream.json 100; done | cut -d' ' -f1 | median)
  st=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-stream.json 100; done | cut -d' ' -f1 | median)
  paced=$(taskset -c 1 "$BENCH" --url "http://127.0.0.1:$PORT${API:-}" --model openai/gpt-oss-120b --concurrency 100 \
      --requests 300 --max-tokens 64 --expect-ttft 20 --expect-itl 5 --cpus 1 --duration 60s --json \
    | python3 -c "import json,sys; r=json.load(sys.stdin); t,i=r['ttft_ms'],r['itl_ms']; print(f\"{r['requests_ok']} {r['events_per_s']:.0f} {t['p50']:.1f} {t['p99']:.1f} {i['p50']:.2f} {i['p99']:.2f}\")")
  stop_server
  echo "peers: $label | nonstream_req/s $ns | stream_20/5_streams/s $st | paced c=100 ok/events_s/ttft_p50/ttft_p99/itl_p50/itl_p99: $paced"
}
start_python_fakeai() {
  FAKEAI_GENERATION__TTFT_MS=${PY_TTFT:-20} FAKEAI_GENERATION__ITL_MS=${PY_ITL:-5} \
    FAKEAI_GENERATION__TTFT_VARIANCE_PERCENT=0 FAKEAI_GENERATION__ITL_VARIANCE_PERCENT=0 \
    taskset -c 0 "$FAKEAI_PY" server --host 127.0.0.1 --port $PORT >/tmp/fakeai-py-server.log 2>&1 &
  SERVER=$!
  for _ in $(seq 3000); do curl -sf "127.0.0.1:$PORT/health" | grep -q healthy && return; sleep 0.01; done
  echo "python fakeai did not start" >&2; exit 1
}
start_llmsim() { # llmsim 0.6.0: latency and length from a config file; routes under /openai
  cat >/tmp/llmsim-perf.toml <<EOF
[server]
port = $PORT
host = "127.0.0.1"
[latency]
ttft_mean_ms = 20
ttft_stddev_ms = 0
tbt_mean_ms = 5
tbt_stddev_ms = 0
[response]
target_tokens = 64
EOF
  # Its per-request INFO/DEBUG logging is switched off so that it is measured at its best.
  RUST_LOG=error taskset -c 0 "$LLMSIM" serve --config /tmp/llmsim-perf.toml >/tmp/llmsim-server.log 2>&1 &
  SERVER=$!
  for _ in $(seq 3000); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && return; sleep 0.01; done
  echo "llmsim did not start" >&2; exit 1
}
if [[ " $scenarios " == *" peers "* ]]; then
  : "${FAKEAI_PY:?set FAKEAI_PY to the fakeai executable of the Python FakeAI}"
  echo '{"model":"openai/gpt-oss-120b","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true}' >/tmp/perf-nonstream.json
  echo '{"model":"openai/gpt-oss-120b","messages":[{"role":"user","content":"Hello, how are you today?"}],"max_tokens":64,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true}}' >/tmp/perf-stream.json
  # Both servers: TTFT 20 ms, ITL 5 ms, no delay on non-streaming (FakeAI applies none).
  peer_cell "fakeai (rust)" start_server --ttft 20:0 --itl 5:0 --non-streaming-delay false
  peer_cell "FakeAI 0.3.2 (python)" start_python_fakeai
  if [[ -n "${LLMSIM:-}" ]]; then API=/openai peer_cell "llmsim 0.6.0" start_llmsim; fi
  python3 - <<'PY'
import statistics, subprocess, time, http.client, os
def startup(cmd, env=None):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", 18500, timeout=1); c.request("GET", "/health")
            r = c.getresponse()
            body = r.read()
            if r.status == 200 and (b"healthy" in body or b"llmsim" in body): break
        except OSError: pass
        time.sleep(0.002)
    t = (time.perf_counter() - t0) * 1e3; p.terminate(); p.wait(); return t
rs = [startup(["target/release/fakeai", "server", "--port", "18500"]) for _ in range(3)]
py = [startup([os.environ["FAKEAI_PY"], "server", "--host", "127.0.0.1", "--port", "18500"]) for _ in range(3)]
print(f"peers: startup to healthy: fakeai {statistics.median(rs):.1f} ms, FakeAI (python) {statistics.median(py):.0f} ms, ratio {statistics.median(py)/statistics.median(rs):.0f}x")
if os.environ.get("LLMSIM"):
    env = dict(os.environ, RUST_LOG="error")
    ll = [startup([os.environ["LLMSIM"], "serve", "--config", "/tmp/llmsim-perf.toml"], env) for _ in range(3)]
    print(f"peers: startup to healthy: llmsim {statistics.median(ll):.1f} ms, ratio {statistics.median(ll)/statistics.median(rs):.1f}x")
PY
fi
