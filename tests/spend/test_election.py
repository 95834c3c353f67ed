"""One writer per host: the elected worker drains every worker's spool; the others seal
their segments for it, and hear when their records' costs are in the database."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from pathlib import Path

from pllm.spend.election import WriterElection
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter
from tests.spend.support import FakeDB, rec

log = logging.getLogger("test.election")


def test_the_elected_writer_drains_the_others_and_a_follower_takes_over(tmp_path: Path) -> None:
    db = FakeDB()
    handed: list[Mapping[str, float]] = []

    async def run() -> None:
        leader = SpendWriter(Spool.open(tmp_path), db, log=log, election=WriterElection(tmp_path))
        follower = SpendWriter(
            Spool.open(tmp_path),
            db,
            log=log,
            election=WriterElection(tmp_path),
            on_handed=handed.append,
        )
        assert await leader.flush()  # takes the lock first
        for i in range(5):
            follower.append(rec(f"f{i}", cost=1.0))
        leader.append(rec("l0"))
        assert await follower.flush()  # not the writer: seals its segment
        assert db.rows == {}
        assert await leader.flush()  # drains its own and the follower's sealed segment
        assert sorted(db.rows) == ["f0", "f1", "f2", "f3", "f4", "l0"]
        assert handed == []
        await follower.flush()  # its sealed segment is gone: its costs are in the database
        assert handed == [{"all": 5.0, "key:k1": 5.0, "group:g1": 5.0, "model:gpt-x": 5.0}]
        # The writer stops (or dies): the follower takes over on its next pass.
        await leader.stop()
        follower.append(rec("f5"))
        assert await follower.flush()
        assert "f5" in db.rows
        await follower.stop()
        assert max(db.deliveries.values()) == 1, "every record reached the database once"

    asyncio.run(run())
