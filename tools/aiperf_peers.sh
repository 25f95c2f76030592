#!/usr/bin/env bash
# Scenario 6 of PERFORMANCE.md: AIPerf (../shared/tools/aiperf_run.sh) at concurrency 10 and 100,
# TTFT 20 ms / ITL 5 ms, against fakeai and the Python FakeAI, each pinned to core 0 in turn.
# Prints one AIPERF_RESULT line per server and concurrency.
# Usage: FAKEAI_PY=/path/to/venv/bin/fakeai [RUNS=1] tools/aiperf_peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
: "${FAKEAI_PY:?set FAKEAI_PY to the fakeai executable of the Python FakeAI (pip install fakeai pillow)}"
AIPERF=${AIPERF:-../shared/tools/aiperf_run.sh}
RUNS=${RUNS:-1}
PORT=18600
MODEL=openai/gpt-oss-120b

wait_healthy() {
  for _ in $(seq 3000); do curl -sf "127.0.0.1:$PORT/health" | grep -q healthy && return; sleep 0.01; done
  echo "server did not start" >&2; exit 1
}
start_fakeai() {
  taskset -c 0 target/release/fakeai server --port $PORT --workers 1 --cpus 0 --ttft 20:0 --itl 5:0 \
    >/tmp/aiperf-peers-server.log 2>&1 &
  SERVER=$!
  wait_healthy
}
start_python_fakeai() {
  FAKEAI_GENERATION__TTFT_MS=20 FAKEAI_GENERATION__ITL_MS=5 \
    FAKEAI_GENERATION__TTFT_VARIANCE_PERCENT=0 FAKEAI_GENERATION__ITL_VARIANCE_PERCENT=0 \
    taskset -c 0 "$FAKEAI_PY" server --host 127.0.0.1 --port $PORT >/tmp/aiperf-peers-server.log 2>&1 &
  SERVER=$!
  wait_healthy
}
stop_server() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }

cargo build --release --quiet
for server in fakeai python_fakeai; do
  for cfg in "10 200" "100 1000"; do
    read -r conc requests <<<"$cfg"
    for _ in $(seq "$RUNS"); do
      "start_$server"
      # AIPerf is left unpinned: its processes need both cores. The Python FakeAI has no
      # Prometheus /metrics at that path, so server-metrics scraping is off for both.
      line=$(SERVER_METRICS=0 "$AIPERF" "http://127.0.0.1:$PORT" "$MODEL" "$conc" "$requests" \
        --extra-inputs ignore_eos:true 2>/dev/null | grep AIPERF_RESULT || echo "AIPERF_RESULT failed")
      stop_server
      echo "aiperf: $server c=$conc n=$requests | $line"
    done
  done
done
