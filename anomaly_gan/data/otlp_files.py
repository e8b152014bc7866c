"""Offline metric files of the OpenTelemetry Collector's ``file`` exporter (the I/O edge):
with ``serve.event_format: otlp_proto`` or ``otlp_json``, ``train``, ``score``,
``evaluate``, ``plot`` and ``retrain --data`` read such a file as ``serve`` reads the kafka
exporter's records of the same requests.

The file exporter writes each ``ExportMetricsServiceRequest`` as one OTLP/JSON line (its
default ``format: json``) or, with ``format: proto``, as protobuf after its 4-byte length
(:func:`~anomaly_gan.otlp.frames`); with ``compression: zstd`` each request, in either
format, is compressed and written after its length, and read decompressed. A file is told
from CSV by its first byte (:func:`sniff`): ``{`` (after a byte-order mark or spaces) is
OTLP/JSON lines, a byte below 9 a length prefix (:func:`~anomaly_gan.otlp.is_framed`);
anything else is read as CSV (or Parquet by its name), as before. A file compressed whole
(gzip, bzip2, xz, zstd) is told so by what it holds (:mod:`anomaly_gan.compressed`).

Each line or message is read by ``serve``'s parser
(:class:`~anomaly_gan.stream.otlp.MetricBatchParser`: the same feature names, values,
times and entities, ``serve.otlp_entity``) and its data points are gathered by ``serve``'s
:class:`~anomaly_gan.stream.assemble.Assembler` (``serve.assemble_seconds``, the same
slots, repeats, late and incomplete slots), so that the rows are the events ``serve`` would
push to its windows from the same requests (the commit-time expiry of slots stuck behind
the other entities aside: a file has no commits). With more entities interleaved than
``serve.windows.max_entities`` its evictions are ``serve``'s too, and each row says how
many came before it (:attr:`~anomaly_gan.data.readers.Table.evictions`): ``serve`` starts
the entity's window afresh there, and so do ``score --alerts`` and ``retrain --data``
(since 2026-12-07). Each entity is one series (one
:class:`~anomaly_gan.data.readers.Table`), as one CSV file is; its rows are stamped with
their slot's time. A cumulative sum's start times go with its values
(:attr:`~anomaly_gan.data.readers.Table.starts`): ``data.counters`` reads a later one as a
reset, as ``serve`` does (since 2026-12-06).

- **Features.** Read for a model, its features (the bundle's), with
  ``serve.unknown_features`` as ``serve`` has it; read to train, **every feature** of the
  file's gauge and sum data points with a value (not only ``NO_RECORDED_VALUE`` ones),
  **sorted by name**: a slot of an entity that misses
  one of them is incomplete, left out and counted in a note.
- **Errors.** A data point, line or message ``serve`` would count invalid is a
  :class:`~anomaly_gan.errors.DataError` naming the file, the line (or message) and its
  byte offset; with ``serve.unknown_features: ignore`` a batch of none of the model's
  features (``missing_feature``) is left out and counted, as ``serve`` would skip it.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import numpy as np

from anomaly_gan.config import Config, ServeConfig
from anomaly_gan.data.readers import Reading, Table, read_table
from anomaly_gan.errors import DataError, clip, name_list
from anomaly_gan.files import open_input, whole_characters
from anomaly_gan.otlp import (
    CUT_LINE,
    METRICS,
    FrameError,
    Signal,
    collector_file,
    frames,
    is_framed,
    json_cut_short,
    json_frames,
)

__all__ = ["collector_file_at", "entity_series", "one_entity", "read_data_file", "read_metric_file", "sniff"]

Progress = Callable[[str], None]

_BOM = b"\xef\xbb\xbf"
#: What a file of OTLP/JSON in another shape is told (``{}``: the jq filter that mends it)
_JSON_LINES = ("expected OTLP/JSON lines, one request per line, as the Collector's file "
               "exporter writes them (jq -c {} rewrites such a file)")


def sniff(head: bytes) -> str:
    r"""What a file that starts with ``head`` is: ``json`` (OTLP/JSON lines), ``proto``
    (length-prefixed messages) or ``''`` (neither: CSV or Parquet).

    >>> sniff(b'\xef\xbb\xbf  {"resourceMetrics"'), sniff(b"\x00\x00\x01\x2a"), sniff(b"ts,a")
    ('json', 'proto', '')
    """
    if is_framed(head):
        return "proto"
    text = head.removeprefix(_BOM)
    return "json" if text.lstrip()[:1] == b"{" else ""


def _may_be_metric_file(path: Path, serve: ServeConfig) -> bool:
    from anomaly_gan.config import is_otlp

    return is_otlp(serve.event_format) and path.suffix.lower() not in (".parquet", ".pq")


def _lines(handle: IO[bytes], read: list[int]) -> Iterator[tuple[str, bytes]]:
    """(``line N at byte OFF``, line) of each non-empty line, a last one with no newline
    without the bytes of a character its end cuts (:func:`~anomaly_gan.files.
    whole_characters`); ``read[0]``: the bytes read up to the end of the line."""
    offset = 0
    for n, whole in enumerate(handle, start=1):
        read[0] = offset + len(whole)
        line = whole if whole.endswith(b"\n") else whole_characters(whole)
        if line.strip():
            yield f"line {n} at byte {offset}", line
        offset += len(whole)


def _messages(handle: IO[bytes], path: Path, read: list[int]) -> Iterator[tuple[str, bytes]]:
    """(``message N at byte OFF``, message) of each message; ``read[0]``: the bytes before
    it (its frame's size is not given back, only the message it holds)."""
    try:
        for n, offset, message in frames(handle):
            read[0] = offset
            yield f"message {n} at byte {offset}", message
    except FrameError as exc:
        raise DataError(f"{path}: {exc}") from None


def read_metric_file(path: str | Path, serve: ServeConfig,
                     feature_names: tuple[str, ...] | list[str] | None = None,
                     progress: Progress | None = None,
                     opened: IO[bytes] | None = None,
                     counters: tuple[str, ...] = (),
                     reading: Reading | None = None) -> list[Table]:
    """One table per entity (in the order each first completes a slot) of the file's data
    points, assembled as ``serve`` assembles them; ``feature_names``: a model's (None: every
    feature of the file, sorted); ``opened``: ``path`` opened (binary, buffered) and not yet
    read, such as a pipe; ``counters``: ``data.counters`` to check against the file's metric
    kinds (a note names those of a delta sum, a non-monotonic sum or a gauge);
    ``reading(count, bytes, unit)``: the lines or messages read so far, after each (the rows are made once all are read).
    See the module docstring."""
    from dataclasses import replace

    from anomaly_gan.stream.alerts import iso_utc
    from anomaly_gan.stream.assemble import assembler_from_config
    from anomaly_gan.stream.events import InvalidEvent, PartialEvent
    from anomaly_gan.stream.events import parser_from_config as metric_parser

    p = Path(path)
    say = progress or (lambda _m: None)
    learn = feature_names is None
    handle = opened if opened is not None else open_input(p, "rb")
    with handle:
        peek = getattr(handle, "peek", None)
        kind = sniff(peek(64)[:64] if peek is not None else b"")
        if not kind:
            raise DataError(f"{p}: not an OpenTelemetry metric file: with serve.event_format: "
                            f"{serve.event_format} a metric file is CSV, Parquet or the "
                            f"Collector's file exporter's: OTLP/JSON lines (its format: json, "
                            f"the default) or protobuf messages each after its 4-byte length "
                            f"(format: proto)")
        read = [0]
        pieces = _messages(handle, p, read) if kind == "proto" else _lines(handle, read)
        piece = "message" if kind == "proto" else "line"
        # a file's lines are OTLP/JSON and its messages protobuf (OTLP/JSON too, compressed
        # with format: json), whichever encoding the kafka exporter is set to (as
        # logs/offline.read_log_file reads them)
        as_json, pieces = json_frames(pieces) if kind == "proto" else (True, pieces)
        parser = metric_parser(tuple(feature_names or ()), replace(
            serve, event_format="otlp_json" if as_json else "otlp_proto"))
        if learn:
            parser.learn = True  # type: ignore[union-attr]
        if counters:
            parser.kinds = {}  # type: ignore[union-attr]
        events: list[PartialEvent] = []
        skipped = batches = 0
        first_skipped = ""
        for where, raw in pieces:
            batches += 1
            for ev in parser.parse_many(raw):
                if type(ev) is InvalidEvent:
                    if ev.reason == "missing_feature" and serve.unknown_features == "ignore":
                        skipped += 1
                        first_skipped = first_skipped or where
                        continue
                    if ev.reason == "bad_json" and kind == "json" and json_cut_short(raw):
                        if not raw.endswith(b"\n"):
                            raise DataError(f"{p}: {where}: {CUT_LINE}")
                        if next(pieces, None) is not None:  # it goes on on the next lines
                            raise DataError(f"{p}: {where}: bad_json: a JSON document that "
                                            f"goes on past its line (written over several "
                                            f"lines: pretty-printed?); {_JSON_LINES.format('.')}")
                    raise DataError(f"{p}: {where}: {ev.reason}: {clip(ev.detail, 300)}")
                events.append(ev)  # type: ignore[arg-type]
            if reading is not None:
                reading(batches, read[0], f"{piece}s")
    names = tuple(parser.feature_names)
    if learn:  # first seen -> sorted by name
        order = sorted(range(len(names)), key=names.__getitem__)
        moved = {old: new for new, old in enumerate(order)}
        names = tuple(names[i] for i in order)
        events = [PartialEvent(ev.entity, ev.ts, {moved[i]: v for i, v in ev.values.items()},
                               None if ev.starts is None else
                               {moved[i]: t for i, t in ev.starts.items()})
                  for ev in events]
    if not events:
        raise DataError(f"{p}: no gauge or sum data point"
                        + (f" of the model's features in {batches} {piece}s (the first left "
                           f"out: {first_skipped}, missing_feature)" if skipped else
                           f" in {batches} {piece}s")
                        + f"; expected OTLP metric requests ({serve.event_format})")
    asm = assembler_from_config(len(names), serve)
    assert asm is not None  # the config requires assemble_seconds > 0 with OTLP
    # how many times each entity was evicted (serve.windows.max_entities), and so before
    # each of its rows: serve's windows start afresh there (Table.evictions)
    evicted: dict[str, int] = {}
    asm.on_evict = lambda entity: evicted.__setitem__(entity, evicted.get(entity, 0) + 1)
    evictions: dict[str, list[int]] = {}
    rows: dict[str, tuple[list[float], list[list[float]]]] = {}
    # each row's start times (NaN: none), where a data point had one (Table.starts)
    starts: dict[str, list[list[float]]] = {}
    nan = math.nan
    slots_of = np.zeros(len(names), dtype=np.int64)  # slots each feature came in
    seen: set[tuple[str, float, int]] = set()
    last: dict[tuple[str, int], float] = {}  # each feature's latest time, per entity
    steps: list[float] = []  # between a feature's data points: the collection interval
    for ev in events:
        for i in ev.values:
            before = last.get((ev.entity, i), ev.ts)
            if ev.ts > before:
                steps.append(ev.ts - before)
            last[ev.entity, i] = max(before, ev.ts)
        done = asm.add(ev, 0, 0)
        slot = asm.slot_of(ev.ts)
        for i in ev.values:
            if (ev.entity, slot, i) not in seen:
                seen.add((ev.entity, slot, i))
                slots_of[i] += 1
        if done is not None:
            out, _ = done
            ts, values = rows.setdefault(out.entity, ([], []))
            ts.append(out.ts)
            values.append([float(v) for v in out.values])
            began = out.starts or {}
            starts.setdefault(out.entity, []).append([began.get(i, nan)
                                                      for i in range(len(names))])
            evictions.setdefault(out.entity, []).append(evicted.get(out.entity, 0))
    entities = list(rows)
    incomplete = asm.incomplete + asm.waiting()  # the slots still open at the end, too
    total = sum(len(ts) for ts, _ in rows.values())
    say(f"{p}: {batches} {piece}s, {len(events)} data points of {len(names)} features, "
        f"{len(entities)} entit{'y' if len(entities) == 1 else 'ies'} -> {total} rows of "
        f"{asm.seconds:g} s (serve.assemble_seconds)")
    if incomplete or asm.late:
        slots = len({(e, s) for e, s, _ in seen})
        fewest = int(np.argmin(slots_of))
        say(f"note: {p}: {incomplete} slot(s) incomplete (a feature missing) and {asm.late} "
            f"data point(s) late: left out, as serve drops them"
            + (f"; the feature in the fewest slots is {names[fewest]!r} "
               f"({int(slots_of[fewest])} of {slots})" if incomplete else ""))
    if counters:
        _note_counters(p, counters, parser.kinds or {}, say)  # type: ignore[union-attr]
    if skipped:
        say(f"note: {p}: {skipped} {piece}(s) held none of the model's features (the first "
            f"{first_skipped}): left out (serve.unknown_features: ignore; serve counts them "
            f"missing_feature)")
    if not total:
        step = float(np.median(steps)) if steps else 0.0
        # a model's feature of no data point at all: no slot could hold it, however long
        # (the error spoke of the slots' timing, and the note named one such feature)
        absent = [name for name, n in zip(names, slots_of) if not n]
        raise DataError(f"{p}: no slot of serve.assemble_seconds ({asm.seconds:g} s) holds "
                        f"every feature of {name_list(names)}: {incomplete} incomplete; "
                        + (f"no data point of the file is of {name_list(absent)} (a feature "
                           f"is a metric's name and its data point's attributes, "
                           f"name{{key=value,...}}: expected the model's features)" if absent
                           else "expected each entity's data points of one collection in one "
                                "slot"
                           + (f" (a feature's data points come every {step:g} s, the median "
                              f"step: a collection's scrapers may write them up to that far "
                              f"apart; serve.assemble_seconds {step:g} holds them in one "
                              f"slot)" if step > asm.seconds else "")))
    timed = any(ev.starts for ev in events)
    return [Table(str(p) if len(entities) == 1 else entity_series(p, entity), names,
                  np.asarray(values, dtype=np.float64).reshape(len(ts), len(names)),
                  tuple(iso_utc(t) for t in ts), True, entity=entity,
                  starts=np.asarray(starts[entity], dtype=np.float64).reshape(
                      len(ts), len(names)) if timed else None,
                  evictions=np.asarray(evictions[entity]) if evicted else None,
                  evicted_at_end=evicted.get(entity, 0) > evictions[entity][-1])
            for entity, (ts, values) in rows.items()]


def _note_counters(path: Path, counters: tuple[str, ...], kinds: dict[str, str],
                   say: Progress) -> None:
    """One note naming the features of ``counters`` whose metric (``kinds``: each metric's
    kind in the file) is a delta sum, a non-monotonic sum or a gauge: data.counters reads a
    running total."""
    wrong = {}
    for feature in counters:
        metric = max((m for m in kinds if feature == m or feature.startswith(m + "{")),
                     key=len, default=None)
        if metric is not None and kinds[metric] in ("delta sum", "non-monotonic sum",
                                                    "gauge"):
            wrong[feature] = kinds[metric]
    if wrong:
        listed = ", ".join(f"{f!r} (a {k})" for f, k in wrong.items())
        why = []
        if "delta sum" in wrong.values():
            why.append("a delta sum's values are already increases")
        if "non-monotonic sum" in wrong.values():
            why.append("a non-monotonic sum's falls would be read as resets")
        if "gauge" in wrong.values():
            why.append("a gauge's a level")
        say(f"note: {path}: data.counters lists {listed}: a counter is read as a running "
            f"total whose increase per row the model learns, but {' and '.join(why)}: "
            f"remove them from data.counters, or export them as monotonic cumulative sums "
            f"(docs/streaming.md)")


def read_data_file(path: str | Path, cfg: Config,
                   feature_names: tuple[str, ...] | list[str] | None = None,
                   progress: Progress | None = None, *,
                   check_counters: bool = False, reading: Reading | None = None
                   ) -> list[Table]:
    """A metrics model's ``--data`` file as tables, one per entity: an OTLP metric file
    (with an OTLP ``serve.event_format``, a file whose first bytes, peeked at once opened,
    :func:`sniff` as OTLP: :func:`read_metric_file`), else the one table of a CSV or
    Parquet file (:func:`~anomaly_gan.data.readers.read_table`). ``check_counters`` (train
    and retrain): a note names the features of ``data.counters`` an OTLP file holds as
    delta sums, non-monotonic sums or gauges. ``reading(count, bytes, unit)``: how far the
    reading has got, after each block of rows of a CSV file, each row group of a Parquet file
    (:func:`~anomaly_gan.data.readers.read_table`) and each line or message of a metric
    file."""
    p = Path(path)
    # A column that is not a model feature is left unread (Table.with_features refuses it,
    # or under serve.unknown_features: ignore names it), as serve leaves out such a name of
    # an event's values whatever it holds: read as numbers, a site name's column stopped
    # score with 'not a number' where the column itself was the fault
    only = feature_names or None
    if not _may_be_metric_file(p, cfg.serve):
        _not_otlp(p, cfg.serve)
        return [read_table(p, cfg.data.timestamp_column, cfg.data.header, only=only,
                           progress=reading)]
    # opened once: a pipe (--data <(zcat m.jsonl.gz), or of a CSV) cannot be read twice
    handle = open_input(p, "rb")
    try:
        head = handle.peek(64)[:64]  # type: ignore[attr-defined]
        if not head:  # the file exporter's before its first flush; not "expected a CSV"
            raise DataError(f"{p}: file is empty (expected, with serve.event_format "
                            f"{cfg.serve.event_format}, the Collector's file exporter's "
                            f"OTLP/JSON lines or protobuf messages each after its 4-byte "
                            f"length; or a CSV or Parquet file)")
        kind = sniff(head)
        if (not kind and head.removeprefix(_BOM).lstrip()[:1] == b"["
                and b'"resourceMetrics"' in head):  # jq -s of the file exporter's lines
            raise DataError(f"{p}: a JSON array (of OTLP requests?); "
                            f"{_JSON_LINES.format(repr('.[]'))}")
    except BaseException:
        handle.close()
        raise
    if kind:
        return read_metric_file(p, cfg.serve, feature_names, progress, opened=handle,
                                counters=cfg.data.counters if check_counters else (),
                                reading=reading)
    return [read_table(p, cfg.data.timestamp_column, cfg.data.header, opened=handle,
                       only=only, progress=reading)]


def entity_series(path: str | Path, entity: str) -> str:
    """How a message names one entity's series of a metric file: its table's name where the
    file holds several, and ``score``/``evaluate``/``plot --entity``'s errors and titles.

    >>> entity_series("m.jsonl", "web-1")
    "m.jsonl (entity 'web-1')"
    """
    return f"{path} (entity {entity!r})"


def collector_file_at(path: str | Path, signal: Signal) -> str:
    """:func:`~anomaly_gan.otlp.collector_file` of a regular file's first bytes
    (decompressed): how the file is written where it is the Collector's file exporter's, else
    ``''``; ``''`` too for a pipe (it cannot be read twice: its reader reads it) or a file that
    cannot be read (its reader names the problem)."""
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return ""
        with open_input(path, "rb") as handle:  # compressed: what it holds
            return collector_file(handle.read(64), signal)
    except (OSError, DataError):
        return ""


def _not_otlp(path: Path, serve: ServeConfig) -> None:
    """Refuse a metric file of the file exporter (OTLP/JSON lines, or a first message's
    ``resourceMetrics`` after its length, or with its ``compression: zstd`` a zstd frame
    after it) where ``serve.event_format`` is no OTLP format (the CSV reader said 'expected
    7 columns, got 18' or 'not UTF-8': of a zstd-compressed one until 2026-12-07); a pipe is
    left to the CSV reader (it cannot be read twice)."""
    from anomaly_gan.config import is_otlp

    if is_otlp(serve.event_format) or path.suffix.lower() in (".parquet", ".pq"):
        return
    shape = collector_file_at(path, METRICS)
    if shape:
        raise DataError(f"{path}: an OpenTelemetry Collector file exporter's metric file "
                        f"({shape}), which is read with serve.event_format otlp_proto or "
                        f"otlp_json; this config's (a model's: the one it was trained with) "
                        f"is {serve.event_format}: expected a CSV or Parquet file")


def one_entity(tables: list[Table], path: str | Path, entity: str | None = None) -> Table:
    """The one table of a file read for ``score``, ``evaluate`` or ``plot`` (one series per
    file, as their output is): with ``entity`` (``--entity``) that entity's of an OTLP metric
    file; a file of several entities without it, an ``entity`` the file does not hold, or
    one given for a CSV or Parquet file (one series, of no entity) is a :class:`DataError`
    naming them."""
    names = [str(t.entity) for t in tables]
    if entity is not None:
        if tables[0].entity is None:
            raise DataError(f"--entity {entity}: {path} is a CSV or Parquet file, one series "
                            f"of no entity; --entity picks one entity of an OpenTelemetry "
                            f"metric file (serve.event_format otlp_proto or otlp_json)")
        for t in tables:
            if t.entity == entity:
                return t
        raise DataError(f"--entity {entity}: {path} holds no complete slot of entity "
                        f"{entity!r}; its entities (serve.otlp_entity): {name_list(names)}")
    if len(tables) == 1:
        return tables[0]
    raise DataError(f"{path}: holds {len(names)} entities ({name_list(names)}); score, "
                    f"evaluate and plot read one entity per file (train and retrain --data "
                    f"read each as its own series): pass --entity NAME to pick one, or "
                    f"export one host per file (the Collector's filter processor on "
                    f"serve.otlp_entity)")
