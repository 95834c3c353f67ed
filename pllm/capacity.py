"""How many requests one worker process can hold at once, from its file-descriptor limit.

A proxied request holds two sockets (the client's and the upstream's) for as long as it runs,
so an idle slow stream costs nothing but those two descriptors, and the per-process
``RLIMIT_NOFILE`` caps the streams a worker can hold, not the CPU. ``pllm serve`` raises the
soft limit to the hard one at start (children inherit it), then sizes the defaults from it:

- ``requests``: model calls in flight per worker (the default ``router_settings.max_in_flight``):
  beyond it a request is answered 503 at once, never left to fail on a descriptor it cannot get;
- ``connections``: client connections per worker (the default ``server.backpressure``, Granian's
  cap): the requests, plus room for the connections answered 503 and for other routes.

Descriptors set aside: the upstream client's idle pool (it keeps up to ``IDLE_POOL`` connections
per host), and the process's own files, pipes and database connections (``RESERVED``); both
shrink with a small limit.
"""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass

RESERVED = 256
IDLE_POOL = 1024
# Client connections beyond the requests limit, so that shedding answers instead of hanging.
SHED_ROOM = 256


@dataclass(frozen=True, slots=True)
class Capacity:
    fd_limit: int
    requests: int
    connections: int
    # Descriptors left for everything else (the idle pool, files, pipes, the database).
    set_aside: int

    @classmethod
    def of(cls, fd_limit: int) -> Capacity:
        # Small limits (a default soft limit of 1,024) scale the set-asides down with them.
        set_aside = min(RESERVED, fd_limit // 4) + min(IDLE_POOL, fd_limit // 8)
        usable = max(2, fd_limit - set_aside)
        requests = max(1, usable // 2 - min(SHED_ROOM, usable // 8))
        return cls(fd_limit, requests, max(2, usable - requests), set_aside)


def fd_limit() -> int:
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 20


def raise_fd_limit() -> int:
    """Raises this process's soft descriptor limit to its hard limit; returns the new one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit still has the kernel's cap (fs.nr_open): ask for a large one.
    target = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        # On failure keep what we have: the capacity follows it.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return fd_limit()


def worker_capacity() -> Capacity:
    return Capacity.of(fd_limit())
