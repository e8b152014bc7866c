"""Seeded differential test of a logs retrain's row source: the same lines given as a log
file (``retrain --data``, :func:`~anomaly_gan.retrain.logs.read_log_files_rows`) and as
records of the input topic (``retrain --from/--to``,
:func:`~anomaly_gan.retrain.logs.read_log_range_rows`) give the same segments: entity, row
times (a bucket's end) and feature rows. ``anomaly_gan/retrain/logs.py`` promises it: lines
are counted in time order, as offline, whatever the partitions; a row's time is its
bucket's end. And those rows are the ones ``score`` counts for the file
(:func:`~anomaly_gan.logs.offline.log_rows_to_score`, split into runs as
:func:`~anomaly_gan.logs.offline.score_log_rows` scores them): a retrain trains on the rows
``score`` (and ``serve``: tests/logs/test_serve_equals_score_fuzz.py) windows.

No broker and no training: the model is the current version of a store, a
:class:`~anomaly_gan.logs.model.LogModel` mined from a few lines (``fit_log_model``), and the
topic read (:func:`~anomaly_gan.retrain.source.read_topic_range`) is replaced by one that
hands the records to the reader's ``on_record``, the partitions interleaved at random in
poll-sized runs (a partition's records in their order), as a consumer's polls give them.

Each seed makes a stream of several entities: bursts, silences past ``logs.gap_seconds``
(of all entities and of one), stack traces joined to their event (Java, Python), bad lines
(a banner, a line without its entity, bytes that are not UTF-8, an event over
``serve.windows.max_event_bytes``; in JSON and OTLP a line that is no document, a log record
without a body), late lines (stamped up to minutes behind lines written before them), a line
stamped a day ahead of the wall clock, and a stray first or last line (years off). The
formats are regex, json and otlp_json; the buckets 10 s (``logs.bucket_seconds``) or a bucket
every 2-7 lines (``logs.bucket_lines``). The topic's layout is one partition, the entities
keyed to partitions, or every record on any partition (a producer without keys); a record
holds one event (json: always, as serve reads it), or, in regex, several consecutive lines of
its partition (a shipper's batch; an event's trace always with it), or in otlp_json a batch of
log records.

Compared where comparable, and where not by design, as the module docstring says:

- a line stamped ahead of the wall clock is ``future_timestamp`` invalid from the topic (as
  in ``serve``), one invalid part with its trace lines, and left out of the count
  (``late``) from a file: the topic's ``future_timestamp`` is the number of such lines, its
  ``late`` plus those equal the file's ``late``, the other invalid counts are equal (until
  2026-12-07 a regex record's trace lines of such a line were ``no_match`` orphans, one each);
- ``events_read`` counts every log record read, the invalid ones too, of a topic and
  (since 2026-12-07, 68cfec7) of files alike: the two are equal (a line stamped ahead is
  an invalid record of the topic and a line of the file left out as late).

``RETRAIN_LOGS_FUZZ_SEEDS`` (default 12) seeds per format and bucket mode, from
``RETRAIN_LOGS_FUZZ_SEED_START`` (default 0): ``RETRAIN_LOGS_FUZZ_SEED_START=17
RETRAIN_LOGS_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.logs.model import LogModel, fit_log_model
from anomaly_gan.logs.offline import log_rows_to_score, read_for_log_model, series_of
from anomaly_gan.retrain import source
from anomaly_gan.retrain.logs import read_log_files_rows, read_log_range_rows

SEEDS = int(os.environ.get("RETRAIN_LOGS_FUZZ_SEEDS", "12"))
SEED_START = int(os.environ.get("RETRAIN_LOGS_FUZZ_SEED_START", "0"))
FORMATS = ("regex", "json", "otlp_json")
MODES = ("time", "lines")
T0 = 1_700_000_000.0  # 2023-11-14: behind the wall clock
GAP = 60.0
MAX_EVENT_BYTES = 1024
REGEX = r"^(?P<ts>\S+) (?:(?P<entity>[a-z][\w-]*) )?(?P<level>[A-Z]+) (?P<message>.*)$"
TRAINING = ["GET /a/1 200", "GET /b/2 404", "cache flushed", "user 5 logged in",
            "payment failed for order 7", "disk usage at 91 percent"] * 3
KNOWN = ["GET /a/{n} 200", "GET /b/{n} 404", "cache flushed", "user {n} logged in",
         "payment failed for order {n}", "disk usage at {n} percent"]
UNSEEN = ["kernel panic on cpu {n}", "rebalancing shard {n} of index orders"]
JAVA = ["java.lang.IllegalStateException: no session", "\tat shop.Cart.add(Cart.java:42)",
        "\tat shop.Api.handle(Api.java:7)", "Caused by: java.io.IOException: reset",
        "\t... 12 more"]
PYTHON = ["Traceback (most recent call last):", '  File "/app/pay.py", line 3, in charge',
          "    raise ValueError('card declined')", "ValueError: card declined"]
SEVERITY = {"INFO": 9, "WARN": 13, "ERROR": 17}


class TP(NamedTuple):
    topic: str
    partition: int


class Unit(NamedTuple):
    """One event with its trace, or one bad line (``ts`` then a neighbour's time)."""

    ts: float
    entity: str
    level: str
    message: str
    trace: tuple[str, ...]
    bad: str  # "" for an event, else the kind of bad line


@dataclass
class Case:
    fmt: str
    mode: str
    cfg: Any
    units: list[Unit]
    file_lines: list[bytes]
    partitions: list[list[tuple[bytes, float]]]  # each partition's records, (value, time)
    layout: str
    seed: int


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def make_units(rng: random.Random, mode: str) -> list[Unit]:
    entities = [f"svc-{i}" for i in range(rng.randint(2, 5))]
    quiet = {e: rng.random() < 0.3 for e in entities}
    used: set[int] = set()  # one line per millisecond: per N lines ties have no order

    def at(ts: float) -> float:
        ms = round(ts * 1000)
        while ms in used:
            ms += 1
        used.add(ms)
        return ms / 1000

    units: list[Unit] = []
    t = T0 + rng.uniform(0, 10)
    n = rng.randint(60, 260)
    for i in range(n):
        roll = rng.random()
        if 3 <= i < n - 3 and roll < 0.02:
            t += rng.uniform(GAP + 1, 4 * GAP)  # every entity silent past the gap
        e = rng.choice(entities)
        if roll > 0.99:
            t += rng.uniform(GAP + 1, 3 * GAP)  # one line after a silence of its own
        t += rng.uniform(5, 40) / len(entities) if quiet[e] else rng.expovariate(1.0)
        r = rng.random()
        if 2 <= i < n - 2 and r < 0.05:
            units.append(Unit(t, e, "INFO", "", (), rng.choice(
                ["banner", "no_entity", "not_utf8", "oversized", "doc", "no_body"])))
            continue
        ts = t
        if units and r < 0.10:
            ts = t - rng.choice([0.5, 3.0, 12.0, 45.0, 200.0])  # late: behind lines before
        elif r < 0.11:
            ts = time.time() + 86_400.0  # a day ahead of the wall clock
        burst = rng.randint(5, 20) if rng.random() < 0.03 else 1
        for k in range(burst):
            template = rng.choice(KNOWN) if rng.random() < 0.85 else rng.choice(UNSEEN)
            tr = rng.random()
            trace = tuple(JAVA[:rng.randint(2, len(JAVA))] if tr < 0.05
                          else PYTHON if tr < 0.08 else ())
            level = rng.choice(["INFO"] * 6 + ["WARN", "ERROR"])
            units.append(Unit(at(ts + 0.01 * k), e, level, template.format(n=rng.randint(1, 999)),
                              trace, ""))
    if rng.random() < 0.3:  # a stray line: a clock set years off, first or last
        first = rng.random() < 0.5
        stray = Unit(at(T0 - 3e7 if first else T0 + 3e7), entities[0], "INFO", "cache flushed",
                     (), "")
        units.insert(0 if first else len(units), stray)
    return units


def regex_text(u: Unit) -> bytes:
    if u.bad == "banner" or u.bad in ("doc", "no_body"):
        return b"=== service restarted ==="
    if u.bad == "no_entity":
        return f"{stamp(u.ts)} INFO a line without its entity".encode()
    if u.bad == "not_utf8":
        return f"{stamp(u.ts)} svc-0 INFO caf".encode() + b"\xe9 au lait"
    if u.bad == "oversized":
        return f"{stamp(u.ts)} svc-0 INFO {'x' * (MAX_EVENT_BYTES + 10)}".encode()
    return "\n".join([f"{stamp(u.ts)} {u.entity} {u.level} {u.message}", *u.trace]).encode()


def json_text(u: Unit) -> bytes:
    if u.bad in ("banner", "doc", "not_utf8"):
        return b"=== service restarted ===" if u.bad != "not_utf8" else \
            b'{"entity": "svc-0", "message": "caf\xe9"}'
    doc: dict[str, Any] = {"ts": stamp(u.ts), "entity": u.entity, "level": u.level,
                           "message": "\n".join([u.message, *u.trace])}
    if u.bad == "no_entity":
        del doc["entity"]
    elif u.bad == "no_body":
        del doc["message"]
    elif u.bad == "oversized":
        doc["message"] = "x" * (MAX_EVENT_BYTES + 10)
    return json.dumps(doc).encode()


def log_record(u: Unit) -> dict:
    ns = round(u.ts * 1000) * 1_000_000
    rec: dict[str, Any] = {"timeUnixNano": str(ns), "severityNumber": SEVERITY[u.level],
                           "body": {"stringValue": "\n".join([u.message, *u.trace])}}
    if u.bad in ("no_body", "banner"):
        del rec["body"]
    elif u.bad == "oversized":
        rec["body"] = {"stringValue": "x" * (MAX_EVENT_BYTES + 10)}
    return rec


def otlp_document(units: list[Unit]) -> bytes:
    """One batch: a resource per log record, named by ``service.name`` (none for a log
    record without an entity)."""
    resources = []
    for u in units:
        attrs = ([] if u.bad == "no_entity" else
                 [{"key": "service.name", "value": {"stringValue": u.entity}}])
        resources.append({"resource": {"attributes": attrs},
                          "scopeLogs": [{"scope": {"name": "app"},
                                         "logRecords": [log_record(u)]}]})
    return json.dumps({"resourceLogs": resources}, separators=(",", ":")).encode()


def alone(fmt: str, u: Unit) -> bool:
    """A unit that is a line (a record) of its own: one that is no OTLP document."""
    return fmt == "otlp_json" and u.bad in ("doc", "not_utf8")


def pieces(rng: random.Random, fmt: str, units: list[Unit], most: int) -> list[bytes]:
    """``units`` in order as lines of a file or records of a partition: runs of up to
    ``most`` units in one (regex: their lines; otlp_json: a batch)."""
    out: list[bytes] = []
    i = 0
    while i < len(units):
        u = units[i]
        if fmt == "json" or alone(fmt, u):
            out.append(json_text(u) if fmt == "json" else
                       b"not an OTLP document" if u.bad == "doc" else b'{"resourceLogs": "\xe9"}')
            i += 1
            continue
        k = 1
        want = rng.randint(1, most) if rng.random() < 0.4 else 1
        while k < want and i + k < len(units) and not alone(fmt, units[i + k]):
            k += 1
        run = units[i:i + k]
        out.append(b"\n".join(regex_text(v) for v in run) if fmt == "regex"
                   else otlp_document(run))
        i += k
    return out


def fuzz_case(fmt: str, mode: str, seed: int) -> Case:
    rng = random.Random(f"{fmt}/{mode}/{seed}")
    parsing = {"format": "regex", "regex": REGEX} if fmt == "regex" else {"format": fmt}
    buckets = ({"bucket_seconds": 10.0} if mode == "time"
               else {"bucket_seconds": None, "bucket_lines": rng.randint(2, 7)})
    cfg = config_from_dict({
        "model": {"backbone": "dense"}, "data": {"window": 3},
        "serve": {"windows": {"max_event_bytes": MAX_EVENT_BYTES}},
        "logs": {**parsing, **buckets, "top_k": 3, "gap_seconds": GAP, "bad_lines": "skip"}},
        "retrain logs fuzz")
    units = make_units(rng, mode)
    file_lines = [line for p in pieces(rng, fmt, units, 1 if fmt == "regex" else 6)
                  for line in ([p] if fmt != "regex" else p.split(b"\n"))]
    # per N lines an entity's lines are counted in the order given (a file's, a partition's):
    # an entity's lines spread over partitions have no order to recover (not generated)
    layout = rng.choice(["one", "keyed", "any"] if mode == "time" else ["one", "keyed"])
    n_parts = 1 if layout == "one" else rng.randint(2, 4)
    home = {e: rng.randrange(n_parts) for e in {u.entity for u in units}}
    split: list[list[Unit]] = [[] for _ in range(n_parts)]
    for u in units:
        keyed = layout == "keyed" and not u.bad
        split[home[u.entity] if keyed else rng.randrange(n_parts)].append(u)
    partitions = []
    for part in split:
        records = pieces(rng, fmt, part, 5)
        # a record's Kafka time: the time of its part of the stream (a year-less stamp's)
        times = [part[0].ts if part else T0] * len(records)
        partitions.append(list(zip(records, times, strict=True)))
    return Case(fmt, mode, cfg, units, file_lines, partitions, layout, seed)


def current_version(cfg: Any) -> SimpleNamespace:
    """A store's current version: its config and log model (no networks are read)."""
    model, _ = fit_log_model(cfg.logs, TRAINING)
    return SimpleNamespace(version="v1", config=cfg, extras={"logs": model.to_dict()})


def topic_rows(case: Case, info: Any, monkeypatch: pytest.MonkeyPatch, rng: random.Random):
    """The rows of the case's records read as a range of the topic: the partitions
    interleaved in runs of 1-8 records, each partition's in its order."""
    queues = [list(p) for p in case.partitions]
    order: list[tuple[TP, Any]] = []
    while any(queues):
        p = rng.choice([i for i, q in enumerate(queues) if q])
        for _ in range(rng.randint(1, 8)):
            if not queues[p]:
                break
            value, ts = queues[p].pop(0)
            order.append((TP("logs", p), SimpleNamespace(value=value, timestamp=int(ts * 1000))))

    def read_topic_range(k, topic, start_ms, end_ms, on_record, on_progress=None, **_kw):
        for tp, m in order:
            on_record(tp, m)
        return len(order)

    monkeypatch.setattr(source, "read_topic_range", read_topic_range)
    rows, _ = read_log_range_rows(case.cfg, info, T0 - 1e8, T0 + 1e8, lambda _m: None)
    return rows


def score_runs(case: Case, info: Any, path: str) -> list[tuple[str, list[float], np.ndarray]]:
    """What ``score`` counts for the file: its runs of bucket rows, as count rows."""
    model = LogModel.from_dict(case.cfg.logs, info.extras["logs"])
    model.miner.reset_new()
    events, _ = read_for_log_model(case.cfg, path)
    rows = log_rows_to_score(case.cfg, model, events)
    return sorted(((entity, [r.end_ts for r in run], np.stack([r.values for r in run]))
                   for entity, series in rows.items() for entity_rows in series
                   for run in series_of(entity_rows, model.max_hole_seconds)),
                  key=lambda s: (s[0], s[1][0]))


def describe(segments) -> list[tuple[str, int, float, float]]:
    return [(s.entity, len(s), float(s.ts[0]), float(s.ts[-1])) for s in segments]


def check(case: Case, tmp_path, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    info = current_version(case.cfg)
    path = tmp_path / f"{case.fmt}-{case.mode}-{case.seed}.log"
    path.write_bytes(b"\n".join(case.file_lines) + b"\n")
    files, names, model = read_log_files_rows(case.cfg, [str(path)], info, lambda _m: None)
    topic = topic_rows(case, info, monkeypatch, random.Random(case.seed))
    where = f"{case.fmt}/{case.mode} seed {case.seed} ({case.layout})"

    a, b = files.segments, topic.segments
    assert describe(a) == describe(b), (
        f"{where}: segments (entity, rows, first, last) of the file "
        f"{[d for d in describe(a) if d not in describe(b)][:3]}, of the topic "
        f"{[d for d in describe(b) if d not in describe(a)][:3]}")
    for s, t in zip(a, b, strict=True):
        assert np.array_equal(s.ts, t.ts), f"{where}: {s.entity}: row times differ"
        assert np.array_equal(s.values, t.values), (
            f"{where}: {s.entity}: rows differ at "
            f"{[float(x) for x in s.ts[(s.values != t.values).any(axis=1)]][:3]}")

    future = topic.invalid.get("future_timestamp", 0)
    # the topic's parser refuses a line stamped ahead (as serve's) with its trace, one
    # invalid part, where a file's line joins its trace and is left out once (until
    # 2026-12-07 the topic's trace lines were no_match orphans, one each)
    ahead = sum(1 for u in case.units if not u.bad and u.ts > time.time())
    assert future == ahead, f"{where}: {future} future_timestamp, {ahead} lines ahead"
    want = Counter(files.invalid)
    assert Counter({k: v for k, v in topic.invalid.items() if k != "future_timestamp"}) == want, where
    assert topic.late + future == files.late, where
    assert topic.events_read == files.events_read, where

    # the rows score counts for the file (raw counts: a segment's volume_drop column is the
    # retrain's new means', model.features' log1p of the counts)
    scored = score_runs(case, info, str(path))
    assert [(e, ts) for e, ts, _ in scored] == [(s.entity, s.ts.tolist()) for s in a], (
        f"{where}: score's runs differ from the retrain's segments")
    n = len(names) - int(model.volume_drop)
    for (_, _, counts), s in zip(scored, a, strict=True):
        expect = counts.copy()
        expect[:, : model.n_counts] = np.log1p(counts[:, : model.n_counts])
        assert np.array_equal(expect, s.values[:, :n]), f"{where}: {s.entity}: score's rows"

    return Counter({"segments": len(a), "rows": sum(len(s) for s in a),
                    "invalid": sum(files.invalid.values()), "future": future,
                    "late": files.late, "traced": sum(bool(u.trace) for u in case.units),
                    "several partitions": int(len(case.partitions) > 1),
                    "entity on several": int(case.layout == "any" and len(case.partitions) > 1),
                    "records of several": sum(value.count(b"\n20") + value.count(b'"resource":') > 1
                                              for part in case.partitions for value, _ in part)})


@pytest.mark.parametrize("seed", range(SEED_START, SEED_START + SEEDS))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_topic_range_gives_the_rows_of_the_same_lines_in_a_file(fmt, mode, seed, tmp_path,
                                                                  monkeypatch):
    check(fuzz_case(fmt, mode, seed), tmp_path, monkeypatch)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fmt", FORMATS)
def test_the_streams_are_as_tangled_as_they_say(fmt, mode, tmp_path, monkeypatch):
    """Over the first eight seeds of a format and mode, every case the docstring lists."""
    seen: Counter[str] = Counter()
    for seed in range(8):
        seen.update(check(fuzz_case(fmt, mode, seed), tmp_path, monkeypatch))
    wanted = ["segments", "invalid", "future", "several partitions", "traced", "late"] + (
        ["entity on several"] if mode == "time" else []) + (
        ["records of several"] if fmt != "json" else [])  # json: one event a record
    assert all(seen[k] for k in wanted), seen
