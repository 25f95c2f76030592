#!/usr/bin/env bash
# Engine validation (issue 18): the simulated engine's TTFT and ITL against published
# measurements, over loopback. Runs `fakeai server --engine vllm --model-profile PROFILE --gpu GPU`
# (one worker: one exact engine; prefix caching off, as the published runs' random prompts never
# hit) and, for each concurrency in the data file, a closed loop of fakeai-bench with the same
# prompt and output lengths, then prints concurrency, published TTFT/ITL, simulated TTFT/ITL
# (means) and the error. Bounded: at most 3 × concurrency requests per level (3 at concurrency
# 1), the first round (≈ one published end-to-end latency) unmeasured as warm-up. Stops by itself.
#
# usage: tools/engine_validate.sh [DATA.csv [PROFILE [GPU [TP [CONCURRENCIES]]]]]
#   defaults: tools/data/nim_llama33_70b_fp8_2xh100.csv llama-3.3-70b-fp8 h100 2 "1 5 25 50 100"
# env: BIN, BENCH (default target/release/...), PORT (18600), NICE (10).
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:-tools/data/nim_llama33_70b_fp8_2xh100.csv}
PROFILE=${2:-llama-3.3-70b-fp8}
GPU=${3:-h100}
TP=${4:-2}
LEVELS=${5:-"1 5 25 50 100"}
BIN=${BIN:-target/release/fakeai}
BENCH=${BENCH:-target/release/fakeai-bench}
PORT=${PORT:-18600}
NICE=${NICE:-10}
for b in "$BIN" "$BENCH"; do [[ -x $b ]] || { echo "missing $b (cargo build --release)" >&2; exit 1; }; done

nice -n "$NICE" "$BIN" server --port "$PORT" --workers 1 --dcgm-port off --gpus "$TP" --gpu "$GPU" \
  --engine vllm --model-profile "$PROFILE" --tensor-parallel-size "$TP" --no-prefix-caching \
  >/tmp/fakeai-engine-validate.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 500); do curl -sf "127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.02; done
prompt_tokens() { curl -s "127.0.0.1:$PORT/metrics" | awk '/^vllm:prompt_tokens_total/ {s += $2} END {print s + 0}'; }

echo "# $(date -u +%Y-%m-%dT%H:%MZ) fakeai $(git rev-parse --short HEAD) --model-profile $PROFILE --gpu $GPU --tensor-parallel-size $TP"
echo "# published: $DATA"
printf "| %5s | %8s | %9s | %8s | %9s | %8s | %9s | %8s | %9s |\n" concurrency requests "prompt tok" "TTFT pub" "TTFT sim" "err %" "ITL pub" "ITL sim" "err %"
echo "|------:|---------:|----------:|---------:|----------:|---------:|----------:|---------:|----------:|"
for c in $LEVELS; do
  row=$(grep -v '^#' "$DATA" | awk -F, -v c="$c" '$1 == c')
  [[ -n $row ]] || { echo "no published row for concurrency $c" >&2; continue; }
  IFS=, read -r _ isl osl ttft_pub itl_pub _ <<<"$row"
  requests=$(( c == 1 ? 3 : 3 * c ))
  warmup=$(awk -v t="$ttft_pub" -v i="$itl_pub" -v o="$osl" 'BEGIN {printf "%.1fs", 0.9 * (t + (o - 1) * i) / 1000}')
  before=$(prompt_tokens)
  out=$(nice -n "$NICE" "$BENCH" --url "http://127.0.0.1:$PORT" --model "$PROFILE" --concurrency "$c" \
    --requests "$requests" --prompt-words "$isl" --max-tokens "$osl" --warmup "$warmup" \
    --duration 900s --timeout 900s --json)
  after=$(prompt_tokens)
  OUT=$out python3 - "$c" "$requests" "$ttft_pub" "$itl_pub" "$before" "$after" <<'PY'
import json, os, sys
c, n, ttft_pub, itl_pub, before, after = sys.argv[1:]
r = json.loads(os.environ["OUT"])
ttft, itl = r["ttft_ms"].get("mean", float("nan")), r["itl_ms"].get("mean", float("nan"))
tp, ip = float(ttft_pub), float(itl_pub)
ok = r["requests_ok"]
print(f"| {c:>5} | {n:>4}/{r['ttft_ms'].get('count', 0):<3} | {(float(after) - float(before)) / int(n):9.0f} | "
      f"{tp:8.1f} | {ttft:9.1f} | {100 * (ttft / tp - 1):+8.1f} | {ip:9.2f} | {itl:8.2f} | {100 * (itl / ip - 1):+9.1f} |")
if r["errors"]:
    print(f"  ({r['errors']} errors)")
PY
done
