"""The Kafka scoring service: events -> per-entity windows -> micro-batched scores ->
alerts, scores, dead letters and Prometheus metrics.

Pure core (no Kafka, no Prometheus, no clock): :mod:`.events` (parse/validate),
:mod:`.otlp` (OpenTelemetry metric batches), :mod:`.assemble` (records with some of the
features -> whole events), :mod:`.state` (ring buffers, ordering, gaps, LRU),
:mod:`.alerts` (debounce, records).
Edges: :mod:`.kafka_io` (kafka-python), :mod:`.metrics` (prometheus_client), :mod:`.http`
(/metrics, /healthz, /readyz), :mod:`.reload` (hot model reload). The scorer: :mod:`.intake`
(records -> windows), :mod:`.app` (the loop), :mod:`.publisher` (alerts, scores, dead
letters), :mod:`.baseline` and :mod:`.drift` (drift gauges), :mod:`.service` (``connect``
and the ``serve`` process).
The demo and the embedded broker live in :mod:`anomaly_gan.demo`.
"""

from anomaly_gan.stream.alerts import Debouncer, alert_id
from anomaly_gan.stream.events import INVALID_REASONS, Event, EventParser, InvalidEvent
from anomaly_gan.stream.state import WindowBatch, WindowState

__all__ = [
    "INVALID_REASONS",
    "Debouncer",
    "Event",
    "EventParser",
    "InvalidEvent",
    "WindowBatch",
    "WindowState",
    "alert_id",
]
