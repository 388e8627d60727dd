"""The report: tables, the rich summary and the static site, on synthetic records."""

from __future__ import annotations

import hashlib
import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from harness.report.site import default_templates_dir, render_site
from harness.report.summary import EMPTY_MESSAGE, print_summary
from harness.report.tables import leaderboard, leaderboard_targets, pct, per_language, per_task
from harness.results.schema import (
    BaselineInfo,
    CheckpointInfo,
    LineageStep,
    Record,
    SplitInfo,
    TaskInfo,
)
from harness.results.store import ResultsStore

A = "me5-small+mmlu-de"
B = "me5-small+mmlu-en"
SIB = "sib200"
TAT = "tatoeba_demo"

# SCORES[checkpoint][task][seed] = {language: main score}
SCORES: dict[str, dict[str, dict[int, dict[str, float]]]] = {
    A: {
        SIB: {1: {"en": 0.80, "de": 0.70, "sw": 0.60}, 2: {"en": 0.90, "de": 0.60, "sw": 0.50}},
        TAT: {1: {"de": 0.50, "fr": 0.40, "ru": 0.30}, 2: {"de": 0.50, "fr": 0.40, "ru": 0.30}},
    },
    B: {
        SIB: {1: {"en": 0.85, "de": 0.75, "sw": 0.65}, 2: {"en": 0.85, "de": 0.75, "sw": 0.65}},
        TAT: {1: {"de": 0.60, "fr": 0.50, "ru": 0.40}, 2: {"de": 0.70, "fr": 0.50, "ru": 0.30}},
    },
}
BASELINES = {SIB: ("majority label", 0.30), TAT: ("random candidate", 0.01)}
PROTOCOLS = {SIB: "official", TAT: "demo split"}
KINDS = {SIB: "classification", TAT: "retrieval"}


def make_record(
    checkpoint: str,
    task: str,
    seed: int,
    language: str,
    score: float,
    *,
    split: str = "test",
    in_domain: bool = True,
) -> Record:
    source_lang = "de" if checkpoint.endswith("-de") else "en"
    baseline_name, baseline = BASELINES.get(task, ("majority label", 0.30))
    return Record(
        job_key=hashlib.sha256(f"{checkpoint}/{task}/{split}/{language}/{seed}".encode()).hexdigest(),
        grid="default",
        checkpoint=CheckpointInfo(
            name=checkpoint,
            key=f"key-{checkpoint}-{seed}",
            model="me5-small",
            model_source="embedded:me5-small",
            condition=checkpoint.split("+", 1)[-1],
            intermediate_task="mmlu_parallel",
            source_lang=source_lang,
            source_type="translated" if source_lang == "de" else "english",
            frozen_embeddings=True,
            lineage=[LineageStep(phase="base", key="base", name="me5-small")],
        ),
        seed=seed,
        task=TaskInfo(
            name=task,
            version=1,
            kind=KINDS.get(task, "classification"),
            protocol=PROTOCOLS.get(task, "official"),
        ),
        split=SplitInfo(name=split, domain="flores" if in_domain else "shifted", in_domain=in_domain),
        language=language,
        n_examples=200 + len(language),
        scores={"accuracy": score},
        main_metric="accuracy",
        main_score=score,
        baseline=BaselineInfo(name=baseline_name, scores={"accuracy": baseline}),
        data={
            "fingerprint": f"fp-{task}-{language}",
            "origin": f"data/{task}/{language}.tsv",
            "source": f"{task} source text",
        },
        settings={"selection_rule": "english_dev", "precision": "fp32"},
        provenance={
            "code_version": "0.1.0+gabc",
            "created": f"2025-01-0{seed}T00:00:00+00:00",
            "wall_time_s": 1.5,
            "hardware": {"device": "cpu", "python": "3.12"},
        },
        predictions=f"records/{checkpoint}/{task}.{split}.{language}.x.predictions.jsonl",
    )


def build_records(scores: dict = SCORES) -> list[Record]:
    return [
        make_record(ckpt, task, seed, lang, value)
        for ckpt, tasks in scores.items()
        for task, seeds in tasks.items()
        for seed, langs in seeds.items()
        for lang, value in langs.items()
    ]


@pytest.fixture
def records() -> list[Record]:
    return build_records()


# ---- tables ------------------------------------------------------------------------------------
def test_per_language_means_over_seeds(records: list[Record]) -> None:
    table = per_language(records)
    assert len(table) == 2 * 2 * 3
    row = table[(table["checkpoint"] == A) & (table["task"] == SIB) & (table["language"] == "de")].iloc[0]
    assert row["score"] == pytest.approx(0.65)  # (0.70 + 0.60) / 2
    assert row["n_seeds"] == 2
    assert row["n_examples"] == 202
    assert row["baseline"] == pytest.approx(0.30)
    assert row["main_metric"] == "accuracy"


def test_per_task_means_by_hand(records: list[Record]) -> None:
    table = per_task(records).set_index(["checkpoint", "task"])
    # A/sib200: seed 1 (0.8+0.7+0.6)/3 = 0.70, seed 2 (0.9+0.6+0.5)/3 = 2/3 -> 0.68333
    assert table.loc[(A, SIB), "score"] == pytest.approx((0.70 + 2 / 3) / 2)
    assert table.loc[(A, TAT), "score"] == pytest.approx(0.40)
    assert table.loc[(B, SIB), "score"] == pytest.approx(0.75)
    assert table.loc[(B, TAT), "score"] == pytest.approx(0.50)
    assert table.loc[(A, SIB), "baseline"] == pytest.approx(0.30)
    assert table.loc[(A, TAT), "baseline"] == pytest.approx(0.01)
    assert bool(table.loc[(A, TAT), "demo_split"]) is True
    assert bool(table.loc[(A, SIB), "demo_split"]) is False
    assert table.loc[(A, SIB), "n_languages"] == 3
    assert table.loc[(A, SIB), "n_seeds"] == 2


def test_per_task_keeps_seeds_apart_before_averaging() -> None:
    scores = {A: {SIB: {1: {"en": 0.9, "de": 0.3}, 2: {"en": 0.6}}}}
    table = per_task(build_records(scores))
    # seed 1: 0.6, seed 2: 0.6 -> 0.6 (the mean of per-language means would be (0.75 + 0.3) / 2 = 0.525)
    assert table.iloc[0]["score"] == pytest.approx(0.6)


def test_leaderboard_order_and_columns(records: list[Record]) -> None:
    board = leaderboard(records)
    assert list(board["checkpoint"]) == [B, A]
    assert leaderboard_targets(board) == [SIB, TAT]
    assert board.loc[0, "average"] == pytest.approx((0.75 + 0.50) / 2)
    assert board.loc[1, "average"] == pytest.approx(((0.70 + 2 / 3) / 2 + 0.40) / 2)
    assert board.loc[1, "source_lang"] == "de"
    assert board.loc[1, "source_type"] == "translated"
    assert bool(board.loc[1, "frozen_embeddings"]) is True
    assert pct(board.loc[1, "average"]) == "54.2"


def test_leaderboard_ignores_shifted_splits(records: list[Record]) -> None:
    shifted = [make_record(A, SIB, 1, lang, 1.0, split="shifted", in_domain=False) for lang in ("en", "de")]
    board = leaderboard(records + shifted)
    assert list(board["checkpoint"]) == [B, A]
    assert board.loc[1, SIB] == pytest.approx((0.70 + 2 / 3) / 2)


def test_empty_tables() -> None:
    assert per_language([]).empty
    assert per_task([]).empty
    assert leaderboard([]).empty


# ---- summary -----------------------------------------------------------------------------------
def test_print_summary_shows_names_and_scores(records: list[Record]) -> None:
    console = Console(record=True, width=200)
    print_summary(records, console)
    text = console.export_text()
    assert A in text and B in text
    assert "68.3" in text  # A on sib200: ((0.8+0.7+0.6)/3 + (0.9+0.6+0.5)/3) / 2
    assert "65.0" in text  # A on sib200 in German: (0.70 + 0.60) / 2
    assert "62.5" in text  # B's average: (75.0 + 50.0) / 2
    assert "baseline: majority label" in text
    assert "demo split" in text


def test_print_summary_keeps_brackets_literal() -> None:
    name = "me5-small+[red]x[/red]"
    console = Console(record=True, width=200)
    print_summary([make_record(name, SIB, 1, "en", 0.5)], console)
    assert name in console.export_text()


def test_print_summary_empty_store() -> None:
    console = Console(record=True, width=200)
    print_summary([], console)
    text = console.export_text()
    assert "empty" in text
    assert text.strip() == EMPTY_MESSAGE


# ---- site --------------------------------------------------------------------------------------
def render(records: list[Record], out: Path, results: Path) -> dict[str, bytes]:
    """Every file of the rendered site, by its path inside the site folder."""
    render_site(records, out, results)
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def page(out: Path, name: str) -> str:
    return (out / name).read_text(encoding="utf-8")


def test_site_renders_deterministically(records: list[Record], tmp_path: Path) -> None:
    results = tmp_path / "results"
    first = render(records, tmp_path / "site", results)
    second = render(list(reversed(records)), tmp_path / "site", results)
    pages = {"index.html", "contrast.html", "methodology.html", "downloads.html", "results.json"}
    assert pages | {f"targets/{SIB}.html", f"targets/{TAT}.html", f"checkpoints/{A}.html"} <= set(first)
    assert first == second
    assert render(records, tmp_path / "other", results) == first


def test_site_content(records: list[Record], tmp_path: Path) -> None:
    out = tmp_path / "site"
    render_site(records, out, tmp_path / "results")
    html = page(out, "index.html")
    assert A in html and B in html
    assert html.index(B) < html.index(A)  # leaderboard order: best average first
    for text in ("68.3", "54.2", "62.5", "demo split", "english_dev"):
        assert text in html
    sib = page(out, f"targets/{SIB}.html")
    for text in (
        "65.0",
        "majority label",
        "0.1.0+gabc",
        "embedded:me5-small",
        "sib200 source text",
        "device=cpu",
    ):
        assert text in sib
    assert ">202<" in sib  # n examples
    assert "random candidate" in page(out, f"targets/{TAT}.html")
    assert 'href="../../results/records/' in page(out, f"checkpoints/{A}.html")
    rows = json.loads(page(out, "results.json"))["rows"]
    assert len(rows) == 12
    assert {"checkpoint", "task", "split", "language", "score", "n_seeds", "n_examples", "baseline"} <= set(
        rows[0]
    )


class Scripts(HTMLParser):
    """The text of every <script> element of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[str] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "script":
            assert attrs == [], f"a script element with attributes: {attrs}"
            self._inside = True
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            self.scripts[-1] += data


def test_site_escapes_names(records: list[Record], tmp_path: Path) -> None:
    evil = "<script>alert(1)</script>"
    out = tmp_path / "site"
    render_site(records + [make_record(evil, SIB, 1, "en", 0.9)], out, tmp_path / "results")
    shipped = (default_templates_dir() / "site.js").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page(out, "index.html")
    html_files = sorted(out.rglob("*.html"))
    assert len(html_files) >= 8
    for path in html_files:
        text = path.read_text(encoding="utf-8")
        assert "alert(1)</script>" not in text, path
        parser = Scripts()
        parser.feed(text)
        assert [s.strip() for s in parser.scripts] == [shipped.strip()], path  # only the site's own script
    for path in sorted(out.rglob("*.json")):
        assert "<script" not in path.read_text(encoding="utf-8"), path


def test_site_has_no_external_references(records: list[Record], tmp_path: Path) -> None:
    bad = make_record(A, SIB, 3, "en", 0.5)
    bad = bad.model_copy(update={"predictions": "https://example.com/x.jsonl"})
    render_site(records + [bad], tmp_path / "site", tmp_path / "site")
    attributes = []
    for path in sorted((tmp_path / "site").rglob("*.html")):
        html = path.read_text(encoding="utf-8")
        found = re.findall(r"""\b(?:src|href|action)\s*=\s*["']?([^"'\s>]*)""", html, flags=re.IGNORECASE)
        attributes += found
        assert "url(" not in html and "@import" not in html and "<link" not in html, path
        assert "http" not in re.sub(r"<[^>]*>", "", html.split("<script>")[1]), path  # not even in the script
    assert attributes, "expected some local links"
    assert not [a for a in attributes if re.match(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", a, flags=re.IGNORECASE)]
    assert "http://" not in " ".join(attributes) and "https://" not in " ".join(attributes)


def test_site_for_empty_store(tmp_path: Path) -> None:
    render_site([], tmp_path / "site", tmp_path / "results")
    assert "the results store is empty" in page(tmp_path / "site", "index.html")
    assert json.loads(page(tmp_path / "site", "results.json"))["rows"] == []


def test_explicit_templates_dir(records: list[Record], tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "index.html.j2").write_text("<p>{{ n_checkpoints }} {{ board.rows[0].checkpoint }}</p>\n")
    paths = render_site(records, tmp_path / "site", tmp_path / "results", templates_dir=templates)
    assert paths[0].name == "index.html"
    assert paths[0].read_text(encoding="utf-8") == f"<p>2 {B}</p>\n"
    assert "<nav" in page(tmp_path / "site", "contrast.html")  # the other pages fall back to the shipped ones


class Balance(HTMLParser):
    """Every element closed, in order (void elements aside)."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in {"meta", "br"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}> at {self.getpos()}"


def test_site_marks_incomplete_rows_and_is_well_formed(records: list[Record], tmp_path: Path) -> None:
    partial = make_record("me5-small+none", SIB, 1, "en", 0.5)
    out = tmp_path / "site"
    render_site(records + [partial], out, tmp_path / "results")
    assert "1/2 targets" in page(
        out, "index.html"
    )  # the leaderboard average covers only one of the two targets
    assert "2 language(s) missing" in page(out, f"targets/{SIB}.html")  # its sib200 mean covers only English
    for path in sorted(out.rglob("*.html")):
        checker = Balance()
        checker.feed(path.read_text(encoding="utf-8"))
        assert checker.stack == [], path


def test_site_from_a_results_store(records: list[Record], tmp_path: Path) -> None:
    store = ResultsStore(tmp_path / "results")
    for rec in records:
        path = store.record_path(
            rec.checkpoint.name, rec.task.name, rec.split.name, rec.language, rec.job_key
        )
        store.write(rec, [{"id": 0}], path)
    loaded = store.records()
    assert len(loaded) == len(records)
    assert render(loaded, tmp_path / "site", store.root) == render(records, tmp_path / "site", store.root)
