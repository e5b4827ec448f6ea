"""Figures 1 and 2: the MQTT ceiling (bare subscriber) and the edge's durable throughput.

Same load for both: `publisher_processes` processes x `clients_per_publisher` paho clients, each
publishing its share of `mqtt_messages` valid readings at QoS 1 as fast as the broker acknowledges,
into a fresh Mosquitto (harness.broker, the test/demo broker settings). The rate of each receiver
is readings / (time its last reading was done - time the publishers started): "done" means decoded
for the subscriber, and committed to the buffer (synchronous=FULL) then acknowledged for the edge.
"""

import time
from contextlib import ExitStack
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from bench import procs
from bench.payloads import device_payload, topic
from bench.results import Figure, Target
from bench.sizes import Sizes
from bench.stats import rate_per_s
from contract.topics import DeviceKind
from edge.buffer import read_status
from edge.errors import EdgeBufferError
from harness.broker import Mosquitto
from harness.processes import ManagedProcess, python_module

SITE = "bench-site"
START_DELAY_S = 2.0  # publishers connect, then all start together at this offset
EDGE_TARGET_OF_CEILING = 0.8


def _start_publishers(
    stack: ExitStack, workdir: Path, sizes: Sizes, broker_port: int, tag: str
) -> tuple[list[ManagedProcess], int]:
    per_client = max(
        1, sizes.mqtt_messages // (sizes.publisher_processes * sizes.clients_per_publisher)
    )
    start_at = time.time() + START_DELAY_S
    publishers = []
    for p in range(sizes.publisher_processes):
        args = procs.publisher_args(
            broker_port=broker_port,
            sites=[SITE],
            clients=sizes.clients_per_publisher,
            prefix=f"{tag}{p}",
            start_at=start_at,
            messages=per_client,
            boot=f"{tag}{int(start_at)}",
        )
        publishers.append(
            stack.enter_context(ManagedProcess(f"publisher-{tag}-{p}", args, {}, workdir / "logs"))
        )
    return publishers, per_client * sizes.publisher_processes * sizes.clients_per_publisher


def _publish_summary(publishers: list[ManagedProcess], timeout_s: float) -> tuple[float, float]:
    """(start, offered readings/s) of the publishers once they are all acknowledged."""
    summaries = []
    for publisher in publishers:
        publisher.wait(timeout_s)
        summaries.append(procs.publisher_summary(publisher))
    start_s = min(s["first_s"] for s in summaries)
    end_s = max(s["last_ack_s"] for s in summaries)
    total = sum(s["acknowledged"] for s in summaries)
    return start_s, rate_per_s(total, end_s - start_s)


def mqtt_ceiling(workdir: Path, sizes: Sizes) -> Figure:
    """Figure 1: a bare paho subscriber at QoS 1 that only decodes JSON."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "subscriber.ready"
    out = workdir / "subscriber.json"
    with ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(workdir / "broker"))
        per_client = max(
            1, sizes.mqtt_messages // (sizes.publisher_processes * sizes.clients_per_publisher)
        )
        expected = per_client * sizes.publisher_processes * sizes.clients_per_publisher
        subscriber = stack.enter_context(
            ManagedProcess(
                "subscriber",
                python_module(
                    "bench.subscriber",
                    "--port",
                    str(broker.port),
                    "--expect",
                    str(expected),
                    "--ready-file",
                    str(ready),
                    "--out",
                    str(out),
                    "--timeout-s",
                    str(sizes.timeout_s),
                ),
                {},
                workdir / "logs",
            )
        )
        procs.wait_for(ready.exists, 30, "subscriber subscribed")
        publishers, published = _start_publishers(stack, workdir, sizes, broker.port, "c")
        start_s, offered = _publish_summary(publishers, sizes.timeout_s)
        code = subscriber.wait(sizes.timeout_s)
        if code != 0:
            raise RuntimeError(f"subscriber failed ({code}): {subscriber.log_tail()}")
    import json

    state = json.loads(out.read_text())
    if state["bad"]:
        raise RuntimeError(f"subscriber could not decode {state['bad']} payloads")
    value = rate_per_s(state["count"], state["last_s"] - start_s)
    return Figure(
        "1",
        "MQTT ceiling: bare paho subscriber, QoS 1, JSON decode only",
        value,
        "readings/s",
        notes=f"{published} readings from {sizes.publisher_processes}x{sizes.clients_per_publisher}"
        f" paho clients; publishers were acknowledged at {offered:,.0f} readings/s",
    )


def _received(buffer_path: Path) -> int | None:
    """The edge's `received` counter; None while the edge has not created its buffer yet."""
    if not buffer_path.exists():
        return None
    try:
        return read_status(buffer_path).counters["received"]
    except EdgeBufferError:  # the file exists but the edge is still creating its schema
        return None


def probe_edge(broker_port: int, buffer_path: Path, timeout_s: float, site: str = SITE) -> int:
    """Publish probe readings until the edge has committed one; return its `received` counter.

    The edge's session does not exist before its first SUBSCRIBE, so readings published earlier
    would be lost: this is how a benchmark knows the edge is listening.
    """
    baseline = _received(buffer_path) or 0
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"bench-probe-{site}"
    )
    client.connect(procs.HOST, broker_port)
    client.loop_start()
    deadline = time.monotonic() + timeout_s
    seq = 0
    try:
        while time.monotonic() < deadline:
            payload = device_payload(DeviceKind.CARD, "probe", seq, time.time_ns() // 1_000_000)
            client.publish(topic(site, DeviceKind.CARD, "probe"), payload, qos=1).wait_for_publish(
                5
            )
            seq += 1
            step_deadline = time.monotonic() + 0.5
            while time.monotonic() < step_deadline:
                received = _received(buffer_path)
                if received is not None and received > baseline:
                    return received
                time.sleep(0.05)
    finally:
        client.disconnect()
        client.loop_stop()
    raise TimeoutError("the edge did not commit a probe reading")


def edge_throughput(workdir: Path, sizes: Sizes, ceiling: Figure | None) -> Figure:
    """Figure 2: readings/s through a real edge process into its buffer, uploads to the sink."""
    workdir.mkdir(parents=True, exist_ok=True)
    buffer_path = workdir / "edge" / "buffer.sqlite3"
    with ExitStack() as stack:
        broker = stack.enter_context(Mosquitto(workdir / "broker"))
        sink_url = stack.enter_context(procs.sink(workdir))
        env = procs.edge_env(
            site=SITE, credentials=None, broker_port=broker.port, central_url=sink_url,
            buffer_path=buffer_path,
        )  # fmt: skip
        edge = stack.enter_context(procs.edge(workdir, "edge", env))
        before = probe_edge(broker.port, buffer_path, 30)
        publishers, published = _start_publishers(stack, workdir, sizes, broker.port, "e")
        expected = before + published
        deadline = time.monotonic() + sizes.timeout_s
        received = before
        while received < expected:
            if time.monotonic() > deadline:
                raise TimeoutError(f"edge committed {received - before} of {published} readings")
            edge.check_running()
            time.sleep(0.05)
            received = read_status(buffer_path).counters["received"]
        done_s = time.time()
        start_s, offered = _publish_summary(publishers, sizes.timeout_s)
        counters = read_status(buffer_path).counters
    if counters["dead_lettered"]:
        raise RuntimeError(f"edge dead-lettered {counters['dead_lettered']} benchmark readings")
    value = rate_per_s(published, done_s - start_s)
    return Figure(
        "2",
        "Edge durable throughput (persist before PUBACK), uploads to the fast sink",
        value,
        "readings/s",
        reference=None if ceiling is None else ceiling.value,
        reference_name="figure 1",
        target=Target(">=", EDGE_TARGET_OF_CEILING, of_reference=True),
        notes=f"python -m edge run, default settings (commit <= 500 readings / 20 ms, WAL, "
        f"synchronous=FULL); {published} readings; publishers acknowledged at {offered:,.0f}/s;"
        " uploads to bench.sink (accepts, stores nothing)",
    )
