"""``anomaly-gan retrain``: read -> filter -> train -> gate -> save -> promote.

Nothing is written to the store before the candidate is complete: the bundle is assembled in
a hidden directory of the store and renamed into place (:meth:`ModelStore.add`), then
promoted only if the gate passed. A retrain that fails, or is killed, at any earlier point
leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from anomaly_gan.config import Config, source_of
from anomaly_gan.data.counters import counter_columns
from anomaly_gan.errors import (
    AnomalyGanError,
    ConfigError,
    DataError,
    StoreError,
    brief,
    name_list,
)
from anomaly_gan.files import check_creatable, check_distinct, check_input
from anomaly_gan.retrain.gate import evaluate_gate, figure
from anomaly_gan.retrain.logs import (
    check_kind,
    keep_former_defaults,
    read_log_files_rows,
    read_log_range_rows,
)
from anomaly_gan.retrain.select import select_rows, split_holdout
from anomaly_gan.retrain.source import (
    Alerted,
    Readings,
    Rows,
    Segment,
    range_counter_notes,
    read_alerts,
    read_event_range,
    read_files,
    read_labels_file,
    with_increases,
)
from anomaly_gan.runtime import import_tensorflow_quietly
from anomaly_gan.store import UNCHANGED, ModelStore
from anomaly_gan.stream.alerts import iso_utc
from anomaly_gan.stream.silences import Silences, load_silences

if TYPE_CHECKING:
    from anomaly_gan.logs.offline import Stage

__all__ = ["EXIT_REJECTED", "RetrainRequest", "RetrainResult", "check_request", "event_span",
           "retrain",
           "warm_start"]

EXIT_REJECTED = 4
Progress = Callable[[str], None]
#: How far scoring has got: ``scoring(windows_done, windows_total)``.
Scoring = Callable[[int, int], None]


@dataclass(frozen=True)
class RetrainRequest:
    store: str
    files: tuple[str, ...] = ()
    start: float | None = None  # epoch seconds (events topic range)
    end: float | None = None
    labels: str | None = None
    promote: bool = True
    # where cfg was read from (the --config file, or "default config"), named in an error
    # on one of its keys; None: not named
    config_source: str | None = None


@dataclass(frozen=True)
class RetrainResult:
    exit_code: int  # 0 promoted (or kept, with promote=False), 4 rejected by the gate
    version: str
    promoted: bool
    report: dict[str, Any]


def warm_start(current: Any, kind: str, progress: Progress | None = None
               ) -> tuple[Callable[[Any], None] | None, list[str]]:
    """An ``init`` hook that copies the current version's networks into a new GAN, and the
    names of the networks it copied (filled when it runs; a retry's run replaces them).

    ``(None, [])`` when the current version is of another family than ``kind``: it has no
    networks the new GAN could start from, so that retrain trains from scratch. A network
    whose shapes changed (``model.hidden``, ``latent_dim`` or ``backbone``) starts from
    scratch too, is left out of the names and is named once to ``progress``.
    """
    if current.kind != kind:
        return None, []
    copied: list[str] = []
    told = False

    def init(gan: Any) -> None:
        nonlocal told
        copied.clear()  # every attempt builds fresh networks and copies again
        scorer = current.nets["scorer"]
        reshaped: list[str] = []
        for name, net in gan.networks.items():
            try:
                src = scorer.get_layer(name)
            except ValueError:
                continue  # e.g. a head that only training uses
            weights = src.get_weights()
            if [w.shape for w in weights] == [w.shape for w in net.get_weights()]:
                net.set_weights(weights)
                copied.append(name)
            else:
                reshaped.append(name)
        if reshaped and progress is not None and not told:
            told = True
            progress(f"note: retrain.mode warm_start: {', '.join(reshaped)} of the current "
                     f"version differ in shape from this config's (model.hidden, latent_dim "
                     f"or backbone changed), so "
                     f"{'they start' if len(reshaped) > 1 else 'it starts'} from scratch"
                     + (f"; {', '.join(copied)} {'start' if len(copied) > 1 else 'starts'} "
                        f"from the current version" if copied else ""))

    return init, copied


def check_request(req: RetrainRequest) -> None:
    """Refuse a request that names no source, both sources, a file that cannot be read, or
    an empty/backwards range: before TensorFlow loads, so a typo costs no start-up time."""
    if bool(req.files) == (req.start is not None or req.end is not None):
        raise DataError("retrain: give either --data FILE(s) or a range --from/--to (or --last)")
    for name in (*req.files, *([req.labels] if req.labels else [])):
        check_input(name)
    check_distinct(req.files, "--data")
    if req.files:
        return
    if req.start is None or req.end is None:
        raise DataError("retrain: a range needs both --from and --to")
    if req.start >= req.end:
        raise DataError(f"retrain: --from {iso_utc(req.start)} is not before --to "
                        f"{iso_utc(req.end)}")


def _check_enough_rows(rows: Rows, window: int, validation_fraction: float, where: str
                       ) -> None:
    """Refuse, before TensorFlow loads, data that cannot hold one piece to train on: no
    segment of ``2 * window`` rows, or too few rows in them for two held-out windows
    (exclusions only make pieces shorter)."""
    from anomaly_gan.train import fewest_rows, long_enough, too_short

    longest = max((len(s) for s in rows.segments), default=0)
    if long_enough(longest, window):
        problem = too_short([len(s) for s in rows.segments if long_enough(len(s), window)],
                            window, validation_fraction)
        if problem is not None:
            raise DataError(f"{where}: {problem[1]}")
        return
    invalid = sum(rows.invalid.values())
    if not rows.segments and invalid:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(rows.invalid.items()))
        raise DataError(f"{where}: all {invalid} events are invalid ({why}); nothing to train on")
    dropped = "".join(f", {n} {what} left out" for n, what in
                      ((invalid, "invalid events"), (rows.late, "late events"),
                       (rows.incomplete, "incomplete slots")) if n)
    # The minimum train says for one series (too_short): a segment of 2 * window rows alone
    # is refused next, where this line offered it as enough
    raise DataError(f"{where}: {rows.rows} rows in {len(rows.segments)} segment(s), the longest "
                    f"{longest} rows{rows.tried}{dropped}; expected a segment of at least "
                    f"{fewest_rows(window)} rows, or two of at least {2 * window} (windows of "
                    f"data.window {window} to train on, and two held out to judge the model "
                    "and set its threshold)")


def _check_label_entities(path: str, labels: Sequence[Alerted], rows: Rows, where: str
                           ) -> None:
    """Refuse, before training, a labelled incident whose entity has no rows in the data: the
    gate could only reject the candidate for it ("no events in the range to check it on"),
    and the name is almost always a typo. With a topic range, an entity seen only in invalid
    events, or in one event, has no rows either."""
    entities = {s.entity for s in rows.segments}
    unknown = [a for a in labels if a.entity not in entities]
    if not unknown:
        return
    first = unknown[0]
    hint = " (with --data, a file's entity is its name without the extension)" if (
        rows.source.get("kind") == "files") else ""
    more = (f"; {len(unknown) - 1} more label(s) name an entity with no rows"
            if len(unknown) > 1 else "")
    raise DataError(f"{path}: line {first.line}: entity {brief(first.entity)} has no rows in "
                    f"{where}; expected one of its entities: {name_list(sorted(entities), 5)}"
                    f"{hint}{more}")


def _windows_ending_inside(label: Alerted, rows: Rows, window: int) -> int:
    """How many windows of ``window`` rows of ``label``'s entity end inside it (edges
    included): those the gate checks it on."""
    return sum(int(((s.ts[window - 1:] >= label.start_ts) & (s.ts[window - 1:] <= label.end_ts)
                    ).sum()) for s in rows.segments if s.entity == label.entity)


def _check_label_times(path: str, labels: Sequence[Alerted], rows: Rows, where: str,
                       window: int) -> None:
    """With files (given with their labels), refuse an incident that lies outside its
    entity's rows, or in which no window of ``window`` rows ends (one shorter than a row
    step, or in a file's first ``window - 1`` rows): the gate could only reject the
    candidate for it, after training, saying "no events in the range to check it on". (A
    topic range leaves such incidents unchecked, :func:`_retrain`: the CronJob's labels
    file outlives its ranges.)"""
    if rows.source.get("kind") != "files":
        return
    span: dict[str, tuple[float, float]] = {}
    for s in rows.segments:
        lo, hi = span.get(s.entity, (np.inf, -np.inf))
        span[s.entity] = (min(lo, float(s.ts[0])), max(hi, float(s.ts[-1])))
    for a in labels:
        lo, hi = span[a.entity]
        if a.end_ts < lo or a.start_ts > hi:
            raise DataError(f"{path}: line {a.line}: the incident of {brief(a.entity)} from "
                            f"{iso_utc(a.start_ts)} to {iso_utc(a.end_ts)} lies outside its "
                            f"rows in {where} ({iso_utc(lo)} to {iso_utc(hi)}); expected an "
                            f"incident within the data")
        if not _windows_ending_inside(a, rows, window):
            raise DataError(f"{path}: line {a.line}: no window of data.window {window} rows "
                            f"ends inside the incident of {brief(a.entity)} from "
                            f"{iso_utc(a.start_ts)} to {iso_utc(a.end_ts)} (windows end on a "
                            f"file's row {window} onwards), so the gate could not check it; "
                            f"expected an incident that holds a window's last row")


def event_span(rows: Rows, start: float, end: float) -> tuple[float, float]:
    """The times that alerts and labelled incidents are matched against: the range asked
    for, widened to the event times of the rows read.

    The range selects records by their Kafka timestamps, while alerts and labels carry the
    events' own times (``ts``). A producer that stamps records with the send time while
    the events are older (a backfill, a replay, a collector that lags) puts the rows'
    times outside the range; matching on the range alone then missed every alert.

    >>> from anomaly_gan.retrain.source import Segment
    >>> rows = Rows([Segment("a", np.array([10.0, 20.0]), np.zeros((2, 1)))], {})
    >>> event_span(rows, 100.0, 200.0)
    (10.0, 200.0)
    """
    times = [s.ts for s in rows.segments if len(s)]
    if not rows.timed or not times:
        return start, end
    return (min(start, min(float(t[0]) for t in times)),
            max(end, max(float(t[-1]) for t in times)))


def read_silences(cfg: Config) -> Silences | None:
    """The silences of ``serve.alerts.silences_path`` (None: no file configured). One that
    cannot be read or validated is a :class:`ConfigError`: the spans it silences are
    maintenance, whose alerts ``serve`` never sent, so without them a retrain would learn
    them as normal (a batch job: better to fail clearly than to train a polluted baseline)."""
    path = cfg.serve.alerts.silences_path
    if not path:
        return None
    try:
        return load_silences(path)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; retrain leaves out the silenced spans (maintenance, whose "
                          f"alerts serve never sent) and does not train without them") from None


def _compatible(cfg: Config, names: Sequence[str], info: Any, current_name: str | None,
                where: str, config_source: str | None) -> None:
    """Refuse a config or data that a scorer running the current version could not
    hot-reload: one line naming the key (and where it was set), the current version and
    both values, and what to do instead."""
    if info is None:
        return
    version = f"the current version {current_name}'s"
    remedy = ("; serve could not hot-reload it: a retrain keeps it (to change it, train a new "
              "version with `anomaly-gan train`, promote it and restart serve)")

    def key(name: str) -> str:
        return (f"retrain: {name}" if config_source is None
                else f"{source_of(name, config_source)}: {name}:")

    if tuple(names) != tuple(info.feature_names):
        raise DataError(f"retrain: features {list(names)} of {where} differ from {version} "
                        f"{list(info.feature_names)}{remedy}")
    if cfg.data.window != info.window:
        raise DataError(f"{key('data.window')} {cfg.data.window} differs from {version} "
                        f"{info.window}{remedy}")
    before = info.config.data.counters
    if sorted(cfg.data.counters) != sorted(before):
        raise DataError(f"{key('data.counters')} {list(cfg.data.counters)} differ from "
                        f"{version} {list(before)}{remedy}")


def retrain(cfg: Config, req: RetrainRequest, progress: Progress | None = None,
            finishing: Callable[[], contextlib.AbstractContextManager[Any]]
            = contextlib.nullcontext, reading: Readings | None = None,
            stage: Stage | None = None, scoring: Scoring | None = None) -> RetrainResult:
    """Run one retrain. Everything up to the training data (the request, the store, the
    labels, the current version's files and the read itself) is checked before TensorFlow
    loads, so a wrong topic or an empty range is reported in about a second. The store is
    held for the whole run (:meth:`ModelStore.run_lock`): another retrain of it running is
    a :class:`StoreError` at once.

    ``finishing``: the context the version is saved and promoted in (the CLI defers a
    signal there and up to the command's end, :meth:`~anomaly_gan.runtime.Interrupts.finishing`:
    one between the save and the promote gave exit 130 with a version kept, or with
    ``current`` moved, and one after them, while the run lock was released, too). ``reading``: how far reading each of ``req.files``
    has got (:func:`~anomaly_gan.retrain.source.read_files`); ``stage``, how far mining and
    counting the log lines of files or of a range of the topic have got (:data:`~anomaly_gan.logs.offline.Stage`);
    ``scoring(done, total)``, how far the current version has scored the windows of the
    rows read (the filter's ``exclude_over_threshold``: 300,000 rows took 3.8 s with a tiny
    dense model on 2 cores, a week of 100 entities' rows over a minute), then, counted
    afresh, how far the gate has scored its windows with the candidate and the current
    version (:func:`~anomaly_gan.retrain.gate.evaluate_gate`)."""
    say = progress or (lambda _m: None)
    check_request(req)
    store = ModelStore.open(req.store, create=True)
    # `add` creates the store and its parents if missing
    check_creatable(store.root, "a new version", StoreError, inside=True)
    with contextlib.ExitStack() as held:
        # The whole run holds the store: a second retrain of it is refused now, where it
        # trained for minutes and failed at its promote. A store that does not exist yet is
        # made and held once its data is read (the first version comes from files: quick),
        # so that bad input leaves no directory behind.
        exists = store.root.is_dir()
        if exists:
            held.enter_context(store.run_lock("retrain"))
        return _retrain(cfg, req, store, say, finishing, lock_new_store=None if exists else (
            lambda: held.enter_context(store.run_lock("retrain"))), reading=reading,
            stage=stage, scoring=scoring)


def _retrain(cfg: Config, req: RetrainRequest, store: ModelStore, say: Progress,
             finishing: Callable[[], contextlib.AbstractContextManager[Any]],
             lock_new_store: Callable[[], object] | None,
             reading: Readings | None = None, stage: Stage | None = None,
             scoring: Scoring | None = None) -> RetrainResult:
    from anomaly_gan.artifacts import inspect_bundle

    labels = read_labels_file(req.labels) if req.labels else []
    silences = read_silences(cfg)
    silences_path = cfg.serve.alerts.silences_path
    if silences is not None:
        say(f"[read] {len(silences)} silence(s) in {silences_path} "
            f"(serve.alerts.silences_path)" + (": their spans are left out" if len(silences)
                                                else ""))
    current_name = store.current()
    if req.promote or cfg.retrain.keep_versions:
        # a damaged history.json fails now, not after training: the promote reads it, and so
        # does retrain.keep_versions' prune (with --no-promote it was a [prune] warning)
        store.predecessor()
    info = inspect_bundle(store.path_of(current_name, current=True)) if current_name else None
    check_kind(cfg, info, req.store)
    cfg = keep_former_defaults(cfg, info, say)

    # ---------------------------------------------------------------- read
    started = time.monotonic()
    alerted: list[Alerted] = []
    outside = 0  # labelled incidents outside the topic range
    unchecked: list[Alerted] = []  # those in it that hold no window's last row
    rows: Rows
    log_model = None  # a logs retrain's templates and columns (retrain/logs.py)
    where = ", ".join(req.files)

    columns: tuple[int, ...] | None = None  # data.counters among the features, once checked

    def counters_of(names: Sequence[str]) -> tuple[int, ...]:
        """The columns of data.counters among ``names``, once they and the config are
        found to fit the current version (the notes on a file's counters come after)."""
        nonlocal columns
        _compatible(cfg, names, info, current_name, where, req.config_source)
        named = (None if req.config_source is None
                 else source_of("data.counters", req.config_source))
        columns = counter_columns(names, cfg.data.counters, "the model's features" if info
                                  else f"the columns of {where}", named)
        return columns

    if req.files:
        say(f"[read] {len(req.files)} file(s)")
        if cfg.logs is not None:
            from anomaly_gan.logs.offline import resolve_layout

            cfg = resolve_layout(cfg, req.files, say)  # a first version's logs.format: auto
            rows, names, log_model = read_log_files_rows(cfg, req.files, info, say, reading,
                                                         stage)
            # a first version's buckets may be chosen per N lines: the version's config
            # holds them, so that serve counts the same
            cfg = cfg.replace(logs=log_model.cfg)
        else:
            rows, names = read_files(cfg, req.files, info.feature_names if info else None,
                                     say, reading, counters_of)
    else:
        if info is None:
            kept = [v.name for v in store.versions()]
            if kept:  # e.g. `train --out models/v1`: a version of the store, never promoted
                raise DataError(f"{req.store}: no current version: it holds {name_list(kept)} "
                                f"but none was promoted; `anomaly-gan models promote --store "
                                f"{req.store} {kept[-1]}` makes one current")
            raise DataError(f"{req.store}: no current version: the first version must be "
                            f"trained from a file (--data), which also names the features")
        names = info.feature_names
        assert req.start is not None and req.end is not None
        say(f"[read] {cfg.serve.kafka.input_topic} from {iso_utc(req.start)} to {iso_utc(req.end)}")
        if cfg.logs is not None:
            rows, log_model = read_log_range_rows(cfg, info, req.start, req.end, say, stage)
        else:
            rows = read_event_range(cfg, names, req.start, req.end, say)
        topic, span = cfg.serve.kafka.input_topic, f"{iso_utc(req.start)} and {iso_utc(req.end)}"
        if rows.events_read == 0:
            raise DataError(f"topic {topic!r}: no events between {span}")
        where = f"topic {topic!r} between {span}"
        lo, hi = event_span(rows, req.start, req.end)
        alerted = read_alerts(cfg.serve.kafka, lo, hi, cfg.retrain.alert_margin_seconds, say,
                              cfg.serve.windows.max_future_skew_seconds)
        # A labels file outlives the ranges it is used with (the CronJob's --last): an
        # incident outside this range has nothing to be checked on and does not count.
        inside = [a for a in labels if a.end_ts >= lo and a.start_ts <= hi]
        outside = len(labels) - len(inside)
        if outside:
            say(f"[read] {outside} of {len(labels)} labelled incident(s) lie outside the "
                f"range: not checked")
        # One that the range's edge cuts, or while its entity sent nothing (a pump down),
        # has nothing to check a candidate on: it rejected every candidate while it stayed
        # in the range. Its rows are still left out. (An entity with no rows at all is a
        # typo, refused below.)
        entities = {s.entity for s in rows.segments}
        unchecked = [a for a in inside if a.entity in entities
                     and not _windows_ending_inside(a, rows, cfg.data.window)]
        if unchecked:
            say(f"[read] {len(unchecked)} of {len(inside)} labelled incident(s) hold no "
                f"window's last row in the rows read (cut by the range's edge, or their "
                f"entity sent nothing then): not checked")
        labels = inside
    if columns is None:  # not yet checked by read_files, which does once the features are known
        columns = counters_of(names)  # data.counters: the model reads their increases
    if not req.files:  # (a file's were said as it was read)
        for note in range_counter_notes(rows, cfg.serve.kafka.input_topic, names, columns):
            say(note)
    silences_note = None
    if silences is not None and len(silences) and not rows.timed:
        # a row's time is its index in its file: it cannot be compared with a silence's
        silences_note = "not applied: the rows carry no clock time (a row's time is its index)"
        say(f"[read] note: serve.alerts.silences_path {silences_path}: {silences_note}")
    rows = with_increases(rows, columns)  # each segment's first row starts the increases
    _check_enough_rows(rows, cfg.data.window, cfg.data.validation_fraction, where)
    if req.labels:
        _check_label_entities(req.labels, labels, rows, where)
        _check_label_times(req.labels, labels, rows, where, cfg.data.window)
    if lock_new_store is not None:
        lock_new_store()
    import_tensorflow_quietly()
    from anomaly_gan.artifacts import load_bundle
    from anomaly_gan.inference import configure_threads, cpu_limit
    from anomaly_gan.train import train_detector

    # Before TensorFlow's first op, as serve does: left alone, TensorFlow sizes its pools
    # from the node's cores (64 on a 64-core node for a Job allowed 2 CPUs, throttled).
    cpus = cpu_limit()
    intra, inter = configure_threads(cpus, loop=False)
    say(f"[threads] TensorFlow pools: intra_op {intra}, inter_op {inter} (CPU limit "
        f"{cpus:g}: the cgroup quota, ANOMALY_GAN_CPUS or the CPUs this process may use)")

    current = load_bundle(info) if info else None
    rate = rows.events_read / max(rows.seconds, 1e-9)
    say(f"[read] {rows.events_read} events in {rows.seconds:.1f}s ({rate:,.0f} events/s): "
        f"{rows.rows} rows in {len(rows.segments)} segments, "
        f"{sum(rows.invalid.values())} invalid, {rows.late} late"
        + (f", {rows.incomplete} incomplete slots" if rows.incomplete else "")
        + (f", {rows.partial} in partial buckets left out" if rows.partial else ""))

    # ---------------------------------------------------------------- filter
    w = cfg.data.window
    over: list[np.ndarray | None] = [None] * len(rows.segments)
    if current is not None and cfg.retrain.exclude_over_threshold:
        say(f"[filter] scoring {rows.rows} rows with the current version {current_name}")
        over = _over_threshold(current, rows.segments, w, scoring)
    sel = select_rows(rows.segments, alerted, margin=cfg.retrain.alert_margin_seconds,
                      window=w, over=over, labelled=labels,
                      silences=None if silences_note else silences)
    g = cfg.retrain.gate
    train, holdout, cutoff = split_holdout(sel.pieces, g.holdout_fraction, w, rows.timed,
                                           covered=rows.segments)
    selection = sel.report()
    selection["holdout_from"] = iso_utc(cutoff) if np.isfinite(cutoff) else None
    selection["train_rows"] = sum(len(p) for p in train)
    selection["holdout_rows"] = sum(len(p) for p in holdout)
    # A piece the split cuts keeps only a side long enough for its part (split_holdout):
    # the other side's rows are too short too, and were counted nowhere (the [filter] line
    # and rows_kept did not add up to the rows trained on and held out).
    cut = selection["rows_kept"] - selection["train_rows"] - selection["holdout_rows"]
    selection["rows_excluded"]["too_short"] += cut
    selection["rows_kept"] -= cut
    selection["silences"] = None if silences is None else {
        "path": silences_path, "in_file": len(silences), "applied": sel.silences_applied(),
        "applied_total": len(sel.silenced),
        **({"note": silences_note} if silences_note else {})}
    ex_r, ex_w = selection["rows_excluded"], selection["windows_excluded"]
    margin = cfg.retrain.alert_margin_seconds
    say(f"[filter] excluded {sum(ex_w.values())} of {selection['windows']} windows "
        f"({ex_w['alerted']} alerted by the current model, {ex_w['silenced']} silenced, "
        f"{ex_w['labelled']} labelled, {ex_w['over_threshold']} over its threshold) and "
        f"{sum(ex_r.values())} of {selection['rows']} rows ({ex_r['alerted']} alerted "
        f"+-{margin:g}s, "
        + (f"{ex_r['silenced']} silenced +-{margin:g}s by {len(sel.silenced)} silence(s), "
           if silences is not None else "")
        + f"{ex_r['labelled']} labelled, {ex_r['over_threshold']} over threshold, "
        f"{ex_r['too_short']} in pieces too short); "
        f"{selection['train_rows']} rows train, {selection['holdout_rows']} held out")
    # After a lasting change the current version alerts on the new normal, and its alerts
    # are excluded whatever exclude_over_threshold says: only files, which carry no alerts, help.
    new_normal = ("if the baseline changed for good (the current version alerts on the new "
                  "normal), retrain on files of the new normal (--data) with "
                  "retrain.exclude_over_threshold: false")
    if not train:
        hint = (f"; {new_normal}" if ex_r["alerted"] else
                "; if the baseline shifted, set retrain.exclude_over_threshold: false"
                if ex_r["over_threshold"] else
                f"; the incidents of {req.labels} cover them: read a range with normal "
                f"rows beside the incidents" if ex_r["labelled"] else "")
        # every count of the [filter] line: labelled rows were left out of this one, which
        # then gave 0 for every reason when the labels covered the whole range
        raise DataError(f"retrain: after exclusions no piece of at least {2 * w} rows is left "
                        f"to train on ({selection['rows_kept']} of {selection['rows']} rows kept; "
                        f"{ex_r['alerted']} alerted, {ex_r['silenced']} silenced, "
                        f"{ex_r['labelled']} labelled, "
                        f"{ex_r['over_threshold']} over the current version's threshold, "
                        f"{ex_r['too_short']} in pieces too short){hint}")

    if not holdout:
        # The gate could only reject the candidate ("no held-out windows"), after a whole
        # training run on the older rows alone. Typical after a lasting change: the current
        # version alerts on the new normal, so it is all excluded.
        newest = (f"the newest {g.holdout_fraction:g} of the time read (from "
                  f"{selection['holdout_from']})" if selection["holdout_from"] else
                  f"the newest {g.holdout_fraction:g} of each file or entity")
        # nothing excluded (the split's short sides aside): the held-out share is too short
        if not any(sel.rows_excluded.values()):
            raise DataError(
                f"retrain: {newest} holds fewer rows than one window (data.window {w}) in "
                f"every piece, so the gate has nothing to measure false alarms on and would "
                f"reject any candidate; read a longer range or raise "
                f"retrain.gate.holdout_fraction")
        raise DataError(
            f"retrain: {newest} holds no window left after exclusions (in the whole range: "
            f"{ex_r['alerted']} rows alerted by the current version "
            f"+-{cfg.retrain.alert_margin_seconds:g}s, {ex_r['silenced']} silenced, "
            f"{ex_r['over_threshold']} over its "
            f"threshold, {ex_r['labelled']} labelled, {ex_r['too_short']} in pieces too short "
            f"between them), so the gate has nothing to measure false alarms on and would "
            f"reject any candidate; {new_normal}")

    # ---------------------------------------------------------------- train
    mode = cfg.retrain.mode
    init, copied = (warm_start(current, cfg.model.kind, say)
                    if mode == "warm_start" and current else (None, []))
    if mode == "warm_start" and current is not None and init is None:
        say(f"note: retrain.mode warm_start: the current version {current_name} is a "
            f"{current.kind} model and this config trains {cfg.model.kind}, so it has no "
            f"networks to start from: training from scratch")
    say(f"[train] {'warm_start' if init is not None else 'scratch'} on "
        f"{selection['train_rows']} rows" + (f" from {current_name}" if init is not None else ""))
    from anomaly_gan.logs.offline import BY_DESIGN

    runs = log_model is not None and log_model.cfg.bucket_seconds is not None
    if runs:  # runs of log buckets: the newest are held out whole (train.split_series)
        train = sorted(train, key=lambda p: float(p.ts[-1]))
    det = train_detector(cfg, [p.values for p in train], names, progress=say, init=init,
                         run_entities=[p.entity for p in train] if runs else None,
                         constant_by_design=BY_DESIGN if log_model else ())
    if log_model is not None:
        det.extras["logs"] = log_model.to_dict()
        # the lines counted, as train records them (the invalid ones were read, not counted)
        det.metadata["logs"] = {"lines": rows.events_read - sum(rows.invalid.values()),
                                "templates": len(log_model.miner.templates),
                                "buckets": selection["train_rows"]}

    # ---------------------------------------------------------------- gate
    checked = [a for a in labels if a not in unchecked]  # (equal ones hold the same windows)
    say(f"[gate] scoring the candidate on {selection['holdout_rows']} held-out rows"
        + (f" and {len(checked)} labelled incident(s)" if checked else ""))
    reference = _reference(store, current, current_name)
    report = evaluate_gate(det, g, holdout=holdout, segments=rows.segments, labels=checked,
                           alerted=alerted, current=current,
                           reference=reference if reference and reference[1] is not None else None,
                           scoring=scoring, still_by_design=BY_DESIGN if log_model else ())
    if "injected" in report:
        report["injected"]["reference_version"] = _next_reference(
            report["injected"], current_name, reference[0] if reference else None)
        if reference and reference[1] is None:
            report["injected"]["reference"] = {"version": reference[0], "flagged_share": None,
                                               "note": "no longer in the store"}
    if not req.files:
        report["labelled_incidents_outside_range"] = outside
        report["labelled_incidents_without_windows"] = len(unchecked)
    rate_fa = report["false_alarm_rate"]
    say(f"[gate] {'passed' if report['passed'] else 'REJECTED'}: false-alarm rate "
        f"{'n/a' if rate_fa is None else figure(rate_fa, g.max_false_alarm_rate, 4)} "
        f"(budget {g.max_false_alarm_rate:g})"
        + "".join(f"; {r}" for r in report["reasons"]))
    source = dict(rows.source)
    if req.files and rows.timed:
        # the time the files' rows cover, as `train` records it: `models list`'s DATA RANGE
        # showed a retrain's file names only, where its parent showed times
        lo, hi = event_span(rows, np.inf, -np.inf)
        if np.isfinite(lo):
            source["from"], source["to"] = iso_utc(lo), iso_utc(hi)
    source.update({"events": rows.events_read, "invalid": rows.invalid, "late": rows.late,
                   "read_seconds": round(rows.seconds, 3), "events_per_second": round(rate, 1)})
    if rows.incomplete:
        source["incomplete"] = rows.incomplete
    if rows.partial:
        source["partial_bucket_lines"] = rows.partial
    det.metadata["lineage"] = {
        # The store's name for it (what `models list` shows and `promote` takes), which
        # differs from the version written inside the bundle when the directory was named
        # by hand (`train --out store/v1`).
        "parent": current_name if current else None,
        "mode": mode if copied or mode == "scratch" else "scratch (nothing to warm-start from)",
        "warm_started": copied,
        "source": source,
        "selection": selection,
        "seconds": round(time.monotonic() - started, 3),
    }
    det.metadata["gate"] = report

    # ---------------------------------------------------------------- save, promote
    with finishing():
        return _save_and_promote(store, det, report, req, current_name, say,
                                 keep=cfg.retrain.keep_versions,
                                 shadow=cfg.serve.shadow_model_path,
                                 served=cfg.serve.model_path)


def _over_threshold(current: Any, segments: Sequence[Segment], window: int,
                    scoring: Scoring | None = None) -> list[np.ndarray | None]:
    """Per segment, whether the current version scores each of its windows over its
    threshold (None for a segment shorter than a window); ``scoring(done, total)``: how far,
    over the windows of every segment (the `[filter] scoring` line was the last for as long
    as the rows took to score)."""
    total = sum(max(0, len(s) - window + 1) for s in segments)
    done = 0
    out: list[np.ndarray | None] = []
    for s in segments:
        if len(s) < window:
            out.append(None)
            continue
        tell = None if scoring is None else (
            lambda n, _of, before=done: scoring(before + n, total))
        values = s.values if s.current is None else s.current  # as it reads them in serve
        out.append(current.score_series(values, progress=tell).is_anomaly[window - 1:])
        done += len(s) - window + 1
    return out


def _reference_named(metadata: dict[str, Any]) -> str | None:
    """The reference version a version's gate report names (the most sensitive of the
    chain of retrains so far), or None."""
    name = ((metadata.get("gate") or {}).get("injected") or {}).get("reference_version")
    return name if isinstance(name, str) else None


def _reference(store: ModelStore, current: Any | None, current_name: str | None
               ) -> tuple[str, Any | None] | None:
    """The reference version the current version's gate report names, loaded:
    ``(name, detector)``, ``(name, None)`` where it is no longer in the store or cannot be
    loaded, None where none is named (or it is current)."""
    from anomaly_gan.artifacts import load_bundle

    name = _reference_named(getattr(current, "metadata", None) or {})
    if name is None or name == current_name:
        return None
    try:
        return name, load_bundle(store.path_of(name))
    except (AnomalyGanError, OSError):
        return name, None


def _next_reference(injected: dict[str, Any], current_name: str | None,
                    reference: str | None) -> str | None:
    """The reference the candidate passes on: the more sensitive, on this retrain's
    windows, of the reference and the current version (the current one where the reference
    was not scored; the reference kept where neither was)."""
    now = injected.get("current_flagged_share")
    ref = (injected.get("reference") or {}).get("flagged_share")
    if now is None:
        return reference or current_name
    if ref is not None and reference is not None and ref > now:
        return reference
    return current_name


def _save_and_promote(store: ModelStore, det: Any, report: dict[str, Any], req: RetrainRequest,
                      current_name: str | None, say: Progress, *, keep: int = 0,
                      shadow: str | None = None, served: str | None = None) -> RetrainResult:
    """Save the candidate, promote it if it passed, then apply ``retrain.keep_versions``
    (``keep``; 0: none) keeping the store's versions at ``shadow`` and ``served`` too, and
    the candidate: after a rejection or ``--no-promote`` as well, since a scheduled retrain
    whose candidates the gate keeps rejecting added a version every run, unwatched."""
    version = store.add(det)
    promoted = False
    result = {"version": version, "promoted": False, "lineage": det.metadata["lineage"],
              "gate": report}
    if report["passed"] and req.promote:
        # Only over the version it started from (checked under the store's lock): an
        # operator's rollback or another promote while it trained wins, and the candidate
        # stays in the store for a manual promote.
        try:
            previous = store.promote(version, reason="retrain", verify=False,  # just verified
                                     expect_current=current_name)
        except StoreError as exc:
            raise _kept_not_promoted(store, version, exc) from None
        promoted = result["promoted"] = True
        say(f"[promote] {version} is current (was {previous or 'none'})")
    elif report["passed"]:
        say(f"[promote] {version} passed the gate; not promoted (--no-promote)")
    else:
        # what serves now and where the figures are: an operator deciding what to do next
        # (more data, a budget, a rollback) needs both
        say(f"[promote] {version} kept but NOT promoted: rejected by the gate (the [gate] line "
            f"says why; `anomaly-gan models show --store {store.root} {version}` has the "
            f"report); current stays {current_name or 'none'}")
    if keep:
        result.update(_keep_newest(store, keep, shadow, served, say,
                                   candidate=None if promoted else version))
    return RetrainResult(0 if report["passed"] else EXIT_REJECTED, version, promoted, result)


def _kept_not_promoted(store: ModelStore, version: str, exc: StoreError) -> StoreError:
    """The error of a promote that failed after the candidate ``version`` was added: it is
    kept in the store, which the line says with the ``models promote`` that promotes it.
    Said by the promote alone, a full volume (room for the bundle, none for history.json)
    read '... not made current (the store is unchanged)', and a store locked for a minute
    'try again', with the candidate in the store all the same and nothing naming it."""
    if store.version_at(store.root / version) is None:  # removed meanwhile: nothing kept
        return exc
    try:
        stays = f" (current stays {store.current() or 'none'})"
    except StoreError:
        stays = ""
    return StoreError(f"{str(exc).removesuffix(UNCHANGED)}; it passed the gate and is kept "
                      f"in the store{stays}: `anomaly-gan models promote --store "
                      f"{store.root} {version}` promotes it")


def _keep_newest(store: ModelStore, keep: int, shadow: str | None, served: str | None,
                 say: Progress, candidate: str | None = None) -> dict[str, Any]:
    """``retrain.keep_versions`` after a retrain: ``models prune --keep`` with the versions
    a scorer of this config runs kept too: its shadow model (``serve.shadow_model_path``)
    and its model when ``serve.model_path`` names a version of the store rather than the
    store (a version pinned by hand: pruned, the scorer's next start failed), and
    ``candidate``, one just kept and not promoted (rejected, or ``--no-promote``), whose
    report the operator reads next (promoted, it is current). Its outcome for the report:
    ``pruned``, and ``prune_error`` when it failed, which is a warning only: the promote
    (or the kept candidate) stands, and a next retrain or ``models prune`` prunes."""
    shadow_version = store.version_at(shadow) if shadow else None
    served_version = store.version_at(served) if served else None
    in_use = [v for v in (shadow_version, served_version, candidate) if v]
    try:
        if store.current() is None:
            # a first retrain rejected or kept with --no-promote: `models prune` refuses a
            # store where nothing is protected, and that read as a failed prune with a
            # command to run that failed the same way
            say(f"[prune] nothing pruned (retrain.keep_versions {keep}): no version of the "
                f"store is current yet, so none is protected from deletion; pruning starts "
                f"once one is promoted")
            return {"pruned": []}
        # the reference versions of the gate's sensitivity check (current's and the
        # candidate's): pruned, the bound on its erosion across retrains would restart from
        # the current one. Looked up inside the prune's warning: a version the retrain may
        # not read stopped it after its promote, exit 2 and no report.
        in_use = list(dict.fromkeys([*in_use, *_references(store, candidate)]))
        gone = store.prune(keep, keep_versions=in_use)
        # named in the [prune] line unless kept as current or its predecessor anyway
        named = {candidate, shadow_version, served_version, store.current(),
                 store.predecessor()}
    except (AnomalyGanError, OSError) as exc:
        why = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        # The command to run later keeps what this prune would have kept: without
        # --keep-version it deleted the shadow's (or the pinned) version.
        keep_flags = "".join(f" --keep-version {v}" for v in in_use)
        stands = "the promote stands" if candidate is None else f"{candidate} is kept"
        say(f"[prune] warning: retrain.keep_versions {keep}: pruning the store failed "
            f"({why}); {stands}. `anomaly-gan models prune --store {store.root} "
            f"--keep {keep}{keep_flags}` prunes it")
        return {"pruned": [], "prune_error": why}
    kept = ("current, its predecessor"
            + (f", candidate {candidate}" if candidate else "")
            + (f", shadow {shadow_version}" if shadow_version else "")
            + (f", served {served_version}" if served_version else "")
            # the gate's reference versions, which it keeps too: a version left unexplained
            + "".join(f", reference {v}" for v in in_use if v not in named))
    say(f"[prune] deleted {len(gone)} version(s) (retrain.keep_versions {keep}; {kept} "
        f"kept)" + (f": {', '.join(gone)}" if gone else ""))
    return {"pruned": gone}


def _references(store: ModelStore, candidate: str | None) -> list[str]:
    """The reference versions (:func:`_reference`) that the current version and
    ``candidate`` name and the store holds."""
    held = {v.name for v in store.versions()}
    out = []
    for version in (store.current(), candidate):
        try:
            meta = store.info(version).metadata if version else {}
        except (AnomalyGanError, OSError):
            continue
        name = _reference_named(meta)
        if name is not None and name in held:
            out.append(name)
    return out
