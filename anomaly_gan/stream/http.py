"""``/metrics``, ``/healthz`` and ``/readyz`` from a daemon thread.

- ``/healthz`` 200 while the scoring loop keeps turning (its last iteration is recent);
  a stuck loop answers 503, so a liveness probe restarts the pod.
- ``/readyz`` 200 when the loop keeps turning (as for ``/healthz``), a model is loaded,
  the broker is reachable, output is being acknowledged (nothing pending for longer than
  ``serve.kafka.delivery_stall_seconds``), input is being read (not waiting unread for
  longer than ``serve.kafka.input_stall_seconds``), the loop is not failing at the same
  spot again and again (:data:`ERROR_REPLAYS_NOT_READY` error replays or more with no
  progress, spanning ``serve.kafka.input_stall_seconds``: see
  :meth:`~anomaly_gan.stream.app.Scorer.error_replays`) and this replica has partitions
  assigned; 503 otherwise (with the reason in the body; with no partitions, and an input
  topic that the brokers' metadata does not list, the reason says so).
  Delivery is read at request time, so the answer is right even while the loop waits.
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import io
import json
import logging
import math
import selectors
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from anomaly_gan.errors import ConfigError

__all__ = ["ERROR_REPLAYS_NOT_READY", "MAX_CONNECTIONS", "MAX_REQUEST_BYTES", "REQUEST_TIMEOUT_S", "Health",
           "HealthServer", "check_listen"]

log = logging.getLogger("anomaly_gan.stream.http")

REQUEST_TIMEOUT_S = 10.0
"""Longest a connection may take to send its whole request, and may wait between bytes of
the answer: a probe or a scrape sends its request at once and reads the answer as it comes."""

MAX_CONNECTIONS = 256
"""Connections open at once; a new one beyond closes the oldest. Probes and scrapes need a
few, each for milliseconds."""

MAX_REQUEST_BYTES = 65536
"""Longest request line and headers: a probe's or a scrape's are a few hundred bytes. A
longer one is answered 414 (the request line alone is longer) or 431, and closed."""

ERROR_REPLAYS_NOT_READY = 3
"""Error replays in a row with no progress (spanning ``serve.kafka.input_stall_seconds``)
that make ``/readyz`` fail: one or two are a transient error the replay cured."""


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
        # (error replays since the loop last made progress, seconds from the first of them
        # to the last, the last one's error): one tuple, so a probe reads them together
        self.error_replays: tuple[int, float, str] = (0, 0.0, "")
        self.error_limit_s = math.inf

    def watch_delivery(self, delivery: Any, stall_limit_s: float) -> None:
        self.delivery = delivery
        self.stall_limit_s = float(stall_limit_s)

    def watch_input(self, stalled_for: Callable[[], float], limit_s: float) -> None:
        self.input = stalled_for
        self.input_limit_s = float(limit_s)

    def watch_errors(self, limit_s: float) -> None:
        self.error_limit_s = float(limit_s)

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
        replays, span, error = self.error_replays
        if replays >= ERROR_REPLAYS_NOT_READY and span >= self.error_limit_s:
            return False, (f"{replays} error replays in {span:.0f}s with no progress, "
                           f"the last: {error}")
        if self.assigned == 0:
            why = "no partitions assigned"
            return False, f"{why}: {self.unassigned_reason}" if self.unassigned_reason else why
        return True, f"{self.assigned} partition(s) assigned"


class _Server(socketserver.TCPServer):
    """The listening socket only: :class:`HealthServer` takes and serves its connections."""

    # Connections the kernel queues before the server takes them: socketserver's 5 dropped
    # connects of a burst (probes, a scrape and a slow client at once) on a busy host.
    request_queue_size = 64
    # SO_REUSEADDR, as http.server's servers set it: a port whose answered connections the
    # server closed (TIME_WAIT, a minute) is taken again at once by a restarted scorer
    allow_reuse_address = True


def _server_class(host: str) -> type[_Server]:
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


def _listen(host: str, port: int) -> _Server:
    try:
        return _server_class(host)((host.strip("[]"), port), BaseHTTPRequestHandler)
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
    _listen(host, port).server_close()


class _Connection:
    """One connection's state: its request as it comes, then its answer as it goes."""

    __slots__ = ("address", "answer", "deadline", "refused", "request", "sent", "sock")

    def __init__(self, sock: socket.socket, address: Any, deadline: float) -> None:
        self.sock = sock
        self.address = address
        self.deadline = deadline
        self.request = bytearray()
        self.answer: memoryview | None = None  # set once the whole request is in
        self.sent = 0
        self.refused = False  # answered 414 or 431 and counted: what it sends is read away


def _head_length(request: bytes | bytearray) -> int | None:
    """Bytes of the request line and headers up to and with their blank line (what comes
    after is a body), or None while that line has not come; the line endings are those
    ``http.client`` accepts: CRLF or a bare LF."""
    ends = [at + len(blank) for blank in (b"\n\r\n", b"\n\n")
            if (at := request.find(blank)) >= 0]
    return min(ends) if ends else None


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether an Accept-Encoding header names gzip (Prometheus sends ``gzip``), read as
    prometheus_client's server reads it: any q-value counts."""
    return any(coding.split(";")[0].strip().lower() == "gzip"
               for coding in accept_encoding.split(","))


def _refusal(request: bytes | bytearray) -> bytes:
    """The answer to a request whose head passes :data:`MAX_REQUEST_BYTES`: 414 when its
    request line alone does (as ``http.server`` answers a line it cannot read), else 431."""
    line_end = request.find(b"\n")
    if line_end < 0 or line_end + 1 > MAX_REQUEST_BYTES:
        status, part = HTTPStatus.REQUEST_URI_TOO_LONG, "request line"
    else:
        status, part = HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request head"
    body = f"{part} over {MAX_REQUEST_BYTES} bytes\n".encode()
    return (f"HTTP/1.0 {status.value} {status.phrase}\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode() + body


class HealthServer:
    """A small HTTP server on one thread; ``port=0`` picks a free port (see :attr:`port`).

    One thread waits on every connection at once (a selector) and answers each request as
    soon as the whole of it is in, so a connection costs a descriptor and its buffers, never
    a thread. A connection that has not sent its whole request ``request_timeout_s`` after it
    was taken (by ``clock``), or that stops reading the answer for ``request_timeout_s``, is
    closed. One whose request head passes :data:`MAX_REQUEST_BYTES` is answered 414 or 431
    with ``Connection: close``; what it goes on sending is read and thrown away, for at most
    ``request_timeout_s`` after that answer, so that closing with its bytes unread does not
    reset the connection before the client reads why. At most ``max_connections`` are open:
    a new one closes the oldest, so a flood of idle or dripping connections cannot crowd out
    a probe or a scrape, which sends its request at once and is answered within
    milliseconds. ``on_dropped(reason)`` counts each connection closed for ``"limit"`` or
    ``"timeout"``, or refused for ``"too_large"``, once
    (``anomaly_gan_http_connections_dropped_total``).

    A thread per connection (``ThreadingHTTPServer``) held 550 threads under 2,000 idle
    connections on a 2-core host, as many as it could take in 10 s; where threads ran out
    (a pod's pids limit, or memory), 16 of 18 probes failed and each refused connection was
    a traceback in the log.
    """

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1",
                 port: int = 9108, request_timeout_s: float = REQUEST_TIMEOUT_S,
                 clock: Callable[[], float] = time.monotonic,
                 max_connections: int = MAX_CONNECTIONS,
                 on_dropped: Callable[[str], None] | None = None) -> None:
        self.registry = registry
        self.health = health
        self.request_timeout_s = float(request_timeout_s)
        self.clock = clock
        self.max_connections = int(max_connections)
        self.on_dropped = on_dropped
        outer = self

        class Handler(BaseHTTPRequestHandler):
            """Parses one request from bytes already read and writes its answer to bytes:
            never waits on the client."""

            def __init__(self, request: bytes, client_address: Any) -> None:
                self.client_address = client_address
                self.rfile = io.BytesIO(request)
                self.wfile = self.answer = io.BytesIO()
                self.handle_one_request()

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    body = generate_latest(outer.registry)
                    if _accepts_gzip(self.headers.get("Accept-Encoding", "")):
                        # as prometheus_client's own server: a scrape asks for it
                        self._send(200, gzip.compress(body), CONTENT_TYPE_LATEST, "gzip")
                    else:
                        self._send(200, body, CONTENT_TYPE_LATEST)
                elif path in ("/healthz", "/readyz"):
                    ok, why = (outer.health.alive() if path == "/healthz"
                               else outer.health.ready())
                    body = json.dumps({"ok": ok, "detail": why}).encode()
                    self._send(200 if ok else 503, body, "application/json")
                else:
                    self._send(404, b"not found\n", "text/plain")

            # GET's status and headers without its body: curl -I and uptime monitors that
            # check a URL with HEAD read '501 Unsupported method' otherwise
            do_HEAD = do_GET

            def _send(self, code: int, body: bytes, ctype: str,
                      encoding: str | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                if encoding is not None:
                    self.send_header("Content-Encoding", encoding)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:  # keep probes out of the logs
                pass

        self._handler = Handler
        self._server = _listen(host, port)
        self._server.socket.setblocking(False)
        self.host = host
        self.port = int(self._server.server_address[1])
        self._connections: dict[int, _Connection] = {}  # oldest first
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._server.socket, selectors.EVENT_READ)
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ)
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="anomaly-gan-http",
                                        daemon=True)

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread.is_alive():
            self._thread.join()
        for conn in list(self._connections.values()):
            self._close(conn)
        self._selector.close()
        self._wake_r.close()
        self._wake_w.close()
        self._server.server_close()

    # ------------------------------------------------------------------ the loop
    def _serve(self) -> None:
        listener = self._server.socket
        while not self._stopping:
            for key, events in self._selector.select(self._wait()):
                if key.fileobj is listener:
                    self._accept(listener)
                elif key.fileobj is self._wake_r:
                    with contextlib.suppress(OSError):
                        self._wake_r.recv(64)
                else:
                    conn = self._connections.get(key.fd)
                    if conn is None or conn is not key.data:  # closed meanwhile
                        continue
                    try:
                        if events & selectors.EVENT_READ:
                            self._read(conn)
                        else:
                            self._write(conn)
                    except Exception:  # one connection's bug, not the end of the endpoint
                        log.exception("HTTP connection from %s failed", conn.address[0])
                        self._close(conn)
            now = self.clock()
            for conn in [c for c in self._connections.values() if c.deadline <= now]:
                self._drop(conn, "timeout")

    def _wait(self) -> float:
        """Seconds until the first deadline, at most 0.5 (a clock that tests move)."""
        if not self._connections:
            return 0.5
        first = min(c.deadline for c in self._connections.values())
        return min(max(first - self.clock(), 0.0), 0.5)

    def _accept(self, listener: socket.socket) -> None:
        for _ in range(self._server.request_queue_size):
            try:
                sock, address = listener.accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError:  # out of descriptors: make room, and let the kernel queue wait
                if self._connections:
                    self._drop(next(iter(self._connections.values())), "limit")
                else:  # the rest of the process holds them: no busy loop meanwhile
                    time.sleep(0.05)
                return
            if len(self._connections) >= self.max_connections:
                self._drop(next(iter(self._connections.values())), "limit")
            sock.setblocking(False)
            conn = _Connection(sock, address, self.clock() + self.request_timeout_s)
            self._connections[sock.fileno()] = conn
            self._selector.register(sock, selectors.EVENT_READ, conn)

    def _read(self, conn: _Connection) -> None:
        try:
            data = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the client went away
            self._close(conn)
            return
        if conn.refused:  # its answer is out: read away the rest, until it closes
            return
        if self.clock() >= conn.deadline:
            self._drop(conn, "timeout")
            return
        conn.request += data
        head_length = _head_length(conn.request)
        if (head_length if head_length is not None else len(conn.request)) > MAX_REQUEST_BYTES:
            self._refuse(conn)
        elif head_length is not None:  # a body after the head is left unread, as before
            self._answer(conn)

    def _answer(self, conn: _Connection) -> None:
        try:
            handler = self._handler(bytes(conn.request), conn.address)
        except Exception:
            log.exception("HTTP request from %s failed", conn.address[0])
            self._close(conn)
            return
        self._send(conn, handler.answer.getvalue())

    def _refuse(self, conn: _Connection) -> None:
        if self.on_dropped is not None:  # counted before the client can read the answer
            self.on_dropped("too_large")
        conn.refused = True
        self._send(conn, _refusal(conn.request))

    def _send(self, conn: _Connection, answer: bytes) -> None:
        conn.answer = memoryview(answer)
        conn.request = bytearray()
        conn.deadline = self.clock() + self.request_timeout_s
        self._selector.modify(conn.sock, selectors.EVENT_WRITE, conn)
        self._write(conn)

    def _write(self, conn: _Connection) -> None:
        assert conn.answer is not None
        try:
            sent = conn.sock.send(conn.answer[conn.sent:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError:  # a client that went away (reset, closed) is its own affair
            self._close(conn)
            return
        if sent:
            conn.sent += sent
            conn.deadline = self.clock() + self.request_timeout_s
        if conn.sent >= len(conn.answer):
            if conn.refused:
                self._linger(conn)
            else:
                self._close(conn)

    def _linger(self, conn: _Connection) -> None:
        """Say the answer is all (a FIN) and read what the client still sends until it
        closes: a close with its bytes unread would reset the connection, and the client
        would lose the answer it has not read yet."""
        conn.deadline = self.clock() + self.request_timeout_s  # before the client sees the end
        self._selector.modify(conn.sock, selectors.EVENT_READ, conn)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)

    def _drop(self, conn: _Connection, reason: str) -> None:
        # counted before the client can see it closed; a refused one was counted already
        if self.on_dropped is not None and not conn.refused:
            self.on_dropped(reason)
        self._close(conn)

    def _close(self, conn: _Connection) -> None:
        self._connections.pop(conn.sock.fileno(), None)
        with contextlib.suppress(KeyError, ValueError):
            self._selector.unregister(conn.sock)
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_WR)
        conn.sock.close()
