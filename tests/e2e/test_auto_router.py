"""An auto_router/ entry through a real `pllm serve`, driven with the openai SDK."""

from __future__ import annotations

import json
from pathlib import Path

import openai

from tests.e2e.gateway import GatewayProcess

KEY = "sk-auto-master"


def config(data_dir: Path) -> str:
    def mock(name: str, tier: int, price: float) -> dict[str, object]:
        return {
            "model_name": name,
            "litellm_params": {
                "model": f"mock/{name}-model",
                "input_cost_per_token": price,
                "output_cost_per_token": price,
            },
            "model_info": {"adaptive_router_preferences": {"quality_tier": tier}},
        }

    router = {
        "model_name": "smart-cheap-router",
        "litellm_params": {
            "model": "auto_router/adaptive_router",
            "adaptive_router_config": {
                "available_models": ["fast", "smart"],
                "weights": {"quality": 0.9, "cost": 0.1},
            },
        },
    }
    return json.dumps(
        {
            "model_list": [router, mock("fast", 2, 0.0001), mock("smart", 3, 0.001)],
            "general_settings": {"master_key": KEY, "data_dir": str(data_dir)},
        }
    )


def test_the_router_serves_the_best_scoring_group(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data"), tmp_path) as gw:
        client = openai.OpenAI(base_url=gw.base_url, api_key=KEY, max_retries=0)
        with client:
            models = [m.id for m in client.models.list()]
            assert "smart-cheap-router" in models
            reply = client.chat.completions.create(
                model="smart-cheap-router",
                messages=[{"role": "user", "content": "hi"}],
                metadata={"litellm_session_id": "conversation-1"},
            )
            assert reply.model == "smart-model", "quality 0.9: the frontier tier wins"
            stream = client.chat.completions.create(
                model="smart-cheap-router",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
            )
            assert {chunk.model for chunk in stream} == {"smart-model"}
        line = gw.access_line(reply.id.removeprefix("chatcmpl-"))
        assert line["model"] == "smart" and line["deployment"].startswith("smart/")
