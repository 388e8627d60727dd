"""Language codes: ISO 639-1 where one exists, else ISO 639-3 (pycountry's tables)."""

from __future__ import annotations

from functools import lru_cache

import pycountry

# XTREME v1's language lists, exactly as the official scorer lists them.
XTREME_LANGUAGES: dict[str, list[str]] = {
    "xnli": ["ar", "bg", "de", "el", "en", "es", "fr", "hi", "ru", "sw", "th", "tr", "ur", "vi", "zh"],
    "pawsx": ["de", "en", "es", "fr", "ja", "ko", "zh"],
    "udpos": [
        "af",
        "ar",
        "bg",
        "de",
        "el",
        "en",
        "es",
        "et",
        "eu",
        "fa",
        "fi",
        "fr",
        "he",
        "hi",
        "hu",
        "id",
        "it",
        "ja",
        "kk",
        "ko",
        "mr",
        "nl",
        "pt",
        "ru",
        "ta",
        "te",
        "th",
        "tl",
        "tr",
        "ur",
        "vi",
        "yo",
        "zh",
    ],
    "panx": [
        "ar",
        "he",
        "vi",
        "id",
        "jv",
        "ms",
        "tl",
        "eu",
        "ml",
        "ta",
        "te",
        "af",
        "nl",
        "en",
        "de",
        "el",
        "bn",
        "hi",
        "mr",
        "ur",
        "fa",
        "fr",
        "it",
        "pt",
        "es",
        "bg",
        "ru",
        "ja",
        "ka",
        "ko",
        "th",
        "sw",
        "yo",
        "my",
        "zh",
        "kk",
        "tr",
        "et",
        "fi",
        "hu",
    ],
    "xquad": ["en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi"],
    "mlqa": ["en", "es", "de", "ar", "hi", "vi", "zh"],
    "tydiqa": ["en", "ar", "bn", "fi", "id", "ko", "ru", "sw", "te"],
    "bucc2018": ["de", "fr", "ru", "zh"],
    "tatoeba": [
        "ar",
        "he",
        "vi",
        "id",
        "jv",
        "tl",
        "eu",
        "ml",
        "ta",
        "te",
        "af",
        "nl",
        "de",
        "el",
        "bn",
        "hi",
        "mr",
        "ur",
        "fa",
        "fr",
        "it",
        "pt",
        "es",
        "bg",
        "ru",
        "ja",
        "ka",
        "ko",
        "th",
        "sw",
        "zh",
        "kk",
        "tr",
        "et",
        "fi",
        "hu",
    ],
}


@lru_cache(maxsize=4096)
def is_known_language(code: str) -> bool:
    """True for an ISO 639-1 or ISO 639-3 code (lower case), e.g. ``sw``, ``pcm``."""
    if not code or code != code.lower():
        return False
    if len(code) == 2:
        return pycountry.languages.get(alpha_2=code) is not None
    if len(code) == 3:
        return pycountry.languages.get(alpha_3=code) is not None
    return False


def language_name(code: str) -> str:
    lang = pycountry.languages.get(alpha_2=code) if len(code) == 2 else pycountry.languages.get(alpha_3=code)
    if lang is None:
        return code
    return lang.name.replace(" (macrolanguage)", "")
