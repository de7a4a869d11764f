import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from tiny_model import tiny_model  # noqa: E402

from valuelab.elicit.transformers_backend import TransformersModel, option_token_variants  # noqa: E402


@pytest.fixture(scope="module")
def tiny():
    model, tok = tiny_model()
    return TransformersModel("tiny", _model=model, _tokenizer=tok, batch_size=4)


PROMPTS = ["Which option do you prefer? Option A: tea. Option B: coffee. Answer with A or B.",
           "A or B?",
           "Option A: a cup of coffee. Option B: ten people are saved. Which option do you prefer?",
           "You receive $100 (A) or one week of vacation (B).",
           "The answer is"]


def test_chat_template_has_generation_prompt_and_one_bos(tiny):
    text = tiny.render("A or B?")
    assert text.endswith("<|im_start|>assistant\n")
    ids, _, _ = tiny._encode([text])
    assert int((ids[0] == tiny.tokenizer.bos_token_id).sum()) == 0  # no BOS added on top of the template


def test_option_probabilities_sum_token_variants(tiny):
    probs, mass = tiny.option_probabilities(PROMPTS, ["A", "B"])
    lp = tiny.next_token_logprobs([tiny.render(p) for p in PROMPTS])
    var_a = option_token_variants(tiny.tokenizer, "A")
    var_b = option_token_variants(tiny.tokenizer, "B")
    assert len(var_a) == 2  # "A" and " A" are distinct tokens of this tokenizer
    raw_a = np.exp(lp[:, var_a]).sum(1)
    raw_b = np.exp(lp[:, var_b]).sum(1)
    np.testing.assert_allclose(mass, raw_a + raw_b, rtol=1e-6)
    np.testing.assert_allclose(probs[:, 0], raw_a / (raw_a + raw_b), rtol=1e-6)
    np.testing.assert_allclose(probs.sum(1), 1.0)


def test_batched_equals_unbatched(tiny):
    one = TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, batch_size=1)
    p1, m1 = one.option_probabilities(PROMPTS)
    p4, m4 = tiny.option_probabilities(PROMPTS)
    np.testing.assert_allclose(p4, p1, atol=1e-4)
    np.testing.assert_allclose(m4, m1, rtol=1e-4)


def test_logits_are_raw_model_outputs(tiny):
    # The last-position log-softmax equals a direct forward pass on the unpadded prompt.
    text = tiny.render(PROMPTS[1])
    ids = tiny.tokenizer(text, return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        direct = torch.log_softmax(tiny.model(input_ids=ids).logits[0, -1], -1).numpy()
    np.testing.assert_allclose(tiny.next_token_logprobs([text])[0], direct, atol=1e-5)


def _chain_logprob(tiny, text, seq):
    """log P(seq | text) by one unpadded forward pass per token (the chain rule, step by step)."""
    ids = tiny.tokenizer(text, add_special_tokens=False)["input_ids"]
    total = 0.0
    for tok in seq:
        with torch.inference_mode():
            logits = tiny.model(input_ids=torch.tensor([ids])).logits[0, -1]
        total += float(torch.log_softmax(logits.float(), -1)[tok])
        ids = ids + [tok]
    return total


def test_multi_token_labels_scored_by_summed_loglikelihood(tiny):
    from valuelab.elicit.transformers_backend import option_token_sequences

    labels = ["Option A because", "B"]
    probs, mass = tiny.option_probabilities(PROMPTS[:3], labels)
    seqs = [option_token_sequences(tiny.tokenizer, lab) for lab in labels]
    assert max(len(s) for s in seqs[0]) > 1
    raw = np.array([[sum(np.exp(_chain_logprob(tiny, tiny.render(p), s)) for s in lab_seqs) for lab_seqs in seqs]
                    for p in PROMPTS[:3]])
    np.testing.assert_allclose(mass, raw.sum(1), rtol=1e-4)
    np.testing.assert_allclose(probs, raw / raw.sum(1, keepdims=True), rtol=1e-4)


def test_mixed_spellings_use_both_routes(tiny):
    """A label with a one-token and a two-token spelling: the one-token part from the next-token
    distribution, the other by the chain rule, summed."""
    from valuelab.elicit.transformers_backend import option_token_sequences

    label = "Option"
    seqs = option_token_sequences(tiny.tokenizer, label)
    texts = [tiny.render(p) for p in PROMPTS[:2]]
    _, mass = tiny.option_probabilities(PROMPTS[:2], [label, "B"])
    b_one = [s[0] for s in option_token_sequences(tiny.tokenizer, "B") if len(s) == 1]
    expect = [sum(np.exp(_chain_logprob(tiny, t, s)) for s in seqs) + np.exp(tiny.next_token_logprobs([t])[0][b_one]).sum()
              for t in texts]
    np.testing.assert_allclose(mass, expect, rtol=1e-4)


def test_sequence_route_equals_next_token_route_for_single_tokens(tiny):
    from valuelab.elicit.transformers_backend import option_token_sequences

    fast, _ = tiny.option_probabilities(PROMPTS, ["A", "B"])
    texts = [tiny.render(p) for p in PROMPTS]
    slow = tiny._sequence_probabilities(texts, [option_token_sequences(tiny.tokenizer, x) for x in "AB"])
    np.testing.assert_allclose(slow / slow.sum(1, keepdims=True), fast, atol=1e-5)


def test_generate_returns_k_samples(tiny):
    out = tiny.generate(PROMPTS[:2], k=3, temperature=1.0, max_new_tokens=4, seed=0)
    assert len(out) == 2 and all(len(o) == 3 for o in out)
    again = tiny.generate(PROMPTS[:2], k=3, temperature=1.0, max_new_tokens=4, seed=0)
    assert out == again


def test_shared_prefix_gives_the_same_logits(tiny):
    from valuelab.elicit import pairwise_prompt
    from valuelab.elicit.transformers_backend import _common_prefix_length

    texts = [tiny.render(pairwise_prompt(a, b)) for a, b in
             [("tea", "coffee"), ("A cup of coffee.", "Ten people are saved."), ("You receive $100.", "tea"),
              ("x", "a much longer option text about a week of vacation by the sea"), ("coffee", "tea")]]
    encoded = [tiny.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert _common_prefix_length(encoded) >= 8  # the sharing route is taken
    plain = TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, batch_size=2, share_prefix=False)
    shared = TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, batch_size=2)
    np.testing.assert_allclose(shared.next_token_logprobs(texts), plain.next_token_logprobs(texts), atol=1e-5)
    with torch.inference_mode():  # and both equal a direct, unpadded, uncached forward pass
        direct = torch.log_softmax(tiny.model(input_ids=torch.tensor([encoded[3]])).logits[0, -1], -1).numpy()
    np.testing.assert_allclose(shared.next_token_logprobs(texts)[3], direct, atol=1e-5)


def test_common_prefix_length():
    from valuelab.elicit.transformers_backend import _common_prefix_length

    assert _common_prefix_length([[1, 2, 3, 4], [1, 2, 5], [1, 2, 3]]) == 2
    assert _common_prefix_length([[1, 2], [1, 2]]) == 1  # one token is always left to run
    assert _common_prefix_length([[7], [8, 9]]) == 0


def test_bfloat16_is_close_and_cached_apart(tiny):
    half = TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, dtype="bfloat16")
    assert half.identity["dtype"] == "bfloat16" and "dtype" not in tiny.identity
    assert next(tiny.model.parameters()).dtype == torch.float32  # the caller's model is not converted
    texts = [tiny.render(p) for p in PROMPTS]
    diff = np.abs(half.next_token_logprobs(texts) - tiny.next_token_logprobs(texts))
    # bfloat16 keeps about 3 significant digits: log-probabilities move, but only a little
    assert 1e-4 < diff.max() < 0.1
    with pytest.raises(ValueError, match="dtype: expected"):
        TransformersModel("tiny", _model=tiny.model, _tokenizer=tiny.tokenizer, dtype="float16")


def test_a_label_that_begins_another_does_not_count_it():
    """Labels "A" and "A B": the chain rule for "A" also covers "A" followed by " B", so "A"
    gives that probability up and the two answers partition the mass."""
    from valuelab.elicit.transformers_backend import option_token_sequences

    model, tok = tiny_model()
    tm = TransformersModel("tiny", _model=model, _tokenizer=tok, batch_size=4)
    labels = ["A", "A B"]
    seqs = [option_token_sequences(tok, lab) for lab in labels]
    assert any(len(t) > len(s) and t[: len(s)] == s for s in seqs[0] for t in seqs[1])
    _, mass = tm.option_probabilities(PROMPTS[:2], labels)
    probs, _ = tm.option_probabilities(PROMPTS[:2], labels)
    for i, p in enumerate(PROMPTS[:2]):
        text = tm.render(p)
        inclusive = {s: np.exp(_chain_logprob(tm, text, s)) for lab in seqs for s in lab}
        longer = sum(inclusive[s] for s in seqs[1])
        # "A"'s spellings lose exactly the "A B" spellings that continue them
        own_a = sum(inclusive[s] for s in seqs[0]) - sum(
            inclusive[t] for t in seqs[1] if any(t[: len(s)] == s for s in seqs[0]))
        np.testing.assert_allclose(mass[i], own_a + longer, rtol=1e-4)
        np.testing.assert_allclose(probs[i, 1], longer / (own_a + longer), rtol=1e-4)


def test_alternative_spellings_of_a_label_are_summed(tiny):
    probs_a, mass_a = tiny.option_probabilities(PROMPTS[:3], ["A", "B"])
    _, mass_t = tiny.option_probabilities(PROMPTS[:3], [("A", "a"), "B"])
    _, mass_lower = tiny.option_probabilities(PROMPTS[:3], ["a", "B"])
    # mass of [("A", "a"), "B"] = mass of "A" + mass of "a" + mass of "B"
    pb = probs_a[:, 1] * mass_a
    np.testing.assert_allclose(mass_t, (mass_a - pb) + (mass_lower - pb) + pb, rtol=1e-5)


GROUPED = [("tea", "coffee"), ("tea", "a week of vacation by the sea"), ("tea", "$100"),
           ("You receive $100 and a long letter of thanks.", "tea"),
           ("You receive $100 and a long letter of thanks.", "coffee, black, with no sugar at all"),
           ("x", "y"), ("coffee", "tea")]


@pytest.mark.parametrize("chat", [True, False])
@pytest.mark.parametrize("batch_size", [3, 8])
def test_grouped_starts_give_the_same_logits(tiny, chat, batch_size):
    from valuelab.elicit import pairwise_prompt
    from valuelab.elicit.transformers_backend import _common_prefix_length, _shared_starts

    kw = dict(_model=tiny.model, _tokenizer=tiny.tokenizer, chat=chat)
    grouped = TransformersModel("tiny", batch_size=batch_size, **kw)
    texts = [grouped.render(pairwise_prompt(a, b)) for a, b in GROUPED]
    encoded = [tiny.tokenizer(t, add_special_tokens=not chat)["input_ids"] for t in texts]
    shared = _common_prefix_length(encoded)
    groups = _shared_starts([e[shared:] for e in encoded], max_size=batch_size)
    assert max(length for length, _ in groups) >= 4  # prompts showing the same first option are grouped
    plain = TransformersModel("tiny", batch_size=1, share_prefix=False, **kw)
    got = grouped.next_token_logprobs(texts)
    np.testing.assert_allclose(got, plain.next_token_logprobs(texts), atol=1e-5)
    with torch.inference_mode():  # and a direct forward pass on one grouped prompt
        ids = torch.tensor([encoded[1]])
        direct = torch.log_softmax(tiny.model(input_ids=ids).logits[0, -1], -1).numpy()
    np.testing.assert_allclose(got[1], direct, atol=1e-5)


def _best_contiguous_saving(seqs, max_size, min_saving):
    """Brute force: the most tokens any cut of the sorted sequences into runs can save."""
    from itertools import combinations

    from valuelab.elicit.transformers_backend import _shared_length

    s = sorted(seqs)
    n = len(s)
    best = 0
    for k in range(n):
        for cuts in combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            total, ok = 0, True
            for a, b in zip(bounds, bounds[1:]):
                if b - a > max_size:
                    ok = False
                    break
                if b - a > 1:
                    length = min([len(x) - 1 for x in s[a:b]] + [_shared_length(s[a], x) for x in s[a + 1 : b]])
                    saving = (b - a - 1) * length
                    total += saving if saving >= min_saving else 0
            if ok:
                best = max(best, total)
    return best


def test_shared_starts_saves_the_most_tokens():
    from valuelab.elicit.transformers_backend import _plan_batches, _shared_starts

    rng = np.random.default_rng(3)
    for _ in range(40):
        n = int(rng.integers(1, 8))
        stems = [list(rng.integers(0, 3, size=rng.integers(1, 8))) for _ in range(3)]
        seqs = [stems[rng.integers(3)] + list(rng.integers(0, 3, size=rng.integers(1, 5))) for _ in range(n)]
        size = int(rng.integers(1, 5))
        groups = _shared_starts(seqs, max_size=size, min_saving=2)
        assert sorted(r for _, rows in groups for r in rows) == list(range(n))
        saved = 0
        for length, rows in groups:
            assert len(rows) <= size
            assert all(seqs[r][:length] == seqs[rows[0]][:length] and len(seqs[r]) > length for r in rows)
            saved += (len(rows) - 1) * length
        assert saved == _best_contiguous_saving(seqs, size, 2)
        plans = _plan_batches(groups, seqs, 3, pool=2)
        assert sorted(r for _, parts in plans for part in parts for r in part) == list(range(n))
        for segments, parts in plans:
            assert sorted(r for part in parts for r in part) == sorted(r for _, rows in segments for r in rows)
            assert all(1 <= len(part) <= 3 for part in parts)
            assert sum(len(rows) for _, rows in segments) <= 6 or len(segments) == 1
            assert len(segments) <= 3  # the first pass runs one row per group: at most a batch


def test_split_by_length_pads_the_least():
    from itertools import combinations

    from valuelab.elicit.transformers_backend import _split_by_length

    rng = np.random.default_rng(5)
    for _ in range(30):
        n, size, overhead = int(rng.integers(1, 9)), int(rng.integers(1, 5)), int(rng.integers(0, 12))
        lengths = dict(enumerate(rng.integers(1, 30, size=n).tolist()))
        parts = _split_by_length(list(range(n)), lengths, size, overhead)
        assert sorted(r for p in parts for r in p) == list(range(n)) and all(len(p) <= size for p in parts)
        cost = sum(len(p) * max(lengths[r] for r in p) + overhead for p in parts)
        ranked = sorted(range(n), key=lambda r: lengths[r])  # brute force over cuts of the sorted rows
        best = min(sum((b - a) * lengths[ranked[b - 1]] + overhead for a, b in zip(bounds, bounds[1:]))
                   for k in range(n) for cuts in combinations(range(1, n), k)
                   for bounds in [[0, *cuts, n]] if all(b - a <= size for a, b in zip(bounds, bounds[1:])))
        assert cost == best


def test_shared_starts_example():
    from valuelab.elicit.transformers_backend import _shared_starts

    seqs = [[5, 6], [1, 2, 3, 4, 5, 9], [1, 2, 3, 4, 5, 8, 7], [1, 2, 7]]
    # the two sequences sharing five tokens form a run; [1, 2, 7] would cut it to two
    assert _shared_starts(seqs, max_size=4, min_saving=2) == [(5, [2, 1]), (0, [3]), (0, [0])]


@pytest.mark.parametrize("arch", ["gemma3", "gemma3-vision"])
@pytest.mark.parametrize("window", [512, 20])
def test_sliding_window_model_gives_the_same_logits(window, arch):
    # Gemma 3 (the embedded multilingual model's architecture) mixes sliding-window layers with
    # full ones; with a window shorter than the prompts, sharing must give way to whole prompts.
    # The image-text Gemma 3 keeps its window in the text part of its config.
    from valuelab.elicit import pairwise_prompt

    model, tok = tiny_model(arch=arch, sliding_window=window)
    model.eval()
    grouped = TransformersModel("tiny-gemma", _model=model, _tokenizer=tok, batch_size=4)
    texts = [grouped.render(pairwise_prompt(a, b)) for a, b in GROUPED]
    encoded = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    assert (max(map(len, encoded)) > window) == (window == 20)
    got = grouped.next_token_logprobs(texts)
    with torch.inference_mode():
        direct = np.stack([torch.log_softmax(model(input_ids=torch.tensor([e])).logits[0, -1], -1).numpy()
                           for e in encoded])
    np.testing.assert_allclose(got, direct, atol=1e-5)
