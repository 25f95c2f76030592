"""guidellm against fakeai: a short constant-rate run whose TTFT, ITL and token counts must match
the server's configuration (TTFT 50 ms, ITL 10 ms, 128 prompt tokens, 32 output tokens).

Usage: python guidellm_check.py BASE_URL TOKENIZER_DIR OUT_DIR   (prints `checks passed`)
The server must run with `--ttft 50:0 --itl 10:0`.
"""
import json
import os
import subprocess
import sys

base, tokenizer, out = sys.argv[1], sys.argv[2], sys.argv[3]
report = os.path.join(out, "guidellm.json")
guidellm = os.path.join(os.path.dirname(sys.executable), "guidellm")
subprocess.run([guidellm, "run", "--backend", f"kind=openai_http,target={base}",
                "--profile", "kind=constant,rate=10", "--constraint", "kind=max_duration,seconds=5",
                "--data", "kind=synthetic_text,prompt_tokens=128,output_tokens=32",
                "--tokenizer", f"kind=huggingface_auto,model={tokenizer}",
                "--output", f"kind=json,path={report}", "--disable-progress"],
               check=True, stdout=subprocess.DEVNULL, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=600)
metrics = json.load(open(report))["benchmarks"][0]["metrics"]


def ok(name):
    return metrics[name]["successful"]


totals = metrics["request_totals"]
assert totals["errored"] == 0 and totals["successful"] >= 40, totals
assert ok("prompt_token_count")["min"] == ok("prompt_token_count")["max"] == 128, ok("prompt_token_count")
assert ok("output_token_count")["min"] == ok("output_token_count")["max"] == 32, ok("output_token_count")
ttft, itl = ok("time_to_first_token_ms")["median"], ok("inter_token_latency_ms")["mean"]
assert 50 <= ttft < 65, f"TTFT median {ttft:.2f} ms, configured 50"
assert 9.8 < itl < 10.3, f"ITL mean {itl:.3f} ms, configured 10"
print(f"guidellm: {totals['successful']} requests at 10/s, TTFT median {ttft:.2f} ms (50), ITL mean {itl:.3f} ms (10), "
      "128 prompt / 32 output tokens")
print("checks passed")
