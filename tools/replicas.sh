#!/usr/bin/env bash
# Scale-out the way real engines do it, on one machine: REPLICAS fakeai processes on their own ports
# behind HAProxy (Debian's package; least connections, as a Kubernetes Service with a
# least-request load balancer would spread streams), driven by fakeai-bench through the proxy, with
# a Prometheus (Debian's package) scraping every replica. Prints the client's view (events/s, TTFT,
# inter-chunk gaps) and Prometheus's aggregate over the replicas (events/s summed, streams per
# replica). Bounded: DURATION seconds of load, loopback only; everything stops at the end.
# Usage: REPLICAS=2 STREAMS=400 DURATION=15 tools/replicas.sh
set -euo pipefail
cd "$(dirname "$0")/.."
replicas=${REPLICAS:-2}; streams=${STREAMS:-400}; duration=${DURATION:-15}
bin=${BIN:-target/release/fakeai}; bench=${BENCH:-target/release/fakeai-bench}
proxy_port=18400; prom_port=18490; first=18401
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT

targets=()
for i in $(seq 0 $((replicas - 1))); do
  port=$((first + i))
  "$bin" server --port $port --workers 1 --ttft 50:0 --itl 10:0 >"$work/replica-$i.log" 2>&1 &
  pids+=($!)
  targets+=("\"127.0.0.1:$port\"")
  for _ in $(seq 500); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.01; done
done

{
  printf 'global\n  maxconn 9000\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 120s\n  timeout server 120s\n'
  printf 'frontend engines\n  bind 127.0.0.1:%s\n  default_backend fakeai\n' $proxy_port
  printf 'backend fakeai\n  balance leastconn\n  option http-no-delay\n  option httpchk GET /health\n'
  for i in $(seq 0 $((replicas - 1))); do printf '  server r%s 127.0.0.1:%s check\n' "$i" $((first + i)); done
} >"$work/haproxy.cfg"
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=($!)

IFS=,; cat >"$work/prometheus.yml" <<EOF
global: {scrape_interval: 1s}
scrape_configs:
  - job_name: fakeai
    static_configs: [{targets: [${targets[*]}]}]
EOF
unset IFS
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/data" \
  --web.listen-address=127.0.0.1:$prom_port --log.level=warn >"$work/prometheus.log" 2>&1 &
pids+=($!)
# Prometheus applies its targets about 5 s after it starts: load only once every replica is scraped.
up() { curl -sf "127.0.0.1:$prom_port/api/v1/targets" | grep -o '"health":"up"' | wc -l; }
for _ in $(seq 300); do curl -sf "127.0.0.1:$proxy_port/health" >/dev/null && [ "$(up)" = "$replicas" ] && break; sleep 0.1; done

"$bench" --url "http://127.0.0.1:$proxy_port" --concurrency "$streams" --max-tokens 100 --duration "${duration}s" \
  --requests 100000000 --warmup 3s --expect-ttft 50 --expect-itl 10 --json >"$work/bench.json"
promql() { curl -sG "127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" --data-urlencode "time=$2"; }
at=$(($(date +%s) - 2))
events=$(promql 'sum(rate(fakeai_sse_events_total[8s]))' $at)
per=$(promql 'sum by (instance) (rate(fakeai_sse_events_total[8s]))' $at)
python3 - "$work/bench.json" "$events" "$per" "$replicas" "$streams" <<'PY'
import json, sys
bench, events, per = json.load(open(sys.argv[1])), json.loads(sys.argv[2]), json.loads(sys.argv[3])
print(json.dumps({"replicas": int(sys.argv[4]), "streams": int(sys.argv[5]), "client": bench,
                  "prometheus_events_per_s": float(events["data"]["result"][0]["value"][1]),
                  "prometheus_events_per_s_by_replica": {r["metric"]["instance"]: round(float(r["value"][1]))
                                                         for r in per["data"]["result"]}}, indent=1))
PY
