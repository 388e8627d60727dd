"""Filtered, mapped and joined splits on tiny data the tests write; every bad input is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.catalogue.loader import load_document
from harness.catalogue.schema import EvalSplit, TaskSpec
from harness.catalogue.validate import validate_paths
from harness.data.formats import read_conllu
from harness.data.loaders import data_identity, load_rows
from harness.data.split_views import Where, availability, label_mapper, map_labels
from harness.errors import HarnessError, ValidationErrors

UPOS = ["ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT"]
UPOS += ["SCONJ", "SYM", "VERB", "X"]
NER = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def conllu_sentence(sent_id: str, words: list[tuple[str, str]], comments: tuple[str, ...] = ()) -> str:
    lines = [*comments, f"# sent_id = {sent_id}", "# text = " + " ".join(w for w, _ in words)]
    lines += [f"{i}\t{w}\t_\t{t}\t_\t_\t_\t_\t_\t_" for i, (w, t) in enumerate(words, start=1)]
    return "\n".join(lines) + "\n\n"


def write_pud_like(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(conllu_sentence(s, [("Ein", "DET"), (s, "NOUN"), (".", "PUNCT")]) for s in ids)
    path.write_text(text, encoding="utf-8")
    return path


def tagging_task(path: str, labels: list[str], splits: list[dict], fmt: str = "conllu") -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "tag",
            "kind": "tagging",
            "version": 1,
            "dataset": {"format": fmt, "path": path},
            "labels": labels,
            "languages": ["de"],
            "train": {"split": "train"},
            "splits": splits,
        }
    )


def rows_of(task: TaskSpec, split: EvalSplit, tmp_path: Path, language: str = "de"):
    return load_rows(task, split=split.split or split.name, language=language, base_dir=tmp_path, view=split)


# ---- CoNLL-U metadata -----------------------------------------------------------------------------


def test_conllu_exposes_sentence_and_document_metadata(tmp_path: Path) -> None:
    text = (
        conllu_sentence("a-1", [("Hi", "INTJ")], ("# newdoc id = doc_a", "# meta::genre = vlog"))
        + conllu_sentence("a-2", [("Yo", "INTJ")])
        + conllu_sentence("b-1", [("Ok", "INTJ")], ("# newdoc id = doc_b",))
        + conllu_sentence("c-1", [("No", "INTJ")], ("# doc_id = own.xml",))
    )
    path = tmp_path / "x.conllu"
    path.write_text(text, encoding="utf-8")
    assert "sent_id" not in read_conllu(path)[0]  # plain reads keep their old columns
    rows = read_conllu(path, metadata=True)
    assert [r["sent_id"] for r in rows] == ["a-1", "a-2", "b-1", "c-1"]
    assert [r["doc_id"] for r in rows] == [
        "doc_a",
        "doc_a",
        "doc_b",
        "doc_b",
    ]  # a newdoc holds until the next
    assert [r["genre"] for r in rows] == ["vlog", "vlog", "", ""]  # document metadata resets at a newdoc
    assert json.loads(rows[0]["meta"])["meta::genre"] == "vlog"


# ---- filters --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.lists(st.tuples(st.sampled_from("nw"), st.integers(0, 10**6)), min_size=1, max_size=30, unique=True)
)
def test_news_and_wiki_filters_partition_the_file_in_order(
    tmp_path: Path, draws: list[tuple[str, int]]
) -> None:
    ids = [f"{p}{n:07d}" for p, n in draws]
    path = write_pud_like(tmp_path / "h" / f"{abs(hash(tuple(ids)))}.conllu", ids)
    splits = [
        {"name": "all", "split": "test", "domain": "pud"},
        {
            "name": "news",
            "split": "test",
            "domain": "n",
            "in_domain": False,
            "filter": {"column": "sent_id", "pattern": "^n"},
        },
        {
            "name": "wiki",
            "split": "test",
            "domain": "w",
            "in_domain": False,
            "filter": {"column": "sent_id", "pattern": "^w"},
        },
    ]
    task = tagging_task(str(path), UPOS, splits)
    got = {}
    for split in task.splits:
        try:
            got[split.name] = list(rows_of(task, split, tmp_path).rows["id"])
        except HarnessError as exc:  # a prefix absent from the draw: the filter matches nothing
            assert "matches no example" in exc.message and exc.file == str(path)
            got[split.name] = []
    assert got["news"] == [i for i in ids if i.startswith("n")]
    assert got["wiki"] == [i for i in ids if i.startswith("w")]
    assert sorted(got["news"] + got["wiki"]) == sorted(got["all"])


def test_value_filters_fill_the_language_and_combine(tmp_path: Path) -> None:
    lines = ["language\tgenre\tp\th\tlabel"]
    for lang in ("de", "fr"):
        for genre, n in (("fiction", 3), ("letters", 2), ("oup", 1)):
            lines += [f"{lang}\t{genre}\tp{i}\th{i}\tneutral" for i in range(n)]
    (tmp_path / "xnli.test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    task = TaskSpec.model_validate(
        {
            "name": "nli",
            "kind": "classification",
            "version": 1,
            "dataset": {
                "format": "tsv",
                "path": "xnli.{split}.tsv",
                "fieldnames": ["language", "genre", "text", "text_pair", "label"],
            },
            "labels": ["entailment", "neutral", "contradiction"],
            "languages": ["de", "fr"],
            "train": {"split": "train"},
            "splits": [
                {
                    "name": "unseen",
                    "split": "test",
                    "domain": "u",
                    "in_domain": False,
                    "filter": [
                        {"column": "language", "values": ["{lang}"]},
                        {"column": "genre", "values": ["letters", "oup"]},
                    ],
                },
            ],
        }
    )
    rows = rows_of(task, task.splits[0], tmp_path, "fr").rows
    assert len(rows) == 3 and set(rows["genre"]) == {"letters", "oup"} and set(rows["language"]) == {"fr"}


def test_filter_errors_name_the_data_file_and_the_split_field(tmp_path: Path) -> None:
    path = write_pud_like(tmp_path / "p.conllu", ["n1", "n2"])
    task = tagging_task(
        str(path),
        UPOS,
        [
            {
                "name": "wiki",
                "split": "test",
                "domain": "w",
                "filter": {"column": "sent_id", "pattern": "^w"},
            },
            {"name": "bad", "split": "test", "domain": "w", "filter": {"column": "genre_x", "values": ["a"]}},
        ],
    )
    with pytest.raises(HarnessError) as empty:
        rows_of(task, task.splits[0], tmp_path)
    assert empty.value.file == str(path) and empty.value.field == "splits.wiki.filter.0"
    assert "matches no example of 2 rows" in empty.value.message
    with pytest.raises(HarnessError) as column:
        rows_of(task, task.splits[1], tmp_path)
    assert column.value.field == "splits.bad.filter.0.column" and "sent_id" in (column.value.allowed or [])


def test_filter_schema_rejects_both_tests_and_bad_regex() -> None:
    for bad in (
        {"column": "id"},
        {"column": "id", "values": ["a"], "pattern": "a"},
        {"column": "id", "pattern": "("},
    ):
        with pytest.raises(ValueError):
            EvalSplit.model_validate({"name": "s", "domain": "d", "filter": bad})


# ---- label maps -----------------------------------------------------------------------------------

ENTITY = st.sampled_from(["PER", "ORG", "LOC", "DATE"])
TAG = st.one_of(st.just("O"), st.tuples(st.sampled_from("BI"), ENTITY).map(lambda t: f"{t[0]}-{t[1]}"))


@given(st.lists(st.lists(TAG, min_size=1, max_size=12), min_size=1, max_size=8))
def test_bio_map_drops_date_and_keeps_everything_else(sentences: list[list[str]]) -> None:
    import datasets

    task = tagging_task(
        "x", NER, [{"name": "m", "domain": "news", "label_map": {"scheme": "bio", "map": {"DATE": "O"}}}]
    )
    rows = datasets.Dataset.from_dict({"id": [str(i) for i in range(len(sentences))], "tags": sentences})
    mapped = map_labels(rows, task, task.splits[0].label_map, where=Where("f", "splits.m"))["tags"]
    for before, after in zip(sentences, mapped, strict=True):
        assert len(before) == len(after)
        for old, new in zip(before, after, strict=True):
            assert new == ("O" if old.endswith("-DATE") else old)


def test_unmapped_and_outside_labels_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "ner.txt"
    path.write_text("Ada B-PER\nin O\n1900 B-DATE\nat B-MISC\n\n", encoding="utf-8")
    base = {"name": "m", "split": "test", "domain": "news"}
    task = tagging_task(
        str(path), NER, [{**base, "label_map": {"scheme": "bio", "map": {"DATE": "O"}}}], "conll_tags"
    )
    with pytest.raises(HarnessError) as unmapped:
        rows_of(task, task.splits[0], tmp_path)
    assert unmapped.value.file == str(path) and unmapped.value.field == "splits.m.label_map"
    assert "B-MISC" in unmapped.value.message and "B-DATE" not in unmapped.value.message
    task = tagging_task(
        str(path),
        NER,
        [{**base, "label_map": {"scheme": "bio", "map": {"DATE": "TIME", "MISC": "O"}}}],
        "conll_tags",
    )
    with pytest.raises(HarnessError, match="not the task's labels"):
        rows_of(task, task.splits[0], tmp_path)
    task = tagging_task(
        str(path),
        NER,
        [{**base, "label_map": {"scheme": "bio", "map": {"DATE": "O", "MISC": "O"}}}],
        "conll_tags",
    )
    assert rows_of(task, task.splits[0], tmp_path).rows["tags"] == [["B-PER", "O", "O", "O"]]


def test_plain_map_is_ud_v1_onto_v2() -> None:
    task = tagging_task(
        "x", UPOS, [{"name": "m", "domain": "web", "label_map": {"map": {"CONJ": "CCONJ", "PRT": "PART"}}}]
    )
    mapped = label_mapper(task, task.splits[0].label_map)
    assert [mapped(t) for t in ("CONJ", "PRT", "NOUN", "ONOM")] == ["CCONJ", "PART", "NOUN", None]


# ---- parallel join --------------------------------------------------------------------------------


def write_flores_like(root: Path, langs: dict[str, list[tuple[str, str]]]) -> None:
    for lang, rows in langs.items():
        (root / lang).mkdir(parents=True, exist_ok=True)
        body = "".join(f"{k}\tsports\t{t}\n" for k, t in rows)
        (root / lang / "test.tsv").write_text("index_id\tcategory\ttext\n" + body, encoding="utf-8")


def retrieval_task(root: Path, split: dict) -> TaskSpec:
    return TaskSpec.model_validate(
        {
            "name": "ret",
            "kind": "retrieval",
            "version": 1,
            "dataset": {"format": "tsv", "path": str(root / "{lang}" / "{split}.tsv")},
            "languages": ["de"],
            "splits": [{"name": "flores", "split": "test", "domain": "flores", "in_domain": False, **split}],
        }
    )


def test_parallel_join_pairs_rows_by_key_and_enters_the_fingerprint(tmp_path: Path) -> None:
    write_flores_like(
        tmp_path, {"de": [("2", "zwei"), ("1", "eins")], "en": [("1", "one"), ("2", "two"), ("3", "x")]}
    )
    task = retrieval_task(tmp_path, {"parallel": {"key": "index_id"}})
    rows = rows_of(task, task.splits[0], tmp_path)
    assert rows.rows.to_dict() == {"id": ["2", "1"], "source": ["zwei", "eins"], "target": ["two", "one"]}
    assert rows.fingerprint == data_identity(task, "test", "de", tmp_path, view=task.splits[0])
    (tmp_path / "en" / "test.tsv").write_text(
        "index_id\tcategory\ttext\n1\ts\tONE\n2\ts\ttwo\n", encoding="utf-8"
    )
    assert data_identity(task, "test", "de", tmp_path, view=task.splits[0]) != rows.fingerprint


def test_parallel_join_with_a_missing_key_is_an_error(tmp_path: Path) -> None:
    write_flores_like(tmp_path, {"de": [("1", "eins"), ("9", "neun")], "en": [("1", "one")]})
    task = retrieval_task(tmp_path, {"parallel": {"key": "index_id"}})
    with pytest.raises(HarnessError, match="1 of 2 keys have no 'en' row") as err:
        rows_of(task, task.splits[0], tmp_path)
    assert err.value.field == "splits.flores.parallel.key"


# ---- fingerprints ---------------------------------------------------------------------------------


def test_views_change_the_data_fingerprint_and_plain_splits_keep_theirs(tmp_path: Path) -> None:
    path = write_pud_like(tmp_path / "p.conllu", ["n1", "w1", "n2"])
    task = tagging_task(
        str(path),
        UPOS,
        [
            {"name": "test", "domain": "pud"},
            {
                "name": "news",
                "split": "test",
                "domain": "n",
                "filter": {"column": "sent_id", "pattern": "^n"},
            },
            {
                "name": "news2",
                "split": "test",
                "domain": "n",
                "filter": {"column": "sent_id", "values": ["n1", "n2"]},
            },
        ],
    )
    plain, news, news2 = (data_identity(task, "test", "de", tmp_path, view=s) for s in task.splits)
    assert plain == data_identity(task, "test", "de", tmp_path)  # existing jobs keep their keys
    assert len({plain, news, news2}) == 3
    assert rows_of(task, task.splits[1], tmp_path).fingerprint == news


# ---- availability ---------------------------------------------------------------------------------


def test_absent_local_files_and_offline_hub_are_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    task = tagging_task(
        str(tmp_path / "missing-{lang}.conllu"),
        UPOS,
        [
            {"name": "local", "domain": "web", "in_domain": False},
            {
                "name": "hub",
                "domain": "web",
                "in_domain": False,
                "dataset": {
                    "format": "conllu",
                    "path": str(tmp_path / "nope.conllu"),
                    "hub": {"path": "org/ud", "name": "{lang}"},
                },
            },
        ],
    )
    local = availability(task, task.splits[0], "de", tmp_path)
    assert local is not None and local.expected == [str(tmp_path / "missing-de.conllu")]
    assert "not found" in local.reason and local.in_domain is False
    hub = availability(task, task.splits[1], "de", tmp_path)
    assert hub is not None and hub.expected[-1] == "hub:org/ud (de)" and "offline" in hub.reason
    write_pud_like(tmp_path / "missing-de.conllu", ["n1"])
    assert availability(task, task.splits[0], "de", tmp_path) is None


def test_a_builtin_source_without_the_language_is_an_error(tmp_path: Path) -> None:
    task = TaskSpec.model_validate(
        {
            "name": "ret",
            "kind": "retrieval",
            "version": 1,
            "dataset": {"format": "builtin", "builtin": "django_ui"},
            "languages": ["yo"],
            "splits": [
                {
                    "name": "ui",
                    "split": "test",
                    "domain": "ui",
                    "dataset": {"format": "builtin", "builtin": "django_ui"},
                }
            ],
        }
    )
    with pytest.raises(HarnessError, match="does not have") as err:
        availability(task, task.splits[0], "yo", tmp_path)
    assert err.value.field == "splits.ui.languages" and "de" in (err.value.allowed or [])


# ---- harness tasks validate ----------------------------------------------------------------------


BAD_TASK = """
name: bad_ner
kind: tagging
version: 1
dataset: {format: conllu, path: "x-{code}.conllu", language_codes: {de: deu}}
labels: [O, B-PER, I-PER]
languages: [de]
train: {split: train}
splits:
  - name: test
    domain: wiki
  - name: news
    split: test
    domain: news
    in_domain: false
    languages: [de, fr]
    filter: {column: genre_typo, values: [news]}
    label_map: {scheme: bio, map: {DATE: O, ORG: ORGANISATION}}
"""


def test_validate_reports_static_problems_with_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad_ner.yaml"
    path.write_text(BAD_TASK, encoding="utf-8")
    errors, _ = validate_paths([path], tmp_path)
    rendered = [e.render() for e in errors]
    assert any(
        r.startswith(f"{path}:18: splits.1.label_map:") and "ORG → ORGANISATION" in r for r in rendered
    )
    assert any(f"{path}:16: splits.1.languages:" in r and "'fr'" in r for r in rendered)
    assert any(f"{path}:17: splits.1.filter.0.column:" in r and "genre_typo" in r for r in rendered)
    assert load_document(path).spec.splits[1].in_domain is False  # the schema itself accepts the file


def test_validate_cli_exits_2_on_a_bad_view(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from harness.cli import main

    path = tmp_path / "bad_ner.yaml"
    path.write_text(BAD_TASK, encoding="utf-8")
    assert main(["tasks", "validate", str(path), "--tasks-dir", str(tmp_path)]) == 2
    assert "label_map" in capsys.readouterr().err


def test_schema_errors_for_bad_views_carry_lines(tmp_path: Path) -> None:
    path = tmp_path / "t.yaml"
    path.write_text(BAD_TASK.replace("values: [news]}", "values: [news], pattern: x}"), encoding="utf-8")
    with pytest.raises(ValidationErrors) as err:
        load_document(path)
    assert "exactly one of 'values' or 'pattern'" in err.value.render()


# ---- plan and run: shifted splits are jobs, absent ones are listed, never scored ------------------


def write_retrieval_grid(root: Path, model_dir: Path) -> Path:
    data = root / "data"
    (data / "ret").mkdir(parents=True)
    words = ["alpha beta", "gamma delta", "epsilon zeta", "eta theta", "iota kappa", "lambda mu"]
    for lang in ("de", "fr"):
        (data / "ret" / f"{lang}.src").write_text(
            "\n".join(f"{w} {lang}" for w in words) + "\n", encoding="utf-8"
        )
        (data / "ret" / f"{lang}.en").write_text("\n".join(words) + "\n", encoding="utf-8")
    flores = {lang: [(str(i), f"{w} {lang}") for i, w in enumerate(words)] for lang in ("de", "fr", "en")}
    write_flores_like(data / "flores", flores)
    tasks = root / "tasks"
    (tasks / "grids").mkdir(parents=True)
    (tasks / "ret.yaml").write_text(
        f"""
name: ret
kind: retrieval
version: 1
dataset: {{format: parallel_text, path: "{data}/ret/{{lang}}.src", target_path: "{data}/ret/{{lang}}.en"}}
languages: [de, fr]
splits:
  - {{name: test, domain: synthetic, in_domain: true}}
  - {{name: first-half, split: test, domain: half, in_domain: false, filter: {{column: id, pattern: "^[0-2]$"}}}}
  - {{name: flores, split: test, domain: flores, in_domain: false,
     dataset: {{format: tsv, path: "{data}/flores/{{lang}}/{{split}}.tsv"}}, parallel: {{key: index_id}}}}
  - {{name: absent, split: test, domain: elsewhere, in_domain: false, languages: [de],
     dataset: {{format: parallel_text, path: "{data}/nothing.{{lang}}", target_path: "{data}/nothing.en"}}}}
params: {{layer: -1, pooling: mean}}
hyperparameters: {{max_length: 16}}
""",
        encoding="utf-8",
    )
    (tasks / "grids" / "g.yaml").write_text(
        f"""
name: g
models: [{{name: tiny-bert, source: "{model_dir}"}}]
intermediate: [{{name: none}}]
targets: [ret]
""",
        encoding="utf-8",
    )
    return tasks


def test_grid_scores_shifted_splits_and_lists_the_absent_one(tmp_path: Path, tiny_model: Path) -> None:
    from harness import api
    from harness.catalogue.loader import Catalogue
    from harness.results.store import ResultsStore

    tasks = write_retrieval_grid(tmp_path, tiny_model)
    lock = tmp_path / "checkpoints.lock"
    plan = api.plan(tasks / "grids" / "g.yaml", lock=lock, tasks=Catalogue.load(tasks), pin=True)
    labels = sorted(c.label.split(" ")[1] for c in plan.jobs if c.phase == "evaluate")
    assert labels == [
        f"evaluate:ret/{s}/{lang}" for s in ("first-half", "flores", "test") for lang in ("de", "fr")
    ]
    assert [(u["split"], u["language"], u["in_domain"]) for u in plan.unavailable] == [
        ("absent", "de", False)
    ]
    assert plan.unavailable[0]["expected"] == [
        str(tmp_path / "data" / "nothing.de"),
        str(tmp_path / "data" / "nothing.en"),
    ]

    store = ResultsStore(tmp_path / "results")
    api.run(plan, results=store.root)
    records = {(r.split.name, r.language): r for r in store.records()}
    assert len(records) == 6 and not any(split == "absent" for split, _ in records)
    assert records[("first-half", "de")].n_examples == 3 and records[("test", "de")].n_examples == 6
    assert (
        records[("flores", "fr")].split.in_domain is False
        and records[("flores", "fr")].split.domain == "flores"
    )
    assert len({r.data["fingerprint"] for r in records.values()}) == 6
    assert store.unavailable() == plan.unavailable
    on_disk = json.loads((store.root / "unavailable.json").read_text(encoding="utf-8"))
    assert on_disk["version"] == 1 and on_disk["splits"][0]["reason"].startswith("dataset file not found")
