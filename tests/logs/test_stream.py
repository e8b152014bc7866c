"""A log stream through the real broker: alerts that name templates, dead letters, reload."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.logs.conftest import otlp_batch, syslog_line
from tests.stream.conftest import PATIENT_POLL_MS, PATIENT_STALL_S
from tests.support.kafka import consume_all, group_committed, local_kafka, produce, produce_acked

pytestmark = [pytest.mark.slow, pytest.mark.kafka]


@pytest.fixture
def log_serve_config(kafka_bootstrap, kafka_topics, log_bundle):
    from anomaly_gan.config import config_from_dict

    def make(model_path=None, **windows):
        topics = kafka_topics(events=2, alerts=1, scores=1, dlq=1)
        return config_from_dict({"serve": {
            "model_path": str(model_path or log_bundle),
            "grace_seconds": 10.0,
            "reload_interval_seconds": 0.2,
            "kafka": local_kafka(kafka_bootstrap, topics, f"g-{topics['events']}",
                                 max_poll_interval_ms=PATIENT_POLL_MS,
                                 input_stall_seconds=PATIENT_STALL_S),
            "windows": {"max_event_bytes": 512, **windows},
            "batching": {"max_batch": 256, "max_latency_ms": 20},
            "alerts": {"consecutive": 2, "cooldown_seconds": 600.0},
            "http": {"port": 0},
        }}, "test logs serve config")

    return make


def lines_between(service_logs, start_s, stop_s):
    """(key, line) records of the test part, seconds after the train/test split."""
    t0 = service_logs.start_ts + service_logs.train_seconds
    return [(r["entity"], syslog_line(r)) for r in service_logs.lines
            if t0 + start_s <= r["ts"] < t0 + stop_s]


def test_error_burst_alert_names_the_template_with_counts_and_examples(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs):
    cfg = log_serve_config()
    # The burst's errors come with their stack traces, joined into one record each as a
    # log shipper's multiline setting sends them: counted under their first line's
    # template, not dead-lettered as no_match.
    trace = "\n\tat Gateway.call(Gateway.java:88)\n\tat Checkout.pay(Checkout.java:12)"
    records = [(k, v + trace if "payment gateway timeout" in v else v)
               for k, v in lines_between(service_logs, 0, 600)]  # the burst is 300-420 s in
    assert sum("\n" in v for _, v in records) > 10
    run = start_scorer(cfg, log_detector)
    produce(kafka_bootstrap, cfg.serve.kafka.input_topic, records)
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == len(records), 60,
                 "every line counted")
    run.wait_for(lambda: run.value("anomaly_gan_alerts_total",
                                   {"model_version": log_detector.version}), 30, "an alert")
    alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap, cfg.serve.kafka.alert_topic)]
    burst = [a for a in alerts if a["entity"] == "checkout-svc"]
    assert burst, alerts
    top = burst[0]["templates"][0]
    assert top["template"] == "payment gateway timeout after <NUM> ms"
    assert top["observed"] > 10 * max(top["expected"], 1)
    assert 1 <= len(top["examples"]) <= 3
    assert all(line.startswith("payment gateway timeout after") and line.endswith(trace)
               for line in top["examples"])
    t0 = service_logs.start_ts + service_logs.train_seconds
    assert burst[0]["window_end_ts"] > t0 + 300
    assert run.value("anomaly_gan_dlq_total", {"reason": "no_match"}) == 0
    assert run.stop() == 0


def test_bad_lines_go_to_the_dead_letter_topic_and_the_loop_survives(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs):
    cfg = log_serve_config()
    bad = {
        "not_utf8": b"2026-01-01T00:00:00Z web INFO \xff\xfe",
        "oversized": ("2026-01-01T00:00:00Z web INFO " + "x" * 600).encode(),
        "missing_field": b"2026-01-01T00:00:00Z INFO a line without its entity",
        "no_match": b"this is not a syslog line",
        # float("²³") raised: the record stopped the service
        "bad_timestamp": "²³ web INFO superscript digits".encode(),
        # it closed every bucket of its partition and made every later line late
        "future_timestamp": b"2099-01-01T00:00:00Z web INFO stamped decades ahead",
    }
    good = lines_between(service_logs, 0, 120)
    run = start_scorer(cfg, log_detector)
    produce(kafka_bootstrap, cfg.serve.kafka.input_topic,
            [(b"k-" + r.encode(), v) for r, v in bad.items()] + good)
    run.wait_for(lambda: (run.value("anomaly_gan_windows_scored_total") or 0) > 0, 60,
                 "windows scored after the bad lines")
    dlq = consume_all(kafka_bootstrap, cfg.serve.kafka.dlq_topic, expect=len(bad))
    assert len(dlq) == len(bad)
    for r in dlq:
        headers = dict(r.headers)
        reason = headers["reason"].decode()
        if reason == "oversized":  # cut to max_event_bytes, and a header says so
            assert bad[reason].startswith(r.value) and len(r.value) < len(bad[reason])
            assert f"of {len(bad[reason])} bytes".encode() in headers["truncated"]
        else:
            assert r.value == bad[reason]
        assert headers["detail"]
        assert run.value("anomaly_gan_dlq_total", {"reason": reason}) == 1
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == len(good), 30, "lines")
    assert run.stop() == 0


def test_a_record_of_several_log_lines_counts_each_as_a_file_would(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs):
    """A shipper that joins lines (a multiline pattern that matches too much, a batch sent
    as one value) sends records of several events: each line that parses as an event is
    counted, as train reads the same lines from a file, and a trace joined to one stays its
    continuation. Until 2026-12-06 the lines after a record's first were its continuation
    whatever they held: 3 of every 4 lines (other entities' errors too) were counted
    nowhere, with no dead letter and no metric saying so."""
    cfg = log_serve_config(max_event_bytes=65_536)
    lines = [v for _, v in lines_between(service_logs, 0, 120)]
    trace = "\n\tat Gateway.call(Gateway.java:88)"
    records = ["\n".join(lines[i:i + 3]) + trace + "\n" + lines[i + 3]
               for i in range(0, len(lines) - 3, 4)]
    n = 4 * len(records)
    run = start_scorer(cfg, log_detector)
    produce(kafka_bootstrap, cfg.serve.kafka.input_topic, [(None, v) for v in records],
            partition=0)
    run.wait_for(lambda: run.value("anomaly_gan_events_consumed_total") == len(records), 60,
                 "every record read")
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == n, 30,
                 f"each of the {n} lines counted")
    assert sum(run.value("anomaly_gan_dlq_total", {"reason": r}) or 0
               for r in ("no_match", "missing_field", "oversized")) == 0
    assert run.stop() == 0


def test_batches_of_every_kafka_codec_are_read_and_each_line_counted_once(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs):
    """Shippers compress their batches (Filebeat gzip by default; lz4, snappy and zstd are a
    producer's compression.type). Until 2026-12-06 kafka-python had no lz4 or snappy
    library here: every poll that met such a batch raised UnsupportedCodecError and serve
    replayed from its last commit for ever, /readyz 200, counting the lines before it again
    at each replay (1,508 counted for 900 records) and never reading the ones after it."""
    from kafka import KafkaProducer

    cfg = log_serve_config()
    lines = [(k.encode(), v.encode()) for k, v in lines_between(service_logs, 0, 300)]
    codecs = [None, "gzip", "lz4", "snappy", "zstd", None]
    part = len(lines) // len(codecs)
    for i, codec in enumerate(codecs):
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=50,
                                 compression_type=codec)
        for key, value in lines[i * part:(i + 1) * part]:
            producer.send(cfg.serve.kafka.input_topic, key=key, value=value, partition=0)
        producer.flush(timeout=30)
        producer.close(timeout=5)
    n = part * len(codecs)
    run = start_scorer(cfg, log_detector)
    run.wait_for(lambda: run.value("anomaly_gan_events_consumed_total") >= n, 60,
                 "every record read")
    assert run.value("anomaly_gan_replays_total", {"reason": "error"}) == 0
    assert run.value("anomaly_gan_events_consumed_total") == n
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == n, 30, "every line counted")
    assert run.stop() == 0


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_otlp_batches_are_counted_record_by_record_and_a_bad_one_dead_lettered_once(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs, fmt):
    """The service log as an OpenTelemetry Collector's kafka exporter sends it (encoding:
    otlp_json, or its default protobuf): batches of ten log records per Kafka record. Every
    log record is counted and scored as its line would be; a batch with one bad log record
    goes to the dead-letter topic once, saying how many of its records were bad, and its
    other nine are counted; a record that is no OTLP document (on a protobuf topic, a JSON
    one) goes there too, as it came, and the loop reads on."""
    import dataclasses

    from tests.support.otlp import to_proto

    logs = dataclasses.replace(log_detector.config.logs, format=fmt, regex=None)
    det = dataclasses.replace(log_detector, config=log_detector.config.replace(logs=logs))
    cfg = log_serve_config(max_event_bytes=65_536)  # a dead letter carries its whole batch
    t0 = service_logs.start_ts + service_logs.train_seconds
    recs = [r for r in service_logs.lines if t0 <= r["ts"] < t0 + 600]  # the burst: 300-420 s
    batches = [json.loads(otlp_batch(recs[i:i + 10])) for i in range(0, len(recs), 10)]
    bad_at = len(batches) // 3
    first = batches[bad_at]["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
    del first[0]["body"]  # a log record with no message
    values = [to_proto(b) if fmt == "otlp_proto" else json.dumps(b).encode() for b in batches]
    malformed = b'{"resourceLogs": [{"scopeLogs": "not a list"}]}'
    values.insert(bad_at + 1, malformed)
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, cfg.serve.kafka.input_topic, [(None, v) for v in values],
            partition=0)  # the exporter's batches, in order, mixed entities
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == len(recs) - 1, 60,
                 "every valid log record counted")
    run.wait_for(lambda: run.value("anomaly_gan_alerts_total",
                                   {"model_version": det.version}), 30, "an alert")
    dlq = consume_all(kafka_bootstrap, cfg.serve.kafka.dlq_topic, expect=2)
    assert [r.value for r in dlq] == [values[bad_at], malformed]
    details = [dict(r.headers)["detail"].decode() for r in dlq]
    assert details[0].startswith("1 of 10 log records invalid; the first: resourceLogs[0]."
                                 "scopeLogs[0].logRecords[0]: 'body' is missing")
    assert details[1] == ("resourceLogs[0].scopeLogs must be a list, got str"
                          if fmt == "otlp_json" else
                          "not an OTLP protobuf ExportLogsServiceRequest: Wire format was "
                          "corrupt (a JSON document? that is encoding: otlp_json, read with "
                          "logs.format: otlp_json)")
    assert [dict(r.headers)["source"].decode().rsplit("/", 1)[1] for r in dlq] == \
        [str(bad_at), str(bad_at + 1)]
    # one dead letter per Kafka record, as events_consumed_total counts records
    reasons = {"missing_field": 2} if fmt == "otlp_json" else {"missing_field": 1,
                                                               "bad_protobuf": 1}
    for reason, n in reasons.items():
        assert run.value("anomaly_gan_dlq_total", {"reason": reason}) == n
        assert run.value("anomaly_gan_events_invalid_total", {"reason": reason}) == n
    assert run.value("anomaly_gan_log_lines_late_total") == 0
    alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap,
                                                       cfg.serve.kafka.alert_topic)]
    burst = [a for a in alerts if a["entity"] == "checkout-svc"]
    assert burst and burst[0]["templates"][0]["template"] == \
        "payment gateway timeout after <NUM> ms"
    assert run.stop() == 0


def test_hot_reload_of_a_logs_bundle(log_serve_config, log_detector, log_bundle, start_scorer,
                                     kafka_bootstrap, service_logs, tmp_path):
    import dataclasses

    from anomaly_gan.artifacts import bundle_fingerprint, load_bundle, promote, save_bundle
    from anomaly_gan.stream.reload import ModelWatcher

    store = tmp_path / "store"
    store.mkdir()
    shutil.copytree(log_bundle, store / "v1")
    promote(store, "v1")
    cfg = log_serve_config(model_path=store)
    det = load_bundle(store)
    results = []
    # allow_unhealthy: the tiny logs model trains with allow_unhealthy (served as kept)
    watcher = ModelWatcher(str(store), 0.2, det, bundle_fingerprint(store),
                           on_result=results.append, allow_unhealthy=True).start()
    try:
        run = start_scorer(cfg, det, watcher=watcher)
        first = lines_between(service_logs, 0, 120)
        produce(kafka_bootstrap, cfg.serve.kafka.input_topic, first)
        run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == len(first), 60, "v1")
        save_bundle(dataclasses.replace(log_detector, version="logs-v2"), store / "v2")
        promote(store, "v2")
        run.wait_for(lambda: run.value("anomaly_gan_model_info",
                                       {"version": "logs-v2", "kind": "ganomaly"}) == 1,
                     30, "the reloaded logs model in use")
        scored = run.value("anomaly_gan_windows_scored_total")
        more = lines_between(service_logs, 120, 300)
        produce(kafka_bootstrap, cfg.serve.kafka.input_topic, more)
        run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") > scored, 60,
                     "windows scored by the reloaded model")
        assert results == ["success"]
        assert run.stop() == 0
    finally:
        watcher.stop()


class _Tail:
    """Every record of ``topic`` so far (all partitions, no group), read on each call."""

    def __init__(self, bootstrap, topic):
        from kafka import KafkaConsumer, TopicPartition

        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        tps = [TopicPartition(topic, p) for p in self.consumer.partitions_for_topic(topic)]
        self.consumer.assign(tps)
        self.consumer.seek_to_beginning(*tps)
        self.records = []

    def __call__(self):
        for msgs in self.consumer.poll(timeout_ms=50).values():
            self.records.extend(json.loads(m.value) for m in msgs)
        return self.records

    def close(self):
        self.consumer.close(autocommit=False, timeout_ms=1000)


@pytest.mark.parametrize("hold", [3.0, None])
def test_a_service_that_stops_logging_alone_on_its_partition_has_its_silence_scored(
        log_serve_config, log_detector, start_scorer, kafka_bootstrap, service_logs, hold):
    """docs/logs.md, Buckets: a partition read to its end (its consumer lag, from the real
    broker's high watermark and the scorer's position, 0) with no line for longer than
    serve.windows.idle_close_seconds closes its buckets on the clock. inventory-svc logs on
    partition 0 and crashes; auth-svc goes on logging on partition 1, at the pace of its
    line times. inventory-svc's open bucket closes with its lines, then its first empty
    bucket as a zero row, and both windows are scored once each; the commit never passes
    the first line of that last bucket (a replay rebuilds it). With null nothing closes
    partition 0's buckets: a service's silence is never scored (as before 2026-12-07)."""
    import threading
    import time

    from kafka import KafkaProducer, TopicPartition

    cfg = log_serve_config(idle_close_seconds=hold)
    k = cfg.serve.kafka
    t0 = service_logs.start_ts + service_logs.train_seconds
    crash = t0 + 100.0  # inventory-svc's last line is at 96.98 s: its bucket [90, 100) open
    silent, busy = "inventory-svc", "auth-svc"
    backlog = [(0, r) for r in service_logs.lines if r["entity"] == silent and t0 <= r["ts"] < crash]
    backlog += [(1, r) for r in service_logs.lines if r["entity"] == busy and t0 <= r["ts"] < crash]
    later = [r for r in service_logs.lines if r["entity"] == busy and crash <= r["ts"] < t0 + 600]
    run = start_scorer(cfg, log_detector)
    acks = {p: produce_acked(kafka_bootstrap, k.input_topic,
                             [(r["entity"], syslog_line(r)) for q, r in backlog if q == p],
                             partition=p) for p in (0, 1)}
    last_bucket_first = next(a.offset for (_, r), a in zip(
        [x for x in backlog if x[0] == 0], acks[0], strict=True) if r["ts"] >= crash - 10.0)
    run.wait_for(lambda: run.value("anomaly_gan_log_lines_total") == len(backlog), 60,
                 "the lines before the crash counted")
    read_at = time.time()  # inventory-svc's last line came before this

    stop = threading.Event()

    def keep_logging():  # auth-svc's lines from 100 s on, each sent once its time has come
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=0)
        try:
            for r in later:
                while not stop.is_set() and crash + (time.time() - read_at) < r["ts"]:
                    stop.wait(0.05)
                if stop.is_set():
                    return
                producer.send(k.input_topic, key=busy.encode(), value=syslog_line(r).encode(),
                              partition=1)
                producer.flush(timeout=10)
        finally:
            producer.close(timeout=5)

    scores = _Tail(kafka_bootstrap, k.scores_topic)

    def ends(records, entity):  # the ends of an entity's scored windows, from t0
        return [s["window_end_ts"] - t0 for s in records if s["entity"] == entity]

    logger = threading.Thread(target=keep_logging, daemon=True)
    logger.start()
    try:
        if hold is not None:
            run.wait_for(lambda: crash + 10.0 - t0 in ends(scores(), silent), 60,
                         f"{silent}'s first empty bucket scored")
        else:  # by then auth-svc's line times have run on 20 s past the crash (the hold
            # and inventory-svc's first empty bucket, 16 s, would have closed it)
            run.wait_for(lambda: max(ends(scores(), busy), default=0.0) >= crash + 20.0 - t0, 60,
                         f"{busy}'s windows 20 s past the crash scored")
        assert run.value("anomaly_gan_consumer_lag", {"topic": k.input_topic,
                                                      "partition": "0"}) == 0
        with run.scorer._loop_lock:  # the rows behind those windows: lines per bucket
            rows = {r.end_ts - t0: r.lines for r in run.scorer.intake.logs._recent[silent]}
    finally:
        stop.set()
        logger.join(timeout=20)
        scores.close()
    # every window of inventory-svc from its first (6 buckets) on, each scored once
    silent_ends = ends(scores.records, silent)
    assert silent_ends == [60.0 + 10.0 * i for i in range(len(silent_ends))], silent_ends
    if hold is None:
        assert silent_ends[-1] == 90.0 and 100.0 not in rows, silent_ends
    else:
        # its open bucket closed with its lines, the next one empty: scored as silent
        assert 110.0 in silent_ends, silent_ends
        assert rows[100.0] == sum(1 for q, r in backlog if q == 0 and r["ts"] >= crash - 10.0)
        assert rows[110.0] == 0
    assert run.value("anomaly_gan_log_lines_late_total") == 0  # auth-svc's lines never late
    assert run.stop() == 0
    committed = group_committed(kafka_bootstrap, k.group_id, TopicPartition(k.input_topic, 0))
    assert committed is not None and committed <= last_bucket_first, (committed,
                                                                      last_bucket_first)
