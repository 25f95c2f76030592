#!/usr/bin/env bash
# Instructions per streamed token of the whole server (not a bench): the release binary runs
# under `valgrind --tool=callgrind` (epoll driver, 1 worker) while fakeai-bench sends the same
# requests twice, once with SHORT and once with LONG max_tokens. Ir per token is the difference of
# the two runs' counts over the extra tokens, less the instructions of publishing the metrics'
# histograms (a cost per second of traffic, not per token); per-request costs (parse, admission,
# usage) cancel out. What an idle server does in the long run's extra seconds (~0.1 M Ir/s once
# publishing is taken out) stays in, a bias of a few tens of Ir per token at the defaults.
# Usage: tools/callgrind_server.sh LABEL [server flags...]   e.g. tools/callgrind_server.sh auth --api-key k
#   Env: REQUESTS (100), CONC (10), SHORT (16), LONG (516), ITL (5:0), BENCH_KEY (a key to send).
# Prints one line: LABEL, Ir per token, Ir per request (the short run's, less start-up and its tokens).
set -euo pipefail
cd "$(dirname "$0")/.."
label=$1; shift
requests=${REQUESTS:-100}; conc=${CONC:-10}; short=${SHORT:-16}; long=${LONG:-516}
bin=target/release/fakeai; bench=target/release/fakeai-bench
port=18560
key=()
[ -n "${BENCH_KEY:-}" ] && key=(--api-key "$BENCH_KEY")

# run MAX_TOKENS [server flags...]: one server under callgrind, from start to exit, serving a
# first request and then (unless MAX_TOKENS is 0) the requests; prints its instructions.
# (Zeroing the counters with callgrind_control instead is unreliable: valgrind takes the
# command only when the server returns from epoll_wait.)
run() {
  local tokens=$1 dir; shift; dir=$(mktemp -d)
  valgrind --tool=callgrind --callgrind-out-file="$dir/cg" \
    "$bin" server --port $port --workers 1 --driver epoll --ttft 0:0 --itl "${ITL:-5:0}" --dcgm-port off "$@" \
    >/dev/null 2>"$dir/err" &
  local server=$!
  for _ in $(seq 3000); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.02; done
  "$bench" --url "http://127.0.0.1:$port" --concurrency 1 --requests 1 --max-tokens 1 "${key[@]}" --json >/dev/null
  if [ "$tokens" != 0 ]; then
    "$bench" --url "http://127.0.0.1:$port" --concurrency "$conc" --requests "$requests" --max-tokens "$tokens" \
      --duration 600s "${key[@]}" --json >"$dir/bench"
    python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert not r['errors'] and r['requests_ok'] == int(sys.argv[2]), r" \
      "$dir/bench" "$requests" || { echo "callgrind_server: the bench did not complete every request" >&2; exit 1; }
  fi
  kill $server; wait $server || true
  # Less the histograms' publishing (every 20 ms while the core records anything: a cost per
  # second of traffic, not per token, that would otherwise swamp a slow run's tokens).
  local total publish
  total=$(awk '/^summary:/ {print $2}' "$dir/cg")
  publish=$(callgrind_annotate --inclusive=yes "$dir/cg" 2>/dev/null |
    awk '/Recorder::publish|Core::publish_changed_metrics/ {gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0} END {print m + 0}')
  echo $((total - publish))
  [ -n "${KEEP:-}" ] && cp "$dir/cg" "$KEEP.$tokens"
  rm -rf "$dir"
}

fixed=$(run 0 "$@")
s=$(run "$short" "$@")
l=$(run "$long" "$@")
python3 - "$label" "$fixed" "$s" "$l" "$requests" "$short" "$long" <<'PY'
import sys
label, fixed, s, l, n, short, long = sys.argv[1], *map(int, sys.argv[2:])
# fixed: start-up, the tokenizer, the first request, shutdown (the run that serves nothing more)
per_token = (l - s) / (n * (long - short))
print(f"{label:<28} {per_token:8.0f} Ir/token {(s - fixed - per_token * n * short) / n:10.0f} Ir/request")
PY
