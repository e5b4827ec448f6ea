"""`python -m bench.sink`: a minimal, fast stand-in for central's ingest endpoint.

It answers every POST /api/v1/ingest with a 200 IngestResult accepting all readings, without
storing anything, so that edge figures (2 and 5) measure the edge and not central. It keeps a
timeline (wall time, readings per batch) and, for readings of devices whose id starts with
`--live-prefix`, the latency from the device's `device_time_ms` to the batch's arrival.
GET /stats returns all of it as JSON. With `--paused` it answers 503 until POST /resume, so that
an edge can be started and subscribed before its backlog starts to drain.
"""

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Sink:
    """The ASGI application; one instance per process."""

    def __init__(self, live_prefix: str, paused: bool = False) -> None:
        self.live_prefix = live_prefix
        self.paused = paused
        self.readings = 0
        self.timeline: list[tuple[int, int, int]] = []  # (arrival ms, readings, live readings)
        self.live: list[tuple[int, int]] = []  # (device_time_ms, latency ms) of live readings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        if scope["method"] == "GET" and scope["path"] == "/stats":
            await _answer(send, 200, self.stats())
            return
        if scope["method"] == "POST" and scope["path"] == "/resume":
            self.paused = False
            await _answer(send, 200, {"paused": False})
            return
        if scope["method"] != "POST" or scope["path"] != "/api/v1/ingest":
            await _answer(send, 404, {"detail": "not found"})
            return
        if self.paused:  # what central answers when its store is unavailable: the edge retries
            await _answer(send, 503, {"detail": "paused by the benchmark"})
            return
        now_ms = time.time_ns() // 1_000_000
        batch = json.loads(b"".join(chunks))
        readings = batch["readings"]
        live = 0
        for reading in readings:
            if reading["device"].startswith(self.live_prefix):
                live += 1
                device_ms = reading["device_time_ms"]
                self.live.append((device_ms, now_ms - device_ms))
        self.readings += len(readings)
        self.timeline.append((now_ms, len(readings), live))
        answer = {"batch_id": batch["batch_id"], "accepted": len(readings), "duplicates": 0}
        await _answer(send, 200, answer)

    def stats(self) -> dict[str, Any]:
        return {
            "readings": self.readings,
            "timeline": self.timeline,
            "live": self.live,
        }


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bench.sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--live-prefix", default="live")
    parser.add_argument("--paused", action="store_true", help="answer 503 until POST /resume")
    args = parser.parse_args(argv)
    uvicorn.run(
        Sink(args.live_prefix, args.paused),
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
