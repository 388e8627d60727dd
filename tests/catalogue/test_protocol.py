"""Protocols: the nine XTREME targets follow XTREME's scripts, deviations are refused or badged."""

from __future__ import annotations

from pathlib import Path

import pytest
from stats_records import record
from transformers import BertConfig, BertModel

from harness.catalogue.loader import Catalogue
from harness.catalogue.protocol import hidden_state_index, xtreme_layer
from harness.catalogue.schema import TaskSpec
from harness.errors import HarnessError
from harness.kinds.retrieval import resolved_layer
from harness.report.pages.targets import zero_shot_badge
from harness.results.schema import TaskInfo
from harness.scoring.export import PROTOCOL_NOTE, export_xtreme, protocol_warnings

XTREME_TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]


def retrieval_task(**changes: object) -> TaskSpec:
    spec = {
        "name": "ret",
        "kind": "retrieval",
        "version": 1,
        "protocol": "xtreme",
        "dataset": {"format": "parallel_text", "path": "a", "target_path": "b"},
        "languages": ["de"],
        "params": {"layer": "xtreme", "pooling": "mean"},
        "hyperparameters": {"max_length": 512},
    }
    return TaskSpec.model_validate(spec | changes)


def test_the_nine_xtreme_targets_load_with_protocol_xtreme() -> None:
    catalogue = Catalogue.load()
    assert {name: catalogue.task(name).protocol for name in XTREME_TARGETS} == dict.fromkeys(
        XTREME_TARGETS, "xtreme"
    )
    assert catalogue.task("xquad").dev is None  # XTREME selects no QA checkpoint (SQuAD dev ⊃ XQuAD en)
    assert catalogue.task("tatoeba_demo").protocol == "demo split"


def test_the_old_name_official_reads_as_xtreme() -> None:
    assert retrieval_task(protocol="official").protocol == "xtreme"


def test_a_deviation_under_xtreme_is_an_error_unless_custom(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"params\.layer: -1 \(XTREME: 'xtreme'\).*protocol: custom"):
        retrieval_task(params={"layer": -1, "pooling": "mean"})
    assert retrieval_task(protocol="custom", params={"layer": -1}).protocol == "custom"
    (tmp_path / "t.yaml").write_text(
        "include: " + str(Path("tasks/targets/tatoeba/tatoeba.yaml").resolve()) + "\nname: mine\n"
        "params: {layer: -1, pooling: mean}\n",
        encoding="utf-8",
    )
    with pytest.raises(HarnessError, match="params.layer"):
        Catalogue.load(tmp_path)


def test_qa_under_xtreme_takes_no_dev_split() -> None:
    task = Catalogue.load().task("xquad")
    spec = task.model_dump() | {"dev": {"split": "dev", "language": "en"}}
    with pytest.raises(ValueError, match=r"dev: .*XTREME: absent"):
        TaskSpec.model_validate(spec)


@pytest.mark.parametrize(
    ("kind", "depth", "xtreme", "hidden"),
    [("retrieval", 12, 7, 8), ("retrieval", 24, 13, 14), ("mining", 12, 7, 8), ("mining", 24, 7, 8)],
)
def test_xtreme_layers_follow_the_scripts(kind: str, depth: int, xtreme: int, hidden: int) -> None:
    assert xtreme_layer(kind, depth) == xtreme
    assert hidden_state_index(kind, depth) == hidden


@pytest.mark.parametrize(("depth", "hidden"), [(12, 8), (24, 14)])
def test_retrieval_under_xtreme_reads_the_scripts_layer_of_the_model(depth: int, hidden: int) -> None:
    config = BertConfig(
        vocab_size=20, hidden_size=8, num_hidden_layers=depth, num_attention_heads=1, intermediate_size=8
    )
    assert resolved_layer(retrieval_task(), BertModel(config)) == hidden
    custom = retrieval_task(protocol="custom", params={"layer": 3})
    assert resolved_layer(custom, BertModel(config)) == 3


def test_custom_protocol_and_translate_train_rows_are_badged(tmp_path: Path) -> None:
    custom = record("none", "tatoeba", "test", "de", 0.5, kind="retrieval")
    custom = custom.model_copy(
        update={"task": TaskInfo(name="tatoeba", version=1, kind="retrieval", protocol="custom")}
    )
    translated = record("mmlu-de", "xnli", "test", "de", 0.7)
    translated = translated.model_copy(
        update={
            "task": TaskInfo(
                name="xnli",
                version=1,
                kind="classification",
                protocol="official",
                zero_shot="translate-train",
            )
        }
    )
    plain = record("none", "pawsx", "test", "de", 0.7)
    assert protocol_warnings([custom, translated, plain]) == [
        "tatoeba: not XTREME protocol (custom)",
        "xnli: translate-train",
    ]
    rows = [{"id": "0", "prediction": 0}]
    written = export_xtreme([(custom, rows)], tmp_path)
    assert (tmp_path / PROTOCOL_NOTE) in written
    assert "tatoeba: not XTREME protocol (custom)" in (tmp_path / PROTOCOL_NOTE).read_text(encoding="utf-8")
    export_xtreme([(plain, [{"id": "0", "prediction": "1"}])], tmp_path)
    assert not (tmp_path / PROTOCOL_NOTE).exists()  # a clean export leaves no stale note
    assert "translate-train" in zero_shot_badge("translate-train") and zero_shot_badge("zero-shot") == ""
