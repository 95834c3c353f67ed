"""The supervisor's /metrics: every worker's snapshot merged into one exposition."""

from __future__ import annotations

from pathlib import Path

from pllm.observability.metrics import Metrics, read_snapshots, render_merged, snapshot


def worker(requests: float, duration: float, health: float, circuit: float) -> bytes:
    m = Metrics()
    m.inc("pllm_requests_total", (("model", "m"), ("status", "200")), requests)
    m.observe("gen_ai_server_request_duration_seconds", (("model", "m"),), duration)
    labels = (("model", "m"), ("deployment", "m/0"))
    gauges = [
        ("pllm_deployment_health_score", labels, health),
        ("pllm_deployment_circuit_open", labels, circuit),
        ("pllm_in_flight", (), 2.0),
    ]
    return snapshot(m, gauges)


def test_counters_and_histograms_add_up_and_gauges_merge_by_meaning(tmp_path: Path) -> None:
    (tmp_path / "metrics-0.json").write_bytes(worker(3, 0.05, 90.0, 0.0))
    (tmp_path / "metrics-1.json").write_bytes(worker(4, 3.0, 40.0, 1.0))
    (tmp_path / "metrics-2.json").write_bytes(b"{not json")  # a corrupt file is skipped
    text = render_merged(read_snapshots(str(tmp_path)), workers=2).decode()
    assert 'pllm_requests_total{model="m",status="200"} 7.0' in text
    assert 'gen_ai_server_request_duration_seconds_count{model="m"} 2.0' in text
    assert 'gen_ai_server_request_duration_seconds_bucket{le="0.08",model="m"} 1.0' in text
    assert 'gen_ai_server_request_duration_seconds_bucket{le="+Inf",model="m"} 2.0' in text
    # The worst view of a shared thing, the sum of a share of the work.
    assert 'pllm_deployment_health_score{deployment="m/0",model="m"} 40.0' in text
    assert 'pllm_deployment_circuit_open{deployment="m/0",model="m"} 1.0' in text
    assert "pllm_in_flight 4.0" in text
    assert "pllm_workers 2.0" in text
    assert text.count("# TYPE pllm_requests_total counter") == 1


def test_no_snapshot_yet_is_an_empty_view(tmp_path: Path) -> None:
    text = render_merged(read_snapshots(str(tmp_path)), workers=0).decode()
    assert text.strip().splitlines()[-1] == "pllm_workers 0.0"
