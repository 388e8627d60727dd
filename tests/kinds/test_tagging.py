"""The tagging kind: windows instead of truncation, first sub-token labels, reassembly, metric, baseline."""

from __future__ import annotations

import random
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import datasets
import numpy as np
import pytest
import torch
from seqeval.metrics import f1_score, precision_score, recall_score
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from harness.catalogue.schema import DatasetSpec, Hyperparameters, TaskSpec
from harness.errors import HarnessError
from harness.kinds.tagging import IGNORE_INDEX, KIND, assign_words, plan_windows
from harness.training.finetune import finetune

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PIECES = [f"w{i}" for i in range(60)] + ["alpha", "beta", "gamma", "##s", "##ing", "##x"]
NER = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]


def make_task(labels: list[str], **params: Any) -> TaskSpec:
    return TaskSpec(
        name="tiny_tag",
        kind="tagging",
        version=1,
        dataset=DatasetSpec(format="conllu", path="unused"),
        labels=labels,
        languages=["en"],
        params=params,
    )


def make_rows(sentences: list[list[str]], tags: list[list[str]]) -> datasets.Dataset:
    return datasets.Dataset.from_dict(
        {"id": [f"s{i}" for i in range(len(sentences))], "tokens": sentences, "tags": tags}
    )


@pytest.fixture(scope="module")
def wordpiece() -> PreTrainedTokenizerFast:
    """A BERT-style WordPiece tokenizer over the tiny model's 71 ids, so words split into several pieces."""
    vocab = {token: i for i, token in enumerate(SPECIALS + PIECES)}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, lowercase=False, strip_accents=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )


@pytest.fixture(scope="module")
def wordlevel(tiny_model: Path) -> Any:
    return AutoTokenizer.from_pretrained(tiny_model)


def multi_piece_words(n: int, seed: int = 0) -> list[str]:
    """Words of 1 to 3 WordPiece pieces (e.g. ``w7ingx`` = w7 ##ing ##x), plus unknown words."""
    rng = random.Random(seed)
    suffixes = ["", "s", "ing", "x", "ingx", "ings"]
    return [rng.choice(["zzz", *PIECES[:63]]) + rng.choice(suffixes) for _ in range(n)]


class IdEcho(torch.nn.Module):
    """Predicts, at every position, the label whose index is the input id: the tag = the sub-token."""

    def __init__(self, n_labels: int) -> None:
        super().__init__()
        self.n_labels = n_labels
        self.anchor = torch.nn.Parameter(torch.zeros(1))

    def forward(self, input_ids: torch.Tensor, **_: Any) -> SimpleNamespace:
        logits = torch.nn.functional.one_hot(input_ids % self.n_labels, self.n_labels).float()
        return SimpleNamespace(logits=logits + self.anchor)


def labelled_words(features: datasets.Dataset) -> dict[int, list[int]]:
    """example index -> every word index that has a labelled position, in feature order."""
    out: dict[int, list[int]] = {}
    for example, word_index, labels in zip(
        features["example_index"], features["word_index"], features["labels"], strict=True
    ):
        for word, label in zip(word_index, labels, strict=True):
            assert (word >= 0) == (label != IGNORE_INDEX)
            if word >= 0:
                out.setdefault(example, []).append(word)
    return out


# --------------------------------------------------------------------------------- windows


def test_plan_windows_covers_every_word_in_order() -> None:
    counts = [1, 3, 2, 5, 1, 1, 4, 2]
    windows = plan_windows(counts, budget=6)
    assert windows == [(0, 3), (3, 5), (5, 7), (7, 8)]  # 1+3+2, 5+1, 1+4, 2
    assert plan_windows([9, 1], budget=4) == [(0, 1), (1, 2)]  # an over-long word still gets a window
    with pytest.raises(HarnessError):
        plan_windows([1], budget=0)


def test_overlapping_windows_label_each_word_once_with_most_context() -> None:
    windows = plan_windows([1] * 10, budget=4, overlap=2)
    assert windows == [(0, 4), (2, 6), (4, 8), (6, 10)]
    owner = assign_words(windows, 10)
    assert owner == [0, 0, 0, 1, 1, 2, 2, 3, 3, 3]


def test_long_sentence_is_windowed_not_truncated(wordlevel: Any) -> None:
    words = [f"w{i % 60}" for i in range(100)]
    tags = [NER[i % len(NER)] for i in range(100)]
    features = KIND.features(make_rows([words], [tags]), wordlevel, make_task(NER), max_length=16)
    assert len(features) == 8  # 14 words per window after [CLS] and [SEP]: ceil(100 / 14)
    assert all(length <= 16 for length in features["length"])
    assert labelled_words(features) == {0: list(range(100))}
    gold = [NER.index(t) for t in tags]
    assert [label for row in features["labels"] for label in row if label != IGNORE_INDEX] == gold


def test_overlap_param_keeps_exactly_one_label_per_word(wordlevel: Any) -> None:
    words = [f"w{i % 60}" for i in range(100)]
    rows = make_rows([words], [["O"] * 100])
    features = KIND.features(rows, wordlevel, make_task(NER, window_stride_words=4), max_length=16)
    assert len(features) == 10  # each window moves on by 14 - 4 words
    assert sorted(labelled_words(features)[0]) == list(range(100))


# --------------------------------------------------------------------------------- sub-tokens


def test_only_first_sub_tokens_are_labelled(wordpiece: PreTrainedTokenizerFast) -> None:
    words = multi_piece_words(12)
    tags = [NER[i % len(NER)] for i in range(12)]
    features = KIND.features(make_rows([words], [tags]), wordpiece, make_task(NER), max_length=64)
    assert len(features) == 1
    enc = wordpiece(words, is_split_into_words=True)
    assert features["input_ids"][0] == enc["input_ids"]
    word_ids = enc.word_ids()
    assert max(word_ids.count(w) for w in range(12)) >= 3  # really multi-piece
    expected = [
        NER.index(tags[w]) if w is not None and w not in word_ids[:j] else IGNORE_INDEX
        for j, w in enumerate(word_ids)
    ]
    assert features["labels"][0] == expected


def test_windows_hold_exactly_what_the_tokenizer_gives_for_their_words(
    wordpiece: PreTrainedTokenizerFast,
) -> None:
    words = multi_piece_words(100, seed=1)
    features = KIND.features(make_rows([words], [["O"] * 100]), wordpiece, make_task(NER), max_length=16)
    assert len(features) > 1 and all(length <= 16 for length in features["length"])
    for ids, word_index in zip(features["input_ids"], features["word_index"], strict=True):
        owned = [w for w in word_index if w >= 0]
        window = words[owned[0] : owned[-1] + 1]
        assert owned == list(range(owned[0], owned[-1] + 1))  # whole words, in order
        assert ids == wordpiece(window, is_split_into_words=True)["input_ids"]
    assert labelled_words(features) == {0: list(range(100))}


def test_a_word_without_sub_tokens_gets_the_unknown_token(wordpiece: PreTrainedTokenizerFast) -> None:
    words = ["w1", "\u200b", "w2s", "", "w3"]  # U+200B and "" tokenise to nothing
    assert wordpiece(words, is_split_into_words=True).word_ids().count(1) == 0
    features = KIND.features(make_rows([words], [["O"] * 5]), wordpiece, make_task(NER), max_length=64)
    unk = wordpiece.unk_token_id
    assert features["input_ids"][0] == [2, 6, unk, 7, 68, unk, 8, 3]
    assert features["word_index"][0] == [-1, 0, 1, 2, -1, 3, 4, -1]


def test_a_word_longer_than_a_window_keeps_its_first_sub_tokens(wordpiece: PreTrainedTokenizerFast) -> None:
    words = ["w1", "w2" + "ing" * 10, "w3"]  # the middle word is 11 pieces; 6 fit after [CLS] [SEP]
    features = KIND.features(make_rows([words], [["O"] * 3]), wordpiece, make_task(NER), max_length=8)
    assert features["input_ids"] == [[2, 6, 3], [2, 7] + [69] * 5 + [3], [2, 8, 3]]
    assert labelled_words(features) == {0: [0, 1, 2]}


# --------------------------------------------------------------------------------- predictions


def test_every_word_gets_its_own_prediction_in_order(wordpiece: PreTrainedTokenizerFast) -> None:
    labels = SPECIALS + PIECES  # label i = vocabulary entry i, so IdEcho predicts the first sub-token
    sentences = [multi_piece_words(n, seed=n) for n in (100, 3, 40, 1, 17)]
    sentences[2][5] = "\u200b"
    first_pieces = [[(wordpiece.tokenize(w) or ["[UNK]"])[0] for w in s] for s in sentences]
    task = make_task(labels)
    rows = make_rows(sentences, first_pieces)
    features = KIND.features(rows, wordpiece, task, max_length=16)
    preds = KIND.predict(IdEcho(len(labels)), features, rows, task, wordpiece, 4, "fp32")
    assert [p.id for p in preds] == rows["id"]
    assert [p.prediction for p in preds] == first_pieces
    assert all(p.correct == 1.0 and p.extra == {} for p in preds)


def test_collator_pads_and_drops_bookkeeping(wordlevel: Any) -> None:
    rows = make_rows([["w1", "w2", "w3"], ["w4"]], [["O", "B-PER", "I-PER"], ["B-LOC"]])
    features = KIND.features(rows, wordlevel, make_task(NER), max_length=16)
    batch = KIND.collator(wordlevel)(features.to_list())
    assert set(batch) == {"input_ids", "attention_mask", "labels"}
    assert batch["input_ids"].tolist() == [[2, 6, 7, 8, 3], [2, 9, 3, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 0, 0]]
    assert batch["labels"].tolist() == [[-100, 0, 1, 2, -100], [-100, 3, -100, -100, -100]]


def test_tiny_training_run_and_score_equals_seqeval(tiny_model: Path, wordlevel: Any) -> None:
    rng = random.Random(0)
    sentences = [[f"w{rng.randrange(60)}" for _ in range(rng.randrange(3, 30))] for _ in range(24)]
    tags = [[NER[int(w[1:]) % len(NER)] for w in s] for s in sentences]
    rows = make_rows(sentences, tags)
    task = make_task(NER)
    features = KIND.features(rows, wordlevel, task, max_length=16)
    model = KIND.load_model(str(tiny_model), task)
    assert model.config.id2label == dict(enumerate(NER))
    hp = Hyperparameters(max_steps=2, batch_size=8, learning_rate=1e-3, warmup_ratio=0.0)
    outcome = finetune(model, features, KIND.collator(wordlevel), hp, seed=1, selection="last")
    assert outcome.steps == 2
    preds = KIND.predict(model, features, rows, task, wordlevel, 8, "fp32")
    assert [len(p.prediction) for p in preds] == [len(s) for s in sentences]
    gold, pred = [p.label for p in preds], [p.prediction for p in preds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "f1": f1_score(gold, pred),
            "precision": precision_score(gold, pred),
            "recall": recall_score(gold, pred),
        }
    flat = [(g, p) for gs, ps in zip(gold, pred, strict=True) for g, p in zip(gs, ps, strict=True)]
    expected["accuracy"] = float(np.mean([g == p for g, p in flat]))
    assert KIND.score(preds, task) == pytest.approx(expected)
    assert preds[0].correct == pytest.approx(np.mean([g == p for g, p in zip(gold[0], pred[0], strict=True)]))


# --------------------------------------------------------------------------------- errors, baseline


def test_unknown_gold_tag_names_task_tag_and_allowed(wordlevel: Any) -> None:
    rows = make_rows([["w1", "w2"]], [["O", "B-MISC"]])
    with pytest.raises(HarnessError) as caught:
        KIND.features(rows, wordlevel, make_task(NER), max_length=16)
    message = str(caught.value)
    assert "'tiny_tag'" in message and "'B-MISC'" in message and "'s0'" in message
    assert caught.value.allowed == NER and "allowed: O, B-PER" in message


def test_majority_tag_per_word_baseline() -> None:
    labels = ["NOUN", "VERB", "DET"]
    train = make_rows(
        [["the", "run", "run"], ["a", "run", "dog"], ["the", "dog"]],
        [["DET", "NOUN", "VERB"], ["DET", "VERB", "NOUN"], ["DET", "NOUN"]],
    )
    # run: VERB 2 NOUN 1 -> VERB; dog -> NOUN; the, a -> DET; overall DET 3 NOUN 3 VERB 2 -> NOUN (listed first)
    scored = make_rows([["the", "dog", "run", "cat"]], [["DET", "NOUN", "NOUN", "NOUN"]])
    baseline = KIND.baseline(train, scored, make_task(labels))
    assert baseline.name == "majority tag per word"
    # predicted DET NOUN VERB NOUN: chunks ET, OUN, ERB, OUN vs gold ET, OUN[1-3]: 1 of 4, 1 of 2
    assert baseline.scores == pytest.approx(
        {"accuracy": 0.75, "precision": 0.25, "recall": 0.5, "f1": 2 * 0.125 / 0.75}
    )
