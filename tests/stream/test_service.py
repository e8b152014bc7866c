"""``serve``'s connection to the broker: what is retried and what is not."""

import logging
import threading

import pytest
from kafka.errors import KafkaConfigurationError, KafkaTimeoutError
from prometheus_client import CollectorRegistry

from anomaly_gan.config import config_from_dict
from anomaly_gan.errors import ConfigError
from anomaly_gan.stream import service
from anomaly_gan.stream.http import Health
from anomaly_gan.stream.kafka_io import AuthFailures
from anomaly_gan.stream.metrics import StreamMetrics
from tests.support.stream_fakes import refuse_login


def connect_failing_with(monkeypatch, errors):
    """``service._connect`` where each attempt raises the next of ``errors``; the attempt
    after the last stops the service."""
    cfg = config_from_dict({"serve": {"kafka": {"reconnect_backoff_max_ms": 10}}}).serve
    stop = threading.Event()
    attempts = []

    def connect(*_args, **_kwargs):
        attempts.append(True)
        if len(attempts) > len(errors):
            stop.set()
            raise KafkaTimeoutError("Unable to bootstrap")
        raise errors[len(attempts) - 1]

    monkeypatch.setattr(service, "connect", connect)
    health = Health(liveness_timeout_s=60.0)
    return (lambda: service._connect(cfg, stop, None, StreamMetrics(CollectorRegistry()),
                                     health)), attempts


def test_no_broker_is_retried(monkeypatch):
    run, attempts = connect_failing_with(monkeypatch, [KafkaTimeoutError("Unable to bootstrap")] * 2)
    assert run() is None and len(attempts) == 3


def test_settings_the_client_refuses_are_a_config_error_not_retried(monkeypatch):
    """A setting kafka-python refuses (fetch_max_wait_ms past its request timeout, say) was
    logged as "broker unreachable; retrying" forever, /readyz 503; now exit 2, one line."""
    refused = KafkaConfigurationError("request_timeout_ms (30000) must be larger than "
                                      "fetch_max_wait_ms (400000).")
    run, attempts = connect_failing_with(monkeypatch, [refused])
    with pytest.raises(ConfigError, match=r"^serve\.kafka: .*fetch_max_wait_ms \(400000\)"):
        run()
    assert len(attempts) == 1


def test_a_refused_login_is_named_in_readiness_and_the_retry_line(monkeypatch, caplog):
    """A wrong SASL password read as "broker unreachable; retrying" and /readyz "broker
    unreachable": kafka-python raised only "Unable to bootstrap". Its refusal, noted from its
    log, names the user now; an attempt with no refusal says unreachable again."""
    failures = AuthFailures()
    monkeypatch.setattr(service, "AUTH_FAILURES", failures)
    cfg = config_from_dict({"serve": {"kafka": {
        "reconnect_backoff_max_ms": 10, "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "svc"}}}).serve
    stop, health, seen = threading.Event(), Health(liveness_timeout_s=60.0), []
    health.model_loaded = True

    def connect(*_args, **_kwargs):
        seen.append(health.ready())
        if len(seen) == 1:
            refuse_login(failures)
        else:
            stop.set()
        raise KafkaTimeoutError("Unable to bootstrap from ['kafka:9093']")

    monkeypatch.setattr(service, "connect", connect)
    with caplog.at_level(logging.WARNING, logger="anomaly_gan.stream.service"):
        assert service._connect(cfg, stop, None, StreamMetrics(CollectorRegistry()),
                                health) is None
    assert seen[1] == (False, "authentication failed for sasl_username svc")
    assert health.ready() == (False, "broker unreachable")
    lines = [(r.getMessage(), r.fields["error"]) for r in caplog.records]
    assert lines == [
        ("authentication failed for sasl_username svc; retrying",
         "[Error 58] SaslAuthenticationFailedError: invalid credentials"),
        ("broker unreachable; retrying",
         "KafkaTimeoutError: Unable to bootstrap from ['kafka:9093']")]
