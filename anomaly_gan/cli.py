"""The ``anomaly-gan`` command: thin subcommands over the library.

Exit codes: 0 ok; 1 ``serve``: the final flush/commit failed or a record not delivered still
waited for its replay, ``demo``: not every window was scored, or an unexpected error (a bug,
with its traceback); 2 bad input (config, data, model bundle, output path: one line on
stderr, no traceback); 3 training ended unhealthy (bundle not written unless
--allow-unhealthy; never when the networks ended non-finite, which ``retrain``, ``demo`` and
``offline-demo`` exit 3 for too); 4 ``retrain``: the candidate was rejected by the
validation gate (kept in the store, not promoted); 130 interrupted (``serve``: while it
starts, or by a second signal while it drains).

Streams: results (the ``train`` summary JSON, ``evaluate`` metrics) go to stdout, progress and
errors to stderr, so ``anomaly-gan train ... > result.json`` is valid JSON. Inputs (config,
paths, bundle, data) are checked before TensorFlow is imported: bad input fails in about a
second with one line, and TensorFlow's start-up banner is kept off the screen
(:mod:`anomaly_gan.runtime`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import dataclasses
import itertools
import json
import logging
import math
import os
import stat
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from anomaly_gan import __version__
from anomaly_gan.errors import AnomalyGanError, DataError, OutputError, TrainingHealthError
from anomaly_gan.runtime import (
    EXIT_INTERRUPTED,
    Interrupts,
    end_now,
    forget_unhandled_interrupt,
    now_and_then,
    raised_inside_jax,
)

if TYPE_CHECKING:  # numpy and the readers load when a command reads data
    from anomaly_gan.config import Config
    from anomaly_gan.data.readers import Reading

__all__ = ["build_parser", "main"]

EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_UNHEALTHY = 3

EPILOG = """\
exit codes:
  0    success
  1    serve: the final flush/commit failed, or a record not delivered still waited
       for its replay; demo: not every window was scored;
       any command: an unexpected error (a bug; reported with its traceback)
  2    bad input: config, data, model bundle or output path (one line on stderr)
  3    train: GAN training ended unhealthy (no bundle unless --allow-unhealthy);
       train, retrain, demo, offline-demo: the networks ended non-finite (no bundle;
       retrain: the store untouched)
  4    retrain: trained, but the validation gate rejected the candidate (kept, not promoted)
  130  interrupted (Ctrl-C or SIGTERM; serve: while it starts; once running, serve
       drains and exits 0, and a second signal during its drain ends it at once with
       130, committing nothing more)

environment:
  Any config key can be overridden: ANOMALY_GAN__<SECTION>__<KEY>[__<KEY>...]=<value>,
  e.g. ANOMALY_GAN__TRAINING__EPOCHS=5 or ANOMALY_GAN__SERVE__KAFKA__SASL_PASSWORD=...
  (string keys and secrets are taken verbatim; other keys are parsed as YAML).
  A look-alike that would be ignored (ANOMALY_GAN_TRAINING__EPOCHS, one underscore) or an
  unknown key is refused (exit 2), naming the spelling meant. score, evaluate and plot
  apply them to the model bundle's config (or score --config's): only serve keys take
  effect there, and a note names one that sets another section otherwise. demo and
  offline-demo run their own configs: a note names the variables they leave out.

documentation:
  README.md, docs/streaming.md, docs/deployment.md and configs/default.yaml (every key,
  documented) in the anomaly-gan source tree; `anomaly-gan COMMAND --help` for a command.
"""


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _train_progress(quiet: bool, stop: Interrupts | None = None) -> Callable[[str], None]:
    """Where ``train``'s progress goes: stderr, or under ``--quiet`` only its warnings (a
    ``note:`` on the data or the threshold, an unhealthy attempt being retried). With
    ``stop``, every progress line (one per epoch at least) first raises a signal that came
    and was lost (see :func:`cmd_train`)."""
    from anomaly_gan.train import WARNING_PREFIXES

    def say(msg: str) -> None:
        if stop is not None:
            stop.check_outside_deferred()
        if not quiet or msg.startswith(WARNING_PREFIXES):
            _eprint(msg)

    return say


PROGRESS_SECONDS = 10.0
"""``score``, ``evaluate`` and ``plot`` say how far reading and scoring have got once they
have run this long, and again each time as long again has passed: a month of rows is read
for seconds and scores for minutes. ``train`` and ``retrain --data`` say how far reading
has got in the same way, and of log files (and ``retrain``, of a range of the log topic)
how far mining templates and counting the lines have got (2 million log lines: 15 s reading, 30 s mining, 17 s counting);
``retrain``, how far the current version has scored the rows read (its filter), and how far
the gate has scored its windows with the candidate and the current version."""


class _Progress:
    """The progress lines of ``score``, ``evaluate`` and ``plot`` on stderr, through one
    throttle: at most one every :data:`PROGRESS_SECONDS`, the first that long after the
    command started (when this was made), so a small file is read and scored in silence.
    :meth:`reading` gives the rows and MB of a CSV or Parquet file read so far, or the
    lines or messages of an OpenTelemetry metric file or of a log file (before TensorFlow is
    imported; also the reading lines of ``train`` and ``retrain --data``), :meth:`stage` how
    far a log file's lines are mined or counted,
    :meth:`loading` a line before the model loads, and the object itself is the
    ``progress(done, total)`` of :meth:`Detector.score_series`. With ``quiet`` (--quiet)
    it writes nothing; notes and the summary line are not progress."""

    def __init__(self, command: str, clock: Callable[[], float] = time.monotonic,
                 quiet: bool = False) -> None:
        self.command, self.quiet, self._clock = command, quiet, clock
        self._started = clock()
        self._due = now_and_then(PROGRESS_SECONDS, clock)

    def _say(self, text: str) -> None:
        elapsed = None if self.quiet else self._due()
        if elapsed is not None:
            _eprint(f"{self.command}: {text} in {elapsed:.0f}s")

    def reading(self, path: str) -> Reading | None:
        """A ``progress(count, bytes, unit)`` for reading ``path`` (None under ``quiet``):
        :class:`~anomaly_gan.data.readers.Reading`."""
        if self.quiet:
            return None
        size = _plain_file_size(path)
        of = f" of {size / 1e6:,.1f}" if size else ""

        def say(count: int, read: int, unit: str = "rows") -> None:
            self._say(f"read {count:,} {unit} ({read / 1e6:,.1f}{of} MB) of {path}")

        return say

    def stage(self, what: str, done: int, total: int) -> None:
        """How far work on a log file's lines has got
        (:data:`~anomaly_gan.logs.offline.Stage`): ``800,000 of 2,000,000 lines mined for
        templates (40%)``."""
        self._say(f"{done:,} of {total:,} {what} ({100 * done // total}%)")

    def loading(self, rows: int) -> None:
        """A line before TensorFlow and the model load (seconds) once the command has run
        :data:`PROGRESS_SECONDS`, not held back by the throttle: the last line on reading
        may be that long ago, and the next comes from scoring."""
        elapsed = self._clock() - self._started
        if not self.quiet and elapsed >= PROGRESS_SECONDS:
            _eprint(f"{self.command}: read {rows:,} rows in {elapsed:.0f}s; loading the model")

    def __call__(self, done: int, total: int) -> None:
        self._say(f"scored {done:,} of {total:,} windows ({100 * done // total}%)")


def _scoring_progress(command: str, clock: Callable[[], float] = time.monotonic,
                      quiet: bool = False) -> _Progress:
    """The progress of ``command`` (score, evaluate or plot) from now: :class:`_Progress`."""
    return _Progress(command, clock, quiet)


def _plain_file_size(path: str) -> int | None:
    """The size of ``path`` where it is a regular file that is not compressed (a progress
    line counts the text read, which a compressed file's size does not give); else None."""
    from anomaly_gan.compressed import HEAD_BYTES, compression_of

    try:
        if not stat.S_ISREG(os.stat(path).st_mode):
            return None
        with open(path, "rb") as fh:
            return None if compression_of(fh.read(HEAD_BYTES)) else os.fstat(fh.fileno()).st_size
    except OSError:
        return None


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _tensorflow() -> None:
    """Import TensorFlow now, without its banner: call after the inputs are checked."""
    from anomaly_gan.runtime import import_tensorflow_quietly

    import_tensorflow_quietly()


# --------------------------------------------------------------------------- helpers


def _load_cfg(path: str | None):
    from anomaly_gan.config import load_config

    return load_config(path)


def _inspect_model(path: str):
    """The bundle, verified and parsed without TensorFlow (networks not loaded yet)."""
    from anomaly_gan.artifacts import inspect_bundle

    return inspect_bundle(path)


def _serve_in_effect(info, path: str | None = None, given: Config | None = None):
    """The ``serve:`` section that ``score``, ``evaluate`` and ``plot`` read a file by (and
    ``score --alerts`` alerts by) with the bundle ``info``: that of ``given`` (``score
    --config``'s file at ``path``, loaded), else the bundle's, each with the ``ANOMALY_GAN__``
    overrides applied, as ``serve`` applies them (a bad value or a look-alike variable is
    refused, exit 2); None: the bundle's, as trained. The other sections are the bundle's, as
    trained; a ``note:`` names those the file or the environment set otherwise."""
    from anomaly_gan.config import env_overrides, override_config

    if given is None:
        given = override_config(info.config, str(info.path / "config.yaml"))
        if not env_overrides():
            return None
    _note_sections_not_used(path, given, info.config)
    return given.serve


def _load_model(info):
    from anomaly_gan.artifacts import load_bundle

    _tensorflow()
    return load_bundle(info)


def _read_for_model(data: str, info, nan_policy: str | None = None,
                    entity: str | None = None, serve=None, rows_out: list | None = None,
                    dead_out: list | None = None, started_out: list | None = None,
                    progress: _Progress | None = None):
    """Read ``data`` and match it to the model's features (``info``: a bundle or detector);
    of an OTLP metric file the series of ``entity`` (``--entity``), or of its one entity;
    missing cells are handled by ``nan_policy`` (``--nan-policy``), else the model's own.
    ``serve`` (a ``--config``'s serve section) stands for the bundle's: the event format
    and ``windows.reorder_tolerance_seconds``. ``rows_out`` gets the rows read, in order,
    before any increase of ``data.counters`` (the events ``serve`` would get), their
    indices and their start times (:attr:`~anomaly_gan.data.readers.Table.starts`).
    ``dead_out`` (``score --alerts``): the rows ``serve`` would dead-letter as events (a
    missing cell: :func:`~anomaly_gan.stream.offline.dead_letters`) are left out before the
    late rows are found, as ``serve`` never windows them, and go in it as (index in the
    table, why); a note counts them. Then nothing is left to fill. ``started_out``
    (``evaluate``): with ``data.counters``, gets the index in the table of the row that only
    starts their increases, left out of the rows returned. ``progress``: the command's, told
    how far reading the file has got.
    Returns the table, the values of the rows to score and their indices in the table, in
    the order ``serve`` windows them: every row but the *late* ones (``data.late_rows``),
    which ``serve`` would drop, and,
    for a model with ``data.counters``, the first one, which has no increase (the values
    of those features are then their increases, ``data/counters.py``)."""
    import numpy as np

    from anomaly_gan.data import (
        apply_nan_policy,
        coarse_counter_notes,
        counter_columns,
        increases,
        table_times,
        time_notes,
        without_late_rows,
    )
    from anomaly_gan.data.otlp_files import one_entity, read_data_file

    cfg = info.config if serve is None else info.config.replace(serve=serve)
    reading = None if progress is None else progress.reading(data)
    table = one_entity(read_data_file(data, cfg, info.feature_names, _eprint, reading=reading),
                       data, entity)
    tolerance = cfg.serve.windows.reorder_tolerance_seconds
    times = table_times(table, tolerance)
    table = table.with_features(info.feature_names, cfg.serve.unknown_features, _eprint)
    if dead_out is not None and times is None:  # first: no fill would help
        raise DataError(f"--alerts: {data} has no timestamp column "
                        f"(data.timestamp_column): alerts need each row's time")
    seen = np.arange(table.rows)  # the rows that reach serve's windows
    if dead_out is not None:
        from anomaly_gan.stream.offline import dead_letters

        dead = dead_letters(table.values)
        if dead:
            dead_out.extend(dead)
            _eprint(_dead_letter_note(table, dead))
            seen = np.delete(seen, [i for i, _ in dead])
    windowed = table.with_rows(seen)
    times_seen = None if times is None else times[seen]
    for line in time_notes(windowed, times_seen, training=False, tolerance=tolerance):
        _eprint(line)
    in_order, kept = without_late_rows(windowed, times_seen, tolerance)
    kept = seen[kept]
    values = apply_nan_policy(in_order, nan_policy or cfg.data.nan_policy,
                              hint="pass --nan-policy ffill or zero to fill them")
    counters = counter_columns(info.feature_names, cfg.data.counters, "the model's features")
    need = info.window + (1 if counters else 0)
    if len(kept) < need:
        first = " (and one before it: the model reads the increase of data.counters)"
        # the rows left out: late ones (not in time order) and, for --alerts, those serve
        # dead-letters; a file short of a window only by the latter read 'in time order'
        n_dead = table.rows - len(seen)
        left_out = (f" ({table.rows} in all" + (f"; {n_dead} left out as serve dead-letters "
                                                f"them" if n_dead else "") + ")")
        raise DataError(f"{_series_name(data, table)}: need at least one window of "
                        f"{info.window} rows"
                        f"{first if counters else ''}, got {len(kept)} rows"
                        + (" in time order" if len(kept) < len(seen) else "")
                        + (left_out if len(kept) < table.rows else ""))
    for note in coarse_counter_notes(in_order, values, counters):
        _eprint(note)
    if rows_out is not None:  # the rows as events, before the counters' increases
        rows_out.append((values, kept, in_order.starts))
    if counters:
        if started_out is not None:
            started_out.append(int(kept[0]))
        values, kept = increases(values, counters, in_order.starts), kept[1:]
    return table, values, kept


def _series_name(data: str, table) -> str:
    """``data`` as the user named it, with the entity read from it (``--entity`` of an
    OpenTelemetry metric file), as errors and figure titles name the series: of a file of
    several hosts, the file alone did not say whose rows were short or drawn."""
    from anomaly_gan.data.otlp_files import entity_series

    return data if table.entity is None else entity_series(data, table.entity)


def _label_row(table) -> str:
    """What one label of ``--labels`` stands for: a data row, of the entity read
    (``--entity``) where the file holds several: labels of the whole file were refused as
    'expected 40 labels (one per data row)', whose 40 rows unsaid."""
    return "data row" if table.entity is None else f"data row of entity {table.entity!r}"


def _dead_letter_note(table, dead: list) -> str:
    """The note on the rows ``score --alerts`` leaves out as ``serve`` dead-letters them:
    how many, the reason ``serve`` gives, and the first few by line and cell."""
    import numpy as np

    shown = []
    for i, _ in dead[:3]:
        row = table.values[i]
        cells = ", ".join(f"{table.column(int(c))} {'missing' if math.isnan(row[c]) else row[c]}"
                          for c in np.flatnonzero(~np.isfinite(row)))
        shown.append(f"{table.where(i)} ({cells})")
    more = f" and {len(dead) - len(shown)} more" if len(dead) > len(shown) else ""
    bad = dead[0][1]
    return (f"note: {table.path}: {len(dead)} row(s) left out, as serve sends such an event "
            f"to the dead-letter topic ({bad.reason}: {bad.detail}) and leaves it out of the "
            f"entity's windows: {', '.join(shown)}{more}; their score cells are empty")


def _row_times(table, kept, serve):
    """Epoch seconds of the rows scored (``kept``), or None for a file without times;
    ``serve``: the serve section the file was read by."""
    from anomaly_gan.data import table_times

    times = table_times(table, serve.windows.reorder_tolerance_seconds)
    return None if times is None else times[kept]


def _each_int(array) -> Iterator[int]:
    """The items of a 1-d integer array as Python ints, a block at a time: ``tolist()`` of
    a row per item held 2 million ints at once (72 MB) while the scores were written."""
    for k in range(0, len(array), 65536):
        yield from array[k:k + 65536].tolist()


def _fmt(x: float) -> str:
    """A number as a score file writes it: empty where there is none (NaN), ``inf`` for a
    window the network could not compute (see ``Detector.score_windows``)."""
    return "" if math.isnan(x) else f"{x:.9g}"


def _check_output(path: str, what: str, args: argparse.Namespace, figure: bool = False) -> None:
    """Refuse an output path before the model is loaded and the data scored: anything but
    a regular-file path in a writable place, a figure in a format matplotlib cannot write,
    one of the command's inputs, or a path inside the model (the --model directory, or the
    store version it names): a scores file there would corrupt the bundle."""
    from anomaly_gan.artifacts import resolve_bundle_path
    from anomaly_gan.files import check_output_apart, check_output_file

    if path == STDOUT and not figure:
        if sys.stdout is None:  # `>&-`: found only by the write, after the whole file
            raise OutputError(f"-: standard output is closed; expected a file path for the "
                              f"{what}")
        return
    try:
        bundle = resolve_bundle_path(args.model)
    except AnomalyGanError:  # reported by the bundle check that follows
        bundle = None
    # Before check_output_file, whose writability probe makes and removes a directory where
    # the output would go: inside the bundle that changed the directory said not to change.
    check_output_apart(path, what, directories=[("--model", args.model), ("--model", bundle)])
    check_output_file(path, what)
    if figure:
        from anomaly_gan.plot import figure_format

        figure_format(path)
    check_output_apart(path, what,
                       inputs=[("--data", args.data), ("--labels", getattr(args, "labels", None))])


STDOUT = "-"
"""``score --out -``: the scores CSV goes to standard output (it made a file named ``-``)."""


def _quiet_stdout() -> None:
    """Point stdout at /dev/null after its reader went away, so that Python's flush at exit
    does not print a BrokenPipeError traceback."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _StdoutError(OutputError):
    """Standard output refused a write: a full disk under ``> file``, ``/dev/full``, EIO."""


class _CheckedStdout:
    """``sys.stdout`` while a command runs: a write or flush the OS refuses is one
    :class:`_StdoutError` naming standard output (it was an ``OSError`` traceback, exit 1,
    for ``score --out - > file`` on a full disk). A reader gone away stays a
    ``BrokenPipeError``: :func:`main` ends that quietly, with 0."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        with self._refusal():
            return int(self._stream.write(text))

    def flush(self) -> None:
        with self._refusal():
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    @staticmethod
    @contextlib.contextmanager
    def _refusal() -> Iterator[None]:
        try:
            yield
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _StdoutError(f"standard output: cannot write: {exc.strerror or exc}"
                               ) from None


def _write_scores(path: str, write: Callable[[Any], None]) -> str:
    """Write the scores CSV to ``path``, replaced atomically, or to stdout for ``-``;
    returns where it went, for the summary line."""
    from anomaly_gan.files import atomic_write_text

    if path == STDOUT:
        try:
            write(sys.stdout)
            sys.stdout.flush()
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            _quiet_stdout()
            return "stdout (closed by its reader)"
        return "stdout"
    atomic_write_text(path, write)
    return path


def _write_outputs(outputs: Sequence[tuple[str, Callable[[Any], None]]]) -> list[str]:
    """Write each ``(path, write)`` as :func:`_write_scores` does, the files together
    (renamed into place once all are written: a failed write leaves none of them, e.g. the
    scores CSV without ``--alerts``; a failed rename, only the ones before it:
    :func:`~anomaly_gan.files.atomic_write_texts`), then standard output; returns where each
    went."""
    from anomaly_gan.files import atomic_write_texts

    atomic_write_texts([(path, write) for path, write in outputs if path != STDOUT])
    return [_write_scores(path, write) if path == STDOUT else path for path, write in outputs]


# --------------------------------------------------------------------------- commands


def cmd_validate_config(args: argparse.Namespace) -> int:
    from anomaly_gan.config import load_config

    cfg = load_config(args.file)
    path = cfg.serve.alerts.silences_path
    silences = ""
    if path:  # checked where it exists here (serve checks it at start wherever it runs)
        from anomaly_gan.stream.silences import load_silences

        if Path(path).exists():
            loaded = load_silences(path)
            every = loaded.of_every_entity()
            silences = f", {len(loaded)} silences in {path}" + (
                f", {len(every)} of them muting every entity ({every[0].entity!r})"
                if every else "")
        else:
            silences = f", serve.alerts.silences_path {path} not found here: not checked"
    print(f"{args.file}: ok (model {cfg.model.kind}/{cfg.model.backbone}, window "
          f"{cfg.data.window}{silences})")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``train`` under :class:`Interrupts`: Ctrl-C or SIGTERM that lands while Python runs a
    garbage-collector callback (JAX registers one, and TensorFlow's start-up runs it) raised
    its KeyboardInterrupt inside the callback, where Python prints and drops it; training
    then ran to the end and wrote the bundle. The signal is now also remembered, and raised
    at the next progress line or before the bundle is written."""
    with Interrupts().installed() as stop:
        return _train(args, stop)


def _refuse_pipe(path: str, why: str) -> None:
    """Refuse ``path`` where it is a pipe (``--data <(cat a.csv)``, ``/dev/stdin`` of a
    pipe) that ``train`` would read twice, first its head ``why``: a pipe cannot be read
    again, so the second read began where the first had stopped, and trained silently on
    the rest (a 3,000-row CSV on its last 430 rows, a cut line first)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:  # the reader says what is wrong with it
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise DataError(f"{path}: a pipe, which train reads twice (first its head, {why}), "
                        f"and a pipe can be read only once; expected a file: save it to one "
                        f"and pass that")


def _logs_if_log_file(cfg: Config, path: str, say: Callable[[str], None]) -> Config:
    """``train`` with no config: the logs defaults (:data:`~anomaly_gan.config.LOGS_DEFAULTS`,
    under the environment's overrides, ``ANOMALY_GAN__LOGS__BUCKET_LINES`` too) where
    ``path`` holds log lines (:func:`~anomaly_gan.logs.offline.looks_like_log_lines`), with
    a ``note:``; else ``cfg``. Until 2026-12-06 such a file was read as a CSV and refused
    (all 16 of Loghub's 2k samples)."""
    from anomaly_gan.config import load_logs_defaults
    from anomaly_gan.logs.offline import head_lines, looks_like_log_lines, utf16_head_lines

    try:
        head = head_lines(path, 50)
    except AnomalyGanError:
        # Not a text file: the CSV reader says what it is, but of UTF-16 log lines the log
        # reader's words (the CSV reader's were of a CSV file saved from Excel)
        if looks_like_log_lines(utf16_head_lines(path, 50)):
            raise
        return cfg
    if not looks_like_log_lines(head):
        return cfg
    say(f"note: {path} holds log lines and no config was given: training a logs model with "
        f"the logs defaults (configs/logs.yaml's model, data and training keys, "
        f"logs.format: auto, logs.bad_lines: skip); --config configs/logs.yaml to change them")
    logs_cfg = load_logs_defaults()
    return logs_cfg.replace(training=dataclasses.replace(logs_cfg.training, verbose=0))


def _train(args: argparse.Namespace, stop: Interrupts) -> int:
    from anomaly_gan.artifacts import check_destination
    from anomaly_gan.config import source_of
    from anomaly_gan.data import (
        align_tables,
        apply_nan_policy,
        coarse_counter_notes,
        counter_columns,
        fill_note,
        increases,
        table_times,
        time_notes,
        without_late_rows,
    )
    from anomaly_gan.data.otlp_files import read_data_file
    from anomaly_gan.files import check_distinct
    from anomaly_gan.train import leave_out_short, too_short, train_detector

    cfg = _load_cfg(args.config)
    out = Path(args.out)
    check_distinct(args.data, "--data")
    check_destination(args.out, args.force, args.data)  # before minutes of training
    # Keras' progress bar writes to stdout, which holds the result JSON: the CLI reports one
    # line per epoch on stderr through the library's progress channel instead.
    cfg = cfg.replace(training=dataclasses.replace(cfg.training, verbose=0))
    say = _train_progress(args.quiet, stop)
    lines = _Progress("train", quiet=args.quiet)  # reading a file: 2 million rows take 17 s
    if args.config is None:  # environment overrides apply over the logs defaults too
        _refuse_pipe(args.data[0], "to tell log lines from a CSV, as no --config is given")
        cfg = _logs_if_log_file(cfg, args.data[0], say)
    if cfg.logs is not None and cfg.logs.format == "auto":
        for path in args.data:
            _refuse_pipe(path, "to recognise its layout, as logs.format is auto")
    if cfg.logs is not None:  # a logs config: the files are log lines
        from anomaly_gan.logs.offline import (
            log_training_data,
            read_log_files,
            resolve_layout,
            train_on_log_data,
        )

        cfg = resolve_layout(cfg, args.data, say)  # logs.format: auto
        events = read_log_files(cfg, args.data, say, reading=lines.reading)
        data = log_training_data(cfg, args.data, progress=say, events_by_file=events,
                                 stage=lines.stage)
        spans = [_span([e.ts for e in evs]) for evs in events]
        # The events (2 million lines: about 600 MB) were held through TensorFlow's import
        # and the training until 2026-12-06, for the spans alone.
        del events
        _tensorflow()
        det = train_on_log_data(data, progress=say)
        names = det.feature_names
        _record_sources(det.metadata, args.data, spans)
    else:
        # an OTLP metric file holds a series per entity (data/otlp_files.py)
        per_file = [read_data_file(p, cfg, progress=say, check_counters=True,
                                   reading=lines.reading(p))
                    for p in args.data]
        source = [k for k, file_tables in enumerate(per_file) for _ in file_tables]
        tables = align_tables([t for file_tables in per_file for t in file_tables])
        names = tables[0].feature_names
        # serve's order: rows out of order within serve.windows.reorder_tolerance_seconds
        # in time order, later ones (late) left out, as serve drops them
        tolerance = cfg.serve.windows.reorder_tolerance_seconds
        times = [table_times(t, tolerance) for t in tables]
        for t, ts in zip(tables, times, strict=True):
            for line in time_notes(t, ts, tolerance=tolerance):
                say(line)
        in_order = [without_late_rows(t, ts, tolerance)
                    for t, ts in zip(tables, times, strict=True)]
        tables = [t for t, _ in in_order]
        times = [None if ts is None else ts[k] for ts, (_, k) in zip(times, in_order, strict=True)]
        # counters: each file's first row only starts the increases (data/counters.py)
        counters = counter_columns(names, cfg.data.counters,
                                   f"the columns of {tables[0].path}",
                                   source_of("data.counters", args.config))
        lead = 1 if counters else 0
        starts_increases = (" (the first row of each file only starts the increases of "
                            "data.counters)" if lead else "")
        # A host that joined just before the export (or left early) is left out, as retrain
        # leaves out pieces too short, before its cells are filled or refused; one series
        # alone is refused by too_short below, as before.
        try:
            kept, left_out = leave_out_short([str(t.path) for t in tables],
                                             [max(len(t.values) - lead, 0) for t in tables],
                                             cfg.data.window)
        except DataError as err:
            raise DataError(f"{err}{starts_increases}") from None
        tables, times = [tables[i] for i in kept], [times[i] for i in kept]
        source = [source[i] for i in kept]
        # every file filled (or refused: a column with no value) before a note says so
        series = [apply_nan_policy(t, cfg.data.nan_policy) for t in tables]
        for t in tables:
            note = fill_note(t, cfg.data.nan_policy)
            if note is not None:
                say(note)
        for t, s in zip(tables, series, strict=True):
            for note in coarse_counter_notes(t, s, counters):
                say(note)
        series = [increases(s, counters, t.starts)
                  for s, t in zip(series, tables, strict=True)]
        times = [None if ts is None else ts[lead:] for ts in times]
        problem = too_short([len(s) for s in series], cfg.data.window,
                            cfg.data.validation_fraction)
        if problem is not None:  # before the import: one line at once
            i, why = problem
            where = tables[i].path if i is not None else ", ".join(str(t.path) for t in tables)
            shorter = (f" ({len(in_order) - len(tables)} shorter series left out)"
                       if left_out is not None else "")
            raise DataError(f"{where}: {why}{starts_increases}{shorter}")
        if left_out is not None:
            say(left_out)
        _tensorflow()
        det = train_detector(cfg, series, names, progress=say,
                             locate=lambda i, row, col: (f"{tables[i].path}: "
                                                         f"{tables[i].where(row + lead)}"
                                                         f", column {tables[i].column(col)}"))
        spans = [None if ts is None else _span(ts.tolist()) for ts in times]
        # the time trained on: a file whose series were all left out adds none
        _record_sources(det.metadata, [args.data[k] for k in sorted(set(source))],
                        [_span([t for i, s in enumerate(spans) if source[i] == k
                                for t in (s if s is not None else (None,))])
                         for k in sorted(set(source))])
    health = det.metadata.get("health", {})
    if health.get("status") != "healthy":
        _eprint(f"training ended unhealthy: {'; '.join(health.get('issues', [])) or health}")
        if not (args.allow_unhealthy or cfg.training.allow_unhealthy):
            _eprint("bundle NOT written (pass --allow-unhealthy to keep it anyway)")
            return EXIT_UNHEALTHY
    stop.check()
    # From here the command finishes: a signal while the bundle is written (renamed into
    # place at the end) or reported would leave a complete bundle with exit 130. A second
    # signal still raises at once.
    with stop.finishing():
        return _save_and_report(det, out, args, names, health)


def _span(times: Sequence[float | None]) -> tuple[float, float] | None:
    """First and last of a file's row times; None when a row has none (or there are none)."""
    if not times or any(t is None for t in times):
        return None
    known = [float(t) for t in times if t is not None]
    return min(known), max(known)


def _record_sources(metadata: dict[str, Any], paths: Sequence[str],
                    spans: Sequence[tuple[float, float] | None]) -> None:
    """The files a bundle was trained on, and the time they cover when every file's rows
    carry times, in its ``training_data`` (``models list`` shows them as DATA RANGE, as it
    shows a retrained version's).

    >>> meta: dict[str, Any] = {}
    >>> _record_sources(meta, ["a.csv", "b.csv"], [(0.0, 60.0), (120.0, 180.0)])
    >>> meta["training_data"]
    {'files': ['a.csv', 'b.csv'], 'from': '1970-01-01T00:00:00.000Z', 'to': '1970-01-01T00:03:00.000Z'}
    """
    from anomaly_gan.stream.alerts import iso_utc

    data = metadata.setdefault("training_data", {})
    data["files"] = [str(p) for p in paths]
    if spans and all(s is not None for s in spans):
        data["from"] = iso_utc(min(s[0] for s in spans if s is not None))
        data["to"] = iso_utc(max(s[1] for s in spans if s is not None))


def _save_and_report(det, out: Path, args: argparse.Namespace, names, health: dict) -> int:
    from anomaly_gan.artifacts import save_bundle

    path = save_bundle(det, out, overwrite=args.force)
    val = det.metadata["validation"]
    print(json.dumps({
        "bundle": str(path), "version": det.version, "kind": det.kind,
        "features": len(names), "window": det.window, "threshold": det.threshold,
        "threshold_method": det.calibration.threshold.method,
        "threshold_extrapolated": bool(det.calibration.threshold.details.get("extrapolated")),
        "train_seconds": det.metadata["duration_seconds"], "epochs": det.metadata["epochs_run"],
        "precision": det.metadata["precision"], "health": health.get("status"),
        "held_out_false_positive_rate": val["false_positive_rate"],
    }, indent=2))
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    progress = _scoring_progress("score", quiet=args.quiet)
    _check_output(args.out, "scores CSV", args)
    if args.alerts is not None:
        if args.alerts == STDOUT and args.out == STDOUT:
            raise DataError("--alerts -: --out - already writes the scores CSV to standard "
                            "output; give one of them a file")
        _check_output(args.alerts, "alerts file", args)
        if args.alerts != STDOUT and args.out != STDOUT \
                and Path(args.alerts).resolve() == Path(args.out).resolve():
            raise DataError(f"--alerts {args.alerts}: the same file as --out; expected "
                            f"another path")
        if args.nan_policy is not None:
            raise DataError(f"--nan-policy {args.nan_policy}: not with --alerts, which leaves "
                            f"out the rows with a missing cell as serve dead-letters such an "
                            f"event (serve fills nothing); expected no --nan-policy")
    from anomaly_gan.config import env_overrides

    given = _load_cfg(args.config) if args.config else None
    info = _inspect_model(args.model)
    serve = _serve_in_effect(info, args.config, given)
    # serve.alerts.silences_path, as serve reads it, where --config or the environment
    # sets it (not the bundle's: a path where it was trained)
    silences = None
    if args.alerts is not None and serve is not None and serve.alerts.silences_path and (
            given is not None or "serve.alerts.silences_path" in env_overrides().values()):
        from anomaly_gan.stream.silences import load_silences

        silences = load_silences(serve.alerts.silences_path)
    if "logs" in info.extras:
        if args.alerts is not None:
            raise DataError(f"--alerts: {args.model} is a logs model; score --alerts takes "
                            f"a metrics model (a logs model's alerts name log templates, "
                            f"which score does not rebuild)")
        _no_entity_for_logs(args)
        return _score_logs(args, info, progress)
    import numpy as np

    rows_read: list = []
    dead: list | None = [] if args.alerts is not None else None  # rows serve dead-letters
    table, values, kept = _read_for_model(args.data, info, args.nan_policy, args.entity,
                                          serve, rows_read, dead, progress=progress)
    progress.loading(table.rows)
    det = _load_model(info)
    res = det.score_series(values, progress)
    alerts = None
    silenced: list = []
    if args.alerts is not None:
        from anomaly_gan.data import table_times
        from anomaly_gan.files import file_entity
        from anomaly_gan.stream.offline import alerts_of_series

        s = serve if serve is not None else info.config.serve
        times = table_times(table, s.windows.reorder_tolerance_seconds)
        assert times is not None
        # the rows serve would window, before any increase, and their series' start times
        events, order, starts = rows_read[0]
        # CSV/Parquet: the file's name names the entity, as retrain --data names a segment
        alerts_entity = table.entity or file_entity(args.data)
        # the windows' scores from res: the model does not run over the file twice
        alerts = alerts_of_series(det, s, alerts_entity, times[order], events, res, silences,
                                  silenced, starts,
                                  None if table.evictions is None else table.evictions[order])
    from anomaly_gan.scoring import feature_values_text

    # The flagged rows only: one more model call per 4,096 of them.
    flagged_values = {j: feature_values_text(v)
                      for j, v in det.flagged_feature_values(values, res).items()}
    comps = list(res.components)
    key = "timestamp" if table.timestamps is not None else "index"
    rows = table.rows
    at = np.full(rows, -1)  # each table row's row in res; -1: late, left out (empty cells)
    at[kept] = np.arange(len(kept))

    def write(fh) -> None:
        w = csv.writer(fh)
        w.writerow([key, "score", "threshold", "is_anomaly", "severity", *comps, "top_features",
                    "feature_values"])
        stamps = iter(table.timestamps) if table.timestamps is not None else itertools.count()
        for j, stamp in zip(_each_int(at), stamps):
            if j < 0:
                w.writerow([stamp, "", _fmt(res.threshold), "", "", *[""] * len(comps), "", ""])
                continue
            scored = not math.isnan(res.score[j])
            w.writerow([
                stamp,
                _fmt(res.score[j]),
                _fmt(res.threshold),
                (1 if res.is_anomaly[j] else 0) if scored else "",
                _fmt(res.severity[j]),
                *[_fmt(res.components[c][j]) for c in comps],
                ";".join(res.top_features[j]),
                flagged_values.get(j, ""),
            ])

    outputs = [(args.out, write)]
    if alerts is not None:
        from anomaly_gan.stream.alerts import dumps

        def write_alerts(fh) -> None:
            for rec in alerts:
                fh.write(dumps(rec).decode("utf-8") + "\n")

        outputs.append((args.alerts, write_alerts))
    wrote = _write_outputs(outputs)
    where = wrote[0]
    flagged = int(res.is_anomaly.sum())
    windows = len(res) - det.window + 1
    first = 1 if det.config.data.counters else 0  # it only starts the counters' increases
    n_dead = len(dead or ())
    late = rows - len(kept) - first - n_dead
    notes = (f"; {late} late rows left out" if late else "") + (
        f"; {n_dead} rows left out as serve dead-letters them" if n_dead else "") + (
        "; the first row starts the increases of data.counters" if first else "")
    _eprint(f"scored {rows} rows ({windows} windows{notes}) with {det.version}: "
            f"{flagged} above threshold {det.threshold:.4g} -> {where}")
    if alerts is not None:
        where = wrote[1]
        firing = sum(rec["status"] == "firing" for rec in alerts)
        a = (serve if serve is not None else info.config.serve).alerts
        _eprint(f"alerts: {firing} firing, {len(alerts) - firing} resolved, as serve would "
                f"send them for entity {alerts_entity!r} (serve.alerts: consecutive "
                f"{a.consecutive}, cooldown_seconds {a.cooldown_seconds:g}, resolve_windows "
                f"{a.resolve_windows}"
                + (f"; {len(silenced)} silenced by the {len(silences)} silences of "
                   f"{a.silences_path}" if silences is not None else "")
                + f") -> {where}")
        assert times is not None  # --alerts needs a timestamp column (checked above)
        note = _cooldown_note(a, times[order], alerts)
        if note:
            _eprint(note)
    note = _alarm_storm_note(det, lambda: values, flagged, windows)
    if note:
        _eprint(note)
    return 0


def _cooldown_note(a, times, alerts: list) -> str | None:
    """``score --alerts``: a ``note:`` where ``serve.alerts.cooldown_seconds`` is no longer
    than the rows' median step and an ongoing run did alert again: then every anomalous
    window after the first ``consecutive`` alerts (the default 300 s on 5-minute rows, as
    Prometheus exports at a 5m step, sent 59 alerts for one 30-row incident)."""
    import numpy as np

    steps = np.diff(np.asarray(times, dtype=np.float64))
    steps = steps[steps > 0]
    repeats = sum(r["status"] == "firing" and r["consecutive_windows"] > a.consecutive
                  for r in alerts)
    if not repeats or not len(steps):
        return None
    step = float(np.median(steps))
    if a.cooldown_seconds > step:
        return None
    firing = sum(r["status"] == "firing" for r in alerts)
    return (f"note: serve.alerts.cooldown_seconds ({a.cooldown_seconds:g}) is not longer "
            f"than the rows' step ({step:g} s), so an entity that stays anomalous alerts "
            f"again on every window ({repeats} of the {firing} alerts repeat an ongoing "
            f"run); set it (score --config) to how often an ongoing incident should repeat")


def _note_sections_not_used(path: str | None, given, bundle) -> None:
    """Only the ``serve:`` section of ``score --config``'s file (at ``path``) or of the
    environment's overrides is used: a ``note:`` names the sections the file writes, then
    those only the environment sets, that would score otherwise than the bundle's (serve's
    config often holds a ``data:`` or ``model:`` section too), which are the bundle's, as
    trained. ``given``: the config loaded, with the environment's overrides."""
    from anomaly_gan.config import env_overrides, parse_yaml

    written = {} if path is None else (  # loaded: a mapping
        parse_yaml(Path(path).read_text(encoding="utf-8")) or {})
    variables: dict[str, list[str]] = {}
    for name, key in env_overrides().items():
        variables.setdefault(key.split(".")[0], []).append(name)
    scored = [name for name in ("model", "data", "scoring", "threshold", "logs")
              if getattr(given, name) != getattr(bundle, name)]

    def left_out(differ: list[str]) -> str:
        one = len(differ) == 1
        return (f"{', '.join(f'{name}:' for name in differ)} {'differs' if one else 'differ'} "
                f"from the model's and {'is' if one else 'are'} left out (the model scores "
                f"as trained)")

    in_file = [name for name in scored if name in written]
    if in_file:
        _eprint(f"note: --config {path}: only its serve: section is used; its "
                f"{left_out(in_file)}")
    by_env = [name for name in scored if name not in written and name in variables]
    if by_env:
        names = ", ".join(v for name in by_env for v in variables[name])
        _eprint(f"note: environment {names}: only serve: keys are used; {left_out(by_env)}")


#: ``score`` explains the share of windows over the threshold when it is at least this
#: large and :data:`ALARM_STORM_RATIO` times the held-out normal windows' share.
ALARM_STORM_SHARE = 0.05
ALARM_STORM_RATIO = 10.0


def _alarm_storm_note(det, values: Callable[[], Any], flagged: int, windows: int,
                      what: str = "windows", name: Callable[[str], str] = str) -> str | None:
    """A ``note:`` when far more ``what`` (windows, or a logs model's buckets) alarm than
    held-out normal windows did at training, naming the features whose values moved from the
    training baseline (PSI against the bundle's drift reference; ``name`` shows a feature,
    e.g. a template column as its text): most often the data moved, not a fault in every
    window, and the remedy is a newer baseline, not a higher threshold. ``values()`` gives
    the scored rows, asked for only when there is such a storm."""
    from anomaly_gan.data.scaling import EXTREME_SPREADS
    from anomaly_gan.scoring.drift import MOVED_PSI, moved_features

    expected = float((det.metadata.get("validation") or {}).get("false_positive_rate") or 0.0)
    share = flagged / windows if windows > 0 else 0.0
    if share < max(ALARM_STORM_SHARE, ALARM_STORM_RATIO * expected):
        return None
    rows = values()
    moved = moved_features(rows, det.metadata.get("reference"), det.feature_names)
    far = _far_out_readings(det, rows)
    if moved:
        shown = ", ".join(f"{name(feature)} {value:.2f}" for feature, value in moved[:3])
        more = f" and {len(moved) - 3} more" if len(moved) > 3 else ""
        # a running total that train noted (training_data.counter_features) moves on for
        # ever: a recent baseline would be passed just the same, data.counters is the remedy
        rising = set((det.metadata.get("training_data") or {}).get("counter_features") or ())
        totals = [feature for feature, _ in moved if feature in rising]
        why = f"the values moved from the training baseline (PSI against it: {shown}{more}); "
        if totals:
            why += (f"{', '.join(name(f) for f in totals)} only ever rose in the training rows, "
                    "like a running total, and will pass any baseline: list "
                    f"{'it' if len(totals) == 1 else 'them'} in data.counters and train again "
                    "(the model then reads the increase per row)")
        else:
            why += "if this is the new normal, train or retrain on a recent baseline"
    elif far:
        # a sentinel or two flags every window that holds one (W windows each) while the
        # values as a whole stay put: 'how the features move together' named no cause
        count, features = far
        why = (f"no feature's values moved from the training baseline (PSI under {MOVED_PSI} "
               f"each), but {count} reading(s) lie more than {EXTREME_SPREADS:g} times their "
               f"spread from their training centre ({', '.join(name(f) for f in features)}), "
               "and each flags every window that holds it: a sentinel or a unit error?")
    elif det.metadata.get("reference"):
        why = (f"no feature's values moved from the training baseline (PSI under {MOVED_PSI} "
               "each): the change is in how the features move together or over time")
    else:
        why = "the bundle has no drift reference to say which features moved"
    return (f"note: {flagged} of {windows} {what} ({share:.1%}) are over the threshold, "
            f"against {expected:.1%} of the held-out normal windows at training: {why}")


def _far_out_readings(det, rows: Any) -> tuple[int, list[str]] | None:
    """How many of ``rows`` lie more than ``EXTREME_SPREADS`` spreads from their feature's
    training centre, and those features (in model order); None when none does."""
    import numpy as np

    from anomaly_gan.data.scaling import EXTREME_SPREADS

    with np.errstate(over="ignore", invalid="ignore"):
        far = det.scaler.spreads(np.asarray(rows, dtype=np.float64)) > EXTREME_SPREADS
    if not far.any():
        return None
    return int(far.sum()), [det.feature_names[j] for j in np.flatnonzero(far.any(axis=0))]


def _score_logs(args: argparse.Namespace, info, progress: _Progress) -> int:
    """``score`` with a logs bundle: one output row per entity bucket."""
    from anomaly_gan.logs.offline import (
        LineTally,
        describe_templates,
        load_log_model,
        log_rows_to_score,
        read_for_log_model,
        score_log_rows,
        unit,
    )

    tally = LineTally()
    events, _ = read_for_log_model(info.config, args.data, progress=_eprint, tally=tally,
                                   reading=progress.reading(args.data))
    model = load_log_model(info)
    uncounted: Counter[str] = Counter()
    counted_rows = log_rows_to_score(info.config, model, events, progress=_eprint,
                                     source=args.data, stage=progress.stage, left_out=uncounted)
    partial = uncounted["partial_buckets"]
    n_lines, joined, skipped = len(events), tally.joined, sum(tally.skipped.values())
    # The events (a million lines: about 280 MB) were held through TensorFlow's import and
    # the scoring until 2026-12-06, as train's were, for their number alone; the tally's
    # position of each line, made among them, would keep their memory as well.
    del events, tally
    det = _load_model(info)
    results = score_log_rows(det, model, counted_rows)
    comps = list(det.calibration.component_stats)

    def write(fh) -> None:
        w = csv.writer(fh)
        w.writerow(["entity", "bucket_start", "bucket_end", "lines", "score", "threshold",
                    "is_anomaly", "severity", *comps, "templates"])
        for run in results:
            res = run.scores
            for i, row in enumerate(run.rows):
                cells: list = [""] * (3 + len(comps))  # before the first full window
                if res is not None and not math.isnan(res.score[i]):
                    cells = [_fmt(res.score[i]), 1 if res.is_anomaly[i] else 0,
                             _fmt(res.severity[i]), *[_fmt(res.components[c][i]) for c in comps]]
                w.writerow([run.entity, f"{row.start_ts:.3f}", f"{row.end_ts:.3f}", row.lines,
                            cells[0], _fmt(det.threshold), *cells[1:],
                            describe_templates(run.explanations[i])])

    buckets = sum(len(r.rows) for r in results)
    counted = sum(row.lines for r in results for row in r.rows)
    where = _write_scores(args.out, write)
    scored = sum(math.isfinite(v) for r in results if r.scores is not None for v in r.scores.score)
    flagged = sum(int(r.scores.is_anomaly.sum()) for r in results if r.scores is not None)
    unscored = (f", {buckets - scored} before a full window of {det.window}"
                if scored < buckets else "")
    # per N lines the entities' partial last buckets are left out (count_series' note)
    # (each entity's last, and since 2026-12-07 those a silence past logs.gap_seconds cut)
    unfilled = (f", {partial} in partial buckets left out" if partial else "")
    dropped = (f", {n_lines - counted - partial} dropped" if counted + partial < n_lines
               else "")
    joined_to = (f", with {joined} continuation line{'s' if joined > 1 else ''} "
                 f"joined to them" if joined else "")
    left_out = f", {skipped} more left out as logs.bad_lines" if skipped else ""
    _eprint(f"scored {scored} of {buckets} buckets{unscored} ({counted} of {n_lines} "
            f"{unit(info.config.logs)}{unfilled}{dropped}{joined_to}{left_out}) with {det.version}: {flagged} buckets above "
            f"threshold {det.threshold:.4g} -> {where}")
    rows = [row for r in results if r.scores is not None for row in r.rows]
    if rows:  # the rows' features again, only where a storm is to be explained
        note = _alarm_storm_note(det, lambda: model.features(rows), flagged, scored,
                                 "buckets", model.column_text)
        if note:
            _eprint(note)
    return 0


def _print_metrics(m: dict) -> None:
    def f(x):
        return "n/a" if x is None else f"{x:.4f}"

    print(f"rows {m['rows']}  anomalous {m['anomalous_rows']}  unscored (warm-up) {m['unscored_rows']}")
    if m.get("anomalous_unscored_rows"):
        print(f"({m['anomalous_unscored_rows']} of the {m['anomalous_rows']} anomalous rows are in "
              f"the warm-up, before the first full window of data.window rows: no score can "
              f"flag them and they count as missed; start the data a window before the "
              f"incident)")
    if "counters_first_row" in m:
        first = m["counters_first_row"]
        print(f"(not in rows: the first row, {first['where']}, only starts the increases of "
              f"data.counters and is not scored"
              + (f"; its label {first['label']} (anomalous) is not counted)" if first["label"]
                 else ")"))
    print(f"AUC-ROC {f(m['auc_roc'])}   AUC-PR {f(m['auc_pr'])}   best F1 {f(m['best_f1'])}  (point-wise)")
    if "f1" in m:
        print(f"at calibrated threshold {m['threshold']:.4f}: F1 {f(m['f1'])}  precision "
              f"{f(m['precision'])}  recall {f(m['recall'])}  flagged {m['flagged_rows']}")
        print(f"point-adjusted F1 (inflated, for comparison only): {f(m['point_adjusted_f1'])}")
    for why in dict.fromkeys(m.get("undefined", {}).values()):  # each reason once
        print(f"(n/a: {why})")


def cmd_evaluate(args: argparse.Namespace) -> int:
    progress = _scoring_progress("evaluate", quiet=args.quiet)
    from anomaly_gan.data import read_labels
    from anomaly_gan.evaluate import evaluate_scores

    if args.plot:
        _check_output(args.plot, "figure", args, figure=True)
    info = _inspect_model(args.model)
    serve = _serve_in_effect(info)
    read_by = info.config.serve if serve is None else serve
    if "logs" in info.extras:  # labels: one per line; a bucket with a labelled line is anomalous
        _no_entity_for_logs(args)
        from anomaly_gan.logs.offline import (
            bucket_labels_and_scores,
            load_log_model,
            log_rows_to_score,
            read_for_log_model,
            score_log_rows,
        )

        if args.plot:
            raise DataError("evaluate --plot: not available for a logs model")
        events, marks = read_for_log_model(info.config, args.data, args.labels, _eprint,
                                           reading=progress.reading(args.data))
        model = load_log_model(info)
        counted_rows = log_rows_to_score(info.config, model, events, marks, _eprint,
                                         args.data, progress.stage)
        del events, marks  # before TensorFlow loads, as in score
        det = _load_model(info)
        labels, scores = bucket_labels_and_scores(score_log_rows(det, model, counted_rows))
        metrics = evaluate_scores(scores, labels, det.threshold)
        metrics["model_version"] = det.version
        if args.json:
            print(json.dumps(metrics, indent=2))
        else:
            _print_metrics(metrics)
        return 0
    started: list[int] = []
    table, values, kept = _read_for_model(args.data, info, args.nan_policy, args.entity,
                                          serve, started_out=started, progress=progress)
    every_label = read_labels(args.labels, per=_label_row(table), data=table)
    labels = every_label[kept]
    progress.loading(table.rows)
    det = _load_model(info)
    res = det.score_series(values, progress)
    metrics = evaluate_scores(res.score, labels, det.threshold)
    metrics["model_version"] = det.version
    for i in started:  # not scored: its label is in neither rows nor anomalous_rows
        metrics["counters_first_row"] = {"where": table.where(i), "label": int(every_label[i])}
    if args.plot:
        from anomaly_gan.plot import plot_scores

        plot_scores(values, det.feature_names, res, args.plot, labels,
                    title=f"{_series_name(args.data, table)} - {det.version}",
                    times=_row_times(table, kept, read_by),
                    counters=det.counters)
        _eprint(f"wrote {args.plot}")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        _print_metrics(metrics)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from anomaly_gan.data import read_labels
    from anomaly_gan.plot import plot_scores

    progress = _scoring_progress("plot", quiet=args.quiet)
    _check_output(args.out, "figure", args, figure=True)
    info = _inspect_model(args.model)
    serve = _serve_in_effect(info)
    read_by = info.config.serve if serve is None else serve
    if "logs" in info.extras:
        raise DataError(f"plot: {args.model} is a logs model; plot takes numeric rows "
                        f"(see score's per-bucket CSV for logs)")
    table, values, kept = _read_for_model(args.data, info, args.nan_policy, args.entity,
                                          serve, progress=progress)
    labels = (read_labels(args.labels, per=_label_row(table), data=table)[kept]
              if args.labels else None)
    progress.loading(table.rows)
    det = _load_model(info)
    res = det.score_series(values, progress)
    plot_scores(values, det.feature_names, res, args.out, labels,
                title=f"{_series_name(args.data, table)} - {det.version}",
                times=_row_times(table, kept, read_by),
                counters=det.counters)
    _eprint(f"wrote {args.out}")
    return 0


def cmd_offline_demo(args: argparse.Namespace) -> int:
    from anomaly_gan.demo.common import check_seed, note_environment_not_used
    from anomaly_gan.demo.offline import run_offline_demo

    check_seed(args.seed, "offline-demo")
    note_environment_not_used("offline-demo")
    _tensorflow()
    return run_offline_demo(args.out, seed=args.seed)


# --------------------------------------------------------------------------- parser


def _add_nan_policy(p: argparse.ArgumentParser) -> None:
    from anomaly_gan.config import NAN_POLICIES

    p.add_argument("--nan-policy", choices=NAN_POLICIES,
                   help="missing or non-finite cells of a CSV/Parquet --data: reject (one "
                        "line naming the first), ffill (the last value before) or zero; "
                        "default: the model's data.nan_policy (log files have no cells)")


def _add_entity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--entity", metavar="NAME",
                   help="of an OpenTelemetry metric file (serve.event_format otlp_proto or "
                        "otlp_json) of several entities, the one to read (its "
                        "serve.otlp_entity value, e.g. a host.name); not for a CSV/Parquet or "
                        "log file")


def _add_quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines on stderr (rows read, windows scored, every "
                        f"{PROGRESS_SECONDS:g}s on a long file); notes and the summary line "
                        "stay")


def _no_entity_for_logs(args: argparse.Namespace) -> None:
    if getattr(args, "entity", None) is not None:
        raise DataError(f"--entity {args.entity}: {args.model} is a logs model, whose score "
                        f"reads every entity of a log file; --entity picks one entity of an "
                        f"OpenTelemetry metric file")


# The attribute by which the innermost parser left with unknown arguments names itself.
_REFUSED_BY = "_anomaly_gan_refused_by"


class _Parser(argparse.ArgumentParser):
    """argparse's parser, whose usage errors are one line on stderr (exit 2) like every other
    refusal of bad input, naming ``--help`` where argparse printed the usage block above it
    (its subcommands' parsers are of this class too: ``add_subparsers`` uses the parent's)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                         namespace: argparse.Namespace | None = None,
                         ) -> tuple[argparse.Namespace, list[str]]:
        parsed, extras = super().parse_known_args(args, namespace)
        if extras and not hasattr(parsed, _REFUSED_BY):  # the innermost subcommand's
            setattr(parsed, _REFUSED_BY, self)
        return parsed, extras

    def parse_args(self, args: Sequence[str] | None = None,  # type: ignore[override]
                   namespace: argparse.Namespace | None = None) -> argparse.Namespace:
        """As argparse's, but an option no parser knows is refused by the subcommand it came
        after: argparse left it to the top parser, whose line sent ``train --epochs 5`` to
        ``anomaly-gan --help``, which lists no option of ``train``."""
        parsed, extras = self.parse_known_args(args, namespace)
        refused_by = vars(parsed).pop(_REFUSED_BY, self)
        if extras:
            refused_by.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="anomaly-gan",
        description="Train GAN anomaly detectors on normal data; score files and Kafka streams.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"anomaly-gan {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("validate-config", help="check a YAML config file",
                       description="Validate a config file (and ANOMALY_GAN__* overrides). "
                                   "Exit codes: 0 valid; 2 not (one line naming the key).")
    p.add_argument("file", help="YAML config file to check")
    p.set_defaults(func=cmd_validate_config)

    p = sub.add_parser("train", help="train a model bundle on normal data",
                       description="Train on normal data and write a model bundle. The result "
                                   "summary (JSON) goes to stdout, one progress line per epoch "
                                   "and notes to stderr. Exit codes: 0 written (an unhealthy "
                                   "run too with --allow-unhealthy); 2 bad input: config, "
                                   "data or output path (one line on stderr, no traceback); "
                                   "3 training ended unhealthy (no bundle unless "
                                   "--allow-unhealthy) or with non-finite networks (never a "
                                   "bundle); 130 interrupted (Ctrl-C or SIGTERM; nothing "
                                   "left behind).")
    p.add_argument("--config", help="YAML config (default: the shipped defaults; for a file "
                                     "of log lines, the logs defaults of configs/logs.yaml, "
                                     "its layout recognised: logs.format auto)")
    p.add_argument("--data", required=True, nargs="+", help="CSV/Parquet file(s) of normal rows "
                   "(OpenTelemetry metric files of the Collector's file exporter with an OTLP "
                   "serve.event_format: one series per entity), or log files (with a logs "
                   "config, or none); several files are separate series "
                   "(windows never span two)")
    p.add_argument("--out", required=True,
                   help="bundle directory to create, with any missing parent directories "
                        "(the nearest existing one must be writable)")
    p.add_argument("--force", action="store_true",
                   help="replace an existing bundle directory (never a directory that is not "
                        "a bundle)")
    p.add_argument("--allow-unhealthy", action="store_true",
                   help="write the bundle even if GAN training ended unhealthy")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines on stderr, only warnings (notes on the data or the "
                        "threshold, retried attempts)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("score", help="score a file: one output row per input row",
                       description="Score a file with a model bundle and write the scores CSV "
                                   "to --out (one row per input row, per bucket for a logs "
                                   "model; rows before the first full window have empty score "
                                   "cells) and, with --alerts, the alert records serve would "
                                   "send. The summary line (rows, windows, how many over the "
                                   "threshold, rows left out) and notes go to stderr, so --out "
                                   "- writes only the CSV to stdout. Exit codes: 0 scored "
                                   "(however many rows are over the threshold); "
                                   "2 bad input: config, data, model bundle or output path "
                                   "(one line on stderr, no traceback); 130 interrupted "
                                   "(Ctrl-C or SIGTERM; no output file changed).")
    p.add_argument("--model", required=True, help="bundle directory or store with a 'current' file")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet file to score, with the model's feature columns (by name "
                        "with a header, by count without); an OpenTelemetry metric file "
                        "with an OTLP serve.event_format; a log file for a logs model")
    p.add_argument("--out", required=True,
                   help="scores CSV to write (replaced atomically; never the --data file nor "
                        "a path inside --model); - for standard output")
    p.add_argument("--alerts", metavar="PATH",
                   help="also write, as JSON lines, the alert (and, with "
                        "serve.alerts.resolve_windows, resolution) records serve would send "
                        "for this file (replaced atomically; - for standard output when --out "
                        "is a file); the entity is an OpenTelemetry file's, else the file's "
                        "stem; rows with a missing cell are left out, as serve dead-letters "
                        "such an event (not with --nan-policy); needs timestamps and a "
                        "metrics model")
    p.add_argument("--config",
                   help="serve's YAML config: its serve: section (alerts, windows, event "
                        "format) stands for the bundle's, e.g. to tune serve.alerts offline; "
                        "its other sections are not used (a note names those that differ "
                        "from the model's); ANOMALY_GAN__SERVE__* variables override it, or "
                        "the bundle's without --config")
    _add_nan_policy(p)
    _add_entity(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("evaluate", help="point-wise AUC-ROC, AUC-PR, F1 against labels",
                       description="Score a file with a model bundle and compare the scores "
                                   "with one label per row: point-wise AUC-ROC, AUC-PR and best "
                                   "F1, and F1, precision and recall at the calibrated "
                                   "threshold, to stdout (text, or JSON with --json); with "
                                   "--plot, also the figure. Notes and 'wrote PATH' go to "
                                   "stderr. Exit codes: 0 evaluated (whatever the scores); "
                                   "2 bad input: data, labels, model bundle or output path "
                                   "(one line on stderr, no traceback); "
                                   "130 interrupted (Ctrl-C or SIGTERM).")
    p.add_argument("--model", required=True, help="bundle directory or store with a 'current' file")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet file to score; an OpenTelemetry metric file with an OTLP "
                        "serve.event_format; a log file for a logs model")
    p.add_argument("--labels", required=True,
                   help="one 0/1 or true/false per data row (per non-empty line of a log "
                        "file, per message of an OTLP format: proto file); a timestamp "
                        "column, if it has one, must give the data rows' times")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", help="also write the figure to this file; its extension picks "
                   "the format (.png, .pdf, .svg, ...)")
    _add_nan_policy(p)
    _add_entity(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("plot", help="figure: top features, score vs threshold, labels",
                       description="Score a file with a model bundle and draw it to --out: "
                                   "the top features, the score against the threshold and, "
                                   "with --labels, the labelled spans (a metrics model only). "
                                   "'wrote PATH' and notes go to stderr, nothing to stdout. "
                                   "Exit codes: 0 written; 2 bad input: data, labels, model "
                                   "bundle (a logs model too) or output path (one line on "
                                   "stderr, no traceback); 130 interrupted (Ctrl-C or "
                                   "SIGTERM).")
    p.add_argument("--model", required=True, help="bundle directory or store with a 'current' file")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet file to score and draw; an OpenTelemetry metric file with "
                        "an OTLP serve.event_format")
    p.add_argument("--labels", help="optional 0/1 or true/false per data row, drawn as shaded "
                   "spans (a timestamp column, if it has one, must give the data rows' times)")
    p.add_argument("--out", required=True, help="figure to write (replaced atomically); its "
                   "extension picks the format (.png, .pdf, .svg, ...)")
    _add_nan_policy(p)
    _add_entity(p)
    _add_quiet(p)
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("offline-demo", help="synthetic plant: train, score, evaluate (no Kafka)",
                       description="Train on the normal first half of a synthetic plant (4 "
                                   "pumps), score the rest and print per-pump AUC-ROC, AUC-PR, "
                                   "F1 and the incidents found to stdout; progress to stderr. "
                                   "Exit codes: 0 done; 2 bad --seed or output path (one "
                                   "line, no traceback); 3 training ended with non-finite "
                                   "networks (no bundle; an unhealthy one is written and "
                                   "evaluated, its health printed); 130 interrupted (Ctrl-C or "
                                   "SIGTERM).")
    p.add_argument("--out", default="out/offline-demo",
                   help="output directory: the bundle is written to OUT/model (default "
                        "out/offline-demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic plant (default 0)")
    p.set_defaults(func=cmd_offline_demo)

    from anomaly_gan.stream import commands as stream_commands

    stream_commands.register(sub)
    from anomaly_gan.retrain import commands as retrain_commands

    retrain_commands.register(sub)
    return parser


def _json_logging() -> bool:
    """True once ``serve`` has set up JSON logs: its last words must be JSON too. Nothing is
    imported here: after a Ctrl-C that cut an import short (PyYAML's, while the parser is
    built), importing the serve modules again failed on the half-imported one, and the last
    words were an ``AttributeError`` traceback."""
    logs = sys.modules.get("anomaly_gan.stream.logs")
    formatter = getattr(logs, "JsonFormatter", None)  # not imported: serve set up no logs
    return formatter is not None and any(
        isinstance(h.formatter, formatter) for h in logging.getLogger("anomaly_gan").handlers)


def _last_words(msg: str, exit_code: int, exc_info: bool = False) -> int:
    """The final line: plain on stderr, or a JSON log line once ``serve`` logs JSON."""
    if _json_logging():
        logging.getLogger("anomaly_gan.cli").log(
            logging.CRITICAL if exc_info else logging.ERROR, msg, exc_info=exc_info,
            extra={"fields": {"exit_code": exit_code}})
    else:
        _eprint(msg)
    return exit_code


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. Ctrl-C and SIGTERM raise :class:`KeyboardInterrupt` from the start
    (:class:`Interrupts`; a command that defers them installs its own over these): exit 130
    with one line. Until 2026-12-07 SIGTERM ended ``score``, ``evaluate`` and ``plot`` by the
    signal (143), leaving the half-written temporary file of an output beside it, and any
    command while its parser was built (0.3 s: most of a ``models rollback``), where a
    Ctrl-C printed a ``KeyboardInterrupt`` traceback."""
    _quiet_tensorflow()
    with Interrupts().installed():
        return _main(argv)


def _main(argv: Sequence[str] | None) -> int:
    stdout = sys.stdout
    try:
        args = build_parser().parse_args(argv)
        if stdout is not None:
            sys.stdout = _CheckedStdout(stdout)  # type: ignore[assignment]
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # here, where a reader gone away is caught below, not at exit
        return code
    except TrainingHealthError as exc:
        return _last_words(f"anomaly-gan: training ended unhealthy: {exc}", EXIT_UNHEALTHY)
    except _StdoutError as exc:
        # what it still buffers would fail again, with a traceback, in the flush at exit
        with contextlib.suppress(OSError, ValueError):  # no descriptor (pytest's capture)
            _quiet_stdout()
        return _last_words(f"anomaly-gan: error: {exc}", EXIT_BAD_INPUT)
    except AnomalyGanError as exc:
        return _last_words(f"anomaly-gan: error: {exc}", EXIT_BAD_INPUT)
    except KeyboardInterrupt as exc:
        with contextlib.suppress(Exception):  # ctypes' pythonapi is CPython's
            forget_unhandled_interrupt()
        code = _last_words("anomaly-gan: interrupted", EXIT_INTERRUPTED)
        if raised_inside_jax(exc):  # a compilation may run on: exiting normally crashes
            end_now(code)
        return code
    except BrokenPipeError:  # stdout's reader stopped early (`models list | head -1`)
        _quiet_stdout()
        return 0
    except Exception:  # a bug: re-raised with its traceback, unless logs are JSON
        if not _json_logging():
            raise
        return _last_words("anomaly-gan: unexpected error", EXIT_ERROR, exc_info=True)
    finally:
        sys.stdout = stdout


def console(argv: Sequence[str] | None = None) -> int:
    """The ``anomaly-gan`` command: :func:`main`, after which a SIGTERM or Ctrl-C is ignored.
    The command has ended and its exit code is set, but the interpreter's exit (TensorFlow's
    teardown) takes about a second more, with Python's default handlers back: a SIGTERM then
    ended the process with 143 after a ``retrain`` had promoted its version and printed its
    report (a Kubernetes Job counts that as failed, and retries it). A process stuck in that
    teardown is still ended by SIGKILL (the kubelet's, after the grace period)."""
    code = main(argv)
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(console())
