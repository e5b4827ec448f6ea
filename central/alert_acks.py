"""Acknowledged alerts: who acknowledged which alert and when, in central's SQLite file.

Alerts are computed from the readings at query time (central/kpi/alerts.py), so they have no row
of their own; an alert is named by its identity (site, local date, kind, device), which stays the
same however often it is computed. The `alert_acks` table holds one row per acknowledged identity:
the first acknowledgement is kept (acknowledging again changes nothing, so a retried POST is
harmless). It lives beside the credentials table (CENTRAL_SQLITE_PATH) whatever the reading store
is, so that InfluxDB deployments keep acknowledgements too.
"""

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from central import sqlite_file
from central.errors import CentralError
from central.kpi.alerts import Alert

MAX_NOTE_CHARS = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_acks (
    site TEXT NOT NULL,
    date TEXT NOT NULL,             -- local date of the alert, YYYY-MM-DD
    kind TEXT NOT NULL,             -- central.kpi.alerts.AlertKind
    device TEXT NOT NULL,           -- the device or edge the alert names, '' for none
    actor TEXT NOT NULL,            -- who acknowledged (the read token's name for now)
    acked_ms INTEGER NOT NULL,      -- when, epoch ms (central's clock)
    note TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (site, date, kind, device)
) WITHOUT ROWID;
"""


class AlertAckError(CentralError):
    """The acknowledgement table cannot be opened, read or written."""


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """The stable identity of an alert: the same alert computed again has the same key."""

    site: str
    date: dt.date
    kind: str
    device: str = ""  # the device (device_offline, device_silent) or edge it names; '' for none

    @classmethod
    def of(cls, alert: Alert, on: dt.date) -> "AlertKey":
        return cls(alert.site, on, alert.kind.value, alert.device or alert.edge or "")

    @property
    def id(self) -> str:
        """One string for the key (the dashboard's row id): site/date/kind/device."""
        return f"{self.site}/{self.date.isoformat()}/{self.kind}/{self.device}"


@dataclass(frozen=True, slots=True)
class AlertAck:
    key: AlertKey
    actor: str
    acked_ms: int
    note: str = ""


class AlertAckStore(sqlite_file.FileStore):
    """`with AlertAckStore(path) as acks:` the alert_acks table; thread-safe, blocking (call it
    from a worker thread); every write is committed before it returns."""

    _schema = _SCHEMA
    _error = AlertAckError
    _name = "alert acknowledgements database"

    def acknowledge(self, key: AlertKey, actor: str, now_ms: int, note: str = "") -> AlertAck:
        """Record the acknowledgement of `key` unless it has one; return the one kept (the
        first). Committed when this returns."""
        with self._connection() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO alert_acks"
                " (site, date, kind, device, actor, acked_ms, note)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    key.site,
                    key.date.isoformat(),
                    key.kind,
                    key.device,
                    actor,
                    now_ms,
                    note[:MAX_NOTE_CHARS],
                ),
            )
            row = conn.execute(
                "SELECT actor, acked_ms, note FROM alert_acks"
                " WHERE site = ? AND date = ? AND kind = ? AND device = ?",
                (key.site, key.date.isoformat(), key.kind, key.device),
            ).fetchone()
        return AlertAck(key, str(row[0]), int(row[1]), str(row[2]))

    def acks(self, sites: Iterable[str], first: date, last: date) -> dict[AlertKey, AlertAck]:
        """Acknowledgements of `sites` for local dates first..last (inclusive), by key."""
        ids = sorted(set(sites))
        if not ids:
            return {}
        marks = ", ".join("?" for _ in ids)
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT site, date, kind, device, actor, acked_ms, note FROM alert_acks"
                f" WHERE site IN ({marks}) AND date BETWEEN ? AND ?",
                (*ids, first.isoformat(), last.isoformat()),
            ).fetchall()
        out = {}
        for site, on, kind, device, actor, acked_ms, note in rows:
            key = AlertKey(site, date.fromisoformat(on), kind, device)
            out[key] = AlertAck(key, actor, int(acked_ms), note)
        return out
