#!/usr/bin/env python3
"""Fits the engine's step-time coefficients (a, b, c, d in µs; src/sim/engine/step_time.rs) to
published TTFT/ITL-vs-concurrency measurements (a CSV under tools/data/, citation in its header).

Steady state of a closed loop of C clients, each sending ISL prompt tokens and reading OSL output
tokens, on an engine whose running batch is B = min(C, KV capacity / (ISL + OSL)):
  mean step  T(B) = a + b·B·ISL/OSL + c·B + d·B·(ISL + OSL/2)
    (every step decodes the batch; a prompt arrives every OSL/B steps and is prefilled whole;
     the decoding sequences hold ISL + OSL/2 tokens of context on average)
  ITL  = T(B)                                   (a stream takes part in every step)
  TTFT = a + b·ISL + c·B + d·B·(ISL + OSL/2) + T(B)/2   (for C ≤ B: its prefill step, after
                                                          half a step on average)
Only the C = 1 TTFT row is fitted: with more clients, prefills collide and queue behind each
other in a way this closed form does not capture (the simulator does; the validation run,
tools/engine_validate.sh, compares it). With one prompt length, b·ISL/OSL, c and d·ctx all
scale with B, so c and d cannot be told apart from b by these data: they are fixed at the
profile's formula values (src/sim/model_profile.rs) and a, b are fitted, minimising the
relative squared error (pure Python; no numpy needed).

usage: fit_step_time.py CSV KV_TOKENS C_US D_US
  KV_TOKENS: the profile's KV capacity on that GPU group (fakeai's num_gpu_blocks × block size);
  C_US, D_US: the fixed c and d.
"""

import csv
import sys


def rows(path):
    with open(path) as f:
        return [r for r in csv.DictReader(line for line in f if not line.startswith("#"))]


def features(c, isl, osl, kv_tokens):
    b = min(c, kv_tokens // (isl + osl))
    ctx = isl + osl / 2
    step = [1.0, b * isl / osl, b, b * ctx]
    ttft = [1.0 + 0.5, isl + 0.5 * b * isl / osl, 1.5 * b, 1.5 * b * ctx] if c == 1 else None
    return step, ttft


def solve(a_rows, y, keep):
    """Least squares on the columns in `keep` (normal equations, Gaussian elimination)."""
    n = len(keep)
    m = [[sum(r[i] * r[j] for r in a_rows) for j in keep] + [sum(r[i] * v for r, v in zip(a_rows, y))] for i in keep]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        for r in range(n):
            if r != col and m[col][col]:
                f = m[r][col] / m[col][col]
                m[r] = [x - f * p for x, p in zip(m[r], m[col])]
    x = [0.0] * 4
    for k, i in enumerate(keep):
        x[i] = m[k][n] / m[k][k]
    return x


def nnls(a_rows, y, keep):
    keep = list(keep)
    while True:
        x = solve(a_rows, y, keep)
        neg = [i for i in keep if x[i] < 0]
        if not neg:
            return x
        keep.remove(min(neg, key=lambda i: x[i]))


def main():
    path, kv_tokens, c_fixed, d_fixed = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    a_rows, y, shown = [], [], []
    for r in rows(path):
        c, isl, osl = int(r["concurrency"]), int(r["isl"]), int(r["osl"])
        step, ttft = features(c, isl, osl, kv_tokens)
        itl_us, ttft_us = float(r["itl_ms"]) * 1e3, float(r["ttft_ms"]) * 1e3
        a_rows.append([v / itl_us for v in step])
        y.append(1.0 - (c_fixed * step[2] + d_fixed * step[3]) / itl_us)
        if ttft:
            a_rows.append([v / ttft_us for v in ttft])
            y.append(1.0 - (c_fixed * ttft[2] + d_fixed * ttft[3]) / ttft_us)
        shown.append((c, step, ttft, itl_us, ttft_us))
    a, b, _, _ = nnls(a_rows, y, [0, 1])
    c, d = c_fixed, d_fixed
    print(f"fitted step time (µs): a={a:.1f} b={b:.3f} c={c:.2f} d={d:.5f}")
    print(f"--step-time {a:.1f},{b:.3f},{c:.2f},{d:.5f}")
    dot = lambda f: sum(k * v for k, v in zip((a, b, c, d), f))
    print(f"{'C':>5} {'ITL pub':>9} {'ITL fit':>9} {'err%':>6} {'TTFT pub':>10} {'TTFT fit':>10} {'err%':>6}")
    for conc, step, ttft, itl_us, ttft_us in shown:
        t = f"{ttft_us / 1e3:10.1f} {dot(ttft) / 1e3:10.1f} {100 * (dot(ttft) / ttft_us - 1):6.1f}" if ttft else f"{ttft_us / 1e3:10.1f} {'(not fit)':>10} {'':>6}"
        print(f"{conc:5d} {itl_us / 1e3:9.2f} {dot(step) / 1e3:9.2f} {100 * (dot(step) / itl_us - 1):6.1f} {t}")


if __name__ == "__main__":
    main()
