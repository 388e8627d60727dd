"""The site's fast paths at scale: the pre-built HTML rows escape every name, the column-wise CSV/JSON
writer reads back as the frame, and the index counts the seeds of the fine-tuned runs only."""

from __future__ import annotations

import io
import json
import math
import re
from pathlib import Path

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.report.pages.html import esc, estimate_cell
from harness.report.pages.tabular import frame_texts, table_json
from harness.report.pages.targets import _score_rows
from harness.report.site import render_site
from harness.results.schema import BaselineInfo, CheckpointInfo, LineageStep, Record, SplitInfo, TaskInfo

EVIL = '<script>alert(1)</script>"'
MODEL = "me5-small"


def runner_record(
    condition: str,
    task: str,
    language: str,
    seed: int,
    score: float,
    *,
    trained: bool,
    intermediate: bool = False,
    split: str = "test",
) -> Record:
    """A record as harness.runner.execute writes it: the lineage is the evaluated checkpoint's (base →
    intermediate → target); a retrieval target is not fine-tuned, so it is scored from the base model
    (seed 0, the plan's evaluate job for an untrained checkpoint) or from the intermediate checkpoint
    (its seed)."""
    lineage = [LineageStep(phase="base", key=f"base-{MODEL}", name=MODEL, source="embedded:me5-small")]
    if intermediate:
        lineage.append(
            LineageStep(
                phase="intermediate", key=f"int-{condition}-{seed}", name=condition, task="mmlu", seed=seed
            )
        )
    if trained:
        lineage.append(
            LineageStep(phase="target", key=f"tgt-{condition}-{task}-{seed}", name=task, task=task, seed=seed)
        )
    return Record(
        job_key=f"{condition}-{task}-{split}-{language}-{seed}",
        grid="default",
        checkpoint=CheckpointInfo(
            name=f"{MODEL}+{condition}",
            key=lineage[-1].key,
            model=MODEL,
            model_source="embedded:me5-small",
            condition=condition,
            intermediate_task="mmlu" if intermediate else None,
            source_lang="de" if intermediate else None,
            source_type="translated" if intermediate else "none",
            lineage=lineage,
        ),
        seed=seed,
        task=TaskInfo(name=task, version=1, kind="classification" if trained else "retrieval"),
        split=SplitInfo(name=split, domain="wiki", in_domain=True),
        language=language,
        n_examples=50,
        scores={"accuracy": score},
        main_metric="accuracy",
        main_score=score,
        baseline=BaselineInfo(name="majority label", scores={"accuracy": 0.3}),
        settings={"selection_rule": "english_dev" if trained else "none (not fine-tuned)"},
        provenance={"created": "2025-01-01T00:00:00+00:00", "wall_time_s": 1.0},
        predictions=f"records/{condition}/{task}.{split}.{language}.{seed}.predictions.jsonl",
    )


def seeds_cell(html: str, checkpoint: str) -> tuple[str, str]:
    """(the row's data-seeds filter value, its seeds cell) on the index."""
    row = re.search(rf'<tr ([^>]*data-checkpoint="{re.escape(checkpoint)}")>(.*?)</tr>', html, flags=re.S)
    assert row is not None, checkpoint
    seeds = re.search(r'data-seeds="([^"]*)"', row.group(1))
    cell = re.search(r'<td class="num" data-value="[^"]*" title="[^"]*seed[^"]*">.*?</td>', row.group(2))
    assert seeds is not None and cell is not None
    return seeds.group(1), cell.group(0)


# ---- the index "seeds" column ------------------------------------------------------------------------
def test_index_counts_fine_tuning_seeds_not_the_untrained_retrieval_records(tmp_path: Path) -> None:
    records = []
    for lang in ("en", "de"):
        # base model: xnli fine-tuned with seed 1; tatoeba scored from the base model, seed 0
        records.append(runner_record("none", "xnli", lang, 1, 0.6, trained=True))
        records.append(runner_record("none", "tatoeba", lang, 0, 0.3, trained=False))
        # intermediate condition: tatoeba scored from the intermediate checkpoint of seed 1
        records.append(runner_record("mmlu-de", "xnli", lang, 1, 0.7, trained=True, intermediate=True))
        records.append(runner_record("mmlu-de", "tatoeba", lang, 1, 0.4, trained=False, intermediate=True))
        # a retrieval-only condition: nothing fine-tuned at all
        records.append(runner_record("retrieval-only", "tatoeba", lang, 0, 0.35, trained=False))
    out = tmp_path / "site"
    render_site(records, out, tmp_path / "results")
    html = (out / "index.html").read_text(encoding="utf-8")
    none, inter, untrained = (f"{MODEL}+{c}" for c in ("none", "mmlu-de", "retrieval-only"))
    seeds, cell = seeds_cell(html, none)
    assert seeds == "1" and 'data-value="1"' in cell  # not 2: seed 0 is the untrained tatoeba record
    assert "seed 0: untrained retrieval records" in cell and "untrained</span>" not in cell
    assert seeds_cell(html, inter)[0] == "1"
    seeds, cell = seeds_cell(html, untrained)
    assert seeds == "1" and '>1 <span class="muted">untrained</span></td>' in cell
    seeds_filter = html[html.index('data-filter="seeds"') :].split("</select>")[0]
    assert re.findall(r'<option value="([^"]+)">', seeds_filter) == ["1"]
    board = pd.read_csv(out / "data" / "leaderboard.csv").set_index("checkpoint")
    assert str(board.loc[none, "seeds"]) == "1" and not board.loc[none, "untrained"]
    assert bool(board.loc[untrained, "untrained"])
    page = (out / "checkpoints" / f"{none}.html").read_text(encoding="utf-8")
    assert "fine-tuning seeds 1; seed 0: untrained retrieval records" in page


# ---- escaping in the pre-built rows ------------------------------------------------------------------
def test_fast_row_builder_escapes_names() -> None:
    rows, _, _ = _score_rows([EVIL], [EVIL, "en"], {}, 2, {(EVIL, EVIL): (0.5, 0.4, 0.6, EVIL, 10)})
    html = "".join(rows)
    assert "<script>" not in html and "alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in html  # the name, and the hostile n_seeds
    assert 'title="not scored for this checkpoint">—</td>' in html  # "en" has no score
    assert esc(EVIL) == "&lt;script&gt;alert(1)&lt;/script&gt;&#34;"
    assert estimate_cell(0.5, 0.4, 0.6, title_tail="; x") == (
        '<td class="num" data-value="0.500000" title="95% CI [40.0, 60.0]; x">50.0 <span class="pm">±10.0</span></td>'
    )


def test_hostile_task_language_and_split_names_render_inert(tmp_path: Path) -> None:
    records = [
        runner_record(f"c{i}", f"xnli{EVIL}", f"de{EVIL}", 1, 0.5 + i / 10, trained=True, split=f"test{EVIL}")
        for i in range(2)
    ]
    out = tmp_path / "site"
    render_site(records, out, tmp_path / "results")
    pages = sorted(out.rglob("*.html"))
    assert len(pages) >= 6
    for path in pages:
        assert "alert(1)</script>" not in path.read_text(encoding="utf-8"), path
    target = next((out / "targets").glob("*.html")).read_text(encoding="utf-8")
    assert "de&lt;script&gt;alert(1)&lt;/script&gt;&#34;" in target
    checkpoint = (out / "checkpoints" / f"{MODEL}+c0.html").read_text(encoding="utf-8")
    assert "<td>xnli&lt;script&gt;alert(1)&lt;/script&gt;&#34;</td>" in checkpoint


# ---- the column-wise CSV / JSON writer ---------------------------------------------------------------
texts = st.one_of(
    st.none(),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=8),
)
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=False),
    st.sampled_from([0.0, 1.0, -0.0, 1e-7, 1e10, 123456789.0, 1e16, 1e22]),
)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(texts, floats, st.integers(-(2**40), 2**40), st.booleans()), min_size=1, max_size=30)
)
def test_csv_and_json_read_back_as_the_frame(rows: list[tuple]) -> None:
    names, scores, counts, flags = zip(*rows, strict=True)
    frame = pd.DataFrame(
        {
            "name": pd.Series(names, dtype=object),  # None stays None (pandas would make it NaN)
            "score": pd.Series(scores, dtype=float),
            "count": pd.Series(counts, dtype="int64"),
            "flag": pd.Series(flags, dtype=bool),
        }
    )
    csv, js = frame_texts(frame)
    back = pd.read_csv(io.BytesIO(csv), na_filter=False, dtype={"name": object})
    assert list(back.columns) == list(frame.columns) and len(back) == len(frame)
    assert back["name"].tolist() == ["" if v is None else v for v in frame["name"]]
    parsed = json.loads(js)
    for original, got in zip(frame.to_dict("records"), parsed, strict=True):
        assert got["name"] == original["name"]
        assert got["count"] == original["count"] and got["flag"] == original["flag"]
        if math.isnan(original["score"]):
            assert got["score"] is None
        else:
            assert got["score"] == original["score"]  # shortest round-trip text: the same double
    assert b"<" not in js and b">" not in js and b"&" not in js


def test_csv_matches_pandas_and_json_head() -> None:
    frame = pd.DataFrame(
        {
            "checkpoint": ["a,b", 'q"x', None, "line\nbreak"],
            "score": [0.1, 1 / 3, float("nan"), 2.0],
            "n": [1, 2, 3, 4],
            "in_domain": [True, False, True, False],
            "mixed": [True, 1.5, None, "s"],
        }
    )
    csv, rows = frame_texts(frame)
    assert csv.decode("utf-8") == frame.to_csv(index=False, lineterminator="\n")
    doc = json.loads(table_json("t", frame, rows))
    assert doc["n_rows"] == 4 and doc["columns"] == list(frame.columns)
    assert doc["rows"][1] == {"checkpoint": 'q"x', "score": 1 / 3, "n": 2, "in_domain": False, "mixed": 1.5}
    assert doc["rows"][2]["score"] is None and doc["rows"][2]["checkpoint"] is None
    empty = frame.head(0)
    assert frame_texts(empty) == (b"checkpoint,score,n,in_domain,mixed\n", b"[]")


def test_chunked_texts_equal_one_chunk(monkeypatch) -> None:
    frame = pd.DataFrame({"a": [f"x{i % 3}" for i in range(7)], "b": [i / 7 for i in range(7)]})
    whole = frame_texts(frame)
    monkeypatch.setattr("harness.report.pages.tabular.CHUNK_ROWS", 2)
    assert frame_texts(frame) == whole
    assert json.loads(whole[1])[6] == {"a": "x0", "b": 6 / 7}
