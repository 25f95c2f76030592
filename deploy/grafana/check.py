"""Every Grafana panel's query returns data against a real Prometheus that scraped fakeai under load.

1. The committed dashboards equal what build.py writes.
2. promtool accepts deploy/prometheus/prometheus.yml and rules.yml.
3. A fakeai (release build) runs under load from fakeai-bench plus a few error, fault and
   non-streaming requests; a Prometheus (Debian's package) scrapes it every second with
   deploy/prometheus/prometheus.yml (target and interval replaced).
4. Every target of every panel, every template variable and every recording rule is queried; each
   must return at least one series.

Usage: python3 deploy/grafana/check.py   (needs `prometheus`, `promtool` and target/release/fakeai*)
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "deploy", "grafana"))
import build  # noqa: E402

LOAD_SECONDS = 25
QUERY_AFTER = 15


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"{url} did not answer")


def post(url, body, headers=None):
    req = urllib.request.Request(url, json.dumps(body).encode(), {"content-type": "application/json", **(headers or {})})
    try:
        urllib.request.urlopen(req, timeout=10).read()
    except (OSError, http.client.HTTPException):
        pass  # errors and cut streams are the point of some of these requests


def side_traffic(base):
    """Requests fakeai-bench does not make: non-streaming, an unknown route, injected faults."""
    chat = {"model": "meta-llama/Llama-3.1-8B-Instruct", "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 8}
    post(f"{base}/v1/chat/completions", chat)
    post(f"{base}/v1/chat/completions", {"model": "x"})  # 400
    post(f"{base}/v1/chat/completions", chat, {"X-Fakeai-Fault": "503"})
    post(f"{base}/v1/chat/completions", {**chat, "stream": True}, {"X-Fakeai-Fault": "close;after=2"})
    try:
        urllib.request.urlopen(f"{base}/v1/nothing-here", timeout=5)
    except OSError:
        pass


def substitute(expr):
    """A Grafana query as Prometheus runs it: every variable set to All."""
    expr = expr.replace("$__rate_interval", "15s")
    return re.sub(r"\$\{?(\w+)\}?", ".*", expr)


def query(prom, expr):
    url = f"{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    answer = json.load(urllib.request.urlopen(url, timeout=10))
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]


def label_values(prom, query_text):
    """Grafana's `label_values(metric, label)` through the series API."""
    metric, label = re.fullmatch(r"label_values\((.+), (\w+)\)", query_text).groups()
    url = f"{prom}/api/v1/label/{label}/values?" + urllib.parse.urlencode({"match[]": metric})
    return json.load(urllib.request.urlopen(url, timeout=10))["data"]


def check_committed():
    for name, text in build.render().items():
        with open(os.path.join(ROOT, "deploy", "grafana", name)) as f:
            assert f.read() == text, f"deploy/grafana/{name} differs from build.py's output: run build.py"


def prometheus_config(work, target):
    src = open(os.path.join(ROOT, "deploy", "prometheus", "prometheus.yml")).read()
    config = src.replace("127.0.0.1:8000", target).replace("scrape_interval: 5s", "scrape_interval: 1s") \
        .replace("evaluation_interval: 5s", "evaluation_interval: 1s")
    shutil.copy(os.path.join(ROOT, "deploy", "prometheus", "rules.yml"), work)
    path = os.path.join(work, "prometheus.yml")
    with open(path, "w") as f:
        f.write(config)
    return path


def main():
    check_committed()
    for args in (["check", "config", "deploy/prometheus/prometheus.yml"], ["check", "rules", "deploy/prometheus/rules.yml"]):
        subprocess.run(["promtool", *args], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    work = tempfile.mkdtemp(prefix="fakeai-grafana-")
    procs = []
    try:
        port, prom_port = free_port(), free_port()
        base, prom = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{prom_port}"
        procs.append(subprocess.Popen([os.path.join(ROOT, "target/release/fakeai"), "server", "--port", str(port),
                                       "--workers", "2", "--ttft", "20:0", "--itl", "5:0",
                                       "--rate-limit-rpm", "100000000", "--rate-limit-tpm", "1000000000",
                                       "--gpus", "2", "--dcgm-port", "off"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"{base}/health")
        procs.append(subprocess.Popen(["prometheus", f"--config.file={prometheus_config(work, f'127.0.0.1:{port}')}",
                                       f"--storage.tsdb.path={work}/data", f"--web.listen-address=127.0.0.1:{prom_port}",
                                       "--log.level=warn"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_http(f"{prom}/-/ready")
        bench = subprocess.Popen([os.path.join(ROOT, "target/release/fakeai-bench"), "--url", base, "--concurrency", "50",
                                  "--max-tokens", "32", "--duration", f"{LOAD_SECONDS}s", "--requests", "1000000",
                                  "--model", "meta-llama/Llama-3.1-8B-Instruct"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(bench)
        start = time.time()
        while time.time() - start < QUERY_AFTER:
            side_traffic(base)
            time.sleep(0.5)
        checked = 0
        for name, text in build.render().items():
            dash = json.loads(text)
            for var in dash["templating"]["list"]:
                if var["type"] == "query":
                    values = label_values(prom, var["query"]["query"])
                    assert values, f"{name}: variable ${var['name']} ({var['query']['query']}) has no values"
                    checked += 1
            for p in dash["panels"]:
                for t in p["targets"]:
                    result = query(prom, substitute(t["expr"]))
                    assert result, f"{name}: panel '{p['title']}' query returned no data: {t['expr']}"
                    checked += 1
        rules = re.findall(r"expr: (?:>-\n)?\s*(.+?)(?=\n\s+- record|\n  - name|\Z)",
                           open(os.path.join(ROOT, "deploy/prometheus/rules.yml")).read(), re.S)
        for expr in rules:
            assert query(prom, " ".join(expr.split())), f"recording rule returned no data: {expr}"
            checked += 1
        bench.wait(timeout=LOAD_SECONDS + 30)
        print(f"grafana check: {checked} queries (every panel target, template variable and recording rule) "
              "returned data from a Prometheus scraping fakeai under load")
        print("checks passed")
    finally:
        for p in procs:
            p.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
