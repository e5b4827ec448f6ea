"""`python -m bench.publisher`: MQTT devices publishing valid readings at QoS 1 into a broker.

Each client is a paho connection in its own thread, publishing on three devices (card, scale,
meter) of its site in turn, with `ts` = the wall clock at publish (figure 4 and 5 latencies start
there). Either as fast as the broker acknowledges (`--messages`), or paced (`--rate-per-s` for
`--duration-s`). All processes start publishing at `--start-at` (epoch s), so that several
publisher processes offer their load together. The last stdout line is a JSON summary.
"""

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench.payloads import KINDS, device_id, device_payload, topic

CLIENT_INFLIGHT = 200


@dataclass(slots=True)
class ClientRun:
    published: int = 0
    acknowledged: int = 0
    first_s: float = 0.0
    last_ack_s: float = 0.0
    error: str = ""


def _run_client(
    args: argparse.Namespace, index: int, site: str, result: ClientRun, ready: threading.Barrier
) -> None:
    done = threading.Event()
    total = args.messages if args.messages else int(args.rate_per_s * args.duration_s)
    lock = threading.Lock()

    def on_publish(
        client: mqtt.Client, userdata: object, mid: int, rc: object, props: object
    ) -> None:
        with lock:
            result.acknowledged += 1
            result.last_ack_s = time.time()
            if result.acknowledged >= total:
                done.set()

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"{args.prefix}-pub-{index}",
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.max_inflight_messages_set(CLIENT_INFLIGHT)
    client.max_queued_messages_set(0)  # unbounded: the loop below never blocks on the queue
    client.on_publish = on_publish
    client.connect(args.host, args.port, keepalive=60)
    client.loop_start()
    devices = [(kind, device_id(f"{args.prefix}{index}", kind, 0)) for kind in KINDS]
    topics = [topic(site, kind, device) for kind, device in devices]
    boot = args.boot
    try:
        ready.wait(timeout=30)
        delay_s = args.start_at - time.time()
        if delay_s > 0:
            time.sleep(delay_s)
        start_s = time.time()
        result.first_s = start_s
        interval_s = 0.0 if args.messages else 1.0 / args.rate_per_s
        for n in range(total):
            if interval_s:
                wait_s = start_s + n * interval_s - time.time()
                if wait_s > 0:
                    time.sleep(wait_s)
            slot = n % len(KINDS)
            seq = n // len(KINDS)
            payload = device_payload(KINDS[slot], boot, seq, time.time_ns() // 1_000_000)
            client.publish(topics[slot], payload, qos=1)
            result.published += 1
        if total and not done.wait(timeout=args.timeout_s):
            result.error = f"{result.acknowledged} of {total} PUBACKs within {args.timeout_s} s"
    finally:
        client.disconnect()
        client.loop_stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.publisher")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sites", required=True, help="comma-separated; clients take them in turn")
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--messages", type=int, default=0, help="per client, as fast as possible")
    parser.add_argument("--rate-per-s", type=float, default=0.0, help="per client, paced")
    parser.add_argument("--duration-s", type=float, default=0.0)
    parser.add_argument("--prefix", default="bench", help="device and client id prefix")
    parser.add_argument("--boot", default="b0")
    parser.add_argument("--start-at", type=float, default=0.0, help="epoch s to start publishing")
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    if not args.messages and not (args.rate_per_s > 0 and args.duration_s > 0):
        parser.error("give --messages, or --rate-per-s with --duration-s")
    sites = args.sites.split(",")
    results = [ClientRun() for _ in range(args.clients)]
    ready = threading.Barrier(args.clients)
    threads = [
        threading.Thread(
            target=_run_client,
            args=(args, i, sites[i % len(sites)], results[i], ready),
            name=f"publisher-{i}",
        )
        for i in range(args.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    errors = [r.error for r in results if r.error]
    summary = {
        "published": sum(r.published for r in results),
        "acknowledged": sum(r.acknowledged for r in results),
        "first_s": min(r.first_s for r in results),
        "last_ack_s": max(r.last_ack_s for r in results),
        "errors": errors,
    }
    print(json.dumps(summary), flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())


class PacedPublisher:
    """`with PacedPublisher(...)`: one paho client in a thread publishing at `rate_per_s` until
    the block ends (in-process: the live load of figure 5, whose duration is not known ahead)."""

    def __init__(self, *, host: str, port: int, site: str, prefix: str, rate_per_s: float) -> None:
        self._client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{prefix}-paced",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        self._host, self._port = host, port
        self._interval_s = 1.0 / rate_per_s
        self._devices = [topic(site, kind, device_id(prefix, kind, 0)) for kind in KINDS]
        self._boot = f"{prefix}{time.time_ns() // 1_000_000}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{prefix}-paced")
        self._last: mqtt.MQTTMessageInfo | None = None
        self.published = 0

    def _run(self) -> None:
        start_s = time.monotonic()
        n = 0
        while not self._stop.is_set():
            wait_s = start_s + n * self._interval_s - time.monotonic()
            if wait_s > 0 and self._stop.wait(wait_s):
                break
            slot = n % len(KINDS)
            payload = device_payload(
                KINDS[slot], self._boot, n // len(KINDS), time.time_ns() // 1_000_000
            )
            self._last = self._client.publish(self._devices[slot], payload, qos=1)
            n += 1
            self.published = n

    def __enter__(self) -> "PacedPublisher":
        self._client.connect(self._host, self._port, keepalive=60)
        self._client.loop_start()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        if self._last is not None:  # PUBACKs come in order: the last one covers all
            self._last.wait_for_publish(timeout=30)
        self._client.disconnect()
        self._client.loop_stop()
