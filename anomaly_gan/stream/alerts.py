"""Debounce anomalous windows into alerts and build the alert/score records (pure).

An entity alerts after ``consecutive`` anomalous windows in a row; after an alert it stays
quiet for ``cooldown_seconds`` of *event time* (window end timestamps, read as written:
:func:`~anomaly_gan.data.windows.at_least_apart`), so replays after a restart make the same
decisions. A normal window resets the run.

With ``resolve_windows = N > 0`` an alert opens an *incident* of its entity, which stays open
until N normal windows come in a row; the N-th one resolves it (one resolution record).
Fewer normal windows do not end it (hysteresis): a new anomalous window continues the same
incident, whose ``anomalous_since`` stays the start of the run that opened it. A resolution
also ends the cooldown, so the entity's next incident alerts after ``consecutive`` windows.

>>> d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=2)
>>> [(d.update("a", t, anomalous=a), d.closed is not None)
...  for t, a in ((0.0, True), (1.0, False), (2.0, True), (3.0, False), (4.0, False))]
[(True, False), (False, False), (True, False), (False, False), (False, True)]

The alert id is a hash of entity, window end and model version (and, for a window whose
end time its entity's rows before it repeat, of which window it is): the same window scored
by the same model always gets the same id, so consumers can drop the duplicates that
at-least-once delivery may produce, and two windows of an entity with one end time get two.

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
from typing import TYPE_CHECKING, Any, NamedTuple

from anomaly_gan.data.windows import at_least_apart

if TYPE_CHECKING:
    from anomaly_gan.stream.silences import Silence, Silences

__all__ = ["Debouncer", "Decisions", "Incident", "alert_id", "alert_records", "build_alert",
           "build_resolution", "debounce", "encode_score", "holds_cooldown", "iso_utc",
           "resolution_id", "sampled"]


def iso_utc(ts: float) -> str:
    """RFC 3339 UTC with millisecond precision, e.g. ``2026-01-01T00:00:00.000Z``."""
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def alert_id(entity: str, window_end_ts: float, model_version: str, repeat: str = "") -> str:
    """Deterministic id: sha256 of ``entity|window end (µs)|model version``, 32 hex chars.
    ``repeat`` (:meth:`~anomaly_gan.stream.state.WindowBatch.repeat`: which of the entity's
    windows with that end time it is, "" for the only one) is appended as ``|repeat`` when
    not empty, so the entity's events that share a timestamp give distinct ids.

    >>> alert_id("a", 1.0, "v1") == alert_id("a", 1.0, "v1", "2/cdf3a570f8111852")
    False
    """
    key = f"{entity}|{round(window_end_ts * 1_000_000)}|{model_version}"
    if repeat:
        key += f"|{repeat}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def resolution_id(entity: str, resolved_ts: float, model_version: str,
                  repeat: str = "") -> str:
    """Deterministic id of a resolution record: sha256 of ``resolved|entity|window end of the
    resolving window (µs)|model version`` (and ``|repeat`` of that window, as in
    :func:`alert_id`), 32 hex chars (never equal to an alert id)."""
    key = f"resolved|{entity}|{round(resolved_ts * 1_000_000)}|{model_version}"
    if repeat:
        key += f"|{repeat}"
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


def sampled(entity: str, window_end_ts: float, rate: float) -> bool:
    """Deterministic sampling of score records: the same window is always in or out."""
    if rate >= 1.0:
        return True
    if rate <= 0.0:
        return False
    h = zlib.crc32(f"{entity}|{round(window_end_ts * 1000)}".encode())
    return h < rate * 4294967296.0


class Incident:
    """An entity's open incident (``resolve_windows > 0``): from the alert that opened it to
    the ``resolve_windows``-th normal window in a row. ``alert_id`` is set by whoever sends
    the alerts (it needs the model version)."""

    __slots__ = ("alert_id", "alerts", "anomalous", "calm", "last_alert_ts", "resolved_repeat",
                 "resolved_ts", "silenced", "since", "span")

    def __init__(self, since: float, run: int) -> None:
        self.since = since  # window end of the first window of the run that opened it
        self.span = run  # windows of the entity scored since then, that one included
        self.anomalous = run  # of them anomalous
        self.calm = 0  # normal windows in a row up to now
        self.alerts = 0
        self.silenced = 0  # of its alerts, those a silence kept off the alert topic
        self.last_alert_ts = since
        self.alert_id = ""
        self.resolved_ts: float | None = None
        self.resolved_repeat = ""  # the resolving window's repeat (see alert_id)


def holds_cooldown(resolve_windows: int, cooldown_seconds: float) -> bool:
    """Whether an alert's cooldown outlives the run that raised it, so that ``serve``'s
    commit holds back to the run while the cooldown lasts (:attr:`Debouncer.cooling`)."""
    return not resolve_windows and cooldown_seconds > 0


class Debouncer:
    """Per-entity run length of anomalous windows, time of the last alert and, with
    ``resolve_windows``, the open incident."""

    def __init__(self, consecutive: int, cooldown_seconds: float,
                 resolve_windows: int = 0) -> None:
        self.consecutive = int(consecutive)
        self.cooldown = float(cooldown_seconds)
        self.resolve = int(resolve_windows)
        self._run: dict[str, int] = {}
        self._since: dict[str, float] = {}  # window end of the run's first anomalous window
        self._last_alert: dict[str, float] = {}
        self._open: dict[str, Incident] = {}
        self.closed: Incident | None = None  # the incident the last update resolved
        # With resolve_windows 0 the cooldown outlives the run that alerted, and only a run
        # holds the commit back: a replay from past it forgot the cooldown, and the next run
        # alerted again. While an alert's cooldown lasts, the commit holds back to where a
        # replay re-scores the run that alerted (same alert, same id, same cooldown).
        self.tracks_cooldown = holds_cooldown(self.resolve, self.cooldown)
        self._since_from: dict[str, tuple[Any, int]] = {}  # the run's first window's replay
        #: entity -> (partition, offset, until): where a replay must start, in its cooldown
        self.cooling: dict[str, tuple[Any, int, float]] = {}

    def update(self, entity: str, window_end_ts: float, anomalous: bool,
               replay_from: tuple[Any, int] | None = None) -> bool:
        """Feed one scored window; True when it should raise an alert. When the window
        resolves the entity's incident, :attr:`closed` holds it until the next update.
        ``replay_from``: (partition, offset) a replay starts from to rebuild the window
        (:attr:`cooling`)."""
        self.closed = None
        if self.cooling:
            cooling = self.cooling.get(entity)
            if cooling is not None and self._cooled(entity, window_end_ts, cooling[2]):
                del self.cooling[entity]
        incident = self._open.get(entity) if self._open else None
        if incident is not None:
            incident.span += 1
        if not anomalous:
            self._run.pop(entity, None)
            self._since.pop(entity, None)
            self._since_from.pop(entity, None)
            if incident is not None:
                incident.calm += 1
                if incident.calm >= self.resolve:
                    del self._open[entity]
                    self._last_alert.pop(entity, None)  # the next incident is news
                    incident.resolved_ts = window_end_ts
                    self.closed = incident
            return False
        if incident is not None:
            incident.calm = 0
            incident.anomalous += 1
        run = self._run.get(entity, 0) + 1
        self._run[entity] = run
        if run == 1:
            self._since[entity] = window_end_ts
            if replay_from is not None:
                self._since_from[entity] = replay_from
        if run < self.consecutive:
            return False
        last = self._last_alert.get(entity)
        if last is not None and not at_least_apart(window_end_ts, last, self.cooldown):
            return False
        self._last_alert[entity] = window_end_ts
        # Only a run that alerted on its own: one longer than `consecutive` began inside an
        # earlier cooldown, which its replay would not rebuild, and holding its start would
        # hold the commit for as long as the run lasts.
        start = self._since_from.get(entity) if self.tracks_cooldown else None
        if start is not None and run == self.consecutive:
            self.cooling[entity] = (start[0], start[1], window_end_ts + self.cooldown)
        if self.resolve:
            if incident is None:
                incident = self._open[entity] = Incident(self._since[entity], run)
            incident.alerts += 1
            incident.last_alert_ts = window_end_ts
        return True

    def _cooled(self, entity: str, window_end_ts: float, until: float) -> bool:
        """Whether the cooldown that :attr:`cooling` holds for ends by ``window_end_ts``: by
        the alert's time as :meth:`update` decides it (``until`` is that alert's)."""
        last = self._last_alert.get(entity)
        return window_end_ts >= until if last is None \
            else at_least_apart(window_end_ts, last, self.cooldown)

    @property
    def active(self) -> bool:
        """True while some entity is in a run of anomalous windows or an open incident."""
        return bool(self._run) or bool(self._open)

    def run_length(self, entity: str) -> int:
        return self._run.get(entity, 0)

    def incident(self, entity: str) -> Incident | None:
        """The entity's open incident (None without one, or with ``resolve_windows`` 0)."""
        return self._open.get(entity)

    def anomalous_since(self, entity: str) -> float | None:
        """What an alert gives as ``anomalous_since``: the start of the entity's open
        incident, else of its run (:meth:`run_since`)."""
        incident = self._open.get(entity)
        return incident.since if incident is not None else self._since.get(entity)

    def held_windows(self, entity: str) -> int:
        """Windows a replay must re-score to rebuild the entity's state: those of its open
        incident, else of its run (the commit holds their offsets back, up to a bound)."""
        incident = self._open.get(entity)
        return incident.span if incident is not None else self._run.get(entity, 0)

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
        self._open.pop(entity, None)
        self._since_from.pop(entity, None)
        self.cooling.pop(entity, None)

    def clear(self) -> None:
        self._run.clear()
        self._since.clear()
        self._last_alert.clear()
        self._open.clear()
        self._since_from.clear()
        self.cooling.clear()

    def retain(self, keep: Callable[[str], bool]) -> None:
        """Drop the state of entities for which ``keep`` is false (bounds memory to the
        entities still held by the window state)."""
        tables: tuple[dict[str, Any], ...] = (self._run, self._since, self._last_alert,
                                              self._open, self._since_from, self.cooling)
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
                feature_values: Sequence[Mapping[str, Any]] | None = None,
                repeat: str = "") -> dict[str, Any]:
    """The alert record (JSON object) sent to the alert topic. ``since_ts``: the window end
    of the first window of this run of anomalous windows, or of the run that opened the
    entity's open incident (:meth:`Debouncer.anomalous_since`; the window end by default).
    ``feature_values``: per top feature, its observed and expected values
    (:meth:`anomaly_gan.detector.Detector.feature_values`); the record has the key only
    when given. ``repeat``: the window's, for its id (:func:`alert_id`)."""
    since = end_ts if since_ts is None else since_ts
    rec = {
        "status": "firing",
        "alert_id": alert_id(entity, end_ts, model_version, repeat),
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


def build_resolution(*, entity: str, incident: Incident, model_version: str,
                     model_kind: str, normal_windows: int) -> dict[str, Any]:
    """The resolution record of a resolved ``incident`` (:attr:`Debouncer.closed`), sent to
    the alert topic after the incident's alerts, keyed by the entity like them.

    >>> d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=1)
    >>> d.update("p-1", 60.0, anomalous=True), d.update("p-1", 70.0, anomalous=False)
    (True, False)
    >>> r = build_resolution(entity="p-1", incident=d.closed, model_version="v1",
    ...                      model_kind="ganomaly", normal_windows=1)
    >>> r["status"], r["anomalous_since"], r["resolved_at"], r["duration_seconds"]
    ('resolved', '1970-01-01T00:01:00.000Z', '1970-01-01T00:01:10.000Z', 10.0)
    """
    end = incident.resolved_ts
    if end is None:
        raise ValueError(f"the incident of {entity} is not resolved")
    return {
        "status": "resolved",
        "resolution_id": resolution_id(entity, end, model_version, incident.resolved_repeat),
        "alert_id": incident.alert_id,
        "entity": entity,
        "anomalous_since": iso_utc(incident.since),
        "anomalous_since_ts": incident.since,
        "resolved_at": iso_utc(end),
        "resolved_at_ts": end,
        "duration_seconds": end - incident.since,
        "alerts": incident.alerts - incident.silenced,  # the firing records sent
        "anomalous_windows": incident.anomalous,
        "normal_windows": int(normal_windows),
        "model_version": model_version,
        "model_kind": model_kind,
    }


Fired = list[tuple[int, int, float | None]]  # window, run length, incident or run start
Resolved = list[tuple[int, Incident]]  # window, the incident it resolved


class Decisions(NamedTuple):
    """What :func:`debounce` decided for a batch: the alerts and resolutions to send, and
    what silences kept back."""

    fired: Fired
    resolved: Resolved
    silenced: list[tuple[int, Silence]]  # window, the silence that muted its alert
    #: resolutions not sent: every alert of their incident was silenced
    unsent: Resolved


def debounce(debouncer: Debouncer, entities: Sequence[str], ends: Sequence[float],
             anomalous: Sequence[bool], model_version: str,
             silences: Silences | None = None,
             repeat: Callable[[int], str] | None = None,
             replay_from: Sequence[tuple[Any, int]] | None = None,
             forgets: Sequence[tuple[int, str]] = ()) -> Decisions:
    """Feed a batch of scored windows (in order) to ``debouncer``: the windows that fire
    an alert, with the run length and ``anomalous_since`` their record gives, and those that
    resolve an incident. ``serve`` (``Publisher.publish``) and ``score --alerts`` both
    decide through this.

    ``silences`` (:class:`~anomaly_gan.stream.silences.Silences`) keep back the alerts of
    the windows they cover (by entity and window end); the debouncer's state evolves as
    without them (runs, cooldown, incidents). An incident's resolution is sent when one of
    its alerts was; its ``alert_id`` names the last alert sent. ``repeat``: window index ->
    its repeat, for the ids (:meth:`~anomaly_gan.stream.state.WindowBatch.repeat`).
    ``replay_from``: per window, (partition, offset) a replay rebuilds it from
    (:attr:`Debouncer.cooling`; ``serve`` only). ``forgets``: (i, entity), the entity's
    state is dropped before window i is decided (it was evicted once the batch held i
    windows: the windows it completed before are decided with its state; ``serve`` only).

    >>> from anomaly_gan.stream.silences import Silence, Silences
    >>> d = Debouncer(consecutive=1, cooldown_seconds=0, resolve_windows=1)
    >>> mute = Silences([Silence("a", None, 2.0, "maintenance")])
    >>> [tuple(map(len, debounce(d, ["a"], [t], [a], "v1", mute)))
    ...  for t, a in ((1.0, True), (1.5, False), (2.0, True), (3.0, False))]
    [(0, 0, 1, 0), (0, 0, 0, 1), (1, 0, 0, 0), (0, 1, 0, 0)]
    """
    fired: Fired = []
    resolved: Resolved = []
    silenced: list[tuple[int, Silence]] = []
    unsent: Resolved = []
    update = debouncer.update
    drops = iter(sorted(forgets, key=lambda f: f[0]))
    drop = next(drops, None)
    for i, entity in enumerate(entities):
        while drop is not None and drop[0] <= i:
            debouncer.forget(drop[1])
            drop = next(drops, None)
        if update(entity, ends[i], anomalous[i], replay_from[i] if replay_from else None):
            incident = debouncer.incident(entity)
            silence = silences.match(entity, ends[i]) if silences else None
            if silence is not None:
                silenced.append((i, silence))
                if incident is not None:
                    incident.silenced += 1
                continue
            fired.append((i, debouncer.run_length(entity), debouncer.anomalous_since(entity)))
            if incident is not None:  # the id its resolution will name
                incident.alert_id = alert_id(entity, ends[i], model_version,
                                             repeat(i) if repeat else "")
        elif debouncer.closed is not None:
            closed = debouncer.closed
            if repeat:
                closed.resolved_repeat = repeat(i)
            (resolved if closed.silenced < closed.alerts else unsent).append((i, closed))
    while drop is not None:
        debouncer.forget(drop[1])
        drop = next(drops, None)
    return Decisions(fired, resolved, silenced, unsent)


def alert_records(*, fired: Fired, resolved: Resolved, entities: Sequence[str],
                  starts: Sequence[float], ends: Sequence[float], res: Any,
                  feature_values: Sequence[Any], model_version: str, model_kind: str,
                  normal_windows: int,
                  repeat: Callable[[int], str] | None = None) -> list[dict[str, Any]]:
    """The alert topic's records of a batch that :func:`debounce` decided on, in window
    order: an entity's resolution follows its incident's alerts and comes before its next
    incident's. ``res``: the batch's window scores; ``feature_values``: per fired window,
    its top features' values (None for a logs model, whose alerts name templates);
    ``repeat``: as :func:`debounce` was given it."""
    out: list[dict[str, Any]] = []
    closing = iter(resolved)
    pending = next(closing, None)

    def resolution(i: int, incident: Incident) -> dict[str, Any]:
        return build_resolution(entity=entities[i], incident=incident,
                                model_version=model_version, model_kind=model_kind,
                                normal_windows=normal_windows)

    for (i, run, since), values in zip(fired, feature_values, strict=True):
        while pending is not None and pending[0] < i:
            out.append(resolution(*pending))
            pending = next(closing, None)
        out.append(build_alert(
            entity=entities[i], start_ts=starts[i], end_ts=ends[i], score=float(res.score[i]),
            threshold=float(res.threshold), severity=float(res.severity[i]),
            components={c: v[i] for c, v in res.components.items()},
            top_features=res.top_features[i], model_version=model_version,
            model_kind=model_kind, consecutive=run, since_ts=since, feature_values=values,
            repeat=repeat(i) if repeat else ""))
    while pending is not None:
        out.append(resolution(*pending))
        pending = next(closing, None)
    return out


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
