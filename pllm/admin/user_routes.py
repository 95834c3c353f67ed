"""``/admin/users`` and ``/admin/groups`` with memberships; ``/admin/teams`` is the same set
of routes under LiteLLM's name for groups."""

from __future__ import annotations

from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.routing import Call, Reply, Route


async def create_user(call: Call) -> Reply:
    return Reply(201, await service.create_user(call.store, await call.body(s.UserCreate)))


async def list_users(call: Call) -> Reply:
    return Reply(200, await service.list_users(call.store, call.query(s.PageQuery)))


async def get_user(call: Call) -> Reply:
    return Reply(200, await service.get_user(call.store, call.params["id"]))


async def update_user(call: Call) -> Reply:
    patch = await call.body(s.UserUpdate)
    return Reply(200, await service.update_user(call.store, call.params["id"], patch))


async def delete_user(call: Call) -> Reply:
    return Reply(200, await service.delete_user(call.store, call.params["id"]))


async def create_group(call: Call) -> Reply:
    return Reply(201, await service.create_group(call.store, await call.body(s.GroupCreate)))


async def list_groups(call: Call) -> Reply:
    return Reply(200, await service.list_groups(call.store, call.query(s.PageQuery)))


async def get_group(call: Call) -> Reply:
    return Reply(200, await service.get_group(call.store, call.params["id"]))


async def update_group(call: Call) -> Reply:
    patch = await call.body(s.GroupUpdate)
    return Reply(200, await service.update_group(call.store, call.params["id"], patch))


async def delete_group(call: Call) -> Reply:
    return Reply(200, await service.delete_group(call.store, call.params["id"]))


async def list_members(call: Call) -> Reply:
    return Reply(200, await service.list_members(call.store, call.params["id"]))


async def add_member(call: Call) -> Reply:
    spec = await call.body(s.MemberAdd)
    return Reply(201, await service.add_member(call.store, call.params["id"], spec))


async def remove_member(call: Call) -> Reply:
    group, user = call.params["id"], call.params["user_id"]
    return Reply(200, await service.remove_member(call.store, group, user))


def _group_routes(base: str, tag: str) -> list[Route]:
    noun = "team" if tag == "Teams" else "group"
    return [
        Route("POST", base, create_group, f"Create a {noun}", tag, body=s.GroupCreate,
              response=s.GroupView, status=201,
              description="`id` is generated when left out."),
        Route("GET", base, list_groups, f"List {noun}s", tag, query=s.PageQuery,
              response=s.GroupPage),
        Route("GET", f"{base}/{{id}}", get_group, f"Read a {noun}", tag, response=s.GroupView),
        Route("PATCH", f"{base}/{{id}}", update_group, f"Update a {noun}", tag,
              body=s.GroupUpdate, response=s.GroupView,
              description="Fields left out are unchanged; a field sent as null is cleared."),
        Route("DELETE", f"{base}/{{id}}", delete_group, f"Delete a {noun}", tag,
              response=s.Deleted,
              description="Memberships go with it; its keys stay, without a group."),
        Route("GET", f"{base}/{{id}}/members", list_members, f"List a {noun}'s members", tag,
              response=s.MemberList),
        Route("POST", f"{base}/{{id}}/members", add_member, f"Add a user to a {noun}", tag,
              body=s.MemberAdd, response=s.MemberView, status=201),
        Route("DELETE", f"{base}/{{id}}/members/{{user_id}}", remove_member,
              f"Remove a user from a {noun}", tag, response=s.Deleted),
    ]  # fmt: skip


ROUTES = [
    Route("POST", "/admin/users", create_user, "Create a user", "Users", body=s.UserCreate,
          response=s.UserView, status=201, description="`id` is generated when left out."),
    Route("GET", "/admin/users", list_users, "List users", "Users", query=s.PageQuery,
          response=s.UserPage),
    Route("GET", "/admin/users/{id}", get_user, "Read a user, with their groups", "Users",
          response=s.UserDetail),
    Route("PATCH", "/admin/users/{id}", update_user, "Update a user", "Users",
          body=s.UserUpdate, response=s.UserView,
          description="Fields left out are unchanged; a field sent as null is cleared."),
    Route("DELETE", "/admin/users/{id}", delete_user, "Delete a user", "Users",
          response=s.Deleted,
          description="Memberships go with them; their keys stay, without an owner."),
    *_group_routes("/admin/groups", "Groups"),
    *_group_routes("/admin/teams", "Teams"),
]  # fmt: skip
