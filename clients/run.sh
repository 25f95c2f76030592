#!/usr/bin/env bash
# The client compatibility matrix: each client people point at fakeai, at the version pinned in
# clients/requirements.txt, clients/vllm-requirements.txt and clients/node/package.json, against the
# release binary (inference-perf's pin: clients/inference-perf-requirements.txt). Each check prints
# `checks passed`; any failure fails the script. Installs into target/clients-venv, target/vllm-venv,
# target/inference-perf-venv and clients/node/node_modules (PyPI and npm); builds a cl100k_base
# Hugging Face tokenizer offline for guidellm, vLLM and inference-perf (clients/make_tokenizer.py).
# Usage: clients/run.sh   (after `cargo build --release`)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${FAKEAI_BIN:-target/release/fakeai}
venv=${FAKEAI_CLIENTS_VENV:-$PWD/target/clients-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check -r clients/requirements.txt
vllm_venv=${FAKEAI_VLLM_VENV:-$PWD/target/vllm-venv}
[ -x "$vllm_venv/bin/python" ] || python3 -m venv "$vllm_venv"
"$vllm_venv/bin/pip" install -q --disable-pip-version-check --no-deps vllm==0.33.0
"$vllm_venv/bin/pip" install -q --disable-pip-version-check -r clients/vllm-requirements.txt
# inference-perf needs Python 3.12 or later: the first one found (pyenv's included).
py312=$(for p in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3; do
  "$p" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null && { echo "$p"; break; }; done)
[ -n "$py312" ] || { echo "clients/run.sh: inference-perf needs Python 3.12+, none found" >&2; exit 1; }
ip_venv=${FAKEAI_INFERENCE_PERF_VENV:-$PWD/target/inference-perf-venv}
[ -x "$ip_venv/bin/python" ] || "$py312" -m venv "$ip_venv"
"$ip_venv/bin/pip" install -q --disable-pip-version-check -r clients/inference-perf-requirements.txt
(cd clients/node && npm install --no-audit --no-fund --silent)
work=$(mktemp -d)
[ -f "$work/tokenizer/tokenizer.json" ] || "$venv/bin/python" clients/make_tokenizer.py "$work/tokenizer" >/dev/null

servers=()
trap 'kill "${servers[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
serve() { # port args... : a fakeai on 127.0.0.1:port
  "$bin" server --port "$1" "${@:2}" >"$work/server-$1.log" 2>&1 &
  servers+=($!)
  for _ in $(seq 500); do curl -sf "127.0.0.1:$1/health" >/dev/null && return; sleep 0.01; done
  echo "fakeai on port $1 did not start" >&2; exit 1
}
serve 18341 --ttft 0:0 --itl 0:0 --embedding-latency 0:0
serve 18342 --ttft 50:0 --itl 10:0

fast=http://127.0.0.1:18341
"$venv/bin/python" clients/langchain_check.py "$fast" | grep -v "checks passed"
"$venv/bin/python" clients/litellm_check.py "$fast" | grep -v "checks passed"
node clients/node/openai_check.mjs "$fast" | grep -v "checks passed"
"$venv/bin/python" clients/guidellm_check.py http://127.0.0.1:18342 "$work/tokenizer" "$work" | grep -v "checks passed"
"$vllm_venv/bin/python" clients/vllm_bench_check.py http://127.0.0.1:18342 "$work/tokenizer" "$work" | grep -v "checks passed"
"$ip_venv/bin/python" clients/inference_perf_check.py http://127.0.0.1:18342 "$work/tokenizer" "$work" | grep -v "checks passed"
echo "client matrix passed"
