"""Worst cases built against the loader's caps: seconds and peak RSS of each.

Each case runs ``load_series`` in a fresh child process and reports the
child's wall time and peak resident memory (``VmHWM``); the first row is
the baseline, a child that only imports the loader and loads one good slice.
The cases are the most expensive inputs these caps admit that we could
build, each just under its cap:

- a zip of zeros that declares just under ``MAX_ZIP_BYTES`` (1 GiB);
- ``MAX_ZIP_FILES`` zip members, each a preamble followed by zeros, which
  pydicom would parse as empty elements (the header-parse budget stops each);
- a series at the voxel cap (``MAX_VOXELS``) that decodes: RLE slices of
  ``MAX_MATRIX`` a side;
- every slice of a series claiming 40000x40000 pixels (refused from headers);
- one RLE slice claiming 65535x65535 (refused from its header).

    python bench/bench_caps.py            # all cases
    python bench/bench_caps.py --quick    # smaller sizes, for a smoke run
"""

import argparse
import io
import json
import struct
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

CHILD = f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\n" + """
import json, sys, time, warnings
from peak_memory import peak_rss_mib
warnings.simplefilter("ignore")
from cranioscan.dicom import DicomLoadError, load_series
source = sys.argv[1]
started = time.perf_counter()
try:
    series = load_series(source, max_voxels=int(sys.argv[2]))
    outcome = f"loaded {series.hu.shape}"
except DicomLoadError as exc:
    outcome = "DicomLoadError: " + str(exc)[:90]
print(json.dumps({"seconds": time.perf_counter() - started, "outcome": outcome,
                  "rss_mib": peak_rss_mib()}))
"""


def run(source, max_voxels):
    done = subprocess.run([sys.executable, "-c", CHILD, str(source), str(max_voxels)],
                          capture_output=True, text=True, timeout=1800)
    if done.returncode:
        return {"seconds": float("nan"), "rss_mib": float("nan"),
                "outcome": f"CRASH rc={done.returncode}: {done.stderr[-200:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def zip_of(members, path):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in members:
            zf.writestr(name, data)
    return path


def rle_slice(size, z, rows=None):
    from pydicom.uid import RLELossless

    from cranioscan.testing.factory import head_like_slice, make_ct_slice, to_bytes
    from cranioscan.testing.mutate import _rewrite

    ds = make_ct_slice(head_like_slice(size, size, 0.5, 0), position=(0, 0, z), instance=int(z))
    ds.compress(RLELossless)
    data = to_bytes(ds)
    if rows is not None:
        for tag in (0x00280010, 0x00280011):
            data = _rewrite(data, tag, b"US", struct.pack("<H", rows))
    return data


def main(argv=None):
    from cranioscan.dicom.assemble import MAX_VOXELS
    from cranioscan.dicom.checks import MAX_MATRIX
    from cranioscan.testing.factory import make_ct_slice, to_bytes
    from cranioscan.dicom.sources import MAX_FILE_BYTES, MAX_ZIP_BYTES, MAX_ZIP_FILES

    import numpy as np
    import pydicom

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of each size")
    args = parser.parse_args(argv)
    scale = 10 if args.quick else 1
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = tmp / "good.dcm"
        good.write_bytes(to_bytes(make_ct_slice(np.zeros((512, 512)))))
        rows.append(("baseline: one 512x512 slice", run(good, MAX_VOXELS)))

        member = min(MAX_FILE_BYTES, MAX_ZIP_BYTES // 4) - 1024
        zeros = zip_of([(f"z{i}.dcm", bytes(member // scale)) for i in range(4)], tmp / "zeros.zip")
        rows.append((f"zip of zeros declaring {4 * member // scale / 1024**3:.2f} GiB "
                     f"({zeros.stat().st_size / 1024**2:.1f} MiB on disk)", run(zeros, MAX_VOXELS)))

        count = MAX_ZIP_FILES // scale
        fake = b"\0" * 128 + b"DICM" + bytes(64 * 1024)
        many = zip_of([(f"f{i}.dcm", fake) for i in range(count)], tmp / "many.zip")
        rows.append((f"{count:,} members: preamble + 64 KiB of zeros", run(many, MAX_VOXELS)))

        side = MAX_MATRIX // (2 if args.quick else 1)
        n = max(2, MAX_VOXELS // (side * side) // scale)
        folder = tmp / "big"
        folder.mkdir()
        one = pydicom.dcmread(io.BytesIO(rle_slice(side, 0)))
        for i in range(n):  # one compressed slice at n positions (compressing is slow)
            one.ImagePositionPatient = [0.0, 0.0, float(i)]
            one.SOPInstanceUID = one.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.{i + 1}"
            one.save_as(folder / f"s{i:03d}.dcm", enforce_file_format=True)
        rows.append((f"{n} RLE slices of {side}x{side} (voxel cap {MAX_VOXELS / 1e6:.0f} M)",
                     run(folder, MAX_VOXELS)))

        claim = tmp / "claim"
        claim.mkdir()
        for i in range(50):
            (claim / f"c{i}.dcm").write_bytes(rle_slice(48, i, rows=40000))
        rows.append(("50 slices claiming 40000x40000", run(claim, MAX_VOXELS)))
        huge = tmp / "huge.dcm"
        huge.write_bytes(rle_slice(512, 0, rows=65535))
        rows.append(("one RLE slice claiming 65535x65535", run(huge, MAX_VOXELS)))

    base = rows[0][1]
    print(f"{'case':<58}{'seconds':>9}{'peak RSS':>11}{'x base RSS':>11}  outcome")
    for label, r in rows:
        print(f"{label:<58}{r['seconds']:>9.2f}{r['rss_mib']:>8.0f} MiB"
              f"{r['rss_mib'] / base['rss_mib']:>11.2f}  {r['outcome'][:70]}")


if __name__ == "__main__":
    main()
