"""Fuzzed task and grid YAML: whatever the text, loading gives a spec or HarnessError, never a traceback."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.catalogue.loader import load_document
from harness.catalogue.schema import GridSpec, Hyperparameters, TaskSpec
from harness.errors import HarnessError

KEYS = sorted(
    {*TaskSpec.model_fields, *GridSpec.model_fields, *Hyperparameters.model_fields}
    | {"group", "tasks", "format", "path", "split", "language", "source", "task", "source_lang", "include"}
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["en", "de", "classification", "tsv", "embedded:me5-small", "../../etc", "<script>"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=20,
)
DOCUMENTS = st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=10)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _loads_or_refuses(text: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "doc.yaml"
        path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass"))
        try:
            load_document(path)
        except HarnessError as exc:
            assert exc.render().strip()


@FUZZ
@given(DOCUMENTS)
def test_fuzzed_structures_load_or_raise_harness_error(document: dict) -> None:
    _loads_or_refuses(yaml.safe_dump(document, allow_unicode=True))


@FUZZ
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=200))
def test_fuzzed_text_loads_or_raises_harness_error(text: str) -> None:
    _loads_or_refuses(text)


@FUZZ
@given(st.binary(max_size=120))
def test_fuzzed_bytes_load_or_raise_harness_error(data: bytes) -> None:
    _loads_or_refuses(data)


def _grid_like(models: object, intermediate: object, targets: object, training: object) -> dict:
    return {
        "name": "g",
        "models": models,
        "intermediate": intermediate,
        "targets": targets,
        "training": training,
    }


@FUZZ
@given(
    st.lists(
        st.dictionaries(st.sampled_from(["name", "source", "freeze_layers"]), VALUES, max_size=3), max_size=2
    ),
    st.lists(
        st.dictionaries(st.sampled_from(["name", "task", "source_lang", "source_type", "size"]), VALUES),
        max_size=2,
    ),
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.sampled_from(sorted(Hyperparameters.model_fields)), SCALARS, max_size=3),
)
def test_fuzzed_grids_load_or_raise_harness_error(
    models: object, intermediate: object, targets: object, training: object
) -> None:
    _loads_or_refuses(yaml.safe_dump(_grid_like(models, intermediate, targets, training), allow_unicode=True))
