"""Shared doubles for the spend tests: records, an idempotent fake database, a fake crash."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from pllm.spend.record import SpendRecord
from pllm.spend.spool import Spool

REPO = Path(__file__).resolve().parents[2]


def rec(rid: str, cost: float = 0.001) -> SpendRecord:
    return SpendRecord(
        request_id=rid,
        ts=1_700_000_000.0,
        endpoint="chat",
        status=200,
        latency_ms=12.5,
        key_id="k1",
        group_ids=("g1",),
        model="gpt-x",
        prompt_tokens=10,
        completion_tokens=5,
        cost=cost,
    )


class DatabaseDown(ConnectionError):
    pass


class DiedAfterCommit(RuntimeError):
    """The rows are committed, then the process "dies" before the spool's offset is saved."""


class FakeDB:
    """A sink with the real store's contract: insert idempotent on request_id, and return the
    cost added per entity by rows that were new."""

    def __init__(self) -> None:
        self.rows: dict[str, SpendRecord] = {}
        self.deliveries: Counter[str] = Counter()  # every time the sink saw a request_id
        self.after_crash: Counter[str] = Counter()  # ids in batches committed before a "crash"
        self.calls = 0
        self.down = False
        self.fail_next = 0
        self.crash_next = False

    async def __call__(self, records: list[SpendRecord]) -> Mapping[str, float]:
        self.calls += 1
        if self.down or self.fail_next > 0:
            self.fail_next = max(0, self.fail_next - 1)
            raise DatabaseDown("connection refused")
        added: dict[str, float] = {}
        for r in records:
            self.deliveries[r.request_id] += 1
            if r.request_id in self.rows:
                continue  # ON CONFLICT DO NOTHING
            self.rows[r.request_id] = r
            for entity in r.entities():
                added[entity] = added.get(entity, 0.0) + r.cost
        if self.crash_next:
            self.crash_next = False
            self.after_crash.update(r.request_id for r in records)
            raise DiedAfterCommit("committed, then died before the offset was saved")
        return added

    def assert_exactly_once(self, appended: set[str]) -> None:
        """Everything arrived, and a request_id arrived twice only after a simulated crash
        between commit and offset save (harmless only because the insert is idempotent)."""
        assert set(self.rows) == appended
        assert set(self.deliveries) == appended
        for rid, n in self.deliveries.items():
            assert n == 1 + self.after_crash[rid], (rid, n, self.after_crash[rid])


def kill(spool: Spool) -> None:
    """What SIGKILL does to a spool: its descriptors close (dropping the flocks) and nothing
    else runs, so no offset is saved and no file is deleted."""
    for seg in list(spool._segs.values()):
        os.close(seg.fd)
    spool._segs.clear()
    spool._live, spool._fd = None, -1


def segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("seg-*.log"))


def complete_ids(paths: list[Path]) -> list[str]:
    """request_ids of the complete lines in raw segment files, read independently of Spool."""
    import msgspec

    dec = msgspec.json.Decoder(SpendRecord)
    out = []
    for p in paths:
        data = p.read_bytes()
        for line in data[: data.rfind(b"\n") + 1].splitlines():
            out.append(dec.decode(line).request_id)
    return out
