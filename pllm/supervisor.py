"""``pllm serve --workers N``: a supervisor process and N worker processes.

Each worker is a whole one-process gateway (``pllm serve`` with one worker: the Granian
embedded server, this process's event loop), started as a fresh interpreter; all of them bind
the same port with ``SO_REUSEPORT`` and the kernel spreads connections over them. Worker 0
also serves the admin API. The supervisor serves no request itself; it

- passes ``SIGTERM``/``SIGINT`` to every worker, each of which drains as a single process
  does (``/ready`` 503 at once, ``drain_delay``, ``drain_timeout``, spend flushed); a second
  signal kills them and exits at once;
- passes ``SIGHUP`` (and, with ``--watch``, a change to the config file) to every worker,
  each of which reloads in place (:mod:`pllm.reload`);
- replaces a worker that dies (after a pause that grows while it keeps dying);
- serves ``/metrics`` on the metrics port: the sum of what every worker last wrote to the
  shared directory (each writes its snapshot once a second), so a scrape sees all workers.

Workers end when the supervisor does, however it ends: each asks the kernel for ``SIGTERM``
when its parent dies (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the supervisor does not leave
workers holding the port.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

from pllm.observability.metrics import read_snapshots, render_merged
from pllm.revision import revision_of

log = logging.getLogger("pllm.supervisor")

_PR_SET_PDEATHSIG = 1
# A worker that dies within this long of its start counts as crash-looping.
_STABLE_AFTER = 10.0
_MAX_RESPAWN_PAUSE = 30.0
# The shared limiter counts each worker's parallel requests in slots of its own.
MAX_WORKERS = 64
_SHM = "/dev/shm"  # noqa: S108 - mkdtemp makes a private directory in it


def bind_to_parent() -> None:
    """In a worker: get ``SIGTERM`` when the supervisor dies, and exit now if it already has
    (between the fork and this call)."""
    parent = os.environ.get("PLLM_SUPERVISOR_PID")
    if not parent:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != int(parent):
        os._exit(0)


def shared_dir() -> str | None:
    """The directory the workers of one supervisor share (metrics snapshots, limits)."""
    return os.environ.get("PLLM_SHARED_DIR")


def worker_index() -> int:
    return int(os.environ.get("PLLM_WORKER_INDEX", "0"))


@dataclass(slots=True)
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    started: float
    failures: int = 0  # consecutive deaths soon after a start
    respawn_at: float | None = None


@dataclass(slots=True)
class Supervisor:
    """Runs ``workers`` copies of ``command(index)`` and looks after them until a signal."""

    command: Callable[[int], Sequence[str]]
    workers: int
    metrics: tuple[str, int] | None = None
    watch: str | None = None
    directory: str = ""
    _children: list[_Worker] = field(default_factory=list)
    _stopping: bool = False
    _killed: bool = False

    def run(self) -> int:
        # mkdtemp: a fresh directory only this user can enter; in memory where Linux has it.
        base = _SHM if os.path.isdir(_SHM) else None
        self.directory = tempfile.mkdtemp(prefix="pllm-", dir=base)
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hangup)
        metrics = self._serve_metrics() if self.metrics is not None else None
        try:
            self._children = [self._spawn(i) for i in range(self.workers)]
            if self._stopping:
                self._send(signal.SIGTERM)  # it came while the workers were being started
            return self._watch_children()
        finally:
            if metrics is not None:
                metrics.shutdown()
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- workers ---------------------------------------------------------------------------

    def _spawn(self, index: int) -> _Worker:
        env = {
            **os.environ,
            "PLLM_SUPERVISOR_PID": str(os.getpid()),
            "PLLM_SHARED_DIR": self.directory,
            "PLLM_WORKER_INDEX": str(index),
            "PLLM_WORKERS": str(self.workers),
        }
        process = subprocess.Popen(list(self.command(index)), env=env)  # noqa: S603 - our own
        return _Worker(index, process, time.monotonic())

    def _watch_children(self) -> int:
        seen = revision_of(self.watch) if self.watch else ""
        next_look = time.monotonic() + 1.0
        while True:
            time.sleep(0.1)
            if self._stopping:
                if all(w.process.poll() is not None for w in self._children):
                    codes = [w.process.returncode for w in self._children]
                    return 0 if all(c == 0 for c in codes) and not self._killed else 1
                continue
            now = time.monotonic()
            for w in self._children:
                self._look_after(w, now)
            if self.watch and now >= next_look:
                next_look = now + 1.0
                current = revision_of(self.watch)
                if current and current != seen:
                    seen = current
                    log.info("config file changed: reloading every worker")
                    self._send(signal.SIGHUP)

    def _look_after(self, w: _Worker, now: float) -> None:
        if w.respawn_at is not None:
            if now >= w.respawn_at:
                self._forget(w.index)
                w.process = self._spawn(w.index).process
                w.started, w.respawn_at = now, None
            return
        code = w.process.poll()
        if code is None:
            return
        w.failures = w.failures + 1 if now - w.started < _STABLE_AFTER else 1
        pause = min(_MAX_RESPAWN_PAUSE, 0.5 * 2 ** (w.failures - 1))
        log.error(
            f"worker {w.index} (pid {w.process.pid}) exited with {_describe(code)}: "
            f"starting another in {pause:g} s",
            extra={"fields": {"worker": w.index, "exit": code}},
        )
        w.respawn_at = now + pause

    def _forget(self, index: int) -> None:
        """Gives back the parallel-request slots a dead worker held in the shared limiter."""
        limits = Path(self.directory) / "limits"
        if limits.exists():
            import pllm_accel

            with contextlib.suppress(OSError, ValueError):
                freed = pllm_accel.Limiter(shared=str(limits)).forget_worker(index)
                if freed:
                    log.info(f"worker {index}: {freed} parallel slots it held given back")

    def _send(self, signum: int) -> None:
        for w in self._children:
            if w.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    w.process.send_signal(signum)

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        if self._stopping:
            log.warning("second signal: stopping the workers now")
            self._killed = True
            self._send(signal.SIGKILL)
            return
        self._stopping = True
        log.info(f"{signal.Signals(signum).name}: draining every worker")
        self._send(signal.SIGTERM)

    def _on_hangup(self, signum: int, frame: FrameType | None) -> None:
        log.info("SIGHUP: reloading the config in every worker")
        self._send(signal.SIGHUP)

    # --- metrics ---------------------------------------------------------------------------

    def _serve_metrics(self) -> ThreadingHTTPServer | None:
        assert self.metrics is not None
        supervisor = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/metrics":
                    self._reply(404, b'{"error":{"message":"Not found","type":"not_found"}}',
                                "application/json")  # fmt: skip
                    return
                live = sum(w.process.poll() is None for w in supervisor._children)
                body = render_merged(read_snapshots(supervisor.directory), workers=live)
                self._reply(200, body, "text/plain; version=0.0.4; charset=utf-8")

            def _reply(self, status: int, body: bytes, kind: str) -> None:
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass  # scrapes are not worth a log line each

        host, port = self.metrics
        try:
            server = ThreadingHTTPServer((host, port), Handler)
        except OSError as e:
            log.error(f"metrics listener on port {port} failed: {e}{held_by(port)}")
            return None
        threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
        return server


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"status {code}"


def port_in_use(host: str, port: int) -> str | None:
    """Why ``pllm serve`` cannot listen on ``port`` (who holds it, when it can tell), or
    None when it can. Binds without ``SO_REUSEPORT``, so a listener left by an earlier
    gateway is found even though pllm's own workers share their port."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as e:
            return f"port {port} is not available ({e.strerror or e}){held_by(port)}"
    return None


def held_by(port: int) -> str:
    """'': held by pid N (command)' for the process listening on ``port``, or ''."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                cols = line.split()
                local, state, inode = cols[1], cols[3], cols[9]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{inode}]")
    if not inodes:
        return ""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in inodes:
                    cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
                    return f": held by pid {proc.name} ({cmd[:120]})"
    return ""


def exit_with(message: str) -> int:
    print(f"pllm: {message}", file=sys.stderr)
    return 2
