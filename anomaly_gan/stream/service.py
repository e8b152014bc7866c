"""``anomaly-gan serve``: the process around the scoring loop, and :func:`connect`, the one
way to put a :class:`~anomaly_gan.stream.app.Scorer` on Kafka (serve, demos, tests, bench).

Load the model, start /metrics, /healthz and /readyz, connect to Kafka (retrying with
backoff while no broker answers), run :class:`~anomaly_gan.stream.app.Scorer` with the hot
reload watcher, the shadow model and the drift gauges, and stop on SIGTERM/SIGINT: the
scorer drains, flushes and commits within ``serve.grace_seconds``, then the clients close;
a second SIGTERM/SIGINT meanwhile ends the process at once with 130, committing nothing more.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from typing import Any, NoReturn

from anomaly_gan.config import Config, ServeConfig
from anomaly_gan.runtime import EXIT_INTERRUPTED, SignalSafeEvent, end_now, handle
from anomaly_gan.stream.app import Scorer
from anomaly_gan.stream.http import Health
from anomaly_gan.stream.kafka_io import AUTH_FAILURES, Backoff
from anomaly_gan.stream.metrics import StreamMetrics

__all__ = ["connect", "serve"]

log = logging.getLogger("anomaly_gan.stream")


def connect(cfg: ServeConfig, detector: Any, metrics: StreamMetrics,
            health: Health | None = None, **scorer_kwargs: Any) -> Scorer:
    """A :class:`Scorer` on new Kafka clients (:class:`~anomaly_gan.stream.kafka_io.KafkaIO`,
    ``scorer.io``) whose rebalance callbacks go to that scorer. ``scorer_kwargs`` are the
    scorer's keywords (``watcher``, ``shadow``, ``drift``, clocks). Close ``scorer.io`` after
    :meth:`Scorer.run`. Raises kafka-python's ``KafkaError`` while no broker answers."""
    from anomaly_gan.stream.kafka_io import KafkaIO

    scorer: Scorer | None = None

    # Rebalances happen inside the scorer's polls, so the scorer exists by then; until it
    # does, nothing has been read and there is nothing to finish or commit.
    def on_assigned(partitions: list[Any]) -> None:
        if scorer is not None:
            scorer.on_assigned(partitions)

    def on_revoked(partitions: list[Any]) -> dict[Any, int] | None:
        return scorer.on_revoked(partitions) if scorer is not None else None

    io = KafkaIO(cfg.kafka, on_assigned=on_assigned, on_revoked=on_revoked)
    try:
        scorer = Scorer(cfg, detector, io, metrics, health, **scorer_kwargs)
    except BaseException:
        io.close(timeout_s=0.5)
        raise
    return scorer


def _connect(s: ServeConfig, stop: threading.Event, det: Any, metrics: StreamMetrics,
             health: Health, **scorer_kwargs: Any) -> Scorer | None:
    """:func:`connect`, retried with exponential backoff while no broker answers. None if
    asked to stop first."""
    from kafka.errors import KafkaConfigurationError, KafkaError

    from anomaly_gan.errors import ConfigError

    backoff = Backoff(s.kafka.reconnect_backoff_max_ms / 1000.0)
    while not stop.is_set():
        health.beat()
        refusals = AUTH_FAILURES.count
        try:
            scorer = connect(s, det, metrics, health, **scorer_kwargs)
            health.broker_reason = ""
            return scorer
        except KafkaConfigurationError as exc:  # no broker makes it right: exit 2, one line
            raise ConfigError(f"serve.kafka: the Kafka client refused the settings: {exc}") \
                from None
        except KafkaError as exc:
            delay = backoff.next()
            health.broker_up = False
            # The client raises "Unable to bootstrap" however the brokers failed it; a
            # refused login is in what it logged meanwhile (kafka_io.AuthFailures).
            refused = AUTH_FAILURES.reason_since(refusals, s.kafka)
            health.broker_reason = refused or ""
            log.warning("%s; retrying", refused or "broker unreachable", extra={"fields": {
                "error": AUTH_FAILURES.last_error if refused else str(exc),
                "retry_in_s": round(delay, 2)}})
            stop.wait(delay)
    return None


def _shadow(s: ServeConfig, registry: Any) -> Any:
    """The shadow scorer of ``serve.shadow_model_path``, or None. A shadow that cannot be
    loaded is one error line and one ``anomaly_gan_shadow_errors_total``, and the scorer runs
    without it: it must never keep the served model from alerting (a pruned or damaged
    candidate stopped ``serve`` at every start, so a restarted pod alerted on nothing)."""
    if not s.shadow_model_path:
        return None
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.stream.metrics import SCORE_BUCKETS
    from anomaly_gan.stream.shadow import ShadowScorer

    try:
        det = load_bundle(s.shadow_model_path)
        det.warm_up(s.batching.max_batch)
    except Exception as exc:  # noqa: BLE001 - a broken shadow must never stop the scorer
        log.error("serve.shadow_model_path: %s; serving without a shadow model",
                  str(exc) or type(exc).__name__)
        return ShadowScorer(registry, None, SCORE_BUCKETS)
    log.info("shadow model loaded", extra={"fields": {"shadow_version": det.version}})
    return ShadowScorer(registry, det, SCORE_BUCKETS)


def _stop_now(signum: int, grace_seconds: float) -> NoReturn:
    """A second SIGTERM/SIGINT once serve is stopping: end the process now, exit 130.

    The drain waits for the model, the producer's flush and the final commit, up to
    ``serve.grace_seconds`` (with a broker that hangs, all of it), and ignored further
    signals meanwhile. Ending here, in the handler, commits nothing more: every commit made
    so far came after its output was acknowledged, so at least once holds, as after a
    SIGKILL. An exception raised instead may be swallowed inside kafka-python's calls
    (runtime.Interrupts), and a normal exit waits for the producer's own close at exit.
    The line is best-effort: the handler may have interrupted a write to the same stream."""
    name = signal.Signals(signum).name
    with contextlib.suppress(Exception):
        log.error("second %s while stopping: exiting now without waiting for the drain "
                  "(serve.grace_seconds %g); nothing more is committed, what was read since "
                  "the last commit is read again at the next start", name, grace_seconds,
                  extra={"fields": {"signal": name, "exit_code": EXIT_INTERRUPTED}})
    end_now(EXIT_INTERRUPTED)


def serve(cfg: Config, registry: Any = None, bundle: Any = None) -> int:
    """``anomaly-gan serve``: load the model, start /metrics, consume until SIGTERM/SIGINT.
    ``bundle``: the model path already inspected (a :class:`~anomaly_gan.artifacts.BundleInfo`,
    verified before TensorFlow was imported), so it is not read and checked twice."""
    from prometheus_client import CollectorRegistry, ProcessCollector

    from anomaly_gan.artifacts import bundle_fingerprint, load_bundle, resolve_bundle_path
    from anomaly_gan.inference import configure_threads, cpu_limit
    from anomaly_gan.stream.drift import DriftMonitor
    from anomaly_gan.stream.http import HealthServer
    from anomaly_gan.stream.kafka_io import describe
    from anomaly_gan.stream.logs import configure_logging
    from anomaly_gan.stream.reload import ModelWatcher
    from anomaly_gan.stream.silences import SilenceWatcher

    s = cfg.serve
    configure_logging(s.log_format, s.log_level)
    # A bad silences file does not stop serve (SilenceWatcher, fail_open): it is logged,
    # counted below and no silence is in force until the file is fixed
    silences = (SilenceWatcher(s.alerts.silences_path, s.reload_interval_seconds,
                               fail_open=True)
                if s.alerts.silences_path else None)
    intra, inter = configure_threads()  # before TensorFlow runs its first op
    log.info("model threads", extra={"fields": {"cpu_limit": cpu_limit(), "intra_op": intra,
                                                "inter_op": inter}})
    det = load_bundle(bundle if bundle is not None else s.model_path)
    # The version loaded, not whatever the path names by now: a promote meanwhile is then
    # a change the watcher sees.
    fingerprint = bundle_fingerprint(bundle.path if bundle is not None else s.model_path)
    if registry is None:
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
    metrics = StreamMetrics(registry, s.http.entity_labels_top_n)
    if silences is not None:
        silences.on_result = lambda r: metrics.silence_reloads.labels(r).inc()
        if silences.start_error is not None:
            silences.on_result("failure")
    # Loading the bundle the path names was the first check; the alert on a stuck watcher
    # compares the last check's age with the interval.
    metrics.model_watch_last_check.set(time.time())
    metrics.model_watch_interval.set(s.reload_interval_seconds)
    health = Health(liveness_timeout_s=max(60.0, 3 * s.kafka.max_poll_interval_ms / 1000.0))
    # The bundle is loaded: while the first connection to the broker waits, /readyz says
    # "broker unreachable", not "no model loaded" (helper-29's probe).
    health.model_loaded = True
    metrics.watch_health(health)
    http = HealthServer(registry, health, s.http.host, s.http.port,
                        on_dropped=lambda r: metrics.http_dropped.labels(r).inc()).start()
    watcher = ModelWatcher(s.model_path, s.reload_interval_seconds, det, fingerprint,
                           on_result=lambda r: metrics.model_reloads.labels(r).inc(),
                           on_checked=metrics.model_watch_last_check.set,
                           max_batch=s.batching.max_batch,
                           allow_unhealthy=s.allow_unhealthy)
    # The model in use, not only the path: while no broker answers, "scorer started" (which
    # names it) never comes, and a store's path does not say which version it resolved to.
    # Its threshold too: what an alert's score is compared with, found nowhere else in the
    # log (the anomaly_gan_threshold gauge only)
    log.info("starting", extra={"fields": {
        "kafka": describe(s.kafka), "model_path": s.model_path,
        "bundle": str(bundle.path if bundle is not None else resolve_bundle_path(s.model_path)),
        "model_version": det.version, "threshold": float(det.threshold),
        "threshold_method": det.calibration.threshold.method,
        "http": f"{s.http.host}:{http.port}"}})
    stop = SignalSafeEvent()  # set by the SIGTERM handler while the loop may wait on it
    scorer: Scorer | None = None

    def _stop(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: the drain is not waited for
            _stop_now(signum, s.grace_seconds)
        # No logging here: a handler may interrupt a thread that holds the logging lock.
        stop.set()
        health.stopping = True  # /readyz: 503 shutting down, while the broker is awaited too
        if scorer is not None:
            scorer.request_stop()

    def _check_model(signum: int, _frame: Any) -> None:
        # SIGHUP, by the daemon convention: reload. Python's default ended the process at
        # once, with no drain, no commit and no log line. The silences file is re-read too.
        watcher.check_now()
        if silences is not None:
            silences.check_now()

    handle(signal.SIGTERM, _stop)
    handle(signal.SIGINT, _stop)  # not if started ignoring it (runtime.handle)
    signal.signal(signal.SIGHUP, _check_model)
    rc = 0
    try:
        # The watcher runs while the broker is still awaited: a model promoted meanwhile is
        # loaded and waits in the watcher (ModelWatcher.take) for the scorer's first batch.
        watcher.start()
        scorer = _connect(s, stop, det, metrics, health, watcher=watcher, silences=silences,
                          shadow=_shadow(s, registry), drift=DriftMonitor(registry, s.drift))
        if scorer is None:  # stopped before the broker was ever reachable: nothing consumed
            log.info("stopped before any broker answered: nothing was read or committed")
            return 0
        if stop.is_set():
            scorer.request_stop()
        rc = scorer.run()
    finally:
        # The loop has ended, so no model is swapped in any more: close the output first
        # (the producer's flush), then give a load still running the rest of the grace.
        left = 5.0
        if scorer is not None:
            left = (scorer.deadline - time.monotonic()) if scorer.deadline else 5.0
            try:
                scorer.io.close(timeout_s=min(5.0, max(left, 0.2)))
            except Exception:
                log.debug("close failed", exc_info=True)
            if scorer.deadline:
                left = scorer.deadline - time.monotonic()
        if not watcher.stop(timeout_s=max(left, 5.0)):
            log.warning("a model reload was still loading at exit")
        http.stop()
    return rc
