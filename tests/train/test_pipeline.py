"""Class-balanced sampling of training slices (cranioscan.train.pipeline)."""

import numpy as np
import pytest

from cranioscan.train.pipeline import (class_balance_weights, make_dataset, prior_shift_offsets,
                                 weighted_prevalence)


def _labels():
    # 100 slices, 3 classes: class 0 on 40 slices, class 1 on 10, class 2 on 4.
    labels = np.zeros((100, 3), dtype=np.uint8)
    labels[:40, 0] = 1
    labels[:10, 1] = 1
    labels[10:14, 2] = 1
    return labels


def test_weights_follow_the_class_frequencies():
    weights = class_balance_weights(_labels(), power=0.5)
    assert weights.shape == (100,)
    np.testing.assert_allclose(weights[:10], np.sqrt(0.40 / 0.10))  # class 1 (with class 0)
    np.testing.assert_allclose(weights[10:14], np.sqrt(0.40 / 0.04))  # rarest class wins
    np.testing.assert_allclose(weights[14:], 1.0)  # common class only, and negatives
    # power 0 is uniform; power 1 gives classes 1 and 2 the expected share of class 0.
    np.testing.assert_allclose(class_balance_weights(_labels(), power=0.0), 1.0)
    full = class_balance_weights(_labels(), power=1.0)
    np.testing.assert_allclose(full[:10].sum(), full[10:14].sum())


def test_weights_ignore_absent_classes_and_reject_negative_power():
    labels = _labels()
    labels[:, 2] = 0
    weights = class_balance_weights(labels, power=0.5)
    assert np.all(np.isfinite(weights)) and weights.min() == 1.0
    with pytest.raises(ValueError, match="power"):
        class_balance_weights(labels, power=-1)


def test_weighted_dataset_draws_rows_in_proportion():
    labels = _labels()
    images = np.arange(100, dtype=np.uint8)[:, None, None, None] * np.ones((1, 4, 4, 3), np.uint8)
    rows = np.arange(10, 60)  # a split: 4 class-2 slices among 50
    weights = class_balance_weights(labels[rows], power=1.0)
    ds = make_dataset(images, labels, rows, batch_size=50, repeat=True, weights=weights, seed=3)
    drawn = np.concatenate([np.round(x.numpy()[:, 0, 0, 0] * 255).astype(int)
                            for x, _ in ds.take(40)])
    assert set(drawn) <= set(rows)
    share = np.isin(drawn, np.arange(10, 14)).mean()
    expected = weights[:4].sum() / weights.sum()
    assert abs(share - expected) < 0.03 and share > 3 * 4 / 50
    with pytest.raises(ValueError, match="repeat"):
        make_dataset(images, labels, rows, weights=weights)
    with pytest.raises(ValueError, match="weights"):
        make_dataset(images, labels, rows, repeat=True, weights=weights[:5])


def test_prior_shift_offsets_undo_the_oversampling():
    labels = _labels()
    weights = class_balance_weights(labels, power=0.5)
    offsets = prior_shift_offsets(labels, weights)
    assert offsets.shape == (3,) and offsets.dtype == np.float32
    # A model calibrated to the drawn prevalence, shifted by the offsets,
    # reports the unweighted prevalence.
    drawn = weighted_prevalence(labels, weights)
    np.testing.assert_allclose(drawn, (weights[:, None] * labels).sum(axis=0) / weights.sum())
    logit = np.log(drawn) - np.log1p(-drawn) + offsets
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), labels.mean(axis=0), rtol=1e-5)
    assert np.all(offsets < 0)  # every class was drawn more often than it occurs
    np.testing.assert_allclose(prior_shift_offsets(labels, np.ones(100)), 0.0, atol=1e-7)
    labels[:, 2] = 0  # a class with no positive gets no offset
    assert prior_shift_offsets(labels, weights)[2] == 0.0
