"""A hand-written lm-eval task folder that follows the exporter's contract (harness.bridges.lm_eval.naming).

Three tasks: a multiple-choice classification task on its test split, its shifted-split twin, and an
extractive QA task as ``generate_until`` with ``process_results: !function utils.process_results`` (EM and
F1 per example, fractions). Documents carry ``id`` and ``label`` (int) or ``answers`` (list of str);
every YAML carries ``metadata.harness`` (``HarnessMeta``).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from tiny_lm import WORDS

from harness.bridges.lm_eval.naming import KIND_METRICS, HarnessMeta, task_name

UTILS = '''"""Per-example EM and F1 (fractions) of a generated answer against the gold answers."""

import collections
import re


def _tokens(text):  # punctuation counts as a word: the tiny random LM mostly says ":"
    return re.sub(r"\\s+", " ", text.lower()).split()


def _f1(pred, gold):
    p, g = _tokens(pred), _tokens(gold)
    same = sum((collections.Counter(p) & collections.Counter(g)).values())
    if not p or not g:
        return float(p == g)
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def process_results(doc, results):
    pred = results[0].strip()
    golds = doc["answers"]
    em = max(float(_tokens(pred) == _tokens(g)) for g in golds)
    return {"exact_match": em, "f1": max(_f1(pred, g) for g in golds)}
'''

MC_TEMPLATE = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
    dev: {dev}
test_split: test
fewshot_split: dev
output_type: multiple_choice
doc_to_text: "Text : {{{{text}}}} Label :"
doc_to_choice: ["alpha", "beta"]
doc_to_target: label
metric_list:
  - metric: acc
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1
  harness: {meta}
"""

QA_TEMPLATE = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {test}
    dev: {dev}
test_split: test
fewshot_split: dev
output_type: generate_until
doc_to_text: "Context : {{{{context}}}} Question : {{{{question}}}} ? Answer :"
doc_to_target: "{{{{answers[0]}}}}"
process_results: !function utils.process_results
generation_kwargs:
  until: ["<eos>", "."]
  do_sample: false
  max_gen_toks: 4
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
  - metric: f1
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1
  harness: {meta}
"""


@dataclass(frozen=True)
class FixtureTask:
    name: str
    meta: HarnessMeta
    yaml_path: Path
    docs: list[dict]


def _write_jsonl(path: Path, docs: list[dict]) -> str:
    text = "".join(json.dumps(d, sort_keys=True) + "\n" for d in docs)
    path.write_text(text, encoding="utf-8")
    return hashlib.sha256(text.encode()).hexdigest()


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS[:40]) for _ in range(n))


def _meta(task: str, kind: str, split: str, in_domain: bool, main: str, n: int, sha: str) -> HarnessMeta:
    return HarnessMeta(
        task=task,
        task_version=1,
        kind=kind,  # type: ignore[arg-type]
        split=split,
        domain="news" if in_domain else "social",
        in_domain=in_domain,
        language="en",
        main_metric=main,
        metrics=KIND_METRICS[kind],
        n_examples=n,
        data_sha256=sha,
        formulation="harness (no lm-eval prompt)",
        harness_version="test",
    )


def write_fixture_tasks(folder: Path, *, n_mc: int = 12, n_qa: int = 8) -> list[FixtureTask]:
    """The three tasks in ``folder`` (created); returns them in order MC test, MC shifted, QA."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "utils.py").write_text(UTILS, encoding="utf-8")
    rng = random.Random(7)
    out = []
    for split, in_domain in (("test", True), ("shifted", False)):
        name = task_name("tinycls", split, "en")
        docs = [
            {"id": f"{split}-{i}", "text": _words(rng, 5), "label": rng.randrange(2)} for i in range(n_mc)
        ]
        dev = [{"id": f"dev-{i}", "text": _words(rng, 5), "label": i % 2} for i in range(4)]
        sha = _write_jsonl(folder / f"{name}.test.jsonl", docs)
        _write_jsonl(folder / f"{name}.dev.jsonl", dev)
        meta = _meta("tinycls", "classification", split, in_domain, "accuracy", n_mc, sha)
        path = folder / f"{name}.yaml"
        path.write_text(
            MC_TEMPLATE.format(
                name=name,
                test=folder / f"{name}.test.jsonl",
                dev=folder / f"{name}.dev.jsonl",
                meta=json.dumps(meta.model_dump(mode="json")),
            ),
            encoding="utf-8",
        )
        out.append(FixtureTask(name, meta, path, docs))
    name = task_name("tinyqa", "test", "en")
    docs = []
    for i in range(n_qa):
        context = _words(rng, 8)
        words = context.split()
        # answers the random LM's ": : : :" matches fully (EM 1), partly (F1 between 0 and 1) or not at all
        answer = [": : : :", f"{words[2]} :", " ".join(words[2:6])][i % 3]
        docs.append({"id": f"q-{i}", "context": context, "question": _words(rng, 3), "answers": [answer]})
    dev = [{"id": f"qdev-{i}", "context": "w1 w2 w3", "question": "w4", "answers": ["w2"]} for i in range(2)]
    sha = _write_jsonl(folder / f"{name}.test.jsonl", docs)
    _write_jsonl(folder / f"{name}.dev.jsonl", dev)
    meta = _meta("tinyqa", "extractive_qa", "test", True, "f1", n_qa, sha)
    path = folder / f"{name}.yaml"
    path.write_text(
        QA_TEMPLATE.format(
            name=name,
            test=folder / f"{name}.test.jsonl",
            dev=folder / f"{name}.dev.jsonl",
            meta=json.dumps(meta.model_dump(mode="json")),
        ),
        encoding="utf-8",
    )
    out.append(FixtureTask(name, meta, path, docs))
    return out
