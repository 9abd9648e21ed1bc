"""The statistics intervals at their edges: Wilson, the two bootstraps, the choice between them.

Written for the mutation score (issue 29, item 5; docs/testing.md, "Mutation
score"). Wilson values are the textbook formula worked by hand. The bootstrap
intervals are checked against a reference written here from their
docstrings -- draw as many units (studies, or slices) as there are, with
replacement, from ``numpy.random.default_rng(seed).integers``; AUC by
scikit-learn with the draw counts as sample weights; replicates with one
label value skipped; NaN when fewer than half the replicates (at least one)
define an AUC; the ``alpha / 2`` and ``1 - alpha / 2`` percentiles -- so
they share the random stream with the code under test, not its arithmetic.
"""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from cranioscan.evaluation.heldout import fraction_interval
from cranioscan.evaluation.metrics import (bootstrap_auc_ci, bootstrap_fraction_ci,
                                           proportion_ci, wilson_interval)


def reference_auc_ci(y, p, n_boot, alpha, seed, groups=None):
    y, p = np.asarray(y, float), np.asarray(p, float)
    units = np.arange(len(y)) if groups is None else np.unique(groups, return_inverse=True)[1]
    n_units = len(set(units.tolist()))
    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        drawn = rng.integers(0, n_units, n_units)
        weight = np.array([np.count_nonzero(drawn == u) for u in units], float)
        if weight[y == 1].sum() > 0 and weight[y == 0].sum() > 0:
            aucs.append(roc_auc_score(y, p, sample_weight=weight))
    if len(aucs) < max(1, n_boot // 2):
        return (math.nan, math.nan)
    return tuple(np.percentile(aucs, [100 * alpha / 2, 100 * (1 - alpha / 2)]))


def reference_fraction_ci(hits, groups, n_boot, alpha, seed):
    hits = np.asarray(hits, float)
    ids = sorted(set(groups))
    sums = [sum(h for h, g in zip(hits, groups) if g == i) for i in ids]
    sizes = [sum(1 for g in groups if g == i) for i in ids]
    draws = np.random.default_rng(seed).integers(0, len(ids), size=(n_boot, len(ids)))
    fractions = [sum(sums[d] for d in row) / sum(sizes[d] for d in row) for row in draws]
    return tuple(np.percentile(fractions, [100 * alpha / 2, 100 * (1 - alpha / 2)]))


def same(a, b):
    return all((math.isnan(x) and math.isnan(y)) or x == pytest.approx(y, abs=1e-12)
               for x, y in zip(a, b))


def test_auc_bootstrap_matches_the_reference():
    rng = np.random.default_rng(5)
    y = np.array([0, 1] * 15)
    p = np.clip(y * 0.3 + rng.normal(0.4, 0.2, 30), 0, 1)
    for alpha in (0.05, 0.3):
        assert same(bootstrap_auc_ci(y, p, n_boot=200, alpha=alpha, seed=4),
                    reference_auc_ci(y, p, 200, alpha, 4))
    groups = np.repeat(np.arange(10), 3)
    assert same(bootstrap_auc_ci(y, p, n_boot=200, seed=2, groups=groups),
                reference_auc_ci(y, p, 200, 0.05, 2, groups))
    # the defaults: 1000 replicates, alpha 0.05, seed 0
    assert bootstrap_auc_ci(y, p) == bootstrap_auc_ci(y, p, n_boot=1000, alpha=0.05, seed=0)


def test_auc_bootstrap_needs_half_the_replicates():
    # two studies, one all positive, one all negative: a replicate defines an AUC
    # only when it draws both (probability 1/2), so small n_boot sit on the edge
    y, p, groups = [1, 1, 0, 0], [0.9, 0.6, 0.4, 0.1], ["a", "a", "b", "b"]
    for n_boot in (1, 2, 3, 4, 5, 6):
        for seed in range(12):
            assert same(bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed, groups=groups),
                        reference_auc_ci(y, p, n_boot, 0.05, seed, groups)), (n_boot, seed)


def test_auc_bootstrap_rejects_bad_arguments_by_name():
    y, p = [0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8]
    for alpha in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            bootstrap_auc_ci(y, p, alpha=alpha)
    with pytest.raises(ValueError, match="n_boot must be at least 1, got 0"):
        bootstrap_auc_ci(y, p, n_boot=0)
    assert bootstrap_auc_ci(y, p, n_boot=1) == (1.0, 1.0)  # separated: every AUC is 1


def test_fraction_bootstrap_matches_the_reference():
    hits = [True, False, True, True, False, False, True, False, True, True]
    groups = ["s1", "s1", "s2", "s2", "s2", "s3", "s3", "s4", "s5", "s5"]
    for alpha in (0.05, 0.4):
        assert same(bootstrap_fraction_ci(hits, groups, n_boot=300, alpha=alpha, seed=9),
                    reference_fraction_ci(hits, groups, 300, alpha, 9))
    assert bootstrap_fraction_ci(hits, groups) == bootstrap_fraction_ci(
        hits, groups, n_boot=1000, alpha=0.05, seed=0)
    assert same(bootstrap_fraction_ci(hits, groups), reference_fraction_ci(hits, groups, 1000,
                                                                           0.05, 0))


def test_fraction_bootstrap_defaults_on_many_studies():
    # 40 studies of 1 to 9 slices: the resampled fractions are nearly all distinct, so
    # the percentiles move with the number of replicates
    rng = np.random.default_rng(11)
    groups = [s for s in range(40) for _ in range(int(rng.integers(1, 10)))]
    hits = (rng.random(len(groups)) < 0.4).tolist()
    expected = reference_fraction_ci(hits, groups, 1000, 0.05, 0)
    assert same(bootstrap_fraction_ci(hits, groups), expected)
    assert same(proportion_ci(hits, groups)[:2], expected)


def test_fraction_bootstrap_edges():
    assert bootstrap_fraction_ci([True], ["a"]) == (1.0, 1.0)  # one slice is a fraction
    with pytest.raises(ValueError, match=r"must be the same \(n,\) shape"):
        bootstrap_fraction_ci([True, False], [1, 2, 3])
    with pytest.raises(ValueError, match=r"must be the same \(n,\) shape"):
        bootstrap_fraction_ci([[True]], [[1]])
    for alpha in (0.0, 1.0, 2.0):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            bootstrap_fraction_ci([True, False], [1, 2], alpha=alpha)


def test_wilson_by_hand():
    # 1 of 1: z = 1.959964, denominator 1 + z^2 = 4.84146, centre (1 + z^2 / 2) / 4.84146
    # = 0.60330, half-width z * (z / 2) / 4.84146 = 0.39670: 0.2066 to 1
    low, high = wilson_interval(1, 1)
    assert low == pytest.approx(0.2066, abs=1e-4) and high == 1.0
    # 0 of 1: the mirror image
    assert wilson_interval(0, 1) == (0.0, pytest.approx(0.7934, abs=1e-4))
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    # alpha 0.5: z = 0.674490; 5 of 10: centre 0.5, half 0.674490 * sqrt(0.025 + 0.0011373)
    # / 1.0454936 = 0.10430
    assert wilson_interval(5, 10, alpha=0.5) == pytest.approx((0.39570, 0.60430), abs=1e-4)


def test_wilson_rejects_bad_arguments_by_name():
    for k, n in [(3, 2), (-1, 4), (0, -1)]:
        with pytest.raises(ValueError, match=r"need 0 <= k <= n"):
            wilson_interval(k, n)
    for alpha in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=r"alpha must be in \(0, 1\)"):
            wilson_interval(1, 2, alpha=alpha)


def test_proportion_ci_chooses_and_names_its_method():
    assert proportion_ci([True]) == (pytest.approx(0.2066, abs=1e-4), 1.0,
                                     "Wilson score interval on 1 slice")
    assert proportion_ci([True, False])[2] == "Wilson score interval on 2 slices"
    low, high, method = proportion_ci([])
    assert math.isnan(low) and math.isnan(high) and method == "no slices"
    # exactly 20 studies, hits and misses: the bootstrap
    groups = [s for s in range(20) for _ in range(3)]
    hits = [s % 4 == 0 for s in groups]
    assert proportion_ci(hits, groups)[2] == "bootstrap over 20 studies"
    assert proportion_ci(hits, groups)[:2] == bootstrap_fraction_ci(hits, groups)
    # one hit, or one miss, among 60 slices of 20 studies: still hits and misses
    one_hit = [i == 0 for i in range(60)]
    assert proportion_ci(one_hit, groups)[2] == "bootstrap over 20 studies"
    assert proportion_ci([not h for h in one_hit], groups)[2] == "bootstrap over 20 studies"
    # all hits: the Wilson interval, whatever the studies
    assert proportion_ci([True] * 60, groups)[2] == "Wilson score interval on 60 slices"
    assert proportion_ci([False] * 60, groups)[2] == "Wilson score interval on 60 slices"
    assert proportion_ci(hits, groups[:-3] + [0, 0, 0])[2] == "Wilson score interval on 60 slices"


def test_proportion_ci_passes_its_settings_on():
    groups = [s for s in range(25) for _ in range(2)]
    hits = [s % 3 == 0 for s in groups]
    got = proportion_ci(hits, groups, alpha=0.4, n_boot=150, seed=6)
    assert got[:2] == bootstrap_fraction_ci(hits, groups, n_boot=150, alpha=0.4, seed=6)
    assert proportion_ci(hits, groups)[:2] == bootstrap_fraction_ci(hits, groups, n_boot=1000,
                                                                    alpha=0.05, seed=0)
    # Wilson at alpha 0.5, 5 of 10 (worked above)
    assert proportion_ci([True] * 5 + [False] * 5, alpha=0.5)[:2] == pytest.approx(
        (0.39570, 0.60430), abs=1e-4)


def test_proportion_ci_rejects_bad_shapes_by_name():
    with pytest.raises(ValueError, match=r"hits must be 1-D, got shape \(1, 2\)"):
        proportion_ci([[True, False]])
    with pytest.raises(ValueError, match=r"hits \(2,\) and groups \(3,\) must be the same "
                                         r"\(n,\) shape"):
        proportion_ci([True, False], [1, 2, 3])


def test_fraction_interval_uses_the_studies():
    studies = [s for s in range(30) for _ in range(2)]
    hits = [s % 3 == 0 for s in studies]
    out = fraction_interval(hits, studies)
    assert out["ci95_method"] == "bootstrap over 30 studies"
    assert out["ci95"] == list(bootstrap_fraction_ci(hits, studies))
    assert fraction_interval([], []) == {"ci95": None, "ci95_method": "no slices"}
