"""``/admin/keys``: create (the secret is in that response only), list, read, update,
revoke, delete."""

from __future__ import annotations

from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.routing import Call, Reply, Route


async def create(call: Call) -> Reply:
    return Reply(201, await service.create_key(call.store, await call.body(s.KeyCreate)))


async def list_(call: Call) -> Reply:
    return Reply(200, await service.list_keys(call.store, call.query(s.KeyListQuery)))


async def get(call: Call) -> Reply:
    return Reply(200, await service.get_key(call.store, call.params["id"]))


async def update(call: Call) -> Reply:
    patch = await call.body(s.KeyUpdate)
    return Reply(200, await service.update_key(call.store, call.params["id"], patch))


async def revoke(call: Call) -> Reply:
    return Reply(200, await service.revoke_key(call.store, call.params["id"]))


async def delete(call: Call) -> Reply:
    return Reply(200, await service.delete_key(call.store, call.params["id"]))


ROUTES = [
    Route("POST", "/admin/keys", create, "Create a key", "Keys", body=s.KeyCreate,
          response=s.KeyCreated, status=201,
          description="The response carries the secret (`secret`); it is not stored and is "
          "never shown again. Give `expires_at` (UNIX seconds) or `duration` (30s, 15m, 12h, "
          "30d, 2w), or neither for a key that does not expire."),
    Route("GET", "/admin/keys", list_, "List keys", "Keys", query=s.KeyListQuery,
          response=s.KeyPage),
    Route("GET", "/admin/keys/{id}", get, "Read a key", "Keys", response=s.KeyView),
    Route("PATCH", "/admin/keys/{id}", update, "Update a key", "Keys", body=s.KeyUpdate,
          response=s.KeyView,
          description="Fields left out are unchanged; a field sent as null is cleared."),
    Route("POST", "/admin/keys/{id}/revoke", revoke, "Revoke a key", "Keys",
          response=s.KeyView,
          description="The key stops working within a second; its record and spend stay."),
    Route("DELETE", "/admin/keys/{id}", delete, "Delete a key", "Keys", response=s.Deleted),
]  # fmt: skip
