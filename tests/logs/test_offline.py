"""Log files through train/score/evaluate (the CLI), and the logs bundle."""

import csv
import json
import re
import shutil
from datetime import UTC, datetime

import pytest
import yaml

from anomaly_gan.cli import main
from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.logs.events import LogEvent, parser_from_config
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import (
    LineTally,
    count_rows,
    error_levels_note,
    read_for_log_model,
    read_log_file,
    time_order,
)
from anomaly_gan.otlp import CUT_LINE
from tests.logs.conftest import (
    AUTO_CONFIG,
    TINY_LOGS_CONFIG,
    iso_z,
    otlp_batch,
    short_capture,
    syslog_line,
)


@pytest.fixture(scope="module")
def cli_bundle(tmp_path_factory, log_files):
    """The tiny logs config trained by `train` on the service log's training part; tests only
    read it (a test that changes it works on a copy)."""
    d = tmp_path_factory.mktemp("cli")
    cfg = d / "logs.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    out = d / "model"
    assert main(["train", "--config", str(cfg), "--data", str(log_files["train"]),
                 "--out", str(out), "--quiet"]) == 0
    return out


@pytest.mark.slow
def test_train_writes_the_miner_state_into_the_checksummed_bundle(cli_bundle):
    manifest = json.loads((cli_bundle / "manifest.json").read_text())
    assert "extras/logs.json" in manifest["files"]
    state = json.loads((cli_bundle / "extras" / "logs.json").read_text())
    texts = {" ".join(tokens) for _, _, tokens in state["miner"]["clusters"]}
    assert "payment gateway timeout after <NUM> ms" in texts


@pytest.mark.slow
def test_a_changed_miner_state_is_refused(cli_bundle, tmp_path):
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.errors import BundleError

    copy = tmp_path / "b"
    shutil.copytree(cli_bundle, copy)
    path = copy / "extras" / "logs.json"
    path.write_text(path.read_text().replace("timeout", "timeouts"))
    with pytest.raises(BundleError, match="checksum mismatch for extras/logs.json"):
        load_bundle(copy)


@pytest.mark.slow
def test_score_names_the_burst_template_and_evaluate_reports_metrics(
        cli_bundle, log_files, service_logs, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["entity"] for r in rows} == {"checkout-svc", "payments-svc", "inventory-svc",
                                           "auth-svc"}
    burst = next(i for i in service_logs.incidents if i["kind"] == "error_burst")
    flagged = [r for r in rows if r["is_anomaly"] == "1" and r["entity"] == "checkout-svc"
               and burst["start_ts"] <= float(r["bucket_start"]) < burst["end_ts"]]
    assert flagged
    assert all(r["templates"].startswith("payment gateway timeout after <NUM> ms x")
               for r in flagged)
    capsys.readouterr()
    assert main(["evaluate", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--labels", str(log_files["labels"]), "--json"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["rows"] == len(rows) and metrics["anomalous_rows"] > 0
    assert metrics["auc_roc"] > 0.5


def test_a_bad_line_is_one_error_naming_file_and_line(tmp_path, capsys):
    cfg = tmp_path / "logs.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    data = tmp_path / "app.log"
    data.write_text("2026-01-01T00:00:00Z web INFO ok\nnot a log line\n")
    assert main(["train", "--config", str(cfg), "--data", str(data), "--out",
                 str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert f"{data}: line 2: no_match: line does not match logs.regex" in err
    assert err.endswith("; a model trained with logs.bad_lines: skip leaves such lines out "
                        "(banners, lines cut short; a stack trace's lines join the event "
                        "before them)")


def _regex_logs_cfg(**logs):
    return config_from_dict({**TINY_LOGS_CONFIG, "logs": {**TINY_LOGS_CONFIG["logs"], **logs}},
                            "x.yaml")


ERROR_LINE = "2026-01-01T00:00:00Z web ERROR payment failed for cart 42"
JAVA = ["java.lang.IllegalStateException: no session", "\tat shop.Cart.add(Cart.java:42)",
        "\tat shop.Api.post(Api.java:7)", "Caused by: java.io.IOException: reset",
        "\t... 12 more"]
PYTHON = ["Traceback (most recent call last):", '  File "/app/pay.py", line 12, in charge',
          "    raise ValueError(card)", "ValueError: card declined", "",
          "During handling of the above exception, another exception occurred:", "",
          "Traceback (most recent call last):", '  File "/app/api.py", line 3, in post',
          "KeyError: 'cart'"]
# A Go service that crashes, run with go run (its last line), and one that logs a recovered
# panic with debug.Stack() (log.Printf("...%v\n%s", r, debug.Stack())).
GO_PANIC = ["panic: runtime error: invalid memory address or nil pointer dereference",
            "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a2b3c]", "",
            "goroutine 1 [running]:", "main.(*Server).handle(0x0, {0xc000012345, 0x5})",
            "\t/app/server.go:42 +0x1c", "main.main()", "\t/app/main.go:17 +0x65",
            "exit status 2"]
GO_STACK = ["goroutine 7 [running]:", "runtime/debug.Stack()",
            "\t/usr/local/go/src/runtime/debug/stack.go:26 +0x5e",
            "main.recoverer.func1()", "\t/app/middleware.go:14 +0x45",
            "panic({0x6c1e20?, 0x9a5c50?})", "\t/usr/local/go/src/runtime/panic.go:785 +0x132",
            "net/http.(*conn).serve(0xc0001a2000, {0x7a1b20, 0xc00012c000})",
            "\t/usr/local/go/src/net/http/server.go:2039 +0x3f1",
            "created by net/http.(*Server).Serve in goroutine 1",
            "\t/usr/local/go/src/net/http/server.go:3285 +0x4b4"]


def test_a_stack_trace_joins_the_event_before_it_and_shows_in_its_examples(tmp_path):
    """A Java trace's or a Python traceback's lines were bad lines: they stopped train,
    score and evaluate (logs.bad_lines: error) or were left out and counted (skip), where
    serve gets them in one record with their event from a log shipper's multiline setting
    and shows them in the event's example lines."""
    data = tmp_path / "app.log"
    data.write_text("\n".join([ERROR_LINE, *JAVA, "2026-01-01T00:00:01Z web INFO GET /cart 200",
                               "2026-01-01T00:00:02Z api ERROR charge failed", *PYTHON,
                               "", "2026-01-01T00:00:03Z web INFO GET /cart 200"]) + "\n")
    labels = tmp_path / "labels.csv"  # one per non-empty line: the Python trace's last is 1
    labels.write_text("0\n" * 7 + "0\n" * 8 + "1\n" + "0\n")
    notes: list[str] = []
    events, marks = read_for_log_model(_regex_logs_cfg(), str(data), str(labels), notes.append)
    assert [(e.entity, e.message) for e in events] == [
        ("web", "payment failed for cart 42"), ("web", "GET /cart 200"),
        ("api", "charge failed"), ("web", "GET /cart 200")]
    assert [e.continuation for e in events] == ["\n".join(JAVA), "", "\n".join(PYTHON), ""]
    assert marks == [0, 0, 1, 0]  # the event holds the labelled line
    assert notes == [(f"note: 13 of 17 lines of {data} joined to the event before them as "
                      f"continuation lines (stack traces of 2 events), as a log shipper's "
                      f"multiline setting sends them to serve")]
    model, _ = fit_log_model(_regex_logs_cfg().logs, [e.message for e in events])
    rows = count_rows(model, events)
    examples = [x for rs in rows.values() for r in rs for _, xs in r.detail.values() for x in xs]
    assert f"payment failed for cart 42\n{JAVA[0]}\n{JAVA[1]}" in " | ".join(examples)
    assert any(x.startswith("charge failed\nTraceback") and x.endswith("KeyError: 'cart'")
               for x in examples)


@pytest.mark.parametrize("trace", [JAVA, PYTHON, JAVA[1:2], GO_PANIC, GO_STACK])
def test_an_event_read_from_a_file_equals_the_one_serve_reads_from_one_record(tmp_path, trace):
    cfg = _regex_logs_cfg()
    record = "\n".join([ERROR_LINE, *trace])
    live = parser_from_config(cfg.logs, cfg.serve.windows.max_event_bytes).parse(record.encode())
    data = tmp_path / "app.log"
    data.write_text(f"{record}\n\n{ERROR_LINE}\n")
    events = read_log_file(data, cfg.logs)
    assert events[0] == live and events[0].example() == live.example()
    assert live.continuation == "\n".join(trace)
    # Too large for serve as one record (serve.windows.max_event_bytes): dropped with all
    # its lines, as serve drops the record, not cut.
    notes: list[str] = []
    small = _regex_logs_cfg(bad_lines="skip").logs
    assert read_log_file(data, small, len(record) - 1, progress=notes.append) == events[1:]
    lines = 1 + sum(bool(t) for t in trace)  # non-empty ones
    assert notes[-1] == (f"note: {lines} of {lines + 1} lines of {data} left out "
                         f"(logs.bad_lines: skip): oversized {lines}; the first is lines "
                         f"1-{1 + len(trace)}: oversized: an event and its {lines - 1} "
                         f"continuation line{'s' if lines > 2 else ''}, {len(record)} bytes > "
                         f"serve.windows.max_event_bytes "
                         f"{len(record) - 1}")


@pytest.mark.parametrize("trace", [GO_PANIC, GO_STACK])
def test_a_go_trace_in_a_file_is_the_event_serve_reads_from_a_json_record(tmp_path, trace):
    """A Go trace's panic, goroutine header and call lines were bad lines in a file: with
    bad_lines: error (the default) one Go crash or logged stack stopped train, where serve
    gets them in the message of the event's record."""
    data = tmp_path / "app.log"
    data.write_text("\n".join([ERROR_LINE, *trace, "2026-01-01T00:00:05Z web INFO ok"]) + "\n")
    events = read_log_file(data, _regex_logs_cfg().logs)
    record = json.dumps({"entity": "web", "ts": "2026-01-01T00:00:00Z", "level": "ERROR",
                         "message": "\n".join(["payment failed for cart 42", *trace])})
    live = parser_from_config(_json_logs_cfg(), 65_536).parse(record.encode())
    assert events[0] == live and live.continuation == "\n".join(trace)
    assert [e.message for e in events] == ["payment failed for cart 42", "ok"]


def test_a_go_call_line_outside_a_goroutine_trace_follows_bad_lines(tmp_path):
    """A call line joins only inside a goroutine's trace, and a banner never does: after the
    trace's last line (go run's exit status) both are bad lines."""
    data = tmp_path / "app.log"
    data.write_text("\n".join([ERROR_LINE, *GO_PANIC, "main.main()", "=== restarted ===",
                               "2026-01-01T00:00:05Z web INFO GET /cart 200"]) + "\n")
    at = 2 + len(GO_PANIC)
    with pytest.raises(DataError, match=rf"app.log: line {at}: no_match: line does not match "
                                        rf"logs.regex: 'main.main\(\)'"):
        read_log_file(data, _regex_logs_cfg().logs)
    tally = LineTally()
    events = read_log_file(data, _regex_logs_cfg(bad_lines="skip").logs, tally=tally)
    assert [(e.message, e.continuation) for e in events] == [
        ("payment failed for cart 42", "\n".join(GO_PANIC)), ("GET /cart 200", "")]
    assert tally.skipped == {"no_match": 2}


def test_a_rotated_gzip_log_reads_as_its_lines(tmp_path):
    """logrotate compresses app.log.1 to app.log.2.gz: it was refused ('the file is
    gzip-compressed; decompress it first'); it gives the events of the plain file, stack
    traces joined, and a bad line is named by its line in the log."""
    import gzip

    text = "".join(f"{ERROR_LINE}\n" + "".join(f"{t}\n" for t in JAVA) for _ in range(50))
    plain, rotated = tmp_path / "app.log.1", tmp_path / "app.log.2.gz"
    plain.write_text(text)
    rotated.write_bytes(gzip.compress(text.encode()))
    cfg = _regex_logs_cfg().logs
    events = read_log_file(rotated, cfg)
    assert len(events) == 50 and events == read_log_file(plain, cfg)
    rotated.write_bytes(gzip.compress(f"{text}\nbanner\n".encode()))
    with pytest.raises(DataError, match=rf"^{rotated}: line 302: no_match: "):
        read_log_file(rotated, cfg)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
@pytest.mark.parametrize("bad_lines", ["error", "skip"])
def test_a_utf_16_log_file_says_it_is_utf_16(tmp_path, encoding, bad_lines):
    """A log written by PowerShell 5's Out-File: its first line was 'not_utf8: 'utf-8'
    codec can't decode byte 0xff', and with logs.bad_lines: skip the rest were read as
    lines of NUL-separated characters (no_match), never as what they are."""
    data = tmp_path / "app.log"
    text = f"{ERROR_LINE}\n{ERROR_LINE}\n"
    data.write_bytes(("\ufeff" + text).encode(encoding) if encoding == "utf-16-be"
                     else text.encode(encoding))
    with pytest.raises(DataError, match=r"app.log: line 1: not a readable log file: the file "
                                        r"is UTF-16 \(it starts with a UTF-16 byte-order "
                                        r"mark\); expected UTF-8 text"):
        read_log_file(data, _regex_logs_cfg(bad_lines=bad_lines).logs)


@pytest.mark.parametrize("newline", ["\r\n", "\r"])
def test_a_record_with_windows_line_breaks_equals_the_event_read_from_its_file(tmp_path,
                                                                               newline):
    """A record sent with ``\\r\\n`` between its lines kept them in its continuation, while
    the file holding the same lines gave ``\\n``: one trace, two example texts."""
    cfg = _regex_logs_cfg()
    record = newline.join([ERROR_LINE, *JAVA])
    live = parser_from_config(cfg.logs, cfg.serve.windows.max_event_bytes).parse(record.encode())
    data = tmp_path / "app.log"
    data.write_bytes(f"{record}{newline}{ERROR_LINE}{newline}".encode())
    events = read_log_file(data, cfg.logs)
    assert live.continuation == "\n".join(JAVA)
    assert events[0] == live and events[0].example() == live.example()


def test_a_retrain_on_files_counts_a_skipped_event_once_with_its_trace(tmp_path):
    """retrain --data counted the lines it left out, a topic retrain the records: an
    oversized event with a 5-line trace was 6 invalid from a file and 1 from the topic."""
    import dataclasses

    from anomaly_gan.logs.offline import read_log_files

    record = "\n".join([ERROR_LINE, *JAVA])
    data = tmp_path / "app.log"
    data.write_text(f"{record}\n{ERROR_LINE}\n")
    cfg = _regex_logs_cfg(bad_lines="skip")
    windows = dataclasses.replace(cfg.serve.windows, max_event_bytes=len(record) - 1)
    cfg = dataclasses.replace(cfg, serve=dataclasses.replace(cfg.serve, windows=windows))
    invalid: dict[str, int] = {}
    (events,) = read_log_files(cfg, [str(data)], skipped=invalid)
    assert invalid == {"oversized": 1} and len(events) == 1


def test_a_malformed_line_is_no_continuation_and_follows_bad_lines(tmp_path):
    """Joining every line that does not parse would hide a line cut short, or a banner, in
    the example text of the event before it."""
    data = tmp_path / "app.log"
    data.write_text(f"{ERROR_LINE}\n{JAVA[1]}\n2026-01-01T00:00:0\n{JAVA[2]}\n"
                    f"=== restarted ===\n2026-01-01T00:00:05Z web INFO GET /cart 200\n")
    with pytest.raises(DataError) as err:
        read_log_file(data, _regex_logs_cfg().logs)
    assert str(err.value) == (
        f"{data}: line 3: no_match: line does not match logs.regex: '2026-01-01T00:00:0'; a "
        f"model trained with logs.bad_lines: skip leaves such lines out (banners, lines cut "
        f"short; a stack trace's lines join the event before them)")
    notes: list[str] = []
    events = read_log_file(data, _regex_logs_cfg(bad_lines="skip").logs, progress=notes.append)
    # the trace line after the cut one is not joined to the event before that
    assert [(e.message, e.continuation) for e in events] == [
        ("payment failed for cart 42", JAVA[1]), ("GET /cart 200", "")]
    assert notes[-1] == (f"note: 3 of 6 lines of {data} left out (logs.bad_lines: skip): "
                         f"no_match 3; the first is line 3: no_match: line does not match "
                         f"logs.regex: '2026-01-01T00:00:0'")
    # A trace line with no event before it (the file starts in the middle of a trace).
    data.write_text(f"{JAVA[1]}\n{ERROR_LINE}\n")
    with pytest.raises(DataError, match=r": line 1: no_match: .*; a continuation line \(stack "
                                        r"trace\) with no event before it to join \(a file that "
                                        r"starts inside a trace: logs.bad_lines: skip leaves "
                                        r"such lines out\)$"):
        read_log_file(data, _regex_logs_cfg().logs)


def test_an_event_the_regex_misses_by_its_padding_is_no_continuation(tmp_path):
    """log4j's %5p pads INFO to ' INFO': with a regex that allows no leading space, every
    INFO line started with a space, was joined to the ERROR line before it as its 'stack
    trace', and train ran on the ERROR lines alone (82 of 2,888 lines) with no error."""
    logs = {"format": "regex", "bucket_seconds": 10.0, "top_k": 2,
            "regex": r"^(?P<level>[A-Z]+) (?P<ts>\S+) \[(?P<entity>[\w.-]+)\] (?P<message>.*)$"}
    cfg = config_from_dict({"logs": logs})
    data = tmp_path / "app.log"
    data.write_text("ERROR 2026-11-30T10:00:52Z [pay] request failed id=857\n"
                    " INFO 2026-11-30T10:00:53Z [cart] GET /api/cart/508 200 in 58 ms\n"
                    "\tat com.shop.Cart.get(Cart.java:12)\n"
                    "ERROR 2026-11-30T10:00:54Z [pay] request failed id=858\n")
    with pytest.raises(DataError, match=r": line 2: no_match: .*; it is an event once its "
                                        r"leading spaces are removed, which logs.regex does "
                                        r"not allow"):
        read_log_file(data, cfg.logs)
    skip = config_from_dict({"logs": {**logs, "bad_lines": "skip"}}).logs
    tally = LineTally()
    events = read_log_file(data, skip, tally=tally)
    assert [(e.message, e.continuation) for e in events] == [
        ("request failed id=857", ""), ("request failed id=858", "")]
    assert tally.skipped == {"no_match": 2} and tally.joined == 0  # the frame after it too


def _json_logs_cfg():
    return config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0,
                                      "top_k": 2}}).logs


def test_a_byte_order_mark_is_not_part_of_the_first_line(tmp_path):
    """Windows tools start a UTF-8 file with one; it used to make line 1 bad_json."""
    p = tmp_path / "app.jsonl"
    line = '{"entity": "web", "ts": 1767225600, "message": "GET /index 200"}\n'
    p.write_bytes(b"\xef\xbb\xbf" + line.encode() * 2)
    events = read_log_file(p, _json_logs_cfg())
    assert [e.message for e in events] == ["GET /index 200"] * 2
    p.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\xef\xbb\xbf" + line.encode())
    with pytest.raises(DataError, match=r"app.jsonl: line 2: bad_json"):  # only the first
        read_log_file(p, _json_logs_cfg())


def test_an_entity_with_a_control_character_is_a_bad_line(tmp_path):
    """One line naming file, line and the escaped id (the file's own line breaks cannot be
    in it), or with logs.bad_lines: skip counted by reason, as serve dead-letters it."""
    p = tmp_path / "app.jsonl"
    line = '{"entity": "web", "ts": 1767225600, "message": "GET /index 200"}\n'
    p.write_text(line + line.replace('"web"', '"web\\u001b[31m"') + line)
    with pytest.raises(DataError) as err:
        read_log_file(p, _json_logs_cfg())
    assert str(err.value).startswith(f"{p}: line 2: bad_entity: 'entity' 'web\\x1b[31m' holds "
                                     "U+001B: expected no control characters")
    assert "\x1b" not in str(err.value) and "\n" not in str(err.value)
    skip = config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    notes: list[str] = []
    assert [e.entity for e in read_log_file(p, skip, progress=notes.append)] == ["web"] * 2
    assert notes[-1].startswith(f"note: 1 of 3 lines of {p} left out (logs.bad_lines: skip): "
                                "bad_entity 1; the first is line 2: bad_entity: ")


def test_a_json_file_joins_no_line(tmp_path):
    """A JSON line carries its trace in its message; a raw trace line in a JSON file is a
    bad line (serve would dead-letter such a record as bad_json too)."""
    p = tmp_path / "app.jsonl"
    line = '{"entity": "web", "ts": 1767225600, "message": "boom\\n\\tat A.run(A.java:1)"}'
    p.write_text(f"{line}\n{JAVA[1]}\n")
    with pytest.raises(DataError, match=r"app.jsonl: line 2: bad_json: .*\(stack traces, "
                                        r"banners\)$"):
        read_log_file(p, _json_logs_cfg())
    p.write_text(f"{line}\n")
    assert [(e.message, e.continuation) for e in read_log_file(p, _json_logs_cfg())] == [
        ("boom", "\tat A.run(A.java:1)")]


def test_a_text_log_read_as_json_says_to_set_logs_format_regex(tmp_path):
    """A config with a logs.regex but no format: regex (json is the default) stopped at
    line 1 of Loghub's BGL with only the JSON decoder's 'Expecting value: line 1 column 1
    (char 0)'; with bad_lines: skip, at 'no log lines that parse'."""
    p = tmp_path / "app.log"
    p.write_text("- 1117838570 2005.06.03 R02-M1-N0 RAS KERNEL INFO instruction cache parity\n"
                 '{"entity": "web", "ts": 1767225600, "message": "up"}\n')
    with_regex = config_from_dict({"logs": {"regex": r"^- (?P<ts>\d+) (?P<message>.*)$",
                                            "entity": "bgl"}}, "x.yaml").logs
    with pytest.raises(DataError) as info:
        read_log_file(p, with_regex)
    assert str(info.value).endswith(
        "line 1: bad_json: not valid JSON: Expecting value: line 1 column 1 (char 0); "
        "logs.format is 'json' (the default): one JSON object per line; a text log wants "
        "logs.format: regex, which logs.regex is read with"), str(info.value)
    p.write_text("1117838570 R02-M1-N0 RAS KERNEL INFO instruction cache parity error\n")
    skip = config_from_dict({"logs": {"bad_lines": "skip"}}, "x.yaml").logs
    with pytest.raises(DataError, match=r"no log lines that parse \(line 1: bad_json: .*\); "
                                        r"logs.format is 'json' .* and a logs.regex$"):
        read_log_file(p, skip)
    # A bad line after the first event is a bad line: nothing about the format
    p.write_text('{"entity": "web", "ts": 1767225600, "message": "up"}\nnot json\n')
    with pytest.raises(DataError, match=r"line 2: bad_json: .*\(stack traces, banners\)$"):
        read_log_file(p, _json_logs_cfg())


def test_lines_out_of_order_are_counted_in_time_order_with_a_note():
    """Offline the whole file is known: a line that comes after a later-stamped one is
    counted where its time puts it (serve, which cannot wait, drops it). A file made by
    concatenating per-entity files, or an entity whose clock runs behind, lost those lines."""
    cfg = _json_logs_cfg()
    model, _ = fit_log_model(cfg, ["GET /index 200", "cache refresh took 40 ms"])
    stamps = [0.0, 12.0, 25.0, 5.0, 26.0, 3.0, 31.0]
    events = [LogEvent("web", 1767225600 + t, "INFO", "GET /index 200") for t in stamps]
    notes: list[str] = []
    rows = count_rows(model, events, progress=notes.append, source="app.jsonl")
    assert [r.lines for r in rows["web"]] == [3, 1, 2, 1]  # 0-10, 10-20, 20-30, 30-40
    # How far behind says what happened: hours is a late line, a second in a file in order
    # otherwise a misread stamp (Loghub's HealthApp: 121 of 1,000 lines, none with its
    # milliseconds read as milliseconds)
    late_note = ("note: 2 lines of app.jsonl came after a later-stamped line, up to 23 s "
                 "behind it; the first is entity 'web' at 2026-01-01T00:00:05.000Z, 20 s "
                 "behind: 'GET /index 200': counted in time order (serve drops a line "
                 "more than serve.windows.reorder_tolerance_seconds behind its "
                 "partition's watermark)")
    assert notes == [late_note]
    notes.clear()
    in_order = count_rows(model, sorted(events, key=lambda e: e.ts), progress=notes.append)
    assert notes == [] and [r.values.tolist() for r in in_order["web"]] == [
        r.values.tolist() for r in rows["web"]]
    # A line dropped as stamped in the future is no later-stamped line: the note about
    # the late ones, and their counts, stay as they were
    notes.clear()
    ahead = LogEvent("web", 1767225600 + 1e6, "INFO", "GET /index 200")
    with_ahead = count_rows(model, [*events[:3], ahead, *events[3:]], progress=notes.append,
                            source="app.jsonl", not_after=1767225600 + 1e5)
    assert notes[0] == late_note and notes[1].startswith(
        "note: 1 line of app.jsonl dropped, stamped more than "
        "serve.windows.max_future_skew_seconds ahead of the wall clock"), notes
    assert [r.lines for r in with_ahead["web"]] == [3, 1, 2, 1]


def test_error_levels_spelled_another_way_get_a_note_naming_them():
    """Loghub's Android sample (logcat: V D I W E F) trained with the default
    logs.error_levels: the error share was 0 in every bucket, and stayed 0 for E lines,
    with nothing said."""
    model, _ = fit_log_model(_json_logs_cfg(), ["GET /index 200"])
    note = error_levels_note(model, ["I"] * 460 + ["D"] * 325 + ["E"] * 2)
    assert note is not None and "the levels read: I x460, D x325, E x2" in note, note
    assert note.startswith("note: no line's level is in logs.error_levels (ERROR, ERR, ERRO, "
                           "FAIL, CRITICAL, CRIT, ... (16 in all)), ")
    assert note.endswith("list the error levels in logs.error_levels")
    assert error_levels_note(model, ["INFO", "ERRO"]) is None  # logrus: in the default
    six = config_from_dict({"logs": {"format": "json", "error_levels": [  # until 2026-12-05
        "ERROR", "FATAL", "CRITICAL", "SEVERE", "ALERT", "EMERG"]}}).logs
    former, _ = fit_log_model(six, ["GET /index 200"])
    assert "ERRO x1" in error_levels_note(former, ["INFO", "ERRO"])
    assert error_levels_note(model, ["V", "D", "I"]) is not None  # logcat with no E yet
    # Levels the list has, or no error spelling at all: nothing to say
    assert error_levels_note(model, ["INFO", "ERROR", "E"]) is None
    assert error_levels_note(model, ["INFO", "WARN", "DEBUG"]) is None
    assert error_levels_note(model, ["", ""]) is None  # a format with no level
    cfg = config_from_dict({**TINY_LOGS_CONFIG, "logs": {
        **TINY_LOGS_CONFIG["logs"], "error_levels": ["E", "F"]}}, "x.yaml").logs
    listed, _ = fit_log_model(cfg, ["GET /index 200"])
    assert error_levels_note(listed, ["I", "E"]) is None
    # A JSON record's level is its text: the note stays one short line
    note = error_levels_note(model, ["E", "WRN\nforged line", "W" * 5000])
    assert note is not None and "\n" not in note and len(note) < 600, note
    assert "E x1, 'WRN\\nforged line' x1, WWWWWWWWWWWWWWWWW... x1" in note


@pytest.mark.parametrize("where", [100, 0, 599])
def test_one_line_stamped_years_off_is_dropped_alone_not_the_file_after_it(where):
    """One line years off (in the middle, first or last) used to close every bucket up to
    it: every later line dropped, or a silence of empty buckets (up to logs.gap_seconds,
    for every entity) written into the training rows."""
    cfg = _json_logs_cfg()
    model, _ = fit_log_model(cfg, ["GET /index 200", "cache refresh took 40 ms"])
    stamps = [float(t) for t in range(0, 1200, 2)]
    stamps[where] += (-5 if where == 0 else 5) * 365 * 86400
    events = [LogEvent(e, 1767225600 + t, "INFO", f"GET /index 200 from {e}")
              for t, e in zip(stamps, ["web", "api"] * 300, strict=True)]
    notes: list[str] = []
    rows = count_rows(model, events, progress=notes.append, source="app.jsonl")
    assert sum(r.lines for rs in rows.values() for r in rs) == len(events) - 1
    assert all(r.lines > 0 for rs in rows.values() for r in rs)  # no silence written
    assert sorted(len(rs) for rs in rows.values()) == [120, 120]  # 10 s buckets
    assert notes[-1].startswith("note: 1 line of app.jsonl dropped, alone more than "
                                "logs.gap_seconds before or after the other lines")
    # Stamped past what serve takes from the wall clock: dropped as serve drops it.
    notes.clear()
    count_rows(model, events, progress=notes.append, source="app.jsonl",
               not_after=1767225600 + 1e6)
    if where:
        assert any(n.startswith("note: 1 line of app.jsonl dropped, stamped more than "
                                "serve.windows.max_future_skew_seconds") for n in notes)


def test_time_order_keeps_sparse_logs_whole():
    """Lines far apart everywhere (a daily job) are not strays: only a line far from lines
    that follow each other closely is."""
    day = 86400.0
    assert time_order([0.0, day, 2 * day, 3 * day], 1800.0) == ([0, 1, 2, 3], [], [], 0)
    assert time_order([0.0, 10.0], 1800.0)[0] == [0, 1]


def test_a_stray_line_is_more_than_gap_seconds_away_as_written():
    """"more than logs.gap_seconds" with the times as written (docs/logs.md): the float
    difference 1767225600.4 - 1767225600.1 is more than 0.3, and until 2026-12-07 a first
    line 0.3 s before the next was left out as a stray, and one far before two lines 0.3 s
    apart was kept (they did not follow each other closely)."""
    assert time_order([1767225600.1, 1767225600.4, 1767225600.5], 0.3) == (
        [0, 1, 2], [], [], 0)
    assert time_order([1767225500.0, 1767225600.1, 1767225600.4], 0.3) == (
        [1, 2], [], [0], 0)


def test_a_silent_entitys_empty_buckets_count_up_to_a_sparse_files_last_line():
    """The watermark lags up to two lines behind where a partition's lines are more than a
    bucket apart (docs/logs.md, Watermark); a file in time order has it at its last line, so
    a silent entity's empty buckets up to there are rows, as before that rule."""
    cfg = config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0,
                                     "gap_seconds": 100.0}}).logs
    model, _ = fit_log_model(cfg, ["GET /index 200"])
    t0 = 1767225600
    events = [LogEvent("quiet", t0 + 1, "INFO", "GET /index 200")] + [
        LogEvent("busy", t0 + t, "INFO", "GET /index 200") for t in (5, 17, 29, 41)]
    rows = count_rows(model, events)
    assert [(r.start_ts - t0, r.lines) for r in rows["quiet"]] == [
        (0, 1), (10, 0), (20, 0), (30, 0)]


@pytest.mark.slow
def test_score_counts_a_shuffled_file_in_time_order(cli_bundle, log_files, tmp_path, capsys):
    lines = log_files["test"].read_text().splitlines(keepends=True)
    shuffled = tmp_path / "shuffled.log"
    shuffled.write_text("".join(lines[::2] + lines[1::2]))  # the odd lines come late
    assert main(["score", "--model", str(cli_bundle), "--data", str(shuffled),
                 "--out", str(tmp_path / "s.csv")]) == 0
    note, summary = capsys.readouterr().err.splitlines()
    moved = re.fullmatch(rf"note: (\d+) lines of {re.escape(str(shuffled))} came after a "
                         rf"later-stamped line, up to .+ behind it; the first is entity .+: "
                         rf"counted in time order \(.*\)", note)
    assert moved and 0 < int(moved[1]) <= len(lines) // 2
    assert summary.startswith("scored ") and f"({len(lines)} of {len(lines)} lines)" in summary
    in_order = tmp_path / "in_order.log"
    in_order.write_text("".join(lines))
    assert main(["score", "--model", str(cli_bundle), "--data", str(in_order),
                 "--out", str(tmp_path / "o.csv")]) == 0
    assert (tmp_path / "s.csv").read_text() == (tmp_path / "o.csv").read_text()


@pytest.mark.slow
def test_score_says_what_it_dropped_and_refuses_a_file_with_nothing_to_score(
        cli_bundle, log_files, tmp_path, capsys):
    """A file whose every line was dropped (stamped ahead of the clock, e.g. local time
    read as UTC east of Greenwich) said "scored 120 lines (0 buckets)" and exited 0."""
    lines = log_files["test"].read_text().splitlines(keepends=True)
    ahead = tmp_path / "ahead.log"
    ahead.write_text("".join("2099" + line[4:] for line in lines[:50]))
    out = tmp_path / "s.csv"
    assert main(["score", "--model", str(cli_bundle), "--data", str(ahead), "--out",
                 str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{ahead}: none of its 50 lines was counted into a bucket" in err
    assert "50 lines" in err.splitlines()[0] and "ahead of the wall clock" in err
    assert not out.exists()
    labels = tmp_path / "labels.csv"
    labels.write_text("0\n" * 50)
    assert main(["evaluate", "--model", str(cli_bundle), "--data", str(ahead), "--labels",
                 str(labels)]) == 2  # was a traceback (no bucket to concatenate)
    assert "none of its 50 lines was counted into a bucket" in capsys.readouterr().err
    both = tmp_path / "both.log"
    both.write_text("".join(lines) + "".join("2099" + line[4:] for line in lines[:50]))
    assert main(["score", "--model", str(cli_bundle), "--data", str(both), "--out",
                 str(out)]) == 0
    summary = capsys.readouterr().err.splitlines()[-1]
    assert f"({len(lines)} of {len(lines) + 50} lines, 50 dropped)" in summary, summary


def test_crlf_and_lone_cr_end_lines_and_line_numbers_count_them(tmp_path):
    """A file with lone CR line ends used to be read as one line holding the whole file."""
    p = tmp_path / "app.jsonl"
    line = b'{"entity": "web", "ts": 1767225600, "message": "GET /index 200"}'
    for end in (b"\r", b"\r\n", b"\n"):
        p.write_bytes(end.join([line] * 3) + end)
        assert [e.message for e in read_log_file(p, _json_logs_cfg())] == ["GET /index 200"] * 3
    p.write_bytes(line + b"\r" + line + b"\r\n\r" + b"oops\r")
    with pytest.raises(DataError, match=r"app.jsonl: line 4: bad_json"):
        read_log_file(p, _json_logs_cfg())


def test_a_year_less_file_takes_its_years_from_when_it_was_written(tmp_path):
    """An archived syslog file from a year ago, read today: its lines used to take their
    year from today's date, one by one, so a file spanning today's date a year earlier
    split in two years, and half its lines were dropped as out of order."""
    import os
    from datetime import UTC, datetime

    logs = config_from_dict({"logs": {
        "format": "regex", "timestamp_format": "%b %d %H:%M:%S",
        "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
    }}).logs
    p = tmp_path / "syslog.1"
    p.write_text("".join(f"Mar 10 {h:02d}:{m:02d}:00 bastion sshd: session opened\n"
                         for h in range(24) for m in range(0, 60, 10)))
    written = datetime(2025, 3, 10, 23, 59, tzinfo=UTC).timestamp()
    os.utime(p, (written, written))
    years = {datetime.fromtimestamp(ev.ts, UTC).year for ev in read_log_file(p, logs)}
    assert years == {2025}  # by today's date alone: this year


@pytest.mark.parametrize(("written_on", "last_year"), [("2025-06-13", 2024), ("2025-08-01", 2025)])
def test_a_year_less_file_keeps_its_lines_in_file_order_across_years(tmp_path, written_on,
                                                                       last_year):
    """Years follow the file: 30 October to 27 July is one new year, not July before
    October; 14 June to 27 July copied on 13 June of a later year is one year, not its first
    lines in one and the rest in the year before (Loghub's Proxifier and Linux samples)."""
    import os
    from datetime import UTC, datetime

    logs = config_from_dict({"logs": {
        "format": "regex", "timestamp_format": "%b %d %H:%M:%S",
        "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
    }}).logs
    p = tmp_path / "syslog"
    stamps = ["Jun 14 15:16:01", "Jul 02 08:00:00", "Oct 30 16:49:06", "Dec 31 23:59:59",
              "Jan 01 00:00:01", "Mar 01 12:00:00", "Jul 27 14:41:59", "Jul 27 14:41:54"]
    p.write_text("".join(f"{s} combo sshd: session opened\n" for s in stamps))
    written = datetime.fromisoformat(written_on + "T00:00:00+00:00").timestamp()
    os.utime(p, (written, written))
    got = [datetime.fromtimestamp(ev.ts, UTC).strftime("%Y %b %d") for ev in read_log_file(p, logs)]
    y0, y1 = last_year - 1, last_year
    assert got == [f"{y0} Jun 14", f"{y0} Jul 02", f"{y0} Oct 30", f"{y0} Dec 31",
                   f"{y1} Jan 01", f"{y1} Mar 01", f"{y1} Jul 27", f"{y1} Jul 27"]


@pytest.mark.slow
def test_training_says_when_most_lines_are_in_runs_too_short_to_train_on(tmp_path):
    """Loghub's Linux sample trained on 14 of its 2,000 lines (60 s buckets over 43 days)
    and said only how many short runs were left out; the note on constant features named
    `unseen`, which no training line can move."""
    from anomaly_gan.logs.offline import train_log_detector

    cfg = config_from_dict({**TINY_LOGS_CONFIG, "logs": {
        **TINY_LOGS_CONFIG["logs"], "gap_seconds": 60.0}}, "sparse logs")
    t0 = 1_767_225_600  # 2026-01-01
    dense = [t0 + 10 * b + i for b in range(40) for i in range(3)]
    sparse = [t0 + 10_000 + 600 * k for k in range(200)]  # each alone: a run of one bucket
    words = ["cache hit", "request served in 12 ms", "user login ok"]
    lines = [f"{iso_z(t)} api INFO {words[n % 3]}" for n, t in enumerate(dense + sparse)]
    p = tmp_path / "app.log"
    p.write_text("\n".join(lines) + "\n")
    said: list[str] = []
    train_log_detector(cfg, [str(p)], progress=said.append)
    assert said[0].startswith("320 lines (2026-01-01T00:00:00.000Z to "
                              "2026-01-02T11:56:40.000Z) -> 3 templates"), said[0]
    # 40 buckets of lines and the 5 empty ones before the gap rule (60 s) ends the run
    assert any(m.startswith("45 buckets in 1 runs of >= 12") and m.endswith("holding 120 of "
                                                                             "320 lines")
               for m in said), said
    assert any(m.startswith("note: only 120 of 320 lines (38%) are in runs of 12 or more")
               for m in said), said
    assert not any("unseen" in m for m in said if "never change" in m), said


def test_one_line_stamped_months_behind_does_not_start_a_new_year(tmp_path):
    import os
    from datetime import UTC, datetime

    logs = config_from_dict({"logs": {
        "format": "regex", "timestamp_format": "%b %d %H:%M:%S",
        "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
    }}).logs
    p = tmp_path / "syslog"
    days = [f"Jun {d:02d} 12:00:00" for d in range(1, 11)]
    days.insert(5, "Feb 01 12:00:00")  # a clock set wrong, once
    p.write_text("".join(f"{s} combo sshd: session opened\n" for s in days))
    written = datetime(2025, 6, 11, tzinfo=UTC).timestamp()
    os.utime(p, (written, written))
    years = {datetime.fromtimestamp(ev.ts, UTC).year for ev in read_log_file(p, logs)}
    assert years == {2025}


def test_year_less_stamps_keep_their_wall_clock_in_logs_timezone(tmp_path):
    """Years were changed on UTC times: at +08:00 a 1 March 05:00 line is 29 February UTC,
    which moved the whole file back three years; in Europe/Berlin lines moved by an hour."""
    import os
    from datetime import datetime

    from anomaly_gan.config import zone_of

    def read(zone, stamps, written):
        logs = config_from_dict({"logs": {
            "format": "regex", "timestamp_format": "%b %d %H:%M:%S", "timezone": zone,
            "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
        }}).logs
        p = tmp_path / "syslog"
        p.write_text("".join(f"{s} host x\n" for s in stamps))
        w = datetime.fromisoformat(written).timestamp()
        os.utime(p, (w, w))
        return [datetime.fromtimestamp(e.ts, zone_of(zone)).strftime("%Y-%m-%d %H:%M")
                for e in read_log_file(p, logs)]

    assert read("+08:00", ["Mar 01 05:00:00", "Dec 31 00:00:00", "Jan 02 00:00:00",
                           "Mar 03 00:00:00"], "2024-03-05T00:00:00+00:00") == [
        "2023-03-01 05:00", "2023-12-31 00:00", "2024-01-02 00:00", "2024-03-03 00:00"]
    berlin = read("Europe/Berlin", [f"Mar {d} 12:00:00" for d in range(25, 32)],
                  "2024-03-30T00:00:00+00:00")  # 31 March is after the file was written
    assert berlin == [f"2023-03-{d} 12:00" for d in range(25, 32)]


def test_year_less_stamps_keep_the_pass_of_the_repeated_hour_in_the_year_they_move_to(tmp_path):
    """A year-less file is parsed line by line in the latest year before it was written, and
    the pass of the hour the clocks go back was chosen there (LogParser._local); the years
    that follow the file's order then moved the line to another year, keeping the pass
    chosen in the first, where that hour may not repeat at all (Berlin goes back on 26
    October 2025, 25 October 2026): in a file of over a year, 26 October 2025's second pass
    was read an hour back, out of order."""
    import os

    from anomaly_gan.config import zone_of

    logs = config_from_dict({"logs": {
        "format": "regex", "timestamp_format": "%b %d %H:%M:%S", "timezone": "Europe/Berlin",
        "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
    }}).logs
    repeated = ["Oct 26 01:50:00", "Oct 26 02:40:00", "Oct 26 02:50:00",  # CEST
                "Oct 26 02:00:00", "Oct 26 02:10:00", "Oct 26 03:10:00"]  # CET
    later = [f"{m} {d:02d} 12:00:00" for m in ("Dec", "Jan", "Jun", "Nov") for d in range(1, 6)]
    p = tmp_path / "syslog"
    p.write_text("".join(f"{s} host x\n" for s in repeated + later))
    written = datetime(2026, 11, 6, tzinfo=UTC).timestamp()
    os.utime(p, (written, written))
    times = [ev.ts for ev in read_log_file(p, logs)]
    assert times == sorted(times)
    berlin = zone_of("Europe/Berlin")
    assert [datetime.fromtimestamp(t, berlin).strftime("%Y-%m-%d %H:%M %Z")
            for t in times[:len(repeated)]] == [
        "2025-10-26 01:50 CEST", "2025-10-26 02:40 CEST", "2025-10-26 02:50 CEST",
        "2025-10-26 02:00 CET", "2025-10-26 02:10 CET", "2025-10-26 03:10 CET"]


def test_a_new_year_on_the_last_line_and_a_backlog_of_days(tmp_path):
    """The last line could not start a new year, and lines a day behind did (one host's
    backlog flushed by a relay put the lines before it a year earlier)."""
    import os
    from datetime import UTC, datetime

    logs = config_from_dict({"logs": {
        "format": "regex", "timestamp_format": "%b %d %H:%M:%S",
        "regex": r"^(?P<ts>\w{3} [ \d]\d [\d:]{8}) (?P<entity>\S+) (?P<message>.*)$",
    }}).logs

    def years(stamps, written):
        p = tmp_path / "syslog"
        p.write_text("".join(f"{s} host x\n" for s in stamps))
        w = datetime.fromisoformat(written).timestamp()
        os.utime(p, (w, w))
        return [datetime.fromtimestamp(e.ts, UTC).year for e in read_log_file(p, logs)]

    assert years(["Dec 31 23:00:00"] * 6 + ["Jan 01 00:10:00"],
                 "2025-01-01T01:00:00+00:00") == [2024] * 6 + [2025]
    backlog = [f"Jun 0{d} 12:00:00" for d in (1, 2, 3)] + ["May 28 12:00:00"] * 6 + [
        "Jun 04 12:00:00"]
    assert years(backlog, "2024-06-05T00:00:00+00:00") == [2024] * 10


def test_lines_without_a_time_are_fine_with_a_year_less_format(tmp_path):
    """Counting per N lines needs no time: a year-less timestamp_format with some lines
    that carry none crashed in the year inference (float(None))."""
    logs = config_from_dict({"logs": {"format": "json", "timestamp_format": "%b %d %H:%M:%S",
                                      "bucket_seconds": None, "bucket_lines": 5,
                                      "entity": "app"}}).logs
    p = tmp_path / "app.jsonl"
    p.write_text('{"ts": "Jun 01 12:00:00", "message": "a"}\n{"message": "b"}\n')
    assert [e.ts is None for e in read_log_file(p, logs)] == [False, True]


@pytest.mark.slow
def test_score_counts_the_lines_joined_and_the_lines_left_out(log_files, tmp_path, capsys):
    cfg = tmp_path / "logs.yaml"
    cfg.write_text(yaml.safe_dump({**TINY_LOGS_CONFIG, "logs": {**TINY_LOGS_CONFIG["logs"],
                                                                "bad_lines": "skip"}}))
    model = tmp_path / "m"
    assert main(["train", "--config", str(cfg), "--data", str(log_files["train"]), "--out",
                 str(model), "--quiet"]) == 0
    lines = log_files["test"].read_text().splitlines(keepends=True)
    traced = tmp_path / "traced.log"
    traced.write_text("".join(lines[:10] + ["\tat shop.Cart.add(Cart.java:42)\n"] * 2
                              + lines[10:20] + ["=== restarted ===\n"] * 2 + lines[20:]))
    capsys.readouterr()
    assert main(["score", "--model", str(model), "--data", str(traced), "--out",
                 str(tmp_path / "s.csv")]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"note: 2 of {len(lines) + 4} lines of {traced} joined to the "
                             f"event before them as continuation lines (stack traces of 1 "
                             f"event)")
    assert err[1].startswith(f"note: 2 of {len(lines) + 4} lines of {traced} left out")
    assert (f"({len(lines)} of {len(lines)} lines, with 2 continuation lines joined to them, "
            f"2 more left out as logs.bad_lines)") in err[-1]


def test_a_pino_log_reads_as_the_same_events_as_its_syslog_lines(tmp_path, service_logs,
                                                                  log_files):
    """The service log written the way pino writes it (msg, time in epoch ms, a numeric
    level, hostname) reads, with logs.json_fields, as the events of its syslog-like lines:
    the same rows to train on and score."""
    numbers = {"INFO": 30, "WARN": 40, "ERROR": 50}
    lines = [r for r in service_logs.lines if r["ts"] < service_logs.start_ts
             + service_logs.train_seconds]
    assert {r["level"] for r in lines} <= set(numbers)
    pino = tmp_path / "pino.log"
    pino.write_text("".join(json.dumps({"level": numbers[r["level"]], "time": round(r["ts"] * 1000),
                                        "pid": 7, "hostname": r["entity"], "msg": r["message"]})
                            + "\n" for r in lines))
    cfg = config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0, "json_fields": {
        "message": "msg", "ts": "time", "entity": "hostname"}}}).logs
    syslog = config_from_dict(TINY_LOGS_CONFIG).logs
    assert read_log_file(pino, cfg) == read_log_file(log_files["train"], syslog)


def _json_line(r: dict) -> str:
    """A service log line in the json format, stamped as syslog_line stamps it (ms)."""
    ts = syslog_line(r).split(" ", 1)[0]
    return json.dumps({"entity": r["entity"], "ts": ts, "level": r["level"],
                       "message": r["message"]})


def test_an_otlp_log_reads_as_the_same_events_as_its_json_lines(tmp_path, service_logs,
                                                                 log_files):
    """The service log exported by an OpenTelemetry Collector (batches of log records, one
    OTLP/JSON document per line, severity numbers, nanoseconds) reads as the events of the
    same lines in the json format and of its syslog-like lines: the same rows to train on
    and score."""
    lines = [r for r in service_logs.lines if r["ts"] < service_logs.start_ts
             + service_logs.train_seconds]
    sizes = [1, 7, 30, 2, 100]  # batches of any size, cut anywhere
    batches, i = [], 0
    while i < len(lines):
        n = sizes[len(batches) % len(sizes)]
        batches.append(lines[i:i + n])
        i += n
    otlp = tmp_path / "otlp.jsonl"
    otlp.write_text("".join(otlp_batch(b) + "\n" for b in batches))
    plain = tmp_path / "app.jsonl"
    plain.write_text("".join(_json_line(r) + "\n" for r in lines))
    otlp_cfg = config_from_dict({"logs": {"format": "otlp_json", "bucket_seconds": 10.0}}).logs
    json_cfg = config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0}}).logs
    tally = LineTally()
    events = read_log_file(otlp, otlp_cfg, tally=tally)
    assert len(events) == len(lines) and tally.lines == len(batches)
    assert events == read_log_file(plain, json_cfg)
    assert events == read_log_file(log_files["train"], config_from_dict(TINY_LOGS_CONFIG).logs)
    # logs.format: otlp_proto (the kafka exporter's default) reads a file as the file
    # exporter writes it, OTLP/JSON lines: a model for a protobuf topic trains on them
    proto_cfg = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0}}).logs
    assert read_log_file(otlp, proto_cfg) == events
    model, _ = fit_log_model(otlp_cfg, [ev.message for ev in events])

    def counts(evs):
        return [(r.entity, r.end_ts, r.lines, r.values.tolist())
                for rs in count_rows(model, evs).values() for r in rs]

    rows = counts(events)
    assert sum(r[2] for r in rows) == len(lines) and len(rows) > 100
    assert rows == counts(read_log_file(plain, json_cfg))


def _otlp_file(tmp_path, service_logs, bad_record):
    """Three batches of four log records; the second batch's third record is ``bad_record``
    (a log record), and a last line that is no OTLP document."""
    recs = service_logs.lines[:12]
    docs = [json.loads(otlp_batch(recs[k:k + 4])) for k in (0, 4, 8)]
    target = docs[1]["resourceLogs"]
    flat = [(res, i) for res in target for i in range(len(res["scopeLogs"][0]["logRecords"]))]
    res, i = flat[2]
    res["scopeLogs"][0]["logRecords"][i] = bad_record
    path = tmp_path / "otlp.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs) + '{"message": "no batch"}\n')
    return path


@pytest.mark.parametrize("fmt", ["otlp_json", "otlp_proto"])  # a file is OTLP/JSON with both
def test_a_bad_log_record_stops_at_its_line_or_is_left_out_alone(tmp_path, service_logs,
                                                                  capsys, fmt):
    path = _otlp_file(tmp_path, service_logs, {"timeUnixNano": "1", "severityNumber": 9})
    cfg = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0}}).logs
    with pytest.raises(DataError) as err:
        read_log_file(path, cfg)
    assert str(err.value).startswith(f"{path}: line 2: missing_field: resourceLogs[")
    assert "'body' is missing" in str(err.value)
    assert str(err.value).endswith("; a model trained with logs.bad_lines: skip leaves such log "
                                   "records out (and a line that is no OTLP document), as serve "
                                   "dead-letters them")
    notes: list[str] = []
    tally = LineTally()
    skip = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    events = read_log_file(path, skip, progress=notes.append, tally=tally)
    # the bad log record alone: the other three of its line are read
    assert [ev.message for ev in events] == [r["message"] for k, r in
                                             enumerate(service_logs.lines[:12]) if k != 6]
    assert len(notes) == 1
    assert notes[0].startswith(f"note: 2 of 13 log records (4 lines) of {path} left out "
                               f"(logs.bad_lines: skip): missing_field 2; the first is line 2: "
                               f"missing_field: resourceLogs[")
    assert (tally.lines, tally.skipped, tally.records_skipped) == \
        (4, {"missing_field": 2}, {"missing_field": 2})
    # one label per line: each log record of a labelled line is labelled
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n0\n1\n0\n1\n")
    config = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0,
                                        "bad_lines": "skip"}})
    got, marks = read_for_log_model(config, str(path), str(labels), progress=notes.append)
    assert len(got) == 11 and marks == [0] * 4 + [1] * 3 + [0] * 4
    assert notes[-1].startswith("note: 1 of the 2 lines labelled 1 in")


def _batches(service_logs, sizes=(4, 4, 4)):
    """The first lines of the service log as OTLP/JSON batches of ``sizes`` records."""
    out, k = [], 0
    for n in sizes:
        out.append(otlp_batch(service_logs.lines[k:k + n]))
        k += n
    return out


@pytest.mark.parametrize("fmt", ["otlp_proto", "otlp_json"])
def test_a_file_of_the_file_exporters_format_proto_reads_as_its_json_lines(tmp_path,
                                                                          service_logs, fmt):
    """The file exporter's format: proto (each request after its 4-byte big-endian length)
    was refused in one line: now its messages read as the same events as the same batches
    written as OTLP/JSON lines, with either OTLP format, an empty message (a request of no
    log records) too; a message is what a line is, for the tally and the labels."""
    from tests.support.otlp import framed, to_proto

    docs = _batches(service_logs, (1, 7, 30, 2))
    binary = tmp_path / "otlp.bin"
    binary.write_bytes(framed(*map(to_proto, docs[:2]), b"", *map(to_proto, docs[2:])))
    lines = tmp_path / "otlp.jsonl"
    lines.write_text("".join(d + "\n" for d in docs))
    cfg = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0}}).logs
    tally = LineTally()
    events = read_log_file(binary, cfg, tally=tally)
    assert len(events) == 40 and events == read_log_file(lines, cfg)
    assert (tally.framed, tally.lines) == (True, 5)
    labels = tmp_path / "labels.csv"
    labels.write_text("label\n0\n1\n0\n0\n0\n")
    got, marks = read_for_log_model(config_from_dict({"logs": {"format": fmt,
                                                               "bucket_seconds": 10.0}}),
                                    str(binary), str(labels))
    assert got == events and marks == [0] + [1] * 7 + [0] * 32
    labels.write_text("label\n0\n1\n")
    with pytest.raises(DataError, match="per message of"):
        read_for_log_model(config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0}}),
                           str(binary), str(labels))


def test_a_bad_message_of_a_proto_file_is_named_by_number_and_byte(tmp_path, service_logs):
    """A message that is no protobuf request, or holds a bad log record, stops the command
    naming the message and the byte its length starts at; with logs.bad_lines: skip it is
    left out alone, as a line of OTLP/JSON is."""
    from tests.support.otlp import framed, to_proto

    good = [to_proto(d) for d in _batches(service_logs)]
    bad = json.loads(otlp_batch(service_logs.lines[12:14]))
    bad["resourceLogs"][-1]["scopeLogs"][0]["logRecords"][-1] = {"timeUnixNano": "1"}
    path = tmp_path / "otlp.bin"
    path.write_bytes(framed(good[0], b"\x0a\xff\xff", good[1], good[2], to_proto(bad)))
    cfg = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0}}).logs
    with pytest.raises(DataError) as err:
        read_log_file(path, cfg)
    at = 4 + len(good[0])
    first = (f"message 2 at byte {at}: bad_protobuf: not an OTLP protobuf "
             f"ExportLogsServiceRequest: ")
    assert str(err.value).startswith(f"{path}: {first}") and "\n" not in str(err.value)
    assert str(err.value).endswith("(and a message that is no OTLP document), as serve "
                                   "dead-letters them")
    skip = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    notes: list[str] = []
    events = read_log_file(path, skip, progress=notes.append)
    assert [ev.message for ev in events] == [r["message"] for r in service_logs.lines[:13]]
    assert len(notes) == 1 and notes[0].startswith(
        f"note: 2 of 15 log records (5 messages) of {path} left out (logs.bad_lines: skip): "
        f"bad_protobuf 1, missing_field 1; the first is {first}")


def _stops_in_one_line(path, expected, tmp_path, capsys) -> dict:
    """An OTLP proto log file that read_log_file refuses with ``expected`` (its start) and
    train with it as its one line, exit 2, whatever logs.bad_lines says; the config used."""
    config = {**TINY_LOGS_CONFIG, "logs": {"format": "otlp_proto", "bucket_seconds": 10.0,
                                           "bad_lines": "skip"}}
    with pytest.raises(DataError) as err:
        read_log_file(path, config_from_dict(config).logs)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
    cfg = tmp_path / "logs.yaml"
    cfg.write_text(yaml.safe_dump(config))
    assert main(["train", "--config", str(cfg), "--data", str(path), "--out",
                 str(tmp_path / "m")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and f"anomaly-gan: error: {expected}" in err_text
    return config


@pytest.mark.parametrize("cut, detail", [
    (2, "message 2 at byte {at}: cut short: 2 of the 4 bytes of its length prefix"),
    (9, "message 2 at byte {at}: cut short: its length prefix says {size} bytes, 5 follow"),
])
def test_a_proto_file_cut_short_is_one_line_naming_the_message_and_byte(
        tmp_path, service_logs, capsys, cut, detail):
    """A file still being written, or copied half: the messages after the cut cannot be
    found, so whatever logs.bad_lines says the command stops in one line, exit 2."""
    from tests.support.otlp import framed, to_proto

    first, second = (to_proto(d) for d in _batches(service_logs, (4, 4)))
    path = tmp_path / "otlp.bin"
    path.write_bytes(framed(first, second)[:4 + len(first) + cut])
    expected = f"{path}: " + detail.format(at=4 + len(first), size=len(second))
    _stops_in_one_line(path, expected, tmp_path, capsys)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
def test_an_otlp_json_file_cut_inside_its_last_line_says_so(tmp_path, service_logs, end):
    """A file the exporter is still writing: its last line is cut, with no newline; it said
    'bad_json: ... Unterminated string' and that bad_lines: skip would leave it out. A
    bad line that ends in a newline is bad_json as before; with skip the cut line is left
    out, as a bad line is."""
    text = end.join(_batches(service_logs)) + end
    path = tmp_path / "otlp.jsonl"
    path.write_text(text[:-30], newline="")
    cfg = config_from_dict({"logs": {"format": "otlp_json", "bucket_seconds": 10.0}}).logs
    with pytest.raises(DataError) as err:
        read_log_file(path, cfg)
    assert str(err.value) == f"{path}: line 3: {CUT_LINE}"  # the OTLP files' words
    path.write_text(text[:-30] + end, newline="")
    with pytest.raises(DataError, match=f"^{path}: line 3: bad_json: "):
        read_log_file(path, cfg)
    skip = config_from_dict({"logs": {"format": "otlp_json", "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    path.write_text(text[:-30], newline="")
    assert len(read_log_file(path, skip)) == 8


def _utf8_log(fmt: str, recs: list[dict]) -> bytes:
    """The records ``recs`` as a log file of ``fmt`` (regex: syslog lines; json; otlp_json:
    batches of 4), non-ASCII text written as UTF-8."""
    if fmt == "regex":
        lines = [syslog_line(r) for r in recs]
    elif fmt == "json":
        lines = [json.dumps(json.loads(_json_line(r)), ensure_ascii=False) for r in recs]
    else:
        lines = [json.dumps(json.loads(otlp_batch(recs[k:k + 4])), ensure_ascii=False)
                 for k in range(0, len(recs), 4)]
    return "".join(line + "\n" for line in lines).encode()


@pytest.mark.parametrize("inside", [1, 2])
@pytest.mark.parametrize("fmt", ["regex", "json", "otlp_json"])
def test_a_last_line_cut_inside_a_character_reads_as_one_cut_before_it(tmp_path, service_logs,
                                                                       fmt, inside):
    """A log file cut while being written can end inside a character (non-ASCII text is
    written as UTF-8): its last line said 'not_utf8: not UTF-8: ... unexpected end of
    data', as if the file were in another encoding, where the file cut before that
    character reads on (regex) or is 'cut short' (json, otlp_json). It reads
    as that file does, with bad_lines error and skip; a bad byte elsewhere in the line, or
    a last line that ends inside a character and in a newline, is not_utf8 as before."""
    recs = [dict(r) for r in service_logs.lines[:12]]
    recs[-1]["message"] += " on 日本 host"
    text = _utf8_log(fmt, recs)
    at = text.rindex("日".encode())
    path = tmp_path / "app.log"

    def read(data: bytes, bad_lines: str) -> tuple[list[LogEvent] | str, list[str]]:
        path.write_bytes(data)
        cfg = {**TINY_LOGS_CONFIG["logs"], "format": fmt, "bad_lines": bad_lines}
        notes: list[str] = []
        try:
            return read_log_file(path, config_from_dict({"logs": cfg}).logs,
                                 progress=notes.append), notes
        except DataError as err:
            return str(err), notes

    for bad_lines in ("error", "skip"):
        cut = read(text[:at + inside], bad_lines)
        assert cut == read(text[:at], bad_lines)
    last = text.rstrip(b"\n").rindex(b"\n") + 1
    got, _ = read(text[:at + inside], "error")
    if fmt != "regex":
        closed = "the file exporter's rotation" if fmt == "otlp_json" else "log rotation"
        assert got == (f"{path}: line {3 if fmt == 'otlp_json' else 12}: cut short: the last "
                       f"line is no complete JSON and ends without a newline (a file still "
                       f"being written or cut: read a closed file, such as one {closed} "
                       f"closed)")
    else:
        assert isinstance(got, list) and got[-1].message.endswith(" on ")
    line = 3 if fmt == "otlp_json" else 12
    bad = text[:last] + text[last:].replace(b" ", b"\xff", 1)
    for data in (bad[:at + inside], text[:at + inside] + b"\n"):
        got, _ = read(data, "error")
        assert isinstance(got, str) and got.startswith(f"{path}: line {line}: not_utf8: ")


@pytest.mark.parametrize("cut", [30, 52, 67, 90])
def test_a_json_log_file_cut_inside_its_last_line_says_so(tmp_path, service_logs, capsys, cut):
    """A json log file still being written (or a copy cut short): its last line, with no
    newline, said 'bad_json: not valid JSON: Unterminated string ...' and that
    bad_lines: skip would leave such lines out, as if the file were malformed, where an
    OTLP/JSON file says it was cut short. It says so now in one line naming file and line,
    train stopping with exit 2; with skip the cut line is left out and counted, as before.
    A bad line that ends in a newline, and a last line that is no JSON object at all (a
    text log read as json), are bad_json as before."""
    lines = [_json_line(r) for r in service_logs.lines[:12]]
    text = "".join(line + "\n" for line in lines)
    path = tmp_path / "app.log"
    path.write_text(text[:-cut])
    logs = {**TINY_LOGS_CONFIG["logs"], "format": "json", "bad_lines": "error"}
    expected = (f"{path}: line 12: cut short: the last line is no complete JSON and ends "
                f"without a newline (a file still being written or cut: read a closed file, "
                f"such as one log rotation closed)")
    with pytest.raises(DataError) as err:
        read_log_file(path, config_from_dict({"logs": logs}).logs)
    assert str(err.value) == expected
    cfg = tmp_path / "logs.yaml"
    cfg.write_text(yaml.safe_dump({**TINY_LOGS_CONFIG, "logs": logs}))
    assert main(["train", "--config", str(cfg), "--data", str(path), "--out",
                 str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err == f"anomaly-gan: error: {expected}\n"
    skip = config_from_dict({"logs": {**logs, "bad_lines": "skip"}}).logs
    notes: list[str] = []
    assert len(read_log_file(path, skip, progress=notes.append)) == 11
    assert len(notes) == 1 and ("bad_json 1; the first is line 12: bad_json: not valid "
                                "JSON: ") in notes[0]
    error = config_from_dict({"logs": logs}).logs
    for data in (text[:-cut] + "\n", text[:-cut] + "\n" + lines[-1],
                 "".join(line + "\n" for line in lines[:11]) + "Dec  5 10:00:01 host sshd"):
        path.write_text(data)
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: line 12: bad_json: "):
            read_log_file(path, error)
    path.write_text("Dec  5 10:00:01 host sshd")
    with pytest.raises(DataError, match="bad_json: .*; logs.format is 'json' .* wants "
                                        "logs.format: regex"):
        read_log_file(path, error)


@pytest.mark.parametrize("last", ["hello", '{"a":1}}', "[1,2]x", '{"body": x'])
@pytest.mark.parametrize("format", ["json", "otlp_json"])
def test_a_bad_last_line_without_a_newline_is_bad_json_not_cut_short(tmp_path, service_logs,
                                                                     format, last):
    """A last line with no newline that no more bytes could make JSON said 'cut short' (any
    line of an OTLP file, a json log's starting with '{'), as if the file were still being
    written: it is bad_json, as with its newline; a line that is JSON so far is still cut
    short."""
    good = ([_json_line(r) for r in service_logs.lines[:4]] if format == "json"
            else _batches(service_logs, (4,)))
    text = "".join(line + "\n" for line in good)
    path = tmp_path / "app.log"
    cfg = config_from_dict({"logs": {**TINY_LOGS_CONFIG["logs"], "format": format,
                                     "bad_lines": "error"}}).logs
    n = len(good) + 1
    for ending in ("", "\n"):
        path.write_text(text + last + ending)
        with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: line {n}: bad_json: "):
            read_log_file(path, cfg)
    path.write_text(text + good[0][:-5])
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: line {n}: cut short: "):
        read_log_file(path, cfg)


@pytest.mark.parametrize("exported", ["json", "proto"])
@pytest.mark.parametrize("fmt", ["otlp_proto", "otlp_json"])
def test_a_zstd_compressed_file_reads_as_its_json_lines(tmp_path, service_logs, fmt,
                                                        exported):
    """The file exporter's compression: zstd compresses each request (an OTLP/JSON document
    with format: json, protobuf with format: proto) and frames it after its length: such a
    file was refused ('the message is zstd-compressed ... which is not read'); now it reads
    as the same events as the same batches written as OTLP/JSON lines, a message counted
    as a line is. With logs.bad_lines: skip a bad document is one message left out."""
    from tests.support.otlp import to_proto, zstd_framed

    docs = _batches(service_logs, (1, 7, 30, 2))
    lines = tmp_path / "otlp.jsonl"
    lines.write_text("".join(d + "\n" for d in docs))
    path = tmp_path / "otlp.bin"
    path.write_bytes(zstd_framed(*(docs if exported == "json" else map(to_proto, docs))))
    cfg = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0}}).logs
    tally = LineTally()
    events = read_log_file(path, cfg, tally=tally)
    assert len(events) == 40 and events == read_log_file(lines, cfg)
    assert (tally.framed, tally.lines, tally.piece) == (True, 4, "message")
    bad = b"{not json" if exported == "json" else b"\x0a\xff\xff"
    path.write_bytes(zstd_framed(docs[0], bad, docs[1]) if exported == "json" else
                     zstd_framed(to_proto(docs[0]), bad, to_proto(docs[1])))
    skip = config_from_dict({"logs": {"format": fmt, "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    notes: list[str] = []
    assert len(read_log_file(path, skip, progress=notes.append)) == 8
    at = 4 + int.from_bytes(path.read_bytes()[:4], "big")
    reason = "bad_json" if exported == "json" else "bad_protobuf"
    assert notes[0].startswith(f"note: 1 of 9 log records (3 messages) of {path} left out "
                               f"(logs.bad_lines: skip): {reason} 1; the first is message 2 "
                               f"at byte {at}: {reason}: ")


@pytest.mark.parametrize("how, why", [
    ("cut", "not a valid zstd frame: "),
    ("corrupt", "not a valid zstd frame: "),
    ("bomb", ("the zstd frame decompresses to more than 64 MiB, the most a message may hold "
              "(a corrupt or hostile file)")),
])
def test_a_damaged_zstd_message_stops_in_one_line_naming_it(tmp_path, service_logs, capsys,
                                                            how, why):
    """A compressed message cut short, changed (its checksum no longer matches) or a zstd
    bomb (a few KiB whose header says 65 MiB): whatever logs.bad_lines says the command
    stops in one line naming the file, the message and its byte, exit 2. A file
    compressed whole is read as the file it holds."""
    import zstandard

    from tests.support.otlp import framed, to_proto, zstd_framed

    first, second = (to_proto(d) for d in _batches(service_logs, (4, 4)))
    if how == "bomb":
        damaged = zstandard.ZstdCompressor(level=1).compress(bytes(65 << 20))
    else:
        frame = zstandard.ZstdCompressor(write_checksum=True).compress(second)
        damaged = frame[:-9] if how == "cut" else frame[:-1] + bytes([frame[-1] ^ 0xFF])
    path = tmp_path / "app.bin"
    path.write_bytes(zstd_framed(first) + framed(damaged))
    expected = f"{path}: message 2 at byte {len(zstd_framed(first))}: {why}"
    config = _stops_in_one_line(path, expected, tmp_path, capsys)
    path.write_bytes(framed(first))  # a file compressed whole reads as it (was refused)
    events = read_log_file(path, config_from_dict(config).logs)
    path.write_bytes(zstandard.ZstdCompressor().compress(framed(first)))
    assert read_log_file(path, config_from_dict(config).logs) == events


def test_a_file_of_another_shape_read_with_otlp_says_what_an_otlp_file_is(tmp_path):
    """A text log read with logs.format: otlp_proto: the one-line error says which two
    shapes of the file exporter's files are read."""
    path = tmp_path / "app.log"
    path.write_text("2026-01-01T00:00:00Z web INFO ok\n")
    cfg = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0}}).logs
    with pytest.raises(DataError) as err:
        read_log_file(path, cfg)
    assert str(err.value).startswith(f"{path}: line 1: bad_json: ")
    assert str(err.value).endswith("; with logs.format: otlp_proto a log file is the "
                                   "Collector's file exporter's: OTLP/JSON lines (its format: "
                                   "json, the default) or protobuf messages each after its "
                                   "4-byte length (format: proto)")


def test_an_otlp_file_without_a_log_record_to_read_says_so_once(tmp_path):
    """It said 'no log log records'."""
    cfg = config_from_dict({"logs": {"format": "otlp_json", "bucket_seconds": 10.0}}).logs
    path = tmp_path / "otlp.jsonl"
    path.write_text('{"resourceLogs": []}\n')
    with pytest.raises(DataError, match=r"otlp\.jsonl: no log records$"):
        read_log_file(path, cfg)
    path.write_text('{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"timeUnixNano": "1"}]}]}]}\n')
    skip = config_from_dict({"logs": {"format": "otlp_json", "bucket_seconds": 10.0,
                                      "bad_lines": "skip"}}).logs
    with pytest.raises(DataError, match=r"otlp\.jsonl: no log records that parse \(line 1: "
                                        r"missing_field: resourceLogs\[0\]"):
        read_log_file(path, skip)


@pytest.mark.slow
def test_score_explains_a_log_alarm_storm_by_the_columns_that_moved(cli_bundle, service_logs,
                                                                    tmp_path, capsys):
    """Every line five times over: every bucket alarms, and `score` says which columns
    moved, a template column by its text (Loghub's HDFS sample: 355 of 704 buckets)."""
    split = service_logs.start_ts + service_logs.train_seconds
    lines = [syslog_line({**r, "ts": r["ts"] + 7200}) for r in service_logs.lines
             if r["ts"] < split]
    flood = tmp_path / "flood.log"
    flood.write_text("".join(f"{line}\n" * 5 for line in lines))
    capsys.readouterr()
    assert main(["score", "--model", str(cli_bundle), "--data", str(flood), "--out",
                 str(tmp_path / "s.csv")]) == 0
    note = capsys.readouterr().err.strip().splitlines()[-1]
    assert re.match(r"note: \d+ of \d+ buckets \(\d+\.\d%\) are over the threshold, against ",
                    note), note
    assert "(PSI against it: " in note and "lines_per_second" in note


@pytest.mark.slow
def test_entity_with_a_logs_model_is_refused_in_one_line(cli_bundle, log_files, tmp_path,
                                                          capsys):
    """--entity picks one entity of an OpenTelemetry metric file; a logs model's score and
    evaluate read every entity of a log file, so it is refused before anything is read."""
    out = tmp_path / "s.csv"
    capsys.readouterr()
    assert main(["score", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--entity", "web-1", "--out", str(out)]) == 2
    assert main(["evaluate", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--labels", str(log_files["labels"]), "--entity", "web-1"]) == 2
    err = capsys.readouterr().err.splitlines()
    line = (f"anomaly-gan: error: --entity web-1: {cli_bundle} is a logs model, whose score "
            f"reads every entity of a log file; --entity picks one entity of an OpenTelemetry "
            f"metric file")
    assert err == [line, line]
    assert not out.exists()


@pytest.mark.slow
def test_score_alerts_with_a_logs_model_is_refused_in_one_line(cli_bundle, log_files,
                                                               tmp_path, capsys):
    """score --alerts rebuilds a metrics model's alert records; a logs model's name log
    templates (the live LogFeed), which score does not rebuild: refused before reading."""
    out, alerts = tmp_path / "s.csv", tmp_path / "a.jsonl"
    capsys.readouterr()
    assert main(["score", "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--out", str(out), "--alerts", str(alerts)]) == 2
    line = (f"anomaly-gan: error: --alerts: {cli_bundle} is a logs model; score --alerts "
            f"takes a metrics model (a logs model's alerts name log templates, which score "
            f"does not rebuild)")
    assert capsys.readouterr().err.splitlines() == [line]
    assert not out.exists() and not alerts.exists()


# ------------------------------------------------------------------ buckets train chooses

class _Trained(Exception):
    """What train_log_detector would have trained on (the GAN is not fitted here)."""

    def __init__(self, cfg, series, names):
        super().__init__("trained")
        self.cfg, self.series, self.names = cfg, series, names


@pytest.fixture()
def no_gan(monkeypatch):
    """train_log_detector up to the GAN: the bucket choice without minutes of training."""
    def fake(cfg, series, names, **_):
        raise _Trained(cfg, series, names)

    monkeypatch.setattr("anomaly_gan.train.train_detector", fake)


def _auto_trained(path) -> tuple[_Trained, list[str]]:
    """What train_log_detector with the buckets left to train (AUTO_CONFIG) would train on
    from ``path``, and what it said (``no_gan`` in force)."""
    from anomaly_gan.logs.offline import train_log_detector

    said: list[str] = []
    with pytest.raises(_Trained) as trained:
        train_log_detector(config_from_dict(AUTO_CONFIG, "auto.yaml"), [str(path)],
                           progress=said.append)
    return trained.value, said


def test_the_rule_for_n_lines_per_bucket():
    from anomaly_gan.logs.offline import AUTO_MAX_LINES, auto_bucket_lines

    # the most lines of one entity // max(4 x 2 windows, 200), from 1 to 1000
    assert auto_bucket_lines(600, 6) == 3  # 200 buckets (4 x 12 gave 50: 20 windows)
    assert auto_bucket_lines(2000, 32) == 7  # a Loghub 2k sample: 286 buckets
    assert auto_bucket_lines(2000, 6) == 10  # 200 buckets (41 lines each before)
    assert auto_bucket_lines(199, 6) == 1 and auto_bucket_lines(0, 32) == 1
    assert auto_bucket_lines(10**9, 32) == AUTO_MAX_LINES == 1000


def test_train_chooses_the_buckets_only_when_the_config_leaves_them_out(tmp_path):
    """A key the file or the environment sets is the user's choice, even at its default."""
    from anomaly_gan.config import load_config
    from anomaly_gan.logs.offline import chooses_buckets

    def cfg(text, env=None):
        p = tmp_path / "c.yaml"
        p.write_text(text)
        return load_config(p, env=env or {})

    assert chooses_buckets(cfg("logs:\n  format: json\n"))
    assert not chooses_buckets(cfg("logs:\n  format: json\n  bucket_seconds: 60\n"))
    assert not chooses_buckets(cfg("logs:\n  bucket_seconds: null\n  bucket_lines: 5\n"))
    assert not chooses_buckets(cfg("logs:\n  format: json\n",
                                   {"ANOMALY_GAN__LOGS__BUCKET_SECONDS": "60"}))
    assert not chooses_buckets(cfg("training:\n  epochs: 2\n"))  # no logs section


def test_a_short_capture_is_counted_per_n_lines_with_a_note(tmp_path, no_gan):
    """90 s of lines are two 60 s buckets: train refused them (run too short) under the
    defaults; it now counts a bucket every N lines, says so, and the config it trains with
    (the bundle's) holds N."""

    p = tmp_path / "app.log"
    short_capture(p)
    got, said = _auto_trained(p)
    assert got.cfg.logs.bucket_lines == 3 and got.cfg.logs.bucket_seconds is None
    assert [len(s) for s in got.series] == [200, 200] and "volume_drop" not in got.names
    notes = [m for m in said if m.startswith("note: logs.bucket_lines: 3, chosen by train")]
    assert len(notes) == 1, said
    assert ("60 s buckets (the default) leave no run of 12 (the longest is 2); N = the most "
            "lines of one entity (600, 'db') // max(4 x 12, 200) buckets, from 1 to 1000"
            ) in notes[0]
    assert notes[0].endswith("set either key to choose")
    # the columns are those of the buckets chosen (said before the choice, they named a
    # volume drop column that per N lines has not)
    columns = [m for m in said if m.startswith("columns: ")]
    assert len(columns) == 1 and "volume drop" not in columns[0], said
    assert said.index(columns[0]) > said.index(notes[0])


def test_train_per_n_lines_leaves_the_partial_last_buckets_out_and_says_so(tmp_path, no_gan):
    """Where train counts per N lines, each entity's last bucket of fewer than N lines is
    left out, as in score and serve (trained on until 2026-12-07); an entity with fewer
    than N lines in all has no rows, and the others still train. The note comes after the
    one that chose N, once."""

    p = tmp_path / "app.log"
    short_capture(p, lines=601)  # N = 601 // 200 = 3: 200 buckets and 1 line of each
    with p.open("a") as f:
        f.write("2026-01-01T00:01:30Z cron INFO job started\n"
                "2026-01-01T00:01:31Z cron INFO job done\n")
    got, said = _auto_trained(p)
    assert got.cfg.logs.bucket_lines == 3
    assert [len(s) for s in got.series] == [200, 200]
    notes = [m for m in said if m.startswith("note:")]
    assert notes[0].startswith("note: logs.bucket_lines: 3, chosen by train"), said
    assert notes[1].startswith(f"note: 4 lines of {p} left out, the last buckets of 3 "
                               f"entities, each with fewer than logs.bucket_lines (3) lines"), said
    assert sum("left out, the last bucket" in m for m in said) == 1, said
    assert any(m.endswith("holding 1200 of 1204 lines") for m in said), said


def test_train_per_n_lines_leaves_lines_stamped_ahead_out_as_its_time_buckets_do(
        tmp_path, no_gan):
    """Train's fallback to per-N-lines buckets counted the file again without the wall
    clock's limit, so lines stamped ahead of it (serve's future_timestamp, left out of the
    time buckets tried first, with a note) were trained on as the newest buckets of their
    entity. They are left out of both, and said once."""
    import time


    p = tmp_path / "app.log"
    now = time.time()
    lines = [f"{iso_z(now - 100 + 90 * i / 600)} {e} INFO request served in 12 ms"
             for i in range(600) for e in ("api", "db")]  # N = 3: 200 buckets of each
    # ten minutes ahead (serve.windows.max_future_skew_seconds: 300), within the gap
    lines += [f"{iso_z(now + 600 + i)} api INFO request served in 12 ms" for i in range(6)]
    p.write_text("\n".join(lines) + "\n")
    got, said = _auto_trained(p)
    assert got.cfg.logs.bucket_lines == 3
    assert [len(s) for s in got.series] == [200, 200]
    ahead = [m for m in said if "ahead of the wall clock" in m]
    assert len(ahead) == 1 and "6 lines" in ahead[0], said


def test_an_explicit_bucket_width_still_refuses_a_short_capture(tmp_path, no_gan):
    from anomaly_gan.logs.offline import train_log_detector

    p = tmp_path / "app.log"
    short_capture(p)
    cfg = config_from_dict({**AUTO_CONFIG, "logs": {**AUTO_CONFIG["logs"],
                                                    "bucket_seconds": 60}}, "mine.yaml")
    with pytest.raises(DataError, match=r"app.log: the longest run of buckets of one entity is "
                                        r"2; training needs at least 12 "):
        train_log_detector(cfg, [str(p)])


def test_time_buckets_that_train_on_part_of_the_lines_stay(tmp_path, no_gan):
    """Time buckets that train on 210 dense minutes and leave the sparse rest out (each
    line its own run of 5 buckets, then the gap rule) stay: they see silences and volume
    drops, which buckets of N lines cannot; the note on the lines left out says what to do.
    Only where they leave fewer than AUTO_MIN_BUCKETS to train on (until 2026-12-06: none)
    does train count per N lines (the next test)."""
    from anomaly_gan.logs.offline import train_log_detector

    t0 = 1_767_225_600
    dense = [t0 + 30 * i for i in range(420)]  # 210 buckets of 60 s: one run of >= 12
    sparse = [t0 + 20_000 + 7200 * k for k in range(500)]  # 2 h apart: runs of 5
    p = tmp_path / "app.log"
    p.write_text("".join(f"{iso_z(t)} api INFO user login ok\n" for t in dense + sparse))
    said: list[str] = []
    cfg = config_from_dict({**AUTO_CONFIG, "logs": {**AUTO_CONFIG["logs"],
                                                    "gap_seconds": 300}}, "auto.yaml")
    with pytest.raises(_Trained) as trained:
        train_log_detector(cfg, [str(p)], progress=said.append)
    assert trained.value.cfg.logs.bucket_seconds == 60
    assert trained.value.cfg.logs.bucket_lines is None
    assert not any("chosen by train" in m for m in said), said
    assert any(m.startswith("note: only 420 of 920 lines (46%) are in runs of 12 or more")
               for m in said), said


def test_time_buckets_that_leave_few_buckets_to_train_on_give_way_to_n_lines(tmp_path, no_gan):
    """A 15-minute capture of 2,000 lines (Loghub's OpenStack and Thunderbird samples) made
    15 time buckets, 3 windows to train on at window 6, and train kept them (a run of 12 was
    enough); it now counts per N lines where the time buckets leave fewer than
    AUTO_MIN_BUCKETS in runs long enough and the lines give more."""
    from anomaly_gan.logs.offline import AUTO_MIN_BUCKETS

    t0 = 1_767_225_600
    p = tmp_path / "app.log"
    p.write_text("".join(f"{iso_z(t0 + 0.45 * i)} api INFO user {i % 7} login ok\n"
                         for i in range(2000)))
    got, said = _auto_trained(p)
    logs = got.cfg.logs
    assert (logs.bucket_seconds, logs.bucket_lines) == (None, 2000 // AUTO_MIN_BUCKETS)
    assert [len(s) for s in got.series] == [AUTO_MIN_BUCKETS]
    assert any("60 s buckets (the default) leave 15 buckets in runs of 12 or more (fewer "
               "than 200)" in m for m in said), said


def test_a_capture_too_short_even_per_line_is_one_line_naming_what_was_tried(tmp_path, capsys):
    cfg = tmp_path / "auto.yaml"
    cfg.write_text(yaml.safe_dump(AUTO_CONFIG))
    p = tmp_path / "app.log"
    short_capture(p, lines=10, entities=("api",))
    assert main(["train", "--config", str(cfg), "--data", str(p), "--out",
                 str(tmp_path / "m"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert (f"{p}: the longest run of buckets of one entity is 2 in 60 s buckets (the "
            f"default), and 10 per 1 line (logs.bucket_lines, tried as the config sets neither "
            f"key); training needs at least 12 ") in err


@pytest.mark.slow
def test_train_with_default_buckets_on_a_short_capture_then_score_it(tmp_path, capsys):
    """The defaults train a 90-second log (a bucket every 3 lines: 200 buckets of each
    entity's 600 lines), the bundle's config keeps the choice, and score counts the file
    with it."""
    cfg = tmp_path / "auto.yaml"
    cfg.write_text(yaml.safe_dump(AUTO_CONFIG))
    p = tmp_path / "app.log"
    short_capture(p)
    bundle = tmp_path / "m"
    assert main(["train", "--config", str(cfg), "--data", str(p), "--out", str(bundle)]) == 0
    assert "note: logs.bucket_lines: 3, chosen by train" in capsys.readouterr().err
    saved = yaml.safe_load((bundle / "config.yaml").read_text())["logs"]
    assert (saved["bucket_seconds"], saved["bucket_lines"]) == (None, 3)
    out = tmp_path / "scores.csv"
    assert main(["score", "--model", str(bundle), "--data", str(p), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["entity"] for r in rows} == {"api", "db"}
    assert len(rows) == 400 and {r["lines"] for r in rows} == {"3"}  # the bundle's buckets
    # a line more of each entity: a partial last bucket each, left out as serve never scores
    # it (until 2026-12-07 a row of 1 line, scored with the 2 lines before it)
    short_capture(p, lines=601)
    capsys.readouterr()
    assert main(["score", "--model", str(bundle), "--data", str(p), "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 400 and {r["lines"] for r in rows} == {"3"}
    err = capsys.readouterr().err
    assert (f"note: 2 lines of {p} left out, the last buckets of 2 entities, each with fewer "
            f"than logs.bucket_lines (3) lines at the end of the file") in err
    assert "(1200 of 1202 lines, 2 in partial buckets left out)" in err


def test_a_syslog_pri_that_is_no_priority_follows_bad_lines(tmp_path):
    data = tmp_path / "relay.log"
    data.write_text("<27>2026-01-01T00:00:00Z web payment failed for cart 42\n"
                    "<200>2026-01-01T00:00:01Z web GET /cart 200\n")
    regex = r"^<(?P<pri>\d{1,3})>(?P<ts>\S+) (?P<entity>\S+) (?P<message>.*)$"
    with pytest.raises(DataError, match=r"relay.log: line 2: missing_field: 'pri' '200' is not "
                                        r"a syslog priority \(0-191\)"):
        read_log_file(data, _regex_logs_cfg(regex=regex).logs)
    tally = LineTally()
    events = read_log_file(data, _regex_logs_cfg(regex=regex, bad_lines="skip").logs,
                           tally=tally)
    assert [(e.level, e.message) for e in events] == [("ERR", "payment failed for cart 42")]
    assert tally.skipped == {"missing_field": 1}


def test_per_n_lines_an_entity_back_after_the_gap_starts_a_new_series_as_in_serve():
    """serve (stream/intake.py) forgets an entity whose line comes more than
    logs.gap_seconds after its newest one, per N lines too: its partial bucket is left out
    and its rows start a new series. Offline counted on across the silence, so a window of
    a sparse log spanned it offline and not in serve, and the two scored otherwise."""
    from anomaly_gan.logs.offline import count_series, log_runs

    cfg = config_from_dict({"logs": {"format": "json", "bucket_seconds": None,
                                     "bucket_lines": 2, "gap_seconds": 60.0}}).logs
    model, _ = fit_log_model(cfg, ["GET /index 200"])
    t0 = 1767225600
    stamps = [0, 1, 2, 3, 4, 605, 606, 607, 608]  # the line at 4: a partial bucket
    events = [LogEvent("web", t0 + t, "INFO", "GET /index 200") for t in stamps]
    series = count_series(model, events)["web"]
    assert [[(r.start_ts - t0, r.end_ts - t0) for r in rows] for rows in series] == [
        [(0, 1), (2, 3)], [(605, 606), (607, 608)]]
    runs = log_runs(model, [("app.jsonl", events)], lambda _m: None)
    assert [len(run) for run in runs] == [2, 2]
    assert len(count_rows(model, events)["web"]) == 4
    # lines without times are never split (the ninth line, a partial last bucket: left out)
    untimed = [LogEvent("web", None, "INFO", "GET /index 200") for _ in stamps]
    assert [len(rows) for rows in count_series(model, untimed)["web"]] == [4]


def test_per_n_lines_the_partial_last_buckets_are_left_out_with_a_note():
    """serve scores a bucket per N lines only once it holds N lines; score closed each
    entity's last one at the end of the file, however few lines it held (1 of 92: scored
    7.9 against at most 1.24 for the full buckets before it, threshold 8.77), and train
    trained on it. It is left out now, in both, with a note; time buckets are not changed
    (serve closes its last one at idle close)."""
    from collections import Counter

    from anomaly_gan.logs.offline import count_series

    cfg = config_from_dict({"logs": {"format": "json", "bucket_seconds": None,
                                     "bucket_lines": 3}}).logs
    model, _ = fit_log_model(cfg, ["GET /index 200"])
    t0 = 1767225600
    events = [LogEvent(e, t0 + i, "INFO", "GET /index 200")
              for i, e in enumerate(["web"] * 7 + ["api"] * 2 + ["db"] * 3)]
    said: list[str] = []
    left_out: Counter[str] = Counter()
    rows = count_series(model, events, [0] * 8 + [1] + [0] * 3, said.append, "app.jsonl",
                        left_out=left_out)
    assert {e: [r.lines for s in series for r in s] for e, series in rows.items()} == {
        "web": [3, 3], "db": [3]}
    assert left_out == {"partial_buckets": 3}
    assert said == [("note: 3 lines of app.jsonl left out, the last buckets of 2 entities, "
                     "each with fewer than logs.bucket_lines (3) lines at the end of the file "
                     "(1 of those buckets holds a labelled line): serve scores a bucket only "
                     "once it holds N lines; the first is entity 'web' (1 line)")]
    timed = config_from_dict({"logs": {"format": "json", "bucket_seconds": 10.0}}).logs
    model, _ = fit_log_model(timed, ["GET /index 200"])
    rows = count_series(model, events, progress=said.append)
    assert [r.lines for s in rows["web"] for r in s] == [7]  # time buckets: as before
    assert len(said) == 1


@pytest.mark.parametrize(("lines", "how"), [
    (["081109 203615 148 INFO dfs.DataNode: served block blk_1 to /10.0.0.1",
      "081109 203616 149 INFO dfs.DataNode: served block blk_2 to /10.0.0.2"], "regex"),
    (["Dec  5 10:00:01 web-1 sshd[812]: Accepted publickey for deploy",
      "Dec  5 10:00:02 web-1 CRON[9313]: (root) CMD (run-parts)"], "regex"),
    # a comma in the stamp or the text: more cells than the header, or a stamp cell
    (["2026-12-05 10:00:01,123 INFO [main] shop.Api: started in 3 s",
      "2026-12-05 10:00:02,007 WARN [main] shop.Api: slow, retrying"], "regex"),
    (["2026-12-05 10:00:01, Info   CBS   Loaded stack v6.1",
      "2026-12-05 10:00:02, Info   CSI   Init called"], "regex"),
    (["20261205-10:00:01:123|Step|3001|onStepChanged 35",
      "20261205-10:00:01:130|Step|3001|onExtend 14"], "regex"),
    (['{"level":"info","ts":1796464801.1,"msg":"GET /api/v1/cart/7955 200 10ms"}',
      '{"level":"error","ts":1796464802.0,"msg":"payment gateway timeout"}'], "json"),
    # the Collector's file exporter's log file: 'logs.format: json, with logs.json_fields
    # naming its message' until 2026-12-07, which no field of its nested records can be
    ([('{"resourceLogs": [{"resource": {"attributes": [{"key": "service.name", "value": '
       '{"stringValue": "api"}}]}, "scopeLogs": [{"logRecords": [{"timeUnixNano": '
       '"1796464801000000000", "body": {"stringValue": "payment gateway timeout"}}]}]}]}')] * 2,
     "otlp_proto or otlp_json"),
])
def test_a_log_file_trained_without_a_logs_config_says_how_to_read_it(tmp_path, capsys,
                                                                        lines, how):
    """With a config that has no logs: section (with none at all, until 2026-12-06), `train
    --data app.log` read the log as a CSV whose first line was its header, and stopped at
    line 2 with advice that does not apply: "not a number ... (a time column? ...
    data.timestamp_column: '<the whole first line>')", "expected 5 columns, got 7", or "the
    file looks ';'-separated" (all 16 Loghub 2k samples)."""
    data = tmp_path / "app.log"
    data.write_text("\n".join(lines * 3) + "\n")
    metrics = tmp_path / "metrics.yaml"
    metrics.write_text("training:\n  epochs: 2\n")
    assert main(["train", "--config", str(metrics), "--data", str(data),
                 "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert f"{data}: line 1 is a log line, not a CSV header: without a logs: section" in err
    assert f"(configs/logs.yaml): logs.format: {how}, " in err, err
    assert not (tmp_path / "m").exists()


def test_a_csv_whose_header_has_long_names_keeps_its_own_error(tmp_path, capsys):
    data = tmp_path / "m.csv"
    data.write_text('flow rate in litres,rpm\n"1,5",7\n')
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
    assert "a decimal comma or a thousands separator?" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_a_utf_16_log_file_with_no_config_is_refused_as_a_log_file(tmp_path, capsys, encoding):
    """PowerShell 5's Out-File log with no config: the UTF-16 line was the CSV reader's, 'not
    a readable CSV file ... save it as UTF-8, e.g. Excel's 'CSV UTF-8'', of a log file. A
    UTF-16 table is still told how to save it from Excel."""
    from anomaly_gan.cli import main

    data = tmp_path / "app.log"
    text = "".join(f"2026-12-05 10:00:{i:02d},100 INFO [main] app: served block blk_{i}\n"
                   for i in range(40))
    data.write_bytes(("\ufeff" + text).encode(encoding))
    assert main(["train", "--data", str(data), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert (f"{data}: line 1: not a readable log file: the file is UTF-16 (it starts with a "
            f"UTF-16 byte-order mark); expected UTF-8 text (iconv -f UTF-16 -t UTF-8 "
            f"converts it)") in err
    assert "CSV" not in err and "Excel" not in err
    table = tmp_path / "m.csv"
    table.write_bytes("\ufefftimestamp,cpu\n2026-12-05T10:00:00Z,1.5\n".encode(encoding))
    assert main(["train", "--data", str(table), "--out", str(tmp_path / "m")]) == 2
    assert "not a readable CSV file: the file is UTF-16" in capsys.readouterr().err


@pytest.mark.slow
def test_a_log_file_and_no_config_trains_a_logs_model_that_reads_lines_as_training_did(
        tmp_path, capsys, monkeypatch):
    """`train --data app.log` with no config read the log as a CSV and stopped at line 2
    (all 16 Loghub 2k samples, until 2026-12-06); it now recognises the file's layout,
    trains a logs model with the logs defaults, and the bundle reads lines as it did."""
    monkeypatch.setenv("ANOMALY_GAN__TRAINING__EPOCHS", "2")
    data = tmp_path / "app.log"
    lines = []
    for i in range(900):
        level, message = ("WARN", f"slow response {i % 13} ms") if i % 9 == 0 else \
            ("INFO", f"served block blk_{i} to /10.0.0.{i % 5}")
        lines.append(f"2026-12-05 10:{i // 60:02d}:{i % 60:02d},{i % 1000:03d} {level} "
                     f"[worker-{i % 3}] dfs.DataNode: {message}\n")
    data.write_text("".join(lines))
    model = tmp_path / "m"
    assert main(["train", "--data", str(data), "--out", str(model)]) == 0
    err = capsys.readouterr().err
    assert f"note: {data} holds log lines and no config was given: training a logs model" in err
    assert f"note: {data}: read as date time,ms lines (100% of the first 500 read" in err
    saved = yaml.safe_load((model / "config.yaml").read_text())["logs"]
    assert (saved["format"], saved["timestamp_format"], saved["entity"]) == (
        "regex", "%Y-%m-%d %H:%M:%S,%f", "all")
    assert main(["score", "--model", str(model), "--data", str(data),
                 "--out", str(tmp_path / "s.csv")]) == 0
    assert "(900 of 900 lines)" in capsys.readouterr().err


@pytest.mark.slow
def test_a_bundle_counts_the_buckets_it_was_trained_with_not_the_default(cli_bundle,
                                                                        log_files):
    """A bundle's config.yaml writes every key: the tiny bundle trained on 10 s buckets (as
    configs/logs.yaml said until 2026-12-06) counts 10 s buckets when loaded, whatever
    LogsConfig's default (60 s)."""
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.config import LogsConfig
    from anomaly_gan.logs.offline import count_rows, load_log_model, read_log_file

    saved = yaml.safe_load((cli_bundle / "config.yaml").read_text())["logs"]
    assert (saved["bucket_seconds"], saved["bucket_lines"]) == (10.0, None)
    assert LogsConfig().bucket_seconds != 10.0
    model = load_log_model(load_bundle(cli_bundle))
    rows = count_rows(model, read_log_file(log_files["test"], model.cfg))
    widths = {r.end_ts - r.start_ts for series in rows.values() for r in series}
    assert widths == {10.0}


# Lines that are neither an event nor a continuation line, among a trace's: a banner, a
# trace line after it (no event left to join), an event the regex misses by its indent, and
# empty and blank lines (kept inside a trace, dropped after it).
MIXED = [ERROR_LINE, *JAVA[:2], "", "=== service restarted ===", JAVA[1],
         "    2026-01-01T00:00:01Z web INFO padded", "2026-01-01T00:00:02Z api INFO GET / 200",
         *PYTHON[:4], "   ", "main.main()", "2026-01-01T00:00:03Z api INFO ok"]


@pytest.mark.parametrize("lines", [MIXED, MIXED[4:], MIXED[:7], [ERROR_LINE, *JAVA[:2], "   ",
                                                                "\u00a0"]],
                         ids=["mixed", "starts-with-a-banner", "ends-with-bad-lines",
                              "trace-then-blank-and-nbsp"])
def test_a_record_s_lines_give_serve_the_events_and_bad_lines_a_file_gives(tmp_path, lines):
    """serve joined every line of a record that is not an event to the event before it (a
    banner, an event whose indent the regex misses, a trace's lines after a banner: hidden in
    that event's example text, never dead-lettered), where train, score and evaluate, reading
    the same lines from a file, join only a trace's lines and leave the others out as bad
    lines (logs.bad_lines: skip, counted by reason). Both now decide with one rule: serve
    counts the same events, with the same continuations, and dead-letters the record once
    saying how many of its parts were no event."""
    cfg = _regex_logs_cfg(bad_lines="skip")
    data = tmp_path / "app.log"
    data.write_text("\n".join(lines) + "\n")
    tally = LineTally()
    offline = read_log_file(data, cfg.logs, tally=tally)
    live = parser_from_config(cfg.logs, cfg.serve.windows.max_event_bytes).parse_record_many(
        "\n".join(lines).encode())
    assert [e for e in live if isinstance(e, LogEvent)] == offline
    bad = [e.reason for e in live if not isinstance(e, LogEvent)]
    assert {r: bad.count(r) for r in bad} == tally.records_skipped


@pytest.mark.parametrize("quiet", [False, True])
def test_train_says_how_far_reading_mining_and_counting_log_lines_have_got(tmp_path, capsys,
                                                                          monkeypatch, quiet):
    """train read, mined and counted 2 million log lines for 80 s with no word on stderr
    between the layout note and the templates line. Each phase now says how far it has got,
    through the throttle of the CSV path's reading lines (let through every time here):
    every 8192 lines at most, the share of the file's bytes while reading, of its lines
    while mining and counting; --quiet silences them, not the error."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(cli, "_tensorflow", lambda: None)  # no training: runs too short
    p = tmp_path / "long.log"
    short_capture(p, lines=10_000)  # 20,000 lines in 90 s: 9 buckets of 10 s, fewer than 12
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    assert main(["train", "--config", str(cfg), "--data", str(p), "--out", str(tmp_path / "m"),
                 *(["--quiet"] if quiet else [])]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith(f"anomaly-gan: error: {p}: the longest run of buckets")
    progress = [line.split(" in ")[0] for line in lines if line.startswith("train: ")]
    if quiet:
        assert progress == [] and len(lines) == 1
        return
    mb = f"{p.stat().st_size / 1e6:,.1f}"
    assert progress == [
        *(f"train: read {n:,} lines ({n * p.stat().st_size // 20_000 / 1e6:,.1f} of {mb} MB) "
          f"of {p}" for n in (8192, 16384)),
        *(f"train: {n:,} of 20,000 {what} ({100 * n // 20_000}%)"
          for what in ("lines mined for templates", "lines matched to their templates",
                       "lines counted into buckets") for n in (8192, 16384))]
    templates = next(i for i, line in enumerate(lines) if "-> " in line and " templates" in line)
    assert "matched" in lines[templates - 1] and "counted" in lines[templates + 1]


def test_train_on_a_short_log_file_says_nothing_on_how_far_it_has_got(tmp_path, capsys,
                                                                     monkeypatch):
    """Fewer than 8192 lines: not one progress line, whatever the throttle allows."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.0)
    monkeypatch.setattr(cli, "_tensorflow", lambda: None)
    p = tmp_path / "short.log"
    short_capture(p, lines=4_000)
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    assert main(["train", "--config", str(cfg), "--data", str(p),
                 "--out", str(tmp_path / "m")]) == 2
    assert not [line for line in capsys.readouterr().err.splitlines()
                if line.startswith("train: ")]


def test_a_log_files_progress_lines_come_at_most_once_per_interval(capsys, monkeypatch):
    """The lines on mining and counting share the command's throttle: the first once
    PROGRESS_SECONDS have passed since the command started, then at most one per
    PROGRESS_SECONDS, whichever phase is at work."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 10.0)  # the shipped interval
    now = [100.0]
    progress = cli._Progress("train", lambda: now[0])
    for at, what, done in ((104.0, "lines mined for templates", 8192),
                           (111.0, "lines mined for templates", 16384),
                           (118.0, "lines matched to their templates", 8192),
                           (122.0, "lines counted into buckets", 16384)):
        now[0] = at
        progress.stage(what, done, 20_000)
    assert capsys.readouterr().err.splitlines() == [
        "train: 16,384 of 20,000 lines mined for templates (81%) in 11s",
        "train: 16,384 of 20,000 lines counted into buckets (81%) in 22s",
    ]


def test_retrain_says_how_far_mining_and_counting_log_lines_have_got(tmp_path, capsys,
                                                                     monkeypatch):
    """retrain --data on log files said how far reading had got, then nothing while the
    lines were mined and counted (half of the minute 2 million lines take). It now says so
    as train does, through the same throttle (let through every time here)."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 0.0)
    p = tmp_path / "long.log"
    short_capture(p, lines=10_000)  # 20,000 lines in 90 s: 9 buckets of 10 s, fewer than 12
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    assert main(["retrain", "--config", str(cfg), "--data", str(p),
                 "--store", str(tmp_path / "store")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1].startswith(f"anomaly-gan: error: {p}: ")
    progress = [line.split(" in ")[0] for line in lines if line.startswith("retrain: ")]
    assert progress[2:] == [
        f"retrain: {n:,} of 20,000 {what} ({100 * n // 20_000}%)"
        for what in ("lines mined for templates", "lines matched to their templates",
                     "lines counted into buckets") for n in (8192, 16384)]
    assert [line.split(" (")[0] for line in progress[:2]] == [
        f"retrain: read {n:,} lines" for n in (8192, 16384)]


def test_train_frees_the_log_events_before_tensorflow_loads(tmp_path, monkeypatch):
    """train held every event read (2 million lines: about 600 MB) through TensorFlow's
    import and the training, for the first and last time of each file alone: the peak was
    their size above TensorFlow's. No event is left once the rows to train on are counted."""
    import gc

    from anomaly_gan import cli

    def events_alive() -> int:
        gc.collect()  # garbage of an earlier test of this worker is not alive
        return sum(isinstance(o, LogEvent) for o in gc.get_objects())

    alive: dict[str, int] = {}

    def fake_train(cfg, series, names, **_):
        alive["training"] = events_alive()
        raise _Trained(cfg, series, names)

    monkeypatch.setattr(cli, "_tensorflow", lambda: alive.setdefault("import", events_alive()))
    monkeypatch.setattr("anomaly_gan.train.train_detector", fake_train)
    p = tmp_path / "app.log"
    short_capture(p, seconds=600.0, lines=2_000)  # 60 buckets of 10 s of each of 2 entities
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(yaml.safe_dump(TINY_LOGS_CONFIG))
    before = events_alive()
    with pytest.raises(_Trained) as trained:
        main(["train", "--config", str(cfg), "--data", str(p), "--out", str(tmp_path / "m")])
    assert [len(s) for s in trained.value.series] == [60, 60]  # the 4,000 lines were read
    assert alive == {"import": before, "training": before}


@pytest.mark.slow
@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_score_and_evaluate_free_the_log_events_before_tensorflow_loads(
        cli_bundle, log_files, tmp_path, monkeypatch, command):
    """score and evaluate held every event read (a million lines: about 280 MB) through
    TensorFlow's import and the scoring, as train did until it counted its rows first: the
    peak was their size above TensorFlow's. No event is left once the buckets are counted."""
    import gc

    from anomaly_gan import cli

    def events_alive() -> int:
        # garbage first: the events of an earlier test of this worker, not yet collected,
        # were counted before the command and collected during it (test order decided)
        gc.collect()
        return sum(isinstance(o, LogEvent) for o in gc.get_objects())

    alive: dict[str, int] = {}
    real = cli._tensorflow
    monkeypatch.setattr(cli, "_tensorflow",
                        lambda: (alive.setdefault("import", events_alive()), real()))
    out = tmp_path / "scores.csv"
    args = {"score": ["--out", str(out)], "evaluate": ["--labels", str(log_files["labels"])]}
    before = events_alive()
    assert main([command, "--model", str(cli_bundle), "--data", str(log_files["test"]),
                 "--quiet", *args[command]]) == 0
    assert alive == {"import": before}
    if command == "score":
        assert len(list(csv.DictReader(out.open()))) > 0


def test_the_buckets_keep_no_string_of_the_events_they_count():
    """A bucket's example lines outlive the events (score and evaluate free the events
    before TensorFlow loads). An event's own message kept as an example kept the allocator's
    whole arena of events (1 MiB) alive: scoring a million lines, the examples kept nearly
    all of the 280 MB the events had taken (the peak 1.11 GB where 0.90 GB without them)."""
    model, _ = fit_log_model(_json_logs_cfg(), ["GET /index 200", "cache refresh took 40 ms"])
    events = [LogEvent("web", 1767225600 + t, "INFO", f"cache refresh took {t} ms")
              for t in range(0, 60, 4)]
    rows = count_rows(model, events)
    kept = [line for r in rows["web"] for _count, lines in r.detail.values() for line in lines]
    assert kept == [ev.message for ev in events][:len(kept)] and len(kept) >= 6
    assert not {id(line) for line in kept} & {id(ev.message) for ev in events}


def test_a_hole_of_nul_bytes_before_a_line_is_dropped_with_a_note(tmp_path):
    """A log copied by logrotate's copytruncate while its writer kept its offset starts
    with a hole of NUL bytes right before its first line (and one after a truncation in
    the middle of a file): the NULs were part of that line, a bad line (oversized here),
    which with logs.bad_lines: error stopped train. A run of NULs at the start of a line is
    dropped and counted in a note; a NUL elsewhere in a line is a bad line as before."""
    lines = [f"2026-01-01T00:00:{s:02d}Z web INFO GET /cart/{s} 200".encode()
             for s in range(6)]
    p = tmp_path / "app.log"
    p.write_bytes(b"\x00" * 100_000 + b"\n".join(lines[:3]) + b"\n" + b"\x00" * 10
                  + b"\n".join(lines[3:]) + b"\n")
    notes: list[str] = []
    tally = LineTally()
    events = read_log_file(p, _regex_logs_cfg().logs, progress=notes.append, tally=tally)
    assert [e.message for e in events] == [f"GET /cart/{s} 200" for s in range(6)]
    assert tally.lines == 6 and tally.skipped == {}
    assert notes == [(f"note: 2 lines of {p} started with a run of NUL bytes (100,010 bytes "
                      f"in all; the first 100,000 before line 1), dropped before the line was "
                      f"read: the hole that logrotate's copytruncate, or a file truncated while "
                      f"read, leaves where its writer kept its offset")]
    p.write_bytes(lines[0] + b"\n" + lines[1][:5] + b"\x00" + lines[1][5:] + b"\n")
    with pytest.raises(DataError, match=r"app.log: line 2: bad_timestamp"):
        read_log_file(p, _regex_logs_cfg().logs)
