"""Model groups: every deployment configured under one ``model_name``, and which group a
requested model name is served by.

A name is served by the group of that exact ``model_name``; otherwise by the most specific
wildcard group whose pattern matches it (``openai/*`` before ``*``). A bare name (``gpt-4.1``)
also matches a provider's pattern (``openai/*``) when its provider is known from its family
(``gpt-``, ``claude-``, ...), as LiteLLM does. A wildcard group serves each name with the
name passed upstream: its deployments are templates (:class:`PatternDeployment`) and the name
gets deployments of its own, built once and kept in a bounded cache, so the request path stays
one dict lookup for every name it has seen. A group whose deployments are all unconfigured
(credentials not set) answers 503 ``deployment_unconfigured``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from pllm.config.bare import family_of
from pllm.errors import GatewayError
from pllm.pricing.table import Price, PriceTable
from pllm.providers.codec import Deployment
from pllm.providers.deployments import Unconfigured, unconfigured_error
from pllm.providers.registry import PatternDeployment

# Names a wildcard passes upstream (into a URL path for some providers): path segments of
# letters, digits and . _ : @ + = -, none of them empty or starting with a dot.
_SERVABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@+=-]*(?:/[A-Za-z0-9][A-Za-z0-9._:@+=-]*)*")
_MAX_NAME = 256
# Names served by wildcard groups whose deployments are kept built.
RESOLVED_CACHE_SIZE = 1024


class ModelGroup:
    __slots__ = ("deployments", "name")

    def __init__(self, name: str, deployments: list[Deployment]) -> None:
        self.name = name
        self.deployments = deployments


@dataclass(frozen=True, slots=True)
class Resolved:
    """Which group serves a requested name, and, for a name a wildcard group serves, that
    group's deployments (by position) sending it upstream, with their prices."""

    group: str
    deployments: tuple[Deployment, ...] | None = None
    prices: tuple[Price, ...] = ()


@dataclass(frozen=True, slots=True)
class _Pattern:
    name: str
    regex: re.Pattern[str]
    # Most specific first: more literal characters, then fewer stars, then config order.
    rank: tuple[int, int, int]


def not_found(model: str) -> GatewayError:
    return GatewayError(
        404,
        f"The model `{model}` does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


class ModelRegistry:
    """Model names in config order; which deployment serves a request is the router's call."""

    def __init__(self, deployments: Iterable[Deployment], prices: PriceTable | None = None) -> None:
        grouped: dict[str, list[Deployment]] = {}
        unconfigured: dict[str, None] = {}
        for d in deployments:
            if isinstance(d.target, Unconfigured):
                unconfigured.setdefault(d.model_name)
            else:
                grouped.setdefault(d.model_name, []).append(d)
        self.groups = {name: ModelGroup(name, deps) for name, deps in grouped.items()}
        # Groups configured with no deployment that can be called.
        self.unconfigured = frozenset(n for n in unconfigured if n not in self.groups)
        names = [*self.groups, *(n for n in unconfigured if n not in self.groups)]
        self.patterns = sorted(
            (
                _Pattern(name, _compile(name), (-len(name.replace("*", "")), name.count("*"), i))
                for i, name in enumerate(names)
                if "*" in name
            ),
            key=lambda p: p.rank,
        )
        self._prices = prices
        # Every name resolved so far: the explicit ones, then names wildcards serve (bounded);
        # the routing engine reads it directly, a dict lookup without a call.
        self.routes: dict[str, Resolved] = {
            name: Resolved(name) for name in self.groups if "*" not in name
        }
        self._served: dict[str, None] = {}

    def resolve(self, model: str) -> Resolved:
        """The group serving ``model``; raises the 404 or 503 the client gets."""
        found = self.routes.get(model)
        if found is not None:
            return found
        return self._resolve(model)

    # The request path's step 1 (pllm.pipeline.path): the model must be served.
    group = resolve

    def explicit(self) -> list[str]:
        """The names of the groups configured by name (not by pattern)."""
        return [name for name in self.groups if "*" not in name]

    def wildcards(self) -> list[str]:
        """The patterns of the wildcard groups that serve, most specific first."""
        return [p.name for p in self.patterns if p.name in self.groups]

    def find(self, model: str) -> Resolved | None:
        """:meth:`resolve` without the error."""
        try:
            return self.resolve(model)
        except GatewayError:
            return None

    def _resolve(self, model: str) -> Resolved:
        if model in self.unconfigured:
            raise unconfigured_error(model)
        if not self.patterns or len(model) > _MAX_NAME or not _SERVABLE.fullmatch(model):
            raise not_found(model)
        matched = self._match(model)
        if matched is None:
            raise not_found(model)
        pattern, captured = matched
        if pattern.name in self.unconfigured:
            raise unconfigured_error(model)
        resolved = self._serve(pattern.name, captured)
        if len(self._served) >= RESOLVED_CACHE_SIZE:
            oldest = next(iter(self._served))
            del self._served[oldest], self.routes[oldest]
        self._served[model] = None
        self.routes[model] = resolved
        return resolved

    def _match(self, model: str) -> tuple[_Pattern, tuple[str, ...]] | None:
        """The most specific pattern matching ``model``; then, for a bare name of a known
        family, matching ``provider/model``; the catch-all (``*``) last. So ``claude-*``
        serves ``claude-3-haiku`` before ``anthropic/*`` does, and ``openai/*`` serves
        ``gpt-4.1`` before ``*`` does."""
        names = [model]
        if "/" not in model:
            provider = family_of(model)
            if provider is not None:
                names.append(f"{provider}/{model}")
        catch_all = [p for p in self.patterns if p.rank[0] == 0]
        for name in names:
            for pattern in self.patterns:
                m = pattern.regex.fullmatch(name) if pattern.rank[0] else None
                if m is not None:
                    return pattern, m.groups()
        for pattern in catch_all:
            m = pattern.regex.fullmatch(model)
            if m is not None:
                return pattern, m.groups()
        return None

    def _serve(self, group: str, captured: tuple[str, ...]) -> Resolved:
        deployments: list[Deployment] = []
        prices: list[Price] = []
        table = self._prices or PriceTable.load()
        for d in self.groups[group].deployments:
            if isinstance(d, PatternDeployment):
                d = d.for_model(_fill(d.config.upstream_model, captured, d.config.provider))
            deployments.append(d)
            prices.append(table.for_deployment(d.config))
        return Resolved(group, tuple(deployments), tuple(prices))


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile("(.+)".join(re.escape(part) for part in pattern.split("*")))


def _fill(template: str, captured: tuple[str, ...], provider: str) -> str:
    """The upstream name: each ``*`` of ``template`` replaced by what the pattern's stars
    matched, in order; the deployment's own provider prefix is not repeated (``*`` serving
    ``openai/gpt-4.1`` with ``model: openai/*`` sends ``gpt-4.1``)."""
    parts = template.split("*")
    out = parts[0]
    for i, part in enumerate(parts[1:]):
        value = captured[i] if i < len(captured) else ""
        out += value + part
    return out.removeprefix(f"{provider}/")
