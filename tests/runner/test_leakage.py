"""The plan-time leakage check: overlaps refused or badged, aligned ids, translate-train, the default grid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness import api
from harness.catalogue.loader import Catalogue
from harness.errors import HarnessError
from harness.results.store import ResultsStore
from harness.runner import leakage
from harness.runner.leakage import check_leakage, normalise

TEST_EN = [
    ("t0", "The quick brown fox jumps over the lazy dog.", "a"),
    ("t1", "A committee will review every application next week.", "b"),
]
TEST_DE = [
    ("t0", "Der schnelle braune Fuchs springt über den faulen Hund.", "a"),
    ("t1", "Ein Ausschuss prüft nächste Woche jeden Antrag.", "b"),
]
TRAIN_EN = [("r0", "Rivers carry sediment towards the distant sea.", "a")]


def _tsv(path: Path, rows: list[tuple[str, str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "id\ttext\tlabel\n" + "".join(f"{i}\t{t}\t{lab}\n" for i, t, lab in rows), encoding="utf-8"
    )


def _task(name: str, path: str, *, role: str = "target", extra: str = "") -> str:
    body = f"name: {name}\nkind: classification\nversion: 1\nrole: {role}\nlabels: [a, b]\n"
    body += f'dataset: {{format: tsv, path: "{path}"}}\n'
    if role == "target":
        body += "languages: [en]\ntrain: {split: train, language: en}\n"
        body += "splits:\n  - {name: test, domain: news, in_domain: true}\n"
    else:
        body += "languages: [en, de]\n"
    return body + extra


def make_catalogue(root: Path, intermediate_en: list[tuple[str, str, str]], grid: str) -> Catalogue:
    data, tasks = root / "data", root / "tasks"
    _tsv(data / "tgt" / "en" / "test.tsv", TEST_EN)
    _tsv(data / "tgt" / "de" / "test.tsv", TEST_DE)
    _tsv(data / "tgt" / "en" / "train.tsv", TRAIN_EN)
    _tsv(data / "inter" / "en" / "train.tsv", intermediate_en)
    _tsv(data / "inter" / "de" / "train.tsv", [("i9", "Ein ganz anderer Satz über Berge und Täler.", "a")])
    (tasks / "grids").mkdir(parents=True)
    (tasks / "tgt.yaml").write_text(_task("tgt", f"{data}/tgt/{{lang}}/{{split}}.tsv"), encoding="utf-8")
    inter = f"{data}/inter/{{lang}}/{{split}}.tsv"
    train = "train: {split: train, language: en}\n"
    (tasks / "inter.yaml").write_text(
        _task("inter", inter, role="intermediate", extra=train), encoding="utf-8"
    )
    (tasks / "inter_tt.yaml").write_text(
        _task("inter_tt", inter, role="intermediate", extra=train + "translate_train_of: tgt\n"),
        encoding="utf-8",
    )
    # the target's own German test rows as training data: other texts, the same item ids
    aligned = f"{data}/tgt/{{lang}}/{{split}}.tsv"
    (tasks / "aligned.yaml").write_text(
        _task("aligned", aligned, role="intermediate", extra="train: {split: test, language: de}\n"),
        encoding="utf-8",
    )
    (tasks / "grids" / "g.yaml").write_text(
        "name: g\nmodels: [{name: m, source: 'embedded:me5-small'}]\ntargets: [tgt]\n" + grid,
        encoding="utf-8",
    )
    return Catalogue.load(tasks)


def run_check(catalogue: Catalogue, tmp_path: Path) -> leakage.LeakageReport:
    grid, path = catalogue.grid("g")
    return check_leakage(grid, path, catalogue, cache_dir=tmp_path / "cache")


LEAKY = [
    ("i0", "  THE quick   brown fox jumps over the LAZY dog. ", "a"),
    ("i1", "Nothing to see here at all.", "b"),
]
ONE_CONDITION = "intermediate:\n  - {name: none}\n  - {name: inter-en, task: inter, source_lang: en, source_type: english}\n"


def test_a_scored_sentence_in_intermediate_data_is_refused(tmp_path: Path) -> None:
    catalogue = make_catalogue(tmp_path, LEAKY, ONE_CONDITION)
    with pytest.raises(HarnessError) as caught:
        run_check(catalogue, tmp_path)
    message = caught.value.render()
    assert "\n" not in message
    assert "inter train train/en shares 1 text(s) with tgt scored test/en" in message
    assert "the quick brown fox" in message and "allow_overlap" in message


def test_an_allowed_overlap_is_labelled_not_zero_shot(tmp_path: Path) -> None:
    grid = ONE_CONDITION + "allow_overlap: [{train: inter, scored: tgt/test}]\n"
    report = run_check(make_catalogue(tmp_path, LEAKY, grid), tmp_path)
    assert report.label("inter-en", "tgt", "test", "en") == "not zero-shot"
    assert report.label("none", "tgt", "test", "en") == "zero-shot"
    assert [o.n_texts for o in report.allowed] == [1]


def test_aligned_item_ids_count_when_the_task_declares_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    grid = "intermediate:\n  - {name: de, task: aligned, source_lang: de, source_type: translated}\n"
    catalogue = make_catalogue(tmp_path, TRAIN_EN, grid)
    assert run_check(catalogue, tmp_path).label("de", "tgt", "test", "en") == "zero-shot"  # texts differ
    monkeypatch.setattr(leakage.DataRef, "items", property(lambda self: "by_id"))
    with pytest.raises(HarnessError, match=r"aligned train test/de shares 2 aligned item id\(s\) with tgt"):
        run_check(catalogue, tmp_path / "other")


def test_translate_train_intermediate_is_badged_only_from_another_language(tmp_path: Path) -> None:
    grid = (
        "intermediate:\n  - {name: tt-de, task: inter_tt, source_lang: de, source_type: translated}\n"
        "  - {name: tt-en, task: inter_tt, source_lang: en, source_type: english}\n"
    )
    report = run_check(make_catalogue(tmp_path, TRAIN_EN, grid), tmp_path)
    assert report.label("tt-de", "tgt", "test", "en") == "translate-train"
    assert report.label("tt-en", "tgt", "test", "en") == "zero-shot"


def test_hashes_are_cached_by_data_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    catalogue = make_catalogue(tmp_path, TRAIN_EN, ONE_CONDITION)
    run_check(catalogue, tmp_path)
    monkeypatch.setattr(leakage.Hasher, "rows", lambda *_: pytest.fail("read rows despite the cache"))
    assert run_check(catalogue, tmp_path).label("inter-en", "tgt", "test", "en") == "zero-shot"


def test_the_default_grid_has_no_leakage(tmp_path: Path) -> None:
    catalogue = Catalogue.load()
    grid, path = catalogue.grid("default")
    report = check_leakage(grid, path, catalogue, cache_dir=tmp_path)
    assert report.allowed == []
    assert set(report.labels.values()) == {"zero-shot"}
    scored = sum(
        len(task.split_languages(s)) for task in map(catalogue.task, grid.targets) for s in task.splits
    )
    assert len(report.labels) == len(grid.intermediate) * scored


def test_an_allowed_overlap_runs_and_its_records_say_not_zero_shot(
    tiny_tasks: Path, tiny_model: Path, tmp_path: Path
) -> None:
    data = tiny_tasks.parent / "data"
    leaked = "w1 w2 w3 w4 w5 w6 w7 w8 w9"  # long enough to count (MIN_CHARS)
    for side in ("de.src", "de.en"):  # the first German pair becomes the leaked sentence
        lines = (data / "ret" / side).read_text(encoding="utf-8").splitlines()
        (data / "ret" / side).write_text("\n".join([leaked, *lines[1:]]) + "\n", encoding="utf-8")
    mc = data / "mc" / "en.jsonl"
    row = {"id": "leak", "question": leaked.upper(), "choices": ["x y", "z w yes"], "label": 1}
    mc.write_text(mc.read_text(encoding="utf-8") + json.dumps(row) + "\n", encoding="utf-8")
    (tiny_tasks / "grids" / "leak.yaml").write_text(
        f"name: leak\nmodels: [{{name: tiny-bert, source: '{tiny_model}'}}]\n"
        "intermediate: [{name: mc-en, task: tiny_mc, source_lang: en, source_type: english, size: 16}]\n"
        "targets: [tiny_ret]\nallow_overlap: [{train: tiny_mc, scored: tiny_ret}]\n",
        encoding="utf-8",
    )
    catalogue = Catalogue.load(tiny_tasks)
    results = tmp_path / "results"
    api.run("leak", results=results, lock=tmp_path / "checkpoints.lock", tasks=catalogue)
    labels = {(r.language, r.task.zero_shot) for r in ResultsStore(results).records()}
    assert ("de", "not zero-shot") in labels
    assert ("fr", "zero-shot") in labels  # the leaked sentence is a German-side source only


@given(st.text(max_size=40), st.lists(st.sampled_from([" ", "\t", "\n", "\u3000"]), max_size=4))
def test_normalise_ignores_case_and_spacing(text: str, spaces: list[str]) -> None:
    once = normalise(text)
    assert normalise(once) == once
    assert normalise("".join(spaces) + text.upper() + "".join(spaces)) == normalise(text.upper())
    assert "  " not in once and once == once.strip()
