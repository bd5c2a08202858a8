"""VVC intra's plugin point: unavailable without ``vvencapp``/``vvdecapp`` on PATH, and
its plumbing (Y'CbCr 4:2:0 planes, padding, the tools' arguments, errors) run through
stand-ins for the two tools, since no VVC build exists on this machine."""

from __future__ import annotations

import os
import stat
import sys

import numpy as np
import pytest

from jpegai_eval.codecs.testing import synthetic_image
from jpegai_eval.codecs.vvc import VVC, from_yuv420, to_yuv420
from jpegai_eval.framework.errors import BitstreamError, UserError
from jpegai_eval.framework.quality.metrics import psnr

# A stand-in for each tool: vvencapp "encodes" by copying the planes after a marker and
# records its arguments; vvdecapp copies them back, as 10-bit samples when asked to.
STANDIN = """\
#!{python}
import sys, pathlib
args = sys.argv[1:]
value = lambda flag: args[args.index(flag) + 1]
with open({log!r}, "a") as log:
    log.write(" ".join(args) + "\\n")
if pathlib.Path(sys.argv[0]).name == "vvencapp":
    data = pathlib.Path(value("-i")).read_bytes()
    pathlib.Path(value("-o")).write_bytes(b"VVC!" + data)
else:
    data = pathlib.Path(value("-b")).read_bytes()
    if not data.startswith(b"VVC!"):
        sys.exit("error: not a VVC bitstream")
    pathlib.Path(value("-o")).write_bytes(data[4:])
"""


@pytest.fixture
def tools(tmp_path, monkeypatch):
    log = tmp_path / "calls.txt"
    for name in ("vvencapp", "vvdecapp"):
        path = tmp_path / name
        path.write_text(STANDIN.format(python=sys.executable, log=str(log)))
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return log


def test_unavailable_with_the_reason_without_the_tools(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    reason = VVC.unavailable_reason
    assert "vvencapp and vvdecapp not found on PATH" in reason and "fraunhoferhhi/vvenc" in reason
    with pytest.raises(UserError, match="unavailable"):
        VVC.load(4)
    from jpegai_eval.framework.api.plugins import get_plugins

    assert get_plugins().codecs.get("vvc/vvenc") is VVC


def test_yuv420_planes_round_trip_close_to_the_original():
    image = synthetic_image(37, 50, seed=4)  # odd sizes: padded to 40 x 56
    y, cb, cr = to_yuv420(image)
    assert y.shape == (40, 56) and cb.shape == cr.shape == (20, 28)
    back = from_yuv420(y.astype(np.float32), cb.astype(np.float32), cr.astype(np.float32))
    assert psnr(image, back[:37, :50]) > 30  # only chroma subsampling and rounding lost


def test_the_tools_are_called_with_the_qp_and_the_picture(tools):
    image = synthetic_image(37, 50, seed=4)
    model = VVC.load(3)
    data = model.encode(image)
    decoded = VVC.load(3).decode(data)
    assert decoded.shape == image.shape and psnr(image, decoded) > 30
    encode_call = tools.read_text().splitlines()[0]
    assert "-s 56x40" in encode_call and "-q 37" in encode_call and "-c yuv420" in encode_call
    rate_controlled = VVC.load_parameter(20.4).encode(image)
    assert VVC.load_parameter(None).decode(rate_controlled).shape == image.shape
    assert "-q 20" in tools.read_text().splitlines()[-2]


def test_a_failing_decoder_is_a_bitstream_error(tools):
    from jpegai_eval.framework.api.bitstream import pack, unpack

    header, _ = unpack(VVC.load(2).encode(synthetic_image(16, 16)))
    with pytest.raises(BitstreamError, match="not a VVC bitstream"):
        VVC.load(2).decode(pack(header, b"garbage"))
