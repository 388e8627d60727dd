"""Derive the shipped UD sample from full CoNLL-U files (run once; documented in README.md).

Keeps ID, FORM and UPOS and blanks the other columns; keeps every comment line (sent_id, text).
PUD files keep every 4th sentence (250 of 1000: news `n…` and Wikipedia `w…` ids both stay).
English EWT dev (2001 sentences; EWT train is not in the shared copy) is split by sentence into a
training part (sentences i % 5 != 0) and a model-selection part (i % 5 == 0): a "demo split".
The single-treebank test files behind `udpos_domains` (a reference and a shifted domain per language) keep
every k-th sentence, k chosen for about 250 sentences, with the treebank's LICENSE.txt copied beside them.

Usage: python build_sample.py SHARED_UD_FOLDER [OUTPUT_FOLDER (default: this folder)]
"""

from __future__ import annotations

import shutil
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


# treebank folder -> (test file, every k-th sentence kept)
DOMAIN_SAMPLES: dict[str, tuple[str, int]] = {
    "UD_Finnish-TDT": ("fi_tdt-ud-test.conllu", 6),  # 1555 -> 260
    "UD_Finnish-OOD": ("fi_ood-ud-test.conllu", 8),  # 2122 -> 266
    "UD_French-GSD": ("fr_gsd-ud-test.conllu", 2),  # 416 -> 208
    "UD_French-FQB": ("fr_fqb-ud-test.conllu", 9),  # 2289 -> 255
}


def write_blocks(target: Path, blocks: list[list[str]]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        "".join("\n".join(reduce_line(x) for x in b) + "\n\n" for b in blocks), encoding="utf-8"
    )


def write_sample(source: Path, target: Path, every: int) -> int:
    kept = [b for i, b in enumerate(sentences(source)) if i % every == 0]
    write_blocks(target, kept)
    return len(kept)


def build_ewt_parts(shared: Path, out: Path) -> None:
    ewt = sentences(shared / "UD_English-EWT/en_ewt-ud-dev.conllu")
    for part, keep in (("train", lambda i: i % 5 != 0), ("dev", lambda i: i % 5 == 0)):
        kept = [b for i, b in enumerate(ewt) if keep(i)]
        path = out / f"UD_English-EWT/en_ewt-ud-dev.{part}-part.conllu"
        write_blocks(path, kept)
        print(path.name, len(kept))


def build_pud(shared: Path, out: Path) -> None:
    for folder in sorted(shared.glob("UD_*-PUD")):
        for file in folder.glob("*.conllu"):
            print(file.name, write_sample(file, out / folder.name / file.name, 4))


def build_domains(shared: Path, out: Path) -> None:
    for folder, (name, every) in DOMAIN_SAMPLES.items():
        print(name, write_sample(shared / folder / name, out / folder / name, every))
        shutil.copyfile(shared / folder / "LICENSE.txt", out / folder / "LICENSE.txt")


if __name__ == "__main__":
    shared = Path(sys.argv[1])  # the folder with UD_* treebank folders
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path(__file__).parent
    build_ewt_parts(shared, out)
    build_pud(shared, out)
    build_domains(shared, out)
