"""The filesystem edge: inputs opened with one-line errors, and for outputs atomic writes
that honour the umask and destination checks made before long work.

``tempfile.mkstemp``/``mkdtemp`` create 0600 files and 0700 directories whatever the umask;
renamed into place as they are, a bundle trained under one UID could not be read by ``serve``
under another on a shared volume. Everything written here gets the mode a plain
``open``/``mkdir`` would have given it.
"""

from __future__ import annotations

import errno
import io
import json
import os
import re
import socket
import stat
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from anomaly_gan.compressed import HEAD_BYTES, compression_of, decompressing
from anomaly_gan.errors import AnomalyGanError, DataError, OutputError, clip

__all__ = [
    "PROBE_PREFIX",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_texts",
    "check_creatable",
    "check_distinct",
    "check_input",
    "check_output_apart",
    "check_output_file",
    "current_umask",
    "file_entity",
    "host_name",
    "is_file",
    "mode_of",
    "open_input",
    "read_json",
    "sync_dir",
    "sync_tree",
    "umask_mode",
    "whole_characters",
    "writer_id",
]

#: The hidden directory :func:`check_creatable` makes and removes at once, named
#: ``PREFIX PID@HOST-*`` so that one left by a process killed in between is known as its
#: (a model store's next write removes it: :meth:`~anomaly_gan.store.ModelStore.clean_incoming`).
PROBE_PREFIX = ".anomaly-gan-probe-"


#: The names a compressed file ends with (:mod:`anomaly_gan.compressed` reads what it holds).
_COMPRESSED_SUFFIXES = frozenset({".gz", ".gzip", ".bz2", ".xz", ".zst", ".zstd"})


def file_entity(path: str | os.PathLike[str]) -> str:
    """The entity a data file's rows are: its name without the extension, and without a
    compression's before it, since a compressed file is read as what it holds (offline,
    each file is one series; ``score --alerts`` and ``retrain --data`` name it so).

    >>> file_entity("data/pump-7.csv"), file_entity("pump-7.csv.gz"), file_entity("pump-7.ZST")
    ('pump-7', 'pump-7', 'pump-7')
    """
    name = Path(path)
    if name.suffix.lower() in _COMPRESSED_SUFFIXES:
        name = name.with_suffix("")
    return name.stem


def host_name() -> str:
    """This host's name (a pod's name in Kubernetes) in letters, digits and ``_`` only, so
    that it parses back out of the names it is part of."""
    return re.sub(r"[^A-Za-z0-9]", "_", socket.gethostname()) or "_"


def writer_id() -> str:
    """``PID@HOST``: who writes a temporary name (see :func:`anomaly_gan.store._writer`)."""
    return f"{os.getpid()}@{host_name()}"


def sync_dir(path: str | os.PathLike[str]) -> None:
    """Make the names in directory ``path`` durable (a rename into it, a file created): its
    own ``fsync``. A file system that cannot sync a directory (EINVAL: some network and
    FUSE mounts) keeps its own rules, as it does for every program."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def sync_tree(root: str | os.PathLike[str]) -> None:
    """``fsync`` every file under ``root`` and every directory, ``root`` included, before it
    is renamed into place: a rename is durable only over data that is (after a power loss
    without it, a model store's ``current`` could name a version whose files are empty)."""
    for top, _dirs, names in os.walk(root):
        for name in names:
            fd = os.open(os.path.join(top, name), os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        sync_dir(top)


def check_input(path: str | os.PathLike[str]) -> Path:
    """Refuse an input that cannot be opened, with the one-line :class:`DataError` every
    reader raises (``PATH: file not found``, ``PATH: cannot read: REASON``), without opening
    it: for checks made before long work, such as ``retrain`` before TensorFlow loads."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
    except FileNotFoundError:
        raise DataError(_not_found(p)) from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc.strerror}") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{p}: cannot read: is a directory")
    if not os.access(p, os.R_OK):
        raise DataError(f"{p}: cannot read: Permission denied")
    return p


def _not_found(p: Path) -> str:
    """``PATH: file not found``; for ``-``, which ``--out -`` reads as standard output, the
    name that reads standard input.

    >>> _not_found(Path("-"))
    '-: file not found (standard input is read as /dev/stdin)'
    """
    return f"{p}: file not found" + (" (standard input is read as /dev/stdin)"
                                     if str(p) == "-" else "")


def check_distinct(paths: Sequence[str | os.PathLike[str]], option: str) -> None:
    """Refuse a file given twice (``--data a.csv a.csv``, or ``a.csv`` and a link to it):
    its rows would count twice in training and in the threshold's held-out windows, and
    nothing else would say so. Paths that cannot be opened are left to the readers' errors.
    """
    for i, later in enumerate(paths):
        for earlier in paths[:i]:
            if _same_file(earlier, later):
                raise DataError(f"{option}: {later} is {earlier} given twice; give each file "
                                "once")


def open_input(path: str | os.PathLike[str], mode: str = "r", **kwargs: Any) -> IO[Any]:
    """``open`` for an input file (``mode`` ``r``, with ``open``'s text arguments, or
    ``rb``), raising the same one-line errors as :func:`check_input`. A pipe is fine
    (``--data <(kubectl logs ...)``): every reader reads its input once (``train``
    refuses a pipe where it peeks at a file's head first: ``cli._refuse_pipe``). A file or pipe
    compressed with gzip, bzip2, xz or zstd, told by its first bytes, is read decompressed
    (:mod:`anomaly_gan.compressed`); those bytes are read until there are enough (a pipe
    may give them in pieces) and put back in front of the rest: nothing seeks."""
    p = Path(path)
    try:
        raw = p.open("rb", buffering=0)
    except FileNotFoundError:
        raise DataError(_not_found(p)) from None
    except IsADirectoryError:
        raise DataError(f"{p}: cannot read: is a directory") from None
    except OSError as exc:
        raise DataError(f"{p}: cannot read: {exc.strerror}") from None
    try:
        head = b""
        while len(head) < HEAD_BYTES:  # a pipe may give fewer at a time
            more = raw.read(HEAD_BYTES - len(head))
            if not more:
                break
            head += more
    except OSError as exc:
        raw.close()
        raise DataError(f"{p}: cannot read: {exc.strerror}") from None
    source = _HeadFirst(head, raw)
    compression = compression_of(head)
    binary = (decompressing(p, source, compression) if compression
              else io.BufferedReader(source, buffer_size=1 << 16))
    return binary if "b" in mode else io.TextIOWrapper(binary, **kwargs)


def whole_characters(last_line: bytes) -> bytes:
    """The last line of an input file, one with no newline after it, without the first
    bytes of a UTF-8 character its end cuts: a file cut while being written (non-ASCII text
    is written as UTF-8) reads as the same file cut before that character, where the line
    was no UTF-8, as if the file were in another encoding. A line that is no UTF-8 before
    its end is kept as it is, for its reader to refuse.

    >>> whole_characters("at 日本".encode()[:-1]), whole_characters(b"\\xff ok\\xe6")
    (b'at \\xe6\\x97\\xa5', b'\\xff ok\\xe6')
    """
    try:
        last_line.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.reason == "unexpected end of data":  # only ever at the end
            return last_line[:exc.start]
    return last_line


class _HeadFirst(io.RawIOBase):
    """``head``, the bytes already read of ``raw``, then the rest of ``raw``."""

    def __init__(self, head: bytes, raw: IO[bytes]) -> None:
        self._head, self._raw = head, raw

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._raw.fileno()

    def readinto(self, buffer: Any) -> int:
        if not self._head:
            return self._raw.readinto(buffer)  # type: ignore[attr-defined,no-any-return]
        n = min(len(buffer), len(self._head))
        buffer[:n] = self._head[:n]
        self._head = self._head[n:]
        if not self._head and n < len(buffer):
            # the rest of the buffer from the file, in the same read: a first read of the
            # head alone made peek() see 10 bytes (an indented OTLP/JSON line read as CSV,
            # a zstd file in a zstd file not named), where open() gave a full buffer
            n += self._raw.readinto(memoryview(buffer)[n:]) or 0  # type: ignore[attr-defined]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_json(path: Path, what: str, error: type[AnomalyGanError]) -> Any:
    """The JSON value in ``path`` (a bundle's manifest, a store's history); a file that cannot
    be read, is not UTF-8 or is not JSON is one ``error`` naming it and ``what`` it holds.
    The caller judges the value's shape.

    >>> read_json(Path("/no/history.json"), "promotion history", DataError)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    anomaly_gan.errors.DataError: /no/history.json: cannot read promotion history: No such ...
    """
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise error(f"{path}: cannot read {what}: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise error(f"{path}: expected {what} as UTF-8 JSON, got undecodable bytes at byte "
                    f"{exc.start}") from None
    except ValueError as exc:
        raise error(f"{path}: {what} is not valid JSON: {clip(str(exc), 120)}") from None
    except RecursionError:
        raise error(f"{path}: {what} is nested too deeply to be read as JSON") from None


def mode_of(path: Path, error: type[AnomalyGanError]) -> int | None:
    """``path``'s ``st_mode``; None when nothing is there (or the name is too long to be);
    one ``error`` when it cannot be told. ``Path.is_file`` says False for a symbolic-link loop
    and raises PermissionError under a directory that cannot be searched, so an unreadable
    version read as "not a model bundle" or ended in a traceback."""
    try:
        return path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    except PermissionError as exc:  # stat needs no right on the file: a directory refused it
        raise error(f"{path.parent}: cannot read: {exc.strerror}") from None
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            return None
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None


def is_file(path: Path, error: type[AnomalyGanError]) -> bool:
    """Whether ``path`` is a regular file; see :func:`mode_of` for what raises ``error``."""
    return stat.S_ISREG(mode_of(path, error) or 0)


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere the only way to read it is to set it
    os.umask(mask)
    return mask


def umask_mode(directory: bool) -> int:
    """The mode ``mkdir`` (0777) or ``open`` (0666) would give under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


def check_creatable(path: str | os.PathLike[str], what: str,
                    error: type[AnomalyGanError] = OutputError, *, inside: bool = False) -> None:
    """Raise ``error`` unless ``path`` could be created: its nearest existing ancestor is a
    directory that takes a new entry. With ``inside``, ``what`` is created inside ``path``
    (a model store takes new versions), so an existing ``path`` must itself be that
    directory; its missing parents are made along with it. Leaves nothing behind.

    The ancestor is proved by creating (and removing) a hidden directory in it:
    ``os.access`` says yes to root for any directory, so ``--out /proc/x/y`` as root
    trained for a minute and then failed to create the bundle."""
    p = Path(os.path.abspath(path))
    ancestor = p if inside else p.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        if ancestor.is_symlink():  # a dangling link on the way
            raise error(f"{path}: cannot create {what}: {ancestor} is a broken link")
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise error(f"{path}: cannot create {what}: {ancestor} is not a directory")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=f"{PROBE_PREFIX}{writer_id()}-", dir=ancestor))
    except OSError as exc:
        reason = ("read-only file system" if exc.errno == errno.EROFS else
                  "permission denied" if exc.errno in (errno.EACCES, errno.EPERM) else
                  f"it takes no new entry ({exc.strerror or exc})")
        raise error(f"{path}: cannot create {what} in {ancestor}: {reason}") from None


def check_output_file(path: str | os.PathLike[str], what: str = "output file") -> None:
    """Refuse an output path that exists as anything but a regular file (a FIFO, a device,
    a directory, a symlink), or that names a directory or nothing (``res/``, ``res/.``,
    ``''``), then check it could be created. Creates nothing.

    >>> check_output_file("results/", "scores CSV")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    anomaly_gan.errors.OutputError: results/: names a directory, not a file; expected ...
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
        # `res/` was written as a file named res; '' (an unset variable) as '.', refused
        # only by the write, after the whole scoring run
        if not os.fspath(path):
            raise OutputError(f"'': an empty path; expected a regular file path for the "
                              f"{what}") from None
        if os.path.basename(os.fspath(path)) in ("", ".", ".."):
            raise OutputError(f"{path}: names a directory, not a file; expected a regular "
                              f"file path for the {what}") from None
    except OSError as exc:
        raise OutputError(f"{path}: cannot write {what}: {exc.strerror}") from None
    if st is not None and not stat.S_ISREG(st.st_mode):
        kind = ("a symbolic link" if stat.S_ISLNK(st.st_mode) else
                "a directory" if stat.S_ISDIR(st.st_mode) else
                "a FIFO" if stat.S_ISFIFO(st.st_mode) else
                "a device" if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) else
                "not a regular file")
        raise OutputError(f"{path}: is {kind}; expected a regular file path for the {what} "
                          f"(it is written to a temporary file and renamed into place)")
    check_creatable(path, what)


def check_output_apart(path: str | os.PathLike[str], what: str,
                       inputs: Sequence[tuple[str, str | os.PathLike[str] | None]] = (),
                       directories: Sequence[tuple[str, str | os.PathLike[str] | None]] = (),
                       ) -> None:
    """Refuse an output path that would overwrite what the command reads: one of ``inputs``
    (the same file however it is named: relative, through a symlink, a hard link), or a
    path inside one of ``directories`` (a model bundle or store, which must not change).
    Each is ``(option, path)``, the option naming it in the error; a ``None`` path is
    skipped, and so is a directory that does not exist. Creates nothing.

    >>> check_output_apart("s.csv", "scores", [("--data", "./s.csv")])  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    anomaly_gan.errors.OutputError: s.csv: is the same file as the --data input ./s.csv; ...
    """
    real = os.path.realpath(path)
    for option, source in inputs:
        if source is not None and (real == os.path.realpath(source) or _same_file(path, source)):
            raise OutputError(f"{path}: is the same file as the {option} input {source}; "
                              f"write the {what} to another path")
    for option, directory in directories:
        if directory is None or not os.path.isdir(directory):
            continue
        if Path(real).is_relative_to(os.path.realpath(directory)):
            raise OutputError(f"{path}: is inside the {option} directory {directory}, which "
                              f"must not change; write the {what} outside it")


def _same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    try:
        return os.path.samefile(a, b)  # a hard link has another name but the same inode
    except OSError:  # one of them does not exist (yet)
        return False


def atomic_write_text(path: str | os.PathLike[str], write: Callable[[IO[str]], None]) -> None:
    """Write a text file through ``write(fh)`` into a temporary sibling, synced, then rename
    it over ``path`` and sync the directory: a reader never sees half a file, nor does one
    after a power loss, and a failed run leaves nothing (an existing file at ``path`` stays
    as it was)."""
    _atomic_write(path, write, binary=False)


def atomic_write_bytes(path: str | os.PathLike[str], write: Callable[[IO[bytes]], None]
                       ) -> None:
    """:func:`atomic_write_text` for a binary file, such as a figure."""
    _atomic_write(path, write, binary=True)


def atomic_write_texts(writes: Sequence[tuple[str | os.PathLike[str],
                                              Callable[[IO[str]], None]]]) -> None:
    """:func:`atomic_write_text` for files that belong together (``score``'s scores and
    ``--alerts``): each ``(path, write)`` goes into its temporary sibling, and they are
    renamed into place only once all are written, so a failed write (a full disk, an error
    while writing) leaves none of them and the previous files as they were. The renames come
    one after another: one that fails (rare: each temporary file is its target's sibling)
    leaves the files renamed before it in place, and its error names the file not written."""
    staged: list[tuple[str, Path]] = []
    renamed: set[Path] = set()
    try:
        for path, write in writes:
            staged.append((_stage(path, write, binary=False), Path(path)))
        while staged:
            tmp, out = staged[0]
            try:
                os.replace(tmp, out)
            except OSError as exc:
                raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None
            staged.pop(0)
            renamed.add(out.parent)
        for parent in renamed:
            try:
                sync_dir(parent)  # the renames too survive a power loss
            except OSError as exc:
                raise OutputError(f"{parent}: cannot write: {exc.strerror or exc}") from None
    finally:
        for tmp, _ in staged:  # not renamed into place
            Path(tmp).unlink(missing_ok=True)


def _atomic_write(path: str | os.PathLike[str], write: Callable[[IO[Any]], None],
                  binary: bool) -> None:
    tmp = _stage(path, write, binary)
    try:
        os.replace(tmp, path)
        sync_dir(Path(path).parent)  # the rename too survives a power loss
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _stage(path: str | os.PathLike[str], write: Callable[[IO[Any]], None],
           binary: bool) -> str:
    """Write ``path``'s content through ``write(fh)`` into a temporary sibling, synced (a
    rename is durable only over data that is); returns its path (the caller renames it into
    place). A failure leaves no temporary file."""
    out = Path(path)
    check_output_file(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write: {exc.strerror}") from None
    try:
        os.fchmod(fd, umask_mode(directory=False))
        with (os.fdopen(fd, "wb") if binary else
              os.fdopen(fd, "w", newline="", encoding="utf-8")) as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:  # e.g. the disk filled up: one line, and no partial file
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp
