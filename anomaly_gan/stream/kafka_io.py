"""The kafka-python adapter: one consumer (manual commits) and one producer (acks=all).

Security (``serve.kafka``): ``security_protocol`` PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL;
``sasl_mechanism`` PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with ``sasl_username`` and a
password from ``sasl_password`` (e.g. the environment override
``ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD``) or ``sasl_password_file`` (a mounted secret;
read at start, surrounding whitespace stripped). TLS files: ``ssl_cafile``, ``ssl_certfile``,
``ssl_keyfile``, and the passphrase of an encrypted key from ``ssl_password`` (or
``ANOMALY_GAN__SERVE__KAFKA__SSL_PASSWORD``) or ``ssl_password_file``, read as the SASL
password is. They are loaded at start (:func:`client_kwargs`) as the client loads them, so
that a file that is no PEM, an encrypted key without its passphrase or with a wrong one, or a
key that does not match the certificate is one config line: kafka-python loads them only once
a broker answers, where such a failure looked like a broker down, retried for ever (and an
encrypted key without a passphrase asked for it on the terminal). Passwords are never
logged: :func:`describe` is the loggable view.

Reconnects: kafka-python reconnects by itself with exponential backoff up to
``reconnect_backoff_max_ms``; :meth:`KafkaIO.connected` reports whether any broker
connection is up. Connected is not enough: :class:`Delivery` tracks whether produced
records are acknowledged, and the app counts the broker as up (``anomaly_gan_broker_up``,
readiness) only while output is not stalled. A producer that stays stuck after the broker
came back (e.g. it never gets a producer id again) is replaced: :meth:`KafkaIO.reset_producer`.
The input side has the same failure: a consumer that stays connected and assigned but never
fetches again (kafka-python 3.0 after a broker restart that recreated the topic: every
metadata refresh fails "Cancelled"). :meth:`KafkaIO.waiting` tells the scorer that input is
waiting while nothing arrives, and :meth:`KafkaIO.reset_consumer` replaces the consumer.
A consumer whose position lies past its partition's end (:meth:`KafkaIO.past_end`) is not
stuck: it is moved by ``auto_offset_reset`` (:meth:`KafkaIO.reset_offset`).
A record batch the consumer cannot read (kafka-python's ``CorruptRecordError``: a header key
that is not UTF-8, a CRC mismatch) fails every poll at its offset, however often it is read
again: :meth:`KafkaIO.poll` raises :class:`UnreadableInput` naming the partition and offset,
and :meth:`KafkaIO.skip_unreadable` finds where readable records resume and seeks there.
:class:`Backoff` spaces the service's connection attempts and the loop's replays.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from anomaly_gan.config import KafkaConfig
from anomaly_gan.errors import AnomalyGanError, ConfigError

__all__ = ["AUTH_FAILURES", "SKIP_SEARCH_S", "AuthFailures", "Backoff", "Delivery", "KafkaIO",
           "UnreadableInput", "check_tls", "client_kwargs", "describe", "drop_failed_batch",
           "resolve_password", "skip_unreadable", "unreadable_at"]

log = logging.getLogger(__name__)


def _not_a_close_race(record: logging.LogRecord) -> bool:
    """False for kafka-python 3.0's traceback of a read on a connection closed under it: its
    network loop can wake for a socket that ``close()`` has just dropped, and ``recv`` on
    None logs "Error receiving network data closing socket" with an AttributeError (one
    ``make demo`` in three, after its summary). The connection was being closed on purpose;
    the traceback says nothing an operator can act on."""
    exc = record.exc_info[1] if record.exc_info else None
    return not (isinstance(exc, AttributeError) and "'NoneType' object has no attribute" in str(exc)
                and record.getMessage().endswith("Error receiving network data closing socket"))


logging.getLogger("kafka.net.transport").addFilter(_not_a_close_race)


class AuthFailures(logging.Filter):
    """Counts the connections kafka-python closed because a broker refused the SASL
    credentials or the TLS handshake failed. Its clients raise no such error to the caller:
    a bootstrap every broker refuses ends in ``KafkaTimeoutError`` ("Unable to bootstrap"), a
    later connection is retried, and both read as a broker down. The refusal
    (``SaslAuthenticationFailedError``, a SaslAuthenticate answer with error 58, as Apache
    Kafka sends for a wrong password) or the failed handshake (``KafkaConnectionError``
    "Handshake failed: [SSL: ...] ...": a CA that did not sign the broker's certificate, a
    broker name the certificate does not hold, a client certificate the broker rejects with
    an alert) is the exception kafka-python closes the connection with and logs ("Connection
    lost: %s"); this filter, on that logger, notes it and drops nothing. A broker that just
    drops the connection instead (Tansu on a bad login; a TLS 1.3 server that rejects the
    client certificate after the handshake) cannot be told from one that is down."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.last_error = ""
        self._tls_reason: str | None = None  # the last one noted was a failed TLS handshake

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        for arg in args:
            if isinstance(arg, BaseException):
                from kafka.errors import KafkaConnectionError, SaslAuthenticationFailedError

                tls = _TLS_HANDSHAKE.search(str(arg)) if isinstance(
                    arg, KafkaConnectionError) else None
                if isinstance(arg, SaslAuthenticationFailedError) or tls:
                    self.count += 1
                    self.last_error = str(arg)
                    self._tls_reason = tls and tls["reason"]
        return True

    def reason_since(self, count: int, k: KafkaConfig) -> str | None:
        """"authentication failed for sasl_username X", or "TLS handshake with the broker
        failed: REASON" (naming ``ssl_cafile`` where the broker's certificate did not verify),
        if a refusal was noted after ``count`` (an earlier value of :attr:`count`), else
        None."""
        if self.count <= count:
            return None
        if self._tls_reason is None:
            return f"authentication failed for sasl_username {k.sasl_username}"
        why = f"TLS handshake with the broker failed: {self._tls_reason}"
        if self._tls_reason.startswith("certificate verify failed"):
            why += (f" (serve.kafka.ssl_cafile {k.ssl_cafile})" if k.ssl_cafile else
                    " (serve.kafka.ssl_cafile not set: the system's CA certificates)")
        return why


# kafka-python's "Handshake failed: %s" of an ssl.SSLError: '[SSL: CODE] reason (_ssl.c:N)'
_TLS_HANDSHAKE = re.compile(r"Handshake failed: \[SSL(?:: [A-Z0-9_]+)?\] (?P<reason>.*?)"
                            r"(?: \(_ssl\.c:\d+\))?$")


AUTH_FAILURES = AuthFailures()
logging.getLogger("kafka.net.connection").addFilter(AUTH_FAILURES)

BOOTSTRAP_TIMEOUT_MS = 5000
_BACKOFF_MIN_S = 0.1


SKIP_SEARCH_S = 20.0
"""At most this long to find where an unreadable record batch ends (:func:`skip_unreadable`)."""


def resolve_password(k: KafkaConfig, key: str = "sasl_password") -> str | None:
    """The secret ``key`` (``sasl_password`` or ``ssl_password``) if set, else the contents of
    ``<key>_file`` (UTF-8, surrounding whitespace stripped; an empty file is an error, not an
    empty password). None when neither is set."""
    inline, path = getattr(k, key), getattr(k, f"{key}_file")
    if inline:
        return str(inline)
    if path:
        where = f"serve.kafka.{key}_file: {path}"
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{where}: cannot read it: {exc.strerror}") from None
        try:
            password = data.decode("utf-8").strip()
        except UnicodeDecodeError:  # its message holds a byte of the password
            raise ConfigError(f"{where}: expected the password as UTF-8 text, got other bytes "
                              f"(value not shown: secret)") from None
        if not password:
            raise ConfigError(f"{where}: expected the password, got an empty file")
        return password
    return None


class _Encrypted(Exception):
    """The private key asked for a passphrase and none is set (:func:`check_tls`)."""


_warned_unencrypted: set[str] = set()  # keys warned about once per process (check_tls)


def _ssl_reason(exc: Exception) -> str:
    import ssl

    if isinstance(exc, ssl.SSLError):  # '[X509: KEY_VALUES_MISMATCH] key values mismatch (_ssl.c:3926)'
        return str(exc.args[1] if len(exc.args) > 1 else exc).split(" (_ssl.c")[0]
    return str(getattr(exc, "strerror", None) or exc)


def check_tls(k: KafkaConfig) -> str | None:
    """Load ``ssl_cafile``, ``ssl_certfile`` and ``ssl_keyfile`` as kafka-python does (an
    ``ssl.SSLContext``), raising :class:`ConfigError` naming the key for a file that is not
    there, is no PEM, holds an encrypted key without its passphrase (``ssl_password`` or
    ``ssl_password_file``) or with a wrong one, or a key that does not match the certificate;
    a passphrase without a key to decrypt is refused too. Returns the passphrase (None if
    none is set). A passphrase set for a key that is not encrypted is unused: one warning."""
    import ssl

    protocol_uses_tls = k.security_protocol in ("SSL", "SASL_SSL")
    pw_key = "ssl_password" if k.ssl_password or not k.ssl_password_file else "ssl_password_file"
    pw_set = bool(k.ssl_password or k.ssl_password_file)
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", pw_key):
        value = getattr(k, name)  # a passphrase file is read below (resolve_password)
        if not value:
            continue
        if not protocol_uses_tls:  # kafka-python ignores it: a TLS listener would drop us
            raise ConfigError(f"serve.kafka.{name}: set, but security_protocol is "
                              f"{k.security_protocol}; expected SSL or SASL_SSL with TLS files")
        if name != pw_key and not Path(value).is_file():
            what = "a directory" if Path(value).is_dir() else "no such file"
            raise ConfigError(f"serve.kafka.{name}: expected a PEM file, got {value} ({what})")
    if k.ssl_keyfile and not k.ssl_certfile:  # kafka-python would send no client certificate
        raise ConfigError(f"serve.kafka.ssl_keyfile: set without ssl_certfile; expected the "
                          f"client certificate in ssl_certfile too, got only {k.ssl_keyfile}")
    if pw_set and not k.ssl_certfile:  # no key to decrypt: likely ssl_keyfile left out
        raise ConfigError(f"serve.kafka.{pw_key}: set without a private key; expected it with "
                          f"an encrypted ssl_keyfile and its ssl_certfile")
    if not protocol_uses_tls:
        return None
    passphrase = resolve_password(k, "ssl_password")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if k.ssl_cafile:
        try:
            ctx.load_verify_locations(k.ssl_cafile)
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(f"serve.kafka.ssl_cafile: {k.ssl_cafile}: expected PEM CA "
                              f"certificates: {_ssl_reason(exc)}") from None
    if k.ssl_certfile:
        key_name, key = ("ssl_keyfile", k.ssl_keyfile) if k.ssl_keyfile else \
            ("ssl_certfile", k.ssl_certfile)
        asked = False

        def give_passphrase() -> str:
            nonlocal asked
            asked = True  # OpenSSL asks only for an encrypted key
            if passphrase is None:
                raise _Encrypted
            return passphrase

        try:
            ctx.load_cert_chain(k.ssl_certfile, k.ssl_keyfile, password=give_passphrase)
        except _Encrypted:
            raise ConfigError(f"serve.kafka.{key_name}: {key}: expected an unencrypted private "
                              f"key or its passphrase in ssl_password (or ssl_password_file), "
                              f"got one that needs a passphrase") from None
        except ValueError as exc:  # 'password cannot be longer than 1024 bytes'
            raise ConfigError(f"serve.kafka.{pw_key}: expected the passphrase of {key_name} "
                              f"{key}: {exc} (value not shown: secret)") from None
        except (ssl.SSLError, OSError) as exc:
            if asked and getattr(exc, "reason", None) != "KEY_VALUES_MISMATCH":
                # OpenSSL says only 'PEM lib': the key asked for the passphrase, got ours and
                # could not be read with it.
                raise ConfigError(f"serve.kafka.{pw_key}: expected the passphrase of "
                                  f"{key_name} {key}, got one that does not decrypt it "
                                  f"(value not shown: secret)") from None
            raise ConfigError(f"serve.kafka.ssl_certfile: {k.ssl_certfile}: expected a PEM "
                              f"client certificate and its private key ({key_name} {key}): "
                              f"{_ssl_reason(exc)}") from None
        if passphrase is not None and not asked and key not in _warned_unencrypted:
            # Harmless (kafka-python passes it, OpenSSL never asks), so not refused: a key
            # rotated to an unencrypted one must not stop the scorer while the old
            # passphrase is still mounted.
            _warned_unencrypted.add(key)
            log.warning("serve.kafka.%s: set, but %s %s is not encrypted; the passphrase is "
                        "not used", pw_key, key_name, key)
    return passphrase


def client_kwargs(k: KafkaConfig) -> dict[str, Any]:
    """Connection and security settings shared by the consumer and the producer. Checks them
    as no broker can (:func:`check_tls`, :func:`resolve_password`): ``serve`` calls it at
    start, before the model loads."""
    ssl_password = check_tls(k)
    kw: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in k.bootstrap_servers.split(",") if s.strip()],
        "client_id": k.client_id,
        "security_protocol": k.security_protocol,
        "reconnect_backoff_max_ms": k.reconnect_backoff_max_ms,
        "metrics_enabled": False,  # kafka-python's own sensors cost CPU per record
        # Clients bootstrap in their constructor; fail fast so the caller can retry with
        # backoff (and stay responsive to SIGTERM) instead of blocking 30 s per attempt.
        "bootstrap_timeout_ms": BOOTSTRAP_TIMEOUT_MS,
    }
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        if getattr(k, name):
            kw[name] = getattr(k, name)
    if ssl_password is not None:
        kw["ssl_password"] = ssl_password
    if k.security_protocol.startswith("SASL"):
        password = resolve_password(k)
        if not k.sasl_username or password is None:
            raise ConfigError("serve.kafka: SASL needs sasl_username and sasl_password "
                              "(or sasl_password_file)")
        kw["sasl_mechanism"] = k.sasl_mechanism
        kw["sasl_plain_username"] = k.sasl_username
        kw["sasl_plain_password"] = password
    return kw


def describe(k: KafkaConfig) -> dict[str, Any]:
    """What may be logged about the Kafka settings (no secrets)."""
    return {
        "bootstrap_servers": k.bootstrap_servers, "input_topic": k.input_topic,
        "alert_topic": k.alert_topic, "scores_topic": k.scores_topic, "dlq_topic": k.dlq_topic,
        "group_id": k.group_id, "security_protocol": k.security_protocol,
        "sasl_mechanism": k.sasl_mechanism, "sasl_username": k.sasl_username,
        "sasl_password": "<set>" if (k.sasl_password or k.sasl_password_file) else None,
        "ssl_password": "<set>" if (k.ssl_password or k.ssl_password_file) else None,
    }


class UnreadableInput(AnomalyGanError):
    """A poll met input records that the consumer cannot read (kafka-python's
    ``CorruptRecordError``). ``tp`` and ``offset``: the partition and the first offset that
    cannot be read (the consumer's position there), None where they cannot be told."""

    def __init__(self, error: str, tp: Any = None, offset: int | None = None) -> None:
        where = "an unknown partition" if tp is None else f"{tp.topic}/{tp.partition}"
        super().__init__(f"unreadable input record on {where} at offset {offset}: {error}")
        self.error, self.tp, self.offset = error, tp, offset


def drop_failed_batch(consumer: Any) -> Any:
    """The partition whose records failed to parse in ``consumer``'s last poll (None where
    it cannot be told), and drop those records. kafka-python does not name the partition in
    its ``CorruptRecordError``; its fetcher keeps the records it was reading in
    ``_next_partition_records`` (private, hence the guards). Their iterator died with the
    error, and kafka-python 3.0.12 left alone retries it without end: a poll at the same
    position then spins in ``fetched_records`` and never returns (seen with a replay that
    seeks back to the bad offset). Dropped, the next fetch reads the batch anew."""
    parsed = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    if parsed is None:
        return None
    try:
        tp = parsed.topic_partition
        parsed.drain()
        return tp
    except Exception:  # a private attribute of another version
        log.debug("cannot drop the unreadable records", exc_info=True)
        return None


def unreadable_at(consumer: Any, candidates: set[Any]) -> tuple[Any, int | None]:
    """After ``consumer``'s poll raised ``CorruptRecordError``: the partition that failed
    (its failed records dropped: :func:`drop_failed_batch`), else the only one of
    ``candidates`` (the partitions being read) where the consumer cannot tell, and the
    consumer's position there, the first offset that cannot be read; None for what cannot
    be told. ``serve``'s :meth:`KafkaIO.poll` and ``retrain``'s range reader."""
    tp = drop_failed_batch(consumer)
    if tp not in candidates:  # not told, or revoked meanwhile
        tp = next(iter(candidates)) if len(candidates) == 1 else None
    offset = None
    if tp is not None:
        try:
            offset = int(consumer.position(tp, timeout_ms=1000))
        except Exception:  # noqa: BLE001 - no position: the caller cannot place the batch
            offset = None
    return tp, offset


def skip_unreadable(consumer: Any, tp: Any, first: int, timeout_s: float,
                    assignment: Callable[[], set[Any]], corrupt_error: type[Exception]
                    ) -> int | None:
    """Seek ``tp`` to the first offset after ``first`` (which cannot be read) from which
    records can be read again, and return it; None where the brokers do not answer within
    ``timeout_s`` or the partition went away (the position is then left anywhere: the
    caller replays, which seeks back). ``assignment``: the consumer's partitions now (the
    others are paused during the search, those not paused before it resumed after);
    ``corrupt_error``: kafka-python's ``CorruptRecordError``. Used by ``serve``
    (:meth:`KafkaIO.skip_unreadable`) and by ``retrain``'s range reader.

    kafka-python parses a fetched batch from its start, whatever the position inside it, so
    every offset of a batch with an unreadable record fails, up to the batch's last one; the
    first offset after it reads again. Where the batch ends is not told, so it is searched
    for: each probe seeks ``tp`` to an offset and polls until records come (readable) or the
    error does (not readable), the other partitions paused meanwhile and the records read
    discarded. The offsets after ``first`` are tried 1, 3, 7, 15 ... ahead until one reads,
    then halved between the last that failed and it: about twice log2 of the batch's length
    in probes, each one fetch. The partition's end is readable by definition (the larger of
    the end offset and the last fetch's high watermark: Tansu under-reports the first, see
    :meth:`KafkaIO.past_end`)."""
    deadline = time.monotonic() + timeout_s
    try:
        ends = consumer.end_offsets([tp], timeout_ms=int(timeout_s * 1000))
        end = max(int(ends.get(tp) or 0), int(consumer.highwater(tp) or 0))
        others = assignment() - {tp} - set(consumer.paused())
    except Exception as exc:  # noqa: BLE001 - no answer, no search
        log.warning("cannot read the end of input partition %s/%s: %s", tp.topic,
                    tp.partition, exc or type(exc).__name__)
        return None
    if end <= first:  # a record at ``first`` failed: an end at or before it is wrong
        log.warning("input partition %s/%s: end offset %d at or before the unreadable "
                    "offset %d", tp.topic, tp.partition, end, first)
        return None
    if others:
        consumer.pause(*others)

    def readable(offset: int) -> bool | None:
        return _readable(consumer, tp, offset, deadline, corrupt_error)

    try:
        bad, good, ahead = first, end, 1
        while bad + ahead < good:  # gallop: the batch is small, the partition may not be
            found = readable(bad + ahead)
            if found is None:
                return None
            if found:
                good = bad + ahead
                break
            bad, ahead = bad + ahead, ahead * 2
        while good - bad > 1:
            mid = (bad + good) // 2
            found = readable(mid)
            if found is None:
                return None
            bad, good = (bad, mid) if found else (mid, good)
        consumer.seek(tp, good)
        return good
    except Exception as exc:  # noqa: BLE001 - e.g. revoked meanwhile
        log.warning("cannot search input partition %s/%s for readable records: %s",
                    tp.topic, tp.partition, exc or type(exc).__name__)
        return None
    finally:
        still = others & assignment()  # a rebalance may have taken some meanwhile
        if still:
            consumer.resume(*still)


def _readable(consumer: Any, tp: Any, offset: int, deadline: float,
              corrupt_error: type[Exception]) -> bool | None:
    """Whether ``consumer`` reads ``tp`` from ``offset``: records come back, or its position
    moves past ``offset`` (a transaction marker) without an error. None: no answer before
    ``deadline``."""
    consumer.seek(tp, offset)
    while (left_ms := int((deadline - time.monotonic()) * 1000)) > 0:
        try:
            got = consumer.poll(timeout_ms=min(left_ms, 1000), max_records=1)
        except corrupt_error:
            drop_failed_batch(consumer)
            return False
        if got.get(tp) or (consumer.position(tp, timeout_ms=left_ms) or 0) > offset:
            return True
    log.warning("input partition %s/%s: no answer to a fetch at offset %d", tp.topic,
                tp.partition, offset)
    return None


class Backoff:
    """Exponential backoff with jitter, so replicas that failed together retry apart.

    >>> b = Backoff(ceiling_s=1.0)
    >>> [0.05 <= b.next() <= 0.1, 0.1 <= b.next() <= 0.2]
    [True, True]
    """

    def __init__(self, ceiling_s: float) -> None:
        self.ceiling_s = max(float(ceiling_s), _BACKOFF_MIN_S)
        self.nominal = 0.0

    def next(self) -> float:
        self.nominal = min(max(self.nominal * 2.0, _BACKOFF_MIN_S), self.ceiling_s)
        return self.nominal * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self.nominal = 0.0


class Delivery:
    """Sent versus acknowledged output records, safe to read from any thread.

    :meth:`stalled_for` is how long output has gone unacknowledged, the figure behind
    ``anomaly_gan_delivery_stalled_seconds`` and readiness: records pending with no
    acknowledgement (:meth:`pending_for`), or a run of failed deliveries (:meth:`failed`)
    that no clean flush has ended yet (:meth:`recovered`). A delivery that fails every
    time (an alert topic the broker lacks, an ACL) leaves nothing pending, since each
    failure is replayed on a new producer, so the run of failures has to count too.

    >>> d = Delivery(clock=lambda: 10.0)
    >>> d.sent(); d.stalled_for(now=25.0)
    15.0
    >>> d.done(); d.stalled_for(now=99.0)
    0.0
    >>> d.failed(); d.reset(); d.stalled_for(now=40.0)  # a new producer: still failing
    30.0
    >>> d.recovered(); d.stalled_for(now=50.0)
    0.0
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._pending = 0
        self._progress = clock()  # last acknowledgement, or when output became pending
        self._failing_since: float | None = None  # first failed delivery not yet recovered

    def sent(self) -> None:
        with self._lock:
            if self._pending == 0:
                self._progress = self.clock()
            self._pending += 1

    def done(self, *_result: Any) -> None:
        """One record acknowledged or failed (a failure also ends the wait for it)."""
        with self._lock:
            self._pending = max(self._pending - 1, 0)
            self._progress = self.clock()

    def failed(self) -> None:
        """A record was not delivered (refused by the client or the broker)."""
        with self._lock:
            if self._failing_since is None:
                self._failing_since = self.clock()

    def recovered(self) -> None:
        """Everything sent so far was acknowledged: a run of failures is over."""
        with self._lock:
            self._failing_since = None

    def reset(self) -> None:
        """Forget pending records (their producer was closed); a run of failures goes on."""
        with self._lock:
            self._pending = 0
            self._progress = self.clock()

    @property
    def pending(self) -> int:
        return self._pending

    @property
    def failing(self) -> bool:
        """A run of failures that :meth:`recovered` has not ended yet."""
        return self._failing_since is not None

    def pending_for(self, now: float | None = None) -> float:
        """Seconds that pending records have gone without any acknowledgement (0: none)."""
        with self._lock:
            if self._pending == 0:
                return 0.0
            return max((self.clock() if now is None else now) - self._progress, 0.0)

    def stalled_for(self, now: float | None = None) -> float:
        """Seconds that output has gone unacknowledged: :meth:`pending_for`, or since the
        first of a run of failures (0 while neither)."""
        now = self.clock() if now is None else now
        pending = self.pending_for(now)
        since = self._failing_since
        return max(pending, 0.0 if since is None else max(now - since, 0.0))


class KafkaIO:
    """Consumer + producer behind the few calls the scoring loop makes."""

    def __init__(self, k: KafkaConfig, on_assigned: Callable[[list[Any]], None] | None = None,
                 on_revoked: Callable[[list[Any]], Mapping[Any, int] | None] | None = None
                 ) -> None:
        from kafka import KafkaProducer
        from kafka.errors import CorruptRecordError

        self.cfg = k
        self._corrupt_error = CorruptRecordError
        self._producer_class = KafkaProducer
        self._on_assigned, self._on_revoked = on_assigned, on_revoked
        self.consumer = self._make_consumer()
        self.delivery = Delivery()
        try:
            self.producer = self._make_producer()
        except BaseException:
            self.consumer.close(autocommit=False, timeout_ms=0)  # no leaked connections
            raise

    def _make_consumer(self) -> Any:
        """A new consumer of the input topic in the group, with the rebalance callbacks.
        Callbacks of a consumer that has since been replaced are ignored."""
        from kafka import KafkaConsumer
        from kafka.consumer.subscription_state import ConsumerRebalanceListener

        k = self.cfg
        consumer = KafkaConsumer(
            **client_kwargs(k),
            group_id=k.group_id,
            enable_auto_commit=False,
            auto_offset_reset=k.auto_offset_reset,
            max_poll_records=k.max_poll_records,
            session_timeout_ms=k.session_timeout_ms,
            heartbeat_interval_ms=k.heartbeat_interval_ms,
            max_poll_interval_ms=k.max_poll_interval_ms,
            fetch_max_wait_ms=k.fetch_max_wait_ms,
            allow_auto_create_topics=False,  # see _make_producer
        )
        outer, on_assigned, on_revoked = self, self._on_assigned, self._on_revoked

        class Listener(ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked: Any) -> None:
                # Runs on kafka-python's IO thread: a blocking commit is not allowed here,
                # but an asynchronous one is, and it goes out before the group re-joins.
                if on_revoked is None or outer.consumer is not consumer:
                    return
                offsets = on_revoked(list(revoked))
                if offsets:
                    from kafka.structs import OffsetAndMetadata

                    consumer.commit_async(
                        {tp: OffsetAndMetadata(int(o), "", -1) for tp, o in offsets.items()})

            def on_partitions_assigned(self, assigned: Any) -> None:
                if on_assigned is not None and outer.consumer is consumer:
                    on_assigned(list(assigned))

        try:
            consumer.subscribe([k.input_topic], listener=Listener())
        except BaseException:
            consumer.close(autocommit=False, timeout_ms=0)
            raise
        return consumer

    def reset_consumer(self, timeout_s: float = 1.0) -> None:
        """Replace the consumer (it stopped fetching): the old one leaves the group without
        calling back or committing, and the new one joins and resumes from the group's
        committed offsets."""
        old, self.consumer = self.consumer, None
        if old is not None:
            try:
                old.close(autocommit=False, timeout_ms=int(timeout_s * 1000))
            except Exception:  # a stuck consumer may fail to close cleanly
                log.debug("closing the old consumer failed", exc_info=True)
        self.consumer = self._make_consumer()  # if this raises, the next poll tries again

    def _make_producer(self) -> Any:
        return self._producer_class(
            **client_kwargs(self.cfg),
            acks="all",
            linger_ms=self.cfg.producer_linger_ms,
            batch_size=self.cfg.producer_batch_bytes,
            compression_type=self.cfg.compression_type,
            retries=2**31 - 1,  # bounded by delivery_timeout_ms
            max_in_flight_requests_per_connection=1,  # keep alerts of one entity in order
            # The scorer creates no topic (docs/deployment.md). kafka-python asks the broker
            # to by default, so on a broker with auto.create.topics.enable (Kafka's default)
            # a mistyped alert_topic became a topic nobody reads, and the alerts went there.
            # Without it, a missing topic fails every send: the scorer stops being ready and
            # its log names the topic.
            allow_auto_create_topics=False,
        )

    def reset_producer(self) -> None:
        """Replace the producer (it hit a fatal error): unsent records are dropped, so the
        caller replays their input from the last commit."""
        old, self.producer = self.producer, None
        try:
            old.close(timeout=0)
        except Exception:  # a broken producer may fail to close cleanly
            log.debug("closing the old producer failed", exc_info=True)
        self.delivery.reset()
        self.producer = self._make_producer()

    # ------------------------------------------------------------------ consume

    def poll(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Any]]:
        """Records read, ``{TopicPartition: [ConsumerRecord]}``; raises
        :class:`UnreadableInput` where the consumer cannot read a record batch."""
        if self.consumer is None:  # a reset could not create its consumer: try again
            self.consumer = self._make_consumer()
        try:
            return self.consumer.poll(timeout_ms=timeout_ms, max_records=max_records)
        except self._corrupt_error as exc:
            tp, offset = unreadable_at(self.consumer, self.assignment())
            raise UnreadableInput(str(exc) or type(exc).__name__, tp, offset) from exc

    def skip_unreadable(self, tp: Any, first: int, timeout_s: float) -> int | None:
        """:func:`skip_unreadable` of this consumer, its assignment the partitions paused
        during the search; a rebalance meanwhile is allowed for."""
        return skip_unreadable(self.consumer, tp, first, timeout_s, self.assignment,
                               self._corrupt_error)

    def assignment(self) -> set[Any]:
        return set(self.consumer.assignment()) if self.consumer is not None else set()

    def topic_exists(self, topic: str) -> bool | None:
        """Whether the consumer's metadata lists ``topic`` with partitions, from its cache
        (refreshed by the consumer's own metadata requests for what it subscribed to); None
        where it cannot tell. The cache is kafka-python's ``_cluster``, not public: the
        public ``partitions_for_topic`` asks the brokers about a topic it does not know and
        waits for their answer without a timeout, which would hold the scoring loop through
        a broker outage (until the liveness probe restarted the pod)."""
        cluster = getattr(self.consumer, "_cluster", None)
        if cluster is None:
            return None
        try:
            return bool(cluster.partitions_for_topic(topic))
        except Exception:  # noqa: BLE001 - a private attribute of another version: no answer
            return None

    def commit(self, offsets: Mapping[Any, int]) -> None:
        """Synchronously commit ``{TopicPartition: next offset to read}``; raises (kafka-python's
        ``KafkaTimeoutError``) after ``session_timeout_ms`` instead of waiting for ever."""
        from kafka.structs import OffsetAndMetadata

        if offsets:
            self.consumer.commit({tp: OffsetAndMetadata(int(o), "", -1)
                                  for tp, o in offsets.items()},
                                 timeout_ms=self.cfg.session_timeout_ms)

    def committed(self, tp: Any) -> int | None:
        """The group's committed offset of ``tp``; bounded like :meth:`commit`."""
        return self.consumer.committed(tp, timeout_ms=self.cfg.session_timeout_ms)

    def seek(self, tp: Any, offset: int | None) -> None:
        if offset is None:
            self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, offset)

    def lag(self, next_offsets: Mapping[Any, int]) -> dict[tuple[str, int], int]:
        """Records behind the end of each assigned partition (from fetch high watermarks)."""
        out: dict[tuple[str, int], int] = {}
        for tp in self.assignment():
            hw = self.consumer.highwater(tp)
            pos = next_offsets.get(tp)
            if pos is None:  # nothing read yet from this partition
                try:
                    pos = self.consumer.position(tp, timeout_ms=50)
                except Exception:  # noqa: BLE001 - position unknown yet (offset reset pending)
                    pos = None
            if hw is None or pos is None:
                continue
            out[(tp.topic, tp.partition)] = max(int(hw) - int(pos), 0)
        return out

    def waiting(self, timeout_ms: int) -> bool:
        """True when some assigned partition's end offset differs from the consumer's
        position: records wait there, or the position lies past the end (a recreated
        topic). Asks the broker (bounded by ``timeout_ms``); an answer that does not come
        counts as waiting, since a consumer that cannot read offsets cannot fetch either.
        (The position moves past transaction markers, so they never count.)"""
        try:
            offsets = self._offsets(timeout_ms)
        except Exception as exc:  # noqa: BLE001 - no answer: see above
            log.debug("input offsets unavailable: %s", exc or type(exc).__name__)
            return True
        return any(pos is None or end is None or end != pos for pos, end, _ in offsets.values())

    def past_end(self, timeout_ms: int) -> dict[Any, tuple[int, int]]:
        """``{partition: (position, end)}`` of the assigned partitions whose position lies
        past their end: the committed offset names a record the partition does not hold (the
        topic was deleted and recreated, retention or compaction truncated it, the offsets
        were committed against another cluster). Apache Kafka answers such a fetch with
        OFFSET_OUT_OF_RANGE and kafka-python resets by ``auto_offset_reset``; Tansu answers
        with no records, so the consumer waits there for ever.

        Two opinions must agree, since Tansu under-reports the end offset (ListOffsets)
        of a partition written in multi-record batches, so that a healthy consumer read to
        the true end stands past it: the broker's end offset, and the high watermark of a
        fetch answered at this position (kafka-python records it only from a fetch at the
        current position, and Tansu's is right). A high watermark not yet known (no fetch
        answered since the assignment) or not below the position makes no verdict. Any
        error: no verdict ({})."""
        out: dict[Any, tuple[int, int]] = {}
        try:
            offsets = self._offsets(timeout_ms)
        except Exception as exc:  # noqa: BLE001 - no verdict without offsets
            log.debug("input offsets unavailable: %s", exc or type(exc).__name__)
            return out
        for tp, (pos, end, highwater) in offsets.items():
            if pos is None or end is None or highwater is None:
                continue
            if pos > end and pos > highwater:
                out[tp] = (pos, max(end, highwater))
        return out

    def _offsets(self, timeout_ms: int) -> dict[Any, tuple[int | None, int | None, int | None]]:
        """``{partition: (position, end offset, fetch high watermark)}`` of the assigned
        partitions; raises when the broker does not answer within ``timeout_ms``."""
        tps = list(self.assignment())
        if not tps:
            return {}
        ends = self.consumer.end_offsets(tps, timeout_ms=timeout_ms)

        def known(value: Any) -> int | None:
            return None if value is None else int(value)

        return {tp: (known(self.consumer.position(tp, timeout_ms=timeout_ms)),
                     known(ends.get(tp)), known(self.consumer.highwater(tp)))
                for tp in tps}

    def reset_offset(self, tp: Any, end: int) -> tuple[int, int]:
        """Move a partition whose position lies past its ``end`` (:meth:`past_end`) as
        ``auto_offset_reset`` says: ``earliest`` to its first offset, ``latest`` to ``end``.
        Returns ``(new position, first offset)``."""
        first = self.consumer.beginning_offsets([tp], timeout_ms=self.cfg.session_timeout_ms)
        first_offset = int(first[tp])
        offset = first_offset if self.cfg.auto_offset_reset == "earliest" else int(end)
        self.consumer.seek(tp, offset)
        return offset, first_offset

    def connected(self) -> bool:
        """True when the consumer holds at least one live broker connection."""
        if self.consumer is None:
            return False
        try:
            conns = self.consumer._manager._conns  # kafka-python >= 3
            return any(getattr(c, "connected", False) for c in list(conns.values()))
        except AttributeError:  # pragma: no cover - other kafka-python versions
            return bool(self.consumer.bootstrap_connected())

    # ------------------------------------------------------------------ produce

    def send(self, topic: str, value: bytes, key: bytes | None = None,
             headers: Iterable[tuple[str, bytes]] | None = None,
             on_error: Callable[[Exception], None] | None = None) -> Any:
        # Pending from before the call: kafka-python's send waits up to max_block_ms (60 s)
        # for the metadata of a topic the brokers lack before it raises, and until
        # 2026-12-07 that wait counted as nothing pending (/readyz 200, stalled 0).
        self.delivery.sent()
        try:
            fut = self.producer.send(topic, value=value, key=key,
                                     headers=list(headers) if headers else None)
        except BaseException:
            self.delivery.done()  # refused: pending no more (the caller records the failure)
            raise
        fut.add_both(self.delivery.done)
        if on_error is not None:
            fut.add_errback(on_error)
        return fut

    def flush(self, timeout_s: float | None = None) -> None:
        self.producer.flush(timeout=timeout_s)

    def close(self, timeout_s: float = 5.0) -> None:
        try:
            self.producer.close(timeout=timeout_s)
        except Exception as exc:  # noqa: BLE001 - undelivered output: drain() said so
            log.warning("producer did not close cleanly: %s", exc or type(exc).__name__)
        finally:
            if self.consumer is not None:
                self.consumer.close(autocommit=False, timeout_ms=int(timeout_s * 1000))
