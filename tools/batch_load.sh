#!/usr/bin/env bash
# A 50,000-line batch beside live streams (issue 17): the batch's completion time, and the live
# streams' timing with and without it. Server on core 0 (its jobs thread shares the core at nice
# 10), fakeai-bench on core 1: 1,000 paced streams (TTFT 50 ms, ITL 50 ms, 40 tokens) in closed
# loops for LIVE_S seconds. Needs a release build (cargo build --release --workspace --bins).
# Usage: tools/batch_load.sh [lines]   (default 50000; RUNS pairs, default 1)
set -euo pipefail
cd "$(dirname "$0")/.."
source tools/perf-common.sh
LINES=${1:-50000} LIVE_S=${LIVE_S:-20} RUNS=${RUNS:-1}
jsonl=/tmp/batch-load.jsonl
python3 - "$LINES" "$jsonl" <<'PY'
import json, sys
with open(sys.argv[2], "w") as f:
    for i in range(int(sys.argv[1])):
        body = {"model": "m", "messages": [{"role": "user", "content": f"Line {i}: summarise the quick brown fox."}], "max_tokens": 32}
        f.write(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions", "body": body}) + "\n")
PY
lateness_between() { # scrape-before scrape-after -> "lateness_p50 … lateness_p99 … over_2ms …%"
  local p50 p99 over
  read -r p50 p99 over <<<"$(window_lateness "$1" "$2")"
  echo "lateness_p50 $p50 lateness_p99 $p99 over_2ms $over%"
}
live() { # -> the client's TTFT and gap p99 and the server's lateness over the live run
  local m0 m1
  m0=$(curl -s "127.0.0.1:$PORT/metrics")
  bench_client --url "http://127.0.0.1:$PORT" --concurrency 1000 --requests 1000000 --ramp 1000 --max-tokens 40 \
    --expect-ttft 50 --expect-itl 50 --cpus 1 --warmup 2s --duration "${LIVE_S}s" --json >/tmp/batch-live.json
  m1=$(curl -s "127.0.0.1:$PORT/metrics")
  python3 -c "import json; r = json.load(open('/tmp/batch-live.json')); print(f'ttft_p99 {r[\"ttft_ms\"][\"p99\"]:.2f} gap_p99 {r[\"inter_chunk_ms\"][\"p99\"]:.2f} ok {r[\"requests_ok\"]}', end=' ')"
  lateness_between "$m0" "$m1"
}
create_batch() { # input file id -> batch id
  curl -s "127.0.0.1:$PORT/v1/batches" -H 'Content-Type: application/json' \
    -d "{\"input_file_id\":\"$1\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])"
}
wait_completed() { until [[ $(batch_status "$1") == completed* ]]; do sleep 0.05; done; }
timed_batch() { # input file id -> seconds from create to completed, by polling every 50 ms
  local t0 b; t0=$(date +%s.%N); b=$(create_batch "$1"); wait_completed "$b"
  awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f s", b - a}'
}
batch_status() { curl -s "127.0.0.1:$PORT/v1/batches/$1" | python3 -c "import json,sys; b=json.load(sys.stdin); print(b['status'], b['request_counts']['completed'], b['request_counts']['failed'])"; }
for _ in $(seq "$RUNS"); do
  start_server --ttft 50:0 --itl 50:0
  echo "without batch: $(live)"
  file=$(curl -s "127.0.0.1:$PORT/v1/files" -F purpose=batch -F "file=@$jsonl" | python3 -c "import json,sys; print(json.load(sys.stdin)['id'])")
  live >/tmp/batch-live.out & local_live=$!
  sleep 5
  m0=$(curl -s "127.0.0.1:$PORT/metrics")
  took=$(timed_batch "$file")
  during=$(lateness_between "$m0" "$(curl -s "127.0.0.1:$PORT/metrics")")
  wait "$local_live"
  echo "with batch:    $(cat /tmp/batch-live.out)"
  echo "  $LINES lines beside the live streams (created 5 s into the live run): $took; live events meanwhile: $during"
  echo "  $LINES lines alone: $(timed_batch "$file")"
  stop_server
done
