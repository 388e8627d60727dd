"""Bitext mining (BUCC 2018, as XTREME runs it): ratio-margin candidates, threshold chosen on dev gold pairs.

The method (LASER's ``mine_bitexts.py`` as copied into XTREME's ``third_party/utils_retrieve.py``):

1. Sentences of both sides are embedded by the retrieval kind's ``forward`` (pooled hidden states of
   ``params.layer`` with ``params.pooling``, optional ``params.prefix``) and L2-normalised.
2. ``knn``: the k = 4 (``params.k``) most cosine-similar sentences of the other side, in bounded memory
   (query chunks × key chunks of ``params.chunk`` with a running top-k; one similarity block at a time);
   ``knn_both`` takes both directions from the same blocks (rows forward, columns backward).
3. ``margin_scores``: ratio margin ``cos(x, y) / ((mean_k fwd(x) + mean_k bwd(y)) / 2)``; every source
   keeps its best-margin target among its k neighbours, every target its best-margin source.
4. ``max_candidates`` ("max" retrieval): all those pairs by descending margin, each sentence used at most
   once (a pair is skipped when its source or its target already appeared in a higher pair).
5. ``mine``: the candidates with margin ``>= threshold``. The threshold is the F1-maximising cut on the
   gold pairs of the threshold split (``params.threshold_split``, default ``dev`` = the released
   "sample" data; ``test`` is refused), ``harness.scoring.bucc.best_threshold``.

As in XTREME, identical sentences are embedded once (``params.unify``, default true), and a sentence that
occurs under several ids takes part in the neighbourhoods but is never output.

Rows: ``harness.data.bucc`` (one row per sentence of both sides, the scored split's and the threshold
split's; the layout is in its docstring), loaded by ``harness.data.loaders`` for a dataset with ``format:
bucc``. The runner then calls the same features → predict → score → baseline sequence as for any kind;
the threshold, its split and the dev F1 travel with every prediction (below).

Predictions: one ``Prediction`` per pair in (mined ∪ gold) of the scored split, best margin first:
``id`` = ``"xx-id<TAB>en-id"`` (a submission line), ``prediction`` 1 if mined else 0, ``label`` 1 if gold
else 0, ``correct`` = prediction == label, extras ``margin`` (None for a gold pair that was never a
candidate), ``threshold``, ``threshold_split`` and ``threshold_f1`` (dev F1, a fraction). The lines with ``prediction == 1`` are the submission
file; ``score`` rebuilds both line lists from the predictions and returns ``bucc_scores(...) / 100``.
A split scored with its own threshold split (dev on dev) is flagged ``threshold_on_scored_split``.
With no gold pair and nothing mined there are no predictions (all scores 0). A task file sets ``main_metric: f1`` (``metrics: [f1, precision, recall]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import datasets
import numpy as np
import torch

from harness.catalogue.schema import TaskSpec
from harness.data.bucc import threshold_split_of
from harness.errors import HarnessError
from harness.kinds.base import Baseline, BaselineInputs, PredictInputs, Prediction
from harness.kinds.params import MiningParams
from harness.kinds.registry import kind_params
from harness.kinds.retrieval import Retrieval, sentence_features
from harness.scoring.bucc import best_threshold, bucc_scores, pair_line, prf

DEFAULT_K = 4
DEFAULT_CHUNK = 4096
ROW_COLUMNS = ("sentence_id", "split", "source", "target", "gold")

Pair = tuple[str, str]


def mining_params(task: TaskSpec) -> MiningParams:
    """Retrieval's embedding parameters plus ``k``, ``chunk``, ``unify`` and ``threshold_split``."""
    return kind_params(task)


# ---- nearest neighbours in bounded memory ---------------------------------------------------------------


def unit_rows(x: np.ndarray, *, in_place: bool = False) -> np.ndarray:
    """Rows scaled to unit L2 norm (float64 stays float64, anything else becomes float32).

    Rows that are already unit length come back as they are (no copy); ``in_place`` scales ``x`` itself
    when it is a C-contiguous float array.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-d array of vectors, got shape {x.shape}")
    x = np.ascontiguousarray(x)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x))[:, None]  # no n × dim temporary
    if not np.isfinite(norms).all():
        raise ValueError("vectors contain NaN or infinite values (or overflow when squared)")
    if np.all(np.abs(norms - 1) <= 1e-6):
        return x
    if in_place and x.flags.writeable:
        x /= np.maximum(norms, 1e-12)
        return x
    return (x / np.maximum(norms, 1e-12)).astype(x.dtype, copy=False)


class _TopK:
    """A running top-k (values descending, with their global indices) for a fixed set of rows."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.values: torch.Tensor | None = None
        self.indices: torch.Tensor | None = None

    def add(self, values: torch.Tensor, indices: torch.Tensor) -> None:
        if self.values is None or self.indices is None:
            self.values, self.indices = values, indices
            return
        values = torch.cat((self.values, values), dim=1)
        indices = torch.cat((self.indices, indices), dim=1)
        self.values, position = torch.topk(values, min(self.k, values.shape[1]), dim=1)
        self.indices = torch.gather(indices, 1, position)

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        assert self.values is not None and self.indices is not None
        return self.values.cpu().numpy(), self.indices.cpu().numpy()


class _ColumnTopK:
    """A running top-k down the columns of the similarity blocks: the backward (y → x) neighbours.

    A column-wise top-k over a row-major block is strided and slow, but an entry can only enter a
    column's top-k if it beats the column's current k-th value, and after the first row blocks few do.
    So one comparison finds those survivors, which are merged by sorting; a block with many survivors
    (the first one) takes the dense column-wise top-k instead. Ties keep the lower row index.
    """

    def __init__(self, n_cols: int, k: int, dtype: torch.dtype, device: str) -> None:
        self.k = k
        self.values = torch.full((n_cols, k), -torch.inf, dtype=dtype, device=device)
        self.indices = torch.full((n_cols, k), -1, dtype=torch.int64, device=device)

    def add_block(self, block: torch.Tensor, row_start: int, col_start: int) -> None:
        cols = slice(col_start, col_start + block.shape[1])
        above = block > self.values[cols, -1]
        count = int(torch.count_nonzero(above))
        if count == 0:
            return
        if count > self.k * block.shape[1]:
            values, rows = torch.topk(block.T, min(self.k, block.shape[0]), dim=1)
            self._merge_dense(cols, values, rows + row_start)
        else:
            rows, columns = above.nonzero(as_tuple=True)
            self._merge_sparse(columns + col_start, block[rows, columns], rows + row_start)

    def _merge_dense(self, cols: slice, values: torch.Tensor, rows: torch.Tensor) -> None:
        values = torch.cat((self.values[cols], values), dim=1)
        rows = torch.cat((self.indices[cols], rows), dim=1)
        self.values[cols], position = torch.topk(values, self.k, dim=1)
        self.indices[cols] = torch.gather(rows, 1, position)

    def _merge_sparse(self, columns: torch.Tensor, values: torch.Tensor, rows: torch.Tensor) -> None:
        touched = torch.unique(columns)  # sorted
        all_columns = torch.cat((touched.repeat_interleave(self.k), columns))
        all_values = torch.cat((self.values[touched].reshape(-1), values))
        all_rows = torch.cat((self.indices[touched].reshape(-1), rows))
        order = torch.argsort(all_values, descending=True, stable=True)
        order = order[torch.argsort(all_columns[order], stable=True)]  # by column, best first within
        _, counts = torch.unique_consecutive(all_columns[order], return_counts=True)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(len(order), device=order.device) - starts.repeat_interleave(counts)
        keep = order[rank < self.k]
        self.values[touched] = all_values[keep].view(-1, self.k)
        self.indices[touched] = all_rows[keep].view(-1, self.k)

    def numpy(self) -> tuple[np.ndarray, np.ndarray]:
        return self.values.cpu().numpy(), self.indices.cpu().numpy()


def _blocks(n: int, chunk: int) -> list[tuple[int, int]]:
    return [(start, min(start + chunk, n)) for start in range(0, n, chunk)]


def _knn_pass(
    x: np.ndarray, y: np.ndarray, k: int, chunk: int, device: str, backward: bool
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray] | None]:
    """Top-k of every row of ``x`` among ``y`` (and with ``backward`` of every row of ``y`` among ``x``).

    Inputs are unit rows. One (chunk × chunk) similarity block exists at a time, in a reused buffer; the
    backward top-k comes from the same blocks (column-wise), so both directions cost one matrix product.
    """
    dtype = torch.from_numpy(x[:0]).dtype
    keys = torch.from_numpy(y)
    k_fwd, k_bwd = min(k, len(y)), min(k, len(x))
    fwd_sims = np.zeros((len(x), k_fwd), dtype=x.dtype)
    fwd_idx = np.zeros((len(x), k_fwd), dtype=np.int64)
    columns = _ColumnTopK(len(y), k_bwd, dtype, device) if backward else None
    buffer = torch.empty(min(chunk, len(x)) * min(chunk, len(y)), dtype=dtype, device=device)
    for q_start, q_end in _blocks(len(x), chunk) if k_fwd and k_bwd else []:
        queries = torch.from_numpy(x[q_start:q_end]).to(device)
        forward = _TopK(k_fwd)
        for k_start, k_end in _blocks(len(y), chunk):
            block = buffer[: (q_end - q_start) * (k_end - k_start)].view(q_end - q_start, k_end - k_start)
            torch.mm(queries, keys[k_start:k_end].to(device).T, out=block)
            values, indices = torch.topk(block, min(k_fwd, k_end - k_start), dim=1)
            forward.add(values, indices + k_start)
            if columns is not None:
                columns.add_block(block, q_start, k_start)
        fwd_sims[q_start:q_end], fwd_idx[q_start:q_end] = forward.numpy()
    if columns is None:
        return (fwd_sims, fwd_idx), None
    return (fwd_sims, fwd_idx), columns.numpy()


def knn(
    x: np.ndarray, y: np.ndarray, k: int, chunk: int = DEFAULT_CHUNK, *, device: str = "cpu"
) -> tuple[np.ndarray, np.ndarray]:
    """(similarities, indices), each (len(x), min(k, len(y))): every row's top-k cosine neighbours in ``y``.

    Similarities descend along each row. Peak extra memory is one (chunk × chunk) block plus O(len(x) · k),
    never a len(x) × len(y) matrix.
    """
    if k < 1 or chunk < 1:
        raise ValueError("k and chunk must be positive")
    forward, _ = _knn_pass(unit_rows(x), unit_rows(y), k, chunk, device, backward=False)
    return forward


def knn_both(
    x: np.ndarray, y: np.ndarray, k: int, chunk: int = DEFAULT_CHUNK, *, device: str = "cpu"
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``(knn(x, y, k), knn(y, x, k))`` from one pass over the similarity blocks (half the matrix products)."""
    if k < 1 or chunk < 1:
        raise ValueError("k and chunk must be positive")
    forward, backward = _knn_pass(unit_rows(x), unit_rows(y), k, chunk, device, backward=True)
    assert backward is not None
    return forward, backward


# ---- ratio margin and candidates ------------------------------------------------------------------------


def ratio_margin(cos: np.ndarray, fwd_mean: np.ndarray, bwd_mean: np.ndarray) -> np.ndarray:
    """``cos / ((fwd_mean + bwd_mean) / 2)``, element-wise."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return cos / ((fwd_mean + bwd_mean) / 2)


@dataclass(frozen=True)
class MarginScores:
    """Every source's best-margin target among its k neighbours, and every target's best source."""

    fwd_best: np.ndarray  # (n_src,) target index
    fwd_score: np.ndarray  # (n_src,) its margin
    bwd_best: np.ndarray  # (n_tgt,) source index
    bwd_score: np.ndarray  # (n_tgt,) its margin
    fwd_mean: np.ndarray  # (n_src,) mean cosine of a source's k nearest targets
    bwd_mean: np.ndarray  # (n_tgt,) mean cosine of a target's k nearest sources


def _best_by_margin(
    sims: np.ndarray, idx: np.ndarray, own_mean: np.ndarray, other_mean: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    margins = ratio_margin(sims.astype(np.float64), own_mean[:, None], other_mean[idx])
    column = np.argmax(margins, axis=1)
    rows = np.arange(len(sims))
    return idx[rows, column], margins[rows, column]


def margin_scores(
    x: np.ndarray, y: np.ndarray, k: int = DEFAULT_K, chunk: int = DEFAULT_CHUNK, *, device: str = "cpu"
) -> MarginScores:
    """Ratio-margin scores of the forward (x→y) and backward (y→x) k-nn candidates (LASER "mine")."""
    if len(x) == 0 or len(y) == 0:
        nothing = np.zeros(0)
        return MarginScores(
            np.zeros(len(x), np.int64),
            np.zeros(len(x)),
            np.zeros(len(y), np.int64),
            np.zeros(len(y)),
            nothing,
            nothing,
        )
    forward, backward = knn_both(x, y, k, chunk, device=device)
    return margins_from_neighbours(forward, backward)


def margins_from_neighbours(
    forward: tuple[np.ndarray, np.ndarray], backward: tuple[np.ndarray, np.ndarray]
) -> MarginScores:
    """``MarginScores`` from (similarities, indices) of the x→y and y→x k nearest neighbours."""
    (fwd_sims, fwd_idx), (bwd_sims, bwd_idx) = forward, backward
    fwd_mean = fwd_sims.astype(np.float64).mean(axis=1)
    bwd_mean = bwd_sims.astype(np.float64).mean(axis=1)
    fwd_best, fwd_score = _best_by_margin(fwd_sims, fwd_idx, fwd_mean, bwd_mean)
    bwd_best, bwd_score = _best_by_margin(bwd_sims, bwd_idx, bwd_mean, fwd_mean)
    return MarginScores(fwd_best, fwd_score, bwd_best, bwd_score, fwd_mean, bwd_mean)


def max_candidates(scores: MarginScores) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(source indices, target indices, margins): the "max" strategy, each sentence used at most once.

    Forward pairs (i, best target of i) and backward pairs (best source of j, j) in one list, visited by
    descending margin (ties: forward pairs first, then by index); a pair whose source or target was
    already used by a higher pair is dropped.
    """
    n_src, n_tgt = len(scores.fwd_best), len(scores.bwd_best)
    src = np.concatenate((np.arange(n_src), scores.bwd_best)).astype(np.int64)
    tgt = np.concatenate((scores.fwd_best, np.arange(n_tgt))).astype(np.int64)
    margin = np.concatenate((scores.fwd_score, scores.bwd_score)).astype(np.float64)
    seen_src, seen_tgt = [False] * n_src, [False] * n_tgt
    src_list, tgt_list = src.tolist(), tgt.tolist()
    keep: list[int] = []
    for position in np.argsort(-margin, kind="stable").tolist():
        s, t = src_list[position], tgt_list[position]
        if not seen_src[s] and not seen_tgt[t]:
            seen_src[s] = seen_tgt[t] = True
            keep.append(position)
    chosen = np.asarray(keep, dtype=np.int64)
    return src[chosen], tgt[chosen], margin[chosen]


def candidate_pairs(
    src_vecs: np.ndarray,
    src_ids: Sequence[str | None],
    tgt_vecs: np.ndarray,
    tgt_ids: Sequence[str | None],
    *,
    k: int = DEFAULT_K,
    chunk: int = DEFAULT_CHUNK,
    device: str = "cpu",
) -> dict[Pair, float]:
    """{(source id, target id): margin} of the "max" candidates, best first. A None id is never output."""
    if len(src_vecs) != len(src_ids) or len(tgt_vecs) != len(tgt_ids):
        raise ValueError("one id per vector is needed on each side")
    src, tgt, margin = max_candidates(margin_scores(src_vecs, tgt_vecs, k, chunk, device=device))
    pairs: dict[Pair, float] = {}
    for s, t, score in zip(src.tolist(), tgt.tolist(), margin.tolist(), strict=True):
        if src_ids[s] is not None and tgt_ids[t] is not None:
            pairs.setdefault((src_ids[s], tgt_ids[t]), score)
    return pairs


def mine(
    src_vecs: np.ndarray,
    src_ids: Sequence[str | None],
    tgt_vecs: np.ndarray,
    tgt_ids: Sequence[str | None],
    threshold: float,
    *,
    k: int = DEFAULT_K,
    chunk: int = DEFAULT_CHUNK,
    device: str = "cpu",
) -> list[Pair]:
    """The mined pairs: "max" candidates with margin ``>= threshold``, best first."""
    candidates = candidate_pairs(src_vecs, src_ids, tgt_vecs, tgt_ids, k=k, chunk=chunk, device=device)
    return [pair for pair, score in candidates.items() if score >= threshold]


def choose_threshold(candidates: dict[Pair, float], gold: set[Pair]) -> tuple[float, float]:
    """(threshold, F1 as a fraction) maximising F1 of ``candidates`` against ``gold``."""
    threshold, f1 = best_threshold(list(candidates.values()), list(candidates), gold)
    return threshold, f1 / 100


# ---- rows → one split's bitext ------------------------------------------------------------------------


def unify(ids: Sequence[str], texts: Sequence[str]) -> tuple[list[int], list[str | None]]:
    """(positions of the first occurrence of every distinct text, its id or None when the text repeats).

    XTREME embeds each distinct sentence once and drops sentences repeated under several ids.
    """
    first: dict[str, int] = {}
    count: dict[str, int] = {}
    for position, text in enumerate(texts):
        first.setdefault(text, position)
        count[text] = count.get(text, 0) + 1
    keep = list(first.values())
    return keep, [ids[p] if count[texts[p]] == 1 else None for p in keep]


@dataclass(frozen=True)
class Bitext:
    """One split's sentences, ready to mine: per side the vectors and output ids; the gold pairs."""

    src_vecs: np.ndarray
    src_ids: list[str | None]
    tgt_vecs: np.ndarray
    tgt_ids: list[str | None]
    gold: set[Pair]

    def candidates(self, params: MiningParams, device: str = "cpu") -> dict[Pair, float]:
        return candidate_pairs(
            self.src_vecs,
            self.src_ids,
            self.tgt_vecs,
            self.tgt_ids,
            k=params.k,
            chunk=params.chunk,
            device=device,
        )


def row_columns(rows: datasets.Dataset) -> dict[str, list[Any]]:
    """The mining columns of ``rows`` as lists; a clear error when the rows are not in the BUCC layout."""
    missing = [c for c in ROW_COLUMNS if c not in rows.column_names]
    if missing:
        raise HarnessError(
            f"mining rows need the columns {list(ROW_COLUMNS)} (harness.data.bucc.load_bucc_rows); missing {missing}",
            field="dataset.format",
        )
    return rows.select_columns(list(ROW_COLUMNS)).to_dict()


def bitext(
    vectors: np.ndarray, columns: dict[str, list[Any]], split: str, unify_texts: bool = True
) -> Bitext:
    """The sentences of ``split`` among the rows (``columns`` from ``row_columns``) and their vectors."""
    sides: dict[str, tuple[list[int], list[str]]] = {"source": ([], []), "target": ([], [])}
    gold: set[Pair] = set()
    for position, (row_split, sentence_id, source, gold_ids) in enumerate(
        zip(columns["split"], columns["sentence_id"], columns["source"], columns["gold"], strict=True)
    ):
        if row_split != split:
            continue
        side = "source" if source is not None else "target"
        sides[side][0].append(position)
        sides[side][1].append(columns[side][position])
        gold.update((sentence_id, t) for t in gold_ids or [])
    parts = []
    for positions, texts in sides.values():
        ids = [columns["sentence_id"][p] for p in positions]
        keep, out_ids = unify(ids, texts) if unify_texts else (list(range(len(ids))), list(ids))
        side_vectors = vectors[[positions[p] for p in keep]]  # a copy: normalise it in place
        parts.append((unit_rows(side_vectors, in_place=True), out_ids))
    (src_vecs, src_ids), (tgt_vecs, tgt_ids) = parts
    return Bitext(src_vecs, src_ids, tgt_vecs, tgt_ids, gold)


def scored_split(columns: dict[str, list[Any]], threshold_split: str) -> str:
    """The split the rows are scored on: the one that is not the threshold split (or that one alone)."""
    others = sorted(set(columns["split"]) - {threshold_split})
    if len(others) > 1:
        raise HarnessError(f"mining rows mix the splits {others}; expected one scored split", field="splits")
    if threshold_split not in set(columns["split"]):
        raise HarnessError(
            f"the rows carry no {threshold_split!r} sentences to choose the threshold on "
            "(load them with harness.data.bucc.load_bucc_rows)",
            field="params.threshold_split",
        )
    return others[0] if others else threshold_split


def mine_rows(
    vectors: np.ndarray, columns: dict[str, list[Any]], params: MiningParams, device: str = "cpu"
) -> list[Prediction]:
    """Threshold on the threshold split's gold pairs, then the scored split's predictions (module docstring)."""
    threshold_split = params.threshold_split
    scored = scored_split(columns, threshold_split)
    dev = bitext(vectors, columns, threshold_split, params.unify)
    if not dev.gold:
        raise HarnessError(
            f"no gold pairs in the {threshold_split!r} split to choose the threshold on",
            field="params.threshold_split",
        )
    threshold, dev_f1 = choose_threshold(dev.candidates(params, device), dev.gold)
    test = dev if scored == threshold_split else bitext(vectors, columns, scored, params.unify)
    candidates = test.candidates(params, device)
    mined = {pair for pair, score in candidates.items() if score >= threshold}
    ranked = [p for p in candidates if p in mined or p in test.gold] + sorted(test.gold - candidates.keys())
    extra = {"threshold": threshold, "threshold_split": threshold_split, "threshold_f1": dev_f1}
    if scored == threshold_split:
        extra["threshold_on_scored_split"] = True
    return [
        Prediction(
            pair_line(*pair),
            int(pair in mined),
            int(pair in test.gold),
            float((pair in mined) == (pair in test.gold)),
            {"margin": candidates.get(pair), **extra},
        )
        for pair in ranked
    ]


class Mining(Retrieval):
    """BUCC bitext mining; model loading, collation and embedding are the retrieval kind's."""

    name = "mining"
    trains = False

    def features(
        self, rows: datasets.Dataset, tokenizer: Any, task: TaskSpec, max_length: int
    ) -> datasets.Dataset:
        prefix = mining_params(task).prefix
        texts = []
        for number, (source, target) in enumerate(zip(rows["source"], rows["target"], strict=True)):
            text = source if source is not None else target
            if text is None:
                raise HarnessError(
                    f"mining row {number} has neither a source nor a target sentence", field="columns"
                )
            texts.append(prefix + text)
        return sentence_features(texts, tokenizer, max_length)

    def decode(self, outputs: list[np.ndarray], inputs: PredictInputs) -> list[Prediction]:
        """The rows carry their sentence ids: the runner's job ``language`` is not needed."""
        columns = row_columns(inputs.rows)
        return mine_rows(np.stack(outputs), columns, mining_params(inputs.task), device=str(inputs.device))

    def score(self, predictions: Sequence[Prediction], task: TaskSpec) -> dict[str, float]:
        gold = [p.id for p in predictions if p.label == 1]
        mined = [p.id for p in predictions if p.prediction == 1]
        return {name: value / 100 for name, value in bucc_scores(gold, mined).items()}

    def trivial(self, inputs: BaselineInputs) -> Baseline:
        """Expected scores of pairing every source sentence with a uniformly random English sentence."""
        columns = row_columns(inputs.eval_rows)
        scored = scored_split(columns, threshold_split_of(inputs.task))
        n_src = n_tgt = n_gold = 0
        for split, source, gold in zip(columns["split"], columns["source"], columns["gold"], strict=True):
            if split == scored:
                n_src += source is not None
                n_tgt += source is None
                n_gold += len(gold or [])
        expected_correct = n_gold / n_tgt if n_tgt else 0.0
        precision, recall, f1 = prf(expected_correct, n_src, n_gold)
        return Baseline(
            "random English sentence per source (expected)",
            {"f1": f1, "precision": precision, "recall": recall},
        )


KIND = Mining()
