"""Additive totals of a report row: one site's dates (and service) summed, or sites summed.

Every KPI is a ratio of these totals, computed after summing (never an average of ratios): meals
are distinct diners per service summed, waste per diner is waste mass / meals, and so on. NaN
stands for "not available": a quantity without a meter, a price or quota not configured. When
sites are summed, a missing meter counts as no consumption (a site without gas uses none), while a
missing price, quota, floor area or baseline makes the region's value unavailable.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

import numpy as np

from central.kpi.counters import EVENT_KINDS
from central.kpi.daytable import QUANTITIES, DayTable, DeviceQuality
from central.kpi.quantiles import figures_of, gather, skew_figures
from central.kpi.rawbins import RAW_EVENT_KINDS
from central.kpi.readings import Int64Array
from central.kpi.reasons import Reason, joined
from central.registry import Site
from contract import Quantity, Stream

NAN = math.nan
STREAMS = tuple(s.value for s in Stream)
SERVICE_STREAMS = (Stream.PLATE.value, Stream.PREP.value, Stream.OVERPRODUCTION.value)


@dataclass(frozen=True, slots=True)
class SkewFigures:
    """Median and 95th percentile of |skew| of a row's samples (Q3), None without a sample:
    of their histogram (central.kpi.quantiles, RELATIVE_ERROR)."""

    median_ms: float | None
    p95_abs_ms: float | None


NO_SKEW = SkewFigures(None, None)


def _skew(figures: tuple[float, float] | None) -> SkewFigures:
    return NO_SKEW if figures is None else SkewFigures(*figures)


@dataclass(frozen=True, slots=True)
class DeviceTotals:
    """One device's quality figures over a row (Q1, Q3, Q4)."""

    kind: str
    device: str
    received: int
    expected: int | None
    duplicates: int
    # the row's clock-skew histogram (central.kpi.quantiles): bin keys and their sample counts,
    # each date's bins in turn (a key repeats across dates; counts of equal keys add)
    skew_keys: Int64Array = field(hash=False)
    skew_counts: Int64Array = field(hash=False)
    clock_corrected: int = 0  # readings attributed by receive time (wrong device clock)
    events: Mapping[str, int] | None = None  # meters: counter events (Q2)
    raw_events: Mapping[str, int] | None = None  # raw kitchen bins: rawbins.RAW_EVENT_KINDS
    skew: SkewFigures | None = None  # of its histogram, when computed with the row


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums of a row; see the module docstring for NaN."""

    sites: int
    days: int
    service_slots: int  # occurrences of meal services (attendance denominator)
    staff_slots: float  # registered staff x service occurrences
    meals: int
    trays: int
    clean_plates: int
    waste_g: Mapping[str, float]  # per stream; spoilage NaN in a service row
    used: Mapping[str, float]  # per quantity, canonical units; NaN without a meter
    estimated: Mapping[str, float]
    off_hours: Mapping[str, float]  # NaN in a service row
    kgce: float
    co2_kg: float
    kgce_estimated: float
    off_hours_kgce: float
    peak_kw: float  # a maximum, not a sum
    value_cny: float
    food_co2e_kg: float
    floor_area_m2: float
    staff: float  # registered staff (E6 per person)
    quota_kgce: float  # the period's quota x elapsed share (E7); NaN when not applicable
    quota_reason: Reason | None
    baseline_waste_g: float  # F9: the baseline period's total waste and meals
    baseline_meals: float
    factor_sets: frozenset[str]
    # data quality
    readings: int
    meter_received: int
    meter_expected: int
    duplicates: int
    clock_corrected: int  # readings attributed by receive time (wrong device clock), Q3
    events: Mapping[str, int]
    scale_below_division: int
    scale_above_max: int
    devices: tuple[DeviceTotals, ...]
    # raw kitchen bins (central.kpi.rawbins): emptyings, auto-zeros, unstable readings, drops
    raw_bin_events: Mapping[str, int] = field(default_factory=dict, hash=False)
    repeat_swipes: int = 0  # card readings beyond one per diner and service (double swipes)
    is_service_row: bool = False
    skew: SkewFigures | None = None  # of skew_of(self), when computed with the row
    # the row's clock-skew histogram (keys, counts) when `devices` does not list its devices (a
    # ranking's site rows: central.kpi.months); None: the devices' histograms are the row's
    skew_bins: tuple[Int64Array, Int64Array] | None = field(default=None, hash=False)

    @property
    def f4_waste_g(self) -> float:
        """Plate + prep + overproduction (docs/domain.md F4), the basis of F9."""
        return math.fsum(self.waste_g[s] for s in SERVICE_STREAMS)

    @property
    def total_waste_g(self) -> float:
        """Every stream weighed (spoilage is not part of a service row)."""
        return math.fsum(v for v in self.waste_g.values() if not math.isnan(v))


def _nansum(values: Sequence[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return math.fsum(present) if present else NAN


def _strict(values: Sequence[float]) -> float:
    return NAN if any(math.isnan(v) for v in values) else math.fsum(values)


class _EnergyAndFood(TypedDict):
    kgce: float
    co2_kg: float
    kgce_estimated: float
    off_hours_kgce: float
    value_cny: float
    food_co2e_kg: float


class _SiteFields(TypedDict):
    sites: int
    floor_area_m2: float
    staff: float
    baseline_waste_g: float
    baseline_meals: float
    factor_sets: frozenset[str]


def energy_and_food(
    site: Site,
    waste: Mapping[str, float],
    used: Mapping[str, float],
    estimated: Mapping[str, float],
    off: Mapping[str, float],
    service_row: bool,
) -> _EnergyAndFood:
    """The Totals fields derived from a row's sums with the site's factors and prices: energy in
    kgce (of used, estimated and off-hours consumption), CO2, and the wasted food's value and
    CO2e."""
    config = site.kpi
    factors = config.factor_set
    elec, gas = Quantity.ELECTRICITY.value, Quantity.GAS.value

    def kgce_of(values: Mapping[str, float]) -> float:
        return _nansum(
            [values[elec] * factors.electricity_kgce_per_kwh, values[gas] * factors.gas_kgce_per_m3]
        )

    total_waste_kg = math.fsum(v for v in waste.values() if not math.isnan(v)) / 1000.0
    price, food_factor = config.food_price_cny_per_kg, config.food_co2e_kg_per_kg
    return {
        "kgce": kgce_of(used),
        "co2_kg": _nansum(
            [used[elec] * factors.grid_kgco2_per_kwh, used[gas] * factors.gas_kgco2_per_m3]
        ),
        "kgce_estimated": kgce_of(estimated),
        "off_hours_kgce": NAN if service_row else kgce_of(off),
        "value_cny": NAN if price is None else total_waste_kg * price,
        "food_co2e_kg": NAN if food_factor is None else total_waste_kg * food_factor,
    }


def site_fields(site: Site, baseline: "Totals | None") -> _SiteFields:
    """The Totals fields that are the same for every row of a site."""
    return {
        "sites": 1,
        "floor_area_m2": NAN if site.floor_area_m2 is None else site.floor_area_m2,
        "staff": float(site.registered_staff),
        "baseline_waste_g": NAN if baseline is None else baseline.f4_waste_g,
        "baseline_meals": NAN if baseline is None else float(baseline.meals),
        "factor_sets": frozenset({site.kpi.factor_set.id}),
    }


def site_totals(
    table: DayTable,
    day_lo: int,
    day_hi: int,
    service: int | None = None,
    *,
    quota_kgce: float = NAN,
    quota_reason: Reason | None = None,
    baseline: "Totals | None" = None,
) -> Totals:
    """Totals of dates [day_lo, day_hi) of `table`, of one service (index) or of whole days."""
    site = table.site
    days = slice(day_lo, day_hi)
    n_days = day_hi - day_lo
    n_services = 1 if service is not None else len(table.services)
    cols = slice(None) if service is None else slice(service, service + 1)

    meals = int(table.diners[days, cols].sum())
    if service is None:
        trays = int(table.day_trays[days].sum())
        clean = int(table.day_clean_plates[days].sum())
        waste = {s: float(table.day_waste_g[s][days].sum()) for s in STREAMS}
    else:
        trays = int(table.trays[days, cols].sum())
        clean = int(table.clean_plates[days, cols].sum())
        waste = {
            s: float(table.service_waste_g[s][days, cols].sum()) if s in SERVICE_STREAMS else NAN
            for s in STREAMS
        }
    used: dict[str, float] = {}
    estimated: dict[str, float] = {}
    off: dict[str, float] = {}
    for q in QUANTITIES:
        part = table.energy[q]
        if not part.present:
            used[q] = estimated[q] = off[q] = NAN
            continue
        if service is None:
            used[q] = float(part.day_used[days].sum())
            estimated[q] = float(part.day_estimated[days].sum())
            off[q] = float(part.off_hours_used[days].sum())
        else:
            used[q] = float(part.service_used[days, cols].sum())
            estimated[q] = float(part.service_estimated[days, cols].sum())
            off[q] = NAN
    peaks = table.peak_kw[days] if service is None else table.service_peak_kw[days, cols]
    return Totals(
        **site_fields(table.site, baseline),
        **energy_and_food(table.site, waste, used, estimated, off, service is not None),
        days=n_days,
        service_slots=n_days * n_services,
        staff_slots=float(site.registered_staff * n_days * n_services),
        meals=meals,
        trays=trays,
        clean_plates=clean,
        waste_g=waste,
        used=used,
        estimated=estimated,
        off_hours=off,
        peak_kw=float(np.nanmax(peaks)) if np.any(~np.isnan(peaks)) else NAN,
        quota_kgce=quota_kgce,
        quota_reason=quota_reason,
        readings=int(sum(int(d.received[days].sum()) for d in table.devices)),
        meter_received=int(
            sum(int(d.received[days].sum()) for d in table.devices if d.kind == "meter")
        ),
        meter_expected=int(
            sum(int(d.expected[days].sum()) for d in table.devices if d.expected is not None)
        ),
        duplicates=int(sum(int(d.duplicates[days].sum()) for d in table.devices)),
        clock_corrected=int(sum(int(d.clock_corrected[days].sum()) for d in table.devices)),
        # quality figures are per date: a service row carries those of its dates
        events={k: int(table.meter_events[k][days].sum()) for k in EVENT_KINDS},
        scale_below_division=int(table.scale_below_division[days].sum()),
        scale_above_max=int(table.scale_above_max[days].sum()),
        raw_bin_events={k: int(v[days].sum()) for k, v in table.raw_bin_events.items()},
        repeat_swipes=int(table.repeat_swipes[days].sum()),
        devices=tuple(_device_totals(d, days) for d in table.devices),
        is_service_row=service is not None,
    )


def _device_totals(device: DeviceQuality, days: slice) -> DeviceTotals:
    lo, hi = device.skew.at[days.start], device.skew.at[days.stop]
    return DeviceTotals(
        kind=device.kind,
        device=device.device,
        received=int(device.received[days].sum()),
        expected=None if device.expected is None else int(device.expected[days].sum()),
        duplicates=int(device.duplicates[days].sum()),
        skew_keys=device.skew.keys[lo:hi],
        skew_counts=device.skew.counts[lo:hi],
        clock_corrected=int(device.clock_corrected[days].sum()),
        events=None
        if device.events is None
        else {k: int(v[days].sum()) for k, v in device.events.items()},
        raw_events=None
        if device.raw_events is None
        else {k: int(v[days].sum()) for k, v in device.raw_events.items()},
    )


def site_totals_many(
    table: DayTable,
    bounds: Sequence[tuple[int, int]],
    service: int | None = None,
    *,
    quotas: Sequence[tuple[float, Reason | None]] | None = None,
    baseline: "Totals | None" = None,
    device_skews: bool = True,
) -> list[Totals]:
    """`site_totals` of each (day_lo, day_hi) of `bounds` (with its (quota_kgce, quota_reason)
    of `quotas`), computed together: every per-date quantity of the table is stacked once into
    a (quantities, dates) matrix and reduced over the date axis for all rows at once, and the
    clock-skew figures of each row and (unless not `device_skews`: rows whose devices are not
    shown) of each device are computed here (central.kpi.quantiles).

    Values equal `site_totals` row by row, bit for bit: a one-date row takes 0 + the date's value
    (what a one-element numpy sum gives); a longer row sums a contiguous slice of each matrix row
    (numpy's pairwise summation, as for the 1-D slice). Service rows longer than one date (not
    produced by reports) go through `site_totals`.
    """
    if quotas is None:
        quotas = [(NAN, None)] * len(bounds)
    if len(quotas) != len(bounds):
        raise ValueError(f"{len(quotas)} quotas for {len(bounds)} rows")
    if not bounds:
        return []
    single = all(hi - lo == 1 for lo, hi in bounds)
    if service is not None and not single:
        return [
            site_totals(table, lo, hi, service, quota_kgce=q, quota_reason=r, baseline=baseline)
            for (lo, hi), (q, r) in zip(bounds, quotas, strict=True)
        ]
    los = np.array([lo for lo, _ in bounds], dtype=np.intp)
    his = np.array([hi for _, hi in bounds], dtype=np.intp)

    def reduce(rows: list[np.ndarray], dtype: type) -> list[list[Any]]:
        """Per matrix row, the sums of every bucket (as Python numbers)."""
        if not rows:
            return []
        matrix: np.ndarray = np.stack(rows).astype(dtype, casting="same_kind", copy=False)
        if single:
            sums = matrix[:, los] + dtype(0)
        else:
            sums = np.stack([matrix[:, lo:hi].sum(axis=1) for lo, hi in bounds], axis=1)
        out: list[list[Any]] = sums.tolist()
        return out

    site = table.site
    n_services = 1 if service is not None else len(table.services)
    present = [q for q in QUANTITIES if table.energy[q].present]

    # float quantities: waste per stream, then used / estimated (/ off hours) per metered quantity
    float_rows: list[np.ndarray] = []
    if service is None:
        float_rows += [table.day_waste_g[s] for s in STREAMS]
        for q in present:
            part = table.energy[q]
            float_rows += [part.day_used, part.day_estimated, part.off_hours_used]
    else:
        float_rows += [table.service_waste_g[s][:, service] for s in SERVICE_STREAMS]
        for q in present:
            part = table.energy[q]
            float_rows += [part.service_used[:, service], part.service_estimated[:, service]]
    floats = iter(reduce(float_rows, np.float64))
    if service is None:
        waste_rows = {s: next(floats) for s in STREAMS}
    else:
        service_waste = {s: next(floats) for s in SERVICE_STREAMS}
        nan_row = [NAN] * len(bounds)
        waste_rows = {s: service_waste.get(s, nan_row) for s in STREAMS}
    per_quantity = 3 if service is None else 2
    energy_rows = {q: [next(floats) for _ in range(per_quantity)] for q in present}

    # integer quantities: meals, trays, clean plates, quality counts, then per device
    if service is None:
        int_rows = [table.diners.sum(axis=1), table.day_trays, table.day_clean_plates]
    else:
        int_rows = [table.diners[:, service], table.trays[:, service]]
        int_rows.append(table.clean_plates[:, service])
    int_rows += [table.meter_events[k] for k in EVENT_KINDS]
    int_rows += [table.scale_below_division, table.scale_above_max, table.repeat_swipes]
    raw_kinds = list(table.raw_bin_events)
    int_rows += [table.raw_bin_events[k] for k in raw_kinds]
    for d in table.devices:
        int_rows += [d.received, d.duplicates, d.clock_corrected]
        if d.expected is not None:
            int_rows.append(d.expected)
        if d.events is not None:
            int_rows += [d.events[k] for k in d.events]
        if d.raw_events is not None:
            int_rows += [d.raw_events[k] for k in d.raw_events]
    ints = iter(reduce(int_rows, np.int64))
    meals, trays, clean = next(ints), next(ints), next(ints)
    events = {k: next(ints) for k in EVENT_KINDS}
    below, above, repeats = next(ints), next(ints), next(ints)
    raw_bins = {k: next(ints) for k in raw_kinds}

    # per device: its sums, its skew bins' bounds per row and their figures
    row_skews, device_skew_rows = _skews(table.devices, los, his, device_skews)
    device_rows = []
    for d, figures in zip(table.devices, device_skew_rows, strict=True):
        received, dups, corrected = next(ints), next(ints), next(ints)
        expected = next(ints) if d.expected is not None else None
        dev_events = {k: next(ints) for k in d.events} if d.events is not None else None
        dev_raw = {k: next(ints) for k in d.raw_events} if d.raw_events is not None else None
        lo, hi = d.skew.at[los], d.skew.at[his]
        device_rows.append(
            (d, received, dups, corrected, expected, dev_events, dev_raw, lo.tolist(), hi.tolist(),
             figures)
        )  # fmt: skip

    peak_rows = table.peak_kw if service is None else table.service_peak_kw[:, service]
    if single:
        peaks = peak_rows[los].tolist()
    else:
        peaks = [
            float(np.nanmax(p)) if np.any(~np.isnan(p)) else NAN
            for p in (peak_rows[lo:hi] for lo, hi in bounds)
        ]
    constant = site_fields(table.site, baseline)
    absent = [q for q in QUANTITIES if q not in energy_rows]
    out = []
    for i, (day_lo, day_hi) in enumerate(bounds):
        n_days = day_hi - day_lo
        waste = {s: float(waste_rows[s][i]) for s in STREAMS}
        used: dict[str, float] = {}
        estimated: dict[str, float] = {}
        off: dict[str, float] = {}
        for q, parts in energy_rows.items():
            used[q] = parts[0][i]
            estimated[q] = parts[1][i]
            off[q] = parts[2][i] if service is None else NAN
        for q in absent:
            used[q] = estimated[q] = off[q] = NAN
        used = {q: used[q] for q in QUANTITIES}  # the order of site_totals
        estimated = {q: estimated[q] for q in QUANTITIES}
        off = {q: off[q] for q in QUANTITIES}
        devices = []
        readings = meter_received = meter_expected = duplicates = clock_corrected = 0
        for d, received, dups, corrected, expected, dev_events, dev_raw, lo, hi, fig in device_rows:
            readings += received[i]
            duplicates += dups[i]
            clock_corrected += corrected[i]
            if d.kind == "meter":
                meter_received += received[i]
            if expected is not None:
                meter_expected += expected[i]
            devices.append(
                DeviceTotals(
                    kind=d.kind,
                    device=d.device,
                    received=received[i],
                    expected=None if expected is None else expected[i],
                    duplicates=dups[i],
                    skew_keys=d.skew.keys[lo[i] : hi[i]],
                    skew_counts=d.skew.counts[lo[i] : hi[i]],
                    clock_corrected=corrected[i],
                    events=None if dev_events is None else {k: v[i] for k, v in dev_events.items()},
                    raw_events=None if dev_raw is None else {k: v[i] for k, v in dev_raw.items()},
                    skew=None if fig is None else _skew(fig[i]),
                )
            )
        quota_kgce, quota_reason = quotas[i]
        peak = peaks[i]
        out.append(
            Totals(
                **constant,
                **energy_and_food(table.site, waste, used, estimated, off, service is not None),
                days=n_days,
                service_slots=n_days * n_services,
                staff_slots=float(site.registered_staff * n_days * n_services),
                meals=meals[i],
                trays=trays[i],
                clean_plates=clean[i],
                waste_g=waste,
                used=used,
                estimated=estimated,
                off_hours=off,
                peak_kw=NAN if math.isnan(peak) else float(peak),
                quota_kgce=quota_kgce,
                quota_reason=quota_reason,
                readings=readings,
                meter_received=meter_received,
                meter_expected=meter_expected,
                duplicates=duplicates,
                clock_corrected=clock_corrected,
                events={k: v[i] for k, v in events.items()},
                scale_below_division=below[i],
                scale_above_max=above[i],
                raw_bin_events={k: v[i] for k, v in raw_bins.items()},
                repeat_swipes=repeats[i],
                devices=tuple(devices),
                is_service_row=service is not None,
                skew=row_skews[i],
            )
        )
    return out


def _skews(
    devices: Sequence[DeviceQuality], los: Int64Array, his: Int64Array, per_device: bool
) -> tuple[list[SkewFigures], list[list[tuple[float, float] | None] | None]]:
    """Per row, the skew figures of every device's histograms of the row together (Q3), and
    (when `per_device`) each device's per row; each from one call over every bin at once."""
    n_rows = len(los)
    if not devices:
        return [NO_SKEW] * n_rows, []
    keys, counts, rows = [], [], []
    for i, d in enumerate(devices):
        index, row = gather(d.skew.at, los, his)
        keys.append(d.skew.keys[index])
        counts.append(d.skew.counts[index])
        rows.append(row + i * n_rows)
    all_keys, all_counts = np.concatenate(keys), np.concatenate(counts)
    all_rows = np.concatenate(rows)
    figures = skew_figures(all_keys, all_counts, all_rows % n_rows, n_rows)
    if not per_device:
        return [_skew(f) for f in figures], [None] * len(devices)
    each = skew_figures(all_keys, all_counts, all_rows, n_rows * len(devices))
    per: list[list[tuple[float, float] | None] | None] = [
        each[i * n_rows : (i + 1) * n_rows] for i in range(len(devices))
    ]
    return [_skew(f) for f in figures], per


def combine(parts: Sequence[Totals]) -> Totals:
    """Totals of several sites for the same row (a region)."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        raise ValueError("no totals to combine")

    def each(name: str) -> list[float]:
        return [float(getattr(p, name)) for p in parts]

    def per_key(name: str, keys: Sequence[str], strict: bool = False) -> dict[str, float]:
        add = _strict if strict else _nansum
        return {k: add([getattr(p, name)[k] for p in parts]) for k in keys}

    return replace(
        parts[0],
        sites=sum(p.sites for p in parts),
        days=max(p.days for p in parts),
        service_slots=sum(p.service_slots for p in parts),
        staff_slots=math.fsum(each("staff_slots")),
        meals=sum(p.meals for p in parts),
        trays=sum(p.trays for p in parts),
        clean_plates=sum(p.clean_plates for p in parts),
        waste_g=per_key("waste_g", STREAMS, strict=True),
        used=per_key("used", QUANTITIES),
        estimated=per_key("estimated", QUANTITIES),
        off_hours=per_key("off_hours", QUANTITIES),
        kgce=_nansum(each("kgce")),
        co2_kg=_nansum(each("co2_kg")),
        kgce_estimated=_nansum(each("kgce_estimated")),
        off_hours_kgce=_nansum(each("off_hours_kgce")),
        peak_kw=max((v for v in each("peak_kw") if not math.isnan(v)), default=NAN),
        value_cny=_strict(each("value_cny")),
        food_co2e_kg=_strict(each("food_co2e_kg")),
        floor_area_m2=_strict(each("floor_area_m2")),
        staff=math.fsum(each("staff")),
        quota_kgce=_strict(each("quota_kgce")),
        quota_reason=joined(p.quota_reason for p in parts if p.quota_reason),
        baseline_waste_g=_strict(each("baseline_waste_g")),
        baseline_meals=_strict(each("baseline_meals")),
        factor_sets=frozenset().union(*(p.factor_sets for p in parts)),
        readings=sum(p.readings for p in parts),
        meter_received=sum(p.meter_received for p in parts),
        meter_expected=sum(p.meter_expected for p in parts),
        duplicates=sum(p.duplicates for p in parts),
        clock_corrected=sum(p.clock_corrected for p in parts),
        events={k: sum(p.events[k] for p in parts) for k in EVENT_KINDS},
        scale_below_division=sum(p.scale_below_division for p in parts),
        scale_above_max=sum(p.scale_above_max for p in parts),
        raw_bin_events={k: sum(p.raw_bin_events.get(k, 0) for p in parts) for k in RAW_EVENT_KINDS},
        repeat_swipes=sum(p.repeat_swipes for p in parts),
        devices=tuple(d for p in parts for d in p.devices),
        skew=None,  # the sites' samples together: computed from the histograms when asked
        skew_bins=None if all(p.skew_bins is None for p in parts) else _bins(parts),
    )


def _bins(totals: Sequence[Totals]) -> tuple[Int64Array, Int64Array]:
    """Every clock-skew bin of the rows (of `skew_bins`, else of their devices)."""
    keys, counts = [], []
    for t in totals:
        if t.skew_bins is not None:
            keys.append(t.skew_bins[0])
            counts.append(t.skew_bins[1])
        else:
            keys += [d.skew_keys for d in t.devices]
            counts += [d.skew_counts for d in t.devices]
    empty = np.zeros(0, dtype=np.int64)
    return (np.concatenate(keys), np.concatenate(counts)) if keys else (empty, empty)


def skew_of(totals: Totals) -> SkewFigures:
    """The clock-skew figures of the row: its own, or of every device's histogram together."""
    if totals.skew is not None:
        return totals.skew
    keys, counts = _bins([totals])
    return _skew(figures_of(keys, counts)) if keys.size else NO_SKEW


def with_device_skews(rows: Sequence[Totals]) -> list[Totals]:
    """`rows` with every device's clock-skew figures computed, all in one call (a device's
    figures one by one cost a numpy pass each: a year by month has ~150 of them)."""
    devices = [d for t in rows for d in t.devices]
    if not devices:
        return list(rows)
    sizes = np.array([d.skew_keys.size for d in devices], dtype=np.int64)
    keys = np.concatenate([d.skew_keys for d in devices])
    counts = np.concatenate([d.skew_counts for d in devices])
    row = np.repeat(np.arange(len(devices), dtype=np.int64), sizes)
    figures = iter(skew_figures(keys, counts, row, len(devices)))
    return [
        replace(t, devices=tuple(replace(d, skew=_skew(next(figures))) for d in t.devices))
        for t in rows
    ]


def device_skew(device: DeviceTotals) -> SkewFigures:
    """The clock-skew figures of one device over the row."""
    if device.skew is not None:
        return device.skew
    return _skew(figures_of(device.skew_keys, device.skew_counts))
