"""How big each benchmark is: the issue's sizes (full), a quick run, a tiny run for the suite."""

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace


@dataclass(frozen=True, slots=True)
class Sizes:
    """Every knob of a run; units in the names. `full()` is what issue 5 asks for."""

    label: str
    # Figures 1-2: several publisher processes, each with several MQTT clients, as fast as they can.
    mqtt_messages: int
    publisher_processes: int = 2
    clients_per_publisher: int = 2
    # Figure 3: batches of `ingest_batch_readings`, `ingest_clients` concurrent HTTP clients.
    ingest_batches: int = 300
    ingest_batch_readings: int = 1000
    ingest_clients: int = 4
    # Figure 4: `e2e_sites` sites' meal-time peak, carried by `e2e_edges` real edge processes.
    e2e_sites: int = 1000
    e2e_edges: int = 10
    e2e_duration_s: float = 60.0
    e2e_site_staff: int = 1000
    # Figure 5 (and 7, edge RSS): readings generated into the buffer, live load during the drain.
    backlog_readings: int = 1_000_000
    backlog_live_rate_per_s: float = 50.0
    # Figure 6 (and 7, central RSS): data generated into central's store.
    kpi_sites: int = 100
    kpi_days: int = 365
    kpi_meter_interval_s: int = 900
    kpi_template_days: int = 7
    kpi_site_day_samples: int = 200
    kpi_site_year_samples: int = 5
    kpi_ranking_samples: int = 3
    kpi_freshness_uploads: int = 20  # figure 6f: one-reading uploads, one at a time
    # Figure 6f under load: readings/s of a background ingest load (figure 4's meal-time peak of
    # 1,000 canteens: 0.6 readings/s each); then, when figure 3 ran in the same run, this share
    # of its measured rate (0: no second load).
    kpi_freshness_load_per_s: float = 600.0
    kpi_freshness_ceiling_share: float = 0.5
    kpi_national_sites: int = 10_000  # figure 6g: sites x 1 year of rollups generated directly
    # VictoriaMetrics reference for figure 3 (skipped with a reason when not installed).
    references: bool = True
    timeout_s: float = 900.0


def full() -> Sizes:
    return Sizes(label="full", mqtt_messages=200_000)


def quick() -> Sizes:
    """Everything in under a minute on a small machine."""
    return Sizes(
        label="quick",
        mqtt_messages=20_000,
        ingest_batches=30,
        e2e_sites=200,
        e2e_edges=2,
        e2e_duration_s=5.0,
        backlog_readings=50_000,
        kpi_sites=10,
        kpi_days=30,
        kpi_template_days=3,
        kpi_site_day_samples=50,
        kpi_site_year_samples=2,
        kpi_ranking_samples=2,
        kpi_national_sites=200,
        timeout_s=120.0,
    )


def tiny() -> Sizes:
    """The smoke test's sizes: every code path, no meaningful number."""
    return replace(
        quick(),
        label="tiny",
        mqtt_messages=400,
        publisher_processes=1,
        ingest_batches=3,
        ingest_batch_readings=200,
        ingest_clients=2,
        e2e_sites=20,
        e2e_edges=1,
        e2e_duration_s=1.5,
        backlog_readings=2000,
        backlog_live_rate_per_s=20.0,
        kpi_freshness_uploads=2,
        kpi_freshness_load_per_s=100.0,
        kpi_freshness_ceiling_share=0.05,
        kpi_national_sites=3,
        kpi_sites=2,
        kpi_days=3,
        kpi_template_days=1,
        kpi_site_day_samples=4,
        kpi_site_year_samples=1,
        kpi_ranking_samples=1,
        references=False,
        timeout_s=60.0,
    )


def override(sizes: Sizes, assignments: Iterable[str]) -> Sizes:
    """Apply `name=value` overrides (ints, floats, booleans); ValueError names a bad one."""
    types = {f.name: type(getattr(sizes, f.name)) for f in fields(sizes)}
    changes: dict[str, object] = {}
    for assignment in assignments:
        name, sep, text = assignment.partition("=")
        if not sep or name not in types or name == "label":
            raise ValueError(
                f"--set {assignment!r}: expected NAME=VALUE with NAME one of "
                f"{', '.join(n for n in types if n != 'label')}"
            )
        kind = types[name]
        try:
            changes[name] = text.lower() in ("1", "true", "yes") if kind is bool else kind(text)
        except ValueError:
            raise ValueError(f"--set {assignment!r}: {text!r} is not a {kind.__name__}") from None
    if not changes:
        return sizes
    return replace(sizes, label=f"{sizes.label}+overrides", **changes)  # type: ignore[arg-type]
