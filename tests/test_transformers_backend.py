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
