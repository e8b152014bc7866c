"""Log files through train/score/evaluate (the CLI), and the logs bundle."""

import csv
import json
import re
import shutil

import pytest
import yaml

from anomaly_gan.cli import main
from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import DataError
from anomaly_gan.logs.events import LogEvent
from anomaly_gan.logs.model import fit_log_model
from anomaly_gan.logs.offline import count_rows, in_bucket_order, read_log_file
from tests.logs.conftest import TINY_LOGS_CONFIG


@pytest.fixture(scope="module")
def cli_bundle(tmp_path_factory, log_files):
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


def test_late_lines_are_dropped_with_a_note():
    cfg = _json_logs_cfg()
    model, _ = fit_log_model(cfg, ["GET /index 200", "cache refresh took 40 ms"])
    # 10 s buckets: the line at 5 s comes after the one at 25 s closed the buckets before it
    stamps = [0.0, 12.0, 25.0, 5.0, 26.0, 13.0, 31.0]
    events = [LogEvent("web", 1767225600 + t, "INFO", "GET /index 200") for t in stamps]
    notes: list[str] = []
    rows = count_rows(model, events, progress=notes.append, source="app.jsonl")
    assert sum(r.lines for r in rows["web"]) == 5
    assert notes == [("note: 2 lines of app.jsonl dropped (out of time order; the fewest whose "
                      "removal leaves the rest in order; the first is entity 'web' at "
                      "2026-01-01T00:00:05.000Z: 'GET /index 200'; sort the lines by time)")]
    notes.clear()
    count_rows(model, sorted(events, key=lambda e: e.ts), progress=notes.append)
    assert notes == []


def test_one_line_stamped_years_ahead_is_dropped_alone_not_the_file_after_it():
    """A stream must close every bucket up to a line stamped years ahead; offline the whole
    file is known, so that line alone is dropped. It used to drop every later line and
    write a silence of empty buckets (up to logs.gap_seconds) into the training rows."""
    cfg = _json_logs_cfg()
    model, _ = fit_log_model(cfg, ["GET /index 200", "cache refresh took 40 ms"])
    stamps = [float(t) for t in range(0, 1200, 2)]
    stamps[100] += 5 * 365 * 86400
    events = [LogEvent(e, 1767225600 + t, "INFO", f"GET /index 200 from {e}")
              for t, e in zip(stamps, ["web", "api"] * 300, strict=True)]
    notes: list[str] = []
    rows = count_rows(model, events, progress=notes.append, source="app.jsonl")
    assert sum(r.lines for rs in rows.values() for r in rs) == len(events) - 1
    assert all(r.lines > 0 for rs in rows.values() for r in rs)  # no silence written
    assert [len(rs) for rs in rows.values()] == [120, 120]  # 10 s buckets
    assert notes == [("note: 1 line of app.jsonl dropped (out of time order; the fewest whose "
                      "removal leaves the rest in order; the first is entity 'web' at "
                      "2030-12-31T00:03:20.000Z: 'GET /index 200 from web'; sort the lines by "
                      "time)")]


def test_in_bucket_order_drops_the_fewest_lines():
    assert in_bucket_order([]) == []
    assert in_bucket_order([3, 3, 4]) == [True, True, True]
    assert in_bucket_order([5, 0, 1, 2]) == [False, True, True, True]
    assert in_bucket_order([0, 1, 2, 0, 2, 1, 3]).count(False) == 2
    kept = in_bucket_order([4, 1, 5, 2, 6, 3, 7, 0])
    assert kept.count(True) == 4  # 1 2 3 7 or 4 5 6 7
    assert [b for b, k in zip([4, 1, 5, 2, 6, 3, 7, 0], kept) if k] == sorted(
        b for b, k in zip([4, 1, 5, 2, 6, 3, 7, 0], kept) if k)


@pytest.mark.slow
def test_score_notes_the_lines_it_drops(cli_bundle, log_files, tmp_path, capsys):
    lines = log_files["test"].read_text().splitlines(keepends=True)
    shuffled = tmp_path / "shuffled.log"
    shuffled.write_text("".join(lines[::2] + lines[1::2]))  # the odd lines come late
    assert main(["score", "--model", str(cli_bundle), "--data", str(shuffled),
                 "--out", str(tmp_path / "s.csv")]) == 0
    note, summary = capsys.readouterr().err.splitlines()
    dropped = re.fullmatch(rf"note: (\d+) lines of {re.escape(str(shuffled))} dropped \(out of "
                           rf"time order; .*; sort the lines by time\)", note)
    assert dropped and 0 < int(dropped[1]) <= len(lines) // 2
    assert summary.startswith(f"scored {len(lines)} lines")


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
