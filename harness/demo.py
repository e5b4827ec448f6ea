"""`scripts/demo`: the whole system on this machine, with the KPIs printed beside the ground truth.

Starts Mosquitto on a free loopback port, central, one edge agent per site and the simulator (on
one simulated clock, devices staying online at the end), with quotas, targets, a baseline, the
simulator's menu and portions configured, over enough days for a diner forecast; waits until every
published reading is stored at central, printing a line per phase and progress while it waits;
writes the table of KPIs beside the ground truth to the workdir and prints a line per site; the
token and the dashboard link are its last lines.
"""

import argparse
import json
import logging
import shutil
import signal
import socket
import sys
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from central.kpi.forecast import MIN_WORKDAYS
from contract.workcalendar import DayKind, WorkCalendar
from harness.compare import Comparison, compare_site_day, format_table
from harness.ports import free_port
from harness.registry import site_ids
from harness.stack import SimClockPlan, Stack, StackSettings

TOLERANCE = 0.001  # masses and energy within 0.1% of the truth; counts exactly
# Written into a --workdir the demo creates: only a folder holding it is ever emptied.
WORKDIR_MARKER = ".canteen-demo-workdir"
EXIT_USAGE = 2
# A week and a day: the dashboard's comparisons get a baseline week, and central's diner forecast
# and cooking recommendation for tomorrow the working days of history they need.
DEFAULT_DAYS = 8


class WorkdirError(Exception):
    """The --workdir cannot be used without risking files the demo did not make."""


def prepare_workdir(workdir: Path) -> None:
    """Make `workdir` an empty folder of the demo's, or refuse (WorkdirError).

    A missing or empty folder is taken and marked; a folder with the marker (an earlier demo's)
    is emptied; any other folder is left untouched, so `--workdir .` or a typo cannot delete
    someone's files.
    """
    if workdir.exists() and not workdir.is_dir():
        raise WorkdirError(f"--workdir {workdir} is not a folder")
    if workdir.is_dir() and any(workdir.iterdir()):
        if not (workdir / WORKDIR_MARKER).is_file():
            raise WorkdirError(
                f"--workdir {workdir} is not empty and was not made by the demo (no "
                f"{WORKDIR_MARKER} in it); give a new or empty folder"
            )
        for child in workdir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / WORKDIR_MARKER).write_text(
        "made by scripts/demo: the demo empties this folder at its next run\n", encoding="utf-8"
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/demo", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--sites", type=int, default=2, help="number of canteens (default 2)")
    parser.add_argument(
        "--days",
        type=int,
        default=None,
        help=f"simulated days (default {DEFAULT_DAYS}, more when holidays leave fewer than "
        f"{MIN_WORKDAYS} working days in them)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="end by itself after at most this many seconds; the simulation is paced to fit. "
        "Without it the demo keeps central running for browsing until Ctrl-C.",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per second (0 = as fast as possible)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--start-date",
        default=None,
        help="first simulated day, YYYY-MM-DD (default: yesterday, Asia/Shanghai)",
    )
    parser.add_argument(
        "--port", type=int, default=None, help="central's HTTP port (default 8000 when free)"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=Path("var/demo"),
        help="logs, buffers and the store (default var/demo); a folder the demo made is emptied "
        "first, any other non-empty folder is refused",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the summary as one JSON object on the last line"
    )
    args = parser.parse_args(argv)
    if args.sites < 1 or (args.days is not None and args.days < 1):
        parser.error("--sites and --days must be at least 1")
    return args


def default_days(last: date, calendar: WorkCalendar | None = None) -> int:
    """How many days up to `last` the demo simulates by default: DEFAULT_DAYS, or more until they
    hold MIN_WORKDAYS working days, the least history central forecasts diners from (a long
    holiday such as the Spring Festival or National Day week)."""
    calendar = calendar or WorkCalendar()
    days, workdays = 0, 0
    while days < DEFAULT_DAYS or workdays < MIN_WORKDAYS:
        workdays += calendar.day_info(last - timedelta(days=days)).kind is DayKind.WORKDAY
        days += 1
    return days


def pick_speed(args: argparse.Namespace, days: int) -> float:
    if args.speed is not None:
        return float(args.speed)
    if args.duration is None:
        return 0.0
    # Leave half of the time for start-up and the last upload.
    return float(days * 86400 / max(args.duration * 0.5, 1.0))


def default_port() -> int:
    """8000 when it is free, so that the README's URLs work; any free port otherwise."""
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", 8000))
        except OSError:
            return free_port()
    return 8000


def dashboard_url(
    central_url: str, first: date, last: date, token: str | None = None, region: str | None = None
) -> str:
    """A ready link to the dashboard showing the simulated dates; a read token, when central needs
    one, rides in the fragment (never sent to the server, moved into the tab's sessionStorage)."""
    params = {"view": "region", "period": "custom", "start": first.isoformat(),
              "end": last.isoformat(), "date": last.isoformat()}  # fmt: skip
    if region is not None:
        params["region"] = region
    if token is not None:
        params["token"] = token
    return f"{central_url}/dashboard/#{urlencode(params)}"


def summary(rows: list[Comparison]) -> dict[str, Any]:
    sites: dict[str, Any] = {}
    for row in rows:
        scope = sites.setdefault(row.site, {}).setdefault(row.date, {}).setdefault(row.scope, {})
        scope[row.metric] = {"unit": row.unit, "measured": row.measured, "truth": row.truth}
    return {"ok": all(r.ok(TOLERANCE) for r in rows), "tolerance": TOLERANCE, "sites": sites}


class Progress:
    """Prints how many readings central holds every `interval_s` while a phase runs."""

    def __init__(self, stack: Stack, out: TextIO, interval_s: float = 10.0) -> None:
        self.stack, self.out, self.interval_s = stack, out, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-progress", daemon=True)

    def __enter__(self) -> "Progress":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(self.interval_s):
                try:
                    sites = self.stack.settings.sites
                    stored = sum(self.stack.stored_readings(client, s) for s in sites)
                except httpx.HTTPError:
                    continue
                print(f"demo:   ... {stored:,} readings stored at central so far", file=self.out)


def baselines_of(sites: tuple[str, ...], start: date, days: int) -> dict[str, tuple[str, str]]:
    """Each site's baseline (F9): the first week of the simulation (or all of it, if shorter)."""
    last = start + timedelta(days=min(days, 7) - 1)
    return {site: (start.isoformat(), last.isoformat()) for site in sites}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    out = sys.stderr if args.json else sys.stdout
    if args.start_date:
        start = date.fromisoformat(args.start_date)
        days = args.days or DEFAULT_DAYS
    else:
        yesterday = datetime.now(ZoneInfo("Asia/Shanghai")).date() - timedelta(days=1)
        days = args.days or default_days(yesterday)
        start = yesterday - timedelta(days=days - 1)
    last = start + timedelta(days=days - 1)
    speed = pick_speed(args, days)
    started = time.monotonic()
    budget_s = args.duration if args.duration is not None else 3600.0
    try:
        prepare_workdir(args.workdir)
    except WorkdirError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    sites = tuple(site_ids(args.sites))
    settings = StackSettings(
        workdir=args.workdir.resolve(),
        sites=sites,
        central_port=args.port or default_port(),
        baselines=baselines_of(sites, start, days),
        targets=True,
        kitchen=True,
        # one simulated clock for simulator and edges: receive times, clock skew and late data
        # are those of the simulated days, not of the wall clock
        sim_clock=SimClockPlan(start_date=start.isoformat(), speed=speed, lockstep=speed == 0),
    )
    table_path = settings.workdir / "kpis-vs-truth.txt"
    print(
        f"demo [1/4] starting Mosquitto, central and {args.sites} edge(s); component logs in "
        f"{settings.workdir / 'logs'}",
        file=out,
    )
    with Stack(settings) as stack:
        print(
            f"demo [2/4] simulating {days} day(s) of {args.sites} canteen(s) from {start}, "
            f"speed {speed or 'max'}",
            file=out,
        )
        with Progress(stack, out):
            truth = stack.run_simulator(
                start_date=start.isoformat(),
                days=days,
                seed=args.seed,
                speed=speed,
                timeout_s=max(budget_s - (time.monotonic() - started), 5),
                stay_online=True,
            )
            print("demo [3/4] simulator done; waiting for every reading to reach central", file=out)
            stack.wait_delivered(truth, timeout_s=max(budget_s - (time.monotonic() - started), 5))
        rows: list[Comparison] = []
        for site in settings.sites:
            for offset in range(days):
                day = (start + timedelta(days=offset)).isoformat()
                kpis = stack.daily_kpis(site, day)
                rows.extend(compare_site_day(site, day, kpis, truth["sites"][site]["days"][day]))
        table_path.write_text(format_table(rows, TOLERANCE) + "\n", encoding="utf-8")
        result = summary(rows)
        print(
            f"demo [4/4] central's KPIs beside the simulator's ground truth, per canteen, day "
            f"and meal service: {table_path}",
            file=out,
        )
        for site in settings.sites:
            mine = [r for r in rows if r.site == site]
            good = sum(r.ok(TOLERANCE) for r in mine)
            print(f"demo:   {site}: {good} of {len(mine)} figures match", file=out)
        wrong = [r for r in rows if not r.ok(TOLERANCE)]
        if wrong:
            print(format_table(wrong, TOLERANCE), file=out)
        verdict = (
            "all KPIs match the ground truth"
            if result["ok"]
            else "SOME KPIs DIFFER from the ground truth"
        )
        print(
            f"demo: {verdict} (counts exactly, masses and energy within {TOLERANCE:.1%})", file=out
        )
        link = dashboard_url(stack.central_url, start, last, token=stack.admin_token)
        if args.duration is None:
            print(
                f"demo: central keeps running (API docs: {stack.central_url}/docs, press "
                "Authorize and paste the token); Ctrl-C stops everything",
                file=out,
            )
        print(f"demo: admin read token of this run: {stack.admin_token}", file=out)
        print(f"demo: dashboard: {link}", file=out, flush=True)
        if args.duration is None:
            stop = threading.Event()
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            stop.wait()
    if args.json:
        print(json.dumps(result, separators=(",", ":")))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
