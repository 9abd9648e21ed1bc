"""Numbers and intervals as people read them: one home for every formatter.

The dashboard, the command line and the evaluation reports all format
through these, so a probability, an AUC interval or a percentage reads the
same everywhere.
"""

__all__ = ["as_float", "is_number", "number", "interval", "percent_interval"]

import math


def is_number(value):
    """True for a finite int or float (not a bool, not None, not NaN)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def as_float(value):
    """``float(value)`` for an int or float, NaN for anything else (None, text, bool)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def number(value, digits=3, missing="unknown"):
    """A number for people: up to ``digits`` decimals, trailing zeros dropped.

    ``number(0.250)`` is ``"0.25"``, ``number(40.0, 1)`` is ``"40"``;
    ``missing`` stands for None.
    """
    if value is None:
        return missing
    text = f"{float(value):.{digits}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def interval(low, high, digits=3, missing="n/a", sep="–"):
    """``"0.880–0.941"``: a ``[low, high]`` interval, ``missing`` unless both are numbers."""
    if not (is_number(low) and is_number(high)):
        return missing
    return f"{low:.{digits}f}{sep}{high:.{digits}f}"


def percent_interval(ci, missing=None, sep="–"):
    """``"60%–87%"`` for ``[low, high]`` fractions; ``missing`` when there is no usable pair."""
    if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(is_number(v) for v in ci):
        return f"{ci[0]:.0%}{sep}{ci[1]:.0%}"
    return missing
