"""Fixtures for the streaming tests: a real broker (tests/support/kafka.py) and a tiny model
trained once per session on a synthetic plant's normal period."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.kafka import *  # noqa: F403 - kafka_bootstrap, kafka_topics
from tests.support.kafka import FAST_GROUP


TINY_CONFIG = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [16]},
    "data": {"window": 8, "stride": 2},
    "training": {"epochs": 2, "batch_size": 64, "verbose": 0, "seed": 0,
                 "allow_unhealthy": True},
}


@pytest.fixture(scope="session")
def plant():
    from anomaly_gan.data.synthetic import make_plant

    return make_plant(n_entities=3, n_steps=1200, seed=0)


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory, plant) -> Path:
    """A real bundle (GANomaly, dense, window 8) trained in a few seconds."""
    from anomaly_gan.artifacts import save_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.train import train_detector

    cfg = config_from_dict(TINY_CONFIG, "tiny test config")
    det = train_detector(cfg, [plant.values[e, : plant.train_steps]
                               for e in range(len(plant.entities))], plant.feature_names)
    return save_bundle(det, tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_detector(tiny_bundle):
    from anomaly_gan.artifacts import load_bundle

    return load_bundle(tiny_bundle)


@pytest.fixture
def serve_config(kafka_bootstrap, kafka_topics, tiny_bundle):
    """Factory for a ServeConfig on fresh topics: ``serve_config(partitions=3, **overrides)``
    where overrides are dotted keys of the serve section, e.g. ``{"alerts.consecutive": 2}``."""
    from anomaly_gan.config import config_from_dict

    def make(partitions: int = 3, overrides: dict | None = None):
        topics = kafka_topics(events=partitions, alerts=1, scores=1, dlq=1)
        serve = {
            "model_path": str(tiny_bundle),
            "grace_seconds": 10.0,
            "kafka": {"bootstrap_servers": kafka_bootstrap, "input_topic": topics["events"],
                      "alert_topic": topics["alerts"], "scores_topic": topics["scores"],
                      "dlq_topic": topics["dlq"], "group_id": f"g-{topics['events']}",
                      "poll_timeout_ms": 50, **FAST_GROUP},
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
