"""``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread.

- ``/healthz`` 200 while the scoring loop keeps turning (its last iteration is recent);
  a stuck loop answers 503, so a liveness probe restarts the pod.
- ``/readyz`` 200 when the loop keeps turning (as for ``/healthz``), a model is loaded,
  the broker is reachable, output is being acknowledged (nothing pending for longer than
  ``serve.kafka.delivery_stall_seconds``), input is being read (not waiting unread for
  longer than ``serve.kafka.input_stall_seconds``) and this replica has partitions
  assigned; 503 otherwise (with the reason in the body; with no partitions, and an input
  topic that the brokers' metadata does not list, the reason says so).
  Delivery is read at request time, so the answer is right even while the loop waits.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import math
import socket
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from anomaly_gan.errors import ConfigError

__all__ = ["REQUEST_TIMEOUT_S", "Health", "HealthServer", "check_listen"]

log = logging.getLogger("anomaly_gan.stream.http")

REQUEST_TIMEOUT_S = 10.0
"""Longest a connection may take to send its whole request, and may wait between bytes of
the answer: a probe or a scrape sends its request at once and reads the answer as it comes."""


class Health:
    """What the probes answer from; written by the loop, read by the HTTP thread."""

    def __init__(self, liveness_timeout_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.liveness_timeout_s = liveness_timeout_s
        self.clock = clock
        self.last_beat: float | None = None
        self.model_loaded = False
        self.broker_up = False
        self.broker_reason = ""  # why no broker is up, where known (else "broker unreachable")
        self.assigned = 0
        self.unassigned_reason = ""  # why no partitions are assigned, where known
        self.stopping = False
        self.delivery: Any = None  # has stalled_for() -> seconds (kafka_io.Delivery)
        self.stall_limit_s = math.inf
        self.input: Callable[[], float] | None = None  # seconds input has waited unread
        self.input_limit_s = math.inf

    def watch_delivery(self, delivery: Any, stall_limit_s: float) -> None:
        self.delivery = delivery
        self.stall_limit_s = float(stall_limit_s)

    def watch_input(self, stalled_for: Callable[[], float], limit_s: float) -> None:
        self.input = stalled_for
        self.input_limit_s = float(limit_s)

    def input_stalled_s(self) -> float:
        """Seconds that input has waited on an assigned partition with nothing read (0: none)."""
        return float(self.input()) if self.input is not None else 0.0

    def delivery_stalled_s(self) -> float:
        """Seconds that pending output has gone without an acknowledgement (0: none pending)."""
        return float(self.delivery.stalled_for()) if self.delivery is not None else 0.0

    def broker_ok(self) -> bool:
        """Connected and delivering: what ``anomaly_gan_broker_up`` reports."""
        return self.broker_up and self.delivery_stalled_s() <= self.stall_limit_s

    def beat(self) -> None:
        self.last_beat = self.clock()

    def alive(self) -> tuple[bool, str]:
        if self.last_beat is None:
            return True, "starting"
        age = self.clock() - self.last_beat
        if age > self.liveness_timeout_s:
            return False, f"scoring loop stalled for {age:.0f}s"
        return True, f"loop ran {age:.1f}s ago"

    def ready(self) -> tuple[bool, str]:
        if self.stopping:
            return False, "shutting down"
        alive, why = self.alive()
        if not alive:  # a loop stuck in a call reads and delivers nothing: not ready either
            return False, why
        if not self.model_loaded:
            return False, "no model loaded"
        if not self.broker_up:
            return False, self.broker_reason or "broker unreachable"
        stalled = self.delivery_stalled_s()
        if stalled > self.stall_limit_s:
            return False, f"no output acknowledged for {stalled:.0f}s"
        waited = self.input_stalled_s()
        if waited > self.input_limit_s:
            return False, f"input waiting, nothing read for {waited:.0f}s"
        if self.assigned == 0:
            why = "no partitions assigned"
            return False, f"{why}: {self.unassigned_reason}" if self.unassigned_reason else why
        return True, f"{self.assigned} partition(s) assigned"


class _RequestReader(io.RawIOBase):
    """A connection's bytes until ``deadline`` (on ``clock``), then ``TimeoutError``, which
    ``BaseHTTPRequestHandler`` answers by closing the connection.

    A socket timeout alone bounds each wait, not the request: a client sending a byte every
    few seconds (slowloris) kept its connection, and a server thread, for as long as the
    request line and 100 header lines of 64 KiB each took to arrive.
    """

    def __init__(self, sock: socket.socket, deadline: float, clock: Callable[[], float]) -> None:
        self._sock = sock
        self._deadline = deadline
        self._clock = clock

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        left = self._deadline - self._clock()
        if left <= 0:
            raise TimeoutError("request not received in time")
        self._sock.settimeout(left)
        return self._sock.recv_into(buffer)


class _Server(ThreadingHTTPServer):
    # Connections the kernel queues before the server takes them: socketserver's 5 dropped
    # connects of a burst (probes, a scrape and a slow client at once) on a busy host.
    request_queue_size = 64

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away (reset, closed) or stalled mid-answer is its own affair:
        socketserver printed a 20-line traceback to stderr for each, past the service's log
        format, whenever a scrape timed out or anyone dropped a connection. Anything else is
        one log record through the service's logging."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        log.exception("HTTP request from %s failed", client_address[0])


def _server_class(host: str) -> type[ThreadingHTTPServer]:
    """The HTTP server for ``host``: IPv4, or IPv6 for an address with a colon (``::``,
    ``::1``, ``[::]``), which a pod on an IPv6-only cluster needs for its probes; ``::``
    takes IPv4 connections too where the system allows (a dual-stack socket)."""
    if ":" not in host:
        return _Server
    any_address = host.strip("[]") == "::"

    class IPv6Server(_Server):
        address_family = socket.AF_INET6

        def server_bind(self) -> None:
            if any_address:
                with contextlib.suppress(OSError, AttributeError):  # no dual stack: IPv6 only
                    self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    return IPv6Server


def _listen(host: str, port: int,
            handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    try:
        return _server_class(host)((host.strip("[]"), port), handler)
    except OSError as exc:
        if isinstance(exc, socket.gaierror):
            hint = "expected an IP address or a host name that resolves"
        elif exc.errno == errno.EADDRINUSE:
            hint = "another process listens on that port"
        elif exc.errno == errno.EACCES:
            hint = "a port below 1024 needs root or CAP_NET_BIND_SERVICE; expected a higher one"
        else:
            hint = "expected an address of this host, 0.0.0.0 or ::"
        raise ConfigError(f"serve.http: cannot listen on {host}:{port}: "
                          f"{exc.strerror or exc} ({hint})") from None


def check_listen(host: str, port: int) -> None:
    """Raise the :class:`ConfigError` that :class:`HealthServer` would raise for ``host`` and
    ``port`` (in use, an address this host does not have, a name that does not resolve), and
    let the port go again: ``serve`` checks before the model and TensorFlow load."""
    _listen(host, port, BaseHTTPRequestHandler).server_close()


class HealthServer:
    """A small threaded HTTP server; ``port=0`` picks a free port (see :attr:`port`).

    A connection that has not sent its whole request ``request_timeout_s`` after it was
    taken (by ``clock``), or stopped reading the answer for as long, is closed: without it
    each idle or dripping connection held a thread and a file descriptor for ever, and anyone
    who could reach the port could pile up thousands.
    """

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1",
                 port: int = 9108, request_timeout_s: float = REQUEST_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.registry = registry
        self.health = health

        outer = self

        class Handler(BaseHTTPRequestHandler):
            timeout = request_timeout_s  # per socket operation (StreamRequestHandler)

            def setup(self) -> None:
                super().setup()
                self.rfile.close()  # the plain reader: closing it lets the socket close
                self.rfile = io.BufferedReader(_RequestReader(
                    self.connection, clock() + request_timeout_s, clock))

            def send_response(self, code: int, message: str | None = None) -> None:
                self.connection.settimeout(request_timeout_s)  # the answer: per write again
                super().send_response(code, message)

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = generate_latest(outer.registry)
                    self._send(200, body, CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, why = (outer.health.alive() if path == "/healthz"
                               else outer.health.ready())
                    body = json.dumps({"ok": ok, "detail": why}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep probes out of the logs
                pass

        self._server = _listen(host, port, Handler)
        self._server.daemon_threads = True
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="anomaly-gan-http",
                                        daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
