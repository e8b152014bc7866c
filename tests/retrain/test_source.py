"""Rows rebuilt from events are the rows `serve` windows: same parser, same gap/late rules."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anomaly_gan.config import ServeConfig, StreamWindowConfig
from anomaly_gan.data.windows import sliding_windows
from anomaly_gan.retrain.source import SegmentBuilder, feed
from anomaly_gan.stream.events import EventParser, InvalidEvent
from anomaly_gan.stream.state import WindowBatch, WindowState

FEATURES = ("a", "b")
W = 4


def stream() -> list[tuple[str, int, bytes]]:
    """Two entities on two partitions with a gap, a late event, bad records and a move."""
    recs = []
    off = {"p0": 0, "p1": 0}

    def add(part, entity, ts, values):
        body = values if isinstance(values, bytes) else json.dumps(
            {"entity": entity, "ts": ts, "values": values}).encode()
        recs.append((part, off[part], body))
        off[part] += 1

    for i in range(12):
        add("p0", "x", 100.0 + i, [float(i), float(-i)])
        add("p1", "y", 100.0 + i, {"b": float(i), "a": 2.0 * i})
    add("p0", "x", 105.0, [99.0, 99.0])  # late: dropped
    add("p0", "x", 200.0, b"not json")  # invalid: counted
    for i in range(6):  # after a silence longer than gap_seconds: a new segment
        add("p0", "x", 500.0 + i, [float(100 + i), 0.0])
    for i in range(5):  # y moves to partition p0: its window restarts
        add("p0", "y", 300.0 + i, [float(i), 1.0])
    return recs


def serve_windows(recs, cfg):
    """What the scorer's window state emits for the same records (window W)."""
    parser = EventParser(FEATURES, cfg.max_event_bytes)
    state = WindowState(W, len(FEATURES), gap_seconds=cfg.gap_seconds,
                        max_entities=cfg.max_entities)
    out = WindowBatch(W, len(FEATURES))
    for part, offset, raw in recs:
        ev = parser.parse(raw)
        if type(ev) is not InvalidEvent:
            state.push(ev.entity, ev.ts, ev.values, part, offset, out)
    return sorted((e, t, w.tobytes()) for e, t, w in zip(out.entities, out.end_ts, out.windows()))


def test_segments_give_exactly_the_windows_serve_scores():
    cfg = StreamWindowConfig(gap_seconds=60.0)
    recs = stream()
    builder = SegmentBuilder(FEATURES, ServeConfig(windows=cfg))
    segments = feed(builder, recs)
    assert windows_of(segments) == serve_windows(recs, cfg)
    assert [(s.entity, len(s)) for s in segments] == [("x", 12), ("x", 6), ("y", 12), ("y", 5)]
    assert builder.late == 1 and builder.invalid == {"bad_json": 1}
    assert builder.events == len(recs)
    y = next(s for s in segments if s.entity == "y")
    np.testing.assert_array_equal(y.values[:3], [[0.0, 0.0], [2.0, 1.0], [4.0, 2.0]])


def windows_of(segments):
    """The windows of W rows over each segment, as serve_windows gives them."""
    return sorted((s.entity, float(t), w.tobytes()) for s in segments if len(s) >= W
                  for t, w in zip(s.ts[W - 1:], sliding_windows(s.values, W, 1)))


@pytest.mark.parametrize("restart", ["evicted", "moved and back"])
def test_a_restart_at_the_time_of_the_last_row_starts_a_new_segment(restart):
    """An entity evicted (or moved to another partition and back) whose next record
    repeats its last reading (a producer's retry) restarts its window in serve at that
    reading; the pairs of the segment builder's window state, the first of which starts
    at the time its segment ended, were chained on across the restart: windows serve never
    scored, and the retried row lost (tests/retrain/test_segment_fuzz.py, json seed 23)."""
    recs = []
    off = {"p0": 0, "p1": 0}

    def add(part, entity, ts, v):
        recs.append((part, off[part], json.dumps(
            {"entity": entity, "ts": ts, "values": [v, -v]}).encode()))
        off[part] += 1

    for i in range(4):
        add("p0", "x", 100.0 + i, float(i))
    if restart == "evicted":
        add("p0", "y", 100.0, 7.0)  # one entity held: x goes
    else:
        add("p1", "x", 103.0, 3.0)  # the retry lands on another partition
    for i in range(3, 6):  # the retry (again), then on
        add("p0", "x", 100.0 + i, float(i))
    cfg = StreamWindowConfig(gap_seconds=60.0, max_entities=1 if restart == "evicted" else 10)
    segments = feed(SegmentBuilder(FEATURES, ServeConfig(windows=cfg)), recs)
    assert windows_of(segments) == serve_windows(recs, cfg)
    assert [(s.entity, s.ts.tolist()) for s in segments] == [
        ("x", [100.0, 101.0, 102.0, 103.0]), ("x", [103.0, 104.0, 105.0])]


def test_labels_file_reads_like_a_data_file(tmp_path):
    import codecs

    import pytest

    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.source import read_labels_file

    ok = tmp_path / "labels.csv"
    # Excel's byte-order mark, a blank line, epoch and RFC 3339 times
    ok.write_bytes(codecs.BOM_UTF8 + b"entity,start,end\n\npump-1,100,160\n"
                   b"pump-2,2026-01-01T00:00:00Z,2026-01-01T00:01:00Z\n")
    got = read_labels_file(str(ok))
    assert len(got) == 2 and (got[0].entity, got[0].start_ts, got[0].end_ts) == ("pump-1", 100.0, 160.0)
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"entity,start,end\npump-1,100,160\n\npump-\xe9,1,2\n")
    with pytest.raises(DataError, match=r"latin1\.csv: line 4: .*can't decode byte 0xe9"):
        read_labels_file(str(bad))
    short = tmp_path / "short.csv"
    short.write_text("entity,start,end\n\npump-1,100\n")
    with pytest.raises(DataError, match=r"line 3: expected 3 fields"):
        read_labels_file(str(short))


def test_a_label_without_an_entity_is_refused(tmp_path):
    """An empty entity matches no events: the gate would reject every candidate after training."""
    import pytest

    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.source import read_labels_file

    labels = tmp_path / "labels.csv"
    labels.write_text("entity,start,end\npump-1,100,160\n ,200,260\n")
    with pytest.raises(DataError, match=r"labels\.csv: line 3: expected an entity name in the "
                                        r"first field, got an empty one$"):
        read_labels_file(str(labels))


def test_file_rows_out_of_time_order_are_refused(tmp_path):
    """The holdout split and the labelled incidents read a file's rows as a time series: a
    file out of time order is refused; a late row or two is left out, as serve drops it."""
    import pytest

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.source import read_files

    cfg = config_from_dict({"data": {"timestamp_column": "ts"}}, "test")
    data = tmp_path / "pump.csv"
    stamps = [100, 110, 120, 115, 105, 130]
    data.write_text("ts,a,b\n" + "".join(f"{t},{i},{-i}\n" for i, t in enumerate(stamps)))
    with pytest.raises(DataError, match=r"pump\.csv: line 5: timestamp '115' is before "
                                        r"line 4's \('120'\): expected rows in time order"):
        read_files(cfg, [str(data)], FEATURES)
    stamps = [100, 110, 120, 115, 130]
    data.write_text("ts,a,b\n" + "".join(f"{t},{i},{-i}\n" for i, t in enumerate(stamps)))
    notes: list[str] = []
    rows, _ = read_files(cfg, [str(data)], FEATURES, notes.append)
    assert rows.segments[0].ts.tolist() == [100, 110, 120, 130]
    assert rows.segments[0].values[:, 0].tolist() == [0, 1, 2, 4]
    assert len(notes) == 1 and "1 row(s) are stamped before an earlier row (first line 5" in notes[0]
    # the report counts it as a topic range's late event (it said "5 events ..., 0 late")
    assert (rows.events_read, rows.late, rows.rows) == (5, 1, 4)
    data.write_text("ts,a,b\n" + "".join(f"{t},{i},{-i}\n" for i, t in enumerate(sorted(stamps))))
    rows, _ = read_files(cfg, [str(data)], FEATURES)
    assert rows.segments[0].ts.tolist() == sorted(stamps)


def test_a_late_row_fills_no_missing_cell_after_it(tmp_path):
    """Late rows are left out before data.nan_policy fills missing cells: with ffill, the
    late row's reading filled the next row's gap, a reading serve never took."""
    import pytest

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.source import read_files

    data = tmp_path / "pump.csv"
    data.write_text("ts,a,b\n100,1,-1\n110,2,-2\n120,3,-3\n115,99,-99\n130,,-5\n")
    cfg = config_from_dict({"data": {"timestamp_column": "ts", "nan_policy": "ffill"}}, "t")
    said: list[str] = []
    rows, _ = read_files(cfg, [str(data)], FEATURES, said.append)
    assert rows.segments[0].values[:, 0].tolist() == [1, 2, 3, 3]
    # as train does, retrain --data names the cells it filled (the late row's is not one)
    assert [n for n in said if "nan_policy" in n] == [
        (f"note: {data}: data.nan_policy ffill filled 1 missing cell(s), most in column 'a' "
         f"(1 of 4 rows, the longest run 1 row from line 6 to line 6): the model learns them "
         f"as readings (the value before each run: a flat stretch) and the threshold is set on "
         f"them too (a long run is better cut out: split the file there, windows never span two "
         f"--data files)")]
    cfg = config_from_dict({"data": {"timestamp_column": "ts"}}, "t")
    with pytest.raises(DataError, match=r"pump\.csv: line 6, column 'a': missing"):
        read_files(cfg, [str(data)], FEATURES)  # named by its line in the file


def test_an_unreachable_broker_is_one_error_in_bounded_time(monkeypatch):
    """It was kafka-python's KafkaTimeoutError with a traceback (exit 1)."""
    import pytest

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import free_port
    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain.source import read_event_range

    monkeypatch.setattr("anomaly_gan.stream.kafka_io.BOOTSTRAP_TIMEOUT_MS", 300)
    address = f"127.0.0.1:{free_port()}"  # nothing listens there
    cfg = config_from_dict({"serve": {"kafka": {"bootstrap_servers": address,
                                                "input_topic": "events"}}}, "test")
    with pytest.raises(DataError, match=rf"^serve\.kafka\.bootstrap_servers {address}: cannot "
                                        rf"read topic 'events': .*Unable to bootstrap.*; expected "
                                        rf"a reachable Kafka broker$"):
        read_event_range(cfg, FEATURES, 1_794_000_000.0, 1_794_000_060.0)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_topic_range_is_read_with_the_serve_event_fields(kafka_bootstrap, kafka_topics):
    """retrain reads the topic as serve does: Telegraf-shaped records (tags.host, timestamp,
    fields with one more field) give the rows of the same readings in the default shape."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import local_kafka
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    start = 1_794_000_000.0
    readings = [(host, start + 10.0 * i, {"a": float(i), "b": float(-i) + 0.5 * h})
                for i in range(20) for h, host in enumerate(("web-1", "web-2"))]
    plain = [(host, {"entity": host, "ts": ts, "values": values}, ts)
             for host, ts, values in readings]
    telegraf = [(host, {"fields": {**values, "usage_guest": 0}, "name": "cpu",
                        "tags": {"host": host, "cpu": "cpu-total"}, "timestamp": int(ts)}, ts)
                for host, ts, values in readings]
    rows = {}
    for shape, records, serve in (
            ("plain", plain, {}),
            ("telegraf", telegraf, {"unknown_features": "ignore", "event_fields": {
                "entity": "tags.host", "ts": "timestamp", "values": "fields"}})):
        topics = kafka_topics(events=2, alerts=1, dlq=1)
        produce_timestamped(kafka_bootstrap, topics["events"], records)
        cfg = config_from_dict({"serve": {**serve, "kafka": local_kafka(
            kafka_bootstrap, topics, f"g-{topics['events']}")}})
        rows[shape] = read_event_range(cfg, FEATURES, start, start + 1000.0)
    assert rows["telegraf"].invalid == {} and rows["telegraf"].events_read == len(readings)
    got = {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["telegraf"].segments}
    assert got == {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["plain"].segments}
    assert sorted(got) == ["web-1", "web-2"] and len(got["web-1"][0]) == 20


@pytest.mark.kafka
@pytest.mark.slow
def test_a_topic_range_of_split_records_gives_the_rows_of_the_whole_readings(kafka_bootstrap,
                                                                             kafka_topics):
    """serve.assemble_seconds: retrain assembles as serve does. Each reading of two hosts as
    two Telegraf records (a cpu-like one with a, a mem-like one with b, in one topic, the
    second stamped 3 s later within the 10 s slot) gives the rows of the whole readings."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import local_kafka
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    start = 1_794_000_000.0
    readings = [(host, start + 10.0 * i, {"a": float(i), "b": float(-i) + 0.5 * h})
                for i in range(20) for h, host in enumerate(("web-1", "web-2"))]
    whole = [(host, {"entity": host, "ts": ts, "values": values}, ts)
             for host, ts, values in readings]
    split = [(host, {"fields": {name: values[name], "usage_guest": 0}, "name": measurement,
                     "tags": {"host": host}, "timestamp": int(ts) + delay}, ts + delay)
             for host, ts, values in readings
             for name, measurement, delay in (("a", "cpu", 0), ("b", "mem", 3))]
    rows = {}
    for shape, records, serve in (
            ("whole", whole, {}),
            ("split", split, {"unknown_features": "ignore", "assemble_seconds": 10.0,
                              "event_fields": {"entity": "tags.host", "ts": "timestamp",
                                               "values": "fields"}})):
        topics = kafka_topics(events=2, alerts=1, dlq=1)
        produce_timestamped(kafka_bootstrap, topics["events"], records)
        cfg = config_from_dict({"serve": {**serve, "kafka": local_kafka(
            kafka_bootstrap, topics, f"g-{topics['events']}")}})
        rows[shape] = read_event_range(cfg, FEATURES, start, start + 1000.0)
    assert rows["split"].invalid == {} and rows["split"].late == 0
    assert rows["split"].events_read == 2 * len(readings)
    got = {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["split"].segments}
    assert got == {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["whole"].segments}
    assert sorted(got) == ["web-1", "web-2"] and len(got["web-1"][0]) == 20


@pytest.mark.kafka
@pytest.mark.slow
def test_a_topic_range_of_otlp_metric_batches_gives_the_rows_of_the_whole_readings(
        kafka_bootstrap, kafka_topics):
    """serve.event_format: otlp_json or otlp_proto: retrain reads OpenTelemetry metric
    batches as serve does, in either encoding. Each time's batch holds both hosts (a resource each), a gauge with an attribute
    and a sum per host, and a metric the model does not read; the rows are those of the
    whole readings. A bad data point is counted by its reason, each data point read as an
    event."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import local_kafka
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped
    from tests.support.otlp import to_proto

    features = ("mem{state=used}", "load")

    def attrs(**kw):
        return [{"key": k, "value": {"stringValue": v}} for k, v in kw.items()]

    def points(ns, value, **kw):
        return {"dataPoints": [{"attributes": attrs(**kw), "timeUnixNano": str(ns),
                                "asDouble": value}]}

    def otlp(ns, hosts):
        return {"resourceMetrics": [
            {"resource": {"attributes": attrs(**{"host.name": host})}, "scopeMetrics": [
                {"metrics": [{"name": "mem", "gauge": points(ns, values["mem{state=used}"],
                                                             state="used")},
                             {"name": "mem", "gauge": points(ns, 1.0, state="free")},
                             {"name": "load", "sum": {"aggregationTemporality": 2,
                                                      **points(ns, values["load"])}}]}]}
            for host, values in hosts]}

    start = 1_794_000_000.0
    hosts = ("web-1", "web-2")
    readings = {start + 10.0 * i: [(host, {"mem{state=used}": float(i), "load": -i + 0.5 * h})
                                   for h, host in enumerate(hosts)] for i in range(20)}
    whole = [(host, {"entity": host, "ts": ts, "values": values}, ts)
             for ts, at in readings.items() for host, values in at]
    batches = [("collector", otlp(int(ts + 3) * 10**9, at), ts + 3) for ts, at in readings.items()]
    bad = otlp(int(start + 50) * 10**9, [("web-3", {"mem{state=used}": "NaN", "load": 1.0})])
    batches.append(("collector", bad, start + 50))
    rows = {}
    for shape, records, serve in (
            ("whole", whole, {}),
            ("otlp", batches, {"event_format": "otlp_json", "assemble_seconds": 10.0,
                               "unknown_features": "ignore"}),
            ("proto", [(key, to_proto(doc), ts) for key, doc, ts in batches],
             {"event_format": "otlp_proto", "assemble_seconds": 10.0,
              "unknown_features": "ignore"})):
        topics = kafka_topics(events=2, alerts=1, dlq=1)
        produce_timestamped(kafka_bootstrap, topics["events"], records)
        cfg = config_from_dict({"serve": {**serve, "kafka": local_kafka(
            kafka_bootstrap, topics, f"g-{topics['events']}")}})
        rows[shape] = read_event_range(cfg, features, start, start + 1000.0)
    assert rows["otlp"].invalid == {"non_finite": 1} and rows["otlp"].late == 0
    assert rows["otlp"].events_read == 2 * len(whole) + 2  # data points: web-3's 2 too
    got = {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["otlp"].segments}
    assert got == {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["whole"].segments}
    assert sorted(got) == ["web-1", "web-2"] and len(got["web-1"][0]) == 20
    assert (rows["proto"].invalid, rows["proto"].late, rows["proto"].events_read) == \
        (rows["otlp"].invalid, rows["otlp"].late, rows["otlp"].events_read)
    assert {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows["proto"].segments} == got


def test_the_segment_builder_assembles_split_records_as_the_scorer_does():
    """Without a broker: the same split records give the whole readings' segments, and a
    late record is counted with the window state's late events."""
    whole, split, off = [], [], 0
    for i in range(8):
        ts = 100.0 + 10 * i
        whole.append(("p0", i, json.dumps({"entity": "x", "ts": ts,
                                           "values": [float(i), -float(i)]}).encode()))
        for name, value in (("b", -float(i)), ("a", float(i))):
            split.append(("p0", off, json.dumps({"entity": "x", "ts": ts + 4,
                                                 "values": {name: value}}).encode()))
            off += 1
    split.append(("p0", off, json.dumps({"entity": "x", "ts": 101.0,
                                         "values": {"a": 5.0}}).encode()))  # late
    for k, ts in enumerate((200.0, 230.0, 260.0)):  # a third open slot drops the first
        split.append(("p0", off + 1 + k, json.dumps({"entity": "x", "ts": ts,
                                                     "values": {"a": 1.0}}).encode()))
    plain = feed(SegmentBuilder(FEATURES, ServeConfig()), whole)
    builder = SegmentBuilder(FEATURES, ServeConfig(assemble_seconds=10.0))
    assembled = feed(builder, split)
    assert [(s.ts.tolist(), s.values.tolist()) for s in assembled] == \
        [(s.ts.tolist(), s.values.tolist()) for s in plain]
    assert builder.late == 1 and builder.invalid == {} and builder.events == len(split)
    # retrain reports what serve's anomaly_gan_events_incomplete_total would count (the
    # two slots still open when the range ends are not counted)
    assert builder.incomplete == 1


class _RowListBuilder(SegmentBuilder):
    """The builder as it was until 2026-12: each row its own array, each time a Python
    float, stacked at the end (3.1 times the rows' bytes while reading)."""

    def _chain(self):
        p = self.pairs
        raw = p.windows()
        for k in range(p.n):
            entity, part = p.entities[k], p.partitions[k]
            start, end = p.start_ts[k], p.end_ts[k]
            seg = self._open.get(entity)
            if seg is not None and seg[0] == part and seg[1][-1] == start:
                seg[1].append(end)
                seg[2].append(raw[k, 1].copy())
                continue
            if seg is not None:
                self._close(entity)
            self._open[entity] = (part, [start, end], [raw[k, 0].copy(), raw[k, 1].copy()])
        p.clear()

    def _close(self, entity):
        from anomaly_gan.retrain.source import Segment

        _part, ts, values = self._open.pop(entity)
        self._done.append(Segment(entity, np.asarray(ts, dtype=np.float64), np.stack(values)))


def tangled_stream(seed: int) -> list[tuple[str, int, bytes]]:
    """Eight entities (seven held) interleaved on two partitions: records split in two (assembled, some
    never completed), rows out of order within the reorder tolerance and late ones beyond
    it, repeated times, silences longer than gap_seconds, partition moves and invalid
    records."""
    rng = np.random.default_rng(seed)
    recs: list[tuple[str, int, bytes]] = []
    off = {"p0": 0, "p1": 0}
    now = dict.fromkeys(range(8), 1_000.0)
    last = dict(now)
    home = {e: f"p{e % 2}" for e in range(8)}

    def send(part, body):
        recs.append((part, off[part], body if isinstance(body, bytes) else
                     json.dumps(body).encode()))
        off[part] += 1

    for _ in range(4_000):
        e = int(rng.choice(8, p=[0.1424] * 7 + [0.0032]))  # pump-7 comes, evicts, goes
        step = rng.choice([10.0, 0.0, 200.0], p=[0.95, 0.04, 0.01])
        now[e] += step
        ts = last[e] if step == 0.0 else now[e] + float(rng.uniform(0, 3))  # a repeat
        last[e] = ts
        if rng.random() < 0.003:
            home[e] = "p1" if home[e] == "p0" else "p0"  # the entity's records move
        part, ent = home[e], f"pump-{e}"
        roll = rng.random()
        if roll < 0.03:
            send(part, rng.choice([b"not json", b'{"entity": "pump-1"}',
                                   b'{"entity": "pump-2", "ts": 5, "values": ["x", 1]}']))
        elif roll < 0.06:  # behind the entity's newest: reordered (15 s) or late
            send(part, {"entity": ent, "ts": ts - float(rng.choice([12.0, 40.0])),
                        "values": [float(rng.normal()), 1.0]})
        elif e < 4:  # split records, assembled in 10 s slots
            a, b = (float(v) for v in rng.normal(size=2))
            first, second = ({"a": a}, {"b": b}) if rng.random() < 0.5 else ({"b": b}, {"a": a})
            send(part, {"entity": ent, "ts": ts, "values": first})
            if rng.random() < 0.95:  # else the slot stays incomplete
                send(part, {"entity": ent, "ts": ts + 1.0, "values": second})
        else:
            send(part, {"entity": ent, "ts": ts, "values": [float(v) for v in rng.normal(size=2)]})
    return recs


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("assemble", [0.0, 10.0])
def test_segments_are_those_of_the_row_list_builder_on_a_tangled_stream(monkeypatch, seed,
                                                                        assemble):
    """The growing buffers give the segments the list of rows gave: same rows, same
    boundaries, same order, same counts; flushed every 37 pairs, so that segments run on
    across flushes, and with fewer entities held than there are (evictions). Assembled,
    a split record's halves make a row; else each half is invalid, and a repeated time
    is a row of its own."""
    from anomaly_gan.retrain import source

    monkeypatch.setattr(source, "_PAIRS_FLUSH", 37)
    serve = ServeConfig(assemble_seconds=assemble, windows=StreamWindowConfig(
        gap_seconds=60.0, reorder_tolerance_seconds=15.0, max_entities=7))
    recs = tangled_stream(seed)
    new, old = SegmentBuilder(FEATURES, serve), _RowListBuilder(FEATURES, serve)
    got, want = feed(new, recs), feed(old, recs)
    assert [(s.entity, s.ts.tolist(), s.values.tolist()) for s in got] == \
        [(s.entity, s.ts.tolist(), s.values.tolist()) for s in want]
    assert all(s.values.flags.c_contiguous and s.values.base is None for s in got)
    assert (new.events, new.invalid, new.late, new.incomplete) == \
        (old.events, old.invalid, old.late, old.incomplete)
    # the stream is as tangled as it says
    assert new.late and sum(new.invalid.values()) >= 50
    assert len(got) > 20 and max(len(s) for s in got) > 100
    if assemble:
        assert new.incomplete
    else:
        assert any(len(np.unique(s.ts)) < len(s) for s in got)  # repeated times


def test_a_read_holds_its_rows_about_once():
    """Python's allocations (tracemalloc) while 24,000 events of 16 features are built
    into segments, against the segments' bytes: 2.2 times with a list of row arrays (3.1
    with 8 features), 1.4 with growing buffers."""
    import tracemalloc

    features = tuple(f"f{i}" for i in range(16))
    rng = np.random.default_rng(0)
    rows = [[float(v) for v in rng.normal(size=16).round(3)] for _ in range(64)]
    recs = [("p0", i, json.dumps({"entity": f"e{i % 12}", "ts": 1e9 + i // 12,
                                  "values": rows[i % 64]}).encode()) for i in range(24_000)]
    builder = SegmentBuilder(features, ServeConfig())
    tracemalloc.start()
    try:
        segments = feed(builder, recs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    held = sum(s.ts.nbytes + s.values.nbytes for s in segments)
    assert sum(len(s) for s in segments) == 24_000
    assert peak < 1.5 * held + (1 << 19), f"{peak >> 10} KiB for {held >> 10} KiB of rows"


@pytest.mark.slow
@pytest.mark.kafka
def test_a_topic_range_of_per_cpu_records_gives_a_segment_per_host_and_cpu(kafka_bootstrap,
                                                                          kafka_topics):
    """serve.event_fields.entity [tags.host, tags.cpu]: Telegraf's percpu records, two CPUs
    and the total of one host at each time, are three entities' rows, each in time order."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import local_kafka
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    start = 1_794_000_000.0
    cpus = ("cpu0", "cpu1", "cpu-total")
    records = [("web-1", {"fields": {"a": float(i), "b": float(c), "usage_guest": 0},
                          "tags": {"host": "web-1", "cpu": cpu}, "timestamp": int(ts)}, ts)
               for i in range(12) for c, cpu in enumerate(cpus) for ts in [start + 10.0 * i]]
    topics = kafka_topics(events=1, alerts=1, dlq=1)
    produce_timestamped(kafka_bootstrap, topics["events"], records)
    cfg = config_from_dict({"serve": {
        "unknown_features": "ignore",
        "event_fields": {"entity": ["tags.host", "tags.cpu"], "ts": "timestamp",
                         "values": "fields"},
        "kafka": local_kafka(kafka_bootstrap, topics, f"g-{topics['events']}")}})
    rows = read_event_range(cfg, FEATURES, start, start + 1000.0)
    assert rows.invalid == {} and rows.events_read == len(records)
    got = {s.entity: (s.ts.tolist(), s.values.tolist()) for s in rows.segments}
    assert sorted(got) == ["web-1/cpu-total", "web-1/cpu0", "web-1/cpu1"]
    for c, cpu in enumerate(cpus):
        assert got[f"web-1/{cpu}"] == ([start + 10.0 * i for i in range(12)],
                                       [[float(i), float(c)] for i in range(12)])


def test_with_increases_drops_each_segments_first_row_as_serve_does():
    import numpy as np

    from anomaly_gan.retrain.source import Rows, Segment, with_increases

    a = Segment("a", np.array([0.0, 1.0, 2.0]), np.array([[1.0, 10.0], [2.0, 12.0], [3.0, 1.0]]))
    lone = Segment("b", np.array([5.0]), np.array([[1.0, 3.0]]))
    rows = with_increases(Rows([a, lone], {"kind": "files"}, events_read=4), [1])
    (seg,) = rows.segments  # a segment of one row has no increase: gone
    assert seg.ts.tolist() == [1.0, 2.0] and seg.values.tolist() == [[2.0, 2.0], [3.0, 1.0]]
    assert rows.events_read == 4


def test_with_increases_takes_them_in_the_rows_own_arrays():
    """A range's counters became a second copy of every row while the first was held
    (tracemalloc: 1.0 times the rows); the increases now replace the readings in place,
    with the same numbers as data.counters.increases (resets, a one-row segment)."""
    import tracemalloc

    from anomaly_gan.data.counters import increases
    from anomaly_gan.retrain.source import Rows, Segment, with_increases

    rng = np.random.default_rng(0)
    segments = []
    for i in range(20):
        v = rng.normal(size=(1 if i == 3 else 5_000, 8))
        v[:, [1, 5]] = np.cumsum(rng.integers(0, 9, size=(len(v), 2)), axis=0)
        v[len(v) // 2:, 5] -= 4_000  # a reset
        segments.append(Segment(f"e{i}", np.arange(float(len(v))), v))
    want = [(s.entity, s.ts[1:].copy(), increases(s.values, [1, 5]))
            for s in segments if len(s) > 1]
    held = sum(s.values.nbytes + s.ts.nbytes for s in segments)
    tracemalloc.start()
    try:
        rows = with_increases(Rows(segments, {"kind": "kafka"}), [1, 5])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(s.entity, s.ts.tolist(), s.values.tolist()) for s in rows.segments] == \
        [(e, t.tolist(), v.tolist()) for e, t, v in want]
    assert peak < 0.25 * held, f"{peak >> 10} KiB for {held >> 10} KiB of rows"


def test_read_alerts_takes_a_resolved_incident_whole_and_skips_other_records(monkeypatch):
    """The alert topic as serve writes it with serve.alerts.resolve_windows: the alert's
    window, and the resolution's incident from anomalous_since to resolved_at (which also
    covers the windows its cooldown kept quiet), so a retrain leaves the whole incident out;
    anything else on the topic is no alert."""
    from types import SimpleNamespace

    from anomaly_gan.retrain import source
    from tests.support.stream_fakes import FakeIO, events, make

    values = [1.0] * 3 + [50.0] * 4 + [1.0] * 2
    io = FakeIO([events([(float(t), v) for t, v in enumerate(values)])])
    scorer, _ = make(io, cooldown_seconds=1000.0, resolve_windows=2)
    scorer.step()
    scorer._score_batch()
    topic = [v for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    assert [json.loads(v)["status"] for v in topic] == ["firing", "resolved"]
    topic += [b'[{"entity": "e"}]', b"7", b"not json"]

    def read_topic_range(_k, _topic, _start_ms, _end_ms, on_record, *_args, **_kwargs):
        for v in topic:
            on_record(None, SimpleNamespace(value=v))
        return len(topic)

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    got = source.read_alerts(SimpleNamespace(alert_topic="a"), 0.0, 100.0, margin=0.0)
    assert [(a.entity, a.start_ts, a.end_ts) for a in got] == [("e", 1.0, 3.0), ("e", 3.0, 8.0)]


def test_rows_within_the_reorder_tolerance_are_put_in_time_order(tmp_path):
    """With serve.windows.reorder_tolerance_seconds, retrain --data reads a file as serve
    reads its events: rows out of order within the tolerance in time order, later ones late
    (counted as a topic range counts them). Before, both swapped rows were late and the file
    was refused as not in time order."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain.source import read_files

    cfg = config_from_dict({"data": {"timestamp_column": "ts"},
                            "serve": {"windows": {"reorder_tolerance_seconds": 10}}}, "test")
    data = tmp_path / "pump.csv"
    stamps = [100, 110, 120, 115, 105, 130]
    data.write_text("ts,a,b\n" + "".join(f"{t},{i},{-i}\n" for i, t in enumerate(stamps)))
    notes: list[str] = []
    rows, _ = read_files(cfg, [str(data)], FEATURES, notes.append)
    assert rows.segments[0].ts.tolist() == [100, 110, 115, 120, 130]
    assert rows.segments[0].values[:, 0].tolist() == [0, 1, 3, 2, 5]
    assert (rows.events_read, rows.late, rows.rows) == (6, 1, 5)
    assert len(notes) == 2
    assert ("1 row(s) are stamped before an earlier row by more than "
            "serve.windows.reorder_tolerance_seconds (10 s) (first line 6" in notes[0])
    assert "1 row(s) out of time order but stamped after every row windowed" in notes[1]


def _events_config(topics, bootstrap, **serve):
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import local_kafka

    return config_from_dict({"serve": {**serve, "kafka": local_kafka(
        bootstrap, topics, f"g-{topics['events']}")}}, "test")


def _reading(host: str, ts: float, i: int):
    return (host, {"entity": host, "ts": ts, "values": [float(i), 1.0]}, ts)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_record_stamped_by_a_stray_clock_does_not_end_its_partitions_read(kafka_bootstrap,
                                                                            kafka_topics):
    """One record stamped in 2096 before the range (partition 0) or inside it (partition 1)
    ended that partition's read: the first read nothing of the range, the second nothing
    after it. It is outside any range read now and is skipped."""
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    start, stray = 1_794_000_000.0, 4_000_000_000.0
    topics = kafka_topics(events=2, alerts=1, dlq=1)
    for part, host, at in ((0, "web-0", 0), (1, "web-1", 5)):
        records = [_reading(host, start + 10.0 * i, i) for i in range(20)]
        records.insert(at, (host, {"entity": host, "ts": start, "values": [9.0, 9.0]}, stray))
        if at == 0:
            records.insert(0, _reading(host, start - 5000.0, -1))  # before the range
        produce_timestamped(kafka_bootstrap, topics["events"], records, partition=part)
    rows = read_event_range(_events_config(topics, kafka_bootstrap), FEATURES, start,
                            start + 1000.0)
    assert rows.events_read == 40 and rows.invalid == {} and rows.late == 0
    assert {s.entity: len(s) for s in rows.segments} == {"web-0": 20, "web-1": 20}


@pytest.mark.kafka
@pytest.mark.slow
def test_a_range_that_ends_in_the_future_is_read_up_to_when_the_read_began(kafka_bootstrap,
                                                                           kafka_topics):
    """--to an hour ahead on a topic still being written: the read followed the producer
    for as long as it wrote (an hour, or for ever); it now stops at the first record
    stamped after the read began."""
    import threading
    import time

    from kafka import KafkaProducer

    from anomaly_gan.retrain.source import read_event_range

    topics = kafka_topics(events=1, alerts=1, dlq=1)
    stop, sent, cap = threading.Event(), [0], 3000

    def live() -> None:
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, linger_ms=0)
        try:
            while not stop.is_set() and sent[0] < cap:
                now = time.time()
                producer.send(topics["events"], value=json.dumps(
                    {"entity": "x", "ts": now, "values": [1.0, 2.0]}).encode(),
                    timestamp_ms=int(now * 1000))
                sent[0] += 1
                stop.wait(0.01)
            producer.flush(timeout=30)
        finally:
            producer.close(timeout=5)

    writer = threading.Thread(target=live)
    writer.start()
    try:
        while sent[0] < 50:
            stop.wait(0.05)
        now = time.time()
        rows = read_event_range(_events_config(topics, kafka_bootstrap), FEATURES,
                                now - 600.0, now + 3600.0)
    finally:
        stop.set()
        writer.join()
    assert 0 < rows.events_read < sent[0] < cap


@pytest.mark.kafka
@pytest.mark.slow
def test_a_record_batch_the_client_cannot_read_is_skipped_as_serve_skips_it(
        kafka_bootstrap, kafka_topics):
    """A batch kafka-python cannot parse (here a header key that is not UTF-8, which Java
    clients write) was 'cannot read topic ...: CorruptRecordError ...; expected a reachable
    Kafka broker', which sent the operator to a healthy broker, and ended every retrain
    whose range held it (a CronJob's --last 7d for a week). It is skipped as serve skips it:
    counted as corrupt_record, one warning line, and the records after it are read."""
    from kafka import KafkaProducer

    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    class NotUtf8(str):
        def encode(self, *_args, **_kwargs):
            return b"\xff"

    start = 1_794_000_000.0
    topics = kafka_topics(events=1, alerts=1, dlq=1)
    produce_timestamped(kafka_bootstrap, topics["events"],
                        [_reading("x", start + 10.0 * i, i) for i in range(5)])
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    try:
        producer.send(topics["events"], value=b"{}", timestamp_ms=int((start + 55) * 1000),
                      headers=[(NotUtf8("k"), b"v")]).get(timeout=30)
    finally:
        producer.close(timeout=5)
    produce_timestamped(kafka_bootstrap, topics["events"],
                        [_reading("x", start + 10.0 * i, i) for i in range(6, 9)])
    said: list[str] = []
    rows = read_event_range(_events_config(topics, kafka_bootstrap), FEATURES, start,
                            start + 1000.0, said.append)
    assert rows.events_read == 8 and rows.invalid == {"corrupt_record": 1}
    [warning] = [line for line in said if "warning" in line]
    assert warning.startswith(f"[read] warning: {topics['events']}/0 offsets 5..5 (1 records: "
                              f"a record batch the client cannot read and the rest of it) "
                              f"skipped, as serve skips them: ")
    assert "UnicodeDecodeError" in warning


def test_an_event_stamped_ahead_of_the_clock_is_invalid_as_in_serve(monkeypatch):
    """serve refuses an event more than serve.windows.max_future_skew_seconds ahead of the
    wall clock (future_timestamp); retrain pushed it into the window state, where every
    later event of its entity was late: the entity's rows after it were gone."""
    from types import SimpleNamespace

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain import source

    values = [{"entity": "x", "ts": 100.0 + i, "values": [float(i), 0.0]} for i in range(10)]
    values.insert(3, {"entity": "x", "ts": 4_000_000_000.0, "values": [9.0, 9.0]})

    def read_topic_range(_k, _topic, _start_ms, _end_ms, on_record, *_args, **_kwargs):
        for offset, v in enumerate(values):
            on_record("p0", SimpleNamespace(value=json.dumps(v).encode(), offset=offset,
                                            timestamp=100_000))
        return len(values)

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    rows = source.read_event_range(config_from_dict({}, "test"), FEATURES, 0.0, 1000.0)
    assert rows.invalid == {"future_timestamp": 1} and rows.late == 0
    assert [len(s) for s in rows.segments] == [10]


def test_the_range_reader_never_asks_the_broker_to_create_the_topic(monkeypatch):
    """A misspelt input topic, on a broker with auto.create.topics.enable (Kafka's
    default), was created by the metadata request and read as an empty range ('no events
    between ...'), as serve's consumer avoids."""
    import kafka

    from anomaly_gan.config import KafkaConfig
    from anomaly_gan.retrain.source import _consumer

    made = []
    monkeypatch.setattr(kafka, "KafkaConsumer", lambda **kw: made.append(kw))
    _consumer(KafkaConfig())
    assert made[0]["allow_auto_create_topics"] is False


def test_a_logs_range_read_shows_progress(monkeypatch):
    """A long read of a log topic said nothing until it ended (a metrics range said
    '[read] N events (R/s)' every 5 s)."""
    from anomaly_gan.errors import DataError
    from anomaly_gan.retrain import source
    from anomaly_gan.retrain.logs import read_log_range_rows
    from tests.support.logs_retrain import logs_retrain_config

    def read_topic_range(_k, _topic, _start_ms, _end_ms, _on_record, on_progress=None,
                         **_kwargs):
        on_progress(7)
        raise DataError("read stopped here")

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    monkeypatch.setattr(source, "_PROGRESS_EVERY_S", 0.0, raising=False)
    said: list[str] = []
    with pytest.raises(DataError, match="read stopped here"):
        read_log_range_rows(logs_retrain_config(), None, 0.0, 1000.0, said.append)
    assert len(said) == 1 and said[0].startswith("[read] 7 lines (")


def test_a_logs_range_says_how_far_counting_its_lines_has_got(monkeypatch):
    """retrain --from/--to of a log topic said how far the read had got, then nothing while
    the lines were counted into buckets (as long as the read itself, for a large range),
    where retrain --data on a log file says so every STAGE_EVERY lines through the
    command's throttle. A range's lines, counted with the current version's templates, now
    report their counting as a file's do."""
    from types import SimpleNamespace

    from anomaly_gan.logs.model import STAGE_EVERY, fit_log_model
    from anomaly_gan.retrain import source
    from anomaly_gan.retrain.logs import read_log_range_rows
    from tests.logs.conftest import syslog_line
    from tests.support.logs_retrain import logs_retrain_config

    cfg = logs_retrain_config()
    t0 = 1_767_225_600.0
    words = ["cache hit", "request served in 12 ms", "user login ok", "GET /health"]
    recs = [{"ts": t0 + i * 0.01, "entity": ("api", "db")[i % 2], "level": "INFO",
             "message": words[i % 4]} for i in range(2 * STAGE_EVERY + 500)]
    current, _ = fit_log_model(cfg.logs, words)
    info = SimpleNamespace(version="v1", config=cfg, extras={"logs": current.to_dict()})

    def read_topic_range(_k, _topic, _start_ms, _end_ms, on_record, *_args, **_kwargs):
        for offset, r in enumerate(recs):
            on_record("p0", SimpleNamespace(value=syslog_line(r).encode(), offset=offset,
                                            timestamp=int(r["ts"] * 1000)))
        return len(recs)

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    stages: list[tuple[str, int, int]] = []
    rows, _model = read_log_range_rows(cfg, info, t0, t0 + 1000.0, lambda _m: None,
                                       lambda *s: stages.append(s))
    assert rows.events_read == len(recs)
    counted = len(recs) - rows.late
    assert stages == [("lines counted into buckets", n, counted)
                      for n in (STAGE_EVERY, 2 * STAGE_EVERY)]


@pytest.mark.kafka
@pytest.mark.slow
def test_a_range_releases_the_rows_held_for_reordering_at_its_end(kafka_bootstrap,
                                                                  kafka_topics):
    """With serve.windows.reorder_tolerance_seconds, each entity's rows of the range's last
    tolerance were still held for reordering when the range ended, and were never released:
    17 of 20 rows a host with 30 s. The range is closed: they are released, in time order;
    a row stamped at or after --to (here a record stamped inside the range whose event is
    not) is still left out, as are the records after --to."""
    from anomaly_gan.retrain.source import read_event_range
    from tests.retrain.conftest import produce_timestamped

    start = 1_794_000_000.0
    end = start + 200.0
    topics = kafka_topics(events=2, alerts=1, dlq=1)
    for part, host in enumerate(("web-0", "web-1")):
        records = [_reading(host, start + 10.0 * i, i) for i in range(23)]  # 20.. after --to
        records[17], records[18] = records[18], records[17]  # reordered within the tolerance
        if part:
            key, event, _ = _reading(host, end + 5.0, 99)
            records.insert(20, (key, event, end - 5.0))  # the record in the range, its row not
        produce_timestamped(kafka_bootstrap, topics["events"], records, partition=part)
    cfg = _events_config(topics, kafka_bootstrap,
                         windows={"reorder_tolerance_seconds": 30.0})
    rows = read_event_range(cfg, FEATURES, start, end)
    assert rows.events_read == 41 and rows.late == 0 and rows.invalid == {}
    assert {s.entity: len(s) for s in rows.segments} == {"web-0": 20, "web-1": 20}
    got = {s.entity: (s.ts.tolist(), s.values[:, 0].tolist()) for s in rows.segments}
    want = ([start + 10.0 * i for i in range(20)], [float(i) for i in range(20)])
    assert got == {"web-0": want, "web-1": want}


def test_a_record_stamped_after_the_range_does_not_end_its_partitions_read():
    """Two producers on a partition, one's clock 2 s ahead: its record stamped after --to
    comes before the other's last records of the range. The first record stamped at or after
    --to ended the read and those were lost (95 of 400 seeds of
    test_source_range_spec_fuzz.py); the read now goes on to the first record stamped
    serve.windows.max_future_skew_seconds after --to, skipping those stamped from --to on."""
    import random

    from kafka import TopicPartition

    from anomaly_gan.retrain.source import _read_range
    from tests.support.range_consumer import RangeConsumer, Stored

    start, end, skew = 1_794_000_000, 1_794_000_100, 300
    stamps = {"a": end - 10, "ahead": end + 2, "lagging": end - 3, "ends": end + skew,
              "after_the_end": end - 1}
    records = [Stored(i, t * 1000, name.encode()) for i, (name, t) in enumerate(stamps.items())]
    consumer = RangeConsumer("ev", {0: records}, random.Random(0), max_poll_records=1)
    read: list[bytes] = []
    n = _read_range(consumer, [TopicPartition("ev", 0)], start * 1000, end * 1000,
                    lambda _tp, m: read.append(m.value), max_future_skew_ms=skew * 1000,
                    clock=lambda: end + 86400.0)
    assert (n, read) == (2, [b"a", b"lagging"])


def test_a_range_that_starts_after_the_read_began_does_not_follow_a_live_topic():
    """--from and --to tomorrow (a typo of the date), and a record stamped then by a stray
    clock: offsets_for_times lands on it, and every record written after it, stamped now,
    is before --from. They were skipped without ending the read, which followed the topic for
    as long as it was written (found by test_source_range_spec_fuzz.py, seed 43 of a live
    partition); the range is read up to the moment the read began, as one ending then is."""
    import random

    from kafka import TopicPartition

    from anomaly_gan.retrain.source import _read_range
    from tests.support.range_consumer import RangeConsumer, Stored

    now, day, skew = 1_794_000_000, 86_400, 300
    stray = Stored(0, (now + day) * 1000, b"stray")
    consumer = RangeConsumer("ev", {0: [stray]}, random.Random(0), live={0: b"live"},
                             live_stamp_ms=(now + 1) * 1000, max_polls=500)
    read: list[bytes] = []
    n = _read_range(consumer, [TopicPartition("ev", 0)], (now + day) * 1000,
                    (now + 2 * day) * 1000, lambda _tp, m: read.append(m.value),
                    max_future_skew_ms=skew * 1000, clock=lambda: float(now))
    assert (n, read) == (0, []) and consumer.polls < 500


def test_records_deleted_by_retention_while_a_range_is_read_lose_only_themselves(
        monkeypatch):
    """--last 7d on a topic kept 7 days (Kafka's default retention, the chart's lookback):
    retention deletes the partition's oldest records while the read is among them. The
    broker answers the next fetch with OFFSET_OUT_OF_RANGE and kafka-python moves the
    position as auto_offset_reset says: the retrain's consumer kept kafka-python's default,
    latest, so the read jumped to the partition's end and every later record of the range
    (here 70 of 100) was lost in silence. It goes on from the first record left."""
    import random

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain.source import read_topic_range
    from tests.support.range_consumer import RangeConsumer, Stored

    start, kept_from = 1_794_000_000, 30
    records = [Stored(i, (start + i) * 1000, b"%d" % i) for i in range(100)]
    fake = RangeConsumer("ev", {0: records}, random.Random(0), max_poll_records=10,
                         truncate={2: [(0, kept_from)]})
    monkeypatch.setattr("kafka.KafkaConsumer", fake.built)
    k = config_from_dict({"serve": {"kafka": {"input_topic": "ev"}}}, "test").serve.kafka
    read: list[int] = []
    n = read_topic_range(k, "ev", start * 1000, (start + 100) * 1000,
                         lambda _tp, m: read.append(int(m.value)))
    assert n == len(read) and read[0] == 0
    assert read[-(100 - kept_from):] == list(range(kept_from, 100))


def test_a_range_reads_progress_counts_the_events_its_last_line_counts(monkeypatch):
    """serve.event_format otlp_json: a record is a batch of data points, each an event (the
    final '[read] N events' line, retrain.max_events). The progress line counted records:
    '[read] 3 events' after 12 events were read (and its rate was records per second)."""
    from types import SimpleNamespace

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain import source

    def gauge(name, ns, value):
        return {"name": name, "gauge": {"dataPoints": [{"timeUnixNano": str(ns),
                                                         "asDouble": value}]}}

    def batch(ns):
        return {"resourceMetrics": [
            {"resource": {"attributes": [{"key": "host.name", "value": {"stringValue": h}}]},
             "scopeMetrics": [{"metrics": [gauge("a", ns, 1.0), gauge("b", ns, 2.0)]}]}
            for h in ("web-1", "web-2")]}

    start = 1_794_000_000
    records = [json.dumps(batch((start + 10 * i) * 10**9)).encode() for i in range(3)]

    def read_topic_range(_k, _topic, _start_ms, _end_ms, on_record, on_progress=None,
                         **_kwargs):
        for offset, value in enumerate(records):
            on_record("p0", SimpleNamespace(value=value, offset=offset,
                                            timestamp=(start + 10 * offset) * 1000))
        on_progress(len(records))
        return len(records)

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    monkeypatch.setattr(source, "_PROGRESS_EVERY_S", 0.0)
    cfg = config_from_dict({"serve": {"event_format": "otlp_json", "assemble_seconds": 5.0}},
                           "test")
    said: list[str] = []
    rows = source.read_event_range(cfg, FEATURES, start, start + 100, said.append)
    assert rows.events_read == 12 and rows.invalid == {}
    assert len(said) == 1 and said[0].startswith("[read] 12 events (")


def test_records_without_a_timestamp_or_deleted_by_retention_are_said(monkeypatch):
    """A record with timestamp -1 (written in a message format before Kafka 0.10, or up-
    converted by the broker) is before every --from, and was skipped in silence; records
    deleted by retention under a running read were lost in silence too (the read goes on
    from the first record left). Each is now a '[read] warning:' line with its count."""
    import random
    import time

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain.source import read_event_range
    from tests.support.range_consumer import RangeConsumer, Stored

    start = int(time.time()) - 10_000
    value = b'{"entity": "a", "ts": %d, "cpu": 1.0}'
    p0 = [Stored(i, -1 if i % 10 == 3 else (start + i) * 1000, value % (start + i))
          for i in range(100)]  # 10 without a timestamp
    p1 = [Stored(i, (start + i) * 1000, value % (start + i)) for i in range(100)]
    fake = RangeConsumer("ev", {0: p0, 1: p1}, random.Random(0), max_poll_records=10,
                         truncate={2: [(1, 60)]})
    monkeypatch.setattr("kafka.KafkaConsumer", fake.built)
    cfg = config_from_dict({"serve": {"kafka": {"input_topic": "ev"}}}, "test")
    said: list[str] = []
    rows = read_event_range(cfg, ("cpu",), float(start), float(start + 100), said.append)
    warnings = [line for line in said if line.startswith("[read] warning:")]
    assert any("10 records without a timestamp" in line for line in warnings), said
    deleted = [line for line in warnings if "deleted by retention" in line]
    assert len(deleted) == 1 and "ev/1" in deleted[0], said
    # what was read before the deletion is not counted as deleted: every record is read,
    # or said
    lost = int(deleted[0].split("(")[1].split(" records")[0])
    assert 0 < lost <= 60 and rows.events_read + lost == 90 + 100, (deleted, rows.events_read)


@pytest.mark.parametrize("name", ["pump-7.csv", "pump-7.csv.gz", "pump-7.CSV.GZ", "pump-7.gz",
                                  "pump-7.csv.zst"])
def test_a_compressed_file_is_the_entity_its_name_holds(tmp_path, name):
    """A file's entity is its name without the extension, and a compressed file is read as
    what it holds: pump-7.csv.gz was entity 'pump-7.csv', so a silence or a labelled
    incident of 'pump-7' (serve's entity) matched none of its rows."""
    import gzip

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.retrain.source import read_files

    text = b"ts,a,b\n" + b"".join(b"%d,%d,%d\n" % (100 + 10 * i, i, -i) for i in range(5))
    data = tmp_path / name
    data.write_bytes(gzip.compress(text) if name.lower().endswith(".gz") else text)
    cfg = config_from_dict({"data": {"timestamp_column": "ts"}}, "test")
    rows, _ = read_files(cfg, [str(data)], FEATURES)
    assert [s.entity for s in rows.segments] == ["pump-7"]
