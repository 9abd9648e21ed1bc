"""DICOM unique identifiers (UIDs) as CranioScan accepts them from people and servers.

A UID (DICOM PS3.5 section 9.1) is digits in components separated by dots,
at most 64 characters. Every UID that comes in from outside (a reader's
review, a PACS answer or query, the command line's ``--study`` /
``--series``) is checked here before it is stored, put in a URL or written
to a file, so text such as ``=HYPERLINK(...)`` or ``../`` is never taken for
a UID.
"""

__all__ = ["UID_MAX_LENGTH", "is_dicom_uid", "dicom_uid", "uid_argument"]

import argparse
import re

#: Longest UID the standard allows (characters).
UID_MAX_LENGTH = 64
#: Digit components separated by single dots. Leading zeros inside a component
#: are tolerated: some archives issue them, and they are still only digits.
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def is_dicom_uid(text):
    """True when ``text`` is a str of 1-64 characters, digit components joined by dots."""
    return (isinstance(text, str) and len(text) <= UID_MAX_LENGTH
            and _UID.fullmatch(text) is not None)


def dicom_uid(text, what="UID"):
    """``text`` when it is a DICOM UID; else ``ValueError`` naming ``what``.

    Args:
        text: the candidate UID (surrounding spaces are not removed).
        what: what the value is, for the message ("StudyInstanceUID").

    Raises:
        ValueError: the message shows the value (escaped, cut at 80
            characters) and what a UID looks like.
    """
    if is_dicom_uid(text):
        return text
    shown = repr(text if not isinstance(text, str) else text[:80])
    raise ValueError(f"{what} {shown} is not a DICOM UID: digits and dots such as "
                     f"1.2.840.113619.2.55, at most {UID_MAX_LENGTH} characters")


def uid_argument(text):
    """argparse ``type=`` for a UID option: the UID, or ``ArgumentTypeError``."""
    try:
        return dicom_uid(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
