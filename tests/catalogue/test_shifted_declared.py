"""Every XTREME target declares domain-shifted splits; the default grid's targets have some that run offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.catalogue.languages import XTREME_LANGUAGES
from harness.catalogue.loader import Catalogue
from harness.cli import main
from harness.data.loaders import load_rows
from harness.data.split_views import availability

REPO = Path(__file__).resolve().parents[2]
XNLI_COLUMNS = [
    "language", "gold_label", "sentence1_binary_parse", "sentence2_binary_parse", "sentence1_parse",
    "sentence2_parse", "sentence1", "sentence2", "promptID", "pairID", "genre", "label1", "label2", "label3",
    "label4", "label5", "sentence1_tokenized", "sentence2_tokenized", "match",
]  # fmt: skip
XNLI_GENRES = {
    "fiction": 3, "government": 2, "slate": 2, "telephone": 1, "travel": 2,
    "facetoface": 1, "letters": 2, "nineeleven": 3, "oup": 1, "verbatim": 2,
}  # fmt: skip


def test_every_xtreme_target_lists_a_shifted_split(capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks", "list", "--json"]) == 0
    by_name = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    for name in XTREME_LANGUAGES:
        shifted = [s for s in by_name[name]["splits"] if s["in_domain"] is False]
        assert shifted, name
        assert all(s["domain"] and s["languages"] for s in shifted), name
        assert sum(s["in_domain"] for s in by_name[name]["splits"]) == 1, name  # one reference split
    xnli = {s["name"]: s for s in by_name["xnli"]["splits"]}
    for genre in ("face-to-face", "letters", "9-11", "oup", "verbatim"):
        assert xnli[genre]["in_domain"] is False and xnli[genre]["languages"] == XTREME_LANGUAGES["xnli"]
    assert xnli["seen-genres"]["domain"] == "mnli-genres"


def test_the_default_grids_targets_have_shifted_splits_from_shipped_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    catalogue = Catalogue.load(REPO / "tasks")
    offline = {}
    for name in ("udpos_demo", "tatoeba_demo"):
        task = catalogue.task(name)
        base = catalogue.task_path(name).parent
        for split in task.splits:
            if not split.in_domain:
                langs = task.split_languages(split)
                assert all(availability(task, split, lang, base) is None for lang in langs), split.name
                offline[(name, split.name)] = len(langs)
    assert offline == {
        ("udpos_demo", "pud-wiki"): 6,
        ("tatoeba_demo", "django-ui"): 7,
    }
    news = load_rows(
        catalogue.task("udpos_demo"),
        split="test",
        language="tr",
        base_dir=REPO / "tasks",
        view=catalogue.task("udpos_demo").split_named("pud-news"),
    )
    assert len(news) == 125  # the shipped sample keeps every 4th PUD sentence


def test_xnli_genre_splits_read_the_xnli_1_0_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "xnli" / "XNLI-1.0"
    folder.mkdir(parents=True)
    lines = ["\t".join(XNLI_COLUMNS)]
    for lang in ("de", "sw"):
        for genre, n in XNLI_GENRES.items():
            for i in range(n):
                row = dict.fromkeys(XNLI_COLUMNS, "_")
                row |= {
                    "language": lang,
                    "genre": genre,
                    "gold_label": "neutral",
                    "sentence1": f"p {lang} {i}",
                }
                row |= {"sentence2": f'h "{genre}" {i}'}  # XNLI-1.0 text holds unescaped quotes
                lines.append("\t".join(row[c] for c in XNLI_COLUMNS))
    (folder / "xnli.test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("HARNESS_DATA_DIR", str(tmp_path))
    catalogue = Catalogue.load(REPO / "tasks")
    task = catalogue.task("xnli")
    base = catalogue.task_path("xnli").parent
    counts = {}
    for name in ("seen-genres", "face-to-face", "letters", "9-11", "oup", "verbatim"):
        split = task.split_named(name)
        rows = load_rows(task, split="test", language="sw", base_dir=base, view=split).rows
        assert set(rows["language"]) == {"sw"} and set(rows["label"]) == {"neutral"}
        counts[name] = len(rows)
    assert counts == {"seen-genres": 10, "face-to-face": 1, "letters": 2, "9-11": 3, "oup": 1, "verbatim": 2}


def test_tasks_validate_is_clean(capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks", "validate"]) == 0
    assert "files valid" in capsys.readouterr().out
