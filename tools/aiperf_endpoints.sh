#!/usr/bin/env bash
# AIPerf (../shared/tools/aiperf_run.sh, offline) against a fresh fakeai for each of its non-chat
# endpoint types that fakeai serves: embeddings, rankings, images, video, transcription, Solido RAG.
# Checks that every request completed without an error and prints, per endpoint type, AIPerf's
# request rate and the server's CPU time per request: the CPU time of the server's threads over the
# run (from /proc/PID/task/*/schedstat, in ns), less its idle rate measured before the runs, divided by
# the requests.
# Usage: tools/aiperf_endpoints.sh [CONCURRENCY] [REQUESTS]
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-4}; requests=${2:-20}
runner=${AIPERF_RUN:-../shared/tools/aiperf_run.sh}
[ -f "$runner" ] || { echo "aiperf_endpoints: $runner not found (set AIPERF_RUN)" >&2; exit 1; }
venv=${AIPERF_VENV:-$HOME/.cache/fakeai-tools/aiperf-venv}
port=18331
bin=${FAKEAI_BIN:-target/release/fakeai}
"$bin" server --port $port --workers 1 >/tmp/fakeai-aiperf-endpoints.log 2>&1 &
server=$!
# Wait for the server to be gone, so that the next run can bind its ports (the DCGM one has no SO_REUSEPORT).
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 500); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.01; done
cpu_ns() { cat /proc/$server/task/*/schedstat | awk '{s += $1} END {printf "%.0f", s}'; }
now_ns() { date +%s%N; }
idle0=$(cpu_ns); t_idle=$(now_ns); sleep 3
idle_per_s=$(awk -v c=$(($(cpu_ns) - idle0)) -v t=$(($(now_ns) - t_idle)) 'BEGIN {printf "%.0f", c / t * 1e9}')

# check TYPE MODEL STREAMING [aiperf args...]: one run through the shared runner.
check() {
  local type=$1 model=$2 streaming=$3 out t0; shift 3
  out=$(mktemp -d); c0=$(cpu_ns); t0=$(now_ns)
  SERVER_METRICS=0 OUT_DIR="$out" ENDPOINT_TYPE="$type" STREAMING="$streaming" bash "$runner" "http://127.0.0.1:$port" "$model" \
    "$conc" "$requests" "$@" >"$out/run.log" 2>&1 || { tail -20 "$out/run.log" >&2; echo "aiperf failed: $type" >&2; exit 1; }
  report "$type$([ "$streaming" = 1 ] && echo ' (streaming)')" "$out" "$c0" "$t0"
}

# direct TYPE MODEL STREAMING [aiperf args...]: aiperf without the runner's --isl/--osl/--tokenizer,
# which AIPerf refuses for audio transcription (the runner has already installed the venv).
direct() {
  local type=$1 model=$2 streaming=$3 out t0; shift 3
  out=$(mktemp -d); c0=$(cpu_ns); t0=$(now_ns)
  local args=(profile --url "http://127.0.0.1:$port" --model "$model" --endpoint-type "$type" --concurrency "$conc"
    --request-count "$requests" --random-seed 1 --ui none --no-gpu-telemetry --artifact-dir "$out")
  [ "$streaming" = 1 ] && args+=(--streaming)
  HF_HUB_OFFLINE=1 timeout 300 "$venv/bin/aiperf" "${args[@]}" "$@" >"$out/run.log" 2>&1 ||
    { tail -20 "$out/run.log" >&2; echo "aiperf failed: $type" >&2; exit 1; }
  report "$type$([ "$streaming" = 1 ] && echo ' (streaming)')" "$out" "$c0" "$t0"
}

# report LABEL OUT_DIR CPU_NS_BEFORE T_NS_BEFORE: assert zero errors and all requests, print one row.
report() {
  local busy=$(($(cpu_ns) - $3 - idle_per_s * ($(now_ns) - $4) / 1000000000))
  python3 - "$1" "$2/profile_export_aiperf.json" "$requests" "$busy" <<'PY'
import json, sys
label, path, requests, busy_ns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
p = json.load(open(path))
def stat(tag):
    return (p.get(tag) or {}).get("avg")
assert (stat("error_request_count") or 0) == 0, f"{label}: AIPerf saw errors: {p.get('error_summary')}"
assert stat("request_count") == requests, f"{label}: completed {stat('request_count')} of {requests}"
print(f"| {label} | {requests} | 0 | {stat('request_throughput'):.1f} | {max(busy_ns, 0) / 1e3 / requests:,.0f} |")
PY
}

echo "| AIPerf endpoint type | requests | errors | AIPerf req/s | server CPU µs/request |"
echo "|---|---|---|---|---|"
check embeddings text-embedding-3-small 0
check chat_embeddings text-embedding-3-small 0
check nim_embeddings nvidia/nv-embedqa-e5-v5 0
check nim_rankings nvidia/nv-rerankqa-mistral-4b-v3 0
check cohere_rankings rerank-v3.5 0
check hf_tei_rankings BAAI/bge-reranker-large 0
check image_generation gpt-image-1 0
check image_generation gpt-image-1 1
check image_edit gpt-image-1 0 --image-width-mean 256 --image-height-mean 256 --image-batch-size 1
check video_generation sora-2 0
direct audio_transcription whisper-1 0 --audio-length-mean 3
direct audio_transcription gpt-4o-transcribe 1 --audio-length-mean 3
check solido_rag meta-llama/Llama-3.1-8B-Instruct 0
echo "(server idle: $((idle_per_s / 1000)) µs of CPU per second, subtracted)"
echo "aiperf endpoints check passed: $requests requests each, 0 errors"
