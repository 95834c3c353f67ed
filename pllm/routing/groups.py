"""Model groups: every deployment configured under one ``model_name``."""

from __future__ import annotations

from collections.abc import Iterable

from pllm.errors import GatewayError
from pllm.providers.base import Deployment, Endpoint


class ModelGroup:
    """Rotates round-robin over the deployments that serve an endpoint."""

    __slots__ = ("_by_endpoint", "_cursor", "deployments", "name")

    def __init__(self, name: str, deployments: list[Deployment]) -> None:
        self.name = name
        self.deployments = deployments
        self._by_endpoint = {e: [d for d in deployments if e in d.endpoints] for e in Endpoint}
        self._cursor = dict.fromkeys(Endpoint, 0)

    def pick(self, endpoint: Endpoint) -> Deployment:
        candidates = self._by_endpoint[endpoint]
        if not candidates:
            raise GatewayError(
                400,
                f"model {self.name!r} does not support /v1/{endpoint.value}",
                param="model",
                code="unsupported_endpoint",
            )
        i = self._cursor[endpoint]
        self._cursor[endpoint] = (i + 1) % len(candidates)
        return candidates[i]


class ModelRegistry:
    def __init__(self, deployments: Iterable[Deployment]) -> None:
        grouped: dict[str, list[Deployment]] = {}
        for d in deployments:
            grouped.setdefault(d.model_name, []).append(d)
        self.groups = {name: ModelGroup(name, deps) for name, deps in grouped.items()}

    def group(self, model: str) -> ModelGroup:
        group = self.groups.get(model)
        if group is None:
            raise GatewayError(
                404,
                f"The model `{model}` does not exist or you do not have access to it.",
                param="model",
                code="model_not_found",
            )
        return group
