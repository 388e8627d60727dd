"""Load models by hub id or folder: safetensors only unless the user opts in to pickle; no remote code."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, UnsafeCheckpoint

log = logging.getLogger("harness.models")

PICKLE_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json", "tf_model.h5", "flax_model.msgpack")


def check_local_checkpoint(path: Path, *, allow_pickle: bool) -> None:
    """Refuse a folder that does not exist, has no weights, or only has pickle weights without opt-in."""
    if not path.exists():
        raise HarnessError("model path does not exist", file=path)
    if not path.is_dir():
        raise HarnessError("model path is not a folder (expected a Hugging Face model folder)", file=path)
    if not (path / "config.json").is_file():
        raise HarnessError("not a model folder: config.json is missing", file=path)
    has_safetensors = any(path.glob("*.safetensors"))
    has_pickle = any((path / name).exists() for name in PICKLE_WEIGHTS)
    if not has_safetensors and has_pickle and not allow_pickle:
        raise UnsafeCheckpoint(
            "only pickle weights (pytorch_model.bin) found; pickle can run code on load. Convert to safetensors, "
            "or pass --allow-pickle if you trust this checkpoint",
            file=path,
        )
    if not has_safetensors and not has_pickle:
        raise HarnessError("no weight files (*.safetensors) in the model folder", file=path)


def from_pretrained(
    auto_class: Any, source: str, *, allow_pickle: bool = False, revision: str | None = None, **kwargs: Any
) -> Any:
    """``auto_class.from_pretrained`` with the project's safety policy; logs new and unused weights."""
    path = Path(source)
    if path.exists() or source.startswith((".", "/")):
        check_local_checkpoint(path, allow_pickle=allow_pickle)
    model, info = auto_class.from_pretrained(
        source,
        revision=revision,
        use_safetensors=None if allow_pickle else True,
        trust_remote_code=False,
        output_loading_info=True,
        **kwargs,
    )
    new = sorted(info.get("missing_keys", []))
    unused = sorted(info.get("unexpected_keys", []))
    mismatched = [k for k, *_ in info.get("mismatched_keys", [])]
    if new:
        log.info("%s: %d newly initialised weights: %s", source, len(new), _short(new))
    if unused:
        log.info("%s: %d unused checkpoint weights: %s", source, len(unused), _short(unused))
    if mismatched:
        log.info(
            "%s: %d weights re-initialised for a new shape: %s", source, len(mismatched), _short(mismatched)
        )
    model.loading_report = {"new": new, "unused": unused, "mismatched": mismatched}
    return model


def from_pretrained_with_labels(auto_class: Any, source: str, labels: list[str], **kwargs: Any) -> Any:
    """A model with a fresh head over ``labels`` (a body from any checkpoint; a head of another size is
    re-initialised)."""
    return from_pretrained(
        auto_class,
        source,
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        ignore_mismatched_sizes=True,
        **kwargs,
    )


ATTENTION_DROPOUT_NAMES = ("attention_probs_dropout_prob", "attention_dropout")


def attention_dropout_override(folder: Path, value: float | None) -> dict[str, float]:
    """The config override that sets ``folder``'s attention dropout to ``value`` (BERT/XLM-R name it
    ``attention_probs_dropout_prob``, DistilBERT ``attention_dropout``); {} for None."""
    if value is None:
        return {}
    config_path = Path(folder) / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    for name in ATTENTION_DROPOUT_NAMES:
        if name in config:
            return {name: value}
    raise HarnessError(
        "attention_dropout: the model's config has no attention dropout setting",
        file=config_path,
        field="hyperparameters.attention_dropout",
        allowed=[f"a config with {' or '.join(ATTENTION_DROPOUT_NAMES)}", "null (keep the model's own)"],
    )


def _short(names: list[str], limit: int = 6) -> str:
    return ", ".join(names[:limit]) + (f" … (+{len(names) - limit})" if len(names) > limit else "")


_TOKENIZERS: dict[tuple[str, ...], Any] = {}


def load_tokenizer(source: str, revision: str | None = None) -> Any:
    """``AutoTokenizer.from_pretrained``, once per process for each distinct set of tokenizer files.

    A multilingual tokenizer takes seconds to load (250k-entry vocabularies) and every checkpoint of a
    grid carries the same files, so a folder is keyed by the sha256 of its tokenizer files (and its
    model type); callers only read the shared object."""
    from transformers import AutoTokenizer

    from harness.data.cache import tokenizer_fingerprint

    folder = Path(source)
    if folder.is_dir():
        config = folder / "config.json"
        model_type = (
            json.loads(config.read_text(encoding="utf-8")).get("model_type", "") if config.is_file() else ""
        )
        key = ("folder", tokenizer_fingerprint(folder), str(model_type))
    else:
        key = ("hub", source, revision or "")
    if key not in _TOKENIZERS:
        _TOKENIZERS[key] = AutoTokenizer.from_pretrained(source, revision=revision, trust_remote_code=False)
    return _TOKENIZERS[key]
