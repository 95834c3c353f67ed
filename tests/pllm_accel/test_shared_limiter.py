"""The limiter shared by worker processes (``Limiter(shared=path, worker=i)``): handles on one
file, in one process or several, decide against the same entities, and a dead worker's
parallel slots can be given back."""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from pllm_accel import Limiter, Refusal

RPM_30 = [("key:shared", 30, None, None)]


def test_two_limiters_on_one_file_admit_one_rpm_between_them(tmp_path: Path) -> None:
    path = str(tmp_path / "limits")
    a, b = Limiter(shared=path, worker=0), Limiter(shared=path, worker=1)
    got = [(a if i % 2 else b).acquire(RPM_30, 0) for i in range(100)]
    admitted = [t for t in got if isinstance(t, int)]
    assert len(admitted) == 30
    refusal = got[-1]
    assert isinstance(refusal, Refusal)
    assert (refusal.entity, refusal.kind) == ("key:shared", "rpm")
    assert 0 < refusal.retry_after <= 2.0
    assert a.in_flight("key:shared") == b.in_flight("key:shared") == 30
    assert a.in_flight_total() == b.in_flight_total() == 15
    assert a.tracked() == b.tracked() == 1


def test_release_and_tpm_settle_on_the_shared_entity(tmp_path: Path) -> None:
    path = str(tmp_path / "limits")
    a, b = Limiter(shared=path, worker=0), Limiter(shared=path, worker=1)
    claims = [("user:u", None, 100, 1)]
    ticket = a.acquire(claims, 100, now=10.0)
    assert isinstance(ticket, int)
    refusal = b.acquire(claims, 1, now=10.0)
    assert isinstance(refusal, Refusal) and refusal.kind == "parallel"
    # Only the handle that took a ticket can release it.
    assert not b.release(ticket, 40, now=10.0)
    assert a.release(ticket, 40, now=10.0)
    assert isinstance(b.acquire(claims, 60, now=10.0), int)
    assert b.in_flight("user:u") == 1


def _acquire_in_a_loop(
    path: str, worker: int, start: Barrier, admitted: multiprocessing.Queue[int]
) -> None:
    limiter = Limiter(shared=path, worker=worker)
    start.wait()
    # A fixed time: no refill, so the total is exact however slowly the processes run.
    got = [limiter.acquire(RPM_30, 0, now=1_000.0) for _ in range(40)]
    admitted.put(sum(isinstance(t, int) for t in got))


def test_four_processes_admit_one_rpm_between_them(tmp_path: Path) -> None:
    path = str(tmp_path / "limits")
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(4)
    admitted: multiprocessing.Queue[int] = ctx.Queue()
    procs = [
        ctx.Process(target=_acquire_in_a_loop, args=(path, i, start, admitted)) for i in range(4)
    ]
    for p in procs:
        p.start()
    counts = [admitted.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert sum(counts) == 30
    assert Limiter(shared=path, worker=5).in_flight("key:shared") == 30


def _hold_and_die(path: str, worker: int) -> None:
    limiter = Limiter(shared=path, worker=worker)
    for _ in range(2):
        assert isinstance(limiter.acquire([("team:t", None, None, 3)], 0), int)
    os._exit(0)  # no release, as a killed worker


def test_forget_worker_gives_back_what_a_dead_worker_held(tmp_path: Path) -> None:
    path = str(tmp_path / "limits")
    survivor = Limiter(shared=path, worker=0)
    claims = [("team:t", None, None, 3)]
    assert isinstance(survivor.acquire(claims, 0), int)
    dead = multiprocessing.get_context("spawn").Process(target=_hold_and_die, args=(path, 7))
    dead.start()
    dead.join(timeout=30)
    assert dead.exitcode == 0
    assert survivor.in_flight("team:t") == 3
    assert isinstance(survivor.acquire(claims, 0), Refusal)
    assert survivor.forget_worker(7) == 2
    assert survivor.forget_worker(7) == 0
    assert survivor.in_flight("team:t") == 1
    assert isinstance(survivor.acquire(claims, 0), int)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="worker"):
        Limiter(shared=str(tmp_path / "limits"), worker=64)
    with pytest.raises(ValueError, match="worker"):
        Limiter().forget_worker(64)
    assert Limiter().forget_worker(3) == 0
    other = tmp_path / "other"
    other.write_bytes(b"not a limits segment")
    with pytest.raises(OSError, match="not the"):
        Limiter(shared=str(other))
