from __future__ import annotations

import fcntl
import os
from pathlib import Path

import msgspec
import pytest

from pllm.spend.record import SpendRecord
from pllm.spend.spool import REJECTED, Spool

from .support import complete_ids, kill, rec, segments


def drain(spool: Spool, limit: int = 100) -> list[SpendRecord]:
    """Read and acknowledge everything pending, the way SpendWriter does with a healthy sink."""
    out: list[SpendRecord] = []
    try:
        while (batch := spool.read_batch(limit)) is not None:
            out.extend(batch.records)
            spool.commit(batch)
    finally:
        spool.release()
    return out


def killed_writer(directory: Path, count: int, torn: bytes = b"") -> None:
    """Leave in ``directory`` what a writer killed after appending ``r0``..``r{count-1}`` and
    ``torn`` (the start of a line) leaves: an orphaned segment."""
    dead = Spool.open(directory)
    for i in range(count):
        dead.append(rec(f"r{i}"))
    os.write(dead._fd, torn)
    kill(dead)


def test_round_trip(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path / "spool")
    records = [rec(f"r{i}", cost=i / 7) for i in range(50)]
    records.append(
        SpendRecord(
            request_id='weird\n"id"',
            ts=1.5,
            endpoint="messages",
            status=500,
            latency_ms=0.0,
            error="upstream said:\nno",
            ttft_ms=3.25,
            streamed=True,
        )
    )
    for r in records:
        spool.append(r)
    assert spool.pending() > 0
    assert drain(spool, limit=7) == records
    assert spool.pending() == 0
    assert spool.read_batch(10) is None
    spool.close()
    assert os.listdir(tmp_path / "spool") == []  # a drained segment goes with its offset


def test_unacknowledged_batch_is_read_again(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    for i in range(10):
        spool.append(rec(f"r{i}"))
    batch = spool.read_batch(4)
    assert batch is not None and [r.request_id for r in batch.records] == ["r0", "r1", "r2", "r3"]
    spool.release()  # the sink failed: give it back
    assert [r.request_id for r in drain(spool)] == [f"r{i}" for i in range(10)]
    spool.close()


def test_rotation_keeps_order_and_deletes_drained_segments(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, segment_bytes=4096)
    ids = [f"r{i}" for i in range(400)]
    for rid in ids:
        spool.append(rec(rid))
    assert len(segments(tmp_path)) > 10
    assert complete_ids(segments(tmp_path)) == ids
    assert [r.request_id for r in drain(spool, limit=33)] == ids
    assert len(segments(tmp_path)) <= 1  # only the live one, if any
    spool.close()
    assert os.listdir(tmp_path) == []


def test_restart_resumes_from_saved_offset(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    for i in range(20):
        spool.append(rec(f"r{i}"))
    batch = spool.read_batch(8)
    assert batch is not None
    spool.commit(batch)
    spool.release()
    spool.close()  # undrained: the segment and its offset stay for the next start
    again = Spool.open(tmp_path)
    assert [r.request_id for r in drain(again)] == [f"r{i}" for i in range(8, 20)]
    again.close()
    assert os.listdir(tmp_path) == []


def test_corrupt_lines_go_to_rejected_log(tmp_path: Path) -> None:
    good = [rec("a"), rec("b")]
    enc = [msgspec.json.encode(g) for g in good]
    bad = [b'{"request_id": 7}', b"not json at all", b""]
    # An orphaned segment as a crashed process would leave it, lines interleaved.
    orphan = tmp_path / "seg-00000000000000000001-1-0000.log"
    orphan.write_bytes(b"\n".join([enc[0], bad[0], bad[1], enc[1], bad[2]]) + b"\n")
    spool = Spool.open(tmp_path)
    assert [r.request_id for r in drain(spool)] == ["a", "b"]
    assert spool.rejected == 3
    assert (tmp_path / REJECTED).read_bytes() == b"\n".join(bad) + b"\n"
    assert not orphan.exists()
    spool.close()


def test_incomplete_line_waits_for_its_newline_in_a_live_segment(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    spool.append(rec("a"))
    line = msgspec.json.encode(rec("b")) + b"\n"
    os.write(spool._fd, line[:10])  # a writer caught mid-line (white-box: the live fd)
    assert [r.request_id for r in drain(spool)] == ["a"]
    assert spool.pending() == 1 and spool.torn == 0
    os.write(spool._fd, line[10:])
    assert [r.request_id for r in drain(spool)] == ["b"]
    spool.close()


def test_torn_tail_of_dead_writer_is_skipped(tmp_path: Path) -> None:
    killed_writer(tmp_path, 5, torn=b'{"request_id":"half')
    spool = Spool.open(tmp_path)
    assert [r.request_id for r in drain(spool)] == [f"r{i}" for i in range(5)]
    assert spool.torn == 1 and spool.rejected == 0
    assert len(segments(tmp_path)) == 1  # the dead one is gone; ours is live
    spool.close()


def test_live_segment_of_another_spool_is_not_drained(tmp_path: Path) -> None:
    # Two Spools in one process have separate open files, so flock excludes them just as it
    # excludes two processes (the cross-process case is in test_processes.py).
    other = Spool.open(tmp_path)
    other.append(rec("theirs"))
    [theirs] = segments(tmp_path)
    mine = Spool.open(tmp_path)
    mine.append(rec("mine"))
    assert [r.request_id for r in drain(mine)] == ["mine"]
    assert mine.pending() == 0  # their live segment is not ours to count
    assert not Path(f"{theirs}.offset").exists()
    other.close()  # now an orphan
    assert [r.request_id for r in drain(mine)] == ["theirs"]
    mine.close()


def test_claimed_segment_stays_locked_until_release(tmp_path: Path) -> None:
    killed_writer(tmp_path, 10)
    a, b = Spool.open(tmp_path), Spool.open(tmp_path)
    batch = a.read_batch(3)
    assert batch is not None
    assert b.read_batch(100) is None  # a holds the orphan's flock while its batch is out
    b.release()
    a.commit(batch)
    a.release()
    assert [r.request_id for r in drain(b)] == [f"r{i}" for i in range(3, 10)]
    a.close()
    b.close()


def test_commit_after_release_is_refused(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path, segment_bytes=200)
    spool.append(rec("a"))  # past 200 bytes: rotated, then released to the claim pool
    spool.append(rec("b"))
    batch = spool.read_batch(10)
    assert batch is not None
    spool.release()
    with pytest.raises(RuntimeError):
        spool.commit(batch)
    spool.close()


def test_append_after_close_opens_a_new_segment(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    spool.close()
    spool.append(rec("late"))  # e.g. a request finishing during shutdown
    assert len(segments(tmp_path)) == 1
    spool.close()
    again = Spool.open(tmp_path)
    assert [r.request_id for r in drain(again)] == ["late"]
    again.close()


def test_forked_child_neither_shares_nor_unlocks_the_parents_segment(tmp_path: Path) -> None:
    spool = Spool.open(tmp_path)
    spool.append(rec("parent"))
    parent_seg = segments(tmp_path)[0]
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            spool.append(rec("child"))
            spool.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    probe = os.open(parent_seg, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(probe)
    assert sorted(r.request_id for r in drain(spool)) == ["child", "parent"]
    spool.close()


def test_stale_offset_files_are_cleaned(tmp_path: Path) -> None:
    (tmp_path / "seg-00000000000000000001-1-0000.log.offset").write_bytes(b"12")
    (tmp_path / "seg-00000000000000000001-1-0000.log.offset.tmp").write_bytes(b"1")
    spool = Spool.open(tmp_path)
    assert drain(spool) == []
    spool.close()
    assert os.listdir(tmp_path) == []


def test_short_write_seals_the_segment_so_no_line_is_glued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool.open(tmp_path)
    spool.append(rec("a"))
    real_write = os.write
    calls = 0

    def half_then_full_disk(fd: int, data: bytes | bytearray | memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full_disk)
    with pytest.raises(OSError):
        spool.append(rec("b"))
    monkeypatch.setattr(os, "write", real_write)
    spool.append(rec("c"))  # lands in a fresh segment, not after the torn half-line
    assert len(segments(tmp_path)) == 2
    assert [r.request_id for r in drain(spool)] == ["a", "c"]
    assert spool.rejected == 0 and spool.torn == 1
    spool.close()
    assert os.listdir(tmp_path) == []
