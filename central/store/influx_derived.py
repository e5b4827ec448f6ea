"""Points of the derived series in InfluxDB (central/derived.py; docs/influxdb.md, "Derived
series"): measurements `meals`, `waste` and `consumption`.

Each point's series key and timestamp are fixed by what it describes (a site's service on a date,
a stream on a date, a meter's interval ending at a reading), so a recomputation after late data
writes the same points again and InfluxDB overwrites their fields.
"""

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from central.derived import DerivedSeries
from central.store.influx_schema import NS_PER_MS

MEALS = "meals"
WASTE = "waste"
CONSUMPTION = "consumption"


def derived_points(series: DerivedSeries) -> list[Point]:
    """The points of `series`: meals per service, waste per stream and date, meter intervals."""
    site = series.site
    points: list[Point] = []
    for meals in series.meals:
        point = Point(MEALS).tag("site", site).tag("service", meals.service)
        point.field("diners", meals.diners).field("trays", meals.trays)
        point.field("clean_plates", meals.clean_plates)
        points.append(point.time(meals.start_ms * NS_PER_MS, WritePrecision.NS))
    for waste in series.waste:
        point = Point(WASTE).tag("site", site).tag("stream", waste.stream)
        point.field("mass_g", float(waste.mass_g))
        points.append(point.time(waste.start_ms * NS_PER_MS, WritePrecision.NS))
    for interval in series.intervals:
        point = Point(CONSUMPTION).tag("site", site).tag("device", interval.device)
        point.tag("quantity", interval.quantity)
        point.field("used", float(interval.used))
        point.field("estimated_used", float(interval.estimated))
        point.field("estimated", interval.estimated > 0.0)
        point.field("start_ms", int(interval.start_ms))
        points.append(point.time(interval.end_ms * NS_PER_MS, WritePrecision.NS))
    return points
