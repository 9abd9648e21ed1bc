"""terminal_safe and plural (cranioscan.formats)."""

from cranioscan.formats import plural, terminal_safe


def test_terminal_safe_escapes_controls_and_keeps_printable_text():
    assert terminal_safe("scan\x1b[31m red") == "scan\\x1b[31m red"
    assert terminal_safe("two\nlines\r\ttab") == "two\\nlines\\r\\ttab"
    assert terminal_safe("bell\x07 del\x7f csi\x9b") == "bell\\x07 del\\x7f csi\\x9b"
    assert terminal_safe("gnp.dcm\u202eexe") == "gnp.dcm\\u202eexe"  # right-to-left override
    for text in ("Kopf nativ ä é 頭部", "C:\\data\\ct", "a\u00a0b", ""):
        assert terminal_safe(text) == text
    assert terminal_safe(3.5) == "3.5"


def test_plural():
    assert plural(1, "slice") == "1 slice"
    assert plural(0, "slice") == "0 slices" and plural(2, "slice") == "2 slices"
    assert plural(2, "series", "series") == "2 series"


def test_probability_has_one_format_for_every_table():
    import numpy as np

    from cranioscan.formats import PROBABILITY_FORMAT, probability

    assert probability(0.0064713675) == "0.006"  # the subarachnoid threshold, not "0.00"
    assert probability(np.float32(0.5)) == "0.500" == PROBABILITY_FORMAT % 0.5
    assert probability(1) == "1.000"
    for missing in (None, float("nan"), True, "0.5"):
        assert probability(missing) == "n/a"
    assert probability(None, missing="unknown") == "unknown"
