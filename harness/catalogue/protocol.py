"""Evaluation protocols: what ``protocol: xtreme`` promises about a task's settings, checked when it loads.

``xtreme`` means the settings of the XTREME scripts (google-research/xtreme, ``scripts/``):

- retrieval (Tatoeba, ``run_tatoeba.sh``): mean-pooled hidden states of ``--specific_layer 7`` for 12-layer
  encoders and 13 for 24-layer ones, max length 512. ``evaluate_retrieval.py`` indexes the layer outputs
  *without* the embedding output (``all_layer_outputs[-num_layers:]``), so XTREME's layer 7 is hidden
  state 8 in ``transformers``' numbering (0 = embeddings) and layer 13 is hidden state 14;
- mining (BUCC, ``run_bucc2018.sh``): ``--specific_layer 7`` whatever the depth, k = 4 ratio margin,
  threshold on the released sample (dev) split, max length 512. Its ``--pool_type cls`` only took effect
  after a 2021 fix (commit 287a7b7); the published numbers were computed with mean pooling, kept here;
- extractive QA (``train_qa.sh``): no checkpoint selection at all (``--save_steps -1``: the last step is
  scored; SQuAD v1.1 dev, which contains XQuAD's English test, is only reported), max length 384,
  doc stride 128, answers up to 30 tokens;
- classification and tagging: max length 128, selection on the English dev split;
- UD-POS: every UD v2.5 treebank of a language pooled per split (``utils_preprocess.py udpos``): the
  local files are XTREME's pooled output, the hub fallback lists every treebank (``a+b+c`` codes).

``demo split`` (a shipped sample, its own splits) and ``custom`` (any other settings) are not checked;
both are badged "not XTREME protocol" on the pages and in ``harness export xtreme``.
"""

from __future__ import annotations

from typing import Any, Literal

Protocol = Literal["xtreme", "demo split", "custom"]
XTREME = "xtreme"
LEGACY_NAMES = {"official": XTREME}  # results and task files written before protocols had names
XTREME_LAYER_RULE = "xtreme"  # params.layer value: XTREME's layer for the encoder's depth

# XTREME's --specific_layer (layer outputs numbered from 0, embeddings excluded) by encoder depth
RETRIEVAL_LAYERS = {12: 7, 24: 13}
MINING_LAYERS = {12: 7, 24: 7}

MISSING = object()

# kind -> dotted setting -> value the XTREME scripts use (None: the setting must be absent)
XTREME_SETTINGS: dict[str, dict[str, Any]] = {
    "retrieval": {
        "params.layer": XTREME_LAYER_RULE,
        "params.pooling": "mean",
        "hyperparameters.max_length": 512,
    },
    "mining": {
        "params.layer": XTREME_LAYER_RULE,
        "params.pooling": "mean",
        "params.k": 4,
        "params.threshold_split": "dev",
        "hyperparameters.max_length": 512,
    },
    "extractive_qa": {
        "dev": None,
        "params.doc_stride": 128,
        "params.max_answer_length": 30,
        "hyperparameters.max_length": 384,
    },
    "classification": {"dev.language": "en", "hyperparameters.max_length": 128},
    "tagging": {"dev.language": "en", "hyperparameters.max_length": 128},
}

# settings with a default in the kind's code: a task that leaves them out uses that default
KIND_DEFAULTS = {"params.pooling": "mean", "params.k": 4, "params.threshold_split": "dev"}


def protocol_name(value: Any) -> Any:
    """``official`` (the old name) reads as ``xtreme``; anything else is left to the schema to check."""
    return LEGACY_NAMES.get(value, value) if isinstance(value, str) else value


def is_xtreme(protocol: str | None) -> bool:
    return protocol_name(protocol) == XTREME


def _setting(task: Any, dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    value = getattr(task, head, MISSING)
    if not rest:
        return value
    if value is None:
        return MISSING
    if isinstance(value, dict):
        return value.get(rest, KIND_DEFAULTS.get(dotted, MISSING))
    return getattr(value, rest, MISSING)


def xtreme_deviations(task: Any) -> list[str]:
    """``field: value (XTREME: expected)`` for every checked setting of ``task`` that differs."""
    out = []
    for dotted, expected in XTREME_SETTINGS.get(task.kind, {}).items():
        actual = _setting(task, dotted)
        if actual is MISSING and expected is None:
            continue
        if actual != expected:
            shown = "absent" if actual is MISSING else repr(actual)
            wanted = "absent" if expected is None else repr(expected)
            out.append(f"{dotted}: {shown} (XTREME: {wanted})")
    return out


def xtreme_layer(kind: str, n_layers: int) -> int:
    """XTREME's ``--specific_layer`` for an encoder of ``n_layers`` layers (embeddings not counted).

    Depths the scripts do not cover keep the 12-layer rule's relative depth (7 of 12)."""
    table = MINING_LAYERS if kind == "mining" else RETRIEVAL_LAYERS
    if n_layers in table:
        return table[n_layers]
    return max(0, min(n_layers - 1, round(n_layers * 7 / 12)))


def hidden_state_index(kind: str, n_layers: int) -> int:
    """The index into ``transformers``' ``hidden_states`` (0 = embeddings) of XTREME's layer."""
    return xtreme_layer(kind, n_layers) + 1
