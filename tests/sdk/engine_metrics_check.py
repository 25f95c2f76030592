"""Parses the engine expositions of a running fakeai (started with --model-profile) with
prometheus_client's parsers and checks the families added for vLLM >= 0.30, SGLang and
TRT-LLM are valid and typed as the engines type them. Usage: engine_metrics_check.py BASE_URL"""
import sys
import urllib.request

from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

base = sys.argv[1]
EXPECTED = {
    "/metrics": {
        "vllm:request_params_n": "histogram",
        "vllm:request_params_max_tokens": "histogram",
        "vllm:external_prefix_cache_queries": "counter",
        "vllm:external_prefix_cache_hits": "counter",
        "vllm:mm_cache_queries": "counter",
        "vllm:mm_cache_hits": "counter",
        "vllm:corrupted_requests": "counter",
        "vllm:estimated_flops_per_gpu": "counter",
        "vllm:estimated_read_bytes_per_gpu": "counter",
        "vllm:estimated_write_bytes_per_gpu": "counter",
    },
    "/sglang/metrics": {
        "sglang:realtime_tokens": "counter",
        "sglang:num_aborted_requests": "counter",
    },
    "/prometheus/metrics": {
        "trtllm_spec_decode_num_draft_tokens": "counter",
        "trtllm_spec_decode_num_accepted_tokens": "counter",
        "trtllm_model_config_info": "gauge",
        "trtllm_parallel_config_info": "gauge",
        "trtllm_speculative_config_info": "gauge",
        "trtllm_kv_cache_config_info": "gauge",
    },
}
EXPECTED["/vllm/metrics"] = EXPECTED["/metrics"]
EXPECTED["/trtllm/metrics"] = EXPECTED["/prometheus/metrics"]

for path, wanted in EXPECTED.items():
    text = urllib.request.urlopen(base + path, timeout=10).read().decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    for name, kind in wanted.items():
        assert name in families, f"{path}: missing {name}"
        assert families[name].type == kind, f"{path}: {name} is a {families[name].type}, not a {kind}"
        assert families[name].samples, f"{path}: {name} has no samples"
    print(f"{path}: {len(families)} families parsed")

text = urllib.request.urlopen(base + "/sglang/metrics", timeout=10).read().decode()
sglang = {f.name: f for f in text_string_to_metric_families(text)}
modes = {s.labels["mode"] for s in sglang["sglang:realtime_tokens"].samples}
assert modes == {"prefill_compute", "prefill_cache", "decode"}, modes

req = urllib.request.Request(base + "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
om = {f.name: f for f in openmetrics_families(urllib.request.urlopen(req, timeout=10).read().decode())}
for name, kind in EXPECTED["/metrics"].items():
    assert om[name].type == kind, f"OpenMetrics {name}: {om[name].type}"
print(f"/metrics as OpenMetrics: {len(om)} families parsed")
print("checks passed")
