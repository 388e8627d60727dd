"""A multilingual mix of one intermediate task: the same items as its single-language conditions, each
item in one of the mix's languages.

In the id-hash order that ``size`` selects by (``select_by_size``), the r-th item takes language
``languages[r % k]``, so a mix of k languages holds every selected item exactly once and about 1/k of them
in each language; the same rule splits the dev items, so the dev score is read on a mix as well. The rule
is keyed into the job (``MIX_RULE``): changing it retrains.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import datasets

from harness.data.loaders import RowSet
from harness.errors import HarnessError

MIX_RULE = "id-hash round-robin v1"
MIX_LANGUAGE = "mul"  # ISO 639 "multiple languages": the source language recorded for a mix


def item_id(ident: object, auto_id_prefix: str | None) -> str:
    """An item's id with the loader's per-language auto-id prefix (``<split>-<lang>-``) dropped."""
    text = str(ident)
    if auto_id_prefix and text.startswith(auto_id_prefix):
        return text[len(auto_id_prefix) :]
    return text


def hash_order(ids: Sequence[str]) -> list[str]:
    return sorted(ids, key=lambda ident: hashlib.sha1(ident.encode()).hexdigest())


def assign_languages(ids: Sequence[str], languages: Sequence[str]) -> dict[str, str]:
    """Item id → its language under the mix rule."""
    return {ident: languages[r % len(languages)] for r, ident in enumerate(hash_order(ids))}


def mix_rows(
    rows: Mapping[str, RowSet], prefixes: Mapping[str, str | None], what: str
) -> tuple[RowSet, dict[str, int]]:
    """One RowSet holding each item once, in the language the rule gives it, and the count per language.

    ``rows`` maps each language of the mix (in the grid's order) to the same items in that language;
    ``prefixes`` gives each language's auto-id prefix. A language missing an item is an error: a mix must
    hold the same items as the single-language conditions it is compared with."""
    languages = list(rows)
    ids = {lang: [item_id(i, prefixes.get(lang)) for i in rows[lang].rows["id"]] for lang in languages}
    reference = set(ids[languages[0]])
    for lang in languages[1:]:
        if set(ids[lang]) != reference:
            missing = sorted(reference - set(ids[lang]))[:3] or sorted(set(ids[lang]) - reference)[:3]
            raise HarnessError(
                f"{what}: a multilingual mix needs the same items in every language, but "
                f"{languages[0]!r} and {lang!r} differ (e.g. item {missing[0]!r})",
                field="source_lang",
            )
    owner = assign_languages(sorted(reference), languages)
    parts, counts = [], {}
    for lang in languages:
        keep = [i for i, ident in enumerate(ids[lang]) if owner[ident] == lang]
        counts[lang] = len(keep)
        part = rows[lang].rows.select(keep)
        if "language" not in part.column_names:  # mixed-language rows say their language (QA normalisers)
            part = part.add_column("language", [lang] * len(part))
        parts.append(part)
    mixed = datasets.concatenate_datasets(parts)
    fingerprint = hashlib.sha256(
        "|".join([MIX_RULE, *(f"{lang}:{rows[lang].fingerprint}" for lang in languages)]).encode()
    ).hexdigest()
    first = rows[languages[0]]
    origin = " + ".join(f"{rows[lang].origin} ({counts[lang]} items)" for lang in languages)
    return RowSet(first.task, first.split, MIX_LANGUAGE, mixed, fingerprint, origin), counts
