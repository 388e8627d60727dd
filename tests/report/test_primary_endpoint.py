"""The grid declares the contrast's primary endpoint; the verdict reads it from the records."""

from __future__ import annotations

import sys
from pathlib import Path

import pydantic
import pytest

from harness.catalogue.loader import load_document
from harness.catalogue.schema import GridSpec
from harness.report.verdict import GAP_ENDPOINT, IN_DOMAIN_ENDPOINT, store_verdict
from harness.results.schema import Record

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "browser"))
from site_store import EN, build_site_store  # noqa: E402

GRID = Path(__file__).resolve().parents[2] / "tasks" / "grids" / "paper.yaml"


def _declaring(records: list[Record], endpoint: str | None, only: str | None = None) -> list[Record]:
    out = []
    for r in records:
        if endpoint is not None and (only is None or r.checkpoint.name == only):
            r = r.model_copy(update={"settings": {**r.settings, "primary_endpoint": endpoint}})
        out.append(r)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    return build_site_store(tmp_path_factory.mktemp("endpoint") / "results")


def test_the_grid_field_defaults_and_rejects_unknown_endpoints() -> None:
    spec = load_document(GRID).spec
    assert isinstance(spec, GridSpec) and spec.primary_endpoint == GAP_ENDPOINT
    data = spec.model_dump() | {"primary_endpoint": IN_DOMAIN_ENDPOINT}
    assert GridSpec.model_validate(data).primary_endpoint == IN_DOMAIN_ENDPOINT
    with pytest.raises(pydantic.ValidationError, match="shifted_gap_difference"):
        GridSpec.model_validate(data | {"primary_endpoint": "best_language"})


def test_the_verdict_uses_the_declared_endpoint(store) -> None:  # noqa: ANN001
    records = store.records()
    assert store_verdict(store, _declaring(records, None), n_boot=200).endpoint == GAP_ENDPOINT
    declared = store_verdict(store, _declaring(records, IN_DOMAIN_ENDPOINT), n_boot=200)
    assert declared.endpoint == IN_DOMAIN_ENDPOINT and declared.estimate is not None
    gap = store_verdict(store, _declaring(records, GAP_ENDPOINT), n_boot=200)
    assert gap.estimate != declared.estimate


def test_grids_that_disagree_fall_back_to_the_default_and_say_so(store) -> None:  # noqa: ANN001
    mixed = _declaring(_declaring(store.records(), GAP_ENDPOINT), IN_DOMAIN_ENDPOINT, only=EN)
    verdict = store_verdict(store, mixed, n_boot=200)
    assert verdict.endpoint == GAP_ENDPOINT
    assert any("different primary endpoints" in note for note in verdict.notes)
