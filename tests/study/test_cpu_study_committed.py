"""The committed CPU study (leaderboards/cpu-study/): its site regenerates byte-identically from its packed
results, and README states the verdict those results give."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from harness.report.site import render_site
from harness.report.verdict import store_verdict
from harness.results.pack import is_packed
from harness.results.store import ResultsStore

REPO = Path(__file__).resolve().parents[2]
STUDY = REPO / "leaderboards" / "cpu-study"
RESULTS = STUDY / "results"
SITE = STUDY / "site"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packed results copied beside an empty site folder, in the committed layout."""
    root = tmp_path_factory.mktemp("cpu-study")
    shutil.copytree(RESULTS, root / "results")
    return root


def test_the_study_is_committed_packed_and_small() -> None:
    assert is_packed(RESULTS), "leaderboards/cpu-study/results is not a packed store (harness pack)"
    assert not list(RESULTS.rglob("*.safetensors")) and not list(RESULTS.rglob("*.predictions.jsonl"))
    size = sum(p.stat().st_size for p in STUDY.rglob("*") if p.is_file())
    assert size < 20 * 2**20, f"the committed study is {size / 2**20:.1f} MiB (budget 20)"


@pytest.mark.slow
def test_the_committed_site_regenerates_byte_identically(study_copy: Path) -> None:
    store = ResultsStore(study_copy / "results")
    render_site(store.records(), study_copy / "site", store.root)
    fresh, committed = _files(study_copy / "site"), _files(SITE)
    assert sorted(fresh) == sorted(committed)
    differ = [name for name in committed if fresh[name] != committed[name]]
    assert not differ, f"{len(differ)} site files differ, e.g. {differ[:3]}"
    assert _files(study_copy / "results") == _files(RESULTS)  # reading the pack rewrote nothing in it


@pytest.mark.slow
def test_readme_states_the_verdict_of_the_committed_results(study_copy: Path) -> None:
    store = ResultsStore(study_copy / "results")
    verdict = store_verdict(store, store.records())
    assert verdict.n_seeds >= 3 and verdict.n_pairs >= 8
    assert verdict.estimate is not None and verdict.ci[0] is not None and verdict.ci[1] is not None
    stated = (REPO / "README.md").read_text(encoding="utf-8") + (STUDY / "README.md").read_text(
        encoding="utf-8"
    )
    points = [f"{100 * x:+.1f}".replace("-", "−") for x in (verdict.estimate, *verdict.ci)]
    for text in (*points, f"`{verdict.claim}`"):
        assert text in stated, f"README does not state {text!r} (the committed results' verdict)"
    recorded = json.loads((STUDY / "verdict.json").read_text(encoding="utf-8"))
    assert recorded == json.loads(json.dumps(verdict.to_json()))
    assert re.search(r"p = 0\.\d+", stated)
