"""logs.format: auto: a file's layout recognised from its first lines (logs/layout.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from anomaly_gan.config import LOGS_DEFAULTS, config_from_dict
from anomaly_gan.errors import ConfigError, DataError
from anomaly_gan.logs.events import LogEvent, LogParser
from anomaly_gan.logs.layout import AUTO_ENTITY, NO_STAMP, STAMPS, detect_layout
from anomaly_gan.logs.offline import looks_like_log_lines, resolve_layout

CLOCK = datetime(2026, 12, 6, tzinfo=UTC).timestamp()


def parse(layout, line, clock=CLOCK):
    parser = LogParser(format=layout.format, regex=layout.regex,
                       timestamp_format=layout.timestamp_format, entity=AUTO_ENTITY,
                       json_fields=layout.json_fields, need_ts=layout.has_time)
    parser.clock = lambda: clock  # a year-less stamp: the latest year not after it
    ev = parser.parse(line)
    assert isinstance(ev, LogEvent), ev
    return ev


def utc(*args):
    return datetime(*args, tzinfo=UTC).timestamp()


# Two lines in the layout of a common writer (synthetic, in its shape): what each is
# recognised as, and the first line's time, level and message.
WRITERS = [
    ("RFC 3339", ["2026-12-05T10:00:01.123Z checkout ERROR payment timeout after 5003 ms",
                  "2026-12-05T10:00:02.007Z checkout INFO GET /cart 200"],
     utc(2026, 12, 5, 10, 0, 1, 123000), "ERROR", "payment timeout after 5003 ms"),
    ("RFC 3339", ["2016-09-28 04:30:30, Info                  CBS    Loaded Servicing Stack",
                  "2016-09-28 04:30:31, Error                 CSI    Init failed"],
     utc(2016, 9, 28, 4, 30, 30), "INFO", "CBS    Loaded Servicing Stack"),
    ("date time,ms", ["2015-10-18 18:01:47,978 INFO [main] app.Master: Created master",
                      "2015-10-18 18:01:48,963 WARN [main] app.Master: slow start"],
     utc(2015, 10, 18, 18, 1, 47, 978000), "INFO", "[main] app.Master: Created master"),
    ("date time,ms", ["2015-07-29 17:41:44,747 - INFO  [QuorumPeer:/0.0.0.0:2181] - started",
                      "2015-07-29 17:41:45,001 - WARN  [QuorumPeer:/0.0.0.0:2181] - slow"],
     utc(2015, 7, 29, 17, 41, 44, 747000), "INFO", "[QuorumPeer:/0.0.0.0:2181] - started"),
    ("syslog", ["Dec  5 10:00:01 web-1 sshd[812]: Accepted publickey for deploy",
                "Dec  5 10:00:02 web-1 CRON[9313]: (root) CMD (run-parts)"],
     utc(2026, 12, 5, 10, 0, 1), "", "web-1 sshd[812]: Accepted publickey for deploy"),
    ("ctime", ["[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/workers2.properties",
               "[Sun Dec 04 04:47:45 2005] [error] mod_jk child in error state 6"],
     utc(2005, 12, 4, 4, 47, 44), "NOTICE", "workerEnv.init() ok /etc/workers2.properties"),
    ("common log", ['10.0.0.5 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326',
                    '10.0.0.6 - - [10/Oct/2000:13:55:37 -0700] "GET /b.gif HTTP/1.0" 404 0'],
     utc(2000, 10, 10, 20, 55, 36), "", '"GET /a.gif HTTP/1.0" 200 2326'),
    ("yy/mm/dd", ["17/06/09 20:10:40 INFO spark.SecurityManager: Changing view acls to: yarn",
                  "17/06/09 20:10:41 INFO spark.SecurityManager: Changing modify acls"],
     utc(2017, 6, 9, 20, 10, 40), "INFO", "spark.SecurityManager: Changing view acls to: yarn"),
    ("yymmdd hhmmss", ["081109 203615 148 INFO dfs.DataNode: Receiving block blk_38 src /10.0.0.1",
                       "081109 203616 149 INFO dfs.DataNode: Received block blk_39 of size 91"],
     utc(2008, 11, 9, 20, 36, 15), "INFO", "dfs.DataNode: Receiving block blk_38 src /10.0.0.1"),
    ("logcat", ["03-17 16:13:38.811  1702  2395 D WindowManager: printFreezingDisplayLogs",
                "03-17 16:13:38.819  1702  8671 D PowerManagerService: acquire lock=233570404"],
     utc(2026, 3, 17, 16, 13, 38, 811000), "", "1702  2395 D WindowManager: printFreezingDisplayLogs"),
    ("yyyymmdd-time:ms", ["20171223-22:15:29:606|Step_LSC|30002312|onStandStepChanged 3579",
                          "20171223-22:15:29:6|Step_SPUtils|30002312|getTodayTotalDetailSteps"],
     utc(2017, 12, 23, 22, 15, 29, 606000), "", "Step_LSC|30002312|onStandStepChanged 3579"),
    ("mm.dd time", ["[10.30 16:49:06] chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy",
                    "[10.30 16:49:07] chrome.exe - proxy.cse.cuhk.edu.hk:5070 close, 0 bytes"],
     utc(2026, 10, 30, 16, 49, 6), "", "chrome.exe - proxy.cse.cuhk.edu.hk:5070 open through proxy"),
    # a label first (BlueGene/L's "-" or alert category), the level six fields on
    ("epoch", [("- 1117838570 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.50.675872 "
                "R02-M1-N0-C:J12-U11 RAS KERNEL INFO instruction cache parity error corrected"),
               ("KERNDTLB 1117838571 2005.06.03 R02-M1-N0-C:J12-U11 2005-06-03-15.42.51.1 "
                "R02-M1-N0-C:J12-U11 RAS KERNEL FATAL data TLB error interrupt")],
     1117838570.0, "INFO", "instruction cache parity error corrected"),
]


def test_every_stamp_layout_has_a_writer_here():
    assert {name for name, _, _ in STAMPS} == {w[0] for w in WRITERS}


@pytest.mark.parametrize(("name", "lines", "ts", "level", "message"), WRITERS,
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRITERS)])
def test_the_layouts_of_common_writers_are_recognised(name, lines, ts, level, message):
    layout = detect_layout(lines * 5)
    assert (layout.name, layout.format, layout.share) == (name, "regex", 1.0)
    ev = parse(layout, lines[0])
    assert (ev.entity, ev.ts, ev.level, ev.message) == (AUTO_ENTITY, pytest.approx(ts), level,
                                                        message)
    assert isinstance(parse(layout, lines[1]), LogEvent)


@pytest.mark.parametrize(("line", "message", "ts", "level"), [
    ('{"level":30,"time":1796464801123,"msg":"GET /cart 200"}', "msg", "time", "level"),  # pino
    ('{"@timestamp":"2026-12-05T10:00:01Z","log.level":"error","message":"x y"}',  # ECS
     "message", "@timestamp", "log.level"),
    ('{"@t":"2026-12-05T10:00:01Z","@mt":"GET {Path}","Path":"/a"}', "@mt", "@t", "level"),
    ('{"event":"GET /cart","timestamp":"2026-12-05T10:00:01Z"}', "event", "timestamp", "level"),
    # ECS nested, as Filebeat and the ECS loggers write it: the level at log.level
    ('{"@timestamp":"2026-12-05T10:00:01Z","log":{"level":"warn"},"message":"x y"}',
     "message", "@timestamp", "log.level"),
])
def test_json_lines_get_the_fields_their_writer_names(line, message, ts, level):
    layout = detect_layout([line] * 4)
    assert layout.format == "json" and layout.has_time
    fields = layout.json_fields
    assert (fields.message, fields.ts, fields.level) == (message, ts, level)
    assert parse(layout, line).ts is not None


def test_json_lines_without_a_known_message_field_are_not_guessed():
    assert detect_layout(['{"a": 1, "b": "x"}'] * 4) is None


def test_a_json_field_of_a_known_name_that_holds_no_text_is_not_the_message():
    """ECS' "event" is an object: taken as the message field, every line was a
    missing_field ('event' must be a string), all skipped with logs.bad_lines: skip."""
    line = '{"@timestamp":"2026-12-05T10:00:01Z","event":{"original":"GET /cart"}}'
    assert detect_layout([line] * 4) is None
    assert not looks_like_log_lines([line] * 4)  # the CSV refusal says what to set


def test_a_json_line_nested_too_deeply_is_one_that_is_no_object():
    """A line nested deeper than Python's JSON decoder goes (a logged request body of
    5,000 '[') stopped train, with no config or logs.format: auto, in a RecursionError
    traceback (exit 1); serve and a json file's reader count it as bad_json. It is one
    line that is no object here: the other lines choose the layout."""
    line = '{"msg": "up", "time": "2026-12-05T10:00:01Z", "level": "info"}'
    deep = '{"msg": "payload", "body": ' + "[" * 5000 + "]" * 5000 + "}"
    layout = detect_layout([line, deep, line, line])
    assert (layout.format, layout.json_fields.message, layout.share) == ("json", "msg", 0.75)
    assert looks_like_log_lines([deep, line, line])
    assert detect_layout([deep] * 3) is None  # no object: not called JSON, nor text


def test_lines_with_no_stamp_are_read_whole_without_a_time():
    layout = detect_layout(["user logged in from web", "cache miss for key 7"])
    assert (layout.name, layout.has_time) == ("no time stamp", False)
    assert parse(layout, "cache miss for key 7").message == "cache miss for key 7"


def test_a_stack_traces_lines_do_not_count_against_a_layout():
    head = "2026-12-05 10:00:01,123 ERROR [main] shop.Pay - charge failed"
    trace = ["\tat shop.Pay.charge(Pay.java:42)"] * 6
    assert detect_layout([head, *trace] * 3).share == 1.0


def test_the_longer_stamp_wins_where_two_read_as_many_lines():
    """2026-12-05 10:00:01,123 is also an RFC 3339 stamp up to its comma (the milliseconds
    then read as a field of the message)."""
    lines = ["2026-12-05 10:00:01,123 INFO started", "2026-12-05 10:00:02,456 INFO ready"]
    layout = detect_layout(lines)
    assert layout.name == "date time,ms"
    assert parse(layout, lines[1]).ts == pytest.approx(utc(2026, 12, 5, 10, 0, 2, 456000))


@pytest.mark.parametrize(("lines", "log"), [
    (["081109 203615 148 INFO dfs.DataNode: served blk_1", "081109 203616 149 INFO x y z"], True),
    (['{"msg": "up", "time": 1}', '{"msg": "down", "time": 2}'], True),
    (["timestamp,temp,rpm", "2026-01-01T00:00:00Z,20.5,1500"], False),  # a CSV
    (["time of the reading,value", "2026-01-01T00:00:00Z,20.5"], False),  # a long header
    (["flow rate in litres,rpm", '"1,5",7'], False),
    (["just one line of words here"], False),
    # a table of numbers with a time column, no header, tab- or space-separated: its one
    # comma-separated cell has four words and a stamp (it trained a logs model, 2026-12-06)
    (["2026-01-01 00:00:00\t20.5\t1500", "2026-01-01 00:00:01\t20.6\t1490"], False),
    (["2026-01-01T00:00:00Z 20.5 1500 3", "2026-01-01T00:00:01Z 20.6 1490 3"], False),
    (["1767225600 20.5 -3 1e-3", "1767225601 20.6 -2 1e-3"], False),
    # a log that starts inside a stack trace: the lines the layout reads are the log's
    (["Exception in thread main: boom", "\tat A.run(A.java:1)", "\tat A.main(A.java:9)",
      "2026-01-01 00:00:01,100 INFO [main] app: started in 3 s",
      "2026-01-01 00:00:02,100 WARN [main] app: slow disk on /var"], True),
])
def test_a_file_of_log_lines_is_told_from_a_csv(lines, log):
    assert looks_like_log_lines(lines) is log


def _cfg(logs):
    return config_from_dict({"data": {"window": 6}, "logs": logs}, "auto.yaml")


def test_auto_is_resolved_into_the_keys_the_bundle_keeps(tmp_path):
    p = tmp_path / "app.log"
    p.write_text("".join(f"Dec  5 10:00:{i:02d} web-1 sshd[8]: session {i} opened\n"
                         for i in range(60)))
    said: list[str] = []
    cfg = resolve_layout(_cfg({"format": "auto"}), [str(p)], said.append)
    assert (cfg.logs.format, cfg.logs.timestamp_format, cfg.logs.entity) == (
        "regex", "%b %d %H:%M:%S", "all")
    assert cfg.logs.bucket_seconds == 60.0  # time buckets: the lines have a time
    assert said == [(f"note: {p}: read as syslog lines (100% of the first 60 read; entity "
                     f"'all'): logs.format: regex, logs.regex (in the bundle's config.yaml), "
                     f"logs.timestamp_format: '%b %d %H:%M:%S'; set logs.format and these keys "
                     f"to read the lines otherwise")]
    # any other format is left as it is
    regex = _cfg({"format": "regex", "regex": "(?P<message>.*)", "entity": "x",
                  "bucket_lines": 5, "bucket_seconds": None})
    assert resolve_layout(regex, [str(p)], said.append) is regex


@pytest.mark.parametrize("kind", ["json", "json.gz", "proto", "zstd-json"])
def test_a_collector_file_exporters_log_file_is_not_read_as_a_layout(tmp_path, kind):
    """logs.format: auto (configs/logs.yaml) on the Collector's file exporter's log file:
    its OTLP/JSON lines were refused with advice that cannot read them ('set logs.format:
    json and logs.json_fields.message'), and its format: proto messages (compressed or not)
    were read as text lines with no time stamp, a bucket every line: a model trained on
    protobuf bytes. Either says what the file is and the formats that read it."""
    import gzip
    import json

    from tests.support.otlp import framed, to_proto, zstd_framed

    doc = {"resourceLogs": [{"resource": {"attributes": [
        {"key": "service.name", "value": {"stringValue": "api"}}]}, "scopeLogs": [
        {"logRecords": [{"timeUnixNano": str(1796464800 * 10**9 + i), "severityNumber": 17,
                         "body": {"stringValue": f"db timeout {i}"}} for i in range(3)]}]}]}
    p = tmp_path / "app.otlp"
    shape = {"json": "OTLP/JSON lines", "json.gz": "OTLP/JSON lines",
             "proto": "protobuf messages each after its 4-byte length",
             "zstd-json": "messages each compressed with zstd after its 4-byte length"}[kind]
    if kind.startswith("json"):
        text = "".join(json.dumps(doc) + "\n" for _ in range(20)).encode()
        p.write_bytes(gzip.compress(text) if kind == "json.gz" else text)
    elif kind == "proto":
        p.write_bytes(framed(*[to_proto(doc)] * 20))
    else:
        p.write_bytes(zstd_framed(*[json.dumps(doc)] * 20))
    with pytest.raises(DataError) as err:
        resolve_layout(_cfg({"format": "auto"}), [str(p)], [].append)
    assert str(err.value) == (
        f"{p}: an OpenTelemetry Collector file exporter's file ({shape}), which logs.format: "
        f"auto does not read: set logs.format: otlp_proto or otlp_json, the encoding of the "
        f"kafka exporter serve is to read (either reads the file; docs/logs.md)")


def test_lines_without_a_time_are_counted_per_n_lines_unless_the_config_sets_seconds(tmp_path):
    p = tmp_path / "app.log"
    p.write_text("".join(f"session {i} opened for user {i % 7}\n" for i in range(2000)))
    said: list[str] = []
    cfg = resolve_layout(_cfg({"format": "auto"}), [str(p)], said.append)
    assert (cfg.logs.bucket_seconds, cfg.logs.bucket_lines) == (None, 10)  # 2000 // 200
    assert "no time stamp: a bucket every 10 lines" in said[0]
    with pytest.raises(DataError, match="no time stamp found at the start of its lines"):
        resolve_layout(_cfg({"format": "auto", "bucket_seconds": 10}), [str(p)], said.append)


def test_json_lines_without_a_time_make_a_bundle_config_that_loads(tmp_path):
    """JSON records with no time field were recognised with ``json_fields.ts: ''`` (no
    time), written so into the bundle's config.yaml, which every later load refused
    (``logs.json_fields.ts: expected a non-empty string``): train wrote a bundle that
    score, serve and retrain could not read."""
    import json

    from anomaly_gan.config import config_to_dict

    p = tmp_path / "app.log"
    p.write_text("".join(json.dumps({"msg": f"session {i} opened", "level": "info"}) + "\n"
                         for i in range(300)))
    cfg = resolve_layout(_cfg({"format": "auto"}), [str(p)], [].append)
    assert (cfg.logs.json_fields.ts, cfg.logs.bucket_seconds) == ("", None)
    again = config_from_dict(config_to_dict(cfg), "bundle/config.yaml", trained=True)
    assert again.logs == cfg.logs
    assert config_from_dict(config_to_dict(cfg), "copied.yaml").logs == cfg.logs
    # no time field cannot fill time buckets: said where the file asks for both
    with pytest.raises(ConfigError, match=r"^t\.yaml: logs\.json_fields\.ts: '' \(no time "
                                          r"field\) cannot fill time buckets"):
        config_from_dict({"logs": {"json_fields": {"ts": ""}}}, "t.yaml")


@pytest.mark.parametrize("text, error", [
    ("", "no lines to recognise the layout of"),
    ("\n\n", "no lines to recognise the layout of"),
    ("  indented one\n\tindented two\n   three\n", None)])
def test_an_empty_or_indented_file_is_not_called_json(tmp_path, text, error):
    """Both were refused as 'its first 0 (or 3) lines are JSON objects with none of the
    usual message fields': detect_layout gave None for no line starting an event."""
    p = tmp_path / "app.log"
    p.write_text(text)
    said: list[str] = []
    if error is not None:
        with pytest.raises(DataError, match=error):
            resolve_layout(_cfg({"format": "auto"}), [str(p)], said.append)
        return
    cfg = resolve_layout(_cfg({"format": "auto"}), [str(p)], said.append)
    assert (cfg.logs.regex, cfg.logs.bucket_lines) == (NO_STAMP, 1)
    assert parse(detect_layout(text.splitlines()), "  indented one").message == "indented one"


def test_the_logs_defaults_are_configs_logs_yaml_model_and_data():
    """`train` with a log file and no config trains what configs/logs.yaml would."""
    from pathlib import Path

    import yaml

    shipped = yaml.safe_load((Path(__file__).parents[2] / "configs" / "logs.yaml").read_text())
    for section in ("model", "data", "training"):
        assert LOGS_DEFAULTS[section] == shipped[section], section
    assert shipped["logs"]["format"] == LOGS_DEFAULTS["logs"]["format"] == "auto"
    assert shipped["logs"]["bad_lines"] == LOGS_DEFAULTS["logs"]["bad_lines"] == "skip"


def test_configs_logs_yaml_buckets_as_train_does_with_no_config(tmp_path):
    """The shipped configs/logs.yaml set logs.bucket_seconds: 10 while the code's default,
    train with no config, the README and the benchmarks used 60 s; being set, it also kept
    train from choosing: a file with no time stamp was refused under --config
    configs/logs.yaml and counted per N lines with no config. Now it sets neither key."""
    from pathlib import Path

    from anomaly_gan.config import LogsConfig, load_config, load_logs_defaults
    from anomaly_gan.logs.offline import chooses_buckets

    shipped = load_config(Path(__file__).parents[2] / "configs" / "logs.yaml", env={})
    none = load_logs_defaults(env={})
    assert shipped.logs.bucket_seconds == none.logs.bucket_seconds == LogsConfig().bucket_seconds
    assert shipped.logs.bucket_lines is None
    assert chooses_buckets(shipped) and chooses_buckets(none)
    # every other key too (top_k was 12 in the file until 2026-12-06, 20 with no config)
    assert shipped == none
    docs = (Path(__file__).parents[2] / "docs" / "logs.md").read_text()
    assert f"**Bucket size (the default):** {LogsConfig().bucket_seconds:g} s" in docs
    p = tmp_path / "app.log"
    p.write_text("".join(f"worker {i % 3} finished job {i}\n" for i in range(400)))
    said: list[str] = []
    per_lines = resolve_layout(shipped, [str(p)], said.append)
    assert (per_lines.logs.bucket_seconds, per_lines.logs.bucket_lines) == (None, 2)
    no_config = resolve_layout(none, [str(p)], said.append).logs
    assert (no_config.bucket_seconds, no_config.bucket_lines) == (None, 2)


def test_a_regex_with_auto_is_refused():
    from anomaly_gan.errors import ConfigError

    with pytest.raises(ConfigError, match="logs.regex: given with logs.format 'auto'"):
        _cfg({"format": "auto", "regex": "(?P<message>.*)"})


@pytest.mark.timeout(60)  # a guard against the hang, not a speed bound
@pytest.mark.parametrize(("name", "lines"), [(w[0], w[1]) for w in WRITERS]
                         + [("no time stamp", ["cache miss for key 7", "user logged in"])],
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRITERS)] + ["no stamp"])
def test_a_recognised_layout_reads_a_long_hostile_line_in_linear_time(name, lines):
    """serve matches the regex train chose against lines of up to max_event_bytes on its
    scoring loop. The message was '.*\\S.*': a stamp followed by a run of spaces and no
    message tried every split of the run (a 32 KiB run: 4 s; 64 KiB: 16 s). Each line cut
    after any space, bracket, colon, comma or bar and padded to 64 KiB with one character
    is read in time, as an event or an invalid line."""
    from anomaly_gan.stream.events import InvalidEvent

    layout = detect_layout(lines * 5)
    assert layout.name == name
    parser = LogParser(format=layout.format, regex=layout.regex,
                       timestamp_format=layout.timestamp_format, entity=AUTO_ENTITY,
                       need_ts=layout.has_time, max_bytes=1 << 16)
    first = lines[0]
    cuts = [i + 1 for i, c in enumerate(first[:48]) if c in " []<>:,|"] or [len(first)]
    for cut in cuts:
        for pad in " \t[a-":
            got = parser.parse((first[:cut] + pad * (1 << 16))[:1 << 16])
            assert type(got) is LogEvent or (type(got) is InvalidEvent
                                             and got.reason in ("no_match", "bad_timestamp"))
