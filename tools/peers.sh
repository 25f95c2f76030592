#!/usr/bin/env bash
# The PERFORMANCE.md scenarios side by side: fakeai, the Python FakeAI (PyPI) and llmsim (crates.io),
# each in turn pinned to core 0 with the same settings and the same load from core 1, so that the
# ratios come from one run. Each cell is the median of RUNS runs (default 3).
# Usage: FAKEAI_PY=/path/to/venv/bin/fakeai [LLMSIM=/path/to/llmsim] [RUNS=3] tools/peers.sh [scenario...]
#   scenarios: nonstream stream paced memory startup (default: all)
#   Peers: `python3 -m venv V && V/bin/pip install fakeai pillow` (FakeAI 0.3.2 fails to import
#   without pillow) and `cargo install llmsim --locked`. Needs wrk and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
source tools/perf-common.sh
: "${FAKEAI_PY:?set FAKEAI_PY to the fakeai executable of the Python FakeAI}"
MODEL=meta-llama/Llama-3.1-8B-Instruct
servers="fakeai python${LLMSIM:+ llmsim}"
scenarios=${*:-nonstream stream paced memory startup}
declare -A CELL

start_peer() { # server ttft_ms itl_ms tokens
  local server=$1 ttft=$2 itl=$3 tokens=$4
  case $server in
    fakeai) start_server --ttft "$ttft:0" --itl "$itl:0" --non-streaming-delay false ;;
    python)
      FAKEAI_GENERATION__TTFT_MS=$ttft FAKEAI_GENERATION__ITL_MS=$itl \
        FAKEAI_GENERATION__TTFT_VARIANCE_PERCENT=0 FAKEAI_GENERATION__ITL_VARIANCE_PERCENT=0 \
        taskset -c 0 "$FAKEAI_PY" server --host 127.0.0.1 --port "$PORT" >/tmp/peer-python.log 2>&1 &
      SERVER=$!
      wait_healthy healthy ;;
    llmsim)
      llmsim_config "$ttft" "$itl" "$tokens"
      # Its per-request logging is off so that it is measured at its best.
      RUST_LOG=error taskset -c 0 "$LLMSIM" serve --config /tmp/llmsim-perf.toml >/tmp/peer-llmsim.log 2>&1 &
      SERVER=$!
      wait_healthy ;;
  esac
}
llmsim_config() { # ttft_ms itl_ms tokens: llmsim 0.6.0 takes latency and length from a file
  printf '[server]\nport = %s\nhost = "127.0.0.1"\n[latency]\nttft_mean_ms = %s\nttft_stddev_ms = 0\ntbt_mean_ms = %s\ntbt_stddev_ms = 0\n[response]\ntarget_tokens = %s\n' \
    "$PORT" "$1" "$2" "$3" >/tmp/llmsim-perf.toml
}
# Path prefix of a server's OpenAI routes (llmsim serves them under /openai).
api() { if [[ $1 == llmsim ]]; then echo /openai; fi; }

# Prints one scenario row: every server's value, then how many times better fakeai is than each
# peer (value ratio when higher is better, inverse when lower is better).
# `plain` prints the values only (a count or a timing that should equal its configuration).
report() { # label unit higher|lower|plain
  local label=$1 unit=$2 better=$3 line s f=${CELL[fakeai]}
  line="peers: $label:"
  for s in $servers; do line+=" $s ${CELL[$s]} $unit |"; done
  [[ $better == plain ]] && { echo "$line"; return; }
  for s in $servers; do
    [[ $s == fakeai ]] && continue
    line+=$(awk -v f="$f" -v p="${CELL[$s]}" -v b="$better" -v s="$s" \
      'BEGIN {if (f + 0 == 0 || p + 0 == 0) {printf " fakeai/%s n/a", s; exit}
              r = (b == "higher") ? f / p : p / f; printf " fakeai/%s %.3gx", s, r}')
  done
  echo "$line"
}

# Content events in one streamed response (a peer may ignore max_tokens or split words).
events_per_stream() { # server
  curl -sN "127.0.0.1:$PORT$(api "$1")/v1/chat/completions" -H 'content-type: application/json' -d @/tmp/perf-stream.json |
    python3 -c "
import json, sys
n = 0
for line in sys.stdin:
    if line.startswith('data: {'):
        for c in json.loads(line[6:]).get('choices') or []:
            n += bool((c.get('delta') or {}).get('content'))
print(n)"
}

write_bodies "$MODEL"

if [[ " $scenarios " == *" nonstream "* ]]; then # scenario 1
  for c in 100 1000; do
    declare -A CPU=()
    for s in $servers; do
      start_peer "$s" 0 0 64
      rows=$(for _ in $(seq "$RUNS"); do API=$(api "$s") wrk_run /tmp/perf-nonstream.json "$c"; done)
      CELL[$s]=$(cut -d' ' -f1 <<<"$rows" | median); CPU[$s]=$(cut -d' ' -f2 <<<"$rows" | median)
      stop_server
    done
    report "non-streaming chat, 64 tokens, zero latency, c=$c" req/s higher
    for s in $servers; do CELL[$s]=${CPU[$s]}; done
    report "server CPU per non-streaming request, c=$c" us lower
  done
fi

if [[ " $scenarios " == *" stream "* ]]; then # scenario 2
  declare -A CPU=() EVENTS=() STREAMS=()
  for s in $servers; do
    start_peer "$s" 0 0 64
    EVENTS[$s]=$(events_per_stream "$s")
    rows=$(for _ in $(seq "$RUNS"); do API=$(api "$s") wrk_run /tmp/perf-stream.json 100; done)
    STREAMS[$s]=$(cut -d' ' -f1 <<<"$rows" | median); CPU[$s]=$(cut -d' ' -f2 <<<"$rows" | median)
    stop_server
  done
  for s in $servers; do CELL[$s]=${EVENTS[$s]}; done
  report "content events per stream (64 asked, ignore_eos)" events plain
  for s in $servers; do CELL[$s]=${STREAMS[$s]}; done
  report "zero-latency streams/s, c=100" streams/s higher
  for s in $servers; do CELL[$s]=$((STREAMS[$s] * EVENTS[$s])); done
  report "zero-latency SSE content events/s, c=100" events/s higher
  for s in $servers; do CELL[$s]=$(awk -v u="${CPU[$s]}" -v e="${EVENTS[$s]}" 'BEGIN {printf "%.0f", u * 1000 / e}'); done
  report "server CPU per SSE content event" ns lower
fi

paced_peer() { # server streams ttft itl tokens requests -> "ok errors events/s ttft_p50 ttft_p99 itl_mean itl_p99 error-kinds"
  local s=$1 streams=$2 ttft=$3 itl=$4 tokens=$5 requests=$6
  start_peer "$s" "$ttft" "$itl" "$tokens"
  bench_client --url "http://127.0.0.1:$PORT$(api "$s")" --model "$MODEL" --concurrency "$streams" \
      --requests "$requests" --max-tokens "$tokens" --expect-ttft "$ttft" --expect-itl "$itl" --cpus 1 \
      --warmup "$(warmup_for "$streams")" --duration 30s --timeout 30s --json |
    python3 -c "
import json, sys
r = json.load(sys.stdin); t, i = r['ttft_ms'], r['itl_ms']
kinds = ','.join(sorted({k.split(' ')[0] for k in r['errors']})) or '-'
print(r['requests_ok'], sum(r['errors'].values()), round(r['events_per_s']), *(f'{d.get(k) or 0:.2f}' for d, k in
      [(t, 'p50'), (t, 'p99'), (i, 'mean'), (i, 'p99')]), kinds)"
  stop_server
}
if [[ " $scenarios " == *" paced "* ]]; then # scenario 3, and the light load every peer can carry
  # streams ttft itl tokens requests; PACED="…;…" picks other rows
  IFS=';' read -ra configs <<<"${PACED:-100 20 5 64 1500;1000 50 10 100 6000;2000 50 10 100 10000;5000 50 10 100 20000;10000 50 50 100 20000}"
  for cfg in "${configs[@]}"; do
    read -r streams ttft itl tokens requests <<<"$cfg"
    declare -A ROWS=()
    for s in $servers; do
      ROWS[$s]=$(for _ in $(seq "$RUNS"); do paced_peer "$s" "$streams" "$ttft" "$itl" "$tokens" "$requests"; done)
      echo "peers: paced $streams streams TTFT $ttft ITL $itl, $s runs (ok errors events/s ttft_p50 ttft_p99 itl_mean itl_p99 error-kinds):" $(tr '\n' ';' <<<"${ROWS[$s]}")
    done
    col=3
    # Timing is better the closer it is to the configuration, not the lower: it is shown plainly.
    for what in "content events/s:events/s:higher" "TTFT p50:ms:plain" "TTFT p99:ms:plain" "ITL mean:ms:plain" "ITL p99:ms:plain"; do
      IFS=: read -r name unit better <<<"$what"
      for s in $servers; do CELL[$s]=$(cut -d' ' -f$col <<<"${ROWS[$s]}" | median); done
      report "paced $streams streams (TTFT $ttft, ITL $itl, $tokens tokens): $name" "$unit" "$better"
      col=$((col + 1))
    done
  done
fi

if [[ " $scenarios " == *" memory "* ]]; then # scenario 4; 9,000 connections each
  declare -A ACTIVE=()
  for s in $servers; do
    start_peer "$s" 0 0 64
    CELL[$s]=$(API=$(api "$s") rss_per_connection idle 9000)
    stop_server
    start_peer "$s" 0 60000 3
    ACTIVE[$s]=$(API=$(api "$s") MEMORY_MODEL=$MODEL rss_per_connection active 9000)
    stop_server
  done
  report "RSS per idle keep-alive connection (9,000)" B lower
  for s in $servers; do CELL[$s]=${ACTIVE[$s]}; done
  report "RSS per active stream waiting between tokens (9,000)" B lower
fi

if [[ " $scenarios " == *" startup "* ]]; then # scenario 5: exec to the first healthy /health, median of 5
  llmsim_config 0 0 64
  for s in $servers; do
    CELL[$s]=$(python3 - "$s" "$PORT" "$BIN" "$FAKEAI_PY" "${LLMSIM:-}" <<'PY'
import http.client, os, statistics, subprocess, sys, time
server, port, fakeai, python_fakeai, llmsim = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
cmd = {"fakeai": [fakeai, "server", "--port", str(port)],
       "python": [python_fakeai, "server", "--host", "127.0.0.1", "--port", str(port)],
       "llmsim": [llmsim, "serve", "--config", "/tmp/llmsim-perf.toml"]}[server]
def once():
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="error"))
    while time.perf_counter() - t0 < 60:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/health")
            r = c.getresponse(); body = r.read()
            if r.status == 200 and (server != "python" or b"healthy" in body): break
        except OSError: pass
        time.sleep(0.0005)
    t = (time.perf_counter() - t0) * 1e3; p.terminate(); p.wait(); return t
print(f"{statistics.median(once() for _ in range(5)):.1f}")
PY
)
  done
  report "exec to first healthy /health" ms lower
fi
