"""A tiny results store for the site tests: three checkpoints of one model (no intermediate task, MMLU
in English, the same items in German), an XTREME-named classification target with an in-domain and a
shifted split, a demo retrieval target, per-example predictions behind every record and one
declared-but-unavailable split — enough for every page, CI, contrast and export the site shows."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore

MODEL = "me5-small"
NONE, EN, DE = f"{MODEL}+none", f"{MODEL}+mmlu-en", f"{MODEL}+mmlu-de"
# accuracy levels per checkpoint and split: mmlu-en best in-domain, mmlu-de loses least under shift
LEVELS = {
    NONE: {"test": 0.45, "unseen": 0.30},
    EN: {"test": 0.92, "unseen": 0.55},
    DE: {"test": 0.75, "unseen": 0.70},
}
LANGUAGES = ["en", "de", "sw"]
LABELS = ["entailment", "neutral", "contradiction"]
N_EXAMPLES = 60
UNAVAILABLE = [
    {"task": "xnli", "split": "letters", "domain": "letters", "in_domain": False, "language": "de",
     "reason": "no local file and the hub is offline", "expected": "data/xnli/letters/de.tsv"},
    {"task": "xnli", "split": "unseen", "domain": "face-to-face", "in_domain": False, "language": "yo",
     "reason": "no local file and the hub is offline", "expected": "data/xnli/unseen/yo.tsv"},
]  # fmt: skip


def _checkpoint(name: str, seed: int, task: str) -> CheckpointInfo:
    condition = name.split("+", 1)[1] if name.startswith(f"{MODEL}+") else name
    source_lang = {"mmlu-en": "en", "mmlu-de": "de"}.get(condition)
    lineage = [LineageStep(phase="base", key=f"base-{MODEL}", name=MODEL, source="embedded:me5-small")]
    if source_lang:
        lineage.append(
            LineageStep(phase="intermediate", key=f"int-{condition}-{seed}", name=condition,
                        task="mmlu_parallel", source_lang=source_lang, seed=seed)
        )  # fmt: skip
    lineage.append(
        LineageStep(phase="target", key=f"tgt-{condition}-{task}-{seed}", name=task, task=task, seed=seed)
    )
    return CheckpointInfo(
        name=name,
        key=f"tgt-{condition}-{task}-{seed}",
        model=MODEL,
        model_source="embedded:me5-small",
        condition=condition,
        intermediate_task="mmlu_parallel" if source_lang else None,
        source_lang=source_lang,
        source_type={"none": "none", "en": "english", "de": "translated"}[source_lang or "none"],
        intermediate_size=160 if source_lang else None,
        matched_with="mmlu-en" if source_lang == "de" else None,
        frozen_embeddings=True,
        lineage=lineage,
    )


def _record(name: str, task: str, split: str, language: str, seed: int, score: float, n: int) -> Record:
    in_domain = split == "test"
    kind = "classification" if task == "xnli" else "retrieval"
    return Record(
        job_key=hashlib.sha256(f"{name}/{task}/{split}/{language}/{seed}".encode()).hexdigest(),
        grid="site-test",
        checkpoint=_checkpoint(name, seed, task),
        seed=seed,
        task=TaskInfo(name=task, version=1, kind=kind, protocol="official" if task == "xnli" else "demo split"),
        split=SplitInfo(name=split, domain=("mnli-genres" if in_domain else "face-to-face") if task == "xnli" else split, in_domain=in_domain),
        language=language,
        n_examples=n,
        scores={"accuracy": score},
        main_metric="accuracy",
        main_score=score,
        baseline=BaselineInfo(name="majority label" if kind == "classification" else "random candidate", scores={"accuracy": 1 / 3}),
        data={"fingerprint": f"fp-{task}-{split}-{language}", "origin": f"data/{task}/{split}/{language}.tsv", "source": f"{task} sample"},
        settings={"selection_rule": "english_dev", "best_epoch": 2, "precision": "fp32",
                  "hyperparameters": {"learning_rate": 5e-5, "epochs": 3}, "dev_history": [0.5, 0.6, 0.58]},
        provenance={"code_version": "0.1.0+test", "created": f"2025-01-0{seed}T00:00:00+00:00", "wall_time_s": 0.5,
                    "hardware": {"device": "cpu"}},
        predictions="",
    )  # fmt: skip


def _rows(rng: random.Random, level: float, n: int, task: str) -> list[dict]:
    rows = []
    for i in range(n):
        correct = rng.random() < level
        if task == "xnli":
            gold = LABELS[i % 3]
            pred = gold if correct else LABELS[(i + 1) % 3]
        else:
            gold, pred = i, i if correct else (i + 1) % n
        rows.append({"id": f"{task}-{i}", "prediction": pred, "label": gold, "correct": float(correct)})
    return rows


def build_site_store(
    root: Path, *, seeds: tuple[int, ...] = (1, 2), extra: dict[str, dict] | None = None
) -> ResultsStore:
    """Write the store under ``root`` (its records, predictions and unavailable.json); ``extra`` adds
    checkpoints named by the key with the levels given (e.g. a hostile name for the escaping tests)."""
    store = ResultsStore(root)
    levels = {**LEVELS, **(extra or {})}
    for name, by_split in levels.items():
        for seed in seeds:
            for task, splits in (("xnli", ("test", "unseen")), ("tatoeba_demo", ("test",))):
                for split in splits:
                    for language in LANGUAGES:
                        # seeded per record so every checkpoint gets the same example ids, different draws
                        rng = random.Random(f"{name}/{task}/{split}/{language}/{seed}")
                        level = by_split[split] - (0.05 if language != "en" else 0.0)
                        rows = _rows(rng, level, N_EXAMPLES, task)
                        score = sum(r["correct"] for r in rows) / len(rows)
                        rec = _record(name, task, split, language, seed, score, len(rows))
                        path = store.record_path(name, task, split, language, rec.job_key)
                        rel = path.with_suffix(".predictions.jsonl").relative_to(root).as_posix()
                        store.write(rec.model_copy(update={"predictions": rel}), rows, path)
    store.write_unavailable(UNAVAILABLE)
    return store
