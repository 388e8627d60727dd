"""Real UD PUD treebanks through the tagging kind with the real me5-small tokenizer: no word is lost."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import datasets
import pytest
from transformers import AutoTokenizer

from harness.catalogue.schema import DatasetSpec, TaskSpec
from harness.data.formats import read_conllu
from harness.extras import materialize_embedded
from harness.kinds.tagging import IGNORE_INDEX, KIND

pytestmark = pytest.mark.real_data

UPOS = [
    "ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM",
    "PART", "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X",
]  # fmt: skip
TREEBANKS = {"de": "German", "ja": "Japanese", "th": "Thai", "zh": "Chinese", "ar": "Arabic", "hi": "Hindi"}
MAX_LENGTH = 128


@pytest.fixture(scope="module")
def me5_tokenizer() -> Any:
    return AutoTokenizer.from_pretrained(materialize_embedded("me5-small"))


def udpos_task() -> TaskSpec:
    return TaskSpec(
        name="udpos_pud",
        kind="tagging",
        version=1,
        dataset=DatasetSpec(format="conllu", path="{data_dir}/ud/{code}/*.conllu"),
        labels=UPOS,
        languages=list(TREEBANKS),
    )


@pytest.mark.parametrize("lang", sorted(TREEBANKS))
def test_every_pud_word_gets_exactly_one_labelled_position(
    shared_data: Path, me5_tokenizer: Any, lang: str
) -> None:
    (path,) = sorted((shared_data / "ud" / f"UD_{TREEBANKS[lang]}-PUD").glob("*.conllu"))
    rows = read_conllu(path)
    assert len(rows) == 1000
    assert Counter(row["id"][0] for row in rows) == {"n": 500, "w": 500}

    features = KIND.features(datasets.Dataset.from_list(rows), me5_tokenizer, udpos_task(), MAX_LENGTH)
    assert max(features["length"]) <= MAX_LENGTH
    seen: list[list[int]] = [[] for _ in rows]
    for example, word_index, labels in zip(
        features["example_index"], features["word_index"], features["labels"], strict=True
    ):
        for word, label in zip(word_index, labels, strict=True):
            if word >= 0:
                assert label == UPOS.index(rows[example]["tags"][word])
                seen[example].append(word)
            else:
                assert label == IGNORE_INDEX
    for row, words in zip(rows, seen, strict=True):
        assert words == list(range(len(row["tokens"]))), row["id"]
    if lang == "ja":  # 9 Japanese sentences exceed 128 sub-tokens with this tokenizer: windows are needed
        assert len(features) > len(rows)
