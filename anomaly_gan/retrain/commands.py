"""The ``retrain`` and ``models`` subcommands, registered into the main ``anomaly-gan`` CLI.

Exit codes: 0 ok (a retrain whose ``retrain.keep_versions`` prune failed too: a warning on
stderr, and the exit code is the retrain's); 2 bad input (one line, store untouched), the
store locked (for ``models``, by a promote, rollback or prune for too long; for
``retrain``, by another retrain of it, refused at once), or a retrain whose candidate
passed but whose starting version is no longer ``current`` (an operator moved it
meanwhile: the candidate is kept in the store, not promoted); 3 training ended with
non-finite networks (nothing to calibrate or keep: store untouched); 4 retrain trained a
candidate but the validation gate rejected it (kept in the store with the reasons, not
promoted).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from anomaly_gan.errors import AnomalyGanError, DataError, brief
from anomaly_gan.runtime import Interrupts
from anomaly_gan.stream.alerts import iso_utc

if TYPE_CHECKING:
    from anomaly_gan.store import ModelStore

__all__ = ["cmd_models", "cmd_retrain", "register"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def parse_time(text: str, flag: str) -> float:
    """RFC 3339 (``2026-11-01T00:00Z``), epoch seconds or ``now``."""
    from anomaly_gan.stream.events import parse_timestamp_text

    if text == "now":
        return time.time()
    ts = parse_timestamp_text(text)
    if ts is None:
        raise DataError(f"{flag}: expected an RFC 3339 time (e.g. 2026-11-01T00:00Z), epoch "
                        f"seconds or 'now', got {brief(text)}")
    return ts


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m or float(m.group(1)) <= 0:
        raise DataError(f"--last: expected a positive duration such as 90m, 24h or 7d, got "
                        f"{brief(text)}")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def last_range(text: str, end: float) -> float:
    """The start of ``--last TEXT`` ending at ``end`` (epoch seconds, never before 1970)."""
    start = end - parse_duration(text)
    if not start >= 0:  # also a duration too large to be a number
        raise DataError(f"--last: {brief(text)} before {iso_utc(end)} reaches back before "
                        f"1970-01-01T00:00Z; expected a shorter duration")
    return start


def cmd_retrain(args: argparse.Namespace) -> int:
    import dataclasses

    from anomaly_gan.cli import _Progress
    from anomaly_gan.config import load_config
    from anomaly_gan.retrain import RetrainRequest, retrain
    from anomaly_gan.retrain.run import check_request
    from anomaly_gan.train import WARNING_PREFIXES

    # how far reading a --data file (and mining and counting log lines, of files or of a
    # topic range), scoring the rows read with the current version and the gate's scoring
    # have got, in score's and train's words (not a phase line: --quiet drops it)
    lines = _Progress("retrain", quiet=args.quiet)
    cfg = load_config(args.config)
    # Keras' progress bar writes to stdout, which holds the JSON report: progress goes to
    # stderr through the library's progress channel (one line per epoch).
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    start = parse_time(args.start, "--from") if args.start else None
    end = parse_time(args.end, "--to") if args.end else None
    if args.last:
        if start is not None:
            raise DataError("retrain: give --last or --from, not both")
        end = end if end is not None else time.time()
        start = last_range(args.last, end)
    req = RetrainRequest(store=args.store, files=tuple(args.data or ()), start=start, end=end,
                         labels=args.labels, promote=not args.no_promote,
                         config_source=args.config or "default config")
    check_request(req)

    stop = Interrupts()

    def progress(msg: str) -> None:
        # A lost signal is raised here, before the gate's line, so before the version is
        # written and promoted; once those have begun it waits for them to end.
        stop.check_outside_deferred()
        # --quiet keeps the phase lines and training's warnings
        if not args.quiet or msg.startswith(("[", *WARNING_PREFIXES)):
            _eprint(msg)

    with stop.installed():
        result = retrain(cfg, req, progress=progress, finishing=stop.finishing,
                         reading=lines.reading, stage=lines.stage, scoring=lines)
    print(json.dumps(result.report, indent=2, default=str))
    return result.exit_code


_LIST_FIELDS = ("mark", "version", "input", "created", "data_range", "gate", "health", "parent")
_LIST_HEADER = ("", "VERSION", "INPUT", "CREATED", "DATA RANGE", "GATE", "HEALTH", "PARENT")


def _shown(text: str) -> str:
    """``text`` with its unprintable characters escaped as Python writes them (``\\n``,
    ``\\x1b``): a version directory named with a line break wrote a table row of its own,
    one marked current if it liked.

    >>> _shown("v1"), _shown("vé"), _shown("v9\\n*  v8")
    ('v1', 'vé', 'v9\\\\n*  v8')
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _models_list(store: ModelStore, args: argparse.Namespace) -> int:
    """One record per version, None where it has no value: null in ``--json`` (a script
    tests for null; the table's ``-`` was written into the JSON until 2026-12), ``-`` in
    the table (no mark: blank)."""
    from anomaly_gan.store import health_of

    cur, prev = store.current(), store.predecessor()
    versions = store.versions()
    records = [
        {"mark": "*" if v.name == cur else ("^" if v.name == prev else None),
         "version": v.name, "input": v.input, "created": v.created or None,
         "data_range": v.data_range, "gate": v.gate,
         "health": health_of(v.metadata)["status"], "parent": v.parent}
        for v in versions]
    # A current whose version was deleted had no row and no word: serve keeps its old model
    # and score refuses the store.
    gone = cur is not None and all(v.name != cur for v in versions)
    if args.json:
        listing = [{**r, "missing": False} for r in records]
        if gone:  # the footer's MISSING: the current row, with nothing known of it
            listing.append({**dict.fromkeys(_LIST_FIELDS), "mark": "*", "version": cur,
                            "missing": True})
        print(json.dumps(listing, indent=2))
        return 0
    rows = [_LIST_HEADER, *(tuple(_shown(r[f] or ("" if f == "mark" else "-"))
                                  for f in _LIST_FIELDS) for r in records)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip())
    print(f"(* current: {cur or 'none'}"
          + (" (MISSING: not a version in this store; roll back or promote one)" if gone else "")
          + f"; ^ rollback target: {prev or 'none'})")
    return 0


def _reload_note(store: ModelStore, running: str | None, now: str) -> str:
    """What the ``serve`` processes that follow the store do once ``now`` is current. Each
    keeps the shape (features, window, ``data.counters``, ``logs:`` keys:
    :func:`~anomaly_gan.stream.reload.check_compatible`) of the version it started with: it
    follows a version of that shape at its next reload and refuses another, keeping the one
    it runs until it is restarted. A serve that refused ``running`` (the version current
    before) still runs the one current before it (:func:`_kept_versions`); until 2026-12-08
    ``running`` alone was looked at, so a second promote of a refused shape said "serve picks
    it up" to the serve that refused it."""
    picks_up = "serve picks it up on its next reload"
    if running is None or running == now:
        return picks_up
    try:
        kept = _kept_versions(store, running, now)
    except Exception:  # noqa: BLE001 - current has moved already: a note only, never a failure
        return picks_up
    if all(why is None for _, why in kept):
        return picks_up
    notes = [f"a serve running {name} cannot hot-reload it ({why}) and keeps {name} until "
             f"restarted: restart serve to run {now}" for name, why in kept if why is not None]
    notes += [f"a serve running {name} goes on with it" if name == now
              else f"a serve running {name} picks it up on its next reload"
              for name, why in kept if why is None]
    return "; ".join(notes)


def _kept_versions(store: ModelStore, running: str, now: str) -> list[tuple[str, str | None]]:
    """The versions a serve may run as ``now`` becomes current, each with why it cannot
    hot-reload ``now`` (None: it can): ``running``, and the version current before it where
    ``running`` could not be hot-reloaded over it (the store's log): a serve not restarted
    since keeps that one. That version is passed over once it is no longer in the store."""
    from anomaly_gan.artifacts import inspect_bundle
    from anomaly_gan.stream.reload import check_compatible

    target = inspect_bundle(store.root / now)
    info = inspect_bundle(store.root / running)
    kept = [(running, check_compatible(info, target))]
    log = store.history()
    made = log[-2] if len(log) >= 2 else {}  # the entry that made `running` current
    before = made.get("previous") if made.get("version") == running else None
    if isinstance(before, str) and before not in (running, now):
        try:
            older = inspect_bundle(store.root / before)
        except (AnomalyGanError, OSError):  # pruned or removed: no serve is known to run it
            return kept
        if check_compatible(older, info) is not None:
            kept.append((before, check_compatible(older, target)))
    elif before == now and check_compatible(target, info) is not None:
        kept.append((now, None))  # a serve that refused `running` kept `now`
    return kept


def cmd_models(args: argparse.Namespace) -> int:
    """``models`` under :class:`Interrupts`, as every command that writes: SIGTERM ended
    promote, rollback and prune by the signal (exit 143), where Ctrl-C exited 130. A signal
    before the store is changed stops the command (exit 130, the store unchanged); one that
    comes while it changes the store (under its lock) waits for the renames to end, and the
    command then reports what it did; a second signal stops it at once."""
    from anomaly_gan.store import ModelStore

    if not args.store:
        raise DataError(f"models {args.action}: --store DIR is required")
    stop = Interrupts()

    @contextlib.contextmanager
    def writing() -> Iterator[None]:
        stop.check()  # one Python dropped (in TensorFlow's start-up) stops it here, not later
        with stop.finishing():  # and to the end: the command then says what it did
            yield

    with stop.installed():
        return _models_action(ModelStore.open(args.store, writing=writing), args)


def _models_action(store: ModelStore, args: argparse.Namespace) -> int:
    from anomaly_gan.store import StoreError, health_of

    action = args.action
    if action == "list":
        return _models_list(store, args)
    if action == "show":
        name = args.version or store.current()
        if not name:
            raise DataError(f"{args.store}: no current version; name one")
        store.path_of(name, current=not args.version)
        info = store.info(name)
        meta = info.metadata
        print(json.dumps({
            "version": name, "current": name == store.current(),
            # the name the bundle carries, which serve's alerts, score records, metrics and
            # logs and score's summary give: another than the store's for a bundle that
            # `train --out models/v1` wrote (a retrain writes the store's name into it)
            "model_version": meta.get("version") if isinstance(meta.get("version"), str)
            else None,
            "created": info.created or None, "kind": meta.get("kind"), "parent": info.parent,
            "data_range": info.data_range,
            "lineage": meta.get("lineage"), "health": health_of(meta), "gate": meta.get("gate"),
            "validation": meta.get("validation"), "training_data": meta.get("training_data"),
            # when it was made current, how (promote, retrain through the gate, rollback),
            # over which version and by whom: the store's log, oldest first
            "promotions": [{k: e.get(k) for k in ("at", "action", "previous", "by")}
                           for e in store.history() if e.get("version") == name],
        }, indent=2, default=str))
        return 0
    if action == "promote":
        # An unknown version or a damaged metadata.json, current or history.json fails
        # before TensorFlow loads.
        meta = store.info(args.version).metadata
        store.predecessor(replacing=True)  # a `current` naming no version is replaced
        # A gate-rejected version too (refused, or named for the warning with --over-gate)
        overridden = store.gate_overridden(args.version, over_gate=args.over_gate)
        # One that went through no gate but whose training failed (kept with train
        # --allow-unhealthy, put in the store by hand): serve refuses it at start and at a
        # reload, so made current it stopped every restarting scorer (exit 2)
        health = health_of(meta)
        if health["status"] == "unhealthy" and not overridden and not args.allow_unhealthy:
            raise StoreError(
                f"{args.version}: training health is unhealthy "
                f"({'; '.join(health['issues']) or 'no details'}); not promoted: serve refuses "
                f"a model whose training failed unless serve.allow_unhealthy is true (for such "
                f"a scorer, `anomaly-gan models promote --store {store.root} {args.version} "
                f"--allow-unhealthy` promotes it)")
        from anomaly_gan.runtime import import_tensorflow_quietly

        import_tensorflow_quietly()  # promote verifies the bundle by loading it
        previous = store.promote(args.version, over_gate=args.over_gate)
        if overridden:
            _eprint(f"WARNING: {args.version} was rejected by the validation gate "
                    f"({'; '.join(overridden)}); promoted over it (--over-gate), logged in "
                    f"the store's history as 'promote over the gate'")
            if health["status"] == "unknown":  # refused were it unhealthy (gate_overridden)
                _eprint(f"WARNING: {args.version}'s training health is unknown "
                        f"({'; '.join(health['issues']) or 'no details'}): nothing says "
                        f"whether its training went well; promoted, as --over-gate accepts it")
        if previous == args.version:  # "serve picks it up" was said, with nothing to pick up
            _eprint(f"{args.version} is already current; nothing changed (the promote is "
                    f"logged in the store's history)")
            return 0
        _eprint(f"promoted {args.version} (was {previous or 'none'}); "
                f"{_reload_note(store, previous or None, args.version)}")
        return 0
    if action == "rollback":
        was, now = store.rollback()
        _eprint(f"rolled back from {was or 'none'} to {now}; "
                f"{_reload_note(store, was or None, now)}")
        return 0
    if action == "prune":
        gone = store.prune(args.keep, keep_versions=args.keep_version)
        _eprint(f"pruned {len(gone)} version(s)"
                + (f": {', '.join(map(_shown, gone))}" if gone else ""))
        return 0
    raise DataError(f"models: unknown action {action!r}")  # pragma: no cover - argparse choices


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``retrain`` and ``models`` to the main parser's subcommands."""
    p = sub.add_parser(
        "retrain", help="train a candidate on a new baseline, gate it, keep it in the store and "
                        "promote it if the gate passes (exit 4: rejected)",
        description="Read a time range of the events topic (or files), leave out what the "
                    "current version alerted on or scores over its threshold, train, score the "
                    "candidate through the validation gate, keep it as a new version of the "
                    "store and promote it if it passed; with retrain.keep_versions, then "
                    "prune all but that many newest versions, promoted or not (the candidate "
                    "is kept). Exit codes: 0 promoted (or kept with --no-promote; a prune "
                    "that fails is a warning, here and with 4); 2 "
                    "bad input (one line; the store is untouched), another retrain of the "
                    "store running (refused at once; the line names it), or "
                    "`current` moved while it trained or its promote failed (a full volume: "
                    "kept, not promoted; the line names the `models promote` to run); 3 training ended with non-finite networks "
                    "(no candidate; the store is untouched); 4 trained "
                    "but rejected by the gate (kept with the reasons, not promoted); "
                    "130 interrupted by Ctrl-C or SIGTERM (the store is untouched).")
    p.add_argument("--config", help="YAML config (the same file serve uses)")
    p.add_argument("--store", required=True, help="model store directory (created if missing)")
    p.add_argument("--data", nargs="+", help="CSV/Parquet file(s) (OpenTelemetry metric "
                   "files of the Collector's file exporter with an OTLP serve.event_format), "
                   "or log files for a logs model, instead of the events topic")
    p.add_argument("--from", dest="start", help="range start on the events topic "
                                                "(RFC 3339, epoch seconds or 'now')")
    p.add_argument("--to", dest="end", help="range end (default with --last: now)")
    p.add_argument("--last", help="range of this length ending at --to or now, e.g. 7d")
    p.add_argument("--labels", help="CSV 'entity,start,end' of labelled incidents the "
                                    "candidate must still flag")
    p.add_argument("--no-promote", action="store_true",
                   help="keep the candidate even if it passes the gate, do not promote it")
    p.add_argument("--quiet", action="store_true",
                   help="only the phase lines ([read], [filter], ...) and training's "
                        "warnings, no per-epoch lines")
    p.set_defaults(func=cmd_retrain)

    p = sub.add_parser(
        "models", help="the model store: list, show, promote, rollback, prune",
        description="List and manage the versions of a model store. Exit codes: 0 ok; 2 bad "
                    "input (not a store, a damaged current/history.json/metadata.json, unknown "
                    "version, a gate-rejected version to promote without --over-gate, one "
                    "whose training ended unhealthy without --allow-unhealthy, one whose "
                    "bundle fails verification, the store locked for too long): one "
                    "line; 130 interrupted by Ctrl-C or SIGTERM (the store "
                    "unchanged: one that comes while promote, rollback or prune changes the "
                    "store waits for it to end, and the command reports what it did).")
    # Each action is its own parser, so its positional and options may come in any order
    # (`promote --store S VERSION` as well as `promote VERSION --store S`): with one parser and
    # an optional VERSION positional, argparse binds VERSION before the first option and
    # refuses a later one. --store is accepted before the action too.
    p.add_argument("--store", metavar="DIR", help="model store directory (required; may also "
                                                  "come after the action)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION",
                               help="list, show, promote, rollback or prune; "
                                    "`anomaly-gan models ACTION --help` for its options")

    def add_action(name: str, summary: str) -> argparse.ArgumentParser:
        a = actions.add_parser(name, help=summary,
                               description=summary[:1].upper() + summary[1:] + ".")
        # SUPPRESS: left out here, it does not reset a --store given before the action.
        a.add_argument("--store", metavar="DIR", default=argparse.SUPPRESS,
                       help="model store directory (required)")
        return a

    a = add_action("list", "versions with created, data range, gate, health and parent; "
                           "* marks current, ^ the rollback target")
    a.add_argument("--json", action="store_true",
                   help="machine-readable output: a list of one object per version (mark, "
                        "version, input, created, data_range, gate, health, parent, "
                        "missing), null where the table shows - (or no mark); a current "
                        "whose version is gone is an object marked * with missing true and "
                        "null in the fields it has no value for")
    a = add_action("show", "one version's lineage, health, gate report, promotions (when, "
                           "how and by whom it was made current) and model_version (the name "
                           "alerts, metrics and score give it) as JSON (null where it has no "
                           "value)")
    a.add_argument("version", metavar="VERSION", nargs="?", help="default: the current version")
    a = add_action("promote", "verify VERSION's bundle and make it current (a gate-rejected "
                              "version is refused without --over-gate, one whose training "
                              "ended unhealthy without --allow-unhealthy)")
    a.add_argument("version", metavar="VERSION", help="the version to promote")
    a.add_argument("--over-gate", action="store_true",
                   help="promote a version the validation gate rejected, once you have read "
                        "its report (`models show`) and accept it, e.g. a new normal the "
                        "false-alarm budget calls anomalous; prints a WARNING naming the "
                        "gate's reasons and logs 'promote over the gate' in the store's "
                        "history. A bundle that fails verification or whose training health "
                        "is unhealthy (or damaged) is refused all the same; one with no "
                        "health recorded (unknown) is promoted with a second WARNING")
    a.add_argument("--allow-unhealthy", action="store_true",
                   help="promote a version whose training ended unhealthy (kept with `train "
                        "--allow-unhealthy`), for a scorer run with serve.allow_unhealthy: "
                        "true; without it such a version is refused, since serve refuses it "
                        "(a gate-rejected one stays refused)")
    add_action("rollback", "go back to the previously promoted version")
    a = add_action("prune", "delete all but the --keep K newest versions (current, its "
                            "predecessor and each --keep-version are always kept; a version a "
                            "scorer runs as its shadow model, serve.shadow_model_path, is not "
                            "known to the store: name it with --keep-version)")
    a.add_argument("--keep", type=int, metavar="K", required=True,
                   help="how many newest versions to keep")
    a.add_argument("--keep-version", action="append", default=[], metavar="VERSION",
                   help="a version to keep whatever its age, such as a scorer's shadow model; "
                        "repeatable (a version not in the store is refused)")
    p.set_defaults(func=cmd_models)
