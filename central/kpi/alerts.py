"""Alerts of one site on one date: quota, waste target, off-hours energy, offline and silent
devices, edges that lost readings.

Two device alerts, from two sources. `device_offline`: the device's latest status, from the
retained MQTT status topic that the edge forwards (central/kpi/presence.py), is offline (its own
goodbye or its last will), and was already at the moment of evaluation. `device_silent`: the
readings central holds of a meter cover (by their device time, as attributed) only up to more than
`device_silent_min` minutes before that moment, whatever its status says (a meter that says
online and sends nothing is a problem too). Readings that arrived late, after an outage, count for
the time they cover: a meter whose readings are all there is not silent, only `device_late` (an
information: its edge or network was down, no data is missing). Only meters are judged: they
report at a fixed interval, while card readers and scales are silent whenever nobody uses them.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from enum import StrEnum

import numpy as np

from central.kpi.clocks import ClockRule, attributed_ms
from central.kpi.edgehealth import LOSS_COUNTERS, EdgeHealthPeriod
from central.kpi.presence import DevicePresence, offline_at
from central.kpi.readings import Int64Array, MeterReadings
from central.kpi.report import device_start_ms
from central.kpi.values import KpiValue
from central.registry import Site

MS_PER_MIN = 60_000
STATUS_NOTE = (
    "device_offline comes from the devices' retained MQTT status topic (the last will says offline "
    "when a device's connection dies), as forwarded by the edges, with the edge's receive time "
    "of the change; device_silent from the time stored meter readings cover (their device time: "
    "readings that arrived late still count; device_late says some did), as meters report at a "
    "fixed interval, while card readers and scales are silent whenever nobody uses them"
)


class AlertKind(StrEnum):
    QUOTA_MONTH = "quota_month"  # E7 above 100% for the month to date
    QUOTA_YEAR = "quota_year"  # E7 above 100% for the year to date
    WASTE_TARGET = "waste_target"  # F4 of the date above waste_target_g_per_diner
    OFF_HOURS = "off_hours"  # E8 of the date above off_hours_alert_share_pct
    DEVICE_SILENT = "device_silent"  # readings cover up to more than device_silent_min ago
    DEVICE_LATE = "device_late"  # readings complete, but some arrived late (after an outage)
    DEVICE_OFFLINE = "device_offline"  # latest status offline (goodbye or last will)
    EDGE_LOST_READINGS = "edge_lost_readings"  # an edge dropped, dead-lettered or lost readings


@dataclass(frozen=True, slots=True)
class Alert:
    site: str
    kind: AlertKind
    message: str
    value: float | None
    threshold: float | None
    unit: str
    device: str | None = None
    since_ms: int | None = None  # device_offline: the edge's receive time of the change
    boot: str | None = None  # device_offline: the boot the offline status names
    edge: str | None = None  # edge_lost_readings: the edge


def threshold_alerts(
    site: str,
    day: Mapping[str, KpiValue] | None,
    month: Mapping[str, KpiValue] | None,
    year: Mapping[str, KpiValue] | None,
    waste_target_g_per_diner: float | None,
    off_hours_alert_share_pct: float | None,
) -> list[Alert]:
    """Quota use above 100% (month and year to date), waste per diner above target, off-hours
    energy share above the threshold (the date), from the KPIs of the date, its month to date
    and its year to date (None: not needed, no quota or no threshold)."""
    out: list[Alert] = []
    for kpis, kind, label in (
        (month, AlertKind.QUOTA_MONTH, "month"),
        (year, AlertKind.QUOTA_YEAR, "year"),
    ):
        if kpis is None:
            continue
        use = kpis["quota_use_pct"].value
        if use is not None and use > 100.0:
            out.append(
                Alert(
                    site,
                    kind,
                    f"energy quota use of the {label} to date is {use:.1f}% (above 100%)",
                    use,
                    100.0,
                    "%",
                )
            )
    if day is None:
        return out
    waste = day["waste_per_diner_g"].value
    if (
        waste_target_g_per_diner is not None
        and waste is not None
        and waste > waste_target_g_per_diner
    ):
        out.append(
            Alert(
                site,
                AlertKind.WASTE_TARGET,
                f"total waste per diner {waste:.1f} g is above the target "
                f"of {waste_target_g_per_diner:g} g",
                waste,
                waste_target_g_per_diner,
                "g/diner",
            )
        )
    share = day["off_hours_share_pct"].value
    if (
        off_hours_alert_share_pct is not None
        and share is not None
        and share > off_hours_alert_share_pct
    ):
        out.append(
            Alert(
                site,
                AlertKind.OFF_HOURS,
                f"off-hours energy share {share:.1f}% is above {off_hours_alert_share_pct:g}%",
                share,
                off_hours_alert_share_pct,
                "%",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class MeterTimes:
    """One meter's readings as the device judgements read them: attributed times (the clock
    rule applied, central.kpi.clocks), sorted, and the edge's receive times, aligned."""

    device: str
    time_ms: Int64Array
    received_ms: Int64Array


def meters_as_loaded(
    meter: MeterReadings,
    rule: ClockRule,
    configured: Iterable[str],
    start_ms: int,
    end_ms: int,
    lookaround_ms: int,
) -> list[MeterTimes]:
    """The meters of `meter` as a load of [start_ms, end_ms) holds them, from the readings of
    a load of a range that contains it (with the same `lookaround_ms`): what
    ReadingsStore.load_readings returns for the range itself, that is every reading sent or
    received in it and, of each meter listed in it or `configured`, its nearest reading by
    device time within `lookaround_ms` before and after it. So one load of a long range judges
    each date of it exactly as a load of that date's own range would (central.reporting
    alerts_over); sorted by device id, configured meters without readings included."""
    sent, received = meter.time_ms, meter.received_ms
    attributed = attributed_ms(sent, received, rule, meter.clock_trusted)
    in_range = ((sent >= start_ms) & (sent < end_ms)) | (
        (received >= start_ms) & (received < end_ms)
    )
    listed = set(np.unique(meter.device[in_range]).tolist()) | set(configured)
    out = []
    for device in sorted(listed):
        mine = meter.device == device
        keep = mine & in_range
        before = np.flatnonzero(mine & (sent >= start_ms - lookaround_ms) & (sent < start_ms))
        if before.size:
            keep[before[np.argmax(sent[before])]] = True
        after = np.flatnonzero(mine & (sent >= end_ms) & (sent < end_ms + lookaround_ms))
        if after.size:
            keep[after[np.argmin(sent[after])]] = True
        order = np.argsort(attributed[keep], kind="stable")
        out.append(MeterTimes(device, attributed[keep][order], received[keep][order]))
    return out


def silent_meters(
    site: Site, meters: Iterable[MeterTimes], as_of_ms: int, day_start_ms: int
) -> list[Alert]:
    """Meters silent at `as_of_ms`, judged by device time: the latest moment their readings
    cover is more than `device_silent_min` before `as_of_ms`, however late those readings
    arrived. A meter whose readings of the date from `day_start_ms` are all there but some
    arrived more than `device_silent_min` after their time (after an edge or network outage)
    is `device_late` instead: its data is complete (judged only while the site's clock rule is
    on: without it, device and receive times may come from different clocks, as in a
    simulation). A meter whose registry `installed` date (or, without one, its first reading
    of `meters`) is at or after `as_of_ms` is not judged."""
    limit_min = site.kpi.device_silent_min
    limit_ms = limit_min * MS_PER_MIN
    out: list[Alert] = []
    for meter in meters:
        start = device_start_ms(site, meter.device, meter.time_ms)
        if start is not None and start >= as_of_ms:  # at the date's end: the next date's
            continue
        covered = meter.time_ms <= as_of_ms
        times, received = meter.time_ms[covered], meter.received_ms[covered]
        name = f"meter {meter.device}"
        if times.size == 0:
            out.append(
                Alert(
                    site.id,
                    AlertKind.DEVICE_SILENT,
                    f"{name}: no reading covers the period",
                    None,
                    float(limit_min),
                    "min",
                    device=meter.device,
                )
            )
            continue
        silent_min = (as_of_ms - int(times[-1])) / MS_PER_MIN
        if silent_min > limit_min:
            out.append(
                Alert(
                    site.id,
                    AlertKind.DEVICE_SILENT,
                    f"{name}: no reading for {silent_min:.0f} min (device time)",
                    silent_min,
                    float(limit_min),
                    "min",
                    device=meter.device,
                )
            )
            continue
        # the date's own readings: one at the date's end instant belongs to the next date
        delay_ms = (received - times)[(times >= day_start_ms) & (times < as_of_ms)]
        late = delay_ms[delay_ms > limit_ms]
        if late.size and site.kpi.clock.enabled:  # else receive times say nothing
            delay_min = int(np.max(late)) / MS_PER_MIN
            out.append(
                Alert(
                    site.id,
                    AlertKind.DEVICE_LATE,
                    f"{name}: {late.size} readings of the date arrived late "
                    f"(up to {delay_min:.0f} min after their time); none is missing",
                    delay_min,
                    float(limit_min),
                    "min",
                    device=meter.device,
                )
            )
    return out


def offline_devices(
    site: str, presence: Iterable[DevicePresence], as_of_ms: int, tz: tzinfo
) -> list[Alert]:
    """Devices whose latest status is offline and already was at `as_of_ms`; the value is how
    long, in minutes, up to `as_of_ms`."""
    out = []
    for device in offline_at(presence, as_of_ms):
        since = datetime.fromtimestamp(device.since_ms / 1000, tz).isoformat(timespec="seconds")
        boot = f", boot {device.boot}" if device.boot else ""
        out.append(
            Alert(
                site,
                AlertKind.DEVICE_OFFLINE,
                f"{device.kind} {device.device}: offline since {since}{boot}",
                (as_of_ms - device.since_ms) / MS_PER_MIN,
                None,
                "min",
                device=device.device,
                since_ms=device.since_ms,
                boot=device.boot,
            )
        )
    return out


def edge_alerts(site: str, periods: Iterable[EdgeHealthPeriod]) -> list[Alert]:
    """Edges that dropped (buffer bound), dead-lettered (bad input) or lost (broker session)
    readings on the date, from their health reports; the value is how many messages, the
    lost broker sessions included as one each."""
    out = []
    for period in periods:
        if not period.lost_readings:
            continue
        counts = ", ".join(
            f"{name} {period.increase[name]}" for name in LOSS_COUNTERS if period.increase[name]
        )
        out.append(
            Alert(
                site,
                AlertKind.EDGE_LOST_READINGS,
                f"edge {period.edge}: {counts} on this date (edge health report)",
                float(sum(period.increase[name] for name in LOSS_COUNTERS)),
                0.0,
                "messages",
                edge=period.edge,
            )
        )
    return out
