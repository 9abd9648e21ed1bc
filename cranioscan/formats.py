"""Numbers and intervals as people read them: one home for every formatter.

The dashboard, the command line and the evaluation reports all format
through these, so a probability, an AUC interval or a percentage reads the
same everywhere.
"""

__all__ = ["CSV_DIGITS", "CSV_FORMULA_START", "PROBABILITY_DIGITS", "PROBABILITY_FORMAT",
           "as_float", "csv_cell", "csv_frame", "csv_number", "csv_row", "is_number", "number",
           "markdown_literal", "probability", "interval", "percent_interval", "plural",
           "terminal_safe"]

import math
import re
import unicodedata

#: Format characters that reorder text on a terminal (bidirectional overrides
#: and isolates): shown escaped like control characters.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
                           "\u2066\u2067\u2068\u2069")
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def is_number(value):
    """True for a finite int or float (not a bool, not None, not NaN)."""
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def as_float(value):
    """``float(value)`` for an int or float, NaN for anything else (None, text, bool)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


#: Decimals of every probability and threshold people read (tables, card, CLI):
#: three, so a threshold such as 0.0065 reads "0.006", not "0.00".
PROBABILITY_DIGITS = 3
#: The same as a printf format, for ``st.column_config.NumberColumn(format=...)``.
PROBABILITY_FORMAT = f"%.{PROBABILITY_DIGITS}f"


def probability(value, missing="n/a"):
    """``"0.065"``: a probability or threshold with :data:`PROBABILITY_DIGITS` decimals.

    Trailing zeros are kept so columns line up; ``missing`` stands for None,
    NaN or anything that is not a number.
    """
    if value is None or isinstance(value, (bool, str)):
        return missing
    try:
        value = float(value)  # numpy scalars too
    except (TypeError, ValueError):
        return missing
    return PROBABILITY_FORMAT % value if math.isfinite(value) else missing


#: Decimals of probabilities in CSV files (data for analysis, finer than on screen):
#: the command line's and the dashboard's downloads alike.
CSV_DIGITS = 6


def csv_number(value, digits=CSV_DIGITS):
    """A CSV cell: ``value`` with ``digits`` fixed decimals; "" for None, NaN or infinity."""
    if value is None:
        return ""
    value = float(value)
    return f"{value:.{digits}f}" if math.isfinite(value) else ""


#: First characters that make a spreadsheet (Excel, LibreOffice, Sheets) read a
#: cell as a formula or a command (OWASP "CSV injection"): = + - @, tab, CR.
CSV_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: A plain decimal number as :func:`csv_number` and ``str(int)`` write it:
#: a spreadsheet reads it as that number, never as a formula.
_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


#: Every ASCII punctuation character: CommonMark lets each be backslash-escaped,
#: and together they cover all markdown syntax (images, links, emphasis, code,
#: HTML, headings, lists, tables, math ``$``). GFM still turns a bare
#: ``http://...`` into a link that reads as its own address; no image, no
#: disguised link and no request come from escaped text.
_MARKDOWN_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def markdown_literal(text):
    """``text`` escaped so that a markdown renderer shows it exactly as it is.

    For text from the data (DICOM tags, file names, PACS fields, loader
    notes, error messages quoting them) passed to Streamlit elements that
    render markdown (``st.warning``, ``st.caption``, ``st.markdown``,
    ``st.spinner`` ...): ``![b](http://host/x.png) **BOLD**`` is shown as
    those characters, never as an image fetched from ``host`` or bold text.
    Every ASCII punctuation character gets a backslash, which CommonMark
    removes on display, so the look is the text's own.
    """
    return _MARKDOWN_PUNCTUATION.sub(r"\\\1", str(text))


def csv_cell(value):
    """One CSV cell that a spreadsheet shows as data, never runs as a formula.

    Text starting with one of :data:`CSV_FORMULA_START` gets a leading
    ``'`` (OWASP's rule: ``=HYPERLINK(...)`` is written ``'=HYPERLINK(...)``).
    Numbers (int, float, numpy scalars) and text that is a plain decimal
    number (``"-0.250000"`` from :func:`csv_number`) are returned unchanged,
    so negative positions stay numbers; None stays None (an empty cell).
    """
    if not isinstance(value, str):
        return value
    if value.startswith(CSV_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def csv_row(row):
    """A row with every cell through :func:`csv_cell`: a dict (same keys) or a sequence (a list)."""
    if isinstance(row, dict):
        return {key: csv_cell(value) for key, value in row.items()}
    return [csv_cell(value) for value in row]


def csv_frame(frame):
    """A copy of a pandas DataFrame whose text cells went through :func:`csv_cell`.

    Numeric, boolean and date columns are untouched; text columns (object
    or pandas string dtype, both of kind ``"O"``) are mapped cell by cell,
    so ``frame.to_csv`` writes no formula. Column names are the program's
    own and are kept.
    """
    out = frame.copy()
    for name in out.columns:
        if out[name].dtype.kind in "OSU":
            out[name] = out[name].map(csv_cell)
    return out


def csv_header(identity, thresholds, classes, verdict=None):
    """``#`` comment lines opening every CranioScan CSV (the dashboard's and the
    command line's): the model's identity, the series verdict when one series
    is described, the thresholds of the flags, how slices are numbered.

    Args:
        identity: ``card_text.identity_lines`` (name, SHA-256, validity).
        thresholds: dict class -> slice-flag threshold.
        classes: class order.
        verdict: the verdict sentence of the series, or None.

    Returns:
        list of str, each starting with ``"# "``.
    """
    lines = ["# CranioScan export"] + [f"# {line}" for line in identity]
    if verdict:
        lines.append(f"# {verdict}")
    lines.append("# Thresholds (model card): " + ", ".join(
        f"{name} {probability(thresholds.get(name))}" for name in classes))
    lines.append("# Slices numbered from 1, inferior to superior, as in the dashboard.")
    return lines


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


def plural(count, word, many=None):
    """``"1 slice"``, ``"2 slices"``; ``many`` for irregular plurals ("series")."""
    return f"{count} {word if count == 1 else (many or word + 's')}"


def terminal_safe(text):
    """``text`` with control characters shown escaped instead of sent.

    File, folder, zip-member and series names come from the user's data; a
    name holding an ANSI escape sequence, a newline or a bidirectional
    override would otherwise recolour, rewrite or reorder the terminal.
    Control characters (C0, DEL, C1) and bidi controls become Python-style
    escapes (``"\\x1b"``, ``"\\n"``, ``"\\u202e"``). Printable text, including
    non-ASCII letters and backslashes, is unchanged.
    """
    text = str(text)
    if text.isprintable():
        return text
    out = []
    for char in text:
        if char in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[char])
        elif unicodedata.category(char) == "Cc" or char in _BIDI_CONTROLS:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)
