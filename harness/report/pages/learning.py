"""What a checkpoint page shows about its training: the loss curve (inline SVG), the dev score per
epoch beside the trivial baseline, the kept epoch and why, and the learning status badge.

Read from the checkpoint's ``training.json`` in the results store (harness.training.learning writes
it); a store copied without its checkpoints still shows the status from the records."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from markupsafe import Markup

from harness.report.pages.html import esc, rows_markup
from harness.report.tables import pct

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 420.0, 150.0, 44.0, 12.0, 12.0, 28.0
STATUS_LABELS = {
    "learned": "learned",
    "did-not-learn": "did not learn",
    "unknown": "learning unknown",
    "not-trained": "not trained",
}


def status_badge(status: str | None) -> Markup:
    """The learning status as a label; ``did-not-learn`` is styled red (class ``did-not-learn``)."""
    key = status or "unknown"
    label = STATUS_LABELS.get(key, key)
    title = "the dev score's 95 % CI lower bound is above the trivial baseline" if key == "learned" else label
    return rows_markup([f'<span class="label {esc(key)}" title="{esc(title)}">{esc(label)}</span>'])


def _ticks(low: float, high: float, n: int = 4) -> list[float]:
    if high <= low:
        return [low]
    return [low + (high - low) * i / n for i in range(n + 1)]


def loss_curve_svg(points: Sequence[dict[str, Any]], title: str) -> Markup | None:
    """The training loss per logging step as a line, with step and loss gridlines; None without points."""
    usable = [p for p in points if isinstance(p.get("loss"), int | float) and math.isfinite(p["loss"])]
    if not usable:
        return None
    steps = [float(p["step"]) for p in usable]
    losses = [float(p["loss"]) for p in usable]
    first, last = min(steps), max(steps)
    low, high = min(0.0, min(losses)), max(losses) * 1.05 or 1.0
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(step: float) -> float:
        return LEFT + (0.5 if last == first else (step - first) / (last - first)) * plot_w

    def y(loss: float) -> float:
        return TOP + (high - loss) / (high - low) * plot_h

    path = " ".join(
        f"{'M' if i == 0 else 'L'}{x(s):.1f} {y(v):.1f}"
        for i, (s, v) in enumerate(zip(steps, losses, strict=True))
    )
    out = [
        f'<figure class="plot loss-curve">\n<figcaption>{esc(title)}</figcaption>\n'
        f'<svg role="img" aria-label="{esc(title)}" width="{WIDTH:.0f}" height="{HEIGHT:.0f}" '
        f'viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}">\n'
    ]
    for tick in _ticks(low, high):
        out.append(
            f'<line class="grid" x1="{LEFT:.1f}" x2="{WIDTH - RIGHT:.1f}" y1="{y(tick):.1f}" y2="{y(tick):.1f}"/>\n'
            f'<text class="tick" x="{LEFT - 4:.1f}" y="{y(tick):.1f}" dy="3" text-anchor="end">{tick:.2f}</text>\n'
        )
    for step in sorted({first, last}):
        out.append(
            f'<text class="tick" x="{x(step):.1f}" y="{HEIGHT - 14:.1f}" text-anchor="middle">{step:.0f}</text>\n'
        )
    out.append(
        f'<text class="tick" x="{LEFT + plot_w / 2:.1f}" y="{HEIGHT - 2:.1f}" text-anchor="middle">step</text>\n'
        f'<path class="loss" d="{path}" fill="none" stroke="#0b5cad" stroke-width="1.5"/>\n'
    )
    if len(usable) == 1:
        out.append(f'<circle cx="{x(steps[0]):.1f}" cy="{y(losses[0]):.1f}" r="2.5" fill="#0b5cad"/>\n')
    out.append("</svg>\n</figure>\n")
    return rows_markup(out)


def _ci(row: dict[str, Any]) -> str:
    low, high = row.get("dev_low"), row.get("dev_high")
    return "" if low is None or high is None else f"[{pct(low)}, {pct(high)}]"


def read_training(checkpoints_dir: Path, key: str) -> dict[str, Any] | None:
    path = checkpoints_dir / key / "training.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def training_view(
    training: dict[str, Any] | None, learning: dict[str, Any] | None, title: str
) -> dict[str, Any]:
    """The template's view of one training run (``training`` may be None: the status alone is shown)."""
    status = (learning or {}).get("status") or ((training or {}).get("learning") or {}).get("status")
    run = (training or {}).get("training") or {}
    dev = (training or {}).get("dev") or {}
    history = run.get("dev_history") or []
    chosen = run.get("best_epoch")
    rows = [
        {
            "epoch": f"{h['epoch']:g}",
            "step": h.get("step", ""),
            "score": pct(h.get("dev_score")),
            "ci": _ci(h),
            "baseline": pct(h.get("baseline", dev.get("baseline"))),
            "kept": (chosen is not None and h["epoch"] == round(chosen, 4))
            or (chosen is None and i == len(history) - 1),
        }
        for i, h in enumerate(history)
    ]
    final = run.get("final_loss")
    return {
        "title": title,
        "present": training is not None,
        "badge": status_badge(status),
        "status": status or "unknown",
        "loss_svg": loss_curve_svg(run.get("loss_curve") or [], f"{title}: training loss per logging step"),
        "final_loss": "—" if final is None else f"{final:.4f}",
        "steps": run.get("steps", "—"),
        "reason": run.get("selection_reason") or run.get("selection_rule") or "—",
        "dev_origin": dev.get("origin", "none: no dev split"),
        "metric": dev.get("metric", ""),
        "baseline_name": dev.get("baseline_name", ""),
        "dev_rows": rows,
        "mixture": [
            {
                "label": m.get("label", m.get("task")),
                "badge": status_badge((m.get("learning") or {}).get("status")),
                "score": pct((m.get("learning") or {}).get("dev_score")),
                "ci": _ci(m.get("learning") or {}),
                "baseline": pct((m.get("learning") or {}).get("baseline")),
                "mean_loss": "—" if m.get("mean_loss") is None else f"{m['mean_loss']:.4f}",
            }
            for m in (training or {}).get("mixture") or []
        ],
    }
