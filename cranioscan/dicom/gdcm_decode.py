"""GDCM decoding worker: a separate Python process that only imports ``gdcm``.

Private helper of :mod:`cranioscan.dicom.decode_pool`, which starts this
file as a script (``python -P gdcm_decode.py``) and talks to it over pipes.
GDCM aborts the interpreter on some damaged files, so it never runs in the
dashboard's or the command line's own process. Being started as a plain
script, the worker never imports the caller's ``__main__`` (unlike
``multiprocessing``'s spawn and forkserver start methods, which run a script
without an ``if __name__ == "__main__":`` guard again in every worker), nor
``cranioscan`` or pydicom: it starts in about 0.15 s and needs nothing but
the standard library and ``python-gdcm``.

Thin-slice head CT comes as 200-300 JPEG-Lossless slices, and decoding them
is most of ``load_series``' time. Measured per 512x512 JPEG Lossless slice
of the real series ``bench/bench_load.py --real`` builds: GDCM's
``ImageRegionReader.ReadIntoBuffer`` 4.1 ms, pylibjpeg 9.0 ms; neither
releases the GIL (two threads took as long as one), so parallel decoding
needs processes. ``ReadIntoBuffer`` fills a ``bytearray`` that is written
to the pipe as it is (pydicom's GDCM plugin would receive the frame as a
Python ``str`` and re-encode it).

Protocol (all integers little-endian); the parent may send several requests
ahead, and the replies come in the order of the requests:

- request: ``<QI`` (bytes expected, length of the path in UTF-8 bytes),
  then the path;
- reply: ``<q`` then that many bytes of stored values (rows x cols, the
  file's own sample layout), or ``-1`` and nothing when GDCM declines the
  file (unreadable, another buffer size); the parent then decodes the slice
  itself with pydicom's crash-safe plugins, whose errors name the problem.

The worker ends when its stdin closes (the parent exited or shut it down).
"""

__all__ = ["GDCM_SYNTAXES", "REPLY", "REQUEST", "complete", "read_into", "serve"]

import os
import queue
import struct
import sys
import threading

#: Transfer syntaxes decoded here: the lossless JPEG family head CT is stored in
#: (JPEG Lossless SV1 and process 14, JPEG-LS lossless, JPEG 2000 lossless; RLE is
#: left to pylibjpeg-rle, already fast, which GDCM's region reader declines).
GDCM_SYNTAXES = frozenset({
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, process 14, selection value 1
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, process 14
    "1.2.840.10008.1.2.4.80",  # JPEG-LS lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 lossless
})

#: Request header: bytes expected (unsigned 64 bit), path length (unsigned 32 bit).
REQUEST = struct.Struct("<QI")
#: Reply header: bytes that follow (signed 64 bit), -1 when GDCM declined.
REPLY = struct.Struct("<q")

#: Decoded slices a worker keeps ready while its replies wait to be read
#: (4 MiB of 512x512 16-bit slices).
AHEAD = 8

_DECLINED = object()  # a slice GDCM declined, in the writer's queue


def complete(encapsulated):
    """True when the last fragment ends with the EOI / EOC marker (FFD9), padding aside.

    GDCM decodes a codestream cut short without complaint (the missing rows
    come out as zeros); pydicom's decoders refuse it, so such files are not
    sent here.

    Args:
        encapsulated: the encapsulated Pixel Data value (bytes-like, items up
            to the sequence delimiter).
    """
    return bytes(encapsulated[-4:]).rstrip(b"\x00").endswith(b"\xff\xd9")


def read_into(gdcm, path, nbytes):
    """Stored values of one single-frame file decoded by GDCM, or None.

    Args:
        gdcm: the imported ``gdcm`` module.
        path: the DICOM file (str).
        nbytes: the size the parent expects (rows x cols x bytes per
            sample, from its own reading of the header); GDCM must agree.

    Returns:
        bytearray of ``nbytes`` bytes (the file's sample layout), or None
        when GDCM cannot read the file or sees another size or depth.
    """
    try:
        reader = gdcm.ImageRegionReader()
        reader.SetFileName(path)
        if not reader.ReadInformation() or reader.ComputeBufferLength() != nbytes:
            return None
        buffer = bytearray(nbytes)
        return buffer if reader.ReadIntoBuffer(buffer) else None
    except Exception:  # noqa: BLE001 - any GDCM trouble: the parent decodes and explains
        return None


def _read_exactly(stream, n):
    """``n`` bytes from ``stream``, or None at end of input."""
    data = stream.read(n)
    return data if len(data) == n else None


def serve(requests, replies, gdcm):
    """Answer requests until ``requests`` ends (see the module docstring).

    Decoding goes on while earlier replies are written: a writer thread
    sends them, up to :data:`AHEAD` decoded slices behind, so the worker
    does not wait whenever the parent is slow to read (a busy machine).

    Args:
        requests: binary stream the requests arrive on.
        replies: binary stream the replies go to (flushed after each).
        gdcm: the imported ``gdcm`` module.
    """
    decoded = queue.Queue(maxsize=AHEAD)
    writer = threading.Thread(target=_write_replies, args=(decoded, replies), daemon=True)
    writer.start()
    while (head := _read_exactly(requests, REQUEST.size)) is not None:
        nbytes, path_length = REQUEST.unpack(head)
        path = _read_exactly(requests, path_length)
        if path is None:
            break
        stored = read_into(gdcm, path.decode("utf-8", "surrogateescape"), nbytes)
        decoded.put(_DECLINED if stored is None else stored)
    decoded.put(None)
    writer.join()


def _write_replies(decoded, replies):
    """Writer thread: each decoded slice (bytearray, or ``_DECLINED``) as a reply, in order.

    Ends at ``None``, put after the last request (a declined slice comes
    as ``_DECLINED``). When the parent has gone away, the worker exits.
    """
    try:
        while (stored := decoded.get()) is not None:
            if stored is _DECLINED:
                replies.write(REPLY.pack(-1))
            else:
                replies.write(REPLY.pack(len(stored)))
                replies.write(stored)
            replies.flush()
    except OSError:  # the parent went away: nobody reads the replies
        os._exit(0)


def main():
    """Worker entry point: the protocol on a private copy of stdout.

    File descriptor 1 is pointed at stderr first, so that anything GDCM
    prints cannot corrupt the replies.
    """
    import gdcm  # optional (python-gdcm), loaded in the worker process only

    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        serve(sys.stdin.buffer, replies, gdcm)
    except (BrokenPipeError, KeyboardInterrupt):  # the parent went away
        pass


if __name__ == "__main__":
    main()
