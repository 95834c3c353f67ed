"""What a reload reports: the settings only a restart applies, and an invalid file's problems."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pllm import reload
from pllm.config import ConfigError
from pllm.config.cache import CacheSettings
from pllm.config.schema import GeneralSettings, RouterSettings, ServerSettings, Settings


def test_only_settings_a_running_process_keeps_are_restart_needed() -> None:
    old = Settings(file="c.yaml", deployments=())
    new = dataclasses.replace(
        old,
        server=ServerSettings(port=9000),
        general=GeneralSettings(master_key="sk-new", access_log=False, log_level="debug"),
        router=RouterSettings(num_retries=5, max_queue=10),
    )
    assert reload.restart_needed(old, new) == [
        "server.port",
        "general_settings.master_key",
        "router_settings.max_queue",
    ]
    assert reload.restart_needed(old, old) == []
    cached = dataclasses.replace(old, cache=CacheSettings(ttl=60))
    assert reload.restart_needed(old, cached) == ["litellm_settings.cache_params"]


def test_an_invalid_file_lists_every_problem_and_names_its_revision(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model_list: [{model_name: x}]\nrouter_settings: {num_retries: -1}\n")
    with pytest.raises(ConfigError) as caught:
        reload.load(str(path))
    outcome = reload.invalid(str(path), caught.value)
    assert not outcome.ok and len(outcome.problems) == 2
    assert outcome.revision == reload.revision_of(str(path)) != ""
    assert outcome.as_json()["status"] == "invalid"
    assert "sk-" not in " ".join(outcome.problems)
