"""The scorer against a real broker: exact scores, exact alerts, DLQ, metrics over HTTP,
consumer groups and hot reload."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
import urllib.request
from collections import Counter

import pytest
from prometheus_client.parser import text_string_to_metric_families

from anomaly_gan.stream.alerts import Debouncer, alert_id, resolution_id
from anomaly_gan.stream.events import INVALID_REASONS
from tests.stream.conftest import plant_events
from tests.support.kafka import consume_all, group_committed, produce
from tests.support.otlp import to_proto
from tests.support.stream_plant import injected_values

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

START, STOP = 560, 1000  # plant rows streamed: the end of the normal period and incidents


def stream_records(plant, values):
    out = []
    for t in range(START, STOP):
        for e, name in enumerate(plant.entities):
            out.append((name, {"entity": name, "ts": float(plant.timestamps[t]),
                               "values": values[e, t].tolist()}))
    return out


def expected_alerts(det, plant, values, consecutive, cooldown):
    """Alerts the offline scores imply under the same debounce."""
    out = set()
    for e, name in enumerate(plant.entities):
        res = det.score_series(values[e, START:STOP])
        d = Debouncer(consecutive, cooldown)
        for i in range(det.window - 1, STOP - START):
            ts = float(plant.timestamps[START + i])
            if d.update(name, ts, bool(res.is_anomaly[i])):
                out.add((name, ts))
    return out


def expected_alert_topic(det, plant, values, consecutive, cooldown, resolve_windows):
    """Per entity, in order, the (status, window end) of the alert topic's records that the
    offline scores imply under the same debounce and resolutions."""
    out = {}
    for e, name in enumerate(plant.entities):
        res = det.score_series(values[e, START:STOP])
        d = Debouncer(consecutive, cooldown, resolve_windows)
        for i in range(det.window - 1, STOP - START):
            ts = float(plant.timestamps[START + i])
            if d.update(name, ts, bool(res.is_anomaly[i])):
                out.setdefault(name, []).append(("firing", ts))
            elif d.closed is not None:
                out.setdefault(name, []).append(("resolved", ts))
    return out


def scrape(url):
    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_stream_scores_and_alerts_equal_offline(serve_config, start_scorer, stream_detector,
                                                plant, kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=3, overrides={"alerts.consecutive": 2,
                                                "alerts.cooldown_seconds": 300.0})
    k = cfg.serve.kafka
    values = injected_values(plant)
    records = stream_records(plant, values)
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records)
    n_windows = len(plant.entities) * (STOP - START - det.window + 1)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == n_windows, 60,
                 "all windows scored")

    scores = consume_all(kafka_bootstrap, k.scores_topic, expect=n_windows)
    assert len(scores) == n_windows
    got = {}
    for r in scores:
        d = json.loads(r.value)
        assert r.key.decode() == d["entity"]
        got[(d["entity"], d["window_end_ts"])] = d["score"]
    assert len(got) == n_windows  # each window exactly once
    for e, name in enumerate(plant.entities):
        offline = det.score_series(values[e, START:STOP]).score
        for i in range(det.window - 1, STOP - START):
            streamed = got[(name, float(plant.timestamps[START + i]))]
            assert streamed == pytest.approx(offline[i], abs=1e-5)

    want = expected_alerts(det, plant, values, 2, 300.0)
    assert ("pump-2", float(plant.timestamps[701])) in want  # the injected incident alerts
    alerts = consume_all(kafka_bootstrap, k.alert_topic, expect=len(want))
    records = [json.loads(r.value) for r in alerts]
    assert {(a["entity"], a["window_end_ts"]) for a in records} == want
    assert len(records) == len(want)
    for a in records:
        assert a["alert_id"] == alert_id(a["entity"], a["window_end_ts"], det.version)
        assert a["model_version"] == det.version
        assert a["score"] > a["threshold"]
        assert a["window_end_ts"] - a["window_start_ts"] == pytest.approx(10.0 * (det.window - 1))
        assert len(a["top_features"]) >= 1 and set(a["components"]) >= {"reconstruction"}
    spike = next(a for a in records if a["entity"] == "pump-2"
                 and a["window_end_ts"] == float(plant.timestamps[701]))
    assert spike["top_features"][0] == "rpm"
    # Each top feature's observed and expected values: what offline scoring says of the
    # same window, through the same function.
    row_of = {float(ts): t for t, ts in enumerate(plant.timestamps)}
    for a in records:
        e, t = plant.entities.index(a["entity"]), row_of[a["window_end_ts"]]
        window = values[e, t - det.window + 1:t + 1]
        offline_top = det.score_series(values[e, START:STOP]).top_features[t - START]
        (want_values,) = det.feature_values(window[None], [offline_top])
        assert [v["feature"] for v in a["feature_values"]] == a["top_features"] == offline_top
        for got_v, want_v in zip(a["feature_values"], want_values, strict=True):
            assert got_v.keys() == want_v.keys()
            for key, want_x in want_v.items():
                assert got_v[key] == (want_x if not isinstance(want_x, float)
                                      else pytest.approx(want_x, rel=1e-6, abs=1e-9))
    rpm = spike["feature_values"][0]  # the incident's rows 700 and 701 are in the window
    row = 701 - rpm["rows_before_end"]
    assert row in (700, 701) and rpm["observed"] == values[1, row, 1]
    normal = plant.values[1, row, 1]
    assert abs(rpm["expected"] - normal) < (rpm["observed"] - normal) / 4

    # Metrics, scraped over HTTP and parsed like Prometheus does.
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1
                 and run.value("anomaly_gan_entities") == len(plant.entities), 10,
                 "gauges refreshed (once a second)")
    m = scrape(run.url)
    assert m[("anomaly_gan_events_consumed_total", ())] == len(records and stream_records(plant, values))
    assert m[("anomaly_gan_windows_scored_total", ())] == n_windows
    assert m[("anomaly_gan_alerts_total", (("model_version", det.version),))] == len(want)
    assert m[("anomaly_gan_score_count", ())] == n_windows
    assert m[("anomaly_gan_events_late_total", ())] == 0
    assert m[("anomaly_gan_entities", ())] == len(plant.entities)
    assert m[("anomaly_gan_broker_up", ())] == 1
    assert m[("anomaly_gan_model_info", (("kind", det.kind), ("version", det.version)))] == 1
    assert m[("anomaly_gan_threshold", ())] == pytest.approx(det.threshold)
    n_anomalous = sum(int(det.score_series(values[e, START:STOP]).is_anomaly.sum())
                      for e in range(len(plant.entities)))
    assert m[("anomaly_gan_anomalies_total", ())] == n_anomalous
    lag_series = [key for key in m if key[0] == "anomaly_gan_consumer_lag"]
    assert len(lag_series) == 3 and all(m[key] == 0 for key in lag_series)
    assert urllib.request.urlopen(run.url + "/healthz", timeout=5).status == 200
    assert urllib.request.urlopen(run.url + "/readyz", timeout=5).status == 200
    assert run.stop() == 0


COUNTER, RESET, MID = "flow", 800, 780  # pump-2's process restarts at row 800


@pytest.fixture(scope="module")
def counter_values(plant):
    """The plant with ``flow`` exported as a running total, as a Prometheus counter is:
    pump-2 restarts (from 0) at RESET, and pump-3's total jumps at rows 900..904 (a burst of
    40 standard deviations of its increase)."""
    import numpy as np

    values = plant.values.copy()
    j = plant.feature_names.index(COUNTER)
    step = plant.values[:, :, j].copy()
    step[2, 900:905] += 40 * step[2, :600].std()
    for e in range(len(plant.entities)):
        values[e, :, j] = 1e6 * (e + 1) + np.cumsum(step[e])
    values[1, RESET:, j] = np.cumsum(step[1, RESET:])
    return values


@pytest.fixture(scope="module")
def counter_detector(plant, counter_values, tmp_path_factory):
    """A tiny bundle trained with data.counters: [flow], saved and loaded (serve takes the
    counters from the bundle's config)."""
    from anomaly_gan.artifacts import load_bundle, save_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.data import increases
    from anomaly_gan.train import train_detector
    from tests.stream.conftest import TINY_CONFIG

    raw = {**TINY_CONFIG, "data": {**TINY_CONFIG["data"], "counters": [COUNTER]}}
    cfg = config_from_dict(raw, "tiny counter config")
    columns = [plant.feature_names.index(COUNTER)]
    det = train_detector(cfg, [increases(counter_values[e, :plant.train_steps], columns)
                               for e in range(len(plant.entities))], plant.feature_names)
    det = load_bundle(save_bundle(det, tmp_path_factory.mktemp("models") / "counting"))
    assert det.counters == tuple(columns)
    return det


def test_counter_increases_stream_as_offline_across_a_reset_and_a_restart(
        serve_config, start_scorer, counter_detector, counter_values, plant, kafka_bootstrap):
    """data.counters: serve keeps each entity's last counter value and scores the windows of
    increases that `score` scores offline (each series' first row only starts them), through
    pump-2's counter reset and a restart of the scorer in the middle (the replay from the
    committed offset rebuilds the same increases); alerts mark the counter's values as
    increases."""
    from anomaly_gan.data import increases

    det, values = counter_detector, counter_values
    cfg = serve_config(partitions=3, overrides={"alerts.consecutive": 1})
    k = cfg.serve.kafka
    n_new = len(plant.entities) * (MID - START - det.window)  # the first row: no increase
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, [r for r in stream_records(plant, values)
                                             if r[1]["ts"] < plant.timestamps[MID]])
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == n_new, 60,
                 "the first part scored")
    assert run.stop() == 0  # commits: the rest is read by a new scorer of the same group
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, [r for r in stream_records(plant, values)
                                             if r[1]["ts"] >= plant.timestamps[MID]])
    n_windows = len(plant.entities) * (STOP - START - det.window)
    got = {}

    def all_scored():
        for r in consume_all(kafka_bootstrap, k.scores_topic, idle_s=0.5, timeout_s=10):
            d = json.loads(r.value)
            got.setdefault((d["entity"], d["window_end_ts"]), []).append(d["score"])
        return len(got) >= n_windows

    run.wait_for(all_scored, 90, "every window scored")
    assert len(got) == n_windows  # no window lost across the restart
    columns = det.counters
    offline = {}
    for e, name in enumerate(plant.entities):
        rows = increases(values[e, START:STOP], columns)  # rows START+1 .. STOP-1
        res = det.score_series(rows)
        offline[name] = res
        for i in range(det.window - 1, len(rows)):
            streamed = got[(name, float(plant.timestamps[START + 1 + i]))]
            assert streamed == pytest.approx([res.score[i]] * len(streamed), abs=1e-5)
    assert increases(values[1, RESET - 1:RESET + 1], columns)[0, columns[0]] == (
        values[1, RESET, columns[0]])  # the reset's increase is the new value

    alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap, k.alert_topic)]
    burst = [a for a in alerts if a["entity"] == "pump-3"
             and plant.timestamps[900] <= a["window_end_ts"] <= plant.timestamps[912]]
    assert burst and COUNTER in burst[0]["top_features"]
    row_of = {float(ts): t for t, ts in enumerate(plant.timestamps)}
    for a in alerts:
        e, t = plant.entities.index(a["entity"]), row_of[a["window_end_ts"]]
        i = t - START - 1  # the row of the increases
        window = increases(values[e, START:STOP], columns)[i - det.window + 1:i + 1]
        (want,) = det.feature_values(window[None], [offline[a["entity"]].top_features[i]])
        for got_v, want_v in zip(a["feature_values"], want, strict=True):
            assert got_v.keys() == want_v.keys()
            assert got_v.get("increase") is (True if got_v["feature"] == COUNTER else None)
            assert got_v["observed"] == pytest.approx(want_v["observed"], rel=1e-6, abs=1e-9)
    assert run.stop() == 0


def telegraf_record(feature_names, event):
    """``event`` as Telegraf's Kafka output writes it with data_format = "json": the readings
    under "fields" with one the model was not trained on, the host under "tags", epoch s."""
    return {"fields": {**dict(zip(feature_names, event["values"], strict=True)), "uptime": 99},
            "name": "pump", "tags": {"host": event["entity"], "site": "plant-a"},
            "timestamp": int(event["ts"])}


def test_telegraf_records_score_and_alert_as_the_same_readings_in_the_default_shape(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """serve.event_fields reads Telegraf's json output (tags.host, timestamp, fields) and
    serve.unknown_features: ignore leaves out its extra field: the scores and alerts are
    those of the same readings sent as {"entity", "ts", "values"}; a record without the
    host goes to the DLQ naming the configured field."""
    det = stream_detector
    events, n_windows = incident_events(plant, det)
    telegraf = {"event_fields": {"entity": "tags.host", "ts": "timestamp", "values": "fields"},
                "unknown_features": "ignore"}

    def scored(overrides, records):
        return streamed_scores(serve_config, start_scorer, det, kafka_bootstrap, n_windows,
                               overrides, records)

    plain = scored({}, events)
    hostless = {**telegraf_record(det.feature_names, events[0][1]), "tags": {"site": "plant-a"}}
    shaped = [(key, telegraf_record(det.feature_names, ev)) for key, ev in events]
    scores, alerts, dlq = scored(telegraf, [*shaped, (b"no-host", hostless)])

    assert_scored_as_the_whole_readings(plain, scores, alerts, plant, n_windows)
    # one record, dead-lettered at least once: a commit that fails under load (Tansu) makes
    # the scorer read it again after the rebalance, as delivery is at least once
    sources = {dict(dead.headers)["source"] for dead in dlq}
    assert len(sources) == 1, sources
    headers = dict(dlq[0].headers)
    assert headers["reason"] == b"missing_field"
    assert headers["detail"] == b"'tags.host' must be a non-empty string"


def incident_events(plant, det):
    """The default-shape records of plant rows 560..719 (the incident at 700 included), and
    the windows they make: the readings the other-shape tests send again in their shape."""
    events = [ev for ev in stream_records(plant, injected_values(plant))
              if ev[1]["ts"] < float(plant.timestamps[720])]
    return events, len(plant.entities) * (720 - START - det.window + 1)


def assert_scored_as_the_whole_readings(plain, scores, alerts, plant, n_windows):
    """``scores`` and ``alerts`` are those of ``plain`` (:func:`streamed_scores` of the
    readings sent whole, which scored every window, alerted on the incident and sent
    nothing to the dead-letter topic), scores to 1e-6."""
    plain_scores, plain_alerts, plain_dlq = plain
    assert len(plain_scores) == n_windows and not plain_dlq
    assert scores.keys() == plain_scores.keys()
    for key, score in plain_scores.items():
        assert scores[key] == pytest.approx(score, abs=1e-6)
    assert ("pump-2", float(plant.timestamps[701]), "rpm") in plain_alerts
    assert alerts == plain_alerts


def streamed_scores(serve_config, start_scorer, det, kafka_bootstrap, n_windows, overrides,
                     records, late=0, incomplete=0, dlq_expect=None):
    """Scores, alerts and dead letters of ``records`` streamed into a scorer of ``det``
    (two partitions, alerts after 2 windows), once all ``n_windows`` are scored and the
    late and incomplete counts are reached."""
    cfg = serve_config(partitions=2, overrides={"alerts.consecutive": 2, **overrides})
    k = cfg.serve.kafka
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == n_windows, 60,
                 "all windows scored")
    run.wait_for(lambda: (run.value("anomaly_gan_events_late_total"),
                          run.value("anomaly_gan_events_incomplete_total"))
                 == (late, incomplete), 10, "the late and incomplete counts")
    scores = {(d["entity"], d["window_end_ts"]): d["score"] for d in
              (json.loads(r.value) for r in consume_all(kafka_bootstrap, k.scores_topic,
                                                        expect=n_windows))}
    alerts = {(a["entity"], a["window_end_ts"], a["top_features"][0]) for a in
              (json.loads(r.value) for r in consume_all(kafka_bootstrap, k.alert_topic))}
    dlq = consume_all(kafka_bootstrap, k.dlq_topic, expect=dlq_expect, idle_s=0.5)
    assert run.stop() == 0
    return scores, alerts, dlq


def test_readings_split_across_records_score_and_alert_as_the_whole_readings(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """serve.assemble_seconds: each reading sent as two records (one per feature group,
    stamped 7 s and 2 s into the reading's 10 s slot, every entity's first records before
    their second ones, the first also carrying a wrong rpm that the second corrects: the
    later value wins) gives the scores and alerts of the readings sent whole. An entity
    whose slot never completes is counted, and a record for a slot already emitted is
    late."""
    det = stream_detector
    events, n_windows = incident_events(plant, det)
    names = list(det.feature_names)

    def scored(overrides, records, late=0, incomplete=0):
        return streamed_scores(serve_config, start_scorer, det, kafka_bootstrap, n_windows,
                                overrides, records, late, incomplete)

    plain = scored({}, events)
    split = []
    for t in sorted({ev["ts"] for _key, ev in events}):
        readings = [(key, ev) for key, ev in events if ev["ts"] == t]
        for key, ev in readings:
            first = dict(zip(names[:4], ev["values"][:4], strict=True))
            split.append((key, {"entity": ev["entity"], "ts": t + 7, "values": {
                **first, "rpm": -1e3}}))
        for key, ev in readings:
            second = dict(zip(names[4:], ev["values"][4:], strict=True))
            split.append((key, {"entity": ev["entity"], "ts": t + 2, "values": {
                **second, "rpm": ev["values"][names.index("rpm")]}}))
    t0 = events[0][1]["ts"]
    stray = [("pump-x", {"entity": "pump-x", "ts": t0, "values": {"load": 1.0}}),
             ("pump-x", {"entity": "pump-x", "ts": t0 + 20, "values": [1.0] * len(names)}),
             ("pump-x", {"entity": "pump-x", "ts": t0 + 5, "values": {"rpm": 1.0}})]
    scores, alerts, dlq = scored({"assemble_seconds": 10.0}, [*split, *stray], late=1,
                                 incomplete=1)

    assert_scored_as_the_whole_readings(plain, scores, alerts, plant, n_windows)
    assert not dlq and len(split) == 2 * len(events)


def otlp_batch(resources):
    """An ExportMetricsServiceRequest in OTLP/JSON: ``resources`` of (resource attributes,
    metrics); ``gauge(name, value, ns, **attributes)`` builds a metric of one data point."""
    return {"resourceMetrics": [
        {"resource": {"attributes": [{"key": k, "value": {"stringValue": v}}
                                     for k, v in attributes.items()]},
         "scopeMetrics": [{"scope": {"name": "test"}, "metrics": metrics}]}
        for attributes, metrics in resources]}


def gauge(name, value, ns, **attributes):
    return {"name": name, "gauge": {"dataPoints": [{
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attributes.items()],
        "timeUnixNano": str(ns), "asDouble": value}]}}


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])
def test_otlp_metric_batches_score_and_alert_as_the_same_readings_in_the_default_shape(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap, fmt):
    """serve.event_format: otlp_json or otlp_proto: each reading sent as two OTLP metric
    batches (the Collector's kafka exporter with encoding: otlp_json, or its default
    protobuf), one metric per feature: the first
    batch names the host on its resource and also carries a metric the model does not read
    (with attributes) and a histogram, the second names it on each data point; the scores
    and alerts are those of the readings sent whole. A batch with a bad data point goes to
    the dead-letter topic once, saying how many of its data points were invalid, and its
    valid one is assembled (its slot, never completed, is counted incomplete). On a protobuf
    topic, bytes that are no request are a dead letter of their own, carried byte for
    byte."""
    det = stream_detector
    encode = to_proto if fmt == "otlp_proto" else dict
    events, n_windows = incident_events(plant, det)
    names = list(det.feature_names)
    batches = []
    for key, ev in events:
        ns = int(ev["ts"]) * 10**9 + 2 * 10**9  # 2 s into the 10 s slot
        first = [gauge(n, v, ns) for n, v in zip(names[:4], ev["values"][:4], strict=True)]
        other = gauge("system.memory.utilization", 0.5, ns, state="used")
        histogram = {"name": "pump.latency", "histogram": {"dataPoints": [
            {"timeUnixNano": str(ns), "count": "2", "bucketCounts": ["1", "1"]}]}}
        batches.append((key, encode(otlp_batch([({"host.name": ev["entity"]},
                                                 [*first, other, histogram])]))))
        second = [gauge(n, v, ns + 10**9, **{"host.name": ev["entity"]})
                  for n, v in zip(names[4:], ev["values"][4:], strict=True)]
        batches.append((key, encode(otlp_batch([({"service.name": "pump-agent"}, second)]))))
    t0 = int(events[0][1]["ts"]) * 10**9
    broken = otlp_batch([({"host.name": "pump-x"}, [gauge(names[0], 1.0, t0),
                                                     gauge(names[1], "NaN", t0)])])
    # pump-x's next reading completes: its slot that lacks the bad value is incomplete
    whole = otlp_batch([({"host.name": "pump-x"},
                         [gauge(n, 1.0, t0 + 20 * 10**9) for n in names])])
    # not UTF-8, a request cut short: a protobuf topic's undecodable record
    poison = [("pump-y", b"\xff" + to_proto(whole)[:-7])] if fmt == "otlp_proto" else []
    plain = streamed_scores(serve_config, start_scorer, det, kafka_bootstrap, n_windows, {},
                             events)
    scores, alerts, dlq = streamed_scores(
        serve_config, start_scorer, det, kafka_bootstrap, n_windows,
        {"event_format": fmt, "assemble_seconds": 10.0, "unknown_features": "ignore"},
        [*batches, ("pump-x", encode(broken)), *poison, ("pump-x", encode(whole))],
        incomplete=1, dlq_expect=1 + len(poison))

    assert_scored_as_the_whole_readings(plain, scores, alerts, plant, n_windows)
    by_key = {}
    for dead in dlq:
        by_key.setdefault(dead.key, []).append(dead)
    assert sorted(by_key) == sorted({b"pump-x", *(key.encode() for key, _ in poison)})
    if poison:
        dead = by_key[b"pump-y"][0]
        assert dict(dead.headers)["reason"] == b"bad_protobuf"
        assert dict(dead.headers)["detail"].startswith(
            b"not an OTLP protobuf ExportMetricsServiceRequest: ")
        assert dead.value == poison[0][1]  # binary, byte for byte
    dlq = by_key[b"pump-x"]
    # one record, dead-lettered at least once (delivery is at least once)
    assert {dict(dead.headers)["source"] for dead in dlq} == {dict(dlq[0].headers)["source"]}
    headers = dict(dlq[0].headers)
    assert headers["reason"] == b"non_finite"
    assert headers["detail"] == (b"1 of 2 data points invalid; the first: resourceMetrics[0]."
                                 b"scopeMetrics[0].metrics[1].gauge.dataPoints[0]: 'asDouble' "
                                 b"is NaN or infinite")
    assert dlq[0].value == (to_proto(broken) if poison else json.dumps(broken).encode())


def test_invalid_events_go_to_the_dlq_and_the_loop_keeps_going(serve_config, start_scorer,
                                                               stream_detector, plant,
                                                               kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"windows.max_event_bytes": 2048})
    k = cfg.serve.kafka
    f = list(det.feature_names)
    ok = {"entity": "p", "ts": 1, "values": [1.0] * len(f)}
    bad = {
        "not_utf8": json.dumps(ok).encode("utf-16"),  # starts with the BOM b"\xff\xfe"
        "bad_json": b"{nope",
        "not_object": b"[1, 2, 3]",
        "missing_field": json.dumps({"entity": "p", "values": ok["values"]}).encode(),
        "bad_timestamp": json.dumps({**ok, "ts": "not a time"}).encode(),
        "unknown_feature": json.dumps({**ok, "values": {**dict.fromkeys(f, 1.0), "x": 1}}).encode(),
        "missing_feature": json.dumps({**ok, "values": dict.fromkeys(f[1:], 1.0)}).encode(),
        "wrong_length": json.dumps({**ok, "values": [1.0] * (len(f) + 1)}).encode(),
        "non_finite": json.dumps({**ok, "values": [float("nan")] * len(f)}).encode(),
        "oversized": json.dumps({**ok, "pad": "x" * 3000}).encode(),
        "future_timestamp": json.dumps({**ok, "ts": time.time() + 86400}).encode(),
        "bad_entity": json.dumps({**ok, "entity": "p\n2026-01-01 ERROR forged"}).encode(),
    }
    # Every reason a record can earn ("unprocessable" is an unexpected error: a bug;
    # "bad_protobuf" a record of an otlp_proto topic: the OTLP test's; "corrupt_record" a
    # batch kafka-python cannot read: test_an_unreadable_record_batch_is_skipped...)
    assert set(bad) == set(INVALID_REASONS) - {"unprocessable", "bad_protobuf",
                                               "corrupt_record"}
    good = plant_events(plant, 600, 600 + det.window + 4, entities=["pump-1"])
    records = [(b"k-" + r.encode(), v) for r, v in bad.items()] + good
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == 5, 30, "good windows")

    dlq = consume_all(kafka_bootstrap, k.dlq_topic, expect=len(bad))
    assert len(dlq) == len(bad)
    for r in dlq:
        headers = dict(r.headers)
        reason = headers["reason"].decode()
        if reason == "oversized":  # cut to max_event_bytes, and the header says so
            assert r.value == bad[reason][:2048]
            assert headers["truncated"] == f"value: first 2048 of {len(bad[reason])} bytes".encode()
        else:
            assert r.value == bad[reason]  # the original bytes
        assert r.key == b"k-" + reason.encode()
        assert headers["detail"] and headers["source"].startswith(k.input_topic.encode())
        assert run.value("anomaly_gan_events_invalid_total", {"reason": reason}) == 1
        assert run.value("anomaly_gan_dlq_total", {"reason": reason}) == 1
    assert run.value("anomaly_gan_events_consumed_total") == len(records)
    assert run.stop() == 0


def test_a_reading_past_float32_alerts_instead_of_vanishing(serve_config, start_scorer,
                                                            stream_detector, plant,
                                                            kafka_bootstrap):
    """One sentinel reading (1e39, past float32) used to score NaN in `serve`: the windows
    holding it were the only ones that could never alert. Now they alert as offline
    scoring flags them, with score null (JSON has no infinity), severity 100 and that
    sensor named first, and the loop scores every window after it."""
    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"alerts.consecutive": 1,
                                                "alerts.cooldown_seconds": 0.0})
    k = cfg.serve.kafka
    n, at = det.window + 6, det.window + 1  # rows streamed; the sentinel's row among them
    records = plant_events(plant, 600, 600 + n, entities=["pump-1"])
    records[at][1]["values"][1] = 1e39
    values = plant.values[plant.entities.index("pump-1"), 600:600 + n].copy()
    values[at, 1] = 1e39
    offline = det.score_series(values)
    want = {float(plant.timestamps[600 + i]) for i in range(det.window - 1, n)
            if offline.is_anomaly[i]}
    sentinel = {float(plant.timestamps[600 + i]) for i in range(at, n)}
    assert sentinel <= want  # every window holding the reading is flagged offline

    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, records)
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == n - det.window + 1,
                 30, "every window scored")
    alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap, k.alert_topic,
                                                       expect=len(want))]
    assert {a["window_end_ts"] for a in alerts} == want
    for a in alerts:
        if a["window_end_ts"] in sentinel:
            assert a["score"] is None and a["severity"] == 100.0
            assert a["top_features"][0] == det.feature_names[1]
    assert run.stop() == 0


def delivered_windows(run, bootstrap: str, topic: str, want: set[float], what: str
                      ) -> set[float]:
    """The window ends of every record on ``topic`` once they include ``want`` (waited on
    for up to 60 s): the caller compares them with ``want`` for windows sent twice or more."""
    got: set[float] = set()

    def delivered():
        got.update(json.loads(r.value)["window_end_ts"]
                   for r in consume_all(bootstrap, topic, idle_s=0.5))
        return want <= got

    run.wait_for(delivered, 60, what)
    return got


def test_a_consumer_that_stops_fetching_is_replaced(serve_config, start_scorer,
                                                   stream_detector, plant, kafka_bootstrap):
    """A consumer that stays connected and assigned but fetches nothing while records wait
    (kafka-python 3.0 after a broker restart that recreated the topic: every metadata
    refresh failed "Cancelled", and the scorer stayed ready while it read nothing) is
    replaced after ``input_stall_seconds``, and what waited is scored and delivered. The
    stuck fetcher is made here by pausing the first consumer's partition before each of
    its polls."""
    import threading

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"kafka.input_stall_seconds": 2.0})
    k = cfg.serve.kafka
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic,
            plant_events(plant, 600, 600 + det.window, entities=["pump-1"]))
    run.wait_for(lambda: run.value("anomaly_gan_windows_scored_total") == 1, 60,
                 "the first window scored")
    stuck, paused = run.io.consumer, threading.Event()
    real_poll = stuck.poll

    def paused_poll(*args, **kwargs):  # on the loop thread, like every consumer call
        stuck.pause(*stuck.assignment())
        paused.set()
        return real_poll(*args, **kwargs)

    stuck.poll = paused_poll
    run.wait_for(paused.is_set, 30, "a poll of the paused consumer")
    produce(kafka_bootstrap, k.input_topic,
            plant_events(plant, 600 + det.window, 600 + det.window + 6, entities=["pump-1"]))
    run.wait_for(lambda: run.value("anomaly_gan_replays_total", {"reason": "input"}) == 1, 60,
                 "the consumer replaced")
    assert run.io.consumer is not stuck
    want = {float(plant.timestamps[t]) for t in range(600 + det.window - 1, 600 + det.window + 6)}
    # the replay re-scores from the last commit: nothing else
    assert delivered_windows(run, kafka_bootstrap, k.scores_topic, want,
                             "the windows that waited scored and delivered") == want
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready again")
    assert run.value("anomaly_gan_replays_total", {"reason": "input"}) == 1
    assert run.stop() == 0


def test_an_error_at_the_same_offset_at_every_replay_fails_readiness_until_passed(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """A poll that raises whenever it reaches one offset (kafka-python at a record batch it
    cannot decode: an lz4 batch without the lz4 library): each replay reads the records
    before it again, so input flows and output is acknowledged, and until 2026-12-06
    /readyz stayed 200 while the records after it were never read. The consumer's poll is
    made to stop before offset ``bad`` and raise there, as kafka-python's does."""
    import threading

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={
        "kafka.input_stall_seconds": 2.0, "kafka.delivery_stall_seconds": 2.0,
        "kafka.reconnect_backoff_max_ms": 300})
    k = cfg.serve.kafka
    run = start_scorer(cfg, det)
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 60, "ready")
    bad, n = 30, 60
    real_poll, polled = run.io.poll, threading.Event()

    def failing_poll(timeout_ms, max_records=None):  # KafkaIO's, on the loop thread
        polled.set()
        kept = {}
        for tp, recs in real_poll(timeout_ms, max_records).items():
            before = [r for r in recs if r.offset < bad]
            if len(before) < len(recs):
                run.io.seek(tp, bad)  # the position stays at the batch it cannot read
                if not before:
                    raise RuntimeError(f"cannot decode the record batch at offset {bad}")
            if before:
                kept[tp] = before
        return kept

    run.io.poll = failing_poll
    run.wait_for(polled.is_set, 30, "a poll through the failing poll")  # not one in flight
    produce(kafka_bootstrap, k.input_topic, plant_events(plant, 600, 600 + n, ["pump-1"]))
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 0, 60, "not ready")
    ok, why = run.health.ready()
    assert not ok and why.endswith(
        "with no progress, the last: RuntimeError: cannot decode the record batch at offset 30")
    assert run.value("anomaly_gan_error_replays_without_progress") >= 3
    assert run.value("anomaly_gan_replays_total", {"reason": "error"}) >= 3
    assert run.value("anomaly_gan_replays_total", {"reason": "input"}) == 0  # polls read
    assert run.value("anomaly_gan_events_consumed_total") > 2 * bad  # read again and again

    run.io.poll = real_poll  # the batch can be read now: the loop passes it
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready again")
    tp = next(iter(run.io.assignment()))
    run.wait_for(lambda: (group_committed(kafka_bootstrap, k.group_id, tp) or 0) > bad, 30,
                 "a commit past the bad offset")
    assert run.value("anomaly_gan_error_replays_without_progress") == 0
    assert run.stop() == 0


def commit_for_group(bootstrap: str, group: str, tp, offset: int) -> None:
    """Commit ``offset`` of ``tp`` for ``group`` from outside it, as another deployment (or
    the group's history on a topic since recreated) would have."""
    from kafka import KafkaConsumer
    from kafka.structs import OffsetAndMetadata

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                             enable_auto_commit=False)
    try:
        consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})
        assert consumer.committed(tp) == offset
    finally:
        consumer.close(autocommit=False)


needs_tansu = pytest.mark.skipif(
    bool(os.environ.get("KAFKA_BOOTSTRAP_SERVERS")),
    reason="Apache Kafka answers a fetch past the end with OFFSET_OUT_OF_RANGE and "
           "kafka-python resets by itself; Tansu's behaviour is the one tested here")


@needs_tansu
def test_a_committed_offset_past_the_end_is_reset_and_new_events_are_scored(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """The group's committed offset lies past the partition's end (a recreated topic, or
    offsets from another cluster). Tansu answers the fetch with no records and no error, so
    the input watchdog saw a stall and replaced the consumer for ever, each new one resuming
    from the same offset. Now the partition is moved by auto_offset_reset (earliest): the
    events produced meanwhile are scored and alerted on, once, by the same consumer."""
    from kafka import TopicPartition

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"kafka.input_stall_seconds": 2.0})
    k = cfg.serve.kafka
    tp = TopicPartition(k.input_topic, 0)
    commit_for_group(kafka_bootstrap, k.group_id, tp, 1000)
    run = start_scorer(cfg, det)
    run.wait_for(lambda: run.io.assignment() == {tp}, 60, "the partition assigned")
    first = run.io.consumer
    rows = range(690, 715)  # pump-2's rows with an unmistakable incident at 700..709
    values = injected_values(plant)
    produce(kafka_bootstrap, k.input_topic, [
        ("pump-2", {"entity": "pump-2", "ts": float(plant.timestamps[t]),
                    "values": values[1, t].tolist()}) for t in rows])
    run.wait_for(lambda: run.value("anomaly_gan_offset_resets_total",
                                   {"topic": tp.topic, "partition": "0"}) == 1, 60,
                 "the partition moved to its first offset")
    want = {float(plant.timestamps[t]) for t in rows[det.window - 1:]}
    assert delivered_windows(run, kafka_bootstrap, k.scores_topic, want,
                             "the new events scored and delivered") == want
    alerts = [json.loads(r.value) for r in consume_all(kafka_bootstrap, k.alert_topic)]
    assert any(a["entity"] == "pump-2" and a["window_end_ts"] >= float(plant.timestamps[700])
               for a in alerts)
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready")
    run.wait_for(lambda: (group_committed(kafka_bootstrap, k.group_id, tp) or 1000) <= len(rows),
                 30, "the new position committed")
    assert run.io.consumer is first
    assert run.value("anomaly_gan_replays_total", {"reason": "input"}) == 0
    assert run.value("anomaly_gan_offset_resets_total",
                     {"topic": tp.topic, "partition": "0"}) == 1
    assert run.stop() == 0


@needs_tansu
def test_a_consumer_replaced_before_a_reset_is_committed_resumes_from_the_reset(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap, caplog):
    """The group's committed offset lies past the partition's end; the scorer resets the
    partition to its first offset, but the commit of that position fails, and the consumer
    stops fetching (as in test_a_consumer_that_stops_fetching_is_replaced) before one
    lands. Its successor joins at the group's offset, still past the end: until 2026-12-07
    the partition waited there another input_stall_seconds and was reset a second time.
    Now it is moved to the reset's position when the partition is assigned to it: it reads
    the records from there, those produced after the reset too, with commits still
    failing, and the partition is reset once. The real-broker run of the scorer fuzz's
    test of the same name (test_scorer_progress_fuzz.py)."""
    import logging
    import threading

    from kafka import TopicPartition

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"kafka.input_stall_seconds": 2.0})
    k = cfg.serve.kafka
    tp = TopicPartition(k.input_topic, 0)
    labels = {"topic": tp.topic, "partition": "0"}
    caplog.set_level(logging.ERROR, logger="anomaly_gan.stream")
    commit_for_group(kafka_bootstrap, k.group_id, tp, 1000)
    run = start_scorer(cfg, det)
    first = run.io.consumer
    landing = threading.Event()  # set: commits land again
    real_commit, real_reset = run.io.commit, run.io.reset_offset

    def failing_commit(offsets):  # KafkaIO's, on the loop thread
        if not landing.is_set():
            raise RuntimeError("injected: the offset commit fails")
        real_commit(offsets)

    def paused_poll(*args, **kwargs):  # the stuck fetcher, as the test above makes it
        first.pause(*first.assignment())
        return real_poll(*args, **kwargs)

    def reset_then_stick(*args, **kwargs):  # KafkaIO's, on the loop thread
        moved = real_reset(*args, **kwargs)
        first.poll = paused_poll  # from its next poll on, this consumer reads nothing
        return moved

    real_poll = first.poll
    run.io.commit, run.io.reset_offset = failing_commit, reset_then_stick
    run.wait_for(lambda: run.io.assignment() == {tp}, 60, "the partition assigned")
    rows = range(690, 715)  # pump-2's rows with an unmistakable incident at 700..709
    values = injected_values(plant)
    events = [("pump-2", {"entity": "pump-2", "ts": float(plant.timestamps[t]),
                          "values": values[1, t].tolist()}) for t in rows]
    produce(kafka_bootstrap, k.input_topic, events[:10])
    run.wait_for(lambda: run.value("anomaly_gan_offset_resets_total", labels) == 1, 60,
                 "the partition moved to its first offset")
    produce(kafka_bootstrap, k.input_topic, events[10:])  # after the reset
    run.wait_for(lambda: run.value("anomaly_gan_replays_total", {"reason": "input"}) == 1, 60,
                 "the stuck consumer replaced")
    assert run.io.consumer is not first
    assert (group_committed(kafka_bootstrap, k.group_id, tp) or 0) == 1000  # no commit landed
    # the successor reads every record from the reset's position, the commits still failing
    run.wait_for(lambda: run.value("anomaly_gan_events_consumed_total") >= len(events), 60,
                 "the records read by the new consumer")
    assert run.value("anomaly_gan_events_consumed_total") == len(events)
    landing.set()
    want = {float(plant.timestamps[t]) for t in rows[det.window - 1:]}
    assert delivered_windows(run, kafka_bootstrap, k.scores_topic, want,
                             "the records scored and delivered") == want
    run.wait_for(lambda: (group_committed(kafka_bootstrap, k.group_id, tp) or 1000)
                 <= len(events), 30, "the reset's position passed in a commit")
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready")
    assert run.value("anomaly_gan_offset_resets_total", labels) == 1
    assert run.value("anomaly_gan_replays_total", {"reason": "input"}) == 1
    resets = [r for r in caplog.records if "lies past the partition's end" in r.getMessage()]
    assert len(resets) == 1, [r.getMessage() for r in resets]
    assert run.stop() == 0


@needs_tansu
def test_an_under_reported_end_offset_resets_no_healthy_partition(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """Tansu reports a partition's end offset too low after multi-record batches, so a
    consumer that read everything stands past that end, as one whose committed offset lies
    past the end does. The fetch's high watermark is right, and the reset needs it to agree:
    while the watchdog keeps firing on the idle partition (it replaces the consumer: the
    documented leftover of that quirk), no offset is reset and nothing is read again from
    the start."""
    from kafka import KafkaConsumer, TopicPartition

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"kafka.input_stall_seconds": 1.0})
    k = cfg.serve.kafka
    tp = TopicPartition(k.input_topic, 0)
    run = start_scorer(cfg, det)
    run.wait_for(lambda: run.io.assignment() == {tp}, 60, "the partition assigned")
    events = plant_events(plant, 600, 700)
    n = produce(kafka_bootstrap, k.input_topic, events)  # batched: linger_ms=5
    run.wait_for(lambda: run.value("anomaly_gan_events_consumed_total") == n, 60, "all read")
    probe = KafkaConsumer(bootstrap_servers=kafka_bootstrap, enable_auto_commit=False)
    try:
        listed = probe.end_offsets([tp])[tp]
    finally:
        probe.close(autocommit=False)
    assert listed < n, f"the broker reports the end {listed} of {n} records: no quirk to test"
    labels = {"topic": tp.topic, "partition": "0"}
    # the counter is exported at 0 from the assignment on (so increase() sees a first reset)
    run.wait_for(lambda: (run.value("anomaly_gan_replays_total", {"reason": "input"}) >= 2
                          or (run.value("anomaly_gan_offset_resets_total", labels) or 0) > 0),
                 90, "the watchdog fired on the idle partition twice")
    assert run.value("anomaly_gan_offset_resets_total", labels) == 0
    first_windows = {float(plant.timestamps[t]) for t in range(600 + det.window - 1, 620)}
    scored = [json.loads(r.value) for r in consume_all(kafka_bootstrap, k.scores_topic,
                                                       idle_s=0.5)]
    early = Counter((d["entity"], d["window_end_ts"]) for d in scored
                    if d["window_end_ts"] in first_windows)
    assert set(early) == {(e, ts) for e in plant.entities for ts in first_windows}
    assert set(early.values()) == {1}  # a reset to the first offset scores them again
    assert run.stop() == 0


def test_two_scorers_in_one_group_split_the_partitions(serve_config, start_scorer,
                                                       stream_detector, plant, kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=4)
    k = cfg.serve.kafka
    names = [f"pump-{i}" for i in range(1, 13)]
    records = []
    for t in range(600, 600 + det.window + 9):
        for i, name in enumerate(names):
            e = i % len(plant.entities)
            records.append((name, {"entity": name, "ts": float(plant.timestamps[t]),
                                   "values": plant.values[e, t].tolist()}))
    a = start_scorer(cfg, det)
    b = start_scorer(cfg, det)
    both = lambda: (len(a.io.assignment()) > 0 and len(b.io.assignment()) > 0
                    and len(a.io.assignment() | b.io.assignment()) == 4)
    a.wait_for(both, 60, "both replicas to hold partitions")
    assert not a.io.assignment() & b.io.assignment()
    produce(kafka_bootstrap, k.input_topic, records)
    total = len(names) * 10
    a.wait_for(lambda: (a.value("anomaly_gan_windows_scored_total")
                        + b.value("anomaly_gan_windows_scored_total")) >= total, 60,
               "windows scored by the pair")
    assert a.value("anomaly_gan_windows_scored_total") > 0
    assert b.value("anomaly_gan_windows_scored_total") > 0
    # Scored is not yet delivered: under load one replica's scores came later than the 20 s
    # consume_all waits by default (60 of 120 once, on a machine shared with other broker tests).
    scores = consume_all(kafka_bootstrap, k.scores_topic, expect=total, timeout_s=90)
    keys = [(json.loads(r.value)["entity"], json.loads(r.value)["window_end_ts"]) for r in scores]
    assert len(keys) == total and len(set(keys)) == total
    assert a.stop() == 0 and b.stop() == 0


def test_hot_reload_swaps_a_new_version_and_keeps_the_old_on_a_bad_one(
        serve_config, start_scorer, stream_bundle, stream_detector, plant, kafka_bootstrap, tmp_path):
    from anomaly_gan.artifacts import load_bundle, promote, save_bundle
    from anomaly_gan.stream.reload import ModelWatcher

    store = tmp_path / "store"
    store.mkdir()
    shutil.copytree(stream_bundle, store / "v1")
    (store / "current").write_text("v1\n")
    det = load_bundle(store)
    cfg = serve_config(partitions=1, overrides={"model_path": str(store)})
    run = None
    reloads = lambda r: run.metrics.model_reloads.labels(r).inc()
    from anomaly_gan.artifacts import bundle_fingerprint

    watcher = ModelWatcher(str(store), 0.2, det, bundle_fingerprint(store),
                           on_result=lambda r: reloads(r))
    run = start_scorer(cfg, det, watcher=watcher)
    watcher.start()
    try:
        # A broken bundle: a network file corrupted after its checksum was written.
        shutil.copytree(stream_bundle, store / "broken")
        victim = next((store / "broken" / "nets").glob("*.keras"))
        victim.write_bytes(b"corrupted")
        (store / "current").write_text("broken\n")
        run.wait_for(lambda: run.value("anomaly_gan_model_reloads_total",
                                       {"result": "failure"}) == 1, 20, "reload failure")
        assert run.scorer.det.version == det.version

        # A good new version (same features and window, new version id) is swapped in.
        import dataclasses

        v2 = dataclasses.replace(stream_detector, version=stream_detector.version + "-v2")
        save_bundle(v2, store / "v2")
        promote(store, "v2")
        produce(kafka_bootstrap, cfg.serve.kafka.input_topic,
                plant_events(plant, 600, 600 + det.window, entities=["pump-1"]))
        run.wait_for(lambda: run.scorer.det.version == v2.version, 30, "swap to v2")
        assert run.value("anomaly_gan_model_reloads_total", {"result": "success"}) == 1
        assert run.value("anomaly_gan_model_info", {"version": v2.version,
                                                    "kind": det.kind}) == 1
        assert run.value("anomaly_gan_model_info", {"version": det.version,
                                                    "kind": det.kind}) is None
    finally:
        watcher.stop()
    assert run.stop() == 0


def _patient(cfg):
    """``cfg`` with a session timeout of 10 s. The revoke callback waits for the loop at
    most half the session timeout; 10 s gives replica a 5 s, so a loaded machine cannot make
    it miss the revoke (the join is timed by the rebalance timeout, max_poll_interval_ms,
    so it is no slower)."""
    return dataclasses.replace(cfg, serve=dataclasses.replace(
        cfg.serve, kafka=dataclasses.replace(cfg.serve.kafka, session_timeout_ms=10_000)))


def _pump_records(plant, names, span):
    """The plant's rows ``span`` as events of each of ``names`` (the i-th entity reads the
    plant's unit i % 3)."""
    return [(name, {"entity": name, "ts": float(plant.timestamps[t]),
                    "values": plant.values[i % 3, t].tolist()})
            for t in span for i, name in enumerate(names)]


def test_revoke_commits_progress_before_the_partitions_move(serve_config, start_scorer,
                                                            stream_detector, plant,
                                                            kafka_bootstrap):
    det = stream_detector
    cfg = serve_config(partitions=4)
    k = cfg.serve.kafka
    names = [f"pump-{i}" for i in range(1, 9)]
    a = start_scorer(_patient(cfg), det)
    a.wait_for(lambda: len(a.io.assignment()) == 4, 60, "first replica owns all partitions")
    produce(kafka_bootstrap, k.input_topic,
            _pump_records(plant, names, range(600, 600 + det.window + 9)))
    total = len(names) * 10
    a.wait_for(lambda: a.value("anomaly_gan_windows_scored_total") == total, 60, "scored")
    b = start_scorer(cfg, det)  # joining makes the group take partitions away from a
    b.wait_for(lambda: len(b.io.assignment()) > 0 and len(a.io.assignment()) < 4, 60,
               "rebalance")
    assert a.scorer.revoke_commits >= 1
    assert a.stop() == 0 and b.stop() == 0


def test_a_partition_kept_through_a_rebalance_scores_its_next_events(serve_config, start_scorer,
                                                                     stream_detector, plant,
                                                                     kafka_bootstrap):
    """An eager rebalance revokes every partition and assigns them again; the scorer drops
    the revoked partitions' windows and commits their safe offsets, expecting the replay from
    the commit to refill them (docs/streaming.md, Consumer groups). kafka-python 3 keeps the
    position of a partition a member keeps, though, so nothing was read again: the kept
    entities' next W-1 events only filled their windows, unscored, where one replica scores
    every one of them."""
    det = stream_detector
    cfg = serve_config(partitions=4)
    k = cfg.serve.kafka
    names = [f"pump-{i}" for i in range(1, 9)]

    def rows(span):
        return _pump_records(plant, names, span)

    a = start_scorer(_patient(cfg), det)
    a.wait_for(lambda: len(a.io.assignment()) == 4, 60, "first replica owns all partitions")
    produce(kafka_bootstrap, k.input_topic, rows(range(600, 600 + det.window + 2)))
    a.wait_for(lambda: a.value("anomaly_gan_windows_scored_total") == len(names) * 3, 60,
               "scored")
    b = start_scorer(cfg, det)  # joining makes the group take partitions away from a
    b.wait_for(lambda: len(b.io.assignment()) > 0 and 0 < len(a.io.assignment()) < 4, 60,
               "rebalance")
    last = 600 + det.window + 2
    produce(kafka_bootstrap, k.input_topic, rows(range(last, last + 1)))
    want = {(name, float(plant.timestamps[last])) for name in names}
    got: set = set()
    deadline = time.monotonic() + 60
    while not want <= got and time.monotonic() < deadline:
        got |= {(r["entity"], r["window_end_ts"]) for r in
                (json.loads(m.value) for m in consume_all(kafka_bootstrap, k.scores_topic,
                                                          idle_s=0.5, timeout_s=10))}
    kept = sorted({tp.partition for tp in a.io.assignment()})
    assert want <= got, (f"windows never scored: {sorted(want - got)} "
                         f"(first replica kept partitions {kept})")
    assert a.stop() == 0 and b.stop() == 0


def topic_missing(monkeypatch, topic):
    """Make the scorer's producers find no ``topic`` until the returned event is cleared:
    kafka-python's send raises after waiting for its metadata, as on a broker without the
    topic (or whose ACLs hide it). The embedded broker creates every topic it is asked
    about, so the producer's metadata is made to lack it instead."""
    import threading

    from kafka import KafkaProducer
    from kafka.cluster import ClusterMetadata
    from kafka.errors import KafkaTimeoutError

    missing = threading.Event()
    missing.set()
    real_wait = KafkaProducer._wait_on_metadata

    def wait_on_metadata(producer, name, max_wait_ms):
        if name == topic and missing.is_set():
            raise KafkaTimeoutError(f"Failed to update metadata after {max_wait_ms / 1000} secs.")
        return real_wait(producer, name, max_wait_ms)

    real_partitions = ClusterMetadata.partitions_for_topic

    def partitions_for_topic(metadata, name):
        if name == topic and missing.is_set():
            return None
        return real_partitions(metadata, name)

    monkeypatch.setattr(KafkaProducer, "_wait_on_metadata", wait_on_metadata)
    monkeypatch.setattr(ClusterMetadata, "partitions_for_topic", partitions_for_topic)
    return missing


def pump_2_incident(det, plant, rows):
    """The events of pump-2 over ``rows`` of :func:`injected_values` and the window ends
    whose alerts the offline scores imply (consecutive 2, no cooldown)."""
    values = injected_values(plant)
    records = [("pump-2", {"entity": "pump-2", "ts": float(plant.timestamps[t]),
                           "values": values[1, t].tolist()}) for t in rows]
    res = det.score_series(values[1, rows.start:rows.stop])
    debounce = Debouncer(2, 0.0)
    want = {float(plant.timestamps[t]) for i, t in enumerate(rows)
            if i >= det.window - 1 and debounce.update("pump-2", float(plant.timestamps[t]),
                                                       bool(res.is_anomaly[i]))}
    assert want  # the incident alerts
    return records, want


def test_an_alert_topic_the_broker_lacks_is_not_ready_until_it_exists(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap, monkeypatch, caplog):
    """An alert topic that does not exist on a broker that creates no topics (or that ACLs
    hide): kafka-python's send raises after waiting for its metadata, the loop replays from
    the last commit, and the same alert fails again. The scorer used to stay ready with
    ``anomaly_gan_broker_up`` 1 all along, since no record was ever pending: nothing said
    that alerts could not be delivered. The embedded broker creates every topic it is
    asked about, so the producer's metadata is made to lack the alert topic, and its wait
    for it to fail as it does (after ``max_block_ms``) on a broker without the topic."""
    import logging

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={
        "alerts.consecutive": 2, "kafka.delivery_stall_seconds": 1.0,
        "kafka.reconnect_backoff_max_ms": 300})
    k = cfg.serve.kafka
    missing = topic_missing(monkeypatch, k.alert_topic)
    caplog.set_level(logging.ERROR, logger="anomaly_gan.stream")
    records, want = pump_2_incident(det, plant, range(690, 716))

    run = start_scorer(cfg, det)
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 60, "ready")
    produce(kafka_bootstrap, k.input_topic, records)
    run.wait_for(lambda: run.value("anomaly_gan_replays_total", {"reason": "delivery"}) >= 2,
                 60, "the alert failing again after a replay")
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 0, 60, "not ready")
    assert "no output acknowledged" in run.health.ready()[1]
    assert run.value("anomaly_gan_broker_up") == 0
    assert any(k.alert_topic in r.getMessage() or k.alert_topic in str(getattr(r, "fields", ""))
               for r in caplog.records), "no log line names the alert topic"

    missing.clear()  # the topic is created: the alerts go out and the scorer is ready again
    assert delivered_windows(run, kafka_bootstrap, k.alert_topic, want,
                             "the alerts delivered") == want
    run.wait_for(lambda: run.value("anomaly_gan_ready") == 1, 30, "ready again")
    assert run.stop() == 0


def test_a_stop_while_an_alert_waits_for_its_replay_commits_nothing_past_it(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap, monkeypatch):
    """A SIGTERM (a rollout, a pod moved) while the alert topic refuses writes, after an
    alert failed and before the replay that sends it again: the scorer committed what it
    had read, past the incident, so the alert was lost for good; its successor, with the
    topic fixed, read on from after it. Now nothing is committed past it (exit 1, as for a
    final flush that fails), and the successor delivers the alerts."""
    import logging

    det = stream_detector
    cfg = serve_config(partitions=1, overrides={"alerts.consecutive": 2})
    k = cfg.serve.kafka
    missing = topic_missing(monkeypatch, k.alert_topic)
    # The incident (rows 700..709) and twenty normal windows after it: without the failure,
    # the commit would pass the incident's events.
    records, want = pump_2_incident(det, plant, range(690, 730))
    first = start_scorer(cfg, det)

    class StopOnReplay(logging.Handler):  # the SIGTERM comes as the replay begins
        def emit(self, record):
            if record.getMessage().startswith("a record was not delivered"):
                first.scorer.request_stop()

    handler = StopOnReplay(logging.ERROR)
    logging.getLogger("anomaly_gan.stream").addHandler(handler)
    try:
        produce(kafka_bootstrap, k.input_topic, records)
        first.thread.join(timeout=120)
        assert not first.thread.is_alive(), "the scorer did not stop"
    finally:
        logging.getLogger("anomaly_gan.stream").removeHandler(handler)
    assert first.stop() == 1  # what was read is not all committed

    missing.clear()  # the topic is fixed; the successor reads from the group's last commit
    second = start_scorer(cfg, det)
    assert delivered_windows(second, kafka_bootstrap, k.alert_topic, want,
                             "the successor delivering the alerts") == want
    assert second.stop() == 0


def test_stream_resolutions_follow_their_alerts_and_equal_offline(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap):
    """serve.alerts.resolve_windows: each incident's firing records and then its resolution
    arrive in order on the alert topic, keyed by the entity, exactly as the offline scores
    imply (the same windows, the same ids)."""
    det = stream_detector
    cfg = serve_config(partitions=3, overrides={"alerts.consecutive": 2,
                                                "alerts.cooldown_seconds": 300.0,
                                                "alerts.resolve_windows": 3})
    k = cfg.serve.kafka
    values = injected_values(plant)
    want = expected_alert_topic(det, plant, values, 2, 300.0, 3)
    pump2 = want["pump-2"]  # the injected incident fires, then resolves
    i = pump2.index(("firing", float(plant.timestamps[701])))
    assert pump2[i + 1][0] == "resolved"
    run = start_scorer(cfg, det)
    produce(kafka_bootstrap, k.input_topic, stream_records(plant, values))
    n_records = sum(len(v) for v in want.values())
    got = {}
    for r in consume_all(kafka_bootstrap, k.alert_topic, expect=n_records):
        d = json.loads(r.value)
        assert r.key.decode() == d["entity"]
        got.setdefault(d["entity"], []).append(d)
    assert {e: [(d["status"], d.get("window_end_ts", d.get("resolved_at_ts"))) for d in recs]
            for e, recs in got.items()} == want
    for entity, recs in got.items():
        last_alert = None
        for d in recs:
            if d["status"] == "firing":
                last_alert = d
            else:
                assert d["resolution_id"] == resolution_id(entity, d["resolved_at_ts"],
                                                           det.version)
                assert d["alert_id"] == last_alert["alert_id"]
                assert d["anomalous_since_ts"] == last_alert["anomalous_since_ts"]
    run.wait_for(lambda: run.value("anomaly_gan_alerts_resolved_total",
                                   {"model_version": det.version})
                 == sum(s == "resolved" for v in want.values() for s, _ in v), 10,
                 "resolutions counted")


class NotUtf8Key(str):
    """A header key that kafka-python's producer writes as bytes that are not UTF-8, as a
    Java producer may (Java decodes header keys with replacement, so it and the brokers
    accept them); kafka-python's consumer cannot read such a record."""

    def encode(self, *_args, **_kwargs):
        return b"\xff\xfe-trace"


def produce_one_batch(bootstrap: str, topic: str, records, bad_at: int) -> list[int]:
    """Send ``(key, event)`` pairs to partition 0 as one record batch (one linger, one
    flush), the one at ``bad_at`` with a header key that is not UTF-8; their offsets."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=1000,
                             batch_size=1 << 20)
    try:
        futures = [producer.send(topic, key=key.encode(), value=json.dumps(event).encode(),
                                 partition=0,
                                 headers=[(NotUtf8Key("trace"), b"1")] if i == bad_at else None)
                   for i, (key, event) in enumerate(records)]
        producer.flush(timeout=30)
        return [f.get(timeout=0).offset for f in futures]
    finally:
        producer.close(timeout=5)


@pytest.mark.parametrize("partitions", [1, 3])  # 3: the fetcher names the partition
def test_an_unreadable_record_batch_is_skipped_with_one_dead_letter(
        serve_config, start_scorer, stream_detector, plant, kafka_bootstrap, partitions):
    """A record whose header key is not UTF-8 made every poll at its batch fail
    (kafka-python's CorruptRecordError) and the scorer replayed the same batch for ever: the
    partition never moved again. Now the rest of the batch from that record is skipped, one
    DLQ record names the range, the events after it are scored, the scorer stays ready and
    commits past it. With three partitions the other two, empty, are paused while the end
    of the bad batch is searched for, then read again."""
    from kafka import TopicPartition

    det = stream_detector
    cfg = serve_config(partitions=partitions)
    k = cfg.serve.kafka
    tp = TopicPartition(k.input_topic, 0)
    rows = plant_events(plant, 600, 625, entities=["pump-1"])
    before, batch, after = rows[:10], rows[10:15], rows[15:]
    produce(kafka_bootstrap, k.input_topic, before, partition=0)
    offsets = produce_one_batch(kafka_bootstrap, k.input_topic, batch, bad_at=2)
    assert offsets == list(range(10, 15))
    produce(kafka_bootstrap, k.input_topic, after, partition=0)
    run = start_scorer(cfg, det)

    # rows 612..614 (offsets 12..14) skipped; the entity's window goes on across them
    read = [event["ts"] for _, event in before + batch[:2] + after]
    want = set(read[det.window - 1:])
    got = delivered_windows(run, kafka_bootstrap, k.scores_topic, want,
                            "the events after the bad batch scored")
    assert got == want
    [dead] = consume_all(kafka_bootstrap, k.dlq_topic, idle_s=1.0)
    headers = dict(dead.headers)
    assert (dead.key, dead.value) == (None, b"")
    assert headers["reason"] == b"corrupt_record"
    assert headers["source"] == f"{k.input_topic}/0/12".encode()
    assert headers["detail"].startswith(b"offsets 12..14 (3 records) cannot be read: ")
    assert b"UnicodeDecodeError" in headers["detail"]
    run.wait_for(lambda: (group_committed(kafka_bootstrap, k.group_id, tp) or 0) > 14, 30,
                 "a commit past the skipped range")
    assert run.health.ready()[0] is True and run.value("anomaly_gan_ready") == 1
    assert run.value("anomaly_gan_events_consumed_total") == len(read)
    assert run.value("anomaly_gan_dlq_total", {"reason": "corrupt_record"}) == 1
    assert run.value("anomaly_gan_events_invalid_total", {"reason": "corrupt_record"}) == 1
    assert run.value("anomaly_gan_replays_total", {"reason": "error"}) == 0
    if partitions > 1:  # resumed after the search: a record on another partition is read
        produce(kafka_bootstrap, k.input_topic, plant_events(plant, 700, 701, ["pump-2"]),
                partition=partitions - 1)
        run.wait_for(lambda: run.value("anomaly_gan_events_consumed_total") == len(read) + 1,
                     30, "a record of another partition read")
    assert run.stop() == 0
