"""The cluster limiter against a real Redis: leases across instances, refusals, the local
share while Redis is down."""

from __future__ import annotations

import asyncio
import itertools

import pytest

import pllm_accel
from pllm.cluster.limiter import ClusterLimiter
from pllm.cluster.link import Link
from pllm.config.schema import RedisSettings
from pllm.lease import LeaseShort
from tests.redis_server import RedisServer, redis_server  # noqa: F401

_names = itertools.count()


def entity() -> str:
    return f"key:t{next(_names)}"


async def take(
    lim: ClusterLimiter, entities: list[tuple[str, int | None, int | None, int | None]], tokens: int
) -> int | pllm_accel.Refusal:
    """What the gate does: a short lease waits for its refill, then the answer is final."""
    got = lim.acquire(entities, tokens)
    if isinstance(got, LeaseShort):
        await lim.refill_once()
        got = lim.acquire(entities, tokens)
        if isinstance(got, LeaseShort):
            return got.refusal
    return got


def limiters(url: str, n: int) -> list[ClusterLimiter]:
    return [ClusterLimiter(Link(RedisSettings(url=url), f"i{i}"), lambda: n) for i in range(n)]


async def _round_robin(url: str, rpm: int, requests: int, n: int) -> int:
    group = limiters(url, n)
    name = entity()
    admitted = 0
    for i in range(requests):
        lim = group[i % n]
        got = await take(lim, [(name, rpm, None, None)], 0)
        if isinstance(got, int):
            admitted += 1
            assert lim.release(got)
        else:
            assert got.kind == "rpm" and got.entity == name
        # What the background task does between two requests.
        await lim.refill_once()
    for lim in group:
        await lim.link.close()
    return admitted


def test_rpm_30_across_three_instances_admits_at_most_32_of_90(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    admitted = asyncio.run(_round_robin(redis_server.url, 30, 90, 3))
    assert 28 <= admitted <= 32


def test_a_large_limit_is_exact_across_ten_instances(redis_server: RedisServer) -> None:  # noqa: F811
    admitted = asyncio.run(_round_robin(redis_server.url, 500, 800, 10))
    assert 480 <= admitted <= 502


async def _tpm(url: str) -> tuple[bool, bool]:
    (lim,) = limiters(url, 1)
    name = entity()
    first = await take(lim, [(name, None, 1000, None)], 600)
    assert isinstance(first, int)
    await lim.refill_once()
    # 600 estimated, 100 used: 500 come back to the lease.
    lim.release(first, 100)
    second = await take(lim, [(name, None, 1000, None)], 600)
    await lim.refill_once()
    # Credit left (150 of a lease): admitted, though its estimate is larger (tpm's bound).
    third = await take(lim, [(name, None, 1000, None)], 600)
    await lim.refill_once()
    fourth = await take(lim, [(name, None, 1000, None)], 600)
    await lim.link.close()
    return isinstance(second, int) and isinstance(third, int), isinstance(fourth, int)


def test_tpm_gives_back_what_a_request_did_not_use(redis_server: RedisServer) -> None:  # noqa: F811
    admitted, fourth = asyncio.run(_tpm(redis_server.url))
    assert admitted
    assert not fourth  # the window holds 1000 and the lease is in debt


async def _down(port: int) -> tuple[int, int, bool]:
    link = Link(RedisSettings(host="127.0.0.1", port=port), "lonely")
    lim = ClusterLimiter(link, lambda: 3)
    name = entity()
    lim.acquire([(name, 30, None, None)], 0)
    try:
        await lim.refill_once()
    except Exception as e:
        link.failed(e)
    assert link.up is False and link.status() == "degraded"
    results = [lim.acquire([(name, 30, None, None)], 0) for _ in range(20)]
    admitted = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if isinstance(r, pllm_accel.Refusal)]
    await link.close()
    return len(admitted), len(refused), all(r.kind == "rpm" for r in refused)


def test_with_redis_down_each_instance_enforces_its_share() -> None:
    from tests.e2e.gateway import free_port

    admitted, refused, all_rpm = asyncio.run(_down(free_port()))
    assert admitted == 10  # 30 over the 3 instances last seen
    assert refused == 10 and all_rpm


async def _parallel(url: str) -> tuple[object, object, object]:
    (lim,) = limiters(url, 1)
    name = entity()
    first = lim.acquire([(name, None, None, 1)], 0)
    second = lim.acquire([(name, None, None, 1)], 0)
    assert isinstance(first, int)
    lim.release(first)
    third = lim.acquire([(name, None, None, 1)], 0)
    await lim.link.close()
    return first, second, third


def test_parallel_limits_are_per_instance(redis_server: RedisServer) -> None:  # noqa: F811
    _, second, third = asyncio.run(_parallel(redis_server.url))
    assert isinstance(second, pllm_accel.Refusal) and second.kind == "parallel"
    assert isinstance(third, int)


class Clock:
    def __init__(self, at: float) -> None:
        self.at = at

    def __call__(self) -> float:
        return self.at


async def _across_turns(url: str, rpm: int, n: int, windows: int) -> dict[int, int]:
    # Starts at a window's start so that every instance meets the entity with room left.
    clock = Clock(60.0 * 29_000_000)
    group = [
        ClusterLimiter(Link(RedisSettings(url=url), f"c{i}"), lambda: n, clock) for i in range(n)
    ]
    name = entity()
    admitted: dict[int, int] = {}
    step = 0.25
    for _ in range(int(windows * 60 / step)):
        for lim in group:
            for _ in range(2):
                got = lim.acquire([(name, rpm, None, None)], 0)
                if isinstance(got, int):
                    window = int(clock.at // 60)
                    admitted[window] = admitted.get(window, 0) + 1
                    lim.release(got)
            await lim.refill_once()
        clock.at += step
    for lim in group:
        await lim.link.close()
    return admitted


@pytest.mark.parametrize("rpm", [30, 240])
def test_no_window_admits_more_than_the_limit_plus_2_across_its_turn(
    redis_server: RedisServer,  # noqa: F811
    rpm: int,
) -> None:
    # At rpm 240 and 3 instances the batches are 10: credit carried over a turn would show
    # (up to 30 over). 24 requests offered a second keep every window saturated.
    admitted = asyncio.run(_across_turns(redis_server.url, rpm, 3, 3))
    assert len(admitted) == 3, admitted
    first, *rest = sorted(admitted)
    assert rpm - 2 <= admitted[first] <= rpm + 2, admitted
    for window in rest:
        # The sliding window lets the next minute in as the last one slides out.
        assert rpm * 0.8 <= admitted[window] <= rpm + 2, admitted


async def _first_meeting(url: str) -> tuple[int, object, object, object]:
    a, b = limiters(url, 2)
    name = entity()
    spent = 0
    for _ in range(40):
        if isinstance(await take(a, [(name, 10, None, None)], 0), int):
            spent += 1
    # B meets the key once its minute is full: it waits for its first lease and is refused,
    # not admitted on credit; Redis having answered "nothing left", the next is refused at once.
    first = b.acquire([(name, 10, None, None)], 0)
    await b.refill_once()
    retried = b.acquire([(name, 10, None, None)], 0)
    again = b.acquire([(name, 10, None, None)], 0)
    for lim in (a, b):
        await lim.link.close()
    return spent, first, retried, again


def test_no_instance_admits_past_a_full_minute_on_meeting_a_key(
    redis_server: RedisServer,  # noqa: F811
) -> None:
    spent, first, retried, again = asyncio.run(_first_meeting(redis_server.url))
    assert spent == 10
    assert isinstance(first, LeaseShort)
    assert isinstance(retried, pllm_accel.Refusal) and isinstance(again, pllm_accel.Refusal)
