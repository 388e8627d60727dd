"""UD-POS's hub fallback pools every treebank of a language, as XTREME does."""

from __future__ import annotations

import datasets
import pytest

from harness.catalogue.schema import DatasetSpec
from harness.data import loaders
from harness.errors import HarnessError

TREEBANKS = {("en_ewt", "train"): ["a", "b"], ("en_gum", "train"): ["c"], ("en_pud", "test"): ["d"]}


def fake_load(path: str, name: str, split: str, revision: str | None = None) -> datasets.Dataset:
    if (name, split) not in TREEBANKS:
        raise ValueError(f'Unknown split "{split}". Should be one of ["test"].')
    return datasets.Dataset.from_dict({"tokens": [[w] for w in TREEBANKS[(name, split)]]})


def test_pooled_configs_concatenate_and_skip_those_without_the_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loaders.datasets, "load_dataset", fake_load)
    spec = DatasetSpec.model_validate(
        {
            "format": "hub",
            "hub": {"path": "ud", "name": "{code}"},
            "language_codes": {"en": "en_ewt+en_gum+en_pud"},
        }
    )
    assert loaders._load_hub(spec, "train", "en")["tokens"] == [["a"], ["b"], ["c"]]
    assert loaders._load_hub(spec, "test", "en")["tokens"] == [["d"]]
    with pytest.raises(HarnessError, match="none of the pooled hub configs"):
        loaders._load_hub(spec, "dev", "en")
