"""Renders simulated days with faults and reads the messages back as a device's observer would."""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from contract.payloads import MeterPayload, parse_payload, parse_status
from contract.topics import DeviceKind, parse_topic
from simulators.canteen import DayPlan, plan_site_days
from simulators.devices import OutgoingMessage, fleet
from simulators.faults import RenderedDay, SiteFaultInjector
from simulators.registry import Site
from simulators.settings import SimulatorSettings
from simulators.truth import GroundTruth

START = date(2026, 11, 20)


@dataclass(frozen=True)
class Sent:
    """One message as published, in publishing order (`order`), decoded."""

    order: int
    due_ms: int
    device: str
    kind: DeviceKind
    channel: str
    payload: bytes
    document: dict[str, Any]
    ts_ms: int  # the device clock of a reading; the due instant of a status

    @property
    def boot(self) -> str:
        return str(self.document.get("boot"))

    @property
    def seq(self) -> int:
        return int(self.document["seq"])

    @property
    def total(self) -> float:
        parsed = parse_payload(self.kind, self.payload)
        assert isinstance(parsed, MeterPayload)
        return parsed.total_canonical


@dataclass
class Run:
    plans: list[DayPlan]
    days: list[RenderedDay]
    truth: GroundTruth

    def site_json(self, site_id: str) -> dict[str, Any]:
        document: dict[str, Any] = self.truth.to_json()["sites"][site_id]
        return document

    def sent(self) -> list[Sent]:
        """Every message of the run in the order the publisher's clock releases them."""
        tagged: list[tuple[int, int, int, OutgoingMessage]] = []
        for day_index, day in enumerate(self.days):
            for device_index, batch in enumerate(day.batches.values()):
                for position, message in enumerate(batch):
                    key = day_index * 10**7 + device_index * 10**6 + position
                    tagged.append((message.due_ms, key, position, message))
        tagged.sort(key=lambda item: (item[0], item[1]))
        result = []
        for order, (due, _, _, message) in enumerate(tagged):
            address = parse_topic(message.topic)
            if address.channel == "status":
                document = parse_status(message.payload).model_dump()
                ts_ms = due
            else:
                document = json.loads(message.payload)
                ts_ms = parse_payload(address.kind, message.payload).ts
            result.append(
                Sent(
                    order,
                    due,
                    address.device,
                    address.kind,
                    address.channel,
                    message.payload,
                    document,
                    ts_ms,
                )
            )
        return result

    def data_by_device(self) -> dict[str, list[Sent]]:
        grouped: dict[str, list[Sent]] = defaultdict(list)
        for sent in self.sent():
            if sent.channel == "data":
                grouped[sent.device].append(sent)
        return grouped


def settings_for(faults: str, rate: float = 1.0) -> SimulatorSettings:
    return SimulatorSettings(registry=Path("unused.toml"), faults=faults, fault_rate=rate)


def render(
    site: Site,
    faults: str = "",
    rate: float = 1.0,
    *,
    seed: int = 3,
    days: int = 1,
    meter_interval_s: int = 60,
    raw_bins: bool = False,
) -> Run:
    """Plan and render `days` of `site` exactly as run_simulation does, without a broker."""
    settings = settings_for(faults, rate)
    devices = fleet(site.id, site.tz, seed=seed, start_date=START)
    injector = SiteFaultInjector(
        site,
        devices,
        settings.fault_config(),
        seed=seed,
        start_date=START,
        meter_interval_s=meter_interval_s,
        raw_bins=raw_bins,
    )
    truth = GroundTruth(seed=seed, start_date=START, days=days, site_ids=(site.id,))
    plans, rendered = [], []
    behaviour = settings.behaviour()
    for plan in plan_site_days(
        site,
        seed=seed,
        start_date=START,
        days=days,
        meter_interval_s=meter_interval_s,
        behaviour=behaviour,
    ):
        day = injector.render_day(plan)
        truth.add_day(site.id, plan.frame.day, plan.truth, day.tally)
        plans.append(plan)
        rendered.append(day)
    return Run(plans, rendered, truth)


def without_fault_keys(site_json: dict[str, Any]) -> dict[str, Any]:
    """The canteen's truth: the site's days without the fault counts and gap energy."""
    days = {}
    for day, entry in site_json["days"].items():
        services = {
            name: {k: v for k, v in service.items() if k != "gap_energy"}
            for name, service in entry["services"].items()
        }
        whole = {k: v for k, v in entry["day"].items() if k != "gap_energy"}
        days[day] = {"services": services, "day": whole}
    return days
