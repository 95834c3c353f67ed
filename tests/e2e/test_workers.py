"""`pllm serve --workers 2` against real processes: a supervisor and its workers.

One `/metrics` for all workers (on the metrics port), SIGHUP reloading every worker, SIGTERM
draining every worker, a dead worker replaced, workers that end with their supervisor even
when it is killed, and a start on a busy port that says who holds it."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.e2e.gateway import GatewayProcess, deployment, free_port
from tests.e2e.tenancy import MASTER, Admin, chat
from tests.e2e.test_drain import KEY, StreamReader
from tests.e2e.test_reload import FAST, FRESH, SLOW, answers, config, post_json, wait_until

WORKERS = ("--workers", "2")


def children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(proc.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def chat_over_new_connections(gateway: GatewayProcess, n: int) -> None:
    """``n`` requests, each on its own connection, so the kernel spreads them over workers."""
    for _ in range(n):
        assert answers(gateway, "fast")


def scrape(gateway: GatewayProcess) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.metrics_port}/metrics") as r:
        text = r.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def requests_total(metrics: dict[str, float]) -> float:
    return sum(v for k, v in metrics.items() if k.startswith("pllm_requests_total") and "fast" in k)


def test_metrics_on_the_metrics_port_sum_every_worker(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", FAST), tmp_path, args=WORKERS) as gateway:
        chat_over_new_connections(gateway, 20)
        wait_until(lambda: requests_total(scrape(gateway)) == 20, 5.0)
        metrics = scrape(gateway)
        assert metrics["pllm_workers"] == 2
        durations = [
            v
            for k, v in metrics.items()
            if k.startswith("gen_ai_server_request_duration_seconds_count") and "fast" in k
        ]
        assert sum(durations) == 20


def test_sighup_reloads_every_worker(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, FAST), tmp_path, args=WORKERS) as gateway:
        assert gateway.proc is not None
        gateway.config.write_text(config(data, FAST, FRESH))
        os.kill(gateway.proc.pid, signal.SIGHUP)
        # Every worker: ten connections in a row all find the new model.
        wait_until(lambda: all(answers(gateway, "fresh") for _ in range(10)), 5.0)
        # The admin API (in worker 0) asks the supervisor, which reloads every worker.
        gateway.config.write_text(config(data, FAST, deployment("other", "mock/other")))
        status, body = post_json(f"{gateway.admin_url}/admin/config/reload", KEY)
        assert status == 200 and body["status"] == "signalled", body
        wait_until(lambda: all(answers(gateway, "other") for _ in range(10)), 5.0)


def test_sigterm_drains_every_worker_and_streams_complete(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, SLOW), tmp_path, args=WORKERS) as gateway:
        assert gateway.proc is not None
        readers = [StreamReader(gateway) for _ in range(4)]
        for r in readers:
            r.start()
        for r in readers:
            r.first_chunk()
        os.kill(gateway.proc.pid, signal.SIGTERM)
        assert gateway.proc.wait(timeout=20) == 0
        for r in readers:
            r.join(timeout=5)
            assert b"data: [DONE]" in r.data
    with sqlite3.connect(data / "pllm.db") as db:
        (rows,) = db.execute("SELECT count(*) FROM pllm_spend WHERE status = 200").fetchone()
    assert rows == 4, "every stream's spend record was flushed"


def test_a_dead_worker_is_replaced(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", FAST), tmp_path, args=WORKERS) as gateway:
        assert gateway.proc is not None
        first = children(gateway.proc.pid)
        assert len(first) == 2
        os.kill(first[1], signal.SIGKILL)
        wait_until(lambda: len(set(children(gateway.proc.pid)) - {first[1]}) == 2, 10.0)
        chat_over_new_connections(gateway, 10)
        assert "exited with signal SIGKILL" in gateway.logs()


def test_workers_end_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with GatewayProcess(config(tmp_path / "data", FAST), tmp_path, args=WORKERS) as gateway:
        assert gateway.proc is not None
        workers = children(gateway.proc.pid)
        assert len(workers) == 2
        gateway.proc.kill()
        gateway.proc.wait()
        wait_until(lambda: not any(alive(pid) for pid in workers), 15.0)
        # The port is free for the next start.
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
            s.bind(("127.0.0.1", gateway.port))
            s.listen()


def test_a_start_on_a_busy_port_says_who_holds_it(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        gateway = GatewayProcess(config(tmp_path / "data", FAST), tmp_path)
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pllm", "serve", "--config", str(gateway.config)),
                *("--host", "127.0.0.1", "--port", str(port), "--metrics-port", "0"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 2
    assert f"port {port} is not available" in done.stderr
    assert f"held by pid {os.getpid()}" in done.stderr, done.stderr


def test_a_key_rpm_is_exact_across_four_workers(tmp_path: Path) -> None:
    text = config(tmp_path / "data", FAST).replace(KEY, MASTER)
    with GatewayProcess(text, tmp_path, args=("--workers", "4")) as gateway:
        secret, _ = Admin(gateway).wait_ready().create_key(rpm=30)
        time.sleep(1.0)  # every worker's key cache has refreshed from the store
        statuses = [chat(gateway, secret, model="fast")[0] for _ in range(120)]
    assert statuses.count(200) == 30, statuses
    assert statuses.count(429) == 90


def attempts(gateway: GatewayProcess, deployment: str) -> float:
    return sum(
        v
        for k, v in scrape(gateway).items()
        if k.startswith("pllm_attempts_total") and f'deployment="{deployment}"' in k
    )


def test_an_ejection_by_one_worker_holds_the_deployment_back_in_all(tmp_path: Path) -> None:
    broken = deployment(
        "g", "openai/gpt-4o", api_key="sk-x", api_base=f"http://127.0.0.1:{free_port()}/v1"
    )
    good = deployment("g", "mock/good")
    # Five failures in a row eject it: a worker that did not hear of another's ejection
    # would go on sending it requests until it had seen its own five.
    text = config(
        tmp_path / "data", broken, good, num_retries=1, consecutive_failures=5, cooldown_time=60
    )
    with GatewayProcess(text, tmp_path, args=WORKERS) as gateway:
        for _ in range(40):
            assert answers(gateway, "g")
            if "ejected after repeated failures" in gateway.logs():
                break
        assert gateway.logs().count("ejected after repeated failures") == 1
        time.sleep(0.3)  # the other worker has heard of it (within 100 ms)
        time.sleep(1.1)  # and both have written their metrics since
        before = attempts(gateway, "g/0")
        for _ in range(20):
            assert answers(gateway, "g")
        time.sleep(1.1)
        assert attempts(gateway, "g/0") == before, "no worker sent it another request"
        assert gateway.logs().count("ejected after repeated failures") == 1


def test_a_deployment_rpm_is_exact_across_workers(tmp_path: Path) -> None:
    limited = deployment("fast", "mock/fast", rpm=30)
    text = config(tmp_path / "data", limited).replace(KEY, MASTER)
    with GatewayProcess(text, tmp_path, args=WORKERS) as gateway:
        statuses = [chat(gateway, MASTER, model="fast")[0] for _ in range(60)]
    assert statuses.count(200) == 30, statuses
    assert statuses.count(429) == 30


def test_a_budget_holds_across_workers_to_within_one_request(tmp_path: Path) -> None:
    # $1 a request: 16 reply tokens at $0.0625.
    cheap = deployment(
        "cheap", "mock/cheap", mock_reply_tokens=16, input_cost_per_token=0,
        output_cost_per_token=0.0625,
    )  # fmt: skip
    text = config(tmp_path / "data", cheap).replace(KEY, MASTER)
    with GatewayProcess(text, tmp_path, args=WORKERS) as gateway:
        secret, _ = Admin(gateway).wait_ready().create_key(max_budget=10, budget_period="monthly")
        time.sleep(1.0)

        def one(_: int) -> int:
            return chat(gateway, secret, model="cheap", max_tokens=16)[0]

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(one, range(40)))
        admitted = statuses.count(200)
        assert admitted + statuses.count(429) == 40
        time.sleep(1.5)  # spend flushed and synced
        # What the burst's leases left may be spent; then every request is refused.
        while one(0) == 200:
            admitted += 1
            assert admitted <= 11
        assert 8 <= admitted <= 11, statuses
        assert all(one(0) == 429 for _ in range(6))


def test_one_worker_writes_every_workers_spend_records(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with GatewayProcess(config(data, FAST), tmp_path, args=WORKERS) as gateway:
        chat_over_new_connections(gateway, 20)

        def rows() -> int:
            with sqlite3.connect(data / "pllm.db") as db:
                (n,) = db.execute("SELECT count(*) FROM pllm_spend").fetchone()
            return int(n)

        wait_until(lambda: rows() == 20, 10.0)
        assert gateway.logs().count("writes the host's spend records") == 1
