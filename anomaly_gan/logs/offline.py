"""Log files offline (the I/O edge of the log path): read and parse lines, fit the log
front end and the GAN, score files bucket by bucket.

A log file is one stream: buckets never span two files. Lines of one file are read in file
order (LF, CRLF and a lone CR each end a line, as in Python's text files; a run of NUL bytes
at a line's start, a truncated file's hole, is dropped with a note). In time buckets
the whole file is known, so its lines are counted in time order (:func:`time_order`), where
the service must drop a line that comes late; a line stamped ahead of the wall clock by more
than the service takes, and a stray first or last line (a clock set wrong, years off), are
left out. A ``note:`` on the progress channel says when any of this happened, and names the
first line left out. Before 2026-12-04 a line stamped years ahead closed every bucket up to
it: every later line was dropped and a silence of empty buckets went into the training rows.
"""

from __future__ import annotations

import codecs
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np

from anomaly_gan.artifacts import BundleInfo
from anomaly_gan.config import Config, LogsConfig, config_to_dict, is_otlp
from anomaly_gan.data.otlp_files import collector_file_at
from anomaly_gan.data.readers import Reading, lags, packed_format
from anomaly_gan.data.windows import more_than_apart
from anomaly_gan.detector import Detector, SeriesScores
from anomaly_gan.errors import BundleError, DataError, duration
from anomaly_gan.files import open_input, whole_characters
from anomaly_gan.logs.counts import BucketRow
from anomaly_gan.logs.events import (
    LineGroup,
    LogEvent,
    LogParser,
    in_pass_nearer,
    join_lines,
    parser_from_config,
    split_lines,
)
from anomaly_gan.logs.layout import (
    AUTO_ENTITY,
    JSON_NAMES,
    MAX_LEADING_FIELDS,
    SAMPLE_LINES,
    detect_layout,
)
from anomaly_gan.logs.model import (
    OTHER,
    SHARE,
    STAGE_EVERY,
    UNSEEN,
    LogModel,
    fit_log_model,
    set_means,
)
from anomaly_gan.otlp import (
    CUT_LINE,
    CUT_SHORT,
    LOGS,
    FrameError,
    frames,
    is_framed,
    json_cut_short,
    json_frames,
)
from anomaly_gan.stream.alerts import iso_utc
from anomaly_gan.stream.events import MAX_ENTITY_BYTES, InvalidEvent, without_bom

__all__ = ["AUTO_MAX_LINES", "AUTO_RUNS", "STAGE_EVERY", "LineTally", "LogScores",
           "LogTrainingData", "Stage", "auto_bucket_lines", "bucket_labels_and_scores",
           "buckets_to_train", "chooses_buckets", "count_rows", "count_series",
           "describe_templates", "error_levels_note", "latest_allowed", "load_log_model",
           "log_rows_to_score", "log_runs", "log_training_data", "read_for_log_model",
           "read_log_file", "read_log_files", "score_log_events", "score_log_rows", "series_of",
           "time_order", "train_log_detector", "train_on_log_data", "trainable_runs", "unit",
           "years_in_file_order"]

Progress = Callable[[str], None]
#: How far long work on a file's lines has got, for a progress line: ``stage(what, done,
#: total)``, e.g. ``("lines mined for templates", 40_000, 2_000_000)``; called every
#: :data:`STAGE_EVERY` lines, so a throttle such as
#: :func:`~anomaly_gan.runtime.now_and_then` decides what is written.
Stage = Callable[[str, int, int], None]


_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def _lines(handle: Iterable[bytes], path: Path | None = None,
           unterminated: list[int] | None = None,
           holes: list[tuple[int, int]] | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line end) of each line of a binary file; a UTF-8
    byte-order mark at its start (Windows tools write one) is no part of the first line,
    nor is a run of NUL bytes at the start of any line (:func:`~anomaly_gan.logs.events.
    split_lines`, as ``serve`` splits a record): the (line number, NUL bytes) of each line
    that had one are appended to ``holes``.
    With ``path``, a file that is an archive is a :class:`DataError` naming it (a rotated
    ``app.log.gz``, refused so until 2026-12-05, is read decompressed: the handle of
    :func:`~anomaly_gan.files.open_input` gives its lines). A last line
    with no newline (a file still being written) ends with whole characters
    (:func:`~anomaly_gan.files.whole_characters`), and its number is appended to
    ``unterminated`` before it is yielded."""
    n = 0
    for chunk in handle:
        body = chunk.rstrip(b"\n")
        if body.endswith(b"\r"):
            body = body[:-1]
        if n == 0:
            body = without_bom(body)
            packed = packed_format(body, tables=False) if path is not None else ""
            if not packed and path is not None and body[:2] in _UTF16_BOMS:
                # read as UTF-8 its lines were a not_utf8 and, with logs.bad_lines: skip,
                # lines of NUL-separated characters that no format reads
                packed = ("the file is UTF-16 (it starts with a UTF-16 byte-order mark); "
                          "expected UTF-8 text (iconv -f UTF-16 -t UTF-8 converts it)")
            if packed:
                raise DataError(f"{path}: line 1: not a readable log file: {packed}")
        lines, nuls = split_lines(body)
        if nuls and holes is not None:
            holes.extend((n + 1 + i, k) for i, k in nuls)
        if not chunk.endswith((b"\n", b"\r")):
            lines[-1] = whole_characters(lines[-1])  # cut inside a character: no not_utf8
            if unterminated is not None:
                unterminated.append(n + len(lines))
        for line in lines:
            n += 1
            yield n, line


# An event's lines or one line that is not an event (:data:`~anomaly_gan.logs.events.
# LineGroup`); without joining, each line (each log record of an OTLP line) is one.
_Record = LineGroup


def _messages(handle: IO[bytes], path: Path, offsets: list[int]
              ) -> Iterator[tuple[int, bytes]]:
    """(message number, message) of each message of a file of the Collector's file
    exporter with ``format: proto`` (:func:`~anomaly_gan.otlp.frames`), each message's
    byte offset appended to ``offsets``; a file that cannot be cut into messages is a
    :class:`DataError` naming it, the message and its byte."""
    try:
        for n, offset, message in frames(handle):
            offsets.append(offset)
            yield n, message
    except FrameError as exc:
        raise DataError(f"{path}: {exc}") from None


def _records(lines: Iterable[tuple[int, bytes]], parser: LogParser, join: bool,
             every: bool = False) -> Iterator[_Record]:
    """A file's non-empty lines grouped into records: with ``join``, as ``serve`` groups a
    record's lines (:func:`~anomaly_gan.logs.events.join_lines`, one rule for both): a line
    that does not parse and continues the event before it (a stack trace's) joins that
    event's record, whose first line is the event and the rest its continuation
    (``oversized`` over ``max_event_bytes``); any other line that does not parse is a
    record of its own. Without ``join`` each line is a record; one of ``logs.format: otlp_json`` yields each of
    its log records (:meth:`~anomaly_gan.logs.events.LogParser.parse_many`), all with the
    line's number and place. With ``every``, an empty one is a record too (a protobuf
    message of no bytes, whose bytes are no text to strip)."""
    if join:
        yield from join_lines(lines, parser)
        return
    position = -1
    for n, raw in lines:
        if every or raw.strip():
            position += 1
            for ev in parser.parse_many(raw):
                yield n, n, position, position + 1, ev, ""


@dataclass
class LineTally:
    """Which non-empty lines of a file were read (positions among them: events' first lines
    and the continuation lines joined to them), where each event's lines start among those,
    how many non-empty lines there are, how many were joined as continuation lines, and the
    lines left out by reason (``logs.bad_lines: skip``), and the records they make (an
    event's lines with its joined trace are one record, as a shipper sends them to ``serve``).
    With ``logs.format: otlp_json`` an event is a log record: a line's place is in ``kept``
    once per log record read from it, and ``skipped`` and ``records_skipped`` count log
    records (as a retrain on a topic counts them). In a file of the file exporter's
    ``format: proto`` (``framed``) a message is what a line is: one batch, one label."""

    kept: list[int] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # one per event: its first line in kept
    lines: int = 0
    joined: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    records_skipped: dict[str, int] = field(default_factory=dict)
    framed: bool = False

    @property
    def piece(self) -> str:
        """What the file is made of, as messages name it: ``line`` or ``message``."""
        return "message" if self.framed else "line"


def read_log_file(path: str | Path, cfg: LogsConfig, max_line_bytes: int = 65_536,
                  max_entity_bytes: int = MAX_ENTITY_BYTES, progress: Progress | None = None,
                  tally: LineTally | None = None, reading: Reading | None = None
                  ) -> list[LogEvent]:
    """Parse every non-empty line; with ``logs.format: regex`` a line that does not parse
    but continues the event before it (a stack trace's, :class:`~anomaly_gan.logs.events.
    Multiline`) is joined to that event as its continuation, so that the event equals the
    one ``serve`` reads from the same lines sent as one record by a log shipper's multiline
    setting; a ``note:`` to ``progress`` says how many were. The first bad line is a
    :class:`DataError` naming it (a last line with no newline that is a JSON document cut
    short, of ``json`` or an OTLP format, says ``cut short``: a file still being written),
    or with ``logs.bad_lines: skip`` is left out, counted by reason in a ``note:``.
    ``tally`` gets which of the non-empty lines were read (labels are one per non-empty
    line).

    With ``logs.format: otlp_json`` a line is a batch of log records, each an event: a bad
    log record stops the command naming its line and place in the batch, or with ``skip``
    is left out alone (the line's other log records are read, as ``serve`` counts them);
    a line that is no OTLP document is one bad record. Notes count log records.
    With either OTLP format a file is read as the Collector's file exporter writes it: its
    default ``format: json`` as OTLP/JSON lines, its ``format: proto`` (told apart by the
    first byte, :func:`~anomaly_gan.otlp.is_framed`) as binary requests, each after its
    length, each read as ``otlp_proto`` reads a Kafka record and counted as a line is
    (errors and notes name a message and its byte offset); with ``compression: zstd``, in
    either format, each request is compressed and framed so, and read decompressed (as
    OTLP/JSON with ``format: json``: :func:`~anomaly_gan.otlp.json_frames`). A model
    trained on either reads the kafka exporter's records in the encoding ``logs.format``
    names. ``reading(lines, bytes, unit)``: how far reading has got, every
    :data:`STAGE_EVERY` lines (the bytes of text read; of a compressed file, decompressed).
    """
    p = Path(path)
    handle = open_input(p, "rb")
    tally = tally if tally is not None else LineTally()
    tally.framed = is_otlp(cfg.format) and is_framed(_head(handle))
    events: list[LogEvent] = []
    skipped: dict[str, int] = {}
    first_skipped = first_reason = ""
    records = traced = joined = 0
    # A JSON line carries its trace in its message: a raw trace line in a JSON file is no
    # part of one (serve would get the record as bad_json too).
    joins = cfg.format == "regex"
    what = unit(cfg)
    nonempty = [0]  # a line may hold no event (an OTLP batch of none)
    framed, piece = tally.framed, tally.piece
    offsets: list[int] = []  # of each message of a framed file
    read = [0]  # bytes of the lines read (of a framed file: up to the last message's start)
    latest = [b""]  # the last line read: the one cut, where the file's last line is

    def counted(lines: Iterator[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        for n, raw in lines:
            nonempty[0] += framed or bool(raw.strip())
            latest[0] = raw
            if reading is not None and not n % STAGE_EVERY:
                reading(n, offsets[-1] if framed else read[0], f"{piece}s")
            yield n, raw

    def measured(chunks: Iterable[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            read[0] += len(chunk)
            yield chunk

    holes: list[tuple[int, int]] = []  # lines that started with a run of NULs: dropped
    with handle:
        cut: list[int] = []  # a last line with no newline
        pieces = (_messages(handle, p, offsets) if framed
                  else _lines(handle if reading is None else measured(handle), p, cut, holes))
        # compressed, the exporter's format: json frames its OTLP/JSON documents too
        as_json, pieces = json_frames(pieces) if framed else (True, pieces)
        parser = parser_from_config(in_files(cfg) if as_json
                                    else replace(cfg, format="otlp_proto"),
                                    max_line_bytes, max_entity_bytes)
        if parser.infer_year:  # a year-less stamp: the latest year not after it was written
            try:
                written = os.fstat(handle.fileno()).st_mtime
            except (OSError, AttributeError, ValueError):
                written = time.time()
            parser.clock = lambda: written
        for first, last, start, stop, ev, why in _records(counted(pieces), parser, joins,
                                                          every=framed):
            records += 1
            if isinstance(ev, InvalidEvent):
                where = (f"message {first} at byte {offsets[first - 1]}" if framed
                         else f"line {first}" if first == last else f"lines {first}-{last}")
                if (cut == [last] and ev.reason == "bad_json" and cfg.bad_lines == "error"
                        and _cut_json(cfg.format, latest[0])):
                    raise DataError(f"{p}: {where}: "
                                    + (CUT_LINE if is_otlp(cfg.format)
                                       else CUT_SHORT.format(closed="log rotation")))
                if cfg.bad_lines == "error":
                    raise DataError(f"{p}: {where}: {ev.reason}: {ev.detail}"
                                    + _hint(first, last, why, joins, cfg.format, piece)
                                    + ("" if events else _format_hint(cfg, ev.reason)))
                skipped[ev.reason] = skipped.get(ev.reason, 0) + stop - start
                tally.records_skipped[ev.reason] = tally.records_skipped.get(ev.reason, 0) + 1
                if not first_skipped:
                    first_skipped = f"{where}: {ev.reason}: {ev.detail}"
                    first_reason = ev.reason
                continue
            events.append(ev)
            tally.starts.append(len(tally.kept))
            if stop - start == 1:
                tally.kept.append(start)  # each log record of an OTLP line: the line again
            else:
                tally.kept.extend(range(start, stop))
                joined += stop - start - 1
                traced += 1
    lines = nonempty[0]
    tally.lines, tally.joined, tally.skipped = lines, joined, dict(skipped)
    if holes and progress is not None:
        (at, first_nuls), k = holes[0], len(holes)
        run = (f"a run of {first_nuls:,} NUL bytes (line {at})" if k == 1
               else f"a run of NUL bytes ({sum(b for _, b in holes):,} bytes in all; the first "
                    f"{first_nuls:,} before line {at})")
        progress(f"note: {k} line{'s' if k > 1 else ''} of {p} started with {run}, dropped "
                 f"before the line was read: the hole that logrotate's copytruncate, or a "
                 f"file truncated while read, leaves where its writer kept its offset")
    if joined and progress is not None:
        progress(f"note: {joined} of {lines} lines of {p} joined to the event before them "
                 f"as continuation lines (stack traces of {traced} event"
                 f"{'s' if traced > 1 else ''}), as a log shipper's multiline setting sends "
                 f"them to serve")
    if skipped and progress is not None:
        total = sum(skipped.values())
        of = (f"{records} log records ({lines} {piece}s)" if what != "lines"
              else f"{lines} lines")
        progress(f"note: {total} of {of} of {p} left out (logs.bad_lines: "
                 f"skip): {', '.join(f'{r} {c}' for r, c in sorted(skipped.items()))}; the "
                 f"first is {_clip(first_skipped, 120)}")
    if not events:  # "no log lines", "no log records" (what: "lines" or "log records")
        raise DataError(f"{p}: no {'log ' if what == 'lines' else ''}{what}"
                        + (f" that parse ({first_skipped})" + _format_hint(cfg, first_reason)
                           if skipped else ""))
    if parser.infer_year and "%j" not in (cfg.timestamp_format or ""):
        years_in_file_order(events, written, parser.tz)
    return events


def in_files(cfg: LogsConfig) -> LogsConfig:
    """The logs config a file of lines is read with: ``otlp_proto``'s lines are read as
    ``otlp_json`` (:func:`read_log_file`), any other format as it is."""
    return replace(cfg, format="otlp_json") if cfg.format == "otlp_proto" else cfg


def _cut_json(format: str, line: bytes) -> bool:
    """Whether a last line with no newline that is no valid JSON reads as a JSON document
    cut short: one of an OTLP format's file or of ``json`` that is JSON so far
    (:func:`~anomaly_gan.otlp.json_cut_short`; any other, a text log's or one no more bytes
    could mend, is ``bad_json`` as with its newline, with its format hint; until 2026-12-07
    any last line of an OTLP file, and any of ``json`` starting with ``{``, said cut short)."""
    return (is_otlp(format) or format == "json") and json_cut_short(line)


def _head(handle: IO[bytes]) -> bytes:
    """The first bytes of a file opened for reading, left to be read (a pipe too)."""
    peek = getattr(handle, "peek", None)
    return peek(1)[:4] if peek is not None else b""


def _format_hint(cfg: LogsConfig, reason: str) -> str:
    """What the error adds when a file's first line is no JSON object read with the json
    format (the default): a text log whose config left out ``format: regex`` got only the
    JSON decoder's "Expecting value: line 1 column 1 (char 0)"; with an OTLP format, what
    a file of it is."""
    if is_otlp(cfg.format) and reason in ("not_utf8", "bad_json", "not_object"):
        return (f"; with logs.format: {cfg.format} a log file is the Collector's file "
                f"exporter's: OTLP/JSON lines (its format: json, the default) or protobuf "
                f"messages each after its 4-byte length (format: proto)")
    if cfg.format != "json" or reason not in ("bad_json", "not_object"):
        return ""
    return ("; logs.format is 'json' (the default): one JSON object per line; a text log "
            "wants logs.format: regex" + (", which logs.regex is read with" if cfg.regex
                                          else " and a logs.regex"))


def unit(cfg: LogsConfig) -> str:
    """What one event of a log file is, as messages count them: a line, or with
    ``logs.format: otlp_json`` a log record (a line holds a batch of them)."""
    return "log records" if is_otlp(cfg.format) else "lines"


def _hint(first: int, last: int, why: str, joins: bool, format: str = "regex",
          piece: str = "line") -> str:
    """What the one-line error of a bad line (or lines ``first``-``last``; a message of a
    file of protobuf messages: ``piece``) adds: why it was not joined as a trace's line,
    or what ``logs.bad_lines: skip`` would do with it."""
    if is_otlp(format):
        return (f"; a model trained with logs.bad_lines: skip leaves such log records out (and "
                f"a {piece} that is no OTLP document), as serve dead-letters them")
    if why == "padded":
        return ("; it is an event once its leading spaces are removed, which logs.regex does "
                "not allow: a padded field such as log4j's %5p level (allow them, e.g. '^ *')")
    if why == "orphan":
        return ("; a continuation line (stack trace) with no event before it to join (a file "
                "that starts inside a trace: logs.bad_lines: skip leaves such lines out)")
    if first == 1 or first != last:
        return ""
    return ("; a model trained with logs.bad_lines: skip leaves such lines out "
            + ("(banners, lines cut short; a stack trace's lines join the event before them)"
               if joins else "(stack traces, banners)"))


_DAY = 86_400.0
_LEAP_YEAR = 2000  # a calendar in which every year-less date exists (29 February too)
#: How far a file's lines must go back for a new year to start: a year rolls over from
#: December to January (about 11 months back); a host's backlog or a stray clock is less.
NEW_YEAR_JUMP_S = 30 * _DAY


def years_in_file_order(events: Sequence[LogEvent], written: float, tz: tzinfo = UTC) -> None:
    """Give the year-less stamps of one file's lines (each read in the latest year not more
    than a day after ``written``) years that follow the file's order, in place. Years are
    changed on the wall clock in ``tz`` (``logs.timezone``); lines without a time are left
    as they are.

    A new year starts where the lines go back more than 30 days (:data:`NEW_YEAR_JUMP_S`): a
    line and the median of the five after it, against the median of the five before it, so
    one line stamped months off, ahead or behind, does not start one; then the whole file
    takes the latest years that put no line more than a day after ``written``.
    Line by line against ``written`` alone, a file of 14 June to 27 July written on 13 June
    of a later year had its first 3 lines in one year and the rest in the year before (364
    days instead of 43, mostly empty buckets), and a file from 30 October to 27 July had its
    July lines counted before its October ones.

    >>> def at(text): return datetime.fromisoformat(text + "+00:00").timestamp()
    >>> dates = ["2024-12-30"] * 3 + ["2024-03-01"] + ["2024-12-31"] * 3 + ["2024-01-02"] * 3
    >>> evs = [LogEvent("h", at(d), "", "x") for d in dates]  # 1 March: one clock months off
    >>> years_in_file_order(evs, at("2024-07-02"))
    >>> sorted({datetime.fromtimestamp(e.ts, UTC).date().isoformat() for e in evs})
    ['2023-03-01', '2023-12-30', '2023-12-31', '2024-01-02']
    """
    timed = [ev for ev in events if ev.ts is not None]
    if not timed:
        return
    stamps = [datetime.fromtimestamp(float(ev.ts), tz) for ev in timed]  # type: ignore[arg-type]
    start = datetime(_LEAP_YEAR, 1, 1)
    # Each line's place in its year (wall clock), on a calendar of 366-day years.
    place = [(dt.replace(tzinfo=None, year=_LEAP_YEAR) - start).total_seconds() for dt in stamps]

    def median(values: Sequence[float]) -> float:
        return sorted(values)[len(values) // 2]

    offsets: list[int] = []  # years after the first line's
    recent: list[float] = []  # the last five lines' times
    k = 0
    for i, u in enumerate(place):
        t = u + k * 366 * _DAY
        if recent:
            before = median(recent) - NEW_YEAR_JUMP_S
            after = (median(place[i + 1:i + 6]) + k * 366 * _DAY) if i + 1 < len(place) else t
            if t < before and after < before:
                k += 1
                t += 366 * _DAY
        offsets.append(k)
        recent = [*recent[-4:], t]
    limit = written + _DAY
    top = datetime.fromtimestamp(limit, tz).year
    for first in range(top, top - 10, -1):
        try:
            moved = [dt.replace(year=first + o) for dt, o in zip(stamps, offsets)]
        except ValueError:  # 29 February in a year of 365 days
            continue
        # A line left in its year keeps the pass of the hour the clocks go back that the
        # parser chose; one moved to another year, where that hour may fall on another day,
        # takes the pass nearer the line before (until 2026-12-08 it kept the pass chosen
        # in the year it was read in: Berlin's 26 October 2025, read in 2026, an hour back).
        times: list[float] = []
        for dt, was in zip(moved, stamps):
            times.append(dt.timestamp() if dt.year == was.year or not times
                         else in_pass_nearer(dt, times[-1]))
        if max(times) <= limit:
            for ev, t in zip(timed, times):
                ev.ts = t
            return


def count_rows(model: LogModel, events: Sequence[LogEvent],
               marks: Sequence[int] | None = None, progress: Progress | None = None,
               source: str | None = None, not_after: float = math.inf
               ) -> dict[str, list[BucketRow]]:
    """:func:`count_series`, each entity's series one after another."""
    return {entity: [r for rows in series for r in rows]
            for entity, series in count_series(model, events, marks, progress, source,
                                               not_after).items()}


def _example_apart(ev: LogEvent) -> str:
    """``ev``'s example text (:meth:`LogEvent.example`) as a string of its own, never the
    event's message itself: the buckets keep a few examples of each template after the
    events are freed, and one string of an event kept alive keeps the allocator's whole
    arena of events (1 MiB) with it. Scoring a million lines, the examples the buckets kept
    held on to nearly all of the 280 MB the events had taken, through TensorFlow's import."""
    return (ev.example() + " ")[:-1]  # a new string: slicing all of one would give it back


def count_series(model: LogModel, events: Sequence[LogEvent],
                 marks: Sequence[int] | None = None, progress: Progress | None = None,
                 source: str | None = None, not_after: float = math.inf,
                 stage: Stage | None = None, left_out: Counter[str] | None = None
                 ) -> dict[str, list[list[BucketRow]]]:
    """Classify and count one stream of events (of the file ``source``) into closed buckets,
    per entity, in series: per N lines an entity back after more than ``logs.gap_seconds``
    starts a new one, its partial bucket left out, as in ``serve`` (offline counted on
    across the silence until 2026-12-05, so a sparse log scored otherwise than in serve). A
    bucket holding an event whose ``marks`` entry is non-zero is ``marked``.

    At the end of the file every time bucket with a line closes (the last line is the
    watermark; ``serve`` closes them at idle close); per N lines each entity's last, partial
    bucket is left out, as ``serve`` scores a bucket only once it holds N lines (until
    2026-12-07 it was a row: a bucket of 1 line of 92 scored 7.9 where the full ones before
    it scored at most 1.24, an alarm at the end of a file that ``serve`` never raises);
    ``left_out["partial_buckets"]`` adds up their lines, and those of the partial
    buckets left out at a silence.

    In time buckets the lines are counted in time order (:func:`time_order`): lines stamped
    after ``not_after`` and a stray first or last line are left out; per N lines, in the
    order given, lines stamped after ``not_after`` left out. ``progress`` gets a
    ``note:`` for each of these that happened; ``stage``, how far counting has got."""
    buckets = model.buckets()
    rows: dict[str, list[list[BucketRow]]] = {}

    def keep(closed: list[BucketRow]) -> None:
        for r in closed:
            series = rows.setdefault(r.entity, [[]])
            series[-1].append(r)

    order: Sequence[int] | np.ndarray = range(len(events))
    lines_mode = model.cfg.bucket_seconds is None
    if not lines_mode:
        # arrays, not lists: 2 million lines' times and positions as Python objects took
        # about 200 MB more while they were counted
        times = np.fromiter((ev.ts for ev in events), dtype=np.float64, count=len(events))
        order, future, stray, late = _time_order(times, model.cfg.gap_seconds, not_after)
        _notes(progress, source, events, late, future, stray)
    elif not_after < math.inf:
        # per N lines too, a line stamped ahead of the wall clock is left out, as serve
        # drops it (future_timestamp): counted, its bucket and every later one of its
        # entity were stamped with its time, and its silences started no new run
        ahead = [i for i, ev in enumerate(events) if ev.ts is not None and ev.ts > not_after]
        if ahead:
            left = set(ahead)
            order = [i for i in range(len(events)) if i not in left]
            _notes(progress, source, events, (0, -1, 0.0, 0.0), ahead, [])
    total = len(order)
    for done, i in enumerate(order):
        if stage is not None and not done % STAGE_EVERY and done:
            stage("lines counted into buckets", done, total)
        ev = events[i]
        if lines_mode and buckets.returns_after_gap(ev.entity, ev.ts):
            buckets.drop(ev.entity)  # as serve (stream/intake.py): a new series
            if rows.get(ev.entity, [[]])[-1]:
                rows[ev.entity].append([])
        col, key = model.classify(ev.message)
        keep(buckets.add(ev.entity, ev.ts, col, key, partial(_example_apart, ev),
                         model.is_error(ev.level),
                         mark=bool(marks[i]) if marks is not None else False))
    if not lines_mode and len(order):
        # the file is in time order: its last line is the watermark (serve's, for sparse lines,
        # lags up to two lines behind: docs/logs.md, Watermark), so every silent entity's
        # empty buckets up to it are rows, as before the watermark waited for them
        keep(buckets.advance(float(times[order[-1]])))
    if not lines_mode:
        keep(buckets.flush())
        return rows
    unfilled = buckets.flush()  # per N lines every bucket still open holds fewer than N
    if left_out is not None:
        left_out["partial_buckets"] += (sum(r.lines for r in unfilled)
                                        + buckets.partial_dropped_lines)
    if unfilled and progress is not None:
        progress(_partial_note(unfilled, model.cfg.bucket_lines, source))
    return rows


def _partial_note(partial: Sequence[BucketRow], n: int | None, source: str | None) -> str:
    """The ``note:`` on the entities' partial last buckets :func:`count_series` left out."""
    lines, k = sum(r.lines for r in partial), len(partial)
    of = f" of {source}" if source else ""
    which = (f"the last buckets of {k} entities, each" if k > 1
             else "the last bucket of 1 entity,")
    marked = sum(r.marked for r in partial)
    labelled = (f" ({marked} of those buckets hold{'s' if marked == 1 else ''} a labelled "
                f"line)" if marked else "")
    first = partial[0]
    return (f"note: {lines} line{'s' if lines > 1 else ''}{of} left out, {which} with fewer "
            f"than logs.bucket_lines ({n}) lines at the end of the file{labelled}: serve "
            f"scores a bucket only once it holds N lines; the first is entity "
            f"{_clip(first.entity, 40)!r} ({first.lines} line{'s' if first.lines > 1 else ''})")


def latest_allowed(cfg: Config) -> float:
    """The latest line time ``serve`` would take now (``future_timestamp`` beyond it)."""
    return time.time() + cfg.serve.windows.max_future_skew_seconds


def time_order(times: Sequence[float], gap_seconds: float, not_after: float = math.inf
               ) -> tuple[list[int], list[int], list[int], int]:
    """The order to count a file's lines in, and what is left out of it: offline the whole
    file is known, so its lines are counted by time (stable), where ``serve`` must drop a
    line that comes late. Left out: lines stamped after ``not_after`` (ahead of the wall
    clock by more than ``serve`` allows), and a *stray* first or last line, more than
    ``gap_seconds`` away from lines that follow each other closely (a clock set wrong: one
    line stamped years off would otherwise write up to ``gap_seconds`` of empty buckets for
    every entity). Returns (order, future, stray, lines that came after a later one).

    >>> time_order([0.0, 5.0, 3.0, 9.0], 60.0)
    ([0, 2, 1, 3], [], [], 1)
    >>> time_order([0.0, 5.0, 9.0, 4e8], 60.0)  # the last line stamped years ahead
    ([0, 1, 2], [], [3], 0)
    >>> time_order([0.0, 5.0, 9.0, 4e9], 60.0, not_after=2e9)
    ([0, 1, 2], [3], [], 0)
    """
    order, future, stray, late = _time_order(np.asarray(times, dtype=np.float64), gap_seconds,
                                             not_after)
    return order.tolist(), future, stray, late[0]


def _time_order(times: np.ndarray, gap_seconds: float, not_after: float
                ) -> tuple[np.ndarray, list[int], list[int], tuple[int, int, float, float]]:
    """:func:`time_order` of an array of times, the order an array (a stable sort, as
    Python's), with the whole of :func:`_late_lines` for the late-line note."""
    ahead = ~(times <= not_after)  # NaN: left out too
    future = np.flatnonzero(ahead)
    late = _late_lines(times, future)
    kept = np.flatnonzero(~ahead)
    order = kept[np.argsort(times[kept], kind="stable")]

    def at(k: int) -> float:  # as a Python float: inf - inf is NaN, with no warning
        return float(times[order[k]])

    first, end = 0, len(order)  # the stray lines are left out at either end
    stray = []
    def apart(k: int) -> bool:  # lines k and k + 1 more than gap_seconds apart, as written
        return more_than_apart(at(k + 1), at(k), gap_seconds)

    def close(k: int) -> bool:  # at most gap_seconds apart (NaN, inf - inf: not)
        return (not math.isnan(at(k + 1) - at(k))
                and not more_than_apart(at(k + 1), at(k), gap_seconds))

    while end - first >= 3 and apart(first) and close(first + 1):
        stray.append(int(order[first]))
        first += 1
    while end - first >= 3 and apart(end - 2) and close(end - 3):
        stray.append(int(order[end - 1]))
        end -= 1
    return order[first:end], future.tolist(), sorted(stray), late


# Why a line stamped ahead of the wall clock is dropped (its note; train's count per N lines
# leaves it out of its own notes: the time buckets' count said it of the same lines)
_AHEAD = ("stamped more than serve.windows.max_future_skew_seconds ahead of the wall clock, "
          "as serve drops them")


def _notes(progress: Progress | None, source: str | None, events: Sequence[LogEvent],
           late: tuple[int, int, float, float], future: Sequence[int],
           stray: Sequence[int]) -> None:
    if progress is None:
        return
    of = f" of {source}" if source else ""
    moved, at, lag, worst = late
    if moved:
        ev = events[at]
        progress(f"note: {moved} line{'s' if moved > 1 else ''}{of} came after a later-stamped "
                 f"line, up to {duration(worst)} behind it; the first is entity {ev.entity!r} "
                 f"at {_iso(ev.ts)}, {duration(lag)} behind: {_clip(ev.message)!r}: counted in time "
                 f"order (serve drops a line more than serve.windows.reorder_tolerance_seconds "
                 f"behind its partition's watermark)")
    for which, why in ((future, _AHEAD),
                       (stray, ("alone more than logs.gap_seconds before or after the other "
                               "lines: a clock set wrong?"))):
        if which:
            first, n = events[which[0]], len(which)
            progress(f"note: {n} line{'s' if n > 1 else ''}{of} dropped, {why}; the first is "
                     f"entity {first.entity!r} at {_iso(first.ts)}: {_clip(first.message)!r}")


def _late_lines(times: Sequence[float] | np.ndarray, left_out: Sequence[int] | np.ndarray
                ) -> tuple[int, int, float, float]:
    """How many of ``times`` are before a time above them, the first of them, how far
    before the newest time above it, and the most any was (``left_out`` not counted): lags
    under a second can be stamps misread (unpadded milliseconds read with ``%f``), where a
    late line's is minutes or hours.

    >>> _late_lines([0.0, 5.0, 3.0, 9.0, 1.0], [])
    (2, 2, 2.0, 8.0)
    """
    t = np.asarray(times, dtype=np.float64)
    counted = np.ones(len(t), dtype=bool)
    counted[np.asarray(left_out, dtype=np.intp)] = False
    kept = np.flatnonzero(counted)
    behind = lags(t[kept])  # the rule data files' late rows follow
    late = np.flatnonzero(behind > 0)
    if not len(late):
        return 0, -1, 0.0, 0.0
    return (len(late), int(kept[late[0]]), float(behind[late[0]]),
            float(behind[late].max()))


def _iso(ts: float | None) -> str:
    try:
        return iso_utc(ts)  # type: ignore[arg-type]
    except (OverflowError, OSError, ValueError, TypeError):
        return f"{ts} s"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def series_of(rows: Sequence[BucketRow], max_hole_seconds: float) -> list[list[BucketRow]]:
    """Split an entity's rows where the gap rule restarted it (no window spans a gap)."""
    runs: list[list[BucketRow]] = []
    for r in rows:
        if runs and r.start_ts - runs[-1][-1].end_ts <= max_hole_seconds:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def log_runs(model: LogModel, sources: Iterable[tuple[str, Sequence[LogEvent]]],
             progress: Progress, not_after: float = math.inf, stage: Stage | None = None,
             left_out: Counter[str] | None = None) -> list[list[BucketRow]]:
    """Every entity's runs of bucket rows (no window spans a gap) of each ``(source name,
    events)`` stream, counted with ``model`` (:func:`count_series`; ``stage``: how far;
    ``left_out``: the lines of partial buckets)."""
    runs: list[list[BucketRow]] = []
    for source, events in sources:
        for series in count_series(model, events, progress=progress, source=source,
                                   not_after=not_after, stage=stage,
                                   left_out=left_out).values():
            for entity_rows in series:
                runs.extend(series_of(entity_rows, model.max_hole_seconds))
    return runs


def trainable_runs(runs: Sequence[list[BucketRow]], window: int) -> list[list[BucketRow]]:
    """The runs long enough to train on (a window to train on and one held out); their rows
    also give the per-entity means (:func:`~anomaly_gan.logs.model.set_means`)."""
    from anomaly_gan.train import long_enough

    return [r for r in runs if long_enough(len(r), window)]


def head_lines(path: str | Path, limit: int = SAMPLE_LINES) -> list[str]:
    """The first ``limit`` non-empty lines of a log file (decompressed, as it is read),
    as text; bytes that are not UTF-8 are replaced (they only make a layout read less)."""
    p = Path(path)
    out: list[str] = []
    with open_input(p, "rb") as handle:
        for _, raw in _lines(handle, p):
            if raw.strip():
                out.append(raw.decode("utf-8", "replace"))
                if len(out) >= limit:
                    break
    return out


def utf16_head_lines(path: str | Path, limit: int = SAMPLE_LINES) -> list[str]:
    """The first ``limit`` non-empty lines of a file that starts with a UTF-16 byte-order
    mark, decoded as UTF-16 (from its first 64 KiB), else []: what a UTF-16 file holds,
    which :func:`head_lines` refuses to read."""
    with open_input(Path(path), "rb") as handle:
        start = handle.read(65_536)
    if start[:2] not in _UTF16_BOMS:
        return []
    text = start[: len(start) // 2 * 2].decode("utf-16", "replace")
    return [line for line in text.splitlines() if line.strip()][:limit]


def looks_like_log_lines(lines: Sequence[str]) -> bool:
    """Whether a file whose first lines are ``lines`` holds log lines rather than a CSV
    table: a layout with a time stamp reads them
    (:func:`~anomaly_gan.logs.layout.detect_layout`), and the first two lines it reads are
    JSON objects, or have, in the same comma-separated column, a cell of text
    (:func:`~anomaly_gan.data.readers.log_lines_kind`). A CSV with a time column and numbers is
    no log, whatever its stamps, nor is a table of them separated by tabs or spaces
    (:func:`_numbers_only`). The lines the layout reads, not the file's first two: a log
    that starts inside a stack trace (``Exception in thread ...``, then ``\tat ...``) was
    not recognised.

    >>> looks_like_log_lines(["Exception in thread main: boom", "\tat A.run(A.java:1)",
    ...                       "2026-01-01 00:00:01,100 INFO [main] app: started in 3 s",
    ...                       "2026-01-01 00:00:02,100 WARN [main] app: slow disk on /var"])
    True

    >>> looks_like_log_lines(["081109 203615 148 INFO dfs.DataNode: served blk_1",
    ...                       "081109 203616 149 INFO dfs.DataNode: served blk_2"])
    True
    >>> looks_like_log_lines(["timestamp,temp", "2026-01-01T00:00:00Z,20.5"])
    False
    >>> looks_like_log_lines(["2026-01-01 00:00:00\t20.5\t1500", "2026-01-01 00:00:01\t20.6\t1490"])
    False
    """
    import csv

    from anomaly_gan.data.readers import log_lines_kind

    if len(lines) < 2:
        return False
    layout = detect_layout(lines)
    if layout is None or not (layout.format == "json" or layout.has_time):
        return False
    if layout.regex is None:  # JSON objects, which the layout read
        return sum(line.lstrip().startswith("{") for line in lines) >= 2
    pattern = re.compile(layout.regex)
    read = [line for line in lines if pattern.match(line)][:2]
    if len(read) < 2 or all(_numbers_only(line) for line in read):
        return False
    first, second = (next(csv.reader([line]), []) for line in read)
    return bool(log_lines_kind(first, second))


# The fields of a table's row: numbers, and the date and time of its time column.
_TABLE_SEPARATORS = re.compile(r"[\s,;]+")
_DATE_OR_TIME_FIELD = re.compile(r"[\d:./TZ+-]*\d[\d:./TZ+-]*")


def _numbers_only(line: str) -> bool:
    """Whether ``line`` holds nothing but numbers and dates or times: a row of a table of
    numbers (separated by commas, semicolons, tabs or spaces), which no log line is. A
    headerless table with a tab or a space between its columns has four or more words in
    its one comma-separated cell, and a stamp first: until 2026-12-06 it trained a logs
    model on messages such as '20.5\t1500' (it was refused before).

    >>> _numbers_only("2026-01-01 00:00:00\t20.5\t-1.5e3"), _numbers_only("1767225600 3 4 5")
    (True, True)
    >>> _numbers_only("2026-01-01 00:00:00 INFO 20.5 1500")
    False
    """
    fields = [f for f in _TABLE_SEPARATORS.split(line.strip()) if f]
    return bool(fields) and all(_DATE_OR_TIME_FIELD.fullmatch(f) or _is_float(f)
                                for f in fields)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def resolve_layout(cfg: Config, paths: Sequence[str], say: Progress) -> Config:
    """``cfg`` with ``logs.format: auto`` replaced by the ``json`` or ``regex`` keys that
    read the first file's lines (:func:`~anomaly_gan.logs.layout.detect_layout`), with a
    ``note:`` saying what it chose (the bundle's config keeps it, so ``score`` and
    ``serve`` read the same); ``cfg`` itself for any other format. Lines with no time stamp
    that reads are counted per N lines, N chosen as :func:`auto_bucket_lines` chooses it,
    unless the config sets ``logs.bucket_seconds`` (an error: time buckets need a time)."""
    logs = cfg.logs
    if logs is None or logs.format != "auto":
        return cfg
    path = paths[0]
    shape = collector_file_at(path, LOGS)
    if shape:  # JSON objects with no message field, or protobuf read as text lines
        raise DataError(f"{path}: an OpenTelemetry Collector file exporter's file ({shape}), "
                        f"which logs.format: auto does not read: set logs.format: otlp_proto "
                        f"or otlp_json, the encoding of the kafka exporter serve is to read "
                        f"(either reads the file; docs/logs.md)")
    lines = head_lines(path)
    if not lines:
        raise DataError(f"{path}: no lines to recognise the layout of (logs.format: auto); "
                        f"expected a file of log lines")
    layout = detect_layout(lines)
    if layout is None:
        raise DataError(f"{path}: its first {len(lines)} lines are JSON objects with none of "
                        f"the usual message fields ({', '.join(JSON_NAMES['message'])}); "
                        f"set logs.format: json and logs.json_fields.message")
    chosen = replace(logs, format=layout.format, regex=layout.regex,
                     timestamp_format=layout.timestamp_format,
                     json_fields=layout.json_fields or logs.json_fields,
                     entity=logs.entity or AUTO_ENTITY)
    # the regex itself is long (its level words): config.yaml in the bundle holds it
    keys = (f"logs.json_fields: {config_to_dict(layout.json_fields)}"
            if layout.json_fields is not None else "logs.regex (in the bundle's config.yaml)")
    if layout.timestamp_format is not None:
        keys += f", logs.timestamp_format: {layout.timestamp_format!r}"
    buckets = ""
    if not layout.has_time:
        if not chooses_buckets(cfg) and logs.bucket_seconds is not None:
            raise DataError(f"{path}: no time stamp found at the start of its lines (nor "
                            f"after up to {MAX_LEADING_FIELDS} fields), so its lines cannot be "
                            f"counted in logs.bucket_seconds buckets; set logs.bucket_lines "
                            f"(a bucket every N lines), or logs.format: regex with a (?P<ts>...) "
                            f"group and logs.timestamp_format")
        most = max(_line_count(p) for p in paths)
        n = logs.bucket_lines or auto_bucket_lines(most, cfg.data.window)
        chosen = replace(chosen, bucket_seconds=None, bucket_lines=n)
        buckets = (f"; no time stamp: a bucket every {n} lines (logs.bucket_lines; "
                   f"{most} lines in the longest file)")
    say(f"note: {path}: read as {layout.name} lines ({layout.share:.0%} of the first "
        f"{len(lines)} read; entity {chosen.entity!r}): logs.format: {layout.format}, "
        f"{keys}{buckets}; set logs.format and these keys to read the lines otherwise")
    return cfg.replace(logs=chosen)


def _line_count(path: str | Path) -> int:
    p = Path(path)
    with open_input(p, "rb") as handle:
        return sum(1 for _, raw in _lines(handle, p) if raw.strip())


def read_log_files(cfg: Config, paths: Sequence[str], progress: Progress | None = None,
                   skipped: dict[str, int] | None = None,
                   reading: Callable[[str], Reading | None] | None = None
                   ) -> list[list[LogEvent]]:
    """Parse the log files of a logs config (lines over ``serve.windows.max_event_bytes``
    and entities over ``max_entity_bytes`` are refused, as the service would); ``skipped``
    adds up the records left out by reason (``logs.bad_lines: skip``): an event with its
    joined stack trace counts once, as the one record ``serve`` would get, so a retrain on
    files counts invalid events as one on the topic does. ``reading(path)``: how far
    reading that file has got (:func:`read_log_file`), or None."""
    assert cfg.logs is not None
    w = cfg.serve.windows
    out = []
    for p in paths:
        tally = LineTally()
        out.append(read_log_file(p, cfg.logs, w.max_event_bytes, w.max_entity_bytes, progress,
                                 tally, reading(p) if reading is not None else None))
        if skipped is not None:
            for reason, n in tally.records_skipped.items():
                skipped[reason] = skipped.get(reason, 0) + n
    return out


#: Columns that may hold still in any training lines: ``unseen`` (every training line is
#: mined, so it is 0), ``other`` (0 when every template is in the top K) and the error share
#: (0 without error lines); a change in them is meant to score.
BY_DESIGN = frozenset({UNSEEN, OTHER, SHARE})


def train_log_detector(cfg: Config, paths: Sequence[str], progress: Progress | None = None,
                       events_by_file: Sequence[Sequence[LogEvent]] | None = None,
                       stage: Stage | None = None) -> Detector:
    """Log files (or their events, already read) -> templates -> count rows -> the same
    GAN training as metrics (:func:`log_training_data`, then :func:`train_on_log_data`).
    ``stage``: how far mining and counting the lines have got."""
    return train_on_log_data(log_training_data(cfg, paths, progress, events_by_file, stage),
                             progress)


@dataclass
class LogTrainingData:
    """What a logs model trains on, counted from log files' events, and holding none of
    them: a caller that drops its events before :func:`train_on_log_data` frees them before
    TensorFlow loads (2 million events are about 600 MB). ``cfg`` is the bundle's config
    (with the buckets train chose); ``series``, the feature rows of the runs to train on,
    the newest last; ``run_entities``, each run's entity (time buckets) or None; ``lines``,
    the events read; ``buckets``, those in the runs."""

    cfg: Config
    model: LogModel
    series: list[np.ndarray]
    run_entities: list[str] | None
    lines: int
    buckets: int


def train_on_log_data(data: LogTrainingData, progress: Progress | None = None) -> Detector:
    """The GAN trained on :func:`log_training_data`'s rows, with the log front end in its
    bundle."""
    from anomaly_gan.train import train_detector

    det = train_detector(data.cfg, data.series, data.model.feature_names,
                         progress=progress or (lambda _m: None),
                         run_entities=data.run_entities, constant_by_design=BY_DESIGN)
    det.extras["logs"] = data.model.to_dict()
    det.metadata["logs"] = {"lines": data.lines, "templates": len(data.model.miner.templates),
                            "buckets": data.buckets}
    return det


def log_training_data(cfg: Config, paths: Sequence[str], progress: Progress | None = None,
                      events_by_file: Sequence[Sequence[LogEvent]] | None = None,
                      stage: Stage | None = None) -> LogTrainingData:
    """Log files (or their events, already read) -> templates -> count rows: the rows to
    train on (:class:`LogTrainingData`), with the notes and the summary lines on
    ``progress``; a :class:`DataError` where they leave nothing to train on. ``stage``: how
    far mining and counting the lines have got."""
    from anomaly_gan.train import too_short

    assert cfg.logs is not None
    say = progress or (lambda _m: None)
    if events_by_file is None:
        events_by_file = read_log_files(cfg, paths)
    messages = [ev.message for events in events_by_file for ev in events]
    entities = len({ev.entity for events in events_by_file for ev in events})
    if entities > 50 and entities * 4 > len(messages):
        say(f"note: {entities} entities in {len(messages)} lines: each has a handful of lines, "
            f"so its buckets are nearly all empty (is the entity the service, not a request "
            f"or user id? logs.regex's entity group, or the JSON entity field)")
    model, _ = fit_log_model(cfg.logs, messages, stage)
    model.miner.reset_new()
    stamps = [ev.ts for events in events_by_file for ev in events if ev.ts is not None]
    span = f" ({_iso(min(stamps))} to {_iso(max(stamps))})" if stamps else ""
    # A line here is an event: its stack trace's lines were joined to it (read_log_file).
    traced = sum(1 for events in events_by_file for ev in events if ev.continuation)
    if traced:
        span += f", {traced} with a stack trace joined to them"
    say(f"{len(messages)} {unit(cfg.logs)}{span} -> {len(model.miner.templates)} templates")
    if cfg.logs.error_share:
        note = error_levels_note(model, [ev.level for events in events_by_file for ev in events])
        if note is not None:
            say(note)
    sources = list(zip(paths, events_by_file, strict=True))
    runs = log_runs(model, sources, say, not_after=latest_allowed(cfg), stage=stage)
    model, runs, tried = buckets_to_train(cfg, model, sources, runs, say, stage)
    cfg = cfg.replace(logs=model.cfg)  # the bundle's config: serve counts the same
    # the columns of the buckets chosen: said with the templates until 2026-12-07, before
    # the choice, so a fallback per N lines read "+ volume drop" and then "no volume drop"
    say(f"columns: top {len(model.template_ids)} + other + unseen"
        + (" + lines/s" if model.cfg.lines_per_second else "")
        + (" + error share" if model.cfg.error_share else "")
        + (" + volume drop" if model.volume_drop else ""))
    w = cfg.data.window
    usable = trainable_runs(runs, w)
    used = sum(r.lines for run in usable for r in run)
    if not usable:
        longest = max((len(r) for r in runs), default=0)
        raise DataError(f"{', '.join(map(str, paths))}: the longest run of buckets of one entity "
                        f"is {longest}{tried}; training needs at least {2 * w} (2 x data.window) "
                        f"consecutive buckets: use more lines, smaller logs.bucket_seconds "
                        f"(with a larger logs.gap_seconds for sparse lines), logs.bucket_lines "
                        f"(a bucket every N lines) or a smaller data.window")
    problem = too_short([len(r) for r in usable], w, cfg.data.validation_fraction)
    if problem is not None:
        raise DataError(f"{', '.join(map(str, paths))}: runs of buckets: {problem[1]}")
    set_means(model, [r for run in usable for r in run])
    usable.sort(key=lambda run: run[-1].end_ts)  # the newest runs are held out whole
    series = [model.features(run) for run in usable]
    say(f"{sum(len(r) for r in usable)} buckets in {len(usable)} runs of >= {2 * w} "
        f"({len(runs) - len(usable)} shorter runs left out), holding {used} of "
        f"{len(messages)} lines")
    if used < len(messages) / 2:
        say(f"note: only {used} of {len(messages)} lines ({used / len(messages):.0%}) are in "
            f"runs of {2 * w} or more buckets; the others are in shorter runs (an entity "
            f"silent for logs.gap_seconds starts a new run), which are left out: for sparse "
            f"lines use larger logs.bucket_seconds and logs.gap_seconds, or logs.bucket_lines")
    return LogTrainingData(cfg, model, series,
                           [run[0].entity for run in usable]
                           if model.cfg.bucket_seconds is not None else None,
                           len(messages), int(sum(len(r) for r in usable)))


#: When train chooses the buckets (:func:`chooses_buckets`) and falls back to per N lines:
#: N makes the most lines of one entity at least AUTO_RUNS x 2 x data.window buckets, and
#: at least AUTO_MIN_BUCKETS, and N is at most AUTO_MAX_LINES (:func:`auto_bucket_lines`).
AUTO_RUNS = 4
AUTO_MIN_BUCKETS = 200
AUTO_MAX_LINES = 1000


def chooses_buckets(cfg: Config) -> bool:
    """Whether ``train`` may choose the buckets: the config's file and environment set
    neither ``logs.bucket_seconds`` nor ``logs.bucket_lines`` (:attr:`Config.given`), so it
    has the default time buckets. A bundle's config sets both (it writes every key).

    >>> from anomaly_gan.config import config_from_dict
    >>> chooses_buckets(config_from_dict({"logs": {"format": "json"}}))
    True
    >>> chooses_buckets(config_from_dict({"logs": {"bucket_seconds": 60}}))  # the user's 60 s
    False
    """
    return (cfg.logs is not None and cfg.logs.bucket_seconds is not None
            and not {"logs.bucket_seconds", "logs.bucket_lines"} & cfg.given)


def auto_bucket_lines(most_lines: int, window: int) -> int:
    """N of the per-N-lines buckets train falls back to: the most lines of one entity in one
    file (its one run per N lines) // max(AUTO_RUNS x 2 x ``window``, AUTO_MIN_BUCKETS)
    buckets, from 1 to AUTO_MAX_LINES: a run of at least 4 x the 2 windows training needs
    and of some hundreds of windows, where the lines allow. (With the 4 x 2 windows alone,
    the logs defaults' window of 6 made 49 buckets of 41 lines of a Loghub 2k sample, 20
    windows to train on: refused as overfitting.)

    >>> auto_bucket_lines(2000, 32)  # a Loghub 2k sample: 286 buckets of 7 lines (or fewer)
    7
    >>> auto_bucket_lines(2000, 6)  # 200 buckets of 10 lines
    10
    >>> auto_bucket_lines(100, 32), auto_bucket_lines(40, 32)  # a bucket per line
    (1, 1)
    >>> auto_bucket_lines(10**8, 32)
    1000
    """
    buckets = max(AUTO_RUNS * 2 * window, AUTO_MIN_BUCKETS)
    return max(1, min(AUTO_MAX_LINES, most_lines // buckets))


def buckets_to_train(cfg: Config, model: LogModel,
                     sources: Sequence[tuple[str, Sequence[LogEvent]]],
                     runs: list[list[BucketRow]], say: Progress, stage: Stage | None = None,
                     left_out: Counter[str] | None = None
                     ) -> tuple[LogModel, list[list[BucketRow]], str]:
    """The model and runs to train on, from ``runs`` of each ``(source name, events)``
    counted with ``model``: those, or, where the config leaves the buckets to train
    (:func:`chooses_buckets`) and the time buckets leave no run to train on, the ones per N
    lines (:func:`_per_lines_instead`), whose model's config holds N (the bundle's config,
    so that serve counts the same); and what was tried, for the error, where neither gives
    a run to train on. ``train`` and the first version of a ``retrain`` store choose so.
    ``left_out`` gets the lines of the partial buckets per N lines, when those are chosen
    (time buckets have none)."""
    # only where the time buckets leave too little to train on (fewer than
    # AUTO_MIN_BUCKETS in runs long enough): where they train on part of the lines, they
    # keep the silences and volume drops that per-N-lines buckets cannot see. (Until
    # 2026-12-06 only where they left no run at all: 15 buckets of a 15-minute capture,
    # 3 windows to train on at window 6, were kept.)
    timed = sum(len(r) for r in trainable_runs(runs, cfg.data.window))
    if not chooses_buckets(cfg) or timed >= AUTO_MIN_BUCKETS:
        return model, runs, ""
    partial: Counter[str] = Counter()
    per_lines, tried, notes = _per_lines_instead(cfg, model, sources, runs, timed, stage,
                                                 partial)
    if per_lines is not None and sum(len(r) for r in trainable_runs(per_lines[1],
                                                                    cfg.data.window)) > timed:
        for note in notes:
            say(note)
        if left_out is not None:
            left_out.update(partial)
        return (*per_lines, "")
    return model, runs, tried


def _per_lines_instead(cfg: Config, model: LogModel,
                       sources: Sequence[tuple[str, Sequence[LogEvent]]],
                       runs: Sequence[list[BucketRow]], timed: int,
                       stage: Stage | None = None, left_out: Counter[str] | None = None
                       ) -> tuple[tuple[LogModel, list[list[BucketRow]]] | None, str, list[str]]:
    """Train's fallback from the default time buckets (``runs``: their runs, ``timed``
    buckets in runs long enough to train on, fewer than :data:`AUTO_MIN_BUCKETS`): the
    model and runs per N lines (:func:`auto_bucket_lines`) when they give runs it can train
    on, and the ``note:`` that says so with the notes of counting them (the partial last
    buckets left out: said only where train counts per N lines); else None and what was
    tried, for the error."""
    from anomaly_gan.train import too_short

    assert cfg.logs is not None and cfg.logs.bucket_seconds is not None
    w = cfg.data.window
    per_entity = [(n, e) for _, events in sources
                  for e, n in Counter(ev.entity for ev in events).items()]
    most, entity = max(per_entity, default=(0, ""))
    n = auto_bucket_lines(most, w)
    model.miner.reset_new()
    per_lines = LogModel(replace(cfg.logs, bucket_seconds=None, bucket_lines=n),
                         model.miner, model.template_ids, {}, {})
    heard: list[str] = []
    # the wall clock's limit as for the time buckets: without it, lines stamped ahead of it
    # (serve's future_timestamp) were trained on as their entity's newest buckets (until
    # 2026-12-07); their note was said by the time buckets' count
    runs_n = log_runs(per_lines, sources, heard.append, not_after=latest_allowed(cfg),
                      stage=stage, left_out=left_out)
    heard = [m for m in heard if _AHEAD not in m]
    usable = trainable_runs(runs_n, w)
    longest = max((len(r) for r in runs), default=0)
    seconds = f"{cfg.logs.bucket_seconds:g} s buckets (the default)"
    if not usable or too_short([len(r) for r in usable], w, cfg.data.validation_fraction):
        return None, (f" in {seconds}, and {max((len(r) for r in runs_n), default=0)} per "
                      f"{n} line{'s' if n > 1 else ''} (logs.bucket_lines, tried as the config "
                      f"sets neither key)"), []
    why = (f"leave no run of {2 * w} (the longest is {longest})" if not timed else
           f"leave {timed} buckets in runs of {2 * w} or more (fewer than {AUTO_MIN_BUCKETS})")
    note = (f"note: logs.bucket_lines: {n}, chosen by train as the config sets neither "
            f"logs.bucket_seconds nor logs.bucket_lines: {seconds} {why}; N = the most lines "
            f"of one entity ({most}, {_clip(entity, 40)!r}) // max({AUTO_RUNS} x {2 * w}, "
            f"{AUTO_MIN_BUCKETS}) buckets, from 1 to {AUTO_MAX_LINES}; no volume drop column "
            f"(it needs time buckets). The bundle's config keeps it; set either key to choose")
    return (per_lines, runs_n), "", [note, *heard]


# Error levels as writers spell them, where a list of one's own (or the default before
# 2026-12-05) may miss them: Android's logcat and glog (E, F; never in the default),
# rsyslog's severity text (err, crit), logrus (ERRO, FATA, PANI), zap (DPANIC), .NET's
# console (fail, crit), Serilog (ERR, FTL).
_ERROR_SPELLINGS = frozenset({"E", "F", "ERR", "CRIT", "ERRO", "FATA", "PANI", "PANIC",
                              "DPANIC", "FAIL", "FTL"})


def error_levels_note(model: LogModel, levels: Sequence[str]) -> str | None:
    """A note when no training line's level is in ``logs.error_levels`` but the levels read
    are error levels spelled another way, or all single letters (logcat's V D I W E F): the
    error share would be 0 in every bucket, and stay 0 when the errors come.

    >>> from anomaly_gan.config import LogsConfig
    >>> m, _ = fit_log_model(LogsConfig(), ["a"])
    >>> print(error_levels_note(m, ["I", "D", "I", "E"]))  # doctest: +NORMALIZE_WHITESPACE
    note: no line's level is in logs.error_levels (ERROR, ERR, ERRO, FAIL, CRITICAL, CRIT,
    ... (16 in all)), so the error share is 0 in every bucket and stays 0 when errors come;
    the levels read: I x2, D x1, E x1 (logcat and glog write E and F, rsyslog err and crit,
    logrus ERRO and FATA, Serilog ERR and FTL): list the error levels in logs.error_levels
    >>> error_levels_note(m, ["INFO", "WARN"]) is None  # no errors in the training lines
    True
    """
    counts: dict[str, int] = {}
    for level in levels:
        if level:
            counts[level] = counts.get(level, 0) + 1
    if not counts or any(model.is_error(level) for level in counts):
        return None
    if not (_ERROR_SPELLINGS & counts.keys() or all(len(level) == 1 for level in counts)):
        return None
    read = sorted(counts.items(), key=lambda kv: -kv[1])
    # a level is the record's text: it may hold a line break or be as long as the line
    shown = ", ".join(f"{_clip(level, 20) if level.isprintable() else ascii(_clip(level, 20))}"
                      f" x{n}" for level, n in read[:8])
    listed = model.cfg.error_levels
    named = ", ".join(listed[:6]) + (f", ... ({len(listed)} in all)" if len(listed) > 6 else "")
    return (f"note: no line's level is in logs.error_levels ({named}"
            f"), so the error share is 0 in every bucket and stays 0 when errors come; the "
            f"levels read: {shown}{', ...' if len(read) > 8 else ''} (logcat and glog write E "
            f"and F, rsyslog err and crit, logrus ERRO and FATA, Serilog ERR and FTL): list the "
            f"error levels in logs.error_levels")


def load_log_model(det: Detector | BundleInfo) -> LogModel:
    """The log front end of a logs bundle, loaded or only inspected (no TensorFlow needed);
    BundleError if the bundle is not one."""
    raw = det.extras.get("logs")
    if det.config.logs is None or raw is None:
        raise BundleError(f"model {det.version} is not a logs model (no logs section)")
    model = LogModel.from_dict(det.config.logs, raw)
    if model.feature_names != tuple(det.feature_names):
        raise BundleError(f"model {det.version}: logs features do not match the networks")
    return model


def read_for_log_model(config: Config, path: str, labels_path: str | None = None,
                       progress: Progress | None = None, tally: LineTally | None = None,
                       reading: Reading | None = None
                       ) -> tuple[list[LogEvent], list[int] | None]:
    """A log file's events for a logs bundle's ``config`` and, with ``labels_path`` (one 0/1
    per non-empty line), its labels, one per event (1 when any of its lines is labelled 1):
    no TensorFlow needed, so bad input fails fast.
    ``tally`` gets which lines were read (:class:`LineTally`); ``reading``, how far reading
    has got (:func:`read_log_file`)."""
    from anomaly_gan.data import read_labels

    assert config.logs is not None
    w = config.serve.windows
    tally = tally if tally is not None else LineTally()
    events = read_log_file(path, config.logs, w.max_event_bytes, w.max_entity_bytes, progress,
                           tally, reading)
    if labels_path is None:
        return events, None
    # One label per non-empty line (message of a framed file), read, joined to an event or
    # left out (logs.bad_lines: skip); an event is labelled when one of its lines is (its
    # trace's lines too).
    per = "message" if tally.framed else "non-empty line"
    labels = read_labels(labels_path, rows=tally.lines, per=f"{per} of {path}").astype(int)
    read = labels[tally.kept]
    marks = np.maximum.reduceat(read, tally.starts) if tally.starts else read
    # an OTLP line's position is kept once per log record: count each line once
    lost = int(labels.sum() - labels[np.unique(tally.kept)].sum())
    if lost and progress is not None:
        progress(f"note: {lost} of the {int(labels.sum())} {tally.piece}s labelled 1 in "
                 f"{labels_path} were left out with their {tally.piece}s (logs.bad_lines: "
                 f"skip)")
    return events, marks.tolist()


def describe_templates(entries: Sequence[dict]) -> str:
    """One-line form of explanations: ``text x40 (expected 2)``, separated by ``; ``."""
    return "; ".join(f"{e['template']} x{e['observed']} (expected {e['expected']:g})"
                     for e in entries)


@dataclass
class LogScores:
    """Scores of one entity's run of buckets: ``rows[i]`` gets ``scores`` row ``i``."""

    entity: str
    rows: list[BucketRow]
    scores: SeriesScores | None  # None: shorter than one window
    explanations: list[list[dict]]  # per row (empty before the first full window)


def score_log_events(det: Detector, model: LogModel, events: Sequence[LogEvent],
                     explain_anomalies_only: bool = True,
                     marks: Sequence[int] | None = None, progress: Progress | None = None,
                     source: str | None = None, stage: Stage | None = None) -> list[LogScores]:
    """Score a stream of events (of the file ``source``): :func:`log_rows_to_score`, then
    :func:`score_log_rows`. ``stage``: how far counting the lines has got."""
    return score_log_rows(det, model,
                          log_rows_to_score(det.config, model, events, marks, progress, source,
                                            stage),
                          explain_anomalies_only)


def log_rows_to_score(config: Config, model: LogModel, events: Sequence[LogEvent],
                      marks: Sequence[int] | None = None, progress: Progress | None = None,
                      source: str | None = None, stage: Stage | None = None,
                      left_out: Counter[str] | None = None
                      ) -> dict[str, list[list[BucketRow]]]:
    """A stream of events (of the file ``source``) counted into the buckets a logs bundle
    (its ``config`` and ``model``) scores, per entity, in series (:func:`count_series`),
    holding none of the events: a caller that drops its events before
    :func:`score_log_rows` frees them before TensorFlow loads (a million lines are about
    280 MB). Late lines are dropped, with a ``note:`` to ``progress``; when no line is left
    in a bucket, :class:`DataError` (nothing to score). ``stage``: how far counting the
    lines has got; ``left_out``, the lines of partial last buckets (:func:`count_series`)."""
    rows = count_series(model, events, marks, progress, source,
                        not_after=latest_allowed(config), stage=stage, left_out=left_out)
    if not any(r for series in rows.values() for r in series):
        raise DataError(f"{source or 'log lines'}: none of its {len(events)} lines was counted "
                        f"into a bucket (see the notes above); nothing to score")
    return rows


def score_log_rows(det: Detector, model: LogModel, rows: dict[str, list[list[BucketRow]]],
                   explain_anomalies_only: bool = True) -> list[LogScores]:
    """Score :func:`log_rows_to_score`'s buckets; runs shorter than one window are left
    unscored (NaN)."""
    window = det.window
    top_k = det.config.scoring.top_k
    out: list[LogScores] = []
    for entity, series in rows.items():
        for run in (run for entity_rows in series
                    for run in series_of(entity_rows, model.max_hole_seconds)):
            if len(run) < window:
                out.append(LogScores(entity, run, None, [[] for _ in run]))
                continue
            res = det.score_series(model.features(run))
            expl: list[list[dict]] = []
            for i in range(len(run)):
                if i < window - 1 or (explain_anomalies_only and not res.is_anomaly[i]):
                    expl.append([])
                else:
                    expl.append(model.explain(run[i - window + 1: i + 1], top_k))
            out.append(LogScores(entity, run, res, expl))
    return out


def bucket_labels_and_scores(results: Sequence[LogScores]) -> tuple[np.ndarray, np.ndarray]:
    """Per bucket of every entity: label 1 when it holds a labelled line, and its score
    (NaN before an entity's first full window), for ``evaluate``."""
    labels = np.array([int(r.marked) for run in results for r in run.rows], dtype=np.int8)
    scores = np.concatenate([run.scores.score if run.scores is not None
                             else np.full(len(run.rows), np.nan) for run in results])
    return labels, scores
