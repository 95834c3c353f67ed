"""Turns load.py's raw results into RESULTS.md and load.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on the bench host
import matplotlib.pyplot as plt

_NA = "n/a"
# The `direct` row is what the "added" columns subtract.
_BASE = "(base)"
# A point where each connection completed fewer requests than this is flagged: wrk only
# records requests that finish inside the window, so the slowest are missing from p50/p99.
_MIN_REQUESTS_PER_CONNECTION = 10
_PARTIAL = "†"
# Below this ratio between the fastest and slowest bar a linear axis still shows them all.
_LOG_SCALE_RATIO = 50


def _fmt(value: float | None, digits: int = 2) -> str:
    return _NA if value is None else f"{value:,.{digits}f}"


def _diff(value: float | None, base: float | None) -> str:
    # Latencies here go down to tens of µs: three decimals of a millisecond.
    return _NA if value is None or base is None else f"{value - base:+,.3f}"


def _ok(results: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for t in results["targets"] if t["ok"]]


def _direct(results: dict[str, Any]) -> dict[str, Any] | None:
    return next((t for t in _ok(results) if t["name"] == "direct"), None)


def _nonstream_table(results: dict[str, Any]) -> list[str]:
    direct = _direct(results)
    lines = [
        "| target | c | req/s | p50 ms | p99 ms | added p50 ms | added p99 ms "
        "| CPU µs/req | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    partial = False
    for target in _ok(results):
        for c, stats in target["nonstream"].items():
            base = direct["nonstream"].get(c) if direct else None
            added = [_diff(stats[key], base[key] if base else None) for key in ("p50_ms", "p99_ms")]
            if target is direct:
                added = [_BASE, _BASE]
            mark = ""
            if stats["requests"] < _MIN_REQUESTS_PER_CONNECTION * int(c):
                mark, partial = f" {_PARTIAL}", True
            lines.append(
                f"| {target['name']} | {c} | {_fmt(stats['rps'], 0)} "
                f"| {_fmt(stats['p50_ms'], 3)}{mark} | {_fmt(stats['p99_ms'], 3)}{mark} "
                f"| {added[0]} | {added[1]} "
                f"| {_fmt(stats['cpu_us_per_req'], 0)} | {stats['error_count']} |"
            )
    if partial:
        lines += [
            "",
            f"{_PARTIAL} Fewer than {_MIN_REQUESTS_PER_CONNECTION} requests per connection "
            "completed in the window: wrk's percentiles only cover requests that finished, "
            "so the slowest are missing and the latency is understated.",
        ]
    return lines


def _stream_table(results: dict[str, Any]) -> list[str]:
    direct = _direct(results)
    conc = results["config"]["stream_concurrency"]
    base_ttft = direct["stream"]["c1"]["ttft_p50_ms"] if direct else None
    lines = [
        f"| target | TTFT p50 ms (c=1) | added TTFT ms | whole stream p50 ms (c=1) "
        f"| streams/s (c={conc}) | chunks/s (c={conc}) | CPU µs/stream (c={conc}) "
        "| data lines/stream | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target in _ok(results):
        single, many = target["stream"]["c1"], target["stream"][f"c{conc}"]
        added = _BASE if target is direct else _diff(single["ttft_p50_ms"], base_ttft)
        lines.append(
            f"| {target['name']} | {_fmt(single['ttft_p50_ms'], 3)} | {added} "
            f"| {_fmt(single['total_p50_ms'], 3)} | {_fmt(many['streams_per_s'], 0)} "
            f"| {_fmt(many['chunks_per_s'], 0)} | {_fmt(many['cpu_us_per_stream'], 0)} "
            f"| {_fmt(many['data_lines_per_stream'], 1)} | {single['errors'] + many['errors']} |"
        )
    return lines


def _resource_table(results: dict[str, Any]) -> list[str]:
    last_c = results["config"]["connections"][-1]
    lines = [
        f"| target | start-up s | RSS idle MiB | RSS loaded MiB (peak, c={last_c}) | CPUs |",
        "|---|---:|---:|---:|---|",
    ]
    lines += [
        f"| {t['name']} | {_fmt(t['startup_s'], 3)} | {_fmt(t['rss_idle_mib'], 1)} "
        f"| {_fmt(t['rss_loaded_mib'], 1)} | {','.join(map(str, t['cpus']))} |"
        for t in _ok(results)
    ]
    return lines


def _claude_note(results: dict[str, Any]) -> str:
    names = {t["name"] for t in results["targets"]}
    note = ""
    if "pllm-keyed" in names:
        note += (
            "`pllm-keyed` is pllm called with a virtual key that has rpm, tpm and parallel "
            "limits and a daily budget (never reached), so its rows minus `pllm`'s are the cost "
            "of key lookup, the Rust limiter, the budget reservation, pricing and the spend "
            "record. "
        )
    if "pllm-claude" in names:
        note += (
            "`pllm-claude` is pllm with the same OpenAI requests sent to an `anthropic/` "
            "deployment on the mock (a 357-byte Messages response; a Messages stream of the "
            "same 50 words), so its rows minus `pllm`'s are the cost of the translation. "
        )
    return note


def markdown(results: dict[str, Any]) -> str:
    meta, cfg = results["meta"], results["config"]
    conc = cfg["stream_concurrency"]
    out = [
        "# pllm load benchmark",
        "",
        f"{meta['date']} · `{meta['pllm_commit']}` · {meta['nproc']} CPUs ({meta['cpu_model']})"
        f" · kernel {meta['kernel']} · load average before the run "
        f"{' '.join(meta['loadavg_before'])}",
        "",
        f"Python {meta['python']}; {meta['wrk']}; {meta['nginx']}; "
        + ", ".join(f"{k} {v}" for k, v in meta["versions"].items())
        + ".",
        "",
        "## Method",
        "",
        f"Each target runs alone, pinned to CPU {cfg['target_cpu']} (`taskset`), with every "
        f"process it forks. The nginx mock upstream (357-byte `chat.completion`; a 50-chunk SSE "
        f"stream plus a usage chunk and `[DONE]`), wrk and the streaming client share CPU "
        f"{cfg['client_cpu']}. Non-streaming: `wrk -t1 -c{{1,64,256}} --latency` with a POST "
        f"script, {cfg['warmup_s']:g} s warm-up then {cfg['duration_s']:g} s per point. "
        f"Streaming: aiohttp client, c=1 then c={conc} for {cfg['duration_s']:g} s each "
        f"after a {cfg['warmup_s']:g} s warm-up. {_claude_note(results)}"
        "`direct` is a second nginx on the target core: "
        "`added` columns are a target minus `direct` at the same concurrency. CPU µs per request "
        "is the target tree's utime+stime over the measured run divided by completed requests. "
        "RSS is summed over the process tree. Start-up is spawn to the first 200 on a real chat "
        "completion (polled every 10 ms). Numbers on a shared VM drift ±20 % between runs: "
        "compare rows within one run. `granian-empty` answers the same reply from memory (the "
        "ceiling for a gateway on Granian); `granian+rust` is a bare proxy on pllm's native "
        "client (the floor for pllm's features).",
        "",
        *([f"**{results['guard']['line']}**", ""] if results.get("guard") else []),
        "## Non-streaming",
        "",
        *_nonstream_table(results),
        "",
        "## Streaming",
        "",
        *_stream_table(results),
        "",
        "## Memory and start-up",
        "",
        *_resource_table(results),
        "",
        "![req/s by connection count](load.png)",
        "",
    ]
    failed = [t for t in results["targets"] if not t["ok"]]
    if failed:
        out += ["## Failed targets", ""]
        for target in failed:
            out += [f"### {target['name']}", "", "```", target["error"], "```", ""]
    return "\n".join(out)


def plot(results: dict[str, Any], path: Path) -> None:
    targets = _ok(results)
    connections = [str(c) for c in results["config"]["connections"]]
    fig, ax = plt.subplots(figsize=(9, 5))
    width = 0.8 / max(len(targets), 1)
    rates = []
    for i, target in enumerate(targets):
        values = [target["nonstream"][c]["rps"] for c in connections]
        rates += values
        xs = [j + (i - (len(targets) - 1) / 2) * width for j in range(len(connections))]
        bars = ax.bar(xs, values, width, label=target["name"])
        ax.bar_label(bars, labels=[f"{v:,.0f}" for v in values], fontsize=7, rotation=90, padding=2)
    positive = [r for r in rates if r > 0]
    if positive and max(positive) / min(positive) > _LOG_SCALE_RATIO:
        ax.set_yscale("log")
    ax.set_xticks(range(len(connections)), [f"c={c}" for c in connections])
    ax.set_ylabel("requests/s (non-streaming)")
    ax.set_title(
        f"Throughput on one core (target on CPU {results['config']['target_cpu']}), "
        f"{results['meta']['date']}"
    )
    if targets:
        ax.legend()
    ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
