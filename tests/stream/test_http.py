import json
import socket
import struct
import threading
import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from anomaly_gan.stream.http import Health, HealthServer


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture
def server():
    reg = CollectorRegistry()
    Counter("anomaly_gan_events_consumed", "x", registry=reg).inc(3)
    clock = Clock()
    health = Health(liveness_timeout_s=10, clock=clock)
    srv = HealthServer(reg, health, "127.0.0.1", 0).start()
    yield srv, health, clock
    srv.stop()


def test_metrics_endpoint_serves_the_registry(server):
    srv, _, _ = server
    status, body = get(f"http://127.0.0.1:{srv.port}/metrics")
    assert status == 200
    fams = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert fams["anomaly_gan_events_consumed"].samples[0].value == 3


def test_healthz_fails_when_the_loop_stalls(server):
    srv, health, clock = server
    health.beat()
    assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
    clock.now += 11
    status, body = get(f"http://127.0.0.1:{srv.port}/healthz")
    assert status == 503 and "stalled" in json.loads(body)["detail"]


def test_readyz_needs_model_broker_and_partitions(server):
    srv, health, _ = server
    url = f"http://127.0.0.1:{srv.port}/readyz"
    assert get(url)[0] == 503
    health.model_loaded = True
    health.broker_up = True
    status, body = get(url)
    assert status == 503 and "no partitions" in json.loads(body)["detail"]
    health.assigned = 2
    assert get(url)[0] == 200
    health.broker_up = False
    assert get(url)[0] == 503
    assert get(f"http://127.0.0.1:{srv.port}/nope")[0] == 404


class Stalled:
    """A kafka_io.Delivery double: seconds that pending output went unacknowledged."""

    def __init__(self):
        self.seconds = 0.0

    def stalled_for(self):
        return self.seconds


def test_readiness_and_broker_up_follow_delivery_not_only_the_connection(server):
    from anomaly_gan.stream.metrics import StreamMetrics

    srv, health, _ = server
    delivery = Stalled()
    health.model_loaded, health.broker_up, health.assigned = True, True, 1
    health.watch_delivery(delivery, stall_limit_s=15.0)
    reg = CollectorRegistry()
    StreamMetrics(reg).watch_health(health)
    url = f"http://127.0.0.1:{srv.port}/readyz"
    delivery.seconds = 14.0
    assert get(url)[0] == 200 and reg.get_sample_value("anomaly_gan_broker_up") == 1
    delivery.seconds = 22.0  # connected, but nothing acknowledged for 22 s
    status, body = get(url)
    assert status == 503 and "no output acknowledged for 22s" in json.loads(body)["detail"]
    assert reg.get_sample_value("anomaly_gan_broker_up") == 0
    assert reg.get_sample_value("anomaly_gan_ready") == 0
    assert reg.get_sample_value("anomaly_gan_delivery_stalled_seconds") == 22.0
    assert reg.get_sample_value("anomaly_gan_assigned_partitions") == 1


def test_readyz_fails_while_the_loop_is_stuck(server):
    """A loop stuck in one call reads and delivers nothing: not ready, though the last
    gauges it set (broker up, partitions assigned) still say so."""
    srv, health, clock = server
    health.model_loaded, health.broker_up, health.assigned = True, True, 2
    health.beat()
    url = f"http://127.0.0.1:{srv.port}/readyz"
    assert get(url)[0] == 200
    clock.now += 11
    status, body = get(url)
    assert status == 503 and "stalled" in json.loads(body)["detail"]
    health.beat()
    assert get(url)[0] == 200


def test_a_port_in_use_is_one_config_line_not_a_traceback():
    """serve with serve.http.port held by another process ended in an OSError traceback."""
    import socket

    from anomaly_gan.errors import ConfigError

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(ConfigError, match=rf"serve.http: cannot listen on 127.0.0.1:{port}: "
                                              r"Address already in use \(another process "
                                              r"listens on that port\)$"):
            HealthServer(CollectorRegistry(), Health(), "127.0.0.1", port)


@pytest.mark.parametrize("host, hint", [
    ("no-such-host.invalid", "expected an IP address or a host name that resolves"),
    ("192.0.2.1", "expected an address of this host, 0.0.0.0 or ::"),  # TEST-NET-1
])
def test_an_address_serve_cannot_listen_on_says_what_was_expected(host, hint):
    """Every bind failure said "(another process on the port, or an address this host does
    not have?)", a host name that does not resolve too."""
    from anomaly_gan.errors import ConfigError
    from anomaly_gan.stream.http import check_listen

    with pytest.raises(ConfigError) as info:
        check_listen(host, 0)
    assert str(info.value).startswith(f"serve.http: cannot listen on {host}:0: ")
    assert str(info.value).endswith(f" ({hint})")


def _ipv6_available() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_available(), reason="this host has no IPv6 loopback")
def test_an_ipv6_address_listens_on_ipv6_and_the_any_address_takes_ipv4_too():
    """The server was IPv4 only: on an IPv6-only cluster a pod's probes (to its IPv6
    address) could not connect. '::' is a dual-stack socket where the system allows it."""
    for host, urls in (("::1", ["http://[::1]:{port}/healthz"]),
                       ("::", ["http://[::1]:{port}/healthz", "http://127.0.0.1:{port}/healthz"])):
        srv = HealthServer(CollectorRegistry(), Health(), host, 0).start()
        try:
            for url in urls:
                assert get(url.format(port=srv.port))[0] == 200, (host, url)
        finally:
            srv.stop()


def test_a_connection_that_never_finishes_its_request_is_closed_and_scrapes_go_on():
    """An idle connection (slowloris) held a server thread and a descriptor for ever: 300
    of them made 300 threads. Now each is closed after request_timeout_s, and meanwhile
    the scrape is answered by another thread."""
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0,
                       request_timeout_s=0.2).start()
    try:
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
        assert slow.recv(1024) == b""  # closed by the server, not by this 5 s timeout
        slow.close()
    finally:
        srv.stop()


class ReadClock(Clock):
    """A clock the test moves, which says when the server has first read it."""

    def __init__(self):
        super().__init__()
        self.read = threading.Event()

    def __call__(self):
        self.read.set()
        return self.now


def test_a_connection_that_drips_its_request_is_closed_once_its_time_is_up():
    """A client sending a header line every few seconds (slowloris) never let a wait pass
    request_timeout_s, so the timeout of each wait kept it, and its thread, for as long as
    the request line and 100 lines of 64 KiB took to come. The whole request now has
    request_timeout_s from when the connection was taken; a scrape is served meanwhile."""
    clock = ReadClock()
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0, request_timeout_s=30,
                       clock=clock).start()
    try:
        slow = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        slow.sendall(b"GET /metrics HTTP/1.1\r\n")
        clock.read.wait(5)  # the connection was taken at 100: its deadline is 130
        clock.now = 131.0
        slow.sendall(b"X-More: 1\r\n")  # well within a wait's 30 s, but past the deadline
        assert slow.recv(1024) == b""  # closed by the server, not by this 5 s timeout
        slow.close()
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
    finally:
        srv.stop()


class Huge:
    """A collector whose exposition is far larger than the sockets' buffers."""

    def collect(self):
        from prometheus_client.core import GaugeMetricFamily

        yield GaugeMetricFamily("anomaly_gan_huge", "x" * 32_000_000, value=1)


class Broken:
    def collect(self):
        raise RuntimeError("a collector's bug")


def test_a_client_gone_mid_answer_writes_nothing_and_a_failure_is_one_log_record(capsys,
                                                                                 caplog):
    """socketserver printed a 20-line traceback to stderr, past serve.log_format, for each
    connection reset while its answer was written (a scrape that timed out, anyone dropping
    a connection). A client that goes away is now its own affair; a handler that fails is
    one record through the service's logging."""
    reg = CollectorRegistry()
    reg.register(Huge())
    srv = HealthServer(reg, Health(), "127.0.0.1", 0).start()
    try:
        gone = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        gone.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
        assert gone.recv(100).startswith(b"HTTP/1.0 200")
        gone.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        gone.close()  # a reset, with most of the answer unsent
    finally:
        srv.stop()
    assert capsys.readouterr().err == ""
    assert not caplog.records

    reg = CollectorRegistry()
    reg.register(Broken())
    srv = HealthServer(reg, Health(), "127.0.0.1", 0).start()
    try:
        with pytest.raises((urllib.error.URLError, ConnectionError)):
            get(f"http://127.0.0.1:{srv.port}/metrics")
    finally:
        srv.stop()
    assert capsys.readouterr().err == ""
    assert [(r.name, r.levelname, r.getMessage()) for r in caplog.records] == [
        ("anomaly_gan.stream.http", "ERROR", "HTTP request from 127.0.0.1 failed")]
    assert "a collector's bug" in caplog.text


@pytest.mark.timeout(60)  # a guard: with socketserver's queue of 5 this test hung for minutes
def test_a_burst_of_connections_waits_in_the_queue_while_the_server_is_busy():
    """socketserver queues 5 connections by default: on a busy host a burst (probes, a
    scrape, a slow client at once) lost the rest, their connects timing out. 40 connections
    made while the server takes none (not started yet) all wait, then get their answers."""
    srv = HealthServer(CollectorRegistry(), Health(), port=0)
    socks = []
    try:
        for _ in range(40):
            socks.append(socket.create_connection(("127.0.0.1", srv.port), timeout=5))
        srv.start()
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        for s in socks:
            assert s.recv(64).startswith(b"HTTP/1.0 ")
    finally:
        for s in socks:
            s.close()
        srv.stop()


def _idle(port, n):
    """``n`` connections that start a request and never finish it, 32 at a time, each batch
    taken by the server (a probe answered after it) before the next: more at once overflow
    the kernel's queue, and a connect then waits a second to retry."""
    socks = []
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        socks.append(s)
        if i % 32 == 31:
            assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    return socks


def _closed_by_server(sock, wait=True):
    """Whether the server closed ``sock``: waited for, or (``wait=False``) already."""
    sock.settimeout(5 if wait else 0)
    try:
        return sock.recv(64) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    finally:
        sock.settimeout(5)


def test_a_flood_of_idle_connections_holds_no_threads_and_probes_are_answered():
    """Each connection held a server thread until its 10 s were up: 2,000 idle sockets made
    550 threads on a 2-core host (as many as it took in 10 s), and where threads ran out
    (a pod's pids limit) the probes failed. Now they cost no thread; past MAX_CONNECTIONS
    the oldest are closed, and /healthz is answered meanwhile."""
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0).start()
    threads = threading.active_count()
    socks = _idle(srv.port, 300)  # MAX_CONNECTIONS (256) + 44
    try:
        # answered after the server took every connection before it
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
        assert threading.active_count() == threads
        assert all(_closed_by_server(s) for s in socks[:40])
        assert not any(_closed_by_server(s, wait=False) for s in socks[-8:])
        socks[-1].sendall(b"\r\n")  # the newest ones are still open and answered
        assert socks[-1].recv(64).startswith(b"HTTP/1.0 200")
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_connections_closed_for_the_limit_or_their_deadline_are_counted():
    """anomaly_gan_http_connections_dropped_total{reason}: a new connection past
    max_connections closes the oldest ("limit"); one whose request is not in when its time
    is up is closed ("timeout"); a probe is answered while idle ones fill the limit."""
    clock = ReadClock()
    dropped = []
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0, request_timeout_s=30,
                       clock=clock, max_connections=3, on_dropped=dropped.append).start()
    socks = _idle(srv.port, 3)
    try:
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
        assert _closed_by_server(socks[0]) and dropped == ["limit"]
        clock.now += 31
        assert _closed_by_server(socks[1]) and _closed_by_server(socks[2])
        assert dropped == ["limit", "timeout", "timeout"]
    finally:
        for s in socks:
            s.close()
        srv.stop()


def test_a_restarted_server_takes_the_port_of_its_answered_connections_again():
    """The server closes each connection after its answer, so the port's sockets wait in
    TIME_WAIT for a minute: without SO_REUSEADDR a scorer restarted on the same port exited
    'Address already in use' (the Prometheus end-to-end test's restart)."""
    first = HealthServer(CollectorRegistry(), Health(liveness_timeout_s=10), "127.0.0.1",
                         0).start()
    port = first.port
    assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    first.stop()
    second = HealthServer(CollectorRegistry(), Health(liveness_timeout_s=10), "127.0.0.1",
                          port).start()
    try:
        assert get(f"http://127.0.0.1:{port}/metrics")[0] == 200
    finally:
        second.stop()


def _answer(sock):
    """Everything the server sends on ``sock`` until it closes its side."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def _header_lines(n):
    """``n`` header lines of 1 KB each."""
    return b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(n))


@pytest.mark.parametrize("request_bytes, status, body", [
    (b"GET /metrics HTTP/1.1\r\n" + _header_lines(70) + b"\r\n",
     b"431 Request Header Fields Too Large", b"request head over 65536 bytes\n"),
    (b"GET /metrics HTTP/1.1\r\n" + _header_lines(70),
     b"431 Request Header Fields Too Large", b"request head over 65536 bytes\n"),
    (b"GET /metrics HTTP/1.1\r\nCookie: " + b"a" * 1_000_000,
     b"431 Request Header Fields Too Large", b"request head over 65536 bytes\n"),
    (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
     b"414 Request-URI Too Long", b"request line over 65536 bytes\n"),
    (b"GET /" + b"a" * 70_000,
     b"414 Request-URI Too Long", b"request line over 65536 bytes\n"),
], ids=["70-KB-of-headers", "70-KB-of-headers-unfinished", "1-MB-header-still-sending",
        "70-KB-request-line", "70-KB-request-line-unfinished"])
def test_a_request_head_past_the_limit_is_answered_why_and_closed(request_bytes, status, body):
    """A head past MAX_REQUEST_BYTES that had not ended was closed without a word (curl:
    'Empty reply from server'; a client still sending: a reset), and 70 headers of 1 KB
    each that had ended were served. Now the client reads 414 or 431 with the limit, then
    the connection closes; it is counted, and other connections are served."""
    clock = Clock()
    dropped = []
    srv = HealthServer(CollectorRegistry(), Health(liveness_timeout_s=10, clock=clock),
                       "127.0.0.1", 0, clock=clock, on_dropped=dropped.append).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as big:
            # a send buffer far smaller than 1 MB: sendall waits on the server to read it
            big.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            big.sendall(request_bytes)  # what it sends past its answer is read and dropped
            head, _, answered_body = _answer(big).partition(b"\r\n\r\n")
        assert head.split(b"\r\n")[0] == b"HTTP/1.0 " + status
        assert b"\r\nConnection: close" in head and b"\r\nContent-Type: text/plain" in head
        assert answered_body == body
        assert dropped == ["too_large"]
        assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
    finally:
        srv.stop()


def test_a_refused_connection_is_counted_once():
    """A refused connection, its answer read but left open, is the oldest when a new one
    comes past max_connections: it is closed, and not counted again as "limit"."""
    dropped = []
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0, max_connections=1,
                       on_dropped=dropped.append).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as big:
            big.sendall(b"GET /" + b"a" * 70_000)
            assert _answer(big).startswith(b"HTTP/1.0 414 ")
            assert get(f"http://127.0.0.1:{srv.port}/healthz")[0] == 200
        assert dropped == ["too_large"]
    finally:
        srv.stop()


def test_a_refused_client_that_goes_on_sending_is_closed_once_its_time_is_up():
    """What a refused client sends after its answer is read away for request_timeout_s at
    most: then the server closes it (its next sends fail), without counting it again."""
    clock = Clock()
    dropped = []
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0, request_timeout_s=10,
                       clock=clock, on_dropped=dropped.append).start()
    try:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as big:
            big.sendall(b"GET /" + b"a" * 70_000)
            assert _answer(big).startswith(b"HTTP/1.0 414 ")
            big.sendall(b"a" * 70_000)  # still read: the answer went out at 100, until 110
            clock.now = 111.0
            with pytest.raises((BrokenPipeError, ConnectionResetError)):
                for _ in range(100_000):  # the server's next turn closes it (a reset)
                    big.sendall(b"a" * 1024)
        assert dropped == ["too_large"]
    finally:
        srv.stop()


def test_a_body_does_not_count_toward_the_head_limit():
    """A head of 60 KB and a body after it, more than MAX_REQUEST_BYTES together: the head
    is within the limit, so the request is answered as before (GET only: 501 for a POST)."""
    dropped = []
    srv = HealthServer(CollectorRegistry(), Health(), "127.0.0.1", 0,
                       on_dropped=dropped.append).start()
    try:
        head = (b"POST /metrics HTTP/1.1\r\nContent-Length: 10000\r\n"
                + _header_lines(60) + b"\r\n")
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as post:
            post.sendall(head + b"x" * 10_000)
            assert _answer(post).startswith(b"HTTP/1.0 501 ")
        assert dropped == []
    finally:
        srv.stop()


@pytest.mark.parametrize("path", ["/metrics", "/healthz", "/readyz", "/nope"])
def test_a_head_request_is_answered_as_get_without_the_body(server, path):
    """HEAD (curl -I, uptime monitors that check a URL without its body) was '501
    Unsupported method' in HTML; it is now GET's status and headers, with no body after
    them, Content-Length that of GET's body."""
    srv, _, _ = server

    def ask(method):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as sock:
            sock.sendall(b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method, path.encode()))
            head, _, body = _answer(sock).partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        headers = dict(line.split(b": ", 1) for line in lines[1:])
        return lines[0], headers, body

    get_status, get_headers, get_body = ask(b"GET")
    head_status, head_headers, head_body = ask(b"HEAD")
    assert head_status == get_status
    assert head_body == b""
    assert head_headers[b"Content-Type"] == get_headers[b"Content-Type"]
    assert head_headers[b"Content-Length"] == get_headers[b"Content-Length"] \
        == str(len(get_body)).encode()


@pytest.mark.parametrize("accept_encoding, gzipped", [
    ("gzip", True), ("deflate, GZIP;q=1.0", True), ("identity", False), (None, False)])
def test_metrics_are_gzipped_for_a_scraper_that_accepts_it(server, accept_encoding, gzipped):
    """Prometheus asks with Accept-Encoding: gzip, and prometheus_client's own server
    compresses then; /metrics was always plain. /healthz and /readyz stay plain."""
    import gzip

    srv, _, _ = server
    request = urllib.request.Request(f"http://127.0.0.1:{srv.port}/metrics")
    if accept_encoding is not None:
        request.add_header("Accept-Encoding", accept_encoding)
    with urllib.request.urlopen(request, timeout=5) as answer:
        encoding, body = answer.headers["Content-Encoding"], answer.read()
        assert int(answer.headers["Content-Length"]) == len(body)
    assert encoding == ("gzip" if gzipped else None)
    text = gzip.decompress(body) if gzipped else body
    assert b"anomaly_gan_events_consumed_total 3.0" in text
    probe = urllib.request.Request(f"http://127.0.0.1:{srv.port}/healthz",
                                   headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(probe, timeout=5) as answer:
        assert answer.headers["Content-Encoding"] is None and json.loads(answer.read())["ok"]
