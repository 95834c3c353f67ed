"""Process helpers for the load benchmark: pinned spawning, clean-up, /proc accounting.

Every target is started in its own session so that one `killpg` reaches the whole tree
(Granian's workers, LiteLLM's uvicorn), whatever happens to the harness.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    """A port that was free a moment ago (the race is harmless on a quiet loopback)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    """A spawned process group plus where its output went."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    started_at: float

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log_tail(self, lines: int = 20) -> str:
        # Only the end: a gateway's access log under load runs to tens of MB.
        try:
            with self.log.open("rb") as f:
                f.seek(max(0, f.seek(0, os.SEEK_END) - 64 * 1024))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class ProcGroup:
    """Owns every process the harness starts; `close()` ends them all (idempotent)."""

    procs: list[Proc] = field(default_factory=list)

    def spawn(
        self,
        name: str,
        argv: Sequence[str],
        *,
        cpu: int,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Proc:
        started = time.perf_counter()
        with log.open("wb") as out:
            popen = subprocess.Popen(
                ["taskset", "-c", str(cpu), *argv],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=cwd,
                # Own session: Ctrl-C at the terminal does not hit it directly, and killpg
                # reaches every descendant.
                start_new_session=True,
            )
        proc = Proc(name, popen, log, started)
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc, grace: float = 5.0) -> None:
        if proc in self.procs:
            self.procs.remove(proc)
        _kill_group(proc.popen, grace)

    def close(self) -> None:
        while self.procs:
            _kill_group(self.procs.pop().popen, 5.0)


def _kill_group(popen: subprocess.Popen[bytes], grace: float) -> None:
    # The group id equals the leader's pid (start_new_session); signal the group even if
    # the leader already exited, because its children may still be alive.
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, sig)
        try:
            popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            continue
        # Leader gone; make sure no straggler in its group survives.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        return


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces; everything after the last ')' is fixed.
    return raw[raw.rindex(")") + 2 :].split()


def tree_pids(root: int) -> list[int]:
    """`root` and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(root: int) -> float:
    """utime+stime of the tree, plus cutime+cstime so children that already exited count."""
    ticks = 0
    for pid in tree_pids(root):
        fields = _stat_fields(pid)
        if fields is not None:
            # After the ')' split: index 11..14 are utime, stime, cutime, cstime.
            ticks += sum(int(x) for x in fields[11:15])
    return ticks / _CLK_TCK


def tree_rss_bytes(root: int) -> int:
    """Resident memory summed over the tree (pages shared between workers count twice)."""
    total = 0
    for pid in tree_pids(root):
        try:
            resident = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        total += resident * _PAGE
    return total


def tree_cpus(root: int) -> set[int]:
    """The union of the CPUs the tree may run on: a check that the pinning held."""
    cpus: set[int] = set()
    for pid in tree_pids(root):
        with contextlib.suppress(OSError):
            cpus |= os.sched_getaffinity(pid)
    return cpus


class RssSampler:
    """Samples the tree's RSS in a thread; `peak` is the largest sample seen."""

    def __init__(self, root: int, interval: float = 0.1) -> None:
        self._root = root
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.peak = 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, tree_rss_bytes(self._root))
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def post_status(port: int, path: str, body: bytes, headers: dict[str, str]) -> int:
    """One POST over a fresh connection; returns the HTTP status, or 0 if it failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except OSError:
        return 0
    finally:
        conn.close()


def wait_ready(
    proc: Proc, port: int, path: str, body: bytes, headers: dict[str, str], timeout: float
) -> float:
    """Poll every 10 ms until a real request answers 200; seconds since spawn.

    Raises RuntimeError (with the log tail) if the process dies or the time runs out.
    """
    deadline = proc.started_at + timeout
    last = 0
    while time.perf_counter() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with {proc.popen.returncode}:\n{proc.log_tail()}"
            )
        last = post_status(port, path, body, headers)
        if last == 200:
            return time.perf_counter() - proc.started_at
        time.sleep(0.01)
    raise RuntimeError(
        f"{proc.name} not ready after {timeout:.0f} s (last status {last}):\n{proc.log_tail()}"
    )
