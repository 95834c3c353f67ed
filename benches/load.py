"""Load benchmark: pllm against nginx direct, a bare Granian+aiohttp proxy and LiteLLM.

`pllm-claude` is pllm again, with the same OpenAI requests routed to an `anthropic/`
deployment on the mock: its rows minus `pllm`'s are the cost of the translation.
`pllm-keyed` is pllm called with a virtual key that has rpm, tpm and parallel limits and a
budget (none of them reached): its rows minus `pllm`'s are the cost of multi-tenancy (key
lookup, the Rust limiter, the budget reservation, pricing and the spend record).

Method (see benches/README.md): each target runs alone, pinned to CPU 1; the nginx mock
upstream, wrk and the streaming client share CPU 0. Targets are measured one after the
other in one run, because numbers on this host drift between runs.

Run through `bash benches/run.sh`, or directly with the bench venv's python:
    .bench-venv/bin/python benches/load.py --targets direct,granian+aiohttp --duration 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import mock_upstream
import procs
import report

BENCHES = Path(__file__).resolve().parent
ROOT = BENCHES.parent
RESULTS = BENCHES / "results"
BENCH_BIN = Path(sys.prefix) / "bin"
PLLM = ROOT / ".venv" / "bin" / "pllm"

CLIENT_CPU, TARGET_CPU = 0, 1
CONNECTIONS = (1, 64, 256)
STREAM_CONCURRENCY = 64
MASTER_KEY = "sk-bench-master"
CHAT_PATH = "/v1/chat/completions"
ALL_TARGETS = (
    "direct",
    "granian-empty",
    "granian+rust",
    "pllm",
    "pllm-keyed",
    "pllm-cached",
    "pllm-claude",
    "granian+aiohttp",
    "litellm",
)
# The regression guard: pllm's c=64 throughput over the ceiling's in the same run, and the
# floor it must stay above (DESIGN.md §9, issue 9).
GUARD = ("pllm-keyed", "granian-empty", 0.45)
# The same pllm targets run from another build (``--before``): an A/B of two versions of the
# code in one run, on the same cores.
BEFORE_TARGETS = ("pllm-before", "pllm-keyed-before", "pllm-claude-before")
# Models the clients ask for (non-streaming, streaming), where a target differs from the
# OpenAI pair `bench` / `bench-stream`.
TARGET_MODELS = {
    "pllm-claude": ("bench-claude", "bench-claude-stream"),
    "pllm-claude-before": ("bench-claude", "bench-claude-stream"),
}
MIB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    name: str
    argv: list[str]
    port: int
    auth: str
    stream_path: str
    startup_timeout: float
    env: dict[str, str] | None = None
    model: str = "bench"
    stream_model: str = "bench-stream"

    @property
    def slug(self) -> str:
        return self.name.replace("+", "-")


# gpt-4o's list price, so that the keyed run prices and reserves like a real one.
PRICES = "input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001"


def gateway_config(upstream_port: int) -> str:
    """LiteLLM-style config that pllm and LiteLLM both read: an OpenAI and an Anthropic
    deployment on the mock, each with a streaming twin (the mock answers by path)."""
    base = f"http://127.0.0.1:{upstream_port}"
    return f"""\
model_list:
  - model_name: bench
    litellm_params: {{model: openai/bench, api_base: "{base}/v1", api_key: sk-upstream, {PRICES}}}
  - model_name: bench-stream
    litellm_params:
      {{model: openai/bench, api_base: "{base}/stream/v1", api_key: sk-upstream, {PRICES}}}
  - model_name: bench-claude
    litellm_params: {{model: anthropic/bench, api_base: "{base}/anthropic", api_key: sk-upstream}}
  - model_name: bench-claude-stream
    litellm_params:
      {{model: anthropic/bench, api_base: "{base}/anthropic-stream", api_key: sk-upstream}}
general_settings: {{master_key: {MASTER_KEY}}}
"""


def build_target(
    name: str, workdir: Path, upstream_port: int, before: Path | None = None
) -> Target:
    port = procs.free_port()
    host = ["--host", "127.0.0.1", "--port", str(port)]
    label = name  # the row's name; a *-before target runs the other build's `name`
    if name == "direct":
        # A second nginx with the mock's config, on the target core: the cheapest possible
        # server at the target's place, so "added latency" is what the target costs.
        conf = mock_upstream.write_nginx(workdir / "direct", port)
        return Target(
            name,
            mock_upstream.nginx_argv(conf),
            port,
            auth="",
            stream_path="/stream/v1/chat/completions",
            startup_timeout=10,
        )

    def gateway(
        argv: list[str], startup_timeout: float, env: dict[str, str] | None, auth: str = MASTER_KEY
    ) -> Target:
        model, stream_model = TARGET_MODELS.get(label, ("bench", "bench-stream"))
        return Target(label, argv, port, auth, CHAT_PATH, startup_timeout, env, model, stream_model)

    config = workdir / label / "gateway.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(gateway_config(upstream_port))
    pllm = PLLM
    if name in BEFORE_TARGETS:
        if before is None:
            raise ValueError(f"{name} needs --before (the pllm executable of the other build)")
        pllm, name = before, name.removesuffix("-before")
    serve = [str(pllm), "serve", "--config", str(config), *host, "--admin-port", "0"]
    if name in ("pllm", "pllm-claude"):
        return gateway(serve, 30, None)
    if name == "pllm-cached":
        # The response cache on (local): wrk sends one body again and again, so every
        # request after the first is a hit. Against `pllm`: what a hit costs and saves.
        config.write_text(
            gateway_config(upstream_port)
            + "litellm_settings: {cache: true, cache_params: {type: local, ttl: 3600}}\n"
        )
        return gateway(serve, 30, None)
    if name == "pllm-keyed":
        return gateway(serve, 30, None, auth=bench_key(config, pllm))
    if name in ("granian-empty", "granian+rust"):
        # The ceiling (a fixed reply) and the bare Rust-client proxy; the latter needs the
        # gateway's venv, where pllm_accel is.
        granian = (ROOT / ".venv" / "bin" if name == "granian+rust" else BENCH_BIN) / "granian"
        module = "baseline_empty:app" if name == "granian-empty" else "baseline_rust_proxy:app"
        argv = [str(granian), "--interface", "asgi", "--loop", "uvloop", "--workers", "1"]
        argv += ["--no-ws", "--working-dir", str(BENCHES), *host, module]
        env = {
            **os.environ,
            "BASELINE_UPSTREAM": f"http://127.0.0.1:{upstream_port}",
            "BASELINE_MASTER_KEY": MASTER_KEY,
        }
        return gateway(argv, 30, env)
    if name == "granian+aiohttp":
        argv = [
            str(BENCH_BIN / "granian"),
            "--interface",
            "asgi",
            "--loop",
            "uvloop",
            "--workers",
            "1",
            "--no-ws",
            "--working-dir",
            str(BENCHES),
            *host,
            "baseline_aiohttp_proxy:app",
        ]
        env = {
            **os.environ,
            "BASELINE_UPSTREAM": f"http://127.0.0.1:{upstream_port}",
            "BASELINE_MASTER_KEY": MASTER_KEY,
        }
        return gateway(argv, 30, env)
    if name == "litellm":
        argv = [str(BENCH_BIN / "litellm"), "--config", str(config), *host, "--num_workers", "1"]
        # The model cost map is otherwise fetched from GitHub at import, which this host
        # cannot reach; a bundled copy ships with the package.
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
        # LiteLLM takes 6-8 s to import and start.
        return gateway(argv, 120, env)
    raise ValueError(f"unknown target {name!r}; choose from {', '.join(ALL_TARGETS)}")


def bench_key(config: Path, pllm: Path = PLLM) -> str:
    """A virtual key with every kind of limit and a budget, all far above what a run uses."""
    argv = [str(pllm), "keys", "create", "--local", "--config", str(config), "--json"]
    argv += ["--alias", "bench", "--rpm", "100000000", "--tpm", "2000000000"]
    argv += ["--max-parallel", "100000", "--max-budget", "1000000", "--budget-period", "daily"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    secret: str = json.loads(out.stdout)["secret"]
    return secret


def chat_request(target: Target) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        {"model": target.model, "messages": [{"role": "user", "content": "Say hello."}]}
    ).encode()
    headers = {"Content-Type": "application/json"}
    if target.auth:
        headers["Authorization"] = f"Bearer {target.auth}"
    return body, headers


def run_wrk(target: Target, connections: int, seconds: int, raw: Path | None) -> dict[str, Any]:
    """One wrk run on the client core; returns the numbers from post.lua's done()."""
    argv = [
        "taskset",
        "-c",
        str(CLIENT_CPU),
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        # Well above any latency seen here, so slow targets show their real p99 instead
        # of wrk's default 2 s cap (timed-out requests never enter the histogram).
        "--timeout",
        "30s",
        "--latency",
        "-s",
        str(BENCHES / "post.lua"),
        f"http://127.0.0.1:{target.port}{CHAT_PATH}",
    ]
    env = {**os.environ, "BENCH_AUTH": target.auth, "BENCH_MODEL": target.model}
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=seconds + 60, check=False
    )
    if raw is not None:
        raw.write_text(out.stdout + out.stderr)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("WRK_JSON ")), None)
    if out.returncode != 0 or line is None:
        # wrk prints usage errors on stdout, runtime errors on stderr.
        detail = (out.stdout + out.stderr).strip()[-500:]
        raise RuntimeError(f"wrk failed ({out.returncode}): {detail}")
    stats: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    seconds_run = stats["duration_us"] / 1e6
    stats["rps"] = round(stats["requests"] / seconds_run, 1)
    stats["p50_ms"] = stats["p50_us"] / 1000
    stats["p99_ms"] = stats["p99_us"] / 1000
    stats["error_count"] = sum(stats["errors"].values())
    return stats


def run_stream_client(target: Target, concurrency: int, seconds: int) -> dict[str, Any]:
    argv = [
        "taskset",
        "-c",
        str(CLIENT_CPU),
        sys.executable,
        str(BENCHES / "stream_client.py"),
        "--url",
        f"http://127.0.0.1:{target.port}{target.stream_path}",
        "--model",
        target.stream_model,
        "--auth",
        target.auth,
        "--concurrency",
        str(concurrency),
        "--duration",
        str(seconds),
    ]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"stream client failed: {out.stderr.strip()[-500:]}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def measure(
    target: Target, group: procs.ProcGroup, workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """Start the target, measure everything, stop it. Failures are recorded, not raised."""
    result: dict[str, Any] = {"name": target.name, "ok": False, "error": None}
    print(f"== {target.name}: starting", flush=True)
    proc = group.spawn(
        target.name, target.argv, cpu=TARGET_CPU, log=workdir / f"{target.slug}.log", env=target.env
    )
    try:
        body, headers = chat_request(target)
        result["startup_s"] = round(
            procs.wait_ready(proc, target.port, CHAT_PATH, body, headers, target.startup_timeout),
            3,
        )
        # Let work that start-up leaves behind (Granian spawning its worker, background
        # tasks after the first request) settle, so "idle" means idle.
        time.sleep(1)
        result["rss_idle_mib"] = round(procs.tree_rss_bytes(proc.pid) / MIB, 1)
        result["cpus"] = sorted(procs.tree_cpus(proc.pid))
        print(f"   ready in {result['startup_s']} s, {result['rss_idle_mib']} MiB", flush=True)

        result["nonstream"] = {}
        for c in CONNECTIONS:
            run_wrk(target, c, args.warmup, None)
            cpu_before = procs.tree_cpu_seconds(proc.pid)
            with procs.RssSampler(proc.pid) as rss:
                stats = run_wrk(target, c, args.duration, RESULTS / f"{target.slug}-c{c}.raw")
            cpu = procs.tree_cpu_seconds(proc.pid) - cpu_before
            stats["cpu_us_per_req"] = (
                round(cpu * 1e6 / stats["requests"], 1) if stats["requests"] else None
            )
            stats["rss_peak_mib"] = round(rss.peak / MIB, 1)
            result["nonstream"][str(c)] = stats
            print(
                f"   c={c}: {stats['rps']} req/s, p50 {stats['p50_ms']} ms, "
                f"p99 {stats['p99_ms']} ms, {stats['cpu_us_per_req']} CPU µs/req, "
                f"{stats['error_count']} errors",
                flush=True,
            )
        result["rss_loaded_mib"] = result["nonstream"][str(CONNECTIONS[-1])]["rss_peak_mib"]

        run_stream_client(target, STREAM_CONCURRENCY, args.warmup)
        single = run_stream_client(target, 1, args.duration)
        cpu_before = procs.tree_cpu_seconds(proc.pid)
        many = run_stream_client(target, STREAM_CONCURRENCY, args.duration)
        cpu = procs.tree_cpu_seconds(proc.pid) - cpu_before
        many["cpu_us_per_stream"] = (
            round(cpu * 1e6 / many["streams"], 1) if many["streams"] else None
        )
        result["stream"] = {"c1": single, f"c{STREAM_CONCURRENCY}": many}
        print(
            f"   stream: TTFT p50 {single['ttft_p50_ms']} ms, "
            f"{many['streams_per_s']} streams/s at c={STREAM_CONCURRENCY}, "
            f"{single['errors'] + many['errors']} errors",
            flush=True,
        )
        result["ok"] = True
    except (RuntimeError, subprocess.TimeoutExpired, json.JSONDecodeError) as exc:
        result["error"] = str(exc)
        print(f"   FAILED: {exc}", flush=True)
    finally:
        group.stop(proc)
        (RESULTS / f"{target.slug}-server.raw").write_text(proc.log_tail(200) + "\n")
    return result


def guard(targets: list[dict[str, Any]]) -> dict[str, Any] | None:
    """pllm's c=64 throughput as a share of the ceiling's in this run, against the floor."""
    name, ceiling_name, floor = GUARD
    by_name = {t["name"]: t for t in targets if t.get("ok")}
    if name not in by_name or ceiling_name not in by_name:
        return None
    ratio = (
        by_name[name]["nonstream"]["64"]["rps"] / by_name[ceiling_name]["nonstream"]["64"]["rps"]
    )
    verdict = "ok" if ratio >= floor else "BELOW THE FLOOR"
    line = f"guard: {name} at c=64 = {ratio:.2f} x {ceiling_name} (floor {floor}): {verdict}"
    return {
        "target": name,
        "ceiling": ceiling_name,
        "ratio": round(ratio, 3),
        "floor": floor,
        "ok": ratio >= floor,
        "line": line,
    }


def _command_output(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unavailable"
    return (out.stdout + out.stderr).strip().splitlines()[0] if out.stdout + out.stderr else ""


def machine_info() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        "unknown",
    )
    versions = {}
    for dist in ("granian", "aiohttp", "uvloop", "msgspec", "litellm"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "kernel": platform.release(),
        # Another job on the machine skews everything; the load average says if one ran.
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "python": platform.python_version(),
        "wrk": _command_output(["wrk", "-v"]),
        "nginx": _command_output(["nginx", "-v"]),
        "pllm_commit": _command_output(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "versions": versions,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Whole seconds: wrk's -d takes no fractions.
    parser.add_argument("--duration", type=int, default=10, help="seconds per point")
    parser.add_argument("--warmup", type=int, default=2, help="seconds before each point")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS), help="comma-separated")
    parser.add_argument(
        "--before",
        type=Path,
        help="the pllm executable of another build, for the *-before targets (an A/B)",
    )
    args = parser.parse_args()
    if args.duration < 1 or args.warmup < 1:
        parser.error("--duration and --warmup must be at least 1 s")
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    for name in names:
        if name not in ALL_TARGETS + BEFORE_TARGETS:
            known = ", ".join(ALL_TARGETS + BEFORE_TARGETS)
            parser.error(f"unknown target {name!r}; choose from {known}")
        if name in BEFORE_TARGETS and args.before is None:
            parser.error(f"{name} needs --before PATH (the pllm executable of another build)")
    if len(os.sched_getaffinity(0)) < 2:
        sys.exit("needs two CPUs: the client on CPU 0, the target on CPU 1")

    # SIGTERM becomes SystemExit and SIGINT KeyboardInterrupt (even when started in the
    # background, where the shell ignores SIGINT), so the finally below stops every process.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    RESULTS.mkdir(exist_ok=True)
    meta = machine_info()
    group = procs.ProcGroup()
    try:
        with tempfile.TemporaryDirectory(prefix="pllm-bench-") as tmp:
            workdir = Path(tmp)
            upstream_port = procs.free_port()
            conf = mock_upstream.write_nginx(workdir / "upstream", upstream_port)
            upstream = group.spawn(
                "upstream", mock_upstream.nginx_argv(conf), cpu=CLIENT_CPU, log=workdir / "up.log"
            )
            procs.wait_ready(upstream, upstream_port, CHAT_PATH, b"{}", {}, 10)
            targets = [
                measure(build_target(n, workdir, upstream_port, args.before), group, workdir, args)
                for n in names
            ]
    finally:
        group.close()

    results = {
        "meta": meta,
        "config": {
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "connections": list(CONNECTIONS),
            "stream_concurrency": STREAM_CONCURRENCY,
            "client_cpu": CLIENT_CPU,
            "target_cpu": TARGET_CPU,
        },
        "targets": targets,
    }
    results["guard"] = guard(targets)
    if results["guard"] is not None:
        print(results["guard"]["line"], flush=True)
    (RESULTS / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (RESULTS / "RESULTS.md").write_text(report.markdown(results))
    report.plot(results, RESULTS / "load.png")
    print(f"wrote {RESULTS / 'RESULTS.md'}, results.json, load.png")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted: every started process was stopped")
