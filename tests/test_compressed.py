"""Compressed inputs (anomaly_gan/compressed.py, opened by files.open_input): gzip, bzip2, xz
and zstd files, and pipes of them, read as what they hold by every offline reader, told by
their first bytes; a stream damaged anywhere is one line naming the file (exit 2)."""

from __future__ import annotations

import bz2
import csv
import gzip
import io
import json
import lzma
import os
import re
import tarfile
import threading
import zipfile

import pytest
import yaml
import zstandard

from anomaly_gan.cli import main
from anomaly_gan.config import LogsConfig, config_from_dict
from anomaly_gan.data.otlp_files import read_data_file
from anomaly_gan.data.readers import read_labels, read_table
from anomaly_gan.errors import DataError
from anomaly_gan.files import open_input
from anomaly_gan.logs.offline import read_log_file

COMPRESS = {
    "gz": gzip.compress,
    "bz2": bz2.compress,
    "xz": lzma.compress,
    "zst": lambda data: zstandard.ZstdCompressor(write_checksum=True).compress(data),
}
FORMAT = {"gz": "gzip", "bz2": "bzip2", "xz": "xz", "zst": "zstd"}


def csv_text(rows: int = 3000, start: int = 0) -> str:
    """A CSV of ``rows`` rows (over 64 KiB: several reads of the decompressed stream)."""
    return "".join(f"2026-01-01T{(start + i) // 3600:02d}:{(start + i) // 60 % 60:02d}:"
                   f"{(start + i) % 60:02d}Z,{(i * 7919) % 1000 / 7:.6f},{i % 13}\n"
                   for i in range(rows))


HEADER = "timestamp,cpu,mem\n"


def rows_of(table):
    return table.feature_names, table.timestamps, table.values.tolist()


def damaged_message(path, ext):
    return re.compile(rf"^{re.escape(str(path))}: {FORMAT[ext]} stream is corrupt or cut short "
                      rf"at or before compressed byte [\d,]+, after [\d,]+ decompressed bytes "
                      rf"\([^\n]+\)$")


@pytest.mark.parametrize("ext", COMPRESS)
def test_a_compressed_csv_reads_as_the_same_rows_whatever_its_name(tmp_path, ext):
    """metrics-2026-11.csv.gz was refused ('decompress it first'); told by its first bytes,
    it is read as it is named, and as data.csv too."""
    text = HEADER + csv_text()
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    for name in (f"metrics.csv.{ext}", "named-plain.csv"):
        packed = tmp_path / name
        packed.write_bytes(COMPRESS[ext](text.encode()))
        assert rows_of(read_table(packed, "timestamp")) == rows_of(read_table(plain, "timestamp"))
    labels = tmp_path / f"labels.csv.{ext}"
    labels.write_bytes(COMPRESS[ext](b"label\n0\n1\ntrue\n"))
    assert read_labels(labels).tolist() == [0, 1, 1]


@pytest.mark.parametrize("ext", COMPRESS)
def test_concatenated_streams_read_whole(tmp_path, ext):
    """logrotate's files joined with cat (gzip members; bzip2 and xz streams, zstd frames
    alike): every one is read, not only the first."""
    parts = [HEADER + csv_text(1000), csv_text(1000, 1000), csv_text(1000, 2000)]
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(parts))
    joined = tmp_path / f"joined.csv.{ext}"
    joined.write_bytes(b"".join(COMPRESS[ext](p.encode()) for p in parts))
    assert read_table(joined).rows == 3000
    assert rows_of(read_table(joined)) == rows_of(read_table(plain))


OTHER = {"gz": "zst", "bz2": "gz", "xz": "bz2", "zst": "xz"}


@pytest.mark.parametrize("tail", ["plain text", "another format"])
@pytest.mark.parametrize("ext", COMPRESS)
def test_bytes_after_a_stream_that_start_none_of_its_format_are_refused(tmp_path, ext, tail):
    """cat a.csv.bz2 b.csv.gz, or a CSV's lines after an xz stream: bz2.BZ2File and
    lzma.LZMAFile ended the file at the first stream and left the rest out, exit 0 (gzip
    and zstd refused it); now every format refuses it in one line, having read the first
    stream's rows. NUL bytes after a stream (padding) are skipped, as gzip's reader does."""
    first = HEADER + csv_text(1000)
    rest = csv_text(1000, 1000).encode()
    path = tmp_path / f"m.csv.{ext}"
    path.write_bytes(COMPRESS[ext](first.encode())
                     + (rest if tail == "plain text" else COMPRESS[OTHER[ext]](rest)))
    with pytest.raises(DataError) as err:
        read_table(path)
    assert damaged_message(path, ext).match(str(err.value)), str(err.value)
    path.write_bytes(COMPRESS[ext](first.encode()) + b"\0" * 512)
    if ext != "zst":
        assert read_table(path).rows == 1000
    else:  # as `zstd -d` says 'unsupported format' (README: not skipped after zstd)
        with pytest.raises(DataError) as err:
            read_table(path)
        assert damaged_message(path, ext).match(str(err.value)), str(err.value)


@pytest.mark.parametrize("ext", ["gz", "bz2"])
def test_a_pipe_of_a_compressed_file_is_read(tmp_path, ext):
    """--data <(cat metrics.csv.gz): peeked at, never seeked; its first bytes may come
    alone (bzip2's signature is 10 bytes)."""
    text = HEADER + csv_text()
    packed = COMPRESS[ext](text.encode())
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb", buffering=0) as fh:
            fh.write(packed[:3])
            fh.write(packed[3:])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        got = read_table(fifo)
    finally:
        writer.join()
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    assert rows_of(got) == rows_of(read_table(plain))


def _damage(blob: bytes, how: str) -> bytes:
    if how == "cut-in-the-middle":
        return blob[:len(blob) // 2]
    if how == "cut-near-the-end":
        return blob[:-3]
    changed = bytearray(blob)
    changed[len(blob) * 3 // 4] ^= 0x55
    return bytes(changed)


@pytest.mark.parametrize("how", ["cut-in-the-middle", "cut-near-the-end", "corrupt"])
@pytest.mark.parametrize("ext", COMPRESS)
def test_a_damaged_stream_is_one_line_naming_the_file(tmp_path, ext, how):
    """Cut or changed anywhere (after rows were read, not only at the start): one line
    naming the file, the format and how far it read; the decompressors' own exceptions
    (EOFError, BadGzipFile, zlib.error, LZMAError, ZstdError) never reach the reader."""
    path = tmp_path / f"m.csv.{ext}"
    path.write_bytes(_damage(COMPRESS[ext]((HEADER + csv_text(6000)).encode()), how))
    with pytest.raises(DataError) as err:
        read_table(path)
    assert damaged_message(path, ext).match(str(err.value)), str(err.value)
    if how == "cut-near-the-end" and ext != "bz2":  # bzip2 gives out whole 900 KB blocks
        assert " after 0 decompressed" not in str(err.value)  # rows were read before it


@pytest.mark.parametrize("ext", COMPRESS)
def test_a_small_file_cut_short_names_where_its_compressed_bytes_end(tmp_path, ext):
    """A small file cut in half gave out nothing before the break (gzip, bzip2, zstd: 'after
    0 decompressed bytes'), which said nothing of where it broke; the compressed byte it
    broke at or before (a cut file: its length, where it ends) is named too."""
    packed = COMPRESS[ext]((HEADER + csv_text(40)).encode())
    cut = packed[:len(packed) // 2]
    path = tmp_path / f"m.csv.{ext}"
    path.write_bytes(cut)
    with pytest.raises(DataError) as err:
        read_table(path)
    assert damaged_message(path, ext).match(str(err.value)), str(err.value)
    assert f" at or before compressed byte {len(cut):,}, " in str(err.value)


@pytest.mark.parametrize("ext", COMPRESS)
def test_the_compressed_byte_named_is_within_a_read_of_the_break(tmp_path, ext):
    """Text after a stream (the break is where the stream ends): the byte
    named is at or past it, within the 64 KiB read that found it, well short of the file's
    end. (A changed byte may only be found at the stream's checksum, so 'at or before'.)"""
    first = COMPRESS[ext]((HEADER + csv_text(20000)).encode())
    tail = csv_text(8000, 20000).encode()
    path = tmp_path / f"m.csv.{ext}"
    path.write_bytes(first + tail)
    assert len(tail) > 2 * 64 << 10
    with pytest.raises(DataError) as err:
        read_table(path)
    named = int(re.search(r"compressed byte ([\d,]+),", str(err.value))[1].replace(",", ""))
    assert len(first) <= named <= len(first) + (64 << 10), (len(first), named)


def test_a_zstd_frame_that_says_much_in_few_bytes_is_read_in_bounded_pieces(tmp_path):
    """16 KiB of zstd that decompress to 256 MiB of newlines (a bomb, or a log of blank
    lines): a reader takes the file 64 KiB at a time, and so little is held; zstd's
    decompressobj, given the file's first 64 KiB at once, held all 256 MiB (a 32 KiB
    file, 1 GiB)."""
    import tracemalloc

    path = tmp_path / "blank.log.zst"
    path.write_bytes(zstandard.ZstdCompressor(level=3).compress(b"\n" * (256 << 20)))
    assert path.stat().st_size < 64 << 10
    tracemalloc.start()
    try:
        with open_input(path, "rb") as handle:
            size = sum(len(piece) for piece in iter(lambda: handle.read(1 << 16), b""))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert size == 256 << 20
    assert peak < 48 << 20, f"{peak >> 20} MiB held"


def test_a_zstd_file_that_starts_with_a_skippable_frame_is_zstd(tmp_path):
    """pzstd writes a skippable frame (magic 0x184D2A5?) before each frame, and zstd -d
    reads such a file; told by the first frame's magic only, it was read as text: 'line 1:
    not a readable CSV file: ... can't decode byte 0xb5'. A file of skippable frames only
    holds nothing."""
    text = HEADER + csv_text(1000)
    skippable = b"\x5a\x2a\x4d\x18" + (4).to_bytes(4, "little") + b"\x00\x01\x02\x03"
    path = tmp_path / "m.csv.zst"
    path.write_bytes(skippable + COMPRESS["zst"](text.encode()))
    plain = tmp_path / "plain.csv"
    plain.write_text(text)
    assert rows_of(read_table(path)) == rows_of(read_table(plain))
    path.write_bytes(skippable)
    with pytest.raises(DataError, match=r": file is empty"):
        read_table(path)


def test_zstd_cut_anywhere_is_refused_and_at_a_frame_end_is_read(tmp_path):
    """zstandard's stream_reader ends a file cut inside a frame without a word: the rows
    before the cut were read as the whole file. Cut at every byte of three frames (with a
    checksum; without its content size; a skippable frame between them), a file is read
    only where a frame ends."""
    frames = [zstandard.ZstdCompressor(write_checksum=True).compress((HEADER + csv_text(40))
                                                                     .encode()),
              b"\x50\x2a\x4d\x18\x03\x00\x00\x00abc",  # skippable
              zstandard.ZstdCompressor(write_content_size=False).compress(
                  (csv_text(30, 40) + "2026-01-01T00:01:10Z,1.0,1\n" * 200).encode())]
    blob = b"".join(frames)
    ends = {sum(len(f) for f in frames[:k]): rows for k, rows in ((1, 40), (2, 40), (3, 270))}
    path = tmp_path / "m.csv.zst"
    for cut in range(1, len(blob) + 1):
        path.write_bytes(blob[:cut])
        if cut in ends:
            assert read_table(path).rows == ends[cut], cut
        else:
            with pytest.raises(DataError):
                read_table(path)


def json_log(lines: int = 6000) -> bytes:
    """Lines of logs.format: json (the default), over 64 KiB."""
    return "".join(f'{{"ts": {1767225600 + i}, "message": "GET /cart/{i * 7919 % 997} 200", '
                   f'"entity": "web"}}\n' for i in range(lines)).encode()


@pytest.mark.parametrize("ext", ["gz", "zst"])
def test_every_reader_turns_a_damaged_stream_into_one_line(tmp_path, ext):
    """The CSV reader, the log reader (lines; an OTLP file's messages) and the OTLP metric
    file reader each iterate their handle their own way: whole, each reads the file; cut,
    each stops in the one line."""
    from tests.logs.conftest import otlp_batch
    from tests.support.hostmetrics import SERVE, hostmetrics
    from tests.support.otlp import framed, to_proto

    batches = [to_proto(otlp_batch([{"ts": 1767225600 + i, "entity": "web", "level": "INFO",
                                     "message": f"GET /cart/{i * 7919 % 997} 200"}]))
               for i in range(2000)]
    metrics = "".join(json.dumps(d) + "\n" for d in hostmetrics(steps=200)).encode()
    otlp_logs = config_from_dict({"logs": {"format": "otlp_proto", "bucket_seconds": 10.0}})
    cases = [
        ((HEADER + csv_text(6000)).encode(), read_table),
        (json_log(), lambda p: read_log_file(p, LogsConfig())),
        (framed(*batches), lambda p: read_log_file(p, otlp_logs.logs)),
        (metrics, lambda p: read_data_file(p, config_from_dict({"serve": SERVE}))),
    ]
    for k, (content, read) in enumerate(cases):
        path = tmp_path / f"in{k}.{ext}"
        path.write_bytes(COMPRESS[ext](content))
        read(path)  # whole, it reads
        path.write_bytes(_damage(COMPRESS[ext](content), "cut-in-the-middle"))
        with pytest.raises(DataError) as err:
            read(path)
        assert damaged_message(path, ext).match(str(err.value)), (k, str(err.value))


def test_errors_name_the_line_of_the_decompressed_text(tmp_path):
    """Lines are counted in what the file holds (blank lines too), as in the plain file."""
    text = HEADER + csv_text(5) + "\n\n" + "2026-01-01T00:00:09Z,1.5,x\n"
    path = tmp_path / "m.csv.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with pytest.raises(DataError, match=rf"^{path}: line 9, column 'mem': not a number: 'x'$"):
        read_table(path)
    log = tmp_path / "app.log.xz"
    log.write_bytes(lzma.compress(b'{"ts": 1, "message": "a", "entity": "h"}\n\nnot json\n'))
    with pytest.raises(DataError, match=rf"^{log}: line 3: bad_json: "):
        read_log_file(log, LogsConfig())


def _tar_gz(text: str) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("metrics.csv")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text.encode()))
    return out.getvalue()


def _zip_gz(text: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("metrics.csv", text)
    return gzip.compress(out.getvalue())


def _parquet(tmp_path) -> bytes:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"cpu": [1.0, 2.0]}), tmp_path / "t.parquet")
    return (tmp_path / "t.parquet").read_bytes()


@pytest.mark.parametrize("name, pack, expected", [
    ("m.csv.gz.gz", lambda text, d: gzip.compress(gzip.compress(text.encode())),
     ("gzip-compressed inside its gzip compression (compressed twice?), which is not read: "
      "decompress it (gunzip) and read what that gives")),
    ("m.tar.gz", lambda text, d: _tar_gz(text),
     "line 1: not a readable CSV file: the file is a tar archive; extract it (tar -xf)"),
    ("m.zip.gz", lambda text, d: _zip_gz(text),
     "line 1: not a readable CSV file: the file is a zip archive"),
    ("m.parquet.zst", lambda text, d: COMPRESS["zst"](_parquet(d)),
     ("a zstd-compressed Parquet file, which is not read: Parquet is read by seeking in its "
      "file; decompress it (unzstd) and name it .parquet")),
    ("m.parquet", lambda text, d: gzip.compress(_parquet(d)),
     ("the file is gzip-compressed, which is not read for a Parquet file: Parquet is read by "
      "seeking in its file; decompress it first (gunzip)")),
])
def test_what_a_compressed_file_holds_that_is_not_read_is_named(tmp_path, name, pack, expected):
    """Archives stay refused, compressed or not; so does a compressed file in a compressed
    file, and a Parquet file compressed whole (pyarrow seeks in its file)."""
    path = tmp_path / name
    path.write_bytes(pack(HEADER + csv_text(10), tmp_path))
    with pytest.raises(DataError) as err:
        read_table(path)
    assert str(err.value).startswith(f"{path}: {expected}") and "\n" not in str(err.value)


def _run(argv, capsys):
    rc = main(argv)
    return rc, capsys.readouterr().err


def test_cli_a_damaged_file_is_one_line_exit_2_for_each_kind_of_input(tmp_path, capsys):
    """train on a cut .csv.gz (metrics CSV), a corrupt app.log.zst (a logs config) and a
    cut OTLP metric file .gz (an OTLP serve.event_format): one line, exit 2, no traceback,
    before any model is built."""
    from tests.support.hostmetrics import SERVE, hostmetrics

    csv_gz = tmp_path / "m.csv.gz"
    csv_gz.write_bytes(_damage(gzip.compress((HEADER + csv_text(6000)).encode()),
                               "cut-in-the-middle"))
    log_zst = tmp_path / "app.log.zst"
    log_zst.write_bytes(_damage(COMPRESS["zst"](json_log()), "corrupt"))
    otlp_gz = tmp_path / "metrics.jsonl.gz"
    otlp_gz.write_bytes(_damage(gzip.compress("".join(json.dumps(d) + "\n" for d in
                                                      hostmetrics(steps=200)).encode()),
                                "cut-in-the-middle"))
    configs = {csv_gz: {}, log_zst: {"logs": {"bucket_seconds": 10.0}},
               otlp_gz: {"serve": SERVE}}
    for k, (data, config) in enumerate(configs.items()):
        cfg = tmp_path / f"c{k}.yaml"
        cfg.write_text(yaml.safe_dump(config))
        rc, err = _run(["train", "--config", str(cfg), "--data", str(data), "--out",
                        str(tmp_path / f"model{k}")], capsys)
        ext = data.suffix.lstrip(".")
        assert rc == 2 and err.count("\n") == 1 and "Traceback" not in err, (data, err)
        assert damaged_message(data, ext).match(err.strip().removeprefix("anomaly-gan: error: ")
                                                ), err


def test_cli_score_reads_a_compressed_file_as_the_plain_one(tiny_bundle, tmp_path, capsys):
    """score --data metrics.csv.gz / .zst: the same scores as the plain file's."""
    from tests.support_models import normal_series

    text = "timestamp,temp,rpm,flow\n" + "".join(
        f"2026-01-01T00:{i // 60:02d}:{i % 60:02d}Z," + ",".join(f"{v:.6f}" for v in row) + "\n"
        for i, row in enumerate(normal_series(200, seed=3)))
    out = {}
    for name, content in (("m.csv", text.encode()), ("m.csv.gz", gzip.compress(text.encode())),
                          ("m.csv.zst", COMPRESS["zst"](text.encode()))):
        (tmp_path / name).write_bytes(content)
        scores = tmp_path / f"{name}.scores.csv"
        assert main(["score", "--model", str(tiny_bundle), "--data", str(tmp_path / name),
                     "--out", str(scores)]) == 0, capsys.readouterr().err
        out[name] = list(csv.reader(scores.open()))
    assert len(out["m.csv"]) == 201
    assert out["m.csv.gz"] == out["m.csv"] == out["m.csv.zst"]


def test_the_first_read_gives_more_than_the_bytes_that_told_the_compression(tmp_path):
    """open_input reads a file's first bytes to tell its compression and puts them back; the
    first read after them gave those 10 bytes alone, so a reader that peeks saw 10 bytes: an
    OTLP/JSON lines file whose first line starts with spaces was read as CSV, and a zstd file
    in a zstd file (its inner frame stored raw) was not named as compressed twice."""
    from tests.support.hostmetrics import SERVE, hostmetrics

    lines = tmp_path / "metrics.json"
    lines.write_text("".join(" " * 12 + json.dumps(d) + "\n" for d in hostmetrics(20)))
    tables = read_data_file(lines, config_from_dict({"serve": SERVE}), None)
    assert [t.rows for t in tables] == [20, 20]
    with open_input(lines, "rb") as handle:
        assert len(handle.peek(64)) >= 64  # type: ignore[attr-defined]
    twice = tmp_path / "m.csv.zst.zst"
    twice.write_bytes(COMPRESS["zst"](COMPRESS["zst"]((HEADER + csv_text(10)).encode())))
    with pytest.raises(DataError, match=r"zstd-compressed inside its zstd compression"):
        read_table(twice)


@pytest.mark.parametrize("ext", ["gz", "xz"])
def test_a_cut_file_names_the_bytes_it_gave(tmp_path, ext):
    """The line counts what the cut file decompressed to: gzip said 'after 0 decompressed
    bytes' of a small file whose first 4 KB read fine (and rounded down to 64 KiB reads
    in a larger one), as GzipFile.read dropped what it had read when it met the cut."""
    import zlib

    for rows in (100, 3000):  # within the first 64 KiB read, and past it
        packed = COMPRESS[ext]((HEADER + csv_text(rows)).encode())
        cut = packed[: len(packed) * 2 // 3]
        given = len(zlib.decompressobj(31).decompress(cut) if ext == "gz"
                    else lzma.LZMADecompressor().decompress(cut))
        assert given > 0
        path = tmp_path / f"cut.csv.{ext}"
        path.write_bytes(cut)
        with pytest.raises(DataError, match=rf"cut short at or before compressed byte "
                                            rf"{len(cut):,}, after {given:,} decompressed bytes"):
            read_table(path)
