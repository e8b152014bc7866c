"""The producer side of the scorer: alerts, sampled score records and dead letters.

:class:`Publisher` turns a scored batch into output records (alerts through the
:class:`~anomaly_gan.stream.alerts.Debouncer`, score records for ``scores_topic`` at
``alerts.scores_sample_rate``) and a bad input record into a dead letter. Every send is
tracked: a failure, when the record is handed to the producer or later when the broker
answers, is kept in :attr:`Publisher.error` until the loop takes it, so the loop never
commits past output that was not acknowledged (it replays from the last commit instead).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from anomaly_gan.config import ServeConfig
from anomaly_gan.scoring import feature_values_text, written_apart
from anomaly_gan.stream.alerts import (
    Debouncer,
    Decisions,
    Fired,
    Resolved,
    alert_records,
    debounce,
    dumps,
    encode_score,
    iso_utc,
    sampled,
)
from anomaly_gan.stream.events import InvalidEvent
from anomaly_gan.stream.metrics import StreamMetrics
from anomaly_gan.stream.silences import Silences
from anomaly_gan.stream.state import WindowBatch

__all__ = ["ALERT_MAX_BYTES", "DLQ_MAX_KEY", "DLQ_MAX_VALUE", "SCORES_MAX_BYTES", "Publisher",
           "fit_templates", "score_arrays"]

log = logging.getLogger("anomaly_gan.stream")


def _brief(score: float | None, threshold: float | None) -> tuple[float | None, float | None]:
    """A score and its threshold as a log line shows them: 4 significant digits, or more
    where 4 would write them closer or further apart than they are (:func:`written_apart`:
    10.0004 over 10 read 10.0 and 10.0); the record keeps every digit.

    >>> _brief(14.454605149129202, 2.531875298273025), _brief(10.0004, 10.0), _brief(None, 2.0)
    ((14.45, 2.532), (10.0004, 10.0), (None, 2.0))
    """
    shown, limit = written_apart(score, threshold)
    return (None if score is None else float(shown),
            None if threshold is None else float(limit))

# A dead-letter copy of a record is cut to this many bytes (and says so in a header), so
# it always fits a producer request (kafka-python's max_request_size is 1 MiB).
DLQ_MAX_VALUE = 512 * 1024
DLQ_MAX_KEY = 1024
# A logs alert is kept under this many bytes (:func:`fit_templates`): a record the producer
# refuses as too large would be replayed without end.
ALERT_MAX_BYTES = 512 * 1024
# A scores_format: batch array is split into records of at most this many bytes, for the
# same reason (:func:`score_arrays`).
SCORES_MAX_BYTES = 512 * 1024


def score_arrays(recs: list[bytes], limit: int = SCORES_MAX_BYTES) -> list[bytes]:
    """One entity's score records (JSON objects) as JSON arrays of at most ``limit`` bytes,
    in order (a record longer than ``limit`` alone is an array of its own). Until 2026-12-07
    a batch's array was one record however many windows: an entity with a long id catching
    up on a backlog passed kafka-python's 1 MiB request, whose send raised at every replay.

    >>> score_arrays([b'{"a":1}', b'{"a":2}', b'{"a":3}'], limit=17)
    [b'[{"a":1},{"a":2}]', b'[{"a":3}]']
    """
    out: list[bytes] = []
    start, size = 0, 1  # the brackets and the commas: one byte per record, plus one
    for i, rec in enumerate(recs):
        if i > start and size + len(rec) + 1 > limit:
            out.append(b"[" + b",".join(recs[start:i]) + b"]")
            start, size = i, 1
        size += len(rec) + 1
    if recs:
        out.append(b"[" + b",".join(recs[start:]) + b"]")
    return out


def fit_templates(rec: dict[str, Any], limit: int = ALERT_MAX_BYTES) -> tuple[bytes, int, int]:
    """``rec`` encoded in at most ``limit`` bytes where its ``templates`` allow: the example
    lines of the lowest-ranked templates go first, then those templates. Each example and
    template is cut at 2,000 characters, but ``scoring.top_k`` x ``logs.example_lines`` of
    them, escaped in JSON (a non-ASCII character is 6 bytes), passed 1 MiB (top_k 10 and
    example_lines 10 of such lines: 1.3 MB). Returns the bytes and how many examples and
    templates were left out.

    >>> rec = {"templates": [{"template": "t", "examples": ["x" * 400] * 2}] * 2}
    >>> out, examples, templates = fit_templates(rec, limit=1000)
    >>> len(out) <= 1000, examples, templates
    (True, 2, 0)
    """
    value = dumps(rec)
    entries = rec.get("templates") or []
    examples = templates = 0
    for i in range(len(entries) - 1, -1, -1):
        if len(value) <= limit:
            break
        if entries[i]["examples"]:
            examples += len(entries[i]["examples"])
            entries[i] = {**entries[i], "examples": []}
            value = dumps(rec)
    while len(value) > limit and entries:
        entries.pop()
        templates += 1
        value = dumps(rec)
    return value, examples, templates


class Publisher:
    """Output records of one scorer, sent through ``io.send`` (``KafkaIO`` or a double).

    ``logs`` is the scorer's :class:`~anomaly_gan.logs.live.LogFeed` for a logs model (alerts
    then name the templates behind them), else None. ``silences``: the
    :class:`~anomaly_gan.stream.silences.Silences` in force (the scorer swaps in new ones
    when the file changes), or None.
    """

    def __init__(self, cfg: ServeConfig, io: Any, metrics: StreamMetrics,
                 logs: Any = None) -> None:
        self.cfg = cfg
        self.io = io
        self.metrics = metrics
        self.logs = logs
        self.debouncer = Debouncer(cfg.alerts.consecutive, cfg.alerts.cooldown_seconds,
                                   cfg.alerts.resolve_windows)
        self.delivery = getattr(io, "delivery", None)  # kafka_io.Delivery, absent on doubles
        self.error: Exception | None = None  # first unacknowledged send since taken
        self.error_topic: str | None = None  # the topic of the last send that failed
        self._on_error: dict[str, Any] = {}  # per topic: the producer's error callback
        self.alerts_sent = 0
        self.resolutions_sent = 0
        self.alerts_silenced = 0
        self.silences: Silences | None = None
        self._logged_reasons: set[str] = set()  # dead-letter reasons logged once already

    # ------------------------------------------------------------------ delivery

    def send(self, topic: str, value: bytes, key: bytes | None,
             headers: list[tuple[str, bytes]] | None = None) -> None:
        """Produce one record; a failure, now or later, is kept in :attr:`error`."""
        on_error = self._on_error.get(topic)
        if on_error is None:  # one callback per topic, not one per record
            on_error = self._on_error[topic] = lambda exc: self.on_produce_error(exc, topic)
        try:
            self.io.send(topic, value, key=key, headers=headers, on_error=on_error)
        except Exception as exc:  # noqa: BLE001 - e.g. no metadata within max_block_ms
            self.on_produce_error(exc, topic)

    def on_produce_error(self, exc: Exception, topic: str | None = None) -> None:
        """The producer's callback for a record the broker did not acknowledge (any thread).
        Until a clean flush, the delivery counts as stalled (readiness, ``broker_up``)."""
        self.error, self.error_topic = exc, topic
        if self.delivery is not None:
            self.delivery.failed()

    def delivered(self) -> None:
        """Everything sent so far was acknowledged (a flush with no error)."""
        if self.delivery is not None:
            self.delivery.recovered()

    def failing(self) -> bool:
        """A run of failed deliveries that no clean flush has ended yet."""
        return self.delivery is not None and self.delivery.failing

    def take_error(self) -> Exception | None:
        """The failure since the last call, if any, and forget it."""
        failed, self.error = self.error, None
        return failed

    def stalled_for(self) -> float:
        """Seconds that output has been pending with no acknowledgement (0 if unknown): a
        stuck producer, whatever the failures before it."""
        return 0.0 if self.delivery is None else float(self.delivery.pending_for())

    def replace_producer(self) -> None:
        """A new producer for a stuck one (``KafkaIO.reset_producer``; its pending records
        are replayed by the loop). A failure is logged and retried at the next stall."""
        reset = getattr(self.io, "reset_producer", None)
        if reset is None:
            return
        try:
            reset()
            log.warning("producer recreated")
        except Exception as exc:  # noqa: BLE001 - retried at the next failure
            log.error("recreating the producer failed", extra={"fields": {"error": str(exc)}})

    # ------------------------------------------------------------------ records

    def dead_letter(self, tp: Any, m: Any, bad: InvalidEvent, *, logged: bool = False) -> None:
        """The original record ``m`` of partition ``tp``, with why, to the DLQ. Values and
        keys too large for a producer request are cut, with a ``truncated`` header giving the
        original size. ``logged``: the caller has logged this one itself."""
        self.metrics.invalid(bad.reason)
        value = m.value if m.value is not None else b""
        key = m.key
        # cut at 512 bytes, and back to a whole character: a header a consumer decodes
        detail = bad.detail.encode("utf-8", "replace")[:512].decode("utf-8", "ignore").encode()
        source = f"{tp.topic}/{tp.partition}/{m.offset}"
        if not logged and bad.reason not in self._logged_reasons:
            # Once per reason: a producer sending the wrong feature names puts every event
            # here, and until now only a counter said so (helper probe of 2026-12-05).
            self._logged_reasons.add(bad.reason)
            log.warning("invalid event sent to the DLQ; later ones with this reason are only "
                        "counted (anomaly_gan_dlq_total)", extra={"fields": {
                            "reason": bad.reason, "detail": detail.decode("utf-8", "replace"),
                            "source": source, "dlq_topic": self.cfg.kafka.dlq_topic}})
        headers = [("reason", bad.reason.encode()), ("detail", detail),
                   ("source", source.encode())]
        cap = min(DLQ_MAX_VALUE, self.cfg.windows.max_event_bytes)
        if len(value) > cap:
            headers.append(("truncated", f"value: first {cap} of {len(value)} bytes".encode()))
            value = value[:cap]
        if key is not None and len(key) > DLQ_MAX_KEY:
            headers.append(("truncated_key", f"key: first {DLQ_MAX_KEY} of {len(key)} bytes"
                            .encode()))
            key = key[:DLQ_MAX_KEY]
        self.send(self.cfg.kafka.dlq_topic, value, key, headers)
        self.metrics.dlq.labels(bad.reason).inc()

    def publish(self, batch: WindowBatch, det: Any, res: Any) -> None:
        """Alerts (debounced) and sampled score records of a batch that ``det`` scored."""
        anomalous = res.is_anomaly
        scores_topic = self.cfg.kafka.scores_topic
        if not np.any(anomalous) and not scores_topic and not self.debouncer.active:
            for _, entity in batch.forgets:
                self.debouncer.forget(entity)
            return  # nothing anomalous, no run to reset, no score to write
        rate = self.cfg.alerts.scores_sample_rate
        entities, starts, ends = batch.entities, batch.start_ts, batch.end_ts
        flags = anomalous.tolist()
        decided = debounce(self.debouncer, entities, ends, flags, det.version, self.silences,
                           batch.repeat,
                           list(zip(batch.partitions, batch.replay_from, strict=True))
                           if self.debouncer.tracks_cooldown and batch.replay_from else None,
                           batch.forgets)
        fired, resolved = decided.fired, decided.resolved
        if decided.silenced or decided.unsent:
            self._log_silenced(entities, ends, det, decided)
        if scores_topic:
            # Python numbers once per batch, not numpy scalars per window
            scores = res.score.tolist()
            comps = {c: v.tolist() for c, v in res.components.items()}
            threshold = float(res.threshold)
            grouped: dict[str, list[bytes]] | None = (
                {} if self.cfg.kafka.scores_format == "batch" else None)
            for i in range(len(batch)):
                entity = entities[i]
                if not sampled(entity, ends[i], rate):
                    continue
                rec = encode_score(
                    entity=entity, start_ts=starts[i], end_ts=ends[i], score=scores[i],
                    threshold=threshold, is_anomaly=flags[i],
                    components={c: v[i] for c, v in comps.items()},
                    model_version=det.version,
                    partition=batch.partitions[i].partition,  # type: ignore[attr-defined]
                    offset=batch.offsets[i])
                if grouped is None:
                    self.send(scores_topic, rec, entity.encode())
                else:
                    grouped.setdefault(entity, []).append(rec)
        if fired or resolved:
            self._send_alerts(batch, det, res, fired, resolved)
        if scores_topic and grouped:  # scores_format batch: JSON arrays per entity
            for entity, recs in grouped.items():
                key = entity.encode()
                for array in score_arrays(recs):
                    self.send(scores_topic, array, key)

    def _log_silenced(self, entities: Any, ends: Any, det: Any, decided: Decisions) -> None:
        """Count and log (INFO) the alerts that silences kept back, and the resolutions of
        incidents none of whose alerts was sent."""
        for i, silence in decided.silenced:
            self.metrics.alerts_silenced.labels(det.version).inc()
            self.alerts_silenced += 1
            log.info("silenced", extra={"fields": {
                "entity": entities[i], "window_end": iso_utc(ends[i]),
                "silence": silence.entity, "comment": silence.comment,
                "silence_end": iso_utc(silence.end)}})
        for i, incident in decided.unsent:
            log.info("resolved, not sent: every alert of the incident was silenced",
                     extra={"fields": {"entity": entities[i], "resolved_at": iso_utc(ends[i]),
                                       "since": iso_utc(incident.since)}})

    def _send_alerts(self, batch: WindowBatch, det: Any, res: Any, fired: Fired,
                     resolved: Resolved) -> None:
        """The alert records of the ``fired`` windows of a batch and the resolution records
        of the ``resolved`` ones (:func:`~anomaly_gan.stream.alerts.alert_records`, in
        window order). The alerts' features' values come from one more model call for all
        of them (a logs model's records name templates instead)."""
        values: list[Any] = [None] * len(fired)
        if self.logs is None and fired:
            values = det.feature_values(batch.windows()[[i for i, _, _ in fired]],
                                        [res.top_features[i] for i, _, _ in fired])
        in_order = iter(values)  # the firing records come in the order of ``fired``
        windows = iter([i for i, _, _ in fired])
        for rec in alert_records(fired=fired, resolved=resolved, entities=batch.entities,
                                 starts=batch.start_ts, ends=batch.end_ts, res=res,
                                 feature_values=values, model_version=det.version,
                                 model_kind=det.kind, normal_windows=self.debouncer.resolve,
                                 repeat=batch.repeat):
            if rec["status"] == "firing":
                self._send_alert(det, rec, next(in_order), batch.tags.get(next(windows)))
            else:
                self._send_resolution(det, rec)

    def _send_resolution(self, det: Any, rec: dict[str, Any]) -> None:
        entity = rec["entity"]
        self.send(self.cfg.kafka.alert_topic, dumps(rec), entity.encode())
        self.metrics.alerts_resolved.labels(det.version).inc()
        self.resolutions_sent += 1
        log.warning("resolved", extra={"fields": {
            "entity": entity, "resolved_at": rec["resolved_at"],
            "since": rec["anomalous_since"], "duration_seconds": rec["duration_seconds"],
            "alerts": rec["alerts"], "alert_id": rec["alert_id"],
            "resolution_id": rec["resolution_id"]}})

    def _send_alert(self, det: Any, rec: dict[str, Any],
                    values: list[dict[str, Any]] | None, last_row: Any = None) -> None:
        """``last_row``: a logs model's bucket row that ends the window (its ``tag``)."""
        entity = rec["entity"]
        if self.logs is not None:
            rec["templates"] = self.logs.explain(last_row, det.config.scoring.top_k)
        value, examples, templates = fit_templates(rec)
        if examples or templates:
            log.warning("alert too large: template examples left out", extra={"fields": {
                "entity": entity, "alert_id": rec["alert_id"], "examples_left_out": examples,
                "templates_left_out": templates, "max_bytes": ALERT_MAX_BYTES}})
        self.send(self.cfg.kafka.alert_topic, value, entity.encode())
        self.metrics.alerts.labels(det.version).inc()
        self.alerts_sent += 1
        score, threshold = _brief(rec["score"], rec["threshold"])
        log.warning("alert", extra={"fields": {
            "entity": entity, "window_end": rec["window_end"], "score": score,
            "threshold": threshold, "since": rec["anomalous_since"],
            "top_features": rec["top_features"],
            **({"values": feature_values_text(values)} if values is not None else {}),
            "alert_id": rec["alert_id"],
            **({"templates": [t["template"] for t in rec["templates"]]}
               if "templates" in rec else {})}})
