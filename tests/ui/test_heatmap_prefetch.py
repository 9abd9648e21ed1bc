"""Grad-CAM maps computed ahead for the neighbouring slices (``caches.prefetch_heatmaps``)."""

import numpy as np

from cranioscan import explain
from cranioscan.dicom import Series
from cranioscan.inference import Predictor
from cranioscan.ui import caches
from cranioscan.ui.state import ActiveCase


def test_prefetched_maps_equal_computed_ones_and_skip_slow_methods(tiny_model_dir):
    predictor = Predictor.load(tiny_model_dir / "best_model.keras")
    rng = np.random.default_rng(3)
    hu = rng.normal(30.0, 200.0, (4, 48, 48)).astype(np.float32)
    series = Series(hu=hu, positions=np.arange(4) * 5.0, spacing=(0.5, 0.5), slice_thickness=5.0,
                    slice_spacing=5.0, meta={})
    case = ActiveCase(key="prefetch-test", label="test", source="upload", series=series)
    layer = explain.default_layer(predictor)

    assert caches.prefetch_heatmaps(predictor, case, (1, 2, -1, 4), "any", layer, "gradcam++") == 2
    # slice 2 is queued, running or done: asked again, it is not queued a second time
    assert caches.prefetch_heatmaps(predictor, case, (2,), "any", layer, "gradcam++") == 0
    assert caches.prefetch_heatmaps(predictor, case, (1,), "any", layer, "scorecam") == 0
    key = (case.key, predictor.sha256, 2, "any", layer, "gradcam++")
    assert key in caches._prefetched
    ahead = caches.heatmap(predictor, case, 2, "any", layer, "gradcam++")
    direct = explain.gradcam(predictor, series, 2, "any", layer=layer, method="gradcam++")
    assert ahead.shape == (48, 48)
    np.testing.assert_allclose(ahead, direct, atol=1e-5)

    # a map drawn in the foreground is not computed again when it becomes a neighbour
    caches.heatmap(predictor, case, 3, "any", layer, "gradcam")
    assert caches.prefetch_heatmaps(predictor, case, (3,), "any", layer, "gradcam") == 0
