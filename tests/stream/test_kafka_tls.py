"""``serve.kafka`` over TLS against a real broker: mutual TLS with an encrypted client key
carries events in and alerts out; a CA that did not sign the broker's certificate is named
in /readyz and in serve's log.

The broker is the embedded Tansu behind a TLS-terminating proxy that requires a client
certificate (tests/support/kafka_tls.py says why a proxy, and how every connection goes
through it); keys and certificates are made at test time.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.demo.broker import create_topics
from tests.stream.conftest import PATIENT_POLL_MS, PATIENT_STALL_S
from tests.support.kafka import consume_all, local_kafka, produce, unique_name
from tests.support.serve import wait_until
from tests.support.stream_plant import injected_values

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START, STOP = 680, 720  # plant rows streamed: pump-2's injected incident is at 700..709


def tls_serve_config(tls, bundle, **kafka):
    """A serve config on fresh topics of the TLS broker, its kafka section ``kafka``."""
    topics = {role: unique_name(role) for role in ("events", "alerts", "dlq")}
    create_topics(tls.bootstrap, dict.fromkeys(topics.values(), 1),
                  client_config=tls.client())
    return config_from_dict({"serve": {
        "model_path": str(bundle), "grace_seconds": 10.0,
        "kafka": local_kafka(tls.bootstrap, topics, f"g-{topics['events']}",
                             max_poll_interval_ms=PATIENT_POLL_MS,
                             input_stall_seconds=PATIENT_STALL_S, **kafka),
        "windows": {"gap_seconds": 3600.0},
        "batching": {"max_batch": 256, "max_latency_ms": 20},
        "alerts": {"consecutive": 2, "cooldown_seconds": 0.0},
        "http": {"port": 0}}}, "test TLS serve config")


def test_serve_reads_events_and_publishes_alerts_over_mutual_tls_with_an_encrypted_key(
        tls_kafka, stream_bundle, stream_detector, plant, start_scorer):
    """security_protocol SSL with ssl_cafile, a client certificate and its key encrypted,
    the passphrase from ssl_password_file: the scorer's consumer and producer (built from
    serve.kafka by the code serve runs) read the events and publish the incident's alert,
    and the broker side saw only connections with the scorer's certificate."""
    pki = tls_kafka.pki
    cfg = tls_serve_config(tls_kafka, stream_bundle, security_protocol="SSL",
                           ssl_cafile=str(pki.ca), ssl_certfile=str(pki.client_cert),
                           ssl_keyfile=str(pki.client_key_encrypted),
                           ssl_password_file=str(pki.passphrase_file))
    k = cfg.serve.kafka
    values = injected_values(plant)
    records = [(name, {"entity": name, "ts": float(plant.timestamps[t]),
                       "values": values[e, t].tolist()})
               for t in range(START, STOP) for e, name in enumerate(plant.entities)]
    before = len(tls_kafka.proxy.clients)
    run = start_scorer(cfg, stream_detector)
    produce(tls_kafka.bootstrap, k.input_topic, records, **tls_kafka.client())
    n_windows = len(plant.entities) * (STOP - START - stream_detector.window + 1)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == n_windows, 60,
                 "all windows scored")
    alerts = [json.loads(r.value) for r in
              consume_all(tls_kafka.bootstrap, k.alert_topic, expect=1, timeout_s=30,
                          **tls_kafka.client())]
    assert "pump-2" in {a["entity"] for a in alerts}
    assert run.health.ready()[0], run.health.ready()
    # The scorer's own connections: a bootstrap and at least one to the broker the
    # metadata named, each through the proxy, each with the client certificate.
    mine = tls_kafka.proxy.clients[before:]
    assert len(mine) >= 3 and set(mine) == {"anomaly-gan-client"}
    assert run.stop() == 0


def test_a_ca_that_did_not_sign_the_broker_is_named_in_readiness_and_one_line(
        tls_kafka, stream_bundle, serve_process):
    """A wrong ssl_cafile failed every TLS handshake, and serve said only "broker
    unreachable; retrying" ("Unable to bootstrap") and /readyz "broker unreachable": the
    reason was in kafka-python's own lines only. Now both name the failed handshake and the
    CA file; the process keeps retrying without a traceback and stops cleanly."""
    pki = tls_kafka.pki
    cfg = tls_serve_config(tls_kafka, stream_bundle, security_protocol="SSL",
                           ssl_cafile=str(pki.other_ca), ssl_certfile=str(pki.client_cert),
                           ssl_keyfile=str(pki.client_key), reconnect_backoff_max_ms=500)
    proc = serve_process(cfg)
    base = f"http://127.0.0.1:{proc.port}"
    want = (f"TLS handshake with the broker failed: certificate verify failed: self-signed "
            f"certificate in certificate chain (serve.kafka.ssl_cafile {pki.other_ca})")
    wait_until(lambda: f"{want}; retrying" in proc.log(), "the retry line naming TLS", proc,
               timeout_s=60)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/readyz", timeout=2)
    assert err.value.code == 503
    assert want in err.value.read().decode()
    proc.proc.terminate()
    assert proc.proc.wait(timeout=60) == 0, proc.log()
    assert "Traceback" not in proc.log()
