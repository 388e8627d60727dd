"""Extractive QA (XQuAD, MLQA, TyDiQA-GoldP, SQuAD): doc-stride windows, n-best spans, EM and F1.

Features follow XTREME's ``run_squad.py``: the question (cut to ``params.max_query_length`` tokens) is
paired with windows of the context; window ``k`` starts ``k × params.doc_stride`` context tokens in,
so consecutive windows overlap and no context token is lost. Each window keeps the character offsets
of its context tokens (``[-1, -1]`` for question and special tokens), the index of its row and the
position of its first context token in the whole context, so a predicted token span maps back to
``context[start_char:end_char]``. Training windows are labelled with the first gold answer, or with
the CLS index when the answer is not wholly inside the window.

Decoding takes, in every window of an example, the ``params.n_best`` best start and end tokens among
the context tokens, keeps spans with end ≥ start, at most ``params.max_answer_length`` tokens long,
whose start token has its "maximum context" in that window (as XTREME does), and returns the span with
the highest start + end logit over all windows.

Per-example EM/F1 follow ``params.metric_style``: ``squad`` (default, XQuAD and TyDiQA) or ``mlqa``
(language-aware normalisation). MLQA needs the answer language; it comes, first match wins, from the
``language`` keyword of ``predict``/``baseline``, a ``language`` column of the rows, or
``params.language`` (see ``answer_languages``). ``score`` only averages the per-example numbers, so it
needs no language.

Parameters (``params:`` in the task YAML): doc_stride 128, max_query_length 64, n_best 20,
max_answer_length 30, metric_style squad, language (none).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch
from transformers import AutoModelForQuestionAnswering

from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import (
    Baseline,
    BaselineInputs,
    Collate,
    Forward,
    PredictInputs,
    Prediction,
    TaskKind,
    padding_collator,
)
from harness.kinds.params import QAParams
from harness.models.loading import from_pretrained
from harness.scoring.qa import MLQA_LANGUAGES, Normalizer, best_over_golds, normalizer_for

BOOKKEEPING_COLUMNS = ("offset_mapping", "example_index", "doc_start", "length")
LABEL_COLUMNS = ("start_positions", "end_positions")
MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
NOT_CONTEXT = [-1, -1]  # the offset stored for question and special tokens
BASELINE_FALLBACK_CHARS = 30
# A sentence ends at . ! ? before whitespace, at a CJK, Devanagari or Arabic terminator, or at a line break.
SENTENCE_END = re.compile(r"[.!?](?=\s)|[。！？।؟]|\n")


# ---- gold answers and token spans ----------------------------------------------------------------


def gold_answers(value: Any) -> list[tuple[str, int]]:
    """(text, answer_start) pairs from SQuAD-style ``{text: [...], answer_start: [...]}`` or a list of dicts."""
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [(str(t), int(s)) for t, s in zip(value["text"], value["answer_start"], strict=True)]
    return [(str(a["text"]), int(a["answer_start"])) for a in value]


def training_span(answers: Any, context: str) -> tuple[int, int] | None:
    """Character span [start, end) of the first non-empty gold answer, if it is where it says it is.

    XTREME drops a training example whose answer text is not found at its offset; here its windows
    are labelled "no answer" (the CLS index) instead.
    """
    for text, start in gold_answers(answers):
        if text:
            end = start + len(text)
            return (start, end) if context[start:end] == text else None
    return None


def token_span(offsets: Sequence[Sequence[int]], start_char: int, end_char: int) -> tuple[int, int] | None:
    """The smallest run of context tokens covering characters [start_char, end_char), if the window
    holds all of them. When an answer boundary falls inside a token the run covers the whole token."""
    context = [i for i, (a, _) in enumerate(offsets) if a >= 0]
    if not context or end_char <= start_char:
        return None
    if offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return None
    start = next(i for i in context if offsets[i][1] > start_char)
    end = next(i for i in reversed(context) if offsets[i][0] < end_char)
    return (start, end) if end >= start else None


def span_text(context: str, offsets: Sequence[Sequence[int]], start: int, end: int) -> str:
    return context[offsets[start][0] : offsets[end][1]]


# ---- windows ---------------------------------------------------------------------------------------


def require_fast(tokenizer: Any) -> None:
    if not getattr(tokenizer, "is_fast", False):
        raise HarnessError(
            "extractive QA needs a fast (Rust) tokenizer: answers are mapped back through character offsets"
        )


def query_budget(tokenizer: Any, max_length: int, max_query_length: int) -> int:
    """Question tokens allowed: ``max_query_length``, but never more than half the room for text."""
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    if room < 2:
        raise HarnessError(f"max_length {max_length} leaves no room for a question and a context")
    return max(1, min(max_query_length, room // 2))


def truncate_questions(tokenizer: Any, questions: Sequence[str], budget: int) -> list[tuple[str, int]]:
    """Each question cut to at most ``budget`` tokens (at a token boundary), with its token count."""
    texts = [q.lstrip() for q in questions]
    counts = [0] * len(texts)
    todo = list(range(len(texts)))
    while todo:  # a cut text is tokenised again: its last token may come out differently
        enc = tokenizer([texts[i] for i in todo], add_special_tokens=False, return_offsets_mapping=True)
        again = []
        for i, ids, offsets in zip(todo, enc["input_ids"], enc["offset_mapping"], strict=True):
            counts[i] = len(ids)
            if len(ids) > budget:
                cut = min(offsets[budget - 1][1], len(texts[i]) - 1)  # always shorter: no endless loop
                texts[i] = texts[i][:cut]
                again.append(i)
        todo = again
    return list(zip(texts, counts, strict=True))


def encode_windows(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    answers: Sequence[Any],
    row_indices: Sequence[int],
    max_length: int,
    params: QAParams,
) -> dict[str, list]:
    """Windows of a batch of rows, in row order; questions of one token length are tokenised together
    so that one tokenizer ``stride`` (the overlap) gives every window the same ``doc_stride`` step."""
    cut = truncate_questions(
        tokenizer, questions, query_budget(tokenizer, max_length, params.max_query_length)
    )
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    by_length: dict[int, list[int]] = {}
    for i, (_, n_tokens) in enumerate(cut):
        by_length.setdefault(n_tokens, []).append(i)
    answer_spans = [training_span(a, c) for a, c in zip(answers, contexts, strict=True)]
    per_row: list[list[dict[str, Any]]] = [[] for _ in questions]
    for n_tokens, members in by_length.items():
        room = max_length - n_tokens - specials
        step = min(params.doc_stride, room)
        enc = tokenizer(
            [cut[i][0] for i in members],
            [contexts[i] for i in members],
            truncation="only_second",
            max_length=max_length,
            stride=room - step,
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
        )
        for f, local in enumerate(enc["overflow_to_sample_mapping"]):
            i = members[local]
            feature = _window(tokenizer, enc, f, answer_spans[i])
            feature["example_index"] = row_indices[i]
            feature["doc_start"] = len(per_row[i]) * step
            per_row[i].append(feature)
    columns: dict[str, list] = {}
    for feature in (f for row in per_row for f in row):
        for key, value in feature.items():
            columns.setdefault(key, []).append(value)
    return columns


def _window(tokenizer: Any, enc: Any, f: int, answer: tuple[int, int] | None) -> dict[str, Any]:
    input_ids = enc["input_ids"][f]
    sequence_ids = enc.sequence_ids(f)
    offsets = [
        list(o) if s == 1 else NOT_CONTEXT
        for o, s in zip(enc["offset_mapping"][f], sequence_ids, strict=True)
    ]
    cls_index = input_ids.index(tokenizer.cls_token_id) if tokenizer.cls_token_id in input_ids else 0
    span = token_span(offsets, *answer) if answer is not None else None
    start, end = span if span is not None else (cls_index, cls_index)
    feature = {key: enc[key][f] for key in MODEL_INPUTS if key in enc}
    feature.update(offset_mapping=offsets, start_positions=start, end_positions=end, length=len(input_ids))
    return feature


# ---- decoding ------------------------------------------------------------------------------------


@dataclass
class Window:
    offsets: list[list[int]]
    start_logits: np.ndarray
    end_logits: np.ndarray
    doc_start: int

    @property
    def context_tokens(self) -> list[int]:
        return [i for i, (a, _) in enumerate(self.offsets) if a >= 0]


def max_context_windows(windows: Sequence[Window]) -> dict[int, int]:
    """For each context-token position, the window where it has the most context on both sides
    (min(left, right) + 0.01 × window length; the first window wins a tie), as BERT/XTREME decide."""
    best: dict[int, tuple[float, int]] = {}
    for j, window in enumerate(windows):
        n = len(window.context_tokens)
        for k in range(n):
            score = min(k, n - 1 - k) + 0.01 * n
            position = window.doc_start + k
            if position not in best or score > best[position][0]:
                best[position] = (score, j)
    return {position: j for position, (_, j) in best.items()}


def best_span(context: str, windows: Sequence[Window], params: QAParams) -> str:
    """The highest-scoring valid span over all windows of one example ("" when there is none)."""
    owner = max_context_windows(windows)
    best_score, best_text = -np.inf, ""
    for j, window in enumerate(windows):
        tokens = window.context_tokens
        if not tokens:
            continue
        first = tokens[0]
        ctx = np.asarray(tokens)
        starts = ctx[np.argsort(-window.start_logits[ctx], kind="stable")[: params.n_best]]
        ends = ctx[np.argsort(-window.end_logits[ctx], kind="stable")[: params.n_best]]
        for s in starts:
            if owner.get(window.doc_start + int(s) - first) != j:
                continue
            for e in ends:
                if e < s or e - s + 1 > params.max_answer_length:
                    continue
                score = float(window.start_logits[s] + window.end_logits[e])
                if score > best_score:
                    best_score, best_text = score, span_text(context, window.offsets, int(s), int(e))
    return best_text


# ---- language and metric -----------------------------------------------------------------------


def answer_languages(
    rows: datasets.Dataset, task: TaskSpec, params: QAParams, language: str | None = None
) -> list[str | None]:
    """The answer language of each row, for MLQA normalisation (``None`` under ``squad``).

    First match wins: the ``language`` argument (the caller knows the split's language), a
    ``language`` column of the rows (mixed-language sets), ``params.language`` in the task YAML.
    """
    if params.metric_style == "squad":
        return [None] * len(rows)
    if language:
        langs: list[str | None] = [language] * len(rows)
    elif "language" in rows.column_names:
        langs = list(rows["language"])
    elif params.language:
        langs = [params.language] * len(rows)
    else:
        raise HarnessError(
            f"task {task.name!r}: metric_style mlqa needs the answer language: pass language=, "
            "add a 'language' column, or set params.language",
            field="params.language",
        )
    unknown = sorted({str(lang) for lang in langs if lang not in MLQA_LANGUAGES})
    if unknown:
        raise HarnessError(
            f"task {task.name!r}: MLQA normalisation knows no language {', '.join(unknown)}",
            field="params.language",
            allowed=MLQA_LANGUAGES,
        )
    return langs


def row_normalizers(
    rows: datasets.Dataset, task: TaskSpec, params: QAParams, language: str | None
) -> list[Normalizer]:
    cache: dict[str | None, Normalizer] = {}
    out = []
    for lang in answer_languages(rows, task, params, language):
        if lang not in cache:
            cache[lang] = normalizer_for(params.metric_style, lang)
        out.append(cache[lang])
    return out


def score_example(normalize: Normalizer, prediction: str, answers: Any, row_id: str) -> tuple[float, float]:
    golds = [text for text, _ in gold_answers(answers)]
    if not golds:
        raise HarnessError(
            f"question {row_id!r} has no gold answers to score against", field="columns.answers"
        )
    return best_over_golds(normalize, prediction, golds)


def mean_scores(exact: Sequence[float], f1: Sequence[float]) -> dict[str, float]:
    em = float(np.mean(exact)) if len(exact) else 0.0
    f = float(np.mean(f1)) if len(f1) else 0.0
    return {"exact_match": em, "f1": f, "em_f1_mean": (em + f) / 2}


def first_sentence(context: str) -> str:
    """The baseline's answer: the context's first sentence (terminator kept, a line break not), or its
    first 30 characters when no sentence terminator occurs; leading whitespace is skipped."""
    lead = len(context) - len(context.lstrip())
    match = SENTENCE_END.search(context, lead)
    if match is None:
        return context[lead : lead + BASELINE_FALLBACK_CHARS]
    end = match.start() if match.group() == "\n" else match.end()
    return context[lead:end]


# ---- the kind ------------------------------------------------------------------------------------


class ExtractiveQA(TaskKind):
    name = "extractive_qa"
    trains = True

    def load_model(self, source: str, task: TaskSpec, **load_kwargs: Any) -> torch.nn.Module:
        # a start and an end logit: a parent trained as a 7-way classifier must not leave 7 outputs here
        return from_pretrained(
            AutoModelForQuestionAnswering,
            source,
            num_labels=2,
            id2label={0: "start", 1: "end"},
            label2id={"start": 0, "end": 1},
            ignore_mismatched_sizes=True,
            **load_kwargs,
        )

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        require_fast(tokenizer)
        params = QAParams.from_task(task)
        # Plain lists in, one Dataset out: ``Dataset.map`` would fingerprint the tokenizer closure (slow).
        columns = rows.select_columns(["question", "context", "answers"]).to_dict()
        windows = encode_windows(
            tokenizer,
            columns["question"],
            columns["context"],
            columns["answers"],
            list(range(len(rows))),
            max_length,
            params,
        )
        return datasets.Dataset.from_dict(windows)

    def collator(self, tokenizer: Any, task: TaskSpec | None = None, *, keep_labels: bool = True) -> Collate:
        """Pads model inputs; drops the bookkeeping columns (and the labels when ``keep_labels`` is off).
        ``task`` is accepted for callers that pass it to every kind; QA needs nothing from it."""
        return padding_collator(tokenizer, BOOKKEEPING_COLUMNS + (() if keep_labels else LABEL_COLUMNS))

    def inference_collator(self, tokenizer: Any, task: TaskSpec) -> Collate:
        return self.collator(tokenizer, keep_labels=False)

    def forward(self, model: torch.nn.Module, task: TaskSpec) -> Forward:
        def span_logits(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
            out = m(**batch)
            return torch.stack([out.start_logits, out.end_logits], dim=1)

        return span_logits

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        features, rows = inputs.features, inputs.rows
        params = QAParams.from_task(inputs.task)
        normalizers = row_normalizers(rows, inputs.task, params, inputs.language)
        windows: list[list[Window]] = [[] for _ in range(len(rows))]
        for offsets, doc_start, index, out in zip(
            features["offset_mapping"], features["doc_start"], features["example_index"], outputs, strict=True
        ):
            windows[index].append(Window(offsets, out[0], out[1], doc_start))
        predictions = []
        for row, row_windows, normalize in zip(rows, windows, normalizers, strict=True):
            text = best_span(row["context"], row_windows, params)
            exact, f1 = score_example(normalize, text, row["answers"], row["id"])
            golds = [t for t, _ in gold_answers(row["answers"])]
            predictions.append(Prediction(row["id"], text, golds, exact, {"f1": f1}))
        return predictions

    def score(self, predictions: Sequence[Prediction], task: TaskSpec) -> dict[str, float]:
        """Mean per-example EM and F1 as fractions (the official scripts' percent ÷ 100), and their mean."""
        return mean_scores([p.correct for p in predictions], [p.extra["f1"] for p in predictions])

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Answer every question with the first sentence of its context, scored like the model."""
        params = QAParams.from_task(inputs.task)
        normalizers = row_normalizers(inputs.eval_rows, inputs.task, params, inputs.language)
        exact, f1 = [], []
        for row, normalize in zip(inputs.eval_rows, normalizers, strict=True):
            e, f = score_example(normalize, first_sentence(row["context"]), row["answers"], row["id"])
            exact.append(e)
            f1.append(f)
        return Baseline("first sentence of the context", mean_scores(exact, f1))


KIND = ExtractiveQA()
