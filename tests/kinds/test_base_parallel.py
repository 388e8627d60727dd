"""``batched_forward`` on worker threads: the same outputs, in row order, as one batch at a time."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tiny_fixtures import WORDS
from transformers import AutoModel, AutoTokenizer, DataCollatorWithPadding

from harness.catalogue.schema import DatasetSpec, TaskSpec
from harness.errors import HarnessError
from harness.kinds.base import WORKERS_ENV, batched_forward, eval_workers, length_bucketed_batches
from harness.kinds.classification import KIND as CLASSIFICATION


@pytest.fixture(autouse=True)
def _no_workers_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(WORKERS_ENV, raising=False)
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> tuple[torch.nn.Module, Any]:
    return AutoModel.from_pretrained(tiny_model).eval(), AutoTokenizer.from_pretrained(tiny_model)


def ragged_features(tokenizer: Any, n: int = 150, seed: int = 0) -> datasets.Dataset:
    """Sentences of 1–60 words, shuffled, so batches differ in width and rows arrive out of length order."""
    rng = random.Random(seed)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 60))) for _ in range(n)]
    enc = dict(tokenizer(texts, truncation=True, max_length=64))
    enc["length"] = [len(ids) for ids in enc["input_ids"]]
    return datasets.Dataset.from_dict(enc)


def hidden_states(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).last_hidden_state


def run(
    model: torch.nn.Module, tokenizer: Any, features: datasets.Dataset, **kwargs: Any
) -> list[np.ndarray]:
    return batched_forward(
        model, features, DataCollatorWithPadding(tokenizer), hidden_states, batch_size=8, **kwargs
    )


def test_parallel_outputs_equal_sequential_in_row_order(tiny: tuple[torch.nn.Module, Any]) -> None:
    model, tokenizer = tiny
    features = ragged_features(tokenizer)
    sequential = run(model, tokenizer, features, workers=1)
    for workers in (2, 3):
        parallel = run(model, tokenizer, features, workers=workers)
        assert len(parallel) == len(sequential) == len(features)
        for seq_row, par_row in zip(sequential, parallel, strict=True):
            assert seq_row.shape == par_row.shape
            np.testing.assert_allclose(par_row, seq_row, rtol=0, atol=1e-6)
    # Row order: each output is its own row's, as the model gives it for that row alone.
    for index in (0, 17, 149):
        row = {k: torch.tensor([v]) for k, v in features[index].items() if k != "length"}
        with torch.inference_mode():
            alone = model(**row).last_hidden_state[0].numpy()
        np.testing.assert_allclose(parallel[index][: len(alone)], alone, atol=1e-5)


def test_progress_sees_every_row_once_from_the_calling_thread(tiny: tuple[torch.nn.Module, Any]) -> None:
    model, tokenizer = tiny
    features = ragged_features(tokenizer, n=90)
    calls: list[tuple[int, int]] = []
    run(
        model,
        tokenizer,
        features,
        workers=2,
        progress=lambda rows: calls.append((rows, threading.get_ident())),
    )
    batches = length_bucketed_batches(features["length"], 8, 8 * 32)
    assert sum(rows for rows, _ in calls) == len(features)
    assert sorted(rows for rows, _ in calls) == sorted(len(b) for b in batches)
    assert {ident for _, ident in calls} == {threading.get_ident()}


def test_workers_run_single_threaded_ops_and_the_thread_count_comes_back(
    tiny: tuple[torch.nn.Module, Any],
) -> None:
    model, tokenizer = tiny
    features = ragged_features(tokenizer, n=60)
    seen: list[tuple[str, int]] = []

    def spy(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return hidden_states(m, batch)

    torch.set_num_threads(2)
    batched_forward(model, features, DataCollatorWithPadding(tokenizer), spy, batch_size=8, workers=2)
    assert seen and all(name.startswith("batched-forward") and threads == 1 for name, threads in seen)
    assert torch.get_num_threads() == 2

    seen.clear()
    batched_forward(model, features, DataCollatorWithPadding(tokenizer), spy, batch_size=8, workers=1)
    assert {name for name, _ in seen} == {threading.current_thread().name}
    assert {threads for _, threads in seen} == {2}  # the sequential path leaves intra-op threads alone


def test_an_error_in_a_worker_propagates_and_restores_the_thread_count(
    tiny: tuple[torch.nn.Module, Any],
) -> None:
    model, tokenizer = tiny
    features = ragged_features(tokenizer, n=60)

    def failing(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if batch["input_ids"].shape[1] < 20:
            raise ValueError("short batch")
        return hidden_states(m, batch)

    torch.set_num_threads(2)
    with pytest.raises(ValueError, match="short batch"):
        batched_forward(model, features, DataCollatorWithPadding(tokenizer), failing, batch_size=8, workers=2)
    assert torch.get_num_threads() == 2


def test_workers_default_env_override_and_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = torch.device("cpu")
    torch.set_num_threads(2)
    assert eval_workers(cpu) == 2
    assert eval_workers(cpu, 3) == 3
    assert eval_workers(torch.device("cuda"), 4) == 1  # a GPU keeps the sequential path
    monkeypatch.setenv(WORKERS_ENV, "1")
    assert eval_workers(cpu) == 1
    assert eval_workers(cpu, 2) == 2  # an explicit argument wins over the environment
    for bad in ("0", "two", "-1", "1.5"):
        monkeypatch.setenv(WORKERS_ENV, bad)
        with pytest.raises(HarnessError, match=WORKERS_ENV) as error:
            eval_workers(cpu)
        assert "whole number" in str(error.value)
    with pytest.raises(HarnessError, match="workers"):
        eval_workers(cpu, 0)


def test_env_var_one_keeps_everything_on_the_calling_thread(
    tiny: tuple[torch.nn.Module, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, tokenizer = tiny
    names: set[str] = set()

    def spy(m: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        names.add(threading.current_thread().name)
        return hidden_states(m, batch)

    torch.set_num_threads(2)
    monkeypatch.setenv(WORKERS_ENV, "1")
    batched_forward(
        model, ragged_features(tokenizer, n=40), DataCollatorWithPadding(tokenizer), spy, batch_size=8
    )
    assert names == {threading.current_thread().name}


def test_max_padding_is_passed_to_the_bucketing(tiny: tuple[torch.nn.Module, Any]) -> None:
    model, tokenizer = tiny
    features = ragged_features(tokenizer, n=80)
    widths: dict[float, list[int]] = {0.0: [], 0.5: []}
    for max_padding, seen in widths.items():
        batched_forward(
            model,
            features,
            DataCollatorWithPadding(tokenizer),
            lambda m, b, seen=seen: seen.append(b["input_ids"].shape[1]) or hidden_states(m, b),
            batch_size=8,
            max_padding=max_padding,
            workers=1,
        )
    assert len(widths[0.0]) > len(widths[0.5])  # no padding allowed: more, narrower batches


class Cumulative(torch.nn.Module):
    """A model whose every output position depends on its row's whole prefix, cheap enough for hypothesis."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.5))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return (input_ids * attention_mask).float().cumsum(-1) * self.scale


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=60),
    st.integers(min_value=1, max_value=9),
    st.integers(min_value=2, max_value=4),
)
def test_any_lengths_give_the_sequential_rows(lengths: list[int], batch_size: int, workers: int) -> None:
    rng = random.Random(len(lengths))
    ids = [[rng.randint(1, 50) for _ in range(n)] for n in lengths]
    features = datasets.Dataset.from_dict({"input_ids": ids, "length": lengths})

    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in items)
        padded = [item["input_ids"] + [0] * (width - len(item["input_ids"])) for item in items]
        mask = [[1] * len(item["input_ids"]) + [0] * (width - len(item["input_ids"])) for item in items]
        return {"input_ids": torch.tensor(padded), "attention_mask": torch.tensor(mask)}

    model = Cumulative()
    sequential = batched_forward(
        model, features, collate, lambda m, b: m(**b), batch_size=batch_size, workers=1
    )
    parallel = batched_forward(
        model, features, collate, lambda m, b: m(**b), batch_size=batch_size, workers=workers
    )
    for row, seq_row, par_row in zip(ids, sequential, parallel, strict=True):
        np.testing.assert_array_equal(par_row, seq_row)
        np.testing.assert_array_equal(par_row[: len(row)], np.cumsum(row) * 0.5)


def test_a_kind_predicts_the_same_with_and_without_workers(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = TaskSpec(
        name="tiny_cls",
        kind="classification",
        version=1,
        dataset=DatasetSpec(format="tsv", path="unused"),
        labels=["a", "b", "c"],
        languages=["en"],
    )
    rng = random.Random(1)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 50))) for _ in range(70)]
    rows = datasets.Dataset.from_dict(
        {"id": [str(i) for i in range(70)], "text": texts, "label": [rng.choice("abc") for _ in texts]}
    )
    torch.manual_seed(0)
    model = CLASSIFICATION.load_model(str(tiny_model), task)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    features = CLASSIFICATION.features(rows, tokenizer, task, max_length=64)
    # A random head on a tiny BERT says nearly the same logits for every row, so the labels alone prove
    # little: the hook keeps every row's logits, keyed by its token ids, and the thread that made them.
    seen: dict[str, dict[tuple[int, ...], np.ndarray]] = {}
    threads: dict[str, set[str]] = {}

    def keep(module: torch.nn.Module, args: tuple, kwargs: dict[str, Any], output: Any) -> None:
        for ids, mask, logits in zip(
            kwargs["input_ids"], kwargs["attention_mask"], output.logits, strict=True
        ):
            seen[workers][tuple(ids[mask.bool()].tolist())] = logits.numpy().copy()
        threads[workers].add(threading.current_thread().name)

    model.register_forward_hook(keep, with_kwargs=True)
    predicted = {}
    for workers in ("1", "2"):
        seen[workers], threads[workers] = {}, set()
        monkeypatch.setenv(WORKERS_ENV, workers)
        out = CLASSIFICATION.predict(model, features, rows, task, tokenizer, batch_size=8, precision="fp32")
        predicted[workers] = [(p.id, p.prediction, p.label, p.correct) for p in out]
    assert predicted["1"] == predicted["2"]
    assert [label for _, _, label, _ in predicted["1"]] == list(rows["label"])
    assert threads["1"] == {threading.current_thread().name}
    assert all(name.startswith("batched-forward") for name in threads["2"])
    assert seen["1"].keys() == seen["2"].keys() and len(seen["1"]) == len(set(texts))
    for key, logits in seen["1"].items():
        np.testing.assert_allclose(seen["2"][key], logits, rtol=0, atol=1e-6)
