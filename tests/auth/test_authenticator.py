"""The Authenticator against a real SQLite store: single-flight cold loads, revision-driven
refresh (revocation, limit changes), expiry, and the store-down rules (known keys keep
working, unknown ones get 503)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pllm.auth.authenticator import Authenticator
from pllm.auth.keys import generate_key
from pllm.config.schema import GeneralSettings
from pllm.errors import GatewayError
from pllm.principal import Principal
from pllm.store import principals as repo
from pllm.store.engine import Store, StoreUnavailable
from pllm.store.migrate import upgrade

MASTER = "sk-master-unit"


def run(test: Callable[[Store, Authenticator], Awaitable[None]], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'pllm.db'}"
    upgrade(url)

    async def main() -> None:
        store = await Store.open(url)
        auth = Authenticator(GeneralSettings(master_key=MASTER, auth_refresh_interval=0.05))
        auth.attach(store)
        try:
            await test(store, auth)
        finally:
            await auth.stop()
            await store.close()

    asyncio.run(main())


def bearer(secret: str) -> dict[bytes, bytes]:
    return {b"authorization": f"Bearer {secret}".encode()}


async def new_key(store: Store, **fields: Any) -> tuple[str, str]:
    key = generate_key()
    row = await repo.create_key(store, **key.stored(), **fields)
    return key.secret, row.id


async def status_of(auth: Authenticator, headers: dict[bytes, bytes]) -> int | Principal:
    try:
        return await auth.authenticate(headers)
    except GatewayError as e:
        return e.status


def test_master_missing_and_unknown(tmp_path: Path) -> None:
    async def body(store: Store, auth: Authenticator) -> None:
        master = await auth.authenticate(bearer(MASTER))
        assert master.role == "admin" and master.kind == "master"
        assert await status_of(auth, {}) == 401
        assert await status_of(auth, bearer("sk-unknown")) == 401
        assert await status_of(auth, {b"x-api-key": MASTER.encode()}) == master

    run(body, tmp_path)


def test_cold_key_loads_once_under_a_burst(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = repo.auth_lookup

    async def counting(store: Store, hashes: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)  # a slow database: the burst arrives while it loads
        return await real(store, hashes)

    monkeypatch.setattr(repo, "auth_lookup", counting)

    async def body(store: Store, auth: Authenticator) -> None:
        secret, key_id = await new_key(store, user_id=None, rpm=5)
        got = await asyncio.gather(*(auth.authenticate(bearer(secret)) for _ in range(100)))
        assert {p.key_id for p in got} == {key_id}
        assert calls == 1
        assert got[0].limits[0] == (f"key:{key_id}", 5, None, None)

    run(body, tmp_path)


def test_revision_refresh_revokes_and_updates(tmp_path: Path) -> None:
    async def body(store: Store, auth: Authenticator) -> None:
        secret, key_id = await new_key(store, rpm=5)
        other, _ = await new_key(store)
        assert (await auth.authenticate(bearer(secret))).limits[0].rpm == 5
        await auth.authenticate(bearer(other))
        auth.start()
        await repo.update_key(store, key_id, rpm=7)
        deadline = time.monotonic() + 1
        while (await auth.authenticate(bearer(secret))).limits[0].rpm != 7:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        await repo.revoke_key(store, key_id)
        deadline = time.monotonic() + 1
        while await status_of(auth, bearer(secret)) != 401:
            assert time.monotonic() < deadline, "revocation not seen within a second"
            await asyncio.sleep(0.01)
        assert isinstance(await status_of(auth, bearer(other)), Principal)

    run(body, tmp_path)


def test_expired_keys_and_inherited_models(tmp_path: Path) -> None:
    async def body(store: Store, auth: Authenticator) -> None:
        expired, _ = await new_key(store, expires_at=time.time() - 1)
        assert await status_of(auth, bearer(expired)) == 401
        await repo.create_group(store, id="g1", allowed_models=["a", "b"], max_budget=5.0)
        await repo.create_user(store, id="u1", allowed_models=["b", "c"])
        await repo.add_member(store, "g1", "u1")
        secret, _ = await new_key(store, user_id="u1")
        p = await auth.authenticate(bearer(secret))
        assert p.allowed_models == frozenset({"b"})  # the intersection: never wider
        assert p.group_ids == ("g1",)
        assert [b.entity for b in p.budgets] == ["group:g1"]

    run(body, tmp_path)


def test_store_down_known_keys_work_unknown_get_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(store: Store, auth: Authenticator) -> None:
        known, _ = await new_key(store)
        cold, _ = await new_key(store)
        await auth.authenticate(bearer(known))

        async def down(*_: Any) -> Any:
            raise StoreUnavailable("database unreachable")

        monkeypatch.setattr(repo, "auth_lookup", down)
        monkeypatch.setattr(repo, "revision", down)
        with pytest.raises(StoreUnavailable):
            await auth.refresh()
        assert isinstance(await status_of(auth, bearer(known)), Principal)
        assert await status_of(auth, bearer(cold)) == 503
        assert await status_of(auth, bearer("sk-never")) == 503

    run(body, tmp_path)
