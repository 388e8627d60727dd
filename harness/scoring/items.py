"""Which examples are the same item in another language, so the bootstrap can resample items, not rows.

A task declares ``items`` in its YAML (recorded on every record's ``task``):

- ``by_id``: the row's id names the item in every language (XQuAD/MLQA question ids, PAWS-X ``id``,
  PUD ``sent_id``, SIB-200 ``index_id``);
- ``by_index``: the n-th row is the same item in every language (XNLI's translated test files,
  line-aligned text); ids the loader generated (``<split>-<language>-<n>``) lose their language part;
- ``independent`` (the default, and every record that predates the field): no alignment.

Aligned tasks are one *alignment group*: one draw of item keys per bootstrap replicate, applied to
every language, split and checkpoint of the task. Putting unrelated items in one group (e.g. a subset
view whose generated ids collide with the parent's) only adds clusters; it never makes an interval
narrower than the data support, whereas splitting one item across groups would.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

ITEM_RULES: tuple[str, ...] = ("by_id", "by_index", "independent")

UNIT_ALIGNED = "items across languages"
UNIT_EXAMPLES = "examples per language"
UNIT_SEEDS = "seeds only"


def item_rule(task: Any) -> str:
    """The record task's rule (``independent`` when absent or unknown)."""
    rule = getattr(task, "items", None)
    if rule is None and isinstance(getattr(task, "model_extra", None), dict):
        rule = task.model_extra.get("items")
    return rule if rule in ITEM_RULES else "independent"


def alignment_group(task: str, split: str, language: str, rule: str) -> tuple[str, ...]:
    """The key of the set of examples resampled with one draw."""
    return (task,) if rule in ("by_id", "by_index") else (task, split, language)


def item_keys(ids: Sequence[str], rule: str, language: str) -> list[str]:
    """Each example's item key: equal across languages for the same item under ``rule``."""
    if rule != "by_index":
        return list(ids)
    generated = re.compile(rf"^(.*)-{re.escape(language)}-(\d+)(#\d+)?$")
    out = []
    for position, ident in enumerate(ids):
        found = generated.match(ident)
        if found:
            out.append(f"{found.group(1)}-{found.group(2)}{found.group(3) or ''}")
        elif ident.isdigit():
            out.append(ident)
        else:
            out.append(f"#{position}")
    return out
