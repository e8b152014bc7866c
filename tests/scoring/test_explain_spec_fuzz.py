"""Seeded test of alert explanations against a reference written from their prose contract.

An alert names the features behind a score (``top_features``) and says how far off each
is (``feature_values``); ``serve`` and ``score --alerts`` build both through the same code
(:meth:`~anomaly_gan.detector.Detector.score_windows`, :meth:`Detector.feature_values`,
:func:`~anomaly_gan.stream.alerts.alert_records`), so their differential tests cannot find
a bug in it. Here :func:`reference` restates the README (*Explanations*, *Worst feature*,
*Two-sided errors*, the `score` output's unscorable windows, the round-off of features that
never moved), docs/streaming.md (*How far off*) and docs/alert.schema.json without the
product's code:

- A feature's explanation is its reconstruction error (the window's mean absolute error of
  the scaled readings, from the network) standardised on a log scale by its own median and
  scale, two-sided against its floor where the bundle has floors (``max(z, floor - z)``);
  an error of exactly 0 counts as 1e-12 before the log. Where the ``quiet`` component's
  depth below the feature's normal movement is larger, the depth is its explanation, and
  its ``feature_values`` entry is the quiet one (depth > 0 and at least the z-score).
- The ``top_k`` largest are named, largest first (at most as many as there are features);
  equal explanations keep the features' column order.
- A window the network cannot compute (score ``inf``) ranks its features by how far, in
  spreads, their most extreme reading lies from the centre.
- In a window over the threshold, a feature with a reading more than 1 spread beyond its
  training range, or more than 1e4 spreads from its centre, is named first, by the larger
  of those two distances that passed its limit (equal ones: column order). A feature that
  never moved in training and holds its value all through the window (readings within
  float32 round-off, float32's epsilon 2**-23 = 1.19e-7 of its value, count as the value)
  is named last.
- ``feature_values``: per named feature, in order, the reading farthest from the
  reconstruction (the earliest of equally far ones) and the reconstruction unscaled
  (``scaled * scale + centre``), ``rows_before_end`` counted from the window's last row;
  in a window with a reading more than 1e4 spreads out, or where the reconstruction is not
  finite, ``expected`` is null and ``observed`` the reading farthest from the centre. A
  quiet one: the last reading, ``expected`` null, ``movement`` (mean ``|x[t] - x[t-1]|``
  of the readings as scaled, round-off counting as the value, and float32, times the
  scale) and ``normal_movement`` in the data's units. Non-finite numbers are null; a feature of
  ``data.counters`` adds ``"increase": true``.
- Every alert validates against docs/alert.schema.json and its ``feature_values`` name its
  ``top_features`` in order.

A logs model's alerts name templates instead (``templates``, docs/logs.md, "Alert records
get one more field"): :func:`reference_templates` ranks every template the entity logged in
training and every template of the window by ``|observed - expected| / sqrt(expected +
1)``, ``expected`` the entity's (else every entity's) training mean per bucket times the
window's buckets (0 for a new template), up to ``top_k``; equal ranks: known templates
before new ones, known ones by template id, new ones by their text (then their id). Each
entry: the template's text (credentials ``<SECRET>``, cut at 2,000 characters), its count
feature (``t<id>``, ``other``, ``unseen``), the observed count, ``expected`` to 2 decimals
and up to ``logs.example_lines`` of the window's lines, oldest bucket first. The template
texts are the miner's (the model's input, as the reconstruction is the network's).

The network is a fake that returns drawn reconstructions (no training): each seed draws
1-300 features with odd names (unicode, 300 characters, names equal but for case), window
2-8, scales from 1e-9 to 1e3, constant features (some read with float32 round-off, some
with a reading 0.1% inside or outside its edge), spikes
beyond the training range, readings 1e5 spreads out and past float32, tied errors, errors
of exactly 0, non-finite reconstructions, floors or none, a quiet component or none, and
counters among gauges. ``EXPLAIN_SPEC_FUZZ_SEEDS`` (default 300) seeds from
``EXPLAIN_SPEC_FUZZ_SEED_START`` (default 0), half as many for logs models:
``EXPLAIN_SPEC_FUZZ_SEED_START=17
EXPLAIN_SPEC_FUZZ_SEEDS=1`` runs seed 17 alone.
"""

from __future__ import annotations

import json
import math
import os
import random
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from anomaly_gan.config import config_from_dict
from anomaly_gan.data.scaling import Scaler
from anomaly_gan.detector import Calibration, Detector
from anomaly_gan.logs.model import ALL
from anomaly_gan.scoring import SEVERITY_LEVELS, RobustStats, Threshold, feature_values_text
from anomaly_gan.scoring.components import FeatureErrors, QuietFeatures
from anomaly_gan.stream.alerts import alert_records, dumps
from tests.support.fuzz import (
    assert_every_rule_reached,
    block_id,
    each_seed,
    first_difference,
    seed_blocks,
)

SEEDS = int(os.environ.get("EXPLAIN_SPEC_FUZZ_SEEDS", "300"))
SEED_START = int(os.environ.get("EXPLAIN_SPEC_FUZZ_SEED_START", "0"))

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "alert.schema.json")
                    .read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)

# README: float32 round-off of a feature that never moved in training, float32's epsilon
# (its "1.2e-7" is 2**-23 rounded: a reading 1.198e-7 of the value off is no round-off)
ROUND_OFF = 2.0 ** -23
OUT_OF_RANGE = 1.0  # spreads beyond the training range
EXTREME = 1e4  # spreads from the centre
ZERO_ERROR = 1e-12  # an error of exactly 0, before the log

ODD_NAMES = ["temp", "Temp", "TEMP", "ñandú_°C", "流量", "a b", "x" * 300, "requests_total",
             "bytes.sent", "é", "e\u0301", "\U0001f525", "tab\there", "0"]

RULES = {"ranked by explanation", "tie by column", "negative z", "two-sided floor",
         "zero error", "quiet named", "quiet valued", "unscorable by spreads",
         "out of range first", "extreme first", "held last", "held by round-off",
         "reconstruction not finite", "far window values", "earliest of equal rows",
         "counter increase", "top_k above features", "single feature", "hundreds of features",
         "odd names", "no training range", "alert validated", "text more digits",
         "round-off edge"}
reached: Counter[str] = Counter()


class FakeNetwork:
    """Stands in for the compiled scorer: the drawn reconstruction (scaled) of each window."""

    def __init__(self, scaler: Scaler, raw: np.ndarray, recon: np.ndarray,
                 disc: np.ndarray) -> None:
        self.scaler, self.recon, self.disc = scaler, recon, disc
        self.rows = {window.tobytes(): i for i, window in reversed(list(enumerate(raw)))}
        self.recon = recon[self._at(raw)]  # equal windows, equal reconstructions

    def _at(self, raw: np.ndarray) -> list[int]:
        return [self.rows[window.tobytes()] for window in np.asarray(raw, np.float64)]

    def __call__(self, raw: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
        at = self._at(raw)
        scaled = self.scaler.transform(raw).astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            per_feature = np.abs(scaled - self.recon[at]).mean(axis=1)
            activity = np.abs(np.diff(scaled, axis=1)).mean(axis=1)
        return ({"reconstruction": per_feature.mean(axis=1), "discriminator": self.disc[at]},
                per_feature, activity)

    def reconstruct(self, raw: np.ndarray) -> np.ndarray:
        return self.recon[self._at(raw)].astype(np.float32)


def _names(rng: random.Random, f: int) -> list[str]:
    if f > len(ODD_NAMES) or rng.random() < 0.5:
        return [f"f{j}" for j in range(f)]
    return rng.sample(ODD_NAMES, f)


def draw(seed: int) -> dict[str, Any]:
    """One case: a detector with a fake network, its windows and what the network says."""
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    f = 300 if seed % 50 == 7 else rng.choice([1, 1, 2, 3, 4, 5, 8, 12])
    w = rng.choice([2, 3, 5, 8])
    n = rng.randint(1, 10)
    names = _names(rng, f)
    center = nrng.normal(0.0, 100.0, f) * rng.choice([0.0, 1.0, 1e3])
    scale = nrng.choice([1e-9, 1e-3, 1.0, 1.0, 1e3], f)
    lo_off, hi_off = nrng.uniform(0.5, 3.0, f), nrng.uniform(0.5, 3.0, f)
    low, high = center - lo_off * scale, center + hi_off * scale
    constant = nrng.random(f) < 0.25
    scale = np.where(constant, 1.0, scale)
    low, high = np.where(constant, center, low), np.where(constant, center, high)
    has_range = rng.random() < 0.85
    scaler = Scaler("robust", center, scale, low if has_range else None,
                    high if has_range else None)

    raw = center + scale * nrng.normal(0.0, 1.0, (n, w, f))
    for i in range(n):
        for j in range(f):
            if constant[j]:
                kind = rng.random()
                if kind < 0.5:
                    raw[i, :, j] = center[j]
                elif kind < 0.75:  # float32 round-off of the value
                    raw[i, :, j] = center[j] * (1 + rng.choice([-1, 1]) * 0.5 * ROUND_OFF)
                elif kind < 0.85:  # one reading 0.1% inside or outside the round-off
                    raw[i, :, j] = center[j]
                    raw[i, rng.randrange(w), j] = center[j] + (
                        rng.choice([-1, 1]) * ROUND_OFF * abs(center[j])
                        * (1 + rng.choice([-1, 1]) * 1e-3))
            t = rng.randrange(w)
            event = rng.random()
            if event < 0.12:  # beyond the training range
                raw[i, t, j] = high[j] + rng.uniform(0.2, 40.0) * scale[j]
            elif event < 0.16:
                raw[i, t, j] = center[j] + rng.choice([-1, 1]) * rng.uniform(1e4, 1e6) * scale[j]
            elif event < 0.18:
                raw[i, t, j] = rng.choice([1e39, -1e39, 1e308])
    scaled = scaler.transform(raw).astype(np.float64)
    recon = np.where(np.isfinite(scaled), scaled, 0.0) + nrng.normal(0.0, 0.3, (n, w, f))
    for i in range(n):
        mode = rng.random()
        if mode < 0.15:  # every feature equally off: equal errors
            recon[i] = np.where(np.isfinite(scaled[i]), scaled[i], 0.0) + 0.25
        elif mode < 0.22:  # reproduced exactly: errors 0
            j = rng.randrange(f)
            recon[i, :, j] = scaled[i, :, j]
        elif mode < 0.27:  # the network gave up
            recon[i, rng.randrange(w), rng.randrange(f)] = rng.choice([np.nan, np.inf])
        elif mode < 0.35:  # the same offset on every row: equally far rows
            j = rng.randrange(f)
            recon[i, :, j] = np.where(np.isfinite(scaled[i, :, j]), scaled[i, :, j], 0.0) - 0.5
    recon = recon.astype(np.float32).astype(np.float64)

    tied = rng.random() < 0.3
    med = np.full(f, -1.5) if tied else nrng.normal(-2.0, 1.0, f)
    fscale = (np.full(f, 0.7) if tied
              else nrng.choice([1e-6, 0.1, 1.0, 5.0], f))
    floors = None if rng.random() < 0.3 else nrng.uniform(-4.0, 0.0, f)
    quiet = None
    if rng.random() < 0.5:
        quiet = QuietFeatures(nrng.normal(-1.0, 1.0, f), nrng.uniform(0.25, 2.0, f),
                              nrng.uniform(0.001, 0.05, f), rng.choice([0.0, 1.0, 3.0]))
    one = RobustStats(np.array(0.0), np.array(1.0))
    weights = {"reconstruction": 1.0, "discriminator": rng.choice([0.0, 0.5])}
    if quiet is not None:
        weights["quiet"] = 1.0
    counters = sorted(rng.sample(names, rng.randint(0, min(f, 3))))
    top_k = rng.randint(1, f + 2)
    cfg = config_from_dict({"model": {"backbone": "dense"},
                            "data": {"window": w, "counters": counters},
                            "scoring": {"top_k": top_k}})
    calibration = Calibration(
        component_stats={"reconstruction": one, "discriminator": one},
        feature_stats=RobustStats(np.zeros(f), np.ones(f)),
        weights=weights, threshold=Threshold(0.0, "quantile", {}),
        severity_quantiles=np.linspace(-2.0, 6.0, len(SEVERITY_LEVELS)),
        feature_errors=FeatureErrors(RobustStats(med, fscale), floors, one), quiet=quiet)
    det = Detector("ganomaly", "v1", tuple(names), w, scaler, {}, calibration, cfg)
    det._compiled = FakeNetwork(scaler, raw, recon, nrng.uniform(0.01, 5.0, n))
    # a threshold amid the window scores: some windows over it, some not
    scores = det.score_windows(raw).score
    finite = scores[np.isfinite(scores)]
    cut = float(np.quantile(finite, rng.random())) - 1e-9 if len(finite) else 0.0
    det.calibration = replace(calibration, threshold=Threshold(cut, "quantile", {}))
    det._compiled = FakeNetwork(scaler, raw, recon, det._compiled.disc)
    return {"det": det, "raw": raw, "recon": det._compiled.recon, "top_k": top_k, "names": names,
            "counters": counters, "has_range": has_range, "constant": constant,
            "tied": tied}


# --------------------------------------------------------------------------- reference

def _z(errors: np.ndarray, fe: FeatureErrors) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (np.log(np.where(errors == 0, ZERO_ERROR, errors)) - fe.stats.median) / fe.stats.scale
        if fe.floors is not None:
            reached["two-sided floor"] += int(np.any(fe.floors - z > z))
            z = np.maximum(z, fe.floors - z)
    return z


def _depth(activity: np.ndarray, q: QuietFeatures) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.maximum((q.low - np.log(activity + q.eps)) / q.scale - q.margin, 0.0)


def _plain(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def reference(case: dict[str, Any], score: np.ndarray, threshold: float
              ) -> tuple[list[list[str]], list[list[dict[str, Any]]]]:
    """Per window, the names its explanation gives and their ``feature_values`` entries."""
    det, raw, recon = case["det"], case["raw"], case["recon"]
    cal, sc = det.calibration, det.scaler
    n, w, f = raw.shape
    names = case["names"]
    counters = {names.index(c) for c in case["counters"]}
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (raw - sc.center) / sc.scale
        spreads = np.abs(scaled)
        held_value = (sc.low is not None) & (np.asarray(sc.low) == np.asarray(sc.high)
                                             if sc.low is not None else False)
        margin = ROUND_OFF * np.abs(sc.center)
        within = np.abs(raw - sc.center) <= margin
        reached["round-off edge"] += int(np.any(held_value & (margin > 0) & (
            np.abs(np.abs(raw - sc.center) - margin) <= 2e-3 * margin)))
        settled = np.where(held_value & within, 0.0, scaled).astype(np.float32).astype(float)
        errors = np.abs(settled - recon).mean(axis=1)
        activity = np.abs(np.diff(settled, axis=1)).mean(axis=1)
    z = _z(errors, cal.feature_errors)
    depth = np.zeros((n, f)) if cal.quiet is None else _depth(activity, cal.quiet)
    with np.errstate(invalid="ignore"):
        quiet_named = (depth > 0) & (depth >= z)
        explanation = np.where((depth > 0) & (depth > z), depth, z)
    all_names, all_values = [], []
    k = min(case["top_k"], f)
    if case["top_k"] > f:
        reached["top_k above features"] += 1
    for i in range(n):
        far = np.nanmax(spreads[i], axis=0)  # in spreads, the most extreme reading
        if math.isinf(score[i]):
            reached["unscorable by spreads"] += 1
            expl = far
        else:
            expl = explanation[i]
            reached["negative z"] += int(np.any(expl < 0))
            reached["zero error"] += int(np.any(errors[i] == 0))
        rank = np.zeros(f)
        held = np.zeros(f, bool)
        if score[i] > threshold:
            if sc.low is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    beyond = np.maximum(np.maximum(np.nanmax(raw[i], axis=0) - sc.high,
                                                   sc.low - np.nanmin(raw[i], axis=0)),
                                        0.0) / sc.scale
                rank = np.where(beyond > OUT_OF_RANGE, beyond, 0.0)
                reached["out of range first"] += int(np.any(rank > 0))
                held = held_value & within[i].all(axis=0)
                reached["held by round-off"] += int(np.any(held & ~(raw[i] == sc.center).all(axis=0)))
            extreme = np.where(far > EXTREME, far, 0.0)
            reached["extreme first"] += int(np.any(extreme > 0))
            rank = np.maximum(rank, extreme)
            held &= rank == 0
            reached["held last"] += int(held.any() and k > 1)
        # out of range first by how far, then by explanation, then the held ones in column
        # order; column order on ties
        order = sorted(range(f), key=lambda j: (
            0 if rank[j] > 0 else 2 if held[j] else 1,
            -rank[j] if rank[j] > 0 else 0.0 if held[j] else (
                -expl[j] if not math.isnan(expl[j]) else math.inf),
            j))
        top = order[:k]
        ranked_values = [expl[j] for j in top if rank[j] == 0 and not held[j]]
        if len(set(ranked_values)) < len(ranked_values):
            reached["tie by column"] += 1
        reached["ranked by explanation"] += int(len(ranked_values) > 1)
        all_names.append([names[j] for j in top])
        # feature_values
        far_window = not (spreads[i] <= EXTREME).all()
        expected = recon[i] * sc.scale + sc.center
        entries = []
        for j in top:
            if quiet_named[i, j]:
                reached["quiet valued"] += 1
                entry = {"feature": names[j], "observed": _plain(raw[i, -1, j]),
                         "expected": None, "rows_before_end": 0,
                         "movement": _plain(activity[i, j] * sc.scale[j]),
                         "normal_movement": _plain(max(math.exp(cal.quiet.low[j])
                                                       - cal.quiet.eps[j], 0.0) * sc.scale[j])}
            else:
                modelled = not far_window and np.isfinite(expected[:, j]).all()
                if not far_window and not modelled:
                    reached["reconstruction not finite"] += 1
                reached["far window values"] += int(far_window)
                with np.errstate(invalid="ignore", over="ignore"):
                    off = (np.abs(raw[i, :, j] - expected[:, j]) if modelled
                           else np.abs(raw[i, :, j] - sc.center[j]))
                off = np.where(np.isnan(off), -np.inf, off)
                t = int(np.flatnonzero(off == off.max())[0])  # the earliest of the farthest
                reached["earliest of equal rows"] += int((off == off.max()).sum() > 1)
                entry = {"feature": names[j], "observed": _plain(raw[i, t, j]),
                         "expected": _plain(expected[t, j]) if modelled else None,
                         "rows_before_end": w - 1 - t}
            if j in counters:
                reached["counter increase"] += 1
                entry["increase"] = True
            entries.append(entry)
        reached["quiet named"] += int(any(quiet_named[i, j] for j in top))
        all_values.append(entries)
    return all_names, all_values


def _digits(x: float, d: int) -> str:
    return f"{x:#.{d}g}" if d > 4 else f"{x:.4g}"


def reference_text(entries: list[dict[str, Any]]) -> str:
    """The alert log line's ``values`` (and ``score``'s ``feature_values`` cell), as
    docs/streaming.md writes it: ``name observed (exp expected, N rows before end)``, 4
    significant digits, or as many more (up to 17, trailing zeros kept) as write a reading
    and a different expected value about as far apart as they are (the written difference
    within half the true one); ``?`` for null; a quiet one ``(moved M/row, normally >=
    N)``; a counter ``name increase observed``."""
    parts = []
    for v in entries:
        o, e = v["observed"], v["expected"]
        d = 4
        if o is not None and e is not None and o != e and math.isfinite(o - e):
            while d < 17 and not (abs(abs(float(f"{o:.{d}g}") - float(f"{e:.{d}g}")) - abs(o - e))
                                  <= abs(o - e) / 2):
                d += 1
        if d > 4:
            reached["text more digits"] += 1
        shown = "?" if o is None else _digits(o, d)
        notes = []
        if "movement" in v:
            m, nm = v["movement"], v["normal_movement"]
            notes.append(f"moved {'?' if m is None else f'{m:.4g}'}/row, normally >= "
                         f"{'?' if nm is None else f'{nm:.4g}'}")
        elif e is not None:
            notes.append(f"exp {_digits(e, d)}")
        back = v["rows_before_end"]
        if back:
            notes.append(f"{back} row{'' if back == 1 else 's'} before end")
        name = v["feature"] + (" increase" if v.get("increase") else "")
        parts.append(f"{name} {shown}" + (f" ({', '.join(notes)})" if notes else ""))
    return ", ".join(parts)


def _same(a: Any, b: Any) -> bool:
    """Entries agree: numbers to float32's precision of the value (the reconstruction went
    through float32 in the network)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-300)
    return a == b


def check(seed: int) -> None:
    case = draw(seed)
    det, raw, f = case["det"], case["raw"], len(case["names"])
    reached["single feature"] += int(f == 1)
    reached["hundreds of features"] += int(f >= 100)
    reached["odd names"] += int(not case["names"][0].startswith("f"))
    reached["no training range"] += int(not case["has_range"])
    res = det.score_windows(raw)
    want_names, want_values = reference(case, res.score, det.threshold)
    got_names = list(res.top_features)
    # every window's names (alerting or not: score's top_features column shows them all)
    at, lines = first_difference(want_names, got_names)
    assert want_names == got_names, "\n".join([f"top_features of window {at}:", *lines])
    flagged = np.flatnonzero(res.is_anomaly)
    if not len(flagged):
        return
    got_values = det.feature_values(raw[flagged], [got_names[i] for i in flagged])
    want = [want_values[i] for i in flagged]
    at, lines = first_difference(want, got_values, lambda a, b: len(a) == len(b) and all(
        _same(x, y) for x, y in zip(a, b, strict=True)))
    assert at == len(want) == len(got_values), "\n".join(
        [f"feature_values of flagged window {flagged[at] if at < len(flagged) else at}:", *lines])
    for i, values in zip(flagged, got_values, strict=True):
        assert feature_values_text(values) == reference_text(values), f"text of window {i}"
    ends = [1_700_000_000.0 + 10.0 * i for i in range(len(raw))]
    records = alert_records(
        fired=[(int(i), 1, ends[i]) for i in flagged], resolved=[], entities=["pump-7"] * len(raw),
        starts=[e - 10.0 * (det.window - 1) for e in ends], ends=ends, res=res,
        feature_values=got_values, model_version="v1", model_kind="ganomaly", normal_windows=0)
    for rec in records:
        errors = sorted(VALIDATOR.iter_errors(rec), key=str)
        assert not errors, f"alert of window {rec['window_end']} breaks the schema: {errors[0]}"
        assert [v["feature"] for v in rec["feature_values"]] == rec["top_features"]
        json.loads(dumps(rec))  # no NaN or Infinity in the JSON
        reached["alert validated"] += 1


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, SEEDS), ids=block_id)
def test_explanations_follow_the_docs(seeds):
    each_seed(seeds, check)


def test_every_rule_is_reached():
    assert_every_rule_reached(RULES, check, range(SEED_START, SEED_START + min(SEEDS, 100)),
                              reached)


# --------------------------------------------------------------------------- logs models

LOGS_RULES = {"template stayed away", "template over expected", "new template",
              "new templates tied by text", "known templates tied", "other template",
              "unknown entity", "limit cuts", "examples capped", "secret redacted",
              "template cut", "logs alert validated"}
logs_reached: Counter[str] = Counter()

TRAINING_LINES = (["cache hit"] * 5 + ["user 5 logged in", "user 7 logged in"] * 3
                  + ["GET /a/1 200"] * 4 + ["disk full on sda"] * 2
                  + ["login failed password=hunter2 for bob"] * 2
                  + ["payload " + "x" * 2500] * 2 + ["payment timeout after 40 ms"])
NEW_LINES = ["brand new line here", "another novel thing", "zzz unexpected", "aaa unexpected",
             "token=abc123 leaked?"]
SECRETS = ("hunter2", "abc123")  # the values of password= and token=


def logs_model(example_lines: int) -> Any:
    from anomaly_gan.logs.model import fit_log_model

    cfg = config_from_dict({"model": {"backbone": "dense"}, "data": {"window": 3},
                            "logs": {"top_k": 3, "example_lines": example_lines}})
    model, _ = fit_log_model(cfg.logs, TRAINING_LINES)
    return model


def reference_templates(model: Any, rows: list[Any], limit: int) -> list[dict[str, Any]]:
    n = len(rows)
    means = model.template_means.get(rows[0].entity, model.template_means.get(ALL, {}))
    counts: dict[Any, int] = {("known", t): 0 for t in means}
    examples: dict[Any, list[str]] = {key: [] for key in counts}
    for row in rows:
        for key, (count, lines) in row.detail.items():
            counts[key] = counts.get(key, 0) + count
            examples.setdefault(key, []).extend(lines)
    ranked = []
    for key, count in counts.items():
        known = key[0] == "known"
        expected = means.get(key[1], 0.0) * n if known else 0.0
        surprise = abs(count - expected) / math.sqrt(expected + 1.0)
        text = model.template_text(key)
        ranked.append(((-surprise, 0 if known else 1, "" if known else text, key[1]),
                       key, count, expected, text))
    ranked.sort(key=lambda r: r[0])
    firsts = [r[0][:2] for r in ranked[:limit]]
    if len(firsts) > len(set(firsts)):
        logs_reached["known templates tied" if any(k[1] == 0 for k in firsts)
                     else "new templates tied by text"] += 1
    if len(ranked) > limit:
        logs_reached["limit cuts"] += 1
    out = []
    columns = dict(zip(model.template_ids, model.feature_names, strict=False))
    for _, key, count, expected, text in ranked[:limit]:
        if key[0] == "known":
            feature = columns.get(key[1], "other")
            logs_reached["other template" if feature == "other" else
                         "template stayed away" if count == 0 else "template over expected"] += 1
        else:
            feature = "unseen"
            logs_reached["new template"] += 1
        out.append({"template": text, "feature": feature, "observed": count,
                    "expected": round(expected, 2),
                    "examples": examples[key][:model.cfg.example_lines]})
    return out


def _cut_and_redacted(want: str, got: str) -> bool:
    """The product's text is the reference's with credentials as <SECRET> and cut at 2,000
    characters."""
    if any(x in got for x in SECRETS) or len(got) > 2000 + len(" [cut at 2000 characters]"):
        return False
    # the reference's texts are the miner's and the buckets' (since 2026-12-07 redacted
    # where they are made: templates as they are mined, examples as they are kept)
    if any(x in want for x in SECRETS) or "<SECRET>" in want:
        logs_reached["secret redacted"] += 1
        return "<SECRET>" in got
    if len(want) > 2000:
        logs_reached["template cut"] += 1
        return got.startswith(want[:1000])
    return want == got


def check_logs(seed: int) -> None:
    from anomaly_gan.logs.counts import NEW_OVERFLOW, BucketRow

    rng = random.Random(seed)
    model = logs_model(rng.choice([0, 1, 2, 5]))
    entities = ["api", "db"]
    known = sorted({t for t in model.template_ids} | set(range(1, 8)))
    model.template_means = {e: {t: rng.choice([0.0, 0.1, 1.0, 2.5, 7.0])
                                for t in rng.sample(known, rng.randint(0, len(known)))}
                            for e in [*entities, ALL]}
    new_keys = [model.classify(line)[1] for line in NEW_LINES] + [NEW_OVERFLOW, ("new", 999)]
    entity = rng.choice([*entities, "batch-7"])
    logs_reached["unknown entity"] += int(entity == "batch-7")
    rows = []
    for b in range(rng.randint(1, 4)):
        detail: dict[Any, list] = {}
        for key in rng.sample([("known", t) for t in known] + new_keys, rng.randint(0, 6)):
            count = rng.choice([1, 1, 2, 3, 10])
            text = model.template_text(key)
            lines = [f"{text[:100]} #{b}.{i}" for i in range(min(count, 3))]  # cut: see buckets
            detail[key] = [count, lines]
            logs_reached["examples capped"] += int(len(lines) > model.cfg.example_lines)
        rows.append(BucketRow(entity, 10.0 * b, 10.0 * (b + 1), np.zeros(len(model.feature_names)),
                              detail))
    limit = rng.randint(1, 6)
    want = reference_templates(model, rows, limit)
    got = model.explain(rows, limit)

    def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
        return (a.keys() == b.keys() and _cut_and_redacted(a["template"], b["template"])
                and all(a[k] == b[k] for k in ("feature", "observed", "expected"))
                and len(a["examples"]) == len(b["examples"])
                and all(_cut_and_redacted(x, y) for x, y in zip(a["examples"], b["examples"],
                                                                strict=True)))

    at, lines = first_difference(want, got, same)
    assert at == len(want) == len(got), "\n".join([f"templates, entry {at}:", *lines])
    rec = alert_records(
        fired=[(len(rows) - 1, 1, None)], resolved=[], entities=[entity] * len(rows),
        starts=[r.start_ts for r in rows], ends=[r.end_ts for r in rows],
        res=_LogScores(len(rows), [model.feature_names[:3]] * len(rows)),
        feature_values=[None], model_version="v1", model_kind="ganomaly", normal_windows=0)[0]
    rec["templates"] = got  # as the publisher adds them
    errors = sorted(VALIDATOR.iter_errors(rec), key=str)
    assert not errors, f"logs alert breaks the schema: {errors[0]}"
    json.loads(dumps(rec))
    logs_reached["logs alert validated"] += 1


class _LogScores:
    """The scores of a logs model's windows, as alert_records reads them."""

    def __init__(self, n: int, top: list[Any]) -> None:
        self.score = np.full(n, 3.0)
        self.threshold = 1.0
        self.severity = np.full(n, 99.0)
        self.components = {"reconstruction": np.full(n, 3.0)}
        self.top_features = [list(t) for t in top]


@pytest.mark.parametrize("seeds", seed_blocks(SEED_START, max(SEEDS // 2, 1)), ids=block_id)
def test_log_alert_templates_follow_the_docs(seeds):
    each_seed(seeds, check_logs)


def test_every_logs_rule_is_reached():
    assert_every_rule_reached(LOGS_RULES, check_logs,
                              range(SEED_START, SEED_START + min(SEEDS, 100)), logs_reached)
