"""Which worker of a host writes the spend records to the database.

With ``pllm serve --workers N`` every worker spools its records, but one alone (the holder of
an exclusive ``flock`` on a file in the spool directory) drains them all into the database:
one writer per host instead of N contending for SQLite's single write lock or PostgreSQL
connections. The others seal their live segment every flush interval, which releases its
lock so the writer can claim it (:mod:`pllm.spend.spool`: whoever holds a segment's lock may
drain it). The kernel drops the lock when its holder dies, and the next worker to try takes
over, draining whatever the dead one held.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from pathlib import Path

log = logging.getLogger("pllm.spend")

LOCK_NAME = "writer.lock"


class WriterElection:
    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd = -1

    def lead(self) -> bool:
        """True while this process is the writer; takes the lock if it is free."""
        if self._fd >= 0:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        log.info("this worker writes the host's spend records to the database")
        return True

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
