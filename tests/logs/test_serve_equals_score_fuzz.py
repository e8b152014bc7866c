"""Randomized differential test: the lines of a log file give the same buckets, rows, window
scores, flags and alert templates in ``score`` (offline.py) as in ``serve`` (the scorer fed
the same lines as Kafka records, committed as it goes and at the end as at shutdown).

The streams are seeded and generated as users send them: several entities interleaved,
bursts, silences longer than ``logs.gap_seconds``, a template going silent, Java and Python
traces joined to their event, bad lines (a banner, bytes that are not UTF-8, an event over
``serve.windows.max_event_bytes``, a line without its entity), records of one line or of
several events' lines. What docs/logs.md says differs on purpose is not generated (each
exclusion cites the rule) or is compared as it says:

- the tail: ``score`` closes every bucket at the end of its file (the last line is the
  watermark, the partial buckets flushed), where ``serve`` keeps an entity's open bucket and
  its watermark lags up to two lines for sparse lines (Watermark); so ``serve``'s rows of an
  entity are the first of ``score``'s, and those after them start with the bucket still open
  (time) or are one partial bucket (per N lines);
- a continuation line sent as its own record is dead-lettered where a file joins it
  (Multi-line events): a record never starts with a trace line here;
- ``score`` counts a file in time order where ``serve`` drops a line more than
  ``serve.windows.reorder_tolerance_seconds`` behind, and an entity's own line for an older
  bucket than its open one (Time buckets: "its own lines must come in bucket order"): lines
  come out of order only across entities, within the tolerance, or within one bucket;
- a stray first or last line more than ``logs.gap_seconds`` from the others is left out
  offline (Offline): no silence is generated among the first or last lines.
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import load_log_model, read_for_log_model, score_log_events
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.stream.test_app import FakeIO, Record

T0 = 1_767_225_600.0  # 2026-01-01
REGEX = r"^(?P<ts>\S+) (?:(?P<entity>[a-z][\w-]*) )?(?P<level>[A-Z]+) (?P<message>.*)$"
MAX_EVENT_BYTES = 1024
GAP = 60.0
TRAINING = ["GET /a/1 200", "GET /b/2 404", "cache flushed", "user 5 logged in",
            "payment failed for order 7", "disk usage at 91 percent"] * 3
KNOWN = ["GET /a/{n} 200", "GET /b/{n} 404", "cache flushed", "user {n} logged in",
         "payment failed for order {n}", "disk usage at {n} percent"]
UNSEEN = ["kernel panic on cpu {n}", "rebalancing shard {n} of index orders",
          "TLS handshake with peer timed out"]
JAVA = ["java.lang.IllegalStateException: no session", "\tat shop.Cart.add(Cart.java:42)",
        "\tat shop.Api.handle(Api.java:7)", "Caused by: java.io.IOException: reset",
        "\t... 12 more"]
PYTHON = ["Traceback (most recent call last):", '  File "/app/pay.py", line 3, in charge',
          "    raise ValueError('card declined')", "ValueError: card declined"]


class Weighed:
    """A logs detector whose score is a fixed weighted sum of a window's features (every
    column counts), over a fixed threshold; ``score_series`` scores a file's rows as
    :meth:`Detector.score_series` does (NaN before the first whole window)."""

    def __init__(self, logs: dict, seed: int):
        self.config = config_from_dict({
            "model": {"backbone": "dense"}, "data": {"window": 3},
            "serve": {"windows": {"max_event_bytes": MAX_EVENT_BYTES}},
            "logs": {"format": "regex", "regex": REGEX, "top_k": 3, "gap_seconds": GAP,
                     "bad_lines": "skip", **logs}})
        model, _ = fit_log_model(self.config.logs, TRAINING)
        self.extras = {"logs": model.to_dict()}
        self.feature_names, self.window = model.feature_names, 3
        self.n_counts = model.n_counts
        self.version, self.kind = "v1", "ganomaly"
        self.weights = np.random.default_rng(seed).uniform(0.0, 1.0, len(self.feature_names))
        self.threshold = 2.5 * self.window * float(np.log1p(3.0) * self.weights.mean())

    def warm_up(self, max_batch=512):
        pass

    def score_windows(self, raw):
        s = (np.asarray(raw) * self.weights).sum(axis=(1, 2))
        flag = s > self.threshold
        return SimpleNamespace(score=s, threshold=self.threshold, is_anomaly=flag,
                               severity=np.where(flag, 100.0, 0.0),
                               components={"reconstruction": s},
                               top_features=[["unseen"]] * len(s))

    def score_series(self, x):
        res = self.score_windows(np.lib.stride_tricks.sliding_window_view(
            x, (self.window, x.shape[1]))[:, 0])
        pad = self.window - 1
        res.score = np.concatenate([np.full(pad, np.nan), res.score])
        res.is_anomaly = np.concatenate([np.zeros(pad, bool), res.is_anomaly])
        return res


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# ------------------------------------------------------------------ the streams


def events(rng: random.Random, mode: str, tolerance: float) -> list[tuple[float, str, list[str]]]:
    """(time, entity, lines) of each event in the order written: an event line and the
    trace lines joined to it."""
    entities = [f"svc-{i}" for i in range(rng.randint(1, 4))]
    quiet = {e: rng.random() < 0.3 for e in entities}  # sparse: a line every 5-40 s
    silenced = {e: (rng.randrange(len(KNOWN)), rng.uniform(60, 400)) for e in entities
                if rng.random() < 0.4}  # a template that goes silent after that time
    away = {e: (rng.uniform(40, 300), rng.uniform(20, 150)) for e in entities
            if rng.random() < 0.4}  # an entity silent for a while (over the gap, or not)
    n = rng.randint(30, 160)
    out: list[tuple[float, str, list[str]]] = []
    t = T0 + rng.uniform(0, 10)
    for i in range(n):
        if 3 <= i < n - 3 and rng.random() < 0.02:
            t += rng.uniform(GAP + 1, 3 * GAP)  # everyone silent past logs.gap_seconds
        e = rng.choice(entities)
        t += rng.uniform(5, 40) / len(entities) if quiet[e] else rng.expovariate(1.0)
        start, length = away.get(e, (math.inf, 0.0))
        if start <= t - T0 < start + length:
            continue
        burst = rng.randint(8, 30) if rng.random() < 0.03 else 1
        template = rng.choice(KNOWN) if rng.random() < 0.85 else rng.choice(UNSEEN)
        if e in silenced and t - T0 > silenced[e][1] and template == KNOWN[silenced[e][0]]:
            template = KNOWN[(silenced[e][0] + 1) % len(KNOWN)]
        # a burst's lines in time order: they are one entity's (module docstring)
        for ts in sorted(t + rng.uniform(0, 0.9) * (burst > 1) for _ in range(burst)):
            level = rng.choice(["INFO"] * 6 + ["WARN", "ERROR"])
            lines = [f"{stamp(ts)} {e} {level} {template.format(n=rng.randint(1, 999))}"]
            r = rng.random()
            if r < 0.06:
                lines += JAVA[:rng.randint(2, len(JAVA))]
            elif r < 0.1:
                lines += PYTHON
            out.append((ts, e, lines))
    out.sort(key=lambda ev: ev[0])  # a burst's lines interleave with the others'
    # no stray first or last line: score leaves it out (a clock set wrong?), serve counts it
    while len(out) > 2 and out[1][0] - out[0][0] > GAP:
        del out[0]
    while len(out) > 2 and out[-1][0] - out[-2][0] > GAP:
        del out[-1]
    # small disorder: swap neighbours of other entities within the tolerance, or of one
    # entity within one bucket (per N lines a line's time only sets its bucket's time)
    i = 0
    while i < len(out) - 1:
        (ta, ea, _), (tb, eb, _) = out[i], out[i + 1]
        same_bucket = mode == "lines" or math.floor(ta / 10) == math.floor(tb / 10)
        if rng.random() < 0.15 and (tb - ta <= tolerance if ea != eb else same_bucket):
            out[i], out[i + 1] = out[i + 1], out[i]
            i += 1  # each line moves one place at most
        i += 1
    return out


BAD = {
    "banner": lambda ts: b"=== service restarted ===",
    "not_utf8": lambda ts: f"{stamp(ts)} svc-0 INFO caf".encode() + b"\xe9 au lait",
    "oversized": lambda ts: f"{stamp(ts)} svc-0 INFO {'x' * (MAX_EVENT_BYTES + 10)}".encode(),
    "no_entity": lambda ts: f"{stamp(ts)} INFO a line without its entity".encode(),
    "trace_alone": lambda ts: b"\tat shop.Orphan.run(Orphan.java:1)",  # no event before it
}


def units(rng: random.Random, evs) -> list[bytes]:
    """Each event with its trace, as bytes, with a bad line now and then between them."""
    out = []
    for i, (ts, _, lines) in enumerate(evs):
        if 3 <= i < len(evs) - 3 and rng.random() < 0.04:
            kind = rng.choice(sorted(BAD))
            if kind == "trace_alone":
                # a trace line with no event before it: a record's start, and after a banner in
                # a file (a record never starts with one that a file joins: module docstring)
                out.append(BAD["banner"](ts) + b"\n" + BAD[kind](ts))
            else:
                out.append(BAD[kind](ts))
        out.append("\n".join(lines).encode())
    return out


def records(rng: random.Random, us: list[bytes]) -> list[bytes]:
    """The units as Kafka records: one each, or a few in one record (a shipper's batch)."""
    out, i = [], 0
    while i < len(us):
        k = 1 if rng.random() < 0.7 else rng.randint(2, 4)
        out.append(b"\n".join(us[i:i + k]))
        i += k
    return out


# ------------------------------------------------------------------ both sides


def served(det, recs: list[bytes], rng: random.Random, tolerance: float):
    """Per entity: the rows ``serve`` closed, the windows it scored (in order), its alerts."""
    batches, i = [], 0
    while i < len(recs):
        n = rng.randint(1, 40)
        batches.append([Record(i + j, b"k", v) for j, v in enumerate(recs[i:i + n])])
        i += n
    cfg = config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "windows": {"max_event_bytes": MAX_EVENT_BYTES, "reorder_tolerance_seconds": tolerance},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0},
        "kafka": {"scores_topic": "scores"}}}).serve
    io = FakeIO([])
    scorer = Scorer(cfg, det, io, StreamMetrics(CollectorRegistry()), clock=lambda: T0 + 1e6)
    feed = scorer.intake.logs
    rows: dict[str, list] = {}
    add = feed.add

    def counted(*args, **kwargs):
        closed = add(*args, **kwargs)
        for r in closed:
            rows.setdefault(r.entity, []).append(r)
        return closed

    feed.add = counted
    for batch in batches:  # a commit now and then, as serve's interval does
        io.batches.append(batch)
        scorer.step()
        if rng.random() < 0.5:
            assert scorer._commit(force=True)
    scorer._score_batch()  # at shutdown (Scorer.drain)
    assert scorer._commit(force=True)
    scorer._pool.shutdown()
    windows: dict[str, list] = {}
    for t, _, v, _ in io.sent:
        if t == "scores":
            r = json.loads(v)
            windows.setdefault(r["entity"], []).append(
                (r["window_start_ts"], r["window_end_ts"], r["score"], r["is_anomaly"]))
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]
    buckets = next(iter(feed._buckets.values()), None)
    return rows, windows, alerts, {} if buckets is None else dict(buckets._open)


def scored_offline(det, path):
    """Per entity: ``score``'s rows, its windows (in order) and their explanations."""
    evs, _ = read_for_log_model(det.config, str(path))
    runs = score_log_events(det, load_log_model(det), evs, explain_anomalies_only=False)
    rows: dict[str, list] = {}
    windows: dict[str, list] = {}
    for run in runs:
        rows.setdefault(run.entity, []).extend(run.rows)
        if run.scores is None:
            continue
        for i in range(det.window - 1, len(run.rows)):
            windows.setdefault(run.entity, []).append((
                run.rows[i - det.window + 1].end_ts, run.rows[i].end_ts,
                float(run.scores.score[i]), bool(run.scores.is_anomaly[i]),
                len(rows[run.entity]) - len(run.rows) + i, run.explanations[i]))
    return rows, windows


def terms(explained: list[dict]) -> list[dict]:
    """An explanation without its example lines: where an entity's lines come out of order
    within a bucket, ``score`` takes a template's first lines in time order and ``serve`` in
    the order they came (left as it is: the counts, and so the scores, are the same)."""
    return [{k: v for k, v in e.items() if k != "examples"} for e in explained]


def compare(mode: str, seed: int, tmp_path) -> dict[str, int]:
    rng = random.Random(seed)
    tolerance = rng.choice([0.0, 5.0, 25.0]) if mode == "time" else 0.0
    logs = ({"bucket_seconds": 10.0} if mode == "time"
            else {"bucket_seconds": None, "bucket_lines": rng.choice([1, 3, 5])})
    det = Weighed(logs, seed)
    evs = events(rng, mode, tolerance)
    us = units(rng, evs)
    recs = records(rng, us)
    path = tmp_path / f"{mode}-{seed}.log"
    path.write_bytes(b"\n".join(us) + b"\n")
    live_rows, live_windows, alerts, still_open = served(det, recs, rng, tolerance)
    file_rows, file_windows = scored_offline(det, path)
    where = f"{mode} seed {seed} (tolerance {tolerance})"
    assert set(live_rows) <= set(file_rows), where
    for entity, want in file_rows.items():
        got = live_rows.get(entity, [])
        n = len(got)
        assert [(r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in got] == [
            (r.start_ts, r.end_ts, r.lines, r.values.tolist()) for r in want[:n]], (where, entity)
        tail = want[n:]
        if mode == "time":  # the tail: the open bucket on
            if tail:
                assert entity in still_open, (where, entity, tail[0].start_ts)
                assert tail[0].start_ts == still_open[entity].index * 10.0, (where, entity)
        else:  # one partial bucket: open in serve, or forgotten by its gap rule at a commit
            assert len(tail) <= 1 and all(r.lines < logs["bucket_lines"] for r in tail), (
                where, entity)
        offline = [w for w in file_windows.get(entity, []) if w[4] < n]
        live = live_windows.get(entity, [])
        assert [w[:2] + (w[3],) for w in live] == [w[:2] + (w[3],) for w in offline], (
            where, entity)
        np.testing.assert_allclose([w[2] for w in live], [w[2] for w in offline],
                                   rtol=1e-12, atol=1e-12, err_msg=f"{where} {entity}")
    for a in alerts:  # each alert names the templates score names for its window
        same = [terms(w[5]) for w in file_windows[a["entity"]]
                if w[1] == a["window_end_ts"] and w[3]]
        assert terms(a["templates"]) in same, (where, a["entity"], a["window_end_ts"])
    return {"rows": sum(map(len, live_rows.values())),
            "windows": sum(map(len, live_windows.values())), "alerts": len(alerts)}


@pytest.mark.parametrize("mode", ["time", "lines"])
def test_serve_scores_the_lines_of_a_file_as_score_does(mode, tmp_path):
    seen = {"rows": 0, "windows": 0, "alerts": 0}
    for seed in range(40):
        for k, v in compare(mode, seed, tmp_path).items():
            seen[k] += v
    assert seen["windows"] > 500 and seen["alerts"] > 20, seen  # the cases compared something
