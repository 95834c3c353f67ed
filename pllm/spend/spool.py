"""A local append-only log of spend records that outlives database outages and restarts.

Durability: a record is one JSON line written by a single ``os.write`` on an ``O_APPEND`` fd,
with no fsync. Once ``append`` returns, the bytes are in the OS page cache, so they survive the
process crashing, being SIGKILLed or restarted. The request path ``stage``s its record instead
and the spend writer calls ``write_staged`` at the end of the event-loop iteration: one write
for every request that finished in it, a few microseconds after the response. They do not
survive a kernel crash or power loss: that is out of scope (an fsync per record would cost
more than the request itself).

Files in the spool directory:

- ``seg-<ns>-<pid>-<rand>.log``: one writer each. The writer holds an exclusive ``flock`` on it
  from before its first byte until it rotates away (~8 MiB) or exits, even by SIGKILL.
- ``<segment>.offset``: how many bytes of the segment the sink has acknowledged, replaced
  atomically after each acknowledged batch. Re-sending the rest after a crash is safe because
  the database insert is idempotent on ``request_id``.
- ``rejected.log``: complete lines that did not decode, moved here and counted, never dropped.

Ownership is the flock. A segment whose flock can be taken has no writer left (rotated away,
or its process died), so it is final: whoever holds its flock may drain it and delete it, and
two processes never drain the same file. A process drains its live segment and any it can
claim. flock is per open file, unlike ``fcntl`` locks (per process), so a second Spool in the
same process is locked out too, and a forked child closing its copies unlocks nothing. Needs a
local filesystem (not NFS). Not thread-safe: use a Spool from one thread (the event loop).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

import msgspec

from pllm.spend.record import SpendRecord

SEGMENT_BYTES = 8 << 20
REJECTED = "rejected.log"
_SEG_PREFIX = "seg-"
_SEG_SUFFIX = ".log"
_OFFSET = ".offset"
_TMP = ".tmp"
_DEFAULT_LINE = 256  # bytes per line assumed by pending() before any line was seen


class _Segment:
    """A segment this process holds the flock of (its live one, or one it claimed)."""

    __slots__ = ("committed", "fd", "name", "path", "read", "sealed")

    def __init__(self, path: Path, fd: int, committed: int, *, sealed: bool) -> None:
        self.path = path
        self.name = path.name
        self.fd = fd
        self.committed = committed  # acknowledged by the sink, saved in the offset file
        self.read = committed  # handed out in batches; past ``committed`` while one is in flight
        self.sealed = sealed  # no more appends will come

    def size(self) -> int:
        return os.fstat(self.fd).st_size


class Batch:
    """Lines read but not yet acknowledged: pass ``records`` to the sink, then ``Spool.commit``."""

    __slots__ = ("records", "rejects", "spans", "torn_bytes")

    def __init__(self) -> None:
        self.records: list[SpendRecord] = []
        self.rejects: list[bytes] = []  # complete lines that did not decode
        self.spans: list[tuple[_Segment, int, int]] = []  # (segment, start, end) byte ranges
        self.torn_bytes = 0  # unterminated tails of dead writers, skipped


_spools: weakref.WeakSet[Spool] = weakref.WeakSet()


class Spool:
    """Append spend records to a per-process segment; read them back in acknowledged batches."""

    def __init__(self, directory: Path, *, segment_bytes: int) -> None:
        self.directory = directory
        self.rejected = 0  # undecodable lines moved to rejected.log
        self.torn = 0  # unterminated tails skipped (a writer died mid-line)
        self._limit = segment_bytes
        self._enc = msgspec.json.Encoder()
        self._dec = msgspec.json.Decoder(SpendRecord)
        self._buf = bytearray()  # staged lines, written by write_staged
        self._staged = 0
        self._fd = -1  # the live segment's fd; -1 makes the next append open a new one
        self._size = 0  # bytes in the live segment (this process is its only writer)
        self._live: _Segment | None = None
        self._segs: dict[str, _Segment] = {}  # every segment whose flock we hold
        self._queue: list[str] | None = None  # claim candidates of this pass, newest first
        self._rotated = False  # since the last scan: our sealed segment joined the claimables
        self._lines = 0  # lines read, for pending()'s estimate
        self._line_bytes = 0

    @classmethod
    def open(
        cls, directory: str | os.PathLike[str], *, segment_bytes: int = SEGMENT_BYTES
    ) -> Spool:
        """Open the spool in ``directory`` (created if missing) with a fresh live segment.

        Call it in the process that appends (after any fork). The segment is created now so
        that a data directory we cannot write to fails at startup, not on the first request.
        """
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        spool = cls(path, segment_bytes=segment_bytes)
        spool._start_segment()
        _spools.add(spool)
        return spool

    def append(self, record: SpendRecord) -> None:
        """Write one record: one encode, one ``write`` syscall. Raises OSError (disk full)."""
        self.stage(record)
        self.write_staged()

    def stage(self, record: SpendRecord) -> None:
        """Encode one record after those staged before it; ``write_staged`` writes them all in
        one ``write``. Nothing is on disk until then."""
        self._enc.encode_into(record, self._buf, -1)
        self._buf.append(10)  # JSON escapes newlines inside strings, so this ends the line
        self._staged += 1

    @property
    def staged(self) -> int:
        """Records staged and not yet written."""
        return self._staged

    def write_staged(self) -> None:
        """Write the staged records (whole lines, one syscall). Raises OSError (disk full), and
        the staged records are dropped then: the caller counts them as lost."""
        buf = self._buf
        size = len(buf)
        if not size:
            return
        try:
            try:
                n = os.write(self._fd, buf)
            except OSError:
                n = 0
            if n != size:
                self._write_slow(buf, n)
        finally:
            buf.clear()
            self._staged = 0
        self._size += size
        if self._size >= self._limit:
            self._rotate()

    def _write_slow(self, buf: bytearray, done: int) -> None:
        # No live segment (closed, rotated without a new one) or a failed/short write: retry
        # once on a fresh segment or finish the line on this one, and raise if that fails.
        if self._fd < 0:
            self._start_segment()
        try:
            while done < len(buf):
                done += os.write(self._fd, buf[done:])  # a copy: no export pins the buffer
        except OSError:
            if done:
                # Half a line is on disk: seal the segment so the next line does not glue onto
                # it; readers skip the unterminated tail of a sealed segment.
                self._rotate()
            raise

    def _start_segment(self) -> None:
        for _ in range(3):
            name = f"{_SEG_PREFIX}{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}"
            path = self.directory / (name + _SEG_SUFFIX)
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_EXCL
            fd = os.open(path, flags, 0o600)
            # Between create and flock another process may claim the empty file and delete it
            # as a drained orphan; losing that race (or finding the name unlinked) means retry.
            if _lock(fd, path):
                seg = _Segment(path, fd, 0, sealed=False)
                self._segs[seg.name] = seg
                self._live, self._fd, self._size = seg, fd, 0
                return
            os.close(fd)  # whoever took it deletes the empty file (or the next pass does)
        raise OSError(f"could not create a spool segment in {self.directory}")

    def _rotate(self) -> None:
        seg, self._live, self._fd = self._live, None, -1
        self._rotated = True
        if seg is not None:
            seg.sealed = True
            if seg.read == seg.committed:  # no batch in flight needs our lock on it
                self._close_segment(seg)
        with contextlib.suppress(OSError):  # the next append retries, and raises
            self._start_segment()

    def seal(self) -> Path | None:
        """Closes the live segment if anything was written to it, releasing its lock so that
        another process (the host's elected writer) may claim and drain it, and starts a new
        one; the sealed segment's path, or None when it was empty."""
        seg = self._live
        if seg is None or self._size == 0:
            return None
        self._rotate()
        return seg.path

    def read_batch(self, limit: int) -> Batch | None:
        """Up to ``limit`` lines not yet handed out, or None when nothing is pending.

        Claims orphaned segments as needed and keeps them until ``release``. The caller must
        ``commit`` the batch once the sink has acknowledged it, or ``release`` to give it back.
        """
        batch = Batch()
        room = limit
        for seg in self._sources():
            room = self._read(seg, batch, room)
            if room <= 0:
                break
        return batch if batch.spans else None

    def _sources(self) -> Iterator[_Segment]:
        # Sealed segments we hold first (oldest data, and draining them frees disk), then
        # segments we can claim, then our live one, which under load never runs dry.
        for name in sorted(self._segs):
            seg = self._segs.get(name)
            if seg is not None and seg is not self._live:
                yield seg
        if self._queue is None or self._rotated:
            self._rotated = False
            self._queue = sorted(_segment_names(self.directory, clean=True), reverse=True)
        while self._queue:
            name = self._queue.pop()
            if name not in self._segs and (seg := self._claim(name)) is not None:
                yield seg
        if self._live is not None:
            yield self._live

    def _read(self, seg: _Segment, batch: Batch, room: int) -> int:
        start, size = seg.read, seg.size()
        if start >= size:
            return room
        want = max(64 << 10, room * self._avg_line() * 2)
        while True:
            data = os.pread(seg.fd, min(want, size - start), start)
            if not data:
                return room
            if b"\n" in data or start + len(data) >= size:
                break
            want *= 2  # a line longer than the chunk
        view, pos, end = memoryview(data), 0, data.rfind(b"\n") + 1
        while room > 0 and pos < end:
            nl = data.index(b"\n", pos)
            try:
                batch.records.append(self._dec.decode(view[pos:nl]))
            except msgspec.DecodeError:
                batch.rejects.append(bytes(view[pos:nl]))
            pos, room = nl + 1, room - 1
        self._lines += data.count(b"\n", 0, pos)
        self._line_bytes += pos
        if pos == end and seg.sealed and start + len(data) >= size and end < len(data):
            # The tail of a writer that died mid-line: no newline will ever come.
            batch.torn_bytes += len(data) - end
            pos = len(data)
        if pos:
            batch.spans.append((seg, start, start + pos))
            seg.read = start + pos
        return room

    def commit(self, batch: Batch) -> None:
        """Record that the sink acknowledged ``batch``; delete segments it finished."""
        ends: dict[str, tuple[_Segment, int]] = {}
        for seg, _, end in batch.spans:
            if self._segs.get(seg.name) is not seg:
                raise RuntimeError("spool batch committed after release: its lock is gone")
            ends[seg.name] = (seg, end)
        if batch.rejects:
            fd = os.open(self.directory / REJECTED, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, b"".join(line + b"\n" for line in batch.rejects))
            finally:
                os.close(fd)
            self.rejected += len(batch.rejects)
        if batch.torn_bytes:
            self.torn += 1
        for seg, end in ends.values():
            seg.committed = max(seg.committed, end)
            if seg.sealed and seg.committed >= seg.size():
                self._close_segment(seg)
            else:
                _save_offset(seg.path, seg.committed)

    def release(self) -> None:
        """End a drain pass: forget uncommitted reads, unlock every segment but the live one."""
        for seg in list(self._segs.values()):
            seg.read = seg.committed
            if seg is not self._live:
                self._close_segment(seg)
        self._queue = None

    def pending(self) -> int:
        """Records not yet acknowledged that this process would drain (estimated from bytes).

        Counts our segments and any claimable one, not other processes' live segments, so
        summing it over workers counts an orphan once per worker until one claims it.
        """
        total = 0
        for name in _segment_names(self.directory):
            held = self._segs.get(name)
            if held is not None:
                total += max(0, held.size() - held.committed)
                continue
            path = self.directory / name
            if (fd := _open_locked(path)) is not None:
                total += max(0, os.fstat(fd).st_size - _load_offset(path))
                os.close(fd)
        return -(-total // self._avg_line())

    def _avg_line(self) -> int:
        return self._line_bytes // self._lines if self._lines else _DEFAULT_LINE

    def _claim(self, name: str) -> _Segment | None:
        """Lock segment ``name`` if no process holds it; None if one does or it is gone."""
        path = self.directory / name
        if (fd := _open_locked(path)) is None:
            return None
        seg = _Segment(path, fd, _load_offset(path), sealed=True)
        self._segs[name] = seg
        return seg

    def close(self) -> None:
        """Unlock everything. Undrained data stays for the next start (or another process);
        our drained segments are deleted. A later ``append`` opens a new segment."""
        if self._staged:
            with contextlib.suppress(OSError):
                self.write_staged()
        if self._live is not None:
            self._live.sealed = True
        for seg in list(self._segs.values()):
            seg.read = seg.committed
            self._close_segment(seg)
        self._live, self._fd, self._queue = None, -1, None
        _spools.discard(self)

    def _close_segment(self, seg: _Segment) -> None:
        try:
            if seg.sealed and seg.committed >= seg.size():
                # Unlink while still locked: a process that opened the file before the unlink
                # and gets the lock after it sees the name gone (``_lock``) and backs off.
                for p in (seg.path, _offset_path(seg.path), _offset_path(seg.path, _TMP)):
                    p.unlink(missing_ok=True)
        finally:
            os.close(seg.fd)
            del self._segs[seg.name]
            if seg is self._live:
                self._live, self._fd = None, -1

    def _forget_after_fork(self) -> None:
        # A forked child shares our open files and so our flocks. Closing its copies does not
        # unlock them (the parent still has them); the child opens its own segment on append.
        for seg in self._segs.values():
            os.close(seg.fd)
        self._segs.clear()
        self._live, self._fd, self._queue = None, -1, None


def _lock(fd: int, path: Path) -> bool:
    """Take the flock without waiting; False if held elsewhere or ``path`` is no longer ``fd``."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False  # drained and deleted by its last holder; the lock we got is worthless
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _open_locked(path: Path) -> int | None:
    """An fd holding ``path``'s flock, or None if another holds it or it is gone."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    if _lock(fd, path):
        return fd
    os.close(fd)
    return None


def _segment_names(directory: Path, *, clean: bool = False) -> list[str]:
    """Segment file names; with ``clean``, delete offset files whose segment is gone."""
    names = os.listdir(directory)
    segs = [n for n in names if n.startswith(_SEG_PREFIX) and n.endswith(_SEG_SUFFIX)]
    if clean:
        live = set(segs)
        for n in names:
            # Left by a crash between deleting a drained segment and its offset file. Names are
            # never reused, so the offset of a segment that no longer exists is garbage.
            base = n.removesuffix(_TMP).removesuffix(_OFFSET)
            if base != n and base.startswith(_SEG_PREFIX) and base not in live:
                (directory / n).unlink(missing_ok=True)
    return segs


def _offset_path(path: Path, suffix: str = "") -> Path:
    return path.with_name(path.name + _OFFSET + suffix)


def _load_offset(path: Path) -> int:
    try:
        return max(0, int(_offset_path(path).read_bytes()))
    except (FileNotFoundError, ValueError):  # garbage cannot happen (atomic replace) and
        return 0  # re-sending from 0 would be safe anyway: the sink is idempotent


def _save_offset(path: Path, offset: int) -> None:
    # Write-then-rename so a crash leaves the old offset or the new one, never a torn number.
    tmp = _offset_path(path, _TMP)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"%d" % offset)
    finally:
        os.close(fd)
    os.replace(tmp, _offset_path(path))


def _after_fork_in_child() -> None:
    for spool in list(_spools):
        spool._forget_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)
