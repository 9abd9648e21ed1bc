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
import zipfile
from dataclasses import dataclass
from pathlib import Path

#: Largest total uncompressed size read out of the zip archives of one
#: source, in bytes (2 GiB); larger archives are refused as possible zip bombs.
MAX_ZIP_BYTES = 2 * 1024**3

#: Largest number of files read out of the zip archives of one source.
MAX_ZIP_FILES = 50_000

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


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
        """Return a binary file object positioned at the start."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return open(self.path, "rb")


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
    return f"{n_bytes / 1024**3:.2f} GiB" if n_bytes >= 1024**3 else f"{n_bytes / 1024**2:.1f} MiB"


def _looks_like_zip(name, head):
    return name.lower().endswith(".zip") or head[:4] in _ZIP_MAGIC


def _expand_zip(label, fileobj, budget):
    """Read the members of one zip into memory; return (files, skipped)."""
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError) as exc:
        raise DicomLoadError(
            f"'{label}' is not a readable zip archive (it may be damaged or "
            f"incompletely downloaded): {exc}."
        ) from None
    files, skipped = [], []
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        declared = sum(info.file_size for info in members)
        if budget.files + len(members) > budget.max_files:
            raise DicomLoadError(
                f"'{label}' holds {len(members):,} files, more than the "
                f"{budget.max_files:,} CranioScan opens from zip archives at once; "
                "it was not opened (protection against zip bombs). Unzip it "
                "and load the series folder instead."
            )
        if budget.bytes + declared > budget.max_bytes:
            raise DicomLoadError(
                f"'{label}' would unpack to {_gib(declared)}, more than the "
                f"{_gib(budget.max_bytes)} limit for zip archives; it was not "
                "opened (protection against zip bombs). Load the series folder "
                "or a smaller archive instead."
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
            left = budget.max_bytes - budget.bytes
            try:
                with archive.open(info) as member:
                    data = member.read(left + 1)
            except Exception as exc:  # BadZipFile (CRC), zlib.error, NotImplementedError...
                skipped.append((name, f"damaged inside the zip ({exc})"))
                continue
            if len(data) > left:
                raise DicomLoadError(
                    f"'{label}' unpacks to more than the {_gib(budget.max_bytes)} "
                    "limit for zip archives (its size headers understate it); it "
                    "was not opened (protection against zip bombs)."
                )
            budget.bytes += len(data)
            files.append(SourceFile(name=name, data=data))
    return files, skipped


def _from_path(path, label, budget, files, skipped):
    path = Path(path)
    if path.is_dir():
        found = []
        for root, dirs, names in os.walk(path):
            dirs.sort(key=_natural_key)
            for fname in names:
                found.append(Path(root) / fname)
        if not found:
            raise DicomLoadError(f"The folder '{label}' is empty: it contains no files.")
        found.sort(key=lambda p: _natural_key(p.relative_to(path).as_posix()))
        for file_path in found:
            rel = file_path.relative_to(path).as_posix()
            name = f"{label.rstrip('/')}/{rel}" if label else rel
            _from_file(file_path, name, budget, files, skipped)
        return
    if not path.exists():
        raise DicomLoadError(f"'{label}' does not exist: no such file or folder.")
    _from_file(path, label, budget, files, skipped)


def _from_file(path, name, budget, files, skipped):
    try:
        with open(path, "rb") as fh:
            head = fh.read(4)
            if _looks_like_zip(name, head):
                more, more_skipped = _expand_zip(name, fh, budget)
                files.extend(more)
                skipped.extend(more_skipped)
                return
    except DicomLoadError:
        raise
    except OSError as exc:
        skipped.append((name, f"could not be opened ({exc.strerror or exc})"))
        return
    files.append(SourceFile(name=name, path=path))


def _from_bytes(name, data, budget, files, skipped):
    data = bytes(data)
    if _looks_like_zip(name, data[:4]):
        more, more_skipped = _expand_zip(name, io.BytesIO(data), budget)
        files.extend(more)
        skipped.extend(more_skipped)
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


def _add_item(item, index, budget, files, skipped):
    if isinstance(item, (str, os.PathLike)):
        label = os.fspath(item)
        _from_path(item, label, budget, files, skipped)
    elif _is_pair(item):
        _from_bytes(os.fspath(item[0]), item[1], budget, files, skipped)
    elif isinstance(item, (bytes, bytearray, memoryview)):
        _from_bytes(f"file {index + 1}", item, budget, files, skipped)
    elif hasattr(item, "read"):
        name = os.fspath(getattr(item, "name", None) or f"file {index + 1}")
        _from_bytes(name, _read_filelike(item), budget, files, skipped)
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

    Raises:
        DicomLoadError: missing path, empty folder or list, unreadable zip,
            zip over the caps.
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
    for index, item in enumerate(items):
        _add_item(item, index, budget, files, skipped)
    return files, skipped
