"""bench/stream.py's rates: the raw client and the scorer are timed from the same point, over
the same records (those read after the first poll is handled)."""

import json
import time

import pytest

from bench import stream


class Clock:
    """A fake clock in milliseconds: ``sleep`` and each poll advance it, nothing else does."""

    def __init__(self) -> None:
        self.ms = 0

    def now(self) -> float:
        return self.ms / 1000.0

    def sleep(self, seconds: float) -> None:
        self.ms += max(1, round(seconds * 1000))


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    for name in ("perf_counter", "monotonic"):
        monkeypatch.setattr(time, name, c.now)
    monkeypatch.setattr(time, "sleep", c.sleep)
    return c


class Record:
    value = json.dumps({"entity": "a", "ts": 0.0, "values": [1.0]}).encode()


def test_the_raw_rate_counts_only_the_records_read_after_its_clock_starts(clock, monkeypatch):
    # Three polls of 1,000 records, each taking one second: a steady 1,000 records/s. The
    # scorer's clock starts once its counter moves, i.e. after its first poll is handled, so
    # the raw client's must too, and neither may count that poll's records as timed.
    import kafka

    class Consumer:
        def __init__(self, **_kw) -> None:
            self.polls = 0

        def partitions_for_topic(self, _topic):
            return {0}

        def assign(self, _tps) -> None:
            pass

        def seek_to_beginning(self, *_tps) -> None:
            pass

        def poll(self, **_kw):
            clock.sleep(1.0)
            self.polls += 1
            return {0: [Record()] * 1000} if self.polls <= 3 else {}

        def close(self, **_kw) -> None:
            pass

    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    assert stream.raw_consume("broker:9092", "t", 3000) == pytest.approx(1000.0)


def test_the_scorer_rate_counts_only_the_events_read_after_its_clock_starts(clock, monkeypatch):
    # The scorer handles a poll of 1,000 events a second; its counter moves after each, and
    # the last window is scored with the third.
    class Registry:
        def get_sample_value(self, _name):
            return None

    class Scorer:
        def __init__(self, _cfg, _det, _drift=True) -> None:
            self.registry = Registry()

        def value(self, name: str) -> float:
            done = min(clock.ms // 1000, 3)
            return {"anomaly_gan_events_consumed_total": 1000.0 * done,
                    "anomaly_gan_windows_scored_total": 900.0 * done}[name]

        def stop(self) -> None:
            pass

    monkeypatch.setattr(stream, "InProcessScorer", Scorer)
    monkeypatch.setattr(stream, "serve_config", lambda *_a, **_kw: type("C", (), {"serve": 0}))
    r = stream.scorer_rate("broker:9092", "t", None, "model", 3000, 2700, None, 0.0, "g")
    assert r["events_per_s"] == pytest.approx(1000.0, rel=0.01)
    assert r["events_timed"] == 2000
