"""Runs the figures in order and collects them; a failing figure is reported, not fatal."""

import logging
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Collection
from dataclasses import asdict
from pathlib import Path

from bench.figures import backlog, end_to_end, ingest, kpi, mqtt
from bench.results import Figure, Results
from bench.sizes import Sizes

logger = logging.getLogger(__name__)

GROUPS = ("mqtt", "ingest", "e2e", "backlog", "kpi")
KPI_DIR = "fig6"  # figure 6's scratch: its generated store, kept with reuse_data


def _step(
    results: Results, group: str, fn: Callable[[], list[Figure]], failures: list[str]
) -> list[Figure]:
    started = time.monotonic()
    print(f"bench: {group} ...", file=sys.stderr, flush=True)
    try:
        figures = fn()
    except Exception as exc:  # one broken figure must not hide the others
        failures.append(f"{group}: {exc!r}")
        results.skip(group, "failed", f"{type(exc).__name__}: {exc}")
        traceback.print_exc()
        return []
    results.add(*figures)
    print(f"bench: {group} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return figures


def run(
    sizes: Sizes, workdir: Path, groups: Collection[str] = GROUPS, *, reuse_data: bool = False
) -> tuple[Results, list[str]]:
    """Measure the figures of `groups` with `sizes`; scratch files go to `workdir` (emptied, but
    with `reuse_data` its figure-6 data is kept for figure 6 to reuse when its stamp matches)."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise ValueError(f"unknown figure groups {sorted(unknown)}; known: {', '.join(GROUPS)}")
    kept = {KPI_DIR} if reuse_data else set()
    if workdir.exists():
        for entry in workdir.iterdir():
            if entry.name in kept:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    workdir.mkdir(parents=True, exist_ok=True)
    results = Results(sizes=asdict(sizes))
    failures: list[str] = []
    if "mqtt" in groups:

        def mqtt_figures() -> list[Figure]:
            ceiling = mqtt.mqtt_ceiling(workdir / "fig1", sizes)
            return [ceiling, mqtt.edge_throughput(workdir / "fig2", sizes, ceiling)]

        _step(results, "mqtt", mqtt_figures, failures)
    if "ingest" in groups:
        _step(results, "ingest", lambda: ingest.figures(workdir / "fig3", sizes, results), failures)
    if "e2e" in groups:
        _step(results, "e2e", lambda: end_to_end.figures(workdir / "fig4", sizes), failures)
    if "backlog" in groups:
        _step(results, "backlog", lambda: backlog.figures(workdir / "fig5", sizes), failures)
    if "kpi" in groups:
        _step(
            results,
            "kpi",
            lambda: kpi.figures(workdir / KPI_DIR, sizes, results, reuse=reuse_data),
            failures,
        )
    return results, failures
