"""Model loading policy (safetensors, pickle opt-in, missing paths) and checkpoints.lock."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from harness.cli import main
from harness.errors import HarnessError, LockMismatch, UnsafeCheckpoint
from harness.models.loading import from_pretrained
from harness.models.lockfile import Lineage, Lock


def test_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HarnessError, match="model path does not exist"):
        from_pretrained(AutoModel, str(tmp_path / "nope"))


def test_pickle_only_checkpoint_needs_opt_in(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_model, folder)
    model = AutoModel.from_pretrained(tiny_model)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(UnsafeCheckpoint, match="--allow-pickle"):
        from_pretrained(AutoModel, str(folder))
    loaded = from_pretrained(AutoModel, str(folder), allow_pickle=True)
    assert loaded.config.hidden_size == 32


def test_new_head_weights_are_reported(tiny_model: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    model = from_pretrained(AutoModelForSequenceClassification, str(tiny_model), num_labels=3)
    assert any(name.startswith("classifier") for name in model.loading_report["new"])


def test_lock_pin_verify_and_tamper(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "m"
    shutil.copytree(tiny_model, folder)
    lock_path = tmp_path / "checkpoints.lock"
    lock = Lock.load(lock_path)
    lock.pin("tiny", folder, str(folder), lineage=Lineage(phase="base"))
    assert Lock.load(lock_path).check("tiny", folder) == []
    assert main(["lock", "verify", "--lock", str(lock_path), "--results", str(tmp_path / "r")]) == 0
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(LockMismatch, match="model.safetensors: sha256"):
        Lock.load(lock_path).verify("tiny", folder)
    assert main(["lock", "verify", "--lock", str(lock_path), "--results", str(tmp_path / "r")]) == 1
    assert "differs from the pinned" in capsys.readouterr().err


def test_repository_lock_pins_the_embedded_model() -> None:
    lock = Lock.load(Path(__file__).resolve().parents[2] / "checkpoints.lock")
    entry = lock.entries["me5-small"]
    assert entry.source == "embedded:me5-small"
    assert "model.safetensors" in entry.files and "tokenizer.json" in entry.files
