#!/usr/bin/env bash
# Reproduces the PERFORMANCE.md scenarios: server pinned to core 0, load on core 1, each cell the
# median of RUNS runs (default 3). Needs wrk (apt) and a release build (cargo build --release).
# Usage: tools/perf.sh [scenario...]   scenarios: nonstream stream paced open memory startup peers metrics-cost
#        (default: all but peers and metrics-cost). `peers` runs tools/peers.sh (see there).
#        CLOCK=kernel times paced events by when their bytes reached the client socket (fakeai-bench --clock).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
source tools/perf-common.sh
scenarios=${*:-nonstream stream paced open memory startup}
# The server's own emit lateness p50/p99 and request read delay p99, in ms.
server_delays() { curl -s "127.0.0.1:$PORT/metrics?format=json" | python3 -c "import json,sys; m=json.load(sys.stdin); l, r = m['emit_lateness_ms'], m['read_delay_ms']; print(l['p50'], l['p99'], r['p99'])"; }

if [[ " $scenarios " == *" nonstream "* ]]; then
  write_bodies m
  start_server --ttft 0:0 --itl 0:0
  for c in 100 1000; do
    rows=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-nonstream.json $c; done)
    echo "nonstream c=$c: req/s $(cut -d' ' -f1 <<<"$rows" | median)  server_cpu_us/req $(cut -d' ' -f2 <<<"$rows" | median)"
  done
  stop_server
fi

if [[ " $scenarios " == *" stream "* ]]; then
  write_bodies m
  start_server --ttft 0:0 --itl 0:0
  rows=$(for _ in $(seq "$RUNS"); do wrk_run /tmp/perf-stream.json 100; done)
  rps=$(cut -d' ' -f1 <<<"$rows" | median); us=$(cut -d' ' -f2 <<<"$rows" | median)
  echo "stream zero-latency 64 tokens c=100: streams/s $rps  events/s $((rps * 64))  server_cpu_ns/event $(awk -v u="$us" 'BEGIN {printf "%.0f", u * 1000 / 64}')"
  stop_server
fi

paced() { # streams itl tokens requests
  local streams=$1 itl=$2 tokens=$3 requests=$4 t0 t1 j
  start_server --ttft 50:0 --itl "$itl:0"
  t0=$(cpu_ticks)
  j=$(bench_client --url "http://127.0.0.1:$PORT" --concurrency "$streams" --requests "$requests" \
      --max-tokens "$tokens" --expect-ttft 50 --expect-itl "$itl" --cpus 1 --warmup "$(warmup_for "$streams")" --duration 60s --clock "${CLOCK:-read}" --json)
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

# 200,000 events/s offered on one core: an open loop of 2,000 requests/s x 100 tokens (ITL 10 ms,
# TTFT 50 ms; ~2,080 streams at once), with what the server delivered read from its own event
# counter over 10 s of steady state.
paced_open() { # -> "ok errors delivered_events/s ttft_p50 ttft_p99 itl_mean itl_p99 itl_mean_err_% server_cpu_%"
  local c0 c1 t0 t1
  start_server --ttft 50:0 --itl 10:0
  events() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^fakeai_sse_events_total / {print $2}'; }
  bench_client --url "http://127.0.0.1:$PORT" --rate 2000 --arrival constant --requests 30000 \
    --max-tokens 100 --expect-ttft 50 --expect-itl 10 --cpus 1 --warmup 3s --duration 60s --clock "${CLOCK:-read}" \
    --json >/tmp/perf-open.json &
  local bench=$!
  sleep 4; c0=$(events); t0=$(cpu_ticks); sleep 10; c1=$(events); t1=$(cpu_ticks)
  wait "$bench"
  stop_server
  python3 - "$c0" "$c1" "$((t1 - t0))" <<'PY'
import json, sys
r = json.load(open("/tmp/perf-open.json")); c0, c1, ticks = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
t, i = r["ttft_ms"], r["itl_ms"]
print(f'{r["requests_ok"]} {sum(r["errors"].values())} {(c1 - c0) / 10:.0f} {t["p50"]:.2f} {t["p99"]:.2f} '
      f'{i["mean"]:.3f} {i["p99"]:.3f} {i["error_vs_config"]["mean_pct"]:.2f} {ticks / 10:.0f}')
PY
}
if [[ " $scenarios " == *" open "* ]]; then
  echo "open (clock ${CLOCK:-read}): 2,000 req/s x 100 tokens | ok errors delivered_events/s ttft_p50 ttft_p99 itl_mean itl_p99 itl_mean_err_% server_cpu_% (medians of $RUNS)"
  rows=$(for _ in $(seq "$RUNS"); do paced_open; done)
  echo "open: runs: $(tr '\n' ';' <<<"$rows")"
  echo "open: 2000 100 | $(for col in $(seq 9); do cut -d' ' -f"$col" <<<"$rows" | median; done | tr '\n' ' ')"
fi

if [[ " $scenarios " == *" memory "* ]]; then
  start_server --ttft 0:0 --itl 0:0 ${MEMORY_ARGS:-}
  echo "memory: 9000 idle keep-alive connections: $(rss_per_connection idle 9000) B/connection"
  stop_server
  start_server --ttft 0:0 --itl 60000:0
  echo "memory: 9000 active streams (waiting between tokens): $(rss_per_connection active 9000) B/stream"
  stop_server
fi

# What metrics recording costs: streaming at full load against the normal build and against one
# with recording compiled out (--features no-metrics), alternating runs; then /metrics scrape
# latency while the single worker streams flat out.
if [[ " $scenarios " == *" metrics-cost "* ]]; then
  OFF_BIN=target/no-metrics/release/fakeai
  cargo build --release --features no-metrics --target-dir target/no-metrics --bin fakeai >/dev/null 2>&1
  write_bodies m
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

if [[ " $scenarios " == *" peers "* ]]; then
  tools/peers.sh
fi
