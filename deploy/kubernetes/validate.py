#!/usr/bin/env python3
"""Renders the kustomize base and every overlay under deploy/kubernetes and validates what they
produce, offline:

1. Rendering: kustomize itself (sigs.k8s.io/kustomize/api, the library kubectl embeds), through the
   PyPI package pykustomize, which ships it as a shared library.
2. Built-in kinds: the PyPI package kubernetes-validate, strict (unknown fields rejected), against
   the oldest and newest Kubernetes versions the manifests target.
3. CRD kinds (ServiceMonitor, PodMonitor, InferencePool, HTTPRoute): schemas/crd-subsets.json, our
   own strict subsets of those CRDs (their upstream schemas are not on any registry CI reaches).
4. What ties the objects together: selectors match the pod labels, ports exist, the ConfigMap the
   pod mounts is rendered, workers follow the cpu request, the grace period outlasts preStop plus
   the drain timeout, the HPA targets the Deployment; and the config file is accepted by the real
   binary (`fakeai config print --config-file`) when FAKEAI_BIN names one.

Prints one line per check and `N passed, 0 failed`; exits 1 on any failure.
"""

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import jsonschema
import kubernetes_validate
import pykustomize
import yaml

HERE = Path(__file__).resolve().parent
TARGETS = ["base", "overlays/dev", "overlays/scale-out", "overlays/inference-pool"]
# preStop `sleep` is on by default from 1.30; the newest schemas kubernetes-validate ships.
VERSIONS = ["1.30.0", "1.37.0"]
CRDS = json.loads((HERE / "schemas" / "crd-subsets.json").read_text())

passed, failed = 0, 0


def check(ok: bool, what: str, detail: str = "") -> None:
    global passed, failed
    if ok:
        passed += 1
        print(f"ok      {what}")
    else:
        failed += 1
        print(f"FAILED  {what}: {detail}")


def render(target: str) -> list[dict]:
    result = asyncio.run(pykustomize.build(str(HERE / target)))
    return [doc for doc in yaml.safe_load_all(result.yaml) if doc]


def validate_schema(target: str, obj: dict) -> None:
    name = f"{target}: {obj['kind']}/{obj['metadata']['name']}"
    key = f"{obj['apiVersion']}/{obj['kind']}"
    if key in CRDS["kinds"]:
        schema = dict(CRDS["kinds"][key], definitions=CRDS["definitions"])
        errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(obj)]
        check(not errors, f"{name} against the {key} CRD subset", "; ".join(errors))
        return
    for version in VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
            check(True, f"{name} against Kubernetes {version} (strict)")
        except Exception as e:  # ValidationError, SchemaNotFoundError: both are failures here
            check(False, f"{name} against Kubernetes {version} (strict)", str(e).splitlines()[0])


def selects(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def duration_seconds(text: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", text.strip())
    if not m:
        raise ValueError(f"unparsed duration {text!r}")
    return float(m.group(1)) * units[m.group(2) or "s"]


def check_consistency(target: str, objs: list[dict]) -> None:
    by_kind: dict[str, list[dict]] = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)
    (dep,) = by_kind["Deployment"]
    pod = dep["spec"]["template"]
    labels = pod["metadata"]["labels"]
    (container,) = pod["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    res = container["resources"]
    cpu = str(res["requests"]["cpu"])
    check(
        cpu.isdigit() and res["limits"] == res["requests"],
        f"{target}: integer cpu, requests == limits (Guaranteed, static CPU manager)",
        f"{res}",
    )
    workers = next((e for e in container.get("env", []) if e["name"] == "FAKEAI_WORKERS"), {})
    check(
        workers.get("valueFrom", {}).get("resourceFieldRef", {}).get("resource") == "requests.cpu",
        f"{target}: FAKEAI_WORKERS is the cpu request",
        str(workers),
    )
    check(selects(dep["spec"]["selector"]["matchLabels"], labels), f"{target}: Deployment selects its pods")

    mounted = [v["configMap"]["name"] for v in pod["spec"]["volumes"] if "configMap" in v]
    maps = {m["metadata"]["name"]: m for m in by_kind.get("ConfigMap", [])}
    check(all(n in maps for n in mounted) and mounted, f"{target}: the mounted ConfigMap is rendered", str(mounted))
    config_text = maps[mounted[0]]["data"]["config.toml"]
    config = tomllib.loads(config_text)
    drain = duration_seconds(config.get("drain_timeout", "30s"))
    pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    check(grace > pre_stop + drain, f"{target}: grace {grace}s > preStop {pre_stop}s + drain {drain:g}s")
    check(config.get("port") in ports.values(), f"{target}: the config's port is the container port")
    probes = [container[p]["httpGet"] for p in ("startupProbe", "readinessProbe", "livenessProbe")]
    check(all(p["path"] == "/health" and p["port"] in ports for p in probes), f"{target}: probes GET /health")

    for svc in by_kind.get("Service", []):
        ok = selects(svc["spec"]["selector"], labels) and all(p["targetPort"] in ports for p in svc["spec"]["ports"])
        check(ok, f"{target}: Service {svc['metadata']['name']} selects the pods and their port")
    svc_labels = [s["metadata"].get("labels", {}) for s in by_kind.get("Service", [])]
    svc_ports = {p["name"] for s in by_kind.get("Service", []) for p in s["spec"]["ports"]}
    for sm in by_kind.get("ServiceMonitor", []):
        ok = any(selects(sm["spec"]["selector"]["matchLabels"], sl) for sl in svc_labels)
        ok = ok and all(e["port"] in svc_ports and e["path"] == "/metrics" for e in sm["spec"]["endpoints"])
        check(ok, f"{target}: ServiceMonitor selects the Service's http port, /metrics")
    for pm in by_kind.get("PodMonitor", []):
        ok = selects(pm["spec"]["selector"]["matchLabels"], labels)
        ok = ok and all(e["port"] in ports and e["path"] == "/metrics" for e in pm["spec"]["podMetricsEndpoints"])
        check(ok, f"{target}: PodMonitor selects the pods' http port, /metrics")
    for pool in by_kind.get("InferencePool", []):
        ok = selects(pool["spec"]["selector"]["matchLabels"], labels)
        ok = ok and all(p["number"] in ports.values() for p in pool["spec"]["targetPorts"])
        check(ok, f"{target}: InferencePool selects the pods and their port")
    pools = {p["metadata"]["name"] for p in by_kind.get("InferencePool", [])}
    for route in by_kind.get("HTTPRoute", []):
        refs = [b for r in route["spec"]["rules"] for b in r["backendRefs"]]
        ok = all(b.get("kind") == "InferencePool" and b["name"] in pools for b in refs)
        check(ok, f"{target}: HTTPRoute routes to the InferencePool")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        ok = ref["kind"] == "Deployment" and ref["name"] == dep["metadata"]["name"]
        check(ok, f"{target}: HPA scales the Deployment")
    annotations = pod["metadata"].get("annotations", {})
    check(
        annotations.get("prometheus.io/scrape") == "true" and int(annotations["prometheus.io/port"]) in ports.values(),
        f"{target}: prometheus.io annotations name the http port",
    )
    check_config_with_binary(target, config_text)


def check_config_with_binary(target: str, text: str) -> None:
    binary = os.environ.get("FAKEAI_BIN", "")
    if not binary or not Path(binary).is_file():
        print(f"skip    {target}: config.toml through fakeai (FAKEAI_BIN not set)")
        return
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEAI_")}
    env["FAKEAI_WORKERS"] = "2"  # as the Deployment sets it
    out = subprocess.run([binary, "config", "print", "--config-file", f.name], env=env, capture_output=True, text=True)
    os.unlink(f.name)
    ok = out.returncode == 0 and "drain_timeout = " in out.stdout and "workers = 2  # env FAKEAI_WORKERS" in out.stdout
    check(ok, f"{target}: fakeai accepts config.toml (fakeai config print)", out.stderr.strip() or out.stdout[-300:])


def main() -> int:
    for target in TARGETS:
        try:
            objs = render(target)
        except Exception as e:
            check(False, f"{target}: kustomize build", str(e))
            continue
        check(bool(objs), f"{target}: kustomize build ({len(objs)} objects)")
        for obj in objs:
            validate_schema(target, obj)
        try:
            check_consistency(target, objs)
        except (KeyError, ValueError, TypeError) as e:
            check(False, f"{target}: consistency checks", f"{type(e).__name__}: {e}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
