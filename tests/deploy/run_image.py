"""Runs the image's entrypoint as the image's user inside a fresh network namespace (so that the
image's own ports, 8080 and 8081, are free whatever else runs on the machine), runs the image's
HEALTHCHECK command until it passes, checks the API and the drain on SIGTERM, and prints the
findings as one JSON object. Started by test_image_steps.py as ``unshare -n python run_image.py
SPEC.json``; the spec names argv, env, uid, gid, cwd and the health check command."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any


def _as_user(spec: dict[str, Any]) -> dict[str, Any]:
    return {"user": spec["uid"], "group": spec["gid"], "extra_groups": []}


def _health(spec: dict[str, Any]) -> int:
    done = subprocess.run(
        spec["healthcheck"], env=spec["env"], timeout=5, capture_output=True, **_as_user(spec)
    )
    return done.returncode


def _get(url: str, body: bytes | None = None, key: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body)
    if key:
        request.add_header("authorization", f"Bearer {key}")
    if body is not None:
        request.add_header("content-type", "application/json")
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(request, timeout=5) as reply:
                return reply.status, reply.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except urllib.error.URLError:
            # Each listener opens on its own; give a late one a moment, then report it as 0.
            if time.monotonic() > deadline:
                return 0, b""
            time.sleep(0.2)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    found: dict[str, Any] = {}
    log = Path(spec["log"]).open("wb")  # noqa: SIM115 (closed in the finally below)
    proc = subprocess.Popen(
        spec["argv"],
        env=spec["env"],
        cwd=spec["cwd"],
        stdout=log,
        stderr=subprocess.STDOUT,
        **_as_user(spec),
    )
    try:
        started = time.monotonic()
        healthy = False
        while time.monotonic() - started < 60 and proc.poll() is None:
            if _health(spec) == 0:
                healthy = True
                break
            time.sleep(0.25)
        found["healthy"] = healthy
        found["seconds_to_healthy"] = round(time.monotonic() - started, 2)
        status = Path(f"/proc/{proc.pid}/status").read_text() if proc.poll() is None else ""
        uids = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
        found["uids"] = [int(u) for u in uids[0]] if uids else []
        if healthy:
            # /ready turns 200 once startup (the store, the spend writer) is done.
            until = time.monotonic() + 30
            while True:
                found["ready"], ready_body = _get("http://127.0.0.1:8080/ready")
                if found["ready"] == 200 or time.monotonic() > until:
                    break
                time.sleep(0.25)
            found["ready_body"] = ready_body.decode(errors="replace")[:300]
            code, body = _get(
                "http://127.0.0.1:8080/v1/chat/completions",
                json.dumps(
                    {"model": "mock-instant", "messages": [{"role": "user", "content": "hi"}]}
                ).encode(),
                key=spec["key"],
            )
            found["chat"] = code
            found["chat_object"] = json.loads(body).get("object") if code == 200 else None
            # The admin API listens on the image's PLLM_ADMIN_HOST (0.0.0.0), port 8081.
            found["admin_health"] = _get("http://127.0.0.1:8081/health", key=spec["key"])[0]
            found["metrics"] = _get("http://127.0.0.1:9090/metrics")[0]
        proc.send_signal(signal.SIGTERM)
        found["exit_code"] = proc.wait(timeout=60)
        found["health_after_exit"] = _health(spec)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    print(json.dumps(found))


if __name__ == "__main__":
    main()
