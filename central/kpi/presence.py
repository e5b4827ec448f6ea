"""Device presence at central: the latest status each edge reported (online, or offline after
the device's goodbye or its MQTT last will), and the device status list of a site.

Beside it, each meter's readings state on a date (REPORTING, LATE or SILENT), from the
`device_silent` and `device_late` alerts (central/kpi/alerts.py).

A device of the site registry (`[[sites.meters]]`, `[[sites.scales]]`) whose status central never
received is listed as `unknown`; it raises no alert (the meter-silence alert still judges its
readings).
"""

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace

ONLINE = "online"
OFFLINE = "offline"
UNKNOWN = "unknown"

# What a meter's stored readings say on a date, beside its connection state (central/kpi/alerts.py
# judges them): its readings cover the date up to now, or cover it but some arrived late (an
# outage of its edge or network; nothing is missing), or stop more than device_silent_min ago.
REPORTING = "reporting"
LATE = "late"
SILENT = "silent"


@dataclass(frozen=True, slots=True)
class DevicePresence:
    """A device's latest status as central knows it (from its edge's status changes).

    Times are the edge's clock when the status message arrived: `since_ms` is when the device
    entered its current state (the first change of the current run of that state), `changed_ms`
    the latest change central holds.
    """

    device: str
    kind: str
    state: str  # ONLINE or OFFLINE
    boot: str | None
    since_ms: int
    changed_ms: int


@dataclass(frozen=True, slots=True)
class DeviceState:
    """One row of a site's device status list."""

    device: str
    kind: str
    state: str  # ONLINE, OFFLINE or UNKNOWN
    boot: str | None
    since_ms: int | None  # None: unknown
    readings: str | None = None  # meters: REPORTING, LATE or SILENT; others: None


def with_readings(
    states: Iterable[DeviceState], judged: AbstractSet[str], late: set[str], silent: set[str]
) -> list[DeviceState]:
    """`states` with the readings state of each `judged` meter (SILENT, LATE, else REPORTING);
    a meter neither configured nor with readings in the month is not judged (None)."""
    return [
        replace(
            s,
            readings=SILENT if s.device in silent else LATE if s.device in late else REPORTING,
        )
        if s.device in judged
        else s
        for s in states
    ]


def device_states(
    presence: Iterable[DevicePresence], registered: Mapping[str, str]
) -> list[DeviceState]:
    """Every device with a known status, plus each registered device (device -> kind) without
    one as UNKNOWN, by kind then device."""
    found = {p.device: DeviceState(p.device, p.kind, p.state, p.boot, p.since_ms) for p in presence}
    for device, kind in registered.items():
        found.setdefault(device, DeviceState(device, kind, UNKNOWN, None, None))
    return sorted(found.values(), key=lambda d: (d.kind, d.device))


def offline_at(presence: Iterable[DevicePresence], as_of_ms: int) -> list[DevicePresence]:
    """Devices whose latest status is offline, and already was at `as_of_ms`."""
    return [p for p in presence if p.state == OFFLINE and p.since_ms <= as_of_ms]
