"""The mining kind: chunked k-nn, ratio margin, "max" candidates, threshold on dev, end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogue.schema import TaskSpec
from harness.data.bucc import bucc_files, load_bucc_rows, sentence_rows
from harness.errors import HarnessError
from harness.kinds.mining import (
    KIND,
    MarginScores,
    candidate_pairs,
    choose_threshold,
    knn,
    knn_both,
    margin_scores,
    max_candidates,
    mine,
    mine_rows,
    mining_params,
    unify,
    unit_rows,
)
from harness.scoring.bucc import bucc_scores


def dense_knn(x: np.ndarray, y: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    sims = unit_rows(x) @ unit_rows(y).T
    idx = np.argsort(-sims, axis=1, kind="stable")[:, : min(k, len(y))]
    return np.take_along_axis(sims, idx, axis=1), idx


# ---- knn ------------------------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(
    n_x=st.integers(1, 23),
    n_y=st.integers(1, 23),
    dim=st.integers(2, 6),
    k=st.integers(1, 7),
    chunk=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_chunked_knn_equals_dense(n_x: int, n_y: int, dim: int, k: int, chunk: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n_x, dim)), rng.standard_normal((n_y, dim))  # float64: no near-ties
    want_fwd, want_bwd = dense_knn(x, y, k), dense_knn(y, x, k)
    got = knn(x, y, k, chunk)
    (fwd_sims, fwd_idx), (bwd_sims, bwd_idx) = knn_both(x, y, k, chunk)
    for (sims, idx), (want_sims, want_idx) in (
        (got, want_fwd),
        ((fwd_sims, fwd_idx), want_fwd),
        ((bwd_sims, bwd_idx), want_bwd),
    ):
        assert idx.shape == want_idx.shape
        np.testing.assert_array_equal(idx, want_idx)
        np.testing.assert_allclose(sims, want_sims, rtol=0, atol=1e-12)


def test_knn_edge_cases() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = rng.standard_normal((7, 4)).astype(np.float32)
    sims, idx = knn(x, y, k=50, chunk=3)  # k > len(y) and k > chunk; chunk divides neither side
    assert sims.shape == idx.shape == (10, 7) and sims.dtype == np.float32
    want_sims, want_idx = dense_knn(x, y, 50)
    np.testing.assert_allclose(sims, want_sims, atol=1e-6)
    np.testing.assert_array_equal(np.sort(idx, axis=1), np.sort(want_idx, axis=1))
    sims, idx = knn(x, y, k=2, chunk=1000)  # one block
    np.testing.assert_array_equal(idx, dense_knn(x, y, 2)[1])
    sims, idx = knn(x[:0], y, k=4)
    assert sims.shape == (0, 4)
    (fs, fi), (bs, bi) = knn_both(x, y[:0], k=4)
    assert fs.shape == (10, 0) and bs.shape == (0, 4)  # as knn(x, y[:0]) and knn(y[:0], x)
    with pytest.raises(ValueError, match="NaN"):
        knn(np.full((2, 3), np.nan), y[:, :3], k=1)


def test_knn_float32_with_many_blocks_matches_dense() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((300, 16)).astype(np.float32)
    y = rng.standard_normal((250, 16)).astype(np.float32)
    (fs, fi), (bs, bi) = knn_both(x, y, k=4, chunk=32)
    for (sims, idx), (want_sims, want_idx) in (
        ((fs, fi), dense_knn(x, y, 4)),
        ((bs, bi), dense_knn(y, x, 4)),
    ):
        np.testing.assert_allclose(sims, want_sims, atol=1e-5)
        assert (idx == want_idx).mean() > 0.999


def test_knn_ties_keep_valid_neighbours() -> None:
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # two identical sources
    y = np.array([[1.0, 0.1], [0.2, 1.0]])
    (_, fwd_idx), (bwd_sims, bwd_idx) = knn_both(x, y, k=2, chunk=1)
    assert fwd_idx[:, 0].tolist() == [0, 0, 1]
    assert sorted(bwd_idx[0].tolist()) == [0, 1] and bwd_sims[0, 0] == pytest.approx(bwd_sims[0, 1])


# ---- ratio margin and candidates -------------------------------------------------------------------------


def test_margin_scores_hand_computed() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    y = np.array([[0.8, 0.6], [0.0, 1.0], [1.0, 0.0]])
    # cosines (rows x, columns y): [[.8, 0, 1], [.6, 1, 0], [.96, .8, .6]]; k = 2
    # fwd means: x0 (1+.8)/2=.9, x1 (1+.6)/2=.8, x2 (.96+.8)/2=.88
    # bwd means: y0 (.96+.8)/2=.88, y1 (1+.8)/2=.9, y2 (1+.6)/2=.8
    scores = margin_scores(x, y, k=2, chunk=2)
    np.testing.assert_allclose(scores.fwd_mean, [0.9, 0.8, 0.88])
    np.testing.assert_allclose(scores.bwd_mean, [0.88, 0.9, 0.8])
    # x0: y2 1/((.9+.8)/2)=1.17647 beats y0 .8/((.9+.88)/2)=.89888; x1: y1 1/.85 beats y0 .6/.84;
    # x2: y0 .96/((.88+.88)/2)=1.09091 beats y1 .8/((.88+.9)/2)=.89888
    assert scores.fwd_best.tolist() == [2, 1, 0]
    np.testing.assert_allclose(scores.fwd_score, [1 / 0.85, 1 / 0.85, 0.96 / 0.88])
    # y0: x2 .96/.88 beats x0 .8/.89; y1: x1 1/.85 beats x2 .8/.89; y2: x0 1/.85 beats x2 .6/.84
    assert scores.bwd_best.tolist() == [2, 1, 0]
    np.testing.assert_allclose(scores.bwd_score, [0.96 / 0.88, 1 / 0.85, 1 / 0.85])
    src, tgt, margin = max_candidates(scores)
    assert sorted(zip(src.tolist(), tgt.tolist(), strict=True)) == [(0, 2), (1, 1), (2, 0)]
    np.testing.assert_allclose(sorted(margin), sorted([1 / 0.85, 1 / 0.85, 0.96 / 0.88]))


def test_max_strategy_uses_each_sentence_once() -> None:
    scores = MarginScores(
        fwd_best=np.array([0, 0]),
        fwd_score=np.array([0.9, 1.2]),
        bwd_best=np.array([1, 0]),
        bwd_score=np.array([1.2, 1.0]),
        fwd_mean=np.zeros(2),
        bwd_mean=np.zeros(2),
    )
    # (1,0) 1.2 fwd; (1,0) 1.2 bwd: duplicate; (0,1) 1.0 bwd; (0,0) 0.9 fwd: source 0 already used
    src, tgt, margin = max_candidates(scores)
    assert list(zip(src.tolist(), tgt.tolist(), margin.tolist(), strict=True)) == [(1, 0, 1.2), (0, 1, 1.0)]


def test_unify_drops_repeated_sentences() -> None:
    keep, ids = unify(["a", "b", "c", "d"], ["x", "y", "x", "z"])
    assert keep == [0, 1, 3] and ids == [None, "b", "d"]


# ---- mining synthetic bitexts ------------------------------------------------------------------------


def synthetic_split(
    seed: int, n_pairs: int = 40, n_src_only: int = 10, n_distractors: int = 30, dim: int = 64
):
    """Sources; targets = noisy copies of the first n_pairs sources plus distractors, shuffled."""
    rng = np.random.default_rng(seed)
    src = unit_rows(rng.standard_normal((n_pairs + n_src_only, dim)))
    copies = src[:n_pairs] + 0.1 * rng.standard_normal((n_pairs, dim)) / np.sqrt(dim)
    tgt = np.concatenate([copies, rng.standard_normal((n_distractors, dim))])
    order = rng.permutation(len(tgt))
    tgt = tgt[order]
    src_ids = [f"de-{seed}{i:05d}" for i in range(len(src))]
    tgt_ids = [f"en-{seed}{j:05d}" for j in range(len(tgt))]
    position = {old: new for new, old in enumerate(order)}
    gold = {(src_ids[i], tgt_ids[position[i]]) for i in range(n_pairs)}
    return src, src_ids, tgt, tgt_ids, gold


def as_rows(split: str, src_ids, tgt_ids, gold) -> list[dict]:
    source = {sid: f"source sentence {sid}" for sid in src_ids}
    target = {tid: f"target sentence {tid}" for tid in tgt_ids}
    return sentence_rows(source, target, gold, split)


def test_mining_recovers_aligned_pairs() -> None:
    dev = synthetic_split(1)
    test = synthetic_split(2)
    dev_candidates = candidate_pairs(dev[0], dev[1], dev[2], dev[3], k=4, chunk=16)
    threshold, dev_f1 = choose_threshold(dev_candidates, dev[4])
    assert dev_f1 == pytest.approx(1.0)
    mined = mine(test[0], test[1], test[2], test[3], threshold, k=4, chunk=16)
    assert set(mined) == test[4]


def _rows_and_vectors():
    dev, test = synthetic_split(1), synthetic_split(2)
    rows = as_rows("test", test[1], test[3], test[4]) + as_rows("dev", dev[1], dev[3], dev[4])
    vectors = np.concatenate([test[0], test[2], dev[0], dev[2]]).astype(np.float32)
    columns = {
        key: [row[key] for row in rows] for key in ("sentence_id", "split", "source", "target", "gold")
    }
    return rows, columns, vectors, test[4]


def _task(**params: object) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "bucc-test",
            "kind": "mining",
            "version": 1,
            "dataset": {"format": "tsv", "path": "unused"},
            "languages": ["de"],
            "splits": [{"name": "test", "domain": "news"}],
            "params": params,
        }
    )


def test_mine_rows_threshold_on_dev_and_perfect_f1() -> None:
    _, columns, vectors, gold = _rows_and_vectors()
    params = mining_params(_task(chunk=16))
    predictions = mine_rows(vectors, columns, params)
    assert {p.id for p in predictions} == {f"{s}\t{t}" for s, t in gold}
    assert all(p.prediction == p.label == 1 and p.correct == 1.0 for p in predictions)
    assert all(
        p.extra["threshold_split"] == "dev" and p.extra["margin"] >= p.extra["threshold"] for p in predictions
    )
    scores = KIND.score(predictions, _task())
    assert scores == {"f1": 1.0, "precision": 1.0, "recall": 1.0}
    assert predictions[0].extra["threshold_f1"] == 1.0


def test_predictions_layout_and_score_equal_official() -> None:
    _, columns, vectors, gold = _rows_and_vectors()
    rng = np.random.default_rng(5)
    noisy = vectors + rng.standard_normal(vectors.shape).astype(np.float32) * 0.2  # some errors
    predictions = mine_rows(noisy, columns, mining_params(_task()))
    gold_lines = sorted(f"{s}\t{t}" for s, t in gold)
    assert sorted(p.id for p in predictions if p.label == 1) == gold_lines
    mined_lines = [p.id for p in predictions if p.prediction == 1]
    official = bucc_scores(gold_lines, mined_lines)
    assert KIND.score(predictions, _task()) == pytest.approx({k: v / 100 for k, v in official.items()})
    for p in predictions:
        assert p.correct == float(p.prediction == p.label)
        assert p.extra["margin"] is None or isinstance(p.extra["margin"], float)


def test_threshold_never_from_the_scored_split() -> None:
    _, columns, vectors, _ = _rows_and_vectors()
    # the threshold does not move when the scored split's gold pairs change
    no_test_gold = dict(
        columns,
        gold=[g if s == "dev" else [] for g, s in zip(columns["gold"], columns["split"], strict=True)],
    )
    with_gold = mine_rows(vectors, columns, mining_params(_task()))
    without = mine_rows(vectors, no_test_gold, mining_params(_task()))
    assert with_gold[0].extra["threshold"] == without[0].extra["threshold"]
    # destroy the dev gold: the threshold must fail rather than silently use test gold
    no_dev_gold = dict(
        columns,
        gold=[g if s == "test" else [] for g, s in zip(columns["gold"], columns["split"], strict=True)],
    )
    with pytest.raises(HarnessError, match="no gold pairs in the 'dev' split"):
        mine_rows(vectors, no_dev_gold, mining_params(_task()))
    only_test = {
        k: [v for v, s in zip(values, columns["split"], strict=True) if s == "test"]
        for k, values in columns.items()
    }
    with pytest.raises(HarnessError, match="carry no 'dev' sentences"):
        mine_rows(vectors[: len(only_test["split"])], only_test, mining_params(_task()))
    with pytest.raises(HarnessError, match="must not be chosen on 'test'"):
        mining_params(_task(threshold_split="test"))


def test_dev_scored_on_itself_is_flagged() -> None:
    _, columns, vectors, _ = _rows_and_vectors()
    dev_rows = [i for i, s in enumerate(columns["split"]) if s == "dev"]
    dev_columns = {k: [v[i] for i in dev_rows] for k, v in columns.items()}
    predictions = mine_rows(vectors[dev_rows], dev_columns, mining_params(_task()))
    assert predictions and all(p.extra["threshold_on_scored_split"] for p in predictions)


# ---- the kind end to end on the tiny model ------------------------------------------------------------


def test_kind_end_to_end_on_tiny_model(tmp_path: Path, tiny_model: Path) -> None:
    import random

    from harness.models.loading import load_tokenizer

    words = [f"w{i}" for i in range(60)]
    for split, seed in (("sample", 1), ("training", 2)):
        rng = random.Random(seed)
        sentences = [" ".join(rng.sample(words, 6)) for _ in range(14)]
        files = bucc_files(tmp_path, "de", split)
        # 10 parallel pairs (same words both sides, so identical embeddings), 4 + 3 unpaired sentences
        files.source.write_text(
            "".join(f"de-{i}\t{s}\n" for i, s in enumerate(sentences[:14])), encoding="utf-8"
        )
        english = sentences[:10] + [" ".join(rng.sample(words, 6)) for _ in range(3)]
        order = list(range(len(english)))
        rng.shuffle(order)
        files.target.write_text(
            "".join(f"en-{j}\t{english[o]}\n" for j, o in enumerate(order)), encoding="utf-8"
        )
        files.gold.write_text(
            "".join(f"de-{o}\ten-{j}\n" for j, o in enumerate(order) if o < 10), encoding="utf-8"
        )
    task = TaskSpec.model_validate(
        {
            "name": "tiny-bucc",
            "kind": "mining",
            "version": 1,
            "dataset": {
                "format": "tsv",
                "path": str(tmp_path),
                "split_names": {"dev": "sample", "test": "training"},
            },
            "languages": ["de"],
            "splits": [{"name": "test", "domain": "synthetic"}],
            "params": {"layer": -1, "pooling": "mean"},
        }
    )
    rows = load_bucc_rows(task, split="test", language="de", base_dir=tmp_path)
    tokenizer = load_tokenizer(str(tiny_model))
    model = KIND.load_model(str(tiny_model), task)
    features = KIND.features(rows, tokenizer, task, max_length=32)
    assert len(features) == len(rows)
    predictions = KIND.predict(model, features, rows, task, tokenizer, batch_size=8, precision="fp32")
    scores = KIND.score(predictions, task)
    assert set(scores) == {"f1", "precision", "recall"}
    assert scores["f1"] == pytest.approx(1.0)
    assert len([p for p in predictions if p.label == 1]) == 10
    baseline = KIND.baseline(None, rows, task)
    assert baseline.scores["recall"] == pytest.approx(1 / 13)
    assert 0 < baseline.scores["f1"] < 0.1
