#!/usr/bin/env bash
# Issue 19's soak: STREAMS concurrent streams for SECONDS through tools/soak-scenario.toml (slow
# tokens, 5 % 503s, throttling, dropped and stalled streams, looping every 90 s); the server on
# core 0, fakeai-bench (a closed loop that honours retry-after) on core 1. Samples the server's
# RSS and open fds every 10 s, then reconciles what the client saw with the server's counters:
# 503s with fakeai_faults_injected_total{kind="http_503"}, 429s with
# fakeai_rate_limit_throttled_total, streams cut short with the `close` faults; every other
# client error is unexpected. Exits 1 on a mismatch, an unexpected error, or RSS in the second half
# of the run more than 10 % + 16 MiB above its level one minute in.
# Usage: tools/soak.sh [SECONDS] [STREAMS]   (600 and 5000 by default; OUT=dir keeps the files)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}; streams=${2:-5000}
port=18570
out=${OUT:-$(mktemp -d)}; mkdir -p "$out"
bin=target/release/fakeai; bench=target/release/fakeai-bench
taskset -c 0 "$bin" server --port $port --workers 1 --scenario tools/soak-scenario.toml --fault-seed 7 \
  --dcgm-port off >"$out/server.log" 2>&1 &
server=$!
trap 'kill $sampler 2>/dev/null || true; kill $server 2>/dev/null || true; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 500); do curl -sf "127.0.0.1:$port/health" >/dev/null && break; sleep 0.01; done
(
  t0=$(date +%s)
  while kill -0 $server 2>/dev/null; do
    echo "$(($(date +%s) - t0)) $(awk '/VmRSS/ {print $2}' /proc/$server/status) $(ls /proc/$server/fd | wc -l)"
    sleep 10
  done
) >"$out/rss.txt" &
sampler=$!
taskset -c 1 "$bench" --url "http://127.0.0.1:$port" --concurrency "$streams" --requests 1000000000 \
  --duration "${secs}s" --max-tokens 100 --timeout 90s --json >"$out/bench.json"
sleep 2
curl -s "127.0.0.1:$port/metrics" >"$out/metrics.txt"
kill $sampler 2>/dev/null || true
echo "end $(awk '/VmRSS/ {print $2}' /proc/$server/status) $(ls /proc/$server/fd | wc -l)" >>"$out/rss.txt"
python3 - "$out" "$streams" "$secs" <<'PY'
import json, re, sys
out, streams, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bench = json.load(open(f"{out}/bench.json"))
metrics = open(f"{out}/metrics.txt").read()
def total(name, label=""):
    pat = re.compile(rf"^{re.escape(name)}(\{{[^}}]*{re.escape(label)}[^}}]*\}})? (\S+)$", re.M)
    return sum(float(v) for _, v in pat.findall(metrics))
errors = dict(bench["errors"])
seen = {
    "503": errors.pop("http 503", 0),
    "429": errors.pop("http 429", 0),
    "close": errors.pop("closed early", 0) + errors.pop("read: ConnectionReset", 0),
}
server = {
    "503": total("fakeai_faults_injected_total", 'kind="http_503"'),
    "429": total("fakeai_rate_limit_throttled_total"),
    "close": total("fakeai_faults_injected_total", 'kind="close"'),
}
stalls = total("fakeai_faults_injected_total", 'kind="stall"')
rows = [l.split() for l in open(f"{out}/rss.txt") if len(l.split()) == 3]
loaded = [(int(t), int(kb) / 1024, int(fds)) for t, kb, fds in rows if t != "end"]
end = next((int(kb) / 1024, int(fds)) for t, kb, fds in rows if t == "end")
base = next((r for r in loaded if r[0] >= 60), loaded[0])
late = max((r for r in loaded if secs / 2 <= r[0] <= secs), key=lambda r: r[1], default=base)
peak = max(r[1] for r in loaded)
print(f"soak: {streams} streams, {bench['duration_s']:.0f} s, {bench['requests_ok']:,} requests ok, "
      f"{bench['events_per_s']:,.0f} events/s")
for k in seen:
    print(f"  {k:>5}: client {seen[k]:,} / server {server[k]:,.0f}")
print(f"  stalls injected: {stalls:,.0f}; unexpected client errors: {errors or 'none'}")
print(f"  RSS MiB: {loaded[0][1]:.0f} idle at start, {base[1]:.0f} at {base[0]} s, at most {late[1]:.0f} in the "
      f"second half (at {late[0]} s), peak {peak:.0f}; {end[0]:.0f} idle after (fds {loaded[0][2]} at start, "
      f"{base[2]} loaded, {end[1]} after)")
ok = all(seen[k] == server[k] for k in seen) and not errors and late[1] <= base[1] * 1.10 + 16
print("soak passed" if ok else "soak FAILED")
sys.exit(0 if ok else 1)
PY
