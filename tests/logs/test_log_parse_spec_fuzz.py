"""Seeded test of log parsing against a reference written from its prose contract.

``serve`` (Kafka records) and the file readers (``score``, ``train``, ``retrain --data``)
parse through the same :class:`~anomaly_gan.logs.events.LogParser`, so their differential
fuzz tests cannot find a fault in it. Here :func:`ref_otlp` and :func:`ref_json` restate
docs/logs.md (*Log lines*, the OTLP table and the paragraphs after it, *Multi-line
events*, error levels in *Count buckets and features*) and docs/streaming.md (entity
limits, control characters) without calling the product's code:

- OTLP/JSON: each log record of ``resourceLogs[].scopeLogs[].logRecords[]`` is one event,
  in document order. message: ``body`` (``stringValue`` as it is; ``intValue`` in digits;
  ``doubleValue`` as Python writes it; ``boolValue`` ``true``/``false``; ``bytesValue``
  its base64 text; ``arrayValue``/``kvlistValue`` as JSON, keys in the order given); no
  body or ``{}``: ``missing_field``; its first line the template, the lines after it the
  continuation; a body over ``max_event_bytes``: ``oversized``. time: ``timeUnixNano``
  (a decimal string or a number, divided exactly), where absent or 0
  ``observedTimeUnixNano``; neither: ``missing_field`` with time buckets, no time per N
  lines; not a count of nanoseconds: ``bad_timestamp``; ahead of the clock:
  ``future_timestamp``. level: ``severityText`` where not empty, else the range of
  ``severityNumber`` (or its enum name); errors are the levels in ``logs.error_levels``,
  compared case-insensitively. entity: the ``logs.otlp_entity`` attribute of the record,
  else of its resource, else ``logs.entity``, else ``missing_field``; a string or an
  ``intValue`` in digits; a control character: ``bad_entity``; over ``max_entity_bytes``:
  ``oversized``. A log record of the wrong shape is an invalid event of its own; a
  document malformed as a whole is one invalid event.
- JSON lines: ``message`` (a string; missing: ``missing_field``; a lone surrogate escape
  is U+FFFD), ``ts`` (RFC 3339, no offset = UTC, ``23:59:60`` the next minute's second 0;
  or epoch s, ms over 1e11, µs over 1e14, ns over 1e17, also as ASCII digits), ``level``
  (optional, null is left out; 0-7 syslog's, 10-60 pino's, other numbers as written),
  ``entity`` (null is left out: ``logs.entity``; an integer as its digits).

Where a generated record has several faults, the reference accepts any of their reasons
(the docs do not order the checks). ``LOG_PARSE_SPEC_FUZZ_SEEDS`` (default 500, a few
seconds) seeds from ``LOG_PARSE_SPEC_FUZZ_SEED_START`` (default 0):
``LOG_PARSE_SPEC_FUZZ_SEED_START=17 LOG_PARSE_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import base64
import json
import os
import random
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from anomaly_gan.logs.events import LogEvent, LogParser
from tests.support.fuzz import assert_every_rule_reached, block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("LOG_PARSE_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("LOG_PARSE_SPEC_FUZZ_SEED_START", "0"))

#: docs/logs.md, *Count buckets and features*: the default ``logs.error_levels``
ERROR_LEVELS = {"ERROR", "ERR", "ERRO", "FAIL", "CRITICAL", "CRIT", "SEVERE", "FATAL", "FATA",
                "FTL", "PANIC", "PANI", "DPANIC", "ALERT", "EMERG", "EMERGENCY"}
SEVERITY_RANGES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")  # 1-4, 5-8, ... 21-24
SYSLOG = ("EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG")
PINO = {10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL"}
#: docs/streaming.md: what an entity may not hold
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
T0 = 1767225600  # 2026-01-01T00:00:00Z

RULES: Counter[str] = Counter()  # the rules the references took, for the coverage test

ANY = frozenset({"*"})  # an invalid part whose reason the docs leave open


@dataclass(frozen=True)
class Ev:
    entity: str
    ts: float | None
    level: str  # compared upper-cased: levels are compared case-insensitively
    message: str
    continuation: str
    error: bool
    exact_ts: bool = True


@dataclass(frozen=True)
class Bad:
    reasons: frozenset[str]


class Refused(Exception):
    def __init__(self, *reasons: str) -> None:
        self.reasons = frozenset(reasons)


@dataclass
class Setup:
    entity: str | None
    max_bytes: int
    max_entity_bytes: int
    need_ts: bool
    not_after: float
    otlp_entity: str = "service.name"


# -- the reference --------------------------------------------------------------------


def _lines(text: str) -> tuple[str, str]:
    """docs/logs.md, *Multi-line events*: the first line is the template, the lines after
    it (joined with ``\\n``) the continuation; ``\\n``, ``\\r\\n`` and ``\\r`` end a line;
    line breaks before the first line and after the last are left out."""
    if text != text.strip("\r\n"):
        RULES["message.outer_breaks"] += 1
    parts = re.split(r"\r\n|\r|\n", text.strip("\r\n"))
    if len(parts) > 1:
        RULES["message.multiline"] += 1
    return parts[0], "\n".join(parts[1:])


def _entity(value: str, setup: Setup) -> str:
    if CONTROL.search(value):
        RULES["entity.control"] += 1
        raise Refused("bad_entity")
    if len(value.encode("utf-8")) > setup.max_entity_bytes:
        RULES["entity.oversized"] += 1
        raise Refused("oversized")
    return value


def _ev(entity: str, ts: float | None, level: str, text: str, setup: Setup,
        exact_ts: bool = True) -> Ev:
    if ts is not None and ts > setup.not_after:
        RULES["ts.future"] += 1
        raise Refused("future_timestamp")
    message, continuation = _lines(text)
    error = level.upper() in ERROR_LEVELS
    RULES["level.error" if error else "level.not_error"] += 1
    return Ev(entity, ts, level.upper(), message, continuation, error, exact_ts)


def _plain(value: Any) -> Any:
    """An AnyValue as a plain JSON value (the docs: "as JSON")."""
    if type(value) is not dict or len(value) != 1:
        raise Refused(*ANY)
    (kind, v), = value.items()
    if kind == "stringValue" and type(v) is str:
        return v
    if kind == "intValue" and type(v) in (int, str):
        return int(v)
    if kind == "doubleValue" and type(v) in (int, float):
        return float(v)
    if kind == "boolValue" and type(v) is bool:
        return v
    if kind == "bytesValue" and type(v) is str:
        return v
    if kind == "arrayValue" and type(v) is dict:
        return [_plain(x) for x in v.get("values", [])]
    if kind == "kvlistValue" and type(v) is dict:
        return {kv["key"]: _plain(kv["value"]) for kv in v.get("values", [])}
    raise Refused(*ANY)  # an unknown kind: an invalid event of its own, reason not written


def ref_body(body: Any) -> str:
    if body is None or body == {}:
        RULES["body.missing"] += 1
        raise Refused("missing_field")
    if type(body) is not dict or len(body) != 1:
        raise Refused(*ANY)
    kind = next(iter(body))
    RULES[f"body.{kind}"] += 1
    value = _plain(body)
    if kind in ("stringValue", "bytesValue"):
        return value
    if kind == "intValue":
        return str(value)
    if kind == "doubleValue":
        return repr(value)
    if kind == "boolValue":
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def _nanos(raw: Any) -> int | None:
    """A time field: None for absent or 0 (OTLP's "unknown"); a count of ns, or refused."""
    if raw is None:
        return None
    if type(raw) is int and raw >= 0:
        n = raw
    elif type(raw) is str and raw.isascii() and raw.isdigit():
        n = int(raw)
    else:
        RULES["ts.not_nanos"] += 1
        raise Refused("bad_timestamp")
    return None if n == 0 else n


def ref_severity(rec: dict[str, Any]) -> str:
    text = rec.get("severityText")
    if text is not None and type(text) is not str:
        RULES["severity.text_not_string"] += 1
        raise Refused(*ANY)
    if text:
        RULES["severity.text"] += 1
        return text
    number = rec.get("severityNumber")
    if type(number) is str and number.startswith("SEVERITY_NUMBER_"):
        RULES["severity.enum"] += 1
        name = number.removeprefix("SEVERITY_NUMBER_")
        if name == "UNSPECIFIED":
            return ""
        return name.rstrip("234")
    if type(number) is int and 1 <= number <= 24:
        RULES["severity.number"] += 1
        return SEVERITY_RANGES[(number - 1) // 4]
    RULES["severity.none"] += 1
    return ""


def _attribute(attrs: Any, key: str) -> tuple[bool, str | None]:
    """(found, entity) of the attribute ``key`` of a list of key/values."""
    if attrs is None:
        return False, None
    if type(attrs) is not list:
        RULES["entity.attributes_not_list"] += 1
        raise Refused(*ANY)
    for kv in attrs:
        if kv.get("key") == key:
            value = kv.get("value")
            if type(value) is dict and "stringValue" in value:
                return True, value["stringValue"]
            if type(value) is dict and "intValue" in value:
                RULES["entity.int"] += 1
                return True, str(int(value["intValue"]))
            raise Refused(*ANY)
    return False, None


def ref_otlp_record(rec: Any, resource_attrs: Any, setup: Setup) -> Ev | Bad:
    reasons: set[str] = set()
    text = entity = level = None
    ns: int | None = None
    for part in ("body", "entity", "severity", "time"):
        try:
            if part == "body":
                text = ref_body(rec.get("body"))
                if len(text.encode("utf-8", "surrogatepass")) > setup.max_bytes:
                    RULES["body.oversized"] += 1
                    raise Refused("oversized")
            elif part == "entity":
                found, entity = _attribute(rec.get("attributes"), setup.otlp_entity)
                if found:
                    RULES["entity.record"] += 1
                else:
                    found, entity = _attribute(resource_attrs, setup.otlp_entity)
                    RULES["entity.resource" if found else "entity.default"] += 1
                    if not found:
                        entity = setup.entity
                if not entity:
                    RULES["entity.missing"] += 1
                    raise Refused("missing_field")
                entity = _entity(entity, setup)
            elif part == "severity":
                level = ref_severity(rec)
            else:
                ns = _nanos(rec.get("timeUnixNano"))
                if ns is None:
                    RULES["ts.observed"] += 1
                    ns = _nanos(rec.get("observedTimeUnixNano"))
                else:
                    RULES["ts.time"] += 1
                if ns is not None and ns >= 2**64:
                    RULES["ts.over_uint64"] += 1
                    raise Refused("bad_timestamp")  # no fixed64 (2554-07-21)
                if ns is None and setup.need_ts:
                    RULES["ts.missing"] += 1
                    raise Refused("missing_field")
        except Refused as exc:
            reasons |= exc.reasons
    if reasons:
        return Bad(frozenset(reasons))
    assert text is not None and entity is not None and level is not None
    ts = None if ns is None else float(Fraction(ns, 10**9))
    try:
        return _ev(entity, ts, level, text, setup)
    except Refused as exc:
        return Bad(exc.reasons)


def ref_otlp(raw: bytes, setup: Setup) -> list[Ev | Bad]:
    if raw.startswith(b"\xef\xbb\xbf"):
        RULES["doc.bom"] += 1
        raw = raw[3:]
    try:
        doc = json.loads(raw.decode("utf-8"))
    except ValueError:
        RULES["doc.not_json"] += 1
        return [Bad(ANY)]
    resource_logs = doc.get("resourceLogs") if type(doc) is dict else None
    if type(resource_logs) is not list:
        RULES["doc.no_resource_logs"] += 1
        return [Bad(ANY)]
    out: list[Ev | Bad] = []
    for rl in resource_logs:
        attrs = (rl.get("resource") or {}).get("attributes")
        for sl in rl.get("scopeLogs", []):
            for rec in sl.get("logRecords", []):
                if type(rec) is not dict:
                    RULES["record.not_object"] += 1
                    out.append(Bad(ANY))
                else:
                    out.append(ref_otlp_record(rec, attrs, setup))
    RULES["doc.records"] += len(out)
    return out


def _rfc3339(text: str) -> float | None:
    m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)?",
                     text)
    if m is None:
        return None
    y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
    leap = s == 60
    if leap:
        RULES["ts.leap_second"] += 1
        s = 59
    try:
        dt = datetime(y, mo, d, h, mi, s, tzinfo=UTC)
    except ValueError:
        return None
    if leap:
        dt += timedelta(seconds=1)
    zone = m.group(8)
    if zone is None:
        RULES["ts.rfc3339_no_offset"] += 1
    elif zone != "Z":
        RULES["ts.rfc3339_offset"] += 1
        sign = 1 if zone[0] == "+" else -1
        dt -= sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    frac = float("0" + m.group(7)) if m.group(7) else 0.0
    return dt.timestamp() + frac


def _epoch(n: float) -> float:
    for threshold, per, rule in ((1e17, 10**9, "ns"), (1e14, 10**6, "us"), (1e11, 1000, "ms")):
        if n > threshold:
            RULES[f"ts.epoch_{rule}"] += 1
            return n / per
    RULES["ts.epoch_s"] += 1
    return float(n)


def ref_json_ts(raw: Any) -> float | None:
    if raw is None:
        return None
    if type(raw) in (int, float):
        return _epoch(raw)
    if type(raw) is str and raw.isascii() and re.fullmatch(r"\d+(\.\d+)?", raw.strip()):
        RULES["ts.digits"] += 1
        # docs/logs.md: epoch digits are compared with the units' edges exactly (an
        # integer); with a point, the double of a JSON number of the same digits
        text = raw.strip()
        return _epoch(int(text) if text.isdigit() else float(text))
    if type(raw) is str:
        ts = _rfc3339(raw)
        if ts is not None:
            RULES["ts.rfc3339"] += 1
            return ts
    RULES["ts.bad"] += 1
    raise Refused("bad_timestamp")


def ref_json_level(raw: Any) -> str:
    if raw is None:
        RULES["level.absent"] += 1
        return ""
    if type(raw) is str and not (raw.isascii() and raw.isdigit()):
        RULES["level.text"] += 1
        return raw
    n = int(raw)
    if 0 <= n <= 7:
        RULES["level.syslog"] += 1
        return SYSLOG[n]
    if n in PINO:
        RULES["level.pino"] += 1
        return PINO[n]
    RULES["level.number"] += 1
    return str(n)


def ref_json(raw: bytes, setup: Setup) -> Ev | Bad:
    if len(raw) > setup.max_bytes:
        RULES["json.oversized"] += 1
        return Bad(frozenset({"oversized"}))
    try:
        obj = json.loads(raw.decode("utf-8"))
    except ValueError:
        RULES["json.bad"] += 1
        return Bad(ANY)
    reasons: set[str] = set()
    message = entity = None
    level = ""
    ts: float | None = None
    for part in ("message", "entity", "level", "ts"):
        try:
            if part == "message":
                message = obj.get("message")
                if type(message) is not str:
                    RULES["json.no_message"] += 1
                    raise Refused("missing_field")
                if re.search("[\ud800-\udfff]", message):
                    RULES["json.lone_surrogate"] += 1
                    message = re.sub("[\ud800-\udfff]", "\ufffd", message)
            elif part == "entity":
                value = obj.get("entity")
                if value is None:
                    RULES["entity.default"] += 1
                    if setup.entity is None:
                        raise Refused("missing_field")
                    value = setup.entity
                elif type(value) is int:
                    RULES["entity.int"] += 1
                    value = str(value)
                entity = _entity(value, setup)
            elif part == "level":
                level = ref_json_level(obj.get("level"))
            else:
                ts = ref_json_ts(obj.get("ts"))
                if ts is None and setup.need_ts:
                    RULES["ts.missing"] += 1
                    raise Refused("missing_field")
        except Refused as exc:
            reasons |= exc.reasons
    if reasons:
        return Bad(frozenset(reasons))
    assert message is not None and entity is not None
    try:
        return _ev(entity, ts, level, message, setup, exact_ts=False)
    except Refused as exc:
        return Bad(exc.reasons)


# -- the generator --------------------------------------------------------------------


def _text(rng: random.Random) -> str:
    words = ["db timeout", "GET /cart 200", "ünïcode ✓", "", "x" * rng.randint(1, 40)]
    text = rng.choice(words)
    if rng.random() < 0.25:
        text += rng.choice(["\n\tat Cart.add(Cart.java:42)", "\r\nCaused by: X",
                            "\n\tat a\n\n\tat b", "\rsecond", "\n", "\n\tat c\r\n"])
    return text


def _any_value(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    kinds = ["stringValue", "intValue", "doubleValue", "boolValue", "bytesValue"]
    if depth < 2:
        kinds += ["arrayValue", "kvlistValue"]
    kind = rng.choice(kinds)
    if kind == "stringValue":
        return {kind: _text(rng)}
    if kind == "intValue":
        n = rng.choice([0, 7, -3, 2**53 + 1, rng.randint(-10**6, 10**6)])
        return {kind: rng.choice([n, str(n)])}
    if kind == "doubleValue":
        return {kind: rng.choice([2.5, 3.0, -0.1, 1e21, 1e-7, 3, rng.random()])}
    if kind == "boolValue":
        return {kind: rng.random() < 0.5}
    if kind == "bytesValue":
        return {kind: base64.b64encode(rng.randbytes(rng.randint(0, 9))).decode()}
    if kind == "arrayValue":
        return {kind: {"values": [_any_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]}}
    keys = rng.sample(["user", "tries", "a", "z", "é"], rng.randint(0, 3))
    return {kind: {"values": [{"key": k, "value": _any_value(rng, depth + 1)} for k in keys]}}


def _entity_value(rng: random.Random) -> Any:
    return rng.choice([
        {"stringValue": rng.choice(["api", "checkout-svc", "db-0"])},
        {"stringValue": "é" * rng.randint(1, 20)},  # near a small max_entity_bytes
        {"intValue": rng.choice(["17", 4])},
        {"stringValue": "a\tb"}, {"stringValue": "a\u2028b"}, {"stringValue": "a\x85"},
        {"stringValue": ""},
    ])


def _attrs(rng: random.Random, key: str) -> list[dict[str, Any]] | None:
    if rng.random() < 0.2:
        return None
    attrs = [{"key": "host.name", "value": {"stringValue": "h1"}}]
    if rng.random() < 0.6:
        attrs.insert(rng.randint(0, 1), {"key": key, "value": _entity_value(rng)})
    return attrs


def _edge(setup: Setup) -> float:
    """The clock's limit, or a time near T0 where there is none."""
    return setup.not_after if setup.not_after < float("inf") else T0 + 100.0


def _nanos_value(rng: random.Random, setup: Setup) -> Any:
    ns = rng.choice([T0 * 10**9 + rng.randint(0, 10**12), 1767225600123456789, 5, 0,
                     int(_edge(setup) * 10**9) + rng.choice([-1, 0, 1, 10**9])])
    return rng.choice([ns, str(ns)])


def gen_record(rng: random.Random, setup: Setup, faults: float) -> dict[str, Any]:
    rec: dict[str, Any] = {}
    if rng.random() < 0.85:
        rec["timeUnixNano"] = _nanos_value(rng, setup)
    if rng.random() < 0.5:
        rec["observedTimeUnixNano"] = _nanos_value(rng, setup)
    if rng.random() < 0.6:
        rec["severityNumber"] = rng.choice([
            0, 1, 4, 5, 9, 13, 16, 17, 20, 21, 24, "SEVERITY_NUMBER_ERROR2",
            "SEVERITY_NUMBER_WARN", "SEVERITY_NUMBER_FATAL4", "SEVERITY_NUMBER_UNSPECIFIED"])
    if rng.random() < 0.4:
        rec["severityText"] = rng.choice(["", "ERROR", "Warning", "err", "crit", "info", "E"])
    if rng.random() < 0.9:
        rec["body"] = _any_value(rng)
    attrs = _attrs(rng, setup.otlp_entity)
    if attrs is not None:
        rec["attributes"] = attrs
    if rng.random() < faults:  # slightly invalid
        fault = rng.randrange(8)
        if fault == 0:
            rec["body"] = {}
        elif fault == 1:
            rec["timeUnixNano"] = rng.choice(["abc", "-5", "1.5e18", " 12", "1e18", -5, 2.5])
        elif fault == 2:
            rec["severityText"] = rng.choice([3, None, ["ERROR"]])
        elif fault == 3:
            rec["attributes"] = {"service.name": "api"}
        elif fault == 4:
            rec["body"] = {"stringValue": "y" * (setup.max_bytes + rng.randint(-1, 1))}
        elif fault == 5:
            rec["body"] = {"mapValue": {}}
        elif fault == 6:
            rec.pop("timeUnixNano", None)
            rec["observedTimeUnixNano"] = rng.choice(["0", 0, "x"])
        else:
            n = 2**64 + rng.choice([-1, 0, 10**20])  # OTLP's field is an unsigned 64-bit int
            rec["timeUnixNano"] = rng.choice([n, str(n)])
    return rec


def gen_otlp(rng: random.Random, setup: Setup) -> bytes:
    faults = rng.choice([0.0, 0.1, 0.4])
    resource_logs = []
    for _ in range(rng.randint(0, 2)):
        rl: dict[str, Any] = {"scopeLogs": []}
        if rng.random() < 0.8:
            attrs = _attrs(rng, setup.otlp_entity)
            rl["resource"] = {"attributes": attrs} if attrs is not None else {}
        for _ in range(rng.randint(1, 2)):
            recs: list[Any] = [gen_record(rng, setup, faults)
                               for _ in range(rng.randint(0, 4))]
            if rng.random() < faults / 4:
                recs.append(rng.choice(["a string", 3, None]))
            rl["scopeLogs"].append({"scope": {"name": "s"}, "logRecords": recs})
        resource_logs.append(rl)
    raw = json.dumps({"resourceLogs": resource_logs}, ensure_ascii=rng.random() < 0.5).encode()
    if rng.random() < 0.05:
        raw = b"\xef\xbb\xbf" + raw
    if rng.random() < faults / 5:
        raw = rng.choice([raw[: len(raw) // 2], b'{"resourceLogs": {}}', b"[1]",
                          b'{"message": "a json line"}'])
    return raw


def _unit_edge(rng: random.Random) -> int | str:
    """An epoch number at the edge of a unit (ms over 1e11, us over 1e14, ns over 1e17)."""
    n = 10 ** rng.choice([11, 14, 17]) + rng.choice([-1, 0, 1, 10**5])
    return rng.choice([n, str(n)])


def gen_json(rng: random.Random, setup: Setup) -> bytes:
    obj: dict[str, Any] = {}
    if rng.random() < 0.95:
        obj["message"] = rng.choice([_text(rng), "half \ud800 a surrogate", 3])
    if rng.random() < 0.85:
        obj["entity"] = rng.choice(["checkout-svc", "é" * rng.randint(1, 20), 42, None,
                                    "a\tb", "x\x9fy"])
    if rng.random() < 0.7:
        obj["level"] = rng.choice(["ERROR", "warn", "err", 3, "3", 0, 7, 8, 50, "60", 35,
                                   None, "Fatal"])
    if rng.random() < 0.9:
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 10**7))
        ts = rng.choice([
            when.strftime("%Y-%m-%dT%H:%M:%SZ"), when.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            when.strftime("%Y-%m-%dT%H:%M:%S+02:00"), when.strftime("%Y-%m-%d %H:%M:%S-05:30"),
            "2026-06-30T23:59:60Z", T0, T0 + 0.25, T0 * 1000 + 500, str(T0 * 10**6 + 7),
            str(T0 * 10**9 + 123), str(T0), T0 * 10**9, "yesterday", "2026-13-01T00:00:00Z",
            _edge(setup) + rng.choice([-1, 0, 1]), None, True, _unit_edge(rng)])
        obj["ts"] = ts
    raw = json.dumps(obj, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    if rng.random() < 0.03:
        raw = b"{not json"
    return raw


def gen_setup(rng: random.Random) -> Setup:
    return Setup(entity=rng.choice([None, "default-svc"]),
                 max_bytes=rng.choice([65_536, 60, 200]),
                 max_entity_bytes=rng.choice([512, 20]),
                 need_ts=rng.random() < 0.8,
                 not_after=rng.choice([float("inf"), T0 + 5_000_000.5, T0 + 100.0]),
                 otlp_entity=rng.choice(["service.name", "service.name", "k8s.pod.name"]))


# -- the comparison -------------------------------------------------------------------


def _parser(fmt: str, setup: Setup) -> LogParser:
    p = LogParser(format=fmt, entity=setup.entity, max_bytes=setup.max_bytes,
                  need_ts=setup.need_ts, max_entity_bytes=setup.max_entity_bytes,
                  otlp_entity=setup.otlp_entity)
    p.not_after = setup.not_after
    return p


def _agree(got: object, want: Ev | Bad) -> bool:
    if isinstance(want, Bad):
        return not isinstance(got, LogEvent) and ("*" in want.reasons
                                                   or getattr(got, "reason", None) in want.reasons)
    if not isinstance(got, LogEvent):
        return False
    level = got.level.upper()
    same_ts = (got.ts == want.ts if want.exact_ts or got.ts is None or want.ts is None
               else abs(got.ts - want.ts) < 2e-6)
    return (got.entity, level, got.message, got.continuation, level in ERROR_LEVELS) == (
        want.entity, want.level, want.message, want.continuation, want.error) and same_ts


def check_seed(seed: int) -> None:
    rng = random.Random(seed)
    setup = gen_setup(rng)
    for _ in range(4):
        raw = gen_otlp(rng, setup)
        got = _parser("otlp_json", setup).parse_record_many(raw)
        want = ref_otlp(raw, setup)
        assert len(got) == len(want), f"seed {seed}: {len(got)} parts, not {len(want)}: {raw!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert _agree(g, w), (f"seed {seed} {setup}\nlog record {i} of {raw[:3000]!r}"
                                  f"\nproduct: {g}\nreference: {w}")
    for _ in range(4):
        raw = gen_json(rng, setup)
        got1 = _parser("json", setup).parse_record(raw)
        want1 = ref_json(raw, setup)
        assert _agree(got1, want1), (
            f"seed {seed} {setup}\nline: {raw!r}\nproduct: {got1}\nreference: {want1}")


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_log_parsing_follows_the_docs(seeds: range) -> None:
    each_seed(seeds, check_seed)


def test_every_rule_is_reached() -> None:
    """The generator reaches every rule of the references in a few hundred seeds, so a
    rule no record takes cannot hide a disagreement."""
    rules = {"message.multiline", "message.outer_breaks", "entity.control", "entity.oversized", "ts.future",
             "level.error", "level.not_error", "body.missing", "body.stringValue",
             "body.intValue", "body.doubleValue", "body.boolValue", "body.bytesValue",
             "body.arrayValue", "body.kvlistValue", "body.oversized", "ts.not_nanos",
             "severity.text_not_string", "severity.text", "severity.enum", "severity.number",
             "severity.none", "entity.attributes_not_list", "entity.int", "entity.record",
             "entity.resource", "entity.default", "entity.missing", "ts.observed", "ts.time", "ts.over_uint64",
             "ts.missing", "doc.bom", "doc.not_json", "doc.no_resource_logs",
             "record.not_object", "ts.leap_second", "ts.rfc3339_no_offset",
             "ts.rfc3339_offset", "ts.epoch_ns", "ts.epoch_us", "ts.epoch_ms", "ts.epoch_s",
             "ts.digits", "ts.rfc3339", "ts.bad", "level.absent", "level.text",
             "level.syslog", "level.pino", "level.number", "json.oversized", "json.bad",
             "json.no_message", "json.lone_surrogate"}
    assert_every_rule_reached(rules, check_seed, range(400), RULES)
