"""The primary endpoint of the English vs non-English contrast and the one claim it supports.

One number answers the research question: by default the mean, over pairs, targets and (target
language × shifted split), of the shifted-domain gap difference ``(N_shifted − N_in) − (E_shifted −
E_in)`` (positive: the non-English source loses less under the shift). It is computed from the same
seed and item replicates as every row of the tables (``harness.scoring.cells.evaluate``), so its
interval is an interval of the mean, not an average of half-widths. Everything finer (per target,
language, domain) is exploratory and carries Holm-adjusted p-values.

Claims, in order: every pair excluded because a side did not learn → ``did-not-learn``; fewer than 2
paired seeds → ``insufficient-seeds`` (the interval covers test sampling only: never an effect);
p < α → ``non-english-more-robust`` / ``english-more-robust`` by the sign; else ``no-evidence``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, overload

import numpy as np
import pandas as pd

from harness.results.schema import Record
from harness.results.store import ResultsStore
from harness.scoring.bootstrap import DEFAULT_BOOT
from harness.scoring.cells import CellSet, Linear, evaluate, regroup
from harness.scoring.robustness import gap_parts
from harness.scoring.stats_tables import cells_of

GAP_ENDPOINT = "shifted_gap_difference"
IN_DOMAIN_ENDPOINT = "in_domain_difference"
ENDPOINTS = (GAP_ENDPOINT, IN_DOMAIN_ENDPOINT)
Claim = Literal[
    "non-english-more-robust", "english-more-robust", "no-evidence", "insufficient-seeds", "did-not-learn"
]
DID_NOT_LEARN: Claim = "did-not-learn"


@dataclass
class Verdict:
    endpoint: str
    estimate: float | None
    ci: list[float | None]
    p: float | None
    n_seeds: int
    resampling_unit: str
    claim: Claim
    excluded: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    n_pairs: int = 0
    alpha: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _finite(x: Any) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def _pairs(cs: CellSet) -> tuple[pd.DataFrame, list[dict[str, str]]]:
    """Usable (non_english, english) pairs, and the pairs left out with the reason."""
    from harness.report.contrast import pair_frame

    found = pair_frame(cs)
    found = found[found["english"].notna()]
    status = cs.frame.groupby("checkpoint")["learning_status"].first()
    excluded, keep = [], []
    for ne, en in zip(found["non_english"], found["english"], strict=True):
        bad = [name for name in (ne, en) if status.get(name) == DID_NOT_LEARN]
        keep.append(not bad)
        if bad:
            excluded.append(
                {
                    "pair": f"{ne} − {en}",
                    "reason": f"{', '.join(bad)}: intermediate dev score does not beat its trivial baseline",
                }
            )
    return found[np.asarray(keep, dtype=bool)] if len(found) else found, excluded


def _matched_rows(cs: CellSet, found: pd.DataFrame, endpoint: str) -> tuple[pd.DataFrame, dict[str, Linear]]:
    """One row per (pair, target, language, split) with both sides scored, and its cell parts."""
    if endpoint == GAP_ENDPOINT:
        rows, in_part, sh_part = gap_parts(cs)
        rows = rows.assign(row=np.arange(len(rows)))
        rows = rows[np.bincount(in_part.row, minlength=len(rows)) > 0]
        keys = ["task", "language", "shifted_split"]
    else:
        frame = cs.frame
        rows = frame[frame["in_domain"].astype(bool)].assign(
            row=np.flatnonzero(frame["in_domain"].astype(bool))
        )
        rows = rows.rename(columns={"split": "shifted_split"})
        keys = ["task", "language", "shifted_split"]
    left = found.merge(rows[["checkpoint", *keys, "row"]].rename(columns={"checkpoint": "non_english"}))
    right = rows[["checkpoint", *keys, "row"]].rename(columns={"checkpoint": "english", "row": "row_e"})
    table = left.merge(right, on=["english", *keys])
    if endpoint == GAP_ENDPOINT:
        return table, {"in": in_part, "sh": sh_part}
    pick = Linear.pick(np.arange(len(cs.frame)))
    return table, {"score": pick}


def endpoint_table(
    cs: CellSet, found: pd.DataFrame, endpoint: str = GAP_ENDPOINT, by: str | None = None
) -> pd.DataFrame:
    """The primary endpoint (one row; per value of pair column ``by`` when given, e.g. ``model``):
    estimate, CI, p, paired seeds and resampling unit, from the engine's replicates."""
    columns = ["group", "estimate", "low", "high", "p", "n_seeds", "unit", "n_pairs", "n_rows"]
    table, parts = _matched_rows(cs, found, endpoint)
    if table.empty:
        return pd.DataFrame(columns=columns)
    group = table[by].astype(str) if by else pd.Series("all", index=table.index)
    table = table.assign(group=group.to_numpy())
    pair_key = table["non_english"].astype(str) + "\x1f" + table["english"].astype(str)
    n_pairs = pair_key.groupby(table["group"]).transform("nunique").to_numpy()
    n_targets = table["task"].groupby([table["group"], pair_key]).transform("nunique").to_numpy()
    n_rows = table["task"].groupby([table["group"], pair_key, table["task"]]).transform("size").to_numpy()
    weights = 1.0 / (n_pairs * n_targets * n_rows)
    names = sorted(table["group"].unique())
    out_rows = np.searchsorted(np.asarray(names, dtype=object), table["group"].to_numpy())
    a_rows, b_rows = table["row"].to_numpy(np.int64), table["row_e"].to_numpy(np.int64)
    n = len(names)
    grouped = {}
    for name, part in parts.items():
        grouped[f"a_{name}"] = regroup(part, a_rows, out_rows, weights, n)
        grouped[f"b_{name}"] = regroup(part, b_rows, out_rows, weights, n)
    if endpoint == GAP_ENDPOINT:

        def combine(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"diff": (p["a_sh"] - p["a_in"]) - (p["b_sh"] - p["b_in"])}

    else:

        def combine(p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return {"diff": p["a_score"] - p["b_score"]}

    stats = evaluate(cs, grouped, combine, p_values=["diff"])
    return pd.DataFrame(
        {
            "group": names,
            "estimate": stats["diff"],
            "low": stats["diff_low"],
            "high": stats["diff_high"],
            "p": stats["diff_p"],
            "n_seeds": stats["n_paired_seeds"],
            "unit": stats["unit"],
            "n_pairs": pd.Series(n_pairs).groupby(out_rows).first().to_numpy(),
            "n_rows": np.bincount(out_rows, minlength=n),
        }
    )


def claim_of(estimate: float, p: float, n_seeds: int, alpha: float = 0.05) -> Claim:
    """The claim one endpoint row supports (``did-not-learn`` is decided before, from the pairs)."""
    if n_seeds < 2:
        return "insufficient-seeds"
    if not (math.isfinite(estimate) and math.isfinite(p)) or p >= alpha:
        return "no-evidence"
    return "non-english-more-robust" if estimate > 0 else "english-more-robust"


def _unit_text(unit: Any, n_seeds: int) -> str:
    base = unit if isinstance(unit, str) else "none"
    if n_seeds >= 2:
        return f"{base} + {n_seeds} paired seeds"
    return f"{base}; training variance unmeasured (1 seed)"


def grid_endpoint(cs: CellSet) -> tuple[str, list[str]]:
    """The endpoint the records' grid declared (``primary_endpoint``), the default when none did, and
    a note when grids disagree (then the default: one store, one confirmatory question)."""
    column = cs.frame["primary_endpoint"] if "primary_endpoint" in cs.frame.columns else pd.Series([])
    declared = sorted({str(v) for v in column.dropna() if str(v) in ENDPOINTS})
    if len(declared) == 1:
        return declared[0], []
    if not declared:
        return GAP_ENDPOINT, []
    return GAP_ENDPOINT, [
        f"the grids declare different primary endpoints ({', '.join(declared)}); the default used"
    ]


@overload
def primary_verdict(
    cs: CellSet, endpoint: str | None = None, alpha: float = 0.05, by: None = None
) -> Verdict: ...
@overload
def primary_verdict(
    cs: CellSet, endpoint: str | None = None, alpha: float = 0.05, *, by: str
) -> list[Verdict]: ...
def primary_verdict(
    cs: CellSet, endpoint: str | None = None, alpha: float = 0.05, by: str | None = None
) -> Verdict | list[Verdict]:
    """The verdict object (a list, one per group, when ``by`` is given); ``endpoint`` defaults to the
    grid's declared one."""
    grid_notes: list[str] = []
    if endpoint is None:
        endpoint, grid_notes = grid_endpoint(cs)
    found, excluded = _pairs(cs)
    table = endpoint_table(cs, found, endpoint, by) if len(found) else pd.DataFrame()
    if table.empty:
        had_pairs = bool(excluded)
        claim: Claim = DID_NOT_LEARN if had_pairs else "no-evidence"
        note = (
            "every pair has a side that did not learn"
            if had_pairs
            else "no non-English-source checkpoint with an English counterpart scored on the endpoint's splits"
        )
        notes = [note, *grid_notes]
        empty = Verdict(endpoint, None, [None, None], None, 0, "none", claim, excluded, notes, 0, alpha)
        return [empty] if by else empty
    out = []
    for row in table.to_dict("records"):
        n_seeds = int(row["n_seeds"])
        notes = [*grid_notes]
        if n_seeds < 2:
            notes.append("training variance unmeasured: fewer than 2 paired seeds")
        out.append(
            Verdict(
                endpoint,
                _finite(row["estimate"]),
                [_finite(row["low"]), _finite(row["high"])],
                _finite(row["p"]),
                n_seeds,
                _unit_text(row["unit"], n_seeds),
                claim_of(float(row["estimate"]), float(row["p"]), n_seeds, alpha),
                excluded,
                notes,
                int(row["n_pairs"]),
                alpha,
            )
        )
    return out if by else out[0]


def store_verdict(
    store: ResultsStore | None,
    records: Sequence[Record],
    n_boot: int = DEFAULT_BOOT,
    endpoint: str | None = None,
    alpha: float = 0.05,
) -> Verdict:
    verdict = primary_verdict(cells_of(store, records, n_boot), endpoint, alpha)
    assert isinstance(verdict, Verdict)
    return verdict


_CLAIM_WORDS: dict[Claim, str] = {
    "non-english-more-robust": "non-English intermediate sources are more robust to domain shift than English",
    "english-more-robust": "English intermediate sources are more robust to domain shift than non-English",
    "no-evidence": "no evidence of a difference",
    "insufficient-seeds": "not judged: fewer than 2 paired seeds, so training variance is unmeasured",
    "did-not-learn": "not judged: an intermediate condition did not learn",
}


def claim_words(v: Verdict) -> str:
    """The claim in words, for the verdict's endpoint."""
    if v.endpoint == IN_DOMAIN_ENDPOINT and v.claim.endswith("more-robust"):
        better, worse = (
            ("non-English", "English") if v.claim.startswith("non") else ("English", "non-English")
        )
        return f"{better} intermediate sources score higher in-domain than {worse}"
    return _CLAIM_WORDS[v.claim]


def verdict_words(v: Verdict) -> str:
    """The verdict object in one paragraph."""
    what = (
        "shifted-domain gap difference (non-English − English)"
        if v.endpoint == GAP_ENDPOINT
        else ("in-domain difference (non-English − English)")
    )
    parts = [f"Primary endpoint, {what}: {claim_words(v)}."]
    if v.estimate is not None:
        low, high = v.ci
        interval = (
            f" (95 % CI {100 * low:+.1f} to {100 * high:+.1f})"
            if low is not None and high is not None
            else ""
        )
        p_text = f", p = {v.p:.3g}" if v.p is not None else ""
        parts.append(
            f"Estimate {100 * v.estimate:+.1f} points{interval}{p_text}; {v.n_pairs} pair(s); "
            f"resampling: {v.resampling_unit}."
        )
    for item in v.excluded:
        parts.append(f"Left out: {item['pair']} ({item['reason']}).")
    said = " ".join(parts).lower()
    # a note whose point the claim or the resampling unit already made is not repeated
    parts += [f"{note[0].upper()}{note[1:]}." for note in v.notes if note and note.split(":")[0] not in said]
    return " ".join(parts)
