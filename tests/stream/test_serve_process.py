"""``anomaly-gan serve`` as a real process: SIGKILL mid-stream loses nothing, SIGTERM drains
and commits and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

import pytest
import yaml

from anomaly_gan.config import config_to_dict
from anomaly_gan.demo.broker import free_port
from tests.support.kafka import consume_all, produce

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

ENTITIES = [f"pump-{i}" for i in range(1, 7)]


class ServeProcess:
    def __init__(self, cfg, tmp_path, name):
        self.port = cfg.serve.http.port
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config_to_dict(cfg)))
        self.log_path = tmp_path / f"{name}.log"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anomaly_gan", "serve", "--config", str(path)],
            stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout_s=90):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise AssertionError(f"serve not ready after {timeout_s}s:\n{self.log()}")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def serve_process(tmp_path):
    started = []

    def start(cfg, name="serve"):
        p = ServeProcess(cfg, tmp_path, name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


def events(plant, rows):
    out = []
    for t in rows:
        for i, name in enumerate(ENTITIES):
            e = i % len(plant.entities)
            out.append((name, {"entity": name, "ts": float(plant.timestamps[t]),
                               "values": plant.values[e, t].tolist()}))
    return out


def committed_offsets(bootstrap, group, topic):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        parts = c.partitions_for_topic(topic) or set()
        return {p: c.committed(TopicPartition(topic, p)) for p in sorted(parts)}
    finally:
        c.close(autocommit=False, timeout_ms=1000)


def windows_scored(port):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read()
    except (urllib.error.URLError, OSError):
        return 0.0
    for line in text.decode().splitlines():
        if line.startswith("anomaly_gan_windows_scored_total "):
            return float(line.split()[1])
    return 0.0


def score_keys(bootstrap, topic, expect=None, timeout_s=20.0):
    recs = consume_all(bootstrap, topic, expect=expect, timeout_s=timeout_s)
    return [json.loads(r.value) for r in recs]


def test_sigkill_mid_stream_then_restart_scores_every_window(serve_config, serve_process,
                                                             stream_detector, plant,
                                                             kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=3, overrides={"http.port": free_port()})
    k = cfg.serve.kafka
    rows = range(600, 900)
    records = events(plant, rows)
    expected = {(name, float(plant.timestamps[t])) for name in ENTITIES
                for t in rows[det.window - 1:]}

    first = serve_process(cfg, "first")
    first.wait_ready()

    def paced():  # ~300 events/s in small acked chunks: the kill lands mid-stream
        from kafka import KafkaProducer

        p = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
        for i in range(0, len(records), 30):
            for key, value in records[i:i + 30]:
                p.send(k.input_topic, key=key.encode(), value=json.dumps(value).encode())
            p.flush()
            time.sleep(0.1)
        p.close()

    producer = threading.Thread(target=paced)
    producer.start()
    deadline = time.monotonic() + 60
    while windows_scored(first.port) < 200:
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.05)
    # ... and after a first commit, so that the restart resumes mid-log.
    while not any(o for o in committed_offsets(kafka_bootstrap, k.group_id,
                                               k.input_topic).values()):
        assert time.monotonic() < deadline, first.log()
        time.sleep(0.1)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=10)
    at_kill = committed_offsets(kafka_bootstrap, k.group_id, k.input_topic)
    scored_before = score_keys(kafka_bootstrap, k.scores_topic)
    assert len(scored_before) < len(expected), "the kill came after the end of the stream"

    second = serve_process(cfg, "second")
    producer.join(timeout=60)
    deadline = time.monotonic() + 90
    while True:
        scored = score_keys(kafka_bootstrap, k.scores_topic)
        keys = {(s["entity"], s["window_end_ts"]) for s in scored}
        if expected <= keys:
            break
        assert time.monotonic() < deadline, f"missing {len(expected - keys)}:\n{second.log()}"
        time.sleep(0.5)
    assert keys == expected  # every window scored at least once, nothing else

    # Duplicates only in the replayed range: at or after the offset committed at the kill.
    counts = Counter((s["partition"], s["offset"]) for s in scored)
    dups = [po for po, n in counts.items() if n > 1]
    for partition, offset in dups:
        assert offset >= (at_kill.get(partition) or 0)
    assert all(n <= 2 for n in counts.values())
    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(timeout=30) == 0, second.log()


def test_sigterm_drains_commits_and_exits_zero(serve_config, serve_process, stream_detector, plant,
                                               kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=2, overrides={"http.port": free_port(),
                                                "grace_seconds": 10.0})
    k = cfg.serve.kafka
    records = events(plant, range(600, 640))
    proc = serve_process(cfg)
    proc.wait_ready()
    produce(kafka_bootstrap, k.input_topic, records)
    n_windows = len(ENTITIES) * (40 - det.window + 1)
    scored = score_keys(kafka_bootstrap, k.scores_topic, expect=n_windows, timeout_s=60)
    assert len(scored) == n_windows
    t0 = time.monotonic()
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=30) == 0, proc.log()
    assert time.monotonic() - t0 < cfg.serve.grace_seconds
    assert "scorer stopped" in proc.log() and "clean=True" in proc.log()

    # Committed: per partition, the oldest of the last W-1 events of any entity on it (what
    # a successor needs to rebuild every window), i.e. nothing unscored is skipped.
    inputs = consume_all(kafka_bootstrap, k.input_topic, expect=len(records))
    per_entity: dict[tuple[int, str], list[int]] = {}
    for r in inputs:
        per_entity.setdefault((r.partition, r.key.decode()), []).append(r.offset)
    want: dict[int, int] = {}
    for (p, _), offs in per_entity.items():
        need = sorted(offs)[-(det.window - 1)]
        want[p] = min(want.get(p, need), need)
    got = committed_offsets(kafka_bootstrap, k.group_id, k.input_topic)
    assert {p: o for p, o in got.items() if p in want} == want


def test_starts_without_a_broker_reports_it_and_stops_cleanly(serve_config, serve_process):
    cfg = serve_config(partitions=1, overrides={
        "http.port": free_port(), "kafka.bootstrap_servers": f"127.0.0.1:{free_port()}",
        "kafka.reconnect_backoff_max_ms": 500})
    proc = serve_process(cfg)
    base = f"http://127.0.0.1:{proc.port}"
    deadline = time.monotonic() + 60
    text = ""
    while time.monotonic() < deadline:
        try:
            text = urllib.request.urlopen(base + "/metrics", timeout=2).read().decode()
            if "anomaly_gan_broker_up 0.0" in text and "broker unreachable" in proc.log():
                break
        except (urllib.error.URLError, OSError):
            pass
        assert proc.proc.poll() is None, proc.log()
        time.sleep(0.2)
    assert "anomaly_gan_broker_up 0.0" in text, proc.log()
    assert urllib.request.urlopen(base + "/healthz", timeout=2).status == 200
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(base + "/readyz", timeout=2)
    assert err.value.code == 503
    proc.proc.send_signal(signal.SIGTERM)
    assert proc.proc.wait(timeout=20) == 0, proc.log()
