"""The model store: immutable versions, an atomic ``current`` pointer, promotion history.

Layout::

    <store>/
      current            the version `serve` loads (one line; replaced by rename, never edited)
      history.json       promotion stack (rollback pops it) and an append-only log
      .lock              advisory lock (flock) held by whoever changes current/history
      .retrain.lock      "PID@HOST SINCE" of the retrain that holds the store for its whole run
      <version>/         a bundle (artifacts.py), never modified once renamed into place

Every bundle's ``metadata.json`` carries its ``lineage`` (parent version, data source and
range, rows/windows excluded and why, training mode) and, when it went through
``anomaly-gan retrain``, its ``gate`` report. Training ``health`` is read through
:func:`health_of` only, so the health format can grow without touching the callers.

Writes are crash-safe: a version is assembled in a hidden ``.incoming-*`` directory and
renamed into place; ``current`` and ``history.json`` are written to a temporary file and
renamed, history.json first. It names the ``current`` it was written for and the state
before (``before``: that current and the stack), so a reader that finds ``current`` not yet
renamed (the writer was killed between the two renames) reads the state before. A process
killed at any point leaves either the old or the new state.

>>> import tempfile
>>> s = ModelStore.open(tempfile.mkdtemp(), create=True)
>>> s.current() is None, s.versions()
(True, [])
>>> shutil.rmtree(s.root)
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import getpass
import json
import os
import re
import shutil
import socket
import stat
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any

from anomaly_gan import files
from anomaly_gan.errors import (
    AnomalyGanError,
    BundleError,
    OutputError,
    StoreError,
    brief,
    name_list,
)
from anomaly_gan.files import PROBE_PREFIX, is_file, mode_of, read_json

__all__ = [
    "CURRENT",
    "LOCK_TIMEOUT_S",
    "MANIFEST",
    "RUN_LOCK",
    "UNCHANGED",
    "ModelStore",
    "VersionInfo",
    "gate_of",
    "health_of",
    "input_of",
    "read_pointer",
]

# The two names by which a directory is known, here for the store and for artifacts.py (which
# imports this module, not the other way round): a store has CURRENT, a bundle has MANIFEST.
CURRENT = "current"
MANIFEST = "manifest.json"
HISTORY = "history.json"
LOCK = ".lock"
RUN_LOCK = ".retrain.lock"
INCOMING = ".incoming-"

#: A writer's leftover from another host (another pod on the store's volume: its process
#: ids are not this one's to ask) is removed once it is this old. Writes into the store
#: take seconds (a bundle is saved after training, not during it).
FOREIGN_LEFTOVER_SECONDS = 3600.0
LOST_FOUND = "lost+found"
#: How a promote or rollback that failed to write says that nothing changed; a retrain,
#: which added its candidate before, says instead that the candidate is kept.
UNCHANGED = " (the store is unchanged)"
LOCK_TIMEOUT_S = 60.0
#: How often the holder of the run lock refreshes its time (a retrain runs for hours), and
#: how old that time must be for another host to take the lock over as a dead holder's: ten
#: missed refreshes, so that a CronJob pod killed by SIGKILL (or a lost node) holds up the
#: next run for minutes, not the hour a temporary file without a refresh needs.
RUN_LOCK_REFRESH_S = 60.0
RUN_LOCK_STALE_SECONDS = 10 * RUN_LOCK_REFRESH_S
#: What a run lock's writer looks like: ``PID@HOST`` (``PID`` alone from a writer that
#: wrote no host).
_WRITER_RE = re.compile(r"^\d+(@\w+)?$")
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


def _is_version_name(name: str) -> bool:
    """A name a version directory may have: not a path, and none of the store's own files
    (a ``current`` that was a link to a version was listed as a version called current)."""
    return bool(_VERSION_RE.match(name)) and name not in (CURRENT, HISTORY, LOST_FOUND)


def _names_version(value: Any) -> bool:
    """``value`` is a string that a version directory may be named (:func:`_is_version_name`):
    what history.json holds for a version."""
    return isinstance(value, str) and _is_version_name(value)


def read_pointer(path: Path, error: type[AnomalyGanError]) -> str | None:
    """The version name a store's ``current`` file holds, stripped (its first 4 KiB: any
    longer is no directory name); None when there is no ``current``. Unreadable, not UTF-8,
    or a directory (a ``current`` made a link to the version directory, as some deploy tools
    do) is one ``error`` naming it: a directory read as "nothing promoted yet", and retrain
    then trained a version with no parent and made it current. The caller judges the name."""
    mode = mode_of(path, error)
    if mode is None:
        return None
    if stat.S_ISDIR(mode):
        raise error(f"{path}: is a directory{' (a link to one)' if path.is_symlink() else ''}; "
                    f"expected a file holding the name of the version directory to serve; "
                    f"remove it, then `anomaly-gan models promote --store {path.parent} "
                    f"VERSION` writes one")
    try:
        return path.read_bytes()[:4096].decode("utf-8").strip()
    except UnicodeDecodeError:
        raise error(f"{path}: expected the name of a version directory as UTF-8 text, "
                    f"got undecodable bytes; `anomaly-gan models promote --store "
                    f"{path.parent} VERSION` replaces it") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None


def _is_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


# The parts of a version's metadata.json that the store and `models` read, and what each must
# be when present (null counts as absent); health is left to health_of, which takes any shape.
# info() checks them once, so a hand-edited or damaged file is one error naming it, and a gate
# that is not an object cannot pass for "no gate" and let a rejected version be promoted.
# Parents come before their children.
_METADATA_SHAPE: tuple[tuple[str, Callable[[Any], bool], str], ...] = (
    ("lineage", lambda v: isinstance(v, dict), "an object"),
    ("lineage.parent", lambda v: isinstance(v, str), "a version name (a string)"),
    ("lineage.source", lambda v: isinstance(v, dict), "an object"),
    ("lineage.source.files", _is_strings, "a list of file names"),
    # what `train` records: a bundle with no lineage shows its files as its DATA RANGE
    ("training_data", lambda v: isinstance(v, dict), "an object"),
    ("training_data.files", _is_strings, "a list of file names"),
    ("gate", lambda v: isinstance(v, dict), "an object"),
    ("gate.reasons", _is_strings, "a list of strings"),
)


def health_of(metadata: dict[str, Any]) -> dict[str, Any]:
    """The training-health part of a bundle's metadata, normalised for the gate and ``list``.

    Returns ``{"status": "healthy"|"unhealthy"|"damaged"|"unknown", "issues": [...],
    "attempts": n}`` (``damaged``: :meth:`ModelStore.versions` could not read the metadata);
    ``attempts`` is how many training runs it took (1 when the metadata does not say).
    """
    raw = metadata.get("health")
    if not isinstance(raw, dict):
        return {"status": "unknown", "issues": ["no training health recorded"], "attempts": 1}
    status = raw.get("status")
    issues = raw.get("issues") or []
    issues = [str(i) for i in (issues if isinstance(issues, list) else [issues])]
    attempts = raw.get("attempts", metadata.get("attempts", 1))
    if isinstance(attempts, list):  # a list of per-attempt reports
        attempts = len(attempts)
    return {"status": status if status in ("healthy", "unhealthy", "damaged") else "unknown",
            "issues": issues, "attempts": int(attempts) if isinstance(attempts, int) else 1}


def gate_of(metadata: dict[str, Any]) -> str | None:
    """``passed``, ``rejected`` or None (trained without the gate, e.g. ``anomaly-gan train``;
    ``models list`` shows ``-``)."""
    gate = metadata.get("gate")
    if not isinstance(gate, dict):
        return None
    return "passed" if gate.get("passed") else "rejected"


def input_of(metadata: dict[str, Any]) -> str:
    """``logs`` or ``metrics``: a logs bundle says so in its metadata (its lines, templates
    and buckets)."""
    return "logs" if "logs" in metadata else "metrics"


@dataclass(frozen=True)
class VersionInfo:
    name: str
    created: str
    metadata: dict[str, Any]
    #: its metadata could not be read (or its name is none a version may have): listed with
    #: health ``damaged``, and nothing else known of it
    damaged: bool = False

    @property
    def data_range(self) -> str | None:
        """What the version was trained on: a retrain's source, else the files and time
        that ``train`` recorded (bundles trained before 2026-12-05 recorded none: None,
        ``-`` in ``models list``)."""
        for src in ((self.metadata.get("lineage") or {}).get("source") or {},
                    self.metadata.get("training_data") or {}):
            if src.get("from") and src.get("to"):
                return f"{src['from']} .. {src['to']}"
            if src.get("files"):
                return ",".join(Path(f).name for f in src["files"])
        return None

    @property
    def gate(self) -> str | None:
        return gate_of(self.metadata)

    @property
    def input(self) -> str | None:
        """``logs`` or ``metrics``; None for a damaged version, whose metadata says neither
        (it was listed as ``metrics``, a logs model's too)."""
        return None if self.damaged else input_of(self.metadata)

    @property
    def parent(self) -> str | None:
        return (self.metadata.get("lineage") or {}).get("parent")


def _damaged(name: str, why: Exception) -> VersionInfo:
    """A version :meth:`ModelStore.versions` lists as damaged, ``why`` its health's issue."""
    return VersionInfo(name, "", {"health": {"status": "damaged", "issues": [str(why)]}},
                       damaged=True)


def _entries(root: Path) -> list[Path]:
    """What in ``root`` may be a version: hidden names (the lock, versions being written),
    the store's own ``current`` and ``history.json``, and the file system's ``lost+found``
    (root-owned, at the top of every fresh ext4 volume, such as a Kubernetes
    PersistentVolume mounted as the store) left out."""
    try:
        return [p for p in root.iterdir() if not p.name.startswith(".")
                and p.name not in (LOST_FOUND, CURRENT, HISTORY)]
    except OSError as exc:
        raise StoreError(f"{root}: cannot read: {exc.strerror or exc}") from None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _checked_history(path: Path, data: Any) -> dict[str, Any]:
    """``data`` read from history.json, once its shape is known to be what promote,
    rollback and prune change: ``{"stack": [version, ...], "log": [{...}, ...]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("stack"), list):
        raise StoreError(f"{path}: expected a JSON object with a 'stack' list of version "
                         f"names, got {brief(data)}")
    for i, name in enumerate(data["stack"]):
        # A name, not a path: rollback makes it current.
        if not _names_version(name):
            raise StoreError(f"{path}: stack[{i}]: expected a version name, got {brief(name)}")
    if data.get("log") is None:
        data["log"] = []
    if not isinstance(data["log"], list):
        raise StoreError(f"{path}: log: expected a list of promotion records, got "
                         f"{brief(data['log'])}")
    for i, entry in enumerate(data["log"]):
        if not isinstance(entry, dict):
            raise StoreError(f"{path}: log[{i}]: expected an object, got {brief(entry)}")
    # What a promote, rollback or prune wrote for the ``current`` it renamed after: absent
    # from a history.json written before 2026-12 (or by hand).
    written_for = data.get("current")
    if written_for is not None and not _names_version(written_for):
        raise StoreError(f"{path}: current: expected a version name or null, got "
                         f"{brief(written_for)}")
    before = data.get("before")
    if before is not None and not (
            isinstance(before, dict) and isinstance(before.get("stack"), list)
            and all(_names_version(v) for v in before["stack"])
            and (before.get("current") is None or _names_version(before["current"]))):
        raise StoreError(f"{path}: before: expected an object with 'current' (a version "
                         f"name or null) and a 'stack' list of version names, got "
                         f"{brief(before)}")
    return data


def _metadata_problem(meta: Any) -> str | None:
    """What is wrong with a version's parsed metadata.json (see _METADATA_SHAPE), or None."""
    if not isinstance(meta, dict):
        return f"expected a JSON object, got {brief(meta)}"
    for dotted, fits, expected in _METADATA_SHAPE:
        value: Any = meta
        for key in dotted.split("."):
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and not fits(value):
            return f"{dotted}: expected {expected}, got {brief(value)}"
    return None


def _history_text(history: dict[str, Any], current: str | None,
                  before: dict[str, Any] | None = None) -> str:
    """history.json's text: ``history``'s stack and log, the ``current`` it is written for
    and, from a promote or rollback, the state ``before`` it (see :meth:`ModelStore._history`)."""
    record = {"stack": history["stack"], "log": history["log"], "current": current}
    if before is not None:
        record["before"] = before
    return json.dumps(record, indent=2) + "\n"


def _stage(path: Path, text: str) -> Path:
    """``text`` written and synced to ``.NAME.PID@HOST.tmp`` beside ``path``, for the caller to
    rename over it; the temporary is removed when the write fails or is interrupted (one
    left by a killed process goes with :meth:`ModelStore.clean_incoming`). A write refused
    by the file system (full, read-only, quota) is one :class:`StoreError` naming ``path``."""
    tmp = path.with_name(f".{path.name}.{_writer()}.tmp")
    try:
        # Its name is predictable (a retrain is often process 1): a link planted there by
        # another user of the volume would have had this process write through it, to a
        # file outside the store. A leftover is removed (a link goes, not its target) and
        # the temporary created anew, never opened through a link.
        tmp.unlink(missing_ok=True)
        with open(tmp, "w", encoding="utf-8", opener=_create_new) as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException as exc:  # a signal too: no temporary file left in the store
        tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
    return tmp


def _create_new(path: str, flags: int) -> int:
    """``open``'s opener for a file that must not exist yet, nor be a link."""
    return os.open(path, flags | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)


def _replace_all(staged: list[tuple[Path, Path]]) -> None:
    """Rename each staged temporary over its file, in order; what is not renamed yet is
    removed if one rename fails or is interrupted."""
    try:
        for tmp, path in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None
        for parent in {path.parent for _, path in staged}:
            files.sync_dir(parent)  # the renames too survive a power loss
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)


def _atomic_write(path: Path, text: str) -> None:
    """Write ``path`` whole or not at all (see :func:`_stage`)."""
    _replace_all([(_stage(path, text), path)])


def _remove(path: Path) -> None:
    """Delete a directory of the store, or a link in its place (a version linked in from
    elsewhere: the link goes, never what it points to; rmtree refuses a link, which was
    then left behind as a hidden name for ever)."""
    if path.is_symlink():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _host() -> str:
    """This host's name in letters, digits and ``_`` (:func:`anomaly_gan.files.host_name`)."""
    return files.host_name()


def _operator() -> str:
    """``USER@HOST`` for the promotion log: who moved ``current`` (``uid N`` where the user
    has no name, as in a container run under an arbitrary uid)."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return f"{user}@{socket.gethostname()}"


def _writer() -> str:
    """``PID@HOST``: who writes a temporary name into the store. The process id alone was
    not enough: pods that share the store's volume each have their own process ids (a
    retrain is often process 1), so one pod took another's leftovers for a live process's
    for ever, or a live writer's for a dead one's and removed them under it. The same as
    :func:`anomaly_gan.files.writer_id`, which names the probe of a writable store."""
    return files.writer_id()


def _writer_gone(writer: str, path: Path, foreign_age: float = FOREIGN_LEFTOVER_SECONDS,
                 now: float | None = None) -> bool:
    """Whether the writer of the leftover ``path`` (``PID@HOST``, or ``PID`` from before
    the host was written) is gone: on this host, its process is not running; on another,
    the leftover is older than ``foreign_age`` seconds at ``now`` (default: this host's
    clock; :func:`_store_now` for the clock that stamped it). Not this process's own.

    >>> import tempfile
    >>> here = Path(tempfile.mkdtemp())
    >>> _writer_gone(_writer(), here), _writer_gone("999999999", here)
    (False, True)
    >>> _writer_gone("1@another_pod", here)  # fresh: its writer may be at work
    False
    >>> here.rmdir()
    """
    pid_text, _, host = writer.partition("@")
    if not pid_text.isdigit():
        return False  # not a name this module writes: left alone
    if host and host != _host():
        try:
            age = (time.time() if now is None else now) - path.lstat().st_mtime
        except OSError:
            return False
        return age > foreign_age
    pid = int(pid_text)
    return pid != os.getpid() and not _pid_alive(pid)


def _read_run_lock(path: Path) -> str | None:
    """What the run lock holds (``PID@HOST SINCE``), stripped; None when there is none or
    it cannot be read as a file (a link is not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        return os.read(fd, 512).decode("utf-8", "replace").strip()
    except OSError:
        return None
    finally:
        os.close(fd)


#: The run locks this process holds (what each holds): a lock naming this process that is
#: not one of them was left by an earlier process with the same id.
_HELD_RUN_LOCKS: set[tuple[int, int, str]] = set()  # device, inode, what it holds
#: How much later than a run lock's time a live process of its id may have started and still
#: be taken for its writer (the time is written after the start, in whole seconds; a clock
#: stepped forward meanwhile moves the start later).
PID_REUSE_SLACK_S = 60.0


def _process_start(pid: int) -> float | None:
    """When process ``pid`` of this host started (Unix time, to a second), from Linux's
    /proc; None where that cannot be read."""
    try:
        after_name = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(int(line.split()[1]) for line in
                    Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return boot + int(after_name[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _holds_run_lock(held: str, path: Path) -> bool:
    """Whether this process holds the run lock ``path`` that holds ``held``."""
    try:
        st = path.lstat()
    except OSError:
        return False
    return (st.st_dev, st.st_ino, held) in _HELD_RUN_LOCKS


def _pid_reused(pid: int, held: str, path: Path) -> bool:
    """Whether the process ``pid`` of this host, alive, is not the writer of the run lock
    ``path`` that holds ``held`` (``PID@HOST SINCE``) but a later process given the same id: this
    process when it holds no such lock (a container restarted in its pod, where a retrain
    is process 1 each time), another when it started after the lock was written."""
    if pid == os.getpid():
        try:
            path.lstat()  # the file, whatever the path by which the store was opened
        except OSError:
            return False
        return not _holds_run_lock(held, path)
    started = _process_start(pid)
    try:
        since = datetime.fromisoformat(held.partition(" ")[2]).timestamp()
    except ValueError:
        return False
    return started is not None and started > since + PID_REUSE_SLACK_S


def _store_now(root: Path) -> float:
    """Now by the clock that stamps the times of the store's files: its :data:`LOCK`
    touched and read back (under :meth:`ModelStore.lock`). On NFS a file's time is the
    server's, and this host's clock ahead of it by ten minutes took another host's live,
    refreshed run lock for a dead one's. This host's clock where the touch fails."""
    try:
        os.utime(root / LOCK)
        return (root / LOCK).stat().st_mtime
    except OSError:
        return time.time()


def _is_time(text: str) -> bool:
    """Whether ``text`` is a time as :func:`_now` writes it (ISO 8601 with a zone)."""
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _run_lock_gone(held: str, path: Path) -> bool:
    """Whether the run lock ``path`` holding ``held`` may be taken over: its writer is
    gone (:func:`_writer_gone`; on this host, its process id now another process's:
    :func:`_pid_reused`), or it names none (a taker killed between creating and writing
    it, or within the write, a link, a file written by something else) and its time is
    :data:`RUN_LOCK_STALE_SECONDS` old by the store's clock (:func:`_store_now`). A lock
    holding no time after its writer names none: a write torn after ``1`` of
    ``1234@host SINCE`` named process 1, always alive, and held the store for ever."""
    writer, _, since = held.partition(" ")
    pid_text, _, host = writer.partition("@")
    if _WRITER_RE.match(writer) and _is_time(since):
        if host in ("", _host()) and _pid_reused(int(pid_text), held, path):
            return True
        return _writer_gone(writer, path, RUN_LOCK_STALE_SECONDS, _store_now(path.parent))
    try:
        return _store_now(path.parent) - path.lstat().st_mtime > RUN_LOCK_STALE_SECONDS
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _refresh(fd: int, stop: threading.Event) -> None:
    """Set the run lock's time to now every :data:`RUN_LOCK_REFRESH_S` until ``stop``: the
    age by which another host knows its holder is gone."""
    while not stop.wait(RUN_LOCK_REFRESH_S):
        with contextlib.suppress(OSError):
            os.utime(fd)


# What to do when the lock file cannot be opened, by the reason. "Run as a user that may
# write the store" was said for every reason, and misled where no user could: a volume
# mounted read-only (a scorer's pod mounts the store so) or a .lock that is a directory.
_LOCK_ADVICE = {
    **dict.fromkeys((errno.EACCES, errno.EPERM), "run as a user that may write the store"),
    errno.EROFS: "the store's volume is mounted read-only here (as in a scorer's pod); run "
                 "it where the volume is mounted read-write",
    **dict.fromkeys((errno.EISDIR, errno.ENOTDIR),
                    f"{LOCK} is not a file; remove it (the next command that writes the store "
                    f"makes a new one)"),
}


class ModelStore:
    """A directory of immutable model versions; see the module docstring.

    ``writing``: the context every change runs in, entered once the lock is taken (the CLI
    gives one that defers Ctrl-C and SIGTERM, so a signal waits for the renames to end
    instead of landing between two); by default none.
    """

    def __init__(self, root: Path,
                 writing: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
                 ) -> None:
        self.root = root
        self._writing = writing or contextlib.nullcontext

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], create: bool = False, *,
             writing: Callable[[], contextlib.AbstractContextManager[Any]] | None = None
             ) -> ModelStore:
        """Open the store at ``path``; with ``create`` a missing or empty directory becomes one.
        ``writing``: see the class.

        Anything else that is not a store (a file, a bundle, a directory of other files) is
        refused with a :class:`StoreError` naming the path.
        """
        root = Path(path)
        mode = mode_of(root, StoreError) or 0
        if stat.S_ISREG(mode):
            raise StoreError(f"{root}: is a file, not a model store (a directory with a "
                             f"'{CURRENT}' file)")
        if stat.S_ISDIR(mode):
            if is_file(root / MANIFEST, StoreError):
                raise StoreError(f"{root}: is a model bundle, not a store; pass the directory "
                                 f"that holds the versions")
            entries = _entries(root)
            is_store = (mode_of(root / CURRENT, StoreError) is not None
                        or is_file(root / HISTORY, StoreError))
            if is_store or (create and not entries):
                return cls(root, writing)
            if not entries:
                raise StoreError(f"{root}: empty directory, not a model store yet (no "
                                 f"'{CURRENT}' file; `anomaly-gan retrain` creates one)")
            others = sorted(p.name for p in entries if not is_file(p / MANIFEST, StoreError))
            if not others:
                return cls(root, writing)  # versions but nothing promoted yet
            # the names that are not versions, all counted: until 2026-12-08 the first three
            # entries, versions among them, and no count of the rest
            versions = len(entries) - len(others)
            raise StoreError(f"{root}: not a model store: no '{CURRENT}' or '{HISTORY}' file "
                             f"and it holds {len(others)} entr{'y' if len(others) == 1 else 'ies'}"
                             f" that {'is' if len(others) == 1 else 'are'} not a version "
                             f"({name_list(others)})"
                             + (f" beside {versions} version(s)" if versions else ""))
        if create:
            return cls(root, writing)  # the directory is made by the first add()
        raise StoreError(f"{root}: model store does not exist")

    # ------------------------------------------------------------------ reading

    def current(self, *, replacing: bool = False) -> str | None:
        """The version ``current`` names; None when nothing has been promoted yet. With
        ``replacing`` (a promote, which writes a new one), a ``current`` file that names no
        version (empty, a path, undecodable) is None too: refusing it there left the store
        with no way out but editing the file."""
        f = self.root / CURRENT
        try:
            name = read_pointer(f, StoreError)
        except StoreError:
            # undecodable or unreadable; a directory stays an error: no rename replaces it
            if replacing and stat.S_ISREG(mode_of(f, StoreError) or 0):
                return None
            raise
        if name is None:
            return None
        if not name or not _is_version_name(name):
            if replacing:
                return None
            # empty too: score and serve refuse it, and retrain took it for "nothing
            # promoted" and trained a parentless version that it then promoted
            raise StoreError(f"{f}: expected the name of a version directory, got "
                             f"{brief(name)}; `anomaly-gan models promote --store {self.root} "
                             f"VERSION` replaces it")
        return name

    def _history(self, *, replacing: bool = False) -> dict[str, Any]:
        """history.json (``stack`` and ``log``), its stack ending with the current version.

        history.json is renamed before ``current`` (:meth:`_write_pointer`): one that was
        written for another ``current`` than the file names, by a promote or rollback killed
        between its two renames, is read as the state before it (its ``before`` stack, its
        last log entry dropped). Renamed the other way round, a rollback killed between the
        two left the stack under the restored version with the version rolled away from on
        top, which then became the predecessor: ``models list``'s ``^``, the next rollback's
        target and what prune kept, while the real predecessor could be pruned.

        A ``current`` the stack does not end with otherwise (set by hand, or a store from
        before history.json) is on top all the same, and the version under it is the one
        rollback restores and prune keeps. ``replacing``: see :meth:`current`."""
        f = self.root / HISTORY
        raw: dict[str, Any] = {"stack": [], "log": []}
        if is_file(f, StoreError):
            try:
                raw = _checked_history(f, read_json(f, "promotion history", StoreError))
            except StoreError as exc:
                if str(exc).startswith(f"{f}: cannot read"):  # the file system's, not its text
                    raise
                # Every command that reads the store stopped here (list, show, promote,
                # rollback, prune, retrain) with no word of the way out.
                raise StoreError(f"{exc}; move it aside (`mv {f} {f}.damaged`): the store "
                                 f"then starts a new history at `current`, and `models "
                                 f"rollback` has no target until the next promote") from None
        cur = self.current(replacing=replacing)
        history = {"stack": raw["stack"], "log": raw["log"]}
        before = raw.get("before")
        # A `current` that names no version (being replaced) is damaged, not the one a
        # killed promote left: that is absent or a version. Taken for a killed first promote
        # (before it: None), it dropped that promote from the log and the stack.
        garbled = cur is None and os.path.lexists(self.root / CURRENT)
        if (not garbled and "current" in raw and raw["current"] != cur and before is not None
                and before.get("current") == cur):
            history = {"stack": list(before["stack"]), "log": raw["log"][:-1]}
        if cur is not None and (not history["stack"] or history["stack"][-1] != cur):
            history["stack"].append(cur)
        return history

    def history(self) -> list[dict[str, Any]]:
        """Every promotion/rollback, oldest first."""
        return list(self._history()["log"])

    def _rollback_index(self, stack: list[str]) -> int | None:
        """Where in ``stack`` the version ``rollback`` restores is: the newest below the top
        that is still in the store (one removed by hand is skipped) and is not the top's own
        name."""
        for i in range(len(stack) - 2, -1, -1):
            # Until 2026-12-07 the top's own name counted: a stack with it under the top (v1
            # promoted over a garbled `current` that had named it; a prune or `rm -r` of the
            # version between two promotes of v1) rolled back "from v1 to v1", and `models
            # list` and prune took v1 for its own predecessor.
            if stack[i] != stack[-1] and is_file(self.root / stack[i] / MANIFEST, StoreError):
                return i
        return None

    def predecessor(self, *, replacing: bool = False) -> str | None:
        """The version ``rollback`` would restore (and ``prune`` keeps); ``replacing``: see
        :meth:`current`."""
        stack = self._history(replacing=replacing)["stack"]
        i = self._rollback_index(stack)
        return None if i is None else stack[i]

    def versions(self) -> list[VersionInfo]:
        """Every complete version, oldest first. A version whose metadata cannot be read, or a
        bundle under a name no version may have (copied in by hand), or a link at a version's
        name that cannot be followed (a loop), is listed as damaged
        (health ``damaged``, the reason its issue), oldest of all: one such version stopped
        `models list` and `models prune`, the commands that show and remove it.
        Reading it by name (:meth:`info`: show, promote, rollback) still names the file."""
        if not self.root.is_dir():
            return []
        out = []
        for p in _entries(self.root):
            try:
                if not is_file(p / MANIFEST, StoreError):
                    continue
            except StoreError as exc:
                if not p.is_symlink():  # an unreadable directory: one line, as show says
                    raise
                # a link loop stopped `models list` and `models prune`, which show and remove it
                out.append(_damaged(p.name, exc))
                continue
            try:
                if not _is_version_name(p.name):
                    # a bundle copied in by hand (`cp -r v1 "v1 copy"`): path_of's error
                    # stopped `models list` and `models prune`, which show and remove it
                    raise BundleError(f"{p}: not a version name (a letter or digit, then letters, "
                                      f"digits, '.', '_' or '-'); rename it to promote it")
                out.append(self.info(p.name))
            except BundleError as exc:
                out.append(_damaged(p.name, exc))
        return sorted(out, key=lambda v: (v.created, v.name))

    def info(self, version: str) -> VersionInfo:
        path = self.path_of(version) / "metadata.json"
        meta = read_json(path, "metadata", BundleError)
        problem = _metadata_problem(meta)
        if problem:
            raise BundleError(f"{path}: {problem}")
        return VersionInfo(version, str(meta.get("created", "")), meta)

    def version_at(self, path: str | os.PathLike[str]) -> str | None:
        """The name of this store's version that ``path`` is (as given, or once its links
        are followed), such as a scorer's ``serve.shadow_model_path``; None for anything
        else (a bundle elsewhere, the store itself, a version that is not there).

        >>> import tempfile
        >>> s = ModelStore.open(tempfile.mkdtemp(), create=True)
        >>> _ = (s.root / "v1").mkdir(), (s.root / "v1" / MANIFEST).write_text("{}")
        >>> s.version_at(s.root / "v1"), s.version_at(s.root / "v2"), s.version_at(s.root)
        ('v1', None, None)
        >>> shutil.rmtree(s.root)
        """
        try:
            root = self.root.resolve()
            for p in (Path(os.path.abspath(path)), Path(path).resolve()):
                if (p.parent.resolve() == root and _is_version_name(p.name)
                        and is_file(self.root / p.name / MANIFEST, StoreError)):
                    return p.name
        except (OSError, RuntimeError, StoreError):  # a link loop, an unreadable path
            return None
        return None

    def path_of(self, version: str, *, current: bool = False) -> Path:
        """The directory of ``version``; ``current``: the name was read from ``current``,
        and the error for a version that is gone says so and how to get out."""
        if not _is_version_name(version):
            # "not a version name" alone: a shell completes `v1` to `v1/`, and a path from
            # the working directory (`models/v1`) looks right too
            meant = PurePath(version).name
            expected = "expected a version's directory name as `anomaly-gan models list` shows it"
            if (meant != version and _is_version_name(meant)
                    and is_file(self.root / meant / MANIFEST, StoreError)):
                raise StoreError(f"{version!r}: not a version name: {expected}, not a path; "
                                 f"did you mean {meant!r}?")
            raise StoreError(f"{version!r}: not a version name: {expected} (a letter or "
                             f"digit, then letters, digits, '.', '_' or '-')")
        path = self.root / version
        if not is_file(path / MANIFEST, StoreError):
            known = ", ".join(v.name for v in self.versions()[-5:]) or "none"
            if current:
                raise StoreError(f"{self.root / CURRENT}: names {version!r}, which is not a "
                                 f"version in {self.root} (latest: {known}); expected a "
                                 f"version: `anomaly-gan models rollback` or `models promote` "
                                 f"one")
            raise StoreError(f"{self.root}: no version {version!r} (latest: {known})")
        return path

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def lock(self, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
        """Exclusive advisory lock on the store; waits up to ``timeout_s``. What runs under
        it runs in the store's ``writing`` context (see the class)."""
        try:
            fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            advice = _LOCK_ADVICE.get(exc.errno or 0)
            raise StoreError(f"{self.root / LOCK}: cannot take the store's lock: "
                             f"{exc.strerror or exc}" + (f"; {advice}" if advice else "")
                             ) from None
        try:
            deadline = time.monotonic() + timeout_s
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreError(f"{self.root}: locked by another process for "
                                         f"{timeout_s:.0f}s; try again") from None
                    time.sleep(0.05)
            with self._writing():
                yield
        finally:
            os.close(fd)  # closing releases the flock

    @contextlib.contextmanager
    def run_lock(self, command: str = "retrain") -> Iterator[None]:
        """Hold the store for a whole run of ``command``: a second one against the same store
        is refused at once with a :class:`StoreError` naming the holder, where it trained for
        minutes and then failed at its promote. :meth:`lock` is not held meanwhile, so
        ``models promote``, ``rollback`` and ``prune`` go on during a retrain.

        The holder is written as ``PID@HOST SINCE`` into :data:`RUN_LOCK` (created with
        ``O_EXCL``, under :meth:`lock` so that two takers cannot both take over a stale one)
        and removed at the end. A lock whose writer is gone is taken over
        (:func:`_writer_gone`: a dead process on this host, or one whose id a later process
        has now, :func:`_pid_reused`; from another host, one whose time is
        :data:`RUN_LOCK_STALE_SECONDS` old, which is why the holder refreshes it every
        :data:`RUN_LOCK_REFRESH_S`). The store's directory is made if missing.

        >>> import tempfile
        >>> s = ModelStore.open(tempfile.mkdtemp(), create=True)
        >>> with s.run_lock():
        ...     try:
        ...         with s.run_lock():
        ...             pass
        ...     except StoreError as exc:
        ...         print(str(exc).split(": ")[1])
        another retrain is running on this store
        >>> (s.root / RUN_LOCK).exists()
        False
        >>> shutil.rmtree(s.root)
        """
        path = self.root / RUN_LOCK
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{self.root}: cannot create the store: {exc.strerror or exc}"
                             ) from None
        with self.lock():
            fd, record = self._take_run_lock(path, command)
            st = os.fstat(fd)
            mine = (st.st_dev, st.st_ino, record)
            _HELD_RUN_LOCKS.add(mine)
        stop = threading.Event()
        refresher = threading.Thread(target=_refresh, args=(fd, stop), daemon=True,
                                     name="anomaly-gan-run-lock")
        refresher.start()
        try:
            yield
        finally:
            stop.set()
            refresher.join()
            os.close(fd)
            # Not if another taker took it over meanwhile (this process was stopped for an
            # hour, say): the lock is its now.
            if _read_run_lock(path) == record:
                path.unlink(missing_ok=True)
            _HELD_RUN_LOCKS.discard(mine)

    def _take_run_lock(self, path: Path, command: str) -> tuple[int, str]:
        """Create the run lock (its file descriptor and what it holds), taking over one left
        by a writer that is gone; under :meth:`lock`."""
        for _ in range(2):
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL
                             | getattr(os, "O_NOFOLLOW", 0), 0o644)
            except FileExistsError:
                self._check_run_lock_is_a_file(path)
                held = _read_run_lock(path)
                writer, _, since = (held or "").partition(" ")
                if _run_lock_gone(held or "", path):
                    try:
                        path.unlink(missing_ok=True)
                    except OSError as exc:
                        raise StoreError(f"{path}: cannot take over the run lock of a "
                                         f"retrain that is gone: {exc.strerror or exc}"
                                         ) from None
                    continue
                if _WRITER_RE.match(writer) and _is_time(since):
                    who = f"{writer} since {since}"
                elif held:  # written by hand or by something else: not a holder to name
                    who = f"unknown ({path} holds {brief(held)}, not 'PID@HOST SINCE')"
                    writer = ""
                else:
                    who = f"unknown ({path} names none)"
                minutes = RUN_LOCK_STALE_SECONDS / 60
                raise StoreError(
                    f"{self.root}: another {command} is running on this store: {who}; wait "
                    f"for it to end and run again (a lock left by a process that died is "
                    f"taken over: at once on its host, after {minutes:g} minutes without its "
                    f"refresh from another; if {writer or 'it'} is gone for good, remove "
                    f"{path})") from None
            except OSError as exc:
                raise StoreError(f"{path}: cannot take the store's run lock: "
                                 f"{exc.strerror or exc}") from None
            record = f"{_writer()} {_now()}"
            try:
                os.write(fd, (record + "\n").encode())
                os.fsync(fd)
            except BaseException as exc:
                os.close(fd)
                path.unlink(missing_ok=True)
                if isinstance(exc, OSError):
                    raise StoreError(f"{path}: cannot write: {exc.strerror or exc}") from None
                raise
            return fd, record
        raise StoreError(f"{path}: cannot take the store's run lock: it came back each time "
                         f"it was taken over")

    @staticmethod
    def _check_run_lock_is_a_file(path: Path) -> None:
        """Refuse a run lock that is a directory: it was taken for a lock naming no holder,
        then (ten minutes old) unlinked, which failed with a traceback."""
        with contextlib.suppress(FileNotFoundError):  # gone meanwhile: taken again
            if stat.S_ISDIR(path.lstat().st_mode):
                raise StoreError(f"{path}: is a directory, not the store's run lock (a file "
                                 f"holding 'PID@HOST SINCE' of the retrain running); remove "
                                 f"it (the next retrain makes a new one)")

    def unique_name(self, base: str) -> str:
        name, i = base, 1
        while (self.root / name).exists():
            i += 1
            name = f"{base}-{i}"
        return name

    def incoming_dir(self) -> Path:
        """A fresh hidden directory inside the store to assemble a version in."""
        self.clean_incoming()
        path = self.root / f"{INCOMING}{_writer()}-{time.monotonic_ns()}"
        return path

    def clean_incoming(self) -> int:
        """Remove the leftovers of writers that are gone (:func:`_writer_gone`: a dead
        process on this host, or an hour old from another): ``.incoming-PID@HOST-*``,
        ``..incoming-*`` (the temporary directory :func:`~anomaly_gan.artifacts.save_bundle`
        fills before renaming it to the ``.incoming-`` name), the
        ``.current.PID@HOST.tmp`` / ``.history.json.PID@HOST.tmp`` files of
        :func:`_atomic_write` and the ``.anomaly-gan-probe-PID@HOST-*`` directory of
        :func:`~anomaly_gan.files.check_creatable` (a retrain or an add killed while it
        proved the store writable: until 2026-12-07 left for ever); returns how many."""
        n = 0
        if not self.root.is_dir():
            return 0
        for name in (CURRENT, HISTORY):
            for p in self.root.glob(f".{name}.*.tmp"):
                if _writer_gone(p.name[len(name) + 2:-len(".tmp")], p):
                    p.unlink(missing_ok=True)
                    n += 1
        for p in [*self.root.glob(f"{INCOMING}*"), *self.root.glob(f".{INCOMING}*")]:
            writer = p.name.lstrip(".")[len(INCOMING) - 1:].split("-")[0]
            if _writer_gone(writer, p):  # a name without a writer's id is left alone
                _remove(p)
                n += 1
        for p in self.root.glob(f"{PROBE_PREFIX}*"):
            if p.is_dir() and _writer_gone(p.name[len(PROBE_PREFIX):].split("-")[0], p):
                with contextlib.suppress(OSError):
                    p.rmdir()  # empty: a probe never holds anything
                    n += 1
        return n

    def add(self, detector: Any) -> str:
        """Write ``detector`` as a new immutable version (never promoted here); its name.

        The version name (also written into the bundle) is the detector's version, made
        unique within the store. The bundle is saved outside the lock (that takes a while);
        if another writer took the name meanwhile, the next free one is written into the
        bundle under the lock, so concurrent adds of one name all succeed.
        """
        from anomaly_gan.artifacts import save_bundle, set_bundle_version

        base = detector.version
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._not_saved(base, exc) from None
        detector.version = self.unique_name(base)
        tmp = self.incoming_dir()
        try:
            save_bundle(detector, tmp)
            with self.lock():
                if (self.root / detector.version).exists():
                    detector.version = self.unique_name(base)
                    set_bundle_version(tmp, detector.version)
                # rename() would also replace an empty directory: only a free name is taken.
                os.rename(tmp, self.root / detector.version)
                files.sync_dir(self.root)
        except BaseException as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            if isinstance(exc, OutputError | OSError):
                raise self._not_saved(detector.version, exc) from None
            raise
        return str(detector.version)

    def _not_saved(self, version: str, exc: OutputError | OSError) -> StoreError:
        """The error for a version :meth:`add` could not write (a full volume, a quota, a
        read-only mount), naming the store and the version: the file system's reason named
        the hidden ``.incoming-PID@HOST-NS`` directory it was being assembled in."""
        cause = exc.__cause__ if isinstance(exc, OutputError) else exc
        why = (cause.strerror or str(cause)) if isinstance(cause, OSError) else str(exc)
        return StoreError(f"{self.root}: cannot save version {version}: {why} (the store is "
                          f"unchanged)")

    def _write_pointer(self, version: str, history: dict[str, Any],
                       previous: str | None, before: list[str]) -> None:
        """Make ``version`` current with ``history``; ``previous`` and ``before``: the
        current and the stack it replaces, which :meth:`_history` reads while history.json
        is renamed and ``current`` is not yet."""
        # Both files are written before either is renamed: a full disk failed the second
        # write after current had moved, with a traceback.
        text = _history_text(history, version, {"current": previous, "stack": before})
        staged: list[tuple[Path, Path]] = []
        try:
            for path, content in ((self.root / HISTORY, text),
                                  (self.root / CURRENT, version + "\n")):
                staged.append((_stage(path, content), path))
        except BaseException as exc:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            if isinstance(exc, StoreError):
                raise StoreError(f"{exc}; {version} not made current{UNCHANGED}") from None
            raise
        _replace_all(staged)

    @staticmethod
    def _manifest_bytes(bundle: Path) -> bytes | None:
        """A version's manifest.json as it is now (it signs every other file); None once the
        version is gone."""
        try:
            return (bundle / MANIFEST).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StoreError(f"{bundle / MANIFEST}: cannot read: {exc.strerror or exc}"
                             ) from None

    def gate_overridden(self, version: str, *, over_gate: bool = False) -> list[str]:
        """The reasons the validation gate rejected ``version`` for, which promoting it
        overrides (empty: it passed, or went through no gate); a :class:`StoreError` when it
        may not be promoted for its gate.

        A gate-rejected version is refused unless ``over_gate`` (``models promote
        --over-gate``: an operator who read the report accepts it, e.g. a new normal that
        the false-alarm budget calls anomalous), and then still when its training health is
        unhealthy or damaged: the flag overrides the gate's judgement of the data, not a
        model whose training failed (so such a version's refusal names its health, with the
        flag or without, and offers no flag). An ``unknown`` health (none recorded: a bundle written
        before health was) says nothing failed, and a plain promote of an ungated version
        takes it; with the flag it is promoted (``models promote`` warns that it is unknown).
        """
        meta = self.info(version).metadata
        if gate_of(meta) != "rejected":
            return []
        reasons = list(meta["gate"].get("reasons") or []) or ["see its gate report"]
        health = health_of(meta)
        # Checked first: the line without the flag must not offer an --over-gate that would
        # be refused for the health.
        if health["status"] not in ("healthy", "unknown"):
            raise StoreError(
                f"{version}: training health is {health['status']} "
                f"({'; '.join(health['issues']) or 'no details'}); not promoted, --over-gate "
                f"or not (it overrides the gate's judgement of the data, not a model whose "
                f"training failed): retrain it")
        if not over_gate:
            raise StoreError(
                f"{version}: rejected by the validation gate ({'; '.join(reasons)}); not "
                f"promoted (`anomaly-gan models show --store {self.root} {version}` has the "
                f"report; if you accept it, `anomaly-gan models promote --store {self.root} "
                f"{version} --over-gate` promotes it)")
        return reasons

    def promote(self, version: str, *, reason: str = "promote", verify: bool = True,
                expect_current: str | None | bool = True, over_gate: bool = False) -> str:
        """Make ``version`` current (after verifying its bundle); returns the previous one.

        Refuses a version the gate rejected: it is kept for inspection, never served (with
        ``over_gate``, one whose health is healthy or unknown is promoted and logged as
        ``promote over the gate``:
        :meth:`gate_overridden`), and
        one of another input kind than the current version (a logs model over a metrics one,
        or the reverse): ``serve`` reads one kind with one config, and ``retrain`` keeps a
        store to the kind of its current version. With
        ``expect_current`` (a version name, or None for an empty store), refuses unless
        ``current`` still names it under the lock: a retrain started from one version does not
        override a rollback or a promote made while it trained (``True``: any current).
        """
        path = self.path_of(version)
        signed = self._manifest_bytes(path)
        meta = self.info(version).metadata
        if self.gate_overridden(version, over_gate=over_gate):
            reason = "promote over the gate"
        if verify:
            from anomaly_gan.artifacts import load_bundle

            load_bundle(path)  # checksums, format, loadable networks
        with self.lock():
            previous = self.current(replacing=True)
            # Verified outside the lock (loading takes seconds): a prune meanwhile deleted
            # the version and current then named a directory that was gone.
            now = self._manifest_bytes(path)
            if now != signed:
                what = "removed" if now is None else "replaced"
                raise StoreError(f"{path}: not promoted: {what} while it was verified "
                                 f"(a `models prune` or another writer); current stays "
                                 f"{previous or 'none'}")
            if previous is not None and previous != version:
                kind = input_of(meta)
                try:
                    before = input_of(self.info(previous).metadata)
                except (BundleError, StoreError):  # gone or damaged: promoting is the way out
                    before = kind
                if kind != before:
                    raise StoreError(
                        f"{version}: a {kind} model; the current version {previous} is a "
                        f"{before} model, and one store serves one kind of input; not promoted "
                        f"(keep {kind} models in a store of their own)")
            if expect_current is not True and previous != expect_current:
                raise StoreError(
                    f"{version}: not promoted: current changed from {expect_current or 'none'} "
                    f"to {previous or 'none'} while it was made (a rollback or another "
                    f"promote)")
            history = self._history(replacing=True)
            stack_before = list(history["stack"])
            if previous != version:
                history["stack"].append(version)
            history["log"].append({"at": _now(), "action": reason, "version": version,
                                   "previous": previous, "by": _operator()})
            self._write_pointer(version, history, previous, stack_before)
            self.clean_incoming()  # a killed retrain's half-written candidate, if any
        return previous or ""

    def rollback(self, *, verify: bool = True) -> tuple[str, str]:
        """Go back to the previously promoted version; returns ``(from, to)``. With
        ``verify``, refuses a target whose bundle fails its checksums or format (it made a
        damaged version current, and a restarting scorer then exited 2)."""
        with self.lock():
            history = self._history()
            stack = history["stack"]
            cur = self.current()
            i = self._rollback_index(stack)
            if i is None:
                raise StoreError(f"{self.root}: nothing to roll back to (no earlier promoted "
                                 f"version)")
            target = stack[i]
            stack_before = list(stack)
            del stack[i + 1:-1]  # removed by hand: skipped
            if verify:
                from anomaly_gan.artifacts import inspect_bundle

                try:  # checksums and format, as every reader checks them (no TensorFlow)
                    inspect_bundle(self.root / target)
                except (BundleError, StoreError) as exc:
                    # the way out: a rollback skips a version removed by hand
                    below = self._intact_below()
                    way = (f"; remove {self.root / target} to roll back to {below[0]}, the "
                           f"intact version under it, or promote another version (`anomaly-gan "
                           f"models promote --store {self.root} VERSION`)" if below else
                           f"; promote an intact version instead (`anomaly-gan models promote "
                           f"--store {self.root} VERSION`)")
                    raise StoreError(f"{self.root}: not rolled back: {target} is damaged "
                                     f"({exc}); current stays {cur or 'none'}{way}") from None
            if cur is not None:
                try:
                    now, back = (input_of(self.info(v).metadata) for v in (cur, target))
                except (BundleError, StoreError):
                    now = back = ""  # a damaged current: rolling back is the way out
                if now != back:
                    raise StoreError(f"{self.root}: not rolled back: {target} is a {back} "
                                     f"model and the current {cur} is not (one store serves "
                                     f"one kind of input)")
            stack.pop()
            history["log"].append({"at": _now(), "action": "rollback", "version": target,
                                   "previous": cur, "by": _operator()})
            self._write_pointer(target, history, cur, stack_before)
            self.clean_incoming()
        return cur or "", target

    def _added_during_a_retrain(self, versions: Sequence[VersionInfo]) -> set[str]:
        """The versions created since a live retrain took the run lock: its candidate,
        between its add and its promote (the gate's scoring: seconds to minutes). A ``models
        prune`` then deleted it, and the retrain failed at its promote with its model lost.
        None while no retrain holds the store, or its lock names no time."""
        path = self.root / RUN_LOCK
        held = _read_run_lock(path)
        if not held or _run_lock_gone(held, path) or _holds_run_lock(held, path):
            return set()  # this process's own retrain names its candidate (keep_versions)
        try:
            since = datetime.fromisoformat(held.partition(" ")[2])
        except ValueError:  # written by hand: no time to compare with
            return set()
        added = set()
        for v in versions:
            try:
                created = datetime.fromisoformat(v.created)
            except ValueError:
                continue
            if created.tzinfo is not None and since.tzinfo is not None and created >= since:
                added.add(v.name)
        return added

    def _intact_below(self) -> list[str]:
        """Where the rollback target fails its checksums or format (rollback refuses it),
        the newest version under it in the stack that passes them: what a rollback reaches
        once the damaged one is removed or repaired. Prune kept the damaged target and
        deleted the intact version under it, leaving nothing to roll back to."""
        from anomaly_gan.artifacts import inspect_bundle

        stack = self._history()["stack"]
        end = self._rollback_index(stack)
        for i in range(len(stack) - 2 if end is None else end, -1, -1):
            if stack[i] == stack[-1] or not is_file(self.root / stack[i] / MANIFEST,
                                                    StoreError):
                continue  # the current itself, or removed by hand: skipped, as by rollback
            try:
                inspect_bundle(self.root / stack[i])
            except (AnomalyGanError, OSError):
                continue
            return [] if i == end else [stack[i]]
        return []

    def prune(self, keep: int, keep_versions: Collection[str] = ()) -> list[str]:
        """Delete all but the ``keep`` newest versions, never current, its predecessor (and
        where that is damaged, the intact version under it: :meth:`_intact_below`) or
        one of ``keep_versions`` (a version used where the store cannot see it, such as a
        scorer's ``serve.shadow_model_path``; one that is not in the store is refused, so
        that a typo protects nothing in silence), nor one created since a retrain that is
        still running took the store (its candidate, awaiting the gate and its promote).

        A store where nothing was promoted (a folder of bundles from ``train --out``) is
        refused: nothing there is protected, and ``--keep 0`` deleted every bundle in it.
        """
        if keep < 0:
            raise StoreError(f"prune: --keep must be >= 0, got {keep}")
        if self.current() is None:
            raise StoreError(
                f"prune: {self.root} has no current version (no {CURRENT!r} file), so no "
                f"version is protected from deletion; promote the one to keep first "
                f"(anomaly-gan models promote --store {self.root} VERSION)")
        with self.lock():
            for name in keep_versions:
                try:
                    self.path_of(name)
                except StoreError as exc:
                    raise StoreError(f"prune: --keep-version {name}: {exc}; nothing "
                                     f"pruned") from None
            versions = self.versions()
            protected = {self.current(), self.predecessor(), *keep_versions,
                         *self._added_during_a_retrain(versions), *self._intact_below()}
            # (max: a keep over the number of versions sliced from a negative start and
            # kept only the last few; --keep 5 of 4 versions deleted one)
            newest = ({v.name for v in versions[max(0, len(versions) - keep):]} if keep
                      else set())
            doomed = [v.name for v in versions if v.name not in protected | newest]
            gone: list[str] = []
            refused: StoreError | None = None
            for name in doomed:
                # Rename first so a half-deleted directory is never seen as a version. Not
                # named after it: a version name of 200 bytes or more (named by hand) made
                # this name too long for the file system (until 2026-12-07).
                trash = self.root / f"{INCOMING}{_writer()}-rm-{time.monotonic_ns()}"
                try:
                    os.rename(self.root / name, trash)
                except OSError as exc:  # a traceback, with what was deleted before untold
                    refused = StoreError(
                        f"{self.root / name}: cannot remove: {exc.strerror or exc}; prune "
                        f"stopped there ({'deleted before it: ' + ', '.join(gone) if gone else 'nothing deleted'})")
                    break
                _remove(trash)
                gone.append(name)
            if gone:  # nothing deleted: the store stays as it was, history.json too
                history = self._history()
                history["stack"] = [v for v in history["stack"] if v not in gone]
                _atomic_write(self.root / HISTORY, _history_text(history, self.current()))
            self.clean_incoming()
            if refused is not None:
                raise refused
        return gone
