"""Checks the store's health in the background, so that a store file deleted, replaced or made
unwritable while no batch arrives is noticed (and logged at ERROR) without waiting for the next
write or GET /health; a store whose writes failed is probed until they succeed again
(central/store/sqlite_health.py)."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from central.store import ReadingsStore

logger = logging.getLogger(__name__)


async def run_monitor(store: ReadingsStore, interval_s: float) -> None:
    """`store.check_health()` every `interval_s` until cancelled (the store logs changes)."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await store.check_health()
        except Exception:
            logger.exception("store monitor: the health check failed; next in %.0f s", interval_s)


@asynccontextmanager
async def store_monitor(store: ReadingsStore, interval_s: float) -> AsyncIterator[None]:
    """Run the monitor beside the block when `interval_s` > 0."""
    if interval_s <= 0:
        yield
        return
    async with asyncio.TaskGroup() as tasks:
        task = tasks.create_task(run_monitor(store, interval_s), name="store-monitor")
        try:
            yield
        finally:
            task.cancel()
