"""The producer side of the scorer: dead letters, sampled score records, send failures."""

import json

from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.stream.events import InvalidEvent
from anomaly_gan.stream.metrics import StreamMetrics
from anomaly_gan.stream.publisher import Publisher
from anomaly_gan.stream.state import WindowBatch
from tests.support.stream_fakes import IN, FakeIO, FakeModel, Record


def publisher(io, scores_format="record", **alerts):
    cfg = config_from_dict({"serve": {"kafka": {"scores_topic": "scores",
                                                "scores_format": scores_format},
                                      "alerts": {"consecutive": 1, **alerts}}}).serve
    reg = CollectorRegistry()
    return Publisher(cfg, io, StreamMetrics(reg)), reg


def scored_batch(values, entities=None):
    batch = WindowBatch(3, 2, capacity=8)
    for i, v in enumerate(values):  # entity e<i> (or entities[i]), its window's values all v
        batch.raw[batch.reserve()] = v
        batch.entities.append(f"e{i}" if entities is None else entities[i])
        batch.start_ts.append(0.0)
        batch.end_ts.append(10.0 * (i + 1))
        batch.partitions.append(IN)
        batch.offsets.append(i)
        batch.replay_from.append(i)
    det = FakeModel()
    return batch, det, det.score_windows(batch.windows())


def test_a_send_that_raises_is_kept_until_taken():
    class Refusing(FakeIO):
        def send(self, *args, **kwargs):
            raise RuntimeError("no metadata")

    pub, _ = publisher(Refusing([]))
    pub.dead_letter(IN, Record(7, b"k", b"{"), InvalidEvent("not_json", "bad"))
    assert str(pub.take_error()) == "no metadata"
    assert pub.take_error() is None


def test_scores_follow_the_sample_rate_and_alerts_the_debouncer():
    io = FakeIO([])
    pub, reg = publisher(io, scores_sample_rate=0.0)
    pub.publish(*scored_batch([1.0, 50.0]))
    assert [t for t, *_ in io.sent] == [pub.cfg.kafka.alert_topic]  # e1 > 10; no scores
    assert json.loads(io.sent[0][2])["entity"] == "e1"
    assert reg.get_sample_value("anomaly_gan_alerts_total", {"model_version": "v1"}) == 1

    io.sent.clear()
    pub, _ = publisher(io, scores_sample_rate=1.0)
    pub.publish(*scored_batch([1.0, 2.0]))
    assert [t for t, *_ in io.sent] == ["scores", "scores"]


def test_batch_format_sends_one_array_per_entity_with_the_same_scores():
    values = [1.0, 2.0, 3.0, 4.0]
    one, grouped = FakeIO([]), FakeIO([])
    publisher(one)[0].publish(*scored_batch(values))
    batch, det, res = scored_batch(values)
    batch.entities[:] = ["a", "b", "a", "a"]  # windows of two entities, interleaved
    publisher(grouped, scores_format="batch")[0].publish(batch, det, res)
    assert [(t, k) for t, k, *_ in grouped.sent] == [("scores", b"a"), ("scores", b"b")]
    arrays = {k: json.loads(v) for _, k, v, *_ in grouped.sent}
    singles = [json.loads(v) for _, _, v, *_ in one.sent]
    for s, entity in zip(singles, ["a", "b", "a", "a"]):
        s["entity"] = entity
    assert arrays[b"a"] == [singles[0], singles[2], singles[3]]  # window order kept
    assert arrays[b"b"] == [singles[1]]


def test_a_stuck_producer_is_replaced_through_the_io():
    class Resettable(FakeIO):
        resets = 0

        def reset_producer(self):
            self.resets += 1

    io = Resettable([])
    pub, _ = publisher(io)
    assert pub.stalled_for() == 0.0  # no delivery tracking on this double
    pub.replace_producer()
    assert io.resets == 1


def test_the_first_dead_letter_of_each_reason_is_logged_with_its_detail(caplog):
    pub, reg = publisher(FakeIO([]))
    wrong_names = InvalidEvent("unknown_feature", "unknown feature(s) ['x']; expected ['a', 'b']")
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        for offset in range(3):
            pub.dead_letter(IN, Record(offset, b"k", b"{}"), wrong_names)
        pub.dead_letter(IN, Record(3, b"k", b"{"), InvalidEvent("bad_json", "not JSON"))
    logged = [r for r in caplog.records if "sent to the DLQ" in r.getMessage()]
    assert [r.fields["reason"] for r in logged] == ["unknown_feature", "bad_json"]
    assert logged[0].fields["detail"] == wrong_names.detail
    assert logged[0].fields["source"] == f"{IN.topic}/{IN.partition}/0"
    assert reg.get_sample_value("anomaly_gan_dlq_total", {"reason": "unknown_feature"}) == 3


def test_an_alert_says_since_when_its_entity_is_anomalous(caplog):
    """A new user's alerts for one incident said `consecutive_windows: 73` and nothing in
    time: the run's start had to be worked out from the window step. The record and the log
    line now carry the end of the run's first anomalous window; the log line's score and
    threshold are cut to 4 digits (14.454605149129202 before)."""
    io = FakeIO([])
    pub, _ = publisher(io, consecutive=3, cooldown_seconds=15.0, scores_sample_rate=0.0)
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        # e: normal at 10 s, anomalous from the window ending at 20 s
        pub.publish(*scored_batch([1.0, 12.3456789, 13.0, 14.0, 15.0, 16.0], ["e"] * 6))
    alerts = [json.loads(v) for t, _k, v, _h in io.sent if t == pub.cfg.kafka.alert_topic]
    assert [(a["window_end_ts"], a["consecutive_windows"]) for a in alerts] == [(40.0, 3),
                                                                               (60.0, 5)]
    assert {a["anomalous_since_ts"] for a in alerts} == {20.0}
    assert {a["anomalous_since"] for a in alerts} == {"1970-01-01T00:00:20.000Z"}
    logged = [r.fields for r in caplog.records if r.getMessage() == "alert"]
    assert [(f["score"], f["threshold"], f["since"]) for f in logged] == [
        (14.0, 10.0, "1970-01-01T00:00:20.000Z"), (16.0, 10.0, "1970-01-01T00:00:20.000Z")]


def test_the_alert_log_line_cuts_the_score_to_four_digits(caplog):
    io = FakeIO([])
    pub, _ = publisher(io, scores_sample_rate=0.0)
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        pub.publish(*scored_batch([12.3456789]))
    (fields,) = [r.fields for r in caplog.records if r.getMessage() == "alert"]
    assert fields["score"] == 12.35
    (record,) = [json.loads(v) for _t, _k, v, _h in io.sent]
    assert record["score"] == 12.3456789  # the record keeps every digit


def test_the_alert_log_line_writes_a_score_just_over_the_threshold_apart_from_it(caplog):
    """At 4 digits a score of 10.0004 over a threshold of 10 was logged as score=10.0
    threshold=10.0: an alert whose line said its score was the threshold. Digits are added
    until the two read as far apart as they are, as for a reading and its reconstruction."""
    io = FakeIO([])
    pub, _ = publisher(io, scores_sample_rate=0.0)
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        pub.publish(*scored_batch([10.0004, 12.3456789]))
    logged = [r.fields for r in caplog.records if r.getMessage() == "alert"]
    assert [(f["score"], f["threshold"]) for f in logged] == [(10.0004, 10.0), (12.35, 10.0)]


def test_an_alert_says_its_features_values_from_one_model_call_per_batch(caplog):
    """An alert named `a` and not how far off it was. The record now carries each top
    feature's observed and expected value (the detector's feature_values, one call for all
    the alerts of a batch, none for a batch without one) and the log line shows them."""
    io = FakeIO([])
    pub, _ = publisher(io, scores_sample_rate=0.0)
    batch, det, res = scored_batch([1.0, 12.3456789, 2.0, 50.0])
    with caplog.at_level("WARNING", logger="anomaly_gan.stream"):
        pub.publish(batch, det, res)
    assert det.value_calls == 1
    alerts = [json.loads(v) for _t, _k, v, _h in io.sent]
    assert [a["feature_values"] for a in alerts] == [
        [{"feature": "a", "observed": 12.3456789, "expected": 0.0, "rows_before_end": 0}],
        [{"feature": "a", "observed": 50.0, "expected": 0.0, "rows_before_end": 0}]]
    assert [r.fields["values"] for r in caplog.records if r.getMessage() == "alert"] == [
        "a 12.35 (exp 0)", "a 50 (exp 0)"]

    quiet_batch, quiet_det, quiet_res = scored_batch([1.0, 2.0])
    pub.publish(quiet_batch, quiet_det, quiet_res)
    assert getattr(quiet_det, "value_calls", 0) == 0


def test_a_batch_array_too_large_for_one_producer_request_is_split_in_window_order():
    """``scores_format: batch`` wrote one array per entity and model batch, however many
    windows: an entity with a 512-byte id (128 emoji, 1.5 KB escaped in each score record)
    catching up on a backlog fills a batch with its own windows, and past ~560 of them the
    array passed kafka-python's max_request_size (1 MiB). Its send raised
    MessageSizeTooLargeError, the loop replayed from the last commit, built the same batch
    and failed again, for ever. Each record now stays under a producer request."""
    entity = "\U0001F600" * 128  # 512 UTF-8 bytes: the longest id max_entity_bytes allows
    n = 700
    batch = WindowBatch(3, 2, capacity=n)
    for i in range(n):
        batch.raw[batch.reserve()] = 1.0
        batch.entities.append(entity)
        batch.start_ts.append(1767225600.0 + i)
        batch.end_ts.append(1767225602.0 + i)
        batch.partitions.append(IN)
        batch.offsets.append(123_456_789 + i)
        batch.replay_from.append(i)
    det = FakeModel()
    res = det.score_windows(batch.windows())
    one, grouped = FakeIO([]), FakeIO([])
    publisher(one)[0].publish(batch, det, res)
    publisher(grouped, scores_format="batch")[0].publish(batch, det, res)
    sizes = [len(k) + len(v) for _, k, v, _ in grouped.sent]
    assert max(sizes) < 1_000_000, sizes  # a producer request is 1 MiB with its overhead
    assert {(t, k) for t, k, *_ in grouped.sent} == {("scores", entity.encode())}
    in_order = [rec for _, _, v, _ in grouped.sent for rec in json.loads(v)]
    assert in_order == [json.loads(v) for _, _, v, _ in one.sent]  # every window, in order
