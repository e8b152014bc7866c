"""One figure a person can read at a glance: the top features, the score against the
threshold, flagged points and labelled segments."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from anomaly_gan.detector import SeriesScores
from anomaly_gan.errors import OutputError, clip
from anomaly_gan.evaluate import segments
from anomaly_gan.files import atomic_write_bytes

__all__ = ["figure_format", "lone_points", "plot_scores", "row_time_label", "score_axis"]


def figure_format(path: str | os.PathLike[str]) -> str:
    """The format a figure at ``path`` is written in, from its extension (any case), or an
    :class:`OutputError` listing the formats matplotlib can write. Checked before scoring,
    so that a typo costs a second, not a scoring run.

    >>> figure_format("fig.PNG")
    'png'
    >>> figure_format("fig")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    anomaly_gan.errors.OutputError: fig: no file extension to choose the figure format; ...
    """
    from matplotlib.backend_bases import FigureCanvasBase

    formats = sorted(FigureCanvasBase.get_supported_filetypes())
    ext = Path(path).suffix[1:].lower()
    if ext == "pgf":
        # matplotlib runs a TeX engine to measure the text of a pgf figure: without one it
        # failed only after scoring.
        import matplotlib

        tex = str(matplotlib.rcParams["pgf.texsystem"])
        if shutil.which(tex) is None:
            raise OutputError(f"{path}: the pgf format needs {tex} (matplotlib's "
                              f"pgf.texsystem), which is not on PATH; use .pdf or .svg")
    if ext in formats:
        return ext
    problem = (f"figure format {ext!r} is not supported" if ext else
               "no file extension to choose the figure format")
    raise OutputError(f"{path}: {problem}; end the name with .png, .pdf or .svg "
                      f"(supported: {', '.join(formats)})")


def score_axis(score: np.ndarray, threshold: float
               ) -> tuple[np.ndarray, tuple[float, float] | None]:
    """The scores as drawn, and the score axis' limits (``None``: no finite score).

    The axis spans the finite scores up to 1.5 times their 99.9th percentile or the
    threshold, whichever is higher. A score of +inf (a window the network could not
    compute, see ``Detector.score_windows``) is drawn at the top edge, not left out as a
    gap.

    >>> drawn, limits = score_axis(np.array([np.nan, 1.0, np.inf, 2.0]), threshold=3.0)
    >>> drawn.tolist(), limits
    ([nan, 1.0, 4.5, 2.0], (-0.5, 4.5))
    """
    score = np.asarray(score, dtype=np.float64)
    finite = score[np.isfinite(score)]
    if finite.size:
        hi = float(max(np.quantile(finite, 0.999), threshold) * 1.5)
        limits: tuple[float, float] | None = (float(min(finite.min(), 0) - 0.5), hi)
    else:
        hi, limits = float(max(threshold, 1.0) * 1.5), None
    return np.where(np.isposinf(score), hi, score), limits


def lone_points(drawn: np.ndarray) -> np.ndarray:
    """Indices of the scores with no score beside them (NaN on both sides, or the ends):
    a line draws nothing there, so they are drawn as points (a file of exactly one window
    has one score, after the rows before its first window).

    >>> lone_points(np.array([np.nan, np.nan, 1.0])).tolist()
    [2]
    >>> lone_points(np.array([1.0, np.nan, 2.0, 3.0])).tolist()
    [0]
    """
    ok = ~np.isnan(drawn)
    before = np.concatenate([[False], ok[:-1]])
    after = np.concatenate([ok[1:], [False]])
    return np.flatnonzero(ok & ~before & ~after)


def row_time_label(times: np.ndarray) -> Callable[[float, object], str]:
    """Tick labels for a row axis: the UTC time of the nearest row (``times``: epoch seconds
    of each row), with the date where the rows span more than a day.

    >>> label = row_time_label(np.array([1793750400.0, 1793750460.0, 1793750520.0]))
    >>> label(1.2, None), label(-5.0, None), label(9.0, None)
    ('00:01', '', '')
    >>> row_time_label(np.array([0.0, 86400.0 * 2]))(1.0, None)
    '01-03 00:00'
    """
    from datetime import UTC, datetime

    fmt = "%m-%d %H:%M" if times.size and times[-1] - times[0] > 86400.0 else "%H:%M"

    def label(x: float, _pos: object) -> str:
        i = round(float(x))
        if not 0 <= i < times.size or not np.isfinite(times[i]):
            return ""
        return datetime.fromtimestamp(float(times[i]), tz=UTC).strftime(fmt)

    return label


def plot_scores(values: np.ndarray, feature_names: Sequence[str], scores: SeriesScores,
                out: str | os.PathLike[str], labels: np.ndarray | None = None,
                title: str = "", max_features: int = 4,
                times: np.ndarray | None = None, counters: Sequence[int] = ()) -> None:
    """Draw the figure and write it to ``out`` atomically (a failure leaves any earlier
    figure there as it was), in the format its extension names (see :func:`figure_format`).
    With ``times`` (epoch seconds of each row) the axis shows the rows' UTC times. The
    columns ``counters`` (``data.counters``) hold increases: their legend says so."""
    fmt = figure_format(out)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = Counter(f for row, flag in zip(scores.top_features, scores.is_anomaly) if flag for f in row)
    if not counts:
        counts = Counter(f for row in scores.top_features for f in row[:1])
    shown = [f for f, _ in counts.most_common(max_features)] or list(feature_names[:max_features])
    x = np.arange(len(scores.score))
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(14, 6.5), sharex=True,
                                   gridspec_kw={"height_ratios": [3, 2]})
    lines, names = [], []
    for name in shown:
        j = list(feature_names).index(name)
        col = values[:, j]
        span = np.ptp(col) or 1.0
        lines += ax1.plot(x, (col - col.min()) / span, lw=0.8)
        names.append(f"{name} increase" if j in counters else name)
    ax1.set_ylabel("feature (min-max)")
    # The names as written: given by label=, matplotlib left a name starting with '_' (an
    # InfluxDB export's '_value') out of the legend, and typeset one with two '$' as math
    legend = ax1.legend(lines, names, loc="upper left", fontsize=8, ncol=len(shown),
                        title="top features")
    for text in legend.get_texts():
        text.set_parse_math(False)
    drawn, limits = score_axis(scores.score, scores.threshold)
    ax2.plot(x, drawn, lw=0.8, color="black", label="score")
    alone = lone_points(drawn)
    if alone.size:  # a line needs two points: a lone score (one window) was drawn as nothing
        ax2.scatter(alone, drawn[alone], s=6, color="black", zorder=3)
    ax2.axhline(scores.threshold, color="red", ls="--", lw=1, label=f"threshold {scores.threshold:.4g}")
    flagged = np.flatnonzero(scores.is_anomaly)
    ax2.scatter(flagged, drawn[flagged], s=6, color="red", label="flagged", zorder=3)
    beyond = np.flatnonzero(np.isposinf(scores.score))
    if beyond.size:
        ax2.scatter(beyond, drawn[beyond], s=24, marker="^", color="purple", zorder=4,
                    clip_on=False, label="score inf (reading past float32)")
    if labels is not None:
        for i, (a, b) in enumerate(segments(labels)):
            for ax in (ax1, ax2):
                ax.axvspan(a, b, color="orange", alpha=0.25, label="labelled anomaly" if i == 0 and ax is ax2 else None)
    if limits is not None:
        ax2.set_ylim(*limits)
    ax2.set_ylabel("anomaly score")
    if times is None:
        ax2.set_xlabel("row")
    else:
        from matplotlib.ticker import FuncFormatter

        ax2.xaxis.set_major_formatter(FuncFormatter(row_time_label(times)))
        ax2.set_xlabel("time (UTC)")
    ax2.legend(loc="upper left", fontsize=8, ncol=4)
    fig.suptitle(title or "anomaly-gan", parse_math=False)  # a file or entity name, as named
    fig.tight_layout()
    try:
        # The temporary file's name has no meaningful extension: the format is explicit.
        atomic_write_bytes(out, lambda fh: fig.savefig(fh, format=fmt, dpi=110))
    except (ValueError, RuntimeError) as exc:  # e.g. pgf without a TeX installation
        raise OutputError(f"{out}: cannot write the figure: {clip(str(exc))}") from None
    finally:
        plt.close(fig)
