"""Logs detectors that score what a replay could get wrong (empty buckets, lines per window;
per time bucket or per N lines) and scorers over a ``FakeIO`` that are killed and restarted
from their commit: tests/logs/test_replay.py and tests/logs/test_silent_lines.py."""

from __future__ import annotations

import functools
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
from prometheus_client import CollectorRegistry

from anomaly_gan.config import Config, ServeConfig, config_from_dict
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.metrics import StreamMetrics
from tests.support.stream_fakes import IN, FakeIO

LINES = ["GET /a/1 200", "cache flushed"]


@functools.cache
def _fitted(bucket_lines: int | None) -> tuple[Config, str, tuple[str, ...], int]:
    """The fake models' config and their log model fitted on :data:`LINES` (as JSON: each
    model gets its own copy), per time bucket (``None``) or per ``bucket_lines`` lines. A
    replay test builds two models per kill point, and validating the config and fitting
    were a seventh of its CPU; the config is frozen and the same for each."""
    buckets = ({"bucket_seconds": 10.0} if bucket_lines is None
               else {"bucket_seconds": None, "bucket_lines": bucket_lines})
    config = config_from_dict({
        "model": {"backbone": "dense"}, "data": {"window": 3},
        "logs": {"format": "regex", **buckets, "top_k": 2,
                 "regex": r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"}})
    model, _ = fit_log_model(config.logs, LINES)
    return config, json.dumps(model.to_dict()), tuple(model.feature_names), model.n_counts


class EmptyBucketModel:
    """A logs detector whose score is the number of empty buckets in the window (a silent
    entity alerts): anomalous from two on."""

    def __init__(self):
        self.config, fitted, names, self.n_counts = _fitted(None)
        self.extras = {"logs": json.loads(fitted)}
        self.feature_names, self.window, self.threshold = names, 3, 1.5
        self.version, self.kind = "v1", "ganomaly"

    def warm_up(self, max_batch=512):
        pass

    def score_windows(self, raw):
        s = (raw[:, :, : self.n_counts].sum(axis=2) == 0).sum(axis=1).astype(float)
        return SimpleNamespace(score=s, threshold=self.threshold, is_anomaly=s > self.threshold,
                               severity=np.where(s > self.threshold, 100.0, 0.0),
                               components={"reconstruction": s}, top_features=[["unseen"]] * len(s))


def line(ts):
    stamp = datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")
    return f"{stamp} web GET /a/1 200"


class LineCountModel(EmptyBucketModel):
    """Scores a window with the number of lines in it: a bucket rebuilt from part of its
    lines changes the score of every window that holds it."""

    def score_windows(self, raw):
        s = np.expm1(raw[:, :, : self.n_counts]).sum(axis=(1, 2)).round(6)
        return SimpleNamespace(score=s, threshold=1e9, is_anomaly=s > 1e9,
                               severity=np.zeros(len(s)), components={"reconstruction": s},
                               top_features=[["unseen"]] * len(s))


def scored(io):
    return {(r["entity"], r["window_end_ts"], r["score"])
            for r in (json.loads(v) for t, _, v, _ in io.sent if t == "scores")}


class LinesModel(LineCountModel):
    """LineCountModel with a bucket per 3 lines of an entity (``logs.bucket_lines``)."""

    def __init__(self):
        super().__init__()
        self.config, fitted, names, self.n_counts = _fitted(3)
        self.extras = {"logs": json.loads(fitted)}
        self.feature_names = names


T0 = 1_767_225_600.0  # the time of test_replay.py's two_entities() and records()
NOW = T0 + 300.0  # hostile_scorer's clock: after every base line


@functools.cache
def _serve_config(windows: tuple[tuple[str, float], ...]) -> ServeConfig:
    """hostile_scorer's serve config (frozen: validated once per ``windows``)."""
    return config_from_dict({"serve": {
        "batching": {"max_batch": 64, "max_latency_ms": 0},
        "windows": {"max_event_bytes": 4096, "max_future_skew_seconds": 300.0, **dict(windows)},
        "alerts": {"consecutive": 1, "cooldown_seconds": 0.0},
        "kafka": {"scores_topic": "scores"}}}).serve


def hostile_scorer(batches, model=None, **windows):
    io = FakeIO(batches)
    cfg = _serve_config(tuple(sorted(windows.items())))
    s = Scorer(cfg, model or LineCountModel(), io, StreamMetrics(CollectorRegistry()),
               clock=lambda: NOW)
    return s, io


def whole_run(recs, model, seen=scored, **windows):
    """The windows (and scores) a scorer with ``model()`` gives ``recs`` read in one go."""
    whole, io = hostile_scorer([recs], model(), **windows)
    whole.step()
    whole._score_batch()
    return seen(io)


def assert_kills_score_as_a_whole_run(recs, model, want, every, seen=scored, **windows):
    """A scorer killed after a commit at every ``every``-th record, then one restarted from
    the committed offset, score together the windows ``want`` of a run without the kill."""
    for cut in range(1, len(recs), every):
        first, io1 = hostile_scorer([recs[:cut], recs[cut:cut + 4]], model(), **windows)
        first.step()
        assert first._commit(force=True)
        resume = io1.commits[-1][IN]
        first.step()  # read past the commit, then killed
        first._score_batch()
        second, io2 = hostile_scorer([recs[resume:]], model(), **windows)
        second.step()
        second._score_batch()
        assert seen(io1) | seen(io2) == want, (cut, resume)
