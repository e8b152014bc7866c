import re

import numpy as np
import pytest

from anomaly_gan.data.readers import (
    Table,
    apply_nan_policy,
    check_features,
    read_labels,
    read_table,
    table_times,
)
from anomaly_gan.errors import DataError


def write(tmp_path, text, name="d.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_header_with_timestamp_column(tmp_path):
    t = read_table(write(tmp_path, "timestamp,temp,rpm\n2026-01-01T00:00:00Z,1.5,10\n2026-01-01T00:00:10Z,2,11\n"))
    assert t.feature_names == ("temp", "rpm")
    assert t.timestamps == ("2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z")
    np.testing.assert_array_equal(t.values, [[1.5, 10], [2, 11]])


def test_headerless_numeric_file_like_nasa(tmp_path):
    t = read_table(write(tmp_path, "0.5,0,1\n-0.25,1,0\n"))
    assert not t.has_header and t.timestamps is None
    assert t.feature_names == ("f0", "f1", "f2")
    assert t.values.shape == (2, 3)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("", "file is empty"),
        ("a,b\n", "no data rows after the header"),
        ("a,b\n1,2\n3,x\n", "line 3, column 'b': not a number: 'x'"),
        ("1,2\n3,oops\n", "line 2, column 2: not a number: 'oops'"),
        ("a,b\n1,2\n3\n", "line 3: expected 2 columns, got 1"),
        # a comma after every value under a header without one: the line said 2 and 3 only
        ("a,b\n1,2,\n", ("line 2: expected 2 columns, got 3 (a comma at the end of the "
                         "line? remove it)")),
        ("a,a\n1,2\n", "duplicate column name 'a'"),
        # the time column's name too: the second 'timestamp' was read as a feature
        ("timestamp,a,timestamp\n1,2,3\n", "line 1: duplicate column name 'timestamp'"),
    ],
)
def test_bad_input_names_line_and_column(tmp_path, text, expected):
    p = write(tmp_path, text)
    with pytest.raises(DataError) as info:
        read_table(p)
    assert str(info.value).startswith(str(p)) and expected in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "nope.csv")


def test_nan_policy(tmp_path):
    t = read_table(write(tmp_path, "a,b\n1,\n2,5\nnan,6\ninf,7\n"))
    with pytest.raises(DataError, match=r"line 2, column 'b': missing or non-finite value.*3 such cells"):
        apply_nan_policy(t, "reject")
    np.testing.assert_array_equal(apply_nan_policy(t, "ffill"), [[1, 5], [2, 5], [2, 6], [2, 7]])
    np.testing.assert_array_equal(apply_nan_policy(t, "zero"), [[1, 0], [2, 5], [0, 6], [0, 7]])


def test_check_features_by_name_and_count(tmp_path):
    t = read_table(write(tmp_path, "rpm,temp\n1,2\n"))
    np.testing.assert_array_equal(check_features(t, ["temp", "rpm"]), [[2, 1]])
    with pytest.raises(DataError, match="missing columns flow; unexpected columns rpm"):
        check_features(t, ["temp", "flow"])
    h = read_table(write(tmp_path, "1,2,3\n", "h.csv"))
    with pytest.raises(DataError, match="expected 2 feature columns .* got 3"):
        check_features(h, ["a", "b"])


def test_columns_that_are_not_the_models_features_follow_serve_unknown_features(tmp_path):
    """serve.unknown_features: ignore leaves out a values name the model does not know, and
    score refused a CSV column of such a name (unexpected columns), whatever the setting."""
    t = read_table(write(tmp_path, "rpm,site,temp,zone\n1,7,2,9\n3,8,4,9\n"))
    with pytest.raises(DataError, match=r"\(unexpected columns site, zone\); expected temp, "
                       r"rpm \(serve.unknown_features: ignore leaves them out, as in serve\)$"):
        t.with_features(["temp", "rpm"])
    said: list[str] = []
    kept = t.with_features(["temp", "rpm"], "ignore", said.append)
    assert kept.feature_names == ("temp", "rpm")
    np.testing.assert_array_equal(kept.values, [[2, 1], [4, 3]])
    assert said == [(f"note: {t.path}: column(s) site, zone left out: not features of the "
                     f"model (serve.unknown_features: ignore, as serve leaves them out of an "
                     f"event)")]
    # a missing feature is refused either way, with no hint that would not help
    with pytest.raises(DataError, match=r"missing columns flow\); expected temp, flow$"):
        t.with_features(["temp", "flow"], "ignore", said.append)
    # a headerless file has no names to leave out by
    h = read_table(write(tmp_path, "1,2,3\n", "h.csv"))
    with pytest.raises(DataError, match="expected 2 feature columns .* got 3"):
        h.with_features(["a", "b"], "ignore")


def test_a_column_left_out_by_serve_unknown_features_is_not_read_whatever_it_holds(tmp_path):
    """serve leaves out a values name the model does not know whatever its value; score,
    evaluate, plot and retrain --data read such a column as numbers before leaving it out,
    so a site name's column stopped them ('line 2, column 'site': not a number')."""
    import dataclasses

    import pyarrow as pa
    import pyarrow.parquet as pq

    from anomaly_gan.config import load_config
    from anomaly_gan.data.otlp_files import read_data_file

    cfg = load_config(None)
    ignore = cfg.replace(serve=dataclasses.replace(cfg.serve, unknown_features="ignore"))
    csv = write(tmp_path, "timestamp,temp,site,rpm\n2026-01-01T00:00:00Z,1,plant-a,2\n"
                          "2026-01-01T00:01:00Z,3,,4\n")
    pq.write_table(pa.table({"timestamp": ["2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z"],
                             "temp": [1.0, 3.0], "site": ["plant-a", None],
                             "rpm": [2.0, 4.0]}), tmp_path / "d.parquet")
    for path in (csv, tmp_path / "d.parquet"):
        said: list[str] = []
        (table,) = read_data_file(path, ignore, ("rpm", "temp"), said.append)
        assert table.left_out == ("site",)
        kept = table.with_features(("rpm", "temp"), "ignore", said.append)
        np.testing.assert_array_equal(kept.values, [[2, 1], [4, 3]])
        assert said == [(f"note: {path}: column(s) site left out: not features of the "
                         f"model (serve.unknown_features: ignore, as serve leaves them out of "
                         f"an event)")]
    # reject (the default) leaves it unread too, and refuses it as a column the model does
    # not know: reading it first said "line 2, column 'site': not a number: 'plant-a'",
    # which sent the user to fix a cell where the column was the fault
    for path in (csv, tmp_path / "d.parquet"):
        (table,) = read_data_file(path, cfg, ("rpm", "temp"))
        assert table.left_out == ("site",)
        with pytest.raises(DataError, match=r"\(unexpected columns site\); expected rpm, "
                           r"temp \(serve.unknown_features: ignore leaves them out"):
            table.with_features(("rpm", "temp"))
    # none of the model's features in the header: refused at once, saying what is missing,
    # under either setting. Read first, a log file given to a metrics model (its first line
    # the header) stopped at line 2: "column '2026-... web-1 INFO ...': not a number"
    log = write(tmp_path, "2026-01-01T00:00:00Z web-1 INFO up\n"
                          "2026-01-01T00:00:01Z web-1 INFO cache hit\n", "app.log")
    for path, config in ((write(tmp_path, "temp,rpm\n1,2\n", "o.csv"), ignore), (log, cfg)):
        with pytest.raises(DataError, match=r"columns do not match the model's features "
                           r"\(missing columns flow; unexpected columns .*\); expected flow$"):
            read_data_file(path, config, ("flow",))


def test_labels(tmp_path):
    np.testing.assert_array_equal(read_labels(write(tmp_path, "0\n1\n1\n")), [0, 1, 1])
    with pytest.raises(DataError, match="line 2: expected a label 0 or 1, got 2"):
        read_labels(write(tmp_path, "0\n2\n", "l.csv"))
    with pytest.raises(DataError, match="expected 5 labels"):
        read_labels(write(tmp_path, "0\n1\n", "m.csv"), rows=5)


def test_labels_written_true_false_are_1_0_and_the_first_is_no_header(tmp_path):
    """pandas writes booleans True/False: the first was taken for a header, so one label
    was lost (``false`` then ``1``, ``0``) or the second line was 'not a number'."""
    for text in ("true\nfalse\ntrue\n", "True\nFALSE\nTrue\n", "false\n1\n0\n"):
        labels = read_labels(write(tmp_path, text), rows=3)
        np.testing.assert_array_equal(labels, [int(c[0] in "tT1") for c in text.split()])
    np.testing.assert_array_equal(read_labels(write(tmp_path, "label\ntrue\n0\n"), rows=2), [1, 0])
    np.testing.assert_array_equal(read_labels(write(tmp_path, "ts,label\n1,false\n2,True\n")),
                                  [0, 1])
    with pytest.raises(DataError, match="line 2, column 'a': not a number: 'true'"):
        read_table(write(tmp_path, "a\ntrue\n"))  # data files: no change


def test_labels_of_words_are_refused_as_labels_not_as_a_column(tmp_path):
    """A labels file of yes/no was refused as 'line 2, column 'no': not a number: 'no'': its
    first label taken for a header, and the line no word of what a label is."""
    with pytest.raises(DataError, match=r"l\.csv: line 2, column 'no': not a number: 'no' "
                                        r"\(expected a label: 0 or 1, or true/false; the first "
                                        r"line, 'no', was read as a header\)$"):
        read_labels(write(tmp_path, "no\nno\nyes\n", "l.csv"))
    with pytest.raises(DataError, match=r"m\.csv: line 3, column 'label': not a number: 'yes' "
                                        r"\(expected a label: 0 or 1, or true/false\)$"):
        read_labels(write(tmp_path, "label\n0\nyes\n", "m.csv"))


def test_a_labels_column_of_entity_names_beside_label_is_refused_as_such(tmp_path):
    """entity,timestamp,label (one host's labels of a metric file read with --entity) was
    refused saying 'expected a label ...; the first line, 'entity', was read as a header':
    the header was one, and its label column was read; the entity column was the fault."""
    with pytest.raises(DataError, match=r"^\S*l\.csv: line 2, column 'entity': not a number: "
                                        r"'web-2' \(a labels file's columns beside 'label' "
                                        r"hold numbers or true/false: leave 'entity' out; its "
                                        r"rows label one series, a file or an --entity\)$"):
        read_labels(write(tmp_path, "entity,timestamp,label\nweb-2,1,0\nweb-2,2,1\n", "l.csv"))


def test_labels_separated_by_semicolons_or_tabs_are_refused_saying_so(tmp_path):
    """A labels file saved with ';' (a spreadsheet in a decimal-comma locale) or tabs was
    refused as 'the first line, '0;1', was read as a header': the line blamed a header and
    said nothing of the separator, which a data file's error names."""
    for text, sep in (("label;x\n0;1\n1;1\n", "';'"), ("0;1\n1;1\n0;0\n", "';'"),
                      ("timestamp\tlabel\n1\t0\n2\t1\n", "tab")):
        with pytest.raises(DataError, match=rf"l\.csv: line 2, column .*: not a number: .* "
                                            rf"\(the file looks {sep}-separated; only "
                                            rf"comma-separated files are read\)$"):
            read_labels(write(tmp_path, text, "l.csv"))


def test_parquet_round_trip(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "d.parquet"
    pq.write_table(pa.table({"timestamp": ["t0", "t1"], "x": [1.0, 2.0], "y": [3, 4]}), p)
    t = read_table(p)
    assert t.feature_names == ("x", "y") and t.timestamps == ("t0", "t1")
    np.testing.assert_array_equal(t.values, [[1, 3], [2, 4]])


def test_row_of_empty_cells_is_a_row_of_missing_values(tmp_path):
    """`,,` is a row of missing values, never silently dropped (which would join the rows
    around it into one window): rejected naming its line, or filled by the policy."""
    t = read_table(write(tmp_path, "a,b\n1,2\n,\n3,4\n"))
    assert t.rows == 3
    with pytest.raises(DataError, match=r"line 3, column 'a': missing or non-finite value"):
        apply_nan_policy(t, "reject")
    np.testing.assert_array_equal(apply_nan_policy(t, "ffill"), [[1, 2], [1, 2], [3, 4]])
    h = read_table(write(tmp_path, "1,2\n,\n3,4\n", "h.csv"))
    with pytest.raises(DataError, match=r"line 2, column 1: missing"):
        apply_nan_policy(h, "reject")


def test_line_numbers_count_blank_lines(tmp_path):
    p = write(tmp_path, "a,b\n\n1,2\n\n\n3,x\n")
    with pytest.raises(DataError, match=r"line 6, column 'b': not a number: 'x'"):
        read_table(p)
    t = read_table(write(tmp_path, "a,b\n\n1,2\n\n3,nan\n", "n.csv"))
    with pytest.raises(DataError, match=r"line 5, column 'b': .*\(nan\); the only one \("):
        apply_nan_policy(t, "reject")  # one cell: not "1 such cells in all"
    with pytest.raises(DataError, match=r"line 5: expected a label 0 or 1, got 2"):
        read_labels(write(tmp_path, "label\n0\n\n1\n2\n", "l.csv"))


def test_byte_order_mark_is_not_part_of_the_data(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_bytes("\ufefftemp,rpm\n1,2\n".encode())
    assert read_table(p).feature_names == ("temp", "rpm")
    p.write_bytes("\ufeff0.5,1\n2,3\n".encode())
    t = read_table(p)
    assert not t.has_header and t.rows == 2


def test_a_utf16_file_is_named_as_one(tmp_path):
    """PowerShell 5's Out-File writes UTF-16 with a byte-order mark: the line said the
    codec could not decode byte 0xff, and nothing of the encoding or what was expected."""
    p = tmp_path / "utf16.csv"
    p.write_text("a,b\n1,2\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"^\S+utf16.csv: line 1: not a readable CSV file: the "
                                        r"file is UTF-16 \(it starts with a UTF-16 byte-order "
                                        r"mark\); expected UTF-8 text"):
        read_table(p)


def test_bytes_that_are_not_utf8_are_named_by_their_line(tmp_path):
    """The decoder reads ahead in blocks: its error came at the line the CSV reader had got
    to (line 1 for a small file), not at the bad bytes."""
    p = tmp_path / "latin1.csv"
    rows = [f"{i},{i + 1}\n" for i in range(3000)]
    rows[1499] = '"caf\xe9\n au lait",1\n'  # the bad byte on the first line of a quoted cell
    p.write_bytes(("a,b\n" + "".join(rows)).encode("latin-1"))
    with pytest.raises(DataError) as info:
        read_table(p)
    assert str(info.value) == (f"{p}: line 1501: not a readable CSV file: 'utf-8' codec can't "
                               f"decode byte 0xe9 in position 4: invalid continuation byte; "
                               f"expected UTF-8 text (save it as UTF-8, e.g. Excel's 'CSV "
                               f"UTF-8')")
    p.write_bytes("\ufeffa,b\n1,2\n".encode() + b"3,\xff\n")
    with pytest.raises(DataError, match=r"latin1.csv: line 3: .* byte 0xff in position 2"):
        read_table(p)


@pytest.mark.parametrize("end", ["\n", "\r\n"])
@pytest.mark.parametrize("inside", [1, 2])
def test_a_last_line_cut_inside_a_character_reads_as_one_cut_before_it(tmp_path, inside, end):
    """A CSV file cut while being written can end inside a character (non-ASCII text is
    written as UTF-8): its last line said 'not a readable CSV file: ... unexpected end of
    data; expected UTF-8 text (save it as UTF-8 ...)', as if the file were in another
    encoding, where the file cut before that character reads (a site name's column left
    out, as serve.unknown_features: ignore reads it), or is 'no data rows after the header'
    (a header alone). It reads as that file does; a bad byte elsewhere in the last line, or
    a last line that ends inside a character and in a line end, is refused as before."""
    path = tmp_path / "d.csv"

    def read(data: bytes, **kwargs) -> tuple[tuple, list] | str:
        path.write_bytes(data)
        try:
            table = read_table(path, **kwargs)
        except DataError as err:
            return str(err)
        return ((table.feature_names, table.left_out, tuple(table.timestamps or ())),
                table.values.tolist())

    text = end.join(["timestamp,cpu,site", "2026-01-01T00:00:00Z,1.5,Zürich",
                     "2026-01-01T00:01:00Z,1.6,東京"]).encode()
    at = text.rindex("東".encode())
    sites = {"timestamp_column": "timestamp", "only": ("cpu",)}
    assert read(text[:at + inside], **sites) == read(text[:at], **sites) == (
        (("cpu",), ("site",), ("2026-01-01T00:00:00Z", "2026-01-01T00:01:00Z")), [[1.5], [1.6]])
    header = "température,débit".encode()
    cut = header.rindex("é".encode())
    assert read(header[:cut + 1]) == read(header[:cut]) == f"{path}: no data rows after the header"
    bad = text[:at].replace(b"1.6", b"1\xff6") + text[at:]
    for data in (bad[:at + inside], text[:at + inside] + end.encode()):
        got = read(data, **sites)
        assert isinstance(got, str) and got.startswith(f"{path}: line 3: not a readable CSV "
                                                       f"file: 'utf-8' codec can't decode ")
        assert got.endswith("expected UTF-8 text (save it as UTF-8, e.g. Excel's 'CSV UTF-8')")


def _zipped(text):
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", text)
    return buf.getvalue()


def _parquet_bytes(path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"cpu": [1.0, 2.0]}), path)
    return path.read_bytes()


@pytest.mark.parametrize("name, pack, expected", [
    ("book.xlsx", lambda text, p: _zipped(text),
     r"the file is a zip archive \(an Excel workbook\?\); export the sheet as CSV"),
    ("d.csv", lambda text, p: _parquet_bytes(p),
     r"the file is Parquet; name it .parquet to read it as Parquet$"),
])
def test_a_packed_file_is_named_for_what_it_is(tmp_path, name, pack, expected):
    """A workbook, a Parquet file named .csv: the line quoted the UTF-8 decoder ('can't
    decode byte 0x8b') and said to save the file as UTF-8, e.g. from Excel. (A .csv.gz,
    refused so until 2026-12-05, is read: tests/test_compressed.py.)"""
    p = tmp_path / name
    p.write_bytes(pack("timestamp,cpu\n" + "2026-01-01T00:00:00Z,1.5\n" * 50, p))
    with pytest.raises(DataError, match=rf"^{p}: line 1: not a readable CSV file: {expected}"):
        read_table(p)


def test_text_that_starts_like_a_packed_file_is_text(tmp_path):
    t = read_table(write(tmp_path, "PAR1,BZh,PK\n1,2,3\n"))
    assert t.feature_names == ("PAR1", "BZh", "PK") and t.values.tolist() == [[1, 2, 3]]


@pytest.mark.parametrize("text, expected", [
    ("1,x\n2,3\n", r"line 1: mixes names and numbers \(column 2 is 'x', column 1 is '1'\)"),
    ("a,\n1,2\n", r"line 1, column 2: empty column name"),
    # a headerless time,value export: 'data.header: names' was offered, which would have
    # made the first reading the column names
    ("2026-01-01T00:00:00Z,1.5\n2026-01-01T00:01:00Z,1.6\n",
     (r"line 1: column 1 holds a time \('2026-01-01T00:00:00Z'\) beside numbers: a file "
      r"without a header line\? Add one, naming the time column 'timestamp'")),
])
def test_first_row_is_clearly_a_header_or_data(tmp_path, text, expected):
    with pytest.raises(DataError, match=expected):
        read_table(write(tmp_path, text))
    # A first data row with a missing cell is data, not a header.
    t = read_table(write(tmp_path, "1,\n2,3\n", "ok.csv"))
    assert not t.has_header and t.rows == 2


@pytest.mark.parametrize("cell", ["1_000", "\u0661\u0662", "0x10", "1e", "--1"])
def test_only_plain_decimal_numbers(tmp_path, cell):
    with pytest.raises(DataError, match=rf"line 3, column 'b': not a number: '{cell}'"):
        read_table(write(tmp_path, f"a,b\n1,2\n3,{cell}\n"))


def test_plain_numbers_still_parse(tmp_path):
    t = read_table(write(tmp_path, "a,b,c,d\n+1.5,-.5,1e3,NaN\n2.,-Inf,1E-2,infinity\n"))
    np.testing.assert_array_equal(t.values[:, :3], [[1.5, -0.5, 1000], [2, -np.inf, 0.01]])


def test_error_lines_stay_short(tmp_path):
    many = [f"col{i}" for i in range(20_000)]
    t = read_table(write(tmp_path, ",".join(many) + "\n" + ",".join("1" * len(many)) + "\n"))
    with pytest.raises(DataError) as info:
        check_features(t, ["temp"])
    msg = str(info.value)
    assert "col9" in msg and "col10," not in msg and "(and 19990 more)" in msg
    assert len(msg) < 400
    with pytest.raises(DataError) as info:
        read_table(write(tmp_path, "a\n" + "y" * 100_000 + "\n", "long.csv"))
    assert len(str(info.value)) < 300


def test_usual_spellings_of_a_missing_value_are_missing_not_errors(tmp_path):
    """R writes NA, SQL exports NULL, spreadsheets #N/A: they were "not a number" and no
    nan_policy could fill them."""
    t = read_table(write(tmp_path, "a,b\n1,NA\n2,null\nN/A,#N/A\nNone,4\n5,6\n"))
    assert np.isnan(t.values).sum() == 5
    np.testing.assert_array_equal(apply_nan_policy(t, "ffill"),
                                  [[1, 4], [2, 4], [2, 4], [2, 4], [5, 6]])
    with pytest.raises(DataError, match=r"line 2, column 'b': missing or non-finite value"):
        apply_nan_policy(t, "reject")
    headerless = read_table(write(tmp_path, "NA,1\n2,3\n", "h.csv"))  # data, not a header
    assert headerless.feature_names == ("f0", "f1") and np.isnan(headerless.values[0, 0])
    with pytest.raises(DataError, match=r"line 1, column 2: column name 'NA' reads as a "
                                        r"missing value"):
        read_table(write(tmp_path, "a,NA\n1,2\n", "n.csv"))
    with pytest.raises(DataError, match=r"column 'a': not a number: '12 rpm'"):
        read_table(write(tmp_path, "a\n12 rpm\n", "u.csv"))


def test_data_header_names_reads_numeric_column_names(tmp_path):
    """Status-code columns (200, 404, 500) were refused as a first row mixing names and
    numbers, or, without the time column, silently read as the first data row."""
    mixed = write(tmp_path, "time,200,404,500\n2026-01-01T00:00:00Z,90,3,1\n")
    with pytest.raises(DataError, match=r"mixes names and numbers .*data.header: names"):
        read_table(mixed)
    t = read_table(mixed, header="names")
    assert t.feature_names == ("200", "404", "500") and t.timestamps is not None
    bare = write(tmp_path, "200,404\n90,3\n91,2\n", "bare.csv")
    assert read_table(bare).rows == 3  # auto: a row of numbers is data
    assert read_table(bare, header="names").feature_names == ("200", "404")
    with pytest.raises(DataError, match=r"line 1, column 1: not a number: 'a'"):
        read_table(write(tmp_path, "a,b\n1,2\n", "none.csv"), header="none")  # 'a' is data


def test_a_column_with_no_value_at_all_is_refused_by_every_fill_policy(tmp_path):
    """ffill refused it while zero filled it with 0 and every window then alarmed."""
    t = read_table(write(tmp_path, "a,b\n1,\n2,NA\n3,\n"))
    for policy in ("ffill", "zero"):
        with pytest.raises(DataError, match=r"column 'b': no finite value in any row"):
            apply_nan_policy(t, policy)


def test_reject_names_a_column_with_no_value_at_all_as_such(tmp_path):
    """Under reject, such a column was refused as its first missing cell, with the hint to
    set data.nan_policy: ffill or zero, which then refused it as empty: the hint sent the
    user round once for nothing. Now reject says what ffill and zero say, before any gap
    elsewhere that a fill would mend."""
    t = read_table(write(tmp_path, "a,b\n,\n2,NA\n3,\n"))
    with pytest.raises(DataError, match=r"column 'b': no finite value in any row; expected "
                                        r"the column to hold data$"):
        apply_nan_policy(t, "reject")


@pytest.mark.parametrize("text, hint", [
    ("cpu;mem\n1,5;2,3\n", "expected 1 columns, got 3 (the file looks ';'-separated"),
    ("a,b,\n1,2,\n", "empty column name in the header (a comma at the end of every line?"),
    # pandas' df.to_csv() writes its unnamed row index first: ',cpu,mem' then '0,0.5,12'
    (",cpu,mem\n0,0.5,12\n", ("line 1, column 1: empty column name in the header (a row "
                              "index without a name, as pandas' DataFrame.to_csv writes? "
                              "write the file with index=False")),
    ("host,cpu\nweb-0,1\n", "not a number: 'web-0' (an entity column? offline, each file is one"),
    ("latency\nslow\n", "not a number: 'slow'\\Z"),  # no guess without a reason
    # date and time in two columns: the hint said to call 'time' 'timestamp', after
    # which 'date' was still picked as the time column
    ("date,time,cpu\n2026-01-01,00:00:00,1\n", ("line 2, column 'time': not a number: "
                                                "'00:00:00' (the time split over two "
                                                "columns, 'date' and 'time'? join them")),
    # ... but a time beside a full stamp is no half of one, and the time column is taken
    ("timestamp,note\n2026-01-01T00:00:00Z,restarted 12:30\n",
     ("column 'note': not a number: 'restarted 12:30' (a second time column? the rows' time "
      "is read from 'timestamp'; features are numbers: leave 'note' out")),
    ("timestamp,updated\n2026-01-01T00:00:00Z,2026-01-01T00:00:05Z\n",
     "column 'updated': not a number: '2026-01-01T00:00:05Z' (a second time column?"),
    # a spreadsheet in a decimal-comma locale quotes the cell in a comma-separated file
    ('temp,rpm\n"-1,5",3\n', "line 2, column 'temp': not a number: '-1,5' (a decimal comma or"),
    # a million with separators, and a German spreadsheet's thousands dot and decimal comma
    ('bytes,rpm\n"1,234,567",3\n', "column 'bytes': not a number: '1,234,567' (a decimal comma"),
    ('temp,rpm\n"1.234,5",3\n', "column 'temp': not a number: '1.234,5' (a decimal comma or"),
    # pandas writes a bool column as True/False; serve takes numbers only
    ("cpu,is_leader\n0.5,1\n0.6,False\n", ("line 3, column 'is_leader': not a number: "
                                           "'False' (a true/false column? write it as 1/0")),
    # an unclosed quote ran on to the end of the file: one 'number' of three lines
    ("a,b\n1,2\n3,\"4\n5,6\n7,8\n", ("line 3, column 'b': not a number: "
                                    "'4\\\\n5,6\\\\n7,8' (a quote opened in this cell is "
                                    "never closed: the cell runs on over 3 lines")),
    # one opened at a row's first cell took its other cells too: 'got 1' alone
    ("a,b\n1,2\n\"3,4\n5,6\n", ("line 3: expected 2 columns, got 1 (a quoted cell runs "
                                "on from this line over 2 lines: a quote never closed?")),
])
def test_errors_say_what_the_file_likely_is(tmp_path, text, hint):
    with pytest.raises(DataError, match=hint.replace("(", r"\(").replace("?", r"\?")):
        read_table(write(tmp_path, text))


def test_an_empty_timestamp_is_refused_naming_its_line(tmp_path):
    """score wrote it back empty: the row it belonged to could not be told."""
    with pytest.raises(DataError, match=r"line 3, column 'timestamp': expected a timestamp, "
                                        r"got ''"):
        read_table(write(tmp_path, "timestamp,a\n2026-01-01T00:00:00Z,1\n,2\n"))


def test_a_row_empty_in_every_cell_of_a_timed_file_is_skipped_as_a_blank_line(tmp_path):
    """Excel ends a sheet's CSV export with rows of commas. In a file with a timestamp
    column such a row has no time to stand at, and was refused as a missing timestamp even
    under a nan_policy that fills missing readings (the README called it a row of missing
    values, which holds only without a timestamp column). It is skipped as a blank line is,
    and the line numbers still count it; a time left empty beside readings is refused."""
    t = read_table(write(tmp_path, "timestamp,a,b\n2026-01-01T00:00:00Z,1,2\n,,\n"
                                   "2026-01-01T00:00:10Z,3,\n , ,\n,,\n"))
    assert t.timestamps == ("2026-01-01T00:00:00Z", "2026-01-01T00:00:10Z")
    assert t.lines.tolist() == [2, 4]
    with pytest.raises(DataError, match=r"line 4, column 'b': missing"):
        apply_nan_policy(t, "reject")
    with pytest.raises(DataError, match=r"no data rows after the header \(only rows of empty"):
        read_table(write(tmp_path, "timestamp,a\n,\n,\n", "only.csv"))
    with pytest.raises(DataError, match=r"line 3, column 'timestamp': expected a timestamp"):
        read_table(write(tmp_path, "timestamp,a,b\n2026-01-01T00:00:00Z,1,2\n,1,\n", "t.csv"))


def test_times_are_read_as_serve_reads_them_and_must_go_forward(tmp_path):
    """Windows follow the file's order: rows out of time order made windows of readings
    that never followed each other, and train and score took them without a word."""
    from anomaly_gan.data.readers import table_times

    t = read_table(write(tmp_path, "timestamp,a\n2026-01-01T05:00:00+05:00,1\n"
                                   "2026-01-01T00:00:30Z,2\n1767225660000,3\n"))
    # one instant in three spellings: an offset, UTC, epoch milliseconds
    assert table_times(t).tolist() == [1767225600.0, 1767225630.0, 1767225660.0]
    swapped = read_table(write(tmp_path, "timestamp,a\n2026-01-01T00:00:00Z,1\n\n"
                                         "2026-01-01T00:02:00Z,2\n2026-01-01T00:01:00Z,3\n"
                                         "2026-01-01T00:00:30Z,4\n"))
    with pytest.raises(DataError, match=r"d.csv: line 5: timestamp '2026-01-01T00:01:00Z' is "
                                        r"before line 4's .* expected rows in time order .*"
                                        r"2 of 4 rows go back$"):
        table_times(swapped)
    with pytest.raises(DataError, match=r"line 3: timestamp 'yesterday' is not RFC 3339"):
        table_times(read_table(write(tmp_path, "timestamp,a\n2026-01-01T00:00:00Z,1\n"
                                               "yesterday,2\n")))
    assert table_times(read_table(write(tmp_path, "a\n1\n2\n"))) is None


def test_a_few_late_rows_are_left_out_with_a_note(tmp_path):
    """A local hour written twice when clocks go back (NAB's machine_temperature file:
    02:00-02:55 again after 02:55) stopped score on the whole file. Up to 5% of the rows may
    go back: they are late, left out as serve drops them; more is a file out of order."""
    from datetime import datetime, timedelta

    from anomaly_gan.data.readers import MAX_LATE_SHARE, late_rows, table_times, time_notes

    def every_5_min(start: str, end: str) -> list[str]:
        t, stop, out = datetime.fromisoformat(start), datetime.fromisoformat(end), []
        while t <= stop:
            out.append(t.isoformat(sep=" "))
            t += timedelta(minutes=5)
        return out

    def table(stamps: list[str]):
        return read_table(write(tmp_path, "timestamp,a\n" + "".join(
            f"{s},{i}\n" for i, s in enumerate(stamps))))

    twice = every_5_min("2014-01-07 02:00", "2014-01-07 02:55")
    after = every_5_min("2014-01-07 03:00", "2014-01-07 03:55")
    short = table(every_5_min("2014-01-07 00:00", "2014-01-07 02:55") + twice + after)
    with pytest.raises(DataError, match=r"line 38: timestamp '2014-01-07 02:00:00' is before "
                                        r"line 37's .* 11 of 60 rows go back; a stamp without "
                                        r"an offset is read as UTC"):
        table_times(short)  # 11 of 60 rows (18%) go back: refused
    long = table(every_5_min("2014-01-05 00:00", "2014-01-07 02:55") + twice + after)
    times = table_times(long)
    late = late_rows(times)  # 11 of 636 rows (1.7%): 02:55 again is not before 02:55
    assert np.flatnonzero(late).tolist() == list(range(612, 623))
    assert late.sum() < MAX_LATE_SHARE * len(times)
    late_note, repeat_note = time_notes(long, times)
    assert late_note == (
        f"note: {long.path}: 11 row(s) are stamped before an earlier row (first line 614, "
        "'2014-01-07 02:00:00', 55 min behind): left out, as serve drops an event older than "
        "its entity's last; a stamp without an offset is read as UTC: local times that repeat "
        "an hour when clocks go back need their offset, e.g. +01:00")
    assert "1 row(s) repeat the timestamp of the row before (first line 625, " \
           "'2014-01-07 02:55:00')" in repeat_note


def test_repeated_times_and_long_gaps_get_a_note_each(tmp_path):
    from anomaly_gan.data.readers import table_times, time_notes

    rows = [0, 60, 120, 120, 180, 240, 3840, 3900]
    t = read_table(write(tmp_path, "timestamp,a\n" + "".join(f"{s},{i}\n" for i, s in enumerate(rows))))
    notes = time_notes(t, table_times(t))
    assert len(notes) == 2
    assert "1 row(s) repeat the timestamp of the row before (first line 5, '120')" in notes[0]
    assert "1 gap(s) of more than 10x the median step of 60 s (the longest 3600 s, before " \
           "line 8)" in notes[1] and "two --data files" in notes[1]
    assert "--data" not in time_notes(t, table_times(t), training=False)[1]
    steady = read_table(write(tmp_path, "timestamp,a\n" + "".join(f"{60 * i},{i}\n" for i in range(9))))
    assert time_notes(steady, table_times(steady)) == []


def test_a_parquet_file_with_a_duplicate_column_name_is_one_line(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "dup.parquet"
    pq.write_table(pa.Table.from_arrays([pa.array([1.0, 2.0]), pa.array([3.0, 4.0])],
                                        names=["a", "a"]), p)
    with pytest.raises(DataError, match=r"dup\.parquet: duplicate column name 'a'$"):
        read_table(p)


def test_labels_stamped_for_other_rows_are_refused(tmp_path):
    """A labels file's timestamp column was read past: labels of another day (or of the
    rows sorted otherwise) gave AUC, F1 and the figure's spans as if they were the data's."""
    data = read_table(write(tmp_path, "timestamp,a\n2026-01-01T00:00:00Z,1\n"
                                      "2026-01-01T00:01:00Z,2\n", "d.csv"))
    same = write(tmp_path, "timestamp,label\n1767225600000,0\n2026-01-01T00:01:00+00:00,1\n",
                 "same.csv")  # the same times, written otherwise
    np.testing.assert_array_equal(read_labels(same, data=data), [0, 1])
    other = write(tmp_path, "timestamp,label\n2026-01-01T00:00:00Z,0\n"
                            "2026-01-02T00:01:00Z,1\n", "other.csv")
    with pytest.raises(DataError, match=r"^\S+other.csv: line 3: timestamp '2026-01-02T00:01:00Z' "
                                        r"is not that of the data row it labels "
                                        r"\('2026-01-01T00:01:00Z', line 3 of \S+d.csv\); "
                                        r"expected one label per data row, in the data's order$"):
        read_labels(other, data=data)
    np.testing.assert_array_equal(read_labels(write(tmp_path, "label\n0\n1\n"), data=data),
                                  [0, 1])  # no stamps: nothing to compare
    local = read_table(write(tmp_path, "timestamp,a\n01/02/2026 10:00,1\n01/02/2026 10:01,2\n",
                             "local.csv"))  # no epoch or RFC 3339 time: which day is not known
    np.testing.assert_array_equal(read_labels(same, data=local), [0, 1])


def test_a_label_stamped_a_millisecond_off_its_row_is_refused(tmp_path):
    """Stamps were compared to within 1 ms: at 1 kHz a label stamped for the next row passed
    (found by tests/data/test_labels_spec_fuzz.py). They are compared to the microsecond, the
    finest an RFC 3339 stamp of a data file writes; epoch ns and RFC 3339 of one time pass."""
    data = read_table(write(tmp_path, "timestamp,a\n2026-01-01T00:00:00.000Z,1\n"
                                      "2026-01-01T00:00:00.001Z,2\n", "d.csv"))
    off = write(tmp_path, "timestamp,label\n2026-01-01T00:00:00.001Z,0\n"
                          "2026-01-01T00:00:00.002Z,1\n", "off.csv")
    with pytest.raises(DataError, match=r"off.csv: line 2: timestamp '2026-01-01T00:00:00.001Z'"):
        read_labels(off, data=data)
    same = write(tmp_path, "timestamp,label\n1767225600000000000,0\n1767225600001000,1\n",
                 "same.csv")
    np.testing.assert_array_equal(read_labels(same, data=data), [0, 1])


def test_a_blank_line_among_labels_is_named_when_one_is_missing(tmp_path):
    with pytest.raises(DataError, match=r"expected 4 labels \(one per data row\), got 3 "
                                        r"\(line 3 is blank: a label left out\?\)$"):
        read_labels(write(tmp_path, "0\n1\n\n0\n"), rows=4)
    with pytest.raises(DataError, match=r"expected 5 labels \(one per data row\), got 4$"):
        read_labels(write(tmp_path, "0\n1\n1\n0\n"), rows=5)


def test_parquet_nanosecond_stamps_and_a_naive_local_hour_going_back(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from anomaly_gan.data.readers import table_times

    p = tmp_path / "ns.parquet"
    ns = pa.array([1767225600_000000001, 1767225660_000000999], pa.timestamp("ns", tz="UTC"))
    pq.write_table(pa.table({"timestamp": ns, "x": [1.0, 2.0]}), p)
    assert table_times(read_table(p)).tolist() == [1767225600.0, 1767225660.0]
    # 02:30 local, then 02:10 local in the hour repeated when clocks went back
    back = read_table(write(tmp_path, "timestamp,a\n2026-10-25T02:30:00,1\n"
                                      "2026-10-25T02:10:00,2\n2026-10-25T02:20:00,3\n"))
    with pytest.raises(DataError, match=r"sort it by time\): 2 of 3 rows go back; a stamp "
                                        r"without an offset is read as UTC: local times"):
        table_times(back)


def test_the_reorder_note_does_not_bound_a_row_kept_far_behind_the_newest(tmp_path):
    """With reorder_tolerance_seconds 10 a row 50 s behind the newest is still windowed (no
    row after it was released yet), as serve keeps it; the note said such rows were 'out of
    time order by at most' the tolerance."""
    from anomaly_gan.data.readers import table_times, time_notes, without_late_rows

    path = tmp_path / "m.csv"
    path.write_text("ts,a\n0,1\n100,2\n50,3\n110,4\n")
    table = read_table(path, "ts")
    times = table_times(table, 10.0)
    assert without_late_rows(table, times, 10.0)[1].tolist() == [0, 2, 1, 3]
    notes = time_notes(table, times, tolerance=10.0)
    moved = [n for n in notes if "out of time order" in n]
    assert len(moved) == 1 and "by at most" not in moved[0]
    assert "1 row(s) out of time order but stamped after every row windowed" in moved[0]


def test_a_parquet_file_of_stamps_alone_or_with_a_null_stamp_is_one_line(tmp_path):
    """A Parquet file holding only its time column ended in numpy's ValueError traceback
    ('need at least one array to concatenate'); a null stamp was refused as the text
    'None'. The CSV reader's words for both."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    stamps = pa.array([1767225600_000000, None], pa.timestamp("us", tz="UTC"))
    only = tmp_path / "only.parquet"
    pq.write_table(pa.table({"timestamp": stamps}), only)
    with pytest.raises(DataError, match=r"only\.parquet: no feature columns \(only a "
                                        r"timestamp column\)$"):
        read_table(only)
    null = tmp_path / "null.parquet"
    pq.write_table(pa.table({"timestamp": stamps, "x": [1.0, 2.0]}), null)
    with pytest.raises(DataError, match=r"null\.parquet: row 2, column 'timestamp': expected "
                                        r"a timestamp, got null$"):
        read_table(null)


@pytest.mark.parametrize("seconds", [2**40, -(2**40), 2**53, -(2**53)])
def test_a_parquet_stamp_outside_the_years_datetime_holds_is_one_line(tmp_path, seconds):
    """A timestamp column holding a sentinel past year 9999 (or before year 1) ended
    score, evaluate, plot and train in pyarrow's OverflowError traceback (exit 1); one past
    the microseconds an int64 holds (2**53 s) in its ArrowInvalid when the stamps were made
    column-wise."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "far.parquet"
    stamps = pa.array([1767225600_000, 1767225660_000, seconds * 1000], pa.timestamp("ms"))
    pq.write_table(pa.table({"timestamp": stamps, "x": [1.0, 2.0, 3.0]}), p)
    with pytest.raises(DataError, match=rf"far\.parquet: row 3, column 'timestamp': expected "
                                        rf"a timestamp, got {seconds * 1000} \(timestamp\[ms\]\), a "
                                        rf"time outside the years 1 to 9999$"):
        read_table(p)


@pytest.mark.parametrize("unit", ["us", "ns"])
@pytest.mark.parametrize(("zone", "written"), [
    ("Z", "+00:00"), ("utc", "+00:00"), ("UTC", "+00:00"), ("Etc/UTC", "+00:00"),
    ("-00:00", "+00:00"), ("+0530", "+05:30"), ("-0800", "-08:00"), ("+05", "+05:00"),
])
def test_a_parquet_stamp_of_a_zone_written_otherwise_reads_as_its_time(tmp_path, zone,
                                                                       written, unit):
    """A timestamp column of zone Z, utc, +0530 or +05 (spellings pyarrow makes no Python
    value of) was refused row 1 as 'a time outside the years 1 to 9999'; its stamps read as
    those of UTC or +05:30 do."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    from anomaly_gan.data.readers import table_times

    p = tmp_path / "z.parquet"
    seconds = [1709294400, 1709294460]  # 2024-03-01 12:00 and 12:01 UTC
    stamps = pa.array([s * (10**9 if unit == "ns" else 10**6) for s in seconds],
                      pa.timestamp(unit, tz=zone))
    pq.write_table(pa.table({"timestamp": stamps, "x": [1.0, 2.0]}), p)
    table = read_table(p)
    same = pa.array(seconds, pa.timestamp("s", tz=written)).to_pylist()
    assert list(table.timestamps) == [str(t) for t in same]
    assert table.timestamps[0].endswith(written)
    assert table_times(table).tolist() == [1709294400.0, 1709294460.0]


@pytest.mark.parametrize(("zone", "expected"), [
    ("Mars/Olympus", "a time zone name such as Europe/Berlin"),
    ("UTC+3", "a time zone name such as Europe/Berlin"),
    ("+5:30", "an offset such as \\+08:00"),
    ("+24:00", "an offset under 24 hours"),
])
def test_a_parquet_stamp_of_a_zone_that_is_none_is_one_line_naming_it(tmp_path, zone,
                                                                       expected):
    """A zone Python knows no time of was refused row 1 as 'a time outside the years 1 to
    9999' (+24:00 was read, and its texts, which no time has, refused row by row)."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "z.parquet"
    stamps = pa.array([1709294400_000000, 1709294460_000000], pa.timestamp("us", tz=zone))
    pq.write_table(pa.table({"ts": stamps, "x": [1.0, 2.0]}), p)
    with pytest.raises(DataError, match=rf"z\.parquet: column 'ts': time zone: expected "
                                        rf".*{expected}.*, got '{re.escape(zone)}'$") as caught:
        read_table(p)
    assert "years" not in str(caught.value)


def test_a_parquet_stamp_of_a_zone_written_otherwise_outside_the_years_names_its_row(tmp_path):
    """Only a stamp out of Python's years is refused as one: row 2 here, of zone +0530."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "far.parquet"
    stamps = pa.array([1709294400_000, 2**40 * 1000, 1709294460_000],
                      pa.timestamp("ms", tz="+0530"))
    pq.write_table(pa.table({"timestamp": stamps, "x": [1.0, 2.0, 3.0]}), p)
    with pytest.raises(DataError, match=r"far\.parquet: row 2, column 'timestamp': expected "
                                        r"a timestamp, got 1099511627776000 "
                                        r"\(timestamp\[ms, tz=\+0530\]\), a time outside the "
                                        r"years 1 to 9999$"):
        read_table(p)


def test_a_parquet_true_false_column_is_refused_as_in_a_csv_but_labels_read_it(tmp_path):
    """A bool column of a Parquet file was read as 1/0 and scored, where a CSV's True/False
    is refused: serve dead-letters an event whose value is true or false. A labels file's
    bool column is its 0/1 labels, as in a CSV."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "flags.parquet"
    pq.write_table(pa.table({"cpu": [0.5, 0.6], "is_leader": [True, False]}), p)
    with pytest.raises(DataError, match=r"flags\.parquet: column 'is_leader': expected numbers, "
                                        r"got type bool \(a true/false column\? write it as 1/0: "
                                        r"features are numbers, as serve reads them\)$"):
        read_table(p)
    labels = tmp_path / "labels.parquet"
    pq.write_table(pa.table({"label": [True, False]}), labels)
    assert read_labels(labels, rows=2).tolist() == [1, 0]


def test_a_large_csv_is_read_row_by_row_not_held_as_text(tmp_path):
    """A month of readings is read into the (rows, features) array as the file is read:
    a list of every row's cells was held first, about ten times the numbers (2 GB for
    1.5 million rows of 16 features, read into 192 MB). Python's own allocations are
    counted (tracemalloc), not the process's memory: the same on every machine."""
    import tracemalloc

    rows, features = 40_000, 8
    values = np.random.default_rng(0).normal(size=(rows, features)).round(6)
    path = tmp_path / "month.csv"
    np.savetxt(path, values, delimiter=",", fmt="%.6f",
               header=",".join(f"m{i}" for i in range(features)), comments="")
    tracemalloc.start()
    try:
        table = read_table(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(table.values, values)
    assert table.lines.tolist() == list(range(2, rows + 2))
    assert peak < 6 * values.nbytes, f"{peak / values.nbytes:.1f} times the numbers held"


def test_a_damaged_file_names_its_damage_before_a_row_it_garbled(tmp_path):
    """Rows are read as the file is read, yet a fault further on (bytes that are not UTF-8
    here; a corrupt compressed stream likewise) is the error given, as when the whole file
    was read first: a garbled row before it is its symptom."""
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n1,2\n3\n4,5\n\xff\xfe,6\n")
    with pytest.raises(DataError, match=r"line 5: not a readable CSV file: .* expected UTF-8"):
        read_table(path)


def test_a_tables_stamps_and_lines_are_held_in_arrays_not_an_object_per_row(tmp_path):
    """Each row's timestamp and file line were a Python str and int in tuples: 2 million
    rows of 3 features held 206 MB of them beside 48 MB of values (score's peak memory
    while reading 300 MB). Now one buffer of the stamps' text and int64 arrays: 26 bytes a
    row for a 10-digit epoch stamp (its text and where it ends) and its line, beside the 24
    of the numbers; 130 before (tracemalloc: Python's and numpy's allocations, the same on
    every machine)."""
    import tracemalloc

    rows = 40_000
    values = np.random.default_rng(0).normal(size=(rows, 3)).round(4)
    path = tmp_path / "stamped.csv"
    with path.open("w") as fh:
        fh.write("timestamp,a,b,c\n")
        fh.writelines(f"{1767225600 + i},{a},{b},{c}\n" for i, (a, b, c) in enumerate(values))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        table = read_table(path)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(table.values, values)
    assert table.timestamps[0] == "1767225600" and table.timestamps[-1] == str(1767225600 + rows - 1)
    assert list(table.timestamps) == [str(1767225600 + i) for i in range(rows)]
    assert table.where(rows - 1) == f"line {rows + 1}"
    assert held < 2.5 * values.nbytes, f"{held / values.nbytes:.1f} times the numbers held"
    # rows left out (late ones) keep their stamps and lines
    kept = table.with_rows(np.array([0, 1, 5, 6, 7, rows - 1]))
    assert list(kept.timestamps) == [str(1767225600 + i) for i in (0, 1, 5, 6, 7, rows - 1)]
    assert kept.where(5) == f"line {rows + 1}" and kept.rows == 6


def test_reading_a_csv_reports_its_rows_and_bytes_as_it_goes(tmp_path):
    """read_table(progress=...) is told the rows and bytes read after each block of rows:
    score's progress lines while a long file is read come from it."""
    path = tmp_path / "long.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("timestamp,température\n")
        fh.writelines(f"{i},{i % 7}.5\n" for i in range(20_000))
    calls: list[tuple[int, int]] = []
    table = read_table(path, progress=lambda rows, read: calls.append((rows, read)))
    assert table.rows == 20_000
    assert [rows for rows, _ in calls] == [8192, 16384, 20_000]
    assert [read for _, read in calls] == sorted(read for _, read in calls)
    assert calls[-1][1] == path.stat().st_size  # every byte, the header's é too


def test_parquet_says_how_far_it_has_read_after_each_row_group(tmp_path):
    """A Parquet file was read whole without a progress call (a CSV file calls after each
    block of rows): 2 million rows were read for 19 s without a word. Now after each row
    group, with the bytes of the row groups read."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "groups.parquet"
    pq.write_table(pa.table({"timestamp": [f"t{i}" for i in range(250)],
                             "x": np.arange(250.0)}), p, row_group_size=100)
    calls = []
    t = read_table(p, progress=lambda rows, read: calls.append((rows, read)))
    assert [rows for rows, _ in calls] == [100, 200, 250]
    sizes = [read for _, read in calls]
    assert 0 < sizes[0] < sizes[1] < sizes[2] < p.stat().st_size
    assert t.values[:, 0].tolist() == list(range(250)) and t.timestamps[249] == "t249"


def test_parquet_stamps_read_as_python_writes_their_values(tmp_path):
    """The stamps are made column-wise (a datetime and a str per row took 19 s of 2
    million), each still the text str() gives of pyarrow's Python value, whatever the
    type, unit, zone or row group; those of a named zone or a float row by row."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    micros = rng.integers(-62 * 10**15, 250 * 10**15, 300)
    micros[::2] //= 10**6
    micros[::2] *= 10**6  # whole seconds: no fraction written
    micros[:4] = [-62135596800 * 10**6, 253402300799999999, 0, -1]  # year 1, 9999, 1970
    columns = [pa.array(micros // 1000, pa.timestamp("ms", tz=tz))
               for tz in (None, "UTC", "+05:30", "-03:00", "-00:00", "Europe/Berlin")]
    columns += [pa.array(micros[4:] * 1000 + 7, pa.timestamp("ns", tz="UTC")),
                pa.array(micros, pa.timestamp("us")),
                pa.array([f"2026-01-01T00:00:{i % 60:02d}Zé" for i in range(300)]),
                pa.array([str(i) for i in range(300)], pa.large_string()),
                pa.array(micros // 10**6, pa.int64()), pa.array(rng.normal(size=300))]
    for k, col in enumerate(columns):
        p = tmp_path / f"{k}.parquet"
        pq.write_table(pa.table({"timestamp": col, "x": np.zeros(len(col))}), p,
                       row_group_size=128)
        if pa.types.is_timestamp(col.type) and col.type.unit == "ns":
            col = col.cast(pa.timestamp("us", tz=col.type.tz), safe=False)
        try:
            expected = [str(v) for v in col.to_pylist()]
        except (OverflowError, ValueError):  # year 1 or 9999 shifted by the offset
            with pytest.raises(DataError, match="a time outside the years 1 to 9999"):
                read_table(p)
            continue
        assert list(read_table(p).timestamps) == expected, col.type


def test_usual_stamps_are_read_column_wise_as_serve_reads_them():
    """table_times parsed each stamp in Python: 2 million ISO stamps took 11 to 23 s after
    the file was read. The usual shapes are now read column-wise, each to the very float
    serve's parser gives; anything else (and any such stamp that is no time, and epoch
    digits over 2**53, which a float does not hold) row by row."""
    import random
    from datetime import UTC, datetime, timedelta, timezone

    from anomaly_gan.data.readers import Table, Texts, _usual_stamps, table_times
    from anomaly_gan.stream.events import parse_timestamp_text

    rng = random.Random(7)
    usual = []
    for _ in range(4000):
        t = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
            seconds=rng.randrange(9_000_000_000), microseconds=rng.randrange(10**6))
        zone = rng.choice(["", "Z", "+"])
        if zone == "+":  # at any offset under a day, either side of UTC
            t = t.astimezone(timezone(timedelta(minutes=rng.randrange(-1439, 1440))))
        text = t.isoformat(sep=rng.choice("T "), timespec=rng.choice(
            ["seconds", "milliseconds", "microseconds"]))[:-6 if zone != "+" else None]
        usual.append(text + ("Z" if zone == "Z" else ""))
        # epoch s, ms, us, ns up to 2**53, which a float holds exactly
        usual.append(str(rng.randrange(min(10 ** rng.randrange(1, 19), 2**53 + 1))))
    other = ["2016-12-31T23:59:60Z", "2026-01-01T00:00:00.5Z", "2026-01-01T00:00:00,123Z",
             "2026-01-01x00:00:00", " 1767225600", "1767225600.5", "1e9", "+5",
             "1767225600000000000", "2026-01-01T00:00:00+00:00 ", "9007199254740993",
             "100000000000000001", "999999999999999999",  # over 2**53: parsed exactly
             "2300-01-01T00:00:00.000001Z"]  # over 2**53 microseconds: left to the parse
    no_time = ["", "2026-01-01T00:00:00z", "2026-02-29T00:00:00Z", "2024-04-31 00:00:00",
               "2026-13-01T00:00:00Z", "2026-01-01T24:00:00", "2026-01-01T00:60:00Z",
               "0000-01-01T00:00:00", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00+00:01",
               "2026-01-01T00:00:00+24:00", "9999-12-31T23:59:59-00:01", "2026-01-0lT00:00:00Z"]
    texts = usual + other + no_time
    expected = np.array([np.nan if (t := parse_timestamp_text(s)) is None else t
                         for s in texts])
    read = _usual_stamps(Texts(texts))
    assert np.flatnonzero(np.isnan(read)).tolist() == list(range(len(usual), len(texts)))
    assert np.array_equal(read[:len(usual)].view(np.int64), expected[:len(usual)].view(np.int64))
    valid = usual + other
    assert all(parse_timestamp_text(s) is not None for s in valid)
    times = table_times(Table("f.csv", ("a",), np.zeros((len(valid), 1)), valid),
                        tolerance=1e12)
    assert np.array_equal(times.view(np.int64), expected[:len(valid)].view(np.int64))


@pytest.mark.parametrize("first", ["2026-02-30T00:00:00Z", "yesterday", "1969-12-31 23:59:59"])
def test_the_first_stamp_that_is_no_time_is_named(tmp_path, first):
    """Stamps are read column-wise, those of an odd shape row by row: the line named is
    still the first whose stamp is no time, whatever its shape."""
    from anomaly_gan.data.readers import table_times

    rows = [f"2026-01-01T00:{m:02d}:00Z" for m in range(8)]
    rows[3], rows[6] = first, "2026-01-01T00:00:00.5Z 1"
    t = read_table(write(tmp_path, "timestamp,a\n" + "".join(f"{s},{i}\n"
                                                              for i, s in enumerate(rows))))
    with pytest.raises(DataError) as caught:
        table_times(t)
    assert str(caught.value) == (f"{t.path}: line 5: timestamp {first!r} is not RFC 3339 "
                                 f"(2026-01-01T00:00:00Z) or epoch s, ms, us or ns")


def _pandas_parquet(path, columns, index):
    """A Parquet file as pandas' DataFrame.to_parquet writes one whose row index has no
    name and is no plain range (after a filter, or a DatetimeIndex): the index is a column
    ``__index_level_0__``, listed in the schema's ``pandas`` metadata (written by hand:
    pandas is not a dependency)."""
    import json

    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    meta = {"index_columns": ["__index_level_0__"], "column_indexes": [],
            "columns": [{"name": None if n == "__index_level_0__" else n, "field_name": n,
                         "pandas_type": "float64", "numpy_type": "float64", "metadata": None}
                        for n in [*columns, "__index_level_0__"]],
            "creator": {"library": "pyarrow", "version": pa.__version__},
            "pandas_version": "2.2.3"}
    table = pa.table({**columns, "__index_level_0__": index})
    pq.write_table(table.replace_schema_metadata({"pandas": json.dumps(meta)}), path)
    return path


def test_pandas_unnamed_row_index_in_a_parquet_file_is_no_feature(tmp_path):
    """pandas writes a filtered frame's row numbers as a column ``__index_level_0__``: it
    was read as a fourth feature (train: 'features': 4, with a note to list it in
    data.counters, and every later file scored as a drift of it); an unnamed DatetimeIndex
    was read as a feature of epoch nanoseconds (1.77e18), the file as having no times."""
    pa = pytest.importorskip("pyarrow")
    rows = _pandas_parquet(tmp_path / "rows.parquet",
                           {"cpu": [0.5, 0.6, 0.7], "mem": [1.0, 2.0, 3.0]},
                           pa.array([3, 8, 12], pa.int64()))
    t = read_table(rows)
    assert t.feature_names == ("cpu", "mem") and t.values.tolist() == [
        [0.5, 1.0], [0.6, 2.0], [0.7, 3.0]] and t.timestamps is None
    assert check_features(read_table(rows, only=("mem", "cpu")), ("mem", "cpu")).shape == (3, 2)
    times = _pandas_parquet(tmp_path / "times.parquet", {"cpu": [0.5, 0.6]},
                            pa.array([1767225600_000000000, 1767225660_000000000],
                                     pa.timestamp("ns")))
    t = read_table(times)
    assert t.feature_names == ("cpu",) and list(t.timestamps) == [
        "2026-01-01 00:00:00", "2026-01-01 00:01:00"]


def test_a_parquet_time_column_is_no_feature(tmp_path):
    """A Parquet timestamp (or date) column under a name that is not a time column's was
    read as numbers, its epoch count: train learnt 'event_time' as a feature of values
    1.77e15 (µs). The CSV reader's refusal, with its hint."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    stamps = pa.array([1767225600_000000, 1767225660_000000], pa.timestamp("us", tz="UTC"))
    one = tmp_path / "one.parquet"
    pq.write_table(pa.table({"event_time": stamps, "cpu": [0.5, 0.6]}), one)
    with pytest.raises(DataError, match=r"one\.parquet: column 'event_time': expected numbers, "
                                        r"got type timestamp\[us, tz=UTC\] \(a time column\? "
                                        r"call it 'timestamp', or train with "
                                        r"data.timestamp_column: 'event_time'\)$"):
        read_table(one)
    two = tmp_path / "two.parquet"
    pq.write_table(pa.table({"timestamp": stamps, "cpu": [0.5, 0.6],
                             "day": pa.array([20454, 20454], pa.date32())}), two)
    with pytest.raises(DataError, match=r"two\.parquet: column 'day': expected numbers, got "
                                        r"type date32\[day\] \(a second time column beside "
                                        r"'timestamp'\? features are numbers: leave it out "
                                        r"of the file\)$"):
        read_table(two)


@pytest.mark.parametrize("sep, what", [(";", "';'"), ("\t", "tab")])
def test_a_file_of_another_separator_is_named_so_by_score(tmp_path, sep, what):
    """score, evaluate and plot refused a ';'-separated file (as German Excel writes it) as
    'missing columns temp, rpm, flow; unexpected columns timestamp;temp;rpm;flow', where
    train's line said the file looks ';'-separated."""
    p = tmp_path / "semi.csv"
    p.write_text(sep.join(["timestamp", "temp", "rpm"]) + "\n"
                 + sep.join(["2026-01-01T00:00:00Z", "1.5", "2"]) + "\n")
    # score reads only the model's features (train's reader says it at the first cell)
    with pytest.raises(DataError, match=rf"semi\.csv: columns do not match the model's "
                                        rf"features \(missing columns temp, rpm; unexpected "
                                        rf"columns .*\); expected temp, rpm \(the file looks "
                                        rf"{what}-separated; only comma-separated files are "
                                        rf"read\)$"):
        check_features(read_table(p, only=("temp", "rpm")), ("temp", "rpm"))


def test_a_header_of_the_features_in_another_case_says_so(tmp_path):
    """'Temp,RPM,Flow' for a model of temp, rpm, flow was refused as 'missing columns temp,
    rpm, flow; unexpected columns Temp, RPM, Flow', the difference left to the eye."""
    t = read_table(write(tmp_path, "Temp,rpm\n1,2\n"))
    with pytest.raises(DataError, match=r"d\.csv: columns do not match the model's features "
                                        r"\(missing columns temp; unexpected columns Temp\); "
                                        r"expected temp, rpm \(names are matched exactly, case "
                                        r"too: 'Temp' is not 'temp'\)$"):
        check_features(t, ["temp", "rpm"])


def test_a_parquet_column_of_strings_is_read_by_the_csv_cell_rules(tmp_path):
    """A Parquet string column was read by Python's float(): '1_000' as 1000 and Arabic
    digits as 12 (a CSV refuses both), and 'n/a' stopped the file as 'column 'temp':
    expected numbers, got type string', naming no row. Now a CSV cell's rules, by row."""
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    p = tmp_path / "s.parquet"
    pq.write_table(pa.table({"temp": [" 1.5", "n/a", None, "-2e3"],
                             "rpm": pa.array(["1", "2", "3", "4"]).dictionary_encode()}), p)
    values = read_table(p).values
    assert values[:, 1].tolist() == [1, 2, 3, 4] and values[[0, 3], 0].tolist() == [1.5, -2000]
    assert np.isnan(values[[1, 2], 0]).all()
    for cell in ("1_000", "\u0661\u0662", "abc"):
        pq.write_table(pa.table({"temp": ["1", cell]}), p)
        with pytest.raises(DataError, match=rf"s\.parquet: row 2, column 'temp': not a number: "
                                            rf"'{cell}'$"):
            read_table(p)


@pytest.mark.parametrize("cell", ["1,500", "-1,5"])
def test_an_unquoted_thousands_separator_or_decimal_comma_is_named(tmp_path, cell):
    """'1,500' or '-1,5' written unquoted split into two cells: the line said only 'expected
    3 columns, got 4' (a quoted one already had the hint)."""
    p = write(tmp_path, f"timestamp,temp,rpm\n2026-01-01T00:00:00Z,2.5,3\n"
                        f"2026-01-01T00:01:00Z,{cell},3\n")
    with pytest.raises(DataError, match=r"d\.csv: line 3: expected 3 columns, got 4 \(a number "
                                        r"written with a decimal comma or a thousands "
                                        r"separator, unquoted\? write plain numbers: 1\.5, "
                                        r"1234\)$"):
        read_table(p)


def test_epoch_digits_in_a_csv_file_are_the_times_serve_reads_from_the_json_integers(tmp_path):
    """README: a file's stamps are read as serve reads an event's ts. A CSV cell of digits
    was read as a float: 100000000000000001 (ns, 1973) was 1e17 exactly and counted as
    microseconds, the year 5138; above 2**53 (us after 2255, ns) a quarter of the stamps
    were an ulp off the exact quotient serve divides a JSON integer by."""
    from anomaly_gan.data.readers import table_times
    from anomaly_gan.stream.events import EventParser

    stamps = ["100000000000000001",  # ns just over 1e17 (18 digits: a column-wise size)
              "100000000000000008",
              " 100000000000000002",  # a space: row by row on any reading
              "999999999999999999",
              "1767225668021411753",  # float(text) / 1e9 an ulp off
              "9007199254740992",  # 2**53 us: read column-wise
              "9007199254740993"]  # us just past 2**53
    path = write(tmp_path, "timestamp,temp\n" + "".join(f"{s},1\n" for s in stamps))
    parser = EventParser(("temp",), max_event_bytes=1024)
    served = [parser.parse(f'{{"entity": "a", "ts": {s.strip()}, "values": [1]}}'.encode()).ts
              for s in stamps]
    assert served[0] == pytest.approx(1e8)
    assert table_times(read_table(path), tolerance=1e12).tolist() == served


@pytest.mark.parametrize("text, expected", [
    ("\n\n1,x\n2,3\n", r"d\.csv: line 3: mixes names and numbers"),
    ("\r\n2026-01-01T00:00:00Z,5\n", r"d\.csv: line 2: column 1 holds a time"),
    ("\na,,b\n1,2,3\n", r"d\.csv: line 2, column 2: empty column name"),
])
def test_a_first_row_refused_after_blank_lines_is_named_by_its_line(tmp_path, text, expected):
    # Blank lines are skipped but counted; the first row's refusals said "line 1" whatever
    # line it was on (found by tests/data/test_readers_spec_fuzz.py, seed 180)
    with pytest.raises(DataError, match=expected):
        read_table(write(tmp_path, text))


@pytest.mark.parametrize("stamp", ["1_000", "1_767_225_600", "١٧٦٧٢٢٥٦٠٠", "１７６７２２５６００"])
def test_a_stamp_of_underscores_or_non_ascii_digits_is_no_time(tmp_path, stamp):
    # Python's float() reads them; README: 1_000 is not a number, and docs/streaming.md: a
    # CSV cell's epoch is ASCII digits, as serve's string ts, which dead-letters these.
    # Found by tests/data/test_readers_spec_fuzz.py's review of parse_timestamp_text.
    t = read_table(write(tmp_path, f"timestamp,a\n1767225500,1\n{stamp},2\n"))
    with pytest.raises(DataError, match=r"d\.csv: line 3: timestamp .* is not RFC 3339"):
        table_times(t)


def test_a_stamp_with_an_exponent_is_an_epoch_number(tmp_path):
    # pandas writes a float64 epoch column so (1.7672256e+18 ns); serve reads the JSON number
    t = read_table(write(tmp_path, "timestamp,a\n1.7672256e+18,1\n1767225660e0,2\n"))
    assert table_times(t).tolist() == [1767225600.0, 1767225660.0]


def test_a_log_file_after_blank_lines_is_named_at_its_first_line(tmp_path):
    """The refusal of a log file read as a CSV named line 1 whatever the line of its first
    log line: blank lines before it are counted (as every other refusal of the first row
    counts them since 2026-12-07)."""
    data = tmp_path / "app.log"
    data.write_text("\n\n" + "2026-01-01 00:00:00 web INFO cache warmed up\n" * 3)
    with pytest.raises(DataError, match=r": line 3 is a log line, not a CSV header"):
        read_table(data)


@pytest.mark.parametrize("text, separator", [
    # C-MAPSS' train_FD001.txt has 26 columns: four or more numbers a row
    ("1 1 -0.0007 -0.0004 100.0 518.67\n1 2 0.0019 -0.0003 100.0 518.67\n", "space"),
    ("timestamp temp rpm flow\n1767312000 19.9491 1501.6964 9.9487\n", "space"),
    ("timestamp\ttemp\trpm\tflow\n1767312000\t19.9491\t1501.6964\t9.9487\n", "tab"),
])
def test_a_file_of_four_or_more_numbers_a_row_not_comma_separated_is_no_log(
        tmp_path, text, separator):
    """A space- or tab-separated table of four or more columns (C-MAPSS' 26) was refused
    by `train` as 'line 1 is a log line, not a CSV header', advising a logs: config: its
    first two lines read as cells of four or more words, as a log line's text does. A row
    of numbers alone is no log line; the refusal names the separator, as it does for
    fewer columns."""
    path = write(tmp_path, text, "t.txt")
    with pytest.raises(DataError, match=rf"\(the file looks {separator}-separated; only "
                                        r"comma-separated files are read\)$"):
        read_table(path)


def test_a_space_separated_header_of_the_models_names_is_refused_saying_so():
    """`score` of a space-separated file with a header ('timestamp temp rpm flow') said
    'unexpected columns timestamp temp rpm flow' and no more, where a ';'- or tab-separated
    one is told its separator: a space is in many a name, but one whose words are the
    model's missing features is their header run together."""
    table = Table("s.csv", ("timestamp temp rpm flow",), np.zeros((2, 1)))
    with pytest.raises(DataError, match=r"unexpected columns timestamp temp rpm flow\); "
                                        r"expected temp, rpm, flow \(the file looks "
                                        r"space-separated; only comma-separated files are "
                                        r"read\)$"):
        check_features(table, ("temp", "rpm", "flow"))
    named = Table("n.csv", ("flow rate", "temp"), np.zeros((2, 2)))  # a name with a space
    with pytest.raises(DataError, match=r"\(serve.unknown_features: ignore leaves them out"):
        check_features(named, ("temp",))


def test_labels_stamped_in_a_column_named_as_the_datas_time_column_are_compared(tmp_path):
    """A model trained with data.timestamp_column: event_time reads its data's times from
    'event_time'; a labels file with the same column was refused as 'not a number' (its
    column read as labels' numbers), or, its stamps epoch numbers, read without comparing
    them: labels of another stretch scored as the data's."""
    data = read_table(write(tmp_path, "event_time,a\n2026-01-01T00:00:00Z,1\n"
                                      "2026-01-01T00:01:00Z,2\n", "d.csv"), "event_time")
    same = write(tmp_path, "event_time,label\n2026-01-01T00:00:00Z,0\n1767225660,1\n",
                 "same.csv")
    np.testing.assert_array_equal(read_labels(same, data=data), [0, 1])
    other = write(tmp_path, "event_time,label\n1767225600,0\n1767225720,1\n", "other.csv")
    with pytest.raises(DataError, match=r"other.csv: line 3: timestamp '1767225720' is not "
                                        r"that of the data row it labels"):
        read_labels(other, data=data)


def test_a_space_separated_file_of_numbers_is_refused_saying_so(tmp_path):
    """A headerless file of numbers separated by spaces (NASA's C-MAPSS train_FD001.txt)
    had its first row taken for one column name: train said 'column '0.5 12 3': not a
    number' and score 'unexpected columns 0.5 12 3', neither naming the separator, which
    a file separated by tabs or ';' is told."""
    path = write(tmp_path, "0.5 12 3\n0.6 13 3 \n0.7 14 4\n", "s.txt")
    with pytest.raises(DataError, match=r"s\.txt: line 2, column '0\.5 12 3': not a number: "
                                        r"'0\.6 13 3' \(the file looks space-separated; only "
                                        r"comma-separated files are read\)$"):
        read_table(path)
    table = Table("one.txt", ("0.5 12 3",), np.zeros((2, 1)))  # score's reading of it
    with pytest.raises(DataError, match=r"\(the file looks space-separated; only "
                                        r"comma-separated files are read\)$"):
        check_features(table, ("a", "b", "c"))


def _devices(tmp_path, name, rows):
    """A file of devices 7 and 8 (an ``id``-like column of numbers) every 60 s, its
    ``rows`` (device, minute) in file order."""
    return read_table(write(tmp_path, f"timestamp,{name},temp\n" + "".join(
        f"{60 * m},{d},{20 + m % 3}\n" for d, m in rows), f"{name}.csv"))


ENTITY_HINT = ("(an entity column? offline, each file is one entity: split the file by "
               "'device_id' and leave the column out)")


def test_several_entities_in_one_file_by_a_column_of_numbers_are_told(tmp_path):
    """Devices numbered in a column read as a feature: in blocks the file was refused with
    'sort it by time', and sorted (interleaved) it trained with a note on repeated stamps
    only, every window mixing the devices. Both now point at the entity column."""
    from anomaly_gan.data.readers import time_notes

    blocks = _devices(tmp_path, "device_id", [(d, m) for d in (7, 8) for m in range(30)])
    with pytest.raises(DataError) as err:
        table_times(blocks)
    assert str(err.value).startswith(f"{blocks.path}: line 32: timestamp '0' is before line "
                                     f"31's ('1740'): expected rows in time order")
    assert str(err.value).endswith(f"29 of 60 rows go back {ENTITY_HINT}")
    mixed = _devices(tmp_path, "device_id", [(d, m) for m in range(30) for d in (7, 8)])
    note = (f"note: {mixed.path}: 30 row(s) repeat the timestamp of the row before (first "
            f"line 3, '0'): windows read them as consecutive readings {ENTITY_HINT}")
    assert time_notes(mixed, table_times(mixed)) == [note]


def test_a_column_named_like_an_entity_that_holds_one_value_is_no_hint(tmp_path):
    """The same stamps repeated, or going back, where the column keeps its value (a row
    counter named id, one device's file): no word of an entity column."""
    from anomaly_gan.data.readers import time_notes

    one = _devices(tmp_path, "device_id", [(7, m // 2) for m in range(60)])
    assert time_notes(one, table_times(one))[0].endswith("as consecutive readings")
    back = _devices(tmp_path, "device_id", [(7, m % 30) for m in range(60)])
    with pytest.raises(DataError, match=r"29 of 60 rows go back$"):
        table_times(back)
