"""Test doubles for the scoring loop (tests/stream/test_app.py and the tests that drive a
``Scorer`` without Kafka): records and partitions, a fake Kafka (``FakeIO``, and
``Partitions`` over several input partitions), a fake model, a hand-moved clock, a scorer
built over them (``make``), a refused SASL login as kafka-python logs it, and what serve
writes to the alert topic for a CSV's rows (``alert_topic_of``)."""

from __future__ import annotations

import json
import logging
from collections import namedtuple
from types import SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics

if TYPE_CHECKING:
    from anomaly_gan.stream.kafka_io import AuthFailures


TP = namedtuple("TP", "topic partition")


Record = namedtuple("Record", "offset key value")


IN = TP("events", 0)


class FakeModel:
    """Score = last value of the first feature; anomalous above 10."""

    def __init__(self, version="v1", window=3):
        self.feature_names, self.window, self.threshold = ("a", "b"), window, 10.0
        self.version, self.kind = version, "ganomaly"
        self.calls = 0

    def warm_up(self, max_batch=512):
        pass

    def score_windows(self, raw):
        self.calls += 1
        s = raw[:, -1, 0].astype(float)
        return SimpleNamespace(score=s, threshold=self.threshold, is_anomaly=s > self.threshold,
                               severity=np.where(s > self.threshold, 100.0, 0.0),
                               components={"reconstruction": s}, top_features=[["a"]] * len(s))

    def feature_values(self, raw, top):
        """Observed: the feature's last reading; expected: 0."""
        self.value_calls = getattr(self, "value_calls", 0) + 1
        return [[{"feature": f, "observed": float(w[-1, self.feature_names.index(f)]),
                  "expected": 0.0, "rows_before_end": 0} for f in names]
                for w, names in zip(raw, top, strict=True)]


class FakeIO:
    def __init__(self, batches, fail_topic=None):
        self.batches = list(batches)
        self.sent, self.commits, self.seeks = [], [], []
        self.fail_topic = fail_topic

    def poll(self, timeout_ms, max_records=None):
        if self.batches and isinstance(self.batches[0], Exception):
            raise self.batches.pop(0)
        return {IN: self.batches.pop(0)} if self.batches else {}

    def send(self, topic, value, key=None, headers=None, on_error=None):
        self.sent.append((topic, key, value, headers))
        if topic == self.fail_topic and on_error is not None:
            self.fail_topic = None
            on_error(RuntimeError("broker said no"))

    def flush(self, timeout_s=None):
        pass

    def commit(self, offsets):
        self.commits.append(dict(offsets))

    def committed(self, tp):
        return None

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    def assignment(self):
        return {IN}

    def connected(self):
        return True

    def lag(self, next_offsets):
        return {}

    input_waiting = False  # what waiting() answers: records wait on the assigned partition
    probes = resets = 0

    def waiting(self, timeout_ms):
        self.probes += 1
        return self.input_waiting

    def reset_consumer(self):
        self.resets += 1

    readable_from: int | None = None  # what skip_unreadable() answers
    skips: tuple = ()

    def skip_unreadable(self, tp, first, timeout_s):
        self.skips += ((tp, first),)
        if self.readable_from is not None:
            self.seeks.append((tp, self.readable_from))
        return self.readable_from

    past: dict | None = None  # what past_end() answers: {partition: (position, end)}
    first_offset = 0  # the partition's first offset, for reset_offset
    policy = "earliest"  # serve.kafka.auto_offset_reset, for reset_offset

    def past_end(self, timeout_ms):
        return dict(self.past or {})

    def reset_offset(self, tp, end):
        self.past = {}
        offset = self.first_offset if self.policy == "earliest" else end
        self.seeks.append((tp, offset))
        return offset, self.first_offset


class Partitions(FakeIO):
    """FakeIO over several input partitions, each poll returning the records of some of
    them (``batches``: a list of {partition: records}); the differential fuzz tests read
    their partitions in turns with it."""

    def __init__(self, batches, tps):
        super().__init__(batches)
        self.tps = set(tps)

    def poll(self, timeout_ms, max_records=None):
        return self.batches.pop(0) if self.batches else {}

    def assignment(self):
        return set(self.tps)


def events(rows, start=0, entity="e"):
    return [Record(start + i, entity.encode(),
                   json.dumps({"entity": entity, "ts": ts, "values": [v, 0.0]}).encode())
            for i, (ts, v) in enumerate(rows)]


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def make(io, model=None, clock=None, windows=None, serve=None, **alerts):
    cfg = config_from_dict({"serve": {
        "windows": {"gap_seconds": 100.0, **(windows or {})},
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0, **alerts},
        "kafka": {"scores_topic": "scores"},
        **(serve or {}),
    }}).serve
    reg = CollectorRegistry()
    scorer = Scorer(cfg, model or FakeModel(), io, StreamMetrics(reg),
                    monotonic=clock or Clock())
    return scorer, reg


def refuse_login(failures: AuthFailures) -> None:
    """What kafka-python logs when a broker refuses the SASL login (test_kafka_io drives it)."""
    from kafka.errors import SaslAuthenticationFailedError

    failures.filter(logging.LogRecord("kafka.net.connection", logging.ERROR, "", 0,
                                      "%s: Connection lost: %s", ("conn", SaslAuthenticationFailedError(
                                          "invalid credentials")), None))


def alert_topic_of(model, serve, rows, dead_letters=None):
    """What serve's Scorer (fake IO) writes to the alert topic for ``rows`` of a CSV (time
    first, then the features) as entity pump-7, with the ``serve`` section given. An empty
    cell is sent as null, ``nan`` and ``inf`` as JSON's NaN and Infinity; ``dead_letters``
    gets the offset and ``reason`` header of each record sent to the dead-letter topic."""
    from anomaly_gan.artifacts import load_bundle

    io = FakeIO([[Record(i, b"pump-7", json.dumps({
        "entity": "pump-7", "ts": r[0], "values": [float(v) if v else None for v in r[1:]]})
        .encode()) for i, r in enumerate(rows)]])
    scorer = Scorer(config_from_dict({"serve": serve}).serve, load_bundle(model), io,
                    StreamMetrics(CollectorRegistry()), monotonic=Clock())
    scorer.step()
    scorer._score_batch()
    if dead_letters is not None:
        dead_letters.extend((int(dict(h)["source"].rsplit(b"/", 1)[1]), dict(h)["reason"].decode())
                            for t, _, _, h in io.sent if t == scorer.cfg.kafka.dlq_topic)
    return [json.loads(v) for t, _, v, _ in io.sent if t == scorer.cfg.kafka.alert_topic]
