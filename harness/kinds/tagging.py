"""Token tagging (UD-POS, PAN-X): first sub-token labelled, long sentences windowed, seqeval F1.

Features. Each sentence (pre-split words) is tokenised once with ``is_split_into_words=True``; the fast
tokenizer's ``word_ids()`` give every word its sub-tokens. Only the first sub-token of a word carries
its tag index; every other position is −100. A sentence whose sub-tokens do not fit in ``max_length``
is cut into several windows *by words*, never inside a word and never truncated: a window takes as
many whole words as fit (after the tokenizer's own special tokens). ``params.window_stride_words``
(default 0) is the number of words consecutive windows share; a shared word is labelled in exactly
one window, the one where it has the most context on its poorer side (ties: the earlier window).
Every feature row keeps ``example_index`` (its sentence) and ``word_index`` (aligned with
``input_ids``: the word a labelled position belongs to, −1 elsewhere), so every word gets exactly one
prediction and predictions are reassembled in word order.

Two rare cases, decided here:

- a word that tokenises to *no* sub-token (zero-width characters such as U+200B/U+200C/U+FEFF, or an
  empty form) gets the tokenizer's unknown token as its single sub-token, as XTREME's preprocessing
  does, so the model predicts its tag at its own position from context;
- a single word with more sub-tokens than fit in a window keeps only its first ones (its labelled
  first sub-token always survives); XTREME replaces such a word by the unknown token instead.

Scores: seqeval F1/precision/recall exactly as XTREME's official scorer (see
``harness.scoring.tagging``), as fractions, plus token-level accuracy.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForTokenClassification

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import Baseline, BaselineInputs, Collate, PredictInputs, Prediction, TaskKind
from harness.kinds.registry import kind_params
from harness.models.loading import from_pretrained_with_labels
from harness.scoring.tagging import seqeval_scores

IGNORE_INDEX = -100
"""Label of positions that are not scored (special tokens, non-first sub-tokens, padding)."""

MODEL_COLUMNS = ("input_ids", "token_type_ids", "attention_mask")
"""Tokenizer outputs carried into the features (when the tokenizer produces them)."""

Piece = tuple[int, ...]
"""One sub-token position: its value in each of the encoding's model columns."""


# ----------------------------------------------------------------------------------- tag set


def tag_table(task: TaskSpec) -> dict[str, int]:
    labels = task.labels or []
    if not labels:
        raise HarnessError(f"task {task.name!r}: a tagging task needs its tag set in labels", field="labels")
    return {tag: index for index, tag in enumerate(labels)}


def tag_ids(task: TaskSpec, table: dict[str, int], tags: Sequence[str], sentence_id: Any) -> list[int]:
    """The tags of one sentence as indices; a tag outside the tag set is an error naming it."""
    out = []
    for tag in tags:
        index = table.get(str(tag))
        if index is None:
            raise HarnessError(
                f"task {task.name!r}: gold tag {tag!r} (sentence {sentence_id!r}) is not in the tag set",
                field="labels",
                allowed=list(table),
            )
        out.append(index)
    return out


# ----------------------------------------------------------------------------------- windows


def plan_windows(piece_counts: Sequence[int], budget: int, overlap: int = 0) -> list[tuple[int, int]]:
    """Word spans ``[start, end)`` whose sub-tokens fit in ``budget``, covering every word in order.

    A window always takes at least one word (a word longer than the budget is cut by the caller).
    The next window starts ``overlap`` words before the previous one ended, but always moves forward.
    """
    if budget < 1:
        raise HarnessError(f"max length leaves {budget} positions for words after special tokens")
    windows: list[tuple[int, int]] = []
    start, n_words = 0, len(piece_counts)
    while start < n_words:
        end, used = start, 0
        while end < n_words and (end == start or used + piece_counts[end] <= budget):
            used += min(piece_counts[end], budget)
            end += 1
        windows.append((start, end))
        if end >= n_words:
            break
        start = max(start + 1, end - max(overlap, 0))
    return windows


def assign_words(windows: Sequence[tuple[int, int]], n_words: int) -> list[int]:
    """For each word, the window that labels it: the one giving it the most context on its poorer side."""
    owner = [-1] * n_words
    best = [-1] * n_words
    for index, (start, end) in enumerate(windows):
        for word in range(start, end):
            context = min(word - start, end - 1 - word)
            if context > best[word]:
                owner[word], best[word] = index, context
    return owner


# ----------------------------------------------------------------------------------- encoding


@dataclass
class EncodedSentence:
    """A tokenised sentence split into the tokenizer's leading/trailing special tokens and word pieces."""

    columns: tuple[str, ...]
    prefix: list[Piece]
    suffix: list[Piece]
    words: list[list[Piece]]


def split_encoding(enc: Any, row: int, n_words: int, unk: Piece, columns: tuple[str, ...]) -> EncodedSentence:
    """Group one row of a batch encoding by word; a word without sub-tokens gets ``unk``."""
    word_ids = enc.word_ids(row)
    pieces = list(zip(*(enc[c][row] for c in columns), strict=True))
    words: list[list[Piece]] = [[] for _ in range(n_words)]
    prefix: list[Piece] = []
    suffix: list[Piece] = []
    seen_word = False
    for position, word in enumerate(word_ids):
        if word is None:
            (suffix if seen_word else prefix).append(pieces[position])
            continue
        if suffix:
            raise HarnessError("the tokenizer puts special tokens between the words of one sentence")
        seen_word = True
        words[word].append(pieces[position])
    for word_pieces in words:
        if not word_pieces:
            word_pieces.append(unk)
    return EncodedSentence(columns, prefix, suffix, words)


def unknown_piece(tokenizer: Any, columns: tuple[str, ...]) -> Piece:
    unk_id = tokenizer.unk_token_id
    if unk_id is None:
        raise HarnessError("the tokenizer has no unknown token for words that tokenise to nothing")
    values = {"input_ids": unk_id, "token_type_ids": 0, "attention_mask": 1}
    return tuple(values[c] for c in columns)


def window_features(
    sentence: EncodedSentence,
    tags: Sequence[int],
    example_index: int,
    max_length: int,
    overlap: int,
) -> list[dict[str, Any]]:
    """The feature rows of one sentence: one per window, labels on owned first sub-tokens only."""
    budget = max_length - len(sentence.prefix) - len(sentence.suffix)
    counts = [len(pieces) for pieces in sentence.words]
    windows = plan_windows(counts, budget, overlap)
    owner = assign_words(windows, len(counts))
    out = []
    for index, (start, end) in enumerate(windows):
        pieces = list(sentence.prefix)
        labels = [IGNORE_INDEX] * len(pieces)
        word_index = [-1] * len(pieces)
        for word in range(start, end):
            kept = sentence.words[word][:budget]
            owned = owner[word] == index
            labels += [tags[word] if owned else IGNORE_INDEX] + [IGNORE_INDEX] * (len(kept) - 1)
            word_index += [word if owned else -1] + [-1] * (len(kept) - 1)
            pieces += kept
        pieces += sentence.suffix
        labels += [IGNORE_INDEX] * len(sentence.suffix)
        word_index += [-1] * len(sentence.suffix)
        row: dict[str, Any] = {c: [p[k] for p in pieces] for k, c in enumerate(sentence.columns)}
        row.update(labels=labels, word_index=word_index, example_index=example_index, length=len(pieces))
        out.append(row)
    return out


def _require_fast(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise HarnessError(
            f"tagging needs a fast tokenizer (word_ids()); {type(tokenizer).__name__} is not one"
        )


# ----------------------------------------------------------------------------------- scoring


def tagging_scores(labels: Sequence[Sequence[str]], predictions: Sequence[Sequence[str]]) -> dict[str, float]:
    """seqeval F1/precision/recall (official XTREME scorer) and token accuracy, as fractions."""
    scores = {name: value / 100 for name, value in seqeval_scores(labels, predictions).items()}
    total = sum(len(gold) for gold in labels)
    right = sum(
        g == p
        for gold, pred in zip(labels, predictions, strict=True)
        for g, p in zip(gold, pred, strict=True)
    )
    scores["accuracy"] = right / total if total else 0.0
    return scores


def sentence_accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    return float(np.mean([g == p for g, p in zip(gold, pred, strict=True)])) if gold else 1.0


def majority(counts: Counter[str], order: dict[str, int]) -> str:
    """The most frequent tag; ties go to the tag listed first in the tag set."""
    return min(counts, key=lambda tag: (-counts[tag], order.get(tag, len(order)), tag))


# ----------------------------------------------------------------------------------- the kind


class Tagging(TaskKind):
    name = "tagging"
    trains = True

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        return from_pretrained_with_labels(
            AutoModelForTokenClassification, source, list(tag_table(task)), **load_kwargs
        )

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        _require_fast(tokenizer)
        table = tag_table(task)
        overlap = kind_params(task).window_stride_words

        def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
            words = [[str(w) for w in sentence] for sentence in batch["tokens"]]
            enc = tokenizer(words, is_split_into_words=True, truncation=False)
            columns = tuple(c for c in MODEL_COLUMNS if c in enc)
            unk = unknown_piece(tokenizer, columns)
            out: dict[str, list] = defaultdict(list)
            for row, example_index in enumerate(indices):
                sentence_id = batch["id"][row] if "id" in batch else example_index
                if len(batch["tags"][row]) != len(words[row]):
                    raise HarnessError(
                        f"task {task.name!r}: sentence {sentence_id!r} has {len(words[row])} words "
                        f"but {len(batch['tags'][row])} tags"
                    )
                tags = tag_ids(task, table, batch["tags"][row], sentence_id)
                sentence = split_encoding(enc, row, len(words[row]), unk, columns)
                for feature in window_features(sentence, tags, example_index, max_length, overlap):
                    for key, value in feature.items():
                        out[key].append(value)
            return dict(out)

        return rows.map(
            encode,
            batched=True,
            with_indices=True,
            remove_columns=rows.column_names,
            desc=f"tokenise {task.name}",
        )

    def collator(self, tokenizer: Any, task: TaskSpec | None = None) -> Collate:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        fill = {"input_ids": pad_id, "token_type_ids": 0, "attention_mask": 0, "labels": IGNORE_INDEX}

        def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
            width = max(len(item["input_ids"]) for item in items)
            batch = {}
            for column, value in fill.items():
                if column not in items[0]:
                    continue
                tensor = torch.full((len(items), width), value, dtype=torch.long)
                for i, item in enumerate(items):  # right padding, whatever the tokenizer's side
                    tensor[i, : len(item[column])] = torch.tensor(item[column], dtype=torch.long)
                batch[column] = tensor
            return batch

        return collate

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        task, features, rows = inputs.task, inputs.features, inputs.rows
        labels = list(tag_table(task))
        words = rows["tokens"]
        chosen = [[-1] * len(sentence) for sentence in words]
        for example, word_index, row_logits in zip(
            features["example_index"], features["word_index"], outputs, strict=True
        ):
            # Rows are right-padded to their batch's width: positions < len(word_index) are the row's own.
            best = np.argmax(row_logits[: len(word_index)], axis=-1)
            for position, word in enumerate(word_index):
                if word < 0:
                    continue
                if chosen[example][word] != -1:
                    raise HarnessError(f"sentence {example}: word {word} is labelled in two windows")
                chosen[example][word] = int(best[position])
        out = []
        for row_id, gold_tags, indices in zip(rows["id"], rows["tags"], chosen, strict=True):
            if -1 in indices:
                raise HarnessError(
                    f"task {task.name!r}: sentence {row_id!r}: the features do not cover every word"
                )
            pred = [labels[i] for i in indices]
            gold = [str(tag) for tag in gold_tags]
            out.append(Prediction(row_id, pred, gold, sentence_accuracy(gold, pred)))
        return out

    def score(self, predictions: Sequence[Prediction], task: TaskSpec) -> dict[str, float]:
        return tagging_scores([p.label for p in predictions], [p.prediction for p in predictions])

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Each word form's most frequent training tag; unseen forms get the most frequent tag overall."""
        source = inputs.fit_rows
        lookup, fallback = majority_lookup(source, inputs.task)
        gold = [[str(tag) for tag in tags] for tags in inputs.eval_rows["tags"]]
        pred = [[lookup.get(str(w), fallback) for w in sentence] for sentence in inputs.eval_rows["tokens"]]
        name = (
            "majority tag per word"
            if inputs.train_rows is not None
            else "majority tag per word (scored data)"
        )
        return Baseline(name, tagging_scores(gold, pred))


_LOOKUPS: dict[tuple[str, str, int], tuple[dict[str, str], str]] = {}


def majority_lookup(source: datasets.Dataset, task: TaskSpec) -> tuple[dict[str, str], str]:
    """Word form → its most frequent tag in ``source``, and the overall most frequent tag. Memoised on
    the rows' fingerprint: every language of a target shares the same English training rows."""
    fingerprint = getattr(source, "_fingerprint", None)
    key = (str(fingerprint), task.name, task.version)
    if fingerprint and key in _LOOKUPS:
        return _LOOKUPS[key]
    table = tag_table(task)
    per_word: dict[str, Counter[str]] = defaultdict(Counter)
    overall: Counter[str] = Counter()
    for index, (sentence, tags) in enumerate(zip(source["tokens"], source["tags"], strict=True)):
        tag_ids(task, table, tags, index)
        for word, tag in zip(sentence, tags, strict=True):
            per_word[str(word)][str(tag)] += 1
            overall[str(tag)] += 1
    fallback = majority(overall, table) if overall else next(iter(table))
    result = ({word: majority(counts, table) for word, counts in per_word.items()}, fallback)
    if fingerprint:
        if len(_LOOKUPS) > 8:
            _LOOKUPS.clear()
        _LOOKUPS[key] = result
    return result


KIND = Tagging()
