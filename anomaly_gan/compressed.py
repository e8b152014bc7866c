"""Compressed inputs, read as what they hold (the I/O edge, under
:func:`anomaly_gan.files.open_input`): a file or a pipe whose first bytes are those of
gzip, bzip2, xz or zstd is read decompressed, whatever its name. Rotated logs and exports
are kept so (``app.log.1.gz``, ``metrics-2026-11.csv.zst``, ``cat`` of several ``.gz``).

Concatenated streams (gzip members, bzip2 streams, xz streams, zstd frames) read as one.
A stream that is corrupt or cut short, at its start or anywhere after, or followed by
bytes that start no stream of its format (NUL padding after gzip, bzip2 or xz aside;
after zstd it is refused, as ``zstd -d`` refuses it), is a one-line
:class:`~anomaly_gan.errors.DataError` naming the file, the format, the compressed byte it
broke at or before (how much of the file the decompressor had been given: a file cut short
is named by its length, where it ends) and how many bytes came out before it, whichever
reader was reading: the decompressors' own exceptions
(``gzip.BadGzipFile``, ``EOFError``, ``zlib.error``, ``lzma.LZMAError``, ``OSError``,
``zstandard.ZstdError``) never reach a reader.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zlib
from pathlib import Path
from typing import IO, Any, cast

from anomaly_gan.errors import DataError, clip

__all__ = ["HEAD_BYTES", "UNPACK", "compression_of", "decompressing"]

#: How many first bytes tell a compressed file (bzip2's signature is the longest).
HEAD_BYTES = 10

_SIGNATURES = (
    ("gzip", (b"\x1f\x8b\x08",)),  # and deflate, its one method
    # "BZh", a block size, then a block's or the end's signature: a text that starts so
    # (a column named BZh) is text
    ("bzip2", tuple(b"BZh%d" % size + block for size in range(1, 10)
                    for block in (b"1AY&SY", b"\x17rE8P\x90"))),
    ("xz", (b"\xfd7zXZ\x00",)),
    # a frame, or a skippable one (pzstd starts its files with one; zstd -d skips it)
    ("zstd", (b"\x28\xb5\x2f\xfd", *(bytes([0x50 + n]) + b"\x2a\x4d\x18" for n in range(16)))),
)
#: The command that decompresses each compression.
UNPACK = {"gzip": "gunzip", "bzip2": "bunzip2", "xz": "unxz", "zstd": "unzstd"}
_PARQUET = re.compile(rb"PAR1[\x00-\x08\x0e-\x1f]")  # a page header (binary), not a name
_BUFFER = 1 << 16
#: Compressed bytes given to zstd's decompressobj at a time: at most about 8 MiB come out
_ZSTD_FEED = 256


def compression_of(head: bytes) -> str:
    r"""The compression (``gzip``, ``bzip2``, ``xz``, ``zstd``) of a file that starts with
    ``head`` (its first :data:`HEAD_BYTES`), else ''. A whole file shorter than a signature,
    of 4 bytes or more that start it, is one cut short (the decompressor says so).

    >>> compression_of(b"\x1f\x8b\x08\x00"), compression_of(b"BZh,PK\n"), compression_of(b"")
    ('gzip', '', '')
    """
    return next((name for name, signatures in _SIGNATURES for signature in signatures
                 if head.startswith(signature)
                 or 4 <= len(head) < len(signature) and signature.startswith(head)), "")


def decompressing(path: Path, source: io.RawIOBase, compression: str) -> IO[bytes]:
    """``source`` (``path``'s bytes, not yet read) read through its ``compression``
    (:func:`compression_of`), buffered (it can be peeked at) and closing ``source``. A
    compressed file in the compressed file, or a Parquet file (the Parquet reader seeks in
    its file, which a stream cannot), is a :class:`DataError` at once."""
    handle = io.BufferedReader(_Decompressing(path, compression, source),
                               buffer_size=_BUFFER)
    try:
        head = handle.peek(HEAD_BYTES)
        inner = compression_of(head)
        how = UNPACK[compression]
        if inner:
            raise DataError(f"{path}: {inner}-compressed inside its {compression} compression "
                            f"(compressed twice?), which is not read: decompress it "
                            f"({how}) and read what that gives")
        if _PARQUET.match(head):
            raise DataError(f"{path}: a {compression}-compressed Parquet file, which is not "
                            f"read: Parquet is read by seeking in its file; decompress it "
                            f"({how}) and name it .parquet")
    except BaseException:
        handle.close()
        raise
    return handle


class _Decompressing(io.RawIOBase):
    """The decompressed bytes of ``source``; a decompressor's error, wherever in the file,
    is a one-line :class:`DataError`."""

    def __init__(self, path: Path, compression: str, source: io.RawIOBase) -> None:
        self._path, self._compression, self._source = path, compression, source
        self._out = 0  # bytes decompressed so far, for the error
        # what the decompressor was given: a small file cut short gives out nothing
        # before the break, so the compressed byte says where it broke
        self._given = _Counted(source)
        self._errors: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error,
                                                         lzma.LZMAError)
        self._stream: Any
        readable = cast(IO[bytes], self._given)  # read(n) as a binary file's
        if compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=readable, mode="rb")  # every member
        elif compression == "bzip2":
            self._stream = _Streams(readable, bz2.BZ2Decompressor)
        elif compression == "xz":
            self._stream = _Streams(readable, lzma.LZMADecompressor)
        else:
            import zstandard  # loaded only for a zstd file

            self._errors += (zstandard.ZstdError,)
            self._stream = _Zstd(readable, zstandard)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The compressed file's descriptor (its ``fstat`` says when it was written)."""
        return self._source.fileno()

    def readinto(self, buffer: Any) -> int:
        try:
            # read1: GzipFile.read(n) fills n bytes before it returns, and an error on the
            # way dropped what it had, so a cut file was 'cut short after 0 bytes'
            data = (self._stream.read1(len(buffer)) if self._compression == "gzip"
                    else self._stream.read(len(buffer)))
        except self._errors as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # reading the file
                raise DataError(f"{self._path}: cannot read: {exc.strerror}") from None
            raise DataError(f"{self._path}: {self._compression} stream is corrupt or cut "
                            f"short at or before compressed byte {self._given.count:,}, "
                            f"after {self._out:,} decompressed bytes "
                            f"({clip(str(exc) or type(exc).__name__, 120)})") from None
        n = len(data)
        buffer[:n] = data
        self._out += n
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self._stream.close()
            finally:
                self._source.close()
        super().close()


class _Counted:
    """``source`` read by a decompressor, counting the compressed bytes it was given.

    >>> counted = _Counted(io.BytesIO(b"abc"))
    >>> counted.read(2), counted.read(9), counted.read(9), counted.count
    (b'ab', b'c', b'', 3)
    """

    def __init__(self, source: io.RawIOBase) -> None:
        self._source = source
        self.count = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n) or b""
        self.count += len(data)
        return data


class _Streams:
    r"""The streams of a bzip2 or xz file, one after another, decompressed, at most ``n``
    bytes a read. ``bz2.BZ2File`` and ``lzma.LZMAFile`` end the file, without a word, at
    bytes after a stream that start no stream of theirs: the rows of a gzip file or of plain
    text joined after it (``cat a.csv.bz2 b.csv.gz``) were left out. Here such bytes are an
    ``OSError`` or ``LZMAError``, as corrupt bytes are; NUL bytes after a stream (padding,
    which gzip's reader skips too) are skipped.

    >>> one = bz2.compress(b"a\n1\n")
    >>> _Streams(io.BytesIO(one + b"\0" * 8 + one), bz2.BZ2Decompressor).read(99)
    b'a\n1\n'
    >>> both = _Streams(io.BytesIO(one + gzip.compress(b"2\n")), bz2.BZ2Decompressor)
    >>> both.read(99), both.read(99)
    Traceback (most recent call last):
    OSError: Invalid data stream
    """

    def __init__(self, source: IO[bytes], new: Any) -> None:
        self._source, self._new = source, new
        self._stream = new()

    def read(self, n: int) -> bytes:
        while True:
            if self._stream.eof:
                rest = self._stream.unused_data.lstrip(b"\0")
                while not rest:  # what follows the stream: NUL padding, another, or nothing
                    chunk = self._source.read(_BUFFER)
                    if not chunk:
                        return b""
                    rest = chunk.lstrip(b"\0")
                self._stream = self._new()
            elif self._stream.needs_input:
                rest = self._source.read(_BUFFER)
                if not rest:
                    raise EOFError("Compressed file ended before the end-of-stream marker was "
                                   "reached")
            else:  # output held from the bytes given before
                rest = b""
            data = self._stream.decompress(rest, n)
            if data:
                return data

    def close(self) -> None:
        self._stream = None


class _Zstd:
    """The frames of a zstd stream, one after another, decompressed: zstandard's
    ``decompressobj`` per frame (its ``eof`` says a frame is whole, its ``unused_data`` holds
    the next one's first bytes). A file that ends inside a frame is an ``EOFError`` here,
    where zstandard's ``stream_reader`` would end it without a word. Reads ``source`` a
    chunk at a time; what a few of its bytes decompress to is held until read.

    >>> import zstandard
    >>> frame = zstandard.ZstdCompressor(write_checksum=True).compress(b"a,b\\n" * 1000)
    >>> both = _Zstd(io.BytesIO(frame + frame), zstandard)
    >>> sum(piece.count(b"\\n") for piece in iter(lambda: both.read(1 << 20), b""))
    2000
    >>> cut = _Zstd(io.BytesIO(frame[:-2]), zstandard)  # its checksum cut short
    >>> len(cut.read(1 << 20)), cut.read(1 << 20)
    Traceback (most recent call last):
    EOFError: the file ends inside a zstd frame
    """

    def __init__(self, source: IO[bytes], zstandard: Any) -> None:
        self._source, self._new = source, zstandard.ZstdDecompressor().decompressobj
        self._frame = self._new()
        self._started = False  # the current frame has had bytes
        self._out, self._at = b"", 0  # decompressed, and how much of it was read
        self._in, self._fed = b"", 0  # read of source, and how much the frames were given

    def read(self, n: int) -> bytes:
        if self._at == len(self._out):
            self._out, self._at = self._more(), 0
        data = self._out[self._at:self._at + n]
        self._at += len(data)
        return data

    def _more(self) -> bytes:
        """What the next bytes decompress to: b'' once the file ends. decompressobj gives
        all that its input makes, so it is given :data:`_ZSTD_FEED` bytes at a time: a few
        bytes of a frame may say 128 KiB (a 32 KiB file, 1 GiB of newlines, was held whole)."""
        out = b""
        while not out:
            if self._fed == len(self._in):
                self._in, self._fed = self._source.read(_BUFFER), 0
                if not self._in:
                    if self._started and not self._frame.eof:
                        raise EOFError("the file ends inside a zstd frame")
                    return b""
            if self._frame.eof:  # the next frame starts
                self._frame, self._started = self._new(), False
            self._started = True
            piece = memoryview(self._in)[self._fed:self._fed + _ZSTD_FEED]
            self._fed += len(piece)
            out = self._frame.decompress(piece)
            if self._frame.eof:  # the rest of the piece is the next frame's
                self._fed -= len(self._frame.unused_data)
        return out

    def close(self) -> None:
        self._out = b""
