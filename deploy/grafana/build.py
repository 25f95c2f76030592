"""Writes the Grafana dashboards in this folder from the panel lists below.

The dashboards are generated, not hand-edited, so that every panel has the same shape and every
query is a plain PromQL string that `check.py` can run against a real Prometheus. Run
`python3 deploy/grafana/build.py` after changing a panel; `check.py` fails when a committed JSON
differs from what this script writes.

Variables every dashboard understands: `$datasource` (a Prometheus data source), `$job`, and, where
the metrics carry it, `$model_name` / `$model` / `$gpu`. `$__rate_interval` is Grafana's own.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def quantiles(metric, selector, by=""):
    """p50/p90/p99 of a histogram, as three targets."""
    group = f"le{', ' + by if by else ''}"
    return [(f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[$__rate_interval])))",
             f"p{int(q * 100)}{' {{' + by + '}}' if by else ''}") for q in (0.5, 0.9, 0.99)]


def mean(metric, selector, legend="mean"):
    """The mean of a histogram over the interval, as one target."""
    return [(f"sum(rate({metric}_sum{{{selector}}}[$__rate_interval])) / "
             f"sum(rate({metric}_count{{{selector}}}[$__rate_interval]))", legend)]


def panel(title, unit, targets, kind="timeseries"):
    return {"title": title, "unit": unit, "targets": targets, "type": kind}


VLLM = 'job=~"$job", model_name=~"$model_name"'
VLLM_PANELS = [
    panel("E2E request latency", "s", quantiles("vllm:e2e_request_latency_seconds", VLLM)
          + mean("vllm:e2e_request_latency_seconds", VLLM)),
    panel("Token throughput", "short", [
        (f"sum(rate(vllm:prompt_tokens_total{{{VLLM}}}[$__rate_interval]))", "prompt tokens/s"),
        (f"sum(rate(vllm:generation_tokens_total{{{VLLM}}}[$__rate_interval]))", "generation tokens/s")]),
    panel("Time to first token", "s", quantiles("vllm:time_to_first_token_seconds", VLLM)
          + mean("vllm:time_to_first_token_seconds", VLLM)),
    panel("Inter-token latency", "s", quantiles("vllm:inter_token_latency_seconds", VLLM)
          + mean("vllm:inter_token_latency_seconds", VLLM)),
    panel("Scheduler state", "short", [
        (f"sum(vllm:num_requests_running{{{VLLM}}})", "running"),
        (f"sum(vllm:num_requests_waiting{{{VLLM}}})", "waiting")]),
    panel("KV cache usage", "percentunit", [(f"max(vllm:kv_cache_usage_perc{{{VLLM}}})", "KV cache usage")]),
    panel("Prefix cache hit rate", "percentunit", [
        (f"sum(rate(vllm:prefix_cache_hits_total{{{VLLM}}}[$__rate_interval])) / "
         f"clamp_min(sum(rate(vllm:prefix_cache_queries_total{{{VLLM}}}[$__rate_interval])), 1)", "hit rate")]),
    panel("Preemptions", "short", [
        (f"sum(rate(vllm:num_preemptions_total{{{VLLM}}}[$__rate_interval]))", "preemptions/s")]),
    panel("Finish reason", "short", [
        (f"sum by (finished_reason) (increase(vllm:request_success_total{{{VLLM}}}[$__rate_interval]))",
         "{{finished_reason}}")]),
    panel("Queue time", "s", mean("vllm:request_queue_time_seconds", VLLM)),
    panel("Prefill and decode time", "s", mean("vllm:request_prefill_time_seconds", VLLM, "prefill")
          + mean("vllm:request_decode_time_seconds", VLLM, "decode")),
    panel("Request prompt length", "short", [
        (f"sum by (le) (increase(vllm:request_prompt_tokens_bucket{{{VLLM}}}[$__rate_interval]))", "{{le}}")],
          "heatmap"),
    panel("Request generation length", "short", [
        (f"sum by (le) (increase(vllm:request_generation_tokens_bucket{{{VLLM}}}[$__rate_interval]))", "{{le}}")],
          "heatmap"),
    panel("max_tokens requested", "short", quantiles("vllm:request_params_max_tokens", VLLM)),
    panel("Cache config", "short", [(f"max by (block_size, num_gpu_blocks, enable_prefix_caching) "
                                     f"(vllm:cache_config_info{{job=~\"$job\"}})", "blocks {{num_gpu_blocks}}")],
          "stat"),
]

DYN = 'job=~"$job", model=~"$model"'
DYNAMO_PANELS = [
    panel("Frontend requests", "reqps", [
        (f"sum by (status) (rate(dynamo_frontend_requests_total{{{DYN}}}[$__rate_interval]))", "{{status}}")]),
    panel("In flight and queued", "short", [
        (f"sum(dynamo_frontend_inflight_requests{{{DYN}}})", "in flight"),
        (f"sum(dynamo_frontend_queued_requests{{{DYN}}})", "queued")]),
    panel("Time to first token", "s", quantiles("dynamo_frontend_time_to_first_token_seconds", DYN)),
    panel("Inter-token latency", "s", quantiles("dynamo_frontend_inter_token_latency_seconds", DYN)),
    panel("Request duration", "s", quantiles("dynamo_frontend_request_duration_seconds", DYN)),
    panel("Input and output sequence length", "short", mean("dynamo_frontend_input_sequence_tokens", DYN, "input")
          + mean("dynamo_frontend_output_sequence_tokens", DYN, "output")),
    panel("Disconnected clients", "short", [(f"sum(dynamo_frontend_disconnected_clients{{job=~\"$job\"}})",
                                             "disconnected")]),
    panel("Worker throughput (FakeAI's dynamo view)", "short", [
        ('sum(fakeai_dynamo_requests_per_second{job=~"$job"})', "requests/s"),
        ('sum(fakeai_dynamo_tokens_per_second{job=~"$job"})', "tokens/s")]),
    panel("Worker queue and batch", "short", [
        ('max(fakeai_dynamo_queue_depth{job=~"$job"})', "queue depth"),
        ('max(fakeai_dynamo_batch_size{job=~"$job"})', "batch size")]),
    panel("Worker KV cache hit rate", "percentunit", [('max(fakeai_dynamo_kv_cache_hit_rate{job=~"$job"})', "hit rate")]),
]

FA = 'job=~"$job"'
FAKEAI_PANELS = [
    panel("Emit lateness (server)", "s", quantiles("fakeai_emit_lateness_seconds", FA)),
    panel("Request read delay", "s", quantiles("fakeai_request_read_delay_seconds", FA)),
    panel("SSE events/s", "short", [(f"sum(rate(fakeai_sse_events_total{{{FA}}}[$__rate_interval]))", "events/s")]),
    panel("Streams and connections per worker", "short", [
        (f"sum by (worker) (fakeai_streams_active{{{FA}}})", "streams {{worker}}"),
        (f"sum by (worker) (fakeai_connections_open{{{FA}}})", "connections {{worker}}")]),
    panel("Timer batching window per worker", "s", [
        (f"max by (worker) (fakeai_timer_window_seconds{{{FA}}})", "worker {{worker}}")]),
    panel("Responses by status", "reqps", [
        (f"sum by (status) (rate(fakeai_responses_total{{{FA}}}[$__rate_interval]))", "{{status}}")]),
    panel("Errors by type", "short", [
        (f"sum by (type) (increase(fakeai_errors_total{{{FA}}}[$__rate_interval]))", "{{type}}")]),
    panel("Faults injected", "short", [
        (f"sum by (kind) (increase(fakeai_faults_injected_total{{{FA}}}[$__rate_interval]))", "{{kind}}")]),
    panel("Rate limits", "short", [
        (f"sum(rate(fakeai_rate_limit_requests_total{{{FA}}}[$__rate_interval]))", "admitted/s"),
        (f"sum(rate(fakeai_rate_limit_throttled_total{{{FA}}}[$__rate_interval]))", "throttled (429)/s")]),
    panel("Tokens/s", "short", [
        (f"sum(rate(fakeai_prompt_tokens_total{{{FA}}}[$__rate_interval]))", "prompt"),
        (f"sum(rate(fakeai_completion_tokens_total{{{FA}}}[$__rate_interval]))", "completion")]),
    panel("Time to first token and ITL", "s", quantiles("fakeai_time_to_first_token_seconds", FA)
          + mean("fakeai_inter_token_latency_seconds", FA, "ITL mean")),
    panel("Request duration by endpoint", "s", quantiles("fakeai_request_duration_seconds", FA, "endpoint")),
    panel("Network", "Bps", [
        (f"sum(rate(fakeai_bytes_sent_total{{{FA}}}[$__rate_interval]))", "sent"),
        (f"sum(rate(fakeai_bytes_received_total{{{FA}}}[$__rate_interval]))", "received")]),
    panel("Streams cancelled by clients", "short", [
        (f"sum(increase(fakeai_streams_cancelled_total{{{FA}}}[$__rate_interval]))", "cancelled")]),
]

G = 'job=~"$job", gpu=~"$gpu"'
GPU_PANELS = [
    panel("GPU utilisation", "percent", [(f"avg by (gpu) (DCGM_FI_DEV_GPU_UTIL{{{G}}})", "GPU {{gpu}}")]),
    panel("Power", "watt", [(f"sum by (gpu) (DCGM_FI_DEV_POWER_USAGE{{{G}}})", "GPU {{gpu}}"),
                            (f"sum(DCGM_FI_DEV_POWER_USAGE{{{G}}})", "total")]),
    panel("Energy (per interval)", "joule", [
        (f"sum by (gpu) (increase(DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{{{G}}}[$__rate_interval])) / 1000", "GPU {{gpu}}")]),
    panel("Framebuffer memory", "decmbytes", [
        (f"sum(DCGM_FI_DEV_FB_USED{{{G}}})", "used"), (f"sum(DCGM_FI_DEV_FB_FREE{{{G}}})", "free"),
        (f"sum(DCGM_FI_DEV_FB_RESERVED{{{G}}})", "reserved")]),
    panel("Temperatures", "celsius", [(f"max by (gpu) (DCGM_FI_DEV_GPU_TEMP{{{G}}})", "GPU {{gpu}}"),
                                      (f"max by (gpu) (DCGM_FI_DEV_MEMORY_TEMP{{{G}}})", "memory {{gpu}}")]),
    panel("Clocks", "rotmhz", [(f"avg by (gpu) (DCGM_FI_DEV_SM_CLOCK{{{G}}})", "SM {{gpu}}"),
                               (f"avg by (gpu) (DCGM_FI_DEV_MEM_CLOCK{{{G}}})", "memory {{gpu}}")]),
    panel("Engine, tensor and DRAM activity", "percentunit", [
        (f"avg(DCGM_FI_PROF_GR_ENGINE_ACTIVE{{{G}}})", "graphics engine"),
        (f"avg(DCGM_FI_PROF_PIPE_TENSOR_ACTIVE{{{G}}})", "tensor pipes"),
        (f"avg(DCGM_FI_PROF_DRAM_ACTIVE{{{G}}})", "DRAM")]),
    panel("PCIe", "Bps", [(f"sum(DCGM_FI_PROF_PCIE_TX_BYTES{{{G}}})", "tx"),
                          (f"sum(DCGM_FI_PROF_PCIE_RX_BYTES{{{G}}})", "rx")]),
    panel("Throttling", "ns", [
        (f"sum(rate(DCGM_FI_DEV_POWER_VIOLATION{{{G}}}[$__rate_interval]))", "power-limited ns/s"),
        (f"sum(rate(DCGM_FI_DEV_THERMAL_VIOLATION{{{G}}}[$__rate_interval]))", "thermal-limited ns/s")]),
    panel("XID errors", "short", [(f"max by (gpu) (DCGM_FI_DEV_XID_ERRORS{{{G}}})", "GPU {{gpu}}")]),
]

DASHBOARDS = {
    "vllm.json": ("fakeai — vLLM", "fakeai-vllm", VLLM_PANELS, ("model_name", "vllm:num_requests_running")),
    "dynamo.json": ("fakeai — Dynamo", "fakeai-dynamo", DYNAMO_PANELS,
                    ("model", "dynamo_frontend_requests_total")),
    "fakeai.json": ("fakeai — server", "fakeai-server", FAKEAI_PANELS, None),
    "gpu.json": ("fakeai — GPUs (DCGM)", "fakeai-gpu", GPU_PANELS, ("gpu", "DCGM_FI_DEV_GPU_UTIL")),
}


def variable(name, query, datasource):
    return {"name": name, "type": "query", "datasource": datasource, "refresh": 2, "includeAll": True,
            "multi": True, "current": {"text": "All", "value": "$__all"}, "allValue": ".*",
            "query": {"query": query, "refId": name}, "definition": query}


def dashboard(title, uid, panels, label):
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    out = []
    for i, p in enumerate(panels):
        out.append({
            "id": i + 1, "type": p["type"], "title": p["title"], "datasource": datasource,
            "gridPos": {"h": 8, "w": 12, "x": (i % 2) * 12, "y": (i // 2) * 8},
            "fieldConfig": {"defaults": {"unit": p["unit"]}, "overrides": []},
            "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
            "targets": [{"refId": chr(65 + j), "expr": expr, "legendFormat": legend, "datasource": datasource}
                        for j, (expr, legend) in enumerate(p["targets"])],
        })
    variables = [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"},
                 variable("job", f"label_values({'DCGM_FI_DEV_GPU_UTIL' if uid == 'fakeai-gpu' else 'fakeai_requests_total'}, job)",
                          datasource)]
    if label:
        variables.append(variable(label[0], f"label_values({label[1]}, {label[0]})", datasource))
    return {"uid": uid, "title": title, "tags": ["fakeai"], "schemaVersion": 39, "version": 1,
            "editable": True, "refresh": "5s", "time": {"from": "now-15m", "to": "now"},
            "templating": {"list": variables}, "panels": out}


def render():
    """Each dashboard's file name and its JSON text."""
    return {name: json.dumps(dashboard(*spec), indent=2) + "\n" for name, spec in DASHBOARDS.items()}


if __name__ == "__main__":
    for name, text in render().items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)
        print(f"wrote deploy/grafana/{name}")
