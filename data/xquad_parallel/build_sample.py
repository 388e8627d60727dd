"""Derive the shipped parallel XQuAD sample from full XQuAD files (run once; see README.md).

XQuAD's 48 articles are the same text, questions and ids in every language. They are split by article
index, identically in every language: i % 6 == 0 → ``dev`` (8 articles), the rest → ``train``
(40 articles). Articles, paragraphs and questions are copied unchanged (SQuAD v1.1 JSON); only the
selection of articles differs from the sources. ``SOURCES.tsv`` records counts and checksums.

    python data/xquad_parallel/build_sample.py ../shared/data
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

LANGUAGES = ["en", "de", "es", "ru"]
DEV_EVERY = 6  # article index i % DEV_EVERY == 0 → dev
SOURCE_REPO = "deepmind/xquad"
SOURCE_COMMIT = "60cac411649156efb6aab9dd4c9cde787a2c0345"
RULES = {
    "train": "XQuAD articles with index i % 6 != 0 (40 articles)",
    "dev": "XQuAD articles with index i % 6 == 0 (0, 6, ..., 42; 8 articles)",
}
COLUMNS = ["file", "lang", "split", "questions", "articles", "source_repo", "source_path", "commit"]
COLUMNS += ["source_sha256", "selection", "license", "sha256"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def split_articles(articles: list[dict]) -> dict[str, list[dict]]:
    """``train`` and ``dev`` articles by index, each in source order."""
    return {
        "train": [a for i, a in enumerate(articles) if i % DEV_EVERY != 0],
        "dev": [a for i, a in enumerate(articles) if i % DEV_EVERY == 0],
    }


def write(path: Path, chosen: list[dict]) -> int:
    text = json.dumps({"version": "1.1", "data": chosen}, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return sum(len(p["qas"]) for a in chosen for p in a["paragraphs"])


def main(shared: Path, out: Path) -> None:
    rows = ["\t".join(COLUMNS)]
    for lang in LANGUAGES:
        source = shared / "xquad" / f"xquad.{lang}.json"
        articles = json.loads(source.read_text(encoding="utf-8"))["data"]
        for split, chosen in split_articles(articles).items():
            target = out / f"{split}.{lang}.json"
            questions = write(target, chosen)
            print(target.name, questions, "questions", len(chosen), "articles")
            rows.append(
                "\t".join(
                    [target.name, lang, split, str(questions), str(len(chosen)), SOURCE_REPO, source.name]
                    + [SOURCE_COMMIT, sha256(source), RULES[split], "CC BY-SA 4.0", sha256(target)]
                )
            )
    (out / "SOURCES.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)
