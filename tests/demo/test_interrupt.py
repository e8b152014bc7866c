"""Ctrl-C or SIGTERM while a demo streams: one line, exit 130, and nothing left behind (the
broker runs in its own session, so a demo killed without unwinding leaves it on its port)."""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

# Small and slow to stream (--speed 1: a row every 10 s), so the signal lands mid-stream.
SENSOR = ["demo", "--entities", "1", "--steps", "200", "--epochs", "1", "--speed", "1"]
LOGS = ["demo", "--logs", "--epochs", "1", "--speed", "1"]


def _kill_leftover_broker(port: str) -> None:
    """A broker the demo left running (the bug this file tests for) is stopped here, so a
    failing run does not leave it behind either."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
            if b"--listener-url" in args and f"tcp://127.0.0.1:{port}".encode() in args:
                os.kill(int(cmdline.parent.name), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def _listening(port: str) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", int(port))) == 0


# Both signals reach the same handler (runtime.Interrupts); each demo is run once (15 s).
@pytest.mark.parametrize(("argv", "signum"), [
    (SENSOR, signal.SIGTERM), (LOGS, signal.SIGINT),
], ids=["demo-sigterm", "logs-ctrl-c"])
def test_a_signal_mid_stream_stops_the_demo_cleanly(tmp_path, argv, signum):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {**os.environ, "TMPDIR": str(tmp)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "anomaly_gan.cli", *argv, "--out", str(tmp_path / "out"),
         "--http-port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    watchdog = threading.Timer(300, proc.kill)
    watchdog.start()
    before, port = [], None
    try:
        for line in proc.stdout:
            before.append(line)
            port = port or (re.findall(r"broker on 127\.0\.0\.1:(\d+)", line) or [None])[0]
            if line.startswith("streaming "):
                proc.send_signal(signum)
                break
        after = proc.stdout.read().splitlines()
        rc = proc.wait()
    finally:
        watchdog.cancel()
        proc.kill()
        left_running = bool(port) and _listening(port)
        if left_running:
            _kill_leftover_broker(port)
    assert port, "".join(before)
    assert rc == 130, after
    assert after == ["anomaly-gan: interrupted"]  # no traceback, no client errors
    assert not left_running
    assert sorted(p.name for p in tmp.iterdir()) == []  # the broker's dir, TF's temp files
