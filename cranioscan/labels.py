"""The six labels CranioScan predicts and the RSNA 2019 metric weights."""

__all__ = ["CLASSES", "SUBTYPES", "RSNA_WEIGHTS", "any_from_subtypes"]

import numpy as np

#: Label order used everywhere: model outputs, CSV columns, reports.
CLASSES = (
    "any",
    "epidural",
    "intraparenchymal",
    "intraventricular",
    "subarachnoid",
    "subdural",
)

#: The five hemorrhage subtypes (every class but ``any``).
SUBTYPES = CLASSES[1:]

#: Weights of the RSNA weighted multi-label log loss, in ``CLASSES`` order.
RSNA_WEIGHTS = (2.0, 1.0, 1.0, 1.0, 1.0, 1.0)


def any_from_subtypes(subtype_labels):
    """Return six-column labels with ``any`` derived from the subtypes.

    Args:
        subtype_labels: array-like ``(n, 5)`` of 0/1 in ``SUBTYPES`` order.

    Returns:
        uint8 ``(n, 6)`` in ``CLASSES`` order; ``any`` is 1 exactly when some
        subtype is 1.
    """
    sub = np.asarray(subtype_labels).astype(bool)
    if sub.ndim != 2 or sub.shape[1] != len(SUBTYPES):
        raise ValueError(f"expected shape (n, {len(SUBTYPES)}), got {sub.shape}")
    return np.concatenate([sub.any(axis=1, keepdims=True), sub], axis=1).astype(np.uint8)
