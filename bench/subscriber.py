"""`python -m bench.subscriber`: the MQTT ceiling reference, a bare paho subscriber at QoS 1.

It only decodes each payload's JSON (no validation, no disk) and lets paho acknowledge on return
from the callback. It writes `--ready-file` once subscribed and, after `--expect` messages, one
JSON line to `--out` with the wall-clock time of the first and the last message.
"""

import argparse
import json
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.subscriber")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--topic", default="canteen/+/+/+/data")
    parser.add_argument("--expect", type=int, required=True)
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timeout-s", type=float, default=600.0)
    args = parser.parse_args(argv)
    done = threading.Event()
    state = {"count": 0, "first_s": 0.0, "last_s": 0.0, "bad": 0}

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            json.loads(message.payload)
        except ValueError:
            state["bad"] += 1
        now = time.time()
        if not state["count"]:
            state["first_s"] = now
        state["count"] += 1
        state["last_s"] = now
        if state["count"] >= args.expect:
            done.set()

    def on_subscribe(client: mqtt.Client, *_: object) -> None:
        args.ready_file.write_text("subscribed\n")

    def on_connect(client: mqtt.Client, *_: object) -> None:
        client.subscribe(args.topic, qos=1)

    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="bench-ceiling",
        protocol=mqtt.MQTTv311,
        clean_session=True,
    )
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(args.host, args.port, keepalive=60)
    client.loop_start()
    finished = done.wait(timeout=args.timeout_s)
    client.disconnect()
    client.loop_stop()
    args.out.write_text(json.dumps(state) + "\n")
    return 0 if finished else 1


if __name__ == "__main__":
    sys.exit(main())
