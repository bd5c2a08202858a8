"""PSNR, SSIM and MS-SSIM on 8-bit RGB, and per-image measurements."""

from __future__ import annotations

import math

import numpy as np
import pytest

from jpegai_eval.codecs.pillow_codecs import JPEG
from jpegai_eval.codecs.testing import synthetic_image
from jpegai_eval.framework.quality import metrics


def test_psnr_known_value_and_identity():
    a = np.full((8, 8, 3), 100, dtype=np.uint8)
    b = a.copy()
    b[..., 0] += 3  # MSE = 9 / 3 = 3
    assert metrics.psnr(a, b) == pytest.approx(10 * math.log10(255**2 / 3.0))
    assert metrics.psnr(a, a) == math.inf


def test_ssim_and_ms_ssim_order_distortions():
    image = synthetic_image(128, 128, seed=1)
    rng = np.random.default_rng(0)
    light = np.clip(image + rng.normal(0, 4, image.shape), 0, 255).astype(np.uint8)
    heavy = np.clip(image + rng.normal(0, 40, image.shape), 0, 255).astype(np.uint8)
    assert metrics.ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ms_ssim(image, image) == pytest.approx(1.0, abs=1e-6)
    assert metrics.ssim(image, heavy) < metrics.ssim(image, light) < 1
    assert metrics.ms_ssim(image, heavy) < metrics.ms_ssim(image, light) < 1


def test_ms_ssim_window_shrinks_for_small_images():
    assert metrics.msssim_window(362, 362) == 11
    assert metrics.msssim_window(128, 128) == 7
    assert metrics.msssim_window(64, 200) == 3
    small = synthetic_image(64, 64)
    assert 0 < metrics.ms_ssim(small, small) <= 1.0 + 1e-6


def test_measure_reports_rate_fidelity_and_times():
    image = synthetic_image(64, 64, seed=3)
    m, data, decoded = metrics.measure(JPEG.load(4), image)
    assert m.bytes == len(data)
    assert m.bpp == pytest.approx(8 * len(data) / (64 * 64))
    assert m.psnr == pytest.approx(metrics.psnr(image, decoded))
    assert m.encode_time > 0 and m.decode_time > 0
    assert m.latents_time is None
    assert set(m.as_row()) >= {"bpp", "psnr", "ssim", "ms_ssim", "encode_time"}


@pytest.mark.parametrize("size", [(64, 64), (170, 200), (240, 161)])
def test_shared_ssim_and_ms_ssim_equal_the_separate_ones(size):
    """quality_metrics takes SSIM from MS-SSIM's first scale when the windows agree;
    the values are exactly those of ssim() and ms_ssim() run separately."""
    image = synthetic_image(*size, seed=7)
    noise = np.random.RandomState(1).randint(-20, 21, image.shape)
    noisy = np.clip(image.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    q = metrics.quality_metrics(image, noisy)
    assert q["ssim"] == metrics.ssim(image, noisy)
    ms = metrics.ms_ssim(image, noisy)
    assert q["ms_ssim"] == ms or (np.isnan(ms) and np.isnan(q["ms_ssim"]))
    assert 0 < q["ssim"] < 1
