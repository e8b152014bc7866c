"""``anomaly-gan demo`` end to end, scaled down (2 pumps, 1 epoch, full speed)."""

import pytest

from anomaly_gan.demo.common import duration_text
from anomaly_gan.demo.stream import DemoOptions, alert_matches, run_demo

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_demo_runs_and_summarises(tmp_path, capsys):
    rc = run_demo(DemoOptions(entities=2, steps=800, speed=0, seed=1, http_port=0,
                              out=str(tmp_path), epochs=1))
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "summary" in out and "windows scored" in out and "recall (incidents)" in out
    assert "latency event->score" in out
    # each alert line is followed by how far off its top features are, in the data's units
    lines = out.splitlines()
    alerts = [i for i, line in enumerate(lines) if line.startswith("ALERT ")]
    assert alerts, out
    for i in alerts:
        assert "(exp " in lines[i + 1] or "(moved " in lines[i + 1], lines[i:i + 2]
    # the incidents end: a RESOLVED line each (serve.alerts.resolve_windows), counted in
    # the summary with how long after the injected incident they came
    resolved = [line for line in lines if line.startswith("RESOLVED ")]
    assert resolved, out
    assert all(" since " in line and " after " in line for line in resolved), resolved
    assert any(" ended " in line and " later]" in line for line in resolved), resolved
    row = next(line for line in lines if line.strip().startswith("incidents resolved"))
    assert f"{len(resolved)} of " in row and "after an injected incident ended" in row, row
    # ... and are no alerts: the alert count (and precision) are of the ALERT lines
    row = next(line for line in lines if line.strip().startswith("alerts "))
    assert row.split()[1] == str(len(alerts)), row
    # ... and then says what to do with one's own data
    assert "anomaly-gan train    --data normal.csv --out models/v1" in out
    assert '"Try it on one machine"' in out


def test_alert_overlap_rule():
    incidents = [{"entity": "pump-1", "start": 10, "end": 20}]
    ts = [float(10 * i) for i in range(100)]
    hit = {"entity": "pump-1", "window_start_ts": 150.0, "window_end_ts": 250.0}
    before = {"entity": "pump-1", "window_start_ts": 0.0, "window_end_ts": 90.0}
    other = {"entity": "pump-2", "window_start_ts": 150.0, "window_end_ts": 250.0}
    assert alert_matches(hit, incidents, ts) is incidents[0]
    assert alert_matches(before, incidents, ts) is None
    assert alert_matches(other, incidents, ts) is None


def test_durations_read_as_minutes_and_seconds():
    assert [duration_text(s) for s in (0, 59.6, 60, 370, 3599, 3600, -130)] == [
        "0s", "1m00s", "1m00s", "6m10s", "59m59s", "1h00m", "-2m10s"]


def test_a_taken_http_port_moves_the_demos_endpoints(tmp_path, capsys):
    """--http-port's port (9108 by default, also `serve`'s) held by another process: the
    demo serves /metrics on another free port, as DemoScorer says. It trained, then exited 2
    with `serve.http: cannot listen on 127.0.0.1:9108` (HealthServer raises ConfigError, not
    the OSError the fallback caught)."""
    import re
    import socket

    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        rc = run_demo(DemoOptions(entities=1, steps=200, speed=0, http_port=port,
                                  out=str(tmp_path), epochs=1))
    out = capsys.readouterr().out
    assert rc == 0, out
    moved = re.findall(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", out)
    assert moved and int(moved[0]) != port, out


def test_a_console_that_fails_while_an_alert_prints_stops_the_demo(tmp_path, capsys,
                                                                   monkeypatch):
    """Alerts are printed by the thread that reads them back. `anomaly-gan demo | head`
    whose reader had gone when an alert came: that thread died with a BrokenPipeError
    traceback, the demo went on without it, waited up to 2 minutes for the score records
    it no longer counted, then printed its summary. Now the error ends the demo, as one
    in its own lines does (the CLI ends a broken pipe quietly, exit 0)."""
    from anomaly_gan.demo import stream as stream_demo

    def say(msg):
        if msg.startswith("ALERT "):
            raise BrokenPipeError(32, "Broken pipe")
        print(msg, flush=True)

    monkeypatch.setattr(stream_demo, "say", say)
    with pytest.raises(BrokenPipeError):
        run_demo(DemoOptions(entities=1, steps=200, speed=0, http_port=0, out=str(tmp_path),
                             epochs=1))
    printed = capsys.readouterr()
    assert "summary" not in printed.out
    assert "Traceback" not in printed.err, printed.err
