"""``harness tasks list --json`` keeps the documented shape; outside tools read it."""

from __future__ import annotations

import json

import pytest

from harness.cli import main


def test_tasks_list_json_shape(capsys: pytest.CaptureFixture) -> None:
    assert main(["tasks", "list", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    by_name = {t["name"]: t for t in tasks}
    assert {"sib200", "tatoeba", "tatoeba_demo", "mmlu_parallel"} <= set(by_name)
    for task in tasks:
        assert {"name", "kind", "version", "languages", "splits", "source"} <= set(task)
        for split in task["splits"]:
            assert set(split) == {"name", "languages", "domain", "in_domain"}
    assert by_name["sib200"]["splits"][0]["in_domain"] is True
    assert len(by_name["tatoeba"]["languages"]) == 36


def test_all_nine_xtreme_targets_with_official_languages(capsys: pytest.CaptureFixture) -> None:
    from harness.catalogue.languages import XTREME_LANGUAGES

    assert main(["tasks", "list", "--json"]) == 0
    by_name = {t["name"]: t for t in json.loads(capsys.readouterr().out)}
    for name, languages in XTREME_LANGUAGES.items():
        assert by_name[name]["languages"] == languages, name
        assert by_name[name]["splits"][0]["in_domain"] is True
    kinds = {name: by_name[name]["kind"] for name in XTREME_LANGUAGES}
    assert kinds == {
        "xnli": "classification",
        "pawsx": "classification",
        "udpos": "tagging",
        "panx": "tagging",
        "xquad": "extractive_qa",
        "mlqa": "extractive_qa",
        "tydiqa": "extractive_qa",
        "bucc2018": "mining",
        "tatoeba": "retrieval",
    }
