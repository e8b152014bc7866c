"""Shared fixtures. Real services (broker, Prometheus, helm) are started by the fixtures in
tests/support/ and cleaned up at the end of the session."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # Workers already fill the cores: one TensorFlow thread each (and in the processes they
    # start) instead of a pool per core in every one of them, which contend for the same
    # cores. Measured on 2 cores, two test files at once: 94 s and 109 s against 103 s
    # and 121 s.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")

import pytest

# the OTLP score-against-serve check's asserts say what differed (its caller's don't)
pytest.register_assert_rewrite("tests.support.otlp_metrics")

# One broker for the whole session: the stream and deploy tests share it.
from tests.support.kafka import *
from tests.support.kafka_tls import tls_kafka  # noqa: F401 - a broker behind a TLS proxy

# A test that uses one of these (directly or through another fixture) trains a model, starts
# a service or runs an external tool: it is `slow` whatever its module says, so that
# `pytest -m "not slow"` (make test-fast) runs on a fresh clone without helm or promtool.
SLOW_FIXTURES = {
    "kafka_bootstrap", "kafka_topics", "tls_kafka", "tiny_detector", "tiny_bundle", "stream_bundle",
    "stream_detector", "helm", "promtool", "prometheus_bin", "amtool", "alertmanager_bin",
}


@pytest.fixture(autouse=True)
def _restore_loggers():
    """Each test leaves the loggers as it found them. An in-process configure_logging (a
    demo or serve run in the test's process) routes the ``anomaly_gan`` loggers to its own
    handler with ``propagate`` off, and every later test of that worker that read them
    through ``caplog`` saw no record: the test suite's result depended on which tests a
    worker had run before."""
    import logging

    names = ("anomaly_gan", "kafka", "py.warnings")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level,
                 logging.getLogger(n).propagate) for n in names}
    capturing = logging._warnings_showwarning is not None  # type: ignore[attr-defined]
    yield
    if not capturing:
        logging.captureWarnings(False)
    for n, (handlers, level, propagate) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


@pytest.fixture(autouse=True)
def _no_progress_lines(monkeypatch):
    """No progress line from a command run in the test's process: they come once
    ``cli.PROGRESS_SECONDS`` (10 s) have passed since the command started, and on a loaded
    machine a test's ``score`` of 300 rows took 14 s (TensorFlow's import included), so its
    exact stderr held a "score: scored 285 of 285 windows (100%) in 14s" line. The tests of
    the progress lines set the interval themselves."""
    from anomaly_gan import cli

    monkeypatch.setattr(cli, "PROGRESS_SECONDS", 1e9)


# Seconds each test file took in a run of the whole suite (files of 2 s or more;
# scripts/file_seconds.py writes it from a `--durations=0` log). `make test` hands whole
# files to its workers in collection order (--dist loadfile), and a long file handed out
# late ran alone at the end while the other workers idled: the longest go first.
FILE_SECONDS = os.path.join(os.path.dirname(__file__), "file_seconds.json")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
    import json

    with open(FILE_SECONDS, encoding="utf-8") as fh:
        seconds = json.load(fh)
    # a stable sort: each file's tests stay together and in their order
    items.sort(key=lambda item: -seconds.get(item.nodeid.split("::")[0], 1))


@pytest.fixture(scope="session")
def tiny_detector():
    """A GANomaly detector trained for two epochs on easy data (shared, read-only)."""
    from anomaly_gan.train import train_detector
    from tests.support_models import FEATURES, normal_series, tiny_config

    return train_detector(tiny_config(epochs=2), normal_series(800), FEATURES)


@pytest.fixture
def tiny_bundle(tiny_detector, tmp_path):
    from anomaly_gan.artifacts import save_bundle

    return save_bundle(tiny_detector, tmp_path / "bundle")


def _children_start_with_ctrl_c():
    """A suite run in the background of a script (CI's ``.ci/run &``) has SIGINT ignored,
    and the processes the tests start would inherit that: commands keep an inherited
    SIG_IGN (runtime.handle), so the Ctrl-C tests would test a background job. A handler
    here becomes the default in every process the worker starts."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


_children_start_with_ctrl_c()
