"""``pllm keys|users|groups|usage``: the admin API from the command line.

Commands talk to a running admin API over HTTP (``--admin-url``, ``--master-key``), or with
``--local`` open the config's database and run the same routes in this process. Output is
aligned tables for people, or the API's JSON with ``--json``.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from pllm.admin.cli_backend import Backend, CliError, open_backend, record, table
from pllm.principal import BUDGET_PERIODS, LIMIT_FIELDS, ROLES, LimitKind

Command = Callable[[argparse.Namespace, Backend], Any]

_KEY_COLUMNS = [
    ("ID", "id"), ("KEY", "key"), ("ALIAS", "alias"), ("ROLE", "role"), ("USER", "user_id"),
    ("GROUP", "group_id"), ("MODELS", "allowed_models"), ("RPM", "rpm"), ("TPM", "tpm"),
    ("BUDGET", "max_budget"), ("PERIOD", "budget_period"), ("EXPIRES", "expires_at"),
    ("REVOKED", "revoked_at"),
]  # fmt: skip
_USER_COLUMNS = [
    ("ID", "id"), ("EMAIL", "email"), ("NAME", "name"), ("ROLE", "role"), ("RPM", "rpm"),
    ("TPM", "tpm"), ("BUDGET", "max_budget"), ("PERIOD", "budget_period"),
]  # fmt: skip
_GROUP_COLUMNS = [
    ("ID", "id"), ("NAME", "name"), ("MODELS", "allowed_models"), ("RPM", "rpm"),
    ("TPM", "tpm"), ("BUDGET", "max_budget"), ("PERIOD", "budget_period"),
]  # fmt: skip
_USAGE_COLUMNS = [
    ("DAY", "day"), ("ID", "id"), ("REQUESTS", "requests"), ("PROMPT", "prompt_tokens"),
    ("COMPLETION", "completion_tokens"), ("COST", "cost"),
]  # fmt: skip


def _when(row: dict[str, Any]) -> dict[str, Any]:
    """UNIX-second fields as UTC times, for people."""
    out = dict(row)
    for name, value in row.items():
        if name.endswith("_at") and isinstance(value, int | float):
            moment = datetime.datetime.fromtimestamp(value, datetime.UTC)
            out[name] = moment.strftime("%Y-%m-%d %H:%M:%SZ")
    return out


def _given(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    """The options among ``names`` that were given: the API has the defaults of the others."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _limits(args: argparse.Namespace) -> dict[str, Any]:
    """The limit and budget options that were given (see _limit_options)."""
    body: dict[str, Any] = {}
    if args.models is not None:
        body["allowed_models"] = [m.strip() for m in args.models.split(",") if m.strip()]
    body.update(_given(args, [f.name for f in LIMIT_FIELDS if f.kind != "models"]))
    if args.metadata is not None:
        try:
            body["metadata"] = msgspec.json.decode(args.metadata)
        except msgspec.DecodeError as e:
            raise CliError(f"--metadata is not valid JSON ({e})") from None
    return body


# ---------------------------------------------------------------- commands


def keys_create(args: argparse.Namespace, api: Backend) -> Any:
    body = {**_limits(args), **_given(args, ("alias", "user_id", "group_id", "role", "duration"))}
    result = api.call("POST", "/admin/keys", body=body)
    if not args.json:
        print(f"key:  {result['secret']}")
        print("      (this is the only time the key is shown: store it now)", file=sys.stderr)
        print(record(_when(result["key"])))
    return result


def keys_list(args: argparse.Namespace, api: Backend) -> Any:
    query = {
        "user_id": args.user_id,
        "group_id": args.group_id,
        "include_revoked": args.include_revoked or None,
        "limit": args.limit,
        "offset": args.offset,
    }
    page = api.call("GET", "/admin/keys", query=query)
    if not args.json:
        print(table([_when(r) for r in page["data"]], _KEY_COLUMNS))
        print(f"{len(page['data'])} of {page['total']} keys")
    return page


def _show(path: str) -> Command:
    def run(args: argparse.Namespace, api: Backend) -> Any:
        result = api.call("GET", path.format(id=args.id))
        if not args.json:
            print(record(_when(result)))
        return result

    return run


def _action(method: str, path: str, done: str) -> Command:
    def run(args: argparse.Namespace, api: Backend) -> Any:
        result = api.call(method, path.format(**vars(args)))
        if not args.json:
            print(done.format(**vars(args)))
        return result

    return run


def _creator(path: str, fields: Sequence[str]) -> Command:
    def run(args: argparse.Namespace, api: Backend) -> Any:
        result = api.call("POST", path, body={**_limits(args), **_given(args, fields)})
        if not args.json:
            print(record(_when(result)))
        return result

    return run


def _lister(path: str, columns: list[tuple[str, str]], noun: str) -> Command:
    def run(args: argparse.Namespace, api: Backend) -> Any:
        page = api.call("GET", path, query={"limit": args.limit, "offset": args.offset})
        if not args.json:
            print(table([_when(r) for r in page["data"]], columns))
            print(f"{len(page['data'])} of {page['total']} {noun}")
        return page

    return run


def groups_add_member(args: argparse.Namespace, api: Backend) -> Any:
    body = {"user_id": args.user_id, "role": args.role}
    result = api.call("POST", f"/admin/groups/{args.group_id}/members", body=body)
    if not args.json:
        print(f"{args.user_id} is now a {args.role} of group {args.group_id}")
    return result


def usage(args: argparse.Namespace, api: Backend) -> Any:
    query = {
        "group_by": args.group_by,
        "id": args.id,
        "from": args.since,
        "to": args.until,
        "limit": args.limit,
        "offset": args.offset,
    }
    page = api.call("GET", "/admin/usage", query=query)
    if not args.json:
        print(table(page["data"], _USAGE_COLUMNS))
        total = sum(r["cost"] for r in page["data"])
        print(f"{page['from']} .. {page['to']} by {page['group_by']}: ${total:.4f} on this page")
    return page


# ---------------------------------------------------------------- argparse


def _common() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--admin-url",
        help="admin API base URL (default: from the config's admin_host/admin_port, "
        "else http://127.0.0.1:8081)",
    )
    p.add_argument("--master-key", help="credential (default: $PLLM_MASTER_KEY)")
    p.add_argument(
        "--local", action="store_true", help="use the config's database directly, not the API"
    )
    p.add_argument("--config", help="config file (default: $PLLM_CONFIG or config.yaml)")
    p.add_argument("--json", action="store_true", help="print the API's JSON")
    return p


# How each kind of limit is typed on the command line.
_OPTION: dict[LimitKind, dict[str, Any]] = {
    "count": {"type": int},
    "money": {"type": float},
    "period": {"choices": BUDGET_PERIODS},
}


def _limit_options(p: argparse.ArgumentParser) -> None:
    """An option per field of LIMIT_FIELDS (``--max-budget`` for max_budget); the model
    list is ``--models``, comma-separated."""
    for f in LIMIT_FIELDS:
        if f.kind == "models":
            p.add_argument("--models", help=f"{f.meaning}; comma-separated")
        else:
            p.add_argument("--" + f.name.replace("_", "-"), help=f.meaning, **_OPTION[f.kind])
    p.add_argument("--metadata", help="a JSON object kept with the entity")


def _page_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--offset", type=int, default=0)


def _add(
    sub: Any, name: str, help: str, run: Command, common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, parents=[common])
    p.set_defaults(func=_runner(run))
    return p


def _runner(run: Command) -> Callable[[argparse.Namespace], int]:
    def main(args: argparse.Namespace) -> int:
        try:
            with open_backend(
                local=args.local,
                config=args.config,
                admin_url=args.admin_url,
                master_key=args.master_key,
            ) as api:
                result = run(args, api)
        except CliError as e:
            print(f"pllm: {e}", file=sys.stderr)
            return 1
        if args.json:
            print(msgspec.json.format(msgspec.json.encode(result)).decode())
        return 0

    return main


def _entity_commands(
    subparsers: Any,
    common: argparse.ArgumentParser,
    noun: str,
    help: str,
    columns: list[tuple[str, str]],
    options: list[tuple[str, dict[str, Any]]],
) -> Any:
    """``pllm users`` or ``pllm groups`` with the ``create`` and ``list`` they share; create
    takes ``--id``, the ``options`` of that entity (sent under their own names) and the
    limit options."""
    plural = f"{noun}s"
    sub = subparsers.add_parser(plural, help=help).add_subparsers(
        dest=f"{plural}_command", required=True
    )
    fields = ["id", *(flag.removeprefix("--") for flag, _ in options)]
    p = _add(sub, "create", f"create a {noun}", _creator(f"/admin/{plural}", fields), common)
    p.add_argument("--id", help=f"{noun} id (default: generated)")
    for flag, settings in options:
        p.add_argument(flag, **settings)
    _limit_options(p)
    lister = _lister(f"/admin/{plural}", columns, plural)
    _page_options(_add(sub, "list", f"list {plural}", lister, common))
    return sub


def _delete(sub: Any, noun: str, help: str, common: argparse.ArgumentParser) -> None:
    run = _action("DELETE", f"/admin/{noun}s/{{id}}", f"deleted {noun} {{id}}")
    _add(sub, "delete", help, run, common).add_argument("id")


def register(subparsers: Any) -> None:
    """Adds ``keys``, ``users``, ``groups`` and ``usage`` to ``pllm``'s subcommands."""
    common = _common()

    keys = subparsers.add_parser("keys", help="manage virtual keys").add_subparsers(
        dest="keys_command", required=True
    )
    p = _add(keys, "create", "create a key (its secret is printed once)", keys_create, common)
    p.add_argument("--alias", help="a name to tell the key apart")
    p.add_argument("--user", dest="user_id", help="owner user id")
    p.add_argument("--group", dest="group_id", help="group id whose limits and budget apply")
    p.add_argument("--role", choices=ROLES, help="default: member")
    p.add_argument("--duration", help="lifetime, e.g. 30d, 12h, 2w (default: no expiry)")
    _limit_options(p)
    p = _add(keys, "list", "list keys", keys_list, common)
    p.add_argument("--user", dest="user_id")
    p.add_argument("--group", dest="group_id")
    p.add_argument("--include-revoked", action="store_true")
    _page_options(p)
    _add(keys, "info", "show one key", _show("/admin/keys/{id}"), common).add_argument("id")
    _add(
        keys, "revoke", "revoke a key (kept for the record)",
        _action("POST", "/admin/keys/{id}/revoke", "revoked key {id}"), common,
    ).add_argument("id")  # fmt: skip
    _delete(keys, "key", "delete a key", common)

    role = {"choices": ROLES, "help": "default: member"}
    options = [("--email", {}), ("--name", {}), ("--role", role)]
    users = _entity_commands(subparsers, common, "user", "manage users", _USER_COLUMNS, options)
    _delete(users, "user", "delete a user (their keys are revoked)", common)

    groups = _entity_commands(
        subparsers, common, "group", "manage groups (teams)", _GROUP_COLUMNS, [("--name", {})]
    )
    p = _add(groups, "add-member", "add a user to a group", groups_add_member, common)
    p.add_argument("group_id")
    p.add_argument("user_id")
    p.add_argument("--role", choices=("admin", "member"), default="member")
    p = _add(
        groups, "remove-member", "remove a user from a group",
        _action("DELETE", "/admin/groups/{group_id}/members/{user_id}",
                "removed {user_id} from group {group_id}"), common,
    )  # fmt: skip
    p.add_argument("group_id")
    p.add_argument("user_id")
    _delete(groups, "group", "delete a group", common)

    p = _add(subparsers, "usage", "daily usage and spend", usage, common)
    p.add_argument("--group-by", choices=("key", "user", "group", "model"), default="key")
    p.add_argument("--id", help="only this key, user, group or model")
    p.add_argument("--from", dest="since", help="first day, YYYY-MM-DD (default: 30 days ago)")
    p.add_argument("--to", dest="until", help="last day, YYYY-MM-DD (default: today)")
    _page_options(p)
