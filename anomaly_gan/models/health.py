"""GAN training health: pure functions over the per-epoch history and a final batch.

A GAN can "finish" training and still be useless as an anomaly detector. These checks turn the
three failures seen most often into named issues that ``train.py`` can refuse (or, with
``training.allow_unhealthy``, merely report):

- **non-finite losses**: any NaN/inf in the history (training is also stopped at once by
  :class:`anomaly_gan.models.training.StopOnNonFinite`).
- **discriminator collapse**: the discriminator's loss sits near 0 for the last epochs while the
  generator's adversarial loss grows: D wins outright and stops giving G a useful gradient.
- **mode collapse**: G emits (nearly) the same window whatever the input. For reconstructions
  it is measured against a trivial predictor, each feature's training mean
  (:func:`reconstruction_skill`, the share of the held-out variance around it that the
  reconstructions explain): a generator that ignores its input can do no better than
  that. The comparison sums over features, so each counts by how much it moves: one moving
  telemetry channel beside many mostly-constant flags counts for what it is ("outputs vary
  less than the data" was true of healthy models too, whose best guess for a rare flag is
  near its constant value). Unpaired generated samples (f-AnoGAN's G(z)) keep the across-sample
  variance ratio.

  The check asks for structure that a model *can* learn. A series whose only movement is
  unpredictable (a channel stuck at one value but for rare isolated blips, beside command
  flags set at random) has none: the best any reconstruction can do there is the constant
  window, so a low skill says nothing about a collapse, and three attempts used to end in
  exit 3. :func:`linear_skill`, the skill of a rank-:data:`LINEAR_RANK` linear reconstruction
  (PCA of the training windows) on the same held-out windows, measures what there is to
  learn, above what the same linear reconstruction explains by chance
  (:func:`chance_skill`: each feature's values shuffled, so that nothing links one row to
  the next or one feature to another). A rank-16 projection of 32-row windows of a single
  noisy channel keeps about half of any window's variance whatever the data, so the linear
  skill alone called a setpoint sitting still under white noise (a short baseline that
  never saw the setpoint move) learnable, and the model that could not beat the constant
  window there was refused three times. Where the linear skill's excess over chance,
  ``(linear - chance) / (1 - chance)``, is below :data:`MIN_RECONSTRUCTION_SKILL` the skill
  is reported and not judged; from there the model must reach the smaller of
  :data:`MIN_RECONSTRUCTION_SKILL` and :data:`LINEAR_SHARE` of that excess (real
  telemetry channels have a linear skill of 0.6-0.85 and a chance skill near 0, where the
  minimum stays 0.1). Half of the raw linear skill counted the chance part as structure:
  one sine beside 54 command flags set at random (5,000 rows) has a linear skill of 0.195,
  0.087 of it by chance, and a model that reconstructed the sine (skill 0.97 on that
  feature, 0.085 overall) was called collapsed against a minimum of 0.097 and trained
  twice; half the excess is 0.059.

  The same skill on a sample of *training* windows tells the two ways of failing apart: a
  generator that ignores its input fails both, one that fits what it saw and does not
  generalise passes the training windows. That case is reported as **overfitting** (a
  200-sensor series of 17 unrelated cycles: 0.96 of the training windows' variance
  explained, -0.05 of the held-out windows'), not as a collapse.

- **skipped updates**: under ``mixed_float16`` each optimizer's ``LossScaleOptimizer`` skips
  an update whose float16 gradients overflowed and halves its scale. A few skips are how the
  scale finds its level (from 2**15, and once after each doubling every 2,000 finite steps):
  21 of 2,000 in one run at the default step floor. An optimizer that skipped more than
  :data:`MAX_SKIPPED_SHARE` of its updates, and more than :data:`SKIPPED_GRACE` of them,
  trained on far fewer steps than planned: its gradients overflow whatever the scale, as
  they do when float16 overflows in the forward pass (:func:`skipped_updates`). Other
  precisions skip nothing; every optimizer's count is reported (``skipped_updates``).

Everything returned is JSON-able (non-finite figures become ``None``).

>>> h = assess_health({"d_loss": [0.7, 0.6], "adv_loss": [0.1, 0.1]}, disc_loss_key="d_loss",
...                   adv_loss_key="adv_loss")
>>> h["status"], h["issues"]
('healthy', [])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from anomaly_gan.data.windows import evenly_spaced

__all__ = [
    "COLLAPSE_EPOCHS",
    "COLLAPSE_LOSS",
    "LINEAR_RANK",
    "LINEAR_SHARE",
    "MAX_SKIPPED_SHARE",
    "MIN_RECONSTRUCTION_SKILL",
    "MIN_VARIANCE_RATIO",
    "SKIPPED_GRACE",
    "assess_health",
    "chance_skill",
    "discriminator_collapse",
    "linear_skill",
    "mode_collapse",
    "non_finite_losses",
    "reconstruction_skill",
    "skipped_updates",
    "variance_ratio",
]

COLLAPSE_LOSS = 1e-3
"""A BCE discriminator loss below this means D separates real from fake (almost) perfectly."""
COLLAPSE_EPOCHS = 3
"""How many final epochs the discriminator loss must stay collapsed (fewer if fewer ran)."""
MIN_VARIANCE_RATIO = 0.05
"""Generated/real across-sample variance below this is called mode collapse."""
MIN_RECONSTRUCTION_SKILL = 0.1
"""Reconstructions must explain at least this share of the data's variance."""
LINEAR_RANK = 16
"""Rank of the linear reconstruction that measures how much structure there is to learn
(the default latent size)."""
LINEAR_SHARE = 0.5
"""Where a linear reconstruction explains little, a model must explain this share of it."""
MAX_SKIPPED_SHARE = 0.1
"""An optimizer whose loss scaler skipped more than this share of its updates is unhealthy."""
SKIPPED_GRACE = 16
"""Skips that never count against health: halving the initial loss scale 2**15 to 1."""
_LINEAR_WINDOWS = 1024  # training windows (evenly spaced) the linear reconstruction is fitted on


def _json_float(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


def non_finite_losses(history: Mapping[str, Sequence[float]]) -> list[str]:
    """Names of history entries that contain a NaN or an infinity, sorted."""
    return sorted(k for k, values in history.items()
                  if any(not math.isfinite(float(v)) for v in values))


def discriminator_collapse(disc_loss: Sequence[float], adv_loss: Sequence[float],
                           threshold: float = COLLAPSE_LOSS,
                           epochs: int = COLLAPSE_EPOCHS) -> bool:
    """True when D's loss stayed below ``threshold`` for the last ``epochs`` epochs while the
    generator's adversarial loss grew over the run.

    Both conditions are required: a tiny D loss alone also happens briefly in healthy runs, and
    a growing adversarial loss alone is normal early on.

    >>> discriminator_collapse([0.5, 1e-4, 1e-5, 1e-6], [0.1, 0.5, 1.0, 2.0])
    True
    >>> discriminator_collapse([0.7, 0.6, 0.65, 0.6], [0.1, 0.5, 1.0, 2.0])
    False
    """
    if not disc_loss or not adv_loss:
        return False
    tail = list(disc_loss)[-epochs:]
    if not all(math.isfinite(v) and v < threshold for v in tail):
        return False
    adv = [float(v) for v in adv_loss]
    return len(adv) >= 2 and math.isfinite(adv[-1]) and adv[-1] > adv[0]


def variance_ratio(generated: np.ndarray, reference: np.ndarray) -> float:
    """Mean across-sample variance of ``generated`` over that of ``reference``.

    Variance is taken over the sample axis for every (time, feature) cell, then averaged, so a
    generator that emits one fixed window scores ~0 however varied that window is in time.
    Returns ``inf`` when the reference itself is constant (nothing to compare against) and
    ``nan`` when the generated batch is not finite.
    """
    gen = np.asarray(generated, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    if gen.shape[0] < 2 or ref.shape[0] < 2:
        return float("inf")
    if not np.all(np.isfinite(gen)):
        return float("nan")
    ref_var = float(np.mean(np.var(ref, axis=0)))
    gen_var = float(np.mean(np.var(gen, axis=0)))
    if ref_var <= 0.0:
        return float("inf")
    return gen_var / ref_var


def reconstruction_skill(reconstruction: np.ndarray, reference: np.ndarray,
                         baseline: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """How much better than a constant window, each feature at its ``baseline`` level, the
    reconstructions of ``reference`` are.

    ``baseline`` is what a generator that ignores its input converges to: each feature's
    mean over the *training* windows. Left out, it is the mean of ``reference`` itself, an
    oracle that knows the held-out level: held-out data that drifted from the training part
    (a short series whose last fifth moves differently) would then fail a model for the
    shift, not for ignoring its input.

    Returns ``(skill, per_feature)``: ``per_feature[f] = 1 - SSE_f(model) / SSE_f(baseline)``
    (NaN where the feature sits at its baseline throughout) and the overall skill
    ``1 - sum_f SSE_f(model) / sum_f SSE_f(baseline)``, each feature weighted by how much it
    moves. 1 is perfect, 0 is no better than a constant window, negative is worse. Squared
    errors against a mean, so a model trained with either reconstruction loss is judged
    fairly (an L1 criterion against the median marked healthy L2-trained models negative on
    sparse 0/1 flags, whose L2 best guess is their small mean). ``inf`` when no feature moves
    (nothing to learn), ``nan`` when the reconstructions are not finite.

    >>> ref = np.stack([np.full((4, 2), v) for v in (0.0, 1.0, 2.0, 3.0)])
    >>> float(reconstruction_skill(ref, ref)[0]), float(reconstruction_skill(ref * 0 + 1.5, ref)[0])
    (1.0, 0.0)
    >>> shifted = ref + 10.0  # held-out data 10 above the training level, tracked to 0.5
    >>> float(reconstruction_skill(shifted - 0.5, shifted, baseline=np.full(2, 1.5))[0]) > 0.9
    True
    """
    rec = np.asarray(reconstruction, dtype=np.float64)
    ref = np.asarray(reference, dtype=np.float64)
    flat_ref = ref.reshape(-1, ref.shape[-1])
    level = flat_ref.mean(axis=0) if baseline is None else np.asarray(baseline, np.float64)
    trivial = np.square(flat_ref - level).mean(axis=0)
    if rec.shape != ref.shape or not np.all(np.isfinite(rec)):
        return float("nan"), np.full(ref.shape[-1], np.nan)
    model = np.square(rec - ref).reshape(-1, ref.shape[-1]).mean(axis=0)
    moving = trivial > 1e-12
    per_feature = np.full(ref.shape[-1], np.nan)
    per_feature[moving] = 1.0 - model[moving] / trivial[moving]
    if not moving.any():
        return float("inf"), per_feature
    return float(1.0 - model[moving].sum() / trivial[moving].sum()), per_feature


def _linear_sample(train: np.ndarray) -> np.ndarray:
    """The training windows a linear reconstruction is fitted on: at most 1,024, evenly spaced."""
    return evenly_spaced(train, _LINEAR_WINDOWS)


def _principal_axes(centred: np.ndarray, rank: int) -> np.ndarray | None:
    """The top ``rank`` right singular vectors of ``centred``, or ``None`` where no SVD
    converges.

    LAPACK's default driver (divide and conquer, ``gesdd``) can fail to converge. Found on
    a NASA channel at window 64: 1,024 windows of 64 x 25, 652 of the 1,600 columns
    constant. The slower QR-iteration driver (``gesvd``) is the fallback. A health check
    must not end a training run, so ``None`` means "skill not known".

    >>> x = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 0.1], [0.0, -0.1]])
    >>> np.abs(_principal_axes(x, 1)).round(3)
    array([[1., 0.]])
    """
    try:
        return np.linalg.svd(centred, full_matrices=False)[2][:rank]
    except np.linalg.LinAlgError:
        pass
    from scipy.linalg import LinAlgError, svd

    try:
        return svd(centred, full_matrices=False, lapack_driver="gesvd")[2][:rank]
    except (LinAlgError, ValueError):
        return None


def linear_skill(train: np.ndarray, reference: np.ndarray, baseline: np.ndarray | None = None,
                 rank: int = LINEAR_RANK) -> float:
    """:func:`reconstruction_skill` of a rank-``rank`` linear reconstruction of ``reference``:
    the principal components of the flattened ``train`` windows (at most 1,024 of them,
    evenly spaced). It says how much of the held-out variance a model *can* explain with a
    small code: near 1 for a smooth periodic signal, near 0 for isolated random events.
    ``nan`` where the windows are not finite or no SVD converges (:func:`_principal_axes`);
    the health check then judges against the plain minimum.

    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(16)[None, :, None] + rng.uniform(0, 9, (200, 1, 1))
    >>> waves = np.concatenate([np.sin(0.5 * t), np.cos(0.5 * t)], axis=2)
    >>> round(linear_skill(waves[:150], waves[150:], rank=4), 3)
    1.0
    >>> blips = (rng.random((200, 32, 8)) < 0.02).astype(float)
    >>> linear_skill(blips[:150], blips[150:], rank=4) < 0.1
    True
    """
    tr = _linear_sample(np.asarray(train, dtype=np.float64))
    ref = np.asarray(reference, dtype=np.float64)
    flat = tr.reshape(len(tr), -1)
    mean = flat.mean(axis=0)
    if not (np.all(np.isfinite(flat)) and np.all(np.isfinite(ref))):
        return float("nan")
    basis = _principal_axes(flat - mean, max(1, int(rank)))
    if basis is None:
        return float("nan")
    centred = ref.reshape(len(ref), -1) - mean
    rec = (centred @ basis.T @ basis + mean).reshape(ref.shape)
    return reconstruction_skill(rec, ref, baseline)[0]


def chance_skill(train: np.ndarray, reference: np.ndarray, baseline: np.ndarray | None = None,
                 rank: int = LINEAR_RANK, seed: int = 0) -> float:
    """:func:`linear_skill` with each feature's values shuffled across all windows and rows
    of ``train`` and of ``reference`` (seeded): what a rank-``rank`` linear reconstruction
    explains when there is nothing to learn, only each feature's spread of values. About
    ``rank / (rows x features)`` for noise of equal spread; more where a few features carry
    most of the variance.

    >>> rng = np.random.default_rng(1)
    >>> noise = rng.normal(size=(400, 32, 1))  # one channel of white noise
    >>> round(chance_skill(noise[:300], noise[300:]), 1), round(linear_skill(noise[:300], noise[300:]), 1)
    (0.5, 0.5)
    """
    rng = np.random.default_rng(seed)

    def shuffled(windows: np.ndarray) -> np.ndarray:
        cells = np.array(windows, dtype=np.float64).reshape(-1, windows.shape[-1])
        for f in range(cells.shape[1]):
            cells[:, f] = cells[rng.permutation(len(cells)), f]
        return cells.reshape(windows.shape)

    # Shuffle only the windows the linear reconstruction keeps (up to 20,000 are passed in).
    return linear_skill(shuffled(_linear_sample(np.asarray(train))), shuffled(np.asarray(reference)),
                        baseline, rank)


def skipped_updates(updates: Mapping[str, Mapping[str, int]],
                    max_share: float = MAX_SKIPPED_SHARE,
                    grace: int = SKIPPED_GRACE) -> list[str]:
    """One issue per optimizer (by name, sorted) whose loss scaler skipped more than
    ``max_share`` of its ``steps`` updates, and more than ``grace`` of them.

    ``updates`` maps an optimizer's name to ``{"steps": asked, "skipped": skipped}``.

    >>> skipped_updates({"generator": {"steps": 2000, "skipped": 21},
    ...                  "discriminator": {"steps": 2000, "skipped": 1400}})[0][:60]
    'loss scaling skipped 1400 of 2000 discriminator updates (70%'
    >>> skipped_updates({"generator": {"steps": 40, "skipped": 12}})  # start-up halvings
    []
    """
    issues = []
    for name, count in sorted(updates.items()):
        steps, skipped = int(count.get("steps", 0)), int(count.get("skipped", 0))
        if skipped > grace and skipped > max_share * steps:
            issues.append(
                f"loss scaling skipped {skipped} of {steps} {name} updates "
                f"({skipped / steps:.0%}, more than {max_share:.0%}): their float16 gradients "
                f"overflowed however far the scale was halved, so it trained on "
                f"{steps - skipped} updates")
    return issues


def mode_collapse(ratio: float, min_ratio: float = MIN_VARIANCE_RATIO) -> bool:
    """True when the variance ratio is below ``min_ratio`` (or not a number at all).

    >>> mode_collapse(0.001), mode_collapse(0.8), mode_collapse(float("inf"))
    (True, False, False)
    """
    return math.isnan(ratio) or ratio < min_ratio


def assess_health(history: Mapping[str, Sequence[float]], *,
                  disc_loss_key: str | None = None,
                  adv_loss_key: str | None = None,
                  samples: Mapping[str, np.ndarray] | None = None,
                  reference: np.ndarray | None = None,
                  baseline: np.ndarray | None = None,
                  train: np.ndarray | None = None,
                  fitted: tuple[np.ndarray, np.ndarray] | None = None,
                  updates: Mapping[str, Mapping[str, int]] | None = None,
                  collapse_loss: float = COLLAPSE_LOSS,
                  collapse_epochs: int = COLLAPSE_EPOCHS,
                  min_variance_ratio: float = MIN_VARIANCE_RATIO,
                  min_skill: float = MIN_RECONSTRUCTION_SKILL,
                  max_skipped_share: float = MAX_SKIPPED_SHARE) -> dict[str, Any]:
    """Run every check and return the JSON-able health report.

    ``disc_loss_key``/``adv_loss_key`` name the BCE discriminator loss and the generator's
    adversarial loss in ``history`` (leave ``None`` for a WGAN critic, whose loss has no
    "collapsed at 0" meaning). ``samples`` maps a name (e.g. ``"reconstruction"``,
    ``"generated"``) to a batch of windows compared with ``reference`` (real windows) for mode
    collapse. ``baseline`` is each feature's training mean, the constant window that
    reconstructions are judged against (:func:`reconstruction_skill`). ``train`` (training
    windows) sets the minimum skill from what a linear reconstruction can explain
    (:func:`linear_skill`; left out, the minimum is ``min_skill``). ``fitted`` is a sample
    of training windows and their reconstructions: where the held-out reconstructions fail
    the minimum but those pass it (and beat the held-out skill by the minimum), the model
    fits what it saw and does not generalise, which the issue says instead of "ignores its
    input". ``updates`` maps each optimizer to the updates its steps asked for and those its
    loss scaler skipped (:func:`skipped_updates`).

    The report has ``status`` ("healthy"/"unhealthy"), ``issues`` (one sentence each), the
    ``final_losses`` per history key, ``min_disc_loss``, ``variance_ratio`` per sample name and
    the thresholds used, and ``skipped_updates`` per optimizer.
    """
    issues: list[str] = []
    bad = non_finite_losses(history)
    if bad:
        issues.append(f"non-finite losses in {', '.join(bad)}; training was stopped")
    counts = {name: {"steps": int(c.get("steps", 0)), "skipped": int(c.get("skipped", 0))}
              for name, c in (updates or {}).items()}
    issues.extend(skipped_updates(counts, max_skipped_share))

    min_disc: float | None = None
    if disc_loss_key is not None and adv_loss_key is not None:
        disc = [float(v) for v in history.get(disc_loss_key, [])]
        adv = [float(v) for v in history.get(adv_loss_key, [])]
        finite = [v for v in disc if math.isfinite(v)]
        min_disc = min(finite) if finite else None
        if discriminator_collapse(disc, adv, collapse_loss, collapse_epochs):
            issues.append(
                f"discriminator collapse: {disc_loss_key} < {collapse_loss:g} for the last "
                f"{min(collapse_epochs, len(disc))} epochs while {adv_loss_key} grew from "
                f"{adv[0]:.4g} to {adv[-1]:.4g}"
            )

    ratios: dict[str, float | None] = {}
    skill_report: dict[str, Any] = {}
    # After non-finite losses the samples are NaN too, and their checks would only say so
    # again ("explain non-finite of the held-out data's variance").
    if samples is not None and reference is not None and not bad:
        for name, batch in samples.items():
            ratio = variance_ratio(batch, reference)
            ratios[name] = _json_float(ratio)  # reported for every batch, judged if unpaired
            if name == "reconstruction":
                skill, per_feature = reconstruction_skill(batch, reference, baseline)
                finite = per_feature[np.isfinite(per_feature)]
                linear = chance = float("nan")
                if train is not None:
                    linear = linear_skill(train, reference, baseline)
                    chance = chance_skill(train, reference, baseline)
                excess = ((linear - chance) / (1.0 - chance)
                          if math.isfinite(linear) and math.isfinite(chance) and chance < 1.0
                          else linear)
                # the same excess that decides whether to judge sets the bar: half of what a
                # linear map explains by chance is not structure a model could have learned
                required = (min_skill if not math.isfinite(excess)
                            else min(min_skill, LINEAR_SHARE * excess))
                judged = not (math.isfinite(excess) and excess < min_skill)
                skill_report = {
                    "overall": _json_float(skill) if not math.isinf(skill) else None,
                    "best_feature": _json_float(float(finite.max())) if finite.size else None,
                    "worst_feature": _json_float(float(finite.min())) if finite.size else None,
                    "moving_features": int(finite.size),
                    f"linear_rank{LINEAR_RANK}": (_json_float(linear) if not math.isinf(linear)
                                                  else None),
                    "linear_by_chance": _json_float(chance),
                    "required": _json_float(required) if judged else None,
                }
                fit_skill = float("nan")
                if fitted is not None:
                    fit_skill = reconstruction_skill(fitted[1], fitted[0], baseline)[0]
                    skill_report["training_windows"] = (_json_float(fit_skill)
                                                        if not math.isinf(fit_skill) else None)
                if judged and (math.isnan(skill) or skill < required):
                    shown = "non-finite" if math.isnan(skill) else f"{skill:.3g}"
                    linear_note = ("" if not math.isfinite(linear) else
                                   f"; a rank-{LINEAR_RANK} linear reconstruction explains "
                                   f"{linear:.3g}"
                                   + (f", {excess:.3g} of it above chance"
                                      if math.isfinite(chance) else ""))
                    # it passes on what it saw, and by a clear margin over the held-out part
                    overfit = (math.isfinite(fit_skill) and not math.isnan(skill)
                               and fit_skill >= max(required, skill + required))
                    cause = ("the generator ignores its input" if not overfit else
                             f"the same model explains {fit_skill:.3g} of the training "
                             f"windows': it fits what it saw and does not generalise (the "
                             f"held-out rows behave unlike the training rows, or the series "
                             f"is too short for what it holds)")
                    issues.append(
                        f"{'overfitting' if overfit else 'mode collapse'}: {name} windows "
                        f"explain {shown} of the held-out data's variance (minimum "
                        f"{required:.3g}{linear_note}): {cause}"
                    )
                continue
            if mode_collapse(ratio, min_variance_ratio):
                shown = "non-finite" if math.isnan(ratio) else f"{ratio:.4g}"
                issues.append(
                    f"mode collapse: {name} windows vary {shown}x as much across samples as "
                    f"the data (minimum {min_variance_ratio:g})"
                )

    return {
        "status": "unhealthy" if issues else "healthy",
        "issues": issues,
        "final_losses": {k: _json_float(float(v[-1])) if len(v) else None
                         for k, v in history.items()},
        "min_disc_loss": _json_float(min_disc),
        "variance_ratio": ratios,
        "reconstruction_skill": skill_report,
        "epochs": max((len(v) for v in history.values()), default=0),
        "skipped_updates": counts,
        "thresholds": {"collapse_loss": collapse_loss, "collapse_epochs": collapse_epochs,
                       "min_variance_ratio": min_variance_ratio,
                       "min_reconstruction_skill": min_skill,
                       "linear_share": LINEAR_SHARE,
                       "max_skipped_share": max_skipped_share,
                       "skipped_grace": SKIPPED_GRACE},
    }
