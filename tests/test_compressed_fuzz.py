"""Hostile inputs to every offline reader of --data and --labels (compressed streams, OTLP
framed files, labels): whatever the bytes, a reader gives rows or events, or raises the
one-line DataError (ConfigError); never another exception, never more than one line."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import struct
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anomaly_gan.config import LogsConfig, config_from_dict
from anomaly_gan.data.otlp_files import read_data_file
from anomaly_gan.data.readers import read_labels, read_table
from anomaly_gan.errors import ConfigError, DataError
from anomaly_gan.logs.offline import read_log_file

COMPRESS = {
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}
MAGIC = {"gzip": b"\x1f\x8b\x08", "bzip2": b"BZh91AY&SY", "xz": b"\xfd7zXZ\x00",
         "zstd": b"\x28\xb5\x2f\xfd"}
SERVE = {"event_format": "otlp_proto", "assemble_seconds": 10, "unknown_features": "ignore"}
OTLP = config_from_dict({"serve": SERVE})
LOGS_PROTO = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0}}).logs
READERS = {
    "csv": lambda p: read_table(p, None),
    "labels": read_labels,
    "otlp metrics": lambda p: read_data_file(p, OTLP),
    "json log": lambda p: read_log_file(p, LogsConfig()),
    "otlp log": lambda p: read_log_file(p, LOGS_PROTO),
}
CSV = b"timestamp,cpu\n" + b"".join(b"2026-01-01T00:%02d:00Z,%d\n" % (i % 60, i) for i in range(200))
FUZZ = settings(max_examples=25, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def every_reader_holds(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    for name, read in READERS.items():
        try:
            read(path)
        except (DataError, ConfigError) as exc:
            assert "\n" not in str(exc) and str(exc).startswith(str(path)), (name, str(exc))


@FUZZ
@given(fmt=st.sampled_from(sorted(MAGIC)), tail=st.binary(max_size=300))
def test_random_bytes_after_a_magic(tmp_path, fmt, tail):
    every_reader_holds(tmp_path / "in.csv", MAGIC[fmt] + tail)


@FUZZ
@given(fmt=st.sampled_from(sorted(COMPRESS)), payload=st.binary(max_size=2000))
def test_a_valid_stream_of_garbage(tmp_path, fmt, payload):
    every_reader_holds(tmp_path / "in.csv", COMPRESS[fmt](payload))


@FUZZ
@given(fmt=st.sampled_from(sorted(COMPRESS)), cut=st.floats(0, 1, exclude_max=True))
def test_a_stream_cut_anywhere_is_one_line(tmp_path, fmt, cut):
    whole = COMPRESS[fmt](CSV)
    path = tmp_path / "in.csv"
    path.write_bytes(whole[:int(len(whole) * cut)] or whole[:1])
    with pytest.raises(DataError, match=rf"^{path}: [^\n]+$"):
        read_table(path)


@FUZZ
@given(parts=st.lists(st.tuples(st.sampled_from([*COMPRESS, "plain", "nul"]),
                                st.integers(0, 200)), min_size=1, max_size=4))
def test_concatenations_of_formats(tmp_path, parts):
    """Each part is a compressed piece of the CSV, plain text or NUL bytes: a file of one
    format's streams (NUL padding aside, not for zstd) reads as the plain text; any other
    mix is one line, never rows silently left out."""
    pieces, plain = [], b""
    for i, (fmt, rows) in enumerate(parts):
        text = CSV[:14] if i == 0 else b""
        text += b"".join(b"2026-01-02T00:00:00Z,%d\n" % r for r in range(rows))
        pieces.append(b"\0" * 4 if fmt == "nul" else text if fmt == "plain"
                      else COMPRESS[fmt](text))
        plain += b"" if fmt == "nul" else text
    path = tmp_path / "in.csv"
    path.write_bytes(b"".join(pieces))
    first = parts[0][0]
    same = all(fmt == first or fmt == "nul" and first in ("gzip", "bzip2", "xz")
               for fmt, _ in parts)
    try:
        table = read_table(path)
    except DataError as exc:
        assert "\n" not in str(exc)
        assert not same or first == "plain" or plain.count(b"\n") < 2, str(exc)
        return
    assert same or first == "plain", parts
    assert table.rows == plain.count(b"\n") - 1


@FUZZ
@given(messages=st.lists(st.tuples(st.integers(-3, 3), st.binary(max_size=40),
                                   st.booleans()), min_size=1, max_size=4))
def test_framed_otlp_files_that_lie(tmp_path, messages):
    """Length prefixes past the end or short of it, zero-length messages, zstd frames of
    JSON or of garbage, a first message '{' and the rest protobuf."""
    blob = b""
    for lie, body, packed in messages:
        if packed:
            body = COMPRESS["zstd"](body)
        blob += struct.pack(">I", max(0, len(body) + lie)) + body
    every_reader_holds(tmp_path / "in.otlp", blob)


def with_dictionary_id(frame: bytes) -> bytes:
    """``frame`` saying it needs dictionary 7 (a one-byte id after its window descriptor)."""
    descriptor = frame[4]
    at = 5 if descriptor & 0x20 else 6  # a single segment has no window descriptor
    return frame[:4] + bytes([descriptor | 1]) + frame[5:at] + b"\x07" + frame[at:]


XZ = lzma.compress(b"a\n1\n")
NASTY = {
    "just the zstd magic": MAGIC["zstd"],
    # gzip reads a name a byte at a time: 1 MiB takes a second a reader, no more memory
    "gzip with a 256 KiB FNAME": (b"\x1f\x8b\x08\x08\0\0\0\0\0\xff" + b"A" * (1 << 18) + b"\0"
                               + gzip.compress(b"a\n1\n")[10:]),
    "gzip with an FNAME never ended": b"\x1f\x8b\x08\x08\0\0\0\0\0\xff" + b"A" * 1000,
    "gzip with a 64 KiB FEXTRA": (b"\x1f\x8b\x08\x04\0\0\0\0\0\xff" + struct.pack("<H", 65535)
                                  + b"B" * 65535 + gzip.compress(b"a\n1\n")[10:]),
    "gzip with an FEXTRA cut": b"\x1f\x8b\x08\x04\0\0\0\0\0\xff\xff\xff" + b"B" * 10,
    "bzip2 of 0 bytes": bz2.compress(b""),
    "xz with an unsupported check": XZ[:7] + b"\x0f" + XZ[8:],  # check id 15: reserved
    "zstd with a dictionary id": with_dictionary_id(COMPRESS["zstd"](b"a\n1\n")),
    "zstd skippable frames only": (b"\x50\x2a\x4d\x18" + struct.pack("<I", 3) + b"abc") * 2,
    "zstd skippable frame cut": b"\x50\x2a\x4d\x18" + struct.pack("<I", 500) + b"abc",
    "gzip member then text": gzip.compress(CSV) + b"2026-01-03T00:00:00Z,1\n",
    "gzip member then a zstd frame": gzip.compress(CSV) + COMPRESS["zstd"](b"x,1\n"),
    "empty gzip members around one": gzip.compress(b"") + gzip.compress(CSV) + gzip.compress(b""),
    "compressed UTF-16": gzip.compress(CSV.decode().encode("utf-16")),
    "framed: length past the end": struct.pack(">I", 1 << 20) + b"\x0a\x00",
    "framed: zero-length messages": struct.pack(">I", 0) * 3,
    "framed: '{' then protobuf": (struct.pack(">I", 2) + b"{}" + struct.pack(">I", 2)
                                  + b"\x0a\x00"),
}


@pytest.mark.parametrize("name", NASTY)
def test_nasty_inputs_are_rows_or_one_line(tmp_path, name):
    every_reader_holds(tmp_path / "in.csv", NASTY[name])


@pytest.mark.parametrize("fmt", COMPRESS)
@pytest.mark.parametrize("bad", [b"\0\0", b"\xff\xfe"])
def test_a_bad_byte_mid_file_names_its_decompressed_line(tmp_path, fmt, bad):
    lines = CSV.split(b"\n")
    lines[150] = lines[150][:21] + bad + lines[150][21:]  # in the cpu cell of line 151
    path = tmp_path / "in.csv"
    path.write_bytes(COMPRESS[fmt](b"\n".join(lines)))
    with pytest.raises(DataError, match=rf"^{path}: line 151[:,] [^\n]+$"):
        read_table(path)


@pytest.mark.parametrize("fmt", COMPRESS)
def test_a_pipe_fed_a_byte_at_a_time(tmp_path, fmt):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    packed = COMPRESS[fmt](CSV)

    def write() -> None:
        with open(fifo, "wb", buffering=0) as fh:
            fh.writelines(packed[i:i + 7] for i in range(0, len(packed), 7))

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert read_table(fifo).rows == 200
    finally:
        writer.join()


@pytest.mark.parametrize("stamps", [["1767225600", "1767225660000", "2026-01-01T00:02:00Z"],
                                    ["nan", "NaN", "inf"], ["1e309", "0x10", "9" * 400]])
def test_labels_stamps_of_mixed_formats_and_no_times(tmp_path, stamps):
    """Stamps that read as the data's times (epoch s, ms, RFC 3339) pass; stamps that are
    no time at all are not compared (documented), never an exception."""
    data = tmp_path / "d.csv"
    data.write_text("timestamp,cpu\n2026-01-01T00:00:00Z,1\n2026-01-01T00:01:00Z,2\n"
                    "2026-01-01T00:02:00Z,3\n")
    labels = tmp_path / "l.csv.gz"
    labels.write_bytes(gzip.compress(("timestamp,label\n" + "".join(
        f"{s},0\n" for s in stamps)).encode()))
    assert read_labels(labels, 3, data=read_table(data, "timestamp")).tolist() == [0, 0, 0]
    labels.write_bytes(gzip.compress(b"timestamp,label\n2026-01-01T00:00:00Z,0\n,1\nx,0\n"))
    with pytest.raises(DataError, match=r"line 3, column 'timestamp': expected a timestamp"):
        read_labels(labels, 3, data=read_table(data, "timestamp"))


@pytest.mark.parametrize("name", ["gzip member then a zstd frame", "zstd with a dictionary id",
                                  "framed: length past the end"])
def test_cli_train_is_one_line_exit_2(tmp_path, name):
    path = tmp_path / "in.csv"
    path.write_bytes(NASTY[name])
    proc = subprocess.run([sys.executable, "-m", "anomaly_gan", "train", "--data", str(path),
                           "--out", str(tmp_path / "b")], check=False, capture_output=True,
                          text=True,
                          env={**os.environ, "ANOMALY_GAN__SERVE__EVENT_FORMAT": "otlp_proto",
                               "ANOMALY_GAN__SERVE__ASSEMBLE_SECONDS": "10"},
                          timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert str(path) in proc.stderr
