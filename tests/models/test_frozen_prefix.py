"""The frozen-layer cache: replayed states equal the normal forward, keys follow the frozen weights,
anything it cannot replay exactly falls through, the model comes back unchanged, training still trains."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from transformers import AutoModel, AutoModelForSequenceClassification, DataCollatorWithPadding

from harness.catalogue.schema import Hyperparameters
from harness.errors import HarnessError
from harness.models import frozen_prefix
from harness.models.frozen_prefix import PrefixStore, frozen_prefix_cache, right_padded_lengths
from harness.training.finetune import finetune
from tests.tiny_fixtures import build_tiny_model


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def _classifier(folder: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).eval()


def _batch(rows: list[list[int]]) -> dict[str, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([r + [0] * (width - len(r)) for r in rows])
    return {"input_ids": ids, "attention_mask": (ids != 0).long(), "token_type_ids": torch.zeros_like(ids)}


ROWS = [[2, 5, 6, 7, 8, 9, 3], [2, 10, 11, 3], [2, 12, 13, 14, 3]]


def test_replayed_logits_equal_the_normal_forward_and_hit_the_store(tiny_model_dir: Path) -> None:
    model = _classifier(tiny_model_dir)
    batch = _batch(ROWS)
    with torch.no_grad():
        expected = model(**batch).logits
    store = PrefixStore(1 << 20)
    with frozen_prefix_cache(model, 1, store) as prefix, torch.no_grad():
        assert prefix is not None
        first = model(**batch).logits
        assert (store.misses, store.hits) == (3, 0)
        second = model(**batch).logits
        assert store.hits == 3
        # the same sentence in another batch (other padding width, other neighbours): replayed, same logits
        regrouped = model(**_batch([ROWS[1], [2, 20, 21, 22, 23, 24, 25, 26, 3]])).logits
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(second, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(regrouped[0], expected[1], atol=1e-5, rtol=0)
    assert (
        store.hits == 4 and store.bytes == (7 + 4 + 5 + 9) * 32 * 4
    )  # one fp32 row of states per real token


def test_the_model_is_restored_after_the_block(tiny_model_dir: Path) -> None:
    model = _classifier(tiny_model_dir)
    keys = list(model.state_dict())
    with frozen_prefix_cache(model, 1, PrefixStore(1 << 20)) as prefix:
        assert prefix is not None
        assert type(model.bert.encoder.layer) is not torch.nn.ModuleList
    assert type(model.bert.encoder.layer) is torch.nn.ModuleList
    assert "forward" not in vars(model.bert.embeddings) and "forward" not in vars(model.bert)
    assert list(model.state_dict()) == keys


def test_changed_frozen_weights_never_replay_stale_states(tiny_model_dir: Path) -> None:
    model = _classifier(tiny_model_dir)
    batch = _batch(ROWS)
    store = PrefixStore(1 << 20)
    with frozen_prefix_cache(model, 1, store), torch.no_grad():
        model(**batch)
    with torch.no_grad():
        model.bert.encoder.layer[0].output.dense.weight.mul_(1.5)
        expected = model(**batch).logits
    with frozen_prefix_cache(model, 1, store), torch.no_grad():
        replayed = model(**batch).logits
    assert store.hits == 0
    torch.testing.assert_close(replayed, expected, atol=1e-5, rtol=0)


def test_what_cannot_be_replayed_exactly_falls_through(tiny_model_dir: Path) -> None:
    model = _classifier(tiny_model_dir)
    left_padded = {"input_ids": torch.tensor([[0, 0, 2, 5, 3], [2, 6, 7, 8, 3]])}
    left_padded["attention_mask"] = (left_padded["input_ids"] != 0).long()
    with torch.no_grad():
        expected = model(**left_padded).logits
    store = PrefixStore(1 << 20)
    with frozen_prefix_cache(model, 1, store), torch.no_grad():
        assert torch.allclose(model(**left_padded).logits, expected, atol=1e-6)
        hidden = model(**_batch(ROWS), output_hidden_states=True).hidden_states
    assert store.misses == 0 and store.bytes == 0
    assert len(hidden) == 3  # embeddings + both layers: the normal forward ran


def test_last_layer_pooling_is_replayed_for_a_bare_encoder(tiny_model_dir: Path) -> None:
    model = AutoModel.from_pretrained(tiny_model_dir).eval()
    batch = _batch(ROWS)
    with torch.no_grad():
        expected = model(**batch, output_hidden_states=True).hidden_states[-1]
    store = PrefixStore(1 << 20)
    with frozen_prefix_cache(model, 2, store), torch.no_grad():
        model(**batch)
        replayed = model(**batch).last_hidden_state
    assert store.hits == 3
    real = batch["attention_mask"].bool()
    torch.testing.assert_close(replayed[real], expected[real], atol=1e-5, rtol=0)


def test_a_disagreeing_probe_turns_the_cache_off(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _classifier(tiny_model_dir)
    monkeypatch.setattr(frozen_prefix.FrozenPrefix, "agrees_with_normal_forward", lambda self: 0.5)
    with frozen_prefix_cache(model, 1, PrefixStore(1 << 20)) as prefix:
        assert prefix is None
        assert type(model.bert.encoder.layer) is torch.nn.ModuleList


def test_cache_size_zero_or_no_frozen_layers_is_off(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = _classifier(tiny_model_dir)
    with frozen_prefix_cache(model, 0, PrefixStore(1 << 20)) as prefix:
        assert prefix is None
    with frozen_prefix_cache(model, 1, PrefixStore(0)) as prefix:
        assert prefix is None
    monkeypatch.setenv(frozen_prefix.CACHE_MB_ENV, "lots")
    with pytest.raises(HarnessError, match="HARNESS_PREFIX_CACHE_MB"):
        frozen_prefix.cache_megabytes()


def test_store_evicts_least_recently_used_within_its_budget() -> None:
    import numpy as np

    store = PrefixStore(3 * 400)
    for key in (b"a", b"b", b"c"):
        store.put(key, np.zeros(100, dtype=np.float32))
    assert store.get(b"a") is not None  # a is now the most recent
    store.put(b"d", np.zeros(100, dtype=np.float32))
    assert store.get(b"b") is None and store.get(b"a") is not None and store.get(b"d") is not None
    assert store.bytes == 1200


@given(st.lists(st.lists(st.booleans(), min_size=4, max_size=4), min_size=1, max_size=5))
def test_right_padded_lengths_accepts_exactly_right_padding(mask_rows: list[list[bool]]) -> None:
    mask = torch.tensor(mask_rows, dtype=torch.long)
    ids = torch.ones_like(mask)
    right_padded = all(row == sorted(row, reverse=True) and row[0] for row in mask_rows)
    lengths = right_padded_lengths(ids, mask)
    if right_padded:
        assert lengths == [sum(row) for row in mask_rows]
    else:
        assert lengths is None


def _train(folder: Path, cache: bool) -> tuple[torch.nn.Module, dict[str, torch.Tensor], object]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts = [" ".join(f"w{(i * 7 + j) % 60}" for j in range(3 + i % 5)) for i in range(24)]
    encoded = tokenizer(texts)
    features = datasets.Dataset.from_dict(
        {
            **encoded,
            "labels": [i % 3 for i in range(24)],
            "length": [len(x) for x in encoded["input_ids"]],
        }
    )
    pad = DataCollatorWithPadding(tokenizer)

    def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
        return pad([{k: v for k, v in r.items() if k != "length"} for r in rows])

    hp = Hyperparameters(
        epochs=2, batch_size=8, learning_rate=1e-2, freeze_layers=1, cache_frozen_layers=cache
    )
    outcome = finetune(model, features, collate, hp, seed=1)
    return model, before, outcome


@pytest.mark.parametrize("cache", [True, False])
def test_training_with_replayed_layers_keeps_them_frozen_and_trains_the_rest(
    tiny_model_dir: Path, cache: bool
) -> None:
    model, before, outcome = _train(tiny_model_dir, cache)
    assert outcome.replayed_frozen_layers == (1 if cache else 0)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert not any(n.startswith(("bert.embeddings.", "bert.encoder.layer.0.")) for n in changed)
    assert any(n.startswith("bert.encoder.layer.1.") for n in changed)
    assert type(model.bert.encoder.layer) is torch.nn.ModuleList
