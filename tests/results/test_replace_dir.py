"""``atomic_replace_dir`` killed (SIGKILL, a real process) at every step and at random instants leaves the
old or the new folder whole, never none, once ``clean_stale_temps`` has recovered what the kill left."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import random
import signal
import time
from pathlib import Path

import pytest

from harness.results.atomic import atomic_replace_dir, clean_stale_temps, owned_build_dir

FILES = ("model.safetensors", "config.json", "tokenizer.json")
SPAWN = multiprocessing.get_context("spawn")


def _write_generation(folder: Path, generation: int) -> None:
    folder.mkdir(parents=True)
    for name in FILES:
        (folder / name).write_text(f"{name} generation {generation}\n" * 200)


def _generation(folder: Path) -> int:
    """The one generation every file of the folder holds; fails if the folder is partial or mixed."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(FILES)
    found = {(folder / name).read_text().split("\n", 1)[0].rsplit(" ", 1)[1] for name in FILES}
    assert len(found) == 1, f"files of mixed generations: {found}"
    return int(found.pop())


def _replace_and_die_at(final: Path, die_at: str) -> None:
    build = owned_build_dir(final.parent, "ckpt")
    _write_generation(build, 2)

    def step(name: str) -> None:
        if name == die_at:
            os.kill(os.getpid(), signal.SIGKILL)

    if die_at == "built":
        os.kill(os.getpid(), signal.SIGKILL)
    atomic_replace_dir(build, final, on_step=step)


def _replace_forever(final: Path, replaced_once: multiprocessing.synchronize.Event) -> None:
    generation = _generation(final)
    while True:
        generation += 1
        build = owned_build_dir(final.parent, "ckpt")
        _write_generation(build, generation)
        atomic_replace_dir(build, final)
        replaced_once.set()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize(
    ("die_at", "expected"),
    [("built", 1), ("moved-aside", 1), ("renamed-in", 2), ("removed-old", 2)],
)
def test_a_kill_at_each_step_leaves_the_old_or_the_new_folder(
    tmp_path: Path, die_at: str, expected: int
) -> None:
    final = tmp_path / "checkpoints" / "key"
    _write_generation(final, 1)
    child = SPAWN.Process(target=_replace_and_die_at, args=(final, die_at))
    child.start()
    child.join()
    assert child.exitcode == -signal.SIGKILL
    if die_at == "moved-aside":
        assert not final.exists()  # the instant the recovery exists for
    clean_stale_temps(tmp_path)
    assert _generation(final) == expected
    assert _leftovers(final.parent) == []


def test_an_uninterrupted_replace_swaps_in_the_new_folder_and_leaves_nothing_behind(tmp_path: Path) -> None:
    final = tmp_path / "key"
    _write_generation(final, 1)
    build = owned_build_dir(tmp_path, "key")
    _write_generation(build, 2)
    steps: list[str] = []
    atomic_replace_dir(build, final, on_step=steps.append)
    assert steps == ["moved-aside", "renamed-in", "removed-old"]
    assert _generation(final) == 2
    assert _leftovers(tmp_path) == []


def test_kills_at_random_instants_always_leave_a_whole_generation(tmp_path: Path) -> None:
    final = tmp_path / "key"
    _write_generation(final, 1)
    rng = random.Random(16)
    seen = set()
    for _ in range(8):
        replaced_once = SPAWN.Event()
        child = SPAWN.Process(target=_replace_forever, args=(final, replaced_once))
        child.start()
        assert replaced_once.wait(60)
        time.sleep(rng.random() * 0.05)  # a random instant inside the loop
        os.kill(child.pid or 0, signal.SIGKILL)
        child.join()
        assert child.exitcode == -signal.SIGKILL
        clean_stale_temps(tmp_path)
        seen.add(_generation(final))
        assert _leftovers(tmp_path) == []
    assert len(seen) == 8  # every child replaced the folder before it was killed


def test_a_live_replacers_aside_folder_is_not_put_back(tmp_path: Path) -> None:
    final = tmp_path / "key"
    _write_generation(final, 1)
    build = owned_build_dir(tmp_path, "key")
    _write_generation(build, 2)

    def clean_in_the_middle(name: str) -> None:
        if name == "moved-aside":
            assert clean_stale_temps(tmp_path) == 0  # this process is alive: its aside and build stay

    atomic_replace_dir(build, final, on_step=clean_in_the_middle)
    assert _generation(final) == 2
