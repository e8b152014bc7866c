"""Alert silences (maintenance windows): the file ``serve.alerts.silences_path`` names.

A silence mutes the alert records of the entities it matches for a span of *event time*:
an alert decided for a window whose end lies in ``[start, end)`` is not sent to the alert
topic (``serve`` counts it in ``anomaly_gan_alerts_silenced_total`` instead). The window end,
not the clock, decides, so a replay after a restart, and ``score --alerts``, decide alike.
The debounce state evolves as without the silence (docs/streaming.md, Silences).
``retrain`` reads the same file and leaves the silenced rows out of a new baseline
(:meth:`Silences.of_entity`; README, Retraining): a maintenance sends no alert to exclude.

The file (YAML)::

    silences:
      - entity: pump-7            # an entity id, or a pattern: * any characters, ? one
        start: 2026-03-01T02:00:00Z   # RFC 3339 with a zone, or epoch seconds; absent: no start
        end: 2026-03-01T06:00:00Z     # required (after start): never for ever by mistake
        comment: bearing swap (CHG-1234)
        created_by: ops@example.com

>>> s = parse_silences({"silences": [{"entity": "pump-*", "start": 100, "end": 200,
...                                   "comment": "swap"}]}, "s.yaml")
>>> s.match("pump-7", 150.0).comment, s.match("pump-7", 200.0), s.match("fan-1", 150.0)
('swap', None, None)

:class:`SilenceWatcher` re-reads the file while ``serve`` runs (a ConfigMap edit): a file that
does not parse keeps the silences in force, is logged once and counted.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from anomaly_gan.config import YamlLoader, parse_yaml, yaml_problem
from anomaly_gan.errors import ConfigError, brief, clip
from anomaly_gan.stream.events import leap_second

__all__ = ["MAX_SILENCES", "MAX_SILENCES_BYTES", "Silence", "SilenceWatcher", "Silences",
           "load_silences", "parse_silences"]

log = logging.getLogger("anomaly_gan.stream")

MAX_SILENCES_BYTES = 1 << 20
MAX_SILENCES = 10_000
_KEYS = ("entity", "start", "end", "comment", "created_by")
_TIME = "an RFC 3339 time with a zone (2026-03-01T02:00:00Z) or epoch seconds"
# 9999-12-31T23:59:59Z, the last time RFC 3339 can write: an epoch past it (milliseconds
# given for seconds, 1.7e12, is year 55,000) is a typo, and no report could print it
_LATEST = 253402300799.0
# 0001-01-01T00:00:00Z, the first time datetime holds: 0001-01-01T00:00:00+01:00 is in the
# year 0 in UTC, which no report (retrain's list of the silences applied) could print
_EARLIEST = -62135596800.0
# RFC 3339's date-time (its section 5.6: "t", "z" and a blank between date and time
# allowed), the zone left optional so that a time without one is refused saying what to
# add. datetime.fromisoformat and YAML's timestamps read more (20260301T020000Z, a week
# date, an hour-only offset, 2026-3-1): a time passes this before either reads it.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}"
                      r"(?:\.[0-9]+)?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class Silence:
    """One entry: ``entity`` (an id or a glob pattern), ``start`` (None: no start) and
    ``end`` as epoch seconds."""

    entity: str
    start: float | None
    end: float
    comment: str = ""
    created_by: str = ""

    def covers(self, ts: float) -> bool:
        """Whether a window ending at ``ts`` lies in the silence: ``start <= ts < end``."""
        return (self.start is None or self.start <= ts) and ts < self.end


def _pattern(entity: str) -> re.Pattern[str] | None:
    """The regex of a glob (``*``: any characters, ``/`` included; ``?``: one), None for an
    exact id. Nothing else is special: ``[`` in an id is itself.

    The parts between the stars are fixed-length, so the leftmost place of each inner part
    is as good as any later one: each is an atomic ``(?>.*?part)``, which the regex engine
    never backtracks into. ``.*a.*a...`` instead backtracked through every way to split an
    entity id (exponential in the stars: one pattern and one entity froze the scorer)."""
    if "*" not in entity and "?" not in entity:
        return None
    parts = ["".join("." if c == "?" else re.escape(c) for c in part)
             for part in entity.split("*")]
    if len(parts) == 1:
        return re.compile(parts[0], re.DOTALL)
    inner = "".join(f"(?>.*?{part})" for part in parts[1:-1] if part)
    return re.compile(f"{parts[0]}{inner}.*{parts[-1]}", re.DOTALL)


class Silences:
    """The silences of one file, looked up by entity id and window end."""

    def __init__(self, silences: Sequence[Silence] = ()) -> None:
        self.all = tuple(silences)
        self._exact: dict[str, list[Silence]] = {}
        self._globs: list[tuple[re.Pattern[str], Silence]] = []
        for s in self.all:
            pattern = _pattern(s.entity)
            if pattern is None:
                self._exact.setdefault(s.entity, []).append(s)
            else:
                self._globs.append((pattern, s))

    def __len__(self) -> int:
        return len(self.all)

    def of_every_entity(self) -> list[Silence]:
        """The silences whose pattern matches every entity id (``*``, ``?*``): in force, they
        mute every alert of the scorer. Allowed (a plant-wide shutdown) but worth a warning.

        >>> [s.entity for s in Silences([Silence("*", None, 1.0), Silence("a*", None, 1.0),
        ...                              Silence("**?", None, 1.0)]).of_every_entity()]
        ['*', '**?']
        """
        return [s for s in self.all if "*" in s.entity and s.entity.replace("*", "") in ("", "?")]

    def of_entity(self, entity: str) -> list[Silence]:
        """Every silence whose id or pattern matches ``entity``, at any time (in
        :meth:`match`'s order): ``retrain`` leaves their spans out of a new baseline.

        >>> s = Silences([Silence("pump-7", 0.0, 5.0), Silence("pump-*", 9.0, 10.0),
        ...               Silence("fan-?", None, 1.0)])
        >>> [x.entity for x in s.of_entity("pump-7")], s.of_entity("fan-12")
        (['pump-7', 'pump-*'], [])
        """
        return [*self._exact.get(entity, ()),
                *(s for pattern, s in self._globs if pattern.fullmatch(entity))]

    def match(self, entity: str, ts: float) -> Silence | None:
        """The first silence (in file order among the exact ids, then the patterns) that
        mutes ``entity``'s alert for the window ending at ``ts``, or None."""
        for s in self._exact.get(entity, ()):
            if s.covers(ts):
                return s
        for pattern, s in self._globs:
            if s.covers(ts) and pattern.fullmatch(entity):
                return s
        return None


def _time(raw: Any, where: str) -> float:
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: expected {_TIME}, got {brief(raw)}")
    if isinstance(raw, (int, float)):
        try:
            seconds = float(raw)  # an int past 1e308 overflows
        except OverflowError:
            seconds = math.inf
        if not math.isfinite(seconds) or seconds < 0:
            raise ConfigError(f"{where}: expected {_TIME}, got {brief(raw)}")
        return _not_after_9999(seconds, raw, where,
                               " (epoch milliseconds? an epoch is in seconds)")
    if isinstance(raw, str):
        text = raw.strip()
        # RFC 3339 allows a lower-case t and z (its section 5.6); fromisoformat takes the t
        if text.endswith("z"):
            text = text[:-1] + "Z"
        try:
            if _DATE.fullmatch(text):
                raw = date.fromisoformat(text)  # refused below, as a date YAML reads
            elif _RFC3339.fullmatch(text):
                # a leap second (second 60, which datetime cannot hold) is the next
                # minute's second 0, as serve reads an event's time
                raw = leap_second(text) or datetime.fromisoformat(text)
            else:
                raise ValueError(text)
        except ValueError:
            raise ConfigError(f"{where}: expected {_TIME}, got {brief(raw)}") from None
    if isinstance(raw, datetime):
        if raw.tzinfo is None:
            raise ConfigError(f"{where}: expected {_TIME}, got {raw.isoformat()} (no zone: "
                              f"add Z for UTC or an offset such as +02:00)")
        seconds = raw.timestamp()
        if seconds < _EARLIEST:
            raise ConfigError(f"{where}: expected {_TIME} from 0001-01-01T00:00:00Z, got "
                              f"{brief(raw.isoformat())} (in UTC)")
        return _not_after_9999(seconds, raw.isoformat(), where, " (in UTC)")
    if isinstance(raw, date):
        raise ConfigError(f"{where}: expected {_TIME}, got the date {raw.isoformat()} (a "
                          f"time of day and a zone are needed)")
    raise ConfigError(f"{where}: expected {_TIME}, got {brief(raw)}")


def _not_after_9999(seconds: float, raw: Any, where: str, hint: str) -> float:
    if seconds > _LATEST:
        raise ConfigError(f"{where}: expected {_TIME} up to 9999-12-31T23:59:59Z, got "
                          f"{brief(raw)}{hint}")
    return seconds


def _text(raw: Any, where: str, required: bool = False) -> str:
    if raw is None and not required:
        return ""
    if not isinstance(raw, str) or (required and not raw):
        raise ConfigError(f"{where}: expected a {'non-empty ' if required else ''}string, "
                          f"got {brief(raw)}")
    return raw


def parse_silences(raw: Any, source: str) -> Silences:
    """Validate a parsed silences file (``{"silences": [...]}``; empty or null: none).
    Errors are one line naming ``source``, the entry and the field."""
    if raw is None:
        return Silences()
    if not isinstance(raw, Mapping) or set(raw) - {"silences"}:
        extra = sorted(map(str, set(raw) - {"silences"})) if isinstance(raw, Mapping) else None
        got = f"the keys {extra}" if extra else brief(raw)
        raise ConfigError(f"{source}: <top level>: expected a mapping with the one key "
                          f"'silences' (a list), got {got}")
    entries = raw.get("silences")
    if entries is None:
        return Silences()
    if not isinstance(entries, list):
        raise ConfigError(f"{source}: silences: expected a list of silences, got "
                          f"{brief(entries)}")
    if len(entries) > MAX_SILENCES:
        raise ConfigError(f"{source}: silences: expected at most {MAX_SILENCES} entries, got "
                          f"{len(entries)}")
    out = []
    for i, entry in enumerate(entries):
        where = f"{source}: silences[{i}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: expected a mapping with entity, end (and start, "
                              f"comment, created_by), got {brief(entry)}")
        unknown = [k for k in entry if k not in _KEYS]
        if unknown:
            raise ConfigError(f"{where}.{brief(unknown[0], 60).strip(chr(39))}: unknown key; "
                              f"allowed: {', '.join(_KEYS)}")
        if "end" not in entry:
            raise ConfigError(f"{where}.end: expected {_TIME} (required: when the silence "
                              f"ends), got nothing")
        entity = _text(entry.get("entity"), f"{where}.entity", required=True)
        end = _time(entry["end"], f"{where}.end")
        start = _time(entry["start"], f"{where}.start") \
            if entry.get("start") is not None else None
        if start is not None and start >= end:
            raise ConfigError(f"{where}.end: expected a time after start "
                              f"({clip(entry['start'])}), got {clip(entry['end'])}")
        out.append(Silence(entity, start, end, _text(entry.get("comment"), f"{where}.comment"),
                           _text(entry.get("created_by"), f"{where}.created_by")))
    return Silences(out)


class _Loader(YamlLoader):
    """YAML as configs read it, but a time YAML sees as a timestamp and cannot build
    (``2026-02-29T06:00:00Z``, ``24:00:00``) or that is no RFC 3339 (``2026-3-1T2:00:00Z``)
    stays a string, so that :func:`_time` refuses it naming the entry, the field and the
    value, not as a YAML error of its line (or, until 2026-12-07, not at all)."""

    def construct_yaml_timestamp(self, node: yaml.ScalarNode) -> Any:
        try:
            value = super().construct_yaml_timestamp(node)
        except ValueError:
            return self.construct_scalar(node)
        if isinstance(value, datetime) and not _RFC3339.fullmatch(node.value):
            return self.construct_scalar(node)  # YAML's 2026-3-1T2:00:00Z, ...:00 +02
        return value


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def _read(path: str) -> tuple[bytes, str]:
    """The file's bytes and their sha256; a ConfigError names what is wrong."""
    try:
        with Path(path).open("rb") as fh:
            data = fh.read(MAX_SILENCES_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: silences file not found (serve.alerts.silences_path)") \
            from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read silences: {exc.strerror or exc}") from None
    if len(data) > MAX_SILENCES_BYTES:
        raise ConfigError(f"{path}: larger than the {MAX_SILENCES_BYTES} bytes a silences "
                          f"file may have")
    return data, hashlib.sha256(data).hexdigest()


def _parse(path: str, data: bytes) -> Silences:
    try:
        raw = parse_yaml(data.decode("utf-8-sig"), _Loader)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read silences: not UTF-8 text (byte {exc.start})") \
            from None
    except yaml.YAMLError as exc:
        line, problem = yaml_problem(exc, data.decode("utf-8-sig"))
        where = "" if line is None else f" line {line}"
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}") from None
    return parse_silences(raw, path)


def load_silences(path: str) -> Silences:
    """Read and validate a silences file (a one-line :class:`ConfigError` if it cannot be)."""
    data, _ = _read(path)
    return _parse(path, data)


def _parse_guarded(path: str, data: bytes) -> Silences:
    """:func:`_parse` for the watcher in ``serve``: an error the validation did not foresee
    (a bug) is a refusal like a bad field, logged with its traceback, so that neither the
    fail-open start nor a re-read in the loop can be stopped by a file's content."""
    try:
        return _parse(path, data)
    except ConfigError:
        raise
    except Exception as exc:  # a bug: see above
        log.exception("silences file %s: unexpected error while reading it", path)
        raise ConfigError(f"{path}: cannot read silences: {type(exc).__name__}: {exc} (a bug "
                          f"in anomaly-gan; please report it with this file)") from None


class SilenceWatcher:
    """The silences of ``path``, re-read when its content changes: :meth:`poll` reads the
    file every ``interval_s`` (and at once after :meth:`check_now`, which ``serve`` calls on
    SIGHUP). A file that cannot be read or validated keeps the silences in force; it is
    logged and counted (``on_result("failure")``) once until the file changes again. A
    changed file is counted (``on_result("success")``) and logged only when the silences it
    holds differ from those in force, or it replaces a refused one.

    The first read is in the constructor: a bad file raises its :class:`ConfigError`, or,
    with ``fail_open`` (``serve``), is logged and leaves no silence in force
    (:attr:`start_error`) until a valid file comes. A ConfigMap edited while the scorer ran
    is refused and logged at once and harmless until the pod restarts; had the restart
    stopped on it, the scorer would crash-loop and detect nothing, where with no silence
    it alerts on the entities in maintenance too."""

    def __init__(self, path: str, interval_s: float,
                 on_result: Callable[[str], None] | None = None,
                 clock: Callable[[], float] = time.monotonic, *,
                 fail_open: bool = False) -> None:
        self.path = path
        self.interval_s = interval_s
        self.on_result = on_result or (lambda _r: None)  # "success" or "failure"
        self._clock = clock
        self._next = clock() + interval_s
        self._now = False
        self.start_error: str | None = None
        self.refused = False  # the file on disk is one it refused (until a read succeeds)
        digest = ""
        try:
            data, digest = _read(path)
            self.silences = _parse_guarded(path, data)
        except ConfigError as exc:
            if not fail_open:
                raise
            self.silences, self.start_error = Silences(), str(exc)
            self.refused = True
            # refused once: the same content (or the same read error) is not refused again,
            # a changed file is read again at the next poll
            self._seen = digest or f"error:{exc}"
            log.error("silences file refused at start, serving with no silence in force "
                      "(alerts of the entities it would mute go out) until it is fixed: %s",
                      exc)
            return
        self._seen = digest  # content of the file in force, or of the last one refused
        self._announce("silences loaded")

    def check_now(self) -> None:
        """Read the file at the next :meth:`poll`; safe in a signal handler."""
        self._now = True

    def poll(self) -> bool:
        """Re-read the file if due; True when new silences came into force."""
        now = self._clock()
        if not self._now and now < self._next:
            return False
        self._now, self._next = False, now + self.interval_s
        try:
            data, digest = _read(self.path)
        except ConfigError as exc:  # e.g. gone: keyed by the problem, as it has no content
            self._refuse(f"error:{exc}", exc)
            return False
        if digest == self._seen:  # in force, or refused already
            return False
        try:
            silences = _parse_guarded(self.path, data)
        except ConfigError as exc:
            self._refuse(digest, exc)
            return False
        # A new file with the same silences (a comment or the layout edited) is read, not
        # announced: "silences reloaded" says that what is in force changed, or that a
        # refused file was fixed (docs/runbook.md)
        changed = self.refused or silences.all != self.silences.all
        self._seen, self.refused = digest, False
        self.on_result("success")
        if not changed:
            return False
        self.silences = silences
        self._announce("silences reloaded")
        return True

    def _announce(self, message: str) -> None:
        """Log the silences now in force, and loudly those that mute every entity."""
        log.info(message, extra={"fields": {"path": self.path, "silences": len(self.silences)}})
        for s in self.silences.of_every_entity():
            log.warning("a silence mutes every entity: no alert is sent while it is in force",
                        extra={"fields": {"path": self.path, "entity": s.entity,
                                          "start": s.start, "end": s.end,
                                          "comment": s.comment}})

    def _refuse(self, key: str, exc: ConfigError) -> None:
        """Keep the silences in force; log and count ``exc`` once per distinct problem."""
        self.refused = True
        if key != self._seen:
            self._seen = key
            log.error("silences not reloaded, keeping the %d in force: %s",
                      len(self.silences), exc)
            self.on_result("failure")
