"""Derive the shipped XQuAD demo sample from full XQuAD and MLQA files (run once; see README.md).

XQuAD's 48 articles are split by article index: even-indexed articles (English only) join the training
pool, odd-indexed articles are scored in all 11 XTREME languages, so no translated item is both trained
on and scored. MLQA English dev articles are split by index too: i % 10 == 0 → model selection (dev),
the rest → the training pool. The training pool interleaves MLQA and XQuAD articles, so that a
``train.limit`` of the first N questions takes from both. Articles, paragraphs and questions are copied
unchanged (SQuAD v1.1 JSON); only the selection and order of articles differ from the sources.

    python data/xquad_demo/build_sample.py ../shared/data
"""

from __future__ import annotations

import json
import sys
from itertools import zip_longest
from pathlib import Path

LANGUAGES = ["en", "es", "de", "el", "ru", "tr", "ar", "vi", "th", "zh", "hi"]  # XTREME's XQuAD list


def articles(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["data"]


def write(path: Path, chosen: list[dict], version: str) -> int:
    text = json.dumps({"version": version, "data": chosen}, ensure_ascii=False, separators=(",", ":"))
    path.write_text(text + "\n", encoding="utf-8")
    return sum(len(p["qas"]) for a in chosen for p in a["paragraphs"])


def main(shared: Path, out: Path) -> None:
    xquad_en = articles(shared / "xquad" / "xquad.en.json")
    mlqa_en = articles(shared / "mlqa" / "dev" / "dev-context-en-question-en.json")
    xquad_train = [a for i, a in enumerate(xquad_en) if i % 2 == 0]
    mlqa_train = [a for i, a in enumerate(mlqa_en) if i % 10 != 0]
    pool = [a for pair in zip_longest(mlqa_train, xquad_train) for a in pair if a is not None]
    print("train.en.json", write(out / "train.en.json", pool, "xquad_demo-train"))
    mlqa_dev = [a for i, a in enumerate(mlqa_en) if i % 10 == 0]
    print("dev.en.json", write(out / "dev.en.json", mlqa_dev, "xquad_demo-dev"))
    for lang in LANGUAGES:
        held_out = [a for i, a in enumerate(articles(shared / "xquad" / f"xquad.{lang}.json")) if i % 2 == 1]
        print(f"test.{lang}.json", write(out / f"test.{lang}.json", held_out, "1.1"))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(__file__).parent)
