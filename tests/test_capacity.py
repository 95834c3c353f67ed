"""Worker capacity from the file-descriptor limit, and raising the soft limit at start."""

from __future__ import annotations

import resource
import subprocess
import sys

import pytest

from pllm.capacity import IDLE_POOL, RESERVED, Capacity


@pytest.mark.parametrize("limit", [1024, 4096, 20000, 1 << 20])
def test_requests_and_connections_fit_the_descriptor_limit(limit: int) -> None:
    cap = Capacity.of(limit)
    # Each request holds a client and an upstream socket; every other client connection one.
    used = 2 * cap.requests + (cap.connections - cap.requests) + cap.set_aside
    assert used <= limit
    assert cap.set_aside <= RESERVED + IDLE_POOL
    assert cap.connections > cap.requests >= 1  # room to answer 503 beyond the requests


def test_this_host_holds_nine_thousand_streams_per_worker() -> None:
    assert Capacity.of(20000).requests >= 9000


def test_a_tiny_limit_still_admits_one_request() -> None:
    assert Capacity.of(8).requests >= 1


def test_serve_raises_the_soft_limit_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard < 64:
        pytest.skip("needs a finite hard descriptor limit")
    code = "from pllm.capacity import raise_fd_limit; print(raise_fd_limit())"

    def lower() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))

    out = subprocess.run(
        [sys.executable, "-c", code], preexec_fn=lower, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) == hard
