"""What a model card says about its model, in words: its name and the notice
every screen and output shows (what it was trained on, not for clinical use).

Pure functions of ``model_card.json`` (a dict).
"""

__all__ = ["is_synthetic_model", "model_notice", "short_notice", "model_name", "identity_lines"]

import os


def is_synthetic_model(card):
    """True when a model card says the model was trained on synthetic phantoms."""
    card = card or {}
    if isinstance(card.get("synthetic"), bool):
        return card["synthetic"]
    trained_on = str(card.get("trained_on", "")).lower()
    return "phantom" in trained_on or "synthetic" in trained_on


def _real_patients(card):
    """Number of real patients the card says the model was trained on (0 if none)."""
    data = (card or {}).get("data")
    count = data.get("real_patients_trained") if isinstance(data, dict) else None
    return int(count) if isinstance(count, int) and not isinstance(count, bool) else 0


def _with_phantoms(card):
    """True when the card says phantom studies were in the training data."""
    return "phantom stud" in str((card or {}).get("trained_on", "")).lower()


def model_notice(card, loaded=True):
    """The warning every page shows about the loaded model, or None.

    Args:
        card: the model card dict (``Predictor.card``; {} when absent).
        loaded: False when no model could be loaded.

    Returns:
        str for a model trained on synthetic phantoms (a demo model), a
        research model trained on real patients (how many, which data), or a
        model without a card (provenance unknown); None otherwise.
    """
    if not loaded:
        return None
    if is_synthetic_model(card):
        return ("Demo model, trained on synthetic phantoms — not for clinical use. Its outputs "
                "say nothing about real patients.")
    if _real_patients(card):
        plus = " plus synthetic phantoms" if _with_phantoms(card) else ""
        text = (f"Research model, trained on {_real_patients(card)} real head CTs of patients "
                f"with traumatic brain injury (PhysioNet CT-ICH){plus}, and "
                "cross-validated on one public dataset only — not for clinical use.")
        any_metrics = (card.get("metrics") or {}).get("any") or {}
        sens, spec = any_metrics.get("sensitivity"), any_metrics.get("specificity")
        if isinstance(sens, (int, float)) and isinstance(spec, (int, float)):
            text += (f" Out of fold, its ▲ for any hemorrhage caught {sens:.0%} of bleeding "
                     f"slices and left {spec:.0%} of the others unflagged.")
        return text + " See the Model card page for what was measured."
    if not card:
        return ("This model has no model card: what it was trained on is unknown. Research use "
                "only — not for clinical use.")
    return None


def short_notice(card):
    """One-line form of :func:`model_notice` for the top of every page."""
    if is_synthetic_model(card):
        return "Demo model trained on synthetic phantoms — not for clinical use."
    if _real_patients(card):
        plus = " + phantoms" if _with_phantoms(card) else ""
        return (f"Research model ({_real_patients(card)} real TBI head CTs{plus}) — not for "
                "clinical use.")
    return "Model without a model card — research use only, not for clinical use."


def model_name(card, path=None):
    """Name of the model for display: the card's ``name``, else the file name."""
    name = (card or {}).get("name")
    if name:
        return str(name)
    return os.path.basename(str(path)) if path else "unnamed model"


def identity_lines(card, path, sha256):
    """``["Model: NAME", "SHA-256: <64 hex>", "<validity one-liner>"]`` for files and reports.

    Args:
        card: the model card dict (``Predictor.card``; {} when absent).
        path: the model file (its name stands in when the card has none).
        sha256: hex digest of the model file.
    """
    return [f"Model: {model_name(card, path)}", f"SHA-256: {sha256 or 'unknown'}",
            short_notice(card)]
