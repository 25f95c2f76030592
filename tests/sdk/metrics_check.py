"""Parses every Prometheus path of a running fakeai with prometheus_client's text parser and
checks the vLLM families AIPerf derives its server rows from. Usage: metrics_check.py BASE_URL"""
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

base = sys.argv[1]
for path in ["/metrics", "/vllm/metrics", "/dynamo_frontend/metrics", "/sglang/metrics", "/trtllm/metrics",
             "/metrics/prometheus", "/metrics/by-model/prometheus", "/dynamo/metrics"]:
    text = urllib.request.urlopen(base + path, timeout=10).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    if path in ("/metrics", "/vllm/metrics"):
        for name in ["vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                     "vllm:prompt_tokens", "vllm:generation_tokens", "vllm:prefix_cache_hits",
                     "vllm:prefix_cache_queries", "vllm:num_preemptions", "vllm:time_to_first_token_seconds",
                     "vllm:e2e_request_latency_seconds", "vllm:request_success"]:
            assert name in families, f"{path}: missing {name}"
        gen = sum(s.value for s in families["vllm:generation_tokens"].samples if s.name.endswith("_total"))
        assert gen == float(sys.argv[2]), f"{path}: generation tokens {gen} != {sys.argv[2]}"
        assert families["vllm:time_to_first_token_seconds"].type == "histogram"
    if path in ("/metrics", "/dynamo_frontend/metrics"):
        assert "dynamo_frontend_time_to_first_token_seconds" in families, f"{path}: no dynamo TTFT"
    if path == "/sglang/metrics":
        for name in ["sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:token_usage", "sglang:prompt_tokens",
                     "sglang:generation_tokens", "sglang:cached_tokens", "sglang:time_to_first_token_seconds"]:
            assert name in families, f"{path}: missing {name}"
    if path == "/trtllm/metrics":
        for name in ["trtllm:request_success", "trtllm:time_to_first_token_seconds", "trtllm:e2e_request_latency_seconds"]:
            assert name in families, f"{path}: missing {name}"
    if path == "/metrics":
        for name in ["fakeai_errors", "fakeai_time_to_first_token_seconds", "fakeai_inter_token_latency_seconds",
                     "fakeai_request_duration_seconds", "fakeai_emit_lateness_seconds"]:
            assert name in families, f"{path}: missing {name}"
    if path == "/dynamo/metrics":
        total = families["fakeai_dynamo_requests"].samples[0].value
        assert total == 2, f"{path}: requests {total} != 2 (streams count too)"
        assert families["fakeai_dynamo_ttft_seconds"].type == "summary"
    print(f"{path}: {len(families)} families parsed")

req = urllib.request.Request(base + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
resp = urllib.request.urlopen(req, timeout=10)
assert resp.headers["Content-Type"].startswith("application/openmetrics-text"), resp.headers["Content-Type"]
om = {f.name: f for f in openmetrics_families(resp.read().decode())}
assert om["vllm:generation_tokens"].type == "counter", "OpenMetrics counter family without _total"
assert om["vllm:time_to_first_token_seconds"].type == "histogram"
print(f"/metrics as OpenMetrics: {len(om)} families parsed")
