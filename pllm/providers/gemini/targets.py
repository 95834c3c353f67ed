"""Each request's native target where it is not one per endpoint: Google's streams have URLs
of their own (``:streamGenerateContent?alt=sse``, ``:streamRawPredict``), and Vertex AI's
bearer token changes as it is refreshed.

The native targets (URL and headers parsed once) are built at startup, and again only when
the token changes (about once an hour), so a request costs a dict lookup and, with a token,
one awaited check of its freshness.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import pllm_accel
from pllm.providers.codec import Endpoint, HttpTarget, Outgoing

Token = Callable[[], Awaitable[str]]


class RequestTargets:
    """The ``resolve`` hook of an :class:`HttpTarget`: the target of an endpoint, streamed or
    not, with ``authorization: Bearer <token>`` when ``token`` is given."""

    __slots__ = ("_built", "_headers", "_stream_urls", "_targets", "_token", "_urls")

    def __init__(
        self,
        urls: Mapping[Endpoint, str],
        stream_urls: Mapping[Endpoint, str],
        headers: list[tuple[str, str]],
        token: Token | None = None,
    ) -> None:
        self._urls = urls
        self._stream_urls = stream_urls
        self._headers = headers
        self._token = token
        self._built: str | None = None
        self._targets: dict[tuple[Endpoint, bool], pllm_accel.Target] = {}
        if token is None:
            self._targets = self._build(headers)

    def _build(
        self, headers: list[tuple[str, str]]
    ) -> dict[tuple[Endpoint, bool], pllm_accel.Target]:
        out = {(e, False): pllm_accel.Target("POST", u, headers) for e, u in self._urls.items()}
        for e, u in self._stream_urls.items():
            out[e, True] = pllm_accel.Target("POST", u, headers)
        return out

    def http_target(self) -> HttpTarget:
        return HttpTarget(urls=self._urls, headers=self._headers, resolve=self)

    async def __call__(self, out: Outgoing) -> pllm_accel.Target:
        if self._token is not None:
            token = await self._token()
            if token != self._built:
                self._targets = self._build([*self._headers, ("authorization", f"Bearer {token}")])
                self._built = token
        key = (out.endpoint, out.stream)
        target = self._targets.get(key)
        # An endpoint without a stream URL of its own streams from its plain one.
        return target if target is not None else self._targets[out.endpoint, False]
