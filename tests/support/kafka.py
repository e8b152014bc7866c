"""A real Kafka-protocol broker for the tests.

``kafka_bootstrap`` (session scope) starts the embedded Tansu broker on a free loopback port,
or uses ``$KAFKA_BOOTSTRAP_SERVERS`` (an external Apache Kafka cluster) when set. Topics get
unique names per test, so tests never see each other's records.

Import into a conftest with ``from tests.support.kafka import *``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

__all__ = [
    "FAST_GROUP",
    "consume_all",
    "group_committed",
    "kafka_bootstrap",
    "kafka_topics",
    "local_kafka",
    "produce",
    "produce_acked",
    "unique_name",
]

from anomaly_gan.demo.broker import FAST_GROUP, local_kafka  # re-exported for the tests


def unique_name(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a running broker for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield external
        return
    from anomaly_gan.demo.broker import EmbeddedBroker

    with EmbeddedBroker() as broker:
        yield broker.bootstrap_servers


@pytest.fixture
def kafka_topics(kafka_bootstrap: str) -> Callable[..., dict[str, str]]:
    """Factory: ``kafka_topics(events=3, alerts=1)`` creates uniquely named topics and returns
    ``{"events": "events-1a2b...", ...}``."""
    from anomaly_gan.demo.broker import create_topics

    def make(**partitions: int) -> dict[str, str]:
        names = {role: unique_name(role) for role in partitions}
        create_topics(kafka_bootstrap, {names[r]: n for r, n in partitions.items()})
        return names

    return make


def produce(bootstrap: str, topic: str, records: Iterable[tuple[bytes | str | None, Any]],
            partition: int | None = None, **client: Any) -> int:
    """Send ``(key, value)`` pairs (dict values are JSON-encoded) and wait for the acks;
    how many were sent. ``client``: more kafka-python settings (TLS: tests/support/kafka_tls)."""
    return len(produce_acked(bootstrap, topic, records, partition, **client))


def produce_acked(bootstrap: str, topic: str, records: Iterable[tuple[bytes | str | None, Any]],
                  partition: int | None = None, **client: Any) -> list[Any]:
    """:func:`produce`, returning the broker's acknowledgement of each record, in order
    (kafka-python's ``RecordMetadata``: ``.partition``, ``.offset``): a test can wait for a
    consumer to read past a record rather than count records read."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5, **client)
    futures = []
    try:
        for key, value in records:
            if isinstance(key, str):
                key = key.encode()
            if isinstance(value, (dict, list)):
                value = json.dumps(value).encode()
            elif isinstance(value, str):
                value = value.encode()
            futures.append(producer.send(topic, key=key, value=value, partition=partition))
        producer.flush(timeout=30)
        return [f.get(timeout=0) for f in futures]
    finally:
        producer.close(timeout=5)


def group_committed(bootstrap: str, group: str, tp: Any) -> int | None:
    """The offset ``group`` has committed on partition ``tp`` (None: none)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        return consumer.committed(tp)
    finally:
        consumer.close(autocommit=False)


def consume_all(bootstrap: str, topic: str, expect: int | None = None, timeout_s: float = 20.0,
                idle_s: float = 1.0, **client: Any) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the beginning, no group).

    Returns when ``expect`` records arrived, or after ``idle_s`` without new records (when
    ``expect`` is None), or at ``timeout_s``. The idle clock starts at the first record, or
    at once when the topic's end offsets say it holds none: counted from the start, a first
    fetch slower than ``idle_s`` (a loaded machine, a broker just restarted) returned no
    records from a topic that had them (tests/stream/test_broker_outage.py, once in CI).
    """
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client)
    try:
        deadline = time.monotonic() + timeout_s
        parts = None
        while parts is None and time.monotonic() < deadline:
            parts = consumer.partitions_for_topic(topic)
            if parts is None:
                time.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(parts or [])]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        try:
            holds = bool(tps) and (sum(consumer.end_offsets(tps).values())
                                   > sum(consumer.beginning_offsets(tps).values()))
        except Exception:  # noqa: BLE001 - no offsets: the idle clock starts at once, as it did
            holds = False
        out: list[Any] = []
        last_new = None if holds else time.monotonic()
        while time.monotonic() < deadline:
            got = consumer.poll(timeout_ms=100)
            for msgs in got.values():
                out.extend(msgs)
            if got:
                last_new = time.monotonic()
            if expect is not None and len(out) >= expect:
                break
            if (expect is None and last_new is not None
                    and time.monotonic() - last_new >= idle_s):
                break
        return out
    finally:
        consumer.close(autocommit=False, timeout_ms=1000)
