"""acquire + release through the Python binding, local limiter against shared (one file all
worker processes map): what ``pllm serve --workers N`` pays per request for exact limits.

    .venv/bin/python benches/limiter_shared.py [--calls 200000] [--contenders 0]

``--contenders N`` runs N more processes hammering the same file meanwhile, to show the
cross-process lock under contention (on a machine with cores to spare for them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from multiprocessing.synchronize import Event

from pllm_accel import Limiter

BIG = 2**31
CLAIMS = [
    ("key:sk-live-0123456789", BIG, BIG, 1_000),
    ("user:alice@example.com", BIG, BIG, 1_000),
    ("team:research", BIG, BIG, 1_000),
]


def per_call_ns(limiter: Limiter, calls: int) -> float:
    """Best of three runs of `calls` acquire + release pairs, in ns per pair."""
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter_ns()
        for _ in range(calls):
            ticket = limiter.acquire(CLAIMS, 500)
            if isinstance(ticket, int):
                limiter.release(ticket, 300)
        best = min(best, (time.perf_counter_ns() - start) / calls)
    return best


def _contend(path: str, worker: int, stop: Event) -> None:
    limiter = Limiter(shared=path, worker=worker)
    while not stop.is_set():
        ticket = limiter.acquire(CLAIMS, 500)
        if isinstance(ticket, int):
            limiter.release(ticket, 300)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--contenders", type=int, default=0)
    args = parser.parse_args()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        path = os.path.join(tmp, "limits")
        shared = Limiter(shared=path, worker=0)
        ctx = multiprocessing.get_context("spawn")
        stop = ctx.Event()
        others = [
            ctx.Process(target=_contend, args=(path, i + 1, stop)) for i in range(args.contenders)
        ]
        for p in others:
            p.start()
        try:
            local_ns = per_call_ns(Limiter(), args.calls)
            shared_ns = per_call_ns(shared, args.calls)
        finally:
            stop.set()
            for p in others:
                p.join()
    print(f"acquire+release, 3 entities, {args.contenders} other processes on the file")
    print(f"  local : {local_ns:8.0f} ns")
    print(f"  shared: {shared_ns:8.0f} ns  (+{shared_ns - local_ns:.0f} ns)")


if __name__ == "__main__":
    main()
