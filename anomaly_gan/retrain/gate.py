"""The validation gate: may a retrained candidate become current?

It passes only when all of these hold (each failure adds a reason):

- its false-alarm rate on the held-out newest normal windows (never trained on) is within
  ``retrain.gate.max_false_alarm_rate``;
- every labelled incident in the range is still flagged: at least
  ``retrain.gate.min_incident_flagged`` of the windows ending inside it (``start <= end <=
  end``) score over the candidate's threshold (one with no such window is not);
- it still sees a plain fault as well as the current version does: of held-out windows
  the current version finds normal, each with one feature moved by
  ``retrain.gate.injected_offset`` standard deviations (of the held-out rows) over the
  whole window, it flags at least ``retrain.gate.min_injected_share_of_current`` times the
  share the current version flags (no current version, or one that flags every window
  chosen: not checked, reported), and as the store's *reference* version does: the most
  sensitive version met so far along the chain of retrains, scored on the same windows
  (the ``reference_version`` of the current version's report), so that sensitivity cannot
  erode by just under ``min_injected_share_of_current`` at every retrain (0.5, 0.25, ...
  over three) without a rejection. Each model is credited alike: with the moved windows
  it flags whose unmoved one it does not flag (for the current version, every window
  compared), out of all the windows compared; one it would flag unmoved says nothing of
  the move. Each of the two bars decides only where its version
  is credited with at least :data:`MIN_CURRENT_FLAGGED` of the windows (fewer is chance:
  reported with a note); the reference's decides even where the current version's does not;
- no feature that moved in the current version's training rows never moves in its own
  (:func:`stopped_features`): sensors dead while the baseline was recorded;
- its training health is clean (:func:`anomaly_gan.store.health_of`).

The false-alarm rate alone passes a candidate that alarms on nothing: one trained on a
range holding an incident nobody labelled or alerted on (no current version, or
``exclude_over_threshold: false`` after a shift) calibrates its threshold on the incident's
windows, far above any normal score, and flags neither held-out normal (rate 0) nor the
next such fault. The injected windows catch it without labels. The bar is the
current version's, not a fixed share: what a model sees of a one-feature move
depends on its data (a good logs model, whose counts are bursty, flagged 6% of
them and every real incident).

Periods the current model alerted on are scored too and reported (share flagged), but do
not decide: after a baseline change the old model's alerts are exactly what the new model
should stop raising.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np

from anomaly_gan.config import GateConfig
from anomaly_gan.errors import name_list
from anomaly_gan.retrain.source import Alerted, Segment
from anomaly_gan.store import health_of
from anomaly_gan.stream.alerts import iso_utc

__all__ = ["evaluate_gate", "figure", "injected_windows", "stopped_features", "window_flags"]

#: Held-out windows the sensitivity check injects a fault into: two per feature (one
#: up, one down), at least this many, at most :data:`MAX_INJECTED`; fewer where the
#: held-out windows are fewer than that, each moved once per feature and direction.
MIN_INJECTED = 64
MAX_INJECTED = 1024
#: The sensitivity check decides only where the current version flags at least this many
#: injected windows: a logs model, whose bursty counts hide a one-feature move, flags a few
#: percent of them, and 4 windows against 2 is chance, not a loss of sensitivity.
MIN_CURRENT_FLAGGED = 16


def figure(x: float, bar: float, digits: int) -> str:
    """``x`` with ``digits`` decimals, or as many more as it takes not to read as ``bar``
    (a share or rate compared with it): 499 of 1,000 windows read 'flags 0.50 ..., needs
    >= 0.5', and 1,001 of 50,000 'false-alarm rate 0.0200 ... over the budget 0.02'.

    >>> figure(0.499, 0.5, 2), figure(0.02002, 0.02, 4), figure(0.3, 0.5, 2)
    ('0.499', '0.02002', '0.30')
    """
    for d in range(digits, 16):
        if f"{x:.{d}f}" != f"{bar:.{d}f}":
            return f"{x:.{d}f}"
    return f"{x!r}"


class _Tally:
    """How far the gate's scoring has got, over every window it scores with any model:
    ``scoring(done, total)`` (None: untold). The moved windows are scored first (at most
    :data:`MAX_INJECTED` per model and call, in one batch each), before the total is known;
    then :meth:`expect` adds the windows of the series still to score and says how far."""

    def __init__(self, scoring: Callable[[int, int], None] | None) -> None:
        self.scoring, self.done = scoring, 0
        self.total: int | None = None

    def expect(self, windows: int) -> None:
        self.total = self.done + windows
        if self.scoring is not None and self.total:
            self.scoring(self.done, self.total)

    def windows(self, detector: Any, windows: np.ndarray) -> np.ndarray:
        """Whether ``detector`` flags each of ``windows``."""
        over = np.asarray(detector.score_windows(windows).is_anomaly, dtype=bool)
        self.done += len(windows)
        return over

    def series(self, detector: Any, values: np.ndarray) -> np.ndarray:
        """Whether ``detector`` flags each row's window (:meth:`score_series`)."""
        before = self.done
        if self.scoring is None or self.total is None:
            res = detector.score_series(values)
        else:
            total, scoring = self.total, self.scoring
            res = detector.score_series(
                values, progress=lambda n, _of: scoring(before + n, total))
        self.done = before + len(values) - detector.window + 1
        return np.asarray(res.is_anomaly, dtype=bool)


def window_flags(detector: Any, seg: Segment, tally: _Tally | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """``(end_ts, over_threshold)`` for every window of ``seg`` scored by ``detector``
    (counted by ``tally``)."""
    w = detector.window
    if len(seg) < w:
        return np.empty(0), np.empty(0, dtype=bool)
    over = (tally or _Tally(None)).series(detector, seg.values)
    return seg.ts[w - 1:], over[w - 1:]


def injected_windows(holdout: Sequence[Segment], window: int, offset: float
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(base, windows, features)``: held-out windows evenly spread over ``holdout``
    (``base``), the same with one feature moved by ``offset`` standard deviations of the
    held-out rows over all their rows (features taken in turn, up then down), and the
    index of the feature moved in each. Features constant in the held-out rows (every value
    the same) are left alone (no deviation to scale by); none left, or no window: empty
    arrays. No window is moved twice the same way: with fewer held-out windows than
    :data:`MIN_INJECTED` (or two per feature), each is moved once per feature and
    direction, and there are that many.

    >>> from anomaly_gan.retrain.source import Segment
    >>> seg = Segment("a", np.arange(8.0), np.column_stack([np.arange(8.0) % 2, np.ones(8)]))
    >>> b, w, f = injected_windows([seg], 4, 3.0)
    >>> w.shape, sorted(set(f.tolist())), w[0, :, 0] - b[0, :, 0], float((w - b)[1, 0, 0])
    ((10, 4, 2), [0], array([1.5, 1.5, 1.5, 1.5]), -1.5)
    """
    ends = [(i, e) for i, s in enumerate(holdout) for e in range(window, len(s) + 1)]
    if not ends:
        return np.empty((0, window, 0)), np.empty((0, window, 0)), np.empty(0, dtype=int)
    rows = np.concatenate([s.values for s in holdout])
    sd = rows.std(axis=0)
    # not sd > 0: a feature held at 7.3 has a float sd of 7e-15, and was "moved" by 4e-14
    moved = np.flatnonzero(rows.max(axis=0) > rows.min(axis=0))
    if not len(moved):
        none = np.empty((0, window, len(sd)))
        return none, none, np.empty(0, dtype=int)
    n = min(max(MIN_INJECTED, 2 * len(moved)), MAX_INJECTED)
    if len(ends) >= n:
        picks = np.linspace(0, len(ends) - 1, n).round().astype(int)
    else:
        # Fewer windows than moves: the k-th of the 2 x features ways to move one (feature
        # k // 2 in turn, up for k even) takes the windows spread apart, each once. Spread
        # over all n, a held-out part of one window gave 64 moves of it, 16 of each, and
        # 4 flagged counted as 64, over the MIN_CURRENT_FLAGGED that tells them from chance.
        ways = 2 * len(moved)
        n = min(n, ways * len(ends))
        k = np.arange(n)
        in_way = (n - k % ways + ways - 1) // ways  # how many moves take k's way
        picks = (k // ways * (len(ends) - 1) / np.maximum(in_way - 1, 1)).round().astype(int)
    base = np.stack([holdout[i].values[e - window:e] for i, e in (ends[at] for at in picks)])
    out = base.copy()
    features = moved[(np.arange(n) // 2) % len(moved)]
    out[np.arange(n), :, features] += np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None] * (
        offset * sd[features])[:, None]
    return base, out, features


def _credited(detector: Any, base: np.ndarray, windows: np.ndarray, tally: _Tally
              ) -> tuple[np.ndarray, np.ndarray]:
    """``(credited, unmoved)``: whether ``detector`` flags each of ``windows`` (``base``
    moved) but not its unmoved ``base``, and whether it flags the unmoved one. A window it
    flags unmoved is no credit to it: it would flag it with no fault, so its flag says
    nothing of the move (a low threshold's false alarms would count as sensitivity)."""
    unmoved = tally.windows(detector, base)
    return tally.windows(detector, windows) & ~unmoved, unmoved


def _reference_share(reference: tuple[str, Any] | None, candidate: Any, base: np.ndarray,
                     windows: np.ndarray, report: dict[str, Any], tally: _Tally) -> None:
    """Score ``windows`` (``base`` moved) with the reference version (``(name, detector)``)
    into ``report["reference"]`` (nothing where there is none to score with).

    A window whose unmoved ``base`` the reference flags too is no credit to it
    (:func:`_credited`), as for the candidate, and as the current version's are left out
    (:func:`_injected`): an old reference on a new normal (a drift the retrains followed)
    flags the held-out windows whether moved or not, and its share of them, near 1,
    rejected every candidate (its bar, 0.5, above a current version's 0.39) and, passed on
    as the most sensitive, every later one too. ``unmoved_flagged_share`` says how many
    unmoved windows it flags."""
    if reference is None:
        return
    name, ref = reference
    if tuple(ref.feature_names) != tuple(candidate.feature_names) or \
            ref.window != candidate.window:
        report["reference"] = {"version": name, "flagged_share": None,
                               "note": "its features or window differ from the candidate's"}
        return
    seen, unmoved = _credited(ref, base, windows, tally)
    report["reference"] = {"version": name, "flagged_share": float(seen.mean()),
                           "unmoved_flagged_share": float(unmoved.mean())}
    if int(seen.sum()) < MIN_CURRENT_FLAGGED:
        also = (f", not counting {int(unmoved.sum())} whose unmoved window it flags too"
                if unmoved.any() else "")
        report["reference"]["note"] = (f"flags {int(seen.sum())} of {len(windows)}{also}: too "
                                       f"few to compare with (under {MIN_CURRENT_FLAGGED})")


def _injected(candidate: Any, current: Any | None, gate: GateConfig,
              holdout: Sequence[Segment], reference: tuple[str, Any] | None = None,
              tally: _Tally | None = None) -> dict[str, Any]:
    """The sensitivity check's figures, on the injected windows whose unmoved window the
    current version does not flag: the share each model is credited with (the moved
    windows it flags whose unmoved one it does not, :func:`_credited`), how many unmoved
    ones the candidate flags (``unmoved_flagged_share``), and the features the candidate
    is credited least often with. Shares are None where there is nothing to compare (no
    current version, one of other features, or one that flags every window chosen); a
    ``note`` says why the check does not decide (also where the current version flags
    under :data:`MIN_CURRENT_FLAGGED` of them). ``tally`` counts the windows scored."""
    tally = tally or _Tally(None)
    base, windows, features = injected_windows(holdout, candidate.window, gate.injected_offset)
    report: dict[str, Any] = {"windows": 0, "offset_sd": gate.injected_offset,
                              "flagged_share": None, "unmoved_flagged_share": None,
                              "current_flagged_share": None,
                              "min_share_of_current": gate.min_injected_share_of_current,
                              "least_flagged": []}
    if current is None or not len(windows) or tuple(current.feature_names) != tuple(
            candidate.feature_names) or current.window != candidate.window:
        report["note"] = ("no current version with the candidate's features to compare with"
                          if len(windows) else "no held-out feature varies")
        return report
    normal = ~tally.windows(current, base)
    if not normal.any():
        report["note"] = "the current version flags every held-out window chosen"
        return report
    windows, features = windows[normal], features[normal]
    over, unmoved = _credited(candidate, base[normal], windows, tally)
    report["windows"] = len(windows)
    report["flagged_share"] = float(over.mean())
    report["unmoved_flagged_share"] = float(unmoved.mean())
    seen = tally.windows(current, windows)
    report["current_flagged_share"] = float(seen.mean())
    _reference_share(reference, candidate, base[normal], windows, report, tally)
    if int(seen.sum()) < MIN_CURRENT_FLAGGED:
        report["note"] = (f"the current version flags {int(seen.sum())} of {len(windows)} "
                          f"injected windows: too few to compare with (under "
                          f"{MIN_CURRENT_FLAGGED})")
    names = candidate.feature_names
    shares = sorted((float(over[features == f].mean()), names[f]) for f in set(features.tolist()))
    report["least_flagged"] = [{"feature": name, "flagged_share": share}
                               for share, name in shares[:5] if share < 1.0]
    return report


def _never_moved(detector: Any) -> list[str] | None:
    """The features that never moved in ``detector``'s training rows, as training recorded
    them (``training_data.constant_features``); None where it did not (before 2026-12-02)."""
    record = ((getattr(detector, "metadata", None) or {}).get("training_data") or {}).get(
        "constant_features")
    return None if record is None else list(record)


def stopped_features(candidate: Any, current: Any | None,
                     still_by_design: Collection[str] = ()) -> list[str]:
    """The features that moved in ``current``'s training rows and never move in
    ``candidate``'s, but for ``still_by_design`` (a logs model's columns that may hold still
    in any training lines: :data:`anomaly_gan.logs.offline.BY_DESIGN`, e.g. the error share
    of a week without errors): empty with no current version (a store's first retrain), one
    of other features, or where either training did not record them.

    A baseline recorded while the sensors were dead (constant in every feature) trains a
    model that scores any movement as anomalous; no held-out feature varies, so the
    plain-fault check cannot decide, and it passed the gate: promoted, a tiny GANomaly
    flagged every window of the normal data its predecessor was trained on (100% of 800
    and 2,000 rows, where the predecessor flagged 0.4% and 0.2%)."""
    if current is None or tuple(current.feature_names) != tuple(candidate.feature_names):
        return []
    before, now = _never_moved(current), _never_moved(candidate)
    if before is None or now is None:
        return []
    return [name for name in candidate.feature_names
            if name in now and name not in before and name not in still_by_design]


def _false_alarms(detector: Any, holdout: Sequence[Segment], tally: _Tally
                  ) -> tuple[int, int]:
    flagged = total = 0
    for seg in holdout:
        _, over = window_flags(detector, seg, tally)
        flagged += int(over.sum())
        total += len(over)
    return flagged, total


def _overlapping(segments: Sequence[Segment], periods: Sequence[Alerted]
                 ) -> dict[int, list[Segment]]:
    """Per period (by index), the segments of its entity that overlap it."""
    by_entity: dict[str, list[Segment]] = {}
    for s in segments:
        by_entity.setdefault(s.entity, []).append(s)
    return {i: [seg for seg in by_entity.get(p.entity, ())
                if not (seg.ts[-1] < p.start_ts or seg.ts[0] > p.end_ts)]
            for i, p in enumerate(periods)}


def _periods(detector: Any, segments: Sequence[Segment], periods: Sequence[Alerted],
             scored: dict[int, tuple[np.ndarray, np.ndarray]], tally: _Tally
             ) -> list[dict[str, Any]]:
    """Windows ending inside each period, and how many the detector flags; ``scored``: the
    flags of each segment scored so far (by id), shared by the labelled and the alerted
    periods, so a segment holding both is scored once."""
    overlapping = _overlapping(segments, periods)
    out = []
    for i, p in enumerate(periods):
        windows = flagged = 0
        for seg in overlapping[i]:
            key = id(seg)
            if key not in scored:
                scored[key] = window_flags(detector, seg, tally)
            ends, over = scored[key]
            inside = (ends >= p.start_ts) & (ends <= p.end_ts)
            windows += int(inside.sum())
            flagged += int((over & inside).sum())
        out.append({"entity": p.entity, "start": iso_utc(p.start_ts), "end": iso_utc(p.end_ts),
                    "windows": windows, "flagged": flagged,
                    "flagged_share": (flagged / windows) if windows else None})
    return out


def evaluate_gate(candidate: Any, gate: GateConfig, *, holdout: Sequence[Segment],
                  segments: Sequence[Segment], labels: Sequence[Alerted],
                  alerted: Sequence[Alerted], current: Any | None = None,
                  reference: tuple[str, Any] | None = None,
                  scoring: Callable[[int, int], None] | None = None,
                  still_by_design: Collection[str] = ()) -> dict[str, Any]:
    """Score ``candidate`` (and, for the sensitivity check, ``current``: the version it
    would replace, None for a store's first, and ``reference``: ``(name, detector)`` of the
    store's most sensitive version so far, None where there is none besides current) and
    decide; returns the JSON-able gate report. ``scoring(done, total)``: how far, over every
    window scored by any of them (the held-out windows, those of each segment overlapping a
    labelled incident or an alerted period, and the moved windows of the sensitivity
    check), as the filter says it (:func:`anomaly_gan.retrain.run.retrain`).
    ``still_by_design``: features whose holding still is no reason to reject
    (:func:`stopped_features`)."""
    reasons: list[str] = []
    tally = _Tally(scoring)
    # the moved windows first: how many the current version leaves to score is known
    # only once it has scored them unmoved
    inj = (_injected(candidate, current, gate, holdout, reference, tally)
           if gate.min_injected_share_of_current > 0 else None)
    w = candidate.window
    touched = {id(s): s for per in (_overlapping(segments, [*labels, *alerted]).values())
               for s in per}
    tally.expect(sum(max(0, len(s) - w + 1) for s in [*holdout, *touched.values()]))
    flagged, total = _false_alarms(candidate, holdout, tally)
    rate = flagged / total if total else None
    if rate is None:
        reasons.append("no held-out windows to measure false alarms on")
    elif rate > gate.max_false_alarm_rate:
        reasons.append(f"false-alarm rate {figure(rate, gate.max_false_alarm_rate, 4)} on "
                       f"{total} held-out normal windows is over "
                       f"the budget {gate.max_false_alarm_rate:g}")
    report: dict[str, Any] = {
        "holdout_windows": total,
        "false_alarm_rate": rate,
        "max_false_alarm_rate": gate.max_false_alarm_rate,
    }
    scored: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    incidents = _periods(candidate, segments, labels, scored, tally)
    for inc in incidents:
        share = inc["flagged_share"]
        inc["ok"] = share is not None and share >= gate.min_incident_flagged
        if share is None:
            reasons.append(f"labelled incident {inc['entity']} {inc['start']}..{inc['end']}: "
                           f"no events in the range to check it on")
        elif not inc["ok"]:
            reasons.append(f"labelled incident {inc['entity']} {inc['start']}..{inc['end']}: "
                           f"flags {figure(share, gate.min_incident_flagged, 2)} of its "
                           f"{inc['windows']} windows, needs "
                           f">= {gate.min_incident_flagged:g}")
    report["labelled_incidents"] = incidents
    if inj is not None:
        share, now = inj["flagged_share"], inj["current_flagged_share"]
        ref = inj.get("reference") or {}
        bars = []  # (who, the share it flags) for each model the check decides against
        if share is not None and "note" not in inj:
            bars.append(("the current version", now))
        if share is not None and ref.get("flagged_share") is not None and "note" not in ref:
            who = (f"the reference version {ref['version']} (the most sensitive of the "
                   f"store's retrains so far)")
            bars.append((who, ref["flagged_share"]))
        # "at least" with a tie met: 12 of 40 windows is 0.75 times 16 of 40, where in floats
        # 0.75 * 0.4 = 0.30000000000000004 > 0.3 rejected it (shares of at most 1024 windows
        # that differ, differ by far more than the 1e-12 allowed)
        failed = [(who, bar) for who, bar in bars
                  if share < gate.min_injected_share_of_current * bar - 1e-12]
        if failed:
            who, bar = max(failed, key=lambda f: f[1])
            least = ", ".join(f"{x['feature']} {x['flagged_share']:.2f}"
                              for x in inj["least_flagged"][:3])
            alarms = round(inj["unmoved_flagged_share"] * inj["windows"])
            also = (f", not counting {alarms} whose unmoved window it flags too"
                    if alarms else "")
            reasons.append(
                f"flags {figure(share, gate.min_injected_share_of_current * bar, 2)} of "
                f"{inj['windows']} held-out windows with one feature "
                f"moved by {gate.injected_offset:g} standard deviations{also}, where {who} "
                f"flags {bar:.2f} (needs >= {gate.min_injected_share_of_current:g} "
                f"of that); least flagged: {least}; its threshold {candidate.threshold:.4g} "
                f"lies above what such a fault scores (was an incident nobody labelled or "
                f"alerted on trained on as normal?)")
        report["injected"] = inj
    report["min_incident_flagged"] = gate.min_incident_flagged
    periods = _periods(candidate, segments, alerted, scored, tally)
    windows = sum(p["windows"] for p in periods)
    report["alerted_periods"] = {
        "periods": len(periods), "windows": windows,
        "flagged_share": (sum(p["flagged"] for p in periods) / windows) if windows else None}
    stopped = stopped_features(candidate, current, still_by_design)
    report["stopped_features"] = stopped
    if stopped:
        reasons.append(f"{len(stopped)} feature(s) that moved in the current version's "
                       f"training rows never move in the candidate's, so it flags every "
                       f"window in which they move: {name_list(stopped)} (sensors dead or "
                       f"stuck while the baseline was recorded?)")
    health = health_of(candidate.metadata)
    report["health"] = health
    if health["status"] != "healthy":
        reasons.append(f"training health is {health['status']}: "
                       f"{'; '.join(health['issues']) or 'no details'}")
    report["passed"] = not reasons
    report["reasons"] = reasons
    return report
