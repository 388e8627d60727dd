"""Local data files: non-UTF-8 bytes, 0-byte and blank files, broken JSON Lines — refused at plan time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.data import formats
from harness.data.file_checks import check_data_file
from harness.errors import HarnessError

PLAN = ("plan", "tasks/grids/tiny.yaml", "--tasks-dir", "tasks")


def _spoil(path: Path, line: int, column: int, byte: bytes = b"\xff") -> None:
    """Put ``byte`` before character ``column`` of ``line`` (both 1-based)."""
    lines = path.read_bytes().split(b"\n")
    text = lines[line - 1].decode("utf-8")
    lines[line - 1] = text[: column - 1].encode() + byte + text[column - 1 :].encode()
    path.write_bytes(b"\n".join(lines))


@pytest.mark.parametrize(
    "relative",
    [
        "data/cls/de/test.tsv",
        "data/cls/en/train.tsv",
        "data/mc/de.jsonl",
        "data/ret/fr.src",
        "data/ret/de.en",
    ],
)
def test_a_non_utf8_byte_is_named_with_file_line_and_column(
    workspace: Path, refused: Callable, relative: str
) -> None:
    _spoil(workspace / relative, line=3, column=5)
    outcome = refused(*PLAN, names=f"{relative}:3: not UTF-8: byte 0xff at column 5")
    assert str(workspace / relative) in outcome.errors[0]


@pytest.mark.parametrize(
    ("relative", "content", "message"),
    [
        ("data/cls/de/test.tsv", b"", "empty (0 bytes)"),
        ("data/mc/en.jsonl", b"", "empty (0 bytes)"),
        ("data/mc/en.jsonl", b"\n\n  \n", "only blank lines"),
        ("data/ret/de.src", b"", "empty (0 bytes)"),
        ("data/mc/en.jsonl", b'{"id": "q0"}\n{"id": \n', ":2: not a JSON line"),
        ("data/mc/en.jsonl", b"[1, 2]\n", ":1: a JSON line must be an object"),
    ],
)
def test_empty_and_broken_files_are_refused_before_training(
    workspace: Path, refused: Callable, relative: str, content: bytes, message: str
) -> None:
    (workspace / relative).write_bytes(content)
    refused(*PLAN, names=message)


def test_the_run_refuses_a_bad_file_before_writing_anything(workspace: Path, refused: Callable) -> None:
    (workspace / "data/cls/de/test.tsv").write_bytes(b"")
    refused("run", *PLAN[1:], "--results", "results", "--lock", "checkpoints.lock", names="empty (0 bytes)")
    assert not (workspace / "results").exists() and not (workspace / "checkpoints.lock").exists()


@pytest.mark.parametrize(
    ("reader", "suffix"),
    [
        (formats.read_conllu, ".conllu"),
        (lambda p: formats.read_conll_tags(p), ".tags"),
        (formats.read_squad_json, ".json"),
        (lambda p: formats.read_parallel_text(p, p), ".txt"),
    ],
)
def test_every_reader_names_the_bad_byte(tmp_path: Path, reader: Callable, suffix: str) -> None:
    path = tmp_path / f"f{suffix}"
    path.write_bytes(b"ok line\n\xc3\x28 broken\n")
    with pytest.raises(HarnessError) as caught:
        reader(path)
    assert caught.value.render() == f"{path}:2: not UTF-8: byte 0xc3 at column 1; re-save it as UTF-8"


@pytest.mark.parametrize(
    "doc", [b'{"data": [{"title": "t"}]}', b'{"data": [{"paragraphs": [{"qas": []}]}]}', b'{"data": [1]}']
)
def test_squad_json_of_the_wrong_shape_is_one_line(tmp_path: Path, doc: bytes) -> None:
    path = tmp_path / "squad.json"
    path.write_bytes(doc)
    with pytest.raises(HarnessError, match="not SQuAD JSON"):
        formats.read_squad_json(path)


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_the_loader_gives_one_line_instead_of_index_error(tiny_tasks: Path, content: bytes) -> None:
    from harness.catalogue.loader import Catalogue
    from harness.data.loaders import load_rows

    task = Catalogue.load(tiny_tasks).task("tiny_cls")
    path = tiny_tasks.parent / "data/cls/de/test.tsv"
    path.write_bytes(content)
    with pytest.raises(HarnessError, match="data file"):
        load_rows(task, split="test", language="de", base_dir=tiny_tasks)


@given(st.binary(max_size=200))
def test_decoding_either_succeeds_or_names_the_first_bad_byte(data: bytes) -> None:
    try:
        expected = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        with pytest.raises(HarnessError) as caught:
            formats.decode_utf8(data, Path("f.txt"))
        assert caught.value.line == data.count(b"\n", 0, exc.start) + 1
        assert f"byte 0x{data[exc.start]:02x}" in caught.value.message
    else:
        assert formats.decode_utf8(data, Path("f.txt")) == expected


def test_a_folder_where_a_file_is_expected(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="is a folder"):
        check_data_file(tmp_path, "tsv")
