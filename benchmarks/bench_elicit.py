"""Elicitation throughput on the embedded SmolLM2-135M, CPU: logits vs K=10 sampling, batching, load times.

Run from the repository root: ``.venv/bin/python benchmarks/bench_elicit.py``. Same model,
same prompts (the project's outcomes, pairwise template, both orders) for every route.
Prints comparisons per second, speed ratios, the agreement between the two routes'
probabilities of choosing A, and cold (conversion) and warm model load times; then the
targets of the elicitation issue with PASS or FAIL.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import valuelab as vl  # noqa: E402
from valuelab.datasets import load_outcomes  # noqa: E402
from valuelab.elicit import TransformersModel, pairwise_prompt, parse_choice  # noqa: E402

LOAD = ("import time; t0=time.perf_counter(); import torch, transformers; from valuelab.elicit import "
        "TransformersModel; t1=time.perf_counter(); TransformersModel('smollm2-135m-instruct'); "
        "print(t1-t0, time.perf_counter()-t1)")


def load_seconds(cache: str) -> tuple[float, float]:
    """(seconds importing torch and transformers, seconds loading the model) in a fresh process."""
    out = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, check=True,
                         env={**os.environ, "VALUELAB_CACHE": cache, "TQDM_DISABLE": "1"})
    imp, load = out.stdout.strip().splitlines()[-1].split()
    return float(imp), float(load)


def matmul_peak_gflops(threads: int) -> float:
    """Best float32 matmul throughput of this machine with torch (2048 x 2048, best of 5)."""
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(5))
    return 2 * 2048**3 / best / 1e9


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def forward_gflop(model: TransformersModel, prompts) -> float:
    """Matmul work of the logit route on these prompts: 2 x (non-embedding parameters) per token run,
    counting the shared prefix once, plus one vocabulary projection per prompt."""
    from valuelab.elicit.transformers_backend import _common_prefix_length

    enc = [model.tokenizer(model.render(p), add_special_tokens=not model.chat)["input_ids"] for p in prompts]
    shared = _common_prefix_length(enc)
    tokens = shared + sum(len(e) - shared for e in enc)
    emb = model.model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.model.parameters()) - emb.numel()
    return (2 * body * tokens + 2 * emb.numel() * len(prompts)) / 1e9


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--sample-prompts", type=int, default=8, help="prompts for the (slow) sampling route")
    parser.add_argument("--k", type=int, default=10)
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="valuelab-bench-")
    try:
        import_s, cold = load_seconds(tmp)
        warm = min(load_seconds(tmp)[1] for _ in range(2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    outcomes = load_outcomes()
    rng = np.random.default_rng(0)
    pairs = vl.random_pairs(outcomes, args.prompts // 2, seed=0)
    text = outcomes.set_index("option_id")["text"]
    prompts = []
    for a, b in zip(pairs.option_a, pairs.option_b):
        prompts += [pairwise_prompt(text[a], text[b]), pairwise_prompt(text[b], text[a])]
    prompts = prompts[: args.prompts]

    batched = TransformersModel("smollm2-135m-instruct", batch_size=32)
    single = TransformersModel("smollm2-135m-instruct", batch_size=1)
    batched.option_probabilities(prompts[:4])  # warm-up

    # the logit routes are quick: best of 3 runs, as this machine's timings vary by +-30%
    t_batched = t_single = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        probs_b, mass = batched.option_probabilities(prompts)
        t_batched = min(t_batched, time.perf_counter() - t0)
        t0 = time.perf_counter()
        probs_1, _ = single.option_probabilities(prompts)
        t_single = min(t_single, time.perf_counter() - t0)

    half = TransformersModel("smollm2-135m-instruct", batch_size=32, dtype="bfloat16")
    half.option_probabilities(prompts[:4])
    t_half = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        probs_h, _ = half.option_probabilities(prompts)
        t_half = min(t_half, time.perf_counter() - t0)
    del half

    idx = rng.choice(len(prompts), size=min(args.sample_prompts, len(prompts)), replace=False)
    sample_prompts = [prompts[i] for i in idx]
    t_sample = np.inf  # best of 2, like the logit routes' best of 3: both get their quickest run
    for _ in range(2):
        t0 = time.perf_counter()
        answers = batched.generate(sample_prompts, k=args.k, temperature=1.0, max_new_tokens=8, seed=0)
        t_sample = min(t_sample, time.perf_counter() - t0)
    parsed = [[parse_choice(a) for a in ans] for ans in answers]
    share_a = np.array([np.mean([p == "A" for p in ps if p]) if any(ps) else np.nan for ps in parsed])
    usable = np.array([sum(p is not None for p in ps) for ps in parsed])

    rate_b = len(prompts) / t_batched
    rate_1 = len(prompts) / t_single
    rate_s = len(sample_prompts) / t_sample
    print(f"prompts: {len(prompts)} logits, {len(sample_prompts)} sampled (k={args.k}); torch threads: "
          f"{__import__('torch').get_num_threads()}")
    print(f"model load: cold (GGUF -> safetensors) {cold:.1f} s, warm {warm:.2f} s "
          f"(plus {import_s:.1f} s to import torch and transformers)")
    print(f"logits, batched (32):   {rate_b:7.2f} comparisons/s")
    print(f"logits, unbatched:      {rate_1:7.2f} comparisons/s   (batched is {rate_b / rate_1:.1f}x)")
    print(f"sampling, k={args.k}:         {rate_s:7.3f} comparisons/s   (logits are {rate_b / rate_s:.1f}x)")
    print(f"batched vs unbatched probabilities: max |diff| {np.abs(probs_b - probs_1).max():.2e}")
    print(f"option dtype='bfloat16', batched: {len(prompts) / t_half:7.2f} comparisons/s "
          f"({t_batched / t_half:.1f}x float32; max |diff| of probabilities {np.abs(probs_h - probs_b).max():.3f})")
    import torch

    peak = matmul_peak_gflops(torch.get_num_threads())
    work = forward_gflop(batched, prompts)
    print(f"compute: the logit route does {work:.1f} GFLOP of matmuls on these prompts; this machine's float32 "
          f"matmul peak is {peak:.0f} GFLOP/s")
    print(f"  batched reaches {work / t_batched:.0f} GFLOP/s ({work / t_batched / peak:.0%} of peak), unbatched "
          f"{work / t_single:.0f} GFLOP/s ({work / t_single / peak:.0%}); 4x unbatched would need "
          f"{4 * work / t_single / peak:.0%} of peak")
    print(f"median option mass (probability on the letters): {np.median(mass):.3f}")
    ok = ~np.isnan(share_a)
    print(f"sampled answers parsed: {usable.sum()} of {len(sample_prompts) * args.k}")
    if ok.sum() >= 3:
        r = pearsonr(probs_b[idx][ok, 0], share_a[ok]).statistic
        print(f"agreement of P(A) from logits with the sampled share of A ({ok.sum()} prompts): r = {r:.3f}, "
              f"mean |diff| = {np.mean(np.abs(probs_b[idx][ok, 0] - share_a[ok])):.3f}")
    print("\n=== Targets ===")
    for name, good, detail in [
        ("logit route >= 30x the comparisons/s of K=10 sampling", rate_b / rate_s >= 30, f"{rate_b / rate_s:.1f}x"),
        ("batched logits >= 4x unbatched", rate_b / rate_1 >= 4, f"{rate_b / rate_1:.1f}x"),
        ("warm load under 5 s", warm < 5, f"{warm:.2f} s"),
        ("cold conversion under 2 minutes", cold < 120, f"{cold:.1f} s"),
    ]:
        print(f"{'PASS' if good else 'FAIL'}  {name}: {detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
