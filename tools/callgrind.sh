#!/usr/bin/env bash
# Deterministic instruction counts of the CPU benches (benches/cpu.rs): each bench runs under
# `valgrind --tool=callgrind` at two iteration counts, and Ir/op is the difference divided by the
# difference in iterations, so set-up and process start cancel out.
# Usage: tools/callgrind.sh [FILTER]   (needs valgrind; prints "bench Ir/op")
set -euo pipefail
cd "$(dirname "$0")/.."
N1=${N1:-1000}
N2=${N2:-2000}
cargo bench --bench cpu --no-run >/dev/null 2>&1
BIN=$(cargo bench --bench cpu --no-run --message-format=json 2>/dev/null |
  python3 -c "import json,sys; print([m['executable'] for m in map(json.loads, sys.stdin) if m.get('executable') and m['target']['name'] == 'cpu'][0])")
ir() { # bench iters -> instructions collected
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" 2>&1 | awk '/Collected/ {print $4}'
}
for name in $("$BIN" "${1:-}" 1 | awk '{print $1}'); do
  a=$(ir "=$name" "$N1")
  b=$(ir "=$name" "$N2")
  awk -v n="$name" -v a="$a" -v b="$b" -v d=$((N2 - N1)) 'BEGIN {printf "%-22s %12.0f Ir/op\n", n, (b - a) / d}'
done
