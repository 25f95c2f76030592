"""vLLM's `vllm bench serve` against fakeai: random 128-token prompts, 32 output tokens with
ignore_eos, concurrency 10; every request succeeds, token totals are exact, and TTFT and TPOT
match the server's `--ttft 50:0 --itl 10:0`.

Usage: python vllm_bench_check.py BASE_URL TOKENIZER_DIR OUT_DIR   (prints `checks passed`)
"""
import json
import os
import subprocess
import sys

base, tokenizer, out = sys.argv[1], sys.argv[2], sys.argv[3]
vllm = os.path.join(os.path.dirname(sys.executable), "vllm")
subprocess.run([vllm, "bench", "serve", "--backend", "openai-chat", "--base-url", base,
                "--endpoint", "/v1/chat/completions", "--model", "meta-llama/Llama-3.1-8B-Instruct",
                "--tokenizer", tokenizer, "--dataset-name", "random", "--random-input-len", "128",
                "--random-output-len", "32", "--num-prompts", "50", "--max-concurrency", "10", "--ignore-eos",
                "--save-result", "--result-dir", out, "--result-filename", "vllm_bench.json"],
               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600,
               env={**os.environ, "HF_HUB_OFFLINE": "1"})
r = json.load(open(os.path.join(out, "vllm_bench.json")))
assert r["completed"] == 50 and r["failed"] == 0, r
assert r["total_input_tokens"] == 50 * 128 and r["total_output_tokens"] == 50 * 32, r
assert 50 <= r["median_ttft_ms"] < 65, f"TTFT median {r['median_ttft_ms']:.2f} ms, configured 50"
assert 9.8 < r["mean_tpot_ms"] < 10.3, f"TPOT mean {r['mean_tpot_ms']:.3f} ms, configured 10"
print(f"vllm bench serve: 50 requests, TTFT median {r['median_ttft_ms']:.2f} ms (50), TPOT mean "
      f"{r['mean_tpot_ms']:.3f} ms (10), 128 prompt / 32 output tokens each")
print("checks passed")
