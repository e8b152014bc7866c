"""Offline readers (the I/O edge): CSV with or without a header, Parquet, label files.

Every problem is a :class:`DataError` with one line naming the file, the line and the
column, e.g. ``data.csv: line 7, column 'rpm': not a number: '12 rpm'``.

A cell that is empty or one of the usual spellings of a missing value (:data:`MISSING_CELLS`:
``NA``, ``N/A``, ``null``, ``None``, ``#N/A``, any case; R, SQL and spreadsheet exports
write them) is missing, like ``nan``: ``data.nan_policy`` (or ``--nan-policy``) rejects or
fills it.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import numpy as np

from anomaly_gan.compressed import HEAD_BYTES, UNPACK, compression_of
from anomaly_gan.data.counters import coarse_counters
from anomaly_gan.data.windows import release_order
from anomaly_gan.errors import DataError, brief, clip, duration, name_list
from anomaly_gan.files import open_input, whole_characters

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "GAP_FACTOR",
    "Table",
    "Texts",
    "align_tables",
    "apply_nan_policy",
    "check_features",
    "coarse_counter_note",
    "coarse_counter_notes",
    "csv_records",
    "csv_rows",
    "fill_note",
    "lags",
    "late_rows",
    "log_lines_kind",
    "log_text",
    "packed_format",
    "read_labels",
    "read_table",
    "table_times",
    "time_notes",
    "without_late_rows",
]

TIMESTAMP_NAMES = ("timestamp", "ts", "time", "datetime", "date")


class Texts(Sequence[str]):
    """Short texts, one per row (a file's timestamps), held in one UTF-8 buffer with the
    offset where each ends. A tuple of str held a Python object and a pointer per row, 67
    bytes for an epoch stamp of 10 characters (134 MB for 2 million rows): this holds its
    10 bytes and 8. Reads as the tuple did: by index, in order, equal to a sequence of the
    same texts.

    >>> t = Texts(["2026-01-01T00:00:00Z", "1767225660", "été"])
    >>> len(t), t[1], t[-1], list(t.take(np.array([2, 0])))
    (3, '1767225660', 'été', ['été', '2026-01-01T00:00:00Z'])
    >>> t == ("2026-01-01T00:00:00Z", "1767225660", "été"), t == ("x",)
    (True, False)
    """

    __slots__ = ("_data", "_ends")
    __hash__ = None  # type: ignore[assignment]  # equal to a tuple, but not hashable

    def __init__(self, texts: Iterable[str] = ()) -> None:
        texts = list(texts)
        joined = "".join(texts)
        if joined.isascii():  # the usual stamp: one encode for them all
            data = joined.encode("ascii")
            sizes = np.fromiter(map(len, texts), np.int64, len(texts))
        else:
            encoded = [text.encode("utf-8", "surrogatepass") for text in texts]
            data = b"".join(encoded)
            sizes = np.fromiter(map(len, encoded), np.int64, len(encoded))
        self._data = data
        self._ends = np.cumsum(sizes)

    @classmethod
    def _of(cls, data: bytes, ends: np.ndarray) -> Texts:
        out = cls.__new__(cls)
        out._data, out._ends = data, ends
        return out

    @classmethod
    def joined(cls, parts: Sequence[Texts]) -> Texts:
        """The texts of ``parts``, one after the other (blocks of rows read in turn)."""
        ends = np.empty(sum(len(p) for p in parts), dtype=np.int64)
        at = shift = 0
        for part in parts:
            ends[at:at + len(part)] = part._ends + shift
            at += len(part)
            shift += len(part._data)
        return cls._of(b"".join(p._data for p in parts), ends)

    def __len__(self) -> int:
        return len(self._ends)

    def _span(self, i: int) -> tuple[int, int]:
        end = int(self._ends[i])
        return (int(self._ends[i - 1]) if i > 0 else 0), end

    def __getitem__(self, i):  # type: ignore[no-untyped-def]  # int -> str, slice -> Texts
        if isinstance(i, slice):
            return self.take(np.arange(len(self))[i])
        i = range(len(self))[i]  # a negative index from the end; IndexError past it
        start, end = self._span(i)
        return self._data[start:end].decode("utf-8", "surrogatepass")

    def __iter__(self) -> Iterator[str]:
        data, start = self._data, 0
        for k in range(0, len(self._ends), _BLOCK_ROWS):  # Python ints a block at a time
            for end in self._ends[k:k + _BLOCK_ROWS].tolist():
                yield data[start:end].decode("utf-8", "surrogatepass")
                start = end

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Texts):
            return self._data == other._data and np.array_equal(self._ends, other._ends)
        if isinstance(other, (tuple, list)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        shown = list(itertools.islice(self, 3))
        more = f", ... {len(self)} texts" if len(self) > len(shown) else ""
        return f"Texts({shown!r}{more})"

    def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
        return np.array(list(self), dtype=dtype)  # type: ignore[call-overload]

    def take(self, rows: np.ndarray) -> Texts:
        """The texts at the indices ``rows``, in that order. Copied a run of consecutive
        rows at a time: a few late rows left out of a file cut it into a few runs."""
        rows = np.asarray(rows, dtype=np.int64)
        if not len(rows):
            return Texts()
        ends = self._ends
        starts = np.concatenate([[0], ends[:-1]])
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        firsts = rows[np.concatenate([[0], breaks])].tolist()
        lasts = rows[np.concatenate([breaks - 1, [len(rows) - 1]])].tolist()
        data = b"".join(self._data[int(starts[a]):int(ends[b])]
                        for a, b in zip(firsts, lasts, strict=True))
        return Texts._of(data, np.cumsum(ends[rows] - starts[rows]))


def _texts(texts: Sequence[str]) -> Texts:
    return texts if isinstance(texts, Texts) else Texts(texts)


@dataclass(frozen=True)
class Table:
    """Rows of numeric features, in file order.

    Each row's timestamp, file line and row number are held compactly (:class:`Texts`,
    int64 arrays; sequences given are converted): as tuples they held more than the
    numbers, a Python object per row each (2 million rows of 3 features: 206 MB beside
    48 MB of values).
    """

    path: str
    feature_names: tuple[str, ...]
    values: np.ndarray  # (T, F) float64
    timestamps: Sequence[str] | None = None  # held as Texts
    has_header: bool = True
    lines: np.ndarray | None = None  # file line of each row (CSV); None: row r is r + 1
    # Without lines (Parquet): each row's index in the file, where rows were left out
    row_numbers: np.ndarray | None = None
    # The entity whose series the rows are (an OTLP metric file's, data/otlp_files.py);
    # None: the file is one entity
    entity: str | None = None
    # Columns of the header not read: not features of the model (read_table's ``only``)
    left_out: tuple[str, ...] = ()
    # (T, F) float64: each value's series start time, NaN where none (an OTLP metric file's
    # cumulative sums' startTimeUnixNano, which data.counters reads: data/counters.py);
    # None: no start times (CSV, Parquet)
    starts: np.ndarray | None = None
    # (T,) int64: how many times serve's assembler evicted the entity before each row (an
    # OTLP metric file with more entities interleaved than serve.windows.max_entities,
    # data/otlp_files.py): where it goes up serve starts the entity's window afresh and
    # drops the rows it held for reordering (:func:`~anomaly_gan.data.windows.release_order`);
    # ``evicted_at_end``: evicted after the last row too. None: never evicted
    evictions: np.ndarray | None = None
    evicted_at_end: bool = False
    # The header's name of the column the timestamps were read from (CSV, Parquet); None:
    # no such column (no timestamps, or an OTLP metric file's slots). A labels file's
    # column of that name holds its stamps (read_labels)
    time_column: str | None = None

    def __post_init__(self) -> None:
        if self.timestamps is not None:
            object.__setattr__(self, "timestamps", _texts(self.timestamps))
        for name in ("lines", "row_numbers", "evictions"):
            numbers = getattr(self, name)
            if numbers is not None:
                object.__setattr__(self, name, np.asarray(numbers, dtype=np.int64))

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    def where(self, row: int) -> str:
        """``line N`` of the file for a row (CSV), else ``row N`` (1-based)."""
        if self.lines is not None:
            return f"line {self.lines[row]}"
        return f"row {(self.row_numbers[row] if self.row_numbers is not None else row) + 1}"

    def column(self, col: int) -> str:
        """A column as an error message names it: its quoted name, or its 1-based number."""
        return brief(self.feature_names[col]) if self.has_header else str(col + 1)

    def with_columns(self, feature_names: Sequence[str], values: np.ndarray) -> Table:
        """The same rows with columns selected or reordered (e.g. into a model's order)."""
        starts = self.starts
        if starts is not None:  # the same columns, by name
            starts = starts[:, [self.feature_names.index(n) for n in feature_names]]
        return dataclasses.replace(self, feature_names=tuple(feature_names), values=values,
                                   starts=starts)

    def with_rows(self, rows: np.ndarray) -> Table:
        """The rows at the indices ``rows`` (e.g. all but the late ones, in the order
        ``serve`` windows them: :func:`~anomaly_gan.data.windows.release_order`), each still
        named by its line or row in the file.

        >>> t = Table("f.parquet", ("a",), np.arange(4.0).reshape(4, 1), ("0", "9", "5", "10"))
        >>> t.with_rows(np.array([0, 1, 3])).where(2)
        'row 4'
        """
        if len(rows) == self.rows and np.array_equal(rows, np.arange(self.rows)):
            return self  # every row, in order
        at = np.asarray(rows, dtype=np.int64)
        stamps = None if self.timestamps is None else _texts(self.timestamps).take(at)
        lines = None if self.lines is None else self.lines[at]
        numbers = None if lines is not None else (
            at if self.row_numbers is None else self.row_numbers[at])
        return dataclasses.replace(self, values=self.values[rows], timestamps=stamps,
                                   lines=lines, row_numbers=numbers,
                                   starts=None if self.starts is None else self.starts[rows],
                                   evictions=None if self.evictions is None
                                   else self.evictions[at])

    def with_features(self, expected: Sequence[str], unknown_features: str = "reject",
                      say: Callable[[str], None] | None = None) -> Table:
        """The same rows with a model's features, in its order (:func:`check_features`
        says what does not match). ``unknown_features`` is ``serve.unknown_features``:
        with ``ignore`` the columns of a header that are not the model's are left out, as
        ``serve`` leaves out such a name of an event's values, and ``say`` gets a ``note:``
        naming them; a missing feature is refused either way.

        >>> t = Table("f.csv", ("rpm", "site", "temp"), np.array([[1.0, 7.0, 2.0]]))
        >>> t.with_features(["temp", "rpm"], "ignore", print).values
        note: f.csv: column(s) site left out: not features of the model (serve.unknown_features: ignore, as serve leaves them out of an event)
        array([[2., 1.]])
        """
        if unknown_features == "ignore" and self.has_header:
            wanted = set(expected)
            keep = [j for j, name in enumerate(self.feature_names) if name in wanted]
            if len(keep) < len(self.feature_names) or self.left_out:
                if say is not None:
                    unknown = [*self.left_out,
                               *(n for n in self.feature_names if n not in wanted)]
                    say(f"note: {self.path}: column(s) {name_list(unknown)} left out: not "
                        f"features of the model (serve.unknown_features: ignore, as serve "
                        f"leaves them out of an event)")
                known = dataclasses.replace(
                    self, feature_names=tuple(self.feature_names[j] for j in keep),
                    values=self.values[:, keep], left_out=(),
                    starts=None if self.starts is None else self.starts[:, keep])
                return known.with_columns(expected, check_features(known, expected))
        return self.with_columns(expected, check_features(self, expected))


def _number(text: str) -> float | None:
    """A CSV number (digits, sign, fraction, exponent, nan, inf), else None.

    Python's float() also takes ``1_000`` and non-ASCII digits; a CSV cell should not.
    """
    if "_" in text or not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


#: Cell texts read as a missing value (compared lower-cased), besides an empty cell.
MISSING_CELLS = frozenset({"na", "n/a", "null", "none", "#n/a"})


#: Label cells read as 1/0 (compared lower-cased): pandas and SQL exports write booleans so.
BOOLEAN_CELLS = {"true": 1.0, "false": 0.0}


#: The names of a labels file's column, in the order one is picked among several.
LABEL_NAMES = ("label", "is_anomaly", "anomaly")


def _label_number(text: str) -> float | None:
    """A labels file's cell: a CSV number, or ``true``/``false`` (any case) as 1/0."""
    return BOOLEAN_CELLS.get(text.lower(), _number(text))


def _is_missing(text: str) -> bool:
    return not text or text.lower() in MISSING_CELLS


def _is_number(text: str) -> bool:
    return _number(text) is not None


def _hint(name: str, cell: str) -> str:
    """Why a cell may not be a number, when it looks like a known cause.

    >>> _hint("cpu;mem", "0.5;12")
    " (the file looks ';'-separated; only comma-separated files are read)"
    >>> _hint("@timestamp", "2026-01-01T00:00:00Z")
    " (a time column? call it 'timestamp', or train with data.timestamp_column: '@timestamp')"
    >>> _hint("response_time_ms", "12 ms"), _hint("note", "a; b")
    ('', '')
    >>> _hint("temp", "-1,5") == _hint("bytes", "1,234,567") == _hint("temp", "1.234,5")
    True
    >>> _hint("temp", "-1,5")
    ' (a decimal comma or a thousands separator? write plain numbers: 1.5, 1234)'
    >>> _hint("is_leader", "False")
    ' (a true/false column? write it as 1/0: features are numbers, as serve reads them)'
    >>> _hint("b", "3\\n50,1\\n51,2")
    ' (a quote opened in this cell is never closed: the cell runs on over 3 lines)'
    """
    if _DECIMAL_COMMA.fullmatch(cell):  # quoted "1,5" or "1,234", as spreadsheets write
        return " (a decimal comma or a thousands separator? write plain numbers: 1.5, 1234)"
    if cell.lower() in BOOLEAN_CELLS:  # pandas writes a bool column as True/False
        return " (a true/false column? write it as 1/0: features are numbers, as serve reads them)"
    if "\n" in cell:  # `49,"3` swallowed the rest of the file into one cell
        return (f" (a quote opened in this cell is never closed: the cell runs on over "
                f"{cell.count(chr(10)) + 1} lines)")
    separated = _separator_hint(name, cell)
    if separated:
        return separated
    if name and _DATE_OR_TIME.search(cell):
        # score reads the model's data.timestamp_column and takes no --config: a new name
        # for the column is what works for every command
        return (f" (a time column? call it 'timestamp', or train with data.timestamp_column: "
                f"{name!r})")
    if _WORD.fullmatch(cell) and _entity_named(name):
        return _entity_hint(name)
    return ""


def _entity_named(name: str) -> bool:
    """Whether a column's name is one of an entity's (host, device_id, pod_name)."""
    key = name.strip().lower()
    return key in _ENTITY_NAMES or key.endswith(("_id", "_name"))


def _entity_hint(name: str) -> str:
    return (f" (an entity column? offline, each file is one entity: split the file by "
            f"{name!r} and leave the column out)")


def _entity_change_hint(table: Table, row: int, before: int) -> str:
    """:func:`_entity_hint` where rows ``before`` and ``row`` of ``table`` differ in a
    column named like an entity: the rows of several entities in one file, which repeat a
    stamp where they are interleaved and go back at each block where they follow each
    other; else ''. A column of names is refused as text (:func:`_hint`); one of numbers
    (device 7, 8) is read as a feature, so the times are what tell it."""
    if not table.has_header:
        return ""
    for c, name in enumerate(table.feature_names):
        a, b = table.values[before, c], table.values[row, c]
        if _entity_named(name) and math.isfinite(a) and math.isfinite(b) and a != b:
            return _entity_hint(name)
    return ""


def _separator_hint(name: str, cell: str) -> str:
    """:func:`_hint`'s words for a cell (under the header ``name``) of a file separated by
    ';', tabs or spaces (numbers alone), else ''.

    >>> _separator_hint("", "1;0")
    " (the file looks ';'-separated; only comma-separated files are read)"
    >>> _separator_hint("label", "0 or 1"), _separator_hint("0.5 12 3", "0.6  13 3")
    ('', ' (the file looks space-separated; only comma-separated files are read)')
    """
    for sep, what in ((";", "';'"), ("\t", "tab")):
        parts = cell.split(sep)
        if sep in name or (len(parts) > 1 and all(_is_number(p.strip()) for p in parts)):
            return f" (the file looks {what}-separated; only comma-separated files are read)"
    if _spaced_numbers(cell):  # a space is in many a name: numbers alone tell it
        return " (the file looks space-separated; only comma-separated files are read)"
    return ""


def _spaced_numbers(text: str) -> bool:
    """Whether ``text`` is two or more numbers separated by spaces (a row of a
    space-separated file such as NASA's C-MAPSS ``train_FD001.txt``, read as one cell)."""
    parts = text.split()
    return len(parts) > 1 and all(_is_number(p) for p in parts)


# A number with a decimal comma or thousands separators, quoted in a comma-separated
# file: "-1,5", "1,234", "1,234,567", "1.234,5" (a thousands dot beside a decimal comma).
_DECIMAL_COMMA = re.compile(r"[-+]?(?:\d+,\d+|\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?)")
# A name-like cell (web-0, pump_3, eu-west-1a) in a column named like an entity.
_WORD = re.compile(r"[A-Za-z][\w.-]*")
_ENTITY_NAMES = frozenset({"host", "hostname", "node", "pod", "instance", "entity", "service",
                           "device", "server", "machine", "container", "name", "id"})
# A date (2026-01-01, 01/02/2026) or a time of day (16:53, 16:53:23) in a cell.
_DATE_OR_TIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}")
# A time of day alone (00:00, 13:45:07.250), and one inside a stamp.
_TIME_OF_DAY = re.compile(r"\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?: ?[AaPp][Mm])?")
_TIME_OF_DAY_IN = re.compile(r"\d{1,2}:\d{2}")


def _pick_timestamp(header: Sequence[str], wanted: str | None, path: str,
                    named: str | None = None) -> int | None:
    """The time column of ``header``: ``wanted`` (refused where the header lacks it), else
    ``named`` where the header has it, else the first of :data:`TIMESTAMP_NAMES`."""
    if wanted is not None:
        if wanted not in header:
            raise DataError(
                f"{path}: timestamp column {wanted!r} not in header {name_list(header)}"
            )
        return header.index(wanted)
    if named is not None and named in header:
        return header.index(named)
    for i, name in enumerate(header):
        if name.strip().lower() in TIMESTAMP_NAMES:
            return i
    return None


def _is_header(cells: Sequence[str], path: Path,
               number: Callable[[str], float | None] = _number, line: int = 1) -> bool:
    """A first row of names is a header, one of numbers (or empty cells) is data; a row
    mixing both is refused rather than guessed. ``number`` reads a cell (None: a name);
    ``line``: the row's file line (blank lines before it are counted)."""
    filled = [c for c in cells if not _is_missing(c)]
    numeric = [number(c) is not None for c in filled]
    if all(numeric):
        return False
    if not any(numeric) and len(filled) == len(cells):
        return True
    if any(numeric):
        j = next(i for i, c in enumerate(cells) if not _is_missing(c) and number(c) is None)
        k = next(i for i, c in enumerate(cells) if not _is_missing(c) and number(c) is not None)
        if all(_DATE_OR_TIME.search(c) for c, n in zip(filled, numeric) if not n):
            # a headerless export of time,value rows: data.header: names, which the line
            # below offers, would have made the first reading the column names
            raise DataError(
                f"{path}: line {line}: column {j + 1} holds a time ({brief(cells[j])}) beside "
                f"numbers: a file without a header line? Add one, naming the time column "
                f"'timestamp' (a file without a header holds numbers only)")
        raise DataError(
            f"{path}: line {line}: mixes names and numbers (column {j + 1} is {brief(cells[j])}, "
            f"column {k + 1} is {brief(cells[k])}); expected a header of column names or a "
            f"row of numbers (data.header: names reads it as names)"
        )
    j = next(i for i, c in enumerate(cells) if _is_missing(c))
    raise DataError(f"{path}: line {line}, column {j + 1}: "
                    + (f"empty column name in the header{_empty_name_hint(j, len(cells))}"
                       if not cells[j] else
                       f"column name {brief(cells[j])} reads as a missing value; rename it"))


def _empty_name_hint(column: int, width: int) -> str:
    """Why a header cell may be empty: the writer's row index, or a comma ending each line.

    >>> _empty_name_hint(0, 3)[:65]
    " (a row index without a name, as pandas' DataFrame.to_csv writes?"
    >>> _empty_name_hint(2, 3), _empty_name_hint(1, 3)
    (' (a comma at the end of every line? remove it)', '')
    """
    if column == 0 and width > 1:
        # df.to_csv() writes the index first, named '' unless the index has a name
        return (" (a row index without a name, as pandas' DataFrame.to_csv writes? write the "
                "file with index=False, or name the column 'timestamp' if it holds times)")
    if column == width - 1:
        return " (a comma at the end of every line? remove it)"
    return ""


def csv_rows(path: Path, opened: IO[bytes] | None = None) -> tuple[list[list[str]], list[int]]:
    """Every record with the file line it starts on (:func:`csv_records`, gathered)."""
    rows: list[list[str]] = []
    lines: list[int] = []
    for row, line in csv_records(path, opened):
        rows.append(row)
        lines.append(line)
    return rows, lines


def csv_records(path: Path, opened: IO[bytes] | None = None,
                read: list[int] | None = None) -> Iterator[tuple[list[str], int]]:
    """Each record with the file line it starts on, as it is read; blank lines are skipped
    (but counted), a row of empty cells (``,,,``) is kept: it is a row of missing values.
    ``opened``: the file ``path`` opened (binary) and not yet read, such as a pipe whose
    first bytes were peeked at (it is read and closed). ``read[0]`` counts the bytes of
    text read so far (decompressed), for a progress line."""
    # utf-8-sig: a byte-order mark (Excel writes one) is not part of the first name.
    # surrogateescape: bytes that are not UTF-8 reach _utf8_lines, which names their line;
    # a decoding error would come from the decoder reading ahead in blocks, at whatever
    # line the CSV reader had got to (line 1 for the first 8 KB).
    text = {"newline": "", "encoding": "utf-8-sig", "errors": "surrogateescape"}
    handle = (open_input(path, **text) if opened is None
              else io.TextIOWrapper(opened, **text))  # type: ignore[arg-type]
    with handle:
        reader = csv.reader(_utf8_lines(handle, path, read))
        start = 1
        try:
            for row in reader:
                if row and not (len(row) == 1 and not row[0].strip()):
                    yield row, start
                start = reader.line_num + 1
        except csv.Error as exc:
            raise DataError(f"{path}: line {start}: not a readable CSV file: {clip(str(exc))}"
                            ) from None


def _utf8_lines(lines: Iterable[str], path: Path,
                read: list[int] | None = None) -> Iterator[str]:
    """The lines of a file opened with ``errors="surrogateescape"``, checked: the first that
    held bytes that are not UTF-8 is a :class:`DataError` naming it. A last line with no
    line end (a file still being written) ends with whole characters
    (:func:`~anomaly_gan.files.whole_characters`). ``read[0]`` counts their bytes."""
    read = [0] if read is None else read
    for n, line in enumerate(lines, start=1):
        if n == 1:
            packed = packed_format(line.encode("utf-8", "surrogateescape"))
            if packed:
                raise DataError(f"{path}: line 1: not a readable CSV file: {packed}")
        if line.isascii():
            read[0] += len(line)
        else:
            raw = line.encode("utf-8", "surrogateescape")
            read[0] += len(raw)
            if not line.endswith(("\n", "\r")):  # cut inside a character: not refused
                raw = whole_characters(raw)
                line = raw.decode("utf-8", "surrogateescape")
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                # Windows tools write UTF-16 (PowerShell 5's Out-File) or a code page such
                # as cp1252 (Excel's plain "CSV" with a degree sign); the codec's words alone
                # did not say what was expected
                what = ("the file is UTF-16 (it starts with a UTF-16 byte-order mark)"
                        if n == 1 and raw[:2] in (b"\xff\xfe", b"\xfe\xff") else clip(str(exc)))
                raise DataError(f"{path}: line {n}: not a readable CSV file: {what}; expected "
                                f"UTF-8 text (save it as UTF-8, e.g. Excel's 'CSV UTF-8')"
                                ) from None
        yield line


#: The first bytes of files that hold text, or a table, packed: where they are, what each
#: is and what to do. Compressed files are read decompressed
#: (:func:`~anomaly_gan.files.open_input`), an archive (or one compressed) is not.
_PACKED = (
    (0, b"PK\x03\x04", ("the file is a zip archive (an Excel workbook?); export the sheet "
                        "as CSV (Excel's 'CSV UTF-8') or unzip it")),
    (257, b"ustar", "the file is a tar archive; extract it (tar -xf) and read its files"),
)
_PARQUET = (0, b"PAR1", "the file is Parquet; name it .parquet to read it as Parquet")


def packed_format(start: bytes, tables: bool = True) -> str:
    r"""What a file whose first line is ``start`` is, when it is an archive or (with
    ``tables``) Parquet, not text, and what to do; else ''. An Excel workbook or a Parquet
    file named .csv was refused with the UTF-8 decoder's words and the advice to save the
    file as UTF-8.

    >>> packed_format(b"PK\x03\x04\x14\x00")[:31]
    'the file is a zip archive (an E'
    >>> packed_format(b"timestamp,cpu\n"), packed_format(b"PAR1,PAR2\r\n")  # names
    ('', '')
    """
    # A byte-order mark is off already: the magic bytes start the line. Text may start
    # so too (a column named PAR1): these formats hold binary bytes at once
    if not _CONTROL.search(start):
        try:
            start.decode("utf-8")
            return ""
        except UnicodeDecodeError:
            pass
    return next((what for at, magic, what in (*_PACKED, *([_PARQUET] if tables else []))
                 if start.startswith(magic, at)), "")


_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Reading(Protocol):
    """``progress(count, bytes)`` of a file being read: its rows and bytes read so far
    (of text, for a CSV file); ``unit`` names what is counted where it is not rows (an
    OpenTelemetry metric file's lines or messages, whose rows are made once all are read)."""

    def __call__(self, count: int, read: int, unit: str = "rows") -> None: ...


def _read_csv(path: Path, timestamp_column: str | None, header_rule: str = "auto",
              number: Callable[[str], float | None] = _number,
              opened: IO[bytes] | None = None, only: Collection[str] | None = None,
              progress: Reading | None = None, time_named: str | None = None) -> Table:
    # Row by row as the file is read: a list of every row's cells first held about ten
    # times the numbers' memory (2 GB for 1.5 million rows of 16 features)
    read = [0]
    records = csv_records(path, opened, read)
    said = None if progress is None else (lambda rows: progress(rows, read[0]))
    start = list(itertools.islice(records, 2))
    try:
        return _csv_table(itertools.chain(start, records), path, timestamp_column,
                          header_rule, number, only, said, time_named)
    except DataError:
        # A fault in reading the file further on (a damaged compressed stream, bytes that
        # are not UTF-8, a CSV quoting error) says more than a row it may have garbled,
        # and is the error the file gave when it was read whole first
        for _ in records:
            pass
        # Read for a model (only: its features), the file's header is checked against
        # them first: a log file is 'columns do not match the model's features'
        if (only is None and len(start) == 2
                and (log := _log_file_hint(path, start[0][0], start[1][0], start[0][1]))):
            raise DataError(log) from None
        raise


def _log_file_hint(path: Path, first: list[str], second: list[str], line_no: int = 1) -> str:
    """The refusal of a CSV read that failed on a log file: its first two lines (the first
    at file line ``line_no``: blank lines before it counted) are log
    lines (JSON objects, or a cell of four or more words in the same column of both: see
    :func:`log_text`), which no CSV header and row are. Read as a CSV, its first line was a
    header and the error
    advised making a whole log line the time column (Loghub's 16 samples, no config).

    >>> _log_file_hint(Path("app.log"), ["2026-01-01 00:00:00 web INFO up"],
    ...                ["2026-01-01 00:00:01 web INFO cache hit"])[:68]
    'app.log: line 1 is a log line, not a CSV header: without a logs: sec'
    >>> _log_file_hint(Path("m.csv"), ["flow rate in litres", "rpm"], ["1,5", "7"])
    ''
    """
    kind = log_lines_kind(first, second)
    if kind == "json" and '"resourceLogs"' in first[0]:  # not json_fields: no field holds one
        how = ("logs.format: otlp_proto or otlp_json, the encoding of the kafka exporter serve "
               "is to read (an OpenTelemetry Collector file exporter's OTLP/JSON lines: either "
               "reads them)")
    elif kind == "json":
        how = "logs.format: json, with logs.json_fields naming its message, ts and entity fields"
    elif kind == "regex":
        how = ("logs.format: regex, with logs.regex naming the parts of its lines: (?P<message>...) "
               "and, where they have them, ts, entity and level, and logs.timestamp_format "
               "for a stamp that is no RFC 3339 or epoch time")
    else:
        return ""
    line = brief(",".join(first))
    return (f"{path}: line {line_no} is a log line, not a CSV header: without a logs: section in the "
            f"config, --data files are read as CSV tables of numbers ({line}); train on a log "
            f"file with a config that has one (configs/logs.yaml): {how} (docs/logs.md, "
            f"'Worked examples of common formats')")


def log_lines_kind(first: list[str], second: list[str]) -> str:
    """What two lines read as CSV cells are, as log lines: ``json`` where both open a JSON
    object, ``regex`` where the same column of both holds text (:func:`log_text`), else
    ``""`` (a CSV header and row, or rows). The CSV refusal's advice and ``train``'s test
    for a log file given with no config (:func:`~anomaly_gan.logs.offline.looks_like_log_lines`)
    both ask this. Numbers alone separated by spaces or tabs are no log line's text: a row
    of a table of four or more columns not separated by commas (C-MAPSS' 26), whose
    refusal names the separator.

    >>> log_lines_kind(['{"msg": "a'], ['{"msg": "b']), log_lines_kind(["t", "rpm"], ["1", "2"])
    ('json', '')
    >>> log_lines_kind(["t temp rpm flow"], ["1767312000 19.9 1501.6 9.9"])
    ''
    """
    if first and second and first[0].startswith("{") and second[0].startswith("{"):
        return "json"
    if any(log_text(a) and log_text(b) and not (_spaced_numbers(a) or _spaced_numbers(b))
           for a, b in zip(first, second)):
        return "regex"
    return ""


def log_text(cell: str) -> bool:
    """Whether a CSV cell reads as a log line's text: four or more words, or fields joined
    by ``|`` with a date or time among them (``20171223-22:15:29:606|Step|300|onStep 3``),
    which no column name and no number is.

    >>> [log_text(c) for c in ("2026-01-01 00:00:00 web INFO up", "rpm", "flow rate in l",
    ...                         "22:15:29:606|Step|300|onStep 3", "cpu|mem|disk|net")]
    [True, False, True, True, False]
    """
    return len(cell.split()) >= 4 or (len(cell.replace("|", " ").split()) >= 4
                                      and bool(_DATE_OR_TIME.search(cell)))


def _csv_table(records: Iterator[tuple[list[str], int]], path: Path,
               timestamp_column: str | None, header_rule: str,
               number: Callable[[str], float | None],
               only: Collection[str] | None = None,
               progress: Callable[[int], None] | None = None,
               time_named: str | None = None) -> Table:
    """The table of ``records``; ``progress(rows)`` after each block of rows read."""
    head = next(records, None)
    if head is None:
        raise DataError(f"{path}: file is empty (expected a CSV of numeric rows)")
    first = [c.strip() for c in head[0]]
    if header_rule == "names":
        has_header = True
        if not all(first):
            j = first.index("")
            raise DataError(f"{path}: line {head[1]}, column {j + 1}: empty column name in "
                            f"the header (data.header: names){_empty_name_hint(j, len(first))}")
    elif header_rule == "none":
        has_header = False
    else:
        has_header = _is_header(first, path, number, head[1])
    if has_header:
        header = first
        body = records
        # Every name, the time column's too: a second 'timestamp' was read as a feature
        if len(set(header)) != len(header):
            dup = next(n for n in header if header.count(n) > 1)
            raise DataError(f"{path}: line {head[1]}: duplicate column name {brief(dup)}")
        ts_col = _pick_timestamp(header, timestamp_column, str(path), time_named)
        feature_cols = [i for i in range(len(header)) if i != ts_col]
        feature_cols, left_out = _only(feature_cols, header, only, path)
        names = tuple(header[i] for i in feature_cols)
    else:
        if timestamp_column is not None:
            raise DataError(
                f"{path}: no header line, so timestamp column {timestamp_column!r} cannot be found"
            )
        header, body, ts_col = [], itertools.chain([head], records), None
        feature_cols, left_out = list(range(len(first))), ()
        names = tuple(f"f{i}" for i in feature_cols)
    body_first = next(body, None)
    if body_first is None:
        raise DataError(f"{path}: no data rows after the header")
    if not feature_cols:
        raise DataError(f"{path}: no feature columns (only a timestamp column)")
    width = len(header) if has_header else len(first)
    # A block of rows at a time into arrays: a Python object per row for its stamp and its
    # line held four times the numbers (3 features; Table)
    blocks: list[np.ndarray] = []
    stamp_blocks: list[Texts] = []
    line_blocks: list[np.ndarray] = []
    block: list[list[float]] = []
    stamps: list[str] = []
    block_lines: list[int] = []
    rows = 0

    def flush() -> None:
        nonlocal block, stamps, block_lines, rows
        blocks.append(np.array(block, dtype=np.float64))
        line_blocks.append(np.array(block_lines, dtype=np.int64))
        if ts_col is not None:
            stamp_blocks.append(Texts(stamps))
        rows += len(block)
        block, stamps, block_lines = [], [], []
        if progress is not None:
            progress(rows)

    for row, line in itertools.chain([body_first], body):
        if len(row) != width:
            # rows written with a comma after every value, under a header without one
            # or a quote never closed: its cell ran on over the lines after it
            ran_on = next((cell.rstrip("\n").count("\n") + 1 for cell in row if "\n" in cell), 0)
            hint = (" (a comma at the end of the line? remove it)"
                    if len(row) == width + 1 and not row[-1].strip()
                    else f" (a quoted cell runs on from this line over {ran_on} lines: a "
                         f"quote never closed?)" if ran_on
                    else " (a number written with a decimal comma or a thousands separator, "
                         "unquoted? write plain numbers: 1.5, 1234)"
                    if len(row) > width and _split_number(row)
                    else _hint(header[0] if len(header) == 1 else "", ""))
            raise DataError(f"{path}: line {line}: expected {width} columns, got {len(row)}"
                            f"{hint}")
        if ts_col is not None and not any(cell.strip() for cell in row):
            # every cell empty, the time's too (Excel ends a sheet's export with such rows):
            # no time to stand at, so skipped as a blank line is; it was refused as a
            # missing timestamp even where data.nan_policy fills missing readings
            continue
        block.append(_row_values(row, feature_cols, number)
                     or _checked_row_values(row, line, path, feature_cols, names, header,
                                            has_header, ts_col, number))
        block_lines.append(line)
        if ts_col is not None:
            stamp = row[ts_col].strip()
            if _is_missing(stamp):  # score writes it back: an empty one names no row
                raise DataError(f"{path}: line {line}, column {brief(header[ts_col])}: "
                                f"expected a timestamp, got {brief(stamp)}")
            stamps.append(stamp)
        if len(block) == _BLOCK_ROWS:
            flush()
    if block:
        flush()
    if not blocks:
        raise DataError(f"{path}: no data rows after the header (only rows of empty cells)")
    values = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    blocks.clear()
    return Table(
        path=str(path),
        feature_names=names,
        values=values,
        timestamps=Texts.joined(stamp_blocks) if ts_col is not None else None,
        has_header=has_header,
        lines=line_blocks[0] if len(line_blocks) == 1 else np.concatenate(line_blocks),
        left_out=left_out,
        time_column=header[ts_col] if ts_col is not None else None,
    )


def _split_number(row: list[str]) -> bool:
    """Whether ``row`` holds an integer cell followed by one of digits alone, as ``-1,5`` or
    ``1,500`` written unquoted in a comma-separated file leave it.

    >>> _split_number(["2026-01-01", "1", "500", "2.5"]), _split_number(["a", "1.5", "2"])
    (True, False)
    """
    return any(_PLAIN_INT.fullmatch(a.strip()) and b.strip().isdigit() and b.strip().isascii()
               for a, b in itertools.pairwise(row))


_PLAIN_INT = re.compile(r"[-+]?\d+")


def _only(columns: list[int], header: Sequence[str], only: Collection[str] | None,
          path: Path) -> tuple[list[int], tuple[str, ...]]:
    """``columns`` of ``header`` named in ``only`` (a model's features; all without it), and
    the names of the others, which are then not read (a column such as a site name need not
    hold numbers). None named: refused at once as :func:`check_features` refuses it; reading
    them first stopped at a cell that is no number (a log file given to a metrics model, its
    first line the header: "line 2, column '2026-01-01T02:00:00Z web-1 INFO ...': not a
    number", with a hint to make that line the time column)."""
    if only is None:
        return columns, ()
    kept = [i for i in columns if header[i] in only]
    if not kept and columns:
        names = tuple(header[i] for i in columns)
        check_features(Table(str(path), names, np.empty((0, len(names)))), tuple(only))
    return kept, tuple(header[i] for i in columns if header[i] not in only)


_BLOCK_ROWS = 8192  # rows parsed into Python objects before they go into arrays


def _row_values(row: list[str], feature_cols: list[int],
                number: Callable[[str], float | None]) -> list[float] | None:
    """The feature cells of a row of plain numbers, read at once; None where any cell needs
    :func:`_checked_row_values` (a missing value, something no number, ``_`` or a non-ASCII
    character, which ``float`` takes and :func:`_number` does not), or for a reader of cells
    other than :func:`_number` and :func:`_label_number`. A cell of plain numbers reads the
    same by all three: ``float`` strips the whitespace that ``str.strip`` does and refuses
    every missing and true/false spelling.

    >>> _row_values(["t", " 1.5", "nan", "-2e3 "], [1, 2, 3], _number)
    [1.5, nan, -2000.0]
    >>> _row_values(["1_000"], [0], _number), _row_values(["NA"], [0], _number)
    (None, None)
    """
    if number is not _number and number is not _label_number:
        return None
    try:
        out = list(map(float, map(row.__getitem__, feature_cols)))
    except ValueError:
        return None
    cells = "".join(row)
    if "_" in cells or not cells.isascii():
        return None
    return out


def _checked_row_values(row: list[str], line: int, path: Path, feature_cols: list[int],
                        names: tuple[str, ...], header: list[str], has_header: bool,
                        ts_col: int | None, number: Callable[[str], float | None]
                        ) -> list[float]:
    """The feature cells of ``row`` (file line ``line``), each checked: a missing one is NaN,
    one that is no number a :class:`DataError` naming the line and column, with a hint."""
    out: list[float] = []
    for j, c in enumerate(feature_cols):
        cell = row[c].strip()
        value = math.nan if _is_missing(cell) else number(cell)
        if value is not None:
            out.append(value)
            continue
        col = brief(names[j]) if has_header else str(c + 1)
        if (ts_col is not None and _TIME_OF_DAY.fullmatch(cell.strip())
                and not _TIME_OF_DAY_IN.search(row[ts_col])):
            # date,time,cpu: renaming 'time' (the other hint) left 'date' the time
            # column, which is picked first. Only a bare time of day beside a time
            # column without one: a note 'restarted 12:30' is no half of a stamp
            hint = (f" (the time split over two columns, {brief(header[ts_col])} and "
                    f"{col}? join them into one column 'timestamp', e.g. "
                    f"2026-01-01T00:00:00Z)")
        elif ts_col is not None and _DATE_OR_TIME.search(cell):
            # the other hint would offer to make it the time column, which is taken
            hint = (f" (a second time column? the rows' time is read from "
                    f"{brief(header[ts_col])}; features are numbers: leave {col} out)")
        elif number is _label_number:
            # a labels file of yes/no: its first 'no' was taken for the header, and the
            # line named it a column, 'column 'no': not a number: 'no''; one saved with ';'
            # or tabs is told so, as a data file is (its line blamed the header '0;1')
            named = has_header and names[j].strip().lower() not in LABEL_NAMES
            # beside a label column the first line is a header, and the fault is another
            # column's text (entity,timestamp,label): the line blamed the header
            label = next((n for n in names if n.strip().lower() in LABEL_NAMES), None)
            hint = _separator_hint(names[j] if has_header else "", cell) or (
                (f" (a labels file's columns beside {brief(label)} hold numbers or "
                 f"true/false: leave {col} out; its rows label one series, a file or an "
                 f"--entity)") if named and label is not None else
                " (expected a label: 0 or 1, or true/false"
                + (f"; the first line, {brief(names[j])}, was read as a header"
                   if named else "") + ")")
        else:
            hint = _hint(names[j] if has_header else "", cell)
        raise DataError(
            f"{path}: line {line}, column {col}: not a number: {brief(cell)}{hint}")
    return out


def _read_parquet(path: Path, timestamp_column: str | None, booleans: bool = False,
                  only: Collection[str] | None = None, progress: Reading | None = None,
                  time_named: str | None = None) -> Table:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(
            f"{path}: reading Parquet needs pyarrow (pip install 'anomaly-gan[parquet]')"
        ) from None
    _refuse_compressed_parquet(path)
    try:
        names_in_file = pq.read_schema(path).names
    except Exception:  # noqa: BLE001 - not a file pyarrow reads alone: read_table says why
        names_in_file = []
    seen: set[str] = set()
    for name in names_in_file:
        if name in seen:  # pyarrow's own error was six lines about a FieldRef
            raise DataError(f"{path}: duplicate column name {brief(name)}")
        seen.add(name)
    parts = _parquet_parts(path)
    first = next(parts)
    header = list(first[0].column_names)
    ts_col = _pick_timestamp(header, timestamp_column, str(path), time_named)
    index = _pandas_row_index(first[0], only)
    if ts_col is None and timestamp_column is None:
        # pandas' unnamed DatetimeIndex: the rows' times, as pandas reads the file back
        ts_col = next((header.index(n) for n in index
                       if pa.types.is_timestamp(first[0].schema.field(n).type)), None)
    cols, left_out = _only([i for i in range(len(header))
                            if i != ts_col and header[i] not in index], header, only, path)
    names = tuple(header[i] for i in cols)
    if not names:  # numpy's column_stack of nothing raised a ValueError traceback
        raise DataError(f"{path}: no feature columns (only a timestamp column)")
    # A row group at a time, each into arrays as it is read (progress after each, as a
    # CSV file's blocks): the whole file's Arrow table was held beside its arrays
    blocks: list[np.ndarray] = []
    stamp_blocks: list[Texts] = []
    rows = 0
    for frame, read in itertools.chain([first], parts):
        columns = []
        for name in names:
            col = frame.column(name)
            if (pa.types.is_timestamp(col.type) or pa.types.is_date(col.type)
                    or pa.types.is_time(col.type)):
                # np.asarray read a time as its epoch count (ns: 1.77e18) and trained on it
                hint = (_hint(name, "2026-01-01") if ts_col is None else
                        f" (a second time column beside {header[ts_col]!r}? features are "
                        f"numbers: leave it out of the file)")
                raise DataError(f"{path}: column {brief(name)}: expected numbers, got type "
                                f"{col.type}{hint}")
            if pa.types.is_boolean(col.type) and not booleans:
                # read as 1/0, where a CSV's True/False is refused: serve dead-letters a
                # true or false value, so the model scored offline what serve never would
                raise DataError(f"{path}: column {brief(name)}: expected numbers, got type "
                                f"{col.type}{_hint(name, 'True')}")
            kind = col.type.value_type if pa.types.is_dictionary(col.type) else col.type
            if pa.types.is_string(kind) or pa.types.is_large_string(kind):
                # numpy read each cell by Python's float(): '1_000' as 1000, Arabic digits
                # as numbers, and 'n/a' stopped the file naming no row; a CSV cell's rules
                columns.append(_text_numbers(col, path, name, rows,
                                             _label_number if booleans else _number))
                continue
            try:
                columns.append(np.asarray(col.to_numpy(zero_copy_only=False),
                                          dtype=np.float64))
            except (ValueError, TypeError):
                raise DataError(
                    f"{path}: column {name!r}: expected numbers, got type {col.type}"
                ) from None
        blocks.append(np.column_stack(columns).reshape(frame.num_rows, len(names)))
        if ts_col is not None:
            stamp_blocks.append(_parquet_stamps(frame.column(header[ts_col]), path,
                                                header[ts_col], rows))
        rows += frame.num_rows
        if progress is not None:
            progress(rows, read)
    values = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    blocks.clear()
    stamps = Texts.joined(stamp_blocks) if ts_col is not None else None
    return Table(str(path), names, values, stamps, True, left_out=left_out,
                 time_column=header[ts_col] if ts_col is not None else None)


def _text_numbers(col: pa.ChunkedArray, path: Path, name: str, before: int,
                  number: Callable[[str], float | None]) -> np.ndarray:
    """A Parquet column of strings (rows ``before`` onwards of the file) read as a CSV's
    cells are: a null or a missing spelling is NaN, a plain decimal a number, anything else
    a :class:`DataError` naming its row."""
    out = np.empty(len(col), dtype=np.float64)
    for i, cell in enumerate(col.to_pylist()):
        text = "" if cell is None else str(cell).strip()
        value = math.nan if _is_missing(text) else number(text)
        if value is None:
            raise DataError(f"{path}: row {before + i + 1}, column {brief(name)}: not a "
                            f"number: {brief(text)}{_hint(name, text)}")
        out[i] = value
    return out


def _pandas_row_index(table: pa.Table, only: Collection[str] | None) -> tuple[str, ...]:
    """The columns in which pandas' ``to_parquet`` keeps a DataFrame's unnamed row index
    (``__index_level_0__``: the rows' numbers after a filter or a slice, or an unnamed
    DatetimeIndex), as its schema's ``pandas`` metadata lists them. They are no readings:
    pandas reads them back as the index, and read as a feature the row numbers made every
    later file score as a drift (unless ``only``, a model's features, names one).

    >>> import json, pyarrow as pa
    >>> t = pa.table({"cpu": [0.5], "__index_level_0__": [7]})
    >>> meta = {"index_columns": ["__index_level_0__"]}
    >>> _pandas_row_index(t.replace_schema_metadata({"pandas": json.dumps(meta)}), None)
    ('__index_level_0__',)
    >>> _pandas_row_index(t, None)
    ()
    """
    import json

    meta = (table.schema.metadata or {}).get(b"pandas")
    if meta is None:
        return ()
    try:
        listed = json.loads(meta).get("index_columns", [])
    except (ValueError, AttributeError):  # not pandas' JSON object: the columns as they are
        return ()
    return tuple(n for n in listed
                 if isinstance(n, str) and _PANDAS_INDEX.fullmatch(n)
                 and n in table.column_names and (only is None or n not in only))


_PANDAS_INDEX = re.compile(r"__index_level_\d+__")


def _parquet_parts(path: Path) -> Iterator[tuple[pa.Table, int]]:
    """The rows of a Parquet file a row group at a time, each with the bytes of the file
    read so far (its row groups' column chunks); a directory of Parquet files (Spark
    writes one named ``x.parquet``) is read whole. A file of no rows is a DataError."""
    import pyarrow.parquet as pq

    def failed(exc: Exception) -> DataError:
        if isinstance(exc, FileNotFoundError):
            return DataError(f"{path}: file not found")
        return DataError(f"{path}: not a readable Parquet file: {exc}")

    try:
        whole = pq.read_table(path) if path.is_dir() else None
        handle = None if whole is not None else pq.ParquetFile(path)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several unrelated types
        raise failed(exc) from None
    if handle is None or handle.metadata.num_rows == 0:
        if handle is not None:
            handle.close()
        if whole is None or whole.num_rows == 0:
            raise DataError(f"{path}: file is empty (no rows)")
        yield whole, 0
        return
    with handle:
        meta = handle.metadata
        read = 0
        for i in range(meta.num_row_groups):
            group = meta.row_group(i)
            read += sum(group.column(j).total_compressed_size
                        for j in range(group.num_columns))
            try:
                part = handle.read_row_group(i)
            except Exception as exc:  # noqa: BLE001 - as above
                raise failed(exc) from None
            yield part, read


def _parquet_stamps(col: pa.ChunkedArray, path: Path, name: str, before: int) -> Texts:
    """The texts of a Parquet timestamp column's cells (rows ``before`` onwards of the
    file), as ``str`` writes each one's Python value: ``2026-01-01 00:00:00+00:00`` for a
    timestamp, the text of a string, the digits of an integer. Made column-wise for those
    (:func:`_time_texts`): a Python datetime and a str per row took 19 s of 2 million;
    other types (a named time zone, a float, a date) row by row."""
    import pyarrow as pa

    if col.null_count:  # str(None) was refused as the timestamp 'None'
        r = before + int(np.argmax(np.asarray(col.is_null())))
        raise DataError(f"{path}: row {r + 1}, column {brief(name)}: expected a timestamp, "
                        f"got null")
    written = col.type
    if pa.types.is_timestamp(col.type):
        zone = None if col.type.tz is None else _arrow_zone(col.type.tz, path, name)
        if col.type.unit == "ns":
            # Python's datetime holds microseconds: to_pylist() raised on a stamp with
            # nanoseconds (without pandas installed)
            col = col.cast(pa.timestamp("us", tz=zone), safe=False)
        elif zone != col.type.tz:  # the stamps (UTC) stay; only the zone's spelling changes
            col = col.cast(pa.timestamp(col.type.unit, tz=zone))
    if pa.types.is_integer(col.type):
        col = col.cast(pa.string())
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return Texts.joined([_arrow_texts(chunk) for chunk in col.chunks])
    if pa.types.is_timestamp(col.type):
        try:
            micros = col.cast(pa.timestamp("us", tz=col.type.tz)).cast(pa.int64()).to_numpy()
        except pa.ArrowInvalid:  # a stamp in s or ms past int64's microseconds: row by row
            micros = None
        texts = None if micros is None else _time_texts(micros, col.type.tz)
        if texts is not None:
            return texts
    try:
        cells = col.to_pylist()
    except (OverflowError, ValueError):
        # a stamp past year 9999 (a sentinel such as 2**62) or before year 1: Python's
        # datetime cannot hold it, and pyarrow's OverflowError ended the command in a traceback
        r = next(i for i in range(len(col)) if not _as_python(col[i]))
        raise DataError(f"{path}: row {before + r + 1}, column {brief(name)}: expected "
                        f"a timestamp, got {col.cast(pa.int64())[r].as_py()} "
                        f"({written}), a time outside the years 1 to 9999") from None
    return Texts(str(v) for v in cells)


def _arrow_zone(tz: str, path: Path, name: str) -> str:
    """The time zone ``tz`` of the Parquet timestamp column ``name`` as pyarrow spells it
    (``UTC``, ``+05:30`` or a zone name), read as ``logs.timezone`` is
    (:func:`~anomaly_gan.config.zone_of`); a DataError for a zone that is none. pyarrow
    makes no Python value of a stamp of zone ``Z``, ``utc``, ``+0530`` or ``+05``, and such a
    column was refused as 'a time outside the years 1 to 9999'.

    >>> [_arrow_zone(tz, Path("f.parquet"), "ts") for tz in ("z", "+0530", "-08", "-00:00")]
    ['UTC', '+05:30', '-08:00', 'UTC']
    >>> _arrow_zone("Mars/Olympus", Path("f.parquet"), "ts")
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: f.parquet: column 'ts': time zone: expected UTC, an offset such as +08:00 or a time zone name such as Europe/Berlin (from this host's time zone database), got 'Mars/Olympus'
    """
    from anomaly_gan.config import zone_of

    try:
        zone = zone_of(tz)
    except ValueError as exc:
        raise DataError(f"{path}: column {brief(name)}: time zone: {exc}") from None
    offset = zone.utcoffset(None)
    if offset is None:  # a zone name: its offset follows the date
        return tz
    if not offset:
        return "UTC"
    minutes = int(offset.total_seconds()) // 60
    return f"{'-' if minutes < 0 else '+'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _arrow_texts(chunk: pa.Array) -> Texts:
    """An Arrow string array (no nulls) as :class:`Texts`: its UTF-8 bytes and offsets are
    what Texts holds."""
    import pyarrow as pa

    kind = np.int64 if pa.types.is_large_string(chunk.type) else np.int32
    offsets_buf, data_buf = chunk.buffers()[1:3]
    offsets = np.frombuffer(offsets_buf, dtype=kind)[chunk.offset:chunk.offset + len(chunk) + 1]
    offsets = offsets.astype(np.int64)
    data = b"" if data_buf is None else data_buf.to_pybytes()[offsets[0]:offsets[-1]]
    return Texts._of(data, offsets[1:] - offsets[0])


_OFFSET = re.compile(r"([+-])(\d{2}):(\d{2})")
# Microseconds of 0002-01-01 and of 9999-01-01: stamps from year 2 to 9998 are written
# column-wise whatever their offset; others row by row, which names one outside 1 to 9999
_SAFE_US = (-62104060800 * 10**6, 253370764800 * 10**6)


def _time_texts(micros: np.ndarray, tz: str | None) -> Texts | None:
    """``str`` of each Python datetime that pyarrow makes of a timestamp column (epoch
    microseconds ``micros``, time zone ``tz``): ``YYYY-MM-DD HH:MM:SS``, then ``.ffffff``
    where the microseconds are not 0, then the offset where there is a zone. None for a
    named zone other than UTC (its offset changes over the year) and for a year outside
    2 to 9998.

    >>> list(_time_texts(np.array([0, 1_500_000]), "+05:30"))
    ['1970-01-01 05:30:00+05:30', '1970-01-01 05:30:01.500000+05:30']
    >>> list(_time_texts(np.array([-1]), None)), _time_texts(np.array([0]), "Europe/Berlin")
    (['1969-12-31 23:59:59.999999'], None)
    """
    if tz is None:
        shift, suffix = 0, ""
    elif tz == "UTC":
        shift, suffix = 0, "+00:00"
    elif (fixed := _OFFSET.fullmatch(tz)) is not None:
        sign = -1 if fixed[1] == "-" else 1
        shift = sign * (int(fixed[2]) * 3600 + int(fixed[3]) * 60) * 10**6
        suffix = tz if shift else "+00:00"  # Python writes a zero offset so, -00:00 too
    else:
        return None
    local = micros.astype(np.int64) + shift
    if len(local) and (local.min() < _SAFE_US[0] or local.max() >= _SAFE_US[1]):
        return None
    if not len(local):
        return Texts()
    seconds, fraction = np.divmod(local, 10**6)
    days, clock = np.divmod(seconds, 86400)
    date = days.astype("datetime64[D]")
    year = date.astype("datetime64[Y]")
    month = date.astype("datetime64[M]")
    # the digits of each field, written into one row of bytes per stamp: texts made by
    # numpy's string functions took 3.5 s of 2 million
    fields = ((year.astype(np.int64) + 1970, 4, 0), ((month - year).astype(np.int64) + 1, 2, 5),
              ((date - month).astype(np.int64) + 1, 2, 8), (clock // 3600, 2, 11),
              (clock // 60 % 60, 2, 14), (clock % 60, 2, 17), (fraction, 6, 20))
    tail = suffix.encode("ascii")
    cells = np.empty((len(local), 26 + len(tail)), dtype=np.uint8)
    for value, digits, at in fields:
        for k in range(digits):
            cells[:, at + k] = value // 10 ** (digits - 1 - k) % 10 + 48
    for at, char in ((4, "-"), (7, "-"), (10, " "), (13, ":"), (16, ":"), (19, ".")):
        cells[:, at] = ord(char)
    cells[:, 26:] = np.frombuffer(tail, dtype=np.uint8)
    keep = np.ones(cells.shape, dtype=bool)
    keep[:, 19:26] = (fraction != 0)[:, None]  # .ffffff where the microseconds are not 0
    data = cells[keep].tobytes()
    sizes = keep.sum(axis=1, dtype=np.int64)
    return Texts._of(data, np.cumsum(sizes))


def _as_python(cell: object) -> bool:
    """Whether a pyarrow scalar converts to a Python value (a timestamp past year 9999,
    or before year 1, does not)."""
    try:
        cell.as_py()  # type: ignore[attr-defined]
    except (OverflowError, ValueError):
        return False
    return True


def _refuse_compressed_parquet(path: Path) -> None:
    """A Parquet file compressed whole is not read: pyarrow seeks in its file (its footer
    says where the columns are), which a decompressed stream cannot; pyarrow said 'Parquet
    magic bytes not found in footer'."""
    try:
        with path.open("rb") as fh:
            compression = compression_of(fh.read(HEAD_BYTES))
    except OSError:
        return  # pyarrow names the problem
    if compression:
        raise DataError(f"{path}: the file is {compression}-compressed, which is not read for "
                        f"a Parquet file: Parquet is read by seeking in its file; decompress "
                        f"it first ({UNPACK[compression]})")


def read_table(path: str | Path, timestamp_column: str | None = None,
               header: str = "auto", booleans: bool = False,
               opened: IO[bytes] | None = None, only: Collection[str] | None = None,
               progress: Reading | None = None, time_named: str | None = None) -> Table:
    """Read a CSV (header or headerless numeric; ``header``: ``auto``, ``names`` or
    ``none``, see ``data.header``) or, with pyarrow, a Parquet file. With ``booleans``,
    CSV cells ``true``/``false`` (any case, :data:`BOOLEAN_CELLS`) are 1/0, as in a labels
    file, and a first row of them is data; so is a Parquet bool column, which is refused
    without (as a CSV's are: ``serve`` takes numbers only). ``opened``: a CSV ``path``
    already opened (binary, not yet read: a pipe), read and closed. ``only``: the feature
    columns to read (a model's features, under ``serve.unknown_features: ignore``); a header's
    others are not read, whatever they hold, and :attr:`Table.left_out` names them.
    ``progress(rows, bytes)`` is called as the file is read, after each block of rows of a
    CSV file and each row group of a Parquet file (its bytes: the row groups' read).
    ``time_named``: without ``timestamp_column``, a column of this name, where the header
    has one, is the time column before those of :data:`TIMESTAMP_NAMES` (a labels file's
    stamps, in a column named as its data's time column: :attr:`Table.time_column`)."""
    p = Path(path)
    if p.suffix.lower() in (".parquet", ".pq") and opened is None:
        return _read_parquet(p, timestamp_column, booleans, only, progress, time_named)
    return _read_csv(p, timestamp_column, header, _label_number if booleans else _number,
                     opened, only, progress, time_named)


def table_times(table: Table, tolerance: float = 0.0) -> np.ndarray | None:
    """Epoch seconds of each row from the timestamp column, read as ``serve`` reads an
    event's ``ts`` (RFC 3339 with or without an offset, or epoch seconds, ms, us or ns by
    the number's size); None
    when the table has no timestamp column.

    Windows follow the file's order, so rows out of time order were windows of readings
    that never followed each other, scored without a word. A :class:`DataError` names the
    line of the first stamp that is no time, and of the first that goes back when more than
    :data:`MAX_LATE_SHARE` of the rows, and more than one, do (the file is not in time
    order). Fewer such rows are *late* (:func:`late_rows`): left out, as ``serve`` drops an
    event older than its entity's last, with a note (:func:`time_notes`). With ``tolerance``
    (``serve.windows.reorder_tolerance_seconds``) rows out of order by no more than that are
    not late: they are windowed in time order, as ``serve`` reorders them. A local hour
    written twice when clocks go back, in a real NAB file, stopped ``score`` on its whole
    test part.

    >>> t = Table("f.csv", ("a",), np.zeros((3, 1)), ("2026-01-01T00:00:00Z", "1767225660",
    ...           "1767225720000"), lines=(2, 3, 4))
    >>> table_times(t).tolist()  # the same minute steps, in seconds and in milliseconds
    [1767225600.0, 1767225660.0, 1767225720.0]
    >>> table_times(dataclasses.replace(t, timestamps=("300", "100", "200")))
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: f.csv: line 3: timestamp '100' is before line 2's ('300'): expected rows in time order (windows follow the file's order; sort it by time): 2 of 3 rows go back
    """
    if table.timestamps is None:
        return None
    from anomaly_gan.stream.events import parse_timestamp_text

    texts = _texts(table.timestamps)
    out = _usual_stamps(texts)
    others = np.flatnonzero(np.isnan(out))  # any other shape, row by row
    # taken at once: indexing row by row took 1.4 s of 2 million
    for i, stamp in zip(others.tolist(), texts.take(others), strict=True):
        text = stamp.strip()
        t = parse_timestamp_text(text)
        if t is None:
            raise DataError(f"{table.path}: {table.where(i)}: timestamp {clip(text, 40)!r} is "
                            f"not RFC 3339 (2026-01-01T00:00:00Z) or epoch s, ms, us or ns")
        out[i] = t
    late = late_rows(out, tolerance, table.evictions)
    if late.sum() > max(1.0, MAX_LATE_SHARE * len(out)):
        i = int(np.argmax(late))
        text, before = (clip(str(table.timestamps[j]).strip(), 40) for j in (i, i - 1))
        raise DataError(f"{table.path}: {table.where(i)}: timestamp {text!r} is "
                        f"before {table.where(i - 1)}'s ({before!r}): "
                        f"expected rows in time order (windows follow the file's order; "
                        f"sort it by time): {int(late.sum())} of {len(out)} rows go back"
                        f"{_local_time_hint(text)}{_entity_change_hint(table, i, i - 1)}")
    return out


# The RFC 3339 shapes :func:`_usual_stamps` reads, by their length: the digits of a second
# (none, 3 or 6) and the offset (none, Z or +HH:MM)
_RFC3339_SHAPES = {19 + (digits and digits + 1) + len(zone): (digits, zone)
                   for digits in (0, 3, 6) for zone in ("", "Z", "+dd:dd")}
_COLUMN_ROWS = 65536  # stamps of one length read column-wise at a time


def _usual_stamps(texts: Texts) -> np.ndarray:
    """Epoch seconds of the stamps written in the usual shapes, read column-wise, and NaN for
    any other (:func:`table_times` reads those row by row): digits alone (epoch s, ms, us or
    ns, up to 2**53), or ``YYYY-MM-DD`` then ``T`` or a space then ``HH:MM:SS`` with
    none, 3 or 6 digits of a second and no offset, ``Z`` or ``+HH:MM``. Each is the float
    :func:`~anomaly_gan.stream.events.parse_timestamp_text` gives; one that is no time (a
    31st of April) is NaN too. Row by row, 2 million ISO stamps took 11 to 23 s.

    >>> _usual_stamps(Texts(["2026-01-01T01:00:00.500+01:00", "2026-01-01 00:00:01.25Z",
    ...                      "1767225602000", "2026-04-31T00:00:00Z"])).tolist()
    [1767225600.5, nan, 1767225602.0, nan]
    """
    out = np.full(len(texts), np.nan)
    ends = texts._ends
    sizes = np.diff(ends, prepend=0)
    data = np.frombuffer(texts._data, dtype=np.uint8)
    for size in np.unique(sizes).tolist():
        if not (1 <= size <= 18 or size in _RFC3339_SHAPES):
            continue
        rows = np.flatnonzero(sizes == size)
        for k in range(0, len(rows), _COLUMN_ROWS):
            part = rows[k:k + _COLUMN_ROWS]
            cells = data[(ends[part] - size)[:, None] + np.arange(size)].astype(np.int64) - 48
            out[part] = (_epoch_numbers(cells) if size <= 18
                         else _rfc3339_times(cells, *_RFC3339_SHAPES[size]))
    return out


def _digits_value(cells: np.ndarray) -> np.ndarray:
    """The number each row of digits (0 to 9, one per column) writes."""
    return cells @ 10 ** np.arange(cells.shape[1] - 1, -1, -1, dtype=np.int64)


def _epoch_numbers(cells: np.ndarray) -> np.ndarray:
    """:func:`_usual_stamps` of stamps of digits only (``cells``: each character's code
    less that of 0): by their size epoch s, ms, us or ns, as ``parse_timestamp`` reads the
    integer of the text. Up to 2**53 (epoch us to the year 2255) a float holds the integer
    exactly, so its unit and quotient are the integer's; a larger one (ns, whose edge 1e17
    is one) is NaN, left to the exact parse row by row: as a float, 10**17 + 1 was 1e17
    and counted as us, and a quarter of them were an ulp off the exact quotient.

    >>> _epoch_numbers(np.array([[1, 7, 6, 7, 2, 2, 5, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    ...                          [0, 0, 1, 7, 6, 7, 2, 2, 5, 6, 0, 0, 1, 2, 3, 4, 5, 6]]))
    array([          nan, 1.7672256e+09])
    """
    from anomaly_gan.stream.events import _EPOCH_UNITS, _MAX_TS

    numbers = _digits_value(cells)
    seconds = numbers.astype(np.float64)
    seconds /= np.select([seconds > limit for limit, _ in _EPOCH_UNITS],
                         [per for _, per in _EPOCH_UNITS], 1)
    ok = (((cells >= 0) & (cells <= 9)).all(axis=1) & (numbers <= 2**53)
          & (seconds <= _MAX_TS))
    return np.where(ok, seconds, np.nan)


def _rfc3339_times(cells: np.ndarray, digits: int, zone: str) -> np.ndarray:
    """:func:`_usual_stamps` of RFC 3339 stamps of one shape (``cells``: each character's
    code less that of 0): the microseconds since 1970 as ``datetime.timestamp()`` counts
    them, divided as it divides them (exact up to 2**53 of them: the year 2255)."""
    shape = "dddd-dd-ddTdd:dd:dd" + ("." + "d" * digits if digits else "") + zone
    ok = np.ones(len(cells), dtype=bool)
    for at, char in enumerate(shape):
        cell = cells[:, at]
        if char == "d":
            ok &= (cell >= 0) & (cell <= 9)
        else:
            ok &= np.isin(cell, [ord(c) - 48 for c in {"T": "T ", "+": "+-"}.get(char, char)])

    def field(at: int, size: int) -> np.ndarray:
        return _digits_value(cells[:, at:at + size])

    year, month, day = field(0, 4), field(5, 2), field(8, 2)
    hour, minute, second = field(11, 2), field(14, 2), field(17, 2)
    micros = field(20, digits) * 10 ** (6 - digits) if digits else 0
    offset = 0
    if zone.startswith("+"):
        at = len(shape) - 6
        hours, minutes = field(at + 1, 2), field(at + 4, 2)
        ok &= (hours <= 23) & (minutes <= 59)
        offset = np.where(cells[:, at] == ord("-") - 48, -1, 1) * (hours * 3600 + minutes * 60)
    ok &= ((year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (hour <= 23)
           & (minute <= 59) & (second <= 59))  # a leap second (60) is read row by row
    first = ((year - 1970) * 12 + np.clip(month, 1, 12) - 1).astype("datetime64[M]")
    first_day = first.astype("datetime64[D]")
    ok &= day <= ((first + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    days = first_day.astype(np.int64) + day - 1
    total = (days * 86400 + hour * 3600 + minute * 60 + second - offset) * 10**6 + micros
    ok &= (total >= 0) & (total < 2**53)
    return np.where(ok, total.astype(np.float64) / 10**6, np.nan)


#: Largest share of a file's rows that may be stamped before an earlier row (*late*, see
#: :func:`late_rows`); more, and the file is refused as not in time order. A local hour
#: written twice when clocks go back is 4% of a day of minute readings.
MAX_LATE_SHARE = 0.05


def lags(times: Sequence[float] | np.ndarray) -> np.ndarray:
    """How far each time lies behind the newest time before it (0 where it does not): the
    rows of a file, or the lines of a log file, that ``serve`` would get late.

    >>> lags([0.0, 60.0, 30.0, 60.0, 45.0, 120.0]).tolist()
    [0.0, 0.0, 30.0, 0.0, 15.0, 0.0]
    """
    t = np.asarray(times, dtype=np.float64)
    out = np.zeros(len(t))
    if len(t) > 1:
        out[1:] = np.maximum(np.maximum.accumulate(t)[:-1] - t[1:], 0.0)
    return out


def late_rows(times: np.ndarray, tolerance: float = 0.0,
              evictions: np.ndarray | None = None) -> np.ndarray:
    """Which rows ``serve`` would drop as late, with ``serve.windows.reorder_tolerance_seconds
    = tolerance`` (:func:`~anomaly_gan.data.windows.release_order`): with 0, those stamped
    before an earlier row (:func:`lags`) since the entity's window last started afresh
    (``evictions``: :attr:`Table.evictions`). ``train``, ``score``, ``evaluate``, ``plot``
    and ``retrain --data`` leave them out too (``score`` writes them with empty cells).
    Not the rows held for reordering when the entity was evicted, which ``serve`` drops
    with its window (left out by :func:`without_late_rows` too).

    >>> late_rows(np.array([0.0, 60.0, 30.0, 60.0, 45.0, 120.0])).tolist()
    [False, False, True, False, True, False]
    >>> late_rows(np.array([0.0, 20.0, 10.0, 30.0, 5.0, 40.0]), tolerance=10.0).tolist()
    [False, False, False, False, True, False]
    """
    late = np.ones(len(times), dtype=bool)
    late[release_order(times, tolerance, evictions, drop_held=False)] = False
    return late


def without_late_rows(table: Table, times: np.ndarray | None,
                      tolerance: float = 0.0) -> tuple[Table, np.ndarray]:
    """``table`` without its late rows (:func:`late_rows`) and those held for reordering
    when its entity was evicted (:attr:`Table.evictions`), in the order ``serve`` windows them (rows out of order
    by at most ``tolerance`` seconds put in time order), and those rows' indices in it;
    every row of a table without times. Done before missing cells are filled
    (:func:`apply_nan_policy`): a late row fills none of its successors."""
    kept = np.arange(table.rows) if times is None else release_order(
        times, tolerance, table.evictions, table.evicted_at_end)
    return table.with_rows(kept), kept


def _local_time_hint(text: str) -> str:
    """For a stamp without an offset, which is read as UTC: local times repeat an hour when
    clocks go back, and sorting would interleave the two passes. (Not for an epoch number.)"""
    if _is_number(text):
        return ""
    try:
        naive = datetime.fromisoformat(text).tzinfo is None
    except ValueError:
        return ""
    return ("; a stamp without an offset is read as UTC: local times that repeat an hour "
            "when clocks go back need their offset, e.g. +01:00") if naive else ""


#: A step this many times the median step is a gap in a series' data: ``train``'s note on
#: a file's gaps (:func:`time_notes`), and the held-out share of ``retrain``
#: (:func:`~anomaly_gan.retrain.select.split_holdout`), which does not count a gap as time.
GAP_FACTOR = 10.0


def time_notes(table: Table, times: np.ndarray | None, gap_factor: float = GAP_FACTOR,
               training: bool = True, tolerance: float = 0.0) -> list[str]:
    """``note:`` lines on rows that windows read as consecutive readings although their
    times say otherwise: repeated timestamps, and gaps over ``gap_factor`` times the median
    step (a window spans them as if nothing was missed).

    >>> t = Table("f.csv", ("a",), np.zeros((6, 1)), ("0", "60", "60", "120", "7200", "7260"))
    >>> for line in time_notes(t, table_times(t)):
    ...     print(line)
    note: f.csv: 1 row(s) repeat the timestamp of the row before (first row 3, '60'): windows read them as consecutive readings
    note: f.csv: 1 gap(s) of more than 10x the median step of 60 s (the longest 7080 s, before row 5): windows span them as if no reading was missed (split the file at a gap: windows never span two --data files)
    """
    if times is None or len(times) < 2:
        return []
    notes = []
    assert table.timestamps is not None
    behind = lags(times)
    if table.evictions is not None:  # behind the newest since the window started afresh
        for run in np.split(np.arange(len(times)),
                            np.flatnonzero(np.diff(table.evictions)) + 1):
            behind[run] = lags(times[run])
    # rows by their index in the file, as windowed
    kept = release_order(times, tolerance, table.evictions, table.evicted_at_end)
    late = np.ones(len(times), dtype=bool)
    late[kept] = False
    held = np.zeros(len(times), dtype=bool)
    if table.evictions is not None:  # a row not windowed is late, or held at an eviction
        held, late = late, late_rows(times, tolerance, table.evictions)
        held &= ~late
    if late.any():
        i = int(np.argmax(late))
        text = clip(str(table.timestamps[i]).strip(), 40)
        within = (f" by more than serve.windows.reorder_tolerance_seconds ({tolerance:g} s)"
                  if tolerance > 0 else "")
        notes.append(f"note: {table.path}: {int(late.sum())} row(s) are stamped before an "
                     f"earlier row{within} (first {table.where(i)}, {text!r}, "
                     f"{duration(float(behind[i]))} "
                     f"behind): left out, as serve drops an event older than its entity's "
                     f"last{_local_time_hint(text)}")
    if held.any():
        i = int(np.argmax(held))
        notes.append(f"note: {table.path}: {int(held.sum())} row(s) held for reordering "
                     f"(serve.windows.reorder_tolerance_seconds {tolerance:g} s) when the "
                     f"entity was evicted (serve.windows.max_entities; first {table.where(i)}):"
                     f" left out, as serve drops them with the entity's window")
    moved = int(((behind > 0) & ~late & ~held).sum())
    if moved:
        # not "by at most the tolerance": a row far behind the newest is kept while no
        # row after it was windowed yet (release_order), as serve keeps it
        notes.append(f"note: {table.path}: {moved} row(s) out of time order but stamped "
                     f"after every row windowed before them (serve.windows."
                     f"reorder_tolerance_seconds {tolerance:g} s holds rows back): windowed "
                     f"in time order, as serve reorders them")
    step = np.diff(times[kept])
    same = np.flatnonzero(step == 0)
    if same.size:
        i = int(kept[same[0] + 1])
        notes.append(f"note: {table.path}: {same.size} row(s) repeat the timestamp of the row "
                     f"before (first {table.where(i)}, {clip(str(table.timestamps[i]), 40)!r}): "
                     f"windows read them as consecutive readings"
                     f"{_entity_change_hint(table, i, int(kept[same[0]]))}")
    median = float(np.median(step[step > 0])) if (step > 0).any() else 0.0
    gaps = np.flatnonzero(step > gap_factor * median) if median > 0 else np.empty(0, int)
    if gaps.size:
        longest = int(gaps[np.argmax(step[gaps])])
        notes.append(f"note: {table.path}: {gaps.size} gap(s) of more than {gap_factor:g}x the "
                     f"median step of {median:g} s (the longest {step[longest]:g} s, before "
                     f"{table.where(int(kept[longest + 1]))}): windows span them as if no reading was "
                     f"missed" + (" (split the file at a gap: windows never span two --data "
                                  "files)" if training else ""))
    return notes


def fill_note(table: Table, policy: str) -> str | None:
    """A ``note:`` on the missing cells that ``policy`` (``ffill`` or ``zero``, see
    :func:`apply_nan_policy`) fills in a training file, or None where it fills none: how
    many, the column with the most and its longest run. The model learns the filled values
    as readings, and the threshold is set on them too: a filled run of hundreds of rows
    taught a model a flat stretch, and a held-out part that ended one set the threshold so
    high that a shift of 30 standard deviations scored under it.

    >>> v = np.array([[1.0, 5.0], [np.nan, 6.0], [np.nan, np.nan], [np.nan, 7.0], [2.0, 8.0]])
    >>> print(fill_note(Table("f.csv", ("a", "b"), v), "ffill"))
    note: f.csv: data.nan_policy ffill filled 4 missing cell(s), most in column 'a' (3 of 5 rows, the longest run 3 rows from row 2 to row 4): the model learns them as readings (the value before each run: a flat stretch) and the threshold is set on them too (a long run is better cut out: split the file there, windows never span two --data files)
    >>> fill_note(Table("f.csv", ("a",), np.ones((3, 1))), "ffill") is None
    True
    """
    bad = ~np.isfinite(table.values)
    if policy == "reject" or not bad.any():
        return None
    col = int(np.argmax(bad.sum(axis=0)))
    start, length = _longest_run(bad[:, col])
    what = ("the value before each run: a flat stretch" if policy == "ffill"
            else "0 for each missing cell")
    return (f"note: {table.path}: data.nan_policy {policy} filled {int(bad.sum())} missing "
            f"cell(s), most in column {table.column(col)} ({int(bad[:, col].sum())} of "
            f"{table.rows} rows, the longest run {length} row{'' if length == 1 else 's'} from "
            f"{table.where(start)} to "
            f"{table.where(start + length - 1)}): the model learns them as readings ({what}) "
            f"and the threshold is set on them too (a long run is better cut out: split the "
            f"file there, windows never span two --data files)")


def coarse_counter_notes(table: Table, values: np.ndarray,
                         counters: Sequence[int]) -> list[str]:
    """A ``note:`` for each column of ``data.counters`` (``counters``) of ``values``, the
    rows of ``table`` as filled (:func:`apply_nan_policy`), that is past 2**53
    (:func:`~anomaly_gan.data.counters.coarse_counters`): a float64, as serve reads it too,
    holds its increases only to a step of 128 at 1e18, and reads smaller ones as 0.

    >>> t = Table("f.csv", ("cpu", "bytes_total"), np.array([[1.0, 9e15], [2.0, 1e18]]))
    >>> print(coarse_counter_notes(t, t.values, [1])[0])
    note: f.csv: column 'bytes_total' of data.counters is past 2**53 from row 2 (up to 1e+18), where a float64 holds only multiples of 128: its increases are read to that step (smaller ones as 0), here and in serve
    """
    return [coarse_counter_note(table.path, f"column {table.column(col)}", table.where(row),
                                top, step)
            for col, row, top, step in coarse_counters(values, counters)]


def coarse_counter_note(source: str, what: str, where: str, top: float, step: float) -> str:
    """The ``note:`` of :func:`coarse_counter_notes` on ``what`` of ``source`` (a file's
    column, a topic's field), past 2**53 from ``where`` (a line, an event's time) up to
    ``top``, where a float64 holds multiples of ``step``.

    >>> print(coarse_counter_note("topic 'm', entity 'a'", "field 'b'", "2026-03-01T02:00:00Z", 1e18, 128.0))
    note: topic 'm', entity 'a': field 'b' of data.counters is past 2**53 from 2026-03-01T02:00:00Z (up to 1e+18), where a float64 holds only multiples of 128: its increases are read to that step (smaller ones as 0), here and in serve
    """
    return (f"note: {source}: {what} of data.counters is past 2**53 from {where} (up to "
            f"{top:.3g}), where a float64 holds only multiples of {step:g}: its increases are "
            f"read to that step (smaller ones as 0), here and in serve")


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    """Start and length of the longest run of True in a 1-d ``mask`` (the first of equals).

    >>> _longest_run(np.array([True, False, True, True, False, True, True]))
    (2, 2)
    """
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    longest = int(np.argmax(ends - starts))
    return int(starts[longest]), int(ends[longest] - starts[longest])


def _such_cells(n: int) -> str:
    """How many cells a refusal of non-finite values stands for: "2 such cells in all", or
    "the only one" (not "1 such cells")."""
    return "the only one" if n == 1 else f"{n} such cells in all"


def apply_nan_policy(table: Table, policy: str,
                     hint: str = "set data.nan_policy: ffill or zero in the --config file, or "
                                 "ANOMALY_GAN__DATA__NAN_POLICY=ffill, to fill them"
                     ) -> np.ndarray:
    """Return the values with NaN/inf handled: ``reject`` (error with location, ending
    with ``hint``: how to fill them instead), ``ffill`` (last finite value; leading gaps
    take the first finite value) or ``zero``."""
    values = table.values
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    empty = np.flatnonzero(bad.all(axis=0))
    if len(empty):  # nothing to fill from: not a gap but a column with no data at all
        # checked first: under reject, ``hint`` would offer a fill that refuses it so too
        raise DataError(f"{table.path}: column {table.column(int(empty[0]))}: no finite value "
                        f"in any row; expected the column to hold data")
    if policy == "reject":
        r, c = map(int, np.argwhere(bad)[0])
        raise DataError(
            f"{table.path}: {table.where(r)}, column {table.column(c)}: missing or non-finite value "
            f"({float(values[r, c])!r}); {_such_cells(int(bad.sum()))} "
            f"({hint})"
        )
    out = values.copy()
    if policy == "zero":
        out[bad] = 0.0
        return out
    if policy == "ffill":
        for j in np.flatnonzero(bad.any(axis=0)):
            series = out[:, j]
            ok = np.isfinite(series)
            idx = np.where(ok, np.arange(len(series)), 0)
            np.maximum.accumulate(idx, out=idx)
            first = int(np.argmax(ok))
            idx[: first] = first
            out[:, j] = series[idx]
        return out
    raise ValueError(f"unknown nan policy {policy!r}")


def check_features(table: Table, expected: Sequence[str]) -> np.ndarray:
    """Match the table's columns to a model's features; return values in model order.

    Headerless files must have exactly the model's column count; files with a header are
    matched by name (order may differ, extra columns are an error so nothing is silently
    ignored).
    """
    expected = tuple(expected)
    if not table.has_header:
        if table.values.shape[1] != len(expected):
            raise DataError(
                f"{table.path}: expected {len(expected)} feature columns (as the model was "
                f"trained), got {table.values.shape[1]}"
            )
        return table.values
    missing = [n for n in expected if n not in table.feature_names]
    # the header's columns left unread (read_table's ``only``) are unexpected too
    extra = [*table.left_out, *(n for n in table.feature_names if n not in expected)]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns {name_list(missing)}")
        if extra:
            parts.append(f"unexpected columns {name_list(extra)}")
        # serve.unknown_features: ignore leaves out the unexpected ones (Table.with_features)
        hint = ("" if missing else
                " (serve.unknown_features: ignore leaves them out, as in serve)")
        for sep, what in ((";", "';'"), ("\t", "tab"), (" ", "space")):
            # a header 'timestamp;cpu;mem' is one name: the reader's words for the cells;
            # a space only where the name is numbers (a headerless space-separated file)
            # or holds missing features as its words (a header run together)
            if any(sep in n if sep != " " else
                   _spaced_numbers(n) or len(set(n.split()) & set(missing)) > 1
                   for n in extra):
                hint = f" (the file looks {what}-separated; only comma-separated files are read)"
                break
        cased = {n.lower(): n for n in extra}
        if missing and not hint and any(n.lower() in cased for n in missing):
            # 'CPU' for 'cpu': names are matched exactly, as serve matches an event's
            n = next(n for n in missing if n.lower() in cased)
            hint = (f" (names are matched exactly, case too: {brief(cased[n.lower()])} is "
                    f"not {brief(n)})")
        raise DataError(
            f"{table.path}: columns do not match the model's features ({'; '.join(parts)}); "
            f"expected {name_list(expected)}{hint}"
        )
    order = [table.feature_names.index(n) for n in expected]
    return table.values[:, order]


def align_tables(tables: Sequence[Table]) -> list[Table]:
    """Several training files as one model's series: each with the first file's columns,
    in its order. Files with a header are matched by name, in any order, and a headerless
    file by its column count (as ``score`` and ``retrain --data`` match them); other
    differences are a :class:`DataError`.

    >>> a = Table("a.csv", ("cpu", "mem"), np.array([[1.0, 2.0]]))
    >>> b = Table("b.csv", ("mem", "cpu"), np.array([[20.0, 10.0]]))
    >>> align_tables([a, b])[1].values.tolist()
    [[10.0, 20.0]]
    >>> align_tables([a, Table("h.csv", ("f0", "f1"), np.array([[3.0, 30.0]]),
    ...                        has_header=False)])[1].feature_names
    ('cpu', 'mem')
    >>> align_tables([a, Table("c.csv", ("cpu", "disk"), np.zeros((1, 2)))])
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: c.csv: columns cpu, disk differ from a.csv: cpu, mem
    """
    first = tables[0]
    names = first.feature_names
    out = [first]
    for t in tables[1:]:
        if not t.has_header:  # by count, as check_features matches one to a model
            if len(t.feature_names) != len(names):
                raise DataError(f"{t.path}: {len(t.feature_names)} columns and no header, "
                                f"where {first.path} has {len(names)}: {name_list(names)}")
            # its cells are still named by their number (Table.column)
            out.append(dataclasses.replace(t, feature_names=names))
            continue
        same = (t.feature_names == names if not first.has_header
                else sorted(t.feature_names) == sorted(names))
        if not same:
            raise DataError(f"{t.path}: columns {name_list(t.feature_names)} differ from "
                            f"{first.path}: {name_list(names)}")
        out.append(t.with_features(names))
    return out


def read_labels(path: str | Path, rows: int | None = None, per: str = "data row",
                data: Table | None = None) -> np.ndarray:
    """Read 0/1 labels, one per data row (headerless, or with a one-line header);
    ``true``/``false`` (any case) are 1/0.

    With a multi-column file, the column named ``label`` (or ``is_anomaly``) is used.
    Where the labels have a timestamp column (one of :data:`TIMESTAMP_NAMES`, or named as
    ``data``'s time column: its ``data.timestamp_column``) and ``data`` (the table they
    label) has one too, each label's stamp must be its data row's
    (:func:`_check_label_times`): labels of another stretch, or of the rows in another
    order, scored without a word.
    """
    table = read_table(path, booleans=True,
                       time_named=None if data is None else data.time_column)
    if data is not None:
        rows = data.rows
    values = table.values
    if values.shape[1] > 1:
        names = [n.lower() for n in table.feature_names]
        for wanted in LABEL_NAMES:
            if wanted in names:
                values = values[:, [names.index(wanted)]]
                break
        else:
            raise DataError(
                f"{path}: expected one label column or a column named 'label', "
                f"got {len(names)} columns"
            )
    labels = values[:, 0]
    bad = ~np.isin(labels, (0.0, 1.0))
    if bad.any():
        r = int(np.argmax(bad))
        raise DataError(
            f"{path}: {table.where(r)}: expected a label 0 or 1, got {float(labels[r]):g}"
        )
    if rows is not None and len(labels) != rows:
        blank = ""
        if table.lines is not None and len(labels) < rows:
            # blank lines are skipped (and counted); inside the labels, one is likely a
            # label left out
            gaps = np.flatnonzero(np.diff(np.asarray(table.lines)) > 1)
            if gaps.size:
                blank = f" (line {table.lines[int(gaps[0])] + 1} is blank: a label left out?)"
        raise DataError(f"{path}: expected {rows} labels (one per {per}), got "
                        f"{len(labels)}{blank}")
    if data is not None:
        _check_label_times(table, data)
    return labels.astype(np.int8)


def _check_label_times(labels: Table, data: Table) -> None:
    """A :class:`DataError` naming the first label whose timestamp is not its data row's
    (compared as times: one file may write RFC 3339 and the other epoch ms); nothing where
    either file has no timestamp column, or for a pair of different texts of which one is
    no epoch or RFC 3339 time (``01/02/2026 10:00``: which day it means is not known here).

    >>> d = Table("d.csv", ("a",), np.zeros((2, 1)), ("2026-01-01T00:00:00Z", "1767225660"),
    ...           lines=(2, 3))
    >>> _check_label_times(dataclasses.replace(d, path="l.csv", timestamps=(
    ...     "1767225600000", "2026-01-01T00:01:00+00:00")), d)
    >>> _check_label_times(dataclasses.replace(d, path="l.csv", timestamps=(
    ...     "1767225600", "1767225720")), d)
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: l.csv: line 3: timestamp '1767225720' is not that of the data row it labels ('1767225660', line 3 of d.csv); expected one label per data row, in the data's order
    """
    if labels.timestamps is None or data.timestamps is None:
        return
    from anomaly_gan.stream.events import parse_timestamp_text

    for i, (mine, theirs) in enumerate(zip(labels.timestamps, data.timestamps, strict=True)):
        a, b = (str(x).strip() for x in (mine, theirs))
        if a == b:
            continue
        t, u = parse_timestamp_text(a), parse_timestamp_text(b)
        # a stamp that is no epoch or RFC 3339 time cannot be compared: not refused for it.
        # Compared to the microsecond (RFC 3339's finest in a data file): within 1 ms, a
        # label stamped for the next row of 1 kHz data passed.
        if t is not None and u is not None and round(t * 1e6) != round(u * 1e6):
            raise DataError(f"{labels.path}: {labels.where(i)}: timestamp {clip(a, 40)!r} is not "
                            f"that of the data row it labels ({clip(b, 40)!r}, "
                            f"{data.where(i)} of {data.path}); expected one label per data "
                            f"row, in the data's order")
