"""OTLP metric batches (``serve.event_format: otlp_proto`` or ``otlp_json``) -> one
:class:`~anomaly_gan.stream.events.PartialEvent` per data point, pure.

The OpenTelemetry Collector's ``kafka`` exporter writes one Kafka record per batch: an
``ExportMetricsServiceRequest`` in binary protobuf (its default encoding, ``otlp_proto``,
read as the document of its OTLP/JSON encoding: :func:`~anomaly_gan.otlp.decode_proto`)
or, with ``encoding: otlp_json``, in the OTLP/JSON encoding::

    {"resourceMetrics": [{"resource": {"attributes": [
        {"key": "host.name", "value": {"stringValue": "web-1"}}]},
      "scopeMetrics": [{"scope": {"name": "hostmetrics"}, "metrics": [
        {"name": "system.memory.utilization", "unit": "1", "gauge": {"dataPoints": [
          {"attributes": [{"key": "state", "value": {"stringValue": "used"}}],
           "timeUnixNano": "1767225600000000000", "asDouble": 0.41}]}}]}]}]}

Each number data point of a ``gauge`` or a ``sum`` is one value of one feature:

- **feature name**: the metric's ``name``, then, where the data point has attributes other
  than the entity's, ``{key=value,...}`` sorted by key, each value as text (a string as it
  is, an int in digits, a double as Python writes it, ``true``/``false``), no quotes and no
  spaces: ``system.memory.utilization{state=used}``, ``system.cpu.time{cpu=cpu0,state=user}``.
  Resource and scope attributes are not part of it.
- **value**: ``asDouble``, or ``asInt`` (a decimal string or a JSON number, exact). A
  ``sum`` is read as it is, whatever its temporality: a cumulative counter is a level that
  grows (a model must be trained on the same).
- **time**: ``timeUnixNano`` (required by OTLP; ``startTimeUnixNano`` is the start of a
  sum's period, not the sample's time).
- **start**: a cumulative sum's (``aggregationTemporality`` 2, or unspecified)
  ``startTimeUnixNano`` (where given, not 0) goes with the value
  (:attr:`~anomaly_gan.stream.events.PartialEvent.starts`): the series restarts when it
  moves on, which ``data.counters`` reads as a reset (``anomaly_gan/data/counters.py``;
  since 2026-12-06). A delta sum's or a gauge's is not read.
- **entity**: the attribute ``serve.otlp_entity`` of the data point, else of its resource.

Histograms, exponential histograms and summaries are not read (no feature can name them);
neither is a data point flagged ``NO_RECORDED_VALUE`` (a staleness marker), whatever its
feature. A data point of a metric the model does not know is invalid (``unknown_feature``),
or with ``serve.unknown_features: ignore`` left out. As one time's values arrive as separate data
points, the :class:`~anomaly_gan.stream.assemble.Assembler` (``serve.assemble_seconds``)
gathers them into whole events.

>>> import json
>>> p = MetricBatchParser(("load", "mem{state=used}"), unknown_features="ignore")
>>> doc = {"resourceMetrics": [{"resource": {"attributes": [
...     {"key": "host.name", "value": {"stringValue": "web-1"}}]}, "scopeMetrics": [{"metrics": [
...     {"name": "mem", "gauge": {"dataPoints": [
...         {"attributes": [{"key": "state", "value": {"stringValue": "used"}}],
...          "timeUnixNano": "1767225600000000000", "asDouble": 0.41},
...         {"attributes": [{"key": "state", "value": {"stringValue": "free"}}],
...          "timeUnixNano": "1767225600000000000", "asDouble": 0.59}]}},
...     {"name": "load", "sum": {"dataPoints": [
...         {"timeUnixNano": "1767225600000000000", "asInt": "7"}]}}]}]}]}
>>> p.parse_many(json.dumps(doc).encode())  # doctest: +NORMALIZE_WHITESPACE
[PartialEvent(entity='web-1', ts=1767225600.0, values={1: 0.41}),
 PartialEvent(entity='web-1', ts=1767225600.0, values={0: 7})]
"""

from __future__ import annotations

import math
from typing import Any

from anomaly_gan.otlp import (
    METRICS,
    OtlpFieldError,
    any_text,
    attribute,
    batch_items,
    decode_proto,
    integer,
    nanos,
    plain,
    repeated,
)
from anomaly_gan.stream.events import (
    MAX_ENTITY_BYTES,
    InvalidEvent,
    PartialEvent,
    check_entity,
    decode_object,
    parse_timestamp,
    without_bom,
)

__all__ = ["NUMBER_KINDS", "MetricBatchParser", "feature_name"]

#: The kinds of metric whose data points are numbers, and so features.
NUMBER_KINDS = ("gauge", "sum")
_NO_RECORDED_VALUE = 1  # DataPointFlags: the point marks a series gone stale, no value
_NON_FINITE = ("NaN", "Infinity", "-Infinity")  # protobuf's JSON mapping of such a double


def feature_name(metric: str, labels: list[tuple[str, str]]) -> str:
    """The feature a data point is a value of: ``metric{key=value,...}``, keys sorted.

    >>> feature_name("system.cpu.time", [("state", "user"), ("cpu", "cpu0")])
    'system.cpu.time{cpu=cpu0,state=user}'
    >>> feature_name("system.cpu.load_average.1m", [])
    'system.cpu.load_average.1m'
    """
    if not labels:
        return metric
    return metric + "{" + ",".join(f"{k}={v}" for k, v in sorted(labels)) + "}"


class MetricBatchParser:
    """The parser of ``serve.event_format: otlp_proto`` and ``otlp_json`` (``format``):
    each record a batch of data points.

    ``unknown_features``: ``reject`` a data point of a feature the model does not know
    (``unknown_feature``), or ``ignore`` it. A batch whose number data points are all of
    other features is ``missing_feature`` (its detail names them: how a model's feature
    names and a Collector's metrics are matched up).
    """

    def __init__(self, feature_names: tuple[str, ...] | list[str],
                 max_entity_bytes: int = MAX_ENTITY_BYTES, *, otlp_entity: str = "host.name",
                 unknown_features: str = "reject", format: str = "otlp_json") -> None:
        self.feature_names = tuple(feature_names)
        self.format = format
        self._binary = format == "otlp_proto"
        self.max_entity_bytes = int(max_entity_bytes)
        self.otlp_entity = otlp_entity
        self.ignore_unknown = unknown_features == "ignore"
        self._index = {name: i for i, name in enumerate(self.feature_names)}
        # Latest acceptable data point time (epoch s); the service moves it with the clock.
        self.not_after = math.inf
        # True: a feature the parser does not know is added to feature_names (in first-seen
        # order) instead: train reads a metric file's features so (data/otlp_files.py)
        self.learn = False
        # A dict: each metric's kind seen ({name: "gauge", "sum", "delta sum" or
        # "non-monotonic sum"}), which train's reader checks data.counters against
        # (data/otlp_files.py)
        self.kinds: dict[str, str] | None = None

    def parse(self, raw: bytes | None) -> InvalidEvent:
        raise ValueError(f"an {self.format} record holds many data points: use parse_many")

    def parse_many(self, raw: bytes | None) -> list[PartialEvent | InvalidEvent]:
        """One event per data point of a feature of the model, in document order, and one
        invalid event per data point (or metric) of the wrong shape; one invalid event for a
        record malformed as a whole (not UTF-8, not JSON, or in ``otlp_proto`` no protobuf
        request; no ``resourceMetrics`` list, an envelope of the wrong shape). Never raises
        for any input.

        >>> MetricBatchParser(("up",)).parse_many(b'{"resourceMetrics": [{"scopeMetrics": '
        ...     b'[{"metrics": [{"name": "up", "gauge": {"dataPoints": [{"asInt": 1}]}}]}]}]}')
        [InvalidEvent(reason='missing_field', detail="resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[0]: no 'host.name' attribute on the data point or its resource (serve.otlp_entity)")]
        """
        if raw is None:
            return [InvalidEvent("bad_json", "empty record value (tombstone)")]
        if self._binary:
            doc = decode_proto(raw, METRICS)
        else:
            try:
                text = without_bom(raw).decode("utf-8")
            except UnicodeDecodeError as exc:
                return [InvalidEvent("not_utf8", f"not UTF-8: {exc}")]
            doc = decode_object(text)
        if isinstance(doc, InvalidEvent):
            return [doc]
        found = batch_items(doc, METRICS)
        if isinstance(found, InvalidEvent):
            return [found]
        out: list[PartialEvent | InvalidEvent] = []
        others: dict[str, None] = {}  # features of data points left out, the first few
        known = False
        for where, metric, resource in found:
            if type(metric) is not dict:
                out.append(InvalidEvent("not_object", f"{where} must be an object"))
                continue
            try:
                series = self._series(metric)
            except OtlpFieldError as exc:
                out.append(InvalidEvent(exc.reason, f"{where}: {exc}"))
                continue
            if self.kinds is not None:
                for kind, name, _ in series:
                    self.kinds[name] = _kind_of(kind, metric[kind])
            for kind, name, points in series:
                # a cumulative sum's start time: a later one is a restart (data/counters.py)
                cumulative = kind == "sum" and metric[kind].get("aggregationTemporality") \
                    not in _DELTA
                for k, point in enumerate(points):
                    if type(point) is not dict:
                        out.append(InvalidEvent("not_object", f"{where}.{kind}.dataPoints[{k}] "
                                                              f"must be an object"))
                        continue
                    try:
                        ev = self._point(name, point, resource, where, cumulative)
                    except OtlpFieldError as exc:
                        ev = InvalidEvent(exc.reason, str(exc))
                    except RecursionError:
                        ev = InvalidEvent("bad_json", "nested too deeply")
                    if type(ev) is InvalidEvent:  # its place, built here only: ~15% faster
                        ev = InvalidEvent(ev.reason, f"{where}.{kind}.dataPoints[{k}]: "
                                                     f"{ev.detail}")
                    elif isinstance(ev, str):  # a feature the model does not know, left out
                        if ev and len(others) < 5:  # "": a staleness marker, uncounted
                            others[ev] = None
                        continue
                    known = True
                    if ev is not None:
                        out.append(ev)
        if others and not known and not out:
            return [InvalidEvent("missing_feature", f"none of the batch's data points is of "
                                 f"the model's features; expected some of "
                                 f"{list(self.feature_names)}, got {list(others)}")]
        return out

    @staticmethod
    def _series(metric: dict[str, Any]) -> list[tuple[str, str, list[Any]]]:
        """``(kind, metric name, data points)`` of a gauge or a sum (none for another kind
        of metric)."""
        out = []
        for kind in NUMBER_KINDS:
            data = metric.get(kind)
            if data is None:
                continue
            name = metric.get("name")
            if type(name) is not str or not name:
                raise OtlpFieldError("missing_field", "'name' must be a non-empty string")
            if type(data) is not dict:
                raise OtlpFieldError("not_object", f"{kind!r} must be an object")
            points = repeated(data.get("dataPoints"), f"'{kind}.dataPoints'")
            if isinstance(points, InvalidEvent):
                raise OtlpFieldError(points.reason, points.detail)
            out.append((kind, name, points))
        return out

    def _point(self, name: str, point: dict[str, Any], resource: Any, where: str,
               cumulative: bool = False) -> PartialEvent | InvalidEvent | str | None:
        """One data point's event, or why it is invalid (the caller puts its place before
        the detail; ``where``: its metric's place); the feature's name where the model does
        not know it and ignores such; None for a point with no value (a staleness marker)
        of a feature of the model, ``""`` for one of another feature (left out, uncounted,
        however ``unknown_features`` is set). ``cumulative``: a
        point of a cumulative sum, whose ``startTimeUnixNano`` the event carries."""
        key = self.otlp_entity
        attributes = repeated(point.get("attributes"), "'attributes'")
        if isinstance(attributes, InvalidEvent):
            raise OtlpFieldError(attributes.reason, attributes.detail)
        labels = []
        for i, kv in enumerate(attributes):
            if type(kv) is not dict or type(kv.get("key")) is not str:
                raise OtlpFieldError("missing_field", f"'attributes'[{i}] must be an object "
                                                      f"with a string 'key'")
            if kv["key"] != key:
                value = plain(kv.get("value") or {}, f"attribute {kv['key']!r:.40}")
                labels.append((kv["key"], any_text(value)))
        feature = feature_name(name, labels)
        index = self._index.get(feature)
        if _no_value(point):
            # a staleness marker holds no value: nothing to read, nor to refuse or learn,
            # whatever its feature (until 2026-12-07 one of a feature the model does not
            # know was unknown_feature, or with ignore made a batch missing_feature)
            return None if index is not None or self.learn else ""
        if index is None and self.learn:
            index = self._index[feature] = len(self.feature_names)
            self.feature_names = (*self.feature_names, feature)
        if index is None:
            if self.ignore_unknown:
                return feature
            return InvalidEvent("unknown_feature", f"unknown feature {feature!r:.120}; "
                                                   f"expected some of "
                                                   f"{list(self.feature_names)} "
                                                   f"(serve.unknown_features: ignore leaves "
                                                   f"such data points out)")
        entity = attribute(attributes, key, "")
        if entity is None:
            entity = attribute(resource, key, where.partition(".")[0] + ".resource")
        if entity is None:
            return InvalidEvent("missing_field", f"no {key!r} attribute on the data point or "
                                                 f"its resource (serve.otlp_entity)")
        bad = check_entity(entity, self.max_entity_bytes, key)
        if bad is not None:
            return bad
        ns = nanos(point.get("timeUnixNano"))
        if ns is None:
            return InvalidEvent("missing_field", "'timeUnixNano' is missing (or 0)")
        ts = parse_timestamp(ns, per_second=10**9)
        if ts is None:
            return InvalidEvent("bad_timestamp", f"'timeUnixNano' {ns} is not "
                                                 f"nanoseconds since the epoch up to the year "
                                                 f"9999")
        if ts > self.not_after:
            return InvalidEvent("future_timestamp", f"'timeUnixNano' {ns} is more than "
                                                    f"the allowed clock skew ahead of the wall "
                                                    f"clock")
        value = _value(point)
        if isinstance(value, InvalidEvent):
            return value
        if cumulative:
            try:
                start = nanos(point.get("startTimeUnixNano"), "startTimeUnixNano")
            except OtlpFieldError:  # unreadable: no start time, as before 2026-12-06
                start = None
            if start is not None:
                return PartialEvent(entity, ts, {index: value}, {index: float(start)})
        return PartialEvent(entity, ts, {index: value})


# AggregationTemporality: a number in OTLP/JSON and in decode_proto's document, its name
# from some writers
_DELTA = (1, "1", "AGGREGATION_TEMPORALITY_DELTA")


def _kind_of(kind: str, data: dict[str, Any]) -> str:
    """``gauge``, ``sum`` (monotonic, cumulative or unspecified), ``delta sum`` or
    ``non-monotonic sum``: each of a delta sum's data points is the increase over its own
    period, not a running total; a non-monotonic sum (an UpDownCounter: the hostmetrics
    receiver's ``system.memory.usage``, ``system.filesystem.usage``) is a level that falls
    as well as grows (``isMonotonic`` false or absent: protobuf's JSON mapping leaves a false
    out)."""
    if kind != "sum":
        return kind
    if data.get("aggregationTemporality") in _DELTA:
        return "delta sum"
    if data.get("isMonotonic") is not True:
        return "non-monotonic sum"
    return kind


def _no_value(point: dict[str, Any]) -> bool:
    """Whether a data point is flagged ``NO_RECORDED_VALUE`` (a series gone stale)."""
    flags = point.get("flags")
    return flags is not None and bool(integer(flags, "'flags'") & _NO_RECORDED_VALUE)


def _quoted(value: object) -> str:
    """A refused value as a dead letter's ``detail`` quotes it: its ``repr`` cut at 40
    characters, its credentials as ``<SECRET>``, as a refused log line's."""
    # imported here: anomaly_gan.logs imports this module
    from anomaly_gan.logs.secrets import quote_redacted

    return quote_redacted(value, 40)


def _value(point: dict[str, Any]) -> float | int | InvalidEvent:
    """A number data point's value: ``asDouble``, or ``asInt`` exactly."""
    double, whole = point.get("asDouble"), point.get("asInt")
    if (double is None) == (whole is None):
        return InvalidEvent("missing_field", "'asDouble' or 'asInt' is missing" if double is None
                            else "holds both 'asDouble' and 'asInt'")
    if whole is not None:
        try:
            n = integer(whole, "")
        except OtlpFieldError:
            return InvalidEvent("non_finite", f"'asInt' {_quoted(whole)} is not an integer (a "
                                              f"decimal string)")
        # a JSON number may have thousands of digits, which no window's float holds
        if -1e300 < n < 1e300:
            return n
        return InvalidEvent("non_finite", "'asInt' is an integer out of float range")
    if type(double) is float:
        if double - double == 0.0:
            return double
    elif type(double) is int:
        if -1e300 < double < 1e300:
            return double
    elif double not in _NON_FINITE:
        return InvalidEvent("non_finite", f"'asDouble' {_quoted(double)} is not a number")
    return InvalidEvent("non_finite", "'asDouble' is NaN or infinite")
