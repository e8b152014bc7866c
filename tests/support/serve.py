"""``serve`` as a real process for the tests (``ServeProcess``, the ``serve_process``
fixture, tests/stream/conftest.py) and ``wait_until``, which waits on a condition with the
process's log on failure."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from anomaly_gan.config import config_to_dict


def wait_until(predicate, what, proc=None, timeout_s=120.0):
    """Poll ``predicate`` until true; fail (with the process log) if the process exits
    first or after ``timeout_s``, a cap that only ends a hung test."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError(f"serve exited ({proc.proc.returncode}) while waiting for "
                                 f"{what}:\n{proc.log()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}" +
                                 (f":\n{proc.log()}" if proc else ""))
        time.sleep(0.1)


class ServeProcess:
    def __init__(self, cfg, tmp_path, name):
        # Port 0 (the tests here): the process picks a free port, read back from its log.
        self._port = cfg.serve.http.port or None
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config_to_dict(cfg)))
        self.log_path = tmp_path / f"{name}.log"
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "anomaly_gan", "serve", "--config", str(path)],
            stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT, env=env)

    def log(self):
        return self.log_path.read_text(errors="replace")

    @property
    def port(self):
        """The HTTP port the process bound, from its "starting" log line."""
        if self._port is None:
            wait_until(lambda: re.search(r" starting .*http=127\.0\.0\.1:(\d+)", self.log()),
                       "the starting log line", self)
            self._port = int(re.search(r" starting .*http=127\.0\.0\.1:(\d+)",
                                       self.log()).group(1))
        return self._port

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def wait_ready(self):
        wait_until(self.ready, "/readyz 200", self)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def serve_process(tmp_path):
    started = []

    def start(cfg, name="serve"):
        p = ServeProcess(cfg, tmp_path, name)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
