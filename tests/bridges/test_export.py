"""``harness export lm-eval``: the exported folder loads and runs in lm-eval, holds the items the harness
scores for encoders, and scores QA as ``harness.scoring.qa`` does."""

from __future__ import annotations

import ast
import json
import logging
import os
import random
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness import api
from harness.bridges.lm_eval import formulations, naming, xh_metrics
from harness.bridges.lm_eval.export import MANIFEST, ExportResult, export_lm_eval
from harness.bridges.lm_eval.naming import HarnessMeta
from harness.errors import HarnessError
from harness.scoring import qa

REPO = Path(__file__).resolve().parents[2]
PATTERNS = ("xnli", "tiny_*")
GENRES = ("news", "fiction")
WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "river",
    "stone",
    "light",
    "house",
    "green",
    "table",
    "quiet",
    "north",
]


def _sentence(rng: random.Random, n: int = 5) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _squad(rows: list[tuple[str, str, str, list[str]]]) -> dict[str, Any]:
    paragraphs = []
    for qid, context, question, answers in rows:
        spans = [{"text": a, "answer_start": context.index(a)} for a in answers]
        paragraphs.append({"context": context, "qas": [{"id": qid, "question": question, "answers": spans}]})
    return {"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]}


def write_tasks(root: Path) -> Path:
    """A tasks folder: ``xnli`` (tiny, in place of the built-in; a genre-filtered shifted split), a
    multiple-choice target, an MLQA-style QA target with a shifted and an absent split, a tagging target."""
    rng = random.Random(3)
    data = root / "data"
    labels = ["entailment", "neutral", "contradiction"]
    for lang, split, n in (("en", "train", 48), ("en", "dev", 12), ("en", "test", 18), ("de", "test", 18)):
        (data / "nli" / lang).mkdir(parents=True, exist_ok=True)
        lines = ["id\ttext\ttext_pair\tlabel\tgenre"]
        for i in range(n):
            label = labels[i % 3]
            lines.append(f"{split}{i}\t{_sentence(rng)} {label}\t{_sentence(rng)}\t{label}\t{GENRES[i % 2]}")
        (data / "nli" / lang / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (data / "choice").mkdir(parents=True)
    for lang in ("en", "de"):
        rows = [
            {
                "id": f"c{i}",
                "question": f"which {_sentence(rng, 3)}",
                "choices": [_sentence(rng, 2) for _ in range(3)],
                "label": i % 3,
            }
            for i in range(9)
        ]
        (data / "choice" / f"{lang}.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
        )
    (data / "qa").mkdir(parents=True)
    for lang in ("en", "de"):
        for part, n in (("train", 6), ("test", 7), ("wiki", 5)):
            rows = []
            for i in range(n):
                answer = f"{rng.choice(WORDS)} {rng.choice(WORDS)}"
                context = f"{_sentence(rng)} {answer} {_sentence(rng)}."
                rows.append(
                    (f"{part}-{lang}-{i}", context, f"what {_sentence(rng, 2)}?", [answer, answer.split()[0]])
                )
            (data / "qa" / f"{part}.{lang}.json").write_text(json.dumps(_squad(rows)), encoding="utf-8")
    targets = root / "tasks" / "targets"
    targets.mkdir(parents=True)
    (targets / "xnli.yaml").write_text(
        f"""name: xnli
kind: classification
version: 3
dataset: {{format: tsv, path: "{data}/nli/{{lang}}/{{split}}.tsv", header: true}}
labels: [entailment, neutral, contradiction]
languages: [en, de]
train: {{split: train, language: en}}
dev: {{split: dev, language: en}}
splits:
  - {{name: test, domain: mixed, in_domain: true}}
  - {{name: fiction, split: test, domain: fiction, in_domain: false, filter: {{column: genre, values: [fiction]}}}}
metrics: [accuracy]
hyperparameters: {{learning_rate: 3.0e-3, epochs: 2, batch_size: 8, max_length: 32, warmup_ratio: 0.0}}
""",
        encoding="utf-8",
    )
    (targets / "tiny_choice.yaml").write_text(
        f"""name: tiny_choice
kind: multiple_choice
version: 1
dataset: {{format: jsonl, path: "{data}/choice/{{lang}}.jsonl"}}
languages: [en, de]
train: {{split: train, language: en}}
splits: [{{name: test, domain: synthetic, in_domain: true}}]
""",
        encoding="utf-8",
    )
    (targets / "tiny_qa.yaml").write_text(
        f"""name: tiny_qa
kind: extractive_qa
version: 2
dataset: {{format: squad_json, path: "{data}/qa/{{split}}.{{lang}}.json"}}
languages: [en, de]
train: {{split: train, language: en}}
splits:
  - {{name: test, domain: synthetic, in_domain: true}}
  - {{name: wiki, domain: wikipedia, in_domain: false, limit: 4}}
  - {{name: absent, domain: nowhere, in_domain: false, languages: [de],
     dataset: {{format: squad_json, path: "{data}/qa/absent.{{lang}}.json"}}}}
metrics: [f1, exact_match, em_f1_mean]
main_metric: em_f1_mean
params: {{metric_style: mlqa}}
""",
        encoding="utf-8",
    )
    (targets / "tiny_tags.yaml").write_text(
        f"""name: tiny_tags
kind: tagging
version: 1
dataset: {{format: conllu, path: "{data}/tags/{{lang}}.conllu"}}
labels: [NOUN, VERB]
languages: [en]
train: {{split: train, language: en}}
splits: [{{name: test, domain: synthetic, in_domain: true}}]
""",
        encoding="utf-8",
    )
    return root / "tasks"


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    return write_tasks(tmp_path / "src")


def export(tasks_dir: Path, out: Path, shots: int = 0) -> ExportResult:
    return export_lm_eval(api.catalogue([tasks_dir]), out, patterns=PATTERNS, shots=shots)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_one_task_per_target_split_language_with_its_meta_names_and_groups(
    tasks_dir: Path, tmp_path: Path
) -> None:
    result = export(tasks_dir, tmp_path / "out")
    names = {t.name for t in result.tasks}
    assert names == {
        *(naming.task_name("xnli", s, lang) for s in ("test", "fiction") for lang in ("en", "de")),
        *(naming.task_name("tiny_choice", "test", lang) for lang in ("en", "de")),
        *(naming.task_name("tiny_qa", s, lang) for s in ("test", "wiki") for lang in ("en", "de")),
    }
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))
    assert [e["name"] for e in manifest["tasks"]] == [t.name for t in result.tasks]
    for task in result.tasks:
        text = task.yaml_path.read_text(encoding="utf-8")
        body = yaml_load(task.yaml_path)
        meta = HarnessMeta.model_validate(body["metadata"][naming.META_KEY])
        assert meta == task.meta
        assert body["task"] == task.name == naming.task_name(meta.task, meta.split, meta.language)
        assert meta.metrics == naming.KIND_METRICS[meta.kind]
        data = Path(body["dataset_kwargs"]["data_files"]["test"])
        import hashlib

        assert meta.data_sha256 == hashlib.sha256(data.read_bytes()).hexdigest()
        docs = read_jsonl(data)
        assert meta.n_examples == len(docs)
        gold = "answers" if meta.kind == "extractive_qa" else "label"
        assert all(isinstance(d["id"], str) and gold in d for d in docs)
        assert "!function xh_metrics." in text
    by = {t.name: t.meta for t in result.tasks}
    assert by["xh_xnli_fiction_de"].formulation == "lm-eval xnli"
    assert (by["xh_xnli_fiction_de"].in_domain, by["xh_xnli_fiction_de"].domain) == (False, "fiction")
    assert by["xh_tiny_choice_test_en"].formulation == formulations.HARNESS_PLAIN
    assert by["xh_tiny_qa_wiki_de"].n_examples == 4  # the split's limit, as the evaluation job reads it
    groups = result.groups
    assert groups[naming.target_group("tiny_qa")] == sorted(n for n in names if n.startswith("xh_tiny_qa_"))
    assert groups[naming.split_group("xnli", "fiction")] == ["xh_xnli_fiction_de", "xh_xnli_fiction_en"]
    assert groups[naming.language_group("de")] == sorted(n for n in names if n.endswith("_de"))
    assert groups[naming.PREFIX] == sorted(names)
    assert manifest["groups"] == groups
    for group, members in groups.items():
        assert yaml_load(tmp_path / "out" / "groups" / f"{group}.yaml")["task"] == members
    assert [(n["task"], n["kind"]) for n in manifest["not_applicable"]] == [("tiny_tags", "tagging")]
    assert [(u["task"], u["split"], u["language"]) for u in manifest["unavailable"]] == [
        ("tiny_qa", "absent", "de")
    ]


def yaml_load(path: Path) -> dict[str, Any]:
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!function", lambda loader, node: loader.construct_scalar(node))
    return yaml.load(path.read_text(encoding="utf-8"), Loader=Loader)  # noqa: S506 (a SafeLoader)


def test_shifted_split_holds_the_rows_the_filter_keeps_with_gold_indices(
    tasks_dir: Path, tmp_path: Path
) -> None:
    """Independent of the loader: the genre column read by hand."""
    export(tasks_dir, tmp_path / "out")
    labels = ["entailment", "neutral", "contradiction"]
    for lang in ("en", "de"):
        lines = (
            (tasks_dir.parent / "data" / "nli" / lang / "test.tsv")
            .read_text(encoding="utf-8")
            .splitlines()[1:]
        )
        rows = [line.split("\t") for line in lines]
        expected = [(r[0], labels.index(r[3])) for r in rows if r[4] == "fiction"]
        docs = read_jsonl(tmp_path / "out" / "data" / "xnli" / f"xh_xnli_fiction_{lang}.jsonl")
        assert [(d["id"], d["label"]) for d in docs] == expected
        assert all(d["prompt"] == "" and len(d["choices"]) == 3 for d in docs)


def test_shifted_split_is_exactly_what_the_encoders_are_scored_on(
    tasks_dir: Path, tmp_path: Path, tiny_model: Path
) -> None:
    """A tiny grid run's predictions files (ids, gold labels) against the exported documents."""
    from harness.results.store import ResultsStore

    grid = tasks_dir / "grids" / "export_check.yaml"
    grid.parent.mkdir()
    grid.write_text(
        f'name: export_check\nmodels: [{{name: tiny-bert, source: "{tiny_model}"}}]\n'
        "intermediate: [{name: none}]\ntargets: [xnli]\nseeds: [1]\n",
        encoding="utf-8",
    )
    store = tmp_path / "store"
    report = api.run(grid, results=store, lock=tmp_path / "checkpoints.lock", tasks_dirs=[tasks_dir])
    assert not getattr(report, "failed", None)
    export(tasks_dir, tmp_path / "out")
    labels = ["entailment", "neutral", "contradiction"]
    records = ResultsStore(store).records()
    assert {(r.split.name, r.language) for r in records} >= {("fiction", "de"), ("test", "en")}
    for record in records:
        name = naming.task_name("xnli", record.split.name, record.language)
        docs = read_jsonl(tmp_path / "out" / "data" / "xnli" / f"{name}.jsonl")
        predicted = [(p["id"], p["label"]) for p in ResultsStore(store).predictions(record)]
        assert predicted == [(d["id"], labels[d["label"]]) for d in docs], name


def test_exported_yamls_load_in_lm_eval_without_a_warning(tasks_dir: Path, tmp_path: Path) -> None:
    from lm_eval.tasks import TaskManager

    result = export(tasks_dir, tmp_path / "out", shots=2)
    logged: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING:
                logged.append(f"{record.name}: {record.getMessage()}")

    handler = Collect()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            manager = TaskManager(include_path=str(tmp_path / "out"), include_defaults=False)
            names = [t.name for t in result.tasks]
            loaded = manager.load(names)
            assert sorted(loaded["tasks"]) == sorted(names)
            for group, members in result.groups.items():
                got = manager.load([group])
                assert sorted(got["tasks"]) == members
            for name, task in loaded["tasks"].items():
                docs = list(task.test_docs())
                assert len(docs) == next(t.meta.n_examples for t in result.tasks if t.name == name)
                assert task.config.num_fewshot == 2 and len(list(task.fewshot_docs())) > 0
            # the older entry point too: its only warnings are its own deprecation notices
            from lm_eval.tasks import get_task_dict

            before = len(caught)
            assert sorted(get_task_dict(names, manager)) == sorted(names)
            legacy = caught[before:]
            del caught[before:]
    finally:
        root.removeHandler(handler)
    assert logged == []
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert {w.category for w in legacy} <= {DeprecationWarning}
    assert all("TaskManager.load" in str(w.message) for w in legacy)


def test_lm_eval_runs_the_export_with_the_dummy_model(tasks_dir: Path, tmp_path: Path) -> None:
    export(tasks_dir, tmp_path / "out", shots=1)
    picked = ["xh_xnli_fiction_de", "xh_tiny_choice_test_en", "xh_tiny_qa_wiki_de"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [sys.executable, "-m", "lm_eval", "--model", "dummy", "--include_path", str(tmp_path / "out"),
         "--tasks", ",".join(picked), "--output_path", str(tmp_path / "res"), "--log_samples"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = next((tmp_path / "res").rglob("results_*.json"))
    body = json.loads(results.read_text(encoding="utf-8"))
    assert set(picked) <= set(body["results"])
    assert set(body["results"]["xh_tiny_qa_wiki_de"]) >= {"exact_match,none", "f1,none", "em_f1_mean,none"}
    assert "acc,none" in body["results"]["xh_xnli_fiction_de"]
    assert body["configs"]["xh_xnli_fiction_de"]["metadata"][naming.META_KEY]["split"] == "fiction"
    samples = list((tmp_path / "res").rglob("samples_xh_tiny_qa_wiki_de_*.jsonl"))
    assert len(read_jsonl(samples[0])) == 4


def test_export_twice_gives_the_same_bytes(tasks_dir: Path, tmp_path: Path) -> None:
    def snapshot() -> dict[str, bytes]:
        out = tmp_path / "out"
        return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}

    export(tasks_dir, tmp_path / "out", shots=2)
    first = snapshot()
    export(tasks_dir, tmp_path / "out", shots=2)
    assert snapshot() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # no staging folder left behind


def test_the_metric_module_imports_only_the_standard_library() -> None:
    tree = ast.parse(Path(xh_metrics.__file__).read_text(encoding="utf-8"))
    modules = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert {m.split(".")[0] for m in modules} <= {
        "__future__",
        "re",
        "string",
        "sys",
        "unicodedata",
        "collections",
    }


MLQA_LANGS = sorted(qa.MLQA_ARTICLES)
texty = st.text(
    alphabet=st.sampled_from(list("abc the an a ÄéA,.;!?-'\"  ال的中文。，、der die el la của है\t\n")),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(pred=texty, golds=st.lists(texty, min_size=1, max_size=3), lang=st.sampled_from(MLQA_LANGS))
def test_qa_metrics_equal_the_harness_scoring_on_random_strings(
    pred: str, golds: list[str], lang: str
) -> None:
    doc = {"answers": golds, "language": lang}
    squad = xh_metrics.qa_squad(doc, [pred])
    mlqa = xh_metrics.qa_mlqa(doc, [pred])
    assert (squad["exact_match"], squad["f1"]) == qa.best_over_golds(qa.normalize_squad, pred, golds)
    assert (mlqa["exact_match"], mlqa["f1"]) == qa.best_over_golds(qa.mlqa_normalizer(lang), pred, golds)
    assert mlqa["em_f1_mean"] == mlqa["xh_main"] == (mlqa["exact_match"] + mlqa["f1"]) / 2


@settings(max_examples=200, deadline=None)
@given(pred=st.text(max_size=20), gold=st.text(min_size=0, max_size=20), lang=st.sampled_from(MLQA_LANGS))
def test_qa_metrics_equal_the_harness_scoring_on_any_unicode(pred: str, gold: str, lang: str) -> None:
    assert xh_metrics.normalize_squad(pred) == qa.normalize_squad(pred)
    assert xh_metrics.normalize_mlqa(gold, lang) == qa.normalize_mlqa(gold, lang)


@pytest.mark.parametrize(
    ("pred", "golds", "lang"),
    [
        (" The Eiffel Tower.", ["Eiffel Tower", "the tower"], "en"),
        ("el 14 de julio", ["14 de julio de 1789"], "es"),
        ("die Französische Revolution", ["Französische Revolution"], "de"),
        ("الثورة الفرنسية", ["الثورة"], "ar"),
        ("1789年法国大革命", ["法国大革命"], "zh"),
        ("của Việt Nam", ["Việt Nam"], "vi"),
        ("भारत का", ["भारत"], "hi"),
        ("a", ["the"], "en"),  # EM 1, F1 0: both normalise to nothing
    ],
)
def test_qa_metrics_on_real_looking_answers(pred: str, golds: list[str], lang: str) -> None:
    doc = {"answers": golds, "language": lang}
    assert (xh_metrics.qa_mlqa(doc, [pred])["exact_match"], xh_metrics.qa_mlqa(doc, [pred])["f1"]) == (
        qa.best_over_golds(qa.mlqa_normalizer(lang), pred, golds)
    )
    squad = xh_metrics.qa_squad(doc, [pred])
    assert (squad["exact_match"], squad["f1"]) == qa.best_over_golds(qa.normalize_squad, pred, golds)


def test_multiple_choice_metric_is_argmax_first_on_ties() -> None:
    assert (
        xh_metrics.multiple_choice({"label": 1}, [(-2.0, False), (-1.0, False), (-3.0, False)])["acc"] == 1.0
    )
    assert xh_metrics.multiple_choice({"label": 1}, [(-1.0, False), (-1.0, False)])["acc"] == 0.0


def _lm_eval_tasks() -> Path:
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


def _lm_eval_choices(yaml_path: Path, doc: dict[str, Any]) -> list[str]:
    from lm_eval.utils import apply_template

    return list(ast.literal_eval(apply_template(yaml_load(yaml_path)["doc_to_choice"], doc)))


@pytest.mark.parametrize("lang", sorted(formulations.XNLI_WORDS))
def test_xnli_choices_are_lm_eval_s_own(lang: str) -> None:
    row = {"text": "Der Hund schläft", "text_pair": "ein Tier ruht"}
    ours = formulations.formulation_for(
        "xnli", "classification", ["entailment", "neutral", "contradiction"], [lang]
    )
    theirs = _lm_eval_choices(
        _lm_eval_tasks() / "xnli" / f"xnli_{lang}.yaml",
        {"premise": row["text"], "hypothesis": row["text_pair"]},
    )
    assert ours.render(row, lang) == {"prompt": "", "choices": theirs}
    assert ours.target_delimiter == " "


@pytest.mark.parametrize("lang", sorted(formulations.PAWSX_WORDS))
def test_pawsx_choices_are_lm_eval_s_own(lang: str) -> None:
    import importlib.util

    import datasets

    spec = importlib.util.spec_from_file_location("pawsx_utils", _lm_eval_tasks() / "paws-x" / "utils.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    pairs = [
        ("The film ( 1999 ) was n't shown in Paris .", "It was shown in Lyon , not in Paris ."),
        ("Er wurde 1950 geboren;", 'Sie zog nach Berlin " mit ihm ".'),
    ]
    raw = datasets.Dataset.from_list([{"sentence1": a, "sentence2": b, "label": 0} for a, b in pairs])
    processed = module.process_docs_paraphrases(raw)
    ours = formulations.formulation_for("pawsx", "classification", ["0", "1"], [lang])
    for (a, b), doc in zip(pairs, processed, strict=True):
        theirs = _lm_eval_choices(_lm_eval_tasks() / "paws-x" / f"paws_{lang}.yaml", doc)
        assert ours.render({"text": a, "text_pair": b}, lang)["choices"] == theirs
    assert ours.target_delimiter == ""


def test_sib_prompt_is_afrobench_prompt_1() -> None:
    from lm_eval.utils import apply_template

    theirs = yaml_load(_lm_eval_tasks() / "afrobench" / "sib" / "prompt_1" / "sib_eng.yaml")["doc_to_text"]
    ours = formulations.formulation_for("sib200", "classification", formulations.SIB_LABELS, ["en"])
    text = "A new vaccine was approved."
    assert ours.render({"text": text}, "en") == {
        "prompt": apply_template(theirs, {"text": text}),
        "choices": formulations.SIB_LABELS,
    }


# ---- bad input -------------------------------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", "export", "lm-eval", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--tasks", "nosuchtarget*"], "matches no target task"),
        (["--shots", "-1"], "few-shot examples"),
        (["--data-dir", "/nonexistent/data"], "does not exist"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(
    tasks_dir: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    out = tmp_path / "out"
    proc = run_cli(str(out), "--tasks-dir", str(tasks_dir), *extra)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["src"]


def test_cli_refuses_a_file_or_a_foreign_folder(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me", encoding="utf-8")
    proc = run_cli(str(a_file), "--tasks", "sib200")
    assert proc.returncode == 2 and "is a file" in proc.stderr
    assert a_file.read_text(encoding="utf-8") == "keep me"
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine", encoding="utf-8")
    proc = run_cli(str(foreign), "--tasks", "sib200")
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_cli_exports_the_shipped_sample_data(tmp_path: Path) -> None:
    proc = run_cli(str(tmp_path / "out"), "--tasks", "sib200", "xquad_demo", "udpos_demo")
    assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text(encoding="utf-8"))
    kinds = sorted({t["harness"]["kind"] for t in manifest["tasks"]})
    assert kinds == ["classification", "extractive_qa"] and len(manifest["tasks"]) == 21
    assert [n["task"] for n in manifest["not_applicable"]] == ["udpos_demo"]


def test_a_name_clash_is_an_error_naming_both(tmp_path: Path) -> None:
    """Split ``a_b`` in language ``c`` and split ``a`` in language ``b_c`` would share a name."""
    data = tmp_path / "data"
    data.mkdir()
    for name in ("x", "y"):
        (data / f"{name}.tsv").write_text("id\ttext\tlabel\n1\thello\tp\n", encoding="utf-8")
    folder = tmp_path / "tasks" / "targets"
    folder.mkdir(parents=True)
    (folder / "tiny_clash.yaml").write_text(
        f"""name: tiny_clash
kind: classification
version: 1
dataset: {{format: tsv, path: "{data}/x.tsv", header: true}}
labels: [p, q]
languages: [en, de]
train: {{split: train, language: en}}
splits:
  - {{name: test, domain: d}}
  - {{name: test_de, split: test, domain: e, in_domain: false, languages: [en]}}
""",
        encoding="utf-8",
    )
    with pytest.raises(HarnessError, match="clashes"):
        export_lm_eval(api.catalogue([tmp_path / "tasks"]), tmp_path / "out", patterns=["tiny_clash"])
    assert not (tmp_path / "out").exists()


HUB_ROWS = {
    ("test", "en"): {"text": ["good film", "bad film"], "label": ["pos", "neg"]},
    ("test", "de"): {"text": ["guter Film", "schlechter Film", "ok"], "label": ["pos", "neg", "pos"]},
    ("validation", "en"): {"text": ["fine", "awful"], "label": ["pos", "neg"]},
}


def _hub_task(tmp_path: Path) -> Path:
    folder = tmp_path / "tasks" / "targets"
    folder.mkdir(parents=True)
    (folder / "tiny_hub.yaml").write_text(
        """name: tiny_hub
kind: classification
version: 1
dataset:
  format: hub
  hub: {path: org/tiny-sentiment, name: "{lang}", split: "{split}", split_names: {dev: validation}}
labels: [pos, neg]
languages: [en, de]
train: {split: train, language: en}
dev: {split: dev, language: en}
splits:
  - {name: test, domain: reviews}
""",
        encoding="utf-8",
    )
    return tmp_path / "tasks"


def test_a_hub_only_target_is_read_through_datasets_unless_offline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Users have the hub: a split with no local files is read as the encoders read it (load_dataset)."""
    import datasets

    from harness.data import loaders

    asked = []

    def fake_load(path: str, name: str | None = None, split: str | None = None, **kwargs: Any):
        asked.append((path, name, split))
        return datasets.Dataset.from_dict(HUB_ROWS[(split, name)])

    monkeypatch.setattr(loaders.datasets, "load_dataset", fake_load)
    tasks = _hub_task(tmp_path)
    for var in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.setenv(var, "0")
    result = export_lm_eval(api.catalogue([tasks]), tmp_path / "out", patterns=["tiny_hub"], shots=1)
    assert sorted(t.name for t in result.tasks) == ["xh_tiny_hub_test_de", "xh_tiny_hub_test_en"]
    de = read_jsonl(tmp_path / "out" / "data" / "tiny_hub" / "xh_tiny_hub_test_de.jsonl")
    assert [d["label"] for d in de] == [0, 1, 0]
    assert ("org/tiny-sentiment", "en", "validation") in asked  # the few-shot pool: English dev
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = export_lm_eval(api.catalogue([tasks]), tmp_path / "out2", patterns=["tiny_hub"])
    assert not offline.tasks and {(u.split, u.language) for u in offline.unavailable} == {
        ("test", "en"),
        ("test", "de"),
    }
