"""A tiny BERT with a word-level tokenizer, and a tiny tasks folder (three kinds and a grid)."""

from __future__ import annotations

import json
import random
from pathlib import Path

WORDS = [f"w{i}" for i in range(60)] + ["alpha", "beta", "gamma", "yes", "no", "maybe"]


def build_tiny_model(folder: Path) -> Path:
    """A 2-layer BERT (hidden 32) with a word-level tokenizer, saved as safetensors."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(specials + WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=64,
        type_vocab_size=2,
    )
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    fast.save_pretrained(folder)
    return folder


def _sentence(rng: random.Random, key: str | None, n: int = 6) -> str:
    words = [rng.choice(WORDS[:60]) for _ in range(n)]
    if key:
        words.insert(rng.randrange(len(words)), key)
    return " ".join(words)


def write_tiny_tasks(root: Path, model_dir: Path, *, seeds: tuple[int, ...] = (1,)) -> Path:
    """A tasks folder with a classification target, a retrieval target, an MC intermediate task and a grid."""
    rng = random.Random(0)
    data = root / "data"
    for lang in ("en", "de"):
        (data / "cls" / lang).mkdir(parents=True, exist_ok=True)
        for split, n in (("train", 64), ("dev", 16), ("test", 20)):
            if lang == "de" and split != "test":
                continue
            lines = ["id\ttext\tlabel"]
            for i in range(n):
                label = rng.choice(["alpha", "beta"])
                lines.append(f"{split}{i}\t{_sentence(rng, label)}\t{'pos' if label == 'alpha' else 'neg'}")
            (data / "cls" / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for lang in ("de", "fr"):
        src = [_sentence(rng, None, 5) for _ in range(12)]
        (data / "ret").mkdir(parents=True, exist_ok=True)
        (data / "ret" / f"{lang}.src").write_text("\n".join(src) + "\n", encoding="utf-8")
        (data / "ret" / f"{lang}.en").write_text("\n".join(src) + "\n", encoding="utf-8")
    for lang in ("en", "de"):
        rows = []
        for i in range(24):
            answer = i % 3
            choices = [_sentence(random.Random(i * 7 + c), None, 3) for c in range(3)]
            choices[answer] += " yes"
            rows.append(
                {
                    "id": f"q{i}",
                    "question": "which " + _sentence(random.Random(i), None, 3),
                    "choices": choices,
                    "label": answer,
                }
            )
        (data / "mc").mkdir(parents=True, exist_ok=True)
        (data / "mc" / f"{lang}.jsonl").write_text(
            "\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8"
        )

    tasks = root / "tasks"
    (tasks / "targets").mkdir(parents=True, exist_ok=True)
    (tasks / "intermediate").mkdir(parents=True, exist_ok=True)
    (tasks / "grids").mkdir(parents=True, exist_ok=True)
    (tasks / "targets" / "tiny_cls.yaml").write_text(
        f"""
name: tiny_cls
kind: classification
version: 1
source: synthetic, made by the tests
dataset:
  format: tsv
  path: "{data}/cls/{{lang}}/{{split}}.tsv"
labels: [pos, neg]
languages: [en, de]
train: {{split: train, language: en}}
dev: {{split: dev, language: en}}
splits:
  - {{name: test, domain: synthetic, in_domain: true}}
hyperparameters: {{learning_rate: 3.0e-3, epochs: 8, batch_size: 8, max_length: 32, warmup_ratio: 0.0}}
""",
        encoding="utf-8",
    )
    (tasks / "targets" / "tiny_ret.yaml").write_text(
        f"""
name: tiny_ret
kind: retrieval
version: 1
dataset:
  format: parallel_text
  path: "{data}/ret/{{lang}}.src"
  target_path: "{data}/ret/{{lang}}.en"
languages: [de, fr]
splits:
  - {{name: test, domain: synthetic, in_domain: true}}
params: {{layer: -1, pooling: mean}}
hyperparameters: {{max_length: 32}}
""",
        encoding="utf-8",
    )
    (tasks / "intermediate" / "tiny_mc.yaml").write_text(
        f"""
name: tiny_mc
kind: multiple_choice
role: intermediate
version: 1
dataset:
  format: jsonl
  path: "{data}/mc/{{lang}}.jsonl"
languages: [en, de]
train: {{split: train, language: en}}
hyperparameters: {{learning_rate: 1.0e-3, epochs: 1, batch_size: 4, max_length: 32}}
""",
        encoding="utf-8",
    )
    (tasks / "grids" / "tiny.yaml").write_text(
        f"""
name: tiny
models:
  - name: tiny-bert
    source: "{model_dir}"
intermediate:
  - name: none
  - {{name: mc-en, task: tiny_mc, source_lang: en, source_type: english, size: 16}}
  - {{name: mc-de, task: tiny_mc, source_lang: de, source_type: translated, size: 16, matched_with: mc-en}}
targets: [tiny_cls, tiny_ret]
seeds: {list(seeds)}
""",
        encoding="utf-8",
    )
    return tasks
