"""Training learns: the network and loss that ``train.py`` compiles separate a trivial set.

The end-to-end training tests check run folders; this one checks that
something is learnt. Slices of a 30 HU "brain" with or without a 75 HU blob
(labels: bleed / no bleed for every class) are trivially separable: a model
that uses the image drives the weighted log loss far below what the base
rates alone allow (ln 2 for a 50 / 50 set), and a frozen, inverted
or label-shuffled training cannot.
"""

import math

import numpy as np
import pytest

from cranioscan.labels import CLASSES
from cranioscan.preprocess import to_model_input

from suite_support import TINY


def separable_set(n=32, size=64, seed=0):
    """``(inputs, labels)``: half the slices hold a blob, placed at random."""
    rng = np.random.default_rng(seed)
    rr, cc = np.mgrid[:size, :size]
    head = ((rr - size / 2) ** 2 + (cc - size / 2) ** 2) < (0.42 * size) ** 2
    hu = np.where(head, 30.0, -1000.0)[None].repeat(n, 0) + rng.normal(0, 3, (n, size, size))
    bleed = np.arange(n) % 2 == 1
    for k in np.flatnonzero(bleed):
        r, c = rng.integers(int(0.3 * size), int(0.7 * size), 2)
        hu[k][(rr - r) ** 2 + (cc - c) ** 2 < (0.1 * size) ** 2] = 75.0
    labels = np.repeat(bleed[:, None], len(CLASSES), axis=1).astype(np.float32)
    return to_model_input(hu.astype(np.float32), size), labels


@pytest.mark.slow  # about 50 CPU s: 48 optimizer steps of the tiny R50 hybrid
def test_the_compiled_network_learns_a_trivially_separable_set():
    import keras

    from cranioscan.net.model import build_model
    from cranioscan.train import losses

    keras.utils.set_random_seed(0)
    x, y = separable_set()
    net = losses.compile_model(build_model(**TINY), learning_rate=1e-3)
    history = net.fit(x, y, batch_size=8, epochs=12, shuffle=True, verbose=0).history["loss"]
    base_rates_only = math.log(2)  # the weighted mean over classes, each 50 / 50
    assert history[0] > 0.6 * base_rates_only, history  # it starts knowing nothing
    assert min(history[-3:]) < 0.35 * base_rates_only, history  # and learns the blob
