"""Fixtures for the streaming tests: a real broker (tests/support/kafka.py) and a tiny model
trained once per session on a synthetic plant's normal period."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kafka import local_kafka
from tests.support.serve import serve_process  # noqa: F401 - a fixture of the stream tests

# FAST_GROUP's max_poll_interval_ms (3 s) is a deadline on the scoring loop: a loop that
# does not poll for that long (a loaded 2-core machine: a model call, a flush, a commit and
# an offsets probe in one step) leaves the group, its commits fail, and on re-joining it
# reads everything again, so counts meant to be exact were doubled
# (test_stream_scores_and_alerts_equal_offline: events_consumed 2640 of 1320 after "Consumer
# poll timeout has expired"). The embedded broker's joins are timed by the session timeout,
# not by this one (a first poll after 1.1 s with 3 s and with 30 s, measured), so the tests'
# scorers get a generous one; the tests of the loop's own timings set theirs.
PATIENT_POLL_MS = 30_000
# The same for input_stall_seconds (60 s): Tansu under-reports a partition's end offset after
# multi-record batches, so a scorer idle after reading everything looks stalled to its input
# watchdog, which replays once it has lasted that long; a test still checking counts by then
# (a loaded machine) saw them grow (events_consumed 1341 of 1320 with 5 s). The tests of the
# watchdog set theirs.
PATIENT_STALL_S = 600.0

TINY_CONFIG = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [16]},
    "data": {"window": 8, "stride": 2},
    "training": {"epochs": 2, "batch_size": 64, "verbose": 0, "seed": 0, "min_steps": 0,
                 "max_attempts": 1,
                 "allow_unhealthy": True},
}


@pytest.fixture(scope="session")
def plant():
    from anomaly_gan.data.synthetic import make_plant

    return make_plant(n_entities=3, n_steps=1200, seed=0)


@pytest.fixture(scope="session")
def stream_bundle(tmp_path_factory, plant) -> Path:
    """A real bundle (GANomaly, dense, window 8) trained in a few seconds."""
    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.train import train_detector

    cfg = config_from_dict(TINY_CONFIG, "tiny test config")
    det = train_detector(cfg, [plant.values[e, : plant.train_steps]
                               for e in range(len(plant.entities))], plant.feature_names)
    return save_bundle(det, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def stream_detector(stream_bundle):
    from anomaly_gan.artifacts import load_bundle

    return load_bundle(stream_bundle)


@pytest.fixture
def serve_config(kafka_bootstrap, kafka_topics, stream_bundle):
    """Factory for a ServeConfig on fresh topics: ``serve_config(partitions=3, **overrides)``
    where overrides are dotted keys of the serve section, e.g. ``{"alerts.consecutive": 2}``."""
    from anomaly_gan.config import config_from_dict

    def make(partitions: int = 3, overrides: dict | None = None):
        topics = kafka_topics(events=partitions, alerts=1, scores=1, dlq=1)
        serve = {
            "model_path": str(stream_bundle),
            "grace_seconds": 10.0,
            "kafka": local_kafka(kafka_bootstrap, topics, f"g-{topics['events']}",
                                 max_poll_interval_ms=PATIENT_POLL_MS,
                                 input_stall_seconds=PATIENT_STALL_S),
            "windows": {"gap_seconds": 3600.0},
            "batching": {"max_batch": 256, "max_latency_ms": 20},
            "alerts": {"consecutive": 2, "cooldown_seconds": 0.0},
            "http": {"port": 0},
        }
        for dotted, value in (overrides or {}).items():
            node = serve
            *path, last = dotted.split(".")
            for part in path:
                node = node.setdefault(part, {})
            node[last] = value
        return config_from_dict({"serve": serve}, "test serve config")

    return make


class RunningScorer:
    """An in-process scorer on a thread, with its own registry and HTTP endpoint."""

    def __init__(self, cfg, detector, watcher=None):
        import threading

        from prometheus_client import CollectorRegistry

        from anomaly_gan.stream.http import Health, HealthServer
        from anomaly_gan.stream.metrics import StreamMetrics
        from anomaly_gan.stream.service import connect

        s = cfg.serve
        self.registry = CollectorRegistry()
        self.metrics = StreamMetrics(self.registry, s.http.entity_labels_top_n)
        self.health = Health()
        self.http = HealthServer(self.registry, self.health, "127.0.0.1", 0).start()
        self.scorer = connect(s, detector, self.metrics, self.health, watcher=watcher)
        self.io = self.scorer.io
        self.rc = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.rc = self.scorer.run()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http.port}"

    def value(self, name, labels=None):
        return self.registry.get_sample_value(name, labels or {})

    def wait_for(self, predicate, timeout_s=30.0, what="condition"):
        import time

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if predicate():
                return
            if not self.thread.is_alive():
                raise AssertionError(f"scorer thread died while waiting for {what}")
            time.sleep(0.05)
        counters = {name: self.value(f"anomaly_gan_{name}_total")
                    for name in ("events_consumed", "windows_scored")}
        raise AssertionError(f"timed out after {timeout_s}s waiting for {what} "
                             f"(readiness: {self.health.ready()[1]}; liveness: "
                             f"{self.health.alive()[1]}; {counters})")

    def stop(self):
        self.scorer.request_stop()
        self.thread.join(timeout=20)
        try:
            self.io.close(timeout_s=2)
        finally:
            self.http.stop()
        return self.rc


@pytest.fixture
def start_scorer():
    """Factory ``start_scorer(cfg, detector)`` -> RunningScorer; stopped after the test."""
    started = []

    def start(cfg, detector, watcher=None):
        r = RunningScorer(cfg, detector, watcher=watcher)
        started.append(r)
        return r

    yield start
    for r in started:
        if r.thread.is_alive():
            r.stop()


def plant_events(plant, start, stop, entities=None, ts_format="epoch"):
    """(key, event) pairs of plant rows [start, stop), interleaved across entities."""
    out = []
    names = plant.entities if entities is None else entities
    for t in range(start, stop):
        for name in names:
            e = plant.entities.index(name)
            ts = float(plant.timestamps[t])
            out.append((name, {"entity": name, "ts": ts, "values": plant.values[e, t].tolist()}))
    return out
