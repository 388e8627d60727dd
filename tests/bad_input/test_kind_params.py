"""A kind's ``params`` are typed: a bad value is refused when the catalogue loads, with its line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.catalogue.loader import Catalogue, allowed_values
from harness.errors import HarnessError
from harness.kinds.params import KindParams, RetrievalParams
from harness.kinds.registry import KINDS, kind_params

RETRIEVAL = "tasks/targets/tiny_ret.yaml"


def _with_params(workspace: Path, block: str) -> tuple[Path, dict[str, int]]:
    """The tiny retrieval task with its ``params`` replaced by ``block``; each key's line number."""
    task = workspace / RETRIEVAL
    lines = [line for line in task.read_text(encoding="utf-8").splitlines() if not line.startswith("params:")]
    lines += ["params:", *(f"  {line}" for line in block.splitlines())]
    task.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return task, {line.split(":")[0].strip(): n for n, line in enumerate(lines, 1) if line.startswith("  ")}


# a bad params block → the field it names and what the line must add
REFUSED = {
    "layer: -1\npooling: max": ("pooling", "(allowed: mean, cls)"),
    "layer: deep\npooling: mean": ("layer", "(allowed: xtreme, an integer)"),
    "layer: true": ("layer", "(allowed: xtreme, an integer)"),
    "pooling: mean\npoling: cls": ("poling", "did you mean 'pooling'"),
}


@pytest.mark.parametrize("block", list(REFUSED))
def test_tasks_validate_names_the_line_the_field_and_the_allowed_values(
    workspace: Path, refused: Callable, block: str
) -> None:
    field, allowed = REFUSED[block]
    task, line_of = _with_params(workspace, block)
    for argv in (("tasks", "validate", "--tasks-dir", "tasks"), ("tasks", "validate", str(task))):
        outcome = refused(*argv, names=f"tiny_ret.yaml:{line_of[field]}: params.{field}: ")
        assert allowed in outcome.errors[0]


def test_every_bad_field_is_reported_at_once(workspace: Path, run_cli: Callable) -> None:
    task, line_of = _with_params(workspace, "layer: deep\npooling: max")
    outcome = run_cli("tasks", "validate", str(task))
    assert outcome.code == 2
    reported = "\n".join(outcome.errors)
    assert f"tiny_ret.yaml:{line_of['layer']}: params.layer" in reported
    assert f"tiny_ret.yaml:{line_of['pooling']}: params.pooling" in reported


def test_the_shipped_tasks_all_pass_their_kinds_params() -> None:
    catalogue = Catalogue.load()
    for name in catalogue.tasks:
        kind_params(catalogue.task(name))  # raises on a bad value


def test_a_task_built_in_code_is_checked_where_the_kind_reads_it(tiny_tasks: Path) -> None:
    retrieval = Catalogue.load(tiny_tasks).task("tiny_ret")
    with pytest.raises(HarnessError, match="params.pooling"):
        kind_params(retrieval.model_copy(update={"params": {"pooling": "max"}}))


def test_every_kind_declares_a_params_model_that_forbids_unknown_keys() -> None:
    for info in KINDS.values():
        assert issubclass(info.params, KindParams)
        with pytest.raises(ValueError):
            info.params.model_validate({"no_such_parameter": 1})


@given(st.text(min_size=1, max_size=12))
def test_pooling_accepts_exactly_the_listed_values(pooling: str) -> None:
    listed = allowed_values(RetrievalParams.model_fields["pooling"].annotation)
    try:
        RetrievalParams(pooling=pooling)  # type: ignore[arg-type]
    except ValueError:
        assert pooling not in listed
    else:
        assert pooling in listed
