"""Configuration: YAML loading, secret interpolation, validation with every problem reported."""

from pllm.config.loader import load_settings
from pllm.config.problems import ConfigError, Problem
from pllm.config.schema import (
    DeploymentConfig,
    GeneralSettings,
    MockParams,
    ServerSettings,
    Settings,
    Timeouts,
)

__all__ = [
    "ConfigError",
    "DeploymentConfig",
    "GeneralSettings",
    "MockParams",
    "Problem",
    "ServerSettings",
    "Settings",
    "Timeouts",
    "load_settings",
]
