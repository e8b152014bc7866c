"""A broker that goes away and comes back: the scorer says so (metric and readiness),
reconnects with backoff and scores again."""

from __future__ import annotations

import os

import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.demo.broker import EmbeddedBroker
from tests.stream.conftest import plant_events
from tests.support.kafka import FAST_GROUP, produce

pytestmark = [
    pytest.mark.kafka, pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                       reason="restarts its own embedded broker"),
]

TOPICS = {"ev": 1, "al": 1, "sc": 1, "dlq": 1}


def test_broker_down_then_back(start_scorer, stream_detector, stream_bundle, plant):
    det = stream_detector
    with EmbeddedBroker(topics=TOPICS) as broker:
        cfg = config_from_dict({"serve": {
            "model_path": str(stream_bundle),
            "kafka": {"bootstrap_servers": broker.bootstrap_servers, "input_topic": "ev",
                      "alert_topic": "al", "scores_topic": "sc", "dlq_topic": "dlq",
                      "group_id": "outage", "poll_timeout_ms": 50, "fetch_max_wait_ms": 20,
                      "reconnect_backoff_max_ms": 300, **FAST_GROUP},
        }})
        run = start_scorer(cfg, det)
        run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 60, "ready")
        assert run.value("anomaly_gan_broker_up") == 1

        broker.stop()
        run.wait_for(lambda: run.value("anomaly_gan_broker_up") == 0, 60, "broker_up 0")
        run.wait_for(lambda: run.value("anomaly_gan_ready") == 0, 30, "not ready")
        assert run.health.ready()[0] is False

        broker.start()  # same port; in-memory storage, so the topics are created again
        run.wait_for(lambda: run.value("anomaly_gan_broker_up") == 1, 60, "broker_up 1")
        run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 60, "ready again")
        produce(broker.bootstrap_servers, "ev",
                plant_events(plant, 600, 600 + det.window + 4, entities=["pump-1"]))
        run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == 5, 60,
                     "scoring after the outage")
        assert run.stop() == 0
