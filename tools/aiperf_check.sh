#!/usr/bin/env bash
# AIPerf (../shared/tools/aiperf_run.sh, offline) against a fresh fakeai: checks zero errors, OSL
# equal to the requested length, AIPerf's token counts equal to the server's usage, and that its
# server-metrics export holds the vLLM series its realtime rows are derived from, and that its GPU
# telemetry (from fakeai's DCGM port) saw the 4 fake GPUs busy while it ran.
# Usage: tools/aiperf_check.sh [CONCURRENCY] [REQUESTS] [ENDPOINT_TYPE] [MODEL]
#   ENDPOINT_TYPE: chat (default), completions, responses, messages, huggingface_generate
set -euo pipefail
cd "$(dirname "$0")/.."
conc=${1:-10}; requests=${2:-100}; endpoint=${3:-chat}; model=${4:-openai/gpt-oss-120b}
runner=${AIPERF_RUN:-../shared/tools/aiperf_run.sh}
if [ ! -f "$runner" ]; then
  echo "aiperf_check: $runner not found (it comes from the project's shared/ folder beside the repo; set AIPERF_RUN)" >&2
  exit 1
fi
port=18330
bin=${FAKEAI_BIN:-target/release/fakeai}
"$bin" server --port $port --dcgm-port $((port + 1)) --ttft 20:0 --itl 5:0 >/tmp/fakeai-aiperf-check.log 2>&1 &
server=$!
# Wait for the server to be gone, so that the next run can bind its ports (the DCGM one has no SO_REUSEPORT).
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 500); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.01; done
curl -sf "127.0.0.1:$((port + 1))/health" >/dev/null || { echo "aiperf_check: the DCGM port $((port + 1)) is not served" >&2; exit 1; }
out=$(mktemp -d)
OUT_DIR="$out" ISL=128 OSL=64 ENDPOINT_TYPE="$endpoint" GPU_TELEMETRY="http://127.0.0.1:$((port + 1))/metrics" bash "$runner" "http://127.0.0.1:$port" "$model" "$conc" "$requests" \
  --extra-inputs ignore_eos:true | tail -3
python3 - "$out" "$requests" "$endpoint" <<'PY'
import json, sys
out, requests, endpoint = sys.argv[1], int(sys.argv[2]), sys.argv[3]
p = json.load(open(f"{out}/profile_export_aiperf.json"))
def stat(tag, key="avg"):
    return (p.get(tag) or {}).get(key)
assert (stat("error_request_count") or 0) == 0, "AIPerf saw errors"
assert stat("request_count") == requests, f"completed {stat('request_count')} of {requests}"
assert stat("output_sequence_length") == 64 and stat("output_sequence_length", "max") == 64, "OSL != 64"
# TGI responses carry no usage; a Responses stream cut by max_output_tokens ends, as OpenAI's
# does, with `response.incomplete`, and AIPerf 0.13 reads usage only from `response.completed`.
if endpoint not in ("huggingface_generate", "responses"):
    assert stat("usage_completion_tokens") == stat("output_sequence_length"), "usage != AIPerf's count"
    assert stat("usage_prompt_tokens") == stat("input_sequence_length"), "prompt usage != AIPerf's ISL"
m = json.load(open(f"{out}/server_metrics_export.json"))["metrics"]
for name in ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
             "vllm:prompt_tokens", "vllm:generation_tokens", "vllm:prefix_cache_hits", "vllm:prefix_cache_queries",
             "vllm:num_preemptions", "vllm:time_to_first_token_seconds"]:
    series = m.get(name, {}).get("series") or []
    assert series and series[0].get("stats"), f"server metrics export lacks {name}"
assert m["vllm:num_requests_running"]["series"][0]["stats"]["max"] > 0, "running never above 0"
assert m["vllm:kv_cache_usage_perc"]["series"][0]["stats"]["max"] > 0, "KV usage never above 0"
assert m["vllm:generation_tokens"]["series"][0]["stats"]["rate"] > 0, "no output token throughput"
gpus = {}
for line in open(f"{out}/gpu_telemetry_export.jsonl"):
    record = json.loads(line)
    gpus.setdefault(record["gpu_uuid"], []).append(record["telemetry_data"])
assert len(gpus) == 4, f"AIPerf saw {len(gpus)} GPUs, not fakeai's 4"
for samples in gpus.values():
    assert max(s["nvidia_gpu_utilization"] for s in samples) > 0, "GPU utilisation never above 0"
    assert max(s["nvidia_power_usage"] for s in samples) > min(s["nvidia_power_usage"] for s in samples), "power flat"
    assert min(s["nvidia_memory_used"] for s in samples) > 0, "no memory used"
usage = "usage == client counts" if endpoint not in ("huggingface_generate", "responses") else "no usage read by AIPerf"
print(f"aiperf check passed ({endpoint}): {requests} requests, OSL 64, {usage}, vLLM server metrics exported, "
      "GPU telemetry of 4 busy GPUs")
PY
