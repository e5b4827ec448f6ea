"""Device presence at central: the latest status each edge reported (online, or offline after
the device's goodbye or its MQTT last will), and the device status list of a site.

A device of the site registry (`[[sites.meters]]`, `[[sites.scales]]`) whose status central never
received is listed as `unknown`; it raises no alert (the meter-silence alert still judges its
readings).
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

ONLINE = "online"
OFFLINE = "offline"
UNKNOWN = "unknown"


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
