"""The seeded log streams of the score-vs-serve fuzz and serve's side of it
(tests/logs/test_serve_equals_score_fuzz.py, whose docstring says what is generated and what
is left out on purpose), shared by the fuzz tests built on it: the eviction and rebalance
fuzzes and tests/stream/test_serve_fuzz.py (its ``polls``). ``stream`` makes a case: a
detector (``Weighed``), each partition's Kafka records and the file of its lines; ``run``
serves it through a ``Scorer`` over ``Partitions``; ``windows``, ``alerts`` and
``published`` read what it sent; ``add_runs``, ``debounced_as_series`` and
``alert_decisions`` put ``score``'s side in the same terms."""

from __future__ import annotations

import itertools
import json
import math
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any, NamedTuple

import numpy as np
from google.protobuf import json_format
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import score_log_events
from anomaly_gan.stream.alerts import Debouncer, debounce
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.logs.conftest import SeriesFromWindows
from tests.support.otlp import framed, to_proto
from tests.support.stream_fakes import TP, Partitions, Record

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


class Weighed(SeriesFromWindows):
    """A logs detector whose score is a fixed weighted sum of a window's features (every
    column counts), over a fixed threshold; ``score_series`` scores a file's rows as
    :meth:`Detector.score_series` does (NaN before the first whole window)."""

    def __init__(self, logs: dict, seed: int):
        parsing = {} if "format" in logs else {"format": "regex", "regex": REGEX}
        self.config = config_from_dict({
            "model": {"backbone": "dense"}, "data": {"window": 3},
            "serve": {"windows": {"max_event_bytes": MAX_EVENT_BYTES}},
            "logs": {**parsing, "top_k": 3, "gap_seconds": GAP, "bad_lines": "skip", **logs}})
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


def stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# ------------------------------------------------------------------ the streams


class Event(NamedTuple):
    ts: float
    entity: str
    level: str
    message: str
    trace: list[str]


def events(rng: random.Random, mode: str, tolerance: float, *, across: bool = True
           ) -> list[Event]:
    """Each event in the order written, with the trace lines joined to it. ``across``: lines
    of two entities may swap places within the tolerance (not where a kill is simulated:
    docs/logs.md, Live, "Left: where an entity's lines come out of time order against the
    others' ... a replay can still rebuild one of its older buckets partly")."""
    entities = [f"svc-{i}" for i in range(rng.randint(1, 4))]
    quiet = {e: rng.random() < 0.3 for e in entities}  # sparse: a line every 5-40 s
    silenced = {e: (rng.randrange(len(KNOWN)), rng.uniform(60, 400)) for e in entities
                if rng.random() < 0.4}  # a template that goes silent after that time
    away = {e: (rng.uniform(40, 300), rng.uniform(20, 150)) for e in entities
            if rng.random() < 0.4}  # an entity silent for a while (over the gap, or not)
    n = rng.randint(30, 160)
    out: list[Event] = []
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
        # a burst's lines in time order: they are one entity's (module docstring); times in
        # whole milliseconds, as every format below writes them
        for ts in sorted(round(t + rng.uniform(0, 0.9) * (burst > 1), 3) for _ in range(burst)):
            level = rng.choice(["INFO"] * 6 + ["WARN", "ERROR"])
            r = rng.random()
            trace = (JAVA[:rng.randint(2, len(JAVA))] if r < 0.06 else PYTHON if r < 0.1
                     else [])
            out.append(Event(ts, e, level, template.format(n=rng.randint(1, 999)), trace))
    out.sort(key=lambda ev: ev.ts)  # a burst's lines interleave with the others'
    out = no_strays(out)
    # small disorder: swap neighbours of other entities within the tolerance, or of one
    # entity within one bucket (per N lines a line's time only sets its bucket's time)
    i = 0
    while i < len(out) - 1:
        a, b = out[i], out[i + 1]
        same_bucket = mode == "lines" or math.floor(a.ts / 10) == math.floor(b.ts / 10)
        if rng.random() < 0.15 and (across and b.ts - a.ts <= tolerance if a.entity != b.entity
                                    else same_bucket):
            out[i], out[i + 1] = b, a
            i += 1  # each line moves one place at most
        i += 1
    return out


def no_strays(evs: list[Event]) -> list[Event]:
    """No stray first or last line: score leaves it out (a clock set wrong?), serve counts it
    (docs/logs.md, Offline); a file (a partition) of lines this sparse is left as it is."""
    while len(evs) > 2 and evs[1].ts - evs[0].ts > GAP:
        del evs[0]
    while len(evs) > 2 and evs[-1].ts - evs[-2].ts > GAP:
        del evs[-1]
    return evs


BAD = {
    "banner": lambda ts: b"=== service restarted ===",
    "not_utf8": lambda ts: f"{stamp(ts)} svc-0 INFO caf".encode() + b"\xe9 au lait",
    "oversized": lambda ts: f"{stamp(ts)} svc-0 INFO {'x' * (MAX_EVENT_BYTES + 10)}".encode(),
    "no_entity": lambda ts: f"{stamp(ts)} INFO a line without its entity".encode(),
    "trace_alone": lambda ts: b"\tat shop.Orphan.run(Orphan.java:1)",  # no event before it
}


#: The invalid parts (by reason) of each of BAD's lines
BAD_REASONS = {"banner": {"no_match": 1}, "not_utf8": {"not_utf8": 1},
               "oversized": {"oversized": 1}, "no_entity": {"missing_field": 1},
               "trace_alone": {"no_match": 2}}  # the banner before it, and itself

#: Ahead of serve's clock (the scorer's, T0 + 1e6) and of score's (the wall clock) by more
#: than serve.windows.max_future_skew_seconds: about 63 years
AHEAD = 2e9

#: Event lines that logs.regex matches but that are refused, each written with a trace (its
#: reason, its line): one invalid part with its trace lines, in a file and in a record
#: (docs/logs.md, Multi-line events; until 2026-12-07 each trace line was a no_match orphan
#: of its own). A line stamped ahead of the clock is serve's future_timestamp, where a file's
#: reader takes any time and score leaves it out of the count (Offline).
REFUSED = {
    "bad_timestamp": ("bad_timestamp",
                      lambda ev: f"2026-13-45T99:00:00.000Z {ev.entity} ERROR {ev.message}"),
    "long_entity": ("oversized",  # over serve.windows.max_entity_bytes (512)
                    lambda ev: f"{stamp(ev.ts)} svc-{'x' * 600} ERROR {ev.message}"),
    "long_line": ("oversized",  # over serve.windows.max_event_bytes
                  lambda ev: f"{stamp(ev.ts)} {ev.entity} ERROR {'x' * (MAX_EVENT_BYTES + 10)}"),
    "no_entity": ("missing_field", lambda ev: f"{stamp(ev.ts)} ERROR {ev.message}"),
    "future": ("future_timestamp",
               lambda ev: f"{stamp(ev.ts + AHEAD)} {ev.entity} ERROR {ev.message}"),
}


def regex_units(rng: random.Random, evs: list[Event], spec: dict) -> list[bytes]:
    """Each event with its trace, as text lines, with a bad line now and then between them,
    and now and then a refused event line with a trace (REFUSED) before or after an event's
    lines in its unit (drawn from ``spec["refused"]``, a random source of its own, so that
    the streams of the seeds searched before are the same but for these lines).
    ``spec["invalid"]`` counts the invalid parts written, by reason, ``spec["invalid_lines"]``
    their lines, and ``spec["refused_traced"]`` the refused event lines with a trace."""
    out: list[bytes] = []
    refused, invalid, lines_of = spec["refused"], spec["invalid"], spec["invalid_lines"]
    for i, ev in enumerate(evs):
        if 3 <= i < len(evs) - 3 and rng.random() < 0.04:
            kind = rng.choice(sorted(BAD))
            if kind == "trace_alone":
                # a trace line with no event before it: a record's start, and after a banner in
                # a file (a record never starts with one that a file joins: module docstring)
                out.append(BAD["banner"](ev.ts) + b"\n" + BAD[kind](ev.ts))
            else:
                out.append(BAD[kind](ev.ts))
            invalid.update(BAD_REASONS[kind])
            lines_of.update(BAD_REASONS[kind])  # each part a line
        lines = [f"{stamp(ev.ts)} {ev.entity} {ev.level} {ev.message}", *ev.trace]
        if 3 <= i < len(evs) - 3 and refused.random() < 0.05:
            reason, line = REFUSED[refused.choice(sorted(REFUSED))]
            trace = JAVA[:refused.randint(2, len(JAVA))] if refused.random() < 0.6 else PYTHON
            bad = [line(ev), *trace]
            lines = bad + lines if refused.random() < 0.5 else lines + bad
            invalid[reason] += 1
            lines_of[reason] += len(bad)
            spec["refused_traced"] += 1
        out.append("\n".join(lines).encode())
    return out


# logs.json_fields of structured loggers (docs/logs.md's table), and how their writers put
# each part: ECS's `log.level` flat or nested, journald's epoch µs as digits, pino's epoch ms
JSON_FIELDS = [
    {},
    {"message": "msg", "ts": "time", "level": "level", "entity": "hostname"},
    {"message": "message", "ts": "@timestamp", "level": "log.level", "entity": "service.name"},
    {"message": "MESSAGE", "ts": "__REALTIME_TIMESTAMP", "level": "PRIORITY",
     "entity": "_HOSTNAME"},
    {"message": "log", "ts": "time", "entity": ["kubernetes.namespace_name",
                                                "kubernetes.pod_name"]},
]
SYSLOG = {"INFO": 6, "WARN": 4, "ERROR": 3}  # severities (docs/logs.md, Log lines)
PINO = {"INFO": 30, "WARN": 40, "ERROR": 50}


def put(doc: dict, name: str, value, rng: random.Random) -> None:
    """``value`` under ``name``: a dotted name as one key, or as a path into nested objects."""
    if "." in name and rng.random() < 0.5:
        *path, last = name.split(".")
        for part in path:
            doc = doc.setdefault(part, {})
        name = last
    doc[name] = value


def json_time(rng: random.Random, ts: float):
    """RFC 3339, or epoch seconds, ms, µs or ns, as a number or as digits."""
    ms = round(ts * 1000)
    return rng.choice([stamp(ts), stamp(ts), round(ts, 3), ms, str(ms * 1000),
                       ms * 1_000_000])


def json_level(rng: random.Random, level: str):
    return rng.choice([level, level.lower(), SYSLOG[level], str(SYSLOG[level]), PINO[level],
                       PINO[level], "__left_out__", None])


def entity_value(rng: random.Random, entity: str, spec: dict):
    """An entity as written: ``svc-<n>``, or a node number written as an integer or digits
    (read as its digits); the entity named by logs.entity now and then leaves it out."""
    if entity == spec.get("default") and rng.random() < 0.5:
        return rng.choice(["__left_out__", None])
    if spec["numbered"]:
        n = int(entity.split("-")[1]) + 1000
        return rng.choice([n, str(n)])
    return entity


def json_doc(rng: random.Random, ev: Event, spec: dict) -> dict:
    fields = {"message": "message", "ts": "ts", "level": "level", "entity": "entity",
              **spec["fields"]}
    doc: dict = {}
    put(doc, fields["message"], "\n".join([ev.message, *ev.trace]), rng)
    put(doc, fields["ts"], json_time(rng, ev.ts), rng)
    level = json_level(rng, ev.level)
    if level != "__left_out__" and "level" in spec["fields"] or not spec["fields"]:
        put(doc, fields["level"], level, rng)
    value = entity_value(rng, ev.entity, spec)
    if isinstance(fields["entity"], list):  # a namespace and a pod
        if value not in ("__left_out__", None):
            put(doc, fields["entity"][0], "shop", rng)
            put(doc, fields["entity"][1], value, rng)
    elif value != "__left_out__":
        put(doc, fields["entity"], value, rng)
    if rng.random() < 0.2:
        doc["caller"] = "server/handler.go:42"  # fields that are not read
    return {k: v for k, v in doc.items() if v != "__left_out__"}


def bad_json(rng: random.Random, ev: Event, spec: dict) -> bytes:
    """A line that is no event: no JSON, no object, a part missing or of the wrong type."""
    doc = json_doc(rng, ev, {**spec, "default": None})
    fields = {"message": "message", "ts": "ts", "entity": "entity", **spec["fields"]}
    kind = rng.choice(["banner", "array", "no_message", "ts_list", "level_object",
                       "control", "oversized", "not_utf8", "message_number"])
    if kind == "banner":
        return b"=== service restarted ==="
    if kind == "array":
        return b'["not", "an", "object"]'
    if kind == "not_utf8":
        return json.dumps(doc).encode()[:-1] + b', "x": "caf\xe9"}'
    name = {"no_message": "message", "ts_list": "ts", "message_number": "message",
            "oversized": "message", "control": "entity", "level_object": "level"}[kind]
    key = fields.get(name, name)
    if isinstance(key, list):
        key = key[-1]
    flat = {k: v for k, v in doc.items() if "." not in key}
    value = {"no_message": None, "ts_list": [1, 2], "message_number": 42,
             "oversized": "x" * (MAX_EVENT_BYTES + 10), "control": "svc\x07bell",
             "level_object": {"n": 3}}[kind]
    if value is None:
        flat.pop(key, None)
        flat.pop(key.split(".")[0], None)
    else:
        flat.pop(key.split(".")[0], None)
        flat[key] = value
    return json.dumps(flat).encode()


def json_units(rng: random.Random, evs: list[Event], spec: dict) -> list[bytes]:
    out: list[bytes] = []
    for i, ev in enumerate(evs):
        if 3 <= i < len(evs) - 3 and rng.random() < 0.05:
            out.append(bad_json(rng, ev, spec))
        out.append(json.dumps(json_doc(rng, ev, spec)).encode())
    return out


SEVERITY = {"INFO": (9, "SEVERITY_NUMBER_INFO"), "WARN": (13, "SEVERITY_NUMBER_WARN"),
            "ERROR": (17, "SEVERITY_NUMBER_ERROR")}


def any_value(value) -> dict:
    return {"intValue": str(value)} if isinstance(value, int) else {"stringValue": value}


def log_record(rng: random.Random, ev: Event, spec: dict, entity_here: bool) -> dict:
    """One OTLP/JSON log record: its time in nanoseconds (digits, a number, or only the
    observed time), its level as text or a severity number (or its enum name), its entity
    among its attributes where ``entity_here``."""
    ns = round(ev.ts * 1000) * 1_000_000
    rec: dict = {}
    when = rng.random()
    if when < 0.6:
        rec["timeUnixNano"] = str(ns)
    elif when < 0.8:
        rec["timeUnixNano"] = ns
    else:
        rec.update({"timeUnixNano": rng.choice(["0", 0]) if when < 0.9 else None,
                    "observedTimeUnixNano": str(ns)})
    number, name = SEVERITY[ev.level]
    how = rng.random()
    if how < 0.4:
        rec["severityText"] = ev.level
    elif how < 0.6:
        rec.update(severityText="", severityNumber=number + rng.randrange(4))
    elif how < 0.8:
        rec["severityNumber"] = name
    body = "\n".join([ev.message, *ev.trace])
    rec["body"] = {"stringValue": body}
    attributes = [{"key": "thread.name", "value": {"stringValue": "main"}}]
    value = entity_value(rng, ev.entity, spec)
    if entity_here and value not in ("__left_out__", None):
        attributes.append({"key": spec["otlp_entity"], "value": any_value(value)})
    rec["attributes"] = attributes
    return {k: v for k, v in rec.items() if v is not None}


def bad_log_record(rng: random.Random, ev: Event, spec: dict) -> dict:
    rec = log_record(rng, ev, {**spec, "default": None}, True)
    # protobuf holds no part of the wrong type: a batch with one could not be sent, and
    # its good log records with it (proto_units)
    kind = rng.choice(["no_body", "empty_body", "oversized", "no_entity"] + (
        [] if spec.get("proto") else ["severity_number", "attributes", "bad_time"]))
    if kind == "no_entity" and spec["default"] is not None:
        # with logs.entity a log record that names no entity is that entity's (docs/logs.md,
        # OpenTelemetry, the entity row), no bad record: a line of it stamped as the batch's
        # first, anywhere in the batch, went back a bucket behind the entity's own later line
        # (late in serve, counted by score: Time buckets) or put it on a second partition
        kind = "no_body" if spec.get("proto") else "attributes"
    if kind == "no_body":
        del rec["body"]
    elif kind == "empty_body":
        rec["body"] = {}
    elif kind == "severity_number":
        rec["severityText"] = 17
    elif kind == "attributes":
        rec["attributes"] = {"service.name": "svc-0"}
    elif kind == "bad_time":
        rec["timeUnixNano"] = "yesterday"
    elif kind == "oversized":
        rec["body"] = {"stringValue": "x" * (MAX_EVENT_BYTES + 10)}
    else:
        rec["attributes"] = []  # and a resource without it: no entity, no logs.entity
    return rec


def otlp_batch(rng: random.Random, evs: list[Event], spec: dict, bad: bool) -> dict:
    """One ExportLogsServiceRequest: the entity on each log record, or on its resource (one
    resource per run of an entity's records), scopes split now and then."""
    resources = []
    on_resource = rng.random() < 0.5 and not bad
    for ev in evs:
        attrs = []
        if on_resource:
            value = entity_value(rng, ev.entity, spec)
            if value not in ("__left_out__", None):
                attrs = [{"key": spec["otlp_entity"], "value": any_value(value)}]
        if not resources or resources[-1][0] != attrs or not on_resource and rng.random() < .2:
            resources.append((attrs, []))
        resources[-1][1].append(log_record(rng, ev, spec, not on_resource))
    if bad:
        at = rng.randrange(len(resources))
        resources[at][1].insert(rng.randrange(len(resources[at][1]) + 1),
                                bad_log_record(rng, evs[0], spec))
    out = []
    for attrs, records in resources:
        cut = rng.randint(0, len(records)) if rng.random() < 0.3 else len(records)
        scopes = [{"scope": {"name": "app"}, "logRecords": part}
                  for part in (records[:cut], records[cut:]) if part]
        out.append({"resource": {"attributes": attrs}, "scopeLogs": scopes})
    return {"resourceLogs": out}


def otlp_units(rng: random.Random, evs: list[Event], spec: dict) -> list[bytes]:
    """The events as batches of up to 8 log records (entities mixed), a bad log record in one
    now and then, and now and then a line that is no OTLP document, or an empty batch."""
    out: list[bytes] = []
    i = 0
    while i < len(evs):
        k = rng.randint(1, 8)
        batch = evs[i:i + k]
        r = rng.random()
        if 0 < i < len(evs) - 8 and r < 0.03:
            out.append(rng.choice([b"=== service restarted ===", b'{"resourceLogs": 5}',
                                   b"\xff\xfe not utf-8", b'{"resourceLogs": []}']))
        doc = otlp_batch(rng, batch, spec, bad=0 < i < len(evs) - 8 and r > 0.93)
        out.append(json.dumps(doc).encode())
        i += k
    return out


def proto_units(rng: random.Random, evs: list[Event], spec: dict) -> list[bytes]:
    """otlp_json's batches in protobuf, as the Collector's kafka exporter sends them by
    default (``logs.format: otlp_proto``), and its file exporter writes them with ``format:
    proto`` (framed, stream()); their bad log records are those protobuf can hold
    (bad_log_record: a batch lost whole for one could leave a stray first line, which score
    leaves out: docs/logs.md, Offline). A line that is no batch (a banner, a JSON document
    that is no request) is sent as it is: on a protobuf topic, and in the file, it is a
    message that is no request."""
    out = []
    for unit in otlp_units(rng, evs, {**spec, "proto": True}):
        try:
            out.append(to_proto(unit))
        except (ValueError, json_format.ParseError):
            assert not unit.startswith(b'{"resourceLogs": [{'), unit[:200]  # a batch
            out.append(unit)
    return out


UNITS = {"regex": regex_units, "json": json_units, "otlp_json": otlp_units,
         "otlp_proto": proto_units}


def fmt_spec(rng: random.Random, fmt: str) -> tuple[dict, dict]:
    """How ``fmt``'s lines are written this time, and the logs: keys that read them."""
    if fmt == "regex":
        return {}, {}
    spec = {"numbered": rng.random() < 0.3,
            "default": "svc-0" if rng.random() < 0.5 else None}
    logs: dict = {"format": fmt}
    if spec["default"] is not None:  # svc-0's records may leave their entity out
        logs["entity"] = "svc-0" if not spec["numbered"] else "1000"
    if fmt == "json":
        spec["fields"] = rng.choice(JSON_FIELDS)
        if spec["fields"]:
            logs["json_fields"] = spec["fields"]
    else:
        spec["otlp_entity"] = rng.choice(["service.name", "k8s.pod.name"])
        logs["otlp_entity"] = spec["otlp_entity"]
    return spec, logs


def records(rng: random.Random, us: list[bytes], fmt: str) -> list[bytes]:
    """The units as Kafka records: one each, or (regex) a few in one record (a shipper's
    batch; a JSON or OTLP record holds one document)."""
    out, i = [], 0
    while i < len(us):
        k = 1 if fmt != "regex" or rng.random() < 0.7 else rng.randint(2, 4)
        out.append(b"\n".join(us[i:i + k]))
        i += k
    return out


#: serve.alerts of the fuzz's scorer unless a test varies them (alerts_varied)
EVERY_WINDOW = {"consecutive": 1, "cooldown_seconds": 0.0, "resolve_windows": 0}


class Stream(NamedTuple):
    """One seeded case: the detector, its input partitions' records (keyed by entity, so an
    entity stays on one partition) and the file of each partition's lines (each partition is
    one stream, as each file is: docs/logs.md, Live and Offline)."""
    det: Weighed
    tolerance: float
    parts: dict[Any, list[Record]]
    files: list[Any]
    max_entities: int = 100_000  # serve.windows.max_entities (its default)
    alerts: dict = EVERY_WINDOW  # serve.alerts
    written: dict | None = None  # regex: what regex_units wrote (its spec's counts)


def alerts_varied(rng: random.Random) -> dict:
    """serve.alerts: a run of 1-3 windows alerts, a cooldown (none, within a series, or
    longer than the gap), and incidents resolved after 1-2 normal windows, or none."""
    return {"consecutive": rng.randint(1, 3),
            "cooldown_seconds": rng.choice([0.0, 30.0, 4 * GAP, 10_000.0]),
            "resolve_windows": rng.choice([0, 0, 1, 2])}


def stream(fmt: str, mode: str, seed: int, tmp_path, partitions: int = 1,
           across: bool = True, evicting: bool = False, debounced: bool = False
           ) -> tuple[Stream, random.Random]:
    rng = random.Random(seed)
    tolerance = rng.choice([0.0, 5.0, 25.0]) if mode == "time" else 0.0
    logs = ({"bucket_seconds": 10.0} if mode == "time"
            else {"bucket_seconds": None, "bucket_lines": rng.choice([1, 3, 5])})
    spec, parsing = fmt_spec(rng, fmt)
    if fmt == "regex":  # regex_units
        spec.update(refused=random.Random(f"refused {seed}"), invalid=Counter(),
                    invalid_lines=Counter(), refused_traced=0)
    det = Weighed({**logs, **parsing}, seed)
    evs = events(rng, mode, tolerance, across=across)
    tps = [TP("events", p) for p in range(partitions)]
    home = {e: rng.choice(tps) for e in sorted({ev.entity for ev in evs})}
    parts, files = {}, []
    for tp in tps:
        mine = no_strays([ev for ev in evs if home[ev.entity] == tp])
        if not mine:
            continue
        units = UNITS[fmt](rng, mine, spec)
        parts[tp] = [Record(i, b"k", v) for i, v in enumerate(records(rng, units, fmt))]
        path = tmp_path / f"{fmt}-{mode}-{seed}-{tp.partition}.log"
        path.write_bytes(framed(*units) if fmt == "otlp_proto"
                         else b"\n".join(units) + b"\n")
        files.append(path)
    n = len({ev.entity for ev in evs})
    max_entities = rng.randint(1, max(n - 1, 1)) if evicting else 100_000
    alerts = alerts_varied(rng) if debounced else EVERY_WINDOW
    written = ({k: spec[k] for k in ("invalid", "invalid_lines", "refused_traced")}
               if fmt == "regex" else None)
    return Stream(det, tolerance, parts, files, max_entities, alerts, written), rng


# ------------------------------------------------------------------ both sides


def polls(rng: random.Random, parts: dict[Any, list[Record]]) -> list[dict]:
    """The records of each partition, in order, in polls of some partitions at a time."""
    left = {tp: list(recs) for tp, recs in parts.items()}
    out = []
    while any(left.values()):
        live = [tp for tp, recs in left.items() if recs]
        poll = {}
        for tp in rng.sample(live, rng.randint(1, len(live))):
            n = rng.randint(1, 40)
            poll[tp], left[tp] = left[tp][:n], left[tp][n:]
        out.append(poll)
    return out


def scorer(det, tolerance: float, io, max_entities: int = 100_000,
           alerts: dict = EVERY_WINDOW, monotonic: Any = None,
           entity_labels_top_n: int = 0) -> Scorer:
    """``monotonic``: the scorer's monotonic clock (``tests.support.stream_fakes.Clock``, which
    the rebalance fuzz moves past a replay's backoff), else the real one;
    ``entity_labels_top_n``: ``serve.http``'s (``anomaly_gan_entity_score``)."""
    cfg = config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "windows": {"max_event_bytes": MAX_EVENT_BYTES, "reorder_tolerance_seconds": tolerance,
                    "max_entities": max_entities},
        "alerts": alerts,
        "http": {"entity_labels_top_n": entity_labels_top_n},
        "kafka": {"scores_topic": "scores"}}}).serve
    metrics = StreamMetrics(CollectorRegistry(), cfg.http.entity_labels_top_n)
    return Scorer(cfg, det, io, metrics, clock=lambda: T0 + 1e6,
                  **({} if monotonic is None else {"monotonic": monotonic}))


def run(s: Stream, rng: random.Random, kill_after: int | None = None, rows: dict | None = None,
        evictions: list | None = None, instrument: Any = None) -> tuple[Scorer, Partitions]:
    """``serve`` over the stream, committing now and then as its interval does, and at the
    end as at shutdown (Scorer.drain); with ``kill_after``, killed after that many commits,
    having read and published past the last (nothing more committed). ``rows`` gets each
    entity's rows as they close; ``evictions`` each entity evicted (max_entities), with the
    least recently seen entity held then and its rows so far (checking what is held);
    ``instrument(scorer)`` is called before the first record is read."""
    io = Partitions(polls(rng, s.parts), s.parts)
    sc = scorer(s.det, s.tolerance, io, s.max_entities, s.alerts)
    if instrument is not None:
        instrument(sc)
    if rows is not None:
        feed, add = sc.intake.logs, sc.intake.logs.add
        seen: dict[str, int] = {}  # when each entity's newest line was read
        tick = itertools.count()

        def counted(ev, *args, **kwargs):
            held = sorted(feed._where, key=seen.__getitem__)
            before = feed.evicted
            closed = add(ev, *args, **kwargs)
            seen[ev.entity] = next(tick)
            if evictions is not None and feed.evicted > before:
                victim = next(e for e in held if e not in feed._where)
                evictions.append((victim, held[0], len(rows.get(victim, ()))))
            for r in closed:
                rows.setdefault(r.entity, []).append(r)
            open_buckets = sum(len(b._open) for b in feed._buckets.values())
            assert max(len(feed._where), open_buckets, len(sc.state)) <= s.max_entities
            return closed

        feed.add = counted
    while io.batches:
        sc.step()
        if rng.random() < 0.5:
            assert sc._commit(force=True)
            if kill_after is not None and len(io.commits) >= kill_after:
                for _ in range(rng.randint(0, 3)):  # read on, then killed
                    sc.step()
                sc._score_batch()
                sc._pool.shutdown()
                return sc, io
    sc._score_batch()
    assert sc._commit(force=True)
    sc._pool.shutdown()
    return sc, io


def windows(io) -> dict[str, list]:
    """Per entity, the windows ``serve`` published, in order."""
    out: dict[str, list] = {}
    for t, _, v, _ in io.sent:
        if t == "scores":
            r = json.loads(v)
            out.setdefault(r["entity"], []).append(
                (r["window_start_ts"], r["window_end_ts"], r["score"], r["is_anomaly"]))
    return out


def alerts(io) -> list[dict]:
    return [json.loads(v) for t, _, v, _ in io.sent if t == "anomaly-gan.alerts"]


def scored_runs(det, model, events: list) -> list:
    """``score``'s runs of a file's ``events`` (``score_log_events``, every window explained);
    none where no line is in a bucket: per N lines an entity's partial last bucket is left
    out (docs/logs.md, Offline), so a file of fewer lines of each entity than a bucket has
    nothing to score (``score`` says so, a DataError), as ``serve`` scores none of them."""
    try:
        return score_log_events(det, model, events, explain_anomalies_only=False)
    except DataError as e:
        assert "nothing to score" in str(e), e
        return []


def add_runs(det, runs: list, rows: dict[str, list], windows: dict[str, list],
             series: Iterator[int]) -> None:
    """Adds ``score``'s runs (``score_log_events``), each a series numbered by ``series``,
    to each entity's ``rows`` and ``windows``: (first row's end, last row's end, score, flag,
    index of the last row among the entity's rows, explanations, series)."""
    for run in runs:
        n = next(series)
        rows.setdefault(run.entity, []).extend(run.rows)
        if run.scores is None:
            continue
        for i in range(det.window - 1, len(run.rows)):
            windows.setdefault(run.entity, []).append((
                run.rows[i - det.window + 1].end_ts, run.rows[i].end_ts,
                float(run.scores.score[i]), bool(run.scores.is_anomaly[i]),
                len(rows[run.entity]) - len(run.rows) + i, run.explanations[i], n))


def debounced_as_series(windows: list, alerts: dict) -> list[tuple]:
    """What serve.alerts make of an entity's windows as ``score`` gives them: each series
    debounced on its own (docs/logs.md, Gap rule: an entity back after the gap starts a new
    series, with no cooldown or open incident of the old one, and no resolution of it)."""
    d = Debouncer(alerts["consecutive"], alerts["cooldown_seconds"], alerts["resolve_windows"])
    out: list[tuple] = []
    series = None
    for w in windows:
        if w[6] != series:
            d.forget("e")
            series = w[6]
        fired, resolved, _, _ = debounce(d, ["e"], [w[1]], [w[3]], "v1")
        out += [("firing", w[1], run, since) for _, run, since in fired]
        out += [("resolved", w[1], c.since, c.alerts, c.anomalous) for _, c in resolved]
    return out


def alert_decisions(sent: list[dict]) -> list[tuple]:
    return [("firing", a["window_end_ts"], a["consecutive_windows"], a["anomalous_since_ts"])
            if a["status"] == "firing" else
            ("resolved", a["resolved_at_ts"], a["anomalous_since_ts"], a["alerts"],
             a["anomalous_windows"]) for a in sent]


def published(io) -> tuple[set, set]:
    """Every window published (entity, times, score, flag) and every alert (its window and
    templates, with their examples)."""
    ws = {(e, *w) for e, got in windows(io).items() for w in got}
    al = {(a["entity"], a["window_end_ts"], json.dumps(a["templates"])) for a in alerts(io)}
    return ws, al
