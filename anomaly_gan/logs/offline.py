"""Log files offline (the I/O edge of the log path): read and parse lines, fit the log
front end and the GAN, score files bucket by bucket.

A log file is one stream: buckets never span two files. Lines of one file are read in file
order (LF, CRLF and a lone CR each end a line, as in Python's text files). In time buckets,
lines out of time order are dropped, as late lines are in the service, and a ``note:`` on
the progress channel counts them and names the first. Offline the whole file is known, so
the lines dropped are the fewest that leave the rest in bucket order: one line stamped years
ahead is dropped alone, where closing buckets up to it (as a stream must) would drop every
line after it and write a silence of empty buckets into the training rows.
"""

from __future__ import annotations

import bisect
import codecs
import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomaly_gan.config import Config, LogsConfig
from anomaly_gan.detector import Detector, SeriesScores
from anomaly_gan.errors import BundleError, DataError
from anomaly_gan.files import open_input
from anomaly_gan.logs.counts import BucketRow
from anomaly_gan.logs.events import LogEvent, parser_from_config
from anomaly_gan.logs.model import LogModel, fit_log_model, set_means
from anomaly_gan.stream.alerts import iso_utc
from anomaly_gan.stream.events import MAX_ENTITY_BYTES, InvalidEvent

__all__ = ["LogScores", "bucket_labels_and_scores", "count_rows", "describe_templates",
           "in_bucket_order", "load_log_model", "log_runs", "read_for_log_model",
           "read_log_file", "read_log_files", "score_log_events", "series_of",
           "train_log_detector", "trainable_runs"]

Progress = Callable[[str], None]


def _lines(handle: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line end) of each line of a binary file."""
    n = 0
    for chunk in handle:
        body = chunk.rstrip(b"\n")
        if body.endswith(b"\r"):
            body = body[:-1]
        for line in body.split(b"\r") if b"\r" in body else (body,):
            n += 1
            yield n, line


def read_log_file(path: str | Path, cfg: LogsConfig, max_line_bytes: int = 65_536,
                  max_entity_bytes: int = MAX_ENTITY_BYTES) -> list[LogEvent]:
    """Parse every non-empty line; the first bad one is a :class:`DataError` naming it."""
    parser = parser_from_config(cfg, max_line_bytes, max_entity_bytes)
    p = Path(path)
    handle = open_input(p, "rb")
    events: list[LogEvent] = []
    with handle:
        for n, raw in _lines(handle):
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]  # a byte-order mark (Windows tools write one)
            if not raw.strip():
                continue
            ev = parser.parse(raw)
            if isinstance(ev, InvalidEvent):
                raise DataError(f"{p}: line {n}: {ev.reason}: {ev.detail}")
            events.append(ev)
    if not events:
        raise DataError(f"{p}: no log lines")
    return events


def count_rows(model: LogModel, events: Sequence[LogEvent],
               marks: Sequence[int] | None = None, progress: Progress | None = None,
               source: str | None = None) -> dict[str, list[BucketRow]]:
    """Classify and count one stream of events (of the file ``source``) into closed buckets,
    per entity; a bucket holding an event whose ``marks`` entry is non-zero is ``marked``.
    Late lines are dropped; ``progress`` gets one ``note:`` with their count."""
    buckets = model.buckets()
    rows: dict[str, list[BucketRow]] = {}

    def keep(closed: list[BucketRow]) -> None:
        for r in closed:
            rows.setdefault(r.entity, []).append(r)

    s = model.cfg.bucket_seconds
    kept = (in_bucket_order([math.floor(ev.ts / s) for ev in events])  # type: ignore[operator]
            if s is not None else None)
    for i, ev in enumerate(events):
        if kept is not None and not kept[i]:
            continue
        col, key = model.classify(ev.message)
        keep(buckets.add(ev.entity, ev.ts, col, key, ev.message, model.is_error(ev.level),
                         mark=bool(marks[i]) if marks is not None else False))
    keep(buckets.flush())
    dropped = [i for i, k in enumerate(kept or ()) if not k]  # kept lines are never late
    if dropped and progress is not None:
        first, n = events[dropped[0]], len(dropped)
        progress(f"note: {n} line{'s' if n > 1 else ''}"
                 f"{f' of {source}' if source else ''} dropped (out of time order; the fewest "
                 f"whose removal leaves the rest in order; the first is entity "
                 f"{first.entity!r} at {_iso(first.ts)}: {_clip(first.message)!r}; sort the "
                 f"lines by time)")
    return rows


def in_bucket_order(buckets: Sequence[int]) -> list[bool]:
    """Which lines to keep so that the kept bucket numbers never decrease, dropping as few
    as possible (a longest non-decreasing subsequence, O(n log n); all kept when in order).

    >>> in_bucket_order([0, 1, 900, 2, 3, 3])   # one line stamped far ahead
    [True, True, False, True, True, True]
    """
    n = len(buckets)
    if all(buckets[i] <= buckets[i + 1] for i in range(n - 1)):
        return [True] * n
    tails: list[int] = []  # tails[k]: smallest last bucket of a kept run of length k + 1
    ends: list[int] = []  # ends[k]: the line holding it
    before = [-1] * n  # the previous line of the best run ending at each line
    for i, b in enumerate(buckets):
        k = bisect.bisect_right(tails, b)
        before[i] = ends[k - 1] if k else -1
        if k == len(tails):
            tails.append(b)
            ends.append(i)
        else:
            tails[k], ends[k] = b, i
    keep = [False] * n
    i = ends[-1]
    while i >= 0:
        keep[i] = True
        i = before[i]
    return keep


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
             progress: Progress) -> list[list[BucketRow]]:
    """Every entity's runs of bucket rows (no window spans a gap) of each ``(source name,
    events)`` stream, counted with ``model``."""
    runs: list[list[BucketRow]] = []
    for source, events in sources:
        for entity_rows in count_rows(model, events, progress=progress, source=source).values():
            runs.extend(series_of(entity_rows, model.max_hole_seconds))
    return runs


def trainable_runs(runs: Sequence[list[BucketRow]], window: int) -> list[list[BucketRow]]:
    """The runs long enough to train on (a window to train on and one held out); their rows
    also give the per-entity means (:func:`~anomaly_gan.logs.model.set_means`)."""
    return [r for r in runs if len(r) >= 2 * window]


def read_log_files(cfg: Config, paths: Sequence[str]) -> list[list[LogEvent]]:
    """Parse the log files of a logs config (lines over ``serve.windows.max_event_bytes``
    and entities over ``max_entity_bytes`` are refused, as the service would)."""
    assert cfg.logs is not None
    w = cfg.serve.windows
    return [read_log_file(p, cfg.logs, w.max_event_bytes, w.max_entity_bytes) for p in paths]


def train_log_detector(cfg: Config, paths: Sequence[str], progress: Progress | None = None,
                       events_by_file: Sequence[Sequence[LogEvent]] | None = None) -> Detector:
    """Log files (or their events, already read) -> templates -> count rows -> the same
    GAN training as metrics."""
    from anomaly_gan.train import too_short, train_detector

    assert cfg.logs is not None
    say = progress or (lambda _m: None)
    if events_by_file is None:
        events_by_file = read_log_files(cfg, paths)
    messages = [ev.message for events in events_by_file for ev in events]
    model, _ = fit_log_model(cfg.logs, messages)
    model.miner.reset_new()
    say(f"{len(messages)} lines -> {len(model.miner.templates)} templates; columns: top "
        f"{len(model.template_ids)} + other + unseen"
        + (" + lines/s" if cfg.logs.lines_per_second else "")
        + (" + error share" if cfg.logs.error_share else "")
        + (" + volume drop" if model.volume_drop else ""))
    runs = log_runs(model, zip(paths, events_by_file, strict=True), say)
    w = cfg.data.window
    usable = trainable_runs(runs, w)
    if not usable:
        longest = max((len(r) for r in runs), default=0)
        raise DataError(f"{', '.join(map(str, paths))}: the longest run of buckets of one entity "
                        f"is {longest}; training needs at least {2 * w} (2 x data.window) "
                        f"consecutive buckets: use more lines or smaller buckets")
    problem = too_short([len(r) for r in usable], w, cfg.data.validation_fraction)
    if problem is not None:
        raise DataError(f"{', '.join(map(str, paths))}: runs of buckets: {problem[1]}")
    set_means(model, [r for run in usable for r in run])
    series = [model.features(run) for run in usable]
    say(f"{sum(len(r) for r in usable)} buckets in {len(usable)} runs of >= {2 * w} "
        f"({len(runs) - len(usable)} shorter runs left out)")
    det = train_detector(cfg, series, model.feature_names, progress=say)
    det.extras["logs"] = model.to_dict()
    det.metadata["logs"] = {"lines": len(messages), "templates": len(model.miner.templates),
                            "buckets": int(sum(len(r) for r in usable))}
    return det


def load_log_model(det: Detector) -> LogModel:
    """The log front end of a logs bundle (BundleError if the bundle is not one)."""
    raw = det.extras.get("logs")
    if det.config.logs is None or raw is None:
        raise BundleError(f"model {det.version} is not a logs model (no logs section)")
    model = LogModel.from_dict(det.config.logs, raw)
    if model.feature_names != tuple(det.feature_names):
        raise BundleError(f"model {det.version}: logs features do not match the networks")
    return model


def read_for_log_model(config: Config, path: str, labels_path: str | None = None
                       ) -> tuple[list[LogEvent], list[int] | None]:
    """A log file's events for a logs bundle's ``config`` and, with ``labels_path`` (one 0/1
    per non-empty line), its labels: no TensorFlow needed, so bad input fails fast."""
    from anomaly_gan.data import read_labels

    assert config.logs is not None
    w = config.serve.windows
    events = read_log_file(path, config.logs, w.max_event_bytes, w.max_entity_bytes)
    if labels_path is None:
        return events, None
    return events, read_labels(labels_path, rows=len(events)).astype(int).tolist()


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
                     source: str | None = None) -> list[LogScores]:
    """Score a stream of events (of the file ``source``); runs shorter than one window are
    left unscored (NaN). Late lines are dropped, with a ``note:`` to ``progress``."""
    window = det.window
    top_k = det.config.scoring.top_k
    out: list[LogScores] = []
    for entity, entity_rows in count_rows(model, events, marks, progress, source).items():
        for run in series_of(entity_rows, model.max_hole_seconds):
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
