"""inference-perf (Kubernetes SIG's benchmark) against fakeai: 5 s at 10 requests/s of random
128-token prompts, 32 output tokens with ignore_eos, streamed; every request succeeds, its token
counts equal the server's (no mismatches), and TTFT and TPOT match `--ttft 50:0 --itl 10:0`.

Usage: python inference_perf_check.py BASE_URL TOKENIZER_DIR OUT_DIR   (prints `checks passed`)
"""
import json
import os
import subprocess
import sys

base, tokenizer, out = sys.argv[1], sys.argv[2], sys.argv[3]
config = os.path.join(out, "inference-perf.yml")
with open(config, "w") as f:
    f.write(f"""api: {{type: completion, streaming: true}}
data:
  type: random
  input_distribution: {{min: 128, max: 128, mean: 128, std_dev: 0, total_count: 100}}
  output_distribution: {{min: 32, max: 32, mean: 32, std_dev: 0, total_count: 100}}
load:
  type: constant
  stages: [{{rate: 10, duration: 5}}]
server: {{type: vllm, model_name: meta-llama/Llama-3.1-8B-Instruct, base_url: "{base}", ignore_eos: true}}
tokenizer: {{pretrained_model_name_or_path: "{tokenizer}"}}
storage: {{local_storage: {{path: "{out}/inference-perf"}}}}
""")
tool = os.path.join(os.path.dirname(sys.executable), "inference-perf")
subprocess.run([tool, "-c", config], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
               env={**os.environ, "HF_HUB_OFFLINE": "1"})
summary = json.load(open(os.path.join(out, "inference-perf", "summary_lifecycle_metrics.json")))
ok, latency = summary["successes"], summary["successes"]["latency"]
assert ok["count"] == 50 and summary["failures"]["count"] == 0, (ok["count"], summary["failures"])
tokens = {k: (ok[k]["min"], ok[k]["max"]) for k in ("prompt_tokens", "output_tokens")}
assert tokens == {"prompt_tokens": (128, 128), "output_tokens": (32, 32)}, tokens
assert ok["token_count_mismatches"] == 0, "inference-perf's token counts differ from the server's usage"
ttft, tpot = latency["time_to_first_token"]["median"] * 1e3, latency["time_per_output_token"]["mean"] * 1e3
assert 50 <= ttft < 65, f"TTFT median {ttft:.2f} ms, configured 50"
assert 9.8 < tpot < 10.3, f"TPOT mean {tpot:.3f} ms, configured 10"
print(f"inference-perf: 50 requests at 10/s, TTFT median {ttft:.2f} ms (50), TPOT mean {tpot:.3f} ms (10), "
      "128 prompt / 32 output tokens, no token-count mismatch")
print("checks passed")
