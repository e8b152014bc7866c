"""Where a logs retrain's rows come from: log lines of files, or of a time range of the input
topic, counted into the bucket rows ``serve`` scores.

A logs bundle's features are its template columns (``t<id>`` of the top-K training
templates, then ``other``, ``unseen``, ...), and ``serve`` hot-reloads only a model with the
same features. So a retrain keeps the current version's templates and columns: it counts the
new lines with them (lines of templates born since count in ``unseen``, and the candidate
learns how often that happens now) and refits only the per-entity means (``volume_drop``,
the expected counts of explanations) and the GAN. The first version of a store is mined from
the lines read, and its buckets chosen (a config that sets neither bucket key), as
``anomaly-gan train`` does. To give new templates columns of their own, train a new version
with ``anomaly-gan train`` and restart ``serve`` with it.

A row's time is its bucket's end, as in a logs alert's window times, so the current
version's alerts and labelled incidents exclude the same rows they cover live. Lines are
counted in time order, as offline (:func:`anomaly_gan.logs.offline.time_order`: records of a
topic are read partition by partition), where ``serve`` drops a line more than
``serve.windows.reorder_tolerance_seconds`` behind its partition's watermark; a topic's lines
stamped ahead of the wall clock are invalid (``future_timestamp``), as in ``serve``, and
lines left out of the count (a stray clock) are reported as ``late``.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly_gan.config import Config
from anomaly_gan.errors import DataError
from anomaly_gan.retrain.source import Readings, Rows, Segment
from anomaly_gan.stream.alerts import iso_utc

if TYPE_CHECKING:
    from anomaly_gan.artifacts import BundleInfo
    from anomaly_gan.logs.events import LogEvent
    from anomaly_gan.logs.model import LogModel
    from anomaly_gan.logs.offline import Stage

__all__ = ["FORMER_DEFAULTS", "check_kind", "keep_former_defaults", "read_log_files_rows",
           "read_log_range_rows"]

Progress = Callable[[str], None]


def check_kind(cfg: Config, info: BundleInfo | None, store: str) -> None:
    """A logs config retrains a logs store and a metrics config a metrics store."""
    if info is None:
        return
    logs_bundle = "logs" in info.extras
    if logs_bundle and cfg.logs is None:
        raise DataError(f"{store}: the current version {info.version} is a logs model; "
                        f"retrain it with its logs config (a logs: section)")
    if cfg.logs is not None and not logs_bundle:
        raise DataError(f"{store}: the current version {info.version} is a metrics model; "
                        f"the config's logs: section is for a logs model's store")


#: Former defaults of logs keys whose default changed: ``error_levels`` counted six names
#: until 2026-12-05 (syslog's err/crit, logrus' ERRO, ... came then); the shipped
#: ``configs/logs.yaml`` set ``top_k: 12`` until 2026-12-06, where the code and train with no
#: config have 20 (it now says 20: a store trained with the file retrains with it).
FORMER_DEFAULTS: dict[str, tuple[Any, ...]] = {
    "error_levels": (("ERROR", "FATAL", "CRITICAL", "SEVERE", "ALERT", "EMERG"),),
    "top_k": (12,),
}


def keep_former_defaults(cfg: Config, info: BundleInfo | None, say: Progress) -> Config:
    """``cfg`` with the current logs version's value of each key in
    :data:`FORMER_DEFAULTS` where the version has a former default and ``cfg`` today's
    (a config that leaves the key out), and the version's buckets (per N lines, or time
    buckets of another width) where ``cfg`` leaves the buckets to train (:func:`~anomaly_gan.logs.offline.chooses_buckets`: train
    may have chosen them). A retrain may not change these keys (see :func:`_current_model`),
    so without this an upgrade would refuse every retrain of a store trained before the
    default changed, and the config train was given would refuse to retrain what it
    trained, from the config ``serve`` runs with."""
    from anomaly_gan.logs.offline import chooses_buckets

    if cfg.logs is None or info is None or info.config.logs is None:
        return cfg
    today = type(cfg.logs)()
    before = info.config.logs
    kept: dict[str, Any] = {}
    for key, former in FORMER_DEFAULTS.items():
        old, new = getattr(before, key), getattr(cfg.logs, key)
        if new == getattr(today, key) and old != new and old in former:
            kept[key] = old
            say(f"note: logs.{key}: the current version {info.version} has the former default "
                f"{list(old) if isinstance(old, tuple) else old}; this retrain keeps it (a retrain keeps the parsing of the "
                f"version serve runs; train a new version to take today's default)")
    if cfg.logs.format == "auto":  # the layout train recognised: its bundle holds the keys
        kept.update(format=before.format, regex=before.regex,
                    timestamp_format=before.timestamp_format, json_fields=before.json_fields,
                    entity=before.entity)
        say(f"note: logs.format: auto: this retrain reads lines as the current version "
            f"{info.version} does (logs.format: {before.format}, as train recognised them)")
    # Time buckets too: configs/logs.yaml set bucket_seconds: 10 until 2026-12-06, and now
    # sets neither key, so a store trained with it retrains with it unchanged.
    buckets = (before.bucket_seconds, before.bucket_lines)
    if chooses_buckets(cfg) and buckets != (cfg.logs.bucket_seconds, cfg.logs.bucket_lines):
        kept.update(bucket_seconds=before.bucket_seconds, bucket_lines=before.bucket_lines)
        key, counts = (("bucket_lines", f"a bucket every {before.bucket_lines} lines")
                       if before.bucket_lines is not None else
                       ("bucket_seconds", f"{before.bucket_seconds:g} s buckets"))
        say(f"note: logs.{key}: the current version {info.version} counts {counts}; this "
            f"retrain keeps it, as the config sets neither logs.bucket_seconds nor "
            f"logs.bucket_lines")
    return dataclasses.replace(cfg, logs=dataclasses.replace(cfg.logs, **kept)) if kept else cfg


def _current_model(cfg: Config, info: BundleInfo) -> LogModel:
    # The logs keys a retrain may change are those serve hot-reloads (logs.model.RELOADABLE),
    # and the templates and columns come from the current version, so any other key must
    # stay as it was (the candidate's config would misdescribe it, and serve refuses it).
    from anomaly_gan.logs.model import LogModel, live_change

    assert cfg.logs is not None
    before = info.config.logs
    assert before is not None  # check_kind: a logs bundle
    changed = live_change(before, cfg.logs)
    if changed is not None:
        key, old, new = changed
        raise DataError(f"retrain: logs.{key} {new!r} differs from the current version "
                        f"{info.version}'s {old!r}; a retrain keeps the current version's "
                        f"parsing, buckets and templates (serve hot-reloads it with them): "
                        f"train a new version and restart serve to change it")
    # The config is the bundle's, key for key: what is left to fail here is a damaged bundle,
    # a BundleError that says so.
    model = LogModel.from_dict(cfg.logs, info.extras["logs"])
    model.miner.reset_new()
    return model


def _segments(cfg: Config, info: BundleInfo | None,
              sources: Sequence[tuple[str, Sequence[LogEvent]]],
              say: Progress, stage: Stage | None = None
              ) -> tuple[list[Segment], LogModel, int, int, str]:
    """Bucket rows of every source's events, as segments; the log model; lines dropped
    (late, stray or stamped ahead); lines of partial buckets left out (per N lines, as
    serve); and the buckets tried where none gave a run to train on (:attr:`Rows.tried`).
    ``stage``: how far mining (a first version) and counting the lines have got, as in
    ``train``."""
    from anomaly_gan.logs.model import fit_log_model, set_means
    from anomaly_gan.logs.offline import buckets_to_train, latest_allowed, log_runs, trainable_runs

    assert cfg.logs is not None

    def read_say(message: str) -> None:
        say(f"[read] {message}")

    if info is not None:
        model = _current_model(cfg, info)
        say(f"[read] counting with the current version's {len(model.template_ids)} template "
            f"columns ({len(model.miner.templates)} templates)")
    else:
        model, _ = fit_log_model(cfg.logs, [ev.message for _, evs in sources for ev in evs],
                                 stage)
        model.miner.reset_new()
        say(f"[read] first version: {len(model.miner.templates)} templates mined, columns: "
            f"top {len(model.template_ids)}")
    partial: Counter[str] = Counter()
    runs = log_runs(model, sources, read_say, latest_allowed(cfg), stage, partial)
    tried = ""
    if info is None:  # the buckets, as train chooses them (the version's config keeps them)
        model, runs, tried = buckets_to_train(cfg, model, sources, runs, read_say, stage,
                                              partial)
    # Every line kept is counted in a bucket, or in a partial bucket per N lines (until
    # 2026-12-07 reported as late too): the rest were left out (time_order).
    unfilled = partial["partial_buckets"]
    late = (sum(len(evs) for _, evs in sources) - sum(r.lines for run in runs for r in run)
            - unfilled)
    # The rows as the current version reads them (its retrain.exclude_over_threshold
    # filter): its volume_drop from its own lines per bucket, as serve computes it with it.
    # Computed with the candidate's means below, a service now logging a quarter as much
    # read as its usual volume to the current version (until 2026-12-07).
    current = ([model.features(run) for run in runs]
               if info is not None and model.volume_drop else [None] * len(runs))
    # The new baseline's means, over the runs train would use (train_log_detector).
    set_means(model, [r for run in trainable_runs(runs, cfg.data.window) for r in run])
    segments = [Segment(run[0].entity, np.array([r.end_ts for r in run], dtype=np.float64),
                        model.features(run), current=mine)
                for run, mine in zip(runs, current, strict=True)]
    segments.sort(key=lambda s: (s.entity, float(s.ts[0])))
    return segments, model, late, unfilled, tried


def read_log_files_rows(cfg: Config, paths: Sequence[str], info: BundleInfo | None,
                        say: Progress, reading: Readings | None = None,
                        stage: Stage | None = None
                        ) -> tuple[Rows, tuple[str, ...], LogModel]:
    """Rows of log files (each file one stream, as ``train``), their feature names and the
    log model that counted them (a first version's: its config holds the buckets chosen).
    ``reading(path)``: how far reading that file has got; ``stage``, how far mining and
    counting its lines have got."""
    from anomaly_gan.logs.offline import read_log_files

    t0 = time.monotonic()
    invalid: dict[str, int] = {}  # records left out (logs.bad_lines: skip), as a topic's
    events = read_log_files(cfg, paths, say, invalid, reading)
    segments, model, late, partial, tried = _segments(
        cfg, info, list(zip(paths, events, strict=True)), say, stage)
    rows = Rows(segments, {"kind": "files", "files": [str(p) for p in paths]},
                # read: the invalid records among them, as a topic range counts them
                # (until 2026-12-07 a file's were left out: '799 events ... 2 invalid')
                events_read=sum(len(e) for e in events) + sum(invalid.values()),
                invalid=invalid, late=late, partial=partial,
                seconds=time.monotonic() - t0, tried=tried,
                timed=all(ev.ts is not None for evs in events for ev in evs))
    return rows, model.feature_names, model


def read_log_range_rows(cfg: Config, info: BundleInfo | None, start: float, end: float,
                        say: Progress, stage: Stage | None = None) -> tuple[Rows, LogModel]:
    """Rows of the log lines of ``serve.kafka.input_topic`` stamped (Kafka record time) in
    [start, end), parsed as ``serve`` parses them (invalid lines counted by reason).
    ``stage``: how far mining (a first version) and counting the lines have got, as of a
    file's lines (a long range's lines were counted in silence after the read)."""
    from anomaly_gan.logs.events import parser_from_config
    from anomaly_gan.logs.offline import latest_allowed, unit
    from anomaly_gan.retrain.source import read_topic_range, reading_progress, skip_notice
    from anomaly_gan.stream.events import InvalidEvent

    assert cfg.logs is not None
    k, w = cfg.serve.kafka, cfg.serve.windows
    parser = parser_from_config(cfg.logs, w.max_event_bytes, w.max_entity_bytes)
    parser.not_after = latest_allowed(cfg)  # as serve: future_timestamp
    limit = cfg.retrain.max_events
    events: list[LogEvent] = []
    invalid: dict[str, int] = {}
    t0 = time.monotonic()
    read = [0]

    what = unit(cfg.logs)
    stamp = [time.time()]
    parser.clock = lambda: stamp[0]  # a year-less line: the latest year not after its record

    def on_record(_tp: Any, m: Any) -> None:
        stamp[0] = m.timestamp / 1000.0
        # every log record of a record (an OTLP batch holds many) is counted: a bad one by
        # its reason, the others read
        parsed = parser.parse_record_many(m.value)
        read[0] += len(parsed)
        if read[0] > limit:
            raise DataError(f"topic {k.input_topic!r}: more than retrain.max_events={limit} "
                            f"{what} in the range; choose a shorter range")
        for ev in parsed:
            if isinstance(ev, InvalidEvent):
                invalid[ev.reason] = invalid.get(ev.reason, 0) + 1
            else:
                events.append(ev)

    read_topic_range(k, k.input_topic, int(start * 1000), int(end * 1000), on_record,
                     reading_progress(say, what),
                     max_future_skew_s=w.max_future_skew_seconds,
                     on_unreadable=skip_notice(say, invalid), on_note=say)
    if cfg.logs.bucket_seconds is not None:
        events.sort(key=lambda ev: ev.ts or 0.0)  # partitions were read one after another
    segments, model, late, partial, tried = _segments(
        cfg, info, [(f"topic {k.input_topic!r}", events)], say, stage)
    rows = Rows(segments, {"kind": "kafka", "topic": k.input_topic, "from": iso_utc(start),
                           "to": iso_utc(end)}, timed=all(ev.ts is not None for ev in events),
                events_read=read[0], invalid=invalid, late=late, partial=partial,
                seconds=time.monotonic() - t0, tried=tried)
    return rows, model
