import dataclasses
import json
import logging
from pathlib import Path
from typing import ClassVar

import pytest

from anomaly_gan.config import KafkaConfig
from anomaly_gan.errors import ConfigError
from anomaly_gan.stream.kafka_io import AuthFailures, client_kwargs, describe, resolve_password
from anomaly_gan.stream.logs import JsonFormatter

TLS = Path(__file__).parents[1] / "support" / "tls"  # an EC certificate, its key, the key
                                                     # encrypted, and a key of another one
PASSPHRASE = "correct-horse"  # of client-encrypted.key (PKCS#8), client-encrypted-legacy.key
                              # (PEM Proc-Type) and other-encrypted.key


def test_plaintext_has_no_security_settings():
    kw = client_kwargs(KafkaConfig(bootstrap_servers="a:9092, b:9092"))
    assert kw["bootstrap_servers"] == ["a:9092", "b:9092"]
    assert kw["security_protocol"] == "PLAINTEXT"
    assert "sasl_plain_password" not in kw and "ssl_cafile" not in kw


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_with_password_from_a_mounted_file(tmp_path, mechanism):
    secret = tmp_path / "password"
    secret.write_text("s3cret\n")
    ca = TLS / "client.crt"  # self-signed: its own CA
    k = KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism=mechanism,
                    sasl_username="svc", sasl_password_file=str(secret), ssl_cafile=str(ca))
    kw = client_kwargs(k)
    assert kw["sasl_mechanism"] == mechanism
    assert kw["sasl_plain_username"] == "svc"
    assert kw["sasl_plain_password"] == "s3cret"
    assert kw["ssl_cafile"] == str(ca)


def test_inline_password_wins_over_the_file(tmp_path):
    k = KafkaConfig(sasl_password="inline", sasl_password_file=str(tmp_path / "missing"))
    assert resolve_password(k) == "inline"


def test_password_from_the_environment_override(monkeypatch):
    from anomaly_gan.config import load_config

    cfg = load_config(None, env={
        "ANOMALY_GAN__SERVE__KAFKA__SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ANOMALY_GAN__SERVE__KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "ANOMALY_GAN__SERVE__KAFKA__SASL_USERNAME": "svc",
        "ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD": "from-env",
    })
    assert client_kwargs(cfg.serve.kafka)["sasl_plain_password"] == "from-env"


def test_missing_password_or_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="sasl_password"):
        client_kwargs(KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                                  sasl_username="svc"))
    with pytest.raises(ConfigError, match="sasl_password_file"):
        resolve_password(KafkaConfig(sasl_password_file=str(tmp_path / "nope")))
    with pytest.raises(ConfigError, match="ssl_cafile"):
        client_kwargs(KafkaConfig(security_protocol="SSL", ssl_cafile=str(tmp_path / "x.pem")))


def test_mutual_tls_files_that_load_are_passed_on():
    k = KafkaConfig(security_protocol="SSL", ssl_cafile=str(TLS / "client.crt"),
                    ssl_certfile=str(TLS / "client.crt"), ssl_keyfile=str(TLS / "client.key"))
    kw = client_kwargs(k)
    assert (kw["ssl_cafile"], kw["ssl_certfile"], kw["ssl_keyfile"]) == (
        str(TLS / "client.crt"), str(TLS / "client.crt"), str(TLS / "client.key"))


@pytest.mark.parametrize("settings, error", [
    ({"ssl_cafile": "garbage.pem"},
     (r"^serve\.kafka\.ssl_cafile: .*garbage\.pem: expected PEM CA certificates: "
      r"\[X509")),
    ({"ssl_cafile": "."}, r"^serve\.kafka\.ssl_cafile: expected a PEM file, got .* \(a directory\)$"),
    ({"ssl_certfile": "client.crt", "ssl_keyfile": "client-encrypted.key"},
     (r"^serve\.kafka\.ssl_keyfile: .*client-encrypted\.key: expected an unencrypted private key "
      r"or its passphrase in ssl_password \(or ssl_password_file\), got one that needs a "
      r"passphrase$")),
    ({"ssl_certfile": "client.crt", "ssl_keyfile": "other.key"},
     (r"^serve\.kafka\.ssl_certfile: .*client\.crt: expected a PEM client certificate and its "
      r"private key \(ssl_keyfile .*other\.key\): \[X509: KEY_VALUES_MISMATCH\]")),
    ({"ssl_certfile": "client.crt"},  # no key in it, none beside it
     (r"^serve\.kafka\.ssl_certfile: .*client\.crt: expected a PEM client certificate and its "
      r"private key \(ssl_certfile ")),
    ({"ssl_keyfile": "client.key"},
     r"^serve\.kafka\.ssl_keyfile: set without ssl_certfile; expected the client certificate"),
    ({"security_protocol": "SASL_PLAINTEXT", "ssl_cafile": "client.crt"},
     (r"^serve\.kafka\.ssl_cafile: set, but security_protocol is SASL_PLAINTEXT; expected SSL "
      r"or SASL_SSL")),
])
def test_tls_files_are_loaded_at_start_and_a_bad_one_is_one_line_naming_its_key(
        tmp_path, monkeypatch, settings, error):
    """kafka-python loads the TLS files only once a broker answers: a CA file that is no PEM,
    an encrypted key or one of another certificate failed every connection, logged as
    "broker unreachable; retrying" for ever (an encrypted key also asked for its passphrase
    on the terminal, blocking the client), and a key file without a certificate or TLS files
    under a plaintext protocol were ignored."""
    (tmp_path / "garbage.pem").write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    for name in ("client.crt", "client.key", "client-encrypted.key", "other.key"):
        (tmp_path / name).write_bytes((TLS / name).read_bytes())
    monkeypatch.chdir(tmp_path)
    k = KafkaConfig(**{"security_protocol": "SSL", **settings})
    with pytest.raises(ConfigError, match=error) as info:
        client_kwargs(k)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("key", ["client-encrypted.key", "client-encrypted-legacy.key"])
@pytest.mark.parametrize("source", ["inline", "file", "env"])
def test_an_encrypted_key_loads_with_its_passphrase_and_the_clients_get_it(tmp_path, key,
                                                                          source):
    """An encrypted key was refused ("serve takes none"): operators had to keep a decrypted
    copy. PKCS#8 and the older PEM encryption both load; kafka-python gets the passphrase."""
    from anomaly_gan.config import load_config

    secret = tmp_path / "key-password"
    secret.write_text(f"{PASSPHRASE}\n")
    files = {"security_protocol": "SSL", "ssl_cafile": str(TLS / "client.crt"),
             "ssl_certfile": str(TLS / "client.crt"), "ssl_keyfile": str(TLS / key)}
    if source == "env":
        env = {f"ANOMALY_GAN__SERVE__KAFKA__{name.upper()}": value for name, value in files.items()}
        k = load_config(None, env={**env, "ANOMALY_GAN__SERVE__KAFKA__SSL_PASSWORD": PASSPHRASE}
                        ).serve.kafka
    else:
        k = KafkaConfig(**files, **({"ssl_password": PASSPHRASE} if source == "inline"
                                    else {"ssl_password_file": str(secret)}))
    kw = client_kwargs(k)
    assert kw["ssl_password"] == PASSPHRASE
    assert kw["ssl_keyfile"] == str(TLS / key)
    assert describe(k)["ssl_password"] == "<set>"


@pytest.mark.parametrize("settings, error", [
    ({"ssl_password": "wrong-horse"},
     (r"^serve\.kafka\.ssl_password: expected the passphrase of ssl_keyfile .*client-encrypted"
      r"\.key, got one that does not decrypt it \(value not shown: secret\)$")),
    ({"ssl_password_file": "wrong"},
     (r"^serve\.kafka\.ssl_password_file: expected the passphrase of ssl_keyfile "
      r".*client-encrypted\.key, got one that does not decrypt it \(value not shown: secret\)$")),
    ({"ssl_password_file": "empty"},
     r"^serve\.kafka\.ssl_password_file: .*empty: expected the password, got an empty file$"),
    ({"ssl_password_file": "missing"},
     r"^serve\.kafka\.ssl_password_file: .*missing: cannot read it: No such file or directory$"),
    ({"ssl_password": "x" * 1100},
     (r"^serve\.kafka\.ssl_password: expected the passphrase of ssl_keyfile .*: password cannot "
      r"be longer than 1024 bytes \(value not shown: secret\)$")),
    ({"ssl_keyfile": None, "ssl_certfile": None, "ssl_password": PASSPHRASE},
     (r"^serve\.kafka\.ssl_password: set without a private key; expected it with an encrypted "
      r"ssl_keyfile and its ssl_certfile$")),
    ({"security_protocol": "SASL_PLAINTEXT", "ssl_keyfile": None, "ssl_certfile": None,
      "ssl_password_file": "wrong"},
     (r"^serve\.kafka\.ssl_password_file: set, but security_protocol is SASL_PLAINTEXT; "
      r"expected SSL or SASL_SSL")),
    ({"ssl_keyfile": "other-encrypted.key", "ssl_password": PASSPHRASE},  # decrypts, wrong key
     (r"^serve\.kafka\.ssl_certfile: .*client\.crt: expected a PEM client certificate and its "
      r"private key \(ssl_keyfile .*other-encrypted\.key\): \[X509: KEY_VALUES_MISMATCH\]")),
])
def test_a_wrong_or_misplaced_key_passphrase_is_one_line_without_it(tmp_path, settings, error):
    """kafka-python would load the key only when a broker answers, and fail every
    connection ("broker unreachable; retrying") with OpenSSL's 'PEM lib'."""
    (tmp_path / "wrong").write_text("wrong-horse\n")
    (tmp_path / "empty").write_text(" \n")
    # other.key encrypted with PASSPHRASE: it decrypts, and does not match client.crt
    (tmp_path / "other-encrypted.key").write_bytes((TLS / "other-encrypted.key").read_bytes())
    files = {"security_protocol": "SSL", "ssl_certfile": str(TLS / "client.crt"),
             "ssl_keyfile": str(TLS / "client-encrypted.key")}
    named = {name: str(tmp_path / value) if name.endswith("file") and value else value
             for name, value in settings.items() if name != "security_protocol"}
    k = KafkaConfig(**{**files, **named, **{n: v for n, v in settings.items()
                                             if n == "security_protocol"}})
    with pytest.raises(ConfigError, match=error) as info:
        client_kwargs(k)
    assert "wrong-horse" not in str(info.value) and "\n" not in str(info.value)


def test_a_passphrase_for_an_unencrypted_key_is_one_warning_and_unused(monkeypatch, caplog):
    """Not refused: a key rotated to an unencrypted one while the old passphrase is still
    mounted works (OpenSSL never asks), and stopping the scorer for it would help no one."""
    from anomaly_gan.stream import kafka_io

    monkeypatch.setattr(kafka_io, "_warned_unencrypted", set())
    k = KafkaConfig(security_protocol="SSL", ssl_certfile=str(TLS / "client.crt"),
                    ssl_keyfile=str(TLS / "client.key"), ssl_password="stale")
    with caplog.at_level(logging.WARNING, logger="anomaly_gan.stream.kafka_io"):
        for _ in range(3):  # serve's start check, then its consumer and producer
            assert client_kwargs(k)["ssl_keyfile"] == str(TLS / "client.key")
    assert [r.getMessage() for r in caplog.records] == [
        (f"serve.kafka.ssl_password: set, but ssl_keyfile {TLS / 'client.key'} is not "
         f"encrypted; the passphrase is not used")]


@pytest.mark.parametrize("content, expected", [
    (b"\n", "expected the password, got an empty file"),
    (b"  \t\n", "expected the password, got an empty file"),
    (b"\xffs3cret-pw\n", ("expected the password as UTF-8 text, got other bytes "
                          "(value not shown: secret)")),
])
def test_a_password_file_that_holds_no_password_is_one_line_without_it(tmp_path, content,
                                                                       expected):
    """An empty file was sent as an empty password (failing at the broker as an unreachable
    broker, for ever); bytes that are not UTF-8 were a UnicodeDecodeError traceback."""
    path = tmp_path / "password"
    path.write_bytes(content)
    k = KafkaConfig(security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username="svc", sasl_password_file=str(path))
    with pytest.raises(ConfigError) as info:
        client_kwargs(k)
    assert str(info.value) == f"serve.kafka.sasl_password_file: {path}: {expected}"


def test_the_loggable_view_and_json_logs_never_contain_the_password():
    k = dataclasses.replace(KafkaConfig(), security_protocol="SASL_SSL", sasl_mechanism="PLAIN",
                            sasl_username="svc", sasl_password="hunter2")
    view = describe(k)
    assert view["sasl_password"] == "<set>" and view["ssl_password"] is None
    record = logging.LogRecord("anomaly_gan.stream", logging.INFO, __file__, 1, "starting",
                               None, None)
    record.fields = {"kafka": view}
    line = JsonFormatter().format(record)
    assert "hunter2" not in line
    assert json.loads(line)["kafka"]["sasl_username"] == "svc"


def test_the_consumer_is_closed_when_the_producer_cannot_start(monkeypatch):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    closed = []

    class Consumer:
        def __init__(self, **kwargs):
            pass

        def subscribe(self, topics, listener=None):
            pass

        def close(self, **kwargs):
            closed.append(kwargs)

    class Producer:
        def __init__(self, **kwargs):
            raise kafka.errors.KafkaConnectionError()

    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    monkeypatch.setattr(kafka, "KafkaProducer", Producer)
    with pytest.raises(kafka.errors.KafkaConnectionError):
        KafkaIO(KafkaConfig())
    assert len(closed) == 1


def test_blocking_group_calls_are_bounded_by_the_session_timeout(monkeypatch):
    """commit and committed wait on the group coordinator; without a timeout kafka-python
    waits for ever on a coordinator whose requests never complete, and the loop with it."""
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    calls = []

    class Consumer:
        def __init__(self, **kwargs):
            pass

        def subscribe(self, topics, listener=None):
            pass

        def commit(self, offsets=None, timeout_ms=None):
            calls.append(("commit", timeout_ms))

        def committed(self, tp, metadata=False, timeout_ms=None):
            calls.append(("committed", timeout_ms))
            return 7

    class Producer:
        made: ClassVar[list] = []

        def __init__(self, **kwargs):
            self.kwargs = kwargs
            Producer.made.append(self)

    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    monkeypatch.setattr(kafka, "KafkaProducer", Producer)
    io = KafkaIO(KafkaConfig(session_timeout_ms=4000))
    tp = kafka.TopicPartition("events", 0)
    io.commit({tp: 5})
    assert io.committed(tp) == 7
    assert calls == [("commit", 4000), ("committed", 4000)]


class FakeConsumer:
    """Records subscriptions and closes; answers end offsets and positions from dicts."""

    made: ClassVar[list] = []

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self.listener, self.closed, self.assigned = None, None, set()
        self.ends: dict = {}
        self.positions: dict = {}
        self.highwaters: dict = {}
        self.firsts: dict = {}
        self.seeks: list = []
        self._cluster = FakeCluster()  # kafka-python's metadata cache
        FakeConsumer.made.append(self)

    def subscribe(self, topics, listener=None):
        self.listener = listener

    def assignment(self):
        return set(self.assigned)

    def end_offsets(self, tps, timeout_ms=None):
        if isinstance(self.ends, Exception):
            raise self.ends
        return {tp: self.ends[tp] for tp in tps}

    def position(self, tp, timeout_ms=None):
        return self.positions.get(tp)

    def highwater(self, tp):
        return self.highwaters.get(tp)

    def beginning_offsets(self, tps, timeout_ms=None):
        return {tp: self.firsts[tp] for tp in tps}

    def seek(self, tp, offset):
        self.seeks.append((tp, offset))

    def partitions_for_topic(self, topic):
        raise AssertionError("asks the brokers and waits without a timeout: never called")

    def close(self, autocommit=True, timeout_ms=None):
        self.closed = autocommit


@pytest.fixture
def fake_clients(monkeypatch):
    import kafka

    class Producer:
        made: ClassVar[list] = []

        def __init__(self, **kwargs):
            self.kwargs = kwargs
            Producer.made.append(self)

    FakeConsumer.made = []
    monkeypatch.setattr(kafka, "KafkaConsumer", FakeConsumer)
    monkeypatch.setattr(kafka, "KafkaProducer", Producer)
    return FakeConsumer.made


def test_the_scorer_asks_no_broker_to_create_a_topic(fake_clients):
    """On a broker with auto.create.topics.enable (Kafka's default), kafka-python's clients
    create a topic they are asked about: a mistyped alert_topic silently became a topic
    nobody reads. The scorer creates none (docs/deployment.md), so a missing topic is an
    error it reports. (Tansu, the tests' broker, creates topics whatever the client asks,
    so this is checked on the clients' settings.)"""
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig())
    assert fake_clients[0].kwargs["allow_auto_create_topics"] is False
    assert io.producer.kwargs["allow_auto_create_topics"] is False
    io.reset_producer()
    assert kafka.KafkaProducer.made[-1].kwargs["allow_auto_create_topics"] is False


class FakeCluster:
    """kafka-python's ClusterMetadata: None for a topic its metadata does not list."""

    def __init__(self):
        self.topics: dict = {}

    def partitions_for_topic(self, topic):
        return self.topics.get(topic)


def test_topic_exists_reads_the_consumers_metadata_cache_and_asks_no_broker(fake_clients):
    """The public partitions_for_topic asks the brokers about an unknown topic and waits for
    their answer without a timeout (the fake raises if called): the cache answers."""
    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig(input_topic="events"))
    assert io.topic_exists("events") is False  # not in the brokers' metadata
    fake_clients[0]._cluster.topics["events"] = {0, 1}
    assert io.topic_exists("events") is True
    fake_clients[0]._cluster = None  # another kafka-python: no cache to read, no answer
    assert io.topic_exists("events") is None
    io.consumer = None  # a reset that could not create its consumer
    assert io.topic_exists("events") is None


@pytest.mark.parametrize("end, position, waiting", [
    (10, 10, False),  # read to the end (an idle topic)
    (12, 10, True),  # records wait
    (3, 10, True),  # the position lies past the end: the topic was recreated
    (10, None, True),  # no position yet
])
def test_waiting_compares_end_offsets_with_positions(fake_clients, end, position, waiting):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig())
    tp = kafka.TopicPartition("events", 0)
    assert io.waiting(100) is False  # nothing assigned
    c = fake_clients[0]
    c.assigned, c.ends, c.positions = {tp}, {tp: end}, {tp: position}
    assert io.waiting(100) is waiting


@pytest.mark.parametrize("end, highwater, position, past", [
    (10, 10, 100, (100, 10)),  # the committed offset lies past the end: both opinions agree
    (283, 300, 300, None),  # Tansu's end offset after multi-record batches: a healthy reader
    (283, 290, 300, (300, 290)),
    (10, None, 100, None),  # no fetch answered at this position yet: no verdict
    (10, 10, 10, None),  # read to the end
    (12, 10, 10, None),  # records wait
])
def test_past_end_needs_the_end_offset_and_the_fetch_high_watermark_to_agree(
        fake_clients, end, highwater, position, past):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig())
    tp = kafka.TopicPartition("events", 0)
    c = fake_clients[0]
    c.assigned, c.ends, c.positions = {tp}, {tp: end}, {tp: position}
    c.highwaters = {tp: highwater}
    assert io.past_end(100) == ({} if past is None else {tp: past})
    c.ends = kafka.errors.KafkaTimeoutError("no leader")
    assert io.past_end(100) == {}  # no answer: no verdict


@pytest.mark.parametrize("policy, offset", [("earliest", 3), ("latest", 10)])
def test_reset_offset_seeks_as_auto_offset_reset_says(fake_clients, policy, offset):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig(auto_offset_reset=policy))
    tp = kafka.TopicPartition("events", 0)
    c = fake_clients[0]
    c.firsts = {tp: 3}
    assert io.reset_offset(tp, 10) == (offset, 3)
    assert c.seeks == [(tp, offset)]


def test_waiting_counts_offsets_that_cannot_be_read(fake_clients):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig())
    tp = kafka.TopicPartition("events", 0)
    c = fake_clients[0]
    c.assigned, c.ends = {tp}, kafka.errors.KafkaTimeoutError("no leader")
    assert io.waiting(100) is True


def test_reset_consumer_replaces_it_and_silences_the_old_callbacks(fake_clients):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    assigned, revoked = [], []
    io = KafkaIO(KafkaConfig(), on_assigned=assigned.append,
                 on_revoked=lambda tps: revoked.append(tps))
    old = io.consumer
    tp = kafka.TopicPartition("events", 0)
    old.listener.on_partitions_assigned([tp])
    assert assigned == [[tp]]
    io.reset_consumer()
    assert io.consumer is not old and io.consumer is fake_clients[1]
    assert old.closed is False  # closed without committing
    old.listener.on_partitions_assigned([tp])  # late callbacks of the old one: ignored
    old.listener.on_partitions_revoked([tp])
    assert assigned == [[tp]] and revoked == []
    io.consumer.listener.on_partitions_assigned([tp])
    assert assigned == [[tp], [tp]]


def test_the_close_race_traceback_of_kafka_python_is_dropped_and_nothing_else():
    """kafka-python 3.0 logs a traceback when its network loop reads a socket that close()
    has just dropped (one `make demo` in three, after its summary): dropped by a filter on
    that logger. Its other errors, and the same message for another error, still show."""
    from anomaly_gan.stream import kafka_io

    logger = logging.getLogger("kafka.net.transport")
    assert kafka_io._not_a_close_race in logger.filters

    def record(exc: Exception, msg: str = "<KafkaTCPTransport [none] (closed)>: Error "
                                           "receiving network data closing socket"):
        info = (type(exc), exc, exc.__traceback__)
        return logger.makeRecord(logger.name, logging.ERROR, __file__, 1, msg, (), info)

    race = AttributeError("'NoneType' object has no attribute 'recv'")
    assert not logger.filter(record(race))
    assert logger.filter(record(ConnectionResetError(104, "Connection reset by peer")))
    assert logger.filter(record(race, "something else"))
    assert logger.filter(logger.makeRecord(logger.name, logging.ERROR, __file__, 1,
                                           "socket disconnected", (), None))


class BatchedConsumer(FakeConsumer):
    """A partition laid out in record batches ``(first offset, last offset, readable)``:
    a poll reads the record at the position, or raises kafka-python's CorruptRecordError
    for any position inside an unreadable batch (kafka-python parses a batch from its start,
    whatever the position), as the fetcher does, leaving the failed records parsed."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.batches: list = []
        self.paused_tps: set = set()
        self.pause_log: list = []
        self.polls = 0
        self._fetcher = type("Fetcher", (), {"_next_partition_records": None})()

    def seek(self, tp, offset):
        super().seek(tp, offset)
        self.positions[tp] = offset

    def pause(self, *tps):
        self.paused_tps.update(tps)
        self.pause_log.append(("pause", set(tps)))

    def resume(self, *tps):
        self.paused_tps.difference_update(tps)
        self.pause_log.append(("resume", set(tps)))

    def paused(self):
        return set(self.paused_tps)

    def poll(self, timeout_ms=0, max_records=None):
        from kafka.errors import CorruptRecordError

        self.polls += 1
        [tp] = [t for t in self.assigned if t not in self.paused_tps]
        pos = self.positions[tp]
        for first, last, readable in self.batches:
            if first <= pos <= last:
                if not readable:
                    if hasattr(self, "_fetcher"):
                        self._fetcher._next_partition_records = Parsed(tp)
                    raise CorruptRecordError("Found invalid record structure: "
                                             "UnicodeDecodeError('utf-8', b'\\xff')")
                self.positions[tp] = pos + 1
                return {tp: [pos]}
        return {}


class Parsed:
    """The fetcher's parsed records of one partition (kafka-python's PartitionRecords)."""

    def __init__(self, tp):
        self.topic_partition, self.drained = tp, False

    def drain(self):
        self.drained = True


@pytest.fixture
def batched(monkeypatch):
    import kafka

    class Producer:
        def __init__(self, **kwargs):
            pass

    made: list = []

    class Consumer(BatchedConsumer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            made.append(self)

    monkeypatch.setattr(kafka, "KafkaConsumer", Consumer)
    monkeypatch.setattr(kafka, "KafkaProducer", Producer)
    return made


# (first, last, readable) batches, the reported end offset -> the first readable offset
@pytest.mark.parametrize("batches, end, after", [
    ([(0, 4, True), (5, 9, False), (10, 14, True)], 15, 10),  # the bad record first in batch
    ([(0, 4, True), (5, 5, False), (6, 99, True)], 100, 6),  # a batch of one record
    ([(0, 4, True), (5, 600, False), (601, 700, True)], 701, 601),  # a long batch
    ([(0, 4, True), (5, 9, False)], 10, 10),  # the last batch: its end
    ([(0, 4, True), (5, 9, False), (10, 14, True)], 7, 10),  # Tansu's under-reported end
])
def test_skip_unreadable_finds_the_first_offset_after_the_bad_batch(batched, batches, end,
                                                                   after):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO, UnreadableInput

    io = KafkaIO(KafkaConfig())
    c = batched[0]
    tp, other = kafka.TopicPartition("events", 0), kafka.TopicPartition("events", 1)
    c.assigned, c.batches = {tp}, batches
    c.ends, c.highwaters, c.positions = {tp: end}, {tp: batches[-1][1] + 1}, {tp: 5}
    with pytest.raises(UnreadableInput) as err:
        io.poll(100)
    assert (err.value.tp, err.value.offset) == (tp, 5)
    assert "UnicodeDecodeError" in err.value.error
    assert c._fetcher._next_partition_records.drained  # else kafka-python retries it for ever
    c.assigned.add(other)  # paused while the partition is searched, then resumed
    assert io.skip_unreadable(tp, 5, timeout_s=10.0) == after
    assert c.positions[tp] == after and c.seeks[-1] == (tp, after)
    assert c.pause_log == [("pause", {other}), ("resume", {other})]
    assert c.polls < 2 + 2 * (after - 5).bit_length() + 2  # a search, not a scan


def test_poll_names_the_only_partition_when_the_fetcher_does_not(batched):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO, UnreadableInput

    io = KafkaIO(KafkaConfig())
    c = batched[0]
    tp = kafka.TopicPartition("events", 0)
    c.assigned, c.batches, c.positions = {tp}, [(0, 9, False)], {tp: 3}
    del c._fetcher  # another kafka-python: no parsed records to read
    with pytest.raises(UnreadableInput) as err:
        io.poll(100)
    assert (err.value.tp, err.value.offset) == (tp, 3)
    c.assigned.add(kafka.TopicPartition("events", 1))  # two partitions: cannot be told
    c.paused_tps = {kafka.TopicPartition("events", 1)}
    with pytest.raises(UnreadableInput) as err:
        io.poll(100)
    assert (err.value.tp, err.value.offset) == (None, None)


def test_skip_unreadable_gives_up_without_an_answer(batched):
    import kafka

    from anomaly_gan.stream.kafka_io import KafkaIO

    io = KafkaIO(KafkaConfig())
    c = batched[0]
    tp = kafka.TopicPartition("events", 0)
    c.assigned, c.batches, c.positions = {tp}, [(0, 9, False)], {tp: 3}
    c.ends = kafka.errors.KafkaTimeoutError("no leader")
    assert io.skip_unreadable(tp, 3, timeout_s=1.0) is None
    c.ends = {tp: 20}
    assert io.skip_unreadable(tp, 3, timeout_s=0.0) is None  # no time left for a probe


def test_a_refused_login_is_told_from_the_exception_kafka_python_closes_the_connection_with(
        caplog):
    """kafka-python raises "Unable to bootstrap" to the caller however the brokers failed it;
    a refused SASL login (error 58, SaslAuthenticationFailedError) is only the exception it
    closes the connection with, and logs. Its real KafkaConnection is driven here, as no
    broker of the tests refuses a login that way (Tansu drops the connection): a kafka-python
    that stops logging the exception fails this test."""
    from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError
    from kafka.net.connection import KafkaConnection
    from kafka.net.selector import NetworkSelector

    failures, net = AuthFailures(), NetworkSelector()
    logger = logging.getLogger("kafka.net.connection")
    logger.addFilter(failures)
    try:
        with caplog.at_level(logging.ERROR, logger="kafka.net.connection"):
            for exc in (KafkaConnectionError("socket disconnected"),
                        SaslAuthenticationFailedError("Authentication failed during "
                                                      "authentication due to invalid credentials "
                                                      "with SASL mechanism SCRAM-SHA-512")):
                KafkaConnection(net, node_id="bootstrap-0", security_protocol="SASL_SSL",
                                sasl_mechanism="SCRAM-SHA-512").connection_lost(exc)
    finally:
        logger.removeFilter(failures)
        net.close()
    assert failures.count == 1 and "invalid credentials" in failures.last_error
    assert len(caplog.records) == 2  # noted, not dropped
    k = KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                    sasl_username="svc")
    assert failures.reason_since(0, k) == "authentication failed for sasl_username svc"
    assert failures.reason_since(1, k) is None


@pytest.mark.parametrize(("error", "cafile", "reason"), [
    (("Handshake failed: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: unable "
      "to get local issuer certificate (_ssl.c:1006)"), None,
     ("TLS handshake with the broker failed: certificate verify failed: unable to get local "
      "issuer certificate (serve.kafka.ssl_cafile not set: the system's CA certificates)")),
    (("Handshake failed: [SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate "
      "(_ssl.c:2580)"), "/ca.pem",
     "TLS handshake with the broker failed: sslv3 alert bad certificate"),
    ("Handshake failed: [Errno 104] Connection reset by peer", "/ca.pem", None),
    ("socket disconnected", "/ca.pem", None),
])
def test_a_failed_tls_handshake_is_told_from_a_broker_down(error, cafile, reason):
    """kafka-python closes a connection whose TLS handshake failed with "Handshake failed:"
    and the OpenSSL error; serve named it "broker unreachable". An OpenSSL error is named
    now (the CA file where the broker's certificate did not verify); a reset or a drop is
    still a broker that may be down (tests/stream/test_kafka_tls.py has the real handshake)."""
    from kafka.errors import KafkaConnectionError
    from kafka.net.connection import KafkaConnection
    from kafka.net.selector import NetworkSelector

    failures, net = AuthFailures(), NetworkSelector()
    logger = logging.getLogger("kafka.net.connection")
    logger.addFilter(failures)
    try:
        KafkaConnection(net, node_id="bootstrap-0", security_protocol="SSL").connection_lost(
            KafkaConnectionError(error))
    finally:
        logger.removeFilter(failures)
        net.close()
    k = KafkaConfig(security_protocol="SSL", ssl_cafile=cafile)
    assert failures.reason_since(0, k) == reason
    assert failures.count == (reason is not None)


def test_output_blocked_in_send_counts_as_unacknowledged_from_the_send_on(fake_clients):
    """kafka-python's send waits up to ``max_block_ms`` (60 s) for the metadata of a topic
    the brokers lack (a missing alert or dead-letter topic, an ACL that hides it) before it
    raises. Output was counted pending only once send returned, so for that whole wait
    ``/readyz`` answered 200 and ``anomaly_gan_delivery_stalled_seconds`` read 0 while the
    alert could not be written; the stall limit now runs from the send's start."""
    import kafka

    from anomaly_gan.stream.http import Health
    from anomaly_gan.stream.kafka_io import Delivery, KafkaIO

    now = [100.0]
    io = KafkaIO(KafkaConfig())
    io.delivery = Delivery(clock=lambda: now[0])
    health = Health(clock=lambda: now[0])
    health.model_loaded = health.broker_up = True
    health.assigned = 1
    health.watch_delivery(io.delivery, stall_limit_s=15.0)
    health.beat()
    seen = []

    def send(topic, value=None, key=None, headers=None):
        now[0] += 20.0  # waiting for the topic's metadata
        health.beat()  # (the probe reads from another thread while the loop waits here)
        seen.append((health.ready(), health.delivery_stalled_s()))
        raise kafka.errors.KafkaTimeoutError("Failed to update metadata after 60.0 secs.")

    io.producer.send = send
    with pytest.raises(kafka.errors.KafkaTimeoutError):
        io.send("anomaly-gan.alerts", b"{}", key=b"pump-7")
    assert seen == [((False, "no output acknowledged for 20s"), 20.0)]
    assert io.delivery.pending == 0  # the failed send is pending no more
