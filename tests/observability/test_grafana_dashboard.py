"""The shipped Grafana dashboard queries only metrics the gateway exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pllm.observability.metrics import _FAMILIES

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "pllm-dashboard.json"


def test_every_queried_metric_is_exported() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert exprs
    for expr in exprs:
        # Metric names, not labels (a label is followed by "," ")" or "=" in these queries).
        for name in re.findall(r"\b((?:pllm|gen_ai)_[a-z_]+)\b(?![,)=])", expr):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            assert base in _FAMILIES, f"{name} in {expr!r} is not exported"
