"""TLS for MQTT and HTTP with certificates made by the test: a device publishes to Mosquitto's
TLS listener, the edge daemon reads it over TLS (EDGE_MQTT_CA_FILE) and uploads it to central
served over HTTPS (CENTRAL_TLS_*), verifying central with EDGE_CENTRAL_CA_FILE."""

import secrets
import socket
import ssl
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.daemon import central_tls
from harness.broker import BrokerSettings, Mosquitto
from harness.processes import ManagedProcess, python_module, wait_until
from harness.registry import write_registry
from tests.central_process import central_process
from tests.certificates import make_server_certificate
from tests.edge.conftest import make_settings, scale_payload

pytestmark = pytest.mark.e2e

SITE = "site-01"


def device_client(port: int, ca_file: Path) -> mqtt.Client:
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id="scale-1",
        protocol=mqtt.MQTTv311,
    )
    client.tls_set(ca_certs=str(ca_file))
    client.connect("127.0.0.1", port)
    return client


def test_a_reading_travels_over_mqtt_tls_and_https(tmp_path: Path) -> None:
    certs = make_server_certificate(tmp_path / "certs")
    other_ca = make_server_certificate(tmp_path / "other", ca_name="someone else's CA")
    registry = tmp_path / "sites.toml"
    creds = write_registry(registry, [SITE])[SITE]
    admin_token = secrets.token_urlsafe(32)
    broker_settings = BrokerSettings(tls_cert_file=certs.cert_file, tls_key_file=certs.key_file)
    tls = {
        "CENTRAL_TLS_CERT_FILE": str(certs.cert_file),
        "CENTRAL_TLS_KEY_FILE": str(certs.key_file),
    }
    logs = tmp_path / "logs"
    with (
        Mosquitto(tmp_path / "broker", broker_settings) as broker,
        central_process(tmp_path, registry, admin_token, tls) as (url, central),
    ):
        assert broker.tls_port is not None
        trusted = ssl.create_default_context(cafile=certs.ca_file)
        # HTTPS: verified with the test's CA; refused by a client that does not trust it.
        with httpx.Client(base_url=url, verify=trusted, timeout=10) as https:
            assert https.get("/api/v1/health").json()["status"] == "ok"
        edge_settings = make_settings(tmp_path, central_url=url, central_ca_file=certs.ca_file)
        with httpx.Client(verify=central_tls(edge_settings), timeout=10) as edge_http:
            assert edge_http.get(f"{url}/api/v1/health").status_code == 200
        for untrusting in (True, ssl.create_default_context(cafile=other_ca.ca_file)):
            with (
                httpx.Client(verify=untrusting, timeout=10) as stranger,
                pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
            ):
                stranger.get(f"{url}/api/v1/health")
        # MQTT over TLS: a client that does not trust the broker's CA cannot even start a session.
        for untrusting_mqtt in (
            ssl.create_default_context(),
            ssl.create_default_context(cafile=other_ca.ca_file),
        ):
            with (
                socket.create_connection(("127.0.0.1", broker.tls_port), timeout=10) as raw,
                pytest.raises(ssl.SSLCertVerificationError),
            ):
                untrusting_mqtt.wrap_socket(raw, server_hostname="127.0.0.1")

        edge_env = {
            "EDGE_SITE": SITE,
            "EDGE_ID": creds.edge_id,
            "EDGE_MQTT_HOST": "127.0.0.1",
            "EDGE_MQTT_PORT": str(broker.tls_port),
            "EDGE_MQTT_CA_FILE": str(certs.ca_file),
            "EDGE_CENTRAL_URL": url,
            "EDGE_CENTRAL_CA_FILE": str(certs.ca_file),
            "EDGE_API_KEY": creds.api_key,
            "EDGE_PERSON_KEY": creds.person_key,
            "EDGE_BUFFER_PATH": str(tmp_path / "edge" / "buffer.sqlite3"),
            "EDGE_UPLOAD_INTERVAL_S": "0.1",
        }
        with (
            ManagedProcess("edge", python_module("edge", "run"), edge_env, logs) as edge,
            httpx.Client(base_url=url, verify=trusted, timeout=10) as https,
        ):
            device = device_client(broker.tls_port, certs.ca_file)
            device.loop_start()
            headers = {"Authorization": f"Bearer {admin_token}"}

            def stored_readings() -> int:
                stats = https.get(f"/api/v1/sites/{SITE}/stats", headers=headers)
                count: int = stats.json()["readings"]
                return count

            def delivered() -> bool:
                edge.check_running()
                central.check_running()
                if stored_readings() > 0:
                    return True
                # Until the edge has subscribed, the broker has no one to queue the reading for:
                # send it again, as a device would. The same (boot, seq) is stored once.
                device.publish(
                    f"canteen/{SITE}/scale/scale-1/data", scale_payload(0), qos=1
                ).wait_for_publish(timeout=10)
                return False

            try:
                wait_until(delivered, timeout_s=60, interval_s=0.5)
            finally:
                device.disconnect()
                device.loop_stop()
            assert stored_readings() == 1
