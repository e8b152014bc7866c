"""A broker that goes away twice, with output pending, and comes back each time: the scorer
says so (readiness, ``broker_up``), stays up, and scores and delivers again.

The embedded broker keeps nothing across a restart (topics, groups and producer ids are
gone), which is harsher than Kafka: the producer has to be recreated to deliver again.
"""

from __future__ import annotations

import json
import os
import threading

import pytest
from kafka import TopicPartition

from anomaly_gan.config import config_from_dict
from anomaly_gan.demo.broker import EmbeddedBroker, local_kafka
from tests.support.kafka import consume_all, produce, produce_acked

pytestmark = [
    pytest.mark.kafka, pytest.mark.slow,
    pytest.mark.skipif(bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
                       reason="restarts its own embedded broker"),
]

TOPICS = {"ev": 1, "al": 1, "sc": 1, "dlq": 1}
EV = TopicPartition("ev", 0)


def events(plant, name, rows):
    """(key, event) pairs of pump-1's rows ``rows``, as entity ``name``."""
    return [(name, {"entity": name, "ts": float(plant.timestamps[t]),
                    "values": plant.values[0, t].tolist()}) for t in rows]


def delivered(bootstrap):
    """(entity, window end) of every record on the scores topic."""
    recs = consume_all(bootstrap, "sc", idle_s=0.5)
    return {(d["entity"], d["window_end_ts"]) for d in (json.loads(r.value) for r in recs)}


def send_until_scored(run, bootstrap, plant, name, window):
    """Send chunks of rows until the scores of five windows sent are delivered (a chunk's
    worth); the (entity, window end) of every window sent, and of every score seen delivered.
    Each chunk is a new entity ``name-k`` with the same rows, so however long delivery takes
    to resume, the plant's rows never run out. (A restarted embedded broker lost the input
    topic, so the consumer may still stand at its old offset and skip the first chunks.)

    It waits for five, not for the first: a chunk's windows may be scored and delivered in
    more than one batch, and a loaded machine let the test read the scores between two."""
    sent: set[tuple[str, float]] = set()
    seen: set[tuple[str, float]] = set()
    rows = range(700, 700 + window + 4)
    chunks = 0

    def resumed():
        nonlocal chunks
        seen.update(delivered(bootstrap))
        if len(seen & sent) >= 5:
            return True
        entity = f"{name}-{chunks}"
        chunks += 1
        produce(bootstrap, "ev", events(plant, entity, rows))
        sent.update((entity, float(plant.timestamps[t])) for t in rows)
        return False

    run.wait_for(resumed, 120, "scores delivered after the outage")
    return sent, seen


def read_through(run, offset):
    """True once the scorer has read the input partition past ``offset``. (The count of
    events consumed is no measure: chunks sent before it may still be on their way, or be
    read again by a replay.)"""
    return run.scorer._next.get(EV, -1) > offset


class GatedDetector:
    """The real detector, except that scoring waits while the gate is closed: the test
    decides that results are produced while the broker is away. ``held`` is set while a
    batch waits at the closed gate."""

    def __init__(self, det):
        self._det = det
        self.gate = threading.Event()
        self.gate.set()
        self.held = threading.Event()

    def __getattr__(self, name):
        return getattr(self._det, name)

    def score_windows(self, windows):
        if not self.gate.is_set():
            self.held.set()
            self.gate.wait()
        return self._det.score_windows(windows)


def test_two_outages_with_output_pending(start_scorer, stream_detector, stream_bundle, plant):
    det = GatedDetector(stream_detector)
    w = stream_detector.window
    with EmbeddedBroker(topics=TOPICS) as broker:
        cfg = config_from_dict({"serve": {
            "model_path": str(stream_bundle),
            "kafka": local_kafka(broker.bootstrap_servers,
                                 {"events": "ev", "alerts": "al", "scores": "sc", "dlq": "dlq"},
                                 "outage", reconnect_backoff_max_ms=300,
                                 delivery_stall_seconds=2.0, input_stall_seconds=5.0),
        }})
        run = start_scorer(cfg, det)
        run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 60, "ready")
        assert run.value("anomaly_gan_broker_up") == 1
        for outage in (1, 2):
            # Events read and scored, their results produced while the broker is away.
            det.held.clear()
            det.gate.clear()
            acks = produce_acked(broker.bootstrap_servers, "ev",
                                 events(plant, f"before-{outage}", range(600, 600 + w + 4)))
            last = acks[-1].offset
            # Read to the end, or held at the gate with windows to score: a poll that
            # returned part of the events has the loop wait at the gate before it reads
            # the rest (the events it did not read are lost with the broker's topics).
            run.wait_for(lambda last=last: read_through(run, last) or det.held.is_set(),
                         60, "events read")
            broker.stop()
            det.gate.set()
            run.wait_for(lambda: run.value("anomaly_gan_ready") == 0, 60, "not ready")
            run.wait_for(lambda: run.value("anomaly_gan_broker_up") == 0, 60, "broker_up 0")
            assert run.health.ready()[0] is False

            broker.start()  # same port, nothing kept: the topics are created again
            run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 90, "ready again")
            # Scoring and delivery resume. (The windows read before the outage may arrive
            # too: at least once.)
            name = f"after-{outage}"
            after, seen = send_until_scored(run, broker.bootstrap_servers, plant, name, w)
            got = seen | delivered(broker.bootstrap_servers)
            before = {(f"before-{outage}", float(plant.timestamps[t]))
                      for t in range(600 + w - 1, 600 + w + 4)}
            assert got <= before | after and len(got & after) >= 5
            run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready")
        assert run.thread.is_alive()
        assert run.stop() == 0
