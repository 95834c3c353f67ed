"""Real processes: SIGKILL mid-run, two live writers side by side, SIGTERM with the DB down."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter

from .support import REPO, FakeDB, complete_ids, rec, segments

log = logging.getLogger("tests.spend.processes")

# Appends records as fast as it can, reporting progress, until killed.
APPENDER = """
import sys
import time
from collections import Counter
from pllm.spend.spool import Spool
from tests.spend.support import rec
spool = Spool.open(sys.argv[1], segment_bytes=int(sys.argv[2]))
i = 0
while True:
    spool.append(rec(f"k{i}"))
    i += 1
    if i % 1000 == 0:
        print(i, flush=True)
"""

# Appends, then drains its own spool on command, while the test process does the same.
NEIGHBOUR = """
import asyncio, json, logging, sys
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter
from tests.spend.support import FakeDB, rec
spool = Spool.open(sys.argv[1])
for i in range(200):
    spool.append(rec(f"b{i}"))
print("ready", flush=True)
sys.stdin.readline()
db = FakeDB()
ok = asyncio.run(SpendWriter(spool, db, log=logging.getLogger("n")).flush())
for i in range(30):
    spool.append(rec(f"c{i}"))
print(json.dumps([ok, sorted(db.deliveries.elements())]), flush=True)
sys.stdin.readline()
"""

# Serves "requests" with the database down; on SIGTERM stops the writer like the app does.
SERVER = """
import asyncio, logging, signal, sys
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter
from tests.spend.support import FakeDB, rec
async def main():
    db = FakeDB()
    db.down = True
    w = SpendWriter(Spool.open(sys.argv[1], segment_bytes=16384), db, interval=0.01,
                    log=logging.getLogger("s"))
    w.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    i = 0
    while not stop.is_set():
        for _ in range(50):
            w.append(rec(f"s{i}"))
            i += 1
        if i == 1000:
            print("busy", flush=True)
        await asyncio.sleep(0.001)
    await w.stop(timeout=0.3)
    print(i, w.written, flush=True)
asyncio.run(main())
"""

# Appends and drains at once, with tiny segments so that processes keep claiming each other's
# rotated segments; logs every id its sink receives.
BUSY = """
import asyncio, logging, os, signal, sys
from pllm.spend.spool import Spool
from pllm.spend.writer import SpendWriter
from tests.spend.support import rec
tag, directory, out = sys.argv[1:]
async def main():
    fd = os.open(out, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    async def sink(records):
        await asyncio.sleep(0)
        os.write(fd, "".join(r.request_id + "\\n" for r in records).encode())
        return {}
    w = SpendWriter(Spool.open(directory, segment_bytes=2048), sink, interval=0.002,
                    batch_size=7, log=logging.getLogger("b"))
    w.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("up", flush=True)
    i = 0
    while not stop.is_set():
        for _ in range(5):
            w.append(rec(f"{tag}-{i}"))
            i += 1
        await asyncio.sleep(0.001)
    await w.stop(timeout=10)
    print(i, w.written, flush=True)
asyncio.run(main())
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )


def drain_all(directory: Path, db: FakeDB) -> Spool:
    spool = Spool.open(directory)

    async def go() -> None:
        assert await SpendWriter(spool, db, log=log).flush()

    asyncio.run(go())
    return spool


def test_sigkilled_writer_is_drained_by_another_process(tmp_path: Path) -> None:
    child = spawn(APPENDER, str(tmp_path), "65536")
    assert child.stdout is not None
    reported = 0
    try:
        while reported < 5000:
            reported = int(child.stdout.readline())
    finally:
        child.send_signal(signal.SIGKILL)  # mid-run: it is appending as fast as it can
        child.communicate(timeout=10)
    dead = segments(tmp_path)
    assert len(dead) > 1  # it rotated
    with dead[-1].open("ab") as f:  # a write cut short by the kill
        f.write(b'{"request_id":"k-torn","ts":1.0,"endp')
    expected = complete_ids(dead)
    assert len(expected) >= reported and len(set(expected)) == len(expected)

    db = FakeDB()
    spool = drain_all(tmp_path, db)
    db.assert_exactly_once(set(expected))
    assert spool.torn == 1 and spool.rejected == 0
    assert not any(p in segments(tmp_path) for p in dead)
    spool.close()


def test_two_processes_never_drain_each_others_live_segment(tmp_path: Path) -> None:
    child = spawn(NEIGHBOUR, str(tmp_path))
    assert child.stdout is not None and child.stdin is not None
    try:
        assert child.stdout.readline() == "ready\n"
        spool = Spool.open(tmp_path)
        for i in range(100):
            spool.append(rec(f"a{i}"))
        mine = FakeDB()
        assert asyncio.run(SpendWriter(spool, mine, log=log).flush())
        mine.assert_exactly_once({f"a{i}" for i in range(100)})  # none of the child's b*

        for i in range(50):
            spool.append(rec(f"a2-{i}"))  # pending in our live segment while the child drains
        child.stdin.write("drain\n")
        child.stdin.flush()
        ok, theirs = json.loads(child.stdout.readline())
        assert ok and theirs == sorted(f"b{i}" for i in range(200))  # none of our a2-*

        child.kill()  # its 30 c* records are now in an orphaned segment
        child.wait(10)
        rest = FakeDB()
        assert asyncio.run(SpendWriter(spool, rest, log=log).flush())
        rest.assert_exactly_once({f"a2-{i}" for i in range(50)} | {f"c{i}" for i in range(30)})
        spool.close()
    finally:
        child.kill()
        child.wait(10)
        child.stdin.close()
        child.stdout.close()


def test_sigterm_with_database_down_leaves_everything_for_the_next_start(
    tmp_path: Path,
) -> None:
    child = spawn(SERVER, str(tmp_path))
    assert child.stdout is not None
    assert child.stdout.readline() == "busy\n"
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=20)
    assert child.returncode == 0
    appended, written = map(int, out.split())
    assert written == 0 and appended >= 1000

    db = FakeDB()
    spool = drain_all(tmp_path, db)
    db.assert_exactly_once({f"s{i}" for i in range(appended)})
    spool.close()
    assert os.listdir(tmp_path) == []


def test_concurrent_writers_share_rotated_segments_exactly_once(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    outs = [tmp_path / f"out{n}" for n in range(3)]
    children = [spawn(BUSY, f"p{n}", str(spool_dir), str(out)) for n, out in enumerate(outs)]
    try:
        for child in children:
            assert child.stdout is not None and child.stdout.readline() == "up\n"
        time.sleep(0.8)
        for child in children:
            child.send_signal(signal.SIGTERM)
        results = [child.communicate(timeout=20)[0].split() for child in children]
    finally:
        for child in children:
            child.kill()
            child.communicate()
    expected = {f"p{n}-{i}" for n, (count, _) in enumerate(results) for i in range(int(count))}
    delivered = Counter(line for out in outs for line in out.read_text().splitlines())
    assert sum(int(written) for _, written in results) == delivered.total()
    leftovers = FakeDB()
    drain_all(spool_dir, leftovers).close()  # whatever a stopping neighbour still held
    delivered.update(leftovers.deliveries)
    assert set(delivered) == expected and len(expected) > 1000
    assert max(delivered.values()) == 1  # no crash was simulated: not one re-send
