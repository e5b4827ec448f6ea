"""canteen-edge: `run` the per-site daemon, print the `status` of its buffer as JSON, or write
the site broker's users and ACL (`mqtt-users`)."""

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError

from contract.settings_cli import error_lines, settings_epilog
from edge.buffer import read_status, stats_json
from edge.daemon import run_edge
from edge.errors import EdgeError
from edge.mqtt_users import DeviceUser, MqttUsersError, generate
from edge.settings import EdgeSettings
from edge.simclock import TickClock, simulated_clock

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canteen-edge",
        description="Store-and-forward edge of one canteen site (settings: EDGE_* variables).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser(
        "run",
        help="run the daemon until SIGTERM or Ctrl-C",
        description="Run the edge daemon until SIGTERM or Ctrl-C. Settings come from EDGE_* "
        "environment variables, and from --env-file (dotenv) for those not set.",
        epilog=settings_epilog(EdgeSettings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    status = commands.add_parser(
        "status", help="print counters, pending depth and recent dead letters as JSON"
    )
    for sub in (run, status):
        sub.add_argument(
            "--env-file",
            type=Path,
            default=None,
            metavar="PATH",
            help="dotenv file with EDGE_* settings (environment variables take precedence)",
        )
    status.add_argument(
        "--buffer",
        type=Path,
        default=None,
        metavar="PATH",
        help="buffer file to read instead of EDGE_BUFFER_PATH (no other setting is needed then)",
    )
    users = commands.add_parser(
        "mqtt-users",
        help="write the Mosquitto password file and ACL of a site's devices; print the passwords",
        description="Write DIR/passwd (hashed with mosquitto_passwd) and DIR/acl for the site's "
        "broker: each device may publish only under canteen/<site>/<kind>/<device>/#, the edge "
        "may read canteen/<site>/#. Prints 'user<TAB>password' lines once, on stdout.",
    )
    users.add_argument("--site", required=True, metavar="SITE")
    users.add_argument(
        "--edge-user", required=True, metavar="USER", help="the edge's MQTT user name"
    )
    users.add_argument(
        "--device",
        action="append",
        default=[],
        required=True,
        metavar="KIND/DEVICE",
        help="a device, e.g. scale/scale-1 (repeat for each device)",
    )
    users.add_argument("--out", required=True, type=Path, metavar="DIR")
    return parser


def _mqtt_users(site: str, edge_user: str, specs: list[str], out_dir: Path) -> int:
    try:
        devices = [DeviceUser.parse(spec) for spec in specs]
        passwords = generate(out_dir, site, edge_user, devices)
    except (MqttUsersError, ValueError) as exc:
        print(f"canteen-edge mqtt-users: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(
        f"# wrote {out_dir / 'passwd'} and {out_dir / 'acl'}; the passwords below are shown "
        "only now",
        file=sys.stderr,
    )
    for user, password in passwords.items():
        print(f"{user}\t{password}")
    return 0


def _settings(env_file: Path | None) -> EdgeSettings:
    if env_file is not None and not env_file.is_file():
        print(f"canteen-edge: --env-file: no file at {env_file}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    try:
        return EdgeSettings(_env_file=env_file)
    except ValidationError as exc:
        # Setting and reason only: the offending input may be a secret and must not reach a log.
        for line in error_lines(exc, EdgeSettings):
            print(f"canteen-edge: {line}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "mqtt-users":
        return _mqtt_users(args.site, args.edge_user, args.device, args.out)
    if args.command == "status":
        path = args.buffer if args.buffer is not None else _settings(args.env_file).buffer_path
        try:
            print(stats_json(read_status(path, last_dead_letters=10)))
        except EdgeError as exc:
            print(f"canteen-edge: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        return 0

    settings = _settings(args.env_file)
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        if settings.sim_clock_topic is not None and settings.sim_clock_origin_ms is not None:
            ticks = TickClock(settings.sim_clock_topic, settings.sim_clock_origin_ms)
            asyncio.run(run_edge(settings, sim_ticks=ticks))
        elif (
            settings.sim_clock_origin_ms is not None
            and settings.sim_clock_wall_origin_ms is not None
        ):
            clock = simulated_clock(
                settings.sim_clock_origin_ms,
                settings.sim_clock_wall_origin_ms,
                settings.sim_clock_speed,
            )
            asyncio.run(run_edge(settings, clock_ms=clock))
        else:
            asyncio.run(run_edge(settings))
    except EdgeError as exc:
        logging.getLogger(__name__).critical("edge stopped: %s", exc)
        return EXIT_FAILURE
    return 0


if __name__ == "__main__":
    sys.exit(main())
