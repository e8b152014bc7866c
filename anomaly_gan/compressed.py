"""Compressed inputs, read as what they hold (the I/O edge, under
:func:`anomaly_gan.files.open_input`): a file or a pipe whose first bytes are those of
gzip, bzip2, xz or zstd is read decompressed, whatever its name. Rotated logs and exports
are kept so (``app.log.1.gz``, ``metrics-2026-11.csv.zst``, ``cat`` of several ``.gz``).

Concatenated streams (gzip members, bzip2 streams, xz streams, zstd frames) read as one.
A stream that is corrupt or cut short, at its start or anywhere after, is a one-line
:class:`~anomaly_gan.errors.DataError` naming the file, the format and how many bytes
came out before it, whichever reader was reading: the decompressors' own exceptions
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
from collections.abc import Callable
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
    ("zstd", (b"\x28\xb5\x2f\xfd",)),
)
#: The command that decompresses each compression.
UNPACK = {"gzip": "gunzip", "bzip2": "bunzip2", "xz": "unxz", "zstd": "unzstd"}
_ZSTD_SKIPPABLE = re.compile(rb"[\x50-\x5f]\x2a\x4d\x18")
_PARQUET = re.compile(rb"PAR1[\x00-\x08\x0e-\x1f]")  # a page header (binary), not a name
_BUFFER = 1 << 16


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
    ends = _ZstdFrameEnds() if compression == "zstd" else None
    handle = io.BufferedReader(_Decompressing(path, compression, source, ends),
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

    def __init__(self, path: Path, compression: str, source: io.RawIOBase,
                 ends: _ZstdFrameEnds | None) -> None:
        self._path, self._compression, self._source, self._ends = path, compression, source, ends
        self._out = 0  # bytes decompressed so far, for the error
        self._errors: tuple[type[BaseException], ...] = (EOFError, OSError, zlib.error,
                                                         lzma.LZMAError)
        self._stream: Any
        readable = cast(IO[bytes], source)  # read(n) as a binary file's
        if compression == "gzip":
            self._stream = gzip.GzipFile(fileobj=readable, mode="rb")  # every member
        elif compression == "bzip2":
            self._stream = bz2.BZ2File(readable)  # every stream
        elif compression == "xz":
            self._stream = lzma.LZMAFile(readable)  # noqa: SIM115 - every stream; close() closes it
        else:
            import zstandard  # loaded only for a zstd file

            self._errors += (zstandard.ZstdError,)
            # stream_reader: the output of each read is bounded (a "zstd bomb" of a few
            # KiB fills no memory); its frames are followed by _ZstdFrameEnds, as
            # stream_reader ends a frame cut short without a word
            self._stream = zstandard.ZstdDecompressor().stream_reader(
                cast(IO[bytes], _Watched(source, ends.feed if ends else None)),
                read_across_frames=True,
                closefd=False)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        """The compressed file's descriptor (its ``fstat`` says when it was written)."""
        return self._source.fileno()

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._stream.read(len(buffer))
            if not data and self._ends is not None and not self._ends.at_frame_end():
                raise EOFError("the file ends inside a zstd frame")
        except self._errors as exc:
            if isinstance(exc, OSError) and exc.errno is not None:  # reading the file
                raise DataError(f"{self._path}: cannot read: {exc.strerror}") from None
            raise DataError(f"{self._path}: {self._compression} stream is corrupt or cut "
                            f"short after {self._out:,} decompressed bytes "
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


class _Watched(io.RawIOBase):
    """``source``'s bytes, each chunk also given to ``watch`` as it is read."""

    def __init__(self, source: io.RawIOBase, watch: Callable[[bytes], None] | None) -> None:
        self._source, self._watch = source, watch

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        if self._watch is not None:
            self._watch(data)
        return n


class _ZstdFrameEnds:
    """Follows the frames of a zstd stream through its compressed bytes, reading only their
    headers (RFC 8878: a frame header, blocks of a 3-byte header each, a checksum; skippable
    frames), to tell whether the bytes so far end where a frame ends: zstandard's
    stream_reader ends a file cut inside a frame without an error. Bytes it cannot follow
    are zstd's to refuse.

    >>> import zstandard
    >>> frame = zstandard.ZstdCompressor(write_checksum=True).compress(b"a,b\\n" * 1000)
    >>> ends = _ZstdFrameEnds(); ends.feed(frame[:-2]); ends.at_frame_end()
    False
    >>> ends.feed(frame[-2:] + frame); ends.at_frame_end()
    True
    """

    def __init__(self) -> None:
        self._held = b""  # the bytes of the header being read
        self._need = 4  # ... how many it has
        self._step: Callable[[bytes], None] = self._magic  # ... what reads it
        self._skip = 0  # bytes of content to pass over first
        self._checksum = 0
        self._lost = False

    def at_frame_end(self) -> bool:
        return self._lost or (self._step == self._magic and not self._held
                              and not self._skip)

    def feed(self, data: bytes) -> None:
        i, size = 0, len(data)
        while i < size and not self._lost:
            if self._skip:
                n = min(self._skip, size - i)
                self._skip -= n
                i += n
                continue
            n = min(self._need - len(self._held), size - i)
            self._held += data[i:i + n]
            i += n
            if len(self._held) == self._need:
                held, self._held = self._held, b""
                self._step(held)

    def _next(self, need: int, step: Callable[[bytes], None], skip: int = 0) -> None:
        self._need, self._step, self._skip = need, step, skip

    def _magic(self, held: bytes) -> None:
        if held == b"\x28\xb5\x2f\xfd":
            self._next(1, self._descriptor)
        elif _ZSTD_SKIPPABLE.fullmatch(held):
            self._next(4, self._skippable)
        else:
            self._lost = True

    def _skippable(self, held: bytes) -> None:
        self._next(4, self._magic, skip=int.from_bytes(held, "little"))

    def _descriptor(self, held: bytes) -> None:
        flags = held[0]
        single_segment = flags >> 5 & 1
        content_size = (single_segment, 2, 4, 8)[flags >> 6]
        dictionary = (0, 1, 2, 4)[flags & 3]
        self._checksum = 4 if flags & 4 else 0
        rest = (1 - single_segment) + dictionary + content_size
        if rest:
            self._next(rest, lambda _held: self._next(3, self._block))
        else:
            self._next(3, self._block)

    def _block(self, held: bytes) -> None:
        header = int.from_bytes(held, "little")
        kind, size = header >> 1 & 3, header >> 3
        if kind == 3:  # reserved: zstd refuses it
            self._lost = True
            return
        content = 1 if kind == 1 else size  # an RLE block holds one byte
        if not header & 1:
            self._next(3, self._block, skip=content)
        elif self._checksum:
            self._next(self._checksum, self._magic_after, skip=content)
        else:
            self._next(4, self._magic, skip=content)

    def _magic_after(self, _held: bytes) -> None:
        self._next(4, self._magic)
