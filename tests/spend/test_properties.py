"""Random appends, sink failures, crashes and restarts: every record arrives, and twice only
when a simulated crash fell between the database commit and the offset save."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter

from .support import FakeDB, kill, rec

log = logging.getLogger("tests.spend.properties")
log.propagate = False  # thousands of expected outage lines; the assertions are the test

Op = tuple[str, int]
ops = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(1, 40)),
        st.tuples(st.just("db_down"), st.integers(0, 1)),
        st.tuples(st.just("crash_after_commit"), st.just(0)),
        st.tuples(st.just("flush"), st.just(0)),
        st.tuples(st.just("stop"), st.just(0)),  # SIGTERM: stop(), restart
        st.tuples(st.just("kill"), st.integers(0, 1)),  # SIGKILL (1: mid-line), restart
    ),
    max_size=30,
)


def run(directory: Path, steps: list[Op], batch: int, seg_bytes: int) -> None:
    db = FakeDB()
    appended: set[str] = set()

    def new_writer() -> SpendWriter:
        spool = Spool.open(directory, segment_bytes=seg_bytes)
        return SpendWriter(spool, db, batch_size=batch, interval=0.001, log=log)

    async def scenario() -> None:
        w = new_writer()
        for op, arg in steps:
            if op == "append":
                for _ in range(arg):
                    rid = f"r{len(appended)}"
                    w.append(rec(rid))
                    appended.add(rid)
            elif op == "db_down":
                db.down = bool(arg)
            elif op == "crash_after_commit":
                db.crash_next = True
            elif op == "flush":
                await w.flush()
            elif op == "stop":
                await w.stop(timeout=0.005)
                w = new_writer()
            elif op == "kill":
                if arg:
                    os.write(w._spool._fd, b'{"request_id":"torn-')
                kill(w._spool)
                w = new_writer()
        db.down = False
        db.crash_next = False
        assert await w.flush()
        assert w.pending() == 0
        await w.stop()

    asyncio.run(scenario())
    db.assert_exactly_once(appended)
    assert not [n for n in os.listdir(directory) if n != "rejected.log"]
    assert not (directory / "rejected.log").exists()


@settings(max_examples=120, deadline=None)
@given(steps=ops, batch=st.sampled_from([1, 7, 500]), seg_bytes=st.sampled_from([700, 1 << 20]))
def test_every_record_delivered_once_except_after_commit_crashes(
    steps: list[Op], batch: int, seg_bytes: int
) -> None:
    with tempfile.TemporaryDirectory() as d:
        run(Path(d), steps, batch, seg_bytes)
