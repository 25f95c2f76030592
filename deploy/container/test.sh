#!/usr/bin/env bash
# Builds fakeai's container image from a statically linked release binary and proves it works:
# the image runs as a non-root user, answers /health on a published 127.0.0.1 port, passes its
# own HEALTHCHECK (`fakeai status`), streams a chat completion to `data: [DONE]`, and on SIGTERM
# (`podman stop`) finishes the stream in flight and exits 0 well within the drain timeout.
# Prints the image size and the time from `podman run` to the first 200 from /health.
#
# Uses Debian's podman (installed when missing and running as root). Without podman it skips,
# except under CI (CI set), where that is a failure.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { printf 'container: %s\n' "$*"; }
fail() { say "FAIL: $*"; exit 1; }

if ! command -v podman >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc) >/dev/null 2>&1 || true
fi
if ! command -v podman >/dev/null; then
  [ -n "${CI:-}" ] && fail "podman is missing (apt-get install podman runc)"
  say "SKIP: podman is missing"; exit 0
fi

# This machine's podman: runc rather than crun, cgroupfs rather than systemd, and no default
# ulimits (the sandbox refuses raising them). Users' own podman or docker needs none of this.
work=$(mktemp -d)
name="fakeai-ci-$$"
image="localhost/fakeai:ci"
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
CONF
export CONTAINERS_CONF="$work/containers.conf"
pm() { podman --runtime runc --cgroup-manager cgroupfs "$@"; }
cleanup() {
  pm rm -f "$name" >/dev/null 2>&1 || true
  pm rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say "static release binary (glibc, crt-static)"
target=x86_64-unknown-linux-gnu
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --target "$target" --bin fakeai
bin="target/$target/release/fakeai"
mkdir -p "$work/ctx"
readelf -l "$bin" >"$work/elf"
grep -q INTERP "$work/elf" && fail "$bin is dynamically linked"
strip -o "$work/ctx/fakeai" "$bin"

say "podman build"
pm build -q --format docker -f deploy/container/Containerfile -t "$image" "$work/ctx" >/dev/null
size=$(pm image inspect "$image" --format '{{.Size}}')
[ "$(pm image inspect "$image" --format '{{.Config.User}}')" = "65532:65532" ] || fail "the image does not run as 65532"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
say "podman run, port $port published on 127.0.0.1"
t0=$(date +%s%N)
# podman's stderr goes to a file: with no systemd here it complains that it cannot start the
# health-check timer (the check is run by hand below).
pm run -d --name "$name" --read-only -p "127.0.0.1:$port:8000" "$image" \
  server --host 0.0.0.0 --port 8000 --workers 2 --drain-timeout 5s --ttft 20:0 --itl 20:0 \
  >/dev/null 2>"$work/podman.err" || { cat "$work/podman.err"; fail "podman run"; }
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/health")" = 200 ]; do
  [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 20000 ] || { pm logs "$name"; fail "/health never answered 200"; }
  sleep 0.005
done
startup_ms=$(( ($(date +%s%N) - t0) / 1000000 ))

pm healthcheck run "$name" >/dev/null || fail "the image's HEALTHCHECK (fakeai status) failed"

chat() {
  curl -sN "$url/v1/chat/completions" -H 'Content-Type: application/json' \
    -d "{\"model\":\"gpt-4o\",\"stream\":true,\"max_tokens\":$1,\"ignore_eos\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}
out=$(chat 8)
[ "$(grep -c '"content"' <<<"$out")" -ge 8 ] || fail "too few content chunks: $out"
tail -n 3 <<<"$out" | grep -q '^data: \[DONE\]' || fail "the stream did not end with [DONE]: $out"

say "SIGTERM drains: a 2 s stream in flight finishes, then the container exits 0"
chat 100 >"$work/stream" &
reader=$!
sleep 0.5
s0=$(date +%s%N)
pm stop -t 30 "$name" >/dev/null 2>>"$work/podman.err"
stop_ms=$(( ($(date +%s%N) - s0) / 1000000 ))
wait "$reader" || true
grep -q '^data: \[DONE\]' "$work/stream" || fail "the stream in flight was cut: $(tail -c 300 "$work/stream")"
code=$(pm inspect "$name" --format '{{.State.ExitCode}}')
[ "$code" = 0 ] || { pm logs "$name"; fail "exit code $code after SIGTERM"; }
[ "$stop_ms" -lt 5000 ] || fail "stop took $stop_ms ms, beyond the 5 s drain timeout"
pm logs "$name" 2>&1 | grep -q 'shutting down' || fail "the server did not log its drain"

ready=$(pm logs "$name" 2>/dev/null | grep -o 'ready in [0-9.]* ms' || true)
say "image $(( size / 1000 )) kB; podman run to first /health 200: $startup_ms ms (server's own: $ready); stop (drain of a 2 s stream): $stop_ms ms"
say "ok"
