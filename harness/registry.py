"""Writes the site registry (docs/architecture.md) for a demo or test stack, with new edge keys."""

import hashlib
import secrets
from dataclasses import dataclass
from pathlib import Path

from simulators.canteen import Behaviour
from simulators.demand import DEFAULT_DISHES
from simulators.devices import DEVICES
from simulators.registry import DEFAULT_METERS, DEFAULT_SERVICES

# Plausible names and regions so that the demo reads like a real network of canteens.
_NAMES = [
    ("Provincial Government Canteen", "Zhejiang", "Hangzhou"),
    ("Municipal Bureau Staff Canteen", "Zhejiang", "Ningbo"),
    ("Tax Office Canteen", "Jiangsu", "Suzhou"),
    ("People's Hospital Staff Canteen", "Jiangsu", "Nanjing"),
    ("University Administration Canteen", "Anhui", "Hefei"),
    ("District Court Canteen", "Anhui", "Wuhu"),
]


@dataclass(frozen=True, slots=True)
class EdgeCredentials:
    edge_id: str
    site: str
    api_key: str
    person_key: str


def site_ids(count: int) -> list[str]:
    return [f"site-{n:02d}" for n in range(1, count + 1)]


def meter_tables(meter_interval_s: int) -> list[str]:
    """`[[sites.meters]]` of a site: the moduli and maximum rates the simulator's meters honour."""
    return [
        "\n".join(
            [
                "  [[sites.meters]]",
                f'  device = "{meter.device}"',
                f"  wrap_modulus = {meter.wrap_modulus:.1f}",
                f"  max_rate_per_h = {meter.max_rate_per_h:.1f}",
                f"  interval_s = {meter_interval_s}",
            ]
        )
        for meter in DEFAULT_METERS
    ]


def scale_tables() -> list[str]:
    """`[[sites.scales]]` of a site: each simulated scale's division (kitchen scales 5 g), which
    also sets the zero band of a raw kitchen bin (3 divisions, central/kpi/rawbins.py)."""
    return [
        "\n".join(
            [
                "  [[sites.scales]]",
                f'  device = "{spec.id}"',
                f"  division_g = {spec.division_g:.1f}",
            ]
        )
        for spec in DEVICES
        if spec.stream is not None
    ]


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def kitchen_tables() -> list[str]:
    """`[[sites.services]]` with the portion the simulated kitchen plans per diner (the production
    recommendation's `portion_g`) and `[[sites.menu]]` with the dishes the simulator tags its pans
    with (names and category, so that central values them), both from the simulator's defaults."""
    behaviour = Behaviour()
    services = [
        "\n".join(
            [
                "  [[sites.services]]",
                f'  name = "{service.name}"',
                f'  start = "{_hhmm(service.start_min)}"',
                f'  end = "{_hhmm(service.end_min)}"',
                f"  grace_min = {service.grace_min}",
                f"  prep_lead_min = {service.prep_lead_min}",
                f"  portion_g = {behaviour.portion(service.name):.1f}",
            ]
        )
        for service in DEFAULT_SERVICES
    ]
    menu = [
        "\n".join(
            [
                "  [[sites.menu]]",
                f'  code = "{dish.code}"',
                f'  name_zh = "{dish.name_zh}"',
                f'  name_en = "{dish.name_en}"',
                f'  category = "{dish.category}"',
            ]
        )
        for dish in DEFAULT_DISHES
    ]
    return services + menu


def _baseline_line(period: tuple[str, str] | None) -> list[str]:
    """The site's KPI baseline period (F9 and the dashboard's trends), inclusive local dates."""
    if period is None:
        return []
    return [f'baseline = {{ start = "{period[0]}", end = "{period[1]}" }}']


def _target_lines(staff: int) -> list[str]:
    """Prices, a waste target, energy quotas and an off-hours threshold that a simulated canteen
    of `staff` keeps to (a demo shows a healthy system; the quotas leave about a third spare)."""
    month_kgce = round(staff * 18.0, -2)
    return [
        "food_price_cny_per_kg = 12.0",
        "food_co2e_kg_per_kg = 2.5",
        "waste_target_g_per_diner = 180.0",
        f"energy_quota_kgce_month = {month_kgce:.1f}",
        f"energy_quota_kgce_year = {month_kgce * 12:.1f}",
        "off_hours_alert_share_pct = 40.0",
    ]


def write_registry(
    path: Path,
    sites: list[str],
    registered_staff: int = 400,
    meter_interval_s: int = 60,
    baselines: dict[str, tuple[str, str]] | None = None,
    *,
    network: str | None = None,
    clock_correction: bool = False,
    targets: bool = False,
    kitchen: bool = False,
) -> dict[str, EdgeCredentials]:
    """Write a registry for `sites` and return each site's freshly generated edge credentials.

    `network`, when given, is one more region tag shared by every site (`network:<value>`), so
    that one region holds them all (the benchmark ranks all its sites).

    `clock_correction` (docs/kpis.md, "Wrong device clocks") is off by default: the stack's edges
    stamp receive times with the wall clock while the simulator sends simulated time, so every
    reading would look like a wrong clock.

    `targets` adds food prices, a waste target, monthly and yearly energy quotas and an
    off-hours alert threshold to each site (`_target_lines`); `kitchen` the simulated kitchen's
    planned portions and menu (`kitchen_tables`).

    `meter_interval_s` must be the simulator's --meter-interval-s (it refuses a registry that
    says otherwise).
    """
    credentials: dict[str, EdgeCredentials] = {}
    blocks: list[str] = []
    for index, site in enumerate(sites):
        name, province, city = _NAMES[index % len(_NAMES)]
        staff = registered_staff + 100 * (index % 4)
        shared = "" if network is None else f'network = "{network}", '
        blocks.append(
            "\n".join(
                [
                    "[[sites]]",
                    f'id = "{site}"',
                    f'name = "{name} ({site})"',
                    'timezone = "Asia/Shanghai"',
                    f"registered_staff = {staff}",
                    f"floor_area_m2 = {staff * 2.5:.1f}",
                    "clean_plate_threshold_g = 10.0",
                    f"clock_correction = {'true' if clock_correction else 'false'}",
                    f'region = {{ {shared}province = "{province}", city = "{city}" }}',
                    *_baseline_line((baselines or {}).get(site)),
                    *(_target_lines(staff) if targets else []),
                    *meter_tables(meter_interval_s),
                    *scale_tables(),
                    *(kitchen_tables() if kitchen else []),
                ]
            )
        )
        edge_id = f"edge-{site}"
        creds = EdgeCredentials(
            edge_id=edge_id,
            site=site,
            api_key=secrets.token_urlsafe(24),
            person_key=secrets.token_hex(16),
        )
        credentials[site] = creds
        key_hash = hashlib.sha256(creds.api_key.encode()).hexdigest()
        blocks.append(
            "\n".join(
                ["[[edges]]", f'id = "{edge_id}"', f'site = "{site}"', f'key_sha256 = "{key_hash}"']
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# Generated by harness.registry for a demo or test stack.\n\n" + "\n\n".join(blocks) + "\n"
    )
    return credentials
