"""``/admin/users`` and ``/admin/groups`` with memberships; ``/admin/teams`` is the same set
of routes under LiteLLM's name for groups."""

from __future__ import annotations

from pllm.admin import schemas as s
from pllm.admin import service
from pllm.admin.routing import (
    Call,
    Reply,
    Route,
    patch_route,
    reads_body,
    reads_id,
    reads_id_and_body,
    reads_query,
)


async def remove_member(call: Call) -> Reply:
    group, user = call.params["id"], call.params["user_id"]
    return Reply(200, await service.remove_member(call.store, group, user))


def _group_routes(base: str, tag: str) -> list[Route]:
    noun = "team" if tag == "Teams" else "group"
    return [
        Route("POST", base, reads_body(s.GroupCreate, service.create_group), f"Create a {noun}",
              tag, body=s.GroupCreate, response=s.GroupView, status=201,
              description="`id` is generated when left out."),
        Route("GET", base, reads_query(s.PageQuery, service.list_groups), f"List {noun}s", tag,
              query=s.PageQuery, response=s.GroupPage),
        Route("GET", f"{base}/{{id}}", reads_id(service.get_group), f"Read a {noun}", tag,
              response=s.GroupView),
        patch_route(f"{base}/{{id}}", s.GroupUpdate, service.update_group, f"Update a {noun}",
                    tag, s.GroupView),
        Route("DELETE", f"{base}/{{id}}", reads_id(service.delete_group), f"Delete a {noun}",
              tag, response=s.Deleted,
              description="Memberships go with it; its keys are revoked."),
        Route("GET", f"{base}/{{id}}/members", reads_id(service.list_members),
              f"List a {noun}'s members", tag, response=s.MemberList),
        Route("POST", f"{base}/{{id}}/members",
              reads_id_and_body(s.MemberAdd, service.add_member, status=201),
              f"Add a user to a {noun}", tag, body=s.MemberAdd, response=s.MemberView,
              status=201),
        Route("DELETE", f"{base}/{{id}}/members/{{user_id}}", remove_member,
              f"Remove a user from a {noun}", tag, response=s.Deleted),
    ]  # fmt: skip


ROUTES = [
    Route("POST", "/admin/users", reads_body(s.UserCreate, service.create_user), "Create a user",
          "Users", body=s.UserCreate, response=s.UserView, status=201,
          description="`id` is generated when left out."),
    Route("GET", "/admin/users", reads_query(s.PageQuery, service.list_users), "List users",
          "Users", query=s.PageQuery, response=s.UserPage),
    Route("GET", "/admin/users/{id}", reads_id(service.get_user),
          "Read a user, with their groups", "Users", response=s.UserDetail),
    patch_route("/admin/users/{id}", s.UserUpdate, service.update_user, "Update a user", "Users",
                s.UserView),
    Route("DELETE", "/admin/users/{id}", reads_id(service.delete_user), "Delete a user",
          "Users", response=s.Deleted,
          description="Memberships go with them; their keys are revoked."),
    *_group_routes("/admin/groups", "Groups"),
    *_group_routes("/admin/teams", "Teams"),
]  # fmt: skip
