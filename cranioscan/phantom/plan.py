"""Balanced study plans: which findings each phantom study of a set gets."""

__all__ = ["balanced_plan"]

from ..labels import SUBTYPES


def balanced_plan(n_studies, seed):
    """Findings per study, cycling so every subtype is well represented.

    The cycle is: two normal studies, one study per subtype alone, and one
    study with randomly drawn (possibly combined) hemorrhages.

    Args:
        n_studies: number of studies.
        seed: seed of the first study; study ``k`` uses ``seed + k``.

    Returns:
        list of ``(seed, kwargs for make_study)``.
    """
    cycle = [{"normal": True}, {"normal": True}] + [{"subtypes": (s,)} for s in SUBTYPES] + [
        {"p_normal": 0.0}]
    return [(int(seed) + k, dict(cycle[k % len(cycle)])) for k in range(int(n_studies))]
