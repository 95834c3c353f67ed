"""Configuration: YAML loading, secret interpolation, validation with every problem reported."""

from pllm.config.loader import load_settings
from pllm.config.problems import ConfigError, Problem
from pllm.config.schema import (
    BreakerSettings,
    DeploymentConfig,
    GeneralSettings,
    MockParams,
    RouterSettings,
    ServerSettings,
    Settings,
    Timeouts,
)

__all__ = [
    "BreakerSettings",
    "ConfigError",
    "DeploymentConfig",
    "GeneralSettings",
    "MockParams",
    "Problem",
    "RouterSettings",
    "ServerSettings",
    "Settings",
    "Timeouts",
    "load_settings",
]
