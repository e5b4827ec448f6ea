"""`canteen-central`: serve the API, manage keys, tokens and users, mint a registry edge key,
back up and restore the SQLite database, or prune its raw readings."""

import argparse
import gc
import logging
import os
import re
import secrets
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from central.auth import key_sha256
from central.backup import add_backup_parsers, run_backup_command
from central.errors import CentralError
from central.keys_cli import add_keys_parser, run_keys
from central.registry import RegistryError
from central.retention_cli import add_prune_parser, run_prune
from central.settings import CentralSettings
from central.users_cli import add_users_parser, run_users
from contract.settings_cli import error_lines, settings_epilog
from contract.topics import ID_PATTERN

_ID_RE = re.compile(f"^{ID_PATTERN}$")
KEY_BYTES = 32  # 256 bits of randomness from the secrets module


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canteen-central",
        description="Central service of the smart canteen: ingest edge batches, serve KPIs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve = commands.add_parser(
        "serve",
        help="run the HTTP API (settings from CENTRAL_* variables)",
        description="Run the HTTP API with one uvicorn worker. Settings come from CENTRAL_* "
        "environment variables, and from --env-file (dotenv) for those not set.",
        epilog=settings_epilog(CentralSettings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--env-file", type=Path, metavar="PATH", help="dotenv file of CENTRAL_*")
    key = commands.add_parser(
        "new-edge-key",
        help="print a fresh API key and the [[edges]] block for the registry",
        description="Print a fresh random API key for an edge, then the [[edges]] TOML block "
        "holding only its SHA-256, to paste into the registry. The key is not stored anywhere.",
    )
    key.add_argument("--edge", required=True, metavar="ID", help="the edge's id")
    key.add_argument("--site", required=True, metavar="SITE", help="the only site it may write")
    add_keys_parser(commands)
    add_users_parser(commands)
    add_backup_parsers(commands)
    add_prune_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "new-edge-key":
        return _new_edge_key(args.edge, args.site)
    if args.command == "keys":
        return run_keys(args, os.environ)
    if args.command == "users":
        return run_users(args, os.environ, sys.stdin)
    if args.command in ("backup", "restore"):
        return run_backup_command(args, os.environ)
    if args.command == "prune":
        return run_prune(args, os.environ)
    return _serve(args.env_file)


def _new_edge_key(edge: str, site: str) -> int:
    for what, value in (("edge id", edge), ("site id", site)):
        if not _ID_RE.match(value):
            print(
                f"canteen-central: {what} {value!r} must be 1-64 letters, digits, '-' or '_'",
                file=sys.stderr,
            )
            return 2
    key = secrets.token_urlsafe(KEY_BYTES)
    print(f"# API key of edge {edge!r}: give it to the edge; it is shown only now", file=sys.stderr)
    print(key)
    print()
    print("[[edges]]")
    print(f'id = "{edge}"')
    print(f'site = "{site}"')
    print(f'key_sha256 = "{key_sha256(key)}"')
    return 0


def _serve(env_file: Path | None) -> int:
    import uvicorn  # imported here so that `new-edge-key` stays light

    from central.app import create_app

    try:
        settings = CentralSettings.load(env_file)
    except FileNotFoundError as exc:
        print(f"canteen-central: --env-file: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        for line in error_lines(exc, CentralSettings):
            print(f"canteen-central: {line}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        app = create_app(settings)
    except RegistryError as exc:
        print(f"canteen-central: CENTRAL_REGISTRY_PATH: {exc.reason}", file=sys.stderr)
        return 2
    except CentralError as exc:
        print(f"canteen-central: {exc.reason}", file=sys.stderr)
        return 2
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        workers=1,
        lifespan="on",
        log_config=None,  # keep the logging configured above
        log_level=settings.log_level.lower(),
        # HTTPS when both are set (CentralSettings checks they come as a pair).
        ssl_certfile=None if settings.tls_cert_file is None else str(settings.tls_cert_file),
        ssl_keyfile=None if settings.tls_key_file is None else str(settings.tls_key_file),
    )
    server = uvicorn.Server(config)
    # Everything loaded so far (modules, the registry, the app) lives as long as the process:
    # moved out of the collector's reach, so that the full (generation 2) collections that
    # requests trigger now and then do not walk it (they were the tail of KPI query latency,
    # ~20-30 ms; docs/performance.md).
    gc.collect()
    gc.freeze()
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    scheme = "https" if settings.tls_cert_file is not None else "http"
    print(
        f"canteen-central serving {scheme}://{host}:{settings.port} (API docs at /docs)", flush=True
    )
    try:
        server.run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        return 130
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
