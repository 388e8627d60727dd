"""Per-job leases between real processes: exactly one of several racers wins; a SIGKILLed owner's lease is
taken over by exactly one taker; a live owner's lease is not."""

from __future__ import annotations

import json
import multiprocessing
import multiprocessing.queues
import multiprocessing.synchronize
import os
import signal
import time
from pathlib import Path

from harness.results.lease import Lease, LeaseKeeper, acquire, holder_of, lease_path, read_lease
from harness.results.owner import ProcessId, host_name

SPAWN = multiprocessing.get_context("spawn")
ROUNDS = 10
RACERS = 3


def _race(
    root: Path,
    rounds: int,
    start: multiprocessing.synchronize.Barrier,
    done: multiprocessing.synchronize.Barrier,
    wins: multiprocessing.queues.Queue,
) -> None:
    """Each round: everyone asks for the same key at once; the winner holds it until all have asked."""
    for round_no in range(rounds):
        start.wait()
        lease = acquire(root, f"job-{round_no}")
        wins.put((round_no, os.getpid() if lease else None))
        done.wait()
        if lease:
            lease.release()


def _hold(root: Path, key: str, ready: multiprocessing.synchronize.Event) -> None:
    lease = acquire(root, key)
    assert lease is not None
    with lease:
        ready.set()
        time.sleep(600)


def _dead_owner() -> ProcessId:
    child = SPAWN.Process(target=time.sleep, args=(0,))
    child.start()
    child.join()
    return ProcessId(host_name(), child.pid or 0, 0)


def test_of_racers_for_one_job_exactly_one_wins_each_round(tmp_path: Path) -> None:
    start, done, wins = SPAWN.Barrier(RACERS), SPAWN.Barrier(RACERS), SPAWN.Queue()
    racers = [SPAWN.Process(target=_race, args=(tmp_path, ROUNDS, start, done, wins)) for _ in range(RACERS)]
    for racer in racers:
        racer.start()
    results = [wins.get(timeout=120) for _ in range(ROUNDS * RACERS)]
    for racer in racers:
        racer.join()
        assert racer.exitcode == 0
    for round_no in range(ROUNDS):
        winners = [pid for r, pid in results if r == round_no and pid is not None]
        assert len(winners) == 1, f"round {round_no}: winners {winners}"
    assert not list((tmp_path / "leases").glob("*.lease"))  # every winner released


def test_a_live_owners_lease_is_kept_and_a_sigkilled_owners_is_taken_over(tmp_path: Path) -> None:
    ready = SPAWN.Event()
    owner = SPAWN.Process(target=_hold, args=(tmp_path, "job", ready))
    owner.start()
    try:
        assert ready.wait(60)
        assert acquire(tmp_path, "job") is None
        held = holder_of(tmp_path, "job")
        assert held is not None and held.pid == owner.pid
    finally:
        os.kill(owner.pid or 0, signal.SIGKILL)
        owner.join()
    lease = acquire(tmp_path, "job")
    assert lease is not None
    assert holder_of(tmp_path, "job") == lease.holder
    lease.release()
    assert not lease_path(tmp_path, "job").exists()


def _take_over(
    root: Path, start: multiprocessing.synchronize.Barrier, wins: multiprocessing.queues.Queue
) -> None:
    start.wait()
    wins.put(acquire(root, "stale") is not None)


def test_of_several_takers_of_a_dead_owners_lease_exactly_one_wins(tmp_path: Path) -> None:
    for _ in range(5):
        dead = acquire(tmp_path, "stale", _dead_owner())
        assert dead is not None  # written as if by a process that has since exited
        start, wins = SPAWN.Barrier(RACERS), SPAWN.Queue()
        takers = [SPAWN.Process(target=_take_over, args=(tmp_path, start, wins)) for _ in range(RACERS)]
        for taker in takers:
            taker.start()
        outcomes = [wins.get(timeout=120) for _ in takers]
        for taker in takers:
            taker.join()
        assert outcomes.count(True) == 1
        lease_path(tmp_path, "stale").unlink()  # the winner has exited: start the next trial afresh


def test_a_reused_pid_does_not_keep_a_lease(tmp_path: Path) -> None:
    me = ProcessId.current()
    assert acquire(tmp_path, "job", ProcessId(me.host, me.pid, me.started + 1)) is not None
    assert acquire(tmp_path, "job") is not None  # that process is not this one: the lease was stale
    assert acquire(tmp_path, "job") is None  # now this live process holds it


def test_another_hosts_lease_is_stale_only_after_its_heartbeat_times_out(tmp_path: Path) -> None:
    remote = ProcessId("another-node", 4242, 17)
    assert acquire(tmp_path, "job", remote) is not None
    assert acquire(tmp_path, "job", timeout_s=300) is None
    path = lease_path(tmp_path, "job")
    long_ago = time.time() - 301
    os.utime(path, (long_ago, long_ago))
    assert acquire(tmp_path, "job", timeout_s=300) is not None


def test_heartbeat_touches_the_lease_and_notices_a_takeover(tmp_path: Path) -> None:
    lease = acquire(tmp_path, "job")
    assert isinstance(lease, Lease)
    path = lease_path(tmp_path, "job")
    long_ago = time.time() - 1000
    os.utime(path, (long_ago, long_ago))
    assert lease.heartbeat()
    assert path.stat().st_mtime > long_ago + 900
    taken = json.loads(path.read_text()) | {"token": "someone-else"}
    path.write_text(json.dumps(taken))
    assert not lease.heartbeat()
    assert lease.lost
    lease.release()  # not ours any more: left alone
    assert read_lease(path) is not None


def test_the_context_manager_beats_and_releases(tmp_path: Path) -> None:
    lease = acquire(tmp_path, "job", heartbeat_s=0.01)
    assert lease is not None
    path = lease_path(tmp_path, "job")
    long_ago = time.time() - 1000
    with lease:
        os.utime(path, (long_ago, long_ago))
        for _ in range(2000):  # the heartbeat thread touches it within a few beats
            if path.stat().st_mtime > long_ago + 900:
                break
            time.sleep(0.01)
        assert path.stat().st_mtime > long_ago + 900
    assert not path.exists()
    assert not list(path.parent.glob(".*.tmp"))


def test_one_keeper_beats_all_its_leases_reports_lost_ones_and_releases_the_rest(tmp_path: Path) -> None:
    long_ago = time.time() - 1000
    with LeaseKeeper(tmp_path, heartbeat_s=3600) as keeper:
        assert keeper.take("a") is not None and keeper.take("b") is not None and keeper.take("c") is not None
        assert keeper.take("a") is None  # held already, by this very process
        for key in "abc":
            os.utime(lease_path(tmp_path, key), (long_ago, long_ago))
        remote = json.loads(lease_path(tmp_path, "c").read_text()) | {"host": "another-node", "token": "t"}
        lease_path(tmp_path, "c").write_text(json.dumps(remote))  # "c" was taken over by another driver
        keeper.beat()
        assert all(lease_path(tmp_path, key).stat().st_mtime > long_ago + 900 for key in "ab")
        assert keeper.lost == ["c"] and sorted(keeper.held) == ["a", "b"]
        keeper.release("a")
        assert not lease_path(tmp_path, "a").exists()
    assert not lease_path(tmp_path, "b").exists()
    assert lease_path(tmp_path, "c").exists()  # the other driver's lease is left alone
