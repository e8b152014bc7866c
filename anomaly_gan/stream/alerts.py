"""Debounce anomalous windows into alerts and build the alert/score records (pure).

An entity alerts after ``consecutive`` anomalous windows in a row; after an alert it stays
quiet for ``cooldown_seconds`` of *event time* (window end timestamps), so replays after a
restart make the same decisions. A normal window resets the run.

The alert id is a hash of entity, window end and model version: the same window scored by
the same model always gets the same id, so consumers can drop the duplicates that
at-least-once delivery may produce.

>>> d = Debouncer(consecutive=2, cooldown_seconds=60)
>>> [d.update("a", t, anomalous=True) for t in (0.0, 1.0, 2.0, 61.0)]
[False, True, False, True]
>>> alert_id("pump-7", 1767225600.0, "v1") == alert_id("pump-7", 1767225600.0, "v1")
True
"""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_str  # json.dumps' string escaping
from typing import Any

__all__ = ["Debouncer", "alert_id", "build_alert", "encode_score", "iso_utc", "sampled"]


def iso_utc(ts: float) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. ``2026-01-01T00:00:00.000Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def alert_id(entity: str, window_end_ts: float, model_version: str) -> str:
    """Deterministic id: sha256 of ``entity|window end (µs)|model version``, 32 hex chars."""
    key = f"{entity}|{round(window_end_ts * 1_000_000)}|{model_version}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def sampled(entity: str, window_end_ts: float, rate: float) -> bool:
    """Deterministic sampling of score records: the same window is always in or out."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    h = zlib.crc32(f"{entity}|{round(window_end_ts * 1000)}".encode())
    return h < rate * 4294967296.0


class Debouncer:
    """Per-entity run length of anomalous windows and time of the last alert."""

    def __init__(self, consecutive: int, cooldown_seconds: float) -> None:
        self.consecutive = int(consecutive)
        self.cooldown = float(cooldown_seconds)
        self._run: dict[str, int] = {}
        self._since: dict[str, float] = {}  # window end of the run's first anomalous window
        self._last_alert: dict[str, float] = {}

    def update(self, entity: str, window_end_ts: float, anomalous: bool) -> bool:
        """Feed one scored window; True when it should raise an alert."""
        if not anomalous:
            self._run.pop(entity, None)
            self._since.pop(entity, None)
            return False
        run = self._run.get(entity, 0) + 1
        self._run[entity] = run
        if run == 1:
            self._since[entity] = window_end_ts
        if run < self.consecutive:
            return False
        last = self._last_alert.get(entity)
        if last is not None and window_end_ts - last < self.cooldown:
            return False
        self._last_alert[entity] = window_end_ts
        return True

    @property
    def active(self) -> bool:
        """True while some entity is in a run of anomalous windows."""
        return bool(self._run)

    def run_length(self, entity: str) -> int:
        return self._run.get(entity, 0)

    def run_since(self, entity: str) -> float | None:
        """Window end of the first window of the entity's run of anomalous windows (about
        when the anomaly began); None outside a run.

        >>> d = Debouncer(consecutive=2, cooldown_seconds=60)
        >>> [d.update("a", t, anomalous=a) for t, a in ((0.0, True), (1.0, False), (2.0, True),
        ...                                               (3.0, True))]
        [False, False, False, True]
        >>> d.run_since("a"), d.run_since("b")
        (2.0, None)
        """
        return self._since.get(entity)

    def forget(self, entity: str) -> None:
        """Drop an entity's state (evicted or its partition revoked)."""
        self._run.pop(entity, None)
        self._since.pop(entity, None)
        self._last_alert.pop(entity, None)

    def clear(self) -> None:
        self._run.clear()
        self._since.clear()
        self._last_alert.clear()

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Drop the state of entities for which ``keep`` is false (bounds memory to the
        entities still held by the window state)."""
        tables: tuple[dict[str, Any], ...] = (self._run, self._since, self._last_alert)
        for table in tables:
            for entity in [e for e in table if not keep(e)]:
                del table[entity]


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def build_alert(*, entity: str, start_ts: float, end_ts: float, score: float, threshold: float,
                severity: float, components: Mapping[str, float], top_features: Sequence[str],
                model_version: str, model_kind: str, consecutive: int,
                since_ts: float | None = None,
                feature_values: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The alert record (JSON object) sent to the alert topic. ``since_ts``: the window end
    of the first window of this run of anomalous windows (the window end by default).
    ``feature_values``: per top feature, its observed and expected values
    (:meth:`anomaly_gan.detector.Detector.feature_values`); the record has the key only
    when given."""
    since = end_ts if since_ts is None else since_ts
    rec = {
        "alert_id": alert_id(entity, end_ts, model_version),
        "entity": entity,
        "window_start": iso_utc(start_ts),
        "window_end": iso_utc(end_ts),
        "window_start_ts": start_ts,
        "window_end_ts": end_ts,
        "score": _num(score),
        "threshold": _num(threshold),
        "severity": _num(severity),
        "components": {k: _num(v) for k, v in components.items()},
        "top_features": list(top_features),
        "consecutive_windows": int(consecutive),
        "anomalous_since": iso_utc(since),
        "anomalous_since_ts": since,
        "model_version": model_version,
        "model_kind": model_kind,
    }
    if feature_values is not None:
        rec["feature_values"] = [{k: _num(v) if isinstance(v, float) else v
                                  for k, v in entry.items()} for entry in feature_values]
    return rec


def _json_num(x: float) -> str:
    return repr(x) if math.isfinite(x) else "null"


def encode_score(*, entity: str, start_ts: float, end_ts: float, score: float,
                 threshold: float, is_anomaly: bool, components: Mapping[str, float],
                 model_version: str, partition: int, offset: int) -> bytes:
    """One record of the optional scores topic as compact JSON; ``partition``/``offset``
    name the input record that completed the window. Non-finite numbers become null.

    Written directly rather than through a dict and ``json.dumps`` (half the CPU time): with
    every window's score published, this runs once per event.

    >>> encode_score(entity="p-1", start_ts=0.0, end_ts=9.0, score=1.5, threshold=2.0,
    ...              is_anomaly=False, components={"latent": float("nan")},
    ...              model_version="v1", partition=0, offset=7)
    b'{"entity":"p-1","window_start_ts":0.0,"window_end_ts":9.0,"score":1.5,"threshold":2.0,"is_anomaly":false,"components":{"latent":null},"model_version":"v1","partition":0,"offset":7}'
    """
    comps = ",".join(f"{_json_str(k)}:{_json_num(float(v))}" for k, v in components.items())
    return (f'{{"entity":{_json_str(entity)},"window_start_ts":{_json_num(float(start_ts))},'
            f'"window_end_ts":{_json_num(float(end_ts))},"score":{_json_num(float(score))},'
            f'"threshold":{_json_num(float(threshold))},'
            f'"is_anomaly":{"true" if is_anomaly else "false"},"components":{{{comps}}},'
            f'"model_version":{_json_str(model_version)},"partition":{int(partition)},'
            f'"offset":{int(offset)}}}').encode("ascii")


def dumps(record: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON for a record."""
    return json.dumps(record, separators=(",", ":"), allow_nan=False).encode("utf-8")
