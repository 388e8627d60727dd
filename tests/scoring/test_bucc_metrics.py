"""BUCC metrics (the official ``bucc_f1`` semantics), threshold selection, and the BUCC file reader."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.data.bucc import bucc_files, load_bucc_rows, read_bucc, subset
from harness.errors import HarnessError
from harness.scoring.bucc import best_threshold, bucc_scores

# ---- bucc_scores ------------------------------------------------------------------------------------


def test_hand_computed_scores() -> None:
    gold = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-3", "de-4\ten-4"]
    predicted = ["de-1\ten-1", "de-2\ten-2", "de-3\ten-9"]  # 2 correct of 3 predicted, 4 gold
    scores = bucc_scores(gold, predicted)
    precision, recall = 2 / 3, 2 / 4
    assert scores["precision"] == pytest.approx(100 * precision)
    assert scores["recall"] == pytest.approx(50.0)
    assert scores["f1"] == pytest.approx(100 * 2 * precision * recall / (precision + recall))  # 57.142857
    assert scores["f1"] == pytest.approx(400 / 7)


def test_nothing_correct_gives_zeros() -> None:
    assert bucc_scores(["de-1\ten-1"], ["de-1\ten-2"]) == {"f1": 0, "precision": 0, "recall": 0}
    assert bucc_scores(["de-1\ten-1"], []) == {"f1": 0, "precision": 0, "recall": 0}
    assert bucc_scores([], []) == {"f1": 0, "precision": 0, "recall": 0}


def test_duplicate_lines_count_once() -> None:
    gold = ["de-1\ten-1", "de-2\ten-2", "de-2\ten-2"]
    predicted = ["de-1\ten-1", "de-1\ten-1", "de-1\ten-1", "de-3\ten-3"]
    scores = bucc_scores(gold, predicted)
    assert scores["precision"] == pytest.approx(50.0)  # {1, 3}: one of two
    assert scores["recall"] == pytest.approx(50.0)  # {1, 2}: one of two
    assert scores["f1"] == pytest.approx(50.0)


def test_lines_are_stripped_like_the_official_reader() -> None:
    assert bucc_scores(["de-1\ten-1\n"], [" de-1\ten-1 "])["f1"] == pytest.approx(100.0)
    assert bucc_scores(["de-1\ten-1"], ["de-1 en-1"])["f1"] == 0  # a space is not a tab


# ---- best_threshold ---------------------------------------------------------------------------------


def test_threshold_picks_the_f1_maximising_cut() -> None:
    pairs = [("s1", "t1"), ("s2", "t2"), ("s3", "t9"), ("s4", "t4"), ("s5", "t8"), ("s6", "t7")]
    scores = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    gold = {("s1", "t1"), ("s2", "t2"), ("s4", "t4"), ("s0", "t0")}  # one gold pair is never a candidate
    # cuts: 1→2/5, 2→4/6, 3→4/7, 4→6/8 (best), 5→6/9, 6→6/10
    threshold, f1 = best_threshold(scores, pairs, gold)
    assert threshold == pytest.approx(0.55)
    assert f1 == pytest.approx(75.0)


def test_threshold_without_any_correct_candidate() -> None:
    assert best_threshold([0.5, 0.4], [("a", "b"), ("c", "d")], {("x", "y")}) == (0.0, 0.0)
    assert best_threshold([], [], {("x", "y")}) == (0.0, 0.0)


def test_threshold_keeps_everything_when_the_last_cut_is_best() -> None:
    threshold, f1 = best_threshold([0.9, 0.3], [("a", "b"), ("c", "d")], {("a", "b"), ("c", "d")})
    assert threshold == pytest.approx(0.3)
    assert f1 == pytest.approx(100.0)


def test_tied_scores_are_cut_together() -> None:
    # the official loop would report F1 100 for a cut inside the tie that ``>=`` cannot realise
    pairs = [("a", "b"), ("c", "d"), ("e", "f")]
    threshold, f1 = best_threshold([0.9, 0.9, 0.1], pairs, {("a", "b")})
    assert threshold == pytest.approx(0.5)
    kept = [f"{s}\t{t}" for (s, t), v in zip(pairs, [0.9, 0.9, 0.1], strict=True) if v >= threshold]
    assert f1 == pytest.approx(bucc_scores(["a\tb"], kept)["f1"])


def _official_optimize(
    scores: list[float], pairs: list[tuple[str, str]], gold: set[tuple[str, str]]
) -> float:
    """XTREME's bucc_optimize (rewritten; for untied scores), returning its threshold."""
    items = sorted(zip(pairs, scores, strict=True), key=lambda item: -item[1])
    ncorrect = 0
    threshold, best = 0.0, 0.0
    for i, (pair, score) in enumerate(items):
        nextract = i + 1
        ncorrect += pair in gold
        if ncorrect:
            f1 = 2 * ncorrect / (nextract + len(gold))
            if f1 > best:
                best = f1
                threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(0, 10**6), st.booleans()), min_size=1, max_size=30, unique_by=lambda t: t[0]
    ),
    unreachable=st.integers(0, 3),
)
def test_threshold_is_optimal_and_matches_the_official_loop(
    data: list[tuple[int, bool]], unreachable: int
) -> None:
    scores = [value / 10**6 for value, _ in data]
    pairs = [(f"s{i}", f"t{i}") for i in range(len(data))]
    gold = {pair for pair, (_, is_gold) in zip(pairs, data, strict=True) if is_gold}
    gold |= {(f"x{i}", f"y{i}") for i in range(unreachable)}
    threshold, f1 = best_threshold(scores, pairs, gold)
    gold_lines = [f"{s}\t{t}" for s, t in gold]

    def f1_at(cut: float) -> float:
        kept = [f"{s}\t{t}" for (s, t), v in zip(pairs, scores, strict=True) if v >= cut]
        return bucc_scores(gold_lines, kept)["f1"]

    assert f1 == pytest.approx(f1_at(threshold))
    assert f1 == pytest.approx(max(f1_at(cut) for cut in scores))
    if f1 > 0:
        assert threshold == pytest.approx(_official_optimize(scores, pairs, gold))


# ---- read_bucc ------------------------------------------------------------------------------------------


def write_bucc(folder: Path, src: str, tgt: str, gold: str, lang: str = "de", split: str = "sample") -> Path:
    files = bucc_files(folder, lang, split)
    files.source.write_text(src, encoding="utf-8")
    files.target.write_text(tgt, encoding="utf-8")
    files.gold.write_text(gold, encoding="utf-8")
    return folder


SRC = "de-1\tEin Haus.\nde-2\tZwei Katzen.\nde-3\tNichts.\n"
TGT = "en-1\tTwo cats.\nen-2\tA house.\n"
GOLD = "de-1\ten-2\nde-2\ten-1\n"


def test_read_bucc(tmp_path: Path) -> None:
    src, tgt, gold = read_bucc(write_bucc(tmp_path, SRC, TGT, GOLD), "de", "sample")
    assert list(src) == ["de-1", "de-2", "de-3"] and src["de-2"] == "Zwei Katzen."
    assert tgt == {"en-1": "Two cats.", "en-2": "A house."}
    assert gold == {("de-1", "en-2"), ("de-2", "en-1")}


def test_read_bucc_crlf_and_bom(tmp_path: Path) -> None:
    src, _, _ = read_bucc(
        write_bucc(tmp_path, "\ufeff" + SRC.replace("\n", "\r\n"), TGT, GOLD), "de", "sample"
    )
    assert list(src) == ["de-1", "de-2", "de-3"] and src["de-1"] == "Ein Haus."


@pytest.mark.parametrize(
    ("which", "content", "line", "words"),
    [
        ("source", "de-1\tEin Haus.\nde-2 Zwei Katzen.\nde-3\tNichts.\n", 2, "1 tab-separated fields"),
        ("source", "de-1\tEin Haus.\nde-2\tZwei\tKatzen.\nde-3\tNichts.\n", 2, "3 tab-separated fields"),
        ("source", "de-1\tEin Haus.\n\nde-2\tZwei Katzen.\nde-3\tNichts.\n", 2, "a blank line"),
        ("source", "de-1\tEin Haus.\nde-2\tZwei Katzen.\nde-1\tNichts.\n", 3, "already used on line 1"),
        ("target", "en-1\tTwo cats.\n\tA house.\n", 2, "empty id"),
        ("gold", "de-1\ten-2\nde-2\ten-7\n", 2, "'en-7' is not in the English file"),
        ("gold", "de-1\ten-2\nde-9\ten-1\n", 2, "'de-9' is not in the source file"),
        ("gold", "de-1\ten-2\nde-2\n", 2, "1 tab-separated fields"),
    ],
)
def test_read_bucc_malformed_lines(tmp_path: Path, which: str, content: str, line: int, words: str) -> None:
    files = {"source": SRC, "target": TGT, "gold": GOLD} | {which: content}
    write_bucc(tmp_path, files["source"], files["target"], files["gold"])
    with pytest.raises(HarnessError) as caught:
        read_bucc(tmp_path, "de", "sample")
    path = getattr(bucc_files(tmp_path, "de", "sample"), which)
    assert caught.value.file == str(path) and caught.value.line == line
    assert f"{path}:{line}: " in str(caught.value) and words in str(caught.value)


def test_read_bucc_missing_file(tmp_path: Path) -> None:
    write_bucc(tmp_path, SRC, TGT, GOLD)
    bucc_files(tmp_path, "de", "sample").gold.unlink()
    with pytest.raises(HarnessError, match=r"BUCC file not found: .*de-en\.sample\.gold"):
        read_bucc(tmp_path, "de", "sample")
    with pytest.raises(HarnessError, match=r"de-en\.training\.de"):
        read_bucc(tmp_path, "de", "training")


def test_read_bucc_not_utf8(tmp_path: Path) -> None:
    write_bucc(tmp_path, SRC, TGT, GOLD)
    bucc_files(tmp_path, "de", "sample").target.write_bytes(b"en-1\tTwo cats.\nen-2\tA h\xffuse.\n")
    with pytest.raises(HarnessError, match="not UTF-8") as caught:
        read_bucc(tmp_path, "de", "sample")
    assert caught.value.line == 2


def test_subset_keeps_gold_pairs_and_distractors() -> None:
    src = {f"de-{i}": f"s{i}" for i in range(10)}
    tgt = {f"en-{i}": f"t{i}" for i in range(10)}
    gold = {(f"de-{i}", f"en-{i}") for i in range(5, 10)}
    kept_src, kept_tgt, kept_gold = subset(src, tgt, gold, 4)
    assert len(kept_src) == len(kept_tgt) == 4
    assert kept_gold == {("de-5", "en-5"), ("de-6", "en-6")}
    assert list(kept_src) == ["de-0", "de-1", "de-5", "de-6"]  # file order


def _task(folder: Path, **params: object):
    from harness.catalogue.schema import TaskSpec

    # format "tsv" only until the lead adds "bucc" to DatasetFormat; load_bucc_rows reads ``path`` alone
    return TaskSpec.model_validate(
        {
            "name": "bucc2018",
            "kind": "mining",
            "version": 1,
            "dataset": {
                "format": "tsv",
                "path": str(folder),
                "split_names": {"dev": "sample", "test": "training"},
            },
            "languages": ["de"],
            "splits": [{"name": "test", "domain": "news"}],
            "params": params,
        }
    )


def test_load_bucc_rows_layout(tmp_path: Path) -> None:
    write_bucc(tmp_path, SRC, TGT, GOLD, split="sample")
    write_bucc(tmp_path, "de-1\tHallo.\n", "en-1\tHello.\nen-2\tBye.\n", "de-1\ten-1\n", split="training")
    rows = load_bucc_rows(_task(tmp_path), split="test", language="de", base_dir=tmp_path)
    assert rows["split"] == ["test"] * 3 + ["dev"] * 5
    assert rows["id"][:3] == ["test:de-1", "test:en-1", "test:en-2"]
    assert rows["source"][:3] == ["Hallo.", None, None] and rows["target"][:3] == [None, "Hello.", "Bye."]
    assert rows["gold"][:3] == [["en-1"], [], []]
    assert rows["gold"][3:6] == [["en-2"], ["en-1"], []]
    dev_only = load_bucc_rows(_task(tmp_path), split="dev", language="de", base_dir=tmp_path)
    assert set(dev_only["split"]) == {"dev"}


def test_threshold_split_test_is_refused(tmp_path: Path) -> None:
    write_bucc(tmp_path, SRC, TGT, GOLD, split="training")
    with pytest.raises(HarnessError, match="must not be chosen on 'test'"):
        load_bucc_rows(
            _task(tmp_path, threshold_split="test"), split="test", language="de", base_dir=tmp_path
        )
