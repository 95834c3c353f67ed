"""Throughput with 1 and 2 workers, and the cost of limits shared between workers.

Unlike `load.py`, nothing is pinned: a second worker needs the second core, which wrk and
the nginx mock then share with the gateway. So the scaling ratio here is what this 2-core
machine allows, and it is read against the same ratio of Granian's empty reply (the ceiling
with 1 and 2 workers, measured the same way): pllm scales as well as the ceiling does when
the two ratios match.

Targets, all started first and then measured in alternating rounds (drift hits all alike):

- `empty-w1`, `empty-w2`: Granian's empty reply with 1 and 2 workers;
- `pllm-w1`, `pllm-w2`: `pllm serve --workers 1|2`, virtual key with rpm/tpm/parallel limits
  and a budget (as `load.py`'s `pllm-keyed`), spend recorded;
- `pllm-w1-shared`: one worker whose limiter is the shared-memory one (`PLLM_SHARED_DIR`), so
  `pllm-w1-shared` minus `pllm-w1` is the per-request cost of sharing limits between workers.

    .bench-venv/bin/python benches/workers.py --rounds 3 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import load
import mock_upstream
import procs

BOTH_CPUS = "0,1"


def spawn(
    group: procs.ProcGroup, name: str, argv: list[str], log: Path, env: dict[str, str]
) -> procs.Proc:
    popen = subprocess.Popen(
        ["taskset", "-c", BOTH_CPUS, *argv],
        stdin=subprocess.DEVNULL,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    proc = procs.Proc(name, popen, log, time.perf_counter())
    group.procs.append(proc)
    return proc


def wrk(port: int, auth: str, seconds: int, connections: int) -> float:
    argv = ["taskset", "-c", BOTH_CPUS, "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv += ["--timeout", "30s", "-s", str(load.BENCHES / "post.lua")]
    argv.append(f"http://127.0.0.1:{port}{load.CHAT_PATH}")
    env = {**os.environ, "BENCH_AUTH": auth, "BENCH_MODEL": "bench"}
    out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON "))
    stats = json.loads(line.removeprefix("WRK_JSON "))
    errors = sum(stats["errors"].values())
    if errors:
        raise RuntimeError(f"wrk saw {errors} errors on port {port}")
    return float(stats["requests"]) / (stats["duration_us"] / 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    group = procs.ProcGroup()
    rps: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="pllm-workers-") as tmp:
            work = Path(tmp)
            upstream_port = procs.free_port()
            conf = mock_upstream.write_nginx(work / "upstream", upstream_port)
            up = spawn(
                group, "upstream", mock_upstream.nginx_argv(conf), work / "up.log", {**os.environ}
            )
            procs.wait_ready(up, upstream_port, load.CHAT_PATH, b"{}", {}, 10)
            config = work / "gateway.yaml"
            config.write_text(load.gateway_config(upstream_port))
            key = load.bench_key(config)
            shared = work / "shared"
            shared.mkdir()
            targets: dict[str, tuple[int, str]] = {}
            for workers in (1, 2):
                port = procs.free_port()
                argv = [str(load.BENCH_BIN / "granian"), "--interface", "asgi", "--loop", "uvloop"]
                argv += ["--workers", str(workers), "--no-ws", "--working-dir", str(load.BENCHES)]
                argv += ["--host", "127.0.0.1", "--port", str(port), "baseline_empty:app"]
                env = {**os.environ, "BASELINE_MASTER_KEY": load.MASTER_KEY}
                spawn(group, f"empty-w{workers}", argv, work / f"empty{workers}.log", env)
                targets[f"empty-w{workers}"] = (port, load.MASTER_KEY)
            gateways = [("pllm-w1", 1, {}), ("pllm-w2", 2, {}),
                        ("pllm-w1-shared", 1, {"PLLM_SHARED_DIR": str(shared)})]  # fmt: skip
            for name, workers, extra in gateways:
                port = procs.free_port()
                argv = [str(load.PLLM), "serve", "--config", str(config), "--host", "127.0.0.1"]
                argv += ["--port", str(port), "--admin-port", "0", "--metrics-port", "0"]
                argv += ["--workers", str(workers)]
                spawn(group, name, argv, work / f"{name}.log", {**os.environ, **extra})
                targets[name] = (port, key)
            body, headers = load.chat_request(load.Target("x", [], 0, key, "", 0))
            for proc in group.procs[1:]:
                port, auth = targets[proc.name]
                hdrs = {**headers, "Authorization": f"Bearer {auth}"}
                procs.wait_ready(proc, port, load.CHAT_PATH, body, hdrs, 60)
            time.sleep(2)
            for name, (port, auth) in targets.items():
                try:
                    wrk(port, auth, 2, args.connections)  # warm-up
                except RuntimeError as e:
                    lines = (work / f"{name}.log").read_text(errors="replace").splitlines()
                    log = "\n".join(ln for ln in lines if '"status":200' not in ln)[-3000:]
                    raise RuntimeError(f"{name}: {e}\n{log}") from None
            for _ in range(args.rounds):
                for name, (port, auth) in targets.items():
                    rps.setdefault(name, []).append(wrk(port, auth, args.seconds, args.connections))
    finally:
        group.close()
    median = {name: statistics.median(values) for name, values in rps.items()}
    print(f"| target | c={args.connections} req/s (median of {args.rounds}) | vs 1 worker |")
    print("|---|---|---|")
    for name, value in median.items():
        base = median[name.replace("-w2", "-w1")] if "-w2" in name else None
        ratio = f"{value / base:.2f}x" if base else ""
        print(f"| {name} | {value:,.0f} | {ratio} |")
    cost = 1e6 / median["pllm-w1-shared"] - 1e6 / median["pllm-w1"]
    print(f"\nshared limiter: {cost:+.1f} µs of wall time per request at one worker")
    out: dict[str, Any] = {"rps": rps, "median": median, "args": vars(args)}
    (load.RESULTS / "workers.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
