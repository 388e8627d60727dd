"""A tiny random-weight causal LM (GPT-2 layout, 2 layers, 64 dims) with a word-level tokenizer built here.

Saved as a folder HFLM loads like any local checkpoint: safetensors weights, ``tokenizer.json`` with
eos and pad set, and a decoder that joins words with spaces so generate_until answers decode to text.
"""

from __future__ import annotations

from pathlib import Path

WORDS = [f"w{i}" for i in range(40)] + [
    "alpha",
    "beta",
    "yes",
    "no",
    "Answer",
    "Question",
    "Context",
    "Text",
    "Label",
    ":",
    "?",
    ".",
]


def build_tiny_lm(folder: Path) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    specials = ["<pad>", "<unk>", "<eos>"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="<unk>",
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<eos>",
        model_max_length=256,
    )
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=256,
        n_embd=64,
        n_layer=2,
        n_head=2,
        bos_token_id=vocab["<eos>"],
        eos_token_id=vocab["<eos>"],
        pad_token_id=vocab["<pad>"],
    )
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder
