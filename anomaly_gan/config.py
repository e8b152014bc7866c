"""YAML -> frozen, validated settings.

Every section is a frozen dataclass whose field names equal the YAML keys. A file is
validated once, at the edge, into a :class:`Config`; everything inward takes plain values.

Errors name the file, the key path and what is allowed, in one line::

    configs/bad.yaml: training.epochs: expected an integer >= 1 and <= 100000, got 0

Environment overrides: ``ANOMALY_GAN__<SECTION>__<KEY>[__<KEY>...]=<value>``, e.g.
``ANOMALY_GAN__TRAINING__EPOCHS=5`` or ``ANOMALY_GAN__SERVE__KAFKA__BOOTSTRAP_SERVERS=k:9092``.
A string key (names, topics, paths, secrets such as ``serve.kafka.sasl_password``) takes the
value verbatim: ``hunter2 #1``, ``null`` and ``yes`` stay those strings; an empty value means
null. Other keys parse it as YAML (``5`` is an int, ``[a, b]`` a list). One entry of a map
(``ANOMALY_GAN__SCORING__WEIGHTS__KNN=0``) changes that entry and keeps the others, the
default ones when the file sets no map. Either way it is validated like the file, and an
error never shows the value of a secret. A variable that looks like an override and is none
(``ANOMALY_GAN_TRAINING__EPOCHS``, ``anomaly_gan__training__epochs``, ``ANOMALY_GAN_CPU``)
is refused, naming the spelling meant, where it was silently ignored. ``score``,
``evaluate`` and ``plot`` without ``--config`` override a model bundle's config alike
(:func:`override_config`).

Limits that keep a hostile or broken file cheap to reject: a file is at most
:data:`MAX_CONFIG_BYTES`, duplicate keys are an error, numbers must be finite, lists have a
maximum length, and an error shows at most about 80 characters of a value.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, timezone, tzinfo
from pathlib import Path
from typing import Any, Literal

import yaml

from anomaly_gan.errors import ConfigError, brief, clip

__all__ = [
    "BACKBONES",
    "CPUS_ENV",
    "ENV_PREFIX",
    "LOGS_DEFAULTS",
    "MAX_CONFIG_BYTES",
    "MODEL_KINDS",
    "NAN_POLICIES",
    "OTLP_FORMATS",
    "PRECISIONS",
    "SCORE_COMPONENTS",
    "AlertConfig",
    "Backbone",
    "BatchingConfig",
    "Config",
    "DataConfig",
    "DriftConfig",
    "EventFieldsConfig",
    "GateConfig",
    "HttpConfig",
    "KafkaConfig",
    "LogsConfig",
    "ModelConfig",
    "ModelKind",
    "NanPolicy",
    "Precision",
    "RetrainConfig",
    "ScoreComponent",
    "ScoringConfig",
    "ServeConfig",
    "StreamWindowConfig",
    "ThresholdConfig",
    "TrainingConfig",
    "YamlLoader",
    "config_from_dict",
    "config_keys",
    "config_to_dict",
    "env_overrides",
    "is_otlp",
    "load_config",
    "load_logs_defaults",
    "override_config",
    "parse_yaml",
    "source_of",
    "without_secrets",
    "yaml_problem",
    "zone_of",
]

ENV_PREFIX = "ANOMALY_GAN__"
CPUS_ENV = "ANOMALY_GAN_CPUS"
"""CPUs the scorer is entitled to, where no cgroup quota says it (:mod:`anomaly_gan.inference`
sizes the model's thread pools by it): the Helm chart sets it to the pod's
``resources.requests.cpu`` in whole CPUs (rounded up). With no CPU limit (the chart's
default) the quota is unset, and the affinity mask is the node's every core: 63 intra-op
threads on a 64-core node for a pod that requested 500m. The one variable of the
``ANOMALY_GAN_`` stem that is no override."""
MAX_CONFIG_BYTES = 1 << 20
"""Largest config file (or environment value) accepted: the documented default is ~8 KB."""

# The vocabularies, each spelled out once: the config validates against these, and the
# models, scoring and CLI import them from here.
ModelKind = Literal["ganomaly", "fanogan"]
"""A GAN family: the name of its folder under ``anomaly_gan/models/``."""
Backbone = Literal["dense", "conv1d"]
Precision = Literal["auto", "float32", "mixed_float16", "mixed_bfloat16"]
ScoreComponent = Literal["reconstruction", "discriminator", "latent", "knn", "quiet"]
NanPolicy = Literal["reject", "ffill", "zero"]

MODEL_KINDS: tuple[str, ...] = typing.get_args(ModelKind)
BACKBONES: tuple[str, ...] = typing.get_args(Backbone)
PRECISIONS: tuple[str, ...] = typing.get_args(Precision)
SCORE_COMPONENTS: tuple[str, ...] = typing.get_args(ScoreComponent)
NAN_POLICIES: tuple[str, ...] = typing.get_args(NanPolicy)


def _range(lo: float | None = None, hi: float | None = None, *, lo_open: bool = False,
           hi_open: bool = False) -> dict[str, Any]:
    return {"lo": lo, "hi": hi, "lo_open": lo_open, "hi_open": hi_open}


def _f(default: Any, **bounds: Any) -> Any:
    """A dataclass field with optional numeric bounds kept in its metadata."""
    if isinstance(default, (list, dict)):
        factory: Any = lambda d=default: type(d)(d)  # a fresh copy per instance
        return field(default_factory=factory, metadata=bounds)
    return field(default=default, metadata=bounds)


@dataclass(frozen=True)
class ModelConfig:
    """Which GAN family and backbone, and its loss weights."""

    kind: ModelKind = "ganomaly"
    backbone: Backbone = "conv1d"
    latent_dim: int = _f(16, **_range(1, 4096))
    hidden: tuple[int, ...] = _f((32, 64), max_items=16, item=_range(1, 65_536))
    # GANomaly generator loss weights (Akcay et al. 2018 defaults).
    w_adv: float = _f(1.0, **_range(0.0))
    w_con: float = _f(50.0, **_range(0.0))
    w_enc: float = _f(1.0, **_range(0.0))
    # GANomaly's reconstruction term: l2 (default) or the paper's l1, whose optimum for a
    # rarely-changing feature is its median (see models/ganomaly/losses.py).
    reconstruction_loss: Literal["l2", "l1"] = "l2"
    # f-AnoGAN: WGAN-GP and the izi_f encoder loss.
    gp_weight: float = _f(10.0, **_range(0.0))
    n_critic: int = _f(5, **_range(1, 100))
    kappa: float = _f(1.0, **_range(0.0))


@dataclass(frozen=True)
class DataConfig:
    """How rows become scaled, windowed model input."""

    window: int = _f(32, **_range(2, 100_000))
    stride: int = _f(1, **_range(1, 100_000))
    scaler: Literal["robust", "minmax"] = "robust"
    nan_policy: NanPolicy = "reject"
    timestamp_column: str | None = None
    # CSV header: auto (a first row of names is one, of numbers data), names (the first row
    # always names the columns: '200,404,500' status codes), none (the first row is data).
    header: Literal["auto", "names", "none"] = "auto"
    validation_fraction: float = _f(0.2, **_range(0.05, 0.5))
    max_train_windows: int = _f(20_000, **_range(100))
    # Features that are cumulative counters (Prometheus *_total, bytes sent): the model
    # reads their increase per row, a fall being a reset (anomaly_gan/data/counters.py).
    # Not for a logs model, whose rows already count per bucket.
    counters: tuple[str, ...] = _f((), max_items=10_000, may_be_empty=True)


# Retry n of an unhealthy run trains with seed + n (train.attempt_settings), and NumPy and
# TensorFlow take seeds below 2**32: the largest seed leaves room for every retry.
_MAX_ATTEMPTS = 20
_MAX_SEED = 2**32 - _MAX_ATTEMPTS


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation, early stopping, precision and health checks."""

    epochs: int = _f(30, **_range(1, 100_000))
    # Optimizer steps floor: short series repeat their windows within an epoch until the
    # run gets at least this many steps (705 rows gave 9 steps an epoch, 270 in all: the
    # decoder never left its initial near-constant output).
    min_steps: int = _f(2000, **_range(0, 10_000_000))
    batch_size: int = _f(64, **_range(1, 1 << 20))
    learning_rate: float = _f(1e-3, **_range(0.0, 1.0, lo_open=True))
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    # Unhealthy runs are retried (new seed, half the learning rate or, after an attempt that
    # overfitted, a quarter of the steps; fresh networks) up to
    # this many attempts in all before train gives up.
    max_attempts: int = _f(3, **_range(1, _MAX_ATTEMPTS))
    beta_1: float = _f(0.5, **_range(0.0, 1.0, hi_open=True))
    patience: int = _f(5, **_range(1, 100_000))
    seed: int = _f(0, **_range(0, _MAX_SEED))
    precision: Precision = "auto"
    # Spread training over every device found (data parallel); off: the first device only.
    distribute: bool = True
    allow_unhealthy: bool = False
    verbose: int = _f(1, **_range(0, 2))


@dataclass(frozen=True)
class ScoringConfig:
    """How score components are combined and explained."""

    # Latent error first: it is GANomaly's own anomaly score (Akcay et al. 2018); the
    # reconstruction error (f-AnoGAN's main term) second; the discriminator distance as
    # an auxiliary signal; quiet: a feature moving far less than it ever did in training
    # (no model: from the windows). Families without a component ignore its weight; 0
    # leaves a component out.
    weights: dict[str, float] = _f(  # noqa: RUF009 - _f returns a dataclass field
        {"reconstruction": 0.5, "discriminator": 0.25, "latent": 1.0, "knn": 1.0, "quiet": 1.0})
    # The model errors (reconstruction, discriminator, latent) also count when far *below*
    # normal: below the model's own floor on its training windows (a busy signal gone flat,
    # a stuck sensor, a silent service). knn stays one-sided. false: high errors only.
    two_sided: bool = True
    # The reconstruction component: the worst feature's standardised error (one faulty
    # sensor among many is not averaged away; alerts name it) or the mean over features.
    reconstruction: Literal["worst_feature", "mean"] = "worst_feature"
    # Share of the score taken by the largest standardised component instead of the
    # weighted mean: (1 - s) * weighted mean + s * largest. A fault that shows in one
    # component only is not diluted by the others; 0: the weighted mean alone.
    max_share: float = _f(0.5, **_range(0.0, 1.0))
    top_k: int = _f(3, **_range(1, 1000))


@dataclass(frozen=True)
class ThresholdConfig:
    """Offline calibration on held-out normal scores."""

    method: Literal["quantile", "pot"] = "quantile"
    quantile: float = _f(0.995, **_range(0.5, 1.0, hi_open=True))
    pot_initial_quantile: float = _f(0.98, **_range(0.5, 1.0, hi_open=True))
    pot_risk: float = _f(1e-3, **_range(0.0, 0.5, lo_open=True))


# kafka-python's request and delivery timeouts (its defaults; serve sets neither): its
# clients refuse a fetch_max_wait_ms or producer_linger_ms that does not fit them, and did so
# only when serve made them (tests/test_config.py checks the client against these).
_KAFKA_REQUEST_TIMEOUT_MS = 30_000
_KAFKA_DELIVERY_TIMEOUT_MS = 120_000


@dataclass(frozen=True)
class KafkaConfig:
    """Kafka connection, topics and consumer-group timings."""

    bootstrap_servers: str = "127.0.0.1:9092"
    input_topic: str = "anomaly-gan.events"
    alert_topic: str = "anomaly-gan.alerts"
    scores_topic: str | None = None
    # record: one Kafka record per score; batch: one record per entity and model batch, a
    # JSON array of that entity's score objects in window order, split at 512 KiB (a third
    # of the producer CPU per score at full rate).
    scores_format: Literal["record", "batch"] = "record"
    dlq_topic: str = "anomaly-gan.dlq"
    group_id: str = "anomaly-gan"
    client_id: str = "anomaly-gan"
    # Where a group with no committed offset starts; also where a partition goes whose
    # committed offset lies past its end (see input_stall_seconds).
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: str | None = _f(None, secret=True)
    sasl_password_file: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    # The passphrase of an encrypted ssl_keyfile (or of the key inside ssl_certfile).
    ssl_password: str | None = _f(None, secret=True)
    ssl_password_file: str | None = None
    session_timeout_ms: int = _f(10_000, **_range(100))
    heartbeat_interval_ms: int = _f(3_000, **_range(50))
    max_poll_interval_ms: int = _f(300_000, **_range(100))
    max_poll_records: int = _f(2_000, **_range(1))
    poll_timeout_ms: int = _f(100, **_range(1))
    reconnect_backoff_max_ms: int = _f(10_000, **_range(10))
    # Longest a fetch waits at the broker for data (Kafka default 500). Brokers that hold a
    # fetch for the full wait even when data is there (the embedded Tansu) need it small.
    # Below kafka-python's request timeout (30 s), which its consumer refuses it to reach.
    fetch_max_wait_ms: int = _f(500, **_range(0, _KAFKA_REQUEST_TIMEOUT_MS - 1))
    # Producer batching: with one request in flight (alert order), a scores topic needs many
    # records per request; 1 MiB batches halved kafka-python's CPU per record against its
    # 16 KiB default (bench/stream.py). gzip: smaller requests for a remote broker.
    # At most kafka-python's delivery timeout (120 s) less its request timeout (30 s): its
    # producer refuses more.
    producer_linger_ms: int = _f(5, **_range(0, _KAFKA_DELIVERY_TIMEOUT_MS
                                                - _KAFKA_REQUEST_TIMEOUT_MS))
    producer_batch_bytes: int = _f(1_048_576, **_range(1024))
    compression_type: Literal["gzip"] | None = None
    # Output pending and none of it acknowledged for this long: not ready, broker_up 0, and
    # once a broker answers again the producer is recreated and the input replayed.
    delivery_stall_seconds: float = _f(15.0, **_range(0.1, 3600.0))
    # Input waiting on an assigned partition (its end offset differs from the consumer's
    # position, or the offsets cannot be read while a broker answers) and nothing read for
    # this long: not ready, and the consumer is recreated and the input replayed from the
    # last commit (a consumer that stays stuck after a broker restart). A position past the
    # partition's end is moved by auto_offset_reset instead (no new consumer).
    input_stall_seconds: float = _f(60.0, **_range(0.1, 3600.0))


@dataclass(frozen=True)
class StreamWindowConfig:
    """Per-entity window state."""

    max_entities: int = _f(100_000, **_range(1))
    gap_seconds: float = _f(300.0, **_range(0.0, lo_open=True))
    reorder_tolerance_seconds: float = _f(0.0, **_range(0.0))
    max_event_bytes: int = _f(65_536, **_range(16))
    # Longest entity id (UTF-8 bytes) accepted; a longer one is "oversized". Every held
    # entity keeps its id in memory, so this bounds the entity table with max_entities.
    max_entity_bytes: int = _f(512, **_range(1, 65_536))
    # Score every hop-th window of an entity (1: every window). Cost and latency trade-off.
    # At most 1,000: an entity holds the offsets of hop events per window a replay rebuilds
    # (serve.alerts: 2 x (consecutive + resolve_windows) windows), 8 bytes each.
    hop: int = _f(1, **_range(1, 1_000))
    # Event time may run ahead of this host's clock by at most this much (DLQ beyond).
    max_future_skew_seconds: float = _f(300.0, **_range(0.0, 1e9))
    # Logs models: an input partition read to its end that gets no line for longer than
    # this (wall clock) closes its buckets as if its newest line's time ran on with the
    # clock, this far behind, so a service alone on its partition that stops logging shows
    # as silent (a line that reaches the topic later than this after its own time may then
    # be late). null: only lines close buckets.
    idle_close_seconds: float | None = _f(300.0, **_range(0.0, 1e9, lo_open=True))


@dataclass(frozen=True)
class BatchingConfig:
    """Micro-batching of ready windows into one model call."""

    max_batch: int = _f(512, **_range(1))
    # Ready windows are scored as soon as the model is idle; while it scores a batch the next
    # one gathers. This adds a wait for more windows even when it is idle (larger batches
    # cost less per window, each window waits longer).
    max_latency_ms: int = _f(0, **_range(0))


@dataclass(frozen=True)
class AlertConfig:
    """Debounce: alert after k consecutive anomalous windows, then cool down; with
    ``resolve_windows`` > 0, resolve the incident after that many normal windows in a row."""

    # At most 1,000, as resolve_windows: the offsets of 2 x consecutive windows are kept per
    # entity (x serve.windows.hop events) so that a replay rebuilds a run's debounce state
    consecutive: int = _f(3, **_range(1, 1_000))
    cooldown_seconds: float = _f(300.0, **_range(0.0))
    # 0: no resolution records (the alert topic as before 2026-12); N: the N-th normal window
    # in a row after an alert sends one. At most 1,000: every entity keeps the offsets of
    # 2 x (consecutive + N) windows so that a replay rebuilds an open incident (8 bytes each:
    # 10,000 cost 160 KiB per entity, 16 GiB at 100,000 entities)
    resolve_windows: int = _f(0, **_range(0, 1_000))
    scores_sample_rate: float = _f(1.0, **_range(0.0, 1.0))
    # A YAML file of silences (maintenance windows: entity or pattern, start, end); an
    # alert of a window whose end lies in one is not sent (docs/streaming.md, Silences).
    # Re-read while serve runs; null: none.
    silences_path: str | None = None


@dataclass(frozen=True)
class HttpConfig:
    """The /metrics, /healthz and /readyz endpoint."""

    host: str = "127.0.0.1"
    port: int = _f(9108, **_range(0, 65535))
    entity_labels_top_n: int = _f(0, **_range(0, 1000))


@dataclass(frozen=True)
class DriftConfig:
    """Population stability index of live features and scores against the bundle's
    reference histograms, over a sliding period."""

    period_seconds: float = _f(3600.0, **_range(1.0))
    # At most this many `feature` label values on anomaly_gan_feature_drift_psi: a model with
    # more features exports the ones drifting most (bounded cardinality).
    max_feature_labels: int = _f(50, **_range(0, 10_000))


ENTITY_PARTS = 8  # most fields serve.event_fields.entity or logs.json_fields.entity may join
# Why serve.assemble_seconds is refused with a logs model (config and intake say the same).
LOGS_ASSEMBLE = ("expected 0 with a logs model: it reads log lines, counted into "
                 "logs.bucket_seconds buckets, not records of numeric features")
#: The OpenTelemetry encodings of ``serve.event_format`` and ``logs.format``, as the
#: Collector's kafka exporter names them: ``otlp_proto`` (its default, binary protobuf) and
#: ``otlp_json``. A record of either is a batch: many data points or log records.
OTLP_FORMATS = ("otlp_json", "otlp_proto")


def is_otlp(format: str) -> bool:
    """Whether a ``serve.event_format`` or ``logs.format`` reads OpenTelemetry batches, in
    either encoding: every rule of one holds for the other.

    >>> is_otlp("otlp_proto"), is_otlp("otlp_json"), is_otlp("json")
    (True, True, False)
    """
    return format in OTLP_FORMATS


# Why an OpenTelemetry serve.event_format is refused with a logs model, and without
# assembling.
LOGS_EVENT_FORMAT = ("expected 'json' with a logs model: it reads log lines in "
                     "logs.format (OpenTelemetry log batches: logs.format: otlp_proto or "
                     "otlp_json)")
OTLP_ASSEMBLE = ("expected > 0 with serve.event_format: {format} (each data point is one "
                 "feature's value: the scrape interval, e.g. 10)")


@dataclass(frozen=True)
class EventFieldsConfig:
    """A numeric event's field of each part (docs/streaming.md, events in): the names a
    producer already writes (Telegraf: ``tags.host``, ``timestamp``, ``fields``). A name is a
    key of the record's object or, where the object has no such key, a dotted path into
    nested objects, read as ``logs.json_fields`` reads log records. ``entity`` may name
    several fields, whose values are joined with ``/`` (Telegraf's ``[tags.host, tags.cpu]``:
    ``web-1/cpu0``; a ``/`` or ``%`` inside a value written ``%2F`` or ``%25``), for a source
    that writes one record per host and device."""

    entity: str | tuple[str, ...] = _f("entity", max_items=ENTITY_PARTS)
    ts: str = "ts"
    values: str = "values"


@dataclass(frozen=True)
class ServeConfig:
    """The streaming scorer."""

    model_path: str = "models"
    # A second bundle (or store) scored on every window for comparison; never alerts.
    shadow_model_path: str | None = None
    # Serve a model whose training health is unhealthy (kept with train --allow-unhealthy):
    # false refuses it at start (exit 2) and at a hot reload (the running model stays).
    allow_unhealthy: bool = False
    reload_interval_seconds: float = _f(10.0, **_range(0.1, 86_400))
    grace_seconds: float = _f(20.0, **_range(0.1, 3_600))
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    windows: StreamWindowConfig = field(default_factory=StreamWindowConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    alerts: AlertConfig = field(default_factory=AlertConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    # Numeric events (a logs model reads log lines with the logs section instead): the
    # record's fields, and what a values object's name the model does not know is:
    # reject (unknown_feature, to the DLQ) or ignore (left out: a Telegraf record that carries
    # more fields than the model was trained on). A missing feature is refused either way.
    event_fields: EventFieldsConfig = field(default_factory=EventFieldsConfig)
    unknown_features: Literal["reject", "ignore"] = "reject"
    # > 0: a record may carry some of the features; an entity's records whose times fall in
    # one slot of this many seconds make one event once every feature has come (docs/
    # streaming.md, records with some of the features). 0: every record carries all of them.
    assemble_seconds: float = _f(0.0, **_range(0.0, 86_400.0))
    # json: one {entity, ts, values} object per record (event_fields). otlp_proto,
    # otlp_json: an OpenTelemetry ExportMetricsServiceRequest per record (the Collector's
    # kafka exporter, its default encoding otlp_proto or encoding: otlp_json), each gauge or
    # sum data point one feature's value, named metric{attribute=value,...}
    # (docs/streaming.md, OpenTelemetry metrics); needs assemble_seconds > 0, as one time's
    # values come as separate data points.
    event_format: Literal["json", "otlp_json", "otlp_proto"] = "json"
    # otlp_proto, otlp_json: the attribute that names a data point's entity, looked up in
    # the data point's attributes, then its resource's
    otlp_entity: str = "host.name"


@dataclass(frozen=True)
class GateConfig:
    """What a retrained candidate must show before it may become current."""

    # Most recent share of the retrain range (by event time) held out: never trained on,
    # scored by the candidate to measure its false-alarm rate on the new normal.
    holdout_fraction: float = _f(0.2, **_range(0.05, 0.5))
    # Largest share of held-out normal windows the candidate may score over its threshold.
    max_false_alarm_rate: float = _f(0.02, **_range(0.0, 1.0))
    # A labelled incident counts as still flagged when at least this share of its windows
    # is over the candidate's threshold; every labelled incident must be.
    min_incident_flagged: float = _f(0.5, **_range(0.0, 1.0))
    # Sensitivity without labels, against the current version: held-out windows the
    # current version finds normal, with one feature moved by injected_offset standard
    # deviations (of the held-out rows) over the whole window; the candidate must flag at
    # least min_injected_share_of_current times as many of them as the current version.
    # A candidate calibrated on an unlabelled incident (its threshold far above what a
    # plain fault scores) fails it. 0 turns the check off.
    injected_offset: float = _f(4.0, **_range(1.0, 100.0))
    min_injected_share_of_current: float = _f(0.5, **_range(0.0, 1.0))


@dataclass(frozen=True)
class RetrainConfig:
    """`anomaly-gan retrain`: data selection, training mode and the validation gate."""

    # scratch: new weights; warm_start: start from the current version's networks.
    mode: Literal["scratch", "warm_start"] = "scratch"
    # Rows this close (seconds of event time) to a window the current model alerted on are
    # left out of the new baseline, as are the alerted windows themselves; so are the rows
    # of a silence (serve.alerts.silences_path) and this close to one.
    alert_margin_seconds: float = _f(600.0, **_range(0.0))
    # Leave out windows the current model scores over its threshold.
    exclude_over_threshold: bool = True
    # Stop reading (bad input) beyond this many events: bounds the memory of one retrain.
    max_events: int = _f(20_000_000, **_range(1))
    # After each retrain (promoted, rejected or --no-promote), delete all but this many
    # newest versions, as `models prune --keep` does (current, its predecessor, the
    # candidate just kept and the store's versions that serve.shadow_model_path and
    # serve.model_path name are kept); 0 keeps every version. Off by default: it
    # deletes what may be in use where the store cannot see it (a version another config
    # serves or shadows, one kept by hand).
    keep_versions: int = _f(0, **_range(0))
    gate: GateConfig = field(default_factory=GateConfig)


MaskName = Literal["uuid", "ip", "hex", "path", "path_ids", "number"]
# path_ids (a path's words kept, its ids masked) is opt-in: a word that differs per pod or
# user inside a path (/var/log/pods/shop_web-0-x2x9z_...) made every restart's lines unseen
# templates, where path masks all of it (docs/logs.md, Templates).
MASK_NAMES: tuple[MaskName, ...] = ("uuid", "ip", "hex", "path", "number")


@dataclass(frozen=True)
class JsonFieldsConfig:
    """``logs.format: json``: the record's field of each part of an event. A name is a key
    of the record's object (ECS's flat ``log.level`` too) or, where the object has no such
    key, a dotted path into nested objects (``kubernetes.pod_name``). ``entity`` may name
    several fields, whose values are joined with ``/`` (``[kubernetes.namespace_name,
    kubernetes.pod_name]``: ``shop/web-0``; a ``/`` or ``%`` inside a value written ``%2F``
    or ``%25``)."""

    message: str = "message"
    # '': the records carry no time (logs.format: auto writes it for such lines), counted
    # per N lines (logs.bucket_lines)
    ts: str = _f("ts", may_be_empty=True)
    level: str = "level"
    entity: str | tuple[str, ...] = _f("entity", max_items=ENTITY_PARTS)


@dataclass(frozen=True)
class LogsConfig:
    """Log input (docs/logs.md): how lines are parsed, mined into drain3 templates and
    counted into per-entity buckets. A config with a ``logs:`` section trains on log files."""

    # otlp_proto, otlp_json: OpenTelemetry's ExportLogsServiceRequest per record, many log
    # records each (the Collector's kafka exporter, its default encoding otlp_proto or
    # encoding: otlp_json); a log file's line is one in OTLP/JSON with either (the
    # Collector's file exporter)
    # auto: train (and a retrain from files) recognises the layout from the file's first
    # lines (logs/layout.py) and writes the json or regex keys it chose into the bundle
    format: Literal["json", "regex", "otlp_json", "otlp_proto", "auto"] = "json"
    # regex: named groups 'message' (required), 'ts', 'entity', 'level', 'pri' (syslog's
    # <PRI>: its severity is the level where there is no 'level'); any other is not read.
    regex: str | None = None
    timestamp_format: str | None = None  # strptime format of 'ts'; null: RFC 3339 or epoch
    # The zone of timestamp_format stamps without an offset: "UTC", "+08:00" (quoted in
    # YAML), "Europe/Berlin"
    timezone: str = "UTC"
    # Offline files: a line that does not parse stops the command (error) or is counted and
    # left out (skip: banners, lines cut short), as serve sends it to the dead-letter topic;
    # a stack trace's lines join the event before them (docs/logs.md, multi-line events).
    bad_lines: Literal["error", "skip"] = "error"
    entity: str | None = None  # the entity of lines that carry none
    # format json: which field holds the message, time, level and entity (pino: msg, time)
    json_fields: JsonFieldsConfig = field(default_factory=JsonFieldsConfig)
    # format otlp_proto, otlp_json: the attribute that names a log record's entity, looked up in the log
    # record's attributes, then its resource's (absent: logs.entity)
    otlp_entity: str = "service.name"
    masking: tuple[MaskName, ...] = MASK_NAMES
    similarity_threshold: float = _f(0.4, **_range(0.0, 1.0))
    tree_depth: int = _f(4, **_range(3, 100))
    max_children: int = _f(100, **_range(2))
    max_clusters: int = _f(1000, **_range(1))  # cap on templates the service learns live
    top_k: int = _f(20, **_range(1, 10_000))
    bucket_seconds: float | None = _f(60.0, **_range(0.0, lo_open=True))
    bucket_lines: int | None = _f(None, **_range(1))
    lines_per_second: bool = True
    error_share: bool = True
    # Compared with a line's level case-insensitively, whole (docs/logs.md). Syslog's names
    # (rsyslog, journald: err, crit, alert, emerg; panic, an old emerg), logrus' 4-letter
    # ones (ERRO, FATA, PANI: Docker's daemon log), Serilog's FTL, zap's DPANIC, .NET's
    # console fail/crit, EMERGENCY (PSR-3, Cloud Logging) and java.util.logging's SEVERE. A
    # bundle keeps the list it was trained with (its config.yaml).
    error_levels: tuple[str, ...] = ("ERROR", "ERR", "ERRO", "FAIL", "CRITICAL", "CRIT",
                                     "SEVERE", "FATAL", "FATA", "FTL", "PANIC", "PANI", "DPANIC",
                                     "ALERT", "EMERG", "EMERGENCY")
    volume_drop: bool = True  # time buckets only: how unlikely a low line count is
    # silence that forgets an entity: time buckets, and per N lines by line times (docs/logs.md)
    gap_seconds: float = _f(1800.0, **_range(0.0, lo_open=True))
    example_lines: int = _f(3, **_range(0, 100))


@dataclass(frozen=True)
class Config:
    """The whole configuration: offline training and the streaming service."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    threshold: ThresholdConfig = field(default_factory=ThresholdConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    retrain: RetrainConfig = field(default_factory=RetrainConfig)
    logs: LogsConfig | None = None
    # Not a key: the dotted paths the file or the environment set ("logs",
    # "logs.bucket_seconds"; config_from_dict), so a default can be told from the same value
    # given. A bundle's config.yaml writes every key: all of its keys are given.
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False,
                                  metadata={"internal": True})

    def replace(self, **sections: Any) -> Config:
        """A copy with whole sections swapped, e.g. ``cfg.replace(training=...)``."""
        return dataclasses.replace(self, **sections)


def config_keys(cls: Any) -> tuple[dataclasses.Field, ...]:
    """The fields of a config section that are YAML keys (all but :attr:`Config.given`).

    >>> [f.name for f in config_keys(Config)][-2:]
    ['retrain', 'logs']
    """
    return tuple(f for f in dataclasses.fields(cls) if not f.metadata.get("internal"))


# --------------------------------------------------------------------------- validation


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        parts = [a for a in typing.get_args(tp) if a is not type(None)]
        optional = len(parts) < len(typing.get_args(tp))
        return " or ".join(_describe(a) for a in parts) + (" or null" if optional else "")
    if origin is tuple:
        elem = typing.get_args(tp)[0]
        if typing.get_origin(elem) is Literal:
            return f"a list of names, each {_describe(elem)}"
        plural = {int: "integers", float: "numbers", str: "strings", bool: "true/false values"}
        return f"a list of {plural.get(elem, _describe(elem))}"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _bounds_text(meta: Mapping[str, Any]) -> str:
    lo, hi = meta.get("lo"), meta.get("hi")
    parts = []
    if lo is not None:
        parts.append(f"{'>' if meta.get('lo_open') else '>='} {_bound(lo)}")
    if hi is not None:
        parts.append(f"{'<' if meta.get('hi_open') else '<='} {_bound(hi)}")
    return " and ".join(parts)


def _bound(x: float) -> str:
    """An integer bound in full (``:g`` would show the largest seed as 4.29497e+09)."""
    return str(x) if isinstance(x, int) else f"{x:g}"


def _check_bounds(value: float, meta: Mapping[str, Any]) -> bool:
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is not None and (value <= lo if meta.get("lo_open") else value < lo):
        return False
    return not (hi is not None and (value >= hi if meta.get("hi_open") else value > hi))


def _key_text(key: Any) -> str:
    """A mapping key as an error names it (YAML keys need not be short strings): bare where
    it reads as itself, else quoted (an empty or blank key, a tab or line break in one).

    >>> _key_text("epochs"), _key_text(""), _key_text(" "), _key_text(1)
    ('epochs', "''", "' '", '1')
    """
    plain = isinstance(key, str) and key.strip() == key and key.isprintable()
    return key if plain and 0 < len(key) <= 60 else brief(key, 60)


class _Validator:
    def __init__(self, source: str) -> None:
        self.source = source
        self.given: set[str] = set()  # the key paths seen (Config.given)

    def fail(self, path: str, expected: str, got: Any, secret: bool = False) -> typing.NoReturn:
        shown = f"a {type(got).__name__} (value not shown: secret)" if secret else brief(got)
        raise ConfigError(f"{self.source}: {path}: expected {expected}, got {shown}")

    def value(self, tp: Any, raw: Any, path: str, meta: Mapping[str, Any]) -> Any:
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and dataclasses.is_dataclass(tp):
            return self.section(tp, raw, path)
        if origin is Literal:
            if raw not in typing.get_args(tp):
                self.fail(path, _describe(tp), raw)
            return raw
        if origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if raw is None:
                if len(args) == len(typing.get_args(tp)):  # not optional
                    self.fail(path, _describe(tp), raw)
                return None
            if len(args) > 1:  # a name or a list of names: the list form where raw is one
                listed = isinstance(raw, (list, tuple))
                args = [a for a in args if (typing.get_origin(a) is tuple) == listed] or args
                if not listed and not isinstance(raw, str):
                    self.fail(path, _describe(tp), raw)
            return self.value(args[0], raw, path, meta)
        if origin is tuple:
            elem = typing.get_args(tp)[0]
            if not isinstance(raw, (list, tuple)) or not (raw or meta.get("may_be_empty")):
                kind = _describe(tp).removeprefix("a ")
                self.fail(path, f"a {kind}" if meta.get("may_be_empty")
                          else f"a non-empty {kind}", raw)
            most = meta.get("max_items")
            if most is not None and len(raw) > most:
                self.fail(path, f"at most {most} items", f"{len(raw)} items")
            item = meta.get("item", {"lo": 1})
            return tuple(self.value(elem, r, f"{path}[{i}]", item) for i, r in enumerate(raw))
        if origin is dict:
            if not isinstance(raw, Mapping):
                self.fail(path, "a mapping", raw)
            return self.weights(raw, path)
        if tp is bool:
            if not isinstance(raw, bool):
                self.fail(path, "true or false", raw)
            return raw
        if tp is int:
            if isinstance(raw, bool) or not isinstance(raw, int):
                self.fail(path, "an integer" + (f" {_bounds_text(meta)}" if meta else ""), raw)
            if meta and not _check_bounds(raw, meta):
                self.fail(path, f"an integer {_bounds_text(meta)}", raw)
            return raw
        if tp is float:
            if isinstance(raw, str):
                # YAML 1.1 reads "1e-05" (no dot) as a string; accept any float literal.
                try:
                    raw = float(raw)
                except ValueError:
                    pass
            if isinstance(raw, bool) or not isinstance(raw, (int, float)):
                self.fail(path, "a number" + (f" {_bounds_text(meta)}" if meta else ""), raw)
            try:
                number = float(raw)
            except OverflowError:  # an integer beyond float's range
                number = math.inf
            if not math.isfinite(number):
                self.fail(path, f"a finite number {_bounds_text(meta)}".rstrip(), raw)
            if meta and not _check_bounds(number, meta):
                self.fail(path, f"a number {_bounds_text(meta)}", raw)
            return number
        if tp is str:
            if not isinstance(raw, str) or not (raw or meta.get("may_be_empty")):
                if meta.get("secret"):
                    self.fail(path, "a non-empty string (quote it in YAML)", raw, secret=True)
                if isinstance(raw, (int, float)) and not isinstance(raw, bool):
                    # YAML 1.1 reads an unquoted +10:00 as the number 600: show the example
                    # where it is the likely cause, a quoted copy of the value elsewhere
                    example = "'+10:00'" if path.endswith("timezone") else f"'{raw}'"
                    self.fail(path, f"a non-empty string (quote it in YAML: {example})", raw)
                self.fail(path, "a non-empty string", raw)
            return raw
        raise TypeError(f"unsupported config type {tp!r} at {path}")  # pragma: no cover

    def weights(self, raw: Mapping[str, Any], path: str) -> dict[str, float]:
        out: dict[str, float] = {}
        for key, val in raw.items():
            if key not in SCORE_COMPONENTS:
                self.fail(f"{path}.{_key_text(key)}",
                          "a component among " + ", ".join(SCORE_COMPONENTS), key)
            out[key] = self.value(float, val, f"{path}.{key}", {"lo": 0.0})
        if not any(v > 0 for v in out.values()):
            self.fail(path, "at least one weight > 0", dict(raw))
        return out

    def section(self, cls: type, raw: Any, path: str) -> Any:
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.fail(path or "<top level>", "a mapping", raw)
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in config_keys(cls)}
        for key in raw:
            if key not in fields:
                where = f"{path}.{_key_text(key)}" if path else _key_text(key)
                # A typo is named first: serve.kafka alone allows 29 keys.
                close = difflib.get_close_matches(str(key), fields, n=1, cutoff=0.8)
                guess = f" (did you mean '{close[0]}'?)" if close else ""
                raise ConfigError(
                    f"{self.source}: {where}: unknown key{guess}; allowed: {', '.join(fields)}"
                )
        kwargs = {}
        for name, f in fields.items():
            if name in raw:
                sub = f"{path}.{name}" if path else name
                self.given.add(sub)
                kwargs[name] = self.value(hints[name], raw[name], sub, f.metadata)
        return cls(**kwargs)


# Kafka's own rule for a topic name (kafka-python checks it on subscribe).
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def bootstrap_problem(servers: str) -> str | None:
    """What kafka-python cannot parse in ``serve.kafka.bootstrap_servers``, or None. Its
    rules: comma-separated ``host``, ``host:port``, ``[ipv6]:port`` or a bare IPv6 literal,
    each after an optional ``PROTOCOL://`` (the port defaults to 9092). A port that is no
    number raised a ValueError traceback from inside the client at ``serve``'s start.

    >>> bootstrap_problem("kafka-0:9093, SSL://kafka-1:9093,[::1]:9092,::1,kafka")
    >>> bootstrap_problem("kafka:notaport")
    "'kafka:notaport': the port is no number"

    An empty entry (``kafka:9092,``, as a template loop writes it) is left out, as the
    scorer's clients leave it out (``stream/kafka_io.py``); none at all is a problem.

    >>> bootstrap_problem("kafka:9092,"), bootstrap_problem(" , ")
    (None, 'no address')
    """
    import ipaddress

    entries = [e for e in servers.split(",") if e.strip()]
    if not entries:
        return "no address"
    for entry in entries:
        address = re.sub(r"^.*://", "", entry.strip()).strip()
        if not address:
            return f"{brief(entry.strip())}: expected host:port after the protocol"
        if address.startswith("["):
            m = re.fullmatch(r"\[([^\]]+)\](?::(.*))?", address)
            host, port = (m.group(1), m.group(2)) if m else ("", None)
        elif ":" in address:
            try:
                ipaddress.IPv6Address(address)
                continue  # a bare IPv6 literal: the default port
            except ValueError:
                host, port = address.rsplit(":", 1)
        else:
            host, port = address, None
        if not host or any(c.isspace() or c in "/[]" for c in host):
            return f"{brief(entry.strip())}: expected host:port"
        if port is not None and not (port.isascii() and port.isdigit()):
            return f"{brief(entry.strip())}: the port is no number"
        # int() refuses more than 4,300 digits (ValueError, here and in the client): a port
        # of more than 5 digits past its leading zeros is out of range, and 100 is plenty
        if port is not None and len(port) > 100:
            return f"{brief(entry.strip())}: the port has {len(port)} digits"
        if port is not None and not 1 <= int(port) <= 65535:
            return f"{brief(entry.strip())}: the port is not in 1-65535"
    return None


def _cross_checks(cfg: Config, source: str) -> None:
    if cfg.data.stride > cfg.data.window:
        raise ConfigError(
            f"{source}: data.stride: expected <= data.window ({cfg.data.window}), "
            f"got {cfg.data.stride}"
        )
    if cfg.model.backbone == "conv1d" and cfg.data.window < 2 ** len(cfg.model.hidden):
        raise ConfigError(
            f"{source}: data.window: the conv1d backbone halves the window once per hidden "
            f"layer ({len(cfg.model.hidden)}), so it needs >= {2 ** len(cfg.model.hidden)}, "
            f"got {cfg.data.window}"
        )
    seen_counters: set[str] = set()
    for i, name in enumerate(cfg.data.counters):
        if name in seen_counters:
            raise ConfigError(f"{source}: data.counters[{i}]: {brief(name)} is listed twice")
        seen_counters.add(name)
    if cfg.logs is not None:
        _check_logs(cfg.logs, source)
        if cfg.data.counters:
            raise ConfigError(f"{source}: data.counters: expected none with a logs model "
                              f"(its rows already count lines per bucket), got "
                              f"{brief(list(cfg.data.counters))}")
        if cfg.logs.entity is not None:
            from anomaly_gan.stream.events import check_entity

            bad = check_entity(cfg.logs.entity, cfg.serve.windows.max_entity_bytes)
            if bad is not None:  # every line would be refused for it, at the first line
                raise ConfigError(f"{source}: logs.entity: {bad.detail}")
        if cfg.serve.event_format != "json":
            raise ConfigError(f"{source}: serve.event_format: {LOGS_EVENT_FORMAT}, got "
                              f"{cfg.serve.event_format!r}")
        if cfg.serve.assemble_seconds:
            raise ConfigError(f"{source}: serve.assemble_seconds: {LOGS_ASSEMBLE}, got "
                              f"{cfg.serve.assemble_seconds}")
    if is_otlp(cfg.serve.event_format) and not cfg.serve.assemble_seconds:
        raise ConfigError(f"{source}: serve.assemble_seconds: "
                          f"{OTLP_ASSEMBLE.format(format=cfg.serve.event_format)}, got 0")
    _check_event_fields(cfg.serve.event_fields, source)
    k = cfg.serve.kafka
    # kafka-python refuses both when serve creates its clients; checked here they are one
    # line from validate-config, not "broker unreachable; retrying" forever (heartbeat) or a
    # traceback (topic name), as serve gave until 2026-12-05.
    if k.heartbeat_interval_ms >= k.session_timeout_ms:
        raise ConfigError(
            f"{source}: serve.kafka.heartbeat_interval_ms: expected < "
            f"serve.kafka.session_timeout_ms ({k.session_timeout_ms}), "
            f"got {k.heartbeat_interval_ms}"
        )
    bad_address = bootstrap_problem(k.bootstrap_servers)
    if bad_address is not None:
        raise ConfigError(
            f"{source}: serve.kafka.bootstrap_servers: expected host:port addresses separated "
            f"by commas (port 1-65535); {bad_address}"
        )
    for name in ("input_topic", "alert_topic", "scores_topic", "dlq_topic"):
        topic = getattr(k, name)
        if topic is not None and (not _TOPIC_NAME.fullmatch(topic) or topic in (".", "..")):
            raise ConfigError(
                f"{source}: serve.kafka.{name}: expected a Kafka topic name (1-249 of ASCII "
                f"letters, digits, '.', '_', '-'; not '.' or '..'), got {brief(topic)}"
            )
    for name in ("alert_topic", "scores_topic", "dlq_topic"):
        # The scorer reads back what it writes there: a dead letter is refused again and
        # dead-lettered again, for ever; an alert or score record is refused as an event.
        if getattr(k, name) == k.input_topic:
            raise ConfigError(
                f"{source}: serve.kafka.{name}: expected a topic other than "
                f"serve.kafka.input_topic, got {brief(k.input_topic)} (the scorer would read back "
                f"what it writes)"
            )
    if k.security_protocol.startswith("SASL") and k.sasl_mechanism is None:
        raise ConfigError(
            f"{source}: serve.kafka.sasl_mechanism: expected one of 'PLAIN', 'SCRAM-SHA-256', "
            f"'SCRAM-SHA-512' when security_protocol is {k.security_protocol}, got None"
        )


def _asked_checks(cfg: Config, source: str, kept: Config | None = None) -> None:
    """Cross-field checks of what a config file or the environment asks for, which a model
    bundle's ``config.yaml`` is not held to: a bundle trained before a check came loads and
    scores as it was calibrated (``config_from_dict(..., trained=True)``). ``kept``: the
    bundle's config that the environment overrode (:func:`override_config`); a section the
    environment left as it was is the bundle's, and not checked."""
    logs = cfg.logs
    if logs is not None and logs.format == "json" and (
            kept is None or kept.logs is None or logs.json_fields != kept.logs.json_fields):
        _check_event_fields(logs.json_fields, source, "logs.json_fields")
    t = cfg.threshold
    # the fit sets no threshold below the initial quantile: a risk not below the share of
    # scores over it (pot_risk 0.05 over 0.98) gave that quantile's, without a word
    if t.method == "pot" and t.pot_initial_quantile + t.pot_risk >= 1.0 \
            and (kept is None or t != kept.threshold):
        raise ConfigError(
            f"{source}: threshold.pot_risk: expected < 1 - threshold.pot_initial_quantile "
            f"({1.0 - t.pot_initial_quantile:g}) with threshold.method pot, got {t.pot_risk:g} "
            f"(the tail is fitted over the scores above the initial quantile, and a risk not "
            f"below their share gives that quantile's threshold)"
        )


def _check_event_fields(names: EventFieldsConfig | JsonFieldsConfig, source: str,
                        section: str = "serve.event_fields") -> None:
    """Each part of an event from its own field, each name a key or a dotted path: a numeric
    event's (``serve.event_fields``) or a JSON log record's (``logs.json_fields``, whose
    ``ts`` may be '', no field)."""
    seen: dict[str, str] = {}
    named: list[tuple[str, str]] = []
    for f in config_keys(names):
        value = getattr(names, f.name)
        named += ([(f.name, value)] if isinstance(value, str)
                  else [(f"{f.name}[{i}]", name) for i, name in enumerate(value)])
    for part, name in named:
        if name == "" and part == "ts" and isinstance(names, JsonFieldsConfig):
            continue  # the records carry no time
        where = f"{source}: {section}.{part}"
        if "" in name.split("."):
            raise ConfigError(f"{where}: expected a key or a dotted path such as tags.host "
                              f"(no empty part between dots), got {brief(name)}")
        if name in seen:
            raise ConfigError(f"{where}: expected a field other than "
                              f"{section}.{seen[name]}'s, got {brief(name)}")
        seen[name] = part


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """Safe YAML that refuses duplicate keys (the last one would silently win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=False)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:  # unhashable: the base constructor reports it
                continue
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {brief(key)} (first on line {first.line + 1})",
                    key_node.start_mark)
        return super().construct_mapping(node, deep=deep)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # PyYAML's constructors for an explicit tag (!!float, !!bool, !!timestamp) raise
        # ValueError or KeyError holding the value: `sasl_password: !!float hunter2` ended
        # in a traceback that showed the password. One line naming the tag instead.
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError):
            raise _untagged(node) from None


def _untagged(node: yaml.Node) -> yaml.constructor.ConstructorError:
    tag = node.tag.removeprefix("tag:yaml.org,2002:")
    return yaml.constructor.ConstructorError(
        None, None, f"the value is not a valid !!{tag} (value not shown)", node.start_mark)


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    try:
        return int(yaml.SafeLoader.construct_yaml_int(loader, node))
    except ValueError:  # past Python's 4,300-digit limit for int(str), or not a number
        if len(node.value) < 4300:
            raise _untagged(node) from None
        raise yaml.constructor.ConstructorError(
            None, None, f"integer of {len(node.value)} characters is too long",
            node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
#: the loader of :func:`parse_yaml`, for a file with a loader of its own (the silences)
YamlLoader = _Loader


def parse_yaml(text: str, loader: type[Any] | None = None) -> Any:
    """The YAML document in ``text``, safely: no Python objects, no duplicate keys, and a
    value that does not fit its explicit tag is a :class:`yaml.YAMLError` that does not
    show the value (it may be a secret). Config files, environment values and a bundle's
    ``config.yaml`` are all read with it. ``loader``: a subclass of this module's loader
    that builds some values its own way (the silences file's times).

    >>> parse_yaml("a: !!float x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    yaml.constructor.ConstructorError: the value is not a valid !!float (value not shown)...
    """
    try:
        # _Loader is a SafeLoader: no arbitrary objects
        return yaml.load(text, Loader=loader or _Loader)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        # a tagged collection (!!set on a scalar) fails inside PyYAML's generators, past
        # construct_object: no line to name
        raise yaml.constructor.ConstructorError(
            None, None, "a value does not fit its explicit !!tag (value not shown)") from None


def yaml_problem(exc: yaml.YAMLError, text: str = "") -> tuple[int | None, str]:
    """The line (from 1; None where PyYAML gives none) and the problem, in one line, of a
    YAML error in ``text``: a config file's, an environment value's, a silences file's.

    >>> text = "training:\\n  epochs: 3\\x07\\n"
    >>> try:
    ...     parse_yaml(text)
    ... except yaml.YAMLError as exc:
    ...     yaml_problem(exc, text)
    (2, 'unacceptable character #x0007: control characters are not allowed')
    """
    if isinstance(exc, yaml.reader.ReaderError):
        # A control character: no mark, and str() adds a line 'in "<unicode string>",
        # position N', a position that is not always an offset into text (CSafeLoader's,
        # past its first buffer): the first character that PyYAML refuses is the one.
        problem = (f"unacceptable character #x{exc.character:04x}: {exc.reason}"
                   if isinstance(exc.character, int) else str(exc.reason))
        bad = yaml.reader.Reader.NON_PRINTABLE.search(text)
        return (None if bad is None else text.count("\n", 0, bad.start()) + 1), clip(problem)
    mark = getattr(exc, "problem_mark", None)
    problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
    context = " ".join(str(getattr(exc, "context", None) or "").split())
    context_mark = getattr(exc, "context_mark", None)
    if context and problem.startswith("but "):
        # the problem completes its context: 'expected a single document in the stream, but
        # found another document' (a second '---'), not 'but found another document' alone
        problem = f"{context}, {problem}"
    elif context.startswith("found ") and context_mark is not None:
        # 'found duplicate anchor; first occurrence' is the problem, 'second occurrence' its
        # place
        problem = f"{context} on line {context_mark.line + 1}, {problem} here"
    return (None if mark is None else mark.line + 1), problem


def _yaml_problem(exc: yaml.YAMLError, text: str = "") -> str:
    line, problem = yaml_problem(exc, text)
    where = "" if line is None else f" line {line}"
    # A regex written as YAML's double-quoted string: "\d" is no YAML escape
    hint = ("; a backslash starts an escape in a double-quoted YAML string: put a regex in "
            "single quotes ('^(?P<ts>\\d+) ...'), as configs/logs.yaml does"
            if problem.startswith("found unknown escape character") else "")
    problem = problem if len(problem) <= 200 else problem[:197] + "..."
    return f"{where} not valid YAML: {problem}{hint}"


def _section_class(tp: Any) -> Any:
    """The class of a config section, also of an optional one (``logs``); else ``tp``."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1 and dataclasses.is_dataclass(args[0]):
            return args[0]
    return tp


def _field_at(parts: list[str]) -> tuple[dataclasses.Field, Any] | None:
    """The dataclass field of a key path such as ``scoring.weights`` and its declared type
    (None if the path names no field).

    >>> _field_at(["logs", "regex"])[1]
    str | None
    """
    cls: Any = Config
    found = None
    for part in parts:
        cls = _section_class(cls)
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            return None
        f = {f.name: f for f in config_keys(cls)}.get(part)
        tp = typing.get_type_hints(cls).get(part)
        if f is None or tp is None:
            return None
        found, cls = (f, tp), tp
    return found


def _field_type(parts: list[str]) -> Any:
    """The declared type of a key path such as ``serve.kafka.sasl_password`` (None if unknown)."""
    found = _field_at(parts)
    return None if found is None else found[1]


def _is_mapping(tp: Any) -> bool:
    """Whether a key of type ``tp`` holds a mapping: a section (``logs`` too) or a map.

    >>> _is_mapping(_field_type(["scoring", "weights"])), _is_mapping(_field_type(["logs"]))
    (True, True)
    >>> _is_mapping(_field_type(["model", "hidden"])), _is_mapping(None)
    (False, False)
    """
    tp = _section_class(tp)
    return typing.get_origin(tp) is dict or (isinstance(tp, type)
                                            and dataclasses.is_dataclass(tp))


def _field_default(parts: list[str]) -> Any:
    """The default of a key path such as ``scoring.weights`` (None if it has none)."""
    found = _field_at(parts)
    if found is None:
        return None
    f = found[0]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None if f.default is dataclasses.MISSING else f.default


def _is_string_type(tp: Any, text: str = "") -> bool:
    """``str``, a Literal of strings, or either of them optional; or a name or a list of
    names where ``text`` (an environment value) is no YAML list."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) > 1 and str in args:
            return not text.lstrip().startswith("[")
        return len(args) == 1 and _is_string_type(args[0])
    if typing.get_origin(tp) is Literal:
        return all(isinstance(a, str) for a in typing.get_args(tp))
    return tp is str


# strptime directives that set the year ('%c' and '%x' are the locale's date with its year),
# and those that set a date within a year (a format with these but no year is syslog's
# "Dec  4 16:53:23": the year is inferred, see anomaly_gan.logs.events).
_YEAR_DIRECTIVES = ("%Y", "%y", "%G", "%c", "%x")
_DATE_DIRECTIVES = ("%m", "%b", "%B", "%h", "%j")


def timestamp_format_has(fmt: str, directives: tuple[str, ...] = _YEAR_DIRECTIVES) -> bool:
    """Whether a strptime format uses one of ``directives`` (``%%`` is a literal %)."""
    plain = fmt.replace("%%", "")
    return any(d in plain for d in directives)


def zone_of(name: str) -> tzinfo:
    """The time zone ``logs.timezone`` (or a Parquet timestamp column's type) names:
    ``UTC`` or ``Z`` (any case), a fixed offset (``+08:00``, ``-0530``, ``+05``) or an IANA
    name (``Europe/Berlin``: daylight saving time follows the date); ValueError saying what
    was expected.

    >>> zone_of("+08:00").utcoffset(None), zone_of("UTC") is UTC, zone_of("-0530") == zone_of("-05:30")
    (datetime.timedelta(seconds=28800), True, True)
    """
    import re
    from datetime import datetime, timedelta

    if name.upper() in ("UTC", "Z"):
        return UTC
    m = re.fullmatch(r"([+-])(\d\d)(?::?(\d\d))?", name)
    if m:
        minutes = int(m[3] or 0)
        offset = timedelta(hours=int(m[2]), minutes=minutes)
        if offset >= timedelta(hours=24) or minutes >= 60:
            raise ValueError(f"expected an offset under 24 hours, got {brief(name)}")
        return timezone(-offset if m[1] == "-" else offset)
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        zone = ZoneInfo(name)
        datetime(2000, 1, 1, tzinfo=zone).utcoffset()
        return zone
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"expected UTC, an offset such as +08:00 or a time zone name such as "
                         f"Europe/Berlin (from this host's time zone database), got "
                         f"{brief(name)}") from None


#: The most empty buckets a silence shorter than ``logs.gap_seconds`` may count.
_MAX_GAP_BUCKETS = 100_000


def _check_logs(logs: LogsConfig, source: str) -> None:
    import re

    if (logs.bucket_seconds is None) == (logs.bucket_lines is None):
        raise ConfigError(
            f"{source}: logs.bucket_lines: expected exactly one of logs.bucket_seconds and "
            f"logs.bucket_lines (set bucket_seconds: null to count per N lines), got "
            f"bucket_seconds={logs.bucket_seconds!r}, bucket_lines={logs.bucket_lines!r}")
    if logs.bucket_seconds is not None and logs.gap_seconds / logs.bucket_seconds > _MAX_GAP_BUCKETS:
        # a silence shorter than gap_seconds is counted as empty buckets, each a row held
        # in memory: 0.001 s buckets made 1.8 million of them for each entity's silence
        raise ConfigError(
            f"{source}: logs.bucket_seconds: {logs.bucket_seconds:g} with logs.gap_seconds "
            f"{logs.gap_seconds:g} counts up to {logs.gap_seconds / logs.bucket_seconds:,.0f} "
            f"empty buckets for each silence of an entity; expected at most "
            f"{_MAX_GAP_BUCKETS:,} (bucket_seconds of at least "
            f"{logs.gap_seconds / _MAX_GAP_BUCKETS:g}, or a shorter gap_seconds)")
    if logs.format == "json" and logs.json_fields.ts == "" and logs.bucket_seconds is not None:
        raise ConfigError(f"{source}: logs.json_fields.ts: '' (no time field) cannot fill time "
                          f"buckets (logs.bucket_seconds); expected a field name, or "
                          f"bucket_seconds: null and logs.bucket_lines to count per N lines")
    if logs.format == "auto" and logs.regex is not None:
        raise ConfigError(f"{source}: logs.regex: given with logs.format 'auto', which "
                          f"recognises the lines' layout itself; expected logs.format: regex "
                          f"to read them with this regex, or no logs.regex")
    if logs.format == "regex":
        if logs.regex is None:
            raise ConfigError(f"{source}: logs.regex: expected a regular expression when "
                              f"logs.format is 'regex', got None")
        try:
            groups = re.compile(logs.regex).groupindex
        except (re.error, OverflowError, RecursionError) as exc:
            # a{4294967296}: OverflowError; thousands of nested groups: RecursionError
            why = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ConfigError(f"{source}: logs.regex: not a valid regular expression: {why}") \
                from None
        if "message" not in groups:
            raise ConfigError(f"{source}: logs.regex: expected a named group (?P<message>...), "
                              f"got groups {brief(sorted(groups))}")
        if "entity" not in groups and logs.entity is None:
            raise ConfigError(f"{source}: logs.entity: expected an entity name when logs.regex "
                              f"has no (?P<entity>...) group, got None")
        if "ts" not in groups and logs.bucket_seconds is not None:
            raise ConfigError(f"{source}: logs.regex: time buckets (logs.bucket_seconds) need "
                              f"a (?P<ts>...) group; or count per N lines (logs.bucket_lines)")
    try:
        zone = zone_of(logs.timezone)
    except ValueError as exc:
        raise ConfigError(f"{source}: logs.timezone: {exc}") from None
    if zone is not UTC and timestamp_format_has(logs.timestamp_format or "", ("%Z",)):
        raise ConfigError(f"{source}: logs.timezone: expected UTC with a %Z timestamp_format "
                          f"(strptime gives a zone name no offset: every stamp "
                          f"would be read in {logs.timezone}), got {brief(logs.timezone)}")
    fmt = logs.timestamp_format
    if fmt is not None and not (timestamp_format_has(fmt)
                                or timestamp_format_has(fmt, _DATE_DIRECTIVES)):
        raise ConfigError(f"{source}: logs.timestamp_format: expected a date: a year "
                          f"({', '.join(_YEAR_DIRECTIVES)}) or a month or day of the year "
                          f"({', '.join(_DATE_DIRECTIVES)}; the year is then inferred, as for "
                          f"syslog's 'Dec  4 16:53:23'); without one every line reads as a day "
                          f"of January 1900, got {brief(fmt)}")


# What Kubernetes sets in every pod for each Service of the namespace (enableServiceLinks):
# a release named anomaly-gan gives ANOMALY_GAN_SERVICE_HOST, ANOMALY_GAN_PORT_9108_TCP, ...
_SERVICE_LINK = re.compile(r"[A-Z0-9_]+?_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?"
                           r"|PORT(_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)?)")


def _spelled_path(words: list[str]) -> tuple[list[str], bool]:
    """The key path that ``words`` (a variable's name split at its underscores) spell at
    best, each key matched whole or closely, and whether every word was used.

    >>> _spelled_path(["TRAINNG", "EPOCHS"])
    (['training', 'epochs'], True)
    >>> _spelled_path(["SERVE", "KAFKA", "SASL", "PASWORD"])
    (['serve', 'kafka', 'sasl_password'], True)
    >>> _spelled_path(["TRAINING", "WARP", "DRIVE"])
    (['training'], False)
    """
    tp: Any = Config
    path: list[str] = []
    used = 0
    while used < len(words):
        tp = _section_class(tp)
        if typing.get_origin(tp) is dict:  # a map (scoring.weights): its keys are free
            return [*path, "_".join(words[used:]).lower()], True
        if not (isinstance(tp, type) and dataclasses.is_dataclass(tp)):
            break
        best: tuple[float, int, str] | None = None
        for f in config_keys(tp):
            n = f.name.count("_") + 1
            said = "_".join(words[used:used + n]).lower()
            ratio = difflib.SequenceMatcher(None, said, f.name).ratio()
            if used + n <= len(words) and ratio >= 0.8 and (best is None or (ratio, n) > best[:2]):
                best = (ratio, n, f.name)
        if best is None:
            break
        path.append(best[2])
        used += best[1]
        tp = typing.get_type_hints(tp)[best[2]]
    return path, used == len(words)


def _names_a_key(parts: list[str]) -> bool:
    """Whether ``parts`` is a key path: a section, a key, or one entry of a map."""
    return _field_at(parts) is not None or (
        len(parts) > 1 and typing.get_origin(_field_type(parts[:-1])) is dict)


def _env_name(path: list[str]) -> str:
    return ENV_PREFIX + "__".join(path).upper()


def _check_env_names(env: Mapping[str, str]) -> None:
    """Refuse a variable that looks like an override and is none, which was silently
    ignored: ``ANOMALY_GAN_TRAINING__EPOCHS`` (one underscore), ``ANOMALY_GAN__TRAINNG__EPOCHS``,
    ``anomaly_gan__training__epochs``, ``ANOMALY_GAN_CPU``. Left alone: the overrides
    themselves (their keys are checked below and by the validator), :data:`CPUS_ENV`,
    Kubernetes' Service links, a name whose words name a section but no key of it without a
    double underscore (``ANOMALY_GAN_MODEL_DIR``, ``ANOMALY_GAN_DATA``: a wrapper script's
    own), and a name of the stem that resembles nothing read here."""
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith("ANOMALY_GAN_") or name == CPUS_ENV:
            continue
        words = [w for w in upper[len("ANOMALY_GAN"):].split("_") if w]
        path, whole = _spelled_path(words)
        if name.startswith(ENV_PREFIX):
            parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
            # An unknown key the words spell closely: named here with the variable's
            # spelling (the validator would say 'training_epochs: unknown key').
            if parts and whole and not _names_a_key(parts):
                raise ConfigError(f"environment {name}: {'.'.join(parts)}: unknown key; "
                                  f"did you mean {_env_name(path)}?")
            continue
        if "__" not in name and _SERVICE_LINK.fullmatch(name):
            continue
        # a key the words spell (not a section alone: ANOMALY_GAN_MODEL_DIR may be a
        # wrapper script's own), or a name split at a double underscore as an override is
        if path and ("__" in name or (whole and len(path) >= 2)):
            spelling = _env_name(path) if whole else f"{_env_name(path)}__<KEY>"
            raise ConfigError(f"environment {name}: would be ignored: not a config override "
                              f"({ENV_PREFIX}<SECTION>__<KEY>, upper case); "
                              f"did you mean {spelling}?")
        close = difflib.get_close_matches(upper[len("ANOMALY_GAN_"):],
                                          [CPUS_ENV[len("ANOMALY_GAN_"):]], n=1, cutoff=0.8)
        if close:
            raise ConfigError(f"environment {name}: would be ignored: not a variable "
                              f"anomaly-gan reads; "
                              f"did you mean ANOMALY_GAN_{close[0]}?")


def _apply_env(raw: dict[str, Any], env: Mapping[str, str], source: str) -> tuple[dict, str]:
    _check_env_names(env)
    overrides = sorted((k, v) for k, v in env.items() if k.startswith(ENV_PREFIX))
    set_by: dict[tuple[str, ...], str] = {}  # the key paths set so far, by variable
    for key, text in overrides:
        parts = [p.lower() for p in key[len(ENV_PREFIX):].split("__") if p]
        if not parts:
            continue
        if len(text) > MAX_CONFIG_BYTES:
            raise ConfigError(f"environment {key}: value of {len(text)} characters is longer "
                              f"than the {MAX_CONFIG_BYTES} allowed")
        node = raw
        for depth, part in enumerate(parts[:-1], start=1):
            child = node.get(part)
            if child is not None and not isinstance(child, dict) \
                    and _is_mapping(_field_type(parts[:depth])):
                # a section or map written as no mapping: refused as the validator would
                # refuse it without the variable, where it was replaced without a word
                where = set_by.get(tuple(parts[:depth]))
                raise ConfigError(f"{source if where is None else f'environment {where}'}: "
                                  f"{'.'.join(parts[:depth])}: expected a mapping, got "
                                  f"{brief(child)}")
            if not isinstance(child, dict):
                # A map the file leaves out starts from its default: one weight set from
                # the environment keeps the others (sections fill their own defaults).
                default = _field_default(parts[:depth])
                child = dict(default) if isinstance(default, dict) else {}
                node[part] = child
            node = child
        set_by[tuple(parts)] = key
        if text == "":
            node[parts[-1]] = None
        elif _is_string_type(_field_type(parts), text):
            node[parts[-1]] = text  # verbatim: a password is not YAML
        else:
            try:
                node[parts[-1]] = parse_yaml(text)
            except yaml.YAMLError as exc:
                raise ConfigError(f"environment {key}:{_yaml_problem(exc, text)}") from None
    if overrides:
        source = f"{source} (+ {', '.join(k for k, _ in overrides)})"
    return raw, source


def config_from_dict(raw: Mapping[str, Any] | None, source: str = "<config>", *,
                     trained: bool = False) -> Config:
    """Validate a plain mapping into a :class:`Config`. ``trained``: a model bundle's
    ``config.yaml``, which is not held to the checks of what a user may ask for
    (:func:`_asked_checks`): a bundle trained with such a setting still loads.

    >>> config_from_dict({"training": {"epochs": 3}}).training.epochs
    3
    >>> sorted(config_from_dict({"training": {"epochs": 3}}).given)  # the keys it set
    ['training', 'training.epochs']
    """
    validator = _Validator(source)
    cfg = validator.section(Config, dict(raw or {}), "")
    _cross_checks(cfg, source)
    if not trained:
        _asked_checks(cfg, source)
    return cfg.replace(given=frozenset(validator.given))


def env_overrides(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The override variables of ``env`` (default ``os.environ``) and the dotted key each
    sets, as :func:`load_config` reads them.

    >>> env_overrides({"ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE": "1", "HOME": "/root"})
    {'ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE': 'serve.alerts.consecutive'}
    """
    env = os.environ if env is None else env
    found = {}
    for name in sorted(env):
        if name.startswith(ENV_PREFIX):
            parts = [p.lower() for p in name[len(ENV_PREFIX):].split("__") if p]
            if parts:
                found[name] = ".".join(parts)
    return found


def override_config(cfg: Config, source: str, env: Mapping[str, str] | None = None) -> Config:
    """``cfg`` (a model bundle's config, read from ``source``) overridden from the environment
    as :func:`load_config` overrides a file: for ``score``, ``evaluate`` and ``plot`` without
    ``--config``. Validated alike, a look-alike variable refused; what the environment
    changes is held to the checks of a file (:func:`_asked_checks`), the bundle's own
    settings are not. ``cfg`` itself when no variable overrides a key.

    >>> cfg = override_config(Config(), "m/config.yaml",
    ...                       {"ANOMALY_GAN__SERVE__ALERTS__CONSECUTIVE": "1"})
    >>> cfg.serve.alerts.consecutive
    1
    """
    env = os.environ if env is None else env
    raw, source = _apply_env(typing.cast(dict, config_to_dict(cfg)), env, source)
    if not env_overrides(env):
        return cfg
    overridden = config_from_dict(raw, source, trained=True)
    _asked_checks(overridden, source, kept=cfg)
    return overridden


def source_of(key: str, path: str | os.PathLike[str] | None,
              env: Mapping[str, str] | None = None) -> str:
    """Where :func:`load_config` with ``path`` took ``key`` (dotted, ``data.counters``)
    from, for an error that only the data can find in its value: the environment variable
    that set it, else the file (``default config`` without one).

    >>> source_of("data.counters", "configs/x.yaml", {})
    'configs/x.yaml'
    >>> source_of("data.counters", "configs/x.yaml", {"ANOMALY_GAN__DATA__COUNTERS": "[a]"})
    'environment ANOMALY_GAN__DATA__COUNTERS'
    """
    for name, overridden in env_overrides(env).items():
        if overridden == key.lower():
            return f"environment {name}"
    return "default config" if path is None else str(path)


#: What ``train`` given a log file and no config trains with: configs/logs.yaml's model,
#: data and training keys (tests/logs/test_layout.py checks they stay the same) and a logs
#: section that recognises the file's layout (``format: auto``) and leaves out, counted,
#: the lines that layout does not read (a banner, a line cut short).
LOGS_DEFAULTS: dict[str, Any] = {
    "model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8, "hidden": [32]},
    "data": {"window": 6, "stride": 1, "scaler": "minmax"},
    "training": {"epochs": 10, "batch_size": 64, "learning_rate": 0.001},
    "logs": {"format": "auto", "bad_lines": "skip"},
}


def load_logs_defaults(env: Mapping[str, str] | None = None) -> Config:
    """:data:`LOGS_DEFAULTS` overridden from the environment, as :func:`load_config` does
    the shipped defaults.

    >>> cfg = load_logs_defaults({"ANOMALY_GAN__TRAINING__EPOCHS": "2"})
    >>> cfg.logs.format, cfg.data.window, cfg.training.epochs
    ('auto', 6, 2)
    """
    import copy

    env = os.environ if env is None else env
    raw, source = _apply_env(copy.deepcopy(LOGS_DEFAULTS), env, "default logs config")
    return config_from_dict(raw, source)


def load_config(path: str | os.PathLike[str] | None = None,
                env: Mapping[str, str] | None = None) -> Config:
    """Read, override from the environment and validate a YAML file.

    ``path=None`` gives the shipped defaults (the dataclass defaults, which
    ``configs/default.yaml`` documents key by key). ``env`` defaults to ``os.environ``.
    """
    env = os.environ if env is None else env
    if path is None:
        raw, source = _apply_env({}, env, "default config")
        return config_from_dict(raw, source)
    file = Path(path)
    source = str(path)
    try:
        with file.open("rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{file}: config file not found") from None
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{file}: larger than the {MAX_CONFIG_BYTES} bytes a config may have")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{file}: cannot read config: not UTF-8 text (byte {exc.start})"
                          ) from None
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}:{_yaml_problem(exc, text)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: <top level>: expected a mapping, got {type(raw).__name__}")
    raw, source = _apply_env(raw, env, source)
    return config_from_dict(raw, source)


def without_secrets(cfg: Config) -> Config:
    """A copy with every secret key (e.g. ``serve.kafka.sasl_password``) set to None, for
    writing a config next to a model bundle."""

    def strip(section: Any) -> Any:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(section):
            value = getattr(section, f.name)
            if f.metadata.get("secret") and value is not None:
                changes[f.name] = None
            elif dataclasses.is_dataclass(value):
                changes[f.name] = strip(value)
        return dataclasses.replace(section, **changes)

    return typing.cast(Config, strip(cfg))


def config_to_dict(cfg: Any) -> Any:
    """Plain YAML/JSON-able form of a config (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in config_keys(cfg)}
    if isinstance(cfg, tuple):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, dict):
        return {k: config_to_dict(v) for k, v in cfg.items()}
    return cfg
