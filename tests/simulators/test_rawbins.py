"""Kitchen bins in raw mode: the gross-weight stream carries exactly the planned deposits."""

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from central.kpi.rawbins import AUTO_ZERO, EMPTYING, UNSTABLE, derive_deposits
from central.kpi.readings import ScaleReadings
from central.site_kpi_config import ScaleConfig
from contract.payloads import ScalePayload, parse_payload
from contract.topics import DeviceKind
from simulators.devices import DEVICE_BY_ID, KITCHEN_BINS
from simulators.errors import ConfigurationError
from simulators.localtime import DayFrame
from simulators.publisher import run_simulation
from simulators.rawbins import CAPACITY_G
from simulators.registry import Site
from simulators.settings import SimulatorSettings
from tests.simulators.faultlog import Run, render

DAYS = 3


def bin_readings(run: Run) -> ScaleReadings:
    """Every bin reading of the run as central would load it (device time, gross, stable)."""
    parts = []
    for device, messages in run.data_by_device().items():
        if device not in KITCHEN_BINS:
            continue
        payloads = [parse_payload(DeviceKind.SCALE, m.payload) for m in messages]
        assert all(isinstance(p, ScalePayload) and p.mass is None for p in payloads)
        parts.append(
            ScaleReadings.raw(
                [p.ts for p in payloads],
                [p.stream.value for p in payloads if isinstance(p, ScalePayload)],
                [p.gross_g for p in payloads if isinstance(p, ScalePayload)],
                [p.stable for p in payloads if isinstance(p, ScalePayload)],
                device=device,
            )
        )
    return ScaleReadings.concat(parts)


@pytest.mark.parametrize(("faults", "rate"), [("", 1.0), ("scale_drift", 4.0)])
def test_derived_deposits_equal_the_truth_per_day(
    sites: tuple[Site, ...], faults: str, rate: float
) -> None:
    site = sites[0]
    run = render(site, faults, rate, days=DAYS, raw_bins=True)
    configs = {d: ScaleConfig(d, division_g=DEVICE_BY_ID[d].division_g) for d in KITCHEN_BINS}
    derived = derive_deposits(bin_readings(run), configs)
    deposits = derived.readings
    document = run.site_json(site.id)
    for plan in run.plans:
        frame: DayFrame = plan.frame
        day = document["days"][frame.day.isoformat()]
        inside = (deposits.time_ms >= frame.midnight_ms) & (deposits.time_ms < frame.end_ms)
        for stream in ("prep", "spoilage"):
            got = float(deposits.mass_g[inside & (deposits.stream == stream)].sum())
            assert got == pytest.approx(day["day"]["waste_g"][stream], abs=1e-6)

        def on_day(kind: str, frame: DayFrame = frame) -> int:
            times = derived.events[kind].time_ms
            return int(np.count_nonzero((times >= frame.midnight_ms) & (times < frame.end_ms)))

        assert on_day(EMPTYING) == day["bin_events"]["emptyings"]
        assert on_day(UNSTABLE) == day["bin_events"]["unstable_readings"]
        assert on_day(AUTO_ZERO) == day["faults"]["scale_drift"]
    totals = document["bin_events"]
    assert totals["emptyings"] > 0
    assert totals["unstable_readings"] > 0
    assert (document["faults"]["scale_drift"] > 0) == bool(faults)
    # a bin never holds more than its capacity above its zero
    stable = bin_readings(run)
    assert float(stable.gross_g.max()) <= CAPACITY_G + 2 * 5.0


def test_net_mode_is_unchanged_and_raw_mode_changes_only_the_bins(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    net = render(site, days=2)
    raw = render(site, days=2, raw_bins=True)
    for a, b in zip(net.days, raw.days, strict=True):
        for device in a.batches:
            if device not in KITCHEN_BINS:
                assert a.batches[device] == b.batches[device]
    assert net.site_json(site.id)["days"].keys() == raw.site_json(site.id)["days"].keys()
    kinds = Counter(
        "gross" if b"gross" in m.payload else "mass"
        for day in raw.days
        for device in KITCHEN_BINS
        for m in day.batches[device]
    )
    assert kinds["mass"] == 0
    assert kinds["gross"] > 0


async def test_raw_bins_must_name_simulated_sites(tmp_path: Path) -> None:
    registry = tmp_path / "registry.toml"
    registry.write_text('[[sites]]\nid = "s1"\nregistered_staff = 10\n')
    settings = SimulatorSettings(registry=registry, raw_bins="s1,s9")
    assert settings.raw_bins == ("s1", "s9")
    assert settings.raw_bins_at("s1")
    assert not SimulatorSettings(registry=registry).raw_bins_at("s1")
    assert SimulatorSettings(registry=registry, raw_bins="all").raw_bins_at("s1")
    with pytest.raises(ConfigurationError, match="s9"):
        await run_simulation(settings)
