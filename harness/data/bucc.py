"""BUCC 2018 bitext-mining files, and the rows the ``mining`` kind reads.

Files (one folder, as released and as XTREME's ``download_data.sh`` lays them out)::

    <xx>-en.<split>.<xx>     <id>\\t<sentence>      e.g. de-000001\\tEin Satz.
    <xx>-en.<split>.en       <id>\\t<sentence>      e.g. en-000001\\tA sentence.
    <xx>-en.<split>.gold     <xx-id>\\t<en-id>      the parallel pairs

The released "sample" data is XTREME's dev split (threshold selection) and the released "training" data
its test split; a task maps its split names to file names with ``dataset.split_names``
(``{dev: sample, test: training}``), or the files are renamed ``dev``/``test`` as XTREME does.

Row layout (``load_bucc_rows``; one row per *sentence*, both sides, see ``ROW_FEATURES``):

    id           "<split>:<sentence id>"   unique over the rows (dev and test reuse sentence ids)
    sentence_id  "de-000001" / "en-000001"
    split        the task-level split name the sentence belongs to ("test", "dev")
    source       the xx sentence on a source-side row, else None
    target       the English sentence on a target-side row, else None
    gold         source-side rows: the English ids paired with it in the gold file; target rows: []

The rows of the scored split come first, then (when it is another split) the rows of the threshold
split named by the task's ``params.threshold_split`` (default ``dev``): the ``mining`` kind picks the
threshold on those and scores only the others, so one ``predict`` call needs nothing but these rows.
A threshold split of ``test`` is refused.

How ``harness/data/loaders.py`` serves a task with ``dataset.format: bucc`` (``path`` = the folder, may
use ``{data_dir}``, ``{lang}``, ``{code}``):

* ``plan_source`` lists ``bucc_source_files(...)``: the eval split's three files plus the threshold
  split's three (both decide the score, so both are in the data fingerprint);
* ``load_rows`` returns ``load_bucc_rows(..., limit=limit)`` with *no* generic ``rows.select(range(limit))``
  afterwards (a plain row cut would keep only source sentences of one split); ``limit`` here keeps at most
  that many sentences per side and split, half of them from gold pairs: a demo subset, not the official
  protocol. A ``retrieval`` task reads the same files as gold pairs (``split_views.bucc_gold_pairs``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import datasets

from harness.catalogue.loader import default_data_dir
from harness.catalogue.schema import DatasetSpec, TaskSpec
from harness.errors import HarnessError

DEFAULT_THRESHOLD_SPLIT = "dev"
FORBIDDEN_THRESHOLD_SPLITS = ("test",)

ROW_FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "sentence_id": datasets.Value("string"),
        "split": datasets.Value("string"),
        "source": datasets.Value("string"),
        "target": datasets.Value("string"),
        "gold": datasets.Sequence(datasets.Value("string")),
    }
)

Sentences = dict[str, str]
GoldPairs = set[tuple[str, str]]


class BuccFiles(NamedTuple):
    source: Path
    target: Path
    gold: Path


def bucc_files(folder: str | Path, lang: str, split: str) -> BuccFiles:
    """The three files of one language pair and split (``split`` as in the file names)."""
    base = Path(folder) / f"{lang}-en.{split}"
    return BuccFiles(Path(f"{base}.{lang}"), Path(f"{base}.en"), Path(f"{base}.gold"))


# ---- reading ------------------------------------------------------------------------------------------


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text without the line break); a clear error for a missing or undecodable file."""
    if not path.is_file():
        raise HarnessError(f"BUCC file not found: {path}", file=path, field="dataset.path")
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise HarnessError(f"not UTF-8 ({exc.reason})", file=path, line=number) from None
            yield number, text.rstrip("\r\n")


def _two_fields(path: Path, number: int, line: str, layout: str) -> tuple[str, str]:
    fields = line.split("\t")
    if len(fields) != 2:
        shown = "a blank line" if not line.strip() else f"{len(fields)} tab-separated fields"
        raise HarnessError(f"expected '{layout}', found {shown}", file=path, line=number)
    first, second = fields[0].strip(), fields[1].strip()
    if not first:
        raise HarnessError(f"empty id (expected '{layout}')", file=path, line=number)
    return first, second


def read_sentences(path: str | Path) -> Sentences:
    """``<id>\\t<sentence>`` lines → {id: sentence} in file order; ids must be unique."""
    path = Path(path)
    sentences: Sentences = {}
    first_seen: dict[str, int] = {}
    for number, line in _lines(path):
        sentence_id, sentence = _two_fields(path, number, line, "<id>\\t<sentence>")
        if sentence_id in first_seen:
            raise HarnessError(
                f"id {sentence_id!r} already used on line {first_seen[sentence_id]}", file=path, line=number
            )
        first_seen[sentence_id] = number
        sentences[sentence_id] = sentence
    return sentences


def read_gold(path: str | Path, source: Sentences, target: Sentences) -> GoldPairs:
    """``<xx-id>\\t<en-id>`` lines → a set of pairs; both ids must exist in the sentence files."""
    path = Path(path)
    gold: GoldPairs = set()
    for number, line in _lines(path):
        src_id, tgt_id = _two_fields(path, number, line, "<xx-id>\\t<en-id>")
        for pair_id, side, known in ((src_id, "source", source), (tgt_id, "English", target)):
            if pair_id not in known:
                raise HarnessError(f"{side} id {pair_id!r} is not in the {side} file", file=path, line=number)
        gold.add((src_id, tgt_id))
    return gold


def read_bucc(folder: str | Path, lang: str, split: str) -> tuple[Sentences, Sentences, GoldPairs]:
    """(xx sentences, English sentences, gold pairs) of ``<folder>/<lang>-en.<split>.*``."""
    files = bucc_files(folder, lang, split)
    source = read_sentences(files.source)
    target = read_sentences(files.target)
    return source, target, read_gold(files.gold, source, target)


# ---- rows for the mining kind -----------------------------------------------------------------------


def subset(
    source: Sentences, target: Sentences, gold: GoldPairs, limit: int
) -> tuple[Sentences, Sentences, GoldPairs]:
    """At most ``limit`` sentences per side: up to ``limit // 2`` gold pairs (in id order), then others.

    Deterministic; file order is kept; gold is restricted to the kept sentences.
    """
    keep_src: set[str] = set()
    keep_tgt: set[str] = set()
    for src_id, tgt_id in sorted(gold):
        if len(keep_src) >= limit // 2 or len(keep_tgt) >= limit // 2:
            break
        keep_src.add(src_id)
        keep_tgt.add(tgt_id)
    for keep, sentences in ((keep_src, source), (keep_tgt, target)):
        for sentence_id in sentences:
            if len(keep) >= limit:
                break
            keep.add(sentence_id)
    kept_source = {k: v for k, v in source.items() if k in keep_src}
    kept_target = {k: v for k, v in target.items() if k in keep_tgt}
    kept_gold = {(s, t) for s, t in gold if s in kept_source and t in kept_target}
    return kept_source, kept_target, kept_gold


def sentence_rows(source: Sentences, target: Sentences, gold: GoldPairs, split: str) -> list[dict[str, Any]]:
    """One row per sentence of one split, source side first (the layout in the module docstring)."""
    partners: dict[str, list[str]] = {}
    for src_id, tgt_id in sorted(gold):
        partners.setdefault(src_id, []).append(tgt_id)
    rows = [
        {
            "id": f"{split}:{k}",
            "sentence_id": k,
            "split": split,
            "source": v,
            "target": None,
            "gold": partners.get(k, []),
        }
        for k, v in source.items()
    ]
    rows += [
        {"id": f"{split}:{k}", "sentence_id": k, "split": split, "source": None, "target": v, "gold": []}
        for k, v in target.items()
    ]
    return rows


def threshold_split_of(task: TaskSpec) -> str:
    """The split whose gold pairs choose the threshold (``params.threshold_split``, default ``dev``)."""
    split = str(task.params.get("threshold_split", DEFAULT_THRESHOLD_SPLIT))
    if split in FORBIDDEN_THRESHOLD_SPLITS:
        raise HarnessError(
            f"task {task.name!r}: the mining threshold must not be chosen on {split!r}",
            field="params.threshold_split",
        )
    return split


def _folder(dataset: DatasetSpec, language: str, base_dir: Path) -> Path:
    if dataset.path is None:
        raise HarnessError("format 'bucc' needs 'path': the folder of the BUCC files", field="dataset.path")
    folder = Path(
        dataset.path.format(
            data_dir=str(default_data_dir()), lang=language, code=dataset.code_for(language), split=""
        )
    )
    return folder if folder.is_absolute() else base_dir / folder


def _splits(task: TaskSpec, split: str) -> list[str]:
    threshold_split = threshold_split_of(task)
    return [split] if split == threshold_split else [split, threshold_split]


def bucc_source_files(
    task: TaskSpec, *, split: str, language: str, base_dir: Path, dataset: DatasetSpec | None = None
) -> tuple[Path, ...]:
    """Every file the rows of ``split`` depend on (its own and the threshold split's); all must exist."""
    dataset = dataset or task.dataset
    folder = _folder(dataset, language, base_dir)
    files: list[Path] = []
    for name in _splits(task, split):
        files.extend(bucc_files(folder, dataset.code_for(language), dataset.split_names.get(name, name)))
    for path in files:
        if not path.is_file():
            raise HarnessError(f"BUCC file not found: {path}", file=path, field="dataset.path")
    return tuple(files)


def load_bucc_rows(
    task: TaskSpec,
    *,
    split: str,
    language: str,
    base_dir: Path,
    dataset: DatasetSpec | None = None,
    limit: int | None = None,
) -> datasets.Dataset:
    """The rows of ``split`` followed by the rows of the threshold split (see the module docstring)."""
    dataset = dataset or task.dataset
    folder = _folder(dataset, language, base_dir)
    rows: list[dict[str, Any]] = []
    for name in _splits(task, split):
        source, target, gold = read_bucc(
            folder, dataset.code_for(language), dataset.split_names.get(name, name)
        )
        if limit is not None:
            source, target, gold = subset(source, target, gold, limit)
        rows += sentence_rows(source, target, gold, name)
    return datasets.Dataset.from_list(rows, features=ROW_FEATURES)
