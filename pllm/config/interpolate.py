"""Secret references in config values: ``${NAME}``, ``${NAME:-default}`` and ``os.environ/NAME``.

Resolution never puts a resolved value into an error message: problems name the variable and
the path in the YAML, nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pllm.config.problems import Problems

_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_LITELLM_PREFIX = "os.environ/"


def interpolate(value: Any, env: Mapping[str, str], path: str, problems: Problems) -> Any:
    """Returns ``value`` with every reference resolved, recursing into lists and mappings."""
    if isinstance(value, str):
        return _interpolate_str(value, env, path, problems)
    if isinstance(value, list):
        return [interpolate(v, env, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(v, env, _join(path, str(k)), problems) for k, v in value.items()}
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _interpolate_str(text: str, env: Mapping[str, str], path: str, problems: Problems) -> str:
    if text.startswith(_LITELLM_PREFIX):
        name = text[len(_LITELLM_PREFIX) :]
        if name not in env:
            problems.add(path, f"environment variable {name} is not set")
            return ""
        return env[name]

    def replace(m: re.Match[str]) -> str:
        name, default = m.group(1), m.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.add(path, f"environment variable {name} is not set")
        return ""

    return _BRACED.sub(replace, text) if "${" in text else text


def unset(value: Any, env: Mapping[str, str]) -> list[str]:
    """The variables ``value`` refers to (recursively) that ``env`` lacks and that have no
    default: what :func:`interpolate` would report as not set."""
    if isinstance(value, str):
        if value.startswith(_LITELLM_PREFIX):
            name = value[len(_LITELLM_PREFIX) :]
            return [] if name in env else [name]
        if "${" not in value:
            return []
        return [
            m.group(1)
            for m in _BRACED.finditer(value)
            if m.group(1) not in env and m.group(2) is None
        ]
    if isinstance(value, list):
        return [name for v in value for name in unset(v, env)]
    if isinstance(value, dict):
        return [name for v in value.values() for name in unset(v, env)]
    return []
