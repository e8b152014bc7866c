"""What ``serve`` would send to its alert topic for a file: ``score --alerts``.

The file's rows go through the code ``serve`` runs on the same events: the per-entity
windows (:class:`~anomaly_gan.stream.state.WindowState`: gaps restart a window,
``serve.windows.hop``, the increases of ``data.counters``), the model's window scores, the
:class:`~anomaly_gan.stream.alerts.Debouncer` (``serve.alerts``) and the same record
builders (:func:`~anomaly_gan.stream.alerts.alert_records`), so the records equal the
streamed ones for the same events; ``silences`` (``serve.alerts.silences_path``, read by the
caller) keep back the same alerts as in ``serve``. A row ``serve`` would dead-letter as an
event (a missing cell: :func:`dead_letters`) is left out of the windows, as ``serve`` leaves
it out. No Kafka, no clock, no metrics.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from anomaly_gan.config import ServeConfig
from anomaly_gan.stream.alerts import Debouncer, alert_records, debounce
from anomaly_gan.stream.events import InvalidEvent, non_finite
from anomaly_gan.stream.silences import Silences
from anomaly_gan.stream.state import WindowBatch, WindowState

__all__ = ["alerts_of_series", "dead_letters"]

#: Windows scored per model call (serve's batches are smaller; the records do not depend on
#: where a batch ends).
BATCH = 4096


def dead_letters(rows: np.ndarray) -> list[tuple[int, InvalidEvent]]:
    """The rows of ``rows`` (T, F: a file's values in the model's feature order) that
    ``serve`` would send to the dead-letter topic as events, each with the reason and detail
    it would send: (row index, :class:`~anomaly_gan.stream.events.InvalidEvent`). A missing
    cell (NaN) or an infinite one is ``non_finite``, by the check ``serve``'s parser runs on
    an event's values (:func:`~anomaly_gan.stream.events.non_finite`); ``serve`` applies no
    ``data.nan_policy``: such an event never reaches its entity's window.

    >>> [(i, bad.reason) for i, bad in dead_letters(np.array([[1.0, 2.0], [np.nan, 2.0],
    ...                                                       [1.0, np.inf]]))]
    [(1, 'non_finite'), (2, 'non_finite')]
    """
    out = []
    for i, row in enumerate(np.asarray(rows, dtype=np.float64).tolist()):
        bad = non_finite(row)
        if bad is not None:
            out.append((i, bad))
    return out


def alerts_of_series(det: Any, serve: ServeConfig, entity: str, times: np.ndarray,
                     rows: np.ndarray, series: Any = None, silences: Silences | None = None,
                     silenced: list[Any] | None = None, starts: np.ndarray | None = None,
                     evictions: np.ndarray | None = None) -> list[dict[str, Any]]:
    """The alert and resolution records, in the order ``serve`` sends them, for the events
    of one ``entity``: ``rows`` (T, F), the model's features before any increase of
    ``data.counters``, stamped ``times`` (epoch seconds), in the order ``serve`` windows
    them (late rows and :func:`dead_letters` already left out:
    ``data.windows.release_order``). The alerts that
    ``silences`` keep back are appended to ``silenced`` (window end, silence) when given.

    ``series``: the model's scores of the same rows as ``det.score_series`` gives them (of
    their increases with ``data.counters``: one row fewer), as ``score`` has computed them.
    A window ``serve`` scores is always the series' window that ends at its last event (a
    gap or a hop only leaves windows out, and the increases restart with the window), so
    its scores are taken from there instead of running the model over every window again.
    ``starts`` (T, F): the rows' series start times (an OTLP metric file's, NaN where none:
    :attr:`~anomaly_gan.data.readers.Table.starts`), pushed with them as ``serve`` gets them.
    ``evictions`` (T,): per row, how many times ``serve`` evicted the entity before it
    (:attr:`~anomaly_gan.data.readers.Table.evictions`; the rows it held for reordering
    then already left out: :func:`~anomaly_gan.data.windows.release_order`): where it goes
    up the entity is evicted as there (:meth:`~anomaly_gan.stream.state.WindowState.evict`):
    its window starts afresh and its debounce state goes once the windows before are
    decided, as ``serve``'s ``Scorer`` forgets it.
    """
    w, a = serve.windows, serve.alerts
    n_features = len(det.feature_names)
    batch = WindowBatch(det.window, n_features, capacity=BATCH)
    state = WindowState(det.window, n_features, gap_seconds=w.gap_seconds, max_entities=1,
                        hop=w.hop, counters=det.counters,
                        on_drop=lambda gone: batch.forgets.append((len(batch), gone)))
    debouncer = Debouncer(a.consecutive, a.cooldown_seconds, a.resolve_windows)
    out: list[dict[str, Any]] = []
    lead = 0 if series is None else len(rows) - len(series)  # 1 with data.counters

    def publish() -> None:
        if series is None:
            res = det.score_windows(batch.windows())
        else:  # the window ending at event i is the series' row i - lead
            res = series.take(np.asarray(batch.offsets, dtype=np.intp) - lead)
        fired, resolved, muted, _ = debounce(debouncer, batch.entities, batch.end_ts,
                                             res.is_anomaly.tolist(), det.version, silences,
                                             batch.repeat, forgets=batch.forgets)
        if silenced is not None:
            silenced.extend((batch.end_ts[i], s) for i, s in muted)
        values = det.feature_values(batch.windows()[[i for i, _, _ in fired]],
                                    [res.top_features[i] for i, _, _ in fired]) if fired else []
        out.extend(alert_records(fired=fired, resolved=resolved, entities=batch.entities,
                                 starts=batch.start_ts, ends=batch.end_ts, res=res,
                                 feature_values=values, model_version=det.version,
                                 model_kind=det.kind, normal_windows=debouncer.resolve,
                                 repeat=batch.repeat))
        batch.clear()

    evicted = None if evictions is None else np.asarray(evictions).tolist()
    for i, (ts, row) in enumerate(zip(np.asarray(times, dtype=np.float64).tolist(),
                                      np.asarray(rows, dtype=np.float64).tolist(), strict=True)):
        if evicted is not None and i and evicted[i] != evicted[i - 1]:
            state.evict(entity)
        began = None
        if starts is not None:
            began = {j: float(t) for j, t in enumerate(starts[i]) if not math.isnan(t)} or None
        state.push(entity, ts, row, None, i, batch, None, began)
        if len(batch) >= BATCH:
            publish()
    if len(batch):
        publish()
    return out
