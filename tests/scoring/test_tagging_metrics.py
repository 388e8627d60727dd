"""seqeval scores as XTREME's official scorer computes them, for BIO entities and for bare UPOS tags."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from seqeval.metrics import f1_score, precision_score, recall_score

from harness.errors import HarnessError
from harness.scoring.tagging import read_tag_file, seqeval_scores, write_tag_file

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
UPOS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def approx_scores(f1: float, precision: float, recall: float) -> dict[str, object]:
    return {"f1": pytest.approx(f1), "precision": pytest.approx(precision), "recall": pytest.approx(recall)}


# ----------------------------------------------------------------------------- BIO entities


def test_bio_entities_hand_counted() -> None:
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-ORG", "I-ORG", "I-ORG", "O"]]
    pred = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "I-ORG", "O", "O"]]
    # gold PER[0-1] LOC[3] ORG[0-2]; predicted PER[0-1] ORG[3] ORG[0-1]: only PER matches
    assert seqeval_scores(gold, pred) == approx_scores(100 / 3, 100 / 3, 100 / 3)


def test_bio_precision_and_recall_differ() -> None:
    gold = [["B-PER", "O", "B-LOC", "I-LOC"]]
    pred = [["B-PER", "B-ORG", "B-LOC", "O"]]
    # gold PER, LOC[2-3]; predicted PER, ORG, LOC[2]: 1 of 3 predicted, 1 of 2 gold
    assert seqeval_scores(gold, pred) == approx_scores(40.0, 100 / 3, 50.0)


def test_bio_default_mode_lets_i_start_an_entity() -> None:
    # conlleval-compatible (seqeval's default, as the official scorer uses it): I-PER after O opens PER
    assert seqeval_scores([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]]) == approx_scores(
        100, 100, 100
    )


def test_entities_do_not_cross_sentences() -> None:
    gold = [["O", "B-PER"], ["I-PER", "O"]]  # two one-word entities, not one spanning the boundary
    assert seqeval_scores(gold, [["O", "B-PER"], ["B-PER", "O"]]) == approx_scores(100, 100, 100)


def test_no_entity_anywhere_scores_zero_like_the_official_scorer() -> None:
    # seqeval's zero_division="warn" gives 0 when there is nothing to find, even for a perfect match
    assert seqeval_scores([["O", "O"]], [["O", "O"]]) == approx_scores(0, 0, 0)


# ----------------------------------------------------------------------------- bare UPOS tags


def test_upos_runs_of_equal_tags_are_one_chunk() -> None:
    gold = [["DET", "NOUN", "NOUN", "VERB", "PUNCT"]]
    pred = [["DET", "NOUN", "PROPN", "VERB", "PUNCT"]]
    # gold chunks DET, NOUN NOUN, VERB, PUNCT (4); predicted DET, NOUN, PROPN, VERB, PUNCT (5); 3 match
    # (token accuracy would be 4/5 = 80%)
    assert seqeval_scores(gold, pred) == approx_scores(2 * 0.6 * 0.75 / 1.35 * 100, 60.0, 75.0)


def test_upos_f1_is_not_token_accuracy() -> None:
    # 2 of 3 tokens right, but the only gold chunk (ADJ ADJ ADJ) is not matched: F1 = 0
    assert seqeval_scores([["ADJ", "ADJ", "ADJ"]], [["ADJ", "ADJ", "NOUN"]]) == approx_scores(0, 0, 0)


def test_upos_sconj_sym_are_singletons_and_share_conj_with_cconj() -> None:
    # SCONJ is read as prefix S (singleton) + type CONJ, so each SCONJ is its own chunk
    gold = [["SCONJ", "SCONJ"]]
    pred = [["SCONJ", "CCONJ"]]
    # gold: CONJ[0], CONJ[1]; predicted: CONJ[0], then CCONJ continues type CONJ from 0: CONJ[0-1]
    assert seqeval_scores(gold, pred) == approx_scores(50.0, 50.0, 50.0)


def test_upos_cconj_before_sconj_is_not_counted() -> None:
    # CCONJ then SCONJ: the SCONJ restarts the CONJ chunk without closing the CCONJ one, which is lost
    gold = [["CCONJ", "SCONJ"]]  # one gold chunk: CONJ[1]
    pred = [["PUNCT", "SCONJ"]]  # UNCT[0], CONJ[1]
    assert seqeval_scores(gold, pred) == approx_scores(200 / 3, 50.0, 100.0)


def test_mismatched_lengths_are_an_error() -> None:
    with pytest.raises(HarnessError, match="2 predicted sentences but 1 gold"):
        seqeval_scores([["O"]], [["O"], ["O"]])
    with pytest.raises(HarnessError, match="sentence 0"):
        seqeval_scores([["O", "O"]], [["O"]])


# ----------------------------------------------------------------------------- properties


@st.composite
def paired_sentences(draw: st.DrawFn, tags: list[str] = BIO) -> tuple[list[list[str]], list[list[str]]]:
    lengths = draw(st.lists(st.integers(1, 8), min_size=1, max_size=6))
    gold = [draw(st.lists(st.sampled_from(tags), min_size=n, max_size=n)) for n in lengths]
    pred = [draw(st.lists(st.sampled_from(tags), min_size=n, max_size=n)) for n in lengths]
    return gold, pred


tag_sets = st.sampled_from([BIO, UPOS])


@FAST
@given(data=st.data(), tags=tag_sets)
def test_perfect_predictions_score_100(data: st.DataObject, tags: list[str]) -> None:
    gold, _ = data.draw(paired_sentences(tags))
    # at least one chunk that nothing can swallow: a B- tag, or a NOUN for UPOS
    assume(any(t.startswith("B-") or t == "NOUN" for sentence in gold for t in sentence))
    assert seqeval_scores(gold, gold) == approx_scores(100, 100, 100)


@FAST
@given(data=st.data(), tags=tag_sets)
def test_f1_lies_between_precision_and_recall(data: st.DataObject, tags: list[str]) -> None:
    gold, pred = data.draw(paired_sentences(tags))
    scores = seqeval_scores(gold, pred)
    low, high = sorted((scores["precision"], scores["recall"]))
    assert low - 1e-9 <= scores["f1"] <= high + 1e-9


@FAST
@given(data=st.data(), tags=tag_sets, seed=st.integers(0, 10_000))
def test_sentence_order_does_not_matter(data: st.DataObject, tags: list[str], seed: int) -> None:
    gold, pred = data.draw(paired_sentences(tags))
    order = list(range(len(gold)))
    random.Random(seed).shuffle(order)
    shuffled = seqeval_scores([gold[i] for i in order], [pred[i] for i in order])
    assert shuffled == approx_scores(**seqeval_scores(gold, pred))


@FAST
@given(data=st.data(), tags=tag_sets)
def test_equals_seqeval_times_100(data: st.DataObject, tags: list[str]) -> None:
    gold, pred = data.draw(paired_sentences(tags))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "f1": f1_score(gold, pred) * 100,
            "precision": precision_score(gold, pred) * 100,
            "recall": recall_score(gold, pred) * 100,
        }
    assert seqeval_scores(gold, pred) == expected


# ----------------------------------------------------------------------------- the file format

tag_text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ-_", min_size=1, max_size=6)


@FAST
@given(sentences=st.lists(st.lists(tag_text, max_size=5), max_size=6))
def test_read_tag_file_round_trips_a_written_file(
    tmp_path_factory: pytest.TempPathFactory, sentences: list[list[str]]
) -> None:
    path = tmp_path_factory.mktemp("tags") / "test-xx.tsv"
    write_tag_file(path, sentences)
    assert read_tag_file(path) == sentences


def test_read_tag_file_like_the_official_read_tag(tmp_path: Path) -> None:
    path = tmp_path / "test-de.tsv"
    path.write_text("  NOUN \t\r\nVERB\n\n\nB-PER\n   \nI-PER\nO", encoding="utf-8")
    # stripped lines; every blank line ends a sentence (two in a row: an empty one); the last kept
    assert read_tag_file(path) == [["NOUN", "VERB"], [], ["B-PER"], ["I-PER", "O"]]
