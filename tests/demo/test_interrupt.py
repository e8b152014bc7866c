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


@pytest.mark.parametrize("argv", [SENSOR, LOGS], ids=["demo", "logs"])
def test_a_signal_whose_exception_was_dropped_stops_the_demo_while_it_trains(
        tmp_path, monkeypatch, capsys, argv):
    """Ctrl-C during training whose KeyboardInterrupt Python dropped (raised in a
    garbage-collector callback, as under TensorFlow after an epoch: `demo --entities 1
    --steps 200 --epochs 1`, SIGINT at the `epoch 1/1` line, 3 runs of 3) was only acted on
    once the broker was up: the demo trained on through its retries, wrote the bundle and
    started the broker first. Here the signal has come and its exception was dropped: the
    demo must stop at its next progress line, exit 130, write no bundle, start no broker."""
    from anomaly_gan.cli import main
    from anomaly_gan.demo import logs as logs_demo
    from anomaly_gan.demo import stream as stream_demo
    from anomaly_gan.runtime import Interrupts

    class Dropped(Interrupts):
        def installed(self):
            self._event.set()  # what the handler does before its exception is dropped
            return super().installed()

    monkeypatch.setattr(stream_demo, "Interrupts", Dropped)
    monkeypatch.setattr(logs_demo, "Interrupts", Dropped)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    out = tmp_path / "out"
    assert main([*argv, "--out", str(out), "--http-port", "0"]) == 130
    printed = capsys.readouterr()
    assert printed.err.strip().splitlines()[-1] == "anomaly-gan: interrupted"
    assert "broker on" not in printed.out
    assert not (out / "model").exists()
