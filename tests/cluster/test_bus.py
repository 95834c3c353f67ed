"""Health events and reload announcements between two nodes on a real Redis (a fake engine
stands in for the router's take_events/hold)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pllm.cluster.node import Node
from pllm.config.schema import RedisSettings
from tests.redis_server import RedisServer, redis_server  # noqa: F401


class FakeEngine:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, float]] = []
        self.held: list[tuple[str, str, float]] = []
        self.deployment_limiter: object = None

    def take_events(self, consumer: str = "") -> list[tuple[str, str, float]]:
        out, self.events = self.events, []
        return out

    def hold(self, kind: str, deployment_id: str, until: float) -> None:
        self.held.append((kind, deployment_id, until))


async def _exchange(url: str, tmp: Path) -> tuple[list[object], list[object], int, int, int]:
    files = [tmp / "a.yaml", tmp / "b.yaml"]
    for f in files:
        f.write_text("model_list: []\n")
    reloads = [0, 0]

    def counter(i: int) -> object:
        return lambda: reloads.__setitem__(i, reloads[i] + 1)

    nodes = [
        Node(RedisSettings(url=url), str(f), reload=counter(i), instance=f"n{i}")  # type: ignore[arg-type]
        for i, f in enumerate(files)
    ]
    engines = [FakeEngine(), FakeEngine()]
    for node, engine in zip(nodes, engines, strict=True):
        node.attach(engine)
        await node.start()
    await asyncio.sleep(0.3)
    until = time.time() + 30
    engines[0].events.append(("ejected", "g/0", until))
    await asyncio.sleep(0.4)
    # B's file is unchanged: an announcement changes nothing there.
    nodes[0].reloaded(engines[0], str(files[0]))
    await asyncio.sleep(0.4)
    unchanged = reloads[1]
    files[1].write_text("model_list: []\n# edited\n")
    nodes[0].reloaded(engines[0], str(files[0]))
    await asyncio.sleep(0.4)
    seen = max(n.presence.seen for n in nodes)
    for node in nodes:
        await node.stop()
    limiter_set = int(engines[0].deployment_limiter is nodes[0].limiter)
    return (
        list(engines[1].held),
        list(engines[0].held),
        unchanged,
        reloads[1] + 10 * limiter_set,
        seen,
    )


def test_events_and_reloads_reach_the_other_instance(
    redis_server: RedisServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    held_b, held_a, unchanged, reloads, seen = asyncio.run(_exchange(redis_server.url, tmp_path))
    assert [(k, d) for k, d, _ in held_b] == [("ejected", "g/0")]  # type: ignore[misc]
    assert held_a == []  # its own event is not applied back
    assert unchanged == 0
    assert reloads == 11  # reloaded once, and the engine limits deployments cluster-wide
    assert seen == 2
