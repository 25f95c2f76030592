#!/usr/bin/env bash
# Time from exec to the first 200 from /health, median of N runs (default 11).
# Usage: tools/startup.sh [BINARY] [RUNS] [extra server args...]
set -euo pipefail
bin=${1:-target/release/fakeai}; runs=${2:-11}; shift $(( $# > 2 ? 2 : $# )) || true
port=18999
python3 - "$bin" "$runs" "$port" "$@" <<'PY'
import http.client, statistics, subprocess, sys, time
binary, runs, port, extra = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
times = []
for _ in range(runs):
    t0 = time.perf_counter()
    p = subprocess.Popen([binary, "server", "--port", str(port), *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                break
        except OSError:
            pass
        time.sleep(0.0005)
        if time.perf_counter() - t0 > 30:
            sys.exit("server never became healthy")
    times.append((time.perf_counter() - t0) * 1e3)
    p.terminate(); p.wait()
print(f"startup to first healthy /health: median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f} over {runs} runs")
PY
