"""Seeded test that no credential in a log line comes out where log text comes out.

docs/logs.md (*Alert records get one more field*) promises that a template and an example
line go out with credentials as ``<SECRET>``: "the value of a key naming one (``password=``,
``pwd:``, ``"api_key": "..."``, ``client_secret``, ``x-auth-token``, ``credentials``), a
``Bearer``/``Basic`` token, a JWT (``eyJ...``) and a URL's password", an AWS access key id
(``AKIA...``), and that "emails, IPs and ids stay, and so does a count of tokens". The
generator (tests/support/redact_fuzz.py, written from that paragraph and the RFCs of the
forms, never from the product's regexes) puts 0-3 credentials into realistic lines, with
keys in any case, quoted or not (JSON with escapes, Python's dicts, logfmt), values that the
masking rules take for numbers, IPs, hex ids, UUIDs or paths, unicode, separators of pairs
inside quotes, values of up to 2,500 characters, and some in a continuation line (a trace).

Each seed's lines, as ``format: regex`` lines, JSON lines or OTLP/JSON records (string and
kvlist bodies), and a few records ``serve`` refuses, go through every path that carries log
text out: ``redact_secrets``; template mining and the miner state a bundle saves
(``extras/logs.json``) and the template texts it names columns by (the alarm-storm note);
``score``'s reading of the file (its notes on bad lines, the error ``bad_lines: error``
stops on), buckets, explanations and its ``templates`` column; and ``serve`` over the same
records: alerts, score records, dead letters' headers and the scorer's log. No run of 6
characters of a credential (8 where all digits) may come out; a dead letter's value is the
record as sent (documented: it is kept for a replay), and is not searched. Each documented
non-secret in a line is still in its redacted text.

``REDACT_SPEC_FUZZ_SEEDS`` (default 150) seeds from ``REDACT_SPEC_FUZZ_SEED_START`` (default
0): ``REDACT_SPEC_FUZZ_SEED_START=17 REDACT_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import logging
import os
import random
import tempfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import (
    describe_templates,
    log_rows_to_score,
    read_log_file,
    score_log_rows,
)
from anomaly_gan.logs.templates import redact_secrets
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.logs.conftest import SeriesFromWindows
from tests.support.fuzz import assert_every_rule_reached, block_id, each_seed, seed_blocks
from tests.support.logs_fuzz import REGEX, stamp
from tests.support.redact_fuzz import (
    RULES,
    Leaks,
    Line,
    credential_stamp,
    key_value,
    line,
    pem_events,
    strings,
)
from tests.support.stream_fakes import TP, Partitions, Record

SEEDS = int(os.environ.get("REDACT_SPEC_FUZZ_SEEDS", "150"))
SEED_START = int(os.environ.get("REDACT_SPEC_FUZZ_SEED_START", "0"))

T0 = 1_767_225_600.0  # 2026-01-01
FORMATS = ("regex", "json", "otlp_json")
MAX_EVENT_BYTES = 65_536


class Flagging(SeriesFromWindows):
    """A logs detector that flags every window (each then alerts, naming its templates),
    its miner mined from ``training``."""

    def __init__(self, logs: dict, training: list[str]):
        self.config = config_from_dict({
            "model": {"backbone": "dense"}, "data": {"window": 2},
            "scoring": {"top_k": 10},
            "serve": {"windows": {"max_event_bytes": MAX_EVENT_BYTES}},
            "logs": {"bucket_seconds": 10.0, "top_k": 4, "example_lines": 5,
                     "bad_lines": "skip", **logs}})
        self.model, _ = fit_log_model(self.config.logs, training)
        self.extras = {"logs": self.model.to_dict()}
        self.feature_names, self.window = self.model.feature_names, 2
        self.version, self.kind, self.threshold = "v1", "ganomaly", 0.0

    def warm_up(self, max_batch=512):
        pass

    def score_windows(self, raw):
        s = np.asarray(raw).sum(axis=(1, 2)) + 1.0
        return SimpleNamespace(score=s, threshold=self.threshold, is_anomaly=s > 0,
                               severity=np.full(len(s), 100.0),
                               components={"reconstruction": s},
                               top_features=[["unseen"]] * len(s))


# ------------------------------------------------------------------ the lines as records


def kvlist_line(rng: random.Random, base: Line) -> tuple[dict, Line]:
    """An OTLP kvlist body: the line as ``msg`` and a credential pair beside it (the body's
    text is JSON of them, keys in order: docs/logs.md's OTLP table)."""
    pair, values = key_value(rng)
    key = pair.split("=")[0].split(":")[0].strip("{'\" ")
    value = values[0]
    body = {"kvlistValue": {"values": [
        {"key": "msg", "value": {"stringValue": base.message}},
        {"key": key, "value": {"stringValue": value}}]}}
    RULES["otlp.kvlist"] += 1
    text = json.dumps({"msg": base.message, key: value}, ensure_ascii=False)
    return body, Line(text, "", base.secrets + (value, json.dumps(value)[1:-1]), base.kept)


def unit(rng: random.Random, fmt: str, ln: Line, ts: float, entity: str
         ) -> tuple[bytes, Line]:
    """One event as a record's bytes (a file's line) of ``fmt``, and the line it carries."""
    if fmt == "regex":
        return f"{stamp(ts)} {entity} INFO {ln.text}".encode(), ln
    if fmt == "json":
        doc = {"ts": stamp(ts), "entity": entity, "level": "INFO", "message": ln.text}
        return json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode(), ln
    body: dict = {"stringValue": ln.text}
    if not ln.continuation and rng.random() < 0.3:
        body, ln = kvlist_line(rng, ln)
    rec = {"timeUnixNano": str(round(ts * 1000) * 1_000_000), "severityText": "INFO",
           "body": body}
    return otlp(entity, [rec]), ln


def otlp(entity: str, records: list[dict]) -> bytes:
    return json.dumps({"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": entity}}]},
        "scopeLogs": [{"logRecords": records}]}]}).encode()


def refused(rng: random.Random, fmt: str, ln: Line, ts: float, entity: str) -> bytes:
    """A record with a credential that is no event (docs/logs.md, bad lines and the
    dead-letter topic): a line the regex does not match, a JSON line whose message is in
    another field, an OTLP record whose time is no time."""
    RULES[f"refused.{fmt}"] += 1
    if ln.bad_ts:  # docs: a bad_timestamp's detail quotes the time field, redacted
        RULES[f"refused.bad_timestamp.{fmt}"] += 1
        if fmt == "regex":
            return f"{ln.bad_ts} {entity} INFO {ln.message}".encode()
        if fmt == "json":
            return json.dumps({"ts": ln.bad_ts, "entity": entity, "level": "INFO",
                               "message": ln.message}).encode()
        return otlp(entity, [{"timeUnixNano": ln.bad_ts, "body": {"stringValue": ln.message}}])
    if fmt == "regex":
        return f"!! {ln.message}".encode()
    if fmt == "json":
        return json.dumps({"ts": stamp(ts), "entity": entity, "msg": ln.message}).encode()
    return otlp(entity, [{"timeUnixNano": "soon", "body": {"stringValue": ln.message}}])


class Case:
    def __init__(self, seed: int, tmp: Path):
        rng = random.Random(seed)
        self.fmt = rng.choice(FORMATS)
        RULES[f"format.{self.fmt}"] += 1
        parsing = {"format": "regex", "regex": REGEX} if self.fmt == "regex" else \
            {"format": self.fmt}
        entities = ["api", "db"][:rng.randint(1, 2)]
        self.lines: list[Line] = []
        self.units: list[bytes] = []
        self.bad: list[bytes] = []
        self.ts_secrets: list[str] = []
        ts = T0
        # 10-18 events besides those refused, over 50 s or more (fewer, or 10 over 12 s:
        # two buckets of 10 s, the last still open in serve, no window, which alerts
        # nothing: seed 500523)
        target = rng.randint(10, 18)
        while len(self.units) < target or ts - T0 < 50.0:
            ts += rng.uniform(1.0, 5.0)
            ln = line(rng)
            if rng.random() < 0.1 and ln.secrets and not ln.continuation:
                if rng.random() < 0.5:  # its time field a credential too
                    stamp_text, value = credential_stamp(rng)
                    ln = ln._replace(bad_ts=stamp_text)
                    self.ts_secrets.append(value)
                self.bad.append(refused(rng, self.fmt, ln, ts, rng.choice(entities)))
                self.lines.append(Line(ln.message, "", ln.secrets, ()))
                continue
            u, ln = unit(rng, self.fmt, ln, ts, rng.choice(entities))
            self.units.append(u)
            self.lines.append(ln)
        if rng.random() < 0.15:  # docs: a PEM key's body lines as events of their own
            entity = rng.choice(entities)
            key_lines, promised = pem_events(rng)
            for text in key_lines:
                ts += rng.uniform(0.0, 0.1)
                ln = Line(text, "", tuple(r for r in promised if r == text), ())
                if self.fmt == "regex" and not text.startswith("-----"):
                    self.bad.append(text.encode())  # no_match: a line of its own
                elif self.fmt == "otlp_json":  # a string body: a kvlist's is no line alone
                    self.units.append(otlp(entity, [{
                        "timeUnixNano": str(round(ts * 1000) * 1_000_000),
                        "severityText": "INFO", "body": {"stringValue": text}}]))
                else:
                    self.units.append(unit(rng, self.fmt, ln, ts, entity)[0])
                self.lines.append(ln)
        if not self.bad and rng.random() < 0.5:
            ln = line(rng, trace=False)
            self.bad.append(refused(rng, self.fmt, ln, ts, entities[0]))
            self.lines.append(Line(ln.message, "", ln.secrets, ()))
        # not named by its seed: "case-2901.log" held a run of a UUID's "6de-2901-..."
        self.file = tmp / "events.log"
        self.file.write_bytes(b"\n".join(self.units + self.bad) + b"\n")
        self.parsing = parsing
        self.rng = rng
        self.leaks = Leaks([s for ln in self.lines for s in ln.secrets] + self.ts_secrets)


# ------------------------------------------------------------------ the paths


def check_redact(case: Case) -> None:
    """``redact_secrets`` of each line: its credentials gone, its non-secrets kept."""
    for ln in case.lines:
        for text in (ln.message, ln.text):
            got = redact_secrets(text)
            case.leaks.seen("redact_secrets", [got])
            for kept in ln.kept:
                RULES["kept"] += 1
                assert kept in got, f"non-secret {kept!r} not kept: {text!r} -> {got!r}"
            if ln.secrets and text == ln.text:
                assert "<SECRET>" in got, f"no <SECRET> in {got!r} (from {text!r})"


def offline(case: Case) -> Flagging:
    """``train``'s and ``score``'s side: the file read (its notes, or the error that
    ``bad_lines: error`` stops on), templates mined into a bundle's state, the buckets
    scored and explained, and ``score``'s templates column."""
    notes: list[str] = []
    probe = Flagging(case.parsing, ["x"])
    events = read_log_file(case.file, probe.config.logs, MAX_EVENT_BYTES, progress=notes.append)
    case.leaks.seen("score's notes on bad lines", notes)
    if case.bad:
        strict = config_from_dict({"logs": {**case.parsing, "bad_lines": "error"}}).logs
        with pytest.raises(DataError) as err:
            read_log_file(case.file, strict, MAX_EVENT_BYTES)
        case.leaks.seen("the error bad_lines: error stops on", [str(err.value)])
        assert len(events) == len(case.units)
    det = Flagging(case.parsing, [ev.message for ev in events])
    model = det.model
    case.leaks.seen("the bundle's miner state (extras/logs.json)",
                    strings(json.loads(json.dumps(det.extras))))
    case.leaks.seen("template texts", list(model.miner.templates.values()))
    case.leaks.seen("column texts (alarm-storm note)",
                    [model.column_text(f) for f in model.feature_names])
    rows = log_rows_to_score(det.config, model, events)
    results = score_log_rows(det, model, rows, explain_anomalies_only=False)
    explained = [e for r in results for x in r.explanations for e in x]
    assert explained, "no window explained"
    case.leaks.seen("explanations", strings(explained))
    case.leaks.seen("score's templates column",
                    [describe_templates(x) for r in results for x in r.explanations])
    return det


def serve(case: Case, det: Flagging) -> None:
    """``serve`` over the records: what it sends (alerts, score records, dead letters'
    headers) and what it logs."""
    cfg = config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "windows": {"max_event_bytes": MAX_EVENT_BYTES},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0, "resolve_windows": 0},
        "kafka": {"scores_topic": "scores"}}}).serve
    tp = TP("events", 0)
    records = list(case.units)
    for bad in case.bad:  # refused ones anywhere among them
        records.insert(case.rng.randint(0, len(records)), bad)
    parts = {tp: [Record(i, b"k", v) for i, v in enumerate(records)]}
    io = Partitions([{tp: parts[tp]}], parts)
    logged: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = logged.append  # type: ignore[method-assign]
    root = logging.getLogger("anomaly_gan")
    root.addHandler(handler)
    try:
        sc = Scorer(cfg, det, io, StreamMetrics(CollectorRegistry()), clock=lambda: T0 + 1e6)
        while io.batches:
            sc.step()
        sc._score_batch()
        assert sc._commit(force=True)
        sc._pool.shutdown()
    finally:
        root.removeHandler(handler)
    alerts = [json.loads(v) for t, _, v, _ in io.sent if t == cfg.kafka.alert_topic]
    assert alerts, "no alert sent"
    RULES["serve.alerts"] += 1
    case.leaks.seen("alert records", strings([without_ids(a) for a in alerts]))
    case.leaks.seen("score records",
                    strings([json.loads(v) for t, _, v, _ in io.sent if t == "scores"]))
    dead = [(v, h) for t, _, v, h in io.sent if t == cfg.kafka.dlq_topic]
    assert sorted(v for v, _ in dead) == sorted(case.bad), "dead letters are not the records"
    if dead:
        RULES["serve.dead_letters"] += 1
    case.leaks.seen("dead letters' headers", strings([h for _, h in dead]))
    case.leaks.seen("the scorer's log", [r.getMessage() for r in logged]
                    + strings([without_ids(getattr(r, "fields", {})) for r in logged]))


def without_ids(record: dict) -> dict:
    """A record without its ids (``alert_id``: 32 hex digits, where a hex credential's
    digits could be found by chance)."""
    return {k: v for k, v in record.items() if not k.endswith("_id")}


def check(seed: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        case = Case(seed, Path(tmp))
        check_redact(case)
        det = offline(case)
        serve(case, det)
        assert not case.leaks.found, case.leaks.message()


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS, 50), ids=block_id)
def test_no_credential_comes_out(seeds):
    each_seed(seeds, check)


def test_every_rule_reached():
    rules = {f"format.{f}" for f in FORMATS} | {f"refused.{f}" for f in FORMATS} | {
        "kv.bare", "kv.double", "kv.single", "kv.json", "kv.python", "kv.json.escaped_quote",
        "url", "jwt", "aws", "continuation", "otlp.kvlist", "kept", "serve.alerts",
        "serve.dead_letters", "credentials.0", "credentials.3", "urlencoded",
        "pem.continuation", "pem.one_line", "pem.events", "pem.RSA", "pem.plain"} | {
        f"refused.bad_timestamp.{f}" for f in FORMATS} | {
        f"pass.{f}" for f in ("eq", "colon", "json")} | {
        f"header.{f}" for f in ("token", "short", "lone", "digest", "digest.escaped",
                                "x-api-key")} | {
        f"cookie.{f}" for f in ("cookie", "set-cookie", "json")} | {
        f"value.{k}" for k in ("random", "number", "ip", "hex", "uuid", "path", "long",
                               "words")} | {
        f"key.case.{c}" for c in ("lower", "upper", "title", "mixed")} | {
        f"auth.{s}.{f}" for s in ("Bearer", "Basic")
        for f in ("header", "json", "curl", "kv", "bare")}
    assert_every_rule_reached(rules, check, range(SEED_START, SEED_START + 40), RULES)
