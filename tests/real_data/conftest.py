"""Tests on ../shared/data run when it exists (CI always has it) and are skipped with a reason otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=f"../shared/data not found at {SHARED_DATA}; real-data tests need it")
    for item in items:
        if "real_data" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture
def shared_data(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HARNESS_DATA_DIR", str(SHARED_DATA))
    return SHARED_DATA
