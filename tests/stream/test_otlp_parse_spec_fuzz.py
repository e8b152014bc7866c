"""Seeded test of the OTLP metric parser against a reference written from its prose contract.

``serve``'s intake, the metric file reader (``anomaly_gan/data/otlp_files.py``) and
``retrain`` all read OpenTelemetry batches with
:class:`~anomaly_gan.stream.otlp.MetricBatchParser`, so the differential fuzz tests between
them cannot find a fault in it, and tests/stream/test_otlp.py's Hypothesis tests only ask
that it never raises. Here :func:`reference` restates docs/streaming.md (*OpenTelemetry
metrics*: the table of parts, *Not read*, *Other metrics*, the counters note) without the
product's code:

- each data point of a ``gauge`` or a ``sum`` (``resourceMetrics[].scopeMetrics[].metrics[]``,
  in document order) is one value of one feature; histograms, exponential histograms and
  summaries are not read, and neither is a data point flagged ``NO_RECORDED_VALUE`` (bit 1
  of ``flags``): left out, uncounted;
- feature: the metric's name, then, where the data point has attributes other than the
  entity's, ``{key=value,...}`` sorted by key, a string as it is, an int in digits, a double
  as Python writes it, ``true``/``false``;
- value: ``asDouble``, or ``asInt`` exactly (a decimal string or a JSON number; beyond
  ±1e300 ``non_finite``; ``"NaN"`` ``non_finite``; neither ``missing_field``);
- time: ``timeUnixNano`` / 1e9, divided exactly; absent or 0 ``missing_field``;
- start: a cumulative sum's ``startTimeUnixNano`` (absent or 0: none); a delta sum's
  (``aggregationTemporality`` 1) and a gauge's are not read;
- entity: the attribute ``serve.otlp_entity`` of the data point, else of its resource (a
  string, or an ``intValue`` in digits), else ``missing_field``;
- a feature the model does not know: ``unknown_feature`` with ``reject``, left out with
  ``ignore``; a batch none of whose data points is of the model's features (and with
  something of other features) is one ``missing_feature``;
- each metric's kind for the counters note: ``gauge``, ``delta sum``, ``non-monotonic sum``
  (``isMonotonic`` false or left out) or ``sum``.

Where several reasons apply to one data point the docs do not say which is given, so the
reference gives the set and the product's must be one of them.

Each seed draws the entity attribute (``host.name`` or ``service.instance.id``), 1-3
resources (with the entity as a string or an ``intValue``, or without it), 1-2 scopes, 1-3
metrics each from a pool of gauges, sums (delta, cumulative, unspecified; monotonic or
not) and histograms, summaries and exponential histograms, 1-4 data points per metric with
attributes of strings, ints, doubles and bools (sometimes the entity's own, which then
wins), times the same or apart, start times absent, 0 or set, flags 0-3, values as
``asDouble`` (0.0, integral, negative) or ``asInt`` (string-encoded int64 up to ±2**63, or
a JSON number), a few invalid on purpose (no time, no value, NaN, an ``asInt`` past 1e300);
the model's features are a random subset of those the pool can make, in random order, with
``unknown_features`` reject or ignore. Each request goes to the product as OTLP/JSON and,
where protobuf can hold it, as protobuf. ``OTLP_PARSE_SPEC_FUZZ_SEEDS`` (default 500,
about 3 s) seeds from ``OTLP_PARSE_SPEC_FUZZ_SEED_START`` (default 0):
``OTLP_PARSE_SPEC_FUZZ_SEED_START=17 OTLP_PARSE_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import os
import random
from collections import Counter
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import pytest

from anomaly_gan.stream.events import InvalidEvent, PartialEvent
from anomaly_gan.stream.otlp import MetricBatchParser
from tests.support.fuzz import block_id, each_seed, first_difference, seed_blocks
from tests.support.otlp import to_proto

SEEDS = int(os.environ.get("OTLP_PARSE_SPEC_FUZZ_SEEDS", "500"))
SEED_START = int(os.environ.get("OTLP_PARSE_SPEC_FUZZ_SEED_START", "0"))

T0 = 1767225600  # 2026-01-01T00:00:00Z
INT64_MAX = 2**63 - 1
TEMPORALITY = {None: None, 0: 0, 1: 1, 2: 2, "AGGREGATION_TEMPORALITY_DELTA": 1,
               "AGGREGATION_TEMPORALITY_CUMULATIVE": 2, "AGGREGATION_TEMPORALITY_UNSPECIFIED": 0}
#: the attributes a metric's data points may carry: key -> AnyValues
LABELS: dict[str, list[dict[str, Any]]] = {
    "state": [{"stringValue": "used"}, {"stringValue": "free"}],
    "cpu": [{"intValue": "0"}, {"intValue": "1"}],
    "ratio": [{"doubleValue": 0.5}, {"doubleValue": 3.0}],
    "up": [{"boolValue": True}, {"boolValue": False}],
}


@dataclass
class Case:
    doc: dict[str, Any]
    features: tuple[str, ...]
    entity_key: str
    unknown: str  # serve.unknown_features
    proto: bool  # whether protobuf can hold the request (int64 fields within range)


# ---- the reference: docs/streaming.md, not the product -------------------------------------

def _text(value: dict[str, Any]) -> str:
    """An attribute's AnyValue as a feature name writes it."""
    (kind, v), = value.items()
    if kind == "stringValue":
        return v
    if kind == "intValue":
        return str(int(v))
    if kind == "doubleValue":
        return repr(float(v))
    if kind == "boolValue":
        return "true" if v else "false"
    raise AssertionError(kind)


def _feature(metric: str, labels: dict[str, str]) -> str:
    if not labels:
        return metric
    return metric + "{" + ",".join(f"{k}={labels[k]}" for k in sorted(labels)) + "}"


def _entity(attributes: list[dict[str, Any]], key: str) -> str | None:
    for kv in attributes:
        if kv["key"] == key:
            (kind, v), = kv["value"].items()
            return v if kind == "stringValue" else str(int(v))
    return None


def _ns(value: Any) -> int:
    return int(value) if value is not None else 0


def reference(case: Case, notes: Counter[str] | None = None
              ) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    """What the docs say ``case.doc`` reads as: ``("event", entity, ts, values, starts)``
    or ``("invalid", {reasons})`` per data point, in document order, and each gauge's and
    sum's kind by metric name."""
    notes = notes if notes is not None else Counter()
    index = {name: i for i, name in enumerate(case.features)}
    out: list[tuple[Any, ...]] = []
    kinds: dict[str, str] = {}
    of_model = of_others = False
    for res in case.doc["resourceMetrics"]:
        resource = res.get("resource", {}).get("attributes", [])
        for scope in res.get("scopeMetrics", []):
            for metric in scope.get("metrics", []):
                kind = next(k for k in ("gauge", "sum", "histogram", "summary",
                                        "exponentialHistogram") if k in metric)
                if kind not in ("gauge", "sum"):
                    notes["not_read_" + kind] += 1
                    continue
                data = metric[kind]
                temporality = TEMPORALITY[data.get("aggregationTemporality")]
                if kind == "gauge":
                    kinds[metric["name"]] = "gauge"
                elif temporality == 1:
                    kinds[metric["name"]] = "delta sum"
                elif data.get("isMonotonic") is not True:
                    kinds[metric["name"]] = "non-monotonic sum"
                else:
                    kinds[metric["name"]] = "sum"
                for point in data["dataPoints"]:
                    attributes = point.get("attributes", [])
                    labels = {kv["key"]: _text(kv["value"]) for kv in attributes
                              if kv["key"] != case.entity_key}
                    feature = _feature(metric["name"], labels)
                    known = feature in index
                    if point.get("flags", 0) & 1:  # NO_RECORDED_VALUE: not read, uncounted
                        notes["stale_known" if known else "stale_unknown"] += 1
                        of_model |= known
                        continue
                    if not known and case.unknown == "ignore":
                        notes["ignored"] += 1
                        of_others = True
                        continue
                    reasons = set()
                    if not known:
                        reasons.add("unknown_feature")
                    of_model |= known
                    entity = _entity(attributes, case.entity_key)
                    if entity is not None:
                        notes["entity_of_point"] += 1
                    else:
                        entity = _entity(resource, case.entity_key)
                    if entity is None:
                        reasons.add("missing_field")
                    ns = _ns(point.get("timeUnixNano"))
                    if ns == 0:
                        reasons.add("missing_field")
                    double, whole = point.get("asDouble"), point.get("asInt")
                    value: float | int | None = None
                    if double is None and whole is None:
                        reasons.add("missing_field")
                    elif whole is not None:
                        value = int(whole)
                        if not -1e300 < value < 1e300:
                            reasons.add("non_finite")
                    elif double == "NaN":
                        reasons.add("non_finite")
                    else:
                        value = float(double)  # a JSON number, integral or not
                    if reasons:
                        notes["invalid_" + "_".join(sorted(reasons))] += 1
                        out.append(("invalid", frozenset(reasons)))
                        continue
                    i = index[feature]
                    start = _ns(point.get("startTimeUnixNano"))
                    starts = None
                    if kind == "sum" and temporality != 1 and start:
                        starts = {i: float(start)}
                        notes["start_" + ("unspecified" if temporality in (None, 0)
                                          else "cumulative")] += 1
                    elif start:
                        notes["start_not_read_" + ("delta" if kind == "sum" else kind)] += 1
                    notes["labelled" if labels else "bare"] += 1
                    notes["as_int_large" if whole is not None and abs(int(whole)) > 2**53
                           else "value"] += 1
                    out.append(("event", entity, ns / 10**9, {i: value}, starts))
    if of_others and not of_model and not out:
        notes["missing_feature"] += 1
        return [("invalid", frozenset({"missing_feature"}))], kinds
    return out, kinds


# ---- the product ----------------------------------------------------------------------------

def product(case: Case, raw: bytes, fmt: str) -> tuple[list[tuple[Any, ...]], dict[str, str]]:
    parser = MetricBatchParser(case.features, otlp_entity=case.entity_key,
                               unknown_features=case.unknown, format=fmt)
    parser.kinds = {}
    out: list[tuple[Any, ...]] = []
    for ev in parser.parse_many(raw):
        if isinstance(ev, PartialEvent):
            out.append(("event", ev.entity, ev.ts, ev.values, ev.starts))
        else:
            assert isinstance(ev, InvalidEvent)
            out.append(("invalid", ev.reason, ev.detail))
    return out, parser.kinds


def agrees(want: tuple[Any, ...], got: tuple[Any, ...]) -> bool:
    if want[0] == "invalid":
        return got[0] == "invalid" and got[1] in want[1]
    # exact: an asInt value stays an int (2**63 - 1 is no float), starts included
    return want == got and all(type(got[3][i]) is int for i, v in want[3].items()
                               if type(v) is int)


# ---- the cases ------------------------------------------------------------------------------

def _int64(rng: random.Random, small: bool = False) -> int:
    if small or rng.random() < 0.5:
        return rng.randint(-1000, 1000)
    return rng.choice([INT64_MAX, -INT64_MAX - 1, 2**53 + 1, rng.randint(-INT64_MAX, INT64_MAX)])


def make_case(seed: int) -> Case:
    rng = random.Random(seed)
    entity_key = rng.choice(["host.name", "service.instance.id"])
    proto = True
    pool: dict[str, dict[str, Any]] = {}
    for n in range(rng.randint(2, 6)):
        kind = rng.choices(["gauge", "sum", "histogram", "summary", "exponentialHistogram"],
                           [4, 4, 1, 1, 1])[0]
        spec: dict[str, Any] = {"kind": kind,
                                "labels": rng.sample(sorted(LABELS), rng.randint(0, 2))}
        if kind == "sum":
            spec["temporality"] = rng.choice(list(TEMPORALITY))
            spec["monotonic"] = rng.choice([True, False, None])
        pool[f"app.metric_{n}"] = spec
    # every feature the pool can make, of each metric's label keys or a subset of them
    candidates = []
    for name, spec in pool.items():
        if spec["kind"] not in ("gauge", "sum"):
            continue
        for r in range(len(spec["labels"]) + 1):
            for keys in combinations(spec["labels"], r):
                combos: list[dict[str, str]] = [{}]
                for k in keys:
                    combos = [{**c, k: _text(v)} for c in combos for v in LABELS[k]]
                candidates += [_feature(name, c) for c in combos]
    features = rng.sample(candidates, rng.randint(1, max(1, min(len(candidates), 6)))) \
        if candidates else ["app.absent"]
    entities = ["web-1", "web-2", "db-1"]
    # whole seconds, and nanoseconds that a float of the 19 digits divided would round off
    times = [T0 * 10**9 + k * 10 * 10**9 + rng.choice([0, 0, 1, rng.randrange(10**9)])
             for k in range(3)]

    def entity_value() -> dict[str, Any]:
        if rng.random() < 0.2:
            return {"intValue": str(rng.randint(0, 99))}
        return {"stringValue": rng.choice(entities)}

    def number(value: int) -> Any:
        return str(value) if rng.random() < 0.8 else value  # OTLP/JSON writes a string

    def point(spec: dict[str, Any]) -> dict[str, Any]:
        nonlocal proto
        p: dict[str, Any] = {}
        keys = [k for k in spec["labels"] if rng.random() < 0.85]
        attributes = [{"key": k, "value": rng.choice(LABELS[k])} for k in keys]
        if rng.random() < 0.15:
            attributes.insert(rng.randint(0, len(attributes)),
                              {"key": entity_key, "value": entity_value()})
        if rng.random() < 0.05:  # another entity key than serve's: a label like any
            other = "service.instance.id" if entity_key == "host.name" else "host.name"
            attributes.append({"key": other, "value": {"stringValue": "x"}})
        if attributes:
            p["attributes"] = attributes
        r = rng.random()
        if spec["kind"] == "sum" or rng.random() < 0.3:
            if r < 0.6:
                p["startTimeUnixNano"] = number(T0 * 10**9 - rng.choice([1, 3600]) * 10**9)
            elif r < 0.7:
                p["startTimeUnixNano"] = rng.choice(["0", 0])
        r = rng.random()
        if r < 0.03:
            pass  # no time: missing_field
        elif r < 0.05:
            p["timeUnixNano"] = rng.choice(["0", 0])
        else:
            p["timeUnixNano"] = number(rng.choice(times))
        r = rng.random()
        if r < 0.45:
            p["asDouble"] = rng.choice([0.0, -2.5, 3.0, rng.uniform(-1e6, 1e6), 1e300])
            if rng.random() < 0.15:
                p["asDouble"] = rng.randint(-5, 5)  # a JSON number without a point
        elif r < 0.93:
            p["asInt"] = number(_int64(rng))
        elif r < 0.95:
            p["asDouble"] = "NaN"
        elif r < 0.97:
            p["asInt"] = 10**301 * rng.choice([1, -1])  # a JSON number past 1e300
            proto = False
        # else no value: missing_field
        r = rng.random()
        if r < 0.15:
            p["flags"] = rng.choice([1, 3])
        elif r < 0.25:
            p["flags"] = rng.choice([0, 2])
        return p

    def metric(name: str) -> dict[str, Any]:
        spec = pool[name]
        kind = spec["kind"]
        m: dict[str, Any] = {"name": name, "unit": "1"}
        if kind in ("gauge", "sum"):
            data: dict[str, Any] = {"dataPoints": [point(spec)
                                                   for _ in range(rng.randint(1, 4))]}
            if kind == "sum":
                if spec["temporality"] is not None:
                    data["aggregationTemporality"] = spec["temporality"]
                if spec["monotonic"] is not None:
                    data["isMonotonic"] = spec["monotonic"]
        elif kind == "histogram":
            data = {"aggregationTemporality": 2, "dataPoints": [
                {"timeUnixNano": str(times[0]), "count": "3", "sum": 4.5,
                 "bucketCounts": ["1", "2"], "explicitBounds": [1.0]}]}
        elif kind == "summary":
            data = {"dataPoints": [{"timeUnixNano": str(times[0]), "count": "2", "sum": 1.0,
                                    "quantileValues": [{"quantile": 0.5, "value": 0.4}]}]}
        else:
            data = {"aggregationTemporality": 1, "dataPoints": [
                {"timeUnixNano": str(times[0]), "count": "1", "scale": 0, "zeroCount": "0",
                 "positive": {"offset": 0, "bucketCounts": ["1"]}}]}
        m[kind] = data
        return m

    resources = []
    for _ in range(rng.randint(1, 3)):
        attributes = [{"key": "os.type", "value": {"stringValue": "linux"}}]
        if rng.random() < 0.8:
            attributes.insert(rng.randint(0, 1), {"key": entity_key, "value": entity_value()})
        scopes = [{"scope": {"name": f"scope{j}"},
                   "metrics": [metric(rng.choice(sorted(pool)))
                               for _ in range(rng.randint(1, 3))]}
                  for j in range(rng.randint(1, 2))]
        resources.append({"resource": {"attributes": attributes}, "scopeMetrics": scopes})
    return Case({"resourceMetrics": resources}, tuple(features), entity_key,
                rng.choice(["reject", "ignore"]), proto)


def _explain(case: Case, fmt: str, want: list[Any], got: list[Any]) -> str:
    first, shown = first_difference(want, got, agrees)
    return "\n".join([
        f"{fmt}: features={case.features} entity={case.entity_key} unknown={case.unknown}",
        json.dumps(case.doc, indent=1)[:6000],
        f"{len(want)} outcomes by the docs, {len(got)} by the product; first difference at "
        + f"{first}:", *shown])


def check_seed(seed):
    case = make_case(seed)
    want, want_kinds = reference(case)
    encodings = [("otlp_json", json.dumps(case.doc).encode())]
    if case.proto:
        encodings.append(("otlp_proto", to_proto(case.doc)))
    for fmt, raw in encodings:
        got, got_kinds = product(case, raw, fmt)
        assert len(got) == len(want) and all(map(agrees, want, got)), \
            _explain(case, fmt, want, got)
        assert got_kinds == want_kinds, f"{fmt}: kinds {got_kinds} != docs' {want_kinds}"


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_the_otlp_parser_keeps_the_documented_mapping(seeds):
    each_seed(seeds, check_seed)


def test_the_cases_reach_every_rule():
    """The generator makes what the contract speaks of, each many times in 300 seeds:
    labelled and bare features, entities of the data point, staleness markers of known and
    unknown features, ignored features and batches of none of the model's, start times read
    (cumulative and unspecified sums) and not (delta sums, gauges), int64s past 2**53, each
    kind the parser does not read, each invalid reason. A test of nothing would pass too."""
    notes: Counter[str] = Counter()
    for seed in range(300):
        reference(make_case(seed), notes)
    rules = ("labelled", "bare", "entity_of_point", "stale_known", "stale_unknown",
             "ignored", "missing_feature", "start_cumulative", "start_unspecified",
             "start_not_read_delta", "start_not_read_gauge", "as_int_large", "value",
             "not_read_histogram", "not_read_summary", "not_read_exponentialHistogram",
             "invalid_unknown_feature", "invalid_missing_field", "invalid_non_finite")
    assert all(notes[rule] >= 5 for rule in rules), {r: notes[r] for r in rules}
