"""Cost of EventParser.parse per event, the hot path of `make bench-stream`'s intake.

    .venv/bin/python bench/parse.py [--events 200000] [--repeats 5]

Parses the same typical event (8 features, an RFC 3339 time) ``--events`` times and prints
the best of ``--repeats`` runs, per record shape: the default shape, and the shapes that
``serve.event_fields`` reads (Telegraf's json output, per host or per host and CPU, an IoT
gateway's nested device id).
Compare two trees in one run with PYTHONPATH (a tree whose parser has no ``event_fields``
prints the default shape only).
"""

from __future__ import annotations

import argparse
import inspect
import json
import time

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


if __name__ == "__main__":
    main()
