"""Log files offline (the I/O edge of the log path): read and parse lines, fit the log
front end and the GAN, score files bucket by bucket.

A log file is one stream: buckets never span two files. Lines of one file are read in file
order; in time buckets a line older than its entity's closed bucket is counted as late and
dropped, as in the service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anomaly_gan.config import Config, LogsConfig
from anomaly_gan.errors import DataError
from anomaly_gan.logs.counts import BucketRow
from anomaly_gan.logs.events import LogEvent, parser_from_config
from anomaly_gan.logs.model import LogModel, fit_log_model, set_means
from anomaly_gan.stream.events import InvalidEvent

__all__ = ["LogScores", "count_rows", "load_log_model", "read_log_file", "score_log_events",
           "series_of", "train_log_detector"]

Progress = Callable[[str], None]


def read_log_file(path: str | Path, cfg: LogsConfig, max_line_bytes: int = 65_536
                  ) -> list[LogEvent]:
    """Parse every non-empty line; the first bad one is a :class:`DataError` naming it."""
    parser = parser_from_config(cfg, max_line_bytes)
    p = Path(path)
    try:
        handle = p.open("rb")
    except FileNotFoundError:
        raise DataError(f"{p}: file not found") from None
    except (IsADirectoryError, PermissionError) as exc:
        raise DataError(f"{p}: cannot read: {exc.strerror}") from None
    events: list[LogEvent] = []
    with handle:
        for n, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            ev = parser.parse(raw.rstrip(b"\r\n"))
            if isinstance(ev, InvalidEvent):
                raise DataError(f"{p}: line {n}: {ev.reason}: {ev.detail}")
            events.append(ev)
    if not events:
        raise DataError(f"{p}: no log lines")
    return events


def count_rows(model: LogModel, events: Sequence[LogEvent]) -> dict[str, list[BucketRow]]:
    """Classify and count one stream of events into closed buckets, per entity."""
    buckets = model.buckets()
    rows: dict[str, list[BucketRow]] = {}

    def keep(closed: list[BucketRow]) -> None:
        for r in closed:
            rows.setdefault(r.entity, []).append(r)

    for ev in events:
        col, key = model.classify(ev.message)
        keep(buckets.add(ev.entity, ev.ts, col, key, ev.message, model.is_error(ev.level)))
    keep(buckets.flush())
    return rows


def series_of(rows: Sequence[BucketRow], gap_seconds: float) -> list[list[BucketRow]]:
    """Split an entity's rows where the gap rule restarted it (no window spans a gap)."""
    runs: list[list[BucketRow]] = []
    for r in rows:
        if runs and r.start_ts - runs[-1][-1].end_ts <= gap_seconds:
            runs[-1].append(r)
        else:
            runs.append([r])
    return runs


def _runs(model: LogModel, paths: Sequence[str], events_by_file: Sequence[Sequence[LogEvent]]
          ) -> list[list[BucketRow]]:
    runs: list[list[BucketRow]] = []
    for events in events_by_file:
        for entity_rows in count_rows(model, events).values():
            runs.extend(series_of(entity_rows, model.cfg.gap_seconds))
    return runs


def train_log_detector(cfg: Config, paths: Sequence[str], progress: Progress | None = None,
                       max_line_bytes: int | None = None) -> object:
    """Log files -> templates -> count rows -> the same GAN training as metrics."""
    from anomaly_gan.train import train_detector

    assert cfg.logs is not None
    say = progress or (lambda _m: None)
    limit = max_line_bytes or cfg.serve.windows.max_event_bytes
    events_by_file = [read_log_file(p, cfg.logs, limit) for p in paths]
    messages = [ev.message for events in events_by_file for ev in events]
    model, _ = fit_log_model(cfg.logs, messages)
    model.miner.reset_new()
    say(f"{len(messages)} lines -> {len(model.miner.templates)} templates; columns: top "
        f"{len(model.template_ids)} + other + unseen"
        + (" + lines/s" if cfg.logs.lines_per_second else "")
        + (" + error share" if cfg.logs.error_share else ""))
    runs = _runs(model, paths, events_by_file)
    w = cfg.data.window
    usable = [r for r in runs if len(r) >= 2 * w]
    if not usable:
        longest = max((len(r) for r in runs), default=0)
        raise DataError(f"{', '.join(map(str, paths))}: the longest run of buckets of one entity "
                        f"is {longest}; training needs at least {2 * w} (2 x data.window) "
                        f"consecutive buckets: use more lines or smaller buckets")
    set_means(model, [r for run in usable for r in run])
    series = [np.stack([r.values for r in run]) for run in usable]
    say(f"{sum(len(r) for r in usable)} buckets in {len(usable)} runs of >= {2 * w} "
        f"({len(runs) - len(usable)} shorter runs left out)")
    det = train_detector(cfg, series, model.feature_names, progress=say)
    det.extras["logs"] = model.to_dict()
    det.metadata["logs"] = {"lines": len(messages), "templates": len(model.miner.templates),
                            "buckets": int(sum(len(r) for r in usable))}
    return det


def load_log_model(det: object) -> LogModel:
    """The log front end of a logs bundle (BundleError if the bundle is not one)."""
    from anomaly_gan.errors import BundleError

    cfg = det.config  # type: ignore[attr-defined]
    raw = det.extras.get("logs")  # type: ignore[attr-defined]
    if cfg.logs is None or raw is None:
        raise BundleError(f"model {det.version} is not a logs model (no logs section)")  # type: ignore[attr-defined]
    model = LogModel.from_dict(cfg.logs, raw)
    if model.feature_names != tuple(det.feature_names):  # type: ignore[attr-defined]
        raise BundleError(f"model {det.version}: logs features do not match the networks")  # type: ignore[attr-defined]
    return model


@dataclass
class LogScores:
    """Scores of one entity's run of buckets: ``rows[i]`` gets ``scores`` row ``i``."""

    entity: str
    rows: list[BucketRow]
    scores: object  # SeriesScores
    explanations: list[list[dict]]  # per row (empty before the first full window)


def score_log_events(det: object, model: LogModel, events: Sequence[LogEvent],
                     explain_anomalies_only: bool = True) -> list[LogScores]:
    """Score a stream of events; runs shorter than one window are left unscored."""
    window = det.window  # type: ignore[attr-defined]
    top_k = det.config.scoring.top_k  # type: ignore[attr-defined]
    out: list[LogScores] = []
    for entity, entity_rows in count_rows(model, events).items():
        for run in series_of(entity_rows, model.cfg.gap_seconds):
            values = np.stack([r.values for r in run])
            if len(run) < window:
                out.append(LogScores(entity, run, None, [[] for _ in run]))
                continue
            res = det.score_series(values)  # type: ignore[attr-defined]
            expl: list[list[dict]] = []
            for i in range(len(run)):
                if i < window - 1 or (explain_anomalies_only and not res.is_anomaly[i]):
                    expl.append([])
                else:
                    expl.append(model.explain(run[i - window + 1: i + 1], top_k))
            out.append(LogScores(entity, run, res, expl))
    return out
