"""A real Kafka-protocol broker reached over mutual TLS, for the tests of ``serve.kafka``'s
SSL settings.

Tansu 0.6.0 (the embedded broker) cannot listen with TLS: its ``--cert`` and ``--key`` are
declared in one clap group, so giving both is refused ("the argument '--cert <CERT>' cannot
be used with '--key <KEY>'") and either alone leaves the listener in plain text. So a small
TLS-terminating proxy (Python's ``ssl`` under asyncio, in a thread) sits in front of it, and
the broker advertises the *proxy's* address: the metadata the client reads names the proxy,
so every later connection (to the partition leader, the group coordinator) is TLS too. A
client that reached the plain-text listener directly with ``security_protocol`` SSL would
fail its handshake, so data flowing at all means it went through the proxy.

The proxy requires a client certificate signed by the test CA (mutual TLS) and notes the
subject of each client it let in (:attr:`TLSProxy.clients`) and each handshake it refused.

Key material is made at test time with the ``openssl`` command (the venv has no
``cryptography`` package) in a temporary folder: a CA, a server certificate for 127.0.0.1,
a client certificate and its key, that key encrypted with a passphrase (for
``ssl_password``), and a second CA that signed neither (a wrong ``ssl_cafile``).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

__all__ = ["PASSPHRASE", "Pki", "TLSProxy", "make_pki", "tls_kafka"]

PASSPHRASE = "tls-test-passphrase"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    client_key_encrypted: Path
    passphrase_file: Path
    other_ca: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(folder: Path) -> Pki:
    """Throwaway EC P-256 keys and certificates (valid one day) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    new_key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes")
    for ca in ("ca", "other-ca"):
        _openssl("req", "-x509", *new_key, "-keyout", f"{ca}.key", "-out", f"{ca}.crt",
                 "-days", "1", "-subj", f"/CN=anomaly-gan {ca}", cwd=folder)
    (folder / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    (folder / "client.ext").write_text("extendedKeyUsage=clientAuth\n")
    for who in ("server", "client"):
        _openssl("req", *new_key, "-keyout", f"{who}.key", "-out", f"{who}.csr",
                 "-subj", f"/CN=anomaly-gan-{who}", cwd=folder)
        _openssl("x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "1", "-extfile", f"{who}.ext",
                 "-out", f"{who}.crt", cwd=folder)
    (folder / "passphrase").write_text(PASSPHRASE + "\n")
    _openssl("pkcs8", "-topk8", "-in", "client.key", "-out", "client-encrypted.key",
             "-v2", "aes-256-cbc", "-passout", "file:passphrase", cwd=folder)
    return Pki(ca=folder / "ca.crt", server_cert=folder / "server.crt",
               server_key=folder / "server.key", client_cert=folder / "client.crt",
               client_key=folder / "client.key",
               client_key_encrypted=folder / "client-encrypted.key",
               passphrase_file=folder / "passphrase", other_ca=folder / "other-ca.crt")


class TLSProxy:
    """Accept TLS on a free loopback port (client certificate required) and relay the
    decrypted bytes to ``upstream()``'s ``(host, port)``, looked up per connection."""

    def __init__(self, pki: Pki, upstream: Callable[[], tuple[str, int]]) -> None:
        self.upstream = upstream
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki.ca))
        self.context.load_cert_chain(pki.server_cert, pki.server_key)
        self.context.verify_mode = ssl.CERT_REQUIRED
        self.clients: list[str] = []  # the CN of each client certificate let in
        self.refused: list[str] = []  # each handshake that failed, as the server saw it
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self.port = int(self._sock.getsockname()[1])
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(self._loop_error)
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name="tls-proxy")
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _loop_error(self, loop: Any, context: dict[str, Any]) -> None:
        # asyncio reports a refused handshake here ("SSL handshake failed"), with a
        # traceback on stderr by default: it is expected in the negative tests.
        exc = context.get("exception")
        self.refused.append(str(exc or context.get("message")))

    def start(self) -> TLSProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._relay, sock=self._sock, ssl=self.context,
                                 ssl_handshake_timeout=10), self._loop).result(10)
        return self

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peercert") or {}
        self.clients.append(next((v for rdn in peer.get("subject", ()) for k, v in rdn
                                  if k == "commonName"), "?"))
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream())
        except OSError:
            writer.close()
            return

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, ssl.SSLError):
                pass
            finally:
                with contextlib.suppress(OSError, ssl.SSLError, RuntimeError):
                    dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._sock.close()


@dataclass(frozen=True)
class TLSKafka:
    bootstrap: str  # the proxy: the only address clients use
    pki: Pki
    proxy: TLSProxy

    def client(self, encrypted_key: bool = False, cafile: Path | None = None) -> dict[str, Any]:
        """kafka-python settings that reach the broker (a consumer, producer or admin)."""
        key = self.pki.client_key_encrypted if encrypted_key else self.pki.client_key
        return {"security_protocol": "SSL", "ssl_cafile": str(cafile or self.pki.ca),
                "ssl_certfile": str(self.pki.client_cert), "ssl_keyfile": str(key),
                **({"ssl_password": PASSPHRASE} if encrypted_key else {})}


@pytest.fixture(scope="session")
def tls_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSKafka]:
    """An embedded broker behind :class:`TLSProxy`, for the whole session."""
    from anomaly_gan.demo.broker import EmbeddedBroker

    pki = make_pki(tmp_path_factory.mktemp("pki"))
    broker: EmbeddedBroker | None = None
    proxy = TLSProxy(pki, lambda: ("127.0.0.1", broker.port if broker else 0)).start()
    try:
        tls = TLSKafka(proxy.address, pki, proxy)
        broker = EmbeddedBroker(advertised=proxy.address, client_config=tls.client())
        with broker:
            yield tls
    finally:
        proxy.stop()
