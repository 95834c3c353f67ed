"""``/admin/keys``: create (the secret is in that response only), list, read, update,
revoke, delete."""

from __future__ import annotations

from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.routing import Route, patch_route, reads_body, reads_id, reads_query

ROUTES = [
    Route("POST", "/admin/keys", reads_body(s.KeyCreate, service.create_key), "Create a key",
          "Keys", body=s.KeyCreate, response=s.KeyCreated, status=201,
          description="The response carries the secret (`secret`); it is not stored and is "
          "never shown again. Give `expires_at` (UNIX seconds) or `duration` (30s, 15m, 12h, "
          "30d, 2w), or neither for a key that does not expire."),
    Route("GET", "/admin/keys", reads_query(s.KeyListQuery, service.list_keys), "List keys",
          "Keys", query=s.KeyListQuery, response=s.KeyPage),
    Route("GET", "/admin/keys/{id}", reads_id(service.get_key), "Read a key", "Keys",
          response=s.KeyView),
    patch_route("/admin/keys/{id}", s.KeyUpdate, service.update_key, "Update a key", "Keys",
                s.KeyView),
    Route("POST", "/admin/keys/{id}/revoke", reads_id(service.revoke_key), "Revoke a key",
          "Keys", response=s.KeyView,
          description="The key stops working within a second; its record and spend stay."),
    Route("DELETE", "/admin/keys/{id}", reads_id(service.delete_key), "Delete a key", "Keys",
          response=s.Deleted),
]  # fmt: skip
