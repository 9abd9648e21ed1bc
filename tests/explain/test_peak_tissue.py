"""Where a map's peak lies, in words: outside the head and on bone are misses
whatever the tolerance (issue 27, item 4)."""

import numpy as np

from cranioscan import explain
from cranioscan.explain.scoring import peak_place


def head_slice(size=64):
    """Air around a round head: 3 px of skull (1200 HU) around brain (35 HU)."""
    rows, cols = np.mgrid[:size, :size]
    radius = np.hypot(rows - size / 2, cols - size / 2)
    hu = np.full((size, size), -1000.0, dtype=np.float32)
    hu[radius < 26] = 1200.0
    hu[radius < 23] = 35.0
    # A subdural crescent against the inner table, on the right.
    lesion = (radius < 23) & (radius >= 20) & (cols > size / 2 + 10)
    hu[lesion] = 70.0
    return hu, lesion


def spike(shape, row, col):
    heat = np.zeros(shape, dtype=np.float32)
    heat[row, col] = 1.0
    return heat


def test_a_peak_on_the_skull_next_to_a_subdural_is_a_miss_whatever_the_tolerance():
    hu, lesion = head_slice()
    row, col = 32, 32 + 24  # in the skull, 1-2 mm from the crescent
    assert hu[row, col] >= 1000
    heat = spike(hu.shape, row, col)
    assert explain.peak_in_mask(heat, lesion, 1.0, dilate_mm=5.0)  # what the tolerance alone says
    assert not explain.peak_in_mask(heat, lesion, 1.0, dilate_mm=5.0, hu=hu)
    assert peak_place(heat, lesion, hu, 1.0, dilate_mm=5.0) == "bone"
    assert explain.peak_tissue(heat, hu) == "bone"
    assert explain.peak_note(heat, hu).startswith("The map's peak lies on bone (1200 HU)")


def test_a_peak_in_the_air_outside_the_head_is_a_miss_and_said_so():
    hu, lesion = head_slice()
    row, col = 32, 32 + 27  # just outside the skull, within 5 mm of the lesion
    heat = spike(hu.shape, row, col)
    assert explain.peak_in_mask(heat, lesion, 1.0, dilate_mm=5.0)
    assert not explain.peak_in_mask(heat, lesion, 1.0, dilate_mm=5.0, hu=hu)
    assert peak_place(heat, lesion, hu, 1.0, dilate_mm=5.0) == "air"
    assert explain.peak_tissue(heat, hu) == "outside the head"
    assert "outside the head" in explain.peak_note(heat, hu)


def test_a_peak_in_the_lesion_or_the_brain_has_no_warning():
    hu, lesion = head_slice()
    heat = spike(hu.shape, 32, 32 + 21)
    assert peak_place(heat, lesion, hu, 1.0) == "lesion"
    assert explain.peak_in_mask(heat, lesion, 1.0, hu=hu)
    assert explain.peak_note(heat, hu) is None
    heat = spike(hu.shape, 32, 20)
    assert peak_place(heat, lesion, hu, 1.0) == "soft tissue"
    assert explain.peak_tissue(heat, hu) == "inside the head" and explain.peak_note(heat, hu) is None
    assert explain.peak_tissue(np.zeros_like(hu), hu) is None
    # The ventricles and sinuses are holes inside the head, not outside it.
    hu[30:34, 30:34] = -900.0
    assert explain.head_mask(hu)[32, 32]
