"""Model groups: every deployment configured under one ``model_name``."""

from __future__ import annotations

from collections.abc import Iterable

from pllm.errors import GatewayError
from pllm.providers.codec import Deployment


class ModelGroup:
    __slots__ = ("deployments", "name")

    def __init__(self, name: str, deployments: list[Deployment]) -> None:
        self.name = name
        self.deployments = deployments


class ModelRegistry:
    """Model names in config order; which deployment serves a request is the router's call."""

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
