"""Cost of EventParser.parse per event, the hot path of `make bench-stream`'s intake.

    .venv/bin/python bench/parse.py [--events 200000] [--repeats 5]

Parses the same typical event (8 features, an RFC 3339 time) ``--events`` times and prints
the best of ``--repeats`` runs, per record shape: the default shape, and the shapes that
``serve.event_fields`` reads (Telegraf's json output, per host or per host and CPU, an IoT
gateway's nested device id).
Compare two trees in one run with PYTHONPATH (a tree whose parser has no ``event_fields``
prints the default shape only).

A second table times the scorer's whole intake per record (parse, windows of 8 rows, the
batch; no model), 100 entities at 10 s steps: whole records with ``serve.assemble_seconds``
off and on, each reading as two records of four features with it on, and each reading as
one OpenTelemetry metric batch (``serve.event_format: otlp_json``: the 8 features and 8
metrics the model does not read, one data point each), and the same batch in protobuf
(``otlp_proto``, the Collector's default encoding) (a tree without a setting prints the
rows before it only).
"""

from __future__ import annotations

import argparse
import inspect
import json
import time
from typing import Any

from anomaly_gan.stream.events import EventParser

FEATURES = tuple(f"f{i}" for i in range(8))
READINGS = {name: 10.0 + 1.25 * i for i, name in enumerate(FEATURES)}

SHAPES = {
    "default": (None, {"entity": "pump-7", "ts": "2026-01-01T00:00:10Z", "values": READINGS}),
    "telegraf": ({"entity": "tags.host", "ts": "timestamp", "values": "fields"},
                 {"fields": READINGS, "name": "cpu", "tags": {"cpu": "cpu-total",
                                                           "host": "web-1"},
                  "timestamp": 1767225610}),
    "telegraf cpu": ({"entity": ("tags.host", "tags.cpu"), "ts": "timestamp",
                      "values": "fields"},
                     {"fields": READINGS, "name": "cpu", "tags": {"cpu": "cpu0",
                                                               "host": "web-1"},
                      "timestamp": 1767225610}),
    "iot nested": ({"entity": "device.id", "ts": "time", "values": "readings"},
                   {"device": {"id": "pump-7"}, "time": "2026-01-01T00:00:10Z",
                    "readings": READINGS}),
}


def best_ns(parser: EventParser, raw: bytes, events: int, repeats: int) -> float:
    parse = parser.parse
    assert type(parse(raw)).__name__ == "Event", parse(raw)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter_ns()
        for _ in range(events):
            parse(raw)
        best = min(best, (time.perf_counter_ns() - start) / events)
    return best


def intake_ns(serve: Any, records: list[bytes], repeats: int) -> float:
    """Best per-record time of the scorer's Intake over ``records`` (on one partition)."""
    from anomaly_gan.stream.intake import Intake
    from anomaly_gan.stream.state import WindowBatch

    class Det:
        feature_names, window, extras = FEATURES, 8, {}

    class Msg:
        __slots__ = ("offset", "value")

        def __init__(self, value: bytes, offset: int) -> None:
            self.value, self.offset = value, offset

    def fill(_tp: Any, _offset: int, batch: WindowBatch, _flush: bool) -> WindowBatch:
        if batch.n >= 512:
            batch.clear()
        return batch

    msgs = [Msg(raw, i) for i, raw in enumerate(records)]
    best = float("inf")
    for _ in range(repeats):
        intake = Intake(Det(), serve, dead_letter=lambda *a: None, on_drop=lambda e: None,
                        clock=lambda: 2e9)
        batch = WindowBatch(8, len(FEATURES))
        start = time.perf_counter_ns()
        for k in range(0, len(msgs), 500):  # polls of 500 records
            intake.consume("p0", msgs[k:k + 500], batch, fill)
        best = min(best, (time.perf_counter_ns() - start) / len(msgs))
        assert intake.state.late == 0 and len(intake.state) == 100
    return best


def otlp_batch(entity: str, ts: int) -> bytes:
    """One reading as the Collector's kafka exporter writes it (encoding: otlp_json): a
    resource naming the host, the 8 features as gauges, and 8 more metrics the model does
    not read (serve.unknown_features: ignore), each with an attribute."""
    ns = str((ts + 1) * 10**9)

    def gauge(name: str, value: float, **attrs: str) -> dict[str, Any]:
        return {"name": name, "unit": "1", "gauge": {"dataPoints": [{
            "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
            "timeUnixNano": ns, "asDouble": value}]}}

    metrics = [gauge(n, v) for n, v in READINGS.items()]
    metrics += [gauge(f"system.other.{i}", 0.5, state="used") for i in range(8)]
    return json.dumps({"resourceMetrics": [{
        "resource": {"attributes": [{"key": "host.name", "value": {"stringValue": entity}}]},
        "scopeMetrics": [{"scope": {"name": "hostmetrics"}, "metrics": metrics}]}]}).encode()


def proto_batch(raw: bytes) -> bytes:
    """An :func:`otlp_batch` as the kafka exporter writes it with its default encoding,
    ``otlp_proto``: the same ExportMetricsServiceRequest in protobuf (774 bytes against 2.8 KB)."""
    from google.protobuf.json_format import Parse
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
        ExportMetricsServiceRequest,
    )

    return Parse(raw, ExportMetricsServiceRequest()).SerializeToString()


def intake_table(events: int, repeats: int) -> None:
    from anomaly_gan.config import ServeConfig

    readings = [(f"pump-{e}", 1_767_225_600 + 10 * t) for t in range(events // 100)
                for e in range(100)]
    whole = [json.dumps({"entity": e, "ts": ts, "values": READINGS}).encode()
             for e, ts in readings]
    halves = (FEATURES[:4], FEATURES[4:])
    split = [json.dumps({"entity": e, "ts": ts + 1 + h, "values": {
        n: READINGS[n] for n in names}}).encode()
        for e, ts in readings for h, names in enumerate(halves)]
    rows: list[tuple[str, Any, list[bytes]]] = [("whole, off", ServeConfig(), whole)]
    if "assemble_seconds" in inspect.signature(ServeConfig).parameters:
        rows += [("whole, on", ServeConfig(assemble_seconds=10.0), whole),
                 ("split in 2, on", ServeConfig(assemble_seconds=10.0), split)]
    if "event_format" in inspect.signature(ServeConfig).parameters:
        otlp = [otlp_batch(e, ts) for e, ts in readings]
        rows.append(("otlp batch", ServeConfig(event_format="otlp_json", assemble_seconds=10.0,
                                               unknown_features="ignore"), otlp))
        if "otlp_proto" in str(inspect.signature(ServeConfig).parameters["event_format"]
                               .annotation):
            rows.append(("otlp proto", ServeConfig(event_format="otlp_proto",
                                                   assemble_seconds=10.0,
                                                   unknown_features="ignore"),
                         [proto_batch(raw) for raw in otlp]))
    print(f"\n{'intake':<15} {'ns/record':>9} {'ns/reading':>10}   (best of {repeats} x "
          f"{len(readings):,} readings)")
    for name, serve, records in rows:
        ns = intake_ns(serve, records, repeats)
        print(f"{name:<15} {ns:>9.0f} {ns * len(records) / len(readings):>10.0f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    configurable = "fields" in inspect.signature(EventParser).parameters
    print(f"{'shape':<12} {'ns/parse':>9}   (best of {args.repeats} x {args.events:,})")
    for shape, (names, record) in SHAPES.items():
        if names is not None and not configurable:
            continue
        if names is None:
            parser = EventParser(FEATURES, max_event_bytes=65_536)
        else:
            from anomaly_gan.config import EventFieldsConfig

            parser = EventParser(FEATURES, max_event_bytes=65_536,
                                 fields=EventFieldsConfig(**names))
        raw = json.dumps(record).encode()
        print(f"{shape:<12} {best_ns(parser, raw, args.events, args.repeats):>9.0f}")
    intake_table(args.events, args.repeats)


if __name__ == "__main__":
    main()
