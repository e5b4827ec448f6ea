"""Failpoints: named places where a test can make the edge die hard, as a power cut would.

A TEST FACILITY. The fault-matrix tests (tests/faults/) arm a point with the setting
`EDGE_FAILPOINTS="after_upload_2xx_before_delete:3"`, meaning "exit the process with `os._exit`
the 3rd time this point is reached": no `finally`, no flush, no clean MQTT disconnect, exactly
like `kill -9` at that instant. Unset (the default and the only sane production value) a point
costs one truth test of an empty dict.
"""

import logging
import os
import sys
from collections.abc import Mapping

logger = logging.getLogger(__name__)

# Where the edge's delivery guarantee could break if the code were wrong.
AFTER_RECEIVE_BEFORE_COMMIT = "after_receive_before_commit"  # in memory, not on disk, not acked
AFTER_COMMIT_BEFORE_ACK = "after_commit_before_ack"  # on disk, PUBACK not sent
AFTER_UPLOAD_2XX_BEFORE_DELETE = "after_upload_2xx_before_delete"  # central has it, buffer too
AFTER_DELETE = "after_delete"  # deleted from the buffer after central's 2xx

POINTS = (
    AFTER_RECEIVE_BEFORE_COMMIT,
    AFTER_COMMIT_BEFORE_ACK,
    AFTER_UPLOAD_2XX_BEFORE_DELETE,
    AFTER_DELETE,
)

# What the process exits with at an armed point (137 = 128 + SIGKILL, as after `kill -9`).
EXIT_CODE = 137


class FailpointSpecError(ValueError):
    """The EDGE_FAILPOINTS text cannot be read."""


def parse_spec(spec: str) -> dict[str, int]:
    """`"name:3,other:1"` -> {"name": 3, "other": 1}; an empty text arms nothing."""
    armed: dict[str, int] = {}
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        name, sep, count_text = item.partition(":")
        name = name.strip()
        if name not in POINTS:
            raise FailpointSpecError(f"unknown failpoint {name!r}; known: {', '.join(POINTS)}")
        try:
            count = int(count_text) if sep else 1
        except ValueError:
            raise FailpointSpecError(f"failpoint {name}: {count_text!r} is not a count") from None
        if count < 1:
            raise FailpointSpecError(f"failpoint {name}: the count must be >= 1")
        armed[name] = count
    return armed


class Failpoints:
    """The armed points of one process; `reach(name)` exits hard on the n-th passage."""

    def __init__(self, armed: Mapping[str, int] | None = None) -> None:
        self._armed = dict(armed or {})
        self._reached: dict[str, int] = {}

    @classmethod
    def from_spec(cls, spec: str) -> "Failpoints":
        return cls(parse_spec(spec))

    @property
    def armed(self) -> dict[str, int]:
        return dict(self._armed)

    def reach(self, name: str) -> None:
        if not self._armed:  # production: nothing armed, nothing to do
            return
        target = self._armed.get(name)
        if target is None:
            return
        reached = self._reached.get(name, 0) + 1
        self._reached[name] = reached
        if reached == target:
            logger.critical("failpoint %s reached (%d): exiting hard", name, reached)
            for handler in logging.getLogger().handlers:
                handler.flush()
            sys.stderr.flush()
            os._exit(EXIT_CODE)


DISABLED = Failpoints()
