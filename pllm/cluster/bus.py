"""What instances tell each other on one pub/sub channel: router health and reloads.

Health: the routing engine's local ejections and 429 cool-downs (``take_events``) are
published as they happen (read every ~100 ms) and every other instance applies them with
``hold``, so a deployment one instance found failing gets at most the attempts others send
in the next 100 ms plus a round trip. An instance skips its own messages.

Reloads: a successful reload is announced as ``{"kind": "reload"}``; every other instance
re-reads its own config file (the announcement carries no config) unless that file has not
changed since it last loaded it, which also stops an announcement from echoing back and forth.

Messages are small JSON objects (~100 bytes). Events raised while Redis is down are dropped:
a health event is only worth its ``until``, and the next one comes with the next failure.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import msgspec

from pllm.cluster.link import PREFIX, Link

log = logging.getLogger("pllm.cluster")

CHANNEL = PREFIX + "events"
HEALTH_KINDS = frozenset({"ejected", "cooling"})


class Message(msgspec.Struct, omit_defaults=True):
    sender: str
    kind: str
    deployment: str = ""
    until: float = 0.0


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(Message).decode


class Bus:
    def __init__(self, link: Link, on_reload: Callable[[], None]) -> None:
        self.link = link
        self.on_reload = on_reload
        # The routing engine now serving (replaced on every reload); duck-typed: it has
        # take_events() and hold(kind, deployment_id, until) (pllm.routing.engine).
        self.engine: Any = None
        self._outbox: list[Message] = []

    def announce_reload(self) -> None:
        self._outbox.append(Message(self.link.instance, "reload"))

    def _collect(self) -> list[Message]:
        take = getattr(self.engine, "take_events", None)
        out = self._outbox
        self._outbox = []
        if take is not None:
            me = self.link.instance
            out += [Message(me, kind, dep, until) for kind, dep, until in take("instances")]
        return out

    async def publish(self) -> None:
        messages = self._collect()
        if not messages:
            return
        pipe = self.link.client.pipeline(transaction=False)
        for m in messages:
            pipe.publish(CHANNEL, _encode(m))
        await pipe.execute()

    def apply(self, data: bytes) -> None:
        try:
            m = _decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed cluster message")
            return
        if m.sender == self.link.instance:
            return
        if m.kind == "reload":
            self.on_reload()
        elif m.kind in HEALTH_KINDS:
            hold = getattr(self.engine, "hold", None)
            if hold is not None:
                hold(m.kind, m.deployment, m.until)

    async def drain(self, pubsub: Any) -> None:
        """Applies every message received since the last call, without waiting for more."""
        while True:
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.0)
            if message is None:
                return
            if message.get("type") == "message":
                self.apply(message["data"])
