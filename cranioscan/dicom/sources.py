"""Gathering candidate DICOM files from folders, zips, paths and uploads.

Private helper of :mod:`cranioscan.dicom`. A *source* becomes a flat list
of :class:`SourceFile` (a display name plus either a path on disk, read
lazily, or bytes in memory) and a list of ``(name, reason)`` for entries that
were left out before any DICOM parsing. Zip archives, given as a path or
among uploaded files, are read in memory with :mod:`zipfile` and never
extracted to disk; their total uncompressed size and file count are capped.
User files are only ever opened for reading.
"""

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_ZIP_BYTES",
    "MAX_ZIP_FILES",
    "DicomLoadError",
    "SourceFile",
    "collect",
    "describe",
]

import io
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .checks import BOUNDARY_PASS, failure_text
from .sniff import could_be_dicom

#: Largest total uncompressed size read out of the zip archives of one
#: source, in bytes (1 GiB: a thin-slice head CT study with several series
#: is a few hundred MiB); larger archives are refused as possible zip bombs.
MAX_ZIP_BYTES = 1024**3

#: Largest number of files read out of the zip archives of one source (a
#: thin-slice head CT study with several series holds a few thousand).
MAX_ZIP_FILES = 5_000

#: Largest single file read (bytes, 256 MiB), on disk, uploaded or inside a
#: zip (a zip itself is bounded by the caps above); a CT slice is under 1 MiB.
MAX_FILE_BYTES = 256 * 1024**2

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_SNIFF_BYTES = 132  # preamble + "DICM"


class DicomLoadError(Exception):
    """A source holds no usable CT image; the message says which file and why.

    Messages are written for the person loading the study (a clinician),
    not for a programmer: they name the file, folder or archive concerned
    and the problem in plain words.
    """


DicomLoadError.__module__ = "cranioscan.dicom"


@dataclass
class SourceFile:
    """One candidate file: ``name`` for messages, and its bytes or path.

    Exactly one of ``path`` (a file on disk, opened read-only when needed)
    and ``data`` (bytes already in memory) is set.
    """

    name: str
    path: Path | None = None
    data: bytes | None = None

    def open(self):
        """Return a binary file object positioned at the start (never blocks)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return open_regular(self.path)


def file_kind(mode):
    """What a non-regular file is, in words, from its ``st_mode`` ("a named pipe (FIFO)", ...)."""
    return ("a named pipe (FIFO)" if stat.S_ISFIFO(mode) else
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file")


def open_regular(path):
    """Open ``path`` for reading only if it is a regular file; never blocks.

    The file is opened non-blocking and checked with ``fstat`` on the open
    descriptor, so a FIFO, a device (``/dev/zero``, ``/dev/urandom``) or a
    socket, also behind a symbolic link, is refused without being read.

    Raises:
        OSError: not a regular file (``strerror`` says what it is instead),
            or the usual open errors (permission, missing).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(0, f"{file_kind(mode)}, not a regular file; it was not read",
                          os.fspath(path))
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Budget:
    """Running totals of what the zips of one source have produced."""

    def __init__(self, max_bytes, max_files):
        self.max_bytes = int(max_bytes)
        self.max_files = int(max_files)
        self.bytes = 0
        self.files = 0


def _natural_key(text):
    return [int(tok) if tok.isdigit() else tok.lower() for tok in re.split(r"(\d+)", text)]


def _gib(n_bytes):
    if n_bytes >= 1024**3:
        return f"{n_bytes / 1024**3:.2f} GiB"
    return f"{n_bytes / 1024**2:.1f} MiB" if n_bytes >= 1024**2 else f"{n_bytes:,} bytes"


def _too_large(size):
    return (f"{_gib(size)}, larger than the {_gib(MAX_FILE_BYTES)} limit for one file "
            "(no CT slice is this large); it was not read")


def _looks_like_zip(name, head):
    return name.lower().endswith(".zip") or head[:4] in _ZIP_MAGIC


def _expand_zip(label, fileobj, budget):
    """Read the members of one zip into memory; return (files, skipped)."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except BOUNDARY_PASS:
        raise
    except BaseException as exc:  # noqa: BLE001 - any failure to read the directory
        raise _Refused(
            "is not a readable zip archive (it may be damaged or incompletely "
            f"downloaded): {failure_text(exc)}"
        ) from None
    files, skipped = [], []
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if not members:
            raise _Refused("is an empty zip archive: it holds no files")
        declared = sum(info.file_size for info in members)
        if budget.files + len(members) > budget.max_files:
            raise _Refused(
                f"holds {len(members):,} files, more than the {budget.max_files:,} "
                "CranioScan opens from zip archives at once; it was not opened "
                "(protection against zip bombs). Unzip it and load the series folder instead"
            )
        if budget.bytes + declared > budget.max_bytes:
            raise _Refused(
                f"would unpack to {_gib(declared)}, more than the {_gib(budget.max_bytes)} "
                "limit for zip archives; it was not opened (protection against zip "
                "bombs). Load the series folder or a smaller archive instead"
            )
        budget.files += len(members)
        for info in sorted(members, key=lambda i: _natural_key(i.filename)):
            name = f"{label}/{info.filename}"
            base = info.filename.rsplit("/", 1)[-1]
            if info.filename.startswith("__MACOSX/") or base.startswith("._"):
                skipped.append((name, "macOS metadata file, not an image"))
                continue
            if info.flag_bits & 0x1:
                skipped.append((name, "password-protected (encrypted) inside the zip"))
                continue
            if base.lower().endswith(".zip"):
                skipped.append((name, "a zip inside a zip is not opened; unzip it first"))
                continue
            if info.file_size > MAX_FILE_BYTES:
                skipped.append((name, _too_large(info.file_size)))
                continue
            try:
                with archive.open(info) as member:
                    # a member that cannot be DICOM costs 132 bytes, not its size
                    head = member.read(_SNIFF_BYTES)
                    if not could_be_dicom(head):
                        skipped.append((name, "not a DICOM file"))
                        continue
                    # zipfile stops at the declared size (checked against the
                    # caps above) and checks the CRC there: a member whose
                    # headers understate it is cut off and reported as damaged
                    data = head + member.read(info.file_size - len(head))
            except Exception as exc:  # BadZipFile (CRC), zlib.error, NotImplementedError...
                skipped.append((name, f"damaged inside the zip ({failure_text(exc)})"))
                continue
            budget.bytes += len(data)
            files.append(SourceFile(name=name, data=data))
    return files, skipped


class _Refused(Exception):
    """A zip archive is refused as a whole; ``str()`` is the reason after its name."""


def _add_zip(label, fileobj, budget, files, skipped, lenient):
    """Expand one zip into ``files``; a refused zip raises, or is skipped when ``lenient``."""
    try:
        more, more_skipped = _expand_zip(label, fileobj, budget)
    except _Refused as exc:
        if not lenient:
            raise DicomLoadError(f"'{label}' {exc}.") from None
        skipped.append((label, str(exc)))
        return
    files.extend(more)
    skipped.extend(more_skipped)


def _from_path(path, label, budget, files, skipped, lenient):
    path = Path(path)
    if path.is_dir():
        found, unreadable = [], []
        for root, dirs, names in os.walk(path, onerror=unreadable.append):
            dirs.sort(key=_natural_key)
            for fname in names:
                found.append(Path(root) / fname)
        if unreadable and Path(unreadable[0].filename or "") == path:
            raise DicomLoadError(
                f"The folder '{label}' could not be read "
                f"({unreadable[0].strerror or unreadable[0]})."
            )
        for error in unreadable:
            rel = Path(error.filename).relative_to(path).as_posix()
            skipped.append((f"{label.rstrip('/')}/{rel}/",
                            f"folder could not be read ({error.strerror or error})"))
        if not found and not unreadable:
            raise DicomLoadError(f"The folder '{label}' is empty: it contains no files.")
        found.sort(key=lambda p: _natural_key(p.relative_to(path).as_posix()))
        for file_path in found:
            rel = file_path.relative_to(path).as_posix()
            name = f"{label.rstrip('/')}/{rel}" if label else rel
            _from_file(file_path, name, budget, files, skipped, lenient=True)
        return
    if not path.exists() and not path.is_symlink():
        raise DicomLoadError(f"'{label}' does not exist: no such file or folder.")
    _from_file(path, label, budget, files, skipped, lenient)


def _from_file(path, name, budget, files, skipped, lenient):
    """One file on disk: a zip is expanded, a regular file kept for lazy reading."""
    try:
        with open_regular(path) as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(4)
            if _looks_like_zip(name, head):
                _add_zip(name, fh, budget, files, skipped, lenient)
                return
    except OSError as exc:
        reason = f"could not be opened ({exc.strerror or exc})"
        if not lenient:
            raise DicomLoadError(f"'{name}' {reason}.") from None
        skipped.append((name, reason))
        return
    if size > MAX_FILE_BYTES:
        skipped.append((name, _too_large(size)))
        return
    files.append(SourceFile(name=name, path=path))


def _from_bytes(name, data, budget, files, skipped, lenient):
    data = bytes(data)
    if _looks_like_zip(name, data[:4]):
        _add_zip(name, io.BytesIO(data), budget, files, skipped, lenient)
    elif len(data) > MAX_FILE_BYTES:
        skipped.append((name, _too_large(len(data))))
    else:
        files.append(SourceFile(name=name, data=data))


def _read_filelike(obj):
    """Bytes of an uploaded / file-like object, leaving its position as found."""
    if hasattr(obj, "getvalue"):
        return obj.getvalue()
    pos = obj.tell() if hasattr(obj, "seek") else None
    if pos is not None:
        obj.seek(0)
    data = obj.read()
    if pos is not None:
        obj.seek(pos)
    return data


def _is_pair(obj):
    return (
        isinstance(obj, tuple)
        and len(obj) == 2
        and isinstance(obj[0], (str, os.PathLike))
        and isinstance(obj[1], (bytes, bytearray, memoryview))
    )


def _add_item(item, index, budget, files, skipped, lenient):
    if isinstance(item, (str, os.PathLike)):
        label = os.fspath(item)
        _from_path(item, label, budget, files, skipped, lenient)
    elif _is_pair(item):
        _from_bytes(os.fspath(item[0]), item[1], budget, files, skipped, lenient)
    elif isinstance(item, (bytes, bytearray, memoryview)):
        _from_bytes(f"file {index + 1}", item, budget, files, skipped, lenient)
    elif hasattr(item, "read"):
        name = os.fspath(getattr(item, "name", None) or f"file {index + 1}")
        _from_bytes(name, _read_filelike(item), budget, files, skipped, lenient)
    else:
        raise TypeError(
            "each source item must be a path, a (name, bytes) pair or a file-like "
            f"object with .read(); got {type(item).__name__}"
        )


def describe(source):
    """Short human description of ``source`` for messages."""
    if isinstance(source, (str, os.PathLike)):
        return f"'{os.fspath(source)}'"
    if _is_pair(source) or hasattr(source, "read"):
        return "the uploaded file"
    try:
        n = len(source)
    except TypeError:
        return "the given source"
    return f"the {n} file{'s' if n != 1 else ''} given"


def collect(source, max_zip_bytes=MAX_ZIP_BYTES, max_zip_files=MAX_ZIP_FILES):
    """Flatten ``source`` into candidate files.

    Args:
        source: a folder (searched recursively), a .zip path, a single file
            path, a list of paths, a list of ``(name, bytes)`` pairs or of
            file-like objects with ``.name`` (Streamlit's ``UploadedFile``);
            a zip among them is expanded in memory.
        max_zip_bytes: cap on the total uncompressed bytes read from zips.
        max_zip_files: cap on the number of files read from zips.

    Returns:
        ``(files, skipped)``: list of :class:`SourceFile` in a stable
        (natural-sort) order per folder/zip, list of ``(name, reason)``.

    Only regular files are read (FIFOs and devices are skipped without
    blocking), none larger than ``MAX_FILE_BYTES``; zip members are read up
    to their declared size, and the declared sizes are capped.

    Raises:
        DicomLoadError: missing or unreadable path, empty folder or list; an
            unreadable zip or one over the caps when it is the only item
            (inside a folder or among several items it is skipped instead).
    """
    budget = _Budget(max_zip_bytes, max_zip_files)
    files, skipped = [], []
    if isinstance(source, (str, os.PathLike)) or _is_pair(source) or hasattr(source, "read") \
            or isinstance(source, (bytes, bytearray, memoryview)):
        items = [source]
    else:
        try:
            items = list(source)
        except TypeError:
            raise TypeError(
                "source must be a folder or file path, a list of paths, or a list of "
                f"(name, bytes) pairs / file-like objects; got {type(source).__name__}"
            ) from None
        if not items:
            raise DicomLoadError("No files were given: the list of files is empty.")
    # with several items, one bad entry (a damaged zip, an unreadable file) is
    # skipped with its reason; a single item that is unusable is refused
    lenient = len(items) > 1
    for index, item in enumerate(items):
        _add_item(item, index, budget, files, skipped, lenient)
    return files, skipped
