"""valuelab side by side with lm-evaluation-harness: option probabilities and throughput.

Run from the repository root: ``.venv/bin/python benchmarks/bench_peers.py`` (``make bench``
installs the ``lm_eval`` package; the tests never need it). Nothing is downloaded: both tools
load the embedded SmolLM2-135M-Instruct from the same local folder
(:func:`valuelab.elicit.embedded_model_dir`), in float32, in one process, with the same
number of torch threads and the same batch size.

Method
------
Prompts. Two kinds, built with valuelab's own functions:

* *pairwise*: random pairs of the project's outcomes (:func:`valuelab.datasets.load_outcomes`),
  each asked in both orders with :func:`valuelab.elicit.pairwise_prompt` (template
  ``"prefer"``); answer labels ``A`` and ``B``.
* *survey*: the bundled survey items (:func:`valuelab.survey.load_survey_items`, seven
  languages), neutral framing, zero-shot, built with :func:`valuelab.survey.survey_prompt`;
  answer labels ``1`` .. ``k`` with the spellings of :func:`valuelab.survey.option_labels`
  (Western digits, plus the native digits in Arabic and Persian).

valuelab asks them with :meth:`TransformersModel.option_probabilities`, the route
``elicit_comparisons`` and ``elicit_survey`` use: chat template with the generation prompt,
next-token log-probabilities at the answer position, each label's probability summed over its
spellings ``"A"`` and ``" A"`` (several-token spellings by the chain rule), renormalised over
the labels.

lm-evaluation-harness poses each prompt as a multiple-choice log-likelihood task through
``HFLM.loglikelihood``: the context is the chat-templated prompt (``HFLM.apply_chat_template``,
which renders exactly valuelab's string) and each choice is a continuation. With a chat
template, lm_eval's multiple-choice tasks put no delimiter before the choice, so the
continuation is the bare label ``"A"`` (``"1"``); option probabilities are the softmax of the
choices' log-likelihoods, as lm_eval's ``acc`` compares them. Two variants are run:

* ``lm_eval, as posed``: one continuation per label, its bare spelling (what an lm_eval
  multiple-choice task computes);
* ``lm_eval, all spellings``: one continuation per spelling that valuelab sums (``"A"`` and
  ``" A"``; for Arabic and Persian also ``"٣"`` and ``" ٣"``), the probabilities of a
  label's continuations summed before the softmax: the same quantity valuelab computes.

And valuelab restricted to the bare label (its next-token log-probabilities, read at the bare
label's token only) is set against ``lm_eval, as posed``.

What is compared
----------------
Agreement of option probabilities (every prompt, every option pooled): the largest and mean
absolute difference, Spearman's rho and Kendall's tau between the two tools' probabilities,
and the share of prompts whose most probable option is the same. Throughput in prompts per
second (all options of a prompt scored), each route timed in turn over interleaved rounds
after a warm-up, every prompt over every second of its rounds pooled (this shared machine's
speed wanders). Before that the script checks that the prompts really are the same: the
rendered strings, and the token ids lm_eval builds for context + continuation against
valuelab's prompt ids + label token.

Findings (SmolLM2-135M-Instruct, 32 prompts of each kind; the run prints its own numbers)
----------------------------------------------------------------------------------------
* The prompts are the same: lm_eval's chat template renders valuelab's strings exactly, and
  its context + continuation tokens are valuelab's prompt tokens + the label's token. lm_eval
  moves a context's trailing whitespace into the continuation, so the template's final
  ``"\\n"`` is scored with every choice (continuation ``"\\nA"`` = tokens ``\\n``, ``A``):
  ``log P("\\n" | ...assistant)`` is the same for every choice and cancels in the softmax,
  and the label's token is read at exactly valuelab's answer position. Neither adds a BOS
  token (the rendered text starts with SmolLM2's BOS, ``<|im_start|>``); both run float32.
* The same quantity agrees to float rounding, within 1e-4: valuelab against lm_eval with
  every spelling, and valuelab read at the bare label against lm_eval as posed, differ by at
  most about 3e-6 (valuelab runs shared prompt starts once through the attention cache and
  pads on the left; lm_eval pads on the right). Pairwise, valuelab as used also agrees with
  lm_eval as posed within 1e-4 (largest difference about 1e-5): ``" A"`` carries about 1e-4
  of the labels' probability, nearly equally for A and B.
* Survey prompts differ by up to about 1e-3 (mean 1e-4; rank agreement rho 1.0, tau 0.999,
  the same most probable option everywhere). The cause is the answer's spelling: an lm_eval
  task scores one spelling per choice; valuelab sums every spelling of a label. In Persian
  and Arabic SmolLM2 puts up to about 1% of the labels' probability on the native digits
  (``۳``, ``٣``), in Spanish up to about 0.1% on ``" 3"``, unequally across the options;
  the largest differences are in exactly those languages (section 3 of the output).
* Which is right: for valuelab's purpose, the probability that the model *chooses* an
  option, valuelab. An answer ``" 3"`` or ``"۳"`` chooses option 3 as surely as ``"3"``
  does; scoring one spelling drops those answers and tilts the distribution towards the
  options whose probability happens to sit on the scored spelling. (For a benchmark's
  accuracy, the argmax, the difference does not matter here; for option distributions
  compared with human answer shares it does.)
* Throughput (two runs, one thread): valuelab was 2.0-2.4x (pairwise) and 1.5-1.8x (survey)
  as fast as lm_eval as posed, and 2.0-2.3x and 3.1-3.7x as fast as lm_eval computing the
  same quantity. valuelab reads every label off one forward pass per prompt (several-token
  spellings continue that pass's attention cache), keeps only the last position's logits
  (``logits_to_keep=1``) and runs shared prompt starts once; lm_eval computes the
  vocabulary projection and its log-softmax at every position of every row, and runs each
  distinct context + continuation prefix as a separate row (``"\\n3"``, ``"\\n 3"``, ``"\\n۳"`` and ``"\\n ۳"``
  are four rows, each the whole prompt).

Notes
-----
``--n-prompts`` prompts of each kind (default 32: 16 pairs in both orders, and 32 survey
prompts drawn across the languages); about 5 to 10 minutes here. Both tools run with
``--threads`` torch threads (default 1): on this shared 2-core machine two OpenMP threads,
spin-waiting for each other, ran 5 to 9 times slower than one thread whenever other
processes held a core, which made two-thread rates meaningless. ``--rounds`` interleaved
timing rounds (default 1). No timing is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
from scipy.special import logsumexp  # noqa: E402
from scipy.stats import kendalltau, spearmanr  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from valuelab.datasets import load_outcomes  # noqa: E402
from valuelab.elicit import TransformersModel, embedded_model_dir, pairwise_prompt  # noqa: E402
from valuelab.survey import load_survey_items, option_labels, survey_prompt  # noqa: E402

TOLERANCE = 1e-4


# ---------------------------------------------------------------------------- prompts
def pairwise_set(n: int, seed: int):
    """``n`` pairwise prompts (``n // 2`` random pairs of outcomes in both orders) and labels."""
    texts = load_outcomes()["text"].tolist()
    rng = np.random.default_rng(seed)
    pairs = set()
    while len(pairs) < max(1, n // 2):
        a, b = rng.choice(len(texts), 2, replace=False)
        pairs.add((int(min(a, b)), int(max(a, b))))
    prompts = []
    for a, b in sorted(pairs):
        prompts += [pairwise_prompt(texts[a], texts[b]), pairwise_prompt(texts[b], texts[a])]
    prompts = prompts[:n]
    return prompts, [("A", "B")] * len(prompts), ["en"] * len(prompts)


def survey_set(n: int, seed: int):
    """``n`` survey prompts drawn across the bundled items' languages, with their labels."""
    items = load_survey_items()
    rng = np.random.default_rng(seed)
    rows = items.iloc[np.sort(rng.choice(len(items), min(n, len(items)), replace=False))]
    prompts = [survey_prompt(q, opts, language=lang) for q, opts, lang in
               zip(rows["question"], rows["options"], rows["language"])]
    labels = [tuple(option_labels(len(opts), language=lang)) for opts, lang in zip(rows["options"], rows["language"])]
    return prompts, labels, rows["language"].tolist()


def spellings(label) -> list[str]:
    """The strings valuelab counts for a label: each spelling bare and after a space."""
    spell = (label,) if isinstance(label, str) else tuple(label)
    return [s for sp in spell for s in (sp, " " + sp)]


def bare(label) -> str:
    """The label as an lm_eval multiple-choice task lists it: its first spelling."""
    return label if isinstance(label, str) else label[0]


# ---------------------------------------------------------------------------- valuelab
def valuelab_probs(model: TransformersModel, prompts, labels):
    """valuelab's option probabilities (list of arrays), asked per label set as elicit_survey does."""
    out = [None] * len(prompts)
    for key in dict.fromkeys(labels):
        idx = [i for i, lab in enumerate(labels) if lab == key]
        probs, _ = model.option_probabilities([prompts[i] for i in idx], list(key))
        for i, p in zip(idx, probs):
            out[i] = p
    return out


def valuelab_bare_probs(model: TransformersModel, prompts, labels):
    """valuelab's next-token distribution read at each label's bare token only, renormalised."""
    lp = model.next_token_logprobs([model.render(p) for p in prompts])
    out = []
    for row, labs in zip(lp, labels):
        ids = []
        for lab in labs:
            toks = model.tokenizer.encode(bare(lab), add_special_tokens=False)
            assert len(toks) == 1, f"bare label {bare(lab)!r} is not one token"
            ids.append(toks[0])
        x = row[ids]
        out.append(np.exp(x - logsumexp(x)))
    return out


# ---------------------------------------------------------------------------- lm_eval
def lm_eval_probs(lm, prompts, labels, *, all_spellings: bool, detail: bool = False):
    """Option probabilities from ``HFLM.loglikelihood``: softmax over the choices'
    log-likelihoods (a choice's spellings combined by log-sum-exp when ``all_spellings``).

    With ``detail``, also each prompt's share of the labels' probability on the spaced
    spelling of the bare label (``" 3"``) and on the other spellings (native digits).
    """
    from lm_eval.api.instance import Instance

    contexts = [lm.apply_chat_template([{"role": "user", "content": p}]) for p in prompts]
    requests, owner = [], []
    for i, (ctx, labs) in enumerate(zip(contexts, labels)):
        for j, lab in enumerate(labs):
            for s in (spellings(lab) if all_spellings else [bare(lab)]):
                requests.append(Instance("loglikelihood", {}, (ctx, s), len(requests)))
                kind = "bare" if s == bare(lab) else "space" if s == " " + bare(lab) else "native"
                owner.append((i, j, kind))
    results = lm.loglikelihood(requests, disable_tqdm=True)
    per = [[[] for _ in labs] for labs in labels]
    by_kind = [{"bare": [], "space": [], "native": []} for _ in labels]
    for (i, j, kind), (ll, _greedy) in zip(owner, results):
        per[i][j].append(ll)
        by_kind[i][kind].append(ll)
    probs, shares = [], {"space": [], "native": []}
    for i, lls in enumerate(per):
        x = np.array([logsumexp(v) for v in lls])
        probs.append(np.exp(x - logsumexp(x)))
        for kind in shares:
            v = by_kind[i][kind]
            shares[kind].append(np.exp(logsumexp(v) - logsumexp(x)) if v else 0.0)
    return (probs, {k: np.array(v) for k, v in shares.items()}) if detail else probs


# ---------------------------------------------------------------------------- comparison
def agreement(p, q) -> dict:
    """Largest and mean absolute difference, rank correlations, same most probable option."""
    x, y = np.concatenate(p), np.concatenate(q)
    d = np.abs(x - y)
    return {"max": d.max(), "mean": d.mean(), "rho": spearmanr(x, y)[0], "tau": kendalltau(x, y)[0],
            "top": np.mean([np.argmax(a) == np.argmax(b) for a, b in zip(p, q)])}


def same_prompts(lm, model, prompts, labels) -> tuple[int, int]:
    """(rendered strings identical, token ids identical) over ``prompts``: lm_eval's context +
    continuation tokens for the bare label against valuelab's prompt ids + the label's token."""
    strings = tokens = 0
    for p, labs in zip(prompts, labels):
        ctx = lm.apply_chat_template([{"role": "user", "content": p}])
        rendered = model.render(p)
        strings += ctx == rendered
        ctx_ids, cont_ids = lm._encode_pair(ctx, bare(labs[0]))
        ours = model.tokenizer(rendered, add_special_tokens=False)["input_ids"]
        ours += model.tokenizer.encode(bare(labs[0]), add_special_tokens=False)
        tokens += list(ctx_ids) + list(cont_ids) == list(ours)
    return strings, tokens


def boundary_example(lm, model, prompt, label) -> str:
    """How lm_eval splits one prompt into context and continuation (its last tokens shown)."""
    ctx = lm.apply_chat_template([{"role": "user", "content": prompt}])
    ctx_ids, cont_ids = lm._encode_pair(ctx, label)
    dec = model.tokenizer.convert_ids_to_tokens
    return f"context ends {dec(list(ctx_ids[-3:]))}, continuation {dec(list(cont_ids))}"


def timed_rounds(routes: dict, rounds: int) -> tuple[dict, dict]:
    """Prompts per second of each route, pooled over interleaved rounds, and each route's
    output of the first round."""
    seconds = {name: 0.0 for name in routes}
    count = {name: 0 for name in routes}
    first = {}
    for _ in range(rounds):
        for name, (fn, n) in routes.items():
            t0 = time.perf_counter()
            out = fn()
            seconds[name] += time.perf_counter() - t0
            count[name] += n
            first.setdefault(name, out)
    return {name: count[name] / seconds[name] for name in routes}, first


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-prompts", type=int, default=32, help="prompts of each kind (default 32)")
    parser.add_argument("--batch-size", type=int, default=16, help="prompts (lm_eval: requests) per forward pass")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both (default 1: see the notes on a shared machine)")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds per route (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import lm_eval
    import torch
    import transformers
    from lm_eval.models.huggingface import HFLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    threads = args.threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    folder = embedded_model_dir("smollm2-135m-instruct", progress=False)
    model = TransformersModel("smollm2-135m-instruct", batch_size=args.batch_size)
    lm = HFLM(pretrained=str(folder), device="cpu", batch_size=args.batch_size, dtype="float32")
    torch.set_num_threads(threads)  # the same threads for both, whatever either set
    print(f"model: {folder} (both tools)")
    print(f"lm_eval {lm_eval.__version__}, transformers {transformers.__version__}, torch {torch.__version__}, "
          f"{threads} threads, batch size {args.batch_size}, dtype: valuelab {model.dtype}, "
          f"lm_eval {str(lm.model.dtype).replace('torch.', '')}")

    kinds = {"pairwise": pairwise_set(args.n_prompts, args.seed), "survey": survey_set(args.n_prompts, args.seed)}
    print(f"prompts: {', '.join(f'{len(v[0])} {k}' for k, v in kinds.items())}; survey languages: "
          f"{', '.join(f'{lang} {n}' for lang, n in zip(*np.unique(kinds['survey'][2], return_counts=True)))}")

    print("\n1. Are the prompts the same?")
    for kind, (prompts, labels, _) in kinds.items():
        s, t = same_prompts(lm, model, prompts, labels)
        print(f"   {kind:9s} rendered strings identical {s}/{len(prompts)}; lm_eval's context+continuation "
              f"token ids = valuelab's prompt + label token {t}/{len(prompts)}")
        print(f"   {'':9s} lm_eval, choice {bare(labels[0][0])!r}: "
              f"{boundary_example(lm, model, prompts[0], bare(labels[0][0]))}")

    routes_of = {}
    for kind, (prompts, labels, _) in kinds.items():
        routes_of[kind] = {
            "valuelab": (lambda p=prompts, lab=labels: valuelab_probs(model, p, lab), len(prompts)),
            "lm_eval, as posed": (lambda p=prompts, lab=labels: lm_eval_probs(lm, p, lab, all_spellings=False),
                                  len(prompts)),
            "lm_eval, all spellings": (lambda p=prompts, lab=labels: lm_eval_probs(lm, p, lab, all_spellings=True,
                                                                                 detail=True), len(prompts)),
        }
    # warm-up: every route on a few prompts of each kind
    for kind, (prompts, labels, _) in kinds.items():
        valuelab_probs(model, prompts[:4], labels[:4])
        lm_eval_probs(lm, prompts[:4], labels[:4], all_spellings=True)
    rates, results = {}, {}
    for kind, routes in routes_of.items():
        rates[kind], results[kind] = timed_rounds(routes, args.rounds)
        r = results[kind]
        r["lm_eval, all spellings"], r["shares"] = r["lm_eval, all spellings"]
        r["valuelab, bare label"] = valuelab_bare_probs(model, *kinds[kind][:2])

    print("\n2. Agreement of option probabilities (every prompt and option pooled; top: same most probable option)")
    pairs = [("valuelab", "lm_eval, all spellings", "same quantity: every spelling"),
             ("valuelab", "lm_eval, as posed", "valuelab as used vs an lm_eval task"),
             ("valuelab, bare label", "lm_eval, as posed", "same quantity: bare label only")]
    head = (f"   {'kind':9s} {'compared':46s} {'max |d|':>9s} {'mean |d|':>9s} {'rho':>7s} {'tau':>7s} {'top':>6s}"
            f"  {'<=1e-4':6s}  what")
    print(head)
    print("   " + "-" * (len(head) + 32))
    verdict = {}
    for kind, r in results.items():
        for a, b, what in pairs:
            g = agreement(r[a], r[b])
            ok = g["max"] <= TOLERANCE
            verdict[(kind, a, b)] = ok
            print(f"   {kind:9s} {a + ' vs ' + b:46s} {g['max']:9.2e} {g['mean']:9.2e} {g['rho']:7.4f} "
                  f"{g['tau']:7.4f} {g['top']:6.1%}  {'yes' if ok else 'no':6s}  {what}")

    print("\n3. Why they differ: the labels' probability on spellings other than the bare label (mean, max), and\n"
          "   the largest |valuelab - lm_eval as posed| per language")
    for kind, (prompts, labels, langs) in kinds.items():
        sh = results[kind]["shares"]
        dif = np.array([np.abs(a - b).max() for a, b in zip(results[kind]["valuelab"],
                                                             results[kind]["lm_eval, as posed"])])
        for lang in sorted(set(langs)):
            m = np.array([x == lang for x in langs])
            native = (f"native digits {sh['native'][m].mean():.1e}, {sh['native'][m].max():.1e}; "
                      if sh["native"][m].any() else "")
            print(f"   {kind:9s} {lang} ({m.sum():2d} prompts): spaced label {sh['space'][m].mean():.1e}, "
                  f"{sh['space'][m].max():.1e}; {native}largest difference {dif[m].max():.1e}")
        w = int(np.argmax(dif))
        print(f"   {kind:9s} largest: prompt {w} ({langs[w]}), labels {[bare(x) for x in labels[w]]}: "
              f"valuelab {np.round(results[kind]['valuelab'][w], 4).tolist()}, lm_eval as posed "
              f"{np.round(results[kind]['lm_eval, as posed'][w], 4).tolist()}")

    print(f"\n4. Throughput (prompts per second, every option of a prompt scored; {args.rounds} round(s) after a "
          f"warm-up, {threads} threads, batch size {args.batch_size})")
    names = list(routes_of["pairwise"])
    print(f"   {'route':34s} " + " ".join(f"{k:>10s}" for k in rates))
    for name in names:
        print(f"   {name:34s} " + " ".join(f"{rates[k][name]:10.2f}" for k in rates))
    for other in names[1:]:
        print(f"   {'valuelab / ' + other:34s} "
              + " ".join(f"{rates[k][names[0]] / rates[k][other]:9.2f}x" for k in rates))

    print("\n5. Verdict")
    for kind in kinds:
        faster = all(rates[kind][names[0]] >= rates[kind][o] for o in names[1:])
        same = verdict[(kind, "valuelab", "lm_eval, all spellings")]
        bare_same = verdict[(kind, "valuelab, bare label", "lm_eval, as posed")]
        as_posed = verdict[(kind, "valuelab", "lm_eval, as posed")]
        print(f"   {kind}: valuelab {'at least as fast as' if faster else 'SLOWER than'} lm_eval; "
              f"the same quantity agrees within 1e-4: {'yes' if same and bare_same else 'NO'}; "
              f"valuelab vs lm_eval as posed within 1e-4: {'yes' if as_posed else 'no (see 3.)'}")
    print("   Where valuelab and an lm_eval task differ beyond rounding, the cause is the answer's spelling: an\n"
          "   lm_eval task scores one spelling per choice, valuelab sums every spelling of a label (\" 3\" as well\n"
          "   as \"3\"; the native digits in Arabic and Persian). Aligned on the spellings, they agree to float\n"
          "   rounding. For the probability that the model chooses an option valuelab's sum is right: an answer\n"
          "   \" 3\" or \"\u0663\" chooses option 3 as surely as \"3\" does.")


if __name__ == "__main__":
    main()
