"""A lockstep simulated clock: virtual time shared with the edges over MQTT, at full speed.

At `--speed 0` the devices publish as fast as the broker acknowledges, each at its own pace, so
an edge's wall clock says nothing about simulated time and central cannot tell a wrong device
clock. With `--clock-topic` every device task waits here for each message's due time, and the
clock advances only when every device that still has messages is waiting on it:

1. to the earliest due time T among the waiting messages; it publishes T on the clock topic
   (QoS 1, acknowledged by the broker) before anything else;
2. then it releases the messages due in [T, T + step). A message central attributes by its
   receive time (a wrong device clock, `timed_by_receipt`) is released only at a tick equal to
   its due time, so the edge stamps it exactly when it happened.

Every release waits for the broker's PUBACK of the tick, and the next tick waits for every
device to be waiting again, i.e. for the PUBACKs of the step's messages. Mosquitto queues a
PUBLISH for its subscribers before it acknowledges it, and delivers one subscriber's messages in
that order, so an edge that stamps receive times with the last tick (EDGE_SIM_CLOCK_TOPIC) stamps
each message with a time in (due - step, due]: a correct clock looks at most `step` early,
however slow the machine, and nothing is paced by the wall clock.
"""

import asyncio
import heapq
import itertools
from collections.abc import Awaitable, Callable


class LockstepClock:
    """`wait_for(due_ms)` per message of each of `participants` device tasks; `pause()` while a
    task waits for its next messages, `resume()` when it has them; `leave()` when it has
    published its last message; `run()` drives the clock until every task left."""

    def __init__(
        self, participants: int, step_ms: int, publish_tick: Callable[[int], Awaitable[None]]
    ) -> None:
        if step_ms <= 0:
            raise ValueError(f"a lockstep clock needs a step > 0 ms, got {step_ms}")
        self._active = participants  # taking part now: not paused, not left
        self._remaining = participants  # not left
        self._step_ms = step_ms
        self._publish_tick = publish_tick
        self._waiting: list[tuple[int, int, bool, asyncio.Future[None]]] = []  # a heap
        self._order = itertools.count()
        self._stalled = asyncio.Event()
        self._now_ms: int | None = None
        self._limit_ms: int | None = None
        self.ticks = 0

    async def wait_for(self, at_ms: int, timed_by_receipt: bool = False) -> None:
        """Return once the message due at `at_ms` may be published."""
        now, limit = self._now_ms, self._limit_ms
        if now is not None and limit is not None and now <= at_ms < limit:
            if not timed_by_receipt or at_ms == now:
                return
        elif now is not None and at_ms < now and not timed_by_receipt:
            return  # due before the clock (cannot happen with sorted batches): send it now
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (at_ms, next(self._order), timed_by_receipt, future))
        self._check()
        await future

    def leave(self) -> None:
        """A device task has published its last message."""
        self._active -= 1
        self._remaining -= 1
        self._check()

    def pause(self) -> None:
        """A device task has no message to wait for until its next batch arrives: the clock
        does not wait for it meanwhile (`resume` when the batch is there)."""
        self._active -= 1
        self._check()

    def resume(self) -> None:
        """A paused device task has messages again."""
        self._active += 1

    def _check(self) -> None:
        if len(self._waiting) >= self._active:
            self._stalled.set()

    async def run(self) -> None:
        while self._remaining > 0 or self._waiting:
            await self._stalled.wait()
            self._stalled.clear()
            if not self._waiting or len(self._waiting) < self._active:
                continue
            now = self._waiting[0][0]
            await self._publish_tick(now)
            self.ticks += 1
            self._now_ms = now
            limit = now + self._step_ms
            while self._waiting and self._waiting[0][0] < limit:
                due, _, timed_by_receipt, future = self._waiting[0]
                if timed_by_receipt and due > now:
                    limit = due  # its own tick; nothing due after it goes out before that tick
                    break
                heapq.heappop(self._waiting)
                future.set_result(None)
            self._limit_ms = limit
