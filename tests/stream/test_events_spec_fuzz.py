"""Seeded test of the JSON metric event parser against a reference written from its prose
contract.

``serve``'s intake and ``retrain``'s topic range read numeric JSON events with the same
:class:`~anomaly_gan.stream.events.EventParser` (``parser_from_config``), so the
differential tests between them cannot find a fault in it. Here :func:`reference` restates
docs/streaming.md (*Events in*, *Other shapes: serve.event_fields*, *What a record may
hold* of ``serve.assemble_seconds``, the table of reasons) and docs/logs.md (the dotted
paths of ``json_fields``) without the product's code:

- a record: UTF-8 (a leading UTF-8 byte-order mark ignored; other bytes ``not_utf8``), at
  most ``max_event_bytes`` (``oversized``), JSON (``bad_json``; empty or none too), an
  object (``not_object``);
- a field (``serve.event_fields``): a key of the object or, where it has no such key, a
  dotted path into nested objects; missing or of the wrong type ``missing_field``;
- ``entity``: a non-empty string, an integer as its digits; a list of fields joined with
  ``/``, a ``/`` or ``%`` in a value written ``%2F``/``%25``; a control character or a lone
  surrogate ``bad_entity``; over ``max_entity_bytes`` UTF-8 bytes ``oversized``;
- ``ts``: RFC 3339 or another form ``datetime.fromisoformat`` reads (no offset UTC, ``t``
  and ``z`` in lower case, ``23:59:60`` the next minute's second 0), or an epoch number (a
  JSON number, or ASCII digits in a string: the integer, or with a point the double a JSON
  number of the same digits is): seconds, ms over 1e11,
  µs over 1e14, ns over 1e17, whitespace around a string left out; before 1970 or after
  9999-12-31T23:59:59Z ``bad_timestamp``; more than the clock skew ahead
  (``parser.not_after``) ``future_timestamp``;
- ``values``: a list in model order (another length ``wrong_length``) or an object of the
  model's names (another name ``unknown_feature`` with ``reject``, left out with
  ``ignore``; a feature missing ``missing_feature``; with ``partial``, some of them, none
  ``missing_feature``); every value a finite number (NaN, infinite, null, a string, a bool,
  a list, an object, an integer beyond ±1e300: ``non_finite``; ``NaN`` and ``Infinity``
  without quotes are read).

Where a record has several faults the docs do not say which reason wins, so the reference
gives the set and the product's must be in it; where the docs leave an outcome open (a
value of an ignored name that is no finite number, an integer of more than 4,300 digits,
which Python's json refuses, a time that only its float puts past 9999-12-31T23:59:59Z)
both are allowed. A time is compared exactly (the float nearest the exact value), but to
the microsecond for a text time with more than six fraction digits (``datetime`` holds
µs; the docs do not say). An accepted text time must also read the same
through ``parse_timestamp_text`` (a CSV cell of the same row in ``score``).

``EVENTS_SPEC_FUZZ_SEEDS`` (default 500, well under a second) seeds from
``EVENTS_SPEC_FUZZ_SEED_START`` (default 0): ``EVENTS_SPEC_FUZZ_SEED_START=17
EVENTS_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest

from anomaly_gan.config import EventFieldsConfig
from anomaly_gan.stream.events import (
    Event,
    EventParser,
    InvalidEvent,
    PartialEvent,
    parse_timestamp_text,
)
from tests.support.fuzz import block_id, each_seed, seed_blocks

SEEDS = int(os.environ.get("EVENTS_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("EVENTS_SPEC_FUZZ_SEED_START", "0"))

T0 = 1767225600  # 2026-01-01T00:00:00Z
LAST_SECOND = 253402300799  # 9999-12-31T23:59:59Z: the last time of the year 9999 allowed
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BOM = b"\xef\xbb\xbf"
FEATURE_POOL = ("temp", "rpm", "usage_user", "used_percent", "a.b")
SHAPES = {  # serve.event_fields as the docs' table gives them
    "own": ("entity", "ts", "values"),
    "telegraf": ("tags.host", "timestamp", "fields"),
    "percpu": (("tags.host", "tags.cpu"), "timestamp", "fields"),
    "iot": ("device.id", "time", "readings"),
    "one_of_list": (("src",), "ts", "values"),
}
ABSENT = object()  # a field the record does not have


@dataclass
class Case:
    features: tuple[str, ...]
    shape: str
    unknown: str  # serve.unknown_features
    partial: bool  # serve.assemble_seconds > 0
    max_event_bytes: int
    max_entity_bytes: int
    not_after: float
    raw: bytes | None
    huge_int: bool = False  # a JSON integer of more digits than Python's json reads


@dataclass
class Want:
    """The outcomes the docs allow: any of ``reasons``, or, where ``event`` is set, an event
    of one of ``entities``, one of ``times`` and ``values`` (feature index -> value)."""

    reasons: set[str] = field(default_factory=set)
    event: bool = False
    entities: list[str] = field(default_factory=list)
    times: list[Fraction] = field(default_factory=list)
    loose_time: bool = False
    values: dict[int, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        ev = (f" or event({self.entities}, {[float(t) for t in self.times]}, {self.values})"
              if self.event else "")
        return f"{sorted(self.reasons)}{ev}"


# ---- the reference: the docs, not the product ---------------------------------------------

@dataclass
class Part:
    """One part's reading: the reasons it may give, and where it may be valid its value(s)."""

    reasons: set[str]
    values: list[Any] | None  # None: it is invalid


def get_field(obj: dict[str, Any], name: str) -> Any:
    """A key of the object or, where it has no such key, a dotted path into nested objects."""
    if name in obj:
        return obj[name]
    if "." not in name:
        return ABSENT
    node: Any = obj
    for key in name.split("."):
        if type(node) is not dict or key not in node:
            return ABSENT
        node = node[key]
    return node


def _id_text(value: Any) -> str | None:
    if type(value) is str and value:
        return value
    if type(value) is int:
        return str(value)
    return None


def ref_entity(obj: dict[str, Any], names: str | tuple[str, ...], case: Case,
               notes: Counter[str]) -> Part:
    parts = [get_field(obj, n) for n in ((names,) if isinstance(names, str) else names)]
    texts = [_id_text(p) for p in parts]
    if any(t is None for t in texts):
        notes["entity_missing_or_wrong_type"] += 1
        return Part({"missing_field"}, None)
    if isinstance(names, str):
        ids = [texts[0]]
    else:
        escaped = "/".join(t.replace("%", "%25").replace("/", "%2F") for t in texts)
        # a single entity field's value is never escaped; a list of one: the docs do not say
        ids = [escaped] if len(names) > 1 else [texts[0], escaped]
        notes["entity_joined" if len(names) > 1 else "entity_list_of_one"] += 1
    if any(type(p) is int for p in parts):
        notes["entity_int"] += 1
    reasons: set[str] = set()
    for eid in ids:
        if re.search("[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]", eid):
            reasons.add("bad_entity")
            notes["entity_bad"] += 1
        size = len(eid.encode("utf-8", "surrogatepass"))
        if size > case.max_entity_bytes:
            reasons.add("oversized")
            notes["entity_over_limit"] += 1
        elif size == case.max_entity_bytes and len(eid) < size:
            notes["entity_multibyte_at_limit"] += 1
    return Part(reasons, None if reasons else ids)


def _epoch(n: Fraction, notes: Counter[str]) -> Fraction:
    for over, per, unit in ((10**17, 10**9, "ns"), (10**14, 10**6, "us"), (10**11, 1000, "ms")):
        if n > over:
            notes["ts_epoch_" + unit] += 1
            return n / per
    notes["ts_epoch_s"] += 1
    return n


_LEAP = re.compile(r"^(.*[T ]\d\d:\d\d):60(?=$|[.,+\-Z])")
_FRACTION = re.compile(r"[T ]\d\d:?\d\d:?\d\d[.,](\d+)")


def _text_time(text: str, notes: Counter[str]) -> tuple[list[Fraction], bool, bool]:
    """(times, loose, may be bad) of an ISO 8601 text; no times: bad."""
    s = text
    if re.search("[tz]", s):
        s = re.sub(r"(?<=\d)t(?=\d)", "T", s)
        s = re.sub(r"z$", "Z", s)
        notes["ts_lower_case"] += s != text
    leap = _LEAP.match(s)
    maybe_bad = False
    if leap:
        s = leap.group(1) + ":59" + s[leap.end():]
        notes["ts_leap_second"] += 1
        maybe_bad = not leap.group(1).endswith("23:59")  # RFC 3339: 23:59:60 only
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        notes["ts_text_bad"] += 1
        return [], False, True
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
        notes["ts_no_offset"] += 1
    whole = (dt.replace(microsecond=0) - EPOCH) // timedelta(seconds=1)
    frac = _FRACTION.search(s)
    digits = frac.group(1) if frac else ""
    t = Fraction(whole) + (Fraction(int(digits), 10**len(digits)) if digits else 0)
    if leap:
        t += 1
    if "T" not in s and " " not in s:
        notes["ts_date_only"] += 1
    notes["ts_text"] += 1
    if len(digits) > 6:
        notes["ts_fraction_past_us"] += 1
    return [t], len(digits) > 6, maybe_bad


def ref_ts(raw: Any, case: Case, notes: Counter[str]) -> tuple[Part, bool]:
    """The time part (values: exact Fractions) and whether it is compared to the µs."""
    loose = False
    may_be_bad = False
    if raw is ABSENT:
        notes["ts_missing"] += 1
        return Part({"missing_field"}, None), loose
    if type(raw) is int or (type(raw) is float and math.isfinite(raw)):
        times = [_epoch(Fraction(raw), notes)]
    elif type(raw) is float:
        notes["ts_non_finite_number"] += 1
        return Part({"bad_timestamp"}, None), loose
    elif type(raw) is str:
        text = raw.strip()  # whitespace around the time is left out
        notes["ts_padded"] += text != raw
        if re.fullmatch(r"[0-9]*\.?[0-9]*", text) and re.search("[0-9]", text):
            notes["ts_digit_string"] += 1
            # digits alone are the integer; with a point, the double a JSON number of the
            # same digits is (so a CSV cell and a JSON number agree)
            number = Fraction(text) if "." not in text else Fraction(float(text))
            notes["ts_digit_string_with_point"] += "." in text
            times = [_epoch(number, notes)]
        else:
            times, loose, may_be_bad = _text_time(text, notes)
    else:  # null, a bool, a list, an object: of the wrong type (missing_field) or bad
        notes["ts_wrong_type"] += 1
        return Part({"missing_field", "bad_timestamp"}, None), loose
    if any(t < 0 for t in times):
        notes["ts_before_1970"] += 1
        times = []
    if any(t > LAST_SECOND for t in times):  # after 9999-12-31T23:59:59Z
        notes["ts_after_9999"] += 1
        # a time that only its float puts on either side: either
        times = [t for t in times if t < LAST_SECOND + 1 and float(t) <= LAST_SECOND]
        may_be_bad = True
    elif any(float(t) > LAST_SECOND for t in times):
        may_be_bad = True
    if not times:
        return Part({"bad_timestamp"}, None), loose
    reasons = {"bad_timestamp"} if may_be_bad else set()
    limit = Fraction(case.not_after) if case.not_after != math.inf else None
    late = [t for t in times if limit is not None and t > limit]
    rounded_late = [t for t in times if float(t) > case.not_after]
    if late or rounded_late:
        notes["ts_future"] += 1
        reasons.add("future_timestamp")
        if late == times and rounded_late == times:
            return Part(reasons, None), loose
    elif case.not_after != math.inf and any(t == case.not_after for t in times):
        notes["ts_at_skew_limit"] += 1
    return Part(reasons, times), loose


def _finite(v: Any) -> bool | None:
    """Whether ``v`` is a finite number (an integer within ±1e300, the double); None: the
    docs allow either (the integer of the double 1e300 itself)."""
    if type(v) is int:
        return True if -1e300 < v < 1e300 else None if abs(v) == int(1e300) else False
    return type(v) is float and math.isfinite(v)


def _check_finite(values: Any, reasons: set[str], may_fail: set[str]) -> None:
    finite = [_finite(v) for v in values]
    if False in finite:
        reasons.add("non_finite")
    elif None in finite:
        may_fail.add("non_finite")


def ref_values(raw: Any, case: Case, notes: Counter[str]) -> Part:
    n = len(case.features)
    if type(raw) is list:
        notes["values_list"] += 1
        reasons: set[str] = set()
        maybe: set[str] = set()
        if len(raw) != n:
            notes["values_wrong_length"] += 1
            reasons.add("wrong_length")
        _check_finite(raw, reasons, maybe)
        notes["values_non_finite"] += "non_finite" in reasons
        if any(type(v) is int and abs(v) > 2**53 for v in raw):
            notes["values_large_int"] += 1
        return Part(reasons | maybe, None if reasons else [dict(enumerate(raw))])
    if type(raw) is not dict:
        notes["values_missing_or_wrong_type"] += 1
        return Part({"missing_field"}, None)
    notes["values_object"] += 1
    index = {name: i for i, name in enumerate(case.features)}
    unknown = [k for k in raw if k not in index]
    known = {index[k]: v for k, v in raw.items() if k in index}
    reasons: set[str] = set()
    may_fail: set[str] = set()
    if unknown and case.unknown == "reject":
        notes["values_unknown_rejected"] += 1
        reasons.add("unknown_feature")
        _check_finite([raw[k] for k in unknown], may_fail, may_fail)
    elif unknown:
        notes["values_unknown_ignored"] += 1
        # left out: whether its value is checked the docs do not say
        _check_finite([raw[k] for k in unknown], may_fail, may_fail)
    if len(known) < n and (not case.partial or not known):
        notes["values_missing_feature"] += 1
        reasons.add("missing_feature")
    elif len(known) < n:
        notes["values_some_features"] += 1
    _check_finite(known.values(), reasons, may_fail)
    notes["values_non_finite"] += "non_finite" in reasons
    if reasons:
        return Part(reasons | may_fail, None)
    return Part(may_fail, [known])


def reference(case: Case, notes: Counter[str] | None = None) -> Want:
    """What the docs allow the parser to make of ``case.raw``; ``notes`` counts the rules
    it took."""
    notes = notes if notes is not None else Counter()
    want = _reference(case, notes)
    if not want.event:
        for r in want.reasons:
            notes["reason_" + r] += 1
        if len(want.reasons) == 1:
            notes["only_" + next(iter(want.reasons))] += 1
    return want


def _reference(case: Case, notes: Counter[str]) -> Want:
    raw = case.raw
    if not raw:
        notes["empty"] += 1
        return Want({"bad_json"})
    want = Want()
    if len(raw) > case.max_event_bytes:
        notes["record_over_limit"] += 1
        want.reasons.add("oversized")
    elif len(raw) == case.max_event_bytes:
        notes["record_at_limit"] += 1
    body = raw.removeprefix(BOM)
    notes["bom"] += raw.startswith(BOM)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        notes["not_utf8"] += 1
        want.reasons.add("not_utf8")
        return want
    if case.huge_int:  # JSON, but Python's json refuses it: the docs do not say
        notes["huge_int"] += 1
        want.reasons |= {"bad_json", "non_finite"}
        return want
    constants = []

    def constant(name: str) -> float:  # NaN, Infinity: not JSON, but read (the docs)
        constants.append(name)
        return float(name)

    try:
        obj = json.loads(text, parse_constant=constant)
    except ValueError:
        notes["bad_json"] += 1
        want.reasons.add("bad_json")
        return want
    notes["nan_literal"] += bool(constants)
    if type(obj) is not dict:
        notes["not_object"] += 1
        want.reasons.add("not_object")
        return want
    names, ts_name, values_name = SHAPES[case.shape]
    if any(isinstance(n, str) and "." in n and n not in obj and get_field(obj, n) is not ABSENT
           for n in (names if isinstance(names, tuple) else (names,)) + (ts_name, values_name)):
        notes["dotted_path"] += 1
    if any(isinstance(n, str) and "." in n and n in obj
           for n in (names if isinstance(names, tuple) else (names,)) + (ts_name,)):
        notes["literal_dotted_key"] += 1
    entity = ref_entity(obj, names, case, notes)
    ts, loose = ref_ts(get_field(obj, ts_name), case, notes)
    values = ref_values(get_field(obj, values_name), case, notes)
    parts = (entity, ts, values)
    for p in parts:
        want.reasons |= p.reasons
    if all(p.values is not None for p in parts) and "oversized" not in want.reasons:
        want.event = True
        want.entities = entity.values or []
        want.times = ts.values or []
        want.loose_time = loose
        want.values = (values.values or [{}])[0]
        notes["event"] += 1
        if case.partial and len(want.values) < len(case.features):
            notes["partial_event"] += 1
    return want


# ---- the product ----------------------------------------------------------------------------

def product(case: Case) -> Event | PartialEvent | InvalidEvent:
    entity, ts, values = SHAPES[case.shape]
    parser = EventParser(case.features, case.max_event_bytes, case.max_entity_bytes,
                         fields=EventFieldsConfig(entity=entity, ts=ts, values=values),
                         unknown_features=case.unknown, partial=case.partial)
    parser.not_after = case.not_after
    got = parser.parse(case.raw)
    assert parser.parse_many(case.raw) == [got], "parse_many is not [parse]"
    return got


def _same_time(got: float, want: Fraction, loose: bool) -> bool:
    if loose:
        return abs(Fraction(got) - want) <= Fraction(1, 10**6)
    return got == float(want)


def agrees(want: Want, got: object) -> bool:
    if isinstance(got, InvalidEvent):
        return got.reason in want.reasons
    if not want.event or not isinstance(got, Event | PartialEvent):
        return False
    if got.entity not in want.entities:
        return False
    if not any(_same_time(got.ts, t, want.loose_time) for t in want.times):
        return False
    if isinstance(got, Event):
        values = dict(enumerate(got.values))
    else:
        values = got.values
    return values.keys() == want.values.keys() and all(
        type(values[i]) is not bool and float(values[i]) == float(v)
        for i, v in want.values.items())


# ---- the cases ------------------------------------------------------------------------------

def _sized(rng: random.Random, limit: int) -> str:
    """An id of exactly ``limit`` UTF-8 bytes, or one more, of 1-4-byte characters."""
    ch = rng.choice(["x", "é", "€", "😀"])
    size = len(ch.encode())
    target = limit + rng.choice([0, 0, 1])
    text = ch * (target // size)
    return text + "x" * (target - len(text.encode()))


def _entity_value(rng: random.Random, case: Case) -> Any:
    r = rng.random()
    if r < 0.55:
        return rng.choice(["web-1", "pump-7", "db-1", "a/b", "a%2Fb", "ünï"])
    if r < 0.7:
        return rng.choice([7, 0, -3, 2**63, 10**40])
    if r < 0.8:
        return _sized(rng, case.max_entity_bytes)
    return rng.choice([True, False, None, "", 7.5, 7.0, [], {}, ["web-1"], "web\n1",
                       "a\x7fb", "a\u2028b", "a\x85b", "a\ud800b", "\t", "a b",
                       10**400])


_RFC = ["2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00.5",
        "2026-01-01t00:00:00z", "2026-01-01T00:00:00z", "2026-01-01t00:00:00Z",
        "2026-01-01 00:00:00", "2026-01-01T00:00:00.123456789Z", "2026-01-01T00:00:00.1234567",
        "2026-01-01T00:00:00,25Z", "2016-12-31T23:59:60Z", "2016-12-31T23:59:60.25+00:00",
        "2016-12-31T23:59:61Z", "2016-12-31T23:60:00Z", "2026-01-01T12:30:60Z",
        "2026-01-01", "20261207T010203Z", "2026-W01-1", "9999-12-31T23:59:59Z",
        "9999-12-31T23:59:59.5Z", "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59-01:00", "9999-12-31T23:59:60Z", "0001-01-01T00:00:00+01:00",
        "1969-12-31T23:59:59.999Z", "2026-01-01T00:00:00-23:59", "2026-13-01T00:00:00Z",
        "2026-01-01T00:00", "2026-01-01T00:00:00+0100", "2026-01-01T00:00:00 Z", "",
        " 2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z ", "yesterday", "2026-1-1",
        "2026-01-01T00:00:00.Z", "2026-01-01T00:00:00+01:00:30", "2026-01-01T24:00:00Z"]
_EDGES = [10**11, 10**14, 10**17]


def _ts_value(rng: random.Random, case: Case) -> Any:
    r = rng.random()
    if r < 0.3:
        return rng.choice(_RFC)
    if r < 0.6:  # at a unit's boundary, and 2026 in each unit
        n = rng.choice([rng.choice(_EDGES) + rng.choice([-1, 0, 1]),
                        T0 * rng.choice([1, 1000, 10**6, 10**9]) + rng.randrange(1000),
                        T0 + rng.randrange(10**6)])
        form = rng.random()
        if form < 0.4:
            return n
        if form < 0.6:
            return float(n) + rng.choice([0.0, 0.5, 0.25])
        if form < 0.9:
            return str(n) + rng.choice(["", "", ".5", ".", ".123456789"])
        return rng.choice([f"{n}e0", f"+{n}", f"-{n}", f" {n}", f"{n} ", f"0x{n:x}"])
    if r < 0.7:  # the skew limit: not_after itself, just before and after it
        base = case.not_after if case.not_after != math.inf else T0
        unit = rng.choice([1, 1000, 10**6, 10**9])
        return int(base * unit) + rng.choice([-1, 0, 1])
    if r < 0.8:
        return rng.choice([-1, -86400.5, -(10**12), -(10**18), "-5", 0, 0.0, "0", ".5",
                           "5.", ".", "1.2.3", "١٢٣", 253402300799, 253402300799999,
                           253402300800000, 253402300799999999999, 253402300800000000000,
                           253402300799000000001, 253402300799000001, "253402300799000.5",
                           10**400, 1e300, 2**63, "99999999999999999999999"])
    return rng.choice([None, True, False, [], {}, [T0], {"s": T0}, float("nan"),
                       float("inf"), ABSENT])


def _number(rng: random.Random) -> Any:
    r = rng.random()
    if r < 0.7:
        return rng.choice([71.2, 1500, 0, 0.0, -2.5, rng.uniform(-1e6, 1e6), 2**63, 1e308])
    return rng.choice([None, True, False, "71.2", "1500", [1.0], {"v": 1}, float("nan"),
                       float("inf"), float("-inf"), 10**300, -(10**300), 10**300 + 1,
                       10**400, -(10**400)])


def _values(rng: random.Random, case: Case) -> Any:
    n = len(case.features)
    r = rng.random()
    if r < 0.35:
        length = n if rng.random() < 0.7 else max(0, n + rng.choice([-1, 1]))
        return [_number(rng) if rng.random() < 0.2 else rng.uniform(0, 100)
                for _ in range(length)]
    if r < 0.9:
        names = list(case.features)
        if rng.random() < (0.7 if case.partial else 0.4):
            names = rng.sample(names, rng.randint(0, n))
        if rng.random() < 0.35:
            names += rng.sample(["usage_idle", "extra", "TEMP", "temp ", "a"],
                                rng.randint(1, 2))
        rng.shuffle(names)
        return {k: (_number(rng) if rng.random() < 0.2 else rng.uniform(0, 100))
                for k in names}
    return rng.choice([None, 71.2, "71.2", True, ABSENT])


def _put(rng: random.Random, obj: dict[str, Any], name: str, value: Any) -> None:
    if value is ABSENT:
        return
    if "." not in name or rng.random() < 0.15:
        obj[name] = value  # a literal key with a dot wins over the path
        if "." in name and rng.random() < 0.5:
            head, _, tail = name.partition(".")
            obj.setdefault(head, {})
            if type(obj[head]) is dict:
                obj[head][tail] = "decoy"
        return
    node = obj
    keys = name.split(".")
    for key in keys[:-1]:
        if type(node.get(key)) is not dict:
            node[key] = {} if rng.random() < 0.97 else "not an object"
        node = node[key]
        if type(node) is not dict:
            return
    node[keys[-1]] = value


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    features = tuple(rng.sample(FEATURE_POOL, rng.randint(1, 4)))
    shape = rng.choice(list(SHAPES))
    unknown = rng.choice(["reject", "ignore"])
    partial = rng.random() < 0.3
    max_event_bytes = rng.choice([200, 1024, 4096])
    max_entity_bytes = rng.choice([8, 16, 512])
    not_after = rng.choice([math.inf, T0 + 300, T0 + rng.randrange(10**6) + 0.5])
    case = Case(features, shape, unknown, partial, max_event_bytes, max_entity_bytes,
                not_after, None)
    r = rng.random()
    if r < 0.02:
        case.raw = rng.choice([None, b""])
        return case
    names, ts_name, values_name = SHAPES[shape]
    obj: dict[str, Any] = {}
    # half the records take one part near its edges and the others plain, so that a fault
    # of that part's rule is not hidden behind another part's reason
    focus = rng.choice(["entity", "ts", "values", "all", "all", "all"])
    for name in (names if isinstance(names, tuple) else (names,)):
        _put(rng, obj, name, (_entity_value(rng, case) if rng.random() < 0.95 else ABSENT)
             if focus in ("entity", "all") else rng.choice(["web-1", "pump-7", 7]))
    _put(rng, obj, ts_name, _ts_value(rng, case) if focus in ("ts", "all")
         else T0 + rng.randrange(300))
    _put(rng, obj, values_name, _values(rng, case) if focus in ("values", "all")
         else [rng.uniform(0, 100) for _ in features])
    if rng.random() < 0.1:
        obj["name"] = "cpu"
        obj["note"] = rng.choice(["x" * rng.randrange(300), float("nan"), "é"])
    items = list(obj.items())
    rng.shuffle(items)
    doc: Any = dict(items)
    if r < 0.06:
        doc = rng.choice([[doc], "text", 42, None, True, [1, 2]])
    if rng.random() < 0.03 and type(doc) is dict:  # a JSON integer Python's json refuses
        doc[values_name] = "HUGE"
        case.huge_int = True
        case.max_event_bytes = rng.choice([4096, 20000])
    try:
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
    except (ValueError, OverflowError):
        text = json.dumps(doc, ensure_ascii=True)
    if case.huge_int:
        text = text.replace('"HUGE"', "[1" + "0" * 5000 + "]")
    raw = text.encode("utf-8", "surrogatepass")
    r = rng.random() if focus == "all" else 1.0
    if r < 0.05:
        raw = BOM + raw
    elif r < 0.07:
        raw = b" \n\t" + raw + b"\r\n "
    elif r < 0.08:
        raw = text.encode("utf-16", "surrogatepass")
    elif r < 0.09:
        i = rng.randrange(len(raw) + 1)
        raw = raw[:i] + rng.choice([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf"]) + raw[i:]
    elif r < 0.1:
        raw = raw[:rng.randrange(len(raw))]
    elif r < 0.11:
        raw = raw + rng.choice([b"x", b"}", b" {}", b"\x00"])
    elif r < 0.12:
        raw = BOM + BOM + raw
    elif r < 0.13:
        raw = b"Dec  7 04:00:00 web-1 sshd[1]: Accepted"
    if rng.random() < 0.15 and len(raw) < case.max_event_bytes:  # at the limit, one over
        raw = raw + b" " * (case.max_event_bytes - len(raw) + rng.choice([0, 0, 1]))
    case.raw = raw
    return case


def _explain(case: Case, want: Want, got: object) -> str:
    return "\n".join([
        (f"features={case.features} shape={case.shape} unknown={case.unknown} "
        f"partial={case.partial} max_event_bytes={case.max_event_bytes} "
        f"max_entity_bytes={case.max_entity_bytes} not_after={case.not_after}"),
        f"  record:  {case.raw!r}"[:2000],
        f"  docs:    {want}",
        f"  product: {got}"])


def check_seed(seed: int) -> None:
    case = make_case(seed)
    want = reference(case)
    got = product(case)
    assert agrees(want, got), _explain(case, want, got)
    if isinstance(got, Event | PartialEvent):
        raw_ts = get_field(json.loads(without_bom(case.raw)), SHAPES[case.shape][1])
        if type(raw_ts) is str:  # score reads the same time from a CSV cell
            assert parse_timestamp_text(raw_ts) == got.ts, \
                f"CSV cell {raw_ts!r}: {parse_timestamp_text(raw_ts)}\n" + \
                _explain(case, want, got)


def without_bom(raw: bytes | None) -> bytes:
    raw = raw or b""
    return raw.removeprefix(BOM)


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_the_event_parser_keeps_the_documented_rules(seeds: range) -> None:
    each_seed(seeds, check_seed)


RULES = (
    # each reason the parser gives, the only one a record could have
    "only_bad_json", "only_not_utf8", "only_not_object", "only_missing_field",
    "only_bad_timestamp", "only_future_timestamp", "only_unknown_feature",
    "only_missing_feature", "only_wrong_length", "only_non_finite", "only_oversized",
    "only_bad_entity",
    # and the rules that lead to them or past them
    "empty", "bom", "nan_literal", "record_at_limit", "record_over_limit", "huge_int",
    "dotted_path", "literal_dotted_key", "entity_int", "entity_joined", "entity_list_of_one",
    "entity_missing_or_wrong_type", "entity_bad", "entity_over_limit",
    "entity_multibyte_at_limit", "ts_missing", "ts_wrong_type", "ts_non_finite_number",
    "ts_digit_string", "ts_epoch_s", "ts_epoch_ms", "ts_epoch_us", "ts_epoch_ns", "ts_text",
    "ts_text_bad", "ts_lower_case", "ts_leap_second", "ts_no_offset", "ts_date_only",
    "ts_fraction_past_us", "ts_padded", "ts_before_1970", "ts_after_9999", "ts_future",
    "ts_at_skew_limit", "values_list",
    "values_wrong_length", "values_non_finite", "values_large_int", "values_object",
    "values_unknown_rejected", "values_unknown_ignored", "values_missing_feature",
    "values_some_features", "values_missing_or_wrong_type", "event", "partial_event",
)


def test_the_cases_reach_every_rule() -> None:
    """The default seeds make each reason as the only one a record has, and each rule of
    the contract (BOM, the record and the entity at their limits and past them, multi-byte
    ids at the limit, dotted paths and literal dotted keys, every epoch unit, text times
    with lower case, leap seconds, no offset, a date alone, more than µs, past 9999, the
    skew limit, lists and objects, ignored and rejected names, partial events), each
    several times. A test of nothing would pass the fuzz too."""
    notes: Counter[str] = Counter()
    for seed in range(500):
        reference(make_case(seed), notes)
    assert all(notes[rule] >= 3 for rule in RULES), {r: notes[r] for r in RULES
                                                     if notes[r] < 3}
