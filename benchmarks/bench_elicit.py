"""Elicitation throughput on the embedded SmolLM2-135M, CPU: logits vs K=10 sampling, batching, load times.

Run from the repository root: ``.venv/bin/python benchmarks/bench_elicit.py``. Same model,
same prompts (the project's outcomes, pairwise template, both orders) for every route, on two
workloads: the *design* workload is every pair of a regular 2 N log2 N design on 20 outcomes,
as ``elicit_comparisons`` asks it (each outcome is shown first in about 17 prompts); the
*random-pairs* workload is 64 prompts of 32 random pairs, where no two prompts show the same
first option. Routes: ``batched`` (valuelab's default: batches, the common prefix and each
group's shared start run once); ``unbatched`` (one prompt per forward pass, nothing shared:
what a loop over ``model(prompt)`` does); ``unbatched, common prefix shared`` (batch_size=1
but the template's common prefix still runs once); K=10 sampling with ``generate``; and
bfloat16. Prints comparisons (prompts) per second, speed ratios, the agreement between the
routes' probabilities, matmul work and this machine's peak, cold (conversion) and warm model
load times; then the targets of the elicitation issue with PASS or FAIL.
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
from valuelab.elicit.cached import cached_option_probabilities  # noqa: E402
from valuelab.elicit.design import default_budget, regular_design  # noqa: E402

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


def forward_gflop(model: TransformersModel, prompts) -> tuple[float, float]:
    """Matmul work of the logit route on these prompts, in GFLOP: (tokens that carry text, all
    tokens run including padding), each 2 x (non-embedding parameters) per token, plus one
    vocabulary projection per prompt. Counts the plan the model runs (`TransformersModel._plan`,
    in the calls `cached_option_probabilities` makes): the common prefix once, each group's
    shared start once per pool, and the padded second passes."""
    rendered = sorted(model.render(p) for p in prompts)
    real = padded = 0
    for s in range(0, len(rendered), model.prompts_per_call):
        enc = [model.tokenizer(t, add_special_tokens=not model.chat)["input_ids"]
               for t in rendered[s : s + model.prompts_per_call]]
        shared, tails, plans = model._plan(enc)
        real += shared
        padded += shared
        for segments, parts in plans:
            start = {r: length for length, rows in segments for r in rows}
            if any(start.values()):
                real += sum(length for length, _ in segments)
                padded += max(length for length, _ in segments) * len(segments)
            for part in parts:
                rest = [len(tails[r]) - start[r] for r in part]
                real += sum(rest)
                padded += max(rest) * len(rest)
    emb = model.model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.model.parameters()) - emb.numel()
    head = 2 * emb.numel() * len(prompts)
    return (2 * body * real + head) / 1e9, (2 * body * padded + head) / 1e9


def pairwise_prompts(outcomes, pairs) -> list[str]:
    """Both orders of every pair, as `elicit_comparisons` asks them."""
    text = outcomes.set_index("option_id")["text"]
    prompts = []
    for a, b in zip(pairs.option_a, pairs.option_b):
        prompts += [pairwise_prompt(text[a], text[b]), pairwise_prompt(text[b], text[a])]
    return prompts


def best_rates(routes: dict, prompts, repeats: dict) -> tuple[dict, dict]:
    """Prompts per second of each route (best of its repeats, runs interleaved so that the
    machine's drifts hit every route alike) and each route's probabilities. Each route is
    asked as `elicit_comparisons` asks (`cached_option_probabilities`, without a cache)."""
    times = {name: np.inf for name in routes}
    probs = {}
    for r in range(max(repeats.values())):
        for name, model in routes.items():
            if r < repeats[name]:
                t0 = time.perf_counter()
                probs[name] = cached_option_probabilities(model, prompts, ("A", "B"), cache=None)[0]
                times[name] = min(times[name], time.perf_counter() - t0)
    return {name: len(prompts) / t for name, t in times.items()}, probs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--options", type=int, default=20,
                        help="outcomes in the design workload (every pair of a 2 N log2 N design, both orders)")
    parser.add_argument("--prompts", type=int, default=64, help="prompts in the random-pairs workload")
    parser.add_argument("--sample-prompts", type=int, default=8, help="prompts for the (slow) sampling route")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=TransformersModel.__init__.__kwdefaults__["batch_size"])
    args = parser.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="valuelab-bench-")
    try:
        import_s, cold = load_seconds(tmp)
        warm = min(load_seconds(tmp)[1] for _ in range(2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    outcomes = load_outcomes()
    rng = np.random.default_rng(0)
    subset = outcomes.sample(args.options, random_state=0)
    design = pairwise_prompts(outcomes, regular_design(subset, default_budget(len(subset)), seed=0))
    scattered = pairwise_prompts(outcomes, vl.random_pairs(outcomes, args.prompts // 2, seed=0))[: args.prompts]

    batched = TransformersModel("smollm2-135m-instruct", batch_size=args.batch_size)
    single = TransformersModel("smollm2-135m-instruct", batch_size=1, share_prefix=False)
    single_shared = TransformersModel("smollm2-135m-instruct", batch_size=1)
    batched.option_probabilities(design[:4])  # warm-up
    routes = {"batched": batched, "unbatched": single, "unbatched, common prefix shared": single_shared}

    # unbatched runs last a minute on the design: one run each; the quick batched route: best of 3
    rates, probs = best_rates(routes, design, {"batched": 3, "unbatched": 1, "unbatched, common prefix shared": 1})
    rates_r, probs_r = best_rates(routes, scattered, {"batched": 3, "unbatched": 3, "unbatched, common prefix shared": 3})

    half = TransformersModel("smollm2-135m-instruct", batch_size=args.batch_size, dtype="bfloat16")
    half.option_probabilities(design[:4])
    rate_h, probs_h = best_rates({"half": half}, design, {"half": 3})
    del half

    idx = rng.choice(len(design), size=min(args.sample_prompts, len(design)), replace=False)
    sample_prompts = [design[i] for i in idx]
    t_sample = np.inf  # best of 2: every route gets its quickest run
    for _ in range(2):
        t0 = time.perf_counter()
        answers = batched.generate(sample_prompts, k=args.k, temperature=1.0, max_new_tokens=8, seed=0)
        t_sample = min(t_sample, time.perf_counter() - t0)
    parsed = [[parse_choice(a) for a in ans] for ans in answers]
    share_a = np.array([np.mean([p == "A" for p in ps if p]) if any(ps) else np.nan for ps in parsed])
    usable = np.array([sum(p is not None for p in ps) for ps in parsed])

    rate_s = len(sample_prompts) / t_sample
    rate_b, rate_1 = rates["batched"], rates["unbatched"]
    import torch

    print(f"torch threads: {torch.get_num_threads()}; batched route: batch_size={args.batch_size}")
    print(f"model load: cold (GGUF -> safetensors) {cold:.1f} s, warm {warm:.2f} s "
          f"(plus {import_s:.1f} s to import torch and transformers)")
    for title, prompts, r, pr in [
        (f"design workload: {len(design)} prompts, every pair of a regular design on {args.options} outcomes "
         "(2 N log2 N pairs), both orders", design, rates, probs),
        (f"random-pairs workload: {len(scattered)} prompts, {len(scattered) // 2} random pairs of "
         f"{len(outcomes)} outcomes, both orders", scattered, rates_r, probs_r),
    ]:
        print(f"\n{title}")
        for name, rate in r.items():
            extra = "" if name == "batched" else f"   (batched is {r['batched'] / rate:.1f}x)"
            print(f"  logits, {name + ':':32s} {rate:7.2f} comparisons/s{extra}")
        diff = max(np.abs(pr["batched"] - pr[name]).max() for name in pr)
        print(f"  max |diff| of probabilities between the routes: {diff:.2e}")
        real, padded = forward_gflop(batched, prompts)
        print(f"  batched runs {padded:.0f} GFLOP of matmuls ({real:.0f} on real tokens, the rest padding): "
              f"{padded * r['batched'] / len(prompts):.0f} GFLOP/s")
    print(f"\nsampling, k={args.k} ({len(sample_prompts)} design prompts): {rate_s:7.3f} comparisons/s "
          f"(batched logits are {rate_b / rate_s:.1f}x)")
    print(f"option dtype='bfloat16', batched, design: {rate_h['half']:7.2f} comparisons/s "
          f"({rate_h['half'] / rate_b:.1f}x float32; max |diff| of probabilities "
          f"{np.abs(probs_h['half'] - probs['batched']).max():.3f})")
    peak = matmul_peak_gflops(torch.get_num_threads())
    one_token = _forward_seconds(batched, 1)
    print(f"this machine: float32 matmul peak {peak:.0f} GFLOP/s; one forward pass of a single token takes "
          f"{one_token * 1000:.0f} ms (reading the weights), which every unbatched prompt pays")
    mass = batched.option_probabilities(design)[1]
    print(f"median option mass (probability on the letters): {np.median(mass):.3f}")
    ok = ~np.isnan(share_a)
    print(f"sampled answers parsed: {usable.sum()} of {len(sample_prompts) * args.k}")
    if ok.sum() >= 3:
        r = pearsonr(probs["batched"][idx][ok, 0], share_a[ok]).statistic
        print(f"agreement of P(A) from logits with the sampled share of A ({ok.sum()} prompts): r = {r:.3f}, "
              f"mean |diff| = {np.mean(np.abs(probs['batched'][idx][ok, 0] - share_a[ok])):.3f}")
    print("\n=== Targets (design workload, float32) ===")
    for name, good, detail in [
        ("logit route >= 30x the comparisons/s of K=10 sampling", rate_b / rate_s >= 30, f"{rate_b / rate_s:.1f}x"),
        ("batched logits >= 4x unbatched", rate_b / rate_1 >= 4, f"{rate_b / rate_1:.1f}x"),
        ("warm load under 5 s", warm < 5, f"{warm:.2f} s"),
        ("cold conversion under 2 minutes", cold < 120, f"{cold:.1f} s"),
    ]:
        print(f"{'PASS' if good else 'FAIL'}  {name}: {detail}")
    return 0


def _forward_seconds(model: TransformersModel, tokens: int) -> float:
    import torch

    ids = torch.full((1, tokens), 100)
    with torch.inference_mode():
        model.model(input_ids=ids)
        best = np.inf
        for _ in range(5):
            t0 = time.perf_counter()
            model.model(input_ids=ids, logits_to_keep=1)
            best = min(best, time.perf_counter() - t0)
    return best


if __name__ == "__main__":
    sys.exit(main())
