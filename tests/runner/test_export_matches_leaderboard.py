"""A number on the leaderboard equals what ``harness score`` gives on the export of the same run.

A tiny grid (the tests' tiny BERT) fine-tunes and scores two tasks named and laid out as XTREME tasks
(``pawsx``: sentence pairs, XTREME's headerless TSV; ``udpos``: ``word<TAB>tag`` files) in every
official language; ``harness export xtreme`` writes the submission, a label folder is built from the
gold files the test wrote, and ``harness score --json`` scores it as the official ``evaluate.py``.
The leaderboard keeps fractions, the scorer percent.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from pathlib import Path

import pytest
from tiny_fixtures import WORDS

from harness import api
from harness.catalogue.languages import XTREME_LANGUAGES
from harness.catalogue.loader import Catalogue
from harness.cli import main as harness_main
from harness.report.tables import leaderboard, per_language, per_task
from harness.results.store import ResultsStore

TAGS = ["NOUN", "VERB", "ADJ", "DET"]
N_TEST = 12  # test items per language


def tag_of(word: str, rng: random.Random) -> str:
    """A learnable tag (by the word's number), with some noise so that scores are not all 100."""
    tag = TAGS[int(word[1:]) % len(TAGS)] if word.startswith("w") else "NOUN"
    return rng.choice(TAGS) if rng.random() < 0.15 else tag


def pawsx_lines(rng: random.Random, n: int) -> tuple[list[str], list[str]]:
    lines, gold = [], []
    for _ in range(n):
        label = rng.choice(["0", "1"])
        words = [rng.choice(WORDS[:60]) for _ in range(4)]
        keyed = words + ["alpha" if label == "1" else "beta"]
        rng.shuffle(keyed)
        if rng.random() < 0.15:  # label noise, so that the accuracy is not 100
            label = "1" if label == "0" else "0"
        lines.append(f"{' '.join(keyed)}\t{' '.join(words)}\t{label}")
        gold.append(label)
    return lines, gold


def udpos_sentences(rng: random.Random, n: int) -> list[list[tuple[str, str]]]:
    return [
        [(word, tag_of(word, rng)) for word in (rng.choice(WORDS[:60]) for _ in range(rng.randint(2, 7)))]
        for _ in range(n)
    ]


def write_xtreme_like(root: Path) -> tuple[Path, Path]:
    """Tasks folder (pawsx, udpos, grid) and the label folder of the gold test files."""
    rng = random.Random(7)
    data, labels = root / "data", root / "labels"
    for folder in (data / "pawsx", data / "udpos", labels / "pawsx", labels / "udpos"):
        folder.mkdir(parents=True)
    for lang in XTREME_LANGUAGES["pawsx"]:
        for split, n in (("train", 96), ("dev", 24), ("test", N_TEST)):
            if split != "test" and lang != "en":
                continue
            lines, gold = pawsx_lines(rng, n)
            (data / "pawsx" / f"{split}-{lang}.tsv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
            if split == "test":
                (labels / "pawsx" / f"test-{lang}.tsv").write_text("\n".join(gold) + "\n", encoding="utf-8")
    for lang in XTREME_LANGUAGES["udpos"]:
        for split, n in (("train", 80), ("dev", 16), ("test", N_TEST)):
            if split != "test" and lang != "en":
                continue
            sentences = udpos_sentences(rng, n)
            text = "".join("".join(f"{w}\t{t}\n" for w, t in s) + "\n" for s in sentences)
            (data / "udpos" / f"{split}-{lang}.tsv").write_text(text, encoding="utf-8")
            if split == "test":
                gold = "".join("".join(f"{t}\n" for _, t in s) + "\n" for s in sentences)
                (labels / "udpos" / f"test-{lang}.tsv").write_text(gold, encoding="utf-8")
    return write_tasks(root, data), labels


def write_tasks(root: Path, data: Path) -> Path:
    tasks = root / "tasks"
    (tasks / "targets").mkdir(parents=True)
    (tasks / "grids").mkdir()
    (tasks / "targets" / "pawsx.yaml").write_text(
        f"""
name: pawsx
kind: classification
version: 1
dataset: {{format: tsv, path: "{data}/pawsx/{{split}}-{{lang}}.tsv", header: false,
          fieldnames: [text, text_pair, label], quoting: minimal}}
labels: ["0", "1"]
languages: {json.dumps(XTREME_LANGUAGES["pawsx"])}
train: {{split: train, language: en}}
dev: {{split: dev, language: en}}
splits: [{{name: test, domain: synthetic, in_domain: true}}]
hyperparameters: {{learning_rate: 3.0e-3, epochs: 4, batch_size: 8, max_length: 32, warmup_ratio: 0.0}}
""",
        encoding="utf-8",
    )
    (tasks / "targets" / "udpos.yaml").write_text(
        f"""
name: udpos
kind: tagging
version: 1
dataset: {{format: conll_tags, path: "{data}/udpos/{{split}}-{{lang}}.tsv", delimiter: "\\t"}}
labels: {json.dumps(TAGS)}
languages: {json.dumps(XTREME_LANGUAGES["udpos"])}
train: {{split: train, language: en}}
dev: {{split: dev, language: en}}
splits: [{{name: test, domain: synthetic, in_domain: true}}]
metrics: [f1, accuracy]
main_metric: f1
hyperparameters: {{learning_rate: 3.0e-3, epochs: 4, batch_size: 8, max_length: 32, warmup_ratio: 0.0}}
""",
        encoding="utf-8",
    )
    (tasks / "grids" / "xtreme_tiny.yaml").write_text(
        f"""
name: xtreme_tiny
models: [{{name: tiny-bert, source: "{root / "model"}"}}]
intermediate: [{{name: none}}]
targets: [pawsx, udpos]
seeds: [1]
""",
        encoding="utf-8",
    )
    return tasks


def cli(*argv: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert harness_main(list(argv)) == 0
    return out.getvalue()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> dict:
    import shutil

    root = tmp_path_factory.mktemp("xtreme-tiny")
    shutil.copytree(tiny_model, root / "model")
    tasks, labels = write_xtreme_like(root)
    results = root / "results"
    api.run(
        tasks / "grids" / "xtreme_tiny.yaml",
        results=results,
        lock=root / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
    )
    submission = root / "submission"
    cli("export", "xtreme", str(results), str(submission), "--checkpoint", "tiny-bert+none")
    scored = json.loads(cli("score", str(submission), str(labels), "--json"))
    return {"records": ResultsStore(results).records(), "scored": scored, "submission": submission}


def test_every_official_language_is_exported(exported: dict) -> None:
    for task in ("pawsx", "udpos"):
        files = sorted(p.name for p in (exported["submission"] / task).iterdir())
        assert files == sorted(f"test-{lang}.tsv" for lang in XTREME_LANGUAGES[task])
    assert set(exported["scored"]["detailed"]) == {"pawsx", "udpos"}
    assert exported["scored"]["overall"] == {}  # no group has all its tasks


@pytest.mark.parametrize(("task", "metric"), [("pawsx", "accuracy"), ("udpos", "f1")])
def test_leaderboard_task_score_equals_the_official_scorer(exported: dict, task: str, metric: str) -> None:
    records, detailed = exported["records"], exported["scored"]["detailed"][task]
    table = per_task(records)
    row = table[(table["task"] == task) & (table["split"] == "test")]
    assert len(row) == 1
    assert 100 * float(row["score"].iloc[0]) == pytest.approx(detailed["avg_metric"], abs=1e-6)
    assert 100 * float(row["score"].iloc[0]) == pytest.approx(detailed[f"avg_{metric}"], abs=1e-6)
    board = leaderboard(records)
    assert 100 * float(board.loc[board["checkpoint"] == "tiny-bert+none", task].iloc[0]) == pytest.approx(
        detailed["avg_metric"], abs=1e-6
    )
    # not a trivial agreement: the tiny model is neither perfect nor constant
    assert 0 < detailed["avg_metric"] < 100
    assert len({round(v, 6) for v in detailed[metric].values()}) > 1


@pytest.mark.parametrize(("task", "metric"), [("pawsx", "accuracy"), ("udpos", "f1")])
def test_per_language_scores_equal_the_official_scorer(exported: dict, task: str, metric: str) -> None:
    table = per_language(exported["records"])
    rows = table[(table["task"] == task) & (table["split"] == "test")]
    ours = {str(r.language): 100 * float(r.score) for r in rows.itertuples(index=False)}
    official = exported["scored"]["detailed"][task][metric]
    assert set(ours) == set(official) == set(XTREME_LANGUAGES[task])
    for lang, value in official.items():
        assert ours[lang] == pytest.approx(value, abs=1e-6), lang
