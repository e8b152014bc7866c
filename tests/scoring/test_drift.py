"""PSI against reference histograms (pure)."""

import math

import numpy as np
import pytest

from anomaly_gan.scoring.drift import bin_index, psi, reference_histogram


def test_psi_matches_a_hand_computed_value():
    # Reference 25/25/25/25 %, live 10/20/30/40 %:
    # (.1-.25)ln(.1/.25) + (.2-.25)ln(.2/.25) + (.3-.25)ln(.3/.25) + (.4-.25)ln(.4/.25)
    by_hand = (0.15 * math.log(2.5) + 0.05 * math.log(1.25) + 0.05 * math.log(1.2)
               + 0.15 * math.log(1.6))
    assert psi([0.25] * 4, [10, 20, 30, 40]) == pytest.approx(by_hand, rel=1e-12)
    assert by_hand == pytest.approx(0.2282, abs=1e-4)


def test_psi_of_known_distributions_through_the_histograms():
    rng = np.random.default_rng(0)
    ref = reference_histogram(rng.normal(size=200_000))
    same = np.bincount(bin_index(rng.normal(size=200_000), np.array(ref["edges"])),
                       minlength=len(ref["fractions"]))
    assert psi(ref["fractions"], same) < 0.001
    # N(0,1) deciles vs N(0.5,1): each bin share by the normal CDF, the PSI by its formula.
    from scipy.stats import norm

    edges = np.array(ref["edges"])
    cdf = norm.cdf(np.concatenate([edges, [np.inf]]) - 0.5)
    shifted_share = np.diff(np.concatenate([[0.0], cdf]))
    ref_share = np.array(ref["fractions"])
    expected = float(np.sum((shifted_share - ref_share) * np.log(shifted_share / ref_share)))
    live = np.bincount(bin_index(rng.normal(0.5, 1, size=400_000), edges), minlength=10)
    assert psi(ref_share, live) == pytest.approx(expected, rel=0.03)
    assert 0.2 < expected < 0.3


def test_empty_bins_are_floored_and_no_counts_is_nan():
    assert math.isfinite(psi([0.5, 0.5], [100, 0]))
    assert math.isnan(psi([0.5, 0.5], [0, 0]))


def test_constant_reference_has_one_edge_and_outliers_land_in_outer_bins():
    h = reference_histogram(np.full(100, 3.0))
    assert h["edges"] == [3.0] and h["fractions"] == [1.0, 0.0]
    assert bin_index(np.array([-1e9, 3.0, 1e9]), np.array(h["edges"])).tolist() == [0, 0, 1]


def test_moved_features_names_only_the_shifted_ones_most_moved_first():
    from anomaly_gan.scoring.drift import moved_features, reference_histograms

    rng = np.random.default_rng(0)
    base = rng.normal(size=(2000, 3))
    ref = reference_histograms(base, ["a", "b", "c"], np.zeros(1))
    live = rng.normal(size=(500, 3)) + np.array([0.0, 3.0, 1.0])
    moved = moved_features(live, ref, ["a", "b", "c"])
    assert [n for n, _ in moved] == ["b", "c"]
    assert moved[0][1] > moved[1][1] > 0.25
    assert moved_features(live, None, ["a", "b", "c"]) == []  # a bundle without a reference
    live[:10, 1] = np.nan  # gaps are not counted as a bin
    assert [n for n, _ in moved_features(live, ref, ["a", "b", "c"])] == ["b", "c"]
