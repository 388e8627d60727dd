"""`harness report` deletes only what an earlier render wrote, refuses folders that hold anything else,
and refuses a `--results` that holds no store: every pre-existing file survives, byte for byte."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stats_records import bernoulli, record, write_accuracy_record

from harness.cli import main
from harness.errors import HarnessError
from harness.report import site_safety
from harness.report.site import render_site
from harness.report.site_safety import SITE_MANIFEST, check_site_folder, prune_stale, read_manifest
from harness.results.store import ResultsStore
from harness.runner.external import eval_checkpoint


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` (hidden ones too) by relative path, with its SHA-256."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def tiny_store(root: Path, conditions: tuple[str, ...] = ("mmlu-en", "none")) -> ResultsStore:
    """Records with predictions, a trained checkpoint and the store's lock: what `harness run` leaves."""
    rng = np.random.default_rng(0)
    store = ResultsStore(root)
    for condition in conditions:
        for lang in ("en", "de"):
            write_accuracy_record(store, record(condition, "pos", "test", lang, 0), bernoulli(0.7, 40, rng))
    trained = root / "checkpoints" / "0123abcd"
    trained.mkdir(parents=True)
    (trained / "config.json").write_text('{"model_type": "bert"}\n')
    (trained / "model.safetensors").write_bytes(b"\x00weights")
    (trained / "training.json").write_text("{}\n")
    (root / "checkpoints.lock").write_text('{"version": 1, "checkpoints": {}}\n')
    return store


def report(results: Path, out: Path) -> int:
    return main(["report", "--results", str(results), "--out", str(out)])


def one_line(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.strip()


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    return tiny_store(tmp_path / "results")


# ---- --out refused: nothing written, nothing deleted ------------------------------------------
@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("results", "it is a results store (it has records/)"),
        ("results/checkpoints", "is inside"),
        ("results/checkpoints/0123abcd", "it is a checkpoint folder (it has config.json)"),
        ("results/site", "is inside"),
    ],
)
def test_out_in_or_at_the_store_is_refused(
    store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture, out: str, says: str
) -> None:
    before = tree(tmp_path)
    assert report(store.root, tmp_path / out) == 2
    line = one_line(capsys)
    assert says in line and str(tmp_path / out) in line and "--out" in line
    assert tree(tmp_path) == before
    assert not (tmp_path / "results" / "site").exists() and not (store.root / "derived").exists()


def repo_like(root: Path) -> Path:
    for name in ("a.tsv", "b.jsonl", "README.md"):
        (root / "data").mkdir(parents=True, exist_ok=True)
        (root / "data" / name).write_text(f"{name}\n")
    (root / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    (root / "checkpoints.lock").write_text("{}\n")
    return root


@pytest.mark.parametrize(
    ("out", "says"),
    [
        ("", "it is a repository root (it has pyproject.toml)"),
        ("data", "a non-empty folder that no render wrote"),
        ("..", "it contains clone, a repository root (it has pyproject.toml)"),
    ],
)
def test_out_at_a_repository_is_refused(
    store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture, out: str, says: str
) -> None:
    repo = repo_like(tmp_path / "clone")
    before = tree(tmp_path)
    assert report(store.root, repo / out) == 2
    assert says in one_line(capsys)
    assert tree(tmp_path) == before


def test_default_site_inside_a_checkout_renders_and_rerenders(store: ResultsStore, tmp_path: Path) -> None:
    repo = repo_like(tmp_path / "clone")
    (tmp_path / "records").mkdir()  # above the checkout: not the project's business
    data = tree(repo / "data")
    site = repo / "leaderboards" / "site"
    assert report(store.root, site) == 0
    first = tree(site)
    assert report(store.root, site) == 0
    assert tree(site) == first and SITE_MANIFEST in first
    assert tree(repo / "data") == data


def test_non_empty_folder_without_manifest_is_refused(
    store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "mine"
    (out / "targets").mkdir(parents=True)
    (out / "targets" / "notes.html").write_text("my notes\n")
    (out / "index.html").write_text("my page\n")
    before = tree(tmp_path)
    assert report(store.root, out) == 2
    assert f"no {SITE_MANIFEST}" in one_line(capsys)
    assert tree(tmp_path) == before


def test_out_that_is_a_file_is_refused(store: ResultsStore, tmp_path: Path, capsys) -> None:
    (tmp_path / "page.html").write_text("x\n")
    assert report(store.root, tmp_path / "page.html") == 2
    assert "it is a file, not a folder" in one_line(capsys)
    assert (tmp_path / "page.html").read_text() == "x\n"


def test_site_that_came_to_contain_a_store_is_refused(
    store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    site = tmp_path / "site"
    assert report(store.root, site) == 0
    tiny_store(site / "old" / "results")
    before = tree(tmp_path)
    assert report(store.root, site) == 2
    assert "it contains old/results, a results store (it has records/)" in one_line(capsys)
    assert tree(tmp_path) == before


def test_the_walk_below_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    render_site([], site, tmp_path / "results")
    for i in range(6):
        (site / f"user-{i}.txt").write_text("kept\n")
    monkeypatch.setattr(site_safety, "MAX_CHECKED_ENTRIES", 5)
    with pytest.raises(HarnessError, match="more than 5 entries"):
        check_site_folder(site)


def test_eval_refuses_its_out_before_pinning_or_training(store: ResultsStore, tmp_path: Path) -> None:
    class Untouchable:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"eval used the catalogue ({name}) before checking --out")

    before = tree(tmp_path)
    with pytest.raises(HarnessError, match="it is a results store"):
        eval_checkpoint(
            "org/model",
            "outside",
            grid="default",
            results=store.root,
            lock_path=tmp_path / "checkpoints.lock",
            out=store.root,
            catalogue=Untouchable(),  # type: ignore[arg-type]
        )
    assert tree(tmp_path) == before


# ---- pruning: only what the last render wrote ---------------------------------------------------
def test_rerender_prunes_its_stale_pages_and_keeps_the_users_files(tmp_path: Path) -> None:
    store = tiny_store(tmp_path / "results", conditions=("mmlu-en", "mmlu-de", "none"))
    site = tmp_path / "site"
    assert report(store.root, site) == 0
    gone = site / "checkpoints" / "m+mmlu-de.html"
    assert gone.is_file()
    manifest = json.loads((site / SITE_MANIFEST).read_text())
    assert manifest["version"] == 1 and manifest["files"] == sorted(manifest["files"])
    assert set(manifest["files"]) == set(tree(site)) - {SITE_MANIFEST}
    (site / "checkpoints" / "my-notes.html").write_text("mine\n")  # beside the pages, in a site folder
    (site / "CNAME").write_text("example.org\n")
    for path in sorted((store.root / "records" / "m+mmlu-de").iterdir()):
        path.unlink()
    (store.root / "records" / "m+mmlu-de").rmdir()

    assert report(store.root, site) == 0
    assert not gone.exists()
    assert (site / "checkpoints" / "my-notes.html").read_text() == "mine\n"
    assert (site / "CNAME").read_text() == "example.org\n"
    listed = set(json.loads((site / SITE_MANIFEST).read_text())["files"])
    assert "checkpoints/m+mmlu-de.html" not in listed and "CNAME" not in listed


def test_typo_in_results_leaves_the_published_site_byte_identical(
    store: ResultsStore, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    site = tmp_path / "site"
    assert report(store.root, site) == 0
    capsys.readouterr()
    published = tree(site)
    (tmp_path / "results.json").write_text("{}\n")
    (tmp_path / "empty").mkdir()
    for wrong, says in (
        ("resluts", "no such folder"),
        ("results.json", "is a file"),
        ("empty", "not a results store"),
    ):
        assert report(tmp_path / wrong, site) == 2
        line = one_line(capsys)
        assert line.startswith(f"{tmp_path / wrong}: --results: ") and says in line
        assert tree(site) == published


@pytest.mark.parametrize("command", [["summary"], ["compare", "m+mmlu-en", "m+none"]])
def test_reading_commands_refuse_a_missing_store(tmp_path: Path, capsys, command: list[str]) -> None:
    assert main([*command, "--results", str(tmp_path / "resluts")]) == 2
    assert "--results: no such folder" in one_line(capsys)
    assert not (tmp_path / "resluts").exists()


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        '{"version": 2, "files": []}',
        '{"version": 1, "files": ["../outside.txt"]}',
        '{"version": 1, "files": ["/etc/passwd"]}',
        '{"version": 1, "files": "index.html"}',
    ],
)
def test_a_tampered_manifest_is_refused(tmp_path: Path, text: str) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / SITE_MANIFEST).write_text(text)
    (tmp_path / "outside.txt").write_text("kept\n")
    before = tree(tmp_path)
    with pytest.raises(HarnessError, match="not a site manifest"):
        render_site([], site, tmp_path / "results")
    assert tree(tmp_path) == before


def test_prune_does_not_follow_a_symlinked_folder_out_of_the_site(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "x.html").write_text("kept\n")
    site = tmp_path / "site"
    site.mkdir()
    (site / "targets").symlink_to(outside, target_is_directory=True)
    assert prune_stale(site, frozenset({"targets/x.html"}), set()) == []
    assert (outside / "x.html").read_text() == "kept\n"


folders = st.lists(st.sampled_from(["a", "b"]), max_size=2)
rel_paths = st.tuples(folders, st.sampled_from(["x.html", "y.csv"])).map(lambda t: "/".join([*t[0], t[1]]))


@settings(max_examples=40, deadline=None)
@given(
    previous=st.sets(rel_paths, max_size=6),
    written=st.sets(rel_paths, max_size=6),
    user=st.sets(rel_paths, max_size=4),
    vanished=st.sets(rel_paths, max_size=2),
)
def test_prune_deletes_exactly_the_previous_minus_the_written(
    previous: set[str], written: set[str], user: set[str], vanished: set[str]
) -> None:
    """``user``: files the manifest does not list; ``vanished``: listed files the user already deleted."""
    user -= previous
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        for rel in (previous | written | user) - (vanished - written - user):
            (site / rel).parent.mkdir(parents=True, exist_ok=True)
            (site / rel).write_text(rel)
        on_disk = set(tree(site))
        removed = prune_stale(site, frozenset(previous), written)
        assert set(removed) == (previous - written) & on_disk
        assert set(tree(site)) == on_disk - set(removed) == written | user
        assert not [d for d in site.rglob("*") if d.is_dir() and not any(d.iterdir())]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=12), max_size=5))
def test_manifest_entries_never_lead_out_of_the_site(entries: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        site.mkdir()
        (site / SITE_MANIFEST).write_text(json.dumps({"version": 1, "files": entries}))
        try:
            listed = read_manifest(site)
        except HarnessError:
            return
        assert listed is not None
        for rel in listed:
            assert (site / rel).resolve().is_relative_to(site.resolve()) and (
                site / rel
            ).resolve() != site.resolve()
