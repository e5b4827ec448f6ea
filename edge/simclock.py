"""Simulated edge clocks: a simulation facility, never for a real deployment.

In an accelerated simulation devices send simulated time while the edge would stamp receive
times with the wall clock, so central could not tell a wrong device clock from the simulation's
own offset. With EDGE_SIM_CLOCK_ORIGIN_MS, EDGE_SIM_CLOCK_WALL_ORIGIN_MS and EDGE_SIM_CLOCK_SPEED
the edge stamps received_ms = origin + (wall_now - wall_origin) x speed, the mapping the
simulator's SimClock uses (simulators/publisher.py) when started with the same origins.

With EDGE_SIM_CLOCK_TOPIC instead (a lockstep simulation, simulators/lockstep.py), the edge
subscribes to that topic and its clock is the last simulated time published there (starting at
EDGE_SIM_CLOCK_ORIGIN_MS): the simulator publishes a tick before the messages of each step, so
receive times follow simulated time however fast the run goes.
"""

import logging
from collections.abc import Callable

from edge.mqtt_intake import wall_clock_ms

logger = logging.getLogger(__name__)


def simulated_clock(
    origin_ms: int,
    wall_origin_ms: int,
    speed: float,
    wall_ms: Callable[[], int] = wall_clock_ms,
) -> Callable[[], int]:
    """The edge clock at `speed` simulated ms per wall ms, at `origin_ms` when the wall clock
    shows `wall_origin_ms`."""
    if speed <= 0:
        raise ValueError(f"a simulated clock needs speed > 0, got {speed}")

    def now_ms() -> int:
        return origin_ms + round((wall_ms() - wall_origin_ms) * speed)

    return now_ms


class TickClock:
    """The edge clock of a lockstep simulation: the last tick published on `topic`."""

    def __init__(self, topic: str, origin_ms: int) -> None:
        self.topic = topic
        self._now_ms = origin_ms

    def now_ms(self) -> int:
        return self._now_ms

    def tick(self, payload: bytes) -> None:
        """A tick (simulated epoch ms as ASCII digits) from the MQTT thread; others are logged."""
        try:
            self._now_ms = int(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            logger.error("simulated clock: tick %r on %s is not epoch ms", payload[:40], self.topic)
