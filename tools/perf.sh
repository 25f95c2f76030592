#!/usr/bin/env bash
# Reproduces the PERFORMANCE.md scenarios: server pinned to core 0, load on core 1, each cell the
# median of RUNS runs (default 3). Needs wrk (apt) and a release build (cargo build --release).
# Usage: tools/perf.sh [scenario...]   scenarios: nonstream stream embeddings paced floor open memory startup peers metrics-cost
#        (default: all but peers and metrics-cost). `peers` runs tools/peers.sh (see there).
#        CLOCK=kernel times paced events by when their bytes reached the client socket (fakeai-bench --clock).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
source tools/perf-common.sh
scenarios=${*:-nonstream stream paced open memory startup}

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

# Embeddings at 1,536 dimensions: 1 and 32 inputs, float and base64, a short sentence per input,
# and one cell with AIPerf's 128-word inputs; wrk c=50 (closed loop) with the simulated encoder
# latency off, so the server's own cost is what limits: requests/s and server CPU per request.
if [[ " $scenarios " == *" embeddings "* ]]; then
  start_server --embedding-latency 0:0 --embedding-tps 0
  words=$(python3 -c "import random; random.seed(1); print(' '.join(random.choice(['the','quick','brown','fox','model','token','server','latency','vector','search']) for _ in range(128)))")
  for cell in "1 base64 short" "1 float short" "32 base64 short" "32 float short" "1 base64 long"; do
    read -r n format size <<<"$cell"
    text="The quick brown fox jumps over the lazy dog today."; [ "$size" = long ] && text=$words
    python3 -c "import json, sys; print(json.dumps({'model': 'text-embedding-3-small', 'encoding_format': sys.argv[2], 'input': [sys.argv[3]] * int(sys.argv[1]) if int(sys.argv[1]) > 1 else sys.argv[3]}))" \
      "$n" "$format" "$text" >/tmp/perf-embed.json
    rows=$(for _ in $(seq "$RUNS"); do REQ_PATH=/v1/embeddings wrk_run /tmp/perf-embed.json 50; done)
    echo "embeddings inputs=$n $format $size: req/s $(cut -d' ' -f1 <<<"$rows" | median)  server_cpu_us/req $(cut -d' ' -f2 <<<"$rows" | median)"
  done
  stop_server
fi

# The paced closed loops, judged per event. Streams start evenly over one request's duration, so
# requests arrive at a steady rate (not in generations of thousands at once), and everything is
# measured from one request's duration + 1 s on: TTFT, per-request ITL, the client's inter-chunk
# gaps and the share of events that arrived coalesced (in one read with the one before), and the
# server's emit lateness over the same window (from its Prometheus buckets, interpolated within
# them). PACED_CELLS overrides the grid ("streams itl tokens generations;...", generations measured);
# PACED_FLAGS adds server flags (e.g. an engine whose steps take the cell's ITL).
# `floor` runs the same cells against tools/sendfloor.rs, a sender that does nothing but the sends.
steady() { # streams itl tokens generations -> "ramp_per_s warmup_s requests": the generations measured come after the warm-up
  python3 -c "import math; d = (50 + $2 * ($3 - 1)) / 1000; r = min(4000, $1 / d); w = $1 / r + 1; print(f'{r:.0f} {w:.2f} {$1 * (math.ceil(w / d) + $4)}')"
}
# Core 0's busy and total ticks ("busy,total"): the server's process time misses the softirq work
# its sends cause (on loopback the sender's core runs the receiver's TCP processing), so a core
# can be saturated while the process shows 80 %.
core0_ticks() { awk '/^cpu0 / {print $2+$3+$4+$7+$8+$9 "," $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
paced() { # streams itl tokens generations [floor] -> one row of figures
  local streams=$1 itl=$2 tokens=$3 gens=$4 target=${5:-fakeai} ramp warm requests m0 m1 c0 c1 w0 w1 late
  read -r ramp warm requests <<<"$(steady "$streams" "$itl" "$tokens" "$gens")"
  if [[ $target == floor ]]; then
    taskset -c 0 target/release/sendfloor --port "$PORT" --ttft 50 --itl "$itl" --measure-after "$warm" >/tmp/perf-floor.out &
    SERVER=$!; sleep 0.3
  else
    # shellcheck disable=SC2086 # PACED_FLAGS is a list of flags
    start_server --ttft 50:0 --itl "$itl:0" ${PACED_FLAGS:-}
  fi
  bench_client --url "http://127.0.0.1:$PORT" --concurrency "$streams" --requests "$requests" --ramp "$ramp" \
    --max-tokens "$tokens" --expect-ttft 50 --expect-itl "$itl" --cpus 1 --warmup "${warm}s" --duration 120s \
    --clock "${CLOCK:-read}" --json >/tmp/perf-paced.json &
  local bench=$!
  sleep "$warm"
  [[ $target == floor ]] || m0=$(curl -s "127.0.0.1:$PORT/metrics")
  c0=$(cpu_ticks); k0=$(core0_ticks); w0=$(date +%s.%N)
  wait "$bench"
  c1=$(cpu_ticks); k1=$(core0_ticks); w1=$(date +%s.%N)
  if [[ $target == floor ]]; then
    kill -INT "$SERVER"; wait "$SERVER" || true
    late=$(awk '{split($7, l, "/"); sub("%", "", $9); print l[1], l[3], $9}' /tmp/perf-floor.out)
  else
    m1=$(curl -s "127.0.0.1:$PORT/metrics"); stop_server
    late=$(window_lateness "$m0" "$m1")
  fi
  python3 - "$((c1 - c0))" "$w0" "$w1" "$late" "$k0" "$k1" <<'PY'
import json, sys
r = json.load(open("/tmp/perf-paced.json")); ticks = int(sys.argv[1]); wall = float(sys.argv[3]) - float(sys.argv[2])
(b0, t0), (b1, t1) = (map(int, a.split(",")) for a in sys.argv[5:7])
t, i, g = r["ttft_ms"], r["itl_ms"], r["inter_chunk_ms"]
print(f'{r["requests_ok"]} {sum(r["errors"].values())} {t["p50"]:.2f} {t["p99"]:.2f} {i["error_vs_config"]["mean_pct"]:.2f} '
      f'{g["p50"]:.2f} {g["p90"]:.2f} {g["p99"]:.2f} {r["coalesced_share"] * 100:.2f} {sys.argv[4]} {ticks / wall:.0f} {(b1 - b0) * 100 / max(t1 - t0, 1):.0f}')
PY
}

for target in paced floor; do
  if [[ " $scenarios " == *" $target "* ]]; then
    echo "$target (clock ${CLOCK:-read}): streams itl_ms events/s | ok errors ttft_p50 ttft_p99 itl_mean_err_% gap_p50 gap_p90 gap_p99 coalesced_% lateness_p50 lateness_p99 lateness_over_2ms_% server_cpu_% core0_busy_% (medians of $RUNS)"
    IFS=';' read -ra cells <<<"${PACED_CELLS:-1000 10 100 4;1000 50 40 4;1500 10 100 4;2000 10 100 4;10000 100 100 2;10000 50 100 2}"
    for cell in "${cells[@]}"; do
      read -r streams itl tokens gens <<<"$cell"
      rows=$(for _ in $(seq "$RUNS"); do paced "$streams" "$itl" "$tokens" "$gens" "${target/paced/fakeai}"; done)
      med=$(for col in $(seq 15); do cut -d' ' -f"$col" <<<"$rows" | median; done | tr '\n' ' ')
      echo "$target: $streams $itl $((streams * 1000 / itl)) | $med"
    done
  fi
done

# 200,000 events/s offered on one core: an open loop of 2,000 requests/s x 100 tokens (ITL 10 ms,
# TTFT 50 ms; ~2,080 streams at once), with what the server delivered read from its own event
# counter over 10 s of steady state.
paced_open() { # -> "ok errors delivered_events/s ttft_p50 ttft_p99 itl_mean itl_p99 itl_mean_err_% gap_p50 gap_p90 gap_p99 coalesced_% lateness_p50 lateness_p99 lateness_over_2ms_% server_cpu_% core0_busy_%"
  local m0 m1 t0 t1 k0 k1
  start_server --ttft 50:0 --itl 10:0
  events() { awk '/^fakeai_sse_events_total / {print $2}' <<<"$1"; }
  bench_client --url "http://127.0.0.1:$PORT" --rate 2000 --arrival constant --requests 30000 \
    --max-tokens 100 --expect-ttft 50 --expect-itl 10 --cpus 1 --warmup 3s --duration 60s --clock "${CLOCK:-read}" \
    --json >/tmp/perf-open.json &
  local bench=$!
  sleep 4; m0=$(curl -s "127.0.0.1:$PORT/metrics"); t0=$(cpu_ticks); k0=$(core0_ticks)
  sleep 10; m1=$(curl -s "127.0.0.1:$PORT/metrics"); t1=$(cpu_ticks); k1=$(core0_ticks)
  wait "$bench"
  stop_server
  python3 - "$(events "$m0")" "$(events "$m1")" "$((t1 - t0))" "$(window_lateness "$m0" "$m1")" "$k0" "$k1" <<'PY'
import json, sys
r = json.load(open("/tmp/perf-open.json")); c0, c1, ticks = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
(b0, w0), (b1, w1) = (map(int, a.split(",")) for a in sys.argv[5:7])
t, i, g = r["ttft_ms"], r["itl_ms"], r["inter_chunk_ms"]
print(f'{r["requests_ok"]} {sum(r["errors"].values())} {(c1 - c0) / 10:.0f} {t["p50"]:.2f} {t["p99"]:.2f} '
      f'{i["mean"]:.3f} {i["p99"]:.3f} {i["error_vs_config"]["mean_pct"]:.2f} {g["p50"]:.2f} {g["p90"]:.2f} {g["p99"]:.2f} '
      f'{r["coalesced_share"] * 100:.2f} {sys.argv[4]} {ticks / 10:.0f} {(b1 - b0) * 100 / max(w1 - w0, 1):.0f}')
PY
}
if [[ " $scenarios " == *" open "* ]]; then
  echo "open (clock ${CLOCK:-read}): 2,000 req/s x 100 tokens | ok errors delivered_events/s ttft_p50 ttft_p99 itl_mean itl_p99 itl_mean_err_% gap_p50 gap_p90 gap_p99 coalesced_% lateness_p50 lateness_p99 lateness_over_2ms_% server_cpu_% core0_busy_% (medians of $RUNS)"
  rows=$(for _ in $(seq "$RUNS"); do paced_open; done)
  echo "open: runs: $(tr '\n' ';' <<<"$rows")"
  echo "open: 2000 100 | $(for col in $(seq 17); do cut -d' ' -f"$col" <<<"$rows" | median; done | tr '\n' ' ')"
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
