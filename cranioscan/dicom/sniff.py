"""Whether a file's first bytes could start DICOM, before anything parses it.

Private helper of :mod:`cranioscan.dicom`: zip members that fail this are
skipped after 132 bytes instead of being unpacked, and files without the
128-byte preamble are only force-parsed when they look like a data set, so
a large file of zeros or text costs nothing.
"""

__all__ = ["could_be_dicom", "plausible_bare_dataset"]

import struct


def plausible_bare_dataset(head):
    """Whether bytes without a preamble could start a DICOM data set.

    Such files begin with a group 0002 (file meta) or 0008 (identifying)
    element, in either byte order.

    Args:
        head: at least the file's first 8 bytes.
    """
    if len(head) < 8:
        return False
    little, big = struct.unpack("<H", head[:2])[0], struct.unpack(">H", head[:2])[0]
    return little in (0x0002, 0x0008) or big in (0x0002, 0x0008)


def could_be_dicom(head):
    """Whether a file starting with ``head`` (its first 132 bytes) may be DICOM.

    True for a Part 10 file (``DICM`` after the 128-byte preamble) and for a
    bare data set (see :func:`plausible_bare_dataset`).
    """
    return head[128:132] == b"DICM" or plausible_bare_dataset(head[:8])
