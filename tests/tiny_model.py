"""A tiny random causal LM with a real byte-level BPE tokenizer, built offline in milliseconds."""

from __future__ import annotations

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

CORPUS = [
    "Which option do you prefer? Answer with A or B.",
    "Option A: a cup of tea. Option B: a cup of coffee.",
    "A B A B The answer is A. The answer is B. I cannot answer that.",
    "You receive $100. You receive one week of vacation. Ten people are saved.",
] * 20


def tiny_model(seed: int = 0, chat: bool = True, arch: str = "llama", sliding_window: int = 512):
    """(model, tokenizer): a Llama; with ``arch="gemma3"`` a Gemma 3 whose first layer attends
    through a sliding window of ``sliding_window`` tokens; with ``arch="gemma3-vision"`` the same
    inside Gemma 3's image-text model (its window sits in the text part of the config)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<|im_start|>", "<|im_end|>", "<s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<|im_end|>", bos_token="<s>")
    if chat:
        fast.chat_template = CHAT_TEMPLATE
    torch.manual_seed(seed)
    special = dict(pad_token_id=fast.pad_token_id, eos_token_id=fast.eos_token_id, bos_token_id=fast.bos_token_id)
    if arch in ("gemma3", "gemma3-vision"):
        from transformers import Gemma3ForCausalLM, Gemma3TextConfig

        config = Gemma3TextConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8, query_pre_attn_scalar=8,
                                  max_position_embeddings=256, sliding_window=sliding_window,
                                  layer_types=["sliding_attention", "full_attention"], **special)
        if arch == "gemma3":
            model = Gemma3ForCausalLM(config)
        else:
            from transformers import Gemma3Config, Gemma3ForConditionalGeneration, SiglipVisionConfig

            vision = SiglipVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=28, patch_size=14)
            both = Gemma3Config(text_config=config.to_dict(), vision_config=vision.to_dict(), mm_tokens_per_image=4,
                                image_token_index=len(fast) - 1, boi_token_index=len(fast) - 2,
                                eoi_token_index=len(fast) - 3)
            model = Gemma3ForConditionalGeneration(both)
    else:
        config = LlamaConfig(vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                             num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256, **special)
        model = LlamaForCausalLM(config)
    model.eval()
    return model, fast
