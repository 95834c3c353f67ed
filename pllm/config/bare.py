"""The provider of a model named without one (``model: gpt-4o``), as LiteLLM finds it.

LiteLLM looks a bare name up in its cost map, whose entries say their provider. pllm's price
table (``pllm/pricing/prices.json``) lists the same models without a provider column, so a
bare name is known when the table lists it (exactly, as an alias, or as a dated snapshot of
a listed model) and its provider is that of its family: ``gpt-``/``o1``… OpenAI, ``claude-``
Anthropic, ``gemini-`` Vertex AI (LiteLLM's choice for unprefixed Gemini names), Mistral's
families, and Bedrock's ``vendor.model-vN`` ids. Any other bare name is an error that names
the fix: write it as ``provider/model``.

The table file is read here rather than through :mod:`pllm.pricing` (a layer above config),
once, when the first bare name is met.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

import msgspec

# Family prefixes, most specific first.
_FAMILIES: tuple[tuple[str, str], ...] = (
    ("gpt-", "openai"),
    ("chatgpt-", "openai"),
    ("text-embedding-", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("claude-", "anthropic"),
    ("gemini-", "vertex_ai"),
    ("mistral-", "mistral"),
    ("open-mistral-", "mistral"),
    ("open-mixtral-", "mistral"),
    ("codestral", "mistral"),
    ("devstral-", "mistral"),
    ("magistral-", "mistral"),
    ("ministral-", "mistral"),
    ("pixtral-", "mistral"),
)
# Bedrock model ids, with an optional cross-region inference profile prefix.
_BEDROCK = re.compile(
    r"^(?:(?:us|us-gov|eu|apac|ap|jp|au|ca|global)\.)?"
    r"(?:anthropic|amazon|meta|mistral|cohere|ai21|deepseek|qwen|writer)\.[a-z0-9]"
)
_BEDROCK_REGION = re.compile(r"^(?:us|us-gov|eu|apac|ap|jp|au|ca|global)\.(?=[a-z0-9-]+\.)")
_BEDROCK_VENDOR = re.compile(
    r"^(?:anthropic|meta|amazon|mistral|cohere|ai21|deepseek|qwen|writer)\."
)
_BEDROCK_VERSION = re.compile(r"-v\d+(?::\d+)?(?::\d+k)?$")
# Dated snapshots and channels of a listed model, as the price table's lookup strips them.
_SNAPSHOT = re.compile(
    r"[-@](?:\d{4}-\d{2}-\d{2}|\d{8}|\d{3,4}|latest|preview(?:-\d{2}-\d{2})?"
    r"|exp(?:-\d{2}-\d{2}|-\d{4})?)$"
)


class _Names(msgspec.Struct):
    models: dict[str, msgspec.Raw]
    aliases: dict[str, str] = msgspec.field(default_factory=dict)


@functools.cache
def _listed() -> frozenset[str]:
    data = resources.files("pllm").joinpath("pricing", "prices.json").read_bytes()
    names = msgspec.json.decode(data, type=_Names)
    return frozenset(n.lower() for n in (*names.models, *names.aliases))


def is_listed(name: str) -> bool:
    """Whether the price table lists ``name`` or a model it is a snapshot of (a Bedrock id
    also as its vendor's own model, as the table's lookup prices it)."""
    name = _BEDROCK_REGION.sub("", name.strip().lower(), count=1)
    vendor = _BEDROCK_VENDOR.match(name)
    names = [name]
    if vendor is not None:
        names.append(_BEDROCK_VERSION.sub("", name[vendor.end() :]))
    return any(_listed_snapshot(n) for n in names)


def _listed_snapshot(name: str) -> bool:
    listed = _listed()
    while name:
        if name in listed:
            return True
        shorter = _SNAPSHOT.sub("", name, count=1)
        if shorter == name:
            return False
        name = shorter
    return False


def provider_of(name: str) -> str | None:
    """The provider a bare model name belongs to, or None when it is not a known model."""
    return family_of(name) if is_listed(name) else None


def family_of(name: str) -> str | None:
    """The provider of a bare name by its family alone, listed or not (a request's name:
    ``gpt-5.1`` is served by an ``openai/*`` wildcard before the table lists it)."""
    lower = name.strip().lower()
    if not lower or "/" in lower:
        return None
    if _BEDROCK.match(lower):
        return "bedrock"
    for prefix, provider in _FAMILIES:
        if lower.startswith(prefix):
            return provider
    return None
