"""The example plugin's own tests: the framework's contract, through jpegai_eval.testing.

A plugin package tests itself the same way: ``check_codec`` for every quality, and
``load_plugins`` to see that its entry point registers what it should.
"""

from __future__ import annotations

import math

import pytest
from jpegai_eval_example_codec.codec import DownsamplePngCodec

from jpegai_eval.testing import check_codec, load_plugins, synthetic_image


@pytest.mark.parametrize("quality", DownsamplePngCodec.qualities)
def test_keeps_the_codec_contract(quality):
    report = check_codec(DownsamplePngCodec(), quality, min_psnr=20)
    assert report.bpp == 8 * report.bytes / (report.height * report.width)
    assert "truncated (last byte missing)" in report.refused


def test_rate_and_fidelity_grow_with_quality_and_the_top_is_lossless():
    image = synthetic_image(96, 80, seed=3)
    codec = DownsamplePngCodec()
    reports = [check_codec(codec, q, image=image) for q in codec.qualities]
    rates = [r.bpp for r in reports]
    psnrs = [r.psnr for r in reports]
    assert rates == sorted(rates) and len(set(rates)) == len(rates)
    assert psnrs == sorted(psnrs) and math.isinf(psnrs[-1])


def test_the_entry_point_registers_the_codec():
    plugins = load_plugins("example_codec")
    entry = plugins.codecs.origin("downsample-png/pillow")
    assert entry.plugin == "example_codec"
    assert entry.distribution["name"] == "jpegai-eval-example-codec"
    assert isinstance(entry.obj, DownsamplePngCodec)
