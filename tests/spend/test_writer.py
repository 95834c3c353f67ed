from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from pllm.spend.record import SpendRecord
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter

from .support import FakeDB, rec, segments

log = logging.getLogger("tests.spend.writer")


async def wait_until(cond: object, timeout: float = 10.0) -> None:
    assert callable(cond)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.005)


def test_background_drain_and_on_flushed(tmp_path: Path) -> None:
    db = FakeDB()
    totals: dict[str, float] = {}

    def on_flushed(added: Mapping[str, float]) -> None:
        for k, v in added.items():
            totals[k] = totals.get(k, 0.0) + v

    async def scenario() -> None:
        w = SpendWriter(
            Spool.open(tmp_path), db, on_flushed=on_flushed, interval=0.01, batch_size=64, log=log
        )
        w.start()
        for i in range(500):
            w.append(rec(f"r{i}", cost=0.5))
            if i % 50 == 0:
                await asyncio.sleep(0)
        await wait_until(lambda: w.written == 500)
        assert w.pending() == 0 and w.failures == 0 and w.rejected == 0
        await w.stop()

    asyncio.run(scenario())
    db.assert_exactly_once({f"r{i}" for i in range(500)})
    assert totals == {
        "all": pytest.approx(250.0),
        "key:k1": pytest.approx(250.0),
        "group:g1": pytest.approx(250.0),
        "model:gpt-x": pytest.approx(250.0),
    }
    assert os.listdir(tmp_path) == []


def test_outage_then_recovery_logs_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=log.name)
    db = FakeDB()
    db.fail_next = 6

    async def scenario() -> SpendWriter:
        w = SpendWriter(Spool.open(tmp_path), db, interval=0.005, batch_size=50, log=log)
        w.start()
        for i in range(300):
            w.append(rec(f"r{i}"))
        await wait_until(lambda: db.fail_next == 0)
        assert w.written == 0 and w.pending() > 0
        for i in range(300, 400):
            w.append(rec(f"r{i}"))
        await wait_until(lambda: w.written == 400)
        await w.stop()
        return w

    w = asyncio.run(scenario())
    assert w.failures == 6
    db.assert_exactly_once({f"r{i}" for i in range(400)})
    assert not db.after_crash  # no crash simulated, so no id was sent twice
    msgs = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [m for lvl, m in msgs if lvl == logging.WARNING and "sink failed" in m] != []
    assert sum(1 for _, m in msgs if "sink failed" in m) == 1
    assert sum(1 for _, m in msgs if "recovered after 6 failed" in m) == 1


def test_backoff_grows_and_is_capped(tmp_path: Path) -> None:
    w = SpendWriter(Spool.open(tmp_path), FakeDB(), interval=0.5, log=log)
    delays = []
    for streak in range(1, 12):
        w._streak = streak
        delays.append(w._backoff())
    assert delays[0] <= 1.0 and max(delays) <= 5.0 and delays[-1] >= 2.5
    w._spool.close()


def test_crash_between_commit_and_offset_save_resends_only_that_batch(tmp_path: Path) -> None:
    db = FakeDB()
    db.crash_next = True
    added: list[float] = []

    async def scenario() -> None:
        w = SpendWriter(
            Spool.open(tmp_path),
            db,
            on_flushed=lambda a: added.append(a["all"]),
            batch_size=40,
            log=log,
        )
        for i in range(100):
            w.append(rec(f"r{i}", cost=1.0))
        assert not await w.flush()  # "died" after the commit: offset not saved
        assert await w.flush()
        await w.stop()

    asyncio.run(scenario())
    assert set(db.after_crash) == {f"r{i}" for i in range(40)}
    db.assert_exactly_once({f"r{i}" for i in range(100)})
    # The re-sent batch added nothing: the database ignored it, so budgets count it once.
    assert sum(added) == pytest.approx(60.0)


def test_stop_with_failing_sink_leaves_records_for_next_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=log.name)
    db = FakeDB()
    db.down = True

    async def first_run() -> None:
        w = SpendWriter(Spool.open(tmp_path, segment_bytes=8192), db, interval=0.01, log=log)
        w.start()
        for i in range(300):
            w.append(rec(f"r{i}"))
        await asyncio.sleep(0.05)
        await w.stop(timeout=0.2)  # what the SIGTERM handler does
        assert w.written == 0 and w.failures >= 1

    asyncio.run(first_run())
    assert db.rows == {}
    assert any("records left" in r.getMessage() for r in caplog.records)
    assert segments(tmp_path)  # still spooled

    db.down = False

    async def second_run() -> None:
        w = SpendWriter(Spool.open(tmp_path), db, log=log)
        assert await w.flush()
        assert w.written == 300
        await w.stop()

    asyncio.run(second_run())
    db.assert_exactly_once({f"r{i}" for i in range(300)})
    assert os.listdir(tmp_path) == []


def test_stop_cancels_a_hung_sink_at_the_deadline(tmp_path: Path) -> None:
    calls = 0

    async def hung(records: list[SpendRecord]) -> Mapping[str, float]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(3600)
        return {}

    async def scenario() -> SpendWriter:
        w = SpendWriter(Spool.open(tmp_path), hung, interval=0.01, log=log)
        w.start()
        w.append(rec("a"))
        await wait_until(lambda: calls == 1)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await w.stop(timeout=0.1)
        assert loop.time() - t0 < 1.0
        return w

    asyncio.run(scenario())
    db = FakeDB()

    async def after() -> None:
        w = SpendWriter(Spool.open(tmp_path), db, log=log)
        assert await w.flush()
        await w.stop()

    asyncio.run(after())
    db.assert_exactly_once({"a"})


def test_append_failure_is_counted_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool.open(tmp_path)
    w = SpendWriter(spool, FakeDB(), log=log)
    live, full = spool._fd, os.open("/dev/full", os.O_WRONLY)
    spool._fd = full  # white-box: every write now fails with ENOSPC, like a full disk
    try:
        w.append(rec("a"))
        w.append(rec("b"))
    finally:
        spool._fd = live
        os.close(full)
    assert w.lost == 2
    assert sum(1 for r in caplog.records if "could not spool" in r.getMessage()) == 1
    w.append(rec("c"))
    assert w.lost == 2
    db = FakeDB()
    w = SpendWriter(spool, db, log=log)
    assert asyncio.run(w.flush())
    db.assert_exactly_once({"c"})
    spool.close()


def test_offset_save_failure_is_logged_like_an_outage_and_resends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import pllm.spend.spool as spool_mod

    real_save = spool_mod._save_offset
    fail = [True]

    def save(path: Path, offset: int) -> None:
        if fail.pop() if fail else False:
            raise OSError(28, "No space left on device")
        real_save(path, offset)

    monkeypatch.setattr(spool_mod, "_save_offset", save)
    db = FakeDB()

    async def scenario() -> SpendWriter:
        w = SpendWriter(Spool.open(tmp_path), db, batch_size=10, log=log)
        for i in range(25):
            w.append(rec(f"r{i}"))
        assert not await w.flush()  # the rows are in, but the offset could not be saved
        assert await w.flush()
        await w.stop()
        return w

    w = asyncio.run(scenario())
    assert w.failures == 1
    # The acknowledgement is kept in memory and saved with the next batch: nothing re-sent
    # (only a crash before that save would re-send, harmlessly).
    db.assert_exactly_once({f"r{i}" for i in range(25)})
    assert sum(1 for r in caplog.records if r.exc_info) == 1
