#!/usr/bin/env bash
# Renders deploy/kubernetes (base and overlays) with kustomize and validates every object,
# offline (validate.py says how). Installs its two PyPI tools, pinned, into target/k8s-venv.
# FAKEAI_BIN (default target/release/fakeai, when built) also runs the config file through fakeai.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=${FAKEAI_K8S_VENV:-$PWD/target/k8s-venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# pykustomize ships kustomize's Go library (sigs.k8s.io/kustomize/api v0.21) in a py3-none-any
# wheel; it declares Python >= 3.14 but its ctypes-level bindings (cffi) run on 3.11.
"$venv/bin/python" -c "import pykustomize, kubernetes_validate" 2>/dev/null ||
  "$venv/bin/pip" install -q --disable-pip-version-check --ignore-requires-python \
    pykustomize==0.1.4 kubernetes-validate==1.37.0
default_bin=target/release/fakeai
[ -x "$default_bin" ] || default_bin=
FAKEAI_BIN=${FAKEAI_BIN:-$default_bin} "$venv/bin/python" deploy/kubernetes/validate.py
