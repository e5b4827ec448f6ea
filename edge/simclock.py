"""A simulated edge clock: a simulation facility, never for a real deployment.

In an accelerated simulation devices send simulated time while the edge would stamp receive
times with the wall clock, so central could not tell a wrong device clock from the simulation's
own offset. With EDGE_SIM_CLOCK_ORIGIN_MS, EDGE_SIM_CLOCK_WALL_ORIGIN_MS and EDGE_SIM_CLOCK_SPEED
the edge stamps received_ms = origin + (wall_now - wall_origin) x speed, the mapping the
simulator's SimClock uses (simulators/publisher.py) when started with the same origins.
"""

from collections.abc import Callable

from edge.mqtt_intake import wall_clock_ms


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
