"""Prices per token, looked up by upstream model name.

``prices.json`` ships public list prices as of its ``_date``; they drift, so a deployment's
``input_cost_per_token``, ``output_cost_per_token`` and ``cache_read_input_token_cost``
always win over the table (see ``PriceTable.for_deployment``).

Costs are estimates for budgets and reports, not invoices: tiered prices (long prompts,
batch, priority, regional endpoints) and Anthropic cache writes are billed at the base rate.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Literal

import msgspec

from pllm.config.schema import DeploymentConfig

# Reserved when neither the request nor the table says how long a reply may be.
DEFAULT_MAX_OUTPUT_TOKENS = 4096


@dataclass(frozen=True, slots=True)
class Price:
    """USD per token. ``known`` is False when the model had no price anywhere (cost 0)."""

    input: float
    output: float
    # None: the provider has no cached-input price; cached tokens are billed as input.
    cached_input: float | None = None
    max_output_tokens: int | None = None
    known: bool = True

    def cost(self, prompt_tokens: int, completion_tokens: int, cached_tokens: int = 0) -> float:
        """``cached_tokens`` are part of ``prompt_tokens`` (OpenAI's usage convention)."""
        if cached_tokens <= 0:
            return prompt_tokens * self.input + completion_tokens * self.output
        # A usage report with more cached than prompt tokens is inconsistent; trusting
        # prompt_tokens keeps the cost from going negative.
        cached = min(cached_tokens, prompt_tokens)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        return (
            (prompt_tokens - cached) * self.input
            + cached * cached_rate
            + completion_tokens * self.output
        )

    def max_cost(self, prompt_tokens_estimate: int, max_tokens: int | None = None) -> float:
        """An upper bound on ``cost`` for any reply of at most ``max_tokens`` tokens."""
        if max_tokens is None:
            max_tokens = (
                self.max_output_tokens
                if self.max_output_tokens is not None
                else DEFAULT_MAX_OUTPUT_TOKENS
            )
        # An override may price cached input above input; the bound must hold either way.
        rate = self.input
        if self.cached_input is not None and self.cached_input > rate:
            rate = self.cached_input
        return prompt_tokens_estimate * rate + max_tokens * self.output


UNKNOWN_PRICE = Price(0.0, 0.0, known=False)
_FREE = Price(0.0, 0.0)

# Deployments of this provider are simulations: they cost nothing unless configured to.
_MOCK_PROVIDER = "mock"

Mode = Literal["chat", "embedding"]
_NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]


class _Entry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    input: _NonNegative
    output: _NonNegative
    cached_input: _NonNegative | None = None
    max_output_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    mode: Mode = "chat"


class _File(msgspec.Struct, forbid_unknown_fields=True):
    source: dict[str, str] = msgspec.field(name="_source")
    date: str = msgspec.field(name="_date")
    models: dict[str, _Entry] = msgspec.field(default_factory=dict)
    note: str = msgspec.field(default="", name="_note")
    aliases: dict[str, str] = msgspec.field(default_factory=dict)


_file_decoder = msgspec.json.Decoder(_File)

# Routing prefixes ("bedrock/converse/", ARNs ending ".../<model id>") never name a price.
# Bedrock cross-region inference profiles ("us.", "eu.", "global."…) cost what the model does.
_BEDROCK_REGION = re.compile(r"^(?:us|us-gov|eu|apac|ap|jp|au|ca|global)\.(?=[a-z0-9-]+\.)")
_BEDROCK_VENDOR = re.compile(
    r"^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|writer)\."
)
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?(?::\d+k)?$")
# Snapshot and channel suffixes: -2024-08-06, -20241022, @20240620 (Vertex), -0613, -2411
# (Mistral), -001 (Gemini), -latest, -preview, -preview-05-20, -exp.
_SNAPSHOT = re.compile(
    r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|preview(?:-\d{2}-\d{2})?"
    r"|exp(?:-\d{2}-\d{2}|-\d{4})?)$"
)


class PriceTable:
    """Prices by model name; build one with ``load`` (the shipped file) or ``from_json``."""

    __slots__ = ("_aliases", "_models", "_modes", "date", "note", "source")

    def __init__(
        self,
        models: Mapping[str, Price],
        aliases: Mapping[str, str] | None = None,
        *,
        source: Mapping[str, str] | None = None,
        date: str = "",
        note: str = "",
        modes: Mapping[str, Mode] | None = None,
    ) -> None:
        self._models = {k.lower(): v for k, v in models.items()}
        self._aliases = {k.lower(): v.lower() for k, v in (aliases or {}).items()}
        missing = sorted(a for a, t in self._aliases.items() if t not in self._models)
        if missing:
            raise ValueError(f"price aliases point at no model: {', '.join(missing)}")
        self._modes = {k.lower(): v for k, v in (modes or {}).items()}
        self.source: Mapping[str, str] = MappingProxyType(dict(source or {}))
        self.date = date
        self.note = note

    @classmethod
    def load(cls) -> PriceTable:
        """The table shipped with pllm, read once per process."""
        return _shipped()

    @classmethod
    def from_json(cls, data: bytes) -> PriceTable:
        try:
            f = _file_decoder.decode(data)
        except msgspec.ValidationError as e:
            raise ValueError(f"invalid price table: {e}") from None
        return cls(
            {
                name: Price(e.input, e.output, e.cached_input, e.max_output_tokens)
                for name, e in f.models.items()
            },
            f.aliases,
            source=f.source,
            date=f.date,
            note=f.note,
            modes={name: e.mode for name, e in f.models.items()},
        )

    @property
    def entries(self) -> Mapping[str, Price]:
        return MappingProxyType(self._models)

    def mode(self, name: str) -> Mode:
        """What kind of model a table entry (by its exact name) is."""
        return self._modes.get(name.lower(), "chat")

    def lookup(self, model: str) -> Price | None:
        """The price of ``model``, trying its exact name first, then less specific forms:
        without routing prefixes, Bedrock region and version, and snapshot suffixes."""
        name = model.strip().lower()
        found = self._get(name)
        if found is not None:
            return found
        if "/" in name:
            name = name.rsplit("/", 1)[1]
            found = self._get(name)
            if found is not None:
                return found
        regionless = _BEDROCK_REGION.sub("", name, count=1)
        if regionless != name:
            name = regionless
            found = self._get(name)
            if found is not None:
                return found
        vendor = _BEDROCK_VENDOR.match(name)
        if vendor is not None:
            # A Bedrock id not in the table is priced as the vendor's own model.
            name = _BEDROCK_VERSION.sub("", name[vendor.end() :])
            found = self._get(name)
            if found is not None:
                return found
        while True:
            shorter = _SNAPSHOT.sub("", name, count=1)
            if shorter == name or not shorter:
                return None
            name = shorter
            found = self._get(name)
            if found is not None:
                return found

    def _get(self, name: str) -> Price | None:
        found = self._models.get(name)
        if found is None:
            target = self._aliases.get(name)
            if target is not None:
                found = self._models[target]
        return found

    def for_deployment(self, cfg: DeploymentConfig) -> Price:
        """The table's price for the deployment's upstream model with its overrides applied.

        A result with ``known`` False had no price for input or output anywhere: the
        caller should say so once, since its requests are recorded as costing 0.
        """
        if cfg.provider == _MOCK_PROVIDER:
            base = _FREE
        else:
            # model_info.base_model: the model an Azure deployment (or any) is priced as.
            base = self.lookup(cfg.base_model or cfg.upstream_model) or UNKNOWN_PRICE
        inp = cfg.input_cost_per_token
        out = cfg.output_cost_per_token
        cached = cfg.cached_input_cost_per_token
        if inp is None and out is None and cached is None:
            return base
        return Price(
            input=base.input if inp is None else inp,
            output=base.output if out is None else out,
            cached_input=base.cached_input if cached is None else cached,
            max_output_tokens=base.max_output_tokens,
            known=base.known or (inp is not None and out is not None),
        )


@functools.cache
def _shipped() -> PriceTable:
    data = resources.files("pllm.pricing").joinpath("prices.json").read_bytes()
    return PriceTable.from_json(data)
