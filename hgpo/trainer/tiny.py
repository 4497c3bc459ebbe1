"""A tiny causal LM made from a config, with a byte-level tokenizer built locally: no downloads.

For CPU smoke runs and tests of the trainer; the same folder layout as any Hugging Face model, so
``--model`` treats it like a user's Qwen checkpoint.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["build_byte_tokenizer", "make_tiny_model"]

SPECIAL = ("<pad>", "<bos>", "<eos>")


def build_byte_tokenizer():
    """A byte-level tokenizer (256 byte tokens + pad/bos/eos): covers any text, needs no training data."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    byte_alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIAL)}
    for ch in sorted(byte_alphabet):
        vocab[ch] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tok.decoder = decoders.ByteLevel()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>", eos_token="<eos>")


def make_tiny_model(path: str | Path, *, hidden_size: int = 64, layers: int = 2, heads: int = 4, seed: int = 0) -> Path:
    """Write a randomly initialised tiny Llama-style model and its tokenizer to ``path``; returns it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = build_byte_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
