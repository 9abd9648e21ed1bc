"""GDCM in worker processes: the same HU as pydicom's decoders, and a crash costs nothing.

GDCM aborts the interpreter on some damaged files, so the loader runs it only
in a pool of worker processes (``cranioscan.dicom.decode_pool``); these
tests lower ``MIN_BATCH`` so that even a 3-slice series goes there.
"""

import struct
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, JPEGLosslessSV1

from cranioscan.dicom import decode_pool, load_series
from cranioscan.testing.factory import (
    encoder_available,
    head_like_slice,
    jpeg_lossless_dataset,
    make_series,
    to_bytes,
    write_series,
)
from cranioscan.testing.mutate import _rewrite

pytest.importorskip("gdcm", reason="python-gdcm is not installed (requirements.txt)")

REAL_JPEG_LOSSLESS = Path(__file__).resolve().parents[3] / "shared" / "realct" / \
    "headct_skullbase_jpeg_lossless.dcm"


@pytest.fixture
def pooled(monkeypatch):
    """Send every eligible slice to the workers; record how many each load got back."""
    monkeypatch.setattr(decode_pool, "MIN_BATCH", 1)
    monkeypatch.setattr(decode_pool, "_broken_in_a_row", 0)
    counts = []
    real = decode_pool.predecode

    def recording(headers):
        out = real(headers)
        counts.append(len(out))
        return out

    monkeypatch.setattr("cranioscan.dicom.assemble.predecode", recording)
    return counts


def in_process(source, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr("cranioscan.dicom.assemble.predecode", lambda headers: {})
        return load_series(source)


def _encoded(ds, uid):
    if uid == JPEGLosslessSV1:
        return jpeg_lossless_dataset(ds)
    if not encoder_available(uid):
        pytest.skip(f"no pydicom encoder for {uid.name} here")
    ds.compress(uid, encoding_plugin="pyjpegls" if uid == JPEGLSLossless else "")
    return ds


@pytest.mark.parametrize("uid", [JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless],
                         ids=["jpeg-lossless", "jpeg-ls", "jpeg2000"])
def test_workers_decode_every_slice_exactly(tmp_path, uid, pooled, monkeypatch):
    datasets = make_series(3, pixels=lambda i: head_like_slice(64, 64, z_frac=0.3 + 0.2 * i, seed=i))
    write_series([_encoded(ds, uid) for ds in datasets], tmp_path)
    fast = load_series(tmp_path)
    assert pooled == [3]
    np.testing.assert_array_equal(fast.hu, in_process(tmp_path, monkeypatch).hu)
    assert (fast.hu == -1000).any() and fast.hu.max() > 1400  # padding became air, skull kept


@pytest.mark.skipif(not REAL_JPEG_LOSSLESS.exists(), reason="../shared/realct is not here")
def test_real_jpeg_lossless_slice_same_hu_both_ways(pooled, monkeypatch):
    fast = load_series(REAL_JPEG_LOSSLESS)
    assert pooled == [1]
    np.testing.assert_array_equal(fast.hu, in_process(REAL_JPEG_LOSSLESS, monkeypatch).hu)


def test_a_slice_that_aborts_gdcm_kills_only_a_worker(tmp_path, pooled):
    # Pixel Representation stored with VR AT instead of US: GDCM throws a C++
    # exception that aborts its process (fuzz case 131 of seed 2026)
    if not encoder_available(JPEGLSLossless):
        pytest.skip("no JPEG-LS encoder (pyjpegls) to build the file")
    datasets = make_series(4, pixels=lambda i: head_like_slice(64, 64, 0.2 + 0.2 * i, i))
    paths = write_series([_encoded(ds, JPEGLSLossless) for ds in datasets], tmp_path)
    data = bytearray(paths[2].read_bytes())
    at = data.find(struct.pack("<HH", 0x0028, 0x0103) + b"US")
    data[at + 4:at + 6] = b"AT"
    paths[2].write_bytes(bytes(data))
    series = load_series(tmp_path)  # this process survives: only a worker died
    assert pooled == [0]  # the batch was lost, and decoded here instead
    assert series.n_slices == 4 and np.isfinite(series.hu).all()
    load_series(tmp_path)  # a fresh pool is tried once more, then no longer
    assert pooled == [0, 0] and decode_pool._broken_in_a_row == decode_pool.MAX_BROKEN
    load_series(tmp_path)
    assert pooled == [0, 0, 0]


def test_cut_short_file_is_left_out_with_the_loaders_reason(tmp_path, pooled):
    [ds] = make_series(1, pixels=head_like_slice(64, 64))
    path = write_series([jpeg_lossless_dataset(ds)], tmp_path)[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 300])
    write_series(make_series(2, positions=[5.0, 10.0], pixels=head_like_slice(64, 64)),
                 tmp_path, prefix="ok")
    series = load_series(tmp_path)
    assert series.n_slices == 2
    [(name, reason)] = series.skipped
    assert name.endswith(path.name) and "cut short" in reason


def test_codestream_without_end_marker_is_not_given_to_gdcm(tmp_path, pooled, monkeypatch):
    """GDCM fills a cut codestream with zeros; such a slice is decoded in process."""
    from pydicom.encaps import encapsulate, generate_frames

    [ds] = make_series(1, pixels=head_like_slice(64, 64))
    ds = jpeg_lossless_dataset(ds)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    ds.PixelData = encapsulate([frame[: len(frame) // 2]])  # items intact, stream cut
    write_series([ds], tmp_path)
    try:
        fast = load_series(tmp_path).hu
    except Exception as exc:  # noqa: BLE001 - compared with the in-process outcome below
        fast = type(exc)
    assert pooled == [0]
    try:
        slow = in_process(tmp_path, monkeypatch).hu
    except Exception as exc:  # noqa: BLE001
        slow = type(exc)
    if isinstance(fast, np.ndarray):
        np.testing.assert_array_equal(fast, slow)
    else:
        assert fast is slow


def test_without_gdcm_the_loader_still_decodes(tmp_path, pooled, monkeypatch):
    monkeypatch.setattr(decode_pool, "_gdcm_installed", lambda: False)
    [ds] = make_series(1, pixels=head_like_slice(64, 64))
    write_series([jpeg_lossless_dataset(ds)], tmp_path)
    assert load_series(tmp_path).hu.max() > 1400
    assert pooled == [0]
