"""The dashboard shows every loader failure as a message and never a stale case.

Uploads that used to escape the loader (a decoder panic, a damaged header
value, a header claiming a huge matrix) are dropped in after a good series:
the page must say what is wrong with which file, raise nothing, and no
longer show the previous series' images as if they were the new upload's.
"""

import os
import re
import struct

import pytest
from pydicom.uid import RLELossless

from cranioscan.testing.factory import head_like_slice, make_ct_slice, to_bytes
from cranioscan.testing.mutate import _rewrite

APP = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                   "app.py")


def _rle_relabelled(rows):
    ds = make_ct_slice(head_like_slice(48, 48, 0.5, 0))
    ds.compress(RLELossless)
    data = to_bytes(ds)
    for tag in (0x00280010, 0x00280011):
        data = _rewrite(data, tag, b"US", struct.pack("<H", rows))
    return data


def _good_series():
    from cranioscan.testing.factory import make_series

    dss = make_series(3, pixels=lambda i: head_like_slice(48, 48, 0.3 + 0.2 * i, i))
    return [(f"good_{i}.dcm", to_bytes(ds), "application/dicom") for i, ds in enumerate(dss)]


@pytest.mark.parametrize("name, data, expect", [
    ("panic.dcm", _rle_relabelled(511), "RLE Lossless) could not be decoded"),
    ("huge.dcm", _rle_relabelled(40000), "claims 40000x40000 pixels per slice"),
    ("slope.dcm", _rewrite(to_bytes(make_ct_slice(head_like_slice(16, 16))), 0x00281053, b"DS",
                           b"NaN"), "Rescale Slope (0028,1053) is not a usable value"),
], ids=["rle-decoder-panic", "huge-matrix", "nan-slope"])
def test_a_failing_upload_after_a_good_one_is_a_message_not_a_stale_page(app_env, name, data,
                                                                        expect):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.run()
    at.radio(key="source").set_value("Upload DICOM").run()
    at.file_uploader(key="uploads").set_value(_good_series()).run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.image and at.slider(key="slice_no").max == 3

    at.button(key="upload_replace").click().run()  # a loaded upload folds to one line
    at.file_uploader(key="uploads").set_value([(name, data, "application/dicom")]).run()
    assert not at.exception, [e.message for e in at.exception]
    # The file names in the message are markdown-escaped (issue 30): read them as shown.
    errors = [re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(e.value)) for e in at.error]
    assert any(name in e and expect in e for e in errors), errors
    assert not at.image, "the previous upload's images are still shown"
