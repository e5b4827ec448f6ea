"""`canteen-central keys ...`: create, list and revoke edge API keys and read tokens.

Credentials are stored hashed in the `credentials` table of central's SQLite database
(`--db`, else CENTRAL_SQLITE_PATH, else the settings' default). A secret is printed once, on
stdout, when it is created; nothing can show it again. Changes take effect at central's next
request: it looks every presented secret up in the table.
"""

import argparse
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from central.credentials import Credential, CredentialError, CredentialStore, Role
from central.registry import Registry, RegistryError, load_registry
from central.settings import CentralSettings

EXIT_USAGE = 2
EXIT_FAILED = 1
DB_HELP = (
    "central's SQLite database (default: CENTRAL_SQLITE_PATH, else "
    f"{CentralSettings.model_fields['sqlite_path'].default})"
)


def add_keys_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    keys = add_command(
        commands,
        "keys",
        "create, list and revoke edge API keys and read tokens",
        __doc__,
        "and to list or revoke [[edges]] keys ",
    )
    actions = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    edge = actions.add_parser(
        "create-edge",
        help="a new API key for an edge; it may write only its site",
        description="Create an API key for an edge. It replaces a key of the same edge id in the "
        "registry's [[edges]] (the credentials table takes precedence).",
    )
    edge.add_argument("--edge", required=True, metavar="ID", help="the edge's id")
    edge.add_argument("--site", required=True, metavar="SITE", help="the only site it may write")
    edge.add_argument("--note", default="", help="free text kept with the key")
    token = actions.add_parser(
        "create-token",
        help="a new read token: admin, viewer of a site, or viewer of a region",
        description="Create a read token for the HTTP API (Authorization: Bearer <token>).",
    )
    token.add_argument("--name", required=True, metavar="NAME", help="unique name of the token")
    add_scope_arguments(token, "the token")
    token.add_argument("--note", default="", help="free text kept with the token")
    listing = actions.add_parser(
        "list", help="list credentials (hashes only), and the registry's edge keys if known"
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    revoke = actions.add_parser(
        "revoke",
        help="revoke the valid key or token of an id (an edge id or a token name)",
        description="Revoke a credential by id. An edge whose key is only in the registry is "
        "revoked too (needs --registry or CENTRAL_REGISTRY_PATH): its key hash is recorded as "
        "revoked, so central refuses it even though the registry still lists it.",
    )
    revoke.add_argument("id", metavar="ID")


def add_command(
    commands: "argparse._SubParsersAction[argparse.ArgumentParser]",
    name: str,
    help_text: str,
    doc: str | None,
    registry_use: str = "",
) -> argparse.ArgumentParser:
    """A sub-command that its module's docstring `doc` describes, with --db and --registry (read
    by database_path and registry_at)."""
    parser = commands.add_parser(
        name, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", type=Path, metavar="PATH", help=DB_HELP)
    parser.add_argument(
        "--registry",
        type=Path,
        metavar="PATH",
        help=f"site registry, to check sites and regions {registry_use}"
        "(default: CENTRAL_REGISTRY_PATH if set)",
    )
    return parser


def database_path(args: argparse.Namespace, environ: Mapping[str, str]) -> Path:
    """`--db`, else CENTRAL_SQLITE_PATH, else the settings' default."""
    return cast(Path | None, args.db) or Path(
        environ.get("CENTRAL_SQLITE_PATH") or CentralSettings.model_fields["sqlite_path"].default
    )


def registry_at(args: argparse.Namespace, environ: Mapping[str, str]) -> Registry | None:
    """The registry of `--registry`, else CENTRAL_REGISTRY_PATH, else None."""
    path = cast(Path | None, args.registry) or (
        Path(environ["CENTRAL_REGISTRY_PATH"]) if environ.get("CENTRAL_REGISTRY_PATH") else None
    )
    return load_registry(path) if path is not None else None


def add_scope_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    """--admin | --site SITE | --region KEY:VALUE, one of them required."""
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--admin", action="store_true", help=f"{what} may read every site")
    scope.add_argument("--site", metavar="SITE", help=f"{what} may read this site only")
    scope.add_argument(
        "--region",
        metavar="KEY:VALUE",
        help=f"{what} may read the sites whose registry region has this tag, "
        "e.g. province:Zhejiang",
    )


def scope_of(args: argparse.Namespace, registry: Registry | None) -> tuple[Role, str]:
    """The role and scope given by add_scope_arguments' options, checked against the registry."""
    if args.admin:
        return Role.ADMIN, ""
    if args.site is not None:
        if registry is not None and registry.site(args.site) is None:
            raise CredentialError(f"site {args.site!r} is not in the registry")
        return Role.SITE, str(args.site)
    scope = str(args.region)
    key, _, value = scope.partition(":")
    if registry is not None and not any(
        site.region.get(key) == value for site in registry.sites.values()
    ):
        print(f"note: no site of the registry has region {scope!r} yet", file=sys.stderr)
    return Role.REGION, scope


def run_keys(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run one `keys` action; environ gives CENTRAL_SQLITE_PATH / CENTRAL_REGISTRY_PATH."""
    db = database_path(args, environ)
    try:
        registry = registry_at(args, environ)
        # Listing only reads: it must not create a database where there was none.
        with CredentialStore(db, read_only=args.action == "list") as store:
            if args.action == "create-edge":
                return _create_edge(store, registry, args.edge, args.site, args.note)
            if args.action == "create-token":
                return _create_token(store, registry, args)
            if args.action == "list":
                return _list(store, registry, as_json=args.json)
            return _revoke(store, registry, args.id)
    except (CredentialError, RegistryError) as exc:
        where = "--db" if args.db else "CENTRAL_SQLITE_PATH"
        hint = f" ({where}; central creates it at its first start)" if not db.exists() else ""
        print(f"canteen-central keys: {exc.reason}{hint}", file=sys.stderr)
        return EXIT_FAILED


def _create_edge(
    store: CredentialStore, registry: Registry | None, edge: str, site: str, note: str
) -> int:
    if registry is not None and registry.site(site) is None:
        raise CredentialError(f"site {site!r} is not in the registry")
    if registry is None:
        print("note: no registry given; the site id is not checked", file=sys.stderr)
    created = store.create(edge, Role.EDGE, site, note=note)
    print(
        f"# API key of edge {edge!r} for site {site!r}: set it as the edge's EDGE_API_KEY. "
        "It is shown only now.",
        file=sys.stderr,
    )
    print(created.secret)
    return 0


def _create_token(
    store: CredentialStore, registry: Registry | None, args: argparse.Namespace
) -> int:
    role, scope = scope_of(args, registry)
    created = store.create(args.name, role, scope, note=args.note)
    print(
        f"# read token {args.name!r} ({role.value}{' ' + scope if scope else ''}): "
        "send it as 'Authorization: Bearer <token>'. It is shown only now.",
        file=sys.stderr,
    )
    print(created.secret)
    return 0


def utc_text(ms: int | None) -> str:
    """Epoch ms as a UTC time for a listing ('-' for none)."""
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def print_rows(rows: list[dict[str, str]], columns: tuple[str, ...], *, as_json: bool) -> None:
    """A listing: one JSON object per row, or a table of `columns` under an upper-case header."""
    if as_json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    print("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for row in rows:
        print("  ".join(row[c].ljust(widths[c]) for c in columns).rstrip())


def _row(credential: Credential, source: str, status: str) -> dict[str, str]:
    return {
        "id": credential.id,
        "role": credential.role.value,
        "scope": credential.scope,
        "status": status,
        "source": source,
        "created": utc_text(credential.created_ms),
        "revoked": utc_text(credential.revoked_ms),
        "sha256": credential.secret_sha256[:12],
        "note": credential.note,
    }


def _list(store: CredentialStore, registry: Registry | None, *, as_json: bool) -> int:
    stored = store.all()
    rows = [_row(c, "table", "revoked" if c.revoked else "valid") for c in stored]
    if registry is not None:
        for edge in registry.edges:
            managed = any(c.id == edge.id for c in stored)
            revoked = any(c.secret_sha256 == edge.key_sha256 and c.revoked for c in stored)
            status = "revoked" if revoked else ("superseded" if managed else "valid")
            entry = Credential(edge.id, Role.EDGE, edge.site, edge.key_sha256, 0)
            row = _row(entry, "registry", status)
            row["created"] = "-"
            rows.append(row)
    columns = ("id", "role", "scope", "status", "source", "created", "revoked", "sha256")
    print_rows(rows, columns, as_json=as_json)
    return 0


def _revoke(store: CredentialStore, registry: Registry | None, credential_id: str) -> int:
    try:
        revoked = store.revoke(credential_id)
    except CredentialError:
        edge = (
            None
            if registry is None
            else next((e for e in registry.edges if e.id == credential_id), None)
        )
        if edge is None:
            hint = "" if registry is not None else " (pass --registry to revoke a registry key)"
            raise CredentialError(f"no valid credential with id {credential_id!r}{hint}") from None
        if store.by_secret_sha256(edge.key_sha256) is not None:
            raise CredentialError(
                f"the registry key of edge {credential_id!r} is already revoked"
            ) from None
        revoked = store.add_revoked(edge.id, Role.EDGE, edge.site, edge.key_sha256)
        print(
            f"revoked the registry key of edge {edge.id!r} (remove its [[edges]] entry from the "
            "registry when convenient)",
            file=sys.stderr,
        )
    else:
        print(f"revoked {revoked.role.value} credential {revoked.id!r}", file=sys.stderr)
    return 0
