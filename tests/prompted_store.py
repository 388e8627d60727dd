"""A results store with a prompted decoder-LM row beside fine-tuned encoders (issue 17, report half).

Two fine-tuned checkpoints of one encoder (English-source and German-source intermediate training,
matched) and one prompted decoder LM ("prompted, 5-shot", as the lm-eval bridge imports it), on one
classification target with an in-domain and a shifted split, in two languages, every record with
per-example predictions on the same example ids (so every difference is paired and has a CI).
"""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo
from harness.results.store import ResultsStore

ENCODER = "enc"
EN, DE = f"{ENCODER}+mmlu-en", f"{ENCODER}+mmlu-de"
LM = "lm7b+prompted"
BADGE = "prompted, 5-shot"
LANGUAGES = ["en", "de"]
SPLITS = {"test": ("mnli-genres", True), "letters": ("letters", False)}
N_EXAMPLES = 80
SEEDS = (1, 2)
# accuracy per checkpoint and split
LEVELS = {
    EN: {"test": 0.85, "letters": 0.55},
    DE: {"test": 0.80, "letters": 0.65},
    LM: {"test": 0.70, "letters": 0.50},
}


def encoder_checkpoint(name: str, seed: int) -> CheckpointInfo:
    condition = name.split("+", 1)[1]
    lang = {"mmlu-en": "en", "mmlu-de": "de"}[condition]
    return CheckpointInfo(
        name=name,
        key=f"tgt-{condition}-{seed}",
        model=ENCODER,
        model_source="embedded:enc",
        condition=condition,
        intermediate_task="mmlu_parallel",
        source_lang=lang,
        source_type="english" if lang == "en" else "translated",
        intermediate_size=160,
        matched_with="mmlu-en" if lang == "de" else None,
        lineage=[
            LineageStep(phase="base", key="base-enc", name=ENCODER),
            LineageStep(phase="intermediate", key=f"int-{condition}-{seed}", name=condition, seed=seed),
            LineageStep(phase="target", key=f"tgt-{condition}-{seed}", name="xnli", task="xnli", seed=seed),
        ],
    )


def prompted_checkpoint(name: str = LM, model: str = "lm7b", **fields: object) -> CheckpointInfo:
    """As the lm-eval bridge writes it; ``fields`` override (e.g. to make it look English-source)."""
    values: dict[str, object] = {
        "name": name,
        "key": f"lm-eval-{name}",
        "model": model,
        "model_source": f"hub:org/{model}",
        "condition": "prompted",
        "intermediate_task": None,
        "source_lang": None,
        "source_type": "none",
        "lineage": [LineageStep(phase="base", key=f"base-{model}", name=model)],
        "regime": "prompted",
        "shots": 5,
        **fields,
    }
    return CheckpointInfo(**values)  # type: ignore[arg-type]


def _rows(name: str, split: str, language: str, seed: int, level: float) -> list[dict]:
    rng = random.Random(f"{name}/{split}/{language}/{seed}")
    labels = ["entailment", "neutral", "contradiction"]
    rows = []
    for i in range(N_EXAMPLES):
        correct = rng.random() < level
        gold = labels[i % 3]
        rows.append(
            {
                "id": f"xnli-{i}",
                "prediction": gold if correct else labels[(i + 1) % 3],
                "label": gold,
                "correct": float(correct),
            }
        )
    return rows


def write_checkpoint(
    store: ResultsStore, ck_of_seed, levels: dict[str, float], seeds: tuple[int, ...], prompted: bool
) -> None:
    for seed in seeds:
        ck: CheckpointInfo = ck_of_seed(seed)
        for split, (domain, in_domain) in SPLITS.items():
            for language in LANGUAGES:
                level = levels[split] - (0.05 if language != "en" else 0.0)
                rows = _rows(ck.name, split, language, seed, level)
                score = sum(r["correct"] for r in rows) / len(rows)
                job_key = hashlib.sha256(f"{ck.name}/xnli/{split}/{language}/{seed}".encode()).hexdigest()
                record = Record(
                    job_key=job_key,
                    grid="lm-eval" if prompted else "test",
                    checkpoint=ck,
                    seed=seed,
                    task=TaskInfo(
                        name="xnli",
                        version=1,
                        kind="classification",
                        protocol="prompted 5-shot" if prompted else "official",
                    ),
                    split=SplitInfo(name=split, domain=domain, in_domain=in_domain),
                    language=language,
                    n_examples=len(rows),
                    scores={"accuracy": score},
                    main_metric="accuracy",
                    main_score=score,
                    baseline=BaselineInfo(name="majority label", scores={"accuracy": 1 / 3}),
                    provenance={"created": "2026-01-01T00:00:00+00:00", "wall_time_s": 0.5},
                    predictions="",
                )
                path = store.record_path(ck.name, "xnli", split, language, job_key)
                relative = path.with_suffix(".predictions.jsonl").relative_to(store.root).as_posix()
                store.write(record.model_copy(update={"predictions": relative}), rows, path)


def build_prompted_store(root: Path, extra_prompted: list[CheckpointInfo] | None = None) -> ResultsStore:
    """The two encoders (two seeds) and the prompted LM (one run, seed 0); ``extra_prompted`` adds
    prompted checkpoints scored like the LM."""
    store = ResultsStore(root)
    for name in (EN, DE):
        write_checkpoint(store, lambda seed, n=name: encoder_checkpoint(n, seed), LEVELS[name], SEEDS, False)
    for ck in [prompted_checkpoint(), *(extra_prompted or [])]:
        write_checkpoint(store, lambda seed, c=ck: c, LEVELS[LM], (0,), True)
    return store
