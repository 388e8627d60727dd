"""The static leaderboard site, rendered deterministically from the records (jinja2, autoescape on):

    index.html                leaderboard: one row per checkpoint, CIs, tie-aware ranks, filters, sorting
    contrast.html             the research answer: non-English − English, paired, with the verdict
    targets/<task>.html       per language and domain, in-domain vs shifted, "not available" splits
    checkpoints/<name>.html   lineage, settings, scores, predictions links, XTREME submission
    methodology.html, downloads.html, data/<table>.csv|json, exports/<name>/seed-<n>/…, results.json
    .harness-site.json        the files this render wrote: the next render deletes only those (site_safety)

No external URL anywhere; the only script is the inline site.js (sorting, filters), so every page works
from file://. Per-example predictions are linked relatively into the results store, not copied: they can
be far larger than the site, and the site is rendered beside the store (leaderboards/site next to results/).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

from harness.report.pages.checkpoints import checkpoint_contexts
from harness.report.pages.contrast import contrast_context
from harness.report.pages.data import SiteData, gather
from harness.report.pages.downloads import SCORE_UNITS, write_downloads
from harness.report.pages.format import distinct, page_href, slug
from harness.report.pages.index import index_context
from harness.report.pages.ranking import TIE_RULE
from harness.report.pages.stats import SiteTables
from harness.report.pages.tabular import frame_texts, table_json
from harness.report.pages.targets import target_contexts
from harness.report.site_safety import check_site_folder, claim_site_folder, prune_stale, write_manifest
from harness.report.tables import DEMO_PROTOCOL, flat_frame, per_language_of
from harness.resources import templates_dir as builtin_templates_dir
from harness.results.atomic import atomic_write_text, dumps
from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.cells import with_badge

INDEX_TEMPLATE = "index.html.j2"
DEMO_NOTE = "a shipped sample of the data, not the official test protocol"
RESULTS_JSON = "results.json"  # the per-language table's JSON download (not written twice)
RESULTS_SCORE_UNIT = SCORE_UNITS["per_language"]


def default_templates_dir() -> Path:
    return builtin_templates_dir().resolve()


def make_environment(templates_dir: Path) -> Environment:
    """Templates from ``templates_dir``, falling back to the shipped ones for any it does not have."""
    loaders = [FileSystemLoader(str(templates_dir))]
    if Path(templates_dir).resolve() != default_templates_dir():
        loaders.append(FileSystemLoader(str(default_templates_dir())))
    return Environment(
        autoescape=True,
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def results_json(records: Sequence[Record]) -> str:
    """The per-language table as JSON (fractions); '<', '>' and '&' escaped so it is safe to embed."""
    table = per_language_of(flat_frame(records))
    return table_json("per_language", table, frame_texts(table)[1], RESULTS_SCORE_UNIT).decode("utf-8")


def _methodology(data: SiteData, targets: list[dict[str, Any]]) -> dict[str, Any]:
    frame = data.frame
    facts = ["task", "version", "protocol", "main_metric", "language"]
    distinct_rows = frame[facts].iloc[data.first_rows(facts)] if len(frame) else frame  # a few rows per task
    tasks = []
    for target in targets:
        mine = distinct_rows[distinct_rows["task"] == target["name"]] if len(frame) else frame
        tasks.append(
            {
                "name": target["name"],
                "href": target["file"],
                "kind": ", ".join(target["kind"]) or "—",
                "version": ", ".join(distinct(mine["version"])) if len(mine) else "—",
                "protocol": ", ".join(distinct(mine["protocol"])) if len(mine) else "—",
                "metric": ", ".join(distinct(mine["main_metric"])) if len(mine) else "—",
                "splits": target["splits"],
                "n_languages": len(set(mine["language"])) if len(mine) else 0,
                "n_not_available": target["n_not_available"],
            }
        )
    return {
        "tasks": tasks,
        "selection_rules": distinct(frame["selection_rule"]) if len(frame) else [],
        "tie_rule": TIE_RULE,
        "n_boot": data.tables.n_boot,
        "n_unavailable": len(data.unavailable),
        "any_prompted": bool(data.badges()),
    }


def render_site(
    records: Sequence[Record],
    out_dir: Path,
    results_root: Path,
    *,
    templates_dir: Path | None = None,
    tables: SiteTables | None = None,
    n_boot: int = 1000,
) -> list[Path]:
    """Write the site into ``out_dir`` (created if needed); return the paths written, index.html first.

    ``tables`` overrides the statistics (tests, benchmarks); by default they are computed from the
    records and the per-example predictions in ``results_root``. A folder the site may not use (see
    ``site_safety``) raises HarnessError before anything is written; only files an earlier render wrote
    there are ever deleted."""
    out_dir = Path(out_dir)
    previous = check_site_folder(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    claim_site_folder(out_dir)
    data = gather(records, out_dir, ResultsStore(Path(results_root)), tables=tables, n_boot=n_boot)
    env = make_environment(Path(templates_dir) if templates_dir else default_templates_dir())
    index = index_context(data)
    order = [row["checkpoint"] for row in index["board"]["rows"]]
    langs = with_badge(per_language_of(data.frame), data.badges())  # a badge column only if prompted
    targets = target_contexts(data, order)
    checkpoints, exported = checkpoint_contexts(data, order)
    downloads, data_files = write_downloads(
        out_dir,
        {
            "leaderboard": index["board"].pop("table"),
            **data.tables.downloads(),
            "per_language": langs,
            "unavailable": _unavailable_frame(data),
        },
        json_at={"per_language": RESULTS_JSON},
    )
    common = {
        "n_records": len(data.frame),
        "n_checkpoints": len(order),
        "grids": distinct(r.grid for r in data.representatives(["checkpoint", "task", "seed"]).values()),
        "demo_note": DEMO_NOTE,
        "verdict": data.tables.verdict,
        "any_demo": bool(len(data.frame)) and bool((data.frame["protocol"] == DEMO_PROTOCOL).any()),
        "nav_targets": [
            {
                "name": t["name"],
                "href": t["file"],
                "demo_split": t["demo_split"],
                "n_not_available": t["n_not_available"],
            }
            for t in targets
        ],
    }
    pages: list[tuple[Path, str, dict[str, Any]]] = [
        (out_dir / "index.html", INDEX_TEMPLATE, {"page": "index", "title": "Leaderboard", "root": "", **index}),
        (out_dir / "contrast.html", "contrast.html.j2", {"page": "contrast", "title": "English vs non-English", "root": "", "c": contrast_context(data)}),
        (out_dir / "methodology.html", "methodology.html.j2", {"page": "methodology", "title": "Methodology", "root": "", **_methodology(data, targets)}),
        (out_dir / "downloads.html", "downloads.html.j2", {"page": "downloads", "title": "Downloads", "root": "", "downloads": downloads}),
    ]  # fmt: skip
    pages += [
        (out_dir / t["file"], "target.html.j2", {"page": f"target:{t['name']}", "title": t["name"], "root": "../", "target": t})
        for t in targets
    ]  # fmt: skip
    pages += [
        (out_dir / "checkpoints" / f"{slug(c['name'])}.html", "checkpoint.html.j2", {"page": "checkpoint", "title": c["name"], "root": "../", "checkpoint": c})
        for c in checkpoints
    ]  # fmt: skip
    written = []
    for path, template, context in pages:
        atomic_write_text(path, env.get_template(template).render(**common, **context))
        written.append(path)
    written += [*data_files, *exported]
    relative = {p.relative_to(out_dir).as_posix() for p in written}
    prune_stale(out_dir, previous, relative)
    write_manifest(out_dir, relative)  # last: it lists only files that are there
    return written


def _unavailable_frame(data: SiteData) -> pd.DataFrame:
    columns = ["task", "split", "domain", "in_domain", "language", "reason", "expected"]
    rows = [
        {c: (dumps(e.get(c)).strip() if isinstance(e.get(c), list | dict) else e.get(c)) for c in columns}
        for e in data.unavailable
    ]
    return pd.DataFrame(rows, columns=columns)


__all__ = ["render_site", "results_json", "make_environment", "default_templates_dir", "page_href"]
