"""Derive the shipped UD sample from full CoNLL-U files (run once; documented in README.md).

Keeps ID, FORM and UPOS and blanks the other columns; keeps every comment line (sent_id, text).
PUD files keep every 4th sentence (250 of 1000: news `n…` and Wikipedia `w…` ids both stay).
English EWT dev (2001 sentences; EWT train is not in the shared copy) is split by sentence into a
training part (sentences i % 5 != 0) and a model-selection part (i % 5 == 0): a "demo split".
"""

from __future__ import annotations

import sys
from pathlib import Path


def sentences(path: Path) -> list[list[str]]:
    blocks, block = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            block.append(line)
        elif block:
            blocks.append(block)
            block = []
    if block:
        blocks.append(block)
    return blocks


def reduce_line(line: str) -> str:
    if line.startswith("#"):
        return line
    cols = line.split("\t")
    return "\t".join([cols[0], cols[1], "_", cols[3], "_", "_", "_", "_", "_", "_"])


def write_sample(source: Path, target: Path, every: int) -> int:
    kept = [b for i, b in enumerate(sentences(source)) if i % every == 0]
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("".join("\n".join(reduce_line(x) for x in b) + "\n\n" for b in kept), encoding="utf-8")
    return len(kept)


if __name__ == "__main__":
    shared = Path(sys.argv[1])  # the folder with UD_* treebank folders
    out = Path(__file__).parent
    ewt = sentences(shared / "UD_English-EWT/en_ewt-ud-dev.conllu")
    for part, keep in (("train", lambda i: i % 5 != 0), ("dev", lambda i: i % 5 == 0)):
        kept = [b for i, b in enumerate(ewt) if keep(i)]
        path = out / f"UD_English-EWT/en_ewt-ud-dev.{part}-part.conllu"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join("\n".join(reduce_line(x) for x in b) + "\n\n" for b in kept), encoding="utf-8")
        print(path.name, len(kept))
    for folder in sorted(shared.glob("UD_*-PUD")):
        for file in folder.glob("*.conllu"):
            print(file.name, write_sample(file, out / folder.name / file.name, 4))
