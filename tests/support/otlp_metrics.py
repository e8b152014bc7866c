"""OpenTelemetry metric streams for the tests that compare ``score`` on a Collector's file
with ``serve`` on the same requests as Kafka records (tests/stream/test_otlp_fuzz.py,
tests/stream/test_otlp_evict_fuzz.py): the requests, the file, serve's Scorer (fake Kafka)
with its pushed rows and evictions spied, and the check that ``score --entity --alerts``
on the file gives each host serve's rows, windows, scores, flags and alert records."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import math
from datetime import datetime

import numpy as np

from anomaly_gan.cli import main
from tests.support.hostmetrics import kv
from tests.support.otlp import framed, to_proto
from tests.support.stream_fakes import TP, Clock, Partitions, Record

T0 = 1767225600  # 2026-01-01T00:00:00Z, a multiple of the slot
SLOT = 10  # serve.assemble_seconds: the collection interval
NS = 10**9
CPU, MEM, REQUESTS = ("system.cpu.utilization{cpu=cpu0}", "system.memory.usage",
                      "http.server.requests")
FEATURES = (CPU, MEM, REQUESTS)


def otlp_bundles(tiny_detector, directory):
    """The session's tiny detector reading the three OTLP features (temp, rpm, flow's
    values, as its scaler knows them), as it is and with data.counters: [REQUESTS], saved
    under ``directory``: {False: plain, True: counting, "window": its window}."""
    from anomaly_gan.artifacts import save_bundle

    named = dataclasses.replace(tiny_detector, feature_names=FEATURES)
    cfg = named.config
    counting = dataclasses.replace(named, config=cfg.replace(
        data=dataclasses.replace(cfg.data, counters=(REQUESTS,))))
    return {False: save_bundle(named, directory / "plain"),
            True: save_bundle(counting, directory / "counting"), "window": named.window}


def metric_of(feature):
    """The metric a feature is of: its name without the data point's attributes."""
    return feature.partition("{")[0]


# a metric's OTLP shape by its kind: (key, fields besides dataPoints)
SHAPES = {"gauge": ("gauge", {}),
          "cumulative": ("sum", {"aggregationTemporality": 2, "isMonotonic": True}),
          "updown": ("sum", {"aggregationTemporality": 2}),
          "delta": ("sum", {"aggregationTemporality": 1, "isMonotonic": True})}


def request(points, on_point):
    """One ExportMetricsServiceRequest of ``points`` ((host, metric, kind, data point)), in
    that order: a resource per run of one host (one for all with the host on each data
    point), a metric per run of one metric."""
    resources: list = []
    last_res = last_metric = None
    for host, name, kind, p in points:
        res_key = "all" if on_point else host
        if res_key != last_res:
            attrs = [kv("os.type", "linux")] if on_point else [kv("host.name", host),
                                                                 kv("os.type", "linux")]
            resources.append({"resource": {"attributes": attrs},
                              "scopeMetrics": [{"scope": {"name": "hostmetrics"}, "metrics": []}]})
            last_res, last_metric = res_key, None
        metrics = resources[-1]["scopeMetrics"][0]["metrics"]
        if (name, kind) != last_metric:
            key, fields = SHAPES[kind]
            metrics.append({"name": name, key: {**fields, "dataPoints": []}})
            last_metric = (name, kind)
        metrics[-1][SHAPES[kind][0]]["dataPoints"].append(p)
    return {"resourceMetrics": resources}


def cut(items, sizes):
    """``items`` in consecutive pieces of the sizes drawn (cycled)."""
    out, at, k = [], 0, 0
    while at < len(items):
        size = sizes[k % len(sizes)]
        out.append(items[at:at + size])
        at, k = at + size, k + 1
    return out



def release(serve, hosts, newest_ns):
    """With a reorder tolerance, a last collection of ``hosts``, ``tolerance`` after the
    newest slot (``newest_ns``), which releases the rows serve holds (as score releases them
    at the file's end); none without one."""
    tolerance = serve["windows"]["reorder_tolerance_seconds"]
    if not tolerance or not hosts:
        return []
    slot_ns = round(serve["assemble_seconds"] * NS)
    ts = (newest_ns // slot_ns + math.ceil(tolerance / serve["assemble_seconds"])) * slot_ns
    return [request([(h, metric_of(FEATURES[f]), "gauge", {
        "timeUnixNano": str(ts), "asDouble": 1.0,
        "attributes": [kv("host.name", h)] + ([kv("cpu", "cpu0")] if f == 0 else [])})
        for h in hosts for f in range(3)], on_point=True)]


def served(model, serve, parts, polls, commits=None, kill_after=None, first=None,
           evictions=None):
    """What serve's Scorer (fake Kafka) does with ``parts`` ({partition: records (bytes)}),
    read in ``polls`` (per poll, how many records of each partition: [{partition: n}]): the
    rows it pushes to the windows ((entity, ts, values, starts)), its score records, its
    alert records and its commits. ``commits``: after which polls it commits (each poll
    without); killed after ``kill_after`` commits, having read one poll on, scored and
    published it, and committed nothing more. ``first``: each partition's first offset
    ({partition: offset}; 0 where not given), as after a restart from a commit.
    ``evictions`` (a list): gets (entity, its rows pushed so far) for each eviction of its
    assembler (serve.windows.max_entities); then the rows held for reordering at the end are
    released as the records end (``WindowState.release_held``, as score releases a file's
    last rows), where a last collection of every host (:func:`release`) would evict some
    and drop theirs."""
    from prometheus_client import CollectorRegistry

    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.stream.app import Scorer
    from anomaly_gan.stream.metrics import StreamMetrics
    encode = (to_proto if serve["event_format"] == "otlp_proto"
              else lambda d: json.dumps(d).encode())
    first = first or {}
    left = {TP("metrics", p): [Record(first.get(p, 0) + i, None, encode(doc))
                               for i, doc in enumerate(docs)] for p, docs in parts.items()}
    batches = []
    for poll in polls:
        batch = {}
        for p, n in poll.items():
            tp = TP("metrics", p)
            if left.get(tp):
                batch[tp], left[tp] = left[tp][:n], left[tp][n:]
        if batch:
            batches.append(batch)
    batches += [{tp: recs} for tp, recs in left.items() if recs]  # the rest
    io = Partitions(batches, left)
    cfg = config_from_dict({"serve": {**serve, "kafka": {"scores_topic": "scores"}}}).serve
    scorer = Scorer(cfg, load_bundle(model), io, StreamMetrics(CollectorRegistry()),
                    monotonic=Clock())  # a clock that stands still: commits come below
    rows: list = []
    push = scorer.intake.state.push

    def spy(entity, ts, values, partition, offset, out, tag=None, starts=None):
        rows.append((entity, ts, [float(v) for v in values], dict(starts or {})))
        return push(entity, ts, values, partition, offset, out, tag, starts)

    scorer.intake.state.push = spy
    if evictions is not None:
        evict = scorer.intake.assembler.on_evict

        def spy_evict(entity):
            evictions.append((entity, sum(r[0] == entity for r in rows)))
            evict(entity)

        scorer.intake.assembler.on_evict = spy_evict
    k = 0
    while io.batches:
        scorer.step()
        if commits is None or k in commits:
            assert scorer._commit(force=True)
            if kill_after is not None and len(io.commits) >= kill_after:
                if io.batches:  # read on, then killed
                    scorer.step()
                break
        k += 1
    if evictions is not None:
        scorer.intake.state.release_held(scorer.batch)
    scorer._score_batch()
    if kill_after is None:
        assert scorer._commit(force=True)
    scorer._pool.shutdown()
    # a record of only metrics the model does not read is missing_feature (docs/streaming.md,
    # Other metrics), as score leaves out such a line
    assert {dict(h)["reason"] for t, _, _, h in io.sent if t == cfg.kafka.dlq_topic} <= {
        b"missing_feature"}
    scores = [json.loads(v) for t, _, v, _ in io.sent if t == "scores"]
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == cfg.kafka.alert_topic]
    return rows, scores, alerts, io.commits


def window_ends(times, window, lead, hop, gap, restarts=(), closed=False, tolerance=0.0):
    """The rows (indices) whose windows serve scores: runs of rows no more than ``gap``
    apart; in each its first complete window (``window`` rows after ``lead`` that only
    start the counters' increases), then every ``hop``-th. ``restarts``: the rows before
    which the host was evicted (``closed``: after the last one too), where its window
    starts afresh and the rows held for reordering (stamped less than ``tolerance`` before
    the newest: the rows between two evictions are in time order) are dropped."""
    out = []
    cuts = [0, *sorted(restarts), len(times)]
    for a, b in itertools.pairwise(cuts):
        rows = list(range(a, b))
        if tolerance and (b < len(times) or closed) and rows:
            rows = [i for i in rows if times[i] <= times[b - 1] - tolerance]
        run = 0
        for n, i in enumerate(rows):
            run = run + 1 if n and times[i] - times[rows[n - 1]] <= gap else 1
            first = window + lead
            if run >= first and (run - first) % hop == 0:
                out.append(i)
    return out


def epoch(stamp):
    return datetime.fromisoformat(stamp).timestamp()


#: How close a score serve computes is to score's for the same window: the network is
#: float32, and a window scored in another batch (serve's of the windows ready, score's of the
#: whole series) rounds otherwise, ~1e-7 of the score (docs/streaming.md: "score to 1e-6");
#: score's CSV writes 9 significant digits. Not 1e-9: that fails on the first case.
REL = 1e-6


def close(a, b):
    """Scores (or alert records holding them) equal but for the network's rounding."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float | int) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=REL, abs_tol=REL)
    return a == b


def write_file(tmp_path, points, line_sizes, on_point, serve):
    """The file exporter's file of ``points`` (requests of ``line_sizes``) and serve.yaml."""
    proto = serve["event_format"] == "otlp_proto"
    data, cfg_file = tmp_path / ("m.bin" if proto else "m.jsonl"), tmp_path / "serve.yaml"
    lines = [request(piece, on_point) for piece in cut(points, line_sizes)]
    if proto:
        data.write_bytes(framed(*(to_proto(doc) for doc in lines)))
    else:
        data.write_text("".join(json.dumps(doc) + "\n" for doc in lines))
    cfg_file.write_text(json.dumps({"serve": serve}))
    return data, cfg_file


def newest_slot(points, slot):
    """The newest slot of ``points`` as serve stamps it, and its data point's nanoseconds."""
    from anomaly_gan.stream.assemble import Assembler
    from anomaly_gan.stream.events import parse_timestamp

    ns = max(int(p["timeUnixNano"]) for *_, p in points)
    asm = Assembler(1, slot, max_entities=1, gap_seconds=1.0)
    return asm.slot_of(parse_timestamp(ns, per_second=NS)), ns


def score_agrees(model, serve, data, cfg_file, hosts, rows, scores, alerts, counters,
                 window, capsys, tmp_path, evictions=()):
    """Each host's rows (values and start times), windows, scores, flags and alert records
    in serve are score's on the file. With ``serve.windows.max_entities`` below the hosts,
    ``evictions`` (:func:`served`'s): the file's tables name the rows before which serve
    evicted each host (:attr:`~anomaly_gan.data.readers.Table.evictions`), and its windows
    start afresh there."""
    from anomaly_gan.config import config_from_dict
    from anomaly_gan.data.otlp_files import read_metric_file
    from anomaly_gan.errors import DataError

    try:
        tables = {t.entity: t for t in read_metric_file(
            data, config_from_dict({"serve": serve}).serve, FEATURES)}
    except DataError as exc:
        assert "no slot of serve.assemble_seconds" in str(exc), exc
        tables = {}
    capsys.readouterr()
    w = serve["windows"]
    lead = 1 if counters else 0
    for host in hosts:
        mine = [r for r in rows if r[0] == host]
        table = tables.get(host)
        # rows: values and start times, as the file's
        if table is None:
            assert not mine
            continue
        times = [epoch(s) for s in table.timestamps]
        assert [r[1] for r in mine] == times
        assert [r[2] for r in mine] == table.values.tolist()
        for (_, _, _, began), row_starts in zip(mine, table.starts if table.starts is not None
                                                else [None] * len(mine), strict=True):
            expect = {} if row_starts is None else {
                i: t for i, t in enumerate(row_starts.tolist()) if not math.isnan(t)}
            assert began == expect
        # evictions: before which rows, and after the last one
        gone = {k for h, k in evictions if h == host and k}
        restarts = {k for k in gone if k < len(mine)}
        ev = table.evictions if table.evictions is not None else np.zeros(len(mine), int)
        assert {i for i in range(1, len(mine)) if ev[i] != ev[i - 1]} == restarts
        assert table.evicted_at_end == (len(mine) in gone)
        # windows
        ends = [times[i] for i in window_ends(times, window, lead, w["hop"], w["gap_seconds"],
                                              restarts, table.evicted_at_end,
                                              w["reorder_tolerance_seconds"])]
        host_scores = [s for s in scores if s["entity"] == host]
        assert [s["window_end_ts"] for s in host_scores] == ends
        # scores and flags, and the alert records
        out, alerts_file = tmp_path / f"{host}.csv", tmp_path / f"{host}.alerts.jsonl"
        alerts_file.unlink(missing_ok=True)
        rc = main(["score", "--model", str(model), "--data", str(data), "--entity", host,
                   "--out", str(out), "--alerts", str(alerts_file), "--config", str(cfg_file)])
        err = capsys.readouterr().err
        if rc == 2:
            assert "need at least one window" in err, err
            assert not host_scores
            assert not [a for a in alerts if a["entity"] == host]
            continue
        assert rc == 0, err
        offline: dict = {}
        with out.open() as fh:
            for r in csv.DictReader(fh):
                offline.setdefault(epoch(r["timestamp"]), []).append(r)
        for s in host_scores:
            if len(offline[s["window_end_ts"]]) > 1:
                # a resend after an eviction repeats a time in the table: which row's window
                # serve scored is not known here (the alert records below say)
                continue
            row, = offline[s["window_end_ts"]]
            score = float(row["score"]) if row["score"] else None
            assert close(s["score"], score), (s, row)
            assert s["is_anomaly"] == (row["is_anomaly"] == "1") or close(
                s["score"], s["threshold"]), (s, row)
        mine_alerts = [a for a in alerts if a["entity"] == host]
        theirs = [json.loads(line) for line in alerts_file.read_text().splitlines()]
        assert close(mine_alerts, theirs), (mine_alerts, theirs)
