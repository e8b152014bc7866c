"""The demos' output reader: their summaries count what it has handed on."""

import json
import threading
import time

import pytest

from anomaly_gan.demo.broker import EmbeddedBroker
from anomaly_gan.demo.common import OutputReader


@pytest.mark.kafka
@pytest.mark.slow
def test_read_to_end_hands_on_every_record_on_the_topics_when_asked():
    """The demos waited a fixed half second (a second with --logs) for their last alerts
    before the summary; a reader slower than that left them out. read_to_end waits until
    the reader has handed on every record the topics held when it was called."""
    from kafka import KafkaProducer

    got: list[int] = []
    lock = threading.Lock()

    def slow(topic, rec, ts):  # a console printing each alert slowly
        time.sleep(0.05)
        with lock:
            got.append(rec["i"])

    with EmbeddedBroker(topics={"alerts": 1, "scores": 1}, start_timeout_s=20) as b:
        reader = OutputReader(b.bootstrap_servers, ["alerts", "scores"], slow)
        try:
            producer = KafkaProducer(bootstrap_servers=b.bootstrap_servers, acks="all")
            for i in range(40):  # 2 s of handling, four times the old wait
                producer.send("alerts" if i % 2 else "scores", json.dumps({"i": i}).encode())
            producer.flush()
            producer.close()
            assert reader.read_to_end(time.sleep, timeout_s=60)
            with lock:
                assert sorted(got) == list(range(40))
            # asked again with nothing new: at the end at once, and nothing handed on twice
            assert reader.read_to_end(time.sleep, timeout_s=60)
            with lock:
                assert len(got) == 40
        finally:
            reader.stop()
