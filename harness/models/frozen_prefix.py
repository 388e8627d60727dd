"""Run a model's frozen bottom once per distinct input and replay its output (a CPU budget lever).

With ``freeze_layers: N`` the embedding block and the first N transformer layers never change, so the
input to layer N depends on the tokens alone. :class:`FrozenPrefix` keeps that tensor per token sequence,
keyed by a digest of the frozen weights and of the tokens, and replays it: later epochs, the dev passes
and every checkpoint that shares the frozen weights (all conditions of a grid trained with the same
freeze) run the top layers only. The frozen layers then run in eval mode (no dropout), which is why
training records ``cache_frozen_layers``.

The replay is exact for right-padded batches with absolute positions: a real token never attends to a
pad, so its states do not depend on the batch it came in. Anything else (hidden states or attentions
asked for, left padding, explicit position ids, ``inputs_embeds``, positional arguments past the ids)
goes through the normal forward. On install a probe compares both paths on a small padded batch and
removes the patch from architectures where they differ.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import numpy as np
import torch

from harness.errors import HarnessError
from harness.training.freezing import encoder_layers

log = logging.getLogger("harness.models")

CACHE_MB_ENV = "HARNESS_PREFIX_CACHE_MB"
DEFAULT_CACHE_MB = 1024
PROBE_TOLERANCE = 1e-4
_FALL_THROUGH_FLAGS = ("output_hidden_states", "output_attentions", "use_cache")
_FALL_THROUGH_INPUTS = ("inputs_embeds", "position_ids", "encoder_hidden_states", "past_key_values", "cache")


class PrefixStore:
    """Input-to-layer-N states by key, least recently used evicted first once ``max_bytes`` is passed."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self._items: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: bytes) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: bytes, value: np.ndarray) -> None:
        with self._lock:
            if key in self._items or value.nbytes > self.max_bytes:
                return
            self._items[key] = value
            self.bytes += value.nbytes
            while self.bytes > self.max_bytes:
                _, evicted = self._items.popitem(last=False)
                self.bytes -= evicted.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.bytes = self.hits = self.misses = 0


def cache_megabytes() -> int:
    raw = os.environ.get(CACHE_MB_ENV, "").strip()
    if not raw:
        return DEFAULT_CACHE_MB
    if not raw.isdigit():
        raise HarnessError(
            f"{raw!r} is not a size in MB", field=CACHE_MB_ENV, allowed=["a whole number ≥ 0 (0: no cache)"]
        )
    return int(raw)


_STORE: PrefixStore | None = None


def shared_store() -> PrefixStore:
    """The process-wide store: checkpoints evaluated one after another share their frozen layers."""
    global _STORE
    if _STORE is None:
        _STORE = PrefixStore(cache_megabytes() * 1024 * 1024)
    return _STORE


class _SplitLayers(torch.nn.ModuleList):
    """The model's own layer list (same modules, same state-dict keys) iterating the bottom N layers
    while recording and the rest while replaying. Swapped in as the list's class while installed."""

    def __iter__(self) -> Iterator[torch.nn.Module]:
        modules = list(self._modules.values())
        prefix: FrozenPrefix | None = self.__dict__.get("_harness_prefix")  # slices are plain copies
        if prefix is None:
            return iter(modules)
        if prefix.mode == "record":
            return iter(modules[: prefix.n_layers])
        if prefix.mode == "replay":
            return iter(modules[prefix.n_layers :])
        return iter(modules)


class FrozenPrefix:
    """Installed on one model; :meth:`remove` restores it exactly. Use :func:`frozen_prefix_cache`."""

    def __init__(self, model: torch.nn.Module, n_layers: int, store: PrefixStore) -> None:
        self.model = model
        self.body = getattr(model, "base_model", model)
        self.layers = encoder_layers(model)
        embeddings = getattr(self.body, "embeddings", None)
        if not isinstance(embeddings, torch.nn.Module):
            raise HarnessError(f"{type(model).__name__} has no embedding block to replay")
        if not 0 < n_layers <= len(self.layers):
            raise HarnessError(f"cannot replay {n_layers} of {len(self.layers)} layers")
        self.embeddings = embeddings
        self.n_layers = n_layers
        self.store = store
        self._local = threading.local()
        self.digest = self._weights_digest()
        self._install()

    # ---- state of the current thread's forward ----------------------------------------------
    @property
    def mode(self) -> str | None:
        return getattr(self._local, "mode", None)

    @contextmanager
    def _in_mode(self, mode: str, states: torch.Tensor | None = None) -> Iterator[None]:
        self._local.mode, self._local.states = mode, states
        try:
            yield
        finally:
            self._local.mode, self._local.states = None, None

    # ---- install / remove -------------------------------------------------------------------
    def _frozen_modules(self) -> list[torch.nn.Module]:
        return [self.embeddings, *list(self.layers._modules.values())[: self.n_layers]]

    def _weights_digest(self) -> bytes:
        digest = hashlib.blake2b(f"{type(self.body).__name__}:{self.n_layers}".encode(), digest_size=16)
        for module in self._frozen_modules():
            for name, tensor in module.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        return digest.digest()

    def _install(self) -> None:
        self._original_layers_class = type(self.layers)
        self._original_body_forward = self.body.forward
        self._original_embeddings_forward = self.embeddings.forward
        split_class = (
            _SplitLayers
            if self._original_layers_class is torch.nn.ModuleList
            else type("SplitLayers", (_SplitLayers, self._original_layers_class), {})
        )
        self.layers.__class__ = split_class
        self.layers.__dict__["_harness_prefix"] = self  # a plain attribute, as nn.Module stores non-modules
        self.embeddings.forward = self._embeddings_forward
        self.body.forward = self._body_forward

    def remove(self) -> None:
        self.layers.__class__ = self._original_layers_class
        del self.layers.__dict__["_harness_prefix"]
        del self.embeddings.forward
        del self.body.forward

    # ---- the patched forwards ---------------------------------------------------------------
    def _embeddings_forward(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.mode == "replay":
            return self._local.states
        return self._original_embeddings_forward(*args, **kwargs)

    def _replayable(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor | None:
        """The batch's input ids if its states can be replayed exactly, else None."""
        if self.mode is not None or len(args) > 1:
            return None
        if any(kwargs.get(name) for name in _FALL_THROUGH_FLAGS):
            return None
        if any(kwargs.get(name) is not None for name in _FALL_THROUGH_INPUTS):
            return None
        if getattr(self.body.config, "output_hidden_states", False):
            return None
        ids = args[0] if args else kwargs.get("input_ids")
        if not isinstance(ids, torch.Tensor) or ids.dim() != 2:
            return None
        return ids

    def _body_forward(self, *args: Any, **kwargs: Any) -> Any:
        ids = self._replayable(args, kwargs)
        mask = kwargs.get("attention_mask")
        lengths = right_padded_lengths(ids, mask) if ids is not None else None
        if ids is None or lengths is None:
            return self._original_body_forward(*args, **kwargs)
        types = kwargs.get("token_type_ids")
        states = self._states(ids, types, lengths)
        kwargs = {k: v for k, v in kwargs.items() if k != "input_ids"}
        with self._in_mode("replay", states):
            return self._original_body_forward(ids, **kwargs)

    # ---- states -------------------------------------------------------------------------------
    def _row_keys(self, ids: torch.Tensor, types: torch.Tensor | None, lengths: list[int]) -> list[bytes]:
        ids_np = ids.detach().cpu().numpy().astype(np.int64, copy=False)
        types_np = types.detach().cpu().numpy().astype(np.int64, copy=False) if types is not None else None
        keys = []
        for row, length in enumerate(lengths):
            digest = hashlib.blake2b(self.digest, digest_size=16)
            digest.update(ids_np[row, :length].tobytes())
            if types_np is not None:
                digest.update(b"|" + types_np[row, :length].tobytes())
            keys.append(digest.digest())
        return keys

    def _states(self, ids: torch.Tensor, types: torch.Tensor | None, lengths: list[int]) -> torch.Tensor:
        keys = self._row_keys(ids, types, lengths)
        found = [self.store.get(key) for key in keys]
        missing = [row for row, value in enumerate(found) if value is None]
        if missing:
            for row, value in zip(missing, self._record(ids, types, lengths, missing), strict=True):
                found[row] = value
                self.store.put(keys[row], value)
        filled = cast(list[np.ndarray], found)  # every missing row was recorded just above
        hidden = filled[0].shape[-1]
        states = np.zeros((ids.shape[0], ids.shape[1], hidden), dtype=np.float32)
        for row, value in enumerate(filled):
            states[row, : len(value)] = value
        return torch.from_numpy(states).to(ids.device)

    def _record(
        self, ids: torch.Tensor, types: torch.Tensor | None, lengths: list[int], rows: list[int]
    ) -> list[np.ndarray]:
        """The frozen layers' output for ``rows``, run in eval mode without gradients."""
        width = max(lengths[row] for row in rows)
        index = torch.tensor(rows, device=ids.device)
        sub_ids = ids.index_select(0, index)[:, :width]
        positions = torch.arange(width, device=ids.device)
        sub_lengths = torch.tensor([lengths[row] for row in rows], device=ids.device)
        sub_mask = (positions[None, :] < sub_lengths[:, None]).long()
        extra = {"token_type_ids": types.index_select(0, index)[:, :width]} if types is not None else {}
        modules = self._frozen_modules()
        training = [m.training for m in modules]
        try:
            for module in modules:
                if module.training:
                    module.eval()
            with torch.no_grad(), self._in_mode("record"):
                out = self._original_body_forward(sub_ids, attention_mask=sub_mask, **extra)
        finally:
            for module, was_training in zip(modules, training, strict=True):
                if was_training:
                    module.train()
        hidden = out[0].float().cpu().numpy()
        return [hidden[i, : lengths[row]].copy() for i, row in enumerate(rows)]

    # ---- the probe ------------------------------------------------------------------------------
    def agrees_with_normal_forward(self) -> float:
        """Max |difference| between replayed and normal last hidden states on a small padded batch."""
        vocab = int(getattr(self.body.config, "vocab_size", 1000))
        generator = torch.Generator().manual_seed(0)
        device = next(self.model.parameters()).device
        ids = torch.randint(5, max(6, min(vocab, 1000)), (2, 12), generator=generator).to(device)
        mask = torch.ones_like(ids)
        mask[1, 7:] = 0
        probe_store, self.store = self.store, PrefixStore(1 << 24)
        training = {m: m.training for m in self.body.modules()}
        self.body.eval()
        try:
            with torch.no_grad():
                normal = self._original_body_forward(ids, attention_mask=mask)[0]
                replayed = self._body_forward(ids, attention_mask=mask)[0]
        finally:
            self.store = probe_store
            for module, was_training in training.items():
                module.train(was_training)
        real = mask.bool()
        return float((normal[real] - replayed[real]).abs().max())


def right_padded_lengths(ids: torch.Tensor, mask: torch.Tensor | None) -> list[int] | None:
    """Each row's real length if every row is ``1…1 0…0`` (right padding), else None."""
    if mask is None:
        return [ids.shape[1]] * ids.shape[0]
    if mask.shape != ids.shape:
        return None
    lengths = mask.sum(dim=1)
    expected = torch.arange(ids.shape[1], device=mask.device)[None, :] < lengths[:, None]
    if not torch.equal(mask.bool(), expected) or bool((lengths == 0).any()):
        return None
    return [int(x) for x in lengths.tolist()]


@contextmanager
def frozen_prefix_cache(
    model: torch.nn.Module, n_layers: int, store: PrefixStore | None = None
) -> Iterator[FrozenPrefix | None]:
    """Replay the bottom ``n_layers`` (and the embeddings) of ``model`` from ``store`` while inside.

    Yields None (and changes nothing) when ``n_layers`` is 0, the cache is off (``$HARNESS_PREFIX_CACHE_MB``
    = 0), the architecture has no embedding block or layer list to split, or the probe disagrees."""
    store = store if store is not None else shared_store()
    if n_layers <= 0 or store.max_bytes <= 0:
        yield None
        return
    try:
        prefix = FrozenPrefix(model, n_layers, store)
    except HarnessError as error:
        log.info("frozen-layer cache off for %s: %s", type(model).__name__, error)
        yield None
        return
    try:
        difference = prefix.agrees_with_normal_forward()
    except Exception as error:  # an architecture the split does not fit: run it the normal way
        prefix.remove()
        log.info("frozen-layer cache off for %s: probe failed (%s)", type(model).__name__, error)
        yield None
        return
    if not difference <= PROBE_TOLERANCE:
        prefix.remove()
        log.warning(
            "frozen-layer cache off for %s: replayed states differ by %.2e", type(model).__name__, difference
        )
        yield None
        return
    try:
        yield prefix
    finally:
        prefix.remove()
