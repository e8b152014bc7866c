"""Helpers for the retrain tests: the CLI as a real process, a store snapshot, timestamped
produce."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

# The log tests' synthetic service log, for tests/retrain/test_logs_retrain.py.
from tests.logs.conftest import log_files, service_logs  # noqa: F401
from tests.retrain.plant import FEATURES, TINY

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}


def cli(*args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "anomaly_gan", *args], capture_output=True,
                          text=True, env={**ENV, **env}, timeout=timeout, check=False)


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (directories: 'dir')."""
    out = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        out[rel] = "dir" if p.is_dir() else hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_csvs(tmp: Path, series: list[np.ndarray], prefix: str = "normal") -> list[str]:
    paths = []
    for i, s in enumerate(series):
        p = tmp / f"{prefix}-{i + 1}.csv"
        np.savetxt(p, s, delimiter=",", header=",".join(FEATURES), comments="")
        paths.append(str(p))
    return paths


def produce_timestamped(bootstrap: str, topic: str, records: list[tuple[str, Any, float]],
                        partition: int | None = None) -> None:
    """Send ``(key, value, ts)`` (a value that is no bytes is JSON-encoded) to ``partition``
    (None: the key's); the Kafka record timestamp is ``ts``."""
    import json

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    try:
        for key, value, ts in records:
            raw = value if isinstance(value, bytes) else json.dumps(value).encode()
            producer.send(topic, key=key.encode(), value=raw, timestamp_ms=int(ts * 1000),
                          partition=partition)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=5)


@pytest.fixture
def config_file(tmp_path):
    """``config_file(serve=..., retrain=...)`` -> path of a YAML with the tiny model."""

    def make(**sections: Any) -> str:
        raw = {**TINY, **sections}
        path = tmp_path / "config.yaml"
        path.write_text(yaml.safe_dump(raw))
        return str(path)

    return make


def add_version(store: Any, detector: Any) -> str:
    """Add a copy of ``detector`` to ``store`` (not promoted); its version name."""
    import copy

    det = copy.copy(detector)
    det.metadata = dict(detector.metadata)
    return str(store.add(det))


@pytest.fixture
def store(tmp_path, tiny_detector):
    """A store whose current version is the session's tiny detector (temp, rpm, flow; W 16)."""
    from anomaly_gan.store import ModelStore

    s = ModelStore.open(tmp_path / "store", create=True)
    s.promote(add_version(s, tiny_detector), verify=False)
    return s
