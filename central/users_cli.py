"""`canteen-central users ...`: add dashboard users, reset their passwords, list and disable them.

Users live in central's SQLite database (`--db`, else CENTRAL_SQLITE_PATH, else the settings'
default), with the same roles and scopes as read tokens. A password is never an argument (it
would show in the process list and the shell's history): it is asked for twice on a terminal,
or read as the first line of stdin (`printf '%s\\n' "$PW" | canteen-central users add ...`).
Changes take effect at central's next request: `passwd` and `disable` end the user's sessions.
"""

import argparse
import getpass
import sys
from collections.abc import Mapping
from typing import TextIO

from central.credentials import CredentialError
from central.keys_cli import (
    EXIT_FAILED,
    add_command,
    add_scope_arguments,
    database_path,
    print_rows,
    registry_at,
    scope_of,
    utc_text,
)
from central.registry import RegistryError
from central.users import User, UserError, UserStore, check_password


def add_users_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    users = add_command(
        commands, "users", "add, list and disable dashboard users; reset passwords", __doc__
    )
    actions = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser(
        "add",
        help="a new user: admin, viewer of a site, or viewer of a region",
        description="Add a dashboard user; the password is asked for (or read from stdin).",
    )
    add.add_argument("name", metavar="NAME", help="the user's sign-in name")
    add_scope_arguments(add, "the user")
    passwd = actions.add_parser(
        "passwd",
        help="set a new password (ends the user's sessions, lifts a lockout, enables the user)",
    )
    passwd.add_argument("name", metavar="NAME")
    listing = actions.add_parser("list", help="list users with role, scope and state")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    disable = actions.add_parser(
        "disable", help="refuse the user's sign-ins and end its sessions (passwd enables again)"
    )
    disable.add_argument("name", metavar="NAME")


def read_password(stdin: TextIO) -> str:
    """A new password: asked twice on a terminal, else the first line of stdin."""
    if stdin.isatty():
        first = getpass.getpass("new password: ")
        check_password(first)
        if getpass.getpass("again: ") != first:
            raise UserError("the two passwords differ")
        return first
    line = stdin.readline().rstrip("\r\n")
    if not line:
        raise UserError("no password on stdin (give it as the first line)")
    return check_password(line)


def run_users(args: argparse.Namespace, environ: Mapping[str, str], stdin: TextIO) -> int:
    """Run one `users` action; environ gives CENTRAL_SQLITE_PATH / CENTRAL_REGISTRY_PATH."""
    db = database_path(args, environ)
    if args.action == "list" and not db.exists():  # listing only reads: it creates nothing
        where = "--db" if args.db else "CENTRAL_SQLITE_PATH"
        print(f"canteen-central users: no database at {db} ({where})", file=sys.stderr)
        return EXIT_FAILED
    try:
        registry = registry_at(args, environ)
        with UserStore(db) as store:
            if args.action == "add":
                role, scope = scope_of(args, registry)
                user = store.add(args.name, role, scope, read_password(stdin))
                print(f"added {_describe(user)}", file=sys.stderr)
            elif args.action == "passwd":
                if store.get(args.name) is None:  # before asking for a password
                    raise UserError(f"no user {args.name!r}")
                user = store.set_password(args.name, read_password(stdin))
                print(f"new password for {_describe(user)}; its sessions ended", file=sys.stderr)
            elif args.action == "disable":
                user = store.disable(args.name)
                print(f"disabled {_describe(user)}; its sessions ended", file=sys.stderr)
            else:
                _list(store.all(), as_json=args.json)
    except (UserError, CredentialError, RegistryError) as exc:
        print(f"canteen-central users: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    return 0


def _describe(user: User) -> str:
    scope = f" {user.scope}" if user.scope else ""
    return f"user {user.name!r} ({user.role.value}{scope})"


def _list(users: list[User], *, as_json: bool) -> None:
    rows = [
        {
            "name": u.name,
            "role": u.role.value,
            "scope": u.scope,
            "status": "disabled" if u.disabled else "enabled",
            "created": utc_text(u.created_ms),
            "password_changed": utc_text(u.password_changed_ms),
            "disabled": utc_text(u.disabled_ms),
        }
        for u in users
    ]
    columns = ("name", "role", "scope", "status", "created", "password_changed")
    print_rows(rows, columns, as_json=as_json)
