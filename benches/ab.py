"""A/B of two pllm builds (or two configs of one), interleaved on one core.

Both gateways run at once, pinned to CPU 1, idle but for the one being measured; wrk (on
CPU 0) alternates between them round after round, so drift over the run hits both alike. The
answer is the per-round medians and the ratio of B to A: what a change costs per request.

    .bench-venv/bin/python benches/ab.py --a /tmp/before/.venv/bin/pllm --b .venv/bin/pllm
    .bench-venv/bin/python benches/ab.py --targets pllm,pllm-keyed   # one build, two targets
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import load
import mock_upstream
import procs


def _start(
    name: str, label: str, pllm: Path | None, workdir: Path, port: int, group: procs.ProcGroup
) -> tuple[load.Target, procs.Proc]:
    # Another build's executable runs as the target's "-before" twin.
    name = f"{name}-before" if pllm is not None else name
    target = dataclasses.replace(load.build_target(name, workdir / label, port, pllm), name=label)
    proc = group.spawn(
        label, target.argv, cpu=load.TARGET_CPU, log=workdir / f"{label}.log", env=target.env
    )
    body, headers = load.chat_request(target)
    procs.wait_ready(proc, target.port, load.CHAT_PATH, body, headers, target.startup_timeout)
    return target, proc


def _round(
    target: load.Target, proc: procs.Proc, connections: int, seconds: int, stream: bool
) -> dict[str, Any]:
    if stream:
        load.run_stream_client(target, connections, 1)
        cpu_before = procs.tree_cpu_seconds(proc.pid)
        got = load.run_stream_client(target, connections, seconds)
        cpu = procs.tree_cpu_seconds(proc.pid) - cpu_before
        # Streams per second and CPU per stream, under the same names as requests.
        return {
            "rps": got["streams_per_s"],
            "cpu_us": cpu * 1e6 / max(1, got["streams"]),
            "p50": got["ttft_p50_ms"],
        }
    load.run_wrk(target, connections, 1, None)
    cpu_before = procs.tree_cpu_seconds(proc.pid)
    stats = load.run_wrk(target, connections, seconds, None)
    cpu = procs.tree_cpu_seconds(proc.pid) - cpu_before
    return {
        "rps": stats["rps"],
        "cpu_us": cpu * 1e6 / max(1, stats["requests"]),
        "p50": stats["p50_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, help="pllm executable of build A (default: this one)")
    parser.add_argument("--b", type=Path, help="pllm executable of build B (default: this one)")
    parser.add_argument(
        "--targets", default="pllm,pllm", help="A's and B's target, e.g. pllm,pllm-keyed"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument(
        "--stream", action="store_true", help="streams (per stream, p50 = time to first byte)"
    )
    args = parser.parse_args()
    names = args.targets.split(",")
    if len(names) != 2:
        parser.error("--targets takes two names")
    group = procs.ProcGroup()
    results: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    try:
        with tempfile.TemporaryDirectory(prefix="pllm-ab-", ignore_cleanup_errors=True) as tmp:
            workdir = Path(tmp)
            upstream_port = procs.free_port()
            conf = mock_upstream.write_nginx(workdir / "upstream", upstream_port)
            upstream = group.spawn(
                "upstream",
                mock_upstream.nginx_argv(conf),
                cpu=load.CLIENT_CPU,
                log=workdir / "up.log",
            )
            procs.wait_ready(upstream, upstream_port, load.CHAT_PATH, b"{}", {}, 10)
            sides = {
                "A": _start(names[0], "A", args.a, workdir, upstream_port, group),
                "B": _start(names[1], "B", args.b, workdir, upstream_port, group),
            }
            time.sleep(1)
            for i in range(args.rounds):
                for label in ("A", "B") if i % 2 == 0 else ("B", "A"):
                    r = _round(*sides[label], args.connections, args.seconds, args.stream)
                    results[label].append(r)
                    print(
                        f"round {i + 1} {label}: {r['rps']:.0f} req/s, "
                        f"{r['cpu_us']:.1f} CPU µs/req",
                        flush=True,
                    )
    finally:
        group.close()
    med = {
        k: {m: statistics.median(r[m] for r in v) for m in ("rps", "cpu_us", "p50")}
        for k, v in results.items()
    }
    for label, name, exe in (("A", names[0], args.a), ("B", names[1], args.b)):
        m = med[label]
        print(
            f"{label} ({name}, {exe or 'this build'}): median {m['rps']:.0f} req/s, "
            f"{m['cpu_us']:.1f} CPU µs/req, p50 {m['p50']:.2f} ms"
        )
    print(
        f"B/A: {med['B']['rps'] / med['A']['rps']:.3f} x req/s, "
        f"{med['B']['cpu_us'] - med['A']['cpu_us']:+.1f} CPU µs/req at c={args.connections}"
    )


if __name__ == "__main__":
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two CPUs: the client on CPU 0, the targets on CPU 1")
    main()
