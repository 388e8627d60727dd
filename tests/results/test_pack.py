"""``harness pack``: the compact store gives the full store's numbers, and is replaced, never clobbered."""

from __future__ import annotations

import io
import json
import re
import tempfile
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console
from stats_records import record
from tiny_fixtures import write_tiny_tasks

from harness import api
from harness.catalogue.loader import Catalogue
from harness.cli import main
from harness.report.summary import print_summary
from harness.results.pack import MARKER, is_packed, pack_store
from harness.results.store import ResultsStore
from harness.scoring.derived import write_derived
from harness.scoring.example_stats import ExampleStats, record_stats


def run_tiny_grid(root: Path, model: Path) -> Path:
    """The tiny grid (two intermediate conditions and none, two seeds) run into ``root/results``."""
    tasks = write_tiny_tasks(root, model, seeds=(1, 2))
    results = root / "results"
    api.run(
        tasks / "grids" / "tiny.yaml",
        results=results,
        lock=root / "checkpoints.lock",
        tasks=Catalogue.load(tasks),
    )
    return results


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    results = run_tiny_grid(tmp_path_factory.mktemp("tiny-grid"), tiny_model)
    write_derived(ResultsStore(results))
    return results


@pytest.fixture(scope="module")
def packed(full: Path) -> Path:
    out = full.parent / "packed"
    assert main(["pack", "--results", str(full), "--out", str(out)]) == 0
    return out


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def summary_text(root: Path) -> str:
    store = ResultsStore(root)
    console = Console(file=io.StringIO(), width=200, color_system=None)
    print_summary(store.records(), console, store)
    return console.file.getvalue()


def test_packed_store_keeps_no_predictions_or_weights(full: Path, packed: Path) -> None:
    kept = files_of(packed)
    assert is_packed(packed) and not is_packed(full)
    assert not any(name.endswith((".safetensors", ".predictions.jsonl")) for name in kept)
    assert not any(name.startswith("cache/") for name in kept)
    trainings = {p.relative_to(full).as_posix() for p in full.glob("checkpoints/*/training.json")}
    assert trainings and trainings == {n for n in kept if n.startswith("checkpoints/")}
    assert (packed / "checkpoints.lock").read_bytes() == (full / "checkpoints.lock").read_bytes()
    folders = {p.name for p in (full / "records").iterdir()}
    assert {n for n in kept if n.startswith("stats/")} == {f"stats/{f}.json" for f in folders}


def test_every_record_reduces_to_the_same_statistics(full: Path, packed: Path) -> None:
    full_records, packed_records = ResultsStore(full).records(), ResultsStore(packed).records()
    assert [r.predictions for r in full_records] == [r.predictions for r in packed_records]
    for a, b in zip(full_records, packed_records, strict=True):
        assert b.example_stats is not None and not (packed / b.predictions).exists()
        assert_same_stats(record_stats(full, a), record_stats(packed, b))


def test_verdict_summary_and_derived_tables_match(full: Path, packed: Path, capsys) -> None:
    outputs = []
    for root in (full, packed):
        assert main(["verdict", "--json", "--results", str(root)]) == 0
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1] and json.loads(outputs[0])["claim"]
    assert summary_text(full) == summary_text(packed)
    derived = files_of(full / "derived")
    assert derived and derived == files_of(packed / "derived")


def test_site_from_the_pack_renders_byte_identically(packed: Path, tmp_path: Path, capsys) -> None:
    site = tmp_path / "site"
    renders = []
    for _ in range(2):
        assert main(["report", "--results", str(packed), "--out", str(site)]) == 0
        renders.append(files_of(site))
    assert renders[0] == renders[1]
    pages = [text.decode() for name, text in renders[0].items() if name.startswith("checkpoints/")]
    assert pages and all("Not kept in a packed store" in page for page in pages)
    assert all(".predictions.jsonl" not in page for page in pages)
    links = {unquote(href) for page in pages for href in re.findall(r'href="([^"]*/stats/[^"]*)"', page)}
    assert links and all((site / "checkpoints" / href).resolve().is_file() for href in links)


def test_repack_replaces_an_earlier_pack_with_the_same_bytes(
    full: Path, packed: Path, tmp_path: Path
) -> None:
    out = tmp_path / "again"
    pack_store(full, out)
    first = files_of(out)
    (out / "stray.txt").write_text("left from before", encoding="utf-8")
    pack_store(full, out)
    assert files_of(out) == first == files_of(packed)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no temp folders left beside it


def test_packing_a_pack_keeps_its_statistics(full: Path, packed: Path, tmp_path: Path) -> None:
    pack_store(packed, tmp_path / "twice")
    assert files_of(tmp_path / "twice") == files_of(packed)


@pytest.mark.parametrize("content", ["keep.txt", "records"])
def test_refuses_a_folder_that_is_not_a_pack(full: Path, tmp_path: Path, capsys, content: str) -> None:
    out = tmp_path / "mine"
    (out / content).parent.mkdir(parents=True, exist_ok=True)
    (out / content).write_text("precious", encoding="utf-8")
    before = files_of(out)
    assert main(["pack", "--results", str(full), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--out" in err and MARKER in err
    assert files_of(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]


def test_bad_input_is_one_line_and_writes_nothing(full: Path, tmp_path: Path, capsys) -> None:
    assert main(["pack", "--results", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 2
    assert "--results" in capsys.readouterr().err
    assert main(["pack", "--results", str(full), "--out", str(full / "inside")]) == 2
    assert "--out" in capsys.readouterr().err
    assert not (tmp_path / "o").exists() and not (full / "inside").exists()


# ---- every kind's statistics survive the round trip exactly -------------------------------------

IDS = st.sampled_from(["a", "b", "c", "d", "é"])  # repeats exercise the "#k" suffixes
TAGS = st.sampled_from(["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "E-LOC", "S-PER", "NOUN", "VERB"])
FRACTION = st.floats(0, 1, allow_nan=False)


def _tagged(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 6))
    return {
        "label": draw(st.lists(TAGS, min_size=n, max_size=n)),
        "prediction": draw(st.lists(TAGS, min_size=n, max_size=n)),
    }


KINDS = {
    "classification": (["accuracy"], st.fixed_dictionaries({"correct": st.sampled_from([0.0, 1.0])})),
    "extractive_qa": (
        ["em_f1_mean", "exact_match", "f1"],
        st.fixed_dictionaries({"correct": st.sampled_from([0.0, 1.0]), "f1": FRACTION}),
    ),
    "tagging": (["f1", "accuracy", "precision", "recall"], st.composite(_tagged)()),
    "mining": (
        ["f1", "precision", "recall"],
        st.fixed_dictionaries({"prediction": st.sampled_from([0, 1]), "label": st.sampled_from([0, 1])}),
    ),
}


@st.composite
def kind_rows(draw: st.DrawFn) -> tuple[str, list[dict]]:
    kind = draw(st.sampled_from(sorted(KINDS)))
    rows = draw(st.lists(KINDS[kind][1], max_size=12))
    return kind, [{"id": draw(IDS), **row} for row in rows]


def assert_same_stats(a: ExampleStats | None, b: ExampleStats | None) -> None:
    assert a is not None and b is not None
    assert a.ids == b.ids
    assert np.array_equal(a.num, b.num) and np.array_equal(a.den, b.den)
    assert a.num.dtype == b.num.dtype == np.float64 and a.den.dtype == np.float64


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(kind_rows(), min_size=1, max_size=4))
def test_statistics_round_trip_exactly_for_every_kind_and_metric(
    stores: list[tuple[str, list[dict]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        full, out = Path(tmp) / "full", Path(tmp) / "packed"
        store = ResultsStore(full)
        written = []
        for i, (kind, rows) in enumerate(stores):
            metrics = KINDS[kind][0]
            rec = record("mmlu-en", f"task{i}", "test", "de", 0.5, kind=kind, metric=metrics[0])
            rec = rec.model_copy(update={"scores": dict.fromkeys(metrics, 0.5)})
            store.write(rec, rows, full / rec.predictions.replace(".predictions.jsonl", ".json"))
            written.append(rec)
        pack_store(full, out)
        by_predictions = {r.predictions: r for r in ResultsStore(out).records()}
        for rec in written:
            for metric in KINDS[rec.task.kind][0]:
                packed_rec = by_predictions[rec.predictions].model_copy(update={"main_metric": metric})
                assert_same_stats(
                    record_stats(full, rec.model_copy(update={"main_metric": metric})),
                    record_stats(out, packed_rec),
                )


def test_site_pages_match_the_full_store_but_for_the_predictions_links(
    full: Path, packed: Path, tmp_path: Path
) -> None:
    sites = []
    for root in (full, packed):
        assert main(["report", "--results", str(root), "--out", str(tmp_path / root.name)]) == 0
        sites.append(files_of(tmp_path / root.name))
    assert sites[0].keys() == sites[1].keys()
    differing = {name for name in sites[0] if sites[0][name] != sites[1][name]}
    assert differing and all(name.startswith("checkpoints/") for name in differing)
    for name in differing:  # the same page up to the predictions section
        full_page, packed_page = (site[name].decode() for site in sites)
        assert (
            full_page.split('<section id="predictions">')[0]
            == packed_page.split('<section id="predictions">')[0]
        )
