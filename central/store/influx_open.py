"""The `influxdb` store built from central's settings (CENTRAL_INFLUX_*)."""

from central.settings import CentralSettings
from central.store.influx import InfluxStore


def open_influx_store(settings: CentralSettings) -> InfluxStore:
    return InfluxStore(
        url=settings.influx_url,
        org=settings.influx_org,
        bucket=settings.influx_bucket,
        token=settings.influx_token.get_secret_value(),
        write_timeout_s=settings.influx_write_timeout_s,
        query_timeout_s=settings.influx_query_timeout_s,
        derived_series=settings.influx_derived_series,
    )
