"""Offline metric files of the Collector's file exporter (serve.event_format: otlp_proto or
otlp_json): OTLP/JSON lines or length-prefixed protobuf, read into the rows serve's parser
and assembler make of the same requests."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from anomaly_gan.config import config_from_dict
from anomaly_gan.data.otlp_files import one_entity, read_data_file, read_metric_file
from anomaly_gan.errors import DataError
from anomaly_gan.otlp import CUT_LINE
from anomaly_gan.stream.assemble import assembler_from_config
from anomaly_gan.stream.events import InvalidEvent, parser_from_config
from tests.support.hostmetrics import SERVE, T0, gauge, hostmetrics, point, request
from tests.support.otlp import framed, to_proto, zstd_framed

FEATURES = ("system.cpu.load_average.1m", "system.memory.utilization{state=free}",
            "system.memory.utilization{state=used}")


def write(tmp_path, docs, kind):
    """``docs`` as the file exporter writes them: ``json`` lines, ``proto`` messages, or
    with compression: zstd (``zstd-json``, ``zstd-proto``) each compressed, then framed."""
    path = tmp_path / f"metrics.{kind}"
    if kind == "json":
        path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    elif kind == "proto":
        path.write_bytes(framed(*(to_proto(d) for d in docs)))
    else:
        path.write_bytes(zstd_framed(*(json.dumps(d) if kind == "zstd-json" else to_proto(d)
                                       for d in docs)))
    return path


def served(docs, names, serve):
    """What serve's parser and assembler make of ``docs`` as Kafka records: per entity its
    (slot time, values) events."""
    parser = parser_from_config(names, serve)
    asm = assembler_from_config(len(names), serve)
    out: dict[str, list] = {}
    for offset, doc in enumerate(docs):
        raw = to_proto(doc) if serve.event_format == "otlp_proto" else json.dumps(doc).encode()
        for ev in parser.parse_many(raw):
            assert type(ev) is not InvalidEvent
            done = asm.add(ev, 0, offset)
            if done is not None:
                out.setdefault(done[0].entity, []).append((done[0].ts, list(done[0].values)))
    return out


@pytest.mark.parametrize("kind", ["json", "proto", "zstd-json", "zstd-proto"])
@pytest.mark.parametrize("fmt", ["otlp_proto", "otlp_json"])
def test_a_file_exporters_file_reads_as_the_events_serve_makes_of_its_requests(tmp_path, kind,
                                                                               fmt):
    """Every gauge and sum feature of the file, sorted, per entity; each row the event
    serve's parser and assembler make of the same requests (sent in the encoding
    serve.event_format names), stamped with its slot. Compressed (compression: zstd, which
    was refused), in either format, the file reads as it does uncompressed."""
    docs = hostmetrics()
    path = write(tmp_path, docs, kind)
    cfg = config_from_dict({"serve": {**SERVE, "event_format": fmt}})
    assert [t.entity for t in read_data_file(path, cfg)] == ["web-1", "web-2"]  # told OTLP
    notes: list[str] = []
    tables = read_metric_file(path, cfg.serve, progress=notes.append)
    assert [t.entity for t in tables] == ["web-1", "web-2"]
    assert all(t.feature_names == FEATURES for t in tables)
    piece = "lines" if kind == "json" else "messages"
    assert notes == [(f"{path}: 240 {piece}, 360 data points of 3 features, 2 entities -> "
                      f"120 rows of 10 s (serve.assemble_seconds)")]
    expected = served(docs, FEATURES, cfg.serve)
    for t in tables:
        assert t.path == f"{path} (entity {t.entity!r})"
        rows = expected[t.entity]
        assert t.values.tolist() == [v for _, v in rows]
        assert t.timestamps == tuple(
            f"2026-01-01T00:{int(ts - T0) // 60:02d}:{int(ts - T0) % 60:02d}.000Z"
            for ts, _ in rows)
    # read for a model: its features, in its order, the same rows
    model = tuple(reversed(FEATURES))
    again = read_metric_file(path, cfg.serve, model)
    assert again[0].values.tolist() == [v[::-1] for _, v in expected["web-1"]]


def test_a_slot_missing_a_feature_is_left_out_and_counted(tmp_path):
    docs = hostmetrics(steps=30, hosts=("web-1",), drop=(4, 5, 20))
    path = write(tmp_path, docs, "json")
    notes: list[str] = []
    table = one_entity(read_metric_file(path, config_from_dict({"serve": SERVE}).serve,
                                        progress=notes.append), path)
    assert table.rows == 27 and table.path == str(path)
    assert notes[1] == (f"note: {path}: 3 slot(s) incomplete (a feature missing) and 0 data "
                        f"point(s) late: left out, as serve drops them; the feature in the "
                        f"fewest slots is 'system.memory.utilization{{state=free}}' (27 of 30)")


def test_slots_shorter_than_a_collection_say_what_would_hold_one(tmp_path):
    """serve.assemble_seconds below the few ms between a collection's two scrapers' batches
    leaves every slot incomplete: the error says the interval the data points come at."""
    path = write(tmp_path, hostmetrics(steps=5, hosts=("web-1",)), "json")
    serve = config_from_dict({"serve": {**SERVE, "assemble_seconds": 0.001}}).serve
    with pytest.raises(DataError) as err:
        read_metric_file(path, serve)
    assert str(err.value).endswith(
        "10 incomplete; expected each entity's data points of one collection in one slot (a "
        "feature's data points come every 10 s, the median step: a collection's scrapers "
        "may write them up to that far apart; serve.assemble_seconds 10 holds them in one "
        "slot)")


def test_a_model_feature_in_no_data_point_of_the_file_is_named(tmp_path):
    """A model's features that no data point of the file is of (the memory scraper not
    configured, or a metric's attributes other than at training) leave every slot
    incomplete: the error named the slots' timing ('expected each entity's data points of
    one collection in one slot') and the note one of the absent features; it names them."""
    path = write(tmp_path, hostmetrics(steps=5, hosts=("web-1",), drop=range(5)), "json")
    with pytest.raises(DataError) as err:
        read_metric_file(path, config_from_dict({"serve": SERVE}).serve, FEATURES)
    assert str(err.value) == (
        f"{path}: no slot of serve.assemble_seconds (10 s) holds every feature of "
        f"{', '.join(FEATURES)}: 5 incomplete; no data point of the file is of "
        f"system.memory.utilization{{state=free}}, system.memory.utilization{{state=used}} "
        f"(a feature is a metric's name and its data point's attributes, "
        f"name{{key=value,...}}: expected the model's features)")


def test_repeated_requests_are_late_points_with_no_word_of_missing_features(tmp_path):
    """Each request written twice (a retried export): the repeats after a slot completed
    are late, as serve counts them; no slot is incomplete, so no feature is named."""
    docs = [d for d in hostmetrics(steps=4, hosts=("web-1",)) for _ in (1, 2)]
    path = write(tmp_path, docs, "json")
    notes: list[str] = []
    cfg = config_from_dict({"serve": SERVE})
    table = one_entity(read_metric_file(path, cfg.serve, progress=notes.append), path)
    assert table.values.tolist() == [v for _, v in served(docs, FEATURES, cfg.serve)["web-1"]]
    assert notes[1] == (f"note: {path}: 0 slot(s) incomplete (a feature missing) and 8 data "
                        f"point(s) late: left out, as serve drops them")


def test_csv_still_reads_with_an_otlp_config(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("timestamp,a\n2026-01-01T00:00:00Z,1\n")
    cfg = config_from_dict({"serve": SERVE})
    assert read_data_file(path, cfg)[0].feature_names == ("a",)


def test_a_file_compressed_whole_reads_as_the_file_it_holds(tmp_path):
    """metrics.jsonl.gz (gzip, xz: any compression, told by its first bytes; a pipe too):
    the rows of the file it holds, which is told OTLP by what it holds."""
    import gzip
    import lzma

    cfg = config_from_dict({"serve": SERVE})
    docs = hostmetrics(steps=20)
    want = [(t.entity, t.feature_names, t.timestamps, t.values.tolist())
            for t in read_data_file(write(tmp_path, docs, "json"), cfg)]
    for kind, compress in (("json", gzip.compress), ("proto", lzma.compress)):
        path = write(tmp_path, docs, kind)
        path.write_bytes(compress(path.read_bytes()))
        assert [(t.entity, t.feature_names, t.timestamps, t.values.tolist())
                for t in read_data_file(path, cfg)] == want


@pytest.mark.parametrize("kind", ["json", "proto", "json.gz", "zstd-json", "zstd-proto"])
def test_a_metric_file_read_with_a_config_of_json_events_is_one_line_saying_so(tmp_path,
                                                                               kind):
    """A model trained on CSV (serve.event_format: json) scoring a file exporter's file got
    'line 2: expected 7 columns, got 18' or 'line 10: not a readable CSV file: utf-8';
    compressed, it is told by what it holds. With the exporter's compression: zstd (each
    message a zstd frame after its length) it got 'line 1: not a readable CSV file: 'utf-8'
    codec can't decode byte 0xb5 ... save it as UTF-8, e.g. Excel's 'CSV UTF-8'' until
    2026-12-07."""
    import gzip

    path = write(tmp_path, hostmetrics(steps=2), kind.removesuffix(".gz"))
    if kind.endswith(".gz"):
        path.write_bytes(gzip.compress(path.read_bytes()))
    with pytest.raises(DataError) as err:
        read_data_file(path, config_from_dict({}))
    assert str(err.value).startswith(
        f"{path}: an OpenTelemetry Collector file exporter's metric file (")
    assert str(err.value).endswith(
        "which is read with serve.event_format otlp_proto or otlp_json; this config's (a "
        "model's: the one it was trained with) is json: expected a CSV or Parquet file")


@pytest.mark.parametrize("kind", ["csv", "json", "proto", "zstd-json"])
def test_a_pipe_is_read_once_as_what_its_first_bytes_say(tmp_path, kind):
    """--data <(zcat f.gz): a CSV through a pipe was refused as 'not an OpenTelemetry metric
    file' with an OTLP config (a pipe was taken for one unread)."""
    import os
    import threading

    cfg = config_from_dict({"serve": SERVE})
    one = tmp_path / "one"
    one.mkdir()
    source = (write(one, hostmetrics(steps=5, hosts=("web-1",)), kind) if kind != "csv"
              else tmp_path / "m.csv")
    if kind == "csv":
        source.write_text("timestamp,a,b\n2026-01-01T00:00:00Z,1,2\n2026-01-01T00:00:10Z,3,4\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(source.read_bytes()))
    writer.start()
    try:
        tables = read_data_file(fifo, cfg)
    finally:
        writer.join()
    assert [t.values.tolist() for t in tables] == [
        t.values.tolist() for t in read_data_file(source, cfg)]
    assert tables[0].entity == (None if kind == "csv" else "web-1")


def test_a_bad_data_point_or_message_is_one_line_naming_its_place(tmp_path):
    docs = hostmetrics(steps=3, hosts=("web-1",))
    docs[2]["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0]["gauge"]["dataPoints"][0][
        "asDouble"] = "NaN"
    cfg = config_from_dict({"serve": SERVE}).serve
    path = write(tmp_path, docs, "json")
    offset = sum(len(line) + 1 for line in path.read_bytes().split(b"\n")[:2])
    with pytest.raises(DataError) as err:
        read_metric_file(path, cfg)
    assert str(err.value) == (
        f"{path}: line 3 at byte {offset}: non_finite: resourceMetrics[0].scopeMetrics[0]."
        f"metrics[0].gauge.dataPoints[0]: 'asDouble' is NaN or infinite")
    # a file still being written: its last line is cut (a bad line with its newline is not)
    path.write_text("".join(json.dumps(d) + "\n" for d in hostmetrics(steps=3))[:-40])
    last = path.read_bytes().rindex(b"\n") + 1
    with pytest.raises(DataError) as err:
        read_metric_file(path, cfg)
    assert str(err.value) == (
        f"{path}: line 12 at byte {last}: cut short: the last line is no complete JSON and "
        f"ends without a newline (a file still being written or cut: read a closed file, such "
        f"as one the file exporter's rotation closed)")
    path.write_bytes(path.read_bytes() + b"\n")
    with pytest.raises(DataError, match=f"^{path}: line 12 at byte {last}: bad_json: "):
        read_metric_file(path, cfg)
    good = [to_proto(d) for d in hostmetrics(steps=2, hosts=("web-1",))]
    path = tmp_path / "cut.bin"
    path.write_bytes(framed(*good)[:-3])
    with pytest.raises(DataError, match=f"^{path}: message 4 at byte "
                       f"{sum(4 + len(m) for m in good[:3])}: cut short: "):
        read_metric_file(path, cfg)
    path.write_bytes(framed(good[0], b"\x0a\xff\xff"))
    with pytest.raises(DataError, match=f"^{path}: message 2 at byte {4 + len(good[0])}: "
                                        f"bad_protobuf: "):
        read_metric_file(path, cfg)


@pytest.mark.parametrize("last", ["hello", '{"a":1}}', "[1,2]x", '{"resourceMetrics": x'])
def test_a_bad_last_line_without_a_newline_is_bad_json_not_cut_short(tmp_path, last):
    """Any last line with no newline that did not parse said 'cut short ... a file still
    being written', sending the user to wait for a rotation that would not mend it: only a
    line that is JSON so far (a document that ended early) is cut short; a bad one is
    bad_json, as it is with its newline."""
    cfg = config_from_dict({"serve": SERVE}).serve
    path = tmp_path / "m.jsonl"
    docs = hostmetrics(steps=2, hosts=("web-1",))
    text = "".join(json.dumps(d) + "\n" for d in docs)
    last_at, n = len(text.encode()), len(docs) + 1
    for ending in ("", "\n"):
        path.write_text(text + last + ending)
        with pytest.raises(DataError, match=f"^{path}: line {n} at byte {last_at}: bad_json: "):
            read_metric_file(path, cfg)
    path.write_text(text + '{"resourceMetrics": [{"reso')  # JSON so far: cut short
    with pytest.raises(DataError) as err:
        read_metric_file(path, cfg)
    assert str(err.value) == f"{path}: line {n} at byte {last_at}: {CUT_LINE}"


@pytest.mark.parametrize("compress", [False, True])
def test_requests_written_over_several_lines_or_in_an_array_say_so(tmp_path, compress):
    """Requests pretty-printed (jq . of the file exporter's lines) said 'line 1 at byte 0:
    bad_json: not valid JSON: Expecting property name enclosed in double quotes: line 2
    column 1', of a line that is '{'; a JSON array of them (jq -s .) was read as a CSV
    file: 'line 1: duplicate column name ...'. Each says what the file is and what is
    expected; a last line cut short and then ended by a newline is still bad_json."""
    import gzip

    cfg = config_from_dict({"serve": SERVE})
    docs = hostmetrics(steps=2, hosts=("web-1",))
    path = tmp_path / "m.json"
    expected = ("expected OTLP/JSON lines, one request per line, as the Collector's file "
                "exporter writes them (jq -c {} rewrites such a file)")
    pretty = (f"{path}: line 1 at byte 0: bad_json: a JSON document that goes on past its "
              f"line (written over several lines: pretty-printed?); {expected.format('.')}")
    array = f"{path}: a JSON array (of OTLP requests?); {expected.format(repr('.[]'))}"
    for text, said in (("".join(json.dumps(d, indent=2) + "\n" for d in docs), pretty),
                       (json.dumps(docs, indent=2) + "\n", array),
                       (json.dumps(docs) + "\n", array)):
        data = text.encode()
        path.write_bytes(gzip.compress(data) if compress else data)
        with pytest.raises(DataError) as err:
            read_data_file(path, cfg)
        assert str(err.value) == said
    # the last line cut, then a newline: no document goes on past it
    path.write_text("".join(json.dumps(d) + "\n" for d in docs) + '{"resourceMetrics": [\n')
    with pytest.raises(DataError, match=f"^{path}: line 5 at byte [0-9]+: bad_json: not valid "
                                        f"JSON"):
        read_data_file(path, cfg)


def test_a_last_line_cut_inside_a_character_is_cut_short_not_bad_utf8(tmp_path):
    """The Collector writes an attribute's non-ASCII text as UTF-8: a file cut while being
    written can end inside a character, which said 'not_utf8: not UTF-8: ... unexpected end
    of data', as if the file were in another encoding; a bad byte elsewhere still says so."""
    cfg = config_from_dict({"serve": SERVE}).serve
    docs = hostmetrics(steps=2, hosts=("web-1",))
    docs.append(request("wéb-2", [gauge("system.cpu.load_average.1m", point(1.0, T0 * 10**9))]))
    text = "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs).encode()
    path = tmp_path / "cut.jsonl"
    path.write_bytes(text[:text.index("é".encode()) + 1])  # the first of its two bytes
    last = path.read_bytes().rindex(b"\n") + 1
    with pytest.raises(DataError) as err:
        read_metric_file(path, cfg)
    assert str(err.value) == f"{path}: line 5 at byte {last}: {CUT_LINE}"  # as a cut between
    path.write_bytes(text.replace("é".encode(), b"\xff")[:-2])  # cut too, but no UTF-8
    with pytest.raises(DataError, match=f"^{path}: line 5 at byte {last}: not_utf8: "):
        read_metric_file(path, cfg)


def test_an_empty_file_says_what_an_otlp_config_reads(tmp_path):
    """An empty file (the file exporter's before its first flush, a rotation's new one)
    said 'expected a CSV of numeric rows' to a model that reads OpenTelemetry metric files."""
    import gzip

    cfg = config_from_dict({"serve": SERVE})
    for name, data in (("m.jsonl", b""), ("m.jsonl.gz", gzip.compress(b""))):
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(DataError) as err:
            read_data_file(path, cfg)
        assert str(err.value) == (
            f"{path}: file is empty (expected, with serve.event_format otlp_proto, the "
            f"Collector's file exporter's OTLP/JSON lines or protobuf messages each after its "
            f"4-byte length; or a CSV or Parquet file)")


def test_a_compressed_file_reads_as_the_same_rows_as_uncompressed(tmp_path):
    """The file exporter's compression: zstd with format: json (its OTLP/JSON documents
    compressed and framed, no longer lines) and with format: proto: per entity the same
    rows, times and features as the uncompressed file's, read for training or for a model."""
    docs = hostmetrics(steps=20)
    cfg = config_from_dict({"serve": SERVE}).serve
    plain = read_metric_file(write(tmp_path, docs, "json"), cfg)
    for kind in ("zstd-json", "zstd-proto"):
        for names in (None, FEATURES[::-1]):
            got = read_metric_file(write(tmp_path, docs, kind), cfg, names)
            want = plain if names is None else read_metric_file(
                write(tmp_path, docs, "json"), cfg, names)
            assert [(t.entity, t.feature_names, t.timestamps, t.values.tolist())
                    for t in got] == [(t.entity, t.feature_names, t.timestamps,
                                       t.values.tolist()) for t in want]


def _damaged(good, how):
    """A compressed message damaged as a file can be: ``cut`` (its frame cut short, its
    length fixed up so the framing holds), ``corrupt`` (a changed byte: its checksum no
    longer matches) or a ``bomb`` (a few KiB whose header says 65 MiB)."""
    import zstandard

    if how == "bomb":
        return zstandard.ZstdCompressor(level=1).compress(bytes(65 << 20))
    frame = zstandard.ZstdCompressor(write_checksum=True).compress(good)
    return frame[:-9] if how == "cut" else frame[:-1] + bytes([frame[-1] ^ 0xFF])


@pytest.mark.parametrize("how, why", [
    ("cut", "not a valid zstd frame: "),
    ("corrupt", "not a valid zstd frame: "),
    ("bomb", ("the zstd frame decompresses to more than 64 MiB, the most a message may hold "
              "(a corrupt or hostile file)")),
])
def test_a_damaged_compressed_message_is_one_line_naming_it_exit_2(tmp_path, capsys, how,
                                                                   why):
    from anomaly_gan.cli import main

    good = [to_proto(d) for d in hostmetrics(steps=2, hosts=("web-1",))]
    path = tmp_path / "app.bin"
    path.write_bytes(zstd_framed(good[0]) + framed(_damaged(good[1], how)) + zstd_framed(good[2]))
    at = int.from_bytes(path.read_bytes()[:4], "big") + 4
    expected = f"{path}: message 2 at byte {at}: {why}"
    with pytest.raises(DataError) as err:
        read_metric_file(path, config_from_dict({"serve": SERVE}).serve)
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)
    cfg = tmp_path / "otlp.yaml"
    cfg.write_text(yaml.safe_dump({"serve": SERVE}))
    assert main(["train", "--config", str(cfg), "--data", str(path), "--out",
                 str(tmp_path / "m")]) == 2
    err_text = capsys.readouterr().err
    assert err_text.count("\n") == 1 and f"anomaly-gan: error: {expected}" in err_text


def test_a_bad_document_of_a_compressed_json_file_names_its_message(tmp_path):
    """With format: json and compression a bad document is a message, not a line: it is
    named by number and byte, not taken for a last line cut short."""
    docs = [json.dumps(d) for d in hostmetrics(steps=2, hosts=("web-1",))]
    path = tmp_path / "app.bin"
    path.write_bytes(zstd_framed(docs[0], docs[1][:-5]))
    at = 4 + int.from_bytes(path.read_bytes()[:4], "big")
    with pytest.raises(DataError, match=f"^{path}: message 2 at byte {at}: bad_json: "):
        read_metric_file(path, config_from_dict({"serve": SERVE}).serve)


def test_a_file_of_several_entities_is_refused_where_one_series_is_read(tmp_path):
    path = write(tmp_path, hostmetrics(steps=3), "proto")
    tables = read_metric_file(path, config_from_dict({"serve": SERVE}).serve)
    with pytest.raises(DataError, match=r"holds 2 entities \(web-1, web-2\); score, evaluate "
                                        r"and plot read one entity per file"):
        one_entity(tables, path)
    with pytest.raises(DataError, match=r"pass --entity NAME to pick one"):
        one_entity(tables, path)


def test_entity_picks_one_entity_of_a_metric_file(tmp_path):
    """--entity NAME: that entity's series (the rows read without it for a one-host file);
    a name the file does not hold lists its entities; a CSV file has no entity to pick."""
    cfg = config_from_dict({"serve": SERVE})
    docs = hostmetrics(steps=5)
    path = write(tmp_path, docs, "json")
    tables = read_metric_file(path, cfg.serve)
    web2 = one_entity(tables, path, "web-2")
    assert web2.entity == "web-2" and web2.path == f"{path} (entity 'web-2')"
    assert web2.values.tolist() == [v for _, v in served(docs, FEATURES, cfg.serve)["web-2"]]
    assert web2.values.tolist() != tables[0].values.tolist()
    alone = tmp_path / "alone"
    alone.mkdir()
    only = read_metric_file(write(alone, hostmetrics(steps=5, hosts=("web-2",)), "json"),
                            cfg.serve)
    assert one_entity(only, path, "web-2") is only[0]
    with pytest.raises(DataError) as err:
        one_entity(tables, path, "web-9")
    assert str(err.value) == (f"--entity web-9: {path} holds no complete slot of entity "
                              f"'web-9'; its entities (serve.otlp_entity): web-1, web-2")
    csv = tmp_path / "m.csv"
    csv.write_text("timestamp,a\n2026-01-01T00:00:00Z,1\n")
    with pytest.raises(DataError, match=f"^--entity web-1: {csv} is a CSV or Parquet file, "
                                        f"one series of no entity; "):
        one_entity(read_data_file(csv, cfg), csv, "web-1")


#: A bundle (GANomaly, dense, window 8) trained in seconds on the hosts' metric files.
TRAIN_CONFIG = {"model": {"kind": "ganomaly", "backbone": "dense", "latent_dim": 8,
                          "hidden": [16]},
                "data": {"window": 8, "stride": 2},
                "training": {"epochs": 2, "batch_size": 64, "verbose": 0, "seed": 0,
                             "min_steps": 0, "max_attempts": 1, "allow_unhealthy": True},
                "serve": SERVE}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["json", "proto", "zstd-json"])
def test_train_score_and_retrain_on_a_file_exporters_file(tmp_path, capsys, kind):
    """train reads each host as a series; score a one-host file; retrain --data reads a
    segment per host."""
    from anomaly_gan.cli import main
    from anomaly_gan.retrain.source import read_files

    config = TRAIN_CONFIG
    cfg = tmp_path / "otlp.yaml"
    cfg.write_text(yaml.safe_dump(config))
    train = write(tmp_path, hostmetrics(steps=120), kind)
    assert main(["train", "--config", str(cfg), "--data", str(train), "--out",
                 str(tmp_path / "m")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["features"] == 3
    one = tmp_path / "one"
    one.mkdir()
    test = write(one, hostmetrics(steps=40, hosts=("web-1",)), kind)
    scores = tmp_path / "s.csv"
    assert main(["score", "--model", str(tmp_path / "m"), "--data", str(test), "--out",
                 str(scores)]) == 0
    lines = scores.read_text().splitlines()
    assert lines[0].startswith("timestamp,score") and len(lines) == 41
    assert lines[1].startswith("2026-01-01T00:00:00.000Z,")
    capsys.readouterr()
    assert main(["score", "--model", str(tmp_path / "m"), "--data", str(train), "--out",
                 str(scores)]) == 2
    err = capsys.readouterr().err
    summary, error = err.splitlines()  # what was read, then the one-line error
    assert summary.endswith("2 entities -> 240 rows of 10 s (serve.assemble_seconds)")
    assert error.startswith(f"anomaly-gan: error: {train}: holds 2 entities (web-1, web-2); ")
    picked = tmp_path / "picked.csv"
    assert main(["score", "--model", str(tmp_path / "m"), "--data", str(train), "--entity",
                 "web-2", "--out", str(picked)]) == 0
    assert len(picked.read_text().splitlines()) == 121
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "m"), "--data", str(train),
                 "--labels", str(train), "--entity", "db-1"]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"anomaly-gan: error: --entity db-1: {train} holds no complete slot of entity 'db-1'; "
        f"its entities (serve.otlp_entity): web-1, web-2")
    rows, names = read_files(config_from_dict(config), [str(train)], None)
    assert names == FEATURES
    assert sorted(s.entity for s in rows.segments) == ["web-1", "web-2"]
    assert np.array_equal(rows.segments[0].values,
                          read_metric_file(train, config_from_dict(config).serve)[0].values)


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_train_notes_counters_whose_data_points_are_delta_sums_or_gauges(tmp_path, kind):
    """data.counters reads a running total's increase per row: a delta sum's values are
    increases already (their differences mean nothing), a gauge's a level. Train and
    retrain (check_counters) name such features in one note; a cumulative sum is fine."""
    docs = []
    for k in range(20):
        ns = (T0 + 10 * k + 2) * 10**9
        docs.append(request("web-1", [
            gauge("system.memory.utilization", point(0.5, ns, state="used")),
            {"name": "http.requests", "sum": {"aggregationTemporality": 1, "isMonotonic": True,
                                              "dataPoints": [point(5.0, ns, route="/a")]}},
            {"name": "net.bytes", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                          "dataPoints": [point(100.0 * k, ns)]}}]))
    path = write(tmp_path, docs, kind)
    cfg = config_from_dict({"serve": SERVE, "data": {"counters": [
        "http.requests{route=/a}", "net.bytes", "system.memory.utilization{state=used}"]}})
    notes: list[str] = []
    read_data_file(path, cfg, progress=notes.append, check_counters=True)
    assert [n for n in notes if n.startswith("note:")] == [
        (f"note: {path}: data.counters lists 'http.requests{{route=/a}}' (a delta sum), "
         f"'system.memory.utilization{{state=used}}' (a gauge): a counter is read as a running "
         f"total whose increase per row the model learns, but a delta sum's values are already "
         f"increases and a gauge's a level: remove them from data.counters, or export them as "
         f"monotonic cumulative sums (docs/streaming.md)")]
    notes.clear()  # score, evaluate and plot read a model's data as it is: no note
    read_data_file(path, cfg, progress=notes.append)
    assert not [n for n in notes if n.startswith("note:")]


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_a_metric_of_staleness_markers_only_is_no_feature_to_train_on(tmp_path, kind):
    """A data point flagged NO_RECORDED_VALUE (the prometheus receiver's staleness marker of
    a series gone) holds no value and is left out; train learned its metric as a feature
    all the same, so no slot held every feature: 'no slot of serve.assemble_seconds (10 s)
    holds every feature of ..., gone' and no rows. A feature is learned from a value."""
    docs = []
    for k in range(4):
        ns = (T0 + 10 * k + 2) * 10**9
        docs.append(request("web-1", [
            gauge("system.cpu.load_average.1m", point(1.0 + k, ns)),
            gauge("gone", {"timeUnixNano": str(ns), "flags": 1})]))
    tables = read_metric_file(write(tmp_path, docs, kind), config_from_dict(
        {"serve": {**SERVE, "unknown_features": "reject"}}).serve)
    assert [(t.feature_names, t.values.ravel().tolist()) for t in tables] == [
        (("system.cpu.load_average.1m",), [1.0, 2.0, 3.0, 4.0])]


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_train_notes_counters_whose_data_points_are_a_non_monotonic_sum(tmp_path, kind):
    """The hostmetrics receiver sends system.memory.usage as a cumulative sum that is not
    monotonic (an UpDownCounter; OTLP/JSON leaves isMonotonic: false out): listed in
    data.counters, a fall from 4.1e9 to 3.9e9 bytes was read as a reset, an increase of
    3.9e9, without a note. Train names it; a monotonic cumulative sum stays quiet."""
    docs = []
    for k, used in enumerate([4.0e9, 4.1e9, 3.9e9, 4.0e9]):
        ns = (T0 + 10 * k + 2) * 10**9
        docs.append(request("web-1", [
            {"name": "system.memory.usage", "sum": {"aggregationTemporality": 2,
                                                    "dataPoints": [point(used, ns,
                                                                         state="used")]}},
            {"name": "net.bytes", "sum": {"aggregationTemporality": 2, "isMonotonic": True,
                                          "dataPoints": [point(100.0 * k, ns)]}}]))
    path = write(tmp_path, docs, kind)
    cfg = config_from_dict({"serve": SERVE, "data": {"counters": [
        "net.bytes", "system.memory.usage{state=used}"]}})
    notes: list[str] = []
    read_data_file(path, cfg, progress=notes.append, check_counters=True)
    assert [n for n in notes if n.startswith("note:")] == [
        (f"note: {path}: data.counters lists 'system.memory.usage{{state=used}}' (a "
         f"non-monotonic sum): a counter is read as a running total whose increase per row "
         f"the model learns, but a non-monotonic sum's falls would be read as resets: remove "
         f"them from data.counters, or export them as monotonic cumulative sums "
         f"(docs/streaming.md)")]


@pytest.mark.parametrize("kind", ["json", "proto"])
def test_reading_a_metric_file_says_how_far_it_has_got(tmp_path, kind):
    """score read a CSV file with a progress line every block of rows, an OTLP metric file
    of 300,000 lines for 43 s without one. Now after each line or message, with the bytes
    read (its rows are made once all are read)."""
    docs = hostmetrics(steps=5, hosts=("web-1",))
    path = write(tmp_path, docs, kind)
    cfg = config_from_dict({"serve": SERVE})
    calls = []
    read_data_file(path, cfg, FEATURES, reading=lambda *call: calls.append(call))
    unit = "messages" if kind == "proto" else "lines"
    assert [(n, u) for n, _, u in calls] == [(n, unit) for n in range(1, len(docs) + 1)]
    read = [r for _, r, _ in calls]
    assert read == sorted(read) and read[-1] <= path.stat().st_size
    if kind == "json":
        assert read[-1] == path.stat().st_size


def crash_loop(hosts=("web-1", "web-2")):
    """Per host and collection (10 s) a load gauge and an error counter (a cumulative sum
    with its start time): web-1's process crashes after collection 5 (50 errors) and the
    new one has counted 60 by collection 6 (a new startTimeUnixNano, a total past the old
    one), then falls from 70 to 4 at a second restart at collection 9; web-2's counter has
    no start time (a total that falls to 4 at collection 9, too)."""
    errors = {"web-1": [0, 10, 20, 30, 40, 50, 60, 65, 70, 4, 9, 12],
              "web-2": [0, 10, 20, 30, 40, 50, 60, 65, 70, 4, 9, 12]}
    docs = []
    for k in range(12):
        for j, host in enumerate(hosts):
            ns = (T0 + 10 * k + 2) * 10**9 + j
            p = {"timeUnixNano": str(ns + 3_000_000), "asInt": str(errors[host][k])}
            if host == "web-1":
                began = T0 - 600 if k < 6 else T0 + 55 if k < 9 else T0 + 85
                p["startTimeUnixNano"] = str(began * 10**9)
            docs.append(request(host, [
                gauge("system.cpu.load_average.1m", point(1.0 + k, ns)),
                {"name": "app.errors", "sum": {"aggregationTemporality": 2,
                                               "isMonotonic": True, "dataPoints": [p]}}]))
    return docs


@pytest.mark.parametrize("fmt", ["otlp_proto", "otlp_json"])
def test_a_counters_restart_by_start_time_increases_the_same_streamed_and_offline(tmp_path,
                                                                                  fmt):
    """data.counters of an OTLP cumulative sum: a later startTimeUnixNano is a reset even
    where the new total passed the old one (50 -> 60 across a crash: 60, was 10), as serve's
    windows count it and as train, score and retrain --data (a file) and retrain (a topic
    range) count it offline; a series without start times keeps the fall rule."""
    from anomaly_gan.data import increases
    from anomaly_gan.retrain.source import Rows, SegmentBuilder, read_files, with_increases
    from anomaly_gan.stream.state import WindowBatch, WindowState

    docs = crash_loop()
    names = ("app.errors", "system.cpu.load_average.1m")
    cfg = config_from_dict({"serve": {**SERVE, "event_format": fmt},
                            "data": {"counters": ["app.errors"]}})
    want = {"web-1": [10, 10, 10, 10, 10, 60, 5, 5, 4, 5, 3],
            "web-2": [10, 10, 10, 10, 10, 10, 5, 5, 4, 5, 3]}
    # serve: parser, assembler, windows of one row with data.counters
    parser = parser_from_config(names, cfg.serve)
    asm = assembler_from_config(len(names), cfg.serve)
    state = WindowState(1, len(names), gap_seconds=3600.0, max_entities=10, counters=[0])
    out = WindowBatch(1, len(names))
    for offset, doc in enumerate(docs):
        raw = to_proto(doc) if fmt == "otlp_proto" else json.dumps(doc).encode()
        for ev in parser.parse_many(raw):
            done = asm.add(ev, 0, offset)
            if done is not None:
                state.push(done[0].entity, done[0].ts, done[0].values, 0, done[1], out,
                           None, done[0].starts)
    streamed: dict[str, list] = {}
    for k, entity in enumerate(out.entities):
        streamed.setdefault(entity, []).append(out.raw[k, 0].tolist())
    assert {e: [r[0] for r in rows] for e, rows in streamed.items()} == want
    # offline: the file's tables (train, score), as the cli computes their increases
    path = write(tmp_path, docs, "json" if fmt == "otlp_json" else "proto")
    tables = read_metric_file(path, cfg.serve, names)
    for t in tables:
        assert increases(t.values, [0], t.starts).tolist() == streamed[t.entity]
        assert t.starts is not None and np.isnan(t.starts[:, 1]).all()  # a gauge: none
    # retrain --data (a file) and retrain on a topic range (serve's parser and assembler)
    rows, _ = read_files(cfg, [str(path)], names)
    builder = SegmentBuilder(names, cfg.serve)
    for offset, doc in enumerate(docs):
        builder.add(to_proto(doc) if fmt == "otlp_proto" else json.dumps(doc).encode(), 0,
                    offset)
    for segments in (rows.segments, builder.finish()):
        got = with_increases(Rows(segments, {}), [0]).segments
        assert {s.entity: s.values.tolist() for s in got} == streamed


def three_hosts_evicting(steps=30):
    """web-1 and web-2 every collection, web-3 in collections 8, 9 and 20 only: with
    serve.windows.max_entities 2 each of web-3's collections evicts the others in turn, and
    web-1 resends its collection 8 (other values) after web-3's collection 9, once evicted."""
    docs = hostmetrics(steps=steps)
    for k in (8, 9, 20):  # after the two hosts' collection k (4 requests per collection)
        at = 4 * (k + 1) + (2 * [8, 9, 20].index(k))
        docs[at:at] = hostmetrics(steps=k + 1, hosts=("web-3",))[-2:]
    resend = [request("web-1", [gauge(m["name"], *[dict(p, asDouble=p["asDouble"] + 1)
                                                   for p in m["gauge"]["dataPoints"]])
                                for m in doc["resourceMetrics"][0]["scopeMetrics"][0][
                                    "metrics"] if "gauge" in m])
              for doc in hostmetrics(steps=9)[-4:-2]]
    at = 4 * 10 + 4  # after web-3's collection 9
    docs[at:at] = resend
    return docs


@pytest.mark.parametrize("tolerance", [0.0, 15.0])
def test_an_evicted_hosts_rows_window_afresh_offline_as_in_serve(tmp_path, tolerance):
    """With more hosts interleaved than serve.windows.max_entities, serve's assembler evicts
    the least recently seen host and its window starts afresh (WindowState.evict): no
    window spans the eviction, a resend of an earlier slot after it is no late row, and
    the rows held for reordering (serve.windows.reorder_tolerance_seconds) then are dropped,
    also when the host is evicted after its last row. The file's tables say where (until
    2026-12-07 they did not: score --alerts ran each host's rows on through an eviction,
    left out the resend as late and windowed the held rows), so the offline order of the
    rows and their restarts give serve's windows, and retrain --data breaks a host's
    segment there as retrain on a topic range does."""
    from anomaly_gan.data import table_times, without_late_rows
    from anomaly_gan.retrain.source import SegmentBuilder, read_files
    from anomaly_gan.stream.state import WindowBatch, WindowState

    docs = three_hosts_evicting()
    serve = {**SERVE, "windows": {"max_entities": 2, "gap_seconds": 3600.0,
                                  "reorder_tolerance_seconds": tolerance}}
    cfg = config_from_dict({"serve": serve})
    # serve: its parser, assembler and windows of two rows, wired as its intake wires them
    parser = parser_from_config(FEATURES, cfg.serve)
    asm = assembler_from_config(len(FEATURES), cfg.serve)
    state = WindowState(2, len(FEATURES), gap_seconds=3600.0, max_entities=2,
                        reorder_tolerance_seconds=tolerance)
    asm.on_evict = state.evict
    out = WindowBatch(2, len(FEATURES))
    for offset, doc in enumerate(docs):
        for ev in parser.parse_many(to_proto(doc)):
            done = asm.add(ev, 0, offset)
            if done is not None:
                state.push(done[0].entity, done[0].ts, done[0].values, 0, done[1], out)
    state.release_held(out)  # the events have ended, as score releases a file's last rows
    streamed: dict[str, list] = {}
    for k, entity in enumerate(out.entities):
        streamed.setdefault(entity, []).append((out.start_ts[k], out.end_ts[k]))
    assert state.evicted > 3
    assert len(streamed["web-1"]) < 29 and "web-3" not in streamed  # evicted each time
    # offline: each table's rows in the order serve windows them, restarted where evicted
    path = write(tmp_path, docs, "proto")
    offline: dict[str, list] = {}
    for t in read_metric_file(path, cfg.serve, FEATURES):
        times = table_times(t, tolerance)
        _, kept = without_late_rows(t, times, tolerance)
        assert t.evictions is not None
        pairs = offline.setdefault(t.entity, [])
        for a, b in zip(kept[:-1].tolist(), kept[1:].tolist(), strict=True):
            if t.evictions[a] == t.evictions[b]:
                pairs.append((float(times[a]), float(times[b])))
    assert {e: p for e, p in offline.items() if p} == streamed
    # retrain --data (the file) and retrain on a topic range: a host's segments break there
    rows, _ = read_files(cfg, [str(path)], FEATURES)
    builder = SegmentBuilder(FEATURES, cfg.serve)
    for offset, doc in enumerate(docs):
        builder.add(to_proto(doc), 0, offset)
    topic = [(s.entity, s.ts.tolist()) for s in builder.finish()]
    assert topic == sorted((s.entity, s.ts.tolist()) for s in rows.segments if len(s) > 1)


@pytest.mark.slow
def test_train_leaves_out_an_entity_too_short_to_train_on_as_retrain_does(tmp_path, capsys):
    """A host that joined minutes before the export refused the training of the whole file
    ("(entity 'short'): 5 rows is fewer than the 16 needed"), where retrain --data left it
    out and trained on the rest. Left out with one note; the bundle still scores the host
    (the model is the same for every entity); a file with no host long enough is refused in
    one line naming the longest."""
    from anomaly_gan.cli import main
    from anomaly_gan.retrain.source import read_files

    cfg = tmp_path / "otlp.yaml"
    cfg.write_text(yaml.safe_dump(TRAIN_CONFIG))
    path = write(tmp_path, hostmetrics(steps=60) + hostmetrics(steps=12, hosts=("late",))
                 + hostmetrics(steps=5, hosts=("short",)), "json")
    rows, _ = read_files(config_from_dict(TRAIN_CONFIG), [str(path)], None)
    assert sorted(len(s) for s in rows.segments) == [5, 12, 60, 60]  # retrain reads them
    assert main(["train", "--config", str(cfg), "--data", str(path), "--out",
                 str(tmp_path / "m"), "--quiet"]) == 0
    said = capsys.readouterr()
    assert json.loads(said.out)["features"] == 3
    notes = [line for line in said.err.splitlines() if "left out" in line]
    assert notes == [(f"note: left out 2 of 4 series (one per entity of each file) with fewer "
                     f"than the 16 rows one needs to train on (2 x data.window 8: a training "
                     f"and a held-out window, the rule by which retrain leaves out pieces too "
                     f"short): {path} (entity 'late') (12 rows), {path} (entity 'short') "
                     f"(5 rows); serve scores them as any other entity")]
    scores = tmp_path / "late.csv"
    assert main(["score", "--model", str(tmp_path / "m"), "--data", str(path), "--entity",
                 "late", "--out", str(scores)]) == 0
    late = scores.read_text().splitlines()[1:]
    assert len(late) == 12 and all(line.split(",")[1] for line in late[7:])  # 5 windows
    capsys.readouterr()
    short = tmp_path / "short"
    short.mkdir()
    path = write(short, hostmetrics(steps=5, hosts=("a", "b")) + hostmetrics(steps=15,
                                                                             hosts=("c",)),
                 "json")
    assert main(["train", "--config", str(cfg), "--data", str(path), "--out",
                 str(tmp_path / "m2")]) == 2
    summary, error = capsys.readouterr().err.splitlines()  # what was read, the one-line error
    assert summary.endswith("3 entities -> 25 rows of 10 s (serve.assemble_seconds)")
    assert error.startswith(f"anomaly-gan: error: {path} (entity 'c'): 15 rows, the longest "
                            f"of 3 series, is fewer than the 16 needed ")
    assert not (tmp_path / "m2").exists()
