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
bfloat16. This shared machine's speed wanders by a quarter within minutes, so the routes
run in turn, in interleaved rounds, and each rate pools every prompt over every second of
its rounds; the one-prompt-per-pass routes ask a random share of the design per round and
all of it once over the rounds. Prints comparisons (prompts) per second, speed ratios (with
their range over rounds), the agreement between the
routes' probabilities, matmul work and this machine's peak, cold (conversion) and warm model
load times; then the targets of the elicitation issue with PASS or FAIL.
"""

from __future__ import annotations

import argparse
import copy
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
from valuelab.elicit.pair_designs import default_budget, regular_design  # noqa: E402

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


def plan_tokens(model: TransformersModel, prompts) -> tuple[int, int]:
    """Tokens the batched logit route runs on these prompts: (tokens that carry text, all tokens
    including padding). Counts the plan the model runs (`TransformersModel._plan`, in the calls
    `cached_option_probabilities` makes): the common prefix once per call, each group's shared
    start once per pool, and the padded second passes."""
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
    return real, padded


def forward_gflop(model: TransformersModel, prompts) -> tuple[float, float]:
    """Matmul work of the batched logit route on these prompts, in GFLOP: (tokens that carry
    text, all tokens run including padding; see `plan_tokens`), each 2 x (non-embedding
    parameters) per token, plus one vocabulary projection per prompt."""
    real, padded = plan_tokens(model, prompts)
    emb = model.model.get_input_embeddings().weight
    body = sum(p.numel() for p in model.model.parameters()) - emb.numel()
    head = 2 * emb.numel() * len(prompts)
    return (2 * body * real + head) / 1e9, (2 * body * padded + head) / 1e9


def prompt_tokens(model: TransformersModel, prompts) -> int:
    """Tokens of the rendered prompts, each whole: what one prompt per pass runs."""
    return sum(len(model.tokenizer(model.render(p), add_special_tokens=not model.chat)["input_ids"])
               for p in prompts)


def pairwise_prompts(outcomes, pairs) -> list[str]:
    """Both orders of every pair, as `elicit_comparisons` asks them."""
    text = outcomes.set_index("option_id")["text"]
    prompts = []
    for a, b in zip(pairs.option_a, pairs.option_b):
        prompts += [pairwise_prompt(text[a], text[b]), pairwise_prompt(text[b], text[a])]
    return prompts


def run_rounds(tasks: dict, rounds: int) -> dict:
    """Run every task once per round, in turn, so that the machine's drifts (this shared
    2-core machine's speed wanders by a quarter within minutes) hit every route alike.

    ``tasks`` maps a name to ``task(r)``, which asks round ``r``'s prompts and returns how
    many it asked. Returns {name: (prompts per round, seconds per round)} as arrays."""
    done = {name: ([], []) for name in tasks}
    for r in range(rounds):
        for name, task in tasks.items():
            t0 = time.perf_counter()
            n = task(r)
            done[name][1].append(time.perf_counter() - t0)
            done[name][0].append(n)
    return {name: (np.array(n), np.array(s)) for name, (n, s) in done.items()}


def pooled_rate(timing) -> float:
    """Prompts per second over all rounds: every prompt asked over every second spent."""
    n, s = timing
    return n.sum() / s.sum()


def round_ratios(fast, slow) -> np.ndarray:
    """Per-round ratio of two routes' prompts per second."""
    return (fast[0] / fast[1]) / (slow[0] / slow[1])


def route(model: TransformersModel, **settings) -> TransformersModel:
    """The same loaded model asked with other settings (``batch_size``, ``share_prefix``)."""
    other = copy.copy(model)
    for name, value in settings.items():
        setattr(other, name, value)
    return other


def probabilities(model: TransformersModel, prompts) -> np.ndarray:
    """P(A), P(B) of each prompt, asked as `elicit_comparisons` asks (without a cache)."""
    return cached_option_probabilities(model, prompts, ("A", "B"), cache=None)[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--options", type=int, default=20,
                        help="outcomes in the design workload (every pair of a 2 N log2 N design, both orders)")
    parser.add_argument("--prompts", type=int, default=64, help="prompts in the random-pairs workload")
    parser.add_argument("--sample-prompts", type=int, default=8, help="prompts for the (slow) sampling route")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=4,
                        help="interleaved rounds; the one-prompt-per-pass routes ask a 1/rounds share of the "
                             "design in each, so that over all rounds they ask all of it once")
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
    # one prompt per pass costs the same whichever prompts share its call: each round asks a
    # random 1/rounds share of the design, and over the rounds the whole design exactly once
    shares = np.array_split(rng.permutation(len(design)), args.rounds)
    sample_idx = rng.choice(len(design), size=min(args.sample_prompts, len(design)), replace=False)
    sample_prompts = [design[i] for i in sample_idx]

    batched = TransformersModel("smollm2-135m-instruct", batch_size=args.batch_size)
    half = TransformersModel("smollm2-135m-instruct", batch_size=args.batch_size, dtype="bfloat16")
    single = route(batched, batch_size=1, share_prefix=False)
    single_shared = route(batched, batch_size=1)
    half_single = route(half, batch_size=1, share_prefix=False)
    for model in (batched, half):
        model.option_probabilities(design[:4])  # warm-up

    probs = {"batched": None, "half": None, "unbatched": np.empty((len(design), 2)),
             "unbatched, common prefix shared": np.empty((len(design), 2)), "half, unbatched": np.empty((len(design), 2))}
    probs_r = {}
    answers = []

    def whole(store: dict, name: str, model, prompts):
        def task(r):
            store[name] = probabilities(model, prompts)
            return len(prompts)
        return task

    def share(name: str, model):
        def task(r):
            rows = shares[r]
            probs[name][rows] = probabilities(model, [design[i] for i in rows])
            return len(rows)
        return task

    def sample(r):
        answers[:] = batched.generate(sample_prompts, k=args.k, temperature=1.0, max_new_tokens=8, seed=0)
        return len(sample_prompts)

    tasks = {
        "batched": whole(probs, "batched", batched, design),
        "unbatched": share("unbatched", single),
        "unbatched, common prefix shared": share("unbatched, common prefix shared", single_shared),
        "sampling": sample,
        "half": whole(probs, "half", half, design),
        "half, unbatched": share("half, unbatched", half_single),
        "random: batched": whole(probs_r, "batched", batched, scattered),
        "random: unbatched": whole(probs_r, "unbatched", single, scattered),
        "random: unbatched, common prefix shared": whole(probs_r, "unbatched, common prefix shared",
                                                         single_shared, scattered),
    }
    timing = run_rounds(tasks, args.rounds)
    rate = {name: pooled_rate(t) for name, t in timing.items()}

    parsed = [[parse_choice(a) for a in ans] for ans in answers]
    share_a = np.array([np.mean([p == "A" for p in ps if p]) if any(ps) else np.nan for ps in parsed])
    usable = np.array([sum(p is not None for p in ps) for ps in parsed])
    import torch

    print(f"torch threads: {torch.get_num_threads()}; batched route: batch_size={args.batch_size}; "
          f"{args.rounds} interleaved rounds, rates pooled over them (every prompt over every second)")
    print(f"model load: cold (GGUF -> safetensors) {cold:.1f} s, warm {warm:.2f} s "
          f"(plus {import_s:.1f} s to import torch and transformers)")
    for title, prompts, prefix, pr in [
        (f"design workload: {len(design)} prompts, every pair of a regular design on {args.options} outcomes "
         "(2 N log2 N pairs), both orders", design, "", probs),
        (f"random-pairs workload: {len(scattered)} prompts, {len(scattered) // 2} random pairs of "
         f"{len(outcomes)} outcomes, both orders", scattered, "random: ", probs_r),
    ]:
        print(f"\n{title}")
        for name in ("batched", "unbatched", "unbatched, common prefix shared"):
            r = rate[prefix + name]
            extra = ""
            if name != "batched":
                per_round = round_ratios(timing[prefix + "batched"], timing[prefix + name])
                extra = (f"   (batched is {rate[prefix + 'batched'] / r:.2f}x; by round "
                         f"{per_round.min():.2f}-{per_round.max():.2f}x)")
            print(f"  logits, {name + ':':32s} {r:7.2f} comparisons/s{extra}")
        diff = max(np.abs(pr["batched"] - pr[name]).max() for name in pr if not name.startswith("half"))
        print(f"  max |diff| of probabilities between the routes: {diff:.2e}")
        real, padded = forward_gflop(batched, prompts)
        print(f"  batched runs {padded:.0f} GFLOP of matmuls ({real:.0f} on real tokens, the rest padding): "
              f"{padded * rate[prefix + 'batched'] / len(prompts):.0f} GFLOP/s")
    rate_b, rate_1, rate_s = rate["batched"], rate["unbatched"], rate["sampling"]
    print(f"\nsampling, k={args.k} ({len(sample_prompts)} design prompts): {rate_s:7.3f} comparisons/s "
          f"(batched logits are {rate_b / rate_s:.1f}x)")
    print(f"option dtype='bfloat16', batched, design: {rate['half']:7.2f} comparisons/s "
          f"({rate['half'] / rate_b:.1f}x float32; max |diff| of probabilities "
          f"{np.abs(probs['half'] - probs['batched']).max():.3f}); one prompt per pass in bfloat16 "
          f"{rate['half, unbatched']:.2f} comparisons/s (batched bfloat16 is "
          f"{rate['half'] / rate['half, unbatched']:.2f}x: a token costs less against a pass's fixed cost)")
    peak = matmul_peak_gflops(torch.get_num_threads())
    one_token, per_token = pass_costs(batched)
    print(f"this machine: float32 matmul peak {peak:.0f} GFLOP/s; one forward pass of a single token takes "
          f"{one_token * 1000:.0f} ms (reading the weights), which every unbatched prompt pays; each "
          f"further token {per_token * 1000:.2f} ms (in a 16 x 32 batch)")
    whole_tokens = prompt_tokens(batched, design) / len(design)
    run_tokens = plan_tokens(batched, design)[1] / len(design)
    bound = (one_token + whole_tokens * per_token) / (run_tokens * per_token)
    print(f"bound on batched / unbatched for the design on this machine: one prompt per pass runs "
          f"{whole_tokens:.1f} tokens a prompt, the batched route {run_tokens:.1f} (padding included); "
          f"were batched passes free of any cost beyond their tokens, the ratio would be "
          f"(one-token pass + {whole_tokens:.1f} tokens) / {run_tokens:.1f} tokens = {bound:.2f}x")
    mass = batched.option_probabilities(design)[1]
    print(f"median option mass (probability on the letters): {np.median(mass):.3f}")
    ok = ~np.isnan(share_a)
    print(f"sampled answers parsed: {usable.sum()} of {len(sample_prompts) * args.k}")
    if ok.sum() >= 3:
        r = pearsonr(probs["batched"][sample_idx][ok, 0], share_a[ok]).statistic
        print(f"agreement of P(A) from logits with the sampled share of A ({ok.sum()} prompts): r = {r:.3f}, "
              f"mean |diff| = {np.mean(np.abs(probs['batched'][sample_idx][ok, 0] - share_a[ok])):.3f}")
    print("\n=== Targets (design workload, float32) ===")
    for name, good, detail in [
        ("logit route >= 30x the comparisons/s of K=10 sampling", rate_b / rate_s >= 30, f"{rate_b / rate_s:.1f}x"),
        ("batched logits >= 4x unbatched", rate_b / rate_1 >= 4, f"{rate_b / rate_1:.2f}x"),
        ("warm load under 5 s", warm < 5, f"{warm:.2f} s"),
        ("cold conversion under 2 minutes", cold < 120, f"{cold:.1f} s"),
    ]:
        print(f"{'PASS' if good else 'FAIL'}  {name}: {detail}")
    return 0


def pass_costs(model: TransformersModel) -> tuple[float, float]:
    """(seconds of a forward pass over one token, seconds per further token in a 16 x 32 batch),
    each the best of 5, the two timed in turn."""
    import torch

    one, batch = torch.full((1, 1), 100), torch.full((16, 32), 100)
    best = {1: np.inf, 512: np.inf}
    with torch.inference_mode():
        model.model(input_ids=batch, logits_to_keep=1)
        for _ in range(5):
            for ids in (one, batch):
                t0 = time.perf_counter()
                model.model(input_ids=ids, logits_to_keep=1)
                best[ids.numel()] = min(best[ids.numel()], time.perf_counter() - t0)
    return best[1], (best[512] - best[1]) / 511


if __name__ == "__main__":
    sys.exit(main())
