import json
import logging
import warnings

import pytest

from anomaly_gan.stream.logs import configure_logging


@pytest.fixture
def restore_loggers():
    """Warning capture off before and after (the loggers themselves are restored after each
    test by tests/conftest.py's _restore_loggers)."""
    # An earlier in-process configure_logging (the demo test) left logging's warning capture
    # "on" while pytest restored warnings.showwarning: reset it so this test installs it.
    logging.captureWarnings(False)
    yield
    logging.captureWarnings(False)


def test_json_logs_cover_kafka_and_warnings(restore_loggers, capsys):
    """Under log_format json every logged line is JSON: ours, kafka-python's, warnings."""
    configure_logging("json", "INFO")
    logging.getLogger("anomaly_gan.stream").info("starting", extra={"fields": {"port": 1}})
    logging.getLogger("kafka.conn").error("connect failed")
    logging.getLogger("kafka.conn").info("chatty")  # below WARNING: dropped
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old option", UserWarning, stacklevel=1)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["logger"], x["level"]) for x in lines] == [
        ("anomaly_gan.stream", "INFO"), ("kafka.conn", "ERROR"), ("py.warnings", "WARNING")]
    assert lines[0]["port"] == 1


@pytest.mark.parametrize(("level", "kafka_shown"), [("INFO", ["WARNING", "ERROR"]),
                                                    ("ERROR", ["ERROR"])])
def test_kafka_logs_from_warning_or_the_level_asked_for_when_higher(restore_loggers, capsys,
                                                                     level, kafka_shown):
    """Under ERROR (the demo's level) kafka-python's warnings ('task ran for 0.42 s, blocking
    the event loop' on a busy machine) used to come through among the demo's own lines."""
    configure_logging("json", level)
    for lvl in (logging.INFO, logging.WARNING, logging.ERROR):
        logging.getLogger("kafka.net.selector").log(lvl, "kafka says")
    shown = [json.loads(line)["level"] for line in capsys.readouterr().err.splitlines()]
    assert shown == kafka_shown


@pytest.mark.parametrize(("level", "shown"), [("INFO", ["2.500"]), ("DEBUG", ["0.166", "2.500"])])
def test_kafka_slow_task_warnings_under_a_second_are_left_out(restore_loggers, capsys, level,
                                                              shown):
    """A new user's serve log on a 2-core machine held 'Task ... ran for 0.166s (>0.100s
    threshold). It is blocking the event loop ...' WARNING lines from kafka-python: GIL
    contention with the model thread, nothing to act on. A step of a second or more (a
    livelock, the warning's purpose) and every line under DEBUG still come through."""
    configure_logging("text", level)
    log = logging.getLogger("kafka.net.selector")
    for elapsed in ("0.166", "2.500"):
        log.warning(f"Task <kafka.net.selector.Task object at 0x7f4c> ran for {elapsed}s "
                    "(>0.100s threshold). It is blocking the event loop -- likely a tight sync "
                    "loop inside a coroutine. Other pollers will time out.")
    log.warning("Task <x> left RUNNING after step; demoting to UNSCHEDULED")
    lines = capsys.readouterr().err.splitlines()
    assert [x.split(" ran for ")[1][:5] for x in lines if " ran for " in x] == shown
    assert any("left RUNNING" in x for x in lines)


def test_text_logs_keep_a_record_on_one_line_whatever_its_entity_holds(restore_loggers, capsys):
    """An entity (or a log template) comes from the records: in text logs one holding a line
    break split the alert line, and could forge a line of its own."""
    configure_logging("text", "INFO")
    forged = "pump-7\n2026-01-01 00:00:00,000 ERROR anomaly_gan.stream: forged score=0"
    log = logging.getLogger("anomaly_gan.stream.publisher")
    log.warning("alert", extra={"fields": {"entity": forged, "score": 6.5,
                                           "top_features": ["temp", "rpm"]}})
    log.warning("entity %s restarted\r", "a\x1b[31mb\u2028")
    lines = capsys.readouterr().err.splitlines()  # splits at U+2028 too
    assert len(lines) == 2
    assert lines[0].endswith(' alert entity="pump-7\\n2026-01-01 00:00:00,000 ERROR '
                             'anomaly_gan.stream: forged score=0" score=6.5 '
                             'top_features=["temp","rpm"]')
    assert lines[1].endswith("entity a\\x1b[31mb\\u2028 restarted\\r")


def test_text_logs_keep_an_exception_message_on_its_line(restore_loggers, capsys):
    """A record that could not be handled is logged with its traceback, whose last line is
    the exception's message; one quoting the record (a line break, then a forged line, ANSI
    escapes, a carriage return) wrote them raw. The traceback keeps its own lines."""
    configure_logging("text", "INFO")
    forged = "2026-01-01 00:00:00,000 ERROR anomaly_gan.stream.publisher: forged alert"
    try:
        try:
            raise KeyError("inner")
        except KeyError as inner:
            raise ValueError(f"bad entity pump-7\n{forged}\x1b[2J\r") from inner
    except ValueError:
        logging.getLogger("anomaly_gan.stream.intake").exception("record could not be handled")
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].endswith(" ERROR anomaly_gan.stream.intake: record could not be handled")
    assert "Traceback (most recent call last):" in lines and "KeyError: 'inner'" in lines
    assert lines[-1] == f"ValueError: bad entity pump-7\\n{forged}\\x1b[2J\\r"
    assert not any(line.startswith("2026-01-01") for line in lines)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_kafka_debug_lines_never_show_even_under_debug(restore_loggers, capsys, fmt):
    """kafka-python logs every request it sends at DEBUG, and SASL PLAIN's request holds the
    password: serve.log_level DEBUG must not turn kafka-python's DEBUG on."""
    from kafka.net.sasl.plain import SaslMechanismPlain
    from kafka.protocol.sasl import SaslAuthenticateRequest

    configure_logging(fmt, "DEBUG")
    plain = SaslMechanismPlain(sasl_plain_username="svc", sasl_plain_password="s3cret-pw")
    request = SaslAuthenticateRequest(plain.auth_bytes())
    assert "s3cret-pw" in repr(request)  # what kafka-python's DEBUG line would hold
    logging.getLogger("kafka.protocol.parser").debug("Sending request %s", request)
    logging.getLogger("anomaly_gan.stream").debug("ours")
    err = capsys.readouterr().err
    assert "s3cret-pw" not in err and "ours" in err


def test_kafka_lines_that_repeat_while_no_broker_answers_are_shown_once(restore_loggers, capsys):
    """A serve started with a wrong broker address wrote four kafka-python lines per
    connection attempt, a dozen a second at first, burying the scorer's own 'broker
    unreachable; retrying' line. Each such line (numbers aside) now shows once; the scorer's
    lines all show; under DEBUG nothing is left out."""
    configure_logging("text", "INFO")
    kafka_log = logging.getLogger("kafka.net.manager")
    ours = logging.getLogger("anomaly_gan.stream")
    for backoff in ("0.11", "0.46", "1.52", "5.57"):
        kafka_log.error("Connection failed: KafkaConnectionError: 111 ECONNREFUSED")
        kafka_log.warning(f"Bootstrap connection to bootstrap-0 failed: KafkaConnectionError: "
                          f"111 ECONNREFUSED (backoff {backoff} secs)")
        ours.warning("broker unreachable; retrying")
    kafka_log.error("Bootstrap failed: KafkaTimeoutError: Unable to bootstrap from ['h:1']")
    lines = capsys.readouterr().err.splitlines()
    assert sum("Connection failed" in x for x in lines) == 1
    assert sum("Bootstrap connection" in x for x in lines) == 1
    assert sum("broker unreachable" in x for x in lines) == 4
    assert sum("Unable to bootstrap" in x for x in lines) == 1

    configure_logging("text", "DEBUG")
    for _ in range(3):
        kafka_log.error("Connection failed: KafkaConnectionError: 111 ECONNREFUSED")
    assert capsys.readouterr().err.count("Connection failed") == 3


def test_a_repeated_kafka_line_comes_back_after_the_period_with_a_count():
    from anomaly_gan.stream.logs import KafkaRepeatLimiter

    now = [100.0]
    limit = KafkaRepeatLimiter(period_s=60.0, clock=lambda: now[0])

    def rec(name, msg, level=logging.WARNING):
        return logging.LogRecord(name, level, "", 0, msg, None, None)

    assert limit(rec("kafka.conn", "lost node 1", level=logging.ERROR)) is True
    assert limit(rec("kafka.conn", "lost node 2")) is True  # another level: its own line
    assert [limit(rec("kafka.conn", "lost node 2", logging.ERROR)) for _ in range(5)] == [False] * 5
    now[0] = 170.0
    again = rec("kafka.conn", "lost node %s", level=logging.ERROR)
    again.args = (3,)
    assert limit(again) is True
    assert again.getMessage() == "lost node 3 (5 lines like it in the last 70s not shown)"
    assert limit(rec("kafka.conn", "lost node 4", logging.ERROR)) is False
    assert all(limit(rec("anomaly_gan.stream", "same")) for _ in range(3))


def test_a_kafka_line_whose_arguments_do_not_format_reaches_the_handler_not_the_client(
        restore_loggers, capsys):
    """The repeat limiter, a handler filter, formatted each kafka-python record to key it.
    A filter runs outside the handler's error handling, so a record whose arguments do not
    fit its message raised TypeError into kafka-python's own call (its network thread, where
    the client was logging an error), where before the limiter logging printed 'Logging
    error' and the client went on. Such a record passes the filter and is the handler's to
    report."""
    configure_logging("text", "INFO")
    bad = logging.getLogger("kafka.conn")
    bad.error("node %s lost", 1, 2)  # returns: no exception reaches the caller
    bad.error("node %s lost", 1, 2)
    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 2  # logging's own report, each time
