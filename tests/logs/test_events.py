import json
from datetime import UTC, datetime

import pytest

from anomaly_gan.config import JsonFieldsConfig, LogsConfig
from anomaly_gan.logs.events import LogEvent, LogParser, Multiline
from anomaly_gan.stream.events import InvalidEvent
from tests.logs.conftest import SYSLOG_REGEX


def test_json_lines():
    p = LogParser(format="json", max_bytes=200)
    ev = p.parse(json.dumps({"entity": "checkout-svc", "ts": "2026-01-01T00:00:10Z",
                             "level": "error", "message": "boom"}).encode())
    assert ev == LogEvent("checkout-svc", 1767225610.0, "ERROR", "boom")
    assert p.parse(b'{"entity": "a", "ts": 5, "message": "m"}').level == ""


def test_a_null_level_or_entity_is_a_field_left_out():
    """Serializers write null for a field they have no value for (a Go *string, Python's
    None, a shipper's unmapped field); such lines went to the DLQ as missing_field, and
    with bad_lines: error a file of them stopped train."""
    p = LogParser(format="json", entity="svc")
    ev = p.parse(b'{"entity": null, "ts": 5, "level": null, "message": "m"}')
    assert ev == LogEvent("svc", 5.0, "", "m")
    assert LogParser(format="json").parse(b'{"entity": null, "ts": 5, "message": "m"}').reason \
        == "missing_field"
    assert p.parse(b'{"ts": 5, "level": true, "message": "m"}').reason == "missing_field"
    assert p.parse(b'{"ts": 5, "level": [], "message": "m"}').reason == "missing_field"


def test_a_log_entity_may_join_several_fields():
    """Fluent Bit's Kubernetes metadata: with the pod name alone, staging's web-0 and shop's
    web-0 were one entity, their lines counted into one bucket series."""
    p = LogParser(format="json", entity="svc", max_entity_bytes=16, json_fields=JsonFieldsConfig(
        message="log", ts="time", entity=("kubernetes.namespace_name", "kubernetes.pod_name")))

    def line(**k8s):
        return json.dumps({"log": "GET /", "time": 5, "kubernetes": k8s}).encode()

    assert [p.parse(line(namespace_name=ns, pod_name="web-0")).entity
            for ns in ("shop", "staging")] == ["shop/web-0", "staging/web-0"]
    assert p.parse(line()).entity == "svc"  # none of them: logs.entity, as a single field
    # a '/' inside a value is escaped: ("a/b", "c") and ("a", "b/c") are two entities
    assert [p.parse(line(namespace_name=ns, pod_name=pod)).entity
            for ns, pod in (("a/b", "c"), ("a", "b/c"))] == ["a%2Fb/c", "a/b%2Fc"]
    assert p.parse(line(pod_name="web-0")) == InvalidEvent(
        "missing_field", "'kubernetes.namespace_name' must be a non-empty string")
    assert p.parse(line(namespace_name="shop", pod_name="w" * 12)) == InvalidEvent(
        "oversized", "'kubernetes.namespace_name/kubernetes.pod_name' is 17 bytes > "
        "max_entity_bytes 16")


@pytest.mark.parametrize("entity", ["kubernetes.pod_name",
                                    ("kubernetes.namespace_name", "kubernetes.pod_name")])
def test_a_record_without_its_entity_fields_and_no_logs_entity_is_a_missing_field(entity):
    """A node's raw container file read with the docs' Fluent Bit fields (no kubernetes
    metadata in it), and no logs.entity: with a list of fields the parser raised TypeError
    (train stopped with a traceback; serve dead-lettered every record as unprocessable and
    logged a traceback each); with one field the detail said the field 'must be a non-empty
    string', as for a wrong value, with nothing on the fields the record has."""
    p = LogParser(format="json", json_fields=JsonFieldsConfig(
        message="log", ts="time", entity=entity))
    raw = b'{"log": "GET /\\n", "stream": "stdout", "time": "2026-12-05T10:00:01Z"}'
    names = " or ".join(map(repr, [entity] if isinstance(entity, str) else entity))
    assert p.parse(raw) == InvalidEvent(
        "missing_field", f"no {names} field and no logs.entity for records without it "
        "(logs.json_fields.entity names the field; the record's fields: 'log', 'stream', "
        "'time')")
    assert LogParser(format="json", entity="checkout", json_fields=p.fields).parse(
        raw).entity == "checkout"


def test_a_record_s_one_entity_field_is_looked_up_once(monkeypatch):
    """serve's per-record path: the check for a record without its entity field (86d74f3)
    looked the field up, then looked it up again to read it: a JSON record parsed about a
    fifth slower (2.9 -> 3.45 us). One lookup per field; what is read is unchanged."""
    from anomaly_gan.logs import events

    looked: list[str] = []
    real = events.json_field

    def counting(obj, name):
        looked.append(name)
        return real(obj, name)

    monkeypatch.setattr(events, "json_field", counting)
    p = LogParser(format="json", json_fields=JsonFieldsConfig(entity="host.name"))
    ev = p.parse(b'{"ts": 5, "level": "INFO", "message": "m", "host": {"name": 7}}')
    assert (ev.entity, ev.level, ev.message) == ("7", "INFO", "m")
    assert looked.count("host.name") == 1
    assert p.parse(b'{"ts": 5, "message": "m", "host": {"name": ""}}').detail == \
        "'host.name' must be a non-empty string"


def test_a_numeric_level_out_of_every_range_reads_as_written_and_briefly():
    """A float level that is a whole number was turned into an int to look it up: 1e308
    became a 309-digit level (not "as written", and as long in the error-levels note). A
    NaN or infinite level is refused as no finite number, not as no number."""
    p = LogParser(format="json", entity="svc")
    assert p.parse(b'{"ts": 5, "level": 1e308, "message": "m"}').level == "1E+308"
    assert p.parse(b'{"ts": 5, "level": 60.0, "message": "m"}').level == "FATAL"
    for raw in (b"NaN", b"Infinity", b"1e400"):
        bad = p.parse(b'{"ts": 5, "level": %s, "message": "m"}' % raw)
        assert bad.detail == "'level' must be a string or a finite number", raw


def test_json_fields_read_pino_ecs_docker_and_journald_records():
    """Structured loggers name their fields otherwise (pino and bunyan: msg, time, a numeric
    level; ECS: @timestamp, a flat log.level; Docker's json-file: log, time; journald:
    MESSAGE, PRIORITY as a digit string). With the fixed names every such record was a
    missing_field: none of a Node service's lines could be read. logs.json_fields names
    them, with dotted paths into nested objects."""
    from anomaly_gan.config import JsonFieldsConfig

    def parser(**names):
        return LogParser(format="json", entity="svc", json_fields=JsonFieldsConfig(**names))

    pino = parser(message="msg", ts="time", entity="hostname")
    ev = pino.parse(b'{"level":50,"time":1767225600123,"pid":7,"hostname":"web-1",'
                    b'"msg":"payment failed"}')
    assert ev == LogEvent("web-1", 1767225600.123, "ERROR", "payment failed")
    assert pino.parse(b'{"level":30,"time":1767225600000,"msg":"up","hostname":7}').entity == "7"
    ecs = parser(ts="@timestamp", level="log.level", entity="service.name")
    ev = ecs.parse(b'{"@timestamp":"2026-01-01T00:00:00.5Z","log.level":"warn",'
                   b'"message":"slow query","service":{"name":"orders"}}')
    assert ev == LogEvent("orders", 1767225600.5, "WARN", "slow query")
    k8s = parser(message="log", ts="time", entity="kubernetes.pod_name")
    ev = k8s.parse(b'{"log":"boom\\n","stream":"stderr","time":"2026-01-01T00:00:01Z",'
                   b'"kubernetes":{"pod_name":"api-7f9c"}}')
    assert (ev.entity, ev.message, ev.level) == ("api-7f9c", "boom", "")
    journald = parser(message="MESSAGE", level="PRIORITY", ts="__REALTIME_TIMESTAMP",
                      entity="_HOSTNAME")
    ev = journald.parse(b'{"MESSAGE":"disk full","PRIORITY":"3","_HOSTNAME":"db-2",'
                        b'"__REALTIME_TIMESTAMP":"1767225600500000"}')  # epoch microseconds
    assert ev == LogEvent("db-2", 1767225600.5, "ERR", "disk full")
    # A missing field is named as configured, with the fields the record has.
    bad = pino.parse(b'{"level":30,"time":5,"message":"m"}')
    assert bad.reason == "missing_field"
    assert bad.detail.startswith("'msg' must be a string (logs.json_fields.message names the "
                                 "field; the record's fields: 'level', 'time', 'message')")
    assert pino.parse(b'{"level":30,"msg":"m"}').detail == "'time' is missing"
    assert pino.parse(b'{"time":"noon","msg":"m"}').detail.startswith("'time' 'noon' is not ")
    # The default names are as before.
    assert LogParser(format="json").parse(b'{"entity":"a","ts":5,"message":"m"}') \
        == LogEvent("a", 5.0, "", "m")


def test_json_rejections_carry_a_reason():
    p = LogParser(format="json", max_bytes=60)
    assert p.parse(b"\xff\xfe not utf-8").reason == "not_utf8"
    assert p.parse(b'{"entity": "a", "ts": 1, "message": "' + b"x" * 80 + b'"}').reason \
        == "oversized"
    assert p.parse(b"{nope").reason == "bad_json"
    assert p.parse(b"[1]").reason == "not_object"
    assert p.parse(b'{"entity": "a", "ts": 1}').reason == "missing_field"
    assert p.parse(b'{"ts": 1, "message": "m"}').reason == "missing_field"
    assert p.parse(b'{"entity": "a", "message": "m"}').reason == "missing_field"
    assert p.parse(b'{"entity": "a", "ts": "soon", "message": "m"}').reason == "bad_timestamp"
    assert LogParser(format="json", entity="svc").parse(b'{"ts": 1, "message": "m"}').entity \
        == "svc"


def test_a_json_record_nested_too_deeply_is_bad_json_not_an_error():
    """40 KB of nested arrays, under max_event_bytes: json raised RecursionError, which
    stopped `score` and `train` with a traceback and reached `serve` as `unprocessable`,
    logged as a bug."""
    p = LogParser(format="json")
    deep = b'{"entity": "a", "ts": 1, "message": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert len(deep) < p.max_bytes
    bad = p.parse(deep)
    assert (bad.reason, bad.detail) == ("bad_json", "JSON nested too deeply")


def test_regex_lines():
    p = LogParser(format="regex", regex=SYSLOG_REGEX)
    ev = p.parse(b"2026-01-01T00:00:10.500Z checkout-svc WARN slow query 1200 ms\n")
    assert ev == LogEvent("checkout-svc", 1767225610.5, "WARN", "slow query 1200 ms")
    assert p.parse(b"garbage").reason == "no_match"
    assert p.parse(b"2026-01-01T00:00:10Z ERROR no entity here").reason == "missing_field"
    assert p.parse(b"yesterday web ERROR x").reason == "bad_timestamp"


def test_a_multi_line_record_is_one_event_templated_by_its_first_line():
    # What a log shipper's multiline setting sends: an error joined to its stack trace.
    # Matched whole, the regex's .* stopped at the line break and the record was no_match.
    p = LogParser(format="regex", regex=SYSLOG_REGEX)
    ev = p.parse(b"2026-01-01T00:00:10Z checkout-svc ERROR payment failed\r\n"
                 b"java.lang.NullPointerException: card\n\tat Pay.run(Pay.java:42)\n")
    assert ev == LogEvent("checkout-svc", 1767225610.0, "ERROR", "payment failed",
                          "java.lang.NullPointerException: card\n\tat Pay.run(Pay.java:42)")
    assert ev.example() == ("payment failed\njava.lang.NullPointerException: card\n"
                          "\tat Pay.run(Pay.java:42)")
    # The first line still has to match: a record that starts with a trace line does not.
    assert p.parse(b"\tat Pay.run(Pay.java:42)\n2026-01-01T00:00:10Z a ERROR x").reason \
        == "no_match"
    j = LogParser(format="json").parse(json.dumps(
        {"entity": "a", "ts": 1, "message": "payment failed\r\n\tat Pay.run(Pay.java:42)"}
    ).encode())
    assert (j.message, j.continuation) == ("payment failed", "\tat Pay.run(Pay.java:42)")
    # both formats split alike, and as a log file's lines split (a lone \r ends a line too)
    for text, want in (("\nboom", ("boom", "")), ("a\nb\r\n", ("a", "b")),
                       ("x\rmore", ("x", "more"))):
        ev = LogParser(format="json").parse(json.dumps(
            {"entity": "a", "ts": 1, "message": text}).encode())
        assert (ev.message, ev.continuation) == want
        ev = p.parse(f"2026-01-01T00:00:10Z a ERROR {text.lstrip()}".encode())
        assert (ev.message, ev.continuation) == want
    single = LogParser(format="json").parse(b'{"entity": "a", "ts": 1, "message": "m"}')
    assert single.continuation == "" and single.example() == "m"


JAVA_TRACE = ["java.lang.IllegalStateException: no session for cart 42",
              "\tat shop.Cart.add(Cart.java:42)",
              "\tat shop.Api.post(Api.java:7)",
              "Caused by: java.io.IOException: connection reset",
              "\t... 12 more",
              'Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',
              "at shop.Main.run(Main.java:3)"]  # a frame whose indentation a shipper trimmed
PYTHON_TRACE = ["Traceback (most recent call last):",
                '  File "/app/pay.py", line 12, in charge',
                "    raise ValueError(card)",
                "ValueError: card 4242 declined",
                "During handling of the above exception, another exception occurred:",
                "Traceback (most recent call last):",
                '  File "/app/api.py", line 3, in post',
                "psycopg2.errors.UniqueViolation: duplicate key"]
GO_TRACE = ["panic: runtime error: index out of range [5] with length 3 [recovered]",
            "\tpanic: close of closed channel",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]",
            "goroutine 1 [running]:",
            "main.(*Server).handle(0x0, {0xc000012345, 0x5})",
            "\t/app/server.go:42 +0x1c",
            "panic({0x4a2b3c?, 0x5c1d20?})",
            "\t/usr/local/go/src/runtime/panic.go:770 +0x132",
            "main.Map[...](...)",
            "\t/app/map.go:3",
            "...12 frames elided...",
            "main.main()",
            "\t/app/main.go:17 +0x65",
            "goroutine 7 [chan receive, 3 minutes]:",
            "net/http.(*conn).serve(0xc0001a2000, {0x7a1b20, 0xc00012c000})",
            "\t/usr/local/go/src/net/http/server.go:2039 +0x3f1",
            "...additional frames elided...",
            "created by net/http.(*Server).Serve in goroutine 1",
            "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4",
            "fatal error: all goroutines are asleep - deadlock!",
            "runtime stack:",
            "runtime.throw({0x1010f2717?, 0x200000001?})",
            "\t/usr/local/go/src/runtime/panic.go:1023 +0x40 fp=0x17070ed50 sp=0x17070ed20",
            "goroutine 21 gp=0x14000003880 m=4 mp=0x14000063b08 [running]:",
            "created by main.start",
            "\t/app/main.go:9 +0x2a",
            "exit status 2"]


@pytest.mark.parametrize("trace", [JAVA_TRACE, PYTHON_TRACE, GO_TRACE])
def test_every_line_of_a_java_python_or_go_trace_continues_the_event(trace):
    m = Multiline()
    m.event()
    assert [line for line in trace if not m.continues(line)] == []


def test_a_root_cause_first_java_trace_continues_the_event():
    """Logback's and Log4j 2's %rEx (root cause first) write each outer exception after a
    "Wrapped by: " where %ex writes the inner one after "Caused by: ". The line was a bad
    line: with logs.bad_lines: error (the default) train stopped at it, and with skip it
    and every frame after it (a continuation line after a bad line has no event to join)
    were left out, the error's trace cut at its first wrapper."""
    trace = ["java.net.ConnectException: Connection refused",
             "\tat java.base/sun.nio.ch.Net.connect0(Native Method)",
             ("Wrapped by: org.springframework.web.client.ResourceAccessException: I/O error "
              'on GET request for "http://inventory:8080/stock": Connection refused'),
             "\tat org.springframework.web.client.RestTemplate.doExecute(RestTemplate.java:785)",
             "\t... 3 common frames omitted"]
    m = Multiline()
    m.event()
    assert [line for line in trace if not m.continues(line)] == []
    p = LogParser(format="regex", regex=SYSLOG_REGEX)
    text = "\n".join(["2026-01-01T00:00:10Z a ERROR stock lookup failed", *trace])
    [ev] = p.parse_many(text.encode())
    assert (ev.message, ev.continuation) == ("stock lookup failed", "\n".join(trace))


@pytest.mark.parametrize("line", [
    "java.lang.Exception: boom",  # log.error("x", new Exception(...))
    "java.lang.Throwable: who called",
    "Error: ENOENT: no such file or directory",  # Node's base Error
    "Error [ERR_MODULE_NOT_FOUND]: Cannot find module 'x'",
    "Exception in thread Thread-1 (worker):",  # Python's threading, no quotes
    "Stack (most recent call last):",  # Python logging's stack_info=True
])
def test_a_trace_that_starts_with_a_base_exception_continues_the_event(line):
    """The exception line of the base classes (java.lang.Exception, Node's Error) was no
    continuation: train stopped on an ordinary log with bad_lines: error, and with skip the
    trace's frames were dropped after it."""
    m = Multiline()
    m.event()
    assert m.continues(line)


@pytest.mark.parametrize("line", [
    "2026-01-01T00:00:0",  # an event cut short
    "2026-01-01 00:00:05 web INFO a time in another format",
    "=== checkout-svc 4.2.1 starting ===",  # a banner
    "Warning: disk nearly full",  # not an exception's name
    "at least one retry failed",  # not a frame
])
def test_a_line_that_is_no_part_of_a_trace_does_not_continue_an_event(line):
    """Joined, a line cut short or a banner would be hidden in the example text of the
    event before it, where logs.bad_lines should stop at it or count it."""
    m = Multiline()
    m.event()
    assert not m.continues(line)


@pytest.mark.parametrize("line", [
    "goroutine 1 [running]:",  # Go's log.Printf("...%s", debug.Stack()), net/http's panic
    "panic: assignment to entry in nil map",  # a crash after the service's last event
    "fatal error: concurrent map writes",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]",
])
def test_the_lines_that_start_a_go_trace_continue_the_event(line):
    """Only a Go trace's indented file lines were joined: its panic, header and function
    lines were bad lines, so with bad_lines: error one Go crash or logged stack stopped train
    (with skip its lines were left out, where serve gets them in the event's record)."""
    m = Multiline()
    m.event()
    assert m.continues(line)


@pytest.mark.parametrize("line", [
    "main.main()",  # shaped like a Go call, but no goroutine's trace is open
    "net/http.(*conn).serve(0xc0001a2000)",
    "created by the platform team",
    "exit status 2",
    "goroutine leak detected in worker pool",
    "panic attack averted",  # no "panic: "
    "[signal handler installed]",
])
def test_a_go_trace_line_outside_a_trace_is_no_continuation(line):
    """A Go function call, "created by" and "exit status" lines join only inside a
    goroutine's trace: after an event alone they could be anything."""
    m = Multiline()
    m.event()
    assert not m.continues(line)


def test_a_go_trace_ends_with_exit_status_and_at_a_new_event():
    m = Multiline()
    m.event()
    assert m.continues("goroutine 1 [running]:") and m.continues("main.main()")
    assert m.continues("exit status 2") and not m.continues("main.main()")
    assert m.continues("goroutine 1 [running]:")
    m.event()
    assert not m.continues("main.main()")
    # a Java or Python line in between closes the goroutine's trace too
    assert m.continues("goroutine 1 [running]:") and m.continues("Caused by: x")
    assert not m.continues("main.main()")


def test_an_exception_line_without_an_error_name_ends_a_python_traceback_only():
    m = Multiline()
    m.event()
    assert not m.continues("KeyboardInterrupt")  # no traceback open
    assert m.continues("Traceback (most recent call last):")
    assert m.continues('  File "/app/main.py", line 9, in <module>')
    assert m.continues("KeyboardInterrupt")
    assert not m.continues("KeyboardInterrupt")  # the traceback ended with it


def test_an_example_is_cut_to_a_bounded_length():
    from anomaly_gan.logs.events import EXAMPLE_CHARS

    ev = LogEvent("a", 1.0, "ERROR", "boom", "\tat x\n" * 10_000)
    assert len(ev.example()) < EXAMPLE_CHARS + 40
    assert ev.example().startswith("boom\n\tat x") and ev.example().endswith("characters]")


def test_regex_with_a_timestamp_format_and_a_default_entity():
    p = LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<message>.*)$",
                  timestamp_format="%Y-%m-%d %H:%M:%S", entity="app")
    assert p.parse("2026-01-01 00:00:10 started").ts == 1767225610.0
    assert p.parse("2026/01/01 00:00:10 started").reason == "bad_timestamp"


def test_a_stamp_in_another_format_names_logs_timestamp_format():
    """Loghub's Spark writes '17/06/09 20:10:40': a regex config without a timestamp_format
    stopped at line 1 saying only that it is not RFC 3339, not where another format goes."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<message>.*)$", entity="app")
    bad = p.parse("17/06/09 20:10:40 INFO executor started")
    assert bad.reason == "bad_timestamp"
    assert bad.detail == ("'ts' '17/06/09 20:10:40' is not RFC 3339 or epoch s, ms, us or ns "
                          "(another format: logs.timestamp_format)")
    # a JSON number out of range: a strptime format cannot read it, so none is suggested
    bad = LogParser(format="json", entity="app").parse(b'{"ts": 1e30, "message": "m"}')
    assert bad.detail == "'ts' 1e+30 is not RFC 3339 or epoch s, ms, us or ns"


def test_stamps_without_an_offset_are_read_in_logs_timezone():
    """Syslog and most application logs write local time: read as UTC, a host at UTC+8
    had its last 8 hours of lines dropped as stamped in the future."""
    from anomaly_gan.config import zone_of

    def parser(zone):
        return LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<message>.*)$",
                         timestamp_format="%Y-%m-%d %H:%M:%S", entity="app", tz=zone_of(zone))
    assert parser("+08:00").parse("2026-01-01 08:00:10 started").ts == 1767225610.0
    # Daylight saving time follows the date in a named zone: +01:00 in January, +02:00 in July.
    berlin = parser("Europe/Berlin")
    assert berlin.parse("2026-01-01 01:00:10 started").ts == 1767225610.0
    assert berlin.parse("2026-07-01 02:00:00 started").ts == 1782864000.0
    # A stamp with its own offset keeps it.
    fixed = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<message>.*)$",
                      timestamp_format="%Y-%m-%dT%H:%M:%S%z", entity="app", tz=zone_of("+08:00"))
    assert fixed.parse("2026-01-01T00:00:10+0000 started").ts == 1767225610.0


@pytest.mark.parametrize("fmt", ["%Y-%m-%d %H:%M:%S", "%b %d %H:%M:%S"])
def test_the_hour_repeated_when_clocks_go_back_follows_the_lines_order(fmt):
    """In a named zone the hour the clocks go back (Berlin, 25 October 2026, 03:00 CEST ->
    02:00 CET) comes twice. Its second pass was read as the first, an hour back, so a
    service's lines of that hour were late for serve's buckets and out of order for train
    and score, once a year in every zone with summer time. The reading nearest the stamp
    read last is taken (LogParser._local): the lines' order tells the two passes apart, and a line of
    the first pass that comes a few minutes late is still read in it."""
    from anomaly_gan.config import zone_of

    berlin = zone_of("Europe/Berlin")
    parts = fmt.count(" ") + 1
    p = LogParser(format="regex", regex=rf"^(?P<ts>\S+(?: \S+){{{parts - 1}}}) (?P<message>.*)$",
                  timestamp_format=fmt, entity="app", tz=berlin)
    p.clock = lambda: datetime(2026, 10, 25, 6, tzinfo=UTC).timestamp()  # a year-less year

    def at(utc_minutes):  # the line stamped at 00:00 UTC + minutes, in Berlin's wall time
        t = datetime(2026, 10, 25, tzinfo=UTC).timestamp() + utc_minutes * 60
        return t, datetime.fromtimestamp(t, berlin).strftime(fmt)

    # 02:50 CEST (00:50 UTC) on, every 10 minutes, to 03:20 CET (02:20 UTC): 02:00-02:50
    # twice
    lines = [at(m) for m in range(50, 150, 10)]
    assert [p.parse(f"{stamp} up").ts for _, stamp in lines] == [t for t, _ in lines]
    # read up to 02:05 CET (01:05 UTC), a line of 02:58 CEST (00:58 UTC) coming late
    q = LogParser(format="regex", regex=p.pattern.pattern, timestamp_format=fmt,
                  entity="app", tz=berlin)
    q.clock = p.clock
    for t, stamp in [at(55), at(62), at(65)]:
        assert q.parse(f"{stamp} up").ts == t
    t, stamp = at(58)
    assert q.parse(f"{stamp} up").ts == t
    # a fixed offset has no repeated hour
    assert LogParser(format="regex", regex=p.pattern.pattern, timestamp_format=fmt,
                     entity="app", tz=zone_of("+01:00")).parse(
        f"{at(130)[1]} up").ts == at(130)[0]


def test_lines_without_time_are_fine_when_counting_per_n_lines():
    p = LogParser(format="regex", regex=r"^(?P<message>.*)$", entity="bgl", need_ts=False)
    assert p.parse("anything").ts is None
    assert LogParser(format="regex", regex=r"^(?P<message>.*)$", entity="bgl").parse(
        "anything").reason == "missing_field"


def test_entity_ids_over_the_limit_are_oversized_in_both_formats():
    long = "svc-" + "x" * 40
    p = LogParser(format="json", max_entity_bytes=16)
    got = p.parse(json.dumps({"entity": long, "ts": 1, "message": "m"}).encode())
    assert got.reason == "oversized" and "max_entity_bytes 16" in got.detail
    p = LogParser(format="regex", regex=SYSLOG_REGEX, max_entity_bytes=16)
    assert p.parse(f"2026-01-01T00:00:10Z {long} WARN slow".encode()).reason == "oversized"
    assert p.parse(b"2026-01-01T00:00:10Z short-svc WARN slow").entity == "short-svc"


def test_a_lines_and_its_entitys_sizes_are_utf8_bytes_not_characters():
    """max_event_bytes and max_entity_bytes count UTF-8 bytes, as a Kafka record's size
    does: text of non-ASCII letters is refused at fewer characters than ASCII text."""
    p = LogParser(format="regex", regex=SYSLOG_REGEX, max_bytes=60, max_entity_bytes=16)
    line = "2026-01-01T00:00:10Z {} WARN {}"
    assert p.parse(line.format("köln-" + "x" * 10, "x" * 17)).entity == "köln-" + "x" * 10
    assert p.parse(line.format("k" + "ö" * 8, "slow")) == InvalidEvent(  # 9 characters
        "oversized", "'entity' is 17 bytes > max_entity_bytes 16")
    assert p.parse(line.format("web", "x" * 30)).message == "x" * 30  # 60 bytes
    assert p.parse(line.format("web", "é" * 30)) == InvalidEvent(  # 60 characters, 90 bytes
        "oversized", "line longer than max_event_bytes 60")


def test_entity_ids_with_control_characters_are_bad_entities_in_both_formats():
    """A coloured log's escape codes or an id with a line break would reach alerts, text
    logs and CSV files as they stand."""
    p = LogParser(format="json")
    for entity in ("web\n2026-01-01 ERROR forged", "web\u2028", "\ud800"):
        got = p.parse(json.dumps({"entity": entity, "ts": 1, "message": "m"}).encode())
        assert got.reason == "bad_entity", entity
    coloured = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$")
    got = coloured.parse(b"2026-01-01T00:00:10Z \x1b[36mweb\x1b[0m GET /")
    assert got.reason == "bad_entity" and "U+001B" in got.detail
    default = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<message>.*)$", entity="web\t1")
    assert default.parse(b"2026-01-01T00:00:10Z GET /").reason == "bad_entity"
    assert coloured.parse(b"2026-01-01T00:00:10Z web GET /").entity == "web"
    # The detail names the record's field the id came from (logs.json_fields.entity)
    pino = LogParser(format="json", json_fields=JsonFieldsConfig(entity="hostname"))
    got = pino.parse(b'{"hostname": "web\\u001b[0m", "ts": 1, "message": "m"}')
    assert got.reason == "bad_entity" and got.detail.startswith("'hostname' 'web\\x1b[0m' holds")
    got = pino.parse(json.dumps({"hostname": "w" * 600, "ts": 1, "message": "m"}).encode())
    assert got.detail == "'hostname' is 600 bytes > max_entity_bytes 512"


def test_timestamps_with_unicode_digits_are_bad_timestamps_not_errors():
    """str.isdigit() holds for "²³": float() then raised, a traceback offline and a record
    that stopped the service."""
    regex = LogParser(format="regex", regex=SYSLOG_REGEX)
    for ts in ("²³", "١٧٦٧٢٢٥٦٠٠", "1.²"):
        assert regex.parse(f"{ts} web INFO hello".encode()).reason == "bad_timestamp"
    p = LogParser(format="json")
    assert p.parse(json.dumps({"entity": "web", "ts": "²", "message": "m"}).encode()).reason \
        == "bad_timestamp"
    assert p.parse(b'{"entity": "web", "ts": "1767225600.5", "message": "m"}').ts \
        == 1767225600.5


def test_a_line_stamped_past_the_allowed_skew_is_a_future_timestamp():
    p = LogParser(format="regex", regex=SYSLOG_REGEX)
    p.not_after = 1767225600.0 + 300.0
    assert p.parse(b"2026-01-01T00:05:00Z web INFO in time").message == "in time"
    got = p.parse(b"2099-01-01T00:00:00Z web INFO ahead")
    assert got.reason == "future_timestamp" and "2099-01-01T00:00:00Z" in got.detail


def test_a_lone_surrogate_in_a_json_message_becomes_a_replacement_character():
    """A UTF-16 string cut in half: the message could not be written to a CSV or UTF-8 file."""
    ev = LogParser(format="json").parse(b'{"entity": "web", "ts": 1, "message": "a \\ud800 b"}')
    assert ev.message == "a \ufffd b"
    ev.message.encode("utf-8")


def test_syslog_stamps_without_a_year_take_the_latest_year_not_ahead_of_the_clock():
    """RFC 3164 syslog ("Dec  4 16:53:23 host sshd[812]: ...") has no year: it is the one
    that puts the line at most a day ahead of the clock, so December read in January is the
    year before (strptime alone said 1900)."""
    from datetime import UTC, datetime

    p = LogParser(format="regex", regex=r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) "
                                        r"(?P<message>.*)$", timestamp_format="%b %d %H:%M:%S")
    assert p.infer_year

    def stamp(line: str, now: str) -> str:
        p.clock = lambda: datetime.fromisoformat(now).timestamp()
        ev = p.parse(line)
        return datetime.fromtimestamp(ev.ts, UTC).isoformat()

    line = "Dec  4 16:53:23 bastion sshd[812]: Accepted publickey for ops"
    assert stamp(line, "2026-12-04T16:53:30+00:00") == "2026-12-04T16:53:23+00:00"
    assert stamp(line, "2027-01-02T08:00:00+00:00") == "2026-12-04T16:53:23+00:00"
    assert stamp(line, "2026-12-03T20:00:00+00:00") == "2026-12-04T16:53:23+00:00"  # skew
    assert stamp(line, "2026-12-01T00:00:00+00:00") == "2025-12-04T16:53:23+00:00"
    new_year = "Jan  1 00:00:05 bastion cron[1]: happy new year"  # a clock a little behind
    assert stamp(new_year, "2026-12-31T23:59:59+00:00") == "2027-01-01T00:00:05+00:00"
    assert stamp(new_year, "2027-01-01T00:01:00+00:00") == "2027-01-01T00:00:05+00:00"
    leap = "Feb 29 00:00:01 bastion cron[1]: job ran"
    assert stamp(leap, "2027-03-01T00:00:00+00:00") == "2024-02-29T00:00:01+00:00"
    assert p.parse("Feb 30 00:00:01 bastion cron[1]: job ran").reason == "bad_timestamp"
    with_year = LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<entity>\S+) "
                                                r"(?P<message>.*)$",
                          timestamp_format="%Y-%m-%d %H:%M:%S")
    assert not with_year.infer_year


def test_day_366_of_a_year_of_365_is_no_date():
    """strptime rolls %j 366 into 1 January of the next year: the same time as day 001."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\d+ [\d:]+) (?P<entity>\S+) (?P<message>.*)$",
                  timestamp_format="%j %H:%M:%S")
    p.clock = lambda: 1_798_000_000.0  # 2026-12-23: 2026 and 2025 have 365 days, 2024 366
    from datetime import UTC, datetime

    ev = p.parse("366 12:00:00 host job ran")
    assert datetime.fromtimestamp(ev.ts, UTC).date().isoformat() == "2024-12-31"


def test_a_numeric_event_sent_to_a_regex_logs_model_says_so():
    """docs/runbook.md: a numeric event sent to a logs model says so. With format: regex
    (and auto, which picks a regex) it was only "line does not match logs.regex: '{...}'"."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\d\S+) (?P<entity>\S+) (?P<message>.*)$")
    bad = p.parse(json.dumps({"entity": "e", "ts": 5, "values": {"a": 1.0}}).encode())
    assert bad.reason == "no_match" and bad.detail.endswith(
        " (a numeric event? it has 'values' and no 'message'; this is a logs model, which "
        "reads log lines: docs/logs.md)")
    for line in (b'{"message": "x", "values": 1}', b"not a line", b'{"values": [1'):
        assert "a numeric event?" not in p.parse(line).detail


def test_a_numeric_event_sent_to_a_logs_model_says_so():
    """Every dead letter said only "'message' must be a string"."""
    p = LogParser(format="json", entity="svc")
    bad = p.parse(json.dumps({"entity": "e", "ts": 5, "values": {"a": 1.0}}).encode())
    assert bad.reason == "missing_field" and "a numeric event?" in bad.detail
    assert "numeric" not in p.parse(b'{"ts": 5, "message": 7}').detail


def test_a_missing_message_names_the_record_keys_cut_short():
    """The missing-message detail lists the record's keys; one key as long as the record
    made it a 60 KB error line (offline) for a line that only lacked its message."""
    p = LogParser(format="json", entity="svc")
    bad = p.parse(json.dumps({"k" * 60_000: 1, "ts": 5}).encode())
    assert bad.reason == "missing_field" and len(bad.detail) < 200
    assert bad.detail.endswith("the record's fields: 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk..., 'ts')")


# RFC 3164 as sent (a relay's raw messages): the PRI, where there is one, then the file line
PRI_REGEX = (r"^(?:<(?P<pri>\d{1,3})>)?(?P<ts>\d+) (?P<entity>\S+) (?P<message>.*)$")


def test_a_syslog_pri_is_read_as_its_severity_an_error_from_0_to_3():
    """A regex cannot split <PRI> (facility x 8 + severity): syslog lines had no level, so
    their error share was 0 whatever they said."""
    p = LogParser(format="regex", regex=PRI_REGEX)
    errors = LogsConfig().error_levels
    err = p.parse(b"<3>1767225600 web payment gateway timeout")
    assert err == LogEvent("web", 1767225600.0, "ERR", "payment gateway timeout")
    assert err.level in errors  # counted in error_share
    info = p.parse(b"<14>1767225600 web GET /a 200")  # user.info
    assert info.level == "INFO" and info.level not in errors
    assert p.parse(b"1767225600 web GET /a 200").level == ""  # no PRI: no level, as before
    levels = [p.parse(b"<%d>1767225600 web x" % (8 * 20 + s)).level for s in range(8)]
    assert levels == ["EMERG", "ALERT", "CRIT", "ERR", "WARNING", "NOTICE", "INFO", "DEBUG"]
    assert [level in errors for level in levels] == [True] * 4 + [False] * 4
    assert p.parse(b"<191>1767225600 web x").level == "DEBUG"


@pytest.mark.parametrize("pri", [b"192", b"999", b"0034"])
def test_a_pri_that_is_no_syslog_priority_is_a_bad_line(pri):
    p = LogParser(format="regex", regex=r"^<(?P<pri>\d+)>(?P<ts>\d+) (?P<message>.*)$",
                  entity="web")
    bad = p.parse(b"<%s>1767225600 x" % pri)
    assert (bad.reason, bad.detail) == (
        "missing_field", f"'pri' {pri.decode()!r} is not a syslog priority (0-191)")
    # a level group wins over the PRI, whose digits must still be a priority
    with_level = LogParser(format="regex", entity="web",
                           regex=r"^<(?P<pri>\d+)>(?P<ts>\d+) (?P<level>[a-z]+) (?P<message>.*)$")
    assert with_level.parse(b"<3>1767225600 warn x").level == "WARN"
    assert with_level.parse(b"<%s>1767225600 warn x" % pri).reason == "missing_field"


def test_digits_in_a_regex_level_group_are_the_level_they_stand_for_as_in_json():
    """A regex's level '3' stayed '3' where a JSON record's 3 was ERR, so the same lines
    had an error share in one format and none in the other."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\d+) (?P<level>\w+) (?P<message>.*)$",
                  entity="web")
    j = LogParser(format="json", entity="web")
    for level in ("3", "6", "50", "60", "35", "err", "Error"):
        ev = p.parse(f"1767225600 {level} boom")
        assert ev.level == j.parse(f'{{"ts": 1, "level": "{level}", "message": "m"}}').level
    assert [p.parse(f"1767225600 {v} boom").level for v in ("3", "50", "35")] == [
        "ERR", "ERROR", "35"]


def _as_file(tmp_path, record: bytes, regex: str):
    """The events a file of ``record``'s lines gives (bad_lines: skip, max_event_bytes 1000),
    and the lines it left out by reason."""
    from anomaly_gan.logs.offline import LineTally, read_log_file

    path = tmp_path / "batch.log"
    path.write_bytes(record)
    tally = LineTally()
    events = read_log_file(path, LogsConfig(format="regex", regex=regex, bad_lines="skip"),
                           1000, 512, None, tally)
    return events, dict(tally.records_skipped)


def test_max_event_bytes_bounds_each_event_of_a_record_not_the_record(tmp_path):
    """A shipper that batches lines into one record: 50 lines of 125 bytes (6 KiB) under a
    1,000-byte max_event_bytes were one oversized record in serve, none counted, where a file
    of the same lines counts each. The bound is per event (its line and continuation), as in
    a file and as for an OTLP batch's log records; a one-line record over it is refused as
    before."""
    regex = r"^(?P<ts>\S+) (?P<entity>\w+) (?P<message>.*)$"
    p = LogParser(format="regex", regex=regex, max_bytes=1000)
    line = b"2026-01-01T00:00:00Z api " + b"x" * 100
    big = b"2026-01-01T00:00:01Z api " + b"y" * 2000
    record = b"\n".join([line] * 25 + [big] + [line] * 25) + b"\n"
    got = p.parse_record_many(record)
    assert len(record) > 1000
    assert [getattr(e, "reason", "event") for e in got] == ["event"] * 25 + ["oversized"] \
        + ["event"] * 25
    assert p.parse_record_many(big) == [InvalidEvent("oversized",
                                                     "2025 bytes > max_event_bytes 1000")]
    assert p.parse_record_many(big + b"\r\n")[0].reason == "oversized"
    # the file reader gives the same events and leaves the same line out
    assert _as_file(tmp_path, record, regex) == (
        [e for e in got if isinstance(e, LogEvent)], {"oversized": 1})


def test_a_line_that_is_not_utf8_leaves_out_that_line_of_a_record_not_the_record(tmp_path):
    """A record of several lines (a shipper's batch, an event with its trace) holding one
    line with bytes that are not UTF-8 (a Latin-1 ``café``): the whole record was one
    ``not_utf8`` dead letter, none of its events counted, where a file of the same lines
    leaves that line out alone (found by tests/logs/test_serve_equals_score_fuzz.py). The
    record's other lines are now read as the file's, that line an invalid part of it."""
    regex = r"^(?P<ts>\S+) (?P<entity>\w+) (?P<message>.*)$"
    p = LogParser(format="regex", regex=regex, max_bytes=1000)
    record = (b"2026-01-01T00:00:00Z api caf\xe9 au lait\r\n2026-01-01T00:00:01Z api up\n"
              b"\tat A.run\n2026-01-01T00:00:02Z db down \xff\n\tat B.run\n"
              b"2026-01-01T00:00:03Z db ok\n")
    got = p.parse_record_many(record)
    assert [getattr(e, "reason", None) or (e.message, e.continuation) for e in got] == [
        "not_utf8", ("up", "\tat A.run"), "not_utf8", "no_match", ("ok", "")]
    assert p.parse_record_many(b"2026-01-01T00:00:00Z api caf\xe9\n")[0].reason == "not_utf8"
    assert _as_file(tmp_path, record, regex) == (
        [e for e in got if isinstance(e, LogEvent)], {"not_utf8": 2, "no_match": 1})


_TRACE = [b"java.lang.IllegalStateException: no session", b"\tat shop.Cart.add(Cart.java:42)",
          b"\tat shop.Api.post(Api.java:7)"]


@pytest.mark.parametrize("head, reason", [
    (b"2099-01-01T00:00:00Z api ahead", "future_timestamp"),
    (b"2026-13-45T00:00:00Z api garbled", "bad_timestamp"),
    (b"2026-01-01T00:00:00Z " + b"e" * 600 + b" too long an entity", "oversized"),
    (b"2026-01-01T00:00:00Z api " + b"x" * 2000, "oversized"),
], ids=["future", "bad-timestamp", "entity-too-long", "line-too-long"])
def test_an_event_refused_after_its_line_parsed_keeps_its_trace_as_one_invalid_part(
        tmp_path, head, reason):
    """An event line stamped ahead of the wall clock (future_timestamp) with a Java trace
    after it, in one record: serve refused the event line alone and each of its 3 trace lines
    was then an orphan, a no_match part of its own: the dead letter said "4 of 5 log records
    invalid", where a file of the same lines joins the trace to its event (and leaves it out
    once, as a future line). So for any event refused once its line parsed (its time
    unreadable, its entity or its line over the bounds): its trace lines were 3 more bad
    lines. Now the event and its trace are one invalid part, with the event's reason, in a
    record and in a file."""
    from anomaly_gan.stream.events import dead_letter_of

    regex = r"^(?P<ts>\S+) (?P<entity>\w+) (?P<message>.*)$"
    p = LogParser(format="regex", regex=regex, max_bytes=1000, max_entity_bytes=512)
    p.not_after = 1767225600.0 + 300.0
    ok = b"2026-01-01T00:00:01Z db up"
    record = b"\n".join([head, *_TRACE, ok]) + b"\n"
    got = p.parse_record_many(record)
    assert [getattr(e, "reason", None) or e.message for e in got] == [reason, "up"]
    dead = dead_letter_of(got, "log records")
    assert dead is not None and dead.reason == reason
    assert dead.detail.startswith("1 of 2 log records invalid; the first: ")
    events, skipped = _as_file(tmp_path, record, regex)
    if reason == "future_timestamp":  # a file's reader takes any time: it joins the trace
        assert [(e.message, e.continuation) for e in events] == [
            ("ahead", b"\n".join(_TRACE).decode()), ("up", "")] and skipped == {}
    else:
        assert (events, skipped) == (got[1:], {reason: 1})


def test_an_epoch_integer_just_over_a_units_edge_counts_in_the_smaller_unit():
    """docs/logs.md: ns over 1e17. 10**17 + 1 was compared as a float (10**17 exactly) and
    read as microseconds: 1e11 s, the year 5138, where nanoseconds are 1973."""
    p = LogParser()
    ev = p.parse(b'{"entity": "a", "ts": 100000000000000001, "message": "up"}')
    assert ev.ts == pytest.approx(1e8)


@pytest.mark.parametrize("raw", [b"100000000000000001 a up",
                                 b'{"entity": "a", "ts": "100000000000000001", "message": "up"}'])
def test_an_epoch_in_ascii_digits_just_over_a_units_edge_counts_in_the_smaller_unit(raw):
    """docs/logs.md: epoch ns over 1e17, also as ASCII digits (a regex's ts group, a JSON
    string). The digits were read as a float, 10**17 exactly, so 10**17 + 1 was counted as
    microseconds: 1e11 s, the year 5138, where nanoseconds are 1973 (the integer was fixed
    alone)."""
    fmt = "json" if raw.startswith(b"{") else "regex"
    p = LogParser(format=fmt, regex=r"^(?P<ts>\d+) (?P<entity>\S+) (?P<message>.*)$")
    assert p.parse(raw).ts == pytest.approx(1e8)


def test_an_rfc3339_time_with_a_lower_case_t_and_z_is_read():
    """RFC 3339 (section 5.6: "T" and "Z" may be lower case), as docs/logs.md reads `ts`:
    ``2026-12-07t01:02:03z`` was a bad_timestamp."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$")
    assert p.parse(b"2026-12-07t01:02:03.5z a up").ts == 1796605323.5
    assert p.parse(b"2026-12-07t01:02:03+01:00 a up").ts == 1796605323 - 3600


def test_a_record_of_one_line_at_max_event_bytes_with_its_line_break_is_an_event():
    """docs/logs.md: line breaks after a record's last line are left out, and
    max_event_bytes bounds its event (its lines) as in a file. A one-line record whose line
    was max_event_bytes long and ended with its ``\\n`` (a shipper that keeps it) was
    ``oversized``, where the file of the same line read the event."""
    p = LogParser(format="regex", regex=r"^(?P<ts>\d+) (?P<entity>\S+) (?P<message>.*)$",
                  max_bytes=40)
    line = b"1796601600 web-1 " + b"x" * 23
    assert len(line) == 40 and p.parse(line).message == "x" * 23
    for record in (line + b"\n", line + b"\r\n", b"\n" + line):
        assert [e.message for e in p.parse_record_many(record)] == ["x" * 23]
    assert p.parse_record_many(line + b"x\n")[0].reason == "oversized"


@pytest.mark.parametrize("ts", [" 1767225600", "1767225600123 ", "\t1767225600.5\n"])
def test_epoch_digits_with_whitespace_around_are_a_time_as_in_a_metric_event(ts):
    """Whitespace around epoch digits in a log event's ``ts`` was a ``bad_timestamp``, where
    a metric event, a CSV cell and an RFC 3339 string leave it out."""
    from anomaly_gan.stream.events import EventParser, parse_timestamp_text

    got = LogParser().parse(json.dumps({"message": "up", "ts": ts, "entity": "p"}).encode())
    metric = EventParser(("a",), max_event_bytes=4096).parse(
        json.dumps({"entity": "p", "ts": ts, "values": [1]}).encode())
    assert got.ts == metric.ts == parse_timestamp_text(ts)


@pytest.mark.parametrize("fmt", ["regex", "json"])
def test_a_run_of_nul_bytes_before_a_records_line_is_dropped_as_a_files_is(tmp_path, fmt):
    """A shipper tailing a file that was truncated under a writer that kept its offset
    (logrotate's copytruncate) sends the hole of NUL bytes with the first line written
    after it: the record was a no_match (bad_json) dead letter, or oversized with the hole,
    and its event counted nowhere. A run of NULs at the start of a line is dropped, in a
    record as in a file (one function splits both); a NUL elsewhere in a line is kept."""
    regex = r"^(?P<ts>\S+) (?P<entity>\w+) (?P<message>.*)$"
    p = LogParser(format=fmt, regex=regex, max_bytes=1000)
    one, two = ((b"2026-01-01T00:00:00Z api up", b"2026-01-01T00:00:01Z db down")
                if fmt == "regex" else
                (b'{"entity": "api", "ts": 1767225600, "message": "up"}',
                 b'{"entity": "db", "ts": 1767225601, "message": "down"}'))
    for hole in (b"\x00", b"\x00" * 100_000):
        got = p.parse_record_many(hole + one + b"\n")
        assert [(e.entity, e.message) for e in got] == [("api", "up")]
    if fmt == "regex":  # a batch of lines, the hole after the first
        record = one + b"\n" + b"\x00" * 4096 + two + b"\n"
        got = p.parse_record_many(record)
        assert [(e.entity, e.message) for e in got] == [("api", "up"), ("db", "down")]
        assert _as_file(tmp_path, record, regex) == (got, {})
    inside = one[:-2] + b"\x00" + one[-2:]  # not at the line's start: read as before
    assert p.parse_record_many(inside) == [p.parse(inside)]


@pytest.fixture
def host_zone(monkeypatch):
    """Sets the host's zone (TZ, time.tzset: time.tzname follows) for one test."""
    import time

    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()
    yield set_zone
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("host", ["UTC", "Europe/Berlin", "America/New_York"])
def test_a_percent_z_stamp_reads_utc_and_gmt_only_whatever_the_host_s_zone(host_zone, host):
    """strptime's %Z read the host's own zone names (time.tzname) too, giving them no
    offset: on a host set to Berlin time 'CEST' stamps were read as UTC, two hours off,
    where a host set to UTC refused them. Offline, serve and retrain share this parser."""
    import time

    from anomaly_gan.logs.events import parser_from_config

    host_zone(host)
    assert (time.tzname == ("UTC", "UTC")) == (host == "UTC")  # the host's zone took
    logs = LogsConfig(format="regex", regex=r"^(?P<ts>\S+ \S+ \S+) (?P<message>.*)$",
                      timestamp_format="%Y-%m-%d %H:%M:%S %Z", entity="app")
    p = parser_from_config(logs, 65_536)
    for name in ("UTC", "GMT", "utc"):
        assert p.parse(f"2026-01-01 00:00:10 {name} started").ts == 1767225610.0
    for name in ("CET", "CEST", "EST", "EDT", "Z"):
        bad = p.parse(f"2026-01-01 00:00:10 {name} started")
        assert isinstance(bad, InvalidEvent) and bad.reason == "bad_timestamp", (name, bad)
    # a year-less format too (its year inferred), and a literal '%%Z' is no zone
    syslog = LogParser(format="regex", regex=r"^(?P<ts>\w{3} [ \d]\d [\d:]{8} \S+) "
                                             r"(?P<message>.*)$",
                       timestamp_format="%b %d %H:%M:%S %Z", entity="app")
    syslog.clock = lambda: 1767225610.0
    assert syslog.parse("Jan  1 00:00:10 GMT up").ts == 1767225610.0
    assert syslog.parse("Jan  1 00:00:10 CET up").reason == "bad_timestamp"
    literal = LogParser(format="regex", regex=r"^(?P<ts>\S+ \S+) (?P<message>.*)$",
                        timestamp_format="%Y-%m-%d %H:%M%%Z", entity="app")
    assert literal.parse("2026-01-01 00:00%Z up").ts == 1767225600.0
