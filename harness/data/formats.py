"""Readers for local formats that ``datasets`` has no builder for: SQuAD JSON, CoNLL-U, line-aligned text."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

RESAVE = "re-save it as UTF-8"


def read_utf8(path: Path) -> str:
    """The file's text; a bad byte is named with its line and column (1-based, in characters)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise HarnessError("data file not found", file=path) from None
    except IsADirectoryError:
        raise HarnessError("is a folder, not a data file", file=path) from None
    return decode_utf8(data, path)


def decode_utf8(data: bytes, path: Path) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = len(data[line_start : exc.start].decode("utf-8")) + 1
        raise HarnessError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at column {column}; {RESAVE}", file=path, line=line
        ) from None


def text_lines(path: Path) -> Iterator[str]:
    """Lines as ``open(path, encoding='utf-8')`` yields them (universal newlines), after the UTF-8 check."""
    yield from io.StringIO(read_utf8(path), newline=None)


def read_squad_json(path: Path) -> list[dict[str, Any]]:
    """SQuAD v1.1 layout (XQuAD, MLQA, TyDiQA-GoldP): one row per question."""
    try:
        doc = json.loads(read_utf8(path))
    except json.JSONDecodeError as exc:
        raise HarnessError(f"not valid JSON: {exc.msg}", file=path, line=exc.lineno) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        raise HarnessError("not SQuAD JSON: expected a top-level 'data' list", file=path, field="data")
    try:
        return _squad_rows(doc["data"])
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        problem = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise HarnessError(f"not SQuAD JSON: {problem}", file=path, field="data") from None


def _squad_rows(data: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for article in data:
        title = article.get("title", "")
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = qa.get("answers", [])
                rows.append(
                    {
                        "id": str(qa["id"]),
                        "title": title,
                        "context": context,
                        "question": qa["question"],
                        "answers": {
                            "text": [a["text"] for a in answers],
                            "answer_start": [int(a["answer_start"]) for a in answers],
                        },
                    }
                )
    return rows


def read_conllu(path: Path, *, metadata: bool = False) -> list[dict[str, Any]]:
    """CoNLL-U: one row per sentence with its words, UPOS tags and comment metadata.

    Multi-word token ranges (``1-2``) and empty nodes (``1.1``) are skipped, as XTREME's preprocessing does.
    ``metadata=True`` (as ``load_rows`` reads) adds columns for filtered splits: ``sent_id``; ``doc_id``,
    the ``# newdoc id`` in force (else a sentence's own ``# doc_id``); ``genre``, from the document's
    ``# meta::genre`` (GUM, GENTLE) or a sentence's ``# genre``. Document comments hold until the next newdoc.
    """
    rows: list[dict[str, Any]] = []
    tokens: list[str] = []
    tags: list[str] = []
    meta: dict[str, str] = {}
    document: dict[str, str] = {}

    def flush() -> None:
        if tokens:
            sent_id = meta.get("sent_id", f"{path.stem}-{len(rows)}")
            row = {"id": sent_id, "tokens": list(tokens), "tags": list(tags), "meta": json.dumps(meta)}
            if metadata:
                row["sent_id"] = sent_id
                row["doc_id"] = document.get("newdoc id") or meta.get("doc_id", "")
                row["genre"] = document.get("meta::genre") or meta.get("genre", "")
            rows.append(row)
        tokens.clear()
        tags.clear()
        meta.clear()

    for number, raw in enumerate(text_lines(path), start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            flush()
        elif line.startswith("#"):
            key, sep, value = line[1:].partition("=")
            key = key.strip()
            if key.startswith("newdoc"):
                document.clear()
            if sep:
                meta[key] = value.strip()
                if key.startswith(("newdoc", "meta::")):
                    document[key] = value.strip()
        else:
            cols = line.split("\t")
            if len(cols) != 10:
                raise HarnessError(
                    f"CoNLL-U line has {len(cols)} columns, expected 10", file=path, line=number
                )
            if "-" in cols[0] or "." in cols[0]:
                continue
            tokens.append(cols[1])
            tags.append(cols[3])
    flush()
    return rows


def read_parallel_text(source: Path, target: Path) -> list[dict[str, Any]]:
    """Two line-aligned files (Tatoeba/BUCC layout): line i of ``source`` translates line i of ``target``."""
    src = read_utf8(source).splitlines()
    tgt = read_utf8(target).splitlines()
    if len(src) != len(tgt):
        raise HarnessError(
            f"{len(src)} lines but {target} has {len(tgt)}; the two sides must align", file=source
        )
    return [
        {"id": str(i), "source": s.strip(), "target": t.strip()}
        for i, (s, t) in enumerate(zip(src, tgt, strict=True))
    ]


def read_conll_tags(
    path: Path, delimiter: str | None = None, token_prefix: str | None = None
) -> list[dict[str, Any]]:
    """``token<sep>tag`` per line, a blank line between sentences (XTREME's tagging files, MasakhaNER,
    CoNLL-2002/2003 with the tag in the last column). ``-DOCSTART-`` lines are skipped."""
    rows: list[dict[str, Any]] = []
    tokens: list[str] = []
    tags: list[str] = []

    def flush() -> None:
        if tokens:
            rows.append({"id": f"{path.stem}-{len(rows)}", "tokens": list(tokens), "tags": list(tags)})
        tokens.clear()
        tags.clear()

    for number, raw in enumerate(text_lines(path), start=1):
        line = raw.rstrip("\r\n")
        if not line.strip():
            flush()
            continue
        cols = line.split(delimiter) if delimiter else line.split()
        if cols[0] == "-DOCSTART-":
            continue
        if len(cols) < 2:
            raise HarnessError("expected a token and a tag", file=path, line=number)
        token = cols[0]
        if token_prefix and token.startswith(token_prefix):
            token = token[len(token_prefix) :]
        tokens.append(token)
        tags.append(cols[-1])
    flush()
    return rows
