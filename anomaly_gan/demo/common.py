"""What the two live demos share (``anomaly-gan demo`` and ``demo --logs``): their option
checks, quiet clients once interrupted, the scorer on a thread with its HTTP endpoints, a
reader that hands over the output records as they arrive (to print alerts live),
:func:`demo_output`, which checks what a demo needs before it trains and holds its output
directory, and :func:`live_pipeline`, which starts all of it around an embedded broker and
closes it in the right order."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from anomaly_gan.config import ServeConfig
from anomaly_gan.errors import ConfigError, OutputError, brief

__all__ = ["DemoScorer", "LivePipeline", "OutputReader", "check_options", "check_seed",
           "demo_output", "duration_text", "live_pipeline", "note_environment_not_used",
           "quiet_clients_on_interrupt", "say", "score_text", "training_progress"]


def check_seed(seed: int, command: str = "demo") -> None:
    """``--seed`` of a demo (``offline-demo`` too), checked before any work: numpy takes no
    negative seed, and ``--seed -1`` ended in its traceback (exit 1) after the imports.

    >>> check_seed(-1, "offline-demo")
    Traceback (most recent call last):
    ...
    anomaly_gan.errors.ConfigError: offline-demo: --seed must be an integer >= 0, got -1
    """
    if seed < 0:
        raise ConfigError(f"{command}: --seed must be an integer >= 0, got {brief(seed)}")


def check_options(speed: float, http_port: int, epochs: int | None, seed: int = 0) -> None:
    """The options both demos take, checked before any work: one line naming the flag.

    >>> check_options(float("nan"), 9108, None)
    Traceback (most recent call last):
    ...
    anomaly_gan.errors.ConfigError: demo: --speed must be a finite number >= 0 (0 = as fast as possible), got nan
    """
    check_seed(seed)
    if not (math.isfinite(speed) and speed >= 0):
        raise ConfigError("demo: --speed must be a finite number >= 0 (0 = as fast as "
                          f"possible), got {speed:g}")
    if not 0 <= http_port <= 65535:
        raise ConfigError(f"demo: --http-port must be 0..65535 (0 = any free port), "
                          f"got {brief(http_port)}")
    if epochs is not None and epochs < 1:
        raise ConfigError(f"demo: --epochs must be at least 1, got {brief(epochs)}")


def note_environment_not_used(command: str, env: Mapping[str, str] | None = None) -> None:
    """A ``note:`` naming the ``ANOMALY_GAN__*`` overrides a demo leaves out: it runs its own
    config (its options are its knobs), where every other command applies them. Without it,
    ``ANOMALY_GAN__TRAINING__EPOCHS=1 anomaly-gan offline-demo`` trained its 15 epochs
    without a word (and a broker address exported for ``serve`` cannot move the demo's
    embedded one)."""
    from anomaly_gan.config import env_overrides

    names = list(env_overrides(env))
    if names:
        print(f"note: environment {', '.join(names)}: not used: {command} runs its own config "
              f"(its options: anomaly-gan {command.split()[0]} --help)", file=sys.stderr,
              flush=True)


@contextlib.contextmanager
def demo_output(out: Path) -> Iterator[None]:
    """Before a minute of training: that the bundle can be written to ``out/model`` and that
    the broker's binary is there. Then ``out`` is created and held for the demo's life (a
    lock on the directory, released when the process ends however it ends): a second demo
    on the same ``out`` would replace the bundle the first one's scorer watches, which then
    hot-reloads the other model mid-stream, so it is refused at once. Directories made here
    and still empty at the end (a demo stopped before it saved) are removed."""
    import fcntl

    from anomaly_gan.artifacts import _missing_dirs, _remove_empty, check_destination
    from anomaly_gan.demo.broker import broker_binary

    check_destination(out / "model", overwrite=True)
    broker_binary()
    made = _missing_dirs(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        _remove_empty(made)
        raise OutputError(f"{out}: cannot create the output directory: "
                          f"{exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputError(f"{out}: another anomaly-gan demo is running with this output "
                              "directory; wait for it to end or pass another --out") from None
        yield
    finally:
        os.close(fd)
        _remove_empty(made)


@contextlib.contextmanager
def quiet_clients_on_interrupt() -> Iterator[None]:
    """Once interrupted, the Kafka clients that close while the broker goes away log
    connection errors with tracebacks; the user asked to stop, so they are silenced."""
    try:
        yield
    except KeyboardInterrupt:
        logging.getLogger("kafka").setLevel(logging.CRITICAL + 1)
        raise


def score_text(score: float | None, width: int) -> str:
    """An alert's score for a console line: ``null`` in the record (a window the network
    could not compute, see ``Detector.score_windows``) reads ``inf``.

    >>> score_text(2.468, 7), score_text(None, 7)
    ('   2.47', '    inf')
    """
    return f"{'inf':>{width}}" if score is None else f"{score:{width}.2f}"


def duration_text(seconds: float) -> str:
    """A duration for a console line (how long an incident lasted, or took to resolve).

    >>> duration_text(45), duration_text(370), duration_text(-130), duration_text(3720)
    ('45s', '6m10s', '-2m10s', '1h02m')
    """
    sign, s = ("-" if seconds < 0 else ""), round(abs(seconds))
    if s < 60:
        return f"{sign}{s}s"
    if s < 3600:
        return f"{sign}{s // 60}m{s % 60:02d}s"
    return f"{sign}{s // 3600}h{s % 3600 // 60:02d}m"


def say(msg: str) -> None:
    print(msg, flush=True)


def training_progress(stop: Any) -> Callable[[str], None]:
    """The ``progress`` of a demo's training: each line indented, and first a signal that
    came and whose exception Python dropped (``stop``, a
    :class:`anomaly_gan.runtime.Interrupts`: a Ctrl-C raised in a garbage-collector
    callback, as under TensorFlow after an epoch) is raised, as ``train`` does. Until
    2026-12-07 the demo trained on through its retries, wrote the bundle and started the
    broker before it stopped."""
    def progress(msg: str) -> None:
        stop.check_outside_deferred()
        say("  " + msg)

    return progress


class DemoScorer:
    """The scorer of ``anomaly-gan serve`` (:func:`anomaly_gan.stream.service.connect`) on a
    thread, with its own registry and /metrics, /healthz, /readyz on 127.0.0.1:``http_port``
    (any free port when that one is taken: :attr:`port`)."""

    def __init__(self, cfg: ServeConfig, det: Any, http_port: int) -> None:
        from prometheus_client import CollectorRegistry

        from anomaly_gan.stream.http import Health, HealthServer
        from anomaly_gan.stream.metrics import StreamMetrics
        from anomaly_gan.stream.service import connect

        self.registry = CollectorRegistry()
        health = Health()
        try:
            self.http = HealthServer(self.registry, health, "127.0.0.1", http_port).start()
        except ConfigError:  # the port taken (HealthServer says so as a ConfigError, not an
            # OSError: until 2026-12-07 the demo trained, then exited 2 on a taken 9108)
            self.http = HealthServer(self.registry, health, "127.0.0.1", 0).start()
        try:
            self.scorer = connect(cfg, det, StreamMetrics(self.registry), health)
        except BaseException:
            self.http.stop()
            raise
        self.thread = threading.Thread(target=self.scorer.run, name="scorer", daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.http.port)

    def value(self, name: str, labels: dict[str, str] | None = None) -> float:
        """A sample of the scorer's metrics (0 while it has none)."""
        return self.registry.get_sample_value(name, labels or {}) or 0.0

    def wait_assigned(self, check: Callable[[], None] = lambda: None,
                      timeout_s: float = 60.0) -> bool:
        """Wait until the scorer owns partitions of the input topic (so the demo's first
        events are read as they come); False if it does not within ``timeout_s``. ``check``
        runs on every poll (an interrupt the demo must act on)."""
        deadline = time.monotonic() + timeout_s
        while not self.scorer.io.assignment():
            check()
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Stop the loop (it drains and commits), close the clients and the endpoints."""
        self.scorer.request_stop()
        self.thread.join(timeout=20)
        try:
            self.scorer.io.close(timeout_s=2)
        finally:
            self.http.stop()


class OutputReader:
    """Reads partition 0 of each of ``topics`` from the beginning on a thread and calls
    ``on_record(topic, record, timestamp_s)`` for every JSON record, until :meth:`stop`.
    An error there (``on_record`` printing to a closed pipe) ends the thread and is raised
    by :meth:`check`, in the demo's own thread."""

    def __init__(self, bootstrap: str, topics: Sequence[str],
                 on_record: Callable[[str, dict[str, Any], float], None]) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.on_record = on_record
        self.error: Exception | None = None
        self._done = threading.Event()
        self._want_end = threading.Event()  # read_to_end asks; the reading thread answers
        self._at_end = threading.Event()
        self.thread = threading.Thread(target=self._run, name="alert-printer", daemon=True)
        self.thread.start()

    def check(self) -> None:
        """Raise the error that ended the reading, if one did."""
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            self._read()
        except Exception as exc:  # noqa: BLE001 - raised in the demo's thread (check):
            # until 2026-12-07 this thread died with a traceback, and the demo waited two
            # minutes for the records it no longer counted
            self.error = exc

    def _read(self) -> None:
        from kafka import KafkaConsumer, TopicPartition

        c = KafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                          fetch_max_wait_ms=20)
        tps = [TopicPartition(t, 0) for t in self.topics]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        end: dict[Any, int] | None = None
        try:
            while not self._done.is_set():
                if self._want_end.is_set():
                    self._want_end.clear()
                    end = c.end_offsets(tps)
                for tp, msgs in c.poll(timeout_ms=100).items():
                    for m in msgs:
                        self.on_record(tp.topic, json.loads(m.value), m.timestamp / 1000.0)
                if end is not None and all(c.position(tp) >= end[tp] for tp in tps):
                    end = None
                    self._at_end.set()
        finally:
            c.close(autocommit=False, timeout_ms=1000)

    def read_to_end(self, sleep: Callable[[float], None], timeout_s: float) -> bool:
        """Wait until every record on the topics when this is called has been handed to
        ``on_record``; False after ``timeout_s``. ``sleep`` waits between looks (the
        demo's, which a signal or this reader's error cuts short)."""
        self._at_end.clear()
        self._want_end.set()
        deadline = time.monotonic() + timeout_s
        while not self._at_end.is_set():
            self.check()
            if time.monotonic() >= deadline or not self.thread.is_alive():
                return False
            sleep(0.02)
        return True

    def stop(self) -> None:
        self._done.set()
        self.thread.join(timeout=5)


@dataclass
class LivePipeline:
    """What :func:`live_pipeline` started: the broker's address, the scorer and a producer
    for the events topic."""

    bootstrap: str
    scorer: DemoScorer
    producer: Any  # kafka.KafkaProducer
    stop: Any  # anomaly_gan.runtime.Interrupts
    reader: OutputReader

    def check(self) -> None:
        """Raise a signal that came, or the error that stopped the output reader."""
        self.stop.check()
        self.reader.check()

    def sleep(self, seconds: float) -> None:
        """Sleep, cut short by a signal; then :meth:`check`."""
        self.stop.sleep(seconds)
        self.reader.check()

    def settle(self, timeout_s: float = 30.0) -> bool:
        """Wait until the scorer has published all it scored of what it read, and the reader
        has handed on every record it published (the summary's last alerts and
        resolutions); False after ``timeout_s``. Until 2026-12-08 the demos waited a fixed
        half second (one second with ``--logs``) instead, and a record still in the
        scorer's producer or in the reader's poll then was left out of the summary."""
        deadline = time.monotonic() + timeout_s
        while not self.scorer.scorer.settled():
            if time.monotonic() >= deadline:
                return False
            self.sleep(0.02)
        try:
            self.scorer.scorer.io.flush(timeout_s=max(0.0, deadline - time.monotonic()))
        except Exception:  # noqa: BLE001 - kafka-python timed out: the demo says so
            return False
        return self.reader.read_to_end(self.sleep, max(0.0, deadline - time.monotonic()))


@contextlib.contextmanager
def live_pipeline(stop: Any, det: Any, *, model_path: str, topics: Mapping[str, str],
                  partitions: Mapping[str, int], group_id: str, serve: Mapping[str, Any],
                  http_port: int, read: Sequence[str],
                  on_record: Callable[[str, dict[str, Any], float], None],
                  linger_ms: int) -> Iterator[LivePipeline]:
    """An embedded broker with ``topics`` (role -> name, ``partitions`` per role), the
    scorer of ``det`` on it (``serve`` adds to the demo's serve section), a reader handing
    the records of the ``read`` roles to ``on_record``, and a producer; yields once the
    scorer holds its partitions.

    Everything closes in reverse order, also on Ctrl-C (``stop``, a
    :class:`anomaly_gan.runtime.Interrupts`, defers a signal to the demo's own loops): the
    clients before the broker they talk to, which the other way round log a screenful of
    connection errors on the way out.
    """
    from kafka import KafkaProducer

    from anomaly_gan.config import config_from_dict
    from anomaly_gan.demo.broker import EmbeddedBroker, local_kafka

    with contextlib.ExitStack() as stack, quiet_clients_on_interrupt(), stop.deferred():
        broker = stack.enter_context(EmbeddedBroker(
            topics={topics[role]: n for role, n in partitions.items()}))
        bootstrap = broker.bootstrap_servers
        cfg = config_from_dict({"serve": {
            **serve, "model_path": model_path, "http": {"port": http_port},
            "kafka": local_kafka(bootstrap, topics, group_id),
        }}, f"{group_id} serve config").serve
        scorer = DemoScorer(cfg, det, http_port)
        stack.callback(scorer.stop)
        say(f"broker on {bootstrap}; metrics on http://127.0.0.1:{scorer.port}/metrics")
        reader = OutputReader(bootstrap, [topics[role] for role in read], on_record)
        stack.callback(reader.stop)
        scorer.wait_assigned(stop.check)
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=linger_ms)
        stack.callback(producer.close, timeout=2)
        yield LivePipeline(bootstrap, scorer, producer, stop, reader)
