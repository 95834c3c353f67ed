"""``pllm keys|users|groups|usage``: with --local against the database, and over HTTP
against the admin app running under a real Granian process."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from pllm.admin.cli import register
from pllm.cli import stop_child
from pllm.config import load_settings
from pllm.spend.record import SpendRecord
from pllm.store.engine import Store, resolve_url
from pllm.store.spend_store import insert_spend
from tests.admin.conftest import MASTER


def _config(tmp_path: Path, admin_port: int = 8081) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        json.dumps(
            {
                "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
                "general_settings": {
                    "master_key": MASTER,
                    "data_dir": str(tmp_path / "data"),
                    "admin_host": "127.0.0.1",
                    "admin_port": admin_port,
                },
            }
        )
    )
    return path


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str], *common: str) -> None:
        self.capsys = capsys
        self.common = list(common)

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        parser = argparse.ArgumentParser(prog="pllm")
        register(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args([*argv, *self.common])
        rc: int = args.func(args)
        out, err = self.capsys.readouterr()
        return rc, out, err

    def json(self, *argv: str) -> object:
        rc, out, err = self(*argv, "--json")
        assert rc == 0, err
        return json.loads(out)


def _exercise(cli: Cli) -> None:
    """The same session in either mode."""
    rc, out, err = cli("users", "create", "--id", "alice", "--email", "a@x.test", "--rpm", "5")
    assert rc == 0, err
    assert "alice" in out and "a@x.test" in out
    assert (
        cli(
            "groups",
            "create",
            "--id",
            "eng",
            "--name",
            "Engineering",
            "--max-budget",
            "10",
            "--budget-period",
            "monthly",
        )[0]
        == 0
    )
    rc, out, _ = cli("groups", "add-member", "eng", "alice", "--role", "admin")
    assert rc == 0 and "alice" in out and "eng" in out

    rc, out, err = cli(
        "keys",
        "create",
        "--user",
        "alice",
        "--alias",
        "laptop",
        "--duration",
        "30d",
        "--models",
        "m, gpt-4o",
        "--metadata",
        '{"a": 1}',
    )
    assert rc == 0, err
    secret = out.split()[1]
    assert secret.startswith("sk-") and out.count(secret) == 1
    assert "only time" in err
    assert "laptop" in out and "gpt-4o" in out

    created = cli.json("keys", "create", "--role", "admin")
    assert isinstance(created, dict) and created["secret"].startswith("sk-")

    rc, out, _ = cli("keys", "list")
    assert rc == 0
    lines = out.splitlines()
    header = lines[0]
    assert header.split()[:4] == ["ID", "KEY", "ALIAS", "ROLE"]
    laptop = next(line for line in lines if "laptop" in line)
    # Aligned: each column starts where its heading does.
    assert laptop.index("laptop") == header.index("ALIAS")
    assert laptop[header.index("USER") :].startswith("alice")
    assert lines[-1] == "2 of 2 keys"
    assert secret not in out and created["secret"] not in out

    page = cli.json("keys", "list", "--user", "alice")
    assert isinstance(page, dict) and page["total"] == 1
    key_id = page["data"][0]["id"]
    rc, out, _ = cli("keys", "info", key_id)
    assert rc == 0 and "laptop" in out and "expires_at" in out and "Z" in out
    assert cli("keys", "revoke", key_id)[:2] == (0, f"revoked key {key_id}\n")
    assert cli.json("keys", "list")["total"] == 1  # type: ignore[index]
    assert cli.json("keys", "list", "--include-revoked")["total"] == 2  # type: ignore[index]
    assert cli("keys", "delete", key_id)[0] == 0

    rc, out, err = cli("keys", "info", key_id)
    assert rc == 1 and out == "" and "No key with id" in err and "404" in err
    rc, _, err = cli("keys", "create", "--rpm", "0")
    assert rc == 1 and "rpm" in err and "400" in err
    rc, _, err = cli("keys", "create", "--metadata", "{nope")
    assert rc == 1 and "--metadata" in err

    rc, out, _ = cli("users", "list")
    assert rc == 0 and out.splitlines()[0].split()[:3] == ["ID", "EMAIL", "NAME"]
    assert "1 of 1 users" in out
    rc, out, _ = cli("groups", "list")
    assert rc == 0 and "Engineering" in out and "monthly" in out
    assert cli("groups", "remove-member", "eng", "alice")[0] == 0
    assert cli("groups", "remove-member", "eng", "alice")[0] == 1
    assert cli("groups", "delete", "eng")[0] == 0
    assert cli("users", "delete", "alice")[0] == 0
    assert cli.json("users", "list")["total"] == 0  # type: ignore[index]


def _add_spend(config: Path) -> None:
    settings = load_settings(str(config))

    async def write() -> None:
        store = await Store.open(
            resolve_url(settings.general.database_url, settings.general.data_dir)
        )
        try:
            record = SpendRecord(
                request_id="r1",
                ts=time.time(),
                endpoint="chat",
                status=200,
                latency_ms=5.0,
                key_id="k9",
                model="m",
                prompt_tokens=3,
                completion_tokens=4,
                cost=0.25,
            )
            await insert_spend(store, [record])
        finally:
            await store.close()

    asyncio.run(write())


def _check_usage(cli: Cli) -> None:
    rc, out, err = cli("usage", "--group-by", "model")
    assert rc == 0, err
    assert out.splitlines()[0].split() == ["DAY", "ID", "REQUESTS", "PROMPT", "COMPLETION", "COST"]
    assert out.splitlines()[1].split()[1:] == ["m", "1", "3", "4", "0.25"]
    page = cli.json("usage", "--group-by", "key", "--id", "k9")
    assert isinstance(page, dict) and page["data"][0]["cost"] == 0.25
    rc, _, err = cli("usage", "--from", "someday")
    assert rc == 1 and "from" in err


def test_local_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path)
    cli = Cli(capsys, "--local", "--config", str(config))
    _exercise(cli)
    _add_spend(config)
    _check_usage(cli)


def test_local_mode_needs_a_readable_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, _, err = Cli(capsys, "--local", "--config", str(tmp_path / "missing.yaml"))("users", "list")
    assert rc == 1 and "missing.yaml" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def admin_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    config = _config(tmp_path, admin_port=port)
    env = {**os.environ, "PLLM_CONFIG": str(config)}
    granian = Path(sys.executable).parent / "granian"
    log = tmp_path / "server.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [str(granian), "--interface", "asgi", "--factory", "--host", "127.0.0.1", "--port",
             str(port), "--workers", "1", "--log-level", "warning", "pllm.admin.app:create_admin_app"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"admin server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield url, config
    finally:
        stop_child(proc)


def test_http_mode(admin_server: tuple[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    url, config = admin_server
    _exercise(Cli(capsys, "--admin-url", url, "--master-key", MASTER))
    _add_spend(config)
    _check_usage(Cli(capsys, "--admin-url", url, "--master-key", MASTER))

    rc, _, err = Cli(capsys, "--admin-url", url, "--master-key", "wrong")("users", "list")
    assert rc == 1 and "Incorrect API key" in err and "401" in err
    with urllib.request.urlopen(f"{url}/swagger", timeout=5) as r:
        assert b"swagger-ui-bundle.js" in r.read()
    with urllib.request.urlopen(f"{url}/openapi.json", timeout=5) as r:
        assert json.loads(r.read())["paths"]["/key/generate"]


def test_http_mode_defaults_from_config_and_env(
    admin_server: tuple[str, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, config = admin_server
    # The URL comes from the config's admin_host/admin_port, the key from $PLLM_MASTER_KEY.
    monkeypatch.setenv("PLLM_MASTER_KEY", MASTER)
    rc, _, err = Cli(capsys, "--config", str(config))("users", "create", "--id", "zed")
    assert rc == 0, err
    monkeypatch.setenv("PLLM_MASTER_KEY", "wrong")
    assert Cli(capsys, "--config", str(config))("users", "list")[0] == 1


def test_http_mode_unreachable(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    rc, _, err = Cli(capsys, "--admin-url", url, "--master-key", "x")("keys", "list")
    assert rc == 1 and "cannot reach the admin API" in err and "--local" in err


def test_local_mode_works_without_a_master_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whoever can open the database is trusted with it: --local does not need the key that
    # the HTTP API does.
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps({
        "model_list": [{"model_name": "m", "litellm_params": {"model": "mock/m"}}],
        "general_settings": {"data_dir": str(tmp_path / "data")},
    }))  # fmt: skip
    cli = Cli(capsys, "--local", "--config", str(config))
    rc, out, err = cli("keys", "create", "--role", "admin")
    assert rc == 0, err
    assert out.startswith("key:  sk-")
