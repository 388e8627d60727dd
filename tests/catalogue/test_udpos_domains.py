"""udpos_domains: the shipped fi/fr samples, one reference and one shifted split per language, gold tags."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.catalogue.loader import Catalogue
from harness.data.formats import read_conllu
from harness.data.loaders import load_rows
from harness.data.split_views import availability, fill_distributions

REPO = Path(__file__).resolve().parents[2]
UD = REPO / "data" / "ud"
SHARED_UD = REPO.parent / "shared" / "data" / "ud"
SAMPLES = {
    "UD_Finnish-TDT/fi_tdt-ud-test.conllu": 260,
    "UD_Finnish-OOD/fi_ood-ud-test.conllu": 266,
    "UD_French-GSD/fr_gsd-ud-test.conllu": 208,
    "UD_French-FQB/fr_fqb-ud-test.conllu": 255,
}


def _build_sample() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ud_build_sample", UD / "build_sample.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load(REPO / "tasks")


@pytest.mark.parametrize("relative", sorted(SAMPLES))
def test_shipped_samples_parse_with_ids_and_a_licence(relative: str) -> None:
    path = UD / relative
    rows = read_conllu(path, metadata=True)
    assert len(rows) == SAMPLES[relative]
    assert len({row["sent_id"] for row in rows}) == len(rows)  # every sentence kept its own sent_id comment
    assert all(len(row["tokens"]) == len(row["tags"]) > 0 for row in rows)
    word_lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line[:1].isdigit()]
    assert all(line.split("\t")[2] == "_" for line in word_lines)  # reduced to ID, FORM, UPOS
    assert (path.parent / "LICENSE.txt").stat().st_size > 0


@pytest.mark.real_data
@pytest.mark.skipif(not SHARED_UD.is_dir(), reason=f"needs the shared UD treebanks at {SHARED_UD}")
def test_build_sample_reproduces_the_shipped_files(tmp_path: Path) -> None:
    _build_sample().build_domains(SHARED_UD, tmp_path)
    for relative in SAMPLES:
        assert (tmp_path / relative).read_bytes() == (UD / relative).read_bytes(), relative


sentence = st.lists(
    st.tuples(st.sampled_from(["NOUN", "VERB", "_"]), st.text("abc", min_size=1, max_size=3)),
    min_size=1,
    max_size=4,
)


@settings(max_examples=40, deadline=None)
@given(st.lists(sentence, min_size=1, max_size=12), st.integers(1, 5))
def test_write_sample_keeps_every_kth_whole_sentence(
    tmp_path_factory: pytest.TempPathFactory, blocks: list[list[tuple[str, str]]], every: int
) -> None:
    folder = tmp_path_factory.mktemp("sample")
    source = folder / "source.conllu"
    text = ""
    for n, words in enumerate(blocks):
        text += f"# sent_id = s{n}\n" + "".join(
            f"{i}\t{form}\tlemma\t{tag}\tX\tF=1\t0\troot\t_\t_\n" for i, (tag, form) in enumerate(words, 1)
        )
        text += "\n"
    source.write_text(text, encoding="utf-8")
    kept = _build_sample().write_sample(source, folder / "out" / "sample.conllu", every)
    rows = read_conllu(folder / "out" / "sample.conllu", metadata=True)
    expected = [n for n in range(len(blocks)) if n % every == 0]
    assert kept == len(rows) == len(expected)
    assert [row["sent_id"] for row in rows] == [f"s{n}" for n in expected]
    assert [row["tags"] for row in rows] == [[tag for tag, _ in blocks[n]] for n in expected]


def test_each_language_has_one_reference_and_one_shifted_split(catalogue: Catalogue) -> None:
    task = catalogue.task("udpos_domains")
    assert task.items == "independent"
    per_language: dict[str, list[bool]] = {}
    for split in task.splits:
        assert split.languages is not None and len(split.languages) == 1, split.name
        per_language.setdefault(split.languages[0], []).append(split.in_domain)
    assert set(per_language) == set(task.languages)
    assert all(sorted(flags) == [False, True] for flags in per_language.values()), per_language


def test_every_gold_tag_after_the_label_map_is_a_task_label(
    catalogue: Catalogue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    task = catalogue.task("udpos_domains")
    base = catalogue.task_path("udpos_domains").parent
    labels = set(task.labels or [])
    sizes, tags_of = {}, {}
    for split in task.splits:
        language = task.split_languages(split)[0]
        assert availability(task, split, language, base) is None, split.name
        # no limit: the whole file, so every tag of the Turkish treebanks in the installed wheel is checked
        rows = load_rows(task, split=split.split or split.name, language=language, base_dir=base, view=split)
        tags = {tag for sentence_tags in rows.rows["tags"] for tag in sentence_tags}
        assert tags <= labels, (split.name, sorted(tags - labels))
        sizes[split.name], tags_of[split.name] = len(rows), tags
    assert sizes["tr-web"] > 2000 and sizes["tr-wiki"] > 2000  # the whole treebanks; the split keeps 250
    wiki = task.split_named("tr-wiki").dataset
    assert wiki is not None and wiki.path is not None
    raw = {tag for row in read_conllu(Path(fill_distributions(wiki.path))) for tag in row["tags"]}
    assert {"CONJ", "PRT"} <= raw and not raw & {"CCONJ", "PART"}  # UD v1 tags in the wheel
    assert {"CCONJ", "PART"} <= tags_of["tr-wiki"]
